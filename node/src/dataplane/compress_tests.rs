use super::*;

#[test]
fn accept_encoding_negotiation_table() {
    // (Accept-Encoding, chosen coding)
    let cases: &[(&str, Option<Coding>)] = &[
        ("gzip", Some(Coding::Gzip)),
        ("deflate", Some(Coding::Deflate)),
        ("gzip, deflate, br", Some(Coding::Gzip)),
        ("deflate, gzip", Some(Coding::Gzip)),
        ("br", None),
        ("", None),
        ("identity", None),
        ("*", Some(Coding::Gzip)),
        ("*;q=0", None),
        ("gzip;q=0", None),
        ("gzip;q=0, *", Some(Coding::Deflate)),
        ("gzip;q=0.5, deflate;q=0.8", Some(Coding::Deflate)),
        ("gzip;q=0.8, deflate;q=0.8", Some(Coding::Gzip)),
        ("GZIP ; Q=1.000", Some(Coding::Gzip)),
        ("x-gzip", Some(Coding::Gzip)),
        ("gzip;q=0.5, identity;q=1", None),
        ("gzip;q=1, identity;q=0.5", Some(Coding::Gzip)),
        ("gzip;q=1, identity;q=1", Some(Coding::Gzip)),
        ("gzip;q=2", None),
        ("gzip;q=0.1234", None),
        ("gzip;q=abc, deflate", Some(Coding::Deflate)),
        (" , gzip ,", Some(Coding::Gzip)),
    ];
    for (header, want) in cases {
        assert_eq!(negotiate(header.as_bytes()), *want, "{header:?}");
    }
}

#[test]
fn request_content_encoding_table() {
    use RequestCoding::*;
    let cases: &[(&str, RequestCoding)] = &[
        ("gzip", Coded(Coding::Gzip)),
        ("GZip", Coded(Coding::Gzip)),
        ("deflate", Coded(Coding::Deflate)),
        ("identity", Identity),
        ("", Identity),
        ("identity, gzip", Coded(Coding::Gzip)),
        ("br", Unsupported),
        ("gzip, gzip", Unsupported),
        ("compress", Unsupported),
    ];
    for (header, want) in cases {
        assert_eq!(request_coding(header.as_bytes()), *want, "{header:?}");
    }
}

#[test]
fn round_trips_both_codings_and_raw_deflate() {
    let text = b"{\"pets\":[1,2,3]} ".repeat(100);
    for coding in [Coding::Gzip, Coding::Deflate] {
        let mut packed = Vec::new();
        encode(coding, &text, &mut packed);
        assert!(packed.len() < text.len() / 4, "{coding:?} compresses");
        let mut back = vec![1, 2, 3];
        decode(coding, &packed, MAX_DECODED, &mut back).unwrap();
        assert_eq!(back, text);
    }
    // A raw deflate stream (no zlib header) is accepted as `deflate` too.
    let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    raw.write_all(&text).unwrap();
    let raw = raw.finish().unwrap();
    let mut back = Vec::new();
    decode(Coding::Deflate, &raw, MAX_DECODED, &mut back).unwrap();
    assert_eq!(back, text);
}

#[test]
fn bombs_and_garbage_are_refused() {
    // 64 MiB of zeros compress to about 64 KiB.
    let zeros = vec![0u8; 64 * 1024 * 1024];
    // Packed at the best level, as an attacker would (the gateway's own level is fast).
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&zeros).unwrap();
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 200 * 1024);
    let mut out = Vec::new();
    assert_eq!(
        decode(Coding::Gzip, &bomb, MAX_DECODED, &mut out),
        Err(DecodeError::TooLarge)
    );
    assert!(out.len() <= MAX_DECODED + 1, "stopped at the limit");
    assert_eq!(
        decode(Coding::Gzip, b"not gzip at all", MAX_DECODED, &mut out),
        Err(DecodeError::Corrupt)
    );
    assert_eq!(
        decode(Coding::Deflate, b"\xff\xff\xff\xff", MAX_DECODED, &mut out),
        Err(DecodeError::Corrupt)
    );
    // Exactly at the limit is fine.
    let mut packed = Vec::new();
    encode(Coding::Deflate, &[7u8; 1000], &mut packed);
    decode(Coding::Deflate, &packed, 1000, &mut out).unwrap();
    assert_eq!(
        decode(Coding::Deflate, &packed, 999, &mut out),
        Err(DecodeError::TooLarge)
    );
}

fn answer(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut a = b"prefix".to_vec();
    a.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    a.extend_from_slice(headers.as_bytes());
    a.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    a.extend_from_slice(body);
    a
}

fn split(a: &[u8]) -> (String, &[u8]) {
    let i = a.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (String::from_utf8_lossy(&a[..i]).into_owned(), &a[i + 4..])
}

#[test]
fn answers_at_or_over_the_minimum_are_compressed() {
    let body = b"abcdefgh".repeat(512);
    let mut out = answer("Content-Type: text/plain\r\n", &body);
    assert!(compress_answer(&mut out, 6, 4096, Some(b"gzip")));
    assert!(out.starts_with(b"prefixHTTP/1.1 200 OK\r\n"));
    let (head, packed) = split(&out[6..]);
    assert!(head.contains("Content-Type: text/plain"), "{head}");
    assert!(head.contains("Content-Encoding: gzip"), "{head}");
    assert!(head.contains("Vary: Accept-Encoding"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", packed.len())),
        "{head}"
    );
    let mut back = Vec::new();
    decode(Coding::Gzip, packed, MAX_DECODED, &mut back).unwrap();
    assert_eq!(back, body);

    // One byte under the minimum: untouched.
    let mut out = answer("", &body[..4095]);
    let before = out.clone();
    assert!(!compress_answer(&mut out, 6, 4096, Some(b"gzip")));
    assert_eq!(out, before);
}

#[test]
fn answers_are_left_alone_when_aws_would() {
    let body = b"x".repeat(100);
    let cases: &[(&str, Option<&[u8]>)] = &[
        // The client asked for nothing, or nothing the gateway speaks.
        ("", None),
        ("", Some(b"br")),
        ("", Some(b"identity")),
        // The backend's answer is encoded already.
        ("Content-Encoding: br\r\n", Some(b"gzip")),
        ("content-encoding: gzip\r\n", Some(b"gzip")),
    ];
    for (headers, ae) in cases {
        let mut out = answer(headers, &body);
        let before = out.clone();
        assert!(!compress_answer(&mut out, 6, 0, *ae), "{headers:?} {ae:?}");
        assert_eq!(out, before);
    }
    // A HEAD answer: a length but no body.
    let mut head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec();
    assert!(!compress_answer(&mut head, 0, 0, Some(b"gzip")));
    // A chunked answer that is cut short, and one under the minimum.
    let mut cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nxy".to_vec();
    assert!(!compress_answer(&mut cut, 0, 0, Some(b"gzip")));
    let mut small =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n".to_vec();
    assert!(!compress_answer(&mut small, 0, 2, Some(b"gzip")));
    // An empty body, even with minimum 0.
    let mut empty = answer("", b"");
    assert!(!compress_answer(&mut empty, 6, 0, Some(b"gzip")));
}

#[test]
fn a_relayed_chunked_answer_is_dechunked_then_compressed() {
    let mut out = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-B: 1\r\n\r\n".to_vec();
    let body = b"chunk of text ".repeat(40);
    let (a, b) = body.split_at(200);
    for part in [a, b] {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    assert!(compress_answer(&mut out, 0, 100, Some(b"gzip")));
    let (head, packed) = split(&out);
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "{head}"
    );
    assert!(head.starts_with("HTTP/1.1 201 Created"), "{head}");
    assert!(head.contains("X-B: 1"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", packed.len())),
        "{head}"
    );
    let mut back = Vec::new();
    decode(Coding::Gzip, packed, MAX_DECODED, &mut back).unwrap();
    assert_eq!(back, body);
}

#[test]
fn an_existing_vary_is_extended_once() {
    let body = b"y".repeat(64);
    let mut out = answer("Vary: Origin\r\n", &body);
    assert!(compress_answer(&mut out, 6, 0, Some(b"deflate")));
    let (head, packed) = split(&out[6..]);
    assert!(head.contains("Vary: Origin, Accept-Encoding"), "{head}");
    assert!(head.contains("Content-Encoding: deflate"), "{head}");
    let mut back = Vec::new();
    decode(Coding::Deflate, packed, MAX_DECODED, &mut back).unwrap();
    assert_eq!(back, body);

    let mut out = answer("Vary: accept-encoding\r\n", &body);
    assert!(compress_answer(&mut out, 6, 0, Some(b"gzip")));
    let (head, _) = split(&out[6..]);
    assert_eq!(head.matches("ary:").count(), 1, "{head}");
}
