//! Request routing: an HTTP method and a raw path become an [`Operation`] with its URI
//! parameters (percent-decoded), following the `requestUri`s of the API Gateway service model.

use percent_encoding::percent_decode_str;
use tollgate_proto::Scope;

/// The method of one resource: `/restapis/{api}/resources/{resource}/methods/{verb}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodKey {
    /// REST API id.
    pub api: String,
    /// Resource id.
    pub resource: String,
    /// HTTP verb, upper-cased (`GET`, `ANY`, …).
    pub verb: String,
}

/// Everything the admin API can do, with the identifiers from the path.
#[allow(missing_docs)] // the variant names are the AWS operation names
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// An IAM call (the Query protocol's `POST /`; see [`super::iam`]).
    Iam(super::iam::Call),
    CreateRestApi,
    GetRestApis,
    GetRestApi {
        api: String,
    },
    UpdateRestApi {
        api: String,
    },
    DeleteRestApi {
        api: String,
    },
    GetResources {
        api: String,
    },
    CreateResource {
        api: String,
        parent: String,
    },
    GetResource {
        api: String,
        resource: String,
    },
    UpdateResource {
        api: String,
        resource: String,
    },
    DeleteResource {
        api: String,
        resource: String,
    },
    PutMethod(MethodKey),
    GetMethod(MethodKey),
    UpdateMethod(MethodKey),
    DeleteMethod(MethodKey),
    PutIntegration(MethodKey),
    GetIntegration(MethodKey),
    UpdateIntegration(MethodKey),
    DeleteIntegration(MethodKey),
    PutMethodResponse(MethodKey, String),
    GetMethodResponse(MethodKey, String),
    UpdateMethodResponse(MethodKey, String),
    DeleteMethodResponse(MethodKey, String),
    PutIntegrationResponse(MethodKey, String),
    GetIntegrationResponse(MethodKey, String),
    UpdateIntegrationResponse(MethodKey, String),
    DeleteIntegrationResponse(MethodKey, String),
    TestInvokeMethod(MethodKey),
    CreateDeployment {
        api: String,
    },
    GetDeployments {
        api: String,
    },
    GetDeployment {
        api: String,
        deployment: String,
    },
    UpdateDeployment {
        api: String,
        deployment: String,
    },
    DeleteDeployment {
        api: String,
        deployment: String,
    },
    CreateStage {
        api: String,
    },
    GetStages {
        api: String,
    },
    GetStage {
        api: String,
        stage: String,
    },
    UpdateStage {
        api: String,
        stage: String,
    },
    DeleteStage {
        api: String,
        stage: String,
    },
    FlushStageCache {
        api: String,
        stage: String,
    },
    /// `POST /apikeys`; with `?mode=import` it is ImportApiKeys (see [`Operation::refine`]).
    CreateApiKey,
    ImportApiKeys,
    GetApiKeys,
    GetApiKey {
        key: String,
    },
    UpdateApiKey {
        key: String,
    },
    DeleteApiKey {
        key: String,
    },
    CreateUsagePlan,
    GetUsagePlans,
    GetUsagePlan {
        plan: String,
    },
    UpdateUsagePlan {
        plan: String,
    },
    DeleteUsagePlan {
        plan: String,
    },
    CreateUsagePlanKey {
        plan: String,
    },
    GetUsagePlanKeys {
        plan: String,
    },
    GetUsagePlanKey {
        plan: String,
        key: String,
    },
    DeleteUsagePlanKey {
        plan: String,
        key: String,
    },
    GetUsage {
        plan: String,
    },
    GetGatewayResponses {
        api: String,
    },
    PutGatewayResponse {
        api: String,
        response_type: String,
    },
    GetGatewayResponse {
        api: String,
        response_type: String,
    },
    UpdateGatewayResponse {
        api: String,
        response_type: String,
    },
    DeleteGatewayResponse {
        api: String,
        response_type: String,
    },
    UpdateUsage {
        plan: String,
        key: String,
    },
    CreateModel {
        api: String,
    },
    GetModels {
        api: String,
    },
    GetModel {
        api: String,
        model: String,
    },
    UpdateModel {
        api: String,
        model: String,
    },
    DeleteModel {
        api: String,
        model: String,
    },
    GetModelTemplate {
        api: String,
        model: String,
    },
    CreateRequestValidator {
        api: String,
    },
    GetRequestValidators {
        api: String,
    },
    GetRequestValidator {
        api: String,
        validator: String,
    },
    UpdateRequestValidator {
        api: String,
        validator: String,
    },
    DeleteRequestValidator {
        api: String,
        validator: String,
    },
    /// `POST /restapis?mode=import` (see [`Operation::refine`]).
    ImportRestApi,
    /// `PUT /restapis/{api}` (`mode=merge|overwrite`).
    PutRestApi {
        api: String,
    },
    /// `GET /restapis/{api}/stages/{stage}/exports/{type}`, with the request's `Accept`.
    GetExport {
        api: String,
        stage: String,
        export_type: String,
        accept: Option<String>,
    },
    /// `GET /restapis/{api}/stages/{stage}/sdks/{type}`.
    GetSdk {
        api: String,
        stage: String,
        sdk_type: String,
    },
    /// `GET /sdktypes`.
    GetSdkTypes,
    /// `GET /sdktypes/{id}`.
    GetSdkType {
        id: String,
    },
    GetAccount,
    UpdateAccount,
    /// `arn`: the resource's ARN (see `ops::tags`).
    TagResource {
        arn: String,
    },
    UntagResource {
        arn: String,
    },
    GetTags {
        arn: String,
    },
    CreateDocumentationPart {
        api: String,
    },
    GetDocumentationParts {
        api: String,
    },
    GetDocumentationPart {
        api: String,
        part: String,
    },
    UpdateDocumentationPart {
        api: String,
        part: String,
    },
    DeleteDocumentationPart {
        api: String,
        part: String,
    },
    CreateDocumentationVersion {
        api: String,
    },
    GetDocumentationVersions {
        api: String,
    },
    GetDocumentationVersion {
        api: String,
        version: String,
    },
    UpdateDocumentationVersion {
        api: String,
        version: String,
    },
    DeleteDocumentationVersion {
        api: String,
        version: String,
    },
    GenerateClientCertificate,
    GetClientCertificates,
    GetClientCertificate {
        certificate: String,
    },
    UpdateClientCertificate {
        certificate: String,
    },
    DeleteClientCertificate {
        certificate: String,
    },
    CreateDomainName,
    GetDomainNames,
    GetDomainName {
        domain: String,
    },
    UpdateDomainName {
        domain: String,
    },
    DeleteDomainName {
        domain: String,
    },
    CreateBasePathMapping {
        domain: String,
    },
    GetBasePathMappings {
        domain: String,
    },
    GetBasePathMapping {
        domain: String,
        base_path: String,
    },
    UpdateBasePathMapping {
        domain: String,
        base_path: String,
    },
    DeleteBasePathMapping {
        domain: String,
        base_path: String,
    },
    CreateAuthorizer {
        api: String,
    },
    GetAuthorizers {
        api: String,
    },
    GetAuthorizer {
        api: String,
        authorizer: String,
    },
    UpdateAuthorizer {
        api: String,
        authorizer: String,
    },
    DeleteAuthorizer {
        api: String,
        authorizer: String,
    },
    TestInvokeAuthorizer {
        api: String,
        authorizer: String,
    },
    FlushStageAuthorizersCache {
        api: String,
        stage: String,
    },
}

impl Operation {
    /// Whether the operation changes state (it then takes the write lock and proposes).
    pub fn is_write(&self) -> bool {
        if let Operation::Iam(call) = self {
            return call.is_write();
        }
        !matches!(
            self,
            Operation::GetRestApis
                | Operation::GetRestApi { .. }
                | Operation::GetResources { .. }
                | Operation::GetResource { .. }
                | Operation::GetMethod(_)
                | Operation::GetIntegration(_)
                | Operation::GetMethodResponse(..)
                | Operation::GetIntegrationResponse(..)
                | Operation::GetDeployments { .. }
                | Operation::GetDeployment { .. }
                | Operation::GetStages { .. }
                | Operation::GetStage { .. }
                | Operation::GetApiKeys
                | Operation::GetApiKey { .. }
                | Operation::GetUsagePlans
                | Operation::GetUsagePlan { .. }
                | Operation::GetUsagePlanKeys { .. }
                | Operation::GetUsagePlanKey { .. }
                | Operation::GetUsage { .. }
                | Operation::GetGatewayResponses { .. }
                | Operation::GetGatewayResponse { .. }
                | Operation::GetModels { .. }
                | Operation::GetModel { .. }
                | Operation::GetModelTemplate { .. }
                | Operation::GetRequestValidators { .. }
                | Operation::GetRequestValidator { .. }
                | Operation::GetExport { .. }
                | Operation::GetSdk { .. }
                | Operation::GetSdkTypes
                | Operation::GetSdkType { .. }
                | Operation::GetAccount
                | Operation::GetTags { .. }
                | Operation::GetDocumentationParts { .. }
                | Operation::GetDocumentationPart { .. }
                | Operation::GetDocumentationVersions { .. }
                | Operation::GetDocumentationVersion { .. }
                | Operation::GetClientCertificates
                | Operation::GetClientCertificate { .. }
                | Operation::GetDomainNames
                | Operation::GetDomainName { .. }
                | Operation::GetBasePathMappings { .. }
                | Operation::GetBasePathMapping { .. }
                | Operation::GetAuthorizers { .. }
                | Operation::GetAuthorizer { .. }
                // Runs the saved authorizer's function; changes nothing.
                | Operation::TestInvokeAuthorizer { .. }
                // Runs the working tree's method; changes nothing.
                | Operation::TestInvokeMethod(_)
        )
    }

    /// For an operation that removes something (and answers with an empty body), the status
    /// of its success answer: what a retry of it answers once its first attempt applied and
    /// the thing is gone (see `ops::dispatch`).
    pub fn removal_status(&self) -> Option<u16> {
        use Operation as O;
        match self {
            O::DeleteRestApi { .. }
            | O::DeleteResource { .. }
            | O::DeleteDeployment { .. }
            | O::DeleteStage { .. }
            | O::DeleteApiKey { .. }
            | O::DeleteUsagePlan { .. }
            | O::DeleteUsagePlanKey { .. }
            | O::DeleteDocumentationPart { .. }
            | O::DeleteDocumentationVersion { .. }
            | O::DeleteClientCertificate { .. }
            | O::DeleteDomainName { .. }
            | O::DeleteBasePathMapping { .. }
            | O::DeleteAuthorizer { .. } => Some(202),
            O::DeleteMethod(_)
            | O::DeleteMethodResponse(..)
            | O::DeleteIntegration(_)
            | O::DeleteIntegrationResponse(..) => Some(204),
            O::Iam(
                super::iam::Call::DeleteUser { .. }
                | super::iam::Call::DeleteAccessKey { .. }
                | super::iam::Call::DeleteUserPolicy { .. },
            ) => Some(200),
            _ => None,
        }
    }

    /// What a write reads and writes back, so its commands are guarded on it (see
    /// [`tollgate_proto::Scope`]): the API of everything under `/restapis/{api}`, the key or
    /// the plan. `None` for reads, and for writes that write back nothing they read, whose
    /// commands the state machine checks in full when it applies them (creating under a new id
    /// or a named parent, deleting, flushing a cache, subscribing a key, setting what is left of
    /// a quota): guarding those would only make them collide with writes they commute with.
    pub fn guarded_scope(&self) -> Option<Scope> {
        use Operation as O;
        match self {
            O::UpdateRestApi { api }
            | O::UpdateResource { api, .. }
            | O::CreateDeployment { api }
            | O::UpdateDeployment { api, .. }
            | O::UpdateStage { api, .. }
            | O::UpdateGatewayResponse { api, .. }
            // Each reads the API's models (a schema's `$ref`s) or rewrites its whole object.
            | O::CreateModel { api }
            | O::UpdateModel { api, .. }
            | O::UpdateRequestValidator { api, .. }
            | O::UpdateDocumentationPart { api, .. }
            | O::UpdateDocumentationVersion { api, .. }
            // Merges the document into what it read.
            | O::PutRestApi { api }
            | O::UpdateAuthorizer { api, .. } => Some(Scope::Api(api.clone())),
            // Each rewrites its whole method.
            O::PutMethod(k)
            | O::UpdateMethod(k)
            | O::PutIntegration(k)
            | O::UpdateIntegration(k)
            | O::DeleteIntegration(k)
            | O::PutMethodResponse(k, _)
            | O::UpdateMethodResponse(k, _)
            | O::DeleteMethodResponse(k, _)
            | O::PutIntegrationResponse(k, _)
            | O::UpdateIntegrationResponse(k, _)
            | O::DeleteIntegrationResponse(k, _) => Some(Scope::Api(k.api.clone())),
            O::UpdateApiKey { key } => Some(Scope::ApiKey(key.clone())),
            O::UpdateUsagePlan { plan } => Some(Scope::UsagePlan(plan.clone())),
            O::UpdateAccount => Some(Scope::Account),
            O::UpdateClientCertificate { certificate } => {
                Some(Scope::ClientCertificate(certificate.clone()))
            }
            // Each rewrites the tagged object whole.
            O::TagResource { arn } | O::UntagResource { arn } => super::ops::tags::scope_of(arn),
            // Each rewrites the whole domain (or mapping) it read.
            O::UpdateDomainName { domain } | O::UpdateBasePathMapping { domain, .. } => {
                Some(Scope::DomainName(domain.to_ascii_lowercase()))
            }
            _ => None,
        }
    }

    /// Operations told apart by the query string: `POST /apikeys?mode=import` is
    /// ImportApiKeys (the service model's request URI carries the `mode=import`).
    pub fn refine(self, query: &super::paging::Query) -> Operation {
        match self {
            Operation::CreateApiKey if query.get("mode") == Some("import") => {
                Operation::ImportApiKeys
            }
            Operation::CreateRestApi if query.get("mode") == Some("import") => {
                Operation::ImportRestApi
            }
            op => op,
        }
    }

    /// GetExport answers in the media type the request's `Accept` names.
    pub fn with_accept(self, accept: Option<&str>) -> Operation {
        match self {
            Operation::GetExport {
                api,
                stage,
                export_type,
                ..
            } => Operation::GetExport {
                api,
                stage,
                export_type,
                accept: accept.map(str::to_string),
            },
            op => op,
        }
    }
}

/// Splits a raw path into percent-decoded segments (a trailing `/` is ignored). `None` when
/// a segment is not valid UTF-8 once decoded.
fn segments(path: &str) -> Option<Vec<String>> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    if path.is_empty() {
        return Some(Vec::new());
    }
    path.split('/')
        .map(|s| {
            percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        })
        .collect()
}

/// Finds the operation for `method` and raw `path` (no query), or `None` when there is none.
pub fn route(method: &str, path: &str) -> Option<Operation> {
    use Operation as O;
    let segs = segments(path)?;
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let own = |x: &str| x.to_string();
    if s.iter().any(|x| x.is_empty()) {
        return None;
    }
    match s.first() {
        Some(&"restapis") => {}
        Some(&"apikeys") => return api_key_operation(method, &s[1..]),
        Some(&"usageplans") => return usage_plan_operation(method, &s[1..]),
        Some(&"account") => return account_or_tags_operation(method, &s),
        Some(&"tags") => return account_or_tags_operation(method, &s),
        Some(&"clientcertificates") => return client_certificate_operation(method, &s[1..]),
        Some(&"domainnames") => return domain_operation(method, &s[1..]),
        Some(&"sdktypes") => {
            return match (method, &s[1..]) {
                ("GET", []) => Some(O::GetSdkTypes),
                ("GET", [id]) => Some(O::GetSdkType { id: own(id) }),
                _ => None,
            }
        }
        _ => return None,
    }
    let op = match (method, &s[1..]) {
        ("POST", []) => O::CreateRestApi,
        ("GET", []) => O::GetRestApis,
        ("GET", [a]) => O::GetRestApi { api: own(a) },
        ("PATCH", [a]) => O::UpdateRestApi { api: own(a) },
        ("PUT", [a]) => O::PutRestApi { api: own(a) },
        ("GET", [a, "stages", st, "exports", t]) => O::GetExport {
            api: own(a),
            stage: own(st),
            export_type: own(t),
            accept: None,
        },
        ("GET", [a, "stages", st, "sdks", t]) => O::GetSdk {
            api: own(a),
            stage: own(st),
            sdk_type: own(t),
        },
        ("DELETE", [a]) => O::DeleteRestApi { api: own(a) },
        ("GET", [a, "resources"]) => O::GetResources { api: own(a) },
        (m, [a, "resources", r]) => {
            let (api, resource) = (own(a), own(r));
            match m {
                "POST" => O::CreateResource {
                    api,
                    parent: resource,
                },
                "GET" => O::GetResource { api, resource },
                "PATCH" => O::UpdateResource { api, resource },
                "DELETE" => O::DeleteResource { api, resource },
                _ => return None,
            }
        }
        (m, [a, "resources", r, "methods", v, rest @ ..]) => {
            let key = MethodKey {
                api: own(a),
                resource: own(r),
                verb: v.to_ascii_uppercase(),
            };
            return method_operation(m, key, rest);
        }
        ("POST", [a, "deployments"]) => O::CreateDeployment { api: own(a) },
        ("GET", [a, "deployments"]) => O::GetDeployments { api: own(a) },
        (m, [a, "deployments", d]) => {
            let (api, deployment) = (own(a), own(d));
            match m {
                "GET" => O::GetDeployment { api, deployment },
                "PATCH" => O::UpdateDeployment { api, deployment },
                "DELETE" => O::DeleteDeployment { api, deployment },
                _ => return None,
            }
        }
        ("POST", [a, "stages"]) => O::CreateStage { api: own(a) },
        ("GET", [a, "stages"]) => O::GetStages { api: own(a) },
        (m, [a, "stages", st]) => {
            let (api, stage) = (own(a), own(st));
            match m {
                "GET" => O::GetStage { api, stage },
                "PATCH" => O::UpdateStage { api, stage },
                "DELETE" => O::DeleteStage { api, stage },
                _ => return None,
            }
        }
        ("DELETE", [a, "stages", st, "cache", "data"]) => O::FlushStageCache {
            api: own(a),
            stage: own(st),
        },
        ("DELETE", [a, "stages", st, "cache", "authorizers"]) => O::FlushStageAuthorizersCache {
            api: own(a),
            stage: own(st),
        },
        ("POST", [a, "authorizers"]) => O::CreateAuthorizer { api: own(a) },
        ("GET", [a, "authorizers"]) => O::GetAuthorizers { api: own(a) },
        (m, [a, "authorizers", z]) => {
            let (api, authorizer) = (own(a), own(z));
            match m {
                "GET" => O::GetAuthorizer { api, authorizer },
                "PATCH" => O::UpdateAuthorizer { api, authorizer },
                "DELETE" => O::DeleteAuthorizer { api, authorizer },
                "POST" => O::TestInvokeAuthorizer { api, authorizer },
                _ => return None,
            }
        }
        ("GET", [a, "gatewayresponses"]) => O::GetGatewayResponses { api: own(a) },
        (m, [a, "gatewayresponses", t]) => {
            let (api, response_type) = (own(a), own(t));
            match m {
                "PUT" => O::PutGatewayResponse { api, response_type },
                "GET" => O::GetGatewayResponse { api, response_type },
                "PATCH" => O::UpdateGatewayResponse { api, response_type },
                "DELETE" => O::DeleteGatewayResponse { api, response_type },
                _ => return None,
            }
        }
        ("POST", [a, "models"]) => O::CreateModel { api: own(a) },
        ("GET", [a, "models"]) => O::GetModels { api: own(a) },
        ("GET", [a, "models", m, "default_template"]) => O::GetModelTemplate {
            api: own(a),
            model: own(m),
        },
        (m, [a, "models", name]) => {
            let (api, model) = (own(a), own(name));
            match m {
                "GET" => O::GetModel { api, model },
                "PATCH" => O::UpdateModel { api, model },
                "DELETE" => O::DeleteModel { api, model },
                _ => return None,
            }
        }
        (m, [a, "documentation", kind, rest @ ..]) => {
            return documentation_operation(m, own(a), kind, rest)
        }
        ("POST", [a, "requestvalidators"]) => O::CreateRequestValidator { api: own(a) },
        ("GET", [a, "requestvalidators"]) => O::GetRequestValidators { api: own(a) },
        (m, [a, "requestvalidators", v]) => {
            let (api, validator) = (own(a), own(v));
            match m {
                "GET" => O::GetRequestValidator { api, validator },
                "PATCH" => O::UpdateRequestValidator { api, validator },
                "DELETE" => O::DeleteRequestValidator { api, validator },
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(op)
}

/// The operations below `/restapis/{api}/documentation/{parts|versions}` (PUT on `parts`,
/// ImportDocumentationParts, is not supported: see `admin::coverage`).
fn documentation_operation(
    method: &str,
    api: String,
    kind: &str,
    rest: &[&str],
) -> Option<Operation> {
    use Operation as O;
    Some(match (kind, method, rest) {
        ("parts", "POST", []) => O::CreateDocumentationPart { api },
        ("parts", "GET", []) => O::GetDocumentationParts { api },
        ("parts", m, [p]) => {
            let part = p.to_string();
            match m {
                "GET" => O::GetDocumentationPart { api, part },
                "PATCH" => O::UpdateDocumentationPart { api, part },
                "DELETE" => O::DeleteDocumentationPart { api, part },
                _ => return None,
            }
        }
        ("versions", "POST", []) => O::CreateDocumentationVersion { api },
        ("versions", "GET", []) => O::GetDocumentationVersions { api },
        ("versions", m, [v]) => {
            let version = v.to_string();
            match m {
                "GET" => O::GetDocumentationVersion { api, version },
                "PATCH" => O::UpdateDocumentationVersion { api, version },
                "DELETE" => O::DeleteDocumentationVersion { api, version },
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// The operations below `/clientcertificates`.
fn client_certificate_operation(method: &str, rest: &[&str]) -> Option<Operation> {
    use Operation as O;
    let own = |x: &str| x.to_string();
    Some(match (method, rest) {
        ("POST", []) => O::GenerateClientCertificate,
        ("GET", []) => O::GetClientCertificates,
        ("GET", [c]) => O::GetClientCertificate {
            certificate: own(c),
        },
        ("PATCH", [c]) => O::UpdateClientCertificate {
            certificate: own(c),
        },
        ("DELETE", [c]) => O::DeleteClientCertificate {
            certificate: own(c),
        },
        _ => return None,
    })
}

/// `/account` and `/tags/{resource_arn}` (the ARN is one percent-encoded segment).
fn account_or_tags_operation(method: &str, s: &[&str]) -> Option<Operation> {
    use Operation as O;
    Some(match (method, s) {
        ("GET", ["account"]) => O::GetAccount,
        ("PATCH", ["account"]) => O::UpdateAccount,
        (m, ["tags", arn]) => {
            let arn = arn.to_string();
            match m {
                "PUT" => O::TagResource { arn },
                "DELETE" => O::UntagResource { arn },
                "GET" => O::GetTags { arn },
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// The operations below `/apikeys`.
fn api_key_operation(method: &str, rest: &[&str]) -> Option<Operation> {
    use Operation as O;
    let key = |k: &str| k.to_string();
    Some(match (method, rest) {
        ("POST", []) => O::CreateApiKey,
        ("GET", []) => O::GetApiKeys,
        ("GET", [k]) => O::GetApiKey { key: key(k) },
        ("PATCH", [k]) => O::UpdateApiKey { key: key(k) },
        ("DELETE", [k]) => O::DeleteApiKey { key: key(k) },
        _ => return None,
    })
}

/// The operations below `/usageplans`.
fn usage_plan_operation(method: &str, rest: &[&str]) -> Option<Operation> {
    use Operation as O;
    let own = |x: &str| x.to_string();
    Some(match (method, rest) {
        ("POST", []) => O::CreateUsagePlan,
        ("GET", []) => O::GetUsagePlans,
        ("GET", [p]) => O::GetUsagePlan { plan: own(p) },
        ("PATCH", [p]) => O::UpdateUsagePlan { plan: own(p) },
        ("DELETE", [p]) => O::DeleteUsagePlan { plan: own(p) },
        ("POST", [p, "keys"]) => O::CreateUsagePlanKey { plan: own(p) },
        ("GET", [p, "keys"]) => O::GetUsagePlanKeys { plan: own(p) },
        ("GET", [p, "keys", k]) => O::GetUsagePlanKey {
            plan: own(p),
            key: own(k),
        },
        ("DELETE", [p, "keys", k]) => O::DeleteUsagePlanKey {
            plan: own(p),
            key: own(k),
        },
        ("GET", [p, "usage"]) => O::GetUsage { plan: own(p) },
        ("PATCH", [p, "keys", k, "usage"]) => O::UpdateUsage {
            plan: own(p),
            key: own(k),
        },
        _ => return None,
    })
}

/// The operations below `/domainnames` (a base path's `/` arrives encoded as `%2F`, so a
/// multi-level base path is one segment).
fn domain_operation(method: &str, rest: &[&str]) -> Option<Operation> {
    use Operation as O;
    let own = |x: &str| x.to_string();
    Some(match (method, rest) {
        ("POST", []) => O::CreateDomainName,
        ("GET", []) => O::GetDomainNames,
        ("GET", [d]) => O::GetDomainName { domain: own(d) },
        ("PATCH", [d]) => O::UpdateDomainName { domain: own(d) },
        ("DELETE", [d]) => O::DeleteDomainName { domain: own(d) },
        ("POST", [d, "basepathmappings"]) => O::CreateBasePathMapping { domain: own(d) },
        ("GET", [d, "basepathmappings"]) => O::GetBasePathMappings { domain: own(d) },
        (m, [d, "basepathmappings", b]) => {
            let (domain, base_path) = (own(d), own(b));
            match m {
                "GET" => O::GetBasePathMapping { domain, base_path },
                "PATCH" => O::UpdateBasePathMapping { domain, base_path },
                "DELETE" => O::DeleteBasePathMapping { domain, base_path },
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// The operations below `/methods/{verb}`.
fn method_operation(method: &str, key: MethodKey, rest: &[&str]) -> Option<Operation> {
    use Operation as O;
    Some(match (method, rest) {
        ("PUT", []) => O::PutMethod(key),
        ("GET", []) => O::GetMethod(key),
        ("PATCH", []) => O::UpdateMethod(key),
        ("DELETE", []) => O::DeleteMethod(key),
        ("POST", []) => O::TestInvokeMethod(key),
        ("PUT", ["integration"]) => O::PutIntegration(key),
        ("GET", ["integration"]) => O::GetIntegration(key),
        ("PATCH", ["integration"]) => O::UpdateIntegration(key),
        ("DELETE", ["integration"]) => O::DeleteIntegration(key),
        (m, ["responses", code]) => {
            let code = code.to_string();
            match m {
                "PUT" => O::PutMethodResponse(key, code),
                "GET" => O::GetMethodResponse(key, code),
                "PATCH" => O::UpdateMethodResponse(key, code),
                "DELETE" => O::DeleteMethodResponse(key, code),
                _ => return None,
            }
        }
        (m, ["integration", "responses", code]) => {
            let code = code.to_string();
            match m {
                "PUT" => O::PutIntegrationResponse(key, code),
                "GET" => O::GetIntegrationResponse(key, code),
                "PATCH" => O::UpdateIntegrationResponse(key, code),
                "DELETE" => O::DeleteIntegrationResponse(key, code),
                _ => return None,
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Operation as O;

    fn key(verb: &str) -> MethodKey {
        MethodKey {
            api: "a1".into(),
            resource: "r1".into(),
            verb: verb.into(),
        }
    }

    #[test]
    fn rest_api_and_resource_routes() {
        assert_eq!(route("POST", "/restapis"), Some(O::CreateRestApi));
        assert_eq!(route("GET", "/restapis"), Some(O::GetRestApis));
        assert_eq!(route("GET", "/restapis/"), Some(O::GetRestApis));
        assert_eq!(
            route("PATCH", "/restapis/a1"),
            Some(O::UpdateRestApi { api: "a1".into() })
        );
        assert_eq!(
            route("POST", "/restapis/a1/resources/r1"),
            Some(O::CreateResource {
                api: "a1".into(),
                parent: "r1".into()
            })
        );
        assert_eq!(
            route("GET", "/restapis/a1/resources"),
            Some(O::GetResources { api: "a1".into() })
        );
        assert_eq!(route("POST", "/restapis/a1/resources"), None);
    }

    #[test]
    fn method_routes_upper_case_the_verb() {
        assert_eq!(
            route("PUT", "/restapis/a1/resources/r1/methods/get"),
            Some(O::PutMethod(key("GET")))
        );
        assert_eq!(
            route(
                "DELETE",
                "/restapis/a1/resources/r1/methods/ANY/integration"
            ),
            Some(O::DeleteIntegration(key("ANY")))
        );
        assert_eq!(
            route("PUT", "/restapis/a1/resources/r1/methods/GET/responses/200"),
            Some(O::PutMethodResponse(key("GET"), "200".into()))
        );
        assert_eq!(
            route(
                "GET",
                "/restapis/a1/resources/r1/methods/GET/integration/responses/404"
            ),
            Some(O::GetIntegrationResponse(key("GET"), "404".into()))
        );
        assert_eq!(
            route("POST", "/restapis/a1/resources/r1/methods/GET"),
            Some(O::TestInvokeMethod(key("GET")))
        );
        assert_eq!(
            route("POST", "/restapis/a1/resources/r1/methods/GET/integration"),
            None
        );
    }

    #[test]
    fn deployment_and_stage_routes_decode_segments() {
        assert_eq!(
            route("DELETE", "/restapis/a1/deployments/d1"),
            Some(O::DeleteDeployment {
                api: "a1".into(),
                deployment: "d1".into()
            })
        );
        assert_eq!(
            route("PATCH", "/restapis/a1/stages/my%2Dstage"),
            Some(O::UpdateStage {
                api: "a1".into(),
                stage: "my-stage".into()
            })
        );
        assert_eq!(
            route("GET", "/restapis/a1/stages"),
            Some(O::GetStages { api: "a1".into() })
        );
    }

    #[test]
    fn unknown_paths_have_no_route() {
        for (m, p) in [
            ("GET", "/"),
            ("PUT", "/apikeys"),
            ("GET", "/usageplans/p1/keys/k1/usage"),
            ("GET", "/restapis/a1/stages/prod/cache/data"),
            ("GET", "/restapis//resources"),
            ("GET", "/restapis/a1/unknown"),
            ("GET", "/restapis/%FF"),
            ("GET", "/restapis/a1/resources/r1/methods/GET/integration/x"),
            ("POST", "/account"),
            ("GET", "/tags"),
            ("GET", "/tags/arn:aws:apigateway:us-east-1::/restapis/a1"),
        ] {
            assert_eq!(route(m, p), None, "{m} {p}");
        }
        assert!(!O::GetRestApis.is_write());
        assert_eq!(route("PATCH", "/account"), Some(O::UpdateAccount));
        assert_eq!(
            route(
                "DELETE",
                "/tags/arn%3Aaws%3Aapigateway%3Aus-east-1%3A%3A%2Fapikeys%2Fk1"
            ),
            Some(O::UntagResource {
                arn: "arn:aws:apigateway:us-east-1::/apikeys/k1".into()
            })
        );
        assert!(!O::GetAccount.is_write() && O::UpdateAccount.is_write());
        assert!(O::CreateRestApi.is_write());
    }

    #[test]
    fn key_and_plan_routes() {
        use crate::admin::paging::Query;
        let own = |s: &str| s.to_string();
        assert_eq!(route("POST", "/apikeys"), Some(O::CreateApiKey));
        assert_eq!(
            route("POST", "/apikeys").map(|o| o.refine(&Query::parse("mode=import&format=csv"))),
            Some(O::ImportApiKeys)
        );
        assert_eq!(
            O::CreateApiKey.refine(&Query::parse("mode=other")),
            O::CreateApiKey
        );
        assert_eq!(
            route("PATCH", "/apikeys/k1"),
            Some(O::UpdateApiKey { key: own("k1") })
        );
        assert_eq!(
            route("GET", "/usageplans/p1/keys/k1"),
            Some(O::GetUsagePlanKey {
                plan: own("p1"),
                key: own("k1")
            })
        );
        assert_eq!(
            route("PATCH", "/usageplans/p1/keys/k1/usage"),
            Some(O::UpdateUsage {
                plan: own("p1"),
                key: own("k1")
            })
        );
        assert_eq!(
            route("GET", "/usageplans/p1/usage"),
            Some(O::GetUsage { plan: own("p1") })
        );
        assert_eq!(
            route("DELETE", "/restapis/a1/stages/prod/cache/data"),
            Some(O::FlushStageCache {
                api: own("a1"),
                stage: own("prod")
            })
        );
        assert!(!O::GetUsage { plan: own("p") }.is_write());
        assert!(O::ImportApiKeys.is_write());
    }

    #[test]
    fn openapi_routes() {
        use crate::admin::paging::Query;
        let own = |s: &str| s.to_string();
        assert_eq!(
            route("POST", "/restapis")
                .map(|o| o.refine(&Query::parse("mode=import&failonwarnings=true"))),
            Some(O::ImportRestApi)
        );
        assert_eq!(
            route("PUT", "/restapis/a1").map(|o| o.refine(&Query::parse("mode=overwrite"))),
            Some(O::PutRestApi { api: own("a1") })
        );
        assert_eq!(
            route("GET", "/restapis/a1/stages/prod/exports/oas30")
                .map(|o| o.with_accept(Some("application/yaml"))),
            Some(O::GetExport {
                api: own("a1"),
                stage: own("prod"),
                export_type: own("oas30"),
                accept: Some(own("application/yaml")),
            })
        );
        assert!(matches!(
            route("GET", "/restapis/a1/stages/prod/sdks/javascript"),
            Some(O::GetSdk { .. })
        ));
        assert!(!O::GetSdk {
            api: own("a"),
            stage: own("s"),
            sdk_type: own("t")
        }
        .is_write());
        assert_eq!(
            O::PutRestApi { api: own("a1") }.guarded_scope(),
            Some(Scope::Api(own("a1")))
        );
    }

    #[test]
    fn domain_routes_keep_an_encoded_base_path_whole() {
        let own = |s: &str| s.to_string();
        assert_eq!(route("POST", "/domainnames"), Some(O::CreateDomainName));
        assert_eq!(
            route(
                "GET",
                "/domainnames/api.example.com/basepathmappings/v1%2Fpets"
            ),
            Some(O::GetBasePathMapping {
                domain: own("api.example.com"),
                base_path: own("v1/pets")
            })
        );
        assert_eq!(
            route(
                "DELETE",
                "/domainnames/api.example.com/basepathmappings/(none)"
            ),
            Some(O::DeleteBasePathMapping {
                domain: own("api.example.com"),
                base_path: own("(none)")
            })
        );
        assert_eq!(
            route("GET", "/domainnames/a/basepathmappings/v1/pets"),
            None
        );
        assert!(!O::GetDomainNames.is_write());
        assert_eq!(
            O::UpdateDomainName {
                domain: own("API.example.com")
            }
            .guarded_scope(),
            Some(Scope::DomainName(own("api.example.com")))
        );
    }

    #[test]
    fn authorizer_routes() {
        use Operation as O;
        let (api, z) = ("a1".to_string(), "z1".to_string());
        let one = |o: fn(String, String) -> O| o(api.clone(), z.clone());
        for (verb, path, want, write) in [
            (
                "POST",
                "/restapis/a1/authorizers",
                O::CreateAuthorizer { api: api.clone() },
                true,
            ),
            (
                "GET",
                "/restapis/a1/authorizers",
                O::GetAuthorizers { api: api.clone() },
                false,
            ),
            (
                "GET",
                "/restapis/a1/authorizers/z1",
                one(|api, authorizer| O::GetAuthorizer { api, authorizer }),
                false,
            ),
            (
                "PATCH",
                "/restapis/a1/authorizers/z1",
                one(|api, authorizer| O::UpdateAuthorizer { api, authorizer }),
                true,
            ),
            (
                "DELETE",
                "/restapis/a1/authorizers/z1",
                one(|api, authorizer| O::DeleteAuthorizer { api, authorizer }),
                true,
            ),
            (
                "POST",
                "/restapis/a1/authorizers/z1",
                one(|api, authorizer| O::TestInvokeAuthorizer { api, authorizer }),
                false,
            ),
            (
                "DELETE",
                "/restapis/a1/stages/prod/cache/authorizers",
                O::FlushStageAuthorizersCache {
                    api: api.clone(),
                    stage: "prod".into(),
                },
                true,
            ),
        ] {
            let got = route(verb, path);
            assert_eq!(got.as_ref(), Some(&want), "{verb} {path}");
            assert_eq!(want.is_write(), write, "{verb} {path}");
        }
        assert_eq!(route("PUT", "/restapis/a1/authorizers/z1"), None);
        assert_eq!(
            one(|api, authorizer| O::UpdateAuthorizer { api, authorizer }).guarded_scope(),
            Some(Scope::Api(api.clone()))
        );
        assert_eq!(
            one(|api, authorizer| O::DeleteAuthorizer { api, authorizer }).removal_status(),
            Some(202)
        );
    }
}
