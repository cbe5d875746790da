//! Phase 5: the API key. A method that requires one needs an `x-api-key` of an enabled key in
//! a usage plan that covers the request's API and stage.

use crate::dataplane::gateway_response::{self as gr, Refusal};
use crate::dataplane::key_table::KeyPlan;
use crate::dataplane::routing::{CompiledMethod, KeyTable, StageRoutes};

/// The key's plan for this stage when the method requires a key; `None` when it does not.
pub fn run<'t>(
    method: &CompiledMethod,
    stage: &StageRoutes,
    keys: &'t KeyTable,
    x_api_key: Option<&[u8]>,
) -> Result<Option<KeyPlan<'t>>, Refusal> {
    if !method.api_key_required {
        return Ok(None);
    }
    x_api_key
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| keys.get(v))
        .and_then(|e| e.plan_for(&stage.api_id, &stage.stage_name))
        .map(Some)
        .ok_or(gr::INVALID_API_KEY)
}
