//! Payload compression (`minimumCompressionSize`), as AWS's "Payload compression for REST APIs
//! in API Gateway" describes it: an answer whose body is at least the API's minimum size is
//! compressed with the coding the client's `Accept-Encoding` prefers (`gzip` or `deflate`;
//! none when the header is absent, as AWS), unless the integration's answer already carries a
//! `Content-Encoding`; a request body sent with `Content-Encoding: gzip` or `deflate` is
//! decoded before validation, mapping templates and the integration see it (a coding AWS does
//! not support, or a body that is not what its coding says: 415). Decoding stops at
//! [`MAX_DECODED`] bytes (413), so a small "bomb" cannot make the worker inflate gigabytes.
//!
//! Answers are compressed only for an API with `minimumCompressionSize` (an unset one costs
//! one branch per answer); request bodies are decoded for every API, as AWS does by default
//! (see [`inbound`]), at the cost of one header scan per request. A refused body is answered
//! with the API's gateway response of its type ([`write_refusal`]).

use super::gateway_response::{self, Refusal};
use super::http1::{
    write_content_length, write_header, ChunkedDecoder, RequestHead, MAX_BODY_BYTES,
};
use super::request::TlsInfo;
use super::routing::RoutingTable;
use std::io::{Read, Write};

/// The most a compressed request body may inflate to: AWS's 10 MB payload limit.
pub const MAX_DECODED: usize = 10 * 1024 * 1024;

/// A content coding the gateway speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// RFC 1952 gzip.
    Gzip,
    /// HTTP's `deflate`: the zlib format (RFC 1950).
    Deflate,
}

impl Coding {
    /// The token for `Content-Encoding`.
    pub fn token(self) -> &'static [u8] {
        match self {
            Coding::Gzip => b"gzip",
            Coding::Deflate => b"deflate",
        }
    }
}

/// Splits a comma-separated header value into trimmed, non-empty items.
fn items(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|i| !i.is_empty())
}

/// The quality of one `Accept-Encoding` item (`gzip;q=0.5`): its coding and q (thousandths).
/// A malformed q counts as 0 (not acceptable), as a cautious reading of RFC 9110.
fn coding_q(item: &[u8]) -> (&[u8], u16) {
    let mut parts = item.split(|&b| b == b';').map(<[u8]>::trim_ascii);
    let coding = parts.next().unwrap_or_default();
    let mut q = 1000;
    for p in parts {
        let Some(v) = p
            .strip_prefix(b"q=")
            .or_else(|| p.strip_prefix(b"Q="))
            .map(<[u8]>::trim_ascii)
        else {
            continue;
        };
        q = parse_q(v).unwrap_or(0);
    }
    (coding, q)
}

/// An RFC 9110 qvalue (`0`, `0.5`, `1.000`) in thousandths.
fn parse_q(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut f = 0u16;
    for i in 0..3 {
        f = f * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int {
        b"0" => Some(f),
        b"1" if f == 0 => Some(1000),
        _ => None,
    }
}

/// The coding to answer with for this `Accept-Encoding` value: the acceptable one (q > 0)
/// with the highest q, `gzip` before `deflate` on a tie, `*` standing for either when not
/// named; none when `identity` is preferred over both, or nothing compressible is acceptable.
pub fn negotiate(accept_encoding: &[u8]) -> Option<Coding> {
    let (mut gzip, mut deflate, mut identity, mut star) = (None, None, None, None);
    for item in items(accept_encoding) {
        let (coding, q) = coding_q(item);
        let slot = if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip")
        {
            &mut gzip
        } else if coding.eq_ignore_ascii_case(b"deflate") {
            &mut deflate
        } else if coding.eq_ignore_ascii_case(b"identity") {
            &mut identity
        } else if coding == b"*" {
            &mut star
        } else {
            continue;
        };
        *slot = Some(q);
    }
    let gzip = gzip.or(star).unwrap_or(0);
    let deflate = deflate.or(star).unwrap_or(0);
    let (best, q) = if deflate > gzip {
        (Coding::Deflate, deflate)
    } else {
        (Coding::Gzip, gzip)
    };
    (q > 0 && identity.is_none_or(|i| i <= q)).then_some(best)
}

/// How a request's `Content-Encoding` value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestCoding {
    /// `identity` (or empty): the body is as sent.
    Identity,
    /// The body is compressed with this coding.
    Coded(Coding),
    /// A coding AWS does not decode (`br`, several layered codings, ...): 415.
    Unsupported,
}

/// Reads a request's `Content-Encoding` value.
pub fn request_coding(value: &[u8]) -> RequestCoding {
    let mut found = RequestCoding::Identity;
    for item in items(value) {
        let this = if item.eq_ignore_ascii_case(b"identity") {
            continue;
        } else if item.eq_ignore_ascii_case(b"gzip") || item.eq_ignore_ascii_case(b"x-gzip") {
            Coding::Gzip
        } else if item.eq_ignore_ascii_case(b"deflate") {
            Coding::Deflate
        } else {
            return RequestCoding::Unsupported;
        };
        if found != RequestCoding::Identity {
            return RequestCoding::Unsupported;
        }
        found = RequestCoding::Coded(this);
    }
    found
}

/// Why a compressed request body was not decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// It inflates past the limit (413).
    TooLarge,
    /// It is not what its coding says (415, as AWS).
    Corrupt,
}

/// Decodes `body` into `out` (cleared first), refusing to produce more than `limit` bytes.
/// `deflate` is read as zlib, and as a raw deflate stream when it has no zlib header (some
/// clients send that).
pub fn decode(
    coding: Coding,
    body: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    out.clear();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let read = match coding {
        Coding::Gzip => flate2::read::MultiGzDecoder::new(body)
            .take(cap)
            .read_to_end(out),
        Coding::Deflate => {
            let zlib = flate2::read::ZlibDecoder::new(body)
                .take(cap)
                .read_to_end(out);
            if zlib.is_err() {
                out.clear();
                flate2::read::DeflateDecoder::new(body)
                    .take(cap)
                    .read_to_end(out)
            } else {
                zlib
            }
        }
    };
    match read {
        Err(_) => Err(DecodeError::Corrupt),
        Ok(_) if out.len() > limit => Err(DecodeError::TooLarge),
        Ok(_) => Ok(()),
    }
}

/// Compresses `body` with `coding`, appending to `out`.
pub fn encode(coding: Coding, body: &[u8], out: &mut Vec<u8>) {
    // Level 1, nginx's default (`gzip_comp_level 1`): on small JSON answers it keeps most of
    // the size saving at a fraction of level 6's CPU (docs/BENCHMARKS.md, "Payload
    // compression"), and the worker compresses inline.
    let level = flate2::Compression::fast();
    // Writing into a Vec cannot fail.
    let _ = match coding {
        Coding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(out, level);
            e.write_all(body).and_then(|()| e.try_finish())
        }
        Coding::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(out, level);
            e.write_all(body).and_then(|()| e.try_finish())
        }
    };
}

/// Compresses the answer just written at `out[start..]` when AWS would: the API compresses
/// (`min`: its `minimumCompressionSize`), the client asked for a coding (`accept_encoding`),
/// the answer's body (sized by `Content-Length`, or chunked by the gateway relaying a chunked
/// backend answer: de-chunked first) is at least `min` bytes (at least one), and it carries no
/// `Content-Encoding` of its own. The body is replaced by its compressed form;
/// `Content-Length` follows it, and `Content-Encoding` and `Vary: Accept-Encoding` are added.
/// Returns whether it compressed.
pub fn compress_answer(
    out: &mut Vec<u8>,
    start: usize,
    min: usize,
    accept_encoding: Option<&[u8]>,
) -> bool {
    let Some(coding) = accept_encoding.and_then(negotiate) else {
        return false;
    };
    let answer = &out[start..];
    let Some(head_end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = &answer[..head_end];
    let body = &answer[head_end + 4..];
    let mut length = None;
    let mut chunked = false;
    let mut vary: Option<&[u8]> = None;
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.trim_ascii_end());
    let status_line = lines.next().unwrap_or_default();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-encoding") {
            return false;
        }
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only the gateway's own chunking (of a chunked backend answer) is undone here.
            if !value.eq_ignore_ascii_case(b"chunked") {
                return false;
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            length = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<usize>().ok());
        } else if name.eq_ignore_ascii_case(b"vary") {
            vary = Some(value);
        }
    }
    // A chunked answer (a chunked backend's, relayed) is de-chunked first; it is whole here.
    let dechunked;
    let body = if chunked {
        let mut plain = Vec::with_capacity(body.len());
        let mut dec = ChunkedDecoder::default();
        match dec.decode(body, &mut plain, MAX_BODY_BYTES) {
            Ok((_, true)) => {}
            _ => return false,
        }
        dechunked = plain;
        &dechunked[..]
    } else if length == Some(body.len()) {
        body
    } else {
        // A HEAD answer (no body after a non-zero length) stays as it is.
        return false;
    };
    if body.is_empty() || body.len() < min {
        return false;
    }
    let mut packed = Vec::with_capacity(body.len() / 2 + 64);
    encode(coding, body, &mut packed);
    let mut rewritten = Vec::with_capacity(head_end + packed.len() + 96);
    rewritten.extend_from_slice(status_line);
    rewritten.extend_from_slice(b"\r\n");
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.trim_ascii_end();
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        if name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"vary")
        {
            continue;
        }
        rewritten.extend_from_slice(line);
        rewritten.extend_from_slice(b"\r\n");
    }
    write_header(&mut rewritten, b"Content-Encoding", coding.token());
    match vary {
        Some(v) if items(v).any(|i| i.eq_ignore_ascii_case(b"accept-encoding") || i == b"*") => {
            write_header(&mut rewritten, b"Vary", v)
        }
        Some(v) => {
            let mut value = v.to_vec();
            value.extend_from_slice(b", Accept-Encoding");
            write_header(&mut rewritten, b"Vary", &value);
        }
        None => write_header(&mut rewritten, b"Vary", b"Accept-Encoding"),
    }
    write_content_length(&mut rewritten, packed.len());
    rewritten.extend_from_slice(b"\r\n");
    rewritten.extend_from_slice(&packed);
    out.truncate(start);
    out.extend_from_slice(&rewritten);
    true
}

/// A body that is not what its `Content-Encoding` says, or a coding AWS does not decode:
/// the API's UNSUPPORTED_MEDIA_TYPE gateway response.
pub const UNSUPPORTED_CODING: Refusal = gateway_response::UNSUPPORTED_MEDIA_TYPE;
/// A body that inflates past [`MAX_DECODED`]: the API's REQUEST_TOO_LARGE gateway response.
pub const INFLATES_TOO_LARGE: Refusal = gateway_response::REQUEST_BODY_TOO_LARGE;

/// What to serve a request with, once its body is read.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// Its body as it arrived.
    AsSent,
    /// The decoded body now in the caller's buffer; the head's `Content-Encoding` field (this
    /// index into its headers) no longer describes it.
    Decoded(usize),
    /// Refuse it (answered by [`write_refusal`], as the API's gateway responses shape it).
    Refused(Refusal),
}

/// Decodes a request's compressed body into `decoded`, whatever the API's settings: AWS
/// decodes request payloads by default ("By default, API Gateway supports decompression of
/// the method request payload. However, you must configure your API to enable compression of
/// the method response payload": "Payload compression for REST APIs in API Gateway",
/// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-gzip-compression-decompression.html),
/// before the API and stage are even known. `buf` is what the head's spans point into. A
/// request with no `Content-Encoding` costs one scan of its header names.
pub fn inbound(head: &RequestHead, buf: &[u8], body: &[u8], decoded: &mut Vec<u8>) -> Inbound {
    let Some((at, value)) = head.headers.iter().enumerate().find_map(|(i, (n, v))| {
        buf[n.clone()]
            .eq_ignore_ascii_case(b"content-encoding")
            .then(|| (i, &buf[v.clone()]))
    }) else {
        return Inbound::AsSent;
    };
    match request_coding(value) {
        RequestCoding::Identity => Inbound::AsSent,
        RequestCoding::Unsupported => Inbound::Refused(UNSUPPORTED_CODING),
        RequestCoding::Coded(c) => match decode(c, body, MAX_DECODED, decoded) {
            Ok(()) => Inbound::Decoded(at),
            Err(DecodeError::TooLarge) => Inbound::Refused(INFLATES_TOO_LARGE),
            Err(DecodeError::Corrupt) => Inbound::Refused(UNSUPPORTED_CODING),
        },
    }
}

/// Writes the answer to a request [`inbound`] refused: the gateway response of its type as
/// the stage the request reaches shapes it (status, headers, body template), as every other
/// refusal of a known stage is. The connection is closed after it, as after any refusal of
/// the connection layer.
#[allow(clippy::too_many_arguments)]
pub fn write_refusal(
    out: &mut Vec<u8>,
    ctx: &mut super::respond::ResponseContext,
    refusal: &Refusal,
    table: &RoutingTable,
    head: &RequestHead,
    buf: &[u8],
    path: &str,
    tls: Option<&TlsInfo>,
    request_id: &super::respond::RequestId,
) {
    let host = head.host.as_ref().map(|h| &buf[h.clone()]);
    let overrides = super::phases::resolve_stage::run(table, host, path, tls, 0)
        .ok()
        .map(|r| &r.stage.gateway_responses);
    gateway_response::write(
        out,
        ctx,
        refusal,
        overrides,
        request_id,
        super::respond::ConnState::Close,
        &[],
    );
}

#[cfg(test)]
#[path = "compress_tests.rs"]
mod tests;
