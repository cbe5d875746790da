//! A parsed request as the handlers see it: borrowed views into the connection's buffers.

use super::http1::RequestHead;
use std::net::IpAddr;

/// One request, borrowed from the connection's receive buffer.
pub struct Request<'a> {
    /// The buffer the head's spans point into.
    pub buf: &'a [u8],
    /// The parsed head.
    pub head: &'a RequestHead,
    /// The method.
    pub method: &'a str,
    /// The stage-relative path once the target is resolved; before that, the request path.
    pub path: &'a str,
    /// The raw query (no `?`).
    pub query: &'a str,
    /// The body (de-chunked).
    pub body: &'a [u8],
    /// The client's address.
    pub peer: IpAddr,
}

impl<'a> Request<'a> {
    /// The header fields, in arrival order.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + '_ {
        let buf = self.buf;
        self.head
            .headers
            .iter()
            .map(move |(n, v)| (&buf[n.clone()], &buf[v.clone()]))
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The raw value of the first query parameter named `name`.
    pub fn query_param(&self, name: &str) -> Option<&'a [u8]> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v.as_bytes())
        })
    }

    /// Whether this is a HEAD request (answers carry no body).
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}
