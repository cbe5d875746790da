//! Maps given empty are answered as `{}`, maps never given are left out (AWS's recordings:
//! localstack `test_apigateway_integrations.snapshot.json` `test_put_integration_responses`
//! "put-integration-response-get", and `test_apigateway_api.snapshot.json`
//! `test_lifecycle_method_response` "put-method-response"), and the model's `given_maps`
//! leaves the persistent bytes of objects without it unchanged.

use super::{integration, integration_response, method, method_response};
use serde_json::{json, to_value};
use std::collections::BTreeMap;
use tollgate_proto::codec;
use tollgate_proto::model::{GivenMaps, Integration, IntegrationResponse, Method, MethodResponse};

const BOTH: GivenMaps = GivenMaps(GivenMaps::PARAMETERS | GivenMaps::BODIES);

#[test]
fn empty_maps_given_are_answered_as_empty_objects() {
    let r = MethodResponse {
        status_code: "200".into(),
        given_maps: BOTH,
        ..Default::default()
    };
    assert_eq!(
        to_value(method_response(&r)).unwrap(),
        json!({ "statusCode": "200", "responseParameters": {}, "responseModels": {} })
    );
    let r = IntegrationResponse {
        status_code: "200".into(),
        selection_pattern: Some("2\\d{2}".into()),
        given_maps: GivenMaps(GivenMaps::BODIES),
        ..Default::default()
    };
    assert_eq!(
        to_value(integration_response(&r)).unwrap(),
        json!({ "statusCode": "200", "selectionPattern": "2\\d{2}", "responseTemplates": {} })
    );
    let i = to_value(integration(&Integration {
        given_maps: BOTH,
        ..Default::default()
    }))
    .unwrap();
    assert_eq!(i["requestParameters"], json!({}));
    assert_eq!(i["requestTemplates"], json!({}));
    let m = to_value(method(&Method {
        given_maps: GivenMaps(GivenMaps::PARAMETERS),
        ..Default::default()
    }))
    .unwrap();
    assert_eq!(m["requestParameters"], json!({}));
    assert!(m.get("requestModels").is_none(), "{m}");
}

#[test]
fn maps_never_given_are_left_out_and_entries_always_shown() {
    let r = to_value(method_response(&MethodResponse {
        status_code: "200".into(),
        ..Default::default()
    }))
    .unwrap();
    assert_eq!(r, json!({ "statusCode": "200" }));
    let i = to_value(integration(&Integration::default())).unwrap();
    assert!(i.get("requestParameters").is_none(), "{i}");
    assert!(i.get("requestTemplates").is_none(), "{i}");
    // Objects written before `given_maps` existed: entries are answered as before.
    let r = to_value(integration_response(&IntegrationResponse {
        status_code: "200".into(),
        response_templates: BTreeMap::from([("application/json".into(), "{}".into())]),
        ..Default::default()
    }))
    .unwrap();
    assert_eq!(r["responseTemplates"], json!({ "application/json": "{}" }));
    assert!(r.get("responseParameters").is_none(), "{r}");
}

#[test]
fn given_maps_persist_and_leave_older_bytes_alone() {
    let m = Method {
        http_method: "GET".into(),
        given_maps: BOTH,
        method_responses: BTreeMap::from([(
            "200".into(),
            Box::new(MethodResponse {
                status_code: "200".into(),
                given_maps: GivenMaps(GivenMaps::BODIES),
                ..Default::default()
            }),
        )]),
        integration: Some(Integration {
            given_maps: GivenMaps(GivenMaps::PARAMETERS),
            ..Default::default()
        }),
        ..Default::default()
    };
    let back: Method = codec::decode(&codec::encode(&m)).unwrap();
    assert_eq!(back, m);
    // Without a map given, the field is not written: the bytes are those of the build before
    // it, and such bytes decode with nothing given.
    let plain = Method {
        http_method: "GET".into(),
        ..Default::default()
    };
    let bytes = codec::encode(&plain);
    assert!(!bytes.windows(10).any(|w| w == b"given_maps"));
    assert!(codec::encode(&m).windows(10).any(|w| w == b"given_maps"));
    let back: Method = codec::decode(&bytes).unwrap();
    assert_eq!(back.given_maps, GivenMaps::default());
}
