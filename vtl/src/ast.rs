//! The compiled program: a template parsed once into nodes and expressions, variables
//! resolved to slots, literal JSONPaths compiled.

use crate::jsonpath::JsonPath;

/// A piece of template.
#[derive(Debug)]
pub enum Node {
    /// Text, printed as is.
    Text(Box<str>),
    /// `$ref`, `$!ref`, `${ref}`: printed (nothing when null).
    Ref(Ref),
    /// `#set($target = value)`.
    Set { target: Ref, value: Expr },
    /// `#if … #elseif … #else … #end`.
    If {
        branches: Vec<(Expr, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    /// `#foreach($slot in iter) … #end`.
    Foreach {
        slot: usize,
        iter: Expr,
        body: Vec<Node>,
    },
    /// `#define($slot) … #end`: binds the block (by index into the template's blocks).
    Define { slot: usize, block: usize },
    /// `#break`.
    Break,
    /// `#stop`.
    Stop,
}

/// What a reference starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// A template variable, by slot.
    Var(usize),
    Input,
    Context,
    Util,
    StageVariables,
    /// `$foreach` (of the innermost loop).
    Foreach,
    /// `$velocityCount` (1-based).
    VelocityCount,
    /// `$velocityHasNext`.
    VelocityHasNext,
}

/// A reference: a root and what follows it.
#[derive(Debug)]
pub struct Ref {
    pub root: Root,
    pub parts: Vec<Part>,
    /// Byte offset in the template (for messages).
    pub at: usize,
    /// Whether `parts` is one or more `.name`s and nothing else (`$item.sku`,
    /// `$context.identity.sourceIp`): the references printed without a value per step.
    pub names_only: bool,
}

/// One step after a reference's root.
#[derive(Debug)]
pub enum Part {
    /// `.name` (a map key, or a getter), and where the member was found last time.
    Prop(Box<str>, Hint),
    /// `[expr]`.
    Index(Expr),
    /// `.name(args)`; `path` is the JSONPath of `$input.path/json('literal')`, compiled.
    Call {
        name: Box<str>,
        args: Vec<Expr>,
        path: Option<Box<JsonPath>>,
    },
}

/// Where a `.name` last found its member in a body object: the member name's place on the
/// tape, counted from the object (0: none yet). Objects read by one reference (`$item.sku`
/// in a loop) mostly have the same shape, so the next read tries that place first (checked:
/// a member name there of that very object, reading `name`) before scanning the members.
/// Shared by the workers that render the template; relaxed atomics, as it is only a guess.
#[derive(Debug, Default)]
pub struct Hint(std::sync::atomic::AtomicU32);

impl Hint {
    pub fn get(&self) -> u32 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set(&self, at: u32) {
        if self.get() != at {
            self.0.store(at, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

/// An expression (in directives and method arguments).
#[derive(Debug)]
pub enum Expr {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string without interpolation.
    Str(Box<str>),
    /// A double-quoted string with references or directives in it.
    Interp(Vec<Node>),
    Ref(Box<Ref>),
    List(Vec<Expr>),
    /// `[a..b]`.
    Range(Box<Expr>, Box<Expr>),
    Map(Vec<(Expr, Expr)>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
}
