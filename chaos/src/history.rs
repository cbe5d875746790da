//! What a run records: every admin write with its outcome, every data-plane probe, every
//! node's view of the leader over time, the processes' lives, the faults, and each node's state
//! after healing. The checker ([`crate::check`]) reads only this, so a recorded history (the
//! run's `history.json`) can be checked again, or edited to plant a violation, without a
//! cluster.
//!
//! Times are microseconds since the run started, on the chaos tool's monotonic clock.

use crate::schedule::{Fault, Schedule};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Microseconds since the start of the run.
pub type Micros = u64;

/// What an admin write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteKind {
    /// CreateApiKey: a new key named by the token; its id comes back in the answer.
    CreateKey,
    /// CreateDeployment onto the served stage, described by the token.
    CreateDeployment,
    /// UpdateStage on the register stage: sets its slot variable (`s<seq mod 8>`) and `last`
    /// to the token.
    UpdateStage,
}

/// How an admin write ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A 2xx answer: acknowledged, so it must survive everything.
    Ok,
    /// No connection could be made: it certainly did not reach the node.
    NotSent {
        /// Why.
        error: String,
    },
    /// An error answer. A 503 may still be applied later (the node gave up waiting for the
    /// commit, not the commit itself), so it is not required either way.
    Error {
        /// HTTP status.
        status: u16,
        /// The error message.
        message: String,
    },
    /// No answer (timeout, connection reset after sending): may or may not be applied.
    Indeterminate {
        /// Why.
        error: String,
    },
}

impl Outcome {
    /// Whether the write was acknowledged.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

/// One admin write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteRecord {
    /// Unique number of the write in the run.
    pub seq: u64,
    /// What it does.
    pub kind: WriteKind,
    /// The node it was sent to.
    pub node: u64,
    /// When the request was sent.
    pub invoke_us: Micros,
    /// When the answer (or the failure) came.
    pub complete_us: Micros,
    /// How it ended.
    pub outcome: Outcome,
    /// The Raft log index the node reported (`x-tollgate-log-index`), for acknowledged writes.
    pub log_index: Option<u64>,
    /// What to look for in each node's state: the key or deployment id from the answer, or the
    /// stage variable name.
    pub object: Option<String>,
    /// The write's unique token: key name, deployment description, stage variable value.
    pub token: String,
    /// For an acknowledged UpdateStage: the stage's variables in the answer (the node reads
    /// the stage back after applying the update).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub observed: BTreeMap<String, String>,
    /// How many times it was sent: a writer retries a 503 or a lost answer as the AWS SDKs do,
    /// with the same `amz-sdk-invocation-id` (0 in histories of builds that did not count).
    #[serde(default)]
    pub attempts: u32,
}

/// One data-plane request to one node (a key-required method, so it is also API-key usage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// The node asked.
    pub node: u64,
    /// When it was sent.
    pub sent_us: Micros,
    /// When it was answered or failed.
    pub done_us: Micros,
    /// HTTP status, if an answer came.
    pub status: Option<u16>,
    /// Whether the request was written to an open connection (false: the connection failed).
    pub sent: bool,
    /// The failure, if any.
    pub error: Option<String>,
}

impl Probe {
    /// Whether the expected answer (200) came.
    pub fn ok(&self) -> bool {
        self.status == Some(200)
    }
}

/// A node's view of the leader at one moment (`term` None: the node did not answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderSample {
    /// The node asked.
    pub node: u64,
    /// When it answered.
    pub at_us: Micros,
    /// The leader it named.
    pub leader: Option<u64>,
    /// Its current term (None: no answer).
    pub term: Option<u64>,
}

/// Something that happened to a node's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Life {
    /// The process was started (on its data folder).
    Started,
    /// It serves: its data plane answered the probe with 200 after a start.
    Serving,
    /// `kill -9`.
    Killed,
    /// `SIGSTOP`.
    Stopped,
    /// `SIGCONT`.
    Continued,
    /// Stopped (SIGTERM) after it was removed from the cluster: no longer a member, its usage
    /// drained before the removal (not a kill: it may lose no usage).
    Removed,
}

/// A node's life event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEvent {
    /// The node.
    pub node: u64,
    /// When.
    pub at_us: Micros,
    /// What.
    pub life: Life,
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// Its step in the schedule.
    pub step: usize,
    /// The fault.
    pub fault: Fault,
    /// The nodes it hit (a partition's cut-off side; for a rolling restart, all in order).
    pub targets: Vec<u64>,
    /// The leader a majority named just before.
    pub leader_before: Option<u64>,
    /// That leader's term.
    pub term_before: Option<u64>,
    /// When it was injected.
    pub start_us: Micros,
    /// When it was healed.
    pub heal_us: Micros,
    /// When the cluster was healthy again (leader known to every node, a write acknowledged,
    /// every data plane serving); None if not within the recovery deadline.
    pub recovered_us: Option<Micros>,
    /// Injections that could not be done (e.g. the target was already down).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A node's state after the run, read once every node had applied the same index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFinal {
    /// The node.
    pub node: u64,
    /// Its last applied log index.
    pub last_applied: u64,
    /// Digest of its registry at that index.
    pub digest: String,
    /// Ids of the API keys the workload created that it holds.
    pub key_ids: BTreeSet<String>,
    /// Ids of the deployments of the chaos API it holds.
    pub deployment_ids: BTreeSet<String>,
    /// The register stage's variables.
    pub stage_variables: BTreeMap<String, String>,
    /// How many of the workload's API keys it holds per key name (a write's token): more than
    /// one means a write applied twice. Empty in histories of builds that did not read them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub key_names: BTreeMap<String, u32>,
    /// How many deployments of the chaos API it holds per description (a write's token).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deployment_descriptions: BTreeMap<String, u32>,
    /// GetUsage of each node's usage key (by that node's id), summed over days; empty when
    /// unreadable.
    pub usage: BTreeMap<u64, u64>,
    /// GetUsage of the quota key in its plan, summed over days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_usage: Option<u64>,
    /// Why the state could not be read, if it could not.
    pub error: Option<String>,
}

/// One Raft group as a node sees it (from `GET /_tollgate/cluster`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    /// The group (0: the configuration group).
    pub group: u32,
    /// The node asked.
    pub node: u64,
    /// The leader it names.
    pub leader: Option<u64>,
    /// Its term in that group.
    pub term: u64,
    /// The group's voters, by id.
    pub voters: Vec<u64>,
    /// The group's learners, by id.
    pub learners: Vec<u64>,
    /// Whether the node says it was removed from the group (`removed` of
    /// `GET /_tollgate/cluster`; absent in histories recorded before nodes said so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<bool>,
}

/// One membership change and what followed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipRecord {
    /// The schedule step.
    pub step: usize,
    /// What was done: `add`, `promote` or `remove`.
    pub action: String,
    /// The node added, promoted or removed.
    pub node: u64,
    /// The node whose admin API took the call.
    pub via: u64,
    /// Whether the node was started on a fresh (wiped) data folder (adds only).
    #[serde(default)]
    pub fresh_data: bool,
    /// When the call was made.
    pub start_us: Micros,
    /// When it was answered.
    pub done_us: Micros,
    /// The call's failure, if it failed.
    pub error: Option<String>,
    /// The voters every group should have once the change has settled.
    pub expected_voters: Vec<u64>,
    /// The learners every group should have then (a node added as a learner, before its
    /// promotion).
    pub expected_learners: Vec<u64>,
    /// When every member named, in every group, the same leader (a member) and exactly the
    /// expected voters and learners; None: not within the deadline.
    pub settled_us: Option<Micros>,
    /// When, after that, each ledger group (1 and up) was led by its preferred voter (the
    /// `g mod n`-th by id); None: not within the deadline. Equal to `settled_us` with one
    /// group, and not waited for after adding a learner.
    pub spread_us: Option<Micros>,
    /// The views of every group on every member when the wait ended (settled or not).
    pub views: Vec<GroupView>,
    /// For a removal: the write sent through the removed node once every group had dropped it
    /// (its `seq` among the writes), before the node was stopped.
    pub removed_write: Option<u64>,
    /// For a removal: every group as the removed node itself saw it after the write through
    /// it (each must say it was removed; empty if it did not answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_views: Vec<GroupView>,
}

/// Everything a run recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Nodes in the cluster.
    pub nodes: usize,
    /// The schedule that was run.
    pub schedule: Option<Schedule>,
    /// Admin writes, in order of completion.
    pub writes: Vec<WriteRecord>,
    /// Data-plane probes.
    pub probes: Vec<Probe>,
    /// Leader views, in time order per node.
    pub leaders: Vec<LeaderSample>,
    /// Process lives.
    pub node_events: Vec<NodeEvent>,
    /// Faults, in order.
    pub faults: Vec<FaultRecord>,
    /// States after healing.
    pub finals: Vec<NodeFinal>,
    /// Nodes that exited by themselves (a crash), with their exit status and last log lines.
    pub crashes: Vec<String>,
    /// When the workload stopped.
    pub end_us: Micros,
    /// The cluster's members at the end, whose states are in `finals` (empty in histories of
    /// runs without membership changes: nodes 1 to `nodes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<u64>,
    /// The membership changes, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub membership: Vec<MembershipRecord>,
    /// The quota key's daily quota (None in histories of runs without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_limit: Option<u64>,
    /// The quota prober's requests (the quota key, through every member in turn).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quota_probes: Vec<Probe>,
}

impl History {
    /// Every node the run knew: 1 to `nodes`, and any other that a probe, a life event or a
    /// final state names (a node added by a membership change).
    pub fn node_ids(&self) -> Vec<u64> {
        let mut ids: BTreeSet<u64> = (1..=self.nodes as u64).collect();
        ids.extend(self.probes.iter().map(|p| p.node));
        ids.extend(self.node_events.iter().map(|e| e.node));
        ids.extend(self.finals.iter().map(|f| f.node));
        ids.extend(self.members.iter().copied());
        ids.into_iter().collect()
    }

    /// How many members' final states are expected: the members at the end, or `nodes`.
    pub fn final_members(&self) -> usize {
        if self.members.is_empty() {
            self.nodes
        } else {
            self.members.len()
        }
    }
}

/// The shared, thread-safe recorder the workload and the fault injector write into.
#[derive(Clone)]
pub struct Recorder {
    start: Instant,
    inner: Arc<Mutex<History>>,
}

impl Recorder {
    /// A recorder whose clock starts now.
    pub fn new(nodes: usize, schedule: Option<Schedule>) -> Recorder {
        Recorder {
            start: Instant::now(),
            inner: Arc::new(Mutex::new(History {
                nodes,
                schedule,
                ..Default::default()
            })),
        }
    }

    /// Microseconds since the run started.
    pub fn now(&self) -> Micros {
        self.start.elapsed().as_micros() as Micros
    }

    /// Runs `f` on the history.
    pub fn with<T>(&self, f: impl FnOnce(&mut History) -> T) -> T {
        let mut h = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut h)
    }

    /// Records a node life event now; returns its time.
    pub fn life(&self, node: u64, life: Life) -> Micros {
        let at_us = self.now();
        self.with(|h| h.node_events.push(NodeEvent { node, at_us, life }));
        at_us
    }

    /// A copy of the history so far.
    pub fn snapshot(&self) -> History {
        self.with(|h| h.clone())
    }
}
