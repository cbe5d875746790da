//! Lambda integrations, the parts with no I/O: which function an integration URI names
//! ([`arn`]); for proxy integrations (AWS_PROXY) the event a function receives ([`event`],
//! format 1.0) and how its answer becomes the client's ([`response`]); for AWS (non-proxy)
//! ones the request and response templates and how a function error selects an integration
//! response ([`mapped`]). The integration phases call these; the function
//! processes themselves are run by [`crate::functions`].

pub mod arn;
pub mod event;
pub mod mapped;
pub mod response;

/// Whether `content_type` (parameters ignored) is one of the API's binary media types
/// (`type/subtype`, `type/*` or `*/*`, case-insensitive).
pub fn is_binary(content_type: &str, binary_media_types: &[Box<str>]) -> bool {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let Some((ty, sub)) = ct.split_once('/') else {
        return false;
    };
    binary_media_types.iter().any(|b| {
        let Some((bt, bs)) = b.split_once('/') else {
            return false;
        };
        (bt == "*" || bt.eq_ignore_ascii_case(ty)) && (bs == "*" || bs.eq_ignore_ascii_case(sub))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_media_types_match_exactly_or_by_wildcard() {
        let types: Vec<Box<str>> = vec!["image/png".into(), "application/*".into()];
        assert!(is_binary("image/png", &types));
        assert!(is_binary("Image/PNG; charset=x", &types));
        assert!(is_binary("application/octet-stream", &types));
        assert!(!is_binary("image/jpeg", &types));
        assert!(!is_binary("", &types));
        assert!(is_binary("text/plain", &["*/*".into()]));
    }
}
