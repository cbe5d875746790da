//! An access log format (`accessLogSettings.format`) compiled once per stage compile, and a
//! record rendered from it per request into the worker's buffer (nothing allocated).
//!
//! Every `$context` variable AWS lists for access logging is understood; a variable this
//! gateway has no value for (a WAF, Cognito, X-Ray, canary or VPC detail) and any name AWS
//! does not know is written `-`, as AWS writes a variable without a value. Values that come
//! from the client (user agent, host, path, authorizer context) are escaped as in a JSON
//! string (`"`, `\` and control characters), so a record is always one line and a JSON
//! format stays JSON.

use std::io::Write as _;
use std::net::IpAddr;
use tollgate_proto::GatewayResponseType;

/// A compiled format.
#[derive(Debug, Clone, PartialEq)]
pub struct Format {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(Box<[u8]>),
    Var(Var),
}

/// The variables with a value here.
#[derive(Debug, Clone, PartialEq)]
enum Var {
    RequestId,
    ExtendedRequestId,
    SourceIp,
    UserAgent,
    RequestTime,
    RequestTimeEpoch,
    HttpMethod,
    ResourcePath,
    Path,
    Protocol,
    Status,
    ResponseLength,
    ResponseLatency,
    IntegrationLatency,
    IntegrationStatus,
    ErrorMessage,
    ErrorMessageString,
    ErrorResponseType,
    AuthorizerPrincipalId,
    /// `$context.authorizer.{key}`: a key of the Lambda authorizer's `context`.
    AuthorizerKey(Box<str>),
    ApiId,
    Stage,
    DeploymentId,
    DomainName,
    DomainPrefix,
    ApiKeyId,
    AccountId,
    IdentityAccountId,
    IdentityCaller,
    IdentityUser,
    IdentityUserArn,
    IdentityAccessKey,
    /// A variable without a value in this gateway: `-`.
    Dash,
}

/// Longest variable name read after `$context.`.
const MAX_NAME: usize = 128;

/// Whether `format` names `$context.requestId` or `$context.extendedRequestId`, which AWS
/// requires of every access log format.
pub fn has_request_id(format: &str) -> bool {
    scan(format).any(|(_, name)| name == "requestId" || name == "extendedRequestId")
}

/// The `$context.{name}` references of a format: (byte offset of `$`, name).
fn scan(format: &str) -> impl Iterator<Item = (usize, &str)> {
    const PREFIX: &str = "$context.";
    format.match_indices(PREFIX).filter_map(move |(at, _)| {
        let rest = &format[at + PREFIX.len()..];
        let len = name_len(rest);
        (len > 0).then(|| (at, &rest[..len]))
    })
}

/// The length of the variable name at the start of `s`: identifier characters, and dots
/// followed by one (`authorizer.claims.sub`, but not the full stop ending a sentence).
fn name_len(s: &str) -> usize {
    let b = s.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b':';
    let mut i = 0;
    while i < b.len() && i < MAX_NAME {
        let inner_dot = b[i] == b'.' && i > 0 && b.get(i + 1).is_some_and(|&c| ident(c));
        if !(ident(b[i]) || inner_dot) {
            break;
        }
        i += 1;
    }
    // A name ends with an identifier character ('-' and ':' only inside authorizer keys).
    while i > 0 && matches!(b[i - 1], b'-' | b':') {
        i -= 1;
    }
    i
}

fn var(name: &str) -> Var {
    match name {
        "requestId" => Var::RequestId,
        "extendedRequestId" => Var::ExtendedRequestId,
        "identity.sourceIp" => Var::SourceIp,
        "identity.userAgent" => Var::UserAgent,
        "requestTime" => Var::RequestTime,
        "requestTimeEpoch" => Var::RequestTimeEpoch,
        "httpMethod" => Var::HttpMethod,
        "resourcePath" => Var::ResourcePath,
        "path" => Var::Path,
        "protocol" => Var::Protocol,
        "status" => Var::Status,
        "responseLength" => Var::ResponseLength,
        "responseLatency" => Var::ResponseLatency,
        "integrationLatency" | "integration.latency" => Var::IntegrationLatency,
        "integrationStatus" | "integration.status" | "integration.integrationStatus" => {
            Var::IntegrationStatus
        }
        "error.message" => Var::ErrorMessage,
        "error.messageString" => Var::ErrorMessageString,
        "error.responseType" => Var::ErrorResponseType,
        "authorizer.principalId" => Var::AuthorizerPrincipalId,
        "apiId" => Var::ApiId,
        "stage" => Var::Stage,
        "deploymentId" => Var::DeploymentId,
        "domainName" => Var::DomainName,
        "domainPrefix" => Var::DomainPrefix,
        "identity.apiKeyId" => Var::ApiKeyId,
        "accountId" => Var::AccountId,
        "identity.accountId" => Var::IdentityAccountId,
        "identity.caller" => Var::IdentityCaller,
        "identity.user" => Var::IdentityUser,
        "identity.userArn" => Var::IdentityUserArn,
        "identity.accessKey" => Var::IdentityAccessKey,
        // The authorizer's own figures, claims (JWT authorizers) and the rest of AWS's list
        // (WAF, Cognito, client certificates, X-Ray, canaries, VPC, overrides): no value here.
        n if n.starts_with("authorizer.claims.")
            || n.starts_with("authorizer.status")
            || n.starts_with("authorizer.latency")
            || n.starts_with("authorizer.error")
            || n.starts_with("authorizer.requestId")
            || n.starts_with("authorizer.integration") =>
        {
            Var::Dash
        }
        n => match n.strip_prefix("authorizer.") {
            Some(key) if !key.is_empty() => Var::AuthorizerKey(key.into()),
            _ => Var::Dash,
        },
    }
}

impl Format {
    /// Compiles a format: literal text kept as is, each `$context.{name}` resolved once.
    pub fn compile(format: &str) -> Format {
        let mut parts = Vec::new();
        let mut from = 0;
        for (at, name) in scan(format) {
            if at < from {
                continue;
            }
            if at > from {
                parts.push(Part::Lit(format.as_bytes()[from..at].into()));
            }
            parts.push(Part::Var(var(name)));
            from = at + "$context.".len() + name.len();
        }
        if from < format.len() {
            parts.push(Part::Lit(format.as_bytes()[from..].into()));
        }
        Format { parts }
    }

    /// Appends the record of `f` to `out` (no line end).
    pub fn render(&self, f: &Facts<'_>, out: &mut Vec<u8>) {
        for p in &self.parts {
            match p {
                Part::Lit(b) => out.extend_from_slice(b),
                Part::Var(v) => value(v, f, out),
            }
        }
    }
}

/// What a request's record is made of.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// `x-amzn-RequestId`.
    pub request_id: &'a str,
    /// When the request arrived, ms since the Unix epoch.
    pub epoch_ms: u64,
    /// The client's address.
    pub source_ip: IpAddr,
    /// `User-Agent`.
    pub user_agent: Option<&'a [u8]>,
    /// `Host`.
    pub host: Option<&'a [u8]>,
    /// The verb.
    pub http_method: &'a str,
    /// The path as the client sent it.
    pub path: &'a str,
    /// HTTP/1.1 (else 1.0).
    pub http11: bool,
    /// The answer's status.
    pub status: u16,
    /// The answer's body length.
    pub response_length: usize,
    /// From arrival to the answer, ms.
    pub response_latency_ms: u64,
    /// The integration's latency (ms) and status, when one was called.
    pub integration: Option<(u64, Option<u16>)>,
    /// A gateway answer's message and type.
    pub error: Option<(&'a str, GatewayResponseType)>,
    /// The API, stage and deployment.
    pub api_id: &'a str,
    /// The stage.
    pub stage: &'a str,
    /// The deployment the stage serves.
    pub deployment_id: &'a str,
    /// The account the gateway runs as.
    pub account_id: &'a str,
    /// The matched method's resource path.
    pub resource_path: Option<&'a str>,
    /// The Lambda authorizer's principal and context.
    pub authorizer: Option<&'a crate::dataplane::authorizer::AuthorizerResult>,
    /// Who an `AWS_IAM` request was signed by.
    pub identity: Option<&'a crate::dataplane::phases::authorize::CallerIdentity>,
    /// The API key's id, when a key was checked.
    pub api_key_id: Option<&'a str>,
}

fn dash(out: &mut Vec<u8>) {
    out.push(b'-');
}

/// Writes `s` escaped as inside a JSON string; `-` when empty.
fn text(s: &[u8], out: &mut Vec<u8>) {
    if s.is_empty() {
        return dash(out);
    }
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => {
                let _ = write!(out, "\\u{c:04x}");
            }
            _ => out.push(c),
        }
    }
}

fn opt(s: Option<&str>, out: &mut Vec<u8>) {
    match s {
        Some(s) => text(s.as_bytes(), out),
        None => dash(out),
    }
}

fn num(n: u64, out: &mut Vec<u8>) {
    let mut buf = itoa_buf(n);
    out.extend_from_slice(buf.as_slice());
    buf.clear();
}

/// A number's decimal digits without formatting machinery.
fn itoa_buf(mut n: u64) -> ArrayDigits {
    let mut d = ArrayDigits::default();
    loop {
        d.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    d.bytes[..d.len].reverse();
    d
}

#[derive(Default)]
struct ArrayDigits {
    bytes: [u8; 20],
    len: usize,
}

impl ArrayDigits {
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
    fn clear(&mut self) {
        self.len = 0;
    }
}

fn value(v: &Var, f: &Facts<'_>, out: &mut Vec<u8>) {
    match v {
        Var::RequestId => text(f.request_id.as_bytes(), out),
        Var::ExtendedRequestId => text(&crate::dataplane::respond::apigw_id(f.request_id), out),
        Var::SourceIp => {
            let _ = write!(out, "{}", f.source_ip);
        }
        Var::UserAgent => text(f.user_agent.unwrap_or_default(), out),
        Var::RequestTime => crate::dataplane::mapping::write_request_time(f.epoch_ms, out),
        Var::RequestTimeEpoch => num(f.epoch_ms, out),
        Var::HttpMethod => text(f.http_method.as_bytes(), out),
        Var::ResourcePath => opt(f.resource_path, out),
        Var::Path => text(f.path.as_bytes(), out),
        Var::Protocol => out.extend_from_slice(if f.http11 { b"HTTP/1.1" } else { b"HTTP/1.0" }),
        Var::Status => num(u64::from(f.status), out),
        Var::ResponseLength => num(f.response_length as u64, out),
        Var::ResponseLatency => num(f.response_latency_ms, out),
        Var::IntegrationLatency => match f.integration {
            Some((ms, _)) => num(ms, out),
            None => dash(out),
        },
        Var::IntegrationStatus => match f.integration {
            Some((_, Some(s))) => num(u64::from(s), out),
            _ => dash(out),
        },
        Var::ErrorMessage => opt(f.error.map(|e| e.0), out),
        Var::ErrorMessageString => match f.error {
            Some((m, _)) => {
                out.push(b'"');
                text(m.as_bytes(), out);
                out.push(b'"');
            }
            None => dash(out),
        },
        Var::ErrorResponseType => opt(f.error.map(|e| e.1.as_str()), out),
        Var::AuthorizerPrincipalId => opt(f.authorizer.map(|a| &*a.principal_id), out),
        Var::AuthorizerKey(key) => opt(
            f.authorizer.and_then(|a| {
                a.context
                    .iter()
                    .find(|(k, _)| **k == **key)
                    .map(|(_, v)| &**v)
            }),
            out,
        ),
        Var::ApiId => text(f.api_id.as_bytes(), out),
        Var::Stage => text(f.stage.as_bytes(), out),
        Var::DeploymentId => text(f.deployment_id.as_bytes(), out),
        Var::DomainName => text(f.host.map(strip_port).unwrap_or_default(), out),
        Var::DomainPrefix => {
            let host = f.host.map(strip_port).unwrap_or_default();
            let first = host.split(|&b| b == b'.').next().unwrap_or_default();
            text(first, out)
        }
        Var::ApiKeyId => opt(f.api_key_id, out),
        Var::AccountId => opt(Some(f.account_id).filter(|a| !a.is_empty()), out),
        Var::IdentityAccountId => opt(f.identity.map(|i| i.account_id.as_str()), out),
        Var::IdentityCaller => opt(f.identity.map(|i| i.caller.as_str()), out),
        Var::IdentityUser => opt(f.identity.map(|i| i.user.as_str()), out),
        Var::IdentityUserArn => opt(f.identity.map(|i| i.user_arn.as_str()), out),
        Var::IdentityAccessKey => opt(f.identity.map(|i| i.access_key.as_str()), out),
        Var::Dash => dash(out),
    }
}

/// A `Host` value without its port.
fn strip_port(host: &[u8]) -> &[u8] {
    if host.starts_with(b"[") {
        return host;
    }
    match host.iter().rposition(|&b| b == b':') {
        Some(i) => &host[..i],
        None => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::authorizer::AuthorizerResult;

    fn facts() -> Facts<'static> {
        Facts {
            request_id: "0b8c2f36-1f7a-4c55-9a3f-2d51b1d3e5a1",
            epoch_ms: 1_796_180_645_123,
            source_ip: "203.0.113.9".parse().unwrap(),
            user_agent: Some(b"curl/8.5 \"quoted\"\n"),
            host: Some(b"abc123.execute-api.localhost:8080"),
            http_method: "GET",
            path: "/prod/pets/7",
            http11: true,
            status: 200,
            response_length: 42,
            response_latency_ms: 12,
            integration: Some((9, Some(200))),
            error: None,
            api_id: "abc123",
            stage: "prod",
            deployment_id: "dep1",
            account_id: "123456789012",
            resource_path: Some("/pets/{id}"),
            authorizer: None,
            identity: None,
            api_key_id: Some("key1"),
        }
    }

    fn render(format: &str, f: &Facts<'_>) -> String {
        let mut out = Vec::new();
        Format::compile(format).render(f, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn request_id_is_required() {
        assert!(has_request_id("$context.requestId"));
        assert!(has_request_id("{\"id\":\"$context.extendedRequestId\"}"));
        assert!(!has_request_id("$context.requestIdX $context.status"));
        assert!(!has_request_id("requestId"));
    }

    #[test]
    fn clf_record() {
        let f = facts();
        let got = render(
            "$context.identity.sourceIp [$context.requestTime] \"$context.httpMethod $context.resourcePath $context.protocol\" $context.status $context.responseLength $context.requestId",
            &f,
        );
        assert_eq!(
            got,
            "203.0.113.9 [02/Dec/2026:03:04:05 +0000] \"GET /pets/{id} HTTP/1.1\" 200 42 0b8c2f36-1f7a-4c55-9a3f-2d51b1d3e5a1"
        );
    }

    #[test]
    fn every_listed_variable() {
        let f = facts();
        let json = render(
            r#"{"ua":"$context.identity.userAgent","lat":$context.responseLatency,"il":$context.integrationLatency,"is":"$context.integration.status","epoch":$context.requestTimeEpoch,"api":"$context.apiId","stage":"$context.stage","dom":"$context.domainName","pre":"$context.domainPrefix","key":"$context.identity.apiKeyId","waf":"$context.wafResponseCode","err":"$context.error.message","unknown":"$context.nope","path":"$context.path","acct":"$context.accountId","dep":"$context.deploymentId"}"#,
            &f,
        );
        let v: serde_json::Value = serde_json::from_str(&json).expect(&json);
        assert_eq!(v["ua"], "curl/8.5 \"quoted\"\n");
        assert_eq!(v["lat"], 12);
        assert_eq!(v["il"], 9);
        assert_eq!(v["is"], "200");
        assert_eq!(v["epoch"], 1_796_180_645_123u64);
        assert_eq!(v["api"], "abc123");
        assert_eq!(v["stage"], "prod");
        assert_eq!(v["dom"], "abc123.execute-api.localhost");
        assert_eq!(v["pre"], "abc123");
        assert_eq!(v["key"], "key1");
        assert_eq!(v["waf"], "-");
        assert_eq!(v["err"], "-");
        assert_eq!(v["unknown"], "-");
        assert_eq!(v["path"], "/prod/pets/7");
        assert_eq!(v["acct"], "123456789012");
        assert_eq!(v["dep"], "dep1");
    }

    #[test]
    fn gateway_answers_and_authorizers() {
        let a: AuthorizerResult = crate::dataplane::authorizer::answer::parse(
            br#"{"principalId":"user-7","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"*"}]},"context":{"tenant":"acme"}}"#,
        )
        .unwrap();
        let f = Facts {
            status: 429,
            integration: None,
            error: Some(("Too Many Requests", GatewayResponseType::Throttled)),
            authorizer: Some(&a),
            resource_path: None,
            ..facts()
        };
        assert_eq!(
            render(
                "$context.requestId $context.status $context.error.message|$context.error.messageString|$context.error.responseType $context.integrationLatency $context.integrationStatus $context.authorizer.principalId $context.authorizer.tenant $context.authorizer.absent $context.authorizer.claims.sub $context.resourcePath.",
                &f
            ),
            "0b8c2f36-1f7a-4c55-9a3f-2d51b1d3e5a1 429 Too Many Requests|\"Too Many Requests\"|THROTTLED - - user-7 acme - - -."
        );
    }

    #[test]
    fn odd_formats() {
        let f = facts();
        assert_eq!(render("", &f), "");
        assert_eq!(render("$context.", &f), "$context.");
        assert_eq!(render("$context.status$context.status", &f), "200200");
        assert_eq!(render("x$context", &f), "x$context");
        assert_eq!(render("日本 $context.status", &f), "日本 200");
    }
}
