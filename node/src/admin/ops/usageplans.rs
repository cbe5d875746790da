//! CreateUsagePlan, GetUsagePlans, GetUsagePlan, UpdateUsagePlan, DeleteUsagePlan and the
//! usage plan keys (Create/Get/DeleteUsagePlanKey, GetUsagePlanKeys).
//!
//! UpdateUsagePlan patch paths: `/name`, `/description`, `/throttle/rateLimit`,
//! `/throttle/burstLimit`, `/throttle` (remove), `/quota/limit`, `/quota/offset`,
//! `/quota/period`, `/quota` (remove); `add`/`remove` on `/apiStages` with the value
//! `{apiId}:{stage}`; `/apiStages/{apiId}:{stage}/throttle/{resourcePath}/{METHOD}/rateLimit`
//! (or `burstLimit`), the resource path escaped (`~1pets`) or not; `remove` on
//! `/apiStages/{apiId}:{stage}/throttle/{resourcePath}/{METHOD}` or `…/throttle`. A quota
//! created by a patch must get its period in the same patch.

use super::apikeys::no_key;
use super::mint_id;
use super::{commit, non_empty, read, Reply};
use crate::admin::error::ApiError;
use crate::admin::input::plans::{
    ApiStageIn, CreateUsagePlanIn, CreateUsagePlanKeyIn, QuotaIn, ThrottleIn,
};
use crate::admin::input::{self};
use crate::admin::limits;
use crate::admin::paging::{PageRequest, Query};
use crate::admin::patch::{self, unescape, Op, PatchOp};
use crate::admin::wire::{plans as wire, Page};
use crate::admin::AdminState;
use crate::ids::now_epoch;
use std::collections::BTreeMap;
use tollgate_proto::model::{
    ApiStage, OrUnknown, QuotaPeriod, QuotaSettings, ThrottleSettings, UsagePlan,
};
use tollgate_proto::{Command, Registry};

/// The error for an unknown plan id.
pub fn no_plan(id: &str) -> ApiError {
    ApiError::not_found(format!("Invalid Usage Plan ID specified: {id}"))
}

/// Looks a plan up in the registry.
pub fn plan_in<'a>(reg: &'a Registry, id: &str) -> Result<&'a UsagePlan, ApiError> {
    reg.usage_plans.get(id).ok_or_else(|| no_plan(id))
}

fn load_plan(state: &AdminState, id: &str) -> Result<UsagePlan, ApiError> {
    read(state, |reg| plan_in(reg, id).cloned())
}

fn plan_reply(state: &AdminState, id: &str, status: u16) -> Result<Reply, ApiError> {
    let mut out = wire::usage_plan(&load_plan(state, id)?);
    if status == 200 {
        // GetUsagePlan and UpdateUsagePlan answer `tags` always, `{}` when there are none;
        // CreateUsagePlan and the list do not (localstack's AWS recordings:
        // `test_usage_plan_crud` "get-usage-plan", "update-usage-plan", "create-usage-plan").
        out.tags.get_or_insert_with(Default::default);
    }
    Reply::json(status, &out)
}

fn throttle(t: &ThrottleIn) -> Result<ThrottleSettings, ApiError> {
    let burst = t.burst_limit.unwrap_or(0);
    let burst = i32::try_from(burst)
        .map_err(|_| ApiError::bad_request(format!("Invalid burstLimit specified: {burst}")))?;
    Ok(ThrottleSettings {
        burst_limit: burst,
        rate_limit: t.rate_limit.unwrap_or(0.0),
    })
}

fn quota(q: QuotaIn) -> QuotaSettings {
    QuotaSettings {
        limit: q.limit.unwrap_or(0),
        offset: q.offset.unwrap_or(0),
        period: q
            .period
            .map(|p| OrUnknown::from_name(&p))
            .unwrap_or_default(),
    }
}

fn api_stage(s: ApiStageIn) -> Result<ApiStage, ApiError> {
    let (Some(api_id), Some(stage)) = (non_empty(s.api_id), non_empty(s.stage)) else {
        return Err(ApiError::bad_request(
            "An API stage needs both apiId and stage",
        ));
    };
    let throttle = s
        .throttle
        .unwrap_or_default()
        .iter()
        .map(|(k, t)| Ok((k.clone(), throttle(t)?)))
        .collect::<Result<BTreeMap<_, _>, ApiError>>()?;
    Ok(ApiStage {
        api_id,
        stage,
        throttle,
    })
}

/// A plan's name, description and tags, within the admin API's limits.
fn check_plan_text(plan: &UsagePlan) -> Result<(), ApiError> {
    limits::check_name("The usage plan name", &plan.name)?;
    limits::check_description("The description", plan.description.as_deref())?;
    limits::check_tags(&plan.tags)
}

/// CreateUsagePlan (201).
pub async fn create(state: &AdminState, body: &[u8]) -> Result<Reply, ApiError> {
    let i: CreateUsagePlanIn = input::parse(body)?;
    crate::admin::enums::check(
        "CreateUsagePlan",
        "quota.period",
        i.quota.as_ref().and_then(|q| q.period.as_deref()),
    )?;
    let name = non_empty(i.name)
        .ok_or_else(|| ApiError::bad_request("Invalid usage plan name specified"))?;
    let plan = UsagePlan {
        id: mint_id(6),
        name,
        description: non_empty(i.description),
        api_stages: i
            .api_stages
            .unwrap_or_default()
            .into_iter()
            .map(api_stage)
            .collect::<Result<_, _>>()?,
        throttle: i.throttle.as_ref().map(throttle).transpose()?,
        quota: i.quota.map(quota),
        key_ids: Default::default(),
        tags: i.tags.unwrap_or_default(),
    };
    check_plan_text(&plan)?;
    let id = plan.id.clone();
    commit(state, dated(Command::CreateUsagePlan { plan })).await?;
    plan_reply(state, &id, 201)
}

/// GetUsagePlans: paged by id; `keyId` keeps the plans that key is subscribed to.
pub fn list(state: &AdminState, query: &Query) -> Result<Reply, ApiError> {
    let page = PageRequest::from_query(query)?;
    let key = query.get("keyId").filter(|k| !k.is_empty());
    let items = read(state, |reg| {
        Ok(reg
            .usage_plans
            .values()
            .filter(|p| key.is_none_or(|k| p.key_ids.contains(k)))
            .map(|p| (p.id.clone(), wire::usage_plan(p)))
            .collect::<Vec<_>>())
    })?;
    let (item, position) = page.apply(items);
    Reply::json(200, &Page { item, position })
}

/// GetUsagePlan.
pub fn get(state: &AdminState, id: &str) -> Result<Reply, ApiError> {
    plan_reply(state, id, 200)
}

/// Parses `{apiId}:{stage}`.
fn stage_ref(s: &str) -> Option<(&str, &str)> {
    s.split_once(':')
        .filter(|(a, st)| !a.is_empty() && !st.is_empty())
}

fn set_throttle(t: &mut ThrottleSettings, field: &str, p: &PatchOp) -> Result<(), ApiError> {
    match field {
        "rateLimit" => t.rate_limit = p.f64_value(0.0, 1e12)?,
        "burstLimit" => t.burst_limit = p.int_value(0, i64::from(i32::MAX))? as i32,
        _ => return Err(p.invalid_path()),
    }
    Ok(())
}

/// Applies an operation below `/apiStages/{apiId}:{stage}/throttle` (`rest` are the raw
/// segments after `throttle`).
fn patch_stage_throttle(stage: &mut ApiStage, rest: &[&str], p: &PatchOp) -> Result<(), ApiError> {
    if rest.is_empty() {
        if p.op != Op::Remove {
            return Err(p.invalid_path());
        }
        stage.throttle.clear();
        return Ok(());
    }
    // `{resourcePath}/{METHOD}` possibly followed by the setting.
    let (target, field) = match rest.last() {
        Some(f @ (&"rateLimit" | &"burstLimit")) => (&rest[..rest.len() - 1], Some(*f)),
        _ => (rest, None),
    };
    let [path @ .., method] = target else {
        return Err(p.invalid_path());
    };
    if path.is_empty() {
        return Err(p.invalid_path());
    }
    let key = format!("{}/{method}", unescape(&path.join("/")));
    match field {
        None if p.op == Op::Remove => {
            stage.throttle.remove(&key).map(|_| ()).ok_or_else(|| {
                ApiError::bad_request(format!("No throttle settings exist for {key}"))
            })
        }
        None => Err(p.invalid_path()),
        Some(f) => set_throttle(stage.throttle.entry(key).or_default(), f, p),
    }
}

/// Applies one UpdateUsagePlan patch operation (the state machine then checks the result).
pub fn apply_patch(plan: &mut UsagePlan, p: &PatchOp) -> Result<(), ApiError> {
    let raw = p.raw_segments();
    match raw.as_slice() {
        ["name"] => plan.name = p.required_string()?,
        ["description"] => plan.description = p.optional_string()?,
        ["throttle"] if p.op == Op::Remove => plan.throttle = None,
        ["throttle", field] => {
            set_throttle(plan.throttle.get_or_insert_with(Default::default), field, p)?
        }
        ["quota"] if p.op == Op::Remove => plan.quota = None,
        ["quota", field] => {
            let q = plan.quota.get_or_insert_with(Default::default);
            match *field {
                "limit" => q.limit = p.int_value(0, i64::from(i32::MAX))?,
                "offset" => q.offset = p.int_value(0, i64::from(i32::MAX))?,
                "period" => {
                    q.period = p
                        .parsed_value(QuotaPeriod::parse, &QuotaPeriod::names())?
                        .into()
                }
                _ => return Err(p.invalid_path()),
            }
        }
        ["apiStages"] => {
            // AWS's recorded wording (localstack's AWS recordings, `test_apigateway_common`
            // `test_usage_plan_crud` "update-wrong-api-stages-no-value", "-wrong-value",
            // "-wrong-api", "-wrong-stage").
            let (api_id, stage) = p
                .value
                .as_deref()
                .and_then(stage_ref)
                .ok_or_else(|| ApiError::bad_request("Invalid API Stage specified"))?;
            let v = p.value.as_deref().unwrap_or_default();
            let pos = plan
                .api_stages
                .iter()
                .position(|s| s.api_id == api_id && s.stage == stage);
            match (p.op, pos) {
                (Op::Add, None) => plan.api_stages.push(ApiStage {
                    api_id: api_id.to_string(),
                    stage: stage.to_string(),
                    throttle: BTreeMap::new(),
                }),
                (Op::Add, Some(_)) => {
                    return Err(ApiError::conflict(format!(
                        "API stage {v} is already in the usage plan"
                    )))
                }
                (Op::Remove, Some(i)) => {
                    plan.api_stages.remove(i);
                }
                (Op::Remove, None) => {
                    return Err(ApiError::not_found(format!(
                        "Invalid API Stage {{api: {api_id}, stage: {stage}}} specified for usageplan {}",
                        plan.id
                    )))
                }
                _ => return Err(p.invalid_path()),
            }
        }
        ["apiStages", which, "throttle", rest @ ..] => {
            let which = unescape(which);
            let (api_id, stage) = stage_ref(&which).ok_or_else(|| p.invalid_path())?;
            let s = plan
                .api_stages
                .iter_mut()
                .find(|s| s.api_id == api_id && s.stage == stage)
                .ok_or_else(|| {
                    ApiError::not_found(format!("API stage {which} is not in the usage plan"))
                })?;
            patch_stage_throttle(s, rest, p)?;
        }
        _ => return Err(p.invalid_path()),
    }
    Ok(())
}

/// UpdateUsagePlan.
pub async fn update(state: &AdminState, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut plan = load_plan(state, id)?;
    for p in &ops {
        apply_patch(&mut plan, p)?;
    }
    check_plan_text(&plan)?;
    commit(state, dated(Command::UpdateUsagePlan { plan })).await?;
    plan_reply(state, id, 200)
}

/// DeleteUsagePlan (202).
pub async fn delete(state: &AdminState, id: &str) -> Result<Reply, ApiError> {
    // Refused while the plan has API stages (AWS's rule).
    let cmd = Command::DeleteUsagePlan {
        id: id.to_string(),
        referential: true,
    };
    commit(state, cmd).await?;
    Ok(Reply::empty(202))
}

fn plan_key_reply(
    state: &AdminState,
    plan: &str,
    key: &str,
    status: u16,
) -> Result<Reply, ApiError> {
    let out = read(state, |reg| {
        if !plan_in(reg, plan)?.key_ids.contains(key) {
            return Err(no_key(key));
        }
        let k = reg.api_keys.get(key).ok_or_else(|| no_key(key))?;
        Ok(wire::usage_plan_key(k))
    })?;
    Reply::json(status, &out)
}

/// CreateUsagePlanKey (201): `{"keyId": …, "keyType": "API_KEY"}`.
pub async fn create_key(state: &AdminState, plan: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let i: CreateUsagePlanKeyIn = input::parse(body)?;
    let key_id = non_empty(i.key_id)
        .ok_or_else(|| ApiError::bad_request("Invalid API Key identifier specified"))?;
    if i.key_type.as_deref() != Some("API_KEY") {
        return Err(ApiError::bad_request(format!(
            "Invalid key type specified: {}. Must be API_KEY",
            i.key_type.unwrap_or_default()
        )));
    }
    commit(
        state,
        Command::CreateUsagePlanKey {
            plan_id: plan.to_string(),
            key_id: key_id.clone(),
        },
    )
    .await?;
    plan_key_reply(state, plan, &key_id, 201)
}

/// GetUsagePlanKeys: paged by key id; `name` (the SDKs' `nameQuery`) keeps keys whose name
/// starts with it.
pub fn list_keys(state: &AdminState, plan: &str, query: &Query) -> Result<Reply, ApiError> {
    let page = PageRequest::from_query(query)?;
    let name = query.get("name").filter(|n| !n.is_empty());
    let (item, position) = read(state, |reg| {
        Ok(page.take(
            plan_in(reg, plan)?
                .key_ids
                .range::<str, _>(page.start())
                .filter_map(|id| reg.api_keys.get(id))
                .filter(|k| {
                    name.is_none_or(|n| k.name.as_deref().is_some_and(|kn| kn.starts_with(n)))
                })
                .map(|k| (k.id.as_str(), wire::usage_plan_key(k))),
        ))
    })?;
    Reply::json(200, &Page { item, position })
}

/// GetUsagePlanKey.
pub fn get_key(state: &AdminState, plan: &str, key: &str) -> Result<Reply, ApiError> {
    plan_key_reply(state, plan, key, 200)
}

/// DeleteUsagePlanKey (202).
pub async fn delete_key(state: &AdminState, plan: &str, key: &str) -> Result<Reply, ApiError> {
    commit(
        state,
        Command::DeleteUsagePlanKey {
            plan_id: plan.to_string(),
            key_id: key.to_string(),
        },
    )
    .await?;
    Ok(Reply::empty(202))
}

/// `cmd` dated today (UTC): a plan given a quota starts its initial quota period, the one
/// whose limit the quota's `offset` reduces.
fn dated(cmd: Command) -> Command {
    Command::Dated {
        day: now_epoch().div_euclid(86_400),
        command: Box::new(cmd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(o: Op, path: &str, v: Option<&str>) -> PatchOp {
        PatchOp {
            op: o,
            path: path.into(),
            value: v.map(String::from),
            from: None,
        }
    }

    fn apply(plan: &mut UsagePlan, o: Op, path: &str, v: Option<&str>) -> Result<(), ApiError> {
        apply_patch(plan, &op(o, path, v))
    }

    #[test]
    fn plan_level_patches() {
        let mut p = UsagePlan::default();
        apply(&mut p, Op::Replace, "/name", Some("gold")).unwrap();
        apply(&mut p, Op::Replace, "/description", Some("d")).unwrap();
        apply(&mut p, Op::Replace, "/throttle/rateLimit", Some("12.5")).unwrap();
        apply(&mut p, Op::Replace, "/throttle/burstLimit", Some("20")).unwrap();
        apply(&mut p, Op::Replace, "/quota/limit", Some("1000")).unwrap();
        apply(&mut p, Op::Replace, "/quota/period", Some("WEEK")).unwrap();
        apply(&mut p, Op::Replace, "/quota/offset", Some("0")).unwrap();
        assert_eq!(p.name, "gold");
        assert_eq!(p.description.as_deref(), Some("d"));
        assert_eq!(
            p.throttle,
            Some(ThrottleSettings {
                burst_limit: 20,
                rate_limit: 12.5
            })
        );
        let q = p.quota.clone().unwrap();
        assert_eq!((q.limit, q.period.known()), (1000, Some(QuotaPeriod::Week)));
        apply(&mut p, Op::Remove, "/throttle", None).unwrap();
        apply(&mut p, Op::Remove, "/quota", None).unwrap();
        assert!(p.throttle.is_none() && p.quota.is_none());
        for (o, path, v) in [
            (Op::Replace, "/quota/period", Some("YEAR")),
            (Op::Replace, "/quota/limit", Some("-1")),
            (Op::Replace, "/throttle/rateLimit", Some("fast")),
            (Op::Replace, "/throttle/other", Some("1")),
            (Op::Replace, "/name", Some("")),
            (Op::Replace, "/productCode", Some("x")),
            (Op::Replace, "/apiStages", Some("a1:prod")),
            (Op::Add, "/apiStages", Some("a1")),
        ] {
            let e = apply(&mut p.clone(), o, path, v).unwrap_err();
            assert_eq!(e.status, 400, "{path}");
        }
    }

    #[test]
    fn api_stage_patches() {
        let mut p = UsagePlan::default();
        apply(&mut p, Op::Add, "/apiStages", Some("a1:prod")).unwrap();
        apply(&mut p, Op::Add, "/apiStages", Some("a1:dev")).unwrap();
        assert_eq!(
            apply(&mut p, Op::Add, "/apiStages", Some("a1:dev"))
                .unwrap_err()
                .status,
            409
        );
        apply(
            &mut p,
            Op::Replace,
            "/apiStages/a1:prod/throttle/~1pets~1{id}/GET/rateLimit",
            Some("3"),
        )
        .unwrap();
        apply(
            &mut p,
            Op::Replace,
            "/apiStages/a1:prod/throttle//pets/POST/burstLimit",
            Some("4"),
        )
        .unwrap();
        let t = &p.api_stages[0].throttle;
        assert_eq!(t["/pets/{id}/GET"].rate_limit, 3.0);
        assert_eq!(t["/pets/POST"].burst_limit, 4);
        apply(
            &mut p,
            Op::Remove,
            "/apiStages/a1:prod/throttle/~1pets/POST",
            None,
        )
        .unwrap();
        assert_eq!(p.api_stages[0].throttle.len(), 1);
        assert_eq!(
            apply(
                &mut p,
                Op::Remove,
                "/apiStages/a1:prod/throttle/~1pets/POST",
                None
            )
            .unwrap_err()
            .status,
            400
        );
        apply(&mut p, Op::Remove, "/apiStages/a1:prod/throttle", None).unwrap();
        assert!(p.api_stages[0].throttle.is_empty());
        assert_eq!(
            apply(
                &mut p,
                Op::Replace,
                "/apiStages/a9:x/throttle/~1a/GET/rateLimit",
                Some("1")
            )
            .unwrap_err()
            .status,
            404
        );
        apply(&mut p, Op::Remove, "/apiStages", Some("a1:prod")).unwrap();
        assert_eq!(p.api_stages.len(), 1);
        assert_eq!(
            apply(&mut p, Op::Remove, "/apiStages", Some("a1:prod"))
                .unwrap_err()
                .status,
            404
        );
    }
}
