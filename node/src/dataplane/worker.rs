//! Data-plane workers: one thread per core, each a monoio runtime (io_uring, or epoll where
//! io_uring is unavailable) with its own `SO_REUSEPORT` listener. A worker owns its state
//! outright (routing view, backend pool, response context); nothing on the request path is
//! shared with another thread except the read-mostly routing version counter.

use super::conn;
use super::ratelog::RateLog;
use super::respond::ResponseContext;
use super::snapshot::{LocalRoutes, SharedRoutes};
use super::upstream::UpstreamPool;
use monoio::net::{ListenerOpts, TcpListener};
use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connection timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// How long a connection may sit with no request in progress.
    pub idle: Duration,
    /// How long a client may take to send a whole request head once it started (a deadline,
    /// not a per-read timeout); also the grace a body upload gets before `min_body_rate`.
    pub header_read: Duration,
    /// How long a write to a client may stay blocked (a client that does not read).
    pub write: Duration,
    /// How long a TLS handshake may take, from accept to its end (a stalled or slow
    /// handshake is closed).
    pub tls_handshake: Duration,
    /// Slowest body upload accepted, in bytes per second, after the `header_read` grace.
    pub min_body_rate: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle: Duration::from_secs(310),
            header_read: Duration::from_secs(30),
            write: Duration::from_secs(30),
            tls_handshake: Duration::from_secs(10),
            min_body_rate: 1024,
        }
    }
}

/// Resource limits of the data plane.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Open client connections per worker; connections past it are closed at once.
    pub max_connections_per_worker: usize,
    /// Memory for request bodies, for the whole node (split evenly among workers). A request
    /// whose body does not fit is answered 503 with `Retry-After`.
    pub body_memory_bytes: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections_per_worker: 16 * 1024,
            body_memory_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// One worker's state, shared by the connections it serves (on its own thread only).
pub struct Worker {
    /// This worker's view of the routing table.
    pub routes: RefCell<LocalRoutes>,
    /// Idle backend connections.
    pub pool: RefCell<UpstreamPool>,
    /// Request ids and the date header.
    pub resp: RefCell<ResponseContext>,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// This worker's throttling buckets.
    pub limits: RefCell<super::throttle::WorkerLimits>,
    /// This worker's API-key usage counters.
    pub usage: RefCell<super::usage::UsageCounters>,
    /// This worker's response caches.
    pub cache: RefCell<super::cache::WorkerCache>,
    /// How many workers the node runs (a stage's cache budget is split among them).
    pub workers: usize,
    /// This worker's counters.
    pub metrics: Arc<super::metrics::WorkerMetrics>,
    /// The node's account-level limit, checked after every other throttle.
    pub account: Option<Arc<super::routing::ThrottleSpec>>,
    /// Open client connections.
    pub conns: Cell<usize>,
    /// TLS handshakes in progress (HTTPS listener).
    pub handshaking: Cell<usize>,
    /// Connections with a request in progress (received in part or in full, or an answer
    /// not yet written). Shutdown waits for this to reach zero.
    pub busy: Cell<usize>,
    /// Request-body memory this worker may still hand out, in bytes.
    pub body_budget: Cell<usize>,
    /// Set when the node shuts down: stop accepting, close keep-alive connections.
    pub draining: Arc<AtomicBool>,
    /// The Lambda functions this node runs.
    pub functions: Arc<crate::functions::Functions>,
    /// Rate limit of the log lines for answers the gateway makes itself (5xx).
    pub error_log: RefCell<RateLog>,
    /// Backend host names resolved off this thread.
    pub resolver: RefCell<super::resolve::Resolver>,
    /// The account, region and root credentials of `AWS_IAM` authorization.
    pub iam: Arc<crate::iam::IamEnv>,
    /// The authorization phase's reused buffers.
    pub auth: RefCell<super::phases::authorize::AuthScratch>,
    /// Where the spans of traced stages go.
    pub spans: Arc<crate::otlp::SpanSink>,
    /// Access log records not yet handed to the writer thread.
    pub access_log: RefCell<super::access_log::buffer::WorkerAccessLog>,
    /// This worker's per-API, stage, method and plan counters.
    pub series: Arc<super::api_metrics::WorkerSeries>,
}

impl Worker {
    /// Whether the node is shutting down.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// Settings of the data plane.
#[derive(Debug, Clone)]
pub struct DataPlaneConfig {
    /// Where to listen (port 0 picks a free port, shared by all workers).
    pub listen: SocketAddr,
    /// Where to listen for HTTPS (custom domain names); `None`: no HTTPS listener.
    pub tls_listen: Option<SocketAddr>,
    /// Number of worker threads.
    pub workers: usize,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// Where workers hand their API-key usage (the node's usage reporter).
    pub usage_sink: Option<mpsc::Sender<super::usage::UsageBatch>>,
    /// Where workers register their counters.
    pub metrics: Arc<super::metrics::Metrics>,
    /// The account-level limit (rate per second, burst), split across the cluster like
    /// every other limit (so every node should be configured with the same one).
    pub account_limit: Option<(f64, f64)>,
    /// The node's limit states and shares (the control thread keeps them current).
    pub limits: Arc<super::cluster_limits::ClusterLimits>,
    /// Connection and body-memory limits.
    pub conn_limits: ConnLimits,
    /// The account, region and root credentials of `AWS_IAM` authorization.
    pub iam: Arc<crate::iam::IamEnv>,
    /// The Lambda functions this node runs (AWS_PROXY integrations invoke them).
    pub functions: Arc<crate::functions::Functions>,
    /// Where the spans of stages with `tracingEnabled` go.
    pub spans: Arc<crate::otlp::SpanSink>,
    /// The access-log writer thread's queue (`None`: records are counted as dropped).
    pub access_log: Option<std::sync::mpsc::SyncSender<super::access_log::buffer::Batch>>,
    /// The roots `https://` backends are verified against.
    pub upstream_roots: Arc<rustls::RootCertStore>,
}

/// A running data plane.
pub struct DataPlane {
    /// The address the workers listen on.
    pub local_addr: SocketAddr,
    /// The address of the HTTPS listener, if there is one.
    pub tls_addr: Option<SocketAddr>,
    /// `io_uring` or `epoll`.
    pub driver: &'static str,
    /// Number of workers started.
    pub workers: usize,
    draining: Arc<AtomicBool>,
    drained: Arc<AtomicUsize>,
}

impl DataPlane {
    /// Starts a graceful shutdown: workers stop accepting, answer the requests in progress
    /// with `Connection: close` and close idle keep-alive connections.
    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether every worker has finished the requests it had in progress.
    pub fn drained(&self) -> bool {
        self.drained.load(Ordering::Acquire) >= self.workers
    }
}

/// Which I/O driver monoio's fusion driver will pick on this machine.
pub fn driver_name() -> &'static str {
    let forced = std::env::var_os("MONOIO_FORCE_LEGACY_DRIVER").is_some();
    if !forced && monoio::utils::detect_uring() {
        "io_uring"
    } else {
        "epoll"
    }
}

/// Starts the workers and returns once every one of them listens.
pub fn start(cfg: &DataPlaneConfig, routes: Arc<SharedRoutes>) -> io::Result<DataPlane> {
    let driver = driver_name();
    if driver == "epoll" {
        tracing::warn!("io_uring is unavailable (or MONOIO_FORCE_LEGACY_DRIVER is set): data-plane workers fall back to epoll");
    }
    let mut addr = cfg.listen;
    let mut tls_addr = cfg.tls_listen;
    for a in std::iter::once(addr).chain(tls_addr) {
        if a.port() != 0 {
            // SO_REUSEPORT would let us share a port with another process of ours by
            // mistake; a plain bind first tells whether the port is really free.
            drop(
                std::net::TcpListener::bind(a)
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {a}: {e}")))?,
            );
        }
    }
    raise_open_file_limit();
    let workers = cfg.workers.max(1);
    let draining = Arc::new(AtomicBool::new(false));
    let drained = Arc::new(AtomicUsize::new(0));
    let account = cfg.account_limit.map(|(rate, burst)| {
        // The id depends on the limit, so nodes configured alike report the same one.
        let id = 0x0acc_0acc_0000_0000 ^ rate.to_bits().rotate_left(17) ^ burst.to_bits();
        Arc::new(super::routing::ThrottleSpec::new(
            id,
            rate,
            burst,
            &cfg.limits,
        ))
    });
    for i in 0..workers {
        let (tx, rx) = mpsc::channel();
        let routes = routes.clone();
        let timeouts = cfg.timeouts;
        let limits = super::throttle::WorkerLimits::new(i, workers);
        let usage = super::usage::UsageCounters::new(i, cfg.usage_sink.clone());
        let metrics = cfg.metrics.register();
        let account = account.clone();
        let shared = WorkerShared {
            conn_limits: cfg.conn_limits,
            iam: cfg.iam.clone(),
            body_budget: cfg.conn_limits.body_memory_bytes / workers,
            draining: draining.clone(),
            drained: drained.clone(),
            functions: cfg.functions.clone(),
            spans: cfg.spans.clone(),
            access_log: super::access_log::buffer::WorkerAccessLog::new(
                cfg.access_log.clone(),
                cfg.metrics.access_log.clone(),
            ),
            series: cfg.metrics.api.register(),
            upstream_roots: cfg.upstream_roots.clone(),
        };
        std::thread::Builder::new()
            .name(format!("tollgate-w{i}"))
            .spawn(move || {
                run_worker(
                    (addr, tls_addr),
                    routes,
                    timeouts,
                    (limits, usage, workers, metrics, account),
                    shared,
                    tx,
                )
            })?;
        let (bound, tls_bound) = rx
            .recv()
            .map_err(|_| io::Error::other("data-plane worker died while starting"))??;
        // Port 0: the first worker's port is every other worker's.
        addr = bound;
        tls_addr = tls_bound;
    }
    Ok(DataPlane {
        local_addr: addr,
        tls_addr,
        driver,
        workers,
        draining,
        drained,
    })
}

/// Raises the soft limit on open files to the hard limit: each client connection and each
/// backend connection is a descriptor, and the usual soft default (1024) is far below what
/// a gateway holds open.
fn raise_open_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a pointer to a live, properly aligned
    // local; RLIMIT_NOFILE is a valid resource.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        tracing::warn!(error = %io::Error::last_os_error(), "cannot read the open-file limit");
        return;
    }
    if lim.rlim_cur >= lim.rlim_max {
        return;
    }
    let before = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads one `rlimit` from a live local; raising the soft limit up to
    // the hard limit is always permitted.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        tracing::warn!(error = %io::Error::last_os_error(), "cannot raise the open-file limit");
    } else {
        tracing::debug!(
            from = before,
            to = lim.rlim_max,
            "raised the open-file limit"
        );
    }
}

/// What every worker shares with the node.
struct WorkerShared {
    conn_limits: ConnLimits,
    iam: Arc<crate::iam::IamEnv>,
    body_budget: usize,
    draining: Arc<AtomicBool>,
    drained: Arc<AtomicUsize>,
    functions: Arc<crate::functions::Functions>,
    spans: Arc<crate::otlp::SpanSink>,
    access_log: super::access_log::buffer::WorkerAccessLog,
    series: Arc<super::api_metrics::WorkerSeries>,
    upstream_roots: Arc<rustls::RootCertStore>,
}

/// What `start` hands each worker thread.
type WorkerParts = (
    super::throttle::WorkerLimits,
    super::usage::UsageCounters,
    usize,
    Arc<super::metrics::WorkerMetrics>,
    Option<Arc<super::routing::ThrottleSpec>>,
);

fn run_worker(
    (addr, tls_addr): (SocketAddr, Option<SocketAddr>),
    routes: Arc<SharedRoutes>,
    timeouts: Timeouts,
    (limits, usage, workers, metrics, account): WorkerParts,
    shared: WorkerShared,
    ready: mpsc::Sender<io::Result<(SocketAddr, Option<SocketAddr>)>>,
) {
    // Cooperative task running: completions are processed when the worker next enters the
    // kernel instead of interrupting it with an IPI (kernel ≥ 5.19). Measured on the 2-core
    // loopback bench: 150k → 234k requests/s (docs/BENCHMARKS.md). Falls back to the plain ring.
    // `SINGLE_ISSUER` + `DEFER_TASKRUN` (completions processed only when the worker waits,
    // which monoio 0.2.4's park always does with GETEVENTS) was measured again on keep-alive
    // TLS and showed no gain over this (docs/BENCHMARKS.md), so it is not used.
    let mut urb = io_uring::IoUring::builder();
    urb.setup_coop_taskrun().setup_taskrun_flag();
    let rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .with_entries(1024)
        .uring_builder(urb)
        .build()
        .or_else(|_| {
            monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                .enable_timer()
                .with_entries(1024)
                .build()
        });
    let mut rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    rt.block_on(async move {
        let opts = ListenerOpts::new().reuse_port(true).backlog(4096);
        let listener = match TcpListener::bind_with_config(addr, &opts) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(io::Error::new(
                    e.kind(),
                    format!("cannot listen on {addr}: {e}"),
                )));
                return;
            }
        };
        let local = listener.local_addr().unwrap_or(addr);
        let tls_listener = match tls_addr.map(|a| (a, TcpListener::bind_with_config(a, &opts))) {
            None => None,
            Some((_, Ok(l))) => Some(l),
            Some((a, Err(e))) => {
                let _ = ready.send(Err(io::Error::new(
                    e.kind(),
                    format!("cannot listen on {a} (HTTPS): {e}"),
                )));
                return;
            }
        };
        let tls_local = tls_listener
            .as_ref()
            .map(|l| l.local_addr().ok().or(tls_addr).unwrap_or(local));
        let _ = ready.send(Ok((local, tls_local)));
        let worker = Rc::new(Worker {
            routes: RefCell::new(LocalRoutes::new(routes)),
            pool: RefCell::new(
                super::upstream_tls::Clients::new(shared.upstream_roots.clone())
                    .map(UpstreamPool::with_tls)
                    .unwrap_or_else(|e| {
                        tracing::error!(error = %e, "no TLS client for https:// backends");
                        UpstreamPool::default()
                    }),
            ),
            resp: RefCell::new(ResponseContext::new()),
            timeouts,
            limits: RefCell::new(limits),
            usage: RefCell::new(usage),
            cache: RefCell::new(Default::default()),
            workers,
            metrics,
            account,
            conns: Cell::new(0),
            handshaking: Cell::new(0),
            busy: Cell::new(0),
            body_budget: Cell::new(shared.body_budget),
            draining: shared.draining.clone(),
            functions: shared.functions.clone(),
            error_log: RefCell::new(RateLog::new(Duration::from_secs(1), 10)),
            resolver: RefCell::new(super::resolve::Resolver::default()),
            iam: shared.iam.clone(),
            auth: RefCell::new(Default::default()),
            spans: shared.spans.clone(),
            access_log: RefCell::new(shared.access_log),
            series: shared.series.clone(),
        });
        let flusher = worker.clone();
        monoio::spawn(async move {
            loop {
                monoio::time::sleep(super::usage::FLUSH_EVERY).await;
                let demand = flusher.limits.borrow_mut().take_demand();
                flusher.usage.borrow_mut().flush(demand);
                flusher.access_log.borrow_mut().flush();
            }
        });
        let max_conns = shared.conn_limits.max_connections_per_worker;
        if let Some(tls_listener) = tls_listener {
            let w = worker.clone();
            monoio::spawn(async move {
                accept_loop(&w, &tls_listener, max_conns, true).await;
            });
        }
        accept_loop(&worker, &listener, max_conns, false).await;
        drop(listener);
        // Shutting down: report once no connection has a request in progress, then keep
        // serving what is left until the process exits.
        while worker.busy.get() > 0 {
            monoio::time::sleep(Duration::from_millis(10)).await;
        }
        shared.drained.fetch_add(1, Ordering::Release);
        std::future::pending::<()>().await;
    });
}

/// TLS handshakes one worker runs at once; connections past it are closed at once, so a
/// flood of handshakes (each costs a key exchange and a signature) cannot take the worker's
/// time and memory from the connections it already serves. Each has a deadline too
/// ([`Timeouts::tls_handshake`]).
pub const MAX_HANDSHAKES_PER_WORKER: usize = 256;

/// Accepts connections until the node starts draining (`tls`: the HTTPS listener).
async fn accept_loop(worker: &Rc<Worker>, listener: &TcpListener, max_conns: usize, tls: bool) {
    // Accept failures (out of descriptors, mostly) repeat as fast as the loop runs: back off
    // exponentially and log once per interval with a count.
    let mut failures = RateLog::new(Duration::from_secs(10), 1);
    let mut refusals = RateLog::new(Duration::from_secs(10), 1);
    let min_backoff = Duration::from_millis(10);
    let mut backoff = min_backoff;
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => Some(r),
            _ = wait_for_drain(&worker.draining) => None,
        };
        let Some(result) = accepted else { return };
        match result {
            Ok((stream, peer)) => {
                backoff = min_backoff;
                if tls && worker.handshaking.get() >= MAX_HANDSHAKES_PER_WORKER {
                    drop(stream);
                    if let Some(left_out) = refusals.allow(Instant::now()) {
                        tracing::warn!(
                            limit = MAX_HANDSHAKES_PER_WORKER,
                            refused_since_last = left_out,
                            "TLS connection refused: the worker has this many handshakes in progress"
                        );
                    }
                    continue;
                }
                if worker.conns.get() >= max_conns {
                    // Over the limit: closing at once costs less than queueing, and the
                    // client can retry (another worker may have room).
                    drop(stream);
                    if let Some(left_out) = refusals.allow(Instant::now()) {
                        tracing::warn!(
                            limit = max_conns,
                            refused_since_last = left_out,
                            "connection refused: the worker is at max_connections_per_worker"
                        );
                    }
                    continue;
                }
                let _ = stream.set_nodelay(true);
                worker.conns.set(worker.conns.get() + 1);
                worker.metrics.open_connections(worker.conns.get());
                if tls {
                    monoio::spawn(super::tls::serve(worker.clone(), stream, peer.ip()));
                } else {
                    monoio::spawn(conn::serve(worker.clone(), stream, peer.ip(), None));
                }
            }
            Err(e) => {
                if let Some(left_out) = failures.allow(Instant::now()) {
                    tracing::warn!(
                        error = %e,
                        failures_since_last = left_out,
                        backoff_ms = backoff.as_millis() as u64,
                        "accept failed; backing off"
                    );
                }
                monoio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

async fn wait_for_drain(flag: &AtomicBool) {
    while !flag.load(Ordering::Relaxed) {
        monoio::time::sleep(Duration::from_millis(50)).await;
    }
}
