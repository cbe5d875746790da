//! Sizes and characters of the text the admin API stores: names, descriptions, tags, header
//! names and values, mapping expressions and templates. Each check refuses with
//! `BadRequestException`, naming what is wrong.
//!
//! AWS's stated limits are used where AWS states one (tags: at most 50, keys 1–128 characters
//! not starting with `aws:`, values up to 256; stage variables: at most 100, names up to 64
//! characters; mapping templates up to 300 KB). Where AWS states none, a bound is picked so that
//! no single value can bloat the replicated log: 1024 characters for names and other
//! identifiers, 4096 for descriptions, 1024 for a resource path part and for a mapping
//! expression or selection pattern. Names and identifiers hold no control character;
//! descriptions may hold tabs and line breaks but no other control character.

use super::error::ApiError;
use crate::text_rules::{has_control, is_header_name, is_header_value};
use std::collections::BTreeMap;

/// Longest name or identifier-like text (API, key, plan and operation names, versions,
/// customer ids, media types).
pub const MAX_NAME_CHARS: usize = 1024;
/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;
/// Longest resource path part.
pub const MAX_PATH_PART_CHARS: usize = 1024;
/// Longest mapping expression, parameter name or selection pattern.
pub const MAX_EXPRESSION_CHARS: usize = 1024;
/// Longest integration URI (AWS's longest request URL).
pub const MAX_URI_CHARS: usize = 8192;
/// Largest mapping template, bytes (as AWS).
pub const MAX_TEMPLATE_BYTES: usize = 300 * 1024;
/// Most tags on one resource (as AWS).
pub const MAX_TAGS: usize = 50;
/// Longest tag key (as AWS).
pub const MAX_TAG_KEY_CHARS: usize = 128;
/// Longest tag value (as AWS).
pub const MAX_TAG_VALUE_CHARS: usize = 256;
/// Most stage variables on one stage (as AWS).
pub const MAX_STAGE_VARIABLES: usize = 100;
/// Longest stage variable name (as AWS).
pub const MAX_STAGE_VARIABLE_NAME_CHARS: usize = 64;

fn too_long(what: &str, max: usize) -> ApiError {
    ApiError::bad_request(format!("{what} must be at most {max} characters long"))
}

/// A name or identifier-like value: at most `max` characters, no control character.
pub fn check_text(what: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.chars().count() > max {
        return Err(too_long(what, max));
    }
    if has_control(value) {
        return Err(ApiError::bad_request(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(())
}

/// A name: at most [`MAX_NAME_CHARS`], no control character.
pub fn check_name(what: &str, value: &str) -> Result<(), ApiError> {
    check_text(what, value, MAX_NAME_CHARS)
}

/// An optional name.
pub fn check_opt_name(what: &str, value: Option<&str>) -> Result<(), ApiError> {
    value.map_or(Ok(()), |v| check_name(what, v))
}

/// A description: at most [`MAX_DESCRIPTION_CHARS`]; tabs and line breaks allowed, other
/// control characters not.
pub fn check_description(what: &str, value: Option<&str>) -> Result<(), ApiError> {
    let Some(value) = value else {
        return Ok(());
    };
    if value.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(too_long(what, MAX_DESCRIPTION_CHARS));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(ApiError::bad_request(format!(
            "{what} must not contain control characters other than tabs and line breaks"
        )));
    }
    Ok(())
}

/// Tags, as AWS limits them.
pub fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::bad_request(format!(
            "A resource can have at most {MAX_TAGS} tags"
        )));
    }
    for (k, v) in tags {
        if k.is_empty() {
            return Err(ApiError::bad_request("Tag keys must not be empty"));
        }
        check_text("A tag key", k, MAX_TAG_KEY_CHARS)?;
        check_text("A tag value", v, MAX_TAG_VALUE_CHARS)?;
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::bad_request(format!(
                "Tag keys must not start with 'aws:': {k}"
            )));
        }
    }
    Ok(())
}

/// A header name the configuration sends or answers with (a token).
pub fn check_header_name(what: &str, name: &str) -> Result<(), ApiError> {
    if name.chars().count() > MAX_EXPRESSION_CHARS || !is_header_name(name) {
        return Err(ApiError::bad_request(format!(
            "Invalid {what} header name specified: it must be a token (letters, digits and !#$%&'*+-.^_`|~) of at most {MAX_EXPRESSION_CHARS} characters"
        )));
    }
    Ok(())
}

/// A header value the configuration sends or answers with: no CR, LF, NUL or other control
/// character but tab.
pub fn check_header_value(what: &str, value: &str) -> Result<(), ApiError> {
    if value.chars().count() > MAX_EXPRESSION_CHARS || !is_header_value(value) {
        return Err(ApiError::bad_request(format!(
            "Invalid {what} header value specified: it must not contain line breaks or control characters and must be at most {MAX_EXPRESSION_CHARS} characters"
        )));
    }
    Ok(())
}

/// A mapping expression, parameter name or selection pattern: bounded, no control character.
pub fn check_expression(what: &str, value: &str) -> Result<(), ApiError> {
    check_text(what, value, MAX_EXPRESSION_CHARS)
}

/// Mapping templates by content type: each content type is sent as a `Content-Type` header
/// (so it must be a valid header value), each template at most [`MAX_TEMPLATE_BYTES`].
pub fn check_templates(what: &str, templates: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (content_type, template) in templates {
        if content_type.is_empty()
            || content_type.len() > MAX_EXPRESSION_CHARS
            || !is_header_value(content_type)
        {
            return Err(ApiError::bad_request(format!(
                "Invalid {what} content type specified: it must be a non-empty header value without control characters"
            )));
        }
        // Not a media type: AWS's recorded wording (localstack's AWS recordings,
        // `test_apigateway_api` `test_integration_response_invalid_responsetemplates`
        // "put-integration-response-invalid-responseTemplates-2", a key `123`).
        if !content_type.contains('/') {
            return Err(ApiError::bad_request(format!(
                "Validation Result: warnings : [], errors : [Invalid content type specified: {content_type}]"
            )));
        }
        if template.len() > MAX_TEMPLATE_BYTES {
            return Err(ApiError::bad_request(format!(
                "A {what} must be at most {MAX_TEMPLATE_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

/// Mapping templates as [`check_templates`] checks them, each also compiled by the template
/// engine the data plane renders them with: a template that does not compile is refused now,
/// with AWS's wording and the error's position, never at request time.
pub fn check_mapping_templates(
    what: &str,
    templates: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    check_templates(what, templates)?;
    for (content_type, template) in templates {
        if let Err(e) = tollgate_vtl::Template::compile(template) {
            return Err(ApiError::bad_request(format!(
                "Invalid mapping expression specified: Validation Result: warnings : [], errors : [Invalid template for content type {content_type}: {e}]"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_free_of_controls() {
        check_name("x", &"a".repeat(MAX_NAME_CHARS)).unwrap();
        assert_eq!(
            check_name("x", &"a".repeat(100_000)).unwrap_err().status,
            400
        );
        assert!(check_name("x", "a\0b").is_err());
        assert!(check_name("x", "a\nb").is_err());
        check_description("d", Some("line\nline\ttab")).unwrap();
        assert!(check_description("d", Some("a\0")).is_err());
        assert!(check_description("d", Some(&"a".repeat(MAX_DESCRIPTION_CHARS + 1))).is_err());
    }

    #[test]
    fn tags_follow_aws_limits() {
        let tags = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        check_tags(&tags(&[("team", "a"), ("k", "")])).unwrap();
        assert!(check_tags(&tags(&[("", "a")])).is_err());
        assert!(check_tags(&tags(&[("aws:x", "a")])).is_err());
        assert!(check_tags(&tags(&[(&"k".repeat(129), "a")])).is_err());
        assert!(check_tags(&tags(&[("k", &"v".repeat(257))])).is_err());
        let many: BTreeMap<String, String> =
            (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(check_tags(&many).is_err());
    }

    #[test]
    fn headers_and_templates() {
        check_header_name("x", "X-Stage").unwrap();
        assert!(check_header_name("x", "X\r\nEvil").is_err());
        check_header_value("x", "dev").unwrap();
        assert!(check_header_value("x", "a\r\nX-Evil: 1").is_err());
        let t = BTreeMap::from([("application/json".to_string(), "{}".to_string())]);
        check_templates("template", &t).unwrap();
        let t = BTreeMap::from([("text/html\r\nX: y".to_string(), "{}".to_string())]);
        assert!(check_templates("template", &t).is_err());
    }

    #[test]
    fn mapping_templates_must_compile() {
        let ok = BTreeMap::from([(
            "application/json".to_string(),
            "#foreach($t in $input.path('$.tags'))$t#end".to_string(),
        )]);
        check_mapping_templates("request template", &ok).unwrap();
        let bad = BTreeMap::from([(
            "application/json".to_string(),
            "{\n  #if($input.path('$.a') == 1)\n}".to_string(),
        )]);
        let e = check_mapping_templates("request template", &bad).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.starts_with("Invalid mapping expression specified: ")
                && e.message.contains("Invalid template for content type application/json: line 2, column 3: #if without #end"),
            "{}",
            e.message
        );
    }
}
