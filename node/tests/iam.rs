//! `AWS_IAM` end to end on one node: users, keys and policies made with the stock `aws iam`
//! CLI on the admin port; data-plane requests signed by botocore's `SigV4Auth` (a client
//! nobody here wrote) admitted, tampered ones refused as AWS refuses them, a user policy's
//! Deny and a resource policy's source-IP Deny refusing, a deleted key refused at once.

mod common;

use common::{
    aws_as, aws_iam, botocore_invoke, iam_api, EchoBackend, TestNode, ACCESS_KEY, SECRET_KEY,
};
use serde_json::{json, Value};

fn answer_message(a: &Value) -> String {
    serde_json::from_str::<Value>(a["body"].as_str().unwrap_or("{}")).unwrap_or(Value::Null)
        ["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn aws_iam_with_the_aws_cli_and_botocore() {
    let backend = EchoBackend::start();
    let node = TestNode::start(&[]);
    let api = iam_api(&node, backend.addr);
    let base = format!("http://{}/restapis/{api}/prod/_user_request_", node.data);

    // Identities through `aws iam`.
    let user = aws_iam(&node, &["create-user", "--user-name", "alice"]).unwrap();
    assert_eq!(user["User"]["Arn"], "arn:aws:iam::000000000000:user/alice");
    assert!(aws_iam(&node, &["create-user", "--user-name", "alice"])
        .unwrap_err()
        .contains("EntityAlreadyExists"));
    let key = aws_iam(&node, &["create-access-key", "--user-name", "alice"]).unwrap();
    let (key_id, secret) = (
        key["AccessKey"]["AccessKeyId"]
            .as_str()
            .unwrap()
            .to_string(),
        key["AccessKey"]["SecretAccessKey"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    assert!(key_id.starts_with("AKIA") && secret.len() == 40, "{key}");
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": format!("arn:aws:execute-api:*:*:{api}/*")},
            {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": format!("arn:aws:execute-api:*:*:{api}/*/POST/*")}
        ]
    })
    .to_string();
    aws_iam(
        &node,
        &[
            "put-user-policy",
            "--user-name",
            "alice",
            "--policy-name",
            "invoke",
            "--policy-document",
            &policy,
        ],
    )
    .unwrap();
    let got = aws_iam(
        &node,
        &[
            "get-user-policy",
            "--user-name",
            "alice",
            "--policy-name",
            "invoke",
        ],
    )
    .unwrap();
    assert_eq!(
        got["PolicyDocument"],
        serde_json::from_str::<Value>(&policy).unwrap()
    );
    let keys = aws_iam(&node, &["list-access-keys", "--user-name", "alice"]).unwrap();
    assert_eq!(keys["AccessKeyMetadata"][0]["AccessKeyId"], key_id.as_str());
    assert!(
        keys["AccessKeyMetadata"][0]
            .get("SecretAccessKey")
            .is_none(),
        "secrets are shown once"
    );
    let users = aws_iam(&node, &["list-users"]).unwrap();
    assert_eq!(users["Users"][0]["UserName"], "alice");
    assert!(aws_iam(&node, &["put-user-policy", "--user-name", "alice", "--policy-name", "bad", "--policy-document", "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{\"StringLike\":{\"aws:UserAgent\":\"x\"}}}]}"])
        .unwrap_err()
        .contains("MalformedPolicyDocument"));

    let alice = |method: &str, path: &str, body: &str, tamper: Value| {
        json!({"url": format!("{base}{path}"), "method": method, "body": body,
               "key": key_id, "secret": secret, "tamper": tamper})
    };
    let answers = botocore_invoke(&json!([
        alice("GET", "/pets", "", Value::Null),
        alice("GET", "/pets", "", json!("header")),
        alice("POST", "/pets", "{\"a\":1}", Value::Null),
        {"url": format!("{base}/pets"), "method": "POST", "body": "{\"a\":1}",
         "key": ACCESS_KEY, "secret": SECRET_KEY},
        {"url": format!("{base}/pets"), "method": "POST", "body": "{\"a\":1}",
         "key": ACCESS_KEY, "secret": SECRET_KEY, "tamper": "body"},
        {"url": format!("{base}/pets"), "method": "GET"},
        {"url": format!("{base}/pets"), "method": "GET", "key": key_id, "secret": "wrong"},
    ]));
    // Signed by alice: admitted, and the backend is told who called.
    assert_eq!(answers[0]["status"], 200, "{}", answers[0]);
    let echo: Value = serde_json::from_str(answers[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        echo["headers"]["x-caller-arn"],
        "arn:aws:iam::000000000000:user/alice"
    );
    assert_eq!(echo["headers"]["x-access-key"], key_id.as_str());
    // Tampered after signing: refused.
    assert_eq!(answers[1]["status"], 403);
    assert_eq!(
        answers[1]["headers"]["x-amzn-errortype"],
        "InvalidSignatureException"
    );
    assert!(answer_message(&answers[1]).starts_with("The request signature we calculated"));
    // alice's policy denies POST explicitly.
    assert_eq!(answers[2]["status"], 403);
    assert_eq!(
        answers[2]["headers"]["x-amzn-errortype"],
        "AccessDeniedException"
    );
    assert_eq!(
        answer_message(&answers[2]),
        format!("User: arn:aws:iam::000000000000:user/alice is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:000000000000:{api}/prod/POST/pets with an explicit deny")
    );
    // The admin credentials are the root identity: allowed; with the body changed, refused.
    assert_eq!(answers[3]["status"], 200, "{}", answers[3]);
    let echo: Value = serde_json::from_str(answers[3]["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        echo["headers"]["x-caller-arn"],
        "arn:aws:iam::000000000000:root"
    );
    assert_eq!(answers[4]["status"], 403);
    assert_eq!(
        answers[4]["headers"]["x-amzn-errortype"],
        "InvalidSignatureException"
    );
    // Unsigned, and signed with the wrong secret.
    assert_eq!(answers[5]["status"], 403);
    assert_eq!(
        answers[5]["headers"]["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    assert_eq!(answer_message(&answers[5]), "Missing Authentication Token");
    assert_eq!(answers[6]["status"], 403);
    assert_eq!(
        answers[6]["headers"]["x-amzn-errortype"],
        "InvalidSignatureException"
    );

    // A resource policy denying the client's address (127.0.0.1) refuses every method, the
    // unauthenticated one included, and the root identity too.
    let resource_policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
            {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
             "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8"]}}}
        ]
    })
    .to_string();
    let (status, v) = node.admin_sdk(
        "PATCH",
        &format!("/restapis/{api}"),
        Some(json!({"patchOperations": [{"op": "replace", "path": "/policy", "value": "{\"Statement\":[{\"Effect\":\"Allow\"}]}"}]})),
    );
    assert_eq!(status, 400, "a policy that does not parse is refused: {v}");
    let v = node.admin_sdk_ok(
        "PATCH",
        &format!("/restapis/{api}"),
        Some(json!({"patchOperations": [{"op": "replace", "path": "/policy", "value": resource_policy}]})),
    );
    assert_eq!(v["policy"], resource_policy.as_str());
    let open = node.get(
        "localhost",
        &format!("/restapis/{api}/prod/_user_request_/open"),
    );
    assert_eq!(open.status, 403);
    assert_eq!(
        open.header("x-amzn-ErrorType"),
        Some("AccessDeniedException")
    );
    let answers = botocore_invoke(&json!([
        alice("GET", "/pets", "", Value::Null),
        {"url": format!("{base}/pets"), "method": "GET", "key": ACCESS_KEY, "secret": SECRET_KEY},
    ]));
    for a in &answers {
        assert_eq!(a["status"], 403, "{a}");
        assert!(answer_message(a).ends_with("with an explicit deny"), "{a}");
    }
    // Without the policy, the open method is open again.
    node.admin_sdk_ok(
        "PATCH",
        &format!("/restapis/{api}"),
        Some(json!({"patchOperations": [{"op": "remove", "path": "/policy"}]})),
    );
    let open = node.get(
        "localhost",
        &format!("/restapis/{api}/prod/_user_request_/open"),
    );
    assert_eq!(open.status, 200);

    // Temporary credentials from STS GetSessionToken, signed by alice's own key: they carry
    // her policies and need their session token.
    assert!(aws_as(
        &node,
        (ACCESS_KEY, SECRET_KEY),
        &["sts", "get-session-token"]
    )
    .unwrap_err()
    .contains("AccessDenied"));
    let temp = aws_as(
        &node,
        (&key_id, &secret),
        &["sts", "get-session-token", "--duration-seconds", "900"],
    )
    .unwrap()["Credentials"]
        .clone();
    let (tid, tsecret, token) = (
        temp["AccessKeyId"].as_str().unwrap(),
        temp["SecretAccessKey"].as_str().unwrap(),
        temp["SessionToken"].as_str().unwrap(),
    );
    assert!(tid.starts_with("ASIA"), "{temp}");
    let temp_req = |token: Value| json!({"url": format!("{base}/pets"), "method": "GET", "key": tid, "secret": tsecret, "token": token});
    let answers = botocore_invoke(&json!([temp_req(json!(token)), temp_req(Value::Null)]));
    assert_eq!(answers[0]["status"], 200, "{}", answers[0]);
    assert_eq!(answers[1]["status"], 403);
    assert_eq!(
        answers[1]["headers"]["x-amzn-errortype"],
        "UnrecognizedClientException"
    );
    let keys = aws_iam(&node, &["list-access-keys", "--user-name", "alice"]).unwrap();
    assert_eq!(
        keys["AccessKeyMetadata"].as_array().unwrap().len(),
        1,
        "temporary keys are not listed"
    );

    // A deleted key is refused at once (the write is answered once the workers have it).
    aws_iam(
        &node,
        &[
            "delete-access-key",
            "--user-name",
            "alice",
            "--access-key-id",
            &key_id,
        ],
    )
    .unwrap();
    let answers = botocore_invoke(&json!([alice("GET", "/pets", "", Value::Null)]));
    assert_eq!(answers[0]["status"], 403);
    assert_eq!(
        answers[0]["headers"]["x-amzn-errortype"],
        "UnrecognizedClientException"
    );
    assert!(aws_iam(&node, &["delete-user", "--user-name", "alice"])
        .unwrap_err()
        .contains("DeleteConflict"));
    aws_iam(
        &node,
        &[
            "delete-user-policy",
            "--user-name",
            "alice",
            "--policy-name",
            "invoke",
        ],
    )
    .unwrap();
    aws_iam(&node, &["delete-user", "--user-name", "alice"]).unwrap();
    assert!(aws_iam(&node, &["get-user", "--user-name", "alice"])
        .unwrap_err()
        .contains("NoSuchEntity"));
}
