//! The bincode layouts of every replicated type as the last bincode build wrote them: commands
//! of format 1 and registry snapshots of format 2 ([`Registry`]) and format 1 (the
//! `Registry*Before*` chain). Bincode is not self-describing: bytes decode only into the exact
//! field and variant order they were written in, so these types are FROZEN. Never edit them;
//! they exist to read old logs and snapshots, which are then converted into the current model
//! by field and variant name ([`super::upgrade`]).
//!
//! Fields that are AWS enums in the current model (`AuthorizationType`, `LoggingLevel`, …) were
//! strings in bincode too (the model's enums kept the string layout), so they are `String`
//! here.

#![allow(missing_docs, clippy::large_enum_variant)]

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    CreateRestApi {
        id: String,
        root_resource_id: String,
        settings: RestApiSettings,
        created_date: i64,
        clone_from: Option<String>,
    },
    UpdateRestApi {
        id: String,
        settings: RestApiSettings,
    },
    DeleteRestApi {
        id: String,
    },
    CreateResource {
        api_id: String,
        resource_id: String,
        parent_id: String,
        path_part: String,
    },
    UpdateResource {
        api_id: String,
        resource_id: String,
        parent_id: String,
        path_part: String,
    },
    DeleteResource {
        api_id: String,
        resource_id: String,
    },
    PutMethod {
        api_id: String,
        resource_id: String,
        method: Method,
    },
    DeleteMethod {
        api_id: String,
        resource_id: String,
        http_method: String,
    },
    CreateDeployment {
        api_id: String,
        deployment_id: String,
        description: Option<String>,
        created_date: i64,
        stage: Option<Stage>,
    },
    UpdateDeployment {
        api_id: String,
        deployment_id: String,
        description: Option<String>,
    },
    DeleteDeployment {
        api_id: String,
        deployment_id: String,
    },
    PutStage {
        api_id: String,
        stage: Stage,
        create: bool,
    },
    DeleteStage {
        api_id: String,
        stage_name: String,
    },
    ReportUsage {
        node_id: u64,
        seq: u64,
        at: i64,
        deltas: Vec<UsageDelta>,
    },
    CreateApiKey {
        key: ApiKey,
    },
    UpdateApiKey {
        key: ApiKey,
    },
    DeleteApiKey {
        id: String,
    },
    ImportApiKeys {
        keys: Vec<ApiKey>,
        plan_keys: Vec<(String, String)>,
    },
    CreateUsagePlan {
        plan: UsagePlan,
    },
    UpdateUsagePlan {
        plan: UsagePlan,
    },
    DeleteUsagePlan {
        id: String,
    },
    CreateUsagePlanKey {
        plan_id: String,
        key_id: String,
    },
    DeleteUsagePlanKey {
        plan_id: String,
        key_id: String,
    },
    UpdateUsage {
        plan_id: String,
        key_id: String,
        at: i64,
        remaining: i64,
    },
    FlushStageCache {
        api_id: String,
        stage: String,
        epoch: u64,
    },
    ReportLoad {
        node_id: u64,
        seq: u64,
        at_ms: i64,
        deltas: Vec<UsageDelta>,
        interval_ms: u32,
        demand: Vec<LimitDemand>,
    },
    IfUnchanged {
        guards: Vec<(Scope, u64)>,
        command: Box<Command>,
    },
    Dated {
        day: i64,
        command: Box<Command>,
    },
    Once {
        request: RequestId,
        command: Box<Command>,
    },
    PutGatewayResponse {
        api_id: String,
        response: GatewayResponse,
    },
    UpdateGatewayResponse {
        api_id: String,
        response: GatewayResponse,
    },
    DeleteGatewayResponse {
        api_id: String,
        response_type: GatewayResponseType,
    },
    CreateModel {
        api_id: String,
        model: Model,
    },
    UpdateModel {
        api_id: String,
        model: Model,
    },
    DeleteModel {
        api_id: String,
        name: String,
    },
    CreateRequestValidator {
        api_id: String,
        validator: RequestValidator,
    },
    UpdateRequestValidator {
        api_id: String,
        validator: RequestValidator,
    },
    DeleteRequestValidator {
        api_id: String,
        id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestId {
    pub client: u128,
    pub part: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    Api(String),
    ApiKey(String),
    UsagePlan(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitDemand {
    pub limit_id: u64,
    pub requests: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageDelta {
    pub key_id: String,
    pub count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GatewayResponseType {
    Default4xx,
    Default5xx,
    ResourceNotFound,
    Unauthorized,
    InvalidApiKey,
    AccessDenied,
    AuthorizerFailure,
    AuthorizerConfigurationError,
    InvalidSignature,
    ExpiredToken,
    MissingAuthenticationToken,
    IntegrationFailure,
    IntegrationTimeout,
    ApiConfigurationError,
    UnsupportedMediaType,
    BadRequestParameters,
    BadRequestBody,
    RequestTooLarge,
    Throttled,
    QuotaExceeded,
    WafFiltered,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestApi {
    pub id: String,
    pub settings: RestApiSettings,
    pub created_date: i64,
    pub root_resource_id: String,
    pub resources: BTreeMap<String, Resource>,
    pub deployments: BTreeMap<String, Deployment>,
    pub stages: BTreeMap<String, Stage>,
    pub gateway_responses: BTreeMap<GatewayResponseType, GatewayResponse>,
    pub models: BTreeMap<String, Model>,
    pub request_validators: BTreeMap<String, RequestValidator>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestApiSettings {
    pub name: String,
    pub description: Option<String>,
    pub version: Option<String>,
    pub api_key_source: String,
    pub endpoint_types: Vec<String>,
    pub binary_media_types: Vec<String>,
    pub minimum_compression_size: Option<i64>,
    pub disable_execute_api_endpoint: bool,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    pub parent_id: Option<String>,
    pub path_part: String,
    pub methods: BTreeMap<String, Method>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Method {
    pub http_method: String,
    pub authorization_type: String,
    pub authorizer_id: Option<String>,
    pub api_key_required: bool,
    pub operation_name: Option<String>,
    pub request_validator_id: Option<String>,
    pub request_parameters: BTreeMap<String, bool>,
    pub request_models: BTreeMap<String, String>,
    pub authorization_scopes: Vec<String>,
    pub method_responses: BTreeMap<String, MethodResponse>,
    pub integration: Option<Integration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodResponse {
    pub status_code: String,
    pub response_parameters: BTreeMap<String, bool>,
    pub response_models: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntegrationType {
    Http,
    HttpProxy,
    Mock,
    Aws,
    AwsProxy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    pub kind: IntegrationType,
    pub http_method: Option<String>,
    pub uri: Option<String>,
    pub connection_type: Option<String>,
    pub connection_id: Option<String>,
    pub credentials: Option<String>,
    pub request_parameters: BTreeMap<String, String>,
    pub request_templates: BTreeMap<String, String>,
    pub passthrough_behavior: Option<String>,
    pub content_handling: Option<String>,
    pub timeout_in_millis: u32,
    pub cache_namespace: Option<String>,
    pub cache_key_parameters: Vec<String>,
    pub integration_responses: BTreeMap<String, IntegrationResponse>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationResponse {
    pub status_code: String,
    pub selection_pattern: Option<String>,
    pub response_parameters: BTreeMap<String, String>,
    pub response_templates: BTreeMap<String, String>,
    pub content_handling: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub description: Option<String>,
    pub created_date: i64,
    pub root_resource_id: String,
    pub resources: BTreeMap<String, Resource>,
    pub gateway_responses: BTreeMap<GatewayResponseType, GatewayResponse>,
    pub models: BTreeMap<String, Model>,
    pub request_validators: BTreeMap<String, RequestValidator>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayResponse {
    pub response_type: GatewayResponseType,
    pub status_code: Option<String>,
    pub response_parameters: BTreeMap<String, String>,
    pub response_templates: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub schema: Option<String>,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestValidator {
    pub id: String,
    pub name: String,
    pub validate_request_body: bool,
    pub validate_request_parameters: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub stage_name: String,
    pub deployment_id: String,
    pub description: Option<String>,
    pub created_date: i64,
    pub last_updated_date: i64,
    pub variables: BTreeMap<String, String>,
    pub cache_cluster_enabled: bool,
    pub cache_cluster_size: Option<String>,
    pub tracing_enabled: bool,
    pub method_settings: BTreeMap<String, MethodSetting>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodSetting {
    pub metrics_enabled: bool,
    pub logging_level: String,
    pub data_trace_enabled: bool,
    pub throttling_burst_limit: i32,
    pub throttling_rate_limit: f64,
    pub caching_enabled: bool,
    pub cache_ttl_in_seconds: i32,
    pub cache_data_encrypted: bool,
    pub require_authorization_for_cache_control: bool,
    pub unauthorized_cache_control_header_strategy: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub value: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub created_date: i64,
    pub last_updated_date: i64,
    pub customer_id: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThrottleSettings {
    pub burst_limit: i32,
    pub rate_limit: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaSettings {
    pub limit: i64,
    pub offset: i64,
    pub period: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiStage {
    pub api_id: String,
    pub stage: String,
    pub throttle: BTreeMap<String, ThrottleSettings>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsagePlan {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub api_stages: Vec<ApiStage>,
    pub throttle: Option<ThrottleSettings>,
    pub quota: Option<QuotaSettings>,
    pub key_ids: BTreeSet<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageLedger {
    pub last_seq: BTreeMap<u64, u64>,
    pub used: BTreeMap<(String, i64), u64>,
    pub granted: BTreeMap<(String, String, i64), i64>,
}

/// The registry of snapshots of format 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    pub apis: BTreeMap<String, RestApi>,
    pub usage: UsageLedger,
    pub api_keys: BTreeMap<String, ApiKey>,
    pub usage_plans: BTreeMap<String, UsagePlan>,
    pub cache_epochs: BTreeMap<(String, String), u64>,
    pub versions: BTreeMap<Scope, u64>,
    pub versioned: bool,
    pub quota_starts: BTreeMap<String, i64>,
    /// The applied request identities, oldest first.
    pub sessions: VecDeque<RequestId>,
}

/// [`RestApi`] before gateway responses, models and request validators (format 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestApiBeforeObjects {
    pub id: String,
    pub settings: RestApiSettings,
    pub created_date: i64,
    pub root_resource_id: String,
    pub resources: BTreeMap<String, Resource>,
    pub deployments: BTreeMap<String, DeploymentBeforeObjects>,
    pub stages: BTreeMap<String, Stage>,
}

/// [`Deployment`] before it froze gateway responses, models and validators (format 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentBeforeObjects {
    pub id: String,
    pub description: Option<String>,
    pub created_date: i64,
    pub root_resource_id: String,
    pub resources: BTreeMap<String, Resource>,
}

/// The registry of format-1 snapshots of the last builds before API-level objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryBeforeObjects {
    pub apis: BTreeMap<String, RestApiBeforeObjects>,
    pub usage: UsageLedger,
    pub api_keys: BTreeMap<String, ApiKey>,
    pub usage_plans: BTreeMap<String, UsagePlan>,
    pub cache_epochs: BTreeMap<(String, String), u64>,
    pub versions: BTreeMap<Scope, u64>,
    pub versioned: bool,
    pub quota_starts: BTreeMap<String, i64>,
    pub sessions: VecDeque<RequestId>,
}

/// The registry of format-1 snapshots of builds before client sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryBeforeSessions {
    pub apis: BTreeMap<String, RestApiBeforeObjects>,
    pub usage: UsageLedger,
    pub api_keys: BTreeMap<String, ApiKey>,
    pub usage_plans: BTreeMap<String, UsagePlan>,
    pub cache_epochs: BTreeMap<(String, String), u64>,
    pub versions: BTreeMap<Scope, u64>,
    pub versioned: bool,
    pub quota_starts: BTreeMap<String, i64>,
}

/// The registry of format-1 snapshots of builds before scope versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryBeforeVersions {
    pub apis: BTreeMap<String, RestApiBeforeObjects>,
    pub usage: UsageLedger,
    pub api_keys: BTreeMap<String, ApiKey>,
    pub usage_plans: BTreeMap<String, UsagePlan>,
    pub cache_epochs: BTreeMap<(String, String), u64>,
}
