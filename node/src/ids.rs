//! Minting the random identifiers the admin API hands out (AWS-shaped).

use rand::Rng;

const ALPHANUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A random lowercase alphanumeric identifier of `len` characters (REST API ids are 10 long,
/// resource and deployment ids 6, API keys 10).
pub fn random_id(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHANUM[rng.gen_range(0..ALPHANUM.len())] as char)
        .collect()
}

/// An identifier of `len` lowercase alphanumerics (at most 32) spelled from `digest` (a
/// hash), for ids that must come out the same when a request is run again (see
/// `admin::ops::mint_id`).
pub fn id_from_digest(digest: &[u8; 32], len: usize) -> String {
    digest
        .iter()
        .take(len)
        .map(|b| ALPHANUM[usize::from(*b) % ALPHANUM.len()] as char)
        .collect()
}

/// A random secret of `len` characters from `[A-Za-z0-9]` (admin secret keys, API key values).
pub fn random_secret(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Seconds since the Unix epoch, from the system clock.
pub fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_asked_shape() {
        let a = random_id(10);
        assert_eq!(a.len(), 10);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_ne!(random_id(10), random_id(10));
        assert_eq!(random_secret(40).len(), 40);
    }
}
