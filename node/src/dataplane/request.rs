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
    /// What the connection's TLS handshake established (HTTPS listener only).
    pub tls: Option<&'a TlsInfo>,
}

/// What a connection's TLS handshake established, for routing and `$context`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// The host name the client asked for (SNI, lower-case): the custom domain it reaches.
    pub sni: Box<str>,
    /// The client's certificate, when the domain asks for one (mutual TLS).
    pub client_cert: Option<ClientCert>,
}

/// A verified client certificate as `$context.identity.clientCert.*` presents it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCert {
    /// The certificate, PEM (`clientCertPem`).
    pub pem: String,
    /// Its subject (`subjectDN`).
    pub subject_dn: String,
    /// Its issuer (`issuerDN`).
    pub issuer_dn: String,
    /// Its serial number, decimal (`serialNumber`).
    pub serial_number: String,
    /// Start of validity (`validity.notBefore`, as AWS: `May 28 12:30:02 2019 GMT`).
    pub not_before: String,
    /// End of validity (`validity.notAfter`).
    pub not_after: String,
}

impl<'a> Request<'a> {
    /// The path as the client sent it, dot segments resolved as for routing (on a custom
    /// domain: its base path included).
    pub fn sent_path(&self) -> String {
        let raw = self
            .buf
            .get(self.head.path.clone())
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("/");
        let mut scratch = String::new();
        match super::pathnorm::normalise(raw, &mut scratch) {
            Ok(Some(p)) => p.to_owned(),
            // A path above the root was refused before the request got here.
            Ok(None) | Err(_) => raw.to_owned(),
        }
    }

    /// `$context.path` (and a proxy event's `requestContext.path`) as AWS gives it: on a
    /// custom domain the path the client sent (base path included, no stage), else
    /// `/{stage}{stage_path}`.
    pub fn context_path(&self, stage: &str, stage_path: &str) -> String {
        if self.tls.is_some() {
            self.sent_path()
        } else {
            format!("/{stage}{stage_path}")
        }
    }

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
