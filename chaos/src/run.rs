//! One chaos run, end to end: prepare and start the cluster behind the relays, create the
//! fixture, run the workload while the schedule's faults are injected, heal, read every
//! node's state, check, and write `history.json`, `report.json` and `report.md`.

use crate::check::{self, CheckConfig};
use crate::cluster::Cluster;
use crate::faults::Injector;
use crate::history::{Life, Recorder};
use crate::links::Links;
use crate::nodes::Access;
use crate::relay::Relays;
use crate::report::{RelayTotals, Report};
use crate::rng::Rng;
use crate::schedule::Schedule;
use crate::workload::{Workload, WorkloadConfig, WriteCounter};
use crate::{finals, setup};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The short schedule.
    pub quick: bool,
    /// Cluster size.
    pub nodes: usize,
    /// Faults of a random schedule (ignored with `quick`).
    pub faults: usize,
    /// Seed of the schedule (and of every other random choice of the tool).
    pub seed: u64,
    /// Where the report, the history and (while running) the cluster's files go.
    pub report_dir: PathBuf,
    /// The `tollgate` binary.
    pub tollgate: PathBuf,
    /// Keep the cluster's data and logs even when the run passes.
    pub keep_data: bool,
    /// Print progress.
    pub verbose: bool,
    /// Concurrent admin writers.
    pub writers: usize,
    /// Pause between one writer's writes.
    pub write_pause: Duration,
    /// The nodes' `snapshot_every`.
    pub snapshot_every: u64,
    /// The nodes' `ledger_groups` (1: the ledger in the configuration group).
    pub ledger_groups: u32,
    /// Membership changes inserted into the schedule ([`Schedule::with_membership`]).
    pub membership: usize,
    /// The nodes' `TOLLGATE_LOG`.
    pub node_log: String,
    /// Checker tunables.
    pub check: CheckConfig,
    /// A schedule given as such (a `Schedule` in JSON, e.g. edited from a report), instead of
    /// one drawn from the seed.
    pub schedule: Option<Schedule>,
}

impl RunOptions {
    /// The schedule these options name.
    pub fn schedule(&self) -> Schedule {
        if let Some(s) = &self.schedule {
            s.clone()
        } else if self.quick {
            Schedule::quick(self.seed).with_membership(self.membership)
        } else {
            Schedule::random(self.seed, self.faults, self.nodes).with_membership(self.membership)
        }
    }
}

/// Finds the `tollgate` binary: the one given, else next to this executable (also from
/// `target/<profile>/deps`, where test binaries live).
pub fn find_tollgate(given: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(format!("{} is not a file", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    for cand in [dir.join("tollgate"), dir.join("../tollgate")] {
        if cand.is_file() {
            return Ok(cand);
        }
    }
    Err(format!(
        "no tollgate binary next to {} (build it with `cargo build -p tollgate-node --bin tollgate`, or pass --tollgate PATH)",
        exe.display()
    ))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs the chaos test; returns the report (already written to `report_dir`).
pub fn run(o: &RunOptions) -> Result<Report, String> {
    let started = Instant::now();
    let started_epoch = tollgate_node::ids::now_epoch();
    let schedule = o.schedule();
    if o.nodes < 3 {
        return Err("a chaos run needs at least 3 nodes".into());
    }
    std::fs::create_dir_all(&o.report_dir)
        .map_err(|e| format!("{}: {e}", o.report_dir.display()))?;
    let root = o.report_dir.join("cluster");
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    }
    let say = |m: &str| {
        if o.verbose {
            eprintln!("[{:>8.3} s] {m}", started.elapsed().as_secs_f64());
        }
    };
    say(&format!(
        "{} nodes, {} faults, seed {} (about {} s of faults)",
        o.nodes,
        schedule.steps.len(),
        o.seed,
        schedule.held_ms(o.nodes) / 1000
    ));

    // A spare node for membership changes to add (and removed nodes come back as spares).
    let spares = usize::from(schedule.changes_membership());
    let mut cluster = Cluster::prepare(&o.tollgate, &root, o.nodes, spares, &o.node_log)?;
    let links = Arc::new(Links::new());
    let raft: BTreeMap<u64, std::net::SocketAddr> =
        cluster.endpoints.iter().map(|e| (e.id, e.raft)).collect();
    let relays = Relays::start(&raft, links.clone(), o.seed)
        .map_err(|e| format!("starting the relays: {e}"))?;
    cluster.write_configs(|a, b| relays.addr(a, b), o.snapshot_every, o.ledger_groups)?;
    let access = Access::new(cluster.endpoints.clone(), cluster.creds.clone());
    for id in cluster.all_ids() {
        access.set_member(id, cluster.is_member(id));
    }
    let rec = Recorder::new(o.nodes, Some(schedule.clone()));
    for id in cluster.ids() {
        cluster.start(id)?;
        rec.life(id, Life::Started);
    }
    let counter: WriteCounter = Arc::default();
    let run_tag = format!(
        "{:x}{:x}",
        o.seed & 0xFFFF_FFFF,
        started_epoch & 0xFFFF_FFFF
    );

    // The cluster comes up; the fixture is made through the leader.
    let mut inj = Injector {
        cluster: &mut cluster,
        links: &links,
        access: &access,
        rec: &rec,
        fixture: &crate::workload::Fixture {
            api_id: String::new(),
            served_stage: String::new(),
            register_stage: String::new(),
            probe_path: String::new(),
            keys: Vec::new(),
            plan_id: String::new(),
            run_tag: run_tag.clone(),
            quota: None,
        },
        counter: &counter,
        rng: Rng::new(o.seed).fork(4),
        recovery_timeout: Duration::from_secs(30),
        verbose: o.verbose,
        notes: Vec::new(),
        base_nodes: o.nodes,
    };
    let (leader, _) = inj.wait_leader(Duration::from_secs(60)).ok_or_else(|| {
        format!(
            "the cluster elected no leader within 60 s; see {}",
            root.display()
        )
    })?;
    say(&format!("leader {leader}; creating the fixture"));
    let fixture = setup::create(&access, leader, &run_tag)?;
    inj.fixture = &fixture;
    rec.with(|h| h.quota_limit = fixture.quota.as_ref().map(|q| q.limit));
    if o.ledger_groups > 1 {
        let groups: Vec<String> = fixture
            .keys
            .iter()
            .map(|k| {
                let id = tollgate_proto::registry::plan_usage_id(&fixture.plan_id, &k.id);
                let g = tollgate_consensus::raft::ledger::group_of(&id, o.ledger_groups);
                format!("node {}'s key in group {g}", k.node)
            })
            .collect();
        let quota = fixture.quota.as_ref().map_or(String::new(), |q| {
            let id = tollgate_proto::registry::plan_usage_id(&q.plan_id, &q.id);
            let g = tollgate_consensus::raft::ledger::group_of(&id, o.ledger_groups);
            format!("; the quota key in group {g}")
        });
        say(&format!(
            "usage ledger over {} Raft groups: {}{quota}",
            o.ledger_groups,
            groups.join(", ")
        ));
    }
    for id in inj.cluster.ids() {
        if !inj.wait_serving(id, Duration::from_secs(60)) {
            return Err(format!(
                "node {id} never served the chaos API; see {}",
                root.display()
            ));
        }
    }
    say("every node serves; starting the workload");
    let workload = Workload::start(
        &access,
        &fixture,
        &rec,
        &WorkloadConfig {
            writers: o.writers,
            write_pause: o.write_pause,
            ..WorkloadConfig::default()
        },
        o.seed,
        &counter,
    )
    .map_err(|e| format!("starting the workload: {e}"))?;
    // A quiet second first, so every node's usage reports are flowing before the first fault.
    std::thread::sleep(Duration::from_secs(1));
    let mut error = None;
    for step in &schedule.steps {
        if let Err(e) = inj.run_step(step) {
            error = Some(format!("step {}: {e}", step.index));
            break;
        }
    }
    let _ = inj.wait_recovered(Duration::from_secs(30));
    let healed = Instant::now();
    say("faults done; stopping the workload");
    workload.stop();
    let end_us = rec.now();
    rec.with(|h| h.end_us = end_us);
    say("reading every node's state");
    let stuck = Duration::from_micros(o.check.usage_stuck_us);
    let members = cluster.ids();
    let finals = finals::collect(
        &access,
        &fixture,
        &members,
        healed + stuck,
        Duration::from_secs(60),
    );
    rec.with(|h| {
        h.finals = finals;
        if spares > 0 {
            h.members = members;
        }
    });
    cluster.stop_all(Duration::from_secs(5));
    let (forwarded, dropped, duplicated, delayed) = relays.stats.totals();
    drop(relays);

    let history = rec.snapshot();
    let json = serde_json::to_vec(&history).map_err(|e| e.to_string())?;
    write_file(&o.report_dir.join("history.json"), &json)?;
    if let Some(e) = error {
        return Err(format!("{e} (history in {})", o.report_dir.display()));
    }
    let analysis = check::check(&history, &o.check);
    let membership = schedule
        .steps
        .iter()
        .filter(|s| s.fault.is_membership())
        .count();
    let mut report = Report::build(
        &history,
        analysis,
        o.quick,
        schedule.steps.len() - membership,
        o.tollgate.display().to_string(),
        started_epoch,
        started.elapsed().as_secs_f64(),
        RelayTotals {
            forwarded,
            dropped,
            duplicated,
            delayed,
        },
    );
    report.ledger_groups = o.ledger_groups;
    report.membership = membership;
    let json = serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?;
    write_file(&o.report_dir.join("report.json"), &json)?;
    write_file(
        &o.report_dir.join("report.md"),
        report.markdown().as_bytes(),
    )?;
    if report.passed && !o.keep_data {
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(report)
}
