//! Phase 11: the integration response: a proxied backend's answer goes to the client as is
//! (and into the cache when it is a 2xx and the method caches); a backend that timed out or
//! failed is the gateway's own answer. A Lambda proxy function's answer is checked and turned
//! into the client's by AWS's rules ([`lambda`]); a malformed one, a failed function or one
//! without a target is the gateway's own answer.

use super::cache::CacheUse;
use crate::dataplane::gateway_response::{self as gr, Refusal};
use crate::dataplane::lambda::response::{self, Reply};
use crate::dataplane::upstream::ProxyError;
use crate::functions::{InvokeError, InvokeResult};

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
        Err(InvokeError::Timeout) => Err((gr::INTEGRATION_TIMEOUT, InvokeError::Timeout.cause())),
        Err(InvokeError::NoTarget) => {
            Err((gr::API_CONFIGURATION_ERROR, InvokeError::NoTarget.cause()))
        }
        Err(e) => Err((gr::INTEGRATION_FAILURE, e.cause())),
    }
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
            InvokeError::FunctionError,
            InvokeError::InitFailed,
            InvokeError::Overloaded,
            InvokeError::TooLarge,
            InvokeError::Stopped,
            InvokeError::Unreachable,
            InvokeError::TargetError,
        ] {
            assert_eq!(status(Err(e)), Err(502), "{e:?}");
        }
    }
}
