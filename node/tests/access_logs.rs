//! Stage access logs end to end: the real `aws` CLI sets `accessLogSettings` on a stage of a
//! real `tollgate` process (refused as AWS refuses them when wrong), and every request to
//! the stage — a MOCK answer, a backend answer, the gateway's own 403 and 429 — becomes one
//! record in the destination's file under the node's access-log folder, with the
//! `$context` values the format names. Removing the settings stops the records.

mod common;

use common::{raw_exchange, Aws, EchoBackend, TestNode};
use serde_json::Value;
use std::time::{Duration, Instant};

const GROUP_ARN: &str = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/pets-access";
const FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","ua":"$context.identity.userAgent","method":"$context.httpMethod","resourcePath":"$context.resourcePath","path":"$context.path","status":"$context.status","len":"$context.responseLength","latency":"$context.responseLatency","ilat":"$context.integrationLatency","istatus":"$context.integrationStatus","err":"$context.error.message","etype":"$context.error.responseType","api":"$context.apiId","stage":"$context.stage","time":"$context.requestTime","epoch":"$context.requestTimeEpoch","domain":"$context.domainName","protocol":"$context.protocol","waf":"$context.wafResponseCode","keyId":"$context.identity.apiKeyId"}"#;

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// The records in `path` once there are at least `n` (at most 10 s).
fn records(path: &std::path::Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines
                .iter()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn access_log_records_every_answer_of_the_stage() {
    let backend = EchoBackend::start();
    let node = TestNode::start(&["--workers", "2"]);
    let aws = Aws::for_node(&node);
    let api = aws.ok(&["create-rest-api", "--name", "pets"]);
    let (id, root) = (
        id_of(&api),
        api["rootResourceId"].as_str().unwrap().to_string(),
    );
    let resource = |part: &str| {
        id_of(&aws.ok(&[
            "create-resource",
            "--rest-api-id",
            &id,
            "--parent-id",
            &root,
            "--path-part",
            part,
        ]))
    };
    let (pets, back, limited) = (resource("pets"), resource("backend"), resource("limited"));
    for res in [&pets, &back, &limited] {
        aws.ok(&[
            "put-method",
            "--rest-api-id",
            &id,
            "--resource-id",
            res,
            "--http-method",
            "GET",
            "--authorization-type",
            "NONE",
        ]);
    }
    for res in [&pets, &limited] {
        aws.ok(&[
            "put-integration",
            "--rest-api-id",
            &id,
            "--resource-id",
            res,
            "--http-method",
            "GET",
            "--type",
            "MOCK",
            "--request-templates",
            r#"{"application/json": "{\"statusCode\": 200}"}"#,
        ]);
        aws.ok(&[
            "put-integration-response",
            "--rest-api-id",
            &id,
            "--resource-id",
            res,
            "--http-method",
            "GET",
            "--status-code",
            "200",
            "--response-templates",
            r#"{"application/json": "{\"pets\": []}"}"#,
        ]);
    }
    let uri = format!("http://{}/echo", backend.addr);
    aws.ok(&[
        "put-integration",
        "--rest-api-id",
        &id,
        "--resource-id",
        &back,
        "--http-method",
        "GET",
        "--type",
        "HTTP_PROXY",
        "--integration-http-method",
        "GET",
        "--uri",
        &uri,
    ]);
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &id,
        "--stage-name",
        "prod",
    ]);

    // Refused as AWS refuses them: a format without the request id, a destination that is
    // not a log group or Firehose stream.
    let patch = |path: &str, value: &str| format!("op=replace,path={path},value={value}");
    aws.fails(
        "BadRequestException",
        &[
            "update-stage",
            "--rest-api-id",
            &id,
            "--stage-name",
            "prod",
            "--patch-operations",
            &patch("/accessLogSettings/format", "$context.status"),
        ],
    );
    aws.fails(
        "BadRequestException",
        &[
            "update-stage",
            "--rest-api-id",
            &id,
            "--stage-name",
            "prod",
            "--patch-operations",
            &patch("/accessLogSettings/destinationArn", "my-group"),
        ],
    );
    let ops = serde_json::json!([
        {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": GROUP_ARN},
        {"op": "replace", "path": "/accessLogSettings/format", "value": FORMAT},
        {"op": "replace", "path": "/~1limited/GET/throttling/rateLimit", "value": "0"},
        {"op": "replace", "path": "/~1limited/GET/throttling/burstLimit", "value": "0"},
    ])
    .to_string();
    let stage = aws.ok(&[
        "update-stage",
        "--rest-api-id",
        &id,
        "--stage-name",
        "prod",
        "--patch-operations",
        &ops,
    ]);
    assert_eq!(stage["accessLogSettings"]["destinationArn"], GROUP_ARN);
    assert_eq!(stage["accessLogSettings"]["format"], FORMAT);
    let got = aws.ok(&["get-stage", "--rest-api-id", &id, "--stage-name", "prod"]);
    assert_eq!(got["accessLogSettings"], stage["accessLogSettings"]);

    let host = format!("{id}.execute-api.localhost");
    let send = |path: &str| {
        let raw = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: probe/1.0 \"x\"\r\nConnection: close\r\n\r\n"
        );
        common::parse_response(&raw_exchange(node.data, raw.as_bytes())).expect("a response")
    };
    let answers = [
        send("/prod/pets"),
        send("/prod/backend"),
        send("/prod/nowhere"),
        send("/prod/limited"),
    ];
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 403, 429]);
    let file = node
        .dir
        .path()
        .join("access-logs/aws_apigateway_pets-access.log");
    let recs = records(&file, 4);
    assert_eq!(recs.len(), 4, "{recs:?}");
    // One record per answer (workers hand theirs over independently: found by request id).
    let by_id = |a: &common::Response| {
        let id = a.header("x-amzn-RequestId").expect("request id");
        recs.iter()
            .find(|r| r["requestId"] == id)
            .unwrap_or_else(|| panic!("no record of {id} in {recs:?}"))
    };
    for a in &answers {
        let r = by_id(a);
        assert_eq!(r["status"], a.status.to_string());
        assert_eq!(r["len"], a.body.len().to_string(), "{r}");
        assert_eq!(r["ip"], "127.0.0.1");
        assert_eq!(r["ua"], "probe/1.0 \"x\"");
        assert_eq!(r["method"], "GET");
        assert_eq!(r["api"], id);
        assert_eq!(r["stage"], "prod");
        assert_eq!(r["domain"], host);
        assert_eq!(r["protocol"], "HTTP/1.1");
        assert_eq!(r["waf"], "-");
        assert_eq!(r["keyId"], "-");
        assert!(r["latency"].as_str().unwrap().parse::<u64>().is_ok(), "{r}");
        assert!(r["epoch"].as_str().unwrap().parse::<u64>().unwrap() > 1_700_000_000_000);
        assert!(r["time"].as_str().unwrap().ends_with(" +0000"), "{r}");
    }
    let [mock, proxied, missing, throttled] = [0, 1, 2, 3].map(|i| by_id(&answers[i]));
    assert_eq!(mock["resourcePath"], "/pets");
    assert_eq!(mock["path"], "/prod/pets");
    assert_eq!(
        (mock["ilat"].as_str(), mock["err"].as_str()),
        (Some("-"), Some("-"))
    );
    assert_eq!(proxied["resourcePath"], "/backend");
    assert_eq!(proxied["istatus"], "200");
    assert!(
        proxied["ilat"].as_str().unwrap().parse::<u64>().is_ok(),
        "{proxied}"
    );
    assert_eq!(missing["resourcePath"], "-");
    assert_eq!(missing["err"], "Missing Authentication Token");
    assert_eq!(missing["etype"], "MISSING_AUTHENTICATION_TOKEN");
    assert_eq!(throttled["etype"], "THROTTLED");
    assert_eq!(throttled["err"], "Too Many Requests");

    // The node counts what it wrote.
    let metrics = raw_exchange(
        node.admin,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains("tollgate_access_log_records_total 4\n"),
        "{metrics}"
    );
    assert!(metrics.contains("tollgate_access_log_dropped_total 0\n"));

    // Removed: the stage logs no more.
    aws.ok(&[
        "update-stage",
        "--rest-api-id",
        &id,
        "--stage-name",
        "prod",
        "--patch-operations",
        "op=remove,path=/accessLogSettings",
    ]);
    let got = aws.ok(&["get-stage", "--rest-api-id", &id, "--stage-name", "prod"]);
    assert!(got.get("accessLogSettings").is_none(), "{got}");
    assert_eq!(send("/prod/pets").status, 200);
    // Records reach the file within ~100 ms (the workers' hand-over tick).
    std::thread::sleep(Duration::from_millis(600));
    let lines = std::fs::read_to_string(&file)
        .unwrap_or_default()
        .lines()
        .count();
    assert_eq!(lines, 4);
}
