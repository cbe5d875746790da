//! TestInvokeMethod end to end through the stock `aws` CLI: the working tree's method (never
//! deployed here) run through the data plane's phases — a MOCK whose templates read
//! `$input.params`, an HTTP_PROXY to a loopback backend, and a method that requires IAM
//! signing and an API key (AWS's test invocation skips both) — with answers checked against
//! botocore's `TestInvokeMethodResponse`.

mod common;
#[path = "support/shapes.rs"]
mod shapes;

use common::{Aws, EchoBackend, TestNode};
use serde_json::{json, Value};
use shapes::{assert_shape, Model};

fn text(v: &Value) -> String {
    v.as_str().expect("a string").to_string()
}

const MEMBERS: &[&str] = &[
    "status",
    "body",
    "headers",
    "multiValueHeaders",
    "log",
    "latency",
];

#[test]
fn test_invoke_method_runs_the_working_tree_through_the_data_plane() {
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let model = Model::load();
    let api = text(&n.admin_ok("POST", "/restapis", Some(json!({ "name": "ti" })))["id"]);
    let root =
        text(&n.admin_ok("GET", &format!("/restapis/{api}/resources"), None)["item"][0]["id"]);
    let res = |parent: &str, part: &str| {
        text(
            &n.admin_ok(
                "POST",
                &format!("/restapis/{api}/resources/{parent}"),
                Some(json!({ "pathPart": part })),
            )["id"],
        )
    };
    let pets = res(&root, "pets");
    let pet = res(&pets, "{petId}");
    let echo = res(&root, "echo");

    // 1. A MOCK whose response template reads the path, query string and a header.
    let m = format!("/restapis/{api}/resources/{pet}/methods/GET");
    n.admin_ok("PUT", &m, Some(json!({ "authorizationType": "NONE" })));
    n.admin_ok(
        "PUT",
        &format!("{m}/integration"),
        Some(json!({
            "type": "MOCK",
            "requestTemplates": { "application/json": "{\"statusCode\": 200}" }
        })),
    );
    n.admin_ok("PUT", &format!("{m}/responses/200"), Some(json!({})));
    n.admin_ok(
        "PUT",
        &format!("{m}/integration/responses/200"),
        Some(json!({
            "responseTemplates": {
                "application/json": "{\"pet\": \"$input.params('petId')\", \"q\": \"$input.params('q')\", \"hello\": \"$input.params('X-Hello')\", \"stage\": \"$context.stage\", \"v\": \"$stageVariables.color\", \"xid\": \"$context.extendedRequestId\"}"
            }
        })),
    );
    let out = aws.ok(&[
        "test-invoke-method",
        "--rest-api-id",
        &api,
        "--resource-id",
        &pet,
        "--http-method",
        "GET",
        "--path-with-query-string",
        "/pets/42?q=x",
        "--headers",
        "X-Hello=hi",
        "--stage-variables",
        "color=blue",
    ]);
    assert_shape(&model, "TestInvokeMethod", &out, MEMBERS);
    assert_eq!(out["status"], 200, "{out}");
    let body: Value = serde_json::from_str(&text(&out["body"])).expect("JSON body");
    // `$context.extendedRequestId` is the answer's `x-amz-apigw-id`, AWS-shaped.
    let xid = text(&out["headers"]["x-amz-apigw-id"]);
    assert_eq!(xid.len(), 16, "{out}");
    assert_eq!(
        body,
        json!({ "pet": "42", "q": "x", "hello": "hi", "stage": "test-invoke-stage", "v": "blue", "xid": xid })
    );
    assert_eq!(out["headers"]["Content-Type"], "application/json", "{out}");
    assert_eq!(
        out["multiValueHeaders"]["Content-Type"],
        json!(["application/json"])
    );
    let log = text(&out["log"]);
    assert!(log.starts_with("Execution log for request "), "{log}");
    for line in [
        "HTTP Method: GET, Resource Path: /pets/{petId}",
        "Method request path: {petId=42}",
        "Method request query string: {q=x}",
        "Method completed with status: 200",
    ] {
        assert!(log.contains(line), "`{line}` not in {log}");
    }
    // Nothing was deployed: the data plane has no stage to serve.
    let (status, _) = n.admin("GET", &format!("/restapis/{api}/deployments"), None);
    assert_eq!(status, 200);

    // 2. An HTTP_PROXY to a loopback backend, on a method that requires IAM signing and an
    // API key: the test invocation skips both, as AWS's does.
    let backend = EchoBackend::start();
    let e = format!("/restapis/{api}/resources/{echo}/methods/POST");
    n.admin_ok(
        "PUT",
        &e,
        Some(json!({ "authorizationType": "AWS_IAM", "apiKeyRequired": true })),
    );
    n.admin_ok(
        "PUT",
        &format!("{e}/integration"),
        Some(json!({
            "type": "HTTP_PROXY",
            "httpMethod": "POST",
            "uri": format!("http://{}/backend/status-201", backend.addr)
        })),
    );
    let out = aws.ok(&[
        "test-invoke-method",
        "--rest-api-id",
        &api,
        "--resource-id",
        &echo,
        "--http-method",
        "POST",
        "--path-with-query-string",
        "/echo?a=1",
        "--body",
        "{\"hello\":\"backend\"}",
        "--headers",
        "Content-Type=application/json,X-Trace-Me=yes",
    ]);
    assert_shape(&model, "TestInvokeMethod", &out, MEMBERS);
    assert_eq!(out["status"], 201, "{out}");
    assert_eq!(out["headers"]["X-Backend"], "echo", "{out}");
    assert_eq!(text(&out["headers"]["x-amz-apigw-id"]).len(), 16, "{out}");
    let seen: Value = serde_json::from_str(&text(&out["body"])).expect("the echo");
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/backend/status-201?a=1", "{seen}");
    assert_eq!(seen["body"], "{\"hello\":\"backend\"}");
    assert_eq!(seen["headers"]["x-trace-me"], "yes", "{seen}");
    assert_eq!(seen["headers"]["x-amzn-apigateway-api-id"], api.as_str());
    assert_eq!(backend.count.load(std::sync::atomic::Ordering::SeqCst), 1);
    let log = text(&out["log"]);
    let uri = format!(
        "Endpoint request URI: http://{}/backend/status-201?a=1",
        backend.addr
    );
    assert!(log.contains(&uri), "{log}");
    assert!(log.contains("Method completed with status: 201"), "{log}");

    // A method that does not exist is refused as AWS words it; a bad header too.
    aws.fails(
        "NotFoundException",
        &[
            "test-invoke-method",
            "--rest-api-id",
            &api,
            "--resource-id",
            &echo,
            "--http-method",
            "DELETE",
        ],
    );
    let (status, v) = n.admin(
        "POST",
        &e,
        Some(json!({ "headers": { "Bad\r\nName": "x" } })),
    );
    assert_eq!(status, 400, "{v}");
}

#[test]
fn test_invoke_method_invokes_a_lambda_proxy_function() {
    let code = format!("{}/tests/data/lambda", env!("CARGO_MANIFEST_DIR"));
    let toml = format!(
        "region = \"us-east-1\"\n[[functions]]\nname = \"app\"\nhandler = \"app.route\"\ncode = \"{code}\"\ntimeout_secs = 5\n"
    );
    let n = TestNode::start_with_config(&toml, &[]);
    let aws = Aws::for_node(&n);
    let api = text(&n.admin_ok("POST", "/restapis", Some(json!({ "name": "tl" })))["id"]);
    let root =
        text(&n.admin_ok("GET", &format!("/restapis/{api}/resources"), None)["item"][0]["id"]);
    let pets = text(
        &n.admin_ok(
            "POST",
            &format!("/restapis/{api}/resources/{root}"),
            Some(json!({ "pathPart": "pets" })),
        )["id"],
    );
    let m = format!("/restapis/{api}/resources/{pets}/methods/GET");
    n.admin_ok("PUT", &m, Some(json!({ "authorizationType": "NONE" })));
    n.admin_ok(
        "PUT",
        &format!("{m}/integration"),
        Some(json!({
            "type": "AWS_PROXY",
            "httpMethod": "POST",
            "uri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:app/invocations"
        })),
    );
    let out = aws.ok(&[
        "test-invoke-method",
        "--rest-api-id",
        &api,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
        "--path-with-query-string",
        "/pets?kind=cat",
    ]);
    assert_shape(&Model::load(), "TestInvokeMethod", &out, MEMBERS);
    assert_eq!(out["status"], 200, "{out}");
    let body: Value = serde_json::from_str(&text(&out["body"])).expect("the function's JSON");
    assert_eq!(body["event"]["path"], "/pets", "{body}");
    assert_eq!(
        body["event"]["queryStringParameters"],
        json!({ "kind": "cat" })
    );
    assert_eq!(
        body["event"]["requestContext"]["stage"],
        "test-invoke-stage"
    );
    let log = text(&out["log"]);
    assert!(
        log.contains("Endpoint request body after transformations: {"),
        "{log}"
    );
    assert!(log.contains("Method completed with status: 200"), "{log}");
}
