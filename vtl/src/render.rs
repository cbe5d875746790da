//! The renderer: runs a compiled template against one request's data.

use crate::ast::{BinOp, Expr, Node, Part, Ref, Root};
use crate::json::{Doc, JsonRef};
use crate::jsonpath::JsonPath;
use crate::value::{Builtin, Heap, Map, Value, MAX_DEPTH};
use crate::{Template, MAX_FOREACH};
use std::fmt;
use std::rc::Rc;

/// What a template reads: the body and parameters of the request (or of the integration's
/// response, for a response template), `$context`'s values by dotted name (`requestId`,
/// `identity.sourceIp`, …) and the stage's variables.
#[derive(Debug, Default, Clone, Copy)]
pub struct Input<'a> {
    pub body: &'a [u8],
    pub path: &'a [(&'a str, &'a str)],
    pub query: &'a [(&'a str, &'a str)],
    pub headers: &'a [(&'a str, &'a str)],
    pub context: &'a [(&'a str, &'a str)],
    pub stage_variables: &'a [(&'a str, &'a str)],
}

/// Bounds on one render.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest output and largest string value, bytes.
    pub max_output: usize,
    /// Most evaluation steps (nodes and expressions).
    pub max_steps: u64,
    /// Most items in one list or map, and in one range.
    pub max_items: usize,
}

impl Default for Limits {
    /// 10 MiB (AWS's payload limit), a million steps, 100,000 items.
    fn default() -> Self {
        Limits {
            max_output: 10 << 20,
            max_steps: 1_000_000,
            max_items: 100_000,
        }
    }
}

/// A `$context.requestOverride.*` or `$context.responseOverride.*` the template set: the
/// dotted name below `$context` (`responseOverride.status`, `responseOverride.header.X-A`)
/// and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub name: String,
    pub value: String,
}

/// What a render gives besides its text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The overrides set, in the order first set.
    pub overrides: Vec<Override>,
}

impl Rendered {
    /// The override named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.overrides
            .iter()
            .find(|o| o.name == name)
            .map(|o| o.value.as_str())
    }
}

/// Why a render failed (AWS answers such a request 500, or 400 for a body that is not JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// The output or a string grew past [`Limits::max_output`].
    TooLarge,
    /// More than [`Limits::max_steps`] steps.
    TooManySteps,
    /// A value nested too deep to print or compare, or `#define`s calling themselves.
    TooDeep,
    /// A list, map or range past [`Limits::max_items`].
    TooManyItems,
    /// `$input.path`/`$input.json` on a body that is not JSON.
    InvalidBody(String),
    /// A method failed as its Java counterpart throws (bad index, bad regex, bad escape).
    Method(String),
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::TooLarge => f.write_str("template output too large"),
            RenderError::TooManySteps => f.write_str("template evaluation took too many steps"),
            RenderError::TooDeep => f.write_str("template values or #define calls nest too deep"),
            RenderError::TooManyItems => f.write_str("a template list or map has too many items"),
            RenderError::InvalidBody(e) => write!(f, "the body is not valid JSON: {e}"),
            RenderError::Method(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for RenderError {}

pub(crate) type Res<T> = Result<T, RenderError>;

/// How a block ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Stop,
}

/// Deepest `#define` expansion (a block naming itself).
const MAX_DEFINE_DEPTH: usize = 32;

#[derive(Clone, Copy)]
struct Loop {
    index: usize,
    has_next: bool,
}

pub(crate) struct Renderer<'t, 'i> {
    t: &'t Template,
    pub(crate) input: &'i Input<'i>,
    pub(crate) limits: &'t Limits,
    pub(crate) heap: Heap,
    slots: Vec<Value>,
    steps: u64,
    loops: Vec<Loop>,
    define_depth: usize,
    body_text: Option<Rc<str>>,
    body_json: Option<Rc<Doc>>,
    params: Option<Value>,
    overrides: Vec<Override>,
}

pub(crate) fn render(
    t: &Template,
    input: &Input<'_>,
    out: &mut String,
    limits: &Limits,
) -> Res<Rendered> {
    let mut r = Renderer {
        t,
        input,
        limits,
        heap: Heap::default(),
        slots: vec![Value::Null; t.slots],
        steps: 0,
        loops: Vec::new(),
        define_depth: 0,
        body_text: None,
        body_json: None,
        params: None,
        overrides: Vec::new(),
    };
    let start = out.len();
    match r.nodes(&t.nodes, out) {
        Ok(_) => Ok(Rendered {
            overrides: std::mem::take(&mut r.overrides),
        }),
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

impl Renderer<'_, '_> {
    fn step(&mut self) -> Res<()> {
        self.steps += 1;
        if self.steps > self.limits.max_steps {
            return Err(RenderError::TooManySteps);
        }
        Ok(())
    }

    pub(crate) fn check_len(&self, len: usize) -> Res<()> {
        if len > self.limits.max_output {
            Err(RenderError::TooLarge)
        } else {
            Ok(())
        }
    }

    pub(crate) fn check_items(&self, n: usize) -> Res<()> {
        if n > self.limits.max_items {
            Err(RenderError::TooManyItems)
        } else {
            Ok(())
        }
    }

    fn nodes(&mut self, nodes: &[Node], out: &mut String) -> Res<Flow> {
        // Each node is a step, counted for the whole block as it starts (one check, not one
        // per node).
        self.steps += nodes.len() as u64;
        if self.steps > self.limits.max_steps {
            return Err(RenderError::TooManySteps);
        }
        for n in nodes {
            match n {
                Node::Text(t) => {
                    out.push_str(t);
                    self.check_len(out.len())?;
                }
                Node::Ref(r) => {
                    let printed = match r.root {
                        Root::Var(_) => self.print_body_member(r, out),
                        Root::Context => self.print_context(r, out),
                        Root::Input => self.print_input_json(r, out)?,
                        _ => false,
                    };
                    if !printed {
                        let v = self.reference(r)?;
                        if !v.write_display(out, 0) {
                            return Err(RenderError::TooDeep);
                        }
                    }
                    self.check_len(out.len())?;
                }
                Node::Set { target, value } => {
                    let v = self.eval(value)?;
                    // Velocity 1.7: a null right-hand side leaves the target as it was.
                    if !v.is_null() {
                        self.assign(target, v)?;
                    }
                }
                Node::If {
                    branches,
                    otherwise,
                } => {
                    let mut body = otherwise;
                    for (cond, b) in branches {
                        if self.truth(cond)? {
                            body = b;
                            break;
                        }
                    }
                    // Text alone (`#if($foreach.hasNext),#end`) printed without entering a
                    // block: the same step and length checks.
                    if let [Node::Text(t)] = body.as_slice() {
                        self.steps += 1;
                        if self.steps > self.limits.max_steps {
                            return Err(RenderError::TooManySteps);
                        }
                        out.push_str(t);
                        self.check_len(out.len())?;
                        continue;
                    }
                    let flow = self.nodes(body, out)?;
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
                Node::Foreach { slot, iter, body } => {
                    if self.foreach(*slot, iter, body, out)? == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
                Node::Define { slot, block } => {
                    if let Some(s) = self.slots.get_mut(*slot) {
                        *s = Value::Builtin(Builtin::Define(*block));
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Stop => return Ok(Flow::Stop),
            }
        }
        Ok(Flow::Normal)
    }

    /// Prints `$var.a.b` where `$var` holds an unchanged object of the body and each name
    /// is a member (the common `$item.sku`), straight from the body's text: the same text
    /// as the general path without a value per step. False (nothing printed) for any other
    /// reference.
    fn print_body_member(&self, r: &Ref, out: &mut String) -> bool {
        let Root::Var(slot) = r.root else {
            return false;
        };
        let Some(Value::Json(j)) = self.slots.get(slot) else {
            return false;
        };
        if !r.names_only || !j.pristine() {
            return false;
        }
        if let [Part::Prop(name, hint)] = r.parts.as_slice() {
            return j.write_display_member(name, hint, out);
        }
        // Every part is a name (checked above).
        let names = r.parts.iter().filter_map(|p| match p {
            Part::Prop(n, hint) => Some((&**n, hint)),
            _ => None,
        });
        j.write_display_path(names, out)
    }

    /// Prints `$context.a.b` when the request has that value (or the template set it), with
    /// no key or value built: what the general path prints. False (nothing printed) for
    /// anything else (a section, a missing name, a method call).
    fn print_context(&self, r: &Ref, out: &mut String) -> bool {
        let is_key = |k: &str| dotted_is(k, &r.parts);
        if !r.names_only {
            return false;
        }
        if let Some(o) = self.overrides.iter().find(|o| is_key(&o.name)) {
            out.push_str(&o.value);
            return true;
        }
        match self.input.context.iter().find(|(k, _)| is_key(k)) {
            Some((_, v)) => {
                out.push_str(v);
                true
            }
            None => false,
        }
    }

    /// Prints `$input.json('literal path')` straight into the output: the text the general
    /// path makes a string of first. False (nothing printed) for any other reference.
    fn print_input_json(&mut self, r: &Ref, out: &mut String) -> Res<bool> {
        let [Part::Call {
            name,
            path: Some(p),
            ..
        }] = r.parts.as_slice()
        else {
            return Ok(false);
        };
        if &**name != "json" {
            return Ok(false);
        }
        let v = self.input_path(p)?;
        // A definite path that matches nothing reads as an empty JSON string.
        if v.is_null() && p.is_definite() {
            out.push_str("\"\"");
        } else if !v.write_json(out, 0) {
            return Err(RenderError::TooDeep);
        }
        Ok(true)
    }

    fn foreach(&mut self, slot: usize, iter: &Expr, body: &[Node], out: &mut String) -> Res<Flow> {
        let over = self.eval(iter)?;
        // A body array as it came: its items straight from the tape, with no list made.
        if let Value::Json(j) = &over {
            if !j.is_object() && j.owned().is_none() {
                let n = j.len().min(MAX_FOREACH);
                return self.foreach_items(slot, j.items().take(n), n, body, out);
            }
        }
        let Some(mut items) = over.elements() else {
            return Ok(Flow::Normal);
        };
        items.truncate(MAX_FOREACH);
        let n = items.len();
        self.foreach_items(slot, items.into_iter(), n, body, out)
    }

    /// Runs `body` with each of the `n` `items` in `slot`.
    fn foreach_items(
        &mut self,
        slot: usize,
        items: impl Iterator<Item = Value>,
        n: usize,
        body: &[Node],
        out: &mut String,
    ) -> Res<Flow> {
        let saved = self.slots.get(slot).cloned().unwrap_or_default();
        let mut flow = Flow::Normal;
        for (index, item) in items.enumerate() {
            if let Some(s) = self.slots.get_mut(slot) {
                *s = item;
            }
            self.loops.push(Loop {
                index,
                has_next: index + 1 < n,
            });
            let f = self.nodes(body, out);
            self.loops.pop();
            match f? {
                Flow::Normal => {}
                Flow::Break => break,
                Flow::Stop => {
                    flow = Flow::Stop;
                    break;
                }
            }
        }
        if let Some(s) = self.slots.get_mut(slot) {
            *s = saved;
        }
        Ok(flow)
    }

    /// A `#define`d block's text.
    fn expand(&mut self, block: usize) -> Res<Value> {
        if self.define_depth >= MAX_DEFINE_DEPTH {
            return Err(RenderError::TooDeep);
        }
        let t = self.t;
        let Some(nodes) = t.blocks.get(block) else {
            return Ok(Value::Null);
        };
        self.define_depth += 1;
        let mut s = String::new();
        let r = self.nodes(nodes, &mut s);
        self.define_depth -= 1;
        r?;
        Ok(Value::string(s))
    }

    fn root(&mut self, root: Root) -> Res<Value> {
        Ok(match root {
            Root::Var(s) => match self.slots.get(s) {
                Some(Value::Builtin(Builtin::Define(b))) => {
                    let b = *b;
                    self.expand(b)?
                }
                Some(v) => v.clone(),
                None => Value::Null,
            },
            Root::Input => Value::Builtin(Builtin::Input),
            Root::Context => Value::Builtin(Builtin::Context(Rc::from(""))),
            Root::Util => Value::Builtin(Builtin::Util),
            Root::StageVariables => Value::Builtin(Builtin::StageVariables),
            Root::Foreach => match self.loops.last() {
                Some(l) => Value::Builtin(Builtin::Foreach {
                    index: l.index,
                    has_next: l.has_next,
                }),
                None => Value::Null,
            },
            Root::VelocityCount => self
                .loops
                .last()
                .map_or(Value::Null, |l| Value::Int(l.index as i64 + 1)),
            Root::VelocityHasNext => self
                .loops
                .last()
                .map_or(Value::Null, |l| Value::Bool(l.has_next)),
        })
    }

    /// Whether a condition holds: [`Renderer::eval`]'s truth, `$foreach.name` read straight
    /// from the loop.
    #[inline]
    fn truth(&mut self, cond: &Expr) -> Res<bool> {
        if let Expr::Ref(r) = cond {
            if let (Root::Foreach, [Part::Prop(name, _)]) = (r.root, r.parts.as_slice()) {
                self.step()?;
                return Ok(self
                    .loops
                    .last()
                    .is_some_and(|l| foreach_prop(l.index, l.has_next, name).truthy()));
            }
        }
        Ok(self.eval(cond)?.truthy())
    }

    fn reference(&mut self, r: &Ref) -> Res<Value> {
        // `$foreach.hasNext` (the usual test in a loop) read straight from the loop: what
        // `prop` of the `$foreach` value gives, without making that value first.
        if let (Root::Foreach, [Part::Prop(name, _)]) = (r.root, r.parts.as_slice()) {
            return Ok(self
                .loops
                .last()
                .map_or(Value::Null, |l| foreach_prop(l.index, l.has_next, name)));
        }
        let mut cur = self.root(r.root)?;
        for p in &r.parts {
            if cur.is_null() {
                return Ok(Value::Null);
            }
            cur = self.part(cur, p)?;
        }
        Ok(cur)
    }

    fn part(&mut self, cur: Value, p: &Part) -> Res<Value> {
        match p {
            Part::Prop(name, _) => self.prop(&cur, name),
            Part::Index(e) => {
                let k = self.eval(e)?;
                Ok(if cur.is_list() {
                    k.as_int()
                        .and_then(|i| usize::try_from(i).ok())
                        .and_then(|i| cur.item(i))
                        .unwrap_or_default()
                } else if cur.is_map() {
                    let key = self.key_string(&k)?;
                    cur.member(&key).unwrap_or_default()
                } else if let Value::Builtin(_) = cur {
                    let key = self.key_string(&k)?;
                    self.prop(&cur, &key)?
                } else {
                    Value::Null
                })
            }
            Part::Call { name, args, path } => {
                // A compiled path's call takes no evaluated arguments, and one or two
                // arguments (most calls) stay on the stack: no list to allocate.
                match (path, args.as_slice()) {
                    (Some(_), _) | (None, []) => self.call(cur, name, &[], path.as_deref()),
                    (None, [a]) => {
                        let a = self.eval(a)?;
                        self.call(cur, name, std::slice::from_ref(&a), None)
                    }
                    (None, [a, b]) => {
                        let vals = [self.eval(a)?, self.eval(b)?];
                        self.call(cur, name, &vals, None)
                    }
                    (None, args) => {
                        let mut vals = Vec::with_capacity(args.len());
                        for a in args {
                            vals.push(self.eval(a)?);
                        }
                        self.call(cur, name, &vals, None)
                    }
                }
            }
        }
    }

    pub(crate) fn key_string(&self, k: &Value) -> Res<String> {
        let mut s = String::new();
        if !k.write_display(&mut s, 0) {
            return Err(RenderError::TooDeep);
        }
        self.check_len(s.len())?;
        Ok(s)
    }

    /// `$x.name`: a map's key, a getter, or a gateway variable.
    pub(crate) fn prop(&mut self, cur: &Value, name: &str) -> Res<Value> {
        Ok(match cur {
            v if v.is_map() => v.member(name).unwrap_or_default(),
            Value::Builtin(Builtin::Input) => match name {
                "body" => Value::Str(self.body_text()),
                "params" => self.params()?,
                _ => Value::Null,
            },
            Value::Builtin(Builtin::Context(prefix)) => self.context(prefix, name),
            Value::Builtin(Builtin::StageVariables) => self
                .input
                .stage_variables
                .iter()
                .find(|(k, _)| *k == name)
                .map_or(Value::Null, |(_, v)| Value::str(v)),
            Value::Builtin(Builtin::Foreach { index, has_next }) => {
                foreach_prop(*index, *has_next, name)
            }
            Value::Str(_)
            | Value::List(_)
            | Value::Json(_)
            | Value::Int(_)
            | Value::Float(_)
            | Value::Bool(_) => {
                // A getter: `$list.empty` is `isEmpty()`, `$s.bytes` `getBytes()`.
                let mut cap = String::with_capacity(name.len() + 3);
                let mut chars = name.chars();
                if let Some(c) = chars.next() {
                    cap.extend(c.to_uppercase());
                    cap.push_str(chars.as_str());
                }
                let v = self.call(cur.clone(), &format!("get{cap}"), &[], None)?;
                if v.is_null() {
                    self.call(cur.clone(), &format!("is{cap}"), &[], None)?
                } else {
                    v
                }
            }
            _ => Value::Null,
        })
    }

    fn context(&self, prefix: &str, name: &str) -> Value {
        let key: std::borrow::Cow<str> = if prefix.is_empty() {
            std::borrow::Cow::Borrowed(name)
        } else {
            std::borrow::Cow::Owned(format!("{prefix}.{name}"))
        };
        let key = &*key;
        if let Some(o) = self.overrides.iter().find(|o| o.name == key) {
            return Value::str(&o.value);
        }
        if let Some((_, v)) = self.input.context.iter().find(|(k, _)| *k == key) {
            return Value::str(v);
        }
        let is_section = matches!(
            key,
            "requestOverride"
                | "responseOverride"
                | "requestOverride.header"
                | "requestOverride.querystring"
                | "requestOverride.path"
                | "responseOverride.header"
        ) || self.input.context.iter().any(|(k, _)| {
            k.len() > key.len() && k.starts_with(key) && k.as_bytes().get(key.len()) == Some(&b'.')
        });
        if is_section {
            Value::Builtin(Builtin::Context(Rc::from(key)))
        } else {
            Value::Null
        }
    }

    pub(crate) fn body_text(&mut self) -> Rc<str> {
        if let Some(b) = &self.body_text {
            return b.clone();
        }
        let b: Rc<str> = Rc::from(body_str(self.input.body));
        self.body_text = Some(b.clone());
        b
    }

    /// The body's root JSON value: parsed (a tape) once per render, a fresh reference per
    /// call.
    pub(crate) fn body_json(&mut self) -> Res<Value> {
        if let Some(doc) = &self.body_json {
            return Ok(Doc::root(doc));
        }
        // The document copies the text into a reused buffer: no body-sized allocation.
        let doc = match &self.body_text {
            Some(t) => Doc::parse(t),
            None => Doc::parse(&body_str(self.input.body)),
        }
        .map_err(|e| RenderError::InvalidBody(e.0))?;
        let root = Doc::root(&doc);
        self.body_json = Some(doc);
        Ok(root)
    }

    /// A JSON object or array as a Java collection, made once (then the reference reads and
    /// changes that collection).
    pub(crate) fn materialize(&mut self, j: &JsonRef) -> Res<Value> {
        if let Some(v) = j.owned() {
            return Ok(v);
        }
        self.check_items(j.len())?;
        let v = if j.is_object() {
            let mut m = Map::default();
            for (k, v) in j.entries() {
                m.put(k, v);
            }
            self.heap.map(m)
        } else {
            self.heap.list(j.values(), true)
        };
        j.set_owned(v.clone());
        Ok(v)
    }

    /// `$input.params()`: `{path={…}, querystring={…}, header={…}}`, built once.
    pub(crate) fn params(&mut self) -> Res<Value> {
        if let Some(p) = &self.params {
            return Ok(p.clone());
        }
        let section = |pairs: &[(&str, &str)], heap: &mut Heap| {
            let mut m = Map::default();
            for (k, v) in pairs {
                m.put(Rc::from(*k), Value::str(v));
            }
            heap.map(m)
        };
        let input = self.input;
        let mut m = Map::default();
        m.put(Rc::from("path"), section(input.path, &mut self.heap));
        m.put(
            Rc::from("querystring"),
            section(input.query, &mut self.heap),
        );
        m.put(Rc::from("header"), section(input.headers, &mut self.heap));
        let v = self.heap.map(m);
        self.params = Some(v.clone());
        Ok(v)
    }

    /// `$input.params(name)`: path, then query string, then header (names case-blind);
    /// the empty string when none has it.
    pub(crate) fn param(&self, name: &str) -> Value {
        let i = self.input;
        i.path
            .iter()
            .chain(i.query)
            .find(|(k, _)| *k == name)
            .or_else(|| i.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .map_or_else(|| Value::str(""), |(_, v)| Value::str(v))
    }

    pub(crate) fn input_path(&mut self, p: &JsonPath) -> Res<Value> {
        let root = self.body_json()?;
        Ok(p.read(&root, &mut self.heap))
    }

    fn assign(&mut self, target: &Ref, v: Value) -> Res<()> {
        let Some((last, init)) = target.parts.split_last() else {
            if let Root::Var(s) = target.root {
                if let Some(slot) = self.slots.get_mut(s) {
                    *slot = v;
                }
            }
            return Ok(());
        };
        if target.root == Root::Context {
            // `$context.requestOverride.header.X`, `$context.responseOverride.status`, …
            let mut name = String::new();
            for p in &target.parts {
                let piece = match p {
                    Part::Prop(n, _) => n.to_string(),
                    Part::Index(e) => {
                        let k = self.eval(e)?;
                        self.key_string(&k)?
                    }
                    Part::Call { .. } => return Ok(()),
                };
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(&piece);
            }
            if is_override(&name) {
                let value = self.key_string(&v)?;
                match self.overrides.iter_mut().find(|o| o.name == name) {
                    Some(o) => o.value = value,
                    None => self.overrides.push(Override { name, value }),
                }
            }
            return Ok(());
        }
        let mut cur = self.root(target.root)?;
        for p in init {
            if cur.is_null() {
                return Ok(());
            }
            cur = self.part(cur, p)?;
        }
        let key = match last {
            Part::Prop(n, _) => Value::str(n),
            Part::Index(e) => self.eval(e)?,
            Part::Call { .. } => return Ok(()),
        };
        if let Value::Json(j) = &cur {
            cur = self.materialize(j)?;
        }
        match &cur {
            Value::Map(m) => {
                let k = self.key_string(&key)?;
                let mut m = m.borrow_mut();
                m.put(Rc::from(k), v);
                self.check_items(m.entries.len())?;
            }
            Value::List(l) => {
                if let Some(i) = key.as_int().and_then(|i| usize::try_from(i).ok()) {
                    if let Some(slot) = l.borrow_mut().items.get_mut(i) {
                        *slot = v;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn eval(&mut self, e: &Expr) -> Res<Value> {
        self.step()?;
        Ok(match e {
            Expr::Null => Value::Null,
            Expr::Bool(b) => Value::Bool(*b),
            Expr::Int(i) => Value::Int(*i),
            Expr::Float(f) => Value::Float(*f),
            Expr::Str(s) => Value::str(s),
            Expr::Interp(nodes) => {
                let mut s = String::new();
                self.nodes(nodes, &mut s)?;
                Value::string(s)
            }
            Expr::Ref(r) => self.reference(r)?,
            Expr::List(items) => {
                let mut v = Vec::with_capacity(items.len());
                for i in items {
                    v.push(self.eval(i)?);
                }
                self.heap.list(v, false)
            }
            Expr::Range(a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                let (Some(a), Some(b)) = (a.as_int(), b.as_int()) else {
                    return Ok(Value::Null);
                };
                let n = a.abs_diff(b).saturating_add(1);
                self.check_items(usize::try_from(n).unwrap_or(usize::MAX))?;
                let items: Vec<Value> = if a <= b {
                    (a..=b).map(Value::Int).collect()
                } else {
                    (b..=a).rev().map(Value::Int).collect()
                };
                self.heap.list(items, false)
            }
            Expr::Map(entries) => {
                let mut m = Map::default();
                for (k, v) in entries {
                    let k = self.eval(k)?;
                    let k = self.key_string(&k)?;
                    let v = self.eval(v)?;
                    m.put(Rc::from(k), v);
                }
                self.heap.map(m)
            }
            Expr::Not(a) => Value::Bool(!self.eval(a)?.truthy()),
            Expr::Neg(a) => match self.eval(a)? {
                Value::Int(i) => i
                    .checked_neg()
                    .map_or(Value::Float(-(i as f64)), Value::Int),
                Value::Float(f) => Value::Float(-f),
                _ => Value::Null,
            },
            Expr::Bin(BinOp::And, a, b) => {
                Value::Bool(self.eval(a)?.truthy() && self.eval(b)?.truthy())
            }
            Expr::Bin(BinOp::Or, a, b) => {
                Value::Bool(self.eval(a)?.truthy() || self.eval(b)?.truthy())
            }
            Expr::Bin(op, a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                self.binary(*op, &a, &b)?
            }
        })
    }

    fn binary(&mut self, op: BinOp, a: &Value, b: &Value) -> Res<Value> {
        use std::cmp::Ordering;
        Ok(match op {
            BinOp::Eq | BinOp::Ne => {
                let eq = values_equal(a, b, 0).ok_or(RenderError::TooDeep)?;
                Value::Bool(eq == (op == BinOp::Eq))
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let ord = match (a, b) {
                    (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
                    _ => match (num(a), num(b)) {
                        (Some(x), Some(y)) => x.partial_cmp(&y),
                        _ => None,
                    },
                };
                let Some(o) = ord else {
                    return Ok(Value::Bool(false));
                };
                Value::Bool(match op {
                    BinOp::Lt => o == Ordering::Less,
                    BinOp::Le => o != Ordering::Greater,
                    BinOp::Gt => o == Ordering::Greater,
                    _ => o != Ordering::Less,
                })
            }
            BinOp::Add if !(is_num(a) && is_num(b)) => {
                // Velocity 1.7: `+` with a non-number on either side concatenates (null
                // gives null).
                if a.is_null() || b.is_null() {
                    return Ok(Value::Null);
                }
                let mut s = String::new();
                if !(a.write_display(&mut s, 0) && b.write_display(&mut s, 0)) {
                    return Err(RenderError::TooDeep);
                }
                self.check_len(s.len())?;
                Value::string(s)
            }
            _ => arith(op, a, b),
        })
    }
}

/// `$foreach.name` in the loop at (0-based) `index`.
fn foreach_prop(index: usize, has_next: bool, name: &str) -> Value {
    match name {
        "hasNext" => Value::Bool(has_next),
        "index" => Value::Int(index as i64),
        "count" => Value::Int(index as i64 + 1),
        "first" => Value::Bool(index == 0),
        "last" => Value::Bool(!has_next),
        _ => Value::Null,
    }
}

/// The body as text: AWS reads a request without one as `{}`; bytes that are not UTF-8
/// become U+FFFD.
fn body_str(body: &[u8]) -> std::borrow::Cow<'_, str> {
    if body.is_empty() {
        return std::borrow::Cow::Borrowed("{}");
    }
    // `from_utf8` first: the lossy reader checks valid text several times slower.
    match std::str::from_utf8(body) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(body),
    }
}

/// Whether `key` is the names of `parts` (all `.name`s) joined with dots.
fn dotted_is(key: &str, parts: &[Part]) -> bool {
    let mut rest = key;
    for (i, p) in parts.iter().enumerate() {
        let Part::Prop(n, _) = p else {
            return false;
        };
        if i > 0 {
            match rest.strip_prefix('.') {
                Some(r) => rest = r,
                None => return false,
            }
        }
        match rest.strip_prefix(&**n) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

fn is_override(name: &str) -> bool {
    if name == "responseOverride.status" {
        return true;
    }
    [
        "requestOverride.header.",
        "requestOverride.querystring.",
        "requestOverride.path.",
        "responseOverride.header.",
    ]
    .iter()
    .any(|p| name.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

fn is_num(v: &Value) -> bool {
    matches!(v, Value::Int(_) | Value::Float(_))
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// Integer arithmetic stays integral (an overflow goes to floating point, as Velocity
/// widens); dividing by zero, or a non-number, gives null.
fn arith(op: BinOp, a: &Value, b: &Value) -> Value {
    if let (Value::Int(x), Value::Int(y)) = (a, b) {
        let (x, y) = (*x, *y);
        let r = match op {
            BinOp::Add => x.checked_add(y),
            BinOp::Sub => x.checked_sub(y),
            BinOp::Mul => x.checked_mul(y),
            BinOp::Div if y == 0 => return Value::Null,
            BinOp::Div => x.checked_div(y),
            BinOp::Mod if y == 0 => return Value::Null,
            BinOp::Mod => x.checked_rem(y),
            _ => return Value::Null,
        };
        if let Some(r) = r {
            return Value::Int(r);
        }
    }
    let (Some(x), Some(y)) = (num(a), num(b)) else {
        return Value::Null;
    };
    match op {
        BinOp::Add => Value::Float(x + y),
        BinOp::Sub => Value::Float(x - y),
        BinOp::Mul => Value::Float(x * y),
        BinOp::Div if y == 0.0 => Value::Null,
        BinOp::Div => Value::Float(x / y),
        BinOp::Mod if y == 0.0 => Value::Null,
        BinOp::Mod => Value::Float(x % y),
        _ => Value::Null,
    }
}

/// Velocity 1.7's `==`: numbers by value, same kinds by `equals`, otherwise the two
/// `toString()`s; `None` when the values nest too deep to compare.
pub(crate) fn values_equal(a: &Value, b: &Value, depth: usize) -> Option<bool> {
    if depth > MAX_DEPTH {
        return None;
    }
    Some(match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        _ if is_num(a) && is_num(b) => num(a) == num(b),
        (Value::Json(_), _) | (_, Value::Json(_)) => {
            // A body object or array: equal when their JSON is.
            let (mut x, mut y) = (String::new(), String::new());
            if !(a.write_json(&mut x, depth) && b.write_json(&mut y, depth)) {
                return None;
            }
            x == y
        }
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            if Rc::ptr_eq(x, y) {
                return Some(true);
            }
            let (x, y) = (x.borrow(), y.borrow());
            if x.items.len() != y.items.len() {
                return Some(false);
            }
            for (p, q) in x.items.iter().zip(&y.items) {
                if !values_equal(p, q, depth + 1)? {
                    return Some(false);
                }
            }
            true
        }
        (Value::Map(x), Value::Map(y)) => {
            if Rc::ptr_eq(x, y) {
                return Some(true);
            }
            let (x, y) = (x.borrow(), y.borrow());
            if x.entries.len() != y.entries.len() {
                return Some(false);
            }
            for (k, v) in &x.entries {
                match y.get(k) {
                    Some(w) if values_equal(v, w, depth + 1)? => {}
                    _ => return Some(false),
                }
            }
            true
        }
        _ => {
            let (mut x, mut y) = (String::new(), String::new());
            if !(a.write_display(&mut x, depth) && b.write_display(&mut y, depth)) {
                return None;
            }
            x == y
        }
    })
}
