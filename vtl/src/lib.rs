//! AWS API Gateway's mapping-template language: Velocity (VTL 1.7) with the gateway's
//! variables (`$input`, `$util`, `$context`, `$stageVariables`), compiled once and rendered
//! per request. No I/O, no clock.
//!
//! ```
//! use tollgate_vtl::{Input, Template};
//! let t = Template::compile(r#"{"id": "$input.params('id')", "n": $input.json('$.n')}"#).unwrap();
//! let input = Input { body: br#"{"n": 3}"#, path: &[("id", "7")], ..Input::default() };
//! assert_eq!(t.render_to_string(&input).unwrap(), r#"{"id": "7", "n": 3}"#);
//! ```
//!
//! Rendering never panics and is bounded: output size, evaluation steps, `#foreach`
//! iterations (1,000 per loop, as AWS), collection sizes and nesting depth all have limits
//! ([`Limits`]); exceeding one is a [`RenderError`], never a partial answer.
//!
//! Where this engine knowingly differs from AWS's (Java) one:
//! - string indexes (`substring`, `indexOf`, `charAt`) count Unicode scalar values, Java
//!   counts UTF-16 units (they differ only for characters outside the BMP); `length()` counts
//!   UTF-16 units as Java;
//! - regular expressions (`replaceAll`, `split`, `matches`) use the `regex-lite` syntax, which
//!   covers the common Java syntax but not look-around or back-references;
//! - `\$x` escapes are not special (the backslash prints, then the reference);
//! - a number prints as Java's `Double.toString` only in the usual range (1e-3 to 1e7 plain,
//!   outside it `1.0E20` style), and integers are 64-bit;
//! - `$input.json()` of a definite path that matches nothing gives `""` (our reading of
//!   AWS's behaviour, not checked against AWS itself).

mod ast;
mod json;
pub mod jsonpath;
mod methods;
mod num;
mod parse;
mod render;
pub mod util;
mod value;

pub use parse::ParseError;
pub use render::{Input, Limits, Override, RenderError, Rendered};

/// Largest template, bytes (AWS's mapping template quota: 300 KB).
pub const MAX_TEMPLATE_BYTES: usize = 300 * 1024;

/// Most iterations of one `#foreach` (AWS: "#foreach loops are limited to 1000 iterations").
pub const MAX_FOREACH: usize = 1000;

/// A compiled template. `Send + Sync`: compiled once per deployment and shared by the workers;
/// every render has its own state.
#[derive(Debug)]
pub struct Template {
    nodes: Vec<ast::Node>,
    blocks: Vec<Vec<ast::Node>>,
    slots: usize,
    uses_request: bool,
}

impl Template {
    /// Parses and compiles `src` (literal JSONPaths included).
    pub fn compile(src: &str) -> Result<Template, ParseError> {
        if src.len() > MAX_TEMPLATE_BYTES {
            return Err(ParseError {
                line: 1,
                column: 1,
                message: format!("template larger than {MAX_TEMPLATE_BYTES} bytes"),
            });
        }
        let p = parse::parse(src)?;
        Ok(Template {
            nodes: p.nodes,
            blocks: p.blocks,
            slots: p.slots,
            uses_request: p.uses_request,
        })
    }

    /// Whether the output can depend on the request: the template names `$input` or
    /// `$context`. When it does not, one render (with the stage's variables) serves every
    /// request.
    pub fn uses_request_data(&self) -> bool {
        self.uses_request
    }

    /// Renders into `out` (appended to) with the default [`Limits`].
    pub fn render(&self, input: &Input<'_>, out: &mut String) -> Result<Rendered, RenderError> {
        self.render_with(input, out, &Limits::default())
    }

    /// Renders into `out` (appended to) under `limits`.
    pub fn render_with(
        &self,
        input: &Input<'_>,
        out: &mut String,
        limits: &Limits,
    ) -> Result<Rendered, RenderError> {
        render::render(self, input, out, limits)
    }

    /// Renders to a new string.
    pub fn render_to_string(&self, input: &Input<'_>) -> Result<String, RenderError> {
        let mut s = String::new();
        self.render(input, &mut s)?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Template>();
    }
}
