//! Canary releases end to end with the stock `aws` CLI: a canary deployment made with
//! `create-deployment --canary-settings` serves its share of the stage's traffic with its
//! stage-variable overrides; `update-stage` changes the share; AWS's promotion (`copy`
//! patches) moves the stage to the canary's deployment and variables; deployments a canary
//! uses cannot be deleted.

mod common;

use common::{parse_response, Aws, TestNode};
use serde_json::{json, Value};

fn text(v: &Value) -> String {
    v.as_str().expect("a string").to_string()
}

/// The MOCK answer of one request to `prod`: (the `v` stage variable, which deployment's
/// template answered: `one` or `two`).
fn call(n: &TestNode, api: &str) -> (String, String, String) {
    let raw = format!(
        "GET /prod/ HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\nConnection: close\r\n\r\n"
    );
    let r = parse_response(&n.raw(raw.as_bytes())).expect("a response");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    (text(&v["v"]), text(&v["d"]), text(&v["id"]))
}

/// How many of `n` requests the canary's variables (`v` = green) served, and the deployments
/// seen; a green answer always comes from the canary's deployment.
fn green_share(node: &TestNode, api: &str, n: usize) -> (usize, Vec<String>) {
    let mut green = 0;
    let mut deployments = Vec::new();
    for _ in 0..n {
        let (v, d, id) = call(node, api);
        if v == "green" {
            green += 1;
            assert_eq!(d, "two");
        }
        // `$context.deploymentId` names the deployment that answered.
        let seen = format!("{d} {id}");
        if !deployments.contains(&seen) {
            deployments.push(seen);
        }
    }
    (green, deployments)
}

#[test]
fn canary_release_share_promotion_and_removal() {
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let api = text(&aws.ok(&["create-rest-api", "--name", "canary"])["id"]);
    let root = text(&aws.ok(&["get-resources", "--rest-api-id", &api])["items"][0]["id"]);
    let on = [
        "--rest-api-id",
        &api,
        "--resource-id",
        &root,
        "--http-method",
        "GET",
    ];
    let run = |cmd: &str, extra: &[&str]| {
        let mut args = vec![cmd];
        args.extend(on);
        args.extend(extra);
        aws.ok(&args)
    };
    run("put-method", &["--authorization-type", "NONE"]);
    run(
        "put-integration",
        &[
            "--type",
            "MOCK",
            "--request-templates",
            r#"{"application/json":"{\"statusCode\": 200}"}"#,
        ],
    );
    run("put-method-response", &["--status-code", "200"]);
    let respond = |which: &str| {
        let template = format!(
            r#"{{"application/json":"{{\"v\": \"$stageVariables.v\", \"d\": \"{which}\", \"id\": \"$context.deploymentId\"}}"}}"#
        );
        run(
            "put-integration-response",
            &["--status-code", "200", "--response-templates", &template],
        );
    };
    respond("one");
    let d1 = text(
        &aws.ok(&[
            "create-deployment",
            "--rest-api-id",
            &api,
            "--stage-name",
            "prod",
            "--variables",
            "v=blue",
        ])["id"],
    );
    // Without a stage a canary deployment is refused (nothing to split).
    aws.fails(
        "BadRequestException",
        &[
            "create-deployment",
            "--rest-api-id",
            &api,
            "--stage-name",
            "nope",
            "--canary-settings",
            "percentTraffic=10",
        ],
    );
    aws.fails(
        "BadRequestException",
        &[
            "create-deployment",
            "--rest-api-id",
            &api,
            "--stage-name",
            "prod",
            "--canary-settings",
            "percentTraffic=101",
        ],
    );
    // The canary's deployment answers differently.
    respond("two");
    let d2 = text(
        &aws.ok(&[
            "create-deployment",
            "--rest-api-id",
            &api,
            "--stage-name",
            "prod",
            "--canary-settings",
            "percentTraffic=30,stageVariableOverrides={v=green},useStageCache=false",
        ])["id"],
    );
    let stage = aws.ok(&["get-stage", "--rest-api-id", &api, "--stage-name", "prod"]);
    // The stage still serves d1; the canary is d2.
    assert_eq!(text(&stage["deploymentId"]), d1);
    assert_eq!(
        stage["canarySettings"],
        json!({"percentTraffic": 30.0, "deploymentId": d2,
               "stageVariableOverrides": {"v": "green"}, "useStageCache": false})
    );
    // About 30 % of requests are the canary's: its deployment and its variables.
    let (green, mut seen) = green_share(&n, &api, 400);
    assert!((80..=160).contains(&green), "{green} of 400 to the canary");
    seen.sort();
    assert_eq!(seen, vec![format!("one {d1}"), format!("two {d2}")]);
    // The canary's deployment is in use: it cannot be deleted.
    aws.fails(
        "BadRequestException",
        &[
            "delete-deployment",
            "--rest-api-id",
            &api,
            "--deployment-id",
            &d2,
        ],
    );
    // The share changes with update-stage; 0 sends nothing to the canary.
    let update = |ops: &str| {
        aws.ok(&[
            "update-stage",
            "--rest-api-id",
            &api,
            "--stage-name",
            "prod",
            "--patch-operations",
            ops,
        ])
    };
    update("op=replace,path=/canarySettings/percentTraffic,value=0");
    assert_eq!(green_share(&n, &api, 50).0, 0);
    update("op=replace,path=/canarySettings/percentTraffic,value=100");
    assert_eq!(green_share(&n, &api, 50).0, 50);
    update("op=replace,path=/canarySettings/percentTraffic,value=0.0");
    // AWS's promotion: the canary's overrides and deployment copied to the stage.
    let promoted = update(
        r#"[{"op":"copy","from":"/canarySettings/stageVariableOverrides","path":"/variables"},
            {"op":"copy","from":"/canarySettings/deploymentId","path":"/deploymentId"},
            {"op":"remove","path":"/canarySettings"}]"#,
    );
    assert_eq!(text(&promoted["deploymentId"]), d2);
    assert_eq!(promoted["variables"], json!({"v": "green"}));
    assert!(promoted.get("canarySettings").is_none(), "{promoted}");
    let (green, seen) = green_share(&n, &api, 30);
    assert_eq!((green, seen), (30, vec![format!("two {d2}")]));
    // d1 is free now.
    aws.ok(&[
        "delete-deployment",
        "--rest-api-id",
        &api,
        "--deployment-id",
        &d1,
    ]);
    // A copy without a canary is refused, in AWS's recorded words.
    let out = aws.run(
        common::SECRET_KEY,
        &[
            "update-stage",
            "--rest-api-id",
            &api,
            "--stage-name",
            "prod",
            "--patch-operations",
            r#"[{"op":"copy","from":"/canarySettings/deploymentId","path":"/deploymentId"}]"#,
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("(BadRequestException) when calling the UpdateStage operation: Promotion not available. Canary does not exist."),
        "{err}"
    );
}
