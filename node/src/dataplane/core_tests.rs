//! The core's decisions, table-driven, without sockets: every refusal, every gateway response
//! type the phases answer with, and the phase order (a request failing several phases gets the
//! earliest phase's refusal).

use super::*;
use crate::dataplane::cluster_limits::ClusterLimits;
use crate::dataplane::http1::{parse_request_head, RequestHead};
use crate::dataplane::phases::authorize::AuthScratch;
use crate::dataplane::routing::{
    compile_keys, compile_stage, ApiRoutes, CompiledIntegration, RoutingTable, ThrottleSpec,
};
use crate::iam::IamEnv;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tollgate_proto::model::{
    ApiKey, ApiStage, Deployment, Integration, IntegrationResponse, IntegrationType, Method,
    MethodSetting, QuotaSettings, Resource, Stage, ThrottleSettings, UsagePlan,
};
use tollgate_proto::Registry;

const NOW: u64 = 1_000_000_000;
/// Wall-clock seconds handed to the core (signature dates).
const WALL: i64 = 1_767_225_600;
/// A day number for the quota period (any will do: nothing is used yet).
const DAY: i64 = 20_000;

/// A method; `auth`, `validator`, `key` and the integration vary per resource.
fn method(verb: &str, auth: &str, validator: bool, key: bool, i: Option<Integration>) -> Method {
    Method {
        http_method: verb.into(),
        authorization_type: tollgate_proto::model::AuthorizationType::parse(auth)
            .expect("an AWS name"),
        request_validator_id: validator.then(|| "v1".into()),
        api_key_required: key,
        integration: i,
        ..Default::default()
    }
}

/// A MOCK integration answering 200 `{"ok":true}`, or selecting 201, which has no response
/// (its one integration response is selected by 200 only).
fn mock(answers: bool) -> Option<Integration> {
    let status = if answers { 200 } else { 201 };
    Some(Integration {
        kind: IntegrationType::Mock,
        request_templates: BTreeMap::from([(
            "application/json".into(),
            format!("{{\"statusCode\": {status}}}"),
        )]),
        integration_responses: BTreeMap::from([(
            "200".into(),
            Box::new(IntegrationResponse {
                status_code: "200".into(),
                selection_pattern: Some("200".into()),
                response_templates: BTreeMap::from([(
                    "application/json".into(),
                    "{\"ok\":true}".into(),
                )]),
                ..Default::default()
            }),
        )]),
        ..Default::default()
    })
}

/// A MOCK integration whose templates read the request: the status comes from the `code`
/// query parameter; the default response echoes a parameter, the request id and a stage
/// variable and sets a header; 4xx answers with fixed text. Only JSON requests are mapped.
fn templated_mock() -> Option<Integration> {
    let response = |pattern: Option<&str>, code: &str, template: &str| {
        Box::new(IntegrationResponse {
            status_code: code.into(),
            selection_pattern: pattern.map(str::to_owned),
            response_templates: BTreeMap::from([("application/json".into(), template.into())]),
            ..Default::default()
        })
    };
    Some(Integration {
        kind: IntegrationType::Mock,
        passthrough_behavior: Some("NEVER".into()),
        request_templates: BTreeMap::from([(
            "application/json".into(),
            "{\"statusCode\": $input.params('code')}".into(),
        )]),
        integration_responses: BTreeMap::from([
            (
                "200".into(),
                response(
                    None,
                    "200",
                    "#set($context.responseOverride.header.X-Id = $input.params('id'))\
                     {\"id\": \"$input.params('id')\", \"request\": \"$context.requestId\", \"stage\": \"$context.stage\", \"account\": \"$context.accountId\"}",
                ),
            ),
            ("404".into(), response(Some("4\\d{2}"), "404", "{\"missing\": true}")),
        ]),
        ..Default::default()
    })
}

fn proxy() -> Option<Integration> {
    Some(Integration {
        kind: IntegrationType::HttpProxy,
        http_method: Some("ANY".into()),
        uri: Some("http://127.0.0.1:9/backend".into()),
        cache_key_parameters: vec!["method.request.querystring.q".into()],
        ..Default::default()
    })
}

fn lambda(verb: &str) -> Option<Integration> {
    Some(Integration {
        kind: IntegrationType::AwsProxy,
        http_method: Some(verb.into()),
        uri: Some("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:echo/invocations".into()),
        ..Default::default()
    })
}

fn deployment() -> Deployment {
    let mut resources = BTreeMap::new();
    let mut add = |part: &str, verb: &str, m: Method| {
        let id = if part.is_empty() { "root" } else { part };
        resources.insert(
            id.to_string(),
            Resource {
                id: id.into(),
                parent_id: (!part.is_empty()).then(|| "root".into()),
                path_part: part.into(),
                methods: BTreeMap::from([(verb.to_string(), Box::new(m))]),
            },
        );
    };
    add("", "GET", method("GET", "NONE", false, false, mock(true)));
    add(
        "keyed",
        "GET",
        method("GET", "NONE", false, true, mock(true)),
    );
    add(
        "keyedlimited",
        "GET",
        method("GET", "NONE", false, true, mock(true)),
    );
    add(
        "iam",
        "GET",
        method("GET", "AWS_IAM", false, false, mock(true)),
    );
    add(
        "iamkeyed",
        "GET",
        method("GET", "CUSTOM", false, true, mock(true)),
    );
    add(
        "validated",
        "GET",
        method("GET", "NONE", true, false, mock(true)),
    );
    add(
        "validatedkeyed",
        "GET",
        method("GET", "NONE", true, true, mock(true)),
    );
    add(
        "both",
        "GET",
        method("GET", "AWS_IAM", true, false, mock(true)),
    );
    add("none", "GET", method("GET", "NONE", false, false, None));
    add(
        "nomock",
        "GET",
        method("GET", "NONE", false, false, mock(false)),
    );
    add(
        "limited",
        "GET",
        method("GET", "NONE", false, false, mock(true)),
    );
    add("proxy", "GET", method("GET", "NONE", false, false, proxy()));
    add(
        "fn",
        "GET",
        method("GET", "NONE", false, false, lambda("POST")),
    );
    add(
        "fnget",
        "GET",
        method("GET", "NONE", false, false, lambda("GET")),
    );
    add("open", "GET", method("GET", "NONE", false, false, proxy()));
    add(
        "mockcached",
        "GET",
        method("GET", "NONE", false, false, mock(true)),
    );
    add(
        "tpl",
        "GET",
        method("GET", "NONE", false, false, templated_mock()),
    );
    Deployment {
        id: "d1".into(),
        description: None,
        created_date: 0,
        root_resource_id: "root".into(),
        resources: resources.into(),
        ..Default::default()
    }
}

fn stage() -> Stage {
    let cached = |require_authorization, strategy: &str| MethodSetting {
        caching_enabled: true,
        cache_ttl_in_seconds: 60,
        require_authorization_for_cache_control: require_authorization,
        unauthorized_cache_control_header_strategy:
            tollgate_proto::model::UnauthorizedCacheControlHeaderStrategy::parse(strategy)
                .expect("an AWS name"),
        ..Default::default()
    };
    let throttled = MethodSetting {
        throttling_burst_limit: 1,
        throttling_rate_limit: 0.001,
        ..Default::default()
    };
    Stage {
        stage_name: "prod".into(),
        deployment_id: "d1".into(),
        cache_cluster_enabled: true,
        cache_cluster_size: Some("0.5".into()),
        method_settings: BTreeMap::from([
            ("limited/GET".into(), throttled.clone()),
            ("keyedlimited/GET".into(), throttled),
            ("proxy/GET".into(), cached(true, "FAIL_WITH_403")),
            ("open/GET".into(), cached(false, "FAIL_WITH_403")),
            ("mockcached/GET".into(), cached(true, "FAIL_WITH_403")),
        ]),
        ..Default::default()
    }
}

fn registry() -> Registry {
    let mut reg = Registry::default();
    let key = |id: &str, enabled| ApiKey {
        id: id.into(),
        value: format!("value-{id}"),
        enabled,
        ..Default::default()
    };
    for (id, enabled) in [("k1", true), ("k2", false), ("k3", true), ("k4", true)] {
        reg.api_keys.insert(key(id, enabled));
    }
    let plan = |id: &str, stage: &str, keys: &[&str], burst: Option<i32>, quota: i64| UsagePlan {
        id: id.into(),
        name: id.into(),
        api_stages: vec![ApiStage {
            api_id: "api1".into(),
            stage: stage.into(),
            throttle: Default::default(),
        }],
        throttle: burst.map(|burst_limit| ThrottleSettings {
            burst_limit,
            rate_limit: 0.001,
        }),
        quota: Some(QuotaSettings {
            limit: quota,
            offset: 0,
            period: tollgate_proto::model::QuotaPeriod::Day.into(),
        }),
        key_ids: keys.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>(),
        ..Default::default()
    };
    // k1: a plan throttle of burst 2 and a roomy quota; k3: a plan for another stage only;
    // k4: a quota of 1 and no throttle.
    reg.usage_plans
        .insert("p1".into(), plan("p1", "prod", &["k1", "k2"], Some(2), 100));
    reg.usage_plans
        .insert("p2".into(), plan("p2", "test", &["k3"], None, 100));
    reg.usage_plans
        .insert("p3".into(), plan("p3", "prod", &["k4"], None, 1));
    reg
}

struct Fixture {
    table: RoutingTable,
    limits: WorkerLimits,
    usage: UsageCounters,
    account: Option<ThrottleSpec>,
    cluster: ClusterLimits,
    iam: IamEnv,
    auth: AuthScratch,
}

/// What a decision came to, in short.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    /// A gateway response: its type, status and log level.
    Refused(&'static str, u16, Option<Level>),
    /// A MOCK answer with this status.
    Mock(u16),
    /// A backend call; `Some(lookup)` when the cache is used.
    Proxy(Option<bool>),
    /// A Lambda invocation of this function.
    Lambda(String),
}

impl Fixture {
    fn new() -> Fixture {
        let cluster = ClusterLimits::new(1);
        let mut sr = compile_stage("api1", &stage(), &deployment(), &cluster);
        sr.cache_id = 7;
        let mut apis = HashMap::new();
        apis.insert(
            "api1".into(),
            Arc::new(ApiRoutes {
                stages: [("prod".into(), Arc::new(sr))].into_iter().collect(),
                ..Default::default()
            }),
        );
        let off = compile_stage("off", &stage(), &deployment(), &cluster);
        apis.insert(
            "off".into(),
            Arc::new(ApiRoutes {
                stages: [("prod".into(), Arc::new(off))].into_iter().collect(),
                execute_api_disabled: true,
                ..Default::default()
            }),
        );
        let keys = Arc::new(compile_keys(&registry(), DAY, &cluster));
        Fixture {
            table: RoutingTable {
                apis: apis.into_iter().collect(),
                keys,
                iam: Default::default(),
                account: None,
                domains: Default::default(),
            },
            iam: IamEnv::default(),
            auth: AuthScratch::default(),
            limits: WorkerLimits::new(0, 1),
            usage: UsageCounters::new(0, None),
            account: None,
            cluster,
        }
    }

    /// The core's decision for a raw request head.
    fn decide(&mut self, raw: &str) -> Got {
        let mut head = RequestHead::default();
        assert!(
            parse_request_head(raw.as_bytes(), &mut head).unwrap(),
            "{raw}"
        );
        let buf = raw.as_bytes();
        let text = |r: std::ops::Range<usize>| std::str::from_utf8(&buf[r]).unwrap();
        let req = Request {
            buf,
            head: &head,
            method: text(head.method.clone()),
            path: text(head.path.clone()),
            query: text(head.query.clone()),
            body: &[],
            peer: std::net::IpAddr::from([127, 0, 0, 1]),
            tls: None,
        };
        let mut st = WorkerState {
            limits: &mut self.limits,
            usage: &mut self.usage,
            account: self.account.as_ref(),
            workers: 2,
            iam: &self.iam,
            wall_secs: WALL,
            auth: &mut self.auth,
            authorized: None,
        };
        let mut caps = Captures::default();
        let mut key = Vec::new();
        let stamp = crate::dataplane::mapping::Stamp {
            request_id: "test-request",
            epoch_ms: 0,
            account: "123456789012",
        };
        match decide(&self.table, &req, &mut st, NOW, &stamp, &mut caps, &mut key) {
            Decision::Refuse(r) => {
                if let Some(l) = r.log {
                    assert_eq!(l.status, r.refusal.status);
                    assert_eq!((l.api, l.stage), ("api1", "prod"));
                }
                Got::Refused(
                    r.refusal.kind.as_str(),
                    r.refusal.status,
                    r.log.map(|l| l.level),
                )
            }
            Decision::Mock(r) => Got::Mock(r.status),
            Decision::Authorize(_) => panic!("no authorizer here"),
            Decision::Proxy(p) => {
                if let Some(c) = p.cache {
                    assert_eq!(c.stage_cache, 7);
                    // The stage's 0.5 "GB" budget split between 2 workers.
                    assert!(c.budget > 0);
                    assert_eq!(c.ttl_ns, 60_000_000_000);
                    assert!(key.starts_with(b"GET\0/"), "{key:?}");
                }
                assert_eq!(p.path, req.path.split_once("/prod").unwrap().1);
                Got::Proxy(p.cache.map(|c| c.lookup))
            }
            Decision::Lambda(p) => {
                let event: serde_json::Value = serde_json::from_slice(&lambda_event(
                    &p,
                    &req,
                    &caps,
                    "c6af9ac6-7b61-41f2-8a1d-2f8c8d4e5a6b",
                    1_000,
                ))
                .unwrap();
                assert_eq!(event["resource"], p.method.resource_path.as_ref());
                assert_eq!(event["requestContext"]["stage"], "prod");
                assert_eq!(event["requestContext"]["accountId"], "123456789012");
                // How the invocation's outcome becomes the answer, each gateway answer
                // logged as a gateway error.
                let refused = |r: InvokeResult| match after_lambda(&p, r) {
                    LambdaAnswer::Refuse(r) => {
                        let log = r.log.expect("logged");
                        assert_eq!(log.level, Level::GatewayError);
                        assert_eq!(log.status, r.refusal.status);
                        r.refusal.status
                    }
                    LambdaAnswer::Reply(_) | LambdaAnswer::Mapped(_) => 0,
                };
                use crate::functions::InvokeError as E;
                assert_eq!(refused(Err(E::NoTarget)), 500);
                assert_eq!(refused(Err(E::Timeout)), 504);
                assert_eq!(refused(Err(E::Crashed)), 502);
                assert_eq!(refused(Ok(b"\"bare\"".to_vec())), 502);
                assert_eq!(refused(Ok(br#"{"statusCode": 201}"#.to_vec())), 0);
                Got::Lambda(p.integration.function.name.clone())
            }
        }
    }

    /// The quota count of key `value` in its plan for `api1/prod`.
    fn pending(&self, value: &str) -> u64 {
        let e = self.table.keys.get(value).unwrap();
        let s = e.stages.iter().find(|s| s.stage() == "prod").unwrap();
        s.quota.as_ref().unwrap().pending().load(Ordering::Relaxed)
    }
}

fn get(path: &str, headers: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: api1.execute-api.localhost\r\n{headers}\r\n")
}

use Got::{Mock as M, Proxy as P, Refused as R};
const DEBUG: Option<Level> = Some(Level::Debug);
const WARN: Option<Level> = Some(Level::GatewayError);
const K1: &str = "x-api-key: value-k1\r\n";

/// One request each on a fresh worker: (request, expected decision).
#[test]
fn every_refusal_and_answer() {
    let cases: Vec<(String, Got)> = vec![
        // Resolve: neither invocation form, an unknown API, the endpoint turned off, no stage.
        (
            "GET /prod/ HTTP/1.1\r\nHost: localhost\r\n\r\n".into(),
            R("RESOURCE_NOT_FOUND", 404, None),
        ),
        (
            "GET /prod/ HTTP/1.1\r\nHost: nope.execute-api.localhost\r\n\r\n".into(),
            R("RESOURCE_NOT_FOUND", 404, None),
        ),
        (
            "GET /prod/ HTTP/1.1\r\nHost: off.execute-api.localhost\r\n\r\n".into(),
            R("ACCESS_DENIED", 403, None),
        ),
        (
            get("/test/", ""),
            R("MISSING_AUTHENTICATION_TOKEN", 403, None),
        ),
        // The path form reaches the same API.
        (
            "GET /restapis/api1/prod/_user_request_/ HTTP/1.1\r\nHost: x\r\n\r\n".into(),
            M(200),
        ),
        // Route: no resource, no method for the verb, an unknown verb.
        (
            get("/prod/missing", ""),
            R("MISSING_AUTHENTICATION_TOKEN", 403, None),
        ),
        (
            "POST /prod/ HTTP/1.1\r\nHost: api1.execute-api.localhost\r\ncontent-length: 0\r\n\r\n"
                .into(),
            R("MISSING_AUTHENTICATION_TOKEN", 403, None),
        ),
        (
            "BREW /prod/ HTTP/1.1\r\nHost: api1.execute-api.localhost\r\n\r\n".into(),
            R("MISSING_AUTHENTICATION_TOKEN", 403, None),
        ),
        // AWS_IAM without a signature; a type not served fails closed, as validation does.
        (
            get("/prod/iam", ""),
            R("MISSING_AUTHENTICATION_TOKEN", 403, None),
        ),
        (
            get("/prod/iamkeyed", ""),
            R("AUTHORIZER_CONFIGURATION_ERROR", 500, DEBUG),
        ),
        (
            get("/prod/validated", ""),
            R("API_CONFIGURATION_ERROR", 500, DEBUG),
        ),
        // API key: none, unknown, disabled, in a plan for another stage; then a good one.
        (get("/prod/keyed", ""), R("INVALID_API_KEY", 403, None)),
        (
            get("/prod/keyed", "x-api-key: nope\r\n"),
            R("INVALID_API_KEY", 403, None),
        ),
        (
            get("/prod/keyed", "x-api-key: value-k2\r\n"),
            R("INVALID_API_KEY", 403, None),
        ),
        (
            get("/prod/keyed", "x-api-key: value-k3\r\n"),
            R("INVALID_API_KEY", 403, None),
        ),
        (get("/prod/keyed", K1), M(200)),
        // A Lambda proxy integration; one whose integrationHttpMethod is not POST fails
        // closed.
        (get("/prod/fn", ""), Got::Lambda("echo".into())),
        (
            get("/prod/fnget", ""),
            R("API_CONFIGURATION_ERROR", 500, WARN),
        ),
        // Integration: none, a MOCK without a response for its status.
        (
            get("/prod/none", ""),
            R("API_CONFIGURATION_ERROR", 500, WARN),
        ),
        (
            get("/prod/nomock", ""),
            R("API_CONFIGURATION_ERROR", 500, WARN),
        ),
        // Cache: looked up; bypassed by max-age=0 where no authorization is required; refused
        // under FAIL_WITH_403 where it is; never for a MOCK.
        (get("/prod/proxy?q=1", ""), P(Some(true))),
        (
            get("/prod/proxy", "Cache-Control: no-store, max-age=0\r\n"),
            R("ACCESS_DENIED", 403, None),
        ),
        (
            get("/prod/open", "Cache-Control: max-age=0\r\n"),
            P(Some(false)),
        ),
        (
            get("/prod/open", "Cache-Control: max-age=60\r\n"),
            P(Some(true)),
        ),
        (
            get("/prod/mockcached", "Cache-Control: max-age=0\r\n"),
            M(200),
        ),
    ];
    for (raw, want) in cases {
        let mut fx = Fixture::new();
        assert_eq!(fx.decide(&raw), want, "{raw}");
    }
}

/// A request failing several phases is refused by the earliest, in AWS's order.
#[test]
fn phase_order() {
    let mut fx = Fixture::new();
    // Exhaust /limited's stage throttle and k4's quota first.
    assert_eq!(fx.decide(&get("/prod/limited", "")), M(200));
    assert_eq!(
        fx.decide(&get("/prod/keyed", "x-api-key: value-k4\r\n")),
        M(200)
    );
    let cases: Vec<(String, Got)> = vec![
        // Authorization before validation (which would answer 500).
        (
            get("/prod/both", ""),
            R("MISSING_AUTHENTICATION_TOKEN", 403, None),
        ),
        // Authorization and validation before the API key.
        (
            get("/prod/iamkeyed", ""),
            R("AUTHORIZER_CONFIGURATION_ERROR", 500, DEBUG),
        ),
        (
            get("/prod/validatedkeyed", ""),
            R("API_CONFIGURATION_ERROR", 500, DEBUG),
        ),
        // The API key before the stage's throttle.
        (
            get("/prod/keyedlimited", ""),
            R("INVALID_API_KEY", 403, None),
        ),
        // The plan's quota before the stage's throttle.
        (
            get("/prod/keyed", "x-api-key: value-k4\r\n"),
            R("QUOTA_EXCEEDED", 429, None),
        ),
        (get("/prod/limited", ""), R("THROTTLED", 429, None)),
    ];
    for (raw, want) in cases {
        assert_eq!(fx.decide(&raw), want, "{raw}");
    }
}

/// Check, then take: a request a later limit refuses takes no token from the earlier ones, and
/// its quota count is given back.
#[test]
fn a_later_refusal_costs_earlier_limits_nothing() {
    let mut fx = Fixture::new();
    // k1's plan throttle has 2 tokens; /keyedlimited's stage throttle 1.
    assert_eq!(fx.decide(&get("/prod/keyedlimited", K1)), M(200));
    assert_eq!(fx.pending("value-k1"), 1);
    // The stage throttle refuses: the plan keeps its token, the quota count goes back.
    assert_eq!(
        fx.decide(&get("/prod/keyedlimited", K1)),
        R("THROTTLED", 429, None)
    );
    assert_eq!(fx.pending("value-k1"), 1);
    // So the plan's second token still serves another method.
    assert_eq!(fx.decide(&get("/prod/keyed", K1)), M(200));
    assert_eq!(fx.pending("value-k1"), 2);
    // And now the plan's throttle refuses (before counting the quota).
    assert_eq!(
        fx.decide(&get("/prod/keyed", K1)),
        R("THROTTLED", 429, None)
    );
    assert_eq!(fx.pending("value-k1"), 2);
}

/// The account's limit comes last, and refusing there costs the stage's limit nothing.
#[test]
fn the_account_limit_comes_last() {
    let mut fx = Fixture::new();
    fx.account = Some(ThrottleSpec::new(99, 0.001, 1.0, &fx.cluster));
    assert_eq!(fx.decide(&get("/prod/", "")), M(200));
    assert_eq!(
        fx.decide(&get("/prod/limited", "")),
        R("THROTTLED", 429, None)
    );
    // /limited's own token was not taken: without the account limit it serves.
    fx.account = None;
    assert_eq!(fx.decide(&get("/prod/limited", "")), M(200));
}

/// A quota that is spent is not counted further.
#[test]
fn quota_refusals_are_not_counted() {
    let mut fx = Fixture::new();
    let k4 = "x-api-key: value-k4\r\n";
    assert_eq!(fx.decide(&get("/prod/keyed", k4)), M(200));
    for _ in 0..3 {
        assert_eq!(
            fx.decide(&get("/prod/keyed", k4)),
            R("QUOTA_EXCEEDED", 429, None)
        );
    }
    assert_eq!(fx.pending("value-k4"), 1);
}

/// After the backend: 2xx answers are stored when the method caches, others relayed as is;
/// a timeout and a failure are gateway responses, logged.
#[test]
fn after_the_integration() {
    let fx = Fixture::new();
    let sr = &fx.table.apis["api1"].stages["prod"];
    let method = sr
        .methods
        .iter()
        .find(|m| &*m.resource_path == "/proxy")
        .unwrap();
    let CompiledIntegration::HttpProxy(integration) = &method.integration else {
        panic!("a proxy")
    };
    let cache = CacheUse {
        stage_cache: 7,
        budget: 100,
        ttl_ns: 5,
        lookup: true,
    };
    let plan = |cache| ProxyPlan {
        integration,
        path: "/proxy",
        cache,
        responses: &sr.gateway_responses,
        stage: sr,
        method,
        identity: None,
        authorizer: None,
        http: None,
        context: None,
    };
    type Relayed = Result<Option<(CacheUse, u64)>, (&'static str, u16, Option<Level>)>;
    let relay = |p: &ProxyPlan, r| -> Relayed {
        match after_integration(p, r, 10) {
            Answer::Relay { store } => Ok(store),
            Answer::Refuse(r) => {
                if let Some(l) = r.log {
                    assert_eq!((l.resource, l.status), ("/proxy", r.refusal.status));
                }
                Err((
                    r.refusal.kind.as_str(),
                    r.refusal.status,
                    r.log.map(|l| l.level),
                ))
            }
        }
    };
    assert_eq!(relay(&plan(Some(cache)), Ok(200)), Ok(Some((cache, 15))));
    assert_eq!(relay(&plan(Some(cache)), Ok(404)), Ok(None));
    assert_eq!(relay(&plan(None), Ok(200)), Ok(None));
    let warn = Some(Level::GatewayError);
    assert_eq!(
        relay(&plan(Some(cache)), Err(ProxyError::Timeout)),
        Err(("INTEGRATION_TIMEOUT", 504, warn))
    );
    for e in [
        ProxyError::Connect,
        ProxyError::Resolve,
        ProxyError::BadResponse,
        ProxyError::Tls,
    ] {
        assert_eq!(
            relay(&plan(None), Err(e)),
            Err(("INTEGRATION_FAILURE", 502, warn))
        );
    }
}

/// Refusals after the stage is known carry its gateway responses; those before do not.
#[test]
fn refusals_carry_the_stages_gateway_responses_once_it_is_known() {
    let mut fx = Fixture::new();
    let mut table = std::mem::take(&mut fx.table.apis);
    let api = Arc::get_mut(table.get_mut("api1").unwrap()).unwrap();
    let stage = Arc::get_mut(api.stages.get_mut("prod").unwrap()).unwrap();
    stage.gateway_responses.set(
        tollgate_proto::GatewayResponseType::MissingAuthenticationToken,
        crate::dataplane::gateway_response::CompiledGatewayResponse::new(Some(404), None),
    );
    fx.table.apis = table;
    let mut st = WorkerState {
        limits: &mut fx.limits,
        usage: &mut fx.usage,
        account: None,
        workers: 1,
        iam: &fx.iam,
        wall_secs: WALL,
        auth: &mut fx.auth,
        authorized: None,
    };
    let responses = |raw: &str, st: &mut WorkerState| {
        let mut head = RequestHead::default();
        parse_request_head(raw.as_bytes(), &mut head).unwrap();
        let buf = raw.as_bytes();
        let text = |r: std::ops::Range<usize>| std::str::from_utf8(&buf[r]).unwrap();
        let req = Request {
            buf,
            head: &head,
            method: text(head.method.clone()),
            path: text(head.path.clone()),
            query: "",
            body: &[],
            peer: std::net::IpAddr::from([127, 0, 0, 1]),
            tls: None,
        };
        let mut caps = Captures::default();
        let stamp = crate::dataplane::mapping::Stamp {
            request_id: "test-request",
            epoch_ms: 0,
            account: "123456789012",
        };
        match decide(&fx.table, &req, st, NOW, &stamp, &mut caps, &mut Vec::new()) {
            Decision::Refuse(r) => r
                .responses
                .and_then(|o| o.effective(r.refusal.kind))
                .and_then(|c| c.status),
            _ => panic!("refused"),
        }
    };
    assert_eq!(responses(&get("/prod/missing", ""), &mut st), Some(404));
    assert_eq!(responses(&get("/test/", ""), &mut st), None);
    assert_eq!(
        responses(
            "GET /prod/ HTTP/1.1\r\nHost: nope.execute-api.localhost\r\n\r\n",
            &mut st
        ),
        None
    );
}

/// A MOCK whose templates read request data: the request template's status picks the
/// integration response by selection pattern, the response template is rendered with the
/// request's parameters and context (its header override applied), a fixed response stays
/// borrowed from the table, and a content type without a template is 415 under NEVER.
#[test]
fn mock_templates_read_the_request() {
    let mut fx = Fixture::new();
    let mut run = |raw: &str| {
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
            peer: std::net::IpAddr::from([127, 0, 0, 1]),
            tls: None,
        };
        let mut st = WorkerState {
            limits: &mut fx.limits,
            usage: &mut fx.usage,
            account: None,
            workers: 1,
            iam: &fx.iam,
            wall_secs: WALL,
            auth: &mut fx.auth,
            authorized: None,
        };
        let stamp = crate::dataplane::mapping::Stamp {
            request_id: "req-42",
            epoch_ms: 0,
            account: "123456789012",
        };
        let mut caps = Captures::default();
        match decide(
            &fx.table,
            &req,
            &mut st,
            NOW,
            &stamp,
            &mut caps,
            &mut Vec::new(),
        ) {
            Decision::Mock(r) => Ok((
                r.status,
                String::from_utf8(r.header_block.to_vec()).unwrap(),
                String::from_utf8(r.body.to_vec()).unwrap(),
                matches!(r, std::borrow::Cow::Borrowed(_)),
            )),
            Decision::Refuse(r) => Err((r.refusal.kind.as_str(), r.refusal.status)),
            Decision::Proxy(_) | Decision::Lambda(_) | Decision::Authorize(_) => panic!("a MOCK"),
        }
    };
    let (status, headers, body, borrowed) = run(&get("/prod/tpl?code=200&id=a%20b", "")).unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        body,
        r#"{"id": "a b", "request": "req-42", "stage": "prod", "account": "123456789012"}"#
    );
    assert_eq!(headers, "Content-Type: application/json\r\nX-Id: a b\r\n");
    assert!(!borrowed, "rendered per request");
    let (status, _, body, borrowed) = run(&get("/prod/tpl?code=404", "")).unwrap();
    assert_eq!(
        (status, body.as_str(), borrowed),
        (404, r#"{"missing": true}"#, true)
    );
    assert_eq!(
        run(&get("/prod/tpl?code=200", "Content-Type: text/plain\r\n")),
        Err(("UNSUPPORTED_MEDIA_TYPE", 415))
    );
    // The plain MOCK (no request data in its templates) is served from the table's bytes.
    let (_, _, body, borrowed) = run(&get("/prod/", "")).unwrap();
    assert_eq!((body.as_str(), borrowed), (r#"{"ok":true}"#, true));
}
