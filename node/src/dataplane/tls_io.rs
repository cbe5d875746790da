//! rustls driven by hand over monoio's owned-buffer I/O: the one loop the HTTPS listener's
//! connections ([`super::tls::TlsStream`]) and the `https://` backend connections
//! ([`super::upstream_tls::TlsClient`]) share. Generic over rustls's buffered connection
//! (`ServerConnection` or `ClientConnection`, both `ConnectionCommon<_>` underneath).
//!
//! Buffers: one ciphertext read buffer ([`READ_CHUNK`], a whole record and then some) and one
//! ciphertext write buffer, both kept for the connection's life. Plaintext is handed to rustls
//! at most [`WRITE_CHUNK`] (one full record) at a time and each record is sent before the next
//! is made, so the write buffer never holds more than one record: what a connection holds
//! stays bounded however large an answer is ([`super::tls::CONNECTION_BYTES`] is measured
//! against it in `node/tests/tls_memory.rs`). A pipelined batch of small answers is still one
//! record and one `write`.

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::ConnectionCommon;
use std::io::{self, BufRead, Write};
use std::ops::DerefMut;

/// Ciphertext read per call: a full record (16 KiB of plaintext, its header, tag and
/// padding) and some of the next.
pub const READ_CHUNK: usize = 16 * 1024 + 512;

/// Plaintext handed to rustls per record (TLS's maximum record payload).
pub const WRITE_CHUNK: usize = 16 * 1024;

/// The write buffer kept between answers: enough for a pipelined batch of ordinary answers
/// as one record; a larger one is given back after the answer that grew it.
const KEEP_WBUF: usize = 4 * 1024;

/// A TLS connection: the socket, rustls's state and the ciphertext buffers (reused).
pub struct TlsIo<C> {
    /// The socket.
    pub tcp: TcpStream,
    /// rustls's connection.
    pub conn: C,
    /// Ciphertext read and not yet handed to rustls: `rbuf[rpos..]`.
    rbuf: Vec<u8>,
    rpos: usize,
    /// Ciphertext to send (empty between calls; its allocation is kept).
    wbuf: Vec<u8>,
}

pub(crate) fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Sends all of `buf` and empties it, keeping its allocation.
pub(crate) async fn send(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    let owned = std::mem::take(buf);
    let (res, mut owned) = AsyncWriteRentExt::write_all(tcp, owned).await;
    owned.clear();
    *buf = owned;
    res.map(|_| ())
}

/// Reads more ciphertext into `buf` (cleared first); 0 at end of stream.
pub(crate) async fn recv(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    if buf.capacity() < READ_CHUNK {
        buf.reserve(READ_CHUNK);
    }
    let cap = buf.capacity();
    let owned = std::mem::take(buf);
    let (res, slice) = tcp.read(owned.slice_mut(0..cap)).await;
    *buf = slice.into_inner();
    res
}

impl<C, D> TlsIo<C>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
{
    /// A connection over `tcp`; `rbuf` and `wbuf` are buffers to reuse (their contents are
    /// dropped).
    pub fn new(tcp: TcpStream, conn: C, mut rbuf: Vec<u8>, mut wbuf: Vec<u8>) -> TlsIo<C> {
        rbuf.clear();
        wbuf.clear();
        TlsIo {
            tcp,
            conn,
            rbuf,
            rpos: 0,
            wbuf,
        }
    }

    /// The capacity of the two ciphertext buffers (what this layer holds besides rustls).
    pub fn buffer_capacity(&self) -> usize {
        self.rbuf.capacity() + self.wbuf.capacity()
    }

    /// Sends what rustls has queued (handshake flights, alerts, records).
    async fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.wbuf)?;
            send(&mut self.tcp, &mut self.wbuf).await?;
        }
        Ok(())
    }

    /// Hands buffered ciphertext to rustls and processes it; a protocol error sends its
    /// alert (which tells the peer why) and fails the connection.
    async fn feed(&mut self) -> io::Result<()> {
        let mut rest = &self.rbuf[self.rpos..];
        let n = self.conn.read_tls(&mut rest)?;
        if n == 0 {
            // rustls took nothing of a non-empty input: never spin on it.
            return Err(invalid("TLS input not accepted"));
        }
        self.rpos += n;
        if let Err(e) = self.conn.process_new_packets() {
            let _ = self.flush_tls().await;
            return Err(invalid(e));
        }
        Ok(())
    }

    /// Feeds buffered ciphertext, or sends what is queued and reads more; `false` at end of
    /// stream.
    async fn pump(&mut self) -> io::Result<bool> {
        if self.rpos < self.rbuf.len() {
            self.feed().await?;
            return Ok(true);
        }
        self.flush_tls().await?;
        let n = recv(&mut self.tcp, &mut self.rbuf).await?;
        self.rpos = 0;
        if n == 0 {
            // Lets rustls tell a clean close (close_notify) from a cut one; either ends it.
            let _ = self.conn.read_tls(&mut &[][..]);
            return Ok(false);
        }
        self.feed().await?;
        Ok(true)
    }

    /// Completes the handshake (a client's first flight goes out on the first pump).
    pub async fn handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            if !self.pump().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        self.flush_tls().await
    }

    /// Reads more plaintext onto the end of `buf`; 0 at end of stream (a clean
    /// `close_notify` or a cut connection).
    pub async fn read_plain(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        loop {
            // Copied straight from rustls's plaintext chunks (no zeroed scratch space).
            let mut reader = self.conn.reader();
            match reader.fill_buf() {
                Ok(chunk) => {
                    let n = chunk.len();
                    buf.extend_from_slice(chunk);
                    reader.consume(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if !self.pump().await? {
                return Ok(0);
            }
        }
    }

    /// Encrypts and sends all of `data`, a record at a time.
    pub async fn write_plain(&mut self, data: &[u8]) -> io::Result<()> {
        for chunk in data.chunks(WRITE_CHUNK) {
            let mut at = 0;
            while at < chunk.len() {
                at += self.conn.writer().write(&chunk[at..])?;
                self.flush_tls().await?;
            }
        }
        if self.wbuf.capacity() > KEEP_WBUF {
            // A large answer grew it to a whole record: give that back before the connection
            // idles (the next small answer allocates a small one once).
            self.wbuf = Vec::new();
        }
        Ok(())
    }
}
