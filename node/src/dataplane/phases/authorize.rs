//! Phase 3: authorization. No authorization type but `NONE` is implemented yet, so a method
//! asking for one is refused (500) for every request: it fails closed, never open. Routing
//! marks such methods when it compiles them (and logs why once).

use crate::dataplane::gateway_response::{self as gr, Refusal};
use crate::dataplane::routing::{CompiledMethod, FailClosed, UnservedCheck};

/// Passes a method that needs no authorization; refuses one whose authorization this node
/// cannot perform, with the reason for the log.
pub fn run(method: &CompiledMethod) -> Result<(), (Refusal, &str)> {
    match &method.fail_closed {
        Some(FailClosed {
            check: UnservedCheck::Authorization,
            why,
        }) => Err((gr::AUTHORIZATION_NOT_SERVED, why)),
        _ => Ok(()),
    }
}
