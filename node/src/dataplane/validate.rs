//! Request validation (AWS's request validators): required request parameters and the body
//! against the method's request model, checked after the method is matched and authorized and
//! before the API key.
//!
//! Schemas are JSON Schema draft 4, compiled once when a stage's table is compiled
//! ([`compile`]), never per request. A `$ref` to another model of the API by its model URL
//! (`https://apigateway.amazonaws.com/restapis/{api}/models/{name}`) resolves to that model as
//! the deployment froze it; every other remote reference is refused when the schema is
//! compiled, and nothing is ever fetched (the crate is built without its HTTP and file
//! retrievers, and [`ModelRetriever`] answers only from the frozen models).

use std::collections::BTreeMap;
use std::sync::Arc;
use tollgate_proto::model::{model_url, Method, Model, RequestValidator};
use tollgate_proto::GatewayResponseType;

/// Where a required request parameter is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// `method.request.querystring.x` (or `multivaluequerystring`).
    Query,
    /// `method.request.header.x` (or `multivalueheader`), case-insensitive.
    Header,
    /// `method.request.path.x`.
    Path,
}

/// What a method's request validator checks, compiled.
#[derive(Debug, Default)]
pub struct CompiledValidation {
    /// Required parameters (when the validator checks parameters), in declaration order.
    required: Vec<(Location, Box<str>)>,
    /// Request models by content type (when the validator checks the body); `$default` is
    /// the model of any other content type.
    bodies: Vec<(Box<str>, Arc<jsonschema::Validator>)>,
}

/// The parts of a request validation reads.
pub struct RequestView<'a> {
    /// The raw query (no `?`).
    pub query: &'a str,
    /// The header fields, in arrival order.
    pub headers: &'a dyn Fn(&[u8]) -> Option<&'a [u8]>,
    /// The value of a path parameter.
    pub path_param: &'a dyn Fn(&str) -> Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// Why a request was refused, with AWS's type and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Required parameters missing: AWS's message names them.
    MissingParameters(String),
    /// The body does not match its model (or is not JSON).
    InvalidBody,
}

impl Refusal {
    /// The gateway response type it is answered with.
    pub fn response_type(&self) -> GatewayResponseType {
        match self {
            Refusal::MissingParameters(_) => GatewayResponseType::BadRequestParameters,
            Refusal::InvalidBody => GatewayResponseType::BadRequestBody,
        }
    }

    /// AWS's message (`$context.error.messageString`).
    pub fn message(&self) -> &str {
        match self {
            Refusal::MissingParameters(m) => m,
            Refusal::InvalidBody => "Invalid request body",
        }
    }
}

/// Checks `req` against `c`: parameters first, then the body, as AWS.
pub fn check(c: &CompiledValidation, req: &RequestView<'_>) -> Result<(), Refusal> {
    let mut missing: Vec<&str> = Vec::new();
    for (loc, name) in &c.required {
        let present = match loc {
            Location::Query => query_has(req.query, name),
            Location::Header => (req.headers)(name.as_bytes()).is_some(),
            Location::Path => (req.path_param)(name).is_some_and(|v| !v.is_empty()),
        };
        if !present {
            missing.push(name);
        }
    }
    if !missing.is_empty() {
        return Err(Refusal::MissingParameters(format!(
            "Missing required request parameters: [{}]",
            missing.join(", ")
        )));
    }
    if c.bodies.is_empty() {
        return Ok(());
    }
    let content_type = (req.headers)(b"content-type")
        .map(media_type)
        .unwrap_or("application/json");
    let model = c
        .bodies
        .iter()
        .find(|(ct, _)| ct.eq_ignore_ascii_case(content_type))
        .or_else(|| c.bodies.iter().find(|(ct, _)| &**ct == "$default"));
    let Some((_, schema)) = model else {
        return Ok(());
    };
    let instance: serde_json::Value =
        serde_json::from_slice(req.body).map_err(|_| Refusal::InvalidBody)?;
    if schema.is_valid(&instance) {
        Ok(())
    } else {
        Err(Refusal::InvalidBody)
    }
}

/// Validates a served request against its method's validation, if it has one (`path`: the
/// stage-relative path the captures index).
pub fn check_request(
    c: Option<&CompiledValidation>,
    req: &super::request::Request<'_>,
    caps: &super::matcher::Captures<'_>,
    path: &str,
) -> Result<(), Refusal> {
    let Some(c) = c else {
        return Ok(());
    };
    let headers = |name: &[u8]| req.header(name);
    let path_param = |name: &str| caps.get(path, name);
    check(
        c,
        &RequestView {
            query: req.query,
            headers: &headers,
            path_param: &path_param,
            body: req.body,
        },
    )
}

/// The media type of a `Content-Type` value (before any parameter), or `""`.
fn media_type(v: &[u8]) -> &str {
    let v = std::str::from_utf8(v).unwrap_or("");
    v.split(';').next().unwrap_or("").trim()
}

/// Whether the raw query has parameter `name` (with or without a value).
fn query_has(query: &str, name: &str) -> bool {
    query.split('&').any(|pair| {
        let k = pair.split_once('=').map_or(pair, |(k, _)| k);
        k == name
            || percent_encoding::percent_decode_str(k)
                .decode_utf8()
                .is_ok_and(|d| d == name)
    })
}

/// Answers `$ref`s to the API's models from the models a deployment froze, and refuses
/// every other URI: no reference is ever fetched.
struct ModelRetriever {
    prefix: String,
    models: BTreeMap<String, serde_json::Value>,
}

impl jsonschema::Retrieve for ModelRetriever {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>> {
        let uri = uri.as_str();
        let uri = uri.split('#').next().unwrap_or(uri);
        uri.strip_prefix(&self.prefix)
            .and_then(|name| self.models.get(name))
            .cloned()
            .ok_or_else(|| format!("reference to {uri} is not a model of this API").into())
    }
}

/// Compiles `schema` (draft 4) of API `api_id`, resolving `$ref`s to `models` (by name).
pub fn compile_schema(
    api_id: &str,
    schema: &str,
    models: &BTreeMap<String, Model>,
) -> Result<jsonschema::Validator, String> {
    let value: serde_json::Value =
        serde_json::from_str(schema).map_err(|e| format!("the schema is not JSON: {e}"))?;
    let parsed = models
        .iter()
        .filter_map(|(name, m)| {
            let v = serde_json::from_str(m.schema.as_deref()?).ok()?;
            Some((name.clone(), v))
        })
        .collect();
    let retriever = ModelRetriever {
        prefix: model_url(api_id, ""),
        models: parsed,
    };
    jsonschema::draft4::options()
        .with_retriever(retriever)
        .build(&value)
        .map_err(|e| e.to_string())
}

/// Compiles what `validator` checks of method `m`, with the deployment's `models`. An error
/// (a request model missing from the deployment, a schema that does not compile) means the
/// method cannot be validated and must not be served.
pub fn compile(
    api_id: &str,
    m: &Method,
    validator: &RequestValidator,
    models: &BTreeMap<String, Model>,
    compiled: &mut BTreeMap<String, Arc<jsonschema::Validator>>,
) -> Result<CompiledValidation, String> {
    let mut out = CompiledValidation::default();
    if validator.validate_request_parameters {
        for (name, required) in &m.request_parameters {
            if !required {
                continue;
            }
            let p = |prefix: &str| name.strip_prefix(prefix);
            let (loc, bare) = if let Some(b) = p("method.request.querystring.")
                .or_else(|| p("method.request.multivaluequerystring."))
            {
                (Location::Query, b)
            } else if let Some(b) =
                p("method.request.header.").or_else(|| p("method.request.multivalueheader."))
            {
                (Location::Header, b)
            } else if let Some(b) = p("method.request.path.") {
                (Location::Path, b)
            } else {
                return Err(format!("required parameter {name} cannot be checked"));
            };
            out.required.push((loc, bare.into()));
        }
    }
    if validator.validate_request_body {
        for (content_type, name) in &m.request_models {
            let schema = match compiled.get(name) {
                Some(s) => s.clone(),
                None => {
                    let model = models
                        .get(name)
                        .ok_or_else(|| format!("request model {name} is not in the deployment"))?;
                    let text = model.schema.as_deref().unwrap_or("{}");
                    let s = Arc::new(
                        compile_schema(api_id, text, models)
                            .map_err(|e| format!("model {name}: {e}"))?,
                    );
                    compiled.insert(name.clone(), s.clone());
                    s
                }
            };
            out.bodies.push((content_type.as_str().into(), schema));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str, schema: &str) -> (String, Model) {
        (
            name.into(),
            Model {
                id: format!("id{name}"),
                name: name.into(),
                schema: Some(schema.into()),
                content_type: "application/json".into(),
                ..Default::default()
            },
        )
    }

    fn validator(body: bool, params: bool) -> RequestValidator {
        RequestValidator {
            id: "v".into(),
            name: "v".into(),
            validate_request_body: body,
            validate_request_parameters: params,
        }
    }

    fn method() -> Method {
        Method {
            http_method: "POST".into(),
            request_parameters: BTreeMap::from([
                ("method.request.querystring.page".into(), true),
                ("method.request.header.x-token".into(), true),
                ("method.request.querystring.optional".into(), false),
                ("method.request.path.id".into(), true),
            ]),
            request_models: BTreeMap::from([("application/json".into(), "Pet".into())]),
            ..Default::default()
        }
    }

    fn models() -> BTreeMap<String, Model> {
        let tag = r#"{"type":"string","minLength":1}"#;
        let pet = format!(
            r#"{{"$schema":"http://json-schema.org/draft-04/schema#","type":"object",
               "required":["name"],
               "properties":{{"name":{{"type":"string"}},
                             "tag":{{"$ref":"{}"}}}}}}"#,
            model_url("a1", "Tag")
        );
        BTreeMap::from([model("Pet", &pet), model("Tag", tag)])
    }

    fn run(
        c: &CompiledValidation,
        query: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<(), Refusal> {
        let hs: Vec<(Vec<u8>, Vec<u8>)> = headers
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        let header = |name: &[u8]| {
            hs.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_slice())
        };
        let path = |name: &str| (name == "id").then_some("7");
        check(
            c,
            &RequestView {
                query,
                headers: &header,
                path_param: &path,
                body: body.as_bytes(),
            },
        )
    }

    #[test]
    fn missing_parameters_are_named_as_aws_does() {
        let c = compile(
            "a1",
            &method(),
            &validator(false, true),
            &models(),
            &mut Default::default(),
        )
        .unwrap();
        let e = run(&c, "", &[], "").unwrap_err();
        assert_eq!(
            e.message(),
            "Missing required request parameters: [x-token, page]"
        );
        assert_eq!(e.response_type(), GatewayResponseType::BadRequestParameters);
        let e = run(&c, "page=1", &[], "").unwrap_err();
        assert_eq!(
            e.message(),
            "Missing required request parameters: [x-token]"
        );
        // Present (headers case-insensitively, a query key without a value): passes; the
        // body is not checked by a parameters-only validator.
        run(&c, "a=b&page", &[("X-Token", "t")], "not json").unwrap();
    }

    #[test]
    fn the_body_is_checked_against_the_model_for_its_content_type() {
        let c = compile(
            "a1",
            &method(),
            &validator(true, false),
            &models(),
            &mut Default::default(),
        )
        .unwrap();
        run(&c, "", &[], r#"{"name":"rex","tag":"dog"}"#).unwrap();
        let invalid = Err(Refusal::InvalidBody);
        assert_eq!(run(&c, "", &[], r#"{"tag":"dog"}"#), invalid);
        // Through the $ref to the Tag model.
        assert_eq!(run(&c, "", &[], r#"{"name":"rex","tag":""}"#), invalid);
        assert_eq!(run(&c, "", &[], "{not json"), invalid);
        assert_eq!(run(&c, "", &[], ""), invalid);
        assert_eq!(
            run(
                &c,
                "",
                &[("content-type", "application/json; charset=utf-8")],
                "{}"
            ),
            invalid
        );
        assert_eq!(
            Refusal::InvalidBody.response_type(),
            GatewayResponseType::BadRequestBody
        );
        // A content type with no model (and no $default) is not checked.
        run(&c, "", &[("content-type", "text/plain")], "anything").unwrap();
        let mut m = method();
        m.request_models.insert("$default".into(), "Tag".into());
        let c = compile(
            "a1",
            &m,
            &validator(true, true),
            &models(),
            &mut Default::default(),
        )
        .unwrap();
        let ok_params = [("x-token", "t"), ("content-type", "text/plain")];
        assert_eq!(
            run(&c, "page=1", &ok_params, "5"),
            Err(Refusal::InvalidBody)
        );
        run(&c, "page=1", &ok_params, "\"x\"").unwrap();
        // Parameters are checked before the body.
        assert!(matches!(
            run(&c, "", &ok_params, "5"),
            Err(Refusal::MissingParameters(_))
        ));
    }

    #[test]
    fn references_resolve_only_to_the_apis_models_and_nothing_is_fetched() {
        let models = models();
        let other = r#"{"$ref":"https://example.com/schema.json"}"#;
        assert!(compile_schema("a1", other, &models).is_err());
        let elsewhere = format!(r#"{{"$ref":"{}"}}"#, model_url("zz", "Tag"));
        assert!(compile_schema("a1", &elsewhere, &models).is_err());
        let missing = format!(r#"{{"$ref":"{}"}}"#, model_url("a1", "Nope"));
        assert!(compile_schema("a1", &missing, &models).is_err());
        assert!(compile_schema("a1", "{", &models).is_err());
        assert!(compile_schema("a1", r#"{"type":"nonsense"}"#, &models).is_err());
        // A method whose model is missing cannot be validated.
        let mut m = method();
        m.request_models.insert("text/plain".into(), "Gone".into());
        assert!(compile(
            "a1",
            &m,
            &validator(true, false),
            &models,
            &mut Default::default()
        )
        .is_err());
        // Each model is compiled once per table.
        let mut cache = BTreeMap::new();
        let mut m2 = method();
        m2.request_models.insert("$default".into(), "Pet".into());
        compile("a1", &m2, &validator(true, false), &models, &mut cache).unwrap();
        assert_eq!(cache.len(), 1);
    }
}
