//! Content type conversions: how a payload's bytes change between the client and the
//! integration, from the API's `binaryMediaTypes`, the request's `Content-Type` (requests) or
//! first `Accept` media type (answers), and the `contentHandling` of the integration
//! (requests) or integration response (answers). The two tables reproduced here are AWS's
//! "Content type conversions in API Gateway"
//! (<https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings-workflow.html>);
//! [`request`] and [`response`] are those tables, row for row, and the tests walk them.
//!
//! "Binary" means the media type matches one of the API's binary media types (see
//! [`is_binary`]); with none configured nothing is binary, which is how the tables' rows
//! with `binaryMediaTypes` undefined come out.

use super::routing::RenderedResponse;
use base64::Engine;
use std::borrow::Cow;

pub use super::lambda::is_binary;

/// An integration's or integration response's `contentHandling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Handling {
    /// Unset: passthrough (requests); what the client's `Accept` asks (answers).
    #[default]
    Passthrough,
    /// `CONVERT_TO_BINARY`: a text payload is read as base64 and decoded.
    ToBinary,
    /// `CONVERT_TO_TEXT`: a binary payload is base64-encoded.
    ToText,
}

impl Handling {
    /// Reads the stored value (the admin API lets only the two names in).
    pub fn of(v: Option<&str>) -> Handling {
        match v {
            Some("CONVERT_TO_BINARY") => Handling::ToBinary,
            Some("CONVERT_TO_TEXT") => Handling::ToText,
            _ => Handling::Passthrough,
        }
    }
}

/// What happens to the payload's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convert {
    /// Passed as they are.
    Keep,
    /// Read as a base64 string and decoded ("Base64-decoded binary blob").
    Decode,
    /// Base64-encoded ("Base64-encoded string").
    Encode,
}

/// The request table: the method request's payload is `binary` when its `Content-Type` is a
/// binary media type.
pub fn request(binary: bool, h: Handling) -> Convert {
    match (binary, h) {
        (false, Handling::ToBinary) => Convert::Decode,
        (true, Handling::ToText) => Convert::Encode,
        _ => Convert::Keep,
    }
}

/// The response table: the integration's answer is `binary` when its content type is a binary
/// media type; the client wants binary (`accept_binary`) when the first media type of its
/// `Accept` header is one (AWS honours only the first).
pub fn response(binary: bool, accept_binary: bool, h: Handling) -> Convert {
    match (h, binary, accept_binary) {
        (Handling::ToBinary, false, _) => Convert::Decode,
        (Handling::ToText, true, _) => Convert::Encode,
        (Handling::Passthrough, false, true) => Convert::Decode,
        (Handling::Passthrough, true, false) => Convert::Encode,
        _ => Convert::Keep,
    }
}

/// The first media type of an `Accept` header (parameters dropped), as AWS reads it.
pub fn first_accept(accept: Option<&[u8]>) -> &str {
    let first = accept
        .and_then(|a| a.split(|&b| b == b',').next())
        .and_then(|m| m.split(|&b| b == b';').next())
        .unwrap_or_default();
    std::str::from_utf8(first.trim_ascii()).unwrap_or("")
}

/// The client's first `Accept` media type is a binary one.
pub fn accepts_binary(accept: Option<&[u8]>, types: &[Box<str>]) -> bool {
    !types.is_empty() && is_binary(first_accept(accept), types)
}

/// A text payload that should have been base64 and is not: AWS answers 500 (an API
/// configuration error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotBase64;

/// Carries a conversion out; borrows when the bytes stay as they are. Base64 text is read
/// with surrounding whitespace trimmed (a template's trailing newline).
pub fn apply(c: Convert, body: &[u8]) -> Result<Cow<'_, [u8]>, NotBase64> {
    let b64 = base64::engine::general_purpose::STANDARD;
    match c {
        Convert::Keep => Ok(Cow::Borrowed(body)),
        Convert::Encode => Ok(Cow::Owned(b64.encode(body).into_bytes())),
        Convert::Decode => b64
            .decode(body.trim_ascii())
            .map(Cow::Owned)
            .map_err(|_| NotBase64),
    }
}

/// The `Content-Type` among an answer's header lines (`Name: value\r\n` each).
pub fn header_block_type(block: &[u8]) -> &str {
    block
        .split(|&b| b == b'\n')
        .find_map(|l| {
            let colon = l.iter().position(|&b| b == b':')?;
            l[..colon]
                .eq_ignore_ascii_case(b"content-type")
                .then(|| l[colon + 1..].trim_ascii())
        })
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or("")
}

/// Converts a mapped answer (a MOCK's or an HTTP integration's) as the response table says:
/// `payload_type` is the integration's answer's content type, `accept` the client's header,
/// `handling` the selected integration response's. Costs nothing when the API has no binary
/// media types and the response no `contentHandling`.
pub fn convert_answer<'t>(
    answer: Cow<'t, RenderedResponse>,
    payload_type: Option<&str>,
    accept: Option<&[u8]>,
    types: &[Box<str>],
    handling: Handling,
) -> Result<Cow<'t, RenderedResponse>, NotBase64> {
    if types.is_empty() && handling == Handling::Passthrough {
        return Ok(answer);
    }
    let payload_type = payload_type.unwrap_or_else(|| header_block_type(&answer.header_block));
    let binary = is_binary(payload_type, types);
    match response(binary, accepts_binary(accept, types), handling) {
        Convert::Keep => Ok(answer),
        c => {
            let body = apply(c, &answer.body)?.into_owned();
            let mut answer = answer;
            answer.to_mut().body = body.into();
            Ok(answer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Convert::*;
    use Handling::*;

    /// AWS's request table, row for row ("Content type conversions in API Gateway"): method
    /// request payload binary?, binaryMediaTypes set?, contentHandling, what the integration
    /// gets.
    #[test]
    fn aws_request_conversion_table() {
        let rows = [
            // Text data, any type, binaryMediaTypes undefined.
            (false, Passthrough, Keep),
            (false, ToBinary, Decode),
            (false, ToText, Keep),
            // Text data, a text type, binaryMediaTypes set with matching types.
            (false, Passthrough, Keep),
            (false, ToBinary, Decode),
            (false, ToText, Keep),
            // Binary data, a binary type.
            (true, Passthrough, Keep),
            (true, ToBinary, Keep),
            (true, ToText, Encode),
        ];
        for (binary, h, want) in rows {
            assert_eq!(request(binary, h), want, "{binary} {h:?}");
        }
    }

    /// AWS's response table, row for row: integration response payload binary?, the first
    /// `Accept` type binary?, contentHandling, what the client gets.
    #[test]
    fn aws_response_conversion_table() {
        let rows = [
            // Text or binary data, a text type, binaryMediaTypes undefined (nothing is binary).
            (false, false, Passthrough, Keep),
            (false, false, ToBinary, Decode),
            (false, false, ToText, Keep),
            // binaryMediaTypes set with matching media types:
            (false, false, Passthrough, Keep),
            (false, false, ToBinary, Decode),
            (false, false, ToText, Keep),
            (false, true, Passthrough, Decode),
            (false, true, ToBinary, Decode),
            (false, true, ToText, Keep),
            (true, false, Passthrough, Encode),
            (true, false, ToBinary, Keep),
            (true, false, ToText, Encode),
            (true, true, Passthrough, Keep),
            (true, true, ToBinary, Keep),
            (true, true, ToText, Encode),
        ];
        for (binary, accept, h, want) in rows {
            assert_eq!(response(binary, accept, h), want, "{binary} {accept} {h:?}");
        }
    }

    #[test]
    fn only_the_first_accept_type_counts() {
        let types: Vec<Box<str>> = vec!["image/*".into()];
        assert!(accepts_binary(
            Some(b"image/webp,image/*,*/*;q=0.8"),
            &types
        ));
        assert!(!accepts_binary(Some(b"text/html, image/png"), &types));
        assert!(accepts_binary(Some(b" image/png ; q=1"), &types));
        assert!(!accepts_binary(None, &types));
        assert!(!accepts_binary(Some(b"image/png"), &[]));
        let all: Vec<Box<str>> = vec!["*/*".into()];
        assert!(accepts_binary(Some(b"application/json"), &all));
        assert_eq!(Handling::of(Some("CONVERT_TO_TEXT")), ToText);
        assert_eq!(Handling::of(Some("CONVERT_TO_BINARY")), ToBinary);
        assert_eq!(Handling::of(None), Passthrough);
    }

    #[test]
    fn conversions_carry_bytes_exactly() {
        let png = b"\x89PNG\r\n\x1a\n\x00\x01\xff";
        assert_eq!(&*apply(Keep, png).unwrap(), png);
        let text = apply(Encode, png).unwrap();
        assert_eq!(&*text, b"iVBORw0KGgoAAf8=");
        assert_eq!(&*apply(Decode, b"iVBORw0KGgoAAf8=\n").unwrap(), png);
        assert_eq!(apply(Decode, b"not base64!"), Err(NotBase64));
    }
}
