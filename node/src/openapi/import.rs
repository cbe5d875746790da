//! A Swagger 2.0 or OpenAPI 3.0 document (as a JSON value) read into an API definition.
//!
//! Paths become resources (one per segment, `{proxy+}` included), operations methods
//! (`x-amazon-apigateway-any-method` is `ANY`), parameters method request parameters, body and
//! response schemas models (by name, from `definitions` or `components.schemas`; `$ref`s become
//! model URLs), `apiKey` security schemes on the `x-api-key` header `apiKeyRequired`, and API
//! Gateway's extensions their settings. What API Gateway would warn about is collected in
//! [`Definition::warnings`]; what makes the document unreadable is a [`DocError`] naming where.
//! Integrations are handed on as PutIntegration bodies, so the admin layer builds and checks
//! them exactly as PutIntegration does.

use super::DocError;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use tollgate_proto::model::{
    model_url, AuthorizationType, IntegrationResponse, Method, MethodResponse,
};

/// What `basepath=` asks of a Swagger `basePath` (or an OpenAPI server URL's path).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BasePath {
    /// Leave it out of the resource paths (AWS's default).
    #[default]
    Ignore,
    /// Put it in front of every path.
    Prepend,
    /// Drop its first segment (taken as a stage name) and put the rest in front.
    Split,
}

impl BasePath {
    /// Reads the `basepath` parameter.
    pub fn parse(s: &str) -> Option<BasePath> {
        Some(match s {
            "ignore" => BasePath::Ignore,
            "prepend" => BasePath::Prepend,
            "split" => BasePath::Split,
            _ => return None,
        })
    }
}

/// The import's parameters.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `basepath=`.
    pub basepath: BasePath,
    /// `ignore=documentation`: documentation parts are left out without a warning.
    pub ignore_documentation: bool,
}

/// One operation: its method (the request validator named by its name, not yet an id), its
/// integration as a PutIntegration body, and its integration responses.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// The method, without its integration.
    pub method: Method,
    /// `x-amazon-apigateway-integration` as a PutIntegration request body.
    pub integration: Option<Value>,
    /// The integration's responses (status code and selection pattern set).
    pub integration_responses: Vec<IntegrationResponse>,
    /// Where it is in the document (`paths.'/pets'.get`).
    pub location: String,
}

/// A model: its schema (JSON text, draft 4 with `$ref`s as model URLs) and description.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDef {
    /// The JSON Schema text.
    pub schema: String,
    /// Its description.
    pub description: Option<String>,
}

/// A gateway response as the document sets it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayResponseDef {
    /// `statusCode`.
    pub status_code: Option<String>,
    /// `responseParameters`.
    pub response_parameters: BTreeMap<String, String>,
    /// `responseTemplates`.
    pub response_templates: BTreeMap<String, String>,
}

/// An API definition read from a document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Definition {
    /// `info.title`.
    pub name: String,
    /// `info.description`.
    pub description: Option<String>,
    /// `info.version`.
    pub version: Option<String>,
    /// `x-amazon-apigateway-api-key-source`.
    pub api_key_source: Option<String>,
    /// `x-amazon-apigateway-binary-media-types`.
    pub binary_media_types: Vec<String>,
    /// `x-amazon-apigateway-minimum-compression-size`.
    pub minimum_compression_size: Option<i64>,
    /// `x-amazon-apigateway-endpoint-configuration.types`.
    pub endpoint_types: Option<Vec<String>>,
    /// `x-amazon-apigateway-endpoint-configuration.disableExecuteApiEndpoint`.
    pub disable_execute_api_endpoint: Option<bool>,
    /// `x-amazon-apigateway-policy`, as JSON text.
    pub policy: Option<String>,
    /// Tags from `tags[].x-amazon-apigateway-tag-value`.
    pub tags: BTreeMap<String, String>,
    /// Resource path (`/pets/{petId}`, after the base path rule) → verb → operation.
    pub paths: BTreeMap<String, BTreeMap<String, Operation>>,
    /// Models by name.
    pub models: BTreeMap<String, ModelDef>,
    /// `x-amazon-apigateway-request-validators`: name → (body, parameters).
    pub validators: BTreeMap<String, (bool, bool)>,
    /// `x-amazon-apigateway-gateway-responses`, by type name.
    pub gateway_responses: BTreeMap<String, GatewayResponseDef>,
    /// Authorizers (`x-amazon-apigateway-authorizer` security schemes), by scheme name.
    pub authorizers: BTreeMap<String, AuthorizerDef>,
    /// What was left out or changed, as API Gateway words its import warnings.
    pub warnings: Vec<String>,
}

/// The document's flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `swagger: "2.0"`.
    Swagger2,
    /// `openapi: "3.0.x"` (3.1 is read the same way).
    OpenApi3,
}

const VERBS: [(&str, &str); 8] = [
    ("get", "GET"),
    ("put", "PUT"),
    ("post", "POST"),
    ("delete", "DELETE"),
    ("options", "OPTIONS"),
    ("head", "HEAD"),
    ("patch", "PATCH"),
    ("x-amazon-apigateway-any-method", "ANY"),
];

/// Extensions this gateway reads; any other `x-amazon-apigateway-*` is warned about.
const KNOWN_TOP: [&str; 10] = [
    "x-amazon-apigateway-api-key-source",
    "x-amazon-apigateway-binary-media-types",
    "x-amazon-apigateway-documentation",
    "x-amazon-apigateway-endpoint-configuration",
    "x-amazon-apigateway-gateway-responses",
    "x-amazon-apigateway-minimum-compression-size",
    "x-amazon-apigateway-policy",
    "x-amazon-apigateway-request-validator",
    "x-amazon-apigateway-request-validators",
    "x-amazon-apigateway-importexport-version",
];

fn quote(path: &str) -> String {
    format!("paths.'{path}'")
}

fn as_str<'a>(v: &'a Value, loc: &str) -> Result<&'a str, DocError> {
    v.as_str()
        .ok_or_else(|| DocError::at(loc, "must be a string"))
}

fn as_obj<'a>(v: &'a Value, loc: &str) -> Result<&'a Map<String, Value>, DocError> {
    v.as_object()
        .ok_or_else(|| DocError::at(loc, "must be an object"))
}

fn opt_obj<'a>(
    parent: &'a Map<String, Value>,
    key: &str,
    loc: &str,
) -> Result<Option<&'a Map<String, Value>>, DocError> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_obj(v, &format!("{loc}.{key}")).map(Some),
    }
}

fn opt_str(parent: &Map<String, Value>, key: &str, loc: &str) -> Result<Option<String>, DocError> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_str(v, &format!("{loc}.{key}")).map(|s| Some(s.to_string())),
    }
}

fn string_map(v: Option<&Value>, loc: &str) -> Result<BTreeMap<String, String>, DocError> {
    let mut out = BTreeMap::new();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(out);
    };
    for (k, x) in as_obj(v, loc)? {
        out.insert(k.clone(), as_str(x, &format!("{loc}.{k}"))?.to_string());
    }
    Ok(out)
}

/// Which flavour a document is, or why it is neither.
pub fn flavour(doc: &Value) -> Result<Flavour, DocError> {
    if let Some(v) = doc.get("swagger") {
        return match v.as_str() {
            Some("2.0") => Ok(Flavour::Swagger2),
            _ => Err(DocError::at("swagger", "Only Swagger 2.0 is supported")),
        };
    }
    if let Some(v) = doc.get("openapi") {
        return match v.as_str() {
            Some(s) if s.starts_with("3.") => Ok(Flavour::OpenApi3),
            _ => Err(DocError::at("openapi", "Only OpenAPI 3.x is supported")),
        };
    }
    Err(DocError::at(
        "",
        "The document is neither Swagger 2.0 (a \"swagger\" member) nor OpenAPI 3 (an \"openapi\" member)",
    ))
}

/// Reads `doc` into a definition for API `api_id` (whose model URLs the schemas' `$ref`s
/// become).
pub fn import(doc: &Value, opts: &Options, api_id: &str) -> Result<Definition, DocError> {
    let flavour = flavour(doc)?;
    let root = as_obj(doc, "")?;
    let mut d = Definition::default();
    let info = opt_obj(root, "info", "")?.ok_or_else(|| DocError::at("info", "is required"))?;
    d.name = opt_str(info, "title", "info")?
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| DocError::at("info.title", "is required"))?;
    d.description = opt_str(info, "description", "info")?.filter(|s| !s.is_empty());
    d.version = match info.get("version") {
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => opt_str(info, "version", "info")?,
    };
    settings(root, opts, &mut d)?;
    // Models first: operations refer to them.
    let schemas = match flavour {
        Flavour::Swagger2 => opt_obj(root, "definitions", "")?,
        Flavour::OpenApi3 => match opt_obj(root, "components", "")? {
            Some(c) => opt_obj(c, "schemas", "components")?,
            None => None,
        },
    };
    let schema_loc = match flavour {
        Flavour::Swagger2 => "definitions",
        Flavour::OpenApi3 => "components.schemas",
    };
    if let Some(schemas) = schemas {
        for (name, schema) in schemas {
            let loc = format!("{schema_loc}.{name}");
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                d.warnings.push(format!(
                    "Unable to create model '{name}': Model name must be non-empty and alphanumeric ({loc})"
                ));
                continue;
            }
            let schema = model_schema(schema, api_id, &loc)?;
            d.models.insert(
                name.clone(),
                ModelDef {
                    description: schema
                        .get("description")
                        .and_then(Value::as_str)
                        .map(String::from),
                    schema: serde_json::to_string_pretty(&schema).unwrap_or_default(),
                },
            );
        }
    }
    let security = Security::read(root, flavour, &mut d.warnings)?;
    d.authorizers = security.authorizers.clone();
    let default_validator = opt_str(root, "x-amazon-apigateway-request-validator", "")?;
    let base = base_path(root, flavour, opts.basepath)?;
    let paths = opt_obj(root, "paths", "")?.ok_or_else(|| DocError::at("paths", "is required"))?;
    for (path, item) in paths {
        let loc = quote(path);
        if !path.starts_with('/') {
            return Err(DocError::at(loc, "A path must start with '/'"));
        }
        let item = as_obj(item, &loc)?;
        let full = join_path(&base, path);
        check_path(&full, &loc)?;
        let shared_params = item.get("parameters");
        let ops = d.paths.entry(full.clone()).or_default();
        for (key, value) in item {
            let verb = VERBS.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
            let Some(verb) = verb else {
                if key != "parameters"
                    && key != "summary"
                    && key != "description"
                    && key != "servers"
                    && !key.starts_with("x-")
                    || key.starts_with("x-amazon-apigateway")
                {
                    d.warnings.push(format!(
                        "Ignoring '{key}' at {loc}: not an operation API Gateway imports"
                    ));
                }
                continue;
            };
            let op_loc = format!("{loc}.{key}");
            let ctx = OpContext {
                flavour,
                api_id,
                root,
                security: &security,
                default_validator: default_validator.as_deref(),
                models: &mut d.models,
                warnings: &mut d.warnings,
            };
            let op = operation(ctx, verb, as_obj(value, &op_loc)?, shared_params, &op_loc)?;
            ops.insert(verb.to_string(), op);
        }
    }
    if d.paths.is_empty() {
        d.warnings
            .push("The document defines no paths: the API has no methods".into());
    }
    Ok(d)
}

/// The top-level extensions.
fn settings(root: &Map<String, Value>, opts: &Options, d: &mut Definition) -> Result<(), DocError> {
    for key in root.keys().filter(|k| k.starts_with("x-amazon-apigateway")) {
        if !KNOWN_TOP.contains(&key.as_str()) {
            d.warnings.push(format!(
                "Ignoring '{key}': an extension this gateway does not import"
            ));
        }
    }
    d.api_key_source = opt_str(root, "x-amazon-apigateway-api-key-source", "")?;
    if let Some(v) = root.get("x-amazon-apigateway-binary-media-types") {
        let loc = "x-amazon-apigateway-binary-media-types";
        let list = v
            .as_array()
            .ok_or_else(|| DocError::at(loc, "must be a list"))?;
        for (i, t) in list.iter().enumerate() {
            d.binary_media_types
                .push(as_str(t, &format!("{loc}[{i}]"))?.to_string());
        }
    }
    if let Some(v) = root.get("x-amazon-apigateway-minimum-compression-size") {
        d.minimum_compression_size = Some(v.as_i64().ok_or_else(|| {
            DocError::at(
                "x-amazon-apigateway-minimum-compression-size",
                "must be an integer",
            )
        })?);
    }
    if let Some(e) = opt_obj(root, "x-amazon-apigateway-endpoint-configuration", "")? {
        let loc = "x-amazon-apigateway-endpoint-configuration";
        if let Some(types) = e.get("types") {
            let list = types
                .as_array()
                .ok_or_else(|| DocError::at(format!("{loc}.types"), "must be a list"))?;
            let mut out = Vec::new();
            for (i, t) in list.iter().enumerate() {
                out.push(as_str(t, &format!("{loc}.types[{i}]"))?.to_string());
            }
            d.endpoint_types = Some(out);
        }
        if let Some(b) = e.get("disableExecuteApiEndpoint") {
            d.disable_execute_api_endpoint = Some(b.as_bool().ok_or_else(|| {
                DocError::at(
                    format!("{loc}.disableExecuteApiEndpoint"),
                    "must be a boolean",
                )
            })?);
        }
        if e.contains_key("vpcEndpointIds") {
            d.warnings.push(format!(
                "Ignoring {loc}.vpcEndpointIds: VPC endpoints are not supported by this gateway"
            ));
        }
    }
    if let Some(p) = root.get("x-amazon-apigateway-policy") {
        d.policy = Some(match p {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    }
    if let Some(tags) = root.get("tags").and_then(Value::as_array) {
        for (i, t) in tags.iter().enumerate() {
            let loc = format!("tags[{i}]");
            let Some(t) = t.as_object() else { continue };
            if let Some(v) = t.get("x-amazon-apigateway-tag-value") {
                let name = opt_str(t, "name", &loc)?
                    .ok_or_else(|| DocError::at(format!("{loc}.name"), "is required"))?;
                d.tags.insert(
                    name,
                    as_str(v, &format!("{loc}.x-amazon-apigateway-tag-value"))?.to_string(),
                );
            }
        }
    }
    if let Some(vs) = opt_obj(root, "x-amazon-apigateway-request-validators", "")? {
        for (name, v) in vs {
            let loc = format!("x-amazon-apigateway-request-validators.{name}");
            let v = as_obj(v, &loc)?;
            let flag = |k: &str| -> Result<bool, DocError> {
                match v.get(k) {
                    None => Ok(false),
                    Some(b) => b
                        .as_bool()
                        .ok_or_else(|| DocError::at(format!("{loc}.{k}"), "must be a boolean")),
                }
            };
            d.validators.insert(
                name.clone(),
                (
                    flag("validateRequestBody")?,
                    flag("validateRequestParameters")?,
                ),
            );
        }
    }
    if let Some(grs) = opt_obj(root, "x-amazon-apigateway-gateway-responses", "")? {
        for (t, r) in grs {
            let loc = format!("x-amazon-apigateway-gateway-responses.{t}");
            let r = as_obj(r, &loc)?;
            let status_code = match r.get("statusCode") {
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => opt_str(r, "statusCode", &loc)?,
            };
            d.gateway_responses.insert(
                t.clone(),
                GatewayResponseDef {
                    status_code,
                    response_parameters: string_map(
                        r.get("responseParameters"),
                        &format!("{loc}.responseParameters"),
                    )?,
                    response_templates: string_map(
                        r.get("responseTemplates"),
                        &format!("{loc}.responseTemplates"),
                    )?,
                },
            );
        }
    }
    if root.contains_key("x-amazon-apigateway-documentation") && !opts.ignore_documentation {
        d.warnings.push(
            "Ignoring x-amazon-apigateway-documentation: documentation parts are not supported by this gateway (import with ignore=documentation to leave them out silently)".into(),
        );
    }
    Ok(())
}

/// The base path the `basepath` rule puts in front of every path ("" for none).
fn base_path(
    root: &Map<String, Value>,
    flavour: Flavour,
    rule: BasePath,
) -> Result<String, DocError> {
    if rule == BasePath::Ignore {
        return Ok(String::new());
    }
    let raw = match flavour {
        Flavour::Swagger2 => opt_str(root, "basePath", "")?.unwrap_or_default(),
        Flavour::OpenApi3 => server_path(root)?,
    };
    let segs: Vec<&str> = raw.split('/').filter(|s| !s.is_empty()).collect();
    let kept = match rule {
        BasePath::Split => segs.get(1..).unwrap_or(&[]),
        _ => &segs[..],
    };
    Ok(kept.iter().map(|s| format!("/{s}")).collect())
}

/// The path of an OpenAPI document's first server URL, its `{basePath}`-style variables
/// replaced by their defaults.
fn server_path(root: &Map<String, Value>) -> Result<String, DocError> {
    let Some(server) = root
        .get("servers")
        .and_then(Value::as_array)
        .and_then(|s| s.first())
        .and_then(Value::as_object)
    else {
        return Ok(String::new());
    };
    let mut url = opt_str(server, "url", "servers[0]")?.unwrap_or_default();
    if let Some(vars) = server.get("variables").and_then(Value::as_object) {
        for (name, var) in vars {
            let default = var.get("default").and_then(Value::as_str).unwrap_or("");
            url = url.replace(&format!("{{{name}}}"), default);
        }
    }
    let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let path = if url.contains("://") {
        after_scheme.find('/').map_or("", |i| &after_scheme[i..])
    } else {
        after_scheme
    };
    Ok(path.to_string())
}

fn join_path(base: &str, path: &str) -> String {
    let joined = format!("{base}{path}");
    let trimmed = joined.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.to_string()
    }
}

/// A path's segments as resource path parts: the characters CreateResource allows, variables
/// whole, `{x+}` only last.
fn check_path(path: &str, loc: &str) -> Result<(), DocError> {
    let segs: Vec<&str> = path.split('/').skip(1).filter(|s| !s.is_empty()).collect();
    if path != "/" && path[1..].split('/').any(str::is_empty) {
        return Err(DocError::at(loc, "A path must not hold an empty segment"));
    }
    for (i, seg) in segs.iter().enumerate() {
        let inner = match seg.strip_prefix('{') {
            Some(rest) => {
                let rest = rest
                    .strip_suffix('}')
                    .ok_or_else(|| DocError::at(loc, format!("Invalid path part: {seg}")))?;
                match rest.strip_suffix('+') {
                    Some(greedy) if i + 1 != segs.len() => {
                        return Err(DocError::at(
                            loc,
                            format!(
                            "A greedy path variable {{{greedy}+}} can only be the last path part"
                        ),
                        ))
                    }
                    Some(greedy) => greedy,
                    None => rest,
                }
            }
            None => seg,
        };
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
        {
            return Err(DocError::at(
                loc,
                format!("Invalid path part: {seg}: only a-zA-Z0-9._- and curly braces around a variable are allowed"),
            ));
        }
    }
    Ok(())
}

/// A schema as a model's: `$ref`s to the document's schemas become model URLs, and the
/// draft 4 `$schema` is stated.
fn model_schema(schema: &Value, api_id: &str, loc: &str) -> Result<Value, DocError> {
    let mut s = schema.clone();
    rewrite_refs(&mut s, api_id, loc)?;
    if let Value::Object(o) = &mut s {
        o.entry("$schema")
            .or_insert_with(|| json!("http://json-schema.org/draft-04/schema#"));
        // OpenAPI's own keywords that JSON Schema draft 4 does not know.
        o.remove("example");
    }
    Ok(s)
}

fn ref_name(r: &str) -> Option<&str> {
    r.strip_prefix("#/definitions/")
        .or_else(|| r.strip_prefix("#/components/schemas/"))
}

fn rewrite_refs(v: &mut Value, api_id: &str, loc: &str) -> Result<(), DocError> {
    // The document's depth is bounded (document::MAX_DEPTH), so this recursion is too.
    match v {
        Value::Object(o) => {
            if let Some(r) = o.get_mut("$ref") {
                let text = r.as_str().unwrap_or("");
                let name = ref_name(text).ok_or_else(|| {
                    DocError::at(
                        loc,
                        format!("Unsupported $ref {text}: only references to the document's own schemas are imported"),
                    )
                })?;
                *r = Value::String(model_url(api_id, name));
            }
            for x in o.values_mut() {
                rewrite_refs(x, api_id, loc)?;
            }
        }
        Value::Array(a) => {
            for x in a {
                rewrite_refs(x, api_id, loc)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A security scheme's `x-amazon-apigateway-authorizer`, as written (checked by the admin
/// layer as CreateAuthorizer checks one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthorizerDef {
    /// `type`: `token` (the default), `request` or `cognito_user_pools`, any case.
    pub kind: String,
    /// `authorizerUri`.
    pub authorizer_uri: Option<String>,
    /// `authorizerCredentials`.
    pub authorizer_credentials: Option<String>,
    /// `identitySource`; for a `token` authorizer without one, the scheme's header
    /// (`method.request.header.{name}`).
    pub identity_source: Option<String>,
    /// `identityValidationExpression`.
    pub identity_validation_expression: Option<String>,
    /// `authorizerResultTtlInSeconds`.
    pub result_ttl_seconds: Option<i64>,
    /// `providerARNs`.
    pub provider_arns: Vec<String>,
    /// The scheme's `x-amazon-apigateway-authtype`, as written.
    pub auth_type: Option<String>,
}

/// The members of `x-amazon-apigateway-authorizer` this gateway reads.
const AUTHORIZER_KEYS: [&str; 7] = [
    "type",
    "authorizerUri",
    "authorizerCredentials",
    "identitySource",
    "identityValidationExpression",
    "authorizerResultTtlInSeconds",
    "providerARNs",
];

fn authorizer_def(
    scheme: &Map<String, Value>,
    a: &Value,
    auth_type: Option<String>,
    loc: &str,
    warnings: &mut Vec<String>,
) -> Result<AuthorizerDef, DocError> {
    let aloc = format!("{loc}.x-amazon-apigateway-authorizer");
    let a = as_obj(a, &aloc)?;
    for key in a.keys().filter(|k| !AUTHORIZER_KEYS.contains(&k.as_str())) {
        warnings.push(format!(
            "Ignoring '{key}' of {aloc}: not a REST API authorizer setting"
        ));
    }
    let kind = opt_str(a, "type", &aloc)?.unwrap_or_else(|| "token".into());
    let ttl = match a.get("authorizerResultTtlInSeconds") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| {
            DocError::at(
                format!("{aloc}.authorizerResultTtlInSeconds"),
                "must be an integer",
            )
        })?),
    };
    let provider_arns = match a.get("providerARNs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(arns)) => arns
            .iter()
            .map(|v| {
                v.as_str().map(String::from).ok_or_else(|| {
                    DocError::at(format!("{aloc}.providerARNs"), "must be a list of strings")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(DocError::at(
                format!("{aloc}.providerARNs"),
                "must be a list of strings",
            ))
        }
    };
    let mut identity_source = opt_str(a, "identitySource", &aloc)?;
    if identity_source.is_none()
        && (kind.eq_ignore_ascii_case("token") || kind.eq_ignore_ascii_case("cognito_user_pools"))
    {
        // A TOKEN or Cognito authorizer reads the header the scheme names.
        if scheme.get("in").and_then(Value::as_str) == Some("header") {
            identity_source =
                opt_str(scheme, "name", loc)?.map(|h| format!("method.request.header.{h}"));
        }
    }
    Ok(AuthorizerDef {
        kind,
        authorizer_uri: opt_str(a, "authorizerUri", &aloc)?,
        authorizer_credentials: opt_str(a, "authorizerCredentials", &aloc)?,
        identity_source,
        identity_validation_expression: opt_str(a, "identityValidationExpression", &aloc)?,
        result_ttl_seconds: ttl,
        provider_arns,
        auth_type,
    })
}

/// What a security scheme means to a method.
#[derive(Debug, Clone, PartialEq)]
enum Scheme {
    /// `apiKey` in the `x-api-key` header: `apiKeyRequired`.
    ApiKey,
    /// `x-amazon-apigateway-authtype: awsSigv4`: `AWS_IAM`.
    Iam,
    /// A Lambda or Cognito authorizer: the authorization type it asks for.
    Authorizer(AuthorizationType),
    /// Something API Gateway does not map (oauth2, basic…).
    Other(String),
}

struct Security {
    schemes: BTreeMap<String, Scheme>,
    /// The schemes that define authorizers.
    authorizers: BTreeMap<String, AuthorizerDef>,
    /// The document's default `security`.
    default: Option<Value>,
}

impl Security {
    fn read(
        root: &Map<String, Value>,
        flavour: Flavour,
        warnings: &mut Vec<String>,
    ) -> Result<Security, DocError> {
        let (defs, loc) = match flavour {
            Flavour::Swagger2 => (
                opt_obj(root, "securityDefinitions", "")?,
                "securityDefinitions".to_string(),
            ),
            Flavour::OpenApi3 => (
                match opt_obj(root, "components", "")? {
                    Some(c) => opt_obj(c, "securitySchemes", "components")?,
                    None => None,
                },
                "components.securitySchemes".to_string(),
            ),
        };
        let mut schemes = BTreeMap::new();
        let mut authorizers = BTreeMap::new();
        for (name, s) in defs.into_iter().flatten() {
            let sloc = format!("{loc}.{name}");
            let s = as_obj(s, &sloc)?;
            let kind = opt_str(s, "type", &sloc)?.unwrap_or_default();
            let written_authtype = opt_str(s, "x-amazon-apigateway-authtype", &sloc)?;
            let authtype = written_authtype.as_deref().map(str::to_ascii_lowercase);
            let authorizer = s.get("x-amazon-apigateway-authorizer");
            let scheme = if authtype.as_deref() == Some("awssigv4") {
                Scheme::Iam
            } else if let Some(a) = authorizer {
                let def = authorizer_def(s, a, written_authtype.clone(), &sloc, warnings)?;
                let t = if def.kind.eq_ignore_ascii_case("cognito_user_pools") {
                    AuthorizationType::CognitoUserPools
                } else {
                    AuthorizationType::Custom
                };
                authorizers.insert(name.clone(), def);
                Scheme::Authorizer(t)
            } else if authtype.as_deref().is_some_and(|a| a.contains("cognito")) {
                Scheme::Authorizer(AuthorizationType::CognitoUserPools)
            } else if authtype.as_deref() == Some("custom") {
                // A Lambda authorizer's scheme without its definition (an export without
                // `extensions=authorizers`): no authorizer is made, so the methods that use it
                // are left out rather than imported unprotected.
                warnings.push(format!(
                    "Security scheme '{name}' ({sloc}) has x-amazon-apigateway-authtype custom but no x-amazon-apigateway-authorizer: the methods that use it are not imported"
                ));
                Scheme::Authorizer(AuthorizationType::Custom)
            } else if kind == "apiKey"
                && s.get("in").and_then(Value::as_str) == Some("header")
                && s.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case("x-api-key"))
            {
                Scheme::ApiKey
            } else {
                Scheme::Other(kind)
            };
            if let Scheme::Other(kind) = &scheme {
                warnings.push(format!(
                    "Ignoring security scheme '{name}' of type '{kind}' ({sloc}): only apiKey on the x-api-key header, awsSigv4 and API Gateway authorizers are imported"
                ));
            }
            schemes.insert(name.clone(), scheme);
        }
        Ok(Security {
            schemes,
            authorizers,
            default: root.get("security").cloned(),
        })
    }
}

struct OpContext<'a> {
    flavour: Flavour,
    api_id: &'a str,
    root: &'a Map<String, Value>,
    security: &'a Security,
    default_validator: Option<&'a str>,
    models: &'a mut BTreeMap<String, ModelDef>,
    warnings: &'a mut Vec<String>,
}

impl OpContext<'_> {
    /// The model for a body or response schema: the named schema a `$ref` points at, or a
    /// model made from an inline schema (named `hint`, made unique).
    fn model_for(
        &mut self,
        schema: &Value,
        hint: &str,
        loc: &str,
    ) -> Result<Option<String>, DocError> {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = ref_name(r).ok_or_else(|| {
                DocError::at(loc, format!("Unsupported $ref {r}: only references to the document's own schemas are imported"))
            })?;
            if self.models.contains_key(name) {
                return Ok(Some(name.to_string()));
            }
            self.warnings.push(format!(
                "Ignoring the model of {loc}: schema '{name}' is not imported"
            ));
            return Ok(None);
        }
        if schema.as_object().is_none_or(|o| o.is_empty()) {
            return Ok(None);
        }
        let base: String = hint.chars().filter(char::is_ascii_alphanumeric).collect();
        let base = if base.is_empty() {
            "Model".to_string()
        } else {
            base
        };
        let mut name = base.clone();
        let mut n = 1;
        while self.models.contains_key(&name) {
            n += 1;
            name = format!("{base}{n}");
        }
        let schema = model_schema(schema, self.api_id, loc)?;
        self.models.insert(
            name.clone(),
            ModelDef {
                schema: serde_json::to_string_pretty(&schema).unwrap_or_default(),
                description: None,
            },
        );
        Ok(Some(name))
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// Resolves a parameter or response `$ref` (`#/parameters/x`, `#/components/parameters/x`,
/// `#/responses/x`, `#/components/responses/x`).
fn resolve<'a>(
    root: &'a Map<String, Value>,
    v: &'a Value,
    loc: &str,
) -> Result<&'a Value, DocError> {
    let Some(r) = v.get("$ref").and_then(Value::as_str) else {
        return Ok(v);
    };
    let path = r
        .strip_prefix("#/")
        .ok_or_else(|| DocError::at(loc, format!("Unsupported $ref {r}")))?;
    let mut cur: Option<&Value> = None;
    for (i, seg) in path.split('/').enumerate() {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        cur = match (i, cur) {
            (0, _) => root.get(&seg),
            (_, Some(c)) => c.get(&seg),
            (_, None) => None,
        };
    }
    cur.ok_or_else(|| DocError::at(loc, format!("Unresolved $ref {r}")))
}

fn operation(
    mut ctx: OpContext<'_>,
    verb: &str,
    op: &Map<String, Value>,
    shared_params: Option<&Value>,
    loc: &str,
) -> Result<Operation, DocError> {
    let mut m = Method {
        http_method: verb.to_string(),
        operation_name: opt_str(op, "operationId", loc)?,
        ..Default::default()
    };
    // Inline schemas become models named after the operation (or its verb and path).
    let hint = m.operation_name.clone().unwrap_or_else(|| {
        let path = loc.split('\'').nth(1).unwrap_or("");
        let words: String = path
            .split(|c: char| !c.is_ascii_alphanumeric())
            .map(capitalised)
            .collect();
        format!("{}{words}", capitalised(&verb.to_ascii_lowercase()))
    });
    // Parameters: the path item's, then the operation's (which win).
    let mut params: Vec<(&Value, String)> = Vec::new();
    if let Some(p) = shared_params.and_then(Value::as_array) {
        params.extend(
            p.iter()
                .enumerate()
                .map(|(i, v)| (v, format!("{loc}..parameters[{i}]"))),
        );
    }
    if let Some(p) = op.get("parameters") {
        let list = p
            .as_array()
            .ok_or_else(|| DocError::at(format!("{loc}.parameters"), "must be a list"))?;
        params.extend(
            list.iter()
                .enumerate()
                .map(|(i, v)| (v, format!("{loc}.parameters[{i}]"))),
        );
    }
    let consumes = op
        .get("consumes")
        .or_else(|| ctx.root.get("consumes"))
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| vec!["application/json".to_string()]);
    for (p, ploc) in params {
        let p = as_obj(resolve(ctx.root, p, &ploc)?, &ploc)?;
        let name = opt_str(p, "name", &ploc)?
            .ok_or_else(|| DocError::at(format!("{ploc}.name"), "is required"))?;
        let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
        let place = opt_str(p, "in", &ploc)?.unwrap_or_default();
        let key = match place.as_str() {
            "path" => format!("method.request.path.{name}"),
            "query" => format!("method.request.querystring.{name}"),
            "header" => format!("method.request.header.{name}"),
            "body" => {
                if let Some(schema) = p.get("schema") {
                    if let Some(model) = ctx.model_for(schema, &format!("{hint}Body"), &ploc)? {
                        for ct in &consumes {
                            m.request_models.insert(ct.clone(), model.clone());
                        }
                    }
                }
                continue;
            }
            other => {
                ctx.warnings.push(format!(
                    "Ignoring parameter '{name}' in '{other}' ({ploc}): API Gateway maps path, query string and header parameters"
                ));
                continue;
            }
        };
        m.request_parameters
            .insert(key, required || place == "path");
    }
    if ctx.flavour == Flavour::OpenApi3 {
        if let Some(body) = op.get("requestBody") {
            let bloc = format!("{loc}.requestBody");
            let body = as_obj(resolve(ctx.root, body, &bloc)?, &bloc)?;
            if let Some(content) = opt_obj(body, "content", &bloc)? {
                for (ct, media) in content {
                    if let Some(schema) = media.get("schema") {
                        if let Some(model) = ctx.model_for(schema, &format!("{hint}Body"), &bloc)? {
                            m.request_models.insert(ct.clone(), model);
                        }
                    }
                }
            }
        }
    }
    // Responses.
    let produces = op
        .get("produces")
        .or_else(|| ctx.root.get("produces"))
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| vec!["application/json".to_string()]);
    if let Some(responses) = opt_obj(op, "responses", loc)? {
        for (code, r) in responses {
            let rloc = format!("{loc}.responses.{code}");
            if code == "default" {
                ctx.warnings.push(format!(
                    "Ignoring the default response of {loc}: method responses need a status code"
                ));
                continue;
            }
            let r = as_obj(resolve(ctx.root, r, &rloc)?, &rloc)?;
            let mut mr = MethodResponse {
                status_code: code.clone(),
                ..Default::default()
            };
            if let Some(headers) = opt_obj(r, "headers", &rloc)? {
                for h in headers.keys() {
                    mr.response_parameters
                        .insert(format!("method.response.header.{h}"), false);
                }
            }
            let hint = format!("{hint}{code}Response");
            match ctx.flavour {
                Flavour::Swagger2 => {
                    if let Some(schema) = r.get("schema") {
                        if let Some(model) = ctx.model_for(schema, &hint, &rloc)? {
                            for ct in &produces {
                                mr.response_models.insert(ct.clone(), model.clone());
                            }
                        }
                    }
                }
                Flavour::OpenApi3 => {
                    if let Some(content) = opt_obj(r, "content", &rloc)? {
                        for (ct, media) in content {
                            if let Some(schema) = media.get("schema") {
                                if let Some(model) = ctx.model_for(schema, &hint, &rloc)? {
                                    mr.response_models.insert(ct.clone(), model);
                                }
                            }
                        }
                    }
                }
            }
            m.method_responses.insert(code.clone(), Box::new(mr));
        }
    }
    // Security: the operation's, or the document's.
    let requirements = op.get("security").or(ctx.security.default.as_ref());
    if let Some(list) = requirements.and_then(Value::as_array) {
        for req in list.iter().filter_map(Value::as_object) {
            for (name, scopes) in req {
                match ctx.security.schemes.get(name) {
                    Some(Scheme::ApiKey) => m.api_key_required = true,
                    Some(Scheme::Iam) => m.authorization_type = AuthorizationType::AwsIam,
                    Some(Scheme::Authorizer(t)) => {
                        m.authorization_type = *t;
                        m.authorizer_id = Some(name.clone());
                        if let Some(s) = scopes.as_array() {
                            m.authorization_scopes = s
                                .iter()
                                .filter_map(Value::as_str)
                                .map(String::from)
                                .collect();
                        }
                    }
                    Some(Scheme::Other(_)) => {}
                    None => ctx.warnings.push(format!(
                        "Ignoring security requirement '{name}' of {loc}: no such security scheme"
                    )),
                }
            }
        }
    }
    if let Some(auth) = opt_obj(op, "x-amazon-apigateway-auth", loc)? {
        let t =
            opt_str(auth, "type", &format!("{loc}.x-amazon-apigateway-auth"))?.unwrap_or_default();
        m.authorization_type = AuthorizationType::parse_ignore_case(&t).ok_or_else(|| {
            DocError::at(
                format!("{loc}.x-amazon-apigateway-auth.type"),
                format!("Invalid authorization type specified: {t}"),
            )
        })?;
    }
    m.request_validator_id = opt_str(op, "x-amazon-apigateway-request-validator", loc)?
        .or_else(|| ctx.default_validator.map(String::from));
    for key in op.keys().filter(|k| k.starts_with("x-amazon-apigateway")) {
        if !matches!(
            key.as_str(),
            "x-amazon-apigateway-integration"
                | "x-amazon-apigateway-auth"
                | "x-amazon-apigateway-request-validator"
        ) {
            ctx.warnings.push(format!(
                "Ignoring '{key}' at {loc}: an extension this gateway does not import"
            ));
        }
    }
    let (integration, integration_responses) = match op.get("x-amazon-apigateway-integration") {
        None => (None, Vec::new()),
        Some(i) => {
            let iloc = format!("{loc}.x-amazon-apigateway-integration");
            integration(as_obj(i, &iloc)?, &iloc)?
        }
    };
    Ok(Operation {
        method: m,
        integration,
        integration_responses,
        location: loc.to_string(),
    })
}

/// `x-amazon-apigateway-integration` as a PutIntegration body (enum values upper-cased, as
/// the extension may spell them in lower case) and its responses.
fn integration(
    i: &Map<String, Value>,
    loc: &str,
) -> Result<(Option<Value>, Vec<IntegrationResponse>), DocError> {
    let mut body = Map::new();
    for (k, v) in i {
        match k.as_str() {
            "responses" => {}
            "type"
            | "passthroughBehavior"
            | "contentHandling"
            | "connectionType"
            | "httpMethod" => {
                body.insert(
                    k.clone(),
                    Value::String(as_str(v, &format!("{loc}.{k}"))?.to_ascii_uppercase()),
                );
            }
            _ => {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    let mut responses = Vec::new();
    if let Some(rs) = opt_obj(i, "responses", loc)? {
        for (pattern, r) in rs {
            let rloc = format!("{loc}.responses.{pattern}");
            let r = as_obj(r, &rloc)?;
            let status_code = match r.get("statusCode") {
                Some(Value::Number(n)) => n.to_string(),
                _ => opt_str(r, "statusCode", &rloc)?
                    .ok_or_else(|| DocError::at(format!("{rloc}.statusCode"), "is required"))?,
            };
            responses.push(IntegrationResponse {
                status_code,
                selection_pattern: (pattern != "default").then(|| pattern.clone()),
                response_parameters: string_map(
                    r.get("responseParameters"),
                    &format!("{rloc}.responseParameters"),
                )?,
                response_templates: string_map(
                    r.get("responseTemplates"),
                    &format!("{rloc}.responseTemplates"),
                )?,
                content_handling: opt_str(r, "contentHandling", &rloc)?
                    .map(|c| c.to_ascii_uppercase()),
                given_maps: Default::default(),
            });
        }
    }
    Ok((Some(Value::Object(body)), responses))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(doc: Value) -> Definition {
        import(&doc, &Options::default(), "a1").unwrap()
    }

    #[test]
    fn swagger_bodies_parameters_and_inline_schemas() {
        let d = read(json!({
            "swagger": "2.0", "info": {"title": "t", "version": 3},
            "consumes": ["application/json", "application/xml"],
            "paths": {"/pets/{petId}": {
                "parameters": [{"name": "petId", "in": "path", "type": "string"}],
                "put": {
                    "parameters": [
                        {"name": "X-Trace", "in": "header", "required": true, "type": "string"},
                        {"name": "file", "in": "formData", "type": "file"},
                        {"in": "body", "name": "pet", "schema": {"type": "object",
                            "properties": {"owner": {"$ref": "#/definitions/Owner"}}}}
                    ],
                    "responses": {"201": {"description": "made",
                        "headers": {"Location": {"type": "string"}},
                        "schema": {"$ref": "#/definitions/Owner"}},
                        "default": {"description": "error"}}
                }
            }},
            "definitions": {"Owner": {"type": "object", "example": {"a": 1}}, "bad-name": {}}
        }));
        assert_eq!(d.version.as_deref(), Some("3"));
        let op = &d.paths["/pets/{petId}"]["PUT"];
        let m = &op.method;
        assert!(
            m.request_parameters["method.request.path.petId"],
            "path parameters are required"
        );
        assert!(m.request_parameters["method.request.header.X-Trace"]);
        assert!(!m.request_parameters.keys().any(|k| k.contains("file")));
        // The inline body schema is a model named after the verb and path, for each type consumed.
        assert_eq!(m.request_models["application/json"], "PutPetsPetIdBody");
        assert_eq!(m.request_models["application/xml"], "PutPetsPetIdBody");
        let body = &d.models["PutPetsPetIdBody"].schema;
        assert!(
            body.contains("https://apigateway.amazonaws.com/restapis/a1/models/Owner"),
            "{body}"
        );
        assert!(body.contains("draft-04"));
        assert!(
            !d.models["Owner"].schema.contains("example"),
            "OpenAPI-only keywords dropped"
        );
        let r = &m.method_responses["201"];
        assert!(!r.response_parameters["method.response.header.Location"]);
        assert_eq!(r.response_models["application/json"], "Owner");
        assert!(!m.method_responses.contains_key("default"));
        for needle in ["formData", "default response", "bad-name"] {
            assert!(
                d.warnings.iter().any(|w| w.contains(needle)),
                "{needle}: {:?}",
                d.warnings
            );
        }
    }

    #[test]
    fn api_gateway_extensions() {
        let d = read(json!({
            "openapi": "3.0.1", "info": {"title": "t"},
            "x-amazon-apigateway-api-key-source": "AUTHORIZER",
            "x-amazon-apigateway-minimum-compression-size": 1024,
            "x-amazon-apigateway-endpoint-configuration": {"types": ["REGIONAL"], "disableExecuteApiEndpoint": true},
            "x-amazon-apigateway-policy": {"Version": "2012-10-17", "Statement": []},
            "x-amazon-apigateway-something-new": true,
            "security": [{"key": []}],
            "components": {"securitySchemes": {"key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
                                               "oauth": {"type": "oauth2"}}},
            "paths": {
                "/": {"get": {
                    "security": [{"missing": []}],
                    "x-amazon-apigateway-auth": {"type": "aws_iam"},
                    "x-amazon-apigateway-integration": {
                        "type": "http_proxy", "httpMethod": "get", "uri": "http://b/x",
                        "passthroughBehavior": "when_no_templates", "timeoutInMillis": 900,
                        "cacheKeyParameters": ["method.request.path.a"],
                        "tlsConfig": {"insecureSkipVerification": true},
                        "responses": {"5\\d{2}": {"statusCode": 502}, "default": {"statusCode": "200"}}
                    }}},
                "/any": {"x-amazon-apigateway-any-method": {"responses": {}}}
            }
        }));
        assert_eq!(d.api_key_source.as_deref(), Some("AUTHORIZER"));
        assert_eq!(d.minimum_compression_size, Some(1024));
        assert_eq!(d.endpoint_types, Some(vec!["REGIONAL".to_string()]));
        assert_eq!(d.disable_execute_api_endpoint, Some(true));
        assert!(d.policy.as_deref().unwrap().contains("2012-10-17"));
        let get = &d.paths["/"]["GET"];
        assert_eq!(get.method.authorization_type, AuthorizationType::AwsIam);
        assert!(
            !get.method.api_key_required,
            "the operation's own security replaces the document's"
        );
        let i = get.integration.as_ref().unwrap();
        assert_eq!(i["type"], "HTTP_PROXY");
        assert_eq!(i["httpMethod"], "GET");
        assert_eq!(i["passthroughBehavior"], "WHEN_NO_TEMPLATES");
        assert_eq!(i["timeoutInMillis"], 900);
        assert!(
            i.get("tlsConfig").is_some(),
            "handed on, for PutIntegration's own refusal"
        );
        assert!(i.get("responses").is_none());
        let rs = &get.integration_responses;
        assert_eq!(rs.len(), 2);
        assert!(rs
            .iter()
            .any(|r| r.status_code == "502" && r.selection_pattern.as_deref() == Some("5\\d{2}")));
        assert!(
            d.paths["/any"]["ANY"].method.api_key_required,
            "the document's security applies"
        );
        for needle in ["something-new", "oauth2", "'missing'"] {
            assert!(
                d.warnings.iter().any(|w| w.contains(needle)),
                "{needle}: {:?}",
                d.warnings
            );
        }
    }

    #[test]
    fn unreadable_constructs_name_their_place() {
        let bad = |doc: Value, at: &str| {
            let e = import(&doc, &Options::default(), "a1").unwrap_err();
            assert!(e.location.contains(at), "{at}: {e:?}");
        };
        bad(
            json!({"swagger": "2.0", "info": {"title": "t"}, "paths": {"/a": {"get": {
            "responses": {"200": {"description": "x", "schema": {"$ref": "other.json#/X"}}}}}}}),
            "paths.'/a'.get.responses.200",
        );
        bad(
            json!({"swagger": "2.0", "info": {"title": "t"}, "paths": {"/a": {"get": {
            "x-amazon-apigateway-integration": {"type": "mock", "responses": {"default": {}}}}}}}),
            "responses.default.statusCode",
        );
        bad(
            json!({"swagger": "2.0", "info": {"title": "t"}, "paths": {"/a b": {}}}),
            "paths.'/a b'",
        );
        bad(
            json!({"swagger": "1.2", "info": {"title": "t"}, "paths": {}}),
            "swagger",
        );
        bad(
            json!({"swagger": "2.0", "info": {"title": "t"}, "paths": {"/a": {"get": {
            "x-amazon-apigateway-auth": {"type": "magic"}}}}}),
            "x-amazon-apigateway-auth.type",
        );
    }
}
