//! The patch refusals AWS recorded (localstack's snapshot tests, recorded against AWS:
//! `tests/aws/services/apigateway/*.snapshot.json`), each applied to the operation's patch
//! function and compared with AWS's message, byte for byte.

use super::{apikeys, gateway_responses, methods, models, resources, restapis, stages};
use crate::admin::error::ApiError;
use crate::admin::patch::{self, PatchOp};
use tollgate_proto::model::{
    ApiKey, GatewayResponse, Method, MethodResponse, Model, RequestValidator, RestApiSettings,
    Stage,
};
use tollgate_proto::GatewayResponseType;

/// Which patch function a case goes to.
#[derive(Debug, Clone, Copy)]
enum Target {
    RestApi,
    Resource,
    Method,
    MethodResponse,
    Model,
    Validator,
    GatewayResponse,
    ApiKey,
    Stage,
}

fn apply(t: Target, p: &PatchOp) -> Result<(), ApiError> {
    match t {
        Target::RestApi => restapis::apply_patch(&mut RestApiSettings::default(), p),
        Target::Resource => resources::apply_patch(
            &mut resources::Placement {
                parent_id: "root".into(),
                path_part: "pets".into(),
            },
            p,
        ),
        Target::Method => methods::apply_patch(&mut Method::default(), p),
        Target::MethodResponse => methods::apply_response_patch(&mut MethodResponse::default(), p),
        Target::Model => models::apply_model_patch(&mut Model::default(), p),
        Target::Validator => models::apply_validator_patch(&mut RequestValidator::default(), p),
        Target::GatewayResponse => gateway_responses::apply_patch(
            &mut GatewayResponse {
                response_type: GatewayResponseType::Default4xx,
                status_code: None,
                response_parameters: Default::default(),
                response_templates: Default::default(),
            },
            p,
        ),
        Target::ApiKey => apikeys::apply_patch(&mut ApiKey::default(), p),
        Target::Stage => stages::apply_patch(&mut Stage::default(), p, &|_| true),
    }
}

const STAGE_LIST: &str = "Must be one of: [/deploymentId, /description, /cacheClusterEnabled, /cacheClusterSize, /clientCertificateId, /accessLogSettings, /accessLogSettings/destinationArn, /accessLogSettings/format, /{resourcePath}/{httpMethod}/metrics/enabled, /{resourcePath}/{httpMethod}/logging/dataTrace, /{resourcePath}/{httpMethod}/logging/loglevel, /{resourcePath}/{httpMethod}/throttling/burstLimit/{resourcePath}/{httpMethod}/throttling/rateLimit/{resourcePath}/{httpMethod}/caching/ttlInSeconds, /{resourcePath}/{httpMethod}/caching/enabled, /{resourcePath}/{httpMethod}/caching/dataEncrypted, /{resourcePath}/{httpMethod}/caching/requireAuthorizationForCacheControl, /{resourcePath}/{httpMethod}/caching/unauthorizedCacheControlHeaderStrategy, /*/*/metrics/enabled, /*/*/logging/dataTrace, /*/*/logging/loglevel, /*/*/throttling/burstLimit /*/*/throttling/rateLimit /*/*/caching/ttlInSeconds, /*/*/caching/enabled, /*/*/caching/dataEncrypted, /*/*/caching/requireAuthorizationForCacheControl, /*/*/caching/unauthorizedCacheControlHeaderStrategy, /variables/{variable_name}, /tracingEnabled]";

#[test]
fn recorded_patch_refusals() {
    use Target::*;
    // (target, op, path, value, AWS's message, the recording: snapshot file / test / entry)
    let cases: &[(Target, &str, &str, Option<&str>, &str)] = &[
        // api / test_update_rest_api_behaviour / update-rest-api-{add,replace,remove}-base-path
        (RestApi, "add", "/binaryMediaTypes", Some("image/gif"), "Invalid patch path /binaryMediaTypes"),
        (RestApi, "replace", "/binaryMediaTypes", Some("image/gif"), "Invalid patch path /binaryMediaTypes"),
        (RestApi, "remove", "/binaryMediaTypes", None, "Invalid patch path /binaryMediaTypes"),
        // api / test_update_rest_api_ip_address_type / ...-invalid-operation-on-type, -on-ipAddressType
        (RestApi, "remove", "/endpointConfiguration/types/0", Some("EDGE"), "Invalid patch operation specified. Must be 'add'|'remove'|'replace'"),
        (RestApi, "remove", "/endpointConfiguration/ipAddressType", Some("dualstack"), "Invalid patch operation specified. Must be one of: [replace]"),
        // api / test_update_resource_behaviour / invalid-path-part, remove-unsupported, add-unsupported
        (Resource, "replace", "/invalid", Some("x"), "Invalid patch path  '/invalid' specified for op 'replace'. Must be one of: [/parentId, /pathPart]"),
        (Resource, "remove", "/pathPart", None, "Invalid patch path  '/pathPart' specified for op 'remove'. Please choose supported operations"),
        (Resource, "add", "/pathPart", Some("x"), "Invalid patch path  '/pathPart' specified for op 'add'. Please choose supported operations"),
        // api / test_update_method_validation / unsupported-operation(-2), unsupported-path,
        // wrong-path-request-parameters, wrong-path-request-models
        (Method, "add", "/operationName", Some("operationName"), "Invalid patch operation specified. Must be one of: [replace]"),
        (Method, "add", "/requestValidatorId", Some("wrong-id"), "Invalid patch operation specified. Must be one of: [replace]"),
        (Method, "add", "/httpMethod", Some("PUT"), "Invalid patch path /httpMethod"),
        (Method, "replace", "/requestParameters", Some("x"), "Invalid patch path /requestParameters"),
        (Method, "add", "/requestModels/application/json", Some("Empty"), "Invalid patch path /requestModels/application/json"),
        // api / test_update_method_lack_response_parameters_and_models / ...-with-wrong-path
        (MethodResponse, "remove", "/wrong/method.response.header.my-header", None, "Invalid patch path /wrong/method.response.header.my-header"),
        // api / test_update_model / update-model-invalid-op, update-model-invalid-path
        (Model, "add", "/wrong-path", Some("x"), "Invalid patch path  '/wrong-path' specified for op 'add'. Please choose supported operations"),
        (Model, "replace", "/name", Some("x"), "Invalid patch path  '/name' specified for op 'replace'. Must be one of: [/description, /schema]"),
        // api / test_invalid_update_request_validator_operations
        (Validator, "add", "/validateRequestBody", Some("true"), "Invalid patch path  '/validateRequestBody' specified for op 'add'. Please choose supported operations"),
        (Validator, "remove", "/validateRequestBody", None, "Invalid patch path  '/validateRequestBody' specified for op 'remove'. Please choose supported operations"),
        (Validator, "replace", "/invalidPath", Some("x"), "Invalid patch path  '/invalidPath' specified for op 'replace'. Must be one of: [/name, /validateRequestParameters, /validateRequestBody]"),
        (Validator, "replace", "/name", None, "Request Validator name cannot be blank"),
        // api / test_update_gateway_response / update-gateway-{add,remove}-status-code, -wrong-path
        (GatewayResponse, "add", "/statusCode", Some("444"), "Invalid patch path /statusCode"),
        (GatewayResponse, "remove", "/statusCode", None, "Invalid patch path /statusCode"),
        (GatewayResponse, "add", "/wrongPath", Some("'example.com'"), "Invalid patch path /wrongPath"),
        // extended / test_update_api_key_immutable_field
        (ApiKey, "replace", "/id", Some("foobar"), "Invalid patch path  '/id' specified for op 'replace'. Must be one of: [/description, /enabled, /name, /customerId]"),
        // common / test_create_update_stages / error-update-doc-version, error-update-tags;
        // canary / test_update_stage_canary_deployment_validation / ...-bad-path-2, -replace-bad-path
        (Stage, "replace", "/documentation_version", Some("v1"), "Invalid method setting path: /documentation_version. "),
        (Stage, "replace", "/tags/tag1", Some("value1"), "Invalid method setting path: /tags/tag1. "),
        (Stage, "replace", "/canarySettings", Some("x"), "Invalid method setting path: /canarySettings. "),
        (Stage, "replace", "/canarySettings/badPath", Some("x"), "Invalid method setting path: /canarySettings/badPath. "),
        // common / test_update_stage_remove_wildcard / delete-error
        (Stage, "remove", "/*/*", None, "Cannot remove method setting */* because there is no method setting for this method "),
        // canary / test_update_stage_canary_deployment_validation
        (Stage, "remove", "/canarySettings/badPath", None, "Cannot remove method setting canarySettings/badPath because there is no method setting for this method "),
        (Stage, "remove", "/canarySettings/stageVariableOverrides", None, "Cannot remove method setting canarySettings/stageVariableOverrides because there is no method setting for this method "),
        // api / test_stage_access_log_settings_validation
        (Stage, "add", "/accessLogSettings/randomValue", Some("updated"), "Invalid accessLogSettings path. Must be one of : [/accessLogSettings/destinationArn, /accessLogSettings/format]"),
        (Stage, "replace", "/accessLogSettings/randomValue", Some("updated"), "Invalid accessLogSettings path. Must be one of : [/accessLogSettings/destinationArn, /accessLogSettings/format]"),
        (Stage, "remove", "/accessLogSettings/randomValue", Some("updated"), "Cannot remove method setting accessLogSettings/randomValue because there is no method setting for this method "),
        (Stage, "add", "/accessLogSettings/*", Some("updated"), "Invalid accessLogSettings path. Must be one of : [/accessLogSettings/destinationArn, /accessLogSettings/format]"),
        (Stage, "remove", "/accessLogSettings/*", Some("updated"), "Cannot remove method setting accessLogSettings/* because there is no method setting for this method "),
        (Stage, "add", "/accessLogSettings", Some("test"), "Invalid accessLogSettings path. Must be one of : [/accessLogSettings/destinationArn, /accessLogSettings/format]"),
        (Stage, "replace", "/accessLogSettings", Some("test"), "Invalid accessLogSettings path. Must be one of : [/accessLogSettings/destinationArn, /accessLogSettings/format]"),
        (Stage, "replace", "/accessLogSettings/format", Some(""), "Access Log value must not be empty"),
        (Stage, "replace", "/accessLogSettings/destinationArn", Some(""), "Access Log value must not be empty"),
    ];
    for (target, op, path, value, want) in cases {
        let body = serde_json::json!({
            "patchOperations": [{ "op": op, "path": path, "value": value }]
        });
        let ops = patch::parse(body.to_string().as_bytes()).unwrap();
        let err = apply(*target, &ops[0]).unwrap_err();
        let want = if want.ends_with(". ") {
            format!("{want}{STAGE_LIST}")
        } else {
            want.to_string()
        };
        assert_eq!(err.status, 400, "{target:?} {op} {path}");
        assert_eq!(err.message, want, "{target:?} {op} {path}");
    }
}

/// The root resource (api / test_update_resource_on_root).
#[test]
fn root_resource_refusals() {
    let one = |path: &str| {
        vec![PatchOp {
            op: patch::Op::Replace,
            path: path.into(),
            value: Some("x".into()),
            from: None,
        }]
    };
    assert_eq!(
        resources::root_refusal(&one("/pathPart")).message,
        "Root resource cannot update its pathPart."
    );
    assert_eq!(
        resources::root_refusal(&one("/parentId")).message,
        "Root resource cannot update its parentId."
    );
}

/// PutMethod's verb (api / test_put_method_validation / wrong-method).
#[test]
fn put_method_verb() {
    assert_eq!(
        methods::check_verb("WRONG").unwrap_err().message,
        "Invalid HttpMethod specified. Valid options are GET,PUT,POST,DELETE,PATCH,OPTIONS,HEAD,ANY"
    );
    for v in [
        "GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "ANY",
    ] {
        assert!(methods::check_verb(v).is_ok(), "{v}");
    }
}

/// A patch with no path: AWS's "Invalid patch path null" (api / test_update_gateway_response
/// / update-gateway-no-path).
#[test]
fn no_path_is_null() {
    let err =
        patch::parse(br#"{"patchOperations":[{"op":"add","value":"'example.com'"}]}"#).unwrap_err();
    assert_eq!(err.message, "Invalid patch path null");
}

/// What the replace-only objects still accept.
#[test]
fn replace_is_still_taken() {
    for (target, path, value) in [
        (Target::Resource, "/pathPart", "dogs"),
        (Target::Model, "/description", "d"),
        (Target::Validator, "/validateRequestBody", "true"),
        (Target::ApiKey, "/name", "k"),
        (Target::Method, "/operationName", "op"),
        (Target::GatewayResponse, "/statusCode", "444"),
    ] {
        let p = PatchOp {
            op: patch::Op::Replace,
            path: path.into(),
            value: Some(value.into()),
            from: None,
        };
        apply(target, &p).unwrap_or_else(|e| panic!("{target:?} {path}: {}", e.message));
    }
}
