//! Tracing end to end: the stock `aws` CLI turns `tracingEnabled` on for a stage; requests
//! through it carry the gateway's trace context (W3C `traceparent` and X-Ray's
//! `X-Amzn-Trace-Id`) to an HTTP backend and to a Lambda function, and their spans reach an
//! OTLP/HTTP receiver written for this test. A stage without tracing passes the caller's
//! `traceparent` untouched, sends an X-Ray root as AWS does, and records nothing.

mod common;

use common::{parse_response, raw_exchange, Aws, EchoBackend, Response, TestNode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Seen = Arc<Mutex<Vec<Value>>>;

/// Reads one HTTP/1.1 request (head and Content-Length body) from `stream`.
fn read_request(stream: &std::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
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
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// Serves one answer per connection: `answer(head, body)` gives the status line's code and body.
fn serve(answer: impl Fn(&str, &[u8]) -> (u16, String) + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some((head, body)) = read_request(&stream) else {
                continue;
            };
            let (status, text) = answer(&head, &body);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    addr
}

/// An OTLP/HTTP traces receiver: keeps every JSON export request it is sent.
fn otlp_receiver() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let addr = serve(move |head, body| {
        assert!(head.starts_with("POST /v1/traces HTTP/1.1"), "{head}");
        assert!(head.contains("Content-Type: application/json"), "{head}");
        s.lock()
            .unwrap()
            .push(serde_json::from_slice(body).unwrap_or(Value::Null));
        (200, "{}".into())
    });
    (addr, seen)
}

/// A function at a plain URL that answers with the headers of the event it was sent.
fn header_echo_function() -> SocketAddr {
    serve(|_, body| {
        let event: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let answer = json!({"statusCode": 200, "body": event["headers"].to_string()});
        (200, answer.to_string())
    })
}

/// Every span the receiver holds.
fn spans(seen: &Seen) -> Vec<Value> {
    let mut out = Vec::new();
    for export in seen.lock().unwrap().iter() {
        for rs in export["resourceSpans"].as_array().into_iter().flatten() {
            assert_eq!(
                rs["resource"]["attributes"][0]["value"]["stringValue"],
                "tollgate"
            );
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                out.extend(ss["spans"].as_array().into_iter().flatten().cloned());
            }
        }
    }
    out
}

/// Waits (at most 10 s) for the spans of `trace_id`.
fn spans_of(seen: &Seen, trace_id: &str, want: usize) -> Vec<Value> {
    let t0 = Instant::now();
    loop {
        let got: Vec<Value> = spans(seen)
            .into_iter()
            .filter(|s| s["traceId"] == trace_id)
            .collect();
        if got.len() >= want || t0.elapsed() > Duration::from_secs(10) {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn call(n: &TestNode, api: &str, stage: &str, target: &str, head: &str) -> Response {
    let req = format!(
        "GET /{stage}{target} HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\nConnection: close\r\n{head}\r\n"
    );
    parse_response(&raw_exchange(n.data, req.as_bytes())).expect("a response")
}

/// `traceparent` fields: (trace id, parent id, flags).
fn fields(tp: &str) -> (String, String, String) {
    let p: Vec<&str> = tp.split('-').collect();
    assert_eq!(p.len(), 4, "{tp}");
    assert_eq!(p[0], "00");
    (p[1].into(), p[2].into(), p[3].into())
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[test]
fn traced_stages_propagate_context_and_export_spans() {
    let (collector, seen) = otlp_receiver();
    let function = header_echo_function();
    let backend = EchoBackend::start();
    let n = TestNode::start_with_config(
        &format!(
            "otlp_endpoint = \"http://{collector}/v1/traces\"\n[[functions]]\nname = \"echo\"\nurl = \"http://{function}/\"\n"
        ),
        &[],
    );
    let api = n.admin_sdk_ok("POST", "/restapis", Some(json!({"name": "traced"})));
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    let resource = |part: &str| {
        let r = n.admin_sdk_ok(
            "POST",
            &format!("/restapis/{id}/resources/{root}"),
            Some(json!({"pathPart": part})),
        );
        let rid = r["id"].as_str().unwrap().to_string();
        let method = format!("/restapis/{id}/resources/{rid}/methods/GET");
        n.admin_sdk_ok("PUT", &method, Some(json!({"authorizationType": "NONE"})));
        method
    };
    let http = resource("http");
    n.admin_sdk_ok(
        "PUT",
        &format!("{http}/integration"),
        Some(json!({"type": "HTTP_PROXY", "httpMethod": "GET",
                    "uri": format!("http://{}/backend", backend.addr)})),
    );
    let lambda = resource("fn");
    n.admin_sdk_ok(
        "PUT",
        &format!("{lambda}/integration"),
        Some(json!({"type": "AWS_PROXY", "httpMethod": "POST",
                    "uri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:echo/invocations"})),
    );
    for stage in ["traced", "plain"] {
        n.admin_sdk_ok(
            "POST",
            &format!("/restapis/{id}/deployments"),
            Some(json!({"stageName": stage})),
        );
    }
    // The stock CLI turns tracing on, as for AWS X-Ray.
    let aws = Aws::for_node(&n);
    let stage = aws.ok(&[
        "update-stage",
        "--rest-api-id",
        &id,
        "--stage-name",
        "traced",
        "--patch-operations",
        "op=replace,path=/tracingEnabled,value=true",
    ]);
    assert_eq!(stage["tracingEnabled"], true);
    let caller = format!("traceparent: 00-{CALLER_TRACE}-{CALLER_SPAN}-01\r\n");

    // 1. The caller's W3C context is continued: the backend sees the same trace with the
    // gateway's CLIENT span as its parent, in both forms.
    let r = call(&n, &id, "traced", "/http", &caller);
    assert_eq!(r.status, 200, "{}", r.text());
    let seen_by_backend = r.json()["headers"].clone();
    let (trace, parent, flags) = fields(seen_by_backend["traceparent"].as_str().unwrap());
    assert_eq!((trace.as_str(), flags.as_str()), (CALLER_TRACE, "01"));
    assert_ne!(parent, CALLER_SPAN);
    let amzn = seen_by_backend["x-amzn-trace-id"].as_str().unwrap();
    assert_eq!(
        amzn,
        format!(
            "Root=1-{}-{};Parent={parent};Sampled=1",
            &CALLER_TRACE[..8],
            &CALLER_TRACE[8..]
        )
    );
    let got = spans_of(&seen, CALLER_TRACE, 2);
    assert_eq!(got.len(), 2, "{got:?}");
    let server = got.iter().find(|s| s["kind"] == 2).expect("a SERVER span");
    let client = got.iter().find(|s| s["kind"] == 3).expect("a CLIENT span");
    assert_eq!(server["parentSpanId"], CALLER_SPAN);
    assert_eq!(server["name"], "GET /http");
    assert_eq!(client["parentSpanId"], server["spanId"]);
    assert_eq!(client["spanId"], parent.as_str());
    let attr = |s: &Value, k: &str| {
        s["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .map(|a| a["value"].clone())
    };
    assert_eq!(
        attr(server, "aws.api_gateway.api_id").unwrap()["stringValue"],
        id.as_str()
    );
    assert_eq!(
        attr(server, "aws.api_gateway.stage").unwrap()["stringValue"],
        "traced"
    );
    assert_eq!(
        attr(server, "http.response.status_code").unwrap()["intValue"],
        "200"
    );
    assert_eq!(
        attr(server, "aws.request_id").unwrap()["stringValue"],
        r.header("x-amzn-requestid").unwrap()
    );
    let time = |s: &Value, k: &str| s[k].as_str().unwrap().parse::<u64>().unwrap();
    assert!(time(server, "startTimeUnixNano") <= time(client, "startTimeUnixNano"));
    assert!(time(client, "endTimeUnixNano") <= time(server, "endTimeUnixNano"));

    // 2. No context: a new trace, X-Ray compatible (its id starts with the epoch seconds).
    let r = call(&n, &id, "traced", "/http", "");
    let tp = r.json()["headers"]["traceparent"]
        .as_str()
        .unwrap()
        .to_string();
    let (trace, _, _) = fields(&tp);
    let secs = u64::from_str_radix(&trace[..8], 16).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(secs) < 60, "{trace}");
    let got = spans_of(&seen, &trace, 2);
    let server = got.iter().find(|s| s["kind"] == 2).expect("a SERVER span");
    assert!(server.get("parentSpanId").is_none(), "{server}");

    // 3. An X-Ray header alone is continued too; Sampled=0 propagates and records nothing.
    let xray_trace = "5759e988bd862e3fe1be46a994272793";
    let r = call(
        &n,
        &id,
        "traced",
        "/http",
        "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0\r\n",
    );
    let (trace, _, flags) = fields(r.json()["headers"]["traceparent"].as_str().unwrap());
    assert_eq!((trace.as_str(), flags.as_str()), (xray_trace, "00"));

    // 4. A Lambda function's event carries the context in its headers.
    let r = call(&n, &id, "traced", "/fn", &caller);
    assert_eq!(r.status, 200, "{}", r.text());
    let headers: Value = serde_json::from_str(&r.text()).unwrap();
    let (trace, fn_parent, _) = fields(headers["traceparent"].as_str().unwrap());
    assert_eq!(trace, CALLER_TRACE);
    assert!(headers["X-Amzn-Trace-Id"]
        .as_str()
        .unwrap()
        .contains(&format!("Parent={fn_parent}")));
    let got = spans_of(&seen, CALLER_TRACE, 4);
    assert!(
        got.iter()
            .any(|s| s["kind"] == 3 && s["spanId"] == fn_parent.as_str()),
        "{got:?}"
    );
    assert!(got.iter().any(|s| s["name"] == "GET /fn"));

    // 5. A refusal on a traced stage (no such route) is traced too: one SERVER span.
    let refused_trace = "0af7651916cd43dd8448eb211c80319d";
    let r = call(
        &n,
        &id,
        "traced",
        "/nope",
        &format!("traceparent: 00-{refused_trace}-b7ad6b7169203331-01\r\n"),
    );
    assert_eq!(r.status, 403);
    let got = spans_of(&seen, refused_trace, 1);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["name"], "GET (no route)");
    assert_eq!(got[0]["kind"], 2);
    assert_eq!(
        attr(&got[0], "http.response.status_code").unwrap()["intValue"],
        "403"
    );

    // 6. Untraced stage: the caller's headers pass untouched, no span is recorded.
    let plain_trace = "0af7651916cd43dd8448eb211c80319c";
    let r = call(
        &n,
        &id,
        "plain",
        "/http",
        &format!("traceparent: 00-{plain_trace}-b7ad6b7169203331-01\r\n"),
    );
    let h = &r.json()["headers"];
    assert_eq!(
        h["traceparent"],
        format!("00-{plain_trace}-b7ad6b7169203331-01")
    );
    // As AWS: an X-Ray root on every backend request (a new one: the caller sent none), and
    // the API's id.
    let root = h["x-amzn-trace-id"].as_str().unwrap();
    assert!(root.starts_with("Root=1-") && root.len() == 40, "{root}");
    assert_eq!(h["x-amzn-apigateway-api-id"], id.as_str());
    // A caller's valid X-Ray id passes as it came.
    let r = call(
        &n,
        &id,
        "plain",
        "/http",
        "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1\r\n",
    );
    assert_eq!(
        r.json()["headers"]["x-amzn-trace-id"],
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    );
    // A function on the untraced stage gets an X-Ray root in its event, as AWS's events carry.
    let r = call(
        &n,
        &id,
        "plain",
        "/fn",
        &format!("traceparent: 00-{plain_trace}-b7ad6b7169203331-01\r\n"),
    );
    let headers: Value = serde_json::from_str(&r.text()).unwrap();
    let root = headers["X-Amzn-Trace-Id"].as_str().unwrap();
    assert!(root.starts_with("Root=1-") && root.len() == 40, "{headers}");
    assert_eq!(
        headers["traceparent"],
        format!("00-{plain_trace}-b7ad6b7169203331-01")
    );
    // The traced requests after it have been exported; this one never will be.
    let _ = call(&n, &id, "traced", "/http", "");
    std::thread::sleep(Duration::from_millis(1200));
    assert!(spans(&seen).iter().all(|s| s["traceId"] != plain_trace));
    assert!(spans(&seen).iter().all(|s| s["traceId"] != xray_trace));
}

/// A node refuses a collector URL it cannot use, naming the setting.
#[test]
fn an_unusable_collector_url_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        "otlp_endpoint = \"https://collector:4318/v1/traces\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("otlp_endpoint"), "{err}");
}
