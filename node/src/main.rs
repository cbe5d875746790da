//! The `tollgate` binary.

#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;
use tollgate_node::config::{self, Cli, Command, Config, CredentialSource};
use tollgate_node::dataplane::cluster_limits::ClusterLimits;
use tollgate_node::dataplane::{snapshot::SharedRoutes, worker};
use tollgate_node::{admin, control};

/// Where this node's data plane is reached, for invoke URLs: its listening address, with
/// loopback for an unspecified (`0.0.0.0`, `::`) one.
fn invoke_address(addr: std::net::SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        if addr.is_ipv4() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
        }
    } else {
        addr.ip()
    };
    std::net::SocketAddr::new(ip, addr.port()).to_string()
}

/// The log filter unless `TOLLGATE_LOG` sets one: openraft's own INFO lines (whole Raft state
/// dumps at every change) are for debugging it, not for operating a node.
const DEFAULT_LOG: &str = "info,openraft=warn";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => match Config::resolve(&args, |k| std::env::var(k).ok()) {
            Ok(cfg) => {
                init_logging(cfg.log_format);
                serve(&args, cfg)
            }
            Err(e) => Err(e.to_string()),
        },
        Command::Cluster(cmd) => {
            init_logging(config::LogFormat::Text);
            tollgate_node::cluster_cli::run(cmd)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The node's own log lines on stderr: text (colour only at a terminal) or one JSON object a
/// line (`--log-format json`, for log shippers); `TOLLGATE_LOG` filters them.
fn init_logging(format: config::LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG")
        .unwrap_or_else(|_| DEFAULT_LOG.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        config::LogFormat::Json => builder.json().with_ansi(false).init(),
        // Colour codes only for a person at a terminal, not in files and pipes.
        config::LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

fn serve(args: &config::ServeArgs, mut cfg: Config) -> Result<(), String> {
    // Startup phases are logged with the time since this point (restart time, issue 14).
    let started = std::time::Instant::now();
    let since_start = move || started.elapsed().as_millis() as u64;
    tollgate_consensus::raft::startup::private_dir(&cfg.data_dir)
        .map_err(|e| format!("cannot create data folder {}: {e}", cfg.data_dir.display()))?;
    let mut kept = None;
    if cfg.credential_source == CredentialSource::DataDir {
        let c = config::data_dir_credentials(&cfg.data_dir)
            .map_err(|e| format!("admin credentials: {e}"))?;
        cfg.credentials = vec![c.credentials.clone()];
        kept = Some(c);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("control runtime: {e}"))?;
    rt.block_on(async move {
        // JWT authorizers' issuers: configured before routes compile (they register them),
        // their keys fetched by a task of this thread, never by a data-plane worker.
        tollgate_node::jwks::registry().configure(cfg.jwt.clone());
        tokio::spawn(tollgate_node::jwks::run(tollgate_node::jwks::registry()));
        let routes = Arc::new(SharedRoutes::default());
        let limits = Arc::new(ClusterLimits::new(cfg.cluster.node_id));
        let compiler = tollgate_node::compiler::Compiler::new(routes.clone(), limits.clone());
        let node = control::open_cluster(&cfg.data_dir, &cfg.cluster, compiler.clone()).await?;
        tracing::info!(ms = since_start(), "startup: cluster node open");
        control::catch_up_before_serving(&node, &compiler).await;
        tracing::info!(
            ms = since_start(),
            "startup: caught up and tables published"
        );
        let metrics = Arc::new(tollgate_node::dataplane::metrics::Metrics::default());
        let (usage_tx, usage_rx) = std::sync::mpsc::channel();
        let access_log = tollgate_node::dataplane::access_log::writer::start(
            cfg.access_log.clone(),
            metrics.access_log.clone(),
        )
        .map_err(|e| format!("access log: {e}"))?;
        tokio::spawn(tollgate_node::usage_reporter::run(
            node.clone(),
            usage_rx,
            limits.clone(),
            metrics.usage_reports.clone(),
        ));
        tokio::spawn(control::recompile_keys_daily(compiler.clone()));
        tokio::spawn(tollgate_node::ticket_rotation::run(
            node.clone(),
            cfg.tls_ticket_rotation,
        ));
        let functions = tollgate_node::functions::Functions::start(
            std::mem::take(&mut cfg.functions),
            cfg.region.clone(),
        )
        .map_err(|e| format!("functions: {e}"))?;
        let dp = worker::start(
            &worker::DataPlaneConfig {
                listen: cfg.listen,
                tls_listen: cfg.tls_listen,
                workers: cfg.workers,
                timeouts: cfg.timeouts,
                usage_sink: Some(usage_tx),
                metrics: metrics.clone(),
                account_limit: cfg.account_limit,
                limits,
                conn_limits: cfg.conn_limits,
                iam: Arc::new(tollgate_node::iam::IamEnv::new(
                    cfg.region.as_deref(),
                    &cfg.account_id,
                    cfg.credentials.clone(),
                )),
                functions: functions.clone(),
                spans: Arc::new(match cfg.otlp_endpoint.clone() {
                    Some(e) => {
                        tollgate_node::otlp::start(e, format!("node-{}", cfg.cluster.node_id))
                            .map_err(|e| format!("span exporter: {e}"))?
                    }
                    None => tollgate_node::otlp::SpanSink::disabled(),
                }),
                access_log: Some(access_log),
                upstream_roots: cfg.upstream_roots.clone(),
            },
            routes,
        )
        .map_err(|e| format!("data plane: {e}"))?;
        tracing::info!(ms = since_start(), "startup: data plane serving");
        // The workers are started at the default priority: now the control thread (Raft's
        // heartbeats and election timer) asks to be scheduled ahead of them.
        tollgate_node::sched::raise_control_thread();
        let listener = tokio::net::TcpListener::bind(cfg.admin_listen)
            .await
            .map_err(|e| format!("cannot listen on {} (admin API): {e}", cfg.admin_listen))?;
        let admin_addr = listener
            .local_addr()
            .map_err(|e| format!("admin API: {e}"))?;
        print_banner(&cfg, args, kept.as_ref(), &dp, admin_addr, &node);
        let mut state =
            admin::AdminState::new(node.clone(), cfg.credentials.clone(), cfg.region.clone());
        state.metrics = Some(metrics);
        state.account_id = cfg.account_id.clone();
        state.account_limit = cfg.account_limit;
        state.compiler = Some(compiler);
        state.functions = Some(functions);
        state.gateway_address = dp.tls_addr.map(|a| a.ip().to_string());
        state.invoke_address = Some(invoke_address(dp.local_addr));
        state.audit = Some(Arc::new(
            tollgate_node::admin::audit::AuditLog::open(&cfg.audit_log)
                .map_err(|e| e.to_string())?,
        ));
        let state = Arc::new(state);
        let result = tokio::select! {
            r = admin::serve(listener, state) => r.map_err(|e| format!("admin API: {e}")),
            _ = shutdown_signal() => {
                tracing::info!("shutting down");
                Ok(())
            }
            why = raft_stopped(&node) => {
                // Raft stops for good on a storage error (a full disk, say): no write would
                // succeed until a restart, so exit non-zero and let the supervisor restart
                // the node once the cause is fixed.
                tracing::error!(reason = %why, "the cluster node stopped; exiting");
                Err(format!(
                    "the cluster node stopped ({why}); restart it once the cause is fixed"
                ))
            }
        };
        control::drain_data_plane(&dp, cfg.shutdown_grace).await;
        if let Some(raft) = node.raft() {
            let _ = raft.shutdown().await;
        }
        result
    })
}

/// Resolves when this node's Raft stops by itself; never for a node without a cluster.
async fn raft_stopped(node: &tollgate_consensus::Replica) -> String {
    match node.raft() {
        Some(raft) => raft.wait_stopped().await,
        None => std::future::pending().await,
    }
}

fn print_banner(
    cfg: &Config,
    args: &config::ServeArgs,
    kept: Option<&config::KeptCredentials>,
    dp: &worker::DataPlane,
    admin: std::net::SocketAddr,
    node: &tollgate_consensus::Replica,
) {
    let data = dp.local_addr;
    let cred = &cfg.credentials[0];
    let region = cfg.region.as_deref().unwrap_or("us-east-1");
    // The secret is shown once, when it is generated; afterwards only where it is kept.
    let (source, shown) = match (cfg.credential_source, kept) {
        (CredentialSource::Environment, _) => (
            "from TOLLGATE_SECRET_ACCESS_KEY in the environment".to_string(),
            None,
        ),
        (CredentialSource::ConfigFile, _) => (
            match &args.config {
                Some(p) => format!("in the config file {}", p.display()),
                None => "in the config file".to_string(),
            },
            None,
        ),
        (CredentialSource::DataDir, Some(k)) if k.generated => (
            format!("generated now and kept in {}", k.path.display()),
            Some(cred.secret_access_key.as_str()),
        ),
        (CredentialSource::DataDir, Some(k)) => (format!("in {}", k.path.display()), None),
        (CredentialSource::DataDir, None) => ("in the data folder".to_string(), None),
    };
    println!("tollgate {} ready", env!("CARGO_PKG_VERSION"));
    println!(
        "data plane: http://{data} ({} worker{}, {})",
        dp.workers,
        if dp.workers == 1 { "" } else { "s" },
        dp.driver
    );
    if let Some(tls) = dp.tls_addr {
        println!("https (custom domain names): {tls}");
    }
    println!("admin API: http://{admin}");
    println!("web console: http://{admin}{}", admin::console::PREFIX);
    println!("data folder: {}", cfg.data_dir.display());
    if let Some(raft) = node.raft() {
        println!(
            "cluster: node {} at {} (QUIC, mutual TLS)",
            raft.id(),
            raft.advertise()
        );
    }
    println!("admin credentials:");
    println!("  access key id: {}", cred.access_key_id);
    match shown {
        Some(secret) => {
            println!("  secret access key: {secret}");
            println!("  ({source}; the secret is printed this once)");
        }
        None => println!("  secret access key: {source}"),
    }
    println!("invoke URLs:");
    println!("  http://{data}/restapis/{{apiId}}/{{stage}}/_user_request_/{{path}}");
    println!(
        "  http://{{apiId}}.execute-api.localhost:{}/{{stage}}/{{path}}",
        data.port()
    );
    println!("try:");
    println!(
        "  AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} aws apigateway get-rest-apis --endpoint-url http://{admin} --region {region}",
        cred.access_key_id,
        shown.unwrap_or("<the secret access key>")
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
