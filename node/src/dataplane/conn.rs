//! One client connection: read, parse, serve in order, write back; keep-alive and pipelining.
//!
//! Requests already received are all served before the connection waits for more input, and
//! their answers are written together (one write for a pipelined batch). A request the parser
//! refuses gets its error answer and the connection is closed, since where the next message
//! would start is no longer known.
//!
//! Time limits: a new connection must start its first request within `header_read`; between
//! requests, the idle timeout applies; a request head must be complete within
//! `header_read` of the read that found it incomplete (one deadline for the whole head, so a
//! client trickling bytes cannot hold the connection); a body must arrive at `min_body_rate`
//! after a grace of `header_read`; a write may stay blocked at most `write`. A head or body
//! cut short by its deadline is answered 408.
//!
//! Memory: a request body is held against the worker's body budget (503 with `Retry-After`
//! when it is spent), and buffers a large request grew are given back once it is served.

use super::conn_timer::{unset, Timers};
use super::gateway_response::{self, Refusal};
use super::http1::{
    parse_request_head, BodyKind, ChunkedDecoder, HttpError, RequestHead, MAX_BODY_BYTES,
};
use super::io::{consume, Transport};
use super::request::{Request, TlsInfo};
use super::respond::ConnState;
use super::upstream::{shrink, ProxyScratch};
use super::worker::Worker;
use monoio::time::Instant;
use std::net::IpAddr;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Answers written before the output buffer is flushed even though more requests are queued.
const FLUSH_AT: usize = 64 * 1024;
/// Initial size of a connection's buffers.
const BUF: usize = 8 * 1024;
/// Granularity of body-budget reservations for chunked bodies (whose size is not known).
const BUDGET_STEP: usize = 256 * 1024;
/// Bodies up to this size are not held against the budget: they fit the buffers every
/// connection has anyway (bounded by the connection limit), and skipping the books keeps
/// small requests on the fast path.
const LEASE_FROM: usize = 16 * 1024;
/// An answer or backend exchange that grew a buffer past this has it given back after the
/// request (a pipelined batch of ordinary answers stays far below it).
const LARGE_OUT: usize = 1024 * 1024;

const TIMED_OUT: HttpError = HttpError {
    status: 408,
    message: "Request Timeout",
};
const BUSY: HttpError = HttpError {
    status: 503,
    message: "Service Unavailable",
};
const PATH_ABOVE_ROOT: HttpError = HttpError {
    status: 400,
    message: "Bad Request",
};

/// The worker's books for one connection: its slot in the connection count, whether it has
/// a request in progress, and the body memory it holds.
struct Books {
    w: Rc<Worker>,
    busy: bool,
    leased: usize,
}

impl Books {
    fn set_busy(&mut self, busy: bool) {
        if busy != self.busy {
            self.busy = busy;
            let n = self.w.busy.get();
            self.w
                .busy
                .set(if busy { n + 1 } else { n.saturating_sub(1) });
        }
    }

    /// Holds at least `bytes` of body memory. `false`: the budget cannot cover it.
    fn lease(&mut self, bytes: usize) -> bool {
        if bytes <= self.leased || bytes <= LEASE_FROM {
            return true;
        }
        let more = bytes - self.leased;
        let left = self.w.body_budget.get();
        if more > left {
            return false;
        }
        self.w.body_budget.set(left - more);
        self.leased = bytes;
        true
    }

    fn release(&mut self) {
        if self.leased > 0 {
            self.w
                .body_budget
                .set(self.w.body_budget.get() + self.leased);
            self.leased = 0;
        }
    }
}

impl Drop for Books {
    fn drop(&mut self) {
        self.set_busy(false);
        self.release();
        self.w.conns.set(self.w.conns.get().saturating_sub(1));
        self.w.metrics.open_connections(self.w.conns.get());
    }
}

/// How a wait for more input ended.
enum Read {
    More,
    Closed,
    TimedOut,
}

async fn read_until<S: Transport>(
    t: &mut Timers<'_>,
    stream: &mut S,
    inbuf: &mut Vec<u8>,
    deadline: Instant,
) -> Read {
    match t.read(deadline, pin!(stream.read_more(inbuf))).await {
        Some(Ok(n)) if n > 0 => Read::More,
        Some(_) => Read::Closed,
        None => Read::TimedOut,
    }
}

/// When a body that started arriving at `start` must have `received` bytes by.
fn body_deadline(w: &Worker, start: Instant, received: usize) -> Instant {
    let rate = w.timeouts.min_body_rate.max(1);
    start + w.timeouts.header_read + Duration::from_secs_f64(received as f64 / rate as f64)
}

/// Serves one connection until it closes, errs or times out. The accept loop has counted it
/// in `w.conns` already. `tls`: what its handshake established (HTTPS listener).
pub async fn serve<S: Transport>(w: Rc<Worker>, mut stream: S, peer: IpAddr, tls: Option<TlsInfo>) {
    let mut books = Books {
        w: w.clone(),
        busy: false,
        leased: 0,
    };
    // One read and one write timer for the connection's life, moved from wait to wait.
    let (read_timer, write_timer) = (pin!(unset()), pin!(unset()));
    let t = &mut Timers::new(read_timer, write_timer);
    let mut inbuf: Vec<u8> = Vec::with_capacity(BUF);
    // Where the next request starts in `inbuf`. Served requests are not shifted out one by one;
    // the buffer is compacted only when more input must be read.
    let mut start = 0usize;
    let mut out: Vec<u8> = Vec::with_capacity(BUF);
    let mut head = RequestHead::default();
    let mut chunked = Vec::new();
    // A compressed request body, decoded (APIs with `minimumCompressionSize` only).
    let mut decoded = Vec::new();
    let mut scratch = ProxyScratch::default();
    // The path with dot segments resolved, when it had any.
    let mut norm_path = String::new();
    // Until a first request arrives the connection gets the head's time, not the idle time
    // (as nginx): an open connection that never says anything is not a keep-alive client.
    let mut idle = w.timeouts.header_read;
    loop {
        // 1. A complete head, reading more as needed.
        let mut head_deadline: Option<Instant> = None;
        let parsed = loop {
            match parse_request_head(&inbuf[start..], &mut head) {
                Ok(true) => break Ok(()),
                Ok(false) => {}
                Err(e) => break Err(e),
            }
            if !out.is_empty() && !flush(&w, t, &mut stream, &mut out).await {
                return;
            }
            consume(&mut inbuf, start);
            start = 0;
            if inbuf.is_empty() {
                books.set_busy(false);
                if w.is_draining() {
                    return;
                }
                let deadline = super::conn_timer::after(idle);
                match t.read(deadline, pin!(stream.read_more(&mut inbuf))).await {
                    Some(Ok(n)) if n > 0 => books.set_busy(true),
                    _ => return, // closed, failed, or idle too long
                }
            } else {
                // Only a head that did not arrive in one read gets a clock (none on the
                // common path).
                let deadline =
                    *head_deadline.get_or_insert_with(|| Instant::now() + w.timeouts.header_read);
                match read_until(t, &mut stream, &mut inbuf, deadline).await {
                    Read::More => {}
                    Read::Closed => return,
                    Read::TimedOut => break Err(TIMED_OUT),
                }
            }
        };
        if let Err(e) = parsed {
            return refuse(&w, t, &mut stream, &mut out, e).await;
        }
        // 2. The body.
        // Spans in `head` are relative to `start`; body positions below are absolute.
        let body_start = start + head.head_len;
        let mut progress = BodyProgress {
            start: body_start,
            expect_continue: head.expect_continue,
            sent_continue: false,
            since: None,
        };
        let (body_range, consumed, is_chunked) = match head.body {
            BodyKind::None | BodyKind::UntilClose => (body_start..body_start, body_start, false),
            BodyKind::Length(n) => {
                if !books.lease(n) {
                    return refuse(&w, t, &mut stream, &mut out, BUSY).await;
                }
                while inbuf.len() < body_start + n {
                    match more_body(&w, t, &mut stream, &mut inbuf, &mut out, &mut progress).await {
                        Read::More => {}
                        Read::Closed => return,
                        Read::TimedOut => {
                            return refuse(&w, t, &mut stream, &mut out, TIMED_OUT).await
                        }
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
                        Err(e) => return refuse(&w, t, &mut stream, &mut out, e).await,
                    }
                    // The encoded body stays in `inbuf` and its data is copied to `chunked`.
                    let held = 2 * (inbuf.len() - body_start);
                    if held > LEASE_FROM && !books.lease(held.next_multiple_of(BUDGET_STEP)) {
                        return refuse(&w, t, &mut stream, &mut out, BUSY).await;
                    }
                    match more_body(&w, t, &mut stream, &mut inbuf, &mut out, &mut progress).await {
                        Read::More => {}
                        Read::Closed => return,
                        Read::TimedOut => {
                            return refuse(&w, t, &mut stream, &mut out, TIMED_OUT).await
                        }
                    }
                }
                (0..0, pos, true)
            }
        };
        idle = w.timeouts.idle;
        // 3. Serve it.
        let conn = if !head.keep_alive || w.is_draining() {
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
            let path = match super::pathnorm::normalise(path, &mut norm_path) {
                Ok(Some(p)) => p,
                Ok(None) => path,
                Err(_) => return refuse(&w, t, &mut stream, &mut out, PATH_ABOVE_ROOT).await,
            };
            let mut body: &[u8] = if is_chunked {
                &chunked
            } else {
                &inbuf[body_range]
            };
            let table = || {
                let t = w.routes.borrow_mut().current();
                Arc::clone(&t)
            };
            match super::compress::inbound(&head, this, body, &mut decoded) {
                super::compress::Inbound::AsSent => {}
                super::compress::Inbound::Decoded(at) => {
                    if decoded.len() > LEASE_FROM
                        && !books.lease(decoded.len().next_multiple_of(BUDGET_STEP))
                    {
                        return refuse(&w, t, &mut stream, &mut out, BUSY).await;
                    }
                    head.headers.remove(at);
                    body = &decoded;
                }
                super::compress::Inbound::Refused(e) => {
                    {
                        let id = w.resp.borrow_mut().request_id();
                        let t = table();
                        super::compress::write_refusal(
                            &mut out,
                            &mut w.resp.borrow_mut(),
                            &e,
                            &t,
                            &head,
                            this,
                            path,
                            tls.as_ref(),
                            &id,
                        );
                    }
                    let _ = flush(&w, t, &mut stream, &mut out).await;
                    return;
                }
            }
            let mut req = Request {
                buf: this,
                head: &head,
                method,
                path,
                query,
                body,
                peer,
                tls: tls.as_ref(),
            };
            let at = out.len();
            super::handler::handle(&w, &mut req, conn, &mut out, &mut scratch).await;
            if let Some(status) = super::metrics::status_at(&out, at) {
                w.metrics.answered(status);
            }
        }
        // A shutdown that began while the request was served ends the connection after it
        // (the handler says so in the answer when it learns in time).
        let conn = if w.is_draining() {
            ConnState::Close
        } else {
            conn
        };
        if consumed >= inbuf.len() {
            inbuf.clear();
            start = 0;
        } else {
            start = consumed;
        }
        if books.leased > 0 || out.capacity() > LARGE_OUT || scratch.capacity() > LARGE_OUT {
            // A large request or answer grew the buffers: give the memory back before the
            // connection idles (the answer is written first; `out` is shrunk after the write).
            if conn != ConnState::Close && !flush(&w, t, &mut stream, &mut out).await {
                return;
            }
            shrink_after_large(&mut inbuf, &mut start, &mut out, &mut chunked, &mut scratch);
            if decoded.capacity() > LARGE_OUT {
                decoded = Vec::new();
            }
            books.release();
        }
        if conn == ConnState::Close {
            let _ = flush(&w, t, &mut stream, &mut out).await;
            return;
        }
        if out.len() >= FLUSH_AT && !flush(&w, t, &mut stream, &mut out).await {
            return;
        }
    }
}

/// Gives back what a large request grew: the receive buffer (keeping any pipelined bytes
/// after the request), the output buffer (already written), the de-chunked body and the
/// backend exchange's buffers.
fn shrink_after_large(
    inbuf: &mut Vec<u8>,
    start: &mut usize,
    out: &mut Vec<u8>,
    chunked: &mut Vec<u8>,
    scratch: &mut ProxyScratch,
) {
    if inbuf.capacity() > 4 * BUF {
        let rest = &inbuf[*start..];
        let mut fresh = Vec::with_capacity(BUF.max(rest.len()));
        fresh.extend_from_slice(rest);
        *inbuf = fresh;
        *start = 0;
    }
    if out.is_empty() {
        shrink(out);
    }
    shrink(chunked);
    scratch.shrink();
}

/// Writes `out` out, within the write timeout. `false` when the connection is done for.
async fn flush<S: Transport>(
    w: &Worker,
    t: &mut Timers<'_>,
    stream: &mut S,
    out: &mut Vec<u8>,
) -> bool {
    matches!(
        t.write(w.timeouts.write, pin!(stream.write_all(out))).await,
        Some(Ok(()))
    )
}

/// Answers a request the parser refused (or that timed out, or that the body budget cannot
/// take), then gives up on the connection: where the next message would start is no longer
/// known.
async fn refuse<S: Transport>(
    w: &Worker,
    t: &mut Timers<'_>,
    stream: &mut S,
    out: &mut Vec<u8>,
    e: HttpError,
) {
    let id = w.resp.borrow_mut().request_id();
    if e == BUSY {
        if let Some(left_out) = w.error_log.borrow_mut().allow(std::time::Instant::now()) {
            tracing::warn!(
                request_id = id.as_str(),
                status = e.status,
                cause = "request body memory budget spent (body_memory_limit_mib)",
                similar_left_out = left_out,
                "gateway error"
            );
        }
    }
    let extra: &[(&[u8], &[u8])] = if e.status == 503 {
        &[(b"Retry-After", b"1")]
    } else {
        &[]
    };
    gateway_response::write(
        out,
        &mut w.resp.borrow_mut(),
        &Refusal::connection(e.status, e.message),
        None,
        &id,
        ConnState::Close,
        extra,
    );
    let _ = flush(w, t, stream, out).await;
}

/// Where the reading of one request body stands.
struct BodyProgress {
    /// Where the body starts in the input buffer.
    start: usize,
    /// The client sent `Expect: 100-continue`.
    expect_continue: bool,
    /// `100 Continue` has been queued.
    sent_continue: bool,
    /// When the first read for more of the body began: the body's deadline counts from it
    /// ([`body_deadline`]). None until then: a body that came whole with its head reads no clock.
    since: Option<Instant>,
}

/// Reads more of a request body before its deadline: first sends `100 Continue` if the client
/// waits for it, and any answers still queued.
async fn more_body<S: Transport>(
    w: &Worker,
    t: &mut Timers<'_>,
    stream: &mut S,
    inbuf: &mut Vec<u8>,
    out: &mut Vec<u8>,
    p: &mut BodyProgress,
) -> Read {
    if p.expect_continue && !p.sent_continue {
        p.sent_continue = true;
        out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let since = *p.since.get_or_insert_with(Instant::now);
    let deadline = body_deadline(w, since, inbuf.len() - p.start);
    if !out.is_empty() && !flush(w, t, stream, out).await {
        return Read::Closed;
    }
    read_until(t, stream, inbuf, deadline).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buffers_are_given_back_keeping_pipelined_bytes() {
        let mut inbuf = vec![b'x'; 9 * 1024 * 1024];
        inbuf.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let mut start = 9 * 1024 * 1024;
        let mut out = Vec::with_capacity(10 * 1024 * 1024);
        let mut chunked = vec![0u8; 9 * 1024 * 1024];
        let mut scratch = ProxyScratch::default();
        scratch.resp = vec![0u8; 9 * 1024 * 1024];
        shrink_after_large(&mut inbuf, &mut start, &mut out, &mut chunked, &mut scratch);
        assert_eq!(&inbuf[start..], b"GET / HTTP/1.1\r\n");
        assert!(inbuf.capacity() <= BUF, "{}", inbuf.capacity());
        assert!(out.capacity() <= BUF);
        assert_eq!(chunked.capacity(), 0);
        assert!(scratch.resp.capacity() <= BUF);
    }
}
