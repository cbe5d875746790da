//! `AWS_IAM` authorization: SigV4 verification of a data-plane request alone, and the gateway
//! core's whole decision for a signed request to an `AWS_IAM` method (verification, the
//! user's policy, the method ARN), beside an unsigned one to a `NONE` method with and without
//! a resource policy; and a `CUSTOM` method whose Lambda authorizer's answer is cached (the
//! whole decision: identity header, cache key and lookup, the cached policy evaluated against
//! the method ARN).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::collections::BTreeMap;
use tollgate_node::dataplane::cluster_limits::ClusterLimits;
use tollgate_node::dataplane::core::{
    after_authorizer, decide, AuthorizerAnswer, Decision, WorkerState,
};
use tollgate_node::dataplane::http1::{parse_request_head, RequestHead};
use tollgate_node::dataplane::matcher::Captures;
use tollgate_node::dataplane::request::Request;
use tollgate_node::dataplane::routing::{compile_all, RoutingTable};
use tollgate_node::dataplane::throttle::WorkerLimits;
use tollgate_node::dataplane::usage::UsageCounters;
use tollgate_node::iam::IamEnv;
use tollgate_node::sigv4;
use tollgate_proto::model::{
    AccessKey, AuthorizationType, Authorizer, AuthorizerType, Deployment, IamUser, Integration,
    IntegrationResponse, IntegrationType, Method, Resource, RestApi, Stage,
};
use tollgate_proto::Registry;

const NOW: i64 = 1_767_225_600;
const HOST: &str = "a1b2c3d4e5.execute-api.localhost:8080";

fn registry(api_id: &str, policy: Option<&str>) -> Registry {
    let mock = Integration {
        kind: IntegrationType::Mock,
        integration_responses: BTreeMap::from([(
            "200".into(),
            Box::new(IntegrationResponse {
                status_code: "200".into(),
                ..Default::default()
            }),
        )]),
        ..Default::default()
    };
    let method = |auth| Method {
        http_method: "GET".into(),
        authorization_type: auth,
        integration: Some(mock.clone()),
        ..Default::default()
    };
    let res = |id: &str, m: Option<Method>| Resource {
        id: id.into(),
        parent_id: (id != "root").then(|| "root".into()),
        path_part: if id == "root" {
            String::new()
        } else {
            id.into()
        },
        methods: m
            .map(|m| BTreeMap::from([("GET".into(), Box::new(m))]))
            .unwrap_or_default(),
    };
    let mut api = RestApi {
        id: api_id.into(),
        root_resource_id: "root".into(),
        ..Default::default()
    };
    api.settings.policy = policy.map(str::to_string);
    api.deployments.insert(
        "d".into(),
        Deployment {
            id: "d".into(),
            root_resource_id: "root".into(),
            resources: BTreeMap::from([
                ("root".into(), res("root", None)),
                (
                    "pets".into(),
                    res("pets", Some(method(AuthorizationType::AwsIam))),
                ),
                (
                    "open".into(),
                    res("open", Some(method(AuthorizationType::None))),
                ),
                (
                    "custom".into(),
                    res(
                        "custom",
                        Some(Method {
                            authorizer_id: Some("tok".into()),
                            ..method(AuthorizationType::Custom)
                        }),
                    ),
                ),
            ]).into(),
            authorizers: BTreeMap::from([(
                "tok".into(),
                Authorizer {
                    id: "tok".into(),
                    name: "tok".into(),
                    kind: AuthorizerType::Token,
                    provider_arns: Vec::new(),
                    auth_type: None,
                    authorizer_uri: Some("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:auth/invocations".into()),
                    authorizer_credentials: None,
                    identity_source: Some("method.request.header.Authorization".into()),
                    identity_validation_expression: Some("Bearer [A-Za-z0-9._-]+".into()),
                    authorizer_result_ttl_in_seconds: 300,
                },
            )]),
            ..Default::default()
        },
    );
    api.stages.insert(
        "prod".into(),
        Stage {
            stage_name: "prod".into(),
            deployment_id: "d".into(),
            ..Default::default()
        },
    );
    let mut reg = Registry::default();
    reg.apis.insert(api_id.into(), api.into());
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:a1b2c3d4e5/*/GET/*"},
        {"Effect":"Deny","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:a1b2c3d4e5/*/DELETE/*"}]}"#;
    reg.iam.users.insert(
        "alice".into(),
        IamUser {
            name: "alice".into(),
            id: "AIDAALICE".into(),
            path: "/".into(),
            created_date: 0,
            policies: BTreeMap::from([("p".into(), policy.into())]),
        },
    );
    // 10,000 keys, as a large account might hold.
    for i in 0..10_000 {
        let id = format!("AKIA{i:016}");
        reg.iam.access_keys.insert(
            id.clone(),
            AccessKey {
                id,
                secret: format!("secret-{i:034}"),
                user_name: "alice".into(),
                active: true,
                ..Default::default()
            },
        );
    }
    reg
}

fn signed_head(path: &str) -> String {
    let creds = sigv4::Credentials {
        access_key_id: format!("AKIA{:016}", 4242),
        secret_access_key: format!("secret-{:034}", 4242),
    };
    let headers = vec![
        ("Host".to_string(), HOST.to_string()),
        ("User-Agent".to_string(), "bench".to_string()),
        ("Accept".to_string(), "application/json".to_string()),
    ];
    let req = sigv4::Request {
        method: "GET",
        path,
        query: "",
        headers: &headers,
        body: b"",
    };
    let mut raw = format!("GET {path} HTTP/1.1\r\n");
    for (k, v) in
        headers
            .iter()
            .cloned()
            .chain(sigv4::sign(&req, &creds, "us-east-1", "execute-api", NOW))
    {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    raw
}

fn bench(c: &mut Criterion) {
    let cluster = ClusterLimits::new(1);
    let plain = compile_all(&registry("a1b2c3d4e5", None), &cluster);
    let ip_policy = r#"{"Statement":[
        {"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*"},
        {"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*",
         "Condition":{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","198.51.100.0/24"]}}}]}"#;
    let with_policy = compile_all(&registry("a1b2c3d4e5", Some(ip_policy)), &cluster);
    let iam = IamEnv::default();

    let signed = signed_head("/prod/pets");
    let mut head = RequestHead::default();
    parse_request_head(signed.as_bytes(), &mut head).unwrap();
    let owned: Vec<(String, String)> = signed
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    c.bench_function("sigv4 verify: signed GET (header form, execute-api)", |b| {
        b.iter(|| {
            let req = sigv4::Request {
                method: "GET",
                path: "/prod/pets",
                query: "",
                headers: &owned,
                body: b"",
            };
            let key = sigv4::verify(
                black_box(&req),
                |k| plain.iam.get(k).map(|i| i.secret.to_string()),
                None,
                "execute-api",
                NOW,
            );
            assert!(key.is_ok());
        })
    });

    let mut limits = WorkerLimits::new(0, 1);
    let mut usage = UsageCounters::new(0, None);
    let mut auth = Default::default();
    // A CUSTOM method: the first decision asks for the authorizer; its answer (an Allow of
    // GET on the stage, with a context) is cached, and every later decision uses it.
    let custom = format!(
        "GET /prod/custom HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: bench\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig\r\n\r\n"
    );
    let mut custom_head = RequestHead::default();
    parse_request_head(custom.as_bytes(), &mut custom_head).unwrap();
    {
        let req = Request {
            buf: custom.as_bytes(),
            head: &custom_head,
            method: "GET",
            path: "/prod/custom",
            query: "",
            body: &[],
            peer: std::net::IpAddr::from([10, 0, 0, 1]),
            tls: None,
        };
        let mut st = WorkerState {
            limits: &mut limits,
            usage: &mut usage,
            account: None,
            workers: 1,
            iam: &iam,
            wall_secs: NOW,
            auth: &mut auth,
            authorized: None,
        };
        let stamp = tollgate_node::dataplane::mapping::Stamp {
            request_id: "bench",
            epoch_ms: 0,
            account: "123456789012",
        };
        let Decision::Authorize(plan) = decide(
            &plain,
            &req,
            &mut st,
            1,
            &stamp,
            &mut Captures::default(),
            &mut Vec::new(),
        ) else {
            panic!("the authorizer is called first");
        };
        let answer = br#"{"principalId":"user-1","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn:aws:execute-api:*:*:a1b2c3d4e5/prod/GET/*"}]},"context":{"tier":"gold","n":7}}"#;
        assert!(matches!(
            after_authorizer(&plan, Ok(answer.to_vec()), &mut auth, 1),
            AuthorizerAnswer::Answered(_)
        ));
    }
    let mut run = |table: &RoutingTable, raw: &str, head: &RequestHead, path: &str| {
        let req = Request {
            buf: raw.as_bytes(),
            head,
            method: "GET",
            path,
            query: "",
            body: &[],
            peer: std::net::IpAddr::from([10, 0, 0, 1]),
            tls: None,
        };
        let mut st = WorkerState {
            limits: &mut limits,
            usage: &mut usage,
            account: None,
            workers: 1,
            iam: &iam,
            wall_secs: NOW,
            auth: &mut auth,
            authorized: None,
        };
        let mut caps = Captures::default();
        let stamp = tollgate_node::dataplane::mapping::Stamp {
            request_id: "bench",
            epoch_ms: 0,
            account: "123456789012",
        };
        matches!(
            decide(table, &req, &mut st, 1, &stamp, &mut caps, &mut Vec::new()),
            Decision::Mock(_)
        )
    };
    assert!(run(&plain, &signed, &head, "/prod/pets"));
    c.bench_function(
        "core decide: AWS_IAM GET, signed (user policy, 10k keys)",
        |b| b.iter(|| assert!(run(&plain, black_box(&signed), &head, "/prod/pets"))),
    );
    assert!(run(&plain, &custom, &custom_head, "/prod/custom"));
    c.bench_function(
        "core decide: CUSTOM GET, Lambda authorizer answer cached (TOKEN, validation regex)",
        |b| {
            b.iter(|| {
                assert!(run(
                    &plain,
                    black_box(&custom),
                    &custom_head,
                    "/prod/custom"
                ))
            })
        },
    );
    let open = format!("GET /prod/open HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: bench\r\n\r\n");
    let mut open_head = RequestHead::default();
    parse_request_head(open.as_bytes(), &mut open_head).unwrap();
    assert!(run(&plain, &open, &open_head, "/prod/open"));
    assert!(run(&with_policy, &open, &open_head, "/prod/open"));
    c.bench_function("core decide: NONE GET, no resource policy", |b| {
        b.iter(|| assert!(run(&plain, black_box(&open), &open_head, "/prod/open")))
    });
    c.bench_function(
        "core decide: NONE GET, resource policy (2 statements, IP condition)",
        |b| {
            b.iter(|| {
                assert!(run(
                    &with_policy,
                    black_box(&open),
                    &open_head,
                    "/prod/open"
                ))
            })
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
