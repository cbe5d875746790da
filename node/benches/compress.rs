//! Payload compression (`minimumCompressionSize`): what compressing a 4 kB compressible MOCK
//! answer costs per request (gzip and deflate, default level), next to what an API pays when
//! the client asks for no coding (the check that leaves the answer alone), and decoding a
//! gzip request body of the same size.
//!
//! Run: `cargo bench -p tollgate-node --bench compress`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tollgate_node::dataplane::compress::{compress_answer, decode, encode, Coding, MAX_DECODED};

/// A MOCK-like answer: a head and a 4 kB JSON list body.
fn answer() -> Vec<u8> {
    let mut body = String::from("[");
    let mut i = 0;
    while body.len() < 4096 - 64 {
        body.push_str(&format!(
            "{{\"id\":{i},\"type\":\"dog\",\"price\":249.99,\"name\":\"pet {i}\"}},"
        ));
        i += 1;
    }
    body.push_str("{}]");
    let mut a = format!(
        "HTTP/1.1 200 OK\r\nx-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    a.extend_from_slice(body.as_bytes());
    a
}

fn bench(c: &mut Criterion) {
    let original = answer();
    let mut out = Vec::with_capacity(16 * 1024);
    for (name, ae) in [
        (
            "compress 4 kB answer: gzip",
            Some(&b"gzip, deflate, br"[..]),
        ),
        ("compress 4 kB answer: deflate", Some(&b"deflate"[..])),
        ("compress 4 kB answer: client asks none", None),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                out.extend_from_slice(&original);
                let done = compress_answer(&mut out, 0, 1024, black_box(ae));
                assert_eq!(done, ae.is_some());
                black_box(out.len())
            })
        });
    }
    let body_at = original.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut packed = Vec::new();
    encode(Coding::Gzip, &original[body_at..], &mut packed);
    let mut plain = Vec::with_capacity(8 * 1024);
    c.bench_function("decode 4 kB gzip request body", |b| {
        b.iter(|| {
            decode(Coding::Gzip, black_box(&packed), MAX_DECODED, &mut plain).unwrap();
            black_box(plain.len())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
