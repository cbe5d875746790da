//! PutIntegration, GetIntegration, UpdateIntegration, DeleteIntegration and the integration
//! responses (Put/Get/Update/DeleteIntegrationResponse). Every change rewrites the whole
//! method.

use super::methods::METHOD_RESPONSE_PREFIXES;
use super::{
    check_parameter_names, check_uri_status_code, load_method, non_empty, store_method, Reply,
};
use crate::admin::enums;
use crate::admin::error::ApiError;
use crate::admin::input::{self, PutIntegrationIn, PutIntegrationResponseIn};
use crate::admin::limits::{
    check_expression, check_header_name, check_header_value, check_mapping_templates,
    check_opt_name, check_text, MAX_URI_CHARS,
};
use crate::admin::patch::{self, apply_to_map, Op, PatchOp};
use crate::admin::router::MethodKey;
use crate::admin::wire;
use crate::admin::AdminState;
use crate::dataplane::http_integration::{parse_response_source, HeaderMapping, ResponseSource};
use crate::dataplane::routing::ValueSource;
use crate::text_rules::is_header_name;
use tollgate_proto::model::{
    GivenMaps, Integration, IntegrationResponse, IntegrationType, Method, Stage, TlsConfig,
    DEFAULT_INTEGRATION_TIMEOUT_MS,
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
const CACHE_KEY_PREFIXES: &[&str] = &[
    "method.request.path.",
    "method.request.querystring.",
    "method.request.header.",
];
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
///
/// Fail closed: only what the data plane serves is accepted — MOCK, HTTP (non-proxy, with
/// mapping templates) and HTTP_PROXY to an `http://` backend over the internet, with the
/// request parameter mappings the data plane applies, and AWS_PROXY to a Lambda function (POST, a Lambda function URI, no mappings).
/// Everything else is refused here with the reason, instead of being stored and then answered
/// 500 at request time.
pub fn check_integration(i: &Integration) -> Result<(), ApiError> {
    if !matches!(
        i.kind,
        IntegrationType::Mock
            | IntegrationType::Http
            | IntegrationType::HttpProxy
            | IntegrationType::AwsProxy
            | IntegrationType::Aws
    ) {
        return Err(ApiError::bad_request(format!(
            "Integration type {} is not supported by this gateway: only MOCK, HTTP, HTTP_PROXY, AWS_PROXY and AWS (Lambda) integrations are served",
            i.kind.as_str()
        )));
    }
    let is_http = matches!(i.kind, IntegrationType::HttpProxy | IntegrationType::Http);
    if matches!(i.kind, IntegrationType::AwsProxy | IntegrationType::Aws) {
        check_lambda(i)?;
    }
    if let Some(verb) = i.http_method.as_deref() {
        if !HTTP_METHODS.contains(&verb) {
            return Err(ApiError::bad_request(format!(
                "Invalid HttpMethod specified: {verb}"
            )));
        }
    }
    if is_http {
        if i.http_method.as_deref().is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(
                "Enumeration value for HttpMethod must be non-empty",
            ));
        }
        check_http_uri(i.uri.as_deref().unwrap_or(""))?;
        if i.request_templates
            .values()
            .any(|t| t.contains("requestOverride.path"))
        {
            return Err(ApiError::bad_request(
                "$context.requestOverride.path is not applied by this gateway: override path parameters with integration.request.path mappings instead",
            ));
        }
        if i.kind == IntegrationType::HttpProxy && !i.request_templates.is_empty() {
            return Err(ApiError::bad_request(
                "Mapping templates are not applied to HTTP_PROXY integrations: requestTemplates must be empty",
            ));
        }
    } else if i.uri.as_deref().is_some_and(|u| !u.is_empty()) {
        check_text("uri", i.uri.as_deref().unwrap_or(""), MAX_URI_CHARS)?;
    }
    if !is_http && i.tls_config.is_some() {
        return Err(ApiError::bad_request(
            "tlsConfig is supported only for HTTP and HTTP_PROXY integrations",
        ));
    }
    if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&i64::from(i.timeout_in_millis)) {
        return Err(ApiError::bad_request(format!(
            "Timeout should be between {MIN_TIMEOUT_MS} ms and {MAX_TIMEOUT_MS} ms"
        )));
    }
    one_of("passthrough behavior", &i.passthrough_behavior, PASSTHROUGH)?;
    one_of("content handling", &i.content_handling, CONTENT_HANDLING)?;
    // The request side converts only what an HTTP integration sends its backend (a MOCK's
    // request template reads the body as it came); a MOCK's integration responses convert.
    if i.content_handling.is_some() && i.kind != IntegrationType::Http {
        return Err(ApiError::bad_request(
            "Content handling is supported by this gateway on HTTP integrations and on integration responses of HTTP and MOCK integrations only: contentHandling must not be set",
        ));
    }
    one_of("connection type", &i.connection_type, CONNECTION_TYPES)?;
    if i.connection_type.as_deref() == Some("VPC_LINK") {
        return Err(ApiError::bad_request(
            "VPC links are not supported by this gateway: connectionType must be INTERNET",
        ));
    }
    if i.connection_id.is_some() {
        return Err(ApiError::bad_request(
            "VPC links are not supported by this gateway: connectionId must not be set",
        ));
    }
    if i.credentials.is_some() {
        return Err(ApiError::bad_request(
            "Integration credentials (a role for the gateway to assume) are not used by this gateway: credentials must not be set",
        ));
    }
    check_opt_name("cacheNamespace", i.cache_namespace.as_deref())?;
    for p in &i.cache_key_parameters {
        check_expression("A cache key parameter", p)?;
        if !CACHE_KEY_PREFIXES
            .iter()
            .any(|pre| p.strip_prefix(pre).is_some_and(|rest| !rest.is_empty()))
        {
            return Err(ApiError::bad_request(format!(
                "Invalid cache key parameter specified: {p}. Must name a method.request.path, querystring or header parameter"
            )));
        }
    }
    check_mapping_templates("request template", &i.request_templates)?;
    check_parameter_names(
        i.request_parameters.keys(),
        INTEGRATION_REQUEST_PREFIXES,
        "integration request",
    )?;
    for (target, source) in &i.request_parameters {
        check_request_mapping(target, source)?;
    }
    for r in i.integration_responses.values() {
        check_response_for(i.kind, r)?;
    }
    Ok(())
}

/// AWS's answer to an AWS_PROXY integration of another service.
pub(super) const AWS_PROXY_SERVICES: &str = "Integrations of type 'AWS_PROXY' currently only supports Lambda function and Firehose stream invocations.";

/// An AWS_PROXY or AWS integration: POST to a Lambda function URI
/// (`arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{functionArn}/invocations`;
/// one with a stage variable is checked when a stage serves it). An AWS integration of
/// another service is refused (only Lambda is served). A proxy integration has no request
/// mappings; an AWS one has request templates but no request parameter mappings (the
/// payload is all a function gets), and no `$context.requestOverride` (nothing to override).
fn check_lambda(i: &Integration) -> Result<(), ApiError> {
    let kind = i.kind.as_str();
    let uri = i.uri.as_deref().unwrap_or("");
    if i.kind == IntegrationType::AwsProxy {
        match aws_service(uri) {
            Some("firehose") => {
                return Err(ApiError::bad_request(
                    "AWS_PROXY integrations with Firehose are not supported by this gateway: only Lambda functions are served",
                ))
            }
            // AWS's recorded wording (localstack's AWS recordings, `test_apigateway_dynamodb`
            // `test_error_aws_proxy_not_supported` "create-integration-error").
            Some(s) if s != "lambda" => {
                return Err(ApiError::bad_request(AWS_PROXY_SERVICES));
            }
            _ => {}
        }
    }
    if i.kind == IntegrationType::Aws {
        if let Some(service) = aws_service(uri).filter(|s| *s != "lambda") {
            return Err(ApiError::bad_request(format!(
                "AWS integrations with the {service} service are not supported by this gateway: only Lambda functions (arn:aws:apigateway:{{region}}:lambda:path/2015-03-31/functions/{{functionArn}}/invocations) are served"
            )));
        }
        if !i.request_parameters.is_empty() {
            return Err(ApiError::bad_request(
                "Request parameter mappings are not applied to AWS (Lambda) integrations by this gateway: requestParameters must be empty",
            ));
        }
        if i.request_templates
            .values()
            .any(|t| t.contains("requestOverride"))
        {
            return Err(ApiError::bad_request(
                "$context.requestOverride is not applied to AWS (Lambda) integrations by this gateway: a function gets its payload only",
            ));
        }
    }
    match i.http_method.as_deref() {
        None | Some("") => {
            return Err(ApiError::bad_request(
                "Enumeration value for HttpMethod must be non-empty",
            ))
        }
        Some("POST") => {}
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "Lambda functions are invoked with POST: integrationHttpMethod must be POST for {kind} integrations"
            )))
        }
    }
    check_text("uri", uri, MAX_URI_CHARS)?;
    if !uri.contains("${stageVariables.") {
        crate::dataplane::lambda::arn::parse_uri(uri).map_err(|why| {
            ApiError::bad_request(format!(
                "AWS ARN for integration must contain path or action: {why}"
            ))
        })?;
    }
    if i.kind == IntegrationType::Aws {
        return Ok(());
    }
    if !i.request_templates.is_empty() {
        return Err(ApiError::bad_request(
            "Mapping templates are not applied to AWS_PROXY integrations: requestTemplates must be empty",
        ));
    }
    if !i.request_parameters.is_empty() {
        return Err(ApiError::bad_request(
            "Request parameter mappings are not applied to AWS_PROXY integrations by this gateway: requestParameters must be empty",
        ));
    }
    Ok(())
}

/// The service an AWS integration URI names (`arn:aws:apigateway:{region}:{service}:…`).
fn aws_service(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("arn:")?.split_once(":apigateway:")?.1;
    let service = rest.split(':').nth(1)?;
    (!service.is_empty()).then_some(service)
}

/// An HTTP or HTTP_PROXY endpoint: `http://` or `https://host[:port][/path]`, stage
/// variables allowed, no credentials in it, no whitespace or control character; an `https://`
/// host (without stage variables) must be a name or address a certificate can be checked for.
fn check_http_uri(uri: &str) -> Result<(), ApiError> {
    let invalid = || ApiError::bad_request("Invalid HTTP endpoint specified for URI");
    check_text("uri", uri, MAX_URI_CHARS)?;
    let (rest, https) = match uri.strip_prefix("https://") {
        Some(r) => (r, true),
        None => (uri.strip_prefix("http://").ok_or_else(invalid)?, false),
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') || rest.contains(char::is_whitespace) {
        return Err(invalid());
    }
    if https
        && !authority.contains("${")
        && crate::dataplane::upstream_tls::server_name(authority).is_err()
    {
        return Err(invalid());
    }
    Ok(())
}

/// One request parameter mapping, as the data plane applies it: a path, query string or
/// header parameter takes a `'literal'` (a valid header value), a stage variable, a method
/// request path, query string, multi-value query string, header or multi-value header
/// parameter, a `context.*` value the gateway knows ([`crate::dataplane::mapping::CONTEXT_NAMES`]),
/// the `AWS_IAM` caller's `context.identity.{accessKey, accountId, caller, user, userArn}` or
/// a Lambda authorizer's `context.authorizer.*`. Multi-value targets and other sources
/// (`method.request.body`) are not applied, so they are refused.
fn check_request_mapping(target: &str, source: &str) -> Result<(), ApiError> {
    check_expression("A mapping expression", target)?;
    if source.trim().is_empty() {
        return Err(ApiError::bad_request(
            "Invalid mapping expression specified: a mapping must not be empty",
        ));
    }
    let unsupported = || {
        ApiError::bad_request(format!(
            "Invalid mapping expression specified: {target} = {source} is not supported by this gateway"
        ))
    };
    let header = target.strip_prefix("integration.request.header.");
    let served = [
        "integration.request.querystring.",
        "integration.request.path.",
    ]
    .iter()
    .any(|p| target.strip_prefix(p).is_some_and(|n| !n.is_empty()));
    if let Some(name) = header {
        check_header_name("integration request", name)?;
    } else if !served {
        return Err(unsupported());
    }
    if let Some(lit) = source.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return check_header_value("integration request", lit);
    }
    check_expression("A mapping expression", source)?;
    let well_formed = match ValueSource::parse(source, &Stage::default()) {
        None => false,
        Some(ValueSource::Header(n) | ValueSource::MultiHeader(n)) => is_header_name(&n),
        Some(ValueSource::Literal(_)) => source
            .strip_prefix("stageVariables.")
            .is_some_and(|v| v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')),
        Some(ValueSource::Authorizer(n)) => n.bytes().all(|b| b.is_ascii_graphic()),
        Some(_) => true,
    };
    if well_formed {
        Ok(())
    } else if ["method.request.", "context.", "stageVariables."]
        .iter()
        .any(|p| source.starts_with(p))
    {
        Err(unsupported())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid mapping expression specified: Validation Result: warnings : [], errors : [Invalid mapping expression specified: {source}]"
        )))
    }
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
    let tls_config = tls_config(i.tls_config.as_ref(), kind)?;
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
    let mut given_maps = GivenMaps::default();
    given_maps.mark(GivenMaps::PARAMETERS, i.request_parameters.is_some());
    given_maps.mark(GivenMaps::BODIES, i.request_templates.is_some());
    Ok(Integration {
        given_maps,
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
        tls_config,
    })
}

/// `tlsConfig`: `{"insecureSkipVerification": bool}` on an HTTP or HTTP_PROXY integration (AWS
/// takes it for those only); an empty object or `null` is no setting.
fn tls_config(
    v: Option<&serde_json::Value>,
    kind: IntegrationType,
) -> Result<Option<TlsConfig>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let o = v.as_object().ok_or_else(|| {
        ApiError::bad_request(
            "Invalid tlsConfig: it must be an object with insecureSkipVerification",
        )
    })?;
    if o.is_empty() {
        return Ok(None);
    }
    if !matches!(kind, IntegrationType::Http | IntegrationType::HttpProxy) {
        return Err(ApiError::bad_request(
            "tlsConfig is supported only for HTTP and HTTP_PROXY integrations",
        ));
    }
    let mut t = TlsConfig::default();
    for (k, v) in o {
        match (k.as_str(), v) {
            ("insecureSkipVerification", serde_json::Value::Bool(b)) => {
                t.insecure_skip_verification = *b
            }
            ("insecureSkipVerification", _) => {
                return Err(ApiError::bad_request(
                    "Invalid tlsConfig: insecureSkipVerification must be a boolean",
                ))
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                "Invalid tlsConfig: unknown field {k}; only insecureSkipVerification is supported"
            )))
            }
        }
    }
    Ok(Some(t))
}

fn no_integration() -> ApiError {
    ApiError::not_found(crate::admin::not_found::NO_INTEGRATION)
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
    enums::check("PutIntegration", "type", i.kind.as_deref())?;
    enums::check(
        "PutIntegration",
        "connectionType",
        i.connection_type.as_deref(),
    )?;
    enums::check(
        "PutIntegration",
        "contentHandling",
        i.content_handling.as_deref(),
    )?;
    enums::check(
        "PutIntegration",
        "responseTransferMode",
        i.response_transfer_mode.as_deref(),
    )?;
    if i.response_transfer_mode.as_deref() == Some("STREAM") {
        return Err(ApiError::bad_request(
            "responseTransferMode STREAM is not supported here: answers are buffered (use BUFFERED)",
        ));
    }
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
        ["tlsConfig", "insecureSkipVerification"] => {
            let skip = match p.optional_string()?.as_deref() {
                None | Some("false") => false,
                Some("true") => true,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid value for insecureSkipVerification: {other} (true or false)"
                    )))
                }
            };
            i.tls_config = Some(TlsConfig {
                insecure_skip_verification: skip,
            });
        }
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
    // A map that has held entries is answered from then on (`{}` when emptied again).
    i.given_maps
        .mark(GivenMaps::PARAMETERS, !i.request_parameters.is_empty());
    i.given_maps
        .mark(GivenMaps::BODIES, !i.request_templates.is_empty());
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
        check_expression("A selection pattern", p)?;
        regex_lite::Regex::new(p).map_err(|e| {
            ApiError::bad_request(format!("Invalid selection pattern specified: {e}"))
        })?;
    }
    one_of("content handling", &r.content_handling, CONTENT_HANDLING)?;
    check_parameter_names(
        r.response_parameters.keys(),
        METHOD_RESPONSE_PREFIXES,
        "mapping expression",
    )?;
    // What the data plane maps into method response headers: `'literal'`, stage variables,
    // the backend's headers and body (HTTP integrations; see `check_response_for`) and the
    // request's context values.
    for (target, source) in &r.response_parameters {
        if let Some(name) = target.strip_prefix("method.response.header.") {
            check_header_name("method response", name)?;
        }
        if let Some(lit) = source.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            check_header_value("method response", lit)?;
            continue;
        }
        check_expression("A mapping expression", source)?;
        let well_formed = match parse_response_source(source, &[]) {
            Err(_) => false,
            Ok(HeaderMapping::Fixed(_)) => source
                .strip_prefix("stageVariables.")
                .is_some_and(|v| v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')),
            Ok(HeaderMapping::Read(ResponseSource::Header(n) | ResponseSource::MultiHeader(n))) => {
                is_header_name(&n)
            }
            Ok(HeaderMapping::Read(_)) => true,
        };
        if !well_formed {
            return Err(if source.starts_with("context.") {
                ApiError::bad_request(format!(
                    "Invalid mapping expression specified: {target} = {source} is not supported by this gateway"
                ))
            } else {
                ApiError::bad_request(format!(
                    "Invalid mapping expression specified: Validation Result: warnings : [], errors : [Invalid mapping expression specified: {source}]"
                ))
            });
        }
    }
    check_mapping_templates("response template", &r.response_templates)
}

/// What an integration of `kind` applies of its response `r`: only an HTTP (non-proxy)
/// integration has a backend answer and the request's context at hand; a MOCK maps literal
/// and stage variable values only, so anything else is refused rather than ignored.
pub fn check_response_for(kind: IntegrationType, r: &IntegrationResponse) -> Result<(), ApiError> {
    if kind == IntegrationType::Http {
        return Ok(());
    }
    for (target, source) in &r.response_parameters {
        if let Ok(HeaderMapping::Read(_)) = parse_response_source(source, &[]) {
            return Err(ApiError::bad_request(format!(
                "Invalid mapping expression specified: {target} = {source} is applied by this gateway to HTTP integrations only ({} integrations map literal and stage variable values)",
                kind.as_str()
            )));
        }
    }
    Ok(())
}

/// PutIntegrationResponse (201).
pub async fn put_response(
    state: &AdminState,
    k: &MethodKey,
    code: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    check_uri_status_code(code)?;
    let i: PutIntegrationResponseIn = input::parse(body)?;
    enums::check(
        "PutIntegrationResponse",
        "contentHandling",
        i.content_handling.as_deref(),
    )?;
    let mut m = load_method(state, k)?;
    let mut given_maps = GivenMaps::default();
    given_maps.mark(GivenMaps::PARAMETERS, i.response_parameters.is_some());
    given_maps.mark(GivenMaps::BODIES, i.response_templates.is_some());
    let r = IntegrationResponse {
        status_code: code.to_string(),
        selection_pattern: i.selection_pattern,
        response_parameters: i.response_parameters.unwrap_or_default(),
        response_templates: i.response_templates.unwrap_or_default(),
        content_handling: non_empty(i.content_handling),
        given_maps,
    };
    check_response(&r)?;
    let i = integration_mut(&mut m)?;
    check_response_for(i.kind, &r)?;
    i.integration_responses
        .insert(code.to_string(), Box::new(r));
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
    let i = integration_mut(&mut m)?;
    let kind = i.kind;
    let r = i
        .integration_responses
        .get_mut(code)
        .ok_or_else(no_response)?;
    for p in &ops {
        apply_response_patch(r, p)?;
    }
    // A map that has held entries is answered from then on (`{}` when emptied again).
    r.given_maps
        .mark(GivenMaps::PARAMETERS, !r.response_parameters.is_empty());
    r.given_maps
        .mark(GivenMaps::BODIES, !r.response_templates.is_empty());
    check_response(r)?;
    check_response_for(kind, r)?;
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
        let i = put(r#"{"type":"HTTP_PROXY","integrationHttpMethod":"POST","uri":"http://x"}"#)
            .unwrap();
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
            msg(r#"{"type":"HTTP_PROXY","httpMethod":"GET","uri":"ftp://x"}"#),
            "Invalid HTTP endpoint specified for URI"
        );
        assert_eq!(
            msg(r#"{"type":"HTTP_PROXY","httpMethod":"GET"}"#),
            "Invalid HTTP endpoint specified for URI"
        );
        assert_eq!(
            msg(r#"{"type":"HTTP_PROXY","httpMethod":"GET","uri":"http://user@x/"}"#),
            "Invalid HTTP endpoint specified for URI"
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
        let mut i = put(r#"{"type":"HTTP_PROXY","httpMethod":"GET","uri":"http://a"}"#).unwrap();
        for p in [
            op(Op::Replace, "/uri", Some("http://b")),
            op(Op::Replace, "/timeoutInMillis", Some("1000")),
            op(
                Op::Add,
                "/requestParameters/integration.request.header.x",
                Some("'v'"),
            ),
            op(Op::Add, "/cacheKeyParameters/method.request.path.id", None),
        ] {
            apply_patch(&mut i, &p).unwrap();
        }
        check_integration(&i).unwrap();
        assert_eq!(i.uri.as_deref(), Some("http://b"));
        assert_eq!(i.timeout_in_millis, 1000);
        assert_eq!(i.cache_key_parameters, ["method.request.path.id"]);
        assert!(apply_patch(&mut i, &op(Op::Replace, "/timeoutInMillis", Some("10"))).is_err());
        assert!(apply_patch(&mut i, &op(Op::Replace, "/nope", Some("1"))).is_err());
        apply_patch(&mut i, &op(Op::Remove, "/uri", None)).unwrap();
        assert!(check_integration(&i).is_err());
    }

    /// AWS_PROXY: POST to a Lambda function URI, without mappings; timeout 50-29000 ms.
    #[test]
    fn lambda_proxy_integrations() {
        const FN: &str = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:echo/invocations";
        let lambda = |verb: &str, uri: &str, extra: &str| {
            format!(r#"{{"type":"AWS_PROXY","httpMethod":"{verb}","uri":"{uri}"{extra}}}"#)
        };
        let i = put(&lambda("POST", FN, "")).unwrap();
        assert_eq!(i.kind, IntegrationType::AwsProxy);
        put(&lambda("POST", FN, r#","timeoutInMillis":50"#)).unwrap();
        put(&lambda("POST", FN, r#","timeoutInMillis":29000"#)).unwrap();
        put(&lambda(
            "POST",
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:${stageVariables.fn}/invocations",
            "",
        ))
        .unwrap();
        let msg = |j: &str| put(j).unwrap_err().message;
        assert!(msg(&lambda("GET", FN, "")).contains("must be POST"));
        assert!(msg(&lambda("POST", "http://x/", "")).contains("ARN"));
        assert!(msg(&lambda(
            "POST",
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/echo/invocations",
            ""
        ))
        .contains("function ARN"));
        assert!(msg(&lambda("POST", FN, r#","timeoutInMillis":49"#)).contains("Timeout"));
        assert!(msg(&lambda("POST", FN, r#","timeoutInMillis":29001"#)).contains("Timeout"));
        assert!(msg(&lambda(
            "POST",
            FN,
            r#","requestTemplates":{"application/json":"{}"}"#
        ))
        .contains("requestTemplates"));
        assert!(msg(&lambda(
            "POST",
            FN,
            r#","requestParameters":{"integration.request.header.X":"'a'"}"#
        ))
        .contains("requestParameters"));
        assert!(msg(&lambda(
            "POST",
            FN,
            r#","credentials":"arn:aws:iam::1:role/r""#
        ))
        .contains("credentials"));
    }

    /// AWS (non-proxy) Lambda integrations: POST to a Lambda function URI, request templates
    /// and integration responses served; request parameter mappings and
    /// `$context.requestOverride` (which a function's payload cannot carry) refused.
    #[test]
    fn lambda_aws_integrations() {
        const FN: &str = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:echo/invocations";
        let aws = |verb: &str, extra: &str| {
            format!(r#"{{"type":"AWS","httpMethod":"{verb}","uri":"{FN}"{extra}}}"#)
        };
        let i = put(&aws(
            "POST",
            r#","requestTemplates":{"application/json":"{\"name\": $input.json('$.name')}"},"passthroughBehavior":"NEVER""#,
        ))
        .unwrap();
        assert_eq!(i.kind, IntegrationType::Aws);
        let msg = |j: &str| put(j).unwrap_err().message;
        assert!(msg(&aws("GET", "")).contains("must be POST for AWS integrations"));
        assert!(msg(&aws(
            "POST",
            r#","requestParameters":{"integration.request.header.X":"'a'"}"#
        ))
        .contains("requestParameters"));
        assert!(msg(&aws(
            "POST",
            r##","requestTemplates":{"application/json":"#set($context.requestOverride.header.x = 'a')"}"##
        ))
        .contains("requestOverride"));
    }

    /// Fail closed: what the data plane does not serve is refused at PutIntegration (and the
    /// same check runs after every UpdateIntegration), not stored and answered 500 later.
    #[test]
    fn unserved_integrations_are_refused() {
        let msg = |j: &str| put(j).unwrap_err().message;
        // AWS integrations of other services than Lambda are not served as anything else.
        for uri in [
            "arn:aws:apigateway:us-east-1:dynamodb:action/PutItem",
            "arn:aws:apigateway:us-east-1:s3:path/bucket/key",
            "arn:aws:apigateway:us-east-1:sqs:path/1/queue",
        ] {
            let m = msg(&format!(
                r#"{{"type":"AWS","httpMethod":"POST","uri":"{uri}"}}"#
            ));
            assert!(m.contains("not supported by this gateway"), "{m}");
            assert!(m.contains("only Lambda functions"), "{m}");
        }
        let m = msg(r#"{"type":"AWS","httpMethod":"POST","uri":"http://x"}"#);
        assert!(m.contains("ARN"), "{m}");
        let proxy = |extra: &str| {
            format!(r#"{{"type":"HTTP_PROXY","httpMethod":"GET","uri":"http://x/"{extra}}}"#)
        };
        assert!(put(&proxy("")).is_ok());
        let m = msg(
            r##"{"type":"HTTP","httpMethod":"GET","uri":"http://x/","requestTemplates":{"application/json":"#set($context.requestOverride.path.id = 'a')"}}"##,
        );
        assert!(m.contains("requestOverride.path is not applied"), "{m}");
        let m = msg(r#"{"type":"MOCK","contentHandling":"CONVERT_TO_TEXT"}"#);
        assert!(m.contains("on HTTP integrations"), "{m}");
        for (extra, why) in [
            (r#","connectionType":"VPC_LINK","connectionId":"v1""#, "VPC"),
            (r#","connectionId":"v1""#, "VPC"),
            (r#","credentials":"arn:aws:iam::1:role/r""#, "credentials"),
            (
                r#","contentHandling":"CONVERT_TO_TEXT""#,
                "Content handling",
            ),
            (
                r#","tlsConfig":{"insecureSkipVerification":"yes"}"#,
                "must be a boolean",
            ),
            (
                r#","tlsConfig":{"serverNameToVerify":"x"}"#,
                "unknown field serverNameToVerify",
            ),
            (
                r#","requestTemplates":{"application/json":"{}"}"#,
                "requestTemplates",
            ),
            (
                r#","cacheKeyParameters":["method.request.body"]"#,
                "cache key",
            ),
            (
                r#","requestParameters":{"integration.request.header.X":"method.request.body"}"#,
                "not supported",
            ),
            (
                r#","requestParameters":{"integration.request.header.X":"context.wafResponseCode"}"#,
                "not supported",
            ),
            (
                r#","requestParameters":{"integration.request.multivaluequerystring.q":"'a'"}"#,
                "not supported",
            ),
            (
                r#","requestParameters":{"integration.request.header.X":"nonsense"}"#,
                "errors : [Invalid mapping expression specified: nonsense]",
            ),
        ] {
            let m = msg(&proxy(extra));
            assert!(m.contains(why), "{extra}: {m}");
        }
        // Every passthrough behavior is served for MOCK (templates chosen by Content-Type).
        for p in ["WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER"] {
            put(&format!(r#"{{"type":"MOCK","passthroughBehavior":"{p}"}}"#)).unwrap();
        }
        // A template the engine cannot compile is refused with its position.
        let m = msg(r##"{"type":"MOCK","requestTemplates":{"application/json":"#set($a = )"}}"##);
        assert!(
            m.starts_with("Invalid mapping expression specified")
                && m.contains("line 1, column 11"),
            "{m}"
        );
        // https:// backends, with AWS's tlsConfig (HTTP and HTTP_PROXY only).
        let i = put(&format!(
            r#"{{"type":"HTTP_PROXY","httpMethod":"GET","uri":"https://x:8443/"{}}}"#,
            r#","tlsConfig":{"insecureSkipVerification":true}"#
        ))
        .unwrap();
        assert_eq!(
            i.tls_config,
            Some(TlsConfig {
                insecure_skip_verification: true
            })
        );
        let m = msg(r#"{"type":"HTTP_PROXY","httpMethod":"GET","uri":"https://a_b!/"}"#);
        assert!(m.contains("Invalid HTTP endpoint"), "{m}");
        put(r#"{"type":"HTTP_PROXY","httpMethod":"GET","uri":"https://${stageVariables.h}/"}"#)
            .unwrap();
        let m = msg(r#"{"type":"MOCK","tlsConfig":{"insecureSkipVerification":false}}"#);
        assert!(m.contains("only for HTTP and HTTP_PROXY"), "{m}");
        let mut i = put(&proxy("")).unwrap();
        apply_patch(
            &mut i,
            &op(
                Op::Replace,
                "/tlsConfig/insecureSkipVerification",
                Some("true"),
            ),
        )
        .unwrap();
        assert!(i.tls_config.is_some_and(|t| t.insecure_skip_verification));
        assert!(apply_patch(
            &mut i,
            &op(
                Op::Replace,
                "/tlsConfig/insecureSkipVerification",
                Some("maybe")
            )
        )
        .is_err());
        // The mappings the data plane applies are accepted.
        put(&proxy(
            r#","requestParameters":{"integration.request.header.X-A":"'v'","integration.request.header.X-B":"stageVariables.b","integration.request.header.X-C":"method.request.header.c","integration.request.header.X-D":"method.request.querystring.d","integration.request.path.id":"method.request.path.id"},"cacheKeyParameters":["method.request.path.id"],"tlsConfig":{}"#,
        ))
        .unwrap();
        // Patching a served integration into an unserved one is refused as a whole.
        let mut i = put(&proxy("")).unwrap();
        apply_patch(&mut i, &op(Op::Replace, "/type", Some("AWS_PROXY"))).unwrap();
        assert!(check_integration(&i).is_err());
    }

    /// A literal header mapping with CR/LF would reach the backend raw and desynchronise the
    /// shared backend connection pool: refused, as is every header name that is no token.
    #[test]
    fn header_mappings_with_line_breaks_are_refused() {
        let bad = [
            r#"{"integration.request.header.X-A":"'a\r\n\r\nGET /smuggled HTTP/1.1'"}"#,
            r#"{"integration.request.header.X-A":"'a\u0000b'"}"#,
            r#"{"integration.request.header.X A":"'a'"}"#,
            r#"{"integration.request.header.X\r\nB":"'a'"}"#,
        ];
        for params in bad {
            let j = format!(
                r#"{{"type":"HTTP_PROXY","httpMethod":"GET","uri":"http://x/","requestParameters":{params}}}"#
            );
            let e = put(&j).unwrap_err();
            assert_eq!(
                (e.status, e.error_type),
                (400, "BadRequestException"),
                "{params}"
            );
        }
        let mut i = put(r#"{"type":"HTTP_PROXY","httpMethod":"GET","uri":"http://x/"}"#).unwrap();
        apply_patch(
            &mut i,
            &op(
                Op::Add,
                "/requestParameters/integration.request.header.X",
                Some("'a\nb'"),
            ),
        )
        .unwrap();
        assert!(check_integration(&i).is_err());
        let mut r = IntegrationResponse {
            status_code: "200".into(),
            ..Default::default()
        };
        r.response_parameters
            .insert("method.response.header.X".into(), "'a\r\nb'".into());
        assert!(check_response(&r).is_err());
        r.response_parameters.clear();
        r.response_templates
            .insert("text/plain\r\nX: y".into(), "hi".into());
        assert!(check_response(&r).is_err());
        r.response_templates.clear();
        // Content handling is served (HTTP and MOCK carry integration responses).
        r.content_handling = Some("CONVERT_TO_TEXT".into());
        check_response(&r).unwrap();
        r.content_handling = Some("CONVERT_TO_BASE64".into());
        assert!(check_response(&r).is_err());
        r.content_handling = None;
        r.response_parameters.insert(
            "method.response.header.X".into(),
            "integration.response.header.Y".into(),
        );
        // Read from the backend's answer: applied by HTTP integrations only.
        check_response(&r).unwrap();
        check_response_for(IntegrationType::Http, &r).unwrap();
        let e = check_response_for(IntegrationType::Mock, &r).unwrap_err();
        assert!(
            e.message.contains("HTTP integrations only"),
            "{}",
            e.message
        );
    }

    /// Every request parameter source AWS allows into every target the data plane applies.
    #[test]
    fn request_mapping_sources_and_targets() {
        for target in [
            "integration.request.header.X-A",
            "integration.request.querystring.q",
            "integration.request.path.p",
        ] {
            for source in [
                "'static'",
                "stageVariables.v",
                "method.request.path.id",
                "method.request.querystring.q",
                "method.request.multivaluequerystring.q",
                "method.request.header.X-In",
                "method.request.multivalueheader.X-In",
                "context.requestId",
                "context.identity.sourceIp",
                "context.identity.caller",
                "context.authorizer.principalId",
            ] {
                check_request_mapping(target, source)
                    .unwrap_or_else(|e| panic!("{target} = {source}: {}", e.message));
            }
        }
    }

    /// Every response mapping source AWS allows is accepted (and applied by HTTP
    /// integrations); malformed ones are refused with AWS's message.
    #[test]
    fn response_mapping_sources() {
        let check = |source: &str| {
            let r = IntegrationResponse {
                status_code: "200".into(),
                response_parameters: [("method.response.header.X".to_string(), source.to_string())]
                    .into(),
                ..Default::default()
            };
            check_response(&r).map_err(|e| e.message)
        };
        for ok in [
            "'static'",
            "stageVariables.v",
            "integration.response.header.X-B",
            "integration.response.multivalueheader.X-B",
            "integration.response.body",
            "integration.response.body.a.b[0].c",
            "context.requestId",
            "context.identity.sourceIp",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            (
                "integration.response.body.a[x]",
                "errors : [Invalid mapping expression specified: integration.response.body.a[x]]",
            ),
            (
                "integration.response.header.",
                "errors : [Invalid mapping expression specified",
            ),
            (
                "method.request.header.X",
                "errors : [Invalid mapping expression specified",
            ),
            (
                "nonsense",
                "errors : [Invalid mapping expression specified: nonsense]",
            ),
            ("context.wafResponseCode", "not supported by this gateway"),
        ] {
            let m = check(bad).unwrap_err();
            assert!(m.contains(why), "{bad}: {m}");
        }
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
        // UpdateIntegrationResponse runs the same check: a patched-in template that does not
        // compile is refused.
        r.response_parameters.clear();
        apply_response_patch(
            &mut r,
            &op(
                Op::Add,
                "/responseTemplates/application~1json",
                Some("#foreach($x in $input.path('$.a'))"),
            ),
        )
        .unwrap();
        let e = check_response(&r).unwrap_err();
        assert!(e.message.contains("#foreach without #end"), "{}", e.message);
    }
}

#[cfg(test)]
mod identity_mapping_tests {
    use super::check_request_mapping;

    /// The `AWS_IAM` caller's identity and the context values the gateway knows can be sent
    /// to the backend; other context values are not applied, so they are refused.
    #[test]
    fn identity_fields_map_to_headers() {
        let h = "integration.request.header.x-caller";
        for f in ["accessKey", "accountId", "caller", "user", "userArn"] {
            check_request_mapping(h, &format!("context.identity.{f}")).unwrap();
        }
        assert!(check_request_mapping(h, "context.identity.cognitoIdentityId").is_err());
        check_request_mapping(h, "context.requestId").unwrap();
        check_request_mapping(h, "context.authorizer.principalId").unwrap();
        check_request_mapping(h, "context.authorizer.tier").unwrap();
        assert!(check_request_mapping(h, "context.authorizer.").is_err());
        check_request_mapping("integration.request.path.p", "context.identity.user").unwrap();
    }
}
