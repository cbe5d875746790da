//! Exactly-once admin writes (client sessions): a call the SDK retries with the same
//! `amz-sdk-invocation-id` after its first attempt committed gets the first attempt's answer
//! and creates nothing more. Driven by botocore itself (`node/tests/data/
//! botocore_forced_retry.py`): each call's first attempt reaches the node, botocore is told it
//! failed with a 503 and retries on its own, as it does when a leader change loses an answer.
//! A retried delete whose first attempt applied answers as that attempt did, not 404.

mod common;

use common::{TestNode, ACCESS_KEY, SECRET_KEY};
use serde_json::Value;
use std::process::Command;

#[test]
fn botocore_retries_of_committed_writes_return_the_first_answer_and_create_nothing_more() {
    let node = TestNode::start(&[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/botocore_forced_retry.py"
    );
    let out = Command::new("python3")
        .args([
            script,
            &format!("http://{}", node.admin),
            ACCESS_KEY,
            SECRET_KEY,
        ])
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap_or_else(|e| panic!("python3 with botocore (pip install awscli) is needed: {e}"));
    assert!(
        out.status.success(),
        "botocore script failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("script output is JSON");
    for call in v["calls"].as_array().expect("calls") {
        let name = call["name"].as_str().unwrap_or("?");
        let attempts = call["attempts"].as_array().expect("attempts");
        // botocore really retried, with the same invocation id.
        assert_eq!(attempts.len(), 2, "{name}: {call}");
        assert_eq!(
            attempts[0]["invocation"], attempts[1]["invocation"],
            "{name}"
        );
        assert!(
            attempts[0]["invocation"].is_string(),
            "{name}: no invocation id"
        );
        assert!(
            attempts[1]["request"]
                .as_str()
                .is_some_and(|r| r.contains("attempt=2")),
            "{name}: {attempts:?}"
        );
        let first = &call["first"];
        let final_ = &call["final"];
        if name.starts_with("Delete") {
            // Its retry finds the thing gone: it answers as the first attempt did (botocore
            // returned without raising NotFoundException). DeleteRestApi's command is simply
            // found applied; DeleteMethodResponse reads the method first and finds no
            // response, so the node answers as the applied first attempt did.
            let want = if name == "DeleteRestApi" { 202 } else { 204 };
            assert_eq!(first["status"], want, "{name}: first attempt {first}");
            continue;
        }
        assert_eq!(first["status"], 201, "{name}: first attempt {first}");
        if name == "ImportApiKeys" {
            assert_eq!(final_["ids"], first["body"]["ids"], "{name}");
        } else {
            assert_eq!(final_["id"], first["body"]["id"], "{name}: another object");
            assert!(final_["id"].is_string(), "{name}: {final_}");
        }
    }
    // One of each, not two.
    assert_eq!(v["apis"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["keys"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v["deployments"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["stages"], serde_json::json!(["dev"]), "{v}");
}
