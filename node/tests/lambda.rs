//! Lambda proxy integrations (AWS_PROXY) end to end: the stock `aws` CLI configures an API
//! whose methods invoke Python functions the node runs itself (the official runtime interface
//! client, `awslambdaric`, talking to the node's Runtime API); requests through the data plane
//! check the event field by field, every response rule, process reuse, a crash, the function's
//! and the integration's timeouts, an init failure and a function with no target.

mod common;

use common::{parse_response, raw_exchange, Aws, Response, TestNode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function";

fn uri(function: &str) -> String {
    format!("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{ARN}:{function}/invocations")
}

/// Fails with a clear message when the runtime interface client is missing.
fn require_awslambdaric() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import awslambdaric"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "Python's awslambdaric is not installed; install it with `python3 -m pip install awslambdaric`"
    );
}

fn data_dir() -> String {
    format!("{}/tests/data/lambda", env!("CARGO_MANIFEST_DIR"))
}

/// A node configured with the test functions.
fn node() -> TestNode {
    require_awslambdaric();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tollgate.toml");
    let code = data_dir();
    std::fs::write(
        &config,
        format!(
            r#"
region = "us-east-1"
[[functions]]
name = "app"
handler = "app.route"
code = "{code}"
timeout_secs = 2
concurrency = 2
environment = {{ GREETING = "hello" }}

[[functions]]
name = "slowstart"
handler = "slow_init.handler"
code = "{code}"

[[functions]]
name = "broken"
handler = "missing_module.handler"
code = "{code}"
"#
        ),
    )
    .unwrap();
    let data = dir.path().join("data").to_string_lossy().into_owned();
    let config = config.to_string_lossy().into_owned();
    TestNode::spawn(
        dir,
        &[
            "--config",
            &config,
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--raft-listen",
            "127.0.0.1:0",
            "--data-dir",
            &data,
        ],
        &[("TOLLGATE_LOG", "warn,openraft=error")],
    )
}

struct Api {
    id: String,
}

fn put_lambda(aws: &Aws, api: &str, resource: &str, verb: &str, function: &str, extra: &[&str]) {
    aws.ok(&[
        "put-method",
        "--rest-api-id",
        api,
        "--resource-id",
        resource,
        "--http-method",
        verb,
        "--authorization-type",
        "NONE",
    ]);
    let uri = uri(function);
    let mut args = vec![
        "put-integration",
        "--rest-api-id",
        api,
        "--resource-id",
        resource,
        "--http-method",
        verb,
        "--type",
        "AWS_PROXY",
        "--integration-http-method",
        "POST",
        "--uri",
        &uri,
    ];
    args.extend_from_slice(extra);
    aws.ok(&args);
}

/// The API: `ANY /{proxy+}` → app, `GET /pets/{petId}` → app, `GET /slowint` → app with a
/// 500 ms integration timeout, `GET /broken` → broken, `GET /ghost` → a function this node
/// does not define, `GET /coldstart` → slowstart (a 1 s cold start) with a 500 ms integration
/// timeout. Stage `dev` with a stage variable; `image/png` is a binary media type.
fn setup(n: &TestNode) -> Api {
    let aws = Aws::for_node(n);
    let api = aws.ok(&[
        "create-rest-api",
        "--name",
        "lambda",
        "--binary-media-types",
        "image/png",
    ]);
    let id = api["id"].as_str().unwrap().to_string();
    let root = aws.ok(&["get-resources", "--rest-api-id", &id])["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let child = |parent: &str, part: &str| {
        aws.ok(&[
            "create-resource",
            "--rest-api-id",
            &id,
            "--parent-id",
            parent,
            "--path-part",
            part,
        ])["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let proxy = child(&root, "{proxy+}");
    put_lambda(&aws, &id, &proxy, "ANY", "app", &[]);
    let pets = child(&root, "pets");
    let pet = child(&pets, "{petId}");
    put_lambda(&aws, &id, &pet, "GET", "app", &[]);
    let slow = child(&root, "slowint");
    put_lambda(
        &aws,
        &id,
        &slow,
        "GET",
        "app",
        &["--timeout-in-millis", "500"],
    );
    let broken = child(&root, "broken");
    put_lambda(&aws, &id, &broken, "GET", "broken", &[]);
    let cold = child(&root, "coldstart");
    put_lambda(
        &aws,
        &id,
        &cold,
        "GET",
        "slowstart",
        &["--timeout-in-millis", "500"],
    );
    let ghost = child(&root, "ghost");
    put_lambda(&aws, &id, &ghost, "GET", "ghost", &[]);
    // The admin API refuses what AWS_PROXY cannot be.
    aws.fails(
        "BadRequestException",
        &[
            "put-integration",
            "--rest-api-id",
            &id,
            "--resource-id",
            &ghost,
            "--http-method",
            "GET",
            "--type",
            "AWS_PROXY",
            "--integration-http-method",
            "GET",
            "--uri",
            &uri("ghost"),
        ],
    );
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &id,
        "--stage-name",
        "dev",
        "--variables",
        "color=blue",
    ]);
    Api { id }
}

/// Sends a request with the API's host; `head` holds extra header lines.
fn send(n: &TestNode, api: &Api, method: &str, target: &str, head: &str, body: &[u8]) -> Response {
    let mut req = format!(
        "{method} /dev{target} HTTP/1.1\r\nHost: {}.execute-api.localhost\r\nConnection: close\r\n{head}Content-Length: {}\r\n\r\n",
        api.id,
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    parse_response(&raw_exchange(n.data, &req)).expect("a response")
}

/// Answers with the Lambda response `v` (the function returns what it is sent).
fn respond(n: &TestNode, api: &Api, v: &Value) -> Response {
    send(n, api, "POST", "/respond", "", v.to_string().as_bytes())
}

fn internal_error(r: &Response, status: u16) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r.header("x-amzn-RequestId").is_some());
}

#[test]
fn lambda_proxy_end_to_end() {
    let n = node();
    let api = setup(&n);

    // The event, field by field. (The first call is a cold start; the answer comes, and the
    // connection closes, well before the 5 s the client waits: the function process holds
    // none of the node's descriptors, a client's connection included.)
    let t = Instant::now();
    let r = send(
        &n,
        &api,
        "POST",
        "/echo/a?x=1&x=2&y=z%20w",
        "X-Multi: one\r\nX-Multi: two\r\nUser-Agent: lambda-test\r\nContent-Type: text/plain\r\n",
        b"hello",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let got = r.json();
    let e = &got["event"];
    assert_eq!(e["resource"], "/{proxy+}");
    assert_eq!(e["path"], "/echo/a");
    assert_eq!(e["httpMethod"], "POST");
    assert_eq!(e["headers"]["X-Multi"], "two");
    assert_eq!(e["multiValueHeaders"]["X-Multi"], json!(["one", "two"]));
    assert_eq!(e["headers"]["User-Agent"], "lambda-test");
    assert_eq!(e["queryStringParameters"], json!({"x": "2", "y": "z w"}));
    assert_eq!(
        e["multiValueQueryStringParameters"],
        json!({"x": ["1", "2"], "y": ["z w"]})
    );
    assert_eq!(e["pathParameters"], json!({"proxy": "echo/a"}));
    assert_eq!(e["stageVariables"], json!({"color": "blue"}));
    assert_eq!(e["body"], "hello");
    assert_eq!(e["isBase64Encoded"], false);
    let c = &e["requestContext"];
    assert_eq!(c["accountId"], "123456789012");
    assert_eq!(c["apiId"], api.id.as_str());
    assert!(c["deploymentId"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(
        c["domainName"],
        format!("{}.execute-api.localhost", api.id).as_str()
    );
    assert_eq!(c["domainPrefix"], api.id.as_str());
    assert!(c["extendedRequestId"].as_str().is_some());
    assert_eq!(c["httpMethod"], "POST");
    assert_eq!(c["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(c["identity"]["userAgent"], "lambda-test");
    assert_eq!(c["path"], "/dev/echo/a");
    assert_eq!(c["protocol"], "HTTP/1.1");
    assert_eq!(c["requestId"], r.header("x-amzn-RequestId").unwrap());
    assert!(c["requestTime"]
        .as_str()
        .is_some_and(|t| t.ends_with(" +0000")));
    assert!(c["requestTimeEpoch"]
        .as_u64()
        .is_some_and(|t| t > 1_600_000_000_000));
    assert!(c["resourceId"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(c["resourcePath"], "/{proxy+}");
    assert_eq!(c["stage"], "dev");
    // The context the function sees, as Lambda gives it.
    let ctx = &got["context"];
    assert_eq!(ctx["function_name"], "app");
    assert_eq!(ctx["function_version"], "$LATEST");
    assert_eq!(ctx["invoked_function_arn"], format!("{ARN}:app").as_str());
    assert_eq!(ctx["memory_limit_in_mb"], "128");
    assert_eq!(ctx["log_group_name"], "/aws/lambda/app");
    let left = ctx["remaining_ms"].as_i64().unwrap();
    assert!(
        (1..=2000).contains(&left),
        "remaining {left} ms of the 2 s timeout"
    );
    assert!(ctx["aws_request_id"]
        .as_str()
        .is_some_and(|s| s.len() == 36));
    assert_eq!(ctx["env_greeting"], "hello");
    assert_eq!(
        ctx["env_secret_leak"],
        Value::Null,
        "the node's environment leaked"
    );
    assert!(ctx["runtime_api"]
        .as_str()
        .is_some_and(|a| a.starts_with("127.0.0.1:")));

    // A resource with a path parameter; no query, no body.
    let e = send(&n, &api, "GET", "/pets/42", "", b"").json()["event"].clone();
    assert_eq!(e["resource"], "/pets/{petId}");
    assert_eq!(e["pathParameters"], json!({"petId": "42"}));
    assert_eq!(e["queryStringParameters"], Value::Null);
    assert_eq!(e["multiValueQueryStringParameters"], Value::Null);
    assert_eq!(e["body"], Value::Null);

    // A binary media type's body arrives base64-encoded.
    let e = send(
        &n,
        &api,
        "POST",
        "/echo",
        "Content-Type: image/png\r\n",
        b"\x89PNG\x00",
    )
    .json()["event"]
        .clone();
    assert_eq!(e["body"], "iVBORwA=");
    assert_eq!(e["isBase64Encoded"], true);

    // The response rules.
    let r = respond(
        &n,
        &api,
        &json!({"statusCode": 201, "headers": {"X-A": "1"}, "body": "made"}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-a"), Some("1"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), "made");
    assert_eq!(respond(&n, &api, &json!({"statusCode": "202"})).status, 202);
    let r = respond(&n, &api, &json!({"body": "no status"}));
    assert_eq!((r.status, r.text().as_str()), (200, "no status"));
    let r = respond(
        &n,
        &api,
        &json!({"headers": {"X-J": "h"}, "multiValueHeaders": {"X-J": ["m1", "m2"]}}),
    );
    let joined: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-j"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(joined, ["m1", "m2", "h"]);
    let r = respond(
        &n,
        &api,
        &json!({"headers": {"Content-Type": "image/png"}, "body": "iVBORwA=", "isBase64Encoded": true}),
    );
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.body, b"\x89PNG\x00");
    let r = respond(
        &n,
        &api,
        &json!({"headers": {"Content-Type": "text/plain"}, "body": "aGk=", "isBase64Encoded": true}),
    );
    assert_eq!(
        r.text(),
        "aGk=",
        "not a binary type: the body is passed as is"
    );
    for malformed in [
        json!({"statusCode": 200, "unknown": 1}),
        json!({"statusCode": "abc"}),
        json!({"statusCode": 200.5}),
        json!("a bare string"),
        json!({"multiValueHeaders": {"X-A": "not a list"}}),
        json!({"headers": {"X-A": "a\r\nInjected: 1"}}),
    ] {
        let r = respond(&n, &api, &malformed);
        internal_error(&r, 502);
        assert_eq!(
            r.json(),
            json!({"message": "Internal server error"}),
            "{malformed}"
        );
    }

    // Warm processes are reused.
    let pid = |n: &TestNode| send(n, &api, "GET", "/pid", "", b"").text();
    let first = pid(&n);
    assert_eq!(pid(&n), first);

    // A crash answers 502 and the function is served again by a new process.
    internal_error(&send(&n, &api, "GET", "/crash", "", b""), 502);
    assert_eq!(send(&n, &api, "GET", "/echo", "", b"").status, 200);

    // A function error answers 502.
    internal_error(&send(&n, &api, "GET", "/fail", "", b""), 502);

    // The function's own timeout (2 s): 502, the process is killed and replaced.
    let t = Instant::now();
    internal_error(&send(&n, &api, "GET", "/sleep?s=4", "", b""), 502);
    assert!(
        t.elapsed() < Duration::from_millis(3500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(send(&n, &api, "GET", "/echo", "", b"").status, 200);

    // The integration's timeout (500 ms): 504.
    let t = Instant::now();
    let r = send(&n, &api, "GET", "/slowint?s=1.5", "", b"");
    internal_error(&r, 504);
    assert_eq!(r.json(), json!({"message": "Endpoint request timed out"}));
    assert!(
        t.elapsed() < Duration::from_millis(1400),
        "{:?}",
        t.elapsed()
    );
    let r = send(&n, &api, "GET", "/slowint", "", b"");
    assert_eq!(r.status, 200, "{}", r.text());

    // The concurrency limit (2 processes): three overlapping invocations all succeed, served by
    // at most two processes, the third once one of them is free.
    let t = Instant::now();
    let pids: Vec<String> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..3)
            .map(|_| s.spawn(|| send(&n, &api, "GET", "/pid?s=0.6", "", b"")))
            .collect();
        calls
            .into_iter()
            .map(|c| {
                let r = c.join().unwrap();
                assert_eq!(r.status, 200, "{}", r.text());
                r.text()
            })
            .collect()
    });
    let mut distinct = pids.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() <= 2, "{pids:?}");
    assert!(
        t.elapsed() >= Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );

    // A slow cold start: the first call outlives its 500 ms integration timeout (504); the
    // process finishes starting and serves the calls after it.
    internal_error(&send(&n, &api, "GET", "/coldstart", "", b""), 504);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = send(&n, &api, "GET", "/coldstart", "", b"");
        if r.status == 200 {
            assert_eq!(r.text(), "warm");
            break;
        }
        internal_error(&r, 504);
        assert!(
            Instant::now() < deadline,
            "the slow function never became warm"
        );
    }

    // A function that cannot initialise, and one with no target on this node.
    internal_error(&send(&n, &api, "GET", "/broken", "", b""), 502);
    internal_error(&send(&n, &api, "GET", "/ghost", "", b""), 500);

    // Every 5xx the gateway made is logged with the request id and why.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = n.log();
        let all = [
            "malformed Lambda proxy response",
            "Lambda function process exited during the invocation",
            "Lambda function returned an error",
            "Lambda function timed out",
            "integration timeout",
            "Lambda function process failed to start or initialise",
            "Lambda function has no target on this node",
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
