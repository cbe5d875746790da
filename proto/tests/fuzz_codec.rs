//! Fuzzing of the command codec on the stable toolchain: a seeded mutation loop over encoded
//! commands (bit flips, byte changes, cuts, insertions, and length fields set huge). Decoding
//! must never panic, must refuse with a short message or give a value that encodes back to
//! the same value, and must never make a giant allocation because a length field says so.
//!
//! Runs for about two seconds in `cargo test`; `TOLLGATE_FUZZ_SECS=N` runs longer and
//! `TOLLGATE_FUZZ_SEED=N` replays a seed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tollgate_proto::codec;
use tollgate_proto::command::{Command, LimitDemand, Scope, UsageDelta};
use tollgate_proto::model::*;

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

fn seeds() -> Vec<Command> {
    let method = Method {
        http_method: "GET".into(),
        authorization_type: tollgate_proto::model::AuthorizationType::None,
        request_parameters: BTreeMap::from([("method.request.path.id".into(), true)]),
        integration: Some(Integration {
            kind: IntegrationType::HttpProxy,
            uri: Some("http://127.0.0.1:1/{id}".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![
        Command::CreateRestApi {
            id: "abc".into(),
            root_resource_id: "r".into(),
            settings: RestApiSettings {
                name: "orders".into(),
                tags: BTreeMap::from([("k".into(), "v".into())]),
                ..Default::default()
            },
            created_date: 17,
            clone_from: None,
        },
        Command::PutMethod {
            api_id: "abc".into(),
            resource_id: "r".into(),
            method,
        },
        Command::ReportLoad {
            node_id: 2,
            seq: 41,
            at_ms: 1_764_600_000_123,
            deltas: vec![UsageDelta {
                key_id: "k1".into(),
                count: 12,
            }],
            interval_ms: 250,
            demand: vec![LimitDemand {
                limit_id: 7,
                requests: 3000,
            }],
        },
        Command::IfUnchanged {
            guards: vec![(Scope::UsagePlan("p1".into()), 7)],
            command: Box::new(Command::DeleteUsagePlanKey {
                plan_id: "p1".into(),
                key_id: "k1".into(),
            }),
        },
    ]
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

/// The largest allocation a decode may make: serde preallocates at most 1 MiB for a sequence,
/// whatever its length field says.
const ALLOCATION_CAP: usize = 2 << 20;

#[test]
fn decoding_mutated_commands_never_panics_or_allocates_from_a_length_field() {
    let (time, seed) = budget();
    let mut rng = Rng(seed);
    let seeds: Vec<Vec<u8>> = seeds().iter().map(codec::encode).collect();
    let until = Instant::now() + time;
    let (mut runs, mut refused) = (0u64, 0u64);
    while Instant::now() < until || runs < 1000 {
        let mut bytes = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(4) {
            if bytes.is_empty() {
                break;
            }
            mutate(&mut rng, &mut bytes);
        }
        LARGEST.store(0, Ordering::Relaxed);
        WATCH.store(1, Ordering::Relaxed);
        let decoded = codec::decode::<Command>(&bytes);
        WATCH.store(0, Ordering::Relaxed);
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(
            largest <= ALLOCATION_CAP,
            "seed {seed} run {runs}: a {largest}-byte allocation decoding {} bytes",
            bytes.len()
        );
        match decoded {
            Ok(cmd) => {
                let again: Command = codec::decode(&codec::encode(&cmd)).unwrap();
                assert_eq!(again, cmd, "seed {seed} run {runs}");
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.is_empty() && msg.len() < 500, "{msg}");
                refused += 1;
            }
        }
        runs += 1;
    }
    eprintln!("codec fuzz: {runs} inputs, {refused} refused, seed {seed}");
}
