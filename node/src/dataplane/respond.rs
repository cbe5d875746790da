//! Writing responses into a connection's output buffer: the common headers, request ids and the `Date` header (formatted once a second per worker).

use super::http1::{write_header, write_status_line};
use std::time::{SystemTime, UNIX_EPOCH};

/// Per-worker state for response headers that change: request ids and the date.
pub struct ResponseContext {
    rng: u64,
    date_second: u64,
    date: [u8; 29],
}

impl super::trace::Ids for ResponseContext {
    fn next_u64(&mut self) -> u64 {
        self.next()
    }
}

/// A request id in UUID form, on the stack.
#[derive(Clone, Copy)]
pub struct RequestId([u8; 36]);

impl RequestId {
    /// The id as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits and dashes are ever written into it.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl ResponseContext {
    /// A context with its own random seed.
    pub fn new() -> Self {
        let seed = rand::random::<u64>() | 1;
        ResponseContext {
            rng: seed,
            date_second: 0,
            date: *b"Thu, 01 Jan 1970 00:00:00 GMT",
        }
    }

    /// 64 bits from the worker's fast generator (ids, never secrets).
    fn next(&mut self) -> u64 {
        // xorshift64*: fast and good enough for request ids (not secrets).
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A fresh version-4-shaped UUID.
    pub fn request_id(&mut self) -> RequestId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let (a, b) = (self.next(), self.next());
        let mut nibbles = [0u8; 32];
        for i in 0..16 {
            nibbles[i] = HEX[((a >> (i * 4)) & 15) as usize];
            nibbles[16 + i] = HEX[((b >> (i * 4)) & 15) as usize];
        }
        nibbles[12] = b'4';
        nibbles[16] = HEX[8 + (b & 3) as usize];
        let mut out = [b'-'; 36];
        let mut n = 0;
        for (i, slot) in out.iter_mut().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                continue;
            }
            *slot = nibbles[n];
            n += 1;
        }
        RequestId(out)
    }

    /// The current `Date` header value.
    pub fn date(&mut self) -> &[u8] {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if now != self.date_second {
            self.date_second = now;
            let s = httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(now));
            if s.len() == 29 {
                self.date.copy_from_slice(s.as_bytes());
            }
        }
        &self.date
    }
}

impl Default for ResponseContext {
    fn default() -> Self {
        Self::new()
    }
}

/// How the connection ends after this response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// HTTP/1.1 keep-alive (the default; no header needed).
    KeepAlive11,
    /// HTTP/1.0 client that asked for keep-alive.
    KeepAlive10,
    /// Closing after this response.
    Close,
}

/// The request's `x-amz-apigw-id` and `$context.extendedRequestId`, shaped like AWS's (16
/// base64 characters): the first 11 bytes of the request id's hex digits, encoded on the
/// stack. The same id the Lambda proxy event carries as `requestContext.extendedRequestId`.
pub fn apigw_id(request_id: &str) -> [u8; 16] {
    use base64::Engine as _;
    let mut raw = [0u8; 11];
    let mut n = 0;
    let mut high: Option<u8> = None;
    for b in request_id.bytes() {
        let Some(d) = (b as char).to_digit(16) else {
            continue;
        };
        let d = d as u8;
        match high.take() {
            None => high = Some(d),
            Some(h) => {
                if n == raw.len() {
                    break;
                }
                raw[n] = h << 4 | d;
                n += 1;
            }
        }
    }
    let mut out = [b'='; 16];
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(&raw[..n], &mut out);
    out
}

/// Writes the status line and the headers every response carries.
pub fn write_common_head(
    out: &mut Vec<u8>,
    ctx: &mut ResponseContext,
    status: u16,
    request_id: &RequestId,
    conn: ConnState,
) {
    write_status_line(out, status);
    write_header(out, b"Date", ctx.date());
    write_header(out, b"x-amzn-RequestId", request_id.as_bytes());
    write_header(out, b"x-amz-apigw-id", &apigw_id(request_id.as_str()));
    match conn {
        ConnState::KeepAlive11 => {}
        ConnState::KeepAlive10 => write_header(out, b"Connection", b"keep-alive"),
        ConnState::Close => write_header(out, b"Connection", b"close"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apigw_ids_are_aws_shaped_and_follow_the_request_id() {
        let id = "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3";
        let a = apigw_id(id);
        assert_eq!(&a, b"ChssPU5fSmuMfY4=");
        assert_ne!(apigw_id("ffffffff-4e5f-4a6b-8c7d-8e9fa0b1c2d3"), a);
    }

    #[test]
    fn ids_are_uuid_shaped_and_distinct() {
        let mut c = ResponseContext::new();
        let a = c.request_id();
        let b = c.request_id();
        assert_ne!(a.as_str(), b.as_str());
        let s = a.as_str();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert_eq!(s.matches('-').count(), 4);
    }
}
