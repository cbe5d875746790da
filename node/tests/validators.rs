//! Request validators and models end to end: configured with the real `aws` CLI, enforced on
//! the data plane (raw HTTP), as AWS answers.

mod common;

use common::{Aws, Response, TestNode};
use serde_json::Value;
use std::time::{Duration, Instant};

fn s(v: &Value) -> String {
    v.as_str().expect("a string").to_string()
}

/// Invokes `path` of stage `dev` until the stage serves it (a deployment reaches the data
/// plane just after it is acknowledged), then answers the response.
fn invoke(
    n: &TestNode,
    api: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let full = format!("/restapis/{api}/dev/_user_request_{path}");
    n.request(method, &full, headers, body.as_bytes())
}

fn wait_until(mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < until, "timed out");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn models_and_validators_through_the_cli_and_on_the_data_plane() {
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let api = s(&aws.ok(&["create-rest-api", "--name", "validated"])["id"]);
    // AWS's default models come with every new API.
    let models = aws.ok(&["get-models", "--rest-api-id", &api]);
    let names: Vec<&str> = models["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Empty", "Error"]);

    let tag = r#"{"type":"string","minLength":1}"#;
    aws.ok(&[
        "create-model",
        "--rest-api-id",
        &api,
        "--name",
        "Tag",
        "--content-type",
        "application/json",
        "--schema",
        tag,
    ]);
    let pet = format!(
        r#"{{"$schema":"http://json-schema.org/draft-04/schema#","type":"object","required":["name"],"properties":{{"name":{{"type":"string"}},"tag":{{"$ref":"https://apigateway.amazonaws.com/restapis/{api}/models/Tag"}}}}}}"#
    );
    let created = aws.ok(&[
        "create-model",
        "--rest-api-id",
        &api,
        "--name",
        "Pet",
        "--content-type",
        "application/json",
        "--schema",
        &pet,
        "--description",
        "a pet",
    ]);
    assert_eq!(created["name"], "Pet");
    assert_eq!(created["description"], "a pet");
    let got = aws.ok(&["get-model", "--rest-api-id", &api, "--model-name", "Pet"]);
    assert_eq!(got["schema"].as_str(), Some(pet.as_str()));
    // A duplicate name, an invalid schema, a reference to something else: refused as AWS.
    aws.fails(
        "ConflictException",
        &[
            "create-model",
            "--rest-api-id",
            &api,
            "--name",
            "Pet",
            "--content-type",
            "application/json",
            "--schema",
            "{}",
        ],
    );
    aws.fails(
        "BadRequestException",
        &[
            "create-model",
            "--rest-api-id",
            &api,
            "--name",
            "Bad",
            "--content-type",
            "application/json",
            "--schema",
            r#"{"type":"nonsense"}"#,
        ],
    );
    aws.fails(
        "BadRequestException",
        &[
            "create-model",
            "--rest-api-id",
            &api,
            "--name",
            "Remote",
            "--content-type",
            "application/json",
            "--schema",
            r#"{"$ref":"http://127.0.0.1:9/x.json"}"#,
        ],
    );
    aws.fails(
        "NotFoundException",
        &["get-model", "--rest-api-id", &api, "--model-name", "Nope"],
    );
    let template = aws.ok(&[
        "get-model-template",
        "--rest-api-id",
        &api,
        "--model-name",
        "Pet",
    ]);
    assert!(
        s(&template["value"]).contains("\"name\" : \"$inputRoot.name\""),
        "{template}"
    );
    // Tag is referred to by Pet: it cannot be deleted.
    aws.fails(
        "ConflictException",
        &["delete-model", "--rest-api-id", &api, "--model-name", "Tag"],
    );

    let v = aws.ok(&[
        "create-request-validator",
        "--rest-api-id",
        &api,
        "--name",
        "all",
        "--validate-request-body",
        "--validate-request-parameters",
    ]);
    let vid = s(&v["id"]);
    assert_eq!(v["validateRequestBody"], true);
    let listed = aws.ok(&["get-request-validators", "--rest-api-id", &api]);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));

    let resources = aws.ok(&["get-resources", "--rest-api-id", &api]);
    let root = s(&resources["items"][0]["id"]);
    let pets = s(&aws.ok(&[
        "create-resource",
        "--rest-api-id",
        &api,
        "--parent-id",
        &root,
        "--path-part",
        "pets",
    ])["id"]);
    // A validator or model the API does not have is refused.
    aws.fails(
        "BadRequestException",
        &[
            "put-method",
            "--rest-api-id",
            &api,
            "--resource-id",
            &pets,
            "--http-method",
            "POST",
            "--authorization-type",
            "NONE",
            "--request-validator-id",
            "nope12",
        ],
    );
    aws.fails(
        "BadRequestException",
        &[
            "put-method",
            "--rest-api-id",
            &api,
            "--resource-id",
            &pets,
            "--http-method",
            "POST",
            "--authorization-type",
            "NONE",
            "--request-models",
            "application/json=Ghost",
        ],
    );
    let m = aws.ok(&[
        "put-method", "--rest-api-id", &api, "--resource-id", &pets, "--http-method", "POST",
        "--authorization-type", "NONE", "--request-validator-id", &vid,
        "--request-parameters", "method.request.querystring.page=true,method.request.header.x-token=true,method.request.querystring.opt=false",
        "--request-models", "application/json=Pet",
    ]);
    assert_eq!(m["requestValidatorId"].as_str(), Some(vid.as_str()));
    aws.ok(&[
        "put-integration",
        "--rest-api-id",
        &api,
        "--resource-id",
        &pets,
        "--http-method",
        "POST",
        "--type",
        "MOCK",
        "--request-templates",
        r#"{"application/json":"{\"statusCode\": 200}"}"#,
    ]);
    aws.ok(&[
        "put-integration-response",
        "--rest-api-id",
        &api,
        "--resource-id",
        &pets,
        "--http-method",
        "POST",
        "--status-code",
        "200",
        "--response-templates",
        r#"{"application/json":"{\"ok\":true}"}"#,
    ]);
    aws.fails(
        "ConflictException",
        &["delete-model", "--rest-api-id", &api, "--model-name", "Pet"],
    );
    aws.fails(
        "ConflictException",
        &[
            "delete-request-validator",
            "--rest-api-id",
            &api,
            "--request-validator-id",
            &vid,
        ],
    );
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "dev",
    ]);

    let good = r#"{"name":"rex","tag":"dog"}"#;
    let ok_headers = [("x-token", "t"), ("Content-Type", "application/json")];
    wait_until(|| invoke(&n, &api, "POST", "/pets?page=1", &ok_headers, good).status == 200);
    let r = invoke(
        &n,
        &api,
        "POST",
        "/pets",
        &[("Content-Type", "application/json")],
        good,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        "Missing required request parameters: [x-token, page]"
    );
    assert_eq!(r.header("x-amzn-ErrorType"), Some("BadRequestException"));
    for bad in [
        r#"{"tag":"dog"}"#,
        r#"{"name":"rex","tag":""}"#,
        "{not json",
    ] {
        let r = invoke(&n, &api, "POST", "/pets?page=1", &ok_headers, bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert_eq!(r.json()["message"], "Invalid request body");
    }

    // A change reaches the stage only with a deployment (the deployment froze the validator).
    aws.ok(&[
        "update-request-validator",
        "--rest-api-id",
        &api,
        "--request-validator-id",
        &vid,
        "--patch-operations",
        "op=replace,path=/validateRequestBody,value=false",
    ]);
    let r = invoke(&n, &api, "POST", "/pets?page=1", &ok_headers, "{not json");
    assert_eq!(r.status, 400);
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "dev",
    ]);
    wait_until(|| invoke(&n, &api, "POST", "/pets?page=1", &ok_headers, "{not json").status == 200);
    // Parameters are still checked.
    assert_eq!(
        invoke(&n, &api, "POST", "/pets", &ok_headers, good).status,
        400
    );
}
