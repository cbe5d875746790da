//! COGNITO_USER_POOLS authorizers end to end: a test issuer (a committed RSA key,
//! node/tests/data/jwt) serves its JWKS over HTTPS on loopback with a certificate of a CA made
//! here, which the node trusts through `[jwt] ca_file`; `[[jwt.issuers]]` points a Cognito
//! user pool ARN at it. The stock `aws` CLI creates the authorizer and methods (with
//! `--authorization-scopes`); tokens signed in the test are admitted or refused through the
//! data plane, and the claims reach an HTTP_PROXY backend through a header mapping.

mod common;
#[path = "support/jwt_issuer.rs"]
mod jwt_issuer;

use common::{parse_response, raw_exchange, Aws, EchoBackend, Response, TestNode};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const POOL: &str = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Test";
use jwt_issuer::{sign, start_issuer, Issuer, ISSUER_PEM, OTHER_PEM};

fn node(issuer: &Issuer) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("issuer-ca.pem");
    std::fs::write(&ca, &issuer.ca_pem).unwrap();
    let p = issuer.port;
    let config = format!(
        "region = \"us-east-1\"\n[jwt]\nca_file = \"{}\"\n[[jwt.issuers]]\nprovider = \"{POOL}\"\nissuer = \"https://127.0.0.1:{p}/pool\"\njwks_url = \"https://127.0.0.1:{p}/jwks.json\"\naudiences = [\"client-a\"]\n",
        ca.display()
    );
    TestNode::start_with_config_in(dir, &config, &[("TOLLGATE_LOG", "warn,openraft=error")])
}

fn send(n: &TestNode, api: &str, method: &str, auth: Option<&str>) -> Response {
    let auth = auth.map_or(String::new(), |t| format!("Authorization: {t}\r\n"));
    let req = format!(
        "{method} /dev/pets HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\nConnection: close\r\nContent-Length: 0\r\n{auth}\r\n"
    );
    parse_response(&raw_exchange(n.data, req.as_bytes())).expect("a response")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn cognito_authorizers_admit_valid_tokens_and_refuse_the_rest() {
    let issuer = start_issuer();
    let n = node(&issuer);
    let aws = Aws::for_node(&n);
    let backend = EchoBackend::start();
    let iss = format!("https://127.0.0.1:{}/pool", issuer.port);
    // Refused at the admin API: a provider this gateway does not understand, a Cognito
    // authorizer with a function URI.
    let api = aws.ok(&["create-rest-api", "--name", "jwt"]);
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    let create = |extra: &[&str]| {
        let mut a = vec![
            "create-authorizer",
            "--rest-api-id",
            &id,
            "--name",
            "pool",
            "--type",
            "COGNITO_USER_POOLS",
            "--identity-source",
            "method.request.header.Authorization",
        ];
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let args = create(&["--provider-arns", "arn:aws:iam::123456789012:user/x"]);
    aws.fails(
        "BadRequestException",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let args = create(&["--provider-arns", POOL, "--authorizer-uri", "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:f/invocations"]);
    aws.fails(
        "BadRequestException",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let args = create(&["--provider-arns", POOL]);
    let authz = aws.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(authz["type"], "COGNITO_USER_POOLS");
    assert_eq!(authz["providerARNs"], json!([POOL]));
    let authz = authz["id"].as_str().unwrap().to_string();
    let pets = aws.ok(&[
        "create-resource",
        "--rest-api-id",
        &id,
        "--parent-id",
        &root,
        "--path-part",
        "pets",
    ])["id"]
        .as_str()
        .unwrap()
        .to_string();
    // GET: identity tokens; POST: access tokens with the scope pets/write.
    for (verb, scopes) in [("GET", None), ("POST", Some("pets/write"))] {
        let mut a = vec![
            "put-method",
            "--rest-api-id",
            &id,
            "--resource-id",
            &pets,
            "--http-method",
            verb,
            "--authorization-type",
            "COGNITO_USER_POOLS",
            "--authorizer-id",
            &authz,
        ];
        if let Some(s) = scopes {
            a.extend_from_slice(&["--authorization-scopes", s]);
        }
        let m = aws.ok(&a);
        assert_eq!(m["authorizationType"], "COGNITO_USER_POOLS");
        let uri = format!("http://{}/echo", backend.addr);
        aws.ok(&[
            "put-integration", "--rest-api-id", &id, "--resource-id", &pets, "--http-method", verb,
            "--type", "HTTP_PROXY", "--integration-http-method", verb, "--uri", &uri,
            "--request-parameters",
            r#"{"integration.request.header.x-email":"context.authorizer.claims.email","integration.request.header.x-sub":"context.authorizer.claims.sub"}"#,
        ]);
    }
    // Scopes on a method of another type are refused.
    aws.fails(
        "BadRequestException",
        &[
            "put-method",
            "--rest-api-id",
            &id,
            "--resource-id",
            &pets,
            "--http-method",
            "PUT",
            "--authorization-type",
            "NONE",
            "--authorization-scopes",
            "x",
        ],
    );
    aws.ok(&[
        "create-deployment",
        "--rest-api-id",
        &id,
        "--stage-name",
        "dev",
    ]);

    let t = now();
    let claims = |patch: Value| {
        let mut c = json!({"iss": iss, "sub": "user-1", "aud": "client-a", "token_use": "id",
                           "email": "a@example.com", "exp": t + 600, "iat": t - 10});
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let good = sign(ISSUER_PEM, "test-rsa-1", &claims(json!({})));
    // The JWKS loads off the request path; until then the method answers 500.
    let start = Instant::now();
    let r = loop {
        let r = send(&n, &id, "GET", Some(&good));
        if r.status != 500 || start.elapsed() > Duration::from_secs(15) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(r.status, 200, "{}", r.text());
    let echo = r.json();
    assert_eq!(echo["headers"]["x-email"], "a@example.com");
    assert_eq!(echo["headers"]["x-sub"], "user-1");
    // With a Bearer prefix too.
    let r = send(&n, &id, "GET", Some(&format!("Bearer {good}")));
    assert_eq!(r.status, 200);
    // Refused with 401.
    let refused = [
        ("no token", None),
        ("garbage", Some("not-a-jwt".to_string())),
        (
            "expired",
            Some(sign(
                ISSUER_PEM,
                "test-rsa-1",
                &claims(json!({"exp": t - 1})),
            )),
        ),
        (
            "not yet valid",
            Some(sign(
                ISSUER_PEM,
                "test-rsa-1",
                &claims(json!({"nbf": t + 600})),
            )),
        ),
        (
            "wrong issuer",
            Some(sign(
                ISSUER_PEM,
                "test-rsa-1",
                &claims(json!({"iss": "https://evil.example"})),
            )),
        ),
        (
            "wrong audience",
            Some(sign(
                ISSUER_PEM,
                "test-rsa-1",
                &claims(json!({"aud": "client-b"})),
            )),
        ),
        (
            "wrongly signed",
            Some(sign(OTHER_PEM, "test-rsa-1", &claims(json!({})))),
        ),
        (
            "access token without scopes on the method",
            Some(sign(
                ISSUER_PEM,
                "test-rsa-1",
                &claims(
                    json!({"token_use": "access", "client_id": "client-a", "scope": "pets/write"}),
                ),
            )),
        ),
    ];
    for (what, token) in &refused {
        let r = send(&n, &id, "GET", token.as_deref());
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert_eq!(r.json()["message"], "Unauthorized", "{what}");
    }
    // Scopes: an access token holding the method's scope is admitted, one without it and an
    // identity token are refused.
    let access = |scope: &str| {
        sign(
            ISSUER_PEM,
            "test-rsa-1",
            &claims(json!({"token_use": "access", "aud": null,
            "client_id": "client-a", "scope": scope})),
        )
    };
    let r = send(&n, &id, "POST", Some(&access("openid pets/write")));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        send(&n, &id, "POST", Some(&access("pets/read"))).status,
        401
    );
    assert_eq!(send(&n, &id, "POST", Some(&good)).status, 401);
    // Unknown kids: refused; the first asks for a fresh JWKS, a flood of them does not
    // hammer the issuer (one fetch per 30 s at most, counted from the last fetch: the
    // refetch comes at most 30 s after the initial load).
    let before = issuer.fetches.load(Ordering::SeqCst);
    for i in 0..20 {
        let bogus = sign(OTHER_PEM, &format!("bogus-{i}"), &claims(json!({})));
        assert_eq!(send(&n, &id, "GET", Some(&bogus)).status, 401);
    }
    let start = Instant::now();
    while issuer.fetches.load(Ordering::SeqCst) == before
        && start.elapsed() < Duration::from_secs(40)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        issuer.fetches.load(Ordering::SeqCst),
        before + 1,
        "one refetch for the flood"
    );
    // Still admitting with the refreshed set.
    assert_eq!(send(&n, &id, "GET", Some(&good)).status, 200);
    // TestInvokeAuthorizer answers the claims.
    let out = aws.ok(&[
        "test-invoke-authorizer",
        "--rest-api-id",
        &id,
        "--authorizer-id",
        &authz,
        "--headers",
        &format!("Authorization={good}"),
    ]);
    assert_eq!(out["clientStatus"], 200, "{out}");
    assert_eq!(out["claims"]["email"], "a@example.com");
}
