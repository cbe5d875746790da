//! Phase 1: the API and stage a request invokes, from its host (`{api}.execute-api.…`) or its
//! path (`/restapis/{api}/{stage}/_user_request_/…`); see [`crate::dataplane::invoke`].

use crate::dataplane::gateway_response::{self as gr, CompiledGatewayResponses, Refusal};
use crate::dataplane::invoke;
use crate::dataplane::routing::{ApiRoutes, RoutingTable, StageRoutes};

/// A resolved request: its API, stage and the path below the stage.
pub struct Resolved<'t, 'r> {
    /// The API.
    pub api: &'t ApiRoutes,
    /// The stage.
    pub stage: &'t StageRoutes,
    /// The stage-relative path, starting with `/`.
    pub path: &'r str,
}

/// Finds the API and stage. Refusals here carry no gateway responses: those are a stage's (its
/// deployment froze them), and no stage is known yet.
pub fn run<'t, 'r>(
    table: &'t RoutingTable,
    host: Option<&'r [u8]>,
    path: &'r str,
) -> Result<Resolved<'t, 'r>, (Refusal, Option<&'t CompiledGatewayResponses>)> {
    let target = invoke::resolve(host, path).ok_or((gr::UNKNOWN_API, None))?;
    let api = table
        .apis
        .get(target.api_id)
        .ok_or((gr::UNKNOWN_API, None))?;
    if api.execute_api_disabled {
        // The endpoint is off: the request never reaches the API, nor its gateway responses.
        return Err((gr::EXECUTE_API_DISABLED, None));
    }
    let stage = api
        .stages
        .get(target.stage)
        .ok_or((gr::MISSING_AUTHENTICATION_TOKEN, None))?;
    Ok(Resolved {
        api,
        stage,
        path: target.path,
    })
}
