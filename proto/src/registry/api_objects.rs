//! The state machine's rules for an API's gateway responses, models and request validators
//! (the working copy; CreateDeployment freezes them into the deployment).
//!
//! Rules (with AWS's error kinds):
//! - a model's name is new in its API (conflict), and so is its id;
//! - a model a method of the working copy refers to (request or response model), or another
//!   model's schema refers to by its model URL, cannot be deleted (conflict, AWS's message);
//! - a request validator's id is new in its API (conflict); one a method of the working copy
//!   uses cannot be deleted (conflict);
//! - a gateway response can be put (or patched) for any type, and deleted only when set;
//! - an authorizer's id is new in its API (conflict); one a method of the working copy uses
//!   cannot be deleted (conflict, AWS's message).
//!
//! Whether a method's validator, models and authorizer exist is checked by the admin layer under a guard
//! on the API's version, not here: PutMethod's rules are part of the state machine that older
//! logs were applied with, and must not change.

use super::{not_found, Registry};
use crate::command::{ApplyError, ApplyResult, Command};
use crate::model::{Authorizer, Model, RequestValidator, RestApi};

fn conflict(msg: impl Into<String>) -> ApplyError {
    ApplyError::Conflict(msg.into())
}

/// `/pets/POST`-style names of the working copy's methods for which `uses` holds.
fn methods_where(api: &RestApi, uses: impl Fn(&crate::model::Method) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for res in api.resources.values() {
        for m in res.methods.values().filter(|m| uses(m)) {
            let path = RestApi::resource_path(&api.resources, &res.id).unwrap_or_default();
            out.push(format!("{path}/{}", m.http_method));
        }
    }
    out
}

impl Registry {
    /// Applies a gateway response, model or request validator command.
    pub(super) fn apply_api_object_command(&mut self, cmd: &Command) -> ApplyResult {
        match cmd {
            Command::PutGatewayResponse { api_id, response }
            | Command::UpdateGatewayResponse { api_id, response } => {
                let api = self.api_mut(api_id)?;
                api.gateway_responses
                    .insert(response.response_type, response.clone());
                Ok(())
            }
            Command::DeleteGatewayResponse {
                api_id,
                response_type,
            } => {
                let api = self.api_mut(api_id)?;
                api.gateway_responses.remove(response_type).ok_or_else(|| {
                    ApplyError::NotFound(format!(
                        "Invalid gateway response type specified: {}",
                        response_type.as_str()
                    ))
                })?;
                Ok(())
            }
            Command::CreateModel { api_id, model } => {
                let api = self.api_mut(api_id)?;
                check_model(model)?;
                if api.models.contains_key(&model.name) {
                    return Err(conflict("Model name already exists for this REST API"));
                }
                if api.models.values().any(|m| m.id == model.id) {
                    return Err(conflict(format!("Model {} already exists", model.id)));
                }
                api.models.insert(model.name.clone(), model.clone());
                Ok(())
            }
            Command::UpdateModel { api_id, model } => {
                let api = self.api_mut(api_id)?;
                check_model(model)?;
                let slot = api
                    .models
                    .get_mut(&model.name)
                    .ok_or_else(|| model_not_found(&model.name))?;
                let id = std::mem::take(&mut slot.id);
                *slot = Model {
                    id,
                    ..model.clone()
                };
                Ok(())
            }
            Command::DeleteModel { api_id, name } => {
                let api = self.api_mut(api_id)?;
                if !api.models.contains_key(name) {
                    return Err(model_not_found(name));
                }
                let in_request =
                    methods_where(api, |m| m.request_models.values().any(|n| n == name));
                if let Some(at) = in_request.first() {
                    return Err(conflict(format!(
                        "Cannot delete model '{name}', is referenced in method request: {at}"
                    )));
                }
                let in_response = methods_where(api, |m| {
                    m.method_responses
                        .values()
                        .any(|r| r.response_models.values().any(|n| n == name))
                });
                if let Some(at) = in_response.first() {
                    return Err(conflict(format!(
                        "Cannot delete model '{name}', is referenced in method response: {at}"
                    )));
                }
                if let Some(other) = api
                    .models
                    .values()
                    .find(|m| m.name != *name && m.refers_to(api_id, name))
                {
                    return Err(conflict(format!(
                        "Cannot delete model '{name}', is referenced in model: {}",
                        other.name
                    )));
                }
                api.models.remove(name);
                Ok(())
            }
            Command::CreateRequestValidator { api_id, validator } => {
                let api = self.api_mut(api_id)?;
                check_validator(validator)?;
                if api.request_validators.contains_key(&validator.id) {
                    return Err(conflict(format!(
                        "Request validator {} already exists",
                        validator.id
                    )));
                }
                api.request_validators
                    .insert(validator.id.clone(), validator.clone());
                Ok(())
            }
            Command::UpdateRequestValidator { api_id, validator } => {
                let api = self.api_mut(api_id)?;
                check_validator(validator)?;
                let slot = api
                    .request_validators
                    .get_mut(&validator.id)
                    .ok_or_else(|| validator_not_found(&validator.id))?;
                *slot = validator.clone();
                Ok(())
            }
            Command::DeleteRequestValidator { api_id, id } => {
                let api = self.api_mut(api_id)?;
                if !api.request_validators.contains_key(id) {
                    return Err(validator_not_found(id));
                }
                let users = methods_where(api, |m| {
                    m.request_validator_id.as_deref() == Some(id.as_str())
                });
                if let Some(at) = users.first() {
                    return Err(conflict(format!(
                        "Cannot delete request validator '{id}', is referenced in method: {at}"
                    )));
                }
                api.request_validators.remove(id);
                Ok(())
            }
            Command::CreateAuthorizer { api_id, authorizer } => {
                let api = self.api_mut(api_id)?;
                check_authorizer(authorizer)?;
                if api.authorizers.contains_key(&authorizer.id) {
                    return Err(conflict(format!(
                        "Authorizer {} already exists",
                        authorizer.id
                    )));
                }
                api.authorizers
                    .insert(authorizer.id.clone(), authorizer.clone());
                Ok(())
            }
            Command::UpdateAuthorizer { api_id, authorizer } => {
                let api = self.api_mut(api_id)?;
                check_authorizer(authorizer)?;
                let slot = api
                    .authorizers
                    .get_mut(&authorizer.id)
                    .ok_or_else(|| not_found("authorizer", &authorizer.id))?;
                *slot = authorizer.clone();
                Ok(())
            }
            Command::DeleteAuthorizer { api_id, id } => {
                let api = self.api_mut(api_id)?;
                let Some(authorizer) = api.authorizers.get(id) else {
                    return Err(not_found("authorizer", id));
                };
                let users = methods_where(api, |m| m.authorizer_id.as_deref() == Some(id.as_str()));
                if let Some(at) = users.first() {
                    return Err(conflict(format!(
                        "Cannot delete authorizer '{}', is referenced in method: {at}",
                        authorizer.name
                    )));
                }
                api.authorizers.remove(id);
                Ok(())
            }
            _ => Err(ApplyError::BadRequest(
                "not a gateway response, model, request validator or authorizer command".into(),
            )),
        }
    }
}

fn model_not_found(name: &str) -> ApplyError {
    ApplyError::NotFound(format!("Invalid model name specified: {name}"))
}

fn validator_not_found(id: &str) -> ApplyError {
    not_found("request validator", id)
}

/// AWS's model names: alphanumeric, non-empty.
fn check_model(model: &Model) -> ApplyResult {
    if model.name.is_empty() || !model.name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApplyError::BadRequest(
            "Model name must be non-empty and alphanumeric".into(),
        ));
    }
    if model.id.is_empty() {
        return Err(ApplyError::BadRequest(
            "Model identifier must not be empty".into(),
        ));
    }
    Ok(())
}

fn check_authorizer(a: &Authorizer) -> ApplyResult {
    if a.id.is_empty() {
        return Err(ApplyError::BadRequest(
            "Authorizer identifier must not be empty".into(),
        ));
    }
    Ok(())
}

fn check_validator(v: &RequestValidator) -> ApplyResult {
    if v.id.is_empty() {
        return Err(ApplyError::BadRequest(
            "Request validator identifier must not be empty".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Scope;
    use crate::model::{
        model_url, GatewayResponse, Integration, Method, MethodResponse, RestApiSettings,
    };
    use crate::GatewayResponseType;
    use std::collections::BTreeMap;

    fn api(r: &mut Registry, id: &str) {
        r.apply(&Command::CreateRestApi {
            id: id.into(),
            root_resource_id: "root01".into(),
            settings: RestApiSettings::default(),
            created_date: 1,
            clone_from: None,
        })
        .unwrap();
    }

    fn model(id: &str, name: &str, schema: &str) -> Model {
        Model {
            id: id.into(),
            name: name.into(),
            description: None,
            schema: Some(schema.into()),
            content_type: "application/json".into(),
        }
    }

    fn create_model(r: &mut Registry, m: Model) -> ApplyResult {
        r.apply(&Command::CreateModel {
            api_id: "a1".into(),
            model: m,
        })
    }

    fn validator(id: &str) -> RequestValidator {
        RequestValidator {
            id: id.into(),
            name: format!("v-{id}"),
            validate_request_body: true,
            validate_request_parameters: false,
        }
    }

    fn put_method(r: &mut Registry, m: Method) {
        r.apply(&Command::PutMethod {
            api_id: "a1".into(),
            resource_id: "root01".into(),
            method: Method {
                authorization_type: crate::model::AuthorizationType::None,
                integration: Some(Integration::default()),
                ..m
            },
        })
        .unwrap();
    }

    #[test]
    fn models_are_unique_by_name_and_keep_their_id_on_update() {
        let mut r = Registry::default();
        api(&mut r, "a1");
        create_model(&mut r, model("m1", "Pet", "{}")).unwrap();
        let dup = create_model(&mut r, model("m2", "Pet", "{}"));
        assert_eq!(
            dup,
            Err(ApplyError::Conflict(
                "Model name already exists for this REST API".into()
            ))
        );
        assert!(matches!(
            create_model(&mut r, model("m1", "Other", "{}")),
            Err(ApplyError::Conflict(_))
        ));
        assert!(matches!(
            create_model(&mut r, model("m3", "bad name", "{}")),
            Err(ApplyError::BadRequest(_))
        ));
        r.apply(&Command::UpdateModel {
            api_id: "a1".into(),
            model: model("ignored", "Pet", "{\"type\":\"object\"}"),
        })
        .unwrap();
        let pet = &r.api("a1").unwrap().models["Pet"];
        assert_eq!(pet.id, "m1");
        assert_eq!(pet.schema.as_deref(), Some("{\"type\":\"object\"}"));
        assert!(matches!(
            r.apply(&Command::UpdateModel {
                api_id: "a1".into(),
                model: model("m9", "Nope", "{}"),
            }),
            Err(ApplyError::NotFound(_))
        ));
        // Unknown API.
        assert!(matches!(
            r.apply(&Command::CreateModel {
                api_id: "zz".into(),
                model: model("m5", "X", "{}"),
            }),
            Err(ApplyError::NotFound(_))
        ));
    }

    #[test]
    fn a_referenced_model_cannot_be_deleted() {
        let mut r = Registry::default();
        api(&mut r, "a1");
        create_model(&mut r, model("m1", "Pet", "{}")).unwrap();
        create_model(&mut r, model("m2", "PetList", "{}")).unwrap();
        let list = format!(
            "{{\"type\":\"array\",\"items\":{{\"$ref\":\"{}\"}}}}",
            model_url("a1", "Pet")
        );
        create_model(&mut r, model("m3", "Pets", &list)).unwrap();
        let del = |name: &str| Command::DeleteModel {
            api_id: "a1".into(),
            name: name.into(),
        };
        // Referred to by Pets' schema (and PetList, whose URL starts alike, is not).
        assert_eq!(
            r.apply(&del("Pet")),
            Err(ApplyError::Conflict(
                "Cannot delete model 'Pet', is referenced in model: Pets".into()
            ))
        );
        r.apply(&del("PetList")).unwrap();
        // Referred to by a method's request models.
        put_method(
            &mut r,
            Method {
                http_method: "POST".into(),
                request_models: BTreeMap::from([("application/json".into(), "Pets".into())]),
                ..Default::default()
            },
        );
        assert_eq!(
            r.apply(&del("Pets")),
            Err(ApplyError::Conflict(
                "Cannot delete model 'Pets', is referenced in method request: //POST".into()
            ))
        );
        // ... or response models.
        create_model(&mut r, model("m4", "Error", "{}")).unwrap();
        put_method(
            &mut r,
            Method {
                http_method: "GET".into(),
                method_responses: BTreeMap::from([(
                    "400".into(),
                    Box::new(MethodResponse {
                        status_code: "400".into(),
                        response_models: BTreeMap::from([(
                            "application/json".into(),
                            "Error".into(),
                        )]),
                        ..Default::default()
                    }),
                )]),
                ..Default::default()
            },
        );
        assert!(matches!(
            r.apply(&del("Error")),
            Err(ApplyError::Conflict(_))
        ));
        // Once the method is gone, it can go.
        r.apply(&Command::DeleteMethod {
            api_id: "a1".into(),
            resource_id: "root01".into(),
            http_method: "GET".into(),
        })
        .unwrap();
        r.apply(&del("Error")).unwrap();
        assert_eq!(
            r.apply(&del("Error")),
            Err(ApplyError::NotFound(
                "Invalid model name specified: Error".into()
            ))
        );
    }

    #[test]
    fn validators_and_their_use() {
        let mut r = Registry::default();
        api(&mut r, "a1");
        let create = |v| Command::CreateRequestValidator {
            api_id: "a1".into(),
            validator: v,
        };
        r.apply(&create(validator("v1"))).unwrap();
        assert!(matches!(
            r.apply(&create(validator("v1"))),
            Err(ApplyError::Conflict(_))
        ));
        let mut changed = validator("v1");
        changed.validate_request_parameters = true;
        r.apply(&Command::UpdateRequestValidator {
            api_id: "a1".into(),
            validator: changed.clone(),
        })
        .unwrap();
        assert_eq!(r.api("a1").unwrap().request_validators["v1"], changed);
        assert!(matches!(
            r.apply(&Command::UpdateRequestValidator {
                api_id: "a1".into(),
                validator: validator("v2"),
            }),
            Err(ApplyError::NotFound(_))
        ));
        put_method(
            &mut r,
            Method {
                http_method: "POST".into(),
                request_validator_id: Some("v1".into()),
                ..Default::default()
            },
        );
        let del = Command::DeleteRequestValidator {
            api_id: "a1".into(),
            id: "v1".into(),
        };
        assert!(matches!(r.apply(&del), Err(ApplyError::Conflict(_))));
        r.apply(&Command::DeleteMethod {
            api_id: "a1".into(),
            resource_id: "root01".into(),
            http_method: "POST".into(),
        })
        .unwrap();
        r.apply(&del).unwrap();
        assert!(matches!(r.apply(&del), Err(ApplyError::NotFound(_))));
    }

    #[test]
    fn gateway_responses_put_update_delete() {
        let mut r = Registry::default();
        api(&mut r, "a1");
        let resp = |status: &str| GatewayResponse {
            response_type: GatewayResponseType::Default4xx,
            status_code: Some(status.into()),
            response_parameters: BTreeMap::from([(
                "gatewayresponse.header.Access-Control-Allow-Origin".into(),
                "'*'".into(),
            )]),
            response_templates: BTreeMap::new(),
        };
        // Update also sets a type never put (AWS patches its default).
        r.apply(&Command::UpdateGatewayResponse {
            api_id: "a1".into(),
            response: resp("400"),
        })
        .unwrap();
        r.apply(&Command::PutGatewayResponse {
            api_id: "a1".into(),
            response: resp("418"),
        })
        .unwrap();
        let gr = &r.api("a1").unwrap().gateway_responses;
        assert_eq!(gr.len(), 1);
        assert_eq!(
            gr[&GatewayResponseType::Default4xx].status_code.as_deref(),
            Some("418")
        );
        let del = |t| Command::DeleteGatewayResponse {
            api_id: "a1".into(),
            response_type: t,
        };
        assert!(matches!(
            r.apply(&del(GatewayResponseType::Throttled)),
            Err(ApplyError::NotFound(_))
        ));
        r.apply(&del(GatewayResponseType::Default4xx)).unwrap();
        assert!(r.api("a1").unwrap().gateway_responses.is_empty());
    }

    /// A deployment freezes the objects: later changes to the working copy leave it as it
    /// was; a clone copies them, pointing its models' `$ref`s at its own models; every
    /// command is guarded by (and bumps) the API's version.
    #[test]
    fn deployments_freeze_objects_clones_copy_them_and_versions_count() {
        let mut r = Registry::default();
        api(&mut r, "a1");
        let scope = Scope::Api("a1".into());
        let guarded = |v, command| Command::IfUnchanged {
            guards: vec![(Scope::Api("a1".into()), v)],
            command: Box::new(command),
        };
        r.apply(&guarded(
            0,
            Command::CreateModel {
                api_id: "a1".into(),
                model: model("m1", "Pet", "{}"),
            },
        ))
        .unwrap();
        let pets = format!("{{\"$ref\":\"{}\"}}", model_url("a1", "Pet"));
        // A write that read version 0 lost the race with the first.
        let stale = guarded(
            0,
            Command::CreateModel {
                api_id: "a1".into(),
                model: model("m2", "Pets", &pets),
            },
        );
        assert!(matches!(r.apply(&stale), Err(ApplyError::Changed(_))));
        r.apply(&guarded(
            1,
            Command::CreateModel {
                api_id: "a1".into(),
                model: model("m2", "Pets", &pets),
            },
        ))
        .unwrap();
        r.apply(&Command::CreateRequestValidator {
            api_id: "a1".into(),
            validator: validator("v1"),
        })
        .unwrap();
        assert_eq!(r.version(&scope), 3);
        put_method(
            &mut r,
            Method {
                http_method: "GET".into(),
                ..Default::default()
            },
        );
        r.apply(&Command::CreateDeployment {
            api_id: "a1".into(),
            deployment_id: "d1".into(),
            description: None,
            created_date: 2,
            stage: None,
        })
        .unwrap();
        r.apply(&Command::UpdateRequestValidator {
            api_id: "a1".into(),
            validator: RequestValidator {
                validate_request_parameters: true,
                ..validator("v1")
            },
        })
        .unwrap();
        r.apply(&Command::DeleteModel {
            api_id: "a1".into(),
            name: "Pets".into(),
        })
        .unwrap();
        let a1 = r.api("a1").unwrap();
        let d1 = &a1.deployments["d1"];
        assert_eq!(d1.models.len(), 2);
        assert!(!d1.request_validators["v1"].validate_request_parameters);
        assert!(a1.request_validators["v1"].validate_request_parameters);
        assert_eq!(a1.models.len(), 1);
        // The commands change no deployed stage.
        assert_eq!(
            Command::CreateModel {
                api_id: "a1".into(),
                model: model("m9", "X", "{}"),
            }
            .stage_affecting_api(),
            None
        );

        create_model(&mut r, model("m2", "Pets", &pets)).unwrap();
        r.apply(&Command::CreateRestApi {
            id: "a2".into(),
            root_resource_id: "x".into(),
            settings: RestApiSettings::default(),
            created_date: 3,
            clone_from: Some("a1".into()),
        })
        .unwrap();
        let a2 = r.api("a2").unwrap();
        assert_eq!(
            a2.request_validators,
            r.api("a1").unwrap().request_validators
        );
        assert_eq!(a2.models["Pets"].id, "m2");
        assert!(a2.models["Pets"].refers_to("a2", "Pet"));
        assert!(!a2.models["Pets"].refers_to("a1", "Pet"));
        assert!(a2.deployments.is_empty());
    }

    fn authorizer(id: &str) -> Authorizer {
        Authorizer {
            id: id.into(),
            name: format!("auth-{id}"),
            kind: crate::model::AuthorizerType::Token,
            provider_arns: Vec::new(),
            auth_type: None,
            authorizer_uri: Some("arn:aws:apigateway:us-east-1:lambda:path/x".into()),
            authorizer_credentials: None,
            identity_source: Some("method.request.header.Authorization".into()),
            identity_validation_expression: None,
            authorizer_result_ttl_in_seconds: 300,
        }
    }

    /// Authorizers: unique ids, updated in place, refused deletion while a method of the
    /// working copy uses one, frozen by a deployment, copied by a clone; a stage's
    /// authorizer-cache flush bumps its epoch and recompiles its API's stages.
    #[test]
    fn authorizers_lifecycle() {
        let mut r = Registry::default();
        api(&mut r, "a1");
        let create = |a| Command::CreateAuthorizer {
            api_id: "a1".into(),
            authorizer: a,
        };
        r.apply(&create(authorizer("z1"))).unwrap();
        assert!(matches!(
            r.apply(&create(authorizer("z1"))),
            Err(ApplyError::Conflict(_))
        ));
        assert!(matches!(
            r.apply(&create(authorizer(""))),
            Err(ApplyError::BadRequest(_))
        ));
        let mut changed = authorizer("z1");
        changed.authorizer_result_ttl_in_seconds = 0;
        r.apply(&Command::UpdateAuthorizer {
            api_id: "a1".into(),
            authorizer: changed.clone(),
        })
        .unwrap();
        assert_eq!(r.api("a1").unwrap().authorizers["z1"], changed);
        assert!(matches!(
            r.apply(&Command::UpdateAuthorizer {
                api_id: "a1".into(),
                authorizer: authorizer("nope"),
            }),
            Err(ApplyError::NotFound(_))
        ));
        put_method(
            &mut r,
            Method {
                http_method: "GET".into(),
                authorizer_id: Some("z1".into()),
                ..Default::default()
            },
        );
        r.apply(&Command::CreateDeployment {
            api_id: "a1".into(),
            deployment_id: "d1".into(),
            description: None,
            created_date: 2,
            stage: Some(crate::model::Stage {
                stage_name: "dev".into(),
                ..Default::default()
            }),
        })
        .unwrap();
        let del = Command::DeleteAuthorizer {
            api_id: "a1".into(),
            id: "z1".into(),
        };
        assert_eq!(
            r.apply(&del),
            Err(ApplyError::Conflict(
                "Cannot delete authorizer 'auth-z1', is referenced in method: //GET".into()
            ))
        );
        r.apply(&Command::CreateRestApi {
            id: "a2".into(),
            root_resource_id: "x".into(),
            settings: RestApiSettings::default(),
            created_date: 3,
            clone_from: Some("a1".into()),
        })
        .unwrap();
        assert_eq!(r.api("a2").unwrap().authorizers["z1"], changed);
        r.apply(&Command::DeleteMethod {
            api_id: "a1".into(),
            resource_id: "root01".into(),
            http_method: "GET".into(),
        })
        .unwrap();
        r.apply(&del).unwrap();
        assert!(matches!(r.apply(&del), Err(ApplyError::NotFound(_))));
        // The deployment keeps its copy.
        assert_eq!(
            r.api("a1").unwrap().deployments["d1"].authorizers["z1"],
            changed
        );
        // Flushing: unknown stage refused; the epoch only grows.
        let flush = |stage: &str, epoch| Command::FlushStageAuthorizersCache {
            api_id: "a1".into(),
            stage: stage.into(),
            epoch,
        };
        assert!(matches!(
            r.apply(&flush("nope", 0)),
            Err(ApplyError::NotFound(_))
        ));
        assert_eq!(r.authorizer_epoch("a1", "dev"), 0);
        r.apply(&flush("dev", 0)).unwrap();
        assert_eq!(r.authorizer_epoch("a1", "dev"), 1);
        r.apply(&flush("dev", 10)).unwrap();
        r.apply(&flush("dev", 3)).unwrap();
        assert_eq!(r.authorizer_epoch("a1", "dev"), 11);
        assert_eq!(flush("dev", 0).stage_affecting_api(), Some("a1"));
        assert_eq!(
            create(authorizer("z2")).stage_affecting_api(),
            None,
            "authorizers reach a stage through a deployment"
        );
    }
}
