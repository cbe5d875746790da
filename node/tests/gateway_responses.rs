//! Gateway responses end to end: set with the stock `aws` CLI, applied to a stage by a
//! deployment, answered by the data plane for the refusals they name (status, headers, body
//! template), with unset types falling back to DEFAULT_4XX/DEFAULT_5XX and then AWS's defaults.

mod common;

use common::{Aws, TestNode};
use serde_json::{json, Value};

fn text(v: &Value) -> String {
    v.as_str().expect("a string").to_string()
}

#[test]
fn gateway_responses_are_set_with_the_cli_and_served_after_a_deployment() {
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let api = text(&aws.ok(&["create-rest-api", "--name", "gr"])["id"]);
    let root =
        n.admin_ok("GET", &format!("/restapis/{api}/resources"), None)["item"][0]["id"].clone();
    let root = text(&root);
    let m = format!("/restapis/{api}/resources/{root}/methods/GET");
    n.admin_ok(
        "PUT",
        &m,
        Some(json!({ "authorizationType": "NONE", "apiKeyRequired": true })),
    );
    n.admin_ok(
        "PUT",
        &format!("{m}/integration"),
        Some(json!({ "type": "MOCK", "requestTemplates": { "application/json": "{\"statusCode\": 200}" } })),
    );
    n.admin_ok(
        "PUT",
        &format!("{m}/integration/responses/200"),
        Some(json!({ "responseTemplates": { "application/json": "{}" } })),
    );
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "dev",
    ]);
    let host = format!("{api}.execute-api.localhost");

    // Defaults before anything is set: the type's AWS default, shown as such.
    let all = aws.ok(&["get-gateway-responses", "--rest-api-id", &api]);
    let items = all["items"].as_array().expect("items");
    assert_eq!(items.len(), 21, "{all}");
    assert!(items.iter().all(|i| i["defaultResponse"] == true), "{all}");
    let throttled = aws.ok(&[
        "get-gateway-response",
        "--rest-api-id",
        &api,
        "--response-type",
        "THROTTLED",
    ]);
    assert_eq!(throttled["statusCode"], "429");
    assert_eq!(
        throttled["responseTemplates"]["application/json"],
        "{\"message\":$context.error.messageString}"
    );
    let r = n.get(&host, "/dev/");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json(), json!({ "message": "Forbidden" }));

    // INVALID_API_KEY overridden: status, a CORS header and a template.
    let put = aws.ok(&[
        "put-gateway-response",
        "--rest-api-id",
        &api,
        "--response-type",
        "INVALID_API_KEY",
        "--status-code",
        "401",
        "--response-parameters",
        r#"{"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"}"#,
        "--response-templates",
        r#"{"application/json": "{\"error\": $context.error.messageString, \"type\": \"$context.error.responseType\"}"}"#,
    ]);
    assert_eq!(put["defaultResponse"], false, "{put}");
    assert_eq!(put["statusCode"], "401");
    // DEFAULT_4XX covers the unset MISSING_AUTHENTICATION_TOKEN.
    aws.ok(&[
        "put-gateway-response",
        "--rest-api-id",
        &api,
        "--response-type",
        "DEFAULT_4XX",
        "--response-parameters",
        r#"{"gatewayresponse.header.X-Custom": "'four'"}"#,
    ]);
    // Not yet deployed: the stage still answers with the defaults.
    let r = n.get(&host, "/dev/");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);

    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "dev",
    ]);
    let r = n.get(&host, "/dev/");
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(
        r.json(),
        json!({ "error": "Forbidden", "type": "INVALID_API_KEY" })
    );
    let r = n.get(&host, "/dev/nowhere");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.header("X-Custom"), Some("four"));
    assert_eq!(
        r.json(),
        json!({ "message": "Missing Authentication Token" })
    );

    // UpdateGatewayResponse patches; DeleteGatewayResponse restores the default.
    let upd = aws.ok(&[
        "update-gateway-response",
        "--rest-api-id",
        &api,
        "--response-type",
        "INVALID_API_KEY",
        "--patch-operations",
        "op=replace,path=/statusCode,value=402",
    ]);
    assert_eq!(upd["statusCode"], "402");
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "dev",
    ]);
    assert_eq!(n.get(&host, "/dev/").status, 402);
    aws.ok(&[
        "delete-gateway-response",
        "--rest-api-id",
        &api,
        "--response-type",
        "INVALID_API_KEY",
    ]);
    let back = aws.ok(&[
        "get-gateway-response",
        "--rest-api-id",
        &api,
        "--response-type",
        "INVALID_API_KEY",
    ]);
    assert_eq!(back["defaultResponse"], true, "{back}");
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "dev",
    ]);
    let r = n.get(&host, "/dev/");
    assert_eq!(r.status, 403, "{}", r.text());
    // DEFAULT_4XX still applies to it now.
    assert_eq!(r.header("X-Custom"), Some("four"));
}

#[test]
fn what_the_gateway_cannot_serve_is_refused() {
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let api = text(&aws.ok(&["create-rest-api", "--name", "gr"])["id"]);
    let path = |t: &str| format!("/restapis/{api}/gatewayresponses/{t}");
    for (t, body, needle) in [
        ("THROTTLED", json!({ "statusCode": "999" }), "status code"),
        ("NOT_A_TYPE", json!({}), "Invalid gateway response type"),
        (
            "THROTTLED",
            json!({ "responseParameters": { "gatewayresponse.header.X": "method.request.header.y" } }),
            "literal",
        ),
        (
            "THROTTLED",
            json!({ "responseParameters": { "gatewayresponse.header.X": "'a\r\nb'" } }),
            "header value",
        ),
        (
            "THROTTLED",
            json!({ "responseTemplates": { "application/json": "#set($x = 1)$x" } }),
            "gateway response",
        ),
    ] {
        let (status, answer) = n.admin("PUT", &path(t), Some(body.clone()));
        assert_eq!(status, 400, "{t} {body} -> {answer}");
        let msg = answer["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{t} {body} -> {msg}");
    }
    let (status, _) = n.admin("GET", "/restapis/nope/gatewayresponses/THROTTLED", None);
    assert_eq!(status, 404);
}
