//! GetUsage and UpdateUsage, from the replicated usage ledger.
//!
//! GetUsage answers, per key of the plan, one `[used, remaining]` per day from `startDate` to
//! `endDate` (inclusive, UTC): `used` is that day's requests, `remaining` what was left of the
//! quota at the end of that day in the quota period containing it (DAY: the day; WEEK: the
//! week from Monday; MONTH: the calendar month), counting UpdateUsage grants. Without a quota
//! the entry is `[used]`. UpdateUsage (`replace /remaining`) sets what is left of the current
//! period.
//!
//! With the ledger split over several Raft groups (`cluster.ledger_groups`), a key's usage is
//! read from its own group ([`UsageSource`]); plans and grants always from the configuration
//! group.

use super::apikeys::no_key;
use super::usageplans::plan_in;
use super::{commit, read, Reply};
use crate::admin::error::ApiError;
use crate::admin::paging::{PageRequest, Query};
use crate::admin::patch::{self, Op};
use crate::admin::wire::plans::UsageOut;
use crate::admin::AdminState;
use crate::ids::now_epoch;
use std::collections::BTreeMap;
use std::sync::RwLockReadGuard;
use tollgate_consensus::raft::ledger::group_of;
use tollgate_proto::model::{civil_from_days, days_from_civil};
use tollgate_proto::{Command, Registry};

/// Where keys' usage is read: the configuration group's registry, or, with several ledger
/// groups, the group each key hashes to. Holds the ledger groups' registries (taken before the
/// configuration group's: the order their apply hooks take them in).
pub struct UsageSource<'a> {
    ledgers: Vec<RwLockReadGuard<'a, Registry>>,
}

/// The ledger groups (1 and up) of `state`'s node; none with a single ledger group.
pub fn ledger_groups(state: &AdminState) -> Vec<tollgate_consensus::RaftNode> {
    match state.node.raft() {
        Some(n) => n.groups().into_iter().skip(1).collect(),
        None => Vec::new(),
    }
}

impl<'a> UsageSource<'a> {
    /// Reads `groups` (from [`ledger_groups`]).
    pub fn new(groups: &'a [tollgate_consensus::RaftNode]) -> UsageSource<'a> {
        UsageSource {
            ledgers: groups.iter().map(|g| g.read()).collect(),
        }
    }

    /// The registry holding `key_id`'s usage, `config` being the configuration group's.
    fn for_key<'r>(&'r self, config: &'r Registry, key_id: &str) -> &'r Registry {
        let groups = u32::try_from(self.ledgers.len() + 1).unwrap_or(u32::MAX);
        match group_of(key_id, groups) {
            0 => config,
            g => self
                .ledgers
                .get(g as usize - 1)
                .map(|r| &**r)
                .unwrap_or(config),
        }
    }
}

/// Most days one GetUsage may span.
pub const MAX_USAGE_DAYS: i64 = 366;

/// Parses `YYYY-MM-DD` into a day number since the epoch.
pub fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.splitn(3, '-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let y: i64 = y.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    let d: u32 = d.parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let day = days_from_civil(y, m, d);
    // Refuse dates that do not exist (2023-02-30 would otherwise roll over).
    (civil_from_days(day) == (y, m, d)).then_some(day)
}

/// Formats a day number as `YYYY-MM-DD`.
pub fn format_date(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The daily `[used, remaining]` (or `[used]`) entries of `key_id` in `plan_id` over the
/// days `[start, end]`.
pub fn daily_usage(
    reg: &Registry,
    used_reg: &Registry,
    plan_id: &str,
    key_id: &str,
    start: i64,
    end: i64,
) -> Vec<Vec<i64>> {
    let used_on = |d: i64| {
        let n = used_reg.usage.used_in_plan(plan_id, key_id, d, d + 1);
        i64::try_from(n).unwrap_or(i64::MAX)
    };
    let quota = reg.usage_plans.get(plan_id).and_then(|p| p.quota.as_ref());
    (start..=end)
        .map(|d| {
            let used = used_on(d);
            let Some((q, (ps, _))) = quota.and_then(|q| Some((q, q.period_bounds(d)?))) else {
                return vec![used];
            };
            let grant = reg
                .usage
                .granted
                .get(&(plan_id.to_string(), key_id.to_string(), ps))
                .copied()
                .unwrap_or(0);
            let so_far = i64::try_from(used_reg.usage.used_in_plan(plan_id, key_id, ps, d + 1))
                .unwrap_or(i64::MAX);
            let remaining = reg
                .quota_limit(plan_id, q, ps)
                .saturating_add(grant)
                .saturating_sub(so_far)
                .max(0);
            vec![used, remaining]
        })
        .collect()
}

fn date_param(query: &Query, name: &str) -> Result<i64, ApiError> {
    let v = query.get(name).unwrap_or("");
    parse_date(v).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid {name} specified: '{v}'. Expected YYYY-MM-DD"
        ))
    })
}

/// The usage of some keys of a plan over `[start, end]`, paged over key ids.
fn usage_out(
    reg: &Registry,
    usage: &UsageSource,
    plan_id: &str,
    only_key: Option<&str>,
    start: i64,
    end: i64,
    page: &PageRequest,
) -> Result<UsageOut, ApiError> {
    let plan = plan_in(reg, plan_id)?;
    if let Some(k) = only_key {
        if !plan.key_ids.contains(k) {
            return Err(no_key(k));
        }
    }
    let keys: Box<dyn Iterator<Item = &String>> = match only_key {
        Some(k) => Box::new(
            plan.key_ids
                .get(k)
                .into_iter()
                .filter(|k| page.position.as_deref().is_none_or(|p| k.as_str() >= p)),
        ),
        None => Box::new(plan.key_ids.range::<str, _>(page.start())),
    };
    let (values, position) = page.take(keys.map(|k| {
        let used_reg = usage.for_key(reg, k);
        (
            k,
            (
                k.clone(),
                daily_usage(reg, used_reg, plan_id, k, start, end),
            ),
        )
    }));
    Ok(UsageOut {
        usage_plan_id: plan_id.to_string(),
        start_date: format_date(start),
        end_date: format_date(end),
        values: values.into_iter().collect::<BTreeMap<_, _>>(),
        position,
    })
}

/// GetUsage: `startDate`, `endDate` (required, `YYYY-MM-DD`), optional `keyId`, paging.
pub fn get(state: &AdminState, plan: &str, query: &Query) -> Result<Reply, ApiError> {
    let start = date_param(query, "startDate")?;
    let end = date_param(query, "endDate")?;
    if end < start {
        return Err(ApiError::bad_request(
            "The end date must not be before the start date",
        ));
    }
    if end - start >= MAX_USAGE_DAYS {
        return Err(ApiError::bad_request(format!(
            "The date range must not exceed {MAX_USAGE_DAYS} days"
        )));
    }
    let page = PageRequest::from_query(query)?;
    let key = query.get("keyId").filter(|k| !k.is_empty());
    let groups = ledger_groups(state);
    let usage = UsageSource::new(&groups);
    let out = read(state, |reg| {
        usage_out(reg, &usage, plan, key, start, end, &page)
    })?;
    Reply::json(200, &out)
}

/// UpdateUsage: `replace /remaining` with the requests left in the current quota period;
/// answers with today's usage of the key.
pub async fn update(
    state: &AdminState,
    plan: &str,
    key: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut remaining = None;
    for p in &ops {
        match (p.op, p.path.as_str()) {
            (Op::Replace, "/remaining") => remaining = Some(p.int_value(0, i64::MAX)?),
            _ => return Err(p.invalid_path()),
        }
    }
    let remaining = remaining.ok_or_else(|| {
        ApiError::bad_request("UpdateUsage needs a 'replace' operation on '/remaining'")
    })?;
    let now = now_epoch();
    let groups = ledger_groups(state);
    // The configuration group computes the grant from the usage it holds (`remaining + used -
    // limit`); a key whose usage lives in another ledger group has none there, so its usage in
    // the current period is added here (requests counted between this read and the command's
    // apply are not: the same window a grant has against usage reports in flight).
    let remaining = match used_elsewhere(state, &groups, plan, key, now) {
        Some(used) => remaining.saturating_add(used),
        None => remaining,
    };
    commit(
        state,
        Command::UpdateUsage {
            plan_id: plan.to_string(),
            key_id: key.to_string(),
            at: now,
            remaining,
        },
    )
    .await?;
    let today = now.div_euclid(86_400);
    let page = PageRequest {
        limit: 1,
        position: None,
    };
    let usage = UsageSource::new(&groups);
    let out = read(state, |reg| {
        usage_out(reg, &usage, plan, Some(key), today, today, &page)
    })?;
    Reply::json(200, &out)
}

/// `key_id`'s usage in `plan_id`'s current quota period (at `now`) when it is held by a ledger
/// group other than the configuration group; `None` when the configuration group holds it (or
/// the plan has no quota: the command is refused by the state machine then).
fn used_elsewhere(
    state: &AdminState,
    groups: &[tollgate_consensus::RaftNode],
    plan_id: &str,
    key_id: &str,
    now: i64,
) -> Option<i64> {
    let usage = UsageSource::new(groups);
    read(state, |reg| {
        let used_reg = usage.for_key(reg, key_id);
        if std::ptr::eq(used_reg, reg) {
            return Ok(None);
        }
        let quota = reg.usage_plans.get(plan_id).and_then(|p| p.quota.as_ref());
        let Some((start, end)) = quota.and_then(|q| q.period_bounds(now.div_euclid(86_400))) else {
            return Ok(None);
        };
        let used = used_reg.usage.used_in_plan(plan_id, key_id, start, end);
        Ok(Some(i64::try_from(used).unwrap_or(i64::MAX)))
    })
    .unwrap_or(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_proto::model::{ApiKey, QuotaSettings, UsagePlan};
    use tollgate_proto::UsageDelta;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(format_date(19_782), "2024-02-29");
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "24-01-01",
            "2024-01-00",
            "x",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    fn registry(period: Option<&str>) -> Registry {
        let mut r = Registry::default();
        r.apply(&Command::CreateApiKey {
            key: ApiKey {
                id: "k1".into(),
                value: "v".repeat(20),
                ..Default::default()
            },
        })
        .unwrap();
        r.apply(&Command::CreateUsagePlan {
            plan: UsagePlan {
                id: "p1".into(),
                name: "p".into(),
                quota: period.map(|p| QuotaSettings {
                    limit: 100,
                    offset: 0,
                    period: tollgate_proto::model::OrUnknown::from_name(p),
                }),
                ..Default::default()
            },
        })
        .unwrap();
        r.apply(&Command::CreateUsagePlanKey {
            plan_id: "p1".into(),
            key_id: "k1".into(),
        })
        .unwrap();
        r
    }

    fn report(r: &mut Registry, seq: u64, date: &str, count: u64) {
        let day = parse_date(date).unwrap();
        r.apply(&Command::ReportUsage {
            node_id: 1,
            seq,
            at: day * 86_400 + 100,
            deltas: vec![UsageDelta {
                key_id: "k1".into(),
                count,
            }],
        })
        .unwrap();
    }

    fn usage(r: &Registry, from: &str, to: &str) -> Vec<Vec<i64>> {
        daily_usage(
            r,
            r,
            "p1",
            "k1",
            parse_date(from).unwrap(),
            parse_date(to).unwrap(),
        )
    }

    #[test]
    fn weeks_start_on_monday() {
        let mut r = registry(Some("WEEK"));
        // 2024-03-03 is a Sunday, 2024-03-04 a Monday.
        report(&mut r, 1, "2024-03-02", 10);
        report(&mut r, 2, "2024-03-03", 5);
        report(&mut r, 3, "2024-03-04", 7);
        assert_eq!(
            usage(&r, "2024-03-02", "2024-03-05"),
            vec![vec![10, 90], vec![5, 85], vec![7, 93], vec![0, 93]]
        );
    }

    #[test]
    fn months_and_days_and_grants() {
        let mut r = registry(Some("MONTH"));
        report(&mut r, 1, "2024-01-31", 40);
        report(&mut r, 2, "2024-02-01", 30);
        report(&mut r, 3, "2024-02-29", 30);
        assert_eq!(
            usage(&r, "2024-01-31", "2024-03-01"),
            [
                vec![vec![40, 60], vec![30, 70]],
                vec![vec![0, 70]; 27],
                vec![vec![30, 40], vec![0, 100]]
            ]
            .concat()
        );
        // A grant for February raises what is left there only.
        r.apply(&Command::UpdateUsage {
            plan_id: "p1".into(),
            key_id: "k1".into(),
            at: parse_date("2024-02-29").unwrap() * 86_400,
            remaining: 500,
        })
        .unwrap();
        assert_eq!(
            usage(&r, "2024-02-29", "2024-03-01"),
            vec![vec![30, 500], vec![0, 100]]
        );
        assert_eq!(usage(&r, "2024-01-31", "2024-01-31"), vec![vec![40, 60]]);
        let mut daily = registry(Some("DAY"));
        report(&mut daily, 1, "2024-05-05", 120);
        assert_eq!(
            usage(&daily, "2024-05-05", "2024-05-06"),
            vec![vec![120, 0], vec![0, 100]]
        );
        let none = registry(None);
        assert_eq!(
            usage(&none, "2024-05-05", "2024-05-06"),
            vec![vec![0], vec![0]]
        );
    }

    #[test]
    fn usage_shape_and_key_filter() {
        let r = registry(Some("DAY"));
        let page = PageRequest {
            limit: 25,
            position: None,
        };
        let out = usage_out(&r, &UsageSource::new(&[]), "p1", None, 10, 11, &page).unwrap();
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            serde_json::json!({
                "usagePlanId": "p1", "startDate": "1970-01-11", "endDate": "1970-01-12",
                "values": {"k1": [[0, 100], [0, 100]]}
            })
        );
        assert_eq!(
            usage_out(&r, &UsageSource::new(&[]), "p1", Some("zz"), 10, 11, &page)
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(
            usage_out(&r, &UsageSource::new(&[]), "p9", None, 10, 11, &page)
                .unwrap_err()
                .status,
            404
        );
    }
}
