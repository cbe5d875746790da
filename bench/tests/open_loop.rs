//! The generator against small servers on 127.0.0.1: a stall shows in the corrected latency
//! and not in the uncorrected one, and the achieved count matches what the server counted.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tollgate_bench::client::{self, LoadConfig};
use tollgate_bench::http::Target;
use tollgate_bench::report::Report;
use tollgate_bench::schedule::{Schedule, Spread};

/// A thread-per-connection keep-alive server. Before answering, each request waits out a
/// stall if one is in progress; the first request after `stall_after` starts a stall of
/// `stall_for` (once). Counts requests.
struct TestServer {
    url: String,
    count: Arc<AtomicU64>,
}

fn server(stall_after: Option<Duration>, stall_for: Duration) -> TestServer {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x", l.local_addr().unwrap());
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let stall: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None)); // stall ends at
    let c2 = count.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let (count, stall) = (c2.clone(), stall.clone());
            std::thread::spawn(move || serve(s, &count, &stall, started, stall_after, stall_for));
        }
    });
    TestServer { url, count }
}

fn serve(
    mut s: TcpStream,
    count: &AtomicU64,
    stall: &Mutex<Option<Instant>>,
    started: Instant,
    stall_after: Option<Duration>,
    stall_for: Duration,
) {
    let _ = s.set_nodelay(true);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        buf.drain(..end + 4);
        count.fetch_add(1, Ordering::SeqCst);
        let until = {
            let mut st = stall.lock().unwrap();
            if st.is_none() && stall_after.is_some_and(|a| started.elapsed() >= a) {
                *st = Some(Instant::now() + stall_for);
            }
            *st
        };
        if let Some(u) = until {
            let now = Instant::now();
            if u > now {
                std::thread::sleep(u - now);
            }
        }
        if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .is_err()
        {
            return;
        }
    }
}

fn load(url: &str, schedule: Schedule, connections: usize, threads: usize) -> Report {
    let cfg = LoadConfig {
        targets: vec![Target::parse(url).unwrap()],
        schedule: schedule.clone(),
        spread: Spread::RoundRobin,
        connections,
        threads,
        timeout: Duration::from_secs(3),
        cpus: Vec::new(),
        progress: false,
    };
    let rec = client::run(&cfg).unwrap();
    Report::new(url, &schedule, &rec)
}

#[test]
fn a_stall_shows_in_corrected_latency_only() {
    // 1000 requests/s for 3 s over 4 connections; the server stalls for 1 s once, at 1 s.
    let srv = server(Some(Duration::from_millis(1000)), Duration::from_secs(1));
    let rep = load(&srv.url, Schedule::constant(1000.0, 3.0).unwrap(), 4, 1);
    let t = &rep.total;
    assert_eq!(t.responses, 3000, "{}", rep.table());
    assert_eq!(t.errors + t.timeouts + t.unsent, 0);
    // About a third of the requests were due during the stall: they waited up to 1 s.
    assert!(t.corrected_us.p99 > 500_000.0, "{}", rep.table());
    assert!(t.corrected_us.max > 900_000.0, "{}", rep.table());
    // Measured from the actual send only the 4 requests in flight saw the stall (the bound
    // leaves room for a loaded test machine; the stall itself is 1 s).
    assert!(t.uncorrected_us.p99 < 200_000.0, "{}", rep.table());
    assert!(t.uncorrected_us.max > 900_000.0, "{}", rep.table());
    // The per-second view puts the stall in second 1.
    assert!(
        rep.seconds[1].corrected_us.p50 > 100_000.0,
        "{}",
        rep.table()
    );
    assert!(
        rep.seconds[0].corrected_us.p50 < 50_000.0,
        "{}",
        rep.table()
    );
    // After the stall the backlog drains (1 000 requests over 4 connections, tens of ms on
    // a loaded machine) and latency returns: far below the stalled second's.
    assert!(
        rep.seconds[2].corrected_us.p99 < 250_000.0,
        "{}",
        rep.table()
    );
}

#[test]
fn achieved_rate_matches_the_servers_count() {
    let srv = server(None, Duration::ZERO);
    let rep = load(
        &srv.url,
        Schedule::spike(500.0, 4.0, 0.5, 1.0, 0.5).unwrap(),
        8,
        2,
    );
    let served = srv.count.load(Ordering::SeqCst);
    let t = &rep.total;
    assert_eq!(t.offered, 250 + 2000 + 250);
    assert_eq!(t.responses, served, "{}", rep.table());
    assert_eq!(t.status_2xx, served);
    assert_eq!(t.errors + t.timeouts + t.unsent, 0);
    // Achieved rate over the run = the server's count over the schedule's length, within the
    // responses that arrive after the schedule ends (at most one per connection).
    let served_rate = served as f64 / rep.duration_s;
    assert!(
        (t.achieved_rate - served_rate).abs() <= 8.0 / rep.duration_s + 1e-9,
        "achieved {} vs served {served_rate}",
        t.achieved_rate
    );
    let spike = &rep.phases[1];
    assert!(
        (spike.achieved_rate - 2000.0).abs() < 100.0,
        "{}",
        rep.table()
    );
}

#[test]
fn errors_are_counted_when_nothing_listens() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let rep = load(&url, Schedule::constant(200.0, 0.5).unwrap(), 2, 1);
    assert_eq!(rep.total.offered, 100);
    assert_eq!(rep.total.errors, 100);
    assert_eq!(rep.total.responses, 0);
}

#[test]
fn the_limit_server_answers_keep_alive_and_pipelined() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    std::thread::spawn(move || tollgate_bench::limit::serve(addr, 1, &[]));
    let until = Instant::now() + Duration::from_secs(5);
    let mut s = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("{e}"),
        }
    };
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let one = tollgate_bench::limit::response();
    let mut got = vec![0u8; one.len() * 2];
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got[..one.len()], &one[..]);
    assert_eq!(&got[one.len()..], &one[..]);
    // And the generator measures it.
    let rep = load(
        &format!("http://{addr}/"),
        Schedule::constant(2000.0, 0.5).unwrap(),
        4,
        1,
    );
    assert_eq!(rep.total.status_2xx, 1000, "{}", rep.table());
}
