//! Render-time values: Velocity's view of Java objects. Lists and maps are shared and mutable
//! (`Rc<RefCell<…>>`), as Java references are: `$list.add(1)` changes the list every name of it
//! sees. Values live for one render only and never cross threads.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::rc::Rc;

use crate::json::JsonRef;

/// A list, and whether it came from JSON (a `JSONArray`, printed as JSON) or was built in the
/// template (a Java `ArrayList`, printed as `[a, b]`).
#[derive(Debug, Default)]
pub struct List {
    pub items: Vec<Value>,
    pub json: bool,
}

/// A map in insertion order (Java's `LinkedHashMap`); large maps keep a hash index so that
/// neither building one from a big JSON body nor looking keys up in it is quadratic.
#[derive(Debug, Default)]
pub struct Map {
    pub entries: Vec<(Rc<str>, Value)>,
    index: Option<HashMap<Rc<str>, usize>>,
}

/// Entries from which a map keeps a hash index.
const INDEX_FROM: usize = 16;

impl Map {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key)
            .and_then(|i| self.entries.get(i))
            .map(|(_, v)| v)
    }

    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| &**k == key),
        }
    }

    /// Sets `key`, returning the value it replaced.
    pub fn put(&mut self, key: Rc<str>, value: Value) -> Option<Value> {
        if let Some(slot) = self.position(&key).and_then(|i| self.entries.get_mut(i)) {
            return Some(std::mem::replace(&mut slot.1, value));
        }
        let at = self.entries.len();
        if let Some(ix) = &mut self.index {
            ix.insert(key.clone(), at);
        }
        self.entries.push((key, value));
        if self.index.is_none() && self.entries.len() >= INDEX_FROM {
            self.reindex();
        }
        None
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let at = self.position(key)?;
        let v = self.entries.remove(at).1;
        if self.index.is_some() {
            self.reindex();
        }
        Some(v)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.index = None;
    }

    fn reindex(&mut self) {
        self.index = Some(
            self.entries
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect(),
        );
    }
}

/// The objects the gateway provides, resolved by name when the template is compiled.
#[derive(Debug, Clone)]
pub enum Builtin {
    /// `$input`.
    Input,
    /// `$input.params()` sections: `path`, `querystring`, `header` (built on access).
    Util,
    /// `$context` or a part of it below a dotted prefix (`identity`, `requestOverride.header`).
    Context(Rc<str>),
    /// `$stageVariables`.
    StageVariables,
    /// `$foreach` of the innermost loop.
    Foreach { index: usize, has_next: bool },
    /// A `#define`d block, by its index in the template.
    Define(usize),
}

/// A value.
#[derive(Debug, Clone, Default)]
pub enum Value {
    /// Java `null`: an undefined reference, a missing key, a failed call.
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    List(Rc<RefCell<List>>),
    Map(Rc<RefCell<Map>>),
    /// An object or array of the request body, read in place ([`crate::json`]).
    Json(JsonRef),
    Builtin(Builtin),
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Rc::from(s))
    }

    pub fn string(s: String) -> Value {
        Value::Str(Rc::from(s))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Velocity 1.7's truth: only `null` and `false` are false.
    pub fn truthy(&self) -> bool {
        !matches!(self, Value::Null | Value::Bool(false))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A map's or JSON object's member.
    pub fn member(&self, key: &str) -> Option<Value> {
        match self {
            Value::Map(m) => m.borrow().get(key).cloned(),
            Value::Json(j) => match j.owned() {
                Some(v) => v.member(key),
                None => j.get(key),
            },
            _ => None,
        }
    }

    /// A list's or JSON array's item.
    pub fn item(&self, i: usize) -> Option<Value> {
        match self {
            Value::List(l) => l.borrow().items.get(i).cloned(),
            Value::Json(j) => match j.owned() {
                Some(v) => v.item(i),
                None => j.item(i),
            },
            _ => None,
        }
    }

    /// Whether it is a list or a JSON array.
    pub fn is_list(&self) -> bool {
        match self {
            Value::List(_) => true,
            Value::Json(j) => match j.owned() {
                Some(v) => v.is_list(),
                None => !j.is_object(),
            },
            _ => false,
        }
    }

    /// Whether it is a map or a JSON object.
    pub fn is_map(&self) -> bool {
        match self {
            Value::Map(_) => true,
            Value::Json(j) => match j.owned() {
                Some(v) => v.is_map(),
                None => j.is_object(),
            },
            _ => false,
        }
    }

    /// A list's items or a map's values (`None` for anything else).
    pub fn elements(&self) -> Option<Vec<Value>> {
        match self {
            Value::List(l) => Some(l.borrow().items.clone()),
            Value::Map(m) => Some(m.borrow().entries.iter().map(|(_, v)| v.clone()).collect()),
            Value::Json(j) => match j.owned() {
                Some(v) => v.elements(),
                None => Some(j.values()),
            },
            _ => None,
        }
    }

    /// Java's `toString()` as a new string (empty when too deep to print).
    pub fn display_string(&self) -> String {
        let mut s = String::new();
        if !self.write_display(&mut s, 0) {
            s.clear();
        }
        s
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            _ => None,
        }
    }

    /// Appends Java's `toString()` of the value: maps as `{k=v, k2=v2}`, template lists as
    /// `[a, b]`, JSON lists as JSON. `null` appends nothing (the caller decides what an
    /// undefined reference prints). False when the value nests deeper than [`MAX_DEPTH`] (or
    /// holds itself).
    #[must_use]
    pub fn write_display(&self, out: &mut String, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match self {
            Value::Null | Value::Builtin(_) => {}
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => crate::num::write_int(out, *i),
            Value::Float(f) => write_float(out, *f),
            Value::Str(s) => out.push_str(s),
            Value::Json(j) => match j.owned() {
                Some(v) => return v.write_display(out, depth + 1),
                None if j.pristine() => j.write_display(out),
                None if j.is_object() => {
                    // A part of it changed: member by member, each as its own value.
                    out.push('{');
                    for (n, (k, v)) in j.entries().iter().enumerate() {
                        if n > 0 {
                            out.push_str(", ");
                        }
                        out.push_str(k);
                        out.push('=');
                        if v.is_null() {
                            out.push_str("null");
                        }
                        if !v.write_display(out, depth + 1) {
                            return false;
                        }
                    }
                    out.push('}');
                }
                None => return self.write_json(out, depth),
            },
            Value::List(l) => {
                let l = l.borrow();
                if l.json {
                    drop(l);
                    return self.write_json(out, depth);
                }
                out.push('[');
                for (n, v) in l.items.iter().enumerate() {
                    if n > 0 {
                        out.push_str(", ");
                    }
                    if v.is_null() {
                        out.push_str("null");
                    }
                    if !v.write_display(out, depth + 1) {
                        return false;
                    }
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push('{');
                for (n, (k, v)) in m.borrow().entries.iter().enumerate() {
                    if n > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push('=');
                    if v.is_null() {
                        out.push_str("null");
                    }
                    if !v.write_display(out, depth + 1) {
                        return false;
                    }
                }
                out.push('}');
            }
        }
        true
    }

    /// Appends the value as compact JSON (what `$input.json()` returns); false as
    /// [`Value::write_display`].
    #[must_use]
    pub fn write_json(&self, out: &mut String, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match self {
            Value::Null | Value::Builtin(_) => out.push_str("null"),
            Value::Bool(_) | Value::Int(_) => return self.write_display(out, depth),
            Value::Float(f) if f.is_finite() => write_float(out, *f),
            Value::Float(_) => out.push_str("null"),
            Value::Str(s) => write_json_string(out, s),
            Value::Json(j) => match j.owned() {
                Some(v) => return v.write_json(out, depth + 1),
                None if j.pristine() => j.write_json(out),
                None => {
                    // A part of it changed: item by item, each as its own value.
                    let object = j.is_object();
                    out.push(if object { '{' } else { '[' });
                    for (n, (k, v)) in j.entries_or_items().iter().enumerate() {
                        if n > 0 {
                            out.push(',');
                        }
                        if object {
                            write_json_string(out, k);
                            out.push(':');
                        }
                        if !v.write_json(out, depth + 1) {
                            return false;
                        }
                    }
                    out.push(if object { '}' } else { ']' });
                }
            },
            Value::List(l) => {
                out.push('[');
                for (n, v) in l.borrow().items.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    if !v.write_json(out, depth + 1) {
                        return false;
                    }
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push('{');
                for (n, (k, v)) in m.borrow().entries.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    write_json_string(out, k);
                    out.push(':');
                    if !v.write_json(out, depth + 1) {
                        return false;
                    }
                }
                out.push('}');
            }
        }
        true
    }
}

/// Deepest nesting of lists and maps a value may have when printed or compared (JSON bodies
/// nest at most 128 deep: serde_json's limit).
pub const MAX_DEPTH: usize = 200;

/// Every list and map one render creates. Dropping the heap empties them all first, so a
/// value that holds itself (`$l.add($l)`) is freed and a deeply nested one is freed without
/// deep recursion.
#[derive(Default)]
pub struct Heap {
    lists: Vec<Rc<RefCell<List>>>,
    maps: Vec<Rc<RefCell<Map>>>,
}

impl Heap {
    pub fn list(&mut self, items: Vec<Value>, json: bool) -> Value {
        let l = Rc::new(RefCell::new(List { items, json }));
        self.lists.push(l.clone());
        Value::List(l)
    }

    pub fn map(&mut self, m: Map) -> Value {
        let m = Rc::new(RefCell::new(m));
        self.maps.push(m.clone());
        Value::Map(m)
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        for l in &self.lists {
            if let Ok(mut l) = l.try_borrow_mut() {
                l.items.clear();
            }
        }
        for m in &self.maps {
            if let Ok(mut m) = m.try_borrow_mut() {
                m.clear();
            }
        }
    }
}

/// Java's `Double.toString` for the common range: `1.0`, `2.5`, `-0.125`; exponent form
/// outside [1e-3, 1e7) as Java.
fn write_float(out: &mut String, f: f64) {
    if !f.is_finite() {
        out.push_str(if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        });
        return;
    }
    if crate::num::write_short_float(out, f) {
        return;
    }
    let a = f.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        // The shortest digits that read back as `f` (as Java's), in plain notation: ryu
        // writes this range without an exponent, `1.0` for whole numbers, `-0.0` for minus
        // zero — the same text as `{f:.1}` / `{f}`, several times faster.
        out.push_str(ryu::Buffer::new().format_finite(f));
    } else {
        // Rust writes `1e20`, Java `1.0E20`.
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        out.push_str(mantissa);
        if !mantissa.contains('.') {
            out.push_str(".0");
        }
        out.push('E');
        out.push_str(exp);
    }
}

/// A JSON string literal.
pub fn write_json_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Runs without an escape are copied whole, found 16 bytes at a time (the escaped bytes
    // are the ones that end a plain run in a JSON string). Every byte escaped is ASCII, never
    // part of a longer UTF-8 sequence, so the cuts fall on character boundaries.
    let bytes = s.as_bytes();
    let mut run = 0;
    while let Some(i) = crate::json::skip_plain(bytes, run) {
        let Some(&b) = bytes.get(i) else {
            break;
        };
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            _ => "",
        };
        out.push_str(s.get(run..i).unwrap_or(""));
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        run = i + 1;
    }
    out.push_str(s.get(run..).unwrap_or(""));
    out.push('"');
}

/// Parses JSON text into values (objects become maps in document order, arrays JSON lists);
/// serde_json bounds the nesting at 128.
pub fn parse_json(heap: &mut Heap, text: &str) -> Result<Value, serde_json::Error> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    let v = Seed(heap).deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

struct Seed<'h>(&'h mut Heap);

impl<'de> serde::de::DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Seed<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(i64::try_from(u).map_or(Value::Float(u as f64), Value::Int))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::str(s))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = a.next_element_seed(Seed(&mut *self.0))? {
            items.push(v);
        }
        Ok(self.0.list(items, true))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut m = Map::default();
        while let Some(k) = a.next_key::<std::borrow::Cow<'de, str>>()? {
            let v = a.next_value_seed(Seed(&mut *self.0))?;
            // A repeated key keeps its last value, in its first place (as a Java map).
            m.put(Rc::from(&*k), v);
        }
        Ok(self.0.map(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ryu's text equals the standard library's (`{f:.1}` for whole numbers, `{f}`
    /// otherwise) over the plain-notation range, at its edges and for many values within.
    #[test]
    fn ryu_writes_the_plain_range_as_the_standard_library() {
        let std_form = |f: f64| {
            if f.fract() == 0.0 {
                format!("{f:.1}")
            } else {
                format!("{f}")
            }
        };
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut values = vec![
            0.0,
            -0.0,
            1e-3,
            9_999_999.999_999_9,
            0.1,
            0.3,
            4.99,
            1.0,
            123.5,
        ];
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Uniform in the exponent range, random mantissa: every magnitude 1e-3..1e7.
            let f = f64::from_bits(x);
            let scaled =
                10f64.powf((x % 10_000) as f64 / 1000.0 - 3.0) * (1.0 + (f.abs() % 1.0).min(0.999));
            values.push(scaled);
            values.push(-scaled);
            values.push((scaled * 100.0).round() / 100.0);
        }
        for f in values {
            let a = f.abs();
            if !(a == 0.0 || (1e-3..1e7).contains(&a)) {
                continue;
            }
            let mut out = String::new();
            write_float(&mut out, f);
            assert_eq!(out, std_form(f), "{f:e}");
        }
    }

    /// The run-copying JSON string writer gives the character-by-character one's text.
    #[test]
    fn json_strings_as_char_by_char() {
        fn reference(s: &str) -> String {
            let mut out = String::from('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        let alphabet = [
            'a', '"', '\\', '\n', '\r', '\t', '\u{8}', '\u{c}', '\u{1}', '\u{1f}', ' ', 'é', '😀',
            '\u{7f}',
        ];
        let mut x: u64 = 0x5151_7eed_1234_abcd;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Up to 40 characters: runs longer than the 16-byte scan, and tails after it.
            let len = (x % 40) as usize;
            let plain = (x >> 40) & 3 == 0;
            let s: String = (0..len)
                .map(|i| {
                    let r = x.rotate_right((i * 5) as u32 % 64);
                    if plain && r & 7 != 0 {
                        'p'
                    } else {
                        alphabet[(r % alphabet.len() as u64) as usize]
                    }
                })
                .collect();
            let mut out = String::new();
            write_json_string(&mut out, &s);
            assert_eq!(out, reference(&s), "{s:?}");
        }
    }

    #[test]
    fn java_display_forms() {
        let mut s = String::new();
        write_float(&mut s, 1.0);
        s.push(' ');
        write_float(&mut s, 2.5);
        s.push(' ');
        write_float(&mut s, 1e20);
        assert_eq!(s, "1.0 2.5 1.0E20");
        let mut heap = Heap::default();
        let m = parse_json(&mut heap, r#"{"b": {"c": "x"}, "a": 1, "l": [1, "y"]}"#).unwrap();
        assert_eq!(m.display_string(), r#"{b={c=x}, a=1, l=[1,"y"]}"#);
        let l = heap.list(vec![Value::Int(1), Value::str("a")], false);
        assert_eq!(l.display_string(), "[1, a]");
    }
}
