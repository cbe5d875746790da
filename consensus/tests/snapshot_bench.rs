//! Benchmark (ignored by default): snapshots of a registry of many API keys on a 3-node
//! cluster in one process (127.0.0.1), and a fourth node catching up from one.
//!
//! ```text
//! TOLLGATE_BENCH_KEYS=200000 cargo test -p tollgate-consensus --release \
//!     --test snapshot_bench -- --ignored --nocapture
//! ```
//!
//! The keys go in as ImportApiKeys commands of 10 000 (AWS's per-call limit) into one usage
//! plan, as `tollgate-bench scale` imports them. Printed: the import time, the snapshot the
//! leader then builds (time and size, from the log's growth or asked for), a follower
//! restarted on its folder until it has applied what the leader has, and a fourth, empty node
//! added as a voter until it has applied what the leader has (which it can only get from a
//! snapshot: the logs are purged). Times are of the consensus layer alone (the node's table
//! compile is not in them).
//!
//! Also printed: what the copy of the registry a snapshot encodes from costs to take (under
//! the registry's read lock), and the latency of proposals made one after another while the
//! leader encodes a snapshot — one that creates an API, one that creates an API key (the first
//! key change after the copy copies the map of keys) — against proposals with no snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tollgate_consensus::pki;
use tollgate_consensus::{RaftConfig, RaftNode};
use tollgate_proto::model::{ApiKey, UsagePlan};
use tollgate_proto::Command;

mod support;
use support::{env, free_port, tls};

const BATCH: usize = 10_000;

fn config(id: u64, dir: &std::path::Path, addr: &str, ca: &(String, String)) -> RaftConfig {
    let mut cfg = RaftConfig::new(
        id,
        dir.join("raft"),
        addr.parse::<SocketAddr>().unwrap(),
        addr.to_string(),
        tls(ca, id),
    );
    cfg.request_timeout = Duration::from_secs(60);
    // Three nodes share two runtime threads here, and applying 10 000 keys holds one: no
    // elections from that alone.
    cfg.heartbeat_interval = Duration::from_millis(500);
    cfg.election_timeout_min = Duration::from_secs(5);
    cfg.election_timeout_max = Duration::from_secs(10);
    // Large snapshots take a while to send and install.
    cfg.snapshot_chunk_timeout = Duration::from_secs(30);
    cfg
}

fn import(range: std::ops::Range<usize>) -> Command {
    let keys: Vec<ApiKey> = range
        .clone()
        .map(|i| ApiKey {
            id: format!("k{i:09}"),
            value: format!("scale-key-value-{i:024}"),
            name: Some(format!("key-{i}")),
            enabled: true,
            created_date: 1_764_600_000,
            ..ApiKey::default()
        })
        .collect();
    let plan_keys = range
        .map(|i| ("plan1".into(), format!("k{i:09}")))
        .collect();
    Command::ImportApiKeys { keys, plan_keys }
}

/// Waits until `node` has applied index `index`; the time it took.
async fn applied(node: &RaftNode, index: u64, limit: Duration) -> Duration {
    let t = Instant::now();
    loop {
        if node.status().last_applied.unwrap_or(0) >= index {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < limit,
            "index {index} not applied: {:?}",
            node.status()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn create_api(name: &str) -> Command {
    Command::CreateRestApi {
        id: name.into(),
        root_resource_id: format!("{name}-root"),
        settings: Default::default(),
        created_date: 1_764_600_000,
        clone_from: None,
    }
}

fn create_key(name: &str) -> Command {
    Command::CreateApiKey {
        key: ApiKey {
            id: name.into(),
            value: format!("value-of-{name}-0123456789abcdef"),
            enabled: true,
            created_date: 1_764_600_000,
            ..ApiKey::default()
        },
    }
}

/// Proposes `cmd` and waits until it is applied; the time it took.
async fn timed(node: &RaftNode, cmd: Command) -> Duration {
    let t = Instant::now();
    node.propose(cmd).await.unwrap().unwrap();
    t.elapsed()
}

fn ms(d: &[Duration]) -> String {
    let mut v: Vec<f64> = d.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => "none".into(),
        n => format!("n={n} median {:.2} ms, max {:.2} ms", v[n / 2], v[n - 1]),
    }
}

/// The copy a snapshot encodes from, and proposals made while one is encoded.
async fn during_a_snapshot(lead: &RaftNode, keys: usize) {
    let copies: Vec<Duration> = (0..5)
        .map(|_| {
            let reg = lead.read();
            let t = Instant::now();
            let copy = reg.clone();
            let took = t.elapsed();
            drop(reg);
            drop(copy);
            took
        })
        .collect();
    println!(
        "the registry's copy (taken under its read lock by a snapshot) at {keys} keys: {}",
        ms(&copies)
    );
    let mut quiet = (Vec::new(), Vec::new());
    for i in 0..10 {
        quiet
            .0
            .push(timed(lead, create_api(&format!("quiet-api-{i}"))).await);
        quiet
            .1
            .push(timed(lead, create_key(&format!("quiet-key-{i}"))).await);
    }
    let before = lead.status().snapshot_index;
    let t = Instant::now();
    lead.raft().trigger().snapshot().await.unwrap();
    let mut during = (Vec::new(), Vec::new());
    let mut i = 0;
    while lead.status().snapshot_index == before {
        assert!(t.elapsed() < Duration::from_secs(300), "no snapshot");
        during
            .0
            .push(timed(lead, create_api(&format!("during-api-{i}"))).await);
        during
            .1
            .push(timed(lead, create_key(&format!("during-key-{i}"))).await);
        i += 1;
    }
    println!(
        "a snapshot built in {:.2} s while proposing; with no snapshot: create API {}, create key {}",
        t.elapsed().as_secs_f64(),
        ms(&quiet.0),
        ms(&quiet.1)
    );
    println!(
        "  during the snapshot: create API {}, create key {}",
        ms(&during.0),
        ms(&during.1)
    );
    let first = |d: &[Duration]| -> Vec<String> {
        d.iter()
            .take(4)
            .map(|d| format!("{:.1}", d.as_secs_f64() * 1e3))
            .collect()
    };
    println!(
        "  the first four of each, in order (ms): create API {:?}, create key {:?}",
        first(&during.0),
        first(&during.1)
    );
}

async fn run(keys: usize) {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let ca = pki::create_ca().unwrap();
    let addrs: BTreeMap<u64, String> = (1..=4)
        .map(|id| (id, format!("127.0.0.1:{}", free_port())))
        .collect();
    let mut nodes = Vec::new();
    for id in 1..=3u64 {
        let cfg = config(id, dirs[id as usize - 1].path(), &addrs[&id], &ca);
        nodes.push(RaftNode::start(cfg, Box::new(|_, _| {})).await.unwrap());
    }
    let three: BTreeMap<u64, String> = addrs.range(1..=3).map(|(k, v)| (*k, v.clone())).collect();
    nodes[0].initialize(three).await.unwrap();
    // A leader every node names, for a second (the first election may be contested).
    let mut since: Option<(u64, Instant)> = None;
    let leader = loop {
        let seen: Vec<Option<u64>> = nodes.iter().map(|n| n.status().leader).collect();
        let agreed = seen[0].filter(|l| seen.iter().all(|s| *s == Some(*l)));
        since = match (agreed, since) {
            (Some(l), Some((was, t))) if l == was => {
                if t.elapsed() > Duration::from_secs(1) {
                    break l;
                }
                Some((was, t))
            }
            (Some(l), _) => Some((l, Instant::now())),
            (None, _) => None,
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let lead = &nodes[leader as usize - 1];
    lead.propose(Command::CreateUsagePlan {
        plan: UsagePlan {
            id: "plan1".into(),
            name: "scale".into(),
            ..UsagePlan::default()
        },
    })
    .await
    .unwrap()
    .unwrap();

    let t = Instant::now();
    for start in (0..keys).step_by(BATCH) {
        lead.propose(import(start..(start + BATCH).min(keys)))
            .await
            .unwrap()
            .unwrap();
    }
    let import_secs = t.elapsed().as_secs_f64();
    assert_eq!(lead.read().api_keys.len(), keys);
    println!(
        "{keys} keys imported in {:.2} s on 3 nodes ({:.0} keys/s)",
        import_secs,
        keys as f64 / import_secs
    );

    // A snapshot at the end of the import (the log's growth may have asked for earlier ones).
    let last = lead.status().last_applied.unwrap();
    let t = Instant::now();
    lead.raft().trigger().snapshot().await.unwrap();
    loop {
        if lead.status().snapshot_index >= Some(last) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(300), "no snapshot");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let size = std::fs::metadata(dirs[leader as usize - 1].path().join("raft/snapshot.bin"))
        .unwrap()
        .len();
    println!(
        "snapshot of {keys} keys built in {:.2} s: {:.1} MB ({:.0} B per key)",
        t.elapsed().as_secs_f64(),
        size as f64 / 1e6,
        size as f64 / keys as f64
    );
    during_a_snapshot(lead, keys).await;

    // The followers too (once they have applied it), so that the logs are purged everywhere.
    let last = lead.status().last_applied.unwrap();
    for n in &nodes {
        applied(n, last, Duration::from_secs(300)).await;
        n.raft().trigger().snapshot().await.unwrap();
    }
    for n in &nodes {
        let t = Instant::now();
        while n.status().snapshot_index < Some(last) {
            assert!(
                t.elapsed() < Duration::from_secs(300),
                "no snapshot on {}",
                n.id()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        n.raft().trigger().purge_log(last).await.unwrap();
    }

    // A follower restarted on its folder.
    let f = if leader == 3 { 2 } else { 3 };
    let node = nodes.remove(f as usize - 1);
    node.shutdown().await.unwrap();
    drop(node);
    let t = Instant::now();
    let cfg = config(f, dirs[f as usize - 1].path(), &addrs[&f], &ca);
    let restarted = RaftNode::start(cfg, Box::new(|_, _| {})).await.unwrap();
    let started = t.elapsed();
    let target = nodes
        .iter()
        .find(|n| n.id() == leader)
        .unwrap()
        .status()
        .last_applied
        .unwrap();
    applied(&restarted, target, Duration::from_secs(300)).await;
    println!(
        "follower restarted: opened (snapshot read, decoded, log checked) in {:.2} s, caught up in {:.2} s",
        started.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    nodes.insert(f as usize - 1, restarted);

    // A fourth, empty node: it can only catch up from a snapshot.
    let lead = nodes.iter().find(|n| n.id() == leader).unwrap();
    let cfg = config(4, dirs[3].path(), &addrs[&4], &ca);
    let fourth = RaftNode::start(cfg, Box::new(|_, _| {})).await.unwrap();
    let t = Instant::now();
    lead.add_learner(4, addrs[&4].clone()).await.unwrap();
    let target = lead.status().last_applied.unwrap();
    applied(&fourth, target, Duration::from_secs(600)).await;
    let caught_up = t.elapsed();
    lead.change_membership(BTreeSet::from([1, 2, 3, 4]))
        .await
        .unwrap();
    let s = fourth.status();
    assert!(s.snapshot_index.is_some(), "{s:?}");
    assert_eq!(fourth.read().api_keys.len(), lead.read().api_keys.len());
    println!(
        "fourth node caught up from a snapshot of {keys} keys in {:.2} s (added as a learner → applied index {target}); a voter {:.2} s after it was added",
        caught_up.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    for n in nodes.iter().chain([&fourth]) {
        n.shutdown().await.unwrap();
    }
}

#[test]
#[ignore]
fn snapshot_restart_and_join_with_many_keys() {
    let keys = env("TOLLGATE_BENCH_KEYS", 200_000);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(keys));
}
