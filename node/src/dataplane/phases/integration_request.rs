//! Phase 9: the integration request: what the method calls. A MOCK integration answers with the
//! response its template selects (compiled ahead); an HTTP proxy gets the plan the worker
//! carries out; a Lambda proxy integration gets the function to invoke, and [`lambda_event`]
//! builds the event the worker sends it; an integration this node cannot serve is refused
//! (500).

use crate::dataplane::gateway_response::{self as gr, Refusal};
use crate::dataplane::lambda::event::{self, EventInput};
use crate::dataplane::routing::{
    CompiledIntegration, HttpProxyIntegration, LambdaIntegration, RenderedResponse,
};

/// What to call.
pub enum Call<'t> {
    /// Answer with this MOCK response.
    Mock(&'t RenderedResponse),
    /// Forward to this backend.
    Proxy(&'t HttpProxyIntegration),
    /// Invoke this Lambda function.
    Lambda(&'t LambdaIntegration),
}

/// The Lambda proxy event (format 1.0) of a request.
pub fn lambda_event(input: &EventInput<'_>) -> Vec<u8> {
    event::build(input)
}

/// The call the integration asks for; a refusal comes with its cause for the log.
pub fn run(integration: &CompiledIntegration) -> Result<Call<'_>, (Refusal, &str)> {
    match integration {
        CompiledIntegration::Mock(m) => match &m.response {
            Some(r) => Ok(Call::Mock(r)),
            // AWS: "Execution failed due to configuration error: No match for output mapping
            // and no default output mapping".
            None => Err((
                gr::API_CONFIGURATION_ERROR,
                "MOCK integration has no response for its status",
            )),
        },
        CompiledIntegration::HttpProxy(p) => Ok(Call::Proxy(p)),
        CompiledIntegration::Lambda(l) => Ok(Call::Lambda(l)),
        CompiledIntegration::Unavailable(why) => Err((gr::API_CONFIGURATION_ERROR, why)),
    }
}
