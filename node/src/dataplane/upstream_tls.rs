//! `https://` backends: rustls client connections driven by hand over monoio, and the
//! connection type the per-worker pool keeps (plain TCP or TLS over it).
//!
//! Each worker has its own client configurations ([`Clients`]): one that verifies the
//! backend's chain against the node's roots (the system's and `[upstream_tls] ca_file`), one
//! for `tlsConfig.insecureSkipVerification` (as AWS: the chain is not checked, the name and the
//! validity dates still are). Each configuration holds rustls's session cache, so a new
//! connection to a backend this worker spoke to resumes the session (a ticket or a session id)
//! instead of a full handshake; with keep-alive in the pool most requests need neither.
//! The server name sent (SNI) and checked is the URI's host.

use super::io::read_more;
use super::tls_io::TlsIo;
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct};
use rustls::{RootCertStore, SignatureScheme};
use std::io;
use std::sync::Arc;

/// The server name of `host:port` (or `[v6]:port`): a DNS name or an IP address.
pub fn server_name(authority: &str) -> Result<ServerName<'static>, String> {
    let host = match authority.rfind(':') {
        Some(p) if !authority[p..].contains(']') => &authority[..p],
        _ => authority,
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(host.to_string())
        .map_err(|_| format!("{host:?} is not a host name a certificate can be checked for"))
}

/// A worker's TLS client configurations (and with them its session caches).
#[derive(Clone)]
pub struct Clients {
    verified: Arc<ClientConfig>,
    insecure: Arc<ClientConfig>,
}

impl Clients {
    /// Configurations that trust `roots`.
    pub fn new(roots: Arc<RootCertStore>) -> Result<Clients, String> {
        let provider = crate::tls::provider();
        let builder = || {
            ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())
        };
        let verified = builder()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let insecure = builder()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SkipChain {
                provider: provider.clone(),
            }))
            .with_no_client_auth();
        Ok(Clients {
            verified: Arc::new(verified),
            insecure: Arc::new(insecure),
        })
    }

    fn config(&self, insecure: bool) -> &Arc<ClientConfig> {
        if insecure {
            &self.insecure
        } else {
            &self.verified
        }
    }
}

/// `insecureSkipVerification` as AWS has it: the chain is not checked (a self-signed or
/// private-CA certificate is taken), but the certificate must name the host, be within its
/// validity dates, and the handshake's signature must be made with its key.
#[derive(Debug)]
struct SkipChain {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SkipChain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_name(&parsed, server_name)?;
        let (_, cert) = x509_parser::parse_x509_certificate(end_entity.as_ref())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if now < cert.validity().not_before.timestamp() {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidYet,
            ));
        }
        if now > cert.validity().not_after.timestamp() {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Where an `https://` backend's TLS goes: its server name and how it is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsTarget {
    /// SNI and the name the certificate must carry.
    pub server_name: ServerName<'static>,
    /// `tlsConfig.insecureSkipVerification`.
    pub insecure: bool,
}

/// A backend connection: plain TCP, or TLS over it.
pub enum Backend {
    /// `http://`.
    Plain(TcpStream),
    /// `https://`.
    Tls(Box<TlsClient>),
}

/// Why a connection could not be made.
#[derive(Debug)]
pub enum ConnectError {
    /// No TCP connection.
    Tcp,
    /// The TLS handshake failed (an untrusted or misnamed certificate, a protocol error).
    Tls(String),
}

impl Backend {
    /// Connects to `addr`, with a TLS handshake when `tls` is set (which needs `clients`).
    pub async fn connect(
        addr: std::net::SocketAddr,
        tls: Option<&TlsTarget>,
        clients: Option<&Clients>,
    ) -> Result<Backend, ConnectError> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|_| ConnectError::Tcp)?;
        let _ = tcp.set_nodelay(true);
        let Some(t) = tls else {
            return Ok(Backend::Plain(tcp));
        };
        let clients = clients.ok_or_else(|| {
            ConnectError::Tls("this worker has no TLS client configuration".into())
        })?;
        let conn = ClientConnection::new(clients.config(t.insecure).clone(), t.server_name.clone())
            .map_err(|e| ConnectError::Tls(e.to_string()))?;
        let mut c = TlsClient::new(tcp, conn, Vec::new(), Vec::new());
        c.handshake()
            .await
            .map_err(|e| ConnectError::Tls(e.to_string()))?;
        Ok(Backend::Tls(Box::new(c)))
    }

    /// Sends all of `req`, which is left as it was (so it can be sent again).
    pub async fn send(&mut self, req: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Backend::Plain(s) => {
                let (r, buf) = s.write_all(std::mem::take(req)).await;
                *req = buf;
                r.map(|_| ())
            }
            Backend::Tls(t) => t.write_plain(req).await,
        }
    }

    /// Reads more onto the end of `buf`; 0 at end of stream.
    pub async fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Backend::Plain(s) => read_more(s, buf).await,
            // 0 here is a clean close_notify (or a cut connection).
            Backend::Tls(t) => t.read_plain(buf).await,
        }
    }

    /// Whether the TLS session of this connection was resumed (no full handshake).
    pub fn resumed(&self) -> bool {
        matches!(self, Backend::Tls(t) if t.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed))
    }
}

/// A TLS client connection ([`TlsIo`] over a rustls client connection).
pub type TlsClient = TlsIo<ClientConnection>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_of_authorities() {
        assert_eq!(
            server_name("api.example.com:443").unwrap(),
            ServerName::try_from("api.example.com").unwrap()
        );
        assert_eq!(
            server_name("127.0.0.1:8443").unwrap(),
            ServerName::try_from("127.0.0.1").unwrap()
        );
        assert_eq!(
            server_name("[::1]:443").unwrap(),
            ServerName::try_from("::1").unwrap()
        );
        assert!(server_name("bad_name!:443").is_err());
        assert!(server_name(":443").is_err());
    }

    /// An https URI compiles to port 443, its host as the server name, and a pool key that
    /// never matches a plain or differently verified connection to the same address.
    #[test]
    fn https_uris_compile_to_their_own_pool_keys() {
        use tollgate_proto::model::{Integration, IntegrationType, Stage, TlsConfig};
        let compile = |uri: &str, insecure: Option<bool>| {
            let i = Integration {
                kind: IntegrationType::HttpProxy,
                http_method: Some("GET".into()),
                uri: Some(uri.into()),
                tls_config: insecure.map(|b| TlsConfig {
                    insecure_skip_verification: b,
                }),
                ..Default::default()
            };
            crate::dataplane::routing::compile_http_proxy(&i, &Stage::default()).unwrap()
        };
        let plain = compile("http://b.test/x", None);
        let tls = compile("https://b.test/x", None);
        let insecure = compile("https://b.test/x", Some(true));
        assert_eq!(&*tls.authority, "b.test:443");
        assert_eq!(&*tls.host_header, "b.test");
        assert_eq!(
            tls.tls,
            Some(TlsTarget {
                server_name: ServerName::try_from("b.test").unwrap(),
                insecure: false
            })
        );
        assert!(insecure.tls.as_ref().is_some_and(|t| t.insecure));
        assert!(plain.tls.is_none());
        let keys = [&plain.pool_key, &tls.pool_key, &insecure.pool_key];
        assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);
        // tlsConfig with false verifies as without it.
        assert_eq!(
            compile("https://b.test/x", Some(false)).pool_key,
            tls.pool_key
        );
    }

    fn cert(name: &str, not_after_year: i32) -> CertificateDer<'static> {
        let mut p = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(not_after_year, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        p.self_signed(&key).unwrap().der().clone()
    }

    /// insecureSkipVerification takes a self-signed certificate, but still checks its name
    /// and its validity dates.
    #[test]
    fn skipping_the_chain_still_checks_name_and_dates() {
        let v = SkipChain {
            provider: crate::tls::provider(),
        };
        let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_780_000_000));
        let name = ServerName::try_from("backend.test").unwrap();
        let check =
            |c: &CertificateDer<'_>, n: &ServerName<'_>| v.verify_server_cert(c, &[], n, &[], now);
        assert!(check(&cert("backend.test", 2100), &name).is_ok());
        let other = ServerName::try_from("other.test").unwrap();
        assert!(matches!(
            check(&cert("backend.test", 2100), &other),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ));
        assert!(matches!(
            check(&cert("backend.test", 2021), &name),
            Err(rustls::Error::InvalidCertificate(CertificateError::Expired))
        ));
        assert!(check(&CertificateDer::from(vec![1, 2, 3]), &name).is_err());
    }
}
