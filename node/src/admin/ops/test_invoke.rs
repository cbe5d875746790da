//! TestInvokeMethod: runs one method of the API's working tree (what the next deployment
//! would serve, not a deployed stage) through the data plane's own phases and integration
//! code ([`crate::dataplane::test_invoke`]), and answers what a client would have got, with
//! an execution log.
//!
//! As AWS's test invocation does, it skips the method's authorization and API key (and so
//! the usage plans' throttles and quotas), and there is no stage cache or stage throttle;
//! everything else (request validation, mapping templates, the integration, the integration
//! responses, the API's gateway responses) runs as a deployed stage runs it. The stage is
//! named `test-invoke-stage` and carries the `stageVariables` given.

use super::{read_api, Reply};
use crate::admin::error::ApiError;
use crate::admin::input;
use crate::admin::router::MethodKey;
use crate::admin::AdminState;
use crate::dataplane::cluster_limits::ClusterLimits;
use crate::dataplane::routing::compile_stage_with;
use crate::dataplane::test_invoke::{self, Invocation, Unrunnable, TEST_STAGE};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tollgate_proto::model::{AuthorizationType, Deployment, RestApi, Stage};

/// TestInvokeMethod's input (botocore's `TestInvokeMethodRequest`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestIn {
    path_with_query_string: Option<String>,
    body: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    multi_value_headers: Option<BTreeMap<String, Vec<String>>>,
    client_certificate_id: Option<String>,
    stage_variables: Option<BTreeMap<String, String>>,
}

/// TestInvokeMethod's answer (botocore's `TestInvokeMethodResponse`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TestOut {
    status: u16,
    body: String,
    headers: BTreeMap<String, String>,
    multi_value_headers: BTreeMap<String, Vec<String>>,
    log: String,
    latency: u64,
}

/// The deployment a test invocation serves: the working tree cut down to the method's
/// resource and its ancestors, with that one method, its authorization and API key
/// requirement removed (AWS's test invocation skips both).
fn test_deployment(api: &RestApi, k: &MethodKey) -> Result<Deployment, ApiError> {
    let target = api
        .resources
        .get(&k.resource)
        .ok_or_else(|| ApiError::invalid_id("resource", &k.resource))?;
    let mut method = target
        .methods
        .get(&k.verb)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Invalid Method identifier specified"))?;
    method.authorization_type = AuthorizationType::None;
    method.authorizer_id = None;
    method.authorization_scopes.clear();
    method.api_key_required = false;
    let mut resources = BTreeMap::new();
    let mut at = Some(target);
    // Bounded by the tree's size (a cycle in stored state cannot loop forever).
    for _ in 0..=api.resources.len() {
        let Some(r) = at else { break };
        let mut kept = r.clone();
        kept.methods.clear();
        resources.insert(kept.id.clone(), kept);
        at = r.parent_id.as_ref().and_then(|p| api.resources.get(p));
    }
    if let Some(r) = resources.get_mut(&k.resource) {
        r.methods.insert(k.verb.clone(), method);
    }
    Ok(Deployment {
        id: "test-invoke-deployment-id".into(),
        description: None,
        created_date: 0,
        root_resource_id: api.root_resource_id.clone(),
        resources: resources.into(),
        gateway_responses: api.gateway_responses.clone(),
        models: api.models.clone(),
        request_validators: api.request_validators.clone(),
        authorizers: BTreeMap::new(),
    })
}

/// TestInvokeMethod (`POST /restapis/{id}/resources/{rid}/methods/{verb}`).
pub async fn test_invoke(
    state: &AdminState,
    k: &MethodKey,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let i: TestIn = input::parse(body)?;
    if i.client_certificate_id.is_some() {
        return Err(ApiError::bad_request(
            "clientCertificateId is not supported by Tollgate's test invocations: client certificates are not yet presented to backends",
        ));
    }
    let (stage, api_path) = read_api(state, &k.api, |api| {
        let dep = test_deployment(api, k)?;
        let path = RestApi::resource_path(&dep.resources, &k.resource).unwrap_or_default();
        let stage = Stage {
            stage_name: TEST_STAGE.into(),
            deployment_id: dep.id.clone(),
            variables: i.stage_variables.clone().unwrap_or_default(),
            ..Stage::default()
        };
        let mut routes = compile_stage_with(&api.id, &stage, &dep, &ClusterLimits::default(), 0);
        routes.binary_media_types = api
            .settings
            .binary_media_types
            .iter()
            .map(|t| t.as_str().into())
            .collect();
        // Not a stage of the API's: kept out of its metrics and access logs.
        routes.series = None;
        routes.access_log = None;
        Ok((routes, path))
    })?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, values) in i.multi_value_headers.unwrap_or_default() {
        headers.extend(values.into_iter().map(|v| (name.clone(), v)));
    }
    for (name, value) in i.headers.unwrap_or_default() {
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            headers.push((name, value));
        }
    }
    // The verb a client would send: any for an ANY method (AWS's console sends GET).
    let verb = if k.verb == "ANY" { "GET" } else { &k.verb };
    let inv = Invocation {
        stage,
        verb: verb.to_string(),
        path_with_query: i
            .path_with_query_string
            .filter(|p| !p.is_empty())
            .unwrap_or(api_path),
        headers,
        body: i.body.unwrap_or_default().into_bytes(),
        iam: crate::iam::IamEnv::new(
            state.region.as_deref(),
            &state.account_id,
            state.credentials.clone(),
        ),
        functions: state.functions.clone(),
    };
    let outcome = tokio::task::spawn_blocking(move || test_invoke::run(inv))
        .await
        .map_err(|e| ApiError::internal(format!("the test invocation failed: {e}")))?
        .map_err(|Unrunnable::BadRequest(m)| ApiError::bad_request(m))?;
    let mut single = BTreeMap::new();
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, v) in outcome.headers {
        multi.entry(n.clone()).or_default().push(v.clone());
        single.insert(n, v);
    }
    Reply::json(
        200,
        &TestOut {
            status: outcome.status,
            body: String::from_utf8_lossy(&outcome.body).into_owned(),
            headers: single,
            multi_value_headers: multi,
            log: outcome.log.join("\n"),
            latency: outcome.latency_ms,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_proto::model::{Method, Resource};

    fn api() -> RestApi {
        let mut api = RestApi {
            id: "a1".into(),
            root_resource_id: "root".into(),
            ..RestApi::default()
        };
        let res = |id: &str, parent: Option<&str>, part: &str, verbs: &[&str]| Resource {
            id: id.into(),
            parent_id: parent.map(Into::into),
            path_part: part.into(),
            methods: verbs
                .iter()
                .map(|v| {
                    let m = Method {
                        http_method: v.to_string(),
                        authorization_type: AuthorizationType::AwsIam,
                        api_key_required: true,
                        ..Method::default()
                    };
                    (v.to_string(), Box::new(m))
                })
                .collect(),
        };
        for r in [
            res("root", None, "", &["GET"]),
            res("pets", Some("root"), "pets", &["GET", "POST"]),
            res("pet", Some("pets"), "{id}", &["GET"]),
            res("other", Some("root"), "other", &["GET"]),
        ] {
            api.resources.insert(r.id.clone(), r);
        }
        api
    }

    fn key(resource: &str, verb: &str) -> MethodKey {
        MethodKey {
            api: "a1".into(),
            resource: resource.into(),
            verb: verb.into(),
        }
    }

    #[test]
    fn the_test_deployment_holds_the_one_method_without_auth_or_key() {
        let d = test_deployment(&api(), &key("pet", "GET")).unwrap();
        let ids: Vec<&str> = d.resources.keys().map(String::as_str).collect();
        assert_eq!(ids, ["pet", "pets", "root"]);
        assert!(d.resources["root"].methods.is_empty());
        assert!(d.resources["pets"].methods.is_empty());
        let m = &d.resources["pet"].methods["GET"];
        assert_eq!(m.authorization_type, AuthorizationType::None);
        assert!(!m.api_key_required);
    }

    #[test]
    fn unknown_resources_and_methods_are_refused_as_aws_words_it() {
        let e = test_deployment(&api(), &key("nope", "GET")).unwrap_err();
        assert_eq!(e.status, 404);
        let e = test_deployment(&api(), &key("pet", "DELETE")).unwrap_err();
        assert_eq!(e.message, "Invalid Method identifier specified");
    }
}
