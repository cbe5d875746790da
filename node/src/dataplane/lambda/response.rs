//! A Lambda proxy function's answer, as AWS turns it into the client's: an object with only
//! `statusCode`, `headers`, `multiValueHeaders`, `body` and `isBase64Encoded`. A key besides
//! these, a `statusCode` that is not an integer (a string of one is accepted), a bare string
//! or other non-object, a multi-value header that is not a list, or a header or body that is
//! an object is a malformed answer (the gateway answers 502). No `statusCode` means 200; a
//! header in both maps gets the values of both (a value in both once); no `Content-Type`
//! means `application/json`; a base64 body is decoded when the response's content type is a
//! binary media type of the API.

use crate::dataplane::http1::is_hop_by_hop;
use crate::dataplane::remap;
use crate::text_rules::{is_header_name, is_header_value};
use base64::Engine;
use serde_json::Value;

/// The client's answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// Header fields in order (no framing fields), `Content-Type` always among them.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Why an answer is malformed (for the log).
pub type Malformed = &'static str;

const KEYS: [&str; 5] = [
    "statusCode",
    "headers",
    "multiValueHeaders",
    "body",
    "isBase64Encoded",
];

/// A scalar as the text AWS would make of it; `Ok(None)` for `null`.
fn scalar(v: &Value, what: Malformed) -> Result<Option<String>, Malformed> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(what),
    }
}

fn status(v: Option<&Value>) -> Result<u16, Malformed> {
    const BAD: Malformed = "malformed Lambda proxy response: statusCode is not an integer";
    let n = match v {
        None | Some(Value::Null) => return Ok(200),
        Some(Value::Number(n)) => n.as_u64().ok_or(BAD)?,
        Some(Value::String(s)) => s.trim().parse::<u64>().map_err(|_| BAD)?,
        Some(_) => return Err(BAD),
    };
    match u16::try_from(n) {
        Ok(s) if (100..=599).contains(&s) => Ok(s),
        _ => Err("malformed Lambda proxy response: statusCode is not an HTTP status"),
    }
}

/// Parses the function's answer; `binary_media_types` are the API's.
pub fn parse(payload: &[u8], binary_media_types: &[Box<str>]) -> Result<Reply, Malformed> {
    let v: Value =
        serde_json::from_slice(payload).map_err(|_| "malformed Lambda proxy response: not JSON")?;
    let Value::Object(o) = v else {
        return Err("malformed Lambda proxy response: not a JSON object");
    };
    if o.keys().any(|k| !KEYS.contains(&k.as_str())) {
        return Err("malformed Lambda proxy response: unknown key");
    }
    let status = status(o.get("statusCode"))?;
    let mut headers: Vec<(String, String)> = Vec::new();
    match o.get("multiValueHeaders") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (name, values) in m {
                let values = match values {
                    Value::Null => continue,
                    Value::Array(a) => a,
                    _ => return Err(
                        "malformed Lambda proxy response: a multiValueHeaders value is not a list",
                    ),
                };
                for v in values {
                    let what = "malformed Lambda proxy response: a multi-value header value is not a scalar";
                    if let Some(s) = scalar(v, what)? {
                        headers.push((name.clone(), s));
                    }
                }
            }
        }
        Some(_) => {
            return Err("malformed Lambda proxy response: multiValueHeaders is not an object")
        }
    }
    match o.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (name, v) in m {
                let what = "malformed Lambda proxy response: a header value is not a scalar";
                let Some(s) = scalar(v, what)? else {
                    continue;
                };
                // The same name and value in both maps is sent once.
                if !headers
                    .iter()
                    .any(|(n, x)| n.eq_ignore_ascii_case(name) && *x == s)
                {
                    headers.push((name.clone(), s));
                }
            }
        }
        Some(_) => return Err("malformed Lambda proxy response: headers is not an object"),
    }
    for (n, v) in &headers {
        if !is_header_name(n) || !is_header_value(v) {
            return Err(
                "malformed Lambda proxy response: a header name or value is not valid HTTP",
            );
        }
    }
    // The gateway frames the answer itself and keeps its own `Date`, `Server`, ... : the
    // function's reach the client renamed `x-amzn-Remapped-<name>`, as AWS remaps them on
    // Lambda proxy answers just as on HTTP proxy ones (`crate::dataplane::remap`; a
    // `WWW-Authenticate` or `Authorization` returned by a proxy function arriving as
    // `x-amzn-Remapped-WWW-Authenticate` / `x-amzn-Remapped-Authorization` is a known AWS
    // behaviour, e.g. https://www.volcengine.com/article/739377 quoting a Stack Exchange
    // question). Other hop-by-hop fields are dropped.
    headers.retain(|(n, _)| remap::is_remapped(n.as_bytes()) || !is_hop_by_hop(n.as_bytes()));
    for (n, _) in &mut headers {
        if remap::is_remapped(n.as_bytes()) {
            let mut renamed = String::from_utf8_lossy(remap::PREFIX).into_owned();
            renamed.push_str(n);
            *n = renamed;
        }
    }
    let content_type = match headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        Some((_, v)) => v.clone(),
        None => {
            headers.push(("Content-Type".into(), "application/json".into()));
            "application/json".into()
        }
    };
    let is_base64 = match o.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err("malformed Lambda proxy response: isBase64Encoded is not a boolean"),
    };
    let body = scalar(
        o.get("body").unwrap_or(&Value::Null),
        "malformed Lambda proxy response: body is not a string",
    )?
    .unwrap_or_default();
    let body = if is_base64 && super::is_binary(&content_type, binary_media_types) {
        base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|_| "malformed Lambda proxy response: body is not valid base64")?
    } else {
        body.into_bytes()
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Reply {
        parse(s.as_bytes(), &[]).unwrap()
    }

    fn malformed(s: &str) {
        assert!(parse(s.as_bytes(), &[]).is_err(), "{s} must be refused");
    }

    fn header<'r>(r: &'r Reply, name: &str) -> Vec<&'r str> {
        r.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn full_answer() {
        let r = ok(
            r#"{"statusCode": 201, "headers": {"Content-Type": "text/plain", "X-A": "1"}, "body": "made", "isBase64Encoded": false}"#,
        );
        assert_eq!(r.status, 201);
        assert_eq!(header(&r, "content-type"), ["text/plain"]);
        assert_eq!(header(&r, "x-a"), ["1"]);
        assert_eq!(r.body, b"made");
    }

    #[test]
    fn unknown_key_is_malformed() {
        malformed(r#"{"statusCode": 200, "body": "x", "extra": 1}"#);
    }

    #[test]
    fn status_code_must_be_an_integer_a_string_of_one_is_accepted() {
        assert_eq!(ok(r#"{"statusCode": "201"}"#).status, 201);
        malformed(r#"{"statusCode": "abc"}"#);
        malformed(r#"{"statusCode": 200.5}"#);
        malformed(r#"{"statusCode": true}"#);
        malformed(r#"{"statusCode": 42}"#);
        malformed(r#"{"statusCode": 70000}"#);
    }

    #[test]
    fn no_status_code_means_200() {
        let r = ok(r#"{"body": "x"}"#);
        assert_eq!(r.status, 200);
        assert_eq!(ok("{}").body, b"");
    }

    #[test]
    fn bare_string_and_other_non_objects_are_malformed() {
        malformed(r#""hello""#);
        malformed("42");
        malformed("null");
        malformed("[1]");
        malformed("not json");
    }

    #[test]
    fn multi_value_headers_must_be_lists() {
        malformed(r#"{"multiValueHeaders": {"X-A": "1"}}"#);
        malformed(r#"{"multiValueHeaders": {"X-A": [{"a": 1}]}}"#);
        malformed(r#"{"headers": {"X-A": ["1"]}}"#);
        malformed(r#"{"body": {"a": 1}}"#);
    }

    #[test]
    fn same_header_in_both_maps_is_joined() {
        let r = ok(
            r#"{"headers": {"X-A": "h", "X-B": "same"}, "multiValueHeaders": {"X-A": ["m1", "m2"], "X-B": ["same"]}}"#,
        );
        assert_eq!(header(&r, "x-a"), ["m1", "m2", "h"]);
        assert_eq!(header(&r, "x-b"), ["same"]);
    }

    #[test]
    fn content_type_defaults_to_json() {
        let r = ok(r#"{"body": "{}"}"#);
        assert_eq!(header(&r, "content-type"), ["application/json"]);
    }

    #[test]
    fn base64_body_decoded_only_for_binary_types() {
        let s = r#"{"headers": {"Content-Type": "image/png"}, "body": "iVBORw==", "isBase64Encoded": true}"#;
        let types: Vec<Box<str>> = vec!["image/png".into()];
        assert_eq!(parse(s.as_bytes(), &types).unwrap().body, b"\x89PNG");
        assert_eq!(parse(s.as_bytes(), &[]).unwrap().body, b"iVBORw==");
        let bad = s.replace("iVBORw==", "***");
        assert!(parse(bad.as_bytes(), &types).is_err());
    }

    #[test]
    fn framing_and_invalid_headers() {
        let r = ok(
            r#"{"headers": {"Content-Length": "99", "Transfer-Encoding": "chunked", "X-Ok": "1"}, "body": "ab"}"#,
        );
        assert!(header(&r, "content-length").is_empty());
        assert!(header(&r, "transfer-encoding").is_empty());
        // The gateway's own headers come back renamed, as AWS remaps them.
        assert_eq!(header(&r, "x-amzn-Remapped-Content-Length"), ["99"]);
        let r = ok(
            r#"{"headers": {"Date": "Mon, 01 Jan 2024 00:00:00 GMT", "Server": "fn", "WWW-Authenticate": "Basic", "Connection": "close", "Keep-Alive": "5", "x-amzn-RequestId": "r1", "X-Ok": "1"}}"#,
        );
        for (name, value) in [
            ("x-amzn-Remapped-Date", "Mon, 01 Jan 2024 00:00:00 GMT"),
            ("x-amzn-Remapped-Server", "fn"),
            ("x-amzn-Remapped-WWW-Authenticate", "Basic"),
            ("x-amzn-Remapped-Connection", "close"),
            ("x-amzn-Remapped-x-amzn-RequestId", "r1"),
            ("X-Ok", "1"),
        ] {
            assert_eq!(header(&r, name), [value], "{name}");
        }
        for gone in [
            "Date",
            "Server",
            "WWW-Authenticate",
            "Connection",
            "Keep-Alive",
        ] {
            assert!(header(&r, gone).is_empty(), "{gone}");
        }
        malformed(r#"{"headers": {"X-Evil": "a\r\nInjected: 1"}}"#);
        malformed(r#"{"headers": {"Bad Name": "1"}}"#);
    }

    #[test]
    fn scalars_become_text() {
        let r = ok(r#"{"headers": {"X-N": 5, "X-B": true, "X-Null": null}, "body": 12}"#);
        assert_eq!(header(&r, "x-n"), ["5"]);
        assert_eq!(header(&r, "x-b"), ["true"]);
        assert!(header(&r, "x-null").is_empty());
        assert_eq!(r.body, b"12");
    }
}
