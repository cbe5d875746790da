//! The state machine's rules for API keys, usage plans, usage plan keys and quota grants.
//!
//! Rules (with AWS's error kinds):
//! - a key's value is 20 to 128 characters (bad request) and unlike every other key's
//!   (conflict);
//! - a plan's API stages must exist (API: not found; stage: bad request), appear once, and
//!   name per-method throttles as `{resourcePath}/{METHOD}`; limits are not negative and a quota
//!   period is `DAY`, `WEEK` or `MONTH` (bad request);
//! - a key is in at most one plan per API stage (conflict), checked both when a key joins a
//!   plan and when a plan gains stages;
//! - deleting a key unsubscribes it everywhere; deleting a plan drops its grants.

use super::{ApiKeys, Registry};
use crate::command::{ApplyError, ApplyResult, Command};
use crate::model::{
    ApiKey, QuotaSettings, ThrottleSettings, UsagePlan, MAX_API_KEY_LENGTH, MIN_API_KEY_LENGTH,
};
use std::collections::HashSet;
use std::sync::Arc;

const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY", "*",
];

fn key_not_found(id: &str) -> ApplyError {
    ApplyError::NotFound(format!("Invalid API Key identifier specified: {id}"))
}

fn plan_not_found(id: &str) -> ApplyError {
    ApplyError::NotFound(format!("Invalid Usage Plan ID specified: {id}"))
}

fn bad(msg: impl Into<String>) -> ApplyError {
    ApplyError::BadRequest(msg.into())
}

/// Checks a key on its own and against the other keys of `keys`.
fn check_key(keys: &ApiKeys, key: &ApiKey) -> ApplyResult {
    // AWS's recorded wording (localstack's AWS recordings, `test_apigateway_extended`
    // `test_create_api_key_with_invalid_value`: "create-api-key-short-value",
    // "create-api-key-invalid-value-too-long").
    let n = key.value.chars().count();
    if n < MIN_API_KEY_LENGTH {
        return Err(bad(format!(
            "API Key value should be at least {MIN_API_KEY_LENGTH} characters"
        )));
    }
    if n > MAX_API_KEY_LENGTH {
        return Err(bad(format!(
            "API Key value exceeds maximum size of {MAX_API_KEY_LENGTH} characters"
        )));
    }
    if key.value.chars().any(|c| c.is_control()) {
        return Err(bad("API Key value must not contain control characters"));
    }
    if key.id.is_empty() {
        return Err(bad("API Key identifier must not be empty"));
    }
    if keys.id_by_value(&key.value).is_some_and(|id| id != key.id) {
        return Err(ApplyError::Conflict("API Key already exists".into()));
    }
    Ok(())
}

fn check_throttle(t: &ThrottleSettings, what: &str) -> ApplyResult {
    if t.burst_limit < 0 || !t.rate_limit.is_finite() || t.rate_limit < 0.0 {
        return Err(bad(format!(
            "Invalid throttle settings for {what}: burstLimit and rateLimit must not be negative"
        )));
    }
    Ok(())
}

/// A per-method throttle key: `{resourcePath}/{METHOD}` with the path starting at `/`.
fn check_method_key(k: &str) -> ApplyResult {
    let ok = k.rsplit_once('/').is_some_and(|(path, method)| {
        path.starts_with('/') && METHODS.contains(&method) && !path.contains(char::is_whitespace)
    });
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "Invalid method throttle key '{k}': expected {{resourcePath}}/{{httpMethod}}, e.g. /pets/GET"
        )))
    }
}

impl Registry {
    fn check_plan(&self, plan: &UsagePlan) -> ApplyResult {
        if plan.id.is_empty() {
            return Err(bad("Usage plan identifier must not be empty"));
        }
        if plan.name.trim().is_empty() {
            return Err(bad("Usage plan name must not be blank"));
        }
        if let Some(t) = &plan.throttle {
            check_throttle(t, "the usage plan")?;
        }
        if let Some(q) = &plan.quota {
            if q.limit < 0 || q.offset < 0 {
                return Err(bad("Quota limit and offset must not be negative"));
            }
            if q.offset > q.limit {
                return Err(bad("Quota offset must not exceed the quota limit"));
            }
            if q.period.known().is_none() {
                return Err(bad(format!(
                    "Invalid quota period specified: {}. Must be one of: DAY, WEEK, MONTH",
                    q.period
                )));
            }
        }
        for (i, s) in plan.api_stages.iter().enumerate() {
            let api = self.api(&s.api_id)?;
            if !api.stages.contains_key(&s.stage) {
                return Err(bad(format!(
                    "Invalid stage identifier specified: {}:{}",
                    s.api_id, s.stage
                )));
            }
            if plan.api_stages[..i]
                .iter()
                .any(|o| o.api_id == s.api_id && o.stage == s.stage)
            {
                return Err(bad(format!(
                    "Duplicate API stage in usage plan: {}:{}",
                    s.api_id, s.stage
                )));
            }
            for (k, t) in &s.throttle {
                check_method_key(k)?;
                check_throttle(t, k)?;
            }
        }
        Ok(())
    }

    /// Refuses when `key_id` is in a plan other than `plan` that covers one of `plan`'s stages.
    fn check_key_stages(&self, plan: &UsagePlan, key_id: &str) -> ApplyResult {
        for other in self.usage_plans.values() {
            if other.id == plan.id || !other.key_ids.contains(key_id) {
                continue;
            }
            if let Some(s) = plan
                .api_stages
                .iter()
                .find(|s| other.covers(&s.api_id, &s.stage))
            {
                return Err(ApplyError::Conflict(format!(
                    "API Key {key_id} is already associated with usage plan {} for API stage {}:{}",
                    other.id, s.api_id, s.stage
                )));
            }
        }
        Ok(())
    }

    fn subscribe(&mut self, plan_id: &str, key_id: &str) -> ApplyResult {
        if !self.api_keys.contains_key(key_id) {
            return Err(key_not_found(key_id));
        }
        let plan = self
            .usage_plans
            .get(plan_id)
            .ok_or_else(|| plan_not_found(plan_id))?;
        if plan.key_ids.contains(key_id) {
            return Err(ApplyError::Conflict(format!(
                "API Key {key_id} is already in usage plan {plan_id}"
            )));
        }
        self.check_key_stages(plan, key_id)?;
        if let Some(p) = self.usage_plans.get_mut(plan_id) {
            p.key_ids.insert(key_id.to_string());
        }
        Ok(())
    }

    fn import_keys(&mut self, keys: &[ApiKey], plan_keys: &[(String, String)]) -> ApplyResult {
        // Applied in place with an undo log, so that a refusal half-way leaves nothing changed
        // and an import costs its own rows, not a copy of every key already held (which made
        // importing a million keys in batches quadratic).
        let mut replaced: Vec<(&str, Option<Arc<ApiKey>>)> = Vec::with_capacity(keys.len());
        let mut subscribed: Vec<(&str, &str)> = Vec::new();
        let res = self.import_in_place(keys, plan_keys, &mut replaced, &mut subscribed);
        if res.is_err() {
            for (plan_id, key_id) in subscribed.into_iter().rev() {
                if let Some(p) = self.usage_plans.get_mut(plan_id) {
                    p.key_ids.remove(key_id);
                }
            }
            for (id, old) in replaced.into_iter().rev() {
                match old {
                    Some(old) => {
                        self.api_keys.insert(old);
                    }
                    None => {
                        self.api_keys.remove(id);
                    }
                }
            }
        }
        res
    }

    /// The steps of [`Registry::import_keys`], recording in `replaced` and `subscribed` what
    /// to undo.
    fn import_in_place<'c>(
        &mut self,
        keys: &'c [ApiKey],
        plan_keys: &'c [(String, String)],
        replaced: &mut Vec<(&'c str, Option<Arc<ApiKey>>)>,
        subscribed: &mut Vec<(&'c str, &'c str)>,
    ) -> ApplyResult {
        for key in keys {
            check_key(&self.api_keys, key)?;
            replaced.push((&key.id, self.api_keys.insert(key.clone())));
        }
        // With one plan, each row walks the plan's ordered set of key ids once (an insert
        // that says whether the id was new), not three times as `subscribe` does: with a
        // million keys every walk is a chain of cache misses. With several plans, the other
        // plans' sets are walked too (`check_key_stages`). The rows' own keys are known to
        // exist without a walk of the keys by id.
        let imported: HashSet<&str> = keys.iter().map(|k| k.id.as_str()).collect();
        for (plan_id, key_id) in plan_keys {
            if !imported.contains(key_id.as_str()) && !self.api_keys.contains_key(key_id) {
                return Err(key_not_found(key_id));
            }
            let plan = self
                .usage_plans
                .get(plan_id)
                .ok_or_else(|| plan_not_found(plan_id))?;
            if self.usage_plans.len() > 1 && !plan.key_ids.contains(key_id) {
                self.check_key_stages(plan, key_id)?;
            }
            let added = self
                .usage_plans
                .get_mut(plan_id)
                .is_some_and(|p| p.key_ids.insert(key_id.clone()));
            if added {
                subscribed.push((plan_id, key_id));
            }
        }
        Ok(())
    }

    /// Applies a key, plan or quota command (see [`Command::affects_keys`]).
    pub(super) fn apply_key_command(&mut self, cmd: &Command) -> ApplyResult {
        match cmd {
            Command::CreateApiKey { key } => {
                if self.api_keys.contains_key(&key.id) {
                    return Err(ApplyError::Conflict(format!(
                        "API Key {} already exists",
                        key.id
                    )));
                }
                check_key(&self.api_keys, key)?;
                self.api_keys.insert(key.clone());
            }
            Command::UpdateApiKey { key } => {
                if !self.api_keys.contains_key(&key.id) {
                    return Err(key_not_found(&key.id));
                }
                check_key(&self.api_keys, key)?;
                self.api_keys.insert(key.clone());
            }
            Command::DeleteApiKey { id } => {
                self.api_keys.remove(id).ok_or_else(|| key_not_found(id))?;
                for p in self.usage_plans.values_mut() {
                    p.key_ids.remove(id);
                }
                self.usage.granted.retain(|(_, k, _), _| k != id);
            }
            Command::ImportApiKeys { keys, plan_keys } => self.import_keys(keys, plan_keys)?,
            Command::CreateUsagePlan { plan } => {
                if self.usage_plans.contains_key(&plan.id) {
                    return Err(ApplyError::Conflict(format!(
                        "Usage plan {} already exists",
                        plan.id
                    )));
                }
                if !plan.key_ids.is_empty() {
                    return Err(bad("A new usage plan has no keys"));
                }
                self.check_plan(plan)?;
                self.usage_plans.insert(plan.id.clone(), plan.clone());
            }
            Command::UpdateUsagePlan { plan } => {
                let old = self
                    .usage_plans
                    .get(&plan.id)
                    .ok_or_else(|| plan_not_found(&plan.id))?;
                let mut plan = plan.clone();
                plan.key_ids = old.key_ids.clone();
                self.check_plan(&plan)?;
                for key_id in &plan.key_ids {
                    self.check_key_stages(&plan, key_id)?;
                }
                self.usage_plans.insert(plan.id.clone(), plan);
            }
            Command::DeleteUsagePlan { id, referential } => {
                let plan = self.usage_plans.get(id).ok_or_else(|| plan_not_found(id))?;
                if let (true, Some(s)) = (*referential, plan.api_stages.first()) {
                    // AWS's words.
                    return Err(bad(format!(
                        "Cannot delete Usage Plan {id} because there are API Stages associated with it, including {}:{}",
                        s.api_id, s.stage
                    )));
                }
                self.usage_plans.remove(id);
                self.usage.granted.retain(|(p, _, _), _| p != id);
            }
            Command::CreateUsagePlanKey { plan_id, key_id } => self.subscribe(plan_id, key_id)?,
            Command::DeleteUsagePlanKey { plan_id, key_id } => {
                let plan = self
                    .usage_plans
                    .get_mut(plan_id)
                    .ok_or_else(|| plan_not_found(plan_id))?;
                if !plan.key_ids.remove(key_id) {
                    return Err(key_not_found(key_id));
                }
                self.usage
                    .granted
                    .retain(|(p, k, _), _| !(p == plan_id && k == key_id));
            }
            Command::UpdateUsage {
                plan_id,
                key_id,
                at,
                remaining,
            } => {
                let plan = self
                    .usage_plans
                    .get(plan_id)
                    .ok_or_else(|| plan_not_found(plan_id))?;
                if !plan.key_ids.contains(key_id) {
                    return Err(key_not_found(key_id));
                }
                if *remaining < 0 {
                    return Err(bad("The remaining quota must not be negative"));
                }
                let quota = plan
                    .quota
                    .as_ref()
                    .ok_or_else(|| bad(format!("Usage plan {plan_id} has no quota")))?;
                let (start, end) = quota
                    .period_bounds(at.div_euclid(86_400))
                    .ok_or_else(|| bad("Invalid quota period"))?;
                let used = self.usage.used_in_plan(plan_id, key_id, start, end);
                let used = i64::try_from(used).unwrap_or(i64::MAX);
                // remaining = limit + grant - used  ⇒  grant = remaining + used - limit.
                let limit = self.quota_limit(plan_id, quota, start);
                let grant = remaining.saturating_add(used).saturating_sub(limit);
                self.usage
                    .granted
                    .insert((plan_id.clone(), key_id.clone(), start), grant);
            }
            _ => return Err(bad("not a key or usage plan command")),
        }
        Ok(())
    }

    /// What is left of `key_id`'s quota in `plan_id` on `day` (UTC day number): the plan's
    /// limit plus any UpdateUsage grant for that period, less the key's requests in the quota
    /// period containing `day` (never below 0). `None` when the plan does not exist or has no
    /// quota. (Usage is counted per key, over every plan and stage it is used with.) A quota
    /// whose period is not one of the set (never applied: the plan commands refuse it) has
    /// nothing left: fail closed.
    pub fn remaining_quota(&self, plan_id: &str, key_id: &str, day: i64) -> Option<i64> {
        let q = self.usage_plans.get(plan_id)?.quota.as_ref()?;
        let Some((start, end)) = q.period_bounds(day) else {
            return Some(0);
        };
        let limit = self.quota_limit(plan_id, q, start);
        let grant = self
            .usage
            .granted
            .get(&(plan_id.to_string(), key_id.to_string(), start))
            .copied()
            .unwrap_or(0);
        let used =
            i64::try_from(self.usage.used_in_plan(plan_id, key_id, start, end)).unwrap_or(i64::MAX);
        Some(limit.saturating_add(grant).saturating_sub(used).max(0))
    }

    /// The limit of `plan_id`'s quota `q` in the period that starts on day `period_start`:
    /// `limit − offset` in the plan's initial period ([`Registry::quota_starts`]), `limit`
    /// in every other.
    pub fn quota_limit(&self, plan_id: &str, q: &QuotaSettings, period_start: i64) -> i64 {
        let initial = self
            .quota_starts
            .get(plan_id)
            .and_then(|d| q.period_bounds(*d))
            .is_some_and(|(s, _)| s == period_start);
        if initial {
            q.limit.saturating_sub(q.offset)
        } else {
            q.limit
        }
    }

    /// The plan through which `key_id` may call `stage` of `api_id`, if any (a key is in at
    /// most one plan per API stage).
    pub fn plan_for(&self, key_id: &str, api_id: &str, stage: &str) -> Option<&UsagePlan> {
        self.usage_plans
            .values()
            .find(|p| p.key_ids.contains(key_id) && p.covers(api_id, stage))
    }

    /// The key whose value is `value`, if any.
    pub fn api_key_by_value(&self, value: &str) -> Option<&ApiKey> {
        self.api_keys.by_value(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::UsageDelta;
    use crate::model::{
        days_from_civil, ApiStage, Integration, IntegrationType, Method, QuotaSettings,
        RestApiSettings, Stage,
    };
    use crate::registry::plan_usage_id;

    const VALUE: &str = "abcdefghijklmnopqrstuvwxyz";

    fn key(id: &str, value: &str) -> ApiKey {
        ApiKey {
            id: id.into(),
            value: value.into(),
            enabled: true,
            ..Default::default()
        }
    }

    fn plan(id: &str, stages: &[(&str, &str)]) -> UsagePlan {
        UsagePlan {
            id: id.into(),
            name: format!("plan {id}"),
            api_stages: stages
                .iter()
                .map(|(a, s)| ApiStage {
                    api_id: a.to_string(),
                    stage: s.to_string(),
                    throttle: Default::default(),
                })
                .collect(),
            ..Default::default()
        }
    }

    /// A registry with API `a1` deployed to `prod` and `dev`.
    fn registry() -> Registry {
        let mut r = Registry::default();
        r.apply(&Command::CreateRestApi {
            id: "a1".into(),
            root_resource_id: "root".into(),
            settings: RestApiSettings::default(),
            created_date: 1,
            clone_from: None,
        })
        .unwrap();
        r.apply(&Command::PutMethod {
            api_id: "a1".into(),
            resource_id: "root".into(),
            method: Method {
                http_method: "GET".into(),
                authorization_type: crate::model::AuthorizationType::None,
                integration: Some(Integration {
                    kind: IntegrationType::Mock,
                    ..Default::default()
                }),
                ..Default::default()
            },
        })
        .unwrap();
        for (d, s) in [("d1", "prod"), ("d2", "dev")] {
            r.apply(&Command::CreateDeployment {
                api_id: "a1".into(),
                deployment_id: d.into(),
                description: None,
                created_date: 2,
                stage: Some(Stage {
                    stage_name: s.into(),
                    ..Default::default()
                }),
            })
            .unwrap();
        }
        r
    }

    fn refused(r: &mut Registry, cmd: Command) -> ApplyError {
        let before = r.clone();
        let e = r.apply(&cmd).unwrap_err();
        assert_eq!(*r, before, "a refused command changed the registry");
        e
    }

    #[test]
    fn key_values_are_checked_and_unique() {
        let mut r = registry();
        r.apply(&Command::CreateApiKey {
            key: key("k1", VALUE),
        })
        .unwrap();
        assert!(matches!(
            refused(
                &mut r,
                Command::CreateApiKey {
                    key: key("k2", VALUE)
                }
            ),
            ApplyError::Conflict(_)
        ));
        assert!(matches!(
            refused(
                &mut r,
                Command::CreateApiKey {
                    key: key("k1", &format!("{VALUE}x"))
                }
            ),
            ApplyError::Conflict(_)
        ));
        for v in ["short".to_string(), "x".repeat(129)] {
            assert!(matches!(
                refused(&mut r, Command::CreateApiKey { key: key("k3", &v) }),
                ApplyError::BadRequest(_)
            ));
        }
        r.apply(&Command::CreateApiKey {
            key: key("k3", &"y".repeat(128)),
        })
        .unwrap();
        // Update: must exist; may keep its own value; may not take another's.
        let mut k1 = r.api_keys["k1"].clone();
        k1.enabled = false;
        r.apply(&Command::UpdateApiKey { key: k1 }).unwrap();
        assert!(!r.api_keys["k1"].enabled);
        assert!(matches!(
            refused(
                &mut r,
                Command::UpdateApiKey {
                    key: key("k3", VALUE)
                }
            ),
            ApplyError::Conflict(_)
        ));
        assert!(matches!(
            refused(
                &mut r,
                Command::UpdateApiKey {
                    key: key("nope", &"z".repeat(30))
                }
            ),
            ApplyError::NotFound(_)
        ));
        assert_eq!(r.api_key_by_value(VALUE).map(|k| k.id.as_str()), Some("k1"));
    }

    #[test]
    fn plans_validate_stages_and_limits() {
        let mut r = registry();
        let mut p = plan("p1", &[("a1", "prod")]);
        p.throttle = Some(ThrottleSettings {
            burst_limit: 10,
            rate_limit: 5.0,
        });
        p.quota = Some(QuotaSettings {
            limit: 100,
            offset: 0,
            period: crate::model::QuotaPeriod::Week.into(),
        });
        p.api_stages[0].throttle.insert(
            "/pets/GET".into(),
            ThrottleSettings {
                burst_limit: 1,
                rate_limit: 1.0,
            },
        );
        r.apply(&Command::CreateUsagePlan { plan: p.clone() })
            .unwrap();
        assert!(matches!(
            refused(&mut r, Command::CreateUsagePlan { plan: p.clone() }),
            ApplyError::Conflict(_)
        ));
        type Expect = fn(&ApplyError) -> bool;
        let cases: Vec<(UsagePlan, Expect)> = vec![
            (plan("p2", &[("nope", "prod")]), |e| {
                matches!(e, ApplyError::NotFound(_))
            }),
            (plan("p2", &[("a1", "nope")]), |e| {
                matches!(e, ApplyError::BadRequest(_))
            }),
            (plan("p2", &[("a1", "prod"), ("a1", "prod")]), |e| {
                matches!(e, ApplyError::BadRequest(_))
            }),
            (
                UsagePlan {
                    quota: Some(QuotaSettings {
                        limit: 1,
                        offset: 0,
                        period: crate::model::OrUnknown::Unknown("YEAR".into()),
                    }),
                    ..plan("p2", &[])
                },
                |e| matches!(e, ApplyError::BadRequest(_)),
            ),
            (
                UsagePlan {
                    throttle: Some(ThrottleSettings {
                        burst_limit: -1,
                        rate_limit: 1.0,
                    }),
                    ..plan("p2", &[])
                },
                |e| matches!(e, ApplyError::BadRequest(_)),
            ),
            (
                UsagePlan {
                    name: " ".into(),
                    ..plan("p2", &[])
                },
                |e| matches!(e, ApplyError::BadRequest(_)),
            ),
        ];
        for (bad_plan, is_expected) in cases {
            let e = refused(
                &mut r,
                Command::CreateUsagePlan {
                    plan: bad_plan.clone(),
                },
            );
            assert!(is_expected(&e), "{bad_plan:?}: {e:?}");
        }
        let mut bad_throttle = plan("p2", &[("a1", "dev")]);
        bad_throttle.api_stages[0]
            .throttle
            .insert("pets/GET".into(), ThrottleSettings::default());
        assert!(matches!(
            refused(&mut r, Command::CreateUsagePlan { plan: bad_throttle }),
            ApplyError::BadRequest(_)
        ));
        assert!(matches!(
            refused(
                &mut r,
                Command::UpdateUsagePlan {
                    plan: plan("zz", &[])
                }
            ),
            ApplyError::NotFound(_)
        ));
    }

    #[test]
    fn a_key_is_in_one_plan_per_stage() {
        let mut r = registry();
        for (id, v) in [("k1", VALUE), ("k2", "0123456789012345678901")] {
            r.apply(&Command::CreateApiKey { key: key(id, v) }).unwrap();
        }
        r.apply(&Command::CreateUsagePlan {
            plan: plan("p1", &[("a1", "prod")]),
        })
        .unwrap();
        r.apply(&Command::CreateUsagePlan {
            plan: plan("p2", &[("a1", "prod"), ("a1", "dev")]),
        })
        .unwrap();
        r.apply(&Command::CreateUsagePlan {
            plan: plan("p3", &[("a1", "dev")]),
        })
        .unwrap();
        let sub = |p: &str, k: &str| Command::CreateUsagePlanKey {
            plan_id: p.into(),
            key_id: k.into(),
        };
        r.apply(&sub("p1", "k1")).unwrap();
        assert!(matches!(
            refused(&mut r, sub("p1", "k1")),
            ApplyError::Conflict(_)
        ));
        assert!(matches!(
            refused(&mut r, sub("p2", "k1")),
            ApplyError::Conflict(_)
        ));
        assert!(matches!(
            refused(&mut r, sub("p1", "nope")),
            ApplyError::NotFound(_)
        ));
        assert!(matches!(
            refused(&mut r, sub("nope", "k1")),
            ApplyError::NotFound(_)
        ));
        r.apply(&sub("p3", "k1")).unwrap(); // dev is not in p1
                                            // p1 gaining dev would put k1 in two plans for a1:dev.
        let mut p1 = r.usage_plans["p1"].clone();
        p1.api_stages = plan("p1", &[("a1", "prod"), ("a1", "dev")]).api_stages;
        assert!(matches!(
            refused(&mut r, Command::UpdateUsagePlan { plan: p1.clone() }),
            ApplyError::Conflict(_)
        ));
        // An update keeps the plan's keys whatever the command says.
        let mut renamed = r.usage_plans["p1"].clone();
        renamed.name = "gold".into();
        renamed.key_ids.clear();
        r.apply(&Command::UpdateUsagePlan { plan: renamed })
            .unwrap();
        assert_eq!(r.usage_plans["p1"].name, "gold");
        assert!(r.usage_plans["p1"].key_ids.contains("k1"));
        assert_eq!(
            r.plan_for("k1", "a1", "dev").map(|p| p.id.as_str()),
            Some("p3")
        );
        assert_eq!(r.plan_for("k2", "a1", "dev"), None);
        // Unsubscribe; twice is not found.
        let unsub = Command::DeleteUsagePlanKey {
            plan_id: "p3".into(),
            key_id: "k1".into(),
        };
        r.apply(&unsub).unwrap();
        assert!(matches!(refused(&mut r, unsub), ApplyError::NotFound(_)));
    }

    #[test]
    fn referential_deletes_keep_plans_consistent() {
        let mut r = registry();
        r.apply(&Command::CreateUsagePlan {
            plan: plan("p1", &[("a1", "prod"), ("a1", "dev")]),
        })
        .unwrap();
        r.apply(&Command::CreateUsagePlan {
            plan: plan("p2", &[("a1", "dev")]),
        })
        .unwrap();
        let del_plan = |id: &str| Command::DeleteUsagePlan {
            id: id.into(),
            referential: true,
        };
        // A plan with API stages is refused, in AWS's words, and nothing changes.
        match refused(&mut r, del_plan("p1")) {
            ApplyError::BadRequest(m) => assert_eq!(
                m,
                "Cannot delete Usage Plan p1 because there are API Stages associated with it, including a1:prod"
            ),
            e => panic!("{e:?}"),
        }
        assert!(r.usage_plans.contains_key("p1"));
        // A guarded write of p1 read before the stage went must find p1 changed.
        r.apply(&Command::IfUnchanged {
            guards: vec![],
            command: Box::new(Command::DeleteStage {
                api_id: "a1".into(),
                stage_name: "prod".into(),
                referential: true,
            }),
        })
        .unwrap();
        let stages = |r: &Registry, p: &str| -> Vec<String> {
            r.usage_plans[p]
                .api_stages
                .iter()
                .map(|s| format!("{}:{}", s.api_id, s.stage))
                .collect()
        };
        assert_eq!(stages(&r, "p1"), ["a1:dev"]);
        assert_eq!(r.version(&crate::Scope::UsagePlan("p1".into())), 1);
        assert_eq!(r.version(&crate::Scope::UsagePlan("p2".into())), 0);
        assert!(Command::DeleteStage {
            api_id: "a1".into(),
            stage_name: "prod".into(),
            referential: true,
        }
        .affects_keys());
        // Deleting the API takes its remaining stages out of every plan; then the plans go.
        r.apply(&Command::DeleteRestApi {
            id: "a1".into(),
            referential: true,
        })
        .unwrap();
        assert!(stages(&r, "p1").is_empty() && stages(&r, "p2").is_empty());
        r.apply(&del_plan("p1")).unwrap();
        r.apply(&del_plan("p2")).unwrap();
        assert!(r.usage_plans.is_empty());
    }

    /// Commands logged by builds before the referential rules replay as they applied then.
    #[test]
    fn earlier_deletes_replay_without_the_referential_rules() {
        let mut r = registry();
        r.apply(&Command::CreateUsagePlan {
            plan: plan("p1", &[("a1", "prod")]),
        })
        .unwrap();
        r.apply(&Command::DeleteStage {
            api_id: "a1".into(),
            stage_name: "prod".into(),
            referential: false,
        })
        .unwrap();
        assert_eq!(r.usage_plans["p1"].api_stages.len(), 1);
        r.apply(&Command::DeleteUsagePlan {
            id: "p1".into(),
            referential: false,
        })
        .unwrap();
        // Written without the field, as earlier builds wrote it: decodes without the rules.
        #[derive(serde::Serialize)]
        enum Earlier {
            DeleteStage { api_id: String, stage_name: String },
        }
        let bytes = crate::codec::encode(&Earlier::DeleteStage {
            api_id: "a".into(),
            stage_name: "s".into(),
        });
        let back: Command = crate::codec::decode(&bytes).unwrap();
        assert_eq!(
            back,
            Command::DeleteStage {
                api_id: "a".into(),
                stage_name: "s".into(),
                referential: false
            }
        );
    }

    #[test]
    fn deletes_cascade() {
        let mut r = registry();
        r.apply(&Command::CreateApiKey {
            key: key("k1", VALUE),
        })
        .unwrap();
        let mut p = plan("p1", &[("a1", "prod")]);
        p.quota = Some(QuotaSettings {
            limit: 10,
            offset: 0,
            period: crate::model::QuotaPeriod::Day.into(),
        });
        r.apply(&Command::CreateUsagePlan { plan: p }).unwrap();
        r.apply(&Command::CreateUsagePlanKey {
            plan_id: "p1".into(),
            key_id: "k1".into(),
        })
        .unwrap();
        r.apply(&Command::UpdateUsage {
            plan_id: "p1".into(),
            key_id: "k1".into(),
            at: 0,
            remaining: 50,
        })
        .unwrap();
        assert!(!r.usage.granted.is_empty());
        r.apply(&Command::DeleteApiKey { id: "k1".into() }).unwrap();
        assert!(r.usage_plans["p1"].key_ids.is_empty());
        assert!(r.usage.granted.is_empty());
        assert!(matches!(
            refused(&mut r, Command::DeleteApiKey { id: "k1".into() }),
            ApplyError::NotFound(_)
        ));
        r.apply(&Command::DeleteUsagePlan {
            id: "p1".into(),
            referential: false,
        })
        .unwrap();
        assert!(matches!(
            refused(
                &mut r,
                Command::DeleteUsagePlan {
                    id: "p1".into(),
                    referential: false
                }
            ),
            ApplyError::NotFound(_)
        ));
    }

    #[test]
    fn import_is_all_or_nothing_and_replaces_by_id() {
        let mut r = registry();
        r.apply(&Command::CreateApiKey {
            key: key("k1", VALUE),
        })
        .unwrap();
        r.apply(&Command::CreateUsagePlan {
            plan: plan("p1", &[("a1", "prod")]),
        })
        .unwrap();
        let good = key("k2", "22222222222222222222");
        // A bad key or an unknown plan later in the batch refuses the whole batch.
        for cmd in [
            Command::ImportApiKeys {
                keys: vec![good.clone(), key("k3", "short")],
                plan_keys: vec![],
            },
            Command::ImportApiKeys {
                keys: vec![good.clone(), key("k3", VALUE)],
                plan_keys: vec![],
            },
            Command::ImportApiKeys {
                keys: vec![good.clone()],
                plan_keys: vec![("nope".into(), "k2".into())],
            },
        ] {
            refused(&mut r, cmd);
        }
        let mut k1 = key("k1", VALUE);
        k1.name = Some("renamed".into());
        r.apply(&Command::ImportApiKeys {
            keys: vec![good, k1],
            plan_keys: vec![("p1".into(), "k2".into()), ("p1".into(), "k1".into())],
        })
        .unwrap();
        assert_eq!(r.api_keys.len(), 2);
        assert_eq!(r.api_keys["k1"].name.as_deref(), Some("renamed"));
        assert_eq!(r.usage_plans["p1"].key_ids.len(), 2);
        // Importing again (already subscribed) is fine.
        let again = Command::ImportApiKeys {
            keys: vec![key("k2", "22222222222222222222")],
            plan_keys: vec![("p1".into(), "k2".into())],
        };
        r.apply(&again).unwrap();
        r.apply(&again).unwrap();
    }

    #[test]
    fn an_import_checks_each_subscription_as_subscribe_does() {
        let mut r = registry();
        for p in ["p1", "p2"] {
            r.apply(&Command::CreateUsagePlan {
                plan: plan(p, &[("a1", "prod")]),
            })
            .unwrap();
        }
        r.apply(&Command::CreateApiKey {
            key: key("k1", VALUE),
        })
        .unwrap();
        // A key neither in the batch nor held.
        let unknown = r.apply(&Command::ImportApiKeys {
            keys: vec![key("k2", "22222222222222222222")],
            plan_keys: vec![("p1".into(), "k9".into())],
        });
        assert!(
            matches!(unknown, Err(ApplyError::NotFound(_))),
            "{unknown:?}"
        );
        // A held key (not in the batch) subscribes; then a second plan over the same stage
        // is refused for it, and the whole batch with it.
        r.apply(&Command::ImportApiKeys {
            keys: vec![],
            plan_keys: vec![("p1".into(), "k1".into())],
        })
        .unwrap();
        let clash = r.apply(&Command::ImportApiKeys {
            keys: vec![key("k2", "22222222222222222222")],
            plan_keys: vec![("p2".into(), "k2".into()), ("p2".into(), "k1".into())],
        });
        assert!(matches!(clash, Err(ApplyError::Conflict(_))), "{clash:?}");
        assert!(r.usage_plans["p2"].key_ids.is_empty());
        assert!(!r.api_keys.contains_key("k2"));
        assert_eq!(
            r.usage_plans["p1"].key_ids.iter().collect::<Vec<_>>(),
            ["k1"]
        );
    }

    #[test]
    fn a_refused_import_undoes_its_keys_values_and_subscriptions() {
        let mut r = registry();
        r.apply(&Command::CreateUsagePlan {
            plan: plan("p1", &[("a1", "prod")]),
        })
        .unwrap();
        r.apply(&Command::CreateApiKey {
            key: key("k1", VALUE),
        })
        .unwrap();
        // k1 gets a new value (twice), k2 is new and subscribed, then an unknown plan refuses
        // the whole batch.
        let refused_import = Command::ImportApiKeys {
            keys: vec![
                key("k1", "11111111111111111111"),
                key("k2", "22222222222222222222"),
                key("k1", "33333333333333333333"),
            ],
            plan_keys: vec![("p1".into(), "k2".into()), ("nope".into(), "k1".into())],
        };
        refused(&mut r, refused_import);
        // The value index is back as it was: k1's old value is its own, the batch's are free.
        assert_eq!(r.api_keys.id_by_value(VALUE), Some("k1"));
        for v in [
            "11111111111111111111",
            "22222222222222222222",
            "33333333333333333333",
        ] {
            assert_eq!(r.api_keys.id_by_value(v), None, "{v}");
        }
        assert!(r.usage_plans["p1"].key_ids.is_empty());
        r.apply(&Command::CreateApiKey {
            key: key("k3", "33333333333333333333"),
        })
        .unwrap();
    }

    #[test]
    fn update_usage_sets_what_is_left_of_the_period() {
        let mut r = registry();
        r.apply(&Command::CreateApiKey {
            key: key("k1", VALUE),
        })
        .unwrap();
        let mut p = plan("p1", &[("a1", "prod")]);
        p.quota = Some(QuotaSettings {
            limit: 100,
            offset: 0,
            period: crate::model::QuotaPeriod::Month.into(),
        });
        r.apply(&Command::CreateUsagePlan { plan: p }).unwrap();
        let update = |remaining| Command::UpdateUsage {
            plan_id: "p1".into(),
            key_id: "k1".into(),
            at: days_from_civil(2024, 3, 20) * 86_400,
            remaining,
        };
        // Not subscribed yet.
        assert!(matches!(
            refused(&mut r, update(5)),
            ApplyError::NotFound(_)
        ));
        r.apply(&Command::CreateUsagePlanKey {
            plan_id: "p1".into(),
            key_id: "k1".into(),
        })
        .unwrap();
        let report = |seq, day: i64, count| Command::ReportUsage {
            node_id: 1,
            seq,
            at: day * 86_400 + 5,
            deltas: vec![UsageDelta {
                key_id: "k1".into(),
                count,
            }],
        };
        let mar2 = days_from_civil(2024, 3, 2);
        let mar20 = days_from_civil(2024, 3, 20);
        let feb29 = days_from_civil(2024, 2, 29);
        r.apply(&report(1, feb29, 70)).unwrap(); // other month
        r.apply(&report(2, mar2, 30)).unwrap();
        assert_eq!(r.remaining_quota("p1", "k1", mar20), Some(70));
        assert_eq!(r.remaining_quota("p1", "k1", feb29), Some(30));
        r.apply(&update(500)).unwrap();
        assert_eq!(r.remaining_quota("p1", "k1", mar20), Some(500));
        r.apply(&report(3, mar20, 20)).unwrap();
        assert_eq!(r.remaining_quota("p1", "k1", mar2), Some(480));
        // Setting it again is absolute, not cumulative.
        r.apply(&update(10)).unwrap();
        r.apply(&update(10)).unwrap();
        assert_eq!(r.remaining_quota("p1", "k1", mar20), Some(10));
        // April starts afresh; February is untouched.
        assert_eq!(r.remaining_quota("p1", "k1", mar20 + 12), Some(100));
        assert_eq!(r.remaining_quota("p1", "k1", feb29), Some(30));
        assert!(matches!(
            refused(&mut r, update(-1)),
            ApplyError::BadRequest(_)
        ));
        let mut no_quota = r.usage_plans["p1"].clone();
        no_quota.quota = None;
        r.apply(&Command::UpdateUsagePlan { plan: no_quota })
            .unwrap();
        assert_eq!(r.remaining_quota("p1", "k1", mar20), None);
        assert!(matches!(
            refused(&mut r, update(5)),
            ApplyError::BadRequest(_)
        ));
    }

    #[test]
    fn usage_counts_per_plan_and_key() {
        let mut r = registry();
        r.apply(&Command::CreateApiKey {
            key: key("k1", VALUE),
        })
        .unwrap();
        let quota = |limit| {
            Some(QuotaSettings {
                limit,
                offset: 0,
                period: crate::model::QuotaPeriod::Day.into(),
            })
        };
        for (id, stage, limit) in [("pa", "prod", 100), ("pb", "dev", 10_000)] {
            let mut p = plan(id, &[("a1", stage)]);
            p.quota = quota(limit);
            r.apply(&Command::CreateUsagePlan { plan: p }).unwrap();
            r.apply(&Command::CreateUsagePlanKey {
                plan_id: id.into(),
                key_id: "k1".into(),
            })
            .unwrap();
        }
        let day = 20_000;
        let report = |seq, id: &str, count| Command::ReportLoad {
            node_id: 1,
            seq,
            at_ms: day * 86_400_000 + 5,
            deltas: vec![UsageDelta {
                key_id: id.into(),
                count,
            }],
            interval_ms: 250,
            demand: vec![],
        };
        // 100 requests through plan B spend nothing of plan A's quota.
        r.apply(&report(1, &plan_usage_id("pb", "k1"), 100))
            .unwrap();
        assert_eq!(r.remaining_quota("pa", "k1", day), Some(100));
        assert_eq!(r.remaining_quota("pb", "k1", day), Some(9_900));
        r.apply(&report(2, &plan_usage_id("pa", "k1"), 40)).unwrap();
        assert_eq!(r.remaining_quota("pa", "k1", day), Some(60));
        assert_eq!(r.usage.used_in_plan("pa", "k1", day, day + 1), 40);
        // Usage an older build reported under the bare key counts in every plan of the key.
        r.apply(&report(3, "k1", 5)).unwrap();
        assert_eq!(r.remaining_quota("pa", "k1", day), Some(55));
        assert_eq!(r.remaining_quota("pb", "k1", day), Some(9_895));
    }

    #[test]
    fn the_quota_offset_reduces_the_initial_period_only() {
        let mut r = registry();
        r.apply(&Command::CreateApiKey {
            key: key("k1", VALUE),
        })
        .unwrap();
        let mar20 = days_from_civil(2024, 3, 20);
        let mut p = plan("p1", &[("a1", "prod")]);
        p.quota = Some(QuotaSettings {
            limit: 100,
            offset: 30,
            period: crate::model::QuotaPeriod::Week.into(),
        });
        let dated = |day, command| Command::Dated {
            day,
            command: Box::new(command),
        };
        r.apply(&dated(mar20, Command::CreateUsagePlan { plan: p.clone() }))
            .unwrap();
        r.apply(&Command::CreateUsagePlanKey {
            plan_id: "p1".into(),
            key_id: "k1".into(),
        })
        .unwrap();
        assert_eq!(r.quota_starts["p1"], mar20);
        // 2024-03-20 is a Wednesday: its week (from Monday the 18th) is the initial period.
        assert_eq!(r.remaining_quota("p1", "k1", mar20), Some(70));
        assert_eq!(r.remaining_quota("p1", "k1", mar20 + 4), Some(70));
        assert_eq!(r.remaining_quota("p1", "k1", mar20 + 5), Some(100));
        assert_eq!(r.remaining_quota("p1", "k1", mar20 - 7), Some(100));
        // UpdateUsage sets what is left in the initial period exactly.
        r.apply(&Command::UpdateUsage {
            plan_id: "p1".into(),
            key_id: "k1".into(),
            at: mar20 * 86_400,
            remaining: 50,
        })
        .unwrap();
        assert_eq!(r.remaining_quota("p1", "k1", mar20), Some(50));
        // An update that keeps the period keeps the initial period.
        let mut same = r.usage_plans["p1"].clone();
        same.name = "renamed".into();
        r.apply(&dated(mar20 + 9, Command::UpdateUsagePlan { plan: same }))
            .unwrap();
        assert_eq!(r.quota_starts["p1"], mar20);
        // A new period starts a new initial period on the update's day.
        let mut daily = r.usage_plans["p1"].clone();
        daily.quota.as_mut().unwrap().period = crate::model::QuotaPeriod::Day.into();
        r.apply(&dated(mar20 + 9, Command::UpdateUsagePlan { plan: daily }))
            .unwrap();
        assert_eq!(r.remaining_quota("p1", "k1", mar20 + 9), Some(70));
        assert_eq!(r.remaining_quota("p1", "k1", mar20 + 10), Some(100));
        // Without a quota there is no initial period; deleting the plan forgets it.
        let mut none = r.usage_plans["p1"].clone();
        none.quota = None;
        r.apply(&dated(mar20 + 11, Command::UpdateUsagePlan { plan: none }))
            .unwrap();
        assert!(!r.quota_starts.contains_key("p1"));
        r.apply(&dated(mar20, Command::UpdateUsagePlan { plan: p.clone() }))
            .unwrap();
        assert!(r.quota_starts.contains_key("p1"));
        r.apply(&Command::DeleteUsagePlan {
            id: "p1".into(),
            referential: false,
        })
        .unwrap();
        assert!(!r.quota_starts.contains_key("p1"));
        // A refused dated command records nothing; dated commands do not nest.
        let before = r.clone();
        let mut bad = p.clone();
        bad.name = String::new();
        assert!(r
            .apply(&dated(mar20, Command::CreateUsagePlan { plan: bad }))
            .is_err());
        let nested = dated(
            mar20,
            dated(
                mar20,
                Command::DeleteUsagePlan {
                    id: "x".into(),
                    referential: false,
                },
            ),
        );
        assert!(matches!(r.apply(&nested), Err(ApplyError::BadRequest(_))));
        assert_eq!(r, before);
    }

    #[test]
    fn key_commands_round_trip_through_the_codec() {
        let mut p = plan("p1", &[("a1", "prod")]);
        p.throttle = Some(ThrottleSettings {
            burst_limit: 3,
            rate_limit: 0.5,
        });
        p.key_ids.insert("k1".into());
        for cmd in [
            Command::ImportApiKeys {
                keys: vec![key("k1", VALUE)],
                plan_keys: vec![("p1".into(), "k1".into())],
            },
            Command::UpdateUsagePlan { plan: p },
            Command::UpdateUsage {
                plan_id: "p1".into(),
                key_id: "k1".into(),
                at: -5,
                remaining: 9,
            },
            Command::FlushStageCache {
                api_id: "a1".into(),
                stage: "prod".into(),
                epoch: 2,
            },
        ] {
            let back: Command = crate::codec::decode(&crate::codec::encode(&cmd)).unwrap();
            assert_eq!(back, cmd);
        }
        let r = registry();
        let back: Registry = crate::codec::decode(&crate::codec::encode(&r)).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn cache_epochs_only_grow() {
        let mut r = registry();
        let flush = |stage: &str, epoch| Command::FlushStageCache {
            api_id: "a1".into(),
            stage: stage.into(),
            epoch,
        };
        assert_eq!(r.cache_epoch("a1", "prod"), 0);
        r.apply(&flush("prod", 0)).unwrap();
        assert_eq!(r.cache_epoch("a1", "prod"), 1);
        r.apply(&flush("prod", 40)).unwrap();
        r.apply(&flush("prod", 7)).unwrap();
        assert_eq!(r.cache_epoch("a1", "prod"), 41);
        assert_eq!(r.cache_epoch("a1", "dev"), 0);
        assert!(matches!(
            refused(&mut r, flush("nope", 1)),
            ApplyError::NotFound(_)
        ));
        assert!(flush("prod", 1).stage_affecting_api() == Some("a1"));
        assert!(!flush("prod", 1).affects_keys());
        assert!(Command::DeleteApiKey { id: "k".into() }.affects_keys());
        r.apply(&Command::DeleteRestApi {
            id: "a1".into(),
            referential: false,
        })
        .unwrap();
        assert!(r.cache_epochs.is_empty());
    }
}
