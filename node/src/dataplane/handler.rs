//! Serving one parsed request: find the API, stage and method, run the integration, write the
//! answer into the connection's output buffer.

use super::cache::CachedResponse;
use super::http1::{is_hop_by_hop, write_chunked_body, write_content_length, write_header};
use super::invoke;
use super::matcher::{self, Captures};
use super::request::Request;
use super::respond::{write_common_head, write_error, ConnState, RequestId};
use super::routing::{CompiledIntegration, MockIntegration, ThrottleSpec, Verb};
use super::upstream::{self, BodyAt, ProxyError, ProxyScratch};
use super::worker::Worker;
use std::sync::atomic::Ordering;

/// AWS's answer for a route, stage or method that does not exist.
pub const MISSING_TOKEN: &str = "Missing Authentication Token";

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
    let head_req = req.is_head();
    let error = |out: &mut Vec<u8>, status: u16, kind: &[u8], msg: &str| {
        write_error(
            out,
            &mut w.resp.borrow_mut(),
            status,
            &id,
            conn,
            Some(kind),
            msg,
        );
    };
    let Some(target) = invoke::resolve(req.header(b"host"), req.path) else {
        return error(out, 404, b"NotFoundException", "Not Found");
    };
    let Some(api) = table.apis.get(target.api_id) else {
        return error(out, 404, b"NotFoundException", "Not Found");
    };
    if api.execute_api_disabled {
        return error(out, 403, b"ForbiddenException", "Forbidden");
    }
    let (Some(stage), Some(verb)) = (
        api.stages.get(target.stage),
        Verb::from_bytes(req.method.as_bytes()),
    ) else {
        return error(
            out,
            403,
            b"MissingAuthenticationTokenException",
            MISSING_TOKEN,
        );
    };
    let mut caps = Captures::default();
    let Some(method) = matcher::find(stage, target.path, verb, &mut caps) else {
        return error(
            out,
            403,
            b"MissingAuthenticationTokenException",
            MISSING_TOKEN,
        );
    };
    // Authorization comes first in AWS's order; a method whose authorization this node cannot
    // perform is never served (routing logs why when it compiles the method).
    if let Some(why) = &method.fail_closed {
        tracing::debug!(api = target.api_id, stage = target.stage, method = %method.http_method, path = %method.resource_path, %why, "method refused");
        return error(
            out,
            500,
            b"InternalServerErrorException",
            "Internal server error",
        );
    }
    // Request validation: after authorization, before the API key (AWS's order).
    if let Err(r) =
        super::validate::check_request(method.validation.as_deref(), req, &caps, target.path)
    {
        return error(out, 400, b"BadRequestException", r.message());
    }
    // AWS's order: the key's plan (per method, then per key), its quota, then the stage.
    let now = super::throttle::now_ns();
    // What the request's usage is counted under (its key and plan), when it has a key.
    let mut usage_id: Option<&str> = None;
    // The key's pending-usage count, when this request was counted in it (and must be taken
    // off again if a later limit refuses the request).
    let mut counted: Option<&std::sync::atomic::AtomicU64> = None;
    // The plan's limits this request was checked against (taken from once all pass).
    let mut plan_limits: [Option<&ThrottleSpec>; 2] = [None, None];
    if method.api_key_required {
        let keys = &table.keys;
        let entry = req
            .header(b"x-api-key")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| keys.by_value.get(v))
            .filter(|e| e.enabled);
        let plan = entry.and_then(|e| {
            e.stages
                .iter()
                .find(|s| &*s.api_id == target.api_id && &*s.stage == target.stage)
        });
        let Some(plan) = plan else {
            return error(out, 403, b"ForbiddenException", "Forbidden");
        };
        let mut limits = w.limits.borrow_mut();
        let per_method = plan
            .method_throttles
            .iter()
            .find(|(k, _)| is_method_key(k, &method.resource_path, &method.http_method));
        plan_limits = [per_method.map(|(_, t)| t), plan.throttle.as_ref()];
        for t in plan_limits.iter().flatten() {
            if !limits.check(t, now) {
                return error(out, 429, b"TooManyRequestsException", "Too Many Requests");
            }
        }
        // The quota: this node's share of what the ledger left at compile time, against what
        // it served and has not seen committed (every request of a quota-bearing key counts).
        if let Some(q) = &plan.quota {
            limits.note_demand(q.id);
        }
        if let Some(pending) = plan.quota_pending.as_deref() {
            let used = pending.fetch_add(1, Ordering::Relaxed);
            if plan
                .quota
                .as_ref()
                .is_some_and(|q| used as f64 >= q.allowance())
            {
                give_back(pending);
                return error(out, 429, b"LimitExceededException", "Limit Exceeded");
            }
            counted = Some(pending);
        }
        usage_id = Some(&plan.usage_id);
    }
    // Stage/method throttle, then the account-level limit; tokens are taken only once every
    // limit has one, so a request one of them refuses costs the others nothing.
    {
        let mut limits = w.limits.borrow_mut();
        let later = [method.throttle.as_ref(), w.account.as_deref()];
        for t in later.iter().flatten() {
            if !limits.check(t, now) {
                if let Some(pending) = counted {
                    give_back(pending);
                }
                return error(out, 429, b"TooManyRequestsException", "Too Many Requests");
            }
        }
        for t in plan_limits.iter().chain(&later).flatten() {
            limits.take(t);
        }
    }
    if let Some(id) = usage_id {
        w.usage.borrow_mut().record(id);
    }
    req.path = target.path;
    match &method.integration {
        CompiledIntegration::Mock(m) => {
            if m.response.is_none() {
                let at = (target.api_id, target.stage, &*method.resource_path);
                let cause = "MOCK integration has no response for its status";
                log_gateway_error(w, &id, at, req.method, 500, cause);
            }
            write_mock(w, m, &id, conn, head_req, out)
        }
        CompiledIntegration::HttpProxy(p) => {
            let cache = method.cache.as_ref().filter(|_| stage.cache_bytes > 0);
            // The key lives in the connection's scratch between requests; taken out here so
            // the scratch can be lent to the backend exchange meanwhile.
            let mut key = std::mem::take(&mut scratch.cache_key);
            key.clear();
            if let Some(c) = cache {
                cache_key(req, &caps, c, &mut key);
                let mut lookup = true;
                if wants_fresh(req) {
                    if !c.require_authorization {
                        lookup = false;
                    } else if &*c.unauthorized_strategy == "FAIL_WITH_403" {
                        return error(out, 403, b"ForbiddenException", "Forbidden");
                    }
                }
                if lookup {
                    let mut cache_ref = w.cache.borrow_mut();
                    if let Some(hit) = cache_ref.get(stage.cache_id, &key, now) {
                        w.metrics.cache_hit();
                        write_cached(w, hit, &id, conn, head_req, out);
                        drop(cache_ref);
                        scratch.cache_key = key;
                        return;
                    }
                }
                w.metrics.cache_miss();
            }
            let result = upstream::forward(&w.pool, &w.resolver, p, req, &caps, scratch).await;
            // A shutdown may have begun while the backend answered.
            let conn = if w.is_draining() {
                ConnState::Close
            } else {
                conn
            };
            match result {
                Ok(()) => {
                    if let Some(c) = cache.filter(|_| (200..300).contains(&scratch.head.status)) {
                        let budget = stage.cache_bytes / w.workers.max(1);
                        let response = cacheable(scratch);
                        w.cache.borrow_mut().put(
                            stage.cache_id,
                            budget,
                            &key,
                            response,
                            super::throttle::now_ns() + c.ttl_ns,
                        );
                    }
                    write_proxied(w, scratch, &id, conn, head_req, req, out);
                    scratch.cache_key = key;
                }
                Err(e) => {
                    let status = if e == ProxyError::Timeout { 504 } else { 502 };
                    let at = (target.api_id, target.stage, &*method.resource_path);
                    log_gateway_error(w, &id, at, req.method, status, e.cause());
                    if e == ProxyError::Timeout {
                        error(
                            out,
                            504,
                            b"InternalServerErrorException",
                            "Endpoint request timed out",
                        )
                    } else {
                        error(
                            out,
                            502,
                            b"InternalServerErrorException",
                            "Internal server error",
                        )
                    }
                }
            }
        }
        CompiledIntegration::Unavailable(why) => {
            let at = (target.api_id, target.stage, &*method.resource_path);
            log_gateway_error(w, &id, at, req.method, 500, why);
            error(
                out,
                500,
                b"InternalServerErrorException",
                "Internal server error",
            )
        }
    }
}

/// Logs an error answer the gateway made itself (not one a backend sent), at the default
/// level but rate-limited per worker, since clients can trigger it at will.
fn log_gateway_error(
    w: &Worker,
    id: &RequestId,
    (api, stage, resource): (&str, &str, &str),
    method: &str,
    status: u16,
    cause: &str,
) {
    if let Some(left_out) = w.error_log.borrow_mut().allow(std::time::Instant::now()) {
        tracing::warn!(
            request_id = id.as_str(),
            api,
            stage,
            method,
            resource,
            status,
            cause,
            similar_left_out = left_out,
            "gateway error"
        );
    }
}

fn write_mock(
    w: &Worker,
    m: &MockIntegration,
    id: &RequestId,
    conn: ConnState,
    head_req: bool,
    out: &mut Vec<u8>,
) {
    let mut ctx = w.resp.borrow_mut();
    match &m.response {
        Some(r) => {
            write_common_head(out, &mut ctx, r.status, id, conn);
            out.extend_from_slice(&r.header_block);
            write_content_length(out, r.body.len());
            out.extend_from_slice(b"\r\n");
            if !head_req {
                out.extend_from_slice(&r.body);
            }
        }
        // AWS: "Execution failed due to configuration error: No match for output mapping and
        // no default output mapping".
        None => write_error(
            out,
            &mut ctx,
            500,
            id,
            conn,
            Some(b"InternalServerErrorException"),
            "Internal server error",
        ),
    }
}

fn write_proxied(
    w: &Worker,
    s: &ProxyScratch,
    id: &RequestId,
    conn: ConnState,
    head_req: bool,
    req: &Request<'_>,
    out: &mut Vec<u8>,
) {
    super::http1::write_status_line(out, s.head.status);
    write_header(out, b"x-amzn-RequestId", id.as_bytes());
    match conn {
        ConnState::KeepAlive11 => {}
        ConnState::KeepAlive10 => write_header(out, b"Connection", b"keep-alive"),
        ConnState::Close => write_header(out, b"Connection", b"close"),
    }
    let mut has_date = false;
    for (n, v) in &s.head.headers {
        let (name, value) = (&s.resp[n.clone()], &s.resp[v.clone()]);
        // A HEAD answer keeps the backend's length: it describes the body a GET would get.
        if is_hop_by_hop(name) || (!head_req && name.eq_ignore_ascii_case(b"content-length")) {
            continue;
        }
        has_date |= name.eq_ignore_ascii_case(b"date");
        write_header(out, name, value);
    }
    if !has_date {
        write_header(out, b"Date", w.resp.borrow_mut().date());
    }
    let body = s.body();
    let no_body = super::http1::response_has_no_body(s.head.status, head_req);
    // A chunked backend answer goes on chunked to an HTTP/1.1 client; otherwise sized.
    if s.body == BodyAt::Chunked && req.head.minor_version >= 1 && !no_body {
        write_header(out, b"Transfer-Encoding", b"chunked");
        out.extend_from_slice(b"\r\n");
        write_chunked_body(out, body);
    } else {
        if !no_body {
            write_content_length(out, body.len());
        }
        out.extend_from_slice(b"\r\n");
        if !no_body {
            out.extend_from_slice(body);
        }
    }
}

/// The cache key: verb, stage-relative path, then each cache key parameter's value.
fn cache_key(
    req: &Request<'_>,
    caps: &Captures<'_>,
    c: &super::routing::CacheSpec,
    key: &mut Vec<u8>,
) {
    use super::routing::ValueSource;
    key.extend_from_slice(req.method.as_bytes());
    key.push(0);
    key.extend_from_slice(req.path.as_bytes());
    for p in &c.key_params {
        key.push(0);
        let v: Option<&[u8]> = match p {
            ValueSource::Query(n) => req.query_param(n),
            ValueSource::Header(n) => req.header(n.as_bytes()),
            ValueSource::Path(n) => caps.get(req.path, n).map(str::as_bytes),
            ValueSource::Literal(l) => Some(l.as_bytes()),
        };
        key.extend_from_slice(v.unwrap_or_default());
    }
}

/// Whether the client asks to bypass the cache (`Cache-Control: max-age=0`).
fn wants_fresh(req: &Request<'_>) -> bool {
    req.header(b"cache-control")
        .and_then(|v| std::str::from_utf8(v).ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("max-age=0"))
        })
}

/// A backend answer as the cache keeps it: end-to-end headers only (no framing, no date).
fn cacheable(s: &ProxyScratch) -> CachedResponse {
    let mut header_block = Vec::new();
    for (n, v) in &s.head.headers {
        let (name, value) = (&s.resp[n.clone()], &s.resp[v.clone()]);
        if is_hop_by_hop(name)
            || name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"date")
        {
            continue;
        }
        write_header(&mut header_block, name, value);
    }
    CachedResponse {
        status: s.head.status,
        header_block,
        body: s.body().to_vec(),
    }
}

fn write_cached(
    w: &Worker,
    r: &CachedResponse,
    id: &RequestId,
    conn: ConnState,
    head_req: bool,
    out: &mut Vec<u8>,
) {
    write_common_head(out, &mut w.resp.borrow_mut(), r.status, id, conn);
    out.extend_from_slice(&r.header_block);
    write_content_length(out, r.body.len());
    out.extend_from_slice(b"\r\n");
    if !head_req {
        out.extend_from_slice(&r.body);
    }
}

/// Whether a usage plan's method key (`/pets/GET`, `//GET` for the root) names this method.
fn is_method_key(key: &str, resource_path: &str, verb: &str) -> bool {
    key.strip_suffix(verb)
        .and_then(|k| k.strip_suffix('/'))
        .is_some_and(|p| p == resource_path)
}

/// Takes a request's count off a key's pending quota usage again. Never below zero: the
/// control thread takes committed usage off the same counter (saturating), and a request
/// counted before a quota existed may be taken off there first.
fn give_back(pending: &std::sync::atomic::AtomicU64) {
    let _ = pending.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(1))
    });
}

#[cfg(test)]
mod tests {
    use super::is_method_key;

    #[test]
    fn plan_method_keys() {
        assert!(is_method_key("/pets/GET", "/pets", "GET"));
        assert!(is_method_key("//GET", "/", "GET"));
        assert!(!is_method_key("/pets/GET", "/pets", "POST"));
        assert!(!is_method_key("/pet/GET", "/pets", "GET"));
    }
}
