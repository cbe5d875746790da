//! End to end against the real binary: the data plane's defences against clients and
//! backends that misbehave (found by probing as an attacker), and its graceful shutdown.

mod common;

use common::{dead_addr, parse_response, EchoBackend, TestNode};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A node with `settings` (TOML lines) in a config file, on loopback ports.
fn node_with(settings: &str, workers: usize) -> TestNode {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tollgate.toml");
    std::fs::write(&path, settings).unwrap();
    let data_dir = dir.path().join("data").to_string_lossy().into_owned();
    let path = path.to_string_lossy().into_owned();
    let workers = workers.to_string();
    TestNode::spawn(
        dir,
        &[
            "--config",
            &path,
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--raft-listen",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir,
            "--workers",
            &workers,
        ],
        &[("NO_COLOR", "1")],
    )
}

/// An API whose root `{proxy+}` (ANY) is an HTTP_PROXY to `uri_base/{proxy}`, and `/dead`
/// (GET) to an address nothing listens on, deployed to `dev`. Returns the API id.
fn proxy_api(n: &TestNode, uri_base: &str) -> String {
    let api = n.admin_ok("POST", "/restapis", Some(json!({ "name": "limits" })));
    let id = api["id"].as_str().unwrap().to_string();
    let resources = n.admin_ok("GET", &format!("/restapis/{id}/resources"), None);
    let root = resources["item"][0]["id"].as_str().unwrap().to_string();
    let add = |part: &str, verb: &str, integration: Value| {
        let r = n.admin_ok(
            "POST",
            &format!("/restapis/{id}/resources/{root}"),
            Some(json!({ "pathPart": part })),
        );
        let res = r["id"].as_str().unwrap().to_string();
        let params = if part == "{proxy+}" {
            json!({ "method.request.path.proxy": true })
        } else {
            json!({})
        };
        n.admin_ok(
            "PUT",
            &format!("/restapis/{id}/resources/{res}/methods/{verb}"),
            Some(json!({ "authorizationType": "NONE", "requestParameters": params })),
        );
        n.admin_ok(
            "PUT",
            &format!("/restapis/{id}/resources/{res}/methods/{verb}/integration"),
            Some(integration),
        );
    };
    add(
        "{proxy+}",
        "ANY",
        json!({
            "type": "HTTP_PROXY", "httpMethod": "ANY",
            "uri": format!("{uri_base}/{{proxy}}"),
            "requestParameters": { "integration.request.path.proxy": "method.request.path.proxy" }
        }),
    );
    add(
        "dead",
        "GET",
        json!({ "type": "HTTP_PROXY", "httpMethod": "GET", "uri": format!("http://{}/", dead_addr()) }),
    );
    n.admin_ok(
        "POST",
        &format!("/restapis/{id}/deployments"),
        Some(json!({ "stageName": "dev" })),
    );
    id
}

fn connect(n: &TestNode) -> TcpStream {
    let s = TcpStream::connect(n.data).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads until the server closes or the read timeout passes.
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    got
}

fn status_of(bytes: &[u8]) -> Option<u16> {
    parse_response(bytes).map(|r| r.status)
}

#[test]
fn endless_trailers_and_chunk_extensions_are_refused() {
    let n = TestNode::start(&["--workers", "1"]);
    // Trailer section past the head limit: 431 and close.
    let mut s = connect(&n);
    let mut req =
        b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
            .to_vec();
    while req.len() < 14 * 1024 {
        req.extend_from_slice(b"X-T: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    s.write_all(&req).unwrap();
    let started = Instant::now();
    assert_eq!(status_of(&read_to_close(&mut s)), Some(431));
    assert!(started.elapsed() < Duration::from_secs(5));
    // Chunk extensions, each under the line limit, together past the head limit: 400.
    let mut s = connect(&n);
    let mut req = b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        req.extend_from_slice(b"1;");
        req.extend_from_slice(&[b'e'; 3500]);
        req.extend_from_slice(b"\r\nX\r\n");
    }
    s.write_all(&req).unwrap();
    assert_eq!(status_of(&read_to_close(&mut s)), Some(400));
}

#[test]
fn a_trickled_head_or_body_gets_408_at_its_deadline() {
    let n = node_with(
        "header_read_timeout_secs = 1\nmin_body_rate_bytes_per_sec = 1000\n",
        1,
    );
    // A connection that never sends anything is closed after the head's time, not kept for
    // the (310 s) idle time of a keep-alive client.
    let mut s = connect(&n);
    let started = Instant::now();
    assert!(read_to_close(&mut s).is_empty());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}");

    // One byte every 200 ms never completes a head: answered 408 once the head's deadline
    // (1 s after it started) passes, however often bytes arrive.
    let mut s = connect(&n);
    s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let (got, took) = trickle(&mut s, b"X");
    assert_eq!(
        status_of(&got),
        Some(408),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(took < Duration::from_secs(3), "{took:?}");

    // A body trickled at 20 bytes per 200 ms (100 B/s, under the 1000 B/s minimum): 408
    // once the 1 s grace and the bytes' allowance are spent.
    let mut s = connect(&n);
    s.write_all(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    let (got, took) = trickle(&mut s, &[b'b'; 20]);
    assert_eq!(
        status_of(&got),
        Some(408),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
}

/// Sends `piece` every 200 ms (for at most 6 s) from another thread while this one waits for
/// the server's answer; returns what came back and how long it took.
fn trickle(s: &mut TcpStream, piece: &[u8]) -> (Vec<u8>, Duration) {
    let mut w = s.try_clone().unwrap();
    let piece = piece.to_vec();
    let started = Instant::now();
    std::thread::spawn(move || {
        while started.elapsed() < Duration::from_secs(6) {
            std::thread::sleep(Duration::from_millis(200));
            if w.write_all(&piece).is_err() {
                return;
            }
        }
    });
    let mut got = vec![0u8; 4096];
    let k = s.read(&mut got).unwrap_or(0);
    got.truncate(k);
    (got, started.elapsed())
}

#[test]
fn connections_past_the_per_worker_limit_are_closed() {
    let n = node_with("max_connections_per_worker = 3\n", 1);
    let held: Vec<TcpStream> = (0..3).map(|_| connect(&n)).collect();
    std::thread::sleep(Duration::from_millis(200));
    // The fourth is closed at once, without an answer.
    let mut s = connect(&n);
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let started = Instant::now();
    assert!(read_to_close(&mut s).is_empty());
    assert!(started.elapsed() < Duration::from_secs(5));
    // Once one closes, there is room again.
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let r = n.get("localhost", "/nowhere");
    assert_eq!(r.status, 404);
}

#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit() {
    // Start the node with a low soft limit (inherited from this process).
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write one `rlimit` local.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
    }
    if lim.rlim_max <= 512 {
        eprintln!("hard open-file limit too low to test");
        return;
    }
    let saved = lim.rlim_cur;
    lim.rlim_cur = 512;
    // SAFETY: as above.
    unsafe { assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0) };
    let n = TestNode::start(&["--workers", "1"]);
    lim.rlim_cur = saved;
    // SAFETY: as above.
    unsafe { assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0) };
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", n.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let nums: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(nums[0], nums[1], "{line}");
    assert_eq!(nums[1], lim.rlim_max.to_string(), "{line}");
}

#[test]
fn request_bodies_share_a_memory_budget() {
    // One worker, 10 MiB for bodies.
    let n = node_with("body_memory_limit_mib = 10\n", 1);
    let big = 9 * 1024 * 1024;
    // A 9 MiB upload in progress holds 9 MiB of the budget...
    let mut a = connect(&n);
    a.write_all(format!("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: {big}\r\n\r\n").as_bytes())
        .unwrap();
    a.write_all(&vec![b'a'; 1024 * 1024]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // ...so a 2 MiB one is turned away, with a hint to retry.
    let mut b = connect(&n);
    b.write_all(b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2097152\r\n\r\n")
        .unwrap();
    let got = read_to_close(&mut b);
    let r = parse_response(&got).expect("an answer");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("Retry-After"), Some("1"));
    let rid = r.header("x-amzn-RequestId").unwrap().to_string();
    std::thread::sleep(Duration::from_millis(200));
    assert!(n
        .log()
        .lines()
        .any(|l| l.contains(&rid) && l.contains("budget")));
    // Once the first is served, its share comes back (its connection stays open).
    a.write_all(&vec![b'a'; big - 1024 * 1024]).unwrap();
    let mut buf = vec![0u8; 4096];
    let k = a.read(&mut buf).unwrap();
    assert_eq!(status_of(&buf[..k]), Some(404));
    let r = n.request("POST", "/b", &[], &vec![b'b'; 2 * 1024 * 1024]);
    assert_eq!(r.status, 404, "{}", r.text());
}

#[test]
fn dot_segments_are_resolved_before_routing() {
    let backend = EchoBackend::start();
    let n = TestNode::start(&["--workers", "1"]);
    let id = proxy_api(&n, &format!("http://{}", backend.addr));
    let form = |p: &str| format!("/restapis/{id}/dev/_user_request_{p}");
    let r = n.get("localhost", &form("/a/./b/../c"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/a/c");
    let r = n.get("localhost", &form("/a/%2e%2E/b"));
    assert_eq!(r.json()["path"], "/b");
    // Climbing out of the stage leaves the API's paths: never forwarded with `..`.
    let before = backend.count.load(Ordering::SeqCst);
    let r = n.get("localhost", &form("/a/../../etc/passwd"));
    assert_eq!(r.status, 404, "{}", r.text());
    // Climbing above the root is refused.
    let r = n.get("localhost", &form("/../../../../../etc/passwd"));
    assert_eq!(r.status, 400, "{}", r.text());
    let host = format!("{id}.execute-api.localhost");
    let r = n.get(&host, "/dev/../../etc/passwd");
    assert_eq!(r.status, 400, "{}", r.text());
    // So is a dot segment behind an encoded slash, which the backend might decode.
    let r = n.get("localhost", &form("/a/..%2f..%2fetc/passwd"));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(backend.count.load(Ordering::SeqCst), before);
}

/// A backend that answers the first request on each connection (keep-alive) and, on the
/// second, reads it and closes without answering, as a backend that crashed mid-request.
/// Counts requests by method.
struct ClosingBackend {
    addr: SocketAddr,
    gets: Arc<AtomicUsize>,
    posts: Arc<AtomicUsize>,
}

impl ClosingBackend {
    fn start() -> ClosingBackend {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let gets = Arc::new(AtomicUsize::new(0));
        let posts = Arc::new(AtomicUsize::new(0));
        let (g, p) = (gets.clone(), posts.clone());
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let (g, p) = (g.clone(), p.clone());
                std::thread::spawn(move || {
                    let mut s = s;
                    let mut buf = Vec::new();
                    for nth in 0.. {
                        let Some(method) = read_request(&mut s, &mut buf) else {
                            return;
                        };
                        let counter = if method == "POST" { &p } else { &g };
                        counter.fetch_add(1, Ordering::SeqCst);
                        if nth > 0 {
                            return; // read, never answered
                        }
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                    }
                });
            }
        });
        ClosingBackend { addr, gets, posts }
    }
}

/// Reads one request (head and Content-Length body); returns its method.
fn read_request(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    let mut tmp = [0u8; 4096];
    loop {
        let mut hs = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut hs);
        if let Ok(httparse::Status::Complete(n)) = req.parse(buf) {
            let len = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                .unwrap_or(0usize);
            let method = req.method?.to_string();
            while buf.len() < n + len {
                let k = s.read(&mut tmp).ok().filter(|&k| k > 0)?;
                buf.extend_from_slice(&tmp[..k]);
            }
            buf.drain(..n + len);
            return Some(method);
        }
        let k = s.read(&mut tmp).ok().filter(|&k| k > 0)?;
        buf.extend_from_slice(&tmp[..k]);
    }
}

#[test]
fn a_failed_reused_backend_connection_resends_only_idempotent_requests() {
    let backend = ClosingBackend::start();
    let n = TestNode::start(&["--workers", "1"]);
    // By name: resolved off the worker thread.
    let id = proxy_api(&n, &format!("http://localhost:{}", backend.addr.port()));
    let path = format!("/restapis/{id}/dev/_user_request_/x");
    // The first request leaves a pooled connection; a POST on it is read by the backend,
    // which then closes: the POST must not be sent again.
    assert_eq!(n.get("localhost", &path).status, 200);
    let r = n.request("POST", &path, &[], b"pay");
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(backend.posts.load(Ordering::SeqCst), 1);
    // A GET in the same situation is sent again on a fresh connection.
    assert_eq!(n.get("localhost", &path).status, 200);
    let gets = backend.gets.load(Ordering::SeqCst);
    let r = n.get("localhost", &path);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(backend.gets.load(Ordering::SeqCst), gets + 2);
}

#[test]
fn gateway_errors_are_logged_with_context_and_rate_limited() {
    let n = TestNode::start(&["--workers", "1"]);
    let id = proxy_api(&n, "http://127.0.0.1:9");
    let r = n.get(
        "localhost",
        &format!("/restapis/{id}/dev/_user_request_/dead"),
    );
    assert_eq!(r.status, 502);
    let rid = r.header("x-amzn-RequestId").unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        if let Some(l) = n.log().lines().find(|l| l.contains(&rid)) {
            break l.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no log line for {rid}: {}",
            n.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    for part in ["gateway error", &id, "dev", "GET", "502", "refused"] {
        assert!(line.contains(part), "{part} missing: {line}");
    }
    // A flood of them is not a flood of log lines.
    for _ in 0..40 {
        let r = n.get(
            "localhost",
            &format!("/restapis/{id}/dev/_user_request_/dead"),
        );
        assert_eq!(r.status, 502);
    }
    std::thread::sleep(Duration::from_millis(200));
    let lines = n.log().matches("gateway error").count();
    assert!(lines <= 25, "{lines} lines");
}

#[test]
fn sigterm_finishes_requests_in_progress_then_exits() {
    let backend = EchoBackend::start();
    let mut n = TestNode::start(&["--workers", "1"]);
    let id = proxy_api(&n, &format!("http://{}", backend.addr));
    // A keep-alive request that takes 3 s at the backend.
    let mut s = connect(&n);
    s.write_all(
        format!("GET /restapis/{id}/dev/_user_request_/slow HTTP/1.1\r\nHost: h\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    n.terminate();
    // It is answered in full, and told the connection closes.
    let got = read_to_close(&mut s);
    let r = parse_response(&got).expect("an answer, not a cut connection");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Connection"), Some("close"));
    // Then the process exits.
    let status = n.wait_exit(Duration::from_secs(10)).expect("node exits");
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_client_that_never_reads_is_dropped_after_the_write_timeout() {
    // One connection per worker: the second is served only once the first is gone.
    let n = node_with(
        "max_connections_per_worker = 1\nwrite_timeout_secs = 1\n",
        1,
    );
    let a = connect(&n);
    let mut w = a.try_clone().unwrap();
    // Far more answers than the socket buffers hold, never read.
    std::thread::spawn(move || {
        let batch = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n".repeat(1000);
        for _ in 0..100 {
            if w.write_all(&batch).is_err() {
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let served = loop {
        let mut s = connect(&n);
        let _ = s.write_all(b"GET /y HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        if status_of(&read_to_close(&mut s)) == Some(404) {
            break true;
        }
        if started.elapsed() > Duration::from_secs(8) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(served, "the stuck connection was never dropped");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let _ = a.shutdown(std::net::Shutdown::Both);
}

#[test]
fn out_of_descriptors_backs_off_and_logs_once_per_interval() {
    let n = TestNode::start(&["--workers", "1"]);
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", n.pid()))
            .unwrap()
            .count()
    };
    // Leave the node room for a few connections only.
    let limit = fds() + 4;
    let ok = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &n.pid().to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status();
    if !ok.is_ok_and(|s| s.success()) {
        eprintln!("prlimit unavailable: skipped");
        return;
    }
    let held: Vec<TcpStream> = (0..4).map(|_| connect(&n)).collect();
    std::thread::sleep(Duration::from_millis(300));
    // This one waits in the backlog: accept fails for lack of descriptors...
    let mut waiting = connect(&n);
    waiting
        .write_all(b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    // ...and so does every new one (a flood of clients).
    let mut flood = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        flood.push(connect(&n));
        std::thread::sleep(Duration::from_millis(5));
    }
    let lines = n.log().matches("accept failed").count();
    assert!((1..=2).contains(&lines), "{lines} log lines");
    // Once descriptors are free again the first in line is served (the backoff is at most
    // 1 s).
    drop(held);
    drop(flood);
    let got = read_to_close(&mut waiting);
    assert_eq!(status_of(&got), Some(404));
}

#[test]
fn large_bodies_are_not_kept_on_idle_keep_alive_connections() {
    let n = TestNode::start(&["--workers", "1"]);
    let rss_mib = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", n.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<usize>()
            .unwrap()
            / 1024
    };
    let before = rss_mib();
    let big = 9 * 1024 * 1024;
    let body = vec![b'a'; big];
    // Ten 9 MiB uploads, each on its own keep-alive connection that then stays open.
    let mut open = Vec::new();
    for _ in 0..10 {
        let mut s = connect(&n);
        s.write_all(
            format!("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: {big}\r\n\r\n").as_bytes(),
        )
        .unwrap();
        s.write_all(&body).unwrap();
        let mut buf = [0u8; 4096];
        let k = s.read(&mut buf).unwrap();
        assert_eq!(status_of(&buf[..k]), Some(404));
        open.push(s);
    }
    // Pinned buffers would be ~90 MiB; given back, one buffer's worth at most remains.
    let grown = rss_mib().saturating_sub(before);
    assert!(grown < 45, "RSS grew by {grown} MiB");
}
