//! Small helpers over monoio's owned-buffer I/O that keep a connection's buffers reusable.

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use std::io;

/// A connection's byte stream as the request loop uses it: plain TCP, or TLS over it
/// ([`super::tls::TlsStream`]). Futures are not `Send`: a connection lives on its worker.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Reads more bytes onto the end of `buf`; returns how many (0 at end of stream).
    async fn read_more(&mut self, buf: &mut Vec<u8>) -> io::Result<usize>;
    /// Writes all of `buf` and empties it, keeping its allocation.
    async fn write_all(&mut self, buf: &mut Vec<u8>) -> io::Result<()>;
}

impl Transport for TcpStream {
    async fn read_more(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        read_more(self, buf).await
    }

    async fn write_all(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        write_all(self, buf).await
    }
}

/// Reads more bytes onto the end of `buf`; returns how many (0 at end of stream).
pub async fn read_more<S: AsyncReadRent>(s: &mut S, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
    let (len, cap) = (buf.len(), buf.capacity());
    let owned = std::mem::take(buf);
    let (res, slice) = s.read(owned.slice_mut(len..cap)).await;
    *buf = slice.into_inner();
    res
}

/// Writes all of `buf` and empties it, keeping its allocation.
pub async fn write_all<S: AsyncWriteRent>(s: &mut S, buf: &mut Vec<u8>) -> io::Result<()> {
    let owned = std::mem::take(buf);
    let (res, mut owned) = s.write_all(owned).await;
    owned.clear();
    *buf = owned;
    res.map(|_| ())
}

/// Drops the first `n` bytes of `buf`, moving the rest to the front.
pub fn consume(buf: &mut Vec<u8>, n: usize) {
    if n >= buf.len() {
        buf.clear();
    } else if n > 0 {
        buf.drain(..n);
    }
}
