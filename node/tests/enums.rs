//! Closed sets of AWS names at the admin API, end to end through the real binary and the
//! stock `aws` CLI: `authorizationType` is read in any case, as AWS reads it, and answered
//! (and stored) as AWS's upper-case name; the members botocore types as enums are checked
//! exactly, as AWS's input validation checks them (`ValidationException`).

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
            .contains("1 validation error detected: Value 'YEAR' at 'createUsagePlanInput.quota.period' failed to satisfy constraint: Member must satisfy enum value set: [DAY, WEEK, MONTH]"),
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
            "1 validation error detected: Value 'QUERY' at 'createRestApiInput.apiKeySource' failed to satisfy constraint: Member must satisfy enum value set: [HEADER, AUTHORIZER]"
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

/// Every enum member of a request body (`tollgate_node::admin::enums::BODY_ENUMS`, checked
/// against botocore's model by a unit test) through the stock aws CLI: AWS's exact spelling
/// passes validation, the same name in lower case is AWS's `ValidationException`, naming the
/// member and the set, before anything else is looked at (the ids here name nothing).
#[test]
fn body_enums_are_exact_as_aws_validates_them() {
    use tollgate_node::admin::enums::{input_name, BODY_ENUMS};
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let api = aws.ok(&["create-rest-api", "--name", "enums"])["id"]
        .as_str()
        .expect("id")
        .to_string();
    for e in BODY_ENUMS {
        // Valid and invalid as the CLI sends them, by operation.
        let args = |v: &str| -> Vec<String> {
            let s = |x: &str| x.to_string();
            let mut a: Vec<String> = match (e.operation, e.member) {
                ("PutIntegration", m) => {
                    let mut a = vec![
                        s("put-integration"),
                        s("--rest-api-id"),
                        api.clone(),
                        s("--resource-id"),
                        s("nosuch1"),
                        s("--http-method"),
                        s("GET"),
                    ];
                    if m != "type" {
                        a.extend([s("--type"), s("MOCK")]);
                    }
                    a
                }
                ("PutIntegrationResponse", _) => vec![
                    s("put-integration-response"),
                    s("--rest-api-id"),
                    api.clone(),
                    s("--resource-id"),
                    s("nosuch1"),
                    s("--http-method"),
                    s("GET"),
                    s("--status-code"),
                    s("200"),
                ],
                ("CreateAuthorizer", _) => vec![
                    s("create-authorizer"),
                    s("--rest-api-id"),
                    s("nosuch1"),
                    s("--name"),
                    s("a"),
                ],
                ("CreateRestApi", _) => vec![s("create-rest-api"), s("--name"), s("x")],
                ("CreateUsagePlan", _) => vec![s("create-usage-plan"), s("--name"), s("p")],
                ("CreateStage", _) => vec![
                    s("create-stage"),
                    s("--rest-api-id"),
                    s("nosuch1"),
                    s("--stage-name"),
                    s("s"),
                    s("--deployment-id"),
                    s("nosuch1"),
                ],
                ("CreateDeployment", _) => {
                    vec![s("create-deployment"), s("--rest-api-id"), s("nosuch1")]
                }
                ("CreateDomainName", _) => vec![
                    s("create-domain-name"),
                    s("--domain-name"),
                    s("api.example.com"),
                ],
                (op, m) => panic!("no CLI call for {op}.{m}"),
            };
            match e.member {
                "quota.period" => a.extend([s("--quota"), format!("limit=5,period={v}")]),
                m => {
                    let flag: String = m
                        .chars()
                        .flat_map(|c| {
                            if c.is_ascii_uppercase() {
                                vec!['-', c.to_ascii_lowercase()]
                            } else {
                                vec![c]
                            }
                        })
                        .collect();
                    a.extend([format!("--{flag}"), v.to_string()]);
                }
            }
            a
        };
        let valid = e.set[0];
        let lower = valid.to_ascii_lowercase();
        let bad = if lower == valid {
            "nope".to_string()
        } else {
            lower
        };
        let run = |v: &str| {
            let a = args(v);
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let out = aws.run(common::SECRET_KEY, &a);
            String::from_utf8_lossy(&out.stderr).to_string()
        };
        let err = run(&bad);
        let want = format!(
            "(ValidationException) when calling the {} operation: 1 validation error detected: Value '{bad}' at '{}.{}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            e.operation,
            input_name(e.operation),
            e.member,
            e.set.join(", ")
        );
        assert!(err.contains(&want), "{}.{}: {err}", e.operation, e.member);
        // AWS's spelling passes validation (what follows is the operation's own answer).
        let err = run(valid);
        assert!(
            !err.contains("ValidationException"),
            "{}.{} {valid}: {err}",
            e.operation,
            e.member
        );
    }
}
