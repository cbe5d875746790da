//! Phase 13 (its decision part): the log record of an answer the gateway made itself. The core
//! says what to log; the worker writes it, with the time, ([`LogRecord::emit`]).

use crate::dataplane::ratelog::RateLog;
use crate::dataplane::respond::RequestId;
use std::time::Instant;

/// How a gateway answer is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// At debug level: a refusal that follows from configuration, already logged (once) when
    /// the method was compiled.
    Debug,
    /// At the default level, rate-limited per worker (clients can trigger it at will).
    GatewayError,
}

/// What to log about a gateway answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRecord<'t> {
    /// How.
    pub level: Level,
    /// The API id.
    pub api: &'t str,
    /// The stage name.
    pub stage: &'t str,
    /// The method's resource path.
    pub resource: &'t str,
    /// The status answered.
    pub status: u16,
    /// Why.
    pub cause: &'t str,
}

impl LogRecord<'_> {
    /// Writes the record for the request `id` with verb `method` (`now` for the rate limit).
    pub fn emit(&self, id: &RequestId, method: &str, error_log: &mut RateLog, now: Instant) {
        let (api, stage, resource, status, cause) =
            (self.api, self.stage, self.resource, self.status, self.cause);
        match self.level {
            Level::Debug => {
                tracing::debug!(
                    request_id = id.as_str(),
                    api,
                    stage,
                    method,
                    resource,
                    status,
                    cause,
                    "method refused"
                );
            }
            Level::GatewayError => {
                if let Some(left_out) = error_log.allow(now) {
                    tracing::warn!(
                        request_id = id.as_str(),
                        api,
                        stage,
                        method,
                        resource,
                        status,
                        cause,
                        similar_left_out = left_out,
                        "gateway error"
                    );
                }
            }
        }
    }
}
