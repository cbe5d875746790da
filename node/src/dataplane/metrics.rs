//! Data-plane counters in Prometheus text format. Each worker owns its counters and is their
//! only writer (plain loads and stores, no locked instructions); a scrape sums every worker's.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// One worker's counters, on their own cache lines.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct WorkerMetrics {
    requests: AtomicU64,
    status_2xx: AtomicU64,
    status_4xx: AtomicU64,
    status_5xx: AtomicU64,
    throttled: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    open_connections: AtomicU64,
    tls_handshakes: AtomicU64,
    tls_handshake_failures: AtomicU64,
}

fn bump(c: &AtomicU64) {
    // Single writer: a load and a store suffice.
    c.store(c.load(Relaxed) + 1, Relaxed);
}

impl WorkerMetrics {
    /// Counts an answer with this status.
    pub fn answered(&self, status: u16) {
        bump(&self.requests);
        match status {
            200..=299 => bump(&self.status_2xx),
            429 => {
                bump(&self.status_4xx);
                bump(&self.throttled);
            }
            400..=499 => bump(&self.status_4xx),
            500..=599 => bump(&self.status_5xx),
            _ => {}
        }
    }

    /// Counts a cache hit.
    pub fn cache_hit(&self) {
        bump(&self.cache_hits);
    }

    /// Counts a cache miss.
    pub fn cache_miss(&self) {
        bump(&self.cache_misses);
    }

    /// Sets the worker's count of open client connections.
    pub fn open_connections(&self, n: usize) {
        self.open_connections.store(n as u64, Relaxed);
    }

    /// Counts a finished TLS handshake (`ok`: completed, else failed or timed out).
    pub fn tls_handshake(&self, ok: bool) {
        bump(if ok {
            &self.tls_handshakes
        } else {
            &self.tls_handshake_failures
        });
    }
}

/// Every worker's counters, for scraping.
#[derive(Debug, Default)]
pub struct Metrics {
    workers: Mutex<Vec<Arc<WorkerMetrics>>>,
    /// The access log's counters (written by the workers and the writer thread).
    pub access_log: Arc<super::access_log::AccessLogStats>,
    /// Per API, stage, method and plan.
    pub api: super::api_metrics::ApiMetrics,
    /// How usage reports keep up.
    pub usage_reports: Arc<crate::usage_reporter::ReportStats>,
}

impl Metrics {
    /// Adds a worker's counters (at start; workers never take this lock afterwards).
    pub fn register(&self) -> Arc<WorkerMetrics> {
        let m = Arc::new(WorkerMetrics::default());
        self.workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(m.clone());
        m
    }

    /// The counters in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        let sum = |f: fn(&WorkerMetrics) -> &AtomicU64| -> u64 {
            workers.iter().map(|w| f(w).load(Relaxed)).sum()
        };
        let mut out = String::new();
        let rows: [(&str, &str, u64); 11] = [
            (
                "tollgate_requests_total",
                "Requests answered by the data plane.",
                sum(|w| &w.requests),
            ),
            (
                "tollgate_2xx_total",
                "Answers with a 2xx status.",
                sum(|w| &w.status_2xx),
            ),
            (
                "tollgate_4xx_total",
                "Answers with a 4xx status (API Gateway's 4XXError).",
                sum(|w| &w.status_4xx),
            ),
            (
                "tollgate_5xx_total",
                "Answers with a 5xx status (API Gateway's 5XXError).",
                sum(|w| &w.status_5xx),
            ),
            (
                "tollgate_throttled_total",
                "Requests refused with 429 (throttle or quota).",
                sum(|w| &w.throttled),
            ),
            (
                "tollgate_cache_hits_total",
                "Answers served from a stage cache (CacheHitCount).",
                sum(|w| &w.cache_hits),
            ),
            (
                "tollgate_cache_misses_total",
                "Cacheable requests sent to the backend (CacheMissCount).",
                sum(|w| &w.cache_misses),
            ),
            (
                "tollgate_access_log_records_total",
                "Access log records written.",
                self.access_log.written.load(Relaxed),
            ),
            (
                "tollgate_access_log_dropped_total",
                "Access log records dropped (the writer fell behind, or could not write).",
                self.access_log.dropped.load(Relaxed),
            ),
            (
                "tollgate_tls_handshakes_total",
                "TLS handshakes completed on the HTTPS listener.",
                sum(|w| &w.tls_handshakes),
            ),
            (
                "tollgate_tls_handshake_failures_total",
                "TLS handshakes that failed or timed out.",
                sum(|w| &w.tls_handshake_failures),
            ),
        ];
        for (name, help, v) in rows {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        let open = sum(|w| &w.open_connections);
        let _ = writeln!(
            out,
            "# HELP tollgate_open_connections Open client connections.\n# TYPE tollgate_open_connections gauge\ntollgate_open_connections {open}"
        );
        drop(workers);
        self.api.render(super::api_metrics::series(), &mut out);
        out
    }
}

/// The status code of the answer that starts at `at` in `out` (`HTTP/1.1 NNN …`).
pub fn status_at(out: &[u8], at: usize) -> Option<u16> {
    let s = out.get(at + 9..at + 12)?;
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders() {
        let m = Metrics::default();
        let a = m.register();
        let b = m.register();
        a.answered(200);
        b.answered(429);
        b.answered(503);
        a.cache_hit();
        let text = m.render();
        assert!(text.contains("tollgate_requests_total 3\n"), "{text}");
        assert!(text.contains("tollgate_throttled_total 1\n"));
        assert!(text.contains("tollgate_4xx_total 1\n"));
        assert!(text.contains("tollgate_5xx_total 1\n"));
        assert!(text.contains("tollgate_cache_hits_total 1\n"));
        assert_eq!(status_at(b"xxHTTP/1.1 404 Not Found", 2), Some(404));
        assert_eq!(status_at(b"HTTP/1.1", 0), None);
    }
}
