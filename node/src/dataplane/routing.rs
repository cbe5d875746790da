//! The compiled routing table: what the data plane serves, built from the registry off the hot
//! path and then only read.
//!
//! Compilation does every piece of work that does not depend on the request: stage variables are
//! substituted into integration URIs, MOCK integrations and their templates are compiled
//! (those that read no request data rendered to bytes), upstream addresses are
//! parsed, and each stage's resource tree becomes an index-based trie for the matcher.

use super::authorizer::{CompiledAuthorizer, JwtAuthorizer, MethodJwt};
use super::cluster_limits::{ClusterLimits, LimitState};
use super::gateway_response::{CompiledGatewayResponse, CompiledGatewayResponses, Template};
use super::http1::is_hop_by_hop;
use super::validate::{self, CompiledValidation};
use crate::iam::policy::{Kind, Policy};
use crate::iam::{compile_identities, IdentityTable};
use crate::text_rules::{is_header_name, is_header_value};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tollgate_proto::model::{
    AuthorizationType, Deployment, Integration, IntegrationType, Method, RestApi, Stage,
    UnauthorizedCacheControlHeaderStrategy,
};
use tollgate_proto::Registry;

/// The HTTP verbs a method can be defined for; `Any` is API Gateway's `ANY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Verb {
    /// GET
    Get = 0,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// PATCH
    Patch,
    /// HEAD
    Head,
    /// OPTIONS
    Options,
    /// ANY (matches every verb without a method of its own)
    Any,
}

/// Number of [`Verb`] values.
pub const VERBS: usize = 8;

impl Verb {
    /// Parses a request method; `None` for methods API Gateway does not route.
    pub fn from_bytes(m: &[u8]) -> Option<Verb> {
        Some(match m {
            b"GET" => Verb::Get,
            b"POST" => Verb::Post,
            b"PUT" => Verb::Put,
            b"DELETE" => Verb::Delete,
            b"PATCH" => Verb::Patch,
            b"HEAD" => Verb::Head,
            b"OPTIONS" => Verb::Options,
            b"ANY" => Verb::Any,
            _ => return None,
        })
    }
}

/// Every deployed stage, by API id and stage name, and the API keys.
#[derive(Debug, Default)]
pub struct RoutingTable {
    /// APIs by id (a persistent map: a table compiled for one API shares the others').
    pub apis: super::api_table::ApiTable,
    /// API keys by value.
    pub keys: Arc<KeyTable>,
    /// IAM users' access keys, for `AWS_IAM` methods.
    pub iam: Arc<IdentityTable>,
    /// The account-level limit set through UpdateAccount (replicated); when `None`, each
    /// worker's configured one applies.
    pub account: Option<Arc<ThrottleSpec>>,
    /// Custom domain names: TLS configurations and base path mappings.
    pub domains: Arc<super::domains::DomainTable>,
}

pub use super::key_table::{compile_keys, KeyEntry, KeyStage, KeyTable, QuotaSpec};

/// The deployed stages of one API.
#[derive(Debug, Default)]
pub struct ApiRoutes {
    /// Stages by name.
    pub stages: FxHashMap<Box<str>, Arc<StageRoutes>>,
    /// Whether the `execute-api` endpoints are turned off for this API.
    pub execute_api_disabled: bool,
    /// The API's resource policy, if it has one; `Err` (why) when the stored policy does not
    /// compile, and every request is denied.
    pub policy: Option<Result<Policy, Box<str>>>,
    /// Whether API keys come from a Lambda authorizer's `usageIdentifierKey` (the API's
    /// `apiKeySource` is `AUTHORIZER`) rather than the `x-api-key` header.
    pub api_key_from_authorizer: bool,
}

/// One stage of one API, compiled.
#[derive(Debug)]
pub struct StageRoutes {
    /// The API's id.
    pub api_id: Box<str>,
    /// The stage's name.
    pub stage_name: Box<str>,
    /// The deployment it serves.
    pub deployment_id: Box<str>,
    /// Identifies this stage's cache (API, stage and cache epoch: a flush changes it).
    pub cache_id: u64,
    /// The stage's cache memory budget in bytes (0: caching off).
    pub cache_bytes: usize,
    /// The gateway responses its deployment froze (empty: AWS's defaults for every refusal).
    pub gateway_responses: CompiledGatewayResponses,
    /// The API's binary media types (Lambda proxy events and answers use them).
    pub binary_media_types: Vec<Box<str>>,
    /// The API's `minimumCompressionSize` (`None`: answers are not compressed, request bodies
    /// not decoded; see [`super::compress`]).
    pub min_compression: Option<usize>,
    /// `tracingEnabled`: requests carry a trace context to the integration and their spans
    /// are exported.
    pub tracing: bool,
    /// The stage's canary release, when it takes traffic.
    pub canary: Option<Canary>,
    /// Trie nodes; index 0 is the root resource.
    pub nodes: Vec<RouteNode>,
    /// The methods the nodes point at.
    pub methods: Vec<CompiledMethod>,
    /// The stage's access log (format and file), when `accessLogSettings` turn it on.
    pub access_log: Option<super::access_log::StageAccessLog>,
    /// The stage's metric series (every request to it).
    pub series: Option<u32>,
}

/// A stage's canary: its deployment compiled with the stage's variables overridden.
#[derive(Debug)]
pub struct Canary {
    /// Requests per million the canary serves (`percentTraffic` × 10,000).
    pub per_million: u32,
    /// The canary's routes (same API and stage name; its own deployment and variables).
    pub routes: Arc<StageRoutes>,
}

impl StageRoutes {
    /// The routes that serve a request whose `roll` (uniform in 0..1,000,000) is given: the
    /// canary's when the roll falls in its share.
    pub fn pick(&self, roll: u32) -> &StageRoutes {
        match &self.canary {
            Some(c) if roll < c.per_million => &c.routes,
            _ => self,
        }
    }
}

/// One resource in the trie.
#[derive(Debug, Default)]
pub struct RouteNode {
    /// Literal children, sorted by segment for binary search.
    pub statics: Vec<(Box<str>, u32)>,
    /// The `{name}` child, if any: (name, node).
    pub param: Option<(Box<str>, u32)>,
    /// The `{name+}` child, if any: (name, node).
    pub greedy: Option<(Box<str>, u32)>,
    /// Method index per [`Verb`].
    pub methods: [Option<u32>; VERBS],
}

/// A method ready to serve.
#[derive(Debug)]
pub struct CompiledMethod {
    /// The resource path (`/pets/{petId}`).
    pub resource_path: Box<str>,
    /// The verb it was defined for.
    pub http_method: Box<str>,
    /// Whether an API key is required (enforced once usage plans exist).
    pub api_key_required: bool,
    /// How callers are authorised (`NONE`, `AWS_IAM` and `CUSTOM` are served; see
    /// `fail_closed`).
    pub authorization_type: AuthorizationType,
    /// The Lambda authorizer of a `CUSTOM` method (shared by the stage's methods that name
    /// it).
    pub authorizer: Option<Arc<CompiledAuthorizer>>,
    /// The `COGNITO_USER_POOLS` authorizer of a method with that authorization type.
    pub jwt: Option<Box<MethodJwt>>,
    /// Why the method must not be served at all, when it must not: it asks for a check this
    /// node cannot make (an authorization, see [`method_refusal`]; a request validator or model
    /// missing from the deployment, a schema that does not compile). The phase of that check
    /// refuses every request with 500, so an unenforceable setting never lets a request through.
    pub fail_closed: Option<FailClosed>,
    /// What the method's request validator checks, when it has one.
    pub validation: Option<Box<CompiledValidation>>,
    /// The stage's throttle for this method (its own method setting, else the stage-wide
    /// `*/*` one), if the stage sets one.
    pub throttle: Option<ThrottleSpec>,
    /// Response caching for this method, when the stage's cache is on and the method caches.
    pub cache: Option<CacheSpec>,
    /// What to do with the request.
    pub integration: CompiledIntegration,
    /// The method's metric series, when the stage's method settings turn detailed metrics
    /// on for it (`metrics/enabled`).
    pub series: Option<u32>,
}

/// A check a method asks for that this node cannot make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailClosed {
    /// The phase whose check it is.
    pub check: UnservedCheck,
    /// Why, for the log.
    pub why: Box<str>,
}

/// The phase a [`FailClosed`] method is refused in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnservedCheck {
    /// An authorization type other than `NONE`.
    Authorization,
    /// A request validator.
    Validation,
}

/// How a method's answers are cached.
#[derive(Debug)]
pub struct CacheSpec {
    /// Time to live.
    pub ttl_ns: u64,
    /// Request values that are part of the cache key (besides the path).
    pub key_params: Vec<ValueSource>,
    /// Whether `Cache-Control: max-age=0` needs authorization to bypass the cache.
    pub require_authorization: bool,
    /// What an unauthorized `max-age=0` gets.
    pub unauthorized_strategy: UnauthorizedCacheControlHeaderStrategy,
}

/// The cache settings of a method: its own method setting, else — for GET only, as AWS does
/// by default — the stage-wide `*/*` one.
fn cache_for(stage: &Stage, path: &str, verb: &str, i: Option<&Integration>) -> Option<CacheSpec> {
    if !stage.cache_cluster_enabled {
        return None;
    }
    let key = format!("{}/{verb}", path.trim_start_matches('/'));
    let setting = stage.method_settings.get(&key).or_else(|| {
        (verb == "GET")
            .then(|| stage.method_settings.get("*/*"))
            .flatten()
    })?;
    if !setting.caching_enabled || setting.cache_ttl_in_seconds <= 0 {
        return None;
    }
    // A parameter the key cannot hold would make the key coarser than configured, and one
    // caller's cached answer another's: such a method is not cached at all.
    let key_params = i
        .map(|i| i.cache_key_parameters.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|p| {
            if let Some(q) = p.strip_prefix("method.request.querystring.") {
                Some(ValueSource::Query(q.into()))
            } else if let Some(h) = p.strip_prefix("method.request.header.") {
                Some(ValueSource::Header(h.into()))
            } else {
                p.strip_prefix("method.request.path.")
                    .map(|x| ValueSource::Path(x.into()))
            }
        })
        .collect::<Option<Vec<_>>>();
    let Some(key_params) = key_params else {
        tracing::warn!(
            stage = %stage.stage_name,
            method = verb,
            path,
            "caching off for this method: a cache key parameter is not one the cache can key on"
        );
        return None;
    };
    Some(CacheSpec {
        ttl_ns: setting.cache_ttl_in_seconds.min(3600) as u64 * 1_000_000_000,
        key_params,
        require_authorization: setting.require_authorization_for_cache_control,
        unauthorized_strategy: setting.unauthorized_cache_control_header_strategy,
    })
}

/// A rate limit (of a stage's method, a usage plan, the account), split across the cluster's
/// nodes and each node's workers by demand.
#[derive(Debug)]
pub struct ThrottleSpec {
    /// Identifies the limit (what it limits, rate, burst) across recompilations and nodes, so
    /// a worker's bucket survives an unrelated change and every node reports the same id.
    pub id: u64,
    /// Requests per second for the whole cluster.
    pub rate: f64,
    /// Burst for the whole cluster.
    pub burst: f64,
    /// The workers' demand exchange and this node's share, kept across recompilations.
    pub state: Arc<LimitState>,
}

impl ThrottleSpec {
    /// The limit `id` of `rate` and `burst`, with its state from `limits`.
    pub fn new(id: u64, rate: f64, burst: f64, limits: &ClusterLimits) -> ThrottleSpec {
        ThrottleSpec {
            id,
            rate,
            burst,
            state: limits.limit(id, rate),
        }
    }
}

pub(super) fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The throttle a stage sets for a method: the method's own setting
/// (`{resource path without the leading slash}/{VERB}`), else the stage-wide `*/*`.
fn throttle_for(
    api_id: &str,
    stage: &Stage,
    path: &str,
    verb: &str,
    limits: &ClusterLimits,
) -> Option<ThrottleSpec> {
    let key = format!("{}/{verb}", path.trim_start_matches('/'));
    let (which, setting) = stage
        .method_settings
        .get_key_value(&key)
        .or_else(|| stage.method_settings.get_key_value("*/*"))?;
    let rate = setting.throttling_rate_limit.max(0.0);
    let burst = f64::from(setting.throttling_burst_limit.max(0));
    let id = fnv64(&[
        api_id.as_bytes(),
        stage.stage_name.as_bytes(),
        which.as_bytes(),
        key.as_bytes(),
        &rate.to_bits().to_le_bytes(),
        &burst.to_bits().to_le_bytes(),
    ]);
    Some(ThrottleSpec::new(id, rate, burst, limits))
}

/// The method's metric series when its method setting (else the stage-wide `*/*` one)
/// turns detailed metrics on.
fn series_for(api_id: &str, stage: &Stage, path: &str, verb: &str) -> Option<u32> {
    let key = format!("{}/{verb}", path.trim_start_matches('/'));
    let setting = stage
        .method_settings
        .get(&key)
        .or_else(|| stage.method_settings.get("*/*"))?;
    setting.metrics_enabled.then(|| {
        super::api_metrics::series().id(super::api_metrics::Labels::Method {
            api: api_id.into(),
            stage: stage.stage_name.as_str().into(),
            resource: path.into(),
            method: verb.into(),
        })
    })?
}

/// What a method does with a request.
#[derive(Debug)]
pub enum CompiledIntegration {
    /// Answer without a backend (shared by the methods and stages of an API whose MOCK
    /// integration and stage variables are the same: [`Interner`]).
    Mock(Arc<MockIntegration>),
    /// Forward the request to an HTTP backend, returning its answer as is.
    HttpProxy(HttpProxyIntegration),
    /// Call an HTTP backend with a mapped request, and map its answer (HTTP, non-proxy).
    Http(Box<super::http_integration::HttpIntegration>),
    /// Invoke a Lambda function with the request as a proxy event (AWS_PROXY), or with the
    /// payload its request template renders (AWS).
    Lambda(Box<LambdaIntegration>),
    /// An integration this node cannot serve (type or configuration); answered with 500 and the
    /// reason logged.
    Unavailable(Box<str>),
}

pub use super::mock::MockIntegration;

/// A response: status, header lines and body (rendered when the table is compiled, or per
/// request by a MOCK mapping template that reads request data).
#[derive(Debug, Clone)]
pub struct RenderedResponse {
    /// HTTP status.
    pub status: u16,
    /// Header lines, each `Name: value\r\n`, content type included.
    pub header_block: Box<[u8]>,
    /// The body.
    pub body: Box<[u8]>,
}

/// An HTTP_PROXY integration with its URI pre-parsed.
#[derive(Debug)]
pub struct HttpProxyIntegration {
    /// Verb towards the backend; `None` passes the client's verb through (`ANY`).
    pub method: Option<Box<str>>,
    /// `host:port` to connect to (also the pool key).
    pub authority: Box<str>,
    /// `Host` header value to send.
    pub host_header: Box<str>,
    /// Path template (`/pets/{petId}` split into pieces).
    pub path: Vec<UriPiece>,
    /// Query from the URI itself, sent before the client's query.
    pub base_query: Box<str>,
    /// Integration timeout.
    pub timeout: Duration,
    /// Extra request headers: (name, source).
    pub headers: Vec<(Box<str>, ValueSource)>,
    /// Mapped query parameters (`integration.request.querystring.NAME`): (name, source),
    /// sent after the URI's query and the client's.
    pub query: Vec<(Box<str>, ValueSource)>,
    /// HTTP_PROXY: the client's query string and end-to-end headers are forwarded. An HTTP
    /// (non-proxy) integration sends only what is mapped.
    pub forward_client: bool,
    /// A mapping reads a `context.*` value: the request's template data is gathered.
    pub needs_context: bool,
    /// `https://`: the server name and how the certificate is checked.
    pub tls: Option<super::upstream_tls::TlsTarget>,
    /// The worker pool's key: `authority`, or for TLS the scheme, the verification and the
    /// authority (so connections of one kind are never handed to the other).
    pub pool_key: Box<str>,
}

/// An AWS_PROXY integration: the function it invokes and what its events carry that does not
/// depend on the request.
#[derive(Debug)]
pub struct LambdaIntegration {
    /// The function (name and ARN) the URI names.
    pub function: super::lambda::arn::FunctionRef,
    /// The account of the function ARN (the event's `requestContext.accountId`).
    pub account_id: Box<str>,
    /// Integration timeout.
    pub timeout: Duration,
    /// The method's resource id.
    pub resource_id: Box<str>,
    /// The stage's variables.
    pub stage_variables: Vec<(Box<str>, Box<str>)>,
    /// An AWS (non-proxy) integration: its templates and integration responses; `None` for
    /// AWS_PROXY.
    pub mapping: Option<Box<super::lambda::mapped::LambdaMapping>>,
}

/// A piece of an integration URI path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriPiece {
    /// Literal text.
    Lit(Box<str>),
    /// The value of a method path parameter.
    Param(Box<str>),
    /// A mapped value from another source (`integration.request.path.NAME` mapped from a
    /// query string, header, literal or context value), percent-encoded for the path.
    Value(ValueSource),
}

/// Where a mapped request value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    /// A fixed string (`'value'`, or a stage variable resolved at compile time).
    Literal(Box<str>),
    /// `method.request.path.NAME`
    Path(Box<str>),
    /// `method.request.querystring.NAME`
    Query(Box<str>),
    /// `method.request.header.NAME`
    Header(Box<str>),
    /// `context.identity.NAME` of an `AWS_IAM` caller (absent for other methods).
    Identity(IdentityField),
    /// `context.authorizer.NAME` (`principalId` or a context key) of a Lambda authorizer's
    /// answer (absent for other methods).
    Authorizer(Box<str>),
    /// `method.request.multivaluequerystring.NAME`: every value (a header gets them joined
    /// with `,`, a query string parameter repeated, a path the first).
    MultiQuery(Box<str>),
    /// `method.request.multivalueheader.NAME`: every value, likewise.
    MultiHeader(Box<str>),
    /// `context.NAME`: one of [`super::mapping::CONTEXT_NAMES`], read from the request's
    /// template data (gathered for the request only when an integration maps one).
    Context(Box<str>),
}

impl ValueSource {
    /// Parses a request parameter mapping's source (`stageVariables.*` resolved now, from
    /// `stage`); `None` when it is none this gateway applies.
    pub fn parse(source: &str, stage: &Stage) -> Option<ValueSource> {
        let named = |p: &str| source.strip_prefix(p).filter(|n| !n.is_empty());
        Some(if let Some(l) = literal(source) {
            ValueSource::Literal(l.into())
        } else if let Some(v) = named("stageVariables.") {
            ValueSource::Literal(stage.variables.get(v).cloned().unwrap_or_default().into())
        } else if let Some(p) = named("method.request.path.") {
            ValueSource::Path(p.into())
        } else if let Some(q) = named("method.request.querystring.") {
            ValueSource::Query(q.into())
        } else if let Some(q) = named("method.request.multivaluequerystring.") {
            ValueSource::MultiQuery(q.into())
        } else if let Some(h) = named("method.request.header.") {
            ValueSource::Header(h.into())
        } else if let Some(h) = named("method.request.multivalueheader.") {
            ValueSource::MultiHeader(h.into())
        } else if let Some(f) = named("context.identity.").and_then(IdentityField::parse) {
            ValueSource::Identity(f)
        } else if let Some(n) = named("context.authorizer.") {
            ValueSource::Authorizer(n.into())
        } else if let Some(n) =
            named("context.").filter(|n| super::mapping::CONTEXT_NAMES.contains(n))
        {
            ValueSource::Context(n.into())
        } else {
            return None;
        })
    }
}

/// A `$context.identity` field an integration can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityField {
    /// `accessKey`
    AccessKey,
    /// `accountId`
    AccountId,
    /// `caller`
    Caller,
    /// `user`
    User,
    /// `userArn`
    UserArn,
}

impl IdentityField {
    /// Parses the field name after `context.identity.`.
    pub fn parse(name: &str) -> Option<IdentityField> {
        Some(match name {
            "accessKey" => IdentityField::AccessKey,
            "accountId" => IdentityField::AccountId,
            "caller" => IdentityField::Caller,
            "user" => IdentityField::User,
            "userArn" => IdentityField::UserArn,
            _ => return None,
        })
    }

    /// The field's value for `id`.
    pub fn of(self, id: &super::phases::authorize::CallerIdentity) -> &str {
        match self {
            IdentityField::AccessKey => &id.access_key,
            IdentityField::AccountId => &id.account_id,
            IdentityField::Caller => &id.caller,
            IdentityField::User => &id.user,
            IdentityField::UserArn => &id.user_arn,
        }
    }
}

/// Builds the whole table from the registry, with limit states from `limits`.
pub fn compile_all(reg: &Registry, limits: &ClusterLimits) -> RoutingTable {
    let mut t = RoutingTable::default();
    for api in reg.apis.values() {
        t.apis.insert(
            api.id.as_str().into(),
            Arc::new(compile_api(api, reg, limits)),
        );
    }
    t.keys = Arc::new(compile_keys(reg, today(), limits));
    t.iam = Arc::new(compile_identities(reg));
    t.account = compile_account(reg, limits);
    t.domains = Arc::new(super::domains::compile_domains(reg));
    t
}

/// The account-level limit of UpdateAccount, if one is set. Its id depends only on the limit
/// (as the configured one's does), so every node reports the same one and a recompile keeps
/// its state.
pub fn compile_account(reg: &Registry, limits: &ClusterLimits) -> Option<Arc<ThrottleSpec>> {
    let t = reg.account.throttle?;
    let rate = t.rate_limit.max(0.0);
    let burst = f64::from(t.burst_limit.max(0));
    let id = fnv64(&[
        b"account",
        &rate.to_bits().to_le_bytes(),
        &burst.to_bits().to_le_bytes(),
    ]);
    Some(Arc::new(ThrottleSpec::new(id, rate, burst, limits)))
}

/// Today's UTC day number since the epoch (the day quotas are counted in).
pub fn today() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64 / 86_400)
        .unwrap_or(0)
}

/// Rebuilds only `changed` APIs (and the key table when `keys`), sharing everything else with
/// `old`.
pub fn compile_changed<'a>(
    old: &RoutingTable,
    reg: &Registry,
    changed: impl IntoIterator<Item = &'a str>,
    keys: bool,
    limits: &ClusterLimits,
) -> RoutingTable {
    // Shares every shard of the old map but those of the changed APIs: no work per API held.
    let mut apis = old.apis.clone();
    for id in changed {
        match reg.apis.get(id) {
            Some(api) => {
                apis.insert(id.into(), Arc::new(compile_api(api, reg, limits)));
            }
            None => {
                apis.remove(id);
            }
        }
    }
    let keys = if keys {
        Arc::new(compile_keys(reg, today(), limits))
    } else {
        old.keys.clone()
    };
    RoutingTable {
        apis,
        keys,
        iam: old.iam.clone(),
        // One limit at most: compiled with every change, so an UpdateAccount needs no more.
        account: compile_account(reg, limits),
        domains: old.domains.clone(),
    }
}

/// Compiles every deployed stage of one API (`reg` gives the stages' cache epochs).
pub fn compile_api(api: &RestApi, reg: &Registry, limits: &ClusterLimits) -> ApiRoutes {
    let policy = api.settings.policy.as_deref().map(|doc| {
        Policy::parse(doc, Kind::Resource).map_err(|why| {
            tracing::warn!(
                api = %api.id,
                %why,
                "resource policy does not compile: every request to the API is denied"
            );
            why.into_boxed_str()
        })
    });
    let mut out = ApiRoutes {
        stages: FxHashMap::default(),
        execute_api_disabled: api.settings.disable_execute_api_endpoint,
        policy,
        api_key_from_authorizer: api.settings.api_key_source.known()
            == Some(tollgate_proto::model::ApiKeySource::Authorizer),
    };
    let mut interner = Interner::default();
    for stage in api.stages.values() {
        if let Some(dep) = api.deployments.get(&stage.deployment_id) {
            let epoch = reg.authorizer_epoch(&api.id, &stage.stage_name);
            let mut sr = compile_stage_in(&api.id, stage, dep, limits, epoch, &mut interner);
            sr.binary_media_types = api
                .settings
                .binary_media_types
                .iter()
                .map(|t| t.as_str().into())
                .collect();
            sr.min_compression = api
                .settings
                .minimum_compression_size
                .and_then(|n| usize::try_from(n).ok());
            let cache_epoch = reg.cache_epoch(&api.id, &stage.stage_name);
            sr.cache_id = fnv64(&[
                api.id.as_bytes(),
                stage.stage_name.as_bytes(),
                &cache_epoch.to_le_bytes(),
            ]);
            sr.canary = compile_canary(
                &api.id,
                stage,
                &api.deployments,
                limits,
                epoch,
                &sr,
                &mut interner,
            );
            out.stages
                .insert(stage.stage_name.as_str().into(), Arc::new(sr));
        }
    }
    out
}

/// A stage's canary, compiled: its deployment with the stage's variables overridden, the
/// stage's cache (`useStageCache`) or none. `None` when it takes no traffic or its
/// deployment is gone.
fn compile_canary(
    api_id: &str,
    stage: &Stage,
    deployments: &BTreeMap<String, Deployment>,
    limits: &ClusterLimits,
    authorizer_epoch: u64,
    base: &StageRoutes,
    interner: &mut Interner,
) -> Option<Canary> {
    let c = stage.canary_settings.as_ref()?;
    let per_million = (c.percent_traffic.clamp(0.0, 100.0) * 10_000.0).round() as u32;
    if per_million == 0 {
        return None;
    }
    let dep = deployments.get(&c.deployment_id)?;
    let mut s = stage.clone();
    s.variables.extend(c.stage_variable_overrides.clone());
    s.canary_settings = None;
    let mut routes = compile_stage_in(api_id, &s, dep, limits, authorizer_epoch, interner);
    routes.binary_media_types = base.binary_media_types.clone();
    routes.min_compression = base.min_compression;
    if c.use_stage_cache {
        routes.cache_id = base.cache_id;
        routes.cache_bytes = base.cache_bytes;
    } else {
        routes.cache_bytes = 0;
    }
    Some(Canary {
        per_million,
        routes: Arc::new(routes),
    })
}

/// The gateway responses a deployment froze, compiled. The admin API stores only what can be
/// served; what still cannot (state written by an older build) is left out and logged: a
/// header is dropped, an unusable status keeps the refusal's own.
fn compile_gateway_responses(
    api_id: &str,
    stage: &str,
    dep: &Deployment,
) -> CompiledGatewayResponses {
    let mut out = CompiledGatewayResponses::default();
    for (kind, r) in &dep.gateway_responses {
        let skip = |what: &str, why: &str| {
            tracing::warn!(
                api = api_id,
                stage,
                response_type = kind.as_str(),
                what,
                why,
                "gateway response setting not served"
            );
        };
        let status = r
            .status_code
            .as_deref()
            .and_then(|s| match s.parse::<u16>() {
                Ok(code) if (100..=599).contains(&code) => Some(code),
                _ => {
                    skip(s, "not a status code");
                    None
                }
            });
        // The JSON template if there is one, else the first (a body of its content type).
        let template = r
            .response_templates
            .get_key_value("application/json")
            .or_else(|| r.response_templates.iter().next());
        let body = template.map(|(_, t)| Template::parse(t));
        let mut compiled = CompiledGatewayResponse::new(status, body);
        if let Some((content_type, _)) = template.filter(|(ct, _)| *ct != "application/json") {
            if let Err(why) = compiled.add_header("Content-Type", content_type) {
                skip(content_type, why);
            }
        }
        for (key, value) in &r.response_parameters {
            let name = key.strip_prefix("gatewayresponse.header.");
            match (name, super::gateway_response::literal_value(value)) {
                (Some(name), Some(literal)) => {
                    if let Err(why) = compiled.add_header(name, literal) {
                        skip(key, why);
                    }
                }
                _ => skip(key, "only literal header values are served"),
            }
        }
        out.set(*kind, compiled);
    }
    out
}

/// Compiles one stage from the deployment it points at (its authorizer caches at epoch 0).
pub fn compile_stage(
    api_id: &str,
    stage: &Stage,
    dep: &Deployment,
    limits: &ClusterLimits,
) -> StageRoutes {
    compile_stage_with(api_id, stage, dep, limits, 0)
}

/// The deployment's authorizers compiled for `stage`, by id; one that cannot be served maps
/// to why (its methods fail closed).
fn compile_authorizers<'d>(
    api_id: &str,
    stage: &Stage,
    dep: &'d Deployment,
    authorizer_epoch: u64,
) -> HashMap<&'d str, Result<Arc<CompiledAuthorizer>, String>> {
    dep.authorizers
        .iter()
        .map(|(id, a)| {
            let cache_id = fnv64(&[
                api_id.as_bytes(),
                stage.stage_name.as_bytes(),
                dep.id.as_bytes(),
                id.as_bytes(),
                &authorizer_epoch.to_le_bytes(),
            ]);
            let compiled = CompiledAuthorizer::compile(a, stage, cache_id).map(Arc::new);
            (id.as_str(), compiled)
        })
        .collect()
}

/// The deployment's `COGNITO_USER_POOLS` authorizers, by id; one that cannot be served maps to
/// why (its methods fail closed).
fn compile_jwt_authorizers(dep: &Deployment) -> HashMap<&str, Result<Arc<JwtAuthorizer>, String>> {
    dep.authorizers
        .iter()
        .filter(|(_, a)| a.kind == tollgate_proto::model::AuthorizerType::CognitoUserPools)
        .map(|(id, a)| (id.as_str(), JwtAuthorizer::compile(a).map(Arc::new)))
        .collect()
}

/// Compiled parts shared by the stages (and methods) of one API compile: MOCK integrations
/// by what they are compiled from (the integration and the stage's variables, encoded), so
/// two stages of the same tree, or two methods with the same MOCK, hold one copy.
#[derive(Default)]
pub struct Interner {
    mocks: HashMap<Vec<u8>, Arc<MockIntegration>>,
}

impl Interner {
    /// The MOCK integration `i` compiled for `stage`, shared with an equal one compiled
    /// before.
    fn mock(&mut self, i: &Integration, stage: &Stage) -> Result<Arc<MockIntegration>, String> {
        let key = tollgate_proto::codec::encode(&(i, &stage.variables));
        if let Some(m) = self.mocks.get(&key) {
            return Ok(m.clone());
        }
        let m = Arc::new(super::mock::compile(i, stage)?);
        self.mocks.insert(key, m.clone());
        Ok(m)
    }
}

/// Compiles one stage from the deployment it points at, its authorizer caches at
/// `authorizer_epoch` (FlushStageAuthorizersCache moves it on).
pub fn compile_stage_with(
    api_id: &str,
    stage: &Stage,
    dep: &Deployment,
    limits: &ClusterLimits,
    authorizer_epoch: u64,
) -> StageRoutes {
    compile_stage_in(
        api_id,
        stage,
        dep,
        limits,
        authorizer_epoch,
        &mut Interner::default(),
    )
}

/// [`compile_stage_with`], sharing compiled parts through `interner`.
pub fn compile_stage_in(
    api_id: &str,
    stage: &Stage,
    dep: &Deployment,
    limits: &ClusterLimits,
    authorizer_epoch: u64,
    interner: &mut Interner,
) -> StageRoutes {
    let authorizers = compile_authorizers(api_id, stage, dep, authorizer_epoch);
    let jwt_authorizers = compile_jwt_authorizers(dep);
    let mut sr = StageRoutes {
        api_id: api_id.into(),
        stage_name: stage.stage_name.as_str().into(),
        deployment_id: dep.id.as_str().into(),
        cache_id: fnv64(&[api_id.as_bytes(), stage.stage_name.as_bytes()]),
        cache_bytes: if stage.cache_cluster_enabled {
            super::cache::cluster_size_bytes(stage.cache_cluster_size.as_deref())
        } else {
            0
        },
        gateway_responses: compile_gateway_responses(api_id, &stage.stage_name, dep),
        binary_media_types: Vec::new(),
        min_compression: None,
        tracing: stage.tracing_enabled,
        canary: None,
        nodes: vec![RouteNode::default()],
        methods: Vec::new(),
        access_log: stage
            .access_log_settings
            .as_ref()
            .and_then(super::access_log::StageAccessLog::compile),
        series: super::api_metrics::series().id(super::api_metrics::Labels::Stage {
            api: api_id.into(),
            stage: stage.stage_name.as_str().into(),
        }),
    };
    // Children lists, so the tree can be walked from the root.
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in dep.resources.values() {
        if let Some(p) = &r.parent_id {
            children.entry(p.as_str()).or_default().push(r.id.as_str());
        }
    }
    // Request models compiled so far (each once per table).
    let mut schemas = BTreeMap::new();
    // (resource id, node index)
    let mut stack = vec![(dep.root_resource_id.as_str(), 0u32)];
    while let Some((rid, node_idx)) = stack.pop() {
        let Some(res) = dep.resources.get(rid) else {
            continue;
        };
        let path = RestApi::resource_path(&dep.resources, rid).unwrap_or_default();
        for (verb, m) in &res.methods {
            let Some(v) = Verb::from_bytes(verb.as_bytes()) else {
                continue;
            };
            let idx = sr.methods.len() as u32;
            sr.methods.push(compile_method(
                api_id,
                rid,
                &path,
                m,
                stage,
                dep,
                limits,
                &mut schemas,
                &authorizers,
                &jwt_authorizers,
                interner,
            ));
            sr.nodes[node_idx as usize].methods[v as usize] = Some(idx);
        }
        for child in children.get(rid).map(Vec::as_slice).unwrap_or(&[]) {
            let Some(c) = dep.resources.get(*child) else {
                continue;
            };
            let ci = sr.nodes.len() as u32;
            sr.nodes.push(RouteNode::default());
            let part = c.path_part.as_str();
            let node = &mut sr.nodes[node_idx as usize];
            if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                match inner.strip_suffix('+') {
                    Some(name) => node.greedy = Some((name.into(), ci)),
                    None => node.param = Some((inner.into(), ci)),
                }
            } else {
                node.statics.push((part.into(), ci));
            }
            stack.push((c.id.as_str(), ci));
        }
    }
    for n in &mut sr.nodes {
        n.statics.sort_by(|a, b| a.0.cmp(&b.0));
        n.statics.shrink_to_fit();
    }
    sr.nodes.shrink_to_fit();
    sr.methods.shrink_to_fit();
    sr
}

/// Why a method must not be served at all, if it must not: it asks for a check this node
/// cannot make. Every authorization type is enforced today (`CUSTOM` and
/// `COGNITO_USER_POOLS` with their authorizers, checked by [`method_authorizer`] and
/// [`method_jwt`]); a type added to the model later is refused here until it is enforced.
pub fn method_refusal(m: &Method) -> Option<FailClosed> {
    let served = matches!(
        m.authorization_type,
        AuthorizationType::None
            | AuthorizationType::AwsIam
            | AuthorizationType::Custom
            | AuthorizationType::CognitoUserPools
    );
    (!served).then(|| FailClosed {
        check: UnservedCheck::Authorization,
        why: format!(
            "authorization type {:?} is not implemented; the method is refused until it is",
            m.authorization_type.as_str()
        )
        .into(),
    })
}

/// The authorizer of a method whose authorization type is `kind`, from the deployment's
/// compiled ones, or why it cannot be served (`None`: the method has another type).
/// `missing`: what to say when its id is not among them.
fn authorizer_of<T>(
    m: &Method,
    kind: AuthorizationType,
    authorizers: &HashMap<&str, Result<Arc<T>, String>>,
    missing: &str,
) -> Result<Option<Arc<T>>, FailClosed> {
    if m.authorization_type != kind {
        return Ok(None);
    }
    let fail = |why: String| FailClosed {
        check: UnservedCheck::Authorization,
        why: why.into(),
    };
    let id = m.authorizer_id.as_deref().ok_or_else(|| {
        fail(format!(
            "a {} method without an authorizer",
            m.authorization_type.as_str()
        ))
    })?;
    match authorizers.get(id) {
        None => Err(fail(format!("authorizer {id:?} {missing}"))),
        Some(Err(why)) => Err(fail(format!("authorizer {id:?} cannot be served: {why}"))),
        Some(Ok(a)) => Ok(Some(a.clone())),
    }
}

/// The Lambda authorizer of a `CUSTOM` method, or why it cannot be served (no authorizer, one
/// missing from the deployment, or one that does not compile).
fn method_authorizer(
    m: &Method,
    authorizers: &HashMap<&str, Result<Arc<CompiledAuthorizer>, String>>,
) -> Result<Option<Arc<CompiledAuthorizer>>, FailClosed> {
    authorizer_of(
        m,
        AuthorizationType::Custom,
        authorizers,
        "is not in the deployment",
    )
}

/// The `COGNITO_USER_POOLS` authorizer of such a method with its scopes, or why it cannot be
/// served (no authorizer, one missing from the deployment or of another type, or one that
/// does not compile).
fn method_jwt(
    m: &Method,
    authorizers: &HashMap<&str, Result<Arc<JwtAuthorizer>, String>>,
) -> Result<Option<Box<MethodJwt>>, FailClosed> {
    let authorizer = authorizer_of(
        m,
        AuthorizationType::CognitoUserPools,
        authorizers,
        "is not a COGNITO_USER_POOLS authorizer of the deployment",
    )?;
    Ok(authorizer.map(|authorizer| {
        Box::new(MethodJwt {
            authorizer,
            scopes: m
                .authorization_scopes
                .iter()
                .map(|s| s.as_str().into())
                .collect(),
        })
    }))
}

/// The method's compiled request validation (`None` without a validator), or why it cannot
/// be compiled: its validator or a request model is not in the deployment, or a schema does
/// not compile. Each model is compiled once per table (`schemas`).
fn compile_validation(
    api_id: &str,
    m: &Method,
    dep: &Deployment,
    schemas: &mut BTreeMap<String, Arc<jsonschema::Validator>>,
) -> Result<Option<Box<CompiledValidation>>, String> {
    let Some(id) = &m.request_validator_id else {
        return Ok(None);
    };
    let v = dep
        .request_validators
        .get(id)
        .ok_or_else(|| format!("request validator {id:?} is not in the deployment"))?;
    validate::compile(api_id, m, v, &dep.models, schemas).map(|c| Some(Box::new(c)))
}

/// Integration settings the data plane does not apply and must not silently ignore: a VPC
/// link (the backend is not the URI's host), backend credentials, content conversion on an
/// integration type other than HTTP and MOCK.
fn unserved_setting(i: &Integration) -> Option<String> {
    if i.connection_type.as_deref() == Some("VPC_LINK") || i.connection_id.is_some() {
        return Some("VPC link connections are not served".into());
    }
    if i.credentials.is_some() {
        return Some("integration credentials are not served".into());
    }
    let converts = matches!(i.kind, IntegrationType::Http | IntegrationType::Mock);
    if !converts
        && (i.content_handling.is_some()
            || i.integration_responses
                .values()
                .any(|r| r.content_handling.is_some()))
    {
        return Some("content handling is served for HTTP and MOCK integrations only".into());
    }
    None
}

#[allow(clippy::too_many_arguments)]
fn compile_method(
    api_id: &str,
    resource_id: &str,
    path: &str,
    m: &Method,
    stage: &Stage,
    dep: &Deployment,
    limits: &ClusterLimits,
    schemas: &mut BTreeMap<String, Arc<jsonschema::Validator>>,
    authorizers: &HashMap<&str, Result<Arc<CompiledAuthorizer>, String>>,
    jwt_authorizers: &HashMap<&str, Result<Arc<JwtAuthorizer>, String>>,
    interner: &mut Interner,
) -> CompiledMethod {
    let integration = match &m.integration {
        None => CompiledIntegration::Unavailable("the method has no integration".into()),
        Some(i) => {
            let compiled = match unserved_setting(i) {
                Some(why) => Err(why),
                None => match i.kind {
                    IntegrationType::Mock => interner.mock(i, stage).map(CompiledIntegration::Mock),
                    IntegrationType::HttpProxy => {
                        compile_http_proxy(i, stage).map(CompiledIntegration::HttpProxy)
                    }
                    IntegrationType::Http => compile_http_proxy(i, stage)
                        .and_then(|backend| super::http_integration::compile(i, stage, backend))
                        .map(|h| CompiledIntegration::Http(Box::new(h))),
                    IntegrationType::AwsProxy | IntegrationType::Aws => {
                        compile_lambda(i, stage, resource_id)
                            .map(|l| CompiledIntegration::Lambda(Box::new(l)))
                    }
                },
            };
            compiled.unwrap_or_else(|why| {
                tracing::warn!(
                    api = api_id,
                    stage = %stage.stage_name,
                    method = %m.http_method,
                    path,
                    %why,
                    "method compiled to answer 500: its integration cannot be served"
                );
                CompiledIntegration::Unavailable(why.into())
            })
        }
    };
    let authorizer = method_authorizer(m, authorizers);
    let jwt = method_jwt(m, jwt_authorizers);
    let refusal = method_refusal(m)
        .or_else(|| authorizer.as_ref().err().cloned())
        .or_else(|| jwt.as_ref().err().cloned());
    let authorizer = authorizer.unwrap_or(None);
    let jwt = jwt.unwrap_or(None);
    let (fail_closed, validation) = match refusal {
        Some(f) => (Some(f), None),
        None => match compile_validation(api_id, m, dep, schemas) {
            Ok(v) => (None, v),
            Err(why) => (
                Some(FailClosed {
                    check: UnservedCheck::Validation,
                    why: why.into(),
                }),
                None,
            ),
        },
    };
    if let Some(FailClosed { why, .. }) = &fail_closed {
        tracing::warn!(
            api = api_id,
            stage = %stage.stage_name,
            method = %m.http_method,
            path,
            %why,
            "method compiled to answer 500: it asks for a check this node cannot make"
        );
    }
    CompiledMethod {
        resource_path: path.into(),
        http_method: m.http_method.as_str().into(),
        api_key_required: m.api_key_required,
        authorization_type: m.authorization_type,
        authorizer,
        jwt,
        fail_closed,
        validation,
        throttle: throttle_for(api_id, stage, path, &m.http_method, limits),
        cache: cache_for(stage, path, &m.http_method, m.integration.as_ref()),
        integration,
        series: series_for(api_id, stage, path, &m.http_method),
    }
}

/// The text of a `'quoted'` mapping literal.
fn literal(s: &str) -> Option<&str> {
    s.strip_prefix('\'').and_then(|s| s.strip_suffix('\''))
}

/// Replaces `${stageVariables.name}` with the stage's value (empty when unset).
pub fn substitute_stage_variables(s: &str, stage: &Stage) -> String {
    const OPEN: &str = "${stageVariables.";
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find(OPEN) {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + OPEN.len()..];
        match after.find('}') {
            Some(end) => {
                if let Some(v) = stage.variables.get(&after[..end]) {
                    out.push_str(v);
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[pos..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Compiles the backend call of an HTTP_PROXY integration, or of an HTTP (non-proxy) one
/// (which forwards nothing of the client's request but what it maps).
pub(crate) fn compile_http_proxy(
    i: &Integration,
    stage: &Stage,
) -> Result<HttpProxyIntegration, String> {
    let uri = i.uri.as_deref().ok_or("the HTTP integration has no URI")?;
    let uri = substitute_stage_variables(uri, stage);
    // It becomes the request line and the Host header: nothing that could end or split them.
    if uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "the integration URI {uri:?} holds whitespace or control characters"
        ));
    }
    let (rest, https) = if let Some(r) = uri.strip_prefix("http://") {
        (r, false)
    } else if let Some(r) = uri.strip_prefix("https://") {
        (r, true)
    } else {
        return Err(format!("invalid integration URI: {uri}"));
    };
    let (authority, path_query) = match rest.find('/') {
        Some(p) => (&rest[..p], &rest[p..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("invalid integration URI host: {uri}"));
    }
    let (path, base_query) = match path_query.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path_query, ""),
    };
    let host_header = authority.to_string();
    let authority = if has_port(authority) {
        authority.to_string()
    } else if https {
        format!("{authority}:443")
    } else {
        format!("{authority}:80")
    };
    let tls = if https {
        Some(super::upstream_tls::TlsTarget {
            server_name: super::upstream_tls::server_name(&authority)?,
            insecure: i.tls_config.is_some_and(|t| t.insecure_skip_verification),
        })
    } else {
        None
    };
    let pool_key = match &tls {
        None => authority.clone(),
        Some(t) if t.insecure => format!("https+insecure://{authority}"),
        Some(_) => format!("https://{authority}"),
    };
    // `{x}` in the URI takes `integration.request.path.x`, which the request parameters map
    // from a method parameter; without a mapping, the method path parameter of the same name.
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        lit.push_str(&rest[..open]);
        if !lit.is_empty() {
            pieces.push(UriPiece::Lit(std::mem::take(&mut lit).into()));
        }
        let name = rest[open + 1..open + close].trim_end_matches('+');
        let piece = match i
            .request_parameters
            .get(&format!("integration.request.path.{name}"))
        {
            None => UriPiece::Param(name.into()),
            Some(source) => match ValueSource::parse(source, stage) {
                Some(ValueSource::Path(p)) => UriPiece::Param(p),
                Some(v) => UriPiece::Value(v),
                None => {
                    return Err(format!(
                    "the path mapping integration.request.path.{name} = {source:?} is not served"
                ))
                }
            },
        };
        pieces.push(piece);
        rest = &rest[open + close + 1..];
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        pieces.push(UriPiece::Lit(lit.into()));
    }
    let mut headers = Vec::new();
    let mut query = Vec::new();
    for (target, source) in &i.request_parameters {
        let (name, is_query) = if let Some(n) = target.strip_prefix("integration.request.header.") {
            (n, false)
        } else if let Some(n) = target.strip_prefix("integration.request.querystring.") {
            (n, true)
        } else {
            continue;
        };
        if !is_query && !is_header_name(name) {
            return Err(format!("the request header name {name:?} is not a token"));
        }
        // The gateway frames the backend request itself: a mapped Content-Length,
        // Transfer-Encoding or Connection (sent beside its own) would let a client's value
        // decide where the request ends for the backend, and a second Host would leave the
        // backend to pick one. AWS answers 500 for a mapped Content-Length or
        // Transfer-Encoding; so does this gateway, for all four.
        if !is_query
            && (super::gateway_response::is_framing_header(name)
                || is_hop_by_hop(name.as_bytes())
                || name.eq_ignore_ascii_case("host"))
        {
            return Err(format!(
                "the request mapping {target:?} sets {name}, which the gateway frames the backend request with"
            ));
        }
        let Some(src) = ValueSource::parse(source, stage) else {
            return Err(format!(
                "the request mapping {target:?} = {source:?} is not served"
            ));
        };
        if let ValueSource::Literal(v) = &src {
            if !is_header_value(v) {
                return Err(format!(
                    "the request mapping {target:?} = {source:?} gives a value with line breaks or control characters"
                ));
            }
        }
        if is_query {
            query.push((name.into(), src));
        } else {
            headers.push((name.into(), src));
        }
    }
    let method = i
        .http_method
        .as_deref()
        .filter(|m| !m.is_empty() && *m != "ANY")
        .map(Into::into);
    let timeout_ms = if i.timeout_in_millis == 0 {
        tollgate_proto::model::DEFAULT_INTEGRATION_TIMEOUT_MS
    } else {
        i.timeout_in_millis
    };
    let is_context = |v: &ValueSource| matches!(v, ValueSource::Context(_));
    let needs_context = headers.iter().chain(&query).any(|(_, v)| is_context(v))
        || pieces
            .iter()
            .any(|p| matches!(p, UriPiece::Value(v) if is_context(v)));
    Ok(HttpProxyIntegration {
        method,
        authority: authority.into(),
        host_header: host_header.into(),
        path: pieces,
        base_query: base_query.into(),
        timeout: Duration::from_millis(u64::from(timeout_ms)),
        headers,
        query,
        forward_client: i.kind == IntegrationType::HttpProxy,
        needs_context,
        tls,
        pool_key: pool_key.into(),
    })
}

fn compile_lambda(
    i: &Integration,
    stage: &Stage,
    resource_id: &str,
) -> Result<LambdaIntegration, String> {
    let kind = i.kind.as_str();
    if i.http_method.as_deref() != Some("POST") {
        return Err(format!(
            "an {kind} integration's integrationHttpMethod must be POST"
        ));
    }
    let proxy = i.kind == IntegrationType::AwsProxy;
    if proxy && (!i.request_parameters.is_empty() || !i.request_templates.is_empty()) {
        return Err("request mappings are not applied to AWS_PROXY integrations".into());
    }
    let uri = i
        .uri
        .as_deref()
        .ok_or_else(|| format!("the {kind} integration has no URI"))?;
    let function = super::lambda::arn::parse_uri(&substitute_stage_variables(uri, stage))?;
    let account_id = function.arn.split(':').nth(4).unwrap_or_default().into();
    let timeout_ms = if i.timeout_in_millis == 0 {
        tollgate_proto::model::DEFAULT_INTEGRATION_TIMEOUT_MS
    } else {
        i.timeout_in_millis
    };
    let stage_variables: Vec<(Box<str>, Box<str>)> = stage
        .variables
        .iter()
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect();
    let mapping = match proxy {
        true => None,
        false => Some(Box::new(super::lambda::mapped::compile(
            i,
            stage_variables.clone(),
        )?)),
    };
    Ok(LambdaIntegration {
        function,
        account_id,
        timeout: Duration::from_millis(u64::from(timeout_ms)),
        resource_id: resource_id.into(),
        stage_variables,
        mapping,
    })
}

fn has_port(authority: &str) -> bool {
    match authority.rfind(':') {
        Some(p) => !authority[p..].contains(']'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn stage(vars: &[(&str, &str)]) -> Stage {
        Stage {
            stage_name: "dev".into(),
            variables: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    /// A canary compiles its own deployment with the overrides; it shares the stage's cache
    /// only with `useStageCache`; no share or a missing deployment is no canary.
    #[test]
    fn canaries_compile_their_deployment_with_overrides() {
        let dep = |id: &str| Deployment {
            id: id.into(),
            root_resource_id: "root".into(),
            ..Default::default()
        };
        let deployments = BTreeMap::from([("d1".into(), dep("d1")), ("d2".into(), dep("d2"))]);
        let limits = ClusterLimits::default();
        let mut st = stage(&[("v", "blue"), ("w", "same")]);
        st.deployment_id = "d1".into();
        st.cache_cluster_enabled = true;
        let mut base = compile_stage("api", &st, &deployments["d1"], &limits);
        base.cache_id = 42;
        let canary = |pct: f64, deployment: &str, use_cache: bool| {
            let mut s = st.clone();
            s.canary_settings = Some(tollgate_proto::model::CanarySettings {
                percent_traffic: pct,
                deployment_id: deployment.into(),
                stage_variable_overrides: BTreeMap::from([("v".into(), "green".into())]),
                use_stage_cache: use_cache,
            });
            compile_canary(
                "api",
                &s,
                &deployments,
                &limits,
                0,
                &base,
                &mut Interner::default(),
            )
        };
        let c = canary(12.5, "d2", false).expect("a canary");
        assert_eq!(c.per_million, 125_000);
        assert_eq!(&*c.routes.deployment_id, "d2");
        assert_eq!(c.routes.cache_bytes, 0);
        assert!(c.routes.canary.is_none());
        let shared = canary(100.0, "d2", true).unwrap();
        assert_eq!(
            (shared.routes.cache_id, shared.routes.cache_bytes),
            (42, base.cache_bytes)
        );
        assert!(base.cache_bytes > 0);
        assert!(canary(0.0, "d2", true).is_none());
        assert!(canary(50.0, "gone", true).is_none());
        // Picking by roll.
        base.canary = Some(c);
        assert_eq!(&*base.pick(124_999).deployment_id, "d2");
        assert_eq!(&*base.pick(125_000).deployment_id, "d1");
    }

    #[test]
    fn stage_variables_are_substituted() {
        let s = stage(&[("host", "127.0.0.1:9"), ("v", "x")]);
        assert_eq!(
            substitute_stage_variables(
                "http://${stageVariables.host}/a/${stageVariables.v}/${stageVariables.none}",
                &s
            ),
            "http://127.0.0.1:9/a/x/"
        );
        assert_eq!(
            substitute_stage_variables("${stageVariables.open", &s),
            "${stageVariables.open"
        );
    }

    #[test]
    fn proxy_uri_is_parsed_with_mapped_params() {
        let i = Integration {
            kind: IntegrationType::HttpProxy,
            uri: Some("http://${stageVariables.host}/pets/{id}/{proxy}?a=1".into()),
            http_method: Some("ANY".into()),
            request_parameters: BTreeMap::from([
                (
                    "integration.request.path.id".into(),
                    "method.request.path.petId".into(),
                ),
                ("integration.request.header.X-Stage".into(), "'dev'".into()),
            ]),
            ..Default::default()
        };
        let p = compile_http_proxy(&i, &stage(&[("host", "localhost")])).unwrap();
        assert_eq!(&*p.authority, "localhost:80");
        assert_eq!(&*p.host_header, "localhost");
        assert_eq!(&*p.base_query, "a=1");
        assert!(p.method.is_none());
        assert_eq!(
            p.path,
            vec![
                UriPiece::Lit("/pets/".into()),
                UriPiece::Param("petId".into()),
                UriPiece::Lit("/".into()),
                UriPiece::Param("proxy".into()),
            ]
        );
        assert_eq!(
            p.headers,
            vec![("X-Stage".into(), ValueSource::Literal("dev".into()))]
        );
        assert!(compile_http_proxy(
            &Integration {
                uri: Some("ftp://x".into()),
                ..i.clone()
            },
            &stage(&[])
        )
        .is_err());
    }

    #[test]
    fn mock_header_with_line_break_is_not_served() {
        let mut i = Integration {
            kind: IntegrationType::Mock,
            ..Default::default()
        };
        let mut r = tollgate_proto::model::IntegrationResponse {
            status_code: "200".into(),
            response_parameters: BTreeMap::from([(
                "method.response.header.X-A".into(),
                "'a\r\nX-Smuggled: 1'".into(),
            )]),
            ..Default::default()
        };
        i.integration_responses
            .insert("200".into(), Box::new(r.clone()));
        assert!(super::super::mock::compile(&i, &stage(&[]))
            .unwrap_err()
            .contains("not a valid header"));
        r.response_parameters.clear();
        r.response_templates =
            BTreeMap::from([("text/plain\r\nX-Smuggled: 1".into(), "hi".into())]);
        i.integration_responses.insert("200".into(), Box::new(r));
        assert!(super::super::mock::compile(&i, &stage(&[]))
            .unwrap_err()
            .contains("content type"));
    }

    #[test]
    fn proxy_header_or_uri_with_line_break_is_not_served() {
        let base = Integration {
            kind: IntegrationType::HttpProxy,
            uri: Some("http://127.0.0.1:9/x".into()),
            http_method: Some("GET".into()),
            ..Default::default()
        };
        let with = |target: &str, source: &str| Integration {
            request_parameters: BTreeMap::from([(target.into(), source.into())]),
            ..base.clone()
        };
        assert!(compile_http_proxy(&base, &stage(&[])).is_ok());
        // A literal with CR/LF would split the request to the shared backend pool.
        let e = compile_http_proxy(
            &with(
                "integration.request.header.X-A",
                "'a\r\n\r\nGET /smuggled HTTP/1.1'",
            ),
            &stage(&[]),
        )
        .unwrap_err();
        assert!(e.contains("line breaks"), "{e}");
        // The same through a stage variable an old log could hold.
        let e = compile_http_proxy(
            &with("integration.request.header.X-A", "stageVariables.v"),
            &stage(&[("v", "a\nb")]),
        )
        .unwrap_err();
        assert!(e.contains("line breaks"), "{e}");
        assert!(
            compile_http_proxy(&with("integration.request.header.X\rA", "'v'"), &stage(&[]))
                .is_err()
        );
        let e = compile_http_proxy(
            &Integration {
                uri: Some("http://${stageVariables.h}/x".into()),
                ..base.clone()
            },
            &stage(&[("h", "127.0.0.1:9/ HTTP/1.1\r\nX: y")]),
        )
        .unwrap_err();
        assert!(e.contains("control"), "{e}");
        // A mapped framing header would let the client's value frame the backend request.
        for name in [
            "Content-Length",
            "transfer-encoding",
            "Connection",
            "Host",
            "TE",
        ] {
            let e = compile_http_proxy(
                &with(
                    &format!("integration.request.header.{name}"),
                    "method.request.header.x-len",
                ),
                &stage(&[]),
            )
            .unwrap_err();
            assert!(e.contains("frames the backend request"), "{name}: {e}");
        }
        assert!(compile_http_proxy(
            &with(
                "integration.request.header.X-Length",
                "method.request.header.x-len"
            ),
            &stage(&[])
        )
        .is_ok());
    }

    #[test]
    fn methods_with_unenforced_authorization_fail_closed() {
        let limits = ClusterLimits::new(1);
        let method = |verb: &str, auth: &str| Method {
            http_method: verb.into(),
            authorization_type: AuthorizationType::parse(auth).expect("an AWS name"),
            integration: Some(Integration {
                kind: IntegrationType::Mock,
                ..Default::default()
            }),
            ..Default::default()
        };
        let dep = Deployment {
            id: "d1".into(),
            description: None,
            created_date: 0,
            root_resource_id: "r".into(),
            resources: BTreeMap::from([(
                "r".into(),
                tollgate_proto::model::Resource {
                    id: "r".into(),
                    parent_id: None,
                    path_part: String::new(),
                    methods: BTreeMap::from([
                        ("GET".into(), Box::new(method("GET", "AWS_IAM"))),
                        ("POST".into(), Box::new(method("POST", "NONE"))),
                        ("PUT".into(), Box::new(method("PUT", "CUSTOM"))),
                        (
                            "DELETE".into(),
                            Box::new(method("DELETE", "COGNITO_USER_POOLS")),
                        ),
                    ]),
                },
            )])
            .into(),
            ..Default::default()
        };
        let sr = compile_stage("api", &stage(&[]), &dep, &limits);
        let refused = |verb: &str| {
            sr.methods
                .iter()
                .find(|m| &*m.http_method == verb)
                .unwrap()
                .fail_closed
                .is_some()
        };
        assert!(!refused("POST"));
        assert!(!refused("GET"), "AWS_IAM is served");
        // CUSTOM without an authorizer, and COGNITO_USER_POOLS.
        for verb in ["PUT", "DELETE"] {
            assert!(refused(verb), "{verb}");
        }
        // CUSTOM with a Lambda authorizer of the deployment is served; one naming an
        // authorizer missing from the deployment, or one that cannot be served, is not.
        let authorizer = |kind, uri: &str| tollgate_proto::model::Authorizer {
            id: "az1".into(),
            name: "a".into(),
            kind,
            provider_arns: Vec::new(),
            auth_type: None,
            authorizer_uri: Some(uri.into()),
            authorizer_credentials: None,
            identity_source: Some("method.request.header.Authorization".into()),
            identity_validation_expression: None,
            authorizer_result_ttl_in_seconds: 300,
        };
        const FN: &str = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:auth/invocations";
        let with = |a: Option<tollgate_proto::model::Authorizer>, id: &str| {
            let mut d = dep.clone();
            let root = d.resources.get_mut("r").unwrap();
            root.methods.get_mut("PUT").unwrap().authorizer_id = Some(id.into());
            d.authorizers.extend(a.map(|a| (a.id.clone(), a)));
            let sr = compile_stage("api", &stage(&[]), &d, &limits);
            let m = sr
                .methods
                .iter()
                .find(|m| &*m.http_method == "PUT")
                .unwrap();
            (m.fail_closed.is_some(), m.authorizer.is_some())
        };
        use tollgate_proto::model::AuthorizerType as A;
        // COGNITO_USER_POOLS with a Cognito authorizer of the deployment is served.
        let mut d = dep.clone();
        let root = d.resources.get_mut("r").unwrap();
        let del = root.methods.get_mut("DELETE").unwrap();
        del.authorizer_id = Some("c1".into());
        del.authorization_scopes = vec!["pets/read".into()];
        d.authorizers.insert(
            "c1".into(),
            tollgate_proto::model::Authorizer {
                id: "c1".into(),
                kind: A::CognitoUserPools,
                authorizer_uri: None,
                provider_arns: vec![
                    "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_T".into(),
                ],
                ..authorizer(A::CognitoUserPools, FN)
            },
        );
        let sr = compile_stage("api", &stage(&[]), &d, &limits);
        let m = sr
            .methods
            .iter()
            .find(|m| &*m.http_method == "DELETE")
            .unwrap();
        assert!(m.fail_closed.is_none());
        let jwt = m.jwt.as_ref().unwrap();
        assert_eq!(&*jwt.scopes, &["pets/read".into()] as &[Box<str>]);
        assert_eq!(
            &*jwt.authorizer.issuers[0].issuer,
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_T"
        );
        // One whose provider is not understood: refused.
        d.authorizers.get_mut("c1").unwrap().provider_arns = vec!["bogus".into()];
        let sr = compile_stage("api", &stage(&[]), &d, &limits);
        let m = sr
            .methods
            .iter()
            .find(|m| &*m.http_method == "DELETE")
            .unwrap();
        assert!(m.fail_closed.is_some() && m.jwt.is_none());
        assert_eq!(with(Some(authorizer(A::Token, FN)), "az1"), (false, true));
        assert_eq!(with(Some(authorizer(A::Token, FN)), "other"), (true, false));
        assert_eq!(
            with(Some(authorizer(A::Token, "bogus")), "az1"),
            (true, false)
        );
        assert_eq!(
            with(Some(authorizer(A::CognitoUserPools, FN)), "az1"),
            (true, false)
        );
        assert_eq!(with(None, "az1"), (true, false));
        let mut cached = Stage {
            cache_cluster_enabled: true,
            ..stage(&[])
        };
        cached.method_settings.insert(
            "*/*".into(),
            tollgate_proto::model::MethodSetting {
                caching_enabled: true,
                cache_ttl_in_seconds: 60,
                ..Default::default()
            },
        );
        let keyed = |p: &str| Integration {
            cache_key_parameters: vec![p.into()],
            ..Default::default()
        };
        let spec = cache_for(&cached, "/", "GET", Some(&keyed("method.request.header.h")));
        assert_eq!(spec.map(|c| c.key_params.len()), Some(1));
        assert!(cache_for(&cached, "/", "GET", Some(&keyed("method.request.body"))).is_none());
        let mut validated = method("GET", "NONE");
        validated.request_validator_id = Some("v1".into());
        assert!(method_refusal(&validated).is_none());
        // A validator missing from the deployment (state of older builds) refuses the method;
        // one in it compiles.
        let mut schemas = BTreeMap::new();
        assert!(compile_validation("api", &validated, &dep, &mut schemas).is_err());
        let mut with_validator = dep.clone();
        with_validator.request_validators.insert(
            "v1".into(),
            tollgate_proto::model::RequestValidator {
                id: "v1".into(),
                validate_request_parameters: true,
                ..Default::default()
            },
        );
        let c = compile_validation("api", &validated, &with_validator, &mut schemas);
        assert!(matches!(c, Ok(Some(_))));
        // A COGNITO_USER_POOLS method without its authorizer: refused.
        validated.authorization_type = AuthorizationType::CognitoUserPools;
        assert_eq!(
            method_jwt(&validated, &HashMap::new())
                .map(|_| ())
                .map_err(|f| f.check),
            Err(UnservedCheck::Authorization)
        );
        // Settings the data plane would otherwise ignore make the integration unservable.
        let proxy = Integration {
            kind: IntegrationType::HttpProxy,
            uri: Some("http://127.0.0.1:9/".into()),
            http_method: Some("GET".into()),
            ..Default::default()
        };
        assert!(unserved_setting(&proxy).is_none());
        for i in [
            Integration {
                connection_type: Some("VPC_LINK".into()),
                ..proxy.clone()
            },
            Integration {
                credentials: Some("arn:aws:iam::1:role/r".into()),
                ..proxy.clone()
            },
            Integration {
                content_handling: Some("CONVERT_TO_TEXT".into()),
                ..proxy.clone()
            },
        ] {
            assert!(unserved_setting(&i).is_some(), "{i:?}");
        }
        // Content conversion is served for HTTP and MOCK integrations.
        for kind in [IntegrationType::Http, IntegrationType::Mock] {
            let i = Integration {
                kind,
                content_handling: Some("CONVERT_TO_BINARY".into()),
                ..proxy.clone()
            };
            assert!(unserved_setting(&i).is_none(), "{i:?}");
        }
    }
}
