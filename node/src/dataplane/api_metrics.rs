//! CloudWatch-style metrics per API and stage, and per method where the stage's method
//! settings turn detailed metrics on (`metrics/enabled`, as AWS's detailed CloudWatch
//! metrics): Count, 4XXError, 5XXError, Latency and IntegrationLatency (histograms),
//! CacheHitCount, CacheMissCount; and per usage plan its throttled and quota refusals.
//!
//! A **series** is one label set (an API's stage, a stage's method, a plan). The compiler
//! thread gives each one a number once ([`series`], a process-wide registry: numbers outlive
//! recompiles, so counters only ever grow) and stores it in the compiled stage, method or key
//! plan; a worker counts a request by that number into its own slots (plain loads and
//! stores, one writer), allocated a block at a time the first time the worker meets a
//! number; a scrape sums every worker's slots. Per request nothing is looked up by name,
//! formatted or allocated.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

/// Latency histogram bounds, milliseconds (the `le` labels; `+Inf` follows).
pub const BUCKETS_MS: [u64; 11] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
const NB: usize = BUCKETS_MS.len() + 1;
/// Series per block of slots.
const BLOCK: usize = 256;
/// Blocks a worker may have: at most `BLOCK * BLOCKS` series are counted.
const BLOCKS: usize = 256;
/// Most series counted (further ones are named in a warning and not counted).
pub const MAX_SERIES: usize = BLOCK * BLOCKS;

/// What a series is of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Labels {
    /// An API's stage (every request to it).
    Stage {
        /// The API id.
        api: Box<str>,
        /// The stage name.
        stage: Box<str>,
    },
    /// One method of a stage (detailed metrics on).
    Method {
        /// The API id.
        api: Box<str>,
        /// The stage name.
        stage: Box<str>,
        /// The resource path.
        resource: Box<str>,
        /// The verb.
        method: Box<str>,
    },
    /// A usage plan.
    Plan {
        /// The plan id.
        plan: Box<str>,
    },
}

/// The process's series numbers and their labels.
#[derive(Debug, Default)]
pub struct Registry {
    inner: Mutex<RegistryInner>,
}

#[derive(Debug, Default)]
struct RegistryInner {
    ids: HashMap<Labels, u32>,
    labels: Vec<Labels>,
    warned: bool,
}

/// The process-wide registry (numbers are shared by every worker and every table compiled).
pub fn series() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Registry::default)
}

impl Registry {
    /// The number of `labels` (made the first time; `None` once [`MAX_SERIES`] exist).
    /// Called by the compiler, never per request.
    pub fn id(&self, labels: Labels) -> Option<u32> {
        let mut r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&id) = r.ids.get(&labels) {
            return Some(id);
        }
        if r.labels.len() >= MAX_SERIES {
            if !r.warned {
                r.warned = true;
                tracing::warn!(
                    max = MAX_SERIES,
                    "too many metric series: further APIs, stages, methods and plans are not counted separately"
                );
            }
            return None;
        }
        let id = r.labels.len() as u32;
        r.labels.push(labels.clone());
        r.ids.insert(labels, id);
        Some(id)
    }

    fn labels(&self) -> Vec<Labels> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .labels
            .clone()
    }
}

/// One series' counters in one worker.
#[derive(Debug, Default)]
pub struct Slot {
    count: AtomicU64,
    e4xx: AtomicU64,
    e5xx: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    latency: Histogram,
    integration: Histogram,
    throttled: AtomicU64,
    quota: AtomicU64,
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; NB],
    sum_ms: AtomicU64,
}

fn bump(c: &AtomicU64, by: u64) {
    // Single writer: a load and a store suffice.
    c.store(c.load(Relaxed).wrapping_add(by), Relaxed);
}

impl Histogram {
    fn observe(&self, ms: u64) {
        let i = BUCKETS_MS.iter().position(|&b| ms <= b).unwrap_or(NB - 1);
        bump(&self.buckets[i], 1);
        bump(&self.sum_ms, ms);
    }
}

/// What one answer adds to a series.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observation {
    /// The status answered.
    pub status: u16,
    /// From arrival to the answer, ms.
    pub latency_ms: u64,
    /// The integration's latency, when one was called.
    pub integration_ms: Option<u64>,
    /// Served from the stage cache.
    pub cache_hit: bool,
    /// Looked up in the cache and missed.
    pub cache_miss: bool,
}

/// One worker's slots, read by scrapes.
#[derive(Debug)]
pub struct WorkerSeries {
    blocks: Box<[OnceLock<Box<[Slot]>>]>,
}

impl Default for WorkerSeries {
    fn default() -> Self {
        WorkerSeries {
            blocks: (0..BLOCKS).map(|_| OnceLock::new()).collect(),
        }
    }
}

impl WorkerSeries {
    fn slot(&self, id: u32) -> Option<&Slot> {
        let (b, i) = (id as usize / BLOCK, id as usize % BLOCK);
        let block = self.blocks.get(b)?;
        // A block is made once, by its worker, the first time one of its series is counted.
        let block = block.get_or_init(|| (0..BLOCK).map(|_| Slot::default()).collect());
        block.get(i)
    }

    /// Counts an answer in series `id`.
    pub fn observe(&self, id: u32, o: &Observation) {
        let Some(s) = self.slot(id) else { return };
        bump(&s.count, 1);
        match o.status {
            400..=499 => bump(&s.e4xx, 1),
            500..=599 => bump(&s.e5xx, 1),
            _ => {}
        }
        bump(&s.cache_hits, u64::from(o.cache_hit));
        bump(&s.cache_misses, u64::from(o.cache_miss));
        s.latency.observe(o.latency_ms);
        if let Some(ms) = o.integration_ms {
            s.integration.observe(ms);
        }
    }

    /// Counts a plan's refusal in series `id` (its quota, else its throttle).
    pub fn plan_refused(&self, id: u32, quota: bool) {
        let Some(s) = self.slot(id) else { return };
        bump(if quota { &s.quota } else { &s.throttled }, 1);
    }
}

/// Every worker's slots, for scraping.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    workers: Mutex<Vec<Arc<WorkerSeries>>>,
}

/// Sums of one series over the workers.
#[derive(Debug, Default, Clone)]
struct Sums {
    count: u64,
    e4xx: u64,
    e5xx: u64,
    cache_hits: u64,
    cache_misses: u64,
    latency: [u64; NB],
    latency_sum: u64,
    integration: [u64; NB],
    integration_sum: u64,
    throttled: u64,
    quota: u64,
}

impl ApiMetrics {
    /// Adds a worker's slots (at start).
    pub fn register(&self) -> Arc<WorkerSeries> {
        let w = Arc::new(WorkerSeries::default());
        self.workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(w.clone());
        w
    }

    fn sums(&self, n: usize) -> Vec<Sums> {
        let mut out = vec![Sums::default(); n];
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        for w in workers.iter() {
            for (b, block) in w.blocks.iter().enumerate() {
                let Some(block) = block.get() else { continue };
                for (i, s) in block.iter().enumerate() {
                    let Some(t) = out.get_mut(b * BLOCK + i) else {
                        break;
                    };
                    t.count += s.count.load(Relaxed);
                    t.e4xx += s.e4xx.load(Relaxed);
                    t.e5xx += s.e5xx.load(Relaxed);
                    t.cache_hits += s.cache_hits.load(Relaxed);
                    t.cache_misses += s.cache_misses.load(Relaxed);
                    for k in 0..NB {
                        t.latency[k] += s.latency.buckets[k].load(Relaxed);
                        t.integration[k] += s.integration.buckets[k].load(Relaxed);
                    }
                    t.latency_sum += s.latency.sum_ms.load(Relaxed);
                    t.integration_sum += s.integration.sum_ms.load(Relaxed);
                    t.throttled += s.throttled.load(Relaxed);
                    t.quota += s.quota.load(Relaxed);
                }
            }
        }
        out
    }

    /// The series in Prometheus text format (series that have counted nothing left out).
    pub fn render(&self, registry: &Registry, out: &mut String) {
        let labels = registry.labels();
        let sums = self.sums(labels.len());
        let api: Vec<(String, &Sums)> = labels
            .iter()
            .zip(&sums)
            .filter_map(|(l, s)| match l {
                Labels::Stage { api, stage } if s.count > 0 => {
                    Some((format!("api=\"{}\",stage=\"{}\"", esc(api), esc(stage)), s))
                }
                Labels::Method {
                    api,
                    stage,
                    resource,
                    method,
                } if s.count > 0 => Some((
                    format!(
                        "api=\"{}\",stage=\"{}\",resource=\"{}\",method=\"{}\"",
                        esc(api),
                        esc(stage),
                        esc(resource),
                        esc(method)
                    ),
                    s,
                )),
                _ => None,
            })
            .collect();
        let counters: [Row<u64>; 5] = [
            (
                "tollgate_api_requests_total",
                "Requests answered (API Gateway's Count).",
                |s| s.count,
            ),
            (
                "tollgate_api_4xx_total",
                "Answers with a 4xx status (4XXError).",
                |s| s.e4xx,
            ),
            (
                "tollgate_api_5xx_total",
                "Answers with a 5xx status (5XXError).",
                |s| s.e5xx,
            ),
            (
                "tollgate_api_cache_hits_total",
                "Answers served from the stage cache (CacheHitCount).",
                |s| s.cache_hits,
            ),
            (
                "tollgate_api_cache_misses_total",
                "Cacheable requests sent to the integration (CacheMissCount).",
                |s| s.cache_misses,
            ),
        ];
        for (name, help, f) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (l, s) in &api {
                let _ = writeln!(out, "{name}{{{l}}} {}", f(s));
            }
        }
        let hists: [Row<([u64; NB], u64)>; 2] = [
            (
                "tollgate_api_latency_ms",
                "From arrival to answer, ms (Latency).",
                |s| (s.latency, s.latency_sum),
            ),
            (
                "tollgate_api_integration_latency_ms",
                "From the integration call to its answer, ms (IntegrationLatency).",
                |s| (s.integration, s.integration_sum),
            ),
        ];
        for (name, help, f) in hists {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for (l, s) in &api {
                let (buckets, sum) = f(s);
                let mut acc = 0;
                for (k, b) in buckets.iter().enumerate() {
                    acc += b;
                    match BUCKETS_MS.get(k) {
                        Some(le) => {
                            let _ = writeln!(out, "{name}_bucket{{{l},le=\"{le}\"}} {acc}");
                        }
                        None => {
                            let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {acc}");
                        }
                    }
                }
                let _ = writeln!(out, "{name}_sum{{{l}}} {sum}\n{name}_count{{{l}}} {acc}");
            }
        }
        let plans: Vec<(&str, &Sums)> = labels
            .iter()
            .zip(&sums)
            .filter_map(|(l, s)| match l {
                Labels::Plan { plan } => Some((&**plan, s)),
                _ => None,
            })
            .collect();
        let plan_rows: [Row<u64>; 2] = [
            (
                "tollgate_plan_throttled_total",
                "Requests a usage plan's throttle refused (429).",
                |s| s.throttled,
            ),
            (
                "tollgate_plan_quota_exceeded_total",
                "Requests a usage plan's quota refused (429).",
                |s| s.quota,
            ),
        ];
        for (name, help, f) in plan_rows {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (plan, s) in &plans {
                if s.throttled + s.quota > 0 {
                    let _ = writeln!(out, "{name}{{plan=\"{}\"}} {}", esc(plan), f(s));
                }
            }
        }
    }
}

/// A family of the text format: name, help, and what it reads of a series' sums.
type Row<T> = (&'static str, &'static str, fn(&Sums) -> T);

/// A label value escaped for the text format (`\`, `"`, line feeds).
pub fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_series_merged_over_workers() {
        let reg = Registry::default();
        let m = ApiMetrics::default();
        let (a, b) = (m.register(), m.register());
        let stage = reg
            .id(Labels::Stage {
                api: "a1".into(),
                stage: "prod".into(),
            })
            .unwrap();
        let method = reg
            .id(Labels::Method {
                api: "a1".into(),
                stage: "prod".into(),
                resource: "/pets/{id}".into(),
                method: "GET".into(),
            })
            .unwrap();
        let plan = reg.id(Labels::Plan { plan: "p1".into() }).unwrap();
        // The same labels get the same number.
        assert_eq!(
            reg.id(Labels::Stage {
                api: "a1".into(),
                stage: "prod".into()
            }),
            Some(stage)
        );
        let ok = Observation {
            status: 200,
            latency_ms: 7,
            integration_ms: Some(3),
            cache_miss: true,
            ..Default::default()
        };
        a.observe(stage, &ok);
        a.observe(method, &ok);
        b.observe(
            stage,
            &Observation {
                status: 404,
                latency_ms: 1,
                ..Default::default()
            },
        );
        b.observe(
            stage,
            &Observation {
                status: 502,
                latency_ms: 20_000,
                ..Default::default()
            },
        );
        b.plan_refused(plan, true);
        a.plan_refused(plan, false);
        a.plan_refused(plan, false);
        let mut text = String::new();
        m.render(&reg, &mut text);
        for want in [
            "tollgate_api_requests_total{api=\"a1\",stage=\"prod\"} 3\n",
            "tollgate_api_requests_total{api=\"a1\",stage=\"prod\",resource=\"/pets/{id}\",method=\"GET\"} 1\n",
            "tollgate_api_4xx_total{api=\"a1\",stage=\"prod\"} 1\n",
            "tollgate_api_5xx_total{api=\"a1\",stage=\"prod\"} 1\n",
            "tollgate_api_cache_misses_total{api=\"a1\",stage=\"prod\"} 1\n",
            "tollgate_api_latency_ms_bucket{api=\"a1\",stage=\"prod\",le=\"5\"} 1\n",
            "tollgate_api_latency_ms_bucket{api=\"a1\",stage=\"prod\",le=\"10\"} 2\n",
            "tollgate_api_latency_ms_bucket{api=\"a1\",stage=\"prod\",le=\"10000\"} 2\n",
            "tollgate_api_latency_ms_bucket{api=\"a1\",stage=\"prod\",le=\"+Inf\"} 3\n",
            "tollgate_api_latency_ms_sum{api=\"a1\",stage=\"prod\"} 20008\n",
            "tollgate_api_latency_ms_count{api=\"a1\",stage=\"prod\"} 3\n",
            "tollgate_api_integration_latency_ms_count{api=\"a1\",stage=\"prod\"} 1\n",
            "tollgate_api_integration_latency_ms_sum{api=\"a1\",stage=\"prod\"} 3\n",
            "tollgate_plan_throttled_total{plan=\"p1\"} 2\n",
            "tollgate_plan_quota_exceeded_total{plan=\"p1\"} 1\n",
        ] {
            assert!(text.contains(want), "{want} not in\n{text}");
        }
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn series_beyond_the_blocks_are_not_counted() {
        let w = WorkerSeries::default();
        w.observe(MAX_SERIES as u32, &Observation::default());
        w.plan_refused(u32::MAX, true);
        assert!(w.blocks.iter().all(|b| b.get().is_none()));
    }
}
