//! TagResource, UntagResource, GetTags (`/tags/{resource_arn}`) on REST APIs, stages, API keys
//! and usage plans, named by AWS's ARNs (`arn:aws:apigateway:{region}::/restapis/{id}`,
//! `…::/restapis/{id}/stages/{name}`, `…::/apikeys/{id}`, `…::/usageplans/{id}`,
//! `…::/clientcertificates/{id}`).
//!
//! Each write rewrites the tagged object whole through its own update command, guarded on its
//! scope ([`scope_of`], used by `Operation::guarded_scope`), so a concurrent change of the
//! object through another node is not written over.

use super::{commit, read, Reply};
use crate::admin::error::ApiError;
use crate::admin::limits;
use crate::admin::paging::Query;
use crate::admin::AdminState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tollgate_proto::{Command, Registry, Scope};

/// What an ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tagged {
    /// A REST API.
    RestApi(String),
    /// A stage of a REST API.
    Stage(String, String),
    /// An API key.
    ApiKey(String),
    /// A usage plan.
    UsagePlan(String),
    /// A client certificate.
    ClientCertificate(String),
}

/// Reads an API Gateway resource ARN: `(region, what)`; `None` when it is not one of the
/// forms Tollgate tags.
pub fn parse_arn(arn: &str) -> Option<(&str, Tagged)> {
    let mut parts = arn.splitn(6, ':');
    let (arn_, partition, service, region, account, path) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if arn_ != "arn" || partition.is_empty() || service != "apigateway" || !account.is_empty() {
        return None;
    }
    let segs: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return None;
    }
    let own = |s: &str| s.to_string();
    let what = match segs.as_slice() {
        ["restapis", a] => Tagged::RestApi(own(a)),
        ["restapis", a, "stages", s] => Tagged::Stage(own(a), own(s)),
        ["apikeys", k] => Tagged::ApiKey(own(k)),
        ["usageplans", p] => Tagged::UsagePlan(own(p)),
        ["clientcertificates", c] => Tagged::ClientCertificate(own(c)),
        _ => return None,
    };
    Some((region, what))
}

/// The scope a tag write on `arn` reads and writes back.
pub fn scope_of(arn: &str) -> Option<Scope> {
    Some(match parse_arn(arn)?.1 {
        Tagged::RestApi(a) | Tagged::Stage(a, _) => Scope::Api(a),
        Tagged::ApiKey(k) => Scope::ApiKey(k),
        Tagged::UsagePlan(p) => Scope::UsagePlan(p),
        Tagged::ClientCertificate(c) => Scope::ClientCertificate(c),
    })
}

/// The object `arn` names, checked against this node's region.
fn resolve(state: &AdminState, arn: &str) -> Result<Tagged, ApiError> {
    let invalid = || ApiError::bad_request(format!("Invalid ARN specified in the request: {arn}"));
    let (region, what) = parse_arn(arn).ok_or_else(|| {
        // Resources Tollgate has no tags for, named in words rather than as a bad ARN.
        let path = arn.splitn(6, ':').nth(5).unwrap_or("");
        for (prefix, what) in [
            ("/domainnames/", "custom domain names"),
            ("/vpclinks/", "VPC links"),
        ] {
            if path.starts_with(prefix) {
                return ApiError::bad_request(format!(
                    "Tags on {what} are not supported by Tollgate: {arn}"
                ));
            }
        }
        invalid()
    })?;
    if state.region.as_deref().is_some_and(|r| r != region) {
        return Err(invalid());
    }
    Ok(what)
}

/// The tags of `what`, or AWS's not-found error.
fn tags_of(reg: &Registry, what: &Tagged) -> Result<BTreeMap<String, String>, ApiError> {
    Ok(match what {
        Tagged::RestApi(a) => reg.api(a)?.settings.tags.clone(),
        Tagged::Stage(a, s) => reg
            .api(a)?
            .stages
            .get(s)
            .ok_or_else(|| ApiError::invalid_id("stage", s))?
            .tags
            .clone(),
        Tagged::ApiKey(k) => reg
            .api_keys
            .get(k)
            .ok_or_else(|| super::apikeys::no_key(k))?
            .tags()
            .clone(),
        Tagged::UsagePlan(p) => reg
            .usage_plans
            .get(p)
            .ok_or_else(|| super::usageplans::no_plan(p))?
            .tags
            .clone(),
        Tagged::ClientCertificate(c) => reg
            .client_certificates
            .get(c)
            .ok_or_else(|| super::client_certificates::not_found(c))?
            .tags
            .clone(),
    })
}

/// The command that rewrites `what` with `tags`.
fn retag(
    reg: &Registry,
    what: &Tagged,
    tags: BTreeMap<String, String>,
) -> Result<Command, ApiError> {
    Ok(match what {
        Tagged::RestApi(a) => {
            let mut settings = reg.api(a)?.settings.clone();
            settings.tags = tags;
            Command::UpdateRestApi {
                id: a.clone(),
                settings,
            }
        }
        Tagged::Stage(a, s) => {
            let mut stage = reg
                .api(a)?
                .stages
                .get(s)
                .cloned()
                .ok_or_else(|| ApiError::invalid_id("stage", s))?;
            stage.tags = tags;
            Command::PutStage {
                api_id: a.clone(),
                stage,
                create: false,
            }
        }
        Tagged::ApiKey(k) => {
            let mut key = reg
                .api_keys
                .get(k)
                .cloned()
                .ok_or_else(|| super::apikeys::no_key(k))?;
            key.set_tags(tags);
            Command::UpdateApiKey { key }
        }
        Tagged::UsagePlan(p) => {
            let mut plan = reg
                .usage_plans
                .get(p)
                .cloned()
                .ok_or_else(|| super::usageplans::no_plan(p))?;
            plan.tags = tags;
            // Not dated: the quota is unchanged, so its period and grants stay as they are.
            Command::UpdateUsagePlan { plan }
        }
        Tagged::ClientCertificate(c) => {
            let cert = reg
                .client_certificates
                .get(c)
                .ok_or_else(|| super::client_certificates::not_found(c))?;
            Command::UpdateClientCertificate {
                id: c.clone(),
                description: cert.description.clone(),
                tags,
            }
        }
    })
}

#[derive(Deserialize)]
struct TagResourceIn {
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Serialize)]
struct TagsOut {
    tags: BTreeMap<String, String>,
}

/// TagResource (204): adds `tags` to the resource's, replacing values of keys it has.
pub async fn tag(state: &AdminState, arn: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let what = resolve(state, arn)?;
    let i: TagResourceIn = crate::admin::input::parse(body)?;
    let add = i
        .tags
        .ok_or_else(|| ApiError::bad_request("Tags must be specified"))?;
    limits::check_tags(&add)?;
    let cmd = read(state, |reg| {
        let mut tags = tags_of(reg, &what)?;
        tags.extend(add);
        limits::check_tags(&tags)?;
        retag(reg, &what, tags)
    })?;
    commit(state, cmd).await?;
    Ok(Reply::empty(204))
}

/// UntagResource (204): removes the `tagKeys` the resource has (others are ignored, as AWS).
pub async fn untag(state: &AdminState, arn: &str, query: &Query) -> Result<Reply, ApiError> {
    let what = resolve(state, arn)?;
    let keys: Vec<&str> = query
        .all("tagKeys")
        .flat_map(|v| v.split(','))
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        return Err(ApiError::bad_request("Tag keys must be specified"));
    }
    let cmd = read(state, |reg| {
        let mut tags = tags_of(reg, &what)?;
        for k in &keys {
            tags.remove(*k);
        }
        retag(reg, &what, tags)
    })?;
    commit(state, cmd).await?;
    Ok(Reply::empty(204))
}

/// GetTags (200): `{"tags": {…}}`.
pub fn get(state: &AdminState, arn: &str) -> Result<Reply, ApiError> {
    let what = resolve(state, arn)?;
    let tags = read(state, |reg| tags_of(reg, &what))?;
    Reply::json(200, &TagsOut { tags })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_of_taggable_resources() {
        let p = |a: &str| parse_arn(a).map(|(r, w)| (r.to_string(), w));
        assert_eq!(
            p("arn:aws:apigateway:us-east-1::/restapis/a1"),
            Some(("us-east-1".into(), Tagged::RestApi("a1".into())))
        );
        assert_eq!(
            p("arn:aws:apigateway:eu-west-1::/restapis/a1/stages/prod").map(|x| x.1),
            Some(Tagged::Stage("a1".into(), "prod".into()))
        );
        assert_eq!(
            p("arn:aws:apigateway:us-east-1::/apikeys/k1").map(|x| x.1),
            Some(Tagged::ApiKey("k1".into()))
        );
        assert_eq!(
            scope_of("arn:aws:apigateway:us-east-1::/usageplans/p1"),
            Some(Scope::UsagePlan("p1".into()))
        );
        for bad in [
            "arn:aws:apigateway:us-east-1:123456789012:/restapis/a1",
            "arn:aws:execute-api:us-east-1::/restapis/a1",
            "arn:aws:apigateway:us-east-1::/restapis/a1/resources/r1",
            "arn:aws:apigateway:us-east-1::/restapis//stages/x",
            "arn:aws:apigateway:us-east-1::restapis/a1",
            "arn:aws:apigateway",
            "",
        ] {
            assert_eq!(parse_arn(bad), None, "{bad}");
        }
    }
}
