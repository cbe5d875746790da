//! Binary media types, content handling and payload compression end to end, configured with
//! the stock `aws` CLI and checked byte for byte on the data plane: binary bytes through an
//! HTTP_PROXY unchanged, a MOCK answer base64-encoded by CONVERT_TO_TEXT and decoded back by
//! CONVERT_TO_BINARY (AWS's "Content type conversions in API Gateway" tables), answers at or
//! over `minimumCompressionSize` gzip- or deflate-compressed as `Accept-Encoding` asks (and
//! left alone when the backend encoded them, or the client asked for nothing), compressed
//! request bodies decoded before the backend sees them (with or without compression turned
//! on, as AWS), and a gzip bomb or a body that is not gzip refused (413, 415) with the API's
//! gateway responses.

mod common;

use common::{parse_response, Aws, Response, TestNode};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

fn text(v: &Value) -> String {
    v.as_str().expect("a string").to_string()
}

/// A PNG-like payload: the signature, NULs, high bytes, invalid UTF-8.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\xfd\x00\x80\xc3\x28";

/// A backend that answers with the request's body as `image/png` (the bytes above when the
/// body is empty), saying in `X-Got-Encoding` what `Content-Encoding` it was sent; a path
/// holding `encoded` answers with `Content-Encoding: br` of its own.
fn raw_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    addr
}

fn serve(mut s: TcpStream) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    loop {
        let mut hs = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut hs);
        if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
            let find = |name: &str| {
                req.headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned())
            };
            let len = find("content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            let got = find("content-encoding").unwrap_or_else(|| "none".into());
            let encoded = req.path.unwrap_or("").contains("encoded");
            while buf.len() < n + len {
                match s.read(&mut tmp) {
                    Ok(0) | Err(_) => return,
                    Ok(k) => buf.extend_from_slice(&tmp[..k]),
                }
            }
            let body = if len == 0 {
                PNG.to_vec()
            } else {
                buf[n..n + len].to_vec()
            };
            let extra = if encoded {
                "Content-Encoding: br\r\n"
            } else {
                ""
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nX-Got-Encoding: {got}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
            return;
        }
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => return,
            Ok(k) => buf.extend_from_slice(&tmp[..k]),
        }
    }
}

fn send(
    n: &TestNode,
    host: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> Response {
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    parse_response(&n.raw(&raw)).expect("a response")
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

fn inflate(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(b)
        .read_to_end(&mut out)
        .expect("a zlib body");
    out
}

#[test]
fn binary_media_types_content_handling_and_compression() {
    let backend = raw_backend();
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let api = text(
        &aws.ok(&[
            "create-rest-api",
            "--name",
            "binary",
            "--binary-media-types",
            "image/png",
            "--minimum-compression-size",
            "1024",
        ])["id"],
    );
    let root = text(&aws.ok(&["get-resources", "--rest-api-id", &api])["items"][0]["id"]);
    let mk = |part: &str| {
        text(
            &aws.ok(&[
                "create-resource",
                "--rest-api-id",
                &api,
                "--parent-id",
                &root,
                "--path-part",
                part,
            ])["id"],
        )
    };
    let on = |res: &str, verb: &str, cmd: &str, extra: &[&str]| {
        let mut args = vec![
            cmd,
            "--rest-api-id",
            &api,
            "--resource-id",
            res,
            "--http-method",
            verb,
        ];
        args.extend_from_slice(extra);
        aws.ok(&args)
    };
    // POST /raw and POST /encoded: HTTP_PROXY to the raw backend.
    for part in ["raw", "encoded"] {
        let res = mk(part);
        on(
            &res,
            "POST",
            "put-method",
            &["--authorization-type", "NONE"],
        );
        let uri = format!("http://{backend}/{part}");
        on(
            &res,
            "POST",
            "put-integration",
            &[
                "--type",
                "HTTP_PROXY",
                "--integration-http-method",
                "POST",
                "--uri",
                &uri,
            ],
        );
        // Content conversion is not served on proxy integrations: refused, not ignored.
        let out = aws.run(
            common::SECRET_KEY,
            &[
                "update-integration",
                "--rest-api-id",
                &api,
                "--resource-id",
                &res,
                "--http-method",
                "POST",
                "--patch-operations",
                "op=replace,path=/contentHandling,value=CONVERT_TO_TEXT",
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("BadRequestException") && err.contains("HTTP and MOCK"),
            "{err}"
        );
    }
    // GET /text: a MOCK whose image/png payload CONVERT_TO_TEXT base64-encodes; GET /bin: a
    // MOCK whose text payload (base64) CONVERT_TO_BINARY decodes; GET /big: 4 kB of text.
    let mock = |part: &str, media: &str, template: &str, handling: Option<&str>| {
        let res = mk(part);
        on(&res, "GET", "put-method", &["--authorization-type", "NONE"]);
        on(
            &res,
            "GET",
            "put-integration",
            &[
                "--type",
                "MOCK",
                "--request-templates",
                r#"{"application/json": "{\"statusCode\": 200}"}"#,
            ],
        );
        on(
            &res,
            "GET",
            "put-method-response",
            &["--status-code", "200"],
        );
        let templates = serde_json::json!({ media: template }).to_string();
        let mut args = vec!["--status-code", "200", "--response-templates", &templates];
        if let Some(h) = handling {
            args.extend_from_slice(&["--content-handling", h]);
        }
        let r = on(&res, "GET", "put-integration-response", &args);
        if let Some(h) = handling {
            assert_eq!(r["contentHandling"], h, "{r}");
        }
    };
    mock("text", "image/png", "hello", Some("CONVERT_TO_TEXT"));
    mock(
        "bin",
        "text/plain",
        "aGVsbG8gYmluYXJ5",
        Some("CONVERT_TO_BINARY"),
    );
    let big = "tollgate compresses this line of text. ".repeat(105);
    mock("big", "text/plain", &big, None);
    // POST /http: an HTTP integration whose CONVERT_TO_TEXT sends a binary body as base64;
    // the backend answers it back as image/png, converted by the client's first Accept type.
    let res = mk("http");
    on(
        &res,
        "POST",
        "put-method",
        &["--authorization-type", "NONE"],
    );
    let uri = format!("http://{backend}/http");
    on(
        &res,
        "POST",
        "put-integration",
        &[
            "--type",
            "HTTP",
            "--integration-http-method",
            "POST",
            "--uri",
            &uri,
            "--content-handling",
            "CONVERT_TO_TEXT",
        ],
    );
    on(
        &res,
        "POST",
        "put-method-response",
        &["--status-code", "200"],
    );
    on(
        &res,
        "POST",
        "put-integration-response",
        &["--status-code", "200"],
    );
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "dev",
    ]);
    let host = format!("{api}.execute-api.localhost");
    let h = host.as_str();

    // Binary bytes through the HTTP_PROXY, both ways, unchanged.
    let r = send(
        &n,
        h,
        "POST",
        "/dev/raw",
        "Content-Type: image/png\r\n",
        PNG,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, PNG);
    assert_eq!(r.header("content-type"), Some("image/png"));

    // MOCK + CONVERT_TO_TEXT: the binary payload comes back base64 ("hello").
    let r = send(&n, h, "GET", "/dev/text", "", b"");
    assert_eq!((r.status, r.text()), (200, "aGVsbG8=".to_string()));
    // MOCK + CONVERT_TO_BINARY: the base64 text comes back decoded.
    let r = send(&n, h, "GET", "/dev/bin", "", b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello binary"[..]));

    // HTTP + CONVERT_TO_TEXT: the backend got base64 of the PNG bytes (and answers it back
    // as image/png). With a binary first Accept type the client gets those bytes as they
    // are; with a text one (or none), AWS's table base64-encodes the binary payload again.
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let r = send(
        &n,
        h,
        "POST",
        "/dev/http",
        "Content-Type: image/png\r\nAccept: image/png, text/plain\r\n",
        PNG,
    );
    assert_eq!((r.status, r.text()), (200, b64(PNG)));
    let r = send(
        &n,
        h,
        "POST",
        "/dev/http",
        "Content-Type: image/png\r\nAccept: text/plain, image/png\r\n",
        PNG,
    );
    assert_eq!((r.status, r.text()), (200, b64(b64(PNG).as_bytes())));

    // Compression: gzip and deflate as asked; the client's bytes decode to the original.
    let r = send(
        &n,
        h,
        "GET",
        "/dev/big",
        "Accept-Encoding: gzip, deflate\r\n",
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert!(r.body.len() < big.len() / 4, "{} bytes", r.body.len());
    assert_eq!(gunzip(&r.body), big.as_bytes());
    let r = send(
        &n,
        h,
        "GET",
        "/dev/big",
        "Accept-Encoding: gzip;q=0.5, deflate\r\n",
        b"",
    );
    assert_eq!(r.header("content-encoding"), Some("deflate"));
    assert_eq!(inflate(&r.body), big.as_bytes());
    // No Accept-Encoding (or only identity): as it is.
    for ae in ["", "Accept-Encoding: identity\r\n"] {
        let r = send(&n, h, "GET", "/dev/big", ae, b"");
        assert_eq!(r.header("content-encoding"), None, "{ae:?}");
        assert_eq!(r.body, big.as_bytes());
    }
    // Under the minimum (1024 bytes): not compressed.
    let r = send(&n, h, "GET", "/dev/text", "Accept-Encoding: gzip\r\n", b"");
    assert_eq!(r.header("content-encoding"), None);
    // A proxied answer over the minimum is compressed; one the backend encoded is not.
    let payload = vec![b'z'; 4000];
    let r = send(
        &n,
        h,
        "POST",
        "/dev/raw",
        "Accept-Encoding: gzip\r\n",
        &payload,
    );
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&r.body), payload);
    let r = send(
        &n,
        h,
        "POST",
        "/dev/encoded",
        "Accept-Encoding: gzip\r\n",
        &payload,
    );
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(r.body, payload);

    // A gzip request body is decoded before the backend sees it.
    let r = send(
        &n,
        h,
        "POST",
        "/dev/raw",
        "Content-Encoding: gzip\r\n",
        &gzip(b"{\"pet\": \"dog\"}"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"{\"pet\": \"dog\"}");
    assert_eq!(r.header("x-got-encoding"), Some("none"));
    // A bomb (11 MiB of zeros in ~11 kB) is refused, as is a body that is not gzip, and a
    // coding AWS does not decode.
    let bomb = gzip(&vec![0u8; 11 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);
    let r = send(
        &n,
        h,
        "POST",
        "/dev/raw",
        "Content-Encoding: gzip\r\n",
        &bomb,
    );
    assert_eq!(r.status, 413);
    assert!(r.json()["message"].is_string(), "{}", r.text());
    for (coding, body) in [("gzip", &b"not gzip"[..]), ("br", &b"x"[..])] {
        let headers = format!("Content-Encoding: {coding}\r\n");
        let r = send(&n, h, "POST", "/dev/raw", &headers, body);
        assert_eq!(r.status, 415, "{coding}");
        assert!(r.json()["message"].is_string(), "{}", r.text());
    }

    // The refusals are the API's gateway responses (REQUEST_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE)
    // once it shapes them, as every other refusal of a known stage.
    for (kind, status) in [
        ("REQUEST_TOO_LARGE", "400"),
        ("UNSUPPORTED_MEDIA_TYPE", "422"),
    ] {
        aws.ok(&[
            "put-gateway-response",
            "--rest-api-id",
            &api,
            "--response-type",
            kind,
            "--status-code",
            status,
            "--response-parameters",
            r#"{"gatewayresponse.header.X-Shaped": "'yes'"}"#,
            "--response-templates",
            r#"{"application/json": "{\"shaped\": \"$context.error.responseType\", \"id\": \"$context.requestId\"}"}"#,
        ]);
    }
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "dev",
    ]);
    let r = send(
        &n,
        h,
        "POST",
        "/dev/raw",
        "Content-Encoding: gzip\r\n",
        &bomb,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("x-shaped"), Some("yes"));
    assert_eq!(r.json()["shaped"], "REQUEST_TOO_LARGE", "{}", r.text());
    assert!(!text(&r.json()["id"]).is_empty());
    for (coding, body) in [("gzip", &b"not gzip"[..]), ("br", &b"x"[..])] {
        let headers = format!("Content-Encoding: {coding}\r\n");
        let r = send(&n, h, "POST", "/dev/raw", &headers, body);
        assert_eq!(r.status, 422, "{coding}: {}", r.text());
        assert_eq!(r.header("x-shaped"), Some("yes"));
        assert_eq!(r.json()["shaped"], "UNSUPPORTED_MEDIA_TYPE", "{}", r.text());
    }

    // Turning compression off (remove minimumCompressionSize) stops compressing answers after
    // a deployment; request bodies are still decoded, as AWS does by default.
    aws.ok(&[
        "update-rest-api",
        "--rest-api-id",
        &api,
        "--patch-operations",
        "op=remove,path=/minimumCompressionSize",
    ]);
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "dev",
    ]);
    let r = send(&n, h, "GET", "/dev/big", "Accept-Encoding: gzip\r\n", b"");
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body, big.as_bytes());
    let packed = gzip(b"decoded all the same");
    let r = send(
        &n,
        h,
        "POST",
        "/dev/raw",
        "Content-Encoding: gzip\r\n",
        &packed,
    );
    assert_eq!(r.header("x-got-encoding"), Some("none"));
    assert_eq!(r.body, b"decoded all the same");
}
