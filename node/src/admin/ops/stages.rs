//! CreateStage, GetStages, GetStage, UpdateStage, DeleteStage; stage variables and
//! per-method settings.
//!
//! Method settings are addressed in patch paths as `/{resourcePath}/{METHOD}/{setting}`, the
//! resource path with `/` escaped as `~1` (`/~1pets~1{petId}/GET/throttling/rateLimit`), or
//! `/*/*/{setting}` for the whole stage. They are kept under the key
//! `{resourcePath without its leading slash}/{METHOD}` (`pets/{petId}/GET`) or `*/*`, as AWS
//! shows them in `methodSettings`. A method's entry starts as a copy of the stage-wide one
//! (`*/*`) when there is one, else from the defaults.

use super::{commit, non_empty, read_api, Reply};
use crate::admin::error::ApiError;
use crate::admin::input::{self, CreateStageIn};
use crate::admin::limits::{self, MAX_STAGE_VARIABLES, MAX_STAGE_VARIABLE_NAME_CHARS};
use crate::admin::paging::Query;
use crate::admin::patch::{self, apply_to_map, unescape, Op, PatchOp};
use crate::admin::wire;
use crate::admin::AdminState;
use crate::dataplane::access_log::{destination, format as log_format};
use crate::ids::now_epoch;
use std::collections::BTreeMap;
use tollgate_proto::model::{
    AccessLogSettings, CanarySettings, LoggingLevel, MethodSetting, Stage,
    UnauthorizedCacheControlHeaderStrategy,
};
use tollgate_proto::Command;

/// The cache sizes AWS offers (GB).
pub const CACHE_SIZES: &[&str] = &["0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237"];
/// The key of the stage-wide method settings.
pub const ALL_METHODS: &str = "*/*";
const SETTING_METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY",
];
/// Longest stage variable value (as AWS).
const MAX_VARIABLE_VALUE: usize = 512;

/// Checks a cache cluster size.
pub fn check_cache_size(size: &str) -> Result<(), ApiError> {
    if CACHE_SIZES.contains(&size) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid cache cluster size specified: {size}. Must be one of: {}",
            CACHE_SIZES.join(", ")
        )))
    }
}

fn check_variable(name: &str, value: &str) -> Result<(), ApiError> {
    if name.is_empty()
        || name.len() > MAX_STAGE_VARIABLE_NAME_CHARS
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(ApiError::bad_request(format!(
            "Stage variable name '{name}' must match [A-Za-z0-9_]+ and be at most \
             {MAX_STAGE_VARIABLE_NAME_CHARS} characters"
        )));
    }
    let value_ok = !value.is_empty()
        && value.len() <= MAX_VARIABLE_VALUE
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#&=,".contains(&b));
    if !value_ok {
        return Err(ApiError::bad_request(format!(
            "Stage variable value '{value}' for '{name}' must match [A-Za-z0-9-._~:/?#&=,]+ \
             and be at most {MAX_VARIABLE_VALUE} characters"
        )));
    }
    Ok(())
}

/// Checks stage variables: names `[A-Za-z0-9_]+`, values `[A-Za-z0-9-._~:/?#&=,]+`.
/// At most [`MAX_STAGE_VARIABLES`] of them (as AWS).
pub fn check_variables(vars: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if vars.len() > MAX_STAGE_VARIABLES {
        return Err(ApiError::bad_request(format!(
            "A stage can have at most {MAX_STAGE_VARIABLES} stage variables"
        )));
    }
    vars.iter().try_for_each(|(k, v)| check_variable(k, v))
}

/// Longest access log format taken (Tollgate's bound; the format is compiled per stage).
pub const MAX_ACCESS_LOG_FORMAT: usize = 10_000;

/// Checks access log settings as AWS does: the format names `$context.requestId` or
/// `$context.extendedRequestId`, the destination is a log group or Firehose stream ARN.
pub fn check_access_log(s: &AccessLogSettings) -> Result<(), ApiError> {
    if let Some(f) = &s.format {
        if f.len() > MAX_ACCESS_LOG_FORMAT {
            return Err(ApiError::bad_request(format!(
                "The access log format must be at most {MAX_ACCESS_LOG_FORMAT} characters"
            )));
        }
        if !log_format::has_request_id(f) {
            return Err(ApiError::bad_request(
                "Access Log format must contain at least one of $context.requestId or \
                 $context.extendedRequestId",
            ));
        }
    }
    if let Some(arn) = &s.destination_arn {
        destination::name_of(arn).map_err(ApiError::bad_request)?;
    }
    Ok(())
}

/// A whole stage's text: description, tags, variables, access log settings.
pub fn check_stage(stage: &Stage) -> Result<(), ApiError> {
    limits::check_description("The stage description", stage.description.as_deref())?;
    limits::check_tags(&stage.tags)?;
    if let Some(a) = &stage.access_log_settings {
        check_access_log(a)?;
    }
    check_variables(&stage.variables)
}

/// Sets or removes one access log setting (`/accessLogSettings/format`,
/// `/accessLogSettings/destinationArn`); the settings go when neither is left.
fn patch_access_log(stage: &mut Stage, field: &str, p: &PatchOp) -> Result<(), ApiError> {
    let value = match p.op {
        Op::Remove => None,
        o if o.sets() => {
            if p.value.as_deref() == Some("") {
                // AWS's words (recorded: `test_stage_access_log_settings_validation`
                // "update-stage-access-log-format-empty").
                return Err(ApiError::bad_request("Access Log value must not be empty"));
            }
            Some(p.required_string()?)
        }
        _ => return Err(p.invalid_path()),
    };
    let mut a = stage.access_log_settings.take().unwrap_or_default();
    match field {
        "format" => a.format = value,
        _ => a.destination_arn = value,
    }
    stage.access_log_settings = (a.format.is_some() || a.destination_arn.is_some()).then_some(a);
    Ok(())
}

/// `canarySettings` as CreateStage (`of_deployment`: false) or CreateDeployment (true: no
/// `deploymentId`, the new deployment is the canary's) take them. `deployment`: the canary's
/// deployment when the input names none.
pub fn canary_input(
    v: serde_json::Value,
    deployment: &str,
    of_deployment: bool,
) -> Result<CanarySettings, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct CanaryIn {
        percent_traffic: Option<f64>,
        deployment_id: Option<String>,
        stage_variable_overrides: Option<BTreeMap<String, String>>,
        use_stage_cache: Option<bool>,
    }
    let i: CanaryIn = serde_json::from_value(v)
        .map_err(|e| ApiError::bad_request(format!("Invalid canarySettings: {e}")))?;
    if of_deployment && i.deployment_id.is_some() {
        return Err(ApiError::bad_request(
            "Invalid canarySettings: a deployment's canary settings take no deploymentId (the deployment made is the canary's)",
        ));
    }
    let percent_traffic = i.percent_traffic.unwrap_or(0.0);
    check_percent(percent_traffic)?;
    let stage_variable_overrides = i.stage_variable_overrides.unwrap_or_default();
    check_variables(&stage_variable_overrides)?;
    Ok(CanarySettings {
        percent_traffic,
        deployment_id: non_empty(i.deployment_id).unwrap_or_else(|| deployment.to_string()),
        stage_variable_overrides,
        use_stage_cache: i.use_stage_cache.unwrap_or(false),
    })
}

fn check_percent(p: f64) -> Result<(), ApiError> {
    if (0.0..=100.0).contains(&p) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid canary percentTraffic {p}: must be between 0.0 and 100.0"
        )))
    }
}

/// CreateStage (201) on an existing deployment.
pub async fn create(state: &AdminState, api: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let mut i: CreateStageIn = input::parse(body)?;
    crate::admin::enums::check(
        "CreateStage",
        "cacheClusterSize",
        i.cache_cluster_size.as_deref(),
    )?;
    let canary = i.canary_settings.take();
    // Fail closed on settings this gateway would otherwise drop without a word.
    if non_empty(i.client_certificate_id).is_some() {
        return Err(ApiError::bad_request(
            "clientCertificateId is not supported by Tollgate: it calls no HTTPS backend, so a stage has no client certificate to present",
        ));
    }
    if non_empty(i.documentation_version).is_some() {
        return Err(ApiError::bad_request(
            "documentationVersion on a stage is not supported by Tollgate",
        ));
    }
    let stage_name = non_empty(i.stage_name)
        .ok_or_else(|| ApiError::bad_request("Stage name only allows a-zA-Z0-9_-"))?;
    let deployment_id = non_empty(i.deployment_id)
        .ok_or_else(|| ApiError::bad_request("Invalid deployment identifier specified"))?;
    let variables = i.variables.unwrap_or_default();
    check_variables(&variables)?;
    let cache_cluster_enabled = i.cache_cluster_enabled.unwrap_or(false);
    let cache_cluster_size = non_empty(i.cache_cluster_size)
        .or_else(|| cache_cluster_enabled.then(|| "0.5".to_string()));
    if let Some(size) = &cache_cluster_size {
        check_cache_size(size)?;
    }
    let now = now_epoch();
    let stage = Stage {
        stage_name: stage_name.clone(),
        deployment_id,
        description: non_empty(i.description),
        created_date: now,
        last_updated_date: now,
        variables,
        cache_cluster_enabled,
        cache_cluster_size,
        tracing_enabled: i.tracing_enabled.unwrap_or(false),
        method_settings: BTreeMap::new(),
        tags: i.tags.unwrap_or_default(),
        canary_settings: None,
        access_log_settings: i
            .access_log_settings
            .map(|a| AccessLogSettings {
                format: non_empty(a.format),
                destination_arn: non_empty(a.destination_arn),
            })
            .filter(|a| a.format.is_some() || a.destination_arn.is_some()),
    };
    let mut stage = stage;
    if let Some(c) = canary {
        stage.canary_settings = Some(canary_input(c, &stage.deployment_id, false)?);
    }
    check_stage(&stage)?;
    commit(
        state,
        Command::PutStage {
            api_id: api.to_string(),
            stage,
            create: true,
        },
    )
    .await?;
    stage_reply(state, api, &stage_name, 201)
}

fn load_stage(state: &AdminState, api: &str, name: &str) -> Result<Stage, ApiError> {
    read_api(state, api, |a| {
        a.stages
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::invalid_id("stage", name))
    })
}

fn stage_reply(state: &AdminState, api: &str, name: &str, status: u16) -> Result<Reply, ApiError> {
    Reply::json(status, &wire::stage(&load_stage(state, api, name)?))
}

/// GetStages: every stage (`{"item": [...]}`, no paging, as AWS), optionally only those on
/// `deploymentId`.
pub fn list(state: &AdminState, api: &str, query: &Query) -> Result<Reply, ApiError> {
    let only = query.get("deploymentId").filter(|d| !d.is_empty());
    let item = read_api(state, api, |a| {
        Ok(a.stages
            .values()
            .filter(|s| only.is_none_or(|d| s.deployment_id == d))
            .map(wire::stage)
            .collect::<Vec<_>>())
    })?;
    Reply::json(200, &serde_json::json!({ "item": item }))
}

/// GetStage.
pub fn get(state: &AdminState, api: &str, name: &str) -> Result<Reply, ApiError> {
    stage_reply(state, api, name, 200)
}

/// The method-settings key a patch path names, and the setting path after it (empty when
/// the path names a whole entry). `None` when the path does not name method settings.
fn method_setting_target(p: &PatchOp) -> Option<(String, String)> {
    let raw = p.raw_segments();
    let (resource, method, rest) = match raw.as_slice() {
        [r, m, rest @ ..] => (*r, *m, rest),
        _ => return None,
    };
    let key = if resource == "*" && method == "*" {
        ALL_METHODS.to_string()
    } else {
        let path = unescape(resource);
        let path = path.strip_prefix('/')?;
        if !SETTING_METHODS.contains(&method) {
            return None;
        }
        format!("{path}/{method}")
    };
    Some((key, rest.join("/")))
}

fn apply_setting(s: &mut MethodSetting, setting: &str, p: &PatchOp) -> Result<(), ApiError> {
    match setting {
        "throttling/rateLimit" => s.throttling_rate_limit = p.f64_value(0.0, 1e12)?,
        "throttling/burstLimit" => {
            s.throttling_burst_limit = p.int_value(0, i64::from(i32::MAX))? as i32
        }
        "caching/enabled" => s.caching_enabled = p.bool_value()?,
        "caching/ttlInSeconds" => s.cache_ttl_in_seconds = p.int_value(0, 3600)? as i32,
        "caching/dataEncrypted" => s.cache_data_encrypted = p.bool_value()?,
        "caching/requireAuthorizationForCacheControl" => {
            s.require_authorization_for_cache_control = p.bool_value()?
        }
        "caching/unauthorizedCacheControlHeaderStrategy" => {
            s.unauthorized_cache_control_header_strategy = p.parsed_value(
                UnauthorizedCacheControlHeaderStrategy::parse,
                &UnauthorizedCacheControlHeaderStrategy::names(),
            )?
        }
        "metrics/enabled" => s.metrics_enabled = p.bool_value()?,
        // Read in any case, as AWS reads it (`info` is `INFO`).
        "logging/loglevel" => {
            s.logging_level =
                p.parsed_value(LoggingLevel::parse_ignore_case, &LoggingLevel::names())?
        }
        "logging/dataTrace" => s.data_trace_enabled = p.bool_value()?,
        _ => return Err(invalid_setting_path(p)),
    }
    Ok(())
}

/// `remove` of a method setting (or another path) the stage does not have, in AWS's words,
/// its trailing space included (recorded: `test_update_stage_remove_wildcard` "delete-error",
/// `test_stage_access_log_settings_validation` "invalid-path-remove",
/// `test_update_stage_canary_deployment_validation`).
fn nothing_to_remove(p: &PatchOp) -> ApiError {
    ApiError::bad_request(format!(
        "Cannot remove method setting {} because there is no method setting for this method ",
        p.path.strip_prefix('/').unwrap_or(&p.path)
    ))
}

/// AWS's list of UpdateStage paths, exactly as it prints it (its missing commas included).
const STAGE_PATHS: &str = "[/deploymentId, /description, /cacheClusterEnabled, /cacheClusterSize, /clientCertificateId, /accessLogSettings, /accessLogSettings/destinationArn, /accessLogSettings/format, /{resourcePath}/{httpMethod}/metrics/enabled, /{resourcePath}/{httpMethod}/logging/dataTrace, /{resourcePath}/{httpMethod}/logging/loglevel, /{resourcePath}/{httpMethod}/throttling/burstLimit/{resourcePath}/{httpMethod}/throttling/rateLimit/{resourcePath}/{httpMethod}/caching/ttlInSeconds, /{resourcePath}/{httpMethod}/caching/enabled, /{resourcePath}/{httpMethod}/caching/dataEncrypted, /{resourcePath}/{httpMethod}/caching/requireAuthorizationForCacheControl, /{resourcePath}/{httpMethod}/caching/unauthorizedCacheControlHeaderStrategy, /*/*/metrics/enabled, /*/*/logging/dataTrace, /*/*/logging/loglevel, /*/*/throttling/burstLimit /*/*/throttling/rateLimit /*/*/caching/ttlInSeconds, /*/*/caching/enabled, /*/*/caching/dataEncrypted, /*/*/caching/requireAuthorizationForCacheControl, /*/*/caching/unauthorizedCacheControlHeaderStrategy, /variables/{variable_name}, /tracingEnabled]";

/// An UpdateStage path that is none of the stage's: AWS's wording (localstack's AWS
/// recordings: `test_apigateway_common.snapshot.json` `test_create_update_stages`
/// "error-update-doc-version", "error-update-tags"; `test_apigateway_canary.snapshot.json`
/// `test_update_stage_canary_deployment_validation` "update-stage-canary-settings-bad-path-2").
fn invalid_setting_path(p: &PatchOp) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid method setting path: {}. Must be one of: {STAGE_PATHS}",
        p.path
    ))
}

/// Applies one UpdateStage patch operation. `deployment_exists` says whether a deployment id
/// names a deployment of the API.
pub fn apply_patch(
    stage: &mut Stage,
    p: &PatchOp,
    deployment_exists: &dyn Fn(&str) -> bool,
) -> Result<(), ApiError> {
    if p.op == Op::Copy {
        return apply_copy(stage, p);
    }
    let segs = p.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["canarySettings"] if p.op == Op::Remove => {
            stage.canary_settings = None;
        }
        ["canarySettings", "percentTraffic"] if p.op.sets() => {
            let v = p.f64_value(0.0, 100.0)?;
            canary(stage).percent_traffic = v;
        }
        // The canary's scalar settings take `replace` only (recorded:
        // `test_update_stage_canary_deployment_validation` "update-stage-add-deployment").
        ["canarySettings", "percentTraffic" | "deploymentId" | "useStageCache"]
            if p.op == Op::Add =>
        {
            return Err(ApiError::bad_request(format!(
                "Invalid add operation with path: {}",
                p.path
            )));
        }
        ["canarySettings", "deploymentId"] if p.op.sets() => {
            let id = p.required_string()?;
            if !deployment_exists(&id) {
                // Recorded: "update-stage-no-deployment".
                return Err(ApiError::bad_request("Deployment id does not exist"));
            }
            canary(stage).deployment_id = id;
        }
        ["canarySettings", "useStageCache"] if p.op.sets() => {
            let v = p.bool_value()?;
            canary(stage).use_stage_cache = v;
        }
        ["canarySettings", "stageVariableOverrides", name] => {
            if p.op.sets() {
                check_variable(name, p.value.as_deref().unwrap_or(""))?;
            }
            apply_to_map(
                &mut canary(stage).stage_variable_overrides,
                name.to_string(),
                p,
            )?
        }
        ["deploymentId"] => {
            let id = p.required_string()?;
            if !deployment_exists(&id) {
                return Err(ApiError::bad_request(format!(
                    "Invalid deployment identifier specified: {id}"
                )));
            }
            stage.deployment_id = id;
        }
        ["description"] => stage.description = p.optional_string()?,
        ["cacheClusterEnabled"] => {
            stage.cache_cluster_enabled = p.bool_value()?;
            if stage.cache_cluster_enabled && stage.cache_cluster_size.is_none() {
                stage.cache_cluster_size = Some("0.5".into());
            }
        }
        ["cacheClusterSize"] => stage.cache_cluster_size = Some(p.enum_value(CACHE_SIZES)?),
        ["tracingEnabled"] => stage.tracing_enabled = p.bool_value()?,
        ["accessLogSettings"] if p.op == Op::Remove => stage.access_log_settings = None,
        ["accessLogSettings", field @ ("format" | "destinationArn")] => {
            patch_access_log(stage, field, p)?
        }
        // Any other access log path, in AWS's words (recorded:
        // `test_stage_access_log_settings_validation` "invalid-path-*", "star-and-*",
        // "root-and-*").
        ["accessLogSettings", ..] if p.op == Op::Remove => return Err(nothing_to_remove(p)),
        ["accessLogSettings", ..] => {
            return Err(ApiError::bad_request(
                "Invalid accessLogSettings path. Must be one of : [/accessLogSettings/destinationArn, /accessLogSettings/format]",
            ))
        }
        ["variables", name] => {
            if p.op.sets() {
                check_variable(name, p.value.as_deref().unwrap_or(""))?;
            }
            apply_to_map(&mut stage.variables, name.to_string(), p)?
        }
        _ => {
            let Some((key, setting)) = method_setting_target(p) else {
                return Err(if p.op == Op::Remove {
                    nothing_to_remove(p)
                } else {
                    invalid_setting_path(p)
                });
            };
            if setting.is_empty() {
                // A whole entry: only removal makes sense.
                if p.op != Op::Remove {
                    return Err(invalid_setting_path(p));
                }
                stage
                    .method_settings
                    .remove(&key)
                    .ok_or_else(|| nothing_to_remove(p))?;
                return Ok(());
            }
            let base = stage
                .method_settings
                .get(ALL_METHODS)
                .cloned()
                .unwrap_or_default();
            let mut entry = stage.method_settings.get(&key).cloned().unwrap_or(base);
            apply_setting(&mut entry, &setting, p)?;
            stage.method_settings.insert(key, entry);
        }
    }
    Ok(())
}

/// The canary a `/canarySettings/…` path sets, made on first use (on the stage's own
/// deployment, no traffic).
fn canary(stage: &mut Stage) -> &mut CanarySettings {
    let deployment_id = stage.deployment_id.clone();
    stage.canary_settings.get_or_insert_with(|| CanarySettings {
        deployment_id,
        ..Default::default()
    })
}

/// The `copy` operations AWS's canary promotion uses: the canary's deployment to the stage
/// (`from` `/canarySettings/deploymentId`, `path` `/deploymentId`) and its variable overrides
/// into the stage's variables (`/canarySettings/stageVariableOverrides` → `/variables`).
fn apply_copy(stage: &mut Stage, p: &PatchOp) -> Result<(), ApiError> {
    let from = p.from.as_deref().unwrap_or("");
    // AWS's recorded wording (`test_apigateway_canary` `test_update_stage_with_copy_ops`
    // "copy-with-no-replace", "copy-with-bad-statement").
    let no_canary = || ApiError::bad_request("Promotion not available. Canary does not exist.");
    match (from, p.path.as_str()) {
        ("/canarySettings/deploymentId", "/deploymentId") => {
            let c = stage.canary_settings.as_ref().ok_or_else(no_canary)?;
            stage.deployment_id = c.deployment_id.clone();
        }
        ("/canarySettings/stageVariableOverrides", "/variables") => {
            let c = stage.canary_settings.as_ref().ok_or_else(no_canary)?;
            let overrides = c.stage_variable_overrides.clone();
            stage.variables.extend(overrides);
            check_variables(&stage.variables)?;
        }
        _ => {
            return Err(ApiError::bad_request(format!(
                "Invalid copy operation with path: {} and from {from}. Valid copy:path are \
                 [/deploymentId, /variables] and valid copy:from are \
                 [/canarySettings/deploymentId, /canarySettings/stageVariableOverrides]",
                p.path
            )))
        }
    }
    Ok(())
}

/// UpdateStage: rollback/forward (`/deploymentId`), settings, variables, method settings.
pub async fn update(
    state: &AdminState,
    api: &str,
    name: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let (mut stage, deployments) = read_api(state, api, |a| {
        let s = a
            .stages
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::invalid_id("stage", name))?;
        Ok((s, a.deployments.keys().cloned().collect::<Vec<_>>()))
    })?;
    let exists = |id: &str| deployments.iter().any(|d| d == id);
    for p in &ops {
        apply_patch(&mut stage, p, &exists)?;
    }
    check_stage(&stage)?;
    stage.last_updated_date = now_epoch();
    commit(
        state,
        Command::PutStage {
            api_id: api.to_string(),
            stage,
            create: false,
        },
    )
    .await?;
    stage_reply(state, api, name, 200)
}

/// DeleteStage (202).
pub async fn delete(state: &AdminState, api: &str, name: &str) -> Result<Reply, ApiError> {
    commit(
        state,
        Command::DeleteStage {
            api_id: api.to_string(),
            stage_name: name.to_string(),
            // It leaves every usage plan with it.
            referential: true,
        },
    )
    .await?;
    Ok(Reply::empty(202))
}

/// FlushStageCache (202): bumps the stage's cache epoch, so the data plane drops every
/// cached answer of that stage.
pub async fn flush_cache(state: &AdminState, api: &str, name: &str) -> Result<Reply, ApiError> {
    let epoch = read_api(state, api, |a| {
        if !a.stages.contains_key(name) {
            return Err(ApiError::invalid_id("stage", name));
        }
        Ok(())
    })
    .and_then(|()| {
        super::read(state, |reg| {
            Ok(reg.cache_epoch(api, name).saturating_add(1))
        })
    })?;
    commit(
        state,
        Command::FlushStageCache {
            api_id: api.to_string(),
            stage: name.to_string(),
            epoch,
        },
    )
    .await?;
    Ok(Reply::empty(202))
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

    fn stage() -> Stage {
        Stage {
            stage_name: "dev".into(),
            deployment_id: "d2".into(),
            ..Default::default()
        }
    }

    fn apply(s: &mut Stage, p: PatchOp) -> Result<(), ApiError> {
        apply_patch(s, &p, &|id| id == "d1" || id == "d2")
    }

    /// Canary settings made by patches, refused where AWS refuses, promoted by `copy`.
    #[test]
    fn canary_patches_and_promotion() {
        let mut s = stage();
        s.variables.insert("v".into(), "blue".into());
        apply(
            &mut s,
            op(Op::Replace, "/canarySettings/percentTraffic", Some("12.5")),
        )
        .unwrap();
        // Made on first use, on the stage's own deployment.
        let c = s.canary_settings.clone().unwrap();
        assert_eq!((c.percent_traffic, c.deployment_id.as_str()), (12.5, "d2"));
        apply(
            &mut s,
            op(Op::Replace, "/canarySettings/deploymentId", Some("d1")),
        )
        .unwrap();
        apply(
            &mut s,
            op(Op::Replace, "/canarySettings/useStageCache", Some("true")),
        )
        .unwrap();
        apply(
            &mut s,
            op(
                Op::Add,
                "/canarySettings/stageVariableOverrides/v",
                Some("green"),
            ),
        )
        .unwrap();
        for bad in [
            op(Op::Replace, "/canarySettings/percentTraffic", Some("100.5")),
            op(Op::Replace, "/canarySettings/percentTraffic", Some("-1")),
            op(Op::Replace, "/canarySettings/deploymentId", Some("nope")),
            op(Op::Replace, "/canarySettings/useStageCache", Some("maybe")),
            op(
                Op::Add,
                "/canarySettings/stageVariableOverrides/bad-name",
                Some("x"),
            ),
            op(Op::Replace, "/canarySettings/nope", Some("x")),
        ] {
            assert!(apply(&mut s, bad.clone()).is_err(), "{}", bad.path);
        }
        let copy = |from: &str, path: &str| PatchOp {
            op: Op::Copy,
            path: path.into(),
            value: None,
            from: Some(from.into()),
        };
        assert!(apply(
            &mut s,
            copy("/variables", "/canarySettings/stageVariableOverrides")
        )
        .is_err());
        apply(
            &mut s,
            copy("/canarySettings/stageVariableOverrides", "/variables"),
        )
        .unwrap();
        apply(
            &mut s,
            copy("/canarySettings/deploymentId", "/deploymentId"),
        )
        .unwrap();
        assert_eq!(s.deployment_id, "d1");
        assert_eq!(s.variables["v"], "green");
        apply(&mut s, op(Op::Remove, "/canarySettings", None)).unwrap();
        assert!(s.canary_settings.is_none());
        // Nothing left to copy from.
        let err = apply(
            &mut s,
            copy("/canarySettings/deploymentId", "/deploymentId"),
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "Promotion not available. Canary does not exist."
        );
    }

    #[test]
    fn canary_input_as_create_stage_and_create_deployment_take_it() {
        let c = canary_input(
            serde_json::json!({"percentTraffic": 5, "stageVariableOverrides": {"a": "b"}}),
            "d7",
            true,
        )
        .unwrap();
        assert_eq!((c.percent_traffic, c.deployment_id.as_str()), (5.0, "d7"));
        assert!(!c.use_stage_cache);
        // A deployment's canary names no deployment; unknown members and bad values refused.
        for (v, of_deployment) in [
            (serde_json::json!({"deploymentId": "x"}), true),
            (serde_json::json!({"percentTraffic": 200}), false),
            (serde_json::json!({"percentTraffic": "ten"}), false),
            (
                serde_json::json!({"stageVariableOverrides": {"a b": "c"}}),
                false,
            ),
            (serde_json::json!({"nope": 1}), false),
        ] {
            assert!(canary_input(v.clone(), "d", of_deployment).is_err(), "{v}");
        }
        let c = canary_input(serde_json::json!({"deploymentId": "d3"}), "d1", false).unwrap();
        assert_eq!(c.deployment_id, "d3");
    }

    #[test]
    fn stage_level_patches() {
        let mut s = stage();
        apply(&mut s, op(Op::Replace, "/deploymentId", Some("d1"))).unwrap();
        apply(&mut s, op(Op::Replace, "/description", Some("rolled back"))).unwrap();
        apply(
            &mut s,
            op(Op::Replace, "/cacheClusterEnabled", Some("true")),
        )
        .unwrap();
        apply(&mut s, op(Op::Replace, "/tracingEnabled", Some("true"))).unwrap();
        apply(
            &mut s,
            op(Op::Replace, "/variables/backend", Some("example.com:8080")),
        )
        .unwrap();
        apply(&mut s, op(Op::Add, "/variables/other", Some("x"))).unwrap();
        apply(&mut s, op(Op::Remove, "/variables/other", None)).unwrap();
        assert_eq!(s.deployment_id, "d1");
        assert_eq!(s.description.as_deref(), Some("rolled back"));
        assert!(s.cache_cluster_enabled);
        assert_eq!(s.cache_cluster_size.as_deref(), Some("0.5"));
        apply(&mut s, op(Op::Replace, "/cacheClusterSize", Some("6.1"))).unwrap();
        assert_eq!(s.cache_cluster_size.as_deref(), Some("6.1"));
        assert!(s.tracing_enabled);
        assert_eq!(
            s.variables,
            BTreeMap::from([("backend".to_string(), "example.com:8080".to_string())])
        );
    }

    #[test]
    fn stage_level_refusals() {
        let mut s = stage();
        for p in [
            op(Op::Replace, "/deploymentId", Some("nope")),
            op(Op::Replace, "/foo", Some("x")),
            op(Op::Replace, "/cacheClusterSize", Some("2")),
            op(Op::Replace, "/cacheClusterEnabled", Some("yes")),
            op(Op::Replace, "/variables/bad-name", Some("x")),
            op(Op::Replace, "/variables/ok", Some("has space")),
            op(Op::Remove, "/variables/absent", None),
            op(Op::Replace, "/*/*/throttling/nope", Some("1")),
            op(Op::Replace, "/*/*/caching/ttlInSeconds", Some("3601")),
            op(Op::Replace, "/*/*/logging/loglevel", Some("DEBUG")),
            op(Op::Replace, "/~1pets/FETCH/metrics/enabled", Some("true")),
            op(Op::Replace, "/pets/GET/metrics/enabled", Some("true")),
            op(Op::Replace, "/*/*", Some("x")),
            op(Op::Remove, "/*/*", None),
        ] {
            let e = apply(&mut s, p.clone()).unwrap_err();
            assert_eq!(e.status, 400, "{p:?}");
        }
        assert_eq!(s, stage());
        assert!(apply(&mut s, op(Op::Replace, "/foo", Some("x")))
            .unwrap_err()
            .message
            .starts_with("Invalid method setting path: /foo. Must be one of: [/deploymentId, "));
    }

    #[test]
    fn method_settings() {
        let mut s = stage();
        apply(
            &mut s,
            op(Op::Replace, "/*/*/throttling/rateLimit", Some("100")),
        )
        .unwrap();
        apply(
            &mut s,
            op(Op::Replace, "/*/*/throttling/burstLimit", Some("50")),
        )
        .unwrap();
        apply(
            &mut s,
            op(Op::Replace, "/*/*/logging/loglevel", Some("info")),
        )
        .unwrap();
        apply(
            &mut s,
            op(Op::Replace, "/*/*/metrics/enabled", Some("true")),
        )
        .unwrap();
        let all = &s.method_settings[ALL_METHODS];
        assert_eq!(all.throttling_rate_limit, 100.0);
        assert_eq!(all.throttling_burst_limit, 50);
        assert_eq!(all.logging_level, LoggingLevel::Info);
        assert!(all.metrics_enabled);
        // A method's entry starts from the stage-wide one.
        apply(
            &mut s,
            op(
                Op::Replace,
                "/~1pets~1{petId}/GET/caching/enabled",
                Some("true"),
            ),
        )
        .unwrap();
        apply(
            &mut s,
            op(
                Op::Replace,
                "/~1pets~1{petId}/GET/caching/ttlInSeconds",
                Some("60"),
            ),
        )
        .unwrap();
        apply(
            &mut s,
            op(
                Op::Replace,
                "/~1pets~1{petId}/GET/caching/unauthorizedCacheControlHeaderStrategy",
                Some("FAIL_WITH_403"),
            ),
        )
        .unwrap();
        let pet = &s.method_settings["pets/{petId}/GET"];
        assert!(pet.caching_enabled);
        assert_eq!(pet.cache_ttl_in_seconds, 60);
        assert_eq!(pet.throttling_rate_limit, 100.0);
        assert_eq!(
            pet.unauthorized_cache_control_header_strategy,
            UnauthorizedCacheControlHeaderStrategy::FailWith403
        );
        apply(&mut s, op(Op::Remove, "/~1pets~1{petId}/GET", None)).unwrap();
        assert!(!s.method_settings.contains_key("pets/{petId}/GET"));
        apply(&mut s, op(Op::Remove, "/*/*", None)).unwrap();
        assert!(s.method_settings.is_empty());
    }

    #[test]
    fn access_log_settings() {
        let mut s = stage();
        let arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/pets";
        apply(
            &mut s,
            op(Op::Replace, "/accessLogSettings/destinationArn", Some(arn)),
        )
        .unwrap();
        apply(
            &mut s,
            op(
                Op::Replace,
                "/accessLogSettings/format",
                Some("$context.requestId $context.status"),
            ),
        )
        .unwrap();
        check_stage(&s).unwrap();
        let a = s.access_log_settings.clone().unwrap();
        assert_eq!(a.destination_arn.as_deref(), Some(arn));
        assert_eq!(
            a.format.as_deref(),
            Some("$context.requestId $context.status")
        );
        apply(&mut s, op(Op::Remove, "/accessLogSettings/format", None)).unwrap();
        assert!(s.access_log_settings.as_ref().unwrap().format.is_none());
        apply(&mut s, op(Op::Remove, "/accessLogSettings", None)).unwrap();
        assert_eq!(s.access_log_settings, None);
        // Checked as AWS checks them.
        for (path, value) in [
            ("/accessLogSettings/format", "$context.status"),
            ("/accessLogSettings/destinationArn", "my-log-group"),
            ("/accessLogSettings/destinationArn", "arn:aws:s3:::bucket"),
        ] {
            let mut s = stage();
            apply(&mut s, op(Op::Replace, path, Some(value))).unwrap();
            let e = check_stage(&s).unwrap_err();
            assert_eq!(e.status, 400, "{path} {value}");
        }
        let mut s = stage();
        apply(
            &mut s,
            op(
                Op::Replace,
                "/accessLogSettings/format",
                Some("$context.status"),
            ),
        )
        .unwrap();
        assert!(check_stage(&s)
            .unwrap_err()
            .message
            .contains("$context.requestId or $context.extendedRequestId"));
        assert!(apply(
            &mut stage(),
            op(Op::Replace, "/accessLogSettings", Some("x"))
        )
        .is_err());
        assert!(apply(
            &mut stage(),
            op(Op::Replace, "/accessLogSettings/other", Some("x"))
        )
        .is_err());
    }

    #[test]
    fn variables_and_cache_sizes() {
        check_variables(&BTreeMap::from([(
            "url".to_string(),
            "https://h:1/p?q=1&r=2#f".to_string(),
        )]))
        .unwrap();
        assert!(check_variables(&BTreeMap::from([("u".to_string(), String::new())])).is_err());
        assert!(check_variables(&BTreeMap::from([(
            "u".to_string(),
            "x".repeat(MAX_VARIABLE_VALUE + 1)
        )]))
        .is_err());
        assert!(check_cache_size("237").is_ok());
        assert!(check_cache_size("1").is_err());
    }
}
