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

/// A usage plan's quota period and an API's key source are closed sets: a name outside them is
/// refused with AWS's wording, and a stored one is answered as AWS spells it.
#[test]
fn quota_period_and_api_key_source_are_closed_sets() {
    let n = TestNode::start(&["--workers", "1"]);
    let (status, body) = n.admin(
        "POST",
        "/usageplans",
        Some(json!({ "name": "p", "quota": { "limit": 10, "period": "YEAR" } })),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string()
            .contains("Invalid quota period specified: YEAR. Must be one of: DAY, WEEK, MONTH"),
        "{body}"
    );
    // A quota needs its period.
    let (status, body) = n.admin(
        "POST",
        "/usageplans",
        Some(json!({ "name": "p", "quota": { "limit": 10 } })),
    );
    assert_eq!(status, 400, "{body}");
    let plan = n.admin_ok(
        "POST",
        "/usageplans",
        Some(json!({ "name": "p", "quota": { "limit": 10, "period": "WEEK" } })),
    );
    assert_eq!(plan["quota"]["period"], "WEEK");
    let id = plan["id"].as_str().expect("id");
    let (status, body) = n.admin(
        "PATCH",
        &format!("/usageplans/{id}"),
        Some(json!({ "patchOperations": [
            { "op": "replace", "path": "/quota/period", "value": "week" }
        ] })),
    );
    assert_eq!(status, 400, "AWS's names are case-sensitive here: {body}");
    let plan = n.admin_ok(
        "PATCH",
        &format!("/usageplans/{id}"),
        Some(json!({ "patchOperations": [
            { "op": "replace", "path": "/quota/period", "value": "MONTH" }
        ] })),
    );
    assert_eq!(plan["quota"]["period"], "MONTH");

    let (status, body) = n.admin(
        "POST",
        "/restapis",
        Some(json!({ "name": "a", "apiKeySource": "QUERY" })),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains(
            "Invalid API key source specified: QUERY. Must be one of: HEADER, AUTHORIZER"
        ),
        "{body}"
    );
    let api = n.admin_ok("POST", "/restapis", Some(json!({ "name": "a" })));
    assert_eq!(api["apiKeySource"], "HEADER");
    let id = api["id"].as_str().expect("id");
    let api = n.admin_ok(
        "PATCH",
        &format!("/restapis/{id}"),
        Some(json!({ "patchOperations": [
            { "op": "replace", "path": "/apiKeySource", "value": "AUTHORIZER" }
        ] })),
    );
    assert_eq!(api["apiKeySource"], "AUTHORIZER");
}
