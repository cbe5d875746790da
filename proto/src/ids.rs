//! Identifier helpers that must give the same answer on every node.

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A `len`-character lowercase alphanumeric id derived from `scope` and `old`, the same on
/// every node (FNV-1a, extended by re-hashing). Used where the state machine itself must mint
/// ids, such as the resources of a cloned API.
pub fn derived_id(scope: &str, old: &str, len: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let feed = |bytes: &[u8], h: &mut u64| {
        for &b in bytes {
            *h ^= u64::from(b);
            *h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(scope.as_bytes(), &mut h);
    feed(&[0], &mut h);
    feed(old.as_bytes(), &mut h);
    let mut out = String::with_capacity(len);
    let mut x = h;
    for i in 0..len {
        if i % 12 == 11 {
            feed(&[i as u8], &mut h);
            x = h;
        }
        out.push(ALPHABET[(x % 36) as usize] as char);
        x /= 36;
    }
    out
}

/// Whether `s` looks like an id this system mints (lowercase alphanumerics, 1..=64 long).
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let a = derived_id("api2", "res1", 10);
        assert_eq!(a, derived_id("api2", "res1", 10));
        assert_ne!(a, derived_id("api2", "res2", 10));
        assert_ne!(a, derived_id("api3", "res1", 10));
        assert_eq!(a.len(), 10);
        assert!(is_valid_id(&a));
        assert_eq!(derived_id("x", "y", 30).len(), 30);
    }
}
