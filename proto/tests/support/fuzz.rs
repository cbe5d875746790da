//! The seeded mutation harness shared by the decoding fuzz targets (`proto/tests/fuzz_codec.rs`,
//! `consensus/tests/fuzz_decode.rs`, which include this file): a global allocator that records
//! the largest single allocation while watched, SplitMix64, the mutations and the run budget.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

/// Records the largest single allocation a thread makes while it is watched (per thread, so
/// tests running in parallel do not see each other's allocations).
struct Tracking;

thread_local! {
    /// Whether this thread is watched, and the largest allocation seen since.
    static WATCH: Cell<(bool, usize)> = const { Cell::new((false, 0)) };
}

fn record(size: usize) {
    // `try_with`: a thread being torn down has no slot any more; it is not watched then.
    let _ = WATCH.try_with(|w| {
        let (on, largest) = w.get();
        if on && size > largest {
            w.set((true, size));
        }
    });
}

// SAFETY: forwards every call to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller's layout contract is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

/// SplitMix64: the only randomness, so a seed replays a run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `bytes` (never empty afterwards unless cut to nothing on purpose).
pub fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    let at = rng.below(bytes.len());
    match rng.below(7) {
        0 => bytes[at] ^= 1 << rng.below(8),
        1 => bytes[at] = rng.next() as u8,
        2 => bytes.truncate(at),
        3 => bytes.insert(at, rng.next() as u8),
        4 => {
            bytes.remove(at);
        }
        // A length set huge: bincode's u32 and u64 varint markers with all bits set, and
        // MessagePack's 32-bit array, map and string lengths.
        5 => {
            let marker: &[u8] = match rng.below(5) {
                0 => &[252, 0xff, 0xff, 0xff, 0x7f],
                1 => &[253, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f],
                2 => &[0xdd, 0xff, 0xff, 0xff, 0xff],
                3 => &[0xdf, 0x7f, 0xff, 0xff, 0xff],
                _ => &[0xdb, 0xff, 0xff, 0xff, 0xf0],
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

/// How long to run and the seed: `TOLLGATE_FUZZ_SECS` (default 2) and `TOLLGATE_FUZZ_SEED`.
pub fn budget() -> (Duration, u64) {
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

/// The largest allocation one decode may make besides copying its input: serde preallocates
/// at most 1 MiB for a sequence, whatever its length field says.
pub const ALLOCATION_CAP: usize = 2 << 20;

/// Runs `f` and returns its result with the largest single allocation it made.
pub fn watched<T>(f: impl FnOnce() -> T) -> (T, usize) {
    WATCH.with(|w| w.set((true, 0)));
    let out = f();
    let (_, largest) = WATCH.with(|w| w.replace((false, 0)));
    (out, largest)
}
