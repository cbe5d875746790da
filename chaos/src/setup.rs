//! Makes what the workload uses, through the admin API: an API with a key-required MOCK
//! method `GET /ping`, deployed to the served stage `prod`; a second stage `chaos` (the
//! register the stage updates write); one API key per node in a usage plan on `prod` (node n's prober
//! sends key n, so each key's ledger is one node's usage); and a key in a second plan with a
//! daily quota ([`QUOTA_LIMIT`]), which the quota prober sends through every node in turn.

use crate::nodes::Access;
use crate::workload::{Fixture, QuotaKey, UsageKey};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Retries `call` on node `via` until it answers 2xx or `within` passes; returns the body.
fn ok(
    access: &Access,
    via: u64,
    method: &str,
    path: &str,
    body: Value,
    within: Duration,
) -> Result<Value, String> {
    let deadline = Instant::now() + within;
    let body = (!body.is_null()).then_some(body);
    loop {
        let last = match access.call(via, method, path, body.as_ref(), Duration::from_secs(15)) {
            Ok(a) if a.is_success() => return Ok(a.json()),
            Ok(a) => format!("{} {}", a.status, String::from_utf8_lossy(&a.body)),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(format!("{method} {path} via node {via}: {last}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn field(v: &Value, name: &str) -> Result<String, String> {
    v[name]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no {name} in {v}"))
}

/// The quota key's daily quota: spent in about 20 s by the quota prober (20 requests a
/// second), so most of a run probes a spent quota, membership changes and faults included.
pub const QUOTA_LIMIT: u64 = 400;

/// Creates the fixture through node `via`.
pub fn create(access: &Access, via: u64, run_tag: &str) -> Result<Fixture, String> {
    let t = Duration::from_secs(30);
    let api = ok(
        access,
        via,
        "POST",
        "/restapis",
        json!({ "name": "chaos" }),
        t,
    )?;
    let api_id = field(&api, "id")?;
    let root = field(&api, "rootResourceId")?;
    let res = ok(
        access,
        via,
        "POST",
        &format!("/restapis/{api_id}/resources/{root}"),
        json!({ "pathPart": "ping" }),
        t,
    )?;
    let res = field(&res, "id")?;
    let m = format!("/restapis/{api_id}/resources/{res}/methods/GET");
    ok(
        access,
        via,
        "PUT",
        &m,
        json!({ "authorizationType": "NONE", "apiKeyRequired": true }),
        t,
    )?;
    ok(
        access,
        via,
        "PUT",
        &format!("{m}/integration"),
        json!({ "type": "MOCK", "requestTemplates": { "application/json": "{\"statusCode\": 200}" } }),
        t,
    )?;
    ok(
        access,
        via,
        "PUT",
        &format!("{m}/responses/200"),
        json!({}),
        t,
    )?;
    ok(
        access,
        via,
        "PUT",
        &format!("{m}/integration/responses/200"),
        json!({ "responseTemplates": { "application/json": "{\"ok\": true}" } }),
        t,
    )?;
    let dep = ok(
        access,
        via,
        "POST",
        &format!("/restapis/{api_id}/deployments"),
        json!({ "stageName": "prod", "description": "chaos setup" }),
        t,
    )?;
    let dep = field(&dep, "id")?;
    ok(
        access,
        via,
        "POST",
        &format!("/restapis/{api_id}/stages"),
        json!({ "stageName": "chaos", "deploymentId": dep }),
        t,
    )?;
    let plan = ok(
        access,
        via,
        "POST",
        "/usageplans",
        json!({ "name": "chaos", "apiStages": [ { "apiId": api_id, "stage": "prod" } ] }),
        t,
    )?;
    let plan_id = field(&plan, "id")?;
    let mut keys = Vec::new();
    for n in &access.nodes {
        let value = format!("chaos-usage-{run_tag}-node{}-value", n.id);
        let key = ok(
            access,
            via,
            "POST",
            "/apikeys",
            json!({ "name": format!("chaos-usage-node{}", n.id), "value": value, "enabled": true }),
            t,
        )?;
        let id = field(&key, "id")?;
        ok(
            access,
            via,
            "POST",
            &format!("/usageplans/{plan_id}/keys"),
            json!({ "keyId": id, "keyType": "API_KEY" }),
            t,
        )?;
        keys.push(UsageKey {
            node: n.id,
            id,
            value,
        });
    }
    // A second plan with a daily quota, and one key in it that the quota prober sends through
    // every node in turn.
    let quota_plan = ok(
        access,
        via,
        "POST",
        "/usageplans",
        json!({
            "name": "chaos-quota",
            "apiStages": [ { "apiId": api_id, "stage": "prod" } ],
            "quota": { "limit": QUOTA_LIMIT, "period": "DAY" }
        }),
        t,
    )?;
    let quota_plan_id = field(&quota_plan, "id")?;
    let value = format!("chaos-quota-{run_tag}-value");
    let key = ok(
        access,
        via,
        "POST",
        "/apikeys",
        json!({ "name": "chaos-quota", "value": value, "enabled": true }),
        t,
    )?;
    let quota_key_id = field(&key, "id")?;
    ok(
        access,
        via,
        "POST",
        &format!("/usageplans/{quota_plan_id}/keys"),
        json!({ "keyId": quota_key_id, "keyType": "API_KEY" }),
        t,
    )?;
    Ok(Fixture {
        quota: Some(QuotaKey {
            plan_id: quota_plan_id,
            id: quota_key_id,
            value,
            limit: QUOTA_LIMIT,
        }),
        probe_path: format!("/restapis/{api_id}/prod/_user_request_/ping"),
        api_id,
        served_stage: "prod".into(),
        register_stage: "chaos".into(),
        keys,
        plan_id,
        run_tag: run_tag.to_string(),
    })
}
