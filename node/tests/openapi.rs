//! OpenAPI / Swagger import, put (merge and overwrite) and export end to end, through the real
//! binary and the stock `aws` CLI: the imported API deployed and served on the data plane
//! (MOCK and HTTP_PROXY routes, an API key, an imported gateway response), warnings and
//! `failonwarnings`, a malformed document's error, and export then import giving the same
//! resources.

mod common;

use common::{Aws, EchoBackend, TestNode};
use serde_json::Value;
use std::collections::BTreeSet;

fn data(name: &str) -> String {
    format!(
        "fileb://{}/tests/data/openapi/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn paths(aws: &Aws, api: &str) -> BTreeSet<String> {
    aws.ok(&["get-resources", "--rest-api-id", api, "--limit", "500"])["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["path"].as_str().unwrap_or("").to_string())
        .collect()
}

fn invoke(
    n: &TestNode,
    api: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> common::Response {
    n.request(
        method,
        &format!("/restapis/{api}/prod/_user_request_{path}"),
        headers,
        body,
    )
}

#[test]
fn import_serve_merge_overwrite_export_with_the_aws_cli() {
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let backend = EchoBackend::start();
    let dir = tempfile::tempdir().unwrap();

    // Import (YAML, OpenAPI 3.0) and deploy with the backend as a stage variable.
    let out = aws.ok(&["import-rest-api", "--body", &data("petstore-tollgate.yaml")]);
    assert_eq!(out["name"], "PetStore (Tollgate)");
    assert!(out.get("warnings").is_none(), "{out}");
    let api = out["id"].as_str().unwrap().to_string();
    assert_eq!(
        paths(&aws, &api),
        ["/", "/pets", "/pets/{petId}", "/store", "/store/{proxy+}"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let variables = format!("backend={}", backend.addr);
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "prod",
        "--variables",
        &variables,
    ]);

    // HTTP_PROXY routes reach the backend; MOCK routes answer from their templates.
    let r = invoke(&n, &api, "GET", "/pets?type=dog", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/pets?type=dog");
    let r = invoke(&n, &api, "DELETE", "/store/orders/7", &[], b"");
    assert_eq!(
        (r.status, r.json()["method"].clone()),
        (200, Value::from("DELETE"))
    );
    assert_eq!(r.json()["path"], "/store/orders/7");
    let r = invoke(&n, &api, "GET", "/pets/7", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["id"], "7");
    let r = invoke(&n, &api, "GET", "/pets/0", &[], b"");
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.json()["message"], "no such pet");
    // POST /pets requires an API key: refused with the imported gateway response.
    let r = invoke(
        &n,
        &api,
        "POST",
        "/pets",
        &[("content-type", "application/json")],
        br#"{"type":"dog"}"#,
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.header("x-reason"), Some("bad-key"));
    assert_eq!(r.json()["hint"], "send x-api-key");

    // Export (OpenAPI 3 YAML and Swagger JSON with the extensions), then import the export.
    for (kind, accepts, ext) in [
        ("oas30", "application/yaml", "yaml"),
        ("swagger", "application/json", "json"),
    ] {
        let file = dir.path().join(format!("export.{ext}"));
        let file = file.to_str().unwrap();
        aws.ok(&[
            "get-export",
            "--rest-api-id",
            &api,
            "--stage-name",
            "prod",
            "--export-type",
            kind,
            "--parameters",
            "extensions=apigateway",
            "--accepts",
            accepts,
            file,
        ]);
        let text = std::fs::read_to_string(file).unwrap();
        if ext == "yaml" {
            assert!(
                text.starts_with("openapi: 3.0.1") || text.contains("\nopenapi: 3.0.1"),
                "{text}"
            );
            assert!(text.contains(&format!("{api}.execute-api.us-east-1.amazonaws.com")));
        } else {
            let doc: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(doc["basePath"], "/prod");
            assert_eq!(
                doc["host"],
                format!("{api}.execute-api.us-east-1.amazonaws.com")
            );
        }
        let copy = aws.ok(&["import-rest-api", "--body", &format!("fileb://{file}")]);
        assert!(copy.get("warnings").is_none(), "{copy}");
        let copy = copy["id"].as_str().unwrap().to_string();
        assert_eq!(paths(&aws, &copy), paths(&aws, &api));
        let m = aws.ok(&[
            "get-method",
            "--rest-api-id",
            &copy,
            "--resource-id",
            &resource_id(&aws, &copy, "/pets"),
            "--http-method",
            "POST",
        ]);
        assert_eq!(m["apiKeyRequired"], true);
        assert_eq!(m["methodIntegration"]["type"], "MOCK");
    }

    // Merge: /toys added, the rest kept.
    let toys = dir.path().join("toys.json");
    std::fs::write(
        &toys,
        serde_json::json!({
            "swagger": "2.0", "info": {"title": "PetStore (Tollgate)", "version": "1.1"},
            "paths": {"/toys": {"get": {"responses": {"200": {"description": "ok"}},
                "x-amazon-apigateway-integration": {"type": "mock",
                    "requestTemplates": {"application/json": "{\"statusCode\": 200}"},
                    "responses": {"default": {"statusCode": "200",
                        "responseTemplates": {"application/json": "{\"toys\": 3}"}}}}}}}
        })
        .to_string(),
    )
    .unwrap();
    let toys = format!("fileb://{}", toys.to_str().unwrap());
    aws.ok(&[
        "put-rest-api",
        "--rest-api-id",
        &api,
        "--mode",
        "merge",
        "--body",
        &toys,
    ]);
    assert!(paths(&aws, &api).contains("/toys") && paths(&aws, &api).contains("/pets/{petId}"));
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "prod",
    ]);
    assert_eq!(invoke(&n, &api, "GET", "/toys", &[], b"").json()["toys"], 3);
    assert_eq!(invoke(&n, &api, "GET", "/pets/7", &[], b"").status, 200);

    // Overwrite: only /toys is left; the stage and its deployments are kept.
    let pets_before = resource_id(&aws, &api, "/toys");
    aws.ok(&[
        "put-rest-api",
        "--rest-api-id",
        &api,
        "--mode",
        "overwrite",
        "--body",
        &toys,
    ]);
    assert_eq!(
        paths(&aws, &api),
        ["/", "/toys"].iter().map(|s| s.to_string()).collect()
    );
    assert_eq!(
        resource_id(&aws, &api, "/toys"),
        pets_before,
        "ids of kept paths are kept"
    );
    aws.ok(&["get-stage", "--rest-api-id", &api, "--stage-name", "prod"]);
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "prod",
    ]);
    assert_eq!(
        invoke(&n, &api, "GET", "/pets/7", &[], b"").status,
        403,
        "gone from the stage"
    );
    assert_eq!(invoke(&n, &api, "GET", "/toys", &[], b"").status, 200);

    // LocalStack's pets.json has HTTP (non-proxy) integrations: served, so no warnings.
    let out = aws.ok(&["import-rest-api", "--body", &data("pets.json")]);
    assert!(
        out.get("warnings")
            .is_none_or(|w| w == &serde_json::json!([])),
        "{out}"
    );
    // Warnings: AWS integrations of other services than Lambda, which this gateway refuses;
    // the import succeeds
    // with warnings, or fails with --fail-on-warnings.
    let integration = serde_json::json!({"type": "aws", "httpMethod": "POST",
        "uri": "arn:aws:apigateway:us-east-1:sqs:path/1/q",
        "responses": {"default": {"statusCode": "200"}}});
    let doc = serde_json::json!({
        "openapi": "3.0.1",
        "info": {"title": "aws", "version": "1"},
        "paths": {
            "/pets": {"get": {"x-amazon-apigateway-integration": integration}},
            "/pets/{petId}": {"get": {"x-amazon-apigateway-integration": integration}},
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let aws_doc = dir.path().join("aws.json");
    std::fs::write(&aws_doc, doc.to_string()).unwrap();
    let aws_doc = format!("fileb://{}", aws_doc.display());
    let out = aws.ok(&["import-rest-api", "--body", &aws_doc]);
    let warnings = out["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 2, "{out}");
    assert!(warnings[0]
        .as_str()
        .unwrap()
        .contains("AWS integrations with the sqs service are not supported"));
    aws.fails(
        "BadRequestException",
        &["import-rest-api", "--fail-on-warnings", "--body", &aws_doc],
    );
    // Parameters: ignore=documentation silences the documentation warning.
    let out = aws.ok(&[
        "import-rest-api",
        "--parameters",
        "ignore=documentation",
        "--body",
        &data("petstore-swagger.json"),
    ]);
    assert!(
        !out["warnings"].to_string().contains("documentation"),
        "{out}"
    );
    let out = aws.ok(&[
        "import-rest-api",
        "--parameters",
        "endpointConfigurationTypes=REGIONAL",
        "--body",
        &data("openapi-mock.json"),
    ]);
    assert_eq!(out["endpointConfiguration"]["types"][0], "REGIONAL");

    // A malformed document: refused in AWS's words (the line and column go to the node's log).
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"swagger\": \"2.0\",\n \"paths\": [}").unwrap();
    let out = aws.run(
        common::SECRET_KEY,
        &[
            "import-rest-api",
            "--body",
            &format!("fileb://{}", bad.to_str().unwrap()),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("BadRequestException") && err.contains(": Invalid OpenAPI input."),
        "{err}"
    );
    // An SDK type AWS has and this gateway does not generate: refused, saying so (the
    // generated ones: node/tests/sdk.rs).
    let out = aws.run(
        common::SECRET_KEY,
        &[
            "get-sdk",
            "--rest-api-id",
            &api,
            "--stage-name",
            "prod",
            "--sdk-type",
            "java",
            dir.path().join("sdk.zip").to_str().unwrap(),
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not supported"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn resource_id(aws: &Aws, api: &str, path: &str) -> String {
    aws.ok(&["get-resources", "--rest-api-id", api, "--limit", "500"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == path)
        .unwrap_or_else(|| panic!("{path}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A generated document: `paths` paths with `verbs` MOCK methods each.
fn generated(paths: usize, verbs: &[&str]) -> Value {
    let mut p = serde_json::Map::new();
    for i in 0..paths {
        let mut item = serde_json::Map::new();
        for v in verbs {
            item.insert(
                v.to_string(),
                serde_json::json!({
                    "operationId": format!("{v}Item{i}"),
                    "parameters": [{"name": "q", "in": "query", "type": "string"}],
                    "responses": {"200": {"description": "ok"}},
                    "x-amazon-apigateway-integration": {"type": "mock",
                        "requestTemplates": {"application/json": "{\"statusCode\": 200}"},
                        "responses": {"default": {"statusCode": "200",
                            "responseTemplates": {"application/json": format!("{{\"item\": {i}}}")}}}}
                }),
            );
        }
        p.insert(format!("/items{}/item{i}", i % 10), Value::Object(item));
    }
    serde_json::json!({"swagger": "2.0", "info": {"title": "generated", "version": "1"}, "paths": p})
}

/// Import time of generated documents (docs/BENCHMARKS.md, "OpenAPI import"):
/// `cargo test -p tollgate-node --test openapi -- --ignored --nocapture`.
#[test]
#[ignore]
fn import_time_of_generated_documents() {
    let n = TestNode::start(&["--workers", "1"]);
    // 1,000 paths: over the 300-resource quota, refused before anything is proposed.
    let doc = generated(1000, &["get"]);
    let bytes = doc.to_string().len();
    let t = std::time::Instant::now();
    let (status, body) = n.admin("POST", "/restapis?mode=import", Some(doc));
    let refused = t.elapsed();
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("at most 300"), "{body}");
    println!("1,000 paths ({bytes} bytes): refused in {refused:?}");
    // 1,000 operations: 250 paths (260 resources) with 4 MOCK methods each.
    let doc = generated(250, &["get", "post", "put", "delete"]);
    let bytes = doc.to_string().len();
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let (status, body) = n.admin("POST", "/restapis?mode=import", Some(doc.clone()));
        times.push(t.elapsed());
        assert_eq!(status, 201, "{body}");
    }
    times.sort();
    println!(
        "250 paths x 4 methods = 1,000 operations ({bytes} bytes): median {:?}, min {:?}, max {:?}",
        times[2], times[0], times[4]
    );
}

/// `swagger-cli` (npm `@apidevtools/swagger-cli`, installed by `.ci/run` into
/// `target/npm`), or one on the `PATH`.
fn swagger_cli() -> std::path::PathBuf {
    let local = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/npm/node_modules/.bin/swagger-cli");
    if local.exists() {
        return local;
    }
    let on_path = std::process::Command::new("swagger-cli")
        .arg("--version")
        .output();
    assert!(
        on_path.is_ok_and(|o| o.status.success()),
        "swagger-cli is not runnable: install it with `npm install --prefix target/npm @apidevtools/swagger-cli@4.0.4` (as .ci/run does)"
    );
    "swagger-cli".into()
}

/// Every fixture imported, deployed and exported in both flavours (with every extension)
/// passes an independent validator.
#[test]
fn exports_of_every_fixture_pass_swagger_cli_validate() {
    let cli = swagger_cli();
    let n = TestNode::start(&["--workers", "1"]);
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "petstore-tollgate.yaml",
        "petstore-swagger.json",
        "pets.json",
        "openapi-mock.json",
        "authorizers.yaml",
    ] {
        let path = format!("{}/tests/data/openapi/{name}", env!("CARGO_MANIFEST_DIR"));
        let doc = tollgate_node::openapi::document::parse(&std::fs::read(path).unwrap()).unwrap();
        let api = n.admin_ok("POST", "/restapis?mode=import", Some(doc))["id"]
            .as_str()
            .unwrap()
            .to_string();
        // Methods whose integration the gateway refused (if any) were imported without one,
        // and a deployment needs every method integrated: give them a MOCK, as a user would.
        let resources = n.admin_ok(
            "GET",
            &format!("/restapis/{api}/resources?embed=methods"),
            None,
        );
        for r in resources["item"].as_array().unwrap() {
            for (verb, m) in r["resourceMethods"].as_object().into_iter().flatten() {
                if m.get("methodIntegration").is_none() {
                    let path = format!(
                        "/restapis/{api}/resources/{}/methods/{verb}/integration",
                        r["id"].as_str().unwrap()
                    );
                    n.admin_ok("PUT", &path, Some(serde_json::json!({"type": "MOCK"})));
                }
            }
        }
        n.admin_ok(
            "POST",
            &format!("/restapis/{api}/deployments"),
            Some(serde_json::json!({"stageName": "prod"})),
        );
        for kind in ["swagger", "oas30"] {
            for ext in ["", "apigateway"] {
                let (status, export) = n.admin(
                    "GET",
                    &format!("/restapis/{api}/stages/prod/exports/{kind}?extensions={ext}"),
                    None,
                );
                assert_eq!(status, 200, "{name} {kind}: {export}");
                let file = dir.path().join(format!("{api}-{kind}-{ext}.json"));
                std::fs::write(&file, export.to_string()).unwrap();
                let out = std::process::Command::new(&cli)
                    .arg("validate")
                    .arg(&file)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{name} as {kind} ({ext}): {}{}\n{export:#}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}
