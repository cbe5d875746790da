//! The state machine: applies committed [`Command`]s to the [`Registry`], and builds, stores
//! and installs snapshots of it.
//!
//! The registry lives in memory; what is durable is the snapshot (written with temp file +
//! fsync + rename + directory fsync before openraft may purge the logs it covers) and the log.
//! At startup the registry is rebuilt from the last snapshot and openraft re-applies the
//! committed entries after it. Only the current snapshot's metadata stays in memory: a
//! snapshot is encoded straight into its file as it is built, and openraft is handed a window
//! over the file ([`SnapshotFile`]) to send it to a follower in chunks; a snapshot received is
//! written chunk by chunk into a temp file, then read once to decode and install it (issue 14:
//! a million keys' snapshot was built in memory and copied again into the file).
//!
//! Snapshot data (what travels to other nodes) is `codec::encode` of
//! `{last applied log id, last membership, registry}`. The snapshot file adds a small header
//! and a checksum ([`super::snapshot_file`]).

use super::log_growth::LogGrowth;
use super::snapshot_file::{self, invalid, read_file, SnapshotFile};
use super::TypeConfig;
use crate::OnApplied;
use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, StorageError,
    StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, TryLockError};
use tokio::sync::watch;
use tollgate_proto::{codec, legacy, ApplyResult, Command, Registry};

type SResult<T> = Result<T, StorageError<u64>>;
type Membership = StoredMembership<u64, BasicNode>;

/// What the rest of the node shares with the state machine.
pub(crate) struct Shared {
    /// The registry as applied so far.
    pub registry: RwLock<Registry>,
    /// The index of the last applied log entry (0 before any).
    pub applied: watch::Sender<u64>,
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared {
            registry: RwLock::new(Registry::default()),
            applied: watch::channel(0).0,
        })
    }

    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        // `Registry::apply` either finishes or changes nothing, so a poisoned lock still
        // guards a valid registry.
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|p| p.into_inner())
    }

    fn try_write(&self) -> Option<std::sync::RwLockWriteGuard<'_, Registry>> {
        match self.registry.try_write() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// The write lock. Readers hold the read lock briefly (a snapshot encodes from a copy
    /// taken under it, see [`StateMachineStore::build_snapshot`]), so it is first polled
    /// without blocking the thread (the control thread that applies entries also sends
    /// heartbeats); past [`WRITE_POLL`] it is waited for blocking, which queues this writer
    /// ahead of readers that come later (a stream of overlapping readers cannot starve it, as
    /// they could `try_write` alone).
    async fn write_async(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        let start = std::time::Instant::now();
        for tries in 0.. {
            if let Some(g) = self.try_write() {
                return g;
            }
            if start.elapsed() >= WRITE_POLL {
                break;
            }
            if tries < 8 {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        self.write()
    }
}

/// How long [`Shared::write_async`] polls before it waits blocking.
const WRITE_POLL: std::time::Duration = std::time::Duration::from_millis(10);

#[derive(Clone, Default)]
struct Applied {
    last_applied: Option<LogId<u64>>,
    last_membership: Membership,
}

#[derive(Serialize)]
struct PayloadRef<'a> {
    last_applied: &'a Option<LogId<u64>>,
    last_membership: &'a Membership,
    registry: &'a Registry,
}

/// A snapshot's data, with the registry in the current layout or (`R`) an older one.
#[derive(Serialize, Deserialize)]
struct PayloadOf<R> {
    last_applied: Option<LogId<u64>>,
    last_membership: Membership,
    registry: R,
}

type Payload = PayloadOf<Registry>;

/// [`PayloadOf`] for each registry layout (the snapshots of bincode builds).
struct PayloadLayout;

impl legacy::SnapshotLayout for PayloadLayout {
    type With<R: Serialize + serde::de::DeserializeOwned> = PayloadOf<R>;
}

/// Decodes a snapshot's data: the current format, or one of the bincode builds (format 2, or
/// format 1 in the layouts before API-level objects, client sessions or scope versions).
/// Equal resource trees are shared again, as the log's replay would have them.
fn decode_payload(data: &[u8]) -> Result<Payload, codec::DecodeError> {
    let mut p: Payload = match codec::version_of(data)? {
        codec::SNAPSHOT_FORMAT_VERSION => codec::decode_as(data, codec::SNAPSHOT_FORMAT_VERSION)?,
        _ => legacy::decode_snapshot::<PayloadLayout, Payload>(data)?,
    };
    p.registry.share_trees();
    Ok(p)
}

/// The metadata of the snapshot in the snapshot file. Only this stays in memory: the data is
/// read from the file when openraft asks for the current snapshot (to send it to a follower),
/// so a large registry's snapshot is not held for the node's life beside the registry.
type StoredMeta = SnapshotMeta<u64, BasicNode>;

/// A snapshot's data: its last applied log id, membership and registry, encoded.
pub fn encode_snapshot_data(
    last_applied: &Option<LogId<u64>>,
    last_membership: &Membership,
    registry: &Registry,
) -> Vec<u8> {
    codec::encode_as(
        &PayloadRef {
            last_applied,
            last_membership,
            registry,
        },
        codec::SNAPSHOT_FORMAT_VERSION,
    )
}

pub use snapshot_file::{decode_file, encode_file};

/// Decodes a snapshot's data (also in the layout of older builds): its last applied log id and
/// registry.
pub fn decode_snapshot_data(
    data: &[u8],
) -> Result<(Option<LogId<u64>>, Registry), codec::DecodeError> {
    decode_payload(data).map(|p| (p.last_applied, p.registry))
}

/// A snapshot file that could not be written (told apart from data that does not decode).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct WriteFailed(io::Error);

/// An apply batch this long is logged at info (a log replayed at start, a large import).
const SLOW_APPLY: std::time::Duration = std::time::Duration::from_millis(100);

fn log_slow_apply(entries: usize, last_index: u64, took: std::time::Duration, hook_ms: u64) {
    if took >= SLOW_APPLY {
        tracing::info!(
            entries,
            last_index,
            ms = took.as_millis() as u64,
            hook_ms,
            "applied a large batch"
        );
    }
}

/// The state machine given to openraft.
pub struct StateMachineStore {
    shared: Arc<Shared>,
    applied: Arc<Mutex<Applied>>,
    on_applied: Arc<Mutex<OnApplied>>,
    snapshot_path: PathBuf,
    current: Arc<Mutex<Option<StoredMeta>>>,
    /// Held while the snapshot file is replaced.
    file_lock: Arc<Mutex<()>>,
    seq: Arc<AtomicU64>,
    /// The log applied since the last snapshot (which decides when the next is due).
    growth: Arc<LogGrowth>,
    /// The data size of the snapshot read at open (0: none), the growth's first baseline.
    snapshot_bytes: u64,
    /// Called on the encoding thread once the registry's copy is taken (tests hold an encode
    /// there to apply entries meanwhile).
    #[cfg(test)]
    encode_hook: Option<Arc<dyn Fn() + Send + Sync>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl StateMachineStore {
    /// Opens the state machine in `dir`: loads the last snapshot (if any) into `shared`, and
    /// calls `on_applied` once with the recovered registry and no commands.
    pub(crate) fn open(
        dir: &Path,
        shared: Arc<Shared>,
        mut on_applied: OnApplied,
    ) -> io::Result<StateMachineStore> {
        super::startup::private_dir(dir)?;
        let snapshot_path = dir.join(super::startup::SNAPSHOT_FILE);
        remove_temp_files(dir);
        let mut applied = Applied::default();
        let mut current = None;
        let mut snapshot_bytes = 0;
        let t_read = std::time::Instant::now();
        match read_file(&snapshot_path) {
            Ok((meta, data)) => {
                // Written 0600 by this build; a file of an older build is tightened.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&snapshot_path, std::fs::Permissions::from_mode(0o600))?;
                let read_ms = t_read.elapsed().as_millis() as u64;
                let t_decode = std::time::Instant::now();
                let payload = decode_payload(&data)
                    .map_err(|e| invalid(format!("{}: {e}", snapshot_path.display())))?;
                tracing::info!(
                    snapshot = %meta,
                    bytes = data.len(),
                    read_ms,
                    decode_ms = t_decode.elapsed().as_millis() as u64,
                    "startup: snapshot read and decoded"
                );
                snapshot_bytes = data.len() as u64;
                drop(data);
                applied.last_applied = payload.last_applied;
                applied.last_membership = payload.last_membership;
                *shared.write() = payload.registry;
                current = Some(meta);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let index = applied.last_applied.map(|l| l.index).unwrap_or(0);
        let t_hook = std::time::Instant::now();
        on_applied(&shared.read(), &[]);
        tracing::info!(
            index,
            ms = t_hook.elapsed().as_millis() as u64,
            "startup: recovered registry handed to the node (tables compiled)"
        );
        shared.applied.send_replace(index);
        Ok(StateMachineStore {
            shared,
            applied: Arc::new(Mutex::new(applied)),
            on_applied: Arc::new(Mutex::new(on_applied)),
            snapshot_path,
            current: Arc::new(Mutex::new(current)),
            file_lock: Arc::new(Mutex::new(())),
            seq: Arc::new(AtomicU64::new(0)),
            growth: LogGrowth::new(0, 0),
            snapshot_bytes,
            #[cfg(test)]
            encode_hook: None,
        })
    }

    /// Has this state machine tell `growth` (which the log store records appended entries
    /// into) what it applied and when a snapshot is taken.
    pub(crate) fn with_growth(mut self, growth: Arc<LogGrowth>) -> StateMachineStore {
        // The snapshot read at open is the last one: the next is due after half its size,
        // not after the floor (a restart must not rebuild a large snapshot every few MiB).
        let index = lock(&self.applied).last_applied.map_or(0, |l| l.index);
        growth.snapshot_taken(self.snapshot_bytes, index);
        self.growth = growth;
        self
    }

    /// A temp file of this folder's snapshots (removed at open if left).
    fn temp_path(&self, what: &str) -> PathBuf {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.snapshot_path.with_file_name(format!(
            "{}.{what}-{seq}{TEMP_SUFFIX}",
            super::startup::SNAPSHOT_FILE
        ))
    }

    fn builder(&self) -> StateMachineStore {
        StateMachineStore {
            shared: self.shared.clone(),
            applied: self.applied.clone(),
            on_applied: self.on_applied.clone(),
            snapshot_path: self.snapshot_path.clone(),
            current: self.current.clone(),
            file_lock: self.file_lock.clone(),
            seq: self.seq.clone(),
            growth: self.growth.clone(),
            snapshot_bytes: self.snapshot_bytes,
            #[cfg(test)]
            encode_hook: self.encode_hook.clone(),
        }
    }

    /// Makes the snapshot file written at `tmp` for `meta` the current snapshot, durably,
    /// unless a newer one already is (a snapshot built locally can finish after a newer one
    /// arrived from the leader; then `tmp` is removed). The snapshot file and `current` change
    /// together, one writer at a time.
    async fn commit(&self, tmp: PathBuf, meta: &StoredMeta) -> io::Result<()> {
        let path = self.snapshot_path.clone();
        let current = self.current.clone();
        let meta = meta.clone();
        let file_lock = self.file_lock.clone();
        tokio::task::spawn_blocking(move || {
            let _writer = lock(&file_lock);
            let newer = lock(&current)
                .as_ref()
                .is_some_and(|cur| cur.last_log_id > meta.last_log_id);
            if newer {
                return std::fs::remove_file(&tmp);
            }
            if let Err(e) = snapshot_file::install(&tmp, &path) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            *lock(&current) = Some(meta);
            Ok(())
        })
        .await
        .map_err(|e| io::Error::other(format!("snapshot write task failed: {e}")))?
    }

    /// The current snapshot: its file checked (read through, not into memory) and its data
    /// handed over as a window of the file (none before the first).
    async fn load_current(&self) -> io::Result<Option<Snapshot<TypeConfig>>> {
        let path = self.snapshot_path.clone();
        let current = self.current.clone();
        let file_lock = self.file_lock.clone();
        tokio::task::spawn_blocking(move || {
            // The file and `current` change together under this lock.
            let _writer = lock(&file_lock);
            let Some(meta) = lock(&current).clone() else {
                return Ok(None);
            };
            let (file, file_meta, data) = snapshot_file::check_stream(&path)?;
            if file_meta != meta {
                return Err(invalid(format!(
                    "{}: holds snapshot {file_meta}, expected {meta}",
                    path.display()
                )));
            }
            Ok(Some(Snapshot {
                meta,
                snapshot: Box::new(SnapshotFile::window(file, data)?),
            }))
        })
        .await
        .map_err(|e| io::Error::other(format!("snapshot read task failed: {e}")))?
    }
}

/// The suffix of the snapshot temp files (built or received).
const TEMP_SUFFIX: &str = ".tmp";

/// Removes the snapshot temp files a stopped process left in `dir` (and `snapshot.tmp` of
/// builds before numbered temp files).
fn remove_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with(super::startup::SNAPSHOT_FILE) || name == "snapshot.tmp";
        if ours && name.ends_with(TEMP_SUFFIX) {
            if let Err(err) = std::fs::remove_file(e.path()) {
                tracing::warn!(file = %e.path().display(), error = %err, "snapshot temp file left");
            }
        }
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    /// Copies the registry under its read lock (a pointer per collection: see [`Registry`]),
    /// releases the lock, and encodes the copy straight into a temp file (on a blocking
    /// thread), then makes it the current snapshot. Applies made while it encodes change the
    /// live registry (copying what they change), never the copy, so the snapshot is exactly
    /// the registry at its `last_applied`, and an apply never waits for the encode or its
    /// fsync. openraft gets a window over the file.
    async fn build_snapshot(&mut self) -> SResult<Snapshot<TypeConfig>> {
        let t = std::time::Instant::now();
        let tmp = self.temp_path("build");
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let shared = self.shared.clone();
        let applied = self.applied.clone();
        let path = tmp.clone();
        #[cfg(test)]
        let hook = self.encode_hook.clone();
        let built = tokio::task::spawn_blocking(move || {
            let t_view = std::time::Instant::now();
            let (view, applied) = {
                let reg = shared.read();
                // Applied and the registry change together under the registry's lock.
                (reg.clone(), lock(&applied).clone())
            };
            let view_us = t_view.elapsed().as_micros() as u64;
            #[cfg(test)]
            if let Some(hook) = hook {
                hook();
            }
            let snapshot_id = match applied.last_applied {
                Some(l) => format!("{}-{}-{seq}", l.leader_id, l.index),
                None => format!("none-{seq}"),
            };
            let meta = SnapshotMeta {
                last_log_id: applied.last_applied,
                last_membership: applied.last_membership,
                snapshot_id,
            };
            let payload = PayloadRef {
                last_applied: &meta.last_log_id,
                last_membership: &meta.last_membership,
                registry: &view,
            };
            let written = snapshot_file::write_streamed(&path, &meta, |mut w| {
                codec::encode_into(&mut w, &payload, codec::SNAPSHOT_FORMAT_VERSION)
            });
            // Dropped here, off the control thread: the old values of what applies changed
            // meanwhile (the copy was their last holder) are freed with it.
            drop(view);
            match written {
                Ok((file, data)) => Ok((meta, file, data, view_us)),
                Err(e) => {
                    let _ = std::fs::remove_file(&path);
                    Err(e)
                }
            }
        })
        .await
        .map_err(|e| io::Error::other(format!("snapshot build task failed: {e}")))
        .and_then(|r| r);
        let (meta, file, data, view_us) =
            built.map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        let sig = || Some(meta.signature());
        self.commit(tmp, &meta)
            .await
            .map_err(|e| StorageIOError::write_snapshot(sig(), &e))?;
        let bytes = data.end - data.start;
        self.growth
            .snapshot_taken(bytes, meta.last_log_id.map(|l| l.index).unwrap_or(0));
        tracing::info!(
            snapshot = %meta,
            bytes,
            view_us,
            ms = t.elapsed().as_millis() as u64,
            "snapshot built"
        );
        let snapshot = SnapshotFile::window(file, data)
            .map_err(|e| StorageIOError::read_snapshot(sig(), &e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(snapshot),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(&mut self) -> SResult<(Option<LogId<u64>>, Membership)> {
        let a = lock(&self.applied);
        Ok((a.last_applied, a.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> SResult<Vec<ApplyResult>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + openraft::OptionalSend,
        I::IntoIter: openraft::OptionalSend,
    {
        let mut results = Vec::new();
        let mut changed: Vec<Command> = Vec::new();
        let last_index;
        let t_apply = std::time::Instant::now();
        let hook_ms;
        {
            let mut reg = self.shared.write_async().await;
            let mut applied = lock(&self.applied);
            for entry in entries {
                applied.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => results.push(Ok(())),
                    EntryPayload::Normal(cmd) => {
                        let r = reg.apply(&cmd);
                        if r.is_ok() {
                            changed.push(cmd);
                        }
                        results.push(r);
                    }
                    EntryPayload::Membership(m) => {
                        applied.last_membership = StoredMembership::new(Some(entry.log_id), m);
                        results.push(Ok(()));
                    }
                }
            }
            last_index = applied.last_applied.map(|l| l.index).unwrap_or(0);
            drop(applied);
            let t_hook = std::time::Instant::now();
            // Not for a batch that changed nothing (blank entries of a new leader, membership
            // entries, refused commands): the hook takes no commands to mean a recovery or an
            // installed snapshot, and rebuilds everything from the registry.
            if !changed.is_empty() {
                (lock(&self.on_applied))(&reg, &changed);
            }
            hook_ms = t_hook.elapsed().as_millis() as u64;
            // Published while the registry is still locked, so a reader holding the read
            // guard sees the index that matches the registry it reads.
            self.shared.applied.send_replace(last_index);
        }
        self.growth.applied(last_index);
        log_slow_apply(results.len(), last_index, t_apply.elapsed(), hook_ms);
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.builder()
    }

    async fn begin_receiving_snapshot(&mut self) -> SResult<Box<SnapshotFile>> {
        let path = self.temp_path("receive");
        let file = tokio::task::spawn_blocking(move || SnapshotFile::receive(path))
            .await
            .map_err(|e| io::Error::other(format!("snapshot receive task failed: {e}")))
            .and_then(|r| r)
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        Ok(Box::new(file))
    }

    /// Reads the received data once (from its temp file, or the window of another snapshot
    /// file), decodes it on a blocking thread, writes it as this node's snapshot file, and
    /// swaps the registry.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        mut snapshot: Box<SnapshotFile>,
    ) -> SResult<()> {
        let t = std::time::Instant::now();
        let sig = || Some(meta.signature());
        let data = snapshot
            .read_all()
            .await
            .map_err(|e| StorageIOError::read_snapshot(sig(), &e))?;
        // A received temp file is removed here.
        drop(snapshot);
        let tmp = self.temp_path("install");
        let for_task = meta.clone();
        let decoded = tokio::task::spawn_blocking(move || {
            let payload = decode_payload(&data).map_err(|e| invalid(e.to_string()))?;
            if payload.last_applied != for_task.last_log_id {
                return Err(invalid(format!(
                    "snapshot data is at {:?} but its meta says {:?}",
                    payload.last_applied, for_task.last_log_id
                )));
            }
            snapshot_file::write_bytes(&tmp, &for_task, &data)
                .inspect_err(|_| {
                    let _ = std::fs::remove_file(&tmp);
                })
                .map_err(|e| io::Error::other(WriteFailed(e)))?;
            Ok((payload, tmp, data.len() as u64))
        })
        .await
        .map_err(|e| io::Error::other(format!("snapshot install task failed: {e}")))
        .and_then(|r| r);
        let (payload, tmp, bytes) = decoded.map_err(|e| match e.get_ref() {
            Some(w) if w.is::<WriteFailed>() => StorageIOError::write_snapshot(sig(), &e),
            _ => StorageIOError::read_snapshot(sig(), AnyError::new(&e)),
        })?;
        self.commit(tmp, meta)
            .await
            .map_err(|e| StorageIOError::write_snapshot(sig(), &e))?;
        let index = meta.last_log_id.map(|l| l.index).unwrap_or(0);
        self.growth.snapshot_taken(bytes, index);
        {
            let mut reg = self.shared.write_async().await;
            *reg = payload.registry;
            {
                let mut applied = lock(&self.applied);
                applied.last_applied = meta.last_log_id;
                applied.last_membership = meta.last_membership.clone();
            }
            (lock(&self.on_applied))(&reg, &[]);
            self.shared.applied.send_replace(index);
        }
        tracing::info!(
            snapshot = %meta,
            bytes,
            ms = t.elapsed().as_millis() as u64,
            "snapshot installed"
        );
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> SResult<Option<Snapshot<TypeConfig>>> {
        self.load_current().await.map_err(|e| {
            let sig = lock(&self.current).as_ref().map(|m| m.signature());
            StorageIOError::read_snapshot(sig, &e).into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry with one API that has a deployment, a model, a request validator and a
    /// gateway response, written with guarded, identified commands.
    fn sample_registry() -> Registry {
        use tollgate_proto::model::{GatewayResponse, Method, Model, RequestValidator};
        use tollgate_proto::{Command, GatewayResponseType, Scope};
        let mut r = Registry::default();
        let create = Command::CreateRestApi {
            id: "a1".into(),
            root_resource_id: "r1".into(),
            settings: Default::default(),
            created_date: 1,
            clone_from: None,
        };
        r.apply(&Command::Once {
            request: tollgate_proto::RequestId { client: 7, part: 0 },
            command: Box::new(Command::IfUnchanged {
                guards: vec![(Scope::Api("a1".into()), 0)],
                command: Box::new(create),
            }),
        })
        .unwrap();
        let api_id = || "a1".to_string();
        for cmd in [
            Command::CreateModel {
                api_id: api_id(),
                model: Model {
                    id: "m1".into(),
                    name: "Pet".into(),
                    schema: Some("{\"type\":\"object\"}".into()),
                    content_type: "application/json".into(),
                    ..Default::default()
                },
            },
            Command::CreateRequestValidator {
                api_id: api_id(),
                validator: RequestValidator {
                    id: "v1".into(),
                    name: "all".into(),
                    validate_request_body: true,
                    validate_request_parameters: true,
                },
            },
            Command::PutGatewayResponse {
                api_id: api_id(),
                response: GatewayResponse {
                    response_type: GatewayResponseType::Default4xx,
                    status_code: Some("418".into()),
                    response_parameters: Default::default(),
                    response_templates: Default::default(),
                },
            },
            Command::PutMethod {
                api_id: api_id(),
                resource_id: "r1".into(),
                method: Method {
                    http_method: "GET".into(),
                    authorization_type: tollgate_proto::model::AuthorizationType::None,
                    ..Default::default()
                },
            },
            Command::CreateDeployment {
                api_id: api_id(),
                deployment_id: "d1".into(),
                description: None,
                created_date: 2,
                stage: None,
            },
        ] {
            r.apply(&cmd).unwrap();
        }
        r
    }

    fn create_cmd(n: u64) -> Command {
        Command::CreateRestApi {
            id: format!("n{n}"),
            root_resource_id: format!("r{n}"),
            settings: Default::default(),
            created_date: 1,
            clone_from: None,
        }
    }

    fn create_api(index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(create_cmd(index)),
        }
    }

    /// An apply completes while a snapshot is being encoded (the encode is held after its copy
    /// of the registry is taken, until the apply finished), and the snapshot is the registry
    /// at its index: not the applies made meanwhile, which the live registry holds.
    #[tokio::test]
    async fn applies_do_not_wait_for_a_snapshot_being_encoded() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Shared::new();
        let mut sm =
            StateMachineStore::open(dir.path(), shared.clone(), Box::new(|_, _| {})).unwrap();
        let growth = LogGrowth::new(0, 1);
        sm = sm.with_growth(growth.clone());
        *shared.write() = sample_registry();
        sm.apply([create_api(1), create_api(2)]).await.unwrap();
        let at_index = shared.read().clone();
        // The encode waits for `go` once it has its copy, and says so on `copied`.
        let (copied_tx, copied_rx) = tokio::sync::oneshot::channel();
        let copied_tx = Mutex::new(Some(copied_tx));
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let go_rx = Mutex::new(go_rx);
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let released_by_hook = released.clone();
        let mut builder = sm.builder();
        builder.encode_hook = Some(Arc::new(move || {
            if let Some(tx) = lock(&copied_tx).take() {
                let _ = tx.send(());
            }
            let _ = lock(&go_rx).recv_timeout(std::time::Duration::from_secs(20));
            released_by_hook.store(true, Ordering::SeqCst);
        }));
        let build = tokio::spawn(async move { builder.build_snapshot().await });
        copied_rx.await.unwrap();
        // Applied while the encode is held: this would wait for it if the encode held the
        // registry's lock.
        let applied = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            sm.apply([create_api(3), create_api(4)]),
        )
        .await
        .expect("an apply waited for the snapshot being encoded")
        .unwrap();
        assert_eq!(applied.len(), 2);
        assert!(
            !released.load(Ordering::SeqCst),
            "the apply finished only once the encode went on"
        );
        go_tx.send(()).unwrap();
        let mut built = build.await.unwrap().unwrap();
        assert_eq!(built.meta.last_log_id.map(|l| l.index), Some(2));
        let data = built.snapshot.read_all().await.unwrap();
        let (last, registry) = decode_snapshot_data(&data).unwrap();
        assert_eq!(last.map(|l| l.index), Some(2));
        assert_eq!(registry, at_index);
        assert!(registry.apis.contains_key("n2") && !registry.apis.contains_key("n3"));
        // The same bytes as the registry at index 2 encoded whole.
        assert_eq!(
            data,
            encode_snapshot_data(&last, &Membership::default(), &at_index)
        );
        // The live registry holds the applies made meanwhile; the growth counts them.
        assert!(shared.read().apis.contains_key("n4"));
        assert_eq!(growth.seen().1, 2, "entries 3 and 4 are past the snapshot");
    }

    /// A registry's clone shares its collections until one is changed: a change then copies
    /// the collection it changes (and, for an API, the map of pointers and that API), and the
    /// clone keeps what it held.
    #[test]
    fn a_registry_copy_shares_until_changed() {
        use tollgate_proto::shared::Shared as Cow;
        let mut live = sample_registry();
        live.apply(&create_cmd(5)).unwrap();
        let copy = live.clone();
        assert!(Cow::ptr_eq(&live.apis, &copy.apis));
        assert!(Cow::ptr_eq(&live.api_keys, &copy.api_keys));
        live.apply(&Command::DeleteRestApi {
            id: "n5".into(),
            referential: false,
        })
        .unwrap();
        assert!(!Cow::ptr_eq(&live.apis, &copy.apis));
        assert!(
            Cow::ptr_eq(&live.apis["a1"], &copy.apis["a1"]),
            "a1 is still shared"
        );
        assert!(Cow::ptr_eq(&live.api_keys, &copy.api_keys));
        assert!(copy.apis.contains_key("n5") && !live.apis.contains_key("n5"));
    }

    /// Snapshots of bincode builds (format 2, and format 1 before API-level objects, before
    /// client sessions, before scope versions) still load, with what their layout held; a
    /// current one loads as it was written.
    #[test]
    fn snapshots_of_older_builds_still_decode() {
        use tollgate_proto::legacy::{self, bincode_v1 as v1};
        use tollgate_proto::Scope;
        let current = sample_registry();
        let api = &current.apis["a1"];
        assert_eq!(api.deployments["d1"].models.len(), 1);
        // What the older layouts hold of it: no objects.
        let mut upgraded = current.clone();
        for a in upgraded.apis.values_mut() {
            a.models.clear();
            a.request_validators.clear();
            a.gateway_responses.clear();
            for d in a.deployments.values_mut() {
                d.models.clear();
                d.request_validators.clear();
                d.gateway_responses.clear();
            }
        }
        let last_applied = Some(LogId::new(openraft::CommittedLeaderId::new(2, 1), 9));
        // The payload of a bincode build of `version` with the registry in layout `R` (the
        // current registry converted into it by name, dropping what it lacks).
        fn older<R: Serialize + serde::de::DeserializeOwned>(
            last_applied: Option<LogId<u64>>,
            registry: &Registry,
            version: u8,
        ) -> Vec<u8> {
            let payload = PayloadOf {
                last_applied,
                last_membership: Membership::default(),
                registry: legacy::upgrade::<_, R>(registry).unwrap(),
            };
            legacy::encode_bincode(&payload, version)
        }

        let bytes = older::<v1::RegistryBeforeVersions>(last_applied, &current, 1);
        let p = decode_payload(&bytes).unwrap();
        assert_eq!(p.last_applied, last_applied);
        assert_eq!(p.registry.apis, upgraded.apis);
        assert_eq!(p.registry.version(&Scope::Api("a1".into())), 0);
        assert!(!p.registry.versioned);

        // A snapshot of a build before client sessions: versions kept, no request remembered.
        let bytes = older::<v1::RegistryBeforeSessions>(last_applied, &current, 1);
        let p = decode_payload(&bytes).unwrap();
        assert_eq!(p.registry.version(&Scope::Api("a1".into())), 6);
        assert!(p.registry.versioned && p.registry.sessions.is_empty());

        // A snapshot of the last build before API-level objects: everything but them.
        let bytes = older::<v1::RegistryBeforeObjects>(last_applied, &current, 1);
        let p = decode_payload(&bytes).unwrap();
        assert_eq!(p.registry, upgraded);
        assert_eq!(p.registry.sessions.len(), 1);

        // The last bincode format: everything.
        let bytes = older::<v1::Registry>(last_applied, &current, 2);
        let p = decode_payload(&bytes).unwrap();
        assert_eq!(p.registry, current);
        assert!(decode_payload(&bytes[..bytes.len() - 1]).is_err());

        // The current format, with its objects.
        let bytes = codec::encode_as(
            &PayloadRef {
                last_applied: &last_applied,
                last_membership: &Membership::default(),
                registry: &current,
            },
            codec::SNAPSHOT_FORMAT_VERSION,
        );
        let p = decode_payload(&bytes).unwrap();
        assert_eq!(p.registry, current);
        assert_eq!(p.registry.version(&Scope::Api("a1".into())), 6);
        assert_eq!(p.registry.sessions.len(), 1);
        assert!(decode_payload(&bytes[..bytes.len() - 1]).is_err());
        // A format this build does not know is refused.
        let mut unknown = bytes;
        unknown[0] = 9;
        assert!(decode_payload(&unknown).is_err());
    }

    /// The current snapshot is read from its file on each request (only its meta is kept), and
    /// a node reopened on the folder loads the registry and serves the same snapshot.
    #[tokio::test]
    async fn the_current_snapshot_is_read_from_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Shared::new();
        let mut sm =
            StateMachineStore::open(dir.path(), shared.clone(), Box::new(|_, _| {})).unwrap();
        assert!(sm.get_current_snapshot().await.unwrap().is_none());
        *shared.write() = sample_registry();
        let mut built = sm.builder().build_snapshot().await.unwrap();
        let data = built.snapshot.read_all().await.unwrap();
        let (last, registry) = decode_snapshot_data(&data).unwrap();
        assert_eq!((last, &registry), (None, &sample_registry()));
        let mut cur = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(cur.meta, built.meta);
        assert_eq!(cur.snapshot.read_all().await.unwrap(), data);
        // Encoded straight into the file: the bytes of the encoding in memory.
        assert_eq!(
            data,
            encode_snapshot_data(&None, &Membership::default(), &sample_registry())
        );
        // Reopened: the registry comes back and the same snapshot is served from the file.
        let shared2 = Shared::new();
        let mut sm2 =
            StateMachineStore::open(dir.path(), shared2.clone(), Box::new(|_, _| {})).unwrap();
        assert_eq!(*shared2.read(), sample_registry());
        let mut cur = sm2.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(cur.meta, built.meta);
        assert_eq!(cur.snapshot.read_all().await.unwrap(), data);
        // The snapshot read at open sets when the log's growth asks for the next one.
        let growth = LogGrowth::new(0, 1);
        drop(sm2.with_growth(growth.clone()));
        assert_eq!(growth.threshold(), (data.len() as u64 / 2).max(1));
        // Not a copy in memory: a damaged file is found on the next request.
        let path = dir.path().join(super::super::startup::SNAPSHOT_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(sm.get_current_snapshot().await.is_err());
    }

    /// The hook gets no commands only for the recovery (and snapshot installs): a batch of
    /// blank and membership entries, or of refused commands, does not call it (it would
    /// rebuild every table and count this node's reports of other groups as committed).
    #[tokio::test]
    async fn a_batch_that_changed_nothing_does_not_call_the_hook() {
        use openraft::{CommittedLeaderId, EntryPayload, LogId};
        use std::sync::atomic::AtomicUsize;
        let dir = tempfile::tempdir().unwrap();
        let calls = Arc::new(Mutex::new(Vec::<usize>::new()));
        let seen = calls.clone();
        let mut sm = StateMachineStore::open(
            dir.path(),
            Shared::new(),
            Box::new(move |_, cmds| lock(&seen).push(cmds.len())),
        )
        .unwrap();
        assert_eq!(*lock(&calls), [0], "the recovery");
        let index = AtomicUsize::new(0);
        let entry = |payload| Entry::<TypeConfig> {
            log_id: LogId::new(
                CommittedLeaderId::new(1, 1),
                index.fetch_add(1, Ordering::Relaxed) as u64 + 1,
            ),
            payload,
        };
        let create = create_cmd(1);
        let results = sm
            .apply(vec![
                entry(EntryPayload::Blank),
                entry(EntryPayload::Membership(openraft::Membership::new(
                    vec![std::collections::BTreeSet::from([1u64])],
                    None,
                ))),
            ])
            .await
            .unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(*lock(&calls), [0]);
        sm.apply(vec![entry(EntryPayload::Normal(create.clone()))])
            .await
            .unwrap();
        assert_eq!(*lock(&calls), [0, 1]);
        // The same id again: refused, so nothing changed.
        let results = sm
            .apply(vec![entry(EntryPayload::Normal(create))])
            .await
            .unwrap();
        assert!(results[0].is_err());
        assert_eq!(*lock(&calls), [0, 1]);
        assert_eq!(
            *sm.shared.applied.borrow(),
            4,
            "the index moves all the same"
        );
    }

    /// A snapshot received in chunks is written into a temp file (removed once installed) and
    /// installs the registry; temp files a stopped process left are removed at open; data that
    /// does not decode installs nothing.
    #[tokio::test]
    async fn a_received_snapshot_goes_through_a_temp_file() {
        use tokio::io::{AsyncSeekExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let shared = Shared::new();
        let sm = StateMachineStore::open(dir.path(), shared.clone(), Box::new(|_, _| {})).unwrap();
        *shared.write() = sample_registry();
        let mut built = sm.builder().build_snapshot().await.unwrap();
        let data = built.snapshot.read_all().await.unwrap();

        let fdir = tempfile::tempdir().unwrap();
        let left = fdir.path().join("snapshot.bin.build-7.tmp");
        std::fs::write(&left, b"left by a stopped process").unwrap();
        let fshared = Shared::new();
        let mut f =
            StateMachineStore::open(fdir.path(), fshared.clone(), Box::new(|_, _| {})).unwrap();
        assert!(!left.exists());
        let temps = || {
            std::fs::read_dir(fdir.path())
                .unwrap()
                .filter(|e| {
                    let name = e.as_ref().unwrap().file_name();
                    name.to_string_lossy().ends_with(".tmp")
                })
                .count()
        };
        // Chunks as openraft writes them: each at its offset, the last one sent twice.
        let mut recv = f.begin_receiving_snapshot().await.unwrap();
        let chunks: Vec<&[u8]> = data.chunks(100).collect();
        for (i, chunk) in chunks
            .iter()
            .enumerate()
            .chain([(chunks.len() - 1, &chunks[chunks.len() - 1])])
        {
            recv.seek(std::io::SeekFrom::Start(i as u64 * 100))
                .await
                .unwrap();
            recv.write_all(chunk).await.unwrap();
        }
        recv.shutdown().await.unwrap();
        assert_eq!(temps(), 1);
        f.install_snapshot(&built.meta, recv).await.unwrap();
        assert_eq!(temps(), 0);
        assert_eq!(*fshared.read(), sample_registry());
        let mut cur = f.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(cur.meta, built.meta);
        assert_eq!(cur.snapshot.read_all().await.unwrap(), data);

        // Damaged data: refused, the installed snapshot stays.
        let mut recv = f.begin_receiving_snapshot().await.unwrap();
        recv.write_all(&data[..data.len() - 1]).await.unwrap();
        let mut later = built.meta.clone();
        later.snapshot_id = "later".into();
        assert!(f.install_snapshot(&later, recv).await.is_err());
        assert_eq!(temps(), 0);
        let cur = f.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(cur.meta, built.meta);
    }
}
