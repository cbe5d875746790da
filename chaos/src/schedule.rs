//! The fault schedule: which faults a run injects, in which order, for how long. Pure and
//! seeded: the same seed, fault count and cluster size always give the same schedule, so a
//! failing run is replayed with `--seed`.
//!
//! Targets are named by role (the leader, a follower), resolved when the fault is injected:
//! who leads at that moment is the cluster's business, not the schedule's.

use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// Which node a fault hits, resolved when it is injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The node a majority names as leader.
    Leader,
    /// A node that is not the leader (chosen by the run's RNG).
    Follower,
}

/// One fault and its parameters. Every fault ends healed: killed nodes restart on their data
/// folders, paused nodes continue, links are restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// `kill -9`, then a restart on the same data folder after `down_ms`.
    Kill {
        /// Whom.
        role: Role,
        /// How long the node stays down.
        down_ms: u64,
    },
    /// `SIGSTOP`, then `SIGCONT` after `pause_ms` (a long GC pause, a frozen VM).
    Pause {
        /// Whom.
        role: Role,
        /// How long the node is frozen.
        pause_ms: u64,
    },
    /// The leader loses every link to the others, both ways (it is alone in a minority).
    PartitionLeader {
        /// How long.
        hold_ms: u64,
    },
    /// A minority of followers (⌊(n−1)/2⌋ of them) is cut off from the rest, both ways.
    IsolateMinority {
        /// How long.
        hold_ms: u64,
    },
    /// What the leader sends to the others is lost; what they send it still arrives.
    OneWayFromLeader {
        /// How long.
        hold_ms: u64,
    },
    /// What the others send to the leader is lost; what it sends them still arrives.
    OneWayToLeader {
        /// How long.
        hold_ms: u64,
    },
    /// Every link drops this share of its packets.
    Lossy {
        /// Packets dropped, percent.
        drop_percent: u8,
        /// How long.
        hold_ms: u64,
    },
    /// Every packet on every link is delayed by a uniform delay in `[min, max]` (so packets
    /// also overtake each other).
    Slow {
        /// Shortest delay.
        delay_min_ms: u64,
        /// Longest delay.
        delay_max_ms: u64,
        /// How long.
        hold_ms: u64,
    },
    /// Every link sends this share of its packets twice.
    Duplicate {
        /// Packets duplicated, percent.
        percent: u8,
        /// How long.
        hold_ms: u64,
    },
    /// Every node in turn: `kill -9`, down for `down_ms`, restarted, caught up, next.
    RollingRestart {
        /// How long each node stays down.
        down_ms: u64,
    },
    /// A membership change, as an operator makes it with `tollgate cluster add-node`: a node
    /// that is not a member (the spare, or a node removed earlier, on a fresh data folder) is
    /// started with `join = true`, added as a learner, promoted to voter once it serves, and
    /// the configuration group and every ledger group must then list it (see
    /// [`crate::membership`]).
    AddNode,
    /// A membership change, as an operator makes it with `tollgate cluster remove-node`: the
    /// node's traffic is drained, it is removed (through another node), every group must drop
    /// it, a write sent to it must not be acknowledged, and it is stopped. With `readd` its
    /// data folder is then wiped and it is added again like [`Fault::AddNode`].
    RemoveNode {
        /// Which voter: the configuration group's leader, or a follower.
        role: Role,
        /// Add it back on a fresh data folder afterwards.
        readd: bool,
    },
}

impl Fault {
    /// A short name for tables.
    pub fn name(&self) -> String {
        let role = |r: &Role| match r {
            Role::Leader => "leader",
            Role::Follower => "follower",
        };
        match self {
            Fault::Kill { role: r, .. } => format!("kill -9 {}", role(r)),
            Fault::Pause { role: r, .. } => format!("pause {}", role(r)),
            Fault::PartitionLeader { .. } => "partition leader".into(),
            Fault::IsolateMinority { .. } => "isolate minority".into(),
            Fault::OneWayFromLeader { .. } => "one-way: leader → others lost".into(),
            Fault::OneWayToLeader { .. } => "one-way: others → leader lost".into(),
            Fault::Lossy { drop_percent, .. } => format!("lossy links {drop_percent}%"),
            Fault::Slow {
                delay_min_ms,
                delay_max_ms,
                ..
            } => format!("slow links {delay_min_ms}–{delay_max_ms} ms"),
            Fault::Duplicate { percent, .. } => format!("duplicating links {percent}%"),
            Fault::RollingRestart { .. } => "rolling restart".into(),
            Fault::AddNode => "add a node (learner, then voter)".into(),
            Fault::RemoveNode { role: r, readd } => format!(
                "remove the {}{}",
                role(r),
                if *readd {
                    ", re-add it on a fresh data folder"
                } else {
                    ""
                }
            ),
        }
    }

    /// Whether this is a membership change rather than a fault.
    pub fn is_membership(&self) -> bool {
        matches!(self, Fault::AddNode | Fault::RemoveNode { .. })
    }

    /// How long the fault is held before it is healed (for a rolling restart: per node).
    pub fn hold_ms(&self) -> u64 {
        match self {
            Fault::Kill { down_ms, .. } | Fault::RollingRestart { down_ms } => *down_ms,
            Fault::AddNode | Fault::RemoveNode { .. } => 0,
            Fault::Pause { pause_ms, .. } => *pause_ms,
            Fault::PartitionLeader { hold_ms }
            | Fault::IsolateMinority { hold_ms }
            | Fault::OneWayFromLeader { hold_ms }
            | Fault::OneWayToLeader { hold_ms }
            | Fault::Lossy { hold_ms, .. }
            | Fault::Slow { hold_ms, .. }
            | Fault::Duplicate { hold_ms, .. } => *hold_ms,
        }
    }

    /// Whether the fault takes the current leader out of (working) contact with a majority,
    /// so that a new election is expected.
    pub fn removes_leader(&self) -> bool {
        matches!(
            self,
            Fault::Kill {
                role: Role::Leader,
                ..
            } | Fault::Pause {
                role: Role::Leader,
                ..
            } | Fault::PartitionLeader { .. }
                | Fault::OneWayFromLeader { .. }
                | Fault::RollingRestart { .. }
                | Fault::RemoveNode {
                    role: Role::Leader,
                    ..
                }
        )
    }

    /// Whether the fault kills a process (its unreported API-key usage is lost).
    pub fn kills(&self) -> bool {
        matches!(self, Fault::Kill { .. } | Fault::RollingRestart { .. })
    }
}

/// One step of a schedule: a fault, then a quiet spell after the cluster has recovered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Position in the schedule, from 0.
    pub index: usize,
    /// The fault.
    pub fault: Fault,
    /// Quiet time after recovery before the next step.
    pub settle_ms: u64,
}

/// A whole run's faults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// The seed it was drawn from.
    pub seed: u64,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl Schedule {
    /// The short run (`--quick`): one of each of the main kinds, with short holds, in an
    /// order shuffled by the seed. Fits well under a minute of faults.
    pub fn quick(seed: u64) -> Schedule {
        let mut faults = vec![
            Fault::Kill {
                role: Role::Leader,
                down_ms: 1500,
            },
            Fault::PartitionLeader { hold_ms: 2500 },
            Fault::Pause {
                role: Role::Follower,
                pause_ms: 2000,
            },
            Fault::Lossy {
                drop_percent: 30,
                hold_ms: 2000,
            },
            Fault::OneWayFromLeader { hold_ms: 2000 },
            Fault::Kill {
                role: Role::Follower,
                down_ms: 1000,
            },
        ];
        let mut rng = Rng::new(seed).fork(1);
        // Fisher–Yates, keeping a leader kill first so the run always opens with a failover.
        for i in (2..faults.len()).rev() {
            let j = 1 + rng.below(i as u64) as usize;
            faults.swap(i, j);
        }
        Schedule::from_faults(seed, faults, &mut rng, (300, 800))
    }

    /// A random mix of `count` faults for a cluster of `nodes`, drawn from `seed`.
    pub fn random(seed: u64, count: usize, nodes: usize) -> Schedule {
        let mut rng = Rng::new(seed).fork(2);
        // Kinds and their weights.
        let weights: [u64; 12] = [12, 12, 10, 8, 12, 8, 6, 4, 8, 8, 4, 2];
        let mut faults = Vec::with_capacity(count);
        for _ in 0..count {
            let hold = rng.between(1000, 4000);
            let f = match rng.weighted(&weights).unwrap_or(0) {
                0 => Fault::Kill {
                    role: Role::Leader,
                    down_ms: rng.between(500, 3000),
                },
                1 => Fault::Kill {
                    role: Role::Follower,
                    down_ms: rng.between(500, 3000),
                },
                2 => Fault::Pause {
                    role: Role::Leader,
                    pause_ms: hold,
                },
                3 => Fault::Pause {
                    role: Role::Follower,
                    pause_ms: hold,
                },
                4 => Fault::PartitionLeader { hold_ms: hold },
                5 if nodes >= 3 => Fault::IsolateMinority { hold_ms: hold },
                6 => Fault::OneWayFromLeader { hold_ms: hold },
                7 => Fault::OneWayToLeader {
                    hold_ms: hold.min(2500),
                },
                8 => Fault::Lossy {
                    drop_percent: rng.between(10, 40) as u8,
                    hold_ms: hold,
                },
                9 => {
                    let lo = rng.between(10, 80);
                    Fault::Slow {
                        delay_min_ms: lo,
                        delay_max_ms: lo + rng.between(10, 150),
                        hold_ms: hold,
                    }
                }
                10 => Fault::Duplicate {
                    percent: rng.between(10, 50) as u8,
                    hold_ms: hold,
                },
                11 => Fault::RollingRestart {
                    down_ms: rng.between(300, 1000),
                },
                _ => Fault::Kill {
                    role: Role::Follower,
                    down_ms: rng.between(500, 3000),
                },
            };
            faults.push(f);
        }
        Schedule::from_faults(seed, faults, &mut rng, (500, 2000))
    }

    fn from_faults(seed: u64, faults: Vec<Fault>, rng: &mut Rng, settle: (u64, u64)) -> Schedule {
        let steps = faults
            .into_iter()
            .enumerate()
            .map(|(index, fault)| Step {
                index,
                fault,
                settle_ms: rng.between(settle.0, settle.1),
            })
            .collect();
        Schedule { seed, steps }
    }

    /// This schedule with `count` membership changes ([`Fault::AddNode`],
    /// [`Fault::RemoveNode`]) inserted at positions drawn from `seed` (a generator of their
    /// own, so the other faults are those of the schedule without them). They alternate so
    /// that the cluster keeps `nodes` or `nodes + 1` voters: the first adds a node (the spare),
    /// the next removes a voter (leader or follower) — and, when it re-adds it on a fresh data
    /// folder, the one after removes again. Steps are renumbered.
    pub fn with_membership(mut self, count: usize) -> Schedule {
        if count == 0 {
            return self;
        }
        let mut rng = Rng::new(self.seed).fork(5);
        let mut extra = false; // whether the cluster has its extra voter
        let mut changes = Vec::with_capacity(count);
        for _ in 0..count {
            let f = if extra {
                let role = if rng.below(2) == 0 {
                    Role::Leader
                } else {
                    Role::Follower
                };
                let readd = rng.below(3) == 0;
                extra = readd;
                Fault::RemoveNode { role, readd }
            } else {
                extra = true;
                Fault::AddNode
            };
            changes.push((f, rng.between(500, 1500)));
        }
        // Positions: after a drawn number of the existing steps (never before the first, so a
        // quick run still opens with its leader kill), in order.
        let base = self.steps.len();
        let mut at: Vec<usize> = (0..count)
            .map(|_| 1 + rng.below(base.max(1) as u64) as usize)
            .collect();
        at.sort_unstable();
        let old = std::mem::take(&mut self.steps);
        let mut changes = changes.into_iter();
        let mut at = at.into_iter().peekable();
        let mut steps = Vec::with_capacity(base + count);
        for (i, s) in old.into_iter().enumerate() {
            while at.peek() == Some(&i) {
                at.next();
                if let Some((fault, settle_ms)) = changes.next() {
                    steps.push(Step {
                        index: 0,
                        fault,
                        settle_ms,
                    });
                }
            }
            steps.push(s);
        }
        for (fault, settle_ms) in changes {
            steps.push(Step {
                index: 0,
                fault,
                settle_ms,
            });
        }
        for (i, s) in steps.iter_mut().enumerate() {
            s.index = i;
        }
        self.steps = steps;
        self
    }

    /// Whether any step changes the membership (the run then prepares a spare node).
    pub fn changes_membership(&self) -> bool {
        self.steps.iter().any(|s| s.fault.is_membership())
    }

    /// Upper bound of the time the faults are held, summed (for run-time estimates).
    pub fn held_ms(&self, nodes: usize) -> u64 {
        self.steps
            .iter()
            .map(|s| match s.fault {
                Fault::RollingRestart { down_ms } => down_ms * nodes as u64,
                _ => s.fault.hold_ms(),
            } + s.settle_ms)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_the_same_schedule() {
        assert_eq!(Schedule::random(9, 120, 3), Schedule::random(9, 120, 3));
        assert_ne!(Schedule::random(9, 120, 3), Schedule::random(10, 120, 3));
        assert_eq!(Schedule::quick(3), Schedule::quick(3));
    }

    #[test]
    fn random_schedules_mix_every_kind() {
        let s = Schedule::random(1, 300, 3);
        assert_eq!(s.steps.len(), 300);
        let mut kinds: Vec<String> = s
            .steps
            .iter()
            .map(|s| serde_json::to_value(&s.fault).unwrap()["kind"].to_string())
            .collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), 10, "{kinds:?}");
        assert!(s.steps.iter().any(|s| matches!(
            s.fault,
            Fault::Kill {
                role: Role::Leader,
                ..
            }
        )));
        assert!(s.steps.iter().any(|s| matches!(
            s.fault,
            Fault::Pause {
                role: Role::Follower,
                ..
            }
        )));
        for st in &s.steps {
            assert!(st.fault.hold_ms() >= 300 && st.fault.hold_ms() <= 4000);
        }
    }

    #[test]
    fn quick_opens_with_a_leader_kill_and_stays_short() {
        for seed in 0..20 {
            let s = Schedule::quick(seed);
            assert_eq!(
                s.steps[0].fault,
                Fault::Kill {
                    role: Role::Leader,
                    down_ms: 1500
                }
            );
            assert_eq!(s.steps.len(), 6);
            assert!(s.held_ms(3) < 20_000);
        }
    }

    #[test]
    fn membership_changes_alternate_and_leave_the_other_faults_alone() {
        for seed in 0..30 {
            let base = Schedule::random(seed, 20, 3);
            let s = base.clone().with_membership(6);
            assert_eq!(s.steps.len(), 26);
            assert_eq!(s, base.clone().with_membership(6), "replayable");
            let others: Vec<&Fault> = s
                .steps
                .iter()
                .map(|s| &s.fault)
                .filter(|f| !f.is_membership())
                .collect();
            let before: Vec<&Fault> = base.steps.iter().map(|s| &s.fault).collect();
            assert_eq!(others, before);
            assert!(s.steps.iter().enumerate().all(|(i, s)| s.index == i));
            assert!(!s.steps[0].fault.is_membership());
            // 3 or 4 voters at every point: add first, then removes; a remove without re-add
            // is followed by an add.
            let mut extra = false;
            for f in s
                .steps
                .iter()
                .map(|s| &s.fault)
                .filter(|f| f.is_membership())
            {
                match f {
                    Fault::AddNode => {
                        assert!(!extra);
                        extra = true;
                    }
                    Fault::RemoveNode { readd, .. } => {
                        assert!(extra);
                        extra = *readd;
                    }
                    _ => unreachable!(),
                }
            }
        }
        assert_eq!(Schedule::quick(7).with_membership(0), Schedule::quick(7));
        let q = Schedule::quick(7).with_membership(1);
        assert_eq!(q.steps.len(), 7);
        assert!(q.changes_membership());
        assert!(!Schedule::quick(7).changes_membership());
        let j = serde_json::to_value(&Fault::RemoveNode {
            role: Role::Leader,
            readd: true,
        })
        .unwrap();
        assert_eq!(j["kind"], "remove_node");
        assert_eq!(
            serde_json::to_value(&Fault::AddNode).unwrap()["kind"],
            "add_node"
        );
    }

    #[test]
    fn faults_serialize_with_their_kind() {
        let f = Fault::Lossy {
            drop_percent: 20,
            hold_ms: 1000,
        };
        let j = serde_json::to_value(&f).unwrap();
        assert_eq!(j["kind"], "lossy");
        let back: Fault = serde_json::from_value(j).unwrap();
        assert_eq!(back, f);
    }
}
