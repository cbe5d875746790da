//! CreateModel, GetModels, GetModel, UpdateModel, DeleteModel, GetModelTemplate;
//! CreateRequestValidator, GetRequestValidators, GetRequestValidator, UpdateRequestValidator,
//! DeleteRequestValidator.
//!
//! A model's schema must be JSON Schema draft 4 that compiles, with `$ref`s only to other
//! models of the API by their model URL (checked against the working copy, under a guard on
//! the API's version); the data plane compiles the deployment's copy the same way.

use super::{commit, mint_id, non_empty, read_api, Reply};
use crate::admin::error::ApiError;
use crate::admin::input;
use crate::admin::limits;
use crate::admin::paging::{PageRequest, Query};
use crate::admin::patch::{self, PatchOp};
use crate::admin::wire::Page;
use crate::admin::AdminState;
use crate::dataplane::validate::compile_schema;
use serde::{Deserialize, Serialize};
use tollgate_proto::model::{Model, RequestValidator};
use tollgate_proto::Command;

/// Largest model schema accepted (AWS's limit on a model's size is 400 KB).
pub const MAX_SCHEMA_BYTES: usize = 400 * 1024;

/// The models AWS gives every new API: `Empty` and `Error`, with AWS's schemas.
pub fn default_models() -> [(&'static str, &'static str, &'static str); 2] {
    [
        (
            "Empty",
            "This is a default empty schema model",
            "{\n  \"$schema\": \"http://json-schema.org/draft-04/schema#\",\n  \"title\" : \"Empty Schema\",\n  \"type\" : \"object\"\n}",
        ),
        (
            "Error",
            "This is a default error schema model",
            "{\n  \"$schema\" : \"http://json-schema.org/draft-04/schema#\",\n  \"title\" : \"Error Schema\",\n  \"type\" : \"object\",\n  \"properties\" : {\n    \"message\" : { \"type\" : \"string\" }\n  }\n}",
        ),
    ]
}

/// Creates AWS's default models in a new API (part of CreateRestApi).
pub async fn create_defaults(state: &AdminState, api: &str) -> Result<(), ApiError> {
    for (name, description, schema) in default_models() {
        commit(
            state,
            Command::CreateModel {
                api_id: api.to_string(),
                model: Model {
                    id: mint_id(6),
                    name: name.into(),
                    description: Some(description.into()),
                    schema: Some(schema.into()),
                    content_type: "application/json".into(),
                },
            },
        )
        .await?;
    }
    Ok(())
}

/// `Model`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ModelOut {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub content_type: String,
}

fn model_out(m: &Model) -> ModelOut {
    ModelOut {
        id: m.id.clone(),
        name: m.name.clone(),
        description: m.description.clone(),
        schema: m.schema.clone(),
        content_type: m.content_type.clone(),
    }
}

/// CreateModel.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateModelIn {
    name: Option<String>,
    description: Option<String>,
    schema: Option<String>,
    content_type: Option<String>,
}

/// Checks a model's fields and compiles its schema against the API's other models.
fn check_model(state: &AdminState, api: &str, m: &Model) -> Result<(), ApiError> {
    read_api(state, api, |a| check_model_among(api, m, &a.models))
}

/// Checks a model's fields and compiles its schema against `models` (the API's models, the
/// one checked replacing its namesake): what CreateModel and UpdateModel accept.
pub fn check_model_among(
    api: &str,
    m: &Model,
    models: &std::collections::BTreeMap<String, Model>,
) -> Result<(), ApiError> {
    if m.name.is_empty() || !m.name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::bad_request(
            "Model name must be non-empty and alphanumeric",
        ));
    }
    limits::check_text("A model name", &m.name, limits::MAX_NAME_CHARS)?;
    if let Some(d) = &m.description {
        limits::check_text("A description", d, limits::MAX_DESCRIPTION_CHARS)?;
    }
    if m.content_type.is_empty() {
        return Err(ApiError::bad_request("Invalid content type specified"));
    }
    limits::check_header_value("model content type", &m.content_type)?;
    let Some(schema) = &m.schema else {
        return Ok(());
    };
    if schema.len() > MAX_SCHEMA_BYTES {
        return Err(ApiError::bad_request(format!(
            "Invalid model specified: the schema is over {MAX_SCHEMA_BYTES} bytes"
        )));
    }
    let mut models = models.clone();
    models.insert(m.name.clone(), m.clone());
    compile_schema(api, schema, &models).map_err(|e| {
        ApiError::bad_request(format!(
            "Invalid model specified: Validation Result: warnings : [], errors : [Invalid model schema specified: {e}]"
        ))
    })?;
    Ok(())
}

fn load_model(state: &AdminState, api: &str, name: &str) -> Result<Model, ApiError> {
    read_api(state, api, |a| {
        a.models
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("Invalid model name specified: {name}")))
    })
}

/// A schema given as `""`: AWS's recorded refusal (localstack's AWS recordings,
/// `test_apigateway_api` `test_model_validation` "create-model-empty-schema"); an absent
/// schema stays allowed.
pub fn check_schema_given(schema: Option<&str>) -> Result<(), ApiError> {
    if schema.is_some_and(|s| s.trim().is_empty()) {
        return Err(ApiError::bad_request(
            "Model schema must have at least 1 property or array items defined",
        ));
    }
    Ok(())
}

/// CreateModel (201).
pub async fn create(state: &AdminState, api: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let i: CreateModelIn = input::parse(body)?;
    let name =
        non_empty(i.name).ok_or_else(|| ApiError::bad_request("Model name must be non-empty"))?;
    let content_type = non_empty(i.content_type)
        .ok_or_else(|| ApiError::bad_request("Invalid content type specified"))?;
    check_schema_given(i.schema.as_deref())?;
    let model = Model {
        id: mint_id(6),
        name,
        description: non_empty(i.description),
        schema: non_empty(i.schema),
        content_type,
    };
    check_model(state, api, &model)?;
    let name = model.name.clone();
    commit(
        state,
        Command::CreateModel {
            api_id: api.to_string(),
            model,
        },
    )
    .await?;
    Reply::json(201, &model_out(&load_model(state, api, &name)?))
}

/// GetModels: a page of models, by name.
pub fn list(state: &AdminState, api: &str, query: &Query) -> Result<Reply, ApiError> {
    let page = PageRequest::from_query(query)?;
    let items = read_api(state, api, |a| {
        Ok(a.models
            .values()
            .map(|m| (m.name.clone(), model_out(m)))
            .collect::<Vec<_>>())
    })?;
    let (item, position) = page.apply(items);
    Reply::json(200, &Page { item, position })
}

/// GetModel.
pub fn get(state: &AdminState, api: &str, name: &str) -> Result<Reply, ApiError> {
    Reply::json(200, &model_out(&load_model(state, api, name)?))
}

/// Applies one UpdateModel patch operation (`/schema`, `/description`).
pub fn apply_model_patch(m: &mut Model, p: &PatchOp) -> Result<(), ApiError> {
    // AWS's only verb here is `replace` (its recorded wording: `PatchOp::unsupported`).
    const PATHS: &[&str] = &["/description", "/schema"];
    p.replace_only(PATHS)?;
    match p.path.as_str() {
        "/schema" => m.schema = non_empty(p.optional_string()?),
        "/description" => m.description = non_empty(p.optional_string()?),
        _ => return Err(p.unsupported(PATHS)),
    }
    Ok(())
}

/// UpdateModel.
pub async fn update(
    state: &AdminState,
    api: &str,
    name: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut m = load_model(state, api, name)?;
    for p in &ops {
        apply_model_patch(&mut m, p)?;
    }
    check_model(state, api, &m)?;
    commit(
        state,
        Command::UpdateModel {
            api_id: api.to_string(),
            model: m,
        },
    )
    .await?;
    get(state, api, name)
}

/// DeleteModel (202); refused while a method or another model refers to it.
pub async fn delete(state: &AdminState, api: &str, name: &str) -> Result<Reply, ApiError> {
    commit(
        state,
        Command::DeleteModel {
            api_id: api.to_string(),
            name: name.to_string(),
        },
    )
    .await?;
    Ok(Reply::empty(202))
}

/// `Template`.
#[derive(Debug, Serialize)]
struct TemplateOut {
    value: String,
}

/// GetModelTemplate: a mapping template that copies the model's top-level properties from
/// the input, as AWS generates one (strings quoted, everything else as is).
pub fn template(state: &AdminState, api: &str, name: &str) -> Result<Reply, ApiError> {
    let m = load_model(state, api, name)?;
    let schema: serde_json::Value = m
        .schema
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(serde_json::Value::Null);
    Reply::json(
        200,
        &TemplateOut {
            value: template_for(&schema),
        },
    )
}

/// The mapping template of a schema's top-level shape.
pub fn template_for(schema: &serde_json::Value) -> String {
    let mut out = String::from("#set($inputRoot = $input.path('$'))\n");
    let props = schema.get("properties").and_then(|p| p.as_object());
    let is_array = schema.get("type").and_then(|t| t.as_str()) == Some("array");
    if is_array {
        out.push_str(
            "[\n#foreach($elem in $inputRoot)\n  $elem\n#if($foreach.hasNext),#end\n#end\n]",
        );
        return out;
    }
    out.push_str("{\n");
    let lines: Vec<String> = props
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let quoted = v.get("type").and_then(|t| t.as_str()) == Some("string");
            let key = k.replace('\\', "\\\\").replace('"', "\\\"");
            if quoted {
                format!("  \"{key}\" : \"$inputRoot.{k}\"")
            } else {
                format!("  \"{key}\" : $inputRoot.{k}")
            }
        })
        .collect();
    out.push_str(&lines.join(",\n"));
    if !lines.is_empty() {
        out.push('\n');
    }
    out.push('}');
    out
}

/// `RequestValidator`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct RequestValidatorOut {
    pub id: String,
    pub name: String,
    pub validate_request_body: bool,
    pub validate_request_parameters: bool,
}

fn validator_out(v: &RequestValidator) -> RequestValidatorOut {
    RequestValidatorOut {
        id: v.id.clone(),
        name: v.name.clone(),
        validate_request_body: v.validate_request_body,
        validate_request_parameters: v.validate_request_parameters,
    }
}

/// CreateRequestValidator.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateValidatorIn {
    name: Option<String>,
    validate_request_body: Option<bool>,
    validate_request_parameters: Option<bool>,
}

fn load_validator(state: &AdminState, api: &str, id: &str) -> Result<RequestValidator, ApiError> {
    read_api(state, api, |a| {
        a.request_validators
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::invalid_id("request validator", id))
    })
}

/// CreateRequestValidator (201).
pub async fn create_validator(
    state: &AdminState,
    api: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let i: CreateValidatorIn = input::parse(body)?;
    let v = RequestValidator {
        id: mint_id(6),
        name: i.name.unwrap_or_default(),
        validate_request_body: i.validate_request_body.unwrap_or(false),
        validate_request_parameters: i.validate_request_parameters.unwrap_or(false),
    };
    limits::check_text("A request validator name", &v.name, limits::MAX_NAME_CHARS)?;
    let id = v.id.clone();
    commit(
        state,
        Command::CreateRequestValidator {
            api_id: api.to_string(),
            validator: v,
        },
    )
    .await?;
    Reply::json(201, &validator_out(&load_validator(state, api, &id)?))
}

/// GetRequestValidators: a page of validators, by id.
pub fn list_validators(state: &AdminState, api: &str, query: &Query) -> Result<Reply, ApiError> {
    let page = PageRequest::from_query(query)?;
    let items = read_api(state, api, |a| {
        Ok(a.request_validators
            .values()
            .map(|v| (v.id.clone(), validator_out(v)))
            .collect::<Vec<_>>())
    })?;
    let (item, position) = page.apply(items);
    Reply::json(200, &Page { item, position })
}

/// GetRequestValidator.
pub fn get_validator(state: &AdminState, api: &str, id: &str) -> Result<Reply, ApiError> {
    Reply::json(200, &validator_out(&load_validator(state, api, id)?))
}

/// Applies one UpdateRequestValidator patch operation.
pub fn apply_validator_patch(v: &mut RequestValidator, p: &PatchOp) -> Result<(), ApiError> {
    // AWS's only verb here is `replace` (its recorded wording: `PatchOp::unsupported`).
    const PATHS: &[&str] = &[
        "/name",
        "/validateRequestParameters",
        "/validateRequestBody",
    ];
    p.replace_only(PATHS)?;
    match p.path.as_str() {
        "/name" => {
            // No value, or an empty one: AWS's words (recorded:
            // `test_invalid_update_request_validator_operations` "...-empty-name-value").
            if p.value.as_deref().is_none_or(str::is_empty) {
                return Err(ApiError::bad_request(
                    "Request Validator name cannot be blank",
                ));
            }
            v.name = p.required_string()?;
            limits::check_text("A request validator name", &v.name, limits::MAX_NAME_CHARS)?;
        }
        "/validateRequestBody" => v.validate_request_body = p.bool_value()?,
        "/validateRequestParameters" => v.validate_request_parameters = p.bool_value()?,
        _ => return Err(p.unsupported(PATHS)),
    }
    Ok(())
}

/// UpdateRequestValidator.
pub async fn update_validator(
    state: &AdminState,
    api: &str,
    id: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut v = load_validator(state, api, id)?;
    for p in &ops {
        apply_validator_patch(&mut v, p)?;
    }
    commit(
        state,
        Command::UpdateRequestValidator {
            api_id: api.to_string(),
            validator: v,
        },
    )
    .await?;
    get_validator(state, api, id)
}

/// DeleteRequestValidator (202); refused while a method uses it.
pub async fn delete_validator(state: &AdminState, api: &str, id: &str) -> Result<Reply, ApiError> {
    commit(
        state,
        Command::DeleteRequestValidator {
            api_id: api.to_string(),
            id: id.to_string(),
        },
    )
    .await?;
    Ok(Reply::empty(202))
}

/// Checks what a method names in its API: its request validator and request models must
/// exist (AWS's messages). The write is guarded on the API's version, so neither can be
/// deleted between this check and the method's write.
pub fn check_method_references(
    a: &tollgate_proto::model::RestApi,
    m: &tollgate_proto::model::Method,
) -> Result<(), ApiError> {
    if let Some(id) = &m.request_validator_id {
        if !a.request_validators.contains_key(id) {
            // AWS's recorded wording names no id (`test_put_method_validation`
            // "invalid-request-validator").
            return Err(ApiError::bad_request(
                "Invalid Request Validator identifier specified",
            ));
        }
    }
    let named = m.request_models.values().chain(
        m.method_responses
            .values()
            .flat_map(|r| r.response_models.values()),
    );
    for name in named {
        if !a.models.contains_key(name) {
            return Err(ApiError::bad_request(format!(
                "Invalid model identifier specified: {name}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::patch::Op;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn templates_quote_strings() {
        let t = template_for(&json!({"type":"object","properties":{
            "name":{"type":"string"},"age":{"type":"integer"}}}));
        assert_eq!(
            t,
            "#set($inputRoot = $input.path('$'))\n{\n  \"age\" : $inputRoot.age,\n  \"name\" : \"$inputRoot.name\"\n}"
        );
        assert!(template_for(&json!({"type":"array"})).contains("#foreach"));
    }

    #[test]
    fn the_default_models_compile() {
        for (name, _, schema) in default_models() {
            compile_schema("a1", schema, &BTreeMap::new())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn patches() {
        let op = |path: &str, v: &str| PatchOp {
            op: Op::Replace,
            path: path.into(),
            value: Some(v.into()),
            from: None,
        };
        let mut v = RequestValidator::default();
        apply_validator_patch(&mut v, &op("/validateRequestBody", "true")).unwrap();
        apply_validator_patch(&mut v, &op("/name", "body")).unwrap();
        assert!(v.validate_request_body && v.name == "body");
        assert!(apply_validator_patch(&mut v, &op("/validateRequestBody", "maybe")).is_err());
        assert!(apply_validator_patch(&mut v, &op("/id", "x")).is_err());
        let mut m = Model::default();
        apply_model_patch(&mut m, &op("/schema", "{}")).unwrap();
        assert_eq!(m.schema.as_deref(), Some("{}"));
        assert!(apply_model_patch(&mut m, &op("/name", "X")).is_err());
    }
}
