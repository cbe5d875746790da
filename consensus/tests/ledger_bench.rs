//! Benchmark (ignored by default): usage report size and ledger apply rate with many active
//! keys at 1, 2 and 4 ledger groups on a 3-node cluster in one process (127.0.0.1).
//!
//! ```text
//! TOLLGATE_BENCH_KEYS=100000 TOLLGATE_BENCH_ROUNDS=4 cargo test -p tollgate-consensus \
//!     --release --test ledger_bench -- --ignored --nocapture
//! ```
//!
//! Each round, each of the 3 nodes reports one request for every key (a report split by key
//! hash into one part per group, each part cut into entries of at most
//! `MAX_ENTRY_DELTA_BYTES` committed in order, the groups concurrently, as the usage reporter
//! does);
//! the round ends when every node has applied every report. Printed: the encoded size of one
//! node's report (total and largest part) and the cluster's ledger apply rate (usage deltas
//! committed and applied on all three nodes per second).

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use tollgate_consensus::pki::{self, ClusterTls};
use tollgate_consensus::raft::ledger::{
    chunks, keep_leader_spread, preferred_leader, split, MAX_ENTRY_DELTA_BYTES,
};
use tollgate_consensus::{RaftConfig, RaftNode};
use tollgate_proto::{codec, Command, UsageDelta};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tls(ca: &(String, String), id: u64) -> ClusterTls {
    let (cert, key) = pki::issue_node_cert(
        &ca.0,
        &ca.1,
        &format!("node-{id}"),
        &["127.0.0.1".parse().unwrap()],
    )
    .unwrap();
    ClusterTls {
        ca_cert_pem: ca.0.clone(),
        node_cert_pem: cert,
        node_key_pem: key,
    }
}

/// Starts 3 nodes with `groups` ledger groups; returns each node's groups (index = group).
async fn cluster(groups: u32, dirs: &[tempfile::TempDir]) -> Vec<Vec<RaftNode>> {
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
        let node = RaftNode::start(cfg, Box::new(|_, _| {})).await.unwrap();
        for g in 1..groups {
            let dir = dirs[id as usize - 1].path().join(format!("ledger-{g}"));
            let gn = node.start_group(g, dir, Box::new(|_, _| {})).await.unwrap();
            tokio::spawn(keep_leader_spread(gn));
        }
        nodes.push(node.groups());
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

async fn run(groups: u32, keys: usize, rounds: usize) {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes = cluster(groups, &dirs).await;
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
    let started = Instant::now();
    let mut seq = 0;
    let mut failed = 0usize;
    for _ in 0..rounds {
        let mut set = tokio::task::JoinSet::new();
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
                set.spawn(async move {
                    let mut failed = 0;
                    for cmd in cmds {
                        if !matches!(handle.propose(cmd).await, Ok(Ok(_))) {
                            failed += 1;
                        }
                    }
                    failed
                });
            }
        }
        seq += entries as u64;
        while let Some(r) = set.join_next().await {
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
    for n in &nodes {
        n[0].shutdown().await.unwrap();
    }
}

#[test]
#[ignore]
fn ledger_report_size_and_apply_rate() {
    let keys = env("TOLLGATE_BENCH_KEYS", 100_000);
    let rounds = env("TOLLGATE_BENCH_ROUNDS", 4);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for groups in [1, 2, 4] {
        rt.block_on(run(groups, keys, rounds));
    }
}
