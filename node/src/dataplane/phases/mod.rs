//! The phases of a request, in AWS's order, each a module with one job. None does I/O or
//! reads a clock: [`super::core`] runs them in order and tells the worker's shell
//! ([`super::handler`]) what to do next.
//!
//! 1. [`resolve_stage`]: the API and stage the request invokes (host or path form).
//! 2. [`route`]: the method, by path and verb.
//! 3. [`authorize`]: the method's authorization (fails closed for any type but `NONE`).
//! 4. [`validate`]: request validation (fails closed for a method with a validator).
//! 5. [`api_key`]: the API key and the usage plan that covers the stage.
//! 6. [`plan_limits`]: the plan's throttles (per method, then per key) and its quota.
//! 7. [`stage_limits`]: the stage/method throttle, then the account's; takes every token.
//! 8. [`cache`]: whether and under which key the stage's cache answers.
//! 9. [`integration_request`]: what to call: a MOCK answer or a backend plan.
//! 10. (the shell calls the backend)
//! 11. [`integration_response`]: the backend's answer or failure, as the client answer.
//! 12. [`method_response`]: writing the client answer.
//! 13. [`log`]: the log record of an answer the gateway made itself.

pub mod api_key;
pub mod authorize;
pub mod cache;
pub mod integration_request;
pub mod integration_response;
pub mod log;
pub mod method_response;
pub mod plan_limits;
pub mod resolve_stage;
pub mod route;
pub mod stage_limits;
pub mod validate;
