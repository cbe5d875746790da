//! Injects one scheduled fault into the live cluster, holds it, heals it, and waits for the
//! cluster to recover, recording the timeline. The I/O shell around [`crate::schedule`] and
//! [`crate::links`]. Runs on the main thread (nodes are started from it; see
//! [`crate::cluster`]).

use crate::cluster::Cluster;
use crate::history::{FaultRecord, Life, Micros, Recorder, WriteKind};
use crate::links::{all_pairs, cut, LinkRule, Links};
use crate::nodes::Access;
use crate::rng::Rng;
use crate::schedule::{Fault, Role, Step};
use crate::workload::{self, Fixture, WriteCounter};
use std::time::{Duration, Instant};

/// The fault injector.
pub struct Injector<'a> {
    /// The processes.
    pub cluster: &'a mut Cluster,
    /// The relays' rules.
    pub links: &'a Links,
    /// How to reach the nodes.
    pub access: &'a Access,
    /// Where the timeline goes.
    pub rec: &'a Recorder,
    /// What the workload uses.
    pub fixture: &'a Fixture,
    /// Numbers the recovery writes.
    pub counter: &'a WriteCounter,
    /// Picks followers and minorities.
    pub rng: Rng,
    /// How long the cluster may take to recover after a heal.
    pub recovery_timeout: Duration,
    /// Print progress.
    pub verbose: bool,
    /// Injections that could not be done during the current step.
    pub notes: Vec<String>,
    /// The cluster's size at the start: a removal never leaves fewer voters.
    pub base_nodes: usize,
}

const STATUS_TIMEOUT: Duration = Duration::from_millis(500);

impl Injector<'_> {
    pub(crate) fn say(&self, msg: impl AsRef<str>) {
        if self.verbose {
            eprintln!("[{:>8.3} s] {}", self.rec.now() as f64 / 1e6, msg.as_ref());
        }
    }

    /// Starts node `id` (on its data folder) and records it.
    pub fn start(&mut self, id: u64) -> Result<(), String> {
        self.cluster.start(id)?;
        self.rec.life(id, Life::Started);
        Ok(())
    }

    /// Waits until node `id`'s data plane answers the probe with 200; records `Serving`. The
    /// probes it sends are recorded like the workload's (they are API-key usage too).
    pub fn wait_serving(&mut self, id: u64, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            self.reap();
            if !self.cluster.is_up(id) {
                return false;
            }
            let p = workload::probe(
                self.access,
                self.fixture,
                self.rec,
                id,
                Duration::from_millis(500),
            );
            if p.ok() {
                self.rec.life(id, Life::Serving);
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    // Kills and pauses are recorded just before the signal (a probe answered in between was
    // answered by a live node; one sent in between no longer counts), resumes just after.
    fn kill(&mut self, id: u64) -> Result<(), String> {
        if !self.cluster.is_up(id) {
            return Err(format!("node {id} is not running"));
        }
        self.rec.life(id, Life::Killed);
        self.cluster.kill(id)?;
        self.say(format!("node {id} killed"));
        Ok(())
    }

    fn pause(&mut self, id: u64) -> Result<(), String> {
        if !self.cluster.is_up(id) || self.cluster.is_paused(id) {
            return Err(format!("node {id} is not running"));
        }
        self.rec.life(id, Life::Stopped);
        self.cluster.pause(id)?;
        self.say(format!("node {id} paused"));
        Ok(())
    }

    fn resume(&mut self, id: u64) -> Result<(), String> {
        self.cluster.resume(id)?;
        self.rec.life(id, Life::Continued);
        Ok(())
    }

    /// Notes an injection that could not be done (the run goes on; recovery brings the node
    /// back).
    pub(crate) fn note(&mut self, r: Result<(), String>) {
        if let Err(e) = r {
            self.say(format!("could not inject: {e}"));
            self.notes.push(e);
        }
    }

    fn last_life(&self, id: u64) -> Option<Life> {
        self.rec.with(|h| {
            h.node_events
                .iter()
                .rev()
                .find(|e| e.node == id)
                .map(|e| e.life)
        })
    }

    /// Records nodes that exited by themselves.
    fn reap(&mut self) {
        for (id, status) in self.cluster.exited() {
            let tail = self.cluster.log_tail(id, 20);
            let at = self.rec.now();
            let msg = format!(
                "node {id} exited by itself at {:.3} s ({status}); last log lines:\n{tail}",
                at as f64 / 1e6
            );
            self.say(&msg);
            self.rec.life(id, Life::Killed);
            self.rec.with(|h| h.crashes.push(msg));
        }
    }

    /// The leader a majority of the members names (asking the running ones).
    pub fn leader(&self) -> Option<(u64, u64)> {
        let running: Vec<u64> = self
            .cluster
            .running()
            .into_iter()
            .filter(|id| self.cluster.is_member(*id))
            .collect();
        self.access
            .majority_leader(&running, self.cluster.ids().len(), STATUS_TIMEOUT)
    }

    /// Waits for a majority leader.
    pub fn wait_leader(&mut self, within: Duration) -> Option<(u64, u64)> {
        let deadline = Instant::now() + within;
        loop {
            self.reap();
            if let Some(l) = self.leader() {
                return Some(l);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sleeps `d`, watching for crashes.
    pub(crate) fn hold(&mut self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            self.reap();
            std::thread::sleep(
                until
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(50)),
            );
        }
    }

    fn follower(&mut self, leader: Option<u64>) -> u64 {
        let mut c: Vec<u64> = self
            .cluster
            .running()
            .into_iter()
            .filter(|id| Some(*id) != leader && self.cluster.is_member(*id))
            .collect();
        if c.is_empty() {
            c = self.cluster.ids();
        }
        c[self.rng.below(c.len() as u64) as usize]
    }

    /// Injects, holds and heals `step`, then waits for recovery and the settle time.
    pub fn run_step(&mut self, step: &Step) -> Result<FaultRecord, String> {
        let before = self.wait_leader(Duration::from_secs(20));
        let leader = before.map(|(l, _)| l);
        let ids = self.cluster.ids();
        let lead_or_any = leader.unwrap_or(ids[0]);
        let others: Vec<u64> = ids.iter().copied().filter(|i| *i != lead_or_any).collect();
        let fault = &step.fault;
        self.say(format!(
            "step {}: {} (leader {:?})",
            step.index,
            fault.name(),
            leader
        ));
        let hold = Duration::from_millis(fault.hold_ms());
        let start_us = self.rec.now();
        let targets: Vec<u64>;
        match fault {
            Fault::Kill { role, .. } => {
                let id = match role {
                    Role::Leader => lead_or_any,
                    Role::Follower => self.follower(leader),
                };
                targets = vec![id];
                let r = self.kill(id);
                self.note(r);
                self.hold(hold);
                let r = self.start(id);
                self.note(r);
            }
            Fault::Pause { role, .. } => {
                let id = match role {
                    Role::Leader => lead_or_any,
                    Role::Follower => self.follower(leader),
                };
                targets = vec![id];
                let r = self.pause(id);
                self.note(r);
                self.hold(hold);
                let r = self.resume(id);
                self.note(r);
            }
            Fault::PartitionLeader { .. } => {
                targets = vec![lead_or_any];
                self.links
                    .set(&cut(&targets, &others, true), LinkRule::blocked());
                self.hold(hold);
                self.links.heal();
            }
            Fault::IsolateMinority { .. } => {
                let mut followers = others.clone();
                let m = (ids.len() - 1) / 2;
                let mut minority = Vec::new();
                while minority.len() < m && !followers.is_empty() {
                    let i = self.rng.below(followers.len() as u64) as usize;
                    minority.push(followers.remove(i));
                }
                let rest: Vec<u64> = ids
                    .iter()
                    .copied()
                    .filter(|i| !minority.contains(i))
                    .collect();
                self.links
                    .set(&cut(&minority, &rest, true), LinkRule::blocked());
                targets = minority;
                self.hold(hold);
                self.links.heal();
            }
            Fault::OneWayFromLeader { .. } => {
                targets = vec![lead_or_any];
                self.links
                    .set(&cut(&targets, &others, false), LinkRule::blocked());
                self.hold(hold);
                self.links.heal();
            }
            Fault::OneWayToLeader { .. } => {
                targets = vec![lead_or_any];
                self.links
                    .set(&cut(&others, &targets, false), LinkRule::blocked());
                self.hold(hold);
                self.links.heal();
            }
            Fault::Lossy { drop_percent, .. } => {
                targets = ids.clone();
                let rule = LinkRule {
                    drop_percent: *drop_percent,
                    ..LinkRule::default()
                };
                self.links.set(&all_pairs(&ids), rule);
                self.hold(hold);
                self.links.heal();
            }
            Fault::Slow {
                delay_min_ms,
                delay_max_ms,
                ..
            } => {
                targets = ids.clone();
                let rule = LinkRule {
                    delay_min_ms: *delay_min_ms,
                    delay_max_ms: *delay_max_ms,
                    ..LinkRule::default()
                };
                self.links.set(&all_pairs(&ids), rule);
                self.hold(hold);
                self.links.heal();
            }
            Fault::Duplicate { percent, .. } => {
                targets = ids.clone();
                let rule = LinkRule {
                    duplicate_percent: *percent,
                    ..LinkRule::default()
                };
                self.links.set(&all_pairs(&ids), rule);
                self.hold(hold);
                self.links.heal();
            }
            Fault::RollingRestart { .. } => {
                // Followers first, the leader last, each caught up before the next.
                let mut order = others.clone();
                order.push(lead_or_any);
                for id in &order {
                    let r = self.kill(*id);
                    self.note(r);
                    self.hold(hold);
                    let r = self.start(*id);
                    self.note(r);
                    if !self.wait_serving(*id, self.recovery_timeout) {
                        self.say(format!("node {id} did not serve again after its restart"));
                    }
                    let _ = self.wait_leader(self.recovery_timeout);
                }
                targets = order;
            }
            Fault::AddNode => {
                targets = self.add_node(step.index, None).into_iter().collect();
            }
            Fault::RemoveNode { role, readd } => {
                targets = self.remove_node(step.index, *role, *readd, leader);
            }
        }
        let heal_us = self.rec.now();
        self.say(format!("step {}: healed", step.index));
        let recovered_us = self.wait_recovered(self.recovery_timeout);
        match recovered_us {
            Some(r) => self.say(format!(
                "step {}: recovered {:.0} ms after healing",
                step.index,
                (r - heal_us) as f64 / 1000.0
            )),
            None => self.say(format!("step {}: NOT recovered", step.index)),
        }
        let record = FaultRecord {
            step: step.index,
            fault: fault.clone(),
            targets,
            leader_before: leader,
            term_before: before.map(|(_, t)| t),
            start_us,
            heal_us,
            recovered_us,
            notes: std::mem::take(&mut self.notes),
        };
        self.rec.with(|h| h.faults.push(record.clone()));
        self.hold(Duration::from_millis(step.settle_ms));
        Ok(record)
    }

    /// Brings every node back (restarting crashed ones, resuming paused ones, healing links)
    /// and waits until every node names the same leader, a write through a node is
    /// acknowledged, and every data plane serves. Returns when that happened.
    pub fn wait_recovered(&mut self, within: Duration) -> Option<Micros> {
        let deadline = Instant::now() + within;
        self.links.heal();
        let ids = self.cluster.ids();
        let mut serving: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| {
                matches!(
                    self.last_life(*id),
                    Some(Life::Serving) | Some(Life::Continued)
                )
            })
            .collect();
        loop {
            self.reap();
            for id in &ids {
                if self.cluster.is_paused(*id) {
                    let _ = self.resume(*id);
                }
                if !self.cluster.is_up(*id) {
                    serving.retain(|s| s != id);
                    if self.start(*id).is_err() {
                        return None;
                    }
                }
            }
            for id in &ids {
                if !serving.contains(id) {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if self.wait_serving(*id, left) {
                        serving.push(*id);
                    }
                }
            }
            let views: Vec<Option<u64>> = ids
                .iter()
                .map(|id| self.access.view(*id, STATUS_TIMEOUT).and_then(|v| v.leader))
                .collect();
            let agreed = views[0].is_some() && views.iter().all(|v| *v == views[0]);
            if agreed && serving.len() == ids.len() {
                let via = ids[self.rng.below(ids.len() as u64) as usize];
                let w = workload::write(
                    self.access,
                    self.fixture,
                    self.rec,
                    self.counter,
                    WriteKind::CreateKey,
                    via,
                    Duration::from_secs(5),
                );
                if w.outcome.is_ok() {
                    return Some(w.complete_us);
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
