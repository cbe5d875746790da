//! A seeded mutation fuzzer for `cargo test` on the stable toolchain: inputs are grown from a
//! corpus of valid examples by random byte-level and token-level mutations, each iteration
//! from its own seed, so a failure names the seed and iteration that reproduce it.
//!
//! Each target runs for [`budget`]: two seconds by default, or `TOLLGATE_FUZZ_SECS` seconds
//! (e.g. `TOLLGATE_FUZZ_SECS=600 cargo test -p tollgate-node --lib fuzz`). The base seed is
//! fixed, or `TOLLGATE_FUZZ_SEED`.

mod admin_http;
mod iam;
mod sigv4;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

/// How long each target runs.
pub fn budget() -> Duration {
    std::env::var("TOLLGATE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(Duration::from_secs(2), Duration::from_secs_f64)
}

fn base_seed() -> u64 {
    std::env::var("TOLLGATE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0x7011_6a7e)
}

/// Runs `one` with a fresh generator per iteration until the budget is spent (at least
/// `min_iterations` times). A panic is reported with the seed and iteration, then re-raised.
/// Returns the number of iterations run.
pub fn run(name: &str, min_iterations: u64, mut one: impl FnMut(&mut Mutator)) -> u64 {
    let seed = base_seed();
    let deadline = Instant::now() + budget();
    let mut iteration = 0u64;
    while iteration < min_iterations || Instant::now() < deadline {
        let mut m = Mutator::new(seed ^ iteration.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| one(&mut m)));
        if let Err(panic) = result {
            eprintln!(
                "fuzz target {name} failed: TOLLGATE_FUZZ_SEED={seed}, iteration {iteration}"
            );
            std::panic::resume_unwind(panic);
        }
        iteration += 1;
    }
    eprintln!("fuzz target {name}: {iteration} iterations");
    iteration
}

/// Bytes that often break parsers: delimiters of JSON, URLs, headers and JSON pointers,
/// line breaks, NUL, high bytes.
const INTERESTING: &[u8] = b"\0\r\n\t \"'\\{}[],:;=&?%/~+*.-_0@#\x7f\xff\xc3";

/// Generates mutations of example inputs.
pub struct Mutator {
    /// The iteration's generator (targets draw their own choices from it too).
    pub rng: StdRng,
}

impl Mutator {
    fn new(seed: u64) -> Mutator {
        Mutator {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.gen_range(0..items.len())]
    }

    /// `input` with one to eight mutations, some of them inserting `tokens`.
    pub fn mutate(&mut self, input: &[u8], tokens: &[&str]) -> Vec<u8> {
        let mut out = input.to_vec();
        let rounds = self.rng.gen_range(1..=8);
        for _ in 0..rounds {
            self.mutate_once(&mut out, tokens);
        }
        out
    }

    /// As [`Mutator::mutate`], as text (invalid UTF-8 replaced), for APIs that take `&str`.
    pub fn mutate_str(&mut self, input: &str, tokens: &[&str]) -> String {
        String::from_utf8_lossy(&self.mutate(input.as_bytes(), tokens)).into_owned()
    }

    fn pos(&mut self, len: usize) -> usize {
        self.rng.gen_range(0..=len)
    }

    fn mutate_once(&mut self, out: &mut Vec<u8>, tokens: &[&str]) {
        let len = out.len();
        match self.rng.gen_range(0..10) {
            0 if len > 0 => {
                let i = self.rng.gen_range(0..len);
                out[i] ^= 1 << self.rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = self.rng.gen_range(0..len);
                out[i] = *self.pick(INTERESTING);
            }
            2 => {
                let i = self.pos(len);
                let b = if self.rng.gen_bool(0.5) {
                    *self.pick(INTERESTING)
                } else {
                    self.rng.gen()
                };
                out.insert(i, b);
            }
            3 if len > 0 => {
                let a = self.rng.gen_range(0..len);
                let b = self.rng.gen_range(a..=len.min(a + 16));
                out.drain(a..b);
            }
            4 if len > 0 => {
                let a = self.rng.gen_range(0..len);
                let b = self.rng.gen_range(a..=len.min(a + 32));
                let piece = out[a..b].to_vec();
                let at = self.pos(len);
                out.splice(at..at, piece);
            }
            5 | 6 if !tokens.is_empty() => {
                let t = self.pick(tokens).as_bytes().to_vec();
                let at = self.pos(len);
                out.splice(at..at, t);
            }
            7 if len > 0 => {
                let at = self.rng.gen_range(0..len);
                out.truncate(at);
            }
            8 => {
                // A long run: sizes past every limit.
                let n = *self.pick(&[64usize, 129, 513, 1025, 4097, 70_000]);
                let b = *self.pick(b"a0%{[\\");
                let at = self.pos(len);
                out.splice(at..at, std::iter::repeat_n(b, n));
            }
            _ => {
                let i = self.pos(len);
                let n = self.rng.gen_range(1..=4);
                for _ in 0..n {
                    let b = self.rng.gen();
                    out.insert(i, b);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_reproducible_and_vary() {
        let a = Mutator::new(7).mutate(b"{\"a\":1}", &["x"]);
        let b = Mutator::new(7).mutate(b"{\"a\":1}", &["x"]);
        assert_eq!(a, b);
        let distinct: std::collections::BTreeSet<Vec<u8>> = (0..50)
            .map(|s| Mutator::new(s).mutate(b"{\"a\":1}", &["x"]))
            .collect();
        assert!(distinct.len() > 40);
    }
}
