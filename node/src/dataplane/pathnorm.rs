//! Dot-segment normalisation of request paths (RFC 3986 §5.2.4), done before routing so that
//! neither the matcher nor a backend behind `{proxy+}` ever sees `.` or `..` segments.
//!
//! A segment counts as a dot segment also when its dots are percent-encoded (`%2e`), since a
//! backend may decode them before resolving the path. A path whose `..` segments would climb
//! above the root is refused (400) rather than clamped: no honest client sends one. So is a
//! path with a dot segment delimited by an encoded slash or a backslash (`..%2f`, `..\`),
//! which a backend might decode into a separator after we routed it.

/// Whether the path needs normalising at all (one pass over the bytes, no allocation).
fn has_dot_segment(path: &str) -> bool {
    path.split('/').skip(1).any(|s| dot_kind(s) != Dot::No)
}

#[derive(PartialEq, Eq)]
enum Dot {
    No,
    One,
    Two,
}

fn dot_kind(segment: &str) -> Dot {
    let b = segment.as_bytes();
    let mut dots = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'.' {
            i += 1;
        } else if b[i] == b'%'
            && b.get(i + 1) == Some(&b'2')
            && matches!(b.get(i + 2), Some(b'e' | b'E'))
        {
            i += 3;
        } else {
            return Dot::No;
        }
        dots += 1;
    }
    match dots {
        1 => Dot::One,
        2 => Dot::Two,
        _ => Dot::No,
    }
}

/// Why a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Its `..` segments climb above the root.
    AboveRoot,
    /// It has a dot segment delimited by `%2f`, `%5c` or `\\`.
    HiddenDotSegment,
}

/// Whether the path has a separator a backend might make of an escape or a backslash.
fn has_odd_separator(path: &str) -> bool {
    path.contains('\\')
        || path.as_bytes().windows(3).any(|w| {
            w[0] == b'%'
                && (w[1..].eq_ignore_ascii_case(b"2f") || w[1..].eq_ignore_ascii_case(b"5c"))
        })
}

/// Whether some segment is a dot segment when `\\`, `%2f` and `%5c` count as separators too.
fn hidden_dot_segment(path: &str) -> bool {
    let b = path.as_bytes();
    let (mut seg_start, mut i) = (0, 0);
    while i <= b.len() {
        let sep = if i == b.len() || b[i] == b'/' || b[i] == b'\\' {
            1
        } else if b[i] == b'%'
            && b.get(i + 1..i + 3)
                .is_some_and(|x| x.eq_ignore_ascii_case(b"2f") || x.eq_ignore_ascii_case(b"5c"))
        {
            3
        } else {
            0
        };
        if sep == 0 {
            i += 1;
            continue;
        }
        // Separators are ASCII, so both ends are character boundaries.
        if dot_kind(&path[seg_start..i]) != Dot::No {
            return true;
        }
        i += sep;
        seg_start = i;
    }
    false
}

/// Normalises `path` (which starts with `/`). `Ok(None)`: it has no dot segments, use it as
/// it is. `Ok(Some(p))`: the normalised path, written into `scratch`.
pub fn normalise<'s>(path: &str, scratch: &'s mut String) -> Result<Option<&'s str>, PathError> {
    // Every dot segment has a `.` or a `%2e` in it: most paths are passed on this test alone.
    if !path.contains(['.', '%']) {
        return Ok(None);
    }
    if has_odd_separator(path) && hidden_dot_segment(path) {
        return Err(PathError::HiddenDotSegment);
    }
    if !has_dot_segment(path) {
        return Ok(None);
    }
    scratch.clear();
    let segments = path.split('/').skip(1);
    let count = segments.clone().count();
    for (i, seg) in segments.enumerate() {
        let last = i + 1 == count;
        match dot_kind(seg) {
            Dot::One => {
                if last {
                    scratch.push('/');
                }
            }
            Dot::Two => {
                let cut = scratch.rfind('/').ok_or(PathError::AboveRoot)?;
                scratch.truncate(cut);
                if last {
                    scratch.push('/');
                }
            }
            Dot::No => {
                scratch.push('/');
                scratch.push_str(seg);
            }
        }
    }
    if scratch.is_empty() {
        scratch.push('/');
    }
    Ok(Some(scratch))
}

#[cfg(test)]
mod tests {
    use super::{normalise, PathError};

    fn norm(p: &str) -> Result<String, PathError> {
        let mut s = String::new();
        Ok(normalise(p, &mut s)?.map_or_else(|| p.to_string(), str::to_string))
    }

    #[test]
    fn dot_segments_are_resolved_or_refused() {
        assert_eq!(norm("/a/b"), Ok("/a/b".into()));
        assert_eq!(norm("/a/./b"), Ok("/a/b".into()));
        assert_eq!(norm("/a/b/../c"), Ok("/a/c".into()));
        assert_eq!(norm("/a/b/.."), Ok("/a/".into()));
        assert_eq!(norm("/a/."), Ok("/a/".into()));
        assert_eq!(norm("/.."), Err(PathError::AboveRoot));
        assert_eq!(norm("/a/../../etc/passwd"), Err(PathError::AboveRoot));
        assert_eq!(
            norm("/a/%2e%2E/%2e%2e/etc/passwd"),
            Err(PathError::AboveRoot)
        );
        assert_eq!(norm("/a/%2e/b"), Ok("/a/b".into()));
        // Dots inside a segment are just characters.
        assert_eq!(
            norm("/a/..b/c.d/.../x%2e"),
            Ok("/a/..b/c.d/.../x%2e".into())
        );
        assert_eq!(norm("/"), Ok("/".into()));
        assert_eq!(norm("//a/../b"), Ok("//b".into()));
        // Dot segments behind encoded separators or backslashes are refused outright.
        for p in [
            "/a/..%2f..%2fetc/passwd",
            "/a/..%5C..%5cetc",
            "/a\\..\\..\\etc",
            "/a%2F%2e%2E",
        ] {
            assert_eq!(norm(p), Err(PathError::HiddenDotSegment), "{p}");
        }
        // Encoded separators without dot segments are left alone.
        assert_eq!(norm("/a%2Fb/c.d"), Ok("/a%2Fb/c.d".into()));
    }
}
