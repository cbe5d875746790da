//! A node's cluster-wide view of its limits: the state of each limit that outlives routing-table
//! recompilations, the demand every member last reported for it, and this node's share of it.
//!
//! Each compiled [`super::routing::ThrottleSpec`] points at the [`LimitState`] of its limit id,
//! taken from here, so the workers' demand exchange and the node's share carry over when the
//! key table or a stage is recompiled (which happens with every usage report). The control
//! thread feeds in the demand reports it applies through Raft ([`ClusterLimits::apply_report`])
//! and writes each limit's new share into its `LimitState`; workers read the share once per
//! rebalance interval, never per request. The mutex here is taken only on the control thread.
//!
//! It also holds the slab of per-quota slots ([`super::key_slots`]): the counts of requests
//! this node admitted under each (plan, key) quota and has not yet seen committed to the usage
//! ledger, this node's share of the quota and what the ledger has left of it
//! ([`ClusterLimits::quota_slot`]), for the same reason: they must survive the key table's
//! recompilation until the report that carries them is applied. A slot is 32 bytes in a shared
//! chunk plus one index entry, where a quota used to cost a limit state, a pending counter and
//! a map entry for each.
//!
//! This node's own usage reports are kept here from proposal to commit as the slot tag and
//! count of each usage entry, in the report's order ([`ClusterLimits::proposing`]): the
//! workers tagged each count with the slot of the quota they counted it in, so when the report
//! commits, the control thread reaches each slot by number ([`ClusterLimits::take_own`],
//! [`ClusterLimits::with_slots`]) instead of looking it up by id.
//!
//! Entries are only ever created by a compile (the compiler thread), so only a compile can
//! leave some behind that no table holds: the compiler drops those before each key table
//! compile ([`ClusterLimits::sweep`]) and before a routes compile once compiles created as
//! many entries as half the map holds ([`ClusterLimits::sweep_if_due`]). The control thread's
//! work per usage report thus follows the report (its usage entries, the limits with demand),
//! never the number of keys.

use super::key_slots::{KeySlot, SlotRef, SlotTag, Slots};
use super::limiter::cluster_share;
#[cfg(test)]
use super::limiter::CLUSTER_FLOOR;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};
use tollgate_proto::{LimitDemand, UsageDelta};

/// Slots for the workers' demand reports of one limit (worker `i` writes slot `i % 64`).
pub const DEMAND_SLOTS: usize = 64;

/// A member's report counts until reports from the cluster are this much newer than it (a
/// member that stopped reporting while others go on is taken to be gone, and its share
/// returns). While no report arrives from anyone (no leader), the last shares hold.
pub const DEMAND_TTL: Duration = Duration::from_secs(1);

/// The rate to register a limit without one (a quota) under: its shares then follow demand
/// alone (see [`cluster_share`]).
pub const SPLIT_BY_DEMAND: f64 = f64::MIN_POSITIVE;

/// A sweep is due once compiles created this many entries, at least (a small map is swept
/// with each compile that adds to it, which costs nothing).
const SWEEP_MIN_CREATED: usize = 64;

/// What one [`ClusterLimits::refresh`] did (for tests and debugging).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RefreshWork {
    /// Limits whose shares were reset because reports expired.
    pub reshared: usize,
    /// Limit reports visited (those of limits with demand).
    pub reports: usize,
}

/// One worker's demand report for a limit, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct DemandSlot(pub AtomicU64);

/// What the workers of a node share about one limit.
#[derive(Debug)]
pub struct LimitState {
    /// Recent demand per worker (worker `i` writes slot `i % len`), written by each worker
    /// every rebalance interval. Made by the first worker that uses the limit: a key table
    /// holds a limit per key, most of them unused on any one node, and a slot is a cache line.
    demand: OnceLock<Box<[DemandSlot]>>,
    /// This node's share of the limit (f64 bits), written by the control thread.
    node_share: AtomicU64,
}

impl LimitState {
    /// A limit state with the given share for this node.
    pub fn new(node_share: f64) -> LimitState {
        LimitState {
            demand: OnceLock::new(),
            node_share: AtomicU64::new(node_share.to_bits()),
        }
    }

    /// The workers' demand slots, one per worker of the node's `workers` (at most
    /// [`DEMAND_SLOTS`]), made on first use.
    pub fn demand_slots(&self, workers: usize) -> &[DemandSlot] {
        self.demand.get_or_init(|| {
            (0..workers.clamp(1, DEMAND_SLOTS))
                .map(|_| DemandSlot::default())
                .collect()
        })
    }

    /// This node's share of the limit (0..=1).
    pub fn node_share(&self) -> f64 {
        f64::from_bits(self.node_share.load(Ordering::Relaxed))
    }

    fn set_node_share(&self, share: f64) {
        self.node_share
            .store(share.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }
}

impl Default for LimitState {
    fn default() -> Self {
        LimitState::new(1.0)
    }
}

/// One member's last demand report for one limit.
#[derive(Debug, Clone, Copy)]
struct Seen {
    per_sec: f64,
    at: Instant,
}

struct Limit {
    rate: f64,
    state: Weak<LimitState>,
}

#[derive(Default)]
struct Inner {
    members: usize,
    limits: HashMap<u64, Limit>,
    /// Per limit, per member: the last demand it reported.
    reports: HashMap<u64, BTreeMap<u64, Seen>>,
    /// When the newest report (from anyone) was applied.
    newest: Option<Instant>,
    /// Each quota's slot (pending count and share) by its limit id; one no table holds any
    /// more is freed by the next sweep.
    slots: Slots,
    /// This node's own reports proposed by this process and not yet seen applied: sequence
    /// number → the ledger group it goes to and, per usage entry, in the report's order, the
    /// slot its count was counted in (none: the key had no quota) and the count. Only these
    /// come off the pending counts when they apply (a report of an earlier process of this
    /// node, replayed at start, was never counted in this one's pending). The sequence is
    /// node-wide, so a group's ledger only says which of *its* reports it holds.
    in_flight: BTreeMap<u64, (u32, OwnUsage)>,
    /// Limits and quota counts created since the last sweep.
    created_since_sweep: usize,
}

/// Per usage entry of one of this node's reports, in the report's order: the slot its requests
/// were counted in (none when the key had no quota) and their number.
pub type OwnUsage = Vec<(Option<SlotTag>, u64)>;

/// The node's limits (see the module docs).
pub struct ClusterLimits {
    node_id: u64,
    inner: Mutex<Inner>,
    /// Whether this node has caught up with the cluster since it started (see
    /// [`ClusterLimits::set_live`]).
    live: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for ClusterLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.lock();
        f.debug_struct("ClusterLimits")
            .field("node_id", &self.node_id)
            .field("members", &g.members)
            .field("limits", &g.limits.len())
            .finish()
    }
}

impl Default for ClusterLimits {
    /// A lone node's view (node id 0, one member).
    fn default() -> Self {
        ClusterLimits::new(0)
    }
}

impl ClusterLimits {
    /// The view of node `node_id`, alone until [`ClusterLimits::set_members`] says otherwise.
    pub fn new(node_id: u64) -> ClusterLimits {
        ClusterLimits {
            node_id,
            inner: Mutex::new(Inner {
                members: 1,
                ..Inner::default()
            }),
            live: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Marks this node caught up with the cluster (its first linearizable read since it
    /// started): load reports applied from now on say something about demand now. The ones
    /// applied before were replayed from the log and are old, whatever their senders' clocks
    /// say, so their demand is not used.
    pub fn set_live(&self) {
        self.live.store(true, Ordering::Relaxed);
    }

    /// Whether [`ClusterLimits::set_live`] was called.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This node's id.
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// The shared state of limit `id` (of `rate` per second for the whole cluster), created
    /// with this node's current share when no compiled table holds it.
    pub fn limit(&self, id: u64, rate: f64) -> Arc<LimitState> {
        let mut g = self.lock();
        if let Some(state) = g.limits.get(&id).and_then(|l| l.state.upgrade()) {
            return state;
        }
        let state = Arc::new(LimitState::new(g.share(self.node_id, id, rate)));
        g.created_since_sweep += 1;
        g.limits.insert(
            id,
            Limit {
                rate,
                state: Arc::downgrade(&state),
            },
        );
        state
    }

    #[cfg(test)]
    /// The slot of the quota with limit id `id` ([`super::key_table::quota_id`]): its
    /// node-wide count of requests admitted and not yet committed to the usage ledger, and
    /// this node's share of it. A table holding the slot gives the same one back.
    pub fn quota_slot(&self, id: u64) -> SlotRef {
        self.acquire_quota_slot(id).0
    }

    /// [`ClusterLimits::quota_slot`], also saying whether the slot is fresh (no table held
    /// it: its remaining count is the compile's to write).
    pub fn acquire_quota_slot(&self, id: u64) -> (SlotRef, bool) {
        let mut g = self.lock();
        let share = g.share(self.node_id, id, SPLIT_BY_DEMAND);
        let (slot, fresh) = g.slots.acquire(id, share);
        if fresh {
            g.created_since_sweep += 1;
        }
        (slot, fresh)
    }

    /// Runs `f` with the slab of quota slots (under the lock: taken once per usage report by
    /// the control thread, not once per usage entry).
    pub fn with_slots<R>(&self, f: impl FnOnce(&Slots) -> R) -> R {
        f(&self.lock().slots)
    }

    /// Drops the limits and quota counts no compiled table holds, when compiles created at
    /// least half as many entries as the maps hold since the last sweep (so a sweep's cost,
    /// linear in the maps, is paid for by the compiles that made the garbage). Returns the
    /// entries visited (0 when no sweep was due).
    pub fn sweep_if_due(&self) -> usize {
        let mut g = self.lock();
        let size = g.limits.len() + g.slots.len();
        if g.created_since_sweep < SWEEP_MIN_CREATED.max(size / 2) {
            return 0;
        }
        g.sweep()
    }

    /// Notes that a key table update dropped key entries holding `entries` limit states and
    /// pending counts, which may now be held by no table: they count towards the next
    /// [`ClusterLimits::sweep_if_due`] as created entries do.
    pub fn note_released(&self, entries: usize) {
        let mut g = self.lock();
        g.created_since_sweep = g.created_since_sweep.saturating_add(entries);
    }

    /// Drops the limits and quota counts no compiled table holds; returns the entries
    /// visited. The compiler runs it before each key table compile (whose cost, linear in the
    /// keys, pays for it): keys deleted leave garbage without creating anything.
    pub fn sweep(&self) -> usize {
        self.lock().sweep()
    }

    /// The number of limits and quota counts held (live or not yet swept).
    pub fn len(&self) -> usize {
        let g = self.lock();
        g.limits.len() + g.slots.len()
    }

    /// Whether no limit or quota count is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets the number of members limits are split among.
    pub fn set_members(&self, members: usize) {
        let mut g = self.lock();
        if g.members != members.max(1) {
            g.members = members.max(1);
            g.reshare_all(self.node_id);
        }
    }

    /// The number of members limits are split among.
    pub fn members(&self) -> usize {
        self.lock().members
    }

    /// Records a demand report of `node_id` (requests counted over `interval_ms`) applied
    /// `now`, and resets this node's share of each limit it names.
    pub fn apply_report(
        &self,
        node_id: u64,
        interval_ms: u32,
        demand: &[LimitDemand],
        now: Instant,
    ) {
        let mut g = self.lock();
        g.newest = Some(g.newest.map_or(now, |t| t.max(now)));
        let secs = f64::from(interval_ms.max(1)) / 1000.0;
        for d in demand {
            let per_sec = d.requests as f64 / secs;
            g.reports
                .entry(d.limit_id)
                .or_default()
                .insert(node_id, Seen { per_sec, at: now });
        }
        for d in demand {
            g.reshare(self.node_id, d.limit_id);
        }
    }

    /// Forgets the reports of members gone quiet while others reported, and the reports of
    /// limits no table holds, and resets the shares of the limits that lost reports. Runs with
    /// every usage report (4 times a second): its cost follows the limits that have demand,
    /// not every limit a key table holds (one per API key with a throttle); dropping limits
    /// no table holds is the compiler's ([`ClusterLimits::sweep_if_due`]).
    pub fn refresh(&self) -> RefreshWork {
        let mut g = self.lock();
        let mut work = RefreshWork {
            reports: g.reports.len(),
            ..RefreshWork::default()
        };
        let mut changed = Vec::new();
        if let Some(newest) = g.newest {
            for (id, per_node) in g.reports.iter_mut() {
                let before = per_node.len();
                per_node.retain(|_, s| s.at + DEMAND_TTL >= newest);
                if per_node.len() != before {
                    changed.push(*id);
                }
            }
        }
        let Inner {
            limits,
            reports,
            slots,
            ..
        } = &mut *g;
        reports.retain(|id, per_node| {
            !per_node.is_empty()
                && (limits.get(id).is_some_and(|l| l.state.strong_count() > 0)
                    || slots.is_held(*id))
        });
        work.reshared = changed.len();
        for id in changed {
            g.reshare(self.node_id, id);
        }
        work
    }

    /// Notes this node's report `seq` to ledger group `group` with its usage `deltas` and,
    /// for each, the slot its requests were counted in (`tags`, in the same order; missing:
    /// none), about to be proposed (again, on a retry: noted once). Keeps the tags and
    /// counts, not the ids.
    pub fn proposing(&self, group: u32, seq: u64, deltas: &[UsageDelta], tags: &[Option<SlotTag>]) {
        self.lock().in_flight.entry(seq).or_insert_with(|| {
            let own = deltas
                .iter()
                .enumerate()
                .map(|(i, d)| (tags.get(i).copied().flatten(), d.count))
                .collect();
            (group, own)
        });
    }

    /// Takes this node's report `seq` out of those in flight, now that it committed: per
    /// usage entry, its slot tag and count (`None`: a report this process did not propose, or
    /// one already taken). The caller writes the remaining counts through the tags, then
    /// takes the counts off ([`take_off`]).
    pub fn take_own(&self, seq: u64) -> Option<OwnUsage> {
        self.lock().in_flight.remove(&seq).map(|(_, own)| own)
    }

    #[cfg(test)]
    /// Takes the usage of this node's report `seq`, now committed to the ledger (and so in
    /// the key table compiled from it), off the pending quota counts. Each report counts once,
    /// however often it is applied; reports this process did not propose count nothing.
    pub fn committed_own_usage(&self, seq: u64) {
        let mut g = self.lock();
        if let Some((_, own)) = g.in_flight.remove(&seq) {
            take_off(&g.slots, &own);
        }
    }

    /// After ledger group `group`'s snapshot was installed (or its registry recovered): every
    /// report of this node to that group up to `last_seq` is in its ledger, including any this
    /// process proposed whose entries the snapshot replaced, so their usage comes off the
    /// pending counts now. Reports to other groups are left in flight whatever their numbers
    /// (one node-wide sequence: a lower number may still be uncommitted in its own group).
    pub fn own_usage_committed_through(&self, group: u32, last_seq: u64) {
        let mut g = self.lock();
        let done: Vec<u64> = g
            .in_flight
            .range(..=last_seq)
            .filter(|(_, (to, _))| *to == group)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in done {
            if let Some((_, own)) = g.in_flight.remove(&seq) {
                take_off(&g.slots, &own);
            }
        }
    }

    /// This node's current share of limit `id` (for tests and the status page).
    pub fn share(&self, id: u64) -> Option<f64> {
        let g = self.lock();
        g.limits
            .get(&id)
            .and_then(|l| l.state.upgrade())
            .map(|s| s.node_share())
            .or_else(|| g.slots.get(id).map(KeySlot::share))
    }
}

/// Takes `own` (a committed report of this node) off the pending counts of the slots its
/// entries were counted in: one indexed write each. A slot handed to another quota since
/// (the key deleted, its slot swept and reused) is not touched; an entry counted with no quota
/// held nothing pending.
pub fn take_off(slots: &Slots, own: &OwnUsage) {
    for (tag, count) in own {
        if let Some(slot) = tag.and_then(|t| slots.by_tag(t)) {
            slot.take_off(*count);
        }
    }
}

impl Inner {
    fn sweep(&mut self) -> usize {
        let size = self.limits.len() + self.slots.len();
        self.created_since_sweep = 0;
        self.limits.retain(|_, l| l.state.strong_count() > 0);
        self.slots.sweep();
        size
    }

    fn share(&self, me: u64, id: u64, rate: f64) -> f64 {
        let Some(per_node) = self.reports.get(&id) else {
            return 1.0 / self.members as f64;
        };
        let mine = per_node.get(&me).map_or(0.0, |s| s.per_sec);
        let others = per_node
            .iter()
            .filter(|(n, _)| **n != me)
            .map(|(_, s)| s.per_sec);
        cluster_share(rate, mine, others, self.members)
    }

    fn reshare(&self, me: u64, id: u64) {
        if let Some(l) = self.limits.get(&id) {
            if let Some(state) = l.state.upgrade() {
                state.set_node_share(self.share(me, id, l.rate));
            }
        } else if let Some(slot) = self.slots.get(id) {
            slot.set_share(self.share(me, id, SPLIT_BY_DEMAND));
        }
    }

    fn reshare_all(&self, me: u64) {
        for id in self.limits.keys().copied().chain(self.slots.ids()) {
            self.reshare(me, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::key_table::quota_id;

    fn report(limit_id: u64, requests: u64) -> LimitDemand {
        LimitDemand { limit_id, requests }
    }

    #[test]
    fn shares_follow_reports_and_survive_recompilation() {
        let c = ClusterLimits::new(1);
        c.set_members(3);
        let state = c.limit(7, 100.0);
        assert!((state.node_share() - 1.0 / 3.0).abs() < 1e-9);
        let t0 = Instant::now();
        // Node 1 (this one) sees 1000/s, the others nothing: nearly all of it is ours.
        c.apply_report(1, 250, &[report(7, 250)], t0);
        c.apply_report(2, 250, &[report(7, 0)], t0);
        c.apply_report(3, 250, &[report(7, 0)], t0);
        assert!(state.node_share() > 0.97, "{}", state.node_share());
        // A recompiled table gets the same state back while the old one lives…
        assert!(Arc::ptr_eq(&state, &c.limit(7, 100.0)));
        // …and a fresh one with the current share once nothing holds it.
        drop(state);
        assert!(c.limit(7, 100.0).node_share() > 0.97);
        // A refresh forgets limits no table holds, with their reports.
        c.refresh();
        assert!((c.limit(7, 100.0).node_share() - 1.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_refresh_costs_the_limits_with_demand_not_every_limit() {
        let c = ClusterLimits::new(1);
        c.set_members(2);
        // 20 000 keys' limits and quota counts, held by a table; two limits have demand.
        let held: Vec<_> = (0..20_000).map(|id| c.limit(id, 100.0)).collect();
        let pending: Vec<_> = (0..20_000)
            .map(|k| c.quota_slot(quota_id("p", &format!("k{k}"))))
            .collect();
        let t0 = Instant::now();
        c.apply_report(1, 1000, &[report(1, 500), report(2, 500)], t0);
        c.apply_report(2, 1000, &[report(1, 500)], t0);
        let later = t0 + DEMAND_TTL + Duration::from_millis(1);
        c.apply_report(1, 1000, &[report(1, 500), report(2, 500)], later);
        // Node 2's report of limit 1 expired: that one limit is reshared, no other, and a
        // refresh visits the two limits with reports, never the 40 000 entries.
        let first = c.refresh();
        assert_eq!(
            first,
            RefreshWork {
                reshared: 1,
                reports: 2
            }
        );
        assert!(held[1].node_share() > 0.98, "{}", held[1].node_share());
        for _ in 0..20 {
            assert_eq!(
                c.refresh(),
                RefreshWork {
                    reshared: 0,
                    reports: 2
                }
            );
        }
        assert_eq!(c.len(), 40_000);
        drop((held, pending));
    }

    #[test]
    fn the_compilers_sweep_drops_what_no_table_holds_once_enough_was_created() {
        let c = ClusterLimits::new(1);
        // A compile creates 1 000 limits and quota counts; the table holds them.
        let table: Vec<_> = (0..1_000)
            .map(|id| {
                (
                    c.limit(id, 100.0),
                    c.quota_slot(quota_id("p", &format!("k{id}"))),
                )
            })
            .collect();
        assert_eq!(
            c.sweep_if_due(),
            2_000,
            "the first compile's entries are all new"
        );
        assert_eq!(c.len(), 2_000, "held entries stay");
        // A recompile of the same keys creates nothing: no sweep is due.
        let again: Vec<_> = (0..1_000)
            .map(|id| {
                (
                    c.limit(id, 100.0),
                    c.quota_slot(quota_id("p", &format!("k{id}"))),
                )
            })
            .collect();
        assert!(again
            .iter()
            .zip(&table)
            .all(|(a, b)| Arc::ptr_eq(&a.0, &b.0) && std::ptr::eq(a.1.slot(), b.1.slot())));
        drop(table);
        assert_eq!(c.sweep_if_due(), 0);
        // Half the keys are replaced: the next table holds 500 old and 500 new of each, and
        // replaces the one published.
        let next: Vec<_> = (500..1_500)
            .map(|id| {
                (
                    c.limit(id, 100.0),
                    c.quota_slot(quota_id("p", &format!("k{id}"))),
                )
            })
            .collect();
        drop(again);
        assert_eq!(c.len(), 3_000);
        assert_eq!(c.sweep_if_due(), 0, "1 000 created, under half of 3 000");
        let more: Vec<_> = (1_500..2_000)
            .map(|id| {
                (
                    c.limit(id, 100.0),
                    c.quota_slot(quota_id("p", &format!("k{id}"))),
                )
            })
            .collect();
        assert_eq!(c.sweep_if_due(), 4_000);
        assert_eq!(c.len(), 3_000, "the 1 000 entries of keys 0..500 are gone");
        drop((next, more));
    }

    #[test]
    fn a_limit_no_worker_used_holds_no_demand_slots() {
        // A key table holds a limit per key: one never used costs its share, not a cache
        // line per worker.
        let c = ClusterLimits::new(1);
        let state = c.limit(7, 100.0);
        assert!(std::mem::size_of::<LimitState>() <= 32);
        assert!(state.demand.get().is_none());
        assert_eq!(state.demand_slots(4).len(), 4);
        assert_eq!(
            state.demand_slots(9).len(),
            4,
            "made once, for the node's workers"
        );
        assert_eq!(c.limit(8, 1.0).demand_slots(1_000).len(), DEMAND_SLOTS);
    }

    #[test]
    fn a_member_gone_quiet_loses_its_share_but_a_stalled_cluster_keeps_shares() {
        let c = ClusterLimits::new(1);
        c.set_members(2);
        let state = c.limit(7, 100.0);
        let t0 = Instant::now();
        c.apply_report(1, 1000, &[report(7, 500)], t0);
        c.apply_report(2, 1000, &[report(7, 500)], t0);
        assert!((state.node_share() - 0.5).abs() < 1e-9);
        // Nobody reports for a while (no leader): nothing expires.
        c.refresh();
        assert!((state.node_share() - 0.5).abs() < 1e-9);
        // Node 2 stops while this node keeps reporting: after the TTL its report is dropped.
        let later = t0 + DEMAND_TTL + Duration::from_millis(1);
        c.apply_report(1, 1000, &[report(7, 500)], later);
        c.refresh();
        assert!(state.node_share() > 0.98, "{}", state.node_share());
    }

    #[test]
    fn a_quota_is_split_by_demand_alone() {
        let c = ClusterLimits::new(1);
        c.set_members(2);
        let q = c.limit(9, SPLIT_BY_DEMAND);
        assert!((q.node_share() - 0.5).abs() < 1e-9);
        let t0 = Instant::now();
        // Even a trickle is "over" a quota's rate: the split is proportional (with the floor).
        c.apply_report(1, 1000, &[report(9, 3)], t0);
        c.apply_report(2, 1000, &[report(9, 1)], t0);
        let want = CLUSTER_FLOOR / 2.0 + (1.0 - CLUSTER_FLOOR) * 0.75;
        assert!((q.node_share() - want).abs() < 1e-9, "{}", q.node_share());
    }

    #[test]
    fn own_usage_comes_off_pending_quota_once() {
        let c = ClusterLimits::new(1);
        let slot = c.quota_slot(quota_id("p1", "k1"));
        let pending = slot.slot().pending();
        pending.fetch_add(10, Ordering::Relaxed);
        let d = |count| {
            [UsageDelta {
                key_id: "p1:k1".into(),
                count,
            }]
        };
        let tag = [Some(slot.tag())];
        c.proposing(0, 1, &d(4), &tag);
        c.proposing(0, 1, &d(4), &tag); // a retry
        c.committed_own_usage(1);
        c.committed_own_usage(1); // the same report applied again
        assert_eq!(pending.load(Ordering::Relaxed), 6);
        // A report this process never proposed (one of an earlier process, replayed).
        c.committed_own_usage(7);
        assert_eq!(pending.load(Ordering::Relaxed), 6);
        // Never below zero (a count that started after the key got its quota).
        c.proposing(0, 2, &d(100), &tag);
        c.committed_own_usage(2);
        assert_eq!(pending.load(Ordering::Relaxed), 0);
        let again = c.quota_slot(quota_id("p1", "k1"));
        assert!(std::ptr::eq(pending, again.slot().pending()));
        // Usage counted with no quota slot (the key had no quota then) takes nothing off.
        c.proposing(0, 3, &d(1), &[None]);
        pending.fetch_add(1, Ordering::Relaxed);
        c.committed_own_usage(3);
        assert_eq!(pending.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_reused_slot_never_receives_the_old_quotas_take_off() {
        let c = ClusterLimits::new(1);
        let old = c.quota_slot(quota_id("p1", "k1"));
        old.slot().pending().fetch_add(40, Ordering::Relaxed);
        let old_tag = old.tag();
        // The report of k1's 40 requests is in flight when k1 is deleted: its entries are
        // dropped and the sweep frees the slot, which the next key gets, fresh.
        let usage = [UsageDelta {
            key_id: "p1:k1".into(),
            count: 40,
        }];
        c.proposing(0, 1, &usage, &[Some(old_tag)]);
        drop(old);
        c.sweep();
        let new = c.quota_slot(quota_id("p1", "k2"));
        assert_eq!(
            new.tag().number(),
            old_tag.number(),
            "the same slot, reused"
        );
        assert_eq!(new.tag().generation(), old_tag.generation() + 1);
        new.slot().pending().fetch_add(3, Ordering::Relaxed);
        // k1's report commits: the slot's generation moved on, so k2's count is untouched.
        c.committed_own_usage(1);
        assert_eq!(new.slot().pending().load(Ordering::Relaxed), 3);
        assert!(c.with_slots(|s| s.by_tag(old_tag).is_none()));
        // k2's own report, tagged with the slot's new generation, does come off.
        c.proposing(
            0,
            2,
            &[UsageDelta {
                key_id: "p1:k2".into(),
                count: 2,
            }],
            &[Some(new.tag())],
        );
        c.committed_own_usage(2);
        assert_eq!(new.slot().pending().load(Ordering::Relaxed), 1);
    }

    #[test]
    fn reports_a_snapshot_covered_come_off_pending_too() {
        let c = ClusterLimits::new(1);
        let slot = c.quota_slot(quota_id("p1", "k1"));
        let pending = slot.slot().pending();
        pending.fetch_add(30, Ordering::Relaxed);
        for seq in 3..=5 {
            c.proposing(
                0,
                seq,
                &[UsageDelta {
                    key_id: "p1:k1".into(),
                    count: 5,
                }],
                &[Some(slot.tag())],
            );
        }
        // A snapshot holding this node's reports up to 4 replaced their entries.
        c.own_usage_committed_through(0, 4);
        assert_eq!(pending.load(Ordering::Relaxed), 20);
        c.own_usage_committed_through(0, 4);
        assert_eq!(pending.load(Ordering::Relaxed), 20, "once");
        c.committed_own_usage(5);
        assert_eq!(pending.load(Ordering::Relaxed), 15);
    }

    #[test]
    fn a_ledger_group_covers_only_its_own_reports() {
        let c = ClusterLimits::new(1);
        let slot = c.quota_slot(quota_id("p1", "k1"));
        let pending = slot.slot().pending();
        pending.fetch_add(30, Ordering::Relaxed);
        let usage = [UsageDelta {
            key_id: "p1:k1".into(),
            count: 10,
        }];
        // One node-wide sequence: report 6 went to group 2, report 7 to group 1.
        c.proposing(2, 6, &usage, &[Some(slot.tag())]);
        c.proposing(1, 7, &usage, &[Some(slot.tag())]);
        // Group 1's snapshot holds this node's reports up to 7: report 6 is not among them
        // (it is group 2's, maybe not committed yet), so its count stays pending.
        c.own_usage_committed_through(1, 7);
        assert_eq!(pending.load(Ordering::Relaxed), 20);
        c.own_usage_committed_through(2, 6);
        assert_eq!(pending.load(Ordering::Relaxed), 10);
    }
}
