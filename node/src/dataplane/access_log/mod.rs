//! Stage access logs (`accessLogSettings`): the format compiled with the stage
//! ([`format`]), where records go ([`destination`]), each worker's buffer of records
//! ([`buffer`]) and the writer thread that puts them in files or on stdout ([`writer`]).
//!
//! **Architecture invariant:** a worker never waits on the access log. It renders a record
//! into its own buffer and hands full buffers (or, every 100 ms, what it has) to the writer
//! thread over a bounded queue with `try_send`; when the writer falls behind, the batch is
//! dropped and counted (`tollgate_access_log_dropped_total`), never waited for.

pub mod buffer;
pub mod destination;
pub mod format;
pub mod writer;

use std::sync::atomic::AtomicU64;

/// What a stage logs and where: compiled once per stage compile.
#[derive(Debug, Clone, PartialEq)]
pub struct StageAccessLog {
    /// The record format.
    pub format: format::Format,
    /// The file (in the node's access-log folder) the destination names.
    pub file: Box<str>,
}

impl StageAccessLog {
    /// The compiled access log of a stage's settings: `None` unless both a format and a
    /// destination are set (and valid; the admin API refuses anything else).
    pub fn compile(s: &tollgate_proto::model::AccessLogSettings) -> Option<StageAccessLog> {
        let format = s.format.as_deref()?;
        let name = destination::name_of(s.destination_arn.as_deref()?).ok()?;
        Some(StageAccessLog {
            format: format::Format::compile(format),
            file: destination::file_name(name).into(),
        })
    }
}

/// Node-wide access log counters (read for `/metrics`).
#[derive(Debug, Default)]
pub struct AccessLogStats {
    /// Records written.
    pub written: AtomicU64,
    /// Records dropped because the writer fell behind (or could not write).
    pub dropped: AtomicU64,
}
