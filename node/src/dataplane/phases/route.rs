//! Phase 2: the method serving the request's verb at its path ([`crate::dataplane::matcher`]).

use crate::dataplane::gateway_response::{self as gr, Refusal};
use crate::dataplane::matcher::{self, Captures};
use crate::dataplane::routing::{CompiledMethod, StageRoutes, Verb};

/// The method, with the path parameters captured into `caps`; AWS answers a missing resource
/// or method as it answers a missing stage (403, Missing Authentication Token).
pub fn run<'t>(
    stage: &'t StageRoutes,
    path: &str,
    verb: &str,
    caps: &mut Captures<'t>,
) -> Result<&'t CompiledMethod, Refusal> {
    let verb = Verb::from_bytes(verb.as_bytes()).ok_or(gr::MISSING_AUTHENTICATION_TOKEN)?;
    matcher::find(stage, path, verb, caps).ok_or(gr::MISSING_AUTHENTICATION_TOKEN)
}
