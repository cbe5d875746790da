//! Checks of the data folder before Raft starts: a damaged or missing log store is named and
//! refused instead of silently starting over.
//!
//! A Raft member that forgets its log or its vote can lose acknowledged writes and vote twice
//! in one term (two leaders). So the folder records that it belongs to a member (`node-id`,
//! written when the log store is first opened), and a start where `raft.redb` is gone but that
//! record or a snapshot remains is refused unless the operator asks for recovery
//! ([`super::RaftConfig::recover_missing_log`]). Every log entry is checked at start
//! ([`LogStore::verify`]), and a log purged past what the snapshot holds names the missing
//! snapshot.
//!
//! Files are readable by their owner only: the folder is 0700 and every file 0600 (the
//! registry holds API key values in clear).

use super::log_store::{Contents, LogStore, OpenError};
use super::ClusterError;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// The log and vote.
pub const LOG_FILE: &str = "raft.redb";
/// The last snapshot.
pub const SNAPSHOT_FILE: &str = "snapshot.bin";
/// The id of the member this folder belongs to.
pub const NODE_ID_FILE: &str = "node-id";

/// Creates `dir` (0700), or tightens an existing one to 0700.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn storage(path: &Path, e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Storage(format!("{}: {e}", path.display()))
}

/// Opens the log store in `dir` after checking the folder; returns it with what it holds.
pub(crate) async fn open_log_store(
    dir: &Path,
    node_id: u64,
    recover_missing_log: bool,
) -> Result<(LogStore, Contents), ClusterError> {
    private_dir(dir)?;
    let path = dir.join(LOG_FILE);
    let id_path = dir.join(NODE_ID_FILE);
    let recorded = match std::fs::read_to_string(&id_path) {
        Ok(text) => Some(
            text.trim()
                .parse::<u64>()
                .map_err(|_| storage(&id_path, format!("not a node id: {:?}", text.trim())))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(storage(&id_path, e)),
    };
    if let Some(recorded) = recorded.filter(|r| *r != node_id) {
        return Err(storage(
            &id_path,
            format!("this data folder belongs to node {recorded}, not node {node_id}"),
        ));
    }
    let snapshot = dir.join(SNAPSHOT_FILE);
    if !path.exists() && (recorded.is_some() || snapshot.exists()) {
        let had = if snapshot.exists() {
            format!("{} is there", snapshot.display())
        } else {
            format!("{} says this node was a member", id_path.display())
        };
        if !recover_missing_log {
            return Err(ClusterError::Storage(format!(
                "{} is missing but {had}: the node's log and vote are lost. Starting without \
                 them could lose acknowledged writes and vote twice in one term. Restore the \
                 file, or remove the node from the cluster and add it back with an empty data \
                 folder; --recover-missing-log starts anyway with an empty log and vote",
                path.display()
            )));
        }
        tracing::warn!(
            file = %path.display(),
            "the log store is missing; starting with an empty log and vote (--recover-missing-log)"
        );
    }
    let t_open = Instant::now();
    let store = open_retrying(&path).await?;
    tracing::info!(
        ms = t_open.elapsed().as_millis() as u64,
        "startup: log store opened"
    );
    let verify = store.clone();
    let t_verify = Instant::now();
    let contents = tokio::task::spawn_blocking(move || verify.verify())
        .await
        .map_err(|e| ClusterError::Other(format!("log check task: {e}")))?
        .map_err(|e| storage(&path, e))?;
    tracing::info!(
        entries = contents.entries,
        ms = t_verify.elapsed().as_millis() as u64,
        "startup: log entries checked"
    );
    if recorded.is_none() {
        write_node_id(&id_path, node_id).map_err(|e| storage(&id_path, e))?;
    }
    Ok((store, contents))
}

/// Refuses a log purged past what the snapshot holds: the entries in between are gone.
pub(crate) fn check_snapshot(
    dir: &Path,
    contents: &Contents,
    snapshot_index: u64,
) -> Result<(), ClusterError> {
    match contents.purged {
        Some(purged) if purged > snapshot_index => {
            let snapshot = dir.join(SNAPSHOT_FILE);
            let what = if snapshot.exists() {
                format!(
                    "{} holds the state up to index {snapshot_index} only",
                    snapshot.display()
                )
            } else {
                format!("{} is missing", snapshot.display())
            };
            Err(ClusterError::Storage(format!(
                "{what}, but the log was purged up to index {purged}: the state before it is \
                 lost. Restore the snapshot, or remove the node from the cluster and add it back \
                 with an empty data folder"
            )))
        }
        _ => Ok(()),
    }
}

fn write_node_id(path: &Path, node_id: u64) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{node_id}")?;
    f.sync_all()?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

async fn open_retrying(path: &Path) -> Result<LogStore, ClusterError> {
    // After an in-process shutdown the previous store may take a moment to be dropped.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match LogStore::open(path) {
            Ok(s) => return Ok(s),
            Err(OpenError::Database(redb::DatabaseError::DatabaseAlreadyOpen))
                if Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => return Err(storage(path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// The probe's damage: `raft.redb` deleted, and the node started with acknowledged writes
    /// missing and its vote reset. Now the start is refused, naming the file, unless the
    /// operator asks for recovery.
    #[tokio::test]
    async fn a_missing_log_store_is_refused_unless_recovery_is_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let raft = dir.path().join("raft");
        let (store, c) = open_log_store(&raft, 3, false).await.unwrap();
        assert_eq!(c.entries, 0);
        drop(store);
        assert_eq!(mode(&raft), 0o700);
        assert_eq!(mode(&raft.join(NODE_ID_FILE)), 0o600);
        // A restart finds everything.
        drop(open_log_store(&raft, 3, false).await.unwrap());
        // Another node id on this folder is refused.
        let e = open_log_store(&raft, 4, false).await.err().unwrap();
        assert!(e.to_string().contains("belongs to node 3"), "{e}");

        std::fs::remove_file(raft.join(LOG_FILE)).unwrap();
        let e = open_log_store(&raft, 3, false)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("raft.redb is missing"), "{e}");
        assert!(e.contains("--recover-missing-log"), "{e}");
        assert!(!raft.join(LOG_FILE).exists(), "nothing created on refusal");
        drop(open_log_store(&raft, 3, true).await.unwrap());
        assert!(raft.join(LOG_FILE).exists());

        // A snapshot without its log store (a folder of an older build, which had no node-id
        // file) is refused too.
        std::fs::remove_file(raft.join(LOG_FILE)).unwrap();
        std::fs::remove_file(raft.join(NODE_ID_FILE)).unwrap();
        std::fs::write(raft.join(SNAPSHOT_FILE), b"x").unwrap();
        let e = open_log_store(&raft, 3, false)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("raft.redb is missing"), "{e}");
        assert!(e.contains("snapshot.bin is there"), "{e}");
    }

    #[test]
    fn a_log_purged_past_the_snapshot_names_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let c = Contents {
            has_vote: true,
            purged: Some(1000),
            entries: 5,
        };
        let e = check_snapshot(dir.path(), &c, 0).unwrap_err().to_string();
        assert!(e.contains("snapshot.bin is missing"), "{e}");
        assert!(e.contains("purged up to index 1000"), "{e}");
        assert!(check_snapshot(dir.path(), &c, 1000).is_ok());
        let fresh = Contents {
            has_vote: false,
            purged: None,
            entries: 0,
        };
        assert!(check_snapshot(dir.path(), &fresh, 0).is_ok());
    }

    #[test]
    fn an_open_folder_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&d).unwrap();
        assert_eq!(mode(&d), 0o700);
    }
}
