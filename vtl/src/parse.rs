//! The parser: template text into [`crate::ast`] nodes, once, with every error's position.
//!
//! Velocity 1.7's lexical rules as AWS runs them: a directive alone at the end of a line eats
//! that line break, and `#set` also eats the spaces and tabs before it; `##` comments run to
//! the end of the line (its break included); `#* *#` and `#[[ ]]#` need their close. A `#`
//! that starts no directive, and a `$` that starts no reference, are text; so is an unknown
//! `#name(…)` (a macro call: `#macro` bodies are parsed, to find their `#end`, and dropped).

use crate::ast::{BinOp, Expr, Node, Part, Ref, Root};
use crate::jsonpath::JsonPath;
use std::fmt;

/// Deepest nesting of blocks, parentheses and interpolated strings.
pub const MAX_NESTING: usize = 64;

/// A template that does not parse: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// What the parse of a whole template gives.
pub struct Parsed {
    pub nodes: Vec<Node>,
    pub blocks: Vec<Vec<Node>>,
    pub slots: usize,
    pub uses_request: bool,
}

struct Shared {
    slots: Vec<Box<str>>,
    blocks: Vec<Vec<Node>>,
    uses_request: bool,
    depth: usize,
}

/// An error at a byte offset, turned into line and column at the top.
struct Err0(usize, String);

type R<T> = Result<T, Err0>;

/// How a block ended.
enum End {
    Eof,
    /// `#end`.
    Close,
    Else,
    ElseIf(Expr),
}

struct Parser<'s, 'a> {
    b: &'s [u8],
    s: &'s str,
    pos: usize,
    /// Offset of `s` in the whole template (for a nested string's positions).
    base: usize,
    sh: &'a mut Shared,
}

/// Parses a whole template.
pub fn parse(src: &str) -> Result<Parsed, ParseError> {
    let mut sh = Shared {
        slots: Vec::new(),
        blocks: Vec::new(),
        uses_request: false,
        depth: 0,
    };
    let mut p = Parser {
        b: src.as_bytes(),
        s: src,
        pos: 0,
        base: 0,
        sh: &mut sh,
    };
    let result = p.block().and_then(|(nodes, end, at)| match end {
        End::Eof => Ok(nodes),
        End::Close => Err(Err0(at, "#end without an open block".into())),
        End::Else | End::ElseIf(_) => Err(Err0(at, "#else or #elseif without #if".into())),
    });
    match result {
        Ok(nodes) => Ok(Parsed {
            nodes,
            blocks: sh.blocks,
            slots: sh.slots.len(),
            uses_request: sh.uses_request,
        }),
        Err(Err0(at, message)) => {
            let at = at.min(src.len());
            let before = src.get(..at).unwrap_or(src);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            Err(ParseError {
                line,
                column,
                message,
            })
        }
    }
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl Parser<'_, '_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.b.get(self.pos + n).copied()
    }

    fn err<T>(&self, msg: impl Into<String>) -> R<T> {
        Err(Err0(self.base + self.pos, msg.into()))
    }

    fn enter(&mut self) -> R<()> {
        self.sh.depth += 1;
        if self.sh.depth > MAX_NESTING {
            return self.err(format!("nesting deeper than {MAX_NESTING}"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.sh.depth = self.sh.depth.saturating_sub(1);
    }

    /// An identifier (Velocity's: letters, digits, `_`, and `-` between them).
    fn ident(&mut self) -> Option<&str> {
        let start = self.pos;
        if !self.peek().is_some_and(is_ident_start) {
            return None;
        }
        self.pos += 1;
        loop {
            match self.peek() {
                Some(c) if is_ident(c) => self.pos += 1,
                Some(b'-') if self.peek_at(1).is_some_and(is_ident) => self.pos += 1,
                _ => break,
            }
        }
        self.s.get(start..self.pos)
    }

    fn slot(&mut self, name: &str) -> usize {
        if let Some(i) = self.sh.slots.iter().position(|s| &**s == name) {
            return i;
        }
        self.sh.slots.push(name.into());
        self.sh.slots.len() - 1
    }

    fn root(&mut self, name: &str) -> Root {
        match name {
            "input" => {
                self.sh.uses_request = true;
                Root::Input
            }
            "context" => {
                self.sh.uses_request = true;
                Root::Context
            }
            "util" => Root::Util,
            "stageVariables" => Root::StageVariables,
            "foreach" => Root::Foreach,
            "velocityCount" => Root::VelocityCount,
            "velocityHasNext" => Root::VelocityHasNext,
            _ => Root::Var(self.slot(name)),
        }
    }

    /// Eats spaces and tabs then one line break, if that is all that is left of the line.
    fn eat_line_end(&mut self) {
        let mut q = self.pos;
        while matches!(self.b.get(q), Some(b' ' | b'\t')) {
            q += 1;
        }
        match (self.b.get(q), self.b.get(q + 1)) {
            (Some(b'\n'), _) => self.pos = q + 1,
            (Some(b'\r'), Some(b'\n')) => self.pos = q + 2,
            (None, _) => self.pos = q,
            _ => {}
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> R<()> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(format!("expected {what}"))
        }
    }

    /// Nodes up to the end of input or a block's `#end`/`#else`/`#elseif` (and where that is).
    fn block(&mut self) -> R<(Vec<Node>, End, usize)> {
        let mut nodes = Vec::new();
        let mut text = String::new();
        let flush = |text: &mut String, nodes: &mut Vec<Node>| {
            if !text.is_empty() {
                nodes.push(Node::Text(std::mem::take(text).into()));
            }
        };
        while let Some(c) = self.peek() {
            match c {
                b'$' => {
                    let at = self.pos;
                    match self.reference(false)? {
                        Some(r) => {
                            flush(&mut text, &mut nodes);
                            nodes.push(Node::Ref(r));
                        }
                        None => {
                            self.pos = at + 1;
                            text.push('$');
                        }
                    }
                }
                b'#' => {
                    let at = self.pos;
                    if let Some(end) = self.directive(&mut text, &mut nodes)? {
                        flush(&mut text, &mut nodes);
                        return Ok((nodes, end, self.base + at));
                    }
                }
                _ => {
                    let start = self.pos;
                    while self.peek().is_some_and(|c| c != b'$' && c != b'#') {
                        self.pos += 1;
                    }
                    text.push_str(self.s.get(start..self.pos).unwrap_or(""));
                }
            }
        }
        flush(&mut text, &mut nodes);
        Ok((nodes, End::Eof, self.base + self.pos))
    }

    /// Handles a `#` in text: a comment, a directive (pushing its node), a block end (returned)
    /// or plain text.
    fn directive(&mut self, text: &mut String, nodes: &mut Vec<Node>) -> R<Option<End>> {
        let at = self.pos;
        match self.peek_at(1) {
            Some(b'#') => {
                while self.peek().is_some_and(|c| c != b'\n') {
                    self.pos += 1;
                }
                if self.peek() == Some(b'\n') {
                    self.pos += 1;
                }
                return Ok(None);
            }
            Some(b'*') => {
                let from = self.pos + 2;
                match find(self.b, from, b"*#") {
                    Some(e) => self.pos = e + 2,
                    None => return self.err("unclosed comment (#* without *#)"),
                }
                return Ok(None);
            }
            Some(b'[') if self.peek_at(2) == Some(b'[') => {
                let from = self.pos + 3;
                match find(self.b, from, b"]]#") {
                    Some(e) => {
                        text.push_str(self.s.get(from..e).unwrap_or(""));
                        self.pos = e + 3;
                    }
                    None => return self.err("unclosed unparsed block (#[[ without ]]#)"),
                }
                return Ok(None);
            }
            _ => {}
        }
        self.pos += 1;
        let braced = self.peek() == Some(b'{');
        if braced {
            self.pos += 1;
        }
        let word_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        let word = self.s.get(word_start..self.pos).unwrap_or("");
        if braced {
            if self.peek() == Some(b'}') {
                self.pos += 1;
            } else {
                self.pos = at + 1;
                text.push('#');
                return Ok(None);
            }
        }
        let flush = |text: &mut String, nodes: &mut Vec<Node>| {
            if !text.is_empty() {
                nodes.push(Node::Text(std::mem::take(text).into()));
            }
        };
        match word {
            "set" => {
                // Velocity 1.7's #set token takes the spaces and tabs before it.
                while text.ends_with([' ', '\t']) {
                    text.pop();
                }
                flush(text, nodes);
                self.expect(b'(', "( after #set")?;
                self.skip_ws();
                let target = self.expr_ref()?;
                match target.root {
                    Root::Var(_) => {}
                    Root::Context if !target.parts.is_empty() => {}
                    _ => {
                        return Err(Err0(
                            self.base + target.at,
                            "#set can assign only template variables and $context overrides".into(),
                        ))
                    }
                }
                if matches!(target.parts.last(), Some(Part::Call { .. })) {
                    return Err(Err0(
                        self.base + target.at,
                        "#set cannot assign to a method call".into(),
                    ));
                }
                self.expect(b'=', "= in #set")?;
                let value = self.expr()?;
                self.expect(b')', ") to close #set")?;
                self.eat_line_end();
                nodes.push(Node::Set { target, value });
            }
            "if" => {
                flush(text, nodes);
                self.expect(b'(', "( after #if")?;
                let cond = self.expr()?;
                self.expect(b')', ") to close the #if condition")?;
                self.eat_line_end();
                self.enter()?;
                let mut branches = Vec::new();
                let mut cond = cond;
                let otherwise = loop {
                    let (body, end, end_at) = self.block()?;
                    match end {
                        End::ElseIf(next) => {
                            branches.push((cond, body));
                            cond = next;
                        }
                        End::Else => {
                            branches.push((cond, body));
                            let (body, end, end_at) = self.block()?;
                            match end {
                                End::Close => break body,
                                End::Eof => {
                                    return Err(Err0(self.base + at, "#if without #end".into()))
                                }
                                _ => return Err(Err0(end_at, "#else after #else".into())),
                            }
                        }
                        End::Close => {
                            branches.push((cond, body));
                            break Vec::new();
                        }
                        End::Eof => return Err(Err0(self.base + at, "#if without #end".into())),
                    }
                    let _ = end_at;
                };
                self.leave();
                nodes.push(Node::If {
                    branches,
                    otherwise,
                });
            }
            "elseif" => {
                self.expect(b'(', "( after #elseif")?;
                let cond = self.expr()?;
                self.expect(b')', ") to close the #elseif condition")?;
                self.eat_line_end();
                return Ok(Some(End::ElseIf(cond)));
            }
            "else" => {
                self.eat_line_end();
                return Ok(Some(End::Else));
            }
            "end" => {
                self.eat_line_end();
                return Ok(Some(End::Close));
            }
            "foreach" => {
                flush(text, nodes);
                self.expect(b'(', "( after #foreach")?;
                self.skip_ws();
                let slot = self.loop_var()?;
                self.skip_ws();
                if !(self.peek() == Some(b'i') && self.peek_at(1) == Some(b'n')) {
                    return self.err("expected 'in' in #foreach");
                }
                self.pos += 2;
                let iter = self.expr()?;
                self.expect(b')', ") to close #foreach")?;
                self.eat_line_end();
                let body = self.end_block(at, "#foreach")?;
                nodes.push(Node::Foreach { slot, iter, body });
            }
            "define" => {
                flush(text, nodes);
                self.expect(b'(', "( after #define")?;
                self.skip_ws();
                let slot = self.loop_var()?;
                self.expect(b')', ") to close #define")?;
                self.eat_line_end();
                let body = self.end_block(at, "#define")?;
                self.sh.blocks.push(body);
                let block = self.sh.blocks.len() - 1;
                nodes.push(Node::Define { slot, block });
            }
            "macro" => {
                flush(text, nodes);
                self.expect(b'(', "( after #macro")?;
                while self.peek().is_some_and(|c| c != b')') {
                    self.pos += 1;
                }
                self.expect(b')', ") to close #macro")?;
                self.eat_line_end();
                self.end_block(at, "#macro")?;
            }
            "break" | "stop" => {
                flush(text, nodes);
                // `#break($foreach)`: the scope argument changes nothing here.
                let save = self.pos;
                self.skip_ws();
                if self.peek() == Some(b'(') {
                    while self.peek().is_some_and(|c| c != b')') {
                        self.pos += 1;
                    }
                    self.expect(b')', ")")?;
                } else {
                    self.pos = save;
                }
                self.eat_line_end();
                nodes.push(if word == "break" {
                    Node::Break
                } else {
                    Node::Stop
                });
            }
            "parse" | "include" | "evaluate" => {
                return Err(Err0(
                    self.base + at,
                    format!("#{word} is not supported in mapping templates"),
                ));
            }
            _ => {
                self.pos = at + 1;
                text.push('#');
            }
        }
        Ok(None)
    }

    /// A block that must end with `#end`.
    fn end_block(&mut self, at: usize, what: &str) -> R<Vec<Node>> {
        self.enter()?;
        let (body, end, end_at) = self.block()?;
        self.leave();
        match end {
            End::Close => Ok(body),
            End::Eof => Err(Err0(self.base + at, format!("{what} without #end"))),
            End::Else | End::ElseIf(_) => {
                Err(Err0(end_at, format!("#else or #elseif inside {what}")))
            }
        }
    }

    /// `$name` naming a template variable (a loop or `#define` variable).
    fn loop_var(&mut self) -> R<usize> {
        if self.peek() != Some(b'$') {
            return self.err("expected a $variable");
        }
        self.pos += 1;
        if self.peek() == Some(b'!') {
            self.pos += 1;
        }
        let braced = self.peek() == Some(b'{');
        if braced {
            self.pos += 1;
        }
        let Some(name) = self.ident().map(str::to_owned) else {
            return self.err("expected a variable name");
        };
        if braced {
            self.expect(b'}', "}")?;
        }
        match self.root(&name) {
            Root::Var(slot) => Ok(slot),
            _ => self.err(format!("${name} cannot be assigned")),
        }
    }

    /// A reference at `$`. In text (`in_expr` false) anything that does not form one is text:
    /// `None` and the caller prints the `$`.
    fn reference(&mut self, in_expr: bool) -> R<Option<Ref>> {
        let at = self.pos;
        self.pos += 1;
        if self.peek() == Some(b'!') {
            self.pos += 1;
        }
        let braced = self.peek() == Some(b'{');
        if braced {
            self.pos += 1;
        }
        let Some(name) = self.ident().map(str::to_owned) else {
            return if in_expr {
                self.err("expected a reference name after $")
            } else {
                Ok(None)
            };
        };
        let root = self.root(&name);
        let mut parts = Vec::new();
        loop {
            match self.peek() {
                Some(b'.') if self.peek_at(1).is_some_and(is_ident_start) => {
                    self.pos += 1;
                    let name: Box<str> = self.ident().unwrap_or("").into();
                    if self.peek() == Some(b'(') {
                        self.pos += 1;
                        self.enter()?;
                        let args = self.args(b')')?;
                        self.leave();
                        let path = match (root, parts.is_empty(), &*name, args.as_slice()) {
                            (Root::Input, true, "path" | "json", [Expr::Str(p)]) => {
                                match JsonPath::compile(p) {
                                    Ok(p) => Some(Box::new(p)),
                                    Err(e) => {
                                        return Err(Err0(
                                            self.base + at,
                                            format!("invalid JSONPath {p:?}: {e}"),
                                        ))
                                    }
                                }
                            }
                            _ => None,
                        };
                        parts.push(Part::Call { name, args, path });
                    } else {
                        parts.push(Part::Prop(name, crate::ast::Hint::default()));
                    }
                }
                Some(b'[') => {
                    self.pos += 1;
                    self.enter()?;
                    let index = self.expr()?;
                    self.leave();
                    self.expect(b']', "] to close an index")?;
                    parts.push(Part::Index(index));
                }
                _ => break,
            }
        }
        if braced {
            if self.peek() == Some(b'}') {
                self.pos += 1;
            } else if in_expr {
                return self.err("expected } to close ${");
            } else {
                return Ok(None);
            }
        }
        let names_only = !parts.is_empty() && parts.iter().all(|p| matches!(p, Part::Prop(..)));
        Ok(Some(Ref {
            root,
            parts,
            at: at + self.base,
            names_only,
        }))
    }

    fn expr_ref(&mut self) -> R<Ref> {
        if self.peek() != Some(b'$') {
            return self.err("expected a $reference");
        }
        match self.reference(true)? {
            Some(r) => Ok(r),
            None => self.err("expected a $reference"),
        }
    }

    /// Comma-separated expressions up to `close`.
    fn args(&mut self, close: u8) -> R<Vec<Expr>> {
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(args);
                }
                _ => return self.err(format!("expected , or {}", close as char)),
            }
        }
    }

    fn expr(&mut self) -> R<Expr> {
        self.enter()?;
        let e = self.or();
        self.leave();
        e
    }

    /// A word operator (`and`, `eq`, …) at the cursor, not part of a longer word.
    fn word_op(&mut self, w: &str) -> bool {
        let end = self.pos + w.len();
        if self.b.get(self.pos..end) == Some(w.as_bytes())
            && !self.b.get(end).copied().is_some_and(is_ident)
        {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn sym(&mut self, s: &str) -> bool {
        if self.b.get(self.pos..self.pos + s.len()) == Some(s.as_bytes()) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> R<Expr> {
        let mut l = self.and()?;
        loop {
            self.skip_ws();
            if self.sym("||") || self.word_op("or") {
                let r = self.and()?;
                l = Expr::Bin(BinOp::Or, Box::new(l), Box::new(r));
            } else {
                return Ok(l);
            }
        }
    }

    fn and(&mut self) -> R<Expr> {
        let mut l = self.equality()?;
        loop {
            self.skip_ws();
            if self.sym("&&") || self.word_op("and") {
                let r = self.equality()?;
                l = Expr::Bin(BinOp::And, Box::new(l), Box::new(r));
            } else {
                return Ok(l);
            }
        }
    }

    fn equality(&mut self) -> R<Expr> {
        let mut l = self.relation()?;
        loop {
            self.skip_ws();
            let op = if self.sym("==") || self.word_op("eq") {
                BinOp::Eq
            } else if self.sym("!=") || self.word_op("ne") {
                BinOp::Ne
            } else {
                return Ok(l);
            };
            let r = self.relation()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
    }

    fn relation(&mut self) -> R<Expr> {
        let mut l = self.additive()?;
        loop {
            self.skip_ws();
            let op = if self.sym("<=") || self.word_op("le") {
                BinOp::Le
            } else if self.sym(">=") || self.word_op("ge") {
                BinOp::Ge
            } else if self.sym("<") || self.word_op("lt") {
                BinOp::Lt
            } else if self.sym(">") || self.word_op("gt") {
                BinOp::Gt
            } else {
                return Ok(l);
            };
            let r = self.additive()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
    }

    fn additive(&mut self) -> R<Expr> {
        let mut l = self.multiplicative()?;
        loop {
            self.skip_ws();
            let op = if self.sym("+") {
                BinOp::Add
            } else if self.peek() == Some(b'-') && self.peek_at(1) != Some(b'-') {
                self.pos += 1;
                BinOp::Sub
            } else {
                return Ok(l);
            };
            let r = self.multiplicative()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
    }

    fn multiplicative(&mut self) -> R<Expr> {
        let mut l = self.unary()?;
        loop {
            self.skip_ws();
            let op = if self.sym("*") {
                BinOp::Mul
            } else if self.sym("/") {
                BinOp::Div
            } else if self.sym("%") {
                BinOp::Mod
            } else {
                return Ok(l);
            };
            let r = self.unary()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
    }

    fn unary(&mut self) -> R<Expr> {
        self.skip_ws();
        self.enter()?;
        let e = if self.peek() == Some(b'!') && self.peek_at(1) != Some(b'=') {
            self.pos += 1;
            Expr::Not(Box::new(self.unary()?))
        } else if self.word_op("not") {
            Expr::Not(Box::new(self.unary()?))
        } else if self.peek() == Some(b'-') {
            self.pos += 1;
            match self.unary()? {
                Expr::Int(i) => Expr::Int(-i),
                Expr::Float(f) => Expr::Float(-f),
                e => Expr::Neg(Box::new(e)),
            }
        } else {
            self.primary()?
        };
        self.leave();
        Ok(e)
    }

    fn primary(&mut self) -> R<Expr> {
        self.skip_ws();
        let Some(c) = self.peek() else {
            return self.err("unexpected end of template in an expression");
        };
        match c {
            b'(' => {
                self.pos += 1;
                let e = self.expr()?;
                self.expect(b')', ")")?;
                Ok(e)
            }
            b'$' => Ok(Expr::Ref(Box::new(self.expr_ref()?))),
            b'"' | b'\'' => self.string(c),
            b'0'..=b'9' => self.number(),
            b'[' => {
                self.pos += 1;
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Expr::List(Vec::new()));
                }
                let first = self.expr()?;
                self.skip_ws();
                if self.sym("..") {
                    let last = self.expr()?;
                    self.expect(b']', "] to close a range")?;
                    return Ok(Expr::Range(Box::new(first), Box::new(last)));
                }
                let mut items = vec![first];
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => {
                            self.pos += 1;
                            items.push(self.expr()?);
                        }
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Expr::List(items));
                        }
                        _ => return self.err("expected , or ] in a list"),
                    }
                }
            }
            b'{' => {
                self.pos += 1;
                let mut entries = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Expr::Map(entries));
                }
                loop {
                    let k = self.expr()?;
                    self.expect(b':', ": in a map")?;
                    let v = self.expr()?;
                    entries.push((k, v));
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Expr::Map(entries));
                        }
                        _ => return self.err("expected , or } in a map"),
                    }
                }
            }
            _ => {
                if self.word_op("true") {
                    Ok(Expr::Bool(true))
                } else if self.word_op("false") {
                    Ok(Expr::Bool(false))
                } else if self.word_op("null") {
                    Ok(Expr::Null)
                } else {
                    self.err(format!("unexpected {:?} in an expression", c as char))
                }
            }
        }
    }

    fn number(&mut self) -> R<Expr> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let float =
            self.peek() == Some(b'.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit());
        if float {
            self.pos += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        let text = self.s.get(start..self.pos).unwrap_or("0");
        if float {
            text.parse()
                .map(Expr::Float)
                .or_else(|_| self.err("invalid number"))
        } else {
            text.parse()
                .map(Expr::Int)
                .or_else(|_| self.err("integer out of range"))
        }
    }

    /// A string literal: `'…'` as is, `"…"` with references and directives in it; a doubled
    /// quote stands for one.
    fn string(&mut self, q: u8) -> R<Expr> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        let mut doubled = false;
        loop {
            match self.peek() {
                None => {
                    return Err(Err0(self.base + open, "unclosed string literal".into()));
                }
                Some(c) if c == q => {
                    if self.peek_at(1) == Some(q) {
                        doubled = true;
                        self.pos += 2;
                    } else {
                        break;
                    }
                }
                Some(b'\\') => self.pos += if self.peek_at(1).is_some() { 2 } else { 1 },
                Some(_) => self.pos += 1,
            }
        }
        let raw = self.s.get(start..self.pos).unwrap_or("");
        self.pos += 1;
        let content = if doubled {
            let qs = if q == b'"' { "\"" } else { "'" };
            raw.replace(&format!("{qs}{qs}"), qs)
        } else {
            raw.to_owned()
        };
        if q == b'\'' || !(content.contains('$') || content.contains('#')) {
            return Ok(Expr::Str(content.into()));
        }
        self.enter()?;
        let mut inner = Parser {
            b: content.as_bytes(),
            s: &content,
            pos: 0,
            base: self.base + start,
            sh: self.sh,
        };
        let (nodes, end, at) = inner.block()?;
        if !matches!(end, End::Eof) {
            return Err(Err0(at, "unbalanced directive in a string literal".into()));
        }
        self.leave();
        Ok(Expr::Interp(nodes))
    }
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}
