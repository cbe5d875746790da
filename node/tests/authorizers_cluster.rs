//! Authorizers on a 3-node cluster (issue 16's "all on a 3-node cluster"): one API, configured
//! through one node with the stock `aws` CLI, whose TOKEN and REQUEST Lambda authorizers (real
//! Python functions every node runs, node/tests/data/authorizers) and COGNITO_USER_POOLS
//! authorizer (a test issuer's JWKS over HTTPS, node/tests/support/jwt_issuer.rs) admit and
//! refuse on every node; on each, a cached Allow for method A does not admit method B.

mod common;
#[path = "support/jwt_issuer.rs"]
mod jwt_issuer;

use common::{
    admin_call, cluster, parse_response, raw_exchange, Aws, Response, TestNode, SECRET_KEY,
};
use jwt_issuer::{sign, start_issuer, Issuer, ISSUER_PEM, OTHER_PEM};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const POOL: &str = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Cluster";
const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function";

fn uri(function: &str) -> String {
    format!("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{ARN}:{function}/invocations")
}

/// Three nodes, each running the test authorizer functions and trusting the test issuer.
fn start_cluster(root: &Path, issuer: &Issuer) -> Vec<TestNode> {
    require_awslambdaric();
    let issuer_ca = root.join("issuer-ca.pem");
    std::fs::write(&issuer_ca, &issuer.ca_pem).unwrap();
    let code = format!("{}/tests/data/authorizers", env!("CARGO_MANIFEST_DIR"));
    let p = issuer.port;
    let mut top = String::from("region = \"us-east-1\"\n\n");
    for (name, handler) in [
        ("tokauth", "authorizers.token"),
        ("reqauth", "authorizers.request"),
        ("backend", "authorizers.backend"),
    ] {
        top.push_str(&format!(
            "[[functions]]\nname = \"{name}\"\nhandler = \"{handler}\"\ncode = \"{code}\"\ntimeout_secs = 5\nconcurrency = 2\n\n"
        ));
    }
    top.push_str(&format!(
        "[jwt]\nca_file = {:?}\n[[jwt.issuers]]\nprovider = \"{POOL}\"\nissuer = \"https://127.0.0.1:{p}/pool\"\njwks_url = \"https://127.0.0.1:{p}/jwks.json\"\n",
        issuer_ca.display().to_string()
    ));
    cluster::configure(root, |_| cluster::Extra {
        top: top.clone(),
        ..Default::default()
    })
    .into_iter()
    .map(|n| n.spawn(&[("TOLLGATE_LOG", "warn,openraft=error")]))
    .collect()
}

fn require_awslambdaric() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import awslambdaric"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "Python's awslambdaric is not installed; install it with `python3 -m pip install awslambdaric`");
}

fn wait_leader(nodes: &[TestNode]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let leaders: Vec<Option<u64>> = nodes
            .iter()
            .map(|n| {
                admin_call(n.admin, "GET", "/_tollgate/cluster", None, SECRET_KEY).1["leader"]
                    .as_u64()
            })
            .collect();
        if leaders[0].is_some() && leaders.iter().all(|l| *l == leaders[0]) {
            return;
        }
        assert!(Instant::now() < deadline, "no common leader: {leaders:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn send(n: &TestNode, api: &str, target: &str, head: &str) -> Response {
    let req = format!(
        "GET /dev{target} HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\nConnection: close\r\n{head}\r\n"
    );
    parse_response(&raw_exchange(n.data, req.as_bytes())).expect("a response")
}

#[test]
fn lambda_and_jwt_authorizers_admit_and_refuse_on_every_node() {
    let issuer = start_issuer();
    let root = tempfile::tempdir().unwrap();
    let nodes = start_cluster(root.path(), &issuer);
    wait_leader(&nodes);
    // Configured through the third node.
    let aws = Aws::for_node(&nodes[2]);
    let api = aws.ok(&["create-rest-api", "--name", "authz-cluster"]);
    let id = api["id"].as_str().unwrap().to_string();
    let root_id = api["rootResourceId"].as_str().unwrap().to_string();
    let authorizer = |name: &str, kind: &str, extra: &[&str]| {
        let mut a = vec![
            "create-authorizer",
            "--rest-api-id",
            &id,
            "--name",
            name,
            "--type",
            kind,
        ];
        a.extend_from_slice(extra);
        aws.ok(&a)["id"].as_str().unwrap().to_string()
    };
    let tok_uri = uri("tokauth");
    let req_uri = uri("reqauth");
    let tok = authorizer(
        "tok",
        "TOKEN",
        &[
            "--authorizer-uri",
            &tok_uri,
            "--identity-source",
            "method.request.header.Authorization",
            "--authorizer-result-ttl-in-seconds",
            "300",
        ],
    );
    let req = authorizer(
        "req",
        "REQUEST",
        &[
            "--authorizer-uri",
            &req_uri,
            "--identity-source",
            "method.request.header.X-User,method.request.querystring.tenant",
        ],
    );
    let jwt = authorizer(
        "pool",
        "COGNITO_USER_POOLS",
        &[
            "--provider-arns",
            POOL,
            "--identity-source",
            "method.request.header.Authorization",
        ],
    );
    let backend = uri("backend");
    for (part, kind, authz) in [
        ("a", "CUSTOM", &tok),
        ("b", "CUSTOM", &tok),
        ("r", "CUSTOM", &req),
        ("j", "COGNITO_USER_POOLS", &jwt),
    ] {
        let res = aws.ok(&[
            "create-resource",
            "--rest-api-id",
            &id,
            "--parent-id",
            &root_id,
            "--path-part",
            part,
        ])["id"]
            .as_str()
            .unwrap()
            .to_string();
        aws.ok(&[
            "put-method",
            "--rest-api-id",
            &id,
            "--resource-id",
            &res,
            "--http-method",
            "GET",
            "--authorization-type",
            kind,
            "--authorizer-id",
            authz,
        ]);
        aws.ok(&[
            "put-integration",
            "--rest-api-id",
            &id,
            "--resource-id",
            &res,
            "--http-method",
            "GET",
            "--type",
            "AWS_PROXY",
            "--integration-http-method",
            "POST",
            "--uri",
            &backend,
        ]);
    }
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &id,
        "--stage-name",
        "dev",
    ]);

    let iss = format!("https://127.0.0.1:{}/pool", issuer.port);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({"iss": iss, "sub": "user-1", "aud": "c", "token_use": "id",
                        "email": "a@example.com", "exp": t + 600});
    let good = sign(ISSUER_PEM, "test-rsa-1", &claims);
    let forged = sign(OTHER_PEM, "test-rsa-1", &claims);
    let mut expired = claims.clone();
    expired["exp"] = json!(t - 1);
    let expired = sign(ISSUER_PEM, "test-rsa-1", &expired);
    let auth = |t: &str| format!("Authorization: {t}\r\n");
    for (i, n) in nodes.iter().enumerate() {
        // The deployment and the issuer's keys reach every node.
        let start = Instant::now();
        let r = loop {
            let r = send(n, &id, "/j", &auth(&format!("Bearer {good}")));
            if r.status == 200 || start.elapsed() > Duration::from_secs(30) {
                break r;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(r.status, 200, "node {i}: {}", r.text());
        let body: Value = r.json();
        assert_eq!(
            body["authorizer"]["claims"]["email"], "a@example.com",
            "node {i}: {body}"
        );
        assert_eq!(
            send(n, &id, "/j", &auth(&forged)).status,
            401,
            "node {i}: forged"
        );
        assert_eq!(
            send(n, &id, "/j", &auth(&expired)).status,
            401,
            "node {i}: expired"
        );
        assert_eq!(send(n, &id, "/j", "").status, 401, "node {i}: no token");
        // TOKEN: allowed on /a (its answer cached for the exact method ARN)...
        let r = send(n, &id, "/a", &auth("Bearer allow"));
        assert_eq!(r.status, 200, "node {i}: {}", r.text());
        assert_eq!(r.json()["authorizer"]["principalId"], "alice");
        // ...and the cached Allow for /a does not admit /b.
        assert_eq!(
            send(n, &id, "/b", &auth("Bearer allow")).status,
            403,
            "node {i}: cached Allow for /a on /b"
        );
        assert_eq!(
            send(n, &id, "/a", &auth("Bearer deny")).status,
            403,
            "node {i}: deny"
        );
        assert_eq!(
            send(n, &id, "/a", &auth("Bearer unauthorized")).status,
            401,
            "node {i}"
        );
        assert_eq!(send(n, &id, "/a", "").status, 401, "node {i}: no token");
        // REQUEST: both identity sources, and the function's answer.
        assert_eq!(
            send(n, &id, "/r?tenant=t1", "X-User: u1\r\n").status,
            200,
            "node {i}"
        );
        assert_eq!(
            send(n, &id, "/r?tenant=t2", "X-User: u1\r\n").status,
            403,
            "node {i}"
        );
        assert_eq!(
            send(n, &id, "/r", "X-User: u1\r\n").status,
            401,
            "node {i}: missing source"
        );
    }
}
