//! The AWS SDK for JavaScript v3 end to end: `@aws-sdk/client-api-gateway` (installed by
//! `.ci/run` into `target/npm`) builds a keyed MOCK API on a live node, tags it, reads the
//! account, test-invokes the method and parses a NotFoundException
//! (`tests/data/js_sdk/control_plane.mjs` asserts every parsed answer); the test then checks
//! what the script saw against the node's own state, and the deployed method on the data
//! plane. It also drives the rest of issue 13's operations (UntagResource, UpdateAccount,
//! documentation parts and versions, client certificates, stage access logs, tracing and a
//! canary, a refused promotion, and a "not supported" VPC link answer).

mod common;

use common::{TestNode, ACCESS_KEY, SECRET_KEY};
use serde_json::json;
use std::path::Path;
use std::process::Command;

const SDK: &str = "@aws-sdk/client-api-gateway";

#[test]
fn the_js_sdk_v3_drives_the_admin_api_and_the_deployed_mock_answers() {
    let npm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/npm");
    assert!(
        npm.join("node_modules").join(SDK).is_dir(),
        "{SDK} is not installed: run `npm install --prefix target/npm {SDK}@3.1142.0` (as .ci/run does)"
    );
    // An account limit, so that GetAccount has throttle settings to parse.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tollgate.toml");
    std::fs::write(
        &cfg,
        "account_rate_limit = 1000.0\naccount_burst_limit = 500\n",
    )
    .unwrap();
    let n = TestNode::start(&["--workers", "1", "--config", cfg.to_str().unwrap()]);
    let run = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/js_sdk/control_plane.mjs"))
        .env("NPM_DIR", &npm)
        .env("ENDPOINT", format!("http://{}", n.admin))
        .env("DATA", n.data.to_string())
        .env("KEY", ACCESS_KEY)
        .env("SECRET", SECRET_KEY)
        .output()
        .expect("node (Node.js) must be installed");
    assert!(
        run.status.success(),
        "node:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&run.stdout).expect("the script's JSON");
    let api = r["apiId"].as_str().expect("an API id");

    // What the SDK created is what the node holds.
    let stage = n.admin_ok("GET", &format!("/restapis/{api}/stages/dev"), None);
    assert_eq!(stage["deploymentId"], r["deploymentId"]);
    let keys = n.admin_ok(
        "GET",
        &format!("/usageplans/{}/keys", r["planId"].as_str().unwrap()),
        None,
    );
    assert_eq!(keys["item"][0]["id"], r["keyId"]);
    // The account the SDK parsed is the node's, field for field.
    let account = n.admin_ok("GET", "/account", None);
    // (JavaScript prints 1000.0 as 1000: compared as numbers.)
    assert_eq!(r["account"]["rateLimit"].as_f64(), Some(1000.0));
    assert_eq!(
        r["account"]["rateLimit"].as_f64(),
        account["throttleSettings"]["rateLimit"].as_f64()
    );
    assert_eq!(r["account"]["burstLimit"], 500);
    assert_eq!(
        r["account"],
        json!({
            "rateLimit": r["account"]["rateLimit"],
            "burstLimit": account["throttleSettings"]["burstLimit"],
            "features": account["features"],
            "apiKeyVersion": account["apiKeyVersion"],
        })
    );
    // The SDK's parsed error message is the node's own, word for word.
    let (status, missing) = n.admin("GET", "/restapis/missing000", None);
    assert_eq!(status, 404);
    assert_eq!(
        r["error"],
        json!({ "name": "NotFoundException", "message": missing["message"] })
    );
    // What the issue-13 section did is what the node holds.
    assert_eq!(
        account["cloudwatchRoleArn"],
        "arn:aws:iam::123456789012:role/apigw-logs"
    );
    assert_eq!(r["issue13"]["roleArn"], account["cloudwatchRoleArn"]);
    assert_eq!(stage["tracingEnabled"], true);
    assert_eq!(stage["accessLogSettings"]["format"], "$context.requestId");
    assert!(stage.get("canarySettings").is_none(), "{stage}");
    let canary = n.admin_ok(
        "GET",
        &format!(
            "/restapis/{api}/deployments/{}",
            r["issue13"]["canaryDeployment"].as_str().unwrap()
        ),
        None,
    );
    assert_eq!(canary["id"], r["issue13"]["canaryDeployment"]);
    let parts = n.admin_ok("GET", &format!("/restapis/{api}/documentation/parts"), None);
    assert!(parts.get("item").is_none_or(|i| i == &json!([])), "{parts}");
    assert_eq!(
        r["dataPlane"],
        json!({ "refused": 403, "served": 200, "body": { "pets": ["rex"], "stage": "dev" } })
    );
}
