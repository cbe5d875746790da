//! A request body's JSON, read lazily: one validating pass records every value's place (a
//! "tape"); a value is built only when the template reads it. `$input.path('$.a.b')` walks
//! the tape and builds one string; `$input.json(…)` copies the text; an object becomes a
//! map only when a template calls a method that could change it. That keeps a typical
//! request template over a few kB of body within microseconds.

use crate::ast::Hint;
use crate::value::Value;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Deepest nesting accepted (serde_json's default).
pub const MAX_NESTING: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Object,
    Array,
    /// A string without escapes (its text is the span inside the quotes).
    Str,
    /// A string with escapes.
    EscStr,
    Number,
    /// A number whose text is what Java prints for it ([`crate::num::is_java_form`]),
    /// known when scanned: printed as is.
    JavaNumber,
    True,
    False,
    Null,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    kind: Kind,
    /// Byte span in the text (strings: inside the quotes).
    start: u32,
    end: u32,
    /// Index of the node after this value's subtree.
    next: u32,
    /// Objects: members; arrays: items; member names: their object's index + 1; else 0.
    len: u32,
}

/// A parsed document: the text and its tape. An object's members follow it on the tape as
/// (key, value) pairs; an array's items follow it.
///
/// Each read of the root ([`Doc::root`]) is a new object graph, as each `$input.path('$')`
/// parses the body anew in AWS: its references carry the graph's number. Once a template
/// changes an object or array of a graph (or calls a method that needs a Java collection),
/// the collection made for it is kept in `changed` under (graph, tape index), so that every
/// reference to that place of that graph (`$o.pet` read twice, `#set($p = $o.pet)`) sees
/// the change, as references to one Java object do.
#[derive(Debug)]
pub struct Doc {
    text: String,
    tape: Vec<Node>,
    /// (graph, tape index, collection): at most a few per render, so a list.
    changed: RefCell<Vec<(u32, u32, Value)>>,
    graphs: Cell<u32>,
}

/// A JSON object or array of one graph of a document: no allocation of its own (cloning it
/// counts a reference to the document).
#[derive(Debug, Clone)]
pub struct JsonRef {
    doc: Rc<Doc>,
    at: u32,
    graph: u32,
}

/// Why a body is not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(pub String);

impl Doc {
    /// Parses `src` (copied into the document, into this thread's spare buffer).
    pub fn parse(src: &str) -> Result<Rc<Doc>, JsonError> {
        if src.len() >= u32::MAX as usize {
            return Err(JsonError("document too large".into()));
        }
        let (mut text, mut tape) = SPARE.with(|t| t.take());
        tape.clear();
        // About one node per 10 bytes in typical bodies: most parse without growing.
        tape.reserve(src.len() / 8 + 4);
        let mut p = Scanner {
            b: src.as_bytes(),
            pos: 0,
            tape,
            failure: ("", 0),
        };
        p.ws();
        let mut scanned = p.value(0);
        p.ws();
        if scanned.is_ok() && p.pos != p.b.len() {
            scanned = Err(p.err("trailing characters"));
        }
        if scanned.is_err() {
            let (what, at) = p.failure;
            return Err(JsonError(format!("{what} at byte {at}")));
        }
        text.clear();
        text.push_str(src);
        Ok(Rc::new(Doc {
            tape: p.tape,
            text,
            changed: RefCell::new(Vec::new()),
            graphs: Cell::new(0),
        }))
    }

    /// The root value, of a new graph each time (as each `$input.path` call reads the body
    /// anew).
    pub fn root(doc: &Rc<Doc>) -> Value {
        let graph = doc.graphs.get().wrapping_add(1);
        doc.graphs.set(graph);
        Doc::value(doc, 0, graph)
    }

    fn node(&self, at: u32) -> Option<&Node> {
        self.tape.get(at as usize)
    }

    fn span(&self, n: &Node) -> &str {
        self.text
            .get(n.start as usize..n.end as usize)
            .unwrap_or("")
    }

    /// The value at tape index `at`: containers as references, scalars built.
    fn value(doc: &Rc<Doc>, at: u32, graph: u32) -> Value {
        let Some(n) = doc.node(at) else {
            return Value::Null;
        };
        match n.kind {
            Kind::Object | Kind::Array => Value::Json(JsonRef {
                doc: doc.clone(),
                at,
                graph,
            }),
            Kind::Str => Value::str(doc.span(n)),
            Kind::EscStr => Value::string(unescape(doc.span(n))),
            Kind::Number | Kind::JavaNumber => number(doc.span(n)),
            Kind::True => Value::Bool(true),
            Kind::False => Value::Bool(false),
            Kind::Null => Value::Null,
        }
    }

    /// Whether the string node `at` reads `key`.
    fn key_is(&self, at: u32, key: &str) -> bool {
        match self.node(at) {
            Some(n) if n.kind == Kind::Str => self.span(n) == key,
            Some(n) if n.kind == Kind::EscStr => unescape(self.span(n)) == key,
            _ => false,
        }
    }

    /// Tape index of the value of the object at `at`'s first member named `key`.
    fn member_at(&self, at: u32, key: &str) -> Option<u32> {
        let n = self.node(at)?;
        if n.kind != Kind::Object {
            return None;
        }
        let text = self.text.as_bytes();
        let mut i = at + 1;
        for _ in 0..n.len {
            let k = self.node(i)?;
            let found = match k.kind {
                // Lengths first: most keys differ in length, and that skips the compare.
                Kind::Str => {
                    (k.end - k.start) as usize == key.len()
                        && text
                            .get(k.start as usize..k.end as usize)
                            .is_some_and(|t| same_bytes(t, key.as_bytes()))
                }
                _ => self.key_is(i, key),
            };
            if found {
                return Some(i + 1);
            }
            i = self.node(i + 1)?.next;
        }
        None
    }

    /// [`Doc::member_at`], trying the place `hint` holds first (and keeping the place found
    /// there).
    #[inline]
    fn member_hinted(&self, at: u32, key: &str, hint: &Hint) -> Option<u32> {
        let off = hint.get();
        if off != 0 {
            let i = at.wrapping_add(off);
            // A member name of the object at `at` (its `len` holds the object's place + 1).
            if let Some(k) = self.node(i) {
                if k.len == at.wrapping_add(1)
                    && k.kind == Kind::Str
                    && (k.end - k.start) as usize == key.len()
                    && self
                        .text
                        .as_bytes()
                        .get(k.start as usize..k.end as usize)
                        .is_some_and(|t| same_bytes(t, key.as_bytes()))
                {
                    return Some(i + 1);
                }
            }
        }
        let v = self.member_at(at, key)?;
        hint.set(v - 1 - at);
        Some(v)
    }

    fn key(&self, at: u32) -> Rc<str> {
        match self.node(at) {
            Some(n) if n.kind == Kind::EscStr => Rc::from(unescape(self.span(n))),
            Some(n) => Rc::from(self.span(n)),
            None => Rc::from(""),
        }
    }

    /// Tape indexes of a container's children: (key index for objects, value index).
    fn children(&self, at: u32) -> impl Iterator<Item = (Option<u32>, u32)> + '_ {
        let (kind, len) = self.node(at).map_or((Kind::Null, 0), |n| (n.kind, n.len));
        let mut i = at + 1;
        (0..len).map_while(move |_| {
            let (key, value) = if kind == Kind::Object {
                (Some(i), i + 1)
            } else {
                (None, i)
            };
            let n = self.node(value)?;
            i = n.next;
            Some((key, value))
        })
    }

    /// Appends the value at `at` as compact JSON.
    fn write_json(&self, at: u32, out: &mut String) {
        let Some(n) = self.node(at) else {
            return;
        };
        match n.kind {
            Kind::Object => {
                out.push('{');
                for (i, (k, v)) in self.children(at).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if let Some(k) = k {
                        self.write_json(k, out);
                    }
                    out.push(':');
                    self.write_json(v, out);
                }
                out.push('}');
            }
            Kind::Array => {
                out.push('[');
                for (i, (_, v)) in self.children(at).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.write_json(v, out);
                }
                out.push(']');
            }
            Kind::Str | Kind::EscStr => {
                out.push('"');
                out.push_str(self.span(n));
                out.push('"');
            }
            _ => out.push_str(self.span(n)),
        }
    }

    /// [`Doc::write_display`], strings without escapes and Java-form numbers (most members)
    /// inline, as their text.
    #[inline(always)]
    fn write_display_inline(&self, at: u32, out: &mut String) {
        match self.node(at) {
            Some(n) if matches!(n.kind, Kind::Str | Kind::JavaNumber) => {
                out.push_str(self.span(n));
            }
            _ => self.write_display(at, out),
        }
    }

    /// Appends Java's `toString()` of the value at `at`: objects `{k=v}`, arrays JSON,
    /// strings unquoted.
    fn write_display(&self, at: u32, out: &mut String) {
        let Some(n) = self.node(at) else {
            return;
        };
        match n.kind {
            Kind::Object => {
                out.push('{');
                for (i, (k, v)) in self.children(at).enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    if let Some(k) = k {
                        self.write_display(k, out);
                    }
                    out.push('=');
                    self.write_display(v, out);
                }
                out.push('}');
            }
            Kind::Array => self.write_json(at, out),
            Kind::Str => out.push_str(self.span(n)),
            Kind::EscStr => out.push_str(&unescape(self.span(n))),
            Kind::Number => {
                let _ = number(self.span(n)).write_display(out, 0);
            }
            _ => out.push_str(self.span(n)),
        }
    }
}

thread_local! {
    /// The text and tape buffers of this thread's last dropped document, kept for the next
    /// parse: a worker parses one body per request, so after the first no parse allocates.
    static SPARE: std::cell::Cell<(String, Vec<Node>)> =
        const { std::cell::Cell::new((String::new(), Vec::new())) };
}

/// Largest buffers kept for reuse (text bytes; tape nodes of 20 bytes): a huge body's are
/// freed.
const MAX_SPARE_TEXT: usize = 256 * 1024;
const MAX_SPARE_TAPE: usize = 16 * 1024;

impl Drop for Doc {
    fn drop(&mut self) {
        if self.text.capacity() <= MAX_SPARE_TEXT && self.tape.capacity() <= MAX_SPARE_TAPE {
            let spare = (
                std::mem::take(&mut self.text),
                std::mem::take(&mut self.tape),
            );
            // During thread teardown the slot may be gone; then the buffers are simply freed.
            let _ = SPARE.try_with(|t| t.set(spare));
        }
    }
}

impl JsonRef {
    /// The collection made for it once a template changed it (or needed one).
    pub fn owned(&self) -> Option<Value> {
        let changed = self.doc.changed.borrow();
        changed
            .iter()
            .find(|(g, at, _)| *g == self.graph && *at == self.at)
            .map(|(_, _, v)| v.clone())
    }

    /// Records the collection made for it: every reference to this place of this graph
    /// reads it from now on.
    pub(crate) fn set_owned(&self, v: Value) {
        self.doc.changed.borrow_mut().push((self.graph, self.at, v));
    }

    /// Whether no place of its graph has a collection: then what it holds is the body's
    /// text, and can be printed straight from it.
    #[inline]
    pub fn pristine(&self) -> bool {
        let changed = self.doc.changed.borrow();
        changed.is_empty() || changed.iter().all(|(g, _, _)| *g != self.graph)
    }

    /// Whether it is an object (else an array).
    pub fn is_object(&self) -> bool {
        self.doc
            .node(self.at)
            .is_some_and(|n| n.kind == Kind::Object)
    }

    /// Members or items.
    pub fn len(&self) -> usize {
        self.doc.node(self.at).map_or(0, |n| n.len as usize)
    }

    /// An object's member.
    pub fn get(&self, key: &str) -> Option<Value> {
        let doc = &self.doc;
        doc.member_at(self.at, key)
            .map(|v| Doc::value(doc, v, self.graph))
    }

    /// Appends Java's `toString()` of what `.a.b…` (the member names `path`) reads from it,
    /// straight from the body text: what [`Value::write_display`] of `get("a")`, then
    /// `.get("b")`, … appends, without building those values (nothing for a missing
    /// member). `false`, with nothing appended, when a step is not an object: there a name
    /// is a getter call, for the general path. Only for a [`JsonRef::pristine`] reference.
    pub fn write_display_path<'p>(
        &self,
        path: impl Iterator<Item = (&'p str, &'p Hint)>,
        out: &mut String,
    ) -> bool {
        let doc = &self.doc;
        let mut at = self.at;
        for (key, hint) in path {
            if doc.node(at).map(|n| n.kind) != Some(Kind::Object) {
                return false;
            }
            match doc.member_hinted(at, key, hint) {
                Some(v) => at = v,
                // `null`: the rest of the path reads nothing, which prints nothing.
                None => return true,
            }
        }
        doc.write_display_inline(at, out);
        true
    }

    /// [`JsonRef::write_display_path`] of one name (`$item.sku`), with no iterator.
    #[inline]
    pub fn write_display_member(&self, key: &str, hint: &Hint, out: &mut String) -> bool {
        let doc = &*self.doc;
        if doc.node(self.at).map(|n| n.kind) != Some(Kind::Object) {
            return false;
        }
        if let Some(v) = doc.member_hinted(self.at, key, hint) {
            doc.write_display_inline(v, out);
        }
        true
    }

    /// An array's item.
    pub fn item(&self, i: usize) -> Option<Value> {
        let doc = &self.doc;
        if self.is_object() {
            return None;
        }
        doc.children(self.at)
            .nth(i)
            .map(|(_, v)| Doc::value(doc, v, self.graph))
    }

    /// Members' values or items, one by one.
    pub fn items(&self) -> impl Iterator<Item = Value> + '_ {
        let doc = &self.doc;
        doc.children(self.at)
            .map(|(_, v)| Doc::value(doc, v, self.graph))
    }

    /// Members' values or items.
    pub fn values(&self) -> Vec<Value> {
        let doc = &self.doc;
        // Sized first: the children iterator cannot tell its length.
        let mut out = Vec::with_capacity(self.len());
        out.extend(
            doc.children(self.at)
                .map(|(_, v)| Doc::value(doc, v, self.graph)),
        );
        out
    }

    /// Members as (key, value).
    pub fn entries(&self) -> Vec<(Rc<str>, Value)> {
        let doc = &self.doc;
        let mut out = Vec::with_capacity(self.len());
        out.extend(
            doc.children(self.at)
                .filter_map(|(k, v)| Some((doc.key(k?), Doc::value(doc, v, self.graph)))),
        );
        out
    }

    /// Members as (key, value), or items with empty keys.
    pub fn entries_or_items(&self) -> Vec<(Rc<str>, Value)> {
        let doc = &self.doc;
        let empty: Rc<str> = Rc::from("");
        doc.children(self.at)
            .map(|(k, v)| {
                let key = k.map_or_else(|| empty.clone(), |k| doc.key(k));
                (key, Doc::value(doc, v, self.graph))
            })
            .collect()
    }

    /// Appends it as compact JSON.
    pub fn write_json(&self, out: &mut String) {
        self.doc.write_json(self.at, out);
    }

    /// Appends Java's `toString()` of it.
    pub fn write_display(&self, out: &mut String) {
        self.doc.write_display(self.at, out);
    }
}

/// Byte equality of two slices of the same length, inline (member names are short: a
/// library compare costs more than it saves).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// A JSON number: an integer when it has no fraction or exponent and fits, else a double.
fn number(s: &str) -> Value {
    match crate::num::parse_plain(s) {
        Some(Ok(i)) => return Value::Int(i),
        Some(Err(f)) => return Value::Float(f),
        None => {}
    }
    if !s.contains(['.', 'e', 'E']) {
        match s.parse::<i64>() {
            // `-0` stays a (negative) double, as JSON readers keep it.
            Ok(0) if s.starts_with('-') => return Value::Float(-0.0),
            Ok(i) => return Value::Int(i),
            Err(_) => {}
        }
    }
    s.parse::<f64>().map_or(Value::Null, Value::Float)
}

/// The text of a string with escapes (validated when scanned).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let hex = |chars: &mut std::str::Chars| -> Option<u32> {
                    let h: String = chars.by_ref().take(4).collect();
                    u32::from_str_radix(&h, 16).ok()
                };
                let Some(u) = hex(&mut chars) else {
                    out.push('\u{fffd}');
                    continue;
                };
                let c = if (0xD800..0xDC00).contains(&u) {
                    // A high surrogate: its pair follows as `\uDC00`–`\uDFFF`.
                    let rest = chars.as_str();
                    match rest.strip_prefix("\\u").and_then(|r| {
                        let lo = u32::from_str_radix(r.get(..4)?, 16).ok()?;
                        (0xDC00..0xE000).contains(&lo).then_some(lo)
                    }) {
                        Some(lo) => {
                            chars = rest.get(6..).unwrap_or("").chars();
                            char::from_u32(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00))
                        }
                        None => None,
                    }
                } else {
                    char::from_u32(u)
                };
                out.push(c.unwrap_or('\u{fffd}'));
            }
            Some(c) => out.push(c),
            None => {}
        }
    }
    out
}

/// The bytes that end a run of plain string characters: a quote, a backslash, a control.
const STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The first byte at or after `pos` that ends a run of plain string characters ([`STOP`]):
/// sixteen bytes at a time with SSE2 (every x86_64 CPU has it), then (and elsewhere) eight
/// at a time ([`skip_plain_words`]).
#[inline(always)]
pub(crate) fn skip_plain(b: &[u8], pos: usize) -> Option<usize> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    let pos = {
        let mut pos = pos;
        while let Some(chunk) = b
            .get(pos..pos + 16)
            .and_then(|s| <&[u8; 16]>::try_from(s).ok())
        {
            let stops = sse2::stops(chunk);
            if stops != 0 {
                return Some(pos + stops.trailing_zeros() as usize);
            }
            pos += 16;
        }
        pos
    };
    skip_plain_words(b, pos)
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_setzero_si128, _mm_subs_epu8,
    };

    /// Bit `i` set where `chunk[i]` is a [`super::STOP`] byte: `"`, `\\` or below 0x20.
    #[inline(always)]
    // The value intrinsics are safe to call from Rust 1.87 on; the crate's `rust-version`
    // is older, where they need the `unsafe` block too.
    #[allow(unused_unsafe)]
    pub(super) fn stops(chunk: &[u8; 16]) -> u32 {
        // SAFETY: `_mm_loadu_si128` reads 16 bytes from the pointer, with no alignment
        // needed, and `chunk` is a reference to exactly 16 readable bytes. Every intrinsic
        // here needs only SSE2, which this module is compiled with (its `cfg`: always so on
        // x86_64, whose baseline includes SSE2).
        unsafe {
            let x = _mm_loadu_si128(chunk.as_ptr().cast());
            let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
            // Below 0x20: subtracting 0x1f (saturating at 0) leaves 0.
            let control =
                _mm_cmpeq_epi8(_mm_subs_epu8(x, _mm_set1_epi8(0x1f)), _mm_setzero_si128());
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
        }
    }
}

/// [`skip_plain`] eight bytes at a time: in each word, the bytes equal to `"` or `\` or
/// below 0x20 are flagged with the usual zero-byte tests, whose lowest flag is always a true
/// one.
#[inline(always)]
fn skip_plain_words(b: &[u8], mut pos: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    while let Some(w) = b
        .get(pos..pos + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
    {
        let w = u64::from_le_bytes(w);
        let hits = zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
        if hits != 0 {
            return Some(pos + (hits.trailing_zeros() / 8) as usize);
        }
        pos += 8;
    }
    let rest = b.get(pos..)?;
    rest.iter().position(|&c| STOP[c as usize]).map(|n| pos + n)
}

struct Scanner<'s> {
    b: &'s [u8],
    pos: usize,
    tape: Vec<Node>,
    /// Why and where the scan failed.
    failure: (&'static str, usize),
}

/// A failed scan (the reason is in [`Scanner::failure`]).
struct Fail;

impl Scanner<'_> {
    /// Records why and where the scan failed (the message is made once, by the caller):
    /// the scanner's results stay one byte wide.
    #[cold]
    #[inline(never)]
    fn err(&mut self, what: &'static str) -> Fail {
        self.failure = (what, self.pos);
        Fail
    }

    #[inline(always)]
    fn ws(&mut self) {
        while matches!(self.b.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    #[inline(always)]
    fn push(&mut self, kind: Kind, start: usize, end: usize, len: u32) -> usize {
        let i = self.tape.len();
        self.tape.push(Node {
            kind,
            start: start as u32,
            end: end as u32,
            next: i as u32 + 1,
            len,
        });
        i
    }

    fn value(&mut self, depth: usize) -> Result<(), Fail> {
        if depth > MAX_NESTING {
            return Err(self.err("nesting too deep"));
        }
        match self.b.get(self.pos) {
            Some(b'{') => self.container(depth, true),
            Some(b'[') => self.container(depth, false),
            Some(b'"') => self.string(),
            Some(b't') => self.word(b"true", Kind::True),
            Some(b'f') => self.word(b"false", Kind::False),
            Some(b'n') => self.word(b"null", Kind::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end")),
        }
    }

    /// An object or array, its position kept in a local (written back to `self.pos` only
    /// around a nested container and on failure), the byte expected next tried before any
    /// whitespace is skipped: compact JSON has none.
    fn container(&mut self, depth: usize, object: bool) -> Result<(), Fail> {
        let b = self.b;
        let start = self.pos;
        let me = self.push(
            if object { Kind::Object } else { Kind::Array },
            start,
            start,
            0,
        );
        let close = if object { b'}' } else { b']' };
        let mut pos = skip_ws(b, start + 1);
        let mut len = 0u32;
        if b.get(pos) == Some(&close) {
            pos += 1;
        } else {
            loop {
                if object {
                    if b.get(pos) != Some(&b'"') {
                        self.pos = pos;
                        return Err(self.err("expected a member name"));
                    }
                    // A member name's `len` holds its object's place + 1 (see `member_hinted`).
                    pos = self.string_at(pos, me as u32 + 1)?;
                    if b.get(pos) != Some(&b':') {
                        pos = skip_ws(b, pos);
                        if b.get(pos) != Some(&b':') {
                            self.pos = pos;
                            return Err(self.err("expected :"));
                        }
                    }
                    pos = skip_ws(b, pos + 1);
                }
                // Strings and numbers (most values) directly; the rest through `value`.
                match b.get(pos) {
                    Some(b'"') => pos = self.string_at(pos, 0)?,
                    Some(b'-' | b'0'..=b'9') => pos = self.number_at(pos)?,
                    Some(&c @ (b'{' | b'[')) if depth < MAX_NESTING => {
                        self.pos = pos;
                        self.container(depth + 1, c == b'{')?;
                        pos = self.pos;
                    }
                    _ => {
                        self.pos = pos;
                        self.value(depth + 1)?;
                        pos = self.pos;
                    }
                }
                len += 1;
                let mut c = b.get(pos).copied();
                if c != Some(b',') && c != Some(close) {
                    pos = skip_ws(b, pos);
                    c = b.get(pos).copied();
                }
                if c == Some(b',') {
                    pos = skip_ws(b, pos + 1);
                } else if c == Some(close) {
                    pos += 1;
                    break;
                } else {
                    self.pos = pos;
                    return Err(self.err("expected , or a close"));
                }
            }
        }
        self.pos = pos;
        let next = self.tape.len() as u32;
        if let Some(n) = self.tape.get_mut(me) {
            n.end = pos as u32;
            n.next = next;
            n.len = len;
        }
        Ok(())
    }

    fn string(&mut self) -> Result<(), Fail> {
        self.pos = self.string_at(self.pos, 0)?;
        Ok(())
    }

    /// The string whose opening quote is at `quote`: pushed (with `len`), and the place
    /// after its closing quote returned.
    #[inline(always)]
    fn string_at(&mut self, quote: usize, len: u32) -> Result<usize, Fail> {
        let b = self.b;
        let start = quote + 1;
        let mut pos = start;
        let mut escaped = false;
        loop {
            // Skip plain characters in one pass; stop at a quote, an escape or a control.
            match skip_plain(b, pos) {
                Some(at) => pos = at,
                None => {
                    self.pos = b.len();
                    return Err(self.err("unclosed string"));
                }
            }
            match b.get(pos) {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    match b.get(pos + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => pos += 2,
                        Some(b'u') => {
                            let hex = b.get(pos + 2..pos + 6);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                self.pos = pos;
                                return Err(self.err("invalid \\u escape"));
                            }
                            pos += 6;
                        }
                        _ => {
                            self.pos = pos;
                            return Err(self.err("invalid escape"));
                        }
                    }
                }
                _ => {
                    self.pos = pos;
                    return Err(self.err("control character in a string"));
                }
            }
        }
        self.push(
            if escaped { Kind::EscStr } else { Kind::Str },
            start,
            pos,
            len,
        );
        Ok(pos + 1)
    }

    fn word(&mut self, w: &[u8], kind: Kind) -> Result<(), Fail> {
        if self.b.get(self.pos..self.pos + w.len()) != Some(w) {
            return Err(self.err("unexpected word"));
        }
        self.push(kind, self.pos, self.pos + w.len(), 0);
        self.pos += w.len();
        Ok(())
    }

    fn number(&mut self) -> Result<(), Fail> {
        self.pos = self.number_at(self.pos)?;
        Ok(())
    }

    /// The number starting at `start`: pushed, and the place after it returned.
    #[inline(always)]
    fn number_at(&mut self, start: usize) -> Result<usize, Fail> {
        let b = self.b;
        let digits = |mut pos: usize| {
            while b.get(pos).is_some_and(u8::is_ascii_digit) {
                pos += 1;
            }
            pos
        };
        let int_start = start + usize::from(b.get(start) == Some(&b'-'));
        let mut pos = digits(int_start);
        let n = pos - int_start;
        if n == 0 || (n > 1 && b.get(int_start) == Some(&b'0')) {
            self.pos = pos;
            return Err(self.err("invalid number"));
        }
        let mut frac = None;
        if b.get(pos) == Some(&b'.') {
            let from = pos + 1;
            pos = digits(from);
            if pos == from {
                self.pos = pos;
                return Err(self.err("invalid number"));
            }
            frac = Some(from);
        }
        if !matches!(b.get(pos), Some(b'e' | b'E')) {
            // No exponent: whether Java prints it as written, from the parts just read.
            let int = b.get(int_start..int_start + n).unwrap_or_default();
            let frac = frac.map(|f| b.get(f..pos).unwrap_or_default());
            let java = crate::num::java_form_parts(int_start > start, int, frac);
            self.push(
                if java { Kind::JavaNumber } else { Kind::Number },
                start,
                pos,
                0,
            );
            return Ok(pos);
        }
        pos += 1;
        if matches!(b.get(pos), Some(b'+' | b'-')) {
            pos += 1;
        }
        let from = pos;
        pos = digits(from);
        if pos == from {
            self.pos = pos;
            return Err(self.err("invalid number"));
        }
        self.push(Kind::Number, start, pos, 0);
        Ok(pos)
    }
}

/// The first byte at or after `pos` that is not JSON whitespace.
#[inline(always)]
fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while matches!(b.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        pos += 1;
    }
    pos
}

#[cfg(test)]
#[path = "json_old_scanner.rs"]
mod old_scanner;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        Doc::root(&Doc::parse(s).unwrap())
    }

    #[test]
    fn reads_lazily_and_writes_back() {
        let v = parse(r#" {"a": [1, 2.5, "x\"y", {"b": null}], "k\u00e9y": true, "e": {}} "#);
        let Value::Json(j) = &v else { panic!() };
        assert!(j.is_object());
        assert_eq!(j.len(), 3);
        let mut s = String::new();
        j.write_json(&mut s);
        assert_eq!(
            s,
            r#"{"a":[1,2.5,"x\"y",{"b":null}],"k\u00e9y":true,"e":{}}"#
        );
        let mut s = String::new();
        j.write_display(&mut s);
        assert_eq!(s, r#"{a=[1,2.5,"x\"y",{"b":null}], kéy=true, e={}}"#);
        assert!(matches!(j.get("kéy"), Some(Value::Bool(true))));
        let Some(Value::Json(a)) = j.get("a") else {
            panic!()
        };
        assert_eq!(a.len(), 4);
        assert_eq!(a.item(2).unwrap().as_str(), Some("x\"y"));
        assert!(matches!(a.item(1), Some(Value::Float(f)) if f == 2.5));
        assert!(a.item(9).is_none());
        assert!(j.get("zz").is_none());
    }

    /// The word-at-a-time scan stops where the byte-at-a-time one does, for every stop
    /// byte at every offset and alignment, and beside bytes that only look like one.
    #[test]
    fn skip_plain_stops_as_the_byte_scan() {
        let slow = |b: &[u8], pos: usize| {
            b[pos..]
                .iter()
                .position(|&c| STOP[c as usize])
                .map(|n| pos + n)
        };
        let fillers = [
            b'a',
            0x21,
            0x23,
            0x5b,
            0x5d,
            0x1f + 1,
            0x80,
            0xa2,
            0xdc,
            0xff,
            0x7f,
        ];
        for len in 0..56 {
            for stop in [
                None,
                Some(b'"'),
                Some(b'\\'),
                Some(0u8),
                Some(0x1f),
                Some(b'\n'),
            ] {
                for at in 0..len.max(1) {
                    for &f in &fillers {
                        let mut b = vec![f; len];
                        if let (Some(c), true) = (stop, at < len) {
                            b[at] = c;
                            if at + 1 < len {
                                b[at + 1] = b'"';
                            }
                        }
                        for pos in 0..=len.min(17) {
                            let want = slow(&b, pos);
                            assert_eq!(skip_plain(&b, pos), want, "{b:?} from {pos}");
                            assert_eq!(skip_plain_words(&b, pos), want, "{b:?} from {pos}");
                        }
                    }
                }
            }
        }
    }

    /// The scanner's Java-form verdict is [`crate::num::is_java_form`]'s (which the number
    /// tests check against the general printer), for numbers of every shape.
    #[test]
    fn java_form_known_when_scanned() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "0.0",
            "-0.0",
            "1.50",
            "0.001",
            "0.0001",
            "1e5",
            "1.5E-3",
            "-12",
            "10000000.5",
            "1234567890123456",
            "9999999.5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..50_000 {
            let r = next();
            let int = (r % 10u64.pow((r >> 5) as u32 % 17)).to_string();
            let fd = (r >> 12) as u32 % 10;
            let mut t = if fd == 0 {
                int
            } else {
                let f = next() % 10u64.pow(fd);
                format!("{int}.{f:0width$}", width = fd as usize)
            };
            if r & 2 == 2 {
                t = format!("-{t}");
            }
            if r & 12 == 12 {
                t = format!("{t}e{}", r % 7);
            }
            texts.push(t);
        }
        for t in &texts {
            let doc = Doc::parse(t).unwrap();
            let java = doc.tape.first().map(|n| n.kind) == Some(Kind::JavaNumber);
            assert_eq!(java, crate::num::is_java_form(t), "{t}");
        }
    }

    /// A random JSON document (random whitespace, escapes, numbers of every shape, nesting),
    /// from the seed's stream.
    fn random_json(next: &mut impl FnMut() -> u64, depth: u32, out: &mut String) {
        let ws = |next: &mut dyn FnMut() -> u64, out: &mut String| {
            if next() & 3 == 0 {
                for _ in 0..next() % 3 {
                    out.push([' ', '\t', '\n', '\r'][(next() % 4) as usize]);
                }
            }
        };
        let string = |next: &mut dyn FnMut() -> u64, out: &mut String| {
            out.push('"');
            for _ in 0..next() % 40 {
                match next() % 12 {
                    0 => out.push_str(
                        ["\\n", "\\\"", "\\\\", "\\/", "\\u00e9", "\\ud83d\\ude00"]
                            [(next() % 6) as usize],
                    ),
                    1 => out.push(['é', '😀', 'ß', '\u{7f}'][(next() % 4) as usize]),
                    _ => out.push((b'a' + (next() % 26) as u8) as char),
                }
            }
            out.push('"');
        };
        ws(next, out);
        let pick = if depth >= 6 { next() % 6 } else { next() % 9 };
        match pick {
            0 | 1 => string(next, out),
            2 => {
                let r = next();
                if r & 1 == 1 {
                    out.push('-');
                }
                out.push_str(&(next() % 10u64.pow((r >> 3) as u32 % 12)).to_string());
                if r & 2 == 2 {
                    out.push_str(&format!(".{}", next() % 1000));
                }
                if r & 4 == 4 {
                    out.push_str(["e", "E", "e+", "e-"][(r >> 8) as usize % 4]);
                    out.push_str(&(next() % 400).to_string());
                }
            }
            3 => out.push_str("true"),
            4 => out.push_str("false"),
            5 => out.push_str("null"),
            6 | 7 => {
                out.push('{');
                for i in 0..next() % 6 {
                    if i > 0 {
                        out.push(',');
                    }
                    ws(next, out);
                    string(next, out);
                    ws(next, out);
                    out.push(':');
                    random_json(next, depth + 1, out);
                }
                ws(next, out);
                out.push('}');
            }
            _ => {
                out.push('[');
                for i in 0..next() % 6 {
                    if i > 0 {
                        out.push(',');
                    }
                    random_json(next, depth + 1, out);
                }
                ws(next, out);
                out.push(']');
            }
        }
        ws(next, out);
    }

    /// The scanner in use makes the tape the scanner before it made (`old_scanner`), and
    /// refuses what it refused with the same reason at the same byte, on random documents
    /// and on their damaged copies (bytes replaced by structural ones, cut short, doubled).
    #[test]
    fn scans_as_the_old_scanner() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let tape = |t: &[Node]| -> Vec<(Kind, u32, u32, u32, u32)> {
            t.iter()
                .map(|n| (n.kind, n.start, n.end, n.next, n.len))
                .collect()
        };
        let mut docs = vec![
            String::new(),
            " ".into(),
            "[".repeat(129) + &"]".repeat(129),
            "[".repeat(128) + &"]".repeat(128),
            "{\"a\"  :  1  ,  \"b\" : [ 1 , 2 ] }".into(),
        ];
        let (mut ok, mut refused) = (0, 0);
        for round in 0..20_000 {
            let mut d = String::new();
            random_json(&mut next, 0, &mut d);
            let mut bytes = d.into_bytes();
            match round % 4 {
                0 => {}
                1 if !bytes.is_empty() => {
                    for _ in 0..1 + next() % 3 {
                        let at = (next() % bytes.len() as u64) as usize;
                        bytes[at] = b"{}[]:,\"\\-.e0 x\n\x01"[(next() % 16) as usize];
                    }
                }
                2 => {
                    let cut = (next() % (bytes.len() as u64 + 1)) as usize;
                    bytes.truncate(cut);
                }
                _ => {
                    let at = (next() % (bytes.len() as u64 + 1)) as usize;
                    let copy = bytes[at..].to_vec();
                    bytes.extend_from_slice(&copy);
                }
            }
            docs.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        for d in &docs {
            let old = old_scanner::scan(d);
            match (Doc::parse(d), old) {
                (Ok(doc), Ok(t)) => {
                    ok += 1;
                    assert_eq!(tape(&doc.tape), tape(&t), "{d:?}");
                }
                (Err(e), Err((what, at))) => {
                    refused += 1;
                    assert_eq!(e.0, format!("{what} at byte {at}"), "{d:?}");
                }
                (new, old) => panic!(
                    "{d:?}: now {:?}, before {:?}",
                    new.map(|_| ()),
                    old.map(|_| ())
                ),
            }
        }
        eprintln!("{ok} documents scanned alike, {refused} refused alike");
        // Both kinds well represented.
        assert!(
            ok > 5_000 && refused > 5_000,
            "{ok} scanned, {refused} refused"
        );
    }

    #[test]
    fn refuses_what_is_not_json() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "1.",
            "-",
            "\"\\x\"",
            "\"\\u12\"",
            "[1] x",
            "tru",
            "\"a\nb\"",
            "{1:2}",
        ] {
            assert!(Doc::parse(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(Doc::parse(&deep).is_err());
        assert_eq!(unescape(r"\ud83d\ude00 \u00e9 \n"), "😀 é \n");
    }
}
