//! Closed sets of AWS names at the admin API, end to end through the real binary and the
//! stock `aws` CLI: `authorizationType` is read in any case, as AWS reads it, and answered
//! (and stored) as AWS's upper-case name.

mod common;

use common::{Aws, TestNode};
use serde_json::json;

#[test]
fn authorization_type_is_read_in_any_case() {
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let api = aws.ok(&["create-rest-api", "--name", "enums"])["id"]
        .as_str()
        .expect("id")
        .to_string();
    let root = aws.ok(&["get-resources", "--rest-api-id", &api])["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["path"] == "/")
        .expect("root")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let on_get = |cmd: &str, more: &[&str]| {
        let mut args = vec![
            cmd,
            "--rest-api-id",
            &api,
            "--resource-id",
            &root,
            "--http-method",
            "GET",
        ];
        args.extend_from_slice(more);
        aws.ok(&args)
    };

    let m = on_get("put-method", &["--authorization-type", "none"]);
    assert_eq!(m["authorizationType"], "NONE");
    assert_eq!(on_get("get-method", &[])["authorizationType"], "NONE");

    // UpdateMethod reads it in any case too.
    let m = on_get(
        "update-method",
        &[
            "--patch-operations",
            "op=replace,path=/authorizationType,value=aws_iam",
        ],
    );
    assert_eq!(m["authorizationType"], "AWS_IAM");
    assert_eq!(on_get("get-method", &[])["authorizationType"], "AWS_IAM");

    // A name outside the set stays refused.
    let (status, body) = n.admin(
        "PUT",
        &format!("/restapis/{api}/resources/{root}/methods/POST"),
        Some(json!({ "authorizationType": "basic" })),
    );
    assert_eq!(status, 400, "{body}");
}
