//! Lambda authorizers end to end: the stock `aws` CLI creates TOKEN and REQUEST authorizers
//! and the methods that use them; the authorizers are real Python functions the node runs
//! (`awslambdaric`, node/tests/data/authorizers/authorizers.py), each call counted in a
//! file. Checked through the data plane: identity refused before any call (missing header,
//! validation expression), Allow/Deny/Unauthorized/crash/garbage answers, the context
//! reaching an AWS_PROXY function's event and a MOCK template, the cache (one call for
//! repeated requests; a cached Allow for one method does not admit another; a flush), a
//! REQUEST authorizer on two identity sources, TestInvokeAuthorizer, and the admin API's
//! refusals.

mod common;

use common::{parse_response, raw_exchange, Aws, Response, TestNode};
use serde_json::{json, Value};

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function";

fn uri(function: &str) -> String {
    format!("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{ARN}:{function}/invocations")
}

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

/// A node (one worker, so every request sees the same authorizer cache) with the test
/// functions; the path of the file their calls are counted in.
fn node() -> (TestNode, std::path::PathBuf) {
    require_awslambdaric();
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls.txt");
    std::fs::write(&calls, "").unwrap();
    let config = dir.path().join("tollgate.toml");
    let code = format!("{}/tests/data/authorizers", env!("CARGO_MANIFEST_DIR"));
    let env = format!("{{ CALLS_FILE = \"{}\" }}", calls.display());
    let mut text = String::from("region = \"us-east-1\"\n");
    for (name, handler) in [
        ("tokauth", "authorizers.token"),
        ("reqauth", "authorizers.request"),
        ("backend", "authorizers.backend"),
    ] {
        text.push_str(&format!(
            "[[functions]]\nname = \"{name}\"\nhandler = \"{handler}\"\ncode = \"{code}\"\ntimeout_secs = 5\nconcurrency = 2\nenvironment = {env}\n\n"
        ));
    }
    std::fs::write(&config, text).unwrap();
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
            "--workers",
            "1",
        ],
        &[("TOLLGATE_LOG", "warn,openraft=error")],
    );
    (n, calls)
}

/// Calls counted so far whose line starts with `prefix`.
fn calls(file: &std::path::Path, prefix: &str) -> usize {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .count()
}

fn send(n: &TestNode, api: &str, target: &str, head: &str) -> Response {
    let req = format!(
        "GET /dev{target} HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\nConnection: close\r\n{head}\r\n"
    );
    parse_response(&raw_exchange(n.data, req.as_bytes())).expect("a response")
}

fn bearer(token: &str) -> String {
    format!("Authorization: {token}\r\n")
}

struct Setup {
    api: String,
    tok: String,
    req: String,
}

fn setup(n: &TestNode, aws: &Aws) -> Setup {
    let api = aws.ok(&["create-rest-api", "--name", "authorizers"]);
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    // The authorizers, with the CLI.
    let tok = aws.ok(&[
        "create-authorizer",
        "--rest-api-id",
        &id,
        "--name",
        "tok",
        "--type",
        "TOKEN",
        "--authorizer-uri",
        &uri("tokauth"),
        "--identity-source",
        "method.request.header.Authorization",
        "--identity-validation-expression",
        "Bearer [a-z]+",
        "--authorizer-result-ttl-in-seconds",
        "300",
    ]);
    assert_eq!(tok["type"], "TOKEN");
    assert_eq!(tok["authorizerResultTtlInSeconds"], 300);
    let tok = tok["id"].as_str().unwrap().to_string();
    let req = aws.ok(&[
        "create-authorizer",
        "--rest-api-id",
        &id,
        "--name",
        "req",
        "--type",
        "REQUEST",
        "--authorizer-uri",
        &uri("reqauth"),
        "--identity-source",
        "method.request.header.X-User,method.request.querystring.tenant",
    ]);
    assert_eq!(
        req["authorizerResultTtlInSeconds"], 300,
        "AWS's default TTL"
    );
    let req = req["id"].as_str().unwrap().to_string();
    // What is refused: a Cognito authorizer without its identity source (as AWS)...
    aws.fails(
        "BadRequestException",
        &[
            "create-authorizer",
            "--rest-api-id",
            &id,
            "--name",
            "cognito",
            "--type",
            "COGNITO_USER_POOLS",
            "--provider-arns",
            "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_x",
        ],
    );
    aws.fails(
        "BadRequestException",
        &[
            "create-authorizer",
            "--rest-api-id",
            &id,
            "--name",
            "bad",
            "--type",
            "TOKEN",
            "--authorizer-uri",
            "arn:aws:lambda:us-east-1:123456789012:function:x",
            "--identity-source",
            "method.request.header.Authorization",
        ],
    );
    aws.fails(
        "BadRequestException",
        &[
            "create-authorizer",
            "--rest-api-id",
            &id,
            "--name",
            "ttl",
            "--type",
            "TOKEN",
            "--authorizer-uri",
            &uri("tokauth"),
            "--identity-source",
            "method.request.header.Authorization",
            "--authorizer-result-ttl-in-seconds",
            "3601",
        ],
    );
    let child = |part: &str| {
        n.admin_sdk_ok(
            "POST",
            &format!("/restapis/{id}/resources/{root}"),
            Some(json!({"pathPart": part})),
        )["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (a, b, mock, request) = (child("a"), child("b"), child("mock"), child("req"));
    aws.fails(
        "BadRequestException",
        &[
            "put-method",
            "--rest-api-id",
            &id,
            "--resource-id",
            &a,
            "--http-method",
            "GET",
            "--authorization-type",
            "CUSTOM",
            "--authorizer-id",
            "nosuch",
        ],
    );
    aws.ok(&[
        "put-method",
        "--rest-api-id",
        &id,
        "--resource-id",
        &a,
        "--http-method",
        "GET",
        "--authorization-type",
        "CUSTOM",
        "--authorizer-id",
        &tok,
    ]);
    let method = |resource: &str, authorizer: &str| {
        n.admin_sdk_ok(
            "PUT",
            &format!("/restapis/{id}/resources/{resource}/methods/GET"),
            Some(json!({"authorizationType": "CUSTOM", "authorizerId": authorizer})),
        );
    };
    method(&b, &tok);
    method(&mock, &tok);
    method(&request, &req);
    for r in [&a, &b, &request] {
        n.admin_sdk_ok(
            "PUT",
            &format!("/restapis/{id}/resources/{r}/methods/GET/integration"),
            Some(json!({"type": "AWS_PROXY", "httpMethod": "POST", "uri": uri("backend")})),
        );
    }
    let m = format!("/restapis/{id}/resources/{mock}/methods/GET");
    n.admin_sdk_ok(
        "PUT",
        &format!("{m}/integration"),
        Some(json!({"type": "MOCK", "requestTemplates": {"application/json": "{\"statusCode\": 200}"}})),
    );
    n.admin_sdk_ok("PUT", &format!("{m}/responses/200"), Some(json!({})));
    n.admin_sdk_ok(
        "PUT",
        &format!("{m}/integration/responses/200"),
        Some(json!({"responseTemplates": {"application/json":
            "{\"principal\": \"$context.authorizer.principalId\", \"tier\": \"$context.authorizer.tier\", \"count\": \"$context.authorizer.count\"}"}})),
    );
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &id,
        "--stage-name",
        "dev",
    ]);
    Setup { api: id, tok, req }
}

#[test]
fn lambda_authorizers_end_to_end() {
    let (n, file) = node();
    let aws = Aws::for_node(&n);
    let Setup { api, tok, req } = setup(&n, &aws);
    let tokens = |prefix: &str| calls(&file, &format!("token {prefix}"));

    // No identity, or a token the validation expression refuses: 401, nothing called.
    let r = send(&n, &api, "/a", "");
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.json(), json!({"message": "Unauthorized"}));
    assert_eq!(r.header("x-amzn-ErrorType"), Some("UnauthorizedException"));
    let r = send(&n, &api, "/a", &bearer("Bearer NOT-lower-case"));
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(calls(&file, ""), 0);

    // The context reaches a MOCK template.
    let r = send(&n, &api, "/mock", &bearer("Bearer allow"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"principal": "alice", "tier": "gold", "count": "7"})
    );
    assert_eq!(tokens("Bearer allow"), 1);
    // Its cached Allow was for /mock: /a is refused without a call...
    let r = send(&n, &api, "/a", &bearer("Bearer allow"));
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(tokens("Bearer allow"), 1);
    // ...until the stage's authorizer cache is flushed.
    aws.ok(&[
        "flush-stage-authorizers-cache",
        "--rest-api-id",
        &api,
        "--stage-name",
        "dev",
    ]);
    let r = send(&n, &api, "/a", &bearer("Bearer allow"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tokens("Bearer allow"), 2);
    // The context reaches the AWS_PROXY function's event (values as text).
    assert_eq!(
        r.json()["authorizer"],
        json!({"principalId": "alice", "tier": "gold", "count": "7", "admin": "false"})
    );
    // Cached: again without a call; a cached Allow for /a does not admit /b.
    for _ in 0..3 {
        assert_eq!(send(&n, &api, "/a", &bearer("Bearer allow")).status, 200);
    }
    assert_eq!(tokens("Bearer allow"), 2);
    let r = send(&n, &api, "/b", &bearer("Bearer allow"));
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.header("x-amzn-ErrorType"), Some("AccessDeniedException"));
    assert_eq!(tokens("Bearer allow"), 2);

    // Deny, Unauthorized, a crash, answers that are not an authorizer's.
    let r = send(&n, &api, "/a", &bearer("Bearer deny"));
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        "User is not authorized to access this resource with an explicit deny"
    );
    let r = send(&n, &api, "/a", &bearer("Bearer unauthorized"));
    assert_eq!(r.status, 401, "{}", r.text());
    for token in ["Bearer crash", "Bearer garbage", "Bearer nested"] {
        let r = send(&n, &api, "/a", &bearer(token));
        assert_eq!(r.status, 500, "{token}: {}", r.text());
        assert_eq!(
            r.header("x-amzn-ErrorType"),
            Some("AuthorizerConfigurationException"),
            "{token}"
        );
        assert_eq!(tokens(token), 1, "{token}");
    }
    // The crashed process was replaced: the authorizer still answers.
    assert_eq!(send(&n, &api, "/a", &bearer("Bearer allow")).status, 200);

    // REQUEST on a header and a query parameter.
    let r = send(&n, &api, "/req?tenant=t1", "");
    assert_eq!(r.status, 401, "{}", r.text());
    let r = send(&n, &api, "/req", "X-User: u1\r\n");
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(calls(&file, "request"), 0);
    let r = send(&n, &api, "/req?tenant=t1", "X-User: u1\r\n");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["authorizer"],
        json!({"principalId": "u1", "tenant": "t1", "path": "/req"})
    );
    let r = send(&n, &api, "/req?tenant=t1", "X-User: u1\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(calls(&file, "request"), 1, "cached by both values");
    let r = send(&n, &api, "/req?tenant=t2", "X-User: u1\r\n");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(calls(&file, "request"), 2);

    // TestInvokeAuthorizer runs the function and answers what it decided.
    let t = aws.ok(&[
        "test-invoke-authorizer",
        "--rest-api-id",
        &api,
        "--authorizer-id",
        &tok,
        "--headers",
        "Authorization=Bearer allow",
    ]);
    assert_eq!(t["clientStatus"], 200, "{t}");
    assert_eq!(t["principalId"], "alice");
    let policy: Value = serde_json::from_str(t["policy"].as_str().unwrap()).unwrap();
    assert_eq!(policy["Statement"][0]["Effect"], "Allow");
    assert!(t["latency"].is_u64());
    assert_eq!(t["authorization"]["tier"], json!(["gold"]));
    let t = aws.ok(&[
        "test-invoke-authorizer",
        "--rest-api-id",
        &api,
        "--authorizer-id",
        &tok,
        "--headers",
        "Authorization=Bearer unauthorized",
    ]);
    assert_eq!(t["clientStatus"], 401, "{t}");
    let t = aws.ok(&[
        "test-invoke-authorizer",
        "--rest-api-id",
        &api,
        "--authorizer-id",
        &req,
        "--headers",
        "X-User=u1",
        "--path-with-query-string",
        "/req?tenant=t1",
    ]);
    assert_eq!(t["clientStatus"], 200, "{t}");
    assert_eq!(t["principalId"], "u1");

    // Read back, patched, and not deleted while a method uses it.
    let all = aws.ok(&["get-authorizers", "--rest-api-id", &api]);
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2), "{all}");
    let z = aws.ok(&[
        "update-authorizer",
        "--rest-api-id",
        &api,
        "--authorizer-id",
        &tok,
        "--patch-operations",
        "op=replace,path=/authorizerResultTtlInSeconds,value=0",
    ]);
    assert_eq!(z["authorizerResultTtlInSeconds"], 0);
    let z = aws.ok(&[
        "get-authorizer",
        "--rest-api-id",
        &api,
        "--authorizer-id",
        &tok,
    ]);
    assert_eq!(z["identityValidationExpression"], "Bearer [a-z]+");
    aws.fails(
        "ConflictException",
        &[
            "delete-authorizer",
            "--rest-api-id",
            &api,
            "--authorizer-id",
            &tok,
        ],
    );
}
