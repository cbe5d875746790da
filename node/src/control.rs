//! Node control: opening the replicated state and keeping the data plane's routing table in
//! step with it.
//!
//! Every applied batch of commands hands the compiler thread ([`crate::compiler`]) what it
//! changed: the APIs whose deployed stages the batch could change, and whether keys, plans or
//! grants did. Usage reports never recompile: the hook rewrites the remaining counts of the
//! quotas they name in their slots, and this node's own reports take their usage off the
//! pending quota counts (after the remaining counts that include that usage are written, so a
//! request is never missed by both), through the slots the workers counted them in
//! ([`crate::dataplane::key_table::KeyTable::apply_usage`]): per usage entry, one registry read
//! and one slot write, whatever the number of keys. Load reports in the batch then reset this
//! node's share of each limit they name.

use crate::compiler::{ChangeSet, Compiler};
use crate::config::ClusterSettings;
use crate::dataplane::routing::today;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tollgate_consensus::{pki, ClusterError, LocalNode, OnApplied, RaftConfig, RaftNode, Replica};
use tollgate_proto::Command;

/// The hook run for every applied batch: hands what the batch changed to `compiler`, rewrites
/// the quota counts usage reports name, and keeps the node's limit shares current.
pub fn routes_hook(compiler: &Arc<Compiler>) -> OnApplied {
    // Weak: the registry (which holds this hook) must not keep the compiler alive, whose
    // thread holds the registry.
    let compiler = Arc::downgrade(compiler);
    Box::new(move |reg, applied| {
        let Some(compiler) = compiler.upgrade() else {
            return;
        };
        let limits = compiler.limits();
        if applied.is_empty() {
            // Recovery or snapshot install: build everything, here (at start the compiler
            // thread has no registry to read yet). The snapshot may hold reports of this
            // node's whose entries it replaced.
            compiler.compile_all_now(reg);
            if let Some(last) = reg.usage.last_seq.get(&limits.node_id()) {
                limits.own_usage_committed_through(0, *last);
            }
            return;
        }
        let changes = ChangeSet::of(applied);
        if !changes.is_empty() {
            compiler.submit(changes);
        }
        // Usage reports only change what quotas have left: rewrite those counts in the slots
        // the workers read (a key table being compiled is brought up to the ledger before it
        // is published), and take this node's own usage off its pending counts.
        let table = compiler.routes().load();
        for c in applied {
            match c.inner() {
                Command::ReportLoad {
                    node_id,
                    seq,
                    deltas,
                    ..
                } if *node_id == limits.node_id() => {
                    let own = limits.take_own(*seq);
                    table.keys.apply_usage(reg, deltas, own.as_ref(), limits);
                }
                Command::ReportUsage { deltas, .. } | Command::ReportLoad { deltas, .. } => {
                    table.keys.apply_usage(reg, deltas, None, limits);
                }
                _ => {}
            }
        }
        let now = std::time::Instant::now();
        // Reports applied before this node caught up at start were replayed from the log: their
        // demand is old. (Decided here rather than from the sender's clock, which may be off.)
        let live = limits.is_live();
        for c in applied {
            if let Command::ReportLoad {
                node_id,
                interval_ms,
                demand,
                ..
            } = c
            {
                if live && !demand.is_empty() {
                    limits.apply_report(*node_id, *interval_ms, demand, now);
                }
            }
        }
    })
}

/// How often the day rollover checks the UTC date.
const ROLLOVER_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Has the key table recompiled when the UTC day changes, for as long as the runtime runs.
/// What a quota has left is counted for the day the table was compiled on; without this, a
/// quota spent yesterday would stay spent on a node that applies nothing that touches keys
/// (every request of a spent key is refused, so none adds usage).
pub async fn recompile_keys_daily(compiler: Arc<Compiler>) {
    recompile_keys_on_new_day(compiler, today, ROLLOVER_CHECK).await
}

/// [`recompile_keys_daily`] with its clock (`day`: the UTC day number now) and period.
async fn recompile_keys_on_new_day(
    compiler: Arc<Compiler>,
    today: impl Fn() -> i64,
    every: std::time::Duration,
) {
    let mut day = today();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = today();
        if now != day {
            day = now;
            compiler.submit(ChangeSet {
                keys: true,
                ..ChangeSet::default()
            });
            tracing::debug!(
                day,
                "new UTC day: key table recompile handed to the compiler"
            );
        }
    }
}

/// Opens a single-node local log in `dir` (no cluster), and starts `compiler` on it.
pub fn open_local(dir: &Path, compiler: Arc<Compiler>) -> std::io::Result<Replica> {
    let node = LocalNode::open(&dir.join("state"), routes_hook(&compiler)).map(Replica::Local)?;
    compiler.start(node.clone())?;
    Ok(node)
}

/// Opens this node's Raft member, and starts `compiler` on it. Creates the certificates
/// of a single-node cluster when allowed and missing, and initialises the cluster when this
/// node has no membership yet and is the one to do it (the lowest id of the initial members,
/// or alone). The compiler's limits must be made for this node's id.
pub async fn open_cluster(
    data_dir: &Path,
    c: &ClusterSettings,
    compiler: Arc<Compiler>,
) -> Result<Replica, String> {
    crate::ledger_groups::check_group_count(data_dir, c.ledger_groups)?;
    let tls = ensure_tls(c)?;
    let listen = if c.raft_listen.port() == 0 {
        free_udp_port(c.raft_listen)?
    } else {
        c.raft_listen
    };
    let advertise = c.advertise.clone().unwrap_or_else(|| listen.to_string());
    let mut rc = RaftConfig::new(
        c.node_id,
        data_dir.join("raft"),
        listen,
        advertise.clone(),
        tls,
    );
    rc.snapshot_every = c.snapshot_every;
    rc.logs_kept_after_snapshot = c.snapshot_every;
    rc.peer_addresses = c.peer_addresses.clone();
    rc.recover_missing_log = c.recover_missing_log;
    let node = RaftNode::start(rc, routes_hook(&compiler))
        .await
        .map_err(|e| format!("cluster node {}: {e}", c.node_id))?;
    compiler
        .start(Replica::Raft(node.clone()))
        .map_err(|e| format!("compiler thread: {e}"))?;
    let fresh = !node
        .raft()
        .is_initialized()
        .await
        .map_err(|e| format!("reading the cluster state: {e}"))?;
    let members = if c.initial_members.is_empty() {
        BTreeMap::from([(c.node_id, advertise)])
    } else {
        c.initial_members.clone()
    };
    let initializer = !c.join && members.keys().next() == Some(&c.node_id);
    if fresh && initializer {
        match node.initialize(members.clone()).await {
            Ok(()) | Err(ClusterError::AlreadyInitialized) => {}
            Err(e) => return Err(format!("initialising the cluster: {e}")),
        }
    }
    // The ledger groups (none unless `cluster.ledger_groups` > 1): the node that initialises
    // the configuration group initialises each of them with the same members.
    let init = initializer.then_some(&members);
    crate::ledger_groups::agree_with_cluster(&node, c.ledger_groups, &members).await?;
    crate::ledger_groups::start(&node, data_dir, c.ledger_groups, &compiler, init).await?;
    Ok(Replica::Raft(node))
}

/// How long a restarted node waits to apply what its cluster committed before it serves.
pub const CATCH_UP_BEFORE_SERVING: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits (at most [`CATCH_UP_BEFORE_SERVING`]) until this node has applied everything its
/// cluster committed and `compiler` has published it, so that a restarted node does not serve, for the moment its log takes
/// to replay, an older configuration than the one it acknowledged (a stage's deployment
/// answering 404 just after a restart). A node not yet in a cluster (joining) does not wait;
/// one that cannot reach its cluster in time serves what it recovered from disk, and says so.
pub async fn catch_up_before_serving(node: &Replica, compiler: &Compiler) {
    let Some(raft) = node.raft() else { return };
    if !raft.raft().is_initialized().await.unwrap_or(false) {
        return;
    }
    let caught_up = async {
        node.linearizable().await?;
        // Applied is not yet served: the tables of what was replayed are compiled off the
        // apply thread.
        compiler.caught_up().await;
        Ok::<(), ClusterError>(())
    };
    match tokio::time::timeout(CATCH_UP_BEFORE_SERVING, caught_up).await {
        Ok(Ok(())) => tracing::debug!("caught up with the cluster before serving"),
        Ok(Err(e)) => tracing::warn!(
            error = %e,
            "could not catch up with the cluster; serving the configuration recovered from disk"
        ),
        Err(_) => tracing::warn!(
            secs = CATCH_UP_BEFORE_SERVING.as_secs(),
            "the cluster did not answer in time; serving the configuration recovered from disk"
        ),
    }
}

fn ensure_tls(c: &ClusterSettings) -> Result<pki::ClusterTls, String> {
    let dir = &c.tls_dir;
    if !dir.join(pki::NODE_CERT_FILE).exists() {
        let (ca, key) = match pki::read_ca(dir) {
            Ok(pair) => pair,
            Err(_) if c.generate_tls && !dir.join(pki::CA_CERT_FILE).exists() => {
                let (ca, key) = pki::create_ca().map_err(|e| format!("creating a CA: {e}"))?;
                pki::write_ca(dir, &ca, &key)
                    .map_err(|e| format!("writing the CA into {}: {e}", dir.display()))?;
                (ca, key)
            }
            Err(e) => {
                return Err(format!(
                    "no node certificate in {} ({e}); create one with `tollgate cluster init-ca` and `tollgate cluster issue-cert`",
                    dir.display()
                ))
            }
        };
        let ip = c.raft_listen.ip();
        let (cert, node_key) =
            pki::issue_node_cert(&ca, &key, &format!("node-{}", c.node_id), &[ip])
                .map_err(|e| format!("issuing the node certificate: {e}"))?;
        pki::write_node(dir, &ca, &cert, &node_key)
            .map_err(|e| format!("writing the node certificate into {}: {e}", dir.display()))?;
    }
    pki::read_node(dir).map_err(|e| format!("reading certificates from {}: {e}", dir.display()))
}

fn free_udp_port(addr: SocketAddr) -> Result<SocketAddr, String> {
    std::net::UdpSocket::bind(addr)
        .and_then(|s| s.local_addr())
        .map_err(|e| format!("cannot bind {addr} (cluster endpoint): {e}"))
}

/// Graceful shutdown of the data plane: stop accepting, let the requests in progress finish
/// (answered with `Connection: close`) for up to `grace`, then return.
pub async fn drain_data_plane(
    dp: &crate::dataplane::worker::DataPlane,
    grace: std::time::Duration,
) {
    dp.begin_drain();
    let deadline = tokio::time::Instant::now() + grace;
    while !dp.drained() {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "shutdown grace period over; requests still in progress are cut"
            );
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tracing::info!("data plane drained");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::cluster_limits::ClusterLimits;
    use crate::dataplane::routing::RoutingTable;
    use std::sync::atomic::{AtomicI64, Ordering};

    #[test]
    fn a_usage_report_updates_quotas_in_place_without_a_recompile() {
        use crate::dataplane::key_table::tests::{registry, report};
        let compiler = Compiler::new(Default::default(), Arc::new(ClusterLimits::new(1)));
        let routes = compiler.routes().clone();
        let mut hook = routes_hook(&compiler);
        let mut reg = registry();
        hook(&reg, &[]);
        let (version, table) = (routes.version(), routes.load());
        let left = |t: &RoutingTable| {
            t.keys.get("value-of-k1-0123456789").unwrap().stages[0]
                .quota
                .as_ref()
                .unwrap()
                .remaining()
        };
        assert_eq!(left(&table), 100);
        let rep = report(1, today(), &tollgate_proto::plan_usage_id("p1", "k1"), 30);
        reg.apply(&rep).unwrap();
        hook(&reg, &[rep]);
        let now = routes.load();
        assert_eq!(routes.version(), version, "nothing published");
        assert!(Arc::ptr_eq(&table.keys, &now.keys), "the same key table");
        assert_eq!(left(&now), 70, "what the quota has left is current");
        assert_eq!(compiler.submitted(), 0, "nothing handed to the compiler");
        // A key change is handed to the compiler thread.
        let change = Command::UpdateApiKey {
            key: reg.api_keys["k2"].clone(),
        };
        hook(&reg, &[change]);
        assert_eq!(compiler.submitted(), 1);
    }

    #[tokio::test]
    async fn the_compiler_thread_publishes_before_a_write_is_answered() {
        let dir = tempfile::tempdir().unwrap();
        let compiler = Compiler::new(Default::default(), Arc::new(ClusterLimits::new(1)));
        let node = open_local(dir.path(), compiler.clone()).unwrap();
        let before = compiler.routes().version();
        node.propose(Command::CreateApiKey {
            key: tollgate_proto::model::ApiKey {
                id: "k1".into(),
                value: "value-of-k1-0123456789".into(),
                enabled: true,
                ..Default::default()
            },
        })
        .await
        .unwrap()
        .unwrap();
        compiler.caught_up().await;
        assert!(compiler.routes().version() > before);
        assert!(compiler
            .routes()
            .load()
            .keys
            .get("value-of-k1-0123456789")
            .is_some());
    }

    #[tokio::test]
    async fn the_key_table_is_recompiled_when_the_utc_day_changes() {
        let dir = tempfile::tempdir().unwrap();
        let compiler = Compiler::new(Default::default(), Arc::new(ClusterLimits::new(1)));
        let _node = open_local(dir.path(), compiler.clone()).unwrap();
        let clock = Arc::new(AtomicI64::new(20_000));
        let c = clock.clone();
        let task = tokio::spawn(recompile_keys_on_new_day(
            compiler.clone(),
            move || c.load(Ordering::SeqCst),
            std::time::Duration::from_millis(5),
        ));
        let wait = || async {
            tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        };
        let routes = compiler.routes();
        wait().await;
        let before = routes.version();
        wait().await;
        assert_eq!(
            routes.version(),
            before,
            "nothing published on the same day"
        );
        clock.store(20_001, Ordering::SeqCst);
        wait().await;
        compiler.caught_up().await;
        assert_eq!(routes.version(), before + 1, "one new table on the new day");
        task.abort();
    }

    #[tokio::test]
    async fn limit_states_of_deleted_keys_are_dropped_by_a_later_compile() {
        use tollgate_proto::model::{ApiKey, QuotaSettings, ThrottleSettings, UsagePlan};
        let dir = tempfile::tempdir().unwrap();
        let limits = Arc::new(ClusterLimits::new(1));
        let compiler = Compiler::new(Default::default(), limits.clone());
        let node = open_local(dir.path(), compiler.clone()).unwrap();
        let run = |c: Command| {
            let node = &node;
            async move { node.propose(c).await.unwrap().unwrap() }
        };
        // An API deployed to `prod`, which the plan covers: each key's table entry holds its
        // plan stage's limits and pending quota count.
        run(Command::CreateRestApi {
            id: "a1".into(),
            root_resource_id: "root".into(),
            settings: Default::default(),
            created_date: 1,
            clone_from: None,
        })
        .await;
        run(Command::PutMethod {
            api_id: "a1".into(),
            resource_id: "root".into(),
            method: tollgate_proto::model::Method {
                http_method: "GET".into(),
                authorization_type: tollgate_proto::model::AuthorizationType::None,
                integration: Some(tollgate_proto::model::Integration {
                    kind: tollgate_proto::model::IntegrationType::Mock,
                    ..Default::default()
                }),
                ..Default::default()
            },
        })
        .await;
        run(Command::CreateDeployment {
            api_id: "a1".into(),
            deployment_id: "d1".into(),
            description: None,
            created_date: 2,
            stage: Some(tollgate_proto::model::Stage {
                stage_name: "prod".into(),
                ..Default::default()
            }),
        })
        .await;
        let plan = UsagePlan {
            id: "p1".into(),
            name: "plan".into(),
            api_stages: vec![tollgate_proto::model::ApiStage {
                api_id: "a1".into(),
                stage: "prod".into(),
                throttle: Default::default(),
            }],
            throttle: Some(ThrottleSettings {
                rate_limit: 10.0,
                burst_limit: 10,
            }),
            quota: Some(QuotaSettings {
                limit: 100,
                offset: 0,
                period: tollgate_proto::model::QuotaPeriod::Day.into(),
            }),
            ..Default::default()
        };
        run(Command::CreateUsagePlan { plan }).await;
        for i in 0..200 {
            let id = format!("k{i}");
            let key = ApiKey {
                id: id.clone(),
                value: format!("value-of-{id}-0123456789"),
                enabled: true,
                ..Default::default()
            };
            run(Command::CreateApiKey { key }).await;
            let plan_id = "p1".into();
            run(Command::CreateUsagePlanKey {
                plan_id,
                key_id: id,
            })
            .await;
        }
        compiler.caught_up().await;
        // Each key holds its pending quota count (and, with API stages, its limits).
        let held = limits.len();
        assert!(held >= 200, "{held}");
        for i in 0..200 {
            run(Command::DeleteApiKey {
                id: format!("k{i}"),
            })
            .await;
        }
        compiler.caught_up().await;
        // The key table is updated per key, not rebuilt: the compiles after the deletions
        // swept what the tables they replaced held once the garbage reached half the map (or
        // 64 entries), so what is left of the 200 deleted keys is under that.
        let key = ApiKey {
            id: "other".into(),
            value: "value-of-other-0123456789".into(),
            enabled: true,
            ..Default::default()
        };
        run(Command::CreateApiKey { key }).await;
        compiler.caught_up().await;
        let left = limits.len();
        assert!(left < held / 2, "{left} of {held} left");
        // And none of it is held by the table: a sweep now drops it all.
        limits.sweep();
        assert!(limits.len() < 10, "{} of {held} left", limits.len());
    }
}
