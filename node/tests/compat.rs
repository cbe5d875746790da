//! Wire compatibility, operation by operation, against botocore's service model
//! (`tests/data/botocore/`): every operation is implemented, owned by a named open issue, or
//! refused with a clear "not supported" answer (`tollgate_node::admin::coverage`); answers fit
//! botocore's output shapes; GetAccount/UpdateAccount, tags and the referential rules of
//! usage plans behave as AWS's.

mod common;
#[path = "support/shapes.rs"]
mod shapes;

use common::{TestNode, ACCESS_KEY, SECRET_KEY};
use serde_json::{json, Value};
use shapes::{assert_shape, Model};
use std::time::Instant;
use tollgate_node::admin::coverage::{Coverage, OPERATIONS};

/// A signed call that returns status, error type and JSON body.
fn call(n: &TestNode, method: &str, path: &str, body: Option<Value>) -> (u16, String, Value) {
    let creds = tollgate_node::sigv4::Credentials {
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: SECRET_KEY.into(),
    };
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let a = tollgate_node::admin_client::call(n.admin, &creds, method, path, body.as_bytes())
        .expect("admin answer");
    let kind = a.header("x-amzn-errortype").unwrap_or("").to_string();
    (a.status, kind, a.json())
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A request URI template with every `{label}` filled with an id that names nothing.
fn fill(uri: &str) -> String {
    let mut out = String::new();
    let mut rest = uri;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let label = &rest[open + 1..close];
        out.push_str(&match label {
            "http_method" => "GET".to_string(),
            "status_code" => "200".to_string(),
            "resource_arn" => enc("arn:aws:apigateway:us-east-1::/restapis/nosuchapi"),
            _ => "nosuch1".to_string(),
        });
        rest = &rest[(close + 1).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_table_lists_botocores_operations_as_botocore_defines_them() {
    let model = Model::load();
    let mut ops = model.operations();
    ops.sort();
    assert_eq!(ops.len(), 124, "botocore's model changed: update the table");
    let table: Vec<(String, String, String)> = OPERATIONS
        .iter()
        .map(|e| (e.name.into(), e.method.into(), e.uri.into()))
        .collect();
    assert_eq!(table, ops);
    // The shape check itself catches what it is for.
    assert!(model
        .check("GetAccount", &json!({ "apiKeyVersion": "4" }))
        .is_ok());
    assert!(model.check("GetAccount", &json!({ "extra": 1 })).is_err());
    assert!(model
        .check("GetTags", &json!({ "tags": { "a": 1 } }))
        .is_err());
    assert!(model
        .check("GetRestApi", &json!({ "apiKeySource": "BOGUS" }))
        .is_err());
    assert!(model
        .check(
            "GetRestApis",
            &json!({ "item": [{ "id": "a", "createdDate": "x" }] })
        )
        .is_err());
}

#[test]
fn every_operation_answers_as_the_table_says() {
    let n = TestNode::start(&["--workers", "1"]);
    let (mut implemented, mut owned, mut refused) = (0, 0, 0);
    for e in OPERATIONS {
        let path = fill(e.uri);
        let body = matches!(e.method, "POST" | "PUT" | "PATCH").then(|| json!({}));
        let (status, kind, answer) = call(&n, e.method, &path, body);
        let message = answer["message"].as_str().unwrap_or("").to_string();
        let what = format!("{} {} {path} -> {status} {kind} {answer}", e.name, e.method);
        match &e.coverage {
            Coverage::Implemented => {
                implemented += 1;
                assert_ne!(kind, "UnknownOperationException", "{what}");
                assert!(!message.contains("not supported by Tollgate"), "{what}");
                assert!(status < 500, "{what}");
            }
            Coverage::Owned { .. } => owned += 1,
            Coverage::NotSupported(_) => {
                refused += 1;
                assert_eq!(
                    (status, kind.as_str()),
                    (400, "BadRequestException"),
                    "{what}"
                );
                assert!(
                    message.starts_with(&format!("{} is not supported by Tollgate: ", e.name)),
                    "{what}"
                );
            }
        }
    }
    assert_eq!(implemented + owned + refused, 124);
    assert_eq!(
        (implemented, owned, refused),
        tollgate_node::admin::coverage::counts()
    );
    // Paths near a refused operation's are still unknown, not refused by mistake.
    let (status, kind, _) = call(&n, "GET", "/vpclinks/a/b", None);
    assert_eq!((status, kind.as_str()), (404, "UnknownOperationException"));
}

/// A MOCK API answering `GET /` on stage `dev`: (api id, root resource id).
fn mock_api(n: &TestNode, tags: Value) -> (String, String) {
    let api = n.admin_ok(
        "POST",
        "/restapis",
        Some(json!({ "name": "compat", "tags": tags })),
    );
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    let m = format!("/restapis/{id}/resources/{root}/methods/GET");
    n.admin_ok("PUT", &m, Some(json!({ "authorizationType": "NONE" })));
    n.admin_ok(
        "PUT",
        &format!("{m}/integration"),
        Some(
            json!({ "type": "MOCK", "requestTemplates": { "application/json": "{\"statusCode\": 200}" } }),
        ),
    );
    n.admin_ok("PUT", &format!("{m}/responses/200"), Some(json!({})));
    n.admin_ok(
        "PUT",
        &format!("{m}/integration/responses/200"),
        Some(json!({ "responseTemplates": { "application/json": "{}" } })),
    );
    n.admin_ok(
        "POST",
        &format!("/restapis/{id}/deployments"),
        Some(json!({ "stageName": "dev" })),
    );
    (id, root)
}

#[test]
fn the_account_throttle_is_replicated_patchable_and_enforced() {
    let model = Model::load();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tollgate.toml");
    std::fs::write(
        &cfg,
        "account_rate_limit = 1000.0\naccount_burst_limit = 500\n",
    )
    .unwrap();
    let n = TestNode::start(&["--workers", "1", "--config", cfg.to_str().unwrap()]);
    // The configured limit is the default.
    let a = n.admin_ok("GET", "/account", None);
    assert_shape(
        &model,
        "GetAccount",
        &a,
        &["throttleSettings", "features", "apiKeyVersion"],
    );
    assert_eq!(
        a,
        json!({ "throttleSettings": { "burstLimit": 500, "rateLimit": 1000.0 },
                "features": ["UsagePlans"], "apiKeyVersion": "4" })
    );
    let (api, _) = mock_api(&n, json!({}));
    let host = format!("{api}.execute-api.localhost");
    assert_eq!(n.get(&host, "/dev/").status, 200);

    // Lowered through UpdateAccount: the data plane enforces it at once.
    let patch = json!({ "patchOperations": [
        { "op": "replace", "path": "/throttle/rateLimit", "value": "1" },
        { "op": "replace", "path": "/throttle/burstLimit", "value": "2" },
        { "op": "replace", "path": "/cloudwatchRoleArn", "value": "arn:aws:iam::123456789012:role/logs" },
        { "op": "add", "path": "/features", "value": "UsagePlans" }
    ] });
    let a = n.admin_ok("PATCH", "/account", Some(patch));
    assert_shape(
        &model,
        "UpdateAccount",
        &a,
        &["cloudwatchRoleArn", "throttleSettings"],
    );
    assert_eq!(
        a["throttleSettings"],
        json!({ "burstLimit": 2, "rateLimit": 1.0 })
    );
    assert_eq!(n.admin_ok("GET", "/account", None), a);
    let started = Instant::now();
    let statuses: Vec<u16> = (0..10).map(|_| n.get(&host, "/dev/").status).collect();
    let ok = statuses.iter().filter(|s| **s == 200).count() as f64;
    assert!(
        ok >= 1.0 && ok <= 2.0 + started.elapsed().as_secs_f64() + 1.0,
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "{statuses:?}");

    // Removed: back to the configured limit.
    let a = n.admin_ok(
        "PATCH",
        "/account",
        Some(json!({ "patchOperations": [
            { "op": "remove", "path": "/throttle" },
            { "op": "remove", "path": "/cloudwatchRoleArn" }
        ] })),
    );
    assert_eq!(
        a["throttleSettings"],
        json!({ "burstLimit": 500, "rateLimit": 1000.0 })
    );
    assert!(a.get("cloudwatchRoleArn").is_none(), "{a}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!((0..5).all(|_| n.get(&host, "/dev/").status == 200));

    // Refusals, with AWS's wording where AWS has one.
    for (patch, want) in [
        (
            json!({ "op": "replace", "path": "/throttle/x", "value": "1" }),
            "Invalid patch path '/throttle/x' specified for op 'replace'. Must be one of: [",
        ),
        (
            json!({ "op": "replace", "path": "/throttle/rateLimit", "value": "-1" }),
            "Invalid value '-1' specified for '/throttle/rateLimit'",
        ),
        (
            json!({ "op": "replace", "path": "/throttle/burstLimit", "value": "1.5" }),
            "Invalid value '1.5'",
        ),
        (
            json!({ "op": "replace", "path": "/cloudwatchRoleArn", "value": "role" }),
            "The role ARN is not well formed",
        ),
        (
            json!({ "op": "add", "path": "/features", "value": "Other" }),
            "Invalid value 'Other'",
        ),
    ] {
        let (status, kind, body) = call(
            &n,
            "PATCH",
            "/account",
            Some(json!({ "patchOperations": [patch] })),
        );
        assert_eq!(
            (status, kind.as_str()),
            (400, "BadRequestException"),
            "{body}"
        );
        let m = body["message"].as_str().unwrap_or("");
        assert!(m.starts_with(want), "{m}");
    }
}

#[test]
fn tags_on_apis_stages_keys_and_plans() {
    let model = Model::load();
    let n = TestNode::start(&["--workers", "1"]);
    let (api, _) = mock_api(&n, json!({ "team": "a" }));
    let key = n.admin_ok(
        "POST",
        "/apikeys",
        Some(json!({ "name": "k", "tags": { "k": "1" } })),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let plan = n.admin_ok(
        "POST",
        "/usageplans",
        Some(json!({ "name": "p", "tags": { "p": "1" } })),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let arn = |path: &str| enc(&format!("arn:aws:apigateway:us-east-1::{path}"));
    let api_arn = arn(&format!("/restapis/{api}"));
    let stage_arn = arn(&format!("/restapis/{api}/stages/dev"));
    let key_arn = arn(&format!("/apikeys/{key}"));
    let plan_arn = arn(&format!("/usageplans/{plan}"));

    // Tags given on create are returned by GetTags.
    let t = n.admin_ok("GET", &format!("/tags/{api_arn}"), None);
    assert_shape(&model, "GetTags", &t, &["tags"]);
    assert_eq!(t, json!({ "tags": { "team": "a" } }));
    assert_eq!(
        n.admin_ok("GET", &format!("/tags/{key_arn}"), None),
        json!({ "tags": { "k": "1" } })
    );
    assert_eq!(
        n.admin_ok("GET", &format!("/tags/{stage_arn}"), None),
        json!({ "tags": {} })
    );

    // TagResource adds and replaces; the objects show them.
    for (a, path) in [
        (&api_arn, format!("/restapis/{api}")),
        (&stage_arn, format!("/restapis/{api}/stages/dev")),
        (&key_arn, format!("/apikeys/{key}")),
        (&plan_arn, format!("/usageplans/{plan}")),
    ] {
        let (status, _, body) = call(
            &n,
            "PUT",
            &format!("/tags/{a}"),
            Some(json!({ "tags": { "env": "prod", "team": "b" } })),
        );
        assert_eq!(status, 204, "{body}");
        assert_eq!(body, Value::Null);
        let obj = n.admin_ok("GET", &path, None);
        assert_eq!(obj["tags"]["env"], "prod", "{path}: {obj}");
        assert_eq!(obj["tags"]["team"], "b", "{path}: {obj}");
    }
    assert_eq!(
        n.admin_ok("GET", &format!("/tags/{plan_arn}"), None),
        json!({ "tags": { "env": "prod", "p": "1", "team": "b" } })
    );

    // UntagResource removes the keys named (unknown ones ignored).
    let (status, _, _) = call(
        &n,
        "DELETE",
        &format!("/tags/{api_arn}?tagKeys=team&tagKeys=nope"),
        None,
    );
    assert_eq!(status, 204);
    assert_eq!(
        n.admin_ok("GET", &format!("/tags/{api_arn}"), None),
        json!({ "tags": { "env": "prod" } })
    );

    // AWS's limits: 50 tags, keys of 128, values of 256, no `aws:` prefix.
    let many: serde_json::Map<String, Value> =
        (0..50).map(|i| (format!("t{i}"), json!("v"))).collect();
    let (status, _, body) = call(
        &n,
        "PUT",
        &format!("/tags/{key_arn}"),
        Some(json!({ "tags": many })),
    );
    assert_eq!(status, 400, "50 new tags on top of 3: {body}");
    for (tags, want) in [
        (
            json!({ "aws:x": "1" }),
            "Tag keys must not start with 'aws:'",
        ),
        (
            json!({ "k".repeat(129): "1" }),
            "A tag key must be at most 128",
        ),
        (
            json!({ "k": "v".repeat(257) }),
            "A tag value must be at most 256",
        ),
    ] {
        let (status, kind, body) = call(
            &n,
            "PUT",
            &format!("/tags/{key_arn}"),
            Some(json!({ "tags": tags })),
        );
        assert_eq!((status, kind.as_str()), (400, "BadRequestException"));
        assert!(
            body["message"].as_str().unwrap().starts_with(want),
            "{body}"
        );
        let (status, _, _) = call(
            &n,
            "POST",
            "/restapis",
            Some(json!({ "name": "x", "tags": tags })),
        );
        assert_eq!(status, 400, "on create too");
    }

    // Unknown objects, ARNs that name nothing taggable, another region.
    let (status, kind, _) = call(
        &n,
        "GET",
        &format!("/tags/{}", arn("/restapis/nosuch")),
        None,
    );
    assert_eq!((status, kind.as_str()), (404, "NotFoundException"));
    for (bad, want) in [
        (
            arn("/vpclinks/v1"),
            "Tags on VPC links are not supported by Tollgate",
        ),
        (arn("/restapis/a/resources/r"), "Invalid ARN specified"),
        (enc("not-an-arn"), "Invalid ARN specified"),
    ] {
        let (status, _, body) = call(&n, "GET", &format!("/tags/{bad}"), None);
        assert_eq!(status, 400, "{body}");
        assert!(
            body["message"].as_str().unwrap().starts_with(want),
            "{body}"
        );
    }
    let (status, _, body) = call(&n, "DELETE", &format!("/tags/{api_arn}"), None);
    assert_eq!(status, 400, "no tagKeys: {body}");
}

#[test]
fn usage_plans_keep_no_dangling_stages_or_keys() {
    let n = TestNode::start(&["--workers", "1"]);
    let (api, _) = mock_api(&n, json!({}));
    n.admin_ok(
        "POST",
        &format!("/restapis/{api}/stages"),
        Some(json!({ "stageName": "prod", "deploymentId":
            n.admin_ok("GET", &format!("/restapis/{api}/stages/dev"), None)["deploymentId"] })),
    );
    let plan = n.admin_ok(
        "POST",
        "/usageplans",
        Some(json!({ "name": "p", "apiStages": [
            { "apiId": api, "stage": "dev" }, { "apiId": api, "stage": "prod" } ] })),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let key = n.admin_ok("POST", "/apikeys", Some(json!({ "name": "k" })))["id"]
        .as_str()
        .unwrap()
        .to_string();
    n.admin_ok(
        "POST",
        &format!("/usageplans/{plan}/keys"),
        Some(json!({ "keyId": key, "keyType": "API_KEY" })),
    );

    // A plan with API stages cannot be deleted (AWS's message).
    let (status, kind, body) = call(&n, "DELETE", &format!("/usageplans/{plan}"), None);
    assert_eq!((status, kind.as_str()), (400, "BadRequestException"));
    assert_eq!(
        body["message"],
        format!("Cannot delete Usage Plan {plan} because there are API Stages associated with it, including {api}:dev")
    );

    // Deleting a stage takes it out of the plan.
    n.admin_ok("DELETE", &format!("/restapis/{api}/stages/dev"), None);
    let p = n.admin_ok("GET", &format!("/usageplans/{plan}"), None);
    assert_eq!(p["apiStages"], json!([{ "apiId": api, "stage": "prod" }]));

    // Deleting a key takes it out of the plan.
    n.admin_ok("DELETE", &format!("/apikeys/{key}"), None);
    let keys = n.admin_ok("GET", &format!("/usageplans/{plan}/keys"), None);
    assert_eq!(keys["item"], json!([]), "{keys}");

    // Deleting the API takes its other stages out; then the plan may go.
    n.admin_ok("DELETE", &format!("/restapis/{api}"), None);
    let p = n.admin_ok("GET", &format!("/usageplans/{plan}"), None);
    assert!(
        p.get("apiStages").is_none() || p["apiStages"] == json!([]),
        "{p}"
    );
    let (status, _, _) = call(&n, "DELETE", &format!("/usageplans/{plan}"), None);
    assert_eq!(status, 202);
}

/// Calls `op` (which must succeed) and checks its answer against botocore's output shape,
/// with the members `present` set.
fn shaped(
    n: &TestNode,
    model: &Model,
    op: &str,
    (method, path): (&str, &str),
    body: Option<Value>,
    present: &[&str],
) -> Value {
    let (status, kind, answer) = call(n, method, path, body);
    assert!(
        (200..300).contains(&status),
        "{op} {method} {path} -> {status} {kind} {answer}"
    );
    assert_shape(model, op, &answer, present);
    answer
}

fn patch(ops: Value) -> Option<Value> {
    Some(json!({ "patchOperations": ops }))
}

#[test]
fn answers_fit_botocores_output_shapes() {
    let model = Model::load();
    let backend = common::EchoBackend::start();
    let n = TestNode::start(&["--workers", "1"]);
    let m = &model;
    let api = shaped(
        &n,
        m,
        "CreateRestApi",
        ("POST", "/restapis"),
        Some(
            json!({ "name": "shapes", "description": "d", "tags": { "t": "1" },
            "binaryMediaTypes": ["image/png"], "minimumCompressionSize": 100,
            "endpointConfiguration": { "types": ["REGIONAL"] } }),
        ),
        &[
            "id",
            "name",
            "description",
            "createdDate",
            "rootResourceId",
            "tags",
            "binaryMediaTypes",
            "minimumCompressionSize",
            "endpointConfiguration",
            "apiKeySource",
        ],
    );
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    let a = format!("/restapis/{id}");
    shaped(&n, m, "GetRestApi", ("GET", &a), None, &["id", "name"]);
    // The IP address type: ipv4 by default, dualstack once patched, checked as AWS does.
    assert_eq!(api["endpointConfiguration"]["ipAddressType"], "ipv4");
    let dual = json!({ "patchOperations": [
        { "op": "replace", "path": "/endpointConfiguration/ipAddressType", "value": "dualstack" }
    ] });
    let patched = shaped(&n, m, "UpdateRestApi", ("PATCH", &a), Some(dual), &["id"]);
    assert_eq!(
        patched["endpointConfiguration"]["ipAddressType"],
        "dualstack"
    );
    let bad = json!({ "name": "p", "endpointConfiguration": { "types": ["PRIVATE"], "ipAddressType": "ipv4" } });
    let (status, kind, _) = call(&n, "POST", "/restapis", Some(bad));
    assert_eq!((status, kind.as_str()), (400, "BadRequestException"));
    shaped(&n, m, "GetRestApis", ("GET", "/restapis"), None, &["item"]);
    shaped(
        &n,
        m,
        "UpdateRestApi",
        ("PATCH", &a),
        patch(json!([{ "op": "replace", "path": "/description", "value": "e" }])),
        &["id", "description"],
    );
    shaped(
        &n,
        m,
        "GetResources",
        ("GET", &format!("{a}/resources?embed=methods")),
        None,
        &["item"],
    );
    let res = shaped(
        &n,
        m,
        "CreateResource",
        ("POST", &format!("{a}/resources/{root}")),
        Some(json!({ "pathPart": "pets" })),
        &["id", "parentId", "pathPart", "path"],
    );
    let r = format!("{a}/resources/{}", res["id"].as_str().unwrap());
    shaped(&n, m, "GetResource", ("GET", &r), None, &["id", "path"]);
    shaped(
        &n,
        m,
        "UpdateResource",
        ("PATCH", &r),
        patch(json!([{ "op": "replace", "path": "/pathPart", "value": "pet" }])),
        &["pathPart"],
    );
    let model_body = json!({ "name": "Pet", "contentType": "application/json",
        "schema": "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}}}" });
    shaped(
        &n,
        m,
        "CreateModel",
        ("POST", &format!("{a}/models")),
        Some(model_body),
        &["id", "name", "contentType", "schema"],
    );
    shaped(
        &n,
        m,
        "GetModel",
        ("GET", &format!("{a}/models/Pet")),
        None,
        &["name"],
    );
    shaped(
        &n,
        m,
        "GetModels",
        ("GET", &format!("{a}/models")),
        None,
        &["item"],
    );
    shaped(
        &n,
        m,
        "UpdateModel",
        ("PATCH", &format!("{a}/models/Pet")),
        patch(json!([{ "op": "replace", "path": "/description", "value": "a pet" }])),
        &["description"],
    );
    shaped(
        &n,
        m,
        "GetModelTemplate",
        ("GET", &format!("{a}/models/Pet/default_template")),
        None,
        &["value"],
    );
    let v = shaped(
        &n,
        m,
        "CreateRequestValidator",
        ("POST", &format!("{a}/requestvalidators")),
        Some(
            json!({ "name": "all", "validateRequestBody": true, "validateRequestParameters": true }),
        ),
        &[
            "id",
            "name",
            "validateRequestBody",
            "validateRequestParameters",
        ],
    );
    let vp = format!("{a}/requestvalidators/{}", v["id"].as_str().unwrap());
    shaped(&n, m, "GetRequestValidator", ("GET", &vp), None, &["id"]);
    shaped(
        &n,
        m,
        "GetRequestValidators",
        ("GET", &format!("{a}/requestvalidators")),
        None,
        &["item"],
    );
    shaped(
        &n,
        m,
        "UpdateRequestValidator",
        ("PATCH", &vp),
        patch(json!([{ "op": "replace", "path": "/name", "value": "body" }])),
        &["name"],
    );
    let meth = format!("{r}/methods/POST");
    shaped(
        &n,
        m,
        "PutMethod",
        ("PUT", &meth),
        Some(
            json!({ "authorizationType": "NONE", "apiKeyRequired": false,
            "operationName": "addPet", "requestValidatorId": v["id"],
            "requestParameters": { "method.request.header.x-id": true },
            "requestModels": { "application/json": "Pet" } }),
        ),
        &[
            "httpMethod",
            "authorizationType",
            "apiKeyRequired",
            "operationName",
            "requestValidatorId",
            "requestParameters",
            "requestModels",
        ],
    );
    shaped(&n, m, "GetMethod", ("GET", &meth), None, &["httpMethod"]);
    shaped(
        &n,
        m,
        "UpdateMethod",
        ("PATCH", &meth),
        patch(json!([{ "op": "replace", "path": "/operationName", "value": "add" }])),
        &["operationName"],
    );
    shaped(
        &n,
        m,
        "PutMethodResponse",
        ("PUT", &format!("{meth}/responses/200")),
        Some(
            json!({ "responseParameters": { "method.response.header.x-a": false },
            "responseModels": { "application/json": "Empty" } }),
        ),
        &["statusCode", "responseParameters", "responseModels"],
    );
    shaped(
        &n,
        m,
        "GetMethodResponse",
        ("GET", &format!("{meth}/responses/200")),
        None,
        &["statusCode"],
    );
    shaped(
        &n,
        m,
        "UpdateMethodResponse",
        ("PATCH", &format!("{meth}/responses/200")),
        patch(
            json!([{ "op": "add", "path": "/responseParameters/method.response.header.x-b", "value": "true" }]),
        ),
        &["responseParameters"],
    );
    // An HTTP_PROXY integration on GET, a MOCK one with templates on POST.
    let get = format!("{r}/methods/GET");
    n.admin_ok("PUT", &get, Some(json!({ "authorizationType": "NONE" })));
    let uri = format!("http://{}/pets", backend.addr);
    shaped(
        &n,
        m,
        "PutIntegration",
        ("PUT", &format!("{get}/integration")),
        Some(
            json!({ "type": "HTTP_PROXY", "integrationHttpMethod": "GET", "uri": uri,
            "requestParameters": { "integration.request.header.x-id": "'1'" },
            "timeoutInMillis": 5000 }),
        ),
        &[
            "type",
            "httpMethod",
            "uri",
            "requestParameters",
            "timeoutInMillis",
            "cacheNamespace",
            "connectionType",
        ],
    );
    shaped(
        &n,
        m,
        "GetIntegration",
        ("GET", &format!("{get}/integration")),
        None,
        &["type", "uri"],
    );
    shaped(
        &n,
        m,
        "PutIntegration",
        ("PUT", &format!("{meth}/integration")),
        Some(json!({ "type": "MOCK",
            "requestTemplates": { "application/json": "{\"statusCode\": 200}" },
            "passthroughBehavior": "WHEN_NO_TEMPLATES" })),
        &["type", "requestTemplates", "passthroughBehavior"],
    );
    shaped(
        &n,
        m,
        "UpdateIntegration",
        ("PATCH", &format!("{meth}/integration")),
        patch(json!([{ "op": "replace", "path": "/passthroughBehavior", "value": "NEVER" }])),
        &["passthroughBehavior"],
    );
    let ir = format!("{meth}/integration/responses/200");
    shaped(
        &n,
        m,
        "PutIntegrationResponse",
        ("PUT", &ir),
        Some(json!({ "selectionPattern": "2\\d\\d",
            "responseParameters": { "method.response.header.x-a": "'a'" },
            "responseTemplates": { "application/json": "$input.body" } })),
        &[
            "statusCode",
            "selectionPattern",
            "responseParameters",
            "responseTemplates",
        ],
    );
    shaped(
        &n,
        m,
        "GetIntegrationResponse",
        ("GET", &ir),
        None,
        &["statusCode"],
    );
    shaped(
        &n,
        m,
        "UpdateIntegrationResponse",
        ("PATCH", &ir),
        patch(json!([{ "op": "replace", "path": "/selectionPattern", "value": "200" }])),
        &["selectionPattern"],
    );
    let gr = format!("{a}/gatewayresponses/THROTTLED");
    shaped(
        &n,
        m,
        "PutGatewayResponse",
        ("PUT", &gr),
        Some(json!({ "statusCode": "429",
            "responseParameters": { "gatewayresponse.header.x-t": "'t'" },
            "responseTemplates": { "application/json": "{}" } })),
        &[
            "responseType",
            "statusCode",
            "responseParameters",
            "responseTemplates",
            "defaultResponse",
        ],
    );
    shaped(
        &n,
        m,
        "GetGatewayResponse",
        ("GET", &gr),
        None,
        &["responseType"],
    );
    shaped(
        &n,
        m,
        "GetGatewayResponses",
        ("GET", &format!("{a}/gatewayresponses")),
        None,
        &["item"],
    );
    shaped(
        &n,
        m,
        "UpdateGatewayResponse",
        ("PATCH", &gr),
        patch(json!([{ "op": "replace", "path": "/statusCode", "value": "503" }])),
        &["statusCode"],
    );
    let dep = shaped(
        &n,
        m,
        "CreateDeployment",
        ("POST", &format!("{a}/deployments")),
        Some(json!({ "stageName": "dev", "description": "first",
            "variables": { "v": "1" } })),
        &["id", "createdDate", "description"],
    );
    let dp = format!("{a}/deployments/{}", dep["id"].as_str().unwrap());
    shaped(
        &n,
        m,
        "GetDeployment",
        ("GET", &format!("{dp}?embed=apisummary")),
        None,
        &["id"],
    );
    shaped(
        &n,
        m,
        "GetDeployments",
        ("GET", &format!("{a}/deployments")),
        None,
        &["item"],
    );
    shaped(
        &n,
        m,
        "UpdateDeployment",
        ("PATCH", &dp),
        patch(json!([{ "op": "replace", "path": "/description", "value": "second" }])),
        &["description"],
    );
    shaped(
        &n,
        m,
        "CreateStage",
        ("POST", &format!("{a}/stages")),
        Some(
            json!({ "stageName": "prod", "deploymentId": dep["id"], "description": "p",
            "variables": { "a": "b" }, "tags": { "s": "1" },
            "cacheClusterEnabled": false }),
        ),
        &[
            "stageName",
            "deploymentId",
            "description",
            "variables",
            "tags",
            "createdDate",
            "lastUpdatedDate",
            "cacheClusterEnabled",
        ],
    );
    let sp = format!("{a}/stages/prod");
    shaped(&n, m, "GetStage", ("GET", &sp), None, &["stageName"]);
    shaped(
        &n,
        m,
        "GetStages",
        ("GET", &format!("{a}/stages")),
        None,
        &["item"],
    );
    shaped(
        &n,
        m,
        "UpdateStage",
        ("PATCH", &sp),
        patch(json!([
            { "op": "replace", "path": "/*/*/throttling/rateLimit", "value": "100" },
            { "op": "replace", "path": "/*/*/metrics/enabled", "value": "true" }
        ])),
        &["methodSettings"],
    );
    let key = shaped(
        &n,
        m,
        "CreateApiKey",
        ("POST", "/apikeys"),
        Some(json!({ "name": "k", "description": "d", "enabled": true,
            "customerId": "c", "tags": { "k": "1" } })),
        &[
            "id",
            "value",
            "name",
            "description",
            "enabled",
            "createdDate",
            "lastUpdatedDate",
            "customerId",
            "tags",
        ],
    );
    let key_id = key["id"].as_str().unwrap().to_string();
    let kp = format!("/apikeys/{key_id}");
    shaped(
        &n,
        m,
        "GetApiKey",
        ("GET", &format!("{kp}?includeValue=true")),
        None,
        &["id", "value"],
    );
    shaped(
        &n,
        m,
        "GetApiKeys",
        ("GET", "/apikeys?includeValues=true"),
        None,
        &["item"],
    );
    shaped(
        &n,
        m,
        "UpdateApiKey",
        ("PATCH", &kp),
        patch(json!([{ "op": "replace", "path": "/description", "value": "e" }])),
        &["description"],
    );
    let plan = shaped(
        &n,
        m,
        "CreateUsagePlan",
        ("POST", "/usageplans"),
        Some(json!({ "name": "p", "description": "d",
            "apiStages": [{ "apiId": id, "stage": "prod" }],
            "throttle": { "rateLimit": 10.0, "burstLimit": 20 },
            "quota": { "limit": 1000, "offset": 0, "period": "DAY" }, "tags": { "p": "1" } })),
        &[
            "id",
            "name",
            "description",
            "apiStages",
            "throttle",
            "quota",
            "tags",
        ],
    );
    let pp = format!("/usageplans/{}", plan["id"].as_str().unwrap());
    shaped(&n, m, "GetUsagePlan", ("GET", &pp), None, &["id"]);
    shaped(
        &n,
        m,
        "GetUsagePlans",
        ("GET", "/usageplans"),
        None,
        &["item"],
    );
    shaped(
        &n,
        m,
        "UpdateUsagePlan",
        ("PATCH", &pp),
        patch(json!([{ "op": "replace", "path": "/description", "value": "e" }])),
        &["description"],
    );
    shaped(
        &n,
        m,
        "CreateUsagePlanKey",
        ("POST", &format!("{pp}/keys")),
        Some(json!({ "keyId": key_id, "keyType": "API_KEY" })),
        &["id", "type", "value", "name"],
    );
    shaped(
        &n,
        m,
        "GetUsagePlanKey",
        ("GET", &format!("{pp}/keys/{key_id}")),
        None,
        &["id", "type"],
    );
    shaped(
        &n,
        m,
        "GetUsagePlanKeys",
        ("GET", &format!("{pp}/keys")),
        None,
        &["item"],
    );
    shaped(
        &n,
        m,
        "GetUsage",
        (
            "GET",
            &format!("{pp}/usage?startDate=2026-01-01&endDate=2026-01-02"),
        ),
        None,
        &["usagePlanId", "startDate", "endDate"],
    );
    shaped(
        &n,
        m,
        "UpdateUsage",
        ("PATCH", &format!("{pp}/keys/{key_id}/usage")),
        patch(json!([{ "op": "replace", "path": "/remaining", "value": "500" }])),
        &["usagePlanId"],
    );
    let creds = tollgate_node::sigv4::Credentials {
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: SECRET_KEY.into(),
    };
    let csv = b"name,key,enabled\nimported,abcdefghij0123456789xyz,true\n";
    let imported = tollgate_node::admin_client::call(
        n.admin,
        &creds,
        "POST",
        "/apikeys?mode=import&format=csv",
        csv,
    )
    .expect("admin answer");
    assert_eq!(imported.status, 201, "{}", imported.json());
    assert_shape(m, "ImportApiKeys", &imported.json(), &["ids"]);
    // A file over AWS's 10 000-key limit: AWS's LimitExceededException, nothing imported.
    let mut big = String::from("name,key\n");
    for i in 0..10_001 {
        big.push_str(&format!("big{i},import-limit-value-{i:08}\n"));
    }
    let refused = tollgate_node::admin_client::call(
        n.admin,
        &creds,
        "POST",
        "/apikeys?mode=import&format=csv",
        big.as_bytes(),
    )
    .expect("admin answer");
    assert_eq!(refused.status, 429, "{}", refused.json());
    assert_eq!(
        refused
            .header("x-amzn-errortype")
            .map(|t| t.split(':').next().unwrap_or(t)),
        Some("LimitExceededException")
    );
    assert!(refused.json()["message"]
        .as_str()
        .is_some_and(|m| m.contains("at most 10000")));
    let (_, _, page) = call(&n, "GET", "/apikeys?name=big", None);
    assert_eq!(page["item"], json!([]), "{page}");
    // A file over the admin API's body limit (10 MiB): refused at once with 413, before the
    // body is read, so the client gets an answer rather than a timeout.
    {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(n.admin).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        write!(
            s,
            "POST /apikeys?mode=import&format=csv HTTP/1.1\r\nHost: {}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            n.admin,
            10 * 1024 * 1024 + 1
        )
        .expect("write");
        let mut head = Vec::new();
        let _ = s.read_to_end(&mut head);
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("x-amzn-errortype: requestentitytoolargeexception"),
            "{head}"
        );
    }
    shaped(
        &n,
        m,
        "GetAccount",
        ("GET", "/account"),
        None,
        &["features"],
    );
    let cert = shaped(
        &n,
        m,
        "GenerateClientCertificate",
        ("POST", "/clientcertificates"),
        Some(json!({ "description": "to backends", "tags": { "c": "1" } })),
        &[
            "clientCertificateId",
            "description",
            "pemEncodedCertificate",
            "createdDate",
            "expirationDate",
            "tags",
        ],
    );
    let cp = format!(
        "/clientcertificates/{}",
        cert["clientCertificateId"].as_str().unwrap()
    );
    assert!(cert["pemEncodedCertificate"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(
        !cert.to_string().contains("PRIVATE KEY"),
        "the key is never answered"
    );
    assert_eq!(
        cert["expirationDate"].as_i64().unwrap()
            - cert["createdDate"].as_i64().unwrap() / 86_400 * 86_400,
        365 * 86_400
    );
    shaped(
        &n,
        m,
        "GetClientCertificate",
        ("GET", &cp),
        None,
        &["pemEncodedCertificate"],
    );
    shaped(
        &n,
        m,
        "GetClientCertificates",
        ("GET", "/clientcertificates"),
        None,
        &["item"],
    );
    shaped(
        &n,
        m,
        "UpdateClientCertificate",
        ("PATCH", &cp),
        patch(json!([{ "op": "replace", "path": "/description", "value": "renamed" }])),
        &["description", "tags"],
    );
    let cert_arn = enc(&format!("arn:aws:apigateway:us-east-1::{cp}"));
    let (status, _, _) = call(
        &n,
        "PUT",
        &format!("/tags/{cert_arn}"),
        Some(json!({ "tags": { "d": "2" } })),
    );
    assert_eq!(status, 204);
    assert_eq!(
        n.admin_ok("GET", &format!("/tags/{cert_arn}"), None),
        json!({ "tags": { "c": "1", "d": "2" } })
    );
    n.admin_ok("DELETE", &cp, None);
    let (status, kind, _) = call(&n, "GET", &cp, None);
    assert_eq!((status, kind.as_str()), (404, "NotFoundException"));
    let part = shaped(
        &n,
        m,
        "CreateDocumentationPart",
        ("POST", &format!("{a}/documentation/parts")),
        Some(
            json!({ "location": { "type": "METHOD", "path": "/pet", "method": "POST" },
            "properties": "{\"description\":\"adds a pet\"}" }),
        ),
        &["id", "location", "properties"],
    );
    let pp = format!("{a}/documentation/parts/{}", part["id"].as_str().unwrap());
    shaped(&n, m, "GetDocumentationPart", ("GET", &pp), None, &["id"]);
    shaped(
        &n,
        m,
        "GetDocumentationParts",
        ("GET", &format!("{a}/documentation/parts?type=METHOD")),
        None,
        &["item"],
    );
    shaped(
        &n,
        m,
        "UpdateDocumentationPart",
        ("PATCH", &pp),
        patch(json!([{ "op": "replace", "path": "/properties", "value": "{\"summary\":\"s\"}" }])),
        &["properties"],
    );
    shaped(
        &n,
        m,
        "CreateDocumentationVersion",
        ("POST", &format!("{a}/documentation/versions")),
        Some(json!({ "documentationVersion": "1.0", "description": "first" })),
        &["version", "createdDate", "description"],
    );
    let vp = format!("{a}/documentation/versions/1.0");
    shaped(
        &n,
        m,
        "GetDocumentationVersion",
        ("GET", &vp),
        None,
        &["version"],
    );
    shaped(
        &n,
        m,
        "GetDocumentationVersions",
        ("GET", &format!("{a}/documentation/versions")),
        None,
        &["item"],
    );
    shaped(
        &n,
        m,
        "UpdateDocumentationVersion",
        ("PATCH", &vp),
        patch(json!([{ "op": "replace", "path": "/description", "value": "one" }])),
        &["description"],
    );
}

#[test]
fn documentation_parts_and_versions() {
    let n = TestNode::start(&["--workers", "1"]);
    let (api, _) = mock_api(&n, json!({}));
    let parts = format!("/restapis/{api}/documentation/parts");
    let p = n.admin_ok(
        "POST",
        &parts,
        Some(
            json!({ "location": { "type": "RESPONSE", "path": "/", "method": "get",
            "statusCode": "404" }, "properties": "{\"description\":\"none\"}" }),
        ),
    );
    // AWS's defaults filled, the method upper-cased.
    assert_eq!(
        p["location"],
        json!({ "type": "RESPONSE", "path": "/", "method": "GET", "statusCode": "404" })
    );
    let id = p["id"].as_str().unwrap().to_string();
    let api_part = n.admin_ok(
        "POST",
        &parts,
        Some(json!({ "location": { "type": "API" }, "properties": "{\"info\":{}}" })),
    );
    assert_eq!(api_part["location"], json!({ "type": "API" }));
    // One part per location.
    let (status, kind, body) = call(
        &n,
        "POST",
        &parts,
        Some(json!({ "location": { "type": "API" }, "properties": "{}" })),
    );
    assert_eq!(
        (status, kind.as_str()),
        (409, "ConflictException"),
        "{body}"
    );
    // Validation, as AWS: enum values by ValidationException, the rest BadRequest.
    for (body, want_kind) in [
        (
            json!({ "location": { "type": "api" }, "properties": "{}" }),
            "ValidationException",
        ),
        (
            json!({ "location": { "type": "API", "path": "/x" }, "properties": "{}" }),
            "BadRequestException",
        ),
        (
            json!({ "location": { "type": "MODEL" }, "properties": "{}" }),
            "BadRequestException",
        ),
        (
            json!({ "location": { "type": "RESOURCE" }, "properties": "[1]" }),
            "BadRequestException",
        ),
        (json!({ "properties": "{}" }), "BadRequestException"),
    ] {
        let (status, kind, answer) = call(&n, "POST", &parts, Some(body.clone()));
        assert_eq!(
            (status, kind.as_str()),
            (400, want_kind),
            "{body}: {answer}"
        );
    }
    // Filters.
    let listed = n.admin_ok("GET", &format!("{parts}?type=API"), None);
    assert_eq!(listed["item"].as_array().unwrap().len(), 1, "{listed}");
    let (status, _, _) = call(
        &n,
        "GET",
        &format!("{parts}?locationStatus=UNDOCUMENTED"),
        None,
    );
    assert_eq!(status, 400);
    // Update and delete.
    let (status, _, body) = call(
        &n,
        "PATCH",
        &format!("{parts}/{id}"),
        patch(json!([{ "op": "replace", "path": "/location/type", "value": "API" }])),
    );
    assert_eq!(status, 400);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("Must be one of: [/properties]"));
    n.admin_ok("DELETE", &format!("{parts}/{id}"), None);
    let (status, _, _) = call(&n, "GET", &format!("{parts}/{id}"), None);
    assert_eq!(status, 404);

    // Stage settings Tollgate does not honour are refused, not dropped.
    for field in ["clientCertificateId", "documentationVersion"] {
        let mut body = json!({ "stageName": format!("s{field}"), "deploymentId":
            n.admin_ok("GET", &format!("/restapis/{api}/stages/dev"), None)["deploymentId"] });
        body[field] = json!("x1");
        let (status, _, answer) = call(&n, "POST", &format!("/restapis/{api}/stages"), Some(body));
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{field} ")),
            "{answer}"
        );
    }

    // Versions: unique; a stage association is refused by name.
    let versions = format!("/restapis/{api}/documentation/versions");
    n.admin_ok(
        "POST",
        &versions,
        Some(json!({ "documentationVersion": "v1" })),
    );
    // (Not byte-identical to the first: a signed resend of the same request is its retry.)
    let (status, kind, _) = call(
        &n,
        "POST",
        &versions,
        Some(json!({ "documentationVersion": "v1", "description": "again" })),
    );
    assert_eq!((status, kind.as_str()), (409, "ConflictException"));
    let (status, _, body) = call(
        &n,
        "POST",
        &versions,
        Some(json!({ "documentationVersion": "v2", "stageName": "dev" })),
    );
    assert_eq!(status, 400);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("not supported by Tollgate"));
    n.admin_ok("DELETE", &format!("{versions}/v1"), None);
    let listed = n.admin_ok("GET", &versions, None);
    assert_eq!(listed["item"], json!([]));
}

#[test]
fn wrong_json_types_answer_serialization_exception() {
    let n = TestNode::start(&["--workers", "1"]);
    let (status, kind, v) = call(&n, "POST", "/restapis", Some(json!({ "name": 5 })));
    assert_eq!((status, kind.as_str()), (400, "SerializationException"));
    // AWS's recorded words (see `admin::input::serialization_message`).
    assert_eq!(
        v["message"],
        "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"
    );
    let (_, _, v) = call(&n, "POST", "/restapis", Some(json!({ "name": true })));
    assert_eq!(
        v["message"],
        "class java.lang.Boolean can not be converted to an String"
    );
    // endpointConfiguration as AWS validates it on create, then its service rules.
    let (status, kind, v) = call(
        &n,
        "POST",
        "/restapis",
        Some(
            json!({ "name": "e", "endpointConfiguration": { "types": ["wrong"], "ipAddressType": "wrong" } }),
        ),
    );
    assert_eq!((status, kind.as_str()), (400, "ValidationException"));
    assert_eq!(v["message"], "2 validation errors detected: Value '[wrong]' at 'createRestApiInput.endpointConfiguration.types' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [PRIVATE, EDGE, REGIONAL]]; Value 'wrong' at 'createRestApiInput.endpointConfiguration.ipAddressType' failed to satisfy constraint: Member must satisfy enum value set: [ipv4, dualstack]");
    let (status, kind, v) = call(
        &n,
        "POST",
        "/restapis",
        Some(
            json!({ "name": "e", "endpointConfiguration": { "types": ["PRIVATE"], "ipAddressType": "ipv4" } }),
        ),
    );
    assert_eq!((status, kind.as_str()), (400, "BadRequestException"));
    assert_eq!(
        v["message"],
        "Only dualstack ipAddressType is supported for Private APIs."
    );
    // An empty description is refused first, as AWS refuses it.
    let (status, _, v) = call(
        &n,
        "POST",
        "/restapis",
        Some(
            json!({ "name": "e", "description": "", "endpointConfiguration": { "types": ["PRIVATE"], "ipAddressType": "ipv4" } }),
        ),
    );
    assert_eq!(status, 400);
    assert_eq!(v["message"], "Description cannot be an empty string");
    // Replacing the type with PRIVATE makes the API dualstack, as on AWS.
    let e = n.admin_ok("POST", "/restapis", Some(json!({ "name": "e" })));
    assert_eq!(e["endpointConfiguration"]["ipAddressType"], "ipv4");
    let e = n.admin_ok(
        "PATCH",
        &format!("/restapis/{}", e["id"].as_str().expect("id")),
        Some(json!({ "patchOperations": [
            { "op": "replace", "path": "/endpointConfiguration/types/0", "value": "REGIONAL" },
            { "op": "replace", "path": "/endpointConfiguration/types/0", "value": "PRIVATE" }
        ] })),
    );
    assert_eq!(
        e["endpointConfiguration"],
        json!({ "types": ["PRIVATE"], "ipAddressType": "dualstack" })
    );
    // Bad patch ops are all listed, under the operation's input name.
    let (status, kind, v) = call(
        &n,
        "PATCH",
        &format!("/restapis/{}", e["id"].as_str().expect("id")),
        Some(json!({ "patchOperations": [
            { "op": "wrong", "path": "/name", "value": "x" },
            { "op": "wrong", "path": "/name", "value": "x" }
        ] })),
    );
    assert_eq!((status, kind.as_str()), (400, "ValidationException"));
    assert_eq!(v["message"], "2 validation errors detected: Value 'wrong' at 'updateRestApiInput.patchOperations.1.member.op' failed to satisfy constraint: Member must satisfy enum value set: [add, remove, move, test, replace, copy]; Value 'wrong' at 'updateRestApiInput.patchOperations.2.member.op' failed to satisfy constraint: Member must satisfy enum value set: [add, remove, move, test, replace, copy]");
    let api = n.admin_ok("POST", "/restapis", Some(json!({ "name": "s" })));
    let id = api["id"].as_str().expect("id").to_string();
    let root = n.admin_ok("GET", &format!("/restapis/{id}/resources"), None)["item"][0]["id"]
        .as_str()
        .expect("root")
        .to_string();
    let m = format!("/restapis/{id}/resources/{root}/methods/GET");
    let body = json!({ "authorizationType": "NONE", "apiKeyRequired": "yes" });
    let (status, kind, v) = call(&n, "PUT", &m, Some(body));
    assert_eq!(
        (status, kind.as_str()),
        (400, "SerializationException"),
        "{v}"
    );
    // Nothing was created by the refused call.
    let (status, _, _) = call(&n, "GET", &m, None);
    assert_eq!(status, 404);
    // A patch value that is not a string is one too.
    let patch = json!({ "patchOperations": [{ "op": "replace", "path": "/name", "value": 5 }] });
    let (status, kind, _) = call(&n, "PATCH", &format!("/restapis/{id}"), Some(patch));
    assert_eq!((status, kind.as_str()), (400, "SerializationException"));
}
