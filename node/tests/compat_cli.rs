//! The operations of issue 13 end to end through the real `aws` CLI and botocore (what boto3's
//! clients are made of): GetAccount/UpdateAccount, TagResource/GetTags/UntagResource, tags on
//! create, the usage plans' referential rules, and "not supported" answers as the CLI shows them.

mod common;

use common::{Aws, TestNode, ACCESS_KEY, SECRET_KEY};
use serde_json::{json, Value};
use std::process::Command;

fn text(v: &Value) -> String {
    v.as_str().expect("a string").to_string()
}

#[test]
fn account_tags_and_plan_rules_through_the_aws_cli() {
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);

    // GetAccount without a configured limit: no throttle, the features AWS lists.
    let a = aws.ok(&["get-account"]);
    assert_eq!(
        a,
        json!({ "features": ["UsagePlans"], "apiKeyVersion": "4" })
    );
    // A burst alone would make a limit of rate 0.
    aws.fails(
        "BadRequestException",
        &[
            "update-account",
            "--patch-operations",
            "op=replace,path=/throttle/burstLimit,value=5",
        ],
    );
    aws.fails(
        "ValidationException",
        &[
            "update-account",
            "--patch-operations",
            "op=bogus,path=/throttle/rateLimit,value=5",
        ],
    );
    let a = aws.ok(&[
        "update-account",
        "--patch-operations",
        "op=replace,path=/cloudwatchRoleArn,value=arn:aws:iam::123456789012:role/cw",
        "op=replace,path=/throttle/rateLimit,value=100",
    ]);
    assert_eq!(a["cloudwatchRoleArn"], "arn:aws:iam::123456789012:role/cw");
    assert_eq!(
        a["throttleSettings"],
        json!({ "burstLimit": 50, "rateLimit": 100.0 })
    );
    assert_eq!(aws.ok(&["get-account"]), a);
    aws.fails(
        "BadRequestException",
        &[
            "update-account",
            "--patch-operations",
            "op=replace,path=/nope,value=1",
        ],
    );

    // Tags: on create, then TagResource / GetTags / UntagResource by ARN.
    let api = aws.ok(&["create-rest-api", "--name", "t", "--tags", "team=a"]);
    assert_eq!(api["tags"], json!({ "team": "a" }));
    let id = text(&api["id"]);
    let arn = format!("arn:aws:apigateway:us-east-1::/restapis/{id}");
    aws.ok(&[
        "tag-resource",
        "--resource-arn",
        &arn,
        "--tags",
        "env=prod,owner=me",
    ]);
    assert_eq!(
        aws.ok(&["get-tags", "--resource-arn", &arn]),
        json!({ "tags": { "env": "prod", "owner": "me", "team": "a" } })
    );
    aws.ok(&[
        "untag-resource",
        "--resource-arn",
        &arn,
        "--tag-keys",
        "owner",
        "team",
    ]);
    assert_eq!(
        aws.ok(&["get-rest-api", "--rest-api-id", &id])["tags"],
        json!({ "env": "prod" })
    );
    aws.fails(
        "BadRequestException",
        &["tag-resource", "--resource-arn", &arn, "--tags", "aws:x=1"],
    );
    aws.fails(
        "NotFoundException",
        &[
            "get-tags",
            "--resource-arn",
            "arn:aws:apigateway:us-east-1::/apikeys/nosuchkey",
        ],
    );

    // Not supported: named, as the CLI shows it.
    let out = aws.run(SECRET_KEY, &["get-vpc-links"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("An error occurred (BadRequestException) when calling the GetVpcLinks operation: GetVpcLinks is not supported by Tollgate"),
        "{err}"
    );

    // A usage plan with a stage cannot be deleted until the stage is gone.
    let root = text(&api["rootResourceId"]);
    aws.ok(&[
        "put-method",
        "--rest-api-id",
        &id,
        "--resource-id",
        &root,
        "--http-method",
        "GET",
        "--authorization-type",
        "NONE",
    ]);
    aws.ok(&[
        "put-integration",
        "--rest-api-id",
        &id,
        "--resource-id",
        &root,
        "--http-method",
        "GET",
        "--type",
        "MOCK",
    ]);
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &id,
        "--stage-name",
        "dev",
    ]);
    let plan = aws.ok(&[
        "create-usage-plan",
        "--name",
        "p",
        "--api-stages",
        &format!("apiId={id},stage=dev"),
    ]);
    let plan = text(&plan["id"]);
    let out = aws.run(SECRET_KEY, &["delete-usage-plan", "--usage-plan-id", &plan]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("Cannot delete Usage Plan {plan} because there are API Stages associated with it, including {id}:dev")),
        "{err}"
    );
    aws.ok(&["delete-stage", "--rest-api-id", &id, "--stage-name", "dev"]);
    let p = aws.ok(&["get-usage-plan", "--usage-plan-id", &plan]);
    assert!(p.get("apiStages").is_none_or(|s| s == &json!([])), "{p}");
    aws.ok(&["delete-usage-plan", "--usage-plan-id", &plan]);
}

#[test]
fn account_and_tags_through_botocore() {
    let n = TestNode::start(&["--workers", "1"]);
    let api = n.admin_ok("POST", "/restapis", Some(json!({ "name": "b" })));
    let id = text(&api["id"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/compat_botocore.py");
    let out = Command::new("python3")
        .arg(script)
        .args([&format!("http://{}", n.admin), ACCESS_KEY, SECRET_KEY, &id])
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "compat_botocore.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let account = json!({
        "cloudwatchRoleArn": "arn:aws:iam::123456789012:role/cw",
        "throttleSettings": { "burstLimit": 2500, "rateLimit": 5000.0 },
        "features": ["UsagePlans"],
        "apiKeyVersion": "4"
    });
    assert_eq!(v["update_account"], account);
    assert_eq!(v["get_account"], account);
    assert_eq!(
        v["after_tag"],
        json!({ "tags": { "env": "dev", "team": "x" } })
    );
    assert_eq!(v["after_untag"], json!({ "tags": { "team": "x" } }));
    assert_eq!(v["get_rest_api_tags"], json!({ "team": "x" }));
    for (k, op) in [
        ("vpc_links", "GetVpcLinks"),
        ("doc_import", "ImportDocumentationParts"),
    ] {
        assert_eq!(v[k]["code"], "BadRequestException", "{v}");
        assert_eq!(v[k]["status"], 400);
        let m = text(&v[k]["message"]);
        assert!(
            m.starts_with(&format!("{op} is not supported by Tollgate: ")),
            "{m}"
        );
    }
    assert_eq!(v["bad_tag"]["code"], "BadRequestException", "{v}");
    // botocore parses the dates as timestamps, the lists under their model names.
    assert_eq!(v["cert_has_pem"], true, "{v}");
    assert_eq!(v["cert_dates"], json!(["datetime", "datetime"]), "{v}");
    assert_eq!(v["cert_listed"], true, "{v}");
    assert_eq!(v["doc_part"]["location"], json!({ "type": "API" }), "{v}");
    assert_eq!(v["doc_parts"], json!([v["doc_part"]["id"]]), "{v}");
    assert_eq!(
        v["doc_version"],
        json!({ "version": "1", "description": "d" }),
        "{v}"
    );
}

/// The rest of issue 13's operations through the stock `aws` CLI: documentation parts and
/// versions, client certificates, and a canary deployment with its promotion.
#[test]
fn documentation_certificates_and_canary_through_the_aws_cli() {
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let api = aws.ok(&["create-rest-api", "--name", "docs"]);
    let id = text(&api["id"]);

    // Documentation parts and versions.
    let part = aws.ok(&[
        "create-documentation-part",
        "--rest-api-id",
        &id,
        "--location",
        "type=API",
        "--properties",
        r#"{"description":"the API"}"#,
    ]);
    let part_id = text(&part["id"]);
    assert_eq!(part["location"], json!({ "type": "API" }));
    let part = aws.ok(&[
        "update-documentation-part",
        "--rest-api-id",
        &id,
        "--documentation-part-id",
        &part_id,
        "--patch-operations",
        r#"[{"op":"replace","path":"/properties","value":"{\"description\":\"all of it\"}"}]"#,
    ]);
    assert_eq!(part["properties"], r#"{"description":"all of it"}"#);
    let parts = aws.ok(&["get-documentation-parts", "--rest-api-id", &id]);
    assert_eq!(parts["items"][0]["id"], part_id.as_str());
    let v = aws.ok(&[
        "create-documentation-version",
        "--rest-api-id",
        &id,
        "--documentation-version",
        "1.0",
        "--description",
        "first",
    ]);
    assert_eq!(v["version"], "1.0");
    assert_eq!(
        aws.ok(&[
            "get-documentation-version",
            "--rest-api-id",
            &id,
            "--documentation-version",
            "1.0"
        ])["description"],
        "first"
    );
    aws.ok(&[
        "delete-documentation-version",
        "--rest-api-id",
        &id,
        "--documentation-version",
        "1.0",
    ]);
    aws.ok(&[
        "delete-documentation-part",
        "--rest-api-id",
        &id,
        "--documentation-part-id",
        &part_id,
    ]);
    aws.fails(
        "NotFoundException",
        &[
            "get-documentation-part",
            "--rest-api-id",
            &id,
            "--documentation-part-id",
            &part_id,
        ],
    );

    // Client certificates.
    let cert = aws.ok(&["generate-client-certificate", "--description", "backends"]);
    let cert_id = text(&cert["clientCertificateId"]);
    assert!(text(&cert["pemEncodedCertificate"]).starts_with("-----BEGIN CERTIFICATE-----"));
    let cert = aws.ok(&[
        "update-client-certificate",
        "--client-certificate-id",
        &cert_id,
        "--patch-operations",
        "op=replace,path=/description,value=renamed",
    ]);
    assert_eq!(cert["description"], "renamed");
    let certs = aws.ok(&["get-client-certificates"]);
    assert_eq!(certs["items"][0]["clientCertificateId"], cert_id.as_str());
    aws.ok(&[
        "delete-client-certificate",
        "--client-certificate-id",
        &cert_id,
    ]);
    aws.fails(
        "NotFoundException",
        &[
            "get-client-certificate",
            "--client-certificate-id",
            &cert_id,
        ],
    );

    // A canary deployment on a stage, in AWS's recorded words when the stage is missing,
    // then promoted with AWS's copy operations.
    let root = text(&aws.ok(&["get-resources", "--rest-api-id", &id])["items"][0]["id"]);
    aws.ok(&[
        "put-method",
        "--rest-api-id",
        &id,
        "--resource-id",
        &root,
        "--http-method",
        "GET",
        "--authorization-type",
        "NONE",
    ]);
    aws.ok(&[
        "put-integration",
        "--rest-api-id",
        &id,
        "--resource-id",
        &root,
        "--http-method",
        "GET",
        "--type",
        "MOCK",
    ]);
    let first = text(
        &aws.ok(&[
            "create-deployment",
            "--rest-api-id",
            &id,
            "--stage-name",
            "prod",
        ])["id"],
    );
    aws.fails(
        "BadRequestException",
        &[
            "create-deployment",
            "--rest-api-id",
            &id,
            "--stage-name",
            "non-existing",
            "--canary-settings",
            "percentTraffic=10",
        ],
    );
    let canary = text(
        &aws.ok(&[
            "create-deployment",
            "--rest-api-id",
            &id,
            "--stage-name",
            "prod",
            "--canary-settings",
            "percentTraffic=10",
        ])["id"],
    );
    let stage = aws.ok(&["get-stage", "--rest-api-id", &id, "--stage-name", "prod"]);
    assert_eq!(stage["deploymentId"], first.as_str());
    assert_eq!(stage["canarySettings"]["deploymentId"], canary.as_str());
    let stage = aws.ok(&[
        "update-stage",
        "--rest-api-id",
        &id,
        "--stage-name",
        "prod",
        "--patch-operations",
        "op=copy,from=/canarySettings/deploymentId,path=/deploymentId",
        "op=remove,path=/canarySettings",
    ]);
    assert_eq!(stage["deploymentId"], canary.as_str());
    assert!(stage.get("canarySettings").is_none(), "{stage}");
}
