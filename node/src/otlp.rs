//! Span export to an OpenTelemetry collector over OTLP/HTTP (JSON encoding), on a thread of its
//! own. Workers hand finished spans to a bounded queue and never wait: when the queue is full
//! (the collector is slow or away) spans are dropped and counted, never the request delayed.
//! The exporter sends a batch when it holds [`BATCH`] spans or [`FLUSH_EVERY`] has passed.

use crate::dataplane::trace::{otlp_json, Span};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Spans per export request, at most.
pub const BATCH: usize = 512;
/// A partial batch is sent after this long.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Requests (of one or two spans each) the queue holds before dropping.
const QUEUE: usize = 8192;
/// Connect, write and read limit of one export.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a collector listens: `http://host:port/path` (the OTLP/HTTP traces path is
/// `/v1/traces`; given without a path, that is used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`, resolved by the exporter thread.
    pub authority: String,
    /// The request target.
    pub path: String,
}

impl Endpoint {
    /// Parses an endpoint URL. `https://` is refused (the exporter speaks plain HTTP: put a
    /// collector or agent on the node's loopback), as is anything else not understood.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(format!(
                "otlp_endpoint {url:?}: only http:// collector URLs are supported (run a collector or agent next to the node)"
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/v1/traces"),
        };
        let path = if path == "/" { "/v1/traces" } else { path };
        let valid = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_graphic() && !matches!(b, b'@' | b'?' | b'#'))
        };
        if !valid(authority) || !authority.contains(':') || !valid(path) {
            return Err(format!(
                "otlp_endpoint {url:?}: expected http://host:port[/path], e.g. http://127.0.0.1:4318/v1/traces"
            ));
        }
        Ok(Endpoint {
            authority: authority.to_string(),
            path: path.to_string(),
        })
    }
}

/// Counters of the exporter, for logs and metrics.
#[derive(Debug, Default)]
pub struct ExportStats {
    /// Spans the collector accepted.
    pub exported: AtomicU64,
    /// Spans dropped: queue full, or the collector refused or could not be reached.
    pub dropped: AtomicU64,
}

/// The workers' side: hands spans to the exporter without waiting.
#[derive(Debug)]
pub struct SpanSink {
    tx: Option<SyncSender<Vec<Span>>>,
    /// The exporter's counters.
    pub stats: Arc<ExportStats>,
}

impl SpanSink {
    /// A sink that exports nothing (no collector configured): traced requests still carry
    /// their context to backends; spans are not recorded.
    pub fn disabled() -> Self {
        SpanSink {
            tx: None,
            stats: Arc::default(),
        }
    }

    /// Whether spans go anywhere.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues spans for export; drops (and counts) them when the queue is full.
    pub fn send(&self, spans: Vec<Span>) {
        let Some(tx) = &self.tx else {
            return;
        };
        let n = spans.len() as u64;
        match tx.try_send(spans) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(n, Relaxed);
            }
        }
    }
}

/// Starts the exporter thread for `endpoint`; `instance` names this node in the spans'
/// resource (`service.instance.id`).
pub fn start(endpoint: Endpoint, instance: String) -> std::io::Result<SpanSink> {
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    let stats = Arc::new(ExportStats::default());
    let s = stats.clone();
    std::thread::Builder::new()
        .name("tollgate-otlp".into())
        .spawn(move || run(rx, &endpoint, &instance, &s))?;
    Ok(SpanSink {
        tx: Some(tx),
        stats,
    })
}

fn run(rx: Receiver<Vec<Span>>, endpoint: &Endpoint, instance: &str, stats: &ExportStats) {
    let mut batch: Vec<Span> = Vec::with_capacity(BATCH);
    let mut since = Instant::now();
    let mut last_warning: Option<Instant> = None;
    loop {
        let wait = FLUSH_EVERY.saturating_sub(since.elapsed());
        let closed = match rx.recv_timeout(wait) {
            Ok(spans) => {
                batch.extend(spans);
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        let due = since.elapsed() >= FLUSH_EVERY || closed;
        if batch.len() >= BATCH || (due && !batch.is_empty()) {
            let n = batch.len() as u64;
            match post(endpoint, &otlp_json(&batch, instance)) {
                Ok(()) => {
                    stats.exported.fetch_add(n, Relaxed);
                }
                Err(e) => {
                    stats.dropped.fetch_add(n, Relaxed);
                    // At most one warning every 10 s: a collector that is away is one problem.
                    if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        last_warning = Some(Instant::now());
                        tracing::warn!(
                            endpoint = %format!("http://{}{}", endpoint.authority, endpoint.path),
                            dropped_total = stats.dropped.load(Relaxed),
                            "span export failed: {e}"
                        );
                    }
                }
            }
            batch.clear();
        }
        if due {
            since = Instant::now();
        }
        if closed {
            return;
        }
    }
}

fn resolve(authority: &str) -> std::io::Result<SocketAddr> {
    authority.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the collector's name did not resolve",
        )
    })
}

/// One export request; Ok when the collector answered 2xx.
fn post(endpoint: &Endpoint, body: &[u8]) -> Result<(), String> {
    let addr = resolve(&endpoint.authority).map_err(|e| e.to_string())?;
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| e.to_string())?;
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        endpoint.path,
        endpoint.authority,
        body.len()
    );
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    s.write_all(body).map_err(|e| e.to_string())?;
    // The status line is all we need; read a bounded amount.
    let mut buf = [0u8; 256];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(e.to_string()),
        }
    }
    let line = &buf[..n];
    let status = line
        .get(9..12)
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(()),
        Some(code) => Err(format!("the collector answered {code}")),
        None => Err("the collector's answer was not HTTP".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::trace::SpanKind;

    fn span(trace: u8, name: &str) -> Span {
        Span {
            trace_id: [trace; 16],
            span_id: [2; 8],
            parent: None,
            kind: SpanKind::Server,
            name: name.into(),
            start_ns: 1,
            end_ns: 2,
            status: 200,
            attributes: Vec::new(),
        }
    }

    #[test]
    fn endpoints_are_checked() {
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:4318").unwrap(),
            Endpoint {
                authority: "127.0.0.1:4318".into(),
                path: "/v1/traces".into()
            }
        );
        assert_eq!(
            Endpoint::parse("http://collector:4318/custom/traces")
                .unwrap()
                .path,
            "/custom/traces"
        );
        for bad in [
            "https://127.0.0.1:4318/v1/traces",
            "127.0.0.1:4318",
            "http://127.0.0.1/v1/traces",
            "http://user@host:1/",
            "http://",
            "http://h:1/a b",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (tx, _rx) = mpsc::sync_channel(1);
        let sink = SpanSink {
            tx: Some(tx),
            stats: Arc::default(),
        };
        sink.send(Vec::new());
        let span = span(1, "GET /");
        sink.send(vec![span.clone(), span]);
        assert_eq!(sink.stats.dropped.load(Relaxed), 2);
        assert!(!SpanSink::disabled().enabled());
    }

    #[test]
    fn batches_reach_a_collector_and_failures_are_counted() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let got = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head and the body (Content-Length).
            loop {
                let n = c.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_string();
                if let Some(i) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .unwrap()
                        .parse()
                        .unwrap();
                    if req.len() >= i + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .unwrap();
            String::from_utf8(req).unwrap()
        });
        let sink = start(
            Endpoint::parse(&format!("http://{addr}/v1/traces")).unwrap(),
            "n1".into(),
        )
        .unwrap();
        sink.send(vec![span(0xab, "GET /pets")]);
        let req = got.join().unwrap();
        assert!(req.starts_with("POST /v1/traces HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("Content-Type: application/json"));
        assert!(req.contains(&"ab".repeat(16)));
        let t0 = Instant::now();
        while sink.stats.exported.load(Relaxed) == 0 && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(sink.stats.exported.load(Relaxed), 1);
        // Nobody listens any more: the next batch is dropped and counted.
        sink.send(vec![span(3, "GET /gone")]);
        let t0 = Instant::now();
        while sink.stats.dropped.load(Relaxed) == 0 && t0.elapsed() < Duration::from_secs(8) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(sink.stats.dropped.load(Relaxed), 1);
    }
}
