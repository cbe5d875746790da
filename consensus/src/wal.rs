//! An append-only log file of encoded entries, each framed with its length and a CRC32.
//!
//! Frame: `len: u32 LE | crc32(payload): u32 LE | payload`. Reading stops at the first frame
//! that is short or fails its checksum (a torn write from a crash), and the file is truncated
//! there so later appends follow the last good entry.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Largest payload accepted when reading; anything bigger is treated as corruption.
pub const MAX_ENTRY_BYTES: u32 = 64 << 20;

/// An open log file positioned for appending.
pub struct Wal {
    file: File,
    path: PathBuf,
}

impl Wal {
    /// Opens (creating if needed) the log at `path` and returns it with every intact entry.
    pub fn open(path: &Path) -> io::Result<(Wal, Vec<Vec<u8>>)> {
        let mut file = {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .mode(0o600)
                .open(path)?
        };
        let mut entries = Vec::new();
        let mut good_len: u64 = 0;
        let file_len = file.metadata()?.len();
        {
            let mut r = BufReader::new(&mut file);
            r.seek(SeekFrom::Start(0))?;
            loop {
                let mut head = [0u8; 8];
                if read_full(&mut r, &mut head)? < 8 {
                    break;
                }
                let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
                let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
                // A length past the end of the file is a torn or damaged frame: refused before
                // anything is allocated for it.
                if len > MAX_ENTRY_BYTES || u64::from(len) > file_len.saturating_sub(good_len + 8) {
                    break;
                }
                let mut payload = vec![0u8; len as usize];
                if read_full(&mut r, &mut payload)? < payload.len() {
                    break;
                }
                if crc32fast::hash(&payload) != crc {
                    break;
                }
                good_len += 8 + u64::from(len);
                entries.push(payload);
            }
        }
        let actual = file.metadata()?.len();
        if actual != good_len {
            tracing::warn!(
                path = %path.display(),
                dropped_bytes = actual - good_len,
                "log ends in a torn or corrupt entry; truncating it"
            );
            file.set_len(good_len)?;
            file.sync_all()?;
        }
        Ok((
            Wal {
                file,
                path: path.to_path_buf(),
            },
            entries,
        ))
    }

    /// Appends entries and makes them durable (one `fdatasync` for the whole batch).
    pub fn append_durable(&mut self, payloads: &[Vec<u8>]) -> io::Result<()> {
        let total: usize = payloads.iter().map(|p| p.len() + 8).sum();
        let mut buf = Vec::with_capacity(total);
        for p in payloads {
            let len = u32::try_from(p.len())
                .ok()
                .filter(|l| *l <= MAX_ENTRY_BYTES)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "entry too large"))?;
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(p).to_le_bytes());
            buf.extend_from_slice(p);
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()
    }

    /// Empties the log (after a snapshot has made its entries redundant).
    pub fn reset(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.sync_all()
    }

    /// Where the log lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Writes `bytes` to `path` atomically and durably: temp file, fsync, rename, fsync the folder.
/// The file is readable by its owner only (0600).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let tmp = path.with_extension("tmp");
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // A temp file left by an older build keeps its mode through `open`: tighten it.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        {
            let (mut wal, entries) = Wal::open(&path).unwrap();
            assert!(entries.is_empty());
            wal.append_durable(&[b"one".to_vec(), b"two".to_vec()])
                .unwrap();
            wal.append_durable(&[b"three".to_vec()]).unwrap();
        }
        // Tear the last entry.
        let len = std::fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 2)
            .unwrap();
        let (mut wal, entries) = Wal::open(&path).unwrap();
        assert_eq!(entries, vec![b"one".to_vec(), b"two".to_vec()]);
        wal.append_durable(&[b"four".to_vec()]).unwrap();
        drop(wal);
        let (_, entries) = Wal::open(&path).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[2], b"four");
    }

    #[test]
    fn corrupt_checksum_stops_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        {
            let (mut wal, _) = Wal::open(&path).unwrap();
            wal.append_durable(&[b"aaaa".to_vec(), b"bbbb".to_vec()])
                .unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (_, entries) = Wal::open(&path).unwrap();
        assert_eq!(entries, vec![b"aaaa".to_vec()]);
    }
}
