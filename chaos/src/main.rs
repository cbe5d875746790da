//! `tollgate-chaos`: fault injection against a live local cluster. See `docs/CHAOS.md`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tollgate_chaos::check::{self, CheckConfig};
use tollgate_chaos::history::History;
use tollgate_chaos::report::Report;
use tollgate_chaos::run::{find_tollgate, run, RunOptions};
use tollgate_chaos::schedule::Schedule;

#[derive(Parser)]
#[command(
    name = "tollgate-chaos",
    version,
    about = "Kill, pause and partition a live Tollgate cluster and prove nothing acknowledged is lost"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start a cluster, inject faults under load, check the invariants, write a report.
    Run(RunArgs),
    /// Run again exactly the schedule of an earlier report (same seed, nodes and faults).
    Replay {
        /// The earlier run's report.json.
        report: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Check a recorded history.json again (no cluster needed).
    Check {
        /// The history.
        history: PathBuf,
    },
}

#[derive(Args)]
struct RunArgs {
    /// The short run: six faults of the main kinds, well under 3 minutes.
    #[arg(long)]
    quick: bool,
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Faults of the random schedule (without --quick).
    #[arg(long, default_value_t = 20)]
    faults: usize,
    /// Membership changes to insert into the schedule (quick or random) at seeded places:
    /// alternately add a node (learner, then voter) and remove a voter (leader or follower,
    /// sometimes re-added on a fresh data folder), with `tollgate cluster add-node` /
    /// `remove-node`, so the cluster keeps N or N+1 voters. 0: none (the schedule as before).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=100))]
    membership: u64,
    /// Seed of the schedule (default: from the clock; printed, so the run can be replayed).
    #[arg(long)]
    seed: Option<u64>,
    /// Run this schedule (JSON: `{"seed": S, "steps": [{"index", "fault", "settle_ms"}]}`, the
    /// shape of report.json's `schedule`) instead of drawing one.
    #[arg(long, value_name = "FILE", conflicts_with = "quick")]
    schedule: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct Common {
    /// Where report.md, report.json and history.json go (and, while running, the cluster).
    #[arg(long, default_value = "chaos-report")]
    report_dir: PathBuf,
    /// The tollgate binary [default: next to this one].
    #[arg(long)]
    tollgate: Option<PathBuf>,
    /// Concurrent admin writers.
    #[arg(long, default_value_t = 2)]
    writers: usize,
    /// Milliseconds each writer waits between its writes.
    #[arg(long, default_value_t = 100)]
    write_pause_ms: u64,
    /// The nodes' snapshot_every (small values exercise snapshots and log purging).
    #[arg(long, default_value_t = 300)]
    snapshot_every: u64,
    /// The nodes' `[cluster] ledger_groups`: the usage ledger sharded over this many Raft
    /// groups (1 to 64), so faults hit several groups' leaders and reports.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    ledger_groups: u32,
    /// The nodes' log filter (TOLLGATE_LOG).
    #[arg(long, default_value = "warn,openraft=error")]
    node_log: String,
    /// Keep the cluster's data and logs even when every invariant held.
    #[arg(long)]
    keep_data: bool,
    /// Print only the summary.
    #[arg(long)]
    quiet: bool,
}

fn options(
    quick: bool,
    nodes: usize,
    faults: usize,
    seed: u64,
    c: Common,
) -> Result<RunOptions, String> {
    Ok(RunOptions {
        schedule: None,
        membership: 0,
        quick,
        nodes,
        faults,
        seed,
        tollgate: find_tollgate(c.tollgate.as_deref())?,
        report_dir: c.report_dir,
        keep_data: c.keep_data,
        verbose: !c.quiet,
        writers: c.writers,
        write_pause: std::time::Duration::from_millis(c.write_pause_ms),
        snapshot_every: c.snapshot_every,
        ledger_groups: c.ledger_groups,
        node_log: c.node_log,
        check: CheckConfig::default(),
    })
}

fn execute(o: RunOptions) -> ExitCode {
    match run(&o) {
        Ok(report) => {
            print!("{}", report.summary());
            println!("report: {}", o.report_dir.join("report.md").display());
            if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("tollgate-chaos: {e}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Run(a) => {
            let seed = a.seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_micros() as u64 % 1_000_000)
            });
            let schedule = match &a.schedule {
                None => Ok(None),
                Some(p) => std::fs::read(p)
                    .map_err(|e| format!("{}: {e}", p.display()))
                    .and_then(|b| {
                        serde_json::from_slice::<Schedule>(&b)
                            .map_err(|e| format!("{}: {e}", p.display()))
                    })
                    .map(Some),
            };
            schedule.and_then(|s| {
                let seed = s.as_ref().map_or(seed, |s| s.seed);
                let faults = s.as_ref().map_or(a.faults, |s| s.steps.len());
                let membership = a.membership as usize;
                options(a.quick, a.nodes, faults, seed, a.common).map(|mut o| {
                    o.schedule = s;
                    o.membership = membership;
                    o
                })
            })
        }
        Cmd::Replay { report, common } => std::fs::read(&report)
            .map_err(|e| format!("{}: {e}", report.display()))
            .and_then(|b| {
                serde_json::from_slice::<Report>(&b)
                    .map_err(|e| format!("{}: {e}", report.display()))
            })
            .and_then(|r| {
                // The schedule itself, as recorded (not re-drawn from the seed).
                // And its ledger groups (an explicit --ledger-groups wins over one group).
                let groups = r.ledger_groups;
                options(r.quick, r.nodes, r.faults, r.seed, common).map(|mut o| {
                    o.schedule = Some(r.schedule);
                    if o.ledger_groups == 1 {
                        o.ledger_groups = groups.max(1);
                    }
                    o
                })
            }),
        Cmd::Check { history } => {
            let h: Result<History, String> = std::fs::read(&history)
                .map_err(|e| format!("{}: {e}", history.display()))
                .and_then(|b| {
                    serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", history.display()))
                });
            return match h {
                Ok(h) => {
                    let a = check::check(&h, &CheckConfig::default());
                    for v in &a.verdicts {
                        println!(
                            "[{}] {}: {}",
                            if v.holds { " ok " } else { "FAIL" },
                            v.name,
                            v.summary
                        );
                        for m in &v.violations {
                            println!("       - {m}");
                        }
                    }
                    if a.holds() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("tollgate-chaos: {e}");
                    ExitCode::from(2)
                }
            };
        }
    };
    match result {
        Ok(o) => execute(o),
        Err(e) => {
            eprintln!("tollgate-chaos: {e}");
            ExitCode::from(2)
        }
    }
}
