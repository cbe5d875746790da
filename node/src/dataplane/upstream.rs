//! HTTP_PROXY: forwarding a request to an HTTP backend over a per-worker keep-alive pool
//! (plain or TLS connections: [`super::upstream_tls`]).

use super::authorizer::AuthorizerResult;
use super::http1::{
    is_hop_by_hop, parse_response_head, BodyKind, ChunkedDecoder, ResponseHead, MAX_BODY_BYTES,
};
use super::matcher::Captures;
use super::phases::authorize::CallerIdentity;
use super::request::Request;
use super::routing::{HttpProxyIntegration, UriPiece, ValueSource};
use super::upstream_tls::{Backend, Clients, ConnectError};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Idle connections kept per backend address.
pub const MAX_IDLE_PER_BACKEND: usize = 64;
/// How long an idle backend connection is kept. Shorter than the keep-alive timeout of
/// common backend servers (Node.js: 5 s), so that the pool rarely hands out a connection the
/// backend is closing.
pub const IDLE_TTL: Duration = Duration::from_secs(4);

/// A worker's idle backend connections, by pool key (`host:port`, or the TLS target's), with
/// the time each was put back; and the worker's TLS client configurations, whose session
/// caches let new TLS connections resume.
pub struct UpstreamPool<S = Backend> {
    idle: HashMap<Box<str>, Vec<(S, Instant)>>,
    tls: Option<Clients>,
}

impl<S> Default for UpstreamPool<S> {
    fn default() -> Self {
        UpstreamPool {
            idle: HashMap::new(),
            tls: None,
        }
    }
}

impl<S> UpstreamPool<S> {
    /// A pool whose `https://` connections use `tls` (without, they fail to connect).
    pub fn with_tls(tls: Clients) -> Self {
        UpstreamPool {
            idle: HashMap::new(),
            tls: Some(tls),
        }
    }

    /// The most recently used connection that has not expired; expired ones are dropped
    /// (closed). The list is oldest first, so everything before a fresh one is older.
    fn take(&mut self, authority: &str, now: Instant) -> Option<S> {
        let list = self.idle.get_mut(authority)?;
        let (s, since) = list.pop()?;
        if now.saturating_duration_since(since) < IDLE_TTL {
            // Older ones may have expired too; they go when reached.
            return Some(s);
        }
        // The newest is expired: so are all the others.
        list.clear();
        None
    }

    fn put(&mut self, authority: &str, s: S, now: Instant) {
        let list = match self.idle.get_mut(authority) {
            Some(l) => l,
            None => self.idle.entry(authority.into()).or_default(),
        };
        // Expired connections at the old end go first, so a backend used rarely does not keep
        // stale descriptors open.
        let fresh_from = list
            .iter()
            .position(|(_, t)| now.saturating_duration_since(*t) < IDLE_TTL)
            .unwrap_or(list.len());
        list.drain(..fresh_from);
        if list.len() < MAX_IDLE_PER_BACKEND {
            list.push((s, now));
        }
    }
}

/// Buffers reused across the proxied requests of one client connection.
#[derive(Default)]
pub struct ProxyScratch {
    req: Vec<u8>,
    /// The backend's answer as received (head, and the body unless it was chunked).
    pub resp: Vec<u8>,
    /// The decoded body of a chunked answer.
    pub chunked_body: Vec<u8>,
    /// The parsed head of the answer (spans into `resp`).
    pub head: ResponseHead,
    /// Where the body is: in `resp` (a range) or in `chunked_body`.
    pub body: BodyAt,
    /// The response-cache key of the current request (kept here for its allocation).
    pub cache_key: Vec<u8>,
}

/// Where a proxied answer's body lies.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum BodyAt {
    /// `resp[range]`.
    #[default]
    Empty,
    /// A range of `resp`.
    Resp(Range<usize>),
    /// All of `chunked_body` (the backend sent it chunked).
    Chunked,
}

/// Buffers larger than this are given back after the request that grew them.
const KEEP_CAPACITY: usize = 64 * 1024;

/// Drops `v`'s allocation if a large request grew it, so an idle connection does not pin it.
pub fn shrink(v: &mut Vec<u8>) {
    if v.capacity() > KEEP_CAPACITY {
        *v = Vec::new();
    }
}

impl ProxyScratch {
    /// The largest buffer's capacity.
    pub fn capacity(&self) -> usize {
        self.req
            .capacity()
            .max(self.resp.capacity())
            .max(self.chunked_body.capacity())
    }

    /// Gives back buffers a large exchange grew.
    pub fn shrink(&mut self) {
        shrink(&mut self.req);
        shrink(&mut self.resp);
        shrink(&mut self.chunked_body);
    }

    /// The request last sent to the backend (TestInvokeMethod's log shows it).
    pub fn sent(&self) -> &[u8] {
        &self.req
    }

    /// The answer's body.
    pub fn body(&self) -> &[u8] {
        match &self.body {
            BodyAt::Empty => &[],
            BodyAt::Resp(r) => self.resp.get(r.clone()).unwrap_or(&[]),
            BodyAt::Chunked => &self.chunked_body,
        }
    }
}

/// Why a backend exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyError {
    /// The backend's host name could not be resolved.
    Resolve,
    /// No connection could be made.
    Connect,
    /// The integration timeout passed.
    Timeout,
    /// The backend broke the exchange or answered something unparsable.
    BadResponse,
    /// The TLS handshake with an `https://` backend failed (its certificate is not trusted,
    /// not valid for the host or expired, or the protocol failed).
    Tls,
}

impl ProxyError {
    /// A short cause for the log.
    pub fn cause(self) -> &'static str {
        match self {
            ProxyError::Resolve => "backend name lookup failed",
            ProxyError::Connect => "backend connection refused or unreachable",
            ProxyError::Timeout => "integration timeout",
            ProxyError::BadResponse => "backend broke the exchange or answered invalid HTTP",
            ProxyError::Tls => {
                "backend TLS handshake failed (certificate not trusted, not valid for the host or expired)"
            }
        }
    }
}

/// Whether a request may be sent again after a failure that may have reached the backend
/// (RFC 9110 §9.2.2).
fn is_idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
    )
}

/// Who the request was authorized as, for `context.identity.*` and `context.authorizer.*`
/// header mappings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Who<'a> {
    /// The `AWS_IAM` caller.
    pub identity: Option<&'a CallerIdentity>,
    /// The Lambda authorizer's answer.
    pub authorizer: Option<&'a AuthorizerResult>,
    /// The request's template data, when a mapping reads `context.*`.
    pub context: Option<&'a super::mapping::TemplateData>,
    /// The gateway's trace context, on a traced stage (sent instead of the caller's).
    pub trace: Option<&'a super::trace::Propagate>,
    /// On an untraced stage, the `X-Amzn-Trace-Id` to send when it is not the caller's own
    /// ([`super::trace::untraced_root`]).
    pub amzn_root: Option<&'a [u8]>,
    /// The API's id (`X-Amzn-Apigateway-Api-Id`, sent to every backend as AWS sends it).
    pub api_id: Option<&'a str>,
}

impl Who<'_> {
    /// Whether the gateway sends its own value of header `name` (a caller's or a mapping's
    /// is then left out).
    fn replaces(&self, name: &[u8]) -> bool {
        (self.api_id.is_some() && name.eq_ignore_ascii_case(b"x-amzn-apigateway-api-id"))
            || (self.trace.is_some() && super::trace::is_trace_header(name))
            || (self.amzn_root.is_some() && name.eq_ignore_ascii_case(b"x-amzn-trace-id"))
    }
}

/// The body an HTTP (non-proxy) integration sends instead of the client's: the request
/// template's output (or the client's body passed through) and its `Content-Type`.
#[derive(Debug, Clone, Copy)]
pub struct MappedBody<'b> {
    /// The body.
    pub bytes: &'b [u8],
    /// Its content type, if any.
    pub content_type: Option<&'b [u8]>,
    /// What the request template set as `$context.requestOverride.header.NAME` and
    /// `.querystring.NAME`: they replace the mapped header or parameter of that name.
    pub overrides: &'b [tollgate_vtl::Override],
}

/// Whether the request template overrides `section` (`header` or `querystring`) `name`.
fn overridden(mapped: Option<MappedBody<'_>>, section: &str, name: &str) -> bool {
    override_pairs(mapped, section).any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// The overrides of a `section`, as (name, value).
fn override_pairs<'b>(
    mapped: Option<MappedBody<'b>>,
    section: &'b str,
) -> impl Iterator<Item = (&'b str, &'b str)> + 'b {
    mapped
        .map_or(&[][..], |m| m.overrides)
        .iter()
        .filter_map(move |o| {
            let rest = o.name.strip_prefix("requestOverride.")?;
            let name = rest.strip_prefix(section)?.strip_prefix('.')?;
            (!name.is_empty()).then_some((name, o.value.as_str()))
        })
}

/// Forwards `req` to the backend (with `mapped` as its body for an HTTP non-proxy
/// integration); on success the answer is in `scratch`.
#[allow(clippy::too_many_arguments)]
pub async fn forward(
    pool: &RefCell<UpstreamPool>,
    resolver: &RefCell<super::resolve::Resolver>,
    p: &HttpProxyIntegration,
    req: &Request<'_>,
    caps: &Captures<'_>,
    who: Who<'_>,
    mapped: Option<MappedBody<'_>>,
    scratch: &mut ProxyScratch,
) -> Result<(), ProxyError> {
    build_request(p, req, caps, who, mapped, &mut scratch.req);
    let method = p.method.as_deref().unwrap_or(req.method);
    let head_request = method == "HEAD";
    let retry = is_idempotent(method);
    let ex = exchange(pool, resolver, p, head_request, retry, scratch);
    match monoio::time::timeout(p.timeout, ex).await {
        Ok(r) => r,
        Err(_) => Err(ProxyError::Timeout),
    }
}

async fn exchange(
    pool: &RefCell<UpstreamPool>,
    resolver: &RefCell<super::resolve::Resolver>,
    p: &HttpProxyIntegration,
    head_request: bool,
    idempotent: bool,
    scratch: &mut ProxyScratch,
) -> Result<(), ProxyError> {
    // One retry, only when a reused connection turns out to have been closed by the backend
    // before it said anything (the usual keep-alive race), and only for an idempotent request:
    // the backend may have received and acted on it before closing.
    for attempt in 0..2 {
        let pooled = if attempt == 0 {
            pool.borrow_mut().take(&p.pool_key, Instant::now())
        } else {
            None
        };
        let reused = pooled.is_some();
        let mut stream = match pooled {
            Some(s) => s,
            None => connect(pool, resolver, p).await?,
        };
        // `send` leaves the request as it was, so it is still there for a retry.
        if stream.send(&mut scratch.req).await.is_err() {
            // A failed write may still have delivered part of the request: only an
            // idempotent one is sent again.
            if reused && idempotent {
                continue;
            }
            return Err(ProxyError::BadResponse);
        }
        match read_answer(&mut stream, head_request, scratch).await {
            Ok(reusable) => {
                if reusable {
                    pool.borrow_mut().put(&p.pool_key, stream, Instant::now());
                }
                return Ok(());
            }
            Err(ReadFail::Silent) if reused && idempotent => continue,
            Err(_) => return Err(ProxyError::BadResponse),
        }
    }
    Err(ProxyError::BadResponse)
}

/// A new connection to the backend (a TLS handshake for `https://`). The pool is not
/// borrowed across the awaits: the worker's other requests use it meanwhile.
async fn connect(
    pool: &RefCell<UpstreamPool>,
    resolver: &RefCell<super::resolve::Resolver>,
    p: &HttpProxyIntegration,
) -> Result<Backend, ProxyError> {
    let addr = super::resolve::resolve(resolver, &p.authority)
        .await
        .map_err(|_| ProxyError::Resolve)?;
    let Some(tls) = &p.tls else {
        return Backend::connect(addr, None, None)
            .await
            .map_err(|_| ProxyError::Connect);
    };
    // The configuration is cloned out (an `Arc`) so that no borrow is held while connecting.
    let clients = pool.borrow().tls.clone();
    match Backend::connect(addr, Some(tls), clients.as_ref()).await {
        Ok(b) => Ok(b),
        Err(ConnectError::Tcp) => Err(ProxyError::Connect),
        Err(ConnectError::Tls(why)) => {
            tracing::debug!(backend = %p.authority, %why, "backend TLS handshake failed");
            Err(ProxyError::Tls)
        }
    }
}

enum ReadFail {
    /// The backend closed or failed before sending a byte.
    Silent,
    /// The backend broke off or sent something invalid.
    Broken,
}
use ReadFail::{Broken, Silent};

/// Reads one answer; `Ok(true)` when the connection can carry another request.
async fn read_answer(
    stream: &mut Backend,
    head_request: bool,
    s: &mut ProxyScratch,
) -> Result<bool, ReadFail> {
    s.resp.clear();
    s.chunked_body.clear();
    s.body = BodyAt::Empty;
    let mut any = false;
    loop {
        if !s.resp.is_empty() || any {
            match parse_response_head(&s.resp, head_request, &mut s.head) {
                Ok(true) if (100..200).contains(&s.head.status) => {
                    // Interim answer: drop it and wait for the real one.
                    let n = s.head.head_len;
                    s.resp.drain(..n);
                    continue;
                }
                Ok(true) => break,
                Ok(false) => {}
                Err(_) => return Err(Broken),
            }
        }
        match stream.recv(&mut s.resp).await {
            Ok(0) | Err(_) if !any => return Err(Silent),
            Ok(0) | Err(_) => return Err(Broken),
            Ok(_) => any = true,
        }
    }
    let start = s.head.head_len;
    match s.head.body {
        BodyKind::None => Ok(s.head.keep_alive && s.resp.len() == start),
        BodyKind::Length(n) => {
            if n > MAX_BODY_BYTES {
                return Err(Broken);
            }
            while s.resp.len() < start + n {
                match stream.recv(&mut s.resp).await {
                    Ok(0) | Err(_) => return Err(Broken),
                    Ok(_) => {}
                }
            }
            s.body = BodyAt::Resp(start..start + n);
            Ok(s.head.keep_alive && s.resp.len() == start + n)
        }
        BodyKind::Chunked => {
            let mut dec = ChunkedDecoder::default();
            let mut pos = start;
            loop {
                let (used, done) = dec
                    .decode(&s.resp[pos..], &mut s.chunked_body, MAX_BODY_BYTES)
                    .map_err(|_| Broken)?;
                pos += used;
                if done {
                    break;
                }
                match stream.recv(&mut s.resp).await {
                    Ok(0) | Err(_) => return Err(Broken),
                    Ok(_) => {}
                }
            }
            s.body = BodyAt::Chunked;
            Ok(s.head.keep_alive && s.resp.len() == pos)
        }
        BodyKind::UntilClose => {
            loop {
                if s.resp.len() - start > MAX_BODY_BYTES {
                    return Err(Broken);
                }
                match stream.recv(&mut s.resp).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(_) => return Err(Broken),
                }
            }
            s.body = BodyAt::Resp(start..s.resp.len());
            Ok(false)
        }
    }
}

/// Writes the backend request: method, path with parameters substituted, the URI's own
/// query, then the client's query (HTTP_PROXY) and the mapped query parameters, the client's
/// end-to-end headers (HTTP_PROXY only: a non-proxy integration sends only what is mapped),
/// mapped headers, `X-Forwarded-For`, the body (the client's, or the `mapped` one of an HTTP
/// non-proxy integration). Every backend request is built here.
pub fn build_request(
    p: &HttpProxyIntegration,
    req: &Request<'_>,
    caps: &Captures<'_>,
    who: Who<'_>,
    mapped: Option<MappedBody<'_>>,
    out: &mut Vec<u8>,
) {
    out.clear();
    let method = p.method.as_deref().unwrap_or(req.method);
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    for piece in &p.path {
        match piece {
            UriPiece::Lit(s) => out.extend_from_slice(s.as_bytes()),
            UriPiece::Param(name) => {
                if let Some(v) = caps.get(req.path, name) {
                    out.extend_from_slice(v.as_bytes());
                }
            }
            UriPiece::Value(source) => {
                let mut first = true;
                each_value(source, req, caps, who, |v| {
                    if std::mem::take(&mut first) {
                        push_encoded(out, v, b"-._~%!$'()*+,;=:@");
                    }
                });
            }
        }
    }
    let client_query = if p.forward_client { req.query } else { "" };
    let mut sep = b'?';
    for part in [&*p.base_query, client_query] {
        if !part.is_empty() {
            out.push(sep);
            out.extend_from_slice(part.as_bytes());
            sep = b'&';
        }
    }
    for (name, source) in &p.query {
        if overridden(mapped, "querystring", name) {
            continue;
        }
        each_value(source, req, caps, who, |v| {
            out.push(sep);
            sep = b'&';
            push_encoded(out, name.as_bytes(), QUERY_SAFE);
            out.push(b'=');
            push_encoded(out, v, QUERY_SAFE);
        });
    }
    for (name, v) in override_pairs(mapped, "querystring") {
        out.push(sep);
        sep = b'&';
        push_encoded(out, name.as_bytes(), QUERY_SAFE);
        out.push(b'=');
        push_encoded(out, v.as_bytes(), QUERY_SAFE);
    }
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(p.host_header.as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut forwarded_for: Option<&[u8]> = None;
    for (name, value) in req.headers() {
        if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            forwarded_for = Some(value);
            continue;
        }
        if !p.forward_client
            || is_hop_by_hop(name)
            || who.replaces(name)
            || name.eq_ignore_ascii_case(b"host")
            || name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"expect")
            || p.headers
                .iter()
                .any(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        {
            continue;
        }
        push_header(out, name, value);
    }
    for (name, source) in &p.headers {
        if overridden(mapped, "header", name) || who.replaces(name.as_bytes()) {
            continue;
        }
        // Several values (a multi-value source) go on one line, joined with `,`. A value that
        // is not a valid header value (an authorizer's or a context value is text from
        // elsewhere) is not sent.
        let mut first = true;
        each_value(source, req, caps, who, |v| {
            if !std::str::from_utf8(v).is_ok_and(crate::text_rules::is_header_value) {
                return;
            }
            if std::mem::take(&mut first) {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
            } else {
                out.push(b',');
            }
            out.extend_from_slice(v);
        });
        if !first {
            out.extend_from_slice(b"\r\n");
        }
    }
    // A header override that is not a valid header, or names one the gateway frames the
    // request with, is not sent.
    for (name, v) in override_pairs(mapped, "header") {
        if crate::text_rules::is_header_name(name)
            && crate::text_rules::is_header_value(v)
            && !super::gateway_response::is_framing_header(name)
            && !name.eq_ignore_ascii_case("host")
            && !name.eq_ignore_ascii_case("x-forwarded-for")
            && !who.replaces(name.as_bytes())
        {
            push_header(out, name.as_bytes(), v.as_bytes());
        }
    }
    if let Some(ct) = mapped.and_then(|m| m.content_type) {
        if !p
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            && !overridden(mapped, "header", "content-type")
        {
            push_header(out, b"Content-Type", ct);
        }
    }
    if let Some(t) = who.trace {
        for (name, value) in t.headers() {
            push_header(out, name, value);
        }
    }
    if let Some(root) = who.amzn_root {
        push_header(out, b"X-Amzn-Trace-Id", root);
    } else if who.trace.is_none() && !p.forward_client {
        // An HTTP (non-proxy) integration forwards no client header: the caller's trace id
        // is sent as AWS sends it.
        if let Some(v) = req.header(b"x-amzn-trace-id") {
            push_header(out, b"X-Amzn-Trace-Id", v);
        }
    }
    if let Some(api) = who.api_id {
        push_header(out, b"X-Amzn-Apigateway-Api-Id", api.as_bytes());
    }
    out.extend_from_slice(b"X-Forwarded-For: ");
    if let Some(prev) = forwarded_for {
        out.extend_from_slice(prev);
        out.extend_from_slice(b", ");
    }
    let mut ip = [0u8; 64];
    out.extend_from_slice(format_ip(req.peer, &mut ip));
    out.extend_from_slice(b"\r\n");
    let body = mapped.map_or(req.body, |m| m.bytes);
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        super::http1::write_content_length(out, body.len());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Calls `f` with each value a request parameter mapping gives (none when the request has
/// none; every value of a multi-value source, in order).
fn each_value<'a>(
    source: &'a ValueSource,
    req: &Request<'a>,
    caps: &Captures<'_>,
    who: Who<'a>,
    mut f: impl FnMut(&[u8]),
) {
    let one = match source {
        ValueSource::Literal(v) => Some(v.as_bytes()),
        ValueSource::Path(n) => caps.get(req.path, n).map(str::as_bytes),
        ValueSource::Query(n) => req.query_param(n),
        ValueSource::Header(n) => req.header(n.as_bytes()),
        ValueSource::Identity(field) => who.identity.map(|i| field.of(i).as_bytes()),
        ValueSource::Authorizer(n) => who.authorizer.and_then(|a| a.get(n)).map(str::as_bytes),
        ValueSource::Context(n) => who.context.and_then(|d| d.context(n)).map(str::as_bytes),
        ValueSource::MultiQuery(n) => {
            for pair in req.query.split('&') {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                if k == &**n {
                    f(v.as_bytes());
                }
            }
            None
        }
        ValueSource::MultiHeader(n) => {
            for (k, v) in req.headers() {
                if k.eq_ignore_ascii_case(n.as_bytes()) {
                    f(v);
                }
            }
            None
        }
    };
    if let Some(v) = one {
        f(v);
    }
}

/// What a query string parameter keeps as it is (a value already percent-encoded, as a
/// client's query parameter is, stays as it is).
const QUERY_SAFE: &[u8] = b"-._~%!$'()*+,;:@/?";

/// Appends `v`, percent-encoding every byte that is not alphanumeric or in `safe` (what would
/// end or split the part it goes into).
fn push_encoded(out: &mut Vec<u8>, v: &[u8], safe: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in v {
        if b.is_ascii_alphanumeric() || safe.contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn format_ip(ip: std::net::IpAddr, buf: &mut [u8; 64]) -> &[u8] {
    use std::io::Write;
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cur, "{ip}");
    let n = cur.position() as usize;
    &buf[..n]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::http1::{parse_request_head, RequestHead};
    use std::time::Duration;

    #[test]
    fn idle_connections_expire() {
        let mut pool = UpstreamPool::<u32>::default();
        let t0 = Instant::now();
        pool.put("b:1", 1, t0);
        pool.put("b:1", 2, t0 + Duration::from_secs(3));
        // The newest is handed out first, while fresh.
        assert_eq!(pool.take("b:1", t0 + Duration::from_secs(5)), Some(2));
        // The older one has expired by now: not handed out, dropped.
        assert_eq!(pool.take("b:1", t0 + Duration::from_secs(5)), None);
        assert!(pool.idle["b:1"].is_empty());
        // Putting back drops expired ones at the old end.
        pool.put("b:1", 3, t0);
        pool.put("b:1", 4, t0 + IDLE_TTL * 2);
        assert_eq!(pool.idle["b:1"].len(), 1);
        assert_eq!(
            pool.take("b:1", t0 + IDLE_TTL * 2 + Duration::from_secs(1)),
            Some(4)
        );
    }

    #[test]
    fn only_idempotent_methods_are_retried() {
        for m in ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"] {
            assert!(is_idempotent(m), "{m}");
        }
        for m in ["POST", "PATCH", "CONNECT"] {
            assert!(!is_idempotent(m), "{m}");
        }
    }

    /// Every request parameter source into every target, as an HTTP (non-proxy) integration
    /// compiles and sends it (only what is mapped reaches the backend).
    #[test]
    fn request_parameter_mapping_matrix() {
        use tollgate_proto::model::{Integration, IntegrationType, Stage};
        let raw = b"GET /pets/42?x=1&m=a&m=b%20c HTTP/1.1\r\nHost: gw\r\nX-In: in\r\nX-M: 1\r\nX-M: 2\r\n\r\n";
        let mut head = RequestHead::default();
        assert!(parse_request_head(raw, &mut head).unwrap());
        let req = Request {
            buf: raw,
            head: &head,
            method: "GET",
            path: "/pets/42",
            query: "x=1&m=a&m=b%20c",
            body: b"",
            peer: "127.0.0.1".parse().unwrap(),
            tls: None,
        };
        let mut caps = Captures::default();
        assert!(caps.push_for_test("id", 6, 8));
        let data = crate::dataplane::mapping::TemplateData {
            context: vec![
                ("requestId".into(), "r-1".into()),
                ("stage".into(), "dev".into()),
            ],
            ..Default::default()
        };
        let stage = Stage {
            stage_name: "dev".into(),
            variables: [("v".to_string(), "sv".to_string())].into(),
            ..Default::default()
        };
        let cases: &[(&str, &str, &str)] = &[
            ("header.X-A", "'lit'", "X-A: lit\r\n"),
            ("header.X-A", "stageVariables.v", "X-A: sv\r\n"),
            ("header.X-A", "method.request.path.id", "X-A: 42\r\n"),
            ("header.X-A", "method.request.querystring.x", "X-A: 1\r\n"),
            (
                "header.X-A",
                "method.request.multivaluequerystring.m",
                "X-A: a,b%20c\r\n",
            ),
            ("header.X-A", "method.request.header.X-In", "X-A: in\r\n"),
            (
                "header.X-A",
                "method.request.multivalueheader.X-M",
                "X-A: 1,2\r\n",
            ),
            ("header.X-A", "context.requestId", "X-A: r-1\r\n"),
            ("querystring.q", "'a b&c'", "GET /v/?q=a%20b%26c HTTP"),
            (
                "querystring.q",
                "method.request.querystring.x",
                "GET /v/?q=1 HTTP",
            ),
            (
                "querystring.q",
                "method.request.multivaluequerystring.m",
                "GET /v/?q=a&q=b%20c HTTP",
            ),
            (
                "querystring.q",
                "method.request.header.X-In",
                "GET /v/?q=in HTTP",
            ),
            ("querystring.q", "context.stage", "GET /v/?q=dev HTTP"),
            ("path.p", "method.request.path.id", "GET /v/42 HTTP"),
            ("path.p", "method.request.querystring.x", "GET /v/1 HTTP"),
            ("path.p", "'a/b c'", "GET /v/a%2Fb%20c HTTP"),
            ("path.p", "method.request.header.X-In", "GET /v/in HTTP"),
            (
                "path.p",
                "method.request.multivalueheader.X-M",
                "GET /v/1 HTTP",
            ),
        ];
        for (target, source, want) in cases {
            let i = Integration {
                kind: IntegrationType::Http,
                http_method: Some("GET".into()),
                uri: Some("http://b/v/{p}".into()),
                request_parameters: [(format!("integration.request.{target}"), source.to_string())]
                    .into(),
                ..Default::default()
            };
            let p = crate::dataplane::routing::compile_http_proxy(&i, &stage).unwrap();
            let who = Who {
                context: Some(&data),
                ..Who::default()
            };
            let mut out = Vec::new();
            build_request(&p, &req, &caps, who, None, &mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains(want), "{target} = {source}: {text}");
            // Nothing of the client's request but what is mapped.
            assert!(!text.contains("x=1&") && !text.contains("X-In:"), "{text}");
        }
        // A request template's overrides replace mapped headers and query parameters; one
        // that would frame the request is not sent.
        let i = Integration {
            kind: IntegrationType::Http,
            http_method: Some("POST".into()),
            uri: Some("http://b/v".into()),
            request_parameters: [
                (
                    "integration.request.header.X-A".to_string(),
                    "'mapped'".to_string(),
                ),
                (
                    "integration.request.querystring.q".to_string(),
                    "'mapped'".to_string(),
                ),
            ]
            .into(),
            ..Default::default()
        };
        let p = crate::dataplane::routing::compile_http_proxy(&i, &stage).unwrap();
        let o = |name: &str, value: &str| tollgate_vtl::Override {
            name: name.into(),
            value: value.into(),
        };
        let overrides = [
            o("requestOverride.header.X-A", "over"),
            o("requestOverride.header.Content-Length", "0"),
            o("requestOverride.header.X-Bad", "a\r\nb"),
            o("requestOverride.querystring.q", "o v"),
            o("requestOverride.querystring.r", "2"),
        ];
        let mapped = MappedBody {
            bytes: b"{}",
            content_type: Some(b"application/json"),
            overrides: &overrides,
        };
        let mut out = Vec::new();
        build_request(&p, &req, &caps, Who::default(), Some(mapped), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("POST /v?q=o%20v&r=2 HTTP/1.1\r\n"),
            "{text}"
        );
        assert!(
            text.contains("X-A: over\r\n") && !text.contains("mapped"),
            "{text}"
        );
        assert!(
            !text.contains("X-Bad") && !text.contains("Content-Length: 0"),
            "{text}"
        );
        assert!(
            text.ends_with("Content-Type: application/json\r\nX-Forwarded-For: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"),
            "{text}"
        );

        // A source this gateway does not apply makes the method unservable.
        let i = Integration {
            kind: IntegrationType::Http,
            http_method: Some("GET".into()),
            uri: Some("http://b/v".into()),
            request_parameters: [(
                "integration.request.header.X".to_string(),
                "method.request.body".to_string(),
            )]
            .into(),
            ..Default::default()
        };
        assert!(crate::dataplane::routing::compile_http_proxy(&i, &stage).is_err());
    }

    /// On a traced stage the backend gets the gateway's context in both forms, and the
    /// caller's trace headers (and a mapping that would set them) are not sent as well.
    #[test]
    fn a_traced_request_carries_the_gateways_context() {
        let raw = b"GET /p HTTP/1.1\r\nHost: gw\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793\r\n\r\n";
        let mut head = RequestHead::default();
        assert!(parse_request_head(raw, &mut head).unwrap());
        let req = Request {
            buf: raw,
            head: &head,
            method: "GET",
            path: "/p",
            query: "",
            body: b"",
            peer: "127.0.0.1".parse().unwrap(),
            tls: None,
        };
        let p = HttpProxyIntegration {
            method: None,
            authority: "127.0.0.1:9".into(),
            host_header: "backend".into(),
            path: vec![UriPiece::Lit("/p".into())],
            base_query: "".into(),
            timeout: Duration::from_secs(1),
            headers: vec![("traceparent".into(), ValueSource::Literal("x".into()))],
            query: Vec::new(),
            forward_client: true,
            needs_context: false,
            tls: None,
            pool_key: "127.0.0.1:9".into(),
        };
        let tp = |v: &str| crate::dataplane::trace::parse_traceparent(v.as_bytes());
        let caller = tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let (ctx, _) = crate::dataplane::trace::start(
            req.header(b"traceparent"),
            None,
            0,
            &mut crate::dataplane::respond::ResponseContext::new(),
        );
        let prop = crate::dataplane::trace::Propagate::of(&ctx);
        let mut out = Vec::new();
        let who = Who {
            trace: Some(&prop),
            ..Who::default()
        };
        build_request(&p, &req, &Captures::default(), who, None, &mut out);
        let text = String::from_utf8(out).unwrap();
        let sent: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("traceparent: "))
            .collect();
        assert_eq!(sent.len(), 1, "{text}");
        let (trace, parent, sampled) = tp(sent[0]).unwrap();
        // The same trace, the gateway's client span as the parent.
        assert_eq!(trace, caller.0);
        assert_eq!(parent, ctx.client_span_id);
        assert_ne!(parent, caller.1);
        assert!(sampled);
        let amzn: Vec<&str> = text
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("x-amzn-trace-id:"))
            .collect();
        assert_eq!(amzn.len(), 1, "{text}");
        assert!(amzn[0].contains("Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent="));
        // Untraced: the mapping applies and the caller's other header passes as it came.
        let mut out = Vec::new();
        build_request(
            &p,
            &req,
            &Captures::default(),
            Who::default(),
            None,
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("traceparent: x\r\n"), "{text}");
        // Every stage: the API's id, and an X-Ray id that replaces an invalid caller's one.
        let who = Who {
            amzn_root: Some(b"Root=1-00000001-000000000000000000000001"),
            api_id: Some("a1b2c3"),
            ..Who::default()
        };
        let mut out = Vec::new();
        build_request(&p, &req, &Captures::default(), who, None, &mut out);
        let every = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = every
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("x-amzn-"))
            .collect();
        assert_eq!(
            lines,
            [
                "X-Amzn-Trace-Id: Root=1-00000001-000000000000000000000001",
                "X-Amzn-Apigateway-Api-Id: a1b2c3"
            ],
            "{every}"
        );
        assert!(text.contains("X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793\r\n"));
    }

    #[test]
    fn backend_request_is_built_as_documented() {
        let raw = b"POST /restapis/a/s/_user_request_/pets/42?x=1 HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive\r\nX-Forwarded-For: 10.0.0.1\r\nContent-Length: 2\r\nX-Custom: yes\r\n\r\nhi";
        let mut head = RequestHead::default();
        assert!(parse_request_head(raw, &mut head).unwrap());
        let req = Request {
            buf: raw,
            head: &head,
            method: "POST",
            path: "/pets/42",
            query: "x=1",
            body: b"hi",
            peer: "127.0.0.1".parse().unwrap(),
            tls: None,
        };
        let mut caps = Captures::default();
        assert!(caps.push_for_test("petId", 6, 8));
        let p = HttpProxyIntegration {
            method: None,
            authority: "127.0.0.1:9".into(),
            host_header: "backend".into(),
            path: vec![
                UriPiece::Lit("/v1/".into()),
                UriPiece::Param("petId".into()),
            ],
            base_query: "k=v".into(),
            timeout: Duration::from_secs(1),
            headers: vec![("X-Stage".into(), ValueSource::Literal("dev".into()))],
            query: Vec::new(),
            forward_client: true,
            needs_context: false,
            tls: None,
            pool_key: "127.0.0.1:9".into(),
        };
        let mut out = Vec::new();
        build_request(&p, &req, &caps, Who::default(), None, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("POST /v1/42?k=v&x=1 HTTP/1.1\r\nHost: backend\r\n"),
            "{text}"
        );
        assert!(text.contains("X-Custom: yes\r\n"));
        assert!(!text.contains("Connection"));
        assert!(text.contains("X-Stage: dev\r\n"));
        assert!(text.contains("X-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n"));
        assert!(text.ends_with("Content-Length: 2\r\n\r\nhi"), "{text}");

        // `context.authorizer.*`: principalId and context keys; a value that is not a header
        // value (a line break) and a key the answer lacks send nothing.
        let answer = crate::dataplane::authorizer::answer::parse(
            br#"{"principalId":"u1","policyDocument":{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]},"context":{"tier":"gold","evil":"a\r\nX-Injected: 1"}}"#,
        )
        .unwrap();
        let p = HttpProxyIntegration {
            headers: ["principalId", "tier", "evil", "missing"]
                .iter()
                .map(|k| {
                    (
                        format!("X-A-{k}").into(),
                        ValueSource::Authorizer((*k).into()),
                    )
                })
                .collect(),
            ..p
        };
        let mut out = Vec::new();
        let who = Who {
            identity: None,
            authorizer: Some(&answer),
            context: None,
            trace: None,
            amzn_root: None,
            api_id: None,
        };
        build_request(&p, &req, &caps, who, None, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("X-A-principalId: u1\r\n"), "{text}");
        assert!(text.contains("X-A-tier: gold\r\n"), "{text}");
        assert!(
            !text.contains("X-A-evil") && !text.contains("X-Injected"),
            "{text}"
        );
        assert!(!text.contains("X-A-missing"), "{text}");
    }
}
