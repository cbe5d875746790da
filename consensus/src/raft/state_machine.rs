//! The state machine: applies committed [`Command`]s to the [`Registry`], and builds, stores
//! and installs snapshots of it.
//!
//! The registry lives in memory; what is durable is the snapshot (written with temp file +
//! fsync + rename + directory fsync before openraft may purge the logs it covers) and the log.
//! At startup the registry is rebuilt from the last snapshot and openraft re-applies the
//! committed entries after it. Only the current snapshot's metadata stays in memory: its data
//! is read back from the file when openraft asks for it (to send it to a follower), and a
//! snapshot built or installed here is written and then let go (issue 14: a 10 000-API
//! snapshot was held for the node's life and copied on every request for it).
//!
//! Snapshot data (what travels to other nodes) is `codec::encode` of
//! `{last applied log id, last membership, registry}`. The snapshot file adds a small header:
//! `"TGSNAP01"`, the encoded [`SnapshotMeta`] (length-prefixed), the data (length-prefixed),
//! and a CRC-32 of everything before it.

use super::TypeConfig;
use crate::OnApplied;
use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, StorageError,
    StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;
use tollgate_proto::{codec, legacy, ApplyResult, Command, Registry};

type SResult<T> = Result<T, StorageError<u64>>;
type Membership = StoredMembership<u64, BasicNode>;

const MAGIC: &[u8; 8] = b"TGSNAP01";

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
}

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

/// Decodes a snapshot's data (also in the layout of older builds): its last applied log id and
/// registry.
pub fn decode_snapshot_data(
    data: &[u8],
) -> Result<(Option<LogId<u64>>, Registry), codec::DecodeError> {
    decode_payload(data).map(|p| (p.last_applied, p.registry))
}

/// The snapshot file's bytes for `meta` and `data`.
pub fn encode_file(meta: &SnapshotMeta<u64, BasicNode>, data: &[u8]) -> Vec<u8> {
    let meta = codec::encode(meta);
    let mut out = Vec::with_capacity(8 + 4 + meta.len() + 8 + data.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Writes the snapshot file for `meta` and `data` at `path` (temp file, fsync, rename,
/// directory fsync), the same bytes as [`encode_file`] but written piece by piece with the
/// checksum computed as they go, so the data is never copied into a second buffer.
fn write_file(path: &Path, meta: &SnapshotMeta<u64, BasicNode>, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let meta = codec::encode(meta);
    let tmp = path.with_extension("tmp");
    {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // A temp file left by an older build keeps its mode through `open`: tighten it.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        let mut w = io::BufWriter::with_capacity(1 << 20, f);
        let mut crc = crc32fast::Hasher::new();
        let meta_len = (meta.len() as u32).to_le_bytes();
        let data_len = (data.len() as u64).to_le_bytes();
        for part in [MAGIC.as_slice(), &meta_len, &meta, &data_len, data] {
            crc.update(part);
            w.write_all(part)?;
        }
        w.write_all(&crc.finalize().to_le_bytes())?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads a snapshot file's bytes: checks its checksum and layout, and returns its metadata and
/// data. No length field is trusted before it is checked against the bytes there are.
pub fn decode_file(bytes: &[u8]) -> io::Result<(SnapshotMeta<u64, BasicNode>, Vec<u8>)> {
    let (meta, data) = check_file(bytes)?;
    Ok((meta, bytes[data].to_vec()))
}

/// As [`decode_file`], taking the file's bytes and returning the data in the same buffer (the
/// header and checksum cut off in place), so a large snapshot is not copied once more.
fn decode_file_owned(mut bytes: Vec<u8>) -> io::Result<(SnapshotMeta<u64, BasicNode>, Vec<u8>)> {
    let (meta, data) = check_file(&bytes)?;
    bytes.truncate(data.end);
    bytes.drain(..data.start);
    Ok((meta, bytes))
}

/// Reads the snapshot file at `path` ([`decode_file_owned`]).
fn read_file(path: &Path) -> io::Result<(SnapshotMeta<u64, BasicNode>, Vec<u8>)> {
    let bytes = std::fs::read(path)?;
    decode_file_owned(bytes).map_err(|e| invalid(format!("{}: {e}", path.display())))
}

/// Checks a snapshot file's bytes ([`decode_file`]): its metadata and where its data lies.
fn check_file(bytes: &[u8]) -> io::Result<(SnapshotMeta<u64, BasicNode>, std::ops::Range<usize>)> {
    let body_len = bytes
        .len()
        .checked_sub(4)
        .ok_or_else(|| invalid("snapshot file too short"))?;
    let (body, crc) = bytes.split_at(body_len);
    let crc = u32::from_le_bytes(crc.try_into().map_err(|_| invalid("crc"))?);
    if crc32fast::hash(body) != crc {
        return Err(invalid("snapshot file checksum mismatch"));
    }
    let rest = body
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| invalid("not a snapshot file"))?;
    let (len, rest) = rest.split_at_checked(4).ok_or_else(|| invalid("short"))?;
    let len = u32::from_le_bytes(len.try_into().map_err(|_| invalid("len"))?) as usize;
    let (meta, rest) = rest.split_at_checked(len).ok_or_else(|| invalid("short"))?;
    let meta = legacy::decode_either(meta).map_err(|e| invalid(format!("snapshot meta: {e}")))?;
    let (len, data) = rest.split_at_checked(8).ok_or_else(|| invalid("short"))?;
    let len = u64::from_le_bytes(len.try_into().map_err(|_| invalid("len"))?);
    if len != data.len() as u64 {
        return Err(invalid("snapshot data length mismatch"));
    }
    Ok((meta, body_len - data.len()..body_len))
}

/// The state machine given to openraft.
pub struct StateMachineStore {
    shared: Arc<Shared>,
    applied: Arc<Mutex<Applied>>,
    on_applied: Arc<Mutex<OnApplied>>,
    snapshot_path: PathBuf,
    current: Arc<Mutex<Option<StoredMeta>>>,
    /// Held while the snapshot file is written.
    file_lock: Arc<Mutex<()>>,
    seq: Arc<AtomicU64>,
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
        let mut applied = Applied::default();
        let mut current = None;
        match read_file(&snapshot_path) {
            Ok((meta, data)) => {
                // Written 0600 by this build; a file of an older build is tightened.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&snapshot_path, std::fs::Permissions::from_mode(0o600))?;
                let payload = decode_payload(&data)
                    .map_err(|e| invalid(format!("{}: {e}", snapshot_path.display())))?;
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
        on_applied(&shared.read(), &[]);
        shared.applied.send_replace(index);
        Ok(StateMachineStore {
            shared,
            applied: Arc::new(Mutex::new(applied)),
            on_applied: Arc::new(Mutex::new(on_applied)),
            snapshot_path,
            current: Arc::new(Mutex::new(current)),
            file_lock: Arc::new(Mutex::new(())),
            seq: Arc::new(AtomicU64::new(0)),
        })
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
        }
    }

    /// Makes `meta` and `data` the current snapshot, durably, unless a newer one already is (a
    /// snapshot built locally can finish after a newer one arrived from the leader). The
    /// snapshot file and `current` change together, one writer at a time. Gives `data` back.
    async fn store(&self, meta: &StoredMeta, data: Vec<u8>) -> io::Result<Vec<u8>> {
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
                return Ok(data);
            }
            write_file(&path, &meta, &data)?;
            *lock(&current) = Some(meta);
            Ok(data)
        })
        .await
        .map_err(|e| io::Error::other(format!("snapshot write task failed: {e}")))?
    }

    /// The current snapshot, read from its file (none before the first).
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
            let (file_meta, data) = read_file(&path)?;
            if file_meta != meta {
                return Err(invalid(format!(
                    "{}: holds snapshot {file_meta}, expected {meta}",
                    path.display()
                )));
            }
            Ok(Some(Snapshot {
                meta,
                snapshot: Box::new(Cursor::new(data)),
            }))
        })
        .await
        .map_err(|e| io::Error::other(format!("snapshot read task failed: {e}")))?
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> SResult<Snapshot<TypeConfig>> {
        let (data, applied) = {
            let reg = self.shared.read();
            let applied = lock(&self.applied).clone();
            let data = encode_snapshot_data(&applied.last_applied, &applied.last_membership, &reg);
            (data, applied)
        };
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match applied.last_applied {
            Some(l) => format!("{}-{}-{seq}", l.leader_id, l.index),
            None => format!("none-{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.last_membership,
            snapshot_id,
        };
        let data = self
            .store(&meta, data)
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        tracing::info!(snapshot = %meta, bytes = data.len(), "snapshot built");
        // The data moves into the answer (openraft drops it once built): not kept here.
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
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
        {
            let mut reg = self.shared.write();
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
            (lock(&self.on_applied))(&reg, &changed);
            // Published while the registry is still locked, so a reader holding the read
            // guard sees the index that matches the registry it reads.
            self.shared.applied.send_replace(last_index);
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.builder()
    }

    async fn begin_receiving_snapshot(&mut self) -> SResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> SResult<()> {
        let data = snapshot.into_inner();
        let sig = || Some(meta.signature());
        let payload = decode_payload(&data)
            .map_err(|e| StorageIOError::read_snapshot(sig(), AnyError::new(&e)))?;
        if payload.last_applied != meta.last_log_id {
            let e = AnyError::error(format!(
                "snapshot data is at {:?} but its meta says {:?}",
                payload.last_applied, meta.last_log_id
            ));
            return Err(StorageIOError::read_snapshot(sig(), e).into());
        }
        drop(
            self.store(meta, data)
                .await
                .map_err(|e| StorageIOError::write_snapshot(sig(), &e))?,
        );
        let index = meta.last_log_id.map(|l| l.index).unwrap_or(0);
        {
            let mut reg = self.shared.write();
            *reg = payload.registry;
            {
                let mut applied = lock(&self.applied);
                applied.last_applied = meta.last_log_id;
                applied.last_membership = meta.last_membership.clone();
            }
            (lock(&self.on_applied))(&reg, &[]);
            self.shared.applied.send_replace(index);
        }
        tracing::info!(snapshot = %meta, "snapshot installed");
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
        let built = sm.builder().build_snapshot().await.unwrap();
        let data = built.snapshot.into_inner();
        let cur = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(cur.meta, built.meta);
        assert_eq!(cur.snapshot.into_inner(), data);
        // Reopened: the registry comes back and the same snapshot is served from the file.
        let shared2 = Shared::new();
        let mut sm2 =
            StateMachineStore::open(dir.path(), shared2.clone(), Box::new(|_, _| {})).unwrap();
        assert_eq!(*shared2.read(), sample_registry());
        let cur = sm2.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(cur.meta, built.meta);
        assert_eq!(cur.snapshot.into_inner(), data);
        // Not a copy in memory: a damaged file is found on the next request.
        let path = dir.path().join(super::super::startup::SNAPSHOT_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(sm.get_current_snapshot().await.is_err());
    }

    #[test]
    fn file_round_trip_and_corruption() {
        let meta = SnapshotMeta {
            last_log_id: Some(LogId::new(openraft::CommittedLeaderId::new(3, 1), 42)),
            last_membership: StoredMembership::default(),
            snapshot_id: "x".into(),
        };
        let bytes = encode_file(&meta, b"hello");
        // The file is written piece by piece: the same bytes.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap");
        write_file(&path, &meta, b"hello").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let (m, d) = decode_file(&bytes).unwrap();
        assert_eq!(m, meta);
        assert_eq!(d, b"hello");
        assert_eq!(decode_file_owned(bytes.clone()).unwrap(), (meta.clone(), d));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(decode_file(&bad).is_err(), "flip at {i}");
        }
        for n in 0..bytes.len() {
            assert!(decode_file(&bytes[..n]).is_err());
        }
    }
}
