//! Fuzz target: SigV4 verification (`crate::sigv4`). Mutated `Authorization` headers,
//! presigned query strings, paths, header lists and dates never panic, and every refusal has
//! the AWS error shape (status 403, an error type, a message). Requests signed by the signer
//! from random (valid) parts always verify.

use super::{run, Mutator};
use crate::sigv4::{self, Credentials, Request, VerifyError};
use rand::Rng;

const REGION: &str = "us-east-1";
const SERVICE: &str = "apigateway";
const NOW: i64 = 1_700_000_000;

const TOKENS: &[&str] = &[
    "AWS4-HMAC-SHA256",
    "Credential=",
    "SignedHeaders=",
    "Signature=",
    "AKIDEXAMPLE/20231114/us-east-1/apigateway/aws4_request",
    "/",
    ",",
    ", ",
    ";",
    "host",
    "x-amz-date",
    "X-Amz-Algorithm=AWS4-HMAC-SHA256",
    "X-Amz-Expires=",
    "X-Amz-Date=",
    "X-Amz-Signature=",
    "X-Amz-Credential=",
    "X-Amz-SignedHeaders=",
    "%2F",
    "%",
    "%zz",
    "%C3%A9",
    "..",
    "./",
    "//",
    "=",
    "&",
    "20231114T221320Z",
    "99999999T999999Z",
    "604801",
    "-1",
    "UNSIGNED-PAYLOAD",
];

fn creds() -> Credentials {
    Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
    }
}

fn secret_for(id: &str) -> Option<String> {
    (id == "AKIDEXAMPLE").then(|| creds().secret_access_key)
}

fn check(result: Result<String, VerifyError>) {
    if let Err(e) = result {
        assert_eq!(e.status(), 403, "{e:?}");
        assert!(!e.error_type().is_empty());
        assert!(e.error_type().ends_with("Exception"), "{e:?}");
        assert!(!e.message().is_empty(), "{e:?}");
    }
}

fn base_headers() -> Vec<(String, String)> {
    vec![
        ("Host".into(), "127.0.0.1:9001".into()),
        ("Content-Type".into(), "application/json".into()),
        ("X-Custom".into(), "  a   b ".into()),
    ]
}

/// Everything the canonicalisation helpers take, mutated: they must not panic either.
fn canonical_helpers(m: &mut Mutator, path: &str, query: &str) {
    let _ = sigv4::canonical_uri(path, true);
    let _ = sigv4::canonical_uri(path, false);
    let _ = sigv4::normalize_path(path);
    let _ = sigv4::canonical_query_string(query);
    let date = m.mutate_str("20231114T221320Z", TOKENS);
    let _ = sigv4::parse_amz_date(&date);
    let http_date = m.mutate_str("Tue, 14 Nov 2023 22:13:20 GMT", TOKENS);
    let _ = sigv4::parse_http_date(&http_date);
    let headers = vec![(m.mutate_str("X-A", TOKENS), m.mutate_str(" v  w ", TOKENS))];
    let names = [m.mutate_str("x-a", TOKENS)];
    let _ = sigv4::canonical_headers(&headers, &names);
}

#[test]
fn fuzz_sigv4_header_and_query_forms() {
    let body = br#"{"name":"x"}"#;
    let path = "/restapis/abc/resources";
    let query = "limit=5&position=x%20y";
    let headers = base_headers();
    let req = Request {
        method: "POST",
        path,
        query,
        headers: &headers,
        body,
    };
    let signed = sigv4::sign(&req, &creds(), REGION, SERVICE, NOW);
    let presigned = sigv4::presign(&req, &creds(), REGION, SERVICE, NOW, 300);
    let mut with_auth = headers.clone();
    with_auth.extend(signed.iter().cloned());
    // The unmutated requests verify.
    let ok = Request {
        headers: &with_auth,
        ..req
    };
    assert!(sigv4::verify(&ok, secret_for, Some(REGION), SERVICE, NOW).is_ok());
    let ok = Request {
        query: &presigned,
        ..req
    };
    assert!(sigv4::verify(&ok, secret_for, Some(REGION), SERVICE, NOW).is_ok());

    run("sigv4", 500, |m| {
        let mut headers = with_auth.clone();
        let mut query = query.to_string();
        let mut path = path.to_string();
        let mut body = body.to_vec();
        match m.rng.gen_range(0..6) {
            0 => {
                let i = headers.iter().position(|(n, _)| n == "Authorization");
                if let Some(i) = i {
                    headers[i].1 = m.mutate_str(&headers[i].1, TOKENS);
                }
            }
            1 => {
                headers.retain(|(n, _)| n != "Authorization");
                query = m.mutate_str(&presigned, TOKENS);
            }
            2 => path = m.mutate_str(&path, TOKENS),
            3 => {
                let i = m.rng.gen_range(0..headers.len());
                if m.rng.gen_bool(0.5) {
                    headers[i].0 = m.mutate_str(&headers[i].0, TOKENS);
                } else {
                    headers[i].1 = m.mutate_str(&headers[i].1, TOKENS);
                }
                if m.rng.gen_bool(0.2) {
                    headers.push(headers[i].clone());
                }
            }
            4 => body = m.mutate(&body, TOKENS),
            _ => {
                // Both forms at once, or query mutated with the header form.
                query = m.mutate_str(&presigned, TOKENS);
            }
        }
        let method = if m.rng.gen_bool(0.9) { "POST" } else { "get" };
        let req = Request {
            method,
            path: &path,
            query: &query,
            headers: &headers,
            body: &body,
        };
        let now = NOW + m.rng.gen_range(-2_000..2_000);
        check(sigv4::verify(&req, secret_for, Some(REGION), SERVICE, now));
        check(sigv4::verify(&req, secret_for, None, SERVICE, now));
        canonical_helpers(m, &path, &query);
    });
}

/// Random valid parts (unreserved and percent-encoded path characters, query pairs with
/// repeated keys and empty values, header values with inner whitespace): what the signer
/// signs, the verifier accepts, in both forms.
#[test]
fn fuzz_sigv4_signed_requests_verify() {
    const PATH_CHARS: &[&str] = &[
        "a", "Z", "0", "-", "_", ".", "~", "%20", "%2F", "%C3%A9", "/", "{", "}", "+",
    ];
    const QUERY_CHARS: &[&str] = &["a", "b", "1", "%20", "+", "-", "~", "%3D", "%26", "*"];
    run("sigv4 round trip", 200, |m| {
        let mut path = String::from("/");
        for _ in 0..m.rng.gen_range(0..12) {
            let c = m.pick::<&str>(PATH_CHARS);
            path.push_str(c);
        }
        let mut pairs = Vec::new();
        for _ in 0..m.rng.gen_range(0..4) {
            let mut k = String::new();
            for _ in 0..m.rng.gen_range(1..4) {
                let c = m.pick::<&str>(QUERY_CHARS);
                k.push_str(c);
            }
            let mut v = String::new();
            for _ in 0..m.rng.gen_range(0..4) {
                let c = m.pick::<&str>(QUERY_CHARS);
                v.push_str(c);
            }
            pairs.push(format!("{k}={v}"));
        }
        let query = pairs.join("&");
        let mut headers = base_headers();
        if m.rng.gen_bool(0.5) {
            let v = format!(" x {}  y ", m.rng.gen::<u16>());
            headers.push(("X-Extra".into(), v.clone()));
            headers.push(("x-extra".into(), v));
        }
        let body: Vec<u8> = (0..m.rng.gen_range(0..64)).map(|_| m.rng.gen()).collect();
        let req = Request {
            method: "PATCH",
            path: &path,
            query: &query,
            headers: &headers,
            body: &body,
        };
        let mut signed_headers = headers.clone();
        signed_headers.extend(sigv4::sign(&req, &creds(), REGION, SERVICE, NOW));
        let header_form = Request {
            headers: &signed_headers,
            ..req
        };
        assert_eq!(
            sigv4::verify(&header_form, secret_for, Some(REGION), SERVICE, NOW + 60),
            Ok("AKIDEXAMPLE".to_string()),
            "{path}?{query}"
        );
        let presigned = sigv4::presign(&req, &creds(), REGION, SERVICE, NOW, 600);
        let query_form = Request {
            query: &presigned,
            ..req
        };
        assert_eq!(
            sigv4::verify(&query_form, secret_for, Some(REGION), SERVICE, NOW + 60),
            Ok("AKIDEXAMPLE".to_string()),
            "{path}?{presigned}"
        );
    });
}
