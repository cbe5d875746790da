//! End to end through the real binary: an API configured over the admin API, invoked through
//! both invocation forms; MOCK and HTTP_PROXY; path parameters, greedy paths and ANY; and every
//! strict-parsing rule of the HTTP/1.1 server, over raw TCP.

mod common;

use common::{dead_addr, parse_all, parse_response, EchoBackend, TestNode};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

struct Api {
    id: String,
}

fn create_resource(n: &TestNode, api: &str, parent: &str, part: &str) -> String {
    let v = n.admin_ok(
        "POST",
        &format!("/restapis/{api}/resources/{parent}"),
        Some(json!({ "pathPart": part })),
    );
    v["id"].as_str().expect("resource id").to_string()
}

fn put_method(n: &TestNode, api: &str, res: &str, verb: &str, params: Value) {
    n.admin_ok(
        "PUT",
        &format!("/restapis/{api}/resources/{res}/methods/{verb}"),
        Some(json!({ "authorizationType": "NONE", "requestParameters": params })),
    );
}

fn put_integration(n: &TestNode, api: &str, res: &str, verb: &str, body: Value) {
    n.admin_ok(
        "PUT",
        &format!("/restapis/{api}/resources/{res}/methods/{verb}/integration"),
        Some(body),
    );
}

/// /pets GET (MOCK), /pets/{petId} GET (HTTP_PROXY), /{proxy+} ANY (HTTP_PROXY through a stage
/// variable), /slow GET (HTTP_PROXY, 1 s timeout), /dead GET (nothing listening), deployed to
/// `dev`.
fn setup(n: &TestNode, backend: &EchoBackend) -> Api {
    let api = n.admin_ok("POST", "/restapis", Some(json!({ "name": "pets" })));
    let id = api["id"].as_str().unwrap().to_string();
    let resources = n.admin_ok("GET", &format!("/restapis/{id}/resources"), None);
    let root = resources["item"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pets = create_resource(n, &id, &root, "pets");
    put_method(n, &id, &pets, "GET", json!({}));
    put_integration(
        n,
        &id,
        &pets,
        "GET",
        json!({ "type": "MOCK", "requestTemplates": { "application/json": "{\"statusCode\": 200}" } }),
    );
    n.admin_ok(
        "PUT",
        &format!("/restapis/{id}/resources/{pets}/methods/GET/responses/200"),
        Some(json!({ "responseParameters": { "method.response.header.X-Mock": false } })),
    );
    n.admin_ok(
        "PUT",
        &format!("/restapis/{id}/resources/{pets}/methods/GET/integration/responses/200"),
        Some(json!({
            "responseTemplates": { "application/json": "{\"pets\":[\"rex\"]}" },
            "responseParameters": { "method.response.header.X-Mock": "'yes'" }
        })),
    );
    let pet = create_resource(n, &id, &pets, "{petId}");
    put_method(
        n,
        &id,
        &pet,
        "GET",
        json!({ "method.request.path.petId": true }),
    );
    put_integration(
        n,
        &id,
        &pet,
        "GET",
        json!({
            "type": "HTTP_PROXY", "httpMethod": "GET",
            "uri": format!("http://{}/backend/pets/{{id}}", backend.addr),
            "requestParameters": { "integration.request.path.id": "method.request.path.petId" }
        }),
    );
    let greedy = create_resource(n, &id, &root, "{proxy+}");
    put_method(
        n,
        &id,
        &greedy,
        "ANY",
        json!({ "method.request.path.proxy": true }),
    );
    put_integration(
        n,
        &id,
        &greedy,
        "ANY",
        json!({
            "type": "HTTP_PROXY", "httpMethod": "ANY",
            "uri": "http://${stageVariables.backend}/{proxy}",
            "requestParameters": { "integration.request.path.proxy": "method.request.path.proxy" }
        }),
    );
    let slow = create_resource(n, &id, &root, "slow");
    put_method(n, &id, &slow, "GET", json!({}));
    put_integration(
        n,
        &id,
        &slow,
        "GET",
        json!({
            "type": "HTTP_PROXY", "httpMethod": "GET",
            "uri": format!("http://{}/slow", backend.addr), "timeoutInMillis": 1000
        }),
    );
    let dead = create_resource(n, &id, &root, "dead");
    put_method(n, &id, &dead, "GET", json!({}));
    put_integration(
        n,
        &id,
        &dead,
        "GET",
        json!({
            "type": "HTTP_PROXY", "httpMethod": "GET",
            "uri": format!("http://{}/", dead_addr())
        }),
    );
    n.admin_ok(
        "POST",
        &format!("/restapis/{id}/deployments"),
        Some(json!({ "stageName": "dev", "variables": { "backend": backend.addr.to_string() } })),
    );
    Api { id }
}

#[test]
fn invocation_mock_proxy_params_greedy_any() {
    let backend = EchoBackend::start();
    let n = TestNode::start(&["--workers", "2"]);
    let api = setup(&n, &backend);
    let id = &api.id;
    let path_form = |p: &str| format!("/restapis/{id}/dev/_user_request_{p}");
    let host_form = format!("{id}.execute-api.localhost");

    // MOCK through both forms.
    for r in [
        n.get("localhost", &path_form("/pets")),
        n.get(&host_form, "/dev/pets"),
    ] {
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json(), json!({ "pets": ["rex"] }));
        assert_eq!(r.header("X-Mock"), Some("yes"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("x-amzn-RequestId").map(str::len), Some(36));
    }

    // A path parameter mapped into the backend URI.
    let r = n.get(&host_form, "/dev/pets/42?color=red");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("X-Backend"), Some("echo"));
    let echo = r.json();
    assert_eq!(echo["path"], "/backend/pets/42?color=red");
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(echo["headers"]["host"], backend.addr.to_string());

    // Greedy path with ANY: any verb, the whole rest of the path, body and query passed on.
    let r = n.request(
        "POST",
        &path_form("/orders/7/items?x=1"),
        &[("X-Custom", "v"), ("X-Forwarded-For", "10.1.2.3")],
        b"{\"qty\":2}",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let echo = r.json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/orders/7/items?x=1");
    assert_eq!(echo["body"], "{\"qty\":2}");
    assert_eq!(echo["headers"]["x-custom"], "v");
    assert_eq!(echo["headers"]["x-forwarded-for"], "10.1.2.3, 127.0.0.1");

    // The backend's reserved headers reach the client renamed `x-amzn-Remapped-*`, as AWS's
    // do; the gateway answers with its own Date and no Server.
    let r = n.get(&host_form, "/dev/remapped/1");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-amzn-Remapped-Server"), Some("x"));
    assert_eq!(
        r.header("x-amzn-Remapped-Date"),
        Some("Mon, 01 Jan 2024 00:00:00 GMT")
    );
    assert_eq!(
        r.header("x-amzn-Remapped-WWW-Authenticate"),
        Some("Basic realm=\"b\"")
    );
    assert_eq!(r.header("x-amzn-Remapped-Connection"), Some("keep-alive"));
    let length = r
        .header("x-amzn-Remapped-Content-Length")
        .map(str::to_string);
    assert_eq!(length, r.header("Content-Length").map(str::to_string));
    assert_eq!(r.header("Server"), None);
    assert_eq!(r.header("WWW-Authenticate"), None);
    let date = r.header("Date").unwrap_or_default();
    assert!(date.ends_with(" GMT") && !date.contains("2024"), "{date}");
    assert_eq!(r.header("X-Backend"), Some("echo"));

    // {petId} has only GET: PATCH falls through to the greedy ANY.
    let r = n.request("PATCH", &path_form("/pets/42"), &[], b"");
    assert_eq!(r.json()["method"], "PATCH");
    assert_eq!(r.json()["path"], "/pets/42");

    // A chunked backend answer, passed on chunked with its status and headers.
    let r = n.get(&host_form, "/dev/chunked/x");
    assert_eq!(r.status, 201);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.json()["path"], "/chunked/x");

    // Errors, AWS-shaped.
    let r = n.get(
        "localhost",
        &format!("/restapis/{id}/nostage/_user_request_/pets"),
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json(),
        json!({ "message": "Missing Authentication Token" })
    );
    let r = n.get(&host_form, "/dev/");
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (403, json!("Missing Authentication Token"))
    );
    let r = n.get("localhost", "/restapis/nosuchapi/dev/_user_request_/pets");
    assert_eq!(r.status, 404);
    assert!(r.json()["message"].is_string());
    assert!(r.header("x-amzn-RequestId").is_some());

    let r = n.get(&host_form, "/dev/dead");
    assert_eq!(r.status, 502);
    assert_eq!(r.json(), json!({ "message": "Internal server error" }));
    let started = Instant::now();
    let r = n.get(&host_form, "/dev/slow");
    assert_eq!(r.status, 504);
    assert_eq!(r.json(), json!({ "message": "Endpoint request timed out" }));
    assert!(started.elapsed() < Duration::from_millis(2900));

    // Keep-alive upstream pool: many requests, all answered.
    for i in 0..20 {
        let r = n.get(&host_form, &format!("/dev/pets/{i}"));
        assert_eq!(r.json()["path"], format!("/backend/pets/{i}"));
    }
}

#[test]
fn changes_reach_the_data_plane_only_when_deployed() {
    let backend = EchoBackend::start();
    let n = TestNode::start(&["--workers", "2"]);
    let api = setup(&n, &backend);
    let id = &api.id;
    let host = format!("{id}.execute-api.localhost");
    // Add /cats to the working tree: not served until a deployment.
    let resources = n.admin_ok("GET", &format!("/restapis/{id}/resources"), None);
    let root = resources["item"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cats = create_resource(&n, id, &root, "cats");
    put_method(&n, id, &cats, "GET", json!({}));
    put_integration(&n, id, &cats, "GET", json!({ "type": "MOCK" }));
    n.admin_ok(
        "PUT",
        &format!("/restapis/{id}/resources/{cats}/methods/GET/integration/responses/200"),
        Some(json!({ "responseTemplates": { "application/json": "{\"cats\":1}" } })),
    );
    // Greedy route answers /cats for now.
    assert_eq!(n.get(&host, "/dev/cats").json()["path"], "/cats");
    n.admin_ok(
        "POST",
        &format!("/restapis/{id}/deployments"),
        Some(json!({ "stageName": "dev" })),
    );
    assert_eq!(n.get(&host, "/dev/cats").json(), json!({ "cats": 1 }));

    // Restart (kill -9): state and routes come back from disk.
    let dir = n.kill();
    let n = TestNode::start_in(dir, &["--workers", "1"]);
    assert_eq!(n.get(&host, "/dev/cats").json(), json!({ "cats": 1 }));
    assert_eq!(n.get(&host, "/dev/pets").json(), json!({ "pets": ["rex"] }));
}

#[test]
fn strict_parsing_rules() {
    let backend = EchoBackend::start();
    let n = TestNode::start(&["--workers", "1"]);
    let api = setup(&n, &backend);
    let host = format!("{}.execute-api.localhost", api.id);

    // Request smuggling: CL and TE together → 400, the connection closes, and the would-be
    // second request is never answered.
    let smuggle = format!(
        "POST /dev/pets HTTP/1.1\r\nHost: {host}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /dev/pets HTTP/1.1\r\nHost: {host}\r\n\r\n"
    );
    let out = n.raw(smuggle.as_bytes());
    let all = parse_all(&out);
    assert_eq!(all.len(), 1, "{}", String::from_utf8_lossy(&out));
    assert_eq!(all[0].status, 400);
    assert_eq!(all[0].header("connection"), Some("close"));
    assert!(all[0].json()["message"].is_string());

    let bad: Vec<(String, u16)> = vec![
        (format!("POST /dev/pets HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"), 400),
        (format!("POST /dev/pets HTTP/1.1\r\nHost: {host}\r\nContent-Length: +3\r\n\r\nabc"), 400),
        (format!("POST /dev/pets HTTP/1.1\r\nHost: {host}\r\nContent-Length: abc\r\n\r\n"), 400),
        (format!("POST /dev/pets HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: identity\r\n\r\n"), 501),
        (format!("GET /dev/pets HTTP/1.1\r\nHost: {host}\r\nX-Folded: a\r\n  b\r\n\r\n"), 400),
        (format!("GET /dev/pets HTTP/1.1\nHost: {host}\n\n"), 400),
        (format!("GET /dev/pets HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n\r\n", "x".repeat(10_300)), 431),
        (format!("POST /dev/pets HTTP/1.1\r\nHost: {host}\r\nContent-Length: 10485761\r\n\r\n"), 413),
        ("GET /dev/pets HTTP/1.1\r\n\r\n".to_string(), 400),
        (format!("BREW /dev/pets HTTP/1.1\r\nHost: {host}\r\n\r\n"), 403),
    ];
    for (req, status) in bad {
        let out = n.raw(req.as_bytes());
        let r = parse_response(&out).unwrap_or_else(|| panic!("no answer to {req:?}"));
        assert_eq!(
            r.status,
            status,
            "{req:?} -> {}",
            String::from_utf8_lossy(&out)
        );
    }

    // A chunked body larger than 10 MB → 413.
    let mut s = TcpStream::connect(n.data).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head =
        format!("POST /dev/x HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, "a".repeat(1 << 20));
    let mut got = Vec::new();
    for _ in 0..11 {
        if s.write_all(chunk.as_bytes()).is_err() {
            break;
        }
    }
    let _ = s.read_to_end(&mut got);
    assert_eq!(parse_response(&got).map(|r| r.status), Some(413));

    // Pipelining: three requests in one write, answered in order on one connection.
    let pipelined = format!(
        "GET /dev/pets HTTP/1.1\r\nHost: {host}\r\n\r\nGET /dev/pets/9 HTTP/1.1\r\nHost: {host}\r\n\r\nGET /nostage HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    let all = parse_all(&n.raw(pipelined.as_bytes()));
    let statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 200, 403]);
    assert_eq!(all[0].json(), json!({ "pets": ["rex"] }));
    assert_eq!(all[1].json()["path"], "/backend/pets/9");

    // A chunked request body, de-chunked for the backend.
    let req = format!(
        "POST /dev/echo HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
    );
    let r = parse_response(&n.raw(req.as_bytes())).unwrap();
    assert_eq!(r.json()["body"], "hello world");
    assert_eq!(r.json()["headers"]["content-length"], "11");

    // Expect: 100-continue: the interim answer comes before the body is sent.
    let mut s = TcpStream::connect(n.data).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = format!("POST /dev/echo HTTP/1.1\r\nHost: {host}\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut first = [0u8; 25];
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"ping").unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert_eq!(parse_response(&rest).unwrap().json()["body"], "ping");

    // HTTP/1.0 without keep-alive: answered, then closed.
    let r = n.raw(format!("GET /dev/pets HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes());
    assert_eq!(parse_all(&r).len(), 1);
}

#[test]
fn idle_and_header_read_timeouts_close_connections() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tollgate.toml");
    std::fs::write(
        &cfg,
        "idle_timeout_secs = 1\nheader_read_timeout_secs = 1\n",
    )
    .unwrap();
    let n = TestNode::start(&["--workers", "1", "--config", cfg.to_str().unwrap()]);
    // The third: a whole request, answered, then the connection idles past `idle` (the
    // connection's read timer was moved by the request's waits and must still fire).
    for partial in [
        &b""[..],
        b"GET / HTTP/1.1\r\nHost: x\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(n.data).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(partial).unwrap();
        let started = Instant::now();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        // An idle connection is just closed; a head cut short by its deadline is told so.
        if partial.is_empty() {
            assert!(got.is_empty(), "expected a close");
        } else if partial.ends_with(b"\r\n\r\n") {
            let status = parse_response(&got).map(|r| r.status);
            assert!(status.is_some_and(|s| s != 408), "{status:?}");
        } else {
            assert_eq!(parse_response(&got).map(|r| r.status), Some(408));
        }
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    }
}

#[test]
fn bad_flags_and_config_are_named() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--workers", "zero"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--workers"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lisen") && err.contains("bad.toml"), "{err}");
}

#[test]
fn stage_throttle_answers_429_and_recovers() {
    let backend = EchoBackend::start();
    let n = TestNode::start(&["--workers", "2"]);
    let api = setup(&n, &backend);
    let id = &api.id;
    n.admin_ok(
        "PATCH",
        &format!("/restapis/{id}/stages/dev"),
        Some(json!({ "patchOperations": [
            { "op": "replace", "path": "/*/*/throttling/rateLimit", "value": "5" },
            { "op": "replace", "path": "/*/*/throttling/burstLimit", "value": "5" }
        ] })),
    );
    let host = format!("{id}.execute-api.localhost");
    let started = Instant::now();
    let mut ok = 0;
    let mut throttled = 0;
    for _ in 0..40 {
        let r = n.get(&host, "/dev/pets");
        match r.status {
            200 => ok += 1,
            429 => {
                assert_eq!(r.json(), json!({ "message": "Too Many Requests" }));
                throttled += 1;
            }
            s => panic!("unexpected {s}"),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    // Burst 5 plus 5/s while the loop ran (split over two workers, so a little less).
    let bound = 5.0 + 5.0 * secs + 1.0;
    assert!(
        ok >= 3 && f64::from(ok) <= bound,
        "{ok} admitted in {secs:.2}s"
    );
    assert_eq!(ok + throttled, 40);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(n.get(&host, "/dev/pets").status, 200);
}

#[test]
fn stage_cache_hits_bypasses_and_flushes() {
    use std::sync::atomic::Ordering;
    let backend = EchoBackend::start();
    let n = TestNode::start(&["--workers", "1"]);
    let api = setup(&n, &backend);
    let id = &api.id;
    let stage_patch = |ops: Value| {
        n.admin_ok(
            "PATCH",
            &format!("/restapis/{id}/stages/dev"),
            Some(json!({ "patchOperations": ops })),
        )
    };
    stage_patch(json!([
        { "op": "replace", "path": "/cacheClusterEnabled", "value": "true" },
        { "op": "replace", "path": "/*/*/caching/enabled", "value": "true" },
        { "op": "replace", "path": "/*/*/caching/ttlInSeconds", "value": "300" }
    ]));
    let host = format!("{id}.execute-api.localhost");
    let count = || backend.count.load(Ordering::SeqCst);
    let before = count();
    let first = n.get(&host, "/dev/pets/1");
    assert_eq!(first.status, 200);
    for _ in 0..5 {
        let r = n.get(&host, "/dev/pets/1");
        assert_eq!(r.body, first.body);
        assert_eq!(r.header("X-Backend"), Some("echo"));
        // Cached answers carry the backend's reserved headers remapped, as live ones do.
        assert_eq!(r.header("x-amzn-Remapped-Connection"), Some("keep-alive"));
        let length = r.body.len().to_string();
        assert_eq!(r.header("x-amzn-Remapped-Content-Length"), Some(&*length));
    }
    assert_eq!(count(), before + 1, "repeats are served from the cache");
    n.get(&host, "/dev/pets/2");
    assert_eq!(count(), before + 2, "another path is another key");
    // max-age=0 without authorization: by default served from the cache anyway.
    let r = n.request(
        "GET",
        &format!("/restapis/{id}/dev/_user_request_/pets/1"),
        &[("Cache-Control", "max-age=0")],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(count(), before + 2);
    // Not cached: POST through the greedy ANY.
    n.request(
        "POST",
        &format!("/restapis/{id}/dev/_user_request_/x"),
        &[],
        b"",
    );
    n.request(
        "POST",
        &format!("/restapis/{id}/dev/_user_request_/x"),
        &[],
        b"",
    );
    assert_eq!(count(), before + 4);
    // Flushing the stage's cache: the next request goes to the backend again.
    let (status, _) = n.admin(
        "DELETE",
        &format!("/restapis/{id}/stages/dev/cache/data"),
        None,
    );
    assert_eq!(status, 202);
    n.get(&host, "/dev/pets/1");
    assert_eq!(count(), before + 5);
    // With FAIL_WITH_403, an unauthorized max-age=0 is refused.
    stage_patch(json!([
        { "op": "replace", "path": "/*/*/caching/unauthorizedCacheControlHeaderStrategy", "value": "FAIL_WITH_403" }
    ]));
    let r = n.request(
        "GET",
        &format!("/restapis/{id}/dev/_user_request_/pets/1"),
        &[("Cache-Control", "max-age=0")],
        b"",
    );
    assert_eq!(r.status, 403);
}

#[test]
fn metrics_count_answers_throttles_and_cache() {
    let backend = EchoBackend::start();
    let n = TestNode::start(&["--workers", "1"]);
    let api = setup(&n, &backend);
    let id = &api.id;
    n.admin_ok(
        "PATCH",
        &format!("/restapis/{id}/stages/dev"),
        Some(json!({ "patchOperations": [
            { "op": "replace", "path": "/cacheClusterEnabled", "value": "true" },
            { "op": "replace", "path": "/*/*/caching/enabled", "value": "true" },
            { "op": "replace", "path": "/*/*/throttling/rateLimit", "value": "1" },
            { "op": "replace", "path": "/*/*/throttling/burstLimit", "value": "3" }
        ] })),
    );
    let host = format!("{id}.execute-api.localhost");
    let statuses: Vec<u16> = (0..6).map(|_| n.get(&host, "/dev/pets/1").status).collect();
    n.get("localhost", "/restapis/nosuchapi/dev/_user_request_/");
    let raw = common::raw_exchange(
        n.admin,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let r = common::parse_response(&raw).unwrap();
    assert_eq!(r.status, 200);
    let text = r.text();
    let value = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
    };
    let ok = statuses.iter().filter(|s| **s == 200).count() as u64;
    assert_eq!(value("tollgate_requests_total"), 7);
    assert_eq!(value("tollgate_2xx_total"), ok);
    assert_eq!(value("tollgate_throttled_total"), 6 - ok);
    assert_eq!(value("tollgate_4xx_total"), 6 - ok + 1);
    assert_eq!(value("tollgate_cache_misses_total"), 1);
    assert_eq!(value("tollgate_cache_hits_total"), ok - 1);
}

#[test]
fn account_limit_from_config_applies_to_every_route() {
    let backend = EchoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tollgate.toml");
    std::fs::write(&cfg, "account_rate_limit = 2.0\naccount_burst_limit = 3\n").unwrap();
    let n = TestNode::start(&["--workers", "1", "--config", cfg.to_str().unwrap()]);
    let api = setup(&n, &backend);
    let host = format!("{}.execute-api.localhost", api.id);
    let started = Instant::now();
    let statuses: Vec<u16> = (0..12).map(|_| n.get(&host, "/dev/pets").status).collect();
    let ok = statuses.iter().filter(|s| **s == 200).count() as f64;
    let bound = 3.0 + 2.0 * started.elapsed().as_secs_f64() + 1.0;
    assert!(ok >= 2.0 && ok <= bound, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );

    std::fs::write(&cfg, "account_rate_limit = 0\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("account_rate_limit"));
}
