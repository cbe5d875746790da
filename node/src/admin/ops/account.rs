//! GetAccount, UpdateAccount: the account-level throttle the data plane enforces (replicated;
//! each node's configured `account_rate_limit`/`account_burst_limit` until one is set) and
//! the CloudWatch role ARN (stored and returned).

use super::{commit, read, Reply};
use crate::admin::error::ApiError;
use crate::admin::limits;
use crate::admin::patch::{self, Op, PatchOp};
use crate::admin::AdminState;
use serde::Serialize;
use tollgate_proto::model::{Account, ThrottleSettings};
use tollgate_proto::Command;

/// The patch paths UpdateAccount takes, for its error message.
const PATHS: &str =
    "[/cloudwatchRoleArn, /throttle, /throttle/rateLimit, /throttle/burstLimit, /features]";
/// The highest account rate or burst accepted (well above any one cluster's capacity).
const MAX_LIMIT: f64 = 1e9;

/// AWS's `Account` shape.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    cloudwatch_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    throttle_settings: Option<ThrottleOut>,
    features: [&'static str; 1],
    api_key_version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ThrottleOut {
    burst_limit: i32,
    rate_limit: f64,
}

/// The throttle in force: the replicated one, else this node's configured default, else none.
///
/// AWS always answers `throttleSettings` (its regional default, 10,000/s with a 5,000 burst,
/// when no quota increase was granted). Here no account limit is enforced unless one is
/// configured (`account_rate_limit`) or set by UpdateAccount, and GetAccount never shows a
/// limit nothing enforces, so with neither it answers no `throttleSettings` (botocore's
/// `Account` has every member optional). AWS's default is deliberately not made the default
/// limit: AWS's figure is a share of a region's fleet, one node here serves 100k+ requests/s
/// (docs/BENCHMARKS.md), and a cap the operator did not ask for would throttle deployments
/// that upgrade. Configure `account_rate_limit = 10000` to get AWS's limit and its answer.
fn effective(state: &AdminState, account: &Account) -> Option<ThrottleSettings> {
    account.throttle.or_else(|| {
        state.account_limit.map(|(rate, burst)| ThrottleSettings {
            burst_limit: burst.min(f64::from(i32::MAX)) as i32,
            rate_limit: rate,
        })
    })
}

fn reply(state: &AdminState, account: &Account) -> Result<Reply, ApiError> {
    Reply::json(
        200,
        &AccountOut {
            cloudwatch_role_arn: account.cloudwatch_role_arn.clone(),
            throttle_settings: effective(state, account).map(|t| ThrottleOut {
                burst_limit: t.burst_limit,
                rate_limit: t.rate_limit,
            }),
            // Usage plans are always on (AWS's accounts of today answer the same), and keys
            // are of AWS's current version.
            features: ["UsagePlans"],
            api_key_version: "4",
        },
    )
}

/// GetAccount (200).
pub fn get(state: &AdminState) -> Result<Reply, ApiError> {
    let account = read(state, |reg| Ok(reg.account.clone()))?;
    reply(state, &account)
}

/// UpdateAccount (200): `replace /cloudwatchRoleArn`, `replace /throttle/rateLimit` and
/// `/throttle/burstLimit` (Tollgate's: AWS sets these by quota request), `remove /throttle`
/// (back to the nodes' configured limit), `add /features UsagePlans` (already on).
pub async fn update(state: &AdminState, body: &[u8]) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut account = read(state, |reg| Ok(reg.account.clone()))?;
    for p in &ops {
        apply_patch(state, &mut account, p)?;
    }
    commit(
        state,
        Command::UpdateAccount {
            account: account.clone(),
        },
    )
    .await?;
    reply(state, &account)
}

fn invalid_path(p: &PatchOp) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid patch path '{}' specified for op '{}'. Must be one of: {PATHS}",
        p.path,
        p.op.as_str()
    ))
}

fn apply_patch(state: &AdminState, account: &mut Account, p: &PatchOp) -> Result<(), ApiError> {
    match (p.op, p.path.as_str()) {
        (Op::Replace | Op::Add | Op::Remove, "/cloudwatchRoleArn") => {
            let arn = p.optional_string()?;
            if let Some(arn) = &arn {
                limits::check_name("The CloudWatch role ARN", arn)?;
                if !arn.starts_with("arn:") || arn.split(':').count() < 6 {
                    return Err(ApiError::bad_request(format!(
                        "The role ARN is not well formed: {arn}"
                    )));
                }
            }
            account.cloudwatch_role_arn = arn;
        }
        (Op::Remove, "/throttle") => account.throttle = None,
        (Op::Replace | Op::Add, "/throttle/rateLimit" | "/throttle/burstLimit") => {
            if p.path.ends_with("burstLimit") && effective(state, account).is_none() {
                // A burst alone would be a limit of rate 0: every request refused.
                return Err(ApiError::bad_request(
                    "No account throttle is set: set /throttle/rateLimit first",
                ));
            }
            let mut t = effective(state, account).unwrap_or_default();
            let value = p.f64_value(0.0, MAX_LIMIT)?;
            if p.path.ends_with("rateLimit") {
                let was_unset = account.throttle.is_none() && t.burst_limit == 0;
                t.rate_limit = value;
                if was_unset {
                    // As the configuration's default: a burst of half the rate.
                    t.burst_limit = (value / 2.0).ceil().max(1.0) as i32;
                }
            } else {
                if value.fract() != 0.0 || value > f64::from(i32::MAX) {
                    return Err(p.invalid_value("expected a whole number"));
                }
                t.burst_limit = value as i32;
            }
            account.throttle = Some(t);
        }
        (Op::Add | Op::Replace, "/features") => {
            let v = p.value()?;
            if v != "UsagePlans" {
                return Err(p.invalid_value("expected UsagePlans"));
            }
        }
        (Op::Remove, "/features") => {
            return Err(ApiError::bad_request(
                "The UsagePlans feature cannot be turned off",
            ))
        }
        _ => return Err(invalid_path(p)),
    }
    Ok(())
}
