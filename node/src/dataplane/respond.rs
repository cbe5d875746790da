//! Writing responses into a connection's output buffer: the common headers, request ids and the `Date` header (formatted once a second per worker).

use super::http1::{write_header, write_status_line};
use std::time::{SystemTime, UNIX_EPOCH};

/// Per-worker state for response headers that change: request ids and the date.
pub struct ResponseContext {
    rng: u64,
    date_second: u64,
    date: [u8; 29],
    /// The wall clock (ns since the Unix epoch) and the monotonic clock
    /// ([`super::throttle::now_ns`]) read together, for [`ResponseContext::epoch_ms`].
    wall_anchor: Option<(u64, u64)>,
}

/// How long [`ResponseContext::epoch_ms`] carries the wall clock on the monotonic one before
/// reading it again.
const WALL_EVERY_NS: u64 = 1_000_000_000;

impl super::trace::Ids for ResponseContext {
    fn next_u64(&mut self) -> u64 {
        self.next()
    }
}

/// A request id in UUID form, on the stack, with the 16 bytes it spells.
#[derive(Clone, Copy)]
pub struct RequestId {
    /// The UUID text: lowercase hex digits and four dashes only (written by
    /// [`ResponseContext::request_id`] alone; [`RequestId::as_str`] relies on it).
    text: [u8; 36],
    /// The bytes the hex digits spell, in order.
    raw: [u8; 16],
}

/// Where each of the id's 16 bytes starts in its UUID text (8-4-4-4-12 hex digits).
const UUID_AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

impl RequestId {
    /// The id made of `raw`'s bytes, shaped as a version-4 UUID (the version and variant
    /// bits set).
    fn from_raw(mut raw: [u8; 16]) -> RequestId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        raw[6] = (raw[6] & 0x0f) | 0x40;
        raw[8] = (raw[8] & 0x3f) | 0x80;
        let mut text = [b'-'; 36];
        for (b, at) in raw.iter().zip(UUID_AT) {
            text[at] = HEX[usize::from(b >> 4)];
            text[at + 1] = HEX[usize::from(b & 15)];
        }
        RequestId { text, raw }
    }

    /// The id as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // SAFETY: `text` is private and only `from_raw` writes it, with bytes from `HEX` and
        // `b'-'`, all ASCII, so it is always valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(&self.text) }
    }

    /// The request's `x-amz-apigw-id` ([`apigw_id`] of its text, from the bytes it spells
    /// without parsing the text again).
    pub fn apigw_id(&self) -> [u8; 16] {
        let mut raw = [0u8; 11];
        raw.copy_from_slice(&self.raw[..11]);
        base64_11(&raw)
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
            wall_anchor: None,
        }
    }

    /// Milliseconds since the Unix epoch at `mono_ns` (a [`super::throttle::now_ns`] reading
    /// just taken): the wall clock is read once a second, and carried on the monotonic clock
    /// in between. The two run at the same rate (NTP slews both), so this is the wall clock's
    /// own reading except for up to a second after the wall clock is stepped; it saves each
    /// request a wall-clock read (tens of ns on this VM).
    pub fn epoch_ms(&mut self, mono_ns: u64) -> u64 {
        let fresh = match self.wall_anchor {
            Some((_, mono)) => mono_ns < mono || mono_ns - mono >= WALL_EVERY_NS,
            None => true,
        };
        if fresh {
            self.wall_anchor = Some(wall_anchor());
        }
        let (wall, mono) = self.wall_anchor.unwrap_or((0, 0));
        // `mono_ns` may be a little before the anchor's monotonic reading (it was read first).
        let at = if mono_ns >= mono {
            wall.saturating_add(mono_ns - mono)
        } else {
            wall.saturating_sub(mono - mono_ns)
        };
        at / 1_000_000
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
        let (a, b) = (self.next(), self.next());
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&a.to_le_bytes());
        raw[8..].copy_from_slice(&b.to_le_bytes());
        RequestId::from_raw(raw)
    }

    /// The current `Date` header value (second resolution, from the coarse wall clock: see
    /// [`coarse_epoch_secs`]).
    pub fn date(&mut self) -> &[u8] {
        let now = coarse_epoch_secs();
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

/// The wall clock (ns since the Unix epoch) with the monotonic clock's reading at the same
/// moment: the wall clock is read between two monotonic readings and placed at their middle,
/// so a thread preempted between the reads does not put the carried wall clock behind by
/// however long it waited (a gap over 20 µs is read again, up to three times).
fn wall_anchor() -> (u64, u64) {
    let mut best = (0, 0, u64::MAX);
    for _ in 0..3 {
        let before = super::throttle::now_ns();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let after = super::throttle::now_ns();
        let gap = after.saturating_sub(before);
        if gap < best.2 {
            best = (wall, before + gap / 2, gap);
        }
        if gap < 20_000 {
            break;
        }
    }
    (best.0, best.1)
}

/// Seconds since the Unix epoch, from `CLOCK_REALTIME_COARSE`: the time at the kernel's last
/// tick, read from memory without reading the hardware clock (a few ns instead of tens). It
/// is at most a tick (1-10 ms) behind, so a `Date` header may name the previous second for
/// that long after a second starts: far inside what the header's one-second resolution says.
fn coarse_epoch_secs() -> u64 {
    match super::conn_timer::clock_ns(libc::CLOCK_REALTIME_COARSE) {
        Some(ns) => ns / 1_000_000_000,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
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
    let mut raw = [0u8; 11];
    let mut n = 0;
    let mut high: Option<u8> = None;
    for b in request_id.bytes() {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => continue,
        };
        match high.take() {
            None => high = Some(d),
            Some(h) => {
                raw[n] = h << 4 | d;
                n += 1;
                if n == raw.len() {
                    return base64_11(&raw);
                }
            }
        }
    }
    // Fewer than 11 bytes' worth of digits (not one of our ids): what there is, padded.
    use base64::Engine as _;
    let mut out = [b'='; 16];
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(&raw[..n], &mut out);
    out
}

/// 11 bytes in standard base64: 15 characters and one `=`, on the stack.
fn base64_11(raw: &[u8; 11]) -> [u8; 16] {
    use base64::Engine as _;
    let mut out = [b'='; 16];
    // 11 bytes need 16 characters: the buffer always fits.
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(raw, &mut out);
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
    // The three lines as one block on the stack, appended with one copy.
    const DATE: &[u8] = b"Date: ";
    const ID: &[u8] = b"\r\nx-amzn-RequestId: ";
    const APIGW: &[u8] = b"\r\nx-amz-apigw-id: ";
    const LEN: usize = DATE.len() + 29 + ID.len() + 36 + APIGW.len() + 16 + 2;
    let mut block = [0u8; LEN];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        block[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(DATE);
    put(ctx.date());
    put(ID);
    put(&request_id.text);
    put(APIGW);
    put(&request_id.apigw_id());
    put(b"\r\n");
    out.extend_from_slice(&block[..at]);
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
    fn an_ids_own_apigw_id_is_the_one_its_text_gives() {
        let mut c = ResponseContext::new();
        for _ in 0..1000 {
            let id = c.request_id();
            // The text's hex digits spell the raw bytes.
            let digits: String = id.as_str().chars().filter(|c| *c != '-').collect();
            let raw: String = id.raw.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(digits, raw);
            // Both ways agree with the base64 crate's encoding of the first 11 bytes.
            use base64::Engine as _;
            let want = base64::engine::general_purpose::STANDARD.encode(&id.raw[..11]);
            assert_eq!(&id.apigw_id()[..], want.as_bytes());
            assert_eq!(apigw_id(id.as_str()), id.apigw_id());
        }
        // Uppercase digits read as lowercase; a short id is padded as before.
        let id = "0A1B2C3D-4E5F-4A6B-8C7D-8E9FA0B1C2D3";
        assert_eq!(&apigw_id(id), b"ChssPU5fSmuMfY4=");
        assert_eq!(&apigw_id("0a1b"), b"Chs=============");
    }

    #[test]
    fn the_common_head_carries_date_id_and_apigw_id() {
        let mut c = ResponseContext::new();
        let id = c.request_id();
        let mut out = Vec::new();
        write_common_head(&mut out, &mut c, 200, &id, ConnState::Close);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "HTTP/1.1 200 OK");
        let date = lines[1].strip_prefix("Date: ").unwrap();
        let parsed = httpdate::parse_http_date(date).unwrap();
        let now = SystemTime::now();
        let behind = now.duration_since(parsed).unwrap_or_default();
        assert!(behind < std::time::Duration::from_secs(2), "{date}");
        assert!(parsed <= now + std::time::Duration::from_secs(1), "{date}");
        assert_eq!(lines[2], format!("x-amzn-RequestId: {}", id.as_str()));
        let apigw = String::from_utf8(apigw_id(id.as_str()).to_vec()).unwrap();
        assert_eq!(lines[3], format!("x-amz-apigw-id: {apigw}"));
        assert_eq!(lines[4], "Connection: close");
    }

    #[test]
    fn the_carried_wall_clock_agrees_with_the_wall_clock() {
        let mut c = ResponseContext::new();
        let wall = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap()
        };
        let mut last = 0;
        for i in 0..40 {
            let before = wall();
            let ms = c.epoch_ms(super::super::throttle::now_ns());
            let after = wall();
            // A ms of reading jitter either side (each side rounds down to the ms).
            assert!(ms + 1 >= before && ms <= after + 1, "{before} {ms} {after}");
            assert!(ms >= last, "went back: {last} then {ms}");
            last = ms;
            if i % 10 == 9 {
                // Past the re-read interval: carried over a second, then read again.
                std::thread::sleep(std::time::Duration::from_millis(400));
            }
        }
        // A monotonic reading a little before the anchor's still gives the time it was read.
        let mono = super::super::throttle::now_ns();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let then = c.epoch_ms(mono);
        assert!(wall() >= then + 1000, "{then}");
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
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"), "{s}");
        assert_eq!(s.matches('-').count(), 4);
        for (i, c) in s.char_indices() {
            if matches!(i, 8 | 13 | 18 | 23) {
                assert_eq!(c, '-', "{s}");
            } else {
                assert!(matches!(c, '0'..='9' | 'a'..='f'), "{s}");
            }
        }
    }
}
