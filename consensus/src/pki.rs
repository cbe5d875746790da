//! The cluster's private PKI: a cluster CA, node certificates it signs, and the rustls
//! configurations that make every QUIC connection inside the cluster mutually authenticated.
//!
//! Trust model: a node accepts a peer (as server or as client) only when the peer's certificate
//! chains to the cluster CA, and to nothing else: the CA is the only root, the platform's trust
//! store is never consulted. Every node certificate carries the fixed DNS name
//! [`SERVER_NAME`] among its subject alternative names, and clients verify servers against that
//! name, so node addresses can change (or be NATed) without re-issuing certificates.
//!
//! Keys are ECDSA P-256, generated with `ring`. On disk a folder holds `ca.pem`, `ca-key.pem`
//! (only where certificates are issued), `node.pem` and `node-key.pem`; key files are written
//! with mode 0600.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The DNS name every node certificate carries and every client verifies servers against.
pub const SERVER_NAME: &str = "tollgate-node";

/// The ALPN protocol spoken on the cluster's QUIC connections.
pub const ALPN: &[u8] = b"tollgate-raft/1";

/// File names inside a PKI folder.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA's private key (only on the machine that issues certificates).
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// This node's certificate.
pub const NODE_CERT_FILE: &str = "node.pem";
/// This node's private key.
pub const NODE_KEY_FILE: &str = "node-key.pem";

/// Why a certificate could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Certificate generation or parsing failed.
    #[error("certificate: {0}")]
    Cert(String),
    /// A PEM file did not hold what was expected.
    #[error("pem: {0}")]
    Pem(String),
    /// The TLS configuration was refused.
    #[error("tls: {0}")]
    Tls(String),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        PkiError::Cert(e.to_string())
    }
}

impl From<rustls::Error> for PkiError {
    fn from(e: rustls::Error) -> Self {
        PkiError::Tls(e.to_string())
    }
}

/// The PEM material a node needs to join the cluster's mutual TLS.
#[derive(Clone)]
pub struct ClusterTls {
    /// The cluster CA certificate (PEM): the only root trusted for peers.
    pub ca_cert_pem: String,
    /// This node's certificate (PEM), signed by the cluster CA; may be followed by intermediates.
    pub node_cert_pem: String,
    /// This node's private key (PEM, PKCS#8, SEC1 or PKCS#1).
    pub node_key_pem: String,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key is never printed.
        f.debug_struct("ClusterTls")
            .field("ca_cert_pem", &self.ca_cert_pem.len())
            .field("node_cert_pem", &self.node_cert_pem.len())
            .finish_non_exhaustive()
    }
}

/// Today's date as (year, month, day) in UTC, from the system clock.
fn today() -> (i32, u8, u8) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    civil_from_days((secs / 86_400) as i64)
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

/// Sets validity from yesterday (clock skew between machines) for `years` years.
fn set_validity(params: &mut CertificateParams, years: i32) {
    let (y, m, d) = today();
    let (py, pm, pd) = civil_from_days(days_from_civil(y, m, d) - 1);
    params.not_before = rcgen::date_time_ymd(py, pm, pd);
    // 28 exists in every month, so the end date is always valid.
    params.not_after = rcgen::date_time_ymd(y + years, m, d.min(28));
}

fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Tollgate");
    dn.push(DnType::CommonName, "Tollgate cluster CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, 10);
    params
}

/// Creates a new cluster CA, valid for ten years. Returns `(ca_cert_pem, ca_key_pem)`.
pub fn create_ca() -> Result<(String, String), PkiError> {
    let key = KeyPair::generate()?;
    let cert = ca_params().self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Issues a node certificate signed by the CA, valid for five years, usable for both server
/// and client authentication. Its subject alternative names are [`SERVER_NAME`], `node_name`
/// (when it is a valid DNS name) and `ip_addrs`; its common name is `node_name`.
/// Returns `(cert_pem, key_pem)`.
pub fn issue_node_cert(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    node_name: &str,
    ip_addrs: &[IpAddr],
) -> Result<(String, String), PkiError> {
    let ca_key = KeyPair::from_pem(ca_key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Tollgate");
    dn.push(DnType::CommonName, node_name);
    params.distinguished_name = dn;
    let mut sans = vec![SanType::DnsName(SERVER_NAME.try_into()?)];
    if node_name != SERVER_NAME && is_dns_name(node_name) {
        sans.push(SanType::DnsName(node_name.try_into()?));
    }
    sans.extend(ip_addrs.iter().map(|ip| SanType::IpAddress(*ip)));
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, 5);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Creates `dir` readable by its owner only (0700) when missing.
fn create_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Writes `bytes` to `path` readable by its owner only (0600: every file a node keeps is, the
/// certificates too, so a folder's files need no case-by-case review), refusing to replace an
/// existing file.
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Writes `ca.pem` and `ca-key.pem` into `dir` (created if missing). Existing files are never
/// replaced: the call fails with `AlreadyExists` instead.
pub fn write_ca(dir: &Path, ca_cert_pem: &str, ca_key_pem: &str) -> io::Result<()> {
    create_dir(dir)?;
    write_new(&dir.join(CA_CERT_FILE), ca_cert_pem.as_bytes())?;
    write_new(&dir.join(CA_KEY_FILE), ca_key_pem.as_bytes())
}

/// Writes a node's `ca.pem` (skipped when an identical one is there), `node.pem` and
/// `node-key.pem` into `dir`. Existing node files are never replaced.
pub fn write_node(dir: &Path, ca_cert_pem: &str, cert_pem: &str, key_pem: &str) -> io::Result<()> {
    create_dir(dir)?;
    let ca_path = dir.join(CA_CERT_FILE);
    match std::fs::read_to_string(&ca_path) {
        Ok(existing) if existing == ca_cert_pem => {}
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} holds a different CA", ca_path.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            write_new(&ca_path, ca_cert_pem.as_bytes())?
        }
        Err(e) => return Err(e),
    }
    write_new(&dir.join(NODE_CERT_FILE), cert_pem.as_bytes())?;
    write_new(&dir.join(NODE_KEY_FILE), key_pem.as_bytes())
}

fn read(path: &Path) -> io::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Reads `ca.pem` and `ca-key.pem` from `dir`.
pub fn read_ca(dir: &Path) -> io::Result<(String, String)> {
    Ok((
        read(&dir.join(CA_CERT_FILE))?,
        read(&dir.join(CA_KEY_FILE))?,
    ))
}

/// Reads a node's `ca.pem`, `node.pem` and `node-key.pem` from `dir`.
pub fn read_node(dir: &Path) -> io::Result<ClusterTls> {
    Ok(ClusterTls {
        ca_cert_pem: read(&dir.join(CA_CERT_FILE))?,
        node_cert_pem: read(&dir.join(NODE_CERT_FILE))?,
        node_key_pem: read(&dir.join(NODE_KEY_FILE))?,
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl ClusterTls {
    fn roots(&self) -> Result<rustls::RootCertStore, PkiError> {
        let mut roots = rustls::RootCertStore::empty();
        let mut n = 0;
        for cert in CertificateDer::pem_slice_iter(self.ca_cert_pem.as_bytes()) {
            let cert = cert.map_err(|e| PkiError::Pem(format!("CA certificate: {e}")))?;
            roots.add(cert)?;
            n += 1;
        }
        if n == 0 {
            return Err(PkiError::Pem("no CA certificate found".into()));
        }
        Ok(roots)
    }

    fn identity(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), PkiError> {
        let chain = CertificateDer::pem_slice_iter(self.node_cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PkiError::Pem(format!("node certificate: {e}")))?;
        if chain.is_empty() {
            return Err(PkiError::Pem("no node certificate found".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(self.node_key_pem.as_bytes())
            .map_err(|e| PkiError::Pem(format!("node key: {e}")))?;
        Ok((chain, key))
    }

    /// The rustls server configuration: TLS 1.3, this node's certificate, and client
    /// certificates required and verified against the cluster CA only.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, PkiError> {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(self.roots()?),
            provider(),
        )
        .build()
        .map_err(|e| PkiError::Tls(e.to_string()))?;
        let (chain, key) = self.identity()?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        cfg.alpn_protocols = vec![ALPN.to_vec()];
        Ok(cfg)
    }

    /// The rustls client configuration: TLS 1.3, the cluster CA as the only root, and this
    /// node's certificate presented for client authentication.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, PkiError> {
        let (chain, key) = self.identity()?;
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(self.roots()?)
            .with_client_auth_cert(chain, key)?;
        cfg.alpn_protocols = vec![ALPN.to_vec()];
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        for d in [0, 59, 60, 365, 10_000, 20_000, 30_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn issue_and_configure() {
        let (ca, ca_key) = create_ca().unwrap();
        let (cert, key) =
            issue_node_cert(&ca, &ca_key, "node-1", &["127.0.0.1".parse().unwrap()]).unwrap();
        let tls = ClusterTls {
            ca_cert_pem: ca.clone(),
            node_cert_pem: cert.clone(),
            node_key_pem: key.clone(),
        };
        tls.server_config().unwrap();
        tls.client_config().unwrap();
        assert!(!format!("{tls:?}").contains("PRIVATE"));

        let dir = tempfile::tempdir().unwrap();
        write_ca(dir.path(), &ca, &ca_key).unwrap();
        assert!(
            write_ca(dir.path(), &ca, &ca_key).is_err(),
            "never overwrites"
        );
        write_node(dir.path(), &ca, &cert, &key).unwrap();
        let back = read_node(dir.path()).unwrap();
        assert_eq!(back.node_cert_pem, cert);
        assert_eq!(read_ca(dir.path()).unwrap(), (ca, ca_key));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [CA_KEY_FILE, NODE_KEY_FILE] {
                let mode = std::fs::metadata(dir.path().join(f))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
    }

    #[test]
    fn bad_pem_is_an_error() {
        let tls = ClusterTls {
            ca_cert_pem: "garbage".into(),
            node_cert_pem: String::new(),
            node_key_pem: String::new(),
        };
        assert!(tls.server_config().is_err());
        assert!(tls.client_config().is_err());
        assert!(issue_node_cert("x", "y", "n", &[]).is_err());
    }
}
