//! API keys and usage plans managed with the real `aws` CLI against a real `tollgate`
//! process: keys (created, generated, listed, disabled, imported from CSV, deleted), usage
//! plans (stages, throttles, quotas, patches), usage plan keys, usage and its quota grants,
//! stage cache flushes, and the errors a user sees. (What keys do to invocations is tested
//! with the data plane.)

mod common;

use common::{Aws, TestNode};
use serde_json::{json, Value};

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

/// Today (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (y, m, d) = tollgate_proto::model::civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// An API with `GET /` (MOCK) deployed to `prod` and `dev`; returns its id and root id.
fn deployed_api(node: &TestNode) -> (String, String) {
    let api = node.admin_ok("POST", "/restapis", Some(json!({"name": "pets"})));
    let (id, root) = (s(&api["id"]), s(&api["rootResourceId"]));
    let method = format!("/restapis/{id}/resources/{root}/methods/GET");
    node.admin_ok("PUT", &method, Some(json!({"authorizationType": "NONE"})));
    node.admin_ok(
        "PUT",
        &format!("{method}/integration"),
        Some(json!({"type": "MOCK", "requestTemplates": {"application/json": "{\"statusCode\": 200}"}})),
    );
    for stage in ["prod", "dev"] {
        node.admin_ok(
            "POST",
            &format!("/restapis/{id}/deployments"),
            Some(json!({ "stageName": stage })),
        );
    }
    (id, root)
}

#[test]
fn api_keys_and_usage_plans_with_the_aws_cli() {
    let node = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&node);
    let (api, root) = deployed_api(&node);

    // A method can require a key.
    let m = aws.ok(&[
        "update-method",
        "--rest-api-id",
        &api,
        "--resource-id",
        &root,
        "--http-method",
        "GET",
        "--patch-operations",
        "op=replace,path=/apiKeyRequired,value=true",
    ]);
    assert_eq!(m["apiKeyRequired"], true);

    // Keys: a generated value (shown once), a given one, listing with and without values.
    let gen = aws.ok(&["create-api-key", "--name", "generated", "--enabled"]);
    let gen_id = s(&gen["id"]);
    let gen_value = s(&gen["value"]);
    assert_eq!(gen_value.len(), 40);
    assert!(gen_value.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(gen["enabled"], true);
    let value = "given-value-0123456789-abcdef";
    let given = aws.ok(&[
        "create-api-key",
        "--name",
        "given",
        "--value",
        value,
        "--enabled",
        "--customer-id",
        "cust-1",
        "--description",
        "a key",
    ]);
    let given_id = s(&given["id"]);
    assert_eq!(given["value"], value);
    let listed = aws.ok(&["get-api-keys"]);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(listed["items"][0].get("value").is_none());
    let listed = aws.ok(&["get-api-keys", "--include-values", "--name-query", "giv"]);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["value"], value);
    assert_eq!(listed["items"][0]["customerId"], "cust-1");
    let one = aws.ok(&["get-api-key", "--api-key", &given_id, "--include-value"]);
    assert_eq!(one["value"], value);
    assert_eq!(one["description"], "a key");
    let off = aws.ok(&[
        "update-api-key",
        "--api-key",
        &given_id,
        "--patch-operations",
        "op=replace,path=/enabled,value=false",
        "op=replace,path=/name,value=renamed",
    ]);
    assert_eq!(
        (off["enabled"].clone(), off["name"].clone()),
        (json!(false), json!("renamed"))
    );

    // Errors: unknown key, duplicate value, too short a value, bad patch path.
    aws.fails("NotFoundException", &["get-api-key", "--api-key", "nope"]);
    aws.fails(
        "ConflictException",
        &["create-api-key", "--name", "dup", "--value", value],
    );
    aws.fails(
        "BadRequestException",
        &["create-api-key", "--value", "short"],
    );
    aws.fails(
        "BadRequestException",
        &[
            "update-api-key",
            "--api-key",
            &given_id,
            "--patch-operations",
            "op=replace,path=/value,value=x",
        ],
    );

    // Usage plans: stages, throttles and a quota.
    let stage_arg = json!([{"apiId": api, "stage": "prod",
        "throttle": {"//GET": {"burstLimit": 2, "rateLimit": 1}}}])
    .to_string();
    let plan = aws.ok(&[
        "create-usage-plan",
        "--name",
        "gold",
        "--description",
        "the gold plan",
        "--api-stages",
        &stage_arg,
        "--throttle",
        "burstLimit=10,rateLimit=5",
        "--quota",
        "limit=1000,offset=0,period=MONTH",
    ]);
    let plan_id = s(&plan["id"]);
    assert_eq!(
        plan["apiStages"],
        json!([{"apiId": api, "stage": "prod",
        "throttle": {"//GET": {"burstLimit": 2, "rateLimit": 1.0}}}])
    );
    assert_eq!(
        plan["throttle"],
        json!({"burstLimit": 10, "rateLimit": 5.0})
    );
    assert_eq!(
        plan["quota"],
        json!({"limit": 1000, "offset": 0, "period": "MONTH"})
    );
    let dev_stage = format!("{api}:dev");
    let patched = aws.ok(&[
        "update-usage-plan",
        "--usage-plan-id",
        &plan_id,
        "--patch-operations",
        "op=replace,path=/quota/limit,value=500",
        "op=replace,path=/quota/period,value=WEEK",
        "op=replace,path=/quota/offset,value=40",
        "op=replace,path=/throttle/rateLimit,value=7.5",
        "op=replace,path=/name,value=platinum",
        &format!("op=add,path=/apiStages,value={dev_stage}"),
        &format!("op=replace,path=/apiStages/{api}:prod/throttle/~1/GET/rateLimit,value=3"),
    ]);
    assert_eq!(patched["name"], "platinum");
    assert_eq!(
        patched["quota"],
        json!({"limit": 500, "offset": 40, "period": "WEEK"})
    );
    assert_eq!(patched["throttle"]["rateLimit"], 7.5);
    assert_eq!(
        patched["apiStages"][0]["throttle"]["//GET"]["rateLimit"],
        3.0
    );
    assert_eq!(
        patched["apiStages"][1],
        json!({"apiId": api, "stage": "dev"})
    );
    aws.fails(
        "BadRequestException",
        &[
            "update-usage-plan",
            "--usage-plan-id",
            &plan_id,
            "--patch-operations",
            "op=replace,path=/quota/period,value=YEAR",
        ],
    );
    aws.fails(
        "BadRequestException",
        &[
            "update-usage-plan",
            "--usage-plan-id",
            &plan_id,
            "--patch-operations",
            "op=replace,path=/nonsense,value=1",
        ],
    );
    aws.fails(
        "BadRequestException",
        &[
            "create-usage-plan",
            "--name",
            "bad",
            "--api-stages",
            &format!("apiId={api},stage=nope"),
        ],
    );
    aws.fails(
        "NotFoundException",
        &[
            "create-usage-plan",
            "--name",
            "bad",
            "--api-stages",
            "apiId=nope,stage=prod",
        ],
    );
    aws.fails(
        "NotFoundException",
        &["get-usage-plan", "--usage-plan-id", "nope"],
    );
    let plans = aws.ok(&["get-usage-plans"]);
    assert_eq!(plans["items"].as_array().unwrap().len(), 1);

    // Usage plan keys; a key is in one plan per API stage.
    let pk = aws.ok(&[
        "create-usage-plan-key",
        "--usage-plan-id",
        &plan_id,
        "--key-id",
        &gen_id,
        "--key-type",
        "API_KEY",
    ]);
    assert_eq!(
        pk,
        json!({"id": gen_id, "type": "API_KEY", "value": gen_value, "name": "generated"})
    );
    let other = aws.ok(&[
        "create-usage-plan",
        "--name",
        "other",
        "--api-stages",
        &format!("apiId={api},stage=dev"),
    ]);
    let other_id = s(&other["id"]);
    aws.fails(
        "ConflictException",
        &[
            "create-usage-plan-key",
            "--usage-plan-id",
            &other_id,
            "--key-id",
            &gen_id,
            "--key-type",
            "API_KEY",
        ],
    );
    aws.fails(
        "NotFoundException",
        &[
            "create-usage-plan-key",
            "--usage-plan-id",
            &plan_id,
            "--key-id",
            "nope",
            "--key-type",
            "API_KEY",
        ],
    );
    let keys = aws.ok(&["get-usage-plan-keys", "--usage-plan-id", &plan_id]);
    assert_eq!(keys["items"].as_array().unwrap().len(), 1);
    assert_eq!(keys["items"][0]["id"], gen_id);
    let k = aws.ok(&[
        "get-usage-plan-key",
        "--usage-plan-id",
        &plan_id,
        "--key-id",
        &gen_id,
    ]);
    assert_eq!(k["value"], gen_value);
    let by_key = aws.ok(&["get-usage-plans", "--key-id", &gen_id]);
    assert_eq!(by_key["items"].as_array().unwrap().len(), 1);
    assert_eq!(by_key["items"][0]["id"], plan_id);

    // Usage: nothing served yet, so zeros against the whole quota less its offset (the plan
    // got its weekly quota this week: its initial period); then a grant.
    let day = today();
    let usage = aws.ok(&[
        "get-usage",
        "--usage-plan-id",
        &plan_id,
        "--start-date",
        &day,
        "--end-date",
        &day,
    ]);
    assert_eq!(usage["usagePlanId"], plan_id);
    assert_eq!(usage["items"], json!({ gen_id.as_str(): [[0, 460]] }));
    let updated = aws.ok(&[
        "update-usage",
        "--usage-plan-id",
        &plan_id,
        "--key-id",
        &gen_id,
        "--patch-operations",
        "op=replace,path=/remaining,value=750",
    ]);
    assert_eq!(updated["items"], json!({ gen_id.as_str(): [[0, 750]] }));
    let usage = aws.ok(&[
        "get-usage",
        "--usage-plan-id",
        &plan_id,
        "--key-id",
        &gen_id,
        "--start-date",
        &day,
        "--end-date",
        &day,
    ]);
    assert_eq!(usage["items"][gen_id.as_str()], json!([[0, 750]]));
    aws.fails(
        "BadRequestException",
        &[
            "get-usage",
            "--usage-plan-id",
            &plan_id,
            "--start-date",
            "2024-02-30",
            "--end-date",
            &day,
        ],
    );
    aws.fails(
        "BadRequestException",
        &[
            "update-usage",
            "--usage-plan-id",
            &plan_id,
            "--key-id",
            &gen_id,
            "--patch-operations",
            "op=replace,path=/used,value=1",
        ],
    );

    // Import from AWS's CSV format, subscribing to the plan.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("keys.csv");
    std::fs::write(
        &csv,
        format!(
            "Name,Key,Description,Enabled,UsagePlanIds\n\
             imported1,imported-key-value-000000000001,first,TRUE,{plan_id}\n\
             imported2,imported-key-value-000000000002,,false,\n"
        ),
    )
    .unwrap();
    let body = format!("fileb://{}", csv.display());
    let imported = aws.ok(&["import-api-keys", "--body", &body, "--format", "csv"]);
    let ids: Vec<String> = imported["ids"].as_array().unwrap().iter().map(s).collect();
    assert_eq!(ids.len(), 2);
    let keys = aws.ok(&["get-usage-plan-keys", "--usage-plan-id", &plan_id]);
    assert_eq!(keys["items"].as_array().unwrap().len(), 2);
    let second = aws.ok(&["get-api-key", "--api-key", &ids[1], "--include-value"]);
    assert_eq!(
        (
            second["name"].clone(),
            second["enabled"].clone(),
            second["value"].clone()
        ),
        (
            json!("imported2"),
            json!(false),
            json!("imported-key-value-000000000002")
        )
    );
    // A row with a bad key is a warning, or a failure when asked.
    std::fs::write(&csv, "name,key\nbad,tooshort\n").unwrap();
    let warned = aws.ok(&["import-api-keys", "--body", &body, "--format", "csv"]);
    assert_eq!(warned["ids"], json!([]));
    assert_eq!(warned["warnings"].as_array().unwrap().len(), 1);
    aws.fails(
        "BadRequestException",
        &[
            "import-api-keys",
            "--body",
            &body,
            "--format",
            "csv",
            "--fail-on-warnings",
        ],
    );

    // Flushing a stage's cache.
    aws.ok(&[
        "flush-stage-cache",
        "--rest-api-id",
        &api,
        "--stage-name",
        "prod",
    ]);
    aws.fails(
        "NotFoundException",
        &[
            "flush-stage-cache",
            "--rest-api-id",
            &api,
            "--stage-name",
            "nope",
        ],
    );

    // Unsubscribe and delete; deleting a key also takes it out of its plans.
    aws.ok(&[
        "delete-usage-plan-key",
        "--usage-plan-id",
        &plan_id,
        "--key-id",
        &gen_id,
    ]);
    aws.fails(
        "NotFoundException",
        &[
            "get-usage-plan-key",
            "--usage-plan-id",
            &plan_id,
            "--key-id",
            &gen_id,
        ],
    );
    aws.ok(&["delete-api-key", "--api-key", &ids[0]]);
    let keys = aws.ok(&["get-usage-plan-keys", "--usage-plan-id", &plan_id]);
    assert_eq!(keys["items"], json!([]));
    aws.fails(
        "NotFoundException",
        &["delete-api-key", "--api-key", &ids[0]],
    );
    // A plan with API stages is deleted only once they are removed (as AWS).
    aws.fails(
        "BadRequestException",
        &["delete-usage-plan", "--usage-plan-id", &other_id],
    );
    aws.ok(&[
        "update-usage-plan",
        "--usage-plan-id",
        &other_id,
        "--patch-operations",
        &format!("op=remove,path=/apiStages,value={api}:dev"),
    ]);
    aws.ok(&["delete-usage-plan", "--usage-plan-id", &other_id]);
    aws.fails(
        "NotFoundException",
        &["delete-usage-plan", "--usage-plan-id", &other_id],
    );
    let left = aws.ok(&["get-api-keys"]);
    assert_eq!(left["items"].as_array().unwrap().len(), 3);
}
