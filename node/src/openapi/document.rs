//! Reading a document's bytes (JSON or YAML) into a JSON value, and writing one out.

use super::{DocError, MAX_DOCUMENT_BYTES};
use serde_json::{Map, Number, Value};

/// Deepest nesting accepted in a document (a schema nests a few levels; this keeps every
/// recursive walk over the value bounded).
pub const MAX_DEPTH: usize = 64;

/// Parses a document: JSON when it starts with `{` (after whitespace), YAML otherwise. YAML
/// mapping keys that are not strings (`200:`) become their text, as in JSON.
pub fn parse(bytes: &[u8]) -> Result<Value, DocError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocError::at(
            "",
            format!("The API definition is over {MAX_DOCUMENT_BYTES} bytes"),
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| DocError::at("", format!("The API definition is not UTF-8: {e}")))?;
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    let value = if trimmed.starts_with('{') {
        serde_json::from_str::<Value>(trimmed).map_err(|e| {
            DocError::at(
                format!("line {}, column {}", e.line(), e.column()),
                format!("Invalid JSON: {e}"),
            )
        })?
    } else {
        // serde_yaml_ng refuses nesting past its recursion limit and alias expansions that
        // would amplify the input (a "billion laughs" document).
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(trimmed).map_err(|e| {
            let location = e
                .location()
                .map(|l| format!("line {}, column {}", l.line(), l.column()))
                .unwrap_or_default();
            DocError::at(location, format!("Invalid YAML: {e}"))
        })?;
        from_yaml(yaml, 0)?
    };
    if depth(&value) > MAX_DEPTH {
        return Err(DocError::at(
            "",
            format!("The API definition nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    if !value.is_object() {
        return Err(DocError::at("", "The API definition must be an object"));
    }
    Ok(value)
}

fn depth(v: &Value) -> usize {
    // Iterative, so a deep document cannot exhaust the stack here.
    let mut max = 0;
    let mut stack = vec![(v, 1usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    max
}

fn from_yaml(v: serde_yaml_ng::Value, level: usize) -> Result<Value, DocError> {
    use serde_yaml_ng::Value as Y;
    if level > MAX_DEPTH {
        return Err(DocError::at(
            "",
            format!("The API definition nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                Value::Number(u.into())
            } else {
                n.as_f64()
                    .and_then(Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(|x| from_yaml(x, level + 1))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".to_string(),
                    _ => return Err(DocError::at("", "A mapping key must be a scalar")),
                };
                out.insert(key, from_yaml(v, level + 1)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => from_yaml(t.value, level)?,
    })
}

/// Writes a document as YAML.
pub fn to_yaml(v: &Value) -> Result<String, String> {
    serde_yaml_ng::to_string(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_read_alike() {
        let j = parse(br#"{"swagger":"2.0","paths":{"/a":{"get":{"responses":{"200":{"description":"ok"}}}}}}"#).unwrap();
        let y = parse(b"swagger: '2.0'\npaths:\n  /a:\n    get:\n      responses:\n        200:\n          description: ok\n").unwrap();
        assert_eq!(j, y, "the integer key 200 is read as the string \"200\"");
        assert_eq!(parse(&to_yaml(&j).unwrap().into_bytes()).unwrap(), j);
    }

    #[test]
    fn bad_documents_say_where() {
        let e = parse(b"{\"swagger\": \"2.0\",\n  \"paths\": [}").unwrap_err();
        assert!(e.location.starts_with("line 2"), "{e:?}");
        let e = parse(b"swagger: '2.0'\npaths: [\n").unwrap_err();
        assert!(e.message.starts_with("Invalid YAML"), "{e:?}");
        assert!(parse(b"[1, 2]").is_err());
        assert!(parse(&vec![b' '; MAX_DOCUMENT_BYTES + 1]).is_err());
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(format!("{{\"a\": {deep}}}").as_bytes()).is_err());
        // An alias bomb is refused, not expanded.
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n";
        assert!(parse(bomb.as_bytes()).is_err());
    }
}
