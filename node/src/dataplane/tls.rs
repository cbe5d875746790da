//! The HTTPS listener's connections: rustls driven by hand over monoio's owned-buffer I/O.
//!
//! Why by hand rather than an adapter crate: the connection loop (`conn.rs`) only needs "read
//! more onto this buffer" and "write all of this buffer" ([`super::io::Transport`]), the
//! handshake must pick a whole configuration per domain from the ClientHello (rustls's
//! `Acceptor`, which adapters do not expose), and the handshake deadline, the refusal alerts and
//! buffer reuse stay in one place we test. See `docs/ARCHITECTURE.md`.
//!
//! A handshake: read the ClientHello (rustls `Acceptor`), look its server name (SNI) up in the
//! worker's current domain table, and go on with that domain's configuration (its certificate,
//! security policy and, for mutual TLS, client verifier). No SNI or an unknown name is refused
//! with a fatal `unrecognized_name` alert; a domain whose configuration this node could not
//! build with `internal_error`. The whole handshake has one deadline ([`super::worker::Timeouts`]).

use super::io::Transport;
use super::request::{ClientCert, TlsInfo};
use super::tls_io::{recv, send, TlsIo, READ_CHUNK};
use super::worker::Worker;
use monoio::net::TcpStream;
use rustls::server::Acceptor;
use rustls::ServerConnection;
use std::io;
use std::net::IpAddr;
use std::rc::Rc;

/// What one TLS connection is held to cost against the worker's body-memory budget
/// (`body_memory_limit_mib`), from accept to close. Measured (`node/tests/tls_memory.rs`, a
/// counting allocator around a real connection, TLS 1.3 and 1.2 alike): about 24 KB right
/// after the handshake and between ordinary requests (the [`READ_CHUNK`] read buffer, a
/// small write buffer and rustls's state), and up to about 52 KB between a request of
/// full-size records and the next read (rustls keeps a record-size deframing buffer until
/// then; the write buffer a large answer grew is given back at once). 64 KiB covers the
/// larger with room for the allocator's rounding. A plain-HTTP connection's buffers are not
/// counted (they fit the connection limit); a TLS connection's are several times as large,
/// so a flood of TLS connections takes from the budget and is refused once it is spent.
pub const CONNECTION_BYTES: usize = 64 * 1024;

/// A TLS connection's hold on the worker's body-memory budget, given back when dropped.
struct BudgetHold {
    w: Rc<Worker>,
}

impl BudgetHold {
    fn take(w: &Rc<Worker>) -> Option<BudgetHold> {
        let left = w.body_budget.get();
        if left < CONNECTION_BYTES {
            return None;
        }
        w.body_budget.set(left - CONNECTION_BYTES);
        Some(BudgetHold { w: w.clone() })
    }
}

impl Drop for BudgetHold {
    fn drop(&mut self) {
        self.w
            .body_budget
            .set(self.w.body_budget.get() + CONNECTION_BYTES);
    }
}

/// A fatal `unrecognized_name` alert record (plaintext: no keys exist yet).
const UNRECOGNIZED_NAME: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 112];
/// A fatal `internal_error` alert record.
const INTERNAL_ERROR: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 80];

/// One connection of the HTTPS listener ([`TlsIo`] over a rustls server connection).
pub type TlsStream = TlsIo<ServerConnection>;

/// What the handshake established.
fn info(s: &TlsStream) -> TlsInfo {
    TlsInfo {
        sni: s.conn.server_name().unwrap_or("").into(),
        client_cert: s
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| client_cert(c.as_ref())),
    }
}

impl Transport for TlsStream {
    async fn read_more(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.read_plain(buf).await
    }

    async fn write_all(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        self.write_plain(buf).await?;
        buf.clear();
        Ok(())
    }
}

/// `$context.identity.clientCert.*` of a verified client certificate (DER).
pub fn client_cert(der: &[u8]) -> Option<ClientCert> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let fmt = |t: x509_parser::time::ASN1Time| {
        // AWS's form: `May 28 12:30:02 2019 GMT` (OpenSSL's).
        let d = t.to_datetime();
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "{} {:>2} {:02}:{:02}:{:02} {} GMT",
            MONTHS[usize::from(u8::from(d.month())) - 1],
            d.day(),
            d.hour(),
            d.minute(),
            d.second(),
            d.year()
        )
    };
    Some(ClientCert {
        pem: pem_text(der),
        subject_dn: cert.subject().to_string(),
        issuer_dn: cert.issuer().to_string(),
        serial_number: cert.tbs_certificate.serial.to_string(),
        not_before: fmt(cert.validity().not_before),
        not_after: fmt(cert.validity().not_after),
    })
}

/// A certificate as PEM text.
fn pem_text(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 60);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or(""));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// How a handshake ended without a connection.
enum Refused {
    /// The client went away or the socket failed.
    Io(io::Error),
    /// A TLS-level refusal (alert sent).
    Tls(&'static str),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Io(e) => write!(f, "{e}"),
            Refused::Tls(why) => f.write_str(why),
        }
    }
}

impl From<io::Error> for Refused {
    fn from(e: io::Error) -> Self {
        Refused::Io(e)
    }
}

/// Runs a handshake on an accepted socket: the ClientHello, the domain's configuration from
/// the worker's current table, then the rest of the handshake.
async fn accept(w: &Worker, mut tcp: TcpStream) -> Result<TlsStream, Refused> {
    let mut acceptor = Acceptor::default();
    let mut rbuf = Vec::with_capacity(READ_CHUNK);
    let mut wbuf = Vec::new();
    let accepted = loop {
        if recv(&mut tcp, &mut rbuf).await? == 0 {
            return Err(Refused::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        let mut rest = &rbuf[..];
        while !rest.is_empty() {
            if acceptor.read_tls(&mut rest)? == 0 {
                return Err(Refused::Tls("ClientHello input not accepted"));
            }
        }
        match acceptor.accept() {
            Ok(Some(a)) => break a,
            Ok(None) => {}
            Err((e, mut alert)) => {
                let _ = alert.write_all(&mut wbuf);
                let _ = send(&mut tcp, &mut wbuf).await;
                tracing::debug!(error = %e, "TLS ClientHello refused");
                return Err(Refused::Tls("bad ClientHello"));
            }
        }
    };
    let table = w.routes.borrow_mut().current();
    let domain = accepted
        .client_hello()
        .server_name()
        .and_then(|name| table.domains.lookup(name));
    let config = match domain.map(|d| &d.tls) {
        Some(Ok(c)) => c.clone(),
        Some(Err(_)) => {
            wbuf.extend_from_slice(&INTERNAL_ERROR);
            let _ = send(&mut tcp, &mut wbuf).await;
            return Err(Refused::Tls(
                "the domain's TLS configuration could not be built",
            ));
        }
        None => {
            wbuf.extend_from_slice(&UNRECOGNIZED_NAME);
            let _ = send(&mut tcp, &mut wbuf).await;
            return Err(Refused::Tls("no custom domain name for the SNI"));
        }
    };
    drop(table);
    let conn = match accepted.into_connection(config) {
        Ok(c) => c,
        Err((e, mut alert)) => {
            let _ = alert.write_all(&mut wbuf);
            let _ = send(&mut tcp, &mut wbuf).await;
            tracing::debug!(error = %e, "TLS handshake refused");
            return Err(Refused::Tls("handshake refused"));
        }
    };
    let mut s = TlsIo::new(tcp, conn, rbuf, wbuf);
    s.handshake().await?;
    Ok(s)
}

/// Serves one connection of the HTTPS listener: the handshake within its deadline, then
/// requests as on the HTTP listener. The accept loop has counted it in `w.conns`; it holds
/// [`CONNECTION_BYTES`] of the worker's body budget while open, and is closed at once when
/// the budget cannot cover that.
pub async fn serve(w: Rc<Worker>, tcp: TcpStream, peer: IpAddr) {
    // Held until the connection ends (this future's state owns it).
    let Some(_hold) = BudgetHold::take(&w) else {
        tracing::debug!(%peer, "TLS connection refused: the worker's body memory budget is spent");
        drop(tcp);
        w.conns.set(w.conns.get().saturating_sub(1));
        w.metrics.open_connections(w.conns.get());
        w.metrics.tls_handshake(false);
        return;
    };
    let deadline = w.timeouts.tls_handshake;
    w.handshaking.set(w.handshaking.get() + 1);
    let done = monoio::time::timeout(deadline, accept(&w, tcp)).await;
    w.handshaking.set(w.handshaking.get().saturating_sub(1));
    let stream = match done {
        Ok(Ok(s)) => s,
        Ok(Err(why)) => {
            tracing::debug!(%why, %peer, "TLS handshake failed");
            w.conns.set(w.conns.get().saturating_sub(1));
            w.metrics.open_connections(w.conns.get());
            w.metrics.tls_handshake(false);
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            w.conns.set(w.conns.get().saturating_sub(1));
            w.metrics.open_connections(w.conns.get());
            w.metrics.tls_handshake(false);
            return;
        }
    };
    w.metrics.tls_handshake(true);
    let info = info(&stream);
    super::conn::serve(w, stream, peer, Some(info)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_certificates_are_described_as_aws_does() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec!["client.example.com".into()]).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "alice");
        p.serial_number = Some(rcgen::SerialNumber::from(vec![0x01, 0x00]));
        p.not_before = rcgen::date_time_ymd(2024, 5, 28);
        p.not_after = rcgen::date_time_ymd(2030, 1, 2);
        let cert = p.self_signed(&key).unwrap();
        let c = client_cert(cert.der()).unwrap();
        assert_eq!(c.subject_dn, "CN=alice");
        assert_eq!(c.issuer_dn, "CN=alice");
        assert_eq!(c.serial_number, "256");
        assert_eq!(c.not_before, "May 28 00:00:00 2024 GMT");
        assert_eq!(c.not_after, "Jan  2 00:00:00 2030 GMT");
        assert_eq!(c.pem.trim(), cert.pem().trim().replace("\r\n", "\n"));
    }
}
