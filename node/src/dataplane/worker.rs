//! Data-plane workers: one thread per core, each a monoio runtime (io_uring, or epoll where
//! io_uring is unavailable) with its own `SO_REUSEPORT` listener. A worker owns its state
//! outright (routing view, backend pool, response context); nothing on the request path is
//! shared with another thread except the read-mostly routing version counter.

use super::conn;
use super::respond::ResponseContext;
use super::snapshot::{LocalRoutes, SharedRoutes};
use super::upstream::UpstreamPool;
use monoio::net::{ListenerOpts, TcpListener};
use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// Connection timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// How long a connection may sit with no request in progress.
    pub idle: Duration,
    /// How long a client may take to send a request head once it started.
    pub header_read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle: Duration::from_secs(310),
            header_read: Duration::from_secs(30),
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
}

/// Settings of the data plane.
#[derive(Debug, Clone)]
pub struct DataPlaneConfig {
    /// Where to listen (port 0 picks a free port, shared by all workers).
    pub listen: SocketAddr,
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
}

/// A running data plane.
pub struct DataPlane {
    /// The address the workers listen on.
    pub local_addr: SocketAddr,
    /// `io_uring` or `epoll`.
    pub driver: &'static str,
    /// Number of workers started.
    pub workers: usize,
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
    if addr.port() != 0 {
        // SO_REUSEPORT would let us share a port with another process of ours by mistake;
        // a plain bind first tells whether the port is really free.
        drop(
            std::net::TcpListener::bind(addr)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?,
        );
    }
    let workers = cfg.workers.max(1);
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
        std::thread::Builder::new()
            .name(format!("tollgate-w{i}"))
            .spawn(move || {
                run_worker(
                    addr,
                    routes,
                    timeouts,
                    (limits, usage, workers, metrics, account),
                    tx,
                )
            })?;
        let bound = rx
            .recv()
            .map_err(|_| io::Error::other("data-plane worker died while starting"))??;
        addr = bound;
    }
    Ok(DataPlane {
        local_addr: addr,
        driver,
        workers,
    })
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
    addr: SocketAddr,
    routes: Arc<SharedRoutes>,
    timeouts: Timeouts,
    (limits, usage, workers, metrics, account): WorkerParts,
    ready: mpsc::Sender<io::Result<SocketAddr>>,
) {
    // Cooperative task running: completions are processed when the worker next enters the
    // kernel instead of interrupting it with an IPI (kernel ≥ 5.19). Measured on the 2-core
    // loopback bench: 150k → 234k requests/s (docs/BENCHMARKS.md). Falls back to the plain ring.
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
        let _ = ready.send(Ok(local));
        let worker = Rc::new(Worker {
            routes: RefCell::new(LocalRoutes::new(routes)),
            pool: RefCell::new(UpstreamPool::default()),
            resp: RefCell::new(ResponseContext::new()),
            timeouts,
            limits: RefCell::new(limits),
            usage: RefCell::new(usage),
            cache: RefCell::new(Default::default()),
            workers,
            metrics,
            account,
        });
        let flusher = worker.clone();
        monoio::spawn(async move {
            loop {
                monoio::time::sleep(super::usage::FLUSH_EVERY).await;
                let demand = flusher.limits.borrow_mut().take_demand();
                flusher.usage.borrow_mut().flush(demand);
            }
        });
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    monoio::spawn(conn::serve(worker.clone(), stream, peer.ip()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    monoio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    });
}
