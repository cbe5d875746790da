//! Fuzzing of what a node reads back from its data folder, on the stable toolchain: stored
//! log entries and snapshot files, mutated by a seeded loop (bit flips, byte changes, cuts,
//! insertions, length fields set huge), with and without their checksums fixed up so that
//! damage reaches the decoders behind them. Reading must never panic, must refuse with a short
//! message naming what is wrong, and must never make a giant allocation because a length
//! field says so.
//!
//! About two seconds per target in `cargo test`; `TOLLGATE_FUZZ_SECS=N` runs longer and
//! `TOLLGATE_FUZZ_SEED=N` replays a seed.

use openraft::storage::SnapshotMeta;
use openraft::{BasicNode, CommittedLeaderId, Entry, EntryPayload, LogId, StoredMembership};
use std::time::Instant;
use tollgate_consensus::raft::log_store::{decode_entry, encode_entry};
use tollgate_consensus::raft::state_machine::{
    decode_file, decode_snapshot_data, encode_file, encode_snapshot_data,
};
use tollgate_consensus::raft::TypeConfig;
use tollgate_proto::{Command, Registry};

#[path = "../../proto/tests/support/fuzz.rs"]
mod fuzz;
use fuzz::{budget, mutate, watched, Rng, ALLOCATION_CAP};

fn api(i: u64, name: &str) -> Command {
    Command::CreateRestApi {
        id: format!("a{i}"),
        root_resource_id: format!("r{i}"),
        settings: tollgate_proto::model::RestApiSettings {
            name: name.into(),
            description: Some("the orders service".into()),
            ..Default::default()
        },
        created_date: 1_764_600_000,
        clone_from: None,
    }
}

/// Recomputes a stored entry's checksum, so a mutated body reaches the decoder.
fn fix_entry_checksum(bytes: &mut [u8]) {
    if bytes.len() >= 5 && bytes[0] == 2 {
        let crc = crc32fast::hash(&bytes[5..]).to_le_bytes();
        bytes[1..5].copy_from_slice(&crc);
    }
}

#[test]
fn reading_mutated_log_entries_never_panics_or_allocates_from_a_length_field() {
    let (time, seed) = budget();
    let mut rng = Rng(seed);
    let seeds: Vec<(u64, Vec<u8>)> = (1..=4u64)
        .map(|i| {
            let payload = match i {
                1 => EntryPayload::Blank,
                _ => EntryPayload::Normal(api(i, "orders")),
            };
            let e: Entry<TypeConfig> = Entry {
                log_id: LogId::new(CommittedLeaderId::new(3, 1), i),
                payload,
            };
            (i, encode_entry(&e))
        })
        .collect();
    // And entries a bincode build stored (format 1 inside the checksum framing).
    let mut seeds = seeds;
    for i in 5..=6u64 {
        let e: Entry<TypeConfig> = Entry {
            log_id: LogId::new(CommittedLeaderId::new(3, 1), i),
            payload: EntryPayload::Normal(api(i, "legacy")),
        };
        let body = tollgate_consensus::legacy::encode_raft_entry_v1(&e);
        let mut stored = vec![2u8];
        stored.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        stored.extend_from_slice(&body);
        assert_eq!(decode_entry(i, &stored, true).unwrap(), e);
        seeds.push((i, stored));
    }
    let until = Instant::now() + time;
    let (mut runs, mut read, mut unfixed_read) = (0u64, 0u64, 0u64);
    while Instant::now() < until || runs < 1000 {
        let (index, seed_bytes) = &seeds[rng.below(seeds.len())];
        let mut bytes = seed_bytes.clone();
        for _ in 0..=rng.below(3) {
            if bytes.is_empty() {
                break;
            }
            mutate(&mut rng, &mut bytes);
        }
        // Damage without a fixed-up checksum is always found.
        if bytes != *seed_bytes {
            let (r, largest) = watched(|| decode_entry(*index, &bytes, true));
            assert!(
                largest <= ALLOCATION_CAP,
                "seed {seed} run {runs}: {largest} bytes"
            );
            if r.is_ok() {
                unfixed_read += 1;
            }
        }
        fix_entry_checksum(&mut bytes);
        let (r, largest) = watched(|| decode_entry(*index, &bytes, true));
        assert!(
            largest <= ALLOCATION_CAP,
            "seed {seed} run {runs}: {largest} bytes"
        );
        match r {
            Ok(e) => {
                assert_eq!(e.log_id.index, *index);
                read += 1;
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(&format!("log entry {index}")), "{msg}");
                assert!(msg.len() < 500, "{msg}");
            }
        }
        runs += 1;
    }
    // A changed stored entry with its old checksum is never taken (a changed byte in the tag
    // or the checksum alone can still read, when it leaves the value unchanged: none does).
    assert_eq!(unfixed_read, 0, "seed {seed}: damage read as an entry");
    eprintln!("log entry fuzz: {runs} inputs, {read} read after checksum fix-up, seed {seed}");
}

#[test]
fn reading_mutated_snapshot_files_never_panics_or_allocates_from_a_length_field() {
    let (time, seed) = budget();
    let mut rng = Rng(seed);
    let mut reg = Registry::default();
    for i in 1..=3 {
        let _ = reg.apply(&api(i, &format!("api-{i}")));
    }
    let last = Some(LogId::new(CommittedLeaderId::new(2, 1), 9));
    let data = encode_snapshot_data(&last, &StoredMembership::default(), &reg);
    let meta: SnapshotMeta<u64, BasicNode> = SnapshotMeta {
        last_log_id: last,
        last_membership: StoredMembership::default(),
        snapshot_id: "2-9-0".into(),
    };
    let file = encode_file(&meta, &data);
    let (m, d) = decode_file(&file).unwrap();
    assert_eq!((m, &d), (meta, &data));
    // And a snapshot file of a bincode build (format 2).
    let legacy_file = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1/raft-snapshot-v2.bin"),
    )
    .unwrap();
    let files = [file, legacy_file];
    let until = Instant::now() + time;
    let (mut runs, mut read) = (0u64, 0u64);
    while Instant::now() < until || runs < 300 {
        let file = &files[rng.below(files.len())];
        let mut bytes = file.clone();
        for _ in 0..=rng.below(3) {
            if bytes.is_empty() {
                break;
            }
            mutate(&mut rng, &mut bytes);
        }
        let fix = rng.below(2) == 0;
        if fix && bytes.len() >= 4 {
            let body = bytes.len() - 4;
            let crc = crc32fast::hash(&bytes[..body]).to_le_bytes();
            bytes[body..].copy_from_slice(&crc);
        }
        // The file's own copy of the data is the one allocation sized by the input.
        let cap = ALLOCATION_CAP + bytes.len();
        let (r, largest) =
            watched(|| decode_file(&bytes).map(|(meta, data)| (meta, decode_snapshot_data(&data))));
        assert!(largest <= cap, "seed {seed} run {runs}: {largest} bytes");
        match r {
            Ok((_, Ok(_))) => {
                assert!(fix || bytes == *file, "seed {seed} run {runs}: damage read");
                read += 1;
            }
            Ok((_, Err(e))) => {
                let msg = e.to_string();
                assert!(!msg.is_empty() && msg.len() < 500, "{msg}");
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.is_empty() && msg.len() < 500, "{msg}");
            }
        }
        runs += 1;
    }
    eprintln!("snapshot fuzz: {runs} inputs, {read} read, seed {seed}");
}
