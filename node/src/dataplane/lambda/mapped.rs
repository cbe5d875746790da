//! AWS (non-proxy) Lambda integrations: the request template (by `Content-Type`, as an HTTP
//! integration's) renders the payload the function receives, the body passing through when
//! none applies (`{}` for an empty one, as AWS invokes the function then); the function's
//! result is the integration response body. Integration responses are selected as AWS does
//! for Lambda: a successful invocation takes the default response (the one with no
//! `selectionPattern`); a function error's `errorMessage` is matched against each pattern (a
//! whole match), else the default response, and the response template renders over the
//! error document (`$input.path('$.errorMessage')`).

use crate::dataplane::http_integration::{
    compile_requests, compile_response, outgoing, HttpResponse, Outgoing, RequestBody,
};
use crate::dataplane::mock::{select_by, Passthrough};
use crate::functions::InvokeError;
use std::borrow::Cow;
use tollgate_proto::model::Integration;

/// The mapping half of an AWS (non-proxy) Lambda integration.
#[derive(Debug)]
pub struct LambdaMapping {
    /// Request templates by media type (lower case).
    pub requests: Vec<(Box<str>, RequestBody)>,
    /// What happens when no request template matches.
    pub passthrough: Passthrough,
    /// The integration responses, in the order their patterns are tried.
    pub responses: Vec<HttpResponse>,
    /// The stage's variables (what `$stageVariables` reads).
    pub stage_variables: Vec<(Box<str>, Box<str>)>,
}

/// Compiles the templates and integration responses of an AWS integration.
pub fn compile(
    i: &Integration,
    stage_variables: Vec<(Box<str>, Box<str>)>,
) -> Result<LambdaMapping, String> {
    if !i.request_parameters.is_empty() {
        return Err("request parameter mappings are not applied to AWS integrations".into());
    }
    let (requests, passthrough) = compile_requests(i, &stage_variables)?;
    let mut responses = Vec::new();
    for r in i.integration_responses.values() {
        if !r.response_parameters.is_empty()
            && r.response_parameters
                .values()
                .any(|s| !(s.starts_with('\'') || s.starts_with("stageVariables.")))
        {
            return Err(
                "response mappings reading the function's answer are not applied to AWS integrations"
                    .into(),
            );
        }
        responses.push(compile_response(r, &stage_variables)?);
    }
    Ok(LambdaMapping {
        requests,
        passthrough,
        responses,
        stage_variables,
    })
}

/// What the function answered, as the integration responses see it.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Its result.
    Result(&'a [u8]),
    /// A function error: its error document (the function's own, or the one Lambda writes
    /// for a timeout or a crashed runtime) and its `errorMessage`.
    Error(Cow<'a, [u8]>, Option<String>),
}

impl Outcome<'_> {
    /// The body the response templates render over (and that passes through).
    pub fn body(&self) -> &[u8] {
        match self {
            Outcome::Result(b) => b,
            Outcome::Error(b, _) => b,
        }
    }
}

/// A function's timeout, as Lambda reports it (`errorType` `Sandbox.Timedout`).
const TIMED_OUT: &[u8] =
    br#"{"errorType":"Sandbox.Timedout","errorMessage":"Task timed out: the function ran past its timeout"}"#;
/// A runtime that exited during an invocation, as Lambda reports it.
const EXITED: &[u8] = br#"{"errorType":"Runtime.ExitError","errorMessage":"Runtime exited without providing a reason"}"#;

/// The error document a failed invocation stands for when it is a function error (selected
/// by its message); `None` for the gateway's own failures (integration timeout, no target,
/// an unreachable target, too large an answer…), which are answered as gateway responses.
pub fn function_error(e: &InvokeError) -> Option<Outcome<'_>> {
    let doc: Cow<'_, [u8]> = match e {
        InvokeError::FunctionError(f) | InvokeError::Unauthorized(f) => Cow::Borrowed(&f.0),
        InvokeError::FunctionTimeout => Cow::Borrowed(TIMED_OUT),
        InvokeError::Crashed => Cow::Borrowed(EXITED),
        _ => return None,
    };
    let message = crate::functions::FunctionFailure(doc.as_ref().into()).message();
    Some(Outcome::Error(doc, message))
}

impl LambdaMapping {
    /// The payload template for a request's `Content-Type`; `None`: 415.
    pub fn outgoing(&self, content_type: Option<&[u8]>) -> Option<Outgoing<'_>> {
        outgoing(&self.requests, self.passthrough, content_type)
    }

    /// The integration response for an outcome: a result takes the default response; an
    /// error the first whose pattern matches its whole `errorMessage` (an error without one
    /// is matched as the empty string), else the default one. `None`: no default response
    /// (AWS: "No match for output mapping and no default output mapping").
    pub fn select(&self, outcome: &Outcome<'_>) -> Option<&HttpResponse> {
        let i = match outcome {
            Outcome::Result(_) => self.responses.iter().position(|r| r.pattern().is_none()),
            Outcome::Error(_, message) => select_by(
                self.responses.iter().map(HttpResponse::pattern),
                message.as_deref().unwrap_or(""),
            ),
        }?;
        self.responses.get(i)
    }
}

/// The payload of a request whose body passes through: the body, or `{}` when it is empty
/// (the event a function gets from a bodiless call, e.g. a GET, on AWS).
pub fn passthrough_payload(body: &[u8]) -> Vec<u8> {
    if body.is_empty() {
        b"{}".to_vec()
    } else {
        body.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::FunctionFailure;
    use std::collections::BTreeMap;
    use tollgate_proto::model::{IntegrationResponse, IntegrationType};

    fn mapping(responses: &[(&str, Option<&str>)]) -> LambdaMapping {
        let mut i = Integration {
            kind: IntegrationType::Aws,
            ..Default::default()
        };
        for (code, pattern) in responses {
            i.integration_responses.insert(
                code.to_string(),
                Box::new(IntegrationResponse {
                    status_code: code.to_string(),
                    selection_pattern: pattern.map(str::to_owned),
                    ..Default::default()
                }),
            );
        }
        compile(&i, Vec::new()).unwrap()
    }

    fn error(message: &str) -> InvokeError {
        let doc = serde_json::json!({"errorMessage": message, "errorType": "Exception"});
        InvokeError::FunctionError(FunctionFailure(doc.to_string().into_bytes().into()))
    }

    fn status(m: &LambdaMapping, e: &InvokeError) -> Option<u16> {
        m.select(&function_error(e).unwrap()).map(|r| r.status)
    }

    #[test]
    fn results_take_the_default_response_and_errors_their_message_s_pattern() {
        let m = mapping(&[
            ("200", None),
            ("400", Some("Bad request: .*")),
            ("404", Some("Not found")),
            ("500", Some("(.|\\n)*Task timed out(.|\\n)*")),
        ]);
        // A result, whatever it says, takes the default response.
        assert_eq!(
            m.select(&Outcome::Result(br#"{"errorMessage":"Not found"}"#))
                .map(|r| r.status),
            Some(200)
        );
        assert_eq!(status(&m, &error("Bad request: no name")), Some(400));
        assert_eq!(status(&m, &error("Not found")), Some(404));
        // The whole message must match.
        assert_eq!(status(&m, &error("Not found: 7")), Some(200));
        assert_eq!(status(&m, &error("x Bad request: y")), Some(200));
        // `.` does not cross a line break, as in AWS's (Java) patterns.
        assert_eq!(status(&m, &error("Bad request: a\nb")), Some(200));
        // Timeouts and crashes are function errors with Lambda's messages.
        assert_eq!(status(&m, &InvokeError::FunctionTimeout), Some(500));
        assert_eq!(status(&m, &InvokeError::Crashed), Some(200));
        // An error document without a string message is matched as "".
        let odd = InvokeError::FunctionError(FunctionFailure(b"not json"[..].into()));
        assert_eq!(status(&m, &odd), Some(200));
        let blank = mapping(&[("200", None), ("418", Some(""))]);
        // An empty pattern is a default response too (the first one wins).
        assert_eq!(status(&blank, &error("x")), Some(200));
        // No default: nothing is selected for a result or an unmatched error.
        let strict = mapping(&[("400", Some("Bad.*"))]);
        assert_eq!(
            strict.select(&Outcome::Result(b"{}")).map(|r| r.status),
            None
        );
        assert_eq!(status(&strict, &error("Bad input")), Some(400));
        assert_eq!(status(&strict, &error("other")), None);
    }

    #[test]
    fn gateway_failures_are_not_function_errors() {
        for e in [
            InvokeError::Timeout,
            InvokeError::NoTarget,
            InvokeError::InitFailed,
            InvokeError::Overloaded,
            InvokeError::TooLarge,
            InvokeError::Stopped,
            InvokeError::Unreachable,
            InvokeError::TargetError,
        ] {
            assert!(function_error(&e).is_none(), "{e:?}");
        }
        let boom = error("boom");
        let Some(Outcome::Error(doc, message)) = function_error(&boom) else {
            panic!("not an error");
        };
        assert_eq!(message.as_deref(), Some("boom"));
        let v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(v["errorType"], "Exception");
    }

    #[test]
    fn bodiless_requests_send_an_empty_object() {
        assert_eq!(passthrough_payload(b""), b"{}");
        assert_eq!(passthrough_payload(b"[1]"), b"[1]");
    }

    #[test]
    fn mappings_that_read_the_answer_or_request_parameters_are_refused() {
        let mut i = Integration {
            kind: IntegrationType::Aws,
            ..Default::default()
        };
        i.request_parameters =
            BTreeMap::from([("integration.request.header.x".into(), "'1'".into())]);
        assert!(compile(&i, Vec::new()).is_err());
        i.request_parameters.clear();
        i.integration_responses.insert(
            "200".into(),
            Box::new(IntegrationResponse {
                status_code: "200".into(),
                response_parameters: BTreeMap::from([(
                    "method.response.header.X".into(),
                    "integration.response.body.a".into(),
                )]),
                ..Default::default()
            }),
        );
        assert!(compile(&i, Vec::new()).is_err());
    }
}
