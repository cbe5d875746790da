//! The domain model: what an API, its resources, methods, deployments and stages are.
//!
//! These types are the ground truth that the state machine keeps and replicates. They know
//! nothing about the AWS JSON wire shapes (the admin layer converts) and nothing about the
//! compiled routing tables of the data plane (the node compiles them from here).

pub use crate::aws_enum::OrUnknown;
use crate::gateway_response::GatewayResponseType;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A REST API: its settings, its working tree of resources, and what has been deployed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestApi {
    /// Ten-character identifier, as AWS makes them.
    pub id: String,
    /// The settings a user can change with UpdateRestApi.
    pub settings: RestApiSettings,
    /// Creation time, epoch seconds (taken from the command, never from a clock here).
    pub created_date: i64,
    /// Identifier of the root resource (`/`).
    pub root_resource_id: String,
    /// The working tree: what the next deployment will freeze (shared with the deployments
    /// that froze it until it changes).
    pub resources: Resources,
    /// Every deployment ever made and not deleted: the history a stage can roll back to.
    pub deployments: BTreeMap<String, Deployment>,
    /// Stages by name.
    pub stages: BTreeMap<String, Stage>,
    /// The API's customized gateway responses (working copy), by type; a type not here is
    /// answered with AWS's default.
    #[serde(default)]
    pub gateway_responses: BTreeMap<GatewayResponseType, GatewayResponse>,
    /// The API's models (working copy), by name.
    #[serde(default)]
    pub models: BTreeMap<String, Model>,
    /// The API's request validators (working copy), by id.
    #[serde(default)]
    pub request_validators: BTreeMap<String, RequestValidator>,
    /// The API's documentation parts, by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub documentation_parts: BTreeMap<String, DocumentationPart>,
    /// The API's documentation versions (snapshots of its parts), by version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub documentation_versions: BTreeMap<String, DocumentationVersion>,
    /// The API's authorizers (working copy), by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorizers: BTreeMap<String, Authorizer>,
}

/// Where a documentation part applies (AWS's `DocumentationPartLocation`). Fields a type does
/// not use are `None`; those it uses hold AWS's defaults when not given (path `/`, method and
/// status code `*`), so two parts at one place compare equal.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DocumentationLocation {
    /// `API`, `AUTHORIZER`, `MODEL`, `RESOURCE`, `METHOD`, `PATH_PARAMETER`, …
    pub kind: String,
    pub path: Option<String>,
    pub method: Option<String>,
    pub status_code: Option<String>,
    pub name: Option<String>,
}

/// A documentation part: a JSON object of properties at one location.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentationPart {
    pub id: String,
    pub location: DocumentationLocation,
    /// The properties, a JSON object as text (as AWS keeps them).
    pub properties: String,
}

/// A documentation version: the API's parts as they were when it was made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentationVersion {
    pub version: String,
    pub created_date: i64,
    pub description: Option<String>,
    /// The parts it froze, by id.
    pub parts: BTreeMap<String, DocumentationPart>,
}

/// The user-editable top-level settings of a REST API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestApiSettings {
    pub name: String,
    pub description: Option<String>,
    pub version: Option<String>,
    /// Where the data plane reads API keys from. The state machine never checked it (the
    /// admin API always did), so any string decodes.
    pub api_key_source: OrUnknown<ApiKeySource>,
    /// `EDGE`, `REGIONAL` or `PRIVATE`.
    pub endpoint_types: Vec<String>,
    pub binary_media_types: Vec<String>,
    pub minimum_compression_size: Option<i64>,
    pub disable_execute_api_endpoint: bool,
    pub tags: BTreeMap<String, String>,
    /// The resource policy (an IAM policy document, JSON text), evaluated on every request
    /// to the API together with its methods' authorization.
    #[serde(default)]
    pub policy: Option<String>,
    /// `endpointConfiguration.ipAddressType` as set (`ipv4` or `dualstack`); `None`: AWS's
    /// default for the endpoint type (`dualstack` for PRIVATE, else `ipv4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<String>,
}

impl RestApiSettings {
    /// The IP address type in effect: as set, else the endpoint type's default.
    pub fn effective_ip_address_type(&self) -> &str {
        match &self.ip_address_type {
            Some(t) => t,
            None if self.endpoint_types.iter().any(|t| t == "PRIVATE") => "dualstack",
            None => "ipv4",
        }
    }
}

aws_string_enum! {
    /// Where API keys come from: the `x-api-key` header, or a Lambda authorizer's
    /// `usageIdentifierKey`.
    #[derive(Default)]
    pub enum ApiKeySource {
        #[default]
        Header => "HEADER",
        Authorizer => "AUTHORIZER",
    }
}

/// A resource tree by resource id: copied on write, so that deployments of an unchanged tree
/// share it with the working tree and with each other ([`crate::shared::Shared`]).
pub type Resources = crate::shared::Shared<BTreeMap<String, Resource>>;

/// One path segment of an API and the methods on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    /// `None` only for the root resource.
    pub parent_id: Option<String>,
    /// The segment: `pets`, `{petId}` or `{proxy+}`; empty for the root.
    pub path_part: String,
    /// Methods keyed by HTTP verb (`GET`, `POST`, …, or `ANY`). Boxed (as the responses
    /// below): a B-tree node has room for 11 values, so inline ones cost 11 times their size
    /// for the usual one or two (issue 14).
    pub methods: BTreeMap<String, Box<Method>>,
}

/// A method: a resource and an HTTP verb, how it is authorised, and its integration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Method {
    pub http_method: String,
    pub authorization_type: AuthorizationType,
    pub authorizer_id: Option<String>,
    pub api_key_required: bool,
    pub operation_name: Option<String>,
    pub request_validator_id: Option<String>,
    /// `method.request.querystring.x` → required.
    pub request_parameters: BTreeMap<String, bool>,
    pub request_models: BTreeMap<String, String>,
    pub authorization_scopes: Vec<String>,
    /// Method responses keyed by status code.
    pub method_responses: BTreeMap<String, Box<MethodResponse>>,
    pub integration: Option<Integration>,
    /// Which of the maps above were given (`{}` included): see [`GivenMaps`].
    #[serde(default, skip_serializing_if = "GivenMaps::is_empty")]
    pub given_maps: GivenMaps,
}

/// Which of an object's two maps (its parameters, and its models or templates) were given,
/// `{}` included: AWS answers a map given empty back as `{}` and leaves out one never given.
/// Kept on [`Method`], [`MethodResponse`], [`Integration`] and [`IntegrationResponse`];
/// empty on objects written before it existed (their empty maps are left out, as before).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GivenMaps(pub u8);

impl GivenMaps {
    /// `requestParameters` / `responseParameters`.
    pub const PARAMETERS: u8 = 1;
    /// `requestModels` / `responseModels` / `requestTemplates` / `responseTemplates`.
    pub const BODIES: u8 = 2;

    /// No map given.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// Whether the map `bit` was given.
    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// Records the map `bit` as given when `given`.
    pub fn mark(&mut self, bit: u8, given: bool) {
        if given {
            self.0 |= bit;
        }
    }
}

aws_string_enum! {
    /// How a method authorises callers. Stored as the AWS name (the layout of the `String`
    /// field it replaced); AWS accepts it in any case at the admin API.
    #[derive(Default)]
    pub enum AuthorizationType {
        #[default]
        None => "NONE",
        AwsIam => "AWS_IAM",
        Custom => "CUSTOM",
        CognitoUserPools => "COGNITO_USER_POOLS",
    }
}

/// A declared response of a method.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MethodResponse {
    pub status_code: String,
    /// `method.response.header.X` → required.
    pub response_parameters: BTreeMap<String, bool>,
    pub response_models: BTreeMap<String, String>,
    /// Which of the maps above were given (`{}` included): see [`GivenMaps`].
    #[serde(default, skip_serializing_if = "GivenMaps::is_empty")]
    pub given_maps: GivenMaps,
}

/// The kind of backend a method talks to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntegrationType {
    Http,
    HttpProxy,
    #[default]
    Mock,
    Aws,
    AwsProxy,
}

impl IntegrationType {
    /// The AWS name (`HTTP_PROXY`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationType::Http => "HTTP",
            IntegrationType::HttpProxy => "HTTP_PROXY",
            IntegrationType::Mock => "MOCK",
            IntegrationType::Aws => "AWS",
            IntegrationType::AwsProxy => "AWS_PROXY",
        }
    }

    /// Parses the AWS name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "HTTP" => IntegrationType::Http,
            "HTTP_PROXY" => IntegrationType::HttpProxy,
            "MOCK" => IntegrationType::Mock,
            "AWS" => IntegrationType::Aws,
            "AWS_PROXY" => IntegrationType::AwsProxy,
            _ => return None,
        })
    }
}

/// Default integration timeout, as AWS: 29 seconds.
pub const DEFAULT_INTEGRATION_TIMEOUT_MS: u32 = 29_000;

/// How a method reaches its backend and maps the exchange.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    pub kind: IntegrationType,
    /// The verb used towards the backend (HTTP integrations).
    pub http_method: Option<String>,
    /// Backend URI; may hold `{param}`, `{proxy}` and `${stageVariables.x}`.
    pub uri: Option<String>,
    pub connection_type: Option<String>,
    pub connection_id: Option<String>,
    pub credentials: Option<String>,
    /// `integration.request.header.X` → `method.request.path.y` or `'literal'`.
    pub request_parameters: BTreeMap<String, String>,
    /// Content type → mapping template.
    pub request_templates: BTreeMap<String, String>,
    pub passthrough_behavior: Option<String>,
    pub content_handling: Option<String>,
    pub timeout_in_millis: u32,
    pub cache_namespace: Option<String>,
    pub cache_key_parameters: Vec<String>,
    /// Integration responses keyed by status code.
    pub integration_responses: BTreeMap<String, Box<IntegrationResponse>>,
    /// `tlsConfig` of an HTTP or HTTP_PROXY integration (an `https://` backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    /// Which of the maps above were given (`{}` included): see [`GivenMaps`].
    #[serde(default, skip_serializing_if = "GivenMaps::is_empty")]
    pub given_maps: GivenMaps,
}

/// How an `https://` backend's certificate is checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsConfig {
    /// As AWS: the certificate need not chain to a trusted root (self-signed or a private
    /// CA); its validity dates and its name are still checked.
    #[serde(default)]
    pub insecure_skip_verification: bool,
}

/// Maps a backend answer onto a method response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntegrationResponse {
    pub status_code: String,
    /// Regular expression matched against the backend status (HTTP) or error; `None` is the default.
    pub selection_pattern: Option<String>,
    /// `method.response.header.X` → `'literal'` or `integration.response.header.Y`.
    pub response_parameters: BTreeMap<String, String>,
    /// Content type → mapping template.
    pub response_templates: BTreeMap<String, String>,
    pub content_handling: Option<String>,
    /// Which of the maps above were given (`{}` included): see [`GivenMaps`].
    #[serde(default, skip_serializing_if = "GivenMaps::is_empty")]
    pub given_maps: GivenMaps,
}

/// A frozen copy of an API's resources (and its gateway responses, models and request
/// validators), made by CreateDeployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub description: Option<String>,
    pub created_date: i64,
    pub root_resource_id: String,
    /// The resources and methods as they were when deployed (shared with the working tree
    /// and with other deployments of the same tree).
    pub resources: Resources,
    /// The API's gateway responses as they were when deployed (AWS applies them to a stage
    /// only by a deployment).
    #[serde(default)]
    pub gateway_responses: BTreeMap<GatewayResponseType, GatewayResponse>,
    /// The API's models as they were when deployed, by name.
    #[serde(default)]
    pub models: BTreeMap<String, Model>,
    /// The API's request validators as they were when deployed, by id.
    #[serde(default)]
    pub request_validators: BTreeMap<String, RequestValidator>,
    /// The API's authorizers as they were when deployed, by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorizers: BTreeMap<String, Authorizer>,
}

aws_string_enum! {
    /// The kind of an authorizer.
    pub enum AuthorizerType {
        Token => "TOKEN",
        Request => "REQUEST",
        CognitoUserPools => "COGNITO_USER_POOLS",
    }
}

/// Default time an authorizer's result is cached, seconds (as AWS).
pub const DEFAULT_AUTHORIZER_TTL_SECS: i32 = 300;
/// Longest time an authorizer's result may be cached, seconds (as AWS).
pub const MAX_AUTHORIZER_TTL_SECS: i32 = 3600;

/// An authorizer (CreateAuthorizer): a Lambda function that decides who may call the methods
/// that name it (`TOKEN` or `REQUEST`), or a Cognito user pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorizer {
    /// Identifier, as AWS makes them (minted by the admin layer).
    pub id: String,
    pub name: String,
    pub kind: AuthorizerType,
    /// Cognito user pool ARNs (`COGNITO_USER_POOLS`).
    #[serde(default)]
    pub provider_arns: Vec<String>,
    /// AWS's optional free-form `authType`.
    #[serde(default)]
    pub auth_type: Option<String>,
    /// The Lambda function URI (`arn:aws:apigateway:{region}:lambda:path/…/invocations`).
    #[serde(default)]
    pub authorizer_uri: Option<String>,
    /// The role API Gateway would assume to call the function; stored, not used.
    #[serde(default)]
    pub authorizer_credentials: Option<String>,
    /// Where the identity comes from: `method.request.header.X` and friends, comma-separated.
    #[serde(default)]
    pub identity_source: Option<String>,
    /// A regular expression a `TOKEN` authorizer's token must match before it is called.
    #[serde(default)]
    pub identity_validation_expression: Option<String>,
    /// How long results are cached, seconds (0: not cached).
    pub authorizer_result_ttl_in_seconds: i32,
}

/// A customized gateway response of an API (PutGatewayResponse): what API Gateway answers
/// for one kind of refusal or failure instead of its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayResponse {
    pub response_type: GatewayResponseType,
    /// The status to answer with; `None` keeps the type's default.
    pub status_code: Option<String>,
    /// `gatewayresponse.header.X` → `'literal'` (or a `method.request.*`/`context.*`
    /// expression, as AWS), as AWS spells the keys.
    pub response_parameters: BTreeMap<String, String>,
    /// Content type → body template (`$context.error.messageString` and friends).
    pub response_templates: BTreeMap<String, String>,
}

/// The URL by which a model's schema refers to another model of the same API (`$ref`), as
/// AWS spells it.
pub fn model_url(api_id: &str, model_name: &str) -> String {
    format!("https://apigateway.amazonaws.com/restapis/{api_id}/models/{model_name}")
}

/// A model: a named JSON Schema (draft 4) of a payload, used to validate request bodies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Identifier, as AWS makes them (minted by the admin layer).
    pub id: String,
    /// Alphanumeric name, unique within the API; what methods and `$ref`s refer to.
    pub name: String,
    pub description: Option<String>,
    /// The JSON Schema text, as given.
    pub schema: Option<String>,
    /// The payload's content type (`application/json`).
    pub content_type: String,
}

impl Model {
    /// Whether this model's schema refers (`$ref`) to model `name` of API `api_id`.
    ///
    /// A textual check on the model URL followed by the end of the JSON string or a
    /// fragment, so `Pet` is not taken for `PetList`; deterministic and dependency-free, as
    /// the state machine requires.
    pub fn refers_to(&self, api_id: &str, name: &str) -> bool {
        let Some(schema) = &self.schema else {
            return false;
        };
        let url = model_url(api_id, name);
        schema.match_indices(&url).any(|(at, _)| {
            matches!(
                schema.as_bytes().get(at + url.len()),
                Some(b'"') | Some(b'#')
            )
        })
    }
}

/// A request validator: which parts of a request a method that names it checks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestValidator {
    /// Identifier, as AWS makes them (minted by the admin layer).
    pub id: String,
    pub name: String,
    /// Check the body against the method's request model.
    pub validate_request_body: bool,
    /// Check that the method's required request parameters are present.
    pub validate_request_parameters: bool,
}

/// A named stage: which deployment it serves, and its own settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub stage_name: String,
    pub deployment_id: String,
    pub description: Option<String>,
    pub created_date: i64,
    pub last_updated_date: i64,
    pub variables: BTreeMap<String, String>,
    pub cache_cluster_enabled: bool,
    /// `0.5`, `1.6`, `6.1`, `13.5`, `28.4`, `58.2`, `118` or `237` (GB in AWS; our memory budget).
    pub cache_cluster_size: Option<String>,
    pub tracing_enabled: bool,
    /// `*/*` for the stage defaults, or `{resourcePath without leading slash}/{METHOD}`.
    pub method_settings: BTreeMap<String, MethodSetting>,
    pub tags: BTreeMap<String, String>,
    /// A canary release: a share of the stage's traffic served by another deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_settings: Option<CanarySettings>,
    /// Access logging (`accessLogSettings`), stored as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_settings: Option<AccessLogSettings>,
}

/// A stage's access logging: the record format and where records go (`destinationArn`: a
/// CloudWatch Logs log group or Firehose stream ARN, whose name picks the node's file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLogSettings {
    /// The record format (`$context` variables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The destination ARN, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_arn: Option<String>,
}

/// A stage's canary (AWS's `canarySettings`): `percent_traffic` percent of the stage's
/// requests are served by `deployment_id` with the stage variables overridden by
/// `stage_variable_overrides`; `use_stage_cache` says whether they use the stage's cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CanarySettings {
    /// Share of requests, 0.0 to 100.0.
    #[serde(default)]
    pub percent_traffic: f64,
    /// The canary's deployment.
    #[serde(default)]
    pub deployment_id: String,
    /// Stage variables that differ for canary requests.
    #[serde(default)]
    pub stage_variable_overrides: BTreeMap<String, String>,
    /// Whether canary requests use the stage's cache (otherwise they are not cached).
    #[serde(default)]
    pub use_stage_cache: bool,
}

/// Per-method settings of a stage (throttling, caching, metrics, logging).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodSetting {
    pub metrics_enabled: bool,
    pub logging_level: LoggingLevel,
    pub data_trace_enabled: bool,
    pub throttling_burst_limit: i32,
    pub throttling_rate_limit: f64,
    pub caching_enabled: bool,
    pub cache_ttl_in_seconds: i32,
    pub cache_data_encrypted: bool,
    pub require_authorization_for_cache_control: bool,
    pub unauthorized_cache_control_header_strategy: UnauthorizedCacheControlHeaderStrategy,
}

aws_string_enum! {
    /// A stage's execution logging level. Stored as the AWS name (the layout of the `String`
    /// field it replaced).
    pub enum LoggingLevel {
        Off => "OFF",
        Error => "ERROR",
        Info => "INFO",
    }
}

aws_string_enum! {
    /// What a `Cache-Control: max-age=0` from an unauthorized caller gets. Stored as the AWS
    /// name (the layout of the `String` field it replaced).
    pub enum UnauthorizedCacheControlHeaderStrategy {
        FailWith403 => "FAIL_WITH_403",
        SucceedWithResponseHeader => "SUCCEED_WITH_RESPONSE_HEADER",
        SucceedWithoutResponseHeader => "SUCCEED_WITHOUT_RESPONSE_HEADER",
    }
}

impl Default for MethodSetting {
    fn default() -> Self {
        MethodSetting {
            metrics_enabled: false,
            logging_level: LoggingLevel::Off,
            data_trace_enabled: false,
            throttling_burst_limit: 5000,
            throttling_rate_limit: 10000.0,
            caching_enabled: false,
            cache_ttl_in_seconds: 300,
            cache_data_encrypted: false,
            require_authorization_for_cache_control: true,
            unauthorized_cache_control_header_strategy:
                UnauthorizedCacheControlHeaderStrategy::SucceedWithResponseHeader,
        }
    }
}

impl RestApi {
    /// The full path of a resource in a resource map (`/pets/{petId}`), or `None` if it or an
    /// ancestor is missing (or the parents form a cycle).
    pub fn resource_path(resources: &BTreeMap<String, Resource>, id: &str) -> Option<String> {
        let mut parts = Vec::new();
        let mut cur = resources.get(id)?;
        let mut hops = 0usize;
        while let Some(parent) = &cur.parent_id {
            parts.push(cur.path_part.as_str());
            cur = resources.get(parent)?;
            hops += 1;
            if hops > resources.len() {
                return None;
            }
        }
        if parts.is_empty() {
            return Some("/".to_string());
        }
        let mut path = String::new();
        for p in parts.iter().rev() {
            path.push('/');
            path.push_str(p);
        }
        Some(path)
    }
}

/// An API key: a secret value a client sends in `x-api-key`, and who it belongs to.
///
/// The registry holds one per key (a million of them: issue 14), so what few keys have, a
/// description, a customer id and tags, is one boxed [`ApiKeyExtra`], a null pointer when none
/// is set: read with [`ApiKey::description`], [`ApiKey::customer_id`] and [`ApiKey::tags`], set
/// with the `set_` methods (which keep `extra` absent when it would be empty). Encoded as it
/// always was: those three fields inline, by name, in their old places.
#[derive(Debug, Clone, Default)]
pub struct ApiKey {
    /// Ten-character identifier, as AWS makes them.
    pub id: String,
    /// The secret itself (20 to 128 characters, unique across keys).
    pub value: String,
    pub name: Option<String>,
    /// A disabled key is refused as if it did not exist.
    pub enabled: bool,
    /// Epoch seconds (from the command).
    pub created_date: i64,
    /// Epoch seconds (from the command).
    pub last_updated_date: i64,
    /// The description, customer id and tags, when any is set (see the accessors).
    pub extra: Option<Box<ApiKeyExtra>>,
}

/// What few API keys have (see [`ApiKey`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiKeyExtra {
    pub description: Option<String>,
    /// An AWS Marketplace customer id; kept and shown, not used.
    pub customer_id: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl ApiKeyExtra {
    fn is_empty(&self) -> bool {
        self.description.is_none() && self.customer_id.is_none() && self.tags.is_empty()
    }
}

/// The tags of a key without any.
static NO_TAGS: BTreeMap<String, String> = BTreeMap::new();

impl ApiKey {
    pub fn description(&self) -> Option<&str> {
        self.extra.as_deref()?.description.as_deref()
    }

    /// An AWS Marketplace customer id; kept and shown, not used.
    pub fn customer_id(&self) -> Option<&str> {
        self.extra.as_deref()?.customer_id.as_deref()
    }

    pub fn tags(&self) -> &BTreeMap<String, String> {
        self.extra.as_deref().map_or(&NO_TAGS, |e| &e.tags)
    }

    pub fn set_description(&mut self, description: Option<String>) {
        self.extra_mut().description = description;
        self.tidy();
    }

    pub fn set_customer_id(&mut self, customer_id: Option<String>) {
        self.extra_mut().customer_id = customer_id;
        self.tidy();
    }

    pub fn set_tags(&mut self, tags: BTreeMap<String, String>) {
        self.extra_mut().tags = tags;
        self.tidy();
    }

    /// This key with the description, customer id and tags given.
    pub fn with_extra(
        mut self,
        description: Option<String>,
        customer_id: Option<String>,
        tags: BTreeMap<String, String>,
    ) -> ApiKey {
        let extra = ApiKeyExtra {
            description,
            customer_id,
            tags,
        };
        self.extra = (!extra.is_empty()).then(|| Box::new(extra));
        self
    }

    fn extra_mut(&mut self) -> &mut ApiKeyExtra {
        self.extra.get_or_insert_with(Default::default)
    }

    /// No `extra` when it would be empty.
    fn tidy(&mut self) {
        if self.extra.as_deref().is_some_and(ApiKeyExtra::is_empty) {
            self.extra = None;
        }
    }
}

impl PartialEq for ApiKey {
    /// By what the key says: an empty `extra` equals none.
    fn eq(&self, o: &ApiKey) -> bool {
        self.id == o.id
            && self.value == o.value
            && self.name == o.name
            && self.enabled == o.enabled
            && self.created_date == o.created_date
            && self.last_updated_date == o.last_updated_date
            && self.description() == o.description()
            && self.customer_id() == o.customer_id()
            && self.tags() == o.tags()
    }
}

/// [`ApiKey`] as it is encoded (the struct it was before `extra`, field for field).
#[derive(Serialize)]
#[serde(rename = "ApiKey")]
struct ApiKeyOut<'a> {
    id: &'a str,
    value: &'a str,
    name: Option<&'a str>,
    description: Option<&'a str>,
    enabled: bool,
    created_date: i64,
    last_updated_date: i64,
    customer_id: Option<&'a str>,
    tags: &'a BTreeMap<String, String>,
}

/// [`ApiKey`] as it is decoded.
#[derive(Deserialize)]
#[serde(rename = "ApiKey")]
struct ApiKeyIn {
    id: String,
    value: String,
    name: Option<String>,
    description: Option<String>,
    enabled: bool,
    created_date: i64,
    last_updated_date: i64,
    customer_id: Option<String>,
    tags: BTreeMap<String, String>,
}

impl Serialize for ApiKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ApiKeyOut {
            id: &self.id,
            value: &self.value,
            name: self.name.as_deref(),
            description: self.description(),
            enabled: self.enabled,
            created_date: self.created_date,
            last_updated_date: self.last_updated_date,
            customer_id: self.customer_id(),
            tags: self.tags(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ApiKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ApiKey, D::Error> {
        let k = ApiKeyIn::deserialize(d)?;
        Ok(ApiKey {
            id: k.id,
            value: k.value,
            name: k.name,
            enabled: k.enabled,
            created_date: k.created_date,
            last_updated_date: k.last_updated_date,
            extra: None,
        }
        .with_extra(k.description, k.customer_id, k.tags))
    }
}

/// Shortest API key value accepted (as AWS).
pub const MIN_API_KEY_LENGTH: usize = 20;
/// Longest API key value accepted (as AWS).
pub const MAX_API_KEY_LENGTH: usize = 128;

/// A token bucket: steady `rate_limit` requests per second, bursts of up to `burst_limit`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ThrottleSettings {
    pub burst_limit: i32,
    pub rate_limit: f64,
}

/// A client certificate (AWS's GenerateClientCertificate): a self-signed certificate and its
/// private key, made by the admin layer. The key is replicated (every node would present the
/// certificate) and never answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientCertificate {
    pub id: String,
    pub description: Option<String>,
    /// The certificate, PEM.
    pub pem_certificate: String,
    /// Its private key, PEM (PKCS#8).
    pub private_key_pem: String,
    /// Epoch seconds.
    pub created_date: i64,
    /// Epoch seconds: the end of the certificate's validity.
    pub expiration_date: i64,
    pub tags: BTreeMap<String, String>,
}

/// The account's settings (AWS's GetAccount and UpdateAccount).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// The account-level throttle of the data plane (for the whole cluster); when unset, each
    /// node's configured `account_rate_limit`/`account_burst_limit` applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleSettings>,
    /// The IAM role ARN AWS would write CloudWatch logs as: stored and returned, used by
    /// nothing here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudwatch_role_arn: Option<String>,
}

impl Account {
    /// Whether nothing is set (so snapshots of registries that never set it stay as they were).
    pub fn is_empty(&self) -> bool {
        self.throttle.is_none() && self.cloudwatch_role_arn.is_none()
    }
}

/// How many requests a key may make per period.
///
/// `period` is `DAY`, `WEEK` or `MONTH`, in UTC: a week starts on Monday, a month on its first
/// day. `offset` is AWS's "requests subtracted from the limit in the initial period": the
/// period in which the plan got this quota ([`crate::Registry::quota_limit`]). Earlier builds
/// accepted any period (or none) without checking it, so one outside the set decodes as
/// [`OrUnknown::Unknown`]; such a quota has no period bounds, and the data plane counts it as
/// spent (fail closed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuotaSettings {
    pub limit: i64,
    pub offset: i64,
    pub period: OrUnknown<QuotaPeriod>,
}

aws_string_enum! {
    /// The quota periods AWS offers.
    pub enum QuotaPeriod {
        Day => "DAY",
        Week => "WEEK",
        Month => "MONTH",
    }
}

impl QuotaSettings {
    /// The quota period that contains `day` (days since the epoch, UTC), as a half-open range
    /// of day numbers `[start, end)`. `None` when the period is not one of [`QuotaPeriod`].
    pub fn period_bounds(&self, day: i64) -> Option<(i64, i64)> {
        Some(self.period.known()?.bounds(day))
    }
}

impl QuotaPeriod {
    /// The period that contains `day` (days since the epoch, UTC), as a half-open range of day
    /// numbers `[start, end)`.
    pub fn bounds(self, day: i64) -> (i64, i64) {
        match self {
            QuotaPeriod::Day => (day, day + 1),
            QuotaPeriod::Week => {
                // Day 0 (1970-01-01) was a Thursday: Monday is three days before it.
                let start = day - (day + 3).rem_euclid(7);
                (start, start + 7)
            }
            QuotaPeriod::Month => {
                let (y, m, _) = civil_from_days(day);
                let start = days_from_civil(y, m, 1);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (start, days_from_civil(ny, nm, 1))
            }
        }
    }
}

/// As [`QuotaPeriod::bounds`], for a period name; `None` for a name outside the set.
pub fn period_bounds(period: &str, day: i64) -> Option<(i64, i64)> {
    Some(QuotaPeriod::parse(period)?.bounds(day))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1–12, day 1–31).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month 1–12, day 1–31) of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A stage of an API a usage plan covers, with per-method throttling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiStage {
    pub api_id: String,
    pub stage: String,
    /// `{resourcePath}/{METHOD}` (`/pets/GET`, `//GET` for the root) → limits, as AWS keys them.
    pub throttle: BTreeMap<String, ThrottleSettings>,
}

/// A usage plan: which API stages it covers, its limits, and the keys subscribed to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsagePlan {
    /// Six-character identifier, as AWS makes them.
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub api_stages: Vec<ApiStage>,
    /// Per-key rate limit over all the plan's stages.
    pub throttle: Option<ThrottleSettings>,
    /// Per-key request quota.
    pub quota: Option<QuotaSettings>,
    /// The usage plan keys: ids of the API keys subscribed.
    pub key_ids: BTreeSet<String>,
    pub tags: BTreeMap<String, String>,
}

impl UsagePlan {
    /// Whether the plan covers `stage` of `api_id`.
    pub fn covers(&self, api_id: &str, stage: &str) -> bool {
        self.api_stages
            .iter()
            .any(|s| s.api_id == api_id && s.stage == stage)
    }
}

#[cfg(test)]
mod api_key_tests {
    use super::*;

    /// `ApiKey` as it was declared before `extra` (derived encoding).
    #[derive(Serialize)]
    struct Before {
        id: String,
        value: String,
        name: Option<String>,
        description: Option<String>,
        enabled: bool,
        created_date: i64,
        last_updated_date: i64,
        customer_id: Option<String>,
        tags: BTreeMap<String, String>,
    }

    fn before(description: Option<&str>, tags: &[(&str, &str)]) -> Before {
        Before {
            id: "k1".into(),
            value: "v".repeat(20),
            name: Some("n".into()),
            description: description.map(String::from),
            enabled: true,
            created_date: 3,
            last_updated_date: 4,
            customer_id: None,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn it_encodes_and_decodes_as_before_with_or_without_extras() {
        for (description, tags) in [(None, &[][..]), (Some("d"), &[("t", "1")][..])] {
            let old = before(description, tags);
            let key = ApiKey {
                id: old.id.clone(),
                value: old.value.clone(),
                name: old.name.clone(),
                enabled: true,
                created_date: 3,
                last_updated_date: 4,
                extra: None,
            }
            .with_extra(
                old.description.clone(),
                old.customer_id.clone(),
                old.tags.clone(),
            );
            let bytes = crate::codec::encode(&old);
            assert_eq!(crate::codec::encode(&key), bytes);
            let back: ApiKey = crate::codec::decode(&bytes).unwrap();
            assert_eq!(back, key);
            assert_eq!(back.extra.is_some(), description.is_some());
        }
    }

    #[test]
    fn setters_keep_no_extra_when_all_is_unset() {
        let mut k = ApiKey::default();
        k.set_customer_id(Some("c".into()));
        assert_eq!(k.customer_id(), Some("c"));
        k.set_tags(BTreeMap::from([("a".into(), "b".into())]));
        k.set_customer_id(None);
        assert!(k.extra.is_some());
        k.set_tags(BTreeMap::new());
        assert!(k.extra.is_none());
        assert_eq!((k.description(), k.tags().len()), (None, 0));
        // An empty extra set by hand equals none.
        let empty = ApiKey {
            extra: Some(Box::default()),
            ..Default::default()
        };
        assert_eq!(empty, ApiKey::default());
    }
}

#[cfg(test)]
mod calendar_tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        for z in [-800_000, -1, 0, 59, 11_016, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn periods() {
        // 2024-02-29 (a Thursday, leap day).
        let day = days_from_civil(2024, 2, 29);
        assert_eq!(period_bounds("DAY", day), Some((day, day + 1)));
        let (ws, we) = period_bounds("WEEK", day).unwrap();
        assert_eq!(civil_from_days(ws), (2024, 2, 26)); // Monday
        assert_eq!(we - ws, 7);
        // A Monday starts its own week; a Sunday ends one.
        let monday = days_from_civil(2024, 2, 26);
        assert_eq!(period_bounds("WEEK", monday).unwrap().0, monday);
        let sunday = days_from_civil(2024, 3, 3);
        assert_eq!(period_bounds("WEEK", sunday).unwrap().0, monday);
        let (ms, me) = period_bounds("MONTH", day).unwrap();
        assert_eq!(
            (ms, me),
            (days_from_civil(2024, 2, 1), days_from_civil(2024, 3, 1))
        );
        assert_eq!(me - ms, 29);
        let dec = days_from_civil(2023, 12, 31);
        assert_eq!(
            period_bounds("MONTH", dec),
            Some((days_from_civil(2023, 12, 1), days_from_civil(2024, 1, 1)))
        );
        assert_eq!(period_bounds("YEAR", day), None);
    }
}

/// The account's IAM identities: users, their inline policies and their access keys. Only
/// what the data plane's `AWS_IAM` authorization needs (see `docs/SECURITY.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Iam {
    /// Users by name.
    pub users: BTreeMap<String, IamUser>,
    /// Access keys by id (the id is unique across users).
    pub access_keys: BTreeMap<String, AccessKey>,
}

/// An IAM user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IamUser {
    /// The user name (unique in the account, compared case-insensitively as IAM does).
    pub name: String,
    /// The stable id (`AIDA…`), minted by the admin layer.
    pub id: String,
    /// The IAM path (`/` by default).
    pub path: String,
    /// Epoch seconds (from the command).
    pub created_date: i64,
    /// Inline policies: name → policy document (JSON text, as put).
    pub policies: BTreeMap<String, String>,
}

/// An access key: the id a SigV4 credential scope names and the secret it signs with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccessKey {
    /// `AKIA…` (long-term) or `ASIA…` (temporary).
    pub id: String,
    /// The secret access key. Replicated as is: every node must derive SigV4 signing keys
    /// from it.
    pub secret: String,
    /// The user it belongs to.
    pub user_name: String,
    /// An inactive key is refused as if it did not exist.
    pub active: bool,
    /// Epoch seconds (from the command).
    pub created_date: i64,
    /// Temporary credentials: the session token requests must carry (`X-Amz-Security-Token`).
    #[serde(default)]
    pub session_token: Option<String>,
    /// Temporary credentials: when they expire (epoch seconds).
    #[serde(default)]
    pub expires: Option<i64>,
}

/// Most access keys one user may have (as IAM).
pub const MAX_ACCESS_KEYS_PER_USER: usize = 2;
