//! The gateway core: the request's phases ([`super::phases`]) run in AWS's order, with no I/O
//! and no clock of its own. Given the compiled table, the parsed request, the worker's limit
//! and usage state and the time, [`decide`] says what to do next: answer now (a gateway
//! response, or a MOCK answer), call a backend (after the cache, as the plan says), invoke a
//! Lambda function, or first invoke the method's Lambda authorizer. Once the backend
//! answered, [`after_integration`] says how to answer the client; once the function did,
//! [`after_lambda`]; once the authorizer did, [`after_authorizer`] reads its answer (and
//! caches it), and the shell calls [`decide`] again with it. Each decision carries what to
//! log. The worker ([`super::handler`]) only carries decisions out.
//!
//! Decisions borrow from the table and the request; nothing here allocates except the Lambda
//! event and answer, a MOCK mapping template that reads request data (rendered per request, its
//! answer owned), and authorization with something to check (an `AWS_IAM` method, an API with a
//! resource policy): the SigV4 verifier works on owned strings, and the caller's identity is
//! handed to the integration owned (see [`super::phases::authorize`]).

use super::authorizer::{self as authz, AuthorizerResult, CompiledAuthorizer};
use super::gateway_response::{CompiledGatewayResponses, Refusal};
use super::http_integration::BackendAnswer;
use super::lambda::event::EventInput;
use super::lambda::response::Reply;
use super::mapping::{RequestView, Stamp, TemplateData};
use super::matcher::Captures;
use super::phases::authorize::{Admission, AuthContext, AuthScratch, Authorized, CallerIdentity};
use super::phases::cache::CacheUse;
use super::phases::integration_request::{Call, HttpCall, LazyData};
use super::phases::integration_response::{self, Mapped};
use super::phases::log::{Level, LogRecord};
use super::phases::{
    api_key, authorize, cache, integration_request, method_response, plan_limits, resolve_stage,
    route, stage_limits, validate,
};
use super::request::Request;
use super::routing::{
    CompiledMethod, HttpProxyIntegration, LambdaIntegration, RenderedResponse, RoutingTable,
    StageRoutes, ThrottleSpec,
};
use super::throttle::WorkerLimits;
use super::upstream::ProxyError;
use super::usage::UsageCounters;
use crate::functions::{InvokeError, InvokeResult};
use crate::iam::IamEnv;
use std::borrow::Cow;
use std::rc::Rc;

/// The worker's state the phases read and update, lent for one decision.
pub struct WorkerState<'w> {
    /// The worker's throttle buckets.
    pub limits: &'w mut WorkerLimits,
    /// The worker's API-key usage counters.
    pub usage: &'w mut UsageCounters,
    /// The node's account-level limit.
    pub account: Option<&'w ThrottleSpec>,
    /// How many workers the node runs (a stage's cache budget is split among them).
    pub workers: usize,
    /// The account, region and root credentials `AWS_IAM` authorizes in.
    pub iam: &'w IamEnv,
    /// Wall-clock time, epoch seconds (signature dates; `now_ns` is monotonic).
    pub wall_secs: i64,
    /// The authorization phase's reused buffers and the worker's authorizer cache.
    pub auth: &'w mut AuthScratch,
    /// The answer of this request's Lambda authorizer, when the shell has just invoked it
    /// ([`Decision::Authorize`], then [`after_authorizer`]).
    pub authorized: Option<Rc<AuthorizerResult>>,
}

/// An answer the gateway makes itself: the refusal, the API's gateway responses that shape it
/// (`None`: AWS's defaults) and what to log.
#[derive(Debug, Clone)]
pub struct Refuse<'t> {
    /// The gateway response.
    pub refusal: Refusal,
    /// The API's overrides, once the API is known.
    pub responses: Option<&'t CompiledGatewayResponses>,
    /// What to log, if anything.
    pub log: Option<LogRecord<'t>>,
    /// `$context.error.message` when it is not the refusal's fixed one (the parameters a
    /// request lacks); made only on this refusal path.
    pub message: Option<String>,
}

/// What the worker does with a request.
pub enum Decision<'t, 'r> {
    /// Answer with a gateway response.
    Refuse(Refuse<'t>),
    /// Answer with a MOCK integration's response (borrowed when precompiled, owned when its
    /// template read request data).
    Mock(Cow<'t, RenderedResponse>),
    /// Call a backend (consulting the cache first when the plan says so).
    Proxy(ProxyPlan<'t, 'r>),
    /// Invoke a Lambda function with the event [`lambda_event`] builds.
    Lambda(LambdaPlan<'t, 'r>),
    /// Invoke the method's Lambda authorizer, read its answer with [`after_authorizer`], then
    /// decide again with it.
    Authorize(AuthorizePlan<'t>),
}

/// How to invoke a Lambda authorizer, and what the core needs afterwards.
pub struct AuthorizePlan<'t> {
    /// The authorizer.
    pub authorizer: &'t CompiledAuthorizer,
    /// Its event.
    pub event: Vec<u8>,
    /// The cache key of the request's identity values.
    pub key: Vec<u8>,
    /// The stage (its gateway responses and the log).
    pub stage: &'t StageRoutes,
    /// The method, for the log.
    pub method: &'t CompiledMethod,
}

/// How to invoke a Lambda function, and what the core needs afterwards.
pub struct LambdaPlan<'t, 'r> {
    /// The function and the event's fixed parts.
    pub integration: &'t LambdaIntegration,
    /// An AWS (non-proxy) integration's payload (its request template's output), sent in
    /// place of the proxy event; its answer is mapped by [`after_lambda_mapped`].
    pub payload: Option<Vec<u8>>,
    /// The stage-relative path.
    pub path: &'r str,
    /// The stage.
    pub stage: &'t StageRoutes,
    /// The method.
    pub method: &'t CompiledMethod,
    /// Who the request was authorized as (`AWS_IAM` methods): `requestContext.identity`.
    pub identity: Option<CallerIdentity>,
    /// The Lambda authorizer's answer (`CUSTOM` methods): `requestContext.authorizer`.
    pub authorizer: Option<Rc<AuthorizerResult>>,
}

/// After a Lambda invocation: how to answer the client.
pub enum LambdaAnswer<'t> {
    /// With the function's answer.
    Reply(Reply),
    /// With an AWS (non-proxy) integration's mapped answer.
    Mapped(Cow<'t, RenderedResponse>),
    /// With a gateway response.
    Refuse(Refuse<'t>),
}

/// How to call a backend, and what the core needs afterwards.
pub struct ProxyPlan<'t, 'r> {
    /// The backend.
    pub integration: &'t HttpProxyIntegration,
    /// The stage-relative path (the request's path from here on).
    pub path: &'r str,
    /// The cache use; its key was written into the key buffer [`decide`] was given.
    pub cache: Option<CacheUse>,
    /// The API's gateway responses.
    pub responses: &'t CompiledGatewayResponses,
    /// The stage and method, for the log.
    pub stage: &'t StageRoutes,
    /// The method.
    pub method: &'t CompiledMethod,
    /// Who the request was authorized as (`AWS_IAM` methods): `$context.identity`.
    pub identity: Option<CallerIdentity>,
    /// The Lambda authorizer's answer (`CUSTOM` methods).
    pub authorizer: Option<Rc<AuthorizerResult>>,
    /// An HTTP (non-proxy) integration: its mapped body, and the integration responses
    /// [`after_http`] maps the backend's answer with.
    pub http: Option<Box<HttpCall<'t>>>,
    /// The request's template data, gathered when a request parameter mapping reads
    /// `context.*`.
    pub context: Option<Box<TemplateData>>,
}

/// After an HTTP (non-proxy) integration's backend: how to answer the client.
pub enum HttpAnswer<'t> {
    /// With the mapped answer, storing it in the cache when `store` says so.
    Reply {
        /// The answer.
        response: Cow<'t, RenderedResponse>,
        /// Where to store it (and for how long it lives), if at all.
        store: Option<(CacheUse, u64)>,
    },
    /// With a gateway response.
    Refuse(Refuse<'t>),
}

/// After the backend: how to answer the client.
pub enum Answer<'t> {
    /// Relay the backend's answer, storing it in the cache when `store` says so.
    Relay {
        /// Where to store it (and for how long it lives), if at all.
        store: Option<(CacheUse, u64)>,
    },
    /// Answer with a gateway response.
    Refuse(Refuse<'t>),
}

/// Runs the request's phases up to the integration. `caps` receives the path parameters and
/// `cache_key` the cache key (both reused across requests by the worker); `stamp` is what
/// mapping templates read as the request's id and time.
#[allow(clippy::too_many_arguments)]
pub fn decide<'t, 'r>(
    table: &'t RoutingTable,
    req: &Request<'r>,
    st: &mut WorkerState<'_>,
    now_ns: u64,
    stamp: &Stamp<'_>,
    caps: &mut Captures<'t>,
    cache_key: &mut Vec<u8>,
) -> Decision<'t, 'r> {
    let mut seen = Seen::default();
    decide_seen(table, req, st, now_ns, stamp, caps, cache_key, &mut seen)
}

/// How far a request got through the phases, for its access log record and metrics:
/// filled by [`decide_seen`] as it goes (references into the table, nothing copied).
#[derive(Debug, Default, Clone, Copy)]
pub struct Seen<'t> {
    /// The stage, once resolved.
    pub stage: Option<&'t StageRoutes>,
    /// The method, once matched.
    pub method: Option<&'t CompiledMethod>,
    /// The API key and its plan stage, once a key was checked.
    pub key: Option<super::key_table::KeyPlan<'t>>,
    /// Whether the key's usage plan refused it (its throttle or quota).
    pub plan_refused: bool,
}

/// [`decide`], also saying in `seen` how far the request got.
#[allow(clippy::too_many_arguments)]
pub fn decide_seen<'t, 'r>(
    table: &'t RoutingTable,
    req: &Request<'r>,
    st: &mut WorkerState<'_>,
    now_ns: u64,
    stamp: &Stamp<'_>,
    caps: &mut Captures<'t>,
    cache_key: &mut Vec<u8>,
    seen: &mut Seen<'t>,
) -> Decision<'t, 'r> {
    let refuse = |refusal, responses, log| {
        Decision::Refuse(Refuse {
            refusal,
            responses,
            log,
            message: None,
        })
    };
    // 1. Resolve the API and stage.
    let roll = resolve_stage::roll(stamp.request_id);
    let at = match resolve_stage::run(table, req.header(b"host"), req.path, req.tls, roll) {
        Ok(at) => at,
        Err((r, responses)) => return refuse(r, responses, None),
    };
    let responses = Some(&at.stage.gateway_responses);
    seen.stage = Some(at.stage);
    // 2. The method.
    let method = match route::run(at.stage, at.path, req.method, caps) {
        Ok(m) => m,
        Err(r) => return refuse(r, responses, None),
    };
    seen.method = Some(method);
    let log = |level, r: &Refusal, cause: &'t str| LogRecord {
        level,
        api: &at.stage.api_id,
        stage: &at.stage.stage_name,
        resource: &method.resource_path,
        status: r.status,
        cause,
    };
    // 3. Authorization (fails closed for types not served; routing logged why at compile).
    let auth = AuthContext {
        env: st.iam,
        identities: &table.iam,
        now_secs: st.wall_secs,
        now_ns,
        scratch: st.auth,
        fresh: st.authorized.take(),
    };
    let admission = match authorize::run(method, at.api, at.stage, req, at.path, auth) {
        Ok(Authorized::Admitted(a)) => a,
        Ok(Authorized::Call(authorizer)) => {
            let event = authorizer_event(
                authorizer,
                st.auth.method_arn(),
                req,
                caps,
                at.path,
                at.stage,
                method,
                stamp,
                &st.iam.account,
            );
            return Decision::Authorize(AuthorizePlan {
                authorizer,
                event,
                key: st.auth.cache_key().to_vec(),
                stage: at.stage,
                method,
            });
        }
        Err(e) => {
            return Decision::Refuse(Refuse {
                refusal: e.refusal,
                responses,
                log: e.log.map(|why| log(Level::Debug, &e.refusal, why)),
                message: e.message,
            })
        }
    };
    // 4. Validation (fails closed too).
    match validate::run(method, req, caps, at.path) {
        Ok(()) => {}
        Err(validate::Invalid::Unserved(r, why)) => {
            return refuse(r, responses, Some(log(Level::Debug, &r, why)))
        }
        Err(validate::Invalid::Request(refusal, message)) => {
            return Decision::Refuse(Refuse {
                refusal,
                responses,
                log: None,
                message,
            })
        }
    }
    // 5. The API key (from the header, or the authorizer's `usageIdentifierKey`) and its plan.
    let api_key = if at.api.api_key_from_authorizer {
        admission
            .authorizer
            .as_ref()
            .and_then(|a| a.usage_identifier_key.as_deref())
            .map(str::as_bytes)
    } else {
        req.header(b"x-api-key")
    };
    let plan = match api_key::run(method, at.stage, &table.keys, api_key) {
        Ok(p) => p,
        Err(r) => return refuse(r, responses, None),
    };
    seen.key = plan;
    // 6, 7. The plan's throttles and quota, then the stage's and account's throttles.
    let admitted = match plan_limits::run(plan, method, st.limits, now_ns) {
        Ok(p) => p,
        Err(r) => {
            seen.plan_refused = true;
            return refuse(r, responses, None);
        }
    };
    if let Err(r) = stage_limits::run(method, st.account, &admitted, st.limits, now_ns) {
        return refuse(r, responses, None);
    }
    if let Some((plan, key)) = admitted.usage {
        st.usage.record(plan, key, admitted.slot);
    }
    // 8. The cache.
    let cache = match cache::run(method, at.stage, st.workers, req, at.path, caps, cache_key) {
        Ok(c) => c,
        Err(r) => return refuse(r, responses, None),
    };
    // 9. The integration request (a MOCK's request template), then for a MOCK the method
    // response (12) its integration response renders.
    let Admission {
        identity,
        authorizer,
    } = admission;
    let mut data = LazyData::new(RequestView {
        req,
        caps,
        stage_path: at.path,
        stage: at.stage,
        method,
        stamp,
        authorizer: authorizer.as_deref(),
    });
    match integration_request::run(&method.integration, &mut data) {
        Ok(Call::Mock(m, r)) => match method_response::render_mock(m, r, &mut data) {
            Ok(answer) => Decision::Mock(answer),
            Err(e) => {
                let (r, cause) = integration_request::mock_refusal(&e);
                refuse(r, responses, Some(log(Level::GatewayError, &r, cause)))
            }
        },
        Ok(Call::Lambda(integration, payload)) => Decision::Lambda(LambdaPlan {
            integration,
            payload,
            path: at.path,
            stage: at.stage,
            method,
            identity,
            authorizer: authorizer.clone(),
        }),
        Ok(Call::Proxy(integration)) => Decision::Proxy(ProxyPlan {
            integration,
            path: at.path,
            cache,
            responses: &at.stage.gateway_responses,
            stage: at.stage,
            method,
            identity,
            authorizer: authorizer.clone(),
            http: None,
            context: integration.needs_context.then(|| Box::new(data.take())),
        }),
        Ok(Call::Http(call)) => Decision::Proxy(ProxyPlan {
            integration: &call.integration.backend,
            path: at.path,
            cache,
            responses: &at.stage.gateway_responses,
            stage: at.stage,
            method,
            identity,
            authorizer: authorizer.clone(),
            context: call
                .integration
                .backend
                .needs_context
                .then(|| Box::new(data.take())),
            http: Some(Box::new(call)),
        }),
        Err((r, cause)) => refuse(r, responses, Some(log(Level::GatewayError, &r, cause))),
    }
}

/// Maps the backend's status (or failure) to the client answer; `now_ns` dates a cache entry.
pub fn after_integration<'t>(
    plan: &ProxyPlan<'t, '_>,
    result: Result<u16, ProxyError>,
    now_ns: u64,
) -> Answer<'t> {
    match integration_response::run(result, plan.cache) {
        Mapped::Relay { store } => Answer::Relay {
            store: store.map(|c| (c, now_ns.saturating_add(c.ttl_ns))),
        },
        Mapped::Refuse(refusal, cause) => Answer::Refuse(backend_refusal(plan, refusal, cause)),
    }
}

fn backend_refusal<'t>(plan: &ProxyPlan<'t, '_>, refusal: Refusal, cause: &'t str) -> Refuse<'t> {
    Refuse {
        refusal,
        message: None,
        responses: Some(plan.responses),
        log: Some(LogRecord {
            level: Level::GatewayError,
            api: &plan.stage.api_id,
            stage: &plan.stage.stage_name,
            resource: &plan.method.resource_path,
            status: refusal.status,
            cause,
        }),
    }
}

/// Maps an HTTP (non-proxy) integration's backend answer (its status and body, or its
/// failure) through the integration responses; `now_ns` dates a cache entry (a 2xx answer
/// of a caching method is stored as mapped). A response template that reads request data
/// reads `req` (its path already the stage-relative one) and `caps` again.
pub fn after_http<'t>(
    plan: &ProxyPlan<'t, '_>,
    req: &Request<'_>,
    caps: &Captures<'_>,
    stamp: &Stamp<'_>,
    result: Result<BackendAnswer<'_>, ProxyError>,
    now_ns: u64,
) -> HttpAnswer<'t> {
    let Some(call) = &plan.http else {
        let refusal = super::gateway_response::API_CONFIGURATION_ERROR;
        return HttpAnswer::Refuse(backend_refusal(plan, refusal, "not an HTTP integration"));
    };
    let mut data = LazyData::new(RequestView {
        req,
        caps,
        stage_path: plan.path,
        stage: plan.stage,
        method: plan.method,
        stamp,
        authorizer: plan.authorizer.as_deref(),
    });
    let accept = req.header(b"accept");
    match integration_response::http(call.integration, result, accept, &mut data) {
        Ok(response) => {
            let store = plan
                .cache
                .filter(|_| (200..300).contains(&response.status))
                .map(|c| (c, now_ns.saturating_add(c.ttl_ns)));
            HttpAnswer::Reply { response, store }
        }
        Err((refusal, cause)) => HttpAnswer::Refuse(backend_refusal(plan, refusal, cause)),
    }
}

/// The event a Lambda plan sends for `req` (request id `request_id`, arrived at `now_ms`
/// since the Unix epoch). Unlike the rest of the core, this allocates: the event is a new
/// JSON document.
pub fn lambda_event(
    plan: &LambdaPlan<'_, '_>,
    req: &Request<'_>,
    caps: &Captures<'_>,
    request_id: &str,
    now_ms: u64,
) -> Vec<u8> {
    lambda_event_with(plan, req, caps, request_id, now_ms, &[])
}

/// [`lambda_event`] with the gateway's own values of some headers (`set`: the trace context
/// of a traced stage, or an untraced stage's X-Ray root), in place of the caller's.
pub fn lambda_event_with(
    plan: &LambdaPlan<'_, '_>,
    req: &Request<'_>,
    caps: &Captures<'_>,
    request_id: &str,
    now_ms: u64,
    set: &[(&[u8], &[u8])],
) -> Vec<u8> {
    let mut headers: Vec<(&[u8], &[u8])> = req
        .headers()
        .filter(|(n, _)| !set.iter().any(|(s, _)| s.eq_ignore_ascii_case(n)))
        .collect();
    headers.extend_from_slice(set);
    let params: Vec<(&str, &str)> = caps
        .iter()
        .filter_map(|&(n, s, e)| Some((n, plan.path.get(s..e)?)))
        .collect();
    let source_ip = req.peer.to_string();
    let sent_path = req.tls.map(|_| req.sent_path());
    let l = plan.integration;
    integration_request::lambda_event(&EventInput {
        http_method: req.method,
        path: plan.path,
        query: req.query,
        headers: &headers,
        body: req.body,
        path_parameters: &params,
        resource_path: &plan.method.resource_path,
        resource_id: &l.resource_id,
        api_id: &plan.stage.api_id,
        stage: &plan.stage.stage_name,
        deployment_id: &plan.stage.deployment_id,
        stage_variables: &l.stage_variables,
        binary_media_types: &plan.stage.binary_media_types,
        request_id,
        now_ms,
        source_ip: &source_ip,
        api_key: plan
            .method
            .api_key_required
            .then(|| req.header(b"x-api-key"))
            .flatten()
            .and_then(|k| std::str::from_utf8(k).ok()),
        account_id: &l.account_id,
        identity: plan.identity.as_ref(),
        tls: req.tls,
        sent_path: sent_path.as_deref(),
        authorizer: plan.authorizer.as_deref(),
    })
}

/// The event of a Lambda authorizer for `req` (`method_arn`: the request's method ARN).
/// Unlike the rest of the core, this allocates: the event is a new JSON document.
#[allow(clippy::too_many_arguments)]
fn authorizer_event(
    a: &CompiledAuthorizer,
    method_arn: &str,
    req: &Request<'_>,
    caps: &Captures<'_>,
    path: &str,
    stage: &StageRoutes,
    method: &CompiledMethod,
    stamp: &Stamp<'_>,
    account_id: &str,
) -> Vec<u8> {
    match a.kind {
        authz::Kind::Token => {
            let token = a
                .sources
                .first()
                .and_then(|s| authorize::source_value(s, req, stage, method, path))
                .unwrap_or_default();
            authz::event::token(&String::from_utf8_lossy(&token), method_arn)
        }
        authz::Kind::Request => {
            let headers: Vec<(&[u8], &[u8])> = req.headers().collect();
            let params: Vec<(&str, &str)> = caps
                .iter()
                .filter_map(|&(n, s, e)| Some((n, path.get(s..e)?)))
                .collect();
            let source_ip = req.peer.to_string();
            let sent_path = req.tls.map(|_| req.sent_path());
            authz::event::request(
                &EventInput {
                    tls: req.tls,
                    sent_path: sent_path.as_deref(),
                    http_method: req.method,
                    path,
                    query: req.query,
                    headers: &headers,
                    body: b"",
                    path_parameters: &params,
                    resource_path: &method.resource_path,
                    resource_id: "",
                    api_id: &stage.api_id,
                    stage: &stage.stage_name,
                    deployment_id: &stage.deployment_id,
                    stage_variables: &a.stage_variables,
                    binary_media_types: &stage.binary_media_types,
                    request_id: stamp.request_id,
                    now_ms: stamp.epoch_ms,
                    source_ip: &source_ip,
                    api_key: None,
                    account_id,
                    identity: None,
                    authorizer: None,
                },
                method_arn,
            )
        }
    }
}

/// A Lambda authorizer refused to answer for the caller, or gave an answer that is not an
/// authorizer's: its function failed (crashed, timed out, raised an error other than
/// `Unauthorized`, has no target) or its answer could not be read.
pub const AUTHORIZER_CONFIGURATION_ERROR: Refusal = Refusal {
    kind: tollgate_proto::GatewayResponseType::AuthorizerConfigurationError,
    status: 500,
    error_type: Some("AuthorizerConfigurationException"),
    message: "Internal server error",
};
/// The authorizer's answer could not be used (no `principalId` or `policyDocument`, a
/// policy this gateway cannot read, a `context` value that is not a string, number or
/// boolean).
pub const AUTHORIZER_FAILURE: Refusal = Refusal {
    kind: tollgate_proto::GatewayResponseType::AuthorizerFailure,
    ..AUTHORIZER_CONFIGURATION_ERROR
};

/// After a Lambda authorizer's invocation: what to decide again with, or how to answer.
pub enum AuthorizerAnswer<'t> {
    /// Its answer: [`decide`] again with it ([`WorkerState::authorized`]).
    Answered(Rc<AuthorizerResult>),
    /// Answer with a gateway response.
    Refuse(Refuse<'t>),
}

/// Reads a Lambda authorizer's result: its answer (stored in the worker's authorizer cache
/// for its TTL, from `now_ns`) to decide again with, or how to answer the client.
pub fn after_authorizer<'t>(
    plan: &AuthorizePlan<'t>,
    result: InvokeResult,
    auth: &mut AuthScratch,
    now_ns: u64,
) -> AuthorizerAnswer<'t> {
    match read_authorizer_answer(plan, result, auth, now_ns) {
        Ok(a) => AuthorizerAnswer::Answered(a),
        Err(r) => AuthorizerAnswer::Refuse(*r),
    }
}

fn read_authorizer_answer<'t>(
    plan: &AuthorizePlan<'t>,
    result: InvokeResult,
    auth: &mut AuthScratch,
    now_ns: u64,
) -> Result<Rc<AuthorizerResult>, Box<Refuse<'t>>> {
    let refuse = |refusal: Refusal, cause: &'static str| {
        Box::new(Refuse {
            refusal,
            message: None,
            responses: Some(&plan.stage.gateway_responses),
            log: Some(LogRecord {
                level: Level::GatewayError,
                api: &plan.stage.api_id,
                stage: &plan.stage.stage_name,
                resource: &plan.method.resource_path,
                status: refusal.status,
                cause,
            }),
        })
    };
    let payload = match result {
        Ok(p) => p,
        Err(InvokeError::Unauthorized(_)) => {
            let mut r = refuse(authorize::UNAUTHORIZED, "");
            r.log = None;
            return Err(r);
        }
        Err(e) => return Err(refuse(AUTHORIZER_CONFIGURATION_ERROR, e.cause())),
    };
    let answer = authz::answer::parse(&payload).map_err(|why| refuse(AUTHORIZER_FAILURE, why))?;
    let answer = Rc::new(answer);
    let ttl = plan.authorizer.ttl_ns;
    if ttl > 0 {
        auth.cache.put(
            &plan.key,
            answer.clone(),
            now_ns,
            now_ns.saturating_add(ttl),
        );
    }
    Ok(answer)
}

/// Maps a Lambda invocation's result to the client answer.
pub fn after_lambda<'t>(plan: &LambdaPlan<'t, '_>, result: InvokeResult) -> LambdaAnswer<'t> {
    match integration_response::lambda(result, &plan.stage.binary_media_types) {
        Ok(reply) => LambdaAnswer::Reply(reply),
        Err((refusal, cause)) => LambdaAnswer::Refuse(lambda_refusal(plan, refusal, cause)),
    }
}

/// Maps an AWS (non-proxy) Lambda integration's result through its integration responses
/// (an AWS_PROXY one's as [`after_lambda`] does). A response template that reads request
/// data reads `req` and `caps` again.
pub fn after_lambda_mapped<'t>(
    plan: &LambdaPlan<'t, '_>,
    req: &Request<'_>,
    caps: &Captures<'_>,
    stamp: &Stamp<'_>,
    result: InvokeResult,
) -> LambdaAnswer<'t> {
    let Some(m) = &plan.integration.mapping else {
        return after_lambda(plan, result);
    };
    let mut data = LazyData::new(RequestView {
        req,
        caps,
        stage_path: plan.path,
        stage: plan.stage,
        method: plan.method,
        stamp,
        authorizer: plan.authorizer.as_deref(),
    });
    let accept = req.header(b"accept");
    match integration_response::lambda_mapped(m, result, accept, &mut data) {
        Ok(response) => LambdaAnswer::Mapped(response),
        Err((refusal, cause)) => LambdaAnswer::Refuse(lambda_refusal(plan, refusal, cause)),
    }
}

fn lambda_refusal<'t>(plan: &LambdaPlan<'t, '_>, refusal: Refusal, cause: &'t str) -> Refuse<'t> {
    Refuse {
        refusal,
        message: None,
        responses: Some(&plan.stage.gateway_responses),
        log: Some(LogRecord {
            level: Level::GatewayError,
            api: &plan.stage.api_id,
            stage: &plan.stage.stage_name,
            resource: &plan.method.resource_path,
            status: refusal.status,
            cause,
        }),
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
