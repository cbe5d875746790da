//! The Raft cluster: openraft 0.9 (storage-v2) over QUIC with mutual TLS.
//!
//! [`RaftNode`] is the handle, shaped like [`crate::LocalNode`]: propose a command and get the
//! state machine's verdict once it is committed and applied on this node, read the applied
//! registry, ask for a linearizable read, and manage membership. Any node takes any call;
//! followers forward writes, read-index and membership requests to the leader.
//!
//! Choice of openraft line: the stable 0.9 (0.10 is alpha and needs edition 2024); its
//! chunked snapshot transfer (`InstallSnapshot` RPCs of up to 1 MiB) is what streams snapshots.
//!
//! Layout: [`log_store`] (redb log and vote), [`state_machine`] (registry, snapshots),
//! [`wire`] (frames and RPC messages), [`network`] (quinn endpoint, client, server),
//! and the node itself (this module).

pub mod ledger;
pub mod log_growth;
pub mod log_store;
pub mod network;
pub mod signals;
pub mod snapshot_file;
pub mod startup;
pub mod state_machine;
pub mod wire;

use crate::pki::{ClusterTls, PkiError};
use crate::{OnApplied, ProposeError};
use network::{CallError, CallErrorKind, Handler, NetworkFactory, PeerAddresses, Transport};
use openraft::error::{
    ChangeMembershipError, CheckIsLeaderError, ClientWriteError, InitializeError,
    InstallSnapshotError, RaftError,
};
use openraft::raft::AppendEntriesResponse;
use openraft::{BasicNode, ChangeMembers, Config, Raft, RaftMetrics, ServerState, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use state_machine::{Shared, StateMachineStore};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLockReadGuard};
use std::time::Duration;
use tokio::time::Instant;
use tollgate_proto::{ApplyResult, Command, Registry};
use wire::{MembershipOp, Request, Response};

openraft::declare_raft_types!(
    /// The openraft type configuration of the Tollgate cluster.
    pub TypeConfig:
        D = Command,
        R = ApplyResult,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = snapshot_file::SnapshotFile,
        AsyncRuntime = openraft::TokioRuntime,
);

/// How a node joins the cluster and how it times things.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// This node's id (unique in the cluster, never reused).
    pub node_id: u64,
    /// Where the log, vote and snapshots live.
    pub data_dir: PathBuf,
    /// The UDP address the QUIC endpoint binds.
    pub listen: SocketAddr,
    /// The address other nodes dial to reach this one (`host:port`).
    pub advertise: String,
    /// The cluster CA and this node's certificate and key.
    pub tls: ClusterTls,
    /// The leader's heartbeat interval (also the deadline of one AppendEntries RPC).
    pub heartbeat_interval: Duration,
    /// The shortest election timeout.
    pub election_timeout_min: Duration,
    /// The longest election timeout.
    pub election_timeout_max: Duration,
    /// A snapshot is built after this many log entries since the last one, per 16 MiB of the
    /// last snapshot ([`log_growth`]).
    pub snapshot_every: u64,
    /// A snapshot is also built once the log entries applied since the last one reach this
    /// many bytes and half the last snapshot's size (0: by entry count only; see
    /// [`log_growth`]).
    pub snapshot_log_bytes: u64,
    /// Log entries kept behind the last snapshot (a follower lagging further gets the snapshot).
    pub logs_kept_after_snapshot: u64,
    /// The size of one snapshot chunk on the wire.
    pub snapshot_chunk_size: u64,
    /// The deadline of one snapshot chunk RPC (sending and, for the last, installing).
    pub snapshot_chunk_timeout: Duration,
    /// How long a proposal, read-index or membership call may take, leader changes included.
    pub request_timeout: Duration,
    /// Addresses to dial peers at instead of their membership addresses (by node id); the
    /// membership keeps the addresses the nodes advertise. Empty: dial the membership's.
    pub peer_addresses: BTreeMap<u64, String>,
    /// Start even though the log store is missing from a folder that had one (an empty log
    /// and vote): see [`startup`].
    pub recover_missing_log: bool,
}

/// The log bytes since the last snapshot that make one due at least (besides half the last
/// snapshot's size): 16 MiB, about 270 000 imported API keys.
pub const DEFAULT_SNAPSHOT_LOG_BYTES: u64 = 16 << 20;

impl RaftConfig {
    /// A configuration with the default timings: heartbeat 100 ms, election 600–1200 ms,
    /// a snapshot every 1000 entries per 16 MiB of the last snapshot, or once the log applied
    /// since it passes [`DEFAULT_SNAPSHOT_LOG_BYTES`] and half its size (see `log_growth`),
    /// keeping 1000 entries behind it, 1 MiB chunks, 10 s requests.
    ///
    /// The election timeout is six heartbeats at least: loopback and LAN round trips are
    /// well under a millisecond, so what delays a heartbeat is scheduling — a control thread
    /// waiting behind busy cores (data-plane workers, other processes) — and an election
    /// that no fault caused costs every write in flight a retry. Failover takes about the
    /// timeout plus openraft's leader lease (the longest timeout).
    pub fn new(
        node_id: u64,
        data_dir: PathBuf,
        listen: SocketAddr,
        advertise: String,
        tls: ClusterTls,
    ) -> RaftConfig {
        RaftConfig {
            node_id,
            data_dir,
            listen,
            advertise,
            tls,
            heartbeat_interval: Duration::from_millis(100),
            election_timeout_min: Duration::from_millis(600),
            election_timeout_max: Duration::from_millis(1200),
            snapshot_every: 1000,
            snapshot_log_bytes: DEFAULT_SNAPSHOT_LOG_BYTES,
            logs_kept_after_snapshot: 1000,
            snapshot_chunk_size: 1 << 20,
            snapshot_chunk_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            peer_addresses: BTreeMap::new(),
            recover_missing_log: false,
        }
    }

    fn openraft_config(&self) -> Result<Config, ClusterError> {
        let ms = |d: Duration| d.as_millis().max(1) as u64;
        let cfg = Config {
            cluster_name: "tollgate".into(),
            heartbeat_interval: ms(self.heartbeat_interval),
            election_timeout_min: ms(self.election_timeout_min),
            election_timeout_max: ms(self.election_timeout_max),
            install_snapshot_timeout: ms(self.snapshot_chunk_timeout),
            // Snapshots are asked for by `snapshot_when_log_grows` ([`log_growth`]).
            snapshot_policy: SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: self.logs_kept_after_snapshot,
            // A chunk travels in one frame: keep it well under the frame limit.
            snapshot_max_chunk_size: self
                .snapshot_chunk_size
                .clamp(1024, (wire::MAX_FRAME / 4) as u64),
            ..Default::default()
        };
        cfg.validate()
            .map_err(|e| ClusterError::Config(e.to_string()))
    }
}

/// Why a cluster call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Certificates or keys could not be used.
    #[error("tls: {0}")]
    Tls(#[from] PkiError),
    /// The data directory or socket could not be used.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The log store could not be opened or failed.
    #[error("storage: {0}")]
    Storage(String),
    /// `initialize` on a node that already has a membership.
    #[error("the cluster is already initialized")]
    AlreadyInitialized,
    /// No leader was reachable before the deadline.
    #[error("no leader")]
    NoLeader,
    /// The deadline passed.
    #[error("timed out")]
    Timeout,
    /// This node was removed from the cluster (see [`signals`]).
    #[error("this node was removed from the cluster")]
    Removed,
    /// The leader refused the request (e.g. an invalid membership change).
    #[error("refused: {0}")]
    Refused(String),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
    /// Another failure (of the leader, the network or openraft).
    #[error("{0}")]
    Other(String),
}

/// One member of the cluster as [`ClusterStatus`] shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    /// Its id.
    pub id: u64,
    /// The address others dial.
    pub addr: String,
    /// Voter (true) or learner.
    pub voter: bool,
    /// The last log index known replicated to it (only on the leader).
    pub matched: Option<u64>,
    /// How far it is behind the leader's last log index (only on the leader).
    pub lag: Option<u64>,
}

/// A node's view of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// This node.
    pub node_id: u64,
    /// Leader, Follower, Candidate, Learner or Shutdown.
    pub state: String,
    /// The current leader, if known.
    pub leader: Option<u64>,
    /// The current term.
    pub term: u64,
    /// The last index in this node's log.
    pub last_log_index: Option<u64>,
    /// The last index applied to this node's registry.
    pub last_applied: Option<u64>,
    /// The last index covered by this node's snapshot.
    pub snapshot_index: Option<u64>,
    /// The last index purged from this node's log.
    pub purged_index: Option<u64>,
    /// Voters and learners, by id.
    pub members: Vec<MemberStatus>,
    /// This node knows it was removed from the group (a member's committed membership, or its
    /// own, leaves it out): it no longer campaigns, and refuses writes. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

struct Inner {
    id: u64,
    /// The Raft group this instance is (0: the configuration group, which owns the endpoint).
    group: u32,
    advertise: String,
    raft: Raft<TypeConfig>,
    /// The openraft configuration, shared by the node's groups.
    config: Arc<Config>,
    /// Whether a missing log store may be recreated (see [`startup`]).
    recover_missing_log: bool,
    /// The log entries and bytes that make a snapshot due ([`RaftConfig::snapshot_every`],
    /// [`RaftConfig::snapshot_log_bytes`]).
    snapshot_every: u64,
    snapshot_log_bytes: u64,
    /// The node's other groups (started with [`RaftNode::start_group`]), shared by all of them:
    /// the endpoint's server hands each wrapped request to its group here.
    groups: Arc<Mutex<BTreeMap<u32, Arc<Inner>>>>,
    /// The ledger group count this node runs with (0: not declared), shared by its groups and
    /// answered to [`Request::LedgerGroups`] (see [`RaftNode::declare_ledger_groups`]).
    ledger_groups: Arc<std::sync::atomic::AtomicU32>,
    shared: Arc<Shared>,
    transport: Arc<Transport>,
    peers: Arc<PeerAddresses>,
    request_timeout: Duration,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
    reads: Mutex<ReadRounds>,
    /// Handover, leader contact and removal ([`signals`]).
    signals: Arc<signals::Signals>,
}

/// Concurrent read-index requests on the leader, coalesced: one leadership confirmation is in
/// flight at a time, and requests arriving meanwhile share the next round (never the one
/// already running, whose commit index may predate them). Reads then cost one quorum round
/// trip per batch and cannot crowd out heartbeats.
#[derive(Default)]
struct ReadRounds {
    running: bool,
    waiting: Vec<tokio::sync::oneshot::Sender<ReadOutcome>>,
}

/// The outcome of one read-index round.
#[derive(Clone)]
enum ReadOutcome {
    Index(u64),
    NotLeader(Option<u64>),
    Failed(String),
}

impl From<ReadOutcome> for Response {
    fn from(o: ReadOutcome) -> Response {
        match o {
            ReadOutcome::Index(index) => Response::ReadIndex { index },
            ReadOutcome::NotLeader(leader) => Response::NotLeader { leader },
            ReadOutcome::Failed(m) => Response::Failed(m),
        }
    }
}

/// Asks `raft` for a snapshot whenever the log has grown enough since the last one
/// ([`log_growth`]), until it stops.
async fn snapshot_when_log_grows(raft: Raft<TypeConfig>, growth: Arc<log_growth::LogGrowth>) {
    let mut metrics = raft.metrics();
    loop {
        tokio::select! {
            _ = growth.wanted() => {}
            changed = metrics.changed() => {
                let stopped = changed.is_err() || {
                    let m = metrics.borrow();
                    m.running_state.is_err() || m.state == ServerState::Shutdown
                };
                if stopped {
                    return;
                }
                continue;
            }
        }
        let (bytes, entries) = growth.seen();
        tracing::info!(
            bytes,
            entries,
            threshold = growth.threshold(),
            entries_threshold = growth.entries_threshold(),
            "the log grew past its snapshot threshold: building a snapshot"
        );
        if raft.trigger().snapshot().await.is_err() {
            return;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A handle to this node of the Raft cluster. Clones share the node.
#[derive(Clone)]
pub struct RaftNode {
    inner: Arc<Inner>,
}

/// How one attempt to commit a command ended.
enum Attempt {
    /// Committed at this index with this verdict.
    Done(u64, ApplyResult),
    /// Certainly not appended (no leader there, or the request never left): ask again.
    NotAppended,
    /// It may or may not have been appended.
    Unknown(String),
    /// The attempt's deadline passed; it may or may not have been appended.
    TimedOut,
    /// This node has stopped.
    Stopped,
}

/// How a call to the leader ended.
enum LeaderCall {
    /// It answered, or the call failed.
    Answer(Result<Response, CallError>),
    /// This node stopped naming that node leader before the answer came.
    Replaced,
}

/// The longest one read-index request to the leader may take before it is asked again.
const READ_INDEX_ATTEMPT: Duration = Duration::from_secs(2);

/// The longest one forwarded write that may be asked again ([`Command::is_idempotent`]) may
/// take before it is.
const WRITE_ATTEMPT: Duration = Duration::from_secs(3);

/// Pause between retries while a leader is being elected or a change is in progress.
const RETRY: Duration = Duration::from_millis(50);

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

impl RaftNode {
    /// Opens the node's storage in `cfg.data_dir`, recovers the registry from its snapshot
    /// (calling `on_applied` once with no commands), binds the QUIC endpoint and starts Raft.
    /// A node that was a member rejoins by itself; a new one waits for `initialize` or to be
    /// added by the leader.
    pub async fn start(cfg: RaftConfig, on_applied: OnApplied) -> Result<RaftNode, ClusterError> {
        let config = Arc::new(cfg.openraft_config()?);
        let (mut log_store, contents) =
            startup::open_log_store(&cfg.data_dir, cfg.node_id, cfg.recover_missing_log).await?;
        let shared = Shared::new();
        let dir = cfg.data_dir.clone();
        let sm_shared = shared.clone();
        let growth = log_growth::LogGrowth::new(cfg.snapshot_every.max(1), cfg.snapshot_log_bytes);
        log_store.count_growth(growth.clone());
        let sm_growth = growth.clone();
        let sm = tokio::task::spawn_blocking(move || {
            StateMachineStore::open(&dir, sm_shared, on_applied).map(|s| s.with_growth(sm_growth))
        })
        .await
        .map_err(|e| ClusterError::Other(format!("state machine open task: {e}")))??;
        startup::check_snapshot(&cfg.data_dir, &contents, *shared.applied.borrow())?;
        let endpoint = bind_endpoint(cfg.listen, &cfg.tls).await?;
        let transport = Transport::new(cfg.node_id, endpoint.clone());
        let peers = Arc::new(PeerAddresses::new(cfg.peer_addresses.clone()));
        let signals = signals::Signals::new();
        let factory = NetworkFactory {
            transport: transport.clone(),
            peers: peers.clone(),
            group: 0,
            signals: signals.clone(),
        };
        let raft = Raft::new(cfg.node_id, config.clone(), factory, log_store, sm)
            .await
            .map_err(|e| ClusterError::Other(format!("raft start: {e}")))?;
        tokio::spawn(snapshot_when_log_grows(raft.clone(), growth));
        tokio::spawn(signals::watch_removal(raft.clone(), signals.clone()));
        let inner = Arc::new(Inner {
            id: cfg.node_id,
            group: 0,
            advertise: cfg.advertise.clone(),
            raft,
            config,
            recover_missing_log: cfg.recover_missing_log,
            snapshot_every: cfg.snapshot_every,
            snapshot_log_bytes: cfg.snapshot_log_bytes,
            groups: Arc::new(Mutex::new(BTreeMap::new())),
            ledger_groups: Arc::new(std::sync::atomic::AtomicU32::new(0)),
            shared,
            transport,
            peers,
            request_timeout: cfg.request_timeout,
            server: Mutex::new(None),
            reads: Mutex::new(ReadRounds::default()),
            signals,
        });
        let server = tokio::spawn(network::serve(endpoint, Arc::new(Server(inner.clone()))));
        *lock(&inner.server) = Some(server);
        tracing::info!(node = cfg.node_id, listen = %cfg.listen, "raft node started");
        Ok(RaftNode { inner })
    }

    /// Starts Raft group `group` (1 or more) of this node: its own openraft instance, log,
    /// vote, snapshots and registry in `data_dir`, on the same QUIC endpoint as this
    /// (configuration) group, its requests wrapped with the group id
    /// ([`Request::Group`]). A node that was a member of the group rejoins by itself; a new
    /// group waits for [`RaftNode::initialize`] on its handle. The group stops with this one.
    pub async fn start_group(
        &self,
        group: u32,
        data_dir: PathBuf,
        on_applied: OnApplied,
    ) -> Result<RaftNode, ClusterError> {
        let base = &self.inner;
        if base.group != 0 || group == 0 {
            return Err(ClusterError::Config(format!(
                "group {group} cannot be started from group {}",
                base.group
            )));
        }
        if lock(&base.groups).contains_key(&group) {
            return Err(ClusterError::Config(format!(
                "group {group} is already running"
            )));
        }
        let (mut log_store, contents) =
            startup::open_log_store(&data_dir, base.id, base.recover_missing_log).await?;
        let shared = Shared::new();
        let dir = data_dir.clone();
        let sm_shared = shared.clone();
        let growth =
            log_growth::LogGrowth::new(base.snapshot_every.max(1), base.snapshot_log_bytes);
        log_store.count_growth(growth.clone());
        let sm_growth = growth.clone();
        let sm = tokio::task::spawn_blocking(move || {
            StateMachineStore::open(&dir, sm_shared, on_applied).map(|s| s.with_growth(sm_growth))
        })
        .await
        .map_err(|e| ClusterError::Other(format!("state machine open task: {e}")))??;
        startup::check_snapshot(&data_dir, &contents, *shared.applied.borrow())?;
        let signals = signals::Signals::for_group(base.signals.clone());
        let factory = NetworkFactory {
            transport: base.transport.clone(),
            peers: base.peers.clone(),
            group,
            signals: signals.clone(),
        };
        let raft = Raft::new(base.id, base.config.clone(), factory, log_store, sm)
            .await
            .map_err(|e| ClusterError::Other(format!("raft start (group {group}): {e}")))?;
        tokio::spawn(snapshot_when_log_grows(raft.clone(), growth));
        tokio::spawn(signals::watch_removal(raft.clone(), signals.clone()));
        let inner = Arc::new(Inner {
            id: base.id,
            group,
            advertise: base.advertise.clone(),
            raft,
            config: base.config.clone(),
            recover_missing_log: base.recover_missing_log,
            snapshot_every: base.snapshot_every,
            snapshot_log_bytes: base.snapshot_log_bytes,
            groups: base.groups.clone(),
            ledger_groups: base.ledger_groups.clone(),
            shared,
            transport: base.transport.clone(),
            peers: base.peers.clone(),
            request_timeout: base.request_timeout,
            server: Mutex::new(None),
            reads: Mutex::new(ReadRounds::default()),
            signals,
        });
        lock(&base.groups).insert(group, inner.clone());
        tracing::info!(node = base.id, group, "raft group started");
        Ok(RaftNode { inner })
    }

    /// Declares the number of ledger groups this node runs with, answered to peers that ask
    /// ([`RaftNode::peer_ledger_groups`]) so that a cluster can refuse a node whose count
    /// differs. Until declared, the answer is 0 (unknown).
    pub fn declare_ledger_groups(&self, groups: u32) {
        self.inner
            .ledger_groups
            .store(groups, std::sync::atomic::Ordering::Relaxed);
    }

    /// The ledger group count declared with [`RaftNode::declare_ledger_groups`] (0: none).
    pub fn ledger_groups(&self) -> u32 {
        self.inner
            .ledger_groups
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The number of ledger groups node `id` (dialled at `addr`) runs with: `Ok(None)` when it
    /// has not declared one yet, an error when it cannot be asked (unreachable, or a build
    /// that does not know the question) within `timeout`.
    pub async fn peer_ledger_groups(
        &self,
        id: u64,
        addr: &str,
        timeout: Duration,
    ) -> Result<Option<u32>, ClusterError> {
        let addr = self.inner.peers.dial(id, addr).to_string();
        let answer = self
            .inner
            .transport
            .call(id, &addr, Request::LedgerGroups, None, timeout)
            .await
            .map_err(|e| ClusterError::Other(e.to_string()))?;
        match answer {
            Response::LedgerGroups { count: 0 } => Ok(None),
            Response::LedgerGroups { count } => Ok(Some(count)),
            Response::Failed(m) | Response::Refused(m) => Err(ClusterError::Other(m)),
            other => Err(ClusterError::Other(format!(
                "unexpected answer to a ledger group count: {other:?}"
            ))),
        }
    }

    /// The Raft group of this handle (0: the configuration group).
    pub fn group(&self) -> u32 {
        self.inner.group
    }

    /// This node's groups in order: the configuration group (this handle's group 0), then the
    /// groups started with [`RaftNode::start_group`] — the ledger groups, `groups()[g]` being
    /// group `g` when they were started as 1, 2, ….
    pub fn groups(&self) -> Vec<RaftNode> {
        let base = if self.inner.group == 0 {
            self.inner.clone()
        } else {
            return vec![self.clone()];
        };
        let mut out = vec![RaftNode { inner: base }];
        out.extend(lock(&self.inner.groups).values().map(|inner| RaftNode {
            inner: inner.clone(),
        }));
        out
    }

    /// This node's id.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The address this node advertises.
    pub fn advertise(&self) -> &str {
        &self.inner.advertise
    }

    /// The local UDP address the endpoint is bound to.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self.inner.transport.endpoint() {
            Some(e) => e.local_addr(),
            None => Err(std::io::Error::other("the node has stopped")),
        }
    }

    /// The openraft handle, for what this API does not cover (metrics, triggers).
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.inner.raft
    }

    /// Commits `command` through the leader (forwarding it when this node is not the leader)
    /// and returns the state machine's verdict once this node has applied it, so a read on
    /// this node afterwards sees it. Retries through leader changes for up to the request
    /// timeout: a command that may be applied twice ([`Command::is_idempotent`] is false) only
    /// when it certainly was not appended; an idempotent one (a [`Command::Once`], a usage
    /// report) also after an unknown outcome, so that it gets a definite answer unless the
    /// deadline passes first.
    pub async fn propose(&self, command: Command) -> Result<ApplyResult, ProposeError> {
        self.propose_indexed(command).await.map(|(_, r)| r)
    }

    /// [`RaftNode::propose`], also returning the log index the command was committed at (the
    /// same on every node: its position in the cluster's one order of commands). With a
    /// retried idempotent command that is the index of the attempt that answered.
    pub async fn propose_indexed(
        &self,
        command: Command,
    ) -> Result<(u64, ApplyResult), ProposeError> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.request_timeout;
        let retry_unknown = command.is_idempotent();
        // Why the last attempt had no definite answer, for the error when the deadline passes.
        let mut unknown: Option<String> = None;
        let give_up = |unknown: Option<String>, otherwise: ProposeError| match unknown {
            Some(why) => ProposeError::Indeterminate(format!(
                "no definite answer within {:?}; last attempt: {why}",
                inner.request_timeout
            )),
            None => otherwise,
        };
        loop {
            let leader = match inner.wait_for_leader(deadline).await {
                Ok(l) => l,
                Err(ClusterError::Stopped) => return Err(ProposeError::Stopped),
                // Not sent anywhere: certainly not applied.
                Err(ClusterError::Removed) => return Err(ProposeError::NoLeader),
                Err(_) => return Err(give_up(unknown, ProposeError::NoLeader)),
            };
            let outcome = if leader == inner.id {
                inner.propose_here(&command, deadline).await
            } else {
                // Each attempt of a command that may be retried is bounded on its own, so a
                // leader that stalls without losing its leadership is asked again.
                let attempt = if retry_unknown {
                    deadline.min(Instant::now() + WRITE_ATTEMPT)
                } else {
                    deadline
                };
                inner.propose_forwarded(leader, &command, attempt).await
            };
            match outcome {
                Attempt::Done(index, result) => {
                    inner
                        .wait_applied(index, deadline)
                        .await
                        .map_err(|e| match e {
                            ClusterError::Stopped => ProposeError::Stopped,
                            _ => ProposeError::Timeout,
                        })?;
                    return Ok((index, result));
                }
                Attempt::NotAppended => {}
                Attempt::Stopped => return Err(ProposeError::Stopped),
                Attempt::Unknown(why) if retry_unknown => {
                    tracing::debug!(leader, why = %why, "write outcome unknown; asking again");
                    unknown = Some(why);
                }
                Attempt::Unknown(why) => return Err(ProposeError::Indeterminate(why)),
                Attempt::TimedOut if retry_unknown && Instant::now() < deadline => {
                    unknown = Some(format!("leader {leader} did not answer in time"));
                }
                Attempt::TimedOut => return Err(give_up(unknown, ProposeError::Timeout)),
            }
            if Instant::now() >= deadline {
                return Err(give_up(unknown, ProposeError::NoLeader));
            }
            tokio::time::sleep(RETRY.min(remaining(deadline))).await;
        }
    }

    /// Reads the registry as applied on this node (possibly behind the leader). Hold the guard
    /// briefly and never across an await.
    pub fn read(&self) -> RwLockReadGuard<'_, Registry> {
        self.inner.shared.read()
    }

    /// Reads the registry as applied on this node together with the index of the last log
    /// entry applied to it (consistent: no entry is applied while the guard is held). Hold the
    /// guard briefly and never across an await.
    pub fn read_applied(&self) -> (RwLockReadGuard<'_, Registry>, u64) {
        let guard = self.inner.shared.read();
        let index = *self.inner.shared.applied.borrow();
        (guard, index)
    }

    /// Waits until a read on this node is linearizable: the leader confirms its leadership
    /// with a quorum and names its commit index, and this node applies up to it.
    pub async fn linearizable(&self) -> Result<(), ClusterError> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.request_timeout;
        loop {
            let leader = inner.wait_for_leader(deadline).await?;
            let resp = if leader == inner.id {
                inner.read_index().await
            } else {
                // Each attempt is bounded on its own: a read-index can be asked again, and a
                // timed-out call drops its connection, so the next attempt dials afresh instead
                // of waiting on one whose retransmissions backed off during a partition.
                let attempt = deadline.min(Instant::now() + READ_INDEX_ATTEMPT);
                match inner.call_leader(leader, Request::ReadIndex, attempt).await {
                    LeaderCall::Answer(Ok(r)) => r,
                    LeaderCall::Answer(Err(e))
                        if e.kind == CallErrorKind::Timeout && Instant::now() >= deadline =>
                    {
                        return Err(ClusterError::Timeout)
                    }
                    LeaderCall::Answer(Err(e)) => Response::Failed(e.to_string()),
                    // Asking again is harmless: ask the new leader.
                    LeaderCall::Replaced => Response::NotLeader { leader: None },
                }
            };
            match resp {
                Response::ReadIndex { index } => return inner.wait_applied(index, deadline).await,
                Response::NotLeader { .. } => {}
                Response::NotMember { membership_index } => inner.left_out(membership_index),
                Response::Failed(m) => tracing::debug!(leader, error = %m, "read index failed"),
                other => return Err(ClusterError::Other(format!("unexpected {other:?}"))),
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::Timeout);
            }
            tokio::time::sleep(RETRY.min(remaining(deadline))).await;
        }
    }

    /// Initializes a new cluster with `members` (id → address) as its voters. Call it once, on
    /// one node, with every member started; on a node that already has a membership it
    /// returns [`ClusterError::AlreadyInitialized`].
    pub async fn initialize(&self, members: BTreeMap<u64, String>) -> Result<(), ClusterError> {
        let nodes: BTreeMap<u64, BasicNode> = members
            .into_iter()
            .map(|(id, addr)| (id, BasicNode::new(addr)))
            .collect();
        match self.inner.raft.initialize(nodes).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                Err(ClusterError::AlreadyInitialized)
            }
            Err(RaftError::APIError(e)) => Err(ClusterError::Refused(e.to_string())),
            Err(RaftError::Fatal(_)) => Err(ClusterError::Stopped),
        }
    }

    /// Adds node `id` reachable at `addr` as a learner (it starts receiving the log or a
    /// snapshot). Waits for any membership change in progress to commit first.
    pub async fn add_learner(&self, id: u64, addr: String) -> Result<(), ClusterError> {
        self.inner
            .membership(MembershipOp::AddLearner { id, addr })
            .await
    }

    /// Makes exactly `voters` the voting members, once every new voter has caught up with the
    /// leader's log. Voters left out stay as learners (see [`RaftNode::remove_node`]).
    pub async fn change_membership(&self, voters: BTreeSet<u64>) -> Result<(), ClusterError> {
        self.inner
            .membership(MembershipOp::ChangeMembership { voters })
            .await
    }

    /// Removes node `id` (voter or learner) from the cluster.
    pub async fn remove_node(&self, id: u64) -> Result<(), ClusterError> {
        self.inner.membership(MembershipOp::RemoveNode { id }).await
    }

    /// Waits up to `timeout` for a leader to be known, and returns it.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<u64, ClusterError> {
        self.inner.wait_for_leader(Instant::now() + timeout).await
    }

    /// Why Raft has stopped on this node (a storage write failed, say), or `None` while it
    /// runs. A stopped node serves no writes until its process is restarted.
    pub fn stopped(&self) -> Option<String> {
        let m = self.inner.raft.metrics();
        let m = m.borrow();
        match &m.running_state {
            Err(e) => Some(e.to_string()),
            Ok(()) if m.state == ServerState::Shutdown => Some("shut down".into()),
            Ok(()) => None,
        }
    }

    /// Waits until Raft stops on this node and says why (see [`RaftNode::stopped`]).
    pub async fn wait_stopped(&self) -> String {
        let mut rx = self.inner.raft.metrics();
        loop {
            if let Some(why) = self.stopped() {
                return why;
            }
            if rx.changed().await.is_err() {
                return self.stopped().unwrap_or_else(|| "raft ended".into());
            }
        }
    }

    /// This node's view of the cluster.
    pub fn status(&self) -> ClusterStatus {
        let m = self.inner.raft.metrics().borrow().clone();
        ClusterStatus {
            removed: self.inner.signals.removed(),
            ..status_from_metrics(&m)
        }
    }

    /// Whether this node knows it was removed from this group ([`signals`]).
    pub fn removed(&self) -> bool {
        self.inner.signals.removed()
    }

    /// The group's handover, leader-contact and removal signals on this node.
    pub fn signals(&self) -> &Arc<signals::Signals> {
        &self.inner.signals
    }

    /// Stops Raft, closes the endpoint and waits (briefly) for connections to close. Every
    /// clone of the handle stops working; the data directory can then be opened again.
    pub async fn shutdown(&self) -> Result<(), ClusterError> {
        let inner = &self.inner;
        if inner.group != 0 {
            // A group on the configuration group's endpoint: stop its Raft only.
            lock(&inner.groups).remove(&inner.group);
            let res = inner.raft.shutdown().await;
            tracing::info!(node = inner.id, group = inner.group, "raft group stopped");
            return res.map_err(|e| ClusterError::Other(format!("raft shutdown: {e}")));
        }
        let groups: Vec<Arc<Inner>> = std::mem::take(&mut *lock(&inner.groups))
            .into_values()
            .collect();
        for g in groups {
            if let Err(e) = g.raft.shutdown().await {
                tracing::warn!(group = g.group, error = %e, "raft group shutdown");
            }
        }
        let res = inner.raft.shutdown().await;
        let server = lock(&inner.server).take();
        if let Some(server) = server {
            server.abort();
        }
        if let Some(endpoint) = inner.transport.close() {
            // Let the close frames leave, then move the endpoint off the cluster port: closed
            // connections linger (draining) for up to a few seconds and would keep the port
            // bound, but the node must be restartable on the same address at once. Two
            // rebinds, because quinn keeps the previous socket until the new one sees traffic.
            let _ = tokio::time::timeout(Duration::from_millis(50), endpoint.wait_idle()).await;
            let any: SocketAddr = match endpoint.local_addr() {
                Ok(a) if a.is_ipv6() => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
                _ => (std::net::Ipv4Addr::LOCALHOST, 0).into(),
            };
            for _ in 0..2 {
                match std::net::UdpSocket::bind(any) {
                    Ok(sock) => {
                        if let Err(e) = endpoint.rebind(sock) {
                            tracing::debug!(error = %e, "could not release the cluster port");
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "could not release the cluster port"),
                }
            }
        }
        tracing::info!(node = inner.id, "raft node stopped");
        res.map_err(|e| ClusterError::Other(format!("raft shutdown: {e}")))
    }
}

fn status_from_metrics(m: &RaftMetrics<u64, BasicNode>) -> ClusterStatus {
    let membership = m.membership_config.membership();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let last = m.last_log_index.unwrap_or(0);
    let members = membership
        .nodes()
        .map(|(id, node)| {
            let matched = m
                .replication
                .as_ref()
                .and_then(|r| r.get(id))
                .map(|l| l.map(|l| l.index).unwrap_or(0));
            MemberStatus {
                id: *id,
                addr: node.addr.clone(),
                voter: voters.contains(id),
                matched,
                lag: matched.map(|x| last.saturating_sub(x)),
            }
        })
        .collect();
    ClusterStatus {
        node_id: m.id,
        state: format!("{:?}", m.state),
        leader: m.current_leader,
        term: m.current_term,
        last_log_index: m.last_log_index,
        last_applied: m.last_applied.map(|l| l.index),
        snapshot_index: m.snapshot.map(|l| l.index),
        purged_index: m.purged.map(|l| l.index),
        members,
        removed: false,
    }
}

async fn bind_endpoint(
    listen: SocketAddr,
    tls: &ClusterTls,
) -> Result<quinn::Endpoint, ClusterError> {
    // After an in-process shutdown the previous socket may take a moment to be released.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match network::endpoint(listen, tls) {
            Ok(e) => return Ok(e),
            Err(PkiError::Io(e))
                if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline =>
            {
                tokio::time::sleep(RETRY).await
            }
            Err(PkiError::Io(e)) => {
                return Err(ClusterError::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot bind {listen} (cluster endpoint, UDP): {e}"),
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

impl Inner {
    async fn wait_for_leader(&self, deadline: Instant) -> Result<u64, ClusterError> {
        let mut rx = self.raft.metrics();
        loop {
            {
                let m = rx.borrow_and_update();
                if m.state == ServerState::Shutdown || m.running_state.is_err() {
                    return Err(ClusterError::Stopped);
                }
                if self.signals.removed() {
                    return Err(ClusterError::Removed);
                }
                if let Some(leader) = m.current_leader {
                    return Ok(leader);
                }
            }
            let changed = tokio::select! {
                c = tokio::time::timeout(remaining(deadline), rx.changed()) => c,
                () = self.signals.wait_removed() => return Err(ClusterError::Removed),
            };
            match changed {
                Err(_) => return Err(ClusterError::NoLeader),
                Ok(Err(_)) => return Err(ClusterError::Stopped),
                Ok(Ok(())) => {}
            }
        }
    }

    /// Records a member's answer that its committed membership (at `index`) leaves this node
    /// out, and decides at once whether this node is removed.
    fn left_out(&self, index: u64) {
        self.signals.peer_left_us_out(index);
        let m = self.raft.metrics().borrow().clone();
        self.signals.judge(&self.raft, &m);
    }

    /// The answer to a request from `from` when this group's committed membership leaves it
    /// out ([`Response::NotMember`]), else `None`.
    fn refuse_non_member(&self, from: u64) -> Option<Response> {
        let m = self.raft.metrics();
        let m = m.borrow();
        signals::leaves_out(&m, from)
            .map(|membership_index| Response::NotMember { membership_index })
    }

    async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<(), ClusterError> {
        let mut rx = self.shared.applied.subscribe();
        let res = tokio::time::timeout(remaining(deadline), async {
            rx.wait_for(|&a| a >= index).await.map(|_| ())
        })
        .await;
        match res {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(ClusterError::Stopped),
            Err(_) => Err(ClusterError::Timeout),
        }
    }

    fn node_addr(&self, id: u64) -> Option<String> {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.membership_config
            .membership()
            .get_node(&id)
            .map(|n| self.peers.dial(id, &n.addr).to_string())
    }

    /// Calls `leader`, but gives up as soon as this node stops naming it leader (it was
    /// replaced, or an election began): a dead leader's connection would otherwise hold the
    /// call, and with it this node's admin writes, until the deadline.
    async fn call_leader(&self, leader: u64, req: Request, deadline: Instant) -> LeaderCall {
        let mut rx = self.raft.metrics();
        let replaced = async move {
            let _ = rx.wait_for(|m| m.current_leader != Some(leader)).await;
        };
        tokio::select! {
            answer = self.call_node(leader, req, deadline) => LeaderCall::Answer(answer),
            () = replaced => LeaderCall::Replaced,
        }
    }

    async fn call_node(
        &self,
        id: u64,
        req: Request,
        deadline: Instant,
    ) -> Result<Response, CallError> {
        let addr = self.node_addr(id).ok_or_else(|| CallError {
            sent: false,
            kind: CallErrorKind::Connect,
            message: format!("node {id} has no address in the membership"),
        })?;
        self.transport
            .call(
                id,
                &addr,
                req.for_group(self.group),
                None,
                remaining(deadline),
            )
            .await
    }

    /// The leader's read index: its commit index once a quorum confirmed its leadership
    /// (coalesced, see [`ReadRounds`]).
    async fn read_index(self: &Arc<Self>) -> Response {
        if self.signals.handing_over() {
            // A leadership confirmation would renew the followers' leases.
            return Response::NotLeader { leader: None };
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let start = {
            let mut reads = lock(&self.reads);
            reads.waiting.push(tx);
            !std::mem::replace(&mut reads.running, true)
        };
        if start {
            let me = self.clone();
            tokio::spawn(async move { me.read_rounds().await });
        }
        rx.await
            .unwrap_or_else(|_| ReadOutcome::Failed("the read-index round was dropped".into()))
            .into()
    }

    async fn read_rounds(&self) {
        loop {
            let waiters = {
                let mut reads = lock(&self.reads);
                if reads.waiting.is_empty() {
                    reads.running = false;
                    return;
                }
                std::mem::take(&mut reads.waiting)
            };
            let resp = self.read_index_once().await;
            for w in waiters {
                let _ = w.send(resp.clone());
            }
        }
    }

    async fn read_index_once(&self) -> ReadOutcome {
        match self.raft.get_read_log_id().await {
            Ok((read, _applied)) => ReadOutcome::Index(read.map(|l| l.index).unwrap_or(0)),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                ReadOutcome::NotLeader(f.leader_id)
            }
            Err(e) => ReadOutcome::Failed(e.to_string()),
        }
    }

    /// Runs a membership change here if this node leads, else forwards it; then waits for it
    /// to be applied locally.
    async fn membership(&self, op: MembershipOp) -> Result<(), ClusterError> {
        let deadline = Instant::now() + self.request_timeout;
        loop {
            let leader = self.wait_for_leader(deadline).await?;
            let resp = if leader == self.id {
                self.lead_membership(op.clone(), deadline).await
            } else {
                match self
                    .call_node(leader, Request::Membership(op.clone()), deadline)
                    .await
                {
                    Ok(r) => r,
                    Err(e) if !e.sent => Response::NotLeader { leader: None },
                    Err(e) if e.kind == CallErrorKind::Timeout => {
                        return Err(ClusterError::Timeout)
                    }
                    Err(e) => return Err(ClusterError::Other(e.to_string())),
                }
            };
            match resp {
                Response::MembershipDone { index } => {
                    return self.wait_applied(index, deadline).await
                }
                Response::NotLeader { .. } => {}
                Response::NotMember { membership_index } => self.left_out(membership_index),
                Response::Refused(m) => return Err(ClusterError::Refused(m)),
                Response::Failed(m) => return Err(ClusterError::Other(m)),
                other => return Err(ClusterError::Other(format!("unexpected {other:?}"))),
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::NoLeader);
            }
            tokio::time::sleep(RETRY.min(remaining(deadline))).await;
        }
    }

    /// Waits until every node in `ids` has replicated the leader's log up to (nearly) its end.
    async fn wait_caught_up(&self, ids: &BTreeSet<u64>, deadline: Instant) -> Result<(), String> {
        /// Entries a new voter may still lag behind when it is promoted.
        const PROMOTE_LAG: u64 = 64;
        let mut rx = self.raft.metrics();
        loop {
            let behind: Vec<u64> = {
                let m = rx.borrow_and_update();
                let last = m.last_log_index.unwrap_or(0);
                let repl = m.replication.as_ref();
                ids.iter()
                    .copied()
                    .filter(|id| *id != self.id)
                    .filter(|id| {
                        let matched = repl
                            .and_then(|r| r.get(id))
                            .and_then(|l| l.map(|l| l.index));
                        matched.is_none_or(|x| x + PROMOTE_LAG < last)
                    })
                    .collect()
            };
            if behind.is_empty() {
                return Ok(());
            }
            match tokio::time::timeout(remaining(deadline), rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err("the node has stopped".into()),
                Err(_) => return Err(format!("nodes {behind:?} have not caught up")),
            }
        }
    }

    async fn lead_membership(&self, op: MembershipOp, deadline: Instant) -> Response {
        loop {
            let res = match &op {
                MembershipOp::AddLearner { id, addr } => {
                    self.raft
                        .add_learner(*id, BasicNode::new(addr.clone()), false)
                        .await
                }
                MembershipOp::ChangeMembership { voters } => {
                    if let Err(m) = self.wait_caught_up(voters, deadline).await {
                        return Response::Refused(m);
                    }
                    let change = ChangeMembers::ReplaceAllVoters(voters.clone());
                    self.raft.change_membership(change, true).await
                }
                MembershipOp::RemoveNode { id } => {
                    let is_voter = {
                        let m = self.raft.metrics();
                        let m = m.borrow();
                        m.membership_config
                            .membership()
                            .voter_ids()
                            .any(|v| v == *id)
                    };
                    let change = if is_voter {
                        ChangeMembers::RemoveVoters(BTreeSet::from([*id]))
                    } else {
                        ChangeMembers::RemoveNodes(BTreeSet::from([*id]))
                    };
                    self.raft.change_membership(change, false).await
                }
            };
            match res {
                Ok(resp) => {
                    return Response::MembershipDone {
                        index: resp.log_id.index,
                    }
                }
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    return Response::NotLeader {
                        leader: f.leader_id,
                    }
                }
                Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                    ChangeMembershipError::InProgress(_),
                ))) if Instant::now() < deadline => {
                    // Another change is being committed; openraft allows one at a time.
                    tokio::time::sleep(RETRY.min(remaining(deadline))).await;
                }
                Err(RaftError::APIError(e)) => return Response::Refused(e.to_string()),
                Err(RaftError::Fatal(e)) => return Response::Failed(e.to_string()),
            }
        }
    }

    /// One attempt to commit `command` as the leader.
    async fn propose_here(&self, command: &Command, deadline: Instant) -> Attempt {
        if self.signals.handing_over() {
            // Nothing new while the leadership is handed over (a moment): asked again.
            return Attempt::NotAppended;
        }
        let write = self.raft.client_write(command.clone());
        match tokio::time::timeout(remaining(deadline), write).await {
            Err(_) => Attempt::TimedOut,
            Ok(Ok(resp)) => Attempt::Done(resp.log_id.index, resp.data),
            // Leadership was lost before the entry was appended, or (when it was replaced
            // with the entry in flight) the entry may yet be committed by the next leader:
            // only an idempotent command is retried then (see the caller).
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                Attempt::NotAppended
            }
            Ok(Err(RaftError::APIError(e))) => Attempt::Unknown(e.to_string()),
            Ok(Err(RaftError::Fatal(e))) => {
                tracing::error!(error = %e, "raft stopped");
                Attempt::Stopped
            }
        }
    }

    /// One attempt to commit `command` through `leader`.
    async fn propose_forwarded(
        &self,
        leader: u64,
        command: &Command,
        deadline: Instant,
    ) -> Attempt {
        let req = Request::Forward(command.clone());
        let answer = match self.call_leader(leader, req, deadline).await {
            LeaderCall::Answer(a) => a,
            // It may have been appended by the old leader.
            LeaderCall::Replaced => {
                return Attempt::Unknown(format!(
                    "leader {leader} was replaced while the write was in flight"
                ))
            }
        };
        match answer {
            Ok(Response::Forwarded { index, result }) => Attempt::Done(index, result),
            Ok(Response::NotLeader { .. }) => Attempt::NotAppended,
            Ok(Response::NotMember { membership_index }) => {
                self.left_out(membership_index);
                Attempt::NotAppended
            }
            Ok(Response::Failed(m)) | Ok(Response::Refused(m)) => {
                Attempt::Unknown(format!("leader {leader}: {m}"))
            }
            Ok(other) => Attempt::Unknown(format!("leader {leader} answered {other:?}")),
            Err(e) if !e.sent => {
                tracing::debug!(leader, error = %e, "forward not sent; retrying");
                Attempt::NotAppended
            }
            Err(e) if e.kind == CallErrorKind::Timeout => Attempt::TimedOut,
            Err(e) => Attempt::Unknown(e.to_string()),
        }
    }

    /// A forwarded command, on the leader.
    async fn lead_write(&self, command: Command) -> Response {
        if self.signals.handing_over() {
            return Response::NotLeader { leader: None };
        }
        match self.raft.client_write(command).await {
            Ok(resp) => Response::Forwarded {
                index: resp.log_id.index,
                result: resp.data,
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Response::NotLeader {
                leader: f.leader_id,
            },
            Err(e) => Response::Failed(e.to_string()),
        }
    }
}

/// The request handler of a node's endpoint.
struct Server(Arc<Inner>);

impl Handler for Server {
    fn id(&self) -> u64 {
        self.0.id
    }

    async fn handle(&self, from: u64, body: Request, extra: Option<Vec<u8>>) -> Response {
        match body {
            Request::Group { group, body } => {
                let inner = lock(&self.0.groups).get(&group).cloned();
                match inner {
                    Some(inner) if !matches!(*body, Request::Group { .. }) => {
                        inner.handle(from, *body, extra).await
                    }
                    Some(_) => Response::Failed("a group request inside a group request".into()),
                    // Not started here (yet, or any more): openraft backs off and retries.
                    None => Response::Failed(format!(
                        "raft group {group} is not running on node {}",
                        self.0.id
                    )),
                }
            }
            body => self.0.handle(from, body, extra).await,
        }
    }
}

impl Inner {
    /// Answers one request of this group (never a [`Request::Group`]).
    async fn handle(
        self: &Arc<Self>,
        from: u64,
        body: Request,
        extra: Option<Vec<u8>>,
    ) -> Response {
        let inner = self;
        // A node this group removed is told so (it never received the change that removed
        // it), and is neither voted for nor served.
        let from_member_only = matches!(
            body,
            Request::Vote(_) | Request::Forward(_) | Request::ReadIndex | Request::Membership(_)
        );
        if from_member_only {
            if let Some(refusal) = inner.refuse_non_member(from) {
                tracing::debug!(from, group = inner.group, "a request from a non-member");
                return refusal;
            }
        }
        match body {
            Request::AppendEntries(req) => match inner.raft.append_entries(req).await {
                Ok(r) => {
                    if !matches!(r, AppendEntriesResponse::HigherVote(_)) {
                        inner.signals.heard_from_leader();
                    }
                    Response::AppendEntries(r)
                }
                Err(e) => Response::Failed(e.to_string()),
            },
            Request::Vote(req) => match inner.raft.vote(req).await {
                Ok(r) => Response::Vote(r),
                Err(e) => Response::Failed(e.to_string()),
            },
            Request::InstallSnapshot(mut req) => {
                req.data = extra.unwrap_or_default();
                match inner.raft.install_snapshot(req).await {
                    Ok(r) => {
                        inner.signals.heard_from_leader();
                        Response::InstallSnapshot(r)
                    }
                    Err(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m))) => {
                        Response::SnapshotMismatch(m)
                    }
                    Err(e) => Response::Failed(e.to_string()),
                }
            }
            Request::Forward(cmd) => {
                tracing::debug!(from, "forwarded command");
                inner.lead_write(cmd).await
            }
            Request::ReadIndex => inner.read_index().await,
            Request::Membership(op) => {
                let deadline = Instant::now() + inner.request_timeout;
                inner.lead_membership(op, deadline).await
            }
            Request::Group { .. } => Response::Failed("a group request inside a group".into()),
            Request::LedgerGroups => Response::LedgerGroups {
                count: inner
                    .ledger_groups
                    .load(std::sync::atomic::Ordering::Relaxed),
            },
        }
    }
}

#[cfg(test)]
mod storage_suite {
    use super::log_store::LogStore;
    use super::state_machine::{Shared, StateMachineStore};
    use super::TypeConfig;
    use openraft::testing::{StoreBuilder, Suite};
    use openraft::StorageError;

    struct Builder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, tempfile::TempDir> for Builder {
        async fn build(
            &self,
        ) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), StorageError<u64>> {
            let dir = tempfile::tempdir().expect("tempdir");
            let log = LogStore::open(&dir.path().join("raft.redb")).expect("open log store");
            let sm = StateMachineStore::open(dir.path(), Shared::new(), Box::new(|_, _| {}))
                .expect("open state machine");
            Ok((dir, log, sm))
        }
    }

    /// openraft's own conformance suite for log stores and state machines.
    #[test]
    fn openraft_storage_suite() {
        Suite::test_all(Builder).expect("storage suite");
    }
}
