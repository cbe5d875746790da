//! Serving one parsed request: find the API, stage and method, run the integration, write the
//! answer into the connection's output buffer.

use super::http1::{is_hop_by_hop, write_chunked_body, write_content_length, write_header};
use super::invoke;
use super::matcher::{self, Captures};
use super::request::Request;
use super::respond::{write_common_head, write_error, ConnState, RequestId};
use super::routing::{CompiledIntegration, MockIntegration, Verb};
use super::upstream::{self, BodyAt, ProxyError, ProxyScratch};
use super::worker::Worker;

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
    if let Some(t) = &method.throttle {
        let now = super::throttle::now_ns();
        if !w.limits.borrow_mut().admit(t, now) {
            return error(out, 429, b"TooManyRequestsException", "Too Many Requests");
        }
    }
    req.path = target.path;
    match &method.integration {
        CompiledIntegration::Mock(m) => write_mock(w, m, &id, conn, head_req, out),
        CompiledIntegration::HttpProxy(p) => {
            match upstream::forward(&w.pool, p, req, &caps, scratch).await {
                Ok(()) => write_proxied(w, scratch, &id, conn, head_req, req, out),
                Err(ProxyError::Timeout) => error(
                    out,
                    504,
                    b"InternalServerErrorException",
                    "Endpoint request timed out",
                ),
                Err(ProxyError::Connect | ProxyError::BadResponse) => error(
                    out,
                    502,
                    b"InternalServerErrorException",
                    "Internal server error",
                ),
            }
        }
        CompiledIntegration::Unavailable(why) => {
            tracing::debug!(api = target.api_id, stage = target.stage, path = %method.resource_path, %why, "integration unavailable");
            error(
                out,
                500,
                b"InternalServerErrorException",
                "Internal server error",
            )
        }
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
