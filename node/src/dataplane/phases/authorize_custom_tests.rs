//! `CUSTOM` methods through the core, the shell's part played by the test: identity checks
//! before any call, the authorizer's event, its answer read and cached, the cached policy
//! re-checked against each request's method ARN, every refusal, and the API key taken from
//! `usageIdentifierKey`.

use crate::dataplane::cluster_limits::ClusterLimits;
use crate::dataplane::core::{
    after_authorizer, decide, AuthorizePlan, AuthorizerAnswer, Decision, WorkerState,
};
use crate::dataplane::http1::{parse_request_head, RequestHead};
use crate::dataplane::matcher::Captures;
use crate::dataplane::phases::authorize::AuthScratch;
use crate::dataplane::request::Request;
use crate::dataplane::routing::{compile_all, RoutingTable};
use crate::dataplane::throttle::WorkerLimits;
use crate::dataplane::usage::UsageCounters;
use crate::functions::{InvokeError, InvokeResult};
use crate::iam::IamEnv;
use serde_json::Value;
use std::collections::BTreeMap;
use tollgate_proto::model::{
    ApiKey, ApiKeySource, ApiStage, AuthorizationType, Authorizer, AuthorizerType, Deployment,
    Integration, IntegrationType, Method, Resource, RestApi, Stage, UsagePlan,
};
use tollgate_proto::{Command, Registry};

const FN: &str = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:auth/invocations";
const KEY: &str = "usage-key-0123456789abcdef";

fn registry(key_source: ApiKeySource) -> Registry {
    let method = |verb: &str, authorizer: &str, key_required: bool| Method {
        http_method: verb.into(),
        authorization_type: AuthorizationType::Custom,
        authorizer_id: Some(authorizer.into()),
        api_key_required: key_required,
        integration: Some(Integration {
            kind: IntegrationType::HttpProxy,
            http_method: Some("ANY".into()),
            uri: Some("http://127.0.0.1:9/".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let resource = |id: &str, methods: Vec<Method>| Resource {
        id: id.into(),
        parent_id: (id != "root").then(|| "root".into()),
        path_part: if id == "root" {
            String::new()
        } else {
            id.into()
        },
        methods: methods
            .into_iter()
            .map(|m| (m.http_method.clone(), Box::new(m)))
            .collect(),
    };
    let authorizer = |id: &str, kind, source: &str, ttl| Authorizer {
        id: id.into(),
        name: id.into(),
        kind,
        provider_arns: Vec::new(),
        auth_type: None,
        authorizer_uri: Some(FN.into()),
        authorizer_credentials: None,
        identity_source: Some(source.into()),
        identity_validation_expression: (kind == AuthorizerType::Token).then(|| "Bearer .+".into()),
        authorizer_result_ttl_in_seconds: ttl,
    };
    let dep = Deployment {
        id: "d1".into(),
        root_resource_id: "root".into(),
        resources: BTreeMap::from([
            ("root".into(), resource("root", vec![])),
            (
                "pets".into(),
                resource(
                    "pets",
                    vec![method("GET", "tok", false), method("POST", "tok", false)],
                ),
            ),
            (
                "req".into(),
                resource("req", vec![method("GET", "req", false)]),
            ),
            (
                "keyed".into(),
                resource("keyed", vec![method("GET", "tok", true)]),
            ),
        ])
        .into(),
        authorizers: BTreeMap::from([
            (
                "tok".into(),
                authorizer(
                    "tok",
                    AuthorizerType::Token,
                    "method.request.header.Authorization",
                    300,
                ),
            ),
            (
                "req".into(),
                authorizer(
                    "req",
                    AuthorizerType::Request,
                    "method.request.header.X-User, method.request.querystring.tenant",
                    0,
                ),
            ),
        ]),
        ..Default::default()
    };
    let mut api = RestApi {
        id: "api1".into(),
        root_resource_id: "root".into(),
        ..Default::default()
    };
    api.settings.api_key_source = key_source.into();
    api.deployments.insert("d1".into(), dep);
    api.stages.insert(
        "prod".into(),
        Stage {
            stage_name: "prod".into(),
            deployment_id: "d1".into(),
            ..Default::default()
        },
    );
    let mut reg = Registry::default();
    reg.apis.insert("api1".into(), api.into());
    for cmd in [
        Command::CreateApiKey {
            key: ApiKey {
                id: "k1".into(),
                value: KEY.into(),
                enabled: true,
                ..Default::default()
            },
        },
        Command::CreateUsagePlan {
            plan: UsagePlan {
                id: "p1".into(),
                name: "p".into(),
                api_stages: vec![ApiStage {
                    api_id: "api1".into(),
                    stage: "prod".into(),
                    throttle: BTreeMap::new(),
                }],
                ..Default::default()
            },
        },
        Command::CreateUsagePlanKey {
            plan_id: "p1".into(),
            key_id: "k1".into(),
        },
    ] {
        reg.apply(&cmd).unwrap();
    }
    reg
}

/// What the core decided, in short.
#[derive(Debug, PartialEq)]
enum Got {
    /// The backend is called, with the authorizer's principal.
    Proxied(Option<String>),
    /// The authorizer must be called with this event.
    Call(Value),
    /// Refused: type, status, message.
    Refused(&'static str, u16, String),
}

struct Fixture {
    table: RoutingTable,
    env: IamEnv,
    auth: AuthScratch,
    limits: WorkerLimits,
    usage: UsageCounters,
}

impl Fixture {
    fn new(key_source: ApiKeySource) -> Fixture {
        Fixture {
            table: compile_all(&registry(key_source), &ClusterLimits::new(1)),
            env: IamEnv::new(None, "000000000000", Vec::new()),
            auth: AuthScratch::default(),
            limits: WorkerLimits::new(0, 1),
            usage: UsageCounters::new(0, None),
        }
    }

    /// Sends `verb target` with `headers` at `now_ns`; when the authorizer must be called,
    /// answers with `answer` (as the shell would) and decides again. Returns what the first
    /// decision was and, after a call, what the second was.
    fn send(
        &mut self,
        verb: &str,
        target: &str,
        headers: &[(&str, &str)],
        now_ns: u64,
        answer: impl FnOnce() -> InvokeResult,
    ) -> (Got, Option<Got>) {
        let mut raw = format!("{verb} {target} HTTP/1.1\r\nHost: api1.execute-api.localhost\r\n");
        for (n, v) in headers {
            raw.push_str(&format!("{n}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        let mut head = RequestHead::default();
        assert!(parse_request_head(raw.as_bytes(), &mut head).unwrap());
        let buf = raw.as_bytes();
        let text = |r: std::ops::Range<usize>| std::str::from_utf8(&buf[r]).unwrap();
        let req = Request {
            buf,
            head: &head,
            method: text(head.method.clone()),
            path: text(head.path.clone()),
            query: text(head.query.clone()),
            body: &[],
            peer: "10.0.0.1".parse().unwrap(),
            tls: None,
        };
        let stamp = crate::dataplane::mapping::Stamp {
            request_id: "req-1",
            epoch_ms: 0,
            account: "123456789012",
        };
        let table = &self.table;
        let run = |auth: &mut AuthScratch,
                   limits: &mut WorkerLimits,
                   usage: &mut UsageCounters,
                   authorized| {
            let mut st = WorkerState {
                limits,
                usage,
                account: None,
                workers: 1,
                iam: &self.env,
                wall_secs: 0,
                auth,
                authorized,
            };
            let mut caps = Captures::default();
            match decide(
                table,
                &req,
                &mut st,
                now_ns,
                &stamp,
                &mut caps,
                &mut Vec::new(),
            ) {
                Decision::Proxy(p) => (
                    Got::Proxied(p.authorizer.map(|a| a.principal_id.to_string())),
                    None,
                ),
                Decision::Authorize(AuthorizePlan {
                    authorizer,
                    event,
                    key,
                    stage,
                    method,
                }) => (
                    Got::Call(serde_json::from_slice(&event).unwrap()),
                    Some(AuthorizePlan {
                        authorizer,
                        event,
                        key,
                        stage,
                        method,
                    }),
                ),
                Decision::Refuse(r) => (
                    Got::Refused(
                        r.refusal.kind.as_str(),
                        r.refusal.status,
                        r.message.unwrap_or_else(|| r.refusal.message.to_string()),
                    ),
                    None,
                ),
                Decision::Mock(_) | Decision::Lambda(_) => panic!("an HTTP_PROXY"),
            }
        };
        let (first, plan) = run(&mut self.auth, &mut self.limits, &mut self.usage, None);
        let Some(plan) = plan else {
            return (first, None);
        };
        let second = match after_authorizer(&plan, answer(), &mut self.auth, now_ns) {
            AuthorizerAnswer::Answered(a) => {
                run(&mut self.auth, &mut self.limits, &mut self.usage, Some(a)).0
            }
            AuthorizerAnswer::Refuse(r) => Got::Refused(
                r.refusal.kind.as_str(),
                r.refusal.status,
                r.message.unwrap_or_else(|| r.refusal.message.to_string()),
            ),
        };
        (first, Some(second))
    }
}

fn allow(principal: &str, resource: &str, extra: &str) -> InvokeResult {
    Ok(format!(
        r#"{{"principalId":"{principal}","policyDocument":{{"Version":"2012-10-17","Statement":[{{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"{resource}"}}]}}{extra}}}"#
    )
    .into_bytes())
}

fn never() -> InvokeResult {
    panic!("the authorizer must not be called")
}

const GET_PETS: &str = "arn:aws:execute-api:us-east-1:000000000000:api1/prod/GET/pets";

fn unauthorized() -> Got {
    Got::Refused("UNAUTHORIZED", 401, "Unauthorized".into())
}

#[test]
fn token_authorizer_checks_then_calls_then_caches() {
    let mut fx = Fixture::new(ApiKeySource::Header);
    let bearer = [("Authorization", "Bearer alice")];
    // No identity, or a token that fails the validation expression: 401, nothing called.
    assert_eq!(
        fx.send("GET", "/prod/pets", &[], 0, never),
        (unauthorized(), None)
    );
    let (got, _) = fx.send("GET", "/prod/pets", &[("Authorization", "")], 0, never);
    assert_eq!(got, unauthorized());
    let (got, _) = fx.send(
        "GET",
        "/prod/pets",
        &[("Authorization", "Basic x")],
        0,
        never,
    );
    assert_eq!(got, unauthorized());
    // Called with AWS's TOKEN event; its Allow for GET admits.
    let (first, second) = fx.send("GET", "/prod/pets", &bearer, 0, || {
        allow("alice", GET_PETS, "")
    });
    assert_eq!(
        first,
        Got::Call(serde_json::json!({
            "type": "TOKEN",
            "authorizationToken": "Bearer alice",
            "methodArn": GET_PETS,
        }))
    );
    assert_eq!(second, Some(Got::Proxied(Some("alice".into()))));
    // Cached: the next request with the same token is admitted without a call...
    let (got, _) = fx.send("GET", "/prod/pets", &bearer, 1_000, never);
    assert_eq!(got, Got::Proxied(Some("alice".into())));
    // ...but the cached policy is checked against each method: it does not allow POST.
    let (got, _) = fx.send("POST", "/prod/pets", &bearer, 2_000, never);
    assert_eq!(
        got,
        Got::Refused(
            "ACCESS_DENIED",
            403,
            "User is not authorized to access this resource".into()
        )
    );
    // Another token is another identity; after the TTL the function is called again.
    let (got, _) = fx.send(
        "GET",
        "/prod/pets",
        &[("Authorization", "Bearer bob")],
        3_000,
        || allow("bob", GET_PETS, ""),
    );
    assert!(matches!(got, Got::Call(_)));
    let (got, _) = fx.send("GET", "/prod/pets", &bearer, 300_000_000_000, || {
        allow("alice", GET_PETS, "")
    });
    assert!(matches!(got, Got::Call(_)));
    // A flush (a new cache id) orphans what was cached.
    let mut reg = registry(ApiKeySource::Header);
    reg.apply(&Command::FlushStageAuthorizersCache {
        api_id: "api1".into(),
        stage: "prod".into(),
        epoch: 0,
    })
    .unwrap();
    fx.table = compile_all(&reg, &ClusterLimits::new(1));
    let (got, _) = fx.send("GET", "/prod/pets", &bearer, 300_000_001_000, || {
        allow("alice", GET_PETS, "")
    });
    assert!(matches!(got, Got::Call(_)), "{got:?}");
}

#[test]
fn answers_map_to_aws_refusals() {
    let answer = |body: &str| -> InvokeResult { Ok(body.as_bytes().to_vec()) };
    let explicit = "User is not authorized to access this resource with an explicit deny";
    type Answer = Box<dyn FnOnce() -> InvokeResult>;
    let cases: Vec<(&str, Answer, Got)> = vec![
        (
            "Unauthorized",
            Box::new(|| Err(InvokeError::Unauthorized(Default::default()))),
            unauthorized(),
        ),
        (
            "crash",
            Box::new(|| Err(InvokeError::Crashed)),
            Got::Refused(
                "AUTHORIZER_CONFIGURATION_ERROR",
                500,
                "Internal server error".into(),
            ),
        ),
        (
            "other error",
            Box::new(|| Err(InvokeError::FunctionError(Default::default()))),
            Got::Refused(
                "AUTHORIZER_CONFIGURATION_ERROR",
                500,
                "Internal server error".into(),
            ),
        ),
        (
            "bad JSON",
            Box::new(move || answer("{")),
            Got::Refused("AUTHORIZER_FAILURE", 500, "Internal server error".into()),
        ),
        (
            "no principal",
            Box::new(move || answer(r#"{"policyDocument":{"Statement":[]}}"#)),
            Got::Refused("AUTHORIZER_FAILURE", 500, "Internal server error".into()),
        ),
        (
            "object in context",
            Box::new(|| allow("u", "*", r#","context":{"a":{"b":1}}"#)),
            Got::Refused("AUTHORIZER_FAILURE", 500, "Internal server error".into()),
        ),
        (
            "explicit deny",
            Box::new(move || {
                answer(&format!(
                    r#"{{"principalId":"u","policyDocument":{{"Statement":[
                    {{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"*"}},
                    {{"Action":"execute-api:Invoke","Effect":"Deny","Resource":"{GET_PETS}"}}]}}}}"#
                ))
            }),
            Got::Refused("ACCESS_DENIED", 403, explicit.into()),
        ),
        (
            "allow with wildcard",
            Box::new(|| allow("w", "arn:aws:execute-api:*:*:api1/prod/*", "")),
            Got::Proxied(Some("w".into())),
        ),
    ];
    for (what, answer, want) in cases {
        let mut fx = Fixture::new(ApiKeySource::Header);
        let (_, got) = fx.send(
            "GET",
            "/prod/pets",
            &[("Authorization", "Bearer x")],
            0,
            answer,
        );
        assert_eq!(got, Some(want), "{what}");
    }
}

#[test]
fn request_authorizer_with_two_sources_and_no_cache() {
    let mut fx = Fixture::new(ApiKeySource::Header);
    // Either source missing: 401 without a call.
    let (got, _) = fx.send("GET", "/prod/req?tenant=t1", &[], 0, never);
    assert_eq!(got, unauthorized());
    let (got, _) = fx.send("GET", "/prod/req", &[("X-User", "u1")], 0, never);
    assert_eq!(got, unauthorized());
    let arn = "arn:aws:execute-api:us-east-1:000000000000:api1/prod/GET/req";
    for _ in 0..2 {
        // TTL 0: called every time.
        let (first, second) = fx.send("GET", "/prod/req?tenant=t1", &[("X-User", "u1")], 0, || {
            allow("u1", arn, "")
        });
        let Got::Call(e) = first else {
            panic!("{first:?}")
        };
        assert_eq!(e["type"], "REQUEST");
        assert_eq!(e["methodArn"], arn);
        assert_eq!(e["httpMethod"], "GET");
        assert_eq!(e["resource"], "/req");
        assert_eq!(e["headers"]["X-User"], "u1");
        assert_eq!(e["queryStringParameters"]["tenant"], "t1");
        assert_eq!(e["requestContext"]["stage"], "prod");
        assert_eq!(second, Some(Got::Proxied(Some("u1".into()))));
    }
}

#[test]
fn api_key_from_the_authorizer() {
    let key_answer =
        |key: &'static str| move || allow("u", "*", &format!(r#","usageIdentifierKey":"{key}""#));
    let bearer = [("Authorization", "Bearer x")];
    // AUTHORIZER: the answer's key counts, the header does not.
    let mut fx = Fixture::new(ApiKeySource::Authorizer);
    let (_, got) = fx.send("GET", "/prod/keyed", &bearer, 0, key_answer(KEY));
    assert_eq!(got, Some(Got::Proxied(Some("u".into()))));
    let mut fx = Fixture::new(ApiKeySource::Authorizer);
    let with_header = [("Authorization", "Bearer x"), ("x-api-key", KEY)];
    let (_, got) = fx.send("GET", "/prod/keyed", &with_header, 0, || {
        allow("u", "*", "")
    });
    assert_eq!(
        got,
        Some(Got::Refused("INVALID_API_KEY", 403, "Forbidden".into()))
    );
    // HEADER: the answer's key does not count.
    let mut fx = Fixture::new(ApiKeySource::Header);
    let (_, got) = fx.send("GET", "/prod/keyed", &bearer, 0, key_answer(KEY));
    assert_eq!(
        got,
        Some(Got::Refused("INVALID_API_KEY", 403, "Forbidden".into()))
    );
}
