//! MOCK integrations, compiled once per deployment: request templates by content type, the
//! status each selects, the integration responses with their selection patterns, and their
//! response templates. A template that reads no request data (no `$input`, no `$context`) is
//! rendered here, with the stage's variables, and served as bytes; one that does is kept
//! compiled and rendered per request by the phases ([`super::phases::integration_request`],
//! [`super::phases::method_response`]).

use super::gateway_response::is_framing_header;
use super::mapping::TemplateData;
use super::routing::RenderedResponse;
use crate::text_rules::{is_header_name, is_header_value};
use tollgate_proto::model::{Integration, IntegrationResponse, Stage};
use tollgate_vtl::{RenderError, Template};

/// What the integration does when no request template matches the request's content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passthrough {
    /// Pass the body through (the default).
    WhenNoMatch,
    /// Pass it through only when the integration has no templates at all; else 415.
    WhenNoTemplates,
    /// Never: 415.
    Never,
}

/// A request template: the status it selects, or the template to render per request.
#[derive(Debug)]
pub enum RequestSide {
    /// Reads no request data: its status, and the response that status selects.
    Fixed {
        /// The status its output names.
        status: u16,
        /// The integration response for that status (an index into `responses`).
        response: Option<usize>,
    },
    /// Rendered per request; its output's `statusCode` selects the response.
    Render(Template),
}

/// The body of an integration response.
#[derive(Debug)]
pub enum ResponseBody {
    /// Reads no request data: the whole answer, rendered.
    Fixed(RenderedResponse),
    /// Rendered per request.
    Render(Template),
}

/// One integration response.
#[derive(Debug)]
pub struct MockResponse {
    /// Its selection pattern, anchored; `None` for the default response.
    pattern: Option<regex_lite::Regex>,
    /// The method response status.
    pub status: u16,
    /// `Content-Type` and the literal header mappings, as (name, value).
    pub headers: Vec<(Box<str>, Box<str>)>,
    /// The body.
    pub body: ResponseBody,
    /// Its `contentHandling` ([`crate::dataplane::content`]).
    pub handling: crate::dataplane::content::Handling,
}

/// A compiled MOCK integration.
#[derive(Debug)]
pub struct MockIntegration {
    /// Request templates by media type (lower case).
    pub requests: Vec<(Box<str>, RequestSide)>,
    /// What happens when none matches.
    pub passthrough: Passthrough,
    /// The integration responses, in the order their patterns are tried.
    pub responses: Vec<MockResponse>,
    /// The stage's variables (what `$stageVariables` reads).
    pub stage_variables: Vec<(Box<str>, Box<str>)>,
}

/// The status a mapping output selects: its `statusCode` (AWS evaluates the template and
/// reads `statusCode`); 200 when it is not JSON or names none.
pub fn status_of(output: &[u8]) -> u16 {
    // Most outputs (and passed-through bodies, often empty) name no status: answered without
    // parsing, so without allocating.
    if !output.windows(10).any(|w| w == b"statusCode") {
        return 200;
    }
    #[derive(serde::Deserialize)]
    struct Out {
        #[serde(rename = "statusCode")]
        status_code: Option<serde_json::Value>,
    }
    serde_json::from_slice::<Out>(output)
        .ok()
        .and_then(|o| o.status_code)
        .and_then(|v| match v {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| (100..600).contains(n))
        .unwrap_or(200)
}

/// The media type of a `Content-Type` value: before any `;`, trimmed, lower case.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

impl MockIntegration {
    /// The integration response for `status`: the first whose pattern matches the whole
    /// status, else the default one.
    pub fn select(&self, status: u16) -> Option<usize> {
        let mut digits = [0u8; 3];
        select_by(
            self.responses.iter().map(|r| r.pattern.as_ref()),
            status_text(status, &mut digits),
        )
    }

    /// The request template for a request's `Content-Type` (absent: `application/json`, as
    /// AWS assumes).
    pub fn request_template(&self, content_type: Option<&[u8]>) -> Option<&RequestSide> {
        // Compared in place: the common path allocates nothing.
        let ct = content_type.map_or(&b"application/json"[..], |c| {
            let c = c.split(|&b| b == b';').next().unwrap_or(c);
            c.trim_ascii()
        });
        self.requests
            .iter()
            .find(|(t, _)| t.as_bytes().eq_ignore_ascii_case(ct))
            .map(|(_, side)| side)
    }
}

/// A selection pattern, anchored (AWS matches the whole text); `None` (or empty): the
/// default response.
pub fn compile_pattern(p: Option<&str>) -> Result<Option<regex_lite::Regex>, String> {
    match p {
        None | Some("") => Ok(None),
        Some(p) => regex_lite::Regex::new(&format!("^(?:{p})$"))
            .map(Some)
            .map_err(|e| format!("selection pattern {p:?}: {e}")),
    }
}

/// The index of the first response whose pattern matches `text`, else of the first default
/// one (no pattern).
pub fn select_by<'a>(
    patterns: impl Iterator<Item = Option<&'a regex_lite::Regex>>,
    text: &str,
) -> Option<usize> {
    let mut default = None;
    for (i, p) in patterns.enumerate() {
        match p {
            None => default = default.or(Some(i)),
            Some(re) if re.is_match(text) => return Some(i),
            Some(_) => {}
        }
    }
    default
}

/// A status (100–599) as its three digits, written into `buf` (no allocation).
pub fn status_text(status: u16, buf: &mut [u8; 3]) -> &str {
    *buf = [
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ];
    std::str::from_utf8(buf).unwrap_or("200")
}

/// Compiles a MOCK integration for `stage`. A content type or header that is not a valid
/// header (state written before the admin API refused such values), or a template that does
/// not compile, makes the whole method unservable rather than reach the wire.
pub fn compile(i: &Integration, stage: &Stage) -> Result<MockIntegration, String> {
    let stage_variables: Vec<(Box<str>, Box<str>)> = stage
        .variables
        .iter()
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect();
    let passthrough = match i.passthrough_behavior.as_deref() {
        None | Some("WHEN_NO_MATCH") => Passthrough::WhenNoMatch,
        Some("WHEN_NO_TEMPLATES") => Passthrough::WhenNoTemplates,
        Some("NEVER") => Passthrough::Never,
        Some(other) => return Err(format!("passthrough behavior {other} is not served")),
    };
    let mut m = MockIntegration {
        requests: Vec::new(),
        passthrough,
        responses: Vec::new(),
        stage_variables,
    };
    for r in i.integration_responses.values() {
        m.responses.push(compile_response(r, &m.stage_variables)?);
    }
    for (content_type, source) in &i.request_templates {
        let t = Template::compile(source)
            .map_err(|e| format!("request template for {content_type}: {e}"))?;
        let side = if t.uses_request_data() {
            RequestSide::Render(t)
        } else {
            let mut out = String::new();
            TemplateData::default()
                .render(&t, b"", &m.stage_variables, &mut out)
                .map_err(|e| format!("request template for {content_type}: {e}"))?;
            let status = status_of(out.as_bytes());
            RequestSide::Fixed {
                status,
                response: m.select(status),
            }
        };
        m.requests.push((media_type(content_type).into(), side));
    }
    Ok(m)
}

fn compile_response(
    r: &IntegrationResponse,
    stage_variables: &[(Box<str>, Box<str>)],
) -> Result<MockResponse, String> {
    let pattern = compile_pattern(r.selection_pattern.as_deref())?;
    let status = r.status_code.parse::<u16>().unwrap_or(200);
    // The JSON template if there is one, else the first (a body of its content type).
    let (content_type, source) = r
        .response_templates
        .get_key_value("application/json")
        .or_else(|| r.response_templates.iter().next())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .unwrap_or(("application/json", ""));
    if !is_header_value(content_type) {
        return Err(format!(
            "the integration response content type {content_type:?} is not a valid header value"
        ));
    }
    let mut headers: Vec<(Box<str>, Box<str>)> = vec![("Content-Type".into(), content_type.into())];
    for (target, src) in &r.response_parameters {
        let (Some(name), Some(value)) = (
            target.strip_prefix("method.response.header."),
            src.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')),
        ) else {
            continue;
        };
        if !(is_header_name(name) && is_header_value(value)) {
            return Err(format!(
                "the response header mapping {target:?} = {src:?} is not a valid header"
            ));
        }
        headers.push((name.into(), value.into()));
    }
    let t = Template::compile(source)
        .map_err(|e| format!("response template for {content_type}: {e}"))?;
    let body = if t.uses_request_data() {
        ResponseBody::Render(t)
    } else {
        let mut out = String::new();
        let rendered = TemplateData::default()
            .render(&t, b"", stage_variables, &mut out)
            .map_err(|e| format!("response template for {content_type}: {e}"))?;
        ResponseBody::Fixed(answer(status, &headers, &rendered, out.into_bytes()))
    };
    Ok(MockResponse {
        pattern,
        status,
        headers,
        body,
        handling: crate::dataplane::content::Handling::of(r.content_handling.as_deref()),
    })
}

/// The answer: the response's status and headers, as the template's
/// `$context.responseOverride` changed them (a status outside 100–599, a header that is not
/// a valid one, and the framing headers are ignored).
pub fn answer(
    status: u16,
    headers: &[(Box<str>, Box<str>)],
    rendered: &tollgate_vtl::Rendered,
    body: Vec<u8>,
) -> RenderedResponse {
    let status = rendered
        .get("responseOverride.status")
        .and_then(|s| s.trim().parse::<u16>().ok())
        .filter(|s| (100..600).contains(s))
        .unwrap_or(status);
    let overrides: Vec<(&str, &str)> = rendered
        .overrides
        .iter()
        .filter_map(|o| {
            let name = o.name.strip_prefix("responseOverride.header.")?;
            (is_header_name(name) && is_header_value(&o.value) && !is_framing_header(name))
                .then_some((name, o.value.as_str()))
        })
        .collect();
    let mut block = Vec::new();
    let mut line = |n: &str, v: &str| {
        block.extend_from_slice(n.as_bytes());
        block.extend_from_slice(b": ");
        block.extend_from_slice(v.as_bytes());
        block.extend_from_slice(b"\r\n");
    };
    for (n, v) in headers {
        if !overrides.iter().any(|(o, _)| o.eq_ignore_ascii_case(n)) {
            line(n, v);
        }
    }
    for (n, v) in &overrides {
        line(n, v);
    }
    RenderedResponse {
        status,
        header_block: block.into(),
        body: body.into(),
    }
}

/// Why a MOCK request got no answer from its templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MockError {
    /// No template for the content type, and the passthrough behavior forbids passing (415).
    UnsupportedMediaType,
    /// No integration response for the status (500).
    NoResponse,
    /// A template failed to render.
    Render(RenderError),
    /// `CONVERT_TO_BINARY` (or a binary `Accept`) met a payload that is not base64 (500).
    NotBase64,
}

impl From<RenderError> for MockError {
    fn from(e: RenderError) -> Self {
        MockError::Render(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use tollgate_proto::model::IntegrationType;

    fn mock(requests: &[(&str, &str)], responses: &[(&str, Option<&str>, &str)]) -> Integration {
        let mut i = Integration {
            kind: IntegrationType::Mock,
            request_templates: requests
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        for (code, pattern, body) in responses {
            i.integration_responses.insert(
                code.to_string(),
                Box::new(IntegrationResponse {
                    status_code: code.to_string(),
                    selection_pattern: pattern.map(str::to_owned),
                    response_templates: BTreeMap::from([(
                        "application/json".into(),
                        body.to_string(),
                    )]),
                    ..Default::default()
                }),
            );
        }
        i
    }

    fn stage() -> Stage {
        Stage {
            stage_name: "dev".into(),
            variables: BTreeMap::from([("who".into(), "dev-team".into())]),
            ..Default::default()
        }
    }

    #[test]
    fn static_templates_are_rendered_at_compile() {
        let i = mock(
            &[("application/json", "{\"statusCode\": #if(true)404#end}")],
            &[
                ("200", None, "ok"),
                (
                    "404",
                    Some("4\\d{2}"),
                    "{\"owner\": \"$stageVariables.who\"}",
                ),
            ],
        );
        let m = compile(&i, &stage()).unwrap();
        let Some(RequestSide::Fixed { status, response }) =
            m.request_template(Some(b"Application/JSON; charset=utf-8"))
        else {
            panic!("not fixed");
        };
        assert_eq!((*status, *response), (404, Some(1)));
        let ResponseBody::Fixed(r) = &m.responses[1].body else {
            panic!("not fixed");
        };
        assert_eq!(
            (r.status, &*r.body),
            (404, &b"{\"owner\": \"dev-team\"}"[..])
        );
        assert_eq!(m.select(500), Some(0));
        assert!(m.request_template(Some(b"text/plain")).is_none());
        // No Content-Type reads as application/json.
        assert!(m.request_template(None).is_some());
    }

    #[test]
    fn request_data_keeps_templates_compiled() {
        let i = mock(
            &[(
                "application/json",
                "{\"statusCode\": $input.params('code')}",
            )],
            &[("200", None, "$context.requestId")],
        );
        let m = compile(&i, &stage()).unwrap();
        assert!(matches!(m.requests[0].1, RequestSide::Render(_)));
        assert!(matches!(m.responses[0].body, ResponseBody::Render(_)));
    }

    #[test]
    fn a_template_that_does_not_compile_makes_the_method_unservable() {
        let i = mock(&[("application/json", "#if(")], &[]);
        assert!(compile(&i, &stage()).unwrap_err().contains("line 1"));
    }

    #[test]
    fn overrides_change_status_and_headers_but_not_framing() {
        let t = Template::compile(
            "#set($context.responseOverride.status = 418)\
             #set($context.responseOverride.header.X-A = 'new')\
             #set($context.responseOverride.header.Content-Length = '0')\
             #set($context.responseOverride.header.X-Bad = \"a\nb\")",
        )
        .unwrap();
        let mut out = String::new();
        let rendered = TemplateData::default()
            .render(&t, b"", &[], &mut out)
            .unwrap();
        let headers: Vec<(Box<str>, Box<str>)> = vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-A".into(), "old".into()),
        ];
        let r = answer(200, &headers, &rendered, Vec::new());
        assert_eq!(r.status, 418);
        assert_eq!(
            std::str::from_utf8(&r.header_block).unwrap(),
            "Content-Type: application/json\r\nX-A: new\r\n"
        );
    }

    #[test]
    fn status_is_read_from_the_output() {
        assert_eq!(status_of(b"{\"statusCode\": 503, \"x\": [1]}"), 503);
        assert_eq!(status_of(b"{\"statusCode\": \"201\"}"), 201);
        assert_eq!(status_of(b"{\"statusCode\": 99}"), 200);
        assert_eq!(status_of(b"not json"), 200);
        assert_eq!(status_of(b""), 200);
        assert_eq!(status_of(b"{\"other\": 1}"), 200);
    }
}
