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
}

/// One step after a reference's root.
#[derive(Debug)]
pub enum Part {
    /// `.name` (a map key, or a getter).
    Prop(Box<str>),
    /// `[expr]`.
    Index(Expr),
    /// `.name(args)`; `path` is the JSONPath of `$input.path/json('literal')`, compiled.
    Call {
        name: Box<str>,
        args: Vec<Expr>,
        path: Option<Box<JsonPath>>,
    },
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
