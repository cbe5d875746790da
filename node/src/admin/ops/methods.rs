//! PutMethod, GetMethod, UpdateMethod, DeleteMethod and the method responses
//! (Put/Get/Update/DeleteMethodResponse). Every change rewrites the whole method.

use super::{
    check_parameter_names, check_uri_status_code, commit, load_method, non_empty, read_api,
    store_method, Reply,
};
use crate::admin::error::ApiError;
use crate::admin::input::{self, PutMethodIn, PutMethodResponseIn};
use crate::admin::limits::{
    check_expression, check_header_name, check_header_value, check_name, check_opt_name,
};
use crate::admin::patch::{self, apply_to_flag_map, apply_to_map, Op, PatchOp};
use crate::admin::router::MethodKey;
use crate::admin::wire;
use crate::admin::AdminState;
use tollgate_proto::model::{AuthorizationType, GivenMaps, Method, MethodResponse};
use tollgate_proto::Command;

/// Reads PutMethod's `authorizationType`: required, and in any case as AWS accepts it
/// (`none` is `NONE`); the method keeps (and answers) AWS's upper-case name.
pub fn parse_authorization_type(s: Option<&str>) -> Result<AuthorizationType, ApiError> {
    let s = s.ok_or_else(|| {
        ApiError::bad_request("Invalid authorization type specified: authorizationType is required")
    })?;
    AuthorizationType::parse_ignore_case(s).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid authorization type specified: {s}. Must be one of: {}",
            AuthorizationType::names()
        ))
    })
}

/// Where method request parameters may come from.
pub const METHOD_REQUEST_PREFIXES: &[&str] = &[
    "method.request.path.",
    "method.request.querystring.",
    "method.request.multivaluequerystring.",
    "method.request.header.",
    "method.request.multivalueheader.",
];

/// What a method response may declare.
pub const METHOD_RESPONSE_PREFIXES: &[&str] = &["method.response.header."];

/// AWS's answer for a CUSTOM or COGNITO_USER_POOLS method without a fitting authorizer, the
/// same words for both types (localstack's AWS recordings, `test_apigateway_api`
/// `test_put_method_validation` "missing-authorizer-id").
const NEEDS_AUTHORIZER: &str = "Invalid authorizer ID specified. Setting the authorization type to CUSTOM or COGNITO_USER_POOLS requires a valid authorizer.";

/// Checks a method as a whole (after a put or a patch).
///
/// Fail closed: what the data plane does not enforce is refused. `CUSTOM` and
/// `COGNITO_USER_POOLS` need the id of one of the API's authorizers of the matching type
/// ([`check_authorizer`], under the API's guard); authorization scopes, which only mean
/// something to a Cognito authorizer, are refused on other methods.
pub fn check_method(m: &Method) -> Result<(), ApiError> {
    if let Some(id) = &m.authorizer_id {
        check_name("authorizerId", id)?;
    }
    let needs_authorizer = matches!(
        m.authorization_type,
        AuthorizationType::Custom | AuthorizationType::CognitoUserPools
    );
    if needs_authorizer && m.authorizer_id.is_none() {
        // AWS's answer for a missing or unknown authorizer.
        return Err(ApiError::bad_request(NEEDS_AUTHORIZER));
    }
    if let (Some(id), false) = (&m.authorizer_id, needs_authorizer) {
        return Err(ApiError::bad_request(format!(
            "Invalid authorizer ID specified: {id}"
        )));
    }
    if !m.authorization_scopes.is_empty()
        && m.authorization_type != AuthorizationType::CognitoUserPools
    {
        return Err(ApiError::bad_request(
            "Invalid authorization scopes specified: scopes apply only to COGNITO_USER_POOLS methods",
        ));
    }
    for s in &m.authorization_scopes {
        check_name("An authorization scope", s)?;
        if s.is_empty() || s.contains(' ') {
            return Err(ApiError::bad_request(format!(
                "Invalid authorization scope specified: {s:?}"
            )));
        }
    }
    if let Some(id) = &m.request_validator_id {
        check_name("requestValidatorId", id)?;
    }
    check_opt_name("operationName", m.operation_name.as_deref())?;
    check_parameter_names(
        m.request_parameters.keys(),
        METHOD_REQUEST_PREFIXES,
        "method request",
    )?;
    check_unique_parameter_names(m)?;
    for name in m.request_parameters.keys() {
        check_expression("A method request parameter", name)?;
        if let Some(h) = name
            .strip_prefix("method.request.header.")
            .or_else(|| name.strip_prefix("method.request.multivalueheader."))
        {
            check_header_name("method request", h)?;
        }
    }
    for (content_type, model) in &m.request_models {
        check_header_value("request model content type", content_type)?;
        check_name("A model name", model)?;
    }
    Ok(())
}

/// One name is one parameter: the same name in two of querystring, header and path is
/// refused in AWS's recorded words (`test_method_request_parameters` "req-params-same-name").
/// The multi-value forms count as their location (`multivaluequerystring.x` and
/// `querystring.x` are the same parameter, not two).
fn check_unique_parameter_names(m: &Method) -> Result<(), ApiError> {
    let mut seen: std::collections::BTreeMap<&str, &str> = Default::default();
    for full in m.request_parameters.keys() {
        let Some(rest) = full.strip_prefix("method.request.") else {
            continue;
        };
        let Some((location, name)) = rest.split_once('.') else {
            continue;
        };
        let location = location.strip_prefix("multivalue").unwrap_or(location);
        if let Some(other) = seen.insert(name, location) {
            if other != location {
                return Err(ApiError::bad_request(
                    "Parameter names must be unique across querystring, header and path",
                ));
            }
        }
    }
    Ok(())
}

/// A `CUSTOM` method's authorizer must be one of the API's (AWS's answer otherwise).
pub fn check_authorizer(a: &tollgate_proto::model::RestApi, m: &Method) -> Result<(), ApiError> {
    use tollgate_proto::model::AuthorizerType;
    let cognito = m.authorization_type == AuthorizationType::CognitoUserPools;
    match &m.authorizer_id {
        Some(id) if m.authorization_type == AuthorizationType::Custom || cognito => {
            // A Lambda authorizer for CUSTOM, a Cognito one for COGNITO_USER_POOLS.
            let fits = a
                .authorizers
                .get(id)
                .is_some_and(|z| (z.kind == AuthorizerType::CognitoUserPools) == cognito);
            if fits {
                Ok(())
            } else {
                Err(ApiError::bad_request(NEEDS_AUTHORIZER))
            }
        }
        _ => Ok(()),
    }
}

/// PutMethod's verb, refused in AWS's words (localstack's AWS recording:
/// `test_put_method_validation` "wrong-method").
pub(super) fn check_verb(verb: &str) -> Result<(), ApiError> {
    const VERBS: &[&str] = &[
        "GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "ANY",
    ];
    if VERBS.contains(&verb) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "Invalid HttpMethod specified. Valid options are GET,PUT,POST,DELETE,PATCH,OPTIONS,HEAD,ANY",
        ))
    }
}

/// PutMethod (201): creates a method; an existing one is a conflict, as AWS.
pub async fn put(state: &AdminState, k: &MethodKey, body: &[u8]) -> Result<Reply, ApiError> {
    let i: PutMethodIn = input::parse(body)?;
    let exists = read_api(state, &k.api, |a| {
        let r = a
            .resources
            .get(&k.resource)
            .ok_or_else(|| ApiError::invalid_id("resource", &k.resource))?;
        Ok(r.methods.contains_key(&k.verb))
    })?;
    // After the API and resource are found, as AWS orders it.
    check_verb(&k.verb)?;
    if exists {
        return Err(ApiError::conflict(
            "Method already exists for this resource",
        ));
    }
    let mut given_maps = GivenMaps::default();
    given_maps.mark(GivenMaps::PARAMETERS, i.request_parameters.is_some());
    given_maps.mark(GivenMaps::BODIES, i.request_models.is_some());
    let method = Method {
        given_maps,
        http_method: k.verb.clone(),
        authorization_type: parse_authorization_type(i.authorization_type.as_deref())?,
        authorizer_id: non_empty(i.authorizer_id),
        api_key_required: i.api_key_required.unwrap_or(false),
        operation_name: non_empty(i.operation_name),
        request_validator_id: non_empty(i.request_validator_id),
        request_parameters: i.request_parameters.unwrap_or_default(),
        request_models: i.request_models.unwrap_or_default(),
        authorization_scopes: i.authorization_scopes.unwrap_or_default(),
        method_responses: Default::default(),
        integration: None,
    };
    check_method(&method)?;
    read_api(state, &k.api, |a| {
        check_authorizer(a, &method)?;
        super::models::check_method_references(a, &method)
    })?;
    store_method(state, k, method).await?;
    Reply::json(201, &wire::method(&load_method(state, k)?))
}

/// GetMethod, with its integration and responses.
pub fn get(state: &AdminState, k: &MethodKey) -> Result<Reply, ApiError> {
    Reply::json(200, &wire::method(&load_method(state, k)?))
}

/// Applies one UpdateMethod patch operation.
pub fn apply_patch(m: &mut Method, p: &PatchOp) -> Result<(), ApiError> {
    let segs = p.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    if let ["authorizationType" | "authorizerId" | "apiKeyRequired" | "operationName"
    | "requestValidatorId"] = segs.as_slice()
    {
        // A single value: AWS takes only `replace` on it.
        p.replace_verb()?;
    }
    match segs.as_slice() {
        ["authorizationType"] => {
            m.authorization_type = p.parsed_value(
                AuthorizationType::parse_ignore_case,
                &AuthorizationType::names(),
            )?
        }
        ["authorizerId"] => m.authorizer_id = p.optional_string()?,
        // AWS coerces: anything but `true` (any case) is false.
        ["apiKeyRequired"] => m.api_key_required = p.coerced_bool_value()?,
        ["operationName"] => m.operation_name = p.optional_string()?,
        ["requestValidatorId"] => m.request_validator_id = p.optional_string()?,
        ["requestParameters", name] if !name.is_empty() => {
            apply_to_flag_map(&mut m.request_parameters, name.to_string(), p)?
        }
        ["requestModels", ct] if !ct.is_empty() => {
            apply_to_map(&mut m.request_models, ct.to_string(), p)?
        }
        ["authorizationScopes"] => {
            let scope = p.value()?.to_string();
            match p.op {
                Op::Add => {
                    if !m.authorization_scopes.contains(&scope) {
                        m.authorization_scopes.push(scope);
                    }
                }
                Op::Remove => m.authorization_scopes.retain(|s| *s != scope),
                _ => return Err(p.invalid_path()),
            }
        }
        _ => return Err(p.invalid_path()),
    }
    Ok(())
}

/// UpdateMethod.
pub async fn update(state: &AdminState, k: &MethodKey, body: &[u8]) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut m = load_method(state, k)?;
    for p in &ops {
        apply_patch(&mut m, p)?;
    }
    // A map that has held entries is answered from then on, `{}` when emptied again (AWS's
    // map, once made, stays).
    m.given_maps
        .mark(GivenMaps::PARAMETERS, !m.request_parameters.is_empty());
    m.given_maps
        .mark(GivenMaps::BODIES, !m.request_models.is_empty());
    check_method(&m)?;
    read_api(state, &k.api, |a| {
        check_authorizer(a, &m)?;
        super::models::check_method_references(a, &m)
    })?;
    store_method(state, k, m).await?;
    get(state, k)
}

/// DeleteMethod (204).
pub async fn delete(state: &AdminState, k: &MethodKey) -> Result<Reply, ApiError> {
    commit(
        state,
        Command::DeleteMethod {
            api_id: k.api.clone(),
            resource_id: k.resource.clone(),
            http_method: k.verb.clone(),
        },
    )
    .await?;
    Ok(Reply::empty(204))
}

fn no_response() -> ApiError {
    ApiError::not_found("Invalid Response status code specified")
}

/// Checks a method response: what it may declare, header names, model content types.
pub fn check_response(r: &MethodResponse) -> Result<(), ApiError> {
    check_parameter_names(
        r.response_parameters.keys(),
        METHOD_RESPONSE_PREFIXES,
        "method response",
    )?;
    for name in r.response_parameters.keys() {
        if let Some(h) = name.strip_prefix("method.response.header.") {
            check_header_name("method response", h)?;
        }
    }
    for (content_type, model) in &r.response_models {
        check_header_value("response model content type", content_type)?;
        check_name("A model name", model)?;
    }
    Ok(())
}

/// PutMethodResponse (201): declares (or redeclares) a response of the method.
pub async fn put_response(
    state: &AdminState,
    k: &MethodKey,
    code: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    check_uri_status_code(code)?;
    let i: PutMethodResponseIn = input::parse(body)?;
    let mut m = load_method(state, k)?;
    let mut given_maps = GivenMaps::default();
    given_maps.mark(GivenMaps::PARAMETERS, i.response_parameters.is_some());
    given_maps.mark(GivenMaps::BODIES, i.response_models.is_some());
    let r = MethodResponse {
        status_code: code.to_string(),
        response_parameters: i.response_parameters.unwrap_or_default(),
        response_models: i.response_models.unwrap_or_default(),
        given_maps,
    };
    check_response(&r)?;
    m.method_responses.insert(code.to_string(), Box::new(r));
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
    let r = m.method_responses.get(code).ok_or_else(no_response)?;
    Reply::json(status, &wire::method_response(r))
}

/// GetMethodResponse.
pub fn get_response(state: &AdminState, k: &MethodKey, code: &str) -> Result<Reply, ApiError> {
    response_reply(state, k, code, 200)
}

/// Applies one UpdateMethodResponse patch operation.
pub fn apply_response_patch(r: &mut MethodResponse, p: &PatchOp) -> Result<(), ApiError> {
    let segs = p.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match segs.as_slice() {
        // Removing what is not there: AWS's recorded 404s
        // (`test_update_method_lack_response_parameters_and_models`
        // "update-method-response-operation-without-response-parameters", "-models").
        ["responseParameters", name]
            if p.op == Op::Remove && !r.response_parameters.contains_key(*name) =>
        {
            Err(ApiError::not_found("Invalid parameter name specified"))
        }
        ["responseModels", ct] if p.op == Op::Remove && !r.response_models.contains_key(*ct) => {
            Err(ApiError::not_found("Content-Type specified was not found"))
        }
        ["responseParameters", name] if !name.is_empty() => {
            apply_to_flag_map(&mut r.response_parameters, name.to_string(), p)
        }
        ["responseModels", ct] if !ct.is_empty() => {
            apply_to_map(&mut r.response_models, ct.to_string(), p)
        }
        _ => Err(p.invalid_path()),
    }
}

/// UpdateMethodResponse (201, as the service model says).
pub async fn update_response(
    state: &AdminState,
    k: &MethodKey,
    code: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut m = load_method(state, k)?;
    let r = m.method_responses.get_mut(code).ok_or_else(no_response)?;
    for p in &ops {
        apply_response_patch(r, p)?;
    }
    r.given_maps
        .mark(GivenMaps::PARAMETERS, !r.response_parameters.is_empty());
    r.given_maps
        .mark(GivenMaps::BODIES, !r.response_models.is_empty());
    check_response(r)?;
    store_method(state, k, m).await?;
    response_reply(state, k, code, 201)
}

/// DeleteMethodResponse (204).
pub async fn delete_response(
    state: &AdminState,
    k: &MethodKey,
    code: &str,
) -> Result<Reply, ApiError> {
    let mut m = load_method(state, k)?;
    m.method_responses.remove(code).ok_or_else(no_response)?;
    store_method(state, k, m).await?;
    Ok(Reply::empty(204))
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

    fn method() -> Method {
        Method {
            http_method: "GET".into(),
            authorization_type: AuthorizationType::None,
            ..Default::default()
        }
    }

    #[test]
    fn patches_methods() {
        let mut m = method();
        for p in [
            op(Op::Replace, "/authorizationType", Some("AWS_IAM")),
            op(Op::Replace, "/apiKeyRequired", Some("true")),
            op(Op::Replace, "/operationName", Some("ListPets")),
            op(
                Op::Add,
                "/requestParameters/method.request.querystring.page",
                Some("true"),
            ),
            op(Op::Add, "/requestParameters/method.request.header.x", None),
            op(
                Op::Remove,
                "/requestParameters/method.request.header.x",
                None,
            ),
            op(Op::Add, "/requestModels/application~1json", Some("Empty")),
        ] {
            apply_patch(&mut m, &p).unwrap();
        }
        assert_eq!(m.authorization_type, AuthorizationType::AwsIam);
        assert!(m.api_key_required);
        assert_eq!(m.operation_name.as_deref(), Some("ListPets"));
        assert_eq!(m.request_parameters.len(), 1);
        assert!(m.request_parameters["method.request.querystring.page"]);
        assert_eq!(m.request_models["application/json"], "Empty");
        check_method(&m).unwrap();
        apply_patch(&mut m, &op(Op::Add, "/authorizationScopes", Some("read"))).unwrap();
        assert_eq!(m.authorization_scopes, ["read"]);
        assert!(check_method(&m).unwrap_err().message.contains("scopes"));
    }

    #[test]
    fn api_key_required_is_coerced_as_aws_does() {
        let mut m = method();
        apply_patch(&mut m, &op(Op::Replace, "/apiKeyRequired", Some("TRUE"))).unwrap();
        assert!(m.api_key_required);
        apply_patch(
            &mut m,
            &op(Op::Replace, "/apiKeyRequired", Some("whatever")),
        )
        .unwrap();
        assert!(!m.api_key_required);
    }

    #[test]
    fn refuses_bad_method_patches_and_checks() {
        let mut m = method();
        for p in [
            op(Op::Replace, "/httpMethod", Some("POST")),
            op(Op::Replace, "/authorizationType", Some("BASIC")),
            op(Op::Remove, "/requestParameters/absent", None),
        ] {
            assert_eq!(apply_patch(&mut m, &p).unwrap_err().status, 400, "{p:?}");
        }
        m.authorization_type = AuthorizationType::Custom;
        assert!(check_method(&m).is_err());
        m.authorization_type = AuthorizationType::None;
        m.request_parameters.insert("querystring.x".into(), true);
        assert!(check_method(&m).is_err());
    }

    /// AWS reads `authorizationType` in any case, by PutMethod and UpdateMethod alike, and
    /// keeps its upper-case name; names outside the set stay refused.
    #[test]
    fn authorization_type_is_read_in_any_case() {
        assert_eq!(
            parse_authorization_type(Some("none")).unwrap(),
            AuthorizationType::None
        );
        assert_eq!(
            parse_authorization_type(Some("Aws_Iam")).unwrap(),
            AuthorizationType::AwsIam
        );
        let e = parse_authorization_type(Some("basic")).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid authorization type specified: basic. Must be one of: NONE, AWS_IAM, CUSTOM, COGNITO_USER_POOLS"
        );
        assert_eq!(parse_authorization_type(None).unwrap_err().status, 400);
        let mut m = method();
        apply_patch(
            &mut m,
            &op(Op::Replace, "/authorizationType", Some("aws_iam")),
        )
        .unwrap();
        assert_eq!(m.authorization_type, AuthorizationType::AwsIam);
        assert_eq!(
            wire::method(&m).authorization_type.as_deref(),
            Some("AWS_IAM")
        );
    }

    /// A `CUSTOM` method needs one of the API's authorizers; an unknown id is refused with
    /// AWS's answer, by PutMethod and UpdateMethod alike. No Cognito authorizer can exist.
    #[test]
    fn unknown_authorizers_and_validators_are_refused() {
        let mut api = tollgate_proto::model::RestApi::default();
        api.authorizers.insert(
            "az1".into(),
            tollgate_proto::model::Authorizer {
                id: "az1".into(),
                name: "tok".into(),
                kind: tollgate_proto::model::AuthorizerType::Token,
                provider_arns: Vec::new(),
                auth_type: None,
                authorizer_uri: None,
                authorizer_credentials: None,
                identity_source: None,
                identity_validation_expression: None,
                authorizer_result_ttl_in_seconds: 300,
            },
        );
        let put = |j: &str| -> Result<Method, ApiError> {
            let i: PutMethodIn = input::parse(j.as_bytes())?;
            let m = Method {
                http_method: "GET".into(),
                authorization_type: parse_authorization_type(i.authorization_type.as_deref())?,
                authorizer_id: non_empty(i.authorizer_id),
                request_validator_id: non_empty(i.request_validator_id),
                ..Default::default()
            };
            check_method(&m)?;
            check_authorizer(&api, &m).map(|()| m)
        };
        for t in ["CUSTOM", "COGNITO_USER_POOLS"] {
            for id in ["bogus", "az1"] {
                if (t, id) == ("CUSTOM", "az1") {
                    continue;
                }
                let e = put(&format!(
                    r#"{{"authorizationType":"{t}","authorizerId":"{id}"}}"#
                ))
                .unwrap_err();
                assert_eq!(
                    (e.status, e.error_type),
                    (400, "BadRequestException"),
                    "{t}"
                );
                assert_eq!(e.message, NEEDS_AUTHORIZER);
            }
        }
        put(r#"{"authorizationType":"CUSTOM","authorizerId":"az1"}"#).unwrap();
        let e = put(r#"{"authorizationType":"NONE","authorizerId":"bogus"}"#).unwrap_err();
        assert_eq!(e.message, "Invalid authorizer ID specified: bogus");
        assert!(put(r#"{"authorizationType":"CUSTOM"}"#).is_err());
        // A validator id is checked against the API (`models::check_method_references`).
        put(r#"{"authorizationType":"NONE","requestValidatorId":"v1"}"#).unwrap();
        put(r#"{"authorizationType":"AWS_IAM"}"#).unwrap();
        let mut m = method();
        apply_patch(
            &mut m,
            &op(Op::Replace, "/authorizationType", Some("CUSTOM")),
        )
        .unwrap();
        apply_patch(&mut m, &op(Op::Replace, "/authorizerId", Some("bogus"))).unwrap();
        check_method(&m).unwrap();
        assert!(check_authorizer(&api, &m).is_err());
        apply_patch(&mut m, &op(Op::Replace, "/authorizerId", Some("az1"))).unwrap();
        check_authorizer(&api, &m).unwrap();
    }

    #[test]
    fn header_names_are_tokens() {
        let mut m = method();
        m.request_parameters
            .insert("method.request.header.X\r\nY".into(), true);
        assert!(check_method(&m).is_err());
        let mut r = MethodResponse {
            status_code: "200".into(),
            ..Default::default()
        };
        r.response_parameters
            .insert("method.response.header.X Y".into(), false);
        assert!(check_response(&r).is_err());
        r.response_parameters.clear();
        r.response_parameters
            .insert("method.response.header.X-Y".into(), false);
        check_response(&r).unwrap();
    }

    #[test]
    fn patches_method_responses() {
        let mut r = MethodResponse {
            status_code: "200".into(),
            ..Default::default()
        };
        apply_response_patch(
            &mut r,
            &op(
                Op::Add,
                "/responseParameters/method.response.header.X-A",
                Some("false"),
            ),
        )
        .unwrap();
        apply_response_patch(
            &mut r,
            &op(Op::Add, "/responseModels/application~1json", Some("Empty")),
        )
        .unwrap();
        assert!(!r.response_parameters["method.response.header.X-A"]);
        assert_eq!(r.response_models["application/json"], "Empty");
        check_response(&r).unwrap();
        assert!(
            apply_response_patch(&mut r, &op(Op::Replace, "/statusCode", Some("201"))).is_err()
        );
        r.response_parameters.insert("header.X".into(), true);
        assert!(check_response(&r).is_err());
    }
}
