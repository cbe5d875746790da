//! `tollgate-bench cluster`: scenarios on a local cluster of real `tollgate` processes (started
//! with `tollgate cluster local`), with a usage-plan limit on a key-required MOCK method.
//!
//! - `accuracy`: one key limited to R/s offered 10×R open loop, first spread over every node,
//!   then all sent to one node: admitted rate per 1 s window against R, time to converge after
//!   the shift, the most admitted in any window against the bound.
//! - `quota`: a key with a quota of Q requests offered well past it, spread over every node:
//!   admitted beyond Q against the overshoot bound, and the usage ledger against what was served.
//! - `spike`: steady at half of R, a 10× spike, steady again (issue 6's cluster scenario):
//!   admitted-request latency per phase and the share of 429s.

use crate::accuracy::{self, WindowVerdict};
use crate::client::{self, LoadConfig};
use crate::compare::{admin, find_tollgate, get_status, spawn, Proc};
use crate::http::Target;
use crate::record::Recorder;
use crate::report::{Report, Row};
use crate::schedule::{Schedule, Spread};
use serde::Serialize;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use tollgate_node::sigv4::Credentials;

/// Worker flush interval of the node (`dataplane::usage::FLUSH_EVERY`), seconds.
const FLUSH_S: f64 = 0.1;
/// Report interval of the node (`usage_reporter::REPORT_EVERY`), seconds.
const REPORT_S: f64 = 0.25;

/// Which scenarios to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Rate-limit accuracy, spread then shifted to one node.
    Accuracy,
    /// Quota overshoot.
    Quota,
    /// Steady, 10× spike, steady, with a plan throttle.
    Spike,
}

/// Settings of a cluster run.
#[derive(Debug, Clone)]
pub struct ClusterOpts {
    /// The `tollgate` binary (default: next to this binary).
    pub tollgate: Option<PathBuf>,
    /// Cluster size.
    pub nodes: usize,
    /// Data-plane workers per node.
    pub workers: usize,
    /// The plan's rate limit R, requests per second.
    pub rate: f64,
    /// The plan's burst limit.
    pub burst: u32,
    /// Offered load as a multiple of R (accuracy).
    pub overload: f64,
    /// Seconds of each accuracy phase (spread, then one node).
    pub phase_secs: f64,
    /// The quota (requests per day) of the quota scenario.
    pub quota: u64,
    /// Offered rate of the quota scenario.
    pub quota_rate: f64,
    /// Spike: seconds steady before, of the spike, steady after.
    pub spike: (f64, f64, f64),
    /// Spike multiplier over the steady rate (half of R).
    pub spike_mult: f64,
    /// Scenarios to run, in order.
    pub scenarios: Vec<Scenario>,
    /// Keep-alive connections of the generator.
    pub connections: usize,
    /// Generator threads.
    pub threads: usize,
    /// Write the results as JSON here.
    pub json: Option<PathBuf>,
}

/// The results of the accuracy scenario.
#[derive(Debug, Clone, Serialize)]
pub struct AccuracyResult {
    /// Limit and burst.
    pub rate: f64,
    /// Burst limit.
    pub burst: f64,
    /// Offered rate.
    pub offered: f64,
    /// Spread over every node, after its first second.
    pub spread: WindowVerdict,
    /// All on one node, after its first second.
    pub shifted: WindowVerdict,
    /// Share of answers that were 429, spread and shifted (at an offered load under R this
    /// should be close to 0).
    pub refused: (f64, f64),
    /// From the shift until every 300 ms window admits ≥ 95% of R.
    pub converged_after_ms: Option<u64>,
    /// Most admitted in any 1 s window (both phases), and the bound.
    pub max_1s: u64,
    /// burst + R·1 s + R·report interval.
    pub bound_1s: f64,
    /// Admitted per 100 ms, both phases back to back (for plots).
    pub ticks: Vec<u64>,
}

/// The results of the quota scenario.
#[derive(Debug, Clone, Serialize)]
pub struct QuotaResult {
    /// The quota.
    pub quota: u64,
    /// Offered rate, spread over every node.
    pub offered_rate: f64,
    /// 2xx answers the generator got.
    pub admitted: u64,
    /// `admitted − quota` (negative: under-admitted).
    pub overshoot: i64,
    /// Rate admitted in the second before the quota ran out.
    pub admitted_rate: f64,
    /// Median admin write (commit) time measured on this cluster, seconds.
    pub commit_s: f64,
    /// admitted_rate × (flush + report + commit).
    pub bound: f64,
    /// What GetUsage reported for the key once every node had reported.
    pub ledger_used: u64,
}

/// The results of the spike scenario.
#[derive(Debug, Clone, Serialize)]
pub struct SpikeResult {
    /// The plan's limit.
    pub rate: f64,
    /// Per phase: the report row (admitted latency in `admitted_us`).
    pub phases: Vec<Row>,
    /// Per phase: share of answers that were 429.
    pub share_429: Vec<f64>,
    /// Per phase: admitted (2xx) per second over R.
    pub admitted_ratio: Vec<f64>,
}

/// Everything one run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterResults {
    /// Cluster size and workers per node.
    pub nodes: usize,
    /// Data-plane workers per node.
    pub workers: usize,
    /// Accuracy scenario.
    pub accuracy: Option<AccuracyResult>,
    /// Quota scenario.
    pub quota: Option<QuotaResult>,
    /// Spike scenario.
    pub spike: Option<SpikeResult>,
}

/// One node's addresses.
#[derive(Debug, Clone, Copy)]
struct NodeAddrs {
    data: SocketAddr,
    admin: SocketAddr,
}

/// A cluster started with `tollgate cluster local`, stopped on drop.
struct LocalCluster {
    _proc: Proc,
    nodes: Vec<NodeAddrs>,
    creds: Credentials,
    _dir: tempfile::TempDir,
}

/// A base port whose ranges `base + 10·i + {0,1,2}` (i = 1..=n) are free (TCP and UDP).
fn free_base(n: usize) -> io::Result<u16> {
    let seed = std::process::id() as u64 ^ Instant::now().elapsed().as_nanos() as u64;
    for attempt in 0..200u64 {
        let base = 20_000 + ((seed.wrapping_mul(2_654_435_761) + attempt * 997) % 30_000) as u16;
        let free = (1..=n as u16).all(|i| {
            (0..3u16).all(|k| {
                let p = base + 10 * i + k;
                TcpListener::bind(("127.0.0.1", p)).is_ok()
                    && UdpSocket::bind(("127.0.0.1", p)).is_ok()
            })
        });
        if free {
            return Ok(base);
        }
    }
    Err(io::Error::other("no free port range for the cluster"))
}

fn start_cluster(o: &ClusterOpts) -> io::Result<LocalCluster> {
    let tollgate = find_tollgate(&o.tollgate)?;
    let dir = tempfile::tempdir()?;
    let base = free_base(o.nodes)?;
    let log = dir.path().join("cluster.log");
    let mut cmd = Command::new(&tollgate);
    cmd.env("TOLLGATE_LOG", "warn")
        .args(["cluster", "local"])
        .args(["--nodes", &o.nodes.to_string()])
        .args(["--base-port", &base.to_string()])
        .args(["--workers", &o.workers.to_string()])
        .arg("--dir")
        .arg(dir.path().join("cluster"));
    let mut proc = spawn("tollgate cluster local", cmd, &[], &log)?;
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(creds) = parse_credentials(&text) {
            let nodes = parse_nodes(&text);
            if nodes.len() == o.nodes {
                return Ok(LocalCluster {
                    _proc: proc,
                    nodes,
                    creds,
                    _dir: dir,
                });
            }
        }
        if let Ok(Some(st)) = proc.child.try_wait() {
            return Err(io::Error::other(format!(
                "tollgate cluster local exited ({st}):\n{text}"
            )));
        }
        if Instant::now() > until {
            return Err(io::Error::other(format!(
                "the cluster did not start in 90 s:\n{text}"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `node N: data http://A admin http://B` lines.
fn parse_nodes(text: &str) -> Vec<NodeAddrs> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("node ")?;
            let data = rest.split(" data http://").nth(1)?.split(' ').next()?;
            let admin = rest.split(" admin http://").nth(1)?.split(' ').next()?;
            Some(NodeAddrs {
                data: data.parse().ok()?,
                admin: admin.parse().ok()?,
            })
        })
        .collect()
}

/// `admin credentials: AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=…`.
fn parse_credentials(text: &str) -> Option<Credentials> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("admin credentials: "))?;
    let mut id = None;
    let mut secret = None;
    for part in line.split_whitespace() {
        if let Some(v) = part.strip_prefix("AWS_ACCESS_KEY_ID=") {
            id = Some(v.to_string());
        } else if let Some(v) = part.strip_prefix("AWS_SECRET_ACCESS_KEY=") {
            secret = Some(v.to_string());
        }
    }
    Some(Credentials {
        access_key_id: id?,
        secret_access_key: secret?,
    })
}

fn field(v: &serde_json::Value, k: &str) -> io::Result<String> {
    v[k].as_str()
        .map(str::to_string)
        .ok_or_else(|| io::Error::other(format!("admin answer without {k}: {v}")))
}

/// A key-required MOCK method at `/` of a new API deployed to `prod`, and a key subscribed to a
/// new plan with `plan` (extra usage-plan fields). Returns the key's and the plan's ids and the
/// key's targets on every node, once every node serves it.
fn keyed_api(
    c: &LocalCluster,
    name: &str,
    plan: serde_json::Value,
) -> io::Result<(String, String, Vec<Target>)> {
    use serde_json::json;
    let a = c.nodes[0].admin;
    let creds = &c.creds;
    let api = admin(a, creds, "POST", "/restapis", json!({ "name": name }))?;
    let (id, root) = (field(&api, "id")?, field(&api, "rootResourceId")?);
    let m = format!("/restapis/{id}/resources/{root}/methods/GET");
    admin(
        a,
        creds,
        "PUT",
        &m,
        json!({"authorizationType": "NONE", "apiKeyRequired": true}),
    )?;
    admin(
        a,
        creds,
        "PUT",
        &format!("{m}/integration"),
        json!({"type": "MOCK", "requestTemplates": {"application/json": "{\"statusCode\": 200}"}}),
    )?;
    admin(a, creds, "PUT", &format!("{m}/responses/200"), json!({}))?;
    admin(
        a,
        creds,
        "PUT",
        &format!("{m}/integration/responses/200"),
        json!({"responseTemplates": {"application/json": "{\"ok\":true}"}}),
    )?;
    admin(
        a,
        creds,
        "POST",
        &format!("/restapis/{id}/deployments"),
        json!({"stageName": "prod"}),
    )?;
    let value = format!("bench-{name}-key-0123456789abcdef");
    let key = admin(
        a,
        creds,
        "POST",
        "/apikeys",
        json!({"name": name, "value": value, "enabled": true}),
    )?;
    let key_id = field(&key, "id")?;
    let mut body = json!({"name": name, "apiStages": [{"apiId": id, "stage": "prod"}]});
    if let (Some(b), Some(extra)) = (body.as_object_mut(), plan.as_object()) {
        for (k, v) in extra {
            b.insert(k.clone(), v.clone());
        }
    }
    let plan_id = field(&admin(a, creds, "POST", "/usageplans", body)?, "id")?;
    admin(
        a,
        creds,
        "POST",
        &format!("/usageplans/{plan_id}/keys"),
        json!({"keyId": key_id, "keyType": "API_KEY"}),
    )?;
    let targets = c
        .nodes
        .iter()
        .map(|n| {
            Target::parse(&format!(
                "http://{}/restapis/{id}/prod/_user_request_/",
                n.data
            ))
            .map(|t| t.with_header("x-api-key", &value))
            .map_err(io::Error::other)
        })
        .collect::<io::Result<Vec<_>>>()?;
    let until = Instant::now() + Duration::from_secs(10);
    for t in &targets {
        while get_status(t).ok() != Some(200) {
            if Instant::now() > until {
                return Err(io::Error::other(format!("{} never served the key", t.url)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok((key_id, plan_id, targets))
}

fn load(
    o: &ClusterOpts,
    targets: Vec<Target>,
    schedule: &Schedule,
    progress: bool,
) -> io::Result<Recorder> {
    client::run(&LoadConfig {
        targets,
        schedule: schedule.clone(),
        spread: Spread::RoundRobin,
        connections: o.connections,
        threads: o.threads.max(1),
        timeout: Duration::from_secs(2),
        cpus: Vec::new(),
        progress,
    })
}

/// Waits until the limit's first burst and shares are settled: a second at the offered load.
fn warm(o: &ClusterOpts, targets: &[Target], rate: f64) -> io::Result<()> {
    let s = Schedule::constant(rate, 1.0).map_err(io::Error::other)?;
    load(o, targets.to_vec(), &s, false).map(|_| ())
}

fn accuracy_run(o: &ClusterOpts, c: &LocalCluster) -> io::Result<AccuracyResult> {
    let (_, _, targets) = keyed_api(
        c,
        "accuracy",
        serde_json::json!({"throttle": {"rateLimit": o.rate, "burstLimit": o.burst}}),
    )?;
    let offered = o.rate * o.overload;
    let s = Schedule::constant(offered, o.phase_secs).map_err(io::Error::other)?;
    warm(o, &targets, offered)?;
    eprintln!("accuracy: {offered}/s spread over {} nodes", targets.len());
    let spread = load(o, targets.clone(), &s, true)?;
    eprintln!("accuracy: {offered}/s all on node 1");
    let shifted = load(o, vec![targets[0].clone()], &s, true)?;
    let phase_ticks = (o.phase_secs * 10.0).round() as usize;
    let fit = |mut t: Vec<u64>| {
        t.resize(phase_ticks, 0);
        t
    };
    let refused = |r: &Recorder| {
        r.total.status.get(&429).copied().unwrap_or(0) as f64 / r.total.responses().max(1) as f64
    };
    let refused = (refused(&spread), refused(&shifted));
    let (a, b) = (fit(spread.ok_ticks), fit(shifted.ok_ticks));
    let mut ticks = a.clone();
    ticks.extend(&b);
    Ok(AccuracyResult {
        rate: o.rate,
        burst: f64::from(o.burst),
        offered,
        spread: accuracy::judge_windows(&a, o.rate, 1, 0.05),
        shifted: accuracy::judge_windows(&b, o.rate, 1, 0.05),
        refused,
        converged_after_ms: accuracy::converged_after_ms(&b, o.rate, 0.95),
        max_1s: accuracy::max_in_window(&ticks, 10),
        bound_1s: accuracy::window_bound(o.rate, f64::from(o.burst), 1.0, REPORT_S),
        ticks,
    })
}

/// Median time of `n` admin writes through node 1 (each committed on a majority).
fn commit_time(c: &LocalCluster, key_id: &str, n: usize) -> io::Result<f64> {
    let mut t = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        admin(
            c.nodes[0].admin,
            &c.creds,
            "PATCH",
            &format!("/apikeys/{key_id}"),
            serde_json::json!({"patchOperations": [{"op": "replace", "path": "/description", "value": format!("probe {i}")}]}),
        )?;
        t.push(started.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t.get(n / 2).copied().unwrap_or(0.0))
}

fn quota_run(o: &ClusterOpts, c: &LocalCluster) -> io::Result<QuotaResult> {
    let (key_id, plan_id, targets) = keyed_api(
        c,
        "quota",
        serde_json::json!({"quota": {"limit": o.quota, "period": "DAY"}}),
    )?;
    let commit_s = commit_time(c, &key_id, 9)?;
    // (The commit probes are admin writes: they use none of the quota.) Run long enough to use
    // the quota up and then some.
    let secs = (o.quota as f64 / o.quota_rate) * 1.5 + 2.0;
    let s = Schedule::constant(o.quota_rate, secs).map_err(io::Error::other)?;
    eprintln!(
        "quota: {} requests/day, offered {}/s for {secs:.1} s over {} nodes",
        o.quota,
        o.quota_rate,
        targets.len()
    );
    // `keyed_api` used one request per node to see that each serves the key.
    let probes = targets.len() as u64;
    let rec = load(o, targets, &s, true)?;
    let admitted: u64 = rec.ok_ticks.iter().sum::<u64>() + probes;
    // The admitted rate just before the quota ran out: the last full second before the
    // cumulative count passed the quota.
    let mut cum = probes;
    let mut out_at = rec.ok_ticks.len();
    for (i, n) in rec.ok_ticks.iter().enumerate() {
        cum += n;
        if cum >= o.quota {
            out_at = i;
            break;
        }
    }
    let from = out_at.saturating_sub(10);
    let admitted_rate = rec.ok_ticks[from..out_at].iter().sum::<u64>() as f64
        / ((out_at - from).max(1) as f64 / 10.0);
    // Let every node report what it served, then read the ledger.
    std::thread::sleep(Duration::from_millis(1500));
    let day = |secs: u64| {
        let d = secs / 86_400;
        let (y, m, dd) = civil_from_days(d as i64);
        format!("{y:04}-{m:02}-{dd:02}")
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let usage = admin(
        c.nodes[1].admin,
        &c.creds,
        "GET",
        &format!(
            "/usageplans/{plan_id}/usage?startDate={}&endDate={}&keyId={key_id}",
            day(now.saturating_sub(86_400)),
            day(now)
        ),
        serde_json::Value::Null,
    )?;
    // GetUsage's member is `values` on the wire (the SDKs call it `items`).
    let ledger_used = usage["values"][&key_id]
        .as_array()
        .map(|days| {
            days.iter()
                .filter_map(|d| d.get(0).and_then(serde_json::Value::as_u64))
                .sum()
        })
        .unwrap_or(0);
    Ok(QuotaResult {
        quota: o.quota,
        offered_rate: o.quota_rate,
        admitted,
        overshoot: admitted as i64 - o.quota as i64,
        admitted_rate,
        commit_s,
        bound: accuracy::quota_bound(admitted_rate, FLUSH_S, REPORT_S, commit_s),
        ledger_used,
    })
}

/// (year, month, day) of a day number since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn spike_run(o: &ClusterOpts, c: &LocalCluster) -> io::Result<SpikeResult> {
    let (_, _, targets) = keyed_api(
        c,
        "spike",
        serde_json::json!({"throttle": {"rateLimit": o.rate, "burstLimit": o.burst}}),
    )?;
    let steady = o.rate * 0.5;
    let (before, spike, after) = o.spike;
    let s =
        Schedule::spike(steady, o.spike_mult, before, spike, after).map_err(io::Error::other)?;
    warm(o, &targets, steady)?;
    eprintln!(
        "spike: {steady}/s, ×{} for {spike} s, back, over {} nodes",
        o.spike_mult,
        targets.len()
    );
    let rec = load(o, targets, &s, true)?;
    let rep = Report::new("cluster spike", &s, &rec);
    let share_429 = rep
        .phases
        .iter()
        .map(|p| p.status_429 as f64 / p.responses.max(1) as f64)
        .collect();
    let admitted_ratio = rep
        .phases
        .iter()
        .map(|p| p.status_2xx as f64 / (p.end_s - p.start_s).max(1e-9) / o.rate)
        .collect();
    Ok(SpikeResult {
        rate: o.rate,
        phases: rep.phases,
        share_429,
        admitted_ratio,
    })
}

/// Runs the scenarios on one cluster; prints the results to stdout, progress to stderr.
pub fn run(o: &ClusterOpts) -> io::Result<ClusterResults> {
    let c = start_cluster(o)?;
    eprintln!(
        "cluster of {} nodes ({} worker{} each) is up",
        c.nodes.len(),
        o.workers,
        if o.workers == 1 { "" } else { "s" }
    );
    let mut r = ClusterResults {
        nodes: o.nodes,
        workers: o.workers,
        ..ClusterResults::default()
    };
    for s in &o.scenarios {
        match s {
            Scenario::Accuracy => {
                let a = accuracy_run(o, &c)?;
                print!("{}", accuracy_table(&a));
                r.accuracy = Some(a);
            }
            Scenario::Quota => {
                let q = quota_run(o, &c)?;
                print!("{}", quota_table(&q));
                r.quota = Some(q);
            }
            Scenario::Spike => {
                let s = spike_run(o, &c)?;
                print!("{}", spike_table(&s));
                r.spike = Some(s);
            }
        }
    }
    if let Some(f) = &o.json {
        std::fs::write(f, serde_json::to_string_pretty(&r).unwrap_or_default())?;
    }
    Ok(r)
}

fn verdict_line(name: &str, v: &WindowVerdict) -> String {
    format!(
        "{name:<22} per 1 s window: min {:.3}, mean {:.3}, max {:.3} of R; {:.0}% of windows within ±{:.0}%  {:?}\n",
        v.min_ratio,
        v.mean_ratio,
        v.max_ratio,
        v.within * 100.0,
        v.tolerance * 100.0,
        v.per_second
    )
}

/// The accuracy results as text.
pub fn accuracy_table(a: &AccuracyResult) -> String {
    let mut s = format!(
        "\n== accuracy: limit R = {}/s (burst {}), offered {}/s open loop\n",
        a.rate, a.burst, a.offered
    );
    s += &verdict_line("spread over all nodes", &a.spread);
    s += &verdict_line("all on one node", &a.shifted);
    s += &format!(
        "429 answers: {:.3}% spread, {:.3}% on one node\n",
        a.refused.0 * 100.0,
        a.refused.1 * 100.0
    );
    s += &format!(
        "converged after the shift (every 300 ms window ≥ 95% of R): {}\n",
        a.converged_after_ms
            .map_or("never".to_string(), |ms| format!("{ms} ms"))
    );
    s += &format!(
        "most admitted in any 1 s window: {} (bound burst + R·1 s + R·report interval = {:.0})\n",
        a.max_1s, a.bound_1s
    );
    s
}

/// The quota results as text.
pub fn quota_table(q: &QuotaResult) -> String {
    format!(
        "\n== quota: {} requests/day, offered {}/s over all nodes\nadmitted {} (overshoot {}), admitted rate before exhaustion {:.0}/s, commit {:.1} ms, bound rate × (flush + report + commit) = {:.0}\nusage ledger after reporting: {} (served {})\n",
        q.quota,
        q.offered_rate,
        q.admitted,
        q.overshoot,
        q.admitted_rate,
        q.commit_s * 1e3,
        q.bound,
        q.ledger_used,
        q.admitted
    )
}

/// The spike results as text.
pub fn spike_table(r: &SpikeResult) -> String {
    let mut s = format!(
        "\n== spike with a plan throttle of {}/s\n{:<8} {:>9} {:>9} {:>7} | {:>9} {:>9} {:>9} {:>9} (admitted requests, µs, corrected)\n",
        r.rate, "phase", "offered/s", "2xx/R", "429 %", "p50", "p99", "p99.9", "max"
    );
    for ((p, share), ratio) in r.phases.iter().zip(&r.share_429).zip(&r.admitted_ratio) {
        s += &format!(
            "{:<8} {:>9.0} {:>9.3} {:>7.1} | {:>9.1} {:>9.1} {:>9.1} {:>9.1}\n",
            p.name,
            p.offered_rate,
            ratio,
            share * 100.0,
            p.admitted_us.p50,
            p.admitted_us.p99,
            p.admitted_us.p999,
            p.admitted_us.max
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_cluster_local_prints() {
        let text = "node 1: data http://127.0.0.1:20010 admin http://127.0.0.1:20011\nnode 2: data http://127.0.0.1:20020 admin http://127.0.0.1:20021\nadmin credentials: AWS_ACCESS_KEY_ID=AKID AWS_SECRET_ACCESS_KEY=s3cr3t\n";
        let nodes = parse_nodes(text);
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[1].admin.port(), 20021);
        let c = parse_credentials(text).unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.secret_access_key.as_str()),
            ("AKID", "s3cr3t")
        );
        assert!(parse_credentials("node 1: …").is_none());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_423), (2025, 12, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
