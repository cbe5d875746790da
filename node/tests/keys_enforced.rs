//! API keys and usage plans enforced by the real data plane: a key-required method refuses a
//! missing, unknown or disabled key (403), a plan's per-key throttle answers 429 Too Many
//! Requests, a quota running out answers 429 Limit Exceeded, and GetUsage reports the usage the
//! node sent through Raft.

mod common;

use common::TestNode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn patch(op: &str, path: &str, value: &str) -> Value {
    json!({ "patchOperations": [ { "op": op, "path": path, "value": value } ] })
}

#[test]
fn keys_throttles_and_quotas_are_enforced_and_metered() {
    let n = TestNode::start(&["--workers", "2"]);
    let api = n.admin_ok("POST", "/restapis", Some(json!({ "name": "metered" })));
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    let pets = n.admin_ok(
        "POST",
        &format!("/restapis/{id}/resources/{root}"),
        Some(json!({ "pathPart": "pets" })),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let m = format!("/restapis/{id}/resources/{pets}/methods/GET");
    n.admin_ok(
        "PUT",
        &m,
        Some(json!({ "authorizationType": "NONE", "apiKeyRequired": true })),
    );
    n.admin_ok(
        "PUT",
        &format!("{m}/integration"),
        Some(json!({ "type": "MOCK", "requestTemplates": { "application/json": "{\"statusCode\": 200}" } })),
    );
    n.admin_ok("PUT", &format!("{m}/responses/200"), Some(json!({})));
    n.admin_ok(
        "PUT",
        &format!("{m}/integration/responses/200"),
        Some(json!({ "responseTemplates": { "application/json": "{\"ok\":true}" } })),
    );
    for stage in ["prod", "dev", "beta"] {
        n.admin_ok(
            "POST",
            &format!("/restapis/{id}/deployments"),
            Some(json!({ "stageName": stage })),
        );
    }
    // Key 1: prod, quota of 7 a day less an offset of 2 today (the plan's initial period).
    // Key 2: dev, 1 request/s with a burst of 2.
    let k1 = n.admin_ok(
        "POST",
        "/apikeys",
        Some(json!({ "name": "k1", "value": "quota-key-0123456789abcdef", "enabled": true })),
    );
    let k2 = n.admin_ok(
        "POST",
        "/apikeys",
        Some(json!({ "name": "k2", "value": "rate-key-0123456789abcdef", "enabled": true })),
    );
    let plan1 = n.admin_ok(
        "POST",
        "/usageplans",
        Some(
            json!({ "name": "quota", "apiStages": [ { "apiId": id, "stage": "prod" } ],
                     "quota": { "limit": 7, "offset": 2, "period": "DAY" } }),
        ),
    );
    let plan2 = n.admin_ok(
        "POST",
        "/usageplans",
        Some(
            json!({ "name": "rate", "apiStages": [ { "apiId": id, "stage": "dev" } ],
                     "throttle": { "rateLimit": 1.0, "burstLimit": 2 } }),
        ),
    );
    let (p1, p2) = (plan1["id"].as_str().unwrap(), plan2["id"].as_str().unwrap());
    let (k1id, k2id) = (k1["id"].as_str().unwrap(), k2["id"].as_str().unwrap());
    n.admin_ok(
        "POST",
        &format!("/usageplans/{p1}/keys"),
        Some(json!({ "keyId": k1id, "keyType": "API_KEY" })),
    );
    n.admin_ok(
        "POST",
        &format!("/usageplans/{p2}/keys"),
        Some(json!({ "keyId": k2id, "keyType": "API_KEY" })),
    );

    let call = |stage: &str, key: Option<&str>| {
        let path = format!("/restapis/{id}/{stage}/_user_request_/pets");
        let headers: Vec<(&str, &str)> = key.map(|k| vec![("x-api-key", k)]).unwrap_or_default();
        n.request("GET", &path, &headers, b"")
    };
    // Missing, unknown, or a key of another stage's plan: 403.
    for r in [
        call("prod", None),
        call("prod", Some("no-such-key-0123456789")),
        call("prod", Some("rate-key-0123456789abcdef")),
    ] {
        assert_eq!(
            (r.status, r.json()),
            (403, json!({ "message": "Forbidden" }))
        );
    }
    // Quota: 5 pass, then Limit Exceeded.
    for i in 0..5 {
        let r = call("prod", Some("quota-key-0123456789abcdef"));
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
    }
    let r = call("prod", Some("quota-key-0123456789abcdef"));
    assert_eq!(
        (r.status, r.json()),
        (429, json!({ "message": "Limit Exceeded" }))
    );
    // The same key in a second plan (for dev, 3 a day): usage counts per plan, so the
    // prod quota spent above leaves all of this one.
    let plan4 = n.admin_ok(
        "POST",
        "/usageplans",
        Some(
            json!({ "name": "second", "apiStages": [ { "apiId": id, "stage": "dev" } ],
                     "quota": { "limit": 3, "period": "DAY" } }),
        ),
    );
    n.admin_ok(
        "POST",
        &format!("/usageplans/{}/keys", plan4["id"].as_str().unwrap()),
        Some(json!({ "keyId": k1id, "keyType": "API_KEY" })),
    );
    let dev: Vec<u16> = (0..4)
        .map(|_| call("dev", Some("quota-key-0123456789abcdef")).status)
        .collect();
    assert_eq!(dev, [200, 200, 200, 429], "the dev plan's own quota of 3");
    // Per-key throttle: a burst of 2 at 1/s.
    let started = Instant::now();
    let statuses: Vec<u16> = (0..10)
        .map(|_| call("dev", Some("rate-key-0123456789abcdef")).status)
        .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count() as f64;
    assert!(
        ok >= 1.0 && ok <= 2.0 + started.elapsed().as_secs_f64() + 1.0,
        "{statuses:?}"
    );
    let r = call("dev", Some("rate-key-0123456789abcdef"));
    if r.status == 429 {
        assert_eq!(r.json(), json!({ "message": "Too Many Requests" }));
    }
    // A burst of 1 over this node's 2 workers: half a token each, yet requests pass (every
    // worker's bucket holds at least one token).
    let k3 = n.admin_ok(
        "POST",
        "/apikeys",
        Some(json!({ "name": "k3", "value": "tiny-burst-key-0123456789", "enabled": true })),
    );
    let plan3 = n.admin_ok(
        "POST",
        "/usageplans",
        Some(
            json!({ "name": "tiny", "apiStages": [ { "apiId": id, "stage": "beta" } ],
                     "throttle": { "rateLimit": 10.0, "burstLimit": 1 } }),
        ),
    );
    n.admin_ok(
        "POST",
        &format!("/usageplans/{}/keys", plan3["id"].as_str().unwrap()),
        Some(json!({ "keyId": k3["id"], "keyType": "API_KEY" })),
    );
    let statuses: Vec<u16> = (0..20)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(5));
            call("beta", Some("tiny-burst-key-0123456789")).status
        })
        .collect();
    assert!(
        statuses.contains(&200),
        "burst 1 admitted nothing: {statuses:?}"
    );
    assert!(statuses.contains(&429), "nothing throttled: {statuses:?}");
    // The usage reached the replicated ledger: GetUsage shows 5 used, 0 left today.
    let today = String::from_utf8(
        std::process::Command::new("date")
            .args(["-u", "+%F"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let u = n.admin_ok(
            "GET",
            &format!("/usageplans/{p1}/usage?keyId={k1id}&startDate={today}&endDate={today}"),
            None,
        );
        if u["values"][k1id] == json!([[5, 0]]) {
            break;
        }
        assert!(Instant::now() < deadline, "usage never reported: {u}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // After the report, the quota stays spent (now from the ledger, not the local count).
    let r = call("prod", Some("quota-key-0123456789abcdef"));
    assert_eq!(r.status, 429);
    // Disabling a key stops it at once.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(call("dev", Some("rate-key-0123456789abcdef")).status, 200);
    n.admin_ok(
        "PATCH",
        &format!("/apikeys/{k2id}"),
        Some(patch("replace", "/enabled", "false")),
    );
    let r = call("dev", Some("rate-key-0123456789abcdef"));
    assert_eq!(r.status, 403);
}
