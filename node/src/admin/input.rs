//! The AWS JSON shapes of the admin API's request bodies.
//!
//! Every member is optional here (what is required is checked by the operation, with AWS's
//! wording); unknown members are ignored, as AWS ignores members a newer SDK may send.

use super::error::ApiError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::BTreeMap;

pub mod plans;

/// Parses a JSON request body; an empty body is `{}`.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(body_error)
}

/// How a body that does not parse is answered: a member of the wrong JSON type (`"name": 5`,
/// `"apiKeyRequired": "yes"`) is AWS's `SerializationException` (400); a body that is not
/// JSON at all is a `BadRequestException`.
pub fn body_error(e: serde_json::Error) -> ApiError {
    match e.classify() {
        serde_json::error::Category::Data => ApiError::with_code(
            400,
            "SerializationException",
            serialization_message(&e.to_string()),
        ),
        _ => ApiError::bad_request(format!("Invalid request body: {e}")),
    }
}

/// AWS's message for a member of the wrong JSON type, in its (Java) words, from serde_json's
/// `invalid type: <found>, expected <wanted> at line L column C`.
///
/// Recorded from AWS (localstack's snapshot tests, validated against AWS:
/// `tests/aws/services/apigateway/test_apigateway_api.snapshot.json`,
/// `put-integration-request-param-wrong-type` and
/// `put-integration-response-invalid-responseTemplates-1`):
/// - a boolean where a string belongs: `class java.lang.Boolean can not be converted to an String`
/// - a number where a string belongs:
///   `class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String`
///
/// Other pairs (a string where a boolean or number belongs, an object where a list belongs)
/// follow the same pattern with the Java class names Coral would use; no AWS recording of
/// those was found, so their exact wording is ours. A data error that is not a type mismatch
/// (an unknown enum variant in a typed member) keeps serde's text.
pub fn serialization_message(serde_text: &str) -> String {
    let Some(rest) = serde_text.strip_prefix("invalid type: ") else {
        return serde_text.to_string();
    };
    let Some((found, wanted)) = rest.split_once(", expected ") else {
        return serde_text.to_string();
    };
    let wanted = wanted.split(" at line ").next().unwrap_or(wanted);
    let from = if found.starts_with("boolean") {
        "java.lang.Boolean"
    } else if found.starts_with("integer") || found.starts_with("floating point") {
        "com.amazon.coral.value.json.numbers.TruncatingBigNumber"
    } else if found.starts_with("string") {
        "java.lang.String"
    } else if found.starts_with("map") {
        "java.util.Map"
    } else if found.starts_with("sequence") {
        "java.util.List"
    } else {
        return serde_text.to_string();
    };
    let to = match wanted {
        "a string" => "String",
        "a boolean" => "Boolean",
        "a sequence" => "List",
        "a map" => "Map",
        w if w.starts_with("struct ") => "Structure",
        w if w.starts_with('i') || w.starts_with('u') => "Integer",
        w if w.starts_with('f') => "Double",
        _ => return serde_text.to_string(),
    };
    format!("class {from} can not be converted to an {to}")
}

/// `EndpointConfiguration` as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct EndpointConfigurationIn {
    pub types: Option<Vec<String>>,
    pub ip_address_type: Option<String>,
}

/// CreateRestApi.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct CreateRestApiIn {
    pub name: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
    pub clone_from: Option<String>,
    pub binary_media_types: Option<Vec<String>>,
    pub minimum_compression_size: Option<i64>,
    pub api_key_source: Option<String>,
    pub endpoint_configuration: Option<EndpointConfigurationIn>,
    pub tags: Option<BTreeMap<String, String>>,
    pub disable_execute_api_endpoint: Option<bool>,
    pub policy: Option<String>,
    pub security_policy: Option<String>,
    pub endpoint_access_mode: Option<String>,
}

/// CreateResource.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct CreateResourceIn {
    pub path_part: Option<String>,
}

/// PutMethod.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct PutMethodIn {
    pub authorization_type: Option<String>,
    pub authorizer_id: Option<String>,
    pub api_key_required: Option<bool>,
    pub operation_name: Option<String>,
    pub request_parameters: Option<BTreeMap<String, bool>>,
    pub request_models: Option<BTreeMap<String, String>>,
    pub request_validator_id: Option<String>,
    pub authorization_scopes: Option<Vec<String>>,
}

/// PutIntegration. (`httpMethod` is the integration's verb on the wire, named
/// `integrationHttpMethod` in the SDKs; that name is accepted too.)
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct PutIntegrationIn {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(alias = "integrationHttpMethod")]
    pub http_method: Option<String>,
    pub uri: Option<String>,
    pub connection_type: Option<String>,
    pub connection_id: Option<String>,
    pub credentials: Option<String>,
    pub request_parameters: Option<BTreeMap<String, String>>,
    pub request_templates: Option<BTreeMap<String, String>>,
    pub passthrough_behavior: Option<String>,
    pub cache_namespace: Option<String>,
    pub cache_key_parameters: Option<Vec<String>>,
    pub content_handling: Option<String>,
    pub timeout_in_millis: Option<i64>,
    pub response_transfer_mode: Option<String>,
    /// `{"insecureSkipVerification": bool}`, checked field by field.
    pub tls_config: Option<serde_json::Value>,
}

/// PutMethodResponse.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct PutMethodResponseIn {
    pub response_parameters: Option<BTreeMap<String, bool>>,
    pub response_models: Option<BTreeMap<String, String>>,
}

/// PutIntegrationResponse.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct PutIntegrationResponseIn {
    pub selection_pattern: Option<String>,
    pub response_parameters: Option<BTreeMap<String, String>>,
    pub response_templates: Option<BTreeMap<String, String>>,
    pub content_handling: Option<String>,
}

/// CreateDeployment.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct CreateDeploymentIn {
    pub stage_name: Option<String>,
    pub stage_description: Option<String>,
    pub description: Option<String>,
    pub cache_cluster_enabled: Option<bool>,
    pub cache_cluster_size: Option<String>,
    pub variables: Option<BTreeMap<String, String>>,
    pub tracing_enabled: Option<bool>,
    pub canary_settings: Option<serde_json::Value>,
}

/// CreateStage.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct CreateStageIn {
    pub stage_name: Option<String>,
    pub deployment_id: Option<String>,
    pub description: Option<String>,
    pub cache_cluster_enabled: Option<bool>,
    pub cache_cluster_size: Option<String>,
    pub variables: Option<BTreeMap<String, String>>,
    pub tracing_enabled: Option<bool>,
    pub tags: Option<BTreeMap<String, String>>,
    pub canary_settings: Option<serde_json::Value>,
    /// Refused when set: no backend call presents a client certificate.
    pub client_certificate_id: Option<String>,
    /// Refused when set: documentation versions are not associated with stages.
    pub documentation_version: Option<String>,
    /// Not in AWS's CreateStage (set with UpdateStage there); taken here too, checked alike.
    pub access_log_settings: Option<AccessLogSettingsIn>,
}

/// `accessLogSettings`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct AccessLogSettingsIn {
    pub format: Option<String>,
    pub destination_arn: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_json_types_are_serialization_exceptions() {
        let e = parse::<CreateRestApiIn>(br#"{"name": 5}"#).unwrap_err();
        assert_eq!((e.status, e.error_type), (400, "SerializationException"));
        let e = parse::<PutMethodIn>(br#"{"apiKeyRequired": "yes"}"#).unwrap_err();
        assert_eq!((e.status, e.error_type), (400, "SerializationException"));
        // AWS's words where recorded (see `serialization_message`).
        let e = parse::<CreateRestApiIn>(br#"{"name": true}"#).unwrap_err();
        assert_eq!(
            e.message,
            "class java.lang.Boolean can not be converted to an String"
        );
        let e = parse::<CreateRestApiIn>(br#"{"name": 5}"#).unwrap_err();
        assert_eq!(
            e.message,
            "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"
        );
        let e = parse::<PutMethodIn>(br#"{"apiKeyRequired": "yes"}"#).unwrap_err();
        assert_eq!(
            e.message,
            "class java.lang.String can not be converted to an Boolean"
        );
        let e = parse::<CreateRestApiIn>(br#"{"binaryMediaTypes": {}}"#).unwrap_err();
        assert_eq!(
            e.message,
            "class java.util.Map can not be converted to an List"
        );
        let e = parse::<PutMethodIn>(br#"{"apiKeyRequired": tru"#).unwrap_err();
        assert_eq!((e.status, e.error_type), (400, "BadRequestException"));
        assert!(parse::<PutMethodIn>(br#"{"apiKeyRequired": true}"#).is_ok());
    }

    #[test]
    fn parses_camel_case_and_ignores_unknown_members() {
        let i: PutIntegrationIn = parse(
            br#"{"type":"HTTP_PROXY","httpMethod":"GET","uri":"http://x","timeoutInMillis":100,"tlsConfig":{}}"#,
        )
        .unwrap();
        assert_eq!(i.kind.as_deref(), Some("HTTP_PROXY"));
        assert_eq!(i.http_method.as_deref(), Some("GET"));
        assert_eq!(i.timeout_in_millis, Some(100));
        let e: CreateRestApiIn = parse(b"").unwrap();
        assert!(e.name.is_none());
        assert_eq!(
            parse::<CreateRestApiIn>(br#"{"name": 5}"#)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(parse::<CreateRestApiIn>(b"[]").unwrap_err().status, 400);
    }
}
