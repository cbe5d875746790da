//! `tollgate-bench`: open-loop HTTP/1.1 load generator (`run`), side-by-side comparison of
//! Tollgate, nginx and a bare io_uring responder (`compare`), and that responder itself
//! (`limit-server`). See `docs/BENCHMARKS.md`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tollgate_bench::client::{self, LoadConfig};
use tollgate_bench::cluster::{self, ClusterOpts, Scenario};
use tollgate_bench::compare::{self, CompareOpts};
use tollgate_bench::http::Target;
use tollgate_bench::report::Report;
use tollgate_bench::schedule::{Schedule, Spread};

#[derive(Parser)]
#[command(
    name = "tollgate-bench",
    version,
    about = "Open-loop HTTP/1.1 load generator with coordinated-omission-corrected latency"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send requests to one or more URLs on a schedule and report latency and throughput.
    Run(RunArgs),
    /// Start Tollgate, nginx and a bare responder on loopback and measure them in turn.
    Compare(CompareArgs),
    /// Start a local Tollgate cluster and measure a usage-plan limit across its nodes:
    /// accuracy (spread, then all on one node), quota overshoot, a 10× spike.
    Cluster(ClusterArgs),
    /// Start one node and measure it with many keys and APIs: RSS per key, import time per
    /// batch, time until a changed API is served, restart time, keyed throughput (issue 14).
    Scale(ScaleArgs),
    /// The bare monoio HTTP responder ("hardware limit"); runs until killed.
    #[command(hide = true)]
    LimitServer {
        /// Address to listen on.
        #[arg(long)]
        listen: SocketAddr,
        /// Worker threads (one monoio runtime each, SO_REUSEPORT).
        #[arg(long, default_value_t = 1)]
        workers: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Shape {
    /// `--rate` for `--duration` seconds.
    Constant,
    /// `--rate` for `--before` s, `--rate × --mult` for `--spike` s, `--rate` for `--after` s.
    Spike,
    /// From `--rate` to `--ramp-to` over `--duration` seconds.
    Ramp,
}

#[derive(Args)]
struct RunArgs {
    /// Target URLs (http://host:port/path); several are spread over by `--skew` or round-robin.
    #[arg(required = true)]
    urls: Vec<String>,
    /// Schedule shape.
    #[arg(long, value_enum, default_value = "constant")]
    schedule: Shape,
    /// Offered rate (base rate of a spike, start of a ramp), requests per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Seconds (constant and ramp).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Spike multiplier.
    #[arg(long, default_value_t = 10.0)]
    mult: f64,
    /// Seconds before the spike.
    #[arg(long, default_value_t = 5.0)]
    before: f64,
    /// Seconds of spike.
    #[arg(long, default_value_t = 2.0)]
    spike: f64,
    /// Seconds after the spike.
    #[arg(long, default_value_t = 5.0)]
    after: f64,
    /// End rate of a ramp.
    #[arg(long, default_value_t = 10000.0)]
    ramp_to: f64,
    /// Send this fraction (0..1) of requests to the first URL, the rest round-robin to the
    /// others (default: round-robin over all).
    #[arg(long)]
    skew: Option<f64>,
    /// A file of API keys, one a line: requests carry them as `x-api-key` in turn.
    #[arg(long)]
    api_keys: Option<PathBuf>,
    #[command(flatten)]
    gen: GenArgs,
    /// Generator CPUs to pin threads to, e.g. `1` or `2,3` (default: no pinning).
    #[arg(long, value_delimiter = ',')]
    cpus: Vec<usize>,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write an SVG plot (latency percentiles and throughput per second) here.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct GenArgs {
    /// Keep-alive connections (spread over threads and targets).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Generator threads (default: run 1; compare one per CPU left to the generator).
    #[arg(long)]
    threads: Option<usize>,
    /// Request timeout, milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

#[derive(Args)]
struct CompareArgs {
    /// The tollgate binary (default: next to this one, target/<profile>/tollgate).
    #[arg(long)]
    tollgate: Option<PathBuf>,
    /// Worker counts to measure (default: 1 and all CPUs).
    #[arg(long, value_delimiter = ',')]
    workers: Vec<usize>,
    /// Base offered rate, requests per second.
    #[arg(long, default_value_t = 10000.0)]
    rate: f64,
    /// Spike multiplier.
    #[arg(long, default_value_t = 10.0)]
    mult: f64,
    /// Seconds at the base rate before the spike.
    #[arg(long, default_value_t = 2.0)]
    before: f64,
    /// Seconds of spike.
    #[arg(long, default_value_t = 1.0)]
    spike: f64,
    /// Seconds at the base rate after the spike.
    #[arg(long, default_value_t = 2.0)]
    after: f64,
    /// Seconds of the fixed-rate run (at `--rate`) that measures CPU per request.
    #[arg(long, default_value_t = 2.0)]
    cpu_secs: f64,
    #[command(flatten)]
    gen: GenArgs,
    /// Leave nginx out.
    #[arg(long)]
    no_nginx: bool,
    /// Write all reports and summaries as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write one SVG per measured run into this folder.
    #[arg(long)]
    svg_dir: Option<PathBuf>,
}

#[derive(Args)]
struct ClusterArgs {
    /// The tollgate binary (default: next to this one, target/<profile>/tollgate).
    #[arg(long)]
    tollgate: Option<PathBuf>,
    /// Scenarios, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "accuracy,quota,spike"
    )]
    scenarios: Vec<Scenario>,
    /// Nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Data-plane workers per node.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// The usage plan's rate limit R, requests per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// The usage plan's burst limit.
    #[arg(long, default_value_t = 100)]
    burst: u32,
    /// Accuracy: offered load as a multiple of R.
    #[arg(long, default_value_t = 10.0)]
    overload: f64,
    /// Accuracy: seconds spread over every node, then as many all on node 1.
    #[arg(long, default_value_t = 10.0)]
    phase_secs: f64,
    /// Quota scenario: requests per day.
    #[arg(long, default_value_t = 5000)]
    quota: u64,
    /// Quota scenario: offered rate, requests per second.
    #[arg(long, default_value_t = 2000.0)]
    quota_rate: f64,
    /// Spike scenario: seconds steady (at R/2) before the spike.
    #[arg(long, default_value_t = 5.0)]
    before: f64,
    /// Spike scenario: seconds of spike.
    #[arg(long, default_value_t = 10.0)]
    spike: f64,
    /// Spike scenario: seconds steady after the spike.
    #[arg(long, default_value_t = 5.0)]
    after: f64,
    /// Spike scenario: multiplier over the steady rate.
    #[arg(long, default_value_t = 10.0)]
    mult: f64,
    #[command(flatten)]
    gen: GenArgs,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args)]
struct ScaleArgs {
    /// The tollgate binary (default: next to this one, target/<profile>/tollgate).
    #[arg(long)]
    tollgate: Option<PathBuf>,
    /// API keys imported into one usage plan with a quota.
    #[arg(long, default_value_t = 20_000)]
    keys: usize,
    /// Keys per ImportApiKeys call (at most 10 000, AWS's limit).
    #[arg(long, default_value_t = 5_000)]
    batch: usize,
    /// APIs, each deployed to two stages.
    #[arg(long, default_value_t = 50)]
    apis: usize,
    /// Resources (a MOCK GET each) per API.
    #[arg(long, default_value_t = 20)]
    resources: usize,
    /// Timed changes of one API spread over the APIs' creation (besides the one after it).
    #[arg(long, default_value_t = 0)]
    changes: usize,
    /// Seconds of keyed traffic.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Offered rate of keyed traffic, requests per second.
    #[arg(long, default_value_t = 5000.0)]
    rate: f64,
    #[command(flatten)]
    gen: GenArgs,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Run(a) => run(a),
        Cmd::Compare(a) => compare_cmd(a),
        Cmd::Cluster(a) => cluster_cmd(a),
        Cmd::Scale(a) => scale_cmd(a),
        Cmd::LimitServer { listen, workers } => {
            tollgate_bench::limit::serve(listen, workers, &[]).map_err(|e| e.to_string())
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(a: RunArgs) -> Result<(), String> {
    let targets = a
        .urls
        .iter()
        .map(|u| Target::parse(u))
        .collect::<Result<Vec<_>, _>>()?;
    let targets = match &a.api_keys {
        Some(f) => {
            let keys: Vec<String> = std::fs::read_to_string(f)
                .map_err(|e| format!("{}: {e}", f.display()))?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            if keys.is_empty() {
                return Err(format!("{}: no API keys", f.display()));
            }
            targets
                .into_iter()
                .map(|t| t.with_header_values("x-api-key", &keys))
                .collect()
        }
        None => targets,
    };
    let schedule = match a.schedule {
        Shape::Constant => Schedule::constant(a.rate, a.duration),
        Shape::Spike => Schedule::spike(a.rate, a.mult, a.before, a.spike, a.after),
        Shape::Ramp => Schedule::ramp(a.rate, a.ramp_to, a.duration),
    }
    .map_err(|e| e.to_string())?;
    let spread = match a.skew {
        Some(f) if (0.0..=1.0).contains(&f) => Spread::Skewed(f),
        Some(f) => return Err(format!("--skew {f}: must be within 0..1")),
        None => Spread::RoundRobin,
    };
    let cfg = LoadConfig {
        targets,
        schedule: schedule.clone(),
        spread,
        connections: a.gen.connections,
        threads: a.gen.threads.unwrap_or(1),
        timeout: Duration::from_millis(a.gen.timeout_ms),
        cpus: a.cpus,
        progress: !a.quiet,
    };
    let rec = client::run(&cfg).map_err(|e| e.to_string())?;
    let label = if a.urls.len() == 1 {
        a.urls[0].clone()
    } else {
        format!("{} targets", a.urls.len())
    };
    let rep = Report::new(&label, &schedule, &rec);
    print!("{}", rep.table());
    if let Some(f) = a.json {
        std::fs::write(&f, rep.json()).map_err(|e| format!("{}: {e}", f.display()))?;
    }
    if let Some(f) = a.svg {
        std::fs::write(&f, rep.svg()).map_err(|e| format!("{}: {e}", f.display()))?;
    }
    Ok(())
}

fn compare_cmd(a: CompareArgs) -> Result<(), String> {
    let ncpu = tollgate_bench::sys::cpu_count();
    let mut workers = if a.workers.is_empty() {
        vec![1, ncpu]
    } else {
        a.workers
    };
    workers.dedup();
    let o = CompareOpts {
        tollgate: a.tollgate,
        workers,
        rate: a.rate,
        mult: a.mult,
        before: a.before,
        spike: a.spike,
        after: a.after,
        cpu_secs: a.cpu_secs,
        connections: a.gen.connections,
        threads: a.gen.threads.unwrap_or(0),
        timeout: Duration::from_millis(a.gen.timeout_ms),
        no_nginx: a.no_nginx,
        json: a.json,
        svg_dir: a.svg_dir,
    };
    compare::run(&o).map(|_| ()).map_err(|e| e.to_string())
}

fn cluster_cmd(a: ClusterArgs) -> Result<(), String> {
    if a.nodes == 0 || a.rate <= 0.0 || a.overload <= 0.0 || a.quota_rate <= 0.0 {
        return Err("--nodes, --rate, --overload and --quota-rate must be positive".into());
    }
    let o = ClusterOpts {
        tollgate: a.tollgate,
        nodes: a.nodes,
        workers: a.workers.max(1),
        rate: a.rate,
        burst: a.burst,
        overload: a.overload,
        phase_secs: a.phase_secs,
        quota: a.quota,
        quota_rate: a.quota_rate,
        spike: (a.before, a.spike, a.after),
        spike_mult: a.mult,
        scenarios: a.scenarios,
        connections: a.gen.connections,
        threads: a.gen.threads.unwrap_or(1),
        json: a.json,
    };
    cluster::run(&o).map(|_| ()).map_err(|e| e.to_string())
}

fn scale_cmd(a: ScaleArgs) -> Result<(), String> {
    if a.keys == 0 || a.rate <= 0.0 || a.secs <= 0.0 {
        return Err("--keys, --rate and --secs must be positive".into());
    }
    let o = tollgate_bench::scale::ScaleOpts {
        tollgate: a.tollgate,
        keys: a.keys,
        batch: a.batch,
        apis: a.apis,
        resources: a.resources,
        changes: a.changes,
        secs: a.secs,
        rate: a.rate,
        connections: a.gen.connections,
        threads: a.gen.threads.unwrap_or(1),
        progress: !a.quiet,
    };
    let r = tollgate_bench::scale::run(&o).map_err(|e| e.to_string())?;
    print!("{}", tollgate_bench::scale::table(&r));
    if let Some(f) = a.json {
        let j = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
        std::fs::write(&f, j).map_err(|e| format!("{}: {e}", f.display()))?;
    }
    Ok(())
}
