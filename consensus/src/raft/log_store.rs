//! The durable Raft log and vote, in a [redb] database.
//!
//! Why redb rather than an append-only file: Raft needs random reads by index (replication
//! reads ranges behind the tail), truncation of a conflicting suffix and purging of a prefix;
//! redb gives all three with crash-safe copy-on-write commits and checksummed pages, and a
//! commit with [`Durability::Immediate`] returns only once it is on disk. One write
//! transaction carries one append batch (group commit), so a batch costs one fsync.
//!
//! Every write (append, truncate, purge, vote) runs as one immediate-durability transaction
//! on the blocking pool and is awaited before the call returns, so writes are applied in the
//! order openraft issues them and a vote is never reordered against a log write. The append
//! flush callback fires only after the commit has returned.
//!
//! Tables: `log` maps index → stored entry; `meta` holds the vote, the last purged log id,
//! the committed log id (each encoded with [`tollgate_proto::codec`], or in bincode by builds
//! before it, still read) and the entry format. A checksummed entry's codec bytes are of the
//! current format or, written by a bincode build, of format 1 ([`crate::legacy`]).
//! The committed log id is written without its own fsync (it becomes durable with the next
//! log or vote write).
//!
//! A stored entry is `ENTRY_CHECKED | crc32 (LE) of the rest | codec bytes`, so a flipped bit
//! inside an entry is found rather than decoded as a different command (redb checks its own
//! structure, not the values). Builds before checksums stored the bare codec bytes, whose
//! first byte is the codec's format version 1 (bincode, [`crate::legacy`]); a database those
//! builds created (no `format` key in `meta`) keeps accepting such entries until they are
//! purged, while one created by this build ([`FORMAT_CHECKED`] in `meta`) refuses any entry
//! without a checksum. The tag differs from that version in two bits, so one flipped bit
//! cannot turn a checked entry into an unchecked one.

use super::TypeConfig;
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{AnyError, Entry, LogId, OptionalSend, StorageError, StorageIOError, Vote};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;
use tollgate_proto::codec;
use tollgate_proto::legacy::{decode_either, BINCODE_FORMAT_VERSION};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const KEY_VOTE: &str = "vote";
const KEY_PURGED: &str = "last_purged";
const KEY_COMMITTED: &str = "committed";
const KEY_FORMAT: &str = "format";

/// redb's page cache for the log (its default is 1 GiB). Entries are read back only to
/// replicate them to a follower that lags (the state machine applies what it is handed), so
/// the cache need not hold the log: capped, what a burst of large commands (10 000 API
/// definitions, a million API keys in batches of 10 000: ~150 MB) wrote does not stay resident
/// beside the registry (issue 14). redb moves every page a commit writes into this cache until
/// it is full, so after a large import the cache's whole size is resident.
const LOG_CACHE_BYTES: usize = 16 << 20;

/// A read of the log this long is logged at info (the replay at start, a follower far behind).
const SLOW_READ: std::time::Duration = std::time::Duration::from_millis(100);

/// The first byte of a checksummed entry.
const ENTRY_CHECKED: u8 = 2;
/// The `format` value of a database whose every entry carries a checksum.
const FORMAT_CHECKED: u8 = 2;

type SResult<T> = Result<T, StorageError<u64>>;

/// The log store. Clones share the same database (the log reader is a clone).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    /// Whether every entry must carry a checksum (a database this build created).
    checked: bool,
    /// Counts the bytes appended, to have a snapshot built when the log grows large.
    growth: Option<Arc<super::log_growth::LogGrowth>>,
}

/// What the log store holds, as read when it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contents {
    /// Whether a vote was ever saved.
    pub has_vote: bool,
    /// The last purged log index (entries up to it live only in the snapshot).
    pub purged: Option<u64>,
    /// How many entries the log holds (each checked).
    pub entries: u64,
}

fn any<E: std::error::Error + 'static>(e: E) -> AnyError {
    AnyError::new(&e)
}

/// An entry as stored: with its checksum.
pub fn encode_entry(entry: &Entry<TypeConfig>) -> Vec<u8> {
    let body = codec::encode(entry);
    let mut out = Vec::with_capacity(5 + body.len());
    out.push(ENTRY_CHECKED);
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Why a stored entry could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The checksum does not match: the stored bytes changed.
    #[error("log entry {0} fails its checksum (the log file is damaged)")]
    Checksum(u64),
    /// An entry without a checksum in a log whose entries all carry one.
    #[error("log entry {0} has no checksum (the log file is damaged)")]
    Unchecked(u64),
    /// The entry is stored under another index than its own.
    #[error("log entry {0} holds the entry of index {1} (the log file is damaged)")]
    Misplaced(u64, u64),
    /// The bytes do not decode.
    #[error("log entry {0} does not decode: {1}")]
    Malformed(u64, codec::DecodeError),
}

/// The log id of a stored entry, decoded without its payload.
#[derive(serde::Deserialize)]
struct EntryHead {
    log_id: LogId<u64>,
}

/// Checks the entry stored under `index` as [`decode_entry`] does, without building its
/// command: its checksum, its structure (the codec's scan of every length and nesting) and
/// the log id it holds. What start checks of every entry: decoding a million imported keys
/// only to drop them cost as much as the replay that decodes them again (issue 14). An
/// entry of a build before checksums (bincode, not self-describing) is decoded whole.
pub fn check_entry(index: u64, bytes: &[u8], checked: bool) -> Result<(), EntryError> {
    let body = checked_body(index, bytes, checked)?;
    let log_id = match codec::version_of(body) {
        Ok(BINCODE_FORMAT_VERSION) => {
            crate::legacy::decode_raft_entry(body).map(|e: Entry<TypeConfig>| e.log_id)
        }
        _ => codec::decode::<EntryHead>(body).map(|h| h.log_id),
    }
    .map_err(|e| EntryError::Malformed(index, e))?;
    if log_id.index != index {
        return Err(EntryError::Misplaced(index, log_id.index));
    }
    Ok(())
}

/// The codec bytes of the entry stored under `index`, its checksum checked.
fn checked_body(index: u64, bytes: &[u8], checked: bool) -> Result<&[u8], EntryError> {
    match bytes.split_first() {
        Some((&ENTRY_CHECKED, rest)) => {
            let (crc, body) = rest
                .split_first_chunk::<4>()
                .ok_or(EntryError::Checksum(index))?;
            if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
                return Err(EntryError::Checksum(index));
            }
            Ok(body)
        }
        // An entry of a build before checksums: the bare codec bytes (bincode).
        Some((&BINCODE_FORMAT_VERSION, _)) if !checked => Ok(bytes),
        Some((&BINCODE_FORMAT_VERSION, _)) => Err(EntryError::Unchecked(index)),
        _ => Err(EntryError::Checksum(index)),
    }
}

/// Decodes the entry stored under `index`. `checked`: refuse entries without a checksum.
pub fn decode_entry(
    index: u64,
    bytes: &[u8],
    checked: bool,
) -> Result<Entry<TypeConfig>, EntryError> {
    let body = checked_body(index, bytes, checked)?;
    let entry: Entry<TypeConfig> = match codec::version_of(body) {
        Ok(BINCODE_FORMAT_VERSION) => crate::legacy::decode_raft_entry(body),
        _ => codec::decode(body),
    }
    .map_err(|e| EntryError::Malformed(index, e))?;
    if entry.log_id.index != index {
        return Err(EntryError::Misplaced(index, entry.log_id.index));
    }
    Ok(entry)
}

/// Creates `path` readable by its owner only, unless it exists (then tightens its mode).
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        }
        Err(e) => Err(e),
    }
}

/// Why the log store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database could not be opened.
    #[error(transparent)]
    Database(#[from] redb::DatabaseError),
    /// The file could not be created or read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A read or write of its contents failed.
    #[error("{0}")]
    Contents(String),
}

fn contents_err<E: std::fmt::Display>(e: E) -> OpenError {
    OpenError::Contents(e.to_string())
}

impl LogStore {
    /// Opens (creating, readable by its owner only) the database at `path`. A database this
    /// build creates requires a checksum on every entry.
    pub fn open(path: &Path) -> Result<LogStore, OpenError> {
        private_file(path)?;
        let db = redb::Builder::new()
            .set_cache_size(LOG_CACHE_BYTES)
            .create(path)?;
        let checked = {
            let tx = db.begin_write().map_err(contents_err)?;
            let checked = {
                let mut meta = tx.open_table(META).map_err(contents_err)?;
                let format = meta
                    .get(KEY_FORMAT)
                    .map_err(contents_err)?
                    .map(|v| v.value().first().copied());
                match format {
                    Some(f) => f == Some(FORMAT_CHECKED),
                    None => {
                        // A database with nothing in it is new: all its entries get checksums.
                        let empty = meta.is_empty().map_err(contents_err)?
                            && tx
                                .open_table(LOG)
                                .map_err(contents_err)?
                                .is_empty()
                                .map_err(contents_err)?;
                        if empty {
                            meta.insert(KEY_FORMAT, [FORMAT_CHECKED].as_slice())
                                .map_err(contents_err)?;
                        }
                        empty
                    }
                }
            };
            tx.commit().map_err(contents_err)?;
            checked
        };
        Ok(LogStore {
            db: Arc::new(db),
            checked,
            growth: None,
        })
    }

    /// Has the entries appended from now on recorded (index and size) into `growth`.
    pub(crate) fn count_growth(&mut self, growth: Arc<super::log_growth::LogGrowth>) {
        self.growth = Some(growth);
    }

    /// Reads every entry and checks it ([`check_entry`]: checksum, structure, index), so
    /// damage is found at start rather than when the entry is replicated or applied; returns
    /// what the store holds.
    pub fn verify(&self) -> Result<Contents, String> {
        let tx = self.db.begin_read().map_err(|e| e.to_string())?;
        let (has_vote, purged) = match tx.open_table(META) {
            Ok(meta) => {
                let has_vote = meta.get(KEY_VOTE).map_err(|e| e.to_string())?.is_some();
                let purged = match meta.get(KEY_PURGED).map_err(|e| e.to_string())? {
                    Some(v) => Some(
                        decode_either::<LogId<u64>>(v.value())
                            .map_err(|e| format!("the last purged log id: {e}"))?
                            .index,
                    ),
                    None => None,
                };
                (has_vote, purged)
            }
            Err(redb::TableError::TableDoesNotExist(_)) => (false, None),
            Err(e) => return Err(e.to_string()),
        };
        let mut entries = 0;
        match tx.open_table(LOG) {
            Ok(table) => {
                for item in table.iter().map_err(|e| e.to_string())? {
                    let (k, v) = item.map_err(|e| e.to_string())?;
                    check_entry(k.value(), v.value(), self.checked).map_err(|e| e.to_string())?;
                    entries += 1;
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
        Ok(Contents {
            has_vote,
            purged,
            entries,
        })
    }

    /// Runs `f` on the blocking pool (redb calls block on disk I/O).
    async fn blocking<T, F>(&self, f: F) -> Result<T, AnyError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, AnyError> + Send + 'static,
    {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || f(&db)).await {
            Ok(r) => r,
            Err(e) => Err(AnyError::error(format!("storage task failed: {e}"))),
        }
    }

    /// Writes `f`'s changes in one transaction that is durable when this returns.
    async fn write<F>(&self, f: F) -> Result<(), AnyError>
    where
        F: FnOnce(&redb::WriteTransaction) -> Result<(), AnyError> + Send + 'static,
    {
        self.write_with(Durability::Immediate, f).await
    }

    async fn write_with<F>(&self, durability: Durability, f: F) -> Result<(), AnyError>
    where
        F: FnOnce(&redb::WriteTransaction) -> Result<(), AnyError> + Send + 'static,
    {
        self.blocking(move |db| {
            let mut tx = db.begin_write().map_err(any)?;
            tx.set_durability(durability).map_err(any)?;
            f(&tx)?;
            tx.commit().map_err(any)
        })
        .await
    }

    async fn read_meta<T>(&self, key: &'static str) -> Result<Option<T>, AnyError>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(any)?;
            let table = match tx.open_table(META) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(any(e)),
            };
            match table.get(key).map_err(any)? {
                Some(v) => Ok(Some(decode_either(v.value()).map_err(any)?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn write_meta<T: serde::Serialize>(
        &self,
        key: &'static str,
        value: &T,
        durability: Durability,
    ) -> Result<(), AnyError> {
        let bytes = codec::encode(value);
        self.write_with(durability, move |tx| {
            let mut t = tx.open_table(META).map_err(any)?;
            t.insert(key, bytes.as_slice()).map_err(any)?;
            Ok(())
        })
        .await
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> SResult<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(&s) => Bound::Included(s),
            Bound::Excluded(&s) => Bound::Excluded(s),
            Bound::Unbounded => Bound::Unbounded,
        };
        let end = match range.end_bound() {
            Bound::Included(&s) => Bound::Included(s),
            Bound::Excluded(&s) => Bound::Excluded(s),
            Bound::Unbounded => Bound::Unbounded,
        };
        let checked = self.checked;
        self.blocking(move |db| {
            let t = std::time::Instant::now();
            let tx = db.begin_read().map_err(any)?;
            let table = match tx.open_table(LOG) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(any(e)),
            };
            let mut out = Vec::new();
            let mut bytes = 0;
            for item in table.range::<u64>((start, end)).map_err(any)? {
                let (k, v) = item.map_err(any)?;
                bytes += v.value().len();
                out.push(decode_entry(k.value(), v.value(), checked).map_err(any)?);
            }
            if t.elapsed() >= SLOW_READ {
                tracing::info!(
                    entries = out.len(),
                    bytes,
                    ms = t.elapsed().as_millis() as u64,
                    "read and decoded a large range of the log"
                );
            }
            Ok(out)
        })
        .await
        .map_err(|e| StorageIOError::read_logs(e).into())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> SResult<LogState<TypeConfig>> {
        let purged: Option<LogId<u64>> = self
            .read_meta(KEY_PURGED)
            .await
            .map_err(StorageIOError::read_logs)?;
        let checked = self.checked;
        let last = self
            .blocking(move |db| {
                let tx = db.begin_read().map_err(any)?;
                let table = match tx.open_table(LOG) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                    Err(e) => return Err(any(e)),
                };
                let last = match table.last().map_err(any)? {
                    Some((k, v)) => Some(
                        decode_entry(k.value(), v.value(), checked)
                            .map_err(any)?
                            .log_id,
                    ),
                    None => None,
                };
                Ok(last)
            })
            .await
            .map_err(StorageIOError::read_logs)?;
        Ok(LogState {
            last_log_id: last.or(purged),
            last_purged_log_id: purged,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> SResult<()> {
        self.write_meta(KEY_VOTE, vote, Durability::Immediate)
            .await
            .map_err(|e| StorageIOError::write_vote(e).into())
    }

    async fn read_vote(&mut self) -> SResult<Option<Vote<u64>>> {
        self.read_meta(KEY_VOTE)
            .await
            .map_err(|e| StorageIOError::read_vote(e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> SResult<()> {
        // The committed mark may lag on disk (it becomes durable with the next log or vote
        // write): a lower committed index after a crash is safe, it only means re-applying
        // less at startup. This saves an fsync per commit.
        self.write_meta(KEY_COMMITTED, &committed, Durability::None)
            .await
            .map_err(|e| StorageIOError::write(e).into())
    }

    async fn read_committed(&mut self) -> SResult<Option<LogId<u64>>> {
        Ok(self
            .read_meta::<Option<LogId<u64>>>(KEY_COMMITTED)
            .await
            .map_err(StorageIOError::read)?
            .flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> SResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let encoded: Vec<(u64, Vec<u8>)> = entries
            .into_iter()
            .map(|e| (e.log_id.index, encode_entry(&e)))
            .collect();
        let sizes: Vec<(u64, u64)> = encoded.iter().map(|(i, b)| (*i, b.len() as u64)).collect();
        let res = self
            .write(move |tx| {
                let mut t = tx.open_table(LOG).map_err(any)?;
                for (index, bytes) in &encoded {
                    t.insert(*index, bytes.as_slice()).map_err(any)?;
                }
                Ok(())
            })
            .await;
        match res {
            Ok(()) => {
                // Recorded before openraft hears of it, so before it can apply them.
                if let Some(g) = &self.growth {
                    g.appended(sizes);
                }
                // Committed with immediate durability: the entries are on disk.
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(e).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> SResult<()> {
        let from = log_id.index;
        self.write(move |tx| {
            let mut t = tx.open_table(LOG).map_err(any)?;
            t.retain_in::<u64, _>(from.., |_, _| false).map_err(any)?;
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_logs(e).into())
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> SResult<()> {
        let upto = log_id.index;
        let bytes = codec::encode(&log_id);
        self.write(move |tx| {
            // The purge mark and the deletion commit together: no reader sees a hole.
            let mut m = tx.open_table(META).map_err(any)?;
            m.insert(KEY_PURGED, bytes.as_slice()).map_err(any)?;
            let mut t = tx.open_table(LOG).map_err(any)?;
            t.retain_in::<u64, _>(..=upto, |_, _| false).map_err(any)?;
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_logs(e).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};
    use tollgate_proto::{legacy, Command};

    /// An entry as builds before checksums stored it: bare bincode of format 1.
    fn bare_v1(e: &Entry<TypeConfig>) -> Vec<u8> {
        crate::legacy::encode_raft_entry_v1(e)
    }

    fn entry(index: u64, name: &str) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Command::CreateRestApi {
                id: format!("a{index}"),
                root_resource_id: format!("r{index}"),
                settings: tollgate_proto::model::RestApiSettings {
                    name: name.into(),
                    ..Default::default()
                },
                created_date: 1,
                clone_from: None,
            }),
        }
    }

    /// Stores `entries` as given (bytes already encoded), in one transaction.
    fn put(store: &LogStore, entries: &[(u64, Vec<u8>)]) {
        let tx = store.db.begin_write().unwrap();
        {
            let mut t = tx.open_table(LOG).unwrap();
            for (i, b) in entries {
                t.insert(*i, b.as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
    }

    /// The probe's damage: one bit flipped inside an entry on disk changed an API's name and
    /// nothing noticed. Every copy of the name in the file gets the flip (redb may keep
    /// older pages), and opening the store must name the entry.
    #[test]
    fn a_flipped_bit_inside_an_entry_on_disk_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.redb");
        {
            let store = LogStore::open(&path).unwrap();
            assert!(store.checked);
            put(
                &store,
                &[
                    (1, encode_entry(&entry(1, "first-api"))),
                    (2, encode_entry(&entry(2, "orders-api-xyz"))),
                    (3, encode_entry(&entry(3, "third-api"))),
                ],
            );
            assert_eq!(store.verify().unwrap().entries, 3);
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let needle = b"orders-api-xyz";
        let mut flipped = 0;
        for at in 0..bytes.len() - needle.len() {
            if &bytes[at..at + needle.len()] == needle {
                bytes[at] ^= 0x01; // 'o' -> 'n'
                flipped += 1;
            }
        }
        assert!(flipped > 0);
        std::fs::write(&path, &bytes).unwrap();
        let store = LogStore::open(&path).unwrap();
        let e = store.verify().unwrap_err();
        assert!(e.contains("log entry 2 fails its checksum"), "{e}");
    }

    #[test]
    fn entries_are_checked_one_by_one() {
        let e = entry(7, "x");
        let good = encode_entry(&e);
        assert_eq!(decode_entry(7, &good, true).unwrap().log_id, e.log_id);
        assert!(check_entry(7, &good, true).is_ok());
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            assert!(decode_entry(7, &bad, true).is_err(), "flip at {i}");
            assert!(check_entry(7, &bad, true).is_err(), "flip at {i}");
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                assert!(decode_entry(7, &bad, false).is_err(), "bit {bit} at {i}");
            }
        }
        assert!(matches!(
            decode_entry(8, &good, true),
            Err(EntryError::Misplaced(8, 7))
        ));
        assert!(matches!(
            check_entry(8, &good, true),
            Err(EntryError::Misplaced(8, 7))
        ));
        // A checksummed entry whose bytes are not one value (a length past the end) is
        // refused by the check too.
        let mut body = codec::encode(&e);
        body.truncate(body.len() - 1);
        let mut cut = vec![ENTRY_CHECKED];
        cut.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        cut.extend_from_slice(&body);
        assert!(matches!(
            check_entry(7, &cut, true),
            Err(EntryError::Malformed(7, _))
        ));
        assert!(decode_entry(7, &[], true).is_err());
        assert!(decode_entry(7, &[ENTRY_CHECKED, 1, 2], true).is_err());
    }

    /// A database of a build before checksums (entries are the bare codec bytes, no `format`
    /// key) still opens and reads; new entries get checksums; a database this build created
    /// refuses an entry without one.
    #[test]
    fn logs_of_builds_before_checksums_still_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.redb");
        {
            // What the previous build wrote.
            let db = Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut t = tx.open_table(LOG).unwrap();
                t.insert(1u64, bare_v1(&entry(1, "old")).as_slice())
                    .unwrap();
                let mut m = tx.open_table(META).unwrap();
                m.insert(
                    KEY_VOTE,
                    legacy::encode_bincode(&Vote::new_committed(1, 1), 1).as_slice(),
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        let store = LogStore::open(&path).unwrap();
        assert!(!store.checked);
        put(&store, &[(2, encode_entry(&entry(2, "new")))]);
        let c = store.verify().unwrap();
        assert_eq!((c.entries, c.has_vote, c.purged), (2, true, None));
        drop(store);
        let store = LogStore::open(&path).unwrap();
        assert!(!store.checked, "an old database stays in the old format");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.redb");
        let store = LogStore::open(&path).unwrap();
        put(&store, &[(1, bare_v1(&entry(1, "bare")))]);
        let e = store.verify().unwrap_err();
        assert!(e.contains("log entry 1 has no checksum"), "{e}");
    }

    #[test]
    fn the_database_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.redb");
        drop(LogStore::open(&path).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(LogStore::open(&path).unwrap());
        assert_eq!(mode(&path), 0o600, "an older build's file is tightened");
    }
}
