//! A single-node replicated log: commands are made durable in a [`Wal`], then applied to the
//! [`Registry`] by the same deterministic state machine a Raft log will drive.
//!
//! One writer thread owns the log. Proposals queue to it; it takes every proposal waiting,
//! writes them with one fsync (group commit), applies them in order, tells the subscriber what
//! changed, and only then answers each proposer. A snapshot of the registry is written every
//! [`SNAPSHOT_EVERY`] entries and the log emptied.

use crate::wal::{write_atomic, Wal};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use tokio::sync::oneshot;
use tollgate_proto::{codec, legacy, ApplyResult, Command, Registry};

/// Entries between snapshots.
pub const SNAPSHOT_EVERY: u64 = 1000;

/// Called on the writer thread after a batch has been applied, with the registry as it now is
/// and the commands that were applied successfully.
pub type OnApplied = Box<dyn FnMut(&Registry, &[Command]) + Send>;

/// Why a proposal got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// The log could not be written; the command was not applied.
    #[error("the log could not be written: {0}")]
    Io(String),
    /// The writer has stopped (the node is shutting down or the log failed earlier).
    #[error("the log writer has stopped")]
    Stopped,
    /// (Cluster) No leader could be reached before the deadline; the command was not applied.
    #[error("no leader could be reached")]
    NoLeader,
    /// (Cluster) The deadline passed while waiting for the command to commit; it may or may
    /// not have been applied.
    #[error("timed out waiting for the command to commit")]
    Timeout,
    /// (Cluster) The command reached the leader but its answer was lost; it may or may not
    /// have been applied.
    #[error("the outcome is unknown: {0}")]
    Indeterminate(String),
}

#[derive(Serialize, Deserialize)]
struct LogEntry {
    index: u64,
    command: Command,
}

/// The snapshot file, with the registry in the current layout or (`R`) an older one.
#[derive(Serialize, Deserialize)]
struct Snapshot<R = Registry> {
    applied: u64,
    registry: R,
}

/// [`Snapshot`] for each registry layout (the snapshot files of bincode builds).
struct SnapshotLayout;

impl legacy::SnapshotLayout for SnapshotLayout {
    type With<R: Serialize + serde::de::DeserializeOwned> = Snapshot<R>;
}

/// Decodes a snapshot file: the current format, or one of the bincode builds (format 2, or
/// format 1 in the layouts before API-level objects, client sessions or scope versions).
fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, codec::DecodeError> {
    match codec::version_of(bytes)? {
        codec::SNAPSHOT_FORMAT_VERSION => codec::decode_as(bytes, codec::SNAPSHOT_FORMAT_VERSION),
        _ => legacy::decode_snapshot::<SnapshotLayout, Snapshot>(bytes),
    }
}

/// Decodes a log entry: the current format, or bincode of format 1.
fn decode_entry(bytes: &[u8]) -> Result<LogEntry, codec::DecodeError> {
    match codec::version_of(bytes)? {
        legacy::BINCODE_FORMAT_VERSION => {
            legacy::decode_upgraded::<crate::legacy::LocalEntryV1, _>(
                bytes,
                legacy::BINCODE_FORMAT_VERSION,
            )
        }
        _ => codec::decode(bytes),
    }
}

struct Proposal {
    command: Command,
    reply: oneshot::Sender<Result<ApplyResult, ProposeError>>,
}

/// A handle to the single-node log. Cloning it shares the same log.
#[derive(Clone)]
pub struct LocalNode {
    tx: mpsc::Sender<Proposal>,
    registry: Arc<RwLock<Registry>>,
}

struct Writer {
    wal: Wal,
    snapshot_path: PathBuf,
    applied: u64,
    since_snapshot: u64,
    registry: Arc<RwLock<Registry>>,
    on_applied: OnApplied,
}

impl LocalNode {
    /// Opens the log in `dir` (creating it), recovers the registry from the snapshot and the
    /// log, calls `on_applied` once with the recovered registry, and starts the writer thread.
    pub fn open(dir: &Path, mut on_applied: OnApplied) -> io::Result<LocalNode> {
        std::fs::create_dir_all(dir)?;
        let snapshot_path = dir.join("snapshot.bin");
        let (mut applied, mut registry) = match std::fs::read(&snapshot_path) {
            Ok(bytes) => {
                let snap = decode_snapshot(&bytes).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", snapshot_path.display()),
                    )
                })?;
                (snap.applied, snap.registry)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (0, Registry::default()),
            Err(e) => return Err(e),
        };
        let (wal, raw) = Wal::open(&dir.join("log"))?;
        let mut since_snapshot = 0;
        for bytes in raw {
            let entry = decode_entry(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: entry after index {applied}: {e}", wal.path().display()),
                )
            })?;
            if entry.index <= applied {
                continue; // already in the snapshot
            }
            // A refused command was refused the first time too; the outcome is deterministic.
            let _ = registry.apply(&entry.command);
            applied = entry.index;
            since_snapshot += 1;
        }
        tracing::info!(applied, dir = %dir.display(), "state recovered");
        on_applied(&registry, &[]);
        let registry = Arc::new(RwLock::new(registry));
        let (tx, rx) = mpsc::channel();
        let mut writer = Writer {
            wal,
            snapshot_path,
            applied,
            since_snapshot,
            registry: registry.clone(),
            on_applied,
        };
        std::thread::Builder::new()
            .name("tollgate-log".into())
            .spawn(move || writer.run(rx))?;
        Ok(LocalNode { tx, registry })
    }

    /// Makes `command` durable, applies it, and returns the state machine's verdict.
    pub async fn propose(&self, command: Command) -> Result<ApplyResult, ProposeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Proposal { command, reply })
            .map_err(|_| ProposeError::Stopped)?;
        rx.await.map_err(|_| ProposeError::Stopped)?
    }

    /// Reads the registry as applied so far. Hold the guard briefly and never across an await.
    pub fn read(&self) -> RwLockReadGuard<'_, Registry> {
        // A panic while holding the lock cannot leave the registry half-changed: `apply` either
        // finishes or returns before mutating; so a poisoned lock still guards valid state.
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }
}

impl Writer {
    fn run(&mut self, rx: mpsc::Receiver<Proposal>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            let payloads: Vec<Vec<u8>> = batch
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    codec::encode(&LogEntry {
                        index: self.applied + 1 + i as u64,
                        command: p.command.clone(),
                    })
                })
                .collect();
            if let Err(e) = self.wal.append_durable(&payloads) {
                tracing::error!(error = %e, "log append failed; refusing further writes");
                for p in batch {
                    let _ = p.reply.send(Err(ProposeError::Io(e.to_string())));
                }
                return;
            }
            let mut results = Vec::with_capacity(batch.len());
            let mut changed = Vec::new();
            {
                let registry = self.registry.clone();
                let mut reg = registry.write().unwrap_or_else(|p| p.into_inner());
                for p in &batch {
                    let r = reg.apply(&p.command);
                    if r.is_ok() {
                        changed.push(p.command.clone());
                    }
                    results.push(r);
                }
                self.applied += batch.len() as u64;
                self.since_snapshot += batch.len() as u64;
                // Not for a batch of refused commands: the hook takes no commands to mean a
                // recovery, and rebuilds everything.
                if !changed.is_empty() {
                    (self.on_applied)(&reg, &changed);
                }
                if self.since_snapshot >= SNAPSHOT_EVERY {
                    if let Err(e) = self.snapshot(&reg) {
                        tracing::warn!(error = %e, "snapshot failed; the log keeps growing");
                    }
                }
            }
            for (p, r) in batch.into_iter().zip(results) {
                let _ = p.reply.send(Ok(r));
            }
        }
    }

    fn snapshot(&mut self, reg: &Registry) -> io::Result<()> {
        let bytes = codec::encode_as(
            &Snapshot {
                applied: self.applied,
                registry: reg.clone(),
            },
            codec::SNAPSHOT_FORMAT_VERSION,
        );
        write_atomic(&self.snapshot_path, &bytes)?;
        self.wal.reset()?;
        self.since_snapshot = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tollgate_proto::model::RestApiSettings;
    use tollgate_proto::ApplyError;

    fn create(id: &str) -> Command {
        Command::CreateRestApi {
            id: id.into(),
            root_resource_id: format!("{id}root"),
            settings: RestApiSettings {
                name: id.into(),
                ..Default::default()
            },
            created_date: 0,
            clone_from: None,
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn writes_survive_reopen_and_refusals_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let s2 = seen.clone();
        let empty = Arc::new(AtomicUsize::new(0));
        let e2 = empty.clone();
        let node = LocalNode::open(
            dir.path(),
            Box::new(move |_, cmds| {
                s2.fetch_add(cmds.len(), Ordering::SeqCst);
                if cmds.is_empty() {
                    e2.fetch_add(1, Ordering::SeqCst);
                }
            }),
        )
        .unwrap();
        rt().block_on(async {
            assert!(node.propose(create("a")).await.unwrap().is_ok());
            assert!(node.propose(create("b")).await.unwrap().is_ok());
            assert!(matches!(
                node.propose(create("a")).await.unwrap(),
                Err(ApplyError::Conflict(_))
            ));
        });
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        // Called with no commands for the recovery only, not for the refused one.
        assert_eq!(empty.load(Ordering::SeqCst), 1);
        drop(node);
        let node = LocalNode::open(dir.path(), Box::new(|_, _| {})).unwrap();
        assert_eq!(node.read().apis.len(), 2);
    }

    #[test]
    fn a_snapshot_of_an_older_build_loads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path()).unwrap();
        let mut reg = Registry::default();
        reg.apply(&create("a1")).unwrap();
        use tollgate_proto::legacy::{self, bincode_v1};
        let old = Snapshot {
            applied: 1,
            registry: legacy::upgrade::<_, bincode_v1::RegistryBeforeObjects>(&reg).unwrap(),
        };
        let bytes = legacy::encode_bincode(&old, 1);
        std::fs::write(dir.path().join("snapshot.bin"), bytes).unwrap();
        let node = LocalNode::open(dir.path(), Box::new(|_, _| {})).unwrap();
        assert_eq!(*node.read(), reg);
    }

    #[test]
    fn snapshot_then_more_entries_recover() {
        let dir = tempfile::tempdir().unwrap();
        let node = LocalNode::open(dir.path(), Box::new(|_, _| {})).unwrap();
        rt().block_on(async {
            for i in 0..(SNAPSHOT_EVERY + 5) {
                node.propose(create(&format!("api{i}")))
                    .await
                    .unwrap()
                    .unwrap();
            }
        });
        assert!(dir.path().join("snapshot.bin").exists());
        drop(node);
        let node = LocalNode::open(dir.path(), Box::new(|_, _| {})).unwrap();
        assert_eq!(node.read().apis.len() as u64, SNAPSHOT_EVERY + 5);
    }
}
