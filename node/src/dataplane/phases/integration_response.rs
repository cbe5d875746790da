//! Phase 11: the integration response: a proxied backend's answer goes to the client as is
//! (and into the cache when it is a 2xx and the method caches); a backend that timed out or
//! failed is the gateway's own answer.

use super::cache::CacheUse;
use crate::dataplane::gateway_response::{self as gr, Refusal};
use crate::dataplane::upstream::ProxyError;

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
