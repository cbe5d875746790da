//! Phase 11: the integration response: a proxied backend's answer goes to the client as is
//! (and into the cache when it is a 2xx and the method caches); a backend that timed out or
//! failed is the gateway's own answer. An HTTP (non-proxy) backend's answer is mapped through
//! the integration response its status selects ([`http`]). A Lambda proxy function's answer is checked and turned
//! into the client's by AWS's rules ([`lambda`]); a malformed one, a failed function or one
//! without a target is the gateway's own answer.

use super::cache::CacheUse;
use super::integration_request::LazyData;
use crate::dataplane::content;
use crate::dataplane::gateway_response::{self as gr, Refusal};
use crate::dataplane::http_integration::{
    append_mapped, BackendAnswer, HttpIntegration, HttpResponse, ResponseBody,
};
use crate::dataplane::lambda::mapped::{self, LambdaMapping, Outcome};
use crate::dataplane::lambda::response::{self, Reply};
use crate::dataplane::mock;
use crate::dataplane::routing::RenderedResponse;
use crate::dataplane::upstream::ProxyError;
use crate::functions::{InvokeError, InvokeResult};
use std::borrow::Cow;

/// What to do with the backend's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapped {
    /// Relay the backend's answer; store it in the cache when `store` says where.
    Relay {
        /// The cache to store it in, when it is to be stored.
        store: Option<CacheUse>,
    },
    /// Answer with a gateway response; the cause goes to the log.
    Refuse(Refusal, &'static str),
}

/// Maps the backend's status (or failure) to the client answer.
pub fn run(result: Result<u16, ProxyError>, cache: Option<CacheUse>) -> Mapped {
    match result {
        Ok(status) => Mapped::Relay {
            store: cache.filter(|_| (200..300).contains(&status)),
        },
        Err(ProxyError::Timeout) => {
            Mapped::Refuse(gr::INTEGRATION_TIMEOUT, ProxyError::Timeout.cause())
        }
        Err(e) => Mapped::Refuse(gr::INTEGRATION_FAILURE, e.cause()),
    }
}

/// The client answer of an HTTP (non-proxy) integration: the integration response the
/// backend's status selects, its template for the client's `Accept` rendered over the
/// backend's body (its bytes when it reads nothing), or the body passed through when it has
/// none. A backend that failed or timed out, a status no response is selected for, a
/// template that fails over the backend's body: the gateway's own answer.
pub fn http<'t>(
    h: &'t HttpIntegration,
    result: Result<BackendAnswer<'_>, ProxyError>,
    accept: Option<&[u8]>,
    data: &mut LazyData<'_, '_>,
) -> Result<Cow<'t, RenderedResponse>, (Refusal, &'static str)> {
    let answer = match result {
        Ok(a) => a,
        Err(ProxyError::Timeout) => {
            return Err((gr::INTEGRATION_TIMEOUT, ProxyError::Timeout.cause()))
        }
        Err(e) => return Err((gr::INTEGRATION_FAILURE, e.cause())),
    };
    // AWS: "Execution failed due to configuration error: No match for output mapping and no
    // default output mapping".
    let body = answer.body;
    let r = h.select(answer.status).ok_or((
        gr::API_CONFIGURATION_ERROR,
        "no integration response for the backend's status and no default one",
    ))?;
    let mut response = mapped_body(&h.stage_variables, r, body, accept, data)?;
    // AWS's response conversion table ([`content`]): the backend's content type says
    // whether its payload is binary, the client's first `Accept` type what it wants.
    let payload_type = answer
        .headers
        .iter()
        .find(|(n, _)| answer.head[n.clone()].eq_ignore_ascii_case(b"content-type"))
        .and_then(|(_, v)| std::str::from_utf8(&answer.head[v.clone()]).ok())
        .unwrap_or("application/json");
    response = content::convert_answer(
        response,
        Some(payload_type),
        accept,
        &data.view().stage.binary_media_types,
        r.handling,
    )
    .map_err(|_| {
        (
            gr::API_CONFIGURATION_ERROR,
            "a payload to convert to binary is not base64",
        )
    })?;
    if !r.mapped.is_empty() {
        let context = r.maps_context().then(|| data.get());
        let mut block = response.header_block.to_vec();
        append_mapped(&mut block, r, &answer, context);
        response.to_mut().header_block = block.into();
    }
    Ok(response)
}

/// The answer's status, fixed headers and body: the response template for `accept`
/// rendered over the backend's `body`, or the body passed through.
fn mapped_body<'t>(
    stage_variables: &[(Box<str>, Box<str>)],
    r: &'t HttpResponse,
    body: &[u8],
    accept: Option<&[u8]>,
    data: &mut LazyData<'_, '_>,
) -> Result<Cow<'t, RenderedResponse>, (Refusal, &'static str)> {
    match r.template(accept) {
        None => Ok(Cow::Owned(RenderedResponse {
            status: r.status,
            header_block: r.passthrough_head.clone(),
            body: body.into(),
        })),
        Some(ResponseBody::Fixed(answer)) => Ok(Cow::Borrowed(answer)),
        Some(ResponseBody::Render(t, headers)) => {
            let mut out = String::new();
            // AWS: "Execution failed due to configuration error: Unable to transform response".
            let rendered = data
                .get()
                .render(t, body, stage_variables, &mut out)
                .map_err(|_| {
                    (
                        gr::API_CONFIGURATION_ERROR,
                        "a response template failed to render over the backend's answer",
                    )
                })?;
            Ok(Cow::Owned(mock::answer(
                r.status,
                headers,
                &rendered,
                out.into_bytes(),
            )))
        }
    }
}

/// The client answer of a Lambda proxy invocation: the function's answer, or a refusal with
/// its cause (504 for the integration timeout, 500 for a function with no target on this
/// node, 502 for everything else, as AWS answers a failed or malformed Lambda proxy answer).
pub fn lambda(
    result: InvokeResult,
    binary_media_types: &[Box<str>],
) -> Result<Reply, (Refusal, &'static str)> {
    match result {
        Ok(payload) => response::parse(&payload, binary_media_types)
            .map_err(|why| (gr::INTEGRATION_FAILURE, why)),
        Err(e) => Err(invoke_failure(&e)),
    }
}

/// The gateway's answer to an invocation that gave no usable answer: 504 for the integration
/// timeout, 500 for a function with no target on this node, 502 for everything else.
fn invoke_failure(e: &InvokeError) -> (Refusal, &'static str) {
    match e {
        InvokeError::Timeout => (gr::INTEGRATION_TIMEOUT, e.cause()),
        InvokeError::NoTarget => (gr::API_CONFIGURATION_ERROR, e.cause()),
        _ => (gr::INTEGRATION_FAILURE, e.cause()),
    }
}

/// The client answer of an AWS (non-proxy) Lambda integration: the integration response its
/// outcome selects ([`mapped`]), its template for the client's `Accept` rendered over the
/// function's result or error document (passed through when it has none). The integration
/// timeout is 504; a failure that is not the function's own (no target on this node: 500;
/// the target unreachable, overloaded, too large an answer, a process that cannot start:
/// 502), an outcome no response is selected for and a template that fails to render are the
/// gateway's own answers.
pub fn lambda_mapped<'t>(
    m: &'t LambdaMapping,
    result: InvokeResult,
    accept: Option<&[u8]>,
    data: &mut LazyData<'_, '_>,
) -> Result<Cow<'t, RenderedResponse>, (Refusal, &'static str)> {
    let outcome = match &result {
        Ok(payload) => Outcome::Result(payload),
        Err(e) => mapped::function_error(e).ok_or_else(|| invoke_failure(e))?,
    };
    // AWS: "Execution failed due to configuration error: No match for output mapping and no
    // default output mapping".
    let r = m.select(&outcome).ok_or((
        gr::API_CONFIGURATION_ERROR,
        match outcome {
            Outcome::Result(_) => "the Lambda function answered and there is no default integration response",
            Outcome::Error(..) => "no integration response matches the Lambda function's error and there is no default one",
        },
    ))?;
    mapped_body(&m.stage_variables, r, outcome.body(), accept, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_failures_map_to_aws_statuses() {
        let status = |r: InvokeResult| lambda(r, &[]).map(|r| r.status).map_err(|e| e.0.status);
        assert_eq!(status(Ok(br#"{"statusCode": 204}"#.to_vec())), Ok(204));
        assert_eq!(status(Ok(b"\"bare\"".to_vec())), Err(502));
        assert_eq!(status(Err(InvokeError::Timeout)), Err(504));
        assert_eq!(status(Err(InvokeError::NoTarget)), Err(500));
        for e in [
            InvokeError::FunctionTimeout,
            InvokeError::Crashed,
            InvokeError::FunctionError(Default::default()),
            InvokeError::InitFailed,
            InvokeError::Overloaded,
            InvokeError::TooLarge,
            InvokeError::Stopped,
            InvokeError::Unreachable,
            InvokeError::TargetError,
        ] {
            assert_eq!(status(Err(e.clone())), Err(502), "{e:?}");
        }
    }
}
