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
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tollgate_consensus::raft::log_store::{decode_entry, encode_entry};
use tollgate_consensus::raft::state_machine::{
    decode_file, decode_snapshot_data, encode_file, encode_snapshot_data,
};
use tollgate_consensus::raft::TypeConfig;
use tollgate_proto::{Command, Registry};

/// Records the largest single allocation made while [`WATCH`] is on.
struct Tracking;

static LARGEST: AtomicUsize = AtomicUsize::new(0);
static WATCH: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCH.load(Ordering::Relaxed) != 0 {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: the caller's layout contract is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if WATCH.load(Ordering::Relaxed) != 0 {
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
        }
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

/// SplitMix64: the only randomness, so a seed replays a run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `bytes` (never empty afterwards unless cut to nothing on purpose).
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    let at = rng.below(bytes.len());
    match rng.below(7) {
        0 => bytes[at] ^= 1 << rng.below(8),
        1 => bytes[at] = rng.next() as u8,
        2 => bytes.truncate(at),
        3 => bytes.insert(at, rng.next() as u8),
        4 => {
            bytes.remove(at);
        }
        // A varint length set huge: bincode's u32 and u64 markers with all bits set.
        5 => {
            let marker: &[u8] = if rng.below(2) == 0 {
                &[252, 0xff, 0xff, 0xff, 0x7f]
            } else {
                &[253, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]
            };
            bytes.splice(at..at, marker.iter().copied());
        }
        _ => {
            let len = rng.below(8).min(bytes.len() - at);
            let src = rng.below(bytes.len());
            let chunk: Vec<u8> = bytes[src..].iter().take(len).copied().collect();
            bytes.splice(at..at + chunk.len(), chunk);
        }
    }
}

fn budget() -> (Duration, u64) {
    let secs = std::env::var("TOLLGATE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let seed = std::env::var("TOLLGATE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x7011_6a7e);
    (Duration::from_secs(secs), seed)
}

/// The largest allocation one read may make besides copying its input: serde preallocates at
/// most 1 MiB for a sequence, whatever its length field says.
const ALLOCATION_CAP: usize = 2 << 20;

fn watched<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.store(0, Ordering::Relaxed);
    WATCH.store(1, Ordering::Relaxed);
    let out = f();
    WATCH.store(0, Ordering::Relaxed);
    (out, LARGEST.load(Ordering::Relaxed))
}

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
    let until = Instant::now() + time;
    let (mut runs, mut read) = (0u64, 0u64);
    while Instant::now() < until || runs < 300 {
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
                assert!(fix || bytes == file, "seed {seed} run {runs}: damage read");
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
