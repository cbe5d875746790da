//! CreateRestApi, GetRestApis, GetRestApi, UpdateRestApi, DeleteRestApi.

use super::mint_id;
use super::{commit, non_empty, read, read_api, Reply};
use crate::admin::endpoint;
use crate::admin::enums;
use crate::admin::error::ApiError;
use crate::admin::input::{self, CreateRestApiIn};
use crate::admin::limits;
use crate::admin::paging::{PageRequest, Query};
use crate::admin::patch::{self, Op, PatchOp};
use crate::admin::wire::{self, Page};
use crate::admin::AdminState;
use crate::iam::policy::{Kind, Policy};
use crate::ids::now_epoch;
use tollgate_proto::model::{ApiKeySource, OrUnknown, RestApiSettings};
use tollgate_proto::Command;

/// The largest `minimumCompressionSize` (10 MiB, as AWS).
const MAX_COMPRESSION_SIZE: i64 = 10_485_760;

pub fn check_settings(s: &RestApiSettings) -> Result<(), ApiError> {
    if s.name.trim().is_empty() {
        return Err(ApiError::bad_request("Invalid REST API name specified"));
    }
    limits::check_name("The REST API name", &s.name)?;
    limits::check_description("The description", s.description.as_deref())?;
    limits::check_opt_name("The version", s.version.as_deref())?;
    limits::check_tags(&s.tags)?;
    for t in &s.binary_media_types {
        limits::check_name("A binary media type", t)?;
    }
    if s.api_key_source.known().is_none() {
        return Err(ApiError::bad_request(format!(
            "Invalid API key source specified: {}. Must be one of: {}",
            s.api_key_source,
            ApiKeySource::names()
        )));
    }
    endpoint::check(&s.endpoint_types, s.effective_ip_address_type())?;
    if let Some(n) = s.minimum_compression_size {
        if !(0..=MAX_COMPRESSION_SIZE).contains(&n) {
            // AWS's recorded wording (localstack's AWS recordings, `test_apigateway_api`
            // `test_create_rest_api_with_optional_params` "string-compression-size").
            return Err(ApiError::bad_request(format!(
                "Invalid minimum compression size, must be between 0 and {MAX_COMPRESSION_SIZE}"
            )));
        }
    }
    if s.binary_media_types.iter().any(|t| t.trim().is_empty()) {
        return Err(ApiError::bad_request("Invalid binary media type specified"));
    }
    if let Some(doc) = &s.policy {
        Policy::parse(doc, Kind::Resource).map_err(|why| {
            ApiError::bad_request(format!("Invalid policy document specified: {why}"))
        })?;
    }
    Ok(())
}

/// CreateRestApi (201), optionally as a copy of `cloneFrom`.
pub async fn create(state: &AdminState, body: &[u8]) -> Result<Reply, ApiError> {
    let i: CreateRestApiIn = input::parse(body)?;
    let mut invalid = Vec::new();
    if let Some(e) = &i.endpoint_configuration {
        invalid = endpoint::input_errors(
            "createRestApiInput",
            e.types.as_deref(),
            e.ip_address_type.as_deref(),
        );
    }
    for (member, value) in [
        ("apiKeySource", i.api_key_source.as_deref()),
        ("securityPolicy", i.security_policy.as_deref()),
        ("endpointAccessMode", i.endpoint_access_mode.as_deref()),
    ] {
        if let Err(e) = enums::check("CreateRestApi", member, value) {
            invalid.push(
                e.message
                    .split_once(": ")
                    .map_or(e.message.clone(), |(_, m)| m.to_string()),
            );
        }
    }
    endpoint::validation_errors(&invalid)?;
    // AWS's recorded answer, ahead of the endpoint rules (localstack's AWS snapshots,
    // `create-with-multiple-errors-2`, `create-with-private-type-and-ipv4-ip-address-type-and-empty-description`).
    if i.description.as_deref() == Some("") {
        return Err(ApiError::bad_request(
            "Description cannot be an empty string",
        ));
    }
    // The execute-api endpoint's TLS is the node's listener's: fail closed.
    if i.security_policy.is_some() || i.endpoint_access_mode.is_some() {
        return Err(ApiError::bad_request(
            "securityPolicy and endpointAccessMode are not supported on a REST API here: the API's endpoint is the node's own listener (set a TLS policy on a custom domain name instead)",
        ));
    }
    let settings = RestApiSettings {
        name: i.name.unwrap_or_default(),
        description: non_empty(i.description),
        version: non_empty(i.version),
        api_key_source: i
            .api_key_source
            .map_or(ApiKeySource::Header.into(), |s| OrUnknown::from_name(&s)),
        endpoint_types: i
            .endpoint_configuration
            .as_ref()
            .and_then(|e| e.types.clone())
            .unwrap_or_else(|| vec!["EDGE".into()]),
        ip_address_type: i.endpoint_configuration.and_then(|e| e.ip_address_type),
        binary_media_types: i.binary_media_types.unwrap_or_default(),
        minimum_compression_size: i.minimum_compression_size,
        disable_execute_api_endpoint: i.disable_execute_api_endpoint.unwrap_or(false),
        tags: i.tags.unwrap_or_default(),
        policy: non_empty(i.policy),
    };
    check_settings(&settings)?;
    let clone_from = non_empty(i.clone_from);
    if let Some(src) = &clone_from {
        read(state, |reg| reg.api(src).map(|_| ()).map_err(Into::into))?;
    }
    let id = mint_id(10);
    commit(
        state,
        Command::CreateRestApi {
            id: id.clone(),
            root_resource_id: mint_id(10),
            settings,
            created_date: now_epoch(),
            clone_from: clone_from.clone(),
        },
    )
    .await?;
    if clone_from.is_none() {
        super::models::create_defaults(state, &id).await?;
    }
    let out = read_api(state, &id, |api| Ok(wire::rest_api(api)))?;
    Reply::json(201, &out)
}

/// GetRestApis: a page of APIs, by id.
pub fn list(state: &AdminState, query: &Query) -> Result<Reply, ApiError> {
    let page = PageRequest::from_query(query)?;
    let items = read(state, |reg| {
        Ok(reg
            .apis
            .values()
            .map(|a| (a.id.clone(), wire::rest_api(a)))
            .collect::<Vec<_>>())
    })?;
    let (item, position) = page.apply(items);
    Reply::json(200, &Page { item, position })
}

/// GetRestApi.
pub fn get(state: &AdminState, api: &str) -> Result<Reply, ApiError> {
    let out = read_api(state, api, |a| Ok(wire::rest_api(a)))?;
    Reply::json(200, &out)
}

/// Applies one UpdateRestApi patch operation.
pub fn apply_patch(s: &mut RestApiSettings, p: &PatchOp) -> Result<(), ApiError> {
    let segs = p.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["name"] => s.name = p.required_string()?,
        ["description"] => s.description = p.optional_string()?,
        ["version"] => s.version = p.optional_string()?,
        ["apiKeySource"] => {
            s.api_key_source = p
                .parsed_value(ApiKeySource::parse, &ApiKeySource::names())?
                .into()
        }
        ["disableExecuteApiEndpoint"] => s.disable_execute_api_endpoint = p.bool_value()?,
        ["policy"] => s.policy = p.optional_string()?,
        ["minimumCompressionSize"] => {
            s.minimum_compression_size = match (p.op, p.value.as_deref()) {
                (Op::Remove, _) | (Op::Replace, None | Some("")) => None,
                _ => Some(p.int_value(0, MAX_COMPRESSION_SIZE)?),
            }
        }
        ["binaryMediaTypes", t] if !t.is_empty() => {
            let pos = s.binary_media_types.iter().position(|x| x == t);
            match (p.op, pos) {
                (Op::Add, None) => s.binary_media_types.push(t.to_string()),
                (Op::Add, Some(_)) => {}
                (Op::Remove, Some(i)) => {
                    s.binary_media_types.remove(i);
                }
                (Op::Replace, Some(i)) => {
                    s.binary_media_types[i] = p.required_string()?;
                }
                (Op::Remove | Op::Replace, None) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid binary media type specified: {t} is not in the list"
                    )))
                }
                _ => return Err(p.invalid_path()),
            }
        }
        ["endpointConfiguration", "types", slot] => {
            endpoint::patch_type(p, slot, &mut s.endpoint_types, &mut s.ip_address_type)?
        }
        ["endpointConfiguration", "ipAddressType"] => {
            s.ip_address_type = Some(endpoint::patch_ip(p)?)
        }
        _ => return Err(p.invalid_path()),
    }
    Ok(())
}

/// UpdateRestApi.
pub async fn update(state: &AdminState, api: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut settings = read_api(state, api, |a| Ok(a.settings.clone()))?;
    for p in &ops {
        apply_patch(&mut settings, p)?;
    }
    check_settings(&settings)?;
    commit(
        state,
        Command::UpdateRestApi {
            id: api.to_string(),
            settings,
        },
    )
    .await?;
    // AWS answers UpdateRestApi with `tags` always, `{}` when there are none (localstack's
    // AWS recordings: `test_update_rest_api_operation_add_remove` "update-rest-api-add" and
    // five more).
    let mut out = read_api(state, api, |a| Ok(wire::rest_api(a)))?;
    out.tags.get_or_insert_with(Default::default);
    Reply::json(200, &out)
}

/// DeleteRestApi (202).
pub async fn delete(state: &AdminState, api: &str) -> Result<Reply, ApiError> {
    commit(
        state,
        Command::DeleteRestApi {
            id: api.to_string(),
            // Its stages leave every usage plan with it.
            referential: true,
        },
    )
    .await?;
    Ok(Reply::empty(202))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(o: Op, path: &str, v: Option<&str>) -> PatchOp {
        PatchOp {
            op: o,
            path: path.into(),
            value: v.map(String::from),
            from: None,
        }
    }

    fn settings() -> RestApiSettings {
        RestApiSettings {
            name: "a".into(),
            api_key_source: tollgate_proto::model::ApiKeySource::Header.into(),
            endpoint_types: vec!["EDGE".into()],
            ..Default::default()
        }
    }

    #[test]
    fn patches_settings() {
        let mut s = settings();
        for p in [
            op(Op::Replace, "/name", Some("b")),
            op(Op::Replace, "/description", Some("d")),
            op(Op::Replace, "/apiKeySource", Some("AUTHORIZER")),
            op(Op::Add, "/binaryMediaTypes/image~1png", None),
            op(Op::Add, "/binaryMediaTypes/*~1*", None),
            op(Op::Remove, "/binaryMediaTypes/*~1*", None),
            op(Op::Replace, "/minimumCompressionSize", Some("1024")),
            op(Op::Replace, "/disableExecuteApiEndpoint", Some("true")),
            op(
                Op::Replace,
                "/endpointConfiguration/types/EDGE",
                Some("REGIONAL"),
            ),
        ] {
            apply_patch(&mut s, &p).unwrap();
        }
        assert_eq!(s.name, "b");
        assert_eq!(s.description.as_deref(), Some("d"));
        assert_eq!(s.api_key_source.known(), Some(ApiKeySource::Authorizer));
        assert_eq!(s.binary_media_types, ["image/png"]);
        assert_eq!(s.minimum_compression_size, Some(1024));
        assert!(s.disable_execute_api_endpoint);
        assert_eq!(s.endpoint_types, ["REGIONAL"]);
        check_settings(&s).unwrap();
        apply_patch(&mut s, &op(Op::Remove, "/minimumCompressionSize", None)).unwrap();
        assert_eq!(s.minimum_compression_size, None);
    }

    #[test]
    fn ip_address_types_follow_aws_rules() {
        let mut s = settings();
        assert_eq!(s.effective_ip_address_type(), "ipv4");
        let dual = op(
            Op::Replace,
            "/endpointConfiguration/ipAddressType",
            Some("dualstack"),
        );
        apply_patch(&mut s, &dual).unwrap();
        assert_eq!(s.effective_ip_address_type(), "dualstack");
        check_settings(&s).unwrap();
        let bad = op(
            Op::Replace,
            "/endpointConfiguration/ipAddressType",
            Some("ipv6"),
        );
        assert_eq!(apply_patch(&mut s, &bad).unwrap_err().status, 400);
        // A PRIVATE API is dualstack by default, and only dualstack.
        let mut p = settings();
        p.endpoint_types = vec!["PRIVATE".into()];
        assert_eq!(p.effective_ip_address_type(), "dualstack");
        check_settings(&p).unwrap();
        p.ip_address_type = Some("ipv4".into());
        assert_eq!(check_settings(&p).unwrap_err().status, 400);
        p.ip_address_type = Some("IPV4".into());
        assert!(check_settings(&p).is_err());
    }

    #[test]
    fn refuses_bad_patches() {
        let mut s = settings();
        for p in [
            op(Op::Replace, "/foo", Some("x")),
            op(Op::Replace, "/name", Some("")),
            op(Op::Replace, "/apiKeySource", Some("QUERY")),
            op(Op::Replace, "/minimumCompressionSize", Some("-1")),
            op(Op::Remove, "/binaryMediaTypes/none", None),
            op(
                Op::Replace,
                "/endpointConfiguration/types/PRIVATE",
                Some("EDGE"),
            ),
            op(Op::Copy, "/description", Some("x")),
        ] {
            let e = apply_patch(&mut s, &p).unwrap_err();
            assert_eq!(e.status, 400, "{p:?}");
        }
        assert_eq!(s, settings());
        let mut bad = settings();
        bad.endpoint_types = vec!["EDGE".into(), "REGIONAL".into()];
        assert!(check_settings(&bad).is_err());
    }
}
