//! CreateAuthorizer, GetAuthorizers, GetAuthorizer, UpdateAuthorizer, DeleteAuthorizer,
//! TestInvokeAuthorizer and FlushStageAuthorizersCache.
//!
//! Fail closed: `TOKEN` and `REQUEST` Lambda authorizers and `COGNITO_USER_POOLS` authorizers
//! (a Cognito user pool ARN, or `oidc:https://issuer` for any OpenID Connect issuer, in
//! `providerARNs`) are served; what a type does not use is refused, not ignored. An authorizer is checked whole (after a create or a patch):
//! its `authorizerUri` must name a Lambda function (as PutIntegration checks an AWS_PROXY
//! URI; one holding a stage variable is checked when a stage serves it), its
//! `identitySource` must be one the data plane reads, its `identityValidationExpression` must
//! compile, its TTL must be within 0..=3600. Methods see an authorizer's changes once the API
//! is deployed again (a deployment freezes the API's authorizers, as AWS).

use super::{commit, mint_id, read, read_api, Reply};
use crate::admin::error::ApiError;
use crate::admin::input;
use crate::admin::limits::{self, check_name, check_text, MAX_URI_CHARS};
use crate::admin::paging::{PageRequest, Query};
use crate::admin::patch::{self, Op, PatchOp};
use crate::admin::wire::Page;
use crate::admin::AdminState;
use crate::dataplane::authorizer::{self as authz, IdentitySource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tollgate_proto::model::{
    Authorizer, AuthorizerType, DEFAULT_AUTHORIZER_TTL_SECS, MAX_AUTHORIZER_TTL_SECS,
};
use tollgate_proto::Command;

/// `Authorizer`, as AWS answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct AuthorizerOut {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "providerARNs", skip_serializing_if = "Vec::is_empty")]
    pub provider_arns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_credentials: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_validation_expression: Option<String>,
    pub authorizer_result_ttl_in_seconds: i32,
}

fn out(a: &Authorizer) -> AuthorizerOut {
    AuthorizerOut {
        id: a.id.clone(),
        name: a.name.clone(),
        kind: a.kind.as_str(),
        provider_arns: a.provider_arns.clone(),
        auth_type: a.auth_type.clone(),
        authorizer_uri: a.authorizer_uri.clone(),
        authorizer_credentials: a.authorizer_credentials.clone(),
        identity_source: a.identity_source.clone(),
        identity_validation_expression: a.identity_validation_expression.clone(),
        authorizer_result_ttl_in_seconds: a.authorizer_result_ttl_in_seconds,
    }
}

/// CreateAuthorizer's input.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateIn {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "providerARNs")]
    provider_arns: Option<Vec<String>>,
    auth_type: Option<String>,
    authorizer_uri: Option<String>,
    authorizer_credentials: Option<String>,
    identity_source: Option<String>,
    identity_validation_expression: Option<String>,
    authorizer_result_ttl_in_seconds: Option<i64>,
}

fn parse_type(s: &str) -> Result<AuthorizerType, ApiError> {
    AuthorizerType::parse(s).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid authorizer type specified: {s}. Must be one of: TOKEN, REQUEST, COGNITO_USER_POOLS"
        ))
    })
}

fn parse_ttl(ttl: i64) -> Result<i32, ApiError> {
    if !(0..=i64::from(MAX_AUTHORIZER_TTL_SECS)).contains(&ttl) {
        return Err(ApiError::bad_request(format!(
            "Invalid Authorizer Result TTL specified: {ttl}. Must be between 0 and {MAX_AUTHORIZER_TTL_SECS}"
        )));
    }
    Ok(ttl as i32)
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Checks an authorizer as a whole; see the module's rules.
pub fn check(a: &Authorizer) -> Result<(), ApiError> {
    check_name("An authorizer name", &a.name)?;
    if a.name.is_empty() {
        return Err(ApiError::bad_request("Authorizer name must not be empty"));
    }
    if let Some(t) = &a.auth_type {
        check_name("authType", t)?;
    }
    if a.authorizer_credentials.is_some() {
        // As PutIntegration's `credentials`: the gateway runs the function itself and assumes
        // no role, so a role it would be asked to use is refused rather than ignored.
        return Err(ApiError::bad_request(
            "Authorizer credentials (a role for the gateway to assume) are not used by this gateway: authorizerCredentials must not be set",
        ));
    }
    for arn in &a.provider_arns {
        check_name("A provider ARN", arn)?;
    }
    if a.kind == AuthorizerType::CognitoUserPools {
        return check_cognito(a);
    }
    if !a.provider_arns.is_empty() {
        return Err(ApiError::bad_request(
            "Provider ARNs apply only to COGNITO_USER_POOLS authorizers",
        ));
    }
    let uri = a.authorizer_uri.as_deref().ok_or_else(|| {
        ApiError::bad_request("Authorizer URI is required for TOKEN and REQUEST authorizers")
    })?;
    check_text("authorizerUri", uri, MAX_URI_CHARS)?;
    if !uri.contains("${stageVariables.") {
        crate::dataplane::lambda::arn::parse_uri(uri).map_err(|why| {
            ApiError::bad_request(format!("Invalid Authorizer URI specified: {why}"))
        })?;
    }
    parse_ttl(i64::from(a.authorizer_result_ttl_in_seconds))?;
    let source = a.identity_source.as_deref().unwrap_or("");
    limits::check_expression("An identity source", source)?;
    let sources = authz::parse_identity_sources(a.kind, source).map_err(ApiError::bad_request)?;
    if sources.is_empty() && a.authorizer_result_ttl_in_seconds > 0 {
        return Err(ApiError::bad_request(
            "Identity source must be specified when authorizer caching is enabled",
        ));
    }
    if let Some(e) = &a.identity_validation_expression {
        limits::check_expression("An identity validation expression", e)?;
        if a.kind != AuthorizerType::Token {
            return Err(ApiError::bad_request(
                "Identity validation expression applies only to TOKEN authorizers",
            ));
        }
        authz::compile_validation(e).map_err(ApiError::bad_request)?;
    }
    Ok(())
}

/// A `COGNITO_USER_POOLS` authorizer: providers this node resolves (a Cognito user pool
/// ARN or `oidc:https://issuer`, see [`crate::jwks`]), one header as identity source, and
/// nothing only Lambda authorizers use.
fn check_cognito(a: &Authorizer) -> Result<(), ApiError> {
    if a.provider_arns.is_empty() {
        return Err(ApiError::bad_request(
            "Provider ARNs are required for COGNITO_USER_POOLS authorizers",
        ));
    }
    for p in &a.provider_arns {
        crate::jwks::registry()
            .resolve(p)
            .map_err(ApiError::bad_request)?;
    }
    if a.authorizer_uri.is_some() {
        return Err(ApiError::bad_request(
            "Authorizer URI applies only to TOKEN and REQUEST authorizers: a COGNITO_USER_POOLS authorizer calls no function",
        ));
    }
    if a.identity_validation_expression.is_some() {
        return Err(ApiError::bad_request(
            "Identity validation expression applies only to TOKEN authorizers",
        ));
    }
    parse_ttl(i64::from(a.authorizer_result_ttl_in_seconds))?;
    let source = a.identity_source.as_deref().unwrap_or("");
    limits::check_expression("An identity source", source)?;
    authz::parse_identity_sources(AuthorizerType::Token, source).map_err(|_| {
        ApiError::bad_request(
            "Invalid identity source specified: a COGNITO_USER_POOLS authorizer's identity source is one method.request.header.X",
        )
    })?;
    Ok(())
}

fn load(state: &AdminState, api: &str, id: &str) -> Result<Authorizer, ApiError> {
    read_api(state, api, |a| {
        a.authorizers
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::invalid_id("authorizer", id))
    })
}

/// CreateAuthorizer (201).
pub async fn create(state: &AdminState, api: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let i: CreateIn = input::parse(body)?;
    crate::admin::enums::check("CreateAuthorizer", "type", i.kind.as_deref())?;
    let kind = parse_type(
        i.kind
            .as_deref()
            .ok_or_else(|| ApiError::bad_request("Authorizer type is required"))?,
    )?;
    let a = Authorizer {
        id: mint_id(6),
        name: i
            .name
            .ok_or_else(|| ApiError::bad_request("Authorizer name is required"))?,
        kind,
        provider_arns: i.provider_arns.unwrap_or_default(),
        auth_type: non_empty(i.auth_type),
        authorizer_uri: non_empty(i.authorizer_uri),
        authorizer_credentials: non_empty(i.authorizer_credentials),
        identity_source: non_empty(i.identity_source),
        identity_validation_expression: non_empty(i.identity_validation_expression),
        authorizer_result_ttl_in_seconds: parse_ttl(
            i.authorizer_result_ttl_in_seconds
                .unwrap_or(i64::from(DEFAULT_AUTHORIZER_TTL_SECS)),
        )?,
    };
    check(&a)?;
    read_api(state, api, |_| Ok(()))?;
    let id = a.id.clone();
    commit(
        state,
        Command::CreateAuthorizer {
            api_id: api.to_string(),
            authorizer: a,
        },
    )
    .await?;
    Reply::json(201, &out(&load(state, api, &id)?))
}

/// GetAuthorizers: a page of authorizers, by id.
pub fn list(state: &AdminState, api: &str, query: &Query) -> Result<Reply, ApiError> {
    let page = PageRequest::from_query(query)?;
    let items = read_api(state, api, |a| {
        Ok(a.authorizers
            .values()
            .map(|z| (z.id.clone(), out(z)))
            .collect::<Vec<_>>())
    })?;
    let (item, position) = page.apply(items);
    Reply::json(200, &Page { item, position })
}

/// GetAuthorizer.
pub fn get(state: &AdminState, api: &str, id: &str) -> Result<Reply, ApiError> {
    Reply::json(200, &out(&load(state, api, id)?))
}

/// Applies one UpdateAuthorizer patch operation.
pub fn apply_patch(a: &mut Authorizer, p: &PatchOp) -> Result<(), ApiError> {
    let opt = |p: &PatchOp| -> Result<Option<String>, ApiError> {
        if p.op == Op::Remove {
            return Ok(None);
        }
        Ok(non_empty(p.optional_string()?))
    };
    match p.path.as_str() {
        "/name" => a.name = p.required_string()?,
        "/type" => a.kind = parse_type(&p.required_string()?)?,
        "/authType" => a.auth_type = opt(p)?,
        "/authorizerUri" => a.authorizer_uri = opt(p)?,
        "/authorizerCredentials" => a.authorizer_credentials = opt(p)?,
        "/identitySource" => a.identity_source = opt(p)?,
        "/identityValidationExpression" => a.identity_validation_expression = opt(p)?,
        "/authorizerResultTtlInSeconds" => {
            a.authorizer_result_ttl_in_seconds = parse_ttl(p.int_value(i64::MIN, i64::MAX)?)?
        }
        "/providerARNs" => match p.op {
            Op::Add => a.provider_arns.push(p.required_string()?),
            Op::Remove => {
                let v = p.required_string()?;
                a.provider_arns.retain(|x| *x != v);
            }
            _ => return Err(p.invalid_path()),
        },
        _ => return Err(p.invalid_path()),
    }
    Ok(())
}

/// UpdateAuthorizer.
pub async fn update(
    state: &AdminState,
    api: &str,
    id: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut a = load(state, api, id)?;
    for p in &ops {
        apply_patch(&mut a, p)?;
    }
    check(&a)?;
    commit(
        state,
        Command::UpdateAuthorizer {
            api_id: api.to_string(),
            authorizer: a,
        },
    )
    .await?;
    get(state, api, id)
}

/// DeleteAuthorizer (202); refused while a method of the working copy uses it.
pub async fn delete(state: &AdminState, api: &str, id: &str) -> Result<Reply, ApiError> {
    commit(
        state,
        Command::DeleteAuthorizer {
            api_id: api.to_string(),
            id: id.to_string(),
        },
    )
    .await?;
    Ok(Reply::empty(202))
}

/// FlushStageAuthorizersCache (202): bumps the stage's authorizer epoch, so every worker of
/// every node stops using the results its authorizers answered before.
pub async fn flush(state: &AdminState, api: &str, stage: &str) -> Result<Reply, ApiError> {
    read_api(state, api, |a| {
        if !a.stages.contains_key(stage) {
            return Err(ApiError::invalid_id("stage", stage));
        }
        Ok(())
    })?;
    let epoch = read(state, |reg| {
        Ok(reg.authorizer_epoch(api, stage).saturating_add(1))
    })?;
    commit(
        state,
        Command::FlushStageAuthorizersCache {
            api_id: api.to_string(),
            stage: stage.to_string(),
            epoch,
        },
    )
    .await?;
    Ok(Reply::empty(202))
}

/// TestInvokeAuthorizer's input.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestIn {
    headers: Option<BTreeMap<String, String>>,
    multi_value_headers: Option<BTreeMap<String, Vec<String>>>,
    path_with_query_string: Option<String>,
    stage_variables: Option<BTreeMap<String, String>>,
}

/// TestInvokeAuthorizer's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TestOut {
    client_status: u16,
    log: String,
    latency: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<String>,
    authorization: BTreeMap<String, Vec<String>>,
    claims: BTreeMap<String, String>,
}

/// The stage name AWS puts in a test invocation's method ARN.
const TEST_STAGE: &str = "ESTestInvoke-stage";

/// TestInvokeAuthorizer: runs the authorizer's function with the given headers, query
/// string and stage variables (the saved authorizer, not a deployed copy) and answers what
/// it decided: `clientStatus` 200 with its `principalId` and `policy` (and its `context` as
/// `authorization`), 401 when an identity source is missing, the token fails the validation
/// expression or the function raised `Unauthorized`, 500 when it failed or answered
/// something that is not an authorizer's answer.
pub async fn test_invoke(
    state: &AdminState,
    api: &str,
    id: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let i: TestIn = input::parse(body)?;
    let a = load(state, api, id)?;
    let started = std::time::Instant::now();
    let mut log = Vec::new();
    let answer = |status: u16,
                  log: Vec<String>,
                  r: Option<&authz::AuthorizerResult>,
                  policy: Option<String>| {
        Reply::json(
            200,
            &TestOut {
                client_status: status,
                log: log.join("\n"),
                latency: started.elapsed().as_millis() as u64,
                principal_id: r.map(|r| r.principal_id.to_string()),
                policy,
                authorization: r
                    .map(|r| {
                        r.context
                            .iter()
                            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
                            .collect()
                    })
                    .unwrap_or_default(),
                claims: BTreeMap::new(),
            },
        )
    };
    let mut headers: Vec<(String, String)> = i.headers.unwrap_or_default().into_iter().collect();
    for (k, vs) in i.multi_value_headers.unwrap_or_default() {
        headers.extend(vs.into_iter().map(|v| (k.clone(), v)));
    }
    let path_query = i.path_with_query_string.unwrap_or_else(|| "/".into());
    let (path, query) = path_query.split_once('?').unwrap_or((&path_query, ""));
    let vars = i.stage_variables.unwrap_or_default();
    let header = |name: &str| {
        headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let query_param = |name: &str| {
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    };
    // The identity sources, checked as the data plane checks them.
    let sources = authz::parse_identity_sources(a.kind, a.identity_source.as_deref().unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let mut token = "";
    for s in &sources {
        let v = match s {
            IdentitySource::Header(h) => header(h),
            IdentitySource::Query(q) => query_param(q),
            IdentitySource::StageVariable(v) => vars.get(&**v).map(String::as_str),
            IdentitySource::Context(c) => match &**c {
                "httpMethod" => Some("GET"),
                "stage" => Some(TEST_STAGE),
                "apiId" => Some(api),
                _ => Some("test-invoke"),
            },
        };
        match v.filter(|v| !v.is_empty()) {
            Some(v) => token = if token.is_empty() { v } else { token },
            None => {
                log.push(format!(
                    "Identity source {s:?} is missing or empty: 401 without calling the authorizer"
                ));
                return answer(401, log, None, None);
            }
        }
    }
    if a.kind == AuthorizerType::CognitoUserPools {
        // The token checked as the data plane checks an identity token (a method without
        // scopes), with the keys this node has loaded.
        let now = crate::ids::now_epoch_ms() / 1000;
        let token = authz::jwt::token_of(token.as_bytes()).unwrap_or("");
        let mut outcome = Err("malformed token or unknown issuer".to_string());
        for p in &a.provider_arns {
            let issuer = crate::jwks::registry()
                .issuer(p)
                .map_err(ApiError::bad_request)?;
            if authz::jwt::peek(token).map(|(iss, _)| iss) != Some(issuer.issuer.to_string()) {
                continue;
            }
            let Some(keys) = issuer.keys() else {
                outcome = Err("the issuer's JWKS has not loaded yet".into());
                break;
            };
            let rules = authz::jwt::Rules {
                issuer: &issuer.issuer,
                cognito: issuer.cognito,
                audiences: &issuer.audiences,
                scopes: &[],
            };
            outcome = authz::jwt::verify(token, &keys, &rules, now).map_err(|e| format!("{e:?}"));
            break;
        }
        let mut out = TestOut {
            client_status: 200,
            log: String::new(),
            latency: started.elapsed().as_millis() as u64,
            principal_id: None,
            policy: None,
            authorization: BTreeMap::new(),
            claims: BTreeMap::new(),
        };
        match outcome {
            Ok(claims) => {
                out.claims = authz::jwt::claims_text(&claims)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
            }
            Err(why) => {
                out.client_status = 401;
                log.push(format!("The token is refused: {why}"));
                out.log = log.join("\n");
            }
        }
        return Reply::json(200, &out);
    }
    if let (AuthorizerType::Token, Some(e)) = (a.kind, &a.identity_validation_expression) {
        let re = authz::compile_validation(e).map_err(ApiError::bad_request)?;
        if !re.is_match(token) {
            log.push("The token does not match the identity validation expression: 401 without calling the authorizer".into());
            return answer(401, log, None, None);
        }
    }
    let region = state.region.as_deref().unwrap_or("us-east-1");
    let method_arn = format!(
        "arn:aws:execute-api:{region}:{}:{api}/{TEST_STAGE}/GET{path}",
        state.account_id
    );
    let event = match a.kind {
        AuthorizerType::Token => authz::event::token(token, &method_arn),
        _ => {
            let hs: Vec<(&[u8], &[u8])> = headers
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
                .collect();
            let stage_variables: Vec<(Box<str>, Box<str>)> = vars
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                .collect();
            authz::event::request(
                &crate::dataplane::lambda::event::EventInput {
                    tls: None,
                    sent_path: None,
                    http_method: "GET",
                    path,
                    query,
                    headers: &hs,
                    body: b"",
                    path_parameters: &[],
                    resource_path: path,
                    resource_id: "",
                    api_id: api,
                    stage: TEST_STAGE,
                    deployment_id: "",
                    stage_variables: &stage_variables,
                    binary_media_types: &[],
                    request_id: "test-invoke-request",
                    now_ms: 0,
                    source_ip: "test-invoke-source-ip",
                    api_key: None,
                    account_id: &state.account_id,
                    identity: None,
                    authorizer: None,
                },
                &method_arn,
            )
        }
    };
    let function = a
        .authorizer_uri
        .as_deref()
        .map(crate::dataplane::lambda::arn::parse_uri)
        .transpose()
        .map_err(ApiError::bad_request)?
        .ok_or_else(|| ApiError::bad_request("Authorizer URI is required"))?;
    log.push(format!("Calling the authorizer function {}", function.name));
    let result = match state.functions.as_ref() {
        None => Err(crate::functions::InvokeError::NoTarget),
        Some(f) => match f.invoke(
            &function.name,
            &function.arn,
            event,
            authz::AUTHORIZER_TIMEOUT,
        ) {
            Ok(p) => {
                p.rx.await
                    .unwrap_or(Err(crate::functions::InvokeError::Stopped))
            }
            Err(e) => Err(e),
        },
    };
    let payload = match result {
        Ok(p) => p,
        Err(crate::functions::InvokeError::Unauthorized(_)) => {
            log.push("The authorizer raised Unauthorized".into());
            return answer(401, log, None, None);
        }
        Err(e) => {
            log.push(format!(
                "Execution failed due to configuration error: {}",
                e.cause()
            ));
            return answer(500, log, None, None);
        }
    };
    match authz::answer::parse(&payload) {
        Ok(r) => {
            let policy = serde_json::from_slice::<serde_json::Value>(&payload)
                .ok()
                .and_then(|v| v.get("policyDocument").map(|p| p.to_string()));
            log.push(format!(
                "Authorizer answered principalId {}",
                r.principal_id
            ));
            answer(200, log, Some(&r), policy)
        }
        Err(why) => {
            log.push(format!(
                "Execution failed due to configuration error: {why}"
            ));
            answer(500, log, None, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FN: &str = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:auth/invocations";

    fn token() -> Authorizer {
        Authorizer {
            id: "az1".into(),
            name: "tok".into(),
            kind: AuthorizerType::Token,
            provider_arns: Vec::new(),
            auth_type: None,
            authorizer_uri: Some(FN.into()),
            authorizer_credentials: None,
            identity_source: Some("method.request.header.Authorization".into()),
            identity_validation_expression: None,
            authorizer_result_ttl_in_seconds: 300,
        }
    }

    #[test]
    fn authorizers_are_checked_whole() {
        check(&token()).unwrap();
        let bad: Vec<(&str, Authorizer)> = vec![
            (
                "cognito",
                Authorizer {
                    kind: AuthorizerType::CognitoUserPools,
                    ..token()
                },
            ),
            (
                "no uri",
                Authorizer {
                    authorizer_uri: None,
                    ..token()
                },
            ),
            (
                "credentials",
                Authorizer {
                    authorizer_credentials: Some("arn:aws:iam::123456789012:role/r".into()),
                    ..token()
                },
            ),
            (
                "bad uri",
                Authorizer {
                    authorizer_uri: Some("arn:aws:lambda:x".into()),
                    ..token()
                },
            ),
            (
                "ttl",
                Authorizer {
                    authorizer_result_ttl_in_seconds: 3601,
                    ..token()
                },
            ),
            (
                "negative ttl",
                Authorizer {
                    authorizer_result_ttl_in_seconds: -1,
                    ..token()
                },
            ),
            (
                "no source",
                Authorizer {
                    identity_source: None,
                    ..token()
                },
            ),
            (
                "query token",
                Authorizer {
                    identity_source: Some("method.request.querystring.t".into()),
                    ..token()
                },
            ),
            (
                "regex",
                Authorizer {
                    identity_validation_expression: Some("(".into()),
                    ..token()
                },
            ),
            (
                "empty name",
                Authorizer {
                    name: String::new(),
                    ..token()
                },
            ),
            (
                "regex on REQUEST",
                Authorizer {
                    kind: AuthorizerType::Request,
                    identity_validation_expression: Some("a".into()),
                    ..token()
                },
            ),
            (
                "REQUEST cached without sources",
                Authorizer {
                    kind: AuthorizerType::Request,
                    identity_source: None,
                    ..token()
                },
            ),
        ];
        for (what, a) in bad {
            let e = check(&a).unwrap_err();
            assert_eq!(e.status, 400, "{what}");
        }
        // A REQUEST authorizer without caching needs no identity source.
        check(&Authorizer {
            kind: AuthorizerType::Request,
            identity_source: None,
            authorizer_result_ttl_in_seconds: 0,
            ..token()
        })
        .unwrap();
        // A stage variable in the URI is checked when a stage serves it.
        check(&Authorizer {
            authorizer_uri: Some(FN.replace("function:auth", "function:${stageVariables.fn}")),
            ..token()
        })
        .unwrap();
    }

    #[test]
    fn patches_follow_aws_paths() {
        let op = |o: Op, path: &str, v: Option<&str>| PatchOp {
            op: o,
            path: path.into(),
            value: v.map(String::from),
            from: None,
        };
        let mut a = token();
        apply_patch(
            &mut a,
            &op(Op::Replace, "/authorizerResultTtlInSeconds", Some("0")),
        )
        .unwrap();
        assert_eq!(a.authorizer_result_ttl_in_seconds, 0);
        apply_patch(
            &mut a,
            &op(
                Op::Replace,
                "/identityValidationExpression",
                Some("Bearer .*"),
            ),
        )
        .unwrap();
        assert_eq!(
            a.identity_validation_expression.as_deref(),
            Some("Bearer .*")
        );
        apply_patch(&mut a, &op(Op::Replace, "/type", Some("REQUEST"))).unwrap();
        assert_eq!(a.kind, AuthorizerType::Request);
        apply_patch(
            &mut a,
            &op(Op::Remove, "/identityValidationExpression", None),
        )
        .unwrap();
        assert_eq!(a.identity_validation_expression, None);
        apply_patch(&mut a, &op(Op::Add, "/providerARNs", Some("arn:x"))).unwrap();
        assert_eq!(a.provider_arns, vec!["arn:x".to_string()]);
        assert!(apply_patch(
            &mut a,
            &op(Op::Replace, "/authorizerResultTtlInSeconds", Some("4000"))
        )
        .is_err());
        assert!(apply_patch(&mut a, &op(Op::Replace, "/type", Some("OAUTH"))).is_err());
        assert!(apply_patch(&mut a, &op(Op::Replace, "/id", Some("x"))).is_err());
    }
}
