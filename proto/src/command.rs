//! The replicated commands: every change to the registry is one of these.
//!
//! A command carries everything its application needs (ids, timestamps), so applying it is a
//! pure function of the registry and the command, the same on every node. New variants are only
//! ever appended, so older log entries keep decoding.

use crate::domain::{BasePathMapping, DomainName};
use crate::gateway_response::GatewayResponseType;
use crate::model::{
    AccessKey, Account, ApiKey, Authorizer, ClientCertificate, DocumentationPart, GatewayResponse,
    IamUser, Method, Model, RequestValidator, RestApi, RestApiSettings, Stage, UsagePlan,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A change to the registry. (Variant fields are named for what they hold.)
///
/// Variants differ in size (a whole `Method` or `Stage` against an id); commands are built once
/// per admin call and never stored in bulk in memory, so boxing would buy nothing.
#[allow(missing_docs, clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Create an API, empty but for its root resource, or as a copy of `clone_from`.
    CreateRestApi {
        id: String,
        root_resource_id: String,
        settings: RestApiSettings,
        created_date: i64,
        /// When set, resources and methods are copied from this API under fresh ids derived
        /// from `id` (see [`crate::ids::derived_id`]).
        clone_from: Option<String>,
    },
    /// Replace an API's settings.
    UpdateRestApi {
        id: String,
        settings: RestApiSettings,
    },
    /// Delete an API with everything in it. With `referential`, its stages are also taken out
    /// of every usage plan's API stages, as AWS does (earlier builds logged this command
    /// without it and left them: replaying their commands must keep doing so, or a node that
    /// replays them and one that starts from a snapshot taken after them would differ).
    DeleteRestApi {
        id: String,
        #[serde(default, skip_serializing_if = "is_false")]
        referential: bool,
    },
    /// Add a child resource.
    CreateResource {
        api_id: String,
        resource_id: String,
        parent_id: String,
        path_part: String,
    },
    /// Move or rename a resource.
    UpdateResource {
        api_id: String,
        resource_id: String,
        parent_id: String,
        path_part: String,
    },
    /// Delete a resource and its descendants.
    DeleteResource { api_id: String, resource_id: String },
    /// Create or replace a method (with its integration and responses).
    PutMethod {
        api_id: String,
        resource_id: String,
        method: Method,
    },
    /// Delete a method.
    DeleteMethod {
        api_id: String,
        resource_id: String,
        http_method: String,
    },
    /// Freeze the API's current resources into a deployment; optionally point a stage at it
    /// (creating the stage from `stage` when it does not exist yet).
    CreateDeployment {
        api_id: String,
        deployment_id: String,
        description: Option<String>,
        created_date: i64,
        stage: Option<Stage>,
    },
    /// Change a deployment's description.
    UpdateDeployment {
        api_id: String,
        deployment_id: String,
        description: Option<String>,
    },
    /// Delete a deployment no stage points at.
    DeleteDeployment {
        api_id: String,
        deployment_id: String,
    },
    /// Create (`create == true`, must not exist) or replace (must exist) a stage.
    PutStage {
        api_id: String,
        stage: Stage,
        create: bool,
    },
    /// Delete a stage. With `referential`, it is also taken out of every usage plan's API
    /// stages (see [`Command::DeleteRestApi`]).
    DeleteStage {
        api_id: String,
        stage_name: String,
        #[serde(default, skip_serializing_if = "is_false")]
        referential: bool,
    },
    /// Requests a node served per API key since its previous report. `seq` increases by one
    /// per report of that node; a report whose `seq` was already applied (a retry after a lost
    /// answer or a leader change) changes nothing, so usage is never counted twice. `at` is the
    /// reporting time (epoch seconds) that picks the UTC day.
    ReportUsage {
        node_id: u64,
        seq: u64,
        at: i64,
        deltas: Vec<UsageDelta>,
    },
    /// Create an API key. Its value must be 20 to 128 characters and unlike every other key's.
    CreateApiKey { key: ApiKey },
    /// Replace an API key (it must exist; same rules on the value).
    UpdateApiKey { key: ApiKey },
    /// Delete an API key, and remove it from every usage plan.
    DeleteApiKey { id: String },
    /// Create or replace (same id) many keys at once and subscribe them to plans:
    /// `plan_keys` holds `(plan id, key id)` pairs. All or nothing.
    ImportApiKeys {
        keys: Vec<ApiKey>,
        plan_keys: Vec<(String, String)>,
    },
    /// Create a usage plan (its `key_ids` must be empty).
    CreateUsagePlan { plan: UsagePlan },
    /// Replace a usage plan's settings and stages; its keys are kept as they are (`key_ids`
    /// of the command is ignored: keys change only through the usage plan key commands).
    UpdateUsagePlan { plan: UsagePlan },
    /// Delete a usage plan (with its keys' subscriptions and quota grants). With
    /// `referential`, a plan that still has API stages is refused, as AWS refuses it (see
    /// [`Command::DeleteRestApi`] for why earlier commands go without).
    DeleteUsagePlan {
        id: String,
        #[serde(default, skip_serializing_if = "is_false")]
        referential: bool,
    },
    /// Subscribe an existing key to a plan. Refused (conflict) when the key is in the plan
    /// already, or in another plan covering one of this plan's API stages.
    CreateUsagePlanKey { plan_id: String, key_id: String },
    /// Unsubscribe a key from a plan.
    DeleteUsagePlanKey { plan_id: String, key_id: String },
    /// Set what is left of a key's quota in the plan's quota period that contains `at`
    /// (epoch seconds) to `remaining`: stored as a grant (limit adjustment) for that period
    /// in [`crate::registry::UsageLedger::granted`], so later use keeps counting down from it.
    UpdateUsage {
        plan_id: String,
        key_id: String,
        at: i64,
        remaining: i64,
    },
    /// Invalidate a stage's response cache: its cache epoch becomes at least `epoch` and at
    /// least one more than before ([`crate::Registry::cache_epoch`]).
    FlushStageCache {
        api_id: String,
        stage: String,
        epoch: u64,
    },
    /// What a node served and saw since its previous report: usage per API key (counted into
    /// the ledger exactly as [`Command::ReportUsage`], sharing its sequence numbers) and the
    /// demand it saw per rate limit. The registry ignores the demand: every node reads it from
    /// the applied command to set its own share of each limit, so it is soft state that the
    /// next report replaces. `at_ms` is the reporting time (epoch milliseconds).
    ReportLoad {
        node_id: u64,
        seq: u64,
        at_ms: i64,
        deltas: Vec<UsageDelta>,
        /// The span the demand was counted over, in milliseconds.
        interval_ms: u32,
        demand: Vec<LimitDemand>,
    },
    /// `command`, applied only if every scope in `guards` is still at its version (see
    /// [`Scope`]): a read-modify-write that read those scopes at those versions is refused with
    /// [`ApplyError::Changed`] when another write of one of them came first, instead of
    /// writing back over it. `command` is never itself an `IfUnchanged`.
    IfUnchanged {
        guards: Vec<(Scope, u64)>,
        command: Box<Command>,
    },
    /// `command`, made on UTC day `day` (days since the epoch), for what applying it records
    /// about when: a usage plan created with a quota, or given one (or a new period) by an
    /// update, starts its initial quota period that day, the period whose limit is reduced by
    /// the quota's `offset`. `command` is never itself a guarded or dated command.
    Dated { day: i64, command: Box<Command> },
    /// `command`, applied at most once for `request` (a client session, as in the Raft
    /// dissertation §6.3): when the registry has recorded `request` as applied, applying this
    /// again changes nothing and answers `Ok` as the first application did; otherwise
    /// `command` is applied and, when it applies, `request` is recorded
    /// ([`crate::registry::Sessions`]). A refused command records nothing, so a retry may
    /// apply it. `command` is never itself a `Once`.
    Once {
        request: RequestId,
        command: Box<Command>,
    },
    /// Set an API's gateway response of `response.response_type` (created or replaced, as
    /// AWS's PutGatewayResponse).
    PutGatewayResponse {
        api_id: String,
        response: GatewayResponse,
    },
    /// Replace an API's gateway response with its patched form. AWS's UpdateGatewayResponse
    /// also patches a type never put (its default), so this too creates or replaces; it is its
    /// own command so the log says which operation made the change.
    UpdateGatewayResponse {
        api_id: String,
        response: GatewayResponse,
    },
    /// Reset a gateway response to its default (it must have been put).
    DeleteGatewayResponse {
        api_id: String,
        response_type: GatewayResponseType,
    },
    /// Add a model; its name (and id) must be new in the API.
    CreateModel { api_id: String, model: Model },
    /// Replace a model (found by name; it keeps its id).
    UpdateModel { api_id: String, model: Model },
    /// Delete a model no method of the working copy and no other model refers to.
    DeleteModel { api_id: String, name: String },
    /// Add a request validator; its id must be new in the API.
    CreateRequestValidator {
        api_id: String,
        validator: RequestValidator,
    },
    /// Replace a request validator (found by id).
    UpdateRequestValidator {
        api_id: String,
        validator: RequestValidator,
    },
    /// Delete a request validator no method of the working copy uses.
    DeleteRequestValidator { api_id: String, id: String },
    /// Create an IAM user (its name must be new, case-insensitively; no policies yet).
    CreateIamUser { user: IamUser },
    /// Delete an IAM user that has no access keys and no policies left (as IAM).
    DeleteIamUser { name: String },
    /// Add an access key to an existing user (at most [`crate::model::MAX_ACCESS_KEYS_PER_USER`];
    /// the id must be new).
    CreateAccessKey { key: AccessKey },
    /// Make a user's access key active or inactive.
    UpdateAccessKey {
        user_name: String,
        id: String,
        active: bool,
    },
    /// Delete a user's access key.
    DeleteAccessKey { user_name: String, id: String },
    /// Create or replace a user's inline policy.
    PutUserPolicy {
        user_name: String,
        policy_name: String,
        document: String,
    },
    /// Delete a user's inline policy.
    DeleteUserPolicy {
        user_name: String,
        policy_name: String,
    },
    /// Set an API's whole definition at once (ImportRestApi, PutRestApi from an OpenAPI
    /// document): its settings and its working copy (resources with their methods, models,
    /// request validators, gateway responses). With `create`, `api.id` must be new and `api`
    /// holds no deployment or stage; otherwise the API must exist and keeps its creation date,
    /// deployments and stages, everything else replaced by `api`'s. Checked whole (the tree,
    /// path parts, verbs, what methods name) before anything changes: it lands whole or not.
    DefineRestApi { api: RestApi, create: bool },
    /// Replace the account's settings (AWS's UpdateAccount).
    UpdateAccount { account: Account },
    /// Create (`create`: its id new, its location free) or replace (it must exist, at the
    /// same location) a documentation part.
    PutDocumentationPart {
        api_id: String,
        part: DocumentationPart,
        create: bool,
    },
    /// Delete a documentation part.
    DeleteDocumentationPart { api_id: String, id: String },
    /// Freeze the API's documentation parts as a new version.
    CreateDocumentationVersion {
        api_id: String,
        version: String,
        created_date: i64,
        description: Option<String>,
    },
    /// Set a documentation version's description.
    UpdateDocumentationVersion {
        api_id: String,
        version: String,
        description: Option<String>,
    },
    /// Delete a documentation version.
    DeleteDocumentationVersion { api_id: String, version: String },
    /// Add a client certificate (its id new).
    CreateClientCertificate { certificate: ClientCertificate },
    /// Set a client certificate's description and tags (its certificate and key never change).
    UpdateClientCertificate {
        id: String,
        description: Option<String>,
        tags: BTreeMap<String, String>,
    },
    /// Delete a client certificate.
    DeleteClientCertificate { id: String },
    /// Create a custom domain name (its name new; created without mappings).
    CreateDomainName { domain: DomainName },
    /// Replace a domain name's settings (certificate, security policy, mutual TLS, tags); its
    /// base path mappings are kept as they are.
    UpdateDomainName { domain: DomainName },
    /// Delete a domain name and its base path mappings.
    DeleteDomainName { name: String },
    /// Add a base path mapping: the base path new on the domain, the API and stage existing.
    CreateBasePathMapping {
        domain_name: String,
        mapping: BasePathMapping,
    },
    /// Replace the mapping at `base_path` by `mapping` (which may name another base path).
    UpdateBasePathMapping {
        domain_name: String,
        base_path: String,
        mapping: BasePathMapping,
    },
    /// Delete the mapping at `base_path`.
    DeleteBasePathMapping {
        domain_name: String,
        base_path: String,
    },
    /// Set the cluster's TLS session-ticket secret (32 random bytes minted by the admin layer)
    /// unless one is set already (the first applied wins; a later one changes nothing).
    InitTlsTicketSecret { secret: Vec<u8> },
    /// Add an authorizer to an API; its id must be new in the API.
    CreateAuthorizer {
        api_id: String,
        authorizer: Authorizer,
    },
    /// Replace an authorizer (found by id).
    UpdateAuthorizer {
        api_id: String,
        authorizer: Authorizer,
    },
    /// Delete an authorizer no method of the working copy uses.
    DeleteAuthorizer { api_id: String, id: String },
    /// Invalidate a stage's authorizer result caches on every node and worker: its
    /// authorizer epoch becomes at least `epoch` and at least one more than before
    /// ([`crate::Registry::authorizer_epoch`]).
    FlushStageAuthorizersCache {
        api_id: String,
        stage: String,
        epoch: u64,
    },
    /// Replace the cluster's TLS session-ticket secret by `secret` (32 random bytes), keeping
    /// the current one as the previous, when `generation` is one more than the current
    /// generation and a secret is set; otherwise nothing changes (a proposal that lost to
    /// another rotation, or applied again). `at_ms`: when it was proposed.
    RotateTlsTicketSecret {
        secret: Vec<u8>,
        generation: u64,
        at_ms: u64,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The identity of one command of one client request: who may retry it finds it applied
/// and not apply it again. `client` is a digest of the request (the admin layer derives it
/// from the caller's access key and the SDK's invocation id, or from the request signature);
/// `part` numbers the commands the request applies, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId {
    /// The request's digest.
    pub client: u128,
    /// Which of the request's commands this is.
    pub part: u32,
}

/// What one guarded write ([`Command::IfUnchanged`]) is guarded on. Every command that changes
/// something in a scope bumps that scope's version in the registry
/// ([`crate::Registry::version`]), so a version read together with the objects it covers
/// names exactly that state of them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// One REST API with everything in it: resources, methods, integrations, deployments,
    /// stages.
    Api(String),
    /// One API key.
    ApiKey(String),
    /// One usage plan, with its keys and their quota grants.
    UsagePlan(String),
    /// The account's settings.
    Account,
    /// One client certificate.
    ClientCertificate(String),
    /// One custom domain name, with its base path mappings.
    DomainName(String),
}

/// Requests that asked for one rate limit at one node over a report's interval, admitted or
/// not.
///
/// A positional record (see [`crate::positional_record!`]): reports carry thousands of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct LimitDemand {
    /// The limit (the node's compiled limit id, the same on every node).
    pub limit_id: u64,
    /// Requests that asked for it.
    pub requests: u64,
}

/// Requests served for one API key.
///
/// A positional record (see [`crate::positional_record!`]): reports carry thousands of these.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UsageDelta {
    /// What the usage is counted under: the key's plan usage id
    /// ([`crate::registry::plan_usage_id`], `{plan id}:{key id}`), or the bare key id in
    /// reports of builds that counted usage per key.
    pub key_id: String,
    /// Requests served since the last report.
    pub count: u64,
}

crate::positional_record!(LimitDemand { limit_id, requests });
crate::positional_record!(UsageDelta { key_id, count });

impl Command {
    /// The command itself, or the one an [`Command::IfUnchanged`] guards, a
    /// [`Command::Dated`] dates or a [`Command::Once`] identifies.
    pub fn inner(&self) -> &Command {
        match self {
            Command::IfUnchanged { command, .. }
            | Command::Dated { command, .. }
            | Command::Once { command, .. } => command.inner(),
            other => other,
        }
    }

    /// The scopes this command changes when it is applied (their versions are bumped), each
    /// once. This is part of the state machine: what it says of a logged command must never
    /// change, or nodes that replay that command and nodes that start from a snapshot taken
    /// after it would hold different versions.
    pub fn scopes(&self) -> Vec<Scope> {
        let api = |id: &str| vec![Scope::Api(id.to_string())];
        match self {
            Command::CreateRestApi { id, .. }
            | Command::UpdateRestApi { id, .. }
            | Command::DeleteRestApi { id, .. } => api(id),
            Command::CreateResource { api_id, .. }
            | Command::UpdateResource { api_id, .. }
            | Command::DeleteResource { api_id, .. }
            | Command::PutMethod { api_id, .. }
            | Command::DeleteMethod { api_id, .. }
            | Command::CreateDeployment { api_id, .. }
            | Command::UpdateDeployment { api_id, .. }
            | Command::DeleteDeployment { api_id, .. }
            | Command::PutStage { api_id, .. }
            | Command::DeleteStage { api_id, .. }
            | Command::FlushStageCache { api_id, .. }
            | Command::PutGatewayResponse { api_id, .. }
            | Command::UpdateGatewayResponse { api_id, .. }
            | Command::DeleteGatewayResponse { api_id, .. }
            | Command::CreateModel { api_id, .. }
            | Command::UpdateModel { api_id, .. }
            | Command::DeleteModel { api_id, .. }
            | Command::CreateRequestValidator { api_id, .. }
            | Command::UpdateRequestValidator { api_id, .. }
            | Command::DeleteRequestValidator { api_id, .. }
            | Command::CreateAuthorizer { api_id, .. }
            | Command::UpdateAuthorizer { api_id, .. }
            | Command::DeleteAuthorizer { api_id, .. }
            | Command::FlushStageAuthorizersCache { api_id, .. }
            | Command::PutDocumentationPart { api_id, .. }
            | Command::DeleteDocumentationPart { api_id, .. }
            | Command::CreateDocumentationVersion { api_id, .. }
            | Command::UpdateDocumentationVersion { api_id, .. }
            | Command::DeleteDocumentationVersion { api_id, .. } => api(api_id),
            Command::DefineRestApi { api: a, .. } => api(&a.id),
            Command::CreateApiKey { key } | Command::UpdateApiKey { key } => {
                vec![Scope::ApiKey(key.id.clone())]
            }
            Command::DeleteApiKey { id } => vec![Scope::ApiKey(id.clone())],
            Command::ImportApiKeys { keys, plan_keys } => {
                let keys = keys.iter().map(|k| Scope::ApiKey(k.id.clone()));
                let plans = plan_keys.iter().map(|(p, _)| Scope::UsagePlan(p.clone()));
                let unique: std::collections::BTreeSet<Scope> = keys.chain(plans).collect();
                unique.into_iter().collect()
            }
            Command::CreateUsagePlan { plan } | Command::UpdateUsagePlan { plan } => {
                vec![Scope::UsagePlan(plan.id.clone())]
            }
            Command::DeleteUsagePlan { id, .. } => vec![Scope::UsagePlan(id.clone())],
            Command::UpdateAccount { .. } => vec![Scope::Account],
            Command::CreateClientCertificate { certificate } => {
                vec![Scope::ClientCertificate(certificate.id.clone())]
            }
            Command::UpdateClientCertificate { id, .. }
            | Command::DeleteClientCertificate { id } => {
                vec![Scope::ClientCertificate(id.clone())]
            }
            Command::CreateUsagePlanKey { plan_id, .. }
            | Command::DeleteUsagePlanKey { plan_id, .. }
            | Command::UpdateUsage { plan_id, .. } => vec![Scope::UsagePlan(plan_id.clone())],
            // IAM commands are each checked whole by the state machine (no read-modify-write),
            // so they need no version.
            Command::ReportUsage { .. }
            | Command::ReportLoad { .. }
            | Command::CreateIamUser { .. }
            | Command::DeleteIamUser { .. }
            | Command::CreateAccessKey { .. }
            | Command::UpdateAccessKey { .. }
            | Command::DeleteAccessKey { .. }
            | Command::PutUserPolicy { .. }
            | Command::DeleteUserPolicy { .. }
            | Command::InitTlsTicketSecret { .. }
            | Command::RotateTlsTicketSecret { .. } => Vec::new(),
            Command::CreateDomainName { domain } | Command::UpdateDomainName { domain } => {
                vec![Scope::DomainName(domain.name.clone())]
            }
            Command::DeleteDomainName { name } => vec![Scope::DomainName(name.clone())],
            Command::CreateBasePathMapping { domain_name, .. }
            | Command::UpdateBasePathMapping { domain_name, .. }
            | Command::DeleteBasePathMapping { domain_name, .. } => {
                vec![Scope::DomainName(domain_name.clone())]
            }
            Command::IfUnchanged { command, .. }
            | Command::Dated { command, .. }
            | Command::Once { command, .. } => command.scopes(),
        }
    }

    /// The API whose deployed stages this command can change, if any: the data plane needs to
    /// recompile only these. Changes to an API's working tree (its gateway responses, models and
    /// request validators included: a deployment freezes them) change no stage.
    pub fn stage_affecting_api(&self) -> Option<&str> {
        match self.inner() {
            Command::CreateDeployment { api_id, stage, .. } => {
                stage.as_ref().map(|_| api_id.as_str())
            }
            Command::PutStage { api_id, .. } | Command::DeleteStage { api_id, .. } => {
                Some(api_id.as_str())
            }
            Command::DeleteRestApi { id, .. } | Command::UpdateRestApi { id, .. } => {
                Some(id.as_str())
            }
            // The settings (binary media types, key source, policy) apply to deployed stages.
            Command::DefineRestApi { api, .. } => Some(api.id.as_str()),
            Command::FlushStageCache { api_id, .. }
            | Command::FlushStageAuthorizersCache { api_id, .. } => Some(api_id.as_str()),
            _ => None,
        }
    }

    /// Whether this command can change API keys, usage plans or quota grants: the data plane
    /// then rebuilds its key tables. (Usage reports change what quotas have left; see
    /// [`Command::counts_usage`].)
    pub fn affects_keys(&self) -> bool {
        matches!(
            self.inner(),
            Command::DeleteRestApi {
                referential: true,
                ..
            } | Command::DeleteStage {
                referential: true,
                ..
            }
        ) || matches!(
            self.inner(),
            Command::CreateApiKey { .. }
                | Command::UpdateApiKey { .. }
                | Command::DeleteApiKey { .. }
                | Command::ImportApiKeys { .. }
                | Command::CreateUsagePlan { .. }
                | Command::UpdateUsagePlan { .. }
                | Command::DeleteUsagePlan { .. }
                | Command::CreateUsagePlanKey { .. }
                | Command::DeleteUsagePlanKey { .. }
                | Command::UpdateUsage { .. }
        )
    }

    /// Whether this command can change IAM users, access keys or user policies: the data
    /// plane then rebuilds its identity table.
    pub fn affects_iam(&self) -> bool {
        matches!(
            self.inner(),
            Command::CreateIamUser { .. }
                | Command::DeleteIamUser { .. }
                | Command::CreateAccessKey { .. }
                | Command::UpdateAccessKey { .. }
                | Command::DeleteAccessKey { .. }
                | Command::PutUserPolicy { .. }
                | Command::DeleteUserPolicy { .. }
        )
    }

    /// Whether this command can change custom domain names or their base path mappings: the
    /// data plane then rebuilds its domain table (certificates and mappings).
    pub fn affects_domains(&self) -> bool {
        matches!(
            self.inner(),
            Command::CreateDomainName { .. }
                | Command::UpdateDomainName { .. }
                | Command::DeleteDomainName { .. }
                | Command::CreateBasePathMapping { .. }
                | Command::UpdateBasePathMapping { .. }
                | Command::DeleteBasePathMapping { .. }
                | Command::InitTlsTicketSecret { .. }
                | Command::RotateTlsTicketSecret { .. }
        )
    }

    /// Whether proposing this command again after an unknown outcome (a leader replaced while
    /// it was in flight, a lost answer) is safe: applying it twice changes no more than
    /// applying it once. True for [`Command::Once`] and for usage reports, which the ledger
    /// counts once per sequence number.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self,
            Command::Once { .. }
                | Command::ReportUsage { .. }
                | Command::ReportLoad { .. }
                | Command::RotateTlsTicketSecret { .. }
        )
    }

    /// Whether this command adds API-key usage to the ledger (so quotas have less left).
    pub fn counts_usage(&self) -> bool {
        match self.inner() {
            Command::ReportUsage { deltas, .. } | Command::ReportLoad { deltas, .. } => {
                !deltas.is_empty()
            }
            _ => false,
        }
    }
}

/// Why a command was refused. The state is unchanged when a command is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ApplyError {
    /// Something named by the command does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The command conflicts with what exists.
    #[error("{0}")]
    Conflict(String),
    /// The command is malformed or not allowed in this state.
    #[error("{0}")]
    BadRequest(String),
    /// A guarded write ([`Command::IfUnchanged`]) found its scope changed since it was read.
    #[error("{0}")]
    Changed(String),
}

/// The outcome of applying one command.
pub type ApplyResult = Result<(), ApplyError>;
