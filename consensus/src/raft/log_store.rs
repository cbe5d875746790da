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
//! Tables: `log` maps index → encoded entry; `meta` holds the vote, the last purged log id and
//! the committed log id, each encoded with [`tollgate_proto::codec`]. The committed log id is
//! written without its own fsync (it becomes durable with the next log or vote write).

use super::TypeConfig;
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{AnyError, Entry, LogId, OptionalSend, StorageError, StorageIOError, Vote};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;
use tollgate_proto::codec;

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const KEY_VOTE: &str = "vote";
const KEY_PURGED: &str = "last_purged";
const KEY_COMMITTED: &str = "committed";

type SResult<T> = Result<T, StorageError<u64>>;

/// The log store. Clones share the same database (the log reader is a clone).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

fn any<E: std::error::Error + 'static>(e: E) -> AnyError {
    AnyError::new(&e)
}

fn decode_entry(bytes: &[u8]) -> Result<Entry<TypeConfig>, AnyError> {
    codec::decode(bytes).map_err(any)
}

impl LogStore {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<LogStore, redb::DatabaseError> {
        let db = Database::create(path)?;
        Ok(LogStore { db: Arc::new(db) })
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
                Some(v) => Ok(Some(codec::decode(v.value()).map_err(any)?)),
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
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(any)?;
            let table = match tx.open_table(LOG) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(any(e)),
            };
            let mut out = Vec::new();
            for item in table.range::<u64>((start, end)).map_err(any)? {
                let (_, v) = item.map_err(any)?;
                out.push(decode_entry(v.value())?);
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
        let last = self
            .blocking(|db| {
                let tx = db.begin_read().map_err(any)?;
                let table = match tx.open_table(LOG) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                    Err(e) => return Err(any(e)),
                };
                let last = match table.last().map_err(any)? {
                    Some((_, v)) => Some(decode_entry(v.value())?.log_id),
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
            .map(|e| (e.log_id.index, codec::encode(&e)))
            .collect();
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
