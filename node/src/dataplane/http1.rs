//! Strict HTTP/1.1 message parsing and writing, free of I/O.
//!
//! The request parser takes the bytes received so far and either asks for more, or returns the
//! request head as spans into those bytes (no copies), or refuses the request with the status
//! the client should get. Everything that could let two parsers disagree about where a message
//! ends (request smuggling) is refused: both `Content-Length` and `Transfer-Encoding`, repeated
//! or malformed lengths, transfer codings other than `chunked`, obs-fold and bare LF.

use std::ops::Range;

/// Largest request head (request line and headers) accepted.
pub const MAX_HEADER_BYTES: usize = 10 * 1024;
/// Largest request body accepted (AWS's payload limit).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Most header fields in one request.
pub const MAX_HEADERS: usize = 100;

/// Why a message was refused: the status to answer with and a short reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    /// Status code for the answer (400, 413, 417, 431, 501, 505).
    pub status: u16,
    /// A short, fixed description (goes into the JSON body).
    pub message: &'static str,
}

const fn err(status: u16, message: &'static str) -> HttpError {
    HttpError { status, message }
}

/// How the body of a message is framed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    #[default]
    None,
    /// Exactly this many bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the peer closes (responses only).
    UntilClose,
}

/// A byte range into the buffer the head was parsed from.
pub type Span = Range<usize>;

/// A parsed request head, as spans into the receive buffer. Reused between requests so the
/// header list keeps its allocation.
#[derive(Debug, Default)]
pub struct RequestHead {
    /// The method token.
    pub method: Span,
    /// The path part of the target (before any `?`).
    pub path: Span,
    /// The query part (after `?`), empty when none.
    pub query: Span,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Header names and values.
    pub headers: Vec<(Span, Span)>,
    /// The `Host` header value, if present.
    pub host: Option<Span>,
    /// How the body is framed.
    pub body: BodyKind,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// Whether the client waits for `100 Continue` before sending the body.
    pub expect_continue: bool,
    /// Length of the head in bytes (where the body starts).
    pub head_len: usize,
}

fn offset(buf: &[u8], part: &[u8]) -> Span {
    let start = part.as_ptr() as usize - buf.as_ptr() as usize;
    start..start + part.len()
}

/// Parses a request head from the start of `buf`. `Ok(false)`: incomplete, read more.
/// `Ok(true)`: `head` is filled in. `Err`: refuse the request and close the connection.
pub fn parse_request_head(buf: &[u8], head: &mut RequestHead) -> Result<bool, HttpError> {
    // Left uninitialised: zeroing 100 header slots per request costs more than parsing them.
    let mut raw = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut raw) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_HEADER_BYTES {
                return Err(err(431, "Request Header Fields Too Large"));
            }
            return Ok(false);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(err(431, "Request Header Fields Too Large"))
        }
        Err(httparse::Error::Version) => return Err(err(505, "HTTP Version Not Supported")),
        Err(_) => return Err(err(400, "Bad Request")),
    };
    if len > MAX_HEADER_BYTES {
        return Err(err(431, "Request Header Fields Too Large"));
    }
    // httparse accepts bare LF as a line ending; another parser in the path may not, so a
    // message framed by one is refused.
    if has_bare_lf(&buf[..len]) {
        return Err(err(400, "Bad Request"));
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(err(400, "Bad Request"));
    };
    if !target.starts_with('/') {
        return Err(err(400, "Bad Request"));
    }
    head.method = offset(buf, method.as_bytes());
    let target = offset(buf, target.as_bytes());
    match buf[target.clone()].iter().position(|&b| b == b'?') {
        Some(q) => {
            head.path = target.start..target.start + q;
            head.query = target.start + q + 1..target.end;
        }
        None => {
            head.path = target.clone();
            head.query = target.end..target.end;
        }
    }
    head.minor_version = minor;
    head.headers.clear();
    head.host = None;
    head.expect_continue = false;
    head.head_len = len;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut saw_te = false;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    for h in req.headers.iter() {
        let name = offset(buf, h.name.as_bytes());
        let value = offset(buf, h.value);
        let n = h.name.as_bytes();
        if n.eq_ignore_ascii_case(b"content-length") {
            let v = parse_content_length(h.value)?;
            if content_length.is_some_and(|prev| prev != v) {
                return Err(err(400, "Bad Request"));
            }
            content_length = Some(v);
        } else if n.eq_ignore_ascii_case(b"transfer-encoding") {
            if saw_te {
                return Err(err(400, "Bad Request"));
            }
            saw_te = true;
            let v = trim(h.value);
            if v.eq_ignore_ascii_case(b"chunked") {
                chunked = true;
            } else if v.is_empty() || v.contains(&b',') {
                return Err(err(400, "Bad Request"));
            } else {
                return Err(err(501, "Not Implemented"));
            }
        } else if n.eq_ignore_ascii_case(b"host") {
            if head.host.is_some() {
                return Err(err(400, "Bad Request"));
            }
            head.host = Some(value.clone());
        } else if n.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|&b| b == b',') {
                let t = trim(token);
                if t.eq_ignore_ascii_case(b"close") {
                    conn_close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") {
                    conn_keep_alive = true;
                }
            }
        } else if n.eq_ignore_ascii_case(b"expect") {
            if trim(h.value).eq_ignore_ascii_case(b"100-continue") {
                head.expect_continue = minor >= 1;
            } else {
                return Err(err(417, "Expectation Failed"));
            }
        }
        head.headers.push((name, value));
    }
    if minor >= 1 && head.host.is_none() {
        return Err(err(400, "Bad Request"));
    }
    head.body = match (content_length, saw_te) {
        (Some(_), true) => return Err(err(400, "Bad Request")),
        (_, true) if minor == 0 => return Err(err(400, "Bad Request")),
        (None, true) => {
            debug_assert!(chunked);
            BodyKind::Chunked
        }
        (Some(n), false) if n > MAX_BODY_BYTES => return Err(err(413, "Request Entity Too Large")),
        (Some(0), false) | (None, false) => BodyKind::None,
        (Some(n), false) => BodyKind::Length(n),
    };
    head.keep_alive = if minor >= 1 {
        !conn_close
    } else {
        conn_keep_alive && !conn_close
    };
    Ok(true)
}

fn has_bare_lf(bytes: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', bytes).any(|i| i == 0 || bytes[i - 1] != b'\r')
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// A `Content-Length` value: 1 to 19 ASCII digits, nothing else.
fn parse_content_length(v: &[u8]) -> Result<usize, HttpError> {
    let v = trim(v);
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(err(400, "Bad Request"));
    }
    let n = v
        .iter()
        .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
    usize::try_from(n).map_err(|_| err(413, "Request Entity Too Large"))
}

/// Incremental decoder of a chunked body.
///
/// Every limit counts bytes as received, framing included: the whole encoded body against
/// the body limit, all chunk extensions together against [`MAX_HEADER_BYTES`] (400), the
/// whole trailer section against [`MAX_HEADER_BYTES`] (431). A peer sending endless
/// extensions or trailer lines is refused after a bounded number of bytes, however little
/// data they decode to.
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: ChunkState,
    /// Bytes of chunk data still to copy in the current chunk.
    remaining: usize,
    /// Encoded bytes consumed so far (data and framing).
    raw: usize,
    /// Bytes of the current size line or trailer line seen (bounded).
    line_len: usize,
    /// Bytes of chunk extensions seen, over all chunks.
    ext_total: usize,
    /// Bytes of the trailer section seen.
    trailer_total: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    SizeExt,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    Trailer,
    TrailerLf,
    FinalLf,
    Done,
}

/// Longest chunk-size line (with extensions) or trailer line accepted.
const MAX_CHUNK_LINE: usize = 4096;

impl ChunkedDecoder {
    /// Feeds `input`, appending decoded data to `out`. Returns how many input bytes were used
    /// and whether the body is complete (bytes after it belong to the next message).
    ///
    /// `max_body` bounds the encoded body (data and framing, as received), so that what a
    /// peer makes us buffer is bounded by what it sends, not by what it decodes to.
    pub fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_body: usize,
    ) -> Result<(usize, bool), HttpError> {
        if self.state == ChunkState::Done {
            return Ok((0, true));
        }
        // Bytes past the limit may belong to the next message, so they are not looked at:
        // the body is refused only if it is still incomplete when the limit is reached.
        let allowed = max_body.saturating_sub(self.raw);
        let window = &input[..input.len().min(allowed)];
        let mut used = 0;
        let result = self.run(window, out, &mut used, max_body);
        self.raw += used;
        match result {
            Ok(true) => Ok((used, true)),
            Ok(false) if self.raw >= max_body && input.len() > used => {
                Err(err(413, "Request Entity Too Large"))
            }
            Ok(false) => Ok((used, false)),
            Err(e) => Err(e),
        }
    }

    /// Runs the state machine over `input`; `used` is how far it got.
    fn run(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        used: &mut usize,
        max_body: usize,
    ) -> Result<bool, HttpError> {
        let bad = err(400, "Bad Request");
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            *used = i + 1;
            match self.state {
                ChunkState::Size => {
                    if let Some(d) = hex_val(b) {
                        self.line_len += 1;
                        if self.line_len > 15 {
                            return Err(bad);
                        }
                        self.remaining = self.remaining.saturating_mul(16).saturating_add(d);
                    } else if self.line_len == 0 {
                        return Err(bad);
                    } else if b == b';' {
                        self.state = ChunkState::SizeExt;
                    } else if b == b'\r' {
                        self.state = ChunkState::SizeLf;
                    } else {
                        return Err(bad);
                    }
                    i += 1;
                }
                ChunkState::SizeExt => {
                    self.line_len += 1;
                    self.ext_total += 1;
                    if self.line_len > MAX_CHUNK_LINE
                        || self.ext_total > MAX_HEADER_BYTES
                        || b == b'\n'
                    {
                        return Err(bad);
                    }
                    if b == b'\r' {
                        self.state = ChunkState::SizeLf;
                    }
                    i += 1;
                }
                ChunkState::SizeLf => {
                    if b != b'\n' {
                        return Err(bad);
                    }
                    i += 1;
                    self.line_len = 0;
                    // A chunk that cannot fit is refused before its data is read.
                    if self.raw.saturating_add(i).saturating_add(self.remaining) > max_body {
                        return Err(err(413, "Request Entity Too Large"));
                    }
                    self.state = if self.remaining == 0 {
                        ChunkState::TrailerStart
                    } else {
                        ChunkState::Data
                    };
                }
                ChunkState::Data => {
                    let n = self.remaining.min(input.len() - i);
                    out.extend_from_slice(&input[i..i + n]);
                    self.remaining -= n;
                    i += n;
                    *used = i;
                    if self.remaining == 0 {
                        self.state = ChunkState::DataCr;
                    }
                }
                ChunkState::DataCr => {
                    if b != b'\r' {
                        return Err(bad);
                    }
                    self.state = ChunkState::DataLf;
                    i += 1;
                }
                ChunkState::DataLf => {
                    if b != b'\n' {
                        return Err(bad);
                    }
                    self.state = ChunkState::Size;
                    i += 1;
                }
                ChunkState::TrailerStart | ChunkState::Trailer | ChunkState::TrailerLf => {
                    self.trailer_total += 1;
                    if self.trailer_total > MAX_HEADER_BYTES {
                        return Err(err(431, "Request Header Fields Too Large"));
                    }
                    i += 1;
                    match self.state {
                        ChunkState::TrailerStart => {
                            if b == b'\r' {
                                self.state = ChunkState::FinalLf;
                            } else if b == b'\n' || b == b' ' || b == b'\t' {
                                return Err(bad);
                            } else {
                                self.line_len = 1;
                                self.state = ChunkState::Trailer;
                            }
                        }
                        ChunkState::Trailer => {
                            self.line_len += 1;
                            if self.line_len > MAX_CHUNK_LINE || b == b'\n' {
                                return Err(bad);
                            }
                            if b == b'\r' {
                                self.state = ChunkState::TrailerLf;
                            }
                        }
                        _ => {
                            if b != b'\n' {
                                return Err(bad);
                            }
                            self.state = ChunkState::TrailerStart;
                        }
                    }
                }
                ChunkState::FinalLf => {
                    if b != b'\n' {
                        return Err(bad);
                    }
                    self.state = ChunkState::Done;
                    return Ok(true);
                }
                ChunkState::Done => {
                    *used = i;
                    return Ok(true);
                }
            }
        }
        *used = i;
        Ok(self.state == ChunkState::Done)
    }
}

fn hex_val(b: u8) -> Option<usize> {
    match b {
        b'0'..=b'9' => Some((b - b'0') as usize),
        b'a'..=b'f' => Some((b - b'a' + 10) as usize),
        b'A'..=b'F' => Some((b - b'A' + 10) as usize),
        _ => None,
    }
}

/// The reason phrase for a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Whether a response with this status to this method carries no body.
pub fn response_has_no_body(status: u16, head_request: bool) -> bool {
    head_request || (100..200).contains(&status) || status == 204 || status == 304
}

/// Appends a status line: `HTTP/1.1 200 OK\r\n`.
pub fn write_status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(num.format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends one header line.
pub fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `Content-Length: n`.
pub fn write_content_length(out: &mut Vec<u8>, n: usize) {
    let mut num = itoa::Buffer::new();
    write_header(out, b"Content-Length", num.format(n).as_bytes());
}

/// Appends `body` in chunked encoding, with the terminating chunk.
pub fn write_chunked_body(out: &mut Vec<u8>, body: &[u8]) {
    if !body.is_empty() {
        out.extend_from_slice(format_hex(body.len()).as_slice());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
}

fn format_hex(mut n: usize) -> smallhex::Hex {
    let mut h = smallhex::Hex::default();
    if n == 0 {
        h.push(b'0');
        return h;
    }
    let mut digits = [0u8; 16];
    let mut k = 0;
    while n > 0 {
        digits[k] = b"0123456789abcdef"[n & 15];
        n >>= 4;
        k += 1;
    }
    for d in digits[..k].iter().rev() {
        h.push(*d);
    }
    h
}

mod smallhex {
    /// Up to 16 hex digits on the stack.
    #[derive(Default)]
    pub struct Hex {
        buf: [u8; 16],
        len: usize,
    }
    impl Hex {
        pub fn push(&mut self, b: u8) {
            if self.len < 16 {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        pub fn as_slice(&self) -> &[u8] {
            &self.buf[..self.len]
        }
    }
}

/// A parsed response head (from an upstream), as spans into the receive buffer.
#[derive(Debug, Default)]
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(Span, Span)>,
    /// How the body is framed.
    pub body: BodyKind,
    /// Whether the upstream keeps the connection open after this response.
    pub keep_alive: bool,
    /// Length of the head in bytes.
    pub head_len: usize,
}

/// Parses a response head from an upstream. `head_request`: the request was HEAD (no body).
pub fn parse_response_head(
    buf: &[u8],
    head_request: bool,
    head: &mut ResponseHead,
) -> Result<bool, HttpError> {
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut raw);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if buf.len() > 64 * 1024 {
                return Err(err(502, "Bad Gateway"));
            }
            return Ok(false);
        }
        Err(_) => return Err(err(502, "Bad Gateway")),
    };
    let (Some(status), Some(minor)) = (resp.code, resp.version) else {
        return Err(err(502, "Bad Gateway"));
    };
    head.status = status;
    head.head_len = len;
    head.headers.clear();
    let mut content_length = None;
    let mut chunked = false;
    let mut close = minor == 0;
    for h in resp.headers.iter() {
        let n = h.name.as_bytes();
        if n.eq_ignore_ascii_case(b"content-length") {
            let v = parse_content_length(h.value).map_err(|_| err(502, "Bad Gateway"))?;
            if content_length.is_some_and(|p| p != v) {
                return Err(err(502, "Bad Gateway"));
            }
            content_length = Some(v);
        } else if n.eq_ignore_ascii_case(b"transfer-encoding") {
            let v = trim(h.value);
            let last = v.rsplit(|&b| b == b',').next().map(trim).unwrap_or(v);
            if !last.eq_ignore_ascii_case(b"chunked") {
                return Err(err(502, "Bad Gateway"));
            }
            chunked = true;
        } else if n.eq_ignore_ascii_case(b"connection") {
            for t in h.value.split(|&b| b == b',') {
                let t = trim(t);
                if t.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") && minor == 0 {
                    close = false;
                }
            }
        }
        head.headers
            .push((offset(buf, h.name.as_bytes()), offset(buf, h.value)));
    }
    head.body = if response_has_no_body(status, head_request) {
        BodyKind::None
    } else if chunked {
        BodyKind::Chunked
    } else if let Some(n) = content_length {
        if n == 0 {
            BodyKind::None
        } else {
            BodyKind::Length(n)
        }
    } else {
        close = true;
        BodyKind::UntilClose
    };
    head.keep_alive = !close;
    Ok(true)
}

/// Whether a header is hop-by-hop (never forwarded by a proxy).
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    const HOP: [&[u8]; 9] = [
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    ];
    HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<RequestHead>, HttpError> {
        let mut h = RequestHead::default();
        Ok(parse_request_head(s.as_bytes(), &mut h)?.then_some(h))
    }

    #[test]
    fn simple_get() {
        let s = "GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
        let h = parse(s).unwrap().unwrap();
        assert_eq!(&s[h.path.clone()], "/a/b");
        assert_eq!(&s[h.query.clone()], "x=1");
        assert_eq!(h.body, BodyKind::None);
        assert!(h.keep_alive);
        assert_eq!(h.head_len, s.len());
    }

    #[test]
    fn partial_then_complete() {
        assert!(parse("GET / HTTP/1.1\r\nHost: h\r\n").unwrap().is_none());
    }

    #[test]
    fn smuggling_and_framing_rules() {
        let cases = [
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -5\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),
            ("GET / HTTP/1.1\nHost: h\n\n", 400),
            ("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("GET http://x/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n", 417),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10485761\r\n\r\n", 413),
            ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        ];
        for (req, status) in cases {
            let got = parse(req).map(|_| ()).unwrap_err();
            assert_eq!(got.status, status, "{req:?}");
        }
    }

    #[test]
    fn header_limits() {
        let big = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
            "a".repeat(11_000)
        );
        assert_eq!(parse(&big).unwrap_err().status, 431);
        // Incomplete but already over the limit.
        let partial = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}", "a".repeat(11_000));
        assert_eq!(parse(&partial).unwrap_err().status, 431);
        let mut many = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
        for i in 0..101 {
            many.push_str(&format!("X{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(parse(&many).unwrap_err().status, 431);
    }

    #[test]
    fn keep_alive_rules() {
        let h = parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let h = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let h = parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        let h = parse(
            "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(h.expect_continue);
        assert_eq!(h.body, BodyKind::Length(3));
    }

    #[test]
    fn chunked_decoding() {
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        let input = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        // Feed byte by byte to exercise every state boundary.
        let mut used = 0;
        let mut done = false;
        for i in 0..input.len() {
            let (n, d2) = d
                .decode(&input[i..i + 1], &mut out, MAX_BODY_BYTES)
                .unwrap();
            used += n;
            if d2 {
                done = true;
                break;
            }
        }
        assert!(done);
        assert_eq!(out, b"Wikipedia");
        assert_eq!(&input[used..], b"NEXT");
    }

    #[test]
    fn chunked_rejects_malformed() {
        for bad in [
            &b"x\r\n"[..],
            b"4\nWiki\r\n",
            b"4\r\nWikiX\r\n",
            b"4\r\nWiki\r\n0\r\n\n",
            b"fffffffffffffffff\r\n",
            b"\r\n",
        ] {
            let mut d = ChunkedDecoder::default();
            assert!(
                d.decode(bad, &mut Vec::new(), MAX_BODY_BYTES).is_err(),
                "{bad:?}"
            );
        }
        let mut d = ChunkedDecoder::default();
        let e = d.decode(b"10\r\n", &mut Vec::new(), 8).unwrap_err();
        assert_eq!(e.status, 413);
    }

    #[test]
    fn chunked_trailer_section_is_bounded() {
        // An endless trailer section: refused once the section passes the head limit,
        // whatever the size of each line.
        let mut input = b"0\r\n".to_vec();
        while input.len() < 4 * MAX_HEADER_BYTES {
            input.extend_from_slice(b"X-T: aaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let mut d = ChunkedDecoder::default();
        let e = d
            .decode(&input, &mut Vec::new(), MAX_BODY_BYTES)
            .unwrap_err();
        assert_eq!(e.status, 431);
        // Byte by byte, the refusal comes right after the limit.
        let mut d = ChunkedDecoder::default();
        let mut fed = 0;
        let e = loop {
            match d.decode(&input[fed..fed + 1], &mut Vec::new(), MAX_BODY_BYTES) {
                Ok((n, false)) => fed += n,
                Ok((_, true)) => panic!("endless trailers accepted"),
                Err(e) => break e,
            }
        };
        assert_eq!(e.status, 431);
        assert!(fed <= MAX_HEADER_BYTES + 3, "{fed}");
    }

    #[test]
    fn chunk_extensions_are_bounded_over_the_whole_body() {
        // Each line is under the per-line limit; together they pass the head limit.
        let mut input = Vec::new();
        for _ in 0..10 {
            input.extend_from_slice(b"1;");
            input.extend_from_slice(&[b'e'; 4000]);
            input.extend_from_slice(b"\r\nX\r\n");
        }
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        let e = d.decode(&input, &mut out, MAX_BODY_BYTES).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(out.len() <= 3, "{}", out.len());
    }

    #[test]
    fn chunked_limit_counts_encoded_bytes() {
        // 1-byte chunks: 6 encoded bytes per decoded byte. The limit is on the former.
        let one = b"1\r\nX\r\n";
        let input: Vec<u8> = one.iter().copied().cycle().take(one.len() * 200).collect();
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        let e = d.decode(&input, &mut out, 600).unwrap_err();
        assert_eq!(e.status, 413);
        assert!(out.len() <= 100, "{}", out.len());
        // A body exactly at the limit, followed by the next message, is fine.
        let msg = b"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        assert_eq!(d.decode(msg, &mut out, 15).unwrap(), (15, true));
        assert_eq!(out, b"hello");
        // One byte short of the limit: refused, even fed piecewise.
        let mut d = ChunkedDecoder::default();
        let (n, done) = d.decode(&msg[..10], &mut Vec::new(), 14).unwrap();
        assert_eq!((n, done), (10, false));
        assert_eq!(
            d.decode(&msg[10..], &mut Vec::new(), 14)
                .unwrap_err()
                .status,
            413
        );
    }

    #[test]
    fn response_framing() {
        let mut h = ResponseHead::default();
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        assert!(parse_response_head(r, false, &mut h).unwrap());
        assert_eq!(
            (h.status, h.body, h.keep_alive),
            (200, BodyKind::Length(3), true)
        );
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        parse_response_head(r, false, &mut h).unwrap();
        assert_eq!(h.body, BodyKind::Chunked);
        let r = b"HTTP/1.1 200 OK\r\n\r\n";
        parse_response_head(r, false, &mut h).unwrap();
        assert_eq!((h.body, h.keep_alive), (BodyKind::UntilClose, false));
        let r = b"HTTP/1.1 204 No Content\r\n\r\n";
        parse_response_head(r, false, &mut h).unwrap();
        assert_eq!(h.body, BodyKind::None);
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n";
        parse_response_head(r, true, &mut h).unwrap();
        assert_eq!(h.body, BodyKind::None);
    }

    #[test]
    fn writers() {
        let mut out = Vec::new();
        write_status_line(&mut out, 404);
        write_content_length(&mut out, 12);
        write_chunked_body(&mut out, &[b'x'; 26]);
        assert_eq!(
            out,
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\n1a\r\nxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n0\r\n\r\n"
        );
    }
}
