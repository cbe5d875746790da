//! A small blocking client for the admin API that signs its calls with SigV4: used by the
//! `tollgate cluster` subcommands (and handy in tests).

use crate::sigv4::{self, Credentials};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// An answer: status, headers and body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Headers (names lower-cased).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (Null when empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Calls `method path_and_query` on the admin API at `addr`, signed with `creds`.
pub fn call(
    addr: SocketAddr,
    creds: &Credentials,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> io::Result<Answer> {
    call_with(addr, creds, method, path_and_query, body, &[])
}

/// [`call`] with `extra` headers, sent unsigned (e.g. `amz-sdk-invocation-id`, which names one
/// call on every attempt of it, as the AWS SDKs send it).
pub fn call_with(
    addr: SocketAddr,
    creds: &Credentials,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) -> io::Result<Answer> {
    let req = signed_head(addr, creds, method, path_and_query, body, extra);
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse(&raw)
}

/// The head of a SigV4-signed admin request (service `apigateway`, region `us-east-1`) for
/// `body`, with `Connection: close`; `extra` headers are sent unsigned.
pub fn signed_head(
    addr: SocketAddr,
    creds: &Credentials,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) -> String {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut headers = vec![("host".to_string(), addr.to_string())];
    if !body.is_empty() {
        headers.push(("content-type".to_string(), "application/json".to_string()));
    }
    let signed = sigv4::sign(
        &sigv4::Request {
            method,
            path,
            query,
            headers: &headers,
            body,
        },
        creds,
        "us-east-1",
        "apigateway",
        crate::ids::now_epoch(),
    );
    let mut req = format!("{method} {path_and_query} HTTP/1.1\r\n");
    for (k, v) in headers.iter().chain(signed.iter()) {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    req
}

fn parse(raw: &[u8]) -> io::Result<Answer> {
    parse_answer(raw, true).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "malformed answer from the admin API",
        )
    })
}

/// Parses a complete HTTP answer at the front of `raw`; `closed`: the peer closed, so a body
/// without a length ends here. `None` when the answer is incomplete or malformed.
pub fn parse_answer(raw: &[u8], closed: bool) -> Option<Answer> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(n) = r.parse(raw).ok()? else {
        return None;
    };
    let status = r.code?;
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let rest = &raw[n..];
    let body = match len {
        Some(l) => rest.get(..l)?.to_vec(),
        None if closed => rest.to_vec(),
        None => return None,
    };
    Some(Answer {
        status,
        headers,
        body,
    })
}
