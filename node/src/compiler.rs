//! The compiler thread: rebuilds and publishes what applied commands changed, away from the
//! thread that applies them (which also runs Raft's heartbeats and the admin API).
//!
//! The apply hook only records a [`ChangeSet`] (the APIs whose deployed stages may have
//! changed, whether keys or plans did) and hands it over with [`Compiler::submit`]; sets
//! handed over while a compile runs are merged into one. The thread reads the registry under
//! its read lock: one API's routes are compiled under it (brief); for the key table it clones
//! what the table is built from, compiles without the lock, and takes the lock again only to
//! bring the quota counts up to the ledger and publish. Each published table is counted in a
//! watch channel, so a write can be answered once its change is visible to the workers
//! ([`Compiler::caught_up`]).

use crate::dataplane::cluster_limits::ClusterLimits;
use crate::dataplane::domains::compile_domains;
use crate::dataplane::key_table::compile_keys_from_copy;
use crate::dataplane::routing::{compile_all, compile_changed, today};
use crate::dataplane::snapshot::SharedRoutes;
use crate::iam::compile_identities;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;
use tollgate_consensus::raft::ledger;
use tollgate_consensus::Replica;
use tollgate_proto::{Command, Registry};

/// What a batch of applied commands changed in the compiled table.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    /// APIs whose deployed stages may have changed (recompiled, or dropped when gone).
    pub apis: BTreeSet<String>,
    /// Keys, plans or quota grants changed in a way that names no keys (a plan deleted, an
    /// API or stage deleted with its plan stages), or the UTC day did: the key table is
    /// rebuilt whole.
    pub keys: bool,
    /// Keys named by a change (created, updated, deleted, imported, added to or taken from a
    /// plan, granted quota): compiled again into the served key table, nothing else.
    pub key_ids: BTreeSet<String>,
    /// Plans updated: their keys are compiled again.
    pub plans: BTreeSet<String>,
    /// IAM users, access keys or user policies changed: the identity table is rebuilt.
    pub iam: bool,
    /// The account's settings changed: its throttle is compiled again (it always is, with any
    /// other change; this makes a compile happen).
    pub account: bool,
    /// Custom domain names or their mappings changed: the domain table is rebuilt.
    pub domains: bool,
}

impl ChangeSet {
    /// What `applied` changed. Usage reports change nothing here: they rewrite quota counts in
    /// place ([`crate::dataplane::key_table::KeyTable::refresh_quotas`]).
    pub fn of(applied: &[Command]) -> ChangeSet {
        ChangeSet {
            apis: applied
                .iter()
                .filter_map(|c| c.stage_affecting_api())
                .map(String::from)
                .collect(),
            keys: applied
                .iter()
                .any(|c| c.affects_keys() && !names_its_keys(c)),
            key_ids: applied.iter().flat_map(key_ids_named).collect(),
            plans: applied
                .iter()
                .filter_map(|c| match c.inner() {
                    Command::UpdateUsagePlan { plan } => Some(plan.id.clone()),
                    _ => None,
                })
                .collect(),
            iam: applied.iter().any(|c| c.affects_iam()),
            account: applied
                .iter()
                .any(|c| matches!(c.inner(), Command::UpdateAccount { .. })),
            domains: applied.iter().any(|c| c.affects_domains()),
        }
    }

    /// Adds `other`'s changes to these.
    pub fn merge(&mut self, other: ChangeSet) {
        self.apis.extend(other.apis);
        self.keys |= other.keys;
        self.key_ids.extend(other.key_ids);
        self.plans.extend(other.plans);
        self.iam |= other.iam;
        self.account |= other.account;
        self.domains |= other.domains;
    }

    /// Whether nothing needs compiling.
    pub fn is_empty(&self) -> bool {
        self.apis.is_empty()
            && !self.keys
            && self.key_ids.is_empty()
            && self.plans.is_empty()
            && !self.iam
            && !self.account
            && !self.domains
    }

    /// Whether only named keys and plans changed in the key table (it is updated, not rebuilt).
    fn keys_named(&self) -> bool {
        !self.keys && (!self.key_ids.is_empty() || !self.plans.is_empty())
    }
}

/// Whether `cmd`'s change to the key table is covered by the keys and plans it names
/// ([`key_ids_named`], and the plan of an UpdateUsagePlan, whose keys it keeps).
fn names_its_keys(cmd: &Command) -> bool {
    matches!(
        cmd.inner(),
        Command::CreateApiKey { .. }
            | Command::UpdateApiKey { .. }
            | Command::DeleteApiKey { .. }
            | Command::ImportApiKeys { .. }
            // A new plan has no keys: nothing to compile until keys are added to it.
            | Command::CreateUsagePlan { .. }
            | Command::UpdateUsagePlan { .. }
            | Command::CreateUsagePlanKey { .. }
            | Command::DeleteUsagePlanKey { .. }
            | Command::UpdateUsage { .. }
    )
}

/// The keys whose compiled entries `cmd` may change (see [`names_its_keys`]).
fn key_ids_named(cmd: &Command) -> Vec<String> {
    match cmd.inner() {
        Command::CreateApiKey { key } | Command::UpdateApiKey { key } => vec![key.id.clone()],
        Command::DeleteApiKey { id } => vec![id.clone()],
        Command::ImportApiKeys { keys, plan_keys } => keys
            .iter()
            .map(|k| k.id.clone())
            .chain(plan_keys.iter().map(|(_, k)| k.clone()))
            .collect(),
        Command::CreateUsagePlanKey { key_id, .. }
        | Command::DeleteUsagePlanKey { key_id, .. }
        | Command::UpdateUsage { key_id, .. } => vec![key_id.clone()],
        _ => Vec::new(),
    }
}

/// Change sets handed over and not yet taken by the thread.
#[derive(Default)]
struct Queue {
    changes: ChangeSet,
    /// Change sets handed over so far (the last one is covered once `published` reaches it).
    submitted: u64,
    /// Whole-table compiles done in the apply hook (recovery, snapshot install): a key table
    /// compiled from a registry read before one is older than what was published, and is
    /// dropped.
    full: u64,
}

/// The compiler thread's shared side.
pub struct Compiler {
    routes: Arc<SharedRoutes>,
    limits: Arc<ClusterLimits>,
    queue: Mutex<Queue>,
    wake: Condvar,
    /// The number of the last change set whose table is published.
    published: tokio::sync::watch::Sender<u64>,
    started: AtomicBool,
}

/// How long the idle thread sleeps before checking whether its compiler was dropped.
const IDLE_CHECK: Duration = Duration::from_secs(1);

impl Compiler {
    /// A compiler publishing to `routes`, with limit states from `limits`. Nothing is compiled
    /// until [`Compiler::start`].
    pub fn new(routes: Arc<SharedRoutes>, limits: Arc<ClusterLimits>) -> Arc<Compiler> {
        Arc::new(Compiler {
            routes,
            limits,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            published: tokio::sync::watch::channel(0).0,
            started: AtomicBool::new(false),
        })
    }

    /// The table the workers serve.
    pub fn routes(&self) -> &Arc<SharedRoutes> {
        &self.routes
    }

    /// The node's limit states.
    pub fn limits(&self) -> &Arc<ClusterLimits> {
        &self.limits
    }

    /// Starts the thread, reading from `node` (the registry the change sets come from). The
    /// thread holds the compiler weakly (the apply hook too, see
    /// [`crate::control::routes_hook`]), so it ends, and lets `node` go, once the compiler is
    /// dropped.
    pub fn start(self: &Arc<Self>, node: Replica) -> std::io::Result<()> {
        if self.started.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let me = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("compiler".into())
            .spawn(move || run(me, node))
            .map(|_| ())
    }

    /// Hands over what a batch changed; returns its number.
    pub fn submit(&self, changes: ChangeSet) -> u64 {
        let mut q = self.lock();
        q.changes.merge(changes);
        q.submitted += 1;
        self.wake.notify_one();
        q.submitted
    }

    /// The number of the last change set handed over.
    pub fn submitted(&self) -> u64 {
        self.lock().submitted
    }

    /// Waits until every change set handed over before the call is published.
    pub async fn caught_up(&self) {
        let target = self.submitted();
        let mut rx = self.published.subscribe();
        // The sender lives as long as `self`: the wait ends only when the table is out.
        let _ = rx.wait_for(|p| *p >= target).await;
    }

    /// Compiles and publishes the whole table from `reg` now (the apply hook's recovery and
    /// snapshot install, holding the registry's write lock).
    pub fn compile_all_now(&self, reg: &Registry) {
        let mut q = self.lock();
        q.full += 1;
        self.routes.update(|_| compile_all(reg, &self.limits));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the waiting change sets (None after `wait` with nothing handed over).
    fn take(&self, wait: Duration) -> Option<(ChangeSet, u64, u64)> {
        let q = self.lock();
        let (mut q, _) = self
            .wake
            .wait_timeout_while(q, wait, |q| {
                q.changes.is_empty() && *self.published.borrow() >= q.submitted
            })
            .unwrap_or_else(|p| p.into_inner());
        if q.changes.is_empty() && *self.published.borrow() >= q.submitted {
            return None;
        }
        Some((std::mem::take(&mut q.changes), q.submitted, q.full))
    }

    /// Compiles and publishes `changes` (the thread's one step).
    fn compile(&self, node: &Replica, changes: &ChangeSet, full: u64) {
        // The table the last compile replaced is gone by now: drop the limit states only it
        // held (off the control thread, which never sweeps). A key table compile costs the
        // keys anyway; a routes compile sweeps when it created enough.
        if changes.keys {
            self.limits.sweep();
        } else if !changes.keys_named() {
            self.limits.sweep_if_due();
        }
        let apis = changes.apis.iter().map(String::as_str);
        // Certificates are parsed (and `file://` truststores read) from a copy of the domains,
        // without the registry's lock.
        let domains = changes.domains.then(|| {
            let reg = node.read();
            let view = Registry {
                domains: reg.domains.clone(),
                tls_ticket_secret: reg.tls_ticket_secret.clone(),
                tls_ticket_rotation: reg.tls_ticket_rotation.clone(),
                ..Registry::default()
            };
            drop(reg);
            Arc::new(compile_domains(&view))
        });
        // Dropped when a whole-table compile from a newer registry was published meanwhile
        // (checked under the registry's read lock, which such a compile holds for writing).
        let domains_for =
            |old: &crate::dataplane::routing::RoutingTable, fresh: bool| match &domains {
                Some(d) if fresh => d.clone(),
                _ => old.domains.clone(),
            };
        let day = today();
        let rebuild_keys =
            changes.keys || (changes.keys_named() && self.routes.load().keys.day != day);
        if !rebuild_keys {
            // One API's routes, and the keys a change named: compiled under the lock, which
            // also keeps a newer table (the hook's whole-table compile) from being published
            // before this one, and usage from being applied before the new key entries are
            // out (their quota counts are read from the registry here).
            // The ledger groups' registries before the configuration group's (the order their
            // apply hooks take them in): their usage of the keys named goes into the entries
            // before they are published.
            let groups = crate::ledger_groups::ledger_handles(node);
            let ledgers: Vec<_> = if changes.keys_named() {
                groups.iter().map(|g| g.read()).collect()
            } else {
                Vec::new()
            };
            let reg = node.read();
            let fresh = self.lock().full == full;
            let mut dropped = 0;
            self.routes.update(|old| {
                let mut t = compile_changed(old, &reg, apis, false, &self.limits);
                if changes.keys_named() {
                    // What the keys' quotas have left, each key's usage from its own group.
                    let source = crate::ledger_groups::QuotaSource::new(&reg, &ledgers, |id| {
                        changes.key_ids.contains(ledger::key_of(id))
                            || id
                                .split_once(':')
                                .is_some_and(|(plan, _)| changes.plans.contains(plan))
                    });
                    let (keys, gone) = old.keys.update_from(
                        &reg,
                        &|plan, key, day| source.remaining(plan, key, day),
                        changes.key_ids.iter().map(String::as_str),
                        changes.plans.iter().map(String::as_str),
                        &self.limits,
                    );
                    t.keys = Arc::new(keys);
                    dropped = gone;
                }
                if changes.iam {
                    t.iam = Arc::new(compile_identities(&reg));
                }
                t.domains = domains_for(old, fresh);
                t
            });
            drop(reg);
            // Entries the update replaced or dropped may have left limit states and pending
            // counts no table holds (swept once enough garbage built up, so a sweep's cost,
            // linear in the keys, is paid for by the keys changed since the last).
            self.limits.note_released(dropped);
            self.limits.sweep_if_due();
            return;
        }
        let view = key_view(&node.read());
        let keys = compile_keys_from_copy(&view, day, &self.limits);
        drop(view);
        let groups = crate::ledger_groups::ledger_handles(node);
        let ledgers: Vec<_> = groups.iter().map(|g| g.read()).collect();
        let reg = node.read();
        if self.lock().full != full {
            // A whole-table compile from a newer registry was published meanwhile.
            return;
        }
        // Usage applied since the clone (the compile wrote only the slots no table held), and
        // the usage the other ledger groups hold (none with one group): each count once.
        crate::ledger_groups::refresh_all(&keys, &reg, &ledgers);
        let keys = Arc::new(keys);
        self.routes.update(|old| {
            let mut t = compile_changed(old, &reg, apis, false, &self.limits);
            t.keys = keys;
            if changes.iam {
                t.iam = Arc::new(compile_identities(&reg));
            }
            t.domains = domains_for(old, true);
            t
        });
    }
}

/// What the key table is compiled from, cloned out of the registry so that the compile runs
/// without holding its lock.
fn key_view(reg: &Registry) -> Registry {
    Registry {
        api_keys: reg.api_keys.clone(),
        usage_plans: reg.usage_plans.clone(),
        usage: reg.usage.clone(),
        quota_starts: reg.quota_starts.clone(),
        ..Registry::default()
    }
}

fn run(me: Weak<Compiler>, node: Replica) {
    loop {
        let Some(c) = me.upgrade() else { return };
        if let Some((changes, seq, full)) = c.take(IDLE_CHECK) {
            if !changes.is_empty() {
                c.compile(&node, &changes, full);
            }
            c.published.send_replace(seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(apis: &[&str], keys: bool) -> ChangeSet {
        ChangeSet {
            apis: apis.iter().map(|a| a.to_string()).collect(),
            keys,
            ..ChangeSet::default()
        }
    }

    #[test]
    fn change_sets_coalesce() {
        let mut c = set(&["a1"], false);
        c.merge(set(&["a2", "a1"], false));
        assert_eq!(c, set(&["a1", "a2"], false));
        c.merge(set(&[], true));
        assert_eq!(c, set(&["a1", "a2"], true));
        c.merge(set(&[], false));
        assert!(c.keys, "a later set never clears a key change");
        assert!(ChangeSet::default().is_empty());
    }

    #[test]
    fn a_usage_report_changes_nothing_to_compile() {
        let report = crate::dataplane::key_table::tests::report(1, 20_000, "p1:k1", 3);
        assert!(ChangeSet::of(&[report]).is_empty());
        let key = Command::DeleteApiKey { id: "k1".into() };
        let mut named = set(&[], false);
        named.key_ids.insert("k1".into());
        assert_eq!(ChangeSet::of(&[key]), named);
        // A plan deleted names no keys: the table is rebuilt whole.
        let plan = Command::DeleteUsagePlan {
            id: "p1".into(),
            referential: false,
        };
        assert_eq!(ChangeSet::of(&[plan]), set(&[], true));
    }

    #[test]
    fn an_iam_change_rebuilds_the_identity_table_only() {
        let c = ChangeSet::of(&[Command::DeleteAccessKey {
            user_name: "u".into(),
            id: "AKIA".into(),
        }]);
        assert!(c.iam && !c.keys && c.apis.is_empty() && !c.is_empty());
        let mut merged = set(&["a1"], false);
        merged.merge(c);
        assert!(merged.iam, "a later set keeps an identity change");
    }

    #[test]
    fn an_account_change_makes_a_compile() {
        let c = ChangeSet::of(&[Command::UpdateAccount {
            account: Default::default(),
        }]);
        assert!(c.account && !c.keys && !c.iam && c.apis.is_empty() && !c.is_empty());
    }

    #[test]
    fn sets_handed_over_during_a_compile_are_taken_as_one() {
        let c = Compiler::new(Default::default(), Arc::new(ClusterLimits::new(1)));
        assert!(c.take(Duration::ZERO).is_none());
        c.submit(set(&["a1"], false));
        c.submit(set(&["a2"], true));
        let (changes, seq, _) = c.take(Duration::ZERO).unwrap();
        assert_eq!((changes, seq), (set(&["a1", "a2"], true), 2));
        // Taken but not yet published: an empty set still reports its number once.
        c.published.send_replace(2);
        assert!(c.take(Duration::ZERO).is_none());
    }
}
