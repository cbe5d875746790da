//! Reports built from a [`Recorder`]: a readable table, JSON, and a hand-written SVG plot of
//! latency percentiles and throughput over time. Pure functions of the recorded data.

use crate::record::{Recorder, Stats};
use crate::schedule::Schedule;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One line of a report: a second, a phase, or the whole run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    /// "0", "1", … for seconds; the phase name; or "total".
    pub name: String,
    /// Start of the slice, seconds.
    pub start_s: f64,
    /// End of the slice, seconds.
    pub end_s: f64,
    /// Requests due in the slice.
    pub offered: u64,
    /// Offered rate, requests per second.
    pub offered_rate: f64,
    /// Responses that arrived in the slice, per second.
    pub achieved_rate: f64,
    /// Responses to the requests due in the slice.
    pub responses: u64,
    /// Corrected latency percentiles (from the due time), µs: p50, p90, p99, p99.9, max.
    pub corrected_us: Percentiles,
    /// Uncorrected latency percentiles (from the actual send), µs.
    pub uncorrected_us: Percentiles,
    /// Corrected latency percentiles of the 2xx responses alone, µs.
    pub admitted_us: Percentiles,
    /// Responses with a 2xx status.
    pub status_2xx: u64,
    /// Responses with status 429.
    pub status_429: u64,
    /// All responses by status code.
    pub status: BTreeMap<u16, u64>,
    /// Failed requests.
    pub errors: u64,
    /// Requests with no answer within the timeout.
    pub timeouts: u64,
    /// Requests that were due but never sent.
    pub unsent: u64,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Default)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
}

impl Percentiles {
    fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        if h.is_empty() {
            return Percentiles::default();
        }
        let us = |v: u64| v as f64 / 1000.0;
        Percentiles {
            p50: us(h.value_at_quantile(0.5)),
            p90: us(h.value_at_quantile(0.9)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        }
    }
}

impl Row {
    fn new(name: String, start_s: f64, end_s: f64, s: &Stats) -> Row {
        let len = (end_s - start_s).max(1e-9);
        Row {
            name,
            start_s,
            end_s,
            offered: s.offered,
            offered_rate: s.offered as f64 / len,
            achieved_rate: s.arrived as f64 / len,
            responses: s.responses(),
            corrected_us: Percentiles::of(&s.corrected),
            uncorrected_us: Percentiles::of(&s.uncorrected),
            admitted_us: Percentiles::of(&s.admitted),
            status_2xx: s.status.range(200..300).map(|(_, v)| v).sum(),
            status_429: s.status.get(&429).copied().unwrap_or(0),
            status: s.status.clone(),
            errors: s.errors,
            timeouts: s.timeouts,
            unsent: s.unsent,
        }
    }
}

/// A finished run's report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was measured (a URL or a contestant's name).
    pub label: String,
    /// Length of the schedule, seconds.
    pub duration_s: f64,
    /// The whole run. Its achieved rate counts responses that arrived within the schedule.
    pub total: Row,
    /// One row per phase of the schedule.
    pub phases: Vec<Row>,
    /// One row per second.
    pub seconds: Vec<Row>,
}

impl Report {
    /// Builds the report of `rec`, recorded for `schedule`.
    pub fn new(label: &str, schedule: &Schedule, rec: &Recorder) -> Report {
        let dur = schedule.secs();
        let mut total = Row::new("total".into(), 0.0, dur, &rec.total);
        // Only responses that arrived within the schedule count towards the achieved rate.
        total.achieved_rate = rec.phases.iter().map(|p| p.arrived).sum::<u64>() as f64 / dur;
        let phases = schedule
            .phases()
            .iter()
            .zip(&rec.phases)
            .map(|(p, s)| Row::new(p.name.clone(), p.start, p.end(), s))
            .collect();
        let seconds = rec
            .seconds
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let start = i as f64;
                // The last (partial) second of the schedule is only as long as it lasts.
                let end = if start < dur {
                    (start + 1.0).min(dur)
                } else {
                    start + 1.0
                };
                Row::new(i.to_string(), start, end, s)
            })
            .collect();
        Report {
            label: label.to_string(),
            duration_s: dur,
            total,
            phases,
            seconds,
        }
    }

    /// The report as a readable table: phases, then seconds, then the total.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "== {} ({:.1} s)", self.label, self.duration_s);
        let _ = writeln!(
            out,
            "{:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} | {:>8} {:>8} | {:>8} {:>6} {:>6} {:>6} {:>6}",
            "slice", "offered/s", "achvd/s", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs",
            "u.p99", "u.max", "2xx", "429", "other", "err", "t/o"
        );
        let line = |out: &mut String, r: &Row| {
            let other = r.responses - r.status_2xx - r.status_429;
            let _ = writeln!(
                out,
                "{:<8} {:>9.0} {:>9.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>10.1} | {:>8.1} {:>8.1} | {:>8} {:>6} {:>6} {:>6} {:>6}",
                r.name,
                r.offered_rate,
                r.achieved_rate,
                r.corrected_us.p50,
                r.corrected_us.p90,
                r.corrected_us.p99,
                r.corrected_us.p999,
                r.corrected_us.max,
                r.uncorrected_us.p99,
                r.uncorrected_us.max,
                r.status_2xx,
                r.status_429,
                other,
                r.errors,
                r.timeouts + r.unsent,
            );
        };
        for r in &self.phases {
            line(&mut out, r);
        }
        let _ = writeln!(out, "-- per second");
        for r in &self.seconds {
            line(&mut out, r);
        }
        let _ = writeln!(out, "--");
        line(&mut out, &self.total);
        let _ = writeln!(
            out,
            "latency in µs from the due time (corrected); u.* from the actual send (uncorrected); t/o = timeouts + unsent"
        );
        out
    }

    /// The report as pretty JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    /// A standalone SVG: corrected p50/p99/p99.9/max per second (log scale) above offered and
    /// achieved rate per second, with the phases shaded.
    pub fn svg(&self) -> String {
        svg_plot(self)
    }
}

/// A plotted line: name, colour, and the value it takes from a row.
type Series = (&'static str, &'static str, fn(&Row) -> f64);

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn svg_plot(r: &Report) -> String {
    const W: f64 = 900.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 20.0;
    const TOP1: f64 = 40.0; // latency panel
    const H1: f64 = 260.0;
    const TOP2: f64 = 360.0; // throughput panel
    const H2: f64 = 180.0;
    const H: f64 = 590.0;
    let secs: Vec<&Row> = r.seconds.iter().collect();
    let t_max = secs
        .iter()
        .map(|s| s.end_s)
        .fold(r.duration_s, f64::max)
        .max(1.0);
    let x = |t: f64| LEFT + (W - LEFT - RIGHT) * t / t_max;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(o, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="20" font-size="14">{} — latency (corrected, per second of due time) and throughput</text>"#,
        esc(&r.label)
    );
    // Phase shading.
    for (i, p) in r.phases.iter().enumerate() {
        let fill = if i % 2 == 0 { "#f4f4f4" } else { "#fde8d8" };
        for (top, h) in [(TOP1, H1), (TOP2, H2)] {
            let _ = writeln!(
                o,
                r#"<rect x="{:.1}" y="{top}" width="{:.1}" height="{h}" fill="{fill}"/>"#,
                x(p.start_s),
                x(p.end_s) - x(p.start_s)
            );
        }
        let _ = writeln!(
            o,
            r##"<text x="{:.1}" y="{}" fill="#666">{}</text>"##,
            x(p.start_s) + 3.0,
            TOP1 + 12.0,
            esc(&p.name)
        );
    }
    // Latency panel: log10 scale in µs.
    let lat_vals: Vec<f64> = secs
        .iter()
        .flat_map(|s| [s.corrected_us.p50, s.corrected_us.max])
        .filter(|v| *v > 0.0)
        .collect();
    let lo = lat_vals
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .clamp(1.0, 1e9)
        .log10()
        .floor();
    let hi = lat_vals
        .iter()
        .copied()
        .fold(1.0, f64::max)
        .min(1e9)
        .log10()
        .ceil()
        .max(lo + 1.0);
    let y1 = |v: f64| {
        let l = v.max(10f64.powf(lo)).log10();
        TOP1 + H1 - H1 * (l - lo) / (hi - lo)
    };
    let mut d = lo as i32;
    while d <= hi as i32 {
        let v = 10f64.powi(d);
        let y = y1(v);
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ccc"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            fmt_us(v)
        );
        d += 1;
    }
    let series: [Series; 4] = [
        ("p50", "#2b8cbe", |s| s.corrected_us.p50),
        ("p99", "#e6550d", |s| s.corrected_us.p99),
        ("p99.9", "#a50f15", |s| s.corrected_us.p999),
        ("max", "#555", |s| s.corrected_us.max),
    ];
    for (i, (name, color, f)) in series.iter().enumerate() {
        let pts: Vec<String> = secs
            .iter()
            .filter(|s| s.responses > 0)
            .map(|s| format!("{:.1},{:.1}", x((s.start_s + s.end_s) / 2.0), y1(f(s))))
            .collect();
        if !pts.is_empty() {
            let _ = writeln!(
                o,
                r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
                pts.join(" ")
            );
        }
        let lx = LEFT + 10.0 + 70.0 * i as f64;
        let _ = writeln!(
            o,
            r#"<rect x="{lx}" y="{}" width="12" height="3" fill="{color}"/><text x="{}" y="{}">{name}</text>"#,
            TOP1 + H1 + 18.0,
            lx + 16.0,
            TOP1 + H1 + 22.0
        );
    }
    let _ = writeln!(
        o,
        r#"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})">latency (log)</text>"#,
        TOP1 + H1 / 2.0,
        TOP1 + H1 / 2.0
    );
    // Throughput panel: linear, requests per second.
    let rmax = secs
        .iter()
        .flat_map(|s| [s.offered_rate, s.achieved_rate])
        .fold(1.0, f64::max)
        * 1.1;
    let y2 = |v: f64| TOP2 + H2 - H2 * v / rmax;
    for i in 0..=4 {
        let v = rmax * i as f64 / 4.0;
        let y = y2(v);
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ccc"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            fmt_rate(v)
        );
    }
    for (name, color, dash, f) in [
        (
            "offered/s",
            "#999",
            "6,4",
            (|s: &Row| s.offered_rate) as fn(&Row) -> f64,
        ),
        ("achieved/s", "#31a354", "", |s: &Row| s.achieved_rate),
        ("non-2xx+err/s", "#d62728", "", |s: &Row| {
            (s.responses - s.status_2xx + s.errors + s.timeouts) as f64
                / (s.end_s - s.start_s).max(1e-9)
        }),
    ] {
        let pts: Vec<String> = secs
            .iter()
            .map(|s| format!("{:.1},{:.1}", x((s.start_s + s.end_s) / 2.0), y2(f(s))))
            .collect();
        let _ = writeln!(
            o,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}" points="{}"/>"#,
            pts.join(" ")
        );
        let _ = name;
    }
    for (i, (name, color)) in [
        ("offered/s", "#999"),
        ("achieved/s", "#31a354"),
        ("non-2xx+err/s", "#d62728"),
    ]
    .iter()
    .enumerate()
    {
        let lx = LEFT + 10.0 + 100.0 * i as f64;
        let _ = writeln!(
            o,
            r#"<rect x="{lx}" y="{}" width="12" height="3" fill="{color}"/><text x="{}" y="{}">{name}</text>"#,
            TOP2 + H2 + 18.0,
            lx + 16.0,
            TOP2 + H2 + 22.0
        );
    }
    // Time axis.
    let step = if t_max > 60.0 {
        10
    } else if t_max > 20.0 {
        5
    } else {
        1
    };
    let mut t = 0;
    while (t as f64) <= t_max {
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{t}s</text>"#,
            x(t as f64),
            TOP2 + H2 + 40.0
        );
        t += step;
    }
    o.push_str("</svg>\n");
    o
}

fn fmt_us(v: f64) -> String {
    if v >= 1e6 {
        format!("{}s", v / 1e6)
    } else if v >= 1e3 {
        format!("{}ms", v / 1e3)
    } else {
        format!("{v}µs")
    }
}

fn fmt_rate(v: f64) -> String {
    if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Outcome;

    fn sample() -> (Schedule, Recorder) {
        let s = Schedule::spike(100.0, 10.0, 1.0, 1.0, 1.0).unwrap();
        let mut r = Recorder::new(&s);
        for k in 0..s.total() {
            let due = s.due_ns(k).unwrap();
            r.offered(due);
            let lat = if s.phase_at(due as f64 / 1e9) == 1 {
                5_000_000
            } else {
                100_000
            };
            let code = if k % 10 == 0 { 429 } else { 200 };
            r.finished(due, due, due + lat, Outcome::Response(code));
        }
        (s, r)
    }

    #[test]
    fn rows_show_rates_and_percentiles() {
        let (s, r) = sample();
        let rep = Report::new("test", &s, &r);
        assert_eq!(rep.phases.len(), 3);
        assert_eq!(rep.phases[1].offered_rate, 1000.0);
        assert!((rep.phases[1].corrected_us.p99 - 5000.0).abs() < 10.0);
        assert!((rep.phases[0].corrected_us.p99 - 100.0).abs() < 1.0);
        assert_eq!(rep.total.responses, 1200);
        assert_eq!(rep.total.status_429, 120);
        assert_eq!(rep.seconds.len(), 3);
        assert!((rep.seconds[1].achieved_rate - 1000.0).abs() < 10.0);
        let t = rep.table();
        assert!(t.contains("spike"));
        assert!(t.contains("total"));
        let j: serde_json::Value = serde_json::from_str(&rep.json()).unwrap();
        assert_eq!(j["phases"][1]["name"], "spike");
        let svg = rep.svg();
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 7);
    }

    #[test]
    fn empty_run_renders() {
        let s = Schedule::constant(10.0, 1.0).unwrap();
        let r = Recorder::new(&s);
        let rep = Report::new("<empty>", &s, &r);
        assert!(rep.svg().contains("&lt;empty&gt;"));
        assert!(rep.table().contains("total"));
    }
}
