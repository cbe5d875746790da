//! Phase 6: the key's usage plan: its throttle for the method, then its throttle per key, then
//! its quota. Throttles are only checked here: their tokens are taken once every later limit
//! has one too ([`super::stage_limits`]), so a request a later limit refuses costs them
//! nothing. The quota counts the request at once (the count is node-wide) and is given back
//! if a later limit refuses it.

use crate::dataplane::gateway_response::{self as gr, Refusal};
use crate::dataplane::key_slots::SlotTag;
use crate::dataplane::key_table::KeyPlan;
use crate::dataplane::routing::{CompiledMethod, ThrottleSpec};
use crate::dataplane::throttle::WorkerLimits;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the plan phase let through, for the phases after it.
#[derive(Default)]
pub struct PlanAdmission<'t> {
    /// The plan's throttles the request was checked against (taken from once all pass).
    pub throttles: [Option<&'t ThrottleSpec>; 2],
    /// The key's pending quota usage, when this request was counted in it.
    pub counted: Option<&'t AtomicU64>,
    /// What the request's usage is counted under: its plan and key.
    pub usage: Option<(&'t str, &'t str)>,
    /// The slot of the quota the request was counted in (its usage names it).
    pub slot: Option<SlotTag>,
}

/// Checks the plan's throttles and counts the request against its quota.
pub fn run<'t>(
    plan: Option<KeyPlan<'t>>,
    method: &CompiledMethod,
    limits: &mut WorkerLimits,
    now_ns: u64,
) -> Result<PlanAdmission<'t>, Refusal> {
    let Some(plan) = plan else {
        return Ok(PlanAdmission::default());
    };
    let stage = plan.stage;
    let per_method = stage
        .method_throttles()
        .iter()
        .find(|(k, _)| is_method_key(k, &method.resource_path, &method.http_method));
    let throttles = [per_method.map(|(_, t)| t), stage.throttle()];
    for t in throttles.iter().flatten() {
        if !limits.check(t, now_ns) {
            return Err(gr::THROTTLED);
        }
    }
    // The quota: this node's share of what the ledger left at compile time, against what it
    // served and has not seen committed (every request of a quota-bearing key counts).
    let mut counted = None;
    if let Some(q) = &stage.quota {
        limits.note_demand(q.id);
        let pending = q.pending();
        let used = pending.fetch_add(1, Ordering::Relaxed);
        if used as f64 >= q.allowance() {
            give_back(pending);
            return Err(gr::QUOTA_EXCEEDED);
        }
        counted = Some(pending);
    }
    Ok(PlanAdmission {
        throttles,
        counted,
        usage: Some((plan.plan_id(), plan.key_id())),
        slot: stage.quota.as_ref().map(|q| q.tag()),
    })
}

/// Whether a usage plan's method key (`/pets/GET`, `//GET` for the root) names this method.
fn is_method_key(key: &str, resource_path: &str, verb: &str) -> bool {
    key.strip_suffix(verb)
        .and_then(|k| k.strip_suffix('/'))
        .is_some_and(|p| p == resource_path)
}

/// Takes a request's count off a key's pending quota usage again. Never below zero: the
/// control thread takes committed usage off the same counter (saturating), and a request
/// counted before a quota existed may be taken off there first.
pub fn give_back(pending: &AtomicU64) {
    let _ = pending.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(1))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_method_keys() {
        assert!(is_method_key("/pets/GET", "/pets", "GET"));
        assert!(is_method_key("//GET", "/", "GET"));
        assert!(!is_method_key("/pets/GET", "/pets", "POST"));
        assert!(!is_method_key("/pet/GET", "/pets", "GET"));
    }

    #[test]
    fn give_back_never_goes_below_zero() {
        let n = AtomicU64::new(1);
        give_back(&n);
        give_back(&n);
        assert_eq!(n.load(Ordering::Relaxed), 0);
    }
}
