//! The worker's shell around the gateway core: it lends the core the worker's state, then
//! carries out what [`super::core`] decides (writing answers, looking up and filling the
//! cache, calling the backend, logging). All the deciding is in the core and its phases.

use super::core::{self, Answer, Decision, Refuse, WorkerState};
use super::gateway_response;
use super::mapping::Stamp;
use super::matcher::Captures;
use super::phases::method_response::{self, Framing};
use super::request::Request;
use super::respond::{ConnState, RequestId};
use super::throttle::now_ns;
use super::upstream::{self, ProxyScratch};
use super::worker::Worker;

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
    let decision = {
        let (mut limits, mut usage) = (w.limits.borrow_mut(), w.usage.borrow_mut());
        let mut st = WorkerState {
            limits: &mut limits,
            usage: &mut usage,
            account: w.account.as_deref(),
            workers: w.workers,
        };
        let epoch_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let stamp = Stamp {
            request_id: id.as_str(),
            epoch_ms,
        };
        core::decide(&table, req, &mut st, now_ns(), &stamp, &mut caps, &mut key)
    };
    let framing = Framing {
        conn,
        head_req: req.is_head(),
        http11: req.head.minor_version >= 1,
    };
    match decision {
        Decision::Refuse(r) => refuse(w, &r, &id, req.method, conn, out),
        Decision::Mock(r) => {
            method_response::write_mock(out, &mut w.resp.borrow_mut(), &r, &id, framing)
        }
        Decision::Proxy(plan) => {
            req.path = plan.path;
            if let Some(c) = plan.cache {
                if c.lookup {
                    let mut cache = w.cache.borrow_mut();
                    if let Some(hit) = cache.get(c.stage_cache, &key, now_ns()) {
                        w.metrics.cache_hit();
                        method_response::write_cached(
                            out,
                            &mut w.resp.borrow_mut(),
                            hit,
                            &id,
                            framing,
                        );
                        drop(cache);
                        scratch.cache_key = key;
                        return;
                    }
                }
                w.metrics.cache_miss();
            }
            let result =
                upstream::forward(&w.pool, &w.resolver, plan.integration, req, &caps, scratch)
                    .await;
            // A shutdown may have begun while the backend answered.
            let conn = if w.is_draining() {
                ConnState::Close
            } else {
                conn
            };
            let framing = Framing { conn, ..framing };
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
                Answer::Refuse(r) => refuse(w, &r, &id, req.method, conn, out),
            }
        }
    }
    scratch.cache_key = key;
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
