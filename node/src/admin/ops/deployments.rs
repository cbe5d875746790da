//! CreateDeployment, GetDeployments, GetDeployment, UpdateDeployment, DeleteDeployment.

use super::mint_id;
use super::stages::{check_cache_size, check_stage, check_variables};
use super::{commit, non_empty, read_api, reread, Reply, WRITE_ATTEMPTS};
use crate::admin::error::ApiError;
use crate::admin::input::{self, CreateDeploymentIn};
use crate::admin::limits;
use crate::admin::paging::{PageRequest, Query};
use crate::admin::patch;
use crate::admin::wire::{self, Page};
use crate::admin::AdminState;
use crate::ids::now_epoch;
use std::collections::BTreeMap;
use tollgate_proto::model::{RestApi, Stage};
use tollgate_proto::Command;

/// What a deployment needs of the working tree: at least one method (the state machine
/// checks that too) and an integration on every method.
fn check_deployable(api: &RestApi) -> Result<(), ApiError> {
    let mut any = false;
    for r in api.resources.values() {
        for m in r.methods.values() {
            any = true;
            if m.integration.is_none() {
                return Err(ApiError::bad_request("No integration defined for method"));
            }
        }
    }
    if !any {
        return Err(ApiError::bad_request(
            "The REST API doesn't contain any methods",
        ));
    }
    Ok(())
}

/// The stage settings a CreateDeployment may carry besides the stage's name.
#[derive(Clone)]
struct StageSettings {
    description: Option<String>,
    variables: BTreeMap<String, String>,
    cache_cluster_enabled: Option<bool>,
    cache_cluster_size: Option<String>,
    tracing_enabled: Option<bool>,
}

impl StageSettings {
    fn from_input(i: &mut CreateDeploymentIn) -> Result<StageSettings, ApiError> {
        let out = StageSettings {
            description: non_empty(i.stage_description.take()),
            variables: i.variables.take().unwrap_or_default(),
            cache_cluster_enabled: i.cache_cluster_enabled,
            cache_cluster_size: non_empty(i.cache_cluster_size.take()),
            tracing_enabled: i.tracing_enabled,
        };
        check_variables(&out.variables)?;
        limits::check_description("The stage description", out.description.as_deref())?;
        if let Some(size) = &out.cache_cluster_size {
            check_cache_size(size)?;
        }
        Ok(out)
    }

    fn is_empty(&self) -> bool {
        self.description.is_none()
            && self.variables.is_empty()
            && self.cache_cluster_enabled.is_none()
            && self.cache_cluster_size.is_none()
            && self.tracing_enabled.is_none()
    }

    /// Applies the settings given to a stage (variables are merged in).
    fn apply(self, s: &mut Stage) {
        if self.description.is_some() {
            s.description = self.description;
        }
        s.variables.extend(self.variables);
        if let Some(e) = self.cache_cluster_enabled {
            s.cache_cluster_enabled = e;
        }
        if self.cache_cluster_size.is_some() {
            s.cache_cluster_size = self.cache_cluster_size;
        }
        if s.cache_cluster_enabled && s.cache_cluster_size.is_none() {
            s.cache_cluster_size = Some("0.5".into());
        }
        if let Some(t) = self.tracing_enabled {
            s.tracing_enabled = t;
        }
    }
}

/// CreateDeployment (201): freezes the working tree; with `stageName`, points that stage at
/// the new deployment, creating it with the given settings when it does not exist. When it
/// exists, settings given with the call (variables merged in, description, cache, tracing)
/// are applied to it by a second command right after.
pub async fn create(state: &AdminState, api: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let mut i: CreateDeploymentIn = input::parse(body)?;
    crate::admin::enums::check(
        "CreateDeployment",
        "cacheClusterSize",
        i.cache_cluster_size.as_deref(),
    )?;
    let id = mint_id(10);
    // A canary deployment: made without moving the stage, then set as the stage's canary.
    let canary = match i.canary_settings.take() {
        None => None,
        Some(v) => Some(super::stages::canary_input(v, &id, true)?),
    };
    let settings = StageSettings::from_input(&mut i)?;
    let given_stage = i.stage_name.clone();
    let stage_name = non_empty(i.stage_name);
    limits::check_description("The description", i.description.as_deref())?;
    let existing = read_api(state, api, |a| {
        check_deployable(a)?;
        Ok(stage_name
            .as_ref()
            .is_some_and(|n| a.stages.contains_key(n)))
    })?;
    if canary.is_some() && !existing {
        return Err(ApiError::bad_request(canary_needs_stage(
            given_stage.as_deref(),
        )));
    }
    let now = now_epoch();
    let (stage, later) = match stage_name {
        None => (None, None),
        Some(name) if canary.is_some() => (None, Some((name, settings))),
        Some(name) if existing => {
            let later = (!settings.is_empty()).then_some((name.clone(), settings));
            let placeholder = Stage {
                stage_name: name,
                ..Default::default()
            };
            (Some(placeholder), later)
        }
        Some(stage_name) => {
            let mut stage = Stage {
                stage_name,
                deployment_id: id.clone(),
                created_date: now,
                last_updated_date: now,
                ..Default::default()
            };
            settings.apply(&mut stage);
            (Some(stage), None)
        }
    };
    commit(
        state,
        Command::CreateDeployment {
            api_id: api.to_string(),
            deployment_id: id.clone(),
            description: non_empty(i.description),
            created_date: now,
            stage,
        },
    )
    .await?;
    if let Some((name, settings)) = later {
        // The deployment is made: from here a write that came in between through another node
        // cannot send the whole call round again (that would deploy twice), so this step alone
        // reads the stage afresh and merges the settings again.
        let mut attempt = 1;
        loop {
            let mut stage = reread(state, |reg| {
                reg.api(api)?
                    .stages
                    .get(&name)
                    .cloned()
                    .ok_or_else(|| ApiError::invalid_id("stage", &name))
            })?;
            settings.clone().apply(&mut stage);
            if let Some(c) = &canary {
                stage.canary_settings = Some(c.clone());
            }
            check_stage(&stage)?;
            stage.last_updated_date = now;
            let put = Command::PutStage {
                api_id: api.to_string(),
                stage,
                create: false,
            };
            match commit(state, put).await {
                Err(e) if e.is_concurrent_modification() && attempt < WRITE_ATTEMPTS => {
                    attempt += 1;
                }
                other => break other?,
            }
        }
    }
    deployment_reply(state, api, &id, false, 201)
}

fn deployment_reply(
    state: &AdminState,
    api: &str,
    id: &str,
    summary: bool,
    status: u16,
) -> Result<Reply, ApiError> {
    let out = read_api(state, api, |a| {
        let d = a
            .deployments
            .get(id)
            .ok_or_else(|| ApiError::invalid_id("deployment", id))?;
        Ok(wire::deployment(d, summary))
    })?;
    Reply::json(status, &out)
}

/// GetDeployments: a page of deployments, oldest first.
pub fn list(state: &AdminState, api: &str, query: &Query) -> Result<Reply, ApiError> {
    let page = PageRequest::from_query(query)?;
    let mut items = read_api(state, api, |a| {
        Ok(a.deployments
            .values()
            .map(|d| {
                (
                    format!("{:020}-{}", d.created_date.max(0), d.id),
                    wire::deployment(d, false),
                )
            })
            .collect::<Vec<_>>())
    })?;
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let (item, position) = page.apply(items);
    Reply::json(200, &Page { item, position })
}

/// GetDeployment; `embed=apisummary` adds the deployed methods.
pub fn get(state: &AdminState, api: &str, id: &str, query: &Query) -> Result<Reply, ApiError> {
    deployment_reply(state, api, id, query.has_value("embed", "apisummary"), 200)
}

/// UpdateDeployment (`/description`).
pub async fn update(
    state: &AdminState,
    api: &str,
    id: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut description = read_api(state, api, |a| {
        a.deployments
            .get(id)
            .map(|d| d.description.clone())
            .ok_or_else(|| ApiError::invalid_id("deployment", id))
    })?;
    for p in &ops {
        match p.path.as_str() {
            "/description" => {
                description = p.optional_string()?;
                limits::check_description("The description", description.as_deref())?;
            }
            _ => return Err(p.invalid_path()),
        }
    }
    commit(
        state,
        Command::UpdateDeployment {
            api_id: api.to_string(),
            deployment_id: id.to_string(),
            description,
        },
    )
    .await?;
    deployment_reply(state, api, id, false, 200)
}

/// DeleteDeployment (202); refused while a stage points at it.
pub async fn delete(state: &AdminState, api: &str, id: &str) -> Result<Reply, ApiError> {
    commit(
        state,
        Command::DeleteDeployment {
            api_id: api.to_string(),
            deployment_id: id.to_string(),
        },
    )
    .await?;
    Ok(Reply::empty(202))
}

/// A canary deployment's stage must be given and exist: AWS's recorded wording, the missing
/// space after "specified." included (localstack's AWS recordings, `test_apigateway_canary`
/// `test_create_canary_deployment_validation` "create-canary-deployment-no-stage",
/// "-empty-stage", "-non-existing-stage").
pub fn canary_needs_stage(given: Option<&str>) -> String {
    match given {
        None => "Invalid deployment content specified.Non null and non empty stageName must be provided for canary deployment. Provided value is null".into(),
        Some("") => "Invalid deployment content specified.Non null and non empty stageName must be provided for canary deployment. Provided value is ".into(),
        Some(name) => format!("Invalid deployment content specified.Stage {name} must already be created before making a canary release deployment"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_settings_merge_into_an_existing_stage() {
        let mut i: CreateDeploymentIn = input::parse(
            br#"{"stageName":"dev","variables":{"b":"2"},"cacheClusterEnabled":true,"stageDescription":"d"}"#,
        )
        .unwrap();
        let settings = StageSettings::from_input(&mut i).unwrap();
        assert!(!settings.is_empty());
        let mut s = Stage {
            stage_name: "dev".into(),
            variables: BTreeMap::from([("a".into(), "1".into()), ("b".into(), "1".into())]),
            tracing_enabled: true,
            ..Default::default()
        };
        settings.apply(&mut s);
        assert_eq!(s.variables["a"], "1");
        assert_eq!(s.variables["b"], "2");
        assert_eq!(s.description.as_deref(), Some("d"));
        assert!(s.cache_cluster_enabled);
        assert_eq!(s.cache_cluster_size.as_deref(), Some("0.5"));
        assert!(s.tracing_enabled);
        let mut empty: CreateDeploymentIn = input::parse(br#"{"stageName":"dev"}"#).unwrap();
        assert!(StageSettings::from_input(&mut empty).unwrap().is_empty());
        let mut bad: CreateDeploymentIn = input::parse(br#"{"variables":{"x":"a b"}}"#).unwrap();
        assert!(StageSettings::from_input(&mut bad).is_err());
        let mut bad: CreateDeploymentIn = input::parse(br#"{"cacheClusterSize":"3"}"#).unwrap();
        assert!(StageSettings::from_input(&mut bad).is_err());
    }
}
