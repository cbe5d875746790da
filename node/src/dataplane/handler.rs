//! The worker's shell around the gateway core: it lends the core the worker's state, then
//! carries out what [`super::core`] decides (writing answers, looking up and filling the
//! cache, calling the backend, logging). All the deciding is in the core and its phases.

use super::access_log::format::Facts;
use super::api_metrics::Observation;
use super::authorizer::AuthorizerResult;
use super::cache::CachedResponse;
use super::core::{self, Answer, Decision, HttpAnswer, LambdaAnswer, Refuse, Seen, WorkerState};
use super::gateway_response;
use super::http_integration::BackendAnswer;
use super::mapping::Stamp;
use super::matcher::Captures;
use super::phases::authorize::CallerIdentity;
use super::phases::log::{Level, LogRecord};
use super::phases::method_response::{self, Framing};
use super::request::Request;
use super::respond::{ConnState, RequestId};
use super::routing::{CompiledMethod, RoutingTable, StageRoutes};
use super::throttle::now_ns;
use super::trace;
use super::upstream::{self, ProxyScratch};
use super::worker::Worker;
use crate::functions::{InvokeError, InvokeResult, Pending};
use std::rc::Rc;

/// What the shell learned serving a request, beyond what [`Seen`] says: for its access log
/// record and its metrics.
#[derive(Default)]
struct Done {
    /// The integration's latency (ns) and status, when one was called.
    integration: Option<(u64, Option<u16>)>,
    /// A gateway answer: its type and fixed message.
    error: Option<(tollgate_proto::GatewayResponseType, &'static str)>,
    /// A gateway answer's own message (`$context.error.message` when not the fixed one).
    error_message: Option<String>,
    /// The Lambda authorizer's answer.
    authorizer: Option<Rc<AuthorizerResult>>,
    /// Who an `AWS_IAM` request was signed by.
    identity: Option<CallerIdentity>,
    /// Served from the stage cache.
    cache_hit: bool,
    /// Looked up in the stage cache and missed.
    cache_miss: bool,
    /// The request's trace, on a stage with `tracingEnabled`.
    trace: Option<Traced>,
}

impl Done {
    fn refused(&mut self, r: Refuse<'_>) {
        self.error = Some((r.refusal.kind, r.refusal.message));
        self.error_message = r.message;
    }
}

/// Serves `req`, appending the answer to `out`.
pub async fn handle(
    w: &Worker,
    req: &mut Request<'_>,
    conn: ConnState,
    out: &mut Vec<u8>,
    scratch: &mut ProxyScratch,
) {
    let t0 = now_ns();
    let start = out.len();
    let full_path = req.path;
    let id = w.resp.borrow_mut().request_id();
    let table = w.routes.borrow_mut().current();
    let mut caps = Captures::default();
    // The key lives in the connection's scratch between requests; taken out here so the
    // scratch can be lent to the backend exchange meanwhile.
    let mut key = std::mem::take(&mut scratch.cache_key);
    let stamp = Stamp {
        request_id: id.as_str(),
        // The wall clock at `t0` (the request's one clock reading).
        epoch_ms: w.resp.borrow_mut().epoch_ms(t0),
        account: &w.iam.account,
    };
    let mut seen = Seen::default();
    let mut done = Done::default();
    let mut decision = decide(
        w, &table, req, &stamp, t0, None, &mut caps, &mut key, &mut seen,
    );
    // A Lambda authorizer to call first: invoke it, then decide again with its answer (the
    // same table, so the same method; nothing past authorization has run yet).
    if let Decision::Authorize(mut plan) = decision {
        let a = plan.authorizer;
        let event = std::mem::take(&mut plan.event);
        let result = match w
            .functions
            .invoke(&a.function.name, &a.function.arn, event, a.timeout)
        {
            Ok(pending) => await_answer(pending).await,
            Err(e) => Err(e),
        };
        let answer = core::after_authorizer(&plan, result, &mut w.auth.borrow_mut(), now_ns());
        decision = match answer {
            core::AuthorizerAnswer::Answered(answer) => {
                caps = Captures::default();
                done.authorizer = Some(answer.clone());
                decide(
                    w,
                    &table,
                    req,
                    &stamp,
                    now_ns(),
                    Some(answer),
                    &mut caps,
                    &mut key,
                    &mut seen,
                )
            }
            core::AuthorizerAnswer::Refuse(r) => Decision::Refuse(r),
        };
    }
    let framing = Framing {
        conn,
        head_req: req.is_head(),
        http11: req.head.minor_version >= 1,
    };
    if seen.stage.is_some_and(|s| s.tracing) {
        done.trace = Some(begin_trace(w, req, &stamp, t0));
    }
    match decision {
        Decision::Refuse(r) => {
            refuse(w, &r, &id, req.method, conn, out);
            done.refused(r);
        }
        Decision::Authorize(plan) => {
            // `decide` answers an authorizer's answer with anything but another call.
            let refusal = core::AUTHORIZER_CONFIGURATION_ERROR;
            let r = core::Refuse {
                refusal,
                responses: Some(&plan.stage.gateway_responses),
                log: Some(LogRecord {
                    level: Level::GatewayError,
                    api: &plan.stage.api_id,
                    stage: &plan.stage.stage_name,
                    resource: &plan.method.resource_path,
                    status: refusal.status,
                    cause: "the authorizer was asked for again after it answered",
                }),
                message: None,
            };
            refuse(w, &r, &id, req.method, conn, out);
            done.refused(r);
        }
        Decision::Mock(r) => {
            method_response::write_mock(out, &mut w.resp.borrow_mut(), &r, &id, framing)
        }
        Decision::Lambda(mut plan) => {
            // The function's event carries an X-Ray trace id, as AWS's does: the gateway's
            // context on a traced stage, else the caller's valid one or a new root.
            let root = match done.trace {
                Some(_) => None,
                None => trace::untraced_root(
                    req.header(b"x-amzn-trace-id"),
                    stamp.epoch_ms / 1000,
                    &mut *w.resp.borrow_mut(),
                ),
            };
            let traced = done.trace.as_ref().map(|t| t.headers.headers());
            let set: &[(&[u8], &[u8])] = match (&traced, &root) {
                (Some(t), _) => t,
                (None, Some(r)) => &[(b"X-Amzn-Trace-Id", &r[..])],
                (None, None) => &[],
            };
            // An AWS (non-proxy) integration sends its request template's payload.
            let event = match plan.payload.take() {
                Some(payload) => payload,
                None => {
                    core::lambda_event_with(&plan, req, &caps, id.as_str(), stamp.epoch_ms, set)
                }
            };
            let l = plan.integration;
            let called = now_ns();
            let result =
                match w
                    .functions
                    .invoke(&l.function.name, &l.function.arn, event, l.timeout)
                {
                    Ok(pending) => await_answer(pending).await,
                    Err(e) => Err(e),
                };
            done.integration = Some((
                now_ns().saturating_sub(called),
                result.is_ok().then_some(200),
            ));
            if let Some(t) = &mut done.trace {
                t.called(called, u16::from(result.is_ok()) * 200);
            }
            let conn = if w.is_draining() {
                ConnState::Close
            } else {
                conn
            };
            match core::after_lambda_mapped(&plan, req, &caps, &stamp, result) {
                LambdaAnswer::Reply(r) => method_response::write_lambda(
                    out,
                    &mut w.resp.borrow_mut(),
                    &r,
                    &id,
                    Framing { conn, ..framing },
                ),
                LambdaAnswer::Mapped(r) => method_response::write_mock(
                    out,
                    &mut w.resp.borrow_mut(),
                    &r,
                    &id,
                    Framing { conn, ..framing },
                ),
                LambdaAnswer::Refuse(r) => {
                    refuse(w, &r, &id, req.method, conn, out);
                    done.refused(r);
                }
            }
            done.identity = plan.identity.take();
            if done.authorizer.is_none() {
                done.authorizer = plan.authorizer.take();
            }
        }
        Decision::Proxy(mut plan) => {
            req.path = plan.path;
            if done.authorizer.is_none() {
                done.authorizer = plan.authorizer.clone();
            }
            if let Some(c) = plan.cache {
                if c.lookup {
                    let mut cache = w.cache.borrow_mut();
                    if let Some(hit) = cache.get(c.stage_cache, &key, now_ns()) {
                        w.metrics.cache_hit();
                        done.cache_hit = true;
                        if plan.http.is_some() {
                            // The endpoint's answer, mapped for this request (AWS's cache).
                            let hit = hit.clone();
                            drop(cache);
                            let headers = hit.header_ranges();
                            let answer = Ok(hit.as_answer(&headers));
                            match core::after_http(&plan, req, &caps, &stamp, answer, now_ns()) {
                                HttpAnswer::Reply { response, .. } => method_response::write_mock(
                                    out,
                                    &mut w.resp.borrow_mut(),
                                    &response,
                                    &id,
                                    framing,
                                ),
                                HttpAnswer::Refuse(r) => {
                                    refuse(w, &r, &id, req.method, conn, out);
                                    done.refused(r);
                                }
                            }
                        } else {
                            method_response::write_cached(
                                out,
                                &mut w.resp.borrow_mut(),
                                hit,
                                &id,
                                framing,
                            );
                            drop(cache);
                        }
                        scratch.cache_key = key;
                        done.identity = plan.identity.take();
                        req.path = full_path;
                        compress(&seen, req, out, start);
                        finish(w, req, &stamp, t0, &out[start..], &seen, &done);
                        return;
                    }
                }
                w.metrics.cache_miss();
                done.cache_miss = true;
            }
            // Every backend request carries an X-Ray trace id, as AWS sends one.
            let root = match done.trace {
                Some(_) => None,
                None => trace::untraced_root(
                    req.header(b"x-amzn-trace-id"),
                    stamp.epoch_ms / 1000,
                    &mut *w.resp.borrow_mut(),
                ),
            };
            let called = now_ns();
            let result = upstream::forward(
                &w.pool,
                &w.resolver,
                plan.integration,
                req,
                &caps,
                upstream::Who {
                    identity: plan.identity.as_ref(),
                    authorizer: plan.authorizer.as_deref(),
                    context: plan.context.as_deref(),
                    trace: done.trace.as_ref().map(|t| &t.headers),
                    amzn_root: root.as_ref().map(|r| &r[..]),
                    api_id: Some(&plan.stage.api_id),
                },
                plan.http.as_ref().map(|h| h.mapped(req)),
                scratch,
            )
            .await;
            let received = result.as_ref().ok().map(|()| scratch.head.status);
            done.integration = Some((now_ns().saturating_sub(called), received));
            if let Some(t) = &mut done.trace {
                t.called(called, received.unwrap_or(0));
            }
            // A shutdown may have begun while the backend answered.
            let conn = if w.is_draining() {
                ConnState::Close
            } else {
                conn
            };
            let framing = Framing { conn, ..framing };
            if plan.http.is_some() {
                let result = result.map(|()| BackendAnswer {
                    status: scratch.head.status,
                    head: &scratch.resp,
                    headers: &scratch.head.headers,
                    body: scratch.body(),
                });
                // What the cache keeps is the endpoint's answer (mapped anew on each hit).
                let endpoint = match (&result, plan.cache) {
                    (Ok(a), Some(_)) => Some(CachedResponse::endpoint(a)),
                    _ => None,
                };
                match core::after_http(&plan, req, &caps, &stamp, result, now_ns()) {
                    HttpAnswer::Reply { response, store } => {
                        if let (Some((c, expires_ns)), Some(cached)) = (store, endpoint) {
                            w.cache.borrow_mut().put(
                                c.stage_cache,
                                c.budget,
                                &key,
                                cached,
                                expires_ns,
                            );
                        }
                        method_response::write_mock(
                            out,
                            &mut w.resp.borrow_mut(),
                            &response,
                            &id,
                            framing,
                        );
                    }
                    HttpAnswer::Refuse(r) => {
                        refuse(w, &r, &id, req.method, conn, out);
                        done.refused(r);
                    }
                }
                done.identity = plan.identity.take();
                scratch.cache_key = key;
                req.path = full_path;
                compress(&seen, req, out, start);
                finish(w, req, &stamp, t0, &out[start..], &seen, &done);
                return;
            }
            let status = result.map(|()| scratch.head.status);
            match core::after_integration(&plan, status, now_ns()) {
                Answer::Relay { store } => {
                    if let Some((c, expires_ns)) = store {
                        let response = method_response::cacheable(scratch);
                        w.cache.borrow_mut().put(
                            c.stage_cache,
                            c.budget,
                            &key,
                            response,
                            expires_ns,
                        );
                    }
                    method_response::write_proxied(
                        out,
                        &mut w.resp.borrow_mut(),
                        scratch,
                        &id,
                        framing,
                    );
                }
                Answer::Refuse(r) => {
                    refuse(w, &r, &id, req.method, conn, out);
                    done.refused(r);
                }
            }
            done.identity = plan.identity.take();
        }
    }
    scratch.cache_key = key;
    req.path = full_path;
    compress(&seen, req, out, start);
    finish(w, req, &stamp, t0, &out[start..], &seen, &done);
}

/// Compresses the answer just written at `out[start..]` when its stage compresses
/// (`minimumCompressionSize`) and the client asked for it ([`super::compress`]).
fn compress(seen: &Seen<'_>, req: &Request<'_>, out: &mut Vec<u8>, start: usize) {
    if let Some(min) = seen.stage.and_then(|s| s.min_compression) {
        super::compress::compress_answer(out, start, min, req.header(b"accept-encoding"));
    }
}

/// The log phase's shell part: the stage's (and method's) metrics and the stage's access
/// log record, when it has one. `answer` is the answer just appended.
fn finish(
    w: &Worker,
    req: &Request<'_>,
    stamp: &Stamp<'_>,
    t0: u64,
    answer: &[u8],
    seen: &Seen<'_>,
    done: &Done,
) {
    let Some(stage) = seen.stage else { return };
    let ms = |ns: u64| ns / 1_000_000;
    let status = super::metrics::status_at(answer, 0).unwrap_or(0);
    if let Some(t) = &done.trace {
        end_trace(w, t, stage, seen.method, req.method, stamp, status);
    }
    let latency_ms = ms(now_ns().saturating_sub(t0));
    let observed = Observation {
        status,
        latency_ms,
        integration_ms: done.integration.map(|(ns, _)| ms(ns)),
        cache_hit: done.cache_hit,
        cache_miss: done.cache_miss,
    };
    let series = seen.method.and_then(|m| m.series).into_iter();
    for id in stage.series.into_iter().chain(series) {
        w.series.observe(id, &observed);
    }
    if seen.plan_refused {
        if let Some(id) = seen.key.and_then(|k| k.plan_series()) {
            let quota = done.error.is_some_and(|(kind, _)| {
                kind == tollgate_proto::GatewayResponseType::QuotaExceeded
            });
            w.series.plan_refused(id, quota);
        }
    }
    let Some(log) = &stage.access_log else { return };
    let facts = Facts {
        request_id: stamp.request_id,
        epoch_ms: stamp.epoch_ms,
        source_ip: req.peer,
        user_agent: req.header(b"user-agent"),
        host: req.header(b"host"),
        http_method: req.method,
        path: req.path,
        http11: req.head.minor_version >= 1,
        status,
        response_length: body_length(answer),
        response_latency_ms: latency_ms,
        integration: done.integration.map(|(ns, s)| (ms(ns), s)),
        error: done
            .error
            .map(|(kind, fixed)| (done.error_message.as_deref().unwrap_or(fixed), kind)),
        api_id: &stage.api_id,
        stage: &stage.stage_name,
        deployment_id: &stage.deployment_id,
        account_id: &w.iam.account,
        resource_path: seen.method.map(|m| &*m.resource_path),
        authorizer: done.authorizer.as_deref(),
        identity: done.identity.as_ref(),
        api_key_id: seen.key.map(|k| k.key_id()),
    };
    w.access_log
        .borrow_mut()
        .record(&log.file, |o| log.format.render(&facts, o));
}

/// The body length of an answer (what follows its head).
fn body_length(answer: &[u8]) -> usize {
    answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |i| answer.len() - i - 4)
}

/// Runs the core's phases with the worker's state lent at monotonic time `now` ([`now_ns`])
/// (`authorized`: the answer of the request's Lambda authorizer, when it was just called).
#[allow(clippy::too_many_arguments)]
fn decide<'t, 'r>(
    w: &Worker,
    table: &'t RoutingTable,
    req: &Request<'r>,
    stamp: &Stamp<'_>,
    now: u64,
    authorized: Option<std::rc::Rc<AuthorizerResult>>,
    caps: &mut Captures<'t>,
    key: &mut Vec<u8>,
    seen: &mut Seen<'t>,
) -> Decision<'t, 'r> {
    let (mut limits, mut usage) = (w.limits.borrow_mut(), w.usage.borrow_mut());
    let mut auth = w.auth.borrow_mut();
    let mut st = WorkerState {
        limits: &mut limits,
        usage: &mut usage,
        // The replicated account limit (UpdateAccount), else this node's configured one.
        account: table.account.as_deref().or(w.account.as_deref()),
        workers: w.workers,
        iam: &w.iam,
        // The request's one reading of the wall clock.
        wall_secs: i64::try_from(stamp.epoch_ms / 1000).unwrap_or(i64::MAX),
        auth: &mut auth,
        authorized,
    };
    core::decide_seen(table, req, &mut st, now, stamp, caps, key, seen)
}

/// Waits on this worker's I/O driver for a Lambda invocation's answer (the function thread
/// writes a byte to the invocation's socket pair once it is in).
pub(super) async fn await_answer(pending: Pending) -> InvokeResult {
    let Pending { mut rx, wake } = pending;
    let _ = wake.set_nonblocking(true);
    let Ok(mut wake) = monoio::net::UnixStream::from_std(wake) else {
        return Err(InvokeError::Stopped);
    };
    let (_, _) = monoio::io::AsyncReadRent::read(&mut wake, vec![0u8; 1]).await;
    rx.try_recv().unwrap_or(Err(InvokeError::Stopped))
}

/// Logs a gateway answer as the core says, then writes it.
fn refuse(
    w: &Worker,
    r: &Refuse<'_>,
    id: &RequestId,
    method: &str,
    conn: ConnState,
    out: &mut Vec<u8>,
) {
    if let Some(log) = &r.log {
        log.emit(
            id,
            method,
            &mut w.error_log.borrow_mut(),
            std::time::Instant::now(),
        );
    }
    gateway_response::write_message(
        out,
        &mut w.resp.borrow_mut(),
        &r.refusal,
        r.message.as_deref().unwrap_or(r.refusal.message),
        r.responses,
        id,
        conn,
        &[],
    );
}

/// A traced request's context, the headers its integration is sent, and its times (ns since
/// the Unix epoch).
struct Traced {
    ctx: trace::TraceContext,
    headers: trace::Propagate,
    /// When the request arrived.
    start_ns: u64,
    /// The monotonic clock then ([`now_ns`]), to place later readings on the epoch.
    t0: u64,
    /// The integration call: start, end, status received (0: none).
    call: Option<(u64, u64, u16)>,
}

impl Traced {
    /// Records the integration call that began at `called` ([`now_ns`]) and just ended.
    fn called(&mut self, called: u64, status: u16) {
        let at = |mono: u64| self.start_ns + mono.saturating_sub(self.t0);
        self.call = Some((at(called), at(now_ns()), status));
    }
}

/// Nanoseconds since the Unix epoch (read once per traced request).
fn epoch_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Starts tracing `req` (its stage has `tracingEnabled`); `t0`: the monotonic clock at
/// its arrival.
fn begin_trace(w: &Worker, req: &Request<'_>, stamp: &Stamp<'_>, t0: u64) -> Traced {
    let (ctx, _) = trace::start(
        req.header(b"traceparent"),
        req.header(b"x-amzn-trace-id"),
        stamp.epoch_ms / 1000,
        &mut *w.resp.borrow_mut(),
    );
    let start_ns = epoch_ns().saturating_sub(now_ns().saturating_sub(t0));
    Traced {
        headers: trace::Propagate::of(&ctx),
        ctx,
        start_ns,
        t0,
        call: None,
    }
}

/// Hands a traced request's spans to the exporter: the SERVER span (named by its route, or
/// `{METHOD} (no route)` when none matched) and the integration's CLIENT span if one was
/// called.
fn end_trace(
    w: &Worker,
    t: &Traced,
    stage: &StageRoutes,
    method: Option<&CompiledMethod>,
    verb: &str,
    stamp: &Stamp<'_>,
    status: u16,
) {
    if !t.ctx.sampled || !w.spans.enabled() {
        return;
    }
    let (name, route) = match method {
        Some(m) => (
            format!("{} {}", m.http_method, m.resource_path),
            m.resource_path.to_string(),
        ),
        None => (format!("{verb} (no route)"), String::new()),
    };
    let mut attributes = vec![
        ("http.request.method", verb.to_string()),
        ("aws.api_gateway.api_id", stage.api_id.to_string()),
        ("aws.api_gateway.stage", stage.stage_name.to_string()),
        ("aws.request_id", stamp.request_id.to_string()),
    ];
    if !route.is_empty() {
        attributes.push(("http.route", route));
    }
    let end = t.start_ns + now_ns().saturating_sub(t.t0);
    let spans = trace::spans(&t.ctx, &name, (t.start_ns, end, status), t.call, attributes);
    w.spans.send(spans);
}
