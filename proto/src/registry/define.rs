//! [`Command::DefineRestApi`]: an API's whole definition set at once (an OpenAPI import or
//! put). Everything is checked before anything changes, so the definition lands whole or not.
//!
//! Rules: the resources form one tree under the root (the only resource without a parent,
//! with an empty path part), each path part valid and unique among its siblings as
//! CreateResource requires, at most [`super::MAX_RESOURCES_PER_API`]; every map is keyed by
//! its value's own id (verb, name, type); each method's verb is one AWS knows, and the request
//! validator and models it names exist in the definition.

use super::{check_http_method, check_path_part, not_found, Registry, MAX_RESOURCES_PER_API};
use crate::command::{ApplyError, ApplyResult};
use crate::model::RestApi;

fn bad(msg: impl Into<String>) -> ApplyError {
    ApplyError::BadRequest(msg.into())
}

impl Registry {
    pub(super) fn define_rest_api(&mut self, api: &RestApi, create: bool) -> ApplyResult {
        if api.id.is_empty() {
            return Err(bad("An API identifier must not be empty"));
        }
        check_definition(api)?;
        if create {
            if self.apis.contains_key(&api.id) {
                return Err(ApplyError::Conflict(format!(
                    "API {} already exists",
                    api.id
                )));
            }
            if !api.deployments.is_empty() || !api.stages.is_empty() {
                return Err(bad("A new API has no deployments or stages"));
            }
            self.apis.insert(api.id.clone(), api.clone().into());
            return Ok(());
        }
        let existing = self
            .apis
            .get_mut(&api.id)
            .ok_or_else(|| not_found("API", &api.id))?;
        let mut next = api.clone();
        next.created_date = existing.created_date;
        next.deployments = std::mem::take(&mut existing.deployments);
        next.stages = std::mem::take(&mut existing.stages);
        *existing = next.into();
        Ok(())
    }
}

/// Checks a definition's working copy whole (see the module documentation).
fn check_definition(api: &RestApi) -> ApplyResult {
    if api.resources.len() > MAX_RESOURCES_PER_API {
        return Err(bad(format!(
            "Maximum number of resources ({MAX_RESOURCES_PER_API}) reached"
        )));
    }
    let root = api
        .resources
        .get(&api.root_resource_id)
        .ok_or_else(|| not_found("resource", &api.root_resource_id))?;
    if root.parent_id.is_some() || !root.path_part.is_empty() {
        return Err(bad("The root resource has no parent and no path part"));
    }
    for (id, r) in &api.resources {
        if *id != r.id {
            return Err(bad(format!("Resource {id} is filed under another id")));
        }
        if *id != api.root_resource_id {
            let parent = r
                .parent_id
                .as_deref()
                .ok_or_else(|| bad(format!("Resource {id} has no parent")))?;
            if !api.resources.contains_key(parent) {
                return Err(not_found("resource", parent));
            }
            if RestApi::resource_path(&api.resources, id).is_none() {
                return Err(bad(format!("Resource {id} is not under the root")));
            }
            check_path_part(&api.resources, parent, &r.path_part, Some(id))?;
        }
        for (verb, m) in &r.methods {
            if *verb != m.http_method {
                return Err(bad(format!("Method {verb} is filed under another verb")));
            }
            check_http_method(verb)?;
            if let Some(v) = &m.request_validator_id {
                if !api.request_validators.contains_key(v) {
                    return Err(not_found("request validator", v));
                }
            }
            let models = m.request_models.values().chain(
                m.method_responses
                    .values()
                    .flat_map(|r| r.response_models.values()),
            );
            for name in models {
                if !api.models.contains_key(name) {
                    return Err(ApplyError::NotFound(format!(
                        "Invalid model name specified: {name}"
                    )));
                }
            }
        }
    }
    for (name, m) in &api.models {
        if *name != m.name
            || m.id.is_empty()
            || m.name.is_empty()
            || !m.name.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(bad(format!(
                "Model name must be non-empty and alphanumeric: {name}"
            )));
        }
    }
    for (id, v) in &api.request_validators {
        if *id != v.id || id.is_empty() {
            return Err(bad("Request validator identifier must not be empty"));
        }
    }
    for (t, g) in &api.gateway_responses {
        if *t != g.response_type {
            return Err(bad("A gateway response is filed under another type"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::command::{ApplyError, Command, Scope};
    use crate::model::{
        Deployment, Method, Model, RequestValidator, Resource, RestApi, RestApiSettings, Stage,
    };
    use crate::Registry;
    use std::collections::BTreeMap;

    fn resource(id: &str, parent: Option<&str>, part: &str, verbs: &[&str]) -> (String, Resource) {
        let methods = verbs
            .iter()
            .map(|v| {
                (
                    v.to_string(),
                    Box::new(Method {
                        http_method: v.to_string(),
                        ..Default::default()
                    }),
                )
            })
            .collect();
        (
            id.to_string(),
            Resource {
                id: id.into(),
                parent_id: parent.map(String::from),
                path_part: part.into(),
                methods,
            },
        )
    }

    fn definition(id: &str, name: &str) -> RestApi {
        RestApi {
            id: id.into(),
            settings: RestApiSettings {
                name: name.into(),
                ..Default::default()
            },
            created_date: 5,
            root_resource_id: "root".into(),
            resources: BTreeMap::from([
                resource("root", None, "", &[]),
                resource("pets", Some("root"), "pets", &["GET", "POST"]),
                resource("pet", Some("pets"), "{petId}", &["GET"]),
            ])
            .into(),
            models: BTreeMap::from([(
                "Pet".to_string(),
                Model {
                    id: "m1".into(),
                    name: "Pet".into(),
                    content_type: "application/json".into(),
                    ..Default::default()
                },
            )]),
            ..Default::default()
        }
    }

    #[test]
    fn creates_whole_then_replaces_keeping_deployments_and_stages() {
        let mut r = Registry::default();
        let cmd = Command::DefineRestApi {
            api: definition("a1", "pets"),
            create: true,
        };
        r.apply(&cmd).unwrap();
        assert_eq!(r.api("a1").unwrap().resources.len(), 3);
        // Created once: a second create is a conflict and changes nothing.
        assert!(matches!(r.apply(&cmd), Err(ApplyError::Conflict(_))));
        r.apply(&Command::CreateDeployment {
            api_id: "a1".into(),
            deployment_id: "d1".into(),
            description: None,
            created_date: 9,
            stage: Some(Stage {
                stage_name: "prod".into(),
                ..Default::default()
            }),
        })
        .unwrap();
        let mut next = definition("a1", "renamed");
        next.created_date = 77;
        next.resources.remove("pet");
        r.apply(&Command::DefineRestApi {
            api: next,
            create: false,
        })
        .unwrap();
        let api = r.api("a1").unwrap();
        assert_eq!(api.settings.name, "renamed");
        assert_eq!(api.created_date, 5, "the creation date is kept");
        assert_eq!(api.resources.len(), 2);
        assert!(api.deployments.contains_key("d1"));
        assert_eq!(api.stages["prod"].deployment_id, "d1");
        assert_eq!(
            Command::DefineRestApi {
                api: definition("a1", "x"),
                create: false
            }
            .scopes(),
            vec![Scope::Api("a1".into())]
        );
    }

    #[test]
    fn a_bad_definition_changes_nothing() {
        let mut r = Registry::default();
        r.apply(&Command::DefineRestApi {
            api: definition("a1", "pets"),
            create: true,
        })
        .unwrap();
        let before = r.clone();
        let mut cases: Vec<RestApi> = Vec::new();
        let mut d = definition("a1", "x");
        d.resources
            .insert("dup".into(), resource("dup", Some("root"), "pets", &[]).1);
        cases.push(d); // two siblings with one name
        let mut d = definition("a1", "x");
        d.resources
            .insert("o".into(), resource("o", Some("nowhere"), "o", &[]).1);
        cases.push(d); // an orphan
        let mut d = definition("a1", "x");
        d.resources
            .insert("v".into(), resource("v", Some("root"), "{a}", &[]).1);
        d.resources
            .insert("w".into(), resource("w", Some("root"), "{b}", &[]).1);
        cases.push(d); // two variables on one level
        let mut d = definition("a1", "x");
        d.resources
            .insert("x".into(), resource("x", Some("root"), "x", &["FETCH"]).1);
        cases.push(d); // unknown verb
        let mut d = definition("a1", "x");
        if let Some(m) = d
            .resources
            .get_mut("pets")
            .and_then(|r| r.methods.get_mut("GET"))
        {
            m.request_validator_id = Some("nope".into());
        }
        cases.push(d); // a validator that is not there
        let mut d = definition("a1", "x");
        if let Some(m) = d
            .resources
            .get_mut("pets")
            .and_then(|r| r.methods.get_mut("GET"))
        {
            m.request_models
                .insert("application/json".into(), "Missing".into());
        }
        cases.push(d); // a model that is not there
        let mut d = definition("a1", "x");
        d.root_resource_id = "pets".into();
        cases.push(d); // a root with a parent
        let mut d = definition("a1", "x");
        for i in 0..=crate::registry::MAX_RESOURCES_PER_API {
            let id = format!("r{i}");
            d.resources
                .insert(id.clone(), resource(&id, Some("root"), &id, &[]).1);
        }
        cases.push(d); // too many resources
        for (i, d) in cases.into_iter().enumerate() {
            let res = r.apply(&Command::DefineRestApi {
                api: d,
                create: false,
            });
            assert!(res.is_err(), "case {i} applied");
            assert_eq!(r, before, "case {i} changed the registry");
        }
        // Validators named by a method must be in the definition: with it, it applies.
        let mut d = definition("a1", "x");
        d.request_validators.insert(
            "v1".into(),
            RequestValidator {
                id: "v1".into(),
                name: "all".into(),
                validate_request_body: true,
                validate_request_parameters: true,
            },
        );
        if let Some(m) = d
            .resources
            .get_mut("pets")
            .and_then(|r| r.methods.get_mut("GET"))
        {
            m.request_validator_id = Some("v1".into());
        }
        r.apply(&Command::DefineRestApi {
            api: d,
            create: false,
        })
        .unwrap();
        // A create may not bring deployments.
        let mut d = definition("a2", "x");
        d.deployments.insert("d".into(), Deployment::default());
        assert!(r
            .apply(&Command::DefineRestApi {
                api: d,
                create: true
            })
            .is_err());
        assert!(r
            .apply(&Command::DefineRestApi {
                api: definition("zz", "x"),
                create: false
            })
            .is_err());
    }
}
