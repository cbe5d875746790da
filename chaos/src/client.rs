//! A small blocking HTTP/1.1 client with a hard deadline per call: SigV4-signed admin calls
//! (signed by `tollgate_node::sigv4`, as `tollgate_node::admin_client` does, but with
//! timeouts of the caller's choosing and the answer's headers kept) and plain data-plane
//! requests. One connection per call (`Connection: close`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tollgate_node::sigv4::Credentials;

pub use tollgate_node::admin_client::Answer;

/// Why a call got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// Whether the request may have reached the server (false: the connection failed).
    pub sent: bool,
    /// Whether the deadline passed.
    pub timed_out: bool,
    /// Details.
    pub message: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn failure(sent: bool, e: &io::Error) -> CallError {
    let timed_out = matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    );
    CallError {
        sent,
        timed_out,
        message: if timed_out {
            "timed out".into()
        } else {
            e.to_string()
        },
    }
}

/// Sends `head` + `body` to `addr` and reads the whole answer, all within `timeout`.
pub fn exchange(
    addr: SocketAddr,
    head: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Answer, CallError> {
    let deadline = Instant::now() + timeout;
    let connect = timeout.min(Duration::from_secs(2));
    let mut s = TcpStream::connect_timeout(&addr, connect).map_err(|e| failure(false, &e))?;
    let _ = s.set_nodelay(true);
    let left = |d: Instant| {
        d.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    s.set_write_timeout(Some(left(deadline)))
        .map_err(|e| failure(false, &e))?;
    let mut req = Vec::with_capacity(head.len() + body.len());
    req.extend_from_slice(head.as_bytes());
    req.extend_from_slice(body);
    s.write_all(&req).map_err(|e| failure(true, &e))?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if Instant::now() >= deadline {
            return Err(CallError {
                sent: true,
                timed_out: true,
                message: "timed out".into(),
            });
        }
        s.set_read_timeout(Some(left(deadline)))
            .map_err(|e| failure(true, &e))?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if let Some(a) = parse(&raw, false) {
                    return Ok(a);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(failure(true, &e)),
        }
    }
    parse(&raw, true).ok_or_else(|| CallError {
        sent: true,
        timed_out: false,
        message: format!("malformed or cut-off answer ({} bytes)", raw.len()),
    })
}

fn parse(raw: &[u8], closed: bool) -> Option<Answer> {
    tollgate_node::admin_client::parse_answer(raw, closed)
}

/// A SigV4-signed admin call (service `apigateway`, region `us-east-1`); `extra` headers are
/// sent unsigned.
pub fn admin(
    addr: SocketAddr,
    creds: &Credentials,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    extra: &[(&str, &str)],
    timeout: Duration,
) -> Result<Answer, CallError> {
    let head =
        tollgate_node::admin_client::signed_head(addr, creds, method, path_and_query, body, extra);
    exchange(addr, &head, body, timeout)
}

/// A data-plane GET with extra headers.
pub fn get(
    addr: SocketAddr,
    path: &str,
    extra: &[(&str, &str)],
    timeout: Duration,
) -> Result<Answer, CallError> {
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    exchange(addr, &head, b"", timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn answers_parse_with_and_without_length() {
        let a = parse(
            b"HTTP/1.1 201 Created\r\nX-Tollgate-Log-Index: 42\r\nContent-Length: 2\r\n\r\n{}",
            false,
        )
        .unwrap();
        assert_eq!(a.status, 201);
        assert_eq!(a.header("x-tollgate-log-index"), Some("42"));
        assert_eq!(a.body, b"{}");
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", false).is_none());
        assert!(parse(b"HTTP/1.1 200 OK\r\n\r\nabc", false).is_none());
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\n\r\nabc", true).unwrap().body,
            b"abc"
        );
    }

    #[test]
    fn a_silent_server_times_out_as_sent_and_a_closed_port_as_not_sent() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = Instant::now();
        let e = get(addr, "/", &[], Duration::from_millis(200)).unwrap_err();
        assert!(e.sent && e.timed_out, "{e:?}");
        assert!(t.elapsed() < Duration::from_secs(2));
        drop(l);
        let e = get(addr, "/", &[], Duration::from_millis(200)).unwrap_err();
        assert!(!e.sent, "{e:?}");
    }
}
