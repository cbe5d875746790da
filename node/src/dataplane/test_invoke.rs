//! TestInvokeMethod's data-plane half: one request run through the same core phases
//! ([`super::core`]) and the same integration code the workers use, against a one-method
//! stage compiled from the API's working tree (the admin half, `admin::ops::test_invoke`,
//! builds it). The admin API runs on tokio and the integration code on monoio, so [`run`]
//! blocks: it builds a small monoio runtime (the portable poll driver, with timers) on the
//! calling thread, which the admin half lends from tokio's blocking pool.
//!
//! The request is written as an HTTP/1.1 request to the path form of the execute-api
//! endpoint (`/restapis/{api}/{stage}/_user_request_/…`) and parsed by the worker's parser,
//! so every phase sees what it sees for a client's request. The answer is written as the
//! worker writes it, then read back into status, headers and body. Along the way the steps
//! are logged as AWS's execution log words them.

use super::core::{self, Answer, Decision, HttpAnswer, LambdaAnswer, Refuse, Seen, WorkerState};
use super::http1::{self, RequestHead, ResponseHead};
use super::http_integration::BackendAnswer;
use super::mapping::Stamp;
use super::matcher::Captures;
use super::phases::authorize::AuthScratch;
use super::phases::method_response::{self, Framing};
use super::request::Request;
use super::respond::{ConnState, ResponseContext};
use super::routing::{ApiRoutes, RoutingTable, StageRoutes};
use super::throttle::{now_ns, WorkerLimits};
use super::upstream::{self, ProxyScratch, UpstreamPool};
use super::usage::UsageCounters;
use crate::functions::{Functions, InvokeError};
use crate::iam::IamEnv;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::Arc;

/// The stage name AWS gives a test invocation (`$context.stage`).
pub const TEST_STAGE: &str = "test-invoke-stage";

/// One test invocation: the compiled one-method stage and the request to run through it.
pub struct Invocation {
    /// The stage compiled from the working tree (its name [`TEST_STAGE`]).
    pub stage: StageRoutes,
    /// The request's verb.
    pub verb: String,
    /// The path below the stage, with its query string (`/pets/1?a=b`).
    pub path_with_query: String,
    /// The request's headers, in order (repeated names repeated).
    pub headers: Vec<(String, String)>,
    /// The request's body.
    pub body: Vec<u8>,
    /// The account and region the request is served in.
    pub iam: IamEnv,
    /// The node's Lambda functions (Lambda integrations).
    pub functions: Option<Arc<Functions>>,
}

/// What a test invocation answered.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The status.
    pub status: u16,
    /// The answer's headers in order (framing fields left out).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The execution log, one line each.
    pub log: Vec<String>,
    /// How long it took, milliseconds.
    pub latency_ms: u64,
}

/// Why a test invocation could not be run at all (the admin API answers 400).
#[derive(Debug, PartialEq, Eq)]
pub enum Unrunnable {
    /// A header name or value, or the path, that cannot be sent in an HTTP request.
    BadRequest(String),
}

/// Runs the invocation to the end (blocks until the integration answered or timed out).
pub fn run(inv: Invocation) -> Result<Outcome, Unrunnable> {
    let raw = request_bytes(&inv)?;
    let rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .map_err(|e| Unrunnable::BadRequest(format!("cannot start the invocation: {e}")))?;
    let mut rt = rt;
    rt.block_on(serve(inv, raw))
}

/// Characters that cannot appear in a header field or the request target.
fn unsendable(s: &str) -> bool {
    s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

/// The request as a client would send it: the path form of the endpoint, a `Host` of the
/// gateway's own, the caller's headers (any framing fields of theirs left out) and a
/// `Content-Length` for the body.
fn request_bytes(inv: &Invocation) -> Result<Vec<u8>, Unrunnable> {
    let bad = |what: &str| Unrunnable::BadRequest(format!("Invalid {what} specified"));
    let pq = &inv.path_with_query;
    if !pq.starts_with('/') || unsendable(pq) || pq.contains([' ', '\t']) {
        return Err(bad("pathWithQueryString"));
    }
    let mut out = Vec::with_capacity(256 + inv.body.len());
    out.extend_from_slice(inv.verb.as_bytes());
    out.extend_from_slice(b" /restapis/");
    out.extend_from_slice(inv.stage.api_id.as_bytes());
    out.extend_from_slice(b"/");
    out.extend_from_slice(TEST_STAGE.as_bytes());
    out.extend_from_slice(b"/_user_request_");
    out.extend_from_slice(pq.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: test-invoke.local\r\n");
    for (n, v) in &inv.headers {
        if n.is_empty() || unsendable(n) || n.contains([':', ' ', '\t']) || unsendable(v) {
            return Err(bad("header"));
        }
        let framing = ["host", "content-length", "transfer-encoding", "connection"];
        if framing.iter().any(|f| n.eq_ignore_ascii_case(f)) {
            continue;
        }
        http1::write_header(&mut out, n.as_bytes(), v.as_bytes());
    }
    http1::write_content_length(&mut out, inv.body.len());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&inv.body);
    Ok(out)
}

/// `{a=1, b=2}`, as AWS's log prints maps.
fn map_text<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{k}={v}");
    }
    s.push('}');
    s
}

/// The execution log, each line stamped as AWS stamps it.
struct Log {
    lines: Vec<String>,
    stamp: String,
}

impl Log {
    fn push(&mut self, line: impl AsRef<str>) {
        self.lines
            .push(format!("{} : {}", self.stamp, line.as_ref()));
    }
}

/// AWS's log time: `Wed Dec 02 14:30:00 UTC 2026`.
fn log_time(epoch_ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(epoch_ms);
    // `Wed, 02 Dec 2026 14:30:00 GMT`, reordered.
    let http = httpdate::fmt_http_date(t);
    let p: Vec<&str> = http.split(' ').collect();
    match p.as_slice() {
        [day, date, month, year, time, _] => format!(
            "{} {month} {date} {time} UTC {year}",
            day.trim_end_matches(',')
        ),
        _ => http,
    }
}

async fn serve(inv: Invocation, raw: Vec<u8>) -> Result<Outcome, Unrunnable> {
    let t0 = now_ns();
    let mut head = RequestHead::default();
    match http1::parse_request_head(&raw, &mut head) {
        Ok(true) => {}
        _ => return Err(Unrunnable::BadRequest("Invalid request specified".into())),
    }
    let text = |r: std::ops::Range<usize>| std::str::from_utf8(raw.get(r)?).ok();
    let (Some(method), Some(path), Some(query)) = (
        text(head.method.clone()),
        text(head.path.clone()),
        text(head.query.clone()),
    ) else {
        return Err(Unrunnable::BadRequest(
            "Invalid pathWithQueryString specified".into(),
        ));
    };
    let mut norm = String::new();
    let path = match super::pathnorm::normalise(path, &mut norm) {
        Ok(Some(p)) => p,
        Ok(None) => path,
        Err(_) => {
            return Err(Unrunnable::BadRequest(
                "Invalid pathWithQueryString specified".into(),
            ))
        }
    };
    let body = raw.get(head.head_len..).unwrap_or(&[]);
    let mut req = Request {
        buf: &raw,
        head: &head,
        method,
        path,
        query,
        body,
        peer: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        tls: None,
    };
    let api_id = inv.stage.api_id.clone();
    let mut table = RoutingTable::default();
    let mut api = ApiRoutes::default();
    api.stages.insert(TEST_STAGE.into(), Arc::new(inv.stage));
    table.apis.insert(api_id.clone(), Arc::new(api));

    let mut ctx = ResponseContext::new();
    let id = ctx.request_id();
    let stamp = Stamp {
        request_id: id.as_str(),
        epoch_ms: u64::try_from(crate::ids::now_epoch_ms()).unwrap_or(0),
        account: &inv.iam.account,
    };
    let mut log = Log {
        lines: vec![format!("Execution log for request {}", id.as_str())],
        stamp: log_time(stamp.epoch_ms),
    };
    log.push(format!("Starting execution for request: {}", id.as_str()));

    let mut limits = WorkerLimits::new(0, 1);
    let mut usage = UsageCounters::new(0, None);
    let mut auth = AuthScratch::default();
    let mut st = WorkerState {
        limits: &mut limits,
        usage: &mut usage,
        account: None,
        workers: 1,
        iam: &inv.iam,
        wall_secs: i64::try_from(stamp.epoch_ms / 1000).unwrap_or(i64::MAX),
        auth: &mut auth,
        authorized: None,
    };
    let mut caps = Captures::default();
    let mut key = Vec::new();
    let mut seen = Seen::default();
    let decision = core::decide_seen(
        &table, &req, &mut st, t0, &stamp, &mut caps, &mut key, &mut seen,
    );
    let stage_path = seen
        .stage
        .and_then(|_| req.path.split_once("/_user_request_").map(|(_, p)| p))
        .map(|p| if p.is_empty() { "/" } else { p })
        .unwrap_or(req.path);
    if let Some(m) = seen.method {
        log.push(format!(
            "HTTP Method: {}, Resource Path: {}",
            req.method, m.resource_path
        ));
        let params = caps
            .iter()
            .filter_map(|&(n, s, e)| Some((n, stage_path.get(s..e)?)));
        log.push(format!("Method request path: {}", map_text(params)));
        let query_pairs = req.query.split('&').filter(|p| !p.is_empty()).map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k, v)
        });
        log.push(format!(
            "Method request query string: {}",
            map_text(query_pairs)
        ));
        let hs: Vec<(String, String)> = req
            .headers()
            .filter(|(n, _)| {
                !n.eq_ignore_ascii_case(b"host") && !n.eq_ignore_ascii_case(b"content-length")
            })
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        log.push(format!(
            "Method request headers: {}",
            map_text(hs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        ));
        log.push(format!(
            "Method request body before transformations: {}",
            String::from_utf8_lossy(req.body)
        ));
    }
    let framing = Framing {
        conn: ConnState::KeepAlive11,
        head_req: req.is_head(),
        http11: true,
    };
    let mut out = Vec::new();
    let refuse = |r: &Refuse<'_>, out: &mut Vec<u8>, ctx: &mut ResponseContext, log: &mut Log| {
        let message = r.message.as_deref().unwrap_or(r.refusal.message);
        match r.log.as_ref() {
            Some(l) if !l.cause.is_empty() => log.push(format!(
                "Execution failed due to configuration error: {}",
                l.cause
            )),
            _ => log.push(format!(
                "Gateway response type: {:?} with status code: {}",
                r.refusal.kind, r.refusal.status
            )),
        }
        super::gateway_response::write_message(
            out,
            ctx,
            &r.refusal,
            message,
            r.responses,
            &id,
            ConnState::KeepAlive11,
            &[],
        );
    };
    match decision {
        Decision::Refuse(r) => refuse(&r, &mut out, &mut ctx, &mut log),
        Decision::Authorize(plan) => {
            // The admin half compiles the method without authorization, as AWS's test
            // invocation skips it; a plan to call an authorizer is a bug, answered 500.
            let r = Refuse {
                refusal: core::AUTHORIZER_CONFIGURATION_ERROR,
                responses: Some(&plan.stage.gateway_responses),
                log: None,
                message: None,
            };
            refuse(&r, &mut out, &mut ctx, &mut log);
        }
        Decision::Mock(r) => {
            log.push(format!(
                "Method response body after transformations: {}",
                String::from_utf8_lossy(&r.body)
            ));
            method_response::write_mock(&mut out, &mut ctx, &r, &id, framing);
        }
        Decision::Lambda(mut plan) => {
            // An AWS (non-proxy) integration sends its request template's payload.
            let event = match plan.payload.take() {
                Some(payload) => payload,
                None => core::lambda_event(&plan, &req, &caps, id.as_str(), stamp.epoch_ms),
            };
            let l = plan.integration;
            log.push(format!("Endpoint request URI: {}", l.function.arn));
            log.push(format!(
                "Endpoint request body after transformations: {}",
                String::from_utf8_lossy(&event)
            ));
            log.push("Sending request to the Lambda function");
            let result = match inv.functions.as_ref() {
                None => Err(InvokeError::NoTarget),
                Some(f) => match f.invoke(&l.function.name, &l.function.arn, event, l.timeout) {
                    // On this runtime's driver, as a worker waits (monoio is not woken from
                    // other threads: the function thread writes to the invocation's socket).
                    Ok(p) => super::handler::await_answer(p).await,
                    Err(e) => Err(e),
                },
            };
            match &result {
                Ok(payload) => log.push(format!(
                    "Endpoint response body before transformations: {}",
                    String::from_utf8_lossy(payload)
                )),
                Err(e) => log.push(format!("Lambda invocation failed: {}", e.cause())),
            }
            match core::after_lambda_mapped(&plan, &req, &caps, &stamp, result) {
                LambdaAnswer::Reply(r) => {
                    method_response::write_lambda(&mut out, &mut ctx, &r, &id, framing)
                }
                LambdaAnswer::Mapped(r) => {
                    log.push(format!(
                        "Method response body after transformations: {}",
                        String::from_utf8_lossy(&r.body)
                    ));
                    method_response::write_mock(&mut out, &mut ctx, &r, &id, framing)
                }
                LambdaAnswer::Refuse(r) => refuse(&r, &mut out, &mut ctx, &mut log),
            }
        }
        Decision::Proxy(plan) => {
            req.path = plan.path;
            let pool = RefCell::new(UpstreamPool::default());
            let resolver = RefCell::new(super::resolve::Resolver::default());
            let mut scratch = ProxyScratch::default();
            let mapped = plan.http.as_ref().map(|h| h.mapped(&req));
            let result = upstream::forward(
                &pool,
                &resolver,
                plan.integration,
                &req,
                &caps,
                upstream::Who {
                    identity: plan.identity.as_ref(),
                    authorizer: plan.authorizer.as_deref(),
                    context: plan.context.as_deref(),
                    trace: None,
                    amzn_root: None,
                    api_id: Some(&plan.stage.api_id),
                },
                mapped,
                &mut scratch,
            )
            .await;
            log_endpoint_request(&mut log, scratch.sent());
            match &result {
                Ok(()) => {
                    log.push(format!(
                        "Received response. Status: {}, Integration latency: {} ms",
                        scratch.head.status,
                        now_ns().saturating_sub(t0) / 1_000_000
                    ));
                    log.push(format!(
                        "Endpoint response headers: {}",
                        header_map(&scratch.resp, &scratch.head)
                    ));
                    log.push(format!(
                        "Endpoint response body before transformations: {}",
                        String::from_utf8_lossy(scratch.body())
                    ));
                }
                Err(e) => log.push(format!("Execution failed due to an error: {e:?}")),
            }
            if plan.http.is_some() {
                let result = result.map(|()| BackendAnswer {
                    status: scratch.head.status,
                    head: &scratch.resp,
                    headers: &scratch.head.headers,
                    body: scratch.body(),
                });
                match core::after_http(&plan, &req, &caps, &stamp, result, now_ns()) {
                    HttpAnswer::Reply { response, .. } => {
                        log.push(format!(
                            "Method response body after transformations: {}",
                            String::from_utf8_lossy(&response.body)
                        ));
                        method_response::write_mock(&mut out, &mut ctx, &response, &id, framing)
                    }
                    HttpAnswer::Refuse(r) => refuse(&r, &mut out, &mut ctx, &mut log),
                }
            } else {
                let status = result.map(|()| scratch.head.status);
                match core::after_integration(&plan, status, now_ns()) {
                    Answer::Relay { .. } => {
                        method_response::write_proxied(&mut out, &mut ctx, &scratch, &id, framing)
                    }
                    Answer::Refuse(r) => refuse(&r, &mut out, &mut ctx, &mut log),
                }
            }
        }
    }
    let mut outcome = read_answer(&out, req.is_head());
    log.push(format!(
        "Method response headers: {}",
        map_text(
            outcome
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
        )
    ));
    log.push("Successfully completed execution");
    log.push(format!("Method completed with status: {}", outcome.status));
    outcome.log = log.lines;
    outcome.latency_ms = now_ns().saturating_sub(t0) / 1_000_000;
    Ok(outcome)
}

/// A response head's headers as AWS's log prints them.
fn header_map(buf: &[u8], head: &ResponseHead) -> String {
    let hs: Vec<(String, String)> = head
        .headers
        .iter()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(buf.get(n.clone()).unwrap_or(&[])).into_owned(),
                String::from_utf8_lossy(buf.get(v.clone()).unwrap_or(&[])).into_owned(),
            )
        })
        .collect();
    map_text(hs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
}

/// Logs the request sent to the backend: its URI, headers and body.
fn log_endpoint_request(log: &mut Log, sent: &[u8]) {
    let Some(end) = sent.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    let head = String::from_utf8_lossy(&sent[..end]);
    let mut lines = head.split("\r\n");
    let target = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_string();
    let mut host = "";
    let mut hs = Vec::new();
    for l in lines {
        if let Some((n, v)) = l.split_once(':') {
            if n.eq_ignore_ascii_case("host") {
                host = v.trim();
            }
            hs.push((n, v.trim()));
        }
    }
    log.push(format!("Endpoint request URI: http://{host}{target}"));
    log.push(format!(
        "Endpoint request headers: {}",
        map_text(hs.into_iter())
    ));
    log.push(format!(
        "Endpoint request body after transformations: {}",
        String::from_utf8_lossy(sent.get(end + 4..).unwrap_or(&[]))
    ));
}

/// The answer the worker wrote, read back: status, headers (without the framing fields
/// the admin API's own answer replaces) and body.
fn read_answer(out: &[u8], head_request: bool) -> Outcome {
    let mut head = ResponseHead::default();
    if !matches!(
        http1::parse_response_head(out, head_request, &mut head),
        Ok(true)
    ) {
        return Outcome {
            status: 500,
            ..Outcome::default()
        };
    }
    let raw_body = out.get(head.head_len..).unwrap_or(&[]);
    let mut headers = Vec::new();
    let mut chunked = false;
    for (n, v) in &head.headers {
        let name = String::from_utf8_lossy(out.get(n.clone()).unwrap_or(&[])).into_owned();
        let value = String::from_utf8_lossy(out.get(v.clone()).unwrap_or(&[])).into_owned();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        }
        if ["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f))
        {
            continue;
        }
        headers.push((name, value));
    }
    let body = if chunked {
        dechunk(raw_body)
    } else {
        raw_body.to_vec()
    };
    Outcome {
        status: head.status,
        headers,
        body,
        ..Outcome::default()
    }
}

/// A chunked body's data (written by the worker, so well-formed; anything else ends it).
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size.filter(|&n| n > 0) else {
            return out;
        };
        let Some(data) = b.get(eol + 2..eol + 2 + size) else {
            return out;
        };
        out.extend_from_slice(data);
        b = b.get(eol + 4 + size..).unwrap_or(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_answers_are_read_back() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), b"abcde");
        assert_eq!(dechunk(b"zz\r\n"), b"");
    }

    #[test]
    fn answers_are_read_back_without_framing() {
        let o = read_answer(
            b"HTTP/1.1 201 Created\r\nDate: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
            false,
        );
        assert_eq!(o.status, 201);
        assert_eq!(o.body, b"hi");
        assert_eq!(
            o.headers,
            vec![
                ("Date".to_string(), "x".to_string()),
                ("Content-Type".to_string(), "text/plain".to_string())
            ]
        );
    }

    #[test]
    fn log_times_read_as_aws_writes_them() {
        assert_eq!(log_time(1_796_180_645_000), "Wed Dec 02 03:04:05 UTC 2026");
    }

    #[test]
    fn maps_print_as_aws_logs_them() {
        assert_eq!(map_text([("a", "1"), ("b", "2")].into_iter()), "{a=1, b=2}");
        assert_eq!(map_text(std::iter::empty()), "{}");
    }
}
