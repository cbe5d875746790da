//! Minimal HTTP/1.1 pieces for the generator: request bytes for a URL and an incremental
//! response framer (status, Content-Length or chunked body, `Connection: close`). No I/O.

use std::net::{SocketAddr, ToSocketAddrs};

/// A parsed `http://host:port/path` target.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// Where to connect.
    pub addr: SocketAddr,
    /// The request bytes: `GET path HTTP/1.1` with Host.
    pub request: Vec<u8>,
    /// Versions of the request sent in turn instead of `request` (e.g. one per API key, see
    /// [`Target::with_header_values`]); empty when there is only `request`.
    pub variants: Vec<Vec<u8>>,
}

impl Target {
    /// Parses an `http://` URL (IP literal or a name that resolves; no TLS).
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("{url}: {e}"))?
            .next()
            .ok_or_else(|| format!("{url}: host does not resolve"))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: tollgate-bench\r\n\r\n"
        )
        .into_bytes();
        Ok(Target {
            url: url.to_string(),
            addr,
            request,
            variants: Vec::new(),
        })
    }

    /// The same target with one more request header (e.g. `x-api-key`).
    pub fn with_header(mut self, name: &str, value: &str) -> Target {
        // The request ends with the blank line; the header goes before it.
        let end = self.request.len().saturating_sub(2);
        let line = format!("{name}: {value}\r\n");
        self.request.splice(end..end, line.into_bytes());
        self
    }

    /// The same target sending one request per value of header `name`, in turn (e.g. traffic
    /// spread over many API keys on the same connections).
    pub fn with_header_values(self, name: &str, values: &[String]) -> Target {
        let variants = values
            .iter()
            .map(|v| self.clone().with_header(name, v).request)
            .collect();
        Target { variants, ..self }
    }

    /// The bytes of the `n`th request sent to this target.
    pub fn request_for(&self, n: u64) -> &[u8] {
        match self.variants.len() {
            0 => &self.request,
            len => &self.variants[(n % len as u64) as usize],
        }
    }
}

/// A complete response at the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framed {
    /// Status code.
    pub status: u16,
    /// Bytes the response takes, head and body.
    pub len: usize,
    /// The server will close the connection after it.
    pub close: bool,
}

/// What the framer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A whole response.
    Done(Framed),
    /// More bytes are needed.
    Partial,
    /// The body runs until the server closes (no length given); `status` so far.
    UntilClose(u16),
}

/// Frames the response at the start of `buf`. `Err` for a malformed response.
pub fn frame(buf: &[u8]) -> Result<Frame, String> {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut r = httparse::Response::new(&mut headers);
    let head = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(Frame::Partial),
        Err(e) => return Err(format!("bad response head: {e}")),
    };
    let status = r.code.ok_or("no status")?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = r.version == Some(0);
    for h in r.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or("bad content-length")?;
            length = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h
                .value
                .split(|b| *b == b',')
                .any(|v| v.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = h.value.trim_ascii();
            if v.eq_ignore_ascii_case(b"close") {
                close = true;
            } else if v.eq_ignore_ascii_case(b"keep-alive") {
                close = false;
            }
        }
    }
    if (100..200).contains(&status) || status == 204 || status == 304 {
        if (100..200).contains(&status) {
            // Interim response: skip it and frame what follows.
            return match frame(&buf[head..])? {
                Frame::Done(f) => Ok(Frame::Done(Framed {
                    len: head + f.len,
                    ..f
                })),
                other => Ok(other),
            };
        }
        return Ok(Frame::Done(Framed {
            status,
            len: head,
            close,
        }));
    }
    if chunked {
        return Ok(match chunked_len(&buf[head..])? {
            Some(n) => Frame::Done(Framed {
                status,
                len: head + n,
                close,
            }),
            None => Frame::Partial,
        });
    }
    match length {
        Some(l) if buf.len() >= head + l => Ok(Frame::Done(Framed {
            status,
            len: head + l,
            close,
        })),
        Some(_) => Ok(Frame::Partial),
        None => Ok(Frame::UntilClose(status)),
    }
}

/// Length of a complete chunked body at the start of `b`, or `None` if incomplete.
fn chunked_len(b: &[u8]) -> Result<Option<usize>, String> {
    let mut i = 0;
    loop {
        let Some(eol) = find_crlf(&b[i..]) else {
            return Ok(None);
        };
        let line = &b[i..i + eol];
        let hex = line
            .split(|c| *c == b';')
            .next()
            .unwrap_or(line)
            .trim_ascii();
        let size = std::str::from_utf8(hex)
            .ok()
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .ok_or("bad chunk size")?;
        i += eol + 2;
        if size == 0 {
            // Trailers until an empty line.
            loop {
                let Some(eol) = find_crlf(&b[i..]) else {
                    return Ok(None);
                };
                i += eol + 2;
                if eol == 0 {
                    return Ok(Some(i));
                }
            }
        }
        if b.len() < i + size + 2 {
            return Ok(None);
        }
        i += size + 2;
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let t = Target::parse("http://127.0.0.1:8080/a/b?c=1").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert!(t
            .request
            .starts_with(b"GET /a/b?c=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
        let t = Target::parse("http://127.0.0.1").unwrap();
        assert_eq!(t.addr.port(), 80);
        assert!(Target::parse("https://x/").is_err());
        assert!(Target::parse("http:///").is_err());
        let k = Target::parse("http://127.0.0.1:1/k")
            .unwrap()
            .with_header("x-api-key", "abc");
        assert!(k
            .request
            .ends_with(b"User-Agent: tollgate-bench\r\nx-api-key: abc\r\n\r\n"));
        let t = Target::parse("http://127.0.0.1:8080/p")
            .unwrap()
            .with_header_values("x-api-key", &["a".into(), "b".into()]);
        assert!(t.request_for(0).ends_with(b"x-api-key: a\r\n\r\n"));
        assert!(t.request_for(1).ends_with(b"x-api-key: b\r\n\r\n"));
        assert!(t.request_for(2).ends_with(b"x-api-key: a\r\n\r\n"));
    }

    #[test]
    fn frames_content_length() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1";
        assert_eq!(
            frame(r).unwrap(),
            Frame::Done(Framed {
                status: 200,
                len: r.len() - 8,
                close: false
            })
        );
        assert_eq!(frame(&r[..20]).unwrap(), Frame::Partial);
        assert_eq!(frame(&r[..40]).unwrap(), Frame::Partial);
        let c = b"HTTP/1.1 429 Too Many\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            frame(c).unwrap(),
            Frame::Done(Framed {
                status: 429,
                len: c.len(),
                close: true
            })
        );
    }

    #[test]
    fn frames_chunked_and_others() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        assert_eq!(
            frame(r).unwrap(),
            Frame::Done(Framed {
                status: 200,
                len: r.len(),
                close: false
            })
        );
        assert_eq!(frame(&r[..r.len() - 1]).unwrap(), Frame::Partial);
        assert_eq!(frame(&r[..50]).unwrap(), Frame::Partial);
        assert_eq!(
            frame(b"HTTP/1.1 200 OK\r\n\r\nabc").unwrap(),
            Frame::UntilClose(200)
        );
        assert!(frame(b"garbage\r\n\r\n").is_err());
        assert!(frame(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        let c = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(
            frame(c).unwrap(),
            Frame::Done(Framed {
                status: 204,
                len: c.len(),
                close: false
            })
        );
    }
}
