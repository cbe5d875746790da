//! Certificates of custom domain names: checking what an admin call uploads, and building the
//! rustls server configuration the data plane serves a domain with.
//!
//! Both the admin layer (before proposing) and the compiler thread (for every node's workers)
//! go through [`DomainTls::build`], so what was accepted is exactly what is served. Everything
//! here uses rustls's `ring` provider explicitly (never a process default).

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ProducesTickets, WebPkiClientVerifier};
use rustls::version::{TLS12, TLS13};
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use sha2::Digest;
use std::sync::Arc;
use tollgate_proto::domain::{DomainName, MutualTls};
use tollgate_proto::Registry;

/// The crypto provider of every TLS configuration the data plane serves.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

const TLS12_UP: &[&SupportedProtocolVersion] = &[&TLS13, &TLS12];
const TLS13_ONLY: &[&SupportedProtocolVersion] = &[&TLS13];

/// The protocol versions of an AWS security policy, or why it is refused. TLS 1.0/1.1 are
/// refused (rustls implements neither), and so are the FIPS and post-quantum policies (the
/// `ring` provider has neither a FIPS-validated module nor ML-KEM key exchange): a policy
/// is never served weaker than its name promises.
pub fn protocol_versions(
    policy: &str,
) -> Result<&'static [&'static SupportedProtocolVersion], String> {
    match policy {
        "TLS_1_2"
        | "SecurityPolicy_TLS13_1_2_2021_06"
        | "SecurityPolicy_TLS12_2018_EDGE"
        | "SecurityPolicy_TLS12_PFS_2025_EDGE" => Ok(TLS12_UP),
        "SecurityPolicy_TLS13_1_3_2025_09" | "SecurityPolicy_TLS13_2025_EDGE" => Ok(TLS13_ONLY),
        "TLS_1_0" => Err(
            "Security policy TLS_1_0 is not supported here: TLS 1.0 and 1.1 are not implemented (rustls); use TLS_1_2 or a TLS 1.3 policy".into(),
        ),
        p if p.contains("FIPS") || p.contains("_PQ_") => Err(format!(
            "Security policy {p} is not supported here (no FIPS-validated module nor post-quantum key exchange); use TLS_1_2, SecurityPolicy_TLS13_1_2_2021_06 or SecurityPolicy_TLS13_1_3_2025_09"
        )),
        p => Err(format!("Invalid security policy specified: {p}")),
    }
}

/// What a domain's certificate says, for answers and checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// DNS names of the subject alternative names, lower-cased.
    pub dns_names: Vec<String>,
    /// End of validity, epoch seconds.
    pub not_after: i64,
}

/// A domain's checked TLS material: the server configuration and what its certificate says.
pub struct DomainTls {
    /// The configuration handshakes for the domain use.
    pub config: Arc<ServerConfig>,
    /// The certificate's names and validity.
    pub facts: CertFacts,
}

fn certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} is not valid PEM: {e}"))
}

/// Reads the end-entity certificate's names and validity.
pub fn cert_facts(der: &[u8]) -> Result<CertFacts, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("The certificate cannot be parsed: {e}"))?;
    let mut dns_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                dns_names.push(d.to_ascii_lowercase());
            }
        }
    }
    Ok(CertFacts {
        dns_names,
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// Whether a certificate name (`api.example.com`, `*.example.com`) covers the domain name
/// `name` (lower-case; itself possibly a wildcard). A wildcard covers exactly one label, and a
/// wildcard domain only by the same wildcard.
pub fn covers(cert_name: &str, name: &str) -> bool {
    if cert_name == name {
        return true;
    }
    match (cert_name.strip_prefix("*."), name.split_once('.')) {
        (Some(parent), Some((label, rest))) => rest == parent && !label.is_empty() && label != "*",
        _ => false,
    }
}

/// The largest truststore read (AWS's limit for a mutual TLS truststore file: 1 MB).
pub const MAX_TRUSTSTORE_BYTES: u64 = 1_000_000;

/// The CA certificates of a mutual TLS truststore (and its PEM text): inline PEM, or a
/// `file://` URI read now (every node reads its own copy when it compiles the domain), at most
/// [`MAX_TRUSTSTORE_BYTES`] either way.
pub fn truststore(m: &MutualTls) -> Result<(RootCertStore, String), String> {
    let too_large =
        || format!("The truststore is larger than {MAX_TRUSTSTORE_BYTES} bytes, the most accepted");
    let pem = if !m.truststore_pem.is_empty() {
        if m.truststore_pem.len() as u64 > MAX_TRUSTSTORE_BYTES {
            return Err(too_large());
        }
        m.truststore_pem.clone()
    } else if let Some(path) = m.truststore_uri.strip_prefix("file://") {
        use std::io::Read;
        let unreadable =
            |e: std::io::Error| format!("The truststore {} cannot be read: {e}", m.truststore_uri);
        let mut pem = String::new();
        // Bounded: a path such as /dev/zero must not exhaust every node's memory.
        std::fs::File::open(path)
            .map_err(unreadable)?
            .take(MAX_TRUSTSTORE_BYTES + 1)
            .read_to_string(&mut pem)
            .map_err(unreadable)?;
        if pem.len() as u64 > MAX_TRUSTSTORE_BYTES {
            return Err(too_large());
        }
        pem
    } else {
        return Err(format!(
            "Truststore URI {} is not supported here: use file:///path/to/truststore.pem (readable on every node)",
            m.truststore_uri
        ));
    };
    let mut roots = RootCertStore::empty();
    for c in certs(&pem, "The truststore")? {
        roots
            .add(c)
            .map_err(|e| format!("The truststore holds an unusable certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("The truststore holds no certificate".into());
    }
    Ok((roots, pem))
}

impl DomainTls {
    /// Checks a domain's certificate, key, policy and truststore and builds its configuration:
    /// one certificate in `certificateBody`, a private key (PKCS#8, SEC1 or PKCS#1) matching
    /// it, the domain name among its DNS names (wildcards as in [`covers`]). `tickets`: the
    /// cluster's session-ticket secrets (none: no tickets, sessions resume only by id on the
    /// node that made them). Ticket keys are bound to what the handshake was made with
    /// (certificate, security policy, truststore): after a rotation or a truststore change no
    /// earlier session resumes, so every client is checked against the new configuration.
    pub fn build(d: &DomainName, tickets: Option<&TicketSecrets>) -> Result<DomainTls, String> {
        let versions = protocol_versions(&d.security_policy)?;
        let mut chain = certs(&d.certificate_body, "certificateBody")?;
        if chain.len() != 1 {
            return Err(format!(
                "certificateBody must hold exactly one certificate (it holds {}); put intermediates in certificateChain",
                chain.len()
            ));
        }
        chain.extend(certs(&d.certificate_chain, "certificateChain")?);
        let key = PrivateKeyDer::from_pem_slice(d.certificate_private_key.as_bytes())
            .map_err(|_| "certificatePrivateKey holds no PEM private key".to_string())?;
        let signing = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| format!("certificatePrivateKey is not a usable key: {e}"))?;
        let ck = rustls::sign::CertifiedKey::new(chain.clone(), signing);
        if ck.keys_match().is_err() {
            return Err("The private key does not match the certificate".into());
        }
        let facts = cert_facts(&chain[0])?;
        if !facts.dns_names.iter().any(|n| covers(n, &d.name)) {
            return Err(format!(
                "The certificate does not cover the domain name {} (its DNS names: {})",
                d.name,
                if facts.dns_names.is_empty() {
                    "none".to_string()
                } else {
                    facts.dns_names.join(", ")
                }
            ));
        }
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| format!("TLS configuration: {e}"))?;
        let mut context = sha2::Sha256::new();
        for part in [
            d.name.as_bytes(),
            d.certificate_body.as_bytes(),
            d.certificate_chain.as_bytes(),
            d.security_policy.as_bytes(),
        ] {
            context.update((part.len() as u64).to_be_bytes());
            context.update(part);
        }
        let builder = match &d.mutual_tls {
            None => builder.with_no_client_auth(),
            Some(m) => {
                let (roots, pem) = truststore(m)?;
                context.update(b"mtls");
                context.update(pem.as_bytes());
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| format!("The truststore cannot verify clients: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| format!("TLS configuration: {e}"))?;
        // The data plane speaks HTTP/1.1 only; a client offering only h2 fails the handshake
        // with `no_application_protocol` rather than being answered in the wrong protocol.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        if let Some(secrets) = tickets {
            let context: [u8; 32] = context.finalize().into();
            config.ticketer = Arc::new(ClusterTicketer::new(secrets, &context));
        }
        Ok(DomainTls {
            config: Arc::new(config),
            facts,
        })
    }
}

/// How long one session-ticket key encrypts; a ticket is accepted in the period it was made
/// and the next, so it lives between one and two periods (less when the secret rotates first).
pub const TICKET_PERIOD_SECS: u64 = 6 * 3600;

/// The cluster's session-ticket secrets as the registry holds them: the current one with its
/// generation, and the one it replaced at the last rotation (`node::ticket_rotation`).
#[derive(Clone, PartialEq, Eq)]
pub struct TicketSecrets {
    /// The current secret's generation.
    pub generation: u64,
    /// The secret new tickets are sealed under.
    pub current: Vec<u8>,
    /// The secret of generation `generation - 1`, which still opens tickets.
    pub previous: Option<Vec<u8>>,
}

impl std::fmt::Debug for TicketSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TicketSecrets(generation {})", self.generation)
    }
}

impl TicketSecrets {
    /// The secrets of `reg`; none before the first custom domain name made one.
    pub fn of(reg: &Registry) -> Option<TicketSecrets> {
        Some(TicketSecrets {
            generation: reg.tls_ticket_rotation.generation,
            current: reg.tls_ticket_secret.clone()?,
            previous: reg.tls_ticket_rotation.previous.clone(),
        })
    }
}

/// Session tickets every node of the cluster can open: ChaCha20-Poly1305 under a key derived
/// (HKDF-SHA256) from a replicated secret, the domain's configuration digest and the UTC
/// period number. Keys change every [`TICKET_PERIOD_SECS`] on every node at once with nothing
/// replicated, and the secret itself is replaced on a schedule (a replicated rotation): a
/// ticket opens under the current secret or the one before it, so after two rotations no
/// earlier ticket opens anywhere, and a leaked secret opens no ticket of a later one. A ticket
/// is `generation (8 bytes) ‖ period (8) ‖ nonce (12) ‖ sealed state`, its first 16 bytes
/// authenticated as associated data.
pub struct ClusterTicketer {
    generation: u64,
    current: ring::hkdf::Prk,
    previous: Option<ring::hkdf::Prk>,
    context: [u8; 32],
    rng: ring::rand::SystemRandom,
    /// The clock (epoch seconds); a parameter for tests.
    now: fn() -> u64,
}

impl std::fmt::Debug for ClusterTicketer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterTicketer")
    }
}

fn epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

struct KeyLen;

impl ring::hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        32
    }
}

/// What a ticket starts with: its secret's generation and its period.
const HEADER: usize = 16;

fn extract(secret: &[u8]) -> ring::hkdf::Prk {
    ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"tollgate tls tickets").extract(secret)
}

impl ClusterTicketer {
    /// A ticketer over the cluster's secrets for one configuration (`context`, its digest).
    pub fn new(secrets: &TicketSecrets, context: &[u8; 32]) -> ClusterTicketer {
        Self::with_clock(secrets, context, epoch_secs)
    }

    fn with_clock(
        secrets: &TicketSecrets,
        context: &[u8; 32],
        now: fn() -> u64,
    ) -> ClusterTicketer {
        ClusterTicketer {
            generation: secrets.generation,
            current: extract(&secrets.current),
            previous: secrets.previous.as_deref().map(extract),
            context: *context,
            rng: ring::rand::SystemRandom::new(),
            now,
        }
    }

    /// The secret of `generation`, while it opens tickets.
    fn secret(&self, generation: u64) -> Option<&ring::hkdf::Prk> {
        if generation == self.generation {
            Some(&self.current)
        } else if generation.checked_add(1) == Some(self.generation) {
            self.previous.as_ref()
        } else {
            None
        }
    }

    fn key(&self, header: &[u8; HEADER]) -> Option<ring::aead::LessSafeKey> {
        let (generation, period) = header.split_at(8);
        let secret = self.secret(u64::from_be_bytes(generation.try_into().ok()?))?;
        let info = [&self.context[..], period];
        let okm = secret.expand(&info, KeyLen).ok()?;
        let mut key = [0u8; 32];
        okm.fill(&mut key).ok()?;
        let unbound = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &key).ok()?;
        Some(ring::aead::LessSafeKey::new(unbound))
    }
}

impl ProducesTickets for ClusterTicketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        TICKET_PERIOD_SECS as u32
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        use ring::rand::SecureRandom;
        let period = (self.now)() / TICKET_PERIOD_SECS;
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(&self.generation.to_be_bytes());
        header[8..].copy_from_slice(&period.to_be_bytes());
        let key = self.key(&header)?;
        let mut nonce = [0u8; 12];
        self.rng.fill(&mut nonce).ok()?;
        let mut out = Vec::with_capacity(HEADER + 12 + plain.len() + 16);
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let tag = key
            .seal_in_place_separate_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(header),
                &mut out[HEADER + 12..],
            )
            .ok()?;
        out.extend_from_slice(tag.as_ref());
        Some(out)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let header: [u8; HEADER] = cipher.get(..HEADER)?.try_into().ok()?;
        let period = u64::from_be_bytes(header[8..].try_into().ok()?);
        let now = (self.now)() / TICKET_PERIOD_SECS;
        if period != now && period.checked_add(1) != Some(now) {
            return None;
        }
        let nonce: [u8; 12] = cipher.get(HEADER..HEADER + 12)?.try_into().ok()?;
        let mut sealed = cipher.get(HEADER + 12..)?.to_vec();
        let plain = self
            .key(&header)?
            .open_in_place(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(header),
                &mut sealed,
            )
            .ok()?
            .len();
        sealed.truncate(plain);
        Some(sealed)
    }
}

/// The system's root certificates plus those of a PEM file (`setting` names it in errors).
pub fn root_store(
    ca_file: Option<&std::path::Path>,
    setting: &str,
) -> Result<RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    if let Some(path) = ca_file {
        let err = |e: &dyn std::fmt::Display| format!("{setting} {}: {e}", path.display());
        let pem = std::fs::read(path).map_err(|e| err(&e))?;
        let mut n = 0;
        for c in CertificateDer::pem_slice_iter(&pem) {
            roots.add(c.map_err(|e| err(&e))?).map_err(|e| err(&e))?;
            n += 1;
        }
        if n == 0 {
            return Err(err(&"no certificate in it"));
        }
    }
    Ok(roots)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A CA and leaf certificates it signs (ECDSA P-256), as PEM.
    pub struct TestCa {
        pub cert_pem: String,
        issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    }

    impl TestCa {
        pub fn new(name: &str) -> TestCa {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            p.distinguished_name
                .push(rcgen::DnType::CommonName, name.to_string());
            let cert = p.self_signed(&key).unwrap();
            TestCa {
                cert_pem: cert.pem(),
                issuer: rcgen::Issuer::new(p, key),
            }
        }

        /// (certificate PEM, key PEM) for `names`.
        pub fn leaf(&self, names: &[&str]) -> (String, String) {
            let key = rcgen::KeyPair::generate().unwrap();
            let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            let p = rcgen::CertificateParams::new(names).unwrap();
            let cert = p.signed_by(&key, &self.issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        }
    }

    fn domain(name: &str, cert: &str, key: &str) -> DomainName {
        DomainName {
            name: name.into(),
            certificate_body: cert.into(),
            certificate_private_key: key.into(),
            security_policy: "TLS_1_2".into(),
            ..Default::default()
        }
    }

    fn secrets(generation: u64, current: u8, previous: Option<u8>) -> TicketSecrets {
        TicketSecrets {
            generation,
            current: vec![current; 32],
            previous: previous.map(|p| vec![p; 32]),
        }
    }

    #[test]
    fn tickets_open_on_any_node_of_the_cluster_within_two_periods() {
        let c = &[1; 32];
        let s = secrets(0, 7, None);
        let node1 = ClusterTicketer::with_clock(&s, c, || 100 * TICKET_PERIOD_SECS + 5);
        let node2 = ClusterTicketer::with_clock(&s, c, || 100 * TICKET_PERIOD_SECS + 9);
        let t = node1.encrypt(b"session state").unwrap();
        assert_eq!(node2.decrypt(&t).as_deref(), Some(&b"session state"[..]));
        let next = ClusterTicketer::with_clock(&s, c, || 101 * TICKET_PERIOD_SECS);
        assert!(next.decrypt(&t).is_some(), "accepted in the next period");
        let later = ClusterTicketer::with_clock(&s, c, || 102 * TICKET_PERIOD_SECS);
        assert!(later.decrypt(&t).is_none(), "its key has rotated away");
        let other =
            ClusterTicketer::with_clock(&secrets(0, 8, None), c, || 100 * TICKET_PERIOD_SECS);
        assert!(other.decrypt(&t).is_none(), "another cluster's secret");
        let rotated = ClusterTicketer::with_clock(&s, &[2; 32], || 100 * TICKET_PERIOD_SECS);
        assert!(
            rotated.decrypt(&t).is_none(),
            "another certificate or truststore"
        );
        let mut forged = t.clone();
        forged[15] ^= 1; // claims another period
        assert!(node2.decrypt(&forged).is_none());
        let last = forged.len() - 1;
        let mut flipped = t.clone();
        flipped[last] ^= 1;
        assert!(node2.decrypt(&flipped).is_none());
        for short in [&t[..0], &t[..8], &t[..16], &t[..28]] {
            assert!(node2.decrypt(short).is_none());
        }
    }

    #[test]
    fn a_ticket_opens_until_its_secret_is_rotated_out_twice() {
        let c = &[1; 32];
        let at = || 100 * TICKET_PERIOD_SECS;
        let t = ClusterTicketer::with_clock(&secrets(4, 7, Some(6)), c, at)
            .encrypt(b"state")
            .unwrap();
        // One rotation: generation 4 is the previous secret, still opening its tickets.
        let once = ClusterTicketer::with_clock(&secrets(5, 9, Some(7)), c, at);
        assert_eq!(once.decrypt(&t).as_deref(), Some(&b"state"[..]));
        // New tickets are sealed under the new secret: the old one alone cannot open them.
        let fresh = once.encrypt(b"new").unwrap();
        let before = ClusterTicketer::with_clock(&secrets(4, 7, Some(6)), c, at);
        assert!(before.decrypt(&fresh).is_none());
        // Two rotations: generation 4 opens nothing more.
        let twice = ClusterTicketer::with_clock(&secrets(6, 3, Some(9)), c, at);
        assert!(twice.decrypt(&t).is_none());
        assert!(twice.decrypt(&fresh).is_some());
        // A ticket naming another generation than its secret's does not open.
        let mut relabelled = t.clone();
        relabelled[7] = 5;
        assert!(once.decrypt(&relabelled).is_none());
        // The previous secret opens only its own generation's tickets.
        let wrong_previous = ClusterTicketer::with_clock(&secrets(5, 9, Some(8)), c, at);
        assert!(wrong_previous.decrypt(&t).is_none());
    }

    #[test]
    fn names_are_covered_as_browsers_do() {
        assert!(covers("api.example.com", "api.example.com"));
        assert!(covers("*.example.com", "api.example.com"));
        assert!(covers("*.example.com", "*.example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("api.example.com", "*.example.com"));
        assert!(!covers("other.example.com", "api.example.com"));
    }

    #[test]
    fn a_truststore_is_read_bounded() {
        let ca = TestCa::new("Test CA");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("truststore.pem");
        std::fs::write(&path, &ca.cert_pem).unwrap();
        let by_file = MutualTls {
            truststore_uri: format!("file://{}", path.display()),
            ..Default::default()
        };
        assert!(truststore(&by_file).is_ok());
        // An endless file (or one past the limit) is refused, not read whole.
        let endless = MutualTls {
            truststore_uri: "file:///dev/zero".into(),
            ..Default::default()
        };
        assert!(truststore(&endless).unwrap_err().contains("larger than"));
        let inline = MutualTls {
            truststore_pem: "x".repeat(MAX_TRUSTSTORE_BYTES as usize + 1),
            ..Default::default()
        };
        assert!(truststore(&inline).unwrap_err().contains("larger than"));
    }

    #[test]
    fn certificates_are_checked_before_they_are_served() {
        let ca = TestCa::new("Test CA");
        let (cert, key) = ca.leaf(&["api.example.com", "*.pets.example.com"]);
        assert!(DomainTls::build(&domain("api.example.com", &cert, &key), None).is_ok());
        assert!(DomainTls::build(&domain("dogs.pets.example.com", &cert, &key), None).is_ok());
        let err = |d: DomainName| DomainTls::build(&d, None).err().unwrap();
        assert!(err(domain("web.example.com", &cert, &key)).contains("does not cover"));
        let (_, other_key) = ca.leaf(&["api.example.com"]);
        assert!(err(domain("api.example.com", &cert, &other_key)).contains("does not match"));
        assert!(err(domain("api.example.com", &cert, "junk")).contains("no PEM private key"));
        assert!(err(domain("api.example.com", "junk", &key)).contains("exactly one"));
        let mut d = domain("api.example.com", &cert, &key);
        d.security_policy = "TLS_1_0".into();
        assert!(err(d.clone()).contains("TLS 1.0"));
        d.security_policy = "SecurityPolicy_TLS13_1_2_FIPS_PQ_2025_09".into();
        assert!(err(d.clone()).contains("not supported"));
        d.security_policy = "SecurityPolicy_TLS13_1_3_2025_09".into();
        assert!(DomainTls::build(&d, None).is_ok());
        d.mutual_tls = Some(MutualTls {
            truststore_uri: "s3://bucket/truststore.pem".into(),
            ..Default::default()
        });
        assert!(err(d.clone()).contains("file://"));
        d.mutual_tls = Some(MutualTls {
            truststore_pem: ca.cert_pem.clone(),
            ..Default::default()
        });
        assert!(DomainTls::build(&d, None).is_ok());
    }
}
