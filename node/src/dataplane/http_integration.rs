//! HTTP (non-proxy) integrations, compiled once per deployment: the backend call (the same
//! one an HTTP_PROXY makes, through the same pool, minus the client's headers and query,
//! which only pass when mapped), the request templates by content type, the integration
//! responses selected by the backend's status, and their response templates by `Accept`.
//! A template that reads no request data is rendered here and served as bytes; one that does
//! is rendered per request ([`super::phases::integration_request`],
//! [`super::phases::integration_response`]).

use super::mapping::TemplateData;
use super::mock::{self, compile_pattern, media_type, select_by, status_text, Passthrough};
use super::routing::{HttpProxyIntegration, RenderedResponse};
use crate::text_rules::{is_header_name, is_header_value};
use tollgate_proto::model::{Integration, IntegrationResponse, Stage};
use tollgate_vtl::Template;

/// A request template: its output when it reads no request data, else the template.
#[derive(Debug)]
pub enum RequestBody {
    /// Rendered when the table was compiled.
    Fixed(Box<[u8]>),
    /// Rendered per request.
    Render(Template),
}

/// Request templates by media type (lower case).
pub type RequestTemplates = Vec<(Box<str>, RequestBody)>;

/// A response template.
#[derive(Debug)]
pub enum ResponseBody {
    /// Reads neither the backend's answer nor request data: the whole answer, rendered.
    Fixed(RenderedResponse),
    /// Rendered per answer; the headers it answers with (`Content-Type` first).
    Render(Template, Vec<(Box<str>, Box<str>)>),
}

/// Where a method response header mapping takes its value (`'literal'` and
/// `stageVariables.*` are compiled into the answer's fixed headers instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseSource {
    /// `integration.response.header.NAME`: the backend's (first) header of that name.
    Header(Box<str>),
    /// `integration.response.multivalueheader.NAME`: all of them, joined with `,`.
    MultiHeader(Box<str>),
    /// `integration.response.body`: the whole body.
    Body,
    /// `integration.response.body.PATH`: a value in the JSON body (a string as it is,
    /// anything else as JSON).
    BodyPath(Vec<PathStep>),
    /// `context.NAME` (one of [`super::mapping::CONTEXT_NAMES`]).
    Context(Box<str>),
}

/// A step of a body path (`a.b[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// An object member.
    Key(Box<str>),
    /// An array element.
    Index(usize),
}

/// Parses a body path (`a.b[0].c`, after `integration.response.body.`).
pub fn parse_body_path(text: &str) -> Option<Vec<PathStep>> {
    let mut steps = Vec::new();
    for part in text.split('.') {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if name.is_empty() {
            return None;
        }
        steps.push(PathStep::Key(name.into()));
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let n: usize = rest.get(1..close)?.parse().ok()?;
            steps.push(PathStep::Index(n));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
    }
    Some(steps)
}

/// A parsed method response header mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderMapping {
    /// A fixed value (`'literal'`, or a stage variable's value).
    Fixed(Box<str>),
    /// A value read per answer.
    Read(ResponseSource),
}

/// Parses a method response header mapping's source (`stage_variables` resolve
/// `stageVariables.*`).
pub fn parse_response_source(
    source: &str,
    stage_variables: &[(Box<str>, Box<str>)],
) -> Result<HeaderMapping, String> {
    let named = |p: &str| source.strip_prefix(p).filter(|n| !n.is_empty());
    if let Some(l) = source.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return Ok(HeaderMapping::Fixed(l.into()));
    }
    if let Some(v) = named("stageVariables.") {
        let value = stage_variables
            .iter()
            .find(|(k, _)| &**k == v)
            .map_or("", |(_, val)| &**val);
        return Ok(HeaderMapping::Fixed(value.into()));
    }
    Ok(HeaderMapping::Read(
        if let Some(h) = named("integration.response.header.") {
            ResponseSource::Header(h.into())
        } else if let Some(h) = named("integration.response.multivalueheader.") {
            ResponseSource::MultiHeader(h.into())
        } else if source == "integration.response.body" {
            ResponseSource::Body
        } else if let Some(p) = named("integration.response.body.") {
            ResponseSource::BodyPath(
                parse_body_path(p).ok_or_else(|| format!("invalid body path {p:?}"))?,
            )
        } else if let Some(n) =
            named("context.").filter(|n| super::mapping::CONTEXT_NAMES.contains(n))
        {
            ResponseSource::Context(n.into())
        } else {
            return Err(format!(
                "the response mapping source {source:?} is not served"
            ));
        },
    ))
}

/// The backend's answer, as the response mappings read it.
#[derive(Debug, Clone, Copy)]
pub struct BackendAnswer<'s> {
    /// Its status.
    pub status: u16,
    /// Its head's bytes (what `headers` index).
    pub head: &'s [u8],
    /// Its headers, as (name, value) ranges into `head`.
    pub headers: &'s [(std::ops::Range<usize>, std::ops::Range<usize>)],
    /// Its body.
    pub body: &'s [u8],
}

impl<'s> BackendAnswer<'s> {
    /// The values of the headers named `name` (case-insensitive), in order.
    pub fn header_values(&self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
        let head = self.head;
        self.headers.iter().filter_map(move |(n, v)| {
            let n = head.get(n.clone())?;
            n.eq_ignore_ascii_case(name.as_bytes())
                .then(|| head.get(v.clone()))
                .flatten()
        })
    }
}

/// Appends the mapped headers of `r` for the backend's answer `b` to a header block (a value
/// that is not a valid header value, or that the answer lacks, is left out).
pub fn append_mapped(
    block: &mut Vec<u8>,
    r: &HttpResponse,
    b: &BackendAnswer<'_>,
    context: Option<&TemplateData>,
) {
    let mut json: Option<Option<serde_json::Value>> = None;
    for (name, source) in &r.mapped {
        let value: Option<String> = match source {
            ResponseSource::Header(h) => b
                .header_values(h)
                .next()
                .map(|v| String::from_utf8_lossy(v).into_owned()),
            ResponseSource::MultiHeader(h) => {
                let all: Vec<String> = b
                    .header_values(h)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .collect();
                (!all.is_empty()).then(|| all.join(","))
            }
            ResponseSource::Body => std::str::from_utf8(b.body).ok().map(str::to_owned),
            ResponseSource::BodyPath(steps) => {
                let doc = json.get_or_insert_with(|| serde_json::from_slice(b.body).ok());
                doc.as_ref().and_then(|d| walk(d, steps)).map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            }
            ResponseSource::Context(n) => context.and_then(|d| d.context(n)).map(str::to_owned),
        };
        if let Some(v) = value.filter(|v| is_header_value(v)) {
            block.extend_from_slice(name.as_bytes());
            block.extend_from_slice(b": ");
            block.extend_from_slice(v.as_bytes());
            block.extend_from_slice(b"\r\n");
        }
    }
}

fn walk<'v>(mut v: &'v serde_json::Value, steps: &[PathStep]) -> Option<&'v serde_json::Value> {
    for s in steps {
        v = match s {
            PathStep::Key(k) => v.get(&**k)?,
            PathStep::Index(i) => v.get(*i)?,
        };
    }
    Some(v)
}

impl HttpResponse {
    /// Whether a header mapping reads the request's `$context`.
    pub fn maps_context(&self) -> bool {
        self.mapped
            .iter()
            .any(|(_, s)| matches!(s, ResponseSource::Context(_)))
    }
}

/// One integration response.
#[derive(Debug)]
pub struct HttpResponse {
    /// Matched against the backend's status, anchored; `None`: the default response.
    pattern: Option<regex_lite::Regex>,
    /// Header mappings read from the answer (or the request's context) per request.
    pub mapped: Vec<(Box<str>, ResponseSource)>,
    /// The method response status.
    pub status: u16,
    /// Its templates by media type (lower case), in the order AWS lists them.
    pub templates: Vec<(Box<str>, ResponseBody)>,
    /// The header lines of an answer without a template (the backend's body passed through
    /// as `application/json`, as AWS answers it).
    pub passthrough_head: Box<[u8]>,
    /// Its `contentHandling` ([`crate::dataplane::content`]).
    pub handling: crate::dataplane::content::Handling,
}

/// A compiled HTTP (non-proxy) integration.
#[derive(Debug)]
pub struct HttpIntegration {
    /// The backend call.
    pub backend: HttpProxyIntegration,
    /// Request templates by media type (lower case).
    pub requests: Vec<(Box<str>, RequestBody)>,
    /// What happens when no request template matches.
    pub passthrough: Passthrough,
    /// The integration responses, in the order their patterns are tried.
    pub responses: Vec<HttpResponse>,
    /// The stage's variables (what `$stageVariables` reads).
    pub stage_variables: Vec<(Box<str>, Box<str>)>,
    /// The integration's `contentHandling` for the request body
    /// ([`crate::dataplane::content`]).
    pub handling: crate::dataplane::content::Handling,
}

/// What the backend is sent as its body.
#[derive(Debug)]
pub enum Outgoing<'t> {
    /// This template's output (its media type is the backend's `Content-Type`).
    Template(&'t str, &'t RequestBody),
    /// The client's body, as it came.
    Passthrough,
}

impl HttpIntegration {
    /// The request body for a request's `Content-Type` (absent: `application/json`, as AWS
    /// assumes); `None`: no template matches and the passthrough behavior forbids passing
    /// (415).
    pub fn outgoing(&self, content_type: Option<&[u8]>) -> Option<Outgoing<'_>> {
        outgoing(&self.requests, self.passthrough, content_type)
    }

    /// The integration response for the backend's `status`: the first whose selection
    /// pattern matches the whole status, else the default one.
    pub fn select(&self, status: u16) -> Option<&HttpResponse> {
        let mut digits = [0u8; 3];
        let i = select_by(
            self.responses.iter().map(|r| r.pattern.as_ref()),
            status_text(status, &mut digits),
        )?;
        self.responses.get(i)
    }
}

/// The request template of `requests` for a `Content-Type` (absent: `application/json`, as
/// AWS assumes), or the body passed through as `passthrough` allows; `None`: 415.
pub fn outgoing<'t>(
    requests: &'t [(Box<str>, RequestBody)],
    passthrough: Passthrough,
    content_type: Option<&[u8]>,
) -> Option<Outgoing<'t>> {
    let ct = content_type.map_or(&b"application/json"[..], |c| {
        let c = c.split(|&b| b == b';').next().unwrap_or(c);
        c.trim_ascii()
    });
    if let Some((t, body)) = requests
        .iter()
        .find(|(t, _)| t.as_bytes().eq_ignore_ascii_case(ct))
    {
        return Some(Outgoing::Template(t, body));
    }
    let pass = match passthrough {
        Passthrough::WhenNoMatch => true,
        Passthrough::WhenNoTemplates => requests.is_empty(),
        Passthrough::Never => false,
    };
    pass.then_some(Outgoing::Passthrough)
}

impl HttpResponse {
    /// The selection pattern (anchored); `None`: a default response.
    pub fn pattern(&self) -> Option<&regex_lite::Regex> {
        self.pattern.as_ref()
    }

    /// The response template for the client's `Accept`: the first media range it lists that
    /// a template has (`type/*` and `*/*` take the first template they cover); else the
    /// `application/json` template; else the first one. `None`: the response has none.
    pub fn template(&self, accept: Option<&[u8]>) -> Option<&ResponseBody> {
        let first = self.templates.first()?;
        let covers = |range: &[u8], t: &str| {
            let t = t.as_bytes();
            if range == b"*/*" {
                return true;
            }
            match range.strip_suffix(b"/*") {
                Some(kind) => {
                    t.len() > kind.len()
                        && t[..kind.len()].eq_ignore_ascii_case(kind)
                        && t[kind.len()] == b'/'
                }
                None => t.eq_ignore_ascii_case(range),
            }
        };
        if let Some(accept) = accept {
            for range in accept.split(|&b| b == b',') {
                let range = range
                    .split(|&b| b == b';')
                    .next()
                    .unwrap_or(range)
                    .trim_ascii();
                if range.is_empty() {
                    continue;
                }
                if let Some((_, body)) = self.templates.iter().find(|(t, _)| covers(range, t)) {
                    return Some(body);
                }
            }
        }
        let json = self
            .templates
            .iter()
            .find(|(t, _)| &**t == "application/json");
        Some(&json.unwrap_or(first).1)
    }
}

/// Compiles an HTTP (non-proxy) integration around its backend call. A template that does
/// not compile or render, a header that is not a valid one (state written before the admin
/// API refused such values) makes the method unservable rather than reach the wire.
pub fn compile(
    i: &Integration,
    stage: &Stage,
    backend: HttpProxyIntegration,
) -> Result<HttpIntegration, String> {
    let stage_variables: Vec<(Box<str>, Box<str>)> = stage
        .variables
        .iter()
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect();
    let (requests, passthrough) = compile_requests(i, &stage_variables)?;
    let mut responses = Vec::new();
    for r in i.integration_responses.values() {
        responses.push(compile_response(r, &stage_variables)?);
    }
    Ok(HttpIntegration {
        backend,
        requests,
        passthrough,
        responses,
        stage_variables,
        handling: crate::dataplane::content::Handling::of(i.content_handling.as_deref()),
    })
}

/// An integration's request templates by media type (static ones rendered now) and its
/// passthrough behavior.
pub fn compile_requests(
    i: &Integration,
    stage_variables: &[(Box<str>, Box<str>)],
) -> Result<(RequestTemplates, Passthrough), String> {
    let passthrough = match i.passthrough_behavior.as_deref() {
        None | Some("WHEN_NO_MATCH") => Passthrough::WhenNoMatch,
        Some("WHEN_NO_TEMPLATES") => Passthrough::WhenNoTemplates,
        Some("NEVER") => Passthrough::Never,
        Some(other) => return Err(format!("passthrough behavior {other} is not served")),
    };
    let mut requests = Vec::new();
    for (content_type, source) in &i.request_templates {
        let media = media_type(content_type);
        if !is_header_value(&media) {
            return Err(format!(
                "the request template content type {content_type:?} is not a valid header value"
            ));
        }
        if source.contains("requestOverride.path") {
            return Err("$context.requestOverride.path is not applied".into());
        }
        let t = Template::compile(source)
            .map_err(|e| format!("request template for {content_type}: {e}"))?;
        let body = if t.uses_request_data() {
            RequestBody::Render(t)
        } else {
            let mut out = String::new();
            TemplateData::default()
                .render(&t, b"", stage_variables, &mut out)
                .map_err(|e| format!("request template for {content_type}: {e}"))?;
            RequestBody::Fixed(out.into_bytes().into())
        };
        requests.push((media.into(), body));
    }
    Ok((requests, passthrough))
}

/// One integration response: its selection pattern, header mappings and templates (static
/// ones rendered now).
pub fn compile_response(
    r: &IntegrationResponse,
    stage_variables: &[(Box<str>, Box<str>)],
) -> Result<HttpResponse, String> {
    let pattern = compile_pattern(r.selection_pattern.as_deref())?;
    let status = r.status_code.parse::<u16>().unwrap_or(200);
    let mut headers: Vec<(Box<str>, Box<str>)> = Vec::new();
    let mut mapped = Vec::new();
    for (target, src) in &r.response_parameters {
        let Some(name) = target
            .strip_prefix("method.response.header.")
            .filter(|n| is_header_name(n))
        else {
            return Err(format!(
                "the response mapping {target:?} = {src:?} is not served"
            ));
        };
        match parse_response_source(src, stage_variables)? {
            HeaderMapping::Fixed(value) if is_header_value(&value) => {
                headers.push((name.into(), value))
            }
            HeaderMapping::Fixed(_) => {
                return Err(format!(
                    "the response header mapping {target:?} = {src:?} is not a valid header"
                ))
            }
            HeaderMapping::Read(source) => mapped.push((name.into(), source)),
        }
    }
    let with_type = |content_type: &str| {
        let mut h = vec![("Content-Type".into(), content_type.into())];
        h.extend(headers.iter().cloned());
        h
    };
    let mut templates = Vec::new();
    for (content_type, source) in &r.response_templates {
        if !is_header_value(content_type) {
            return Err(format!(
                "the integration response content type {content_type:?} is not a valid header value"
            ));
        }
        let t = Template::compile(source)
            .map_err(|e| format!("response template for {content_type}: {e}"))?;
        let headers = with_type(content_type);
        let body = if t.uses_request_data() {
            ResponseBody::Render(t, headers)
        } else {
            let mut out = String::new();
            let rendered = TemplateData::default()
                .render(&t, b"", stage_variables, &mut out)
                .map_err(|e| format!("response template for {content_type}: {e}"))?;
            ResponseBody::Fixed(mock::answer(status, &headers, &rendered, out.into_bytes()))
        };
        templates.push((media_type(content_type).into(), body));
    }
    let passthrough_head = mock::answer(
        status,
        &with_type("application/json"),
        &tollgate_vtl::Rendered::default(),
        Vec::new(),
    )
    .header_block;
    Ok(HttpResponse {
        pattern,
        mapped,
        status,
        templates,
        passthrough_head,
        handling: crate::dataplane::content::Handling::of(r.content_handling.as_deref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use tollgate_proto::model::IntegrationType;

    fn backend() -> HttpProxyIntegration {
        let i = Integration {
            kind: IntegrationType::Http,
            http_method: Some("POST".into()),
            uri: Some("http://127.0.0.1:9/x".into()),
            ..Default::default()
        };
        super::super::routing::compile_http_proxy(&i, &Stage::default()).unwrap()
    }

    /// (status, selection pattern, templates by media type)
    type Response<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)]);
    /// (passthrough behavior, templates, content type, passes through?)
    type Case<'a> = (
        Option<&'a str>,
        &'a [(&'a str, &'a str)],
        Option<&'a [u8]>,
        Option<bool>,
    );

    fn integration(
        passthrough: Option<&str>,
        requests: &[(&str, &str)],
        responses: &[Response<'_>],
    ) -> HttpIntegration {
        let mut i = Integration {
            kind: IntegrationType::Http,
            passthrough_behavior: passthrough.map(str::to_owned),
            request_templates: requests
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        for (code, pattern, templates) in responses {
            i.integration_responses.insert(
                code.to_string(),
                Box::new(IntegrationResponse {
                    status_code: code.to_string(),
                    selection_pattern: pattern.map(str::to_owned),
                    response_templates: templates
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<BTreeMap<_, _>>(),
                    ..Default::default()
                }),
            );
        }
        let stage = Stage {
            variables: BTreeMap::from([("v".into(), "x".into())]),
            ..Default::default()
        };
        compile(&i, &stage, backend()).unwrap()
    }

    #[test]
    fn backend_is_not_forwarded_the_clients_request() {
        assert!(!backend().forward_client);
    }

    #[test]
    fn passthrough_behaviors_as_aws() {
        let t = &[("application/json", "{\"a\": \"$stageVariables.v\"}")][..];
        // (behavior, templates, content type, passes, template used)
        let cases: &[Case<'_>] = &[
            (None, t, Some(b"application/json"), Some(false)),
            (None, t, None, Some(false)),
            (None, t, Some(b"text/plain"), Some(true)),
            (
                Some("WHEN_NO_MATCH"),
                t,
                Some(b"Application/JSON; charset=x"),
                Some(false),
            ),
            (Some("WHEN_NO_TEMPLATES"), t, Some(b"text/plain"), None),
            (
                Some("WHEN_NO_TEMPLATES"),
                &[],
                Some(b"text/plain"),
                Some(true),
            ),
            (Some("NEVER"), t, Some(b"text/plain"), None),
            (Some("NEVER"), &[], Some(b"text/plain"), None),
            (Some("NEVER"), t, Some(b"application/json"), Some(false)),
        ];
        for (i, (behavior, templates, ct, want)) in cases.iter().enumerate() {
            let h = integration(*behavior, templates, &[]);
            let got = h.outgoing(*ct).map(|o| matches!(o, Outgoing::Passthrough));
            assert_eq!(got, *want, "case {i}");
        }
        // A static template was rendered at compile, stage variables included.
        let h = integration(None, t, &[]);
        let Some(Outgoing::Template("application/json", RequestBody::Fixed(b))) = h.outgoing(None)
        else {
            panic!("not fixed");
        };
        assert_eq!(&**b, b"{\"a\": \"x\"}");
        let h = integration(None, &[("application/json", "$input.body")], &[]);
        assert!(matches!(
            h.outgoing(None),
            Some(Outgoing::Template(_, RequestBody::Render(_)))
        ));
    }

    #[test]
    fn responses_are_selected_by_the_whole_status() {
        let h = integration(
            None,
            &[],
            &[
                ("200", None, &[]),
                ("404", Some("404"), &[]),
                ("500", Some("5\\d{2}"), &[]),
                ("400", Some("4\\d"), &[]),
            ],
        );
        let cases = [
            (200, 200),
            (201, 200),
            (404, 404),
            (503, 500),
            (400, 200),
            (418, 200),
        ];
        for (backend, want) in cases {
            assert_eq!(h.select(backend).map(|r| r.status), Some(want), "{backend}");
        }
        let none = integration(None, &[], &[("404", Some("404"), &[])]);
        assert!(none.select(200).is_none());
    }

    #[test]
    fn response_templates_are_chosen_by_accept() {
        let h = integration(
            None,
            &[],
            &[(
                "200",
                None,
                &[
                    ("application/xml", "xml"),
                    ("application/json", "json"),
                    ("text/plain", "text"),
                ],
            )],
        );
        let r = h.select(200).unwrap();
        let body = |accept: Option<&[u8]>| match r.template(accept) {
            Some(ResponseBody::Fixed(a)) => String::from_utf8(a.body.to_vec()).unwrap(),
            _ => panic!("no fixed template"),
        };
        let cases: &[(Option<&[u8]>, &str)] = &[
            (None, "json"),
            (Some(b"text/plain"), "text"),
            (Some(b"TEXT/PLAIN; q=0.5"), "text"),
            (Some(b"image/png, application/xml"), "xml"),
            (Some(b"image/png"), "json"),
            (Some(b"text/*"), "text"),
            (Some(b"*/*"), "json"),
            (Some(b""), "json"),
        ];
        for (accept, want) in cases {
            assert_eq!(body(*accept), *want, "{accept:?}");
        }
        let Some(ResponseBody::Fixed(a)) = r.template(Some(b"text/plain")) else {
            panic!("not fixed");
        };
        assert!(std::str::from_utf8(&a.header_block)
            .unwrap()
            .starts_with("Content-Type: text/plain\r\n"));
        // No templates: the backend's body passes through as JSON.
        let bare = integration(None, &[], &[("200", None, &[])]);
        let r = bare.select(200).unwrap();
        assert!(r.template(None).is_none());
        assert_eq!(&*r.passthrough_head, b"Content-Type: application/json\r\n");
    }
}
