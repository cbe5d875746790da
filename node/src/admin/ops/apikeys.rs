//! CreateApiKey, GetApiKeys, GetApiKey, UpdateApiKey, DeleteApiKey (ImportApiKeys is in
//! [`super::import`]).
//!
//! A key's value is shown when it is created, and afterwards only when asked for
//! (`includeValue=true` on GetApiKey, `includeValues=true` on GetApiKeys).

use super::mint_id;
use super::{commit, non_empty, read, Reply};
use crate::admin::error::ApiError;
use crate::admin::input::{self, plans::CreateApiKeyIn};
use crate::admin::limits;
use crate::admin::paging::{PageRequest, Query};
use crate::admin::patch::{self, PatchOp};
use crate::admin::wire::{plans as wire, Page};
use crate::admin::AdminState;
use crate::ids::{now_epoch, random_secret};
use tollgate_proto::model::ApiKey;
use tollgate_proto::Command;

/// Length of a generated key value.
pub const GENERATED_VALUE_LENGTH: usize = 40;
/// Longest key name (as AWS).
pub const MAX_NAME_LENGTH: usize = 1024;

/// The error for an unknown key id.
pub fn no_key(id: &str) -> ApiError {
    ApiError::invalid_id("API Key", id)
}

/// A key's name: AWS's recorded wording when too long (localstack's AWS recordings,
/// `test_apigateway_extended` `test_create_api_key_with_invalid_name`
/// "create-api-key-name-too-long").
pub fn check_name(name: Option<&str>) -> Result<(), ApiError> {
    if name.is_some_and(|n| n.chars().count() > MAX_NAME_LENGTH) {
        return Err(ApiError::bad_request(format!(
            "Invalid API Key name, can be at most {MAX_NAME_LENGTH} characters."
        )));
    }
    limits::check_opt_name("The API Key name", name)
}

/// A key's description: AWS's recorded wording when too long (`test_apigateway_extended`
/// `test_update_api_key_invalid_description_length`, on create and update). Tollgate's
/// limit is the one every description has ([`limits::MAX_DESCRIPTION_CHARS`]); AWS's own
/// limit for keys is higher (it refused 125,001 characters in the recording).
pub fn check_description(description: Option<&str>) -> Result<(), ApiError> {
    if description.is_some_and(|d| d.chars().count() > limits::MAX_DESCRIPTION_CHARS) {
        return Err(ApiError::bad_request(
            "Invalid API Key description specified.",
        ));
    }
    limits::check_description("The description", description)
}

/// `stageKeys` (CreateApiKey) and `/stages` (UpdateApiKey) are refused, not ignored: on AWS
/// they associate a key with API stages (answered back as `stageKeys`), a legacy link that
/// grants nothing by itself (a method with `apiKeyRequired` takes a key only through a usage
/// plan); Tollgate does not keep the association, so it refuses to pretend it does.
fn stage_keys_refused() -> ApiError {
    ApiError::bad_request(
        "Associating an API key with stages (stageKeys) is not supported by Tollgate; \
         add the key to a usage plan that lists the stages (CreateUsagePlanKey)",
    )
}

/// A key's text fields other than its name and value (the registry checks the value).
pub fn check_key_text(k: &ApiKey) -> Result<(), ApiError> {
    check_name(k.name.as_deref())?;
    check_description(k.description())?;
    limits::check_opt_name("The customer id", k.customer_id())?;
    limits::check_tags(k.tags())
}

/// Whether a boolean query parameter is `true` (any case).
pub fn query_flag(query: &Query, name: &str) -> bool {
    query
        .get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// A copy of a key.
pub fn load_key(state: &AdminState, id: &str) -> Result<ApiKey, ApiError> {
    read(state, |reg| {
        reg.api_keys.get(id).cloned().ok_or_else(|| no_key(id))
    })
}

/// CreateApiKey (201): with the given value, or a generated one (40 alphanumerics).
pub async fn create(state: &AdminState, body: &[u8]) -> Result<Reply, ApiError> {
    let i: CreateApiKeyIn = input::parse(body)?;
    if i.stage_keys.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(stage_keys_refused());
    }
    let name = non_empty(i.name);
    check_name(name.as_deref())?;
    let now = now_epoch();
    let key = ApiKey {
        id: mint_id(10),
        value: non_empty(i.value).unwrap_or_else(|| random_secret(GENERATED_VALUE_LENGTH)),
        name,
        enabled: i.enabled.unwrap_or(false),
        created_date: now,
        last_updated_date: now,
        extra: None,
    }
    .with_extra(
        non_empty(i.description),
        non_empty(i.customer_id),
        i.tags.unwrap_or_default(),
    );
    check_key_text(&key)?;
    let id = key.id.clone();
    commit(state, Command::CreateApiKey { key }).await?;
    Reply::json(201, &wire::api_key(&load_key(state, &id)?, true))
}

/// GetApiKeys: paged by id; `name` (the SDKs' `nameQuery`) keeps keys whose name starts with
/// it, `customerId` those of that customer.
pub fn list(state: &AdminState, query: &Query) -> Result<Reply, ApiError> {
    let page = PageRequest::from_query(query)?;
    let with_values = query_flag(query, "includeValues");
    let name = query.get("name").filter(|n| !n.is_empty());
    let customer = query.get("customerId").filter(|c| !c.is_empty());
    let (item, position) = read(state, |reg| {
        Ok(page.take(
            reg.api_keys
                .range::<str, _>(page.start())
                .filter(|(_, k)| {
                    name.is_none_or(|n| k.name.as_deref().is_some_and(|kn| kn.starts_with(n)))
                })
                .filter(|(_, k)| customer.is_none_or(|c| k.customer_id() == Some(c)))
                .map(|(id, k)| (id, wire::api_key(k, with_values))),
        ))
    })?;
    Reply::json(200, &Page { item, position })
}

/// GetApiKey.
pub fn get(state: &AdminState, id: &str, query: &Query) -> Result<Reply, ApiError> {
    let with_value = query_flag(query, "includeValue");
    Reply::json(200, &wire::api_key(&load_key(state, id)?, with_value))
}

/// Applies one UpdateApiKey patch operation.
pub fn apply_patch(k: &mut ApiKey, p: &PatchOp) -> Result<(), ApiError> {
    // AWS's list for `replace`, in its order, for an unknown path (`PatchOp::unsupported`).
    // The known paths keep taking `add` and `remove` too (AWS's answer to those is not
    // recorded).
    const PATHS: &[&str] = &["/description", "/enabled", "/name", "/customerId"];
    if p.path == "/stages" || p.path.starts_with("/stages/") {
        return Err(stage_keys_refused());
    }
    let segs = p.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["name"] => {
            k.name = p.optional_string()?;
            check_name(k.name.as_deref())?;
        }
        ["description"] => k.set_description(p.optional_string()?),
        ["enabled"] => k.enabled = p.bool_value()?,
        ["customerId"] => k.set_customer_id(p.optional_string()?),
        _ => return Err(p.unsupported(PATHS)),
    }
    Ok(())
}

/// UpdateApiKey: `/name`, `/description`, `/enabled`, `/customerId`.
pub async fn update(state: &AdminState, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut key = load_key(state, id)?;
    for p in &ops {
        apply_patch(&mut key, p)?;
    }
    check_key_text(&key)?;
    key.last_updated_date = now_epoch();
    commit(state, Command::UpdateApiKey { key }).await?;
    // UpdateApiKey answers `tags` always, `{}` when there are none (localstack's AWS
    // recordings: `test_api_key_required_for_methods` "update-api-key-disabled",
    // `test_update_api_key_invalid_enabled_type`).
    let mut out = wire::api_key(&load_key(state, id)?, false);
    out.tags.get_or_insert_with(Default::default);
    Reply::json(200, &out)
}

/// DeleteApiKey (202); the key leaves every usage plan.
pub async fn delete(state: &AdminState, id: &str) -> Result<Reply, ApiError> {
    commit(state, Command::DeleteApiKey { id: id.to_string() }).await?;
    Ok(Reply::empty(202))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::patch::Op;

    fn op(o: Op, path: &str, v: Option<&str>) -> PatchOp {
        PatchOp {
            op: o,
            path: path.into(),
            value: v.map(String::from),
            from: None,
        }
    }

    #[test]
    fn key_patches() {
        let mut k = ApiKey {
            enabled: true,
            ..Default::default()
        };
        apply_patch(&mut k, &op(Op::Replace, "/name", Some("n"))).unwrap();
        apply_patch(&mut k, &op(Op::Replace, "/description", Some("d"))).unwrap();
        apply_patch(&mut k, &op(Op::Replace, "/enabled", Some("false"))).unwrap();
        apply_patch(&mut k, &op(Op::Replace, "/customerId", Some("c"))).unwrap();
        assert_eq!(k.name.as_deref(), Some("n"));
        assert_eq!(k.description(), Some("d"));
        assert!(!k.enabled);
        assert_eq!(k.customer_id(), Some("c"));
        apply_patch(&mut k, &op(Op::Remove, "/description", None)).unwrap();
        assert_eq!(k.description(), None);
        let before = k.clone();
        for bad in [
            op(Op::Replace, "/value", Some("x".repeat(30).as_str())),
            op(Op::Replace, "/enabled", Some("maybe")),
            op(
                Op::Replace,
                "/name",
                Some("n".repeat(MAX_NAME_LENGTH + 1).as_str()),
            ),
            op(Op::Move, "/description", Some("d")),
        ] {
            let mut k2 = before.clone();
            assert_eq!(
                apply_patch(&mut k2, &bad).unwrap_err().status,
                400,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn stages_are_refused_and_unknown_paths_listed() {
        let mut k = ApiKey::default();
        for p in [
            op(Op::Add, "/stages", Some("abc/dev")),
            op(Op::Remove, "/stages", Some("abc/dev")),
        ] {
            let e = apply_patch(&mut k, &p).unwrap_err();
            assert!(
                e.message.contains("(stageKeys) is not supported"),
                "{}",
                e.message
            );
        }
        assert_eq!(
            apply_patch(&mut k, &op(Op::Add, "/id", Some("x")))
                .unwrap_err()
                .message,
            "Invalid patch path  '/id' specified for op 'add'. Please choose supported operations"
        );
        assert_eq!(k, ApiKey::default());
    }

    #[test]
    fn flags() {
        assert!(query_flag(
            &Query::parse("includeValues=TRUE"),
            "includeValues"
        ));
        assert!(!query_flag(
            &Query::parse("includeValues=false"),
            "includeValues"
        ));
        assert!(!query_flag(&Query::parse(""), "includeValues"));
    }
}
