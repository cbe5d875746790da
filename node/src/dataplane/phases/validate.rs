//! Phase 4: request validation. The method's request validator (compiled once per table in
//! [`crate::dataplane::validate`]) checks the required parameters and the body against the
//! request model; a validator the node could not compile (missing from the deployment, a
//! schema that does not compile) refuses every request with 500 rather than pass it unchecked.

use crate::dataplane::gateway_response::{self as gr, Refusal};
use crate::dataplane::matcher::Captures;
use crate::dataplane::request::Request;
use crate::dataplane::routing::{CompiledMethod, FailClosed, UnservedCheck};
use crate::dataplane::validate::{self, Refusal as Failed};

/// Why a request did not pass validation.
pub enum Invalid<'t> {
    /// The method's validator cannot be applied (fails closed), with the reason for the log.
    Unserved(Refusal, &'t str),
    /// The request fails it: BAD_REQUEST_PARAMETERS (with AWS's message naming what is
    /// missing) or BAD_REQUEST_BODY.
    Request(Refusal, Option<String>),
}

/// Passes a request its method's validator accepts (or a method without one).
pub fn run<'t>(
    method: &'t CompiledMethod,
    req: &Request<'_>,
    caps: &Captures<'_>,
    path: &str,
) -> Result<(), Invalid<'t>> {
    if let Some(FailClosed {
        check: UnservedCheck::Validation,
        why,
    }) = &method.fail_closed
    {
        return Err(Invalid::Unserved(gr::VALIDATION_NOT_SERVED, why));
    }
    match validate::check_request(method.validation.as_deref(), req, caps, path) {
        Ok(()) => Ok(()),
        Err(Failed::MissingParameters(message)) => {
            Err(Invalid::Request(gr::BAD_REQUEST_PARAMETERS, Some(message)))
        }
        Err(Failed::InvalidBody) => Err(Invalid::Request(gr::BAD_REQUEST_BODY, None)),
    }
}
