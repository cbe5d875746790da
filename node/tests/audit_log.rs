//! The audit log of admin writes and the node's JSON log lines, end to end: the real `aws`
//! CLI makes writes (one committed, one refused, one with a wrong secret) and a read against
//! a node started with `--log-format json`; the audit file in the data folder holds one line
//! per write — who, which operation on which object, the result, the Raft log index — and
//! none for the read; every line the node logged is a JSON object.

mod common;

use common::{Aws, TestNode};
use serde_json::Value;

#[test]
fn writes_are_audited_and_logs_are_json() {
    let node = TestNode::start_with_env(
        tempfile::tempdir().expect("tempdir"),
        &["--log-format", "json", "--workers", "1"],
        &[("TOLLGATE_LOG", "info,openraft=error")],
    );
    let aws = Aws::for_node(&node);
    let api = aws.ok(&["create-rest-api", "--name", "audited"]);
    let id = api["id"].as_str().unwrap().to_string();
    aws.ok(&["get-rest-apis"]);
    aws.fails(
        "BadRequestException",
        &[
            "update-rest-api",
            "--rest-api-id",
            &id,
            "--patch-operations",
            "op=replace,path=/nope,value=x",
        ],
    );
    aws.fails_with(
        "wrong-secret",
        "InvalidSignatureException",
        &["delete-rest-api", "--rest-api-id", &id],
    );
    let text = std::fs::read_to_string(node.dir.path().join("audit.log")).expect("audit.log");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    let (created, refused, forged) = (&lines[0], &lines[1], &lines[2]);
    assert_eq!(created["operation"], "CreateRestApi");
    assert_eq!(created["method"], "POST");
    assert_eq!(created["path"], "/restapis");
    assert_eq!(created["accessKey"], common::ACCESS_KEY);
    assert_eq!(created["sourceIp"], "127.0.0.1");
    assert_eq!(created["status"], 201);
    assert_eq!(created["result"], "ok");
    assert!(
        created["logIndex"].as_u64().is_some_and(|i| i > 0),
        "{created}"
    );
    assert!(created["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(refused["operation"], "UpdateRestApi");
    assert_eq!(refused["path"], format!("/restapis/{id}"));
    assert_eq!(refused["result"], "refused");
    assert_eq!(refused["errorType"], "BadRequestException");
    assert_eq!(refused["logIndex"], Value::Null);
    assert_eq!(forged["method"], "DELETE");
    assert_eq!(forged["accessKey"], Value::Null);
    assert_eq!(forged["status"], 403);
    assert_eq!(forged["errorType"], "InvalidSignatureException");

    // `--log-format json`: every line on stderr is one JSON object.
    let log = node.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "admin call refused" && l["level"] == "INFO"),
        "{log}"
    );
}
