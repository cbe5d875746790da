//! Character rules for HTTP header names and values (RFC 9110), shared by the admin API, which
//! refuses configuration that breaks them, and the data plane's compiler, which refuses it again
//! for state written before the admin API checked (an old log can still hold it).

/// Whether `s` is a header field name: a non-empty token (`tchar`s only).
pub fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `s` is a header field value: no control character but horizontal tab (so no CR,
/// LF or NUL, which would end the header line or the head early), no DEL.
pub fn is_header_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Whether `s` holds a control character (C0, DEL or C1).
pub fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_tokens() {
        for ok in ["X-Mock", "a", "x!#$%&'*+-.^_`|~9"] {
            assert!(is_header_name(ok), "{ok}");
        }
        for bad in ["", "X Mock", "X:a", "X\r\nY", "X\0", "é", "(x)", "x/y"] {
            assert!(!is_header_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn header_values_have_no_line_breaks_or_controls() {
        for ok in ["", "a b", "a\tb", "naïve", "'quoted'"] {
            assert!(is_header_value(ok), "{ok}");
        }
        for bad in ["a\r\nb", "a\nb", "a\rb", "a\0b", "a\x7fb", "a\x1bb"] {
            assert!(!is_header_value(bad), "{bad:?}");
        }
        assert!(has_control("a\u{85}b"));
        assert!(!has_control("a b"));
    }
}
