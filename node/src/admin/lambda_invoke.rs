//! The Lambda Invoke API for the functions this node defines, on the admin port, so
//! `aws lambda invoke --endpoint-url http://ADMIN --function-name NAME` works against them:
//! `POST /2015-03-31/functions/{FunctionName}/invocations` (a name or a function ARN), signed
//! with SigV4 for service `lambda`, `X-Amz-Invocation-Type` `RequestResponse` (the default) or
//! `DryRun`; asynchronous (`Event`) invocations are refused. A function error is answered
//! 200 with `X-Amz-Function-Error: Unhandled`, as Lambda does.

use super::AdminState;
use crate::functions::{InvokeError, MAX_RESPONSE_BYTES};
use crate::sigv4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::{Request, Response, StatusCode};
use std::time::Duration;

/// The path prefix of the Invoke API.
pub const PREFIX: &str = "/2015-03-31/functions/";

/// How long an invocation may take here: the function's own timeout governs (at most 900 s).
const MAX_INVOCATION: Duration = Duration::from_secs(900);

fn answer(
    status: u16,
    error_type: Option<&'static str>,
    function_error: bool,
    body: Vec<u8>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Some(t) = error_type {
        h.insert(
            "x-amzn-ErrorType",
            hyper::header::HeaderValue::from_static(t),
        );
    }
    if function_error {
        h.insert(
            "x-amz-function-error",
            hyper::header::HeaderValue::from_static("Unhandled"),
        );
    }
    if status == 200 {
        h.insert(
            "x-amz-executed-version",
            hyper::header::HeaderValue::from_static("$LATEST"),
        );
    }
    r
}

fn error(status: u16, error_type: &'static str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"Type": "User", "message": message}).to_string();
    answer(status, Some(error_type), false, body.into_bytes())
}

/// The function name of `/2015-03-31/functions/{FunctionName}/invocations`: a name, or the
/// name in a (partial) function ARN.
pub fn function_name(path: &str) -> Option<String> {
    let raw = path.strip_prefix(PREFIX)?.strip_suffix("/invocations")?;
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?
        .into_owned();
    let name = match decoded.split(':').collect::<Vec<_>>().as_slice() {
        [name] => (*name).to_string(),
        ["arn", _, "lambda", _, _, "function", name, ..] => (*name).to_string(),
        [_, "function", name, ..] => (*name).to_string(),
        _ => return None,
    };
    (!name.is_empty()).then_some(name)
}

/// Serves one Invoke API call.
pub async fn handle<B>(req: Request<B>, state: &AdminState) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(
        super::http::BODY_TIMEOUT,
        Limited::new(body, MAX_RESPONSE_BYTES).collect(),
    )
    .await
    {
        Ok(Ok(b)) => b.to_bytes(),
        _ => {
            return error(
                413,
                "RequestTooLargeException",
                "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
            )
        }
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let path = parts.uri.path();
    let signed = sigv4::Request {
        method: parts.method.as_str(),
        path,
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    let secret_for = |key: &str| {
        state
            .credentials
            .iter()
            .find(|c| c.access_key_id == key)
            .map(|c| c.secret_access_key.clone())
    };
    if let Err(e) = sigv4::verify(
        &signed,
        secret_for,
        state.region.as_deref(),
        "lambda",
        crate::ids::now_epoch(),
    ) {
        let mut r = error(e.status(), "AccessDeniedException", &e.message());
        if let Ok(v) = hyper::header::HeaderValue::from_str(e.error_type()) {
            r.headers_mut().insert("x-amzn-ErrorType", v);
        }
        return r;
    }
    if parts.method != hyper::Method::POST {
        return error(405, "InvalidRequestContentException", "Invoke takes POST");
    }
    let Some(name) = function_name(path) else {
        return error(
            400,
            "InvalidParameterValueException",
            "Invalid function name",
        );
    };
    let kind = parts
        .headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse");
    let Some(functions) = state.functions.as_ref().filter(|f| f.has(&name)) else {
        return error(
            404,
            "ResourceNotFoundException",
            &format!("Function not found: {name}"),
        );
    };
    match kind {
        "RequestResponse" => {}
        "DryRun" => return answer(204, None, false, Vec::new()),
        _ => {
            return error(
                400,
                "InvalidParameterValueException",
                "Only RequestResponse and DryRun invocations are served by this gateway",
            )
        }
    }
    let region = state.region.as_deref().unwrap_or("us-east-1");
    let arn = format!("arn:aws:lambda:{region}:000000000000:function:{name}");
    let pending = match functions.invoke(&name, &arn, body.to_vec(), MAX_INVOCATION) {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    match pending.rx.await {
        Ok(Ok(payload)) => answer(200, None, false, payload),
        Ok(Err(e)) => failed(e),
        Err(_) => failed(InvokeError::Stopped),
    }
}

/// How Lambda reports an invocation that gave no answer.
fn failed(e: InvokeError) -> Response<Full<Bytes>> {
    match e {
        InvokeError::NoTarget => error(404, "ResourceNotFoundException", e.cause()),
        InvokeError::Overloaded => error(429, "TooManyRequestsException", "Rate Exceeded."),
        InvokeError::Stopped | InvokeError::Unreachable | InvokeError::TargetError => {
            error(502, "ServiceException", e.cause())
        }
        InvokeError::TooLarge => error(502, "ResponseSizeTooLarge", e.cause()),
        // The function's own error document, as Lambda answers it.
        InvokeError::FunctionError(f) | InvokeError::Unauthorized(f) => {
            answer(200, None, true, f.0.into_vec())
        }
        InvokeError::Timeout
        | InvokeError::FunctionTimeout
        | InvokeError::Crashed
        | InvokeError::InitFailed => {
            let body = serde_json::json!({"errorMessage": e.cause(), "errorType": "Runtime.Error"});
            answer(200, None, true, body.to_string().into_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names() {
        let p = |s: &str| function_name(&format!("{PREFIX}{s}/invocations"));
        assert_eq!(p("echo").as_deref(), Some("echo"));
        assert_eq!(
            p("arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Aecho").as_deref(),
            Some("echo")
        );
        assert_eq!(
            p("arn:aws:lambda:us-east-1:1:function:echo:live").as_deref(),
            Some("echo")
        );
        assert_eq!(p("1:function:echo").as_deref(), Some("echo"));
        assert_eq!(p(""), None);
        assert_eq!(function_name("/2015-03-31/functions/echo"), None);
    }
}
