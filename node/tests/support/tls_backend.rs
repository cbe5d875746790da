//! A test HTTPS backend on 127.0.0.1: keep-alive, answers each request with what it saw
//! (method, path, the server name the client sent, whether the TLS session was resumed, the
//! connection's number, the body) and counts handshakes and resumed ones. Certificates come from
//! test CAs made with rcgen.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A test certificate authority.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// Its certificate (PEM), for a trust store.
    pub pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            issuer: rcgen::Issuer::new(params, key),
            pem: cert.pem(),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses) and its key.
    pub fn leaf(&self, names: &[&str]) -> (rustls::pki_types::CertificateDer<'static>, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.der().clone(), key.serialize_der())
    }
}

/// A running backend.
pub struct TlsBackend {
    pub port: u16,
    /// Completed handshakes.
    pub handshakes: Arc<AtomicUsize>,
    /// Of those, resumed ones (no full handshake).
    pub resumed: Arc<AtomicUsize>,
}

impl TlsBackend {
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
    pub fn resumed(&self) -> usize {
        self.resumed.load(Ordering::SeqCst)
    }
}

/// Serves HTTPS with `cert` until the test ends. A request whose path contains `close` is
/// answered with `Connection: close` and the connection closed.
pub fn start(cert: (rustls::pki_types::CertificateDer<'static>, Vec<u8>)) -> TlsBackend {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.0],
        rustls::pki_types::PrivateKeyDer::Pkcs8(cert.1.into()),
    )
    .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let resumed = Arc::new(AtomicUsize::new(0));
    let (h, r) = (handshakes.clone(), resumed.clone());
    let conns = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, h, r) = (config.clone(), h.clone(), r.clone());
            let conn_no = conns.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || serve(tcp, config, conn_no, h, r));
        }
    });
    TlsBackend {
        port,
        handshakes,
        resumed,
    }
}

fn serve(
    tcp: std::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
    conn_no: usize,
    handshakes: Arc<AtomicUsize>,
    resumed: Arc<AtomicUsize>,
) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut s = rustls::StreamOwned::new(conn, tcp);
    if s.conn.complete_io(&mut s.sock).is_err() {
        return;
    }
    handshakes.fetch_add(1, Ordering::SeqCst);
    let was_resumed = s.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    if was_resumed {
        resumed.fetch_add(1, Ordering::SeqCst);
    }
    let sni = s.conn.server_name().unwrap_or("").to_string();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    for _ in 0..1000 {
        // One request: the head, then Content-Length bytes of body.
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if buf.len() > 65536 {
                return;
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
        buf.drain(..head_end + len);
        let mut line = head.lines().next().unwrap_or("").split(' ');
        let method = line.next().unwrap_or("");
        let path = line.next().unwrap_or("");
        let close = path.contains("close");
        let answer = serde_json::json!({
            "method": method,
            "path": path,
            "sni": sni,
            "resumed": was_resumed,
            "conn": conn_no,
            "body": body,
        })
        .to_string();
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n{answer}",
            answer.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if s.write_all(resp.as_bytes()).is_err() || s.flush().is_err() {
            return;
        }
        if close {
            s.conn.send_close_notify();
            let _ = s.flush();
            return;
        }
    }
}
