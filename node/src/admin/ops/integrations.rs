//! PutIntegration, GetIntegration, UpdateIntegration, DeleteIntegration and the integration
//! responses (Put/Get/Update/DeleteIntegrationResponse). Every change rewrites the whole
//! method.

use super::methods::METHOD_RESPONSE_PREFIXES;
use super::{
    check_parameter_names, check_status_code, load_method, non_empty, store_method, Reply,
};
use crate::admin::error::ApiError;
use crate::admin::input::{self, PutIntegrationIn, PutIntegrationResponseIn};
use crate::admin::patch::{self, apply_to_map, Op, PatchOp};
use crate::admin::router::MethodKey;
use crate::admin::wire;
use crate::admin::AdminState;
use tollgate_proto::model::{
    Integration, IntegrationResponse, IntegrationType, Method, DEFAULT_INTEGRATION_TIMEOUT_MS,
};

/// Shortest integration timeout accepted, milliseconds (as AWS).
pub const MIN_TIMEOUT_MS: i64 = 50;
/// Longest integration timeout accepted, milliseconds (as AWS's default quota).
pub const MAX_TIMEOUT_MS: i64 = DEFAULT_INTEGRATION_TIMEOUT_MS as i64;

const HTTP_METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY",
];
const PASSTHROUGH: &[&str] = &["WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER"];
const CONTENT_HANDLING: &[&str] = &["CONVERT_TO_BINARY", "CONVERT_TO_TEXT"];
const CONNECTION_TYPES: &[&str] = &["INTERNET", "VPC_LINK"];
const INTEGRATION_REQUEST_PREFIXES: &[&str] = &[
    "integration.request.path.",
    "integration.request.querystring.",
    "integration.request.multivaluequerystring.",
    "integration.request.header.",
    "integration.request.multivalueheader.",
];

fn one_of(what: &str, v: &Option<String>, allowed: &[&str]) -> Result<(), ApiError> {
    match v {
        Some(v) if !allowed.contains(&v.as_str()) => Err(ApiError::bad_request(format!(
            "Invalid {what} specified: {v}. Must be one of: {}",
            allowed.join(", ")
        ))),
        _ => Ok(()),
    }
}

/// Checks an integration as a whole (after a put or a patch), with AWS's wording.
pub fn check_integration(i: &Integration) -> Result<(), ApiError> {
    let is_http = matches!(i.kind, IntegrationType::Http | IntegrationType::HttpProxy);
    let is_aws = matches!(i.kind, IntegrationType::Aws | IntegrationType::AwsProxy);
    if is_http || is_aws {
        let verb = i
            .http_method
            .as_deref()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ApiError::bad_request("Enumeration value for HttpMethod must be non-empty")
            })?;
        if !HTTP_METHODS.contains(&verb) {
            return Err(ApiError::bad_request(format!(
                "Invalid HttpMethod specified: {verb}"
            )));
        }
        let uri = i.uri.as_deref().unwrap_or("");
        if is_http {
            let rest = uri
                .strip_prefix("http://")
                .or_else(|| uri.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
                return Err(ApiError::bad_request(
                    "Invalid HTTP endpoint specified for URI",
                ));
            }
        } else if !uri.starts_with("arn:") {
            return Err(ApiError::bad_request(
                "AWS ARN for integration must contain path or action",
            ));
        }
    }
    if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&i64::from(i.timeout_in_millis)) {
        return Err(ApiError::bad_request(format!(
            "Timeout should be between {MIN_TIMEOUT_MS} ms and {MAX_TIMEOUT_MS} ms"
        )));
    }
    one_of("passthrough behavior", &i.passthrough_behavior, PASSTHROUGH)?;
    one_of("content handling", &i.content_handling, CONTENT_HANDLING)?;
    one_of("connection type", &i.connection_type, CONNECTION_TYPES)?;
    if i.connection_type.as_deref() == Some("VPC_LINK") && i.connection_id.is_none() {
        return Err(ApiError::bad_request(
            "ConnectionId must be specified for connection type VPC_LINK",
        ));
    }
    check_parameter_names(
        i.request_parameters.keys(),
        INTEGRATION_REQUEST_PREFIXES,
        "integration request",
    )?;
    if i.request_parameters.values().any(|v| v.trim().is_empty()) {
        return Err(ApiError::bad_request(
            "Invalid mapping expression specified: a mapping must not be empty",
        ));
    }
    Ok(())
}

fn parse_type(t: Option<&str>) -> Result<IntegrationType, ApiError> {
    let t = t.ok_or_else(|| {
        ApiError::bad_request("Enumeration value for IntegrationType must be non-empty")
    })?;
    IntegrationType::parse(t).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid integration type specified: {t}. Must be one of: HTTP, HTTP_PROXY, MOCK, AWS, AWS_PROXY"
        ))
    })
}

/// Builds the integration a PutIntegration asks for (AWS's defaults filled in).
pub fn from_input(i: PutIntegrationIn, resource_id: &str) -> Result<Integration, ApiError> {
    let kind = parse_type(i.kind.as_deref())?;
    let timeout = i
        .timeout_in_millis
        .unwrap_or(i64::from(DEFAULT_INTEGRATION_TIMEOUT_MS));
    if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&timeout) {
        return Err(ApiError::bad_request(format!(
            "Timeout should be between {MIN_TIMEOUT_MS} ms and {MAX_TIMEOUT_MS} ms"
        )));
    }
    let connection_type = non_empty(i.connection_type)
        .or_else(|| (kind != IntegrationType::Mock).then(|| "INTERNET".to_string()));
    Ok(Integration {
        kind,
        http_method: non_empty(i.http_method).map(|m| m.to_ascii_uppercase()),
        uri: non_empty(i.uri),
        connection_type,
        connection_id: non_empty(i.connection_id),
        credentials: non_empty(i.credentials),
        request_parameters: i.request_parameters.unwrap_or_default(),
        request_templates: i.request_templates.unwrap_or_default(),
        passthrough_behavior: Some(
            non_empty(i.passthrough_behavior).unwrap_or_else(|| "WHEN_NO_MATCH".into()),
        ),
        content_handling: non_empty(i.content_handling),
        timeout_in_millis: timeout as u32,
        cache_namespace: Some(
            non_empty(i.cache_namespace).unwrap_or_else(|| resource_id.to_string()),
        ),
        cache_key_parameters: i.cache_key_parameters.unwrap_or_default(),
        integration_responses: Default::default(),
    })
}

fn no_integration() -> ApiError {
    ApiError::not_found("No integration defined for method")
}

fn integration_mut(m: &mut Method) -> Result<&mut Integration, ApiError> {
    m.integration.as_mut().ok_or_else(no_integration)
}

fn integration_reply(state: &AdminState, k: &MethodKey, status: u16) -> Result<Reply, ApiError> {
    let m = load_method(state, k)?;
    let i = m.integration.as_ref().ok_or_else(no_integration)?;
    Reply::json(status, &wire::integration(i))
}

/// PutIntegration (201): sets the method's integration. The integration responses of an
/// integration it replaces are kept.
pub async fn put(state: &AdminState, k: &MethodKey, body: &[u8]) -> Result<Reply, ApiError> {
    let i: PutIntegrationIn = input::parse(body)?;
    let mut m = load_method(state, k)?;
    let mut integration = from_input(i, &k.resource)?;
    check_integration(&integration)?;
    if let Some(old) = m.integration.take() {
        integration.integration_responses = old.integration_responses;
    }
    m.integration = Some(integration);
    store_method(state, k, m).await?;
    integration_reply(state, k, 201)
}

/// GetIntegration.
pub fn get(state: &AdminState, k: &MethodKey) -> Result<Reply, ApiError> {
    integration_reply(state, k, 200)
}

/// Applies one UpdateIntegration patch operation.
pub fn apply_patch(i: &mut Integration, p: &PatchOp) -> Result<(), ApiError> {
    let segs = p.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["type"] => {
            if !p.op.sets() {
                return Err(p.invalid_path());
            }
            i.kind = parse_type(Some(p.value()?))?;
        }
        ["httpMethod"] => i.http_method = p.optional_string()?.map(|m| m.to_ascii_uppercase()),
        ["uri"] => i.uri = p.optional_string()?,
        ["connectionType"] => i.connection_type = p.optional_string()?,
        ["connectionId"] => i.connection_id = p.optional_string()?,
        ["credentials"] => i.credentials = p.optional_string()?,
        ["passthroughBehavior"] => i.passthrough_behavior = Some(p.enum_value(PASSTHROUGH)?),
        ["contentHandling"] => i.content_handling = p.optional_string()?,
        ["cacheNamespace"] => i.cache_namespace = p.optional_string()?,
        ["timeoutInMillis"] => {
            i.timeout_in_millis = p.int_value(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS)? as u32
        }
        ["cacheKeyParameters", name] if !name.is_empty() => match p.op {
            Op::Add => {
                if !i.cache_key_parameters.iter().any(|x| x == name) {
                    i.cache_key_parameters.push(name.to_string());
                }
            }
            Op::Remove => i.cache_key_parameters.retain(|x| x != name),
            _ => return Err(p.invalid_path()),
        },
        ["requestParameters", name] if !name.is_empty() => {
            apply_to_map(&mut i.request_parameters, name.to_string(), p)?
        }
        ["requestTemplates", ct] if !ct.is_empty() => {
            apply_to_map(&mut i.request_templates, ct.to_string(), p)?
        }
        _ => return Err(p.invalid_path()),
    }
    Ok(())
}

/// UpdateIntegration.
pub async fn update(state: &AdminState, k: &MethodKey, body: &[u8]) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut m = load_method(state, k)?;
    let i = integration_mut(&mut m)?;
    for p in &ops {
        apply_patch(i, p)?;
    }
    check_integration(i)?;
    store_method(state, k, m).await?;
    integration_reply(state, k, 200)
}

/// DeleteIntegration (204).
pub async fn delete(state: &AdminState, k: &MethodKey) -> Result<Reply, ApiError> {
    let mut m = load_method(state, k)?;
    m.integration.take().ok_or_else(no_integration)?;
    store_method(state, k, m).await?;
    Ok(Reply::empty(204))
}

fn no_response() -> ApiError {
    ApiError::not_found("Invalid Response status code specified")
}

/// Checks an integration response: its selection pattern must compile (the data plane
/// matches it with the same regular-expression engine) and it may map only method response
/// headers.
pub fn check_response(r: &IntegrationResponse) -> Result<(), ApiError> {
    if let Some(p) = &r.selection_pattern {
        regex_lite::Regex::new(p).map_err(|e| {
            ApiError::bad_request(format!("Invalid selection pattern specified: {e}"))
        })?;
    }
    one_of("content handling", &r.content_handling, CONTENT_HANDLING)?;
    check_parameter_names(
        r.response_parameters.keys(),
        METHOD_RESPONSE_PREFIXES,
        "mapping expression",
    )
}

/// PutIntegrationResponse (201).
pub async fn put_response(
    state: &AdminState,
    k: &MethodKey,
    code: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    check_status_code(code)?;
    let i: PutIntegrationResponseIn = input::parse(body)?;
    let mut m = load_method(state, k)?;
    let r = IntegrationResponse {
        status_code: code.to_string(),
        selection_pattern: i.selection_pattern,
        response_parameters: i.response_parameters.unwrap_or_default(),
        response_templates: i.response_templates.unwrap_or_default(),
        content_handling: non_empty(i.content_handling),
    };
    check_response(&r)?;
    integration_mut(&mut m)?
        .integration_responses
        .insert(code.to_string(), r);
    store_method(state, k, m).await?;
    response_reply(state, k, code, 201)
}

fn response_reply(
    state: &AdminState,
    k: &MethodKey,
    code: &str,
    status: u16,
) -> Result<Reply, ApiError> {
    let m = load_method(state, k)?;
    let i = m.integration.as_ref().ok_or_else(no_integration)?;
    let r = i.integration_responses.get(code).ok_or_else(no_response)?;
    Reply::json(status, &wire::integration_response(r))
}

/// GetIntegrationResponse.
pub fn get_response(state: &AdminState, k: &MethodKey, code: &str) -> Result<Reply, ApiError> {
    response_reply(state, k, code, 200)
}

/// Applies one UpdateIntegrationResponse patch operation.
pub fn apply_response_patch(r: &mut IntegrationResponse, p: &PatchOp) -> Result<(), ApiError> {
    let segs = p.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["selectionPattern"] => {
            r.selection_pattern = match p.op {
                Op::Remove => None,
                op if op.sets() => p.value.clone(),
                _ => return Err(p.invalid_path()),
            }
        }
        ["contentHandling"] => r.content_handling = p.optional_string()?,
        ["responseParameters", name] if !name.is_empty() => {
            apply_to_map(&mut r.response_parameters, name.to_string(), p)?
        }
        ["responseTemplates", ct] if !ct.is_empty() => {
            apply_to_map(&mut r.response_templates, ct.to_string(), p)?
        }
        _ => return Err(p.invalid_path()),
    }
    Ok(())
}

/// UpdateIntegrationResponse.
pub async fn update_response(
    state: &AdminState,
    k: &MethodKey,
    code: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut m = load_method(state, k)?;
    let r = integration_mut(&mut m)?
        .integration_responses
        .get_mut(code)
        .ok_or_else(no_response)?;
    for p in &ops {
        apply_response_patch(r, p)?;
    }
    check_response(r)?;
    store_method(state, k, m).await?;
    response_reply(state, k, code, 200)
}

/// DeleteIntegrationResponse (204).
pub async fn delete_response(
    state: &AdminState,
    k: &MethodKey,
    code: &str,
) -> Result<Reply, ApiError> {
    let mut m = load_method(state, k)?;
    integration_mut(&mut m)?
        .integration_responses
        .remove(code)
        .ok_or_else(no_response)?;
    store_method(state, k, m).await?;
    Ok(Reply::empty(204))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(json: &str) -> Result<Integration, ApiError> {
        let i = from_input(input::parse(json.as_bytes())?, "res1")?;
        check_integration(&i)?;
        Ok(i)
    }

    fn op(o: Op, path: &str, v: Option<&str>) -> PatchOp {
        PatchOp {
            op: o,
            path: path.into(),
            value: v.map(String::from),
            from: None,
        }
    }

    #[test]
    fn put_fills_aws_defaults() {
        let i = put(
            r#"{"type":"MOCK","requestTemplates":{"application/json":"{\"statusCode\": 200}"}}"#,
        )
        .unwrap();
        assert_eq!(i.kind, IntegrationType::Mock);
        assert_eq!(i.timeout_in_millis, 29000);
        assert_eq!(i.passthrough_behavior.as_deref(), Some("WHEN_NO_MATCH"));
        assert_eq!(i.cache_namespace.as_deref(), Some("res1"));
        assert_eq!(i.connection_type, None);
        let i = put(r#"{"type":"HTTP_PROXY","httpMethod":"get","uri":"http://${stageVariables.b}/{proxy}"}"#)
            .unwrap();
        assert_eq!(i.http_method.as_deref(), Some("GET"));
        assert_eq!(i.connection_type.as_deref(), Some("INTERNET"));
        // The SDK member name is accepted too.
        let i = put(r#"{"type":"HTTP","integrationHttpMethod":"POST","uri":"https://x"}"#).unwrap();
        assert_eq!(i.http_method.as_deref(), Some("POST"));
    }

    #[test]
    fn put_validates_like_aws() {
        let msg = |j: &str| put(j).unwrap_err().message;
        assert_eq!(
            msg(r#"{"type":"HTTP_PROXY","uri":"http://x"}"#),
            "Enumeration value for HttpMethod must be non-empty"
        );
        assert_eq!(
            msg(r#"{"type":"HTTP","httpMethod":"GET","uri":"ftp://x"}"#),
            "Invalid HTTP endpoint specified for URI"
        );
        assert_eq!(
            msg(r#"{"type":"HTTP","httpMethod":"GET"}"#),
            "Invalid HTTP endpoint specified for URI"
        );
        assert!(
            msg(r#"{"type":"AWS_PROXY","httpMethod":"POST","uri":"http://x"}"#).contains("ARN")
        );
        assert!(msg(r#"{"type":"MOCK","timeoutInMillis":49}"#).contains("between 50"));
        assert!(msg(r#"{"type":"MOCK","timeoutInMillis":29001}"#).contains("between 50"));
        assert!(msg(r#"{}"#).contains("IntegrationType"));
        assert!(msg(r#"{"type":"LAMBDA"}"#).contains("integration type"));
        assert!(msg(r#"{"type":"MOCK","passthroughBehavior":"ALWAYS"}"#).contains("passthrough"));
        assert!(msg(r#"{"type":"MOCK","requestParameters":{"x":"'a'"}}"#)
            .contains("integration request"));
        assert!(put(r#"{"type":"MOCK","timeoutInMillis":50}"#).is_ok());
    }

    #[test]
    fn patches_integrations() {
        let mut i = put(r#"{"type":"HTTP","httpMethod":"GET","uri":"http://a"}"#).unwrap();
        for p in [
            op(Op::Replace, "/uri", Some("http://b")),
            op(Op::Replace, "/timeoutInMillis", Some("1000")),
            op(Op::Add, "/requestTemplates/application~1json", Some("{}")),
            op(
                Op::Add,
                "/requestParameters/integration.request.header.x",
                Some("'v'"),
            ),
            op(Op::Add, "/cacheKeyParameters/method.request.path.id", None),
            op(Op::Replace, "/passthroughBehavior", Some("NEVER")),
        ] {
            apply_patch(&mut i, &p).unwrap();
        }
        check_integration(&i).unwrap();
        assert_eq!(i.uri.as_deref(), Some("http://b"));
        assert_eq!(i.timeout_in_millis, 1000);
        assert_eq!(i.request_templates["application/json"], "{}");
        assert_eq!(i.cache_key_parameters, ["method.request.path.id"]);
        assert!(apply_patch(&mut i, &op(Op::Replace, "/timeoutInMillis", Some("10"))).is_err());
        assert!(apply_patch(&mut i, &op(Op::Replace, "/nope", Some("1"))).is_err());
        apply_patch(&mut i, &op(Op::Remove, "/uri", None)).unwrap();
        assert!(check_integration(&i).is_err());
    }

    #[test]
    fn integration_responses() {
        let mut r = IntegrationResponse {
            status_code: "200".into(),
            selection_pattern: Some("2\\d{2}".into()),
            ..Default::default()
        };
        check_response(&r).unwrap();
        apply_response_patch(
            &mut r,
            &op(Op::Replace, "/selectionPattern", Some("5\\d{2}")),
        )
        .unwrap();
        apply_response_patch(
            &mut r,
            &op(
                Op::Add,
                "/responseTemplates/application~1json",
                Some("{\"a\":1}"),
            ),
        )
        .unwrap();
        apply_response_patch(
            &mut r,
            &op(
                Op::Add,
                "/responseParameters/method.response.header.X",
                Some("'y'"),
            ),
        )
        .unwrap();
        check_response(&r).unwrap();
        assert_eq!(r.selection_pattern.as_deref(), Some("5\\d{2}"));
        r.selection_pattern = Some("(".into());
        assert!(check_response(&r).is_err());
        r.selection_pattern = None;
        r.response_parameters
            .insert("integration.x".into(), "'a'".into());
        assert!(check_response(&r).is_err());
    }
}
