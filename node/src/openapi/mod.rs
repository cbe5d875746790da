//! OpenAPI 3.0 and Swagger 2.0 documents with API Gateway's extensions: reading one into an
//! API's definition ([`import`]) and writing a deployed stage back out as one ([`export`]).
//!
//! Pure: no I/O, no registry. The admin layer (`admin::ops::openapi`) mints the ids, runs
//! every piece through the same checks as the admin operations that would create it, and
//! commits the result as one command.

pub mod document;
pub mod export;
pub mod import;
pub mod postman;

/// Largest document accepted (AWS's limit on an imported API definition).
pub const MAX_DOCUMENT_BYTES: usize = 6 * 1024 * 1024;

/// Why a document cannot be imported: what is wrong, and where (a path into the document,
/// as `paths.'/pets'.get.parameters[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocError {
    /// Where the problem is; empty for the document as a whole.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl DocError {
    /// An error at `location`.
    pub fn at(location: impl Into<String>, message: impl Into<String>) -> DocError {
        DocError {
            location: location.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for DocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.location.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} (at {})", self.message, self.location)
        }
    }
}
