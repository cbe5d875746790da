//! Phase 9: the integration request: what the method calls. A MOCK integration's request
//! template (chosen by the request's `Content-Type`, or the body passed through as its
//! passthrough behavior allows) selects a status, and the status its integration response;
//! a template that reads request data is rendered here. An HTTP proxy gets the plan the
//! worker carries out; a Lambda proxy integration gets the function to invoke, and
//! [`lambda_event`] builds the event the worker sends it; an integration this node cannot
//! serve is refused (500).

use crate::dataplane::gateway_response::{self as gr, Refusal};
use crate::dataplane::lambda::event::{self, EventInput};
use crate::dataplane::mapping::{RequestView, TemplateData};
use crate::dataplane::mock::{
    status_of, MockError, MockIntegration, MockResponse, Passthrough, RequestSide,
};
use crate::dataplane::routing::{CompiledIntegration, HttpProxyIntegration, LambdaIntegration};
use tollgate_vtl::RenderError;

/// What to call.
pub enum Call<'t> {
    /// Answer with this MOCK integration response.
    Mock(&'t MockIntegration, &'t MockResponse),
    /// Forward to this backend.
    Proxy(&'t HttpProxyIntegration),
    /// Invoke this Lambda function.
    Lambda(&'t LambdaIntegration),
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

    /// The data, gathered now if not yet.
    pub fn get(&mut self) -> &TemplateData {
        let view = &self.view;
        self.data
            .get_or_insert_with(|| TemplateData::from_request(view))
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
        CompiledIntegration::Lambda(l) => Ok(Call::Lambda(l)),
        CompiledIntegration::Unavailable(why) => Err((gr::API_CONFIGURATION_ERROR, why)),
    }
}
