//! Fuzz targets: PATCH documents (`crate::admin::patch`) applied to every kind of object an
//! Update operation patches, and the JSON bodies of the Put/Create operations decoded and
//! validated as the operations do, without a registry (so many more inputs per second than
//! the end-to-end target in `crate::fuzz`). Nothing panics; every refusal is an AWS error
//! (a 4xx status and an `…Exception` type).

use super::{apikeys, integrations, methods, resources, restapis, stages, usageplans};
use crate::admin::error::ApiError;
use crate::admin::input::{self, PutIntegrationIn, PutMethodIn};
use crate::admin::patch::{self, PatchOp};
use crate::fuzz::{run, Mutator};
use rand::Rng;
use tollgate_proto::model::{
    ApiKey, Integration, IntegrationResponse, IntegrationType, Method, MethodResponse,
    RestApiSettings, Stage, UsagePlan,
};

const TOKENS: &[&str] = &[
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    "null",
    "true",
    "1e309",
    "-1",
    "\"op\":\"add\"",
    "\"op\":\"remove\"",
    "\"op\":\"copy\"",
    "\"op\":\"test\"",
    "\"from\":\"/x\"",
    "\"path\":\"/\"",
    "\"path\":\"\"",
    "~1",
    "~0",
    "~2",
    "~",
    "/",
    "//",
    "/*/*/",
    "\\u0000",
    "\\r\\n",
    "'",
    "method.request.header.",
    "integration.request.header.",
    "integration.request.querystring.",
    "method.response.header.",
    "stageVariables.",
    "AWS_IAM",
    "CUSTOM",
    "AWS_PROXY",
    "https://",
    "VPC_LINK",
];

const PATCHES: &[&str] = &[
    r#"{"patchOperations":[{"op":"replace","path":"/authorizationType","value":"NONE"},{"op":"replace","path":"/apiKeyRequired","value":"true"},{"op":"add","path":"/requestParameters/method.request.header.h","value":"true"},{"op":"add","path":"/requestModels/application~1json","value":"Empty"},{"op":"replace","path":"/operationName","value":"o"}]}"#,
    r#"{"patchOperations":[{"op":"replace","path":"/uri","value":"http://127.0.0.1:9/{id}"},{"op":"replace","path":"/timeoutInMillis","value":"1000"},{"op":"add","path":"/requestParameters/integration.request.header.X-A","value":"'v'"},{"op":"add","path":"/cacheKeyParameters/method.request.path.id"},{"op":"replace","path":"/type","value":"HTTP_PROXY"},{"op":"replace","path":"/httpMethod","value":"GET"}]}"#,
    r#"{"patchOperations":[{"op":"replace","path":"/selectionPattern","value":"2\\d{2}"},{"op":"add","path":"/responseParameters/method.response.header.X","value":"'y'"},{"op":"add","path":"/responseTemplates/application~1json","value":"{}"}]}"#,
    r#"{"patchOperations":[{"op":"add","path":"/responseParameters/method.response.header.X","value":"false"},{"op":"add","path":"/responseModels/application~1json","value":"Empty"}]}"#,
    r#"{"patchOperations":[{"op":"replace","path":"/variables/x","value":"y"},{"op":"replace","path":"/*/*/throttling/rateLimit","value":"10"},{"op":"replace","path":"/~1p/GET/caching/enabled","value":"true"},{"op":"replace","path":"/description","value":"d"},{"op":"replace","path":"/deploymentId","value":"d1"},{"op":"remove","path":"/*/*"}]}"#,
    r#"{"patchOperations":[{"op":"replace","path":"/name","value":"x"},{"op":"add","path":"/binaryMediaTypes/image~1png"},{"op":"replace","path":"/endpointConfiguration/types/EDGE","value":"REGIONAL"},{"op":"replace","path":"/minimumCompressionSize","value":"5"}]}"#,
    r#"{"patchOperations":[{"op":"replace","path":"/pathPart","value":"q"},{"op":"replace","path":"/parentId","value":"r"}]}"#,
    r#"{"patchOperations":[{"op":"replace","path":"/name","value":"n"},{"op":"replace","path":"/enabled","value":"false"},{"op":"replace","path":"/customerId","value":"c"}]}"#,
    r#"{"patchOperations":[{"op":"replace","path":"/name","value":"q"},{"op":"replace","path":"/throttle/rateLimit","value":"5"},{"op":"replace","path":"/quota/limit","value":"5"},{"op":"add","path":"/apiStages","value":"a1:dev"},{"op":"replace","path":"/apiStages/a1:dev/throttle/~1p~1GET/rateLimit","value":"1"}]}"#,
];

/// An error of the admin API's shape.
fn aws_shaped(e: &ApiError) {
    assert!((400..500).contains(&e.status), "{e:?}");
    assert!(e.error_type.ends_with("Exception"), "{e:?}");
    assert!(!e.message.is_empty(), "{e:?}");
    let v: serde_json::Value = serde_json::from_slice(&e.body()).expect("JSON body");
    assert!(v["message"].is_string());
}

fn check<T>(r: Result<T, ApiError>) -> Option<T> {
    r.map_err(|e| aws_shaped(&e)).ok()
}

/// Applies `ops` in order to a copy of `obj` with `apply`, then the whole-object check, as
/// every Update operation does.
fn patch_all<T: Clone>(
    obj: &T,
    ops: &[PatchOp],
    apply: impl Fn(&mut T, &PatchOp) -> Result<(), ApiError>,
    whole: impl Fn(&T) -> Result<(), ApiError>,
) {
    let mut o = obj.clone();
    for p in ops {
        let _ = p.segments();
        let _ = p.raw_segments();
        if check(apply(&mut o, p)).is_none() {
            return;
        }
    }
    check(whole(&o));
}

#[test]
fn fuzz_patch_operations() {
    let method = Method {
        http_method: "GET".into(),
        authorization_type: tollgate_proto::model::AuthorizationType::None,
        ..Default::default()
    };
    let integration = Integration {
        kind: IntegrationType::HttpProxy,
        http_method: Some("GET".into()),
        uri: Some("http://127.0.0.1:9/".into()),
        timeout_in_millis: 29_000,
        ..Default::default()
    };
    let ir = IntegrationResponse {
        status_code: "200".into(),
        ..Default::default()
    };
    let mr = MethodResponse {
        status_code: "200".into(),
        ..Default::default()
    };
    let stage = Stage {
        stage_name: "dev".into(),
        deployment_id: "d1".into(),
        ..Default::default()
    };
    let settings = RestApiSettings {
        name: "n".into(),
        api_key_source: tollgate_proto::model::ApiKeySource::Header.into(),
        endpoint_types: vec!["EDGE".into()],
        ..Default::default()
    };
    let place = resources::Placement {
        parent_id: "r".into(),
        path_part: "p".into(),
    };
    let key = ApiKey {
        id: "k".into(),
        value: "abcdefghijklmnopqrstuvwxyz".into(),
        enabled: true,
        ..Default::default()
    };
    let plan = UsagePlan {
        id: "p".into(),
        name: "p".into(),
        ..Default::default()
    };
    run("patch operations", 1000, |m: &mut Mutator| {
        let seed = m.pick(PATCHES).to_string();
        let body = if m.rng.gen_bool(0.05) {
            seed.into_bytes()
        } else {
            m.mutate(seed.as_bytes(), TOKENS)
        };
        let Some(ops) = check(patch::parse(&body)) else {
            return;
        };
        patch_all(&method, &ops, methods::apply_patch, methods::check_method);
        patch_all(
            &integration,
            &ops,
            integrations::apply_patch,
            integrations::check_integration,
        );
        patch_all(
            &ir,
            &ops,
            integrations::apply_response_patch,
            integrations::check_response,
        );
        patch_all(
            &mr,
            &ops,
            methods::apply_response_patch,
            methods::check_response,
        );
        patch_all(
            &stage,
            &ops,
            |s, p| stages::apply_patch(s, p, &|d| d == "d1"),
            stages::check_stage,
        );
        patch_all(
            &settings,
            &ops,
            restapis::apply_patch,
            restapis::check_settings,
        );
        patch_all(&place, &ops, resources::apply_patch, |_| Ok(()));
        patch_all(&key, &ops, apikeys::apply_patch, apikeys::check_key_text);
        patch_all(&plan, &ops, usageplans::apply_patch, |_| Ok(()));
    });
}

const PUT_INTEGRATION: &[&str] = &[
    r#"{"type":"HTTP_PROXY","httpMethod":"GET","uri":"http://${stageVariables.b}/{id}","requestParameters":{"integration.request.header.X-A":"'v'","integration.request.header.X-B":"method.request.querystring.q","integration.request.path.id":"method.request.path.id"},"timeoutInMillis":1000,"cacheKeyParameters":["method.request.path.id"],"cacheNamespace":"n","connectionType":"INTERNET"}"#,
    r#"{"type":"MOCK","requestTemplates":{"application/json":"{\"statusCode\": 200}"},"passthroughBehavior":"WHEN_NO_MATCH","tlsConfig":{}}"#,
];

const PUT_METHOD: &[&str] = &[
    r#"{"authorizationType":"NONE","apiKeyRequired":true,"operationName":"o","requestParameters":{"method.request.header.x":true,"method.request.path.id":true},"requestModels":{"application/json":"Empty"}}"#,
];

/// The Put operations' bodies decoded and validated as the operations do it.
#[test]
fn fuzz_put_inputs() {
    run("put inputs", 1000, |m: &mut Mutator| {
        let which = m.rng.gen_range(0..3);
        let seed = match which {
            0 => *m.pick(PUT_INTEGRATION),
            1 => *m.pick(PUT_METHOD),
            _ => {
                r#"{"selectionPattern":"2\\d{2}","responseTemplates":{"application/json":"{}"},"responseParameters":{"method.response.header.X":"'v'"}}"#
            }
        };
        let body = m.mutate(seed.as_bytes(), TOKENS);
        match which {
            0 => {
                if let Some(i) = check(input::parse::<PutIntegrationIn>(&body)) {
                    if let Some(i) = check(integrations::from_input(i, "r1")) {
                        check(integrations::check_integration(&i));
                    }
                }
            }
            1 => {
                if let Some(i) = check(input::parse::<PutMethodIn>(&body)) {
                    let Some(authorization_type) = check(methods::parse_authorization_type(
                        i.authorization_type.as_deref(),
                    )) else {
                        return;
                    };
                    let method = Method {
                        http_method: "GET".into(),
                        authorization_type,
                        authorizer_id: i.authorizer_id,
                        api_key_required: i.api_key_required.unwrap_or(false),
                        operation_name: i.operation_name,
                        request_validator_id: i.request_validator_id,
                        request_parameters: i.request_parameters.unwrap_or_default(),
                        request_models: i.request_models.unwrap_or_default(),
                        authorization_scopes: i.authorization_scopes.unwrap_or_default(),
                        ..Default::default()
                    };
                    check(methods::check_method(&method));
                }
            }
            _ => {
                if let Some(i) = check(input::parse::<input::PutIntegrationResponseIn>(&body)) {
                    let r = IntegrationResponse {
                        status_code: "200".into(),
                        selection_pattern: i.selection_pattern,
                        response_parameters: i.response_parameters.unwrap_or_default(),
                        response_templates: i.response_templates.unwrap_or_default(),
                        content_handling: i.content_handling,
                        given_maps: Default::default(),
                    };
                    check(integrations::check_response(&r));
                }
            }
        }
    });
}
