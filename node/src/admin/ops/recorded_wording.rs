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
        Target::Stage => stages::apply_patch(&mut Stage::default(), p, &|id| id != "deploy"),
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
        // ... / update-method-response-operation-without-response-parameters, -models (404s)
        (MethodResponse, "remove", "/responseParameters/method.response.header.my-header", None, "404 Invalid parameter name specified"),
        (MethodResponse, "remove", "/responseModels/application~1json", Some("Empty"), "404 Content-Type specified was not found"),
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
        // api / test_update_gateway_response / update-gateway-replace-invalid-parameter-{0,1}-none
        (GatewayResponse, "replace", "/responseTemplates/application~1xml", None, "Invalid null or empty value in responseTemplates"),
        (GatewayResponse, "replace", "/responseParameters/gatewayresponse.header.Access-Control-Allow-Origin", None, "Invalid null or empty value in responseParameters"),
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
        // canary / test_update_stage_canary_deployment_validation / update-stage-add-deployment
        (Stage, "add", "/canarySettings/deploymentId", Some("d1"), "Invalid add operation with path: /canarySettings/deploymentId"),
        // ... / update-stage-no-deployment (the case's stage knows no deployment)
        (Stage, "replace", "/canarySettings/deploymentId", Some("deploy"), "Deployment id does not exist"),
        // canary / test_update_stage_with_copy_ops / copy-with-no-replace (no canary)
        (Stage, "copy", "/variables", None, "Promotion not available. Canary does not exist."),
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
        // The copy cases copy from the canary (the promotion AWS documents).
        let from = (*op == "copy").then_some("/canarySettings/stageVariableOverrides");
        let body = serde_json::json!({
            "patchOperations": [{ "op": op, "path": path, "value": value, "from": from }]
        });
        let ops = patch::parse(body.to_string().as_bytes()).unwrap();
        let err = apply(*target, &ops[0]).unwrap_err();
        // A "404 " prefix: the case is a NotFoundException.
        let (status, kind, want) = match want.strip_prefix("404 ") {
            Some(w) => (404, "NotFoundException", w),
            None => (400, "BadRequestException", *want),
        };
        let want = if want.ends_with(". ") {
            format!("{want}{STAGE_LIST}")
        } else {
            want.to_string()
        };
        assert_eq!(err.error_type, kind, "{target:?} {op} {path}");
        assert_eq!(err.status, status, "{target:?} {op} {path}");
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

/// `remove /apiStages` on plan `p1`, which has no stages.
fn plan_patch(value: Option<&str>) -> Result<(), ApiError> {
    super::usageplans::apply_patch(
        &mut tollgate_proto::model::UsagePlan {
            id: "p1".into(),
            ..Default::default()
        },
        &PatchOp {
            op: patch::Op::Remove,
            path: "/apiStages".into(),
            value: value.map(String::from),
            from: None,
        },
    )
}

/// Refusals outside patches (status, type and message, byte for byte), each with its
/// recording.
#[test]
fn recorded_checks() {
    use tollgate_proto::model::RestApi;
    let cases: Vec<(Result<(), ApiError>, u16, &str)> = vec![
        // api / test_update_gateway_response / update-gateway-replace-invalid-parameter
        (
            gateway_responses::apply_patch(
                &mut GatewayResponse {
                    response_type: GatewayResponseType::Default5xx,
                    status_code: None,
                    response_parameters: Default::default(),
                    response_templates: Default::default(),
                },
                &PatchOp {
                    op: patch::Op::Replace,
                    path: "/responseParameters/gatewayresponse.header.Access-Control-Allow-Origin"
                        .into(),
                    value: Some("'example.com'".into()),
                    from: None,
                },
            ),
            404,
            "Invalid parameter name specified",
        ),
        // api / test_create_rest_api_with_optional_params / string-compression-size
        (
            restapis::check_settings(&RestApiSettings {
                name: "n".into(),
                api_key_source: tollgate_proto::model::ApiKeySource::Header.into(),
                endpoint_types: vec!["EDGE".into()],
                minimum_compression_size: Some(-1),
                ..Default::default()
            }),
            400,
            "Invalid minimum compression size, must be between 0 and 10485760",
        ),
        // extended / test_create_api_key_with_invalid_name / create-api-key-name-too-long
        (
            apikeys::check_name(Some(&"a".repeat(1025))),
            400,
            "Invalid API Key name, can be at most 1024 characters.",
        ),
        // extended / test_update_api_key_invalid_description_length (Tollgate's limit is
        // lower than AWS's: the wording is AWS's)
        (
            apikeys::check_description(Some(&"a".repeat(125_001))),
            400,
            "Invalid API Key description specified.",
        ),
        // api / test_method_request_parameters / req-params-same-name
        (
            methods::check_method(&Method {
                request_parameters: [
                    ("method.request.querystring.optional".to_string(), false),
                    ("method.request.header.optional".to_string(), false),
                ]
                .into(),
                ..Default::default()
            }),
            400,
            "Parameter names must be unique across querystring, header and path",
        ),
        // api / test_put_method_validation / invalid-request-validator, invalid-model-name
        (
            models::check_method_references(
                &RestApi::default(),
                &Method {
                    request_validator_id: Some("wrong-id".into()),
                    ..Default::default()
                },
            ),
            400,
            "Invalid Request Validator identifier specified",
        ),
        (
            models::check_method_references(
                &RestApi::default(),
                &Method {
                    request_models: [("application/json".to_string(), "petModel".to_string())]
                        .into(),
                    ..Default::default()
                },
            ),
            400,
            "Invalid model identifier specified: petModel",
        ),
        // api / test_integration_response_invalid_statuscode / put-integration-response-invalid-statusCode
        (
            super::check_uri_status_code("wrong"),
            400,
            "1 validation error detected: Value 'wrong' at 'statusCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [1-5]\\d\\d",
        ),
        // common / test_usage_plan_crud / update-wrong-api-stages-no-value, -wrong-value,
        // -wrong-api
        (plan_patch(None), 400, "Invalid API Stage specified"),
        (plan_patch(Some("fakevalue")), 400, "Invalid API Stage specified"),
        (
            plan_patch(Some("a1b:dev")),
            404,
            "Invalid API Stage {api: a1b, stage: dev} specified for usageplan p1",
        ),
        // api / test_integration_response_invalid_responsetemplates /
        // put-integration-response-invalid-responseTemplates-2
        (
            crate::admin::limits::check_mapping_templates(
                "integration response template",
                &[("123".to_string(), "{\"statusCode\": 200}".to_string())].into(),
            ),
            400,
            "Validation Result: warnings : [], errors : [Invalid content type specified: 123]",
        ),
        // dynamodb / test_error_aws_proxy_not_supported / create-integration-error
        (
            super::integrations::check_integration(&tollgate_proto::model::Integration {
                kind: tollgate_proto::model::IntegrationType::AwsProxy,
                http_method: Some("POST".into()),
                uri: Some("arn:aws:apigateway:us-east-1:dynamodb:action/PutItem".into()),
                ..Default::default()
            }),
            400,
            "Integrations of type 'AWS_PROXY' currently only supports Lambda function and Firehose stream invocations.",
        ),
        // api / test_model_validation / create-model-empty-schema
        (
            models::check_schema_given(Some("")),
            400,
            "Model schema must have at least 1 property or array items defined",
        ),
        // api / test_put_method_validation / missing-authorizer-id
        (
            methods::check_method(&Method {
                authorization_type: tollgate_proto::model::AuthorizationType::Custom,
                ..Default::default()
            }),
            400,
            "Invalid authorizer ID specified. Setting the authorization type to CUSTOM or COGNITO_USER_POOLS requires a valid authorizer.",
        ),
    ];
    for (i, (got, status, want)) in cases.into_iter().enumerate() {
        let err = got.expect_err(want);
        assert_eq!(
            (err.status, err.message.as_str()),
            (status, want),
            "case {i}"
        );
    }
    // Parameters of one location, and a parameter with its multi-value form, are fine.
    methods::check_method(&Method {
        request_parameters: [
            ("method.request.querystring.a".to_string(), true),
            ("method.request.multivaluequerystring.a".to_string(), true),
            ("method.request.header.b".to_string(), false),
        ]
        .into(),
        ..Default::default()
    })
    .unwrap();
}

/// The canary refusals outside the patch table (`test_apigateway_canary`).
#[test]
fn recorded_canary_wording() {
    let copy = |path: &str, from: &str| PatchOp {
        op: patch::Op::Copy,
        path: path.into(),
        value: None,
        from: Some(from.into()),
    };
    // test_update_stage_with_copy_ops / copy-with-bad-statement
    let err = stages::apply_patch(
        &mut Stage::default(),
        &copy("/canarySettings/stageVariableOverrides", "/variables"),
        &|_| true,
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "Invalid copy operation with path: /canarySettings/stageVariableOverrides and from /variables. Valid copy:path are [/deploymentId, /variables] and valid copy:from are [/canarySettings/deploymentId, /canarySettings/stageVariableOverrides]"
    );
    // test_create_canary_deployment_validation / create-canary-deployment-{no,empty,non-existing}-stage
    use super::deployments::canary_needs_stage;
    assert_eq!(
        canary_needs_stage(None),
        "Invalid deployment content specified.Non null and non empty stageName must be provided for canary deployment. Provided value is null"
    );
    assert_eq!(
        canary_needs_stage(Some("")),
        "Invalid deployment content specified.Non null and non empty stageName must be provided for canary deployment. Provided value is "
    );
    assert_eq!(
        canary_needs_stage(Some("non-existing")),
        "Invalid deployment content specified.Stage non-existing must already be created before making a canary release deployment"
    );
}
