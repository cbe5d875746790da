//! The access-log writer thread: takes the workers' batches and appends each record, one
//! line, to its stage's file in the access-log folder (or to stdout), rotating a file once
//! it passes its size limit (`name.log` → `name.log.1` → … → `name.log.{keep}`, the oldest
//! deleted).

use super::buffer::{frames, Batch};
use super::AccessLogStats;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;

/// Batches the writer's queue holds before workers drop theirs (64 KiB each at most).
pub const QUEUE_BATCHES: usize = 256;

/// Where and how access logs are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterConfig {
    /// The folder of the per-destination files.
    pub dir: PathBuf,
    /// Write every record to stdout instead of files.
    pub stdout: bool,
    /// Rotate a file once it is this large.
    pub max_file_bytes: u64,
    /// Rotated files kept per destination.
    pub keep_files: u32,
}

/// Starts the writer thread; workers send to the returned queue.
pub fn start(cfg: WriterConfig, stats: Arc<AccessLogStats>) -> io::Result<SyncSender<Batch>> {
    if !cfg.stdout {
        create_private_dir(&cfg.dir)?;
    }
    let (tx, rx) = sync_channel(QUEUE_BATCHES);
    std::thread::Builder::new()
        .name("tollgate-accesslog".into())
        .spawn(move || run(cfg, rx, stats))?;
    Ok(tx)
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create the access log folder {}: {e}", dir.display()),
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

struct Sink {
    out: BufWriter<File>,
    size: u64,
}

struct Writer {
    cfg: WriterConfig,
    files: HashMap<Box<[u8]>, Sink>,
    stdout: io::Stdout,
    stats: Arc<AccessLogStats>,
    /// Failures already reported (one line per file and error kind, not one per record).
    reported: HashMap<(Box<[u8]>, io::ErrorKind), ()>,
}

fn run(cfg: WriterConfig, rx: Receiver<Batch>, stats: Arc<AccessLogStats>) {
    let mut w = Writer {
        cfg,
        files: HashMap::new(),
        stdout: io::stdout(),
        stats,
        reported: HashMap::new(),
    };
    let mut dropped_seen = 0;
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(batch) => {
                w.write_batch(&batch);
                // Take whatever else is waiting before flushing.
                while let Ok(b) = rx.try_recv() {
                    w.write_batch(&b);
                }
                w.flush();
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                w.flush();
                return;
            }
        }
        let dropped = w.stats.dropped.load(Relaxed);
        if dropped != dropped_seen {
            tracing::warn!(
                dropped_since_last = dropped - dropped_seen,
                dropped_total = dropped,
                "access log records dropped: the writer fell behind the workers"
            );
            dropped_seen = dropped;
        }
    }
}

impl Writer {
    fn write_batch(&mut self, b: &Batch) {
        for (file, record) in frames(&b.bytes) {
            match self.write_one(file, record) {
                Ok(()) => {
                    self.stats.written.fetch_add(1, Relaxed);
                }
                Err(e) => {
                    self.stats.dropped.fetch_add(1, Relaxed);
                    if self.reported.insert((file.into(), e.kind()), ()).is_none() {
                        tracing::error!(
                            file = %String::from_utf8_lossy(file),
                            error = %e,
                            "cannot write the access log"
                        );
                    }
                    // Reopen next time.
                    self.files.remove(file);
                }
            }
        }
    }

    fn write_one(&mut self, file: &[u8], record: &[u8]) -> io::Result<()> {
        if self.cfg.stdout {
            let mut out = self.stdout.lock();
            out.write_all(record)?;
            return out.write_all(b"\n");
        }
        let line = record.len() as u64 + 1;
        let rotate = match self.files.get(file) {
            Some(s) => s.size > 0 && s.size + line > self.cfg.max_file_bytes,
            None => false,
        };
        if rotate {
            if let Some(mut s) = self.files.remove(file) {
                s.out.flush()?;
            }
            self.rotate(file)?;
        }
        if !self.files.contains_key(file) {
            let sink = self.open(file)?;
            self.files.insert(file.into(), sink);
        }
        let Some(sink) = self.files.get_mut(file) else {
            return Ok(());
        };
        sink.out.write_all(record)?;
        sink.out.write_all(b"\n")?;
        sink.size += line;
        Ok(())
    }

    fn path(&self, file: &[u8]) -> PathBuf {
        // Names come from the compiler (`destination::file_name`): `[A-Za-z0-9._-]` only.
        self.cfg.dir.join(String::from_utf8_lossy(file).as_ref())
    }

    fn open(&self, file: &[u8]) -> io::Result<Sink> {
        let mut o = OpenOptions::new();
        o.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let f = o.open(self.path(file))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Sink {
            out: BufWriter::with_capacity(64 * 1024, f),
            size,
        })
    }

    fn rotate(&self, file: &[u8]) -> io::Result<()> {
        let base = self.path(file);
        let numbered = |n: u32| {
            let mut p = base.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if self.cfg.keep_files == 0 {
            return match std::fs::remove_file(&base) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let _ = std::fs::remove_file(numbered(self.cfg.keep_files));
        for n in (1..self.cfg.keep_files).rev() {
            let _ = std::fs::rename(numbered(n), numbered(n + 1));
        }
        std::fs::rename(&base, numbered(1))
    }

    fn flush(&mut self) {
        if self.cfg.stdout {
            let _ = self.stdout.flush();
            return;
        }
        let mut failed = Vec::new();
        for (name, s) in &mut self.files {
            if s.out.flush().is_err() {
                failed.push(name.clone());
            }
        }
        for name in failed {
            self.files.remove(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::access_log::buffer::WorkerAccessLog;

    fn wait_for(path: &Path, want: impl Fn(&str) -> bool) -> String {
        for _ in 0..200 {
            if let Ok(s) = std::fs::read_to_string(path) {
                if want(&s) {
                    return s;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn writes_lines_per_file_and_rotates_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(AccessLogStats::default());
        let tx = start(
            WriterConfig {
                dir: dir.path().join("logs"),
                stdout: false,
                max_file_bytes: 40,
                keep_files: 2,
            },
            stats.clone(),
        )
        .unwrap();
        let mut w = WorkerAccessLog::new(Some(tx), stats.clone());
        for i in 0..10 {
            w.record("a.log", |o| {
                o.extend_from_slice(format!("rec-{i:02}-xxxxxx").as_bytes())
            });
        }
        w.record("b.log", |o| o.extend_from_slice(b"only"));
        w.flush();
        let b = wait_for(&dir.path().join("logs/b.log"), |s| s == "only\n");
        assert_eq!(b, "only\n");
        let a = wait_for(&dir.path().join("logs/a.log"), |s| s.contains("rec-09"));
        // 14 bytes a line, 40 a file: two lines per file, the newest in a.log.
        assert_eq!(a, "rec-08-xxxxxx\nrec-09-xxxxxx\n");
        let a1 = std::fs::read_to_string(dir.path().join("logs/a.log.1")).unwrap();
        assert_eq!(a1, "rec-06-xxxxxx\nrec-07-xxxxxx\n");
        assert!(dir.path().join("logs/a.log.2").exists());
        assert!(!dir.path().join("logs/a.log.3").exists());
        assert_eq!(stats.written.load(Relaxed), 11);
        assert_eq!(stats.dropped.load(Relaxed), 0);
    }
}
