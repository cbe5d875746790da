//! `tollgate-bench scale` (issue 14): one node, one worker, N API keys imported into one usage
//! plan with a quota, M APIs of R resources deployed to two stages, and what that costs:
//!
//! - RSS per key after the import, and the import time per batch (keys/s, to show linearity);
//!   ImportApiKeys takes at most 10 000 rows a call (AWS's limit), so batches are ≤ 10 000;
//! - RSS per deployed stage after the APIs (each imported as one OpenAPI document, MOCK GETs);
//! - time from UpdateIntegration + CreateDeployment of one API until the data plane serves the
//!   change (polled);
//! - restart time of the node (SIGTERM, start on the same data dir, until a key is served);
//! - throughput of keyed requests spread over min(N, 10 000) keys (bench's own open-loop client).
//!
//! Every admin call is a direct SigV4-signed HTTP call ([`tollgate_node::admin_client`]).
//! The pure parts (batch planning, CSV, the table) are unit-tested.

use crate::client::{self, LoadConfig};
use crate::compare::{admin, find_tollgate, free_port, get_status, spawn, wait_listening, Proc};
use crate::http::Target;
use crate::schedule::{Schedule, Spread};
use serde::Serialize;
use serde_json::json;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tollgate_node::sigv4::Credentials;

/// The most rows ImportApiKeys takes in one call (AWS's 10 000 keys per account and Region).
pub const MAX_BATCH: usize = 10_000;
/// The most keys the throughput phase spreads its requests over.
pub const MAX_ACTIVE_KEYS: usize = 10_000;

/// Settings of a scale run.
#[derive(Debug, Clone)]
pub struct ScaleOpts {
    /// The `tollgate` binary (default: next to this binary).
    pub tollgate: Option<PathBuf>,
    /// API keys to import.
    pub keys: usize,
    /// Keys per ImportApiKeys call (capped at [`MAX_BATCH`]).
    pub batch: usize,
    /// APIs to create.
    pub apis: usize,
    /// Resources (each with a MOCK GET) per API.
    pub resources: usize,
    /// Timed changes of the first API spread over the APIs' creation (besides the one after
    /// it), so that some meet the snapshots the log takes meanwhile.
    pub changes: usize,
    /// Seconds of keyed traffic.
    pub secs: f64,
    /// Offered rate of keyed traffic, requests per second.
    pub rate: f64,
    /// Keep-alive connections of the generator.
    pub connections: usize,
    /// Generator threads.
    pub threads: usize,
    /// Print progress lines on stderr.
    pub progress: bool,
}

/// One ImportApiKeys call.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Batch {
    /// Keys in it.
    pub keys: usize,
    /// Seconds of the call (request to answer; the change is committed when it answers).
    pub secs: f64,
    /// `keys / secs`.
    pub keys_per_s: f64,
}

/// GetApiKeys pages of [`PAGE_LIMIT`] keys, timed with `keys_held` keys in the registry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PageTimes {
    /// Keys the registry held.
    pub keys_held: usize,
    /// Median milliseconds of [`PAGE_CALLS`] calls for the first page.
    pub first_ms: f64,
    /// Median milliseconds of [`PAGE_CALLS`] calls for a page from the middle of the ids
    /// (`position=m`: ids are random alphanumerics).
    pub middle_ms: f64,
}

/// Keys per GetApiKeys page timed (AWS's largest `limit`).
pub const PAGE_LIMIT: usize = 500;
/// Calls per timed page (the median is kept).
pub const PAGE_CALLS: usize = 5;

/// What a scale run measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScaleResult {
    /// Keys imported.
    pub keys: usize,
    /// APIs created.
    pub apis: usize,
    /// Resources per API.
    pub resources: usize,
    /// Stages each API is deployed to.
    pub stages: usize,
    /// Node RSS before the import, KiB.
    pub rss_before_kib: u64,
    /// Node RSS once the last key is served, KiB.
    pub rss_after_keys_kib: u64,
    /// `(rss_after_keys - rss_before) / keys`, bytes.
    pub rss_per_key_bytes: f64,
    /// Seconds of all import calls.
    pub import_secs: f64,
    /// Seconds from the last import call's answer until the data plane serves its last key.
    pub key_visible_secs: f64,
    /// Each import call.
    pub batches: Vec<Batch>,
    /// GetApiKeys page times: once 10 000 keys are held (or all, when fewer), and after the
    /// whole import (to show a page costs the page, not the keys held).
    pub pages: Vec<PageTimes>,
    /// Seconds to create and deploy the APIs.
    pub apis_secs: f64,
    /// Node RSS after the APIs, KiB.
    pub rss_after_apis_kib: u64,
    /// `(rss_after_apis - rss_after_keys) / (apis × stages)`, bytes.
    pub rss_per_stage_bytes: f64,
    /// Milliseconds from UpdateIntegration + CreateDeployment of one API (sent) until the data
    /// plane answers with the change.
    pub change_visible_ms: f64,
    /// The same, for the changes made while the APIs were created ([`ScaleOpts::changes`]),
    /// in order.
    pub changes_during_apis_ms: Vec<f64>,
    /// Seconds from starting the node again on its data dir until it serves a key.
    pub restart_secs: f64,
    /// Keys the traffic is spread over.
    pub active_keys: usize,
    /// Offered rate, requests per second.
    pub offered_rate: f64,
    /// 2xx answers per second.
    pub ok_per_s: f64,
    /// Answers that were not 2xx, errors and timeouts.
    pub failed: u64,
    /// Median latency of the traffic (corrected), microseconds.
    pub p50_us: u64,
    /// 99th percentile latency (corrected), microseconds.
    pub p99_us: u64,
}

/// Splits `n` keys into consecutive batches of at most `batch` (≥ 1, ≤ [`MAX_BATCH`]).
pub fn plan_batches(n: usize, batch: usize) -> Vec<Range<usize>> {
    let b = batch.clamp(1, MAX_BATCH);
    (0..n).step_by(b).map(|s| s..(s + b).min(n)).collect()
}

/// The value of key `i` (20 to 128 characters, as AWS requires).
pub fn key_value(i: usize) -> String {
    format!("scale-bench-key-{i:012}")
}

/// The ImportApiKeys CSV of keys `r`, all subscribed to `plan`.
pub fn csv(plan: &str, r: Range<usize>) -> String {
    let mut t = String::with_capacity(64 + r.len() * 64);
    t.push_str("Name,Key,Enabled,UsagePlanIds\n");
    for i in r {
        t.push_str(&format!("k{i},{},TRUE,{plan}\n", key_value(i)));
    }
    t
}

/// Last batch's keys/s over the first's (1.0: linear; well under 1: slowing as keys grow).
pub fn linearity(batches: &[Batch]) -> Option<f64> {
    let (first, last) = (batches.first()?, batches.last()?);
    (first.keys_per_s > 0.0).then(|| last.keys_per_s / first.keys_per_s)
}

/// The OpenAPI document of one API: `resources` paths `/r{i}`, each a MOCK GET answering
/// 200, or 201 when the request template says so (what the change phase switches to).
pub fn api_doc(name: &str, resources: usize) -> serde_json::Value {
    let mut paths = serde_json::Map::new();
    for i in 0..resources {
        paths.insert(
            format!("/r{i}"),
            json!({"get": {
                "responses": {"200": {"description": "ok"}, "201": {"description": "changed"}},
                "x-amazon-apigateway-integration": {
                    "type": "mock",
                    "requestTemplates": {"application/json": "{\"statusCode\": 200}"},
                    "responses": {
                        "201": {"statusCode": "201"},
                        "default": {"statusCode": "200"}
                    }
                }
            }}),
        );
    }
    json!({"openapi": "3.0.1", "info": {"title": name, "version": "1"}, "paths": paths})
}

/// Changes one API's integration (the MOCK's status) and deploys it, timed until the data
/// plane answers with it.
struct Changer {
    api: String,
    resource: String,
    target: Target,
    /// The status the data plane answers with now.
    status: u16,
}

impl Changer {
    /// For API `id` (its `/r0` resource), once its stage `a` serves.
    fn new(a: SocketAddr, creds: &Credentials, data: SocketAddr, id: &str) -> io::Result<Changer> {
        let res = admin(
            a,
            creds,
            "GET",
            &format!("/restapis/{id}/resources?limit=500"),
            json!(null),
        )?;
        let rid = res["item"]
            .as_array()
            .and_then(|items| items.iter().find(|r| r["path"] == "/r0"))
            .and_then(|r| r["id"].as_str())
            .ok_or_else(|| io::Error::other(format!("no /r0 in {res}")))?
            .to_string();
        let url = format!("http://{data}/restapis/{id}/a/_user_request_/r0");
        let target = Target::parse(&url).map_err(io::Error::other)?;
        until_status(&target, 200, Duration::from_secs(30))?;
        Ok(Changer {
            api: id.to_string(),
            resource: rid,
            target,
            status: 200,
        })
    }

    /// UpdateIntegration + CreateDeployment switching the status; milliseconds until served.
    fn change(&mut self, a: SocketAddr, creds: &Credentials) -> io::Result<f64> {
        let next = if self.status == 200 { 201 } else { 200 };
        let t0 = Instant::now();
        admin(
            a,
            creds,
            "PATCH",
            &format!(
                "/restapis/{}/resources/{}/methods/GET/integration",
                self.api, self.resource
            ),
            json!({"patchOperations": [{"op": "replace",
                "path": "/requestTemplates/application~1json",
                "value": format!("{{\"statusCode\": {next}}}")}]}),
        )?;
        admin(
            a,
            creds,
            "POST",
            &format!("/restapis/{}/deployments", self.api),
            json!({"stageName": "a"}),
        )?;
        until_status(&self.target, next, Duration::from_secs(30))?;
        self.status = next;
        Ok(t0.elapsed().as_secs_f64() * 1000.0)
    }
}

/// The report as a table.
pub fn table(r: &ScaleResult) -> String {
    let mut t = String::new();
    let mut line = |k: &str, v: String| t.push_str(&format!("{k:<34} {v}\n"));
    line("keys imported", r.keys.to_string());
    line(
        "import",
        format!(
            "{:.2} s in {} calls ({:.0} keys/s)",
            r.import_secs,
            r.batches.len(),
            if r.import_secs > 0.0 {
                r.keys as f64 / r.import_secs
            } else {
                0.0
            }
        ),
    );
    if let (Some(f), Some(l)) = (r.batches.first(), r.batches.last()) {
        line(
            "  keys/s first → last call",
            format!(
                "{:.0} → {:.0} (ratio {:.2})",
                f.keys_per_s,
                l.keys_per_s,
                linearity(&r.batches).unwrap_or(0.0)
            ),
        );
    }
    line(
        "  last key served after",
        format!("{:.3} s", r.key_visible_secs),
    );
    line(
        "RSS before → after keys",
        format!("{} → {} KiB", r.rss_before_kib, r.rss_after_keys_kib),
    );
    line("RSS per key", format!("{:.0} B", r.rss_per_key_bytes));
    for p in &r.pages {
        line(
            &format!("  GetApiKeys page of {PAGE_LIMIT}"),
            format!(
                "{:.1} ms first, {:.1} ms middle (median of {PAGE_CALLS}) at {} keys",
                p.first_ms, p.middle_ms, p.keys_held
            ),
        );
    }
    line(
        "APIs × resources × stages",
        format!(
            "{} × {} × {} in {:.2} s",
            r.apis, r.resources, r.stages, r.apis_secs
        ),
    );
    line(
        "RSS per deployed stage",
        format!("{:.0} B", r.rss_per_stage_bytes),
    );
    line(
        "change served after",
        format!(
            "{:.1} ms (UpdateIntegration + CreateDeployment)",
            r.change_visible_ms
        ),
    );
    if !r.changes_during_apis_ms.is_empty() {
        let mut v = r.changes_during_apis_ms.clone();
        v.sort_by(f64::total_cmp);
        line(
            "  changes while APIs were created",
            format!(
                "{} changes: median {:.1} ms, max {:.1} ms",
                v.len(),
                v[v.len() / 2],
                v[v.len() - 1]
            ),
        );
    }
    line("restart until serving", format!("{:.2} s", r.restart_secs));
    line(
        "keyed traffic",
        format!(
            "{:.0} ok/s of {:.0} offered over {} keys, {} failed, p50 {} µs, p99 {} µs",
            r.ok_per_s, r.offered_rate, r.active_keys, r.failed, r.p50_us, r.p99_us
        ),
    );
    t
}

/// The node under test.
struct Node {
    proc: Proc,
    admin: SocketAddr,
    data: SocketAddr,
}

fn start_node(
    tollgate: &Path,
    dir: &Path,
    creds: &Credentials,
    ports: [u16; 3],
) -> io::Result<Node> {
    let [data, admin_port, raft] = ports;
    let mut cmd = Command::new(tollgate);
    cmd.env("TOLLGATE_ACCESS_KEY_ID", &creds.access_key_id)
        .env("TOLLGATE_SECRET_ACCESS_KEY", &creds.secret_access_key)
        // TOLLGATE_BENCH_NODE_LOG: the node's log filter (its startup timings are at info).
        .env(
            "TOLLGATE_LOG",
            std::env::var("TOLLGATE_BENCH_NODE_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{data}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin_port}")])
        .args(["--raft-listen", &format!("127.0.0.1:{raft}")])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--workers", "1"]);
    let log = dir.join("tollgate.log");
    let mut proc = spawn("tollgate", cmd, &[], &log)?;
    let admin: SocketAddr = ([127, 0, 0, 1], admin_port).into();
    let data: SocketAddr = ([127, 0, 0, 1], data).into();
    wait_listening(&mut proc, admin, &log)?;
    wait_listening(&mut proc, data, &log)?;
    Ok(Node { proc, admin, data })
}

fn rss_kib(pid: u32) -> io::Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| io::Error::other("no VmRSS"))
}

fn field(v: &serde_json::Value, k: &str) -> io::Result<String> {
    v[k].as_str()
        .map(str::to_string)
        .ok_or_else(|| io::Error::other(format!("admin answer without {k}: {v}")))
}

/// Polls `t` until it answers `status` (at most `limit`); the time it took.
fn until_status(t: &Target, status: u16, limit: Duration) -> io::Result<Duration> {
    let t0 = Instant::now();
    loop {
        let last = get_status(t);
        if last.as_ref().ok() == Some(&status) {
            break;
        }
        if t0.elapsed() > limit {
            return Err(io::Error::other(format!(
                "{} did not answer {status} within {limit:?} (last: {last:?})",
                t.url
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(t0.elapsed())
}

/// Times GetApiKeys pages (see [`PageTimes`]); fails unless each answers a full page (or
/// every key, when fewer are held).
fn page_times(a: SocketAddr, creds: &Credentials, keys_held: usize) -> io::Result<PageTimes> {
    let median = |query: &str, want: Option<usize>| -> io::Result<f64> {
        let mut ms = Vec::with_capacity(PAGE_CALLS);
        for _ in 0..PAGE_CALLS {
            let path = format!("/apikeys?limit={PAGE_LIMIT}{query}");
            let t0 = Instant::now();
            let ans = tollgate_node::admin_client::call(a, creds, "GET", &path, b"")?;
            ms.push(t0.elapsed().as_secs_f64() * 1000.0);
            let items = ans.json()["item"].as_array().map_or(0, Vec::len);
            if ans.status != 200 || want.is_some_and(|w| items != w) {
                return Err(io::Error::other(format!(
                    "GetApiKeys {path}: {} with {items} keys (want {want:?})",
                    ans.status
                )));
            }
        }
        ms.sort_by(f64::total_cmp);
        Ok(ms[ms.len() / 2])
    };
    Ok(PageTimes {
        keys_held,
        first_ms: median("", Some(keys_held.min(PAGE_LIMIT)))?,
        // How many keys sort after "m" depends on the ids minted: not checked.
        middle_ms: median("&position=m", None)?,
    })
}

fn progress(on: bool, msg: &str) {
    if on {
        eprint!("\r\x1b[2K{msg}");
        let _ = io::stderr().flush();
    }
}

/// Runs the scale scenario.
pub fn run(o: &ScaleOpts) -> io::Result<ScaleResult> {
    if o.keys == 0 {
        return Err(io::Error::other("--keys must be at least 1"));
    }
    let tollgate = find_tollgate(&o.tollgate)?;
    let dir = tempfile::tempdir()?;
    let creds = Credentials {
        access_key_id: "AKIDSCALEBENCH".into(),
        secret_access_key: "scale-bench-secret".into(),
    };
    let ports = [free_port()?, free_port()?, free_port()?];
    let node = start_node(&tollgate, dir.path(), &creds, ports)?;
    let a = node.admin;

    // The keyed API and the plan.
    let api = admin(a, &creds, "POST", "/restapis", json!({"name": "keys"}))?;
    let (kid, root) = (field(&api, "id")?, field(&api, "rootResourceId")?);
    let m = format!("/restapis/{kid}/resources/{root}/methods/GET");
    admin(
        a,
        &creds,
        "PUT",
        &m,
        json!({"authorizationType": "NONE", "apiKeyRequired": true}),
    )?;
    admin(
        a,
        &creds,
        "PUT",
        &format!("{m}/integration"),
        json!({"type": "MOCK", "requestTemplates": {"application/json": "{\"statusCode\": 200}"}}),
    )?;
    admin(a, &creds, "PUT", &format!("{m}/responses/200"), json!({}))?;
    admin(
        a,
        &creds,
        "PUT",
        &format!("{m}/integration/responses/200"),
        json!({"responseTemplates": {"application/json": "{\"ok\":true}"}}),
    )?;
    admin(
        a,
        &creds,
        "POST",
        &format!("/restapis/{kid}/deployments"),
        json!({"stageName": "prod"}),
    )?;
    let plan = admin(
        a,
        &creds,
        "POST",
        "/usageplans",
        json!({"name": "scale", "apiStages": [{"apiId": kid, "stage": "prod"}],
               "quota": {"limit": 1_000_000_000u64, "period": "DAY"}}),
    )?;
    let plan = field(&plan, "id")?;
    let keyed_url = format!("http://{}/restapis/{kid}/prod/_user_request_/", node.data);
    let keyed = Target::parse(&keyed_url).map_err(io::Error::other)?;

    // Import.
    std::thread::sleep(Duration::from_millis(300));
    let rss_before = rss_kib(node.proc.child.id())?;
    let mut batches = Vec::new();
    let mut pages = Vec::new();
    let mut import_secs = 0.0;
    let batch_ranges = plan_batches(o.keys, o.batch);
    let early_page_at = batch_ranges
        .iter()
        .map(|r| r.end)
        .find(|&end| end >= 10_000)
        .unwrap_or(o.keys);
    for r in batch_ranges {
        let body = csv(&plan, r.clone());
        let t0 = Instant::now();
        let ans = tollgate_node::admin_client::call(
            a,
            &creds,
            "POST",
            "/apikeys?mode=import&format=csv&failonwarnings=true",
            body.as_bytes(),
        )?;
        if ans.status != 201 {
            return Err(io::Error::other(format!(
                "ImportApiKeys of keys {r:?}: {} {}",
                ans.status,
                String::from_utf8_lossy(&ans.body)
            )));
        }
        let secs = t0.elapsed().as_secs_f64();
        import_secs += secs;
        if r.end == early_page_at && r.end < o.keys {
            // Outside the import's time.
            pages.push(page_times(a, &creds, r.end)?);
        }
        batches.push(Batch {
            keys: r.len(),
            secs,
            keys_per_s: r.len() as f64 / secs.max(1e-9),
        });
        progress(
            o.progress,
            &format!(
                "import: {}/{} keys, last call {:.0} keys/s",
                r.end,
                o.keys,
                r.len() as f64 / secs.max(1e-9)
            ),
        );
    }
    let last = keyed
        .clone()
        .with_header("x-api-key", &key_value(o.keys - 1));
    let key_visible = until_status(&last, 200, Duration::from_secs(120))?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_after_keys = rss_kib(node.proc.child.id())?;
    pages.push(page_times(a, &creds, o.keys)?);

    // APIs: one ImportRestApi each, deployed to two stages.
    let t_apis = Instant::now();
    let mut changer: Option<Changer> = None;
    let mut changes_during_apis_ms = Vec::new();
    let change_every = match o.changes {
        0 => usize::MAX,
        n => (o.apis / (n + 1)).max(1),
    };
    for i in 0..o.apis {
        let doc = api_doc(&format!("scale-{i}"), o.resources.max(1));
        let api = admin(a, &creds, "POST", "/restapis?mode=import", doc)?;
        let id = field(&api, "id")?;
        for stage in ["a", "b"] {
            admin(
                a,
                &creds,
                "POST",
                &format!("/restapis/{id}/deployments"),
                json!({"stageName": stage}),
            )?;
        }
        if changer.is_none() {
            changer = Some(Changer::new(a, &creds, node.data, &id)?);
        } else if i % change_every == 0 && changes_during_apis_ms.len() < o.changes {
            if let Some(c) = changer.as_mut() {
                changes_during_apis_ms.push(c.change(a, &creds)?);
            }
        }
        if i % 10 == 9 || i + 1 == o.apis {
            progress(
                o.progress,
                &format!("apis: {}/{} deployed to 2 stages", i + 1, o.apis),
            );
        }
    }
    let apis_secs = t_apis.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    let rss_after_apis = rss_kib(node.proc.child.id())?;

    // One API changed and deployed: until the data plane answers with it.
    let change_visible_ms = match changer.as_mut() {
        Some(c) => c.change(a, &creds)?,
        None => 0.0,
    };

    // Restart on the same data dir.
    progress(o.progress, "restart");
    drop(node);
    let t_restart = Instant::now();
    let node = start_node(&tollgate, dir.path(), &creds, ports)?;
    until_status(&last, 200, Duration::from_secs(120))?;
    let restart_secs = t_restart.elapsed().as_secs_f64();
    // TOLLGATE_BENCH_NODE_LOG_COPY: where to keep the restarted node's log.
    if let Ok(to) = std::env::var("TOLLGATE_BENCH_NODE_LOG_COPY") {
        std::fs::copy(dir.path().join("tollgate.log"), to)?;
    }

    // Keyed traffic over the first min(N, 10 000) keys.
    let active = o.keys.min(MAX_ACTIVE_KEYS);
    let values: Vec<String> = (0..active).map(key_value).collect();
    let t = keyed.with_header_values("x-api-key", &values);
    let schedule = Schedule::constant(o.rate, o.secs).map_err(io::Error::other)?;
    let rec = client::run(&LoadConfig {
        targets: vec![t],
        schedule,
        spread: Spread::RoundRobin,
        connections: o.connections.max(1),
        threads: o.threads.max(1),
        timeout: Duration::from_secs(2),
        cpus: Vec::new(),
        progress: o.progress,
    })?;
    drop(node);
    if o.progress {
        eprintln!();
    }
    let ok: u64 = rec
        .total
        .status
        .iter()
        .filter(|(s, _)| (200..300).contains(*s))
        .map(|(_, n)| n)
        .sum();
    let failed = rec.total.responses() - ok + rec.total.errors + rec.total.timeouts;
    let stages = 2;
    Ok(ScaleResult {
        keys: o.keys,
        apis: o.apis,
        resources: o.resources.max(1),
        stages,
        rss_before_kib: rss_before,
        rss_after_keys_kib: rss_after_keys,
        rss_per_key_bytes: rss_after_keys.saturating_sub(rss_before) as f64 * 1024.0
            / o.keys as f64,
        import_secs,
        key_visible_secs: key_visible.as_secs_f64(),
        batches,
        pages,
        apis_secs,
        rss_after_apis_kib: rss_after_apis,
        rss_per_stage_bytes: if o.apis == 0 {
            0.0
        } else {
            rss_after_apis.saturating_sub(rss_after_keys) as f64 * 1024.0 / (o.apis * stages) as f64
        },
        change_visible_ms,
        changes_during_apis_ms,
        restart_secs,
        active_keys: active,
        offered_rate: o.rate,
        ok_per_s: ok as f64 / o.secs.max(1e-9),
        failed,
        p50_us: rec.total.corrected.value_at_quantile(0.5) / 1000,
        p99_us: rec.total.corrected.value_at_quantile(0.99) / 1000,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_every_key_once_within_awss_limit() {
        assert_eq!(plan_batches(0, 5), Vec::<Range<usize>>::new());
        assert_eq!(plan_batches(7, 3), vec![0..3, 3..6, 6..7]);
        assert_eq!(plan_batches(6, 3), vec![0..3, 3..6]);
        let b = plan_batches(25_001, 50_000);
        assert_eq!(b, vec![0..10_000, 10_000..20_000, 20_000..25_001]);
        assert_eq!(plan_batches(2, 0), vec![0..1, 1..2]);
    }

    #[test]
    fn csv_rows_name_valid_keys_and_the_plan() {
        let t = csv("p1", 3..5);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "Name,Key,Enabled,UsagePlanIds");
        assert_eq!(lines[1], "k3,scale-bench-key-000000000003,TRUE,p1");
        assert_eq!(lines.len(), 3);
        assert!((20..=128).contains(&key_value(usize::MAX).len()));
    }

    #[test]
    fn the_doc_has_one_mock_get_per_resource() {
        let d = api_doc("x", 3);
        let paths = d["paths"].as_object().unwrap();
        assert_eq!(paths.len(), 3);
        assert_eq!(
            paths["/r2"]["get"]["x-amazon-apigateway-integration"]["type"],
            "mock"
        );
    }

    fn sample() -> ScaleResult {
        ScaleResult {
            keys: 20_000,
            apis: 3,
            resources: 4,
            stages: 2,
            rss_before_kib: 10_000,
            rss_after_keys_kib: 30_000,
            rss_per_key_bytes: 1024.0,
            import_secs: 2.0,
            key_visible_secs: 0.25,
            batches: vec![
                Batch {
                    keys: 10_000,
                    secs: 1.0,
                    keys_per_s: 10_000.0,
                },
                Batch {
                    keys: 10_000,
                    secs: 1.25,
                    keys_per_s: 8_000.0,
                },
            ],
            pages: vec![PageTimes {
                keys_held: 10_000,
                first_ms: 4.0,
                middle_ms: 4.5,
            }],
            apis_secs: 0.5,
            rss_after_apis_kib: 30_600,
            rss_per_stage_bytes: 102_400.0,
            change_visible_ms: 12.5,
            changes_during_apis_ms: vec![3.0, 60.0],
            restart_secs: 1.5,
            active_keys: 10_000,
            offered_rate: 5000.0,
            ok_per_s: 4990.0,
            failed: 3,
            p50_us: 200,
            p99_us: 900,
        }
    }

    #[test]
    fn linearity_is_last_over_first() {
        assert_eq!(linearity(&sample().batches), Some(0.8));
        assert_eq!(linearity(&[]), None);
    }

    #[test]
    fn the_table_shows_every_figure() {
        let t = table(&sample());
        for want in [
            "keys imported                      20000",
            "2.00 s in 2 calls (10000 keys/s)",
            "10000 → 8000 (ratio 0.80)",
            "RSS per key                        1024 B",
            "4.0 ms first, 4.5 ms middle (median of 5) at 10000 keys",
            "3 × 4 × 2 in 0.50 s",
            "RSS per deployed stage             102400 B",
            "12.5 ms",
            "1.50 s",
            "4990 ok/s of 5000 offered over 10000 keys, 3 failed, p50 200 µs, p99 900 µs",
        ] {
            assert!(t.contains(want), "{want:?} not in\n{t}");
        }
        let j: serde_json::Value = serde_json::to_value(sample()).unwrap();
        assert_eq!(j["batches"][1]["keys_per_s"], 8000.0);
        assert_eq!(j["change_visible_ms"], 12.5);
    }
}
