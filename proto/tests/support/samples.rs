//! Sample values of every command variant and of a registry holding every kind of object,
//! with every optional field set: the values the format fixtures in `tests/data/` hold.
//!
//! The fixtures were written by the build before the self-describing format (bincode,
//! commands of format 1, snapshots of format 2); these functions are what they must decode to.
//! Keep the VALUES as they are: a model change updates how they are spelled here, never what
//! they are.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use tollgate_proto::command::{Command, LimitDemand, RequestId, Scope, UsageDelta};
use tollgate_proto::domain::{BasePathMapping, DomainName, MutualTls};
use tollgate_proto::model::*;
use tollgate_proto::registry::{Sessions, UsageLedger};
use tollgate_proto::shared::Shared;
use tollgate_proto::{GatewayResponseType, Registry};

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn settings() -> RestApiSettings {
    RestApiSettings {
        name: "orders".into(),
        description: Some("the orders API".into()),
        version: Some("v1".into()),
        api_key_source: ApiKeySource::Header.into(),
        endpoint_types: vec!["REGIONAL".into()],
        binary_media_types: vec!["image/png".into(), "*/*".into()],
        minimum_compression_size: Some(1024),
        disable_execute_api_endpoint: true,
        tags: map(&[("team", "payments"), ("env", "prod")]),
        // Fields added after the fixtures were written decode as their defaults.
        policy: None,
        ip_address_type: None,
    }
}

pub fn method() -> Method {
    Method {
        http_method: "POST".into(),
        authorization_type: AuthorizationType::AwsIam,
        authorizer_id: Some("auth01".into()),
        api_key_required: true,
        operation_name: Some("CreateOrder".into()),
        request_validator_id: Some("val001".into()),
        request_parameters: BTreeMap::from([
            ("method.request.path.id".into(), true),
            ("method.request.querystring.q".into(), false),
        ]),
        request_models: map(&[("application/json", "Order")]),
        authorization_scopes: vec!["orders/write".into()],
        method_responses: BTreeMap::from([(
            "200".into(),
            Box::new(MethodResponse {
                status_code: "200".into(),
                response_parameters: BTreeMap::from([("method.response.header.x-id".into(), true)]),
                response_models: map(&[("application/json", "Empty")]),
                // Fields added after the fixtures were written decode as their defaults.
                given_maps: GivenMaps::default(),
            }),
        )]),
        integration: Some(Integration {
            kind: IntegrationType::Http,
            http_method: Some("PUT".into()),
            uri: Some("http://127.0.0.1:9/orders/{id}".into()),
            connection_type: Some("INTERNET".into()),
            connection_id: Some("conn-1".into()),
            credentials: Some("arn:aws:iam::123456789012:role/r".into()),
            request_parameters: map(&[("integration.request.path.id", "method.request.path.id")]),
            request_templates: map(&[("application/json", "{\"id\": \"$input.params('id')\"}")]),
            passthrough_behavior: Some("WHEN_NO_TEMPLATES".into()),
            content_handling: Some("CONVERT_TO_TEXT".into()),
            timeout_in_millis: 12_345,
            cache_namespace: Some("ns".into()),
            cache_key_parameters: vec!["method.request.path.id".into()],
            integration_responses: BTreeMap::from([(
                "200".into(),
                Box::new(IntegrationResponse {
                    status_code: "200".into(),
                    selection_pattern: Some("2\\d{2}".into()),
                    response_parameters: map(&[(
                        "method.response.header.x-id",
                        "integration.response.header.x-id",
                    )]),
                    response_templates: map(&[("application/json", "$input.body")]),
                    content_handling: Some("CONVERT_TO_BINARY".into()),
                    given_maps: GivenMaps::default(),
                }),
            )]),
            // None: bytes of builds before https backends decode into these samples.
            tls_config: None,
            given_maps: GivenMaps::default(),
        }),
        given_maps: GivenMaps::default(),
    }
}

pub fn mock_method() -> Method {
    Method {
        http_method: "GET".into(),
        integration: Some(Integration {
            kind: IntegrationType::Mock,
            request_templates: map(&[("application/json", "{\"statusCode\": 200}")]),
            timeout_in_millis: 29_000,
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn method_setting() -> MethodSetting {
    MethodSetting {
        metrics_enabled: true,
        logging_level: LoggingLevel::Info,
        data_trace_enabled: true,
        throttling_burst_limit: 77,
        throttling_rate_limit: 12.5,
        caching_enabled: true,
        cache_ttl_in_seconds: 60,
        cache_data_encrypted: true,
        require_authorization_for_cache_control: false,
        unauthorized_cache_control_header_strategy:
            UnauthorizedCacheControlHeaderStrategy::SucceedWithResponseHeader,
    }
}

pub fn stage(name: &str, deployment_id: &str) -> Stage {
    Stage {
        stage_name: name.into(),
        deployment_id: deployment_id.into(),
        description: Some(format!("stage {name}")),
        created_date: 1_764_600_001,
        last_updated_date: 1_764_600_002,
        variables: map(&[("backend", "127.0.0.1:9")]),
        cache_cluster_enabled: true,
        cache_cluster_size: Some("0.5".into()),
        tracing_enabled: true,
        method_settings: BTreeMap::from([
            ("*/*".into(), MethodSetting::default()),
            ("orders/POST".into(), method_setting()),
        ]),
        tags: map(&[("tier", "gold")]),
        // Older formats have no canary; `current_format_samples` sets one.
        canary_settings: None,
        // None: bytes of builds before access logs decode into these samples.
        access_log_settings: None,
    }
}

pub fn gateway_response() -> GatewayResponse {
    GatewayResponse {
        response_type: GatewayResponseType::QuotaExceeded,
        status_code: Some("429".into()),
        response_parameters: map(&[("gatewayresponse.header.retry-after", "'60'")]),
        response_templates: map(&[("application/json", "{\"message\": \"slow down\"}")]),
    }
}

pub fn model() -> Model {
    Model {
        id: "mod001".into(),
        name: "Order".into(),
        description: Some("an order".into()),
        schema: Some(
            "{\"type\": \"object\", \"required\": [\"id\"], \"properties\": {\"id\": {\"type\": \"string\"}}}"
                .into(),
        ),
        content_type: "application/json".into(),
    }
}

pub fn validator() -> RequestValidator {
    RequestValidator {
        id: "val001".into(),
        name: "body-and-params".into(),
        validate_request_body: true,
        validate_request_parameters: true,
    }
}

pub fn api_key(n: u32) -> ApiKey {
    ApiKey {
        id: format!("key{n:07}"),
        value: format!("value-of-key-{n:010}-abcdefgh"),
        name: Some(format!("key {n}")),
        enabled: !n.is_multiple_of(3),
        created_date: 1_764_600_000 + i64::from(n),
        last_updated_date: 1_764_600_100 + i64::from(n),
        extra: None,
    }
    .with_extra(
        Some("a customer".into()),
        Some(format!("cust-{n}")),
        map(&[("owner", "sales")]),
    )
}

pub fn quota() -> QuotaSettings {
    QuotaSettings {
        limit: 5000,
        offset: 100,
        period: QuotaPeriod::Week.into(),
    }
}

pub fn usage_plan() -> UsagePlan {
    UsagePlan {
        id: "plan01".into(),
        name: "gold".into(),
        description: Some("gold customers".into()),
        api_stages: vec![ApiStage {
            api_id: "api0000001".into(),
            stage: "prod".into(),
            throttle: BTreeMap::from([(
                "/orders/POST".into(),
                ThrottleSettings {
                    burst_limit: 20,
                    rate_limit: 10.5,
                },
            )]),
        }],
        throttle: Some(ThrottleSettings {
            burst_limit: 200,
            rate_limit: 100.0,
        }),
        quota: Some(quota()),
        key_ids: BTreeSet::from(["key0000001".to_string(), "key0000002".to_string()]),
        tags: map(&[("plan", "gold")]),
    }
}

const API: &str = "api0000001";

/// One command of every variant, named by variant, in declaration order.
pub fn commands() -> Vec<(&'static str, Command)> {
    let s = |v: &str| v.to_string();
    let mut cmds = vec![
        (
            "CreateRestApi",
            Command::CreateRestApi {
                id: s(API),
                root_resource_id: s("root000001"),
                settings: settings(),
                created_date: 1_764_600_000,
                clone_from: Some(s("api0000000")),
            },
        ),
        (
            "UpdateRestApi",
            Command::UpdateRestApi {
                id: s(API),
                settings: settings(),
            },
        ),
        (
            "DeleteRestApi",
            Command::DeleteRestApi {
                id: s(API),
                referential: false,
            },
        ),
        (
            "CreateResource",
            Command::CreateResource {
                api_id: s(API),
                resource_id: s("res0000001"),
                parent_id: s("root000001"),
                path_part: s("orders"),
            },
        ),
        (
            "UpdateResource",
            Command::UpdateResource {
                api_id: s(API),
                resource_id: s("res0000001"),
                parent_id: s("root000001"),
                path_part: s("{id}"),
            },
        ),
        (
            "DeleteResource",
            Command::DeleteResource {
                api_id: s(API),
                resource_id: s("res0000001"),
            },
        ),
        (
            "PutMethod",
            Command::PutMethod {
                api_id: s(API),
                resource_id: s("res0000001"),
                method: method(),
            },
        ),
        (
            "DeleteMethod",
            Command::DeleteMethod {
                api_id: s(API),
                resource_id: s("res0000001"),
                http_method: s("POST"),
            },
        ),
        (
            "CreateDeployment",
            Command::CreateDeployment {
                api_id: s(API),
                deployment_id: s("dep001"),
                description: Some(s("first")),
                created_date: 1_764_600_010,
                stage: Some(stage("prod", "dep001")),
            },
        ),
        (
            "UpdateDeployment",
            Command::UpdateDeployment {
                api_id: s(API),
                deployment_id: s("dep001"),
                description: None,
            },
        ),
        (
            "DeleteDeployment",
            Command::DeleteDeployment {
                api_id: s(API),
                deployment_id: s("dep001"),
            },
        ),
        (
            "PutStage",
            Command::PutStage {
                api_id: s(API),
                stage: stage("dev", "dep001"),
                create: true,
            },
        ),
        (
            "DeleteStage",
            Command::DeleteStage {
                api_id: s(API),
                stage_name: s("dev"),
                referential: false,
            },
        ),
        (
            "ReportUsage",
            Command::ReportUsage {
                node_id: 3,
                seq: 99,
                at: 1_764_600_020,
                deltas: vec![
                    UsageDelta {
                        key_id: s("plan01:key0000001"),
                        count: 17,
                    },
                    UsageDelta {
                        key_id: s("key0000002"),
                        count: u64::MAX,
                    },
                ],
            },
        ),
        ("CreateApiKey", Command::CreateApiKey { key: api_key(1) }),
        ("UpdateApiKey", Command::UpdateApiKey { key: api_key(2) }),
        (
            "DeleteApiKey",
            Command::DeleteApiKey {
                id: s("key0000003"),
            },
        ),
        (
            "ImportApiKeys",
            Command::ImportApiKeys {
                keys: vec![api_key(4), api_key(5)],
                plan_keys: vec![(s("plan01"), s("key0000004"))],
            },
        ),
        (
            "CreateUsagePlan",
            Command::CreateUsagePlan {
                plan: UsagePlan {
                    key_ids: BTreeSet::new(),
                    ..usage_plan()
                },
            },
        ),
        (
            "UpdateUsagePlan",
            Command::UpdateUsagePlan { plan: usage_plan() },
        ),
        (
            "DeleteUsagePlan",
            Command::DeleteUsagePlan {
                id: s("plan02"),
                referential: false,
            },
        ),
        (
            "CreateUsagePlanKey",
            Command::CreateUsagePlanKey {
                plan_id: s("plan01"),
                key_id: s("key0000001"),
            },
        ),
        (
            "DeleteUsagePlanKey",
            Command::DeleteUsagePlanKey {
                plan_id: s("plan01"),
                key_id: s("key0000001"),
            },
        ),
        (
            "UpdateUsage",
            Command::UpdateUsage {
                plan_id: s("plan01"),
                key_id: s("key0000001"),
                at: 1_764_600_030,
                remaining: -5,
            },
        ),
        (
            "FlushStageCache",
            Command::FlushStageCache {
                api_id: s(API),
                stage: s("prod"),
                epoch: 4,
            },
        ),
        (
            "ReportLoad",
            Command::ReportLoad {
                node_id: 2,
                seq: 100,
                at_ms: 1_764_600_040_123,
                deltas: vec![UsageDelta {
                    key_id: s("plan01:key0000001"),
                    count: 3,
                }],
                interval_ms: 250,
                demand: vec![LimitDemand {
                    limit_id: u64::MAX - 1,
                    requests: 3000,
                }],
            },
        ),
        (
            "IfUnchanged",
            Command::IfUnchanged {
                guards: vec![
                    (Scope::Api(s(API)), 7),
                    (Scope::ApiKey(s("key0000001")), 0),
                    (Scope::UsagePlan(s("plan01")), 12),
                ],
                command: Box::new(Command::DeleteUsagePlanKey {
                    plan_id: s("plan01"),
                    key_id: s("key0000002"),
                }),
            },
        ),
        (
            "Dated",
            Command::Dated {
                day: 20_423,
                command: Box::new(Command::CreateUsagePlan {
                    plan: UsagePlan {
                        id: s("plan03"),
                        key_ids: BTreeSet::new(),
                        ..usage_plan()
                    },
                }),
            },
        ),
        (
            "Once",
            Command::Once {
                request: RequestId {
                    client: u128::MAX - 12_345,
                    part: 2,
                },
                command: Box::new(Command::IfUnchanged {
                    guards: vec![(Scope::Api(s(API)), 1)],
                    command: Box::new(Command::DeleteStage {
                        api_id: s(API),
                        stage_name: s("dev"),
                        referential: false,
                    }),
                }),
            },
        ),
        (
            "PutGatewayResponse",
            Command::PutGatewayResponse {
                api_id: s(API),
                response: gateway_response(),
            },
        ),
        (
            "UpdateGatewayResponse",
            Command::UpdateGatewayResponse {
                api_id: s(API),
                response: GatewayResponse {
                    response_type: GatewayResponseType::Default4xx,
                    status_code: None,
                    response_parameters: BTreeMap::new(),
                    response_templates: map(&[("text/plain", "no")]),
                },
            },
        ),
        (
            "DeleteGatewayResponse",
            Command::DeleteGatewayResponse {
                api_id: s(API),
                response_type: GatewayResponseType::WafFiltered,
            },
        ),
        (
            "CreateModel",
            Command::CreateModel {
                api_id: s(API),
                model: model(),
            },
        ),
        (
            "UpdateModel",
            Command::UpdateModel {
                api_id: s(API),
                model: Model {
                    description: None,
                    ..model()
                },
            },
        ),
        (
            "DeleteModel",
            Command::DeleteModel {
                api_id: s(API),
                name: s("Order"),
            },
        ),
        (
            "CreateRequestValidator",
            Command::CreateRequestValidator {
                api_id: s(API),
                validator: validator(),
            },
        ),
        (
            "UpdateRequestValidator",
            Command::UpdateRequestValidator {
                api_id: s(API),
                validator: RequestValidator {
                    validate_request_body: false,
                    ..validator()
                },
            },
        ),
        (
            "DeleteRequestValidator",
            Command::DeleteRequestValidator {
                api_id: s(API),
                id: s("val001"),
            },
        ),
    ];
    cmds.extend(later_commands());
    cmds
}

/// How many of [`commands`] the bincode build knew (its fixtures, `tests/data/v1/commands/`,
/// hold these; the current format's, `tests/data/v2/commands/`, hold them all).
pub const V1_COMMANDS: usize = 38;

/// Every field set, including those added after the first fixtures were written.
pub fn full_settings() -> RestApiSettings {
    RestApiSettings {
        policy: Some(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"*"}]}"#.into(),
        ),
        ip_address_type: Some("dualstack".into()),
        ..settings()
    }
}

pub fn authorizer() -> Authorizer {
    Authorizer {
        id: "auth01".into(),
        name: "tokens".into(),
        kind: AuthorizerType::Request,
        provider_arns: vec!["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_x".into()],
        auth_type: Some("custom".into()),
        authorizer_uri: Some(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:auth/invocations".into(),
        ),
        authorizer_credentials: Some("arn:aws:iam::123456789012:role/invoker".into()),
        identity_source: Some("method.request.header.Authorization".into()),
        identity_validation_expression: Some("^Bearer .+$".into()),
        authorizer_result_ttl_in_seconds: 300,
    }
}

pub fn documentation_part() -> DocumentationPart {
    DocumentationPart {
        id: "doc001".into(),
        location: DocumentationLocation {
            kind: "METHOD".into(),
            path: Some("/orders".into()),
            method: Some("POST".into()),
            status_code: Some("200".into()),
            name: Some("body".into()),
        },
        properties: r#"{"description":"creates an order"}"#.into(),
    }
}

pub fn iam_user() -> IamUser {
    IamUser {
        name: "deployer".into(),
        id: "AIDA0000000000000001".into(),
        path: "/ci/".into(),
        created_date: 1_764_600_030,
        policies: map(&[("deploy", r#"{"Version":"2012-10-17","Statement":[]}"#)]),
    }
}

pub fn access_key() -> AccessKey {
    AccessKey {
        id: "AKIA0000000000000001".into(),
        secret: "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0".into(),
        user_name: "deployer".into(),
        active: true,
        created_date: 1_764_600_031,
        session_token: Some("FwoGZXIvYXdzEBYaDH".into()),
        expires: Some(1_764_603_631),
    }
}

pub fn account() -> Account {
    Account {
        throttle: Some(ThrottleSettings {
            burst_limit: 5000,
            rate_limit: 10_000.5,
        }),
        cloudwatch_role_arn: Some("arn:aws:iam::123456789012:role/logs".into()),
    }
}

pub fn client_certificate() -> ClientCertificate {
    ClientCertificate {
        id: "cert01".into(),
        description: Some("to the backend".into()),
        pem_certificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
        private_key_pem: "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n".into(),
        created_date: 1_764_600_040,
        expiration_date: 1_796_136_040,
        tags: map(&[("env", "prod")]),
    }
}

pub fn base_path_mapping() -> BasePathMapping {
    BasePathMapping {
        base_path: "v1/orders".into(),
        rest_api_id: API.into(),
        stage: Some("prod".into()),
    }
}

pub fn domain_name() -> DomainName {
    DomainName {
        name: "api.example.com".into(),
        certificate_name: Some("example".into()),
        certificate_body: "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n".into(),
        certificate_private_key: "-----BEGIN PRIVATE KEY-----\nMIGE\n-----END PRIVATE KEY-----\n"
            .into(),
        certificate_chain: "-----BEGIN CERTIFICATE-----\nMIID\n-----END CERTIFICATE-----\n".into(),
        certificate_arn: Some("arn:aws:acm:us-east-1:123456789012:certificate/abc".into()),
        certificate_upload_date: 1_764_600_050,
        security_policy: "TLS_1_2".into(),
        endpoint_types: vec!["REGIONAL".into()],
        mutual_tls: Some(MutualTls {
            truststore_uri: "file:///etc/tollgate/truststore.pem".into(),
            truststore_pem: String::new(),
            truststore_version: Some("3".into()),
        }),
        tags: map(&[("team", "edge")]),
        mappings: BTreeMap::from([(String::from("v1/orders"), base_path_mapping())]),
        ip_address_type: Some("dualstack".into()),
    }
}

/// An API with every kind of object and every field set (documentation, authorizers, the
/// settings added after the first fixtures).
pub fn full_api() -> RestApi {
    let mut api = registry()
        .apis
        .remove(API)
        .map(Shared::into_inner)
        .unwrap_or_default();
    api.settings = full_settings();
    api.authorizers = BTreeMap::from([("auth01".to_string(), authorizer())]);
    api.documentation_parts = BTreeMap::from([("doc001".to_string(), documentation_part())]);
    api.documentation_versions = BTreeMap::from([(
        "1.0".to_string(),
        DocumentationVersion {
            version: "1.0".into(),
            created_date: 1_764_600_060,
            description: Some("first release".into()),
            parts: BTreeMap::from([("doc001".to_string(), documentation_part())]),
        },
    )]);
    for d in api.deployments.values_mut() {
        d.authorizers = api.authorizers.clone();
    }
    api
}

/// One command of each variant added after the first fixtures were written (fixtures 38 and
/// on of the current format), in declaration order.
fn later_commands() -> Vec<(&'static str, Command)> {
    let s = |v: &str| v.to_string();
    vec![
        ("CreateIamUser", Command::CreateIamUser { user: iam_user() }),
        (
            "DeleteIamUser",
            Command::DeleteIamUser {
                name: s("deployer"),
            },
        ),
        (
            "CreateAccessKey",
            Command::CreateAccessKey { key: access_key() },
        ),
        (
            "UpdateAccessKey",
            Command::UpdateAccessKey {
                user_name: s("deployer"),
                id: s("AKIA0000000000000001"),
                active: false,
            },
        ),
        (
            "DeleteAccessKey",
            Command::DeleteAccessKey {
                user_name: s("deployer"),
                id: s("AKIA0000000000000001"),
            },
        ),
        (
            "PutUserPolicy",
            Command::PutUserPolicy {
                user_name: s("deployer"),
                policy_name: s("deploy"),
                document: s(r#"{"Version":"2012-10-17","Statement":[]}"#),
            },
        ),
        (
            "DeleteUserPolicy",
            Command::DeleteUserPolicy {
                user_name: s("deployer"),
                policy_name: s("deploy"),
            },
        ),
        (
            "DefineRestApi",
            Command::DefineRestApi {
                api: full_api(),
                create: true,
            },
        ),
        (
            "UpdateAccount",
            Command::UpdateAccount { account: account() },
        ),
        (
            "PutDocumentationPart",
            Command::PutDocumentationPart {
                api_id: s(API),
                part: documentation_part(),
                create: true,
            },
        ),
        (
            "DeleteDocumentationPart",
            Command::DeleteDocumentationPart {
                api_id: s(API),
                id: s("doc001"),
            },
        ),
        (
            "CreateDocumentationVersion",
            Command::CreateDocumentationVersion {
                api_id: s(API),
                version: s("1.0"),
                created_date: 1_764_600_060,
                description: Some(s("first release")),
            },
        ),
        (
            "UpdateDocumentationVersion",
            Command::UpdateDocumentationVersion {
                api_id: s(API),
                version: s("1.0"),
                description: Some(s("renamed")),
            },
        ),
        (
            "DeleteDocumentationVersion",
            Command::DeleteDocumentationVersion {
                api_id: s(API),
                version: s("1.0"),
            },
        ),
        (
            "CreateClientCertificate",
            Command::CreateClientCertificate {
                certificate: client_certificate(),
            },
        ),
        (
            "UpdateClientCertificate",
            Command::UpdateClientCertificate {
                id: s("cert01"),
                description: Some(s("rotated")),
                tags: map(&[("env", "staging")]),
            },
        ),
        (
            "DeleteClientCertificate",
            Command::DeleteClientCertificate { id: s("cert01") },
        ),
        (
            "CreateDomainName",
            Command::CreateDomainName {
                domain: domain_name(),
            },
        ),
        (
            "UpdateDomainName",
            Command::UpdateDomainName {
                domain: domain_name(),
            },
        ),
        (
            "DeleteDomainName",
            Command::DeleteDomainName {
                name: s("api.example.com"),
            },
        ),
        (
            "CreateBasePathMapping",
            Command::CreateBasePathMapping {
                domain_name: s("api.example.com"),
                mapping: base_path_mapping(),
            },
        ),
        (
            "UpdateBasePathMapping",
            Command::UpdateBasePathMapping {
                domain_name: s("api.example.com"),
                base_path: s("v1/orders"),
                mapping: BasePathMapping {
                    base_path: s("v2"),
                    rest_api_id: s("api0000002"),
                    stage: None,
                },
            },
        ),
        (
            "DeleteBasePathMapping",
            Command::DeleteBasePathMapping {
                domain_name: s("api.example.com"),
                base_path: s(""),
            },
        ),
        (
            "InitTlsTicketSecret",
            Command::InitTlsTicketSecret {
                secret: (0u8..32).collect(),
            },
        ),
        (
            "CreateAuthorizer",
            Command::CreateAuthorizer {
                api_id: s(API),
                authorizer: authorizer(),
            },
        ),
        (
            "UpdateAuthorizer",
            Command::UpdateAuthorizer {
                api_id: s(API),
                authorizer: Authorizer {
                    kind: AuthorizerType::CognitoUserPools,
                    ..authorizer()
                },
            },
        ),
        (
            "DeleteAuthorizer",
            Command::DeleteAuthorizer {
                api_id: s(API),
                id: s("auth01"),
            },
        ),
        (
            "FlushStageAuthorizersCache",
            Command::FlushStageAuthorizersCache {
                api_id: s(API),
                stage: s("prod"),
                epoch: 7,
            },
        ),
        (
            "RotateTlsTicketSecret",
            Command::RotateTlsTicketSecret {
                secret: vec![0xA5; 32],
                generation: 3,
                at_ms: 1_764_600_070_123,
            },
        ),
    ]
}

/// [`registry`] with every later kind of object and field: IAM, the account, client
/// certificates, domain names, session-ticket secrets, authorizers and documentation (the
/// current format's `snapshot-v3-full.bin`; the earlier snapshots hold [`registry`]).
pub fn full_registry() -> Registry {
    let mut r = registry();
    r.apis.insert(API.to_string(), full_api().into());
    r.iam.users.insert("deployer".into(), iam_user());
    r.iam
        .access_keys
        .insert("AKIA0000000000000001".into(), access_key());
    r.account = account();
    r.client_certificates
        .insert("cert01".into(), client_certificate());
    r.domains.insert("api.example.com".into(), domain_name());
    r.tls_ticket_secret = Some(vec![0x5A; 32]);
    r.tls_ticket_rotation = tollgate_proto::domain::TicketRotation {
        generation: 2,
        previous: Some(vec![0x3C; 32]),
        rotated_at_ms: 1_764_600_080_000,
    };
    r.authorizer_epochs
        .insert((API.to_string(), "prod".to_string()), 7);
    r
}

fn resources() -> BTreeMap<String, Resource> {
    BTreeMap::from([
        (
            "root000001".to_string(),
            Resource {
                id: "root000001".into(),
                parent_id: None,
                path_part: "".into(),
                methods: BTreeMap::from([("GET".to_string(), Box::new(mock_method()))]),
            },
        ),
        (
            "res0000001".to_string(),
            Resource {
                id: "res0000001".into(),
                parent_id: Some("root000001".into()),
                path_part: "orders".into(),
                methods: BTreeMap::from([("POST".to_string(), Box::new(method()))]),
            },
        ),
    ])
}

/// A registry holding APIs, deployments, stages, keys, plans, usage, gateway responses,
/// models, validators, versions and sessions.
pub fn registry() -> Registry {
    let gateway_responses =
        BTreeMap::from([(GatewayResponseType::QuotaExceeded, gateway_response())]);
    let models = BTreeMap::from([("Order".to_string(), model())]);
    let request_validators = BTreeMap::from([("val001".to_string(), validator())]);
    let deployment = Deployment {
        id: "dep001".into(),
        description: Some("first".into()),
        created_date: 1_764_600_010,
        root_resource_id: "root000001".into(),
        resources: resources().into(),
        gateway_responses: gateway_responses.clone(),
        models: models.clone(),
        request_validators: request_validators.clone(),
        authorizers: BTreeMap::new(),
    };
    let api = RestApi {
        id: API.into(),
        settings: settings(),
        created_date: 1_764_600_000,
        root_resource_id: "root000001".into(),
        resources: resources().into(),
        deployments: BTreeMap::from([("dep001".to_string(), deployment)]),
        stages: BTreeMap::from([
            ("prod".to_string(), stage("prod", "dep001")),
            ("dev".to_string(), stage("dev", "dep001")),
        ]),
        gateway_responses,
        models,
        request_validators,
        documentation_parts: BTreeMap::new(),
        documentation_versions: BTreeMap::new(),
        authorizers: BTreeMap::new(),
    };
    let plain_api = RestApi {
        id: "api0000002".into(),
        settings: RestApiSettings {
            name: "bare".into(),
            ..Default::default()
        },
        created_date: 1_764_600_005,
        root_resource_id: "root000002".into(),
        resources: BTreeMap::from([(
            "root000002".to_string(),
            Resource {
                id: "root000002".into(),
                parent_id: None,
                path_part: "".into(),
                methods: BTreeMap::new(),
            },
        )])
        .into(),
        ..Default::default()
    };
    let usage = UsageLedger {
        last_seq: BTreeMap::from([(1, 5), (2, 100), (3, 99)]),
        used: BTreeMap::from([
            (("plan01:key0000001".to_string(), 20_423), 17),
            (("plan01:key0000002".to_string(), 20_424), 4),
            (("key0000002".to_string(), 20_400), 1),
        ]),
        granted: BTreeMap::from([(("plan01".to_string(), "key0000001".to_string(), 20_419), -5)]),
    };
    Registry {
        apis: BTreeMap::from([
            (API.to_string(), api.into()),
            ("api0000002".to_string(), plain_api.into()),
        ])
        .into(),
        usage: usage.into(),
        api_keys: Shared::new((1..=3).map(|n| (api_key(n).id, api_key(n))).collect()),
        usage_plans: BTreeMap::from([("plan01".to_string(), usage_plan())]).into(),
        cache_epochs: BTreeMap::from([((API.to_string(), "prod".to_string()), 4)]).into(),
        versions: BTreeMap::from([
            (Scope::Api(API.to_string()), 12),
            (Scope::ApiKey("key0000001".to_string()), 2),
            (Scope::UsagePlan("plan01".to_string()), 9),
        ])
        .into(),
        versioned: true,
        quota_starts: BTreeMap::from([("plan01".to_string(), 20_419)]),
        sessions: Sessions::from(VecDeque::from([
            RequestId { client: 1, part: 0 },
            RequestId {
                client: u128::MAX,
                part: 3,
            },
        ]))
        .into(),
        iam: Default::default(),
        account: Default::default(),
        client_certificates: Default::default(),
        domains: Default::default(),
        tls_ticket_secret: None,
        tls_ticket_rotation: Default::default(),
        authorizer_epochs: BTreeMap::new(),
    }
}
