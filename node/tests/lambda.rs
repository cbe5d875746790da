//! Lambda proxy integrations (AWS_PROXY) end to end: the stock `aws` CLI configures an API
//! whose methods invoke Python functions the node runs itself (the official runtime interface
//! client, `awslambdaric`, talking to the node's Runtime API); requests through the data plane
//! check the event field by field, every response rule, process reuse, a crash, the function's
//! and the integration's timeouts, an init failure and a function with no target.

mod common;

use common::{cluster, parse_response, raw_exchange, Aws, Response, TestNode};
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

/// PutMethod and PutIntegration of an AWS_PROXY method through the admin API.
fn put_lambda(
    n: &TestNode,
    api: &str,
    resource: &str,
    verb: &str,
    function: &str,
    timeout_ms: u32,
) {
    let method = format!("/restapis/{api}/resources/{resource}/methods/{verb}");
    n.admin_sdk_ok("PUT", &method, Some(json!({"authorizationType": "NONE"})));
    n.admin_sdk_ok(
        "PUT",
        &format!("{method}/integration"),
        Some(json!({
            "type": "AWS_PROXY",
            "httpMethod": "POST",
            "uri": uri(function),
            "timeoutInMillis": timeout_ms,
        })),
    );
}

/// The API. With the stock `aws` CLI: the API (`image/png` a binary media type),
/// `ANY /{proxy+}` → app, a refused GET integration, and the deployment (stage `dev`, a stage
/// variable). Through the admin API directly (faster than a CLI run each): `GET /pets/{petId}`
/// → app, `GET /slowint` → app with a 500 ms integration timeout, `GET /coldstart` →
/// slowstart (a 1 s cold start) with a 500 ms integration timeout, `GET /broken` → broken,
/// `GET /ghost` → a function this node does not define.
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
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    let child = |parent: &str, part: &str| {
        n.admin_sdk_ok(
            "POST",
            &format!("/restapis/{id}/resources/{parent}"),
            Some(json!({"pathPart": part})),
        )["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let proxy = child(&root, "{proxy+}");
    aws.ok(&[
        "put-method",
        "--rest-api-id",
        &id,
        "--resource-id",
        &proxy,
        "--http-method",
        "ANY",
        "--authorization-type",
        "NONE",
    ]);
    let put_integration = |verb: &str| {
        aws.run(
            common::SECRET_KEY,
            &[
                "put-integration",
                "--rest-api-id",
                &id,
                "--resource-id",
                &proxy,
                "--http-method",
                "ANY",
                "--type",
                "AWS_PROXY",
                "--integration-http-method",
                verb,
                "--uri",
                &uri("app"),
            ],
        )
    };
    // The admin API refuses what AWS_PROXY cannot be.
    let refused = put_integration("GET");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("BadRequestException"),
        "{refused:?}"
    );
    let put = put_integration("POST");
    assert!(put.status.success(), "{put:?}");
    let pets = child(&root, "pets");
    let pet = child(&pets, "{petId}");
    put_lambda(n, &id, &pet, "GET", "app", 29000);
    let slow = child(&root, "slowint");
    put_lambda(n, &id, &slow, "GET", "app", 500);
    let cold = child(&root, "coldstart");
    put_lambda(n, &id, &cold, "GET", "slowstart", 500);
    let broken = child(&root, "broken");
    put_lambda(n, &id, &broken, "GET", "broken", 29000);
    let ghost = child(&root, "ghost");
    put_lambda(n, &id, &ghost, "GET", "ghost", 29000);
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

/// Sends a request to stage `dev` with the API's host; `head` holds extra header lines.
fn send(n: &TestNode, api: &Api, method: &str, target: &str, head: &str, body: &[u8]) -> Response {
    send_stage(n, api, "dev", method, target, head, body)
}

/// Sends a request to `stage` with the API's host.
fn send_stage(
    n: &TestNode,
    api: &Api,
    stage: &str,
    method: &str,
    target: &str,
    head: &str,
    body: &[u8],
) -> Response {
    let mut req = format!(
        "{method} /{stage}{target} HTTP/1.1\r\nHost: {}.execute-api.localhost\r\nConnection: close\r\n{head}Content-Length: {}\r\n\r\n",
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
    // The function's Date, Server, WWW-Authenticate, Connection, Content-Length come back
    // renamed x-amzn-Remapped-*, as AWS remaps them; the gateway's own are the real ones.
    let r = respond(
        &n,
        &api,
        &json!({"statusCode": 401, "headers": {
            "Date": "Mon, 01 Jan 2024 00:00:00 GMT", "Server": "fn", "Connection": "close",
            "WWW-Authenticate": "Basic realm=\"x\"", "Content-Length": "999"
        }, "body": "who?"}),
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("x-amzn-Remapped-Date"),
        Some("Mon, 01 Jan 2024 00:00:00 GMT")
    );
    assert_eq!(r.header("x-amzn-Remapped-Server"), Some("fn"));
    assert_eq!(r.header("x-amzn-Remapped-Connection"), Some("close"));
    assert_eq!(
        r.header("x-amzn-Remapped-WWW-Authenticate"),
        Some("Basic realm=\"x\"")
    );
    assert_eq!(r.header("x-amzn-Remapped-Content-Length"), Some("999"));
    assert!(r.header("www-authenticate").is_none() && r.header("server").is_none());
    assert_ne!(r.header("date"), Some("Mon, 01 Jan 2024 00:00:00 GMT"));
    assert!(r.header("date").is_some());
    assert_eq!(r.header("content-length"), Some("4"));
    assert_eq!(r.text(), "who?");
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

    // The memory setting (128 MiB) bounds what the function may allocate.
    assert_eq!(send(&n, &api, "GET", "/alloc?mb=16", "", b"").status, 200);
    internal_error(&send(&n, &api, "GET", "/alloc?mb=256", "", b""), 502);
    assert_eq!(send(&n, &api, "GET", "/alloc?mb=16", "", b"").status, 200);

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
    // The killed process is replaced (its cold start may itself outlive 500 ms on a busy
    // machine, so a few tries).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = send(&n, &api, "GET", "/slowint", "", b"");
        if r.status == 200 {
            break;
        }
        internal_error(&r, 504);
        assert!(Instant::now() < deadline, "never served again");
    }

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

    // The Lambda Invoke API on the admin port: `aws lambda invoke` against the node.
    let out_dir = tempfile::tempdir().unwrap();
    let out_file = out_dir.path().join("out.json");
    let invoke = |function: &str, payload: &str| {
        let home = out_dir.path().to_string_lossy().into_owned();
        std::process::Command::new("aws")
            .args([
                "lambda",
                "invoke",
                "--function-name",
                function,
                "--payload",
                payload,
            ])
            .arg(&out_file)
            .args(["--endpoint-url", &format!("http://{}", n.admin)])
            .args(["--region", "us-east-1", "--output", "json"])
            .env("AWS_ACCESS_KEY_ID", common::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", common::SECRET_KEY)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("HOME", home)
            .output()
            .expect("the aws CLI")
    };
    let out = invoke("app", r#"{"path": "/sleep"}"#);
    assert!(out.status.success(), "{out:?}");
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(meta["StatusCode"], 200);
    assert_eq!(meta.get("FunctionError"), None);
    let answer: Value = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    assert_eq!(answer, json!({"statusCode": 200, "body": "slept"}));
    let out = invoke(&format!("{ARN}:app"), r#"{"path": "/fail"}"#);
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(meta["FunctionError"], "Unhandled", "{out:?}");
    let out = invoke("ghost", "{}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ResourceNotFoundException"),
        "{out:?}"
    );

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

/// Three nodes, each defining the `petstore` function (its `NODE` variable names the node).
fn petstore_cluster(root: &std::path::Path) -> Vec<TestNode> {
    let code = data_dir();
    cluster::configure(root, |id| cluster::Extra {
        top: format!("[[functions]]\nname = \"petstore\"\nhandler = \"petstore.handler\"\ncode = \"{code}\"\nenvironment = {{ NODE = \"{id}\" }}\n"),
        ..Default::default()
    })
    .into_iter()
    .map(|n| n.spawn(&[]))
    .collect()
}

/// A PetStore API whose methods are AWS_PROXY methods of one function, configured through one
/// node and served through the data plane of each of the three, each node running the
/// function itself.
#[test]
fn petstore_on_every_node_of_a_cluster() {
    require_awslambdaric();
    let root = tempfile::tempdir().unwrap();
    let nodes = petstore_cluster(root.path());
    let via = &nodes[1];
    // Writes are forwarded to the leader once there is one.
    let deadline = Instant::now() + Duration::from_secs(30);
    let api = loop {
        let (status, v) = via.admin_sdk("POST", "/restapis", Some(json!({"name": "PetStore"})));
        if status == 201 {
            break v;
        }
        assert!(Instant::now() < deadline, "no leader: {status} {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let id = api["id"].as_str().unwrap().to_string();
    let root_id = api["rootResourceId"].as_str().unwrap().to_string();
    let child = |parent: &str, part: &str| {
        via.admin_sdk_ok(
            "POST",
            &format!("/restapis/{id}/resources/{parent}"),
            Some(json!({"pathPart": part})),
        )["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let pets = child(&root_id, "pets");
    let pet = child(&pets, "{petId}");
    put_lambda(via, &id, &pets, "GET", "petstore", 29000);
    put_lambda(via, &id, &pets, "POST", "petstore", 29000);
    put_lambda(via, &id, &pet, "GET", "petstore", 29000);
    via.admin_sdk_ok(
        "POST",
        &format!("/restapis/{id}/deployments"),
        Some(json!({"stageName": "prod"})),
    );
    let api = Api { id };
    for (i, n) in nodes.iter().enumerate() {
        let node = (i + 1).to_string();
        // The deployment reaches every node shortly after it is acknowledged.
        let deadline = Instant::now() + Duration::from_secs(10);
        let r = loop {
            let r = send_stage(n, &api, "prod", "GET", "/pets", "", b"");
            if r.status == 200 || Instant::now() > deadline {
                break r;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(r.status, 200, "node {node}: {}", r.text());
        assert_eq!(
            r.header("x-node"),
            Some(node.as_str()),
            "run by the node itself"
        );
        assert_eq!(r.json().as_array().map(Vec::len), Some(3));
        let r = send_stage(n, &api, "prod", "GET", "/pets/2", "", b"");
        assert_eq!(r.json()["type"], "cat");
        assert_eq!(
            send_stage(n, &api, "prod", "GET", "/pets/9", "", b"").status,
            404
        );
        let r = send_stage(
            n,
            &api,
            "prod",
            "POST",
            "/pets",
            "Content-Type: application/json\r\n",
            br#"{"type": "bird", "price": 9.5}"#,
        );
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.json()["pet"]["type"], "bird");
        assert_eq!(r.header("x-node"), Some(node.as_str()));
    }
}

/// A stand-in for a Lambda Invoke API endpoint and a plain function URL: records each
/// request's head and answers as the path says.
fn fake_lambda_service() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            seen2.lock().unwrap().push(head.clone());
            let path = event["path"].as_str().unwrap_or("").to_string();
            let (extra, answer) = if path.contains("fail") {
                (
                    "X-Amz-Function-Error: Unhandled\r\n",
                    json!({"errorMessage": "boom", "errorType": "Error"}),
                )
            } else {
                (
                    "",
                    json!({"statusCode": 203, "body": format!("remote {path}")}),
                )
            };
            let answer = answer.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (addr, seen)
}

/// Functions run elsewhere: one at a Lambda Invoke API endpoint (signed for `lambda`), one at
/// a plain URL; a function error reported with `X-Amz-Function-Error` answers 502 (an AWS
/// non-proxy method selects its integration response by the error's message), an
/// unreachable target 502.
#[test]
fn functions_at_an_invoke_endpoint_or_a_url() {
    let (addr, seen) = fake_lambda_service();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            r#"
region = "us-east-1"
[[functions]]
name = "remote"
invoke_endpoint = "http://{addr}"
invoke_function = "remote-fn"
access_key_id = "AKIDLAMBDA"
secret_access_key = "lambda-secret"

[[functions]]
name = "plain"
url = "http://{addr}/plain/run"

[[functions]]
name = "gone"
url = "http://{}/"
"#,
            common::dead_addr()
        ),
    )
    .unwrap();
    let data = dir.path().join("data").to_string_lossy().into_owned();
    let config = config.to_string_lossy().into_owned();
    let n = TestNode::spawn(
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
        &[],
    );
    let api = n.admin_sdk_ok("POST", "/restapis", Some(json!({"name": "remote"})));
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    for (part, function) in [("remote", "remote"), ("plain", "plain"), ("gone", "gone")] {
        let r = n.admin_sdk_ok(
            "POST",
            &format!("/restapis/{id}/resources/{root}"),
            Some(json!({"pathPart": part})),
        );
        let rid = r["id"].as_str().unwrap().to_string();
        let proxy = n.admin_sdk_ok(
            "POST",
            &format!("/restapis/{id}/resources/{rid}"),
            Some(json!({"pathPart": "{proxy+}"})),
        );
        put_lambda(
            &n,
            &id,
            proxy["id"].as_str().unwrap(),
            "ANY",
            function,
            29000,
        );
    }
    // An AWS (non-proxy) method on the remote function: its `X-Amz-Function-Error` answer is
    // the error document the integration responses are selected by and render over.
    let mapped = n.admin_sdk_ok(
        "POST",
        &format!("/restapis/{id}/resources/{root}"),
        Some(json!({"pathPart": "mapped"})),
    );
    let method = format!(
        "/restapis/{id}/resources/{}/methods/POST",
        mapped["id"].as_str().unwrap()
    );
    n.admin_sdk_ok("PUT", &method, Some(json!({"authorizationType": "NONE"})));
    n.admin_sdk_ok(
        "PUT",
        &format!("{method}/integration"),
        Some(json!({"type": "AWS", "httpMethod": "POST", "uri": uri("remote")})),
    );
    for (code, pattern, template) in [
        ("200", "", "{\"remote\": $input.json('$.body')}"),
        (
            "400",
            "bo+m",
            "{\"why\": \"$input.path('$.errorMessage')\"}",
        ),
    ] {
        n.admin_sdk_ok(
            "PUT",
            &format!("{method}/responses/{code}"),
            Some(json!({})),
        );
        n.admin_sdk_ok(
            "PUT",
            &format!("{method}/integration/responses/{code}"),
            Some(json!({
                "selectionPattern": pattern,
                "responseTemplates": {"application/json": template},
            })),
        );
    }
    n.admin_sdk_ok(
        "POST",
        &format!("/restapis/{id}/deployments"),
        Some(json!({"stageName": "dev"})),
    );
    let api = Api { id };
    let r = send(&n, &api, "GET", "/remote/pets", "", b"");
    assert_eq!((r.status, r.text().as_str()), (203, "remote /remote/pets"));
    let r = send(&n, &api, "GET", "/plain/x", "", b"");
    assert_eq!((r.status, r.text().as_str()), (203, "remote /plain/x"));
    internal_error(&send(&n, &api, "GET", "/remote/fail", "", b""), 502);
    internal_error(&send(&n, &api, "GET", "/gone/x", "", b""), 502);
    let seen = seen.lock().unwrap().clone();
    let invoke = &seen[0];
    assert!(
        invoke.starts_with("POST /2015-03-31/functions/remote-fn/invocations HTTP/1.1\r\n"),
        "{invoke}"
    );
    let header = |head: &str, name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    assert_eq!(
        header(invoke, "x-amz-invocation-type").as_deref(),
        Some("RequestResponse")
    );
    let auth = header(invoke, "authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDLAMBDA/"),
        "{auth}"
    );
    assert!(auth.contains("/us-east-1/lambda/aws4_request"), "{auth}");
    let plain = &seen[1];
    assert!(plain.starts_with("POST /plain/run HTTP/1.1\r\n"), "{plain}");
    assert!(header(plain, "authorization").is_none());

    let ct = "Content-Type: application/json\r\n";
    let r = send(&n, &api, "POST", "/mapped", ct, br#"{"path": "ok"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v, json!({"remote": "remote ok"}));
    let r = send(&n, &api, "POST", "/mapped", ct, br#"{"path": "fail"}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v, json!({"why": "boom"}));
}
