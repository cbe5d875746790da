//! HTTP_PROXY: forwarding a request to an HTTP backend over a per-worker keep-alive pool.

use super::http1::{
    is_hop_by_hop, parse_response_head, BodyKind, ChunkedDecoder, ResponseHead, MAX_BODY_BYTES,
};
use super::io::read_more;
use super::matcher::Captures;
use super::request::Request;
use super::routing::{HttpProxyIntegration, UriPiece, ValueSource};
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;

/// Idle connections kept per backend address.
pub const MAX_IDLE_PER_BACKEND: usize = 64;

/// A worker's idle backend connections, by `host:port`.
#[derive(Default)]
pub struct UpstreamPool {
    idle: HashMap<Box<str>, Vec<TcpStream>>,
}

impl UpstreamPool {
    fn take(&mut self, authority: &str) -> Option<TcpStream> {
        self.idle.get_mut(authority)?.pop()
    }

    fn put(&mut self, authority: &str, s: TcpStream) {
        let list = match self.idle.get_mut(authority) {
            Some(l) => l,
            None => self.idle.entry(authority.into()).or_default(),
        };
        if list.len() < MAX_IDLE_PER_BACKEND {
            list.push(s);
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

impl ProxyScratch {
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
    /// No connection could be made.
    Connect,
    /// The integration timeout passed.
    Timeout,
    /// The backend broke the exchange or answered something unparsable.
    BadResponse,
}

/// Forwards `req` to the backend; on success the answer is in `scratch`.
pub async fn forward(
    pool: &RefCell<UpstreamPool>,
    p: &HttpProxyIntegration,
    req: &Request<'_>,
    caps: &Captures<'_>,
    scratch: &mut ProxyScratch,
) -> Result<(), ProxyError> {
    build_request(p, req, caps, &mut scratch.req);
    let head_request = p.method.as_deref().unwrap_or(req.method) == "HEAD";
    match monoio::time::timeout(p.timeout, exchange(pool, p, head_request, scratch)).await {
        Ok(r) => r,
        Err(_) => Err(ProxyError::Timeout),
    }
}

async fn exchange(
    pool: &RefCell<UpstreamPool>,
    p: &HttpProxyIntegration,
    head_request: bool,
    scratch: &mut ProxyScratch,
) -> Result<(), ProxyError> {
    // One retry, only when a reused connection turns out to have been closed by the backend
    // before it said anything (the usual keep-alive race).
    for attempt in 0..2 {
        let pooled = if attempt == 0 {
            pool.borrow_mut().take(&p.authority)
        } else {
            None
        };
        let reused = pooled.is_some();
        let mut stream = match pooled {
            Some(s) => s,
            None => {
                let s = TcpStream::connect(&*p.authority)
                    .await
                    .map_err(|_| ProxyError::Connect)?;
                let _ = s.set_nodelay(true);
                s
            }
        };
        // write_all hands the buffer back unchanged, so it is still there for a retry.
        let (wrote, buf) = stream.write_all(std::mem::take(&mut scratch.req)).await;
        scratch.req = buf;
        if wrote.is_err() {
            if reused {
                continue;
            }
            return Err(ProxyError::BadResponse);
        }
        match read_answer(&mut stream, head_request, scratch).await {
            Ok(reusable) => {
                if reusable {
                    pool.borrow_mut().put(&p.authority, stream);
                }
                return Ok(());
            }
            Err(ReadFail::Silent) if reused => continue,
            Err(_) => return Err(ProxyError::BadResponse),
        }
    }
    Err(ProxyError::BadResponse)
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
    stream: &mut TcpStream,
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
        match read_more(stream, &mut s.resp).await {
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
                match read_more(stream, &mut s.resp).await {
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
                match read_more(stream, &mut s.resp).await {
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
                match read_more(stream, &mut s.resp).await {
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

/// Writes the backend request: method, path with parameters substituted, the client's query
/// after the URI's own, end-to-end headers, mapped headers, `X-Forwarded-For`, the body.
pub fn build_request(
    p: &HttpProxyIntegration,
    req: &Request<'_>,
    caps: &Captures<'_>,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(p.method.as_deref().unwrap_or(req.method).as_bytes());
    out.push(b' ');
    for piece in &p.path {
        match piece {
            UriPiece::Lit(s) => out.extend_from_slice(s.as_bytes()),
            UriPiece::Param(name) => {
                if let Some(v) = caps.get(req.path, name) {
                    out.extend_from_slice(v.as_bytes());
                }
            }
        }
    }
    if !p.base_query.is_empty() || !req.query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(p.base_query.as_bytes());
        if !p.base_query.is_empty() && !req.query.is_empty() {
            out.push(b'&');
        }
        out.extend_from_slice(req.query.as_bytes());
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
        if is_hop_by_hop(name)
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
        let value: Option<&[u8]> = match source {
            ValueSource::Literal(v) => Some(v.as_bytes()),
            ValueSource::Path(n) => caps.get(req.path, n).map(str::as_bytes),
            ValueSource::Query(n) => req.query_param(n),
            ValueSource::Header(n) => req.header(n.as_bytes()),
        };
        if let Some(v) = value {
            push_header(out, name.as_bytes(), v);
        }
    }
    out.extend_from_slice(b"X-Forwarded-For: ");
    if let Some(prev) = forwarded_for {
        out.extend_from_slice(prev);
        out.extend_from_slice(b", ");
    }
    let mut ip = [0u8; 64];
    out.extend_from_slice(format_ip(req.peer, &mut ip));
    out.extend_from_slice(b"\r\n");
    if !req.body.is_empty() || matches!(req.method, "POST" | "PUT" | "PATCH") {
        super::http1::write_content_length(out, req.body.len());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(req.body);
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
        };
        let mut out = Vec::new();
        build_request(&p, &req, &caps, &mut out);
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
    }
}
