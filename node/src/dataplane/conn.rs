//! One client connection: read, parse, serve in order, write back; keep-alive and pipelining.
//!
//! Requests already received are all served before the connection waits for more input, and
//! their answers are written together (one write for a pipelined batch). A request the parser
//! refuses gets its error answer and the connection is closed, since where the next message
//! would start is no longer known.

use super::http1::{
    parse_request_head, BodyKind, ChunkedDecoder, HttpError, RequestHead, MAX_BODY_BYTES,
};
use super::io::{consume, read_more, write_all};
use super::request::Request;
use super::respond::{write_error, ConnState};
use super::upstream::ProxyScratch;
use super::worker::Worker;
use monoio::net::TcpStream;
use std::net::IpAddr;
use std::rc::Rc;

/// Answers written before the output buffer is flushed even though more requests are queued.
const FLUSH_AT: usize = 64 * 1024;

/// Serves one connection until it closes, errs or times out.
pub async fn serve(w: Rc<Worker>, mut stream: TcpStream, peer: IpAddr) {
    let mut inbuf: Vec<u8> = Vec::with_capacity(8 * 1024);
    // Where the next request starts in `inbuf`. Served requests are not shifted out one by one;
    // the buffer is compacted only when more input must be read.
    let mut start = 0usize;
    let mut out: Vec<u8> = Vec::with_capacity(8 * 1024);
    let mut head = RequestHead::default();
    let mut chunked = Vec::new();
    let mut scratch = ProxyScratch::default();
    let idle = w.timeouts.idle;
    let header_read = w.timeouts.header_read;
    loop {
        // 1. A complete head, reading more as needed.
        let parsed = loop {
            match parse_request_head(&inbuf[start..], &mut head) {
                Ok(true) => break Ok(()),
                Ok(false) => {}
                Err(e) => break Err(e),
            }
            if !out.is_empty() && write_all(&mut stream, &mut out).await.is_err() {
                return;
            }
            consume(&mut inbuf, start);
            start = 0;
            let limit = if inbuf.is_empty() { idle } else { header_read };
            match monoio::time::timeout(limit, read_more(&mut stream, &mut inbuf)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return, // closed, failed, or timed out
            }
        };
        if let Err(e) = parsed {
            return refuse(&w, &mut stream, &mut out, e).await;
        }
        // 2. The body.
        // Spans in `head` are relative to `start`; body positions below are absolute.
        let body_start = start + head.head_len;
        let mut sent_continue = false;
        let (body_range, consumed, is_chunked) = match head.body {
            BodyKind::None | BodyKind::UntilClose => (body_start..body_start, body_start, false),
            BodyKind::Length(n) => {
                while inbuf.len() < body_start + n {
                    let wants_continue = head.expect_continue && !sent_continue;
                    sent_continue |= wants_continue;
                    if !more_body(&mut stream, &mut inbuf, &mut out, idle, wants_continue).await {
                        return;
                    }
                }
                (body_start..body_start + n, body_start + n, false)
            }
            BodyKind::Chunked => {
                chunked.clear();
                let mut dec = ChunkedDecoder::default();
                let mut pos = body_start;
                loop {
                    match dec.decode(&inbuf[pos..], &mut chunked, MAX_BODY_BYTES) {
                        Ok((used, done)) => {
                            pos += used;
                            if done {
                                break;
                            }
                        }
                        Err(e) => return refuse(&w, &mut stream, &mut out, e).await,
                    }
                    let wants_continue = head.expect_continue && !sent_continue;
                    sent_continue |= wants_continue;
                    if !more_body(&mut stream, &mut inbuf, &mut out, idle, wants_continue).await {
                        return;
                    }
                }
                (0..0, pos, true)
            }
        };
        // 3. Serve it.
        let conn = if !head.keep_alive {
            ConnState::Close
        } else if head.minor_version == 0 {
            ConnState::KeepAlive10
        } else {
            ConnState::KeepAlive11
        };
        {
            let this = &inbuf[start..];
            let text = |r: std::ops::Range<usize>| std::str::from_utf8(&this[r]).ok();
            let (Some(method), Some(path), Some(query)) = (
                text(head.method.clone()),
                text(head.path.clone()),
                text(head.query.clone()),
            ) else {
                // httparse only lets visible ASCII into the method and target.
                return;
            };
            let mut req = Request {
                buf: this,
                head: &head,
                method,
                path,
                query,
                body: if is_chunked {
                    &chunked
                } else {
                    &inbuf[body_range]
                },
                peer,
            };
            let at = out.len();
            super::handler::handle(&w, &mut req, conn, &mut out, &mut scratch).await;
            if let Some(status) = super::metrics::status_at(&out, at) {
                w.metrics.answered(status);
            }
        }
        if consumed >= inbuf.len() {
            inbuf.clear();
            start = 0;
        } else {
            start = consumed;
        }
        if conn == ConnState::Close {
            let _ = write_all(&mut stream, &mut out).await;
            return;
        }
        if out.len() >= FLUSH_AT && write_all(&mut stream, &mut out).await.is_err() {
            return;
        }
    }
}

/// Answers a request the parser refused, then gives up on the connection: where the next
/// message would start is no longer known.
async fn refuse(w: &Worker, stream: &mut TcpStream, out: &mut Vec<u8>, e: HttpError) {
    let id = w.resp.borrow_mut().request_id();
    write_error(
        out,
        &mut w.resp.borrow_mut(),
        e.status,
        &id,
        ConnState::Close,
        None,
        e.message,
    );
    let _ = write_all(stream, out).await;
}

/// Reads more of a request body: first sends `100 Continue` if the client waits for it, and
/// any answers still queued. `false` when the connection closed, failed or idled out.
async fn more_body(
    stream: &mut TcpStream,
    inbuf: &mut Vec<u8>,
    out: &mut Vec<u8>,
    idle: std::time::Duration,
    send_continue: bool,
) -> bool {
    if send_continue {
        out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    if !out.is_empty() && write_all(stream, out).await.is_err() {
        return false;
    }
    matches!(
        monoio::time::timeout(idle, read_more(stream, inbuf)).await,
        Ok(Ok(k)) if k > 0
    )
}
