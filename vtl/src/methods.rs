//! Method calls: the gateway's `$input` and `$util`, and the Java methods templates use on
//! strings, lists, maps and numbers. An unknown method gives null (prints nothing); a call
//! that Java would answer with an exception (an index out of range, a bad regex) fails the
//! render, as it fails the request on AWS.

use crate::jsonpath::JsonPath;
use crate::render::{values_equal, RenderError, Renderer, Res};
use crate::util;
use crate::value::{parse_json, Builtin, Map, Value};
use std::rc::Rc;

fn fail<T>(msg: impl Into<String>) -> Res<T> {
    Err(RenderError::Method(msg.into()))
}

fn arg_str(args: &[Value], i: usize) -> Option<String> {
    match args.get(i)? {
        Value::Null => None,
        v => Some(v.display_string()),
    }
}

fn arg_int(args: &[Value], i: usize) -> Option<i64> {
    args.get(i)?.as_int()
}

/// Java's `String.hashCode` (over UTF-16 units).
/// At most the first 100 characters of `s` (a computed JSONPath in an error message can be
/// as long as a string may grow; the message stays short), `…` marking a cut.
fn clip(s: &str) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(100) {
        Some((at, _)) => std::borrow::Cow::Owned(format!("{}…", &s[..at])),
        None => std::borrow::Cow::Borrowed(s),
    }
}

fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)))
}

/// A Java regex (as `replaceAll`, `split` and `matches` take) compiled for this call.
fn regex(pattern: &str) -> Res<regex_lite::Regex> {
    regex_lite::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .or_else(|e| fail(format!("invalid regular expression {pattern:?}: {e}")))
}

/// A Java replacement string (`$1` groups, `\` escapes) in the regex crate's syntax.
fn replacement(java: &str) -> Res<String> {
    let mut out = String::with_capacity(java.len());
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(c) => out.push(c),
                None => return fail("replacement ends with \\"),
            },
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    return fail("illegal group reference in replacement");
                }
                out.push_str("${");
                out.push_str(&digits);
                out.push('}');
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Char index → byte offset (Java's indexes count characters; this counts Unicode scalars).
fn byte_at(s: &str, i: i64) -> Option<usize> {
    let i = usize::try_from(i).ok()?;
    if i == 0 {
        return Some(0);
    }
    s.char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(s.len()))
        .nth(i)
}

fn char_index(s: &str, byte: usize) -> i64 {
    s.get(..byte).map_or(-1, |p| p.chars().count() as i64)
}

impl Renderer<'_, '_> {
    pub(crate) fn call(
        &mut self,
        cur: Value,
        name: &str,
        args: &[Value],
        path: Option<&JsonPath>,
    ) -> Res<Value> {
        match &cur {
            Value::Builtin(Builtin::Input) => self.input_call(name, args, path),
            Value::Builtin(Builtin::Util) => self.util_call(name, args),
            Value::Builtin(Builtin::Context(_) | Builtin::StageVariables) => match name {
                "get" => match arg_str(args, 0) {
                    Some(k) => self.prop(&cur, &k),
                    None => Ok(Value::Null),
                },
                _ => Ok(Value::Null),
            },
            Value::Builtin(Builtin::Foreach { .. }) => match name {
                "hasNext" | "getHasNext" => self.prop(&cur, "hasNext"),
                "getIndex" => self.prop(&cur, "index"),
                "getCount" => self.prop(&cur, "count"),
                "isFirst" => self.prop(&cur, "first"),
                "isLast" => self.prop(&cur, "last"),
                _ => Ok(Value::Null),
            },
            Value::Json(j) => {
                let unchanged = j.owned().is_none();
                match name {
                    "size" if unchanged => Ok(Value::Int(j.len() as i64)),
                    "isEmpty" if unchanged => Ok(Value::Bool(j.len() == 0)),
                    "toString" if unchanged => Ok(Value::string(cur.display_string())),
                    "get" | "containsKey" if unchanged && j.is_object() => {
                        let v = match args.first() {
                            None | Some(Value::Null) => None,
                            Some(k) => j.get(&self.key_string(k)?),
                        };
                        Ok(if name == "get" {
                            v.unwrap_or_default()
                        } else {
                            Value::Bool(v.is_some())
                        })
                    }
                    _ => {
                        let owned = self.materialize(j)?;
                        self.call(owned, name, args, path)
                    }
                }
            }
            Value::Str(s) => self.string_call(s.clone(), name, args),
            Value::List(_) => self.list_call(&cur, name, args),
            Value::Map(_) => self.map_call(&cur, name, args),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => Ok(match name {
                "toString" => Value::string(cur.display_string()),
                "equals" => Value::Bool(
                    args.first()
                        .is_some_and(|a| values_equal(&cur, a, 0) == Some(true)),
                ),
                "intValue" | "longValue" => match cur {
                    Value::Float(f) if f.is_finite() => Value::Int(f.trunc() as i64),
                    Value::Int(i) => Value::Int(i),
                    _ => Value::Null,
                },
                "doubleValue" | "floatValue" => match cur {
                    Value::Int(i) => Value::Float(i as f64),
                    Value::Float(f) => Value::Float(f),
                    _ => Value::Null,
                },
                "booleanValue" => match cur {
                    Value::Bool(b) => Value::Bool(b),
                    _ => Value::Null,
                },
                _ => Value::Null,
            }),
            _ => Ok(Value::Null),
        }
    }

    fn input_call(&mut self, name: &str, args: &[Value], path: Option<&JsonPath>) -> Res<Value> {
        let compiled;
        let path = match (name, path) {
            ("path" | "json", Some(p)) => Some(p),
            ("path" | "json", None) => match arg_str(args, 0) {
                Some(text) => {
                    compiled = JsonPath::compile(&text).or_else(|e| {
                        fail(format!(
                            "$input.{name}: invalid JSONPath {:?}: {e}",
                            clip(&text)
                        ))
                    })?;
                    Some(&compiled)
                }
                None => return Ok(Value::Null),
            },
            _ => None,
        };
        match (name, path) {
            ("path", Some(p)) => self.input_path(p),
            ("json", Some(p)) => {
                let v = self.input_path(p)?;
                // A definite path that matches nothing reads as an empty JSON string.
                if v.is_null() && p.is_definite() {
                    return Ok(Value::str("\"\""));
                }
                let mut s = String::new();
                if !v.write_json(&mut s, 0) {
                    return Err(RenderError::TooDeep);
                }
                self.check_len(s.len())?;
                Ok(Value::string(s))
            }
            ("body" | "getBody", _) => Ok(Value::Str(self.body_text())),
            ("params" | "getParams", _) => match args.first() {
                None => self.params(),
                Some(Value::Null) => Ok(Value::str("")),
                Some(v) => {
                    let k = self.key_string(v)?;
                    Ok(self.param(&k))
                }
            },
            _ => Ok(Value::Null),
        }
    }

    fn util_call(&mut self, name: &str, args: &[Value]) -> Res<Value> {
        let Some(s) = arg_str(args, 0) else {
            return Ok(Value::Null);
        };
        let out = match name {
            "escapeJavaScript" => {
                let mut o = String::with_capacity(s.len());
                util::escape_javascript(&s, &mut o);
                o
            }
            "urlEncode" => {
                let mut o = String::with_capacity(s.len());
                util::url_encode(&s, &mut o);
                o
            }
            "urlDecode" => util::url_decode(&s).or_else(fail)?,
            "base64Encode" => util::base64_encode(&s),
            "base64Decode" => util::base64_decode(&s).or_else(fail)?,
            "parseJson" => {
                return parse_json(&mut self.heap, &s)
                    .or_else(|e| fail(format!("$util.parseJson: invalid JSON: {e}")));
            }
            _ => return Ok(Value::Null),
        };
        self.check_len(out.len())?;
        Ok(Value::string(out))
    }

    fn string_call(&mut self, s: Rc<str>, name: &str, args: &[Value]) -> Res<Value> {
        let a0 = || arg_str(args, 0);
        let v = match name {
            "toString" => Value::Str(s),
            "trim" => Value::str(s.trim_matches(|c: char| c <= ' ')),
            "length" => Value::Int(s.encode_utf16().count() as i64),
            "isEmpty" => Value::Bool(s.is_empty()),
            "toLowerCase" => Value::string(s.to_lowercase()),
            "toUpperCase" => Value::string(s.to_uppercase()),
            "hashCode" => Value::Int(i64::from(java_hash(&s))),
            "contains" => Value::Bool(a0().is_some_and(|a| s.contains(a.as_str()))),
            "startsWith" => Value::Bool(a0().is_some_and(|a| s.starts_with(a.as_str()))),
            "endsWith" => Value::Bool(a0().is_some_and(|a| s.ends_with(a.as_str()))),
            "equals" => Value::Bool(matches!(args.first(), Some(Value::Str(a)) if *a == s)),
            "equalsIgnoreCase" => {
                Value::Bool(a0().is_some_and(|a| a.to_lowercase() == s.to_lowercase()))
            }
            "compareTo" => match a0() {
                Some(a) => Value::Int(match (*s).cmp(a.as_str()) {
                    std::cmp::Ordering::Less => -1,
                    std::cmp::Ordering::Equal => 0,
                    std::cmp::Ordering::Greater => 1,
                }),
                None => return fail("compareTo(null)"),
            },
            "concat" => {
                let a = a0().unwrap_or_default();
                self.check_len(s.len() + a.len())?;
                Value::string(format!("{s}{a}"))
            }
            "charAt" => {
                let i = arg_int(args, 0).unwrap_or(-1);
                match byte_at(&s, i).and_then(|b| s.get(b..)?.chars().next()) {
                    Some(c) => Value::string(c.to_string()),
                    None => return fail(format!("charAt: index {i} out of range")),
                }
            }
            "substring" => {
                let n = s.chars().count() as i64;
                let from = arg_int(args, 0).unwrap_or(-1);
                let to = if args.len() > 1 {
                    arg_int(args, 1).unwrap_or(-1)
                } else {
                    n
                };
                if from < 0 || to > n || from > to {
                    return fail(format!(
                        "substring: begin {from}, end {to}, length {n} out of range"
                    ));
                }
                match (byte_at(&s, from), byte_at(&s, to)) {
                    (Some(a), Some(b)) => Value::str(s.get(a..b).unwrap_or("")),
                    _ => return fail("substring: index out of range"),
                }
            }
            "indexOf" | "lastIndexOf" => {
                let Some(a) = a0() else {
                    return fail(format!("{name}(null)"));
                };
                let found = if name == "indexOf" {
                    let from = arg_int(args, 1).unwrap_or(0).max(0);
                    byte_at(&s, from).and_then(|b| s.get(b..)?.find(a.as_str()).map(|i| i + b))
                } else {
                    s.rfind(a.as_str())
                };
                Value::Int(found.map_or(-1, |b| char_index(&s, b)))
            }
            "replace" => match (a0(), arg_str(args, 1)) {
                (Some(a), Some(b)) => {
                    let r = s.replace(a.as_str(), &b);
                    self.check_len(r.len())?;
                    Value::string(r)
                }
                _ => return fail("replace(null)"),
            },
            "replaceAll" | "replaceFirst" => match (a0(), arg_str(args, 1)) {
                (Some(re), Some(rep)) => {
                    let re = regex(&re)?;
                    let rep = replacement(&rep)?;
                    let r = if name == "replaceAll" {
                        re.replace_all(&s, rep.as_str())
                    } else {
                        re.replace(&s, rep.as_str())
                    };
                    self.check_len(r.len())?;
                    Value::string(r.into_owned())
                }
                _ => return fail(format!("{name}(null)")),
            },
            "matches" => match a0() {
                Some(re) => Value::Bool(regex(&format!("^(?:{re})$"))?.is_match(&s)),
                None => return fail("matches(null)"),
            },
            "split" => {
                let Some(re) = a0() else {
                    return fail("split(null)");
                };
                let limit = arg_int(args, 1).unwrap_or(0);
                let re = regex(&re)?;
                let mut parts: Vec<&str> = if limit > 0 {
                    re.splitn(&s, usize::try_from(limit).unwrap_or(usize::MAX))
                        .collect()
                } else {
                    re.split(&s).collect()
                };
                // Java drops a leading empty piece made by a zero-width match at 0, and
                // (with no positive limit) every trailing empty piece.
                if limit == 0 {
                    while parts.len() > 1 && parts.last() == Some(&"") {
                        parts.pop();
                    }
                    if parts.len() == 1 && parts.first() == Some(&"") && !s.is_empty() {
                        parts.clear();
                    }
                }
                self.check_items(parts.len())?;
                let items = parts.into_iter().map(Value::str).collect();
                self.heap.list(items, false)
            }
            _ => Value::Null,
        };
        Ok(v)
    }

    fn list_call(&mut self, cur: &Value, name: &str, args: &[Value]) -> Res<Value> {
        let Value::List(l) = cur else {
            return Ok(Value::Null);
        };
        let len = l.borrow().items.len();
        let index = |i: Option<i64>, max: usize| -> Res<usize> {
            match i.and_then(|i| usize::try_from(i).ok()) {
                Some(i) if i < max => Ok(i),
                _ => fail(format!(
                    "{name}: index {} out of bounds for length {len}",
                    i.unwrap_or(-1)
                )),
            }
        };
        let v = match name {
            "size" => Value::Int(len as i64),
            "isEmpty" => Value::Bool(len == 0),
            "toString" => Value::string(cur.display_string()),
            "get" => {
                let i = index(arg_int(args, 0), len)?;
                l.borrow().items.get(i).cloned().unwrap_or_default()
            }
            "contains" | "indexOf" => {
                let x = args.first().cloned().unwrap_or_default();
                let mut at = None;
                for (i, v) in l.borrow().items.iter().enumerate() {
                    if values_equal(v, &x, 0).ok_or(RenderError::TooDeep)? {
                        at = Some(i);
                        break;
                    }
                }
                if name == "contains" {
                    Value::Bool(at.is_some())
                } else {
                    Value::Int(at.map_or(-1, |i| i as i64))
                }
            }
            "add" => {
                self.check_items(len + 1)?;
                if args.len() == 2 {
                    let i = index(arg_int(args, 0), len + 1)?;
                    let v = args.get(1).cloned().unwrap_or_default();
                    l.borrow_mut().items.insert(i, v);
                    return Ok(Value::Null);
                }
                let v = args.first().cloned().unwrap_or_default();
                l.borrow_mut().items.push(v);
                Value::Bool(true)
            }
            "addAll" => {
                let extra: Vec<Value> = match args.first() {
                    Some(o) if o.is_list() => o.elements().unwrap_or_default(),
                    _ => return fail("addAll: not a list"),
                };
                self.check_items(len + extra.len())?;
                l.borrow_mut().items.extend(extra);
                Value::Bool(true)
            }
            "set" => {
                let i = index(arg_int(args, 0), len)?;
                let v = args.get(1).cloned().unwrap_or_default();
                let mut l = l.borrow_mut();
                match l.items.get_mut(i) {
                    Some(slot) => std::mem::replace(slot, v),
                    None => Value::Null,
                }
            }
            "remove" => match args.first() {
                Some(Value::Int(i)) => {
                    let i = index(Some(*i), len)?;
                    l.borrow_mut().items.remove(i)
                }
                Some(x) => {
                    let x = x.clone();
                    let mut at = None;
                    for (i, v) in l.borrow().items.iter().enumerate() {
                        if values_equal(v, &x, 0).ok_or(RenderError::TooDeep)? {
                            at = Some(i);
                            break;
                        }
                    }
                    if let Some(i) = at {
                        l.borrow_mut().items.remove(i);
                    }
                    Value::Bool(at.is_some())
                }
                None => Value::Null,
            },
            "clear" => {
                l.borrow_mut().items.clear();
                Value::Null
            }
            "subList" => {
                let (a, b) = (
                    arg_int(args, 0).unwrap_or(-1),
                    arg_int(args, 1).unwrap_or(-1),
                );
                if a < 0 || b < a || b > len as i64 {
                    return fail(format!("subList({a}, {b}) out of bounds for length {len}"));
                }
                let items = l.borrow().items[a as usize..b as usize].to_vec();
                let json = l.borrow().json;
                self.heap.list(items, json)
            }
            _ => Value::Null,
        };
        Ok(v)
    }

    fn map_call(&mut self, cur: &Value, name: &str, args: &[Value]) -> Res<Value> {
        let Value::Map(m) = cur else {
            return Ok(Value::Null);
        };
        let key = |r: &Self| -> Res<Option<String>> {
            match args.first() {
                None | Some(Value::Null) => Ok(None),
                Some(k) => r.key_string(k).map(Some),
            }
        };
        let v = match name {
            "get" => match key(self)? {
                Some(k) => m.borrow().get(&k).cloned().unwrap_or_default(),
                None => Value::Null,
            },
            "containsKey" => Value::Bool(match key(self)? {
                Some(k) => m.borrow().get(&k).is_some(),
                None => false,
            }),
            "put" => match key(self)? {
                Some(k) => {
                    let v = args.get(1).cloned().unwrap_or_default();
                    let mut mm = m.borrow_mut();
                    let old = mm.put(Rc::from(k), v).unwrap_or_default();
                    self.check_items(mm.entries.len())?;
                    old
                }
                None => Value::Null,
            },
            "remove" => match key(self)? {
                Some(k) => m.borrow_mut().remove(&k).unwrap_or_default(),
                None => Value::Null,
            },
            "size" => Value::Int(m.borrow().entries.len() as i64),
            "isEmpty" => Value::Bool(m.borrow().entries.is_empty()),
            "toString" => Value::string(cur.display_string()),
            "keySet" => {
                let keys = m
                    .borrow()
                    .entries
                    .iter()
                    .map(|(k, _)| Value::Str(k.clone()))
                    .collect();
                self.heap.list(keys, false)
            }
            "values" => {
                let vals = m.borrow().entries.iter().map(|(_, v)| v.clone()).collect();
                self.heap.list(vals, false)
            }
            "entrySet" => {
                let pairs: Vec<(Rc<str>, Value)> = m.borrow().entries.clone();
                let mut items = Vec::with_capacity(pairs.len());
                for (k, v) in pairs {
                    let mut e = Map::default();
                    e.put(Rc::from("key"), Value::Str(k));
                    e.put(Rc::from("value"), v);
                    items.push(self.heap.map(e));
                }
                self.heap.list(items, false)
            }
            "putAll" => {
                let extra: Vec<(Rc<str>, Value)> = match args.first() {
                    Some(Value::Map(o)) => o.borrow().entries.clone(),
                    Some(Value::Json(o)) if o.is_object() && o.owned().is_none() => o.entries(),
                    Some(Value::Json(o)) => match o.owned() {
                        Some(Value::Map(o)) => o.borrow().entries.clone(),
                        _ => return fail("putAll: not a map"),
                    },
                    _ => return fail("putAll: not a map"),
                };
                let mut mm = m.borrow_mut();
                for (k, v) in extra {
                    mm.put(k, v);
                }
                self.check_items(mm.entries.len())?;
                Value::Null
            }
            "clear" => {
                m.borrow_mut().clear();
                Value::Null
            }
            _ => Value::Null,
        };
        Ok(v)
    }
}
