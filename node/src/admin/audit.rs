//! The audit log of admin writes: one JSON line per call that changes (or tries to change)
//! something — who made it (the signing access key, the client address), which operation on
//! which object (the path names it), the result (status, AWS error type and message) and,
//! for a committed write, its Raft log index. Written by the node that took the call, to a
//! file in its data folder (`audit_log` in the configuration), appended and never rotated
//! by the node. Calls that read are not audited; a write whose signature fails is, with no
//! access key.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One audited call.
#[derive(Debug, Clone, Default)]
pub struct Record<'a> {
    /// When it was answered, ms since the Unix epoch.
    pub time_ms: u64,
    /// The request id it was answered with.
    pub request_id: &'a str,
    /// The client's address.
    pub source_ip: Option<std::net::IpAddr>,
    /// The access key that signed it (`None`: not verified).
    pub access_key: Option<&'a str>,
    /// The operation (`UpdateStage`, IAM's `CreateUser`, …), once known.
    pub operation: Option<&'a str>,
    /// The HTTP method.
    pub method: &'a str,
    /// The path: the object the operation names.
    pub path: &'a str,
    /// The status answered.
    pub status: u16,
    /// The AWS error type and message, when refused or failed.
    pub error: Option<(&'a str, &'a str)>,
    /// The Raft log index of the committed command, when one was.
    pub log_index: Option<u64>,
}

impl Record<'_> {
    /// The JSON line (no line end).
    pub fn to_json(&self) -> String {
        let mut v = serde_json::json!({
            "time": iso8601(self.time_ms),
            "requestId": self.request_id,
            "sourceIp": self.source_ip.map(|i| i.to_string()),
            "accessKey": self.access_key,
            "operation": self.operation,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "result": if self.error.is_none() { "ok" } else if self.status >= 500 { "failed" } else { "refused" },
            "logIndex": self.log_index,
        });
        if let Some((t, m)) = self.error {
            v["errorType"] = t.into();
            v["errorMessage"] = m.into();
        }
        v.to_string()
    }
}

/// `2026-12-02T10:59:00.123Z`.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, mo, d) = tollgate_proto::model::civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// The audit file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl AuditLog {
    /// Opens (creating, private to the node's user) the audit file at `path`.
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let file = open(path)?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(Some(file)),
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record. A write that fails is logged and tried again on a reopened file
    /// next time; it never fails the call.
    pub fn record(&self, r: &Record<'_>) {
        let mut line = r.to_json();
        line.push('\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = open(&self.path).ok();
        }
        let Some(file) = f.as_mut() else {
            tracing::error!(path = %self.path.display(), "cannot open the audit log");
            return;
        };
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::error!(path = %self.path.display(), error = %e, "cannot write the audit log");
            *f = None;
        }
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot open the audit log {}: {e}", path.display()),
        )
    })
}

/// The operation name of a routed call (`UpdateStage { .. }` → `UpdateStage`).
pub fn operation_name(op: &super::router::Operation) -> String {
    let debug = format!("{op:?}");
    debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_with_who_what_and_where() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("audit.log")).unwrap();
        log.record(&Record {
            time_ms: 1_796_180_645_123,
            request_id: "r1",
            source_ip: Some("127.0.0.1".parse().unwrap()),
            access_key: Some("AKID"),
            operation: Some("UpdateStage"),
            method: "PATCH",
            path: "/restapis/a/stages/prod",
            status: 200,
            error: None,
            log_index: Some(42),
        });
        log.record(&Record {
            request_id: "r2",
            method: "DELETE",
            path: "/restapis/a",
            status: 403,
            error: Some(("InvalidSignatureException", "bad \"sig\"\n")),
            ..Default::default()
        });
        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["time"], "2026-12-02T03:04:05.123Z");
        assert_eq!(lines[0]["accessKey"], "AKID");
        assert_eq!(lines[0]["operation"], "UpdateStage");
        assert_eq!(lines[0]["logIndex"], 42);
        assert_eq!(lines[0]["result"], "ok");
        assert_eq!(lines[1]["accessKey"], serde_json::Value::Null);
        assert_eq!(lines[1]["result"], "refused");
        assert_eq!(lines[1]["errorMessage"], "bad \"sig\"\n");
        assert_eq!(
            operation_name(&super::super::router::Operation::GetRestApis),
            "GetRestApis"
        );
    }
}
