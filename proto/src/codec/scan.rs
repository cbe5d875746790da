//! A structural check of MessagePack bytes before they are decoded: exactly one value, nested
//! at most [`MAX_DEPTH`] deep, no extension types, and no length that claims more than the
//! bytes left.
//!
//! Why: the decoder preallocates a container from its declared length (serde caps that at
//! 1 MiB per container), and a damaged length could claim billions of elements in a few bytes.
//! After this check every string, byte string, array and map claims at most as many bytes or
//! elements as remain in the input (each element takes at least one byte). A container that
//! decodes completely holds as many elements as it declared, so the only memory a damaged
//! length can add is the preallocation of the containers still open when decoding fails: for
//! each, at most the bytes left times its element's size (and 1 MiB). The model nests only a
//! few vectors, so that is bounded by a small multiple of the input, as bincode's
//! `LIMIT_FACTOR` bounded it before ([`crate::legacy::LIMIT_FACTOR`]).
//!
//! It walks with a fixed-size stack (no recursion, no allocation).

use super::DecodeError;

/// The deepest nesting accepted. The model nests about a dozen levels (a registry's API's
/// deployment's resource's method's integration's responses' templates); a command in a
/// `Once` in an `IfUnchanged` adds a few.
pub const MAX_DEPTH: usize = 64;

fn malformed(what: &str, at: usize) -> DecodeError {
    DecodeError::Malformed(format!("{what} at byte {at}"))
}

/// Reads a big-endian length of `n` bytes at `*pos`.
fn length(bytes: &[u8], pos: &mut usize, n: usize) -> Result<usize, DecodeError> {
    let end = pos
        .checked_add(n)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| malformed("truncated length", *pos))?;
    let mut v = 0usize;
    for &b in &bytes[*pos..end] {
        v = (v << 8) | usize::from(b);
    }
    *pos = end;
    Ok(v)
}

/// Checks that `bytes` hold one MessagePack value and nothing after it.
pub fn check(bytes: &[u8]) -> Result<(), DecodeError> {
    // Values still to read at each open level; level 0 is the top (one value).
    let mut pending = [0usize; MAX_DEPTH + 1];
    let mut depth = 0usize;
    pending[0] = 1;
    let mut pos = 0usize;
    loop {
        while pending[depth] == 0 {
            if depth == 0 {
                return match bytes.len() - pos {
                    0 => Ok(()),
                    n => Err(DecodeError::Trailing(n)),
                };
            }
            depth -= 1;
        }
        pending[depth] -= 1;
        let at = pos;
        let marker = *bytes
            .get(pos)
            .ok_or_else(|| malformed("truncated value", at))?;
        pos += 1;
        // (bytes to skip, elements of a new level)
        let (skip, items) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * usize::from(marker & 0x0f)),
            0x90..=0x9f => (0, usize::from(marker & 0x0f)),
            0xa0..=0xbf => (usize::from(marker & 0x1f), 0),
            0xc4 | 0xd9 => (length(bytes, &mut pos, 1)?, 0),
            0xc5 | 0xda => (length(bytes, &mut pos, 2)?, 0),
            0xc6 | 0xdb => (length(bytes, &mut pos, 4)?, 0),
            0xca => (4, 0),
            0xcb => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 => (4, 0),
            0xcf | 0xd3 => (8, 0),
            0xdc => (0, length(bytes, &mut pos, 2)?),
            0xdd => (0, length(bytes, &mut pos, 4)?),
            0xde => (0, length(bytes, &mut pos, 2)?.saturating_mul(2)),
            0xdf => (0, length(bytes, &mut pos, 4)?.saturating_mul(2)),
            // 0xc1 is never used; 0xc7–0xc9 and 0xd4–0xd8 are extension types, which no
            // model type writes.
            _ => return Err(malformed("unsupported MessagePack marker", at)),
        };
        let left = bytes.len() - pos;
        if skip > left || items > left {
            return Err(malformed("length beyond the input", at));
        }
        pos += skip;
        if items > 0 {
            if depth == MAX_DEPTH {
                return Err(malformed("nesting too deep", at));
            }
            depth += 1;
            pending[depth] = items;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(bytes: &[u8]) -> bool {
        check(bytes).is_ok()
    }

    #[test]
    fn accepts_values_and_refuses_what_is_wrong() {
        assert!(ok(&[0x01]));
        assert!(ok(&[0x92, 0x01, 0xa1, b'x'])); // [1, "x"]
        assert!(ok(&[0x81, 0xa1, b'k', 0xc0])); // {"k": nil}
        assert!(ok(&[0x90])); // []
        assert!(!ok(&[])); // nothing
        assert!(matches!(
            check(&[0x01, 0x02]),
            Err(DecodeError::Trailing(1))
        ));
        assert!(!ok(&[0x92, 0x01])); // an element missing
        assert!(!ok(&[0xa3, b'a'])); // a short string
        assert!(!ok(&[0xc1])); // never used
        assert!(!ok(&[0xd4, 0x01, 0x00])); // an extension
        assert!(!ok(&[0xcb, 0, 0])); // a short float
    }

    #[test]
    fn a_length_may_not_claim_more_than_the_bytes_left() {
        // An array of 2^32 - 1 elements, a map of 65 535 entries, a string of 4 GiB.
        assert!(!ok(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]));
        assert!(!ok(&[0xde, 0xff, 0xff, 0x01, 0x01]));
        assert!(!ok(&[0xdb, 0xff, 0xff, 0xff, 0xff, b'a']));
        // A map of two entries needs four values.
        assert!(!ok(&[0x82, 0x01, 0x01, 0x01]));
        assert!(ok(&[0x82, 0x01, 0x01, 0x01, 0x01]));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut deep = vec![0x91; MAX_DEPTH];
        deep.push(0x01);
        assert!(ok(&deep));
        let mut deeper = vec![0x91; MAX_DEPTH + 1];
        deeper.push(0x01);
        assert!(!ok(&deeper));
        // Far deeper than any stack would take: refused without recursion.
        let mut huge = vec![0x91; 1 << 20];
        huge.push(0x01);
        assert!(!ok(&huge));
    }
}
