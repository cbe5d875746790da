//! ImportRestApi (`POST /restapis?mode=import`), PutRestApi (`PUT /restapis/{id}`,
//! `mode=merge|overwrite`) and GetExport.
//!
//! The document is read by [`crate::openapi::import`]; every piece is then built and checked
//! by the same functions as the admin operation that would create it (check_settings,
//! check_method, PutIntegration's from_input and check_integration, the response, model and
//! gateway response checks), so an import accepts exactly what those operations accept. As
//! AWS does, a method, integration, response or model that fails its check is left out with a
//! warning ("Unable to put method …") and the rest imported, unless `failonwarnings=true`,
//! which refuses the import. A method is never imported with less than the document asks of
//! it: one whose authorization cannot be served is left out whole. The result is one
//! [`Command::DefineRestApi`]: it lands whole or not at all.

use super::apikeys::query_flag;
use super::authorizers::check as check_authorizer_def;
use super::integrations::{
    check_integration, check_response as check_integration_response, check_response_for, from_input,
};
use super::methods::{check_authorizer, check_method, check_response as check_method_response};
use super::models::{check_model_among, default_models};
use super::restapis::check_settings;
use super::{check_status_code, commit, mint_id, read, read_api, Reply};
use crate::admin::error::ApiError;
use crate::admin::input::{self, PutIntegrationIn};
use crate::admin::paging::Query;
use crate::admin::wire::{self, RestApiOut};
use crate::admin::AdminState;
use crate::ids::now_epoch;
use crate::openapi::import::{BasePath, Definition, Options};
use crate::openapi::{document, export as exporter, DocError, MAX_DOCUMENT_BYTES};
use serde::Serialize;
use std::collections::BTreeMap;
use tollgate_proto::model::{
    ApiKeySource, Authorizer, AuthorizerType, GatewayResponse, Model, OrUnknown, RequestValidator,
    Resource, RestApi, RestApiSettings, DEFAULT_AUTHORIZER_TTL_SECS,
};
use tollgate_proto::Command;

/// How a document is applied to an API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A new API.
    Import,
    /// Add and replace what the document defines; keep the rest.
    Merge,
    /// Replace the API's definition with the document's (id, stages and deployments kept).
    Overwrite,
}

/// The query parameters of an import or put.
struct Params {
    options: Options,
    fail_on_warnings: bool,
    endpoint_types: Option<Vec<String>>,
}

fn params(query: &Query) -> Result<Params, ApiError> {
    let basepath = match query.get("basepath") {
        None | Some("") => BasePath::Ignore,
        Some(b) => BasePath::parse(b).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid basepath parameter specified: {b}. Must be one of: ignore, prepend, split"
            ))
        })?,
    };
    let ignore_documentation = match query.get("ignore") {
        None | Some("") => false,
        Some("documentation") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid ignore parameter specified: {other}. Must be documentation"
            )))
        }
    };
    let endpoint_types = query
        .get("endpointConfigurationTypes")
        .filter(|t| !t.is_empty())
        .map(|t| vec![t.to_string()]);
    Ok(Params {
        options: Options {
            basepath,
            ignore_documentation,
        },
        fail_on_warnings: query_flag(query, "failonwarnings"),
        endpoint_types,
    })
}

fn doc_error(e: DocError) -> ApiError {
    ApiError::bad_request(format!("Errors found during import:\n\t{e}"))
}

/// The answer: the API, with the import's warnings.
#[derive(Serialize)]
struct ImportOut {
    #[serde(flatten)]
    api: RestApiOut,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// Reads a body into a definition for API `api_id`.
fn read_document(body: &[u8], p: &Params, api_id: &str) -> Result<Definition, ApiError> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(ApiError::too_large(MAX_DOCUMENT_BYTES));
    }
    let doc = document::parse(body).map_err(unreadable)?;
    crate::openapi::import::import(&doc, &p.options, api_id).map_err(doc_error)
}

/// AWS's answer to a body that is no JSON or YAML object, whatever the cause (localstack's AWS
/// recordings: `test_import_api_bad_file`, ImportRestApi and PutRestApi, bad YAML and bad
/// JSON). What exactly was wrong goes to the node's log.
pub const UNREADABLE_DOCUMENT: &str = "Invalid OpenAPI input.";

fn unreadable(e: DocError) -> ApiError {
    tracing::info!(error = %e, "refused an API definition that could not be read");
    ApiError::bad_request(UNREADABLE_DOCUMENT)
}

/// ImportRestApi (201).
pub async fn import(state: &AdminState, query: &Query, body: &[u8]) -> Result<Reply, ApiError> {
    let p = params(query)?;
    let id = mint_id(10);
    let root = mint_id(10);
    let def = read_document(body, &p, &id)?;
    let blank = blank_api(&id, &root, now_epoch());
    let (api, warnings) = build(&blank, def, Mode::Import, &p, &mut mint_id)?;
    commit(state, Command::DefineRestApi { api, create: true }).await?;
    answer(state, &id, warnings, 201)
}

/// An API with only its root resource.
fn blank_api(id: &str, root: &str, created_date: i64) -> RestApi {
    RestApi {
        id: id.to_string(),
        created_date,
        root_resource_id: root.to_string(),
        resources: BTreeMap::from([(
            root.to_string(),
            Resource {
                id: root.to_string(),
                parent_id: None,
                path_part: String::new(),
                methods: BTreeMap::new(),
            },
        )])
        .into(),
        ..Default::default()
    }
}

/// PutRestApi (200): `mode=merge` (the default) or `overwrite`.
pub async fn put(
    state: &AdminState,
    api_id: &str,
    query: &Query,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let mode = match query.get("mode") {
        None | Some("") | Some("merge") => Mode::Merge,
        Some("overwrite") => Mode::Overwrite,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid mode specified: {other}. Must be one of: merge, overwrite"
            )))
        }
    };
    let p = params(query)?;
    // The document is checked before the API's existence, as AWS does (a bad file for an API
    // that is not there answers "Invalid OpenAPI input.").
    let def = read_document(body, &p, api_id)?;
    let current = read_api(state, api_id, |a| Ok(a.clone()))?;
    let (api, warnings) = build(&current, def, mode, &p, &mut mint_id)?;
    commit(state, Command::DefineRestApi { api, create: false }).await?;
    answer(state, api_id, warnings, 200)
}

fn answer(
    state: &AdminState,
    id: &str,
    warnings: Vec<String>,
    status: u16,
) -> Result<Reply, ApiError> {
    let mut api = read_api(state, id, |a| Ok(wire::rest_api(a)))?;
    if status == 200 {
        // PutRestApi's answer has `tags` always, `{}` when there are none; ImportRestApi's
        // (201) has none (localstack's AWS recordings: `test_put_rest_api_mode_binary_media_types`
        // "put-api", `test_import_rest_apis_with_base_path_swagger` "put-rest-api-swagger-json";
        // `test_import_rest_api` "import-api").
        api.tags.get_or_insert_with(Default::default);
    }
    Reply::json(status, &ImportOut { api, warnings })
}

/// The API's authorizers once `def` is applied: one per `x-amazon-apigateway-authorizer`
/// security scheme, named after the scheme (the id kept for a name the API had), checked as
/// CreateAuthorizer checks one; one that fails is left out with a warning (and so are the
/// methods that use it). A merge keeps the API's other authorizers; an import or overwrite
/// keeps none.
fn authorizers(
    current: &RestApi,
    def: &Definition,
    mode: Mode,
    mint: &mut dyn FnMut(usize) -> String,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, Authorizer> {
    let mut out = match mode {
        Mode::Merge => current.authorizers.clone(),
        Mode::Import | Mode::Overwrite => BTreeMap::new(),
    };
    for (name, d) in &def.authorizers {
        let id = current
            .authorizers
            .values()
            .find(|a| a.name == *name)
            .map_or_else(|| mint(6), |a| a.id.clone());
        out.retain(|_, a| a.name != *name);
        let built = AuthorizerType::parse_ignore_case(&d.kind)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Invalid authorizer type specified: {}. Must be one of: token, request, cognito_user_pools",
                    d.kind
                ))
            })
            .and_then(|kind| {
                let a = Authorizer {
                    id: id.clone(),
                    name: name.clone(),
                    kind,
                    provider_arns: d.provider_arns.clone(),
                    auth_type: d.auth_type.clone(),
                    authorizer_uri: d.authorizer_uri.clone(),
                    authorizer_credentials: d.authorizer_credentials.clone(),
                    identity_source: d.identity_source.clone(),
                    identity_validation_expression: d.identity_validation_expression.clone(),
                    authorizer_result_ttl_in_seconds: i32::try_from(
                        d.result_ttl_seconds
                            .unwrap_or(i64::from(DEFAULT_AUTHORIZER_TTL_SECS)),
                    )
                    .unwrap_or(i32::MAX),
                };
                check_authorizer_def(&a).map(|()| a)
            });
        match built {
            Ok(a) => {
                out.insert(id, a);
            }
            Err(e) => warnings.push(format!(
                "Unable to create authorizer '{name}': {}",
                e.message
            )),
        }
    }
    out
}

/// The API that results from applying `def` to `current` (a blank API for an import), and
/// the warnings. `mint` makes new ids.
fn build(
    current: &RestApi,
    def: Definition,
    mode: Mode,
    p: &Params,
    mint: &mut dyn FnMut(usize) -> String,
) -> Result<(RestApi, Vec<String>), ApiError> {
    let mut warnings = def.warnings.clone();
    let mut api = current.clone();
    api.settings = settings(&current.settings, &def, mode, p)?;
    // Models: an import starts with AWS's defaults; an overwrite keeps none of the old.
    let mut models: BTreeMap<String, Model> = match mode {
        Mode::Merge => current.models.clone(),
        Mode::Import | Mode::Overwrite => BTreeMap::new(),
    };
    if mode == Mode::Import {
        for (name, description, schema) in default_models() {
            models.insert(
                name.to_string(),
                Model {
                    id: mint(6),
                    name: name.into(),
                    description: Some(description.into()),
                    schema: Some(schema.into()),
                    content_type: "application/json".into(),
                },
            );
        }
    }
    for (name, m) in &def.models {
        let id = current
            .models
            .get(name)
            .map_or_else(|| mint(6), |old| old.id.clone());
        models.insert(
            name.clone(),
            Model {
                id,
                name: name.clone(),
                description: m.description.clone(),
                schema: Some(m.schema.clone()),
                content_type: "application/json".into(),
            },
        );
    }
    // Each document model is compiled against all the others (they may refer to each other).
    let all = models.clone();
    for name in def.models.keys() {
        if let Some(m) = all.get(name) {
            if let Err(e) = check_model_among(&api.id, m, &all) {
                warnings.push(format!("Unable to create model '{name}': {}", e.message));
                models.remove(name);
            }
        }
    }
    api.models = models;
    // Request validators, by name in the document; ids kept for names the API had.
    let mut validators: BTreeMap<String, RequestValidator> = match mode {
        Mode::Merge => current.request_validators.clone(),
        Mode::Import | Mode::Overwrite => BTreeMap::new(),
    };
    for (name, (body, params)) in &def.validators {
        let id = current
            .request_validators
            .values()
            .find(|v| v.name == *name)
            .map_or_else(|| mint(6), |v| v.id.clone());
        validators.retain(|_, v| v.name != *name);
        validators.insert(
            id.clone(),
            RequestValidator {
                id,
                name: name.clone(),
                validate_request_body: *body,
                validate_request_parameters: *params,
            },
        );
    }
    api.request_validators = validators;
    api.authorizers = authorizers(current, &def, mode, mint, &mut warnings);
    // Gateway responses.
    if mode != Mode::Merge {
        api.gateway_responses.clear();
    }
    for (t, g) in &def.gateway_responses {
        let r = super::gateway_responses::response_type(t).and_then(|t| {
            let r = GatewayResponse {
                response_type: t,
                status_code: g.status_code.clone(),
                response_parameters: g.response_parameters.clone(),
                response_templates: g.response_templates.clone(),
            };
            super::gateway_responses::check(&r).map(|()| r)
        });
        match r {
            Ok(r) => {
                api.gateway_responses.insert(r.response_type, r);
            }
            Err(e) => warnings.push(format!(
                "Unable to put gateway response '{t}': {}",
                e.message
            )),
        }
    }
    // Resources: an overwrite keeps only the root (and the ids of paths the document keeps).
    let old_ids: BTreeMap<String, String> = current
        .resources
        .keys()
        .filter_map(|id| Some((RestApi::resource_path(&current.resources, id)?, id.clone())))
        .collect();
    if mode == Mode::Overwrite {
        api.resources.retain(|id, _| *id == api.root_resource_id);
        if let Some(root) = api.resources.get_mut(&api.root_resource_id) {
            root.methods.clear();
        }
    }
    for (path, ops) in def.paths {
        let resource_id = ensure_path(&mut api, &path, &old_ids, mint)?;
        for (verb, op) in ops {
            let where_ = format!("'{verb}' on resource at path '{path}'");
            let mut m = op.method;
            if let Some(name) = m.request_validator_id.take() {
                let id = api
                    .request_validators
                    .values()
                    .find(|v| v.name == name)
                    .map(|v| v.id.clone())
                    .ok_or_else(|| {
                        doc_error(DocError::at(
                            op.location.clone(),
                            format!("Request validator '{name}' is not defined in x-amazon-apigateway-request-validators"),
                        ))
                    })?;
                m.request_validator_id = Some(id);
            }
            // The document names an authorizer by its security scheme: the method takes the
            // id of the authorizer made from it. One whose authorizer was not made fails the
            // check, and is left out rather than served unprotected.
            if let Some(scheme) = m.authorizer_id.take() {
                m.authorizer_id = Some(
                    api.authorizers
                        .values()
                        .find(|a| a.name == scheme)
                        .map_or(scheme, |a| a.id.clone()),
                );
            }
            if let Err(e) = check_method(&m).and_then(|()| check_authorizer(&api, &m)) {
                warnings.push(format!("Unable to put method {where_}: {}", e.message));
                continue;
            }
            let named: Vec<String> = m.request_models.values().cloned().collect();
            for model in named.iter().filter(|n| !api.models.contains_key(*n)) {
                warnings.push(format!(
                    "Ignoring the request model '{model}' of {where_}: the model was not imported"
                ));
            }
            m.request_models.retain(|_, n| api.models.contains_key(n));
            let models = &api.models;
            m.method_responses.retain(|code, r| {
                r.response_models.retain(|_, n| models.contains_key(n));
                match check_status_code(code).and_then(|()| check_method_response(r)) {
                    Ok(()) => true,
                    Err(e) => {
                        warnings.push(format!(
                            "Unable to put method response {code} of {where_}: {}",
                            e.message
                        ));
                        false
                    }
                }
            });
            if let Some(body) = op.integration {
                let built = serde_json::to_vec(&body)
                    .map_err(|e| ApiError::internal(e.to_string()))
                    .and_then(|b| input::parse::<PutIntegrationIn>(&b))
                    .and_then(|i| from_input(i, &resource_id))
                    .and_then(|i| check_integration(&i).map(|()| i));
                match built {
                    Ok(mut i) => {
                        let kind = i.kind;
                        for r in op.integration_responses {
                            let code = r.status_code.clone();
                            let ok = check_status_code(&code)
                                .and_then(|()| check_integration_response(&r))
                                .and_then(|()| check_response_for(kind, &r));
                            match ok {
                                Err(e) => warnings.push(format!(
                                    "Unable to put integration response {code} on {where_}: {}",
                                    e.message
                                )),
                                Ok(()) if i.integration_responses.contains_key(&code) => warnings.push(format!(
                                    "Unable to put integration response {code} on {where_}: another response of the integration already has status {code}"
                                )),
                                Ok(()) => {
                                    i.integration_responses.insert(code, Box::new(r));
                                }
                            }
                        }
                        m.integration = Some(i);
                    }
                    Err(e) => warnings.push(format!(
                        "Unable to put integration on '{verb}' for resource at path '{path}': {}",
                        e.message
                    )),
                }
            }
            if let Some(r) = api.resources.get_mut(&resource_id) {
                r.methods.insert(verb, Box::new(m));
            }
        }
    }
    // Refused here rather than by the state machine, so a document over the quota never
    // reaches the log.
    if api.resources.len() > tollgate_proto::registry::MAX_RESOURCES_PER_API {
        return Err(ApiError::bad_request(format!(
            "Errors found during import:\n\tThe document defines {} resources; an API may have at most {}",
            api.resources.len(),
            tollgate_proto::registry::MAX_RESOURCES_PER_API
        )));
    }
    if p.fail_on_warnings && !warnings.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Warnings found during import (failonwarnings=true):\n\t{}",
            warnings.join("\n\t")
        )));
    }
    Ok((api, warnings))
}

/// The API's settings after the document: an import or overwrite takes the document's, a
/// merge only what the document sets. Tags are added to.
fn settings(
    current: &RestApiSettings,
    def: &Definition,
    mode: Mode,
    p: &Params,
) -> Result<RestApiSettings, ApiError> {
    let merge = mode == Mode::Merge;
    let keep = |new: &Option<String>, old: &Option<String>| {
        if merge && new.is_none() {
            old.clone()
        } else {
            new.clone()
        }
    };
    let mut tags = current.tags.clone();
    tags.extend(def.tags.clone());
    let endpoint_types = p
        .endpoint_types
        .clone()
        .or_else(|| def.endpoint_types.clone())
        .or_else(|| (!current.endpoint_types.is_empty()).then(|| current.endpoint_types.clone()))
        .unwrap_or_else(|| vec!["EDGE".into()]);
    let s = RestApiSettings {
        name: def.name.clone(),
        description: keep(&def.description, &current.description),
        version: keep(&def.version, &current.version),
        api_key_source: match &def.api_key_source {
            Some(s) => OrUnknown::from_name(s),
            None if merge => current.api_key_source.clone(),
            None => ApiKeySource::Header.into(),
        },
        endpoint_types,
        binary_media_types: if merge {
            let mut all = current.binary_media_types.clone();
            for t in &def.binary_media_types {
                if !all.contains(t) {
                    all.push(t.clone());
                }
            }
            all
        } else {
            def.binary_media_types.clone()
        },
        minimum_compression_size: if merge && def.minimum_compression_size.is_none() {
            current.minimum_compression_size
        } else {
            def.minimum_compression_size
        },
        disable_execute_api_endpoint: def
            .disable_execute_api_endpoint
            .unwrap_or(current.disable_execute_api_endpoint),
        tags,
        policy: keep(&def.policy, &current.policy),
        ip_address_type: current.ip_address_type.clone(),
    };
    check_settings(&s)?;
    Ok(s)
}

/// The id of the resource at `path`, creating it and its missing ancestors (ids of paths the
/// API had before are kept).
fn ensure_path(
    api: &mut RestApi,
    path: &str,
    old_ids: &BTreeMap<String, String>,
    mint: &mut dyn FnMut(usize) -> String,
) -> Result<String, ApiError> {
    let mut parent = api.root_resource_id.clone();
    let mut so_far = String::new();
    for part in path.split('/').filter(|s| !s.is_empty()) {
        so_far.push('/');
        so_far.push_str(part);
        let existing = api
            .resources
            .values()
            .find(|r| r.parent_id.as_deref() == Some(parent.as_str()) && r.path_part == part)
            .map(|r| r.id.clone());
        parent = match existing {
            Some(id) => id,
            None => {
                let id = old_ids
                    .get(&so_far)
                    .filter(|id| !api.resources.contains_key(*id))
                    .cloned()
                    .unwrap_or_else(|| mint(10));
                api.resources.insert(
                    id.clone(),
                    Resource {
                        id: id.clone(),
                        parent_id: Some(parent.clone()),
                        path_part: part.to_string(),
                        methods: BTreeMap::new(),
                    },
                );
                id
            }
        };
    }
    Ok(parent)
}

/// GetExport: the stage's deployment as a Swagger 2.0 (`swagger`) or OpenAPI 3.0 (`oas30`)
/// document, JSON or YAML by `Accept`.
pub fn export(
    state: &AdminState,
    api_id: &str,
    stage: &str,
    export_type: &str,
    accept: Option<&str>,
    query: &Query,
) -> Result<Reply, ApiError> {
    let flavour = match export_type {
        "swagger" => exporter::Flavour::Swagger2,
        "oas30" => exporter::Flavour::OpenApi3,
        other => {
            return Err(ApiError::bad_request(format!(
                "Invalid export type specified: {other}. Must be one of: swagger, oas30"
            )))
        }
    };
    // AWS answers a JSON export as `application/octet-stream` (localstack's AWS recordings,
    // `test_apigateway_extended` `test_export_swagger_openapi` and `test_export_oas30_openapi`
    // "get-export": `contentType`), to boto3, which always sends `Accept: application/json`
    // (botocore's `add_accept_header`).
    let yaml = match accept.map(str::trim) {
        None | Some("") | Some("*/*") | Some("application/json") => false,
        Some("application/yaml") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid accept header specified: {other}. Must be application/json or application/yaml"
            )))
        }
    };
    let extensions = exporter::Extensions::parse(query.get("extensions").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let region = state.region.clone().unwrap_or_else(|| "us-east-1".into());
    if extensions.postman {
        if yaml {
            return Err(ApiError::bad_request(
                "A Postman collection is exported as JSON only: use Accept: application/json",
            ));
        }
        let collection = read(state, |reg| {
            reg.api(api_id)?;
            let (_, deployment) = reg.deployed_stage(api_id, stage).ok_or_else(|| {
                ApiError::not_found(format!("Invalid stage identifier specified: {stage}"))
            })?;
            Ok(crate::openapi::postman::collection(
                reg.api(api_id)?,
                deployment,
                &super::sdk::invoke_url(state, api_id, stage),
                &region,
            ))
        })?;
        return Ok(Reply {
            status: 200,
            body: serde_json::to_vec_pretty(&collection)
                .map_err(|e| ApiError::internal(e.to_string()))?,
            content_type: Some("application/octet-stream"),
            attachment: Some(export_file_name(
                export_type,
                "json",
                None,
                crate::ids::now_epoch(),
            )),
        });
    }
    let (doc, version) = read(state, |reg| {
        let api = reg.api(api_id)?;
        let (_, deployment) = reg.deployed_stage(api_id, stage).ok_or_else(|| {
            ApiError::not_found(format!("Invalid stage identifier specified: {stage}"))
        })?;
        Ok((
            exporter::export(
                api,
                stage,
                deployment,
                &exporter::Target {
                    flavour,
                    extensions,
                    host: format!("{api_id}.execute-api.{region}.amazonaws.com"),
                },
            ),
            api.settings.version.clone(),
        ))
    })?;
    let (body, content_type) = if yaml {
        (
            document::to_yaml(&doc)
                .map_err(|e| ApiError::internal(format!("could not write YAML: {e}")))?
                .into_bytes(),
            "application/yaml",
        )
    } else {
        (
            serde_json::to_vec_pretty(&doc).map_err(|e| ApiError::internal(e.to_string()))?,
            "application/octet-stream",
        )
    };
    let extension = if yaml { "yaml" } else { "json" };
    Ok(Reply {
        status: 200,
        body,
        content_type: Some(content_type),
        attachment: Some(export_file_name(
            export_type,
            extension,
            version.as_deref(),
            crate::ids::now_epoch(),
        )),
    })
}

/// GetExport's `Content-Disposition` file name, as AWS names it: after the API's version
/// when it has one (`swagger_1.0.0.json`, recorded in `test_export_swagger_openapi`
/// [TEST_IMPORT_PETS] "get-export"), else after the time (`oas30_2016-05-18T20:51:07Z.json`).
fn export_file_name(
    export_type: &str,
    extension: &str,
    version: Option<&str>,
    epoch: i64,
) -> String {
    // Only a version that is safe inside the header's quotes names the file.
    let safe = |v: &&str| {
        !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    if let Some(v) = version.filter(safe) {
        return format!("{export_type}_{v}.{extension}");
    }
    // `20160518T205107Z`
    let d = crate::sigv4::format_amz_date(epoch);
    format!(
        "{export_type}_{}-{}-{}T{}:{}:{}Z.{extension}",
        &d[..4],
        &d[4..6],
        &d[6..8],
        &d[9..11],
        &d[11..13],
        &d[13..15]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use tollgate_proto::model::{AuthorizationType, Deployment, Method};

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/data/openapi/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(path).unwrap()
    }

    #[test]
    fn unreadable_documents_get_awss_words() {
        // import / test_import_api_bad_file: import-api-bad-yaml-file, import-api-bad-json-file
        // (PutRestApi's put-rest-api-bad-* are the same, for an API that does not exist).
        let bad_yaml = "test:\n    value:\n        - \"value ... \"escaped\": $var, \"dt\": $(var +\"%a\")}\"\n        ";
        let p = super::params(&Query::parse("")).unwrap();
        for body in [bad_yaml, "{'key:value}", "[1, 2]", "plain words"] {
            let e = read_document(body.as_bytes(), &p, "a1")
                .map(|_| ())
                .unwrap_err();
            assert_eq!(
                (e.status, e.error_type, e.message.as_str()),
                (400, "BadRequestException", "Invalid OpenAPI input."),
                "{body}"
            );
        }
        // A readable document with a wrong part still names what is wrong.
        let e = read_document(br#"{"swagger": "2.0", "paths": 3}"#, &p, "a1")
            .map(|_| ())
            .unwrap_err();
        assert!(
            e.message.starts_with("Errors found during import:"),
            "{}",
            e.message
        );
    }

    #[test]
    fn exports_are_named_as_aws_names_them() {
        assert_eq!(
            export_file_name("oas30", "json", None, 1_463_604_667),
            "oas30_2016-05-18T20:51:07Z.json"
        );
        assert_eq!(
            export_file_name("swagger", "json", Some("1.0.0"), 1_463_604_667),
            "swagger_1.0.0.json"
        );
        // A version that would break the header's quotes is not used.
        assert_eq!(
            export_file_name("swagger", "yaml", Some("v\"1"), 1_463_604_667),
            "swagger_2016-05-18T20:51:07Z.yaml"
        );
    }

    const FIXTURES: [&str; 5] = [
        "petstore-tollgate.yaml",
        "petstore-swagger.json",
        "pets.json",
        "openapi-mock.json",
        "authorizers.yaml",
    ];

    fn params(query: &str) -> Params {
        super::params(&Query::parse(query)).unwrap()
    }

    fn counter() -> impl FnMut(usize) -> String {
        let mut n = 0;
        move |len| {
            n += 1;
            format!("{n:0len$}")
        }
    }

    fn import_doc(api: &str, body: &[u8], query: &str) -> Result<(RestApi, Vec<String>), ApiError> {
        let p = params(query);
        let def = read_document(body, &p, api)?;
        build(
            &blank_api(api, "root", 1),
            def,
            Mode::Import,
            &p,
            &mut counter(),
        )
    }

    /// What an API defines, without its ids: paths, methods (validators by name), models
    /// (schemas parsed, without `$schema`), validators, gateway responses, settings.
    fn normalised(api: &RestApi) -> Value {
        let mut paths = serde_json::Map::new();
        for id in api.resources.keys() {
            let path = RestApi::resource_path(&api.resources, id).unwrap();
            let mut methods = serde_json::Map::new();
            for (verb, m) in &api.resources[id].methods {
                let mut m = m.clone();
                m.request_validator_id = m
                    .request_validator_id
                    .map(|v| api.request_validators[&v].name.clone());
                m.authorizer_id = m.authorizer_id.map(|a| api.authorizers[&a].name.clone());
                methods.insert(verb.clone(), json!(format!("{m:?}")));
            }
            paths.insert(path, Value::Object(methods));
        }
        let models: BTreeMap<String, Value> = api
            .models
            .values()
            .map(|m| {
                let mut v: Value =
                    serde_json::from_str(m.schema.as_deref().unwrap_or("{}")).unwrap();
                v.as_object_mut().map(|o| o.remove("$schema"));
                (m.name.clone(), v)
            })
            .collect();
        let validators: Vec<String> = api
            .request_validators
            .values()
            .map(|v| {
                format!(
                    "{} {} {}",
                    v.name, v.validate_request_body, v.validate_request_parameters
                )
            })
            .collect();
        // An API without a version is exported with its deployment's date as the version
        // (OpenAPI requires one), checked apart.
        let mut settings = api.settings.clone();
        settings.version = None;
        let authorizers: Vec<String> = api
            .authorizers
            .values()
            .map(|a| {
                let mut a = a.clone();
                a.id = String::new();
                format!("{a:?}")
            })
            .collect();
        json!({
            "authorizers": authorizers,
            "settings": format!("{settings:?}"),
            "paths": paths,
            "models": models,
            "validators": validators,
            "gateway_responses": format!("{:?}", api.gateway_responses),
        })
    }

    fn deploy(api: &RestApi) -> Deployment {
        Deployment {
            id: "dep1".into(),
            created_date: 2,
            root_resource_id: api.root_resource_id.clone(),
            resources: api.resources.clone(),
            gateway_responses: api.gateway_responses.clone(),
            models: api.models.clone(),
            request_validators: api.request_validators.clone(),
            authorizers: api.authorizers.clone(),
            ..Default::default()
        }
    }

    #[test]
    fn export_then_import_gives_the_same_api_for_every_fixture() {
        for name in FIXTURES {
            let (api, _) = import_doc("api1", &fixture(name), "").unwrap();
            assert!(
                api.resources.values().any(|r| !r.methods.is_empty()),
                "{name}: no method imported"
            );
            for flavour in [exporter::Flavour::Swagger2, exporter::Flavour::OpenApi3] {
                let target = exporter::Target {
                    flavour,
                    extensions: exporter::Extensions::parse("apigateway").unwrap(),
                    host: "api1.execute-api.us-east-1.amazonaws.com".into(),
                };
                let doc = exporter::export(&api, "prod", &deploy(&api), &target);
                for bytes in [
                    serde_json::to_vec(&doc).unwrap(),
                    document::to_yaml(&doc).unwrap().into_bytes(),
                ] {
                    let (again, warnings) = import_doc("api1", &bytes, "").unwrap();
                    let version = api.settings.version.clone().unwrap_or_else(|| "2".into());
                    assert_eq!(again.settings.version, Some(version));
                    let (a, b) = (normalised(&again), normalised(&api));
                    for key in [
                        "authorizers",
                        "settings",
                        "paths",
                        "models",
                        "validators",
                        "gateway_responses",
                    ] {
                        assert_eq!(
                            a[key], b[key],
                            "{name} through {flavour:?}: {key} {warnings:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_petstore_imports_whole_without_warnings() {
        let (api, warnings) = import_doc("api1", &fixture("petstore-tollgate.yaml"), "").unwrap();
        assert_eq!(warnings, Vec::<String>::new());
        let paths: Vec<String> = api
            .resources
            .keys()
            .map(|id| RestApi::resource_path(&api.resources, id).unwrap())
            .collect();
        for p in ["/", "/pets", "/pets/{petId}", "/store", "/store/{proxy+}"] {
            assert!(paths.contains(&p.to_string()), "{p} in {paths:?}");
        }
        let by_path = |p: &str| {
            api.resources
                .values()
                .find(|r| RestApi::resource_path(&api.resources, &r.id).as_deref() == Some(p))
                .unwrap()
        };
        let post = &by_path("/pets").methods["POST"];
        assert!(
            post.api_key_required,
            "api_key security scheme → apiKeyRequired"
        );
        assert_eq!(post.request_models["application/json"], "NewPet");
        let v = &api.request_validators[post.request_validator_id.as_ref().unwrap()];
        assert!(v.name == "all" && v.validate_request_body);
        let get = &by_path("/pets").methods["GET"];
        assert!(!get.api_key_required);
        assert!(!get.request_parameters["method.request.querystring.type"]);
        let i = get.integration.as_ref().unwrap();
        assert_eq!(i.kind.as_str(), "HTTP_PROXY");
        assert_eq!(i.timeout_in_millis, 5000);
        assert_eq!(i.passthrough_behavior.as_deref(), Some("WHEN_NO_MATCH"));
        let pet = &by_path("/pets/{petId}").methods["GET"];
        let i = pet.integration.as_ref().unwrap();
        assert_eq!(
            i.integration_responses["404"].selection_pattern.as_deref(),
            Some("404")
        );
        assert_eq!(i.integration_responses["200"].selection_pattern, None);
        assert!(by_path("/store/{proxy+}").methods.contains_key("ANY"));
        assert_eq!(api.settings.binary_media_types, ["image/png"]);
        assert_eq!(api.settings.tags["team"], "pets");
        assert!(api.gateway_responses.len() == 1);
        assert!(api.models.contains_key("Empty") && api.models.contains_key("Pet"));
        assert!(api.models["Pets"]
            .schema
            .as_deref()
            .unwrap()
            .contains("https://apigateway.amazonaws.com/restapis/api1/models/Pet\""));
        // basepath=prepend puts the server path in front; split drops its first segment.
        let (api, _) = import_doc(
            "api1",
            &fixture("petstore-tollgate.yaml"),
            "basepath=prepend",
        )
        .unwrap();
        assert!(api.resources.values().any(|r| r.path_part == "v1"));
        let (api, _) =
            import_doc("api1", &fixture("petstore-tollgate.yaml"), "basepath=split").unwrap();
        assert!(!api.resources.values().any(|r| r.path_part == "v1"));
    }

    #[test]
    fn what_the_admin_api_refuses_is_a_warning_or_with_failonwarnings_an_error() {
        // LocalStack's pets.json: HTTP (non-proxy) integrations, served.
        let (api, warnings) = import_doc("api1", &fixture("pets.json"), "").unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(api
            .resources
            .values()
            .flat_map(|r| r.methods.values())
            .all(|m| m
                .integration
                .as_ref()
                .is_some_and(|i| i.kind.as_str() == "HTTP")));
        // AWS integrations of other services than Lambda, which PutIntegration refuses.
        let integration = json!({"type": "aws", "httpMethod": "POST",
            "uri": "arn:aws:apigateway:us-east-1:sqs:path/1/q",
            "responses": {"default": {"statusCode": "200"}}});
        let doc = serde_json::to_vec(&json!({
            "openapi": "3.0.1",
            "info": {"title": "aws", "version": "1"},
            "paths": {
                "/pets": {"get": {"x-amazon-apigateway-integration": integration}},
                "/pets/{petId}": {"get": {"x-amazon-apigateway-integration": integration}},
            }
        }))
        .unwrap();
        let (api, warnings) = import_doc("api1", &doc, "").unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0]
                .starts_with("Unable to put integration on 'GET' for resource at path '/pets"),
            "{warnings:?}"
        );
        assert!(warnings[0]
            .contains("AWS integrations with the sqs service are not supported by this gateway"));
        // The methods are there, without an integration (the data plane answers them 500).
        let methods: Vec<&tollgate_proto::model::Method> = api
            .resources
            .values()
            .flat_map(|r| r.methods.values().map(|m| &**m))
            .collect();
        assert_eq!(methods.len(), 2);
        assert!(methods.iter().all(|m| m.integration.is_none()));
        let e = import_doc("api1", &doc, "failonwarnings=true").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message
                .contains("AWS integrations with the sqs service are not supported"),
            "{}",
            e.message
        );
        // Documentation is warned about unless ignored.
        let (_, w) = import_doc("api1", &fixture("petstore-swagger.json"), "").unwrap();
        assert!(w
            .iter()
            .any(|w| w.contains("x-amazon-apigateway-documentation")));
        let (_, w) = import_doc(
            "api1",
            &fixture("petstore-swagger.json"),
            "ignore=documentation",
        )
        .unwrap();
        assert!(!w
            .iter()
            .any(|w| w.contains("x-amazon-apigateway-documentation")));
    }

    #[test]
    fn a_method_whose_authorization_cannot_be_served_is_left_out_whole() {
        let doc = json!({
            "openapi": "3.0.1",
            "info": {"title": "auth", "version": "1"},
            "components": {"securitySchemes": {
                "lambda": {"type": "apiKey", "name": "Authorization", "in": "header",
                    "x-amazon-apigateway-authtype": "custom",
                    "x-amazon-apigateway-authorizer": {"type": "token", "authorizerUri": "arn:x"}},
                "iam": {"type": "apiKey", "name": "Authorization", "in": "header",
                    "x-amazon-apigateway-authtype": "awsSigv4"}}},
            "paths": {
                "/locked": {"get": {"security": [{"lambda": []}], "responses": {},
                    "x-amazon-apigateway-integration": {"type": "mock"}}},
                "/signed": {"get": {"security": [{"iam": []}], "responses": {},
                    "x-amazon-apigateway-integration": {"type": "mock"}}}
            }
        });
        let (api, warnings) = import_doc("api1", doc.to_string().as_bytes(), "").unwrap();
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("Unable to put method 'GET' on resource at path '/locked'")),
            "{warnings:?}"
        );
        let methods: Vec<&tollgate_proto::model::Method> = api
            .resources
            .values()
            .flat_map(|r| r.methods.values().map(|m| &**m))
            .collect();
        assert_eq!(methods.len(), 1, "only /signed");
        assert_eq!(methods[0].authorization_type.as_str(), "AWS_IAM");
    }

    #[test]
    fn authorizer_schemes_become_authorizers_and_protect_their_methods() {
        let (api, warnings) = import_doc("api1", &fixture("authorizers.yaml"), "").unwrap();
        let by_name = |n: &str| api.authorizers.values().find(|a| a.name == n).unwrap();
        let token = by_name("tokenAuth");
        assert_eq!(token.kind, AuthorizerType::Token);
        assert_eq!(
            token.identity_source.as_deref(),
            Some("method.request.header.x-token")
        );
        assert_eq!(
            token.identity_validation_expression.as_deref(),
            Some("^Bearer .+$")
        );
        assert_eq!(token.authorizer_result_ttl_in_seconds, 60);
        assert_eq!(token.auth_type.as_deref(), Some("custom"));
        let request = by_name("requestAuth");
        assert_eq!(request.kind, AuthorizerType::Request);
        assert_eq!(request.authorizer_result_ttl_in_seconds, 0);
        // The Cognito user pool authorizer reads the scheme's header; its method uses it.
        assert_eq!(api.authorizers.len(), 3, "{warnings:?}");
        let pool = by_name("poolAuth");
        assert_eq!(pool.kind, AuthorizerType::CognitoUserPools);
        assert_eq!(
            pool.identity_source.as_deref(),
            Some("method.request.header.Authorization")
        );
        let method = |p: &str| {
            api.resources
                .values()
                .find(|r| RestApi::resource_path(&api.resources, &r.id).as_deref() == Some(p))
                .and_then(|r| r.methods.get("GET"))
        };
        let m = method("/cognito").unwrap();
        assert_eq!(m.authorization_type, AuthorizationType::CognitoUserPools);
        assert_eq!(m.authorizer_id.as_deref(), Some(pool.id.as_str()));
        let m = method("/token").unwrap();
        assert_eq!(m.authorization_type, AuthorizationType::Custom);
        assert_eq!(m.authorizer_id.as_deref(), Some(token.id.as_str()));
        let m = method("/request").unwrap();
        assert_eq!(m.authorizer_id.as_deref(), Some(request.id.as_str()));
        assert_eq!(
            method("/open").unwrap().authorization_type,
            AuthorizationType::None
        );
        // Every scheme is served: nothing to warn about, so failonwarnings imports it too.
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(import_doc("api1", &fixture("authorizers.yaml"), "failonwarnings=true").is_ok());

        // Exported without the authorizers' definitions, the methods that need them are not
        // imported back unprotected: they are left out.
        let target = exporter::Target {
            flavour: exporter::Flavour::OpenApi3,
            extensions: exporter::Extensions::parse("integrations").unwrap(),
            host: "api1.execute-api.us-east-1.amazonaws.com".into(),
        };
        let doc = exporter::export(&api, "prod", &deploy(&api), &target);
        assert_eq!(
            doc["components"]["securitySchemes"]["tokenAuth"],
            json!({"type": "apiKey", "name": "x-token", "in": "header",
                   "x-amazon-apigateway-authtype": "custom"})
        );
        assert_eq!(
            doc["paths"]["/token"]["get"]["security"],
            json!([{"tokenAuth": []}])
        );
        let (again, warnings) = import_doc("api1", doc.to_string().as_bytes(), "").unwrap();
        assert!(again.authorizers.is_empty());
        let methods: Vec<&Method> = again
            .resources
            .values()
            .flat_map(|r| r.methods.values().map(|m| &**m))
            .collect();
        assert_eq!(methods.len(), 2, "/open and /cognito POST: {warnings:?}");
        assert!(methods
            .iter()
            .all(|m| m.authorization_type == AuthorizationType::None));

        // A merge keeps an authorizer's id by name.
        let (merged, _) = build(
            &api,
            read_document(&fixture("authorizers.yaml"), &params(""), "api1").unwrap(),
            Mode::Merge,
            &params(""),
            &mut |_| "fresh".to_string(),
        )
        .unwrap();
        assert_eq!(merged.authorizers, api.authorizers);
    }

    #[test]
    fn integrations_go_through_put_integrations_own_checks() {
        let doc = json!({"swagger": "2.0", "info": {"title": "t"}, "paths": {
            "/tls": {"get": {"responses": {}, "x-amazon-apigateway-integration": {
                "type": "http_proxy", "httpMethod": "GET", "uri": "http://b/x",
                "tlsConfig": {"serverNameToVerify": "b"}}}},
            "/vpc": {"get": {"responses": {}, "x-amazon-apigateway-integration": {
                "type": "http_proxy", "httpMethod": "GET", "uri": "http://b/x",
                "connectionType": "vpc_link", "connectionId": "abc"}}},
            "/mock": {"get": {"responses": {"200": {"description": "ok"}},
                "x-amazon-apigateway-integration": {"type": "mock",
                    "requestTemplates": {"application/json": "#if(oops"},
                    "responses": {"default": {"statusCode": "200",
                        "responseParameters": {"method.response.header.X": "integration.response.header.Y"}}}}}}
        }});
        let (api, warnings) = import_doc("api1", doc.to_string().as_bytes(), "").unwrap();
        let joined = warnings.join("\n");
        for needle in [
            "Unable to put integration on 'GET' for resource at path '/tls': Invalid tlsConfig: unknown field serverNameToVerify",
            "Unable to put integration on 'GET' for resource at path '/vpc': VPC links are not supported",
            "Unable to put integration on 'GET' for resource at path '/mock': Invalid mapping expression specified",
        ] {
            assert!(joined.contains(needle), "{needle}: {joined}");
        }
        assert!(api
            .resources
            .values()
            .flat_map(|r| r.methods.values())
            .all(|m| m.integration.is_none()));
        // A good integration with a response the admin API refuses keeps the integration
        // and leaves the response out.
        let doc = json!({"swagger": "2.0", "info": {"title": "t"}, "paths": {
            "/mock": {"get": {"responses": {"200": {"description": "ok"}},
                "x-amazon-apigateway-integration": {"type": "mock",
                    "responses": {"default": {"statusCode": "200",
                        "responseParameters": {"method.response.header.X": "integration.response.header.Y"}}}}}}}});
        let (api, warnings) = import_doc("api1", doc.to_string().as_bytes(), "").unwrap();
        assert!(warnings[0].starts_with("Unable to put integration response 200 on 'GET' on resource at path '/mock': Invalid mapping expression specified"), "{warnings:?}");
        let m = api
            .resources
            .values()
            .flat_map(|r| r.methods.values())
            .next()
            .unwrap();
        assert!(m
            .integration
            .as_ref()
            .unwrap()
            .integration_responses
            .is_empty());
    }

    #[test]
    fn invalid_documents_are_refused_with_where() {
        for (doc, needle) in [
            (
                json!({"swagger": "2.0", "info": {"title": "x"}, "paths": {"pets": {}}}),
                "paths.'pets'",
            ),
            (
                json!({"openapi": "3.0.0", "info": {}, "paths": {}}),
                "info.title",
            ),
            (
                json!({"info": {"title": "x"}, "paths": {}}),
                "neither Swagger 2.0",
            ),
            (
                json!({"swagger": "2.0", "info": {"title": "x"}, "paths": {"/a/{b+}/c": {}}}),
                "greedy",
            ),
            (
                json!({"swagger": "2.0", "info": {"title": "x"}, "paths": {"/a": {"get": {"parameters": [{"in": "query"}]}}}}),
                "paths.'/a'.get.parameters[0].name",
            ),
            (
                json!({"swagger": "2.0", "info": {"title": "x"}, "paths": {"/a": {"get": {"x-amazon-apigateway-request-validator": "nope"}}}}),
                "Request validator 'nope'",
            ),
        ] {
            let e = import_doc("api1", doc.to_string().as_bytes(), "").unwrap_err();
            assert_eq!(e.status, 400);
            assert!(
                e.message.starts_with("Errors found during import:"),
                "{}",
                e.message
            );
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        }
        let e = import_doc("api1", &vec![b' '; MAX_DOCUMENT_BYTES + 1], "").unwrap_err();
        assert_eq!(e.status, 413);
        assert!(super::params(&Query::parse("basepath=up")).is_err());
    }

    #[test]
    fn merge_keeps_what_the_document_does_not_name_and_overwrite_replaces_it() {
        let (api, _) = import_doc("api1", &fixture("petstore-tollgate.yaml"), "").unwrap();
        let pets_id = api
            .resources
            .values()
            .find(|r| r.path_part == "pets")
            .unwrap()
            .id
            .clone();
        let extra = json!({"swagger": "2.0", "info": {"title": "PetStore v2"},
        "paths": {
            "/toys": {"get": {"responses": {"200": {"description": "ok"}},
                "x-amazon-apigateway-integration": {"type": "mock",
                    "requestTemplates": {"application/json": "{\"statusCode\": 200}"}}}},
            "/pets": {"delete": {"responses": {},
                "x-amazon-apigateway-integration": {"type": "mock"}}}
        }});
        let body = extra.to_string();
        let p = params("mode=merge");
        let def = read_document(body.as_bytes(), &p, "api1").unwrap();
        let (merged, _) = build(&api, def, Mode::Merge, &p, &mut counter()).unwrap();
        assert_eq!(merged.settings.name, "PetStore v2");
        assert_eq!(merged.settings.binary_media_types, ["image/png"], "kept");
        let pets = &merged.resources[&pets_id];
        assert!(
            pets.methods.contains_key("GET")
                && pets.methods.contains_key("POST")
                && pets.methods.contains_key("DELETE")
        );
        assert!(merged.resources.values().any(|r| r.path_part == "toys"));
        assert!(merged.models.contains_key("NewPet") && merged.request_validators.len() == 2);
        let def = read_document(body.as_bytes(), &p, "api1").unwrap();
        let (over, _) = build(&api, def, Mode::Overwrite, &p, &mut counter()).unwrap();
        let pets = &over.resources[&pets_id];
        assert_eq!(
            pets.methods.keys().collect::<Vec<_>>(),
            ["DELETE"],
            "same id, only the document's methods"
        );
        assert!(!over.resources.values().any(|r| r.path_part == "store"));
        assert!(
            over.models.is_empty()
                && over.request_validators.is_empty()
                && over.gateway_responses.is_empty()
        );
        assert!(over.settings.binary_media_types.is_empty());
        assert_eq!(over.root_resource_id, api.root_resource_id);
    }
}
