//! The Raft cluster end to end: real QUIC with mutual TLS on 127.0.0.1, several nodes in one
//! process, each with its own data directory and port. Every wait is bounded.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tollgate_consensus::pki::{self, ClusterTls};
use tollgate_consensus::raft::network::{self, CallErrorKind, Transport};
use tollgate_consensus::raft::wire::{Request, Response};
use tollgate_consensus::{ClusterError, RaftConfig, RaftNode};
use tollgate_proto::model::RestApiSettings;
use tollgate_proto::{ApplyError, Command, Registry};

mod support;
use support::free_port;

fn create(id: &str) -> Command {
    Command::CreateRestApi {
        id: id.into(),
        root_resource_id: format!("{id}root"),
        settings: RestApiSettings {
            name: id.into(),
            ..Default::default()
        },
        created_date: 0,
        clone_from: None,
    }
}

struct Cluster {
    ca: (String, String),
    dirs: BTreeMap<u64, TempDir>,
    ports: BTreeMap<u64, u16>,
    nodes: BTreeMap<u64, RaftNode>,
    tweak: fn(&mut RaftConfig),
}

impl Cluster {
    fn new(tweak: fn(&mut RaftConfig)) -> Cluster {
        Cluster {
            ca: pki::create_ca().unwrap(),
            dirs: BTreeMap::new(),
            ports: BTreeMap::new(),
            nodes: BTreeMap::new(),
            tweak,
        }
    }

    fn tls(&self, id: u64) -> ClusterTls {
        support::tls(&self.ca, id)
    }

    fn addr(&mut self, id: u64) -> String {
        let port = *self.ports.entry(id).or_insert_with(free_port);
        format!("127.0.0.1:{port}")
    }

    fn data_dir(&mut self, id: u64) -> PathBuf {
        self.dirs
            .entry(id)
            .or_insert_with(|| tempfile::tempdir().unwrap())
            .path()
            .to_path_buf()
    }

    async fn start(&mut self, id: u64) -> RaftNode {
        let addr = self.addr(id);
        let mut cfg = RaftConfig::new(
            id,
            self.data_dir(id),
            addr.parse::<SocketAddr>().unwrap(),
            addr,
            self.tls(id),
        );
        (self.tweak)(&mut cfg);
        let node = RaftNode::start(cfg, Box::new(|_, _| {})).await.unwrap();
        self.nodes.insert(id, node.clone());
        node
    }

    async fn stop(&mut self, id: u64) {
        let node = self.nodes.remove(&id).unwrap();
        node.shutdown().await.unwrap();
    }

    fn members(&mut self, ids: &[u64]) -> BTreeMap<u64, String> {
        ids.iter().map(|&id| (id, self.addr(id))).collect()
    }

    fn node(&self, id: u64) -> &RaftNode {
        &self.nodes[&id]
    }

    /// Waits until every running node agrees on one leader; returns it.
    async fn leader(&self, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            let leaders: BTreeSet<Option<u64>> =
                self.nodes.values().map(|n| n.status().leader).collect();
            if let Some(&Some(l)) = leaders.iter().next() {
                if leaders.len() == 1 && self.nodes.contains_key(&l) {
                    return l;
                }
            }
            assert!(Instant::now() < deadline, "no agreed leader: {leaders:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn follower(&self, leader: u64) -> u64 {
        *self.nodes.keys().find(|&&id| id != leader).unwrap()
    }

    /// Waits until every running node's registry equals `want`.
    async fn converge(&self, want: &Registry, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let behind: Vec<u64> = self
                .nodes
                .iter()
                .filter(|(_, n)| *n.read() != *want)
                .map(|(id, _)| *id)
                .collect();
            if behind.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nodes {behind:?} did not converge"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn shutdown_all(&mut self) {
        for id in self.nodes.keys().copied().collect::<Vec<_>>() {
            self.stop(id).await;
        }
    }
}

fn fast(cfg: &mut RaftConfig) {
    cfg.request_timeout = Duration::from_secs(8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_fail_over_and_recover() {
    let mut c = Cluster::new(fast);
    for id in 1..=3 {
        c.start(id).await;
    }
    let members = c.members(&[1, 2, 3]);
    c.node(1).initialize(members.clone()).await.unwrap();
    assert!(matches!(
        c.node(1).initialize(members).await,
        Err(ClusterError::AlreadyInitialized)
    ));
    let leader = c.leader(Duration::from_secs(5)).await;
    let follower = c.follower(leader);
    let mut acked = Vec::new();

    // On the leader, and forwarded from a follower; refusals come back as such.
    assert_eq!(c.node(leader).propose(create("a")).await.unwrap(), Ok(()));
    acked.push("a");
    assert_eq!(c.node(follower).propose(create("b")).await.unwrap(), Ok(()));
    acked.push("b");
    // Read-your-writes on the node that took the write.
    assert!(c.node(follower).read().apis.contains_key("b"));
    assert!(matches!(
        c.node(follower).propose(create("a")).await.unwrap(),
        Err(ApplyError::Conflict(_))
    ));
    for i in 0..20 {
        let id = format!("w{i}");
        let node = if i % 2 == 0 { leader } else { follower };
        c.node(node).propose(create(&id)).await.unwrap().unwrap();
        acked.push(Box::leak(id.into_boxed_str()));
    }
    // Concurrent writes through every node, and concurrent linearizable reads (coalesced on
    // the leader) that each see the writes acknowledged before they started.
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..30u64 {
        let node = c.node(1 + i % 3).clone();
        writes.spawn(async move { node.propose(create(&format!("c{i}"))).await });
    }
    while let Some(r) = writes.join_next().await {
        r.unwrap().unwrap().unwrap();
    }
    acked.extend((0..30).map(|i| &*Box::leak(format!("c{i}").into_boxed_str())));
    let mut reads = tokio::task::JoinSet::new();
    for i in 0..60u64 {
        let node = c.node(1 + i % 3).clone();
        reads.spawn(async move {
            node.linearizable().await.unwrap();
            node.read().apis.contains_key("c29")
        });
    }
    while let Some(r) = reads.join_next().await {
        assert!(
            r.unwrap(),
            "a linearizable read missed an acknowledged write"
        );
    }
    let want = c.node(leader).read().clone();
    c.converge(&want, Duration::from_secs(5)).await;

    let status = c.node(leader).status();
    assert_eq!(status.state, "Leader");
    assert_eq!(status.members.len(), 3);
    assert!(status
        .members
        .iter()
        .all(|m| m.voter && m.matched.is_some()));
    let json = serde_json::to_string(&status).unwrap();
    assert!(json.contains("\"leader\""));

    // Stop the leader: a new one is elected and takes writes.
    let stopped_at = Instant::now();
    c.stop(leader).await;
    let new_leader = c.leader(Duration::from_secs(5)).await;
    let election = stopped_at.elapsed();
    eprintln!("new leader {new_leader} elected {election:?} after stopping leader {leader}");
    assert_ne!(new_leader, leader);
    let other = c.follower(new_leader);
    c.node(new_leader)
        .propose(create("after1"))
        .await
        .unwrap()
        .unwrap();
    c.node(other)
        .propose(create("after2"))
        .await
        .unwrap()
        .unwrap();
    acked.extend(["after1", "after2"]);

    // Restart the stopped node from its data directory: it catches up.
    let restarted_at = Instant::now();
    c.start(leader).await;
    let want = c.node(new_leader).read().clone();
    c.converge(&want, Duration::from_secs(5)).await;
    eprintln!(
        "restarted node {leader} caught up in {:?}",
        restarted_at.elapsed()
    );
    c.node(leader)
        .propose(create("after3"))
        .await
        .unwrap()
        .unwrap();
    acked.push("after3");

    // Full-cluster restart: every acknowledged write is still there.
    c.shutdown_all().await;
    let restart = Instant::now();
    for id in 1..=3 {
        c.start(id).await;
    }
    let leader = c.leader(Duration::from_secs(5)).await;
    c.node(leader).linearizable().await.unwrap();
    let want = c.node(leader).read().clone();
    for id in &acked {
        assert!(want.apis.contains_key(*id), "acknowledged write {id} lost");
    }
    assert_eq!(want.apis.len(), acked.len());
    c.converge(&want, Duration::from_secs(5)).await;
    eprintln!(
        "full restart: leader and convergence in {:?}",
        restart.elapsed()
    );
    c.shutdown_all().await;
}

fn snapshot_often(cfg: &mut RaftConfig) {
    cfg.snapshot_every = 20;
    cfg.logs_kept_after_snapshot = 0;
    cfg.snapshot_chunk_size = 1024; // several chunks even for a small registry
    cfg.request_timeout = Duration::from_secs(8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_node_catches_up_by_snapshot_and_is_promoted() {
    let mut c = Cluster::new(snapshot_often);
    for id in 1..=3 {
        c.start(id).await;
    }
    let members = c.members(&[1, 2, 3]);
    c.node(1).initialize(members).await.unwrap();
    let leader = c.leader(Duration::from_secs(5)).await;
    let follower = c.follower(leader);
    for i in 0..60 {
        c.node(leader)
            .propose(create(&format!("api{i}")))
            .await
            .unwrap()
            .unwrap();
    }
    // Snapshot built and the log purged behind it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = c.node(leader).status();
        if s.snapshot_index.is_some() && s.purged_index.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "no snapshot/purge: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A fresh node, added from a follower (forwarded), can only catch up by snapshot.
    let joined = Instant::now();
    let n4 = c.start(4).await;
    let addr4 = c.addr(4);
    c.node(follower).add_learner(4, addr4).await.unwrap();
    let want = c.node(leader).read().clone();
    c.converge(&want, Duration::from_secs(10)).await;
    eprintln!("learner caught up in {:?}", joined.elapsed());
    let s4 = n4.status();
    assert!(
        s4.snapshot_index.is_some(),
        "node 4 got no snapshot: {s4:?}"
    );
    assert_eq!(s4.leader, Some(leader));

    c.node(follower)
        .change_membership(BTreeSet::from([1, 2, 3, 4]))
        .await
        .unwrap();
    let s = c.node(leader).status();
    assert_eq!(s.members.iter().filter(|m| m.voter).count(), 4, "{s:?}");
    n4.propose(create("from4")).await.unwrap().unwrap();
    assert!(n4.read().apis.contains_key("from4"));

    // Remove it again; the rest keep working.
    c.node(leader).remove_node(4).await.unwrap();
    let s = c.node(leader).status();
    assert!(s.members.iter().all(|m| m.id != 4), "{s:?}");
    c.stop(4).await;
    c.node(follower)
        .propose(create("after"))
        .await
        .unwrap()
        .unwrap();
    c.shutdown_all().await;
}

async fn single_node(c: &mut Cluster) -> RaftNode {
    let node = c.start(1).await;
    let members = c.members(&[1]);
    node.initialize(members).await.unwrap();
    c.leader(Duration::from_secs(5)).await;
    node
}

fn client(tls: &ClusterTls) -> std::sync::Arc<Transport> {
    let ep = network::endpoint("127.0.0.1:0".parse().unwrap(), tls).unwrap();
    Transport::new(99, ep)
}

fn self_signed() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![pki::SERVER_NAME.to_string()]).unwrap();
    (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_peers_without_a_cluster_certificate() {
    let mut c = Cluster::new(fast);
    let node = single_node(&mut c).await;
    let addr = c.addr(1);
    let t = Duration::from_secs(3);

    // A cluster certificate works (node 2 is no member of this one-node cluster, so it asks
    // what any node may: a member would refuse it a read-index, answering NotMember).
    let good = client(&c.tls(2));
    match good.call(1, &addr, Request::LedgerGroups, None, t).await {
        Ok(Response::LedgerGroups { .. }) => {}
        other => panic!("member refused: {other:?}"),
    }

    // A self-signed client certificate is refused.
    let (cert, key) = self_signed();
    let stranger = client(&ClusterTls {
        ca_cert_pem: c.ca.0.clone(),
        node_cert_pem: cert,
        node_key_pem: key,
    });
    let res = stranger.call(1, &addr, Request::ReadIndex, None, t).await;
    eprintln!("self-signed client: {res:?}");
    let err = res.expect_err("self-signed client must be refused");
    assert_ne!(
        err.kind,
        CallErrorKind::Timeout,
        "refused, not ignored: {err}"
    );

    // A certificate from another CA is refused too.
    let other = Cluster::new(fast);
    let foreign = client(&other.tls(2));
    let res = foreign.call(1, &addr, Request::ReadIndex, None, t).await;
    assert!(res.is_err(), "foreign-CA client must be refused: {res:?}");

    // A server with a foreign certificate is refused by a member.
    let mut rogue = Cluster::new(fast);
    rogue.ca = other.ca.clone();
    let rogue_node = single_node(&mut rogue).await;
    let rogue_addr = rogue.addr(1);
    let res = good.call(1, &rogue_addr, Request::ReadIndex, None, t).await;
    eprintln!("foreign server: {res:?}");
    let err = res.expect_err("foreign server must be refused");
    assert_eq!(err.kind, CallErrorKind::Connect, "{err}");
    assert!(!err.sent);

    // Garbage on a member's connection is answered, not fatal.
    drop(rogue_node);
    rogue.shutdown_all().await;
    node.propose(create("still-fine")).await.unwrap().unwrap();
    c.shutdown_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_survives_restart_and_answers_wrong_target() {
    let mut c = Cluster::new(fast);
    let node = single_node(&mut c).await;
    node.propose(create("x")).await.unwrap().unwrap();
    node.linearizable().await.unwrap();
    // A request meant for another node id is refused by the receiver.
    let t = client(&c.tls(2));
    let addr = c.addr(1);
    match t
        .call(7, &addr, Request::ReadIndex, None, Duration::from_secs(3))
        .await
    {
        Ok(Response::Failed(m)) => assert!(m.contains("not node 7"), "{m}"),
        other => panic!("{other:?}"),
    }
    c.stop(1).await;
    let node = c.start(1).await;
    // The registry is back before any leader is elected (snapshot + committed log replay).
    let deadline = Instant::now() + Duration::from_secs(5);
    while !node.read().apis.contains_key("x") {
        assert!(Instant::now() < deadline, "write lost across restart");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(matches!(
        node.initialize(c.members(&[1])).await,
        Err(ClusterError::AlreadyInitialized)
    ));
    node.propose(create("y")).await.unwrap().unwrap();
    c.shutdown_all().await;
}

/// A usage report retried after a leader change (the answer to the first attempt was lost)
/// is counted once on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_reports_are_counted_once_across_a_leader_change() {
    use tollgate_proto::UsageDelta;
    let mut c = Cluster::new(fast);
    for id in 1..=3 {
        c.start(id).await;
    }
    let members = c.members(&[1, 2, 3]);
    c.node(1).initialize(members).await.unwrap();
    let leader = c.leader(Duration::from_secs(5)).await;
    let reporter = c.follower(leader);
    let report = |seq, count| Command::ReportUsage {
        node_id: reporter,
        seq,
        at: 1_800_000_000,
        deltas: vec![UsageDelta {
            key_id: "key-1".into(),
            count,
        }],
    };
    c.node(reporter)
        .propose(report(1, 40))
        .await
        .unwrap()
        .unwrap();
    // The leader dies; the reporter, not knowing whether report 1 landed, sends it again
    // through the new leader, then goes on with report 2.
    c.stop(leader).await;
    c.leader(Duration::from_secs(10)).await;
    c.node(reporter)
        .propose(report(1, 40))
        .await
        .unwrap()
        .unwrap();
    c.node(reporter)
        .propose(report(2, 2))
        .await
        .unwrap()
        .unwrap();
    let want = c.node(reporter).read().clone();
    assert_eq!(want.usage.used_on("key-1", 1_800_000_000), 42);
    // The old leader comes back and agrees.
    c.start(leader).await;
    c.converge(&want, Duration::from_secs(10)).await;
    c.shutdown_all().await;
}

/// Identified writes ([`Command::Once`]) forwarded by the followers while the leader is
/// stopped under them get a definite answer — the node asks the new leader again with the
/// same identity instead of answering "outcome unknown" — and each applies exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identified_writes_in_flight_when_the_leader_dies_apply_once_and_get_an_answer() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tollgate_proto::RequestId;
    let mut c = Cluster::new(fast);
    for id in 1..=3 {
        c.start(id).await;
    }
    let members = c.members(&[1, 2, 3]);
    c.node(1).initialize(members).await.unwrap();
    let leader = c.leader(Duration::from_secs(5)).await;
    let followers: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..8u64 {
        let node = c.node(followers[(w % 2) as usize]).clone();
        let stop = stop.clone();
        writers.spawn(async move {
            let mut answers = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("w{w}x{i}");
                let cmd = Command::Once {
                    request: RequestId {
                        client: u128::from(w) << 64 | u128::from(i),
                        part: 0,
                    },
                    command: Box::new(create(&id)),
                };
                answers.push((id, node.propose(cmd).await));
                i += 1;
            }
            answers
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.stop(leader).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = 0;
    let mut failures = Vec::new();
    let mut all = Vec::new();
    while let Some(r) = writers.join_next().await {
        for (id, answer) in r.unwrap() {
            match answer {
                Ok(Ok(())) => acked += 1,
                other => failures.push(format!("{id}: {other:?}")),
            }
            all.push(id);
        }
    }
    assert!(
        failures.is_empty(),
        "writes without a definite answer: {failures:?}"
    );
    let node = c.node(followers[0]);
    node.linearizable().await.unwrap();
    let reg = node.read().clone();
    // Every acknowledged write is there once (a second application of a create would have
    // been refused as a conflict, not acknowledged), and nothing else is.
    assert_eq!(reg.apis.len(), acked, "{} writes", all.len());
    for id in &all {
        assert!(reg.apis.contains_key(id), "acknowledged write {id} lost");
    }
    eprintln!("{acked} identified writes acknowledged across the leader change");
    c.shutdown_all().await;
}

/// Item 5 of the durability review: a failed log write (a full disk) stops Raft for good, and
/// the node says so (`stopped()`, which the health probe reports, and `wait_stopped()`, which
/// makes the process exit so a supervisor restarts it). A real full disk: a small tmpfs
/// (needs root, as CI runs; elsewhere the test says so and passes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_raft_and_the_node_says_so() {
    let mnt = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(mnt.path())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root)");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(mnt.path().to_path_buf());
    let mut c = Cluster::new(fast);
    c.dirs.insert(1, tempfile::tempdir_in(mnt.path()).unwrap());
    let node = single_node(&mut c).await;
    node.propose(create("a")).await.unwrap().unwrap();
    assert_eq!(node.stopped(), None);
    {
        use std::io::Write;
        let mut f = std::fs::File::create(mnt.path().join("filler")).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        while f.write_all(&chunk[..512]).is_ok() {}
    }
    let mut failed = false;
    for i in 0..100 {
        if node.propose(create(&format!("b{i}"))).await.is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "no write failed on a full disk");
    let why = tokio::time::timeout(Duration::from_secs(10), node.wait_stopped())
        .await
        .expect("raft did not stop");
    eprintln!("raft stopped: {why}");
    assert!(node.stopped().is_some(), "{why}");
    assert!(
        why.contains("space") || why.contains("storage") || why.contains("I/O"),
        "{why}"
    );
}

/// Ledger groups run on the configuration group's endpoint: a usage report for a key of group
/// 2 goes to group 2 (forwarded to its leader), is applied by all three nodes' group 2 and by
/// no other group, and is counted once when it is sent again through a new leader of the
/// group. Group 2 prefers the third voter as leader and gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_group_replicates_on_the_shared_endpoint_and_counts_once() {
    use tollgate_consensus::raft::ledger::{group_of, keep_leader_spread};
    use tollgate_proto::UsageDelta;
    const GROUPS: u32 = 3;
    let mut c = Cluster::new(fast);
    let mut groups: BTreeMap<u64, BTreeMap<u32, RaftNode>> = BTreeMap::new();
    for id in 1..=3 {
        let node = c.start(id).await;
        for g in 1..GROUPS {
            let dir = c.data_dir(id).join(format!("ledger-{g}"));
            let gn = node.start_group(g, dir, Box::new(|_, _| {})).await.unwrap();
            tokio::spawn(keep_leader_spread(gn.clone()));
            groups.entry(id).or_default().insert(g, gn);
        }
    }
    let members = c.members(&[1, 2, 3]);
    c.node(1).initialize(members.clone()).await.unwrap();
    for g in 1..GROUPS {
        groups[&1][&g].initialize(members.clone()).await.unwrap();
    }
    let key = (0..)
        .map(|i| format!("plan:key-{i}"))
        .find(|k| group_of(k, GROUPS) == 2)
        .unwrap();
    // Leadership of group 2 moves to its preferred voter, node 3.
    let deadline = Instant::now() + Duration::from_secs(20);
    while groups[&1][&2].status().leader != Some(3) {
        assert!(Instant::now() < deadline, "group 2 not led by node 3");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let report = |seq, count| Command::ReportUsage {
        node_id: 1,
        seq,
        at: 1_800_000_000,
        deltas: vec![UsageDelta {
            key_id: key.clone(),
            count,
        }],
    };
    groups[&1][&2]
        .propose(report(1, 40))
        .await
        .unwrap()
        .unwrap();
    // Group 2's leader stops (the whole group on node 3); the report is sent again through
    // the new leader, then the next one.
    groups
        .get_mut(&3)
        .unwrap()
        .remove(&2)
        .unwrap()
        .shutdown()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(groups[&1][&2].status().leader, Some(l) if l != 3) {
        assert!(Instant::now() < deadline, "no new leader of group 2");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    groups[&1][&2]
        .propose(report(1, 40))
        .await
        .unwrap()
        .unwrap();
    groups[&2][&2].propose(report(2, 2)).await.unwrap().unwrap();
    // Node 2 applied everything it proposed.
    assert_eq!(groups[&2][&2].read().usage.used_on(&key, 1_800_000_000), 42);
    // Node 3's group 2 comes back on the running endpoint and catches up.
    let dir = c.data_dir(3).join("ledger-2");
    let back = c
        .node(3)
        .start_group(2, dir, Box::new(|_, _| {}))
        .await
        .unwrap();
    groups.get_mut(&3).unwrap().insert(2, back);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counts: Vec<u64> = (1..=3)
            .map(|id| groups[&id][&2].read().usage.used_on(&key, 1_800_000_000))
            .collect();
        if counts == [42, 42, 42] {
            break;
        }
        assert!(Instant::now() < deadline, "group 2 counts {counts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No other group, and not the configuration group, saw the report.
    for id in 1..=3 {
        assert_eq!(c.node(id).read().usage.used_on(&key, 1_800_000_000), 0);
        assert_eq!(groups[&id][&1].read().usage.used_on(&key, 1_800_000_000), 0);
    }
    // The configuration group still works beside them.
    c.node(2).propose(create("after")).await.unwrap().unwrap();
    c.shutdown_all().await;
}

/// A ledger group follows the configuration group's membership: a fourth node added to group
/// 0 (learner, then voter) is added to the ledger group by `follow_membership` on group 0's
/// leader, receives the group's reports, and a node removed from group 0 leaves it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_group_follows_membership_changes() {
    use tollgate_consensus::raft::ledger::{follow_membership, keep_leader_spread};
    use tollgate_proto::UsageDelta;
    let mut c = Cluster::new(fast);
    let mut groups: BTreeMap<u64, RaftNode> = BTreeMap::new();
    let mut groups2: BTreeMap<u64, RaftNode> = BTreeMap::new();
    for id in 1..=4 {
        let node = c.start(id).await;
        let dir = c.data_dir(id).join("ledger-1");
        let g = node.start_group(1, dir, Box::new(|_, _| {})).await.unwrap();
        tokio::spawn(follow_membership(node.clone(), g.clone()));
        groups.insert(id, g);
        // Group 2 steers its leadership: to node 3 (the 2 mod 3-th of voters 1..3), then
        // to node 4 once node 3 has left (2 mod 3-th of 1, 2, 4).
        let dir = c.data_dir(id).join("ledger-2");
        let g2 = node.start_group(2, dir, Box::new(|_, _| {})).await.unwrap();
        tokio::spawn(follow_membership(node.clone(), g2.clone()));
        tokio::spawn(keep_leader_spread(g2.clone()));
        groups2.insert(id, g2);
    }
    let members = c.members(&[1, 2, 3]);
    c.node(1).initialize(members.clone()).await.unwrap();
    groups[&1].initialize(members.clone()).await.unwrap();
    groups2[&1].initialize(members).await.unwrap();
    let report = |seq| Command::ReportUsage {
        node_id: 2,
        seq,
        at: 1_800_000_000,
        deltas: vec![UsageDelta {
            key_id: "p:k".into(),
            count: 5,
        }],
    };
    groups[&2].propose(report(1)).await.unwrap().unwrap();
    let addr = c.addr(4);
    c.node(2).add_learner(4, addr).await.unwrap();
    c.node(2)
        .change_membership(BTreeSet::from([1, 2, 3, 4]))
        .await
        .unwrap();
    let voters = |g: &RaftNode| -> BTreeSet<u64> {
        g.status()
            .members
            .iter()
            .filter(|m| m.voter)
            .map(|m| m.id)
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while voters(&groups[&1]) != BTreeSet::from([1, 2, 3, 4])
        || groups[&4].read().usage.used_on("p:k", 1_800_000_000) != 5
    {
        assert!(
            Instant::now() < deadline,
            "group 1 voters {:?}",
            voters(&groups[&1])
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    groups[&4].propose(report(2)).await.unwrap().unwrap();
    assert_eq!(groups[&4].read().usage.used_on("p:k", 1_800_000_000), 10);
    // Node 3 leaves the cluster, and the group.
    c.node(1).remove_node(3).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ids: BTreeSet<u64> = groups[&1].status().members.iter().map(|m| m.id).collect();
        if ids == BTreeSet::from([1, 2, 4]) {
            break;
        }
        assert!(Instant::now() < deadline, "group 1 members {ids:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Leaders stay spread after the change: group 2 moves to node 4, its preferred voter now.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ids: BTreeSet<u64> = groups2[&1].status().members.iter().map(|m| m.id).collect();
        let leader = groups2[&1].status().leader;
        if ids == BTreeSet::from([1, 2, 4]) && leader == Some(4) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "group 2 members {ids:?}, leader {leader:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.shutdown_all().await;
}

/// The groups of a cluster of nodes 1..=4 (groups 1..=3 beside the configuration group), each
/// following group 0's membership and keeping its leadership spread.
async fn spread_cluster(c: &mut Cluster) -> BTreeMap<u64, Vec<RaftNode>> {
    use tollgate_consensus::raft::ledger::{follow_membership, keep_leader_spread};
    let mut groups: BTreeMap<u64, Vec<RaftNode>> = BTreeMap::new();
    for id in 1..=4 {
        let node = c.start(id).await;
        let mut gs = vec![node.clone()];
        for g in 1..=3 {
            let dir = c.data_dir(id).join(format!("ledger-{g}"));
            let gn = node.start_group(g, dir, Box::new(|_, _| {})).await.unwrap();
            tokio::spawn(follow_membership(node.clone(), gn.clone()));
            tokio::spawn(keep_leader_spread(gn.clone()));
            gs.push(gn);
        }
        groups.insert(id, gs);
    }
    groups
}

/// Waits until, on every node of `on`, every ledger group has exactly `voters` and is led by
/// its preferred voter; returns how long it took.
async fn wait_spread(
    groups: &BTreeMap<u64, Vec<RaftNode>>,
    on: &[u64],
    voters: &BTreeSet<u64>,
    within: Duration,
) -> Duration {
    use tollgate_consensus::raft::ledger::preferred_leader;
    let start = Instant::now();
    loop {
        let mut wrong = Vec::new();
        for g in 1..=3u32 {
            let want = preferred_leader(g, voters);
            for id in on {
                let s = groups[id][g as usize].status();
                let have: BTreeSet<u64> =
                    s.members.iter().filter(|m| m.voter).map(|m| m.id).collect();
                if s.leader != want || have != *voters {
                    wrong.push((g, *id, s.leader, have));
                }
            }
        }
        if wrong.is_empty() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "voters {voters:?}: not spread after {within:?} (group, node, leader, voters): {wrong:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Finding 1 of docs/CHAOS.md: after a promotion to 4 voters every ledger group's leadership
/// reaches its preferred voter (a forced election alone cannot win there: the two other
/// followers' leases refuse it; the leader hands over), while usage reports keep arriving in
/// every group, none lost or counted twice; and the way back to 3 voters spreads too. Three
/// rounds of promote/remove/re-add. Node 4, removed, learns it (finding 3: it never receives
/// the change as a follower), stops campaigning, says so, and refuses a write at once (4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_reaches_the_preferred_voter_after_every_promotion_and_removal() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use tollgate_proto::UsageDelta;
    let mut c = Cluster::new(fast);
    let groups = spread_cluster(&mut c).await;
    let three = BTreeSet::from([1, 2, 3]);
    let four = BTreeSet::from([1, 2, 3, 4]);
    let members = c.members(&[1, 2, 3]);
    for g in &groups[&1] {
        g.initialize(members.clone()).await.unwrap();
    }
    let took = wait_spread(&groups, &[1, 2, 3], &three, Duration::from_secs(30)).await;
    eprintln!("3 voters spread in {took:?}");
    // Reports through nodes 1..3 into every ledger group the whole time: each is acknowledged
    // (retried through leader changes within the request timeout) and counted once.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for id in 1..=3u64 {
        for node in groups[&id].iter().skip(1) {
            let node = node.clone();
            let (stop, sent) = (stop.clone(), sent.clone());
            writers.push(tokio::spawn(async move {
                let mut seq = 0;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    let report = Command::ReportUsage {
                        node_id: id,
                        seq,
                        at: 1_800_000_000,
                        deltas: vec![UsageDelta {
                            key_id: "p:k".into(),
                            count: 1,
                        }],
                    };
                    node.propose(report).await.unwrap().unwrap();
                    sent.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                seq
            }));
        }
    }
    let addr4 = c.addr(4);
    let mut promoted = Vec::new();
    let mut removed = Vec::new();
    for round in 0..3 {
        c.node(1).add_learner(4, addr4.clone()).await.unwrap();
        c.node(2).change_membership(four.clone()).await.unwrap();
        let took = wait_spread(&groups, &[1, 2, 3, 4], &four, Duration::from_secs(20)).await;
        eprintln!("round {round}: 4 voters spread in {took:?}");
        promoted.push(took);
        assert!(
            groups[&4].iter().all(|g| !g.removed()),
            "node 4 is a member again"
        );
        c.node(3).remove_node(4).await.unwrap();
        let took = wait_spread(&groups, &[1, 2, 3], &three, Duration::from_secs(20)).await;
        eprintln!("round {round}: back to 3 voters spread in {took:?}");
        removed.push(took);
        // Node 4 learns it was removed, in every group, and stops campaigning.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !groups[&4].iter().all(|g| g.removed() && g.status().removed) {
            let seen: Vec<bool> = groups[&4].iter().map(|g| g.removed()).collect();
            assert!(
                Instant::now() < deadline,
                "node 4 does not know it was removed: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let terms: Vec<u64> = groups[&4].iter().map(|g| g.status().term).collect();
        // A write through it is refused at once, and applied nowhere.
        let t = Instant::now();
        let refused = groups[&4][0]
            .propose(create(&format!("via-4-{round}")))
            .await;
        assert!(
            matches!(refused, Err(tollgate_consensus::ProposeError::NoLeader)),
            "{refused:?}"
        );
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        assert!(matches!(
            groups[&4][0].linearizable().await,
            Err(ClusterError::Removed)
        ));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let later: Vec<u64> = groups[&4].iter().map(|g| g.status().term).collect();
        assert_eq!(terms, later, "a removed node campaigned");
    }
    stop.store(true, Ordering::Relaxed);
    let mut per_node = 0;
    for w in writers {
        per_node += w.await.unwrap();
    }
    // Every group counted every report it acknowledged exactly once, on every member.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let totals: Vec<u64> = (1..=3u64)
            .map(|id| {
                (1..=3usize)
                    .map(|g| groups[&id][g].read().usage.used_on("p:k", 1_800_000_000))
                    .sum()
            })
            .collect();
        if totals.iter().all(|&t| t == per_node) {
            break;
        }
        assert!(
            Instant::now() < deadline && totals.iter().all(|&t| t <= per_node),
            "counted {totals:?} of {per_node} acknowledged reports"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sent.load(Ordering::Relaxed), per_node);
    for id in [1u64, 2, 3] {
        assert!(
            c.node(id)
                .read()
                .apis
                .keys()
                .all(|k| !k.starts_with("via-4")),
            "a write through the removed node was applied"
        );
    }
    eprintln!("promotions spread in {promoted:?}, removals in {removed:?}; {per_node} reports");
    c.shutdown_all().await;
}
