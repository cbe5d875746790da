//! `x-amzn-Remapped-*`: the backend answer headers that API Gateway keeps for itself. A
//! proxied backend's `Date`, `Server`, `Connection`, ... would clash with the gateway's own
//! (or, for `WWW-Authenticate`, make browsers prompt), so AWS passes them on renamed
//! `x-amzn-Remapped-<name>` and answers with its own.
//!
//! The list: AWS documents the remapping on its "Amazon API Gateway important notes" page
//! (<https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html>,
//! REST API notes); the copies of that page we could search did not show its header table, so
//! the list is the one issue 13 and that page's usual summary name (`Authorization`,
//! `Connection`, `Content-Length`, `Content-MD5`, `Date`, `Server`, `WWW-Authenticate`), plus
//! `x-amzn-RequestId`, checked against answers recorded from AWS REST APIs in front of HTTP
//! backends, which show `x-amzn-Remapped-Connection`, `x-amzn-Remapped-Server`,
//! `x-amzn-Remapped-Date` and `x-amzn-Remapped-x-amzn-RequestId`. Written on the stack, no
//! allocation.

use crate::dataplane::http1::write_header;

/// The prefix AWS gives a remapped header's name.
pub const PREFIX: &[u8] = b"x-amzn-Remapped-";

/// The backend answer headers renamed before they reach the client (lower case).
const REMAPPED: [&[u8]; 8] = [
    b"authorization",
    b"connection",
    b"content-length",
    b"content-md5",
    b"date",
    b"server",
    b"www-authenticate",
    b"x-amzn-requestid",
];

/// Whether a backend answer header reaches the client renamed `x-amzn-Remapped-<name>`.
pub fn is_remapped(name: &[u8]) -> bool {
    REMAPPED.iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// Appends the header line `x-amzn-Remapped-<name>: <value>` (the name keeps the backend's
/// spelling, as AWS's does).
pub fn write_remapped(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(PREFIX);
    write_header(out, name, value);
}

/// Appends a backend answer header as the client gets it: renamed when AWS remaps it, as it
/// is otherwise.
pub fn write_backend_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    if is_remapped(name) {
        write_remapped(out, name, value);
    } else {
        write_header(out, name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_headers_are_renamed_in_any_case_others_are_not() {
        for name in [
            "Date",
            "server",
            "CONNECTION",
            "Content-Length",
            "Content-MD5",
            "Authorization",
            "WWW-Authenticate",
            "x-amzn-RequestId",
        ] {
            assert!(is_remapped(name.as_bytes()), "{name}");
        }
        for name in [
            "Content-Type",
            "X-Backend",
            "Set-Cookie",
            "x-amzn-Remapped-Server",
            "Server2",
            "",
        ] {
            assert!(!is_remapped(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn lines_keep_the_backends_spelling_after_the_prefix() {
        let mut out = Vec::new();
        write_backend_header(&mut out, b"Server", b"nginx");
        write_backend_header(&mut out, b"www-authenticate", b"Basic realm=\"x\"");
        write_backend_header(&mut out, b"Content-Type", b"text/plain");
        assert_eq!(
            out,
            b"x-amzn-Remapped-Server: nginx\r\n\
              x-amzn-Remapped-www-authenticate: Basic realm=\"x\"\r\n\
              Content-Type: text/plain\r\n"
                .to_vec()
        );
    }
}
