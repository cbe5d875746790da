//! Format fixtures of what a node keeps in its data folder, written by the last build before
//! the self-describing format (bincode, `v1/`) and by the current one (`v2/`): stored log entries (checksummed and bare), the vote and a
//! log id as the log store's `meta` table holds them, a Raft snapshot file, and a single-node
//! (`LocalNode`) folder with a snapshot and log entries. Each must still read as what it was
//! written from.
//!
//! `TOLLGATE_WRITE_FIXTURES=1 cargo test -p tollgate-consensus --test formats write` writes
//! the fixtures of the current format that are missing; no file is ever rewritten.

use openraft::storage::SnapshotMeta;
use openraft::{
    BasicNode, CommittedLeaderId, Entry, EntryPayload, LogId, Membership, StoredMembership, Vote,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tollgate_consensus::raft::log_store::{decode_entry, encode_entry};
use tollgate_consensus::raft::state_machine::{
    decode_file, decode_snapshot_data, encode_file, encode_snapshot_data,
};
use tollgate_consensus::raft::TypeConfig;
use tollgate_consensus::LocalNode;
use tollgate_proto::legacy::decode_either;
use tollgate_proto::{codec, Command};

#[path = "../../proto/tests/support/samples.rs"]
mod samples;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn membership() -> Membership<u64, BasicNode> {
    Membership::new(
        vec![BTreeSet::from([1, 2, 3])],
        BTreeMap::from([
            (1, BasicNode::new("127.0.0.1:7001")),
            (2, BasicNode::new("127.0.0.1:7002")),
            (3, BasicNode::new("127.0.0.1:7003")),
            (4, BasicNode::new("127.0.0.1:7004")),
        ]),
    )
}

/// The entries of the log fixtures: (index, entry).
fn entries() -> Vec<Entry<TypeConfig>> {
    let put = samples::commands()
        .into_iter()
        .find(|(n, _)| *n == "PutMethod")
        .unwrap()
        .1;
    let once = samples::commands()
        .into_iter()
        .find(|(n, _)| *n == "Once")
        .unwrap()
        .1;
    vec![
        Entry {
            log_id: log_id(3, 7),
            payload: EntryPayload::Blank,
        },
        Entry {
            log_id: log_id(3, 8),
            payload: EntryPayload::Membership(membership()),
        },
        Entry {
            log_id: log_id(3, 9),
            payload: EntryPayload::Normal(put),
        },
        Entry {
            log_id: log_id(4, 10),
            payload: EntryPayload::Normal(once),
        },
    ]
}

fn vote() -> Vote<u64> {
    Vote::new_committed(4, 2)
}

fn snapshot_meta() -> SnapshotMeta<u64, BasicNode> {
    SnapshotMeta {
        last_log_id: Some(log_id(4, 10)),
        last_membership: StoredMembership::new(Some(log_id(3, 8)), membership()),
        snapshot_id: "4-1-10-0".into(),
    }
}

/// The commands the single-node fixture logged on top of its snapshot.
fn local_commands() -> Vec<Command> {
    vec![
        Command::CreateApiKey {
            key: samples::api_key(9),
        },
        Command::DeleteStage {
            api_id: "api0000001".into(),
            stage_name: "dev".into(),
            referential: false,
        },
        Command::CreateUsagePlanKey {
            plan_id: "plan01".into(),
            key_id: "key0000009".into(),
        },
    ]
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn write_new(name: &str, bytes: &[u8]) {
    let path = data(name);
    if !path.exists() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// Writes the fixtures of the current format that are missing (never rewrites one).
#[test]
fn write_current_fixtures() {
    if std::env::var_os("TOLLGATE_WRITE_FIXTURES").is_none() {
        return;
    }
    for e in entries() {
        let i = e.log_id.index;
        write_new(&format!("v2/entry-{i}.bin"), &encode_entry(&e));
    }
    write_new("v2/vote.bin", &codec::encode(&vote()));
    write_new("v2/log-id.bin", &codec::encode(&log_id(4, 10)));
    let payload = encode_snapshot_data(
        &Some(log_id(4, 10)),
        &StoredMembership::new(Some(log_id(3, 8)), membership()),
        &samples::registry(),
    );
    write_new(
        "v2/raft-snapshot-v3.bin",
        &encode_file(&snapshot_meta(), &payload),
    );
    if !data("v2/local").exists() {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&data("v1/local"), dir.path());
        let node = LocalNode::open(dir.path(), Box::new(|_, _| {})).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // More entries, in the current format, after the bincode ones.
        for c in more_local_commands() {
            rt.block_on(node.propose(c)).unwrap().unwrap();
        }
        drop(node);
        copy_dir(dir.path(), &data("v2/local"));
    }
}

/// What the single-node fixture of the current format logged after [`local_commands`].
fn more_local_commands() -> Vec<Command> {
    vec![Command::DeleteApiKey {
        id: "key0000002".into(),
    }]
}

#[test]
fn log_entries_still_read() {
    for e in entries() {
        let i = e.log_id.index;
        let back = decode_entry(i, &read(&format!("v1/entry-{i}.bin")), true).unwrap();
        assert_eq!(back, e);
        let bare = read(&format!("v1/entry-{i}-bare.bin"));
        assert_eq!(decode_entry(i, &bare, false).unwrap(), e);
        assert!(
            decode_entry(i, &bare, true).is_err(),
            "bare entry in a checked log"
        );
    }
}

#[test]
fn vote_and_log_id_still_read() {
    for dir in ["v1", "v2"] {
        let v: Vote<u64> = decode_either(&read(&format!("{dir}/vote.bin"))).unwrap();
        assert_eq!(v, vote());
        let l: LogId<u64> = decode_either(&read(&format!("{dir}/log-id.bin"))).unwrap();
        assert_eq!(l, log_id(4, 10));
    }
}

#[test]
fn raft_snapshot_files_still_read() {
    for file in ["v1/raft-snapshot-v2.bin", "v2/raft-snapshot-v3.bin"] {
        let (meta, data) = decode_file(&read(file)).unwrap();
        assert_eq!(meta, snapshot_meta(), "{file}");
        let (last, registry) = decode_snapshot_data(&data).unwrap();
        assert_eq!(last, Some(log_id(4, 10)));
        assert_eq!(registry, samples::registry(), "{file}");
    }
}

#[test]
fn single_node_folders_still_open() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&data("v1/local"), dir.path());
    let node = LocalNode::open(dir.path(), Box::new(|_, _| {})).unwrap();
    let mut expected = samples::registry();
    for c in local_commands() {
        expected.apply(&c).unwrap();
    }
    assert_eq!(*node.read(), expected);
    drop(node);
    // The same folder with entries of the current format after the bincode ones.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&data("v2/local"), dir.path());
    let node = LocalNode::open(dir.path(), Box::new(|_, _| {})).unwrap();
    for c in more_local_commands() {
        expected.apply(&c).unwrap();
    }
    assert_eq!(*node.read(), expected);
}
