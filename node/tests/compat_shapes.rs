//! Every implemented operation of botocore's model (`tests/data/botocore/`) called once with a
//! successful request, on one node: its success status is the model's `http.responseCode`
//! (200 where the model names none), its JSON answer fits the operation's output shape with
//! every member Tollgate sets present (`support/shapes.rs`), an operation without an output
//! shape answers no body, and one whose output is a payload (GetExport, GetSdk) answers the
//! headers the shape names. The walk ends by checking it called every operation the coverage
//! table says is implemented. Then boto3 drives the operations no other test drives with it
//! (`data/compat_shapes_boto3.py`).

mod common;
#[path = "support/shapes.rs"]
mod shapes;

use common::{TestNode, ACCESS_KEY, SECRET_KEY};
use serde_json::{json, Value};
use shapes::{assert_shape, Model};
use std::collections::{BTreeMap, BTreeSet};
use tollgate_node::admin::coverage::{Coverage, OPERATIONS};
use tollgate_node::admin_client::Answer;

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function";
const DOMAIN: &str = "shapes.example.com";
const EDGE_DOMAIN: &str = "edge.example.com";
const POOL: &str = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc";

fn lambda_uri(function: &str) -> String {
    format!("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{ARN}:{function}/invocations")
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("a string: {v}"))
        .to_string()
}

/// A node with the Lambda authorizer functions of `data/authorizers` (run by Python's
/// `awslambdaric`).
fn node() -> TestNode {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import awslambdaric"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "Python's awslambdaric is not installed; install it with `python3 -m pip install awslambdaric`"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tollgate.toml");
    let code = format!("{}/tests/data/authorizers", env!("CARGO_MANIFEST_DIR"));
    // The user pool's keys are looked for on loopback only (nothing answers there).
    let mut toml = format!(
        "region = \"us-east-1\"\n[[jwt.issuers]]\nprovider = \"{POOL}\"\nissuer = \"https://127.0.0.1:9/pool\"\njwks_url = \"https://127.0.0.1:9/jwks.json\"\naudiences = [\"client-a\"]\n\n"
    );
    for (name, handler) in [
        ("tokauth", "authorizers.token"),
        ("reqauth", "authorizers.request"),
    ] {
        toml.push_str(&format!(
            "[[functions]]\nname = \"{name}\"\nhandler = \"{handler}\"\ncode = \"{code}\"\ntimeout_secs = 5\nconcurrency = 1\n\n"
        ));
    }
    std::fs::write(&config, toml).unwrap();
    let data = dir.path().join("data").to_string_lossy().into_owned();
    let config = config.to_string_lossy().into_owned();
    TestNode::spawn(
        dir,
        &[
            "--config",
            &config,
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--raft-listen",
            "127.0.0.1:0",
            "--data-dir",
            &data,
            "--workers",
            "1",
        ],
        &[("TOLLGATE_LOG", "warn,openraft=error")],
    )
}

/// A self-signed certificate for `names`: (certificate PEM, key PEM).
fn certificate(names: &[&str]) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let p = rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .unwrap();
    (p.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

/// The success status of every operation, as botocore's model has it (`http.responseCode`,
/// 200 when absent).
fn response_codes() -> BTreeMap<String, u16> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/botocore/apigateway-2015-07-09-service-2.json"
    );
    let model: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    model["operations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, op)| {
            let code = op["http"]["responseCode"].as_u64().unwrap_or(200);
            (name.clone(), code as u16)
        })
        .collect()
}

/// Calls operations, checking each answer's status and shape, and remembers which it called.
struct Walk<'a> {
    n: &'a TestNode,
    model: Model,
    codes: BTreeMap<String, u16>,
    called: BTreeSet<String>,
}

impl Walk<'_> {
    /// Calls `op` with a raw body and checks its status against the model's; the answer.
    fn raw(&mut self, op: &str, method: &str, path: &str, body: &[u8]) -> Answer {
        let creds = tollgate_node::sigv4::Credentials {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
        };
        let a = tollgate_node::admin_client::call(self.n.admin, &creds, method, path, body)
            .expect("admin answer");
        let want = self.codes[op];
        assert_eq!(
            a.status,
            want,
            "{op} {method} {path}: botocore's model says {want}; answered {} {}",
            a.status,
            String::from_utf8_lossy(&a.body)
        );
        if self.model.output_shape(op).is_none() {
            assert!(
                a.body.is_empty(),
                "{op} has no output shape, yet answered {}",
                String::from_utf8_lossy(&a.body)
            );
        }
        self.called.insert(op.to_string());
        a
    }

    /// Calls `op` with a raw body; checks its status, its JSON answer against the output
    /// shape, and that every member of `present` is set.
    fn raw_op(
        &mut self,
        op: &str,
        method: &str,
        path: &str,
        body: &[u8],
        present: &[&str],
    ) -> Value {
        let a = self.raw(op, method, path, body);
        let v = a.json();
        assert_shape(&self.model, op, &v, present);
        // `present` names every member Tollgate sets, no fewer.
        let extra: Vec<&String> = v
            .as_object()
            .map(|o| {
                o.keys()
                    .filter(|k| !present.contains(&k.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            extra.is_empty(),
            "{op}: {extra:?} answered but not in its list: {v:#}"
        );
        v
    }

    /// [`Walk::raw_op`] with a JSON body.
    fn op(
        &mut self,
        op: &str,
        (method, path): (&str, &str),
        body: Option<Value>,
        present: &[&str],
    ) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.raw_op(op, method, path, body.as_bytes(), present)
    }

    /// A list operation: checks it as [`Walk::op`] with `item` present, and that its first
    /// item holds every member of `item`.
    fn list(&mut self, op: &str, path: &str, item: &[&str]) -> Value {
        let v = self.op(op, ("GET", path), None, &["item"]);
        let first = &v["item"][0];
        for m in item {
            assert!(
                first.get(*m).is_some_and(|x| !x.is_null()),
                "{op}: `{m}` missing in its first item: {v:#}"
            );
        }
        v
    }

    /// An operation without an output shape (a delete, a flush, tagging).
    fn empty(&mut self, op: &str, (method, path): (&str, &str), body: Option<Value>) {
        assert!(self.model.output_shape(op).is_none(), "{op} has an output");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.raw(op, method, path, body.as_bytes());
    }
}

fn patch(ops: Value) -> Option<Value> {
    Some(json!({ "patchOperations": ops }))
}

fn replace(path: &str, value: &str) -> Option<Value> {
    patch(json!([{ "op": "replace", "path": path, "value": value }]))
}

const REST_API: &[&str] = &[
    "id",
    "name",
    "description",
    "createdDate",
    "version",
    "binaryMediaTypes",
    "minimumCompressionSize",
    "apiKeySource",
    "endpointConfiguration",
    "tags",
    "disableExecuteApiEndpoint",
    "rootResourceId",
];
const AUTHORIZER: &[&str] = &[
    "id",
    "name",
    "type",
    "authType",
    "authorizerUri",
    "identitySource",
    "identityValidationExpression",
    "authorizerResultTtlInSeconds",
];
const DOMAIN_NAME: &[&str] = &[
    "domainName",
    "domainNameArn",
    "regionalCertificateName",
    "certificateUploadDate",
    "regionalDomainName",
    "endpointConfiguration",
    "domainNameStatus",
    "securityPolicy",
    "tags",
    "mutualTlsAuthentication",
];
const MAPPING: &[&str] = &["basePath", "restApiId", "stage"];
const STAGE: &[&str] = &[
    "deploymentId",
    "stageName",
    "description",
    "cacheClusterEnabled",
    "cacheClusterStatus",
    "methodSettings",
    "variables",
    "tracingEnabled",
    "tags",
    "createdDate",
    "lastUpdatedDate",
];
const API_KEY: &[&str] = &[
    "id",
    "name",
    "description",
    "enabled",
    "createdDate",
    "lastUpdatedDate",
    "customerId",
    "stageKeys",
    "tags",
];
const PLAN: &[&str] = &[
    "id",
    "name",
    "description",
    "apiStages",
    "throttle",
    "quota",
    "tags",
];

/// An OpenAPI document of one MOCK method, `GET /pets`.
fn openapi(title: &str) -> Value {
    json!({
        "openapi": "3.0.1",
        "info": { "title": title, "version": "1" },
        "paths": { "/pets": { "get": {
            "responses": { "200": { "description": "ok" } },
            "x-amazon-apigateway-integration": {
                "type": "mock",
                "requestTemplates": { "application/json": "{\"statusCode\": 200}" },
                "responses": { "default": { "statusCode": "200" } }
            }
        } } }
    })
}

#[test]
fn every_implemented_operation_answers_its_status_and_shape() {
    let n = node();
    let mut w = Walk {
        n: &n,
        model: Model::load(),
        codes: response_codes(),
        called: BTreeSet::new(),
    };

    // The account.
    w.op(
        "GetAccount",
        ("GET", "/account"),
        None,
        &["features", "apiKeyVersion"],
    );
    w.op(
        "UpdateAccount",
        ("PATCH", "/account"),
        patch(json!([
            { "op": "replace", "path": "/cloudwatchRoleArn", "value": "arn:aws:iam::123456789012:role/cw" },
            { "op": "replace", "path": "/throttle/rateLimit", "value": "5000" },
            { "op": "replace", "path": "/throttle/burstLimit", "value": "2500" }
        ])),
        &["cloudwatchRoleArn", "throttleSettings", "features", "apiKeyVersion"],
    );

    // REST APIs: created, imported, merged.
    let api = w.op(
        "CreateRestApi",
        ("POST", "/restapis"),
        Some(
            json!({ "name": "shapes", "description": "d", "version": "v1",
            "tags": { "t": "1" }, "binaryMediaTypes": ["image/png"],
            "minimumCompressionSize": 100, "disableExecuteApiEndpoint": false,
            "endpointConfiguration": { "types": ["REGIONAL"] } }),
        ),
        REST_API,
    );
    let id = text(&api["id"]);
    let root = text(&api["rootResourceId"]);
    let a = format!("/restapis/{id}");
    w.op("GetRestApi", ("GET", &a), None, REST_API);
    w.list("GetRestApis", "/restapis", &["id", "name", "createdDate"]);
    w.op(
        "UpdateRestApi",
        ("PATCH", &a),
        replace("/description", "e"),
        REST_API,
    );
    let doc = openapi("imported").to_string();
    let imported = w.raw_op(
        "ImportRestApi",
        "POST",
        "/restapis?mode=import",
        doc.as_bytes(),
        &[
            "id",
            "name",
            "createdDate",
            "version",
            "rootResourceId",
            "apiKeySource",
            "endpointConfiguration",
            "disableExecuteApiEndpoint",
        ],
    );
    let imp = text(&imported["id"]);
    let merged = openapi("merged").to_string();
    w.raw_op(
        "PutRestApi",
        "PUT",
        &format!("/restapis/{imp}?mode=merge"),
        merged.as_bytes(),
        &[
            "id",
            "name",
            "createdDate",
            "version",
            "rootResourceId",
            "apiKeySource",
            "endpointConfiguration",
            "disableExecuteApiEndpoint",
            // `{}`: PutRestApi answers it always, as AWS does.
            "tags",
        ],
    );

    // Resources, models, validators.
    let res = w.op(
        "CreateResource",
        ("POST", &format!("{a}/resources/{root}")),
        Some(json!({ "pathPart": "pets" })),
        &["id", "parentId", "pathPart", "path"],
    );
    let r = format!("{a}/resources/{}", text(&res["id"]));
    w.op(
        "GetResource",
        ("GET", &r),
        None,
        &["id", "parentId", "pathPart", "path"],
    );
    w.list("GetResources", &format!("{a}/resources"), &["id", "path"]);
    w.op(
        "UpdateResource",
        ("PATCH", &r),
        replace("/pathPart", "pet"),
        &["id", "parentId", "pathPart", "path"],
    );
    let schema = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}}}";
    let model_members = &["id", "name", "description", "schema", "contentType"];
    w.op(
        "CreateModel",
        ("POST", &format!("{a}/models")),
        Some(json!({ "name": "Pet", "description": "a pet", "contentType": "application/json", "schema": schema })),
        model_members,
    );
    w.op(
        "GetModel",
        ("GET", &format!("{a}/models/Pet")),
        None,
        model_members,
    );
    w.list(
        "GetModels",
        &format!("{a}/models"),
        &["id", "name", "contentType"],
    );
    w.op(
        "UpdateModel",
        ("PATCH", &format!("{a}/models/Pet")),
        replace("/description", "the pet"),
        model_members,
    );
    w.op(
        "GetModelTemplate",
        ("GET", &format!("{a}/models/Pet/default_template")),
        None,
        &["value"],
    );
    let validator_members = &[
        "id",
        "name",
        "validateRequestBody",
        "validateRequestParameters",
    ];
    let v = w.op(
        "CreateRequestValidator",
        ("POST", &format!("{a}/requestvalidators")),
        Some(json!({ "name": "all", "validateRequestBody": true, "validateRequestParameters": true })),
        validator_members,
    );
    let vid = text(&v["id"]);
    let vp = format!("{a}/requestvalidators/{vid}");
    w.op("GetRequestValidator", ("GET", &vp), None, validator_members);
    w.list(
        "GetRequestValidators",
        &format!("{a}/requestvalidators"),
        validator_members,
    );
    w.op(
        "UpdateRequestValidator",
        ("PATCH", &vp),
        replace("/name", "body"),
        validator_members,
    );

    // Authorizers: a Lambda TOKEN one and an OpenID Connect (COGNITO_USER_POOLS) one.
    let auth = w.op(
        "CreateAuthorizer",
        ("POST", &format!("{a}/authorizers")),
        Some(
            json!({ "name": "tok", "type": "TOKEN", "authType": "custom",
            "authorizerUri": lambda_uri("tokauth"),
            "identitySource": "method.request.header.Authorization",
            "identityValidationExpression": "^Bearer .+$",
            "authorizerResultTtlInSeconds": 60 }),
        ),
        AUTHORIZER,
    );
    let tok = text(&auth["id"]);
    let ap = format!("{a}/authorizers/{tok}");
    let jwt = w.op(
        "CreateAuthorizer",
        ("POST", &format!("{a}/authorizers")),
        Some(json!({ "name": "jwt", "type": "COGNITO_USER_POOLS",
            "providerARNs": [POOL],
            "identitySource": "method.request.header.Authorization" })),
        &[
            "id",
            "name",
            "type",
            "providerARNs",
            "identitySource",
            "authorizerResultTtlInSeconds",
        ],
    );
    w.op("GetAuthorizer", ("GET", &ap), None, AUTHORIZER);
    w.list(
        "GetAuthorizers",
        &format!("{a}/authorizers"),
        &["id", "name", "type"],
    );
    w.op(
        "UpdateAuthorizer",
        ("PATCH", &ap),
        replace("/authorizerResultTtlInSeconds", "120"),
        AUTHORIZER,
    );
    let t = w.op(
        "TestInvokeAuthorizer",
        ("POST", &ap),
        Some(json!({ "headers": { "Authorization": "Bearer allow" } })),
        &[
            "clientStatus",
            "log",
            "latency",
            "principalId",
            "policy",
            "authorization",
            "claims",
        ],
    );
    assert_eq!(t["clientStatus"], 200, "{t}");

    // Methods, method responses, integrations and their responses.
    let meth = format!("{r}/methods/POST");
    let method_members = &[
        "httpMethod",
        "authorizationType",
        "authorizerId",
        "apiKeyRequired",
        "requestValidatorId",
        "operationName",
        "requestParameters",
        "requestModels",
    ];
    w.op(
        "PutMethod",
        ("PUT", &meth),
        Some(json!({ "authorizationType": "CUSTOM", "authorizerId": tok,
            "apiKeyRequired": false, "operationName": "addPet", "requestValidatorId": vid,
            "requestParameters": { "method.request.header.x-id": false },
            "requestModels": { "application/json": "Pet" } })),
        method_members,
    );
    w.op(
        "UpdateMethod",
        ("PATCH", &meth),
        replace("/operationName", "add"),
        method_members,
    );
    let mr_members = &["statusCode", "responseParameters", "responseModels"];
    w.op(
        "PutMethodResponse",
        ("PUT", &format!("{meth}/responses/200")),
        Some(
            json!({ "responseParameters": { "method.response.header.x-a": false },
            "responseModels": { "application/json": "Empty" } }),
        ),
        mr_members,
    );
    w.op(
        "GetMethodResponse",
        ("GET", &format!("{meth}/responses/200")),
        None,
        mr_members,
    );
    w.op(
        "UpdateMethodResponse",
        ("PATCH", &format!("{meth}/responses/200")),
        patch(json!([{ "op": "add", "path": "/responseParameters/method.response.header.x-b", "value": "true" }])),
        mr_members,
    );
    let integration_members = &[
        "type",
        "requestTemplates",
        "passthroughBehavior",
        "timeoutInMillis",
        "cacheNamespace",
        "cacheKeyParameters",
    ];
    w.op(
        "PutIntegration",
        ("PUT", &format!("{meth}/integration")),
        Some(json!({ "type": "MOCK",
            "requestTemplates": { "application/json": "{\"statusCode\": 200}" },
            "passthroughBehavior": "WHEN_NO_TEMPLATES" })),
        integration_members,
    );
    w.op(
        "GetIntegration",
        ("GET", &format!("{meth}/integration")),
        None,
        integration_members,
    );
    w.op(
        "UpdateIntegration",
        ("PATCH", &format!("{meth}/integration")),
        replace("/passthroughBehavior", "NEVER"),
        integration_members,
    );
    let ir = format!("{meth}/integration/responses/200");
    let ir_members = &[
        "statusCode",
        "selectionPattern",
        "responseParameters",
        "responseTemplates",
    ];
    w.op(
        "PutIntegrationResponse",
        ("PUT", &ir),
        Some(json!({ "selectionPattern": "",
            "responseParameters": { "method.response.header.x-a": "'a'" },
            "responseTemplates": { "application/json": "{\"ok\": true}" } })),
        ir_members,
    );
    w.op("GetIntegrationResponse", ("GET", &ir), None, ir_members);
    w.op(
        "UpdateIntegrationResponse",
        ("PATCH", &ir),
        replace("/selectionPattern", "2\\d\\d"),
        ir_members,
    );
    let mut get_members = method_members.to_vec();
    get_members.extend(["methodResponses", "methodIntegration"]);
    w.op("GetMethod", ("GET", &meth), None, &get_members);
    // The method's pipeline, run in-process (its authorizer is not called).
    let ti = w.op(
        "TestInvokeMethod",
        ("POST", &meth),
        Some(json!({ "body": "{}", "headers": { "Content-Type": "application/json", "Authorization": "Bearer allow" } })),
        &["status", "body", "headers", "multiValueHeaders", "log", "latency"],
    );
    assert_eq!(ti["status"], 200, "{ti}");

    // Gateway responses.
    let gr = format!("{a}/gatewayresponses/THROTTLED");
    let gr_members = &[
        "responseType",
        "statusCode",
        "responseParameters",
        "responseTemplates",
        "defaultResponse",
    ];
    w.op(
        "PutGatewayResponse",
        ("PUT", &gr),
        Some(json!({ "statusCode": "429",
            "responseParameters": { "gatewayresponse.header.x-t": "'t'" },
            "responseTemplates": { "application/json": "{}" } })),
        gr_members,
    );
    w.op("GetGatewayResponse", ("GET", &gr), None, gr_members);
    w.list(
        "GetGatewayResponses",
        &format!("{a}/gatewayresponses"),
        &["responseType", "defaultResponse"],
    );
    w.op(
        "UpdateGatewayResponse",
        ("PATCH", &gr),
        replace("/statusCode", "503"),
        gr_members,
    );

    // Deployments and stages.
    let dep = w.op(
        "CreateDeployment",
        ("POST", &format!("{a}/deployments")),
        Some(json!({ "stageName": "dev", "description": "first" })),
        &["id", "description", "createdDate"],
    );
    let dep_id = text(&dep["id"]);
    let dp = format!("{a}/deployments/{dep_id}");
    w.op(
        "GetDeployment",
        ("GET", &format!("{dp}?embed=apisummary")),
        None,
        &["id", "description", "createdDate", "apiSummary"],
    );
    w.list(
        "GetDeployments",
        &format!("{a}/deployments"),
        &["id", "description", "createdDate"],
    );
    w.op(
        "UpdateDeployment",
        ("PATCH", &dp),
        replace("/description", "second"),
        &["id", "description", "createdDate"],
    );
    w.op(
        "CreateStage",
        ("POST", &format!("{a}/stages")),
        Some(
            json!({ "stageName": "prod", "deploymentId": dep_id, "description": "p",
            "variables": { "a": "b" }, "tags": { "s": "1" }, "tracingEnabled": false,
            "cacheClusterEnabled": false }),
        ),
        &[
            "deploymentId",
            "stageName",
            "description",
            "cacheClusterEnabled",
            "cacheClusterStatus",
            "methodSettings",
            "variables",
            "tracingEnabled",
            "tags",
            "createdDate",
            "lastUpdatedDate",
        ],
    );
    let sp = format!("{a}/stages/prod");
    w.op(
        "UpdateStage",
        ("PATCH", &sp),
        replace("/*/*/throttling/rateLimit", "100"),
        STAGE,
    );
    w.op("GetStage", ("GET", &sp), None, STAGE);
    w.list(
        "GetStages",
        &format!("{a}/stages"),
        &["stageName", "deploymentId"],
    );
    w.empty(
        "FlushStageAuthorizersCache",
        ("DELETE", &format!("{sp}/cache/authorizers")),
        None,
    );
    w.empty(
        "FlushStageCache",
        ("DELETE", &format!("{sp}/cache/data")),
        None,
    );

    // Export and SDKs: a payload, its type and name in headers.
    for (op, path, kind) in [
        (
            "GetExport",
            format!("{sp}/exports/oas30?extensions=apigateway"),
            // AWS's recorded `application/octet-stream` for a JSON export.
            "application/octet-stream",
        ),
        (
            "GetSdk",
            format!("{sp}/sdks/javascript"),
            // AWS's media type of an SDK, as the CLI's example shows it.
            "application/octet-stream",
        ),
    ] {
        let ans = w.raw(op, "GET", &path, b"");
        assert!(!ans.body.is_empty(), "{op}: an empty payload");
        let ct = ans.header("content-type").unwrap_or("");
        assert!(ct.starts_with(kind), "{op}: Content-Type {ct}");
        let cd = ans.header("content-disposition").unwrap_or("");
        assert!(cd.starts_with("attachment; filename="), "{op}: {cd}");
    }
    let sdk_type = &[
        "id",
        "friendlyName",
        "description",
        "configurationProperties",
    ];
    w.op(
        "GetSdkType",
        ("GET", "/sdktypes/javascript"),
        None,
        sdk_type,
    );
    w.list("GetSdkTypes", "/sdktypes", sdk_type);

    // API keys.
    let key = w.op(
        "CreateApiKey",
        ("POST", "/apikeys"),
        Some(json!({ "name": "k", "description": "d", "enabled": true,
            "customerId": "c", "tags": { "k": "1" } })),
        &[API_KEY, &["value"]].concat(),
    );
    let key_id = text(&key["id"]);
    let kp = format!("/apikeys/{key_id}");
    w.op(
        "GetApiKey",
        ("GET", &format!("{kp}?includeValue=true")),
        None,
        &[API_KEY, &["value"]].concat(),
    );
    w.list(
        "GetApiKeys",
        "/apikeys?includeValues=true",
        &["id", "name", "value", "enabled"],
    );
    w.op(
        "UpdateApiKey",
        ("PATCH", &kp),
        replace("/description", "e"),
        API_KEY,
    );
    let csv = b"name,key,enabled\nimported,abcdefghij0123456789xyz,true\n";
    let ids = w.raw_op(
        "ImportApiKeys",
        "POST",
        "/apikeys?mode=import&format=csv",
        csv,
        &["ids", "warnings"],
    );
    assert_eq!(ids["ids"].as_array().map(Vec::len), Some(1), "{ids}");

    // Usage plans.
    let plan = w.op(
        "CreateUsagePlan",
        ("POST", "/usageplans"),
        Some(json!({ "name": "p", "description": "d",
            "apiStages": [{ "apiId": id, "stage": "prod" }],
            "throttle": { "rateLimit": 10.0, "burstLimit": 20 },
            "quota": { "limit": 1000, "offset": 0, "period": "DAY" }, "tags": { "p": "1" } })),
        PLAN,
    );
    let pp = format!("/usageplans/{}", text(&plan["id"]));
    w.op("GetUsagePlan", ("GET", &pp), None, PLAN);
    w.list("GetUsagePlans", "/usageplans", &["id", "name", "apiStages"]);
    w.op(
        "UpdateUsagePlan",
        ("PATCH", &pp),
        replace("/description", "e"),
        PLAN,
    );
    let upk = &["id", "type", "value", "name"];
    w.op(
        "CreateUsagePlanKey",
        ("POST", &format!("{pp}/keys")),
        Some(json!({ "keyId": key_id, "keyType": "API_KEY" })),
        upk,
    );
    w.op(
        "GetUsagePlanKey",
        ("GET", &format!("{pp}/keys/{key_id}")),
        None,
        upk,
    );
    w.list("GetUsagePlanKeys", &format!("{pp}/keys"), upk);
    let usage = &["usagePlanId", "startDate", "endDate", "values"];
    w.op(
        "GetUsage",
        (
            "GET",
            &format!("{pp}/usage?startDate=2026-01-01&endDate=2026-01-02"),
        ),
        None,
        usage,
    );
    w.op(
        "UpdateUsage",
        ("PATCH", &format!("{pp}/keys/{key_id}/usage")),
        replace("/remaining", "500"),
        &["usagePlanId", "startDate", "endDate", "values"],
    );

    // Tags, on the API.
    let arn = enc(&format!("arn:aws:apigateway:us-east-1::/restapis/{id}"));
    w.empty(
        "TagResource",
        ("PUT", &format!("/tags/{arn}")),
        Some(json!({ "tags": { "team": "x", "env": "dev" } })),
    );
    let tags = w.op("GetTags", ("GET", &format!("/tags/{arn}")), None, &["tags"]);
    assert_eq!(tags["tags"], json!({ "t": "1", "team": "x", "env": "dev" }));
    w.empty(
        "UntagResource",
        ("DELETE", &format!("/tags/{arn}?tagKeys=env")),
        None,
    );

    // Client certificates.
    let cert_members = &[
        "clientCertificateId",
        "description",
        "pemEncodedCertificate",
        "createdDate",
        "expirationDate",
        "tags",
    ];
    let cert = w.op(
        "GenerateClientCertificate",
        ("POST", "/clientcertificates"),
        Some(json!({ "description": "to backends", "tags": { "c": "1" } })),
        cert_members,
    );
    let cp = format!("/clientcertificates/{}", text(&cert["clientCertificateId"]));
    w.op("GetClientCertificate", ("GET", &cp), None, cert_members);
    w.list("GetClientCertificates", "/clientcertificates", cert_members);
    w.op(
        "UpdateClientCertificate",
        ("PATCH", &cp),
        replace("/description", "renamed"),
        cert_members,
    );

    // Documentation.
    let part_members = &["id", "location", "properties"];
    let part = w.op(
        "CreateDocumentationPart",
        ("POST", &format!("{a}/documentation/parts")),
        Some(
            json!({ "location": { "type": "METHOD", "path": "/pet", "method": "POST" },
            "properties": "{\"description\":\"adds a pet\"}" }),
        ),
        part_members,
    );
    let dpp = format!("{a}/documentation/parts/{}", text(&part["id"]));
    w.op("GetDocumentationPart", ("GET", &dpp), None, part_members);
    w.list(
        "GetDocumentationParts",
        &format!("{a}/documentation/parts"),
        part_members,
    );
    w.op(
        "UpdateDocumentationPart",
        ("PATCH", &dpp),
        replace("/properties", "{\"summary\":\"s\"}"),
        part_members,
    );
    let version_members = &["version", "createdDate", "description"];
    w.op(
        "CreateDocumentationVersion",
        ("POST", &format!("{a}/documentation/versions")),
        Some(json!({ "documentationVersion": "1.0", "description": "first" })),
        version_members,
    );
    let dvp = format!("{a}/documentation/versions/1.0");
    w.op(
        "GetDocumentationVersion",
        ("GET", &dvp),
        None,
        version_members,
    );
    w.list(
        "GetDocumentationVersions",
        &format!("{a}/documentation/versions"),
        version_members,
    );
    w.op(
        "UpdateDocumentationVersion",
        ("PATCH", &dvp),
        replace("/description", "one"),
        version_members,
    );

    // Every member a request can set is answered: a resource policy, a method with scopes
    // and an HTTP integration with every member it takes, a stage with everything.
    let policy = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow",
        "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*" }] })
    .to_string();
    let with_policy = w.op(
        "UpdateRestApi",
        ("PATCH", &a),
        replace("/policy", &policy),
        &[REST_API, &["policy"]].concat(),
    );
    assert_eq!(with_policy["policy"], policy.as_str());
    let get = format!("{r}/methods/GET");
    w.op(
        "PutMethod",
        ("PUT", &get),
        Some(
            json!({ "authorizationType": "COGNITO_USER_POOLS", "authorizerId": jwt["id"],
            "authorizationScopes": ["pets/read"], "apiKeyRequired": true,
            "requestParameters": { "method.request.querystring.q": false } }),
        ),
        &[
            "httpMethod",
            "authorizationType",
            "authorizerId",
            "authorizationScopes",
            "apiKeyRequired",
            "requestParameters",
        ],
    );
    let full_integration = &[
        "type",
        "httpMethod",
        "uri",
        "connectionType",
        "requestParameters",
        "requestTemplates",
        "passthroughBehavior",
        "contentHandling",
        "timeoutInMillis",
        "cacheNamespace",
        "cacheKeyParameters",
        "tlsConfig",
    ];
    w.op(
        "PutIntegration",
        ("PUT", &format!("{get}/integration")),
        Some(json!({ "type": "HTTP", "integrationHttpMethod": "GET",
            "uri": "https://127.0.0.1:9/pets", "connectionType": "INTERNET",
            "requestParameters": { "integration.request.querystring.q": "method.request.querystring.q" },
            "requestTemplates": { "application/json": "{}" },
            "passthroughBehavior": "WHEN_NO_MATCH", "contentHandling": "CONVERT_TO_TEXT",
            "cacheNamespace": "ns", "cacheKeyParameters": ["method.request.querystring.q"],
            "timeoutInMillis": 5000, "tlsConfig": { "insecureSkipVerification": true } })),
        full_integration,
    );
    w.op(
        "PutIntegrationResponse",
        ("PUT", &format!("{get}/integration/responses/200")),
        Some(
            json!({ "selectionPattern": "", "contentHandling": "CONVERT_TO_TEXT",
            "responseTemplates": { "application/json": "$input.body" } }),
        ),
        &[
            "statusCode",
            "selectionPattern",
            "contentHandling",
            "responseTemplates",
        ],
    );
    let full_stage = &[
        "deploymentId",
        "stageName",
        "description",
        "cacheClusterEnabled",
        "cacheClusterSize",
        "cacheClusterStatus",
        "methodSettings",
        "variables",
        "accessLogSettings",
        "canarySettings",
        "tracingEnabled",
        "tags",
        "createdDate",
        "lastUpdatedDate",
    ];
    let full = w.op(
        "CreateStage",
        ("POST", &format!("{a}/stages")),
        Some(
            json!({ "stageName": "full", "deploymentId": dep_id, "description": "f",
            "cacheClusterEnabled": true, "cacheClusterSize": "0.5", "variables": { "v": "1" },
            "tracingEnabled": true, "tags": { "f": "1" },
            "canarySettings": { "percentTraffic": 10.0, "deploymentId": dep_id,
                "stageVariableOverrides": { "v": "2" }, "useStageCache": false } }),
        ),
        &full_stage
            .iter()
            .copied()
            .filter(|m| *m != "accessLogSettings")
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        full["canarySettings"]["stageVariableOverrides"],
        json!({ "v": "2" })
    );
    let fsp = format!("{a}/stages/full");
    w.op(
        "UpdateStage",
        ("PATCH", &fsp),
        patch(json!([
            { "op": "replace", "path": "/accessLogSettings/destinationArn",
              "value": "arn:aws:logs:us-east-1:123456789012:log-group:shapes" },
            { "op": "replace", "path": "/accessLogSettings/format", "value": "$context.requestId" },
            { "op": "replace", "path": "/*/*/metrics/enabled", "value": "true" }
        ])),
        full_stage,
    );
    w.op("GetStage", ("GET", &fsp), None, full_stage);
    w.empty("DeleteStage", ("DELETE", &fsp), None);
    w.empty("DeleteMethod", ("DELETE", &get), None);

    // Custom domain names and base path mappings.
    let (cert_pem, key_pem) = certificate(&[DOMAIN]);
    w.op(
        "CreateDomainName",
        ("POST", "/domainnames"),
        Some(
            json!({ "domainName": DOMAIN, "regionalCertificateName": "c1",
            "certificateBody": cert_pem, "certificatePrivateKey": key_pem,
            "endpointConfiguration": { "types": ["REGIONAL"] },
            "securityPolicy": "TLS_1_2", "tags": { "d": "1" },
            "mutualTlsAuthentication": { "truststorePem": cert_pem, "truststoreVersion": "1" } }),
        ),
        DOMAIN_NAME,
    );
    let dn = format!("/domainnames/{DOMAIN}");
    w.op("GetDomainName", ("GET", &dn), None, DOMAIN_NAME);
    // An EDGE domain's certificate and address are answered under the EDGE names.
    let (edge_cert, edge_key) = certificate(&[EDGE_DOMAIN]);
    let edge = w.op(
        "CreateDomainName",
        ("POST", "/domainnames"),
        Some(json!({ "domainName": EDGE_DOMAIN, "certificateName": "e1",
            "certificateBody": edge_cert, "certificatePrivateKey": edge_key })),
        &[
            "domainName",
            "domainNameArn",
            "certificateName",
            "certificateUploadDate",
            "distributionDomainName",
            "endpointConfiguration",
            "domainNameStatus",
            "securityPolicy",
        ],
    );
    // `ipAddressType` is answered on domain names since compat3 (the endpoint type's default).
    assert_eq!(
        edge["endpointConfiguration"],
        json!({ "types": ["EDGE"], "ipAddressType": "ipv4" })
    );
    w.list(
        "GetDomainNames",
        "/domainnames",
        &[
            "domainName",
            "certificateUploadDate",
            "endpointConfiguration",
        ],
    );
    w.op(
        "UpdateDomainName",
        ("PATCH", &dn),
        replace("/regionalCertificateName", "c2"),
        DOMAIN_NAME,
    );
    w.op(
        "CreateBasePathMapping",
        ("POST", &format!("{dn}/basepathmappings")),
        Some(json!({ "basePath": "v1", "restApiId": id, "stage": "prod" })),
        MAPPING,
    );
    let bp = format!("{dn}/basepathmappings/v1");
    w.op("GetBasePathMapping", ("GET", &bp), None, MAPPING);
    w.list(
        "GetBasePathMappings",
        &format!("{dn}/basepathmappings"),
        MAPPING,
    );
    w.op(
        "UpdateBasePathMapping",
        ("PATCH", &bp),
        replace("/basePath", "v2"),
        MAPPING,
    );

    // Every delete, the things under an API before the API.
    w.empty(
        "DeleteBasePathMapping",
        ("DELETE", &format!("{dn}/basepathmappings/v2")),
        None,
    );
    w.empty("DeleteDomainName", ("DELETE", &dn), None);
    w.empty(
        "DeleteDomainName",
        ("DELETE", &format!("/domainnames/{EDGE_DOMAIN}")),
        None,
    );
    w.empty("DeleteDocumentationVersion", ("DELETE", &dvp), None);
    w.empty("DeleteDocumentationPart", ("DELETE", &dpp), None);
    w.empty("DeleteClientCertificate", ("DELETE", &cp), None);
    w.empty(
        "DeleteUsagePlanKey",
        ("DELETE", &format!("{pp}/keys/{key_id}")),
        None,
    );
    w.op(
        "UpdateUsagePlan",
        ("PATCH", &pp),
        patch(json!([{ "op": "remove", "path": "/apiStages", "value": format!("{id}:prod") }])),
        PLAN,
    );
    w.empty("DeleteUsagePlan", ("DELETE", &pp), None);
    w.empty("DeleteApiKey", ("DELETE", &kp), None);
    w.empty("DeleteGatewayResponse", ("DELETE", &gr), None);
    w.empty("DeleteIntegrationResponse", ("DELETE", &ir), None);
    w.empty(
        "DeleteIntegration",
        ("DELETE", &format!("{meth}/integration")),
        None,
    );
    w.empty(
        "DeleteMethodResponse",
        ("DELETE", &format!("{meth}/responses/200")),
        None,
    );
    w.empty("DeleteMethod", ("DELETE", &meth), None);
    w.empty("DeleteRequestValidator", ("DELETE", &vp), None);
    w.empty(
        "DeleteAuthorizer",
        ("DELETE", &format!("{a}/authorizers/{}", text(&jwt["id"]))),
        None,
    );
    w.empty("DeleteAuthorizer", ("DELETE", &ap), None);
    w.empty("DeleteModel", ("DELETE", &format!("{a}/models/Pet")), None);
    w.empty("DeleteResource", ("DELETE", &r), None);
    w.empty("DeleteStage", ("DELETE", &sp), None);
    w.empty("DeleteStage", ("DELETE", &format!("{a}/stages/dev")), None);
    w.empty("DeleteDeployment", ("DELETE", &dp), None);
    w.empty("DeleteRestApi", ("DELETE", &a), None);
    w.empty(
        "DeleteRestApi",
        ("DELETE", &format!("/restapis/{imp}")),
        None,
    );

    // Every operation the table says is implemented was called, and nothing else.
    let implemented = implemented();
    let missed: Vec<_> = implemented.difference(&w.called).collect();
    assert!(missed.is_empty(), "not called: {missed:?}");
    assert_eq!(w.called, implemented);
}

/// The operations the coverage table says are implemented.
fn implemented() -> BTreeSet<String> {
    OPERATIONS
        .iter()
        .filter(|e| matches!(e.coverage, Coverage::Implemented))
        .map(|e| e.name.to_string())
        .collect()
}

#[test]
fn boto3_drives_every_implemented_operation() {
    let n = node();
    let (cert, cert_key) = certificate(&[DOMAIN]);
    let input = json!({
        "endpoint": format!("http://{}", n.admin),
        "key": ACCESS_KEY,
        "secret": SECRET_KEY,
        "domain": DOMAIN,
        "cert": cert,
        "cert_key": cert_key,
        "uri": lambda_uri("tokauth"),
    });
    let v = common::python_json(
        "compat_shapes_boto3.py",
        &input,
        &[
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ],
    );

    // Every implemented operation, each answered with the status botocore's model names.
    let codes = response_codes();
    let status = v["status"].as_object().expect("status");
    let called: BTreeSet<String> = status.keys().cloned().collect();
    assert_eq!(called, implemented());
    for (op, s) in status {
        assert_eq!(s.as_u64(), Some(u64::from(codes[op])), "{op}");
    }

    // What boto3 parsed.
    let f = &v["facts"];
    assert_eq!(f["account_role"], "arn:aws:iam::123456789012:role/cw");
    assert_eq!(f["created_date_type"], "datetime", "{f}");
    assert_eq!(f["listed_apis"], json!(["boto3"]), "{f}");
    assert_eq!(f["merged_name"], "merged");
    assert_eq!(f["paths"], json!(["/", "/pets"]));
    assert!(f["template"].as_str().unwrap().contains("$inputRoot.name"));
    assert_eq!(f["authorizer_ttl"], 120);
    assert_eq!(
        f["authorizer_test"],
        json!({ "clientStatus": 200, "principalId": "alice", "effect": "Allow",
            "authorization": { "tier": ["gold"], "count": ["7"], "admin": ["false"] } })
    );
    assert_eq!(f["method_integration"], "MOCK");
    assert_eq!(
        f["test_invoke"],
        json!({ "status": 200, "body": "{\"ok\": true}" })
    );
    assert_eq!(f["stage_rate"], 100.0);
    assert_eq!(
        f["export"],
        json!({ "contentType": "application/octet-stream", "attachment": true, "openapi": "3.0.1" })
    );
    assert_eq!(f["sdk_types"], json!(["javascript", "typescript"]));
    assert_eq!(
        f["sdk"],
        json!({ "contentType": "application/octet-stream", "zip": true })
    );
    assert_eq!(f["imported_keys"], 1);
    assert_eq!(f["usage"], json!([0, 500]));
    assert_eq!(f["tags"], json!({ "t": "1", "team": "x" }));
    assert_eq!(
        f["domain"],
        json!({ "domainName": DOMAIN, "regionalCertificateName": "c1", "domainNameStatus": "AVAILABLE" })
    );
    assert_eq!(f["domain_upload_date_type"], "datetime");
    assert_eq!(f["mapping"]["basePath"], "v2", "{f}");
    assert_eq!(f["mapping"]["stage"], "prod", "{f}");
    assert!(f["mapping"]["restApiId"].is_string(), "{f}");
    assert_eq!(f["apis_left"], json!([]));
}
