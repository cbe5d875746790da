//! The user's session, end to end: the real `aws` CLI manages a real `tollgate` process, and
//! every change is checked through the data plane — deploy to two stages, change and redeploy
//! one, roll the other back, clone, delete, and the errors a user sees.

mod common;

use common::{Aws, EchoBackend, TestNode, SECRET_KEY};
use serde_json::{json, Value};

fn id_of(resources: &Value, path: &str) -> String {
    resources["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["path"] == path)
        .and_then(|r| r["id"].as_str())
        .unwrap_or_else(|| panic!("no resource {path} in {resources}"))
        .to_string()
}

#[test]
fn aws_cli_session_through_the_data_plane() {
    let backend = EchoBackend::start();
    let node = TestNode::start(&["--workers", "2"]);
    let aws = Aws::for_node(&node);
    let pets_body = |stage: &str, api: &str| {
        node.get(
            "localhost",
            &format!("/restapis/{api}/{stage}/_user_request_/pets"),
        )
    };

    let api = aws.ok(&["create-rest-api", "--name", "pets"]);
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    let pets = aws.ok(&[
        "create-resource",
        "--rest-api-id",
        &id,
        "--parent-id",
        &root,
        "--path-part",
        "pets",
    ])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pet = aws.ok(&[
        "create-resource",
        "--rest-api-id",
        &id,
        "--parent-id",
        &pets,
        "--path-part",
        "{petId}",
    ])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let greedy = aws.ok(&[
        "create-resource",
        "--rest-api-id",
        &id,
        "--parent-id",
        &root,
        "--path-part",
        "{proxy+}",
    ])["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (res, verb) in [(&pets, "GET"), (&pet, "GET"), (&greedy, "ANY")] {
        aws.ok(&[
            "put-method",
            "--rest-api-id",
            &id,
            "--resource-id",
            res,
            "--http-method",
            verb,
            "--authorization-type",
            "NONE",
        ]);
    }
    aws.ok(&[
        "put-integration",
        "--rest-api-id",
        &id,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
        "--type",
        "MOCK",
        "--request-templates",
        r#"{"application/json": "{\"statusCode\": 200}"}"#,
    ]);
    aws.ok(&[
        "put-method-response",
        "--rest-api-id",
        &id,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
        "--status-code",
        "200",
    ]);
    aws.ok(&[
        "put-integration-response",
        "--rest-api-id",
        &id,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
        "--status-code",
        "200",
        "--response-templates",
        r#"{"application/json": "{\"version\": 1}"}"#,
    ]);
    let pet_uri = format!("http://{}/v1/pets/{{petId}}", backend.addr);
    aws.ok(&[
        "put-integration",
        "--rest-api-id",
        &id,
        "--resource-id",
        &pet,
        "--http-method",
        "GET",
        "--type",
        "HTTP_PROXY",
        "--integration-http-method",
        "GET",
        "--uri",
        &pet_uri,
    ]);
    aws.ok(&[
        "put-integration",
        "--rest-api-id",
        &id,
        "--resource-id",
        &greedy,
        "--http-method",
        "ANY",
        "--type",
        "HTTP_PROXY",
        "--integration-http-method",
        "ANY",
        "--uri",
        "http://${stageVariables.backend}/{proxy}",
        "--request-parameters",
        "integration.request.path.proxy=method.request.path.proxy",
    ]);
    let backend_var = format!("backend={}", backend.addr);
    let first = aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &id,
        "--stage-name",
        "dev",
        "--variables",
        &backend_var,
    ])["id"]
        .as_str()
        .unwrap()
        .to_string();
    aws.ok(&[
        "create-stage",
        "--rest-api-id",
        &id,
        "--stage-name",
        "prod",
        "--deployment-id",
        &first,
        "--variables",
        &backend_var,
    ]);

    // Both stages serve the first deployment: MOCK, a path parameter, the greedy ANY.
    for stage in ["dev", "prod"] {
        assert_eq!(pets_body(stage, &id).json(), json!({ "version": 1 }));
        let r = node.get(
            &format!("{id}.execute-api.localhost"),
            &format!("/{stage}/pets/7"),
        );
        assert_eq!(r.json()["path"], "/v1/pets/7");
        let r = node.request(
            "DELETE",
            &format!("/restapis/{id}/{stage}/_user_request_/a/b"),
            &[],
            b"",
        );
        assert_eq!(
            (r.json()["method"].clone(), r.json()["path"].clone()),
            (json!("DELETE"), json!("/a/b"))
        );
    }

    // Change the API: nothing served changes until a deployment; then only dev changes.
    aws.ok(&[
        "update-integration-response", "--rest-api-id", &id, "--resource-id", &pets,
        "--http-method", "GET", "--status-code", "200", "--patch-operations",
        r#"[{"op":"replace","path":"/responseTemplates/application~1json","value":"{\"version\": 2}"}]"#,
    ]);
    assert_eq!(pets_body("dev", &id).json(), json!({ "version": 1 }));
    let second = aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &id,
        "--stage-name",
        "dev",
    ])["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(pets_body("dev", &id).json(), json!({ "version": 2 }));
    assert_eq!(pets_body("prod", &id).json(), json!({ "version": 1 }));

    // Promote to prod, then roll prod back to the first deployment.
    let patch = format!("op=replace,path=/deploymentId,value={second}");
    aws.ok(&[
        "update-stage",
        "--rest-api-id",
        &id,
        "--stage-name",
        "prod",
        "--patch-operations",
        &patch,
    ]);
    assert_eq!(pets_body("prod", &id).json(), json!({ "version": 2 }));
    let patch = format!("op=replace,path=/deploymentId,value={first}");
    let stage = aws.ok(&[
        "update-stage",
        "--rest-api-id",
        &id,
        "--stage-name",
        "prod",
        "--patch-operations",
        &patch,
    ]);
    assert_eq!(stage["deploymentId"], first.as_str());
    assert_eq!(pets_body("prod", &id).json(), json!({ "version": 1 }));
    let deployments = aws.ok(&["get-deployments", "--rest-api-id", &id]);
    assert_eq!(deployments["items"].as_array().map(Vec::len), Some(2));

    // Clone: an independent copy with new ids, deployable on its own.
    let clone = aws.ok(&["create-rest-api", "--name", "pets-v2", "--clone-from", &id]);
    let cid = clone["id"].as_str().unwrap().to_string();
    assert_ne!(cid, id);
    let cres = aws.ok(&["get-resources", "--rest-api-id", &cid]);
    assert_ne!(id_of(&cres, "/pets"), pets);
    assert_eq!(id_of(&cres, "/pets/{petId}").len(), 10);
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &cid,
        "--stage-name",
        "v2",
        "--variables",
        &backend_var,
    ]);
    assert_eq!(pets_body("v2", &cid).json(), json!({ "version": 2 }));

    // Deletions reach the data plane.
    aws.fails_with(
        SECRET_KEY,
        "BadRequestException",
        &[
            "delete-deployment",
            "--rest-api-id",
            &id,
            "--deployment-id",
            &first,
        ],
    );
    aws.ok(&["delete-stage", "--rest-api-id", &id, "--stage-name", "dev"]);
    let r = pets_body("dev", &id);
    assert_eq!(
        (r.status, r.json()),
        (403, json!({ "message": "Missing Authentication Token" }))
    );
    aws.ok(&[
        "delete-deployment",
        "--rest-api-id",
        &id,
        "--deployment-id",
        &second,
    ]);
    aws.ok(&["delete-rest-api", "--rest-api-id", &cid]);
    assert_eq!(pets_body("v2", &cid).status, 404);
    assert_eq!(pets_body("prod", &id).json(), json!({ "version": 1 }));

    // The errors a user sees.
    aws.fails_with(
        SECRET_KEY,
        "NotFoundException",
        &["get-rest-api", "--rest-api-id", "nosuchapi0"],
    );
    aws.fails_with(
        SECRET_KEY,
        "BadRequestException",
        &[
            "update-stage",
            "--rest-api-id",
            &id,
            "--stage-name",
            "prod",
            "--patch-operations",
            "op=replace,path=/nonsense,value=1",
        ],
    );
    aws.fails_with(
        "wrong-secret",
        "InvalidSignatureException",
        &["get-rest-apis"],
    );
}

#[test]
fn epoll_fallback_serves_and_says_so() {
    // Forcing monoio's legacy driver stands in for a kernel without io_uring.
    let node = TestNode::start_with_env(
        tempfile::tempdir().unwrap(),
        &["--workers", "1"],
        &[("MONOIO_FORCE_LEGACY_DRIVER", "1")],
    );
    assert!(node.banner.contains("epoll"), "{}", node.banner);
    let r = node.get("localhost", "/restapis/none/dev/_user_request_/");
    assert_eq!(r.status, 404);
}
