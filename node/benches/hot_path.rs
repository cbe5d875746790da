//! Micro-benchmarks of the request hot path: HTTP/1.1 head parsing, invocation-target
//! resolution and route matching against a stage of realistic size, limits and keys, the
//! cache, and the gateway core's whole decision (which must not allocate: checked first).
//!
//! Run: `cargo bench -p tollgate-node --bench hot_path`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::collections::BTreeMap;
use tollgate_node::dataplane::http1::{parse_request_head, RequestHead};
use tollgate_node::dataplane::invoke;
use tollgate_node::dataplane::matcher::{find, Captures};
use tollgate_node::dataplane::routing::{compile_stage, StageRoutes, Verb};
use tollgate_proto::model::{Deployment, Integration, Method, Resource, Stage};

const REQUEST: &[u8] = b"GET /prod/v1/users/12345/orders/987?expand=items HTTP/1.1\r\n\
Host: a1b2c3d4e5.execute-api.localhost:8080\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) bench\r\n\
Accept: application/json\r\n\
Accept-Encoding: gzip, deflate\r\n\
x-api-key: 0123456789abcdefghij0123456789\r\n\
Connection: keep-alive\r\n\r\n";

/// A stage with 10 top-level collections, each `/{c}`, `/{c}/{id}`, `/{c}/{id}/orders`,
/// `/{c}/{id}/orders/{orderId}` under `/v1`, plus a greedy `/{proxy+}` — 42 resources.
fn stage() -> StageRoutes {
    let mut resources = BTreeMap::new();
    let mut add = |id: String, parent: Option<String>, part: &str, verbs: &[&str]| {
        let methods = verbs
            .iter()
            .map(|v| {
                (
                    v.to_string(),
                    Box::new(Method {
                        http_method: v.to_string(),
                        integration: Some(Integration::default()),
                        ..Default::default()
                    }),
                )
            })
            .collect();
        resources.insert(
            id.clone(),
            Resource {
                id,
                parent_id: parent,
                path_part: part.to_string(),
                methods,
            },
        );
    };
    add("root".into(), None, "", &["GET"]);
    add("v1".into(), Some("root".into()), "v1", &[]);
    add("greedy".into(), Some("root".into()), "{proxy+}", &["ANY"]);
    for c in [
        "users", "pets", "stores", "carts", "items", "teams", "files", "tags", "events", "jobs",
    ] {
        add(c.into(), Some("v1".into()), c, &["GET", "POST"]);
        add(
            format!("{c}-id"),
            Some(c.into()),
            "{id}",
            &["GET", "PUT", "DELETE"],
        );
        add(
            format!("{c}-o"),
            Some(format!("{c}-id")),
            "orders",
            &["GET"],
        );
        add(
            format!("{c}-oid"),
            Some(format!("{c}-o")),
            "{orderId}",
            &["GET", "PATCH"],
        );
    }
    let dep = Deployment {
        id: "d".into(),
        description: None,
        created_date: 0,
        root_resource_id: "root".into(),
        resources: resources.into(),
        ..Default::default()
    };
    compile_stage("a1b2c3d4e5", &Stage::default(), &dep, &Default::default())
}

fn bench(c: &mut Criterion) {
    let mut head = RequestHead::default();
    c.bench_function("parse_request_head (7 headers)", |b| {
        b.iter(|| parse_request_head(black_box(REQUEST), &mut head).unwrap())
    });

    let routes = stage();
    c.bench_function("resolve + match /v1/users/{id}/orders/{orderId}", |b| {
        let mut caps = Captures::default();
        b.iter(|| {
            let t = invoke::resolve(
                Some(black_box(&b"a1b2c3d4e5.execute-api.localhost:8080"[..])),
                black_box("/prod/v1/users/12345/orders/987"),
            )
            .unwrap();
            find(&routes, t.path, Verb::Get, &mut caps).is_some()
        })
    });
    c.bench_function("match greedy fallback /anything/else/here", |b| {
        let mut caps = Captures::default();
        b.iter(|| {
            find(
                &routes,
                black_box("/anything/else/here"),
                Verb::Post,
                &mut caps,
            )
            .is_some()
        })
    });
    c.bench_function("match backtrack to greedy /v1/users/1/nothing", |b| {
        let mut caps = Captures::default();
        b.iter(|| {
            find(
                &routes,
                black_box("/v1/users/1/nothing"),
                Verb::Get,
                &mut caps,
            )
            .is_some()
        })
    });
}

fn bench_admit(c: &mut Criterion) {
    use tollgate_node::dataplane::cluster_limits::ClusterLimits;
    use tollgate_node::dataplane::routing::{KeyTable, ThrottleSpec};
    use tollgate_node::dataplane::throttle::{now_ns, WorkerLimits};
    use tollgate_proto::model::{ApiKey, ApiStage, QuotaSettings, ThrottleSettings, UsagePlan};
    use tollgate_proto::Registry;

    let cluster = ClusterLimits::default();
    let spec = ThrottleSpec::new(1, 1e12, 1e12, &cluster);
    let mut limits = WorkerLimits::new(0, 2);
    c.bench_function("throttle admit (per-worker bucket, clock read)", |b| {
        b.iter(|| limits.admit(black_box(&spec), now_ns()))
    });

    // 10,000 keys in one plan with a throttle and a quota: the lookup a key-required request
    // does before its buckets.
    let mut reg = Registry::default();
    let mut plan = UsagePlan {
        id: "plan1".into(),
        name: "p".into(),
        api_stages: vec![ApiStage {
            api_id: "a1b2c3d4e5".into(),
            stage: "prod".into(),
            throttle: Default::default(),
        }],
        throttle: Some(ThrottleSettings {
            burst_limit: 100,
            rate_limit: 50.0,
        }),
        quota: Some(QuotaSettings {
            limit: 1_000_000,
            offset: 0,
            period: tollgate_proto::model::QuotaPeriod::Day.into(),
        }),
        ..Default::default()
    };
    for i in 0..10_000 {
        let id = format!("key{i:05}");
        reg.api_keys.insert(ApiKey {
            id: id.clone(),
            value: format!("value-{i:05}-0123456789abcdef"),
            enabled: true,
            ..Default::default()
        });
        plan.key_ids.insert(id);
    }
    reg.usage_plans.insert("plan1".into(), plan);
    let keys: KeyTable = tollgate_node::dataplane::routing::compile_keys(&reg, 20_000, &cluster);
    c.bench_function("api key lookup + plan stage (10k keys)", |b| {
        b.iter(|| {
            let e = keys.get(black_box("value-04242-0123456789abcdef")).unwrap();
            e.stages
                .iter()
                .find(|s| s.api_id() == "a1b2c3d4e5" && s.stage() == "prod")
                .is_some()
        })
    });
}

fn bench_cache(c: &mut Criterion) {
    use tollgate_node::dataplane::cache::{CachedResponse, WorkerCache};
    // A worker's cache for one stage holding 10,000 answers of 200 bytes; a hit and a miss.
    let mut cache = WorkerCache::default();
    let response = CachedResponse {
        status: 200,
        header_block: b"Content-Type: application/json\r\n".to_vec(),
        body: vec![b'x'; 200],
    };
    for i in 0..10_000 {
        let key = format!("/pets/{i}?color=brown");
        cache.put(7, 64 << 20, key.as_bytes(), response.clone(), u64::MAX);
    }
    c.bench_function("cache lookup hit (10k entries, 22-byte key)", |b| {
        b.iter(|| {
            cache
                .get(7, black_box(b"/pets/4242?color=brown"), 1)
                .is_some()
        })
    });
    c.bench_function("cache lookup miss (10k entries)", |b| {
        b.iter(|| {
            cache
                .get(7, black_box(b"/pets/99999?color=red"), 1)
                .is_some()
        })
    });
}

/// Counts heap allocations, to show the core's decision makes none in steady state.
struct Counting;

static ALLOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout, per the caller's contract.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The gateway core's whole decision for a MOCK method that requires an API key, with a plan
/// throttle, a quota, a stage throttle and 10,000 keys: resolve, route, authorize, validate,
/// key, plan limits, stage limits, cache, integration request.
fn bench_core(c: &mut Criterion) {
    use tollgate_node::dataplane::cluster_limits::ClusterLimits;
    use tollgate_node::dataplane::core::{decide, Decision, WorkerState};
    use tollgate_node::dataplane::request::Request;
    use tollgate_node::dataplane::routing::{compile_keys, ApiRoutes, RoutingTable};
    use tollgate_node::dataplane::throttle::WorkerLimits;
    use tollgate_node::dataplane::usage::UsageCounters;
    use tollgate_proto::model::{
        ApiKey, ApiStage, IntegrationResponse, IntegrationType, MethodSetting, QuotaSettings,
        ThrottleSettings, UsagePlan,
    };
    use tollgate_proto::Registry;

    let cluster = ClusterLimits::new(1);
    let mock = Integration {
        kind: IntegrationType::Mock,
        integration_responses: BTreeMap::from([(
            "200".into(),
            Box::new(IntegrationResponse {
                status_code: "200".into(),
                response_templates: BTreeMap::from([(
                    "application/json".into(),
                    "{\"ok\":true}".into(),
                )]),
                ..Default::default()
            }),
        )]),
        ..Default::default()
    };
    let method = Method {
        http_method: "GET".into(),
        authorization_type: tollgate_proto::model::AuthorizationType::None,
        api_key_required: true,
        integration: Some(mock),
        ..Default::default()
    };
    let dep = Deployment {
        id: "d".into(),
        description: None,
        created_date: 0,
        root_resource_id: "root".into(),
        resources: BTreeMap::from([
            (
                "root".into(),
                Resource {
                    id: "root".into(),
                    parent_id: None,
                    path_part: String::new(),
                    methods: BTreeMap::new(),
                },
            ),
            (
                "pets".into(),
                Resource {
                    id: "pets".into(),
                    parent_id: Some("root".into()),
                    path_part: "pets".into(),
                    methods: BTreeMap::from([("GET".into(), Box::new(method))]),
                },
            ),
        ])
        .into(),
        ..Default::default()
    };
    let stage = Stage {
        stage_name: "prod".into(),
        method_settings: BTreeMap::from([("*/*".into(), MethodSetting::default())]),
        ..Default::default()
    };
    let mut reg = Registry::default();
    let mut plan = UsagePlan {
        id: "plan1".into(),
        name: "p".into(),
        api_stages: vec![ApiStage {
            api_id: "a1b2c3d4e5".into(),
            stage: "prod".into(),
            throttle: Default::default(),
        }],
        throttle: Some(ThrottleSettings {
            burst_limit: i32::MAX,
            rate_limit: 1e12,
        }),
        quota: Some(QuotaSettings {
            limit: i64::MAX / 2,
            offset: 0,
            period: tollgate_proto::model::QuotaPeriod::Day.into(),
        }),
        ..Default::default()
    };
    for i in 0..10_000 {
        let id = format!("key{i:05}");
        reg.api_keys.insert(ApiKey {
            id: id.clone(),
            value: format!("value-{i:05}-0123456789abcdef"),
            enabled: true,
            ..Default::default()
        });
        plan.key_ids.insert(id);
    }
    reg.usage_plans.insert("plan1".into(), plan);
    let routes = compile_stage("a1b2c3d4e5", &stage, &dep, &cluster);
    let table = RoutingTable {
        apis: [(
            "a1b2c3d4e5".into(),
            std::sync::Arc::new(ApiRoutes {
                stages: [("prod".into(), std::sync::Arc::new(routes))]
                    .into_iter()
                    .collect(),
                ..Default::default()
            }),
        )]
        .into_iter()
        .collect(),
        keys: std::sync::Arc::new(compile_keys(&reg, 20_000, &cluster)),
        iam: Default::default(),
        account: None,
        domains: Default::default(),
    };
    let raw: &[u8] = b"GET /prod/pets HTTP/1.1\r\n\
Host: a1b2c3d4e5.execute-api.localhost:8080\r\n\
User-Agent: bench\r\n\
Accept: application/json\r\n\
x-api-key: value-04242-0123456789abcdef\r\n\r\n";
    let mut head = RequestHead::default();
    parse_request_head(raw, &mut head).unwrap();
    let req = Request {
        buf: raw,
        head: &head,
        method: "GET",
        path: "/prod/pets",
        query: "",
        body: &[],
        peer: std::net::IpAddr::from([127, 0, 0, 1]),
        tls: None,
    };
    let mut limits = WorkerLimits::new(0, 1);
    let mut usage = UsageCounters::new(0, None);
    let mut key = Vec::new();
    let mut now = 1_000_000_000u64;
    let iam = tollgate_node::iam::IamEnv::default();
    let mut auth = Default::default();
    let mut run = |now: u64| {
        let mut st = WorkerState {
            limits: &mut limits,
            usage: &mut usage,
            account: None,
            workers: 1,
            iam: &iam,
            wall_secs: 0,
            auth: &mut auth,
            authorized: None,
        };
        let mut caps = Captures::default();
        let stamp = tollgate_node::dataplane::mapping::Stamp {
            request_id: "00000000-0000-4000-8000-000000000000",
            epoch_ms: 0,
            account: "123456789012",
        };
        matches!(
            decide(&table, &req, &mut st, now, &stamp, &mut caps, &mut key),
            Decision::Mock(_)
        )
    };
    // Warm up (first use of a limit makes its bucket, of a key its usage counter), then check
    // that a decision allocates nothing.
    assert!(run(now));
    let before = ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed);
    // One request per virtual millisecond: under the stage's 10,000/s, so every decision
    // is the MOCK answer, never a throttled refusal.
    for _ in 0..1000 {
        now += 1_000_000;
        assert!(run(now));
    }
    let allocations = ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed) - before;
    assert_eq!(allocations, 0, "the core's decision allocated");
    c.bench_function(
        "core decide: keyed MOCK (10k keys, plan throttle + quota, stage throttle)",
        |b| {
            b.iter(|| {
                now += 1000;
                run(black_box(now))
            })
        },
    );
}

criterion_group!(benches, bench, bench_admit, bench_cache, bench_core);
criterion_main!(benches);
