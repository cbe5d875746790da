//! Benchmark (ignored by default): usage report size and ledger apply rate with many active
//! keys at 1, 2, 3 and 4 ledger groups on a 3-node cluster in one process (127.0.0.1).
//!
//! ```text
//! TOLLGATE_BENCH_KEYS=100000 TOLLGATE_BENCH_ROUNDS=4 cargo test -p tollgate-consensus \
//!     --release --test ledger_bench -- --ignored --nocapture
//! ```
//!
//! Each node runs on its own tokio runtime (threads named `lb-n1`, `lb-n2`, `lb-n3`), and its
//! reports are proposed from its own runtime, so a node's work stays on its threads. Where
//! cgroup v1's `cpu` and `cpuacct` controllers are mounted and writable (root), each node's
//! threads are moved into a cgroup of their own (see [`caps`]): its CPU time is measured, and
//! with `TOLLGATE_BENCH_NODE_CPU=0.5` capped at that share of one CPU (CFS quota), so the three
//! nodes behave like three small machines even on a 2-core box — which is what shows whether
//! the ledger's write rate grows when the groups' leaders spread over the nodes.
//!
//! Each round, each of the 3 nodes reports one request for every key (a report split by key
//! hash into one part per group, each part cut into entries of at most
//! `MAX_ENTRY_DELTA_BYTES` committed in order, the groups concurrently, as the usage reporter
//! does);
//! the round ends when every node has applied every report. Printed: the encoded size of one
//! node's report (total and largest part) and the cluster's ledger apply rate (usage deltas
//! committed and applied on all three nodes per second); with cgroups, each node's CPU time and
//! the deltas applied per CPU-second of the busiest node (the cluster's capacity when each node
//! is a machine of its own).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::runtime::{Handle, Runtime};
use tollgate_consensus::pki;
use tollgate_consensus::raft::ledger::{
    chunks, keep_leader_spread, preferred_leader, split, MAX_ENTRY_DELTA_BYTES,
};
use tollgate_consensus::{RaftConfig, RaftNode};
use tollgate_proto::{codec, Command, UsageDelta};

mod support;
use support::{env, free_port, tls};

/// Starts 3 nodes with `groups` ledger groups, node `i` on runtime `rts[i]`; returns each
/// node's groups (index = group).
async fn cluster(groups: u32, dirs: &[tempfile::TempDir], rts: &[Handle]) -> Vec<Vec<RaftNode>> {
    let ca = pki::create_ca().unwrap();
    let addrs: BTreeMap<u64, String> = (1..=3)
        .map(|id| (id, format!("127.0.0.1:{}", free_port())))
        .collect();
    let mut nodes = Vec::new();
    for id in 1..=3u64 {
        let addr = addrs[&id].clone();
        let mut cfg = RaftConfig::new(
            id,
            dirs[id as usize - 1].path().join("raft"),
            addr.parse::<SocketAddr>().unwrap(),
            addr,
            tls(&ca, id),
        );
        cfg.request_timeout = Duration::from_secs(60);
        cfg.snapshot_every = 100_000;
        let dir = dirs[id as usize - 1].path().to_path_buf();
        // Started on the node's own runtime: everything it spawns runs there.
        let started = rts[id as usize - 1].spawn(async move {
            let node = RaftNode::start(cfg, Box::new(|_, _| {})).await.unwrap();
            for g in 1..groups {
                let dir = dir.join(format!("ledger-{g}"));
                let gn = node.start_group(g, dir, Box::new(|_, _| {})).await.unwrap();
                tokio::spawn(keep_leader_spread(gn));
            }
            node.groups()
        });
        nodes.push(started.await.unwrap());
    }
    for group in &nodes[0] {
        group.initialize(addrs.clone()).await.unwrap();
    }
    // Wait for every group to be led by its preferred node (group 0: any).
    let voters = addrs.keys().copied().collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    for g in 0..groups {
        let want = preferred_leader(g, &voters);
        loop {
            let leader = nodes[0][g as usize].status().leader;
            if leader.is_some() && (g == 0 || leader == want) {
                break;
            }
            assert!(Instant::now() < deadline, "group {g} not led as preferred");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    nodes
}

fn deltas(keys: usize) -> Vec<UsageDelta> {
    (0..keys)
        .map(|i| UsageDelta {
            key_id: format!("pl{:04}:k{i:09}", i % 7),
            count: 1,
        })
        .collect()
}

fn report(node_id: u64, seq: u64, deltas: Vec<UsageDelta>) -> Command {
    Command::ReportLoad {
        node_id,
        seq,
        at_ms: 1_800_000_000_000,
        deltas,
        interval_ms: 250,
        demand: Vec::new(),
    }
}

async fn run(groups: u32, keys: usize, rounds: usize, rts: &[Handle], caps: Option<&caps::Caps>) {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes = cluster(groups, &dirs, rts).await;
    let full: usize = split(deltas(keys), groups)
        .values()
        .map(|d| codec::encode(&report(1, 1, d.clone())).len())
        .sum();
    // Each group's part cut into entries of at most MAX_ENTRY_DELTA_BYTES of deltas, as the
    // usage reporter sends them: each chunk its own sequence number, committed in order.
    let parts: BTreeMap<u32, Vec<Vec<UsageDelta>>> = split(deltas(keys), groups)
        .into_iter()
        .map(|(g, d)| (g, chunks(d, MAX_ENTRY_DELTA_BYTES)))
        .collect();
    let entries: usize = parts.values().map(Vec::len).sum();
    let sizes: Vec<usize> = parts
        .values()
        .flatten()
        .map(|d| codec::encode(&report(1, 1, d.clone())).len())
        .collect();
    let total: usize = sizes.iter().sum();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let cpu0 = caps.map(caps::Caps::used);
    let started = Instant::now();
    let mut seq = 0;
    let mut failed = 0usize;
    for _ in 0..rounds {
        let mut set = Vec::new();
        for (n, node) in nodes.iter().enumerate() {
            let node_id = n as u64 + 1;
            let mut s = seq;
            for (&g, cs) in &parts {
                let handle = node[g as usize].clone();
                let cmds: Vec<Command> = cs
                    .iter()
                    .map(|d| {
                        s += 1;
                        report(node_id, s, d.clone())
                    })
                    .collect();
                // Proposed from the node's own runtime, as its usage reporter does.
                set.push(rts[n].spawn(async move {
                    let mut failed = 0;
                    for cmd in cmds {
                        if !matches!(handle.propose(cmd).await, Ok(Ok(_))) {
                            failed += 1;
                        }
                    }
                    failed
                }));
            }
        }
        seq += entries as u64;
        for task in set {
            let r = task.await;
            // A report with no definite answer (the leader kept changing under the load) is
            // counted and reported, not retried: the figure is what one attempt achieves.
            failed += r.unwrap_or(1);
        }
    }
    // Every node applied everything: each group's registries agree.
    let deadline = Instant::now() + Duration::from_secs(120);
    for g in 0..groups as usize {
        loop {
            let applied: Vec<Option<u64>> =
                nodes.iter().map(|n| n[g].status().last_applied).collect();
            let last = nodes
                .iter()
                .map(|n| n[g].status().last_log_index)
                .max()
                .flatten();
            if applied.iter().all(|a| *a == last) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "group {g} not applied everywhere"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu0.and_then(|c0| caps.map(|c| (c.used(), c0)));
    let applied = (3 * keys * rounds) as f64;
    let used: usize = (0..groups as usize)
        .map(|g| nodes[0][g].read().usage.used.len())
        .sum();
    if failed == 0 {
        assert_eq!(used, keys, "every key counted in exactly one group");
    }
    let leaders: Vec<Option<u64>> = (0..groups as usize)
        .map(|g| nodes[0][g].status().leader)
        .collect();
    println!(
        "groups {groups}: keys {keys}, report of one node {total} B in {entries} entries ({:.1} B/key; {full} B unchunked), largest entry {largest} B; \
         {rounds} rounds x 3 nodes in {secs:.2} s: {:.0} deltas/s applied cluster-wide ({:.1} reports/s); {failed} reports without a definite answer; leaders {leaders:?}",
        total as f64 / keys as f64,
        applied / secs,
        (3 * rounds * entries) as f64 / secs,
    );
    if let Some(((used, throttled), (used0, throttled0))) = cpu {
        let per: Vec<String> = (0..3)
            .map(|i| {
                format!(
                    "node {}: {:.2} CPU-s ({:.0} %), throttled {:.2} s",
                    i + 1,
                    (used[i] - used0[i]).as_secs_f64(),
                    100.0 * (used[i] - used0[i]).as_secs_f64() / secs,
                    (throttled[i] - throttled0[i]).as_secs_f64()
                )
            })
            .collect();
        println!("groups {groups}: {}", per.join("; "));
        // With each node a machine of its own, the cluster's ledger capacity is set by its
        // busiest node: deltas applied per CPU-second that node spent. Steadier than the
        // rate on a shared box (it does not depend on what CPU the nodes were given).
        let busiest = (0..3)
            .map(|i| (used[i] - used0[i]).as_secs_f64())
            .fold(0.0, f64::max);
        if busiest > 0.0 {
            println!(
                "groups {groups}: {:.0} deltas per CPU-second of the busiest node",
                applied / busiest
            );
        }
    }
    for n in &nodes {
        n[0].shutdown().await.unwrap();
    }
}

/// A node's runtime: its threads are named `lb-n{id}` (how [`caps`] finds them).
fn node_runtime(id: u64) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(format!("lb-n{id}"))
        .enable_all()
        .build()
        .unwrap()
}

#[test]
#[ignore]
fn ledger_report_size_and_apply_rate() {
    let keys = env("TOLLGATE_BENCH_KEYS", 100_000);
    let rounds = env("TOLLGATE_BENCH_ROUNDS", 4);
    let share: Option<f64> = std::env::var("TOLLGATE_BENCH_NODE_CPU").ok().map(|v| {
        v.parse()
            .expect("TOLLGATE_BENCH_NODE_CPU: a share of one CPU, e.g. 0.5")
    });
    let caps = match caps::Caps::new(3, share) {
        Ok(c) => Some(c),
        Err(why) => {
            assert!(
                share.is_none(),
                "TOLLGATE_BENCH_NODE_CPU needs cgroups: {why}"
            );
            println!("per-node CPU not measured: {why}");
            None
        }
    };
    if let Some(s) = share {
        println!("each node capped at {s} of a CPU (cgroup v1 CFS quota)");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let groups: Vec<u32> = std::env::var("TOLLGATE_BENCH_GROUPS")
        .ok()
        .map(|v| v.split(',').map(|g| g.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| vec![1, 2, 3, 4]);
    for g in groups {
        let rts: Vec<Runtime> = (1..=3).map(node_runtime).collect();
        let handles: Vec<Handle> = rts.iter().map(|r| r.handle().clone()).collect();
        rt.block_on(run(g, keys, rounds, &handles, caps.as_ref()));
        for r in rts {
            r.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

/// Per-node cgroups (v1 `cpu` + `cpuacct`, Linux, root): a thread named `lb-n{i}` is moved
/// into node `i`'s groups as soon as it appears (a background thread looks every 5 ms), so a
/// node's CPU time is measured and, with a share, capped by a CFS quota. The groups are
/// removed when dropped.
mod caps {
    use std::collections::BTreeSet;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    const CPU: &str = "/sys/fs/cgroup/cpu";
    const ACCT: &str = "/sys/fs/cgroup/cpuacct";

    pub struct Caps {
        /// Per node: its `cpu` and `cpuacct` group directories.
        dirs: Vec<(PathBuf, PathBuf)>,
        stop: Arc<AtomicBool>,
        mover: Option<std::thread::JoinHandle<()>>,
    }

    impl Caps {
        /// `nodes` groups, each capped at `share` of one CPU when given.
        pub fn new(nodes: usize, share: Option<f64>) -> Result<Caps, String> {
            let tag = std::process::id();
            // Built first, so that a failure part way removes what was made (Drop).
            let mut caps = Caps {
                dirs: Vec::new(),
                stop: Arc::new(AtomicBool::new(false)),
                mover: None,
            };
            for i in 1..=nodes {
                let cpu = PathBuf::from(CPU).join(format!("tollgate-lb-{tag}-n{i}"));
                let acct = PathBuf::from(ACCT).join(format!("tollgate-lb-{tag}-n{i}"));
                std::fs::create_dir(&cpu).map_err(|e| format!("{}: {e}", cpu.display()))?;
                if let Err(e) = std::fs::create_dir(&acct) {
                    let _ = std::fs::remove_dir(&cpu);
                    return Err(format!("{}: {e}", acct.display()));
                }
                caps.dirs.push((cpu, acct));
            }
            let dirs = caps.dirs.clone();
            if let Some(share) = share {
                let period = 100_000u64;
                let quota = (share * period as f64) as u64;
                for (cpu, _) in &dirs {
                    std::fs::write(cpu.join("cpu.cfs_period_us"), period.to_string())
                        .and_then(|_| {
                            std::fs::write(cpu.join("cpu.cfs_quota_us"), quota.to_string())
                        })
                        .map_err(|e| format!("{}: {e}", cpu.display()))?;
                }
            }
            let stop = caps.stop.clone();
            caps.mover = Some(std::thread::spawn(move || {
                let mut placed = BTreeSet::new();
                while !stop.load(Ordering::Relaxed) {
                    place(&dirs, &mut placed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            }));
            Ok(caps)
        }

        /// Per node: CPU time used (cpuacct) and time throttled by the quota, so far.
        pub fn used(&self) -> (Vec<Duration>, Vec<Duration>) {
            let read = |p: PathBuf, key: Option<&str>| -> u64 {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                match key {
                    None => text.trim().parse().unwrap_or(0),
                    Some(k) => text
                        .lines()
                        .find_map(|l| l.strip_prefix(k).map(|v| v.trim().parse().unwrap_or(0)))
                        .unwrap_or(0),
                }
            };
            self.dirs
                .iter()
                .map(|(cpu, acct)| {
                    (
                        Duration::from_nanos(read(acct.join("cpuacct.usage"), None)),
                        Duration::from_nanos(read(cpu.join("cpu.stat"), Some("throttled_time "))),
                    )
                })
                .unzip()
        }
    }

    /// Moves this process's `lb-n{i}` threads not yet placed into node `i`'s groups.
    fn place(dirs: &[(PathBuf, PathBuf)], placed: &mut BTreeSet<u64>) {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return;
        };
        for t in tasks.flatten() {
            let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) else {
                continue;
            };
            if placed.contains(&tid) {
                continue;
            }
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            let Some(i) = comm
                .trim()
                .strip_prefix("lb-n")
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            if let Some((cpu, acct)) = i.checked_sub(1).and_then(|i| dirs.get(i)) {
                // A thread that exited meanwhile fails to move: nothing to do.
                let _ = std::fs::write(cpu.join("tasks"), tid.to_string());
                let _ = std::fs::write(acct.join("tasks"), tid.to_string());
                placed.insert(tid);
            }
        }
    }

    impl Drop for Caps {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(m) = self.mover.take() {
                let _ = m.join();
            }
            // A group with threads left cannot be removed: move them back to the root first.
            for (cpu, acct) in &self.dirs {
                for (d, root) in [(cpu, CPU), (acct, ACCT)] {
                    let tids = std::fs::read_to_string(d.join("tasks")).unwrap_or_default();
                    for tid in tids.lines() {
                        let _ = std::fs::write(PathBuf::from(root).join("tasks"), tid);
                    }
                    let _ = std::fs::remove_dir(d);
                }
            }
        }
    }
}
