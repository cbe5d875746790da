//! The worker's shell around the gateway core: it lends the core the worker's state, then
//! carries out what [`super::core`] decides (writing answers, looking up and filling the
//! cache, calling the backend, logging). All the deciding is in the core and its phases.

use super::authorizer::AuthorizerResult;
use super::cache::CachedResponse;
use super::core::{self, Answer, Decision, HttpAnswer, LambdaAnswer, Refuse, WorkerState};
use super::gateway_response;
use super::http_integration::BackendAnswer;
use super::mapping::Stamp;
use super::matcher::Captures;
use super::phases::log::{Level, LogRecord};
use super::phases::method_response::{self, Framing};
use super::request::Request;
use super::respond::{ConnState, RequestId};
use super::routing::{CompiledMethod, RoutingTable, StageRoutes};
use super::trace;
use super::throttle::now_ns;
use super::upstream::{self, ProxyScratch};
use super::worker::Worker;
use crate::functions::{InvokeError, InvokeResult, Pending};

/// Serves `req`, appending the answer to `out`.
pub async fn handle(
    w: &Worker,
    req: &mut Request<'_>,
    conn: ConnState,
    out: &mut Vec<u8>,
    scratch: &mut ProxyScratch,
) {
    let id = w.resp.borrow_mut().request_id();
    let table = w.routes.borrow_mut().current();
    let mut caps = Captures::default();
    // The key lives in the connection's scratch between requests; taken out here so the
    // scratch can be lent to the backend exchange meanwhile.
    let mut key = std::mem::take(&mut scratch.cache_key);
    let stamp = Stamp {
        request_id: id.as_str(),
        epoch_ms: u64::try_from(crate::ids::now_epoch_ms()).unwrap_or(0),
    };
    let mut decision = decide(w, &table, req, &stamp, None, &mut caps, &mut key);
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
                decide(w, &table, req, &stamp, Some(answer), &mut caps, &mut key)
            }
            core::AuthorizerAnswer::Refuse(r) => Decision::Refuse(r),
        };
    }
    let framing = Framing {
        conn,
        head_req: req.is_head(),
        http11: req.head.minor_version >= 1,
    };
    match decision {
        Decision::Refuse(r) => refuse(w, &r, &id, req.method, conn, out),
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
            refuse(w, &r, &id, req.method, conn, out)
        }
        Decision::Mock(r) => {
            method_response::write_mock(out, &mut w.resp.borrow_mut(), &r, &id, framing)
        }
        Decision::Lambda(plan) => {
            let traced = begin_trace(w, plan.stage, req, &stamp);
            let event = core::lambda_event_traced(
                &plan,
                req,
                &caps,
                id.as_str(),
                stamp.epoch_ms,
                traced.as_ref().map(|t| &t.headers),
            );
            let l = plan.integration;
            let call_start = traced.as_ref().map(|_| epoch_ns());
            let result =
                match w
                    .functions
                    .invoke(&l.function.name, &l.function.arn, event, l.timeout)
                {
                    Ok(pending) => await_answer(pending).await,
                    Err(e) => Err(e),
                };
            let conn = if w.is_draining() {
                ConnState::Close
            } else {
                conn
            };
            let (call_end, invoked) = (call_start.map(|_| epoch_ns()), result.is_ok());
            let status = match core::after_lambda(&plan, result) {
                LambdaAnswer::Reply(r) => {
                    method_response::write_lambda(
                        out,
                        &mut w.resp.borrow_mut(),
                        &r,
                        &id,
                        Framing { conn, ..framing },
                    );
                    r.status
                }
                LambdaAnswer::Refuse(r) => {
                    refuse(w, &r, &id, req.method, conn, out);
                    r.refusal.status
                }
            };
            // The CLIENT span's status: the function's answer, 0 when it gave none.
            let call = call_start.zip(call_end).map(|(s, e)| (s, e, status * u16::from(invoked)));
            end_trace(w, traced, plan.stage, plan.method, &id, status, call);
        }
        Decision::Proxy(plan) => {
            req.path = plan.path;
            let traced = begin_trace(w, plan.stage, req, &stamp);
            if let Some(c) = plan.cache {
                if c.lookup {
                    let mut cache = w.cache.borrow_mut();
                    if let Some(hit) = cache.get(c.stage_cache, &key, now_ns()) {
                        w.metrics.cache_hit();
                        let status = hit.status;
                        method_response::write_cached(
                            out,
                            &mut w.resp.borrow_mut(),
                            hit,
                            &id,
                            framing,
                        );
                        drop(cache);
                        scratch.cache_key = key;
                        end_trace(w, traced, plan.stage, plan.method, &id, status, None);
                        return;
                    }
                }
                w.metrics.cache_miss();
            }
            let call_start = traced.as_ref().map(|_| epoch_ns());
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
                    trace: traced.as_ref().map(|t| &t.headers),
                },
                plan.http.as_ref().map(|h| h.mapped(req)),
                scratch,
            )
            .await;
            let call = call_start
                .map(|s| (s, epoch_ns(), result.as_ref().map_or(0, |()| scratch.head.status)));
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
                match core::after_http(&plan, req, &caps, &stamp, result, now_ns()) {
                    HttpAnswer::Reply { response, store } => {
                        if let Some((c, expires_ns)) = store {
                            let cached = CachedResponse {
                                status: response.status,
                                header_block: response.header_block.to_vec(),
                                body: response.body.to_vec(),
                            };
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
                    HttpAnswer::Refuse(r) => refuse(w, &r, &id, req.method, conn, out),
                }
                scratch.cache_key = key;
                return;
            }
            let status = result.map(|()| scratch.head.status);
            let answered = match core::after_integration(&plan, status, now_ns()) {
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
                    scratch.head.status
                }
                Answer::Refuse(r) => {
                    refuse(w, &r, &id, req.method, conn, out);
                    r.refusal.status
                }
            };
            end_trace(w, traced, plan.stage, plan.method, &id, answered, call);
        }
    }
    scratch.cache_key = key;
}

/// Runs the core's phases with the worker's state lent (`authorized`: the answer of the
/// request's Lambda authorizer, when it was just called).
fn decide<'t, 'r>(
    w: &Worker,
    table: &'t RoutingTable,
    req: &Request<'r>,
    stamp: &Stamp<'_>,
    authorized: Option<std::rc::Rc<AuthorizerResult>>,
    caps: &mut Captures<'t>,
    key: &mut Vec<u8>,
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
    core::decide(table, req, &mut st, now_ns(), stamp, caps, key)
}

/// Waits on this worker's I/O driver for a Lambda invocation's answer (the function thread
/// writes a byte to the invocation's socket pair once it is in).
async fn await_answer(pending: Pending) -> InvokeResult {
    let Pending { mut rx, wake } = pending;
    let _ = wake.set_nonblocking(true);
    let Ok(mut wake) = monoio::net::UnixStream::from_std(wake) else {
        return Err(InvokeError::Stopped);
    };
    let (_, _) = monoio::io::AsyncReadRent::read(&mut wake, vec![0u8; 1]).await;
    rx.try_recv().unwrap_or(Err(InvokeError::Stopped))
}

/// Milliseconds since the Unix epoch (the Lambda event's request time).
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

/// A traced request's context and the headers its integration is sent.
struct Traced {
    ctx: trace::TraceContext,
    headers: trace::Propagate,
    start_ns: u64,
}

/// Nanoseconds since the Unix epoch (span times; read on traced stages only).
fn epoch_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Starts tracing `req` when its stage has `tracingEnabled`.
fn begin_trace(
    w: &Worker,
    stage: &StageRoutes,
    req: &Request<'_>,
    stamp: &Stamp<'_>,
) -> Option<Traced> {
    if !stage.tracing {
        return None;
    }
    let start_ns = epoch_ns();
    let (ctx, _) = trace::start(
        req.header(b"traceparent"),
        req.header(b"x-amzn-trace-id"),
        stamp.epoch_ms / 1000,
        &mut *w.resp.borrow_mut(),
    );
    Some(Traced {
        headers: trace::Propagate::of(&ctx),
        ctx,
        start_ns,
    })
}

/// Hands a traced request's spans to the exporter (`call`: the integration's start, end and
/// status, when one was called).
fn end_trace(
    w: &Worker,
    traced: Option<Traced>,
    stage: &StageRoutes,
    method: &CompiledMethod,
    id: &RequestId,
    status: u16,
    call: Option<(u64, u64, u16)>,
) {
    let Some(t) = traced else {
        return;
    };
    if !t.ctx.sampled || !w.spans.enabled() {
        return;
    }
    let name = format!("{} {}", method.http_method, method.resource_path);
    let attributes = vec![
        ("http.request.method", method.http_method.to_string()),
        ("http.route", method.resource_path.to_string()),
        ("aws.api_gateway.api_id", stage.api_id.to_string()),
        ("aws.api_gateway.stage", stage.stage_name.to_string()),
        ("aws.request_id", id.as_str().to_string()),
    ];
    let spans = trace::spans(&t.ctx, &name, (t.start_ns, epoch_ns(), status), call, attributes);
    w.spans.send(spans);
}
