//! Seeded mutation fuzzing of the HTTP/1.1 parsers and the chunked decoder, on the stable
//! toolchain. Each target runs for `TOLLGATE_FUZZ_SECS` seconds (default 1) from a seed taken
//! from `TOLLGATE_FUZZ_SEED` (default fixed, so a plain `cargo test` is reproducible); a
//! failure prints the seed and the input.
//!
//! Properties: no panic on any input; limits hold (head size, header count, body size
//! counted in encoded bytes); a parsed request re-serialises to one that parses the same; a
//! message fed in pieces gives what it gives whole.

use super::http1::*;
use std::time::{Duration, Instant};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn budget() -> Duration {
    let secs = std::env::var("TOLLGATE_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(1.0);
    Duration::from_secs_f64(secs)
}

fn seed(target: u64) -> u64 {
    let base = std::env::var("TOLLGATE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0x7011_6a7e);
    (base ^ target.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1
}

/// Runs `one` on inputs mutated from `corpus` until the time budget is spent.
fn run(target: u64, corpus: &[&[u8]], mut one: impl FnMut(&[u8], &mut Rng)) {
    let s = seed(target);
    let mut rng = Rng(s);
    let end = Instant::now() + budget();
    let mut iterations = 0u64;
    while Instant::now() < end || iterations < 1000 {
        let mut input = rng.pick(corpus).to_vec();
        for _ in 0..=rng.below(4) {
            mutate(&mut input, &mut rng, corpus);
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            one(&input, &mut Rng(rng.next() | 1))
        }));
        if let Err(p) = result {
            eprintln!(
                "fuzz target {target} failed (TOLLGATE_FUZZ_SEED base, iteration {iterations}), input {:?}",
                String::from_utf8_lossy(&input)
            );
            std::panic::resume_unwind(p);
        }
        iterations += 1;
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\r\n",
    b"\r",
    b"\n",
    b":",
    b" ",
    b"\t",
    b"0",
    b"f",
    b";",
    b"?",
    b"\0",
    b"\xff",
    b"Content-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Connection: close\r\n",
    b"Host: h\r\n",
    b"Expect: 100-continue\r\n",
    b"ffffffffffffffff",
    b"HTTP/1.0",
];

fn mutate(input: &mut Vec<u8>, rng: &mut Rng, corpus: &[&[u8]]) {
    let at = rng.below(input.len() + 1);
    match rng.below(7) {
        0 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] ^= 1 << rng.below(8);
        }
        1 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] = rng.next() as u8;
        }
        2 => {
            let piece = rng.pick(INTERESTING);
            input.splice(at..at, piece.iter().copied());
        }
        3 if !input.is_empty() => {
            let len = rng.below((input.len() - at.min(input.len())).min(32) + 1);
            let at = at.min(input.len());
            input.drain(at..(at + len).min(input.len()));
        }
        4 if !input.is_empty() => {
            // Repeat a range (long lines, many headers).
            let a = rng.below(input.len());
            let b = (a + 1 + rng.below(64)).min(input.len());
            let piece = input[a..b].to_vec();
            for _ in 0..=rng.below(300) {
                input.splice(b..b, piece.iter().copied());
            }
        }
        5 => {
            let other = rng.pick(corpus);
            let cut = rng.below(other.len() + 1);
            input.truncate(at);
            input.extend_from_slice(&other[cut..]);
        }
        _ => input.truncate(at),
    }
}

const REQUESTS: &[&[u8]] = &[
    b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
];

fn serialise(buf: &[u8], h: &RequestHead) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&buf[h.method.clone()]);
    out.push(b' ');
    out.extend_from_slice(&buf[h.path.clone()]);
    if h.query.end > h.path.end {
        out.push(b'?');
        out.extend_from_slice(&buf[h.query.clone()]);
    }
    out.extend_from_slice(b" HTTP/1.");
    out.push(b'0' + h.minor_version);
    out.extend_from_slice(b"\r\n");
    for (n, v) in &h.headers {
        write_header(&mut out, &buf[n.clone()], &buf[v.clone()]);
    }
    out.extend_from_slice(b"\r\n");
    out
}

type Fields = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

fn fields(buf: &[u8], h: &RequestHead) -> Fields {
    (
        buf[h.method.clone()].to_vec(),
        buf[h.path.clone()].to_vec(),
        buf[h.query.clone()].to_vec(),
        h.headers
            .iter()
            .map(|(n, v)| (buf[n.clone()].to_vec(), buf[v.clone()].to_vec()))
            .collect(),
    )
}

#[test]
fn fuzz_request_parser() {
    let mut head = RequestHead::default();
    run(1, REQUESTS, |input, rng| {
        match parse_request_head(input, &mut head) {
            Ok(true) => {
                let len = head.head_len;
                assert!(len <= input.len() && len <= MAX_HEADER_BYTES);
                assert!(head.headers.len() <= MAX_HEADERS);
                for r in [&head.method, &head.path, &head.query] {
                    assert!(r.start <= r.end && r.end <= len);
                }
                if let BodyKind::Length(n) = head.body {
                    assert!(n <= MAX_BODY_BYTES);
                }
                assert!(head.body != BodyKind::UntilClose);
                // Any shorter prefix of the head is incomplete, never a different verdict.
                let cut = rng.below(len);
                let mut other = RequestHead::default();
                assert_eq!(parse_request_head(&input[..cut], &mut other), Ok(false));
                // Re-serialised, it parses to the same request.
                let again = serialise(input, &head);
                assert_eq!(parse_request_head(&again, &mut other), Ok(true));
                assert_eq!(fields(input, &head), fields(&again, &other));
                assert_eq!(
                    (head.body, head.keep_alive, head.expect_continue),
                    (other.body, other.keep_alive, other.expect_continue)
                );
                assert_eq!(other.head_len, again.len());
            }
            Ok(false) => assert!(input.len() <= MAX_HEADER_BYTES),
            Err(e) => assert!([400, 413, 417, 431, 501, 505].contains(&e.status), "{e:?}"),
        }
    });
}

const RESPONSES: &[&[u8]] = &[
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nbody",
    b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
];

#[test]
fn fuzz_response_parser() {
    let mut head = ResponseHead::default();
    run(2, RESPONSES, |input, rng| {
        let head_request = rng.below(2) == 0;
        match parse_response_head(input, head_request, &mut head) {
            Ok(true) => {
                assert!(head.head_len <= input.len());
                for (n, v) in &head.headers {
                    assert!(n.end <= head.head_len && v.end <= head.head_len);
                }
                if head_request || response_has_no_body(head.status, false) {
                    assert_eq!(head.body, BodyKind::None);
                }
                if head.body == BodyKind::UntilClose {
                    assert!(!head.keep_alive);
                }
                let mut other = ResponseHead::default();
                let cut = rng.below(head.head_len);
                assert_eq!(
                    parse_response_head(&input[..cut], head_request, &mut other),
                    Ok(false)
                );
            }
            Ok(false) => assert!(input.len() <= 64 * 1024),
            Err(e) => assert_eq!(e.status, 502),
        }
    });
}

/// Decodes `input` fed in the pieces `rng` picks: (used, done) or the error, and the output.
fn decode_in_pieces(
    input: &[u8],
    max: usize,
    rng: &mut Rng,
) -> (Result<(usize, bool), HttpError>, Vec<u8>) {
    let mut d = ChunkedDecoder::default();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut end = 0;
    loop {
        // The caller keeps unconsumed bytes and appends new ones, as the connection does.
        end = (end + 1 + rng.below(16)).min(input.len());
        match d.decode(&input[pos..end], &mut out, max) {
            Ok((n, true)) => return (Ok((pos + n, true)), out),
            Ok((n, false)) => {
                pos += n;
                if end == input.len() {
                    return (Ok((pos, false)), out);
                }
            }
            Err(e) => return (Err(e), out),
        }
    }
}

fn encode_chunked(data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = (1 + rng.below(40)).min(rest.len());
        out.extend_from_slice(format!("{n:x}").as_bytes());
        if rng.below(4) == 0 {
            out.extend_from_slice(b";name=value");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    out.extend_from_slice(b"0\r\n");
    if rng.below(2) == 0 {
        out.extend_from_slice(b"X-Trailer: yes\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

const CHUNKED: &[&[u8]] = &[
    b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT",
    b"1\r\na\r\n0\r\n\r\n",
    b"0\r\n\r\n",
    b"10;a=b;c\r\n0123456789abcdef\r\n0\r\nA: b\r\nC: d\r\n\r\n",
];

#[test]
fn fuzz_chunked_decoder() {
    run(3, CHUNKED, |input, rng| {
        let max = [MAX_BODY_BYTES, 64, 200, input.len()][rng.below(4)];
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        let whole = d.decode(input, &mut out, max);
        if let Ok((used, _)) = whole {
            assert!(used <= input.len() && used <= max);
            assert!(out.len() <= used);
        }
        let (pieces, out2) = decode_in_pieces(input, max, rng);
        // Fed whole or in pieces: the same verdict and the same data.
        match (whole, pieces) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b);
                assert_eq!(out, out2);
            }
            (Err(a), Err(b)) => assert_eq!(a, b),
            (a, b) => panic!("whole {a:?} vs pieces {b:?}"),
        }
    });
    // Round trip: whatever is encoded decodes back, in any pieces.
    let mut rng = Rng(seed(4));
    let end = Instant::now() + budget();
    while Instant::now() < end {
        let data: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
        let mut enc = encode_chunked(&data, &mut rng);
        let len = enc.len();
        enc.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let (r, out) = decode_in_pieces(&enc, MAX_BODY_BYTES, &mut rng);
        assert_eq!(r, Ok((len, true)));
        assert_eq!(out, data);
    }
}
