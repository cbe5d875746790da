//! The registry and its state machine: [`Registry::apply`] is the only way state changes.
//!
//! Application is deterministic: it reads no clock and no randomness, so every node that
//! applies the same commands in the same order holds the same registry.

use crate::command::{ApplyError, ApplyResult, Command, RequestId, Scope};
use crate::ids::derived_id;
use crate::model::{
    Account, ClientCertificate, Deployment, Iam, Resource, RestApi, Stage, UsagePlan,
};
use crate::shared::Shared;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod api_keys;
mod api_objects;
mod define;
mod documentation;
mod domains;
mod iam;
mod keys;
mod sessions;
mod versions;

pub use api_keys::ApiKeys;
pub use sessions::{Sessions, SESSION_WINDOW};
pub use versions::{VersionEntry, Versions};

/// How many distinct earlier trees [`Registry::share_trees`] compares a deployment's with.
pub const SHARE_CANDIDATES: usize = 8;

/// Most resources one API may have (AWS's default quota is 300).
pub const MAX_RESOURCES_PER_API: usize = 300;

/// The REST APIs by id: the map and each API shared copy-on-write ([`Shared`]), so a copy of
/// the registry shares both, and a change to one API afterwards copies the map of pointers
/// and that API, not every API.
pub type Apis = Shared<BTreeMap<String, Shared<RestApi>>>;

/// Everything the cluster agrees on.
///
/// Its collections that grow with the registry are [`Shared`] (copied on write), so a clone
/// costs a pointer per field: the state machine encodes a snapshot from a clone taken under
/// its lock, and the applies made meanwhile copy only what they change (issue 14). Each is
/// encoded as the value it holds: the layout of the encoding is unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    /// REST APIs by id.
    pub apis: Apis,
    /// Requests served per API key and day, as the nodes reported them.
    pub usage: Shared<UsageLedger>,
    /// API keys by id.
    pub api_keys: Shared<ApiKeys>,
    /// Usage plans by id.
    pub usage_plans: Shared<BTreeMap<String, UsagePlan>>,
    /// Response-cache epochs per (API id, stage name), bumped by FlushStageCache; a stage
    /// that was never flushed is at epoch 0. Kept here rather than on [`Stage`] so that the
    /// encoding of `Stage` (inside logged PutStage commands) stays as it was.
    pub cache_epochs: Shared<BTreeMap<(String, String), u64>>,
    /// How many applied commands changed each scope (see [`Scope`]) since versions were
    /// switched on; a scope never changed is at version 0. Guarded writes
    /// ([`Command::IfUnchanged`]) check these.
    #[serde(default)]
    pub versions: Versions,
    /// Whether versions are counted: from the first guarded write in the log on. Before it
    /// (a log written by builds without guarded writes, or a snapshot of one) nothing is
    /// counted, so every node holds the same versions whether it replayed those older
    /// commands or started from a snapshot taken after them.
    #[serde(default)]
    pub versioned: bool,
    /// Per usage plan, a UTC day in its initial quota period (the period whose limit the
    /// quota's `offset` reduces): the day the plan got its quota ([`Command::Dated`]). Plans
    /// created before builds that record it have none, and no offset.
    #[serde(default)]
    pub quota_starts: BTreeMap<String, i64>,
    /// The request identities whose [`Command::Once`] applied, within a bounded window: a
    /// retried request's commands apply once.
    #[serde(default)]
    pub sessions: Shared<Sessions>,
    /// IAM users, their policies and access keys.
    #[serde(default)]
    pub iam: Shared<Iam>,
    /// The account's settings (GetAccount, UpdateAccount).
    #[serde(default, skip_serializing_if = "Account::is_empty")]
    pub account: Account,
    /// Client certificates by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub client_certificates: BTreeMap<String, ClientCertificate>,
    /// Custom domain names by name, with their base path mappings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub domains: BTreeMap<String, crate::domain::DomainName>,
    /// The secret every node derives its TLS session-ticket keys from (so a client resumes
    /// on any node); set once, by the first custom domain name's creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ticket_secret: Option<Vec<u8>>,
    /// The ticket secret's generation and the secret it replaced
    /// ([`Command::RotateTlsTicketSecret`]).
    #[serde(
        default,
        skip_serializing_if = "crate::domain::TicketRotation::is_initial"
    )]
    pub tls_ticket_rotation: crate::domain::TicketRotation,
    /// Authorizer-cache epochs per (API id, stage name), bumped by
    /// FlushStageAuthorizersCache; a stage never flushed is at epoch 0.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorizer_epochs: BTreeMap<(String, String), u64>,
}

/// What usage of `key_id` through usage plan `plan_id` is reported and counted under:
/// `{plan id}:{key id}` (ids never hold a `:`). AWS counts usage per plan and key, so a key in
/// two plans (for different stages) spends each plan's quota only with that plan's requests.
pub fn plan_usage_id(plan_id: &str, key_id: &str) -> String {
    format!("{plan_id}:{key_id}")
}

/// The replicated usage ledger: what every node reported, counted once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageLedger {
    /// The last report sequence number applied, per node.
    pub last_seq: BTreeMap<u64, u64>,
    /// Requests per (key id, UTC day number since the epoch).
    pub used: BTreeMap<(String, i64), u64>,
    /// Quota adjustments set by UpdateUsage, per (plan id, key id, first day of the quota
    /// period): the key may make `limit + grant` requests in that period.
    pub granted: BTreeMap<(String, String, i64), i64>,
}

impl UsageLedger {
    /// Counts one report of `node_id` (usage on the UTC day containing `at`, epoch seconds),
    /// unless a report with this or a later sequence number was already counted.
    fn count(&mut self, node_id: u64, seq: u64, at: i64, deltas: &[crate::command::UsageDelta]) {
        let last = self.last_seq.get(&node_id).copied().unwrap_or(0);
        if seq <= last {
            return; // already counted
        }
        let day = at.div_euclid(86_400);
        for d in deltas {
            let slot = self.used.entry((d.key_id.clone(), day)).or_insert(0);
            *slot = slot.saturating_add(d.count);
        }
        self.last_seq.insert(node_id, seq);
    }

    /// Requests of `key_id` on the UTC day that contains `at` (epoch seconds).
    pub fn used_on(&self, key_id: &str, at: i64) -> u64 {
        self.used
            .get(&(key_id.to_string(), at.div_euclid(86_400)))
            .copied()
            .unwrap_or(0)
    }

    /// Requests of `key_id` through `plan_id` over the days `[start, end)` (UTC day numbers):
    /// those reported under the plan's usage id ([`plan_usage_id`]), plus those reported
    /// under the bare key id by builds that counted usage per key (in every plan of the key).
    pub fn used_in_plan(&self, plan_id: &str, key_id: &str, start: i64, end: i64) -> u64 {
        self.used_between(&plan_usage_id(plan_id, key_id), start, end)
            .saturating_add(self.used_between(key_id, start, end))
    }

    /// Requests reported under `usage_id` (a plan usage id or, from older builds, a bare key
    /// id) over the days `[start, end)` (UTC day numbers).
    pub fn used_between(&self, key_id: &str, start: i64, end: i64) -> u64 {
        if start >= end {
            return 0;
        }
        self.used
            .range((key_id.to_string(), start)..(key_id.to_string(), end))
            .map(|(_, n)| *n)
            .fold(0u64, |a, n| a.saturating_add(n))
    }
}

fn not_found(what: &str, id: &str) -> ApplyError {
    ApplyError::NotFound(format!("Invalid {what} identifier specified: {id}"))
}

impl Registry {
    /// Looks up an API.
    pub fn api(&self, id: &str) -> Result<&RestApi, ApplyError> {
        self.apis
            .get(id)
            .map(|a| &**a)
            .ok_or_else(|| not_found("API", id))
    }

    fn api_mut(&mut self, id: &str) -> Result<&mut RestApi, ApplyError> {
        self.apis
            .get_mut(id)
            .map(|a| &mut **a)
            .ok_or_else(|| not_found("API", id))
    }

    /// The version of `scope`: how many applied commands changed it.
    pub fn version(&self, scope: &Scope) -> u64 {
        self.versions.get(scope).copied().unwrap_or(0)
    }

    /// Applies one command. On error the registry is left exactly as it was. A command that
    /// succeeds bumps the version of every scope it changes.
    pub fn apply(&mut self, cmd: &Command) -> ApplyResult {
        if let Command::Once { request, command } = cmd {
            return self.apply_once(*request, command);
        }
        if let Command::IfUnchanged { guards, command } = cmd {
            if matches!(
                **command,
                Command::IfUnchanged { .. } | Command::Once { .. }
            ) {
                return Err(ApplyError::BadRequest("nested guarded write".into()));
            }
            for (scope, version) in guards {
                let now = self.version(scope);
                if now != *version {
                    return Err(ApplyError::Changed(format!(
                        "{scope:?} changed since it was read (version {now}, not {version})"
                    )));
                }
            }
            // The first guarded write switches versions on (they were all 0 until now).
            let versioned = std::mem::replace(&mut self.versioned, true);
            let res = self.apply(command);
            if res.is_err() {
                self.versioned = versioned;
            }
            return res;
        }
        if let Command::Dated { day, command } = cmd {
            return self.apply_dated(*day, command);
        }
        self.apply_unguarded(cmd)?;
        if let Command::DeleteUsagePlan { id, .. } = cmd {
            self.quota_starts.remove(id);
        }
        if self.versioned {
            for scope in cmd.scopes() {
                let v = self.versions.entry(scope).or_insert(0);
                *v = v.saturating_add(1);
            }
        }
        Ok(())
    }

    /// Applies `command` of the request `request` ([`Command::Once`]) unless that request was
    /// applied already, then answers as its first application did.
    fn apply_once(&mut self, request: RequestId, command: &Command) -> ApplyResult {
        if matches!(command, Command::Once { .. }) {
            return Err(ApplyError::BadRequest("nested request identity".into()));
        }
        if self.sessions.applied(&request) {
            return Ok(());
        }
        self.apply(command)?;
        self.sessions.record(request);
        Ok(())
    }

    /// Whether a command of the request `client` ([`RequestId::client`]) applied (within the
    /// window the registry remembers).
    pub fn request_applied(&self, client: u128) -> bool {
        self.sessions.any_applied(client)
    }

    /// Applies `command` made on UTC day `day` ([`Command::Dated`]): a usage plan that gets a
    /// quota, or a new quota period, starts its initial period that day and loses the
    /// UpdateUsage grants made for its old periods.
    fn apply_dated(&mut self, day: i64, command: &Command) -> ApplyResult {
        if matches!(
            command,
            Command::IfUnchanged { .. } | Command::Dated { .. } | Command::Once { .. }
        ) {
            return Err(ApplyError::BadRequest("nested dated command".into()));
        }
        let period_before = match command {
            Command::UpdateUsagePlan { plan } => self
                .usage_plans
                .get(&plan.id)
                .and_then(|p| p.quota.as_ref())
                .map(|q| q.period.clone()),
            _ => None,
        };
        self.apply(command)?;
        let (Command::CreateUsagePlan { plan } | Command::UpdateUsagePlan { plan }) = command
        else {
            return Ok(());
        };
        let same_period = matches!((&period_before, &plan.quota),
            (Some(before), Some(q)) if *before == q.period);
        if !same_period {
            match plan.quota {
                Some(_) => self.quota_starts.insert(plan.id.clone(), day),
                None => self.quota_starts.remove(&plan.id),
            };
            if matches!(command, Command::UpdateUsagePlan { .. }) {
                self.usage.granted.retain(|(p, _, _), _| *p != plan.id);
            }
        }
        Ok(())
    }

    fn apply_unguarded(&mut self, cmd: &Command) -> ApplyResult {
        match cmd {
            Command::CreateRestApi {
                id,
                root_resource_id,
                settings,
                created_date,
                clone_from,
            } => {
                if self.apis.contains_key(id) {
                    return Err(ApplyError::Conflict(format!("API {id} already exists")));
                }
                let mut objects = ApiObjects::default();
                let (root_resource_id, resources) = match clone_from {
                    None => {
                        let root = Resource {
                            id: root_resource_id.clone(),
                            parent_id: None,
                            path_part: String::new(),
                            methods: BTreeMap::new(),
                        };
                        (
                            root_resource_id.clone(),
                            BTreeMap::from([(root_resource_id.clone(), root)]),
                        )
                    }
                    Some(src) => {
                        let src = self.api(src)?;
                        objects = ApiObjects::cloned(src, id);
                        clone_resources(id, &src.root_resource_id, &src.resources)
                    }
                };
                self.apis.insert(
                    id.clone(),
                    RestApi {
                        id: id.clone(),
                        settings: settings.clone(),
                        created_date: *created_date,
                        root_resource_id,
                        resources: resources.into(),
                        deployments: BTreeMap::new(),
                        stages: BTreeMap::new(),
                        gateway_responses: objects.gateway_responses,
                        models: objects.models,
                        request_validators: objects.request_validators,
                        documentation_parts: BTreeMap::new(),
                        documentation_versions: BTreeMap::new(),
                        authorizers: objects.authorizers,
                    }
                    .into(),
                );
                Ok(())
            }
            Command::UpdateRestApi { id, settings } => {
                self.api_mut(id)?.settings = settings.clone();
                Ok(())
            }
            Command::DeleteRestApi { id, referential } => {
                self.apis.remove(id).ok_or_else(|| not_found("API", id))?;
                self.cache_epochs.retain(|(api, _), _| api != id);
                if *referential {
                    self.detach_from_plans(|s| s.api_id == *id);
                }
                self.authorizer_epochs.retain(|(api, _), _| api != id);
                Ok(())
            }
            Command::CreateResource {
                api_id,
                resource_id,
                parent_id,
                path_part,
            } => {
                let api = self.api_mut(api_id)?;
                if api.resources.len() >= MAX_RESOURCES_PER_API {
                    return Err(ApplyError::BadRequest(format!(
                        "Maximum number of resources ({MAX_RESOURCES_PER_API}) reached"
                    )));
                }
                if api.resources.contains_key(resource_id) {
                    return Err(ApplyError::Conflict(format!(
                        "Resource {resource_id} already exists"
                    )));
                }
                if !api.resources.contains_key(parent_id) {
                    return Err(not_found("resource", parent_id));
                }
                check_path_part(&api.resources, parent_id, path_part, None)?;
                api.resources.insert(
                    resource_id.clone(),
                    Resource {
                        id: resource_id.clone(),
                        parent_id: Some(parent_id.clone()),
                        path_part: path_part.clone(),
                        methods: BTreeMap::new(),
                    },
                );
                Ok(())
            }
            Command::UpdateResource {
                api_id,
                resource_id,
                parent_id,
                path_part,
            } => {
                let api = self.api_mut(api_id)?;
                if *resource_id == api.root_resource_id {
                    return Err(ApplyError::BadRequest(
                        "The root resource cannot be modified".into(),
                    ));
                }
                if !api.resources.contains_key(resource_id) {
                    return Err(not_found("resource", resource_id));
                }
                if !api.resources.contains_key(parent_id) {
                    return Err(not_found("resource", parent_id));
                }
                // The new parent must not be the resource itself or one of its descendants.
                let mut cur = Some(parent_id.as_str());
                while let Some(c) = cur {
                    if c == resource_id {
                        // AWS's wording (localstack's AWS recordings, `test_apigateway_api`
                        // `test_update_resource_behaviour` "update-parent-id-to-subresource-id").
                        return Err(ApplyError::BadRequest(
                            "Resources cannot be cyclical.".into(),
                        ));
                    }
                    cur = api.resources.get(c).and_then(|r| r.parent_id.as_deref());
                }
                check_path_part(&api.resources, parent_id, path_part, Some(resource_id))?;
                if let Some(r) = api.resources.get_mut(resource_id) {
                    r.parent_id = Some(parent_id.clone());
                    r.path_part = path_part.clone();
                }
                Ok(())
            }
            Command::DeleteResource {
                api_id,
                resource_id,
            } => {
                let api = self.api_mut(api_id)?;
                if *resource_id == api.root_resource_id {
                    return Err(ApplyError::BadRequest(
                        "The root resource cannot be deleted".into(),
                    ));
                }
                if !api.resources.contains_key(resource_id) {
                    return Err(not_found("resource", resource_id));
                }
                let doomed = descendants(&api.resources, resource_id);
                for id in doomed {
                    api.resources.remove(&id);
                }
                Ok(())
            }
            Command::PutMethod {
                api_id,
                resource_id,
                method,
            } => {
                check_http_method(&method.http_method)?;
                let api = self.api_mut(api_id)?;
                let res = api
                    .resources
                    .get_mut(resource_id)
                    .ok_or_else(|| not_found("resource", resource_id))?;
                res.methods
                    .insert(method.http_method.clone(), Box::new(method.clone()));
                Ok(())
            }
            Command::DeleteMethod {
                api_id,
                resource_id,
                http_method,
            } => {
                let api = self.api_mut(api_id)?;
                let res = api
                    .resources
                    .get_mut(resource_id)
                    .ok_or_else(|| not_found("resource", resource_id))?;
                res.methods.remove(http_method).ok_or_else(|| {
                    ApplyError::NotFound("Invalid Method identifier specified".into())
                })?;
                Ok(())
            }
            Command::CreateDeployment {
                api_id,
                deployment_id,
                description,
                created_date,
                stage,
            } => {
                let api = self.api_mut(api_id)?;
                if api.deployments.contains_key(deployment_id) {
                    return Err(ApplyError::Conflict(format!(
                        "Deployment {deployment_id} already exists"
                    )));
                }
                let has_method = api.resources.values().any(|r| !r.methods.is_empty());
                if !has_method {
                    return Err(ApplyError::BadRequest(
                        "The REST API doesn't contain any methods".into(),
                    ));
                }
                if let Some(stage) = stage {
                    check_stage_name(&stage.stage_name)?;
                }
                api.deployments.insert(
                    deployment_id.clone(),
                    Deployment {
                        id: deployment_id.clone(),
                        description: description.clone(),
                        created_date: *created_date,
                        root_resource_id: api.root_resource_id.clone(),
                        // Shared with the working tree until it changes (copy on write).
                        resources: api.resources.clone(),
                        gateway_responses: api.gateway_responses.clone(),
                        models: api.models.clone(),
                        request_validators: api.request_validators.clone(),
                        authorizers: api.authorizers.clone(),
                    },
                );
                if let Some(stage) = stage {
                    match api.stages.get_mut(&stage.stage_name) {
                        Some(existing) => {
                            existing.deployment_id = deployment_id.clone();
                            existing.last_updated_date = *created_date;
                        }
                        None => {
                            let mut s = stage.clone();
                            s.deployment_id = deployment_id.clone();
                            api.stages.insert(s.stage_name.clone(), s);
                        }
                    }
                }
                Ok(())
            }
            Command::UpdateDeployment {
                api_id,
                deployment_id,
                description,
            } => {
                let api = self.api_mut(api_id)?;
                let d = api
                    .deployments
                    .get_mut(deployment_id)
                    .ok_or_else(|| not_found("deployment", deployment_id))?;
                d.description = description.clone();
                Ok(())
            }
            Command::DeleteDeployment {
                api_id,
                deployment_id,
            } => {
                let api = self.api_mut(api_id)?;
                if !api.deployments.contains_key(deployment_id) {
                    return Err(not_found("deployment", deployment_id));
                }
                if api.stages.values().any(|s| {
                    s.deployment_id == *deployment_id
                        || s.canary_settings
                            .as_ref()
                            .is_some_and(|c| c.deployment_id == *deployment_id)
                }) {
                    return Err(ApplyError::BadRequest(
                        "Active stages pointing to this deployment must be moved or deleted".into(),
                    ));
                }
                api.deployments.remove(deployment_id);
                Ok(())
            }
            Command::PutStage {
                api_id,
                stage,
                create,
            } => {
                check_stage_name(&stage.stage_name)?;
                let api = self.api_mut(api_id)?;
                if !api.deployments.contains_key(&stage.deployment_id) {
                    return Err(not_found("deployment", &stage.deployment_id));
                }
                if let Some(c) = &stage.canary_settings {
                    if !api.deployments.contains_key(&c.deployment_id) {
                        // AWS's recorded answer (localstack's AWS recordings,
                        // `test_apigateway_canary` "bad-canary-deployment-id").
                        return Err(ApplyError::BadRequest(
                            "Deployment id does not exist".into(),
                        ));
                    }
                }
                let exists = api.stages.contains_key(&stage.stage_name);
                if *create && exists {
                    return Err(ApplyError::Conflict("Stage already exists".into()));
                }
                if !*create && !exists {
                    return Err(not_found("stage", &stage.stage_name));
                }
                api.stages.insert(stage.stage_name.clone(), stage.clone());
                Ok(())
            }
            Command::ReportUsage {
                node_id,
                seq,
                at,
                deltas,
            } => {
                self.usage.count(*node_id, *seq, *at, deltas);
                Ok(())
            }
            Command::ReportLoad {
                node_id,
                seq,
                at_ms,
                deltas,
                ..
            } => {
                // The demand is soft state for the nodes' limit shares, not part of the registry.
                self.usage
                    .count(*node_id, *seq, at_ms.div_euclid(1000), deltas);
                Ok(())
            }
            Command::CreateApiKey { .. }
            | Command::UpdateApiKey { .. }
            | Command::DeleteApiKey { .. }
            | Command::ImportApiKeys { .. }
            | Command::CreateUsagePlan { .. }
            | Command::UpdateUsagePlan { .. }
            | Command::DeleteUsagePlan { .. }
            | Command::CreateUsagePlanKey { .. }
            | Command::DeleteUsagePlanKey { .. }
            | Command::UpdateUsage { .. } => self.apply_key_command(cmd),
            Command::PutGatewayResponse { .. }
            | Command::UpdateGatewayResponse { .. }
            | Command::DeleteGatewayResponse { .. }
            | Command::CreateModel { .. }
            | Command::UpdateModel { .. }
            | Command::DeleteModel { .. }
            | Command::CreateRequestValidator { .. }
            | Command::UpdateRequestValidator { .. }
            | Command::DeleteRequestValidator { .. }
            | Command::CreateAuthorizer { .. }
            | Command::UpdateAuthorizer { .. }
            | Command::DeleteAuthorizer { .. } => self.apply_api_object_command(cmd),
            Command::PutDocumentationPart { .. }
            | Command::DeleteDocumentationPart { .. }
            | Command::CreateDocumentationVersion { .. }
            | Command::UpdateDocumentationVersion { .. }
            | Command::DeleteDocumentationVersion { .. } => self.apply_documentation_command(cmd),
            Command::FlushStageAuthorizersCache {
                api_id,
                stage,
                epoch,
            } => {
                let api = self.api(api_id)?;
                if !api.stages.contains_key(stage) {
                    return Err(not_found("stage", stage));
                }
                let slot = self
                    .authorizer_epochs
                    .entry((api_id.clone(), stage.clone()))
                    .or_insert(0);
                *slot = (*slot).saturating_add(1).max(*epoch);
                Ok(())
            }
            Command::CreateIamUser { .. }
            | Command::DeleteIamUser { .. }
            | Command::CreateAccessKey { .. }
            | Command::UpdateAccessKey { .. }
            | Command::DeleteAccessKey { .. }
            | Command::PutUserPolicy { .. }
            | Command::DeleteUserPolicy { .. } => self.apply_iam_command(cmd),
            Command::DefineRestApi { api, create } => self.define_rest_api(api, *create),
            Command::CreateDomainName { .. }
            | Command::UpdateDomainName { .. }
            | Command::DeleteDomainName { .. }
            | Command::CreateBasePathMapping { .. }
            | Command::UpdateBasePathMapping { .. }
            | Command::DeleteBasePathMapping { .. }
            | Command::InitTlsTicketSecret { .. }
            | Command::RotateTlsTicketSecret { .. } => self.apply_domain_command(cmd),
            Command::IfUnchanged { .. } | Command::Dated { .. } | Command::Once { .. } => {
                Err(ApplyError::BadRequest(
                    "a guarded, dated or identified command is applied by Registry::apply".into(),
                ))
            }
            Command::FlushStageCache {
                api_id,
                stage,
                epoch,
            } => {
                let api = self.api(api_id)?;
                if !api.stages.contains_key(stage) {
                    return Err(not_found("stage", stage));
                }
                let slot = self
                    .cache_epochs
                    .entry((api_id.clone(), stage.clone()))
                    .or_insert(0);
                *slot = (*slot).saturating_add(1).max(*epoch);
                Ok(())
            }
            Command::DeleteStage {
                api_id,
                stage_name,
                referential,
            } => {
                let api = self.api_mut(api_id)?;
                api.stages
                    .remove(stage_name)
                    .ok_or_else(|| not_found("stage", stage_name))?;
                if *referential {
                    self.detach_from_plans(|s| s.api_id == *api_id && s.stage == *stage_name);
                }
                Ok(())
            }
            Command::CreateClientCertificate { certificate } => {
                if self.client_certificates.contains_key(&certificate.id) {
                    return Err(ApplyError::Conflict(format!(
                        "Client certificate {} already exists",
                        certificate.id
                    )));
                }
                self.client_certificates
                    .insert(certificate.id.clone(), certificate.clone());
                Ok(())
            }
            Command::UpdateClientCertificate {
                id,
                description,
                tags,
            } => {
                let c = self
                    .client_certificates
                    .get_mut(id)
                    .ok_or_else(|| client_certificate_not_found(id))?;
                c.description = description.clone();
                c.tags = tags.clone();
                Ok(())
            }
            Command::DeleteClientCertificate { id } => {
                self.client_certificates
                    .remove(id)
                    .ok_or_else(|| client_certificate_not_found(id))?;
                Ok(())
            }
            Command::UpdateAccount { account } => {
                if let Some(t) = &account.throttle {
                    if !t.rate_limit.is_finite() || t.rate_limit < 0.0 || t.burst_limit < 0 {
                        return Err(ApplyError::BadRequest(
                            "The account's rate and burst limits must not be negative".into(),
                        ));
                    }
                }
                self.account = account.clone();
                Ok(())
            }
        }
    }

    /// Takes the API stages `gone` selects out of every usage plan (their API or stage was
    /// deleted); each plan changed counts as a change of its scope.
    fn detach_from_plans(&mut self, gone: impl Fn(&crate::model::ApiStage) -> bool) {
        for plan in self.usage_plans.values_mut() {
            let before = plan.api_stages.len();
            plan.api_stages.retain(|s| !gone(s));
            if plan.api_stages.len() != before && self.versioned {
                let v = self
                    .versions
                    .entry(Scope::UsagePlan(plan.id.clone()))
                    .or_insert(0);
                *v = v.saturating_add(1);
            }
        }
    }

    /// The response-cache epoch of a stage (0 until its cache is first flushed).
    pub fn cache_epoch(&self, api_id: &str, stage: &str) -> u64 {
        self.cache_epochs
            .get(&(api_id.to_string(), stage.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// The authorizer-cache epoch of a stage (0 until its authorizer caches are first
    /// flushed).
    pub fn authorizer_epoch(&self, api_id: &str, stage: &str) -> u64 {
        self.authorizer_epochs
            .get(&(api_id.to_string(), stage.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Shares equal resource trees again (after decoding, which makes one copy per holder):
    /// each deployment's tree with the working tree's, or with an earlier deployment's
    /// (the last [`SHARE_CANDIDATES`] distinct ones), so a registry read from a snapshot
    /// holds what the log's replay would. Costs one comparison per candidate tree.
    pub fn share_trees(&mut self) {
        for api in self.apis.values_mut() {
            let mut seen: Vec<crate::model::Resources> = vec![api.resources.clone()];
            for dep in api.deployments.values_mut() {
                match seen.iter().find(|t| **t == dep.resources) {
                    Some(t) => dep.resources = t.clone(),
                    None => {
                        if seen.len() > SHARE_CANDIDATES {
                            seen.remove(1);
                        }
                        seen.push(dep.resources.clone());
                    }
                }
            }
        }
    }

    /// The stage and the deployment it serves, if both exist.
    pub fn deployed_stage(&self, api_id: &str, stage: &str) -> Option<(&Stage, &Deployment)> {
        let api = self.apis.get(api_id)?;
        let stage = api.stages.get(stage)?;
        let dep = api.deployments.get(&stage.deployment_id)?;
        Some((stage, dep))
    }
}

/// An API's gateway responses, models and request validators, as a clone gets them.
#[derive(Default)]
struct ApiObjects {
    gateway_responses: BTreeMap<crate::GatewayResponseType, crate::model::GatewayResponse>,
    models: BTreeMap<String, crate::model::Model>,
    request_validators: BTreeMap<String, crate::model::RequestValidator>,
    authorizers: BTreeMap<String, crate::model::Authorizer>,
}

impl ApiObjects {
    /// `src`'s objects for its clone `new_api`: the same ids (they are unique only within an
    /// API, and the clone's methods keep naming them), with model schemas' `$ref`s to `src`'s
    /// models pointed at the clone's.
    fn cloned(src: &RestApi, new_api: &str) -> ApiObjects {
        let from = crate::model::model_url(&src.id, "");
        let to = crate::model::model_url(new_api, "");
        let models = src
            .models
            .iter()
            .map(|(name, m)| {
                let mut m = m.clone();
                m.schema = m.schema.map(|s| s.replace(&from, &to));
                (name.clone(), m)
            })
            .collect();
        ApiObjects {
            gateway_responses: src.gateway_responses.clone(),
            models,
            request_validators: src.request_validators.clone(),
            authorizers: src.authorizers.clone(),
        }
    }
}

/// Copies a resource tree under fresh ids derived from the new API's id.
fn clone_resources(
    new_api: &str,
    root: &str,
    resources: &BTreeMap<String, Resource>,
) -> (String, BTreeMap<String, Resource>) {
    let map = |old: &str| derived_id(new_api, old, 10);
    let out = resources
        .values()
        .map(|r| {
            let mut n = r.clone();
            n.id = map(&r.id);
            n.parent_id = r.parent_id.as_deref().map(map);
            (n.id.clone(), n)
        })
        .collect();
    (map(root), out)
}

/// The ids of a resource and all below it.
fn descendants(resources: &BTreeMap<String, Resource>, id: &str) -> Vec<String> {
    let mut out = vec![id.to_string()];
    let mut i = 0;
    while i < out.len() {
        let cur = out[i].clone();
        out.extend(
            resources
                .values()
                .filter(|r| r.parent_id.as_deref() == Some(cur.as_str()))
                .map(|r| r.id.clone()),
        );
        i += 1;
    }
    out
}

/// Validates a path part and its siblings: one `{param}` or `{proxy+}` per level, greedy only
/// as a leaf's segment, no duplicate names.
pub(crate) fn check_path_part(
    resources: &BTreeMap<String, Resource>,
    parent_id: &str,
    part: &str,
    moving: Option<&str>,
) -> ApplyResult {
    let bad = || {
        ApplyError::BadRequest(format!(
            "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end and an optional plus sign before the closing brace: {part}"
        ))
    };
    if part.is_empty() {
        return Err(bad());
    }
    let inner = if let Some(rest) = part.strip_prefix('{') {
        let rest = rest.strip_suffix('}').ok_or_else(bad)?;
        rest.strip_suffix('+').unwrap_or(rest)
    } else {
        part
    };
    if inner.is_empty()
        || !inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
    {
        return Err(bad());
    }
    let is_var = part.starts_with('{');
    let parent = resources.get(parent_id);
    // AWS's wording names the parent (localstack's AWS recordings, `test_apigateway_api`
    // `test_create_proxy_resource_validation` "create-proxy-static-child-resource").
    if let Some(p) = parent.filter(|p| p.path_part.ends_with("+}")) {
        return Err(ApplyError::BadRequest(format!(
            "Cannot create a child of a resource with a greedy path variable: {}",
            p.path_part
        )));
    }
    for sib in resources.values() {
        if sib.parent_id.as_deref() != Some(parent_id) || Some(sib.id.as_str()) == moving {
            continue;
        }
        if sib.path_part == part {
            return Err(ApplyError::Conflict(format!(
                "Another resource with the same parent already has this name: {part}"
            )));
        }
        if is_var && sib.path_part.starts_with('{') {
            return Err(ApplyError::BadRequest(format!(
                "A sibling ({}) of this resource already has a variable path part -- only one is allowed",
                sib.path_part
            )));
        }
    }
    Ok(())
}

pub(crate) fn check_http_method(m: &str) -> ApplyResult {
    match m {
        "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS" | "ANY" => Ok(()),
        _ => Err(ApplyError::BadRequest(format!(
            "Invalid HttpMethod specified: {m}"
        ))),
    }
}

fn check_stage_name(name: &str) -> ApplyResult {
    if name.is_empty()
        || name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ApplyError::BadRequest(
            "Stage name only allows a-zA-Z0-9_-".into(),
        ));
    }
    Ok(())
}

/// AWS's words for an unknown client certificate.
fn client_certificate_not_found(id: &str) -> ApplyError {
    ApplyError::NotFound(format!(
        "Invalid Client Certificate identifier specified: {id}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Integration, IntegrationType, Method, RestApiSettings};

    fn create_api(r: &mut Registry, id: &str) {
        r.apply(&Command::CreateRestApi {
            id: id.into(),
            root_resource_id: "root01".into(),
            settings: RestApiSettings {
                name: "pets".into(),
                ..Default::default()
            },
            created_date: 1,
            clone_from: None,
        })
        .unwrap();
    }

    fn add(r: &mut Registry, api: &str, id: &str, parent: &str, part: &str) -> ApplyResult {
        r.apply(&Command::CreateResource {
            api_id: api.into(),
            resource_id: id.into(),
            parent_id: parent.into(),
            path_part: part.into(),
        })
    }

    #[test]
    fn a_replayed_request_applies_once_and_answers_as_the_first_time() {
        let mut r = Registry::default();
        let once = |part, command: Command| Command::Once {
            request: RequestId { client: 42, part },
            command: Box::new(command),
        };
        let create = |id: &str| Command::CreateRestApi {
            id: id.into(),
            root_resource_id: "root01".into(),
            settings: RestApiSettings::default(),
            created_date: 1,
            clone_from: None,
        };
        assert!(!r.request_applied(42));
        assert_eq!(r.apply(&once(0, create("a1"))), Ok(()));
        assert!(r.request_applied(42));
        let after_first = r.clone();
        // The same request again (also when a rerun minted another id): the first answer,
        // nothing applied.
        assert_eq!(r.apply(&once(0, create("a1"))), Ok(()));
        assert_eq!(r.apply(&once(0, create("a2"))), Ok(()));
        assert_eq!(r, after_first);
        assert_eq!(r.apis.len(), 1);
        // Its next command is another identity and applies, once.
        let deploy = Command::CreateDeployment {
            api_id: "a1".into(),
            deployment_id: "d1".into(),
            description: None,
            created_date: 2,
            stage: None,
        };
        add(&mut r, "a1", "res1", "root01", "pets").unwrap();
        r.apply(&Command::PutMethod {
            api_id: "a1".into(),
            resource_id: "res1".into(),
            method: mock_method("GET"),
        })
        .unwrap();
        assert_eq!(r.apply(&once(1, deploy.clone())), Ok(()));
        assert_eq!(r.apply(&once(1, deploy.clone())), Ok(()));
        assert_eq!(r.apis["a1"].deployments.len(), 1);
        // A refused command records nothing: its retry is applied (and refused) again.
        let dup = once(2, create("a1"));
        assert!(matches!(r.apply(&dup), Err(ApplyError::Conflict(_))));
        assert!(!r.sessions.applied(&RequestId {
            client: 42,
            part: 2
        }));
        // Nesting is refused.
        assert!(r.apply(&once(3, once(4, create("a3")))).is_err());
        // Another request with the same command is not a replay.
        let other = Command::Once {
            request: RequestId {
                client: 43,
                part: 0,
            },
            command: Box::new(create("a4")),
        };
        r.apply(&other).unwrap();
        assert_eq!(r.apis.len(), 2);
        // The window survives a snapshot (the registry's encoding), and a snapshot of a build
        // before sessions still decodes, remembering nothing.
        let back: Registry = crate::codec::decode(&crate::codec::encode(&r)).unwrap();
        assert_eq!(back, r);
        assert!(back.sessions.applied(&RequestId {
            client: 42,
            part: 1
        }));
        // A snapshot of a build before sessions (bincode, format 1) has none.
        use crate::legacy::{self, bincode_v1};
        let old: bincode_v1::RegistryBeforeSessions = legacy::upgrade(&r).unwrap();
        let bytes = legacy::encode_bincode(&old, 1);
        assert!(legacy::decode_bincode::<bincode_v1::Registry>(&bytes, 1).is_err());
        let upgraded: Registry =
            legacy::decode_upgraded::<bincode_v1::RegistryBeforeSessions, _>(&bytes, 1).unwrap();
        assert!(upgraded.sessions.is_empty() && upgraded.apis == r.apis);
    }

    #[test]
    fn a_guarded_write_applies_only_at_the_version_it_read() {
        let mut r = Registry::default();
        let scope = Scope::Api("a1".into());
        create_api(&mut r, "a1");
        create_api(&mut r, "a2");
        // Until the first guarded write, versions are not counted (a log of older builds).
        assert!(!r.versioned);
        assert_eq!(r.version(&scope), 0);
        let guarded = |version, part: &str| Command::IfUnchanged {
            guards: vec![(scope.clone(), version)],
            command: Box::new(Command::CreateResource {
                api_id: "a1".into(),
                resource_id: format!("r{part}"),
                parent_id: "root01".into(),
                path_part: part.into(),
            }),
        };
        // A refused first guarded write leaves versions off.
        let mut bad = guarded(0, "x");
        if let Command::IfUnchanged { command, .. } = &mut bad {
            **command = Command::DeleteResource {
                api_id: "a1".into(),
                resource_id: "nope".into(),
            };
        }
        assert!(r.apply(&bad).is_err());
        assert!(!r.versioned);
        r.apply(&guarded(0, "first")).unwrap();
        assert!(r.versioned, "the first guarded write switches versions on");
        assert_eq!(r.version(&scope), 1);
        // A second write that read the same version lost the race: refused, nothing changed.
        let before = r.clone();
        let err = r.apply(&guarded(0, "second")).unwrap_err();
        assert!(matches!(err, ApplyError::Changed(_)), "{err:?}");
        assert_eq!(r, before);
        // Read again, it applies.
        r.apply(&guarded(r.version(&scope), "second")).unwrap();
        assert!(r.api("a1").unwrap().resources.contains_key("rsecond"));
        // Unguarded commands count too, once versions are on; another API's version is its own.
        add(&mut r, "a1", "r3", "root01", "third").unwrap();
        assert_eq!(r.version(&scope), 3);
        assert_eq!(r.version(&Scope::Api("a2".into())), 0);
        // Every guard must hold.
        let two = Command::IfUnchanged {
            guards: vec![(scope.clone(), 3), (Scope::Api("a2".into()), 1)],
            command: Box::new(Command::DeleteResource {
                api_id: "a1".into(),
                resource_id: "r3".into(),
            }),
        };
        assert!(matches!(r.apply(&two), Err(ApplyError::Changed(_))));
        // A refused command (here: unknown parent) changes no version.
        let v = r.version(&scope);
        assert!(add(&mut r, "a1", "r9", "nope", "x").is_err());
        assert_eq!(r.version(&scope), v);
        // Usage reports change no scope.
        r.apply(&Command::ReportUsage {
            node_id: 1,
            seq: 1,
            at: 0,
            deltas: vec![],
        })
        .unwrap();
        assert_eq!(r.version(&scope), v);
        // Guards do not nest.
        let nested = Command::IfUnchanged {
            guards: vec![(scope.clone(), v)],
            command: Box::new(guarded(v, "fourth")),
        };
        assert!(matches!(r.apply(&nested), Err(ApplyError::BadRequest(_))));
        assert_eq!(r.version(&scope), v);
    }

    #[test]
    fn a_guarded_command_is_seen_through_by_the_data_plane_hooks() {
        let inner = Command::PutStage {
            api_id: "a1".into(),
            stage: Default::default(),
            create: false,
        };
        let guarded = Command::IfUnchanged {
            guards: vec![(Scope::Api("a1".into()), 3)],
            command: Box::new(inner.clone()),
        };
        assert_eq!(guarded.stage_affecting_api(), Some("a1"));
        assert_eq!(guarded.scopes(), inner.scopes());
        assert_eq!(guarded.inner(), &inner);
        let key = Command::IfUnchanged {
            guards: vec![(Scope::ApiKey("k1".into()), 1)],
            command: Box::new(Command::DeleteApiKey { id: "k1".into() }),
        };
        assert!(key.affects_keys());
    }

    fn mock_method(verb: &str) -> Method {
        Method {
            http_method: verb.into(),
            authorization_type: crate::model::AuthorizationType::None,
            integration: Some(Integration {
                kind: IntegrationType::Mock,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn resource_paths_and_sibling_rules() {
        let mut r = Registry::default();
        create_api(&mut r, "a1");
        add(&mut r, "a1", "p", "root01", "pets").unwrap();
        add(&mut r, "a1", "pid", "p", "{petId}").unwrap();
        assert!(matches!(
            add(&mut r, "a1", "x", "p", "{other}"),
            Err(ApplyError::BadRequest(_))
        ));
        assert!(matches!(
            add(&mut r, "a1", "y", "root01", "pets"),
            Err(ApplyError::Conflict(_))
        ));
        assert!(matches!(
            add(&mut r, "a1", "z", "root01", "bad/part"),
            Err(ApplyError::BadRequest(_))
        ));
        add(&mut r, "a1", "g", "root01", "{proxy+}").unwrap();
        assert!(matches!(
            add(&mut r, "a1", "under", "g", "x"),
            Err(ApplyError::BadRequest(_))
        ));
        let api = r.api("a1").unwrap();
        assert_eq!(
            RestApi::resource_path(&api.resources, "pid").as_deref(),
            Some("/pets/{petId}")
        );
        assert_eq!(
            RestApi::resource_path(&api.resources, "root01").as_deref(),
            Some("/")
        );
    }

    #[test]
    fn deployments_share_an_unchanged_tree_and_a_decoded_registry_shares_it_again() {
        use crate::shared::Shared;
        let mut r = Registry::default();
        create_api(&mut r, "a1");
        r.apply(&Command::PutMethod {
            api_id: "a1".into(),
            resource_id: "root01".into(),
            method: mock_method("GET"),
        })
        .unwrap();
        let deploy = |id: &str, stage: &str| Command::CreateDeployment {
            api_id: "a1".into(),
            deployment_id: id.into(),
            description: None,
            created_date: 5,
            stage: Some(Stage {
                stage_name: stage.into(),
                ..Default::default()
            }),
        };
        r.apply(&deploy("d1", "a")).unwrap();
        r.apply(&deploy("d2", "b")).unwrap();
        let api = r.api("a1").unwrap();
        let (d1, d2) = (&api.deployments["d1"], &api.deployments["d2"]);
        assert!(Shared::ptr_eq(&d1.resources, &d2.resources));
        assert!(Shared::ptr_eq(&d1.resources, &api.resources));
        // A change to the working tree copies it; the deployments keep the frozen one.
        add(&mut r, "a1", "p", "root01", "pets").unwrap();
        r.apply(&deploy("d3", "a")).unwrap();
        let api = r.api("a1").unwrap();
        assert_eq!(api.deployments["d1"].resources.len(), 1);
        assert_eq!(api.deployments["d3"].resources.len(), 2);
        assert!(Shared::ptr_eq(
            &api.deployments["d3"].resources,
            &api.resources
        ));
        assert!(!Shared::ptr_eq(
            &api.deployments["d1"].resources,
            &api.resources
        ));
        // Decoded, every holder has its own copy; shared again, equal trees are one.
        let mut back: Registry = crate::codec::decode(&crate::codec::encode(&r)).unwrap();
        assert_eq!(back, r);
        back.share_trees();
        assert_eq!(back, r);
        let api = back.api("a1").unwrap();
        let d = &api.deployments;
        assert!(Shared::ptr_eq(&d["d1"].resources, &d["d2"].resources));
        assert!(Shared::ptr_eq(&d["d3"].resources, &api.resources));
        assert!(!Shared::ptr_eq(&d["d1"].resources, &d["d3"].resources));
    }

    #[test]
    fn deployment_freezes_and_rollback_and_delete_rules() {
        let mut r = Registry::default();
        create_api(&mut r, "a1");
        // No methods yet: deploying is refused.
        let deploy = |id: &str| Command::CreateDeployment {
            api_id: "a1".into(),
            deployment_id: id.into(),
            description: None,
            created_date: 5,
            stage: Some(Stage {
                stage_name: "prod".into(),
                ..Default::default()
            }),
        };
        assert!(matches!(
            r.apply(&deploy("d1")),
            Err(ApplyError::BadRequest(_))
        ));
        r.apply(&Command::PutMethod {
            api_id: "a1".into(),
            resource_id: "root01".into(),
            method: mock_method("GET"),
        })
        .unwrap();
        r.apply(&deploy("d1")).unwrap();
        // Changing the working tree leaves the deployment as it was.
        add(&mut r, "a1", "p", "root01", "pets").unwrap();
        let (_, d) = r.deployed_stage("a1", "prod").unwrap();
        assert_eq!(d.resources.len(), 1);
        r.apply(&deploy("d2")).unwrap();
        let (s, d) = r.deployed_stage("a1", "prod").unwrap();
        assert_eq!((s.deployment_id.as_str(), d.resources.len()), ("d2", 2));
        // d2 is in use: deleting it is refused; d1 is free.
        let del = |id: &str| Command::DeleteDeployment {
            api_id: "a1".into(),
            deployment_id: id.into(),
        };
        assert!(matches!(
            r.apply(&del("d2")),
            Err(ApplyError::BadRequest(_))
        ));
        // Roll back prod to d1.
        let mut stage = r.api("a1").unwrap().stages["prod"].clone();
        stage.deployment_id = "d1".into();
        r.apply(&Command::PutStage {
            api_id: "a1".into(),
            stage,
            create: false,
        })
        .unwrap();
        assert_eq!(r.deployed_stage("a1", "prod").unwrap().1.id, "d1");
        // A canary on d2 keeps it in use too; a canary on a missing deployment is refused.
        let mut stage = r.api("a1").unwrap().stages["prod"].clone();
        let put = |stage: Stage| Command::PutStage {
            api_id: "a1".into(),
            stage,
            create: false,
        };
        stage.canary_settings = Some(crate::model::CanarySettings {
            percent_traffic: 10.0,
            deployment_id: "d9".into(),
            ..Default::default()
        });
        assert_eq!(
            r.apply(&put(stage.clone())),
            Err(ApplyError::BadRequest(
                "Deployment id does not exist".into()
            ))
        );
        stage.canary_settings.as_mut().unwrap().deployment_id = "d2".into();
        r.apply(&put(stage.clone())).unwrap();
        assert!(matches!(
            r.apply(&del("d2")),
            Err(ApplyError::BadRequest(_))
        ));
        // The canary survives the snapshot format.
        let back: Registry = crate::codec::decode(&crate::codec::encode(&r)).unwrap();
        assert_eq!(
            back.api("a1").unwrap().stages["prod"].canary_settings,
            stage.canary_settings
        );
        stage.canary_settings = None;
        r.apply(&put(stage)).unwrap();
        r.apply(&del("d2")).unwrap();
        assert!(matches!(r.apply(&del("d2")), Err(ApplyError::NotFound(_))));
    }

    #[test]
    fn usage_reports_count_once_per_sequence_number() {
        use crate::command::UsageDelta;
        let mut r = Registry::default();
        let report = |node_id, seq, count| Command::ReportUsage {
            node_id,
            seq,
            at: 86_400 * 3 + 10,
            deltas: vec![UsageDelta {
                key_id: "k1".into(),
                count,
            }],
        };
        r.apply(&report(1, 1, 5)).unwrap();
        // A retry of the same report (e.g. after a leader change) changes nothing.
        r.apply(&report(1, 1, 5)).unwrap();
        r.apply(&report(2, 1, 7)).unwrap();
        r.apply(&report(1, 2, 1)).unwrap();
        // An older sequence number arriving late is also ignored.
        r.apply(&report(2, 1, 7)).unwrap();
        assert_eq!(r.usage.used_on("k1", 86_400 * 3), 13);
        assert_eq!(r.usage.used_on("k1", 86_400 * 4), 0);
        assert_eq!(r.usage.last_seq[&1], 2);
    }

    #[test]
    fn load_reports_share_the_usage_sequence_and_ignore_demand() {
        use crate::command::{LimitDemand, UsageDelta};
        let mut r = Registry::default();
        let load = |seq, count, requests| Command::ReportLoad {
            node_id: 1,
            seq,
            at_ms: (86_400 * 3 + 10) * 1000,
            deltas: vec![UsageDelta {
                key_id: "k1".into(),
                count,
            }],
            interval_ms: 250,
            demand: vec![LimitDemand {
                limit_id: 9,
                requests,
            }],
        };
        r.apply(&load(1, 5, 100)).unwrap();
        let after_first = r.clone();
        // The same sequence number again (a retry), even with other demand: nothing changes.
        r.apply(&load(1, 5, 7)).unwrap();
        assert_eq!(r, after_first);
        // An old-style report with a used sequence number is ignored too.
        r.apply(&Command::ReportUsage {
            node_id: 1,
            seq: 1,
            at: 86_400 * 3,
            deltas: vec![UsageDelta {
                key_id: "k1".into(),
                count: 50,
            }],
        })
        .unwrap();
        r.apply(&load(2, 2, 0)).unwrap();
        assert_eq!(r.usage.used_on("k1", 86_400 * 3), 7);
        assert_eq!(r.usage.last_seq[&1], 2);
    }

    #[test]
    fn clone_gets_new_ids_and_is_independent() {
        let mut r = Registry::default();
        create_api(&mut r, "a1");
        add(&mut r, "a1", "p", "root01", "pets").unwrap();
        r.apply(&Command::PutMethod {
            api_id: "a1".into(),
            resource_id: "p".into(),
            method: mock_method("GET"),
        })
        .unwrap();
        r.apply(&Command::CreateRestApi {
            id: "a2".into(),
            root_resource_id: "ignored".into(),
            settings: RestApiSettings::default(),
            created_date: 2,
            clone_from: Some("a1".into()),
        })
        .unwrap();
        let a2 = r.api("a2").unwrap().clone();
        assert_eq!(a2.resources.len(), 2);
        assert!(!a2.resources.contains_key("p"));
        let pets = a2
            .resources
            .values()
            .find(|r| r.path_part == "pets")
            .unwrap();
        assert_eq!(
            pets.parent_id.as_deref(),
            Some(a2.root_resource_id.as_str())
        );
        assert!(pets.methods.contains_key("GET"));
        // Deleting from the clone leaves the source alone.
        r.apply(&Command::DeleteResource {
            api_id: "a2".into(),
            resource_id: pets.id.clone(),
        })
        .unwrap();
        assert_eq!(r.api("a1").unwrap().resources.len(), 2);
        assert_eq!(r.api("a2").unwrap().resources.len(), 1);
    }

    #[test]
    fn delete_resource_removes_descendants_and_refused_commands_change_nothing() {
        let mut r = Registry::default();
        create_api(&mut r, "a1");
        add(&mut r, "a1", "p", "root01", "pets").unwrap();
        add(&mut r, "a1", "pid", "p", "{petId}").unwrap();
        let before = r.clone();
        assert!(r
            .apply(&Command::UpdateResource {
                api_id: "a1".into(),
                resource_id: "p".into(),
                parent_id: "pid".into(),
                path_part: "x".into(),
            })
            .is_err());
        assert_eq!(before, r);
        r.apply(&Command::DeleteResource {
            api_id: "a1".into(),
            resource_id: "p".into(),
        })
        .unwrap();
        assert_eq!(r.api("a1").unwrap().resources.len(), 1);
    }

    /// The registry's refusals AWS recorded, byte for byte (localstack's snapshot tests,
    /// recorded against AWS: `tests/aws/services/apigateway/*.snapshot.json`).
    #[test]
    fn recorded_registry_wording() {
        let msg = |e: ApplyError| match e {
            ApplyError::NotFound(m)
            | ApplyError::Conflict(m)
            | ApplyError::BadRequest(m)
            | ApplyError::Changed(m) => m,
        };
        let mut r = Registry::default();
        create_api(&mut r, "a1");
        add(&mut r, "a1", "p", "root01", "pets").unwrap();
        add(&mut r, "a1", "pid", "p", "{petId}").unwrap();
        // api / test_update_resource_behaviour / update-parent-id-to-subresource-id
        let cyc = r
            .apply(&Command::UpdateResource {
                api_id: "a1".into(),
                resource_id: "p".into(),
                parent_id: "pid".into(),
                path_part: "pets".into(),
            })
            .unwrap_err();
        assert_eq!(msg(cyc), "Resources cannot be cyclical.");
        // api / test_update_resource_behaviour / existing-future-sibling-path
        add(&mut r, "a1", "d", "root01", "dogs").unwrap();
        let sib = r
            .apply(&Command::UpdateResource {
                api_id: "a1".into(),
                resource_id: "d".into(),
                parent_id: "root01".into(),
                path_part: "pets".into(),
            })
            .unwrap_err();
        assert_eq!(
            msg(sib),
            "Another resource with the same parent already has this name: pets"
        );
        // api / test_create_proxy_resource_validation / create-proxy-static-child-resource,
        // create-proxy-dynamic-sibling-resource
        add(&mut r, "a1", "g", "root01", "{proxy+}").unwrap();
        assert_eq!(
            msg(add(&mut r, "a1", "c", "g", "child").unwrap_err()),
            "Cannot create a child of a resource with a greedy path variable: {proxy+}"
        );
        assert_eq!(
            msg(add(&mut r, "a1", "v", "root01", "{id}").unwrap_err()),
            "A sibling ({proxy+}) of this resource already has a variable path part -- only one is allowed"
        );
        // extended / test_create_api_key_with_invalid_value / create-api-key-short-value,
        // create-api-key-invalid-value-too-long
        let key = |value: String| Command::CreateApiKey {
            key: crate::model::ApiKey {
                id: "k1".into(),
                value,
                ..Default::default()
            },
        };
        assert_eq!(
            msg(r.apply(&key("short".into())).unwrap_err()),
            "API Key value should be at least 20 characters"
        );
        assert_eq!(
            msg(r.apply(&key("a".repeat(129))).unwrap_err()),
            "API Key value exceeds maximum size of 128 characters"
        );
        r.apply(&key("a".repeat(128))).unwrap();
    }
}
