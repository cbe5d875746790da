//! The body scanner as it was before it kept its position in a local (commit 2887e4f; its
//! string runs found by the 8-byte scan, which `json.rs` checks against the byte scan), kept
//! for the tests only: `json.rs`'s differential test checks that the scanner in use
//! makes the same tape, and fails at the same place with the same reason, on random and
//! adversarial documents.

use super::{skip_plain_words as skip_plain, Kind, Node, MAX_NESTING};

/// Scans `src` as `Doc::parse` did: the tape, or why and where it failed.
pub(super) fn scan(src: &str) -> Result<Vec<Node>, (&'static str, usize)> {
    let mut p = Scanner {
        b: src.as_bytes(),
        pos: 0,
        tape: Vec::new(),
        failure: ("", 0),
    };
    p.ws();
    let mut scanned = p.value(0);
    p.ws();
    if scanned.is_ok() && p.pos != p.b.len() {
        scanned = Err(p.err("trailing characters"));
    }
    match scanned {
        Ok(()) => Ok(p.tape),
        Err(Fail) => Err(p.failure),
    }
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
    fn push(&mut self, kind: Kind, start: usize, end: usize) -> usize {
        let i = self.tape.len();
        self.tape.push(Node {
            kind,
            start: start as u32,
            end: end as u32,
            next: i as u32 + 1,
            len: 0,
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

    fn container(&mut self, depth: usize, object: bool) -> Result<(), Fail> {
        let start = self.pos;
        let me = self.push(
            if object { Kind::Object } else { Kind::Array },
            start,
            start,
        );
        self.pos += 1;
        self.ws();
        let close = if object { b'}' } else { b']' };
        let mut len = 0u32;
        if self.b.get(self.pos) == Some(&close) {
            self.pos += 1;
        } else {
            loop {
                if object {
                    if self.b.get(self.pos) != Some(&b'"') {
                        return Err(self.err("expected a member name"));
                    }
                    self.string()?;
                    // A member name's `len` holds its object's place + 1 (see `member_hinted`).
                    if let Some(k) = self.tape.last_mut() {
                        k.len = me as u32 + 1;
                    }
                    self.ws();
                    if self.b.get(self.pos) != Some(&b':') {
                        return Err(self.err("expected :"));
                    }
                    self.pos += 1;
                    self.ws();
                }
                // Strings and numbers (most values) directly; the rest through `value`.
                match self.b.get(self.pos) {
                    Some(b'"') => self.string()?,
                    Some(b'-' | b'0'..=b'9') => self.number()?,
                    _ => self.value(depth + 1)?,
                }
                len += 1;
                self.ws();
                match self.b.get(self.pos) {
                    Some(b',') => {
                        self.pos += 1;
                        self.ws();
                    }
                    Some(c) if *c == close => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.err("expected , or a close")),
                }
            }
        }
        let next = self.tape.len() as u32;
        if let Some(n) = self.tape.get_mut(me) {
            n.end = self.pos as u32;
            n.next = next;
            n.len = len;
        }
        Ok(())
    }

    #[inline(always)]
    fn string(&mut self) -> Result<(), Fail> {
        let b = self.b;
        let start = self.pos + 1;
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
        self.push(if escaped { Kind::EscStr } else { Kind::Str }, start, pos);
        self.pos = pos + 1;
        Ok(())
    }

    fn word(&mut self, w: &[u8], kind: Kind) -> Result<(), Fail> {
        if self.b.get(self.pos..self.pos + w.len()) != Some(w) {
            return Err(self.err("unexpected word"));
        }
        self.push(kind, self.pos, self.pos + w.len());
        self.pos += w.len();
        Ok(())
    }

    #[inline(always)]
    fn number(&mut self) -> Result<(), Fail> {
        let start = self.pos;
        let digits = |s: &mut Self| {
            let from = s.pos;
            while s.b.get(s.pos).is_some_and(u8::is_ascii_digit) {
                s.pos += 1;
            }
            s.pos - from
        };
        if self.b.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = digits(self);
        if n == 0 || (n > 1 && self.b.get(int_start) == Some(&b'0')) {
            return Err(self.err("invalid number"));
        }
        let mut frac = None;
        if self.b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            let from = self.pos;
            if digits(self) == 0 {
                return Err(self.err("invalid number"));
            }
            frac = Some(from);
        }
        if !matches!(self.b.get(self.pos), Some(b'e' | b'E')) {
            // No exponent: whether Java prints it as written, from the parts just read.
            let int = self.b.get(int_start..int_start + n).unwrap_or_default();
            let frac = frac.map(|f| self.b.get(f..self.pos).unwrap_or_default());
            let java = crate::num::java_form_parts(int_start > start, int, frac);
            self.push(
                if java { Kind::JavaNumber } else { Kind::Number },
                start,
                self.pos,
            );
            return Ok(());
        }
        {
            self.pos += 1;
            if matches!(self.b.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("invalid number"));
            }
        }
        self.push(Kind::Number, start, self.pos);
        Ok(())
    }
}
