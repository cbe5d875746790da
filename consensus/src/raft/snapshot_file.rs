//! The snapshot file, written as it is encoded, and the snapshot data openraft moves around: a
//! window over a file, never the snapshot in one buffer (issue 14: a million keys' snapshot
//! was encoded into one `Vec`, then copied into the file).
//!
//! The file (`"TGSNAP01"`, unchanged): the magic, the encoded [`SnapshotMeta`] (u32 LE length,
//! then the bytes), the data (u64 LE length, then the bytes), and a CRC-32 (LE) of everything
//! before it. [`write_streamed`] writes the data straight through a buffered writer that
//! counts and checksums it; its length, which the layout puts before it, is written as a
//! placeholder and rewritten once known, and the file's checksum is the prefix's combined with
//! the data's (`crc32fast::Hasher::combine`), so the bytes are those of [`encode_file`].
//!
//! [`SnapshotFile`] is openraft's `SnapshotData`: the data part of a snapshot file (to send to
//! a follower, read in chunks), or a temp file a snapshot is received into (written at each
//! chunk's offset, removed when dropped).

use openraft::storage::SnapshotMeta;
use openraft::BasicNode;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};
use tollgate_proto::{codec, legacy};

/// The first bytes of a snapshot file.
pub const MAGIC: &[u8; 8] = b"TGSNAP01";

type Meta = SnapshotMeta<u64, BasicNode>;

/// Buffer of the writer and reader of snapshot files.
const IO_BUFFER: usize = 1 << 20;

pub(crate) fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// The snapshot file's bytes for `meta` and `data` (what [`write_streamed`] writes).
pub fn encode_file(meta: &Meta, data: &[u8]) -> Vec<u8> {
    let meta = codec::encode(meta);
    let mut out = Vec::with_capacity(8 + 4 + meta.len() + 8 + data.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Reads a snapshot file's bytes: checks its checksum and layout, and returns its metadata and
/// data. No length field is trusted before it is checked against the bytes there are.
pub fn decode_file(bytes: &[u8]) -> io::Result<(Meta, Vec<u8>)> {
    let (meta, data) = check_file(bytes)?;
    Ok((meta, bytes[data].to_vec()))
}

/// As [`decode_file`], taking the file's bytes and returning the data in the same buffer (the
/// header and checksum cut off in place), so a large snapshot is not copied once more.
pub(crate) fn decode_file_owned(mut bytes: Vec<u8>) -> io::Result<(Meta, Vec<u8>)> {
    let (meta, data) = check_file(&bytes)?;
    bytes.truncate(data.end);
    bytes.drain(..data.start);
    Ok((meta, bytes))
}

/// Reads the snapshot file at `path` ([`decode_file_owned`]).
pub(crate) fn read_file(path: &Path) -> io::Result<(Meta, Vec<u8>)> {
    let bytes = std::fs::read(path)?;
    decode_file_owned(bytes).map_err(|e| invalid(format!("{}: {e}", path.display())))
}

/// Checks a snapshot file's bytes ([`decode_file`]): its metadata and where its data lies.
fn check_file(bytes: &[u8]) -> io::Result<(Meta, Range<usize>)> {
    let body_len = bytes
        .len()
        .checked_sub(4)
        .ok_or_else(|| invalid("snapshot file too short"))?;
    let (body, crc) = bytes.split_at(body_len);
    let crc = u32::from_le_bytes(crc.try_into().map_err(|_| invalid("crc"))?);
    if crc32fast::hash(body) != crc {
        return Err(invalid("snapshot file checksum mismatch"));
    }
    let (meta, data) = parse_header(body)?;
    let len = body.len() - data;
    let (len_field, _) = body[data - 8..]
        .split_first_chunk::<8>()
        .ok_or_else(|| invalid("short"))?;
    if u64::from_le_bytes(*len_field) != len as u64 {
        return Err(invalid("snapshot data length mismatch"));
    }
    Ok((meta, data..body_len))
}

/// Parses the header at the start of `bytes` (a snapshot file's body, or its first part):
/// the metadata, and the offset its data starts at (after the data's length field).
fn parse_header(bytes: &[u8]) -> io::Result<(Meta, usize)> {
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| invalid("not a snapshot file"))?;
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| invalid("short"))?;
    let len = u32::from_le_bytes(*len) as usize;
    let (meta, rest) = rest.split_at_checked(len).ok_or_else(|| invalid("short"))?;
    let meta = legacy::decode_either(meta).map_err(|e| invalid(format!("snapshot meta: {e}")))?;
    if rest.len() < 8 {
        return Err(invalid("short"));
    }
    Ok((meta, MAGIC.len() + 4 + len + 8))
}

/// Checks the snapshot file at `path` without reading it into memory: its checksum (read
/// through in pieces) and layout. Returns the file, its metadata and where its data lies.
pub(crate) fn check_stream(path: &Path) -> io::Result<(std::fs::File, Meta, Range<u64>)> {
    let named = |e: io::Error| invalid(format!("{}: {e}", path.display()));
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let body_len = size
        .checked_sub(4)
        .ok_or_else(|| named(invalid("snapshot file too short")))?;
    // The header: at most the magic, a meta length and the largest meta (u32::MAX is never
    // reached: a meta is a few hundred bytes), read in one piece of what the file holds.
    let mut head = vec![0; body_len.min(64 << 10) as usize];
    file.read_exact(&mut head)?;
    let (meta, data_start) = parse_header(&head).map_err(named)?;
    let data_start = data_start as u64;
    let (len_field, _) = head[data_start as usize - 8..]
        .split_first_chunk::<8>()
        .ok_or_else(|| named(invalid("short")))?;
    let data_len = u64::from_le_bytes(*len_field);
    if data_start.checked_add(data_len) != Some(body_len) {
        return Err(named(invalid("snapshot data length mismatch")));
    }
    // The checksum of everything before its own four bytes.
    let mut crc = crc32fast::Hasher::new();
    crc.update(&head);
    let mut left = body_len - head.len() as u64;
    let mut buf = vec![0; IO_BUFFER];
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        file.read_exact(&mut buf[..n])?;
        crc.update(&buf[..n]);
        left -= n as u64;
    }
    let mut stored = [0; 4];
    file.read_exact(&mut stored)?;
    if crc.finalize() != u32::from_le_bytes(stored) {
        return Err(named(invalid("snapshot file checksum mismatch")));
    }
    Ok((file, meta, data_start..body_len))
}

/// Counts and checksums what goes through it.
struct Counting<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Creates `path` (0600; truncated if it exists, and tightened: a temp file left by an older
/// build keeps its mode through `open`), readable and writable.
pub(crate) fn create_private(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

/// Writes the snapshot file for `meta` at `path` (created 0600, fsynced; not renamed), its
/// data written by `encode` as it is encoded. Returns the file (open for reading) and where
/// the data lies in it.
pub(crate) fn write_streamed(
    path: &Path,
    meta: &Meta,
    encode: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<(std::fs::File, Range<u64>)> {
    let meta = codec::encode(meta);
    let mut w = io::BufWriter::with_capacity(IO_BUFFER, create_private(path)?);
    let mut crc = crc32fast::Hasher::new();
    let meta_len = (meta.len() as u32).to_le_bytes();
    for part in [MAGIC.as_slice(), &meta_len, &meta] {
        crc.update(part);
        w.write_all(part)?;
    }
    let len_at = (MAGIC.len() + 4 + meta.len()) as u64;
    // The data's length, rewritten below once the data is written.
    w.write_all(&[0; 8])?;
    let mut data = Counting {
        inner: &mut w,
        crc: crc32fast::Hasher::new(),
    };
    encode(&mut data)?;
    let data_crc = data.crc;
    let len = data_crc.total_len();
    crc.update(&len.to_le_bytes());
    crc.combine(&data_crc);
    w.write_all(&crc.finalize().to_le_bytes())?;
    let mut f = w.into_inner().map_err(|e| e.into_error())?;
    f.seek(SeekFrom::Start(len_at))?;
    f.write_all(&len.to_le_bytes())?;
    f.sync_all()?;
    let start = len_at + 8;
    Ok((f, start..start + len))
}

/// Writes the snapshot file for `meta` and `data` at `path` (created 0600, fsynced; not
/// renamed): [`write_streamed`] of bytes already in memory.
pub(crate) fn write_bytes(
    path: &Path,
    meta: &Meta,
    data: &[u8],
) -> io::Result<(std::fs::File, Range<u64>)> {
    write_streamed(path, meta, |w| w.write_all(data))
}

/// Makes the snapshot file written at `tmp` the one at `path`: rename, then directory fsync.
pub(crate) fn install(tmp: &Path, path: &Path) -> io::Result<()> {
    std::fs::rename(tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// openraft's snapshot data: a window over a file. Reads and seeks see only the window (the
/// data part of a snapshot file); writes extend it (a snapshot being received). Positions are
/// relative to the window's start.
pub struct SnapshotFile {
    file: tokio::fs::File,
    /// Where the window starts in the file.
    start: u64,
    /// Where it ends (exclusive); grows as it is written.
    end: u64,
    /// The file's position after the last operation.
    pos: u64,
    /// Scratch for a read that would pass the window's end.
    scratch: Vec<u8>,
    /// A temp file to remove when this is dropped (a snapshot being received).
    remove: Option<PathBuf>,
}

impl std::fmt::Debug for SnapshotFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotFile")
            .field("window", &(self.start..self.end))
            .field("pos", &self.pos)
            .finish()
    }
}

impl SnapshotFile {
    /// The window `data` of `file` (a snapshot file's data part), read from its start.
    pub(crate) fn window(mut file: std::fs::File, data: Range<u64>) -> io::Result<SnapshotFile> {
        file.seek(SeekFrom::Start(data.start))?;
        Ok(SnapshotFile {
            file: tokio::fs::File::from_std(file),
            start: data.start,
            end: data.end,
            pos: data.start,
            scratch: Vec::new(),
            remove: None,
        })
    }

    /// An empty temp file at `path` to receive a snapshot into; removed when dropped.
    pub(crate) fn receive(path: PathBuf) -> io::Result<SnapshotFile> {
        let file = create_private(&path)?;
        let mut s = SnapshotFile::window(file, 0..0)?;
        s.remove = Some(path);
        Ok(s)
    }

    /// How many bytes the window holds.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The window's bytes, read from the file into one buffer (to decode them).
    pub async fn read_all(&mut self) -> io::Result<Vec<u8>> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let len = usize::try_from(self.len()).map_err(|_| invalid("snapshot too large"))?;
        self.seek(SeekFrom::Start(0)).await?;
        let mut out = vec![0; len];
        self.read_exact(&mut out).await?;
        Ok(out)
    }
}

impl Drop for SnapshotFile {
    fn drop(&mut self) {
        if let Some(path) = self.remove.take() {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), error = %e, "snapshot temp file left");
            }
        }
    }
}

impl AsyncRead for SnapshotFile {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let left = this.end.saturating_sub(this.pos);
        if left == 0 || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if (buf.remaining() as u64) <= left {
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.file).poll_read(cx, buf))?;
            this.pos += (buf.filled().len() - before) as u64;
            return Poll::Ready(Ok(()));
        }
        // The window ends inside `buf`: read no further than its end.
        let want = left as usize;
        this.scratch.resize(want, 0);
        let mut part = ReadBuf::new(&mut this.scratch[..want]);
        ready!(Pin::new(&mut this.file).poll_read(cx, &mut part))?;
        let got = part.filled();
        buf.put_slice(got);
        this.pos += got.len() as u64;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for SnapshotFile {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.file).poll_write(cx, buf))?;
        this.pos += n as u64;
        this.end = this.end.max(this.pos);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().file).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().file).poll_shutdown(cx)
    }
}

impl AsyncSeek for SnapshotFile {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        let base = match position {
            SeekFrom::Start(_) => this.start,
            SeekFrom::End(_) => this.end,
            SeekFrom::Current(_) => this.pos,
        };
        let by = match position {
            SeekFrom::Start(o) => i128::from(o),
            SeekFrom::End(o) | SeekFrom::Current(o) => i128::from(o),
        };
        let target = i128::from(base) + by;
        if target < i128::from(this.start) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the snapshot",
            ));
        }
        // A chunk is written at or before what has arrived (openraft resends, never skips):
        // an offset past the end, sent by a peer, would make a sparse file that `read_all`
        // then allocates whole.
        if target > i128::from(this.end) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek past the end of the snapshot",
            ));
        }
        Pin::new(&mut this.file).start_seek(SeekFrom::Start(target as u64))
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        let at = ready!(Pin::new(&mut this.file).poll_complete(cx))?;
        this.pos = at;
        Poll::Ready(Ok(at.saturating_sub(this.start)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{LogId, StoredMembership};
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

    fn meta() -> Meta {
        SnapshotMeta {
            last_log_id: Some(LogId::new(openraft::CommittedLeaderId::new(3, 1), 42)),
            last_membership: StoredMembership::default(),
            snapshot_id: "x".into(),
        }
    }

    #[test]
    fn file_round_trip_and_corruption() {
        let meta = meta();
        let bytes = encode_file(&meta, b"hello");
        // Written as it is encoded (its length rewritten, the checksum combined): the same
        // bytes.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap");
        let (_, data) = write_streamed(&path, &meta, |w| {
            w.write_all(b"hel")?;
            w.write_all(b"lo")
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert_eq!(&bytes[data.start as usize..data.end as usize], b"hello");
        let (_, m, d) = check_stream(&path).unwrap();
        assert_eq!((m, d), (meta.clone(), data));
        write_bytes(&path, &meta, b"hello").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let (m, d) = decode_file(&bytes).unwrap();
        assert_eq!(m, meta);
        assert_eq!(d, b"hello");
        assert_eq!(decode_file_owned(bytes.clone()).unwrap(), (meta.clone(), d));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(decode_file(&bad).is_err(), "flip at {i}");
            std::fs::write(&path, &bad).unwrap();
            assert!(check_stream(&path).is_err(), "flip at {i}");
        }
        for n in 0..bytes.len() {
            assert!(decode_file(&bytes[..n]).is_err());
            std::fs::write(&path, &bytes[..n]).unwrap();
            assert!(check_stream(&path).is_err(), "cut at {n}");
        }
    }

    /// A large snapshot goes through the buffered writer in many pieces; its file checks and
    /// its window reads back the data, in chunks as openraft sends it.
    #[tokio::test]
    async fn a_window_reads_the_data_only_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap");
        let data: Vec<u8> = (0..3 * IO_BUFFER + 17)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let (file, range) = write_streamed(&path, &meta(), |w| {
            for piece in data.chunks(1000) {
                w.write_all(piece)?;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), encode_file(&meta(), &data));
        let mut s = SnapshotFile::window(file, range).unwrap();
        assert_eq!(s.seek(SeekFrom::End(0)).await.unwrap(), data.len() as u64);
        // As openraft's sender: seek to each chunk's offset, fill a buffer of the chunk size.
        let chunk = 1 << 20;
        let mut got = Vec::new();
        let mut offset = 0u64;
        loop {
            s.seek(SeekFrom::Start(offset)).await.unwrap();
            let mut buf = Vec::with_capacity(chunk);
            while buf.capacity() > buf.len() {
                if s.read_buf(&mut buf).await.unwrap() == 0 {
                    break;
                }
            }
            offset += buf.len() as u64;
            got.extend_from_slice(&buf);
            if buf.len() < chunk {
                break;
            }
        }
        assert_eq!(got, data, "the data, no header, no checksum");
        assert_eq!(s.read_all().await.unwrap(), data);
        assert!(s
            .seek(SeekFrom::Current(-(data.len() as i64) - 1))
            .await
            .is_err());
    }

    /// A received snapshot: chunks written at their offsets (one rewritten), read back whole;
    /// the temp file goes when the data is dropped.
    #[tokio::test]
    async fn a_received_snapshot_is_written_at_offsets_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recv.tmp");
        let mut s = SnapshotFile::receive(path.clone()).unwrap();
        s.write_all(b"abc").await.unwrap();
        s.write_all(b"dXf").await.unwrap();
        s.seek(SeekFrom::Start(3)).await.unwrap();
        s.write_all(b"def").await.unwrap();
        s.write_all(b"gh").await.unwrap();
        s.shutdown().await.unwrap();
        assert_eq!(s.len(), 8);
        assert_eq!(s.read_all().await.unwrap(), b"abcdefgh");
        // A chunk offset past what has arrived (a peer's number) is refused, not a hole.
        let err = s.seek(SeekFrom::Start(1 << 40)).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        s.seek(SeekFrom::Start(9)).await.unwrap_err();
        s.seek(SeekFrom::Start(8)).await.unwrap();
        assert_eq!(s.len(), 8);
        assert!(path.exists());
        drop(s);
        assert!(!path.exists());
    }
}
