//! The workload that runs during the faults, on threads of its own:
//!
//! - **writers**: admin writes through random nodes, one at a time per writer, each recorded
//!   with its send and answer times, outcome and log index: keys and deployments created, and
//!   updates of the register stage by every writer at once. (UpdateStage is a read-modify-write
//!   of the whole stage on the node that takes it; concurrent updates through different nodes
//!   are what its version guard is for, see docs/CHAOS.md.) Each acknowledged stage update is
//!   followed at once by another through a different node.
//! - **probers**: one per node, a key-required data-plane request every few milliseconds.
//! - **leader pollers**: one per node, its view of the leader, recorded when it changes.
//!
//! Every loop ends when the stop flag is set; every call has a deadline.

use crate::client::{self, Answer, CallError};
use crate::history::{LeaderSample, Outcome, Probe, Recorder, WriteKind, WriteRecord};
use crate::nodes::Access;
use crate::rng::Rng;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the workload writes to and reads from (made by [`crate::setup`]).
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The chaos API.
    pub api_id: String,
    /// The stage deployments go to and probes hit.
    pub served_stage: String,
    /// The stage UpdateStage writes change (the register).
    pub register_stage: String,
    /// Data-plane path of the key-required method.
    pub probe_path: String,
    /// The usage keys, one per node: node `n`'s prober sends only key `n`, so each key's
    /// ledger is that node's usage.
    pub keys: Vec<UsageKey>,
    /// The usage plan (every usage key is in it).
    pub plan_id: String,
    /// A run-unique tag in key values.
    pub run_tag: String,
    /// The key of a plan with a daily quota, sent through every node in turn by the quota
    /// prober (so every node, and every node added later, takes its share of one quota).
    pub quota: Option<QuotaKey>,
}

/// The quota key and its plan.
#[derive(Debug, Clone)]
pub struct QuotaKey {
    /// The plan (a daily quota of `limit`).
    pub plan_id: String,
    /// The key's id.
    pub id: String,
    /// Its value.
    pub value: String,
    /// The quota.
    pub limit: u64,
}

/// One node's usage key.
#[derive(Debug, Clone)]
pub struct UsageKey {
    /// The node whose prober sends it.
    pub node: u64,
    /// The key's id.
    pub id: String,
    /// Its value (sent as `x-api-key`).
    pub value: String,
}

impl Fixture {
    /// The value of node `node`'s usage key (empty if there is none).
    pub fn key_value(&self, node: u64) -> &str {
        self.keys
            .iter()
            .find(|k| k.node == node)
            .map_or("", |k| k.value.as_str())
    }
}

/// Rates and sizes.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// Concurrent writers.
    pub writers: usize,
    /// Pause between one writer's writes.
    pub write_pause: Duration,
    /// Deadline of one write.
    pub write_timeout: Duration,
    /// Pause between one prober's requests.
    pub probe_pause: Duration,
    /// Deadline of one probe.
    pub probe_timeout: Duration,
    /// Pause between one poller's status calls.
    pub poll_pause: Duration,
    /// Pause between the quota prober's requests.
    pub quota_pause: Duration,
}

impl Default for WorkloadConfig {
    fn default() -> WorkloadConfig {
        WorkloadConfig {
            writers: 2,
            write_pause: Duration::from_millis(100),
            write_timeout: Duration::from_secs(15),
            probe_pause: Duration::from_millis(40),
            probe_timeout: Duration::from_secs(2),
            poll_pause: Duration::from_millis(50),
            quota_pause: Duration::from_millis(QUOTA_PAUSE_MS),
        }
    }
}

/// The running workload.
pub struct Workload {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// Numbers writes across writers (and the fault injector's recovery writes).
pub type WriteCounter = Arc<AtomicU64>;

impl Workload {
    /// Starts the threads.
    pub fn start(
        access: &Access,
        fixture: &Fixture,
        rec: &Recorder,
        cfg: &WorkloadConfig,
        seed: u64,
        counter: &WriteCounter,
    ) -> std::io::Result<Workload> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let base = Rng::new(seed).fork(3);
        for w in 0..cfg.writers.max(1) {
            let (a, f, r, c, s, n) = (
                access.clone(),
                fixture.clone(),
                rec.clone(),
                cfg.clone(),
                stop.clone(),
                counter.clone(),
            );
            let mut rng = base.fork(w as u64);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("chaos-writer-{w}"))
                    .spawn(move || {
                        while !s.load(Ordering::Relaxed) {
                            // The nodes in use now (membership changes add and drain nodes).
                            let members = a.members();
                            let count = members.len() as u64;
                            if count == 0 {
                                sleep_unless(&s, c.write_pause);
                                continue;
                            }
                            let kind = pick_kind(&mut rng);
                            let at = rng.below(count);
                            let node = members[at as usize];
                            let first = write(&a, &f, &r, &n, kind, node, c.write_timeout);
                            if kind == WriteKind::UpdateStage && first.outcome.is_ok() {
                                // At once through another node, before it may have applied
                                // the first: it must still see it (a stale read-modify-write
                                // would write the stage back without it).
                                let skip = 1 + rng.below(count.saturating_sub(1).max(1));
                                let other = members[((at + skip) % count) as usize];
                                write(&a, &f, &r, &n, kind, other, c.write_timeout);
                            }
                            sleep_unless(&s, c.write_pause);
                        }
                    })?,
            );
        }
        if let Some(q) = fixture.quota.clone() {
            let (a, f, r, c, s) = (
                access.clone(),
                fixture.clone(),
                rec.clone(),
                cfg.clone(),
                stop.clone(),
            );
            threads.push(
                std::thread::Builder::new()
                    .name("chaos-quota".into())
                    .spawn(move || {
                        let mut turn = 0usize;
                        while !s.load(Ordering::Relaxed) {
                            let members = a.members();
                            if !members.is_empty() {
                                let node = members[turn % members.len()];
                                turn = turn.wrapping_add(1);
                                let p =
                                    send(&a, &f.probe_path, &q.value, &r, node, c.probe_timeout);
                                r.with(|h| h.quota_probes.push(p));
                            }
                            sleep_unless(&s, c.quota_pause);
                        }
                    })?,
            );
        }
        for n in &access.nodes {
            let (a, f, r, c, s, id) = (
                access.clone(),
                fixture.clone(),
                rec.clone(),
                cfg.clone(),
                stop.clone(),
                n.id,
            );
            threads.push(
                std::thread::Builder::new()
                    .name(format!("chaos-probe-{id}"))
                    .spawn(move || {
                        while !s.load(Ordering::Relaxed) {
                            // Only while the node is in use (not a spare, not drained).
                            if a.is_member(id) {
                                probe(&a, &f, &r, id, c.probe_timeout);
                            }
                            sleep_unless(&s, c.probe_pause);
                        }
                    })?,
            );
            let (a, r, c, s) = (access.clone(), rec.clone(), cfg.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("chaos-poll-{id}"))
                    .spawn(move || {
                        let mut last: Option<(Option<u64>, Option<u64>)> = None;
                        while !s.load(Ordering::Relaxed) {
                            let v = a.view(id, Duration::from_millis(400));
                            let now = (v.and_then(|v| v.leader), v.map(|v| v.term));
                            if last != Some(now) {
                                last = Some(now);
                                let at_us = r.now();
                                r.with(|h| {
                                    h.leaders.push(LeaderSample {
                                        node: id,
                                        at_us,
                                        leader: now.0,
                                        term: now.1,
                                    })
                                });
                            }
                            sleep_unless(&s, c.poll_pause);
                        }
                    })?,
            );
        }
        Ok(Workload { stop, threads })
    }

    /// Stops every thread and waits for them (each is inside one bounded call at most).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let step = Duration::from_millis(20);
    let mut left = d;
    while !left.is_zero() && !stop.load(Ordering::Relaxed) {
        let s = left.min(step);
        std::thread::sleep(s);
        left -= s;
    }
}

fn pick_kind(rng: &mut Rng) -> WriteKind {
    match rng.weighted(&[3, 3, 4]) {
        Some(0) => WriteKind::CreateKey,
        Some(1) => WriteKind::CreateDeployment,
        _ => WriteKind::UpdateStage,
    }
}

/// Stage variables the UpdateStage writes spread over (besides `last`): `s0` … `s7`.
pub const REGISTER_SLOTS: u64 = 8;

/// How many times a writer sends one write (the first attempt and its retries).
pub const WRITE_ATTEMPTS: u32 = 3;

/// The name prefix of every key the writers create.
pub const KEY_PREFIX: &str = "chaos-k-";

/// Sends one write of `kind` through `node` and records it.
pub fn write(
    access: &Access,
    f: &Fixture,
    rec: &Recorder,
    counter: &WriteCounter,
    kind: WriteKind,
    node: u64,
    timeout: Duration,
) -> WriteRecord {
    let seq = counter.fetch_add(1, Ordering::Relaxed) + 1;
    let (method, path, body, token, object) = match kind {
        WriteKind::CreateKey => {
            let token = format!("{KEY_PREFIX}{seq}");
            let body = json!({
                "name": token,
                "value": format!("chaos-{}-{seq:08}-value", f.run_tag),
                "enabled": true,
            });
            ("POST", "/apikeys".to_string(), body, token, None)
        }
        WriteKind::CreateDeployment => {
            let token = format!("chaos-d-{seq}");
            let body = json!({ "stageName": f.served_stage, "description": token });
            (
                "POST",
                format!("/restapis/{}/deployments", f.api_id),
                body,
                token,
                None,
            )
        }
        WriteKind::UpdateStage => {
            let token = format!("v{seq}");
            let var = format!("s{}", seq % REGISTER_SLOTS);
            let body = json!({ "patchOperations": [
                { "op": "replace", "path": format!("/variables/{var}"), "value": token },
                { "op": "replace", "path": format!("/variables/{}", crate::check::writes::REGISTER_VARIABLE), "value": token },
            ]});
            (
                "PATCH",
                format!("/restapis/{}/stages/{}", f.api_id, f.register_stage),
                body,
                token,
                Some(var),
            )
        }
    };
    // As the AWS SDKs do: one invocation id for the write, sent again with each retry of a
    // 503 or a lost answer (the node applies the write once however often it is sent).
    let invocation = format!("chaos-{}-{seq}", f.run_tag);
    let invoke_us = rec.now();
    let mut attempts = 0u32;
    let res = loop {
        attempts += 1;
        let attempt = format!("attempt={attempts}; max={WRITE_ATTEMPTS}");
        let extra = [
            (
                tollgate_node::admin::http::INVOCATION_ID_HEADER,
                invocation.as_str(),
            ),
            ("amz-sdk-request", attempt.as_str()),
        ];
        let res = access.call_with(node, method, &path, Some(&body), &extra, timeout);
        let retry = match &res {
            Ok(a) => a.status == 503,
            Err(e) => e.sent,
        };
        if !retry || attempts >= WRITE_ATTEMPTS {
            break res;
        }
        std::thread::sleep(Duration::from_millis(100 * u64::from(attempts)));
    };
    let complete_us = rec.now();
    let observed = match (&res, kind) {
        (Ok(a), WriteKind::UpdateStage) if a.is_success() => a.json()["variables"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Default::default(),
    };
    let (outcome, log_index, object) = classify(res, kind, object);
    let w = WriteRecord {
        seq,
        kind,
        node,
        invoke_us,
        complete_us,
        outcome,
        log_index,
        object,
        token,
        observed,
        attempts,
    };
    rec.with(|h| h.writes.push(w.clone()));
    w
}

fn classify(
    res: Result<Answer, CallError>,
    kind: WriteKind,
    object: Option<String>,
) -> (Outcome, Option<u64>, Option<String>) {
    match res {
        Ok(a) if a.is_success() => {
            let index = a
                .header(tollgate_node::admin::http::LOG_INDEX_HEADER)
                .and_then(|v| v.parse::<u64>().ok());
            let object = match kind {
                WriteKind::UpdateStage => object,
                _ => a.json()["id"].as_str().map(str::to_string),
            };
            (Outcome::Ok, index, object)
        }
        Ok(a) => {
            let v: Value = a.json();
            let message = v["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(&a.body).into_owned());
            (
                Outcome::Error {
                    status: a.status,
                    message,
                },
                None,
                object,
            )
        }
        Err(e) if !e.sent => (Outcome::NotSent { error: e.message }, None, object),
        Err(e) => (Outcome::Indeterminate { error: e.message }, None, object),
    }
}

/// The quota prober's pause between requests, ms (20 requests a second, spread over the
/// nodes in turn).
pub const QUOTA_PAUSE_MS: u64 = 50;

/// One key-required data-plane request to `node`, recorded.
pub fn probe(access: &Access, f: &Fixture, rec: &Recorder, node: u64, timeout: Duration) -> Probe {
    let p = send(access, &f.probe_path, f.key_value(node), rec, node, timeout);
    rec.with(|h| h.probes.push(p.clone()));
    p
}

/// One request to `node`'s data plane at `path` with API key `key` (not recorded).
fn send(
    access: &Access,
    path: &str,
    key: &str,
    rec: &Recorder,
    node: u64,
    timeout: Duration,
) -> Probe {
    let Some(n) = access.node(node) else {
        return Probe {
            node,
            sent_us: 0,
            done_us: 0,
            status: None,
            sent: false,
            error: Some("no such node".into()),
        };
    };
    let sent_us = rec.now();
    let res = client::get(n.data, path, &[("x-api-key", key)], timeout);
    let done_us = rec.now();
    match res {
        Ok(a) => Probe {
            node,
            sent_us,
            done_us,
            status: Some(a.status),
            sent: true,
            error: (a.status != 200).then(|| String::from_utf8_lossy(&a.body).into_owned()),
        },
        Err(e) => Probe {
            node,
            sent_us,
            done_us,
            status: None,
            sent: e.sent,
            error: Some(e.message),
        },
    }
}
