//! `/metrics` end to end: per-stage series always, per-method series where the stage's
//! method settings turn detailed metrics on (`metrics/enabled`), a usage plan's quota
//! refusals, and the node's Raft and usage-report state, read from a real node after real
//! requests.

mod common;

use common::{raw_exchange, EchoBackend, TestNode};
use serde_json::json;
use std::time::{Duration, Instant};

fn scrape(node: &TestNode) -> String {
    let raw = raw_exchange(
        node.admin,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    String::from_utf8_lossy(&raw).into_owned()
}

/// The value of the sample line starting `series ` (`None` when absent).
fn value(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

#[test]
fn per_stage_per_method_and_per_plan_series() {
    let backend = EchoBackend::start();
    let n = TestNode::start(&["--workers", "2"]);
    let api = n.admin_ok("POST", "/restapis", Some(json!({ "name": "m" })));
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    let mk = |part: &str| {
        n.admin_ok(
            "POST",
            &format!("/restapis/{id}/resources/{root}"),
            Some(json!({ "pathPart": part })),
        )["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (pets, back, keyed) = (mk("pets"), mk("backend"), mk("keyed"));
    for (res, key) in [(&pets, false), (&back, false), (&keyed, true)] {
        n.admin_ok(
            "PUT",
            &format!("/restapis/{id}/resources/{res}/methods/GET"),
            Some(json!({ "authorizationType": "NONE", "apiKeyRequired": key })),
        );
    }
    for res in [&pets, &keyed] {
        n.admin_ok(
            "PUT",
            &format!("/restapis/{id}/resources/{res}/methods/GET/integration"),
            Some(json!({ "type": "MOCK", "requestTemplates": { "application/json": "{\"statusCode\": 200}" } })),
        );
        n.admin_ok(
            "PUT",
            &format!("/restapis/{id}/resources/{res}/methods/GET/integration/responses/200"),
            Some(json!({ "responseTemplates": { "application/json": "{}" } })),
        );
    }
    n.admin_ok(
        "PUT",
        &format!("/restapis/{id}/resources/{back}/methods/GET/integration"),
        Some(json!({ "type": "HTTP_PROXY", "httpMethod": "GET", "uri": format!("http://{}/x", backend.addr) })),
    );
    n.admin_ok(
        "POST",
        &format!("/restapis/{id}/deployments"),
        Some(json!({ "stageName": "prod" })),
    );
    // Detailed metrics for GET /pets only.
    n.admin_ok(
        "PATCH",
        &format!("/restapis/{id}/stages/prod"),
        Some(json!({ "patchOperations": [
            { "op": "replace", "path": "/~1pets/GET/metrics/enabled", "value": "true" }
        ] })),
    );
    let plan = n.admin_ok(
        "POST",
        "/usageplans",
        Some(
            json!({ "name": "gold", "apiStages": [{ "apiId": id, "stage": "prod" }],
                     "quota": { "limit": 1, "period": "DAY" } }),
        ),
    );
    let plan = plan["id"].as_str().unwrap().to_string();
    let key = n.admin_ok(
        "POST",
        "/apikeys",
        Some(json!({ "name": "k", "enabled": true, "value": "metrics-test-key-0123456789" })),
    );
    n.admin_ok(
        "POST",
        &format!("/usageplans/{plan}/keys"),
        Some(json!({ "keyId": key["id"], "keyType": "API_KEY" })),
    );
    let host = format!("{id}.execute-api.localhost");
    let get = |path: &str, extra: &str| {
        let raw =
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
        common::parse_response(&raw_exchange(n.data, raw.as_bytes()))
            .expect("a response")
            .status
    };
    let k = "x-api-key: metrics-test-key-0123456789\r\n";
    let statuses = [
        get("/prod/pets", ""),
        get("/prod/pets", ""),
        get("/prod/backend", ""),
        get("/prod/nowhere", ""),
        get("/prod/keyed", k),
        get("/prod/keyed", k),
    ];
    assert_eq!(statuses, [200, 200, 200, 403, 200, 429]);

    let stage = format!("api=\"{id}\",stage=\"prod\"");
    let pets_m = format!("{stage},resource=\"/pets\",method=\"GET\"");
    // Workers count as they answer; a scrape sums them at once.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut text = scrape(&n);
    while value(&text, &format!("tollgate_api_requests_total{{{stage}}}")) != Some(6)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
        text = scrape(&n);
    }
    let v = |s: String| value(&text, &s);
    assert_eq!(
        v(format!("tollgate_api_requests_total{{{stage}}}")),
        Some(6),
        "{text}"
    );
    assert_eq!(v(format!("tollgate_api_4xx_total{{{stage}}}")), Some(2));
    assert_eq!(v(format!("tollgate_api_5xx_total{{{stage}}}")), Some(0));
    assert_eq!(
        v(format!("tollgate_api_latency_ms_count{{{stage}}}")),
        Some(6)
    );
    assert_eq!(
        v(format!(
            "tollgate_api_latency_ms_bucket{{{stage},le=\"+Inf\"}}"
        )),
        Some(6)
    );
    assert_eq!(
        v(format!(
            "tollgate_api_integration_latency_ms_count{{{stage}}}"
        )),
        Some(1)
    );
    // Only the method with detailed metrics has its own series.
    assert_eq!(
        v(format!("tollgate_api_requests_total{{{pets_m}}}")),
        Some(2)
    );
    assert!(!text.contains("resource=\"/backend\""), "{text}");
    assert_eq!(
        v(format!(
            "tollgate_plan_quota_exceeded_total{{plan=\"{plan}\"}}"
        )),
        Some(1)
    );
    assert_eq!(
        v(format!("tollgate_plan_throttled_total{{plan=\"{plan}\"}}")),
        Some(0)
    );
    // The node-wide counters are still there, and the node's Raft state.
    assert_eq!(v("tollgate_requests_total".into()), Some(6));
    assert_eq!(v("tollgate_raft_is_leader".into()), Some(1));
    assert_eq!(v("tollgate_raft_leader".into()), Some(1));
    assert!(v("tollgate_raft_term".into()).unwrap() >= 1);
    assert_eq!(v("tollgate_raft_apply_lag".into()), Some(0));
    assert!(v("tollgate_usage_report_lag_ms".into()).is_some());
    assert!(v("tollgate_open_connections".into()).is_some());

    // Every metric the Grafana dashboard in docs/ queries is one the node serves.
    let dashboard = include_str!("../../docs/grafana-dashboard.json");
    let _: serde_json::Value = serde_json::from_str(dashboard).expect("the dashboard is JSON");
    let mut names: Vec<&str> = dashboard
        .match_indices("tollgate_")
        .map(|(at, _)| {
            let rest = &dashboard[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|n| *n != "tollgate_")
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() > 10, "{names:?}");
    for name in names {
        let family = name.strip_suffix("_bucket").unwrap_or(name);
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "the dashboard queries {name}, which /metrics does not serve"
        );
    }
}
