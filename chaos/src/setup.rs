//! Makes what the workload uses, through the admin API: an API with a key-required MOCK
//! method `GET /ping`, deployed to the served stage `prod`; a second stage `chaos` (the
//! register the stage updates write); one API key per node in a usage plan on `prod` (node n's prober
//! sends key n, so each key's ledger is one node's usage).

use crate::nodes::Access;
use crate::workload::{Fixture, UsageKey};
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
    Ok(Fixture {
        probe_path: format!("/restapis/{api_id}/prod/_user_request_/ping"),
        api_id,
        served_stage: "prod".into(),
        register_stage: "chaos".into(),
        keys,
        plan_id,
        run_tag: run_tag.to_string(),
    })
}
