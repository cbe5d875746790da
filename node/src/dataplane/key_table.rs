//! The compiled API-key table: what each key's usage plans allow it, and what its quotas have
//! left.
//!
//! The table is built whole when the node starts (or installs a snapshot) and on a new UTC
//! day. A change that names keys (a key created, updated, deleted or imported, a key added to
//! or taken from a plan, a quota grant) or plans (a plan updated: its keys) updates it
//! with [`KeyTable::update`]: only the named keys are compiled again, and the new table shares
//! every other key's entry, and the index shards they fall in, with the table before it
//! ([`super::key_shards`]), so a call's cost follows the keys it names, not the keys held.
//!
//! What a node counts per quota across table versions (requests admitted and not yet
//! committed, its share of the quota, what the ledger has left of it) lives in one slot of the
//! slab of [`super::key_slots`], named by the entry's [`SlotRef`]: no allocation or map entry
//! of its own per key.
//!
//! Usage reports, which arrive several times a second per node and only change what quotas
//! have left, never touch the table's shape: [`KeyTable::apply_usage`] rewrites the remaining
//! count of each quota a report names, from the ledger, in its slot. For this node's own
//! reports the slot is reached by the number and generation the worker counted the usage
//! under (kept beside the report in [`ClusterLimits`]): one indexed write per usage entry,
//! then the entry's count comes off the slot's pending count. Other nodes' reports name keys
//! by id only; their slots are found by the quota's id. The cost of a report is thus its number
//! of usage entries, whatever the number of keys.
//!
//! A compile writes the remaining count of a slot no served table holds (a fresh one); one
//! from the registry itself also rewrites the slots it shares with the served table, with the
//! value the served table must show. A compile from a copy of the registry leaves those to
//! [`KeyTable::refresh_all_quotas`], run under the registry's lock before it is published: the
//! copy's figures are older than what the control thread wrote since.

use super::cluster_limits::{take_off, ClusterLimits, OwnUsage};
use super::key_shards::Shards;
use super::key_slots::{SlotRef, SlotTag, Slots};
use super::routing::{fnv64, ThrottleSpec};
use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tollgate_proto::model::ApiKey;
use tollgate_proto::{Registry, UsageDelta};

/// API keys by value, with what their usage plans allow them.
///
/// The table keeps no key values: an entry holds a 128-bit keyed hash of its value
/// ([`ValueHasher`]): 64 bits the index by value is sorted by, and 64 more a lookup checks.
/// The hash key is random and never leaves the process, so a value that is no key's matches
/// one of `n` keys with probability about `n / 2^128`, however it was chosen.
#[derive(Debug)]
pub struct KeyTable {
    /// Keys by the hash of their value (the `x-api-key` header).
    by_value: Shards<KeyEntry>,
    /// The same entries by key id (changes name keys by id; read by compiles only, so the
    /// entries' hashes are not kept beside them).
    by_id: Shards<KeyEntry, Arc<KeyEntry>>,
    /// What values are hashed with (kept by [`KeyTable::update`], new with each whole compile).
    hasher: ValueHasher,
    /// The UTC day number the quotas are counted for (the day the table was compiled on).
    pub day: i64,
}

/// The keyed hash of API key values (SipHash with a random key, computed twice with a
/// different suffix: 128 bits).
#[derive(Debug, Clone, Default)]
pub struct ValueHasher(RandomState);

impl ValueHasher {
    /// What the index by value sorts `value` by.
    fn index(&self, value: &str) -> u64 {
        self.0.hash_one((value, 0u8))
    }

    /// What a lookup of `value` checks an entry's value against.
    fn check(&self, value: &str) -> u64 {
        self.0.hash_one((value, 1u8))
    }
}

fn value_hash_of(e: &KeyEntry) -> u64 {
    e.value_index
}

fn id_hash(id: &str) -> u64 {
    fnv64(&[id.as_bytes()])
}

fn id_hash_of(e: &KeyEntry) -> u64 {
    id_hash(&e.id)
}

impl Default for KeyTable {
    fn default() -> Self {
        KeyTable {
            by_value: Shards::new(value_hash_of),
            by_id: Shards::new(id_hash_of),
            hasher: ValueHasher::default(),
            day: 0,
        }
    }
}

/// One API key.
#[derive(Debug)]
pub struct KeyEntry {
    /// The key's id (inline up to 24 bytes: AWS-style ids are 10).
    pub id: compact_str::CompactString,
    /// The keyed hash of the key's value the index by value is sorted by.
    value_index: u64,
    /// The other half of the value's keyed hash, which a lookup checks.
    value_check: u64,
    /// The plan stages the key may call (exactly sized: a `Vec` grown by pushes would hold
    /// room for four stages per key).
    pub stages: Box<[KeyStage]>,
}

impl KeyEntry {
    /// The limit states and pending counts the entry holds (counted once per stage).
    fn limit_states(&self) -> usize {
        self.stages
            .iter()
            .map(|s| {
                s.method_throttles().len()
                    + usize::from(s.throttle().is_some())
                    + usize::from(s.quota.is_some())
            })
            .sum()
    }
}

/// What a key's usage plan allows on one API stage.
#[derive(Debug)]
pub struct KeyStage {
    /// The plan, the API stage and the plan's metric series (shared by every key of the plan).
    at: Arc<PlanStage>,
    /// The plan's throttles for the key (none: a key without any costs one pointer).
    throttles: Option<Box<KeyThrottles>>,
    /// The plan's quota, if it has one.
    pub quota: Option<QuotaSpec>,
}

/// A plan stage's throttles for one key.
#[derive(Debug)]
struct KeyThrottles {
    /// Per-method limits (`/pets/GET` → limit), checked first.
    methods: Box<[(Box<str>, ThrottleSpec)]>,
    /// The plan's per-key limit.
    key: Option<ThrottleSpec>,
}

/// What every key of a usage plan shares on one of its API stages.
#[derive(Debug)]
struct PlanStage {
    plan_id: Box<str>,
    api_id: Box<str>,
    stage: Box<str>,
    plan_series: Option<u32>,
}

/// A key and the plan stage it calls through: what the API key phase finds for a request.
#[derive(Debug, Clone, Copy)]
pub struct KeyPlan<'t> {
    /// The key.
    pub key: &'t KeyEntry,
    /// The plan stage of the request's API stage.
    pub stage: &'t KeyStage,
}

impl std::ops::Deref for KeyPlan<'_> {
    type Target = KeyStage;

    fn deref(&self) -> &KeyStage {
        self.stage
    }
}

impl<'t> KeyPlan<'t> {
    /// The key's id.
    pub fn key_id(&self) -> &'t str {
        &self.key.id
    }

    /// The usage plan's id.
    pub fn plan_id(&self) -> &'t str {
        &self.stage.at.plan_id
    }
}

impl KeyEntry {
    /// The key's plan stage for `api_id`'s stage `stage`, if a plan of the key covers it.
    pub fn plan_for<'t>(&'t self, api_id: &str, stage: &str) -> Option<KeyPlan<'t>> {
        self.stages
            .iter()
            .find(|s| s.api_id() == api_id && s.stage() == stage)
            .map(|s| KeyPlan {
                key: self,
                stage: s,
            })
    }
}

impl KeyStage {
    /// The API.
    pub fn api_id(&self) -> &str {
        &self.at.api_id
    }

    /// The stage.
    pub fn stage(&self) -> &str {
        &self.at.stage
    }

    /// The plan's metric series (its throttle and quota refusals).
    pub fn plan_series(&self) -> Option<u32> {
        self.at.plan_series
    }

    /// The usage plan's id.
    pub fn plan_id(&self) -> &str {
        &self.at.plan_id
    }

    /// Per-method limits (`/pets/GET` → limit).
    pub fn method_throttles(&self) -> &[(Box<str>, ThrottleSpec)] {
        self.throttles.as_deref().map_or(&[], |t| &t.methods[..])
    }

    /// The plan's per-key limit.
    pub fn throttle(&self) -> Option<&ThrottleSpec> {
        self.throttles.as_deref().and_then(|t| t.key.as_ref())
    }
}

/// A usage plan's quota for one key, as this node enforces it.
///
/// The ledger's remaining requests are split among the nodes like a rate limit, by the demand
/// each reports for the quota: a node admits while the key's requests it has not yet seen
/// committed stay under its share of what the ledger has left. As usage commits, the remaining
/// count is rewritten in place and each node's part is taken of the smaller remainder, so the
/// cluster stops close to the quota instead of overshooting it by the traffic of one report
/// interval (see `docs/LIMITS.md`).
#[derive(Debug)]
pub struct QuotaSpec {
    /// Identifies the quota (plan, key) for demand reports.
    pub id: u64,
    /// The node's count of the key's requests through the plan not yet committed to the usage
    /// ledger, its share of the quota and what the ledger has left of it (shared by the
    /// workers and the plan's stages, and kept across tables).
    slot: SlotRef,
}

/// The limit id of plan `plan`'s quota for key `key` (what demand reports and the quota's slot
/// are found by).
pub fn quota_id(plan: &str, key: &str) -> u64 {
    fnv64(&[plan.as_bytes(), key.as_bytes(), b"quota"])
}

impl QuotaSpec {
    /// Requests the ledger has left in the quota period (see [`super::key_slots::KeySlot`]
    /// for the order against the pending count).
    pub fn remaining(&self) -> i64 {
        self.slot.slot().remaining()
    }

    /// How many uncommitted requests of the key this node may have admitted.
    pub fn allowance(&self) -> f64 {
        self.remaining() as f64 * self.slot.slot().share()
    }

    /// The node-wide count of the key's requests through the plan admitted and not yet
    /// committed to the usage ledger.
    pub fn pending(&self) -> &AtomicU64 {
        self.slot.slot().pending()
    }

    /// The quota's slot by number and generation (what the request's usage is counted with).
    pub fn tag(&self) -> SlotTag {
        self.slot.tag()
    }
}

/// Where a compile reads what quotas have left: `(plan, key, day) -> remaining` (`None`: the
/// plan has no quota). With one ledger group, the registry's
/// [`Registry::remaining_quota`]; with several, see [`crate::ledger_groups::QuotaSource`].
pub type Remaining<'a> = &'a dyn Fn(&str, &str, i64) -> Option<i64>;

impl KeyTable {
    /// The enabled key whose value is `value`.
    pub fn get(&self, value: &str) -> Option<&KeyEntry> {
        self.by_value.get(self.hasher.index(value), |e| {
            e.value_check == self.hasher.check(value)
        })
    }

    /// The key with id `id`.
    pub fn by_id(&self, id: &str) -> Option<&KeyEntry> {
        self.by_id.get(id_hash(id), |e| &*e.id == id)
    }

    fn arc_by_id(&self, id: &str) -> Option<&Arc<KeyEntry>> {
        self.by_id.get_arc(id_hash(id), |e| &*e.id == id)
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The number of entries in the index by value (the number of enabled keys).
    pub fn values_indexed(&self) -> usize {
        self.by_value.len()
    }

    /// Whether the table holds no key.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Applies one committed usage report to this node's quota counts: rewrites what each
    /// quota `deltas` add usage to has left, from `reg` (the registry with those deltas
    /// applied), then, for this node's own report (`own`: its entries' slot tags and counts,
    /// from [`ClusterLimits::take_own`]), takes the counts off the pending counts, so a
    /// request is never missed by both. Touches nothing else: the table stays the one the
    /// workers hold. The day is the table's own (a new day recompiles the table).
    ///
    /// Per usage entry: one registry read and, for an own entry, one write to the slot its
    /// tag names (checked by generation); for another node's entry, the slot is found by the
    /// quota's id. The slab's lock is taken once.
    pub fn apply_usage(
        &self,
        reg: &Registry,
        deltas: &[UsageDelta],
        own: Option<&OwnUsage>,
        limits: &ClusterLimits,
    ) {
        // The tags are the report's own, entry for entry (the same vector was proposed).
        let tags = own.filter(|o| o.len() == deltas.len());
        limits.with_slots(|slots| {
            for (i, d) in deltas.iter().enumerate() {
                let tag = tags.and_then(|o| o.get(i)).and_then(|(t, _)| *t);
                self.write_remaining(reg, slots, &d.key_id, tag);
            }
            if let Some(own) = own {
                take_off(slots, own);
            }
        });
    }

    /// Rewrites the remaining count of every quota `deltas` add usage to, from `reg` (another
    /// node's report, or the ledger ids a ledger group holds usage for): [`KeyTable::apply_usage`]
    /// without a take-off.
    pub fn refresh_quotas(&self, reg: &Registry, deltas: &[UsageDelta], limits: &ClusterLimits) {
        self.apply_usage(reg, deltas, None, limits);
    }

    /// Writes what the quota of usage id `usage_id` has left into its slot: the one `tag`
    /// names (this node counted the usage there), else the one of the quota's id.
    fn write_remaining(&self, reg: &Registry, slots: &Slots, usage_id: &str, tag: Option<SlotTag>) {
        // A plan usage id is `{plan}:{key}` (ids never hold a `:`); a bare key id (reports of
        // builds that counted usage per key) counts in every plan of the key.
        let Some((plan, key)) = usage_id.split_once(':') else {
            for p in reg
                .usage_plans
                .values()
                .filter(|p| p.quota.is_some() && p.key_ids.contains(usage_id))
            {
                if let Some(slot) = slots.get(quota_id(&p.id, usage_id)) {
                    let left = reg.remaining_quota(&p.id, usage_id, self.day);
                    slot.set_remaining(left.unwrap_or(0));
                }
            }
            return;
        };
        let left = reg.remaining_quota(plan, key, self.day);
        let slot = match tag {
            // Counted in a slot that is still this quota's (not reused since).
            Some(tag) => slots.by_tag(tag).or_else(|| {
                // The slot went to another quota since (the key left every table and came
                // back): the quota's current slot, found by id, gets its figure all the same.
                left.and_then(|_| slots.get(quota_id(plan, key)))
            }),
            // Another node's report, or counted while the key had no quota: by id, when the
            // plan has one.
            None if left.is_some() => slots.get(quota_id(plan, key)),
            None => None,
        };
        // A quota gone from the registry comes with a plan change, which recompiles the key;
        // until then nothing is left of it.
        if let Some(slot) = slot {
            slot.set_remaining(left.unwrap_or(0));
        }
    }

    /// Rewrites every quota's remaining count from `reg` (a table compiled from an older copy
    /// of the registry, brought up to the ledger before it is published, under the
    /// registry's lock).
    pub fn refresh_all_quotas(&self, reg: &Registry) {
        self.refresh_all_quotas_from(&|plan, key, day| reg.remaining_quota(plan, key, day));
    }

    /// [`KeyTable::refresh_all_quotas`], reading what quotas have left from `left`.
    pub fn refresh_all_quotas_from(&self, left: Remaining<'_>) {
        for e in self.by_id.values() {
            let mut last: Option<&str> = None;
            for s in e.stages.iter() {
                let Some(q) = &s.quota else { continue };
                let plan_id = s.plan_id();
                // The stages of one plan share the slot: written once (they are adjacent).
                if last == Some(plan_id) {
                    continue;
                }
                last = Some(plan_id);
                let left = left(plan_id, &e.id, self.day).unwrap_or(0);
                q.slot.slot().set_remaining(left);
            }
        }
    }

    /// This table with the keys `keys` and the keys of the plans `plans` compiled again from
    /// `reg` (added, replaced, or dropped when gone), sharing every other entry with `self`.
    /// Their quota counts are read from `reg`, so the caller holds the registry's lock until
    /// the table is published (usage applied after it is written into the published table).
    /// Returns the table and the number of limit states and pending counts the entries it
    /// replaced or dropped held (perhaps garbage now, for [`ClusterLimits::sweep_if_due`]).
    pub fn update<'a>(
        &self,
        reg: &Registry,
        keys: impl IntoIterator<Item = &'a str>,
        plans: impl IntoIterator<Item = &'a str>,
        limits: &ClusterLimits,
    ) -> (KeyTable, usize) {
        let left = |plan: &str, key: &str, day| reg.remaining_quota(plan, key, day);
        self.update_from(reg, &left, keys, plans, limits)
    }

    /// [`KeyTable::update`], reading what quotas have left from `left` (which must be current:
    /// it is written into slots the served table shares).
    pub fn update_from<'a>(
        &self,
        reg: &Registry,
        left: Remaining<'_>,
        keys: impl IntoIterator<Item = &'a str>,
        plans: impl IntoIterator<Item = &'a str>,
        limits: &ClusterLimits,
    ) -> (KeyTable, usize) {
        let mut ids: BTreeSet<&str> = keys.into_iter().collect();
        for p in plans {
            if let Some(plan) = reg.usage_plans.get(p) {
                ids.extend(plan.key_ids.iter().map(String::as_str));
            }
        }
        let old: Vec<&Arc<KeyEntry>> = ids.iter().filter_map(|id| self.arc_by_id(id)).collect();
        let dropped = old.iter().map(|e| e.limit_states()).sum();
        let ctx = Compile::new(reg, self.day, limits, left, true, &self.hasher);
        let keys: Vec<&ApiKey> = ids.iter().filter_map(|id| reg.api_keys.get(*id)).collect();
        let fresh: Vec<Arc<KeyEntry>> = keys.iter().map(|k| Arc::new(ctx.entry(k))).collect();
        let table = KeyTable {
            by_value: self
                .by_value
                .edit(old.iter().copied(), enabled(&keys, &fresh)),
            by_id: self.by_id.edit(old.iter().copied(), fresh),
            hasher: self.hasher.clone(),
            day: self.day,
        };
        (table, dropped)
    }
}

/// What compiling keys reads once per compile (not once per key).
struct Compile<'r> {
    reg: &'r Registry,
    day: i64,
    limits: &'r ClusterLimits,
    /// What quotas have left.
    left: Remaining<'r>,
    /// Whether `left` is current, so that slots the served table holds are written too (a
    /// compile from a copy writes only fresh ones).
    write_held: bool,
    /// What key values are hashed with.
    hasher: &'r ValueHasher,
    /// Each plan stage (plan, API, stage), shared by the plan's keys (not copied per key).
    plan_stages: HashMap<(&'r str, &'r str, &'r str), Arc<PlanStage>>,
}

impl<'r> Compile<'r> {
    fn new(
        reg: &'r Registry,
        day: i64,
        limits: &'r ClusterLimits,
        left: Remaining<'r>,
        write_held: bool,
        hasher: &'r ValueHasher,
    ) -> Compile<'r> {
        let mut plan_stages = HashMap::new();
        for p in reg.usage_plans.values() {
            let labels = super::api_metrics::Labels::Plan {
                plan: p.id.as_str().into(),
            };
            let plan_series = super::api_metrics::series().id(labels);
            for s in &p.api_stages {
                let at = PlanStage {
                    plan_id: p.id.as_str().into(),
                    api_id: s.api_id.as_str().into(),
                    stage: s.stage.as_str().into(),
                    plan_series,
                };
                plan_stages.insert(
                    (p.id.as_str(), s.api_id.as_str(), s.stage.as_str()),
                    Arc::new(at),
                );
            }
        }
        Compile {
            reg,
            day,
            limits,
            left,
            write_held,
            hasher,
            plan_stages,
        }
    }

    /// `key`'s entry, with its plans' stages, limits and quota counts.
    fn entry(&self, key: &ApiKey) -> KeyEntry {
        let (reg, limits) = (self.reg, self.limits);
        let mut stages = Vec::new();
        for plan in reg
            .usage_plans
            .values()
            .filter(|p| p.key_ids.contains(&key.id))
        {
            let qid = quota_id(&plan.id, &key.id);
            let quota = (self.left)(&plan.id, &key.id, self.day).map(|left| {
                let (slot, fresh) = limits.acquire_quota_slot(qid);
                if fresh || self.write_held {
                    slot.slot().set_remaining(left);
                }
                slot
            });
            let spec = |which: &str, t: &tollgate_proto::model::ThrottleSettings| {
                let id = fnv64(&[
                    plan.id.as_bytes(),
                    key.id.as_bytes(),
                    which.as_bytes(),
                    &t.rate_limit.to_bits().to_le_bytes(),
                    &t.burst_limit.to_le_bytes(),
                ]);
                ThrottleSpec::new(
                    id,
                    t.rate_limit.max(0.0),
                    f64::from(t.burst_limit.max(0)),
                    limits,
                )
            };
            for s in &plan.api_stages {
                let at = match self.plan_stages.get(&(
                    plan.id.as_str(),
                    s.api_id.as_str(),
                    s.stage.as_str(),
                )) {
                    Some(at) => at.clone(),
                    // Every plan stage is in the map (built from the same registry).
                    None => Arc::new(PlanStage {
                        plan_id: plan.id.as_str().into(),
                        api_id: s.api_id.as_str().into(),
                        stage: s.stage.as_str().into(),
                        plan_series: None,
                    }),
                };
                let methods: Box<[(Box<str>, ThrottleSpec)]> = s
                    .throttle
                    .iter()
                    .map(|(m, t)| {
                        (
                            m.as_str().into(),
                            spec(&format!("{}:{}{m}", s.api_id, s.stage), t),
                        )
                    })
                    .collect();
                let key_throttle = plan.throttle.as_ref().map(|t| spec("*", t));
                let throttles = (!methods.is_empty() || key_throttle.is_some()).then(|| {
                    Box::new(KeyThrottles {
                        methods,
                        key: key_throttle,
                    })
                });
                stages.push(KeyStage {
                    at,
                    throttles,
                    quota: quota.as_ref().map(|slot| QuotaSpec {
                        id: qid,
                        slot: slot.clone(),
                    }),
                });
            }
        }
        KeyEntry {
            id: key.id.as_str().into(),
            value_index: self.hasher.index(&key.value),
            value_check: self.hasher.check(&key.value),
            stages: stages.into_boxed_slice(),
        }
    }
}

/// Builds the key table from the registry; `day` is today's UTC day number (for quotas). The
/// registry is the current one: what quotas have left is written into every slot, those the
/// served table shares too.
pub fn compile_keys(reg: &Registry, day: i64, limits: &ClusterLimits) -> KeyTable {
    let left = |plan: &str, key: &str, day| reg.remaining_quota(plan, key, day);
    compile(reg, day, limits, &left, true)
}

/// [`compile_keys`] from a copy of the registry (compiled without its lock): only fresh
/// slots get the copy's remaining counts; the caller brings the table up to the ledger with
/// [`KeyTable::refresh_all_quotas`] under the lock before publishing it.
pub fn compile_keys_from_copy(reg: &Registry, day: i64, limits: &ClusterLimits) -> KeyTable {
    let left = |plan: &str, key: &str, day| reg.remaining_quota(plan, key, day);
    compile(reg, day, limits, &left, false)
}

fn compile(
    reg: &Registry,
    day: i64,
    limits: &ClusterLimits,
    left: Remaining<'_>,
    write_held: bool,
) -> KeyTable {
    let hasher = ValueHasher::default();
    let ctx = Compile::new(reg, day, limits, left, write_held, &hasher);
    let keys: Vec<&ApiKey> = reg.api_keys.values().collect();
    let entries: Vec<Arc<KeyEntry>> = keys.iter().map(|k| Arc::new(ctx.entry(k))).collect();
    KeyTable {
        by_value: Shards::from_entries(value_hash_of, enabled(&keys, &entries)),
        by_id: Shards::from_entries(id_hash_of, entries),
        hasher,
        day,
    }
}

/// The entries of `keys` (`entries`, in the same order) that are enabled: only those are
/// found by value (a disabled key is refused as an unknown one is), all are found by id.
fn enabled(keys: &[&ApiKey], entries: &[Arc<KeyEntry>]) -> Vec<Arc<KeyEntry>> {
    keys.iter()
        .zip(entries)
        .filter(|(k, _)| k.enabled)
        .map(|(_, e)| e.clone())
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::atomic::Ordering;
    use tollgate_proto::model::{ApiKey, ApiStage, QuotaSettings, UsagePlan};
    use tollgate_proto::{plan_usage_id, Command};

    pub(crate) const DAY: i64 = 20_000;

    /// Keys `k1` and `k2`, both in plan `p1` (two stages, a DAY quota of 100).
    pub(crate) fn registry() -> Registry {
        let mut r = Registry::default();
        for id in ["k1", "k2"] {
            r.api_keys.insert(ApiKey {
                id: id.into(),
                value: format!("value-of-{id}-0123456789"),
                enabled: true,
                ..Default::default()
            });
        }
        let stage = |s: &str| ApiStage {
            api_id: "a1".into(),
            stage: s.into(),
            throttle: BTreeMap::new(),
        };
        r.usage_plans.insert(
            "p1".into(),
            UsagePlan {
                id: "p1".into(),
                api_stages: vec![stage("dev"), stage("prod")],
                key_ids: ["k1".to_string(), "k2".to_string()].into_iter().collect(),
                quota: Some(QuotaSettings {
                    limit: 100,
                    offset: 0,
                    period: tollgate_proto::model::QuotaPeriod::Day.into(),
                }),
                ..Default::default()
            },
        );
        r
    }

    pub(crate) fn report(seq: u64, day: i64, ledger_id: &str, count: u64) -> Command {
        Command::ReportLoad {
            node_id: 1,
            seq,
            at_ms: day * 86_400_000 + 5,
            deltas: vec![UsageDelta {
                key_id: ledger_id.into(),
                count,
            }],
            interval_ms: 250,
            demand: vec![],
        }
    }

    fn remaining(t: &KeyTable, key: &str) -> Vec<i64> {
        t.get(&format!("value-of-{key}-0123456789"))
            .unwrap()
            .stages
            .iter()
            .map(|s| s.quota.as_ref().unwrap().remaining())
            .collect()
    }

    #[test]
    fn a_usage_report_rewrites_only_the_quotas_it_names() {
        let mut r = registry();
        let limits = ClusterLimits::new(1);
        let t = compile_keys(&r, DAY, &limits);
        assert_eq!(remaining(&t, "k1"), [100, 100]);
        let rep = report(1, DAY, &plan_usage_id("p1", "k1"), 30);
        r.apply(&rep).unwrap();
        let Command::ReportLoad { deltas, .. } = &rep else {
            unreachable!()
        };
        t.refresh_quotas(&r, deltas, &limits);
        // Both stages of the plan share the one count; the other key is untouched.
        assert_eq!(remaining(&t, "k1"), [70, 70]);
        assert_eq!(remaining(&t, "k2"), [100, 100]);
        // Usage an older build reported under the bare key id counts too.
        let rep = report(2, DAY, "k2", 5);
        r.apply(&rep).unwrap();
        let Command::ReportLoad { deltas, .. } = &rep else {
            unreachable!()
        };
        t.refresh_quotas(&r, deltas, &limits);
        assert_eq!(remaining(&t, "k2"), [95, 95]);
        // What a refresh writes is what a full compile would.
        assert_eq!(
            remaining(&compile_keys(&r, DAY, &limits), "k1"),
            remaining(&t, "k1")
        );
    }

    #[test]
    fn a_table_compiled_from_an_older_copy_is_brought_up_to_the_ledger() {
        let mut r = registry();
        let limits = ClusterLimits::new(1);
        let t = compile_keys(&r.clone(), DAY, &limits);
        r.apply(&report(1, DAY, &plan_usage_id("p1", "k1"), 30))
            .unwrap();
        r.apply(&report(2, DAY, &plan_usage_id("p1", "k2"), 1))
            .unwrap();
        t.refresh_all_quotas(&r);
        assert_eq!(remaining(&t, "k1"), [70, 70]);
        assert_eq!(remaining(&t, "k2"), [99, 99]);
    }

    #[test]
    fn a_refresh_counts_usage_in_the_tables_own_day() {
        let mut r = registry();
        let limits = ClusterLimits::new(1);
        let t = compile_keys(&r, DAY, &limits);
        // Usage dated the next day is not this table's to count: the rollover recompiles.
        let rep = report(1, DAY + 1, &plan_usage_id("p1", "k1"), 30);
        r.apply(&rep).unwrap();
        let Command::ReportLoad { deltas, .. } = &rep else {
            unreachable!()
        };
        t.refresh_quotas(&r, deltas, &limits);
        assert_eq!(remaining(&t, "k1"), [100, 100]);
    }

    /// Per stage: its API, stage, usage id and quota left.
    type Served = Vec<(String, String, String, Option<i64>)>;

    /// What a table serves for `value`.
    fn served(t: &KeyTable, value: &str) -> Option<Served> {
        t.get(value).map(|e| {
            e.stages
                .iter()
                .map(|s| {
                    (
                        s.api_id().to_string(),
                        s.stage().to_string(),
                        format!("{}:{}", s.plan_id(), e.id),
                        s.quota.as_ref().map(QuotaSpec::remaining),
                    )
                })
                .collect()
        })
    }

    fn new_key(id: &str) -> ApiKey {
        ApiKey {
            id: id.into(),
            value: format!("value-of-{id}-0123456789"),
            enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_key_imported_after_the_table_was_built_is_served() {
        let mut r = registry();
        let limits = ClusterLimits::new(1);
        let t = compile_keys(&r, DAY, &limits);
        let import = Command::ImportApiKeys {
            keys: vec![new_key("k3")],
            plan_keys: vec![("p1".into(), "k3".into())],
        };
        r.apply(&import).unwrap();
        assert!(t.get("value-of-k3-0123456789").is_none());
        let (u, dropped) = t.update(&r, ["k3"], None, &limits);
        assert_eq!(dropped, 0);
        let served = served(&u, "value-of-k3-0123456789").unwrap();
        assert_eq!(served.len(), 2, "both stages of the plan");
        assert_eq!(served[0].2, "p1:k3");
        assert_eq!(served[0].3, Some(100));
        assert!(std::ptr::eq(
            u.by_id("k3").unwrap(),
            u.get("value-of-k3-0123456789").unwrap()
        ));
        assert_eq!(u.len(), 3);
        // The keys not named are the same entries, not copies.
        let same = |k: &str| std::ptr::eq(t.by_id(k).unwrap(), u.by_id(k).unwrap());
        assert!(same("k1") && same("k2"));
        // Usage of the new key is written into its cell; the old table is unchanged.
        let rep = report(1, DAY, &plan_usage_id("p1", "k3"), 7);
        r.apply(&rep).unwrap();
        let Command::ReportLoad { deltas, .. } = &rep else {
            unreachable!()
        };
        u.refresh_quotas(&r, deltas, &limits);
        assert_eq!(remaining(&u, "k3"), [93, 93]);
        assert_eq!(u.len(), 3);
        assert!(t.get("value-of-k3-0123456789").is_none() && t.len() == 2);
    }

    #[test]
    fn a_deleted_key_is_refused_and_a_disabled_one_too() {
        let mut r = registry();
        let limits = ClusterLimits::new(1);
        let t = compile_keys(&r, DAY, &limits);
        r.apply(&Command::DeleteApiKey { id: "k1".into() }).unwrap();
        let mut k2 = r.api_keys["k2"].clone();
        k2.enabled = false;
        r.apply(&Command::UpdateApiKey { key: k2 }).unwrap();
        let (u, dropped) = t.update(&r, ["k1", "k2"], None, &limits);
        // Per key and stage: its quota's slot.
        assert_eq!(dropped, 2 * 2, "both entries replaced or gone");
        assert!(u.get("value-of-k1-0123456789").is_none());
        assert!(u.by_id("k1").is_none());
        assert!(served(&u, "value-of-k2-0123456789").is_none(), "disabled");
        assert_eq!(u.len(), 1);
        // The table the workers may still hold serves both until it is replaced.
        assert!(served(&t, "value-of-k1-0123456789").is_some());
        // A report naming a deleted key finds nothing to rewrite (and does not fail).
        u.refresh_quotas(
            &r,
            &[UsageDelta {
                key_id: plan_usage_id("p1", "k1"),
                count: 1,
            }],
            &limits,
        );
    }

    /// The pending count of `key`'s quota in plan p1 (both stages share it).
    fn pending<'t>(t: &'t KeyTable, key: &str) -> &'t AtomicU64 {
        t.by_id(key).unwrap().stages[0]
            .quota
            .as_ref()
            .unwrap()
            .pending()
    }

    #[test]
    fn a_recompiled_key_keeps_its_pending_count_and_share() {
        let mut r = registry();
        let limits = ClusterLimits::new(1);
        let t = compile_keys(&r, DAY, &limits);
        pending(&t, "k1").fetch_add(5, Ordering::Relaxed);
        let mut k1 = r.api_keys["k1"].clone();
        k1.name = Some("renamed".into());
        r.apply(&Command::UpdateApiKey { key: k1 }).unwrap();
        let (u, _) = t.update(&r, ["k1"], None, &limits);
        assert!(!std::ptr::eq(
            t.by_id("k1").unwrap(),
            u.by_id("k1").unwrap()
        ));
        assert!(
            std::ptr::eq(pending(&t, "k1"), pending(&u, "k1")),
            "one slot"
        );
        assert_eq!(pending(&u, "k1").load(Ordering::Relaxed), 5);
        // A whole compile (new day, snapshot) finds the slot too while a table holds it.
        let full = compile_keys(&r, DAY, &limits);
        assert_eq!(pending(&full, "k1").load(Ordering::Relaxed), 5);
        // Both stages of the plan count in the one slot.
        let stages = &u.by_id("k1").unwrap().stages;
        assert!(std::ptr::eq(
            stages[0].quota.as_ref().unwrap().pending(),
            stages[1].quota.as_ref().unwrap().pending()
        ));
    }

    #[test]
    fn a_deleted_keys_slot_is_reused_only_once_no_table_names_it_and_fresh() {
        let mut r = registry();
        let limits = ClusterLimits::new(1);
        let t = compile_keys(&r, DAY, &limits);
        let old_slot: *const AtomicU64 = pending(&t, "k1");
        pending(&t, "k1").fetch_add(40, Ordering::Relaxed);
        // This node's report of k1's usage is in flight when k1 is deleted.
        let usage = [UsageDelta {
            key_id: plan_usage_id("p1", "k1"),
            count: 40,
        }];
        let k1_tag = t.by_id("k1").unwrap().stages[0]
            .quota
            .as_ref()
            .unwrap()
            .tag();
        limits.proposing(0, 1, &usage, &[Some(k1_tag)]);
        r.apply(&Command::DeleteApiKey { id: "k1".into() }).unwrap();
        let (u, gone) = t.update(&r, ["k1"], None, &limits);
        limits.note_released(gone);
        // The old table (a worker may still serve from it) names the slot: a sweep keeps it,
        // and a key imported meanwhile gets another one.
        limits.sweep();
        let add = |r: &mut Registry, id: &str| {
            r.apply(&Command::ImportApiKeys {
                keys: vec![new_key(id)],
                plan_keys: vec![("p1".into(), id.into())],
            })
            .unwrap();
        };
        add(&mut r, "k3");
        let (u, _) = u.update(&r, ["k3"], None, &limits);
        assert!(!std::ptr::eq(pending(&u, "k3"), old_slot));
        pending(&t, "k1").fetch_add(1, Ordering::Relaxed);
        assert_eq!(pending(&u, "k3").load(Ordering::Relaxed), 0, "no leak");
        // Once no table names it, the sweep frees it, and the next key gets it back reset.
        drop(t);
        limits.sweep();
        add(&mut r, "k4");
        let (u, _) = u.update(&r, ["k4"], None, &limits);
        assert!(
            std::ptr::eq(pending(&u, "k4"), old_slot),
            "the slot is reused"
        );
        assert_eq!(pending(&u, "k4").load(Ordering::Relaxed), 0, "fresh");
        pending(&u, "k4").fetch_add(3, Ordering::Relaxed);
        // The deleted key's report commits now: it finds no slot, and k4 keeps its count.
        limits.committed_own_usage(1);
        assert_eq!(pending(&u, "k4").load(Ordering::Relaxed), 3);
        // k4's own committed usage does come off.
        let k4_tag = u.by_id("k4").unwrap().stages[0]
            .quota
            .as_ref()
            .unwrap()
            .tag();
        assert_ne!(k4_tag, k1_tag, "the same slot, a new generation");
        limits.proposing(
            0,
            2,
            &[UsageDelta {
                key_id: plan_usage_id("p1", "k4"),
                count: 2,
            }],
            &[Some(k4_tag)],
        );
        limits.committed_own_usage(2);
        assert_eq!(pending(&u, "k4").load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_own_report_writes_through_its_tags_then_takes_its_counts_off() {
        let mut r = registry();
        let limits = ClusterLimits::new(1);
        let t = compile_keys(&r, DAY, &limits);
        let q = |t: &KeyTable, k: &str| t.by_id(k).unwrap().stages[0].quota.as_ref().unwrap().tag();
        pending(&t, "k1").fetch_add(30, Ordering::Relaxed);
        pending(&t, "k2").fetch_add(9, Ordering::Relaxed);
        let rep = report(1, DAY, &plan_usage_id("p1", "k1"), 30);
        let Command::ReportLoad { deltas, seq, .. } = &rep else {
            unreachable!()
        };
        limits.proposing(0, *seq, deltas, &[Some(q(&t, "k1"))]);
        r.apply(&rep).unwrap();
        let own = limits.take_own(*seq).unwrap();
        assert!(limits.take_own(*seq).is_none(), "taken once");
        t.apply_usage(&r, deltas, Some(&own), &limits);
        assert_eq!(remaining(&t, "k1"), [70, 70]);
        assert_eq!(pending(&t, "k1").load(Ordering::Relaxed), 0);
        assert_eq!(remaining(&t, "k2"), [100, 100]);
        assert_eq!(pending(&t, "k2").load(Ordering::Relaxed), 9);
        // Another node's report of k2 is found by id, and takes nothing off here.
        let rep = report(2, DAY, &plan_usage_id("p1", "k2"), 4);
        r.apply(&rep).unwrap();
        let Command::ReportLoad { deltas, .. } = &rep else {
            unreachable!()
        };
        t.apply_usage(&r, deltas, None, &limits);
        assert_eq!(remaining(&t, "k2"), [96, 96]);
        assert_eq!(pending(&t, "k2").load(Ordering::Relaxed), 9);
    }

    #[test]
    fn a_report_whose_slot_went_stale_writes_the_quota_through_its_id() {
        let mut r = registry();
        let limits = ClusterLimits::new(1);
        let t = compile_keys(&r, DAY, &limits);
        let stale = t.by_id("k1").unwrap().stages[0]
            .quota
            .as_ref()
            .unwrap()
            .tag();
        // Counted under that tag, then every table naming the slot is gone and the slot swept:
        // the key's next table holds its quota in a slot of a new generation.
        let rep = report(1, DAY, &plan_usage_id("p1", "k1"), 30);
        let Command::ReportLoad { deltas, seq, .. } = &rep else {
            unreachable!()
        };
        limits.proposing(0, *seq, deltas, &[Some(stale)]);
        drop(t);
        limits.sweep();
        let t = compile_keys(&r, DAY, &limits);
        assert!(
            limits.with_slots(|s| s.by_tag(stale).is_none()),
            "the tag is stale"
        );
        r.apply(&rep).unwrap();
        let own = limits.take_own(*seq).unwrap();
        t.apply_usage(&r, deltas, Some(&own), &limits);
        assert_eq!(remaining(&t, "k1"), [70, 70], "written by the quota's id");
    }

    #[test]
    fn a_compile_from_a_copy_leaves_the_served_counts_to_the_refresh() {
        let mut r = registry();
        let limits = ClusterLimits::new(1);
        let served = compile_keys(&r, DAY, &limits);
        let copy = r.clone();
        r.apply(&report(1, DAY, &plan_usage_id("p1", "k1"), 30))
            .unwrap();
        served.refresh_all_quotas(&r);
        assert_eq!(remaining(&served, "k1"), [70, 70]);
        // The copy's older figure never reaches the slot the served table reads.
        let next = compile_keys_from_copy(&copy, DAY, &limits);
        assert_eq!(remaining(&served, "k1"), [70, 70]);
        next.refresh_all_quotas(&r);
        assert_eq!(remaining(&next, "k1"), [70, 70]);
    }

    #[test]
    fn keys_are_found_by_value_without_the_table_holding_values() {
        let r = registry();
        let limits = ClusterLimits::new(1);
        let t = compile_keys(&r, DAY, &limits);
        let k1 = t.get("value-of-k1-0123456789").unwrap();
        assert_eq!(&*k1.id, "k1");
        for wrong in ["value-of-k1-012345678", "value-of-k1-01234567890", "", "k1"] {
            assert!(t.get(wrong).is_none(), "{wrong}");
        }
        // An update keeps the hash key: old and new entries are found alike.
        let (u, _) = t.update(&r, ["k2"], None, &limits);
        assert_eq!(&*u.get("value-of-k2-0123456789").unwrap().id, "k2");
        assert!(std::ptr::eq(u.get("value-of-k1-0123456789").unwrap(), k1));
    }

    #[test]
    fn a_plan_change_re_derives_its_keys() {
        let mut r = registry();
        let limits = ClusterLimits::new(1);
        let t = compile_keys(&r, DAY, &limits);
        // What UpdateUsagePlan does (this registry holds no API to check the stages against).
        let plan = r.usage_plans.get_mut("p1").unwrap();
        plan.api_stages.truncate(1);
        if let Some(q) = plan.quota.as_mut() {
            q.limit = 500;
        }
        let (u, _) = t.update(&r, None, ["p1"], &limits);
        for k in ["k1", "k2"] {
            let value = format!("value-of-{k}-0123456789");
            let s = served(&u, &value).unwrap();
            assert_eq!(s.len(), 1, "{k}: one stage left");
            assert_eq!((s[0].1.as_str(), s[0].3), ("dev", Some(500)));
            // What the update serves is what a full compile would.
            assert_eq!(Some(s), served(&compile_keys(&r, DAY, &limits), &value));
        }
        // A key taken out of the plan is named by its command, and loses the plan's stages.
        r.apply(&Command::DeleteUsagePlanKey {
            plan_id: "p1".into(),
            key_id: "k2".into(),
        })
        .unwrap();
        let (u, _) = u.update(&r, ["k2"], None, &limits);
        assert_eq!(served(&u, "value-of-k2-0123456789"), Some(Vec::new()));
        assert_eq!(
            served(&u, "value-of-k1-0123456789").map(|s| s.len()),
            Some(1)
        );
    }

    #[test]
    fn many_updates_serve_what_one_compile_would() {
        let mut r = registry();
        let limits = ClusterLimits::new(1);
        let mut t = compile_keys(&r, DAY, &limits);
        // Grows well past the first shard count, then deletes every third key.
        for batch in 0..20 {
            let ids: Vec<String> = (0..50).map(|i| format!("b{batch}x{i}")).collect();
            let import = Command::ImportApiKeys {
                keys: ids.iter().map(|id| new_key(id)).collect(),
                plan_keys: ids
                    .iter()
                    .map(|id| ("p1".to_string(), id.clone()))
                    .collect(),
            };
            r.apply(&import).unwrap();
            t = t
                .update(&r, ids.iter().map(String::as_str), None, &limits)
                .0;
        }
        let gone: Vec<String> = r.api_keys.keys().step_by(3).cloned().collect();
        for id in &gone {
            r.apply(&Command::DeleteApiKey { id: id.clone() }).unwrap();
        }
        t = t
            .update(&r, gone.iter().map(String::as_str), None, &limits)
            .0;
        let full = compile_keys(&r, DAY, &limits);
        assert_eq!(t.len(), full.len());
        assert_eq!(t.by_value.len(), full.by_value.len());
        for k in r.api_keys.values() {
            assert_eq!(served(&t, &k.value), served(&full, &k.value), "{}", k.id);
        }
        for id in &gone {
            assert!(t.by_id(id).is_none(), "{id}");
        }
    }
}
