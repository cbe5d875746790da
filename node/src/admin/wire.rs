//! The AWS JSON shapes of the admin API's answers, and their conversion from the model.
//!
//! Member names and presence follow the API Gateway service model (botocore's
//! `apigateway/2015-07-09/service-2.json`): camelCase names, timestamps as epoch seconds,
//! collections as `{"item": [...], "position": "..."}`; empty optional members are left out,
//! as AWS leaves them out.

use serde::Serialize;
use std::collections::BTreeMap;

pub mod gateway_responses;
#[cfg(test)]
mod given_maps_tests;
pub mod plans;
use tollgate_proto::model::{
    Deployment, GivenMaps, Integration, IntegrationResponse, Method, MethodResponse, MethodSetting,
    Resource, RestApi, Stage,
};

fn none_if_empty<K: Ord + Clone, V: Clone>(m: &BTreeMap<K, V>) -> Option<BTreeMap<K, V>> {
    (!m.is_empty()).then(|| m.clone())
}

/// A map AWS answers when it was given (`{}` included) or holds entries, and leaves out
/// otherwise (`bit` of the object's [`GivenMaps`]).
fn given_map<K: Ord + Clone, V: Clone>(
    m: &BTreeMap<K, V>,
    given: GivenMaps,
    bit: u8,
) -> Option<BTreeMap<K, V>> {
    (given.has(bit) || !m.is_empty()).then(|| m.clone())
}

fn none_if_empty_vec<T: Clone>(v: &[T]) -> Option<Vec<T>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// A page of a collection: `{"item": [...], "position": "..."}`.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The items of this page.
    pub item: Vec<T>,
    /// Where the next page starts; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

/// `EndpointConfiguration`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointConfigurationOut {
    /// `EDGE`, `REGIONAL` or `PRIVATE`.
    pub types: Vec<String>,
    /// `ipv4` or `dualstack` (the endpoint type's default when none was set).
    pub ip_address_type: String,
}

/// `RestApi`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct RestApiOut {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_date: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary_media_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_compression_size: Option<i64>,
    pub api_key_source: String,
    pub endpoint_configuration: EndpointConfigurationOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    pub disable_execute_api_endpoint: bool,
    pub root_resource_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// Converts an API.
pub fn rest_api(api: &RestApi) -> RestApiOut {
    let s = &api.settings;
    RestApiOut {
        id: api.id.clone(),
        name: s.name.clone(),
        description: s.description.clone(),
        created_date: api.created_date,
        version: s.version.clone(),
        binary_media_types: none_if_empty_vec(&s.binary_media_types),
        minimum_compression_size: s.minimum_compression_size,
        api_key_source: s.api_key_source.to_string(),
        endpoint_configuration: EndpointConfigurationOut {
            types: s.endpoint_types.clone(),
            ip_address_type: s.effective_ip_address_type().to_string(),
        },
        tags: none_if_empty(&s.tags),
        disable_execute_api_endpoint: s.disable_execute_api_endpoint,
        root_resource_id: api.root_resource_id.clone(),
        policy: s.policy.clone(),
    }
}

/// `Resource`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ResourceOut {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_part: Option<String>,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_methods: Option<BTreeMap<String, MethodOut>>,
}

/// Converts a resource of `resources`. With `embed`, its methods are given in full;
/// without, as empty objects keyed by verb (as AWS does).
pub fn resource(resources: &BTreeMap<String, Resource>, r: &Resource, embed: bool) -> ResourceOut {
    let methods = (!r.methods.is_empty()).then(|| {
        r.methods
            .iter()
            .map(|(verb, m)| {
                let out = if embed {
                    method(m)
                } else {
                    MethodOut::default()
                };
                (verb.clone(), out)
            })
            .collect()
    });
    ResourceOut {
        id: r.id.clone(),
        parent_id: r.parent_id.clone(),
        path_part: r.parent_id.as_ref().map(|_| r.path_part.clone()),
        path: RestApi::resource_path(resources, &r.id).unwrap_or_default(),
        resource_methods: methods,
    }
}

/// `Method`. Every member is optional so that the unembedded form is `{}`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct MethodOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_required: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_validator_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_parameters: Option<BTreeMap<String, bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_models: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method_responses: Option<BTreeMap<String, MethodResponseOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method_integration: Option<IntegrationOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_scopes: Option<Vec<String>>,
}

/// Converts a method with its responses and integration.
pub fn method(m: &Method) -> MethodOut {
    MethodOut {
        http_method: Some(m.http_method.clone()),
        authorization_type: Some(m.authorization_type.as_str().to_string()),
        authorizer_id: m.authorizer_id.clone(),
        api_key_required: Some(m.api_key_required),
        request_validator_id: m.request_validator_id.clone(),
        operation_name: m.operation_name.clone(),
        request_parameters: given_map(&m.request_parameters, m.given_maps, GivenMaps::PARAMETERS),
        request_models: given_map(&m.request_models, m.given_maps, GivenMaps::BODIES),
        method_responses: (!m.method_responses.is_empty()).then(|| {
            m.method_responses
                .iter()
                .map(|(k, r)| (k.clone(), method_response(r)))
                .collect()
        }),
        method_integration: m.integration.as_ref().map(integration),
        authorization_scopes: none_if_empty_vec(&m.authorization_scopes),
    }
}

/// `MethodResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct MethodResponseOut {
    pub status_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_parameters: Option<BTreeMap<String, bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_models: Option<BTreeMap<String, String>>,
}

/// Converts a method response.
pub fn method_response(r: &MethodResponse) -> MethodResponseOut {
    MethodResponseOut {
        status_code: r.status_code.clone(),
        response_parameters: given_map(&r.response_parameters, r.given_maps, GivenMaps::PARAMETERS),
        response_models: given_map(&r.response_models, r.given_maps, GivenMaps::BODIES),
    }
}

/// `Integration`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct IntegrationOut {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_parameters: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_templates: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough_behavior: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_handling: Option<String>,
    pub timeout_in_millis: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_namespace: Option<String>,
    pub cache_key_parameters: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration_responses: Option<BTreeMap<String, IntegrationResponseOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfigOut>,
}

/// `TlsConfig`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TlsConfigOut {
    pub insecure_skip_verification: bool,
}

/// Converts an integration with its responses.
pub fn integration(i: &Integration) -> IntegrationOut {
    IntegrationOut {
        kind: i.kind.as_str().to_string(),
        http_method: i.http_method.clone(),
        uri: i.uri.clone(),
        connection_type: i.connection_type.clone(),
        connection_id: i.connection_id.clone(),
        credentials: i.credentials.clone(),
        request_parameters: given_map(&i.request_parameters, i.given_maps, GivenMaps::PARAMETERS),
        request_templates: given_map(&i.request_templates, i.given_maps, GivenMaps::BODIES),
        passthrough_behavior: i.passthrough_behavior.clone(),
        content_handling: i.content_handling.clone(),
        timeout_in_millis: i.timeout_in_millis,
        cache_namespace: i.cache_namespace.clone(),
        cache_key_parameters: i.cache_key_parameters.clone(),
        integration_responses: (!i.integration_responses.is_empty()).then(|| {
            i.integration_responses
                .iter()
                .map(|(k, r)| (k.clone(), integration_response(r)))
                .collect()
        }),
        tls_config: i.tls_config.map(|t| TlsConfigOut {
            insecure_skip_verification: t.insecure_skip_verification,
        }),
    }
}

/// `IntegrationResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct IntegrationResponseOut {
    pub status_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection_pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_parameters: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_templates: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_handling: Option<String>,
}

/// Converts an integration response.
pub fn integration_response(r: &IntegrationResponse) -> IntegrationResponseOut {
    IntegrationResponseOut {
        status_code: r.status_code.clone(),
        selection_pattern: r.selection_pattern.clone(),
        response_parameters: given_map(&r.response_parameters, r.given_maps, GivenMaps::PARAMETERS),
        response_templates: given_map(&r.response_templates, r.given_maps, GivenMaps::BODIES),
        content_handling: r.content_handling.clone(),
    }
}

/// `MethodSnapshot` (in a deployment's `apiSummary`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct MethodSnapshotOut {
    pub authorization_type: String,
    pub api_key_required: bool,
}

/// `Deployment`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct DeploymentOut {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_date: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_summary: Option<BTreeMap<String, BTreeMap<String, MethodSnapshotOut>>>,
}

/// Converts a deployment; with `summary`, its `apiSummary` (path → verb → snapshot) too.
pub fn deployment(d: &Deployment, summary: bool) -> DeploymentOut {
    let api_summary = summary.then(|| {
        let mut out: BTreeMap<String, BTreeMap<String, MethodSnapshotOut>> = BTreeMap::new();
        for r in d.resources.values().filter(|r| !r.methods.is_empty()) {
            let Some(path) = RestApi::resource_path(&d.resources, &r.id) else {
                continue;
            };
            let entry = out.entry(path).or_default();
            for (verb, m) in &r.methods {
                entry.insert(
                    verb.clone(),
                    MethodSnapshotOut {
                        authorization_type: m.authorization_type.as_str().to_string(),
                        api_key_required: m.api_key_required,
                    },
                );
            }
        }
        out
    });
    DeploymentOut {
        id: d.id.clone(),
        description: d.description.clone(),
        created_date: d.created_date,
        api_summary,
    }
}

/// `MethodSetting`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct MethodSettingOut {
    pub metrics_enabled: bool,
    pub logging_level: String,
    pub data_trace_enabled: bool,
    pub throttling_burst_limit: i32,
    pub throttling_rate_limit: f64,
    pub caching_enabled: bool,
    pub cache_ttl_in_seconds: i32,
    pub cache_data_encrypted: bool,
    pub require_authorization_for_cache_control: bool,
    pub unauthorized_cache_control_header_strategy: String,
}

/// Converts a stage's method setting.
pub fn method_setting(s: &MethodSetting) -> MethodSettingOut {
    MethodSettingOut {
        metrics_enabled: s.metrics_enabled,
        logging_level: s.logging_level.as_str().to_string(),
        data_trace_enabled: s.data_trace_enabled,
        throttling_burst_limit: s.throttling_burst_limit,
        throttling_rate_limit: s.throttling_rate_limit,
        caching_enabled: s.caching_enabled,
        cache_ttl_in_seconds: s.cache_ttl_in_seconds,
        cache_data_encrypted: s.cache_data_encrypted,
        require_authorization_for_cache_control: s.require_authorization_for_cache_control,
        unauthorized_cache_control_header_strategy: s
            .unauthorized_cache_control_header_strategy
            .as_str()
            .to_string(),
    }
}

/// `Stage`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct StageOut {
    pub deployment_id: String,
    pub stage_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub cache_cluster_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_cluster_size: Option<String>,
    pub cache_cluster_status: String,
    pub method_settings: BTreeMap<String, MethodSettingOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variables: Option<BTreeMap<String, String>>,
    pub tracing_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log_settings: Option<AccessLogSettingsOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_settings: Option<CanarySettingsOut>,
    pub created_date: i64,
    pub last_updated_date: i64,
}

/// A stage's canary, as AWS answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct CanarySettingsOut {
    pub percent_traffic: f64,
    pub deployment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_variable_overrides: Option<BTreeMap<String, String>>,
    pub use_stage_cache: bool,
}

/// `AccessLogSettings`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct AccessLogSettingsOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_arn: Option<String>,
}

/// Converts a stage.
pub fn stage(s: &Stage) -> StageOut {
    StageOut {
        deployment_id: s.deployment_id.clone(),
        stage_name: s.stage_name.clone(),
        description: s.description.clone(),
        cache_cluster_enabled: s.cache_cluster_enabled,
        cache_cluster_size: s.cache_cluster_size.clone(),
        cache_cluster_status: if s.cache_cluster_enabled {
            "AVAILABLE"
        } else {
            "NOT_AVAILABLE"
        }
        .to_string(),
        method_settings: s
            .method_settings
            .iter()
            .map(|(k, v)| (k.clone(), method_setting(v)))
            .collect(),
        variables: none_if_empty(&s.variables),
        tracing_enabled: s.tracing_enabled,
        access_log_settings: s
            .access_log_settings
            .as_ref()
            .map(|a| AccessLogSettingsOut {
                format: a.format.clone(),
                destination_arn: a.destination_arn.clone(),
            }),
        tags: none_if_empty(&s.tags),
        canary_settings: s.canary_settings.as_ref().map(|c| CanarySettingsOut {
            percent_traffic: c.percent_traffic,
            deployment_id: c.deployment_id.clone(),
            stage_variable_overrides: none_if_empty(&c.stage_variable_overrides),
            use_stage_cache: c.use_stage_cache,
        }),
        created_date: s.created_date,
        last_updated_date: s.last_updated_date,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, to_value};
    use tollgate_proto::model::{IntegrationType, RestApiSettings};

    fn api() -> RestApi {
        let root = Resource {
            id: "root".into(),
            parent_id: None,
            path_part: String::new(),
            methods: BTreeMap::new(),
        };
        let mut pets = Resource {
            id: "pets".into(),
            parent_id: Some("root".into()),
            path_part: "pets".into(),
            methods: BTreeMap::new(),
        };
        let mut m = Method {
            http_method: "GET".into(),
            authorization_type: tollgate_proto::model::AuthorizationType::None,
            ..Default::default()
        };
        m.method_responses.insert(
            "200".into(),
            Box::new(MethodResponse {
                status_code: "200".into(),
                ..Default::default()
            }),
        );
        m.integration = Some(Integration {
            kind: IntegrationType::Mock,
            timeout_in_millis: 29000,
            request_templates: BTreeMap::from([(
                "application/json".into(),
                "{\"statusCode\": 200}".into(),
            )]),
            ..Default::default()
        });
        pets.methods.insert("GET".into(), Box::new(m));
        RestApi {
            id: "a1".into(),
            settings: RestApiSettings {
                name: "pets".into(),
                api_key_source: tollgate_proto::model::ApiKeySource::Header.into(),
                endpoint_types: vec!["EDGE".into()],
                ..Default::default()
            },
            created_date: 7,
            root_resource_id: "root".into(),
            resources: BTreeMap::from([("root".into(), root), ("pets".into(), pets)]).into(),
            deployments: BTreeMap::new(),
            stages: BTreeMap::new(),
            ..Default::default()
        }
    }

    #[test]
    fn rest_api_shape() {
        let v = to_value(rest_api(&api())).unwrap();
        assert_eq!(
            v,
            json!({
                "id": "a1", "name": "pets", "createdDate": 7, "apiKeySource": "HEADER",
                "endpointConfiguration": {"types": ["EDGE"], "ipAddressType": "ipv4"},
                "disableExecuteApiEndpoint": false, "rootResourceId": "root"
            })
        );
    }

    #[test]
    fn resources_embed_or_not() {
        let a = api();
        let root = to_value(resource(&a.resources, &a.resources["root"], false)).unwrap();
        assert_eq!(root, json!({"id": "root", "path": "/"}));
        let pets = to_value(resource(&a.resources, &a.resources["pets"], false)).unwrap();
        assert_eq!(
            pets,
            json!({"id": "pets", "parentId": "root", "pathPart": "pets", "path": "/pets",
                   "resourceMethods": {"GET": {}}})
        );
        let full = to_value(resource(&a.resources, &a.resources["pets"], true)).unwrap();
        let get = &full["resourceMethods"]["GET"];
        assert_eq!(get["httpMethod"], "GET");
        assert_eq!(get["apiKeyRequired"], false);
        assert_eq!(get["methodResponses"]["200"], json!({"statusCode": "200"}));
        assert_eq!(get["methodIntegration"]["type"], "MOCK");
        assert_eq!(get["methodIntegration"]["timeoutInMillis"], 29000);
        assert_eq!(get["methodIntegration"]["cacheKeyParameters"], json!([]));
        assert_eq!(
            get["methodIntegration"]["requestTemplates"]["application/json"],
            "{\"statusCode\": 200}"
        );
    }

    #[test]
    fn deployment_summary_and_stage() {
        let a = api();
        let d = Deployment {
            id: "d1".into(),
            description: None,
            created_date: 9,
            root_resource_id: "root".into(),
            resources: a.resources.clone(),
            ..Default::default()
        };
        assert_eq!(
            to_value(deployment(&d, false)).unwrap(),
            json!({"id": "d1", "createdDate": 9})
        );
        let v = to_value(deployment(&d, true)).unwrap();
        assert_eq!(
            v["apiSummary"],
            json!({"/pets": {"GET": {"authorizationType": "NONE", "apiKeyRequired": false}}})
        );
        let mut s = Stage {
            stage_name: "dev".into(),
            deployment_id: "d1".into(),
            created_date: 1,
            last_updated_date: 2,
            ..Default::default()
        };
        s.method_settings
            .insert("*/*".into(), MethodSetting::default());
        let v = to_value(stage(&s)).unwrap();
        assert_eq!(v["cacheClusterStatus"], "NOT_AVAILABLE");
        assert_eq!(v["methodSettings"]["*/*"]["throttlingRateLimit"], 10000.0);
        assert_eq!(v["methodSettings"]["*/*"]["loggingLevel"], "OFF");
        assert!(v.get("variables").is_none());
        assert_eq!(v["tracingEnabled"], false);
    }
}
