//! The usage ledger split over several Raft groups (`cluster.ledger_groups`, see
//! [`tollgate_consensus::raft::ledger`]): starting the ledger groups beside the configuration
//! group, and keeping the quota counts of the key table right when a key's usage lives in a
//! group other than the configuration group.
//!
//! A quota's remaining count needs the plan (configuration group: plans, quota starts and
//! UpdateUsage grants) and the key's usage (its ledger group). For the keys a ledger group's
//! batch names, [`quota_view`] builds a small registry holding just those plans (without their
//! key lists), grants and usage, and the key table's own refresh reads it. A key table compiled
//! from the configuration group alone sees no usage of the other groups' keys: the compiler
//! reads what quotas have left through a [`QuotaSource`], which takes each key's usage from
//! its own group, so that every count is written once with its final value (the slots hold
//! the counts the served table reads too).

use crate::compiler::Compiler;
use crate::dataplane::cluster_limits::ClusterLimits;
use crate::dataplane::key_table::KeyTable;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tollgate_consensus::raft::ledger::{self, key_of};
use tollgate_consensus::{OnApplied, RaftNode, Replica};
use tollgate_proto::model::UsagePlan;
use tollgate_proto::{Command, Registry, UsageDelta};

/// The folder of ledger group `group`'s log, vote and snapshots, beside the configuration
/// group's `raft` folder.
pub fn group_dir(data_dir: &Path, group: u32) -> std::path::PathBuf {
    data_dir.join(format!("raft-ledger-{group}"))
}

/// The file recording how many ledger groups this node's data was made with (absent: 1).
pub const GROUPS_FILE: &str = "ledger-groups";

/// Refuses a `ledger_groups` that differs from what this node's data was made with: the
/// placement of every key's usage depends on it. Records it the first time (only when more
/// than one, so a one-group node's folder is as it always was).
pub fn check_group_count(data_dir: &Path, groups: u32) -> Result<(), String> {
    let path = data_dir.join(GROUPS_FILE);
    let had =
        match std::fs::read_to_string(&path) {
            Ok(s) => Some(s.trim().parse::<u32>().map_err(|_| {
                format!("{} does not hold a number of ledger groups", path.display())
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
    let existing_node = data_dir.join("raft").exists();
    let had = had.or(existing_node.then_some(1));
    match had {
        Some(n) if n != groups => Err(format!(
            "cluster.ledger_groups is {groups}, but this node's data was made with {n} ledger \
             group(s); the count cannot be changed on an existing node (every node of a cluster \
             must run the same count from its start)"
        )),
        Some(_) => Ok(()),
        None if groups > 1 => std::fs::write(&path, format!("{groups}\n"))
            .map_err(|e| format!("writing {}: {e}", path.display())),
        None => Ok(()),
    }
}

/// A plan as quota counts need it: everything but its (possibly huge) key list.
fn plan_without_keys(p: &UsagePlan) -> UsagePlan {
    UsagePlan {
        id: p.id.clone(),
        name: String::new(),
        description: None,
        api_stages: Vec::new(),
        throttle: None,
        quota: p.quota.clone(),
        key_ids: BTreeSet::new(),
        tags: Default::default(),
    }
}

fn copy_used(view: &mut Registry, ledger: &Registry, usage_id: &str) {
    let lo = (usage_id.to_string(), i64::MIN);
    let hi = (usage_id.to_string(), i64::MAX);
    for (k, v) in ledger.usage.used.range(lo..=hi) {
        view.usage.used.insert(k.clone(), *v);
    }
}

/// A registry holding what the remaining quota counts of the ledger ids `ids` need: their
/// plans, quota starts and grants from `config` (the configuration group) and their usage
/// from `ledger` (their ledger group).
pub fn quota_view<'a>(
    config: &Registry,
    ledger: &Registry,
    ids: impl IntoIterator<Item = &'a str>,
) -> Registry {
    let mut view = Registry::default();
    for id in ids {
        let key = key_of(id);
        let plans: Vec<&UsagePlan> = match id.split_once(':') {
            Some((plan, _)) => config.usage_plans.get(plan).into_iter().collect(),
            None => config
                .usage_plans
                .values()
                .filter(|p| p.key_ids.contains(key))
                .collect(),
        };
        for plan in plans {
            if plan.quota.is_none() {
                continue;
            }
            view.usage_plans
                .entry(plan.id.clone())
                .or_insert_with(|| plan_without_keys(plan));
            if let Some(start) = config.quota_starts.get(&plan.id) {
                view.quota_starts.insert(plan.id.clone(), *start);
            }
            let lo = (plan.id.clone(), key.to_string(), i64::MIN);
            let hi = (plan.id.clone(), key.to_string(), i64::MAX);
            for (k, v) in config.usage.granted.range(lo..=hi) {
                view.usage.granted.insert(k.clone(), *v);
            }
            copy_used(
                &mut view,
                ledger,
                &tollgate_proto::plan_usage_id(&plan.id, key),
            );
        }
        copy_used(&mut view, ledger, key);
    }
    view
}

/// The ledger ids a ledger group's registry has usage for, each once, as zero deltas (what
/// the key table's refresh takes).
fn ids_with_usage(ledger: &Registry) -> Vec<UsageDelta> {
    let mut out: Vec<UsageDelta> = Vec::new();
    for (id, _) in ledger.usage.used.keys() {
        if out.last().is_none_or(|d| d.key_id != *id) {
            out.push(UsageDelta {
                key_id: id.clone(),
                count: 0,
            });
        }
    }
    out
}

/// Rewrites the quota counts of every key `ledger` (a ledger group's registry) has usage for.
fn refresh_group(compiler: &Compiler, config: &Registry, ledger: &Registry) {
    refresh_table(
        &compiler.routes().load().keys,
        config,
        ledger,
        |_| true,
        compiler.limits(),
    );
}

/// What quotas have left, each key's usage read from its own ledger group: the plans, quota
/// starts and grants of the configuration group, and for a key with usage in ledger group
/// `g` (1 and up), a [`quota_view`] of that group. A key with no usage in its group has its
/// count from the configuration group (which holds no usage of it). With one group, the
/// configuration group's registry alone.
pub struct QuotaSource<'a> {
    config: &'a Registry,
    groups: u32,
    /// Per ledger group (index `g - 1`): the view, and per key id with usage there, the plans
    /// of its usage ids (`""`: usage under the bare key id, which counts in every plan).
    views: Vec<(Registry, HashMap<String, Vec<String>>)>,
}

impl<'a> QuotaSource<'a> {
    /// The source for the ledger ids `wanted` admits, from `config` and the ledger groups'
    /// registries `ledgers` (groups 1 and up, in order; empty with one group).
    pub fn new(
        config: &'a Registry,
        ledgers: &[impl std::ops::Deref<Target = Registry>],
        wanted: impl Fn(&str) -> bool,
    ) -> QuotaSource<'a> {
        let views = ledgers
            .iter()
            .map(|ledger| {
                let ids: Vec<UsageDelta> = ids_with_usage(ledger)
                    .into_iter()
                    .filter(|d| wanted(&d.key_id))
                    .collect();
                let mut covered: HashMap<String, Vec<String>> = HashMap::new();
                for d in &ids {
                    let (plan, key) = d.key_id.split_once(':').unwrap_or(("", &d.key_id));
                    covered
                        .entry(key.to_string())
                        .or_default()
                        .push(plan.to_string());
                }
                let view = quota_view(config, ledger, ids.iter().map(|d| d.key_id.as_str()));
                (view, covered)
            })
            .collect();
        QuotaSource {
            config,
            groups: u32::try_from(ledgers.len() + 1).unwrap_or(u32::MAX),
            views,
        }
    }

    /// What plan `plan`'s quota of key `key` has left on `day` (`None`: no quota).
    pub fn remaining(&self, plan: &str, key: &str, day: i64) -> Option<i64> {
        let g = ledger::group_of(key, self.groups);
        let view = g
            .checked_sub(1)
            .and_then(|i| self.views.get(i as usize))
            .filter(|(_, covered)| {
                covered
                    .get(key)
                    .is_some_and(|plans| plans.iter().any(|p| p.is_empty() || p == plan))
            });
        match view {
            Some((view, _)) => view.remaining_quota(plan, key, day),
            None => self.config.remaining_quota(plan, key, day),
        }
    }
}

/// Rewrites every quota count of `keys` (a table compiled from a copy, not yet published)
/// from `config` and the ledger groups' registries `ledgers`, under their locks: each count
/// written once, with its final value.
pub fn refresh_all(
    keys: &KeyTable,
    config: &Registry,
    ledgers: &[impl std::ops::Deref<Target = Registry>],
) {
    if ledgers.is_empty() {
        keys.refresh_all_quotas(config);
        return;
    }
    let source = QuotaSource::new(config, ledgers, |_| true);
    keys.refresh_all_quotas_from(&|plan, key, day| source.remaining(plan, key, day));
}

/// Rewrites, in `keys` (a key table not yet published, or the served one), the quota counts
/// of the ledger ids `ledger` has usage for and `wanted` admits, from `config`'s plans and
/// grants and `ledger`'s usage. The compiler calls it before it publishes a key table built
/// from the configuration group alone, so a key of another group is never served with its
/// full quota when its group has counted usage.
fn refresh_table(
    keys: &KeyTable,
    config: &Registry,
    ledger: &Registry,
    wanted: impl Fn(&str) -> bool,
    limits: &ClusterLimits,
) {
    let ids: Vec<UsageDelta> = ids_with_usage(ledger)
        .into_iter()
        .filter(|d| wanted(&d.key_id))
        .collect();
    if ids.is_empty() {
        return;
    }
    let view = quota_view(config, ledger, ids.iter().map(|d| d.key_id.as_str()));
    keys.refresh_quotas(&view, &ids, limits);
}

/// The ledger groups (1 and up) `node` runs; none for a single ledger group or a local log.
pub fn ledger_handles(node: &Replica) -> Vec<RaftNode> {
    match node.raft() {
        Some(n) => n.groups().into_iter().skip(1).collect(),
        None => Vec::new(),
    }
}

/// Lock order: a ledger group's registry, then the configuration group's (this hook runs with
/// its group's registry held and reads the configuration group's); never the other way.
///
/// The hook of ledger group `group` (1 or more): rewrites the quota counts of the keys its
/// usage reports name, and takes this node's committed reports off the pending counts (through
/// the slots their entries were counted in, as the configuration group's hook does).
/// Limit-share demand travels in the configuration group's reports only.
pub fn ledger_hook(compiler: &Arc<Compiler>, config: RaftNode, group: u32) -> OnApplied {
    let compiler = Arc::downgrade(compiler);
    Box::new(move |reg, applied| {
        let Some(compiler) = compiler.upgrade() else {
            return;
        };
        let limits = compiler.limits();
        if applied.is_empty() {
            // Recovery or snapshot install.
            refresh_group(&compiler, &config.read(), reg);
            if let Some(last) = reg.usage.last_seq.get(&limits.node_id()) {
                limits.own_usage_committed_through(group, *last);
            }
            return;
        }
        let table = compiler.routes().load();
        for c in applied {
            if let Command::ReportUsage { deltas, .. } | Command::ReportLoad { deltas, .. } =
                c.inner()
            {
                let view = quota_view(
                    &config.read(),
                    reg,
                    deltas.iter().map(|d| d.key_id.as_str()),
                );
                let own = match c.inner() {
                    Command::ReportLoad { node_id, seq, .. } if *node_id == limits.node_id() => {
                        limits.take_own(*seq)
                    }
                    _ => None,
                };
                table.keys.apply_usage(&view, deltas, own.as_ref(), limits);
            }
        }
    })
}

/// How long a starting node waits for one peer's ledger group count.
pub const AGREE_TIMEOUT: Duration = Duration::from_secs(1);

/// Declares `groups` as this node's ledger group count and refuses to go on when a peer (a
/// member of `node`'s configuration group or of `initial`) answers that it runs another count:
/// the placement of every key's usage depends on it, so a node with another count would count
/// usage in the wrong groups. Peers are asked once, concurrently, each for at most
/// [`AGREE_TIMEOUT`]; one that does not answer (down, or a build that cannot say) is not held
/// against the start: it asks this node when it starts, and the configuration group's leader
/// does not add a node with another count to the ledger groups
/// ([`tollgate_consensus::raft::ledger::follow_once`]).
pub async fn agree_with_cluster(
    node: &RaftNode,
    groups: u32,
    initial: &std::collections::BTreeMap<u64, String>,
) -> Result<(), String> {
    node.declare_ledger_groups(groups);
    let mut peers = initial.clone();
    for m in node.status().members {
        peers.insert(m.id, m.addr);
    }
    peers.remove(&node.id());
    let mut asks = tokio::task::JoinSet::new();
    for (id, addr) in peers {
        let node = node.clone();
        asks.spawn(async move {
            let answer = node.peer_ledger_groups(id, &addr, AGREE_TIMEOUT).await;
            (id, addr, answer)
        });
    }
    let mut refusal = None;
    while let Some(done) = asks.join_next().await {
        match done {
            Ok((id, addr, Ok(Some(theirs)))) if theirs != groups => {
                refusal.get_or_insert(ledger::mismatch(groups, id, &addr, theirs));
            }
            Ok((id, _, Err(e))) => {
                tracing::debug!(peer = id, error = %e, "ledger group count not confirmed");
            }
            _ => {}
        }
    }
    refusal.map_or(Ok(()), Err)
}

/// Starts ledger groups `1..groups` of `node` (the configuration group) in `data_dir`, each
/// steering its leadership to its preferred node, and initialises each fresh one with
/// `initialize_with` when given (the node that initialises the configuration group).
pub async fn start(
    node: &RaftNode,
    data_dir: &Path,
    groups: u32,
    compiler: &Arc<Compiler>,
    initialize_with: Option<&std::collections::BTreeMap<u64, String>>,
) -> Result<(), String> {
    for g in 1..groups {
        let gn = node
            .start_group(
                g,
                group_dir(data_dir, g),
                ledger_hook(compiler, node.clone(), g),
            )
            .await
            .map_err(|e| format!("ledger group {g}: {e}"))?;
        tokio::spawn(ledger::keep_leader_spread(gn.clone()));
        tokio::spawn(ledger::follow_membership(node.clone(), gn.clone()));
        let fresh = !gn
            .raft()
            .is_initialized()
            .await
            .map_err(|e| format!("reading ledger group {g}: {e}"))?;
        if let (true, Some(members)) = (fresh, initialize_with) {
            match gn.initialize(members.clone()).await {
                Ok(()) | Err(tollgate_consensus::ClusterError::AlreadyInitialized) => {}
                Err(e) => return Err(format!("initialising ledger group {g}: {e}")),
            }
        }
    }
    if groups > 1 {
        tokio::spawn(sync_quotas_after_compiles(compiler.clone(), node.clone()));
    }
    Ok(())
}

/// How often a newly compiled key table is looked for.
const COMPILE_CHECK: Duration = Duration::from_millis(50);

/// After each key table publication, rewrites the quota counts of the keys the other ledger
/// groups hold usage for. The compiler already reads each key's count from its group before
/// it publishes a table it compiled ([`QuotaSource`]); this is the backstop for the whole-table compile of a
/// recovery or snapshot install, made in the configuration group's apply hook, which cannot
/// read the ledger groups (their hooks take the registries in the other order).
pub async fn sync_quotas_after_compiles(compiler: Arc<Compiler>, node: RaftNode) {
    // A weak handle: compared by address without keeping an old table alive (nor letting its
    // address be reused while held).
    let mut seen = std::sync::Weak::<crate::dataplane::key_table::KeyTable>::new();
    let mut tick = tokio::time::interval(COMPILE_CHECK);
    loop {
        tick.tick().await;
        if node.stopped().is_some() {
            return;
        }
        let keys = Arc::downgrade(&compiler.routes().load().keys);
        if seen.ptr_eq(&keys) {
            continue;
        }
        seen = keys;
        for group in node.groups().into_iter().skip(1) {
            // The ledger group's registry first, then the configuration group's: the order
            // the ledger group's hook takes them in (it runs holding its own), so that the
            // two never wait on each other.
            let ledger = group.read();
            let config = node.read();
            refresh_group(&compiler, &config, &ledger);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_proto::model::QuotaSettings;

    fn plan(id: &str, keys: &[&str]) -> UsagePlan {
        UsagePlan {
            id: id.into(),
            quota: Some(QuotaSettings {
                limit: 100,
                offset: 0,
                period: tollgate_proto::model::OrUnknown::Known(
                    tollgate_proto::model::QuotaPeriod::Day,
                ),
            }),
            key_ids: keys.iter().map(|k| k.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_view_counts_what_the_two_groups_count_together() {
        let mut config = Registry::default();
        config
            .usage_plans
            .insert("p1".into(), plan("p1", &["k1", "k2"]));
        config
            .usage
            .granted
            .insert(("p1".into(), "k1".into(), 20_000), 5);
        let mut ledger = Registry::default();
        ledger.usage.used.insert(("p1:k1".into(), 20_000), 30);
        ledger.usage.used.insert(("k1".into(), 20_000), 2);
        ledger.usage.used.insert(("p1:k2".into(), 20_000), 99);
        let view = quota_view(&config, &ledger, ["p1:k1"]);
        assert!(
            view.usage_plans["p1"].key_ids.is_empty(),
            "no key list copied"
        );
        assert_eq!(view.remaining_quota("p1", "k1", 20_000), Some(100 + 5 - 32));
        assert_eq!(
            config.remaining_quota("p1", "k1", 20_000),
            Some(105),
            "the configuration group alone lacks the usage"
        );
        // A bare key id finds its plans by their key lists.
        let view = quota_view(&config, &ledger, ["k2"]);
        assert_eq!(view.remaining_quota("p1", "k2", 20_000), Some(1));
        let ids: Vec<String> = ids_with_usage(&ledger)
            .into_iter()
            .map(|d| d.key_id)
            .collect();
        assert_eq!(ids, ["k1", "p1:k1", "p1:k2"]);
    }

    #[test]
    fn a_quota_source_reads_each_keys_usage_from_its_own_group() {
        let key_in = |g: u32| {
            (0..100)
                .map(|i| format!("k{i}"))
                .find(|k| ledger::group_of(k, 2) == g)
                .unwrap()
        };
        let (a, b, c) = (key_in(1), key_in(0), {
            // A second key of group 1, with a grant and no usage.
            (0..100)
                .map(|i| format!("k{i}"))
                .filter(|k| ledger::group_of(k, 2) == 1)
                .nth(1)
                .unwrap()
        });
        let mut config = Registry::default();
        config
            .usage_plans
            .insert("p1".into(), plan("p1", &[&a, &b, &c]));
        config
            .usage
            .granted
            .insert(("p1".into(), c.clone(), 20_000), 7);
        // Group 0's key has its usage in the configuration group, group 1's in the ledger.
        config
            .usage
            .used
            .insert((tollgate_proto::plan_usage_id("p1", &b), 20_000), 10);
        let mut ledger = Registry::default();
        ledger
            .usage
            .used
            .insert((tollgate_proto::plan_usage_id("p1", &a), 20_000), 30);
        let source = QuotaSource::new(&config, &[&ledger], |_| true);
        assert_eq!(source.remaining("p1", &a, 20_000), Some(70));
        assert_eq!(source.remaining("p1", &b, 20_000), Some(90));
        assert_eq!(source.remaining("p1", &c, 20_000), Some(107));
        assert_eq!(source.remaining("p2", &a, 20_000), None, "no such plan");
        // With one group, the configuration group alone.
        let one = QuotaSource::new(&config, &[] as &[&Registry], |_| true);
        assert_eq!(one.remaining("p1", &a, 20_000), Some(100));
        assert_eq!(one.remaining("p1", &b, 20_000), Some(90));
    }

    #[test]
    fn the_group_count_of_a_node_cannot_change() {
        let dir = tempfile::tempdir().unwrap();
        check_group_count(dir.path(), 1).unwrap();
        assert!(
            !dir.path().join(GROUPS_FILE).exists(),
            "one group writes nothing"
        );
        check_group_count(dir.path(), 3).unwrap();
        check_group_count(dir.path(), 3).unwrap();
        let e = check_group_count(dir.path(), 2).unwrap_err();
        assert!(e.contains("made with 3"), "{e}");
        let old = tempfile::tempdir().unwrap();
        std::fs::create_dir(old.path().join("raft")).unwrap();
        let e = check_group_count(old.path(), 2).unwrap_err();
        assert!(e.contains("made with 1"), "{e}");
        check_group_count(old.path(), 1).unwrap();
    }
}
