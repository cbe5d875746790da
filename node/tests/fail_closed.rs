//! Fail closed, end to end through the real binary: what the gateway cannot enforce is never
//! served, and what the admin API cannot store safely is refused.
//!
//! - A method with `AWS_IAM` (set up with the stock `aws` CLI) gives an unsigned request no
//!   data (403); an unknown authorizer id is refused, so `CUSTOM` and `COGNITO_USER_POOLS`
//!   cannot be set up (a stored one answers 500: `dataplane::phases::authorize` tests).
//! - Integrations the data plane does not serve (HTTP, AWS, AWS_PROXY to anything but a Lambda
//!   function URI, https:// backends) and
//!   header mappings with CR/LF are refused at PutIntegration.
//! - Names, path parts, tags and stage variables beyond AWS's limits (or holding NUL) are
//!   refused with BadRequestException.

mod common;

use common::{Aws, TestNode};
use serde_json::{json, Value};

fn root_id(n: &TestNode, api: &str) -> String {
    let resources = n.admin_ok("GET", &format!("/restapis/{api}/resources"), None);
    resources["item"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["path"] == "/")
        .expect("root")["id"]
        .as_str()
        .expect("id")
        .to_string()
}

fn mock_method(n: &TestNode, api: &str, res: &str, auth: &str) {
    let m = format!("/restapis/{api}/resources/{res}/methods/GET");
    n.admin_ok("PUT", &m, Some(json!({ "authorizationType": auth })));
    n.admin_ok(
        "PUT",
        &format!("{m}/integration"),
        Some(json!({ "type": "MOCK", "requestTemplates": { "application/json": "{\"statusCode\": 200}" } })),
    );
    n.admin_ok(
        "PUT",
        &format!("{m}/integration/responses/200"),
        Some(json!({ "responseTemplates": { "application/json": "{\"secret\":\"data\"}" } })),
    );
}

#[test]
fn methods_with_unenforced_authorization_are_not_served() {
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let api = n.admin_ok("POST", "/restapis", Some(json!({ "name": "auth" })))["id"]
        .as_str()
        .expect("id")
        .to_string();
    let root = root_id(&n, &api);
    let mk = |part: &str| {
        n.admin_ok(
            "POST",
            &format!("/restapis/{api}/resources/{root}"),
            Some(json!({ "pathPart": part })),
        )["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    let (iam, open) = (mk("iam"), mk("open"));

    // The issue's reproduction: AWS_IAM on a MOCK method, set with the stock CLI.
    let m = aws.ok(&[
        "put-method",
        "--rest-api-id",
        &api,
        "--resource-id",
        &iam,
        "--http-method",
        "POST",
        "--authorization-type",
        "AWS_IAM",
    ]);
    assert_eq!(m["authorizationType"], "AWS_IAM");
    n.admin_ok(
        "DELETE",
        &format!("/restapis/{api}/resources/{iam}/methods/POST"),
        None,
    );
    mock_method(&n, &api, &iam, "AWS_IAM");
    mock_method(&n, &api, &open, "NONE");
    // CUSTOM with an authorizer that cannot exist: refused as AWS refuses an unknown one.
    let err_args = [
        "put-method",
        "--rest-api-id",
        &api,
        "--resource-id",
        &open,
        "--http-method",
        "POST",
        "--authorization-type",
        "CUSTOM",
        "--authorizer-id",
        "bogus",
    ];
    aws.fails("BadRequestException", &err_args);
    let (status, body) = n.admin(
        "PUT",
        &format!("/restapis/{api}/resources/{open}/methods/PUT"),
        Some(json!({ "authorizationType": "COGNITO_USER_POOLS", "authorizerId": "bogus" })),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"],
        "Invalid authorizer ID specified. Setting the authorization type to CUSTOM or COGNITO_USER_POOLS requires a valid authorizer."
    );
    // Nor can UpdateMethod get there.
    let (status, body) = n.admin(
        "PATCH",
        &format!("/restapis/{api}/resources/{open}/methods/GET"),
        Some(json!({ "patchOperations": [
            { "op": "replace", "path": "/authorizationType", "value": "CUSTOM" },
            { "op": "replace", "path": "/authorizerId", "value": "bogus" }
        ] })),
    );
    assert_eq!(status, 400, "{body}");

    n.admin_ok(
        "POST",
        &format!("/restapis/{api}/deployments"),
        Some(json!({ "stageName": "dev" })),
    );
    let host = format!("{api}.execute-api.localhost");
    let r = n.get(&host, "/dev/open");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({ "secret": "data" }));
    // A plain request, no credentials: no data, AWS's 403.
    let r = n.get(&host, "/dev/iam");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({ "message": "Missing Authentication Token" })
    );
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("MissingAuthenticationTokenException")
    );
    assert!(!r.text().contains("data"));

    // Switching a served method to AWS_IAM by UpdateMethod stops serving it unsigned once
    // deployed.
    n.admin_ok(
        "PATCH",
        &format!("/restapis/{api}/resources/{open}/methods/GET"),
        Some(json!({ "patchOperations": [
            { "op": "replace", "path": "/authorizationType", "value": "AWS_IAM" }
        ] })),
    );
    // (A byte-identical signed call within the same second would be taken for a retry of the
    // first deployment: this one says what it is.)
    n.admin_ok(
        "POST",
        &format!("/restapis/{api}/deployments"),
        Some(json!({ "stageName": "dev", "description": "open is AWS_IAM now" })),
    );
    assert_eq!(n.get(&host, "/dev/open").status, 403);
}

fn refused(n: &TestNode, method: &str, path: &str, body: Value, needle: &str) {
    let (status, answer) = n.admin(method, path, Some(body.clone()));
    assert_eq!(status, 400, "{method} {path} {body} -> {answer}");
    let msg = answer["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "{method} {path} {body} -> {msg}");
}

#[test]
fn unserved_integrations_unsafe_headers_and_oversized_text_are_refused() {
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let api = n.admin_ok("POST", "/restapis", Some(json!({ "name": "x" })))["id"]
        .as_str()
        .expect("id")
        .to_string();
    let root = root_id(&n, &api);
    let m = format!("/restapis/{api}/resources/{root}/methods/GET");
    n.admin_ok("PUT", &m, Some(json!({ "authorizationType": "NONE" })));
    let integ = format!("{m}/integration");

    // A literal header mapping with CR/LF (request smuggling towards the shared backend pool),
    // through the stock CLI.
    aws.fails(
        "BadRequestException",
        &[
            "put-integration",
            "--rest-api-id",
            &api,
            "--resource-id",
            &root,
            "--http-method",
            "GET",
            "--type",
            "HTTP_PROXY",
            "--integration-http-method",
            "GET",
            "--uri",
            "http://127.0.0.1:9/",
            "--request-parameters",
            r#"{"integration.request.header.X-A": "'a\r\n\r\nGET /smuggled HTTP/1.1'"}"#,
        ],
    );
    for (body, needle) in [
        (
            json!({ "type": "HTTP", "httpMethod": "GET", "uri": "http://127.0.0.1:9/",
                    "requestParameters": { "integration.request.header.X": "method.request.body" } }),
            "not supported",
        ),
        (
            json!({ "type": "AWS", "httpMethod": "POST", "uri": "arn:aws:apigateway:us-east-1:dynamodb:action/PutItem" }),
            "not supported",
        ),
        (
            json!({ "type": "AWS_PROXY", "httpMethod": "POST", "uri": "arn:aws:apigateway:us-east-1:lambda:path/x" }),
            "function",
        ),
        (
            json!({ "type": "HTTP_PROXY", "httpMethod": "GET", "uri": "https://127.0.0.1:9/",
                    "tlsConfig": { "serverNameToVerify": "b" } }),
            "tlsConfig",
        ),
        (
            json!({ "type": "MOCK", "tlsConfig": { "insecureSkipVerification": true } }),
            "tlsConfig",
        ),
        (
            json!({ "type": "HTTP_PROXY", "httpMethod": "GET", "uri": "http://127.0.0.1:9/", "connectionType": "VPC_LINK", "connectionId": "v" }),
            "VPC",
        ),
        (
            json!({ "type": "HTTP_PROXY", "httpMethod": "GET", "uri": "http://127.0.0.1:9/",
                    "requestParameters": { "integration.request.header.X\u{0}": "'a'" } }),
            "control characters",
        ),
        (
            json!({ "type": "HTTP_PROXY", "httpMethod": "GET", "uri": "http://127.0.0.1:9/",
                    "requestParameters": { "integration.request.header.X(A)": "'a'" } }),
            "header name",
        ),
    ] {
        refused(&n, "PUT", &integ, body, needle);
    }
    n.admin_ok("PUT", &integ, Some(json!({ "type": "MOCK" })));
    refused(
        &n,
        "PUT",
        &format!("{integ}/responses/200"),
        json!({ "responseParameters": { "method.response.header.X-A": "'a\r\nSet-Cookie: x=1'" } }),
        "header value",
    );
    // A MOCK has no backend answer to map a header from.
    refused(
        &n,
        "PUT",
        &format!("{integ}/responses/200"),
        json!({ "responseParameters": { "method.response.header.X-A": "integration.response.header.Server" } }),
        "HTTP integrations only",
    );
    refused(
        &n,
        "PATCH",
        &integ,
        json!({ "patchOperations": [
            { "op": "replace", "path": "/type", "value": "AWS" },
            { "op": "replace", "path": "/httpMethod", "value": "POST" },
            { "op": "replace", "path": "/uri", "value": "arn:aws:apigateway:us-east-1:sqs:path/1/q" },
        ] }),
        "not supported",
    );

    // AWS's limits on names and other text.
    refused(
        &n,
        "POST",
        "/restapis",
        json!({ "name": "a".repeat(100_000) }),
        "at most 1024",
    );
    refused(
        &n,
        "POST",
        "/restapis",
        json!({ "name": "a\u{0}b" }),
        "control",
    );
    refused(
        &n,
        "POST",
        "/restapis",
        json!({ "name": "t", "tags": { "aws:x": "y" } }),
        "aws:",
    );
    refused(
        &n,
        "POST",
        &format!("/restapis/{api}/resources/{root}"),
        json!({ "pathPart": "a".repeat(100_000) }),
        "at most 1024",
    );
    refused(
        &n,
        "POST",
        "/apikeys",
        json!({ "name": "k", "value": "short" }),
        "at least 20",
    );
    refused(
        &n,
        "POST",
        "/apikeys",
        json!({ "name": "k", "description": "d\u{0}" }),
        "control",
    );
    refused(
        &n,
        "POST",
        "/usageplans",
        json!({ "name": "p".repeat(2000) }),
        "at most 1024",
    );
    n.admin_ok(
        "PUT",
        &format!("{integ}/responses/200"),
        Some(json!({ "responseTemplates": { "application/json": "{}" } })),
    );
    refused(
        &n,
        "POST",
        &format!("/restapis/{api}/deployments"),
        json!({ "stageName": "dev", "variables": { "v".repeat(65): "x" } }),
        "at most 64",
    );
    let many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("v{i}"), json!("x"))).collect();
    refused(
        &n,
        "POST",
        &format!("/restapis/{api}/deployments"),
        json!({ "stageName": "dev", "variables": many }),
        "at most 100",
    );
}
