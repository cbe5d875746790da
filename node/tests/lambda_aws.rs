//! AWS (non-proxy) Lambda integrations end to end: the stock `aws` CLI configures an API whose
//! methods invoke a Python function the node runs itself (`awslambdaric`), with a request
//! template rendering the payload, a response template mapping the result, a raised exception
//! selected by `selectionPattern` into a 400 with its message, an unmatched error taking the
//! default response as AWS answers it, a function timeout selected by Lambda's `Task timed out`
//! message, no default response (500), passthrough (and `{}` for a
//! bodiless call), 415 when passthrough is refused, and the integration timeout (504); every
//! 5xx is logged with the request id and why.

mod common;

use common::{parse_response, raw_exchange, Aws, Response, TestNode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const FUNCTION_URI: &str = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:mapped/invocations";

fn node() -> TestNode {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import awslambdaric"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "Python's awslambdaric is not installed; install it with `python3 -m pip install awslambdaric`"
    );
    let code = format!("{}/tests/data/lambda", env!("CARGO_MANIFEST_DIR"));
    TestNode::start_with_config(
        &format!(
            r#"
region = "us-east-1"
[[functions]]
name = "mapped"
handler = "mapped.handler"
code = "{code}"
timeout_secs = 5
concurrency = 2

[[functions]]
name = "short"
handler = "mapped.handler"
code = "{code}"
timeout_secs = 1
"#
        ),
        &[("TOLLGATE_LOG", "warn,openraft=error")],
    )
}

fn send(n: &TestNode, api: &str, method: &str, target: &str, head: &str, body: &[u8]) -> Response {
    let mut req = format!(
        "{method} /dev{target} HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\nConnection: close\r\n{head}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    parse_response(&raw_exchange(n.data, &req)).expect("a response")
}

fn json_of(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

#[test]
fn lambda_aws_integration_end_to_end() {
    let n = node();
    let aws = Aws::for_node(&n);
    let api = aws.ok(&["create-rest-api", "--name", "mapped"]);
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    let child = |part: &str| {
        aws.ok(&[
            "create-resource",
            "--rest-api-id",
            &id,
            "--parent-id",
            &root,
            "--path-part",
            part,
        ])["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let greet = child("greet");
    fn args<'a>(id: &'a str, resource: &'a str, verb: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "--rest-api-id",
            id,
            "--resource-id",
            resource,
            "--http-method",
            verb,
        ];
        args.extend_from_slice(extra);
        args
    }
    aws.ok(&[
        &["put-method"][..],
        &args(&id, &greet, "POST", &["--authorization-type", "NONE"]),
    ]
    .concat());
    // The request template renders the payload from the body, the query string and the stage.
    let request_template = json!({
        "application/json": "{\"action\": $input.json('$.action'), \"name\": \"$input.params('who')\", \"s\": $input.json('$.s'), \"stage\": \"$context.stage\"}"
    })
    .to_string();
    aws.ok(&[
        &["put-integration"][..],
        &args(
            &id,
            &greet,
            "POST",
            &[
                "--type",
                "AWS",
                "--integration-http-method",
                "POST",
                "--uri",
                FUNCTION_URI,
                "--passthrough-behavior",
                "WHEN_NO_TEMPLATES",
                "--timeout-in-millis",
                "1000",
                "--request-templates",
                &request_template,
            ],
        ),
    ]
    .concat());
    for code in ["200", "400"] {
        aws.ok(&[
            &["put-method-response"][..],
            &args(&id, &greet, "POST", &["--status-code", code]),
        ]
        .concat());
    }
    // The default response maps the result (and, for an unmatched error, the error
    // document); the 400 takes errors whose message starts with "Bad request: ".
    let ok_template = json!({
        "application/json": "{\"message\": $input.json('$.greeting'), \"stage\": $input.json('$.event.stage'), \"error\": $input.json('$.errorMessage')}"
    })
    .to_string();
    aws.ok(&[
        &["put-integration-response"][..],
        &args(
            &id,
            &greet,
            "POST",
            &["--status-code", "200", "--response-templates", &ok_template],
        ),
    ]
    .concat());
    let bad_template = json!({
        "application/json": "{\"error\": \"$input.path('$.errorMessage')\", \"type\": \"$input.path('$.errorType')\"}"
    })
    .to_string();
    aws.ok(&[
        &["put-integration-response"][..],
        &args(
            &id,
            &greet,
            "POST",
            &[
                "--status-code",
                "400",
                "--selection-pattern",
                "Bad request: .*",
                "--response-templates",
                &bad_template,
            ],
        ),
    ]
    .concat());

    // No template and passthrough: the body as it came, `{}` for none; the result passes
    // through as JSON.
    let raw = child("raw");
    for verb in ["GET", "POST"] {
        n.admin_sdk_ok(
            "PUT",
            &format!("/restapis/{id}/resources/{raw}/methods/{verb}"),
            Some(json!({"authorizationType": "NONE"})),
        );
        n.admin_sdk_ok(
            "PUT",
            &format!("/restapis/{id}/resources/{raw}/methods/{verb}/integration"),
            Some(json!({"type": "AWS", "httpMethod": "POST", "uri": FUNCTION_URI})),
        );
        n.admin_sdk_ok(
            "PUT",
            &format!("/restapis/{id}/resources/{raw}/methods/{verb}/responses/200"),
            Some(json!({})),
        );
        n.admin_sdk_ok(
            "PUT",
            &format!("/restapis/{id}/resources/{raw}/methods/{verb}/integration/responses/200"),
            Some(json!({})),
        );
    }
    // No default response: an unmatched error has nowhere to go.
    let strict = child("strict");
    n.admin_sdk_ok(
        "PUT",
        &format!("/restapis/{id}/resources/{strict}/methods/POST"),
        Some(json!({"authorizationType": "NONE"})),
    );
    n.admin_sdk_ok(
        "PUT",
        &format!("/restapis/{id}/resources/{strict}/methods/POST/integration"),
        Some(json!({"type": "AWS", "httpMethod": "POST", "uri": FUNCTION_URI})),
    );
    n.admin_sdk_ok(
        "PUT",
        &format!("/restapis/{id}/resources/{strict}/methods/POST/responses/400"),
        Some(json!({})),
    );
    n.admin_sdk_ok(
        "PUT",
        &format!("/restapis/{id}/resources/{strict}/methods/POST/integration/responses/400"),
        Some(json!({"selectionPattern": "Bad request: .*"})),
    );
    // A function that runs past its own timeout (1 s): Lambda's `Task timed out` error,
    // selected by its message.
    let short = child("short");
    let short_method = format!("/restapis/{id}/resources/{short}/methods/POST");
    n.admin_sdk_ok(
        "PUT",
        &short_method,
        Some(json!({"authorizationType": "NONE"})),
    );
    n.admin_sdk_ok(
        "PUT",
        &format!("{short_method}/integration"),
        Some(json!({"type": "AWS", "httpMethod": "POST", "uri": FUNCTION_URI.replace("function:mapped", "function:short")})),
    );
    for (code, pattern) in [("200", ""), ("408", "Task timed out.*")] {
        n.admin_sdk_ok(
            "PUT",
            &format!("{short_method}/responses/{code}"),
            Some(json!({})),
        );
        n.admin_sdk_ok(
            "PUT",
            &format!("{short_method}/integration/responses/{code}"),
            Some(json!({"selectionPattern": pattern})),
        );
    }
    // The admin API refuses AWS integrations of other services.
    let refused = aws.run(
        common::SECRET_KEY,
        &[
            &["put-integration"][..],
            &args(
                &id,
                &greet,
                "POST",
                &[
                    "--type",
                    "AWS",
                    "--integration-http-method",
                    "POST",
                    "--uri",
                    "arn:aws:apigateway:us-east-1:dynamodb:action/PutItem",
                ],
            ),
        ]
        .concat(),
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("BadRequestException") && stderr.contains("not supported"),
        "{refused:?}"
    );
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &id,
        "--stage-name",
        "dev",
    ]);

    let ct = "Content-Type: application/json\r\n";
    // Success: the template's payload reached the function, its result was mapped (a path
    // the document lacks renders `""`, as the mapping engine renders it everywhere).
    let r = send(
        &n,
        &id,
        "POST",
        "/greet?who=ada",
        ct,
        br#"{"action": "greet"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        json_of(&r),
        json!({"message": "hello ada", "stage": "dev", "error": ""})
    );
    // A raised exception whose message matches the pattern: 400 with its message.
    let r = send(
        &n,
        &id,
        "POST",
        "/greet?who=bob",
        ct,
        br#"{"action": "bad"}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        json_of(&r),
        json!({"error": "Bad request: bob", "type": "ValueError"})
    );
    // An error no pattern matches: the default response over the error document (AWS's
    // famous 200 with the error in it).
    let r = send(&n, &id, "POST", "/greet", ct, br#"{"action": "boom"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        json_of(&r),
        json!({"message": "", "stage": "", "error": "something else broke"})
    );
    // A template exists, none for text/plain, WHEN_NO_TEMPLATES: 415.
    let r = send(
        &n,
        &id,
        "POST",
        "/greet",
        "Content-Type: text/plain\r\n",
        b"x",
    );
    assert_eq!(r.status, 415, "{}", r.text());
    // The function runs past the integration timeout (1 s): 504.
    let r = send(
        &n,
        &id,
        "POST",
        "/greet",
        ct,
        br#"{"action": "sleep", "s": 2}"#,
    );
    assert_eq!(r.status, 504, "{}", r.text());
    assert_eq!(
        json_of(&r),
        json!({"message": "Endpoint request timed out"})
    );

    // Passthrough: the body is the payload; a bodiless GET sends `{}`.
    let r = send(
        &n,
        &id,
        "POST",
        "/raw",
        ct,
        br#"{"name": "cy", "n": [1, 2]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        json_of(&r),
        json!({"greeting": "hello cy", "event": {"name": "cy", "n": [1, 2]}})
    );
    let r = send(&n, &id, "GET", "/raw", "", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json_of(&r), json!({"greeting": "hello None", "event": {}}));

    // No default response: a matched error is served, an unmatched one and a success are 500.
    let r = send(
        &n,
        &id,
        "POST",
        "/strict",
        ct,
        br#"{"action": "bad", "name": "x"}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let v = json_of(&r);
    assert_eq!(v["errorMessage"], "Bad request: x", "{v}");
    let r = send(&n, &id, "POST", "/strict", ct, br#"{"action": "boom"}"#);
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(json_of(&r), json!({"message": "Internal server error"}));

    // The function's own timeout: its error document, selected into the 408.
    let r = send(
        &n,
        &id,
        "POST",
        "/short",
        ct,
        br#"{"action": "sleep", "s": 3}"#,
    );
    assert_eq!(r.status, 408, "{}", r.text());
    assert_eq!(json_of(&r)["errorType"], "Sandbox.Timedout");

    // Every 5xx the gateway made is logged with the request id and why.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = n.log();
        let all = [
            "integration timeout",
            "no integration response matches the Lambda function's error",
        ]
        .iter()
        .all(|why| {
            log.lines()
                .any(|l| l.contains(why) && l.contains("request_id"))
        });
        if all {
            break;
        }
        assert!(Instant::now() < deadline, "missing 5xx log lines:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
