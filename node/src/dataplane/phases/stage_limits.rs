//! Phase 7: the stage's throttle for the method, then the account's. Only when every limit of
//! the request (the plan's too) has a token are the tokens taken; a refusal here gives the
//! plan's quota count back.

use super::plan_limits::{give_back, PlanAdmission};
use crate::dataplane::gateway_response::{self as gr, Refusal};
use crate::dataplane::routing::{CompiledMethod, ThrottleSpec};
use crate::dataplane::throttle::WorkerLimits;

/// Admits the request under the stage's and account's limits and takes its tokens from every
/// limit it was checked against.
pub fn run(
    method: &CompiledMethod,
    account: Option<&ThrottleSpec>,
    plan: &PlanAdmission<'_>,
    limits: &mut WorkerLimits,
    now_ns: u64,
) -> Result<(), Refusal> {
    let later = [method.throttle.as_ref(), account];
    for t in later.iter().flatten() {
        if !limits.check(t, now_ns) {
            if let Some(pending) = plan.counted {
                give_back(pending);
            }
            return Err(gr::THROTTLED);
        }
    }
    for t in plan.throttles.iter().chain(&later).flatten() {
        limits.take(t);
    }
    Ok(())
}
