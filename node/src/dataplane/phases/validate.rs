//! Phase 4: request validation. No request validator is applied yet, so a method with one is
//! refused (500) for every request: it fails closed rather than pass unvalidated requests.

use crate::dataplane::gateway_response::{self as gr, Refusal};
use crate::dataplane::routing::{CompiledMethod, FailClosed, UnservedCheck};

/// Passes a method without a request validator; refuses one with a validator, with the reason
/// for the log.
pub fn run(method: &CompiledMethod) -> Result<(), (Refusal, &str)> {
    match &method.fail_closed {
        Some(FailClosed {
            check: UnservedCheck::Validation,
            why,
        }) => Err((gr::VALIDATION_NOT_SERVED, why)),
        _ => Ok(()),
    }
}
