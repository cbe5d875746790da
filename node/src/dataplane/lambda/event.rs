//! The event an AWS_PROXY integration sends its function (payload format 1.0), as AWS builds
//! it: `resource`, `path` (without the stage), `httpMethod`, `headers` and
//! `multiValueHeaders` (names as the client wrote them; the single-value map holds the last
//! value), the query string decoded into `queryStringParameters` and
//! `multiValueQueryStringParameters`, `pathParameters`, `stageVariables` (each map `null` when
//! empty), `requestContext`, and `body` (`null` when empty; base64 with `isBase64Encoded: true`
//! when the request's content type is one of the API's binary media types).

use crate::dataplane::authorizer::AuthorizerResult;
use crate::dataplane::phases::authorize::CallerIdentity;
use base64::Engine;
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

/// What the event is built from (all of it borrowed from the request and the compiled table).
pub struct EventInput<'a> {
    /// The request method.
    pub http_method: &'a str,
    /// The stage-relative path as requested.
    pub path: &'a str,
    /// The raw query string (no `?`).
    pub query: &'a str,
    /// The header fields in arrival order.
    pub headers: &'a [(&'a [u8], &'a [u8])],
    /// The body (de-chunked).
    pub body: &'a [u8],
    /// The method's path parameters: (name, raw value).
    pub path_parameters: &'a [(&'a str, &'a str)],
    /// The method's resource path (`/pets/{petId}`).
    pub resource_path: &'a str,
    /// The method's resource id.
    pub resource_id: &'a str,
    /// The API id.
    pub api_id: &'a str,
    /// The stage name.
    pub stage: &'a str,
    /// The deployment the stage serves.
    pub deployment_id: &'a str,
    /// The stage's variables.
    pub stage_variables: &'a [(Box<str>, Box<str>)],
    /// The API's binary media types.
    pub binary_media_types: &'a [Box<str>],
    /// The request id (`x-amzn-RequestId`).
    pub request_id: &'a str,
    /// When the request arrived, milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// The client's address.
    pub source_ip: &'a str,
    /// The API key the request was admitted with, when the method requires one.
    pub api_key: Option<&'a str>,
    /// The account id the API belongs to.
    pub account_id: &'a str,
    /// Who the request was authorized as (`AWS_IAM` methods).
    pub identity: Option<&'a CallerIdentity>,
    /// What the TLS handshake established (custom domain names).
    pub tls: Option<&'a crate::dataplane::request::TlsInfo>,
    /// On a custom domain, the path as the client sent it (base path included): the event's
    /// `path` and `requestContext.path`, as AWS gives them there (else `path` is the API's own
    /// and `requestContext.path` is `/{stage}{path}`). `resource` and
    /// `requestContext.resourcePath` stay the resource's template either way.
    pub sent_path: Option<&'a str>,
    /// What a Lambda authorizer answered (`CUSTOM` methods): `requestContext.authorizer`.
    pub authorizer: Option<&'a AuthorizerResult>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// A single-value and a multi-value map of `pairs` (the single-value one holds the last
/// value), each `null` when there are none.
fn maps(pairs: impl Iterator<Item = (String, String)>) -> (Value, Value) {
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (k, v) in pairs {
        single.insert(k.clone(), Value::String(v.clone()));
        match multi.get_mut(&k) {
            Some(Value::Array(list)) => list.push(Value::String(v)),
            _ => {
                multi.insert(k, Value::Array(vec![Value::String(v)]));
            }
        }
    }
    if single.is_empty() {
        (Value::Null, Value::Null)
    } else {
        (Value::Object(single), Value::Object(multi))
    }
}

fn map_or_null<'a>(pairs: impl Iterator<Item = (&'a str, String)>) -> Value {
    let m: Map<String, Value> = pairs
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    if m.is_empty() {
        Value::Null
    } else {
        Value::Object(m)
    }
}

/// A short id derived from the request id, shaped like AWS's `extendedRequestId`.
fn extended_request_id(request_id: &str) -> String {
    let hex: Vec<u8> = request_id
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .collect::<Vec<_>>()
        .chunks(2)
        .filter_map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .take(11)
        .collect();
    base64::engine::general_purpose::STANDARD.encode(hex)
}

/// The event, as JSON bytes.
pub fn build(i: &EventInput<'_>) -> Vec<u8> {
    value(i).to_string().into_bytes()
}

/// `requestContext.authorizer`: `principalId` and each `context` entry, as text (a Cognito
/// authorizer's: `claims`).
fn authorizer_context(a: &AuthorizerResult) -> Value {
    let mut m = Map::new();
    if let Some(claims) = &a.claims {
        // A Cognito authorizer's: `{"claims": {...}}`, each claim as text.
        let c = claims
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        m.insert("claims".into(), Value::Object(c));
        return Value::Object(m);
    }
    m.insert(
        "principalId".into(),
        Value::String(a.principal_id.to_string()),
    );
    for (k, v) in &a.context {
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
    Value::Object(m)
}

/// The event, as a JSON value (the `REQUEST` authorizer's event is built from it).
pub fn value(i: &EventInput<'_>) -> Value {
    let header_pairs = || i.headers.iter().map(|(n, v)| (text(n), text(v)));
    let (headers, multi_headers) = maps(header_pairs());
    let header = |name: &str| {
        i.headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| text(v))
    };
    let query_pairs = i.query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    });
    let (query, multi_query) = maps(query_pairs);
    let path_parameters = map_or_null(i.path_parameters.iter().map(|(k, v)| (*k, decode(v))));
    let stage_variables = map_or_null(i.stage_variables.iter().map(|(k, v)| (&**k, v.to_string())));
    let content_type = header("content-type").unwrap_or_default();
    let binary = super::is_binary(&content_type, i.binary_media_types);
    let (body, is_base64) = if i.body.is_empty() {
        (Value::Null, false)
    } else if binary {
        (
            Value::String(base64::engine::general_purpose::STANDARD.encode(i.body)),
            true,
        )
    } else {
        (Value::String(text(i.body)), false)
    };
    // A custom domain: the name the client asked for (no port), as AWS gives it.
    let domain = match i.tls {
        Some(t) => t.sni.to_string(),
        None => header("host").unwrap_or_default(),
    };
    let client_cert = i.tls.and_then(|t| t.client_cert.as_ref()).map(|c| {
        json!({
            "clientCertPem": c.pem,
            "subjectDN": c.subject_dn,
            "issuerDN": c.issuer_dn,
            "serialNumber": c.serial_number,
            "validity": { "notBefore": c.not_before, "notAfter": c.not_after },
        })
    });
    let domain_prefix = domain.split('.').next().unwrap_or("").to_string();
    let stage_path = match i.sent_path {
        Some(p) => p.to_owned(),
        None => format!("/{}{}", i.stage, i.path),
    };
    let mut event = json!({
        "resource": i.resource_path,
        "path": i.sent_path.unwrap_or(i.path),
        "httpMethod": i.http_method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters,
        "stageVariables": stage_variables,
        "requestContext": {
            "accountId": i.account_id,
            "apiId": i.api_id,
            "deploymentId": i.deployment_id,
            "domainName": domain,
            "domainPrefix": domain_prefix,
            "extendedRequestId": extended_request_id(i.request_id),
            "httpMethod": i.http_method,
            "identity": {
                "accessKey": i.identity.map(|c| &c.access_key),
                "accountId": i.identity.map(|c| &c.account_id),
                "apiKey": i.api_key,
                "apiKeyId": null,
                "caller": i.identity.map(|c| &c.caller),
                "clientCert": client_cert,
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": i.source_ip,
                "user": i.identity.map(|c| &c.user),
                "userAgent": header("user-agent"),
                "userArn": i.identity.map(|c| &c.user_arn),
            },
            "path": stage_path,
            "protocol": "HTTP/1.1",
            "requestId": i.request_id,
            "requestTime": crate::dataplane::mapping::request_time(i.now_ms),
            "requestTimeEpoch": i.now_ms,
            "resourceId": i.resource_id,
            "resourcePath": i.resource_path,
            "stage": i.stage,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    });
    if let (Some(a), Some(c)) = (i.authorizer, event.get_mut("requestContext")) {
        if let Some(c) = c.as_object_mut() {
            c.insert("authorizer".into(), authorizer_context(a));
        }
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(
        headers: &'a [(&'a [u8], &'a [u8])],
        query: &'a str,
        body: &'a [u8],
    ) -> EventInput<'a> {
        EventInput {
            http_method: "POST",
            path: "/pets/a%20b",
            query,
            headers,
            body,
            path_parameters: &[("petId", "a%20b")],
            resource_path: "/pets/{petId}",
            resource_id: "res123",
            api_id: "abc123defg",
            stage: "dev",
            deployment_id: "dep456",
            stage_variables: &[],
            binary_media_types: &[],
            request_id: "c6af9ac6-7b61-41f2-8a1d-2f8c8d4e5a6b",
            now_ms: 1_764_644_445_123,
            source_ip: "127.0.0.1",
            api_key: None,
            account_id: "123456789012",
            identity: None,
            tls: None,
            sent_path: None,
            authorizer: None,
        }
    }

    fn event(i: &EventInput<'_>) -> Value {
        serde_json::from_slice(&build(i)).unwrap()
    }

    #[test]
    fn top_level_fields() {
        let h: &[(&[u8], &[u8])] = &[(b"Host", b"abc123defg.execute-api.local")];
        let e = event(&input(h, "", b""));
        assert_eq!(e["resource"], "/pets/{petId}");
        assert_eq!(e["path"], "/pets/a%20b");
        assert_eq!(e["httpMethod"], "POST");
        assert_eq!(e["pathParameters"], json!({"petId": "a b"}));
        assert_eq!(e["queryStringParameters"], Value::Null);
        assert_eq!(e["multiValueQueryStringParameters"], Value::Null);
        assert_eq!(e["stageVariables"], Value::Null);
        assert_eq!(e["body"], Value::Null);
        assert_eq!(e["isBase64Encoded"], false);
    }

    #[test]
    fn headers_keep_their_case_and_every_value() {
        let h: &[(&[u8], &[u8])] = &[
            (b"Host", b"h"),
            (b"X-Multi", b"one"),
            (b"x-multi", b"lower"),
            (b"X-Multi", b"two"),
        ];
        let e = event(&input(h, "", b""));
        assert_eq!(e["headers"]["X-Multi"], "two");
        assert_eq!(e["headers"]["x-multi"], "lower");
        assert_eq!(e["multiValueHeaders"]["X-Multi"], json!(["one", "two"]));
        assert_eq!(e["headers"]["Host"], "h");
    }

    #[test]
    fn query_is_decoded_single_takes_the_last() {
        let e = event(&input(&[], "a=1&a=2&b=x%20y&flag", b""));
        assert_eq!(
            e["queryStringParameters"],
            json!({"a": "2", "b": "x y", "flag": ""})
        );
        assert_eq!(e["multiValueQueryStringParameters"]["a"], json!(["1", "2"]));
    }

    #[test]
    fn body_text_or_base64_for_binary_types() {
        let e = event(&input(&[(b"Content-Type", b"text/plain")], "", b"hi"));
        assert_eq!(e["body"], "hi");
        assert_eq!(e["isBase64Encoded"], false);
        let types: Vec<Box<str>> = vec!["image/png".into()];
        let h: &[(&[u8], &[u8])] = &[(b"Content-Type", b"image/png")];
        let mut i = input(h, "", b"\x89PNG");
        i.binary_media_types = &types;
        let e = event(&i);
        assert_eq!(e["body"], "iVBORw==");
        assert_eq!(e["isBase64Encoded"], true);
    }

    #[test]
    fn a_custom_domain_gives_its_name_and_the_client_certificate() {
        let h: &[(&[u8], &[u8])] = &[(b"Host", b"api.example.com:8443")];
        let tls = crate::dataplane::request::TlsInfo {
            sni: "api.example.com".into(),
            client_cert: Some(crate::dataplane::request::ClientCert {
                pem: "PEM".into(),
                subject_dn: "CN=alice".into(),
                issuer_dn: "CN=CA".into(),
                serial_number: "256".into(),
                not_before: "May 28 00:00:00 2024 GMT".into(),
                not_after: "Jan  2 00:00:00 2030 GMT".into(),
            }),
        };
        let mut i = input(h, "", b"");
        i.tls = Some(&tls);
        let c = &event(&i)["requestContext"];
        assert_eq!(c["domainName"], "api.example.com");
        assert_eq!(c["domainPrefix"], "api");
        // Without the path the client sent, the stage's form; with it, that path.
        assert_eq!(c["path"], "/dev/pets/a%20b");
        i.sent_path = Some("/v1/pets/a%20b");
        let e = event(&i);
        assert_eq!(e["requestContext"]["path"], "/v1/pets/a%20b");
        // AWS gives the base path in the top-level `path` too on a custom domain (the known
        // "basePath" quirk that serverless-express and friends strip); the resource stays.
        assert_eq!(e["path"], "/v1/pets/a%20b");
        assert_eq!(e["resource"], "/pets/{petId}");
        assert_eq!(e["requestContext"]["resourcePath"], "/pets/{petId}");
        assert_eq!(e["pathParameters"], json!({"petId": "a b"}));
        let cert = &c["identity"]["clientCert"];
        assert_eq!(cert["subjectDN"], "CN=alice");
        assert_eq!(cert["issuerDN"], "CN=CA");
        assert_eq!(cert["serialNumber"], "256");
        assert_eq!(cert["clientCertPem"], "PEM");
        assert_eq!(cert["validity"]["notAfter"], "Jan  2 00:00:00 2030 GMT");
        i.tls = None;
        assert!(event(&i)["requestContext"]["identity"]["clientCert"].is_null());
    }

    #[test]
    fn request_context() {
        let h: &[(&[u8], &[u8])] = &[
            (b"Host", b"abc123defg.execute-api.local"),
            (b"User-Agent", b"curl/8"),
        ];
        let vars = [("color".into(), "blue".into())];
        let mut i = input(h, "", b"");
        i.stage_variables = &vars;
        i.api_key = Some("key-1");
        let e = event(&i);
        assert_eq!(e["stageVariables"], json!({"color": "blue"}));
        let c = &e["requestContext"];
        assert_eq!(c["accountId"], "123456789012");
        assert_eq!(c["apiId"], "abc123defg");
        assert_eq!(c["deploymentId"], "dep456");
        assert_eq!(c["domainName"], "abc123defg.execute-api.local");
        assert_eq!(c["domainPrefix"], "abc123defg");
        assert_eq!(c["httpMethod"], "POST");
        assert_eq!(c["path"], "/dev/pets/a%20b");
        assert_eq!(c["protocol"], "HTTP/1.1");
        assert_eq!(c["requestId"], "c6af9ac6-7b61-41f2-8a1d-2f8c8d4e5a6b");
        assert_eq!(c["requestTime"], "02/Dec/2025:03:00:45 +0000");
        assert_eq!(c["requestTimeEpoch"], 1_764_644_445_123u64);
        assert_eq!(c["resourceId"], "res123");
        assert_eq!(c["resourcePath"], "/pets/{petId}");
        assert_eq!(c["stage"], "dev");
        assert_eq!(c["identity"]["sourceIp"], "127.0.0.1");
        assert_eq!(c["identity"]["userAgent"], "curl/8");
        assert_eq!(c["identity"]["apiKey"], "key-1");
        assert!(c["extendedRequestId"]
            .as_str()
            .is_some_and(|s| s.len() == 16));
        assert!(c.get("authorizer").is_none());
    }

    #[test]
    fn request_time_format() {
        // The same clock format as `$context.requestTime` (one function for both).
        let at = |ms: u64| {
            let mut i = input(&[], "", b"");
            i.now_ms = ms;
            event(&i)["requestContext"]["requestTime"].clone()
        };
        assert_eq!(at(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(at(951_782_400_000), "29/Feb/2000:00:00:00 +0000");
    }

    #[test]
    fn an_aws_iam_caller_fills_the_identity() {
        let caller = CallerIdentity {
            access_key: "AKIAALICE".into(),
            account_id: "123456789012".into(),
            caller: "AIDAALICE".into(),
            user: "AIDAALICE".into(),
            user_arn: "arn:aws:iam::123456789012:user/alice".into(),
        };
        let mut i = input(&[], "", b"");
        assert_eq!(
            event(&i)["requestContext"]["identity"]["userArn"],
            Value::Null
        );
        i.identity = Some(&caller);
        let id = &event(&i)["requestContext"]["identity"];
        assert_eq!(id["accessKey"], "AKIAALICE");
        assert_eq!(id["accountId"], "123456789012");
        assert_eq!(id["caller"], "AIDAALICE");
        assert_eq!(id["user"], "AIDAALICE");
        assert_eq!(id["userArn"], "arn:aws:iam::123456789012:user/alice");
    }

    #[test]
    fn an_authorizer_answer_fills_request_context_authorizer() {
        let answer = crate::dataplane::authorizer::answer::parse(
            br#"{"principalId":"u1","policyDocument":{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]},"context":{"tier":"gold","n":3,"ok":false}}"#,
        )
        .unwrap();
        let mut i = input(&[], "", b"");
        i.authorizer = Some(&answer);
        assert_eq!(
            event(&i)["requestContext"]["authorizer"],
            json!({"principalId": "u1", "tier": "gold", "n": "3", "ok": "false"})
        );
    }
}
