//! `$util`'s functions, with the Java behaviour AWS's reference describes.

use base64::Engine as _;
use std::fmt::Write as _;

/// `$util.escapeJavaScript`: Apache Commons Lang 2's `escapeJavaScript`, which AWS uses.
/// Quotes (both kinds), backslash and `/` get a backslash; control characters their short
/// escapes or `\uXXXX`; every character above U+007F is written `\uXXXX` (UTF-16 units,
/// upper-case hex). AWS's reference warns the result is not always valid JSON (`\'`).
pub fn escape_javascript(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c if (c as u32) > 0x7f => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{:04X}", u);
                }
            }
            c => out.push(c),
        }
    }
}

/// `$util.urlEncode`: Java's `URLEncoder.encode(s, "UTF-8")`: letters, digits and `.-*_`
/// stay, a space becomes `+`, every other byte `%XX`.
pub fn url_encode(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

/// `$util.urlDecode`: Java's `URLDecoder.decode(s, "UTF-8")`: `+` is a space, `%XX` a byte.
/// A malformed escape is an error (Java throws); invalid UTF-8 becomes U+FFFD.
pub fn url_decode(s: &str) -> Result<String, &'static str> {
    let b = s.as_bytes();
    let mut bytes = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => {
                bytes.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("urlDecode: incomplete or invalid % escape")?;
                bytes.push(hex);
                i += 3;
            }
            c => {
                bytes.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `$util.base64Encode` of the string's UTF-8 bytes.
pub fn base64_encode(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// `$util.base64Decode`: the decoded bytes as text (invalid UTF-8 becomes U+FFFD); padding
/// optional. Malformed input is an error.
pub fn base64_decode(s: &str) -> Result<String, &'static str> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine
        .decode(s.trim().as_bytes())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|_| "base64Decode: not valid base64")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_semantics() {
        let mut s = String::new();
        escape_javascript("it's \"q\" a/b\\ \n é", &mut s);
        assert_eq!(s, r#"it\'s \"q\" a\/b\\ \n \u00E9"#);
        let mut s = String::new();
        url_encode("a b&c=d/é*~", &mut s);
        assert_eq!(s, "a+b%26c%3Dd%2F%C3%A9*%7E");
        assert_eq!(url_decode("a+b%26%C3%A9").unwrap(), "a b&é");
        assert!(url_decode("%G1").is_err());
        assert!(url_decode("%4").is_err());
        assert_eq!(base64_encode("hello"), "aGVsbG8=");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), "hello");
        assert!(base64_decode("***").is_err());
    }
}
