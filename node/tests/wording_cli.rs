//! Issue 13's "Behaviour" items through the real `aws` CLI: maps given empty answered as `{}`
//! (and left out when never given), AWS's recorded patch-path wording, and CreateApiKey's
//! `stageKeys` refused rather than ignored.

mod common;

use common::{Aws, TestNode, SECRET_KEY};
use serde_json::{json, Value};

fn text(v: &Value) -> String {
    v.as_str().expect("a string").to_string()
}

/// Runs a command that must fail with `code`, and returns what the CLI printed.
fn refused(aws: &Aws, code: &str, args: &[&str]) -> String {
    let out = aws.run(SECRET_KEY, args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(255), "{args:?}: {err}");
    assert!(
        err.contains(&format!("An error occurred ({code})")),
        "{args:?}: {err}"
    );
    err
}

#[test]
fn empty_maps_wording_and_stage_keys_through_the_aws_cli() {
    let n = TestNode::start(&["--workers", "1"]);
    let aws = Aws::for_node(&n);
    let api = text(&aws.ok(&["create-rest-api", "--name", "wording"])["id"]);
    let root = text(&aws.ok(&["get-resources", "--rest-api-id", &api])["items"][0]["id"]);
    let pets = aws.ok(&[
        "create-resource",
        "--rest-api-id",
        &api,
        "--parent-id",
        &root,
        "--path-part",
        "pets",
    ]);
    let res = text(&pets["id"]);
    let m = [
        "--rest-api-id",
        &api,
        "--resource-id",
        &res,
        "--http-method",
        "GET",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        m.iter()
            .chain(extra.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let call = |op: &str, extra: &[&str]| -> Value {
        let mut args = vec![op.to_string()];
        args.extend(with(extra));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        aws.ok(&args)
    };

    // 1. Empty maps: given → `{}`; omitted → absent (as AWS's recordings).
    let put = call(
        "put-method",
        &["--authorization-type", "NONE", "--request-parameters", "{}"],
    );
    assert_eq!(put["requestParameters"], json!({}), "{put}");
    assert!(put.get("requestModels").is_none(), "{put}");
    let r = call(
        "put-method-response",
        &[
            "--status-code",
            "200",
            "--response-parameters",
            "{}",
            "--response-models",
            "{}",
        ],
    );
    assert_eq!(
        r,
        json!({ "statusCode": "200", "responseParameters": {}, "responseModels": {} })
    );
    let r = call("put-method-response", &["--status-code", "201"]);
    assert_eq!(r, json!({ "statusCode": "201" }));
    call("put-integration", &["--type", "MOCK"]);
    let ir = call(
        "put-integration-response",
        &[
            "--status-code",
            "200",
            "--selection-pattern",
            "2\\d{2}",
            "--response-templates",
            "{}",
        ],
    );
    assert_eq!(
        ir,
        json!({ "statusCode": "200", "selectionPattern": "2\\d{2}", "responseTemplates": {} })
    );
    assert_eq!(
        call("get-integration-response", &["--status-code", "200"]),
        ir
    );
    let got = call("get-method", &[]);
    assert_eq!(got["requestParameters"], json!({}), "{got}");
    assert_eq!(
        got["methodResponses"]["200"]["responseModels"],
        json!({}),
        "{got}"
    );
    assert!(got["methodResponses"]["201"]
        .get("responseModels")
        .is_none());
    assert_eq!(
        got["methodIntegration"]["integrationResponses"]["200"]["responseTemplates"],
        json!({})
    );
    // A map that held entries and was emptied again stays, as `{}`.
    let r = call(
        "update-method-response",
        &[
            "--status-code",
            "201",
            "--patch-operations",
            "op=add,path=/responseModels/application~1json,value=Empty",
        ],
    );
    assert_eq!(r["responseModels"], json!({ "application/json": "Empty" }));
    let r = call(
        "update-method-response",
        &[
            "--status-code",
            "201",
            "--patch-operations",
            "op=remove,path=/responseModels/application~1json",
        ],
    );
    assert_eq!(r, json!({ "statusCode": "201", "responseModels": {} }));

    // 2. Patch paths, in AWS's words (two spaces after "path" included).
    let err = refused(
        &aws,
        "BadRequestException",
        &[
            "update-resource",
            "--rest-api-id",
            &api,
            "--resource-id",
            &res,
            "--patch-operations",
            "op=add,path=/pathPart,value=dogs",
        ],
    );
    assert!(
        err.contains(
            "Invalid patch path  '/pathPart' specified for op 'add'. Please choose supported operations"
        ),
        "{err}"
    );
    let err = refused(
        &aws,
        "BadRequestException",
        &[
            "update-resource",
            "--rest-api-id",
            &api,
            "--resource-id",
            &res,
            "--patch-operations",
            "op=replace,path=/invalid,value=x",
        ],
    );
    assert!(
        err.contains(
            "Invalid patch path  '/invalid' specified for op 'replace'. Must be one of: [/parentId, /pathPart]"
        ),
        "{err}"
    );
    let mut args = vec!["update-method".to_string()];
    args.extend(with(&[
        "--patch-operations",
        "op=add,path=/operationName,value=x",
    ]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = refused(&aws, "BadRequestException", &args);
    assert!(
        err.contains("Invalid patch operation specified. Must be one of: [replace]"),
        "{err}"
    );
    // `replace` still renames.
    let renamed = aws.ok(&[
        "update-resource",
        "--rest-api-id",
        &api,
        "--resource-id",
        &res,
        "--patch-operations",
        "op=replace,path=/pathPart,value=dogs",
    ]);
    assert_eq!(renamed["path"], "/dogs");

    // 3. stageKeys: refused when not empty, so no one believes the key reaches the stage.
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "dev",
    ]);
    let stage_key = format!("restApiId={api},stageName=dev");
    let err = refused(
        &aws,
        "BadRequestException",
        &["create-api-key", "--name", "k", "--stage-keys", &stage_key],
    );
    assert!(err.contains("(stageKeys) is not supported"), "{err}");
    assert_eq!(aws.ok(&["get-api-keys"])["items"], json!([]));
    let key = aws.ok(&["create-api-key", "--name", "k", "--enabled"]);
    assert_eq!(key["stageKeys"], json!([]));
    let err = refused(
        &aws,
        "BadRequestException",
        &[
            "update-api-key",
            "--api-key",
            &text(&key["id"]),
            "--patch-operations",
            &format!("op=add,path=/stages,value={api}/dev"),
        ],
    );
    assert!(err.contains("(stageKeys) is not supported"), "{err}");
}
