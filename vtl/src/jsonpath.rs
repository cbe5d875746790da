//! JSONPath as `$input.path()` and `$input.json()` evaluate it (Jayway JsonPath, which AWS
//! runs): `$`, `.name`, `['name']` (and unions of names), `[n]` (negative from the end),
//! `[a,b]`, `[start:end]`, `*`, `..` deep scan, and `[?(…)]` filters comparing `@`-relative
//! paths with literals (`==`, `!=`, `<`, `<=`, `>`, `>=`, `&&`, `||`, `!`, and existence).
//! A path that does not start with `$` is read as `$.` + path, as Jayway does. A path is
//! *definite* (one result or none) when it has only names and single indexes.
//!
//! No JSONPath crate follows Jayway's definite/indefinite results and its lenient root rule,
//! so this small evaluator is tested against the cases AWS documents.

use crate::value::{Heap, Value, MAX_DEPTH};
use std::fmt;

/// A compiled path.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    segs: Vec<Seg>,
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Names(Vec<Box<str>>),
    Wildcard,
    Indexes(Vec<i64>),
    Slice(Option<i64>, Option<i64>),
    Filter(Box<Filter>),
    /// `..` then a selector.
    Deep(Box<Seg>),
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Cmp(Operand, CmpOp, Operand),
    Exists(Operand),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `@…` (relative to the item; definite) or `$…` (the document).
    Path {
        root: bool,
        path: JsonPath,
    },
    Num(f64),
    Str(Box<str>),
    Bool(bool),
    Null,
}

/// A path that does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub String);

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest path text.
const MAX_PATH_LEN: usize = 4096;

impl JsonPath {
    /// Compiles a path.
    pub fn compile(text: &str) -> Result<JsonPath, PathError> {
        if text.len() > MAX_PATH_LEN {
            return Err(PathError(format!("longer than {MAX_PATH_LEN} bytes")));
        }
        let t = text.trim();
        let (body, _) = if let Some(rest) = t.strip_prefix('$').or_else(|| t.strip_prefix('@')) {
            (rest.to_owned(), ())
        } else if t.starts_with('[') {
            (t.to_owned(), ())
        } else {
            (format!(".{t}"), ())
        };
        let mut p = PathParser {
            b: body.as_bytes(),
            s: &body,
            pos: 0,
            depth: 0,
        };
        let segs = p.segments(false)?;
        if p.pos != p.b.len() {
            return Err(PathError(format!(
                "unexpected {:?} at {}",
                p.s.get(p.pos..).unwrap_or(""),
                p.pos
            )));
        }
        Ok(JsonPath { segs })
    }

    /// One result at most (names and single indexes only).
    pub fn is_definite(&self) -> bool {
        self.segs.iter().all(|s| match s {
            Seg::Names(n) => n.len() == 1,
            Seg::Indexes(i) => i.len() == 1,
            _ => false,
        })
    }

    /// Evaluates a definite path: the value, or `None` when it is not there.
    pub fn get(&self, root: &Value) -> Option<Value> {
        let mut cur = root.clone();
        for s in &self.segs {
            cur = match s {
                Seg::Names(n) => cur.member(n.first()?)?,
                Seg::Indexes(i) => {
                    let i = *i.first()?;
                    if !cur.is_list() {
                        return None;
                    }
                    let i = if i < 0 {
                        let len = cur.elements().map_or(0, |e| e.len());
                        resolve_index(i, len)?
                    } else {
                        usize::try_from(i).ok()?
                    };
                    cur.item(i)?
                }
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Evaluates the path: every match, in document order.
    pub fn select(&self, root: &Value) -> Vec<Value> {
        let mut cur = vec![root.clone()];
        for s in &self.segs {
            let mut next = Vec::new();
            for v in &cur {
                apply(s, v, root, &mut next, 0);
            }
            cur = next;
        }
        cur
    }

    /// `$input.path()`: a definite path's value (null when absent), else a JSON list of the
    /// matches.
    pub fn read(&self, root: &Value, heap: &mut Heap) -> Value {
        if self.is_definite() {
            self.get(root).unwrap_or(Value::Null)
        } else {
            let items = self.select(root);
            heap.list(items, true)
        }
    }
}

fn resolve_index(i: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if i < 0 { len + i } else { i };
    if (0..len).contains(&i) {
        usize::try_from(i).ok()
    } else {
        None
    }
}

fn apply(s: &Seg, v: &Value, root: &Value, out: &mut Vec<Value>, depth: usize) {
    match s {
        Seg::Names(names) => out.extend(names.iter().filter_map(|n| v.member(n))),
        Seg::Wildcard => out.extend(v.elements().unwrap_or_default()),
        Seg::Indexes(ix) => {
            if v.is_list() {
                let items = v.elements().unwrap_or_default();
                out.extend(
                    ix.iter()
                        .filter_map(|&i| items.get(resolve_index(i, items.len())?).cloned()),
                );
            }
        }
        Seg::Slice(a, b) => {
            if v.is_list() {
                let items = v.elements().unwrap_or_default();
                let len = items.len() as i64;
                let clamp = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
                let from = a.map_or(0, clamp);
                let to = b.map_or(len, clamp);
                if from < to {
                    out.extend(
                        items
                            .into_iter()
                            .skip(from as usize)
                            .take((to - from) as usize),
                    );
                }
            }
        }
        Seg::Filter(f) => {
            if v.is_list() {
                let items = v.elements().unwrap_or_default();
                out.extend(items.into_iter().filter(|item| f.eval(item, root)));
            } else if v.is_map() && f.eval(v, root) {
                out.push(v.clone());
            }
        }
        Seg::Deep(inner) => {
            if depth > MAX_DEPTH {
                return;
            }
            apply(inner, v, root, out, depth);
            for c in &v.elements().unwrap_or_default() {
                apply(s, c, root, out, depth + 1);
            }
        }
    }
}

impl Filter {
    fn eval(&self, item: &Value, root: &Value) -> bool {
        match self {
            Filter::Or(a, b) => a.eval(item, root) || b.eval(item, root),
            Filter::And(a, b) => a.eval(item, root) && b.eval(item, root),
            Filter::Not(a) => !a.eval(item, root),
            Filter::Exists(o) => o
                .value(item, root)
                .is_some_and(|v| !matches!(v, Value::Bool(false))),
            Filter::Cmp(a, op, b) => {
                let (Some(a), Some(b)) = (a.value(item, root), b.value(item, root)) else {
                    return false;
                };
                compare(&a, *op, &b)
            }
        }
    }
}

impl Operand {
    fn value(&self, item: &Value, root: &Value) -> Option<Value> {
        match self {
            Operand::Path { root: r, path } => path.get(if *r { root } else { item }),
            Operand::Num(n) => Some(Value::Float(*n)),
            Operand::Str(s) => Some(Value::str(s)),
            Operand::Bool(b) => Some(Value::Bool(*b)),
            Operand::Null => Some(Value::Null),
        }
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn compare(a: &Value, op: CmpOp, b: &Value) -> bool {
    use std::cmp::Ordering;
    let ord = match (a, b) {
        _ if num(a).is_some() && num(b).is_some() => {
            num(a).and_then(|x| num(b).and_then(|y| x.partial_cmp(&y)))
        }
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) if matches!(op, CmpOp::Eq | CmpOp::Ne) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    };
    match (op, ord) {
        (CmpOp::Eq, o) => o == Some(Ordering::Equal),
        (CmpOp::Ne, o) => o != Some(Ordering::Equal),
        (_, None) => false,
        (CmpOp::Lt, Some(o)) => o == Ordering::Less,
        (CmpOp::Le, Some(o)) => o != Ordering::Greater,
        (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
        (CmpOp::Ge, Some(o)) => o != Ordering::Less,
    }
}

struct PathParser<'s> {
    b: &'s [u8],
    s: &'s str,
    pos: usize,
    depth: usize,
}

impl PathParser<'_> {
    fn err<T>(&self, m: &str) -> Result<T, PathError> {
        Err(PathError(format!("{m} at {}", self.pos)))
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// Segments until the end (or, in a filter, until something that is not a segment).
    fn segments(&mut self, in_filter: bool) -> Result<Vec<Seg>, PathError> {
        let mut segs = Vec::new();
        loop {
            match self.peek() {
                Some(b'.') => {
                    self.pos += 1;
                    if self.peek() == Some(b'.') {
                        self.pos += 1;
                        let inner = match self.peek() {
                            Some(b'[') => self.bracket()?,
                            _ => self.dot_member()?,
                        };
                        segs.push(Seg::Deep(Box::new(inner)));
                    } else if self.peek() == Some(b'[') {
                        segs.push(self.bracket()?);
                    } else {
                        segs.push(self.dot_member()?);
                    }
                }
                Some(b'[') => segs.push(self.bracket()?),
                None => return Ok(segs),
                Some(_) if in_filter => return Ok(segs),
                Some(_) => return self.err("expected . or ["),
            }
        }
    }

    fn dot_member(&mut self) -> Result<Seg, PathError> {
        if self.peek() == Some(b'*') {
            self.pos += 1;
            return Ok(Seg::Wildcard);
        }
        let start = self.pos;
        while self.peek().is_some_and(|c| {
            !matches!(
                c,
                b'.' | b'[' | b' ' | b')' | b'=' | b'!' | b'<' | b'>' | b'&' | b'|'
            )
        }) {
            self.pos += 1;
        }
        if start == self.pos {
            return self.err("expected a property name");
        }
        Ok(Seg::Names(vec![self
            .s
            .get(start..self.pos)
            .unwrap_or("")
            .into()]))
    }

    fn bracket(&mut self) -> Result<Seg, PathError> {
        self.pos += 1; // [
        self.skip_ws();
        let seg = match self.peek() {
            Some(b'*') => {
                self.pos += 1;
                Seg::Wildcard
            }
            Some(b'?') => {
                self.pos += 1;
                if self.peek() != Some(b'(') {
                    return self.err("expected ( after ?");
                }
                self.pos += 1;
                let f = self.filter_or()?;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return self.err("expected ) to close a filter");
                }
                self.pos += 1;
                Seg::Filter(Box::new(f))
            }
            Some(b'\'' | b'"') => {
                let mut names = Vec::new();
                loop {
                    self.skip_ws();
                    names.push(self.quoted()?.into());
                    self.skip_ws();
                    if self.peek() == Some(b',') {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                Seg::Names(names)
            }
            _ => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c != b']') {
                    self.pos += 1;
                }
                let inner = self.s.get(start..self.pos).unwrap_or("");
                let int = |t: &str| -> Result<Option<i64>, PathError> {
                    let t = t.trim();
                    if t.is_empty() {
                        return Ok(None);
                    }
                    t.parse()
                        .map(Some)
                        .map_err(|_| PathError(format!("invalid index {t:?}")))
                };
                if let Some((a, b)) = inner.split_once(':') {
                    if b.contains(':') {
                        return self.err("slice steps are not supported");
                    }
                    Seg::Slice(int(a)?, int(b)?)
                } else {
                    let mut ix = Vec::new();
                    for part in inner.split(',') {
                        match int(part)? {
                            Some(i) => ix.push(i),
                            None => return self.err("empty index"),
                        }
                    }
                    Seg::Indexes(ix)
                }
            }
        };
        self.skip_ws();
        if self.peek() != Some(b']') {
            return self.err("expected ]");
        }
        self.pos += 1;
        Ok(seg)
    }

    fn quoted(&mut self) -> Result<String, PathError> {
        let Some(q) = self.peek().filter(|c| matches!(c, b'\'' | b'"')) else {
            return self.err("expected a quoted name");
        };
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return self.err("unclosed quote"),
                Some(b'\\') => {
                    self.pos += 1;
                    let start = self.pos;
                    if self.peek().is_none() {
                        return self.err("unclosed quote");
                    }
                    self.pos += 1;
                    while !self.s.is_char_boundary(self.pos) {
                        self.pos += 1;
                    }
                    out.push_str(self.s.get(start..self.pos).unwrap_or(""));
                }
                Some(c) if c == q => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(_) => {
                    let start = self.pos;
                    self.pos += 1;
                    while !self.s.is_char_boundary(self.pos) {
                        self.pos += 1;
                    }
                    out.push_str(self.s.get(start..self.pos).unwrap_or(""));
                }
            }
        }
    }

    fn enter(&mut self) -> Result<(), PathError> {
        self.depth += 1;
        if self.depth > 32 {
            return self.err("filter nested too deep");
        }
        Ok(())
    }

    fn filter_or(&mut self) -> Result<Filter, PathError> {
        self.enter()?;
        let mut l = self.filter_and()?;
        loop {
            self.skip_ws();
            if self.b.get(self.pos..self.pos + 2) == Some(b"||") {
                self.pos += 2;
                l = Filter::Or(Box::new(l), Box::new(self.filter_and()?));
            } else {
                self.depth -= 1;
                return Ok(l);
            }
        }
    }

    fn filter_and(&mut self) -> Result<Filter, PathError> {
        let mut l = self.filter_cmp()?;
        loop {
            self.skip_ws();
            if self.b.get(self.pos..self.pos + 2) == Some(b"&&") {
                self.pos += 2;
                l = Filter::And(Box::new(l), Box::new(self.filter_cmp()?));
            } else {
                return Ok(l);
            }
        }
    }

    fn filter_cmp(&mut self) -> Result<Filter, PathError> {
        self.skip_ws();
        if self.peek() == Some(b'!') && self.b.get(self.pos + 1) != Some(&b'=') {
            self.pos += 1;
            self.enter()?;
            let f = self.filter_cmp()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(f)));
        }
        if self.peek() == Some(b'(') {
            self.pos += 1;
            let f = self.filter_or()?;
            self.skip_ws();
            if self.peek() != Some(b')') {
                return self.err("expected )");
            }
            self.pos += 1;
            return Ok(f);
        }
        let a = self.operand()?;
        self.skip_ws();
        let ops: [(&[u8], CmpOp); 6] = [
            (b"==", CmpOp::Eq),
            (b"!=", CmpOp::Ne),
            (b"<=", CmpOp::Le),
            (b">=", CmpOp::Ge),
            (b"<", CmpOp::Lt),
            (b">", CmpOp::Gt),
        ];
        for (sym, op) in ops {
            if self.b.get(self.pos..self.pos + sym.len()) == Some(sym) {
                self.pos += sym.len();
                let b = self.operand()?;
                return Ok(Filter::Cmp(a, op, b));
            }
        }
        match a {
            Operand::Path { .. } => Ok(Filter::Exists(a)),
            _ => self.err("expected a comparison"),
        }
    }

    fn operand(&mut self) -> Result<Operand, PathError> {
        self.skip_ws();
        match self.peek() {
            Some(c @ (b'@' | b'$')) => {
                self.pos += 1;
                let segs = self.segments(true)?;
                let path = JsonPath { segs };
                if !path.is_definite() {
                    return self.err("filter paths must be definite");
                }
                Ok(Operand::Path {
                    root: c == b'$',
                    path,
                })
            }
            Some(b'\'' | b'"') => Ok(Operand::Str(self.quoted()?.into())),
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.pos;
                self.pos += 1;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E'))
                {
                    self.pos += 1;
                }
                let t = self.s.get(start..self.pos).unwrap_or("");
                t.parse()
                    .map(Operand::Num)
                    .map_err(|_| PathError(format!("invalid number {t:?}")))
            }
            _ => {
                for (w, o) in [
                    ("true", Operand::Bool(true)),
                    ("false", Operand::Bool(false)),
                    ("null", Operand::Null),
                ] {
                    if self.b.get(self.pos..self.pos + w.len()) == Some(w.as_bytes()) {
                        self.pos += w.len();
                        return Ok(o);
                    }
                }
                self.err("expected a filter operand")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(doc: &str, path: &str) -> String {
        let mut heap = Heap::default();
        let root = crate::json::Doc::root(&crate::json::Doc::parse(doc).unwrap());
        let p = JsonPath::compile(path).unwrap();
        let mut out = String::new();
        assert!(p.read(&root, &mut heap).write_json(&mut out, 0));
        out
    }

    const STORE: &str = r#"{"store":{"book":[
        {"category":"reference","author":"Nigel Rees","title":"Sayings","price":8.95},
        {"category":"fiction","author":"Evelyn Waugh","title":"Sword","price":12.99},
        {"category":"fiction","author":"Herman Melville","title":"Moby Dick","isbn":"0-553","price":8.99}],
        "bicycle":{"color":"red","price":19.95}}}"#;

    #[test]
    fn goessner_examples() {
        assert_eq!(run(STORE, "$.store.bicycle.color"), r#""red""#);
        assert_eq!(run(STORE, "store.bicycle.color"), r#""red""#);
        assert_eq!(run(STORE, "$['store']['bicycle']['color']"), r#""red""#);
        assert_eq!(
            run(STORE, "$.store.book[*].author"),
            r#"["Nigel Rees","Evelyn Waugh","Herman Melville"]"#
        );
        assert_eq!(
            run(STORE, "$..author"),
            r#"["Nigel Rees","Evelyn Waugh","Herman Melville"]"#
        );
        assert_eq!(run(STORE, "$.store.book[-1].title"), r#""Moby Dick""#);
        assert_eq!(run(STORE, "$.store.book[0,2].price"), "[8.95,8.99]");
        assert_eq!(run(STORE, "$.store.book[:2].price"), "[8.95,12.99]");
        assert_eq!(run(STORE, "$.store.book[-2:].price"), "[12.99,8.99]");
        assert_eq!(
            run(STORE, "$.store.book[?(@.isbn)].title"),
            r#"["Moby Dick"]"#
        );
        assert_eq!(
            run(STORE, "$.store.book[?(@.price < 10)].title"),
            r#"["Sayings","Moby Dick"]"#
        );
        assert_eq!(
            run(
                STORE,
                "$.store.book[?(@.category == 'fiction' && @.price > 10)].title"
            ),
            r#"["Sword"]"#
        );
        assert_eq!(run(STORE, "$..book[1].price"), "[12.99]");
        assert_eq!(run(STORE, "$.store.nothing"), "null");
        assert_eq!(run(STORE, "$.store.book[9]"), "null");
        assert_eq!(run("[1,2]", "$[1]"), "2");
    }

    #[test]
    fn bad_paths_are_refused() {
        for p in [
            "$.",
            "$[",
            "$[1:2:3]",
            "$[?(@.a <)]",
            "$['a",
            "$.a b",
            "$[x]",
        ] {
            assert!(JsonPath::compile(p).is_err(), "{p}");
        }
    }
}
