//! Phase 9: the integration request: what the method calls. A MOCK integration's request
//! template (chosen by the request's `Content-Type`, or the body passed through as its
//! passthrough behavior allows) selects a status, and the status its integration response;
//! a template that reads request data is rendered here. An HTTP (non-proxy) integration's
//! request template gives the body its backend is sent (415 when none matches and the
//! passthrough behavior forbids passing). An HTTP proxy gets the plan the
//! worker carries out; a Lambda proxy integration gets the function to invoke, and
//! [`lambda_event`] builds the event the worker sends it; an AWS (non-proxy) Lambda
//! integration's request template renders the payload instead (as an HTTP integration's); an integration this node cannot
//! serve is refused (500).

use crate::dataplane::content;
use crate::dataplane::gateway_response::{self as gr, Refusal};
use crate::dataplane::http_integration::{HttpIntegration, Outgoing, RequestBody};
use crate::dataplane::lambda::event::{self, EventInput};
use crate::dataplane::lambda::mapped::{self, LambdaMapping};
use crate::dataplane::mapping::{RequestView, TemplateData};
use crate::dataplane::mock::{
    status_of, MockError, MockIntegration, MockResponse, Passthrough, RequestSide,
};
use crate::dataplane::routing::{CompiledIntegration, HttpProxyIntegration, LambdaIntegration};
use crate::dataplane::upstream::MappedBody;
use tollgate_vtl::RenderError;

/// What to call.
pub enum Call<'t> {
    /// Answer with this MOCK integration response.
    Mock(&'t MockIntegration, &'t MockResponse),
    /// Forward to this backend.
    Proxy(&'t HttpProxyIntegration),
    /// Invoke this Lambda function; an AWS (non-proxy) integration with this payload (its
    /// request template's output, or the body passed through).
    Lambda(&'t LambdaIntegration, Option<Vec<u8>>),
    /// Call this HTTP (non-proxy) integration's backend with this body.
    Http(HttpCall<'t>),
}

/// An HTTP (non-proxy) integration's backend call: the integration, and the body its request
/// template gave.
pub struct HttpCall<'t> {
    /// The integration.
    pub integration: &'t HttpIntegration,
    /// What the backend is sent.
    pub body: HttpBody<'t>,
}

/// The body of an HTTP (non-proxy) integration's backend request.
pub enum HttpBody<'t> {
    /// A static template's output, with its media type.
    Fixed(&'t [u8], &'t str),
    /// A template rendered for this request, with its media type and the
    /// `$context.requestOverride.{header,querystring}.*` values it set.
    Rendered(Vec<u8>, &'t str, Vec<tollgate_vtl::Override>),
    /// The client's body and `Content-Type`, passed through.
    Passthrough,
    /// The client's body converted as `contentHandling` says (base64 encoded or decoded),
    /// with the client's `Content-Type`.
    Converted(Vec<u8>),
}

impl HttpCall<'_> {
    /// The body and content type to send for `req`.
    pub fn mapped<'b>(&'b self, req: &crate::dataplane::request::Request<'b>) -> MappedBody<'b> {
        match &self.body {
            HttpBody::Fixed(b, t) => MappedBody {
                bytes: b,
                content_type: Some(t.as_bytes()),
                overrides: &[],
            },
            HttpBody::Rendered(b, t, overrides) => MappedBody {
                bytes: b,
                content_type: Some(t.as_bytes()),
                overrides,
            },
            HttpBody::Passthrough => MappedBody {
                bytes: req.body,
                content_type: req.header(b"content-type"),
                overrides: &[],
            },
            HttpBody::Converted(b) => MappedBody {
                bytes: b,
                content_type: req.header(b"content-type"),
                overrides: &[],
            },
        }
    }
}

/// The body an HTTP (non-proxy) request sends: its request template's (rendered when it
/// reads request data), or the client's, as the passthrough behavior allows.
fn http_call<'t>(
    h: &'t HttpIntegration,
    data: &mut LazyData<'_, '_>,
) -> Result<HttpCall<'t>, MockError> {
    // AWS's request conversion table (see `content`): a binary body is passed as it is
    // unless CONVERT_TO_TEXT makes it base64 text; CONVERT_TO_BINARY decodes a text one.
    let content_type = data.view.req.header(b"content-type");
    let types = &data.view.stage.binary_media_types;
    let binary = !types.is_empty()
        && content::is_binary(
            std::str::from_utf8(content_type.unwrap_or_default()).unwrap_or(""),
            types,
        );
    let convert = content::request(binary, h.handling);
    let converted = match convert {
        content::Convert::Keep => None,
        c => Some(
            content::apply(c, data.body())
                .map_err(|_| MockError::NotBase64)?
                .into_owned(),
        ),
    };
    // A binary body reaches the backend untouched by templates (AWS maps only text).
    let outgoing = if binary && convert != content::Convert::Encode {
        Some(Outgoing::Passthrough)
    } else {
        h.outgoing(content_type)
    };
    let body = match outgoing {
        None => return Err(MockError::UnsupportedMediaType),
        Some(Outgoing::Passthrough) => match converted {
            Some(b) => HttpBody::Converted(b),
            None => HttpBody::Passthrough,
        },
        Some(Outgoing::Template(t, RequestBody::Fixed(b))) => HttpBody::Fixed(b, t),
        Some(Outgoing::Template(t, RequestBody::Render(template))) => {
            let body = converted.as_deref().unwrap_or(data.body());
            let mut out = String::new();
            let mut rendered = data
                .get()
                .render(template, body, &h.stage_variables, &mut out)?;
            rendered
                .overrides
                .retain(|o| o.name.starts_with("requestOverride."));
            HttpBody::Rendered(out.into_bytes(), t, rendered.overrides)
        }
    };
    Ok(HttpCall {
        integration: h,
        body,
    })
}

/// The payload an AWS (non-proxy) Lambda integration sends: its request template's output
/// (rendered when it reads request data), or the client's body as the passthrough behavior
/// allows ([`mapped::passthrough_payload`]).
fn lambda_payload(m: &LambdaMapping, data: &mut LazyData<'_, '_>) -> Result<Vec<u8>, MockError> {
    Ok(match m.outgoing(data.view.req.header(b"content-type")) {
        None => return Err(MockError::UnsupportedMediaType),
        Some(Outgoing::Passthrough) => mapped::passthrough_payload(data.body()),
        Some(Outgoing::Template(_, RequestBody::Fixed(b))) => b.to_vec(),
        Some(Outgoing::Template(_, RequestBody::Render(template))) => {
            let body = data.body();
            let mut out = String::new();
            data.get()
                .render(template, body, &m.stage_variables, &mut out)?;
            out.into_bytes()
        }
    })
}

/// The Lambda proxy event (format 1.0) of a request.
pub fn lambda_event(input: &EventInput<'_>) -> Vec<u8> {
    event::build(input)
}

/// A request's template data, gathered on first use.
pub struct LazyData<'a, 'r> {
    view: RequestView<'a, 'r>,
    data: Option<TemplateData>,
}

impl<'a, 'r> LazyData<'a, 'r> {
    /// Nothing gathered yet.
    pub fn new(view: RequestView<'a, 'r>) -> Self {
        LazyData { view, data: None }
    }

    /// The request and its stage (what content conversion reads).
    pub fn view(&self) -> &RequestView<'a, 'r> {
        &self.view
    }

    /// The data, gathered now if not yet.
    pub fn get(&mut self) -> &TemplateData {
        let view = &self.view;
        self.data
            .get_or_insert_with(|| TemplateData::from_request(view))
    }

    /// The data (gathered now if not yet), moved out.
    pub fn take(&mut self) -> TemplateData {
        self.get();
        self.data.take().unwrap_or_default()
    }

    /// The request's body.
    pub fn body(&self) -> &'r [u8] {
        self.view.req.body
    }
}

/// The refusal for a MOCK that got no answer, and its cause for the log.
pub fn mock_refusal(e: &MockError) -> (Refusal, &'static str) {
    match e {
        MockError::UnsupportedMediaType => (
            gr::UNSUPPORTED_MEDIA_TYPE,
            "no mapping template for the request's content type",
        ),
        // AWS: "Execution failed due to configuration error: No match for output mapping
        // and no default output mapping".
        MockError::NoResponse => (
            gr::API_CONFIGURATION_ERROR,
            "MOCK integration has no response for its status",
        ),
        MockError::Render(RenderError::InvalidBody(_)) => (
            gr::BAD_REQUEST_BODY,
            "a mapping template read a request body that is not JSON",
        ),
        MockError::Render(_) => (
            gr::API_CONFIGURATION_ERROR,
            "a mapping template failed to render",
        ),
        // AWS: a failed text-to-binary conversion is a 500 configuration error.
        MockError::NotBase64 => (
            gr::API_CONFIGURATION_ERROR,
            "a payload to convert to binary is not base64",
        ),
    }
}

/// The status a MOCK request selects, and the response for it.
fn mock_response<'t>(
    m: &'t MockIntegration,
    data: &mut LazyData<'_, '_>,
) -> Result<&'t MockResponse, MockError> {
    let index = match m.request_template(data.view.req.header(b"content-type")) {
        Some(RequestSide::Fixed { response, .. }) => *response,
        Some(RequestSide::Render(t)) => {
            let body = data.body();
            let mut out = String::new();
            data.get().render(t, body, &m.stage_variables, &mut out)?;
            m.select(status_of(out.as_bytes()))
        }
        None => {
            let pass = match m.passthrough {
                Passthrough::WhenNoMatch => true,
                Passthrough::WhenNoTemplates => m.requests.is_empty(),
                Passthrough::Never => false,
            };
            if !pass {
                return Err(MockError::UnsupportedMediaType);
            }
            // The body passes through as the mapping's output.
            m.select(status_of(data.body()))
        }
    };
    index
        .and_then(|i| m.responses.get(i))
        .ok_or(MockError::NoResponse)
}

/// The call the integration asks for; a refusal comes with its cause for the log.
pub fn run<'t>(
    integration: &'t CompiledIntegration,
    data: &mut LazyData<'_, '_>,
) -> Result<Call<'t>, (Refusal, &'t str)> {
    match integration {
        CompiledIntegration::Mock(m) => match mock_response(m, data) {
            Ok(r) => Ok(Call::Mock(m, r)),
            Err(e) => Err(mock_refusal(&e)),
        },
        CompiledIntegration::HttpProxy(p) => Ok(Call::Proxy(p)),
        CompiledIntegration::Http(h) => match http_call(h, data) {
            Ok(c) => Ok(Call::Http(c)),
            Err(e) => Err(mock_refusal(&e)),
        },
        CompiledIntegration::Lambda(l) => match &l.mapping {
            None => Ok(Call::Lambda(l, None)),
            Some(m) => match lambda_payload(m, data) {
                Ok(payload) => Ok(Call::Lambda(l, Some(payload))),
                Err(e) => Err(mock_refusal(&e)),
            },
        },
        CompiledIntegration::Unavailable(why) => Err((gr::API_CONFIGURATION_ERROR, why)),
    }
}
