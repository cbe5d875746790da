//! A deployed stage written as a Swagger 2.0 or OpenAPI 3.0 document, as GetExport answers:
//! the stage's deployment (its resources, methods, models, validators, gateway responses) with
//! the API's settings, the host and base path of the stage's invoke URL, and API Gateway's
//! extensions when asked for. Importing the result gives the same API back.

use serde_json::{json, Map, Value};
use tollgate_proto::model::{
    model_url, AuthorizationType, Authorizer, AuthorizerType, Deployment, Method, RestApi,
};

pub use super::import::Flavour;

/// Which extensions GetExport's `extensions=` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extensions {
    /// `integrations`: `x-amazon-apigateway-integration` on every operation.
    pub integrations: bool,
    /// `apigateway`: every API Gateway extension (integrations, validators, gateway
    /// responses, binary media types, key source, compression, policy, endpoint types, tags).
    pub apigateway: bool,
    /// `authorizers`: the authorizers' `x-amazon-apigateway-authorizer` (their security
    /// schemes and the methods' requirements are written in any case).
    pub authorizers: bool,
    /// `postman`: a Postman collection instead of an OpenAPI document (see
    /// [`super::postman`]).
    pub postman: bool,
}

impl Extensions {
    /// Reads `extensions=` (comma-separated).
    pub fn parse(s: &str) -> Result<Extensions, String> {
        let mut e = Extensions::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "integrations" => e.integrations = true,
                "apigateway" => e.apigateway = true,
                "authorizers" => e.authorizers = true,
                "postman" => e.postman = true,
                other => {
                    return Err(format!(
                        "Invalid extensions parameter specified: {other}. Must be integrations, apigateway, authorizers or postman"
                    ))
                }
            }
        }
        Ok(e)
    }
}

/// What the document is written for.
#[derive(Debug, Clone)]
pub struct Target {
    /// Swagger 2.0 or OpenAPI 3.0.
    pub flavour: Flavour,
    /// The extensions asked for.
    pub extensions: Extensions,
    /// The invoke URL's host (`{api}.execute-api.{region}.amazonaws.com`).
    pub host: String,
}

const API_KEY_SCHEME: &str = "api_key";
const SIGV4_SCHEME: &str = "sigv4";

fn schema_ref(flavour: Flavour, name: &str) -> String {
    match flavour {
        Flavour::Swagger2 => format!("#/definitions/{name}"),
        Flavour::OpenApi3 => format!("#/components/schemas/{name}"),
    }
}

/// A model's schema for the document: model URLs back to the document's references, no
/// `$schema` (OpenAPI's schema objects have none).
fn export_schema(text: &str, api_id: &str, flavour: Flavour) -> Value {
    let mut v: Value = serde_json::from_str(text).unwrap_or_else(|_| json!({}));
    let prefix = model_url(api_id, "");
    fn walk(v: &mut Value, prefix: &str, flavour: Flavour) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get_mut("$ref") {
                    if let Some(name) = r.strip_prefix(prefix) {
                        *r = schema_ref(flavour, name);
                    }
                }
                for x in o.values_mut() {
                    walk(x, prefix, flavour);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, prefix, flavour)),
            _ => {}
        }
    }
    walk(&mut v, &prefix, flavour);
    if let Value::Object(o) = &mut v {
        o.remove("$schema");
    }
    v
}

/// The authorizer a `CUSTOM` (or `COGNITO_USER_POOLS`) method uses.
fn method_authorizer<'a>(m: &Method, deployment: &'a Deployment) -> Option<&'a Authorizer> {
    if !matches!(
        m.authorization_type,
        AuthorizationType::Custom | AuthorizationType::CognitoUserPools
    ) {
        return None;
    }
    m.authorizer_id
        .as_ref()
        .and_then(|id| deployment.authorizers.get(id))
}

/// An authorizer's security scheme as AWS exports it: an `apiKey` scheme on the token's
/// header (`Unused` for a REQUEST authorizer) with `x-amazon-apigateway-authtype`, and with
/// `extension` the `x-amazon-apigateway-authorizer` that imports it back.
fn authorizer_scheme(a: &Authorizer, extension: bool) -> Value {
    let header = match a.kind {
        AuthorizerType::Token => a
            .identity_source
            .as_deref()
            .and_then(|s| s.strip_prefix("method.request.header."))
            .unwrap_or("Authorization"),
        _ => "Unused",
    };
    let mut scheme = Map::new();
    scheme.insert("type".into(), json!("apiKey"));
    scheme.insert("name".into(), json!(header));
    scheme.insert("in".into(), json!("header"));
    let authtype = match (&a.auth_type, a.kind) {
        (Some(t), _) => t.as_str(),
        (None, AuthorizerType::CognitoUserPools) => "cognito_user_pools",
        (None, _) => "custom",
    };
    scheme.insert("x-amazon-apigateway-authtype".into(), json!(authtype));
    if extension {
        let mut x = Map::new();
        x.insert("type".into(), json!(a.kind.as_str().to_ascii_lowercase()));
        if let Some(u) = &a.authorizer_uri {
            x.insert("authorizerUri".into(), json!(u));
        }
        if let Some(c) = &a.authorizer_credentials {
            x.insert("authorizerCredentials".into(), json!(c));
        }
        if let Some(s) = &a.identity_source {
            x.insert("identitySource".into(), json!(s));
        }
        if let Some(e) = &a.identity_validation_expression {
            x.insert("identityValidationExpression".into(), json!(e));
        }
        if !a.provider_arns.is_empty() {
            x.insert("providerARNs".into(), json!(a.provider_arns));
        }
        x.insert(
            "authorizerResultTtlInSeconds".into(),
            json!(a.authorizer_result_ttl_in_seconds),
        );
        scheme.insert("x-amazon-apigateway-authorizer".into(), Value::Object(x));
    }
    Value::Object(scheme)
}

/// Writes `stage` of `api`, serving `deployment`, as a document.
pub fn export(api: &RestApi, stage: &str, deployment: &Deployment, t: &Target) -> Value {
    let f = t.flavour;
    let s = &api.settings;
    let with_integrations = t.extensions.integrations || t.extensions.apigateway;
    let mut doc = Map::new();
    let mut info = Map::new();
    if let Some(d) = &s.description {
        info.insert("description".into(), json!(d));
    }
    info.insert("title".into(), json!(s.name));
    info.insert(
        "version".into(),
        json!(s
            .version
            .clone()
            .unwrap_or_else(|| deployment.created_date.to_string())),
    );
    match f {
        Flavour::Swagger2 => {
            doc.insert("swagger".into(), json!("2.0"));
            doc.insert("info".into(), Value::Object(info));
            doc.insert("host".into(), json!(t.host));
            doc.insert("basePath".into(), json!(format!("/{stage}")));
            doc.insert("schemes".into(), json!(["https"]));
        }
        Flavour::OpenApi3 => {
            doc.insert("openapi".into(), json!("3.0.1"));
            doc.insert("info".into(), Value::Object(info));
            doc.insert(
                "servers".into(),
                json!([{
                    "url": format!("https://{}/{{basePath}}", t.host),
                    "variables": {"basePath": {"default": format!("/{stage}")}}
                }]),
            );
        }
    }
    let mut paths = Map::new();
    let mut uses_key = false;
    let mut uses_iam = false;
    let mut used_authorizers = std::collections::BTreeSet::new();
    for (id, r) in &deployment.resources {
        if r.methods.is_empty() {
            continue;
        }
        let Some(path) = RestApi::resource_path(&deployment.resources, id) else {
            continue;
        };
        let mut item = Map::new();
        for (verb, m) in &r.methods {
            uses_key |= m.api_key_required;
            uses_iam |= m.authorization_type == AuthorizationType::AwsIam;
            if let Some(a) = method_authorizer(m, deployment) {
                used_authorizers.insert(a.id.clone());
            }
            let key = if verb == "ANY" {
                "x-amazon-apigateway-any-method".to_string()
            } else {
                verb.to_ascii_lowercase()
            };
            item.insert(
                key,
                operation(m, deployment, f, with_integrations, t.extensions.apigateway),
            );
        }
        paths.insert(path, Value::Object(item));
    }
    doc.insert("paths".into(), Value::Object(paths));
    let mut schemes = Map::new();
    if uses_key {
        schemes.insert(
            API_KEY_SCHEME.into(),
            json!({"type": "apiKey", "name": "x-api-key", "in": "header"}),
        );
    }
    if uses_iam {
        schemes.insert(
            SIGV4_SCHEME.into(),
            json!({"type": "apiKey", "name": "Authorization", "in": "header",
                   "x-amazon-apigateway-authtype": "awsSigv4"}),
        );
    }
    for id in &used_authorizers {
        if let Some(a) = deployment.authorizers.get(id) {
            schemes.insert(
                a.name.clone(),
                authorizer_scheme(a, t.extensions.authorizers || t.extensions.apigateway),
            );
        }
    }
    let models: Map<String, Value> = deployment
        .models
        .values()
        .map(|m| {
            let schema = m
                .schema
                .as_deref()
                .map_or_else(|| json!({}), |s| export_schema(s, &api.id, f));
            (m.name.clone(), schema)
        })
        .collect();
    match f {
        Flavour::Swagger2 => {
            if !schemes.is_empty() {
                doc.insert("securityDefinitions".into(), Value::Object(schemes));
            }
            if !models.is_empty() {
                doc.insert("definitions".into(), Value::Object(models));
            }
        }
        Flavour::OpenApi3 => {
            let mut components = Map::new();
            if !models.is_empty() {
                components.insert("schemas".into(), Value::Object(models));
            }
            if !schemes.is_empty() {
                components.insert("securitySchemes".into(), Value::Object(schemes));
            }
            if !components.is_empty() {
                doc.insert("components".into(), Value::Object(components));
            }
        }
    }
    if t.extensions.apigateway {
        api_extensions(api, deployment, &mut doc);
    }
    Value::Object(doc)
}

/// The API-wide extensions (`extensions=apigateway`).
fn api_extensions(api: &RestApi, deployment: &Deployment, doc: &mut Map<String, Value>) {
    let s = &api.settings;
    if !s.binary_media_types.is_empty() {
        doc.insert(
            "x-amazon-apigateway-binary-media-types".into(),
            json!(s.binary_media_types),
        );
    }
    doc.insert(
        "x-amazon-apigateway-api-key-source".into(),
        json!(s.api_key_source.to_string()),
    );
    if let Some(n) = s.minimum_compression_size {
        doc.insert(
            "x-amazon-apigateway-minimum-compression-size".into(),
            json!(n),
        );
    }
    doc.insert(
        "x-amazon-apigateway-endpoint-configuration".into(),
        json!({"types": s.endpoint_types, "disableExecuteApiEndpoint": s.disable_execute_api_endpoint}),
    );
    if let Some(p) = &s.policy {
        let policy = serde_json::from_str::<Value>(p).unwrap_or_else(|_| json!(p));
        doc.insert("x-amazon-apigateway-policy".into(), policy);
    }
    if !s.tags.is_empty() {
        let tags: Vec<Value> = s
            .tags
            .iter()
            .map(|(k, v)| json!({"name": k, "x-amazon-apigateway-tag-value": v}))
            .collect();
        doc.insert("tags".into(), Value::Array(tags));
    }
    if !deployment.request_validators.is_empty() {
        let vs: Map<String, Value> = deployment
            .request_validators
            .values()
            .map(|v| {
                (
                    v.name.clone(),
                    json!({"validateRequestBody": v.validate_request_body,
                           "validateRequestParameters": v.validate_request_parameters}),
                )
            })
            .collect();
        doc.insert(
            "x-amazon-apigateway-request-validators".into(),
            Value::Object(vs),
        );
    }
    if !deployment.gateway_responses.is_empty() {
        let grs: Map<String, Value> = deployment
            .gateway_responses
            .values()
            .map(|g| {
                let mut o = Map::new();
                if let Some(c) = &g.status_code {
                    o.insert("statusCode".into(), json!(c));
                }
                if !g.response_parameters.is_empty() {
                    o.insert("responseParameters".into(), json!(g.response_parameters));
                }
                if !g.response_templates.is_empty() {
                    o.insert("responseTemplates".into(), json!(g.response_templates));
                }
                (g.response_type.as_str().to_string(), Value::Object(o))
            })
            .collect();
        doc.insert(
            "x-amazon-apigateway-gateway-responses".into(),
            Value::Object(grs),
        );
    }
}

fn operation(
    m: &Method,
    deployment: &Deployment,
    f: Flavour,
    integrations: bool,
    apigateway: bool,
) -> Value {
    let mut op = Map::new();
    if let Some(n) = &m.operation_name {
        op.insert("operationId".into(), json!(n));
    }
    let mut params = Vec::new();
    for (name, required) in &m.request_parameters {
        let (place, pname) = if let Some(n) = name.strip_prefix("method.request.path.") {
            ("path", n)
        } else if let Some(n) = name
            .strip_prefix("method.request.querystring.")
            .or_else(|| name.strip_prefix("method.request.multivaluequerystring."))
        {
            ("query", n)
        } else if let Some(n) = name
            .strip_prefix("method.request.header.")
            .or_else(|| name.strip_prefix("method.request.multivalueheader."))
        {
            ("header", n)
        } else {
            continue;
        };
        let required = *required || place == "path";
        params.push(match f {
            Flavour::Swagger2 => json!({"name": pname, "in": place, "required": required, "type": "string"}),
            Flavour::OpenApi3 => json!({"name": pname, "in": place, "required": required, "schema": {"type": "string"}}),
        });
    }
    let content_types: Vec<&String> = m.request_models.keys().collect();
    match f {
        Flavour::Swagger2 => {
            if let Some((_, model)) = m.request_models.iter().next() {
                op.insert("consumes".into(), json!(content_types));
                params.push(json!({"in": "body", "name": model, "required": true,
                                   "schema": {"$ref": schema_ref(f, model)}}));
            }
        }
        Flavour::OpenApi3 => {
            if !m.request_models.is_empty() {
                let content: Map<String, Value> = m
                    .request_models
                    .iter()
                    .map(|(ct, model)| {
                        (
                            ct.clone(),
                            json!({"schema": {"$ref": schema_ref(f, model)}}),
                        )
                    })
                    .collect();
                op.insert(
                    "requestBody".into(),
                    json!({"content": content, "required": true}),
                );
            }
        }
    }
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    let mut responses = Map::new();
    let mut produces: Vec<String> = Vec::new();
    for (code, r) in &m.method_responses {
        let mut out = Map::new();
        out.insert("description".into(), json!(format!("{code} response")));
        if !r.response_parameters.is_empty() {
            let headers: Map<String, Value> = r
                .response_parameters
                .keys()
                .filter_map(|k| k.strip_prefix("method.response.header."))
                .map(|h| {
                    let v = match f {
                        Flavour::Swagger2 => json!({"type": "string"}),
                        Flavour::OpenApi3 => json!({"schema": {"type": "string"}}),
                    };
                    (h.to_string(), v)
                })
                .collect();
            out.insert("headers".into(), Value::Object(headers));
        }
        match f {
            Flavour::Swagger2 => {
                if let Some((ct, model)) = r.response_models.iter().next() {
                    if !produces.contains(ct) {
                        produces.push(ct.clone());
                    }
                    out.insert("schema".into(), json!({"$ref": schema_ref(f, model)}));
                }
            }
            Flavour::OpenApi3 => {
                if !r.response_models.is_empty() {
                    let content: Map<String, Value> = r
                        .response_models
                        .iter()
                        .map(|(ct, model)| {
                            (
                                ct.clone(),
                                json!({"schema": {"$ref": schema_ref(f, model)}}),
                            )
                        })
                        .collect();
                    out.insert("content".into(), Value::Object(content));
                }
            }
        }
        responses.insert(code.clone(), Value::Object(out));
    }
    if f == Flavour::Swagger2 && !produces.is_empty() {
        op.insert("produces".into(), json!(produces));
    }
    op.insert("responses".into(), Value::Object(responses));
    let mut security = Vec::new();
    if m.api_key_required {
        security.push(json!({API_KEY_SCHEME: []}));
    }
    if m.authorization_type == AuthorizationType::AwsIam {
        security.push(json!({SIGV4_SCHEME: []}));
    }
    if let Some(a) = method_authorizer(m, deployment) {
        let mut req = Map::new();
        req.insert(a.name.clone(), json!(m.authorization_scopes));
        security.push(Value::Object(req));
    }
    if !security.is_empty() {
        // One requirement object naming every scheme: all of them apply (AND), as the method
        // requires both its key and its signature.
        let mut all = Map::new();
        for s in security {
            if let Value::Object(o) = s {
                all.extend(o);
            }
        }
        op.insert("security".into(), json!([all]));
    }
    if apigateway {
        if let Some(v) = m
            .request_validator_id
            .as_ref()
            .and_then(|id| deployment.request_validators.get(id))
        {
            op.insert(
                "x-amazon-apigateway-request-validator".into(),
                json!(v.name),
            );
        }
    }
    if integrations {
        if let Some(i) = &m.integration {
            let mut x = Map::new();
            x.insert("type".into(), json!(i.kind.as_str().to_ascii_lowercase()));
            if let Some(u) = &i.uri {
                x.insert("uri".into(), json!(u));
            }
            if let Some(h) = &i.http_method {
                x.insert("httpMethod".into(), json!(h));
            }
            if !i.request_parameters.is_empty() {
                x.insert("requestParameters".into(), json!(i.request_parameters));
            }
            if !i.request_templates.is_empty() {
                x.insert("requestTemplates".into(), json!(i.request_templates));
            }
            if let Some(p) = &i.passthrough_behavior {
                x.insert("passthroughBehavior".into(), json!(p.to_ascii_lowercase()));
            }
            if let Some(c) = &i.content_handling {
                x.insert("contentHandling".into(), json!(c));
            }
            x.insert("timeoutInMillis".into(), json!(i.timeout_in_millis));
            if let Some(n) = &i.cache_namespace {
                x.insert("cacheNamespace".into(), json!(n));
            }
            if !i.cache_key_parameters.is_empty() {
                x.insert("cacheKeyParameters".into(), json!(i.cache_key_parameters));
            }
            if let Some(t) = &i.tls_config {
                x.insert(
                    "tlsConfig".into(),
                    json!({"insecureSkipVerification": t.insecure_skip_verification}),
                );
            }
            let mut rs = Map::new();
            for r in i.integration_responses.values() {
                let mut o = Map::new();
                o.insert("statusCode".into(), json!(r.status_code));
                if !r.response_parameters.is_empty() {
                    o.insert("responseParameters".into(), json!(r.response_parameters));
                }
                if !r.response_templates.is_empty() {
                    o.insert("responseTemplates".into(), json!(r.response_templates));
                }
                if let Some(c) = &r.content_handling {
                    o.insert("contentHandling".into(), json!(c));
                }
                let key = r
                    .selection_pattern
                    .clone()
                    .unwrap_or_else(|| "default".into());
                rs.insert(key, Value::Object(o));
            }
            x.insert("responses".into(), Value::Object(rs));
            op.insert("x-amazon-apigateway-integration".into(), Value::Object(x));
        }
    }
    Value::Object(op)
}
