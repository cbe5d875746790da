//! What a mapping template reads from a request: its path, query string and header
//! parameters, the `$context` values the gateway knows, the stage's variables. Gathered only
//! when a template that uses request data is rendered (a template that does not was rendered
//! once when the table was compiled).

use super::matcher::Captures;
use super::request::Request;
use super::routing::{CompiledMethod, StageRoutes};
use std::borrow::Cow;
use tollgate_vtl::{Input, RenderError, Rendered, Template};

/// The `$context` values [`TemplateData::from_request`] gathers (beside `authorizer.*`):
/// what a request parameter or response header mapping may read as `context.NAME`.
pub const CONTEXT_NAMES: &[&str] = &[
    "accountId",
    "apiId",
    "deploymentId",
    "domainName",
    "domainPrefix",
    "extendedRequestId",
    "httpMethod",
    "identity.apiKey",
    "identity.sourceIp",
    "identity.userAgent",
    "path",
    "protocol",
    "requestId",
    "requestTime",
    "requestTimeEpoch",
    "resourcePath",
    "stage",
    "identity.clientCert.clientCertPem",
    "identity.clientCert.subjectDN",
    "identity.clientCert.issuerDN",
    "identity.clientCert.serialNumber",
    "identity.clientCert.validity.notBefore",
    "identity.clientCert.validity.notAfter",
];

/// When and under which id a request is served (what `$context.requestId`,
/// `requestTime` and `requestTimeEpoch` read).
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    /// The request id (`x-amzn-RequestId`).
    pub request_id: &'a str,
    /// Wall-clock time of arrival, milliseconds since the Unix epoch.
    pub epoch_ms: u64,
    /// The account the gateway serves as (`$context.accountId`).
    pub account: &'a str,
}

/// A request's data as templates read it, owned (decoded values).
#[derive(Debug, Default, Clone)]
pub struct TemplateData {
    /// Path parameters, percent-decoded.
    pub path: Vec<(String, String)>,
    /// Query string parameters (the last of repeated names), percent-decoded, `+` as space.
    pub query: Vec<(String, String)>,
    /// Headers (the last of repeated names), as sent.
    pub headers: Vec<(String, String)>,
    /// `$context` values by dotted name.
    pub context: Vec<(Cow<'static, str>, String)>,
}

/// Everything [`TemplateData::from_request`] needs.
pub struct RequestView<'a, 'r> {
    /// The request.
    pub req: &'a Request<'r>,
    /// Its path parameters (ranges into `stage_path`).
    pub caps: &'a Captures<'a>,
    /// The stage-relative path (what the captures index).
    pub stage_path: &'a str,
    /// The stage it invokes.
    pub stage: &'a StageRoutes,
    /// The method it invokes.
    pub method: &'a CompiledMethod,
    /// Its id and arrival time.
    pub stamp: &'a Stamp<'a>,
    /// What its Lambda authorizer answered: `$context.authorizer.*`.
    pub authorizer: Option<&'a crate::dataplane::authorizer::AuthorizerResult>,
}

fn decode(s: &str, plus_is_space: bool) -> String {
    let s: Cow<str> = if plus_is_space && s.contains('+') {
        Cow::Owned(s.replace('+', " "))
    } else {
        Cow::Borrowed(s)
    };
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}

fn put_last(v: &mut Vec<(String, String)>, k: String, val: String, case_blind: bool) {
    let same = |a: &str| {
        if case_blind {
            a.eq_ignore_ascii_case(&k)
        } else {
            a == k
        }
    };
    match v.iter_mut().find(|(n, _)| same(n)) {
        Some(slot) => slot.1 = val,
        None => v.push((k, val)),
    }
}

impl TemplateData {
    /// Gathers a request's data.
    pub fn from_request(v: &RequestView<'_, '_>) -> TemplateData {
        let mut d = TemplateData::default();
        for &(name, s, e) in v.caps.iter() {
            let raw = v.stage_path.get(s..e).unwrap_or("");
            d.path.push((name.to_owned(), decode(raw, false)));
        }
        for pair in v.req.query.split('&').filter(|p| !p.is_empty()) {
            let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
            put_last(&mut d.query, decode(k, true), decode(val, true), false);
        }
        let mut user_agent = String::new();
        let mut host = String::new();
        let mut api_key = String::new();
        for (n, val) in v.req.headers() {
            let (Ok(n), Ok(val)) = (std::str::from_utf8(n), std::str::from_utf8(val)) else {
                continue;
            };
            if n.eq_ignore_ascii_case("user-agent") {
                user_agent = val.to_owned();
            } else if n.eq_ignore_ascii_case("host") {
                host = val.to_owned();
            } else if n.eq_ignore_ascii_case("x-api-key") {
                api_key = val.to_owned();
            }
            put_last(&mut d.headers, n.to_owned(), val.to_owned(), true);
        }
        if let Some(tls) = v.req.tls {
            // A custom domain: the name the client asked for, as AWS gives it (no port).
            host = tls.sni.to_string();
        }
        let domain_prefix = host.split(['.', ':']).next().unwrap_or("").to_owned();
        let stage = &*v.stage.stage_name;
        d.context = vec![
            ("accountId", v.stamp.account.to_owned()),
            ("apiId", v.stage.api_id.to_string()),
            ("deploymentId", v.stage.deployment_id.to_string()),
            ("domainName", host),
            ("domainPrefix", domain_prefix),
            (
                "extendedRequestId",
                String::from_utf8_lossy(&super::respond::apigw_id(v.stamp.request_id)).into_owned(),
            ),
            ("httpMethod", v.req.method.to_owned()),
            ("identity.apiKey", api_key),
            ("identity.sourceIp", v.req.peer.to_string()),
            ("identity.userAgent", user_agent),
            ("path", v.req.context_path(stage, v.stage_path)),
            ("protocol", "HTTP/1.1".to_owned()),
            ("requestId", v.stamp.request_id.to_owned()),
            ("requestTime", request_time(v.stamp.epoch_ms)),
            ("requestTimeEpoch", v.stamp.epoch_ms.to_string()),
            ("resourcePath", v.method.resource_path.to_string()),
            ("stage", stage.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (Cow::Borrowed(k), v))
        .collect();
        if let Some(c) = v.req.tls.and_then(|t| t.client_cert.as_ref()) {
            d.context.extend(
                [
                    ("identity.clientCert.clientCertPem", c.pem.clone()),
                    ("identity.clientCert.subjectDN", c.subject_dn.clone()),
                    ("identity.clientCert.issuerDN", c.issuer_dn.clone()),
                    ("identity.clientCert.serialNumber", c.serial_number.clone()),
                    (
                        "identity.clientCert.validity.notBefore",
                        c.not_before.clone(),
                    ),
                    ("identity.clientCert.validity.notAfter", c.not_after.clone()),
                ]
                .into_iter()
                .map(|(k, v)| (Cow::Borrowed(k), v)),
            );
        }
        if let Some(claims) = v.authorizer.and_then(|a| a.claims.as_ref()) {
            for (k, val) in claims {
                d.context.push((
                    Cow::Owned(format!("authorizer.claims.{k}")),
                    val.to_string(),
                ));
            }
        } else if let Some(a) = v.authorizer {
            d.context.push((
                Cow::Borrowed("authorizer.principalId"),
                a.principal_id.to_string(),
            ));
            for (k, val) in &a.context {
                d.context
                    .push((Cow::Owned(format!("authorizer.{k}")), val.to_string()));
            }
        }
        d
    }

    /// A `$context` value by dotted name.
    pub fn context(&self, name: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Renders `t` over this data, `body` and the stage's variables, appending to `out`.
    pub fn render(
        &self,
        t: &Template,
        body: &[u8],
        stage_variables: &[(Box<str>, Box<str>)],
        out: &mut String,
    ) -> Result<Rendered, RenderError> {
        fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
            v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
        }
        let (path, query, headers) = (pairs(&self.path), pairs(&self.query), pairs(&self.headers));
        let context: Vec<(&str, &str)> = self
            .context
            .iter()
            .map(|(k, v)| (&**k, v.as_str()))
            .collect();
        let stage_variables: Vec<(&str, &str)> =
            stage_variables.iter().map(|(k, v)| (&**k, &**v)).collect();
        t.render(
            &Input {
                body,
                path: &path,
                query: &query,
                headers: &headers,
                context: &context,
                stage_variables: &stage_variables,
            },
            out,
        )
    }
}

/// `$context.requestTime`: `dd/MMM/yyyy:HH:mm:ss +0000` (the CLF format AWS uses).
pub fn request_time(epoch_ms: u64) -> String {
    let mut out = Vec::with_capacity(26);
    write_request_time(epoch_ms, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `$context.requestTime` for `epoch_ms` to `out` (the access log writes it in place).
pub fn write_request_time(epoch_ms: u64, out: &mut Vec<u8>) {
    use std::io::Write as _;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) =
        tollgate_proto::model::civil_from_days(i64::try_from(days).unwrap_or(0));
    let _ = write!(
        out,
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month as usize).clamp(1, 12) - 1],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_time_is_clf() {
        assert_eq!(request_time(0), "01/Jan/1970:00:00:00 +0000");
        // 2026-12-02T03:04:05Z
        assert_eq!(
            request_time(1_796_180_645_000),
            "02/Dec/2026:03:04:05 +0000"
        );
        assert_eq!(request_time(951_782_400_000), "29/Feb/2000:00:00:00 +0000");
    }
}
