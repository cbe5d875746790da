//! The run's report: JSON (everything, for tools) and Markdown (for people): the verdicts,
//! election and recovery times, availability, usage, and the timeline of faults.

use crate::check::elections::percentile;
use crate::check::Analysis;
use crate::history::{History, Life, MembershipRecord};
use crate::schedule::Schedule;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Percentiles of one measured quantity, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// Largest.
    pub max_ms: Option<f64>,
}

impl Spread {
    /// The spread of `xs`.
    pub fn of(xs: &[f64]) -> Spread {
        Spread {
            count: xs.len(),
            p50_ms: percentile(xs, 0.5),
            p99_ms: percentile(xs, 0.99),
            max_ms: percentile(xs, 1.0),
        }
    }

    fn cell(v: Option<f64>) -> String {
        v.map_or("–".into(), |x| format!("{x:.0}"))
    }

    fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {} | {} | {} | {} |\n",
            self.count,
            Spread::cell(self.p50_ms),
            Spread::cell(self.p99_ms),
            Spread::cell(self.max_ms)
        )
    }
}

/// Relay packet counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayTotals {
    /// Passed on.
    pub forwarded: u64,
    /// Dropped by a rule.
    pub dropped: u64,
    /// Sent twice.
    pub duplicated: u64,
    /// Sent late.
    pub delayed: u64,
}

/// A run's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Whether every invariant held.
    pub passed: bool,
    /// The schedule's seed (`tollgate-chaos run --seed`).
    pub seed: u64,
    /// Cluster size.
    pub nodes: usize,
    /// Whether this was `--quick`.
    pub quick: bool,
    /// Faults asked for (`--faults`; the quick schedule's own count for `--quick`).
    pub faults: usize,
    /// The tollgate binary used.
    pub tollgate: String,
    /// When the run started (epoch seconds).
    pub started_epoch: i64,
    /// How long it took, seconds.
    pub duration_s: f64,
    /// The schedule.
    pub schedule: Schedule,
    /// Verdicts and measurements.
    pub analysis: Analysis,
    /// Election time (faults that took the leader away and got a new one).
    pub election: Spread,
    /// Injection to the first acknowledged write sent after it (leader faults).
    pub first_write: Spread,
    /// Heal to recovered (all faults).
    pub recovery: Spread,
    /// Restart to serving again (every restart).
    pub restart_to_serving: Spread,
    /// Relay packet counts.
    pub relay: RelayTotals,
    /// Leader faults after which no new leader was named (the old one kept or regained it).
    pub leader_kept: usize,
    /// The nodes' `ledger_groups` (`--ledger-groups`; 1 in reports of older runs).
    #[serde(default = "one_group")]
    pub ledger_groups: u32,
    /// Membership changes in the schedule (`--membership`; 0 in reports of older runs).
    #[serde(default)]
    pub membership: usize,
    /// What each membership call did and how the groups settled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub membership_calls: Vec<MembershipRecord>,
}

fn one_group() -> u32 {
    1
}

impl Report {
    /// Builds the report from the history and its analysis.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        h: &History,
        analysis: Analysis,
        quick: bool,
        faults: usize,
        tollgate: String,
        started_epoch: i64,
        duration_s: f64,
        relay: RelayTotals,
    ) -> Report {
        let schedule = h.schedule.clone().unwrap_or(Schedule {
            seed: 0,
            steps: Vec::new(),
        });
        let leader_faults: Vec<_> = analysis.elections.iter().filter(|e| e.expected).collect();
        let elected: Vec<f64> = leader_faults.iter().filter_map(|e| e.elected_ms).collect();
        let first_write: Vec<f64> = leader_faults
            .iter()
            .filter_map(|e| e.first_write_ms)
            .collect();
        let recovery: Vec<f64> = analysis
            .elections
            .iter()
            .filter_map(|e| e.recovery_ms)
            .collect();
        let mut restarts = Vec::new();
        let mut started: std::collections::BTreeMap<u64, u64> = Default::default();
        let mut evs = h.node_events.clone();
        evs.sort_by_key(|e| e.at_us);
        for e in &evs {
            match e.life {
                Life::Started => {
                    started.insert(e.node, e.at_us);
                }
                Life::Serving => {
                    if let Some(s) = started.remove(&e.node) {
                        if s > 0 && h.faults.first().is_some_and(|f| s >= f.start_us) {
                            restarts.push((e.at_us - s) as f64 / 1000.0);
                        }
                    }
                }
                _ => {}
            }
        }
        Report {
            passed: analysis.holds(),
            seed: schedule.seed,
            nodes: h.nodes,
            quick,
            faults,
            tollgate,
            started_epoch,
            duration_s,
            election: Spread::of(&elected),
            first_write: Spread::of(&first_write),
            recovery: Spread::of(&recovery),
            restart_to_serving: Spread::of(&restarts),
            leader_kept: leader_faults.len() - elected.len(),
            ledger_groups: 1,
            membership: 0,
            membership_calls: h.membership.clone(),
            relay,
            schedule,
            analysis,
        }
    }

    /// The command that replays this run.
    pub fn replay_command(&self) -> String {
        let groups = match self.ledger_groups {
            0 | 1 => String::new(),
            n => format!(" --ledger-groups {n}"),
        };
        let membership = match self.membership {
            0 => String::new(),
            n => format!(" --membership {n}"),
        };
        self.base_command() + &groups + &membership
    }

    fn base_command(&self) -> String {
        if self.quick {
            format!(
                "tollgate-chaos run --quick --nodes {} --seed {}",
                self.nodes, self.seed
            )
        } else {
            format!(
                "tollgate-chaos run --nodes {} --faults {} --seed {}",
                self.nodes, self.faults, self.seed
            )
        }
    }

    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let a = &self.analysis;
        let _ = writeln!(
            s,
            "tollgate-chaos: {} nodes, {} faults, seed {}, {:.0} s — {}",
            self.nodes,
            a.elections.len(),
            self.seed,
            self.duration_s,
            if self.passed {
                "every invariant held"
            } else {
                "INVARIANT BROKEN"
            }
        );
        for v in &a.verdicts {
            let _ = writeln!(
                s,
                "  [{}] {}: {}",
                if v.holds { " ok " } else { "FAIL" },
                v.name,
                v.summary
            );
            for m in v.violations.iter().take(10) {
                let _ = writeln!(s, "         - {m}");
            }
        }
        let ms = |v: Option<f64>| v.map_or("–".into(), |x| format!("{x:.0} ms"));
        let _ = writeln!(
            s,
            "  election: p50 {} p99 {} max {} (n={}); first write p50 {}; recovery p50 {} max {}",
            ms(self.election.p50_ms),
            ms(self.election.p99_ms),
            ms(self.election.max_ms),
            self.election.count,
            ms(self.first_write.p50_ms),
            ms(self.recovery.p50_ms),
            ms(self.recovery.max_ms)
        );
        let w = &a.writes;
        let _ = writeln!(
            s,
            "  writes: {} sent, {} acknowledged, {} not sent, {} errors, {} no answer",
            w.total, w.acked, w.not_sent, w.errors, w.indeterminate
        );
        let _ = writeln!(s, "  replay: {}", self.replay_command());
        s
    }

    /// The Markdown report.
    pub fn markdown(&self) -> String {
        let a = &self.analysis;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# Chaos run: {} nodes, {} faults, seed {}\n",
            self.nodes,
            a.elections.len(),
            self.seed
        );
        let _ = writeln!(
            s,
            "**{}** — {:.0} s, `{}`; replay with `{}`.\n",
            if self.passed {
                "Every invariant held"
            } else {
                "An invariant broke"
            },
            self.duration_s,
            self.tollgate,
            self.replay_command()
        );
        s.push_str("## Invariants\n\n| invariant | verdict | found |\n|---|---|---|\n");
        for v in &a.verdicts {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                v.name,
                if v.holds { "holds" } else { "**BROKEN**" },
                v.summary
            );
        }
        for v in a.verdicts.iter().filter(|v| !v.holds) {
            let _ = writeln!(s, "\n### {} — violations\n", v.name);
            for m in &v.violations {
                let _ = writeln!(s, "- {}", m.replace('\n', " / "));
            }
        }
        s.push_str("\n## Times (ms)\n\n| measure | n | p50 | p99 | max |\n|---|---|---|---|---|\n");
        s.push_str(
            &self
                .election
                .row("leader fault → new leader named by a majority"),
        );
        s.push_str(
            &self
                .first_write
                .row("leader fault → first write acknowledged"),
        );
        s.push_str(
            &self
                .recovery
                .row("heal → recovered (leader everywhere, write, all serving)"),
        );
        s.push_str(
            &self
                .restart_to_serving
                .row("restart → data plane serving again"),
        );
        let _ = writeln!(
            s,
            "\nLeader faults after which no new leader was named (the old one kept or regained leadership): {}.",
            self.leader_kept
        );
        let w = &a.writes;
        let _ = writeln!(
            s,
            "\n## Writes\n\n{} sent: {} acknowledged ({}), {} not sent, {} error answers, {} without an answer.",
            w.total,
            w.acked,
            w.acked_by_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            w.not_sent,
            w.errors,
            w.indeterminate
        );
        s.push_str("\n## Data-plane availability (live nodes)\n\n| node | probes counted | answered | % | left out (down, paused, starting) |\n|---|---|---|---|---|\n");
        for n in &a.availability {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.3} | {} |",
                n.node, n.counted, n.ok, n.percent, n.excluded
            );
        }
        let failures: Vec<&String> = a.availability.iter().flat_map(|n| &n.failures).collect();
        if !failures.is_empty() {
            s.push_str("\nFailed probes on live nodes (up to 20 per node):\n\n");
            for f in failures {
                let _ = writeln!(s, "- {f}");
            }
        }
        let u = &a.usage;
        let _ = writeln!(
            s,
            "\n## API-key usage (one key per node)\n\n| node | served 200s | sent, no answer | GetUsage | lost | bound | kills | plain 600 ms windows |\n|---|---|---|---|---|---|---|---|"
        );
        for n in &u.nodes {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                n.node,
                n.served_ok,
                n.unanswered,
                n.ledger.map_or("?".into(), |l| l.to_string()),
                n.lost,
                n.loss_bound,
                n.kills.len(),
                n.plain_bound
            );
        }
        let _ = writeln!(
            s,
            "| all | {} | {} | {} | {} | {} | {} | {} |",
            u.served_ok,
            u.unanswered,
            u.ledger.map_or("?".into(), |l| l.to_string()),
            u.lost,
            u.loss_bound,
            u.kills,
            u.plain_bound
        );
        let _ = writeln!(
            s,
            "\n## Relays\n\n{} packets forwarded, {} dropped, {} duplicated, {} delayed.",
            self.relay.forwarded, self.relay.dropped, self.relay.duplicated, self.relay.delayed
        );
        if !self.membership_calls.is_empty() {
            s.push_str(&membership_table(&self.membership_calls));
        }
        s.push_str("\n## Timeline\n\n| step | at (s) | fault | targets | leader before | new leader | elected (ms) | first write (ms) | held (ms) | recovered after heal (ms) |\n|---|---|---|---|---|---|---|---|---|---|\n");
        let cell = |v: Option<f64>| v.map_or("–".into(), |x| format!("{x:.0}"));
        for e in &a.elections {
            let _ = writeln!(
                s,
                "| {} | {:.1} | {} | {} | {} | {} | {} | {} | {:.0} | {} |",
                e.step,
                e.start_us as f64 / 1e6,
                e.fault,
                e.targets
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                e.old_leader.map_or("–".into(), |l| l.to_string()),
                e.new_leader.map_or("–".into(), |l| format!(
                    "{l} (term {})",
                    e.new_term.unwrap_or(0)
                )),
                cell(e.elected_ms),
                cell(e.first_write_ms),
                e.held_ms,
                cell(e.recovery_ms)
            );
        }
        let notes: Vec<String> = self
            .analysis
            .elections
            .iter()
            .flat_map(|e| e.notes.iter().map(move |n| format!("step {}: {n}", e.step)))
            .collect();
        if !notes.is_empty() {
            s.push_str("\nInjections that could not be done:\n\n");
            for n in notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        s
    }
}

/// The membership section of the Markdown report.
fn membership_table(calls: &[MembershipRecord]) -> String {
    let mut s = String::from(
        "\n## Membership changes\n\n| step | at (s) | call | through | call (ms) | groups settled (ms) | leaders spread (ms) | voters after | leaders (group: node) | write through the removed node, and its own view |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let after = |t: Option<u64>, from: u64| {
        t.map_or("**no**".to_string(), |t| {
            format!("{:.0}", t.saturating_sub(from) as f64 / 1000.0)
        })
    };
    for r in calls {
        let mut leaders: Vec<(u32, Option<u64>)> = r
            .views
            .iter()
            .filter(|v| Some(v.node) == r.expected_voters.first().copied())
            .map(|v| (v.group, v.leader))
            .collect();
        leaders.sort_unstable();
        let _ = writeln!(
            s,
            "| {} | {:.1} | {} node {}{} | {} | {:.0} | {} | {} | {:?} | {} | {} |",
            r.step,
            r.start_us as f64 / 1e6,
            r.action,
            r.node,
            if r.fresh_data { " (fresh data)" } else { "" },
            r.via,
            r.done_us.saturating_sub(r.start_us) as f64 / 1000.0,
            match &r.error {
                Some(e) => format!("call failed: {}", e.replace('\n', " ")),
                None => after(r.settled_us, r.done_us),
            },
            if r.action == "add" {
                "–".to_string()
            } else {
                after(r.spread_us, r.done_us)
            },
            r.expected_voters,
            leaders
                .iter()
                .map(|(g, l)| format!("{g}: {}", l.map_or("?".into(), |l| l.to_string())))
                .collect::<Vec<_>>()
                .join(", "),
            r.removed_write.map_or("–".to_string(), |seq| {
                let seen = r
                    .removed_views
                    .iter()
                    .map(|v| {
                        format!(
                            "group {} leader {} voters {:?}",
                            v.group,
                            v.leader.map_or("?".into(), |l| l.to_string()),
                            v.voters
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                format!("write {seq}; it still saw: {seen}")
            }),
        );
    }
    s
}
