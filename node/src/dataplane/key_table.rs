//! The compiled API-key table: what each key's usage plans allow it, and what its quotas have
//! left.
//!
//! The table is compiled when keys, plans or quota grants change (and on a new UTC day). Usage
//! reports, which arrive several times a second per node and only change what quotas have
//! left, never recompile it: each (plan, key) quota holds its remaining count in one shared
//! atomic cell, and [`KeyTable::refresh_quotas`] rewrites only the cells a report names, from
//! the ledger. The cost of a report is thus its number of usage entries, whatever the number
//! of keys.

use super::cluster_limits::{ClusterLimits, LimitState, SPLIT_BY_DEMAND};
use super::routing::{fnv64, ThrottleSpec};
use compact_str::CompactString;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use tollgate_proto::{Registry, UsageDelta};

/// API keys by value, with what their usage plans allow them.
#[derive(Debug, Default)]
pub struct KeyTable {
    /// Keys by their value (the `x-api-key` header).
    pub by_value: HashMap<Box<str>, KeyEntry>,
    /// The UTC day number the quotas are counted for (the day the table was compiled on).
    pub day: i64,
    /// The remaining-count cells of every quota, by the ledger ids usage reports count them
    /// under.
    quotas: QuotaIndex,
}

/// The remaining-count cells of every (plan, key) quota, found by the ledger id a usage report
/// counts under: the plan usage id (`{plan}:{key}`, one cell) or the bare key id (reports of
/// builds that counted usage per key, which count in every plan of the key).
///
/// A report's cost is one lookup per usage entry, so the lookups are kept to one cache line
/// each, whatever the number of keys: ids are held inline in the maps (generated ids are
/// short), a cell is a plan number and its count, and the plan and key ids a refresh reads
/// the ledger with come from the report's own id, not from the table.
#[derive(Debug, Default)]
struct QuotaIndex {
    /// The plans the cells belong to (a handful).
    plans: Vec<Arc<str>>,
    /// One cell per (plan, key) quota.
    cells: Vec<QuotaCell>,
    /// Plan usage id → its cell. A bare key id is looked up as the usage id of each plan
    /// (there are a handful), not through a second map per key.
    by_usage: HashMap<CompactString, u32>,
}

/// One (plan, key) quota's remaining count.
#[derive(Debug)]
struct QuotaCell {
    /// Index in [`QuotaIndex::plans`].
    plan: u32,
    remaining: Arc<AtomicI64>,
}

impl QuotaIndex {
    /// An index with room for `keys` keys of one quota each (the common shape: keys in one
    /// plan), so that a large table is not rehashed as it is built.
    fn with_capacity(keys: usize) -> QuotaIndex {
        QuotaIndex {
            plans: Vec::new(),
            cells: Vec::with_capacity(keys),
            by_usage: HashMap::with_capacity(keys),
        }
    }

    /// Adds `key_id`'s cells, one per `(plan number, usage id, remaining count)`.
    fn add_key(&mut self, cells: &[(u32, Arc<str>, Arc<AtomicI64>)]) {
        for (plan, usage_id, remaining) in cells {
            self.by_usage
                .insert((**usage_id).into(), index(self.cells.len()));
            self.cells.push(QuotaCell {
                plan: *plan,
                remaining: remaining.clone(),
            });
        }
    }

    /// The plan number of `plan_id`, added when new.
    fn plan(&mut self, plan_id: &str) -> u32 {
        match self.plans.iter().position(|p| &**p == plan_id) {
            Some(i) => index(i),
            None => {
                self.plans.push(plan_id.into());
                index(self.plans.len() - 1)
            }
        }
    }

    /// Rewrites from `reg` the cells usage under `ledger_id` counts in.
    fn refresh(&self, reg: &Registry, ledger_id: &str, day: i64) {
        if let Some(&i) = self.by_usage.get(ledger_id) {
            // A plan usage id is `{plan}:{key}` (ids never hold a `:`).
            if let Some((_, key_id)) = ledger_id.split_once(':') {
                self.write(reg, &self.cells[i as usize], key_id, day);
            }
        } else if !ledger_id.contains(':') {
            // A bare key id counts in every plan of the key.
            let mut usage_id = CompactString::default();
            for plan in &self.plans {
                usage_id.clear();
                usage_id.push_str(plan);
                usage_id.push(':');
                usage_id.push_str(ledger_id);
                if let Some(&i) = self.by_usage.get(&usage_id) {
                    self.write(reg, &self.cells[i as usize], ledger_id, day);
                }
            }
        }
    }

    fn refresh_all(&self, reg: &Registry, day: i64) {
        for (usage_id, &i) in &self.by_usage {
            if let Some((_, key_id)) = usage_id.split_once(':') {
                self.write(reg, &self.cells[i as usize], key_id, day);
            }
        }
    }

    fn write(&self, reg: &Registry, c: &QuotaCell, key_id: &str, day: i64) {
        // A quota gone from the registry comes with a plan change, which recompiles the
        // table; until then nothing is left of it.
        let left = reg
            .remaining_quota(&self.plans[c.plan as usize], key_id, day)
            .unwrap_or(0);
        c.remaining.store(left, Ordering::Release);
    }
}

/// `i` as a cell or plan number: a table holds far fewer than 2³² of either (each key costs
/// its value in memory), so the cast saturates only on a table that could not be built.
fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// One API key.
#[derive(Debug)]
pub struct KeyEntry {
    /// The key's id.
    pub id: Arc<str>,
    /// Disabled keys are refused.
    pub enabled: bool,
    /// The plan stages the key may call (exactly sized: a `Vec` grown by pushes would hold
    /// room for four stages per key).
    pub stages: Box<[KeyStage]>,
}

/// What a key's usage plan allows on one API stage.
#[derive(Debug)]
pub struct KeyStage {
    /// What the key's requests through this plan are counted under
    /// ([`tollgate_proto::plan_usage_id`]).
    pub usage_id: Arc<str>,
    /// When the plan has a quota: the node's count of the key's requests through the plan
    /// not yet committed to the usage ledger (shared by the workers and kept across tables).
    pub quota_pending: Option<Arc<AtomicU64>>,
    /// The API (one string shared by every key of the plan).
    pub api_id: Arc<str>,
    /// The stage (one string shared by every key of the plan).
    pub stage: Arc<str>,
    /// Per-method limits (`/pets/GET` → limit), checked first.
    pub method_throttles: Vec<(Box<str>, ThrottleSpec)>,
    /// The plan's per-key limit.
    pub throttle: Option<ThrottleSpec>,
    /// The plan's quota, if it has one.
    pub quota: Option<QuotaSpec>,
    /// The plan's metric series (its throttle and quota refusals).
    pub plan_series: Option<u32>,
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
    /// Requests the usage ledger has left in the quota period, as of the last usage applied
    /// (shared by every stage of the plan, and rewritten in place as usage commits).
    remaining: Arc<AtomicI64>,
    /// This node's share of the quota (its demand exchange is unused: quotas are node-wide).
    pub state: Arc<LimitState>,
}

impl QuotaSpec {
    /// Requests the ledger has left in the quota period.
    pub fn remaining(&self) -> i64 {
        // Acquire pairs with the Release store of `refresh_quotas`: it runs before this node's
        // pending counts are lowered by the same report, so a worker that sees the lower
        // pending count also sees the lower remaining count.
        self.remaining.load(Ordering::Acquire)
    }

    /// How many uncommitted requests of the key this node may have admitted.
    pub fn allowance(&self) -> f64 {
        self.remaining() as f64 * self.state.node_share()
    }
}

impl KeyTable {
    /// Rewrites the remaining count of every quota `deltas` add usage to, from `reg` (the
    /// registry with those deltas applied). Touches nothing else: the table stays the one the
    /// workers hold. The day is the table's own (a new day recompiles the table).
    pub fn refresh_quotas(&self, reg: &Registry, deltas: &[UsageDelta]) {
        for d in deltas {
            self.quotas.refresh(reg, &d.key_id, self.day);
        }
    }

    /// Rewrites every quota's remaining count from `reg` (a table compiled from an older copy
    /// of the registry, brought up to the ledger before it is published).
    pub fn refresh_all_quotas(&self, reg: &Registry) {
        self.quotas.refresh_all(reg, self.day);
    }
}

/// A plan stage's API id and stage name, shared by the stages of the plan's keys.
type StageNames = (Arc<str>, Arc<str>);

/// Builds the key table from the registry; `day` is today's UTC day number (for quotas).
pub fn compile_keys(reg: &Registry, day: i64, limits: &ClusterLimits) -> KeyTable {
    let mut by_value = HashMap::with_capacity(reg.api_keys.len());
    let quota_keys = reg
        .usage_plans
        .values()
        .filter(|p| p.quota.is_some())
        .map(|p| p.key_ids.len())
        .max()
        .unwrap_or(0);
    let mut quotas = QuotaIndex::with_capacity(quota_keys);
    // Each plan stage's API and stage names, shared by the plan's keys (not copied per key).
    let stage_names: HashMap<(&str, &str), StageNames> = reg
        .usage_plans
        .values()
        .flat_map(|p| &p.api_stages)
        .map(|s| {
            let names = (s.api_id.as_str().into(), s.stage.as_str().into());
            ((s.api_id.as_str(), s.stage.as_str()), names)
        })
        .collect();
    // Each plan's metric series, looked up once per compile (not once per key).
    let plan_series: HashMap<&str, Option<u32>> = reg
        .usage_plans
        .values()
        .map(|p| {
            let labels = super::api_metrics::Labels::Plan {
                plan: p.id.as_str().into(),
            };
            (p.id.as_str(), super::api_metrics::series().id(labels))
        })
        .collect();
    for key in reg.api_keys.values() {
        let key_id: Arc<str> = key.id.as_str().into();
        let mut stages = Vec::new();
        let mut cells = Vec::new();
        for plan in reg
            .usage_plans
            .values()
            .filter(|p| p.key_ids.contains(&key.id))
        {
            let usage_id: Arc<str> = tollgate_proto::plan_usage_id(&plan.id, &key.id).into();
            let quota_pending = plan
                .quota
                .is_some()
                .then(|| limits.quota_pending(&usage_id));
            let remaining = reg.remaining_quota(&plan.id, &key.id, day).map(|left| {
                let remaining = Arc::new(AtomicI64::new(left));
                cells.push((quotas.plan(&plan.id), usage_id.clone(), remaining.clone()));
                remaining
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
                let (api_id, stage) = match stage_names.get(&(s.api_id.as_str(), s.stage.as_str()))
                {
                    Some((a, st)) => (a.clone(), st.clone()),
                    None => (s.api_id.as_str().into(), s.stage.as_str().into()),
                };
                stages.push(KeyStage {
                    usage_id: usage_id.clone(),
                    quota_pending: quota_pending.clone(),
                    api_id,
                    stage,
                    method_throttles: s
                        .throttle
                        .iter()
                        .map(|(m, t)| {
                            (
                                m.as_str().into(),
                                spec(&format!("{}:{}{m}", s.api_id, s.stage), t),
                            )
                        })
                        .collect(),
                    throttle: plan.throttle.as_ref().map(|t| spec("*", t)),
                    quota: remaining.as_ref().map(|remaining| {
                        let id = fnv64(&[plan.id.as_bytes(), key.id.as_bytes(), b"quota"]);
                        QuotaSpec {
                            id,
                            remaining: remaining.clone(),
                            state: limits.limit(id, SPLIT_BY_DEMAND),
                        }
                    }),
                    plan_series: plan_series.get(plan.id.as_str()).copied().flatten(),
                });
            }
        }
        quotas.add_key(&cells);
        by_value.insert(
            key.value.as_str().into(),
            KeyEntry {
                id: key_id,
                enabled: key.enabled,
                stages: stages.into_boxed_slice(),
            },
        );
    }
    KeyTable {
        by_value,
        day,
        quotas,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;
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
        t.by_value[format!("value-of-{key}-0123456789").as_str()]
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
        t.refresh_quotas(&r, deltas);
        // Both stages of the plan share the one count; the other key is untouched.
        assert_eq!(remaining(&t, "k1"), [70, 70]);
        assert_eq!(remaining(&t, "k2"), [100, 100]);
        // Usage an older build reported under the bare key id counts too.
        let rep = report(2, DAY, "k2", 5);
        r.apply(&rep).unwrap();
        let Command::ReportLoad { deltas, .. } = &rep else {
            unreachable!()
        };
        t.refresh_quotas(&r, deltas);
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
        t.refresh_quotas(&r, deltas);
        assert_eq!(remaining(&t, "k1"), [100, 100]);
    }
}
