//! Custom domain names end to end: certificates made here (a self-made CA, ECDSA P-256), the
//! domain and its base path mappings configured with the real `aws` CLI, requests over HTTPS
//! from curl, Python's `ssl` and a rustls client; certificate rotation under an open
//! connection; mutual TLS; the handshake deadline; the private key never answered and stored
//! owner-only.

mod common;

use common::{cluster, parse_response, Aws, TestNode};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DOMAIN: &str = "api.example.com";

/// A CA that signs leaf certificates (ECDSA P-256).
struct Ca {
    pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, name.to_string());
        let cert = p.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(p, key),
        }
    }

    /// (certificate PEM, key PEM) for a server named `names`.
    fn server(&self, names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let p =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        (
            p.signed_by(&key, &self.issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    }

    /// (certificate PEM, key PEM) for a client with common name `cn`.
    fn client(&self, cn: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, cn.to_string());
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        (
            p.signed_by(&key, &self.issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    }
}

/// The HTTPS address a node printed at start.
fn https_addr(n: &TestNode) -> SocketAddr {
    n.banner
        .lines()
        .find_map(|l| l.strip_prefix("https (custom domain names): "))
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("no https line in {}", n.banner))
}

/// A MOCK API: `GET /pets` answers `{"api": name, ...}` with what `$context` says of the
/// domain and the client certificate; deployed to `prod`. Returns its id.
fn mock_api(n: &TestNode, name: &str) -> String {
    let api = n.admin_ok("POST", "/restapis", Some(json!({ "name": name })));
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    let pets = n.admin_ok(
        "POST",
        &format!("/restapis/{id}/resources/{root}"),
        Some(json!({ "pathPart": "pets" })),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let m = format!("/restapis/{id}/resources/{pets}/methods/GET");
    n.admin_ok("PUT", &m, Some(json!({ "authorizationType": "NONE" })));
    n.admin_ok(
        "PUT",
        &format!("{m}/integration"),
        Some(json!({ "type": "MOCK", "requestTemplates": { "application/json": "{\"statusCode\": 200}" } })),
    );
    n.admin_ok("PUT", &format!("{m}/responses/200"), Some(json!({})));
    let template = format!(
        "{{\"api\":\"{name}\",\"domain\":\"$context.domainName\",\"prefix\":\"$context.domainPrefix\",\"path\":\"$context.path\",\"stage\":\"$context.stage\",\"subject\":\"$context.identity.clientCert.subjectDN\",\"issuer\":\"$context.identity.clientCert.issuerDN\",\"serial\":\"$context.identity.clientCert.serialNumber\",\"notAfter\":\"$context.identity.clientCert.validity.notAfter\"}}"
    );
    n.admin_ok(
        "PUT",
        &format!("{m}/integration/responses/200"),
        Some(json!({ "responseTemplates": { "application/json": template } })),
    );
    n.admin_ok(
        "POST",
        &format!("/restapis/{id}/deployments"),
        Some(json!({ "stageName": "prod" })),
    );
    id
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// curl over HTTPS to `DOMAIN` resolved to `addr`; (status, body) or curl's error text.
fn curl(addr: SocketAddr, ca_file: &str, path: &str) -> Result<(u16, String), String> {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(["--resolve", &format!("{DOMAIN}:{}:127.0.0.1", addr.port())])
        .args(["--cacert", ca_file])
        .arg(format!("https://{DOMAIN}:{}{path}", addr.port()))
        .output()
        .expect("curl");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    Ok((code.trim().parse().unwrap(), body.to_string()))
}

/// Python's `ssl` module, verifying against `ca_file`: status and body of `GET path`.
fn python(addr: SocketAddr, ca_file: &str, path: &str) -> (u16, String) {
    let script = format!(
        r#"
import http.client, socket, ssl
ctx = ssl.create_default_context(cafile={ca_file:?})
class C(http.client.HTTPSConnection):
    def connect(self):
        sock = socket.create_connection(("127.0.0.1", {port}), timeout=10)
        self.sock = ctx.wrap_socket(sock, server_hostname={DOMAIN:?})
c = C({DOMAIN:?}, {port}, context=ctx, timeout=10)
c.request("GET", {path:?})
r = c.getresponse()
print(r.status)
print(r.read().decode())
"#,
        port = addr.port()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, body) = text.split_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.trim().to_string())
}

/// A rustls client trusting `ca_pem` (optionally presenting a client certificate).
fn client_config(ca_pem: &str, client: Option<&(String, String)>) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let cfg = match client {
        None => b.with_no_client_auth(),
        Some((cert, key)) => b
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    Arc::new(cfg)
}

/// One keep-alive HTTPS connection (rustls over std).
struct Https {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl Https {
    fn connect(
        addr: SocketAddr,
        name: &str,
        cfg: Arc<rustls::ClientConfig>,
    ) -> std::io::Result<Https> {
        let tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        let conn = rustls::ClientConnection::new(cfg, name.to_string().try_into().unwrap())
            .map_err(std::io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(Https { tls })
    }

    /// The server's certificate (DER).
    fn server_cert(&self) -> Vec<u8> {
        self.tls.conn.peer_certificates().unwrap()[0].to_vec()
    }

    fn get(&mut self, host: &str, path: &str) -> std::io::Result<(u16, Value)> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        self.tls.write_all(req.as_bytes())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(r) = parse_response(&buf) {
                let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                return Ok((r.status, v));
            }
            let n = self.tls.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn der_of(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

#[test]
fn two_apis_through_two_base_paths_over_https() {
    let n = TestNode::start(&["--tls-listen", "127.0.0.1:0", "--workers", "2"]);
    let https = https_addr(&n);
    let files = tempfile::tempdir().unwrap();
    let dir = files.path();
    let ca = Ca::new("Tollgate test CA");
    let ca_file = write(dir, "ca.pem", &ca.pem);
    let (cert, key) = ca.server(&[DOMAIN]);
    let cert_file = write(dir, "cert.pem", &cert);
    let key_file = write(dir, "key.pem", &key);
    let a = mock_api(&n, "a");
    let b = mock_api(&n, "b");
    let aws = Aws::for_node(&n);

    // Refusals, each with a clear message.
    let (other_cert, other_key) = ca.server(&["web.example.com"]);
    let other_key_file = write(dir, "other-key.pem", &other_key);
    let other_cert_file = write(dir, "other-cert.pem", &other_cert);
    let create = |extra: &[&str]| {
        let mut args = vec!["create-domain-name", "--domain-name", DOMAIN];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let refused = |args: Vec<String>, says: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = aws.run(common::SECRET_KEY, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("BadRequestException") && err.contains(says),
            "{args:?}: {err}"
        );
    };
    let body_arg = format!("file://{cert_file}");
    let key_arg = format!("file://{key_file}");
    refused(
        create(&[
            "--certificate-body",
            &body_arg,
            "--certificate-private-key",
            &format!("file://{other_key_file}"),
        ]),
        "does not match",
    );
    refused(
        create(&[
            "--certificate-body",
            &format!("file://{other_cert_file}"),
            "--certificate-private-key",
            &format!("file://{other_key_file}"),
        ]),
        "does not cover",
    );
    refused(
        create(&[
            "--certificate-arn",
            "arn:aws:acm:us-east-1:123456789012:certificate/x",
        ]),
        "cannot be resolved here",
    );
    refused(
        create(&[
            "--certificate-body",
            &body_arg,
            "--certificate-private-key",
            &key_arg,
            "--security-policy",
            "TLS_1_0",
        ]),
        "TLS 1.0",
    );

    let created = aws.ok(&create(&[
        "--certificate-body",
        &body_arg,
        "--certificate-private-key",
        &key_arg,
        "--certificate-name",
        "test-cert",
        "--endpoint-configuration",
        "types=REGIONAL",
        "--security-policy",
        "TLS_1_2",
    ])
    .iter()
    .map(String::as_str)
    .collect::<Vec<_>>());
    assert_eq!(created["domainName"], DOMAIN);
    assert_eq!(created["domainNameStatus"], "AVAILABLE");
    assert_eq!(created["regionalDomainName"], "127.0.0.1");
    assert_eq!(created["securityPolicy"], "TLS_1_2");
    // ipAddressType: AWS's default, checked as AWS checks it, patched, returned.
    assert_eq!(
        created["endpointConfiguration"],
        json!({ "types": ["REGIONAL"], "ipAddressType": "ipv4" })
    );
    let out = aws.run(
        common::SECRET_KEY,
        &create(&[
            "--certificate-body",
            &body_arg,
            "--certificate-private-key",
            &key_arg,
            "--endpoint-configuration",
            "types=REGIONAL,ipAddressType=IPV6",
        ])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("(ValidationException) when calling the CreateDomainName operation: 1 validation error detected: Value 'IPV6' at 'createDomainNameInput.endpointConfiguration.ipAddressType' failed to satisfy constraint: Member must satisfy enum value set: [ipv4, dualstack]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let patch_ip = |v: &str| {
        vec![
            "update-domain-name".to_string(),
            "--domain-name".into(),
            DOMAIN.into(),
            "--patch-operations".into(),
            format!("op=replace,path=/endpointConfiguration/ipAddressType,value={v}"),
        ]
    };
    let dual = aws.ok(&patch_ip("dualstack")
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert_eq!(dual["endpointConfiguration"]["ipAddressType"], "dualstack");
    aws.fails(
        "BadRequestException",
        &patch_ip("ipv6")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let got = aws.ok(&["get-domain-name", "--domain-name", DOMAIN]);
    assert_eq!(
        got["endpointConfiguration"],
        json!({ "types": ["REGIONAL"], "ipAddressType": "dualstack" })
    );
    aws.ok(&[
        "create-base-path-mapping",
        "--domain-name",
        DOMAIN,
        "--base-path",
        "v1",
        "--rest-api-id",
        &a,
        "--stage",
        "prod",
    ]);
    aws.ok(&[
        "create-base-path-mapping",
        "--domain-name",
        DOMAIN,
        "--base-path",
        "shop/v2",
        "--rest-api-id",
        &b,
        "--stage",
        "prod",
    ]);
    aws.fails(
        "BadRequestException",
        &[
            "create-base-path-mapping",
            "--domain-name",
            DOMAIN,
            "--base-path",
            "x y",
            "--rest-api-id",
            &a,
        ],
    );
    aws.fails(
        "BadRequestException",
        &[
            "create-base-path-mapping",
            "--domain-name",
            DOMAIN,
            "--base-path",
            "x",
            "--rest-api-id",
            &a,
            "--stage",
            "nope",
        ],
    );
    aws.fails(
        "ConflictException",
        &[
            "create-base-path-mapping",
            "--domain-name",
            DOMAIN,
            "--base-path",
            "v1",
            "--rest-api-id",
            &b,
            "--stage",
            "prod",
        ],
    );
    let mapping = aws.ok(&[
        "get-base-path-mapping",
        "--domain-name",
        DOMAIN,
        "--base-path",
        "shop/v2",
    ]);
    assert_eq!(
        mapping,
        json!({ "basePath": "shop/v2", "restApiId": b, "stage": "prod" })
    );
    let mappings = aws.ok(&["get-base-path-mappings", "--domain-name", DOMAIN]);
    assert_eq!(mappings["items"].as_array().unwrap().len(), 2, "{mappings}");

    // The private key is in no answer.
    for args in [
        vec!["get-domain-name", "--domain-name", DOMAIN],
        vec!["get-domain-names"],
    ] {
        let out = aws.run(common::SECRET_KEY, &args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains(DOMAIN), "{text}");
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains(&key[40..80]),
            "{text}"
        );
    }

    // curl and Python reach both APIs through their base paths; the base path is stripped.
    let (status, body) = curl(https, &ca_file, "/v1/pets").unwrap();
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            v["api"].as_str(),
            v["domain"].as_str(),
            v["prefix"].as_str()
        ),
        (Some("a"), Some(DOMAIN), Some("api"))
    );
    // `$context.path` is the path the client sent, base path included and no stage (AWS's
    // form on a custom domain), dot segments resolved.
    assert_eq!(
        (v["path"].as_str(), v["stage"].as_str()),
        (Some("/v1/pets"), Some("prod"))
    );
    let (status, body) = curl(https, &ca_file, "/shop/v2/pets").unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            status,
            v["api"].clone(),
            v["path"].clone(),
            v["domain"].clone(),
            v["prefix"].clone()
        ),
        (
            200,
            json!("b"),
            json!("/shop/v2/pets"),
            json!(DOMAIN),
            json!("api")
        )
    );
    let mut c = Https::connect(https, DOMAIN, client_config(&ca.pem, None)).unwrap();
    let (status, v) = c.get(DOMAIN, "/shop/v2/x/../pets").unwrap();
    assert_eq!(
        (status, v["path"].clone()),
        (200, json!("/shop/v2/pets")),
        "{v}"
    );
    drop(c);
    let (status, body) = python(https, &ca_file, "/shop/v2/pets");
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["api"].clone()
        ),
        (200, json!("b"))
    );
    // No mapping for the path: AWS's 403.
    let (status, body) = curl(https, &ca_file, "/v3/pets").unwrap();
    assert_eq!(
        (status, body.as_str()),
        (403, "{\"message\":\"Forbidden\"}")
    );
    // A stage segment is not expected (the mapping names the stage).
    assert_eq!(curl(https, &ca_file, "/v1/prod/pets").unwrap().0, 403);
    // A Host naming another domain than the handshake: refused.
    let mut c = Https::connect(https, DOMAIN, client_config(&ca.pem, None)).unwrap();
    assert_eq!(c.get("other.example.com", "/v1/pets").unwrap().0, 403);
    assert_eq!(c.get(DOMAIN, "/v1/pets").unwrap().0, 200);

    // An unknown name gets the unrecognized_name alert.
    let err = Https::connect(https, "unknown.example.com", client_config(&ca.pem, None))
        .err()
        .expect("refused");
    assert!(err.to_string().contains("UnrecognisedName"), "{err}");
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "--resolve",
            &format!("unknown.example.com:{}:127.0.0.1", https.port()),
            "--cacert",
            &ca_file,
        ])
        .arg(format!("https://unknown.example.com:{}/", https.port()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unrecognized name"), "{err}");

    // Mappings change without a restart: deleting one stops it, a catch-all takes the rest.
    aws.ok(&[
        "delete-base-path-mapping",
        "--domain-name",
        DOMAIN,
        "--base-path",
        "v1",
    ]);
    assert_eq!(curl(https, &ca_file, "/v1/pets").unwrap().0, 403);
    aws.ok(&[
        "create-base-path-mapping",
        "--domain-name",
        DOMAIN,
        "--rest-api-id",
        &a,
        "--stage",
        "prod",
    ]);
    let (status, body) = curl(https, &ca_file, "/pets").unwrap();
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["api"].clone()
        ),
        (200, json!("a"))
    );
    assert_eq!(
        aws.ok(&[
            "get-base-path-mapping",
            "--domain-name",
            DOMAIN,
            "--base-path",
            "(none)"
        ])["basePath"],
        "(none)"
    );

    // The key is stored owner-only: the data folder 0700, its files 0600.
    use std::os::unix::fs::PermissionsExt;
    let mut checked = 0;
    let mut stack = vec![n.dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", d.display());
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "redb") {
                let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode & 0o077, 0, "{} is {mode:o}", p.display());
                checked += 1;
            }
        }
    }
    assert!(
        checked > 0,
        "no log store found under {}",
        n.dir.path().display()
    );

    aws.ok(&["delete-domain-name", "--domain-name", DOMAIN]);
    assert!(
        curl(https, &ca_file, "/pets").is_err(),
        "a deleted domain is no longer served"
    );
}

#[test]
fn a_rotated_certificate_serves_new_handshakes_while_open_connections_go_on() {
    let n = TestNode::start(&["--tls-listen", "127.0.0.1:0", "--workers", "1"]);
    let https = https_addr(&n);
    let ca = Ca::new("Rotation CA");
    let (old_cert, old_key) = ca.server(&[DOMAIN]);
    let a = mock_api(&n, "a");
    n.admin_ok(
        "POST",
        "/domainnames",
        Some(json!({ "domainName": DOMAIN, "certificateBody": old_cert, "certificatePrivateKey": old_key })),
    );
    n.admin_ok(
        "POST",
        &format!("/domainnames/{DOMAIN}/basepathmappings"),
        Some(json!({ "restApiId": a, "stage": "prod" })),
    );
    let cfg = client_config(&ca.pem, None);
    let mut open = Https::connect(https, DOMAIN, cfg.clone()).unwrap();
    assert_eq!(open.server_cert(), der_of(&old_cert));
    assert_eq!(open.get(DOMAIN, "/pets").unwrap().0, 200);
    let again = Https::connect(https, DOMAIN, cfg.clone()).unwrap();
    assert_eq!(
        again.tls.conn.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed),
        "before the rotation a session resumes"
    );

    let (new_cert, new_key) = ca.server(&[DOMAIN, "www.example.com"]);
    let updated = n.admin_ok(
        "PATCH",
        &format!("/domainnames/{DOMAIN}"),
        Some(json!({ "patchOperations": [
            { "op": "replace", "path": "/certificateBody", "value": new_cert },
            { "op": "replace", "path": "/certificatePrivateKey", "value": new_key },
        ] })),
    );
    assert!(!updated.to_string().contains("PRIVATE KEY"), "{updated}");
    // A certificate that does not match the key is refused, and the rotated one stays.
    let (status, v) = n.admin(
        "PATCH",
        &format!("/domainnames/{DOMAIN}"),
        Some(json!({ "patchOperations": [{ "op": "replace", "path": "/certificateBody", "value": old_cert }] })),
    );
    assert_eq!(status, 400, "{v}");

    // The client holds a session ticket of the old certificate: it does not resume (ticket
    // keys are bound to the configuration), so the client sees and checks the new one.
    let fresh = Https::connect(https, DOMAIN, cfg).unwrap();
    assert_eq!(
        fresh.tls.conn.handshake_kind(),
        Some(rustls::HandshakeKind::Full)
    );
    assert_eq!(
        fresh.server_cert(),
        der_of(&new_cert),
        "new handshakes get the new certificate"
    );
    // The connection opened before the rotation keeps working.
    for _ in 0..3 {
        assert_eq!(open.get(DOMAIN, "/pets").unwrap().0, 200);
    }
    assert_eq!(open.server_cert(), der_of(&old_cert));
}

#[test]
fn mutual_tls_admits_a_trusted_client_certificate_only() {
    let n = TestNode::start(&["--tls-listen", "127.0.0.1:0", "--workers", "1"]);
    let https = https_addr(&n);
    let files = tempfile::tempdir().unwrap();
    let ca = Ca::new("Server CA");
    let clients = Ca::new("Client CA");
    let stranger = Ca::new("Other CA");
    let truststore = write(files.path(), "truststore.pem", &clients.pem);
    let (cert, key) = ca.server(&[DOMAIN]);
    let a = mock_api(&n, "a");
    let (status, v) = n.admin(
        "POST",
        "/domainnames",
        Some(
            json!({ "domainName": DOMAIN, "certificateBody": cert, "certificatePrivateKey": key,
            "mutualTlsAuthentication": { "truststoreUri": "s3://bucket/truststore.pem" } }),
        ),
    );
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("file://"), "{v}");
    let created = n.admin_ok(
        "POST",
        "/domainnames",
        Some(json!({ "domainName": DOMAIN, "certificateBody": cert, "certificatePrivateKey": key,
            "securityPolicy": "SecurityPolicy_TLS13_1_3_2025_09",
            "mutualTlsAuthentication": { "truststoreUri": format!("file://{truststore}"), "truststoreVersion": "1" } })),
    );
    assert_eq!(
        created["mutualTlsAuthentication"]["truststoreUri"],
        format!("file://{truststore}")
    );
    n.admin_ok(
        "POST",
        &format!("/domainnames/{DOMAIN}/basepathmappings"),
        Some(json!({ "basePath": "v1", "restApiId": a, "stage": "prod" })),
    );

    let alice = clients.client("alice");
    let mut c = Https::connect(https, DOMAIN, client_config(&ca.pem, Some(&alice))).unwrap();
    assert_eq!(
        c.tls.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let (status, v) = c.get(DOMAIN, "/v1/pets").unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["subject"], "CN=alice");
    assert_eq!(v["issuer"], "CN=Client CA");
    assert!(v["serial"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
    assert!(
        v["notAfter"].as_str().is_some_and(|s| s.ends_with(" GMT")),
        "{v}"
    );

    // No certificate, or one from another CA: the handshake fails (TLS 1.3 reports the
    // refusal on the first read).
    for client in [None, Some(stranger.client("mallory"))] {
        let refused = Https::connect(https, DOMAIN, client_config(&ca.pem, client.as_ref()))
            .and_then(|mut c| c.get(DOMAIN, "/v1/pets"));
        assert!(refused.is_err(), "admitted {client:?}: {refused:?}");
    }
}

#[test]
fn a_stalled_handshake_is_closed_at_its_deadline() {
    let files = tempfile::tempdir().unwrap();
    let config = write(
        files.path(),
        "node.toml",
        "tls_handshake_timeout_secs = 1\n",
    );
    let n = TestNode::start(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--config",
        &config,
    ]);
    let https = https_addr(&n);
    for first in [&b""[..], &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01][..]] {
        let mut s = TcpStream::connect(https).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(first).unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let got = s.read(&mut buf);
        let waited = started.elapsed();
        assert!(matches!(got, Ok(0)) || got.is_err(), "{got:?}");
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
            "closed after {waited:?}"
        );
    }
}

#[test]
fn every_node_of_a_cluster_serves_the_domain() {
    let root = tempfile::tempdir().unwrap();
    let nodes: Vec<TestNode> = cluster::configure(root.path(), |_| cluster::Extra {
        top: format!("tls_listen = \"127.0.0.1:{}\"\n", cluster::free_tcp()),
        ..Default::default()
    })
    .into_iter()
    .map(|n| n.spawn(&[]))
    .collect();
    // Configured through one node (forwarded to the leader when it is not), served by all.
    let via = &nodes[1];
    let ca = Ca::new("Cluster test CA");
    let ca_file = write(root.path(), "web-ca.pem", &ca.pem);
    let (cert, key) = ca.server(&["*.example.com"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let a = loop {
        let (status, api) = via.admin_sdk("POST", "/restapis", Some(json!({ "name": "probe" })));
        if status == 201 {
            break api;
        }
        assert!(Instant::now() < deadline, "no leader: {status} {api}");
        std::thread::sleep(Duration::from_millis(200));
    };
    via.admin_sdk_ok(
        "DELETE",
        &format!("/restapis/{}", a["id"].as_str().unwrap()),
        None,
    );
    let a = mock_api(via, "a");
    let b = mock_api(via, "b");
    via.admin_sdk_ok(
        "POST",
        "/domainnames",
        Some(
            json!({ "domainName": DOMAIN, "certificateBody": cert, "certificatePrivateKey": key }),
        ),
    );
    for (path, api) in [("v1", &a), ("v1/b", &b)] {
        via.admin_sdk_ok(
            "POST",
            &format!("/domainnames/{DOMAIN}/basepathmappings"),
            Some(json!({ "basePath": path, "restApiId": api, "stage": "prod" })),
        );
    }
    for n in &nodes {
        let https = https_addr(n);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match curl(https, &ca_file, "/v1/pets") {
                Ok((200, body)) => {
                    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["api"], "a");
                    break;
                }
                other => assert!(Instant::now() < deadline, "node at {https}: {other:?}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // The longer base path wins: `/v1/b/pets` is API b's `/pets`.
        let (status, body) = curl(https, &ca_file, "/v1/b/pets").unwrap();
        assert_eq!(
            (
                status,
                serde_json::from_str::<Value>(&body).unwrap()["api"].clone()
            ),
            (200, json!("b"))
        );
        let (status, body) = python(https, &ca_file, "/v1/pets");
        assert_eq!(
            (
                status,
                serde_json::from_str::<Value>(&body).unwrap()["api"].clone()
            ),
            (200, json!("a"))
        );
    }

    // A session ticket from one node resumes on the others (the keys derive from the
    // replicated secret).
    let cfg = client_config(&ca.pem, None);
    let mut first = Https::connect(https_addr(&nodes[0]), DOMAIN, cfg.clone()).unwrap();
    assert_eq!(
        first.tls.conn.handshake_kind(),
        Some(rustls::HandshakeKind::Full)
    );
    assert_eq!(first.get(DOMAIN, "/v1/pets").unwrap().0, 200);
    for n in &nodes[1..] {
        let mut resumed = Https::connect(https_addr(n), DOMAIN, cfg.clone()).unwrap();
        assert_eq!(
            resumed.tls.conn.handshake_kind(),
            Some(rustls::HandshakeKind::Resumed),
            "a ticket of node 1 resumes on the node at {}",
            https_addr(n)
        );
        assert_eq!(resumed.get(DOMAIN, "/v1/pets").unwrap().0, 200);
    }

    // The ticket secret rotates (here at once, through any node): a ticket made before one
    // rotation still resumes on every node, a ticket made after it too, and after two
    // rotations no ticket made before the first does. Each client below holds the tickets
    // of one full handshake (a resumption would hand it newer ones).
    let ticketed = |n: &TestNode| {
        let cfg = client_config(&ca.pem, None);
        let mut c = Https::connect(https_addr(n), DOMAIN, cfg.clone()).unwrap();
        assert_eq!(
            c.tls.conn.handshake_kind(),
            Some(rustls::HandshakeKind::Full)
        );
        assert_eq!(c.get(DOMAIN, "/v1/pets").unwrap().0, 200);
        cfg
    };
    let rotate = |generation: u64| {
        let r = nodes[2].admin_sdk_ok("POST", "/_tollgate/tls/tickets/rotate", None);
        assert_eq!(r["generation"], generation, "{r}");
        assert_eq!(r["servedGeneration"], generation, "{r}");
        for n in &nodes {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let s = n.admin_sdk_ok("GET", "/_tollgate/tls/tickets", None);
                if s["servedGeneration"] == generation {
                    assert_eq!(
                        (s["generation"].clone(), s["previous"].clone()),
                        (json!(generation), json!(true))
                    );
                    break;
                }
                assert!(Instant::now() < deadline, "node at {}: {s}", https_addr(n));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    let resumes = |n: &TestNode, cfg: &Arc<rustls::ClientConfig>| {
        let mut c = Https::connect(https_addr(n), DOMAIN, cfg.clone()).unwrap();
        assert_eq!(c.get(DOMAIN, "/v1/pets").unwrap().0, 200);
        c.tls.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    };
    let status = nodes[0].admin_sdk_ok("GET", "/_tollgate/tls/tickets", None);
    assert_eq!(
        (
            status["enabled"].clone(),
            status["generation"].clone(),
            status["servedGeneration"].clone()
        ),
        (json!(true), json!(0), json!(0)),
        "{status}"
    );
    let made_before_one: Vec<_> = nodes.iter().map(|_| ticketed(&nodes[0])).collect();
    let made_before_two: Vec<_> = nodes.iter().map(|_| ticketed(&nodes[0])).collect();
    rotate(1);
    for (n, cfg) in nodes.iter().zip(&made_before_one) {
        assert!(
            resumes(n, cfg),
            "a ticket of before the rotation resumes on {}",
            https_addr(n)
        );
    }
    let made_after: Vec<_> = nodes.iter().map(|_| ticketed(&nodes[1])).collect();
    for (n, cfg) in nodes.iter().zip(&made_after) {
        assert!(
            resumes(n, cfg),
            "a ticket of node 2 after the rotation resumes on {}",
            https_addr(n)
        );
    }
    rotate(2);
    for (n, cfg) in nodes.iter().zip(&made_before_two) {
        assert!(
            !resumes(n, cfg),
            "a ticket two rotations old resumed on {}",
            https_addr(n)
        );
    }
}

#[test]
fn the_leader_rotates_the_ticket_secret_on_its_schedule() {
    let files = tempfile::tempdir().unwrap();
    let config = write(files.path(), "node.toml", "tls_ticket_rotation_secs = 1\n");
    let n = TestNode::start(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--config",
        &config,
    ]);
    // No secret before the first custom domain name: nothing to rotate.
    let s = n.admin_sdk_ok("GET", "/_tollgate/tls/tickets", None);
    assert_eq!(s["enabled"], false, "{s}");
    let (status, body) = n.admin_sdk("POST", "/_tollgate/tls/tickets/rotate", None);
    assert_eq!(status, 400, "{body}");
    let ca = Ca::new("Rotation CA");
    let (cert, key) = ca.server(&[DOMAIN]);
    n.admin_ok(
        "POST",
        "/domainnames",
        Some(
            json!({ "domainName": DOMAIN, "certificateBody": cert, "certificatePrivateKey": key }),
        ),
    );
    // Rotated every second by the leader (this node), and served after each rotation.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = n.admin_sdk_ok("GET", "/_tollgate/tls/tickets", None);
        if s["generation"].as_u64() >= Some(2) && s["servedGeneration"].as_u64() >= Some(2) {
            assert_eq!(s["previous"], true, "{s}");
            assert!(s["rotatedAtMs"].as_u64() > Some(1_700_000_000_000), "{s}");
            break;
        }
        assert!(Instant::now() < deadline, "not rotated twice: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = format!(
        "{:?}",
        n.admin_sdk_ok("GET", "/_tollgate/tls/tickets", None)
    );
    assert!(
        !text.contains("secret\""),
        "no secret in the answer: {text}"
    );
}

#[test]
fn large_bodies_cross_many_tls_records_both_ways() {
    let n = TestNode::start(&["--tls-listen", "127.0.0.1:0", "--workers", "1"]);
    let https = https_addr(&n);
    let backend = common::EchoBackend::start();
    let ca = Ca::new("Body CA");
    let (cert, key) = ca.server(&[DOMAIN]);
    let api = n.admin_ok("POST", "/restapis", Some(json!({ "name": "echo" })));
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    let m = format!("/restapis/{id}/resources/{root}/methods/POST");
    n.admin_ok("PUT", &m, Some(json!({ "authorizationType": "NONE" })));
    n.admin_ok(
        "PUT",
        &format!("{m}/integration"),
        Some(json!({ "type": "HTTP_PROXY", "httpMethod": "POST", "uri": format!("http://{}/echo", backend.addr) })),
    );
    n.admin_ok(
        "POST",
        &format!("/restapis/{id}/deployments"),
        Some(json!({ "stageName": "prod" })),
    );
    n.admin_ok(
        "POST",
        "/domainnames",
        Some(
            json!({ "domainName": DOMAIN, "certificateBody": cert, "certificatePrivateKey": key }),
        ),
    );
    n.admin_ok(
        "POST",
        &format!("/domainnames/{DOMAIN}/basepathmappings"),
        Some(json!({ "basePath": "echo", "restApiId": id, "stage": "prod" })),
    );
    let mut c = Https::connect(https, DOMAIN, client_config(&ca.pem, None)).unwrap();
    for size in [10, 70_000, 300_000] {
        let body: String = (0..size).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        let req = format!(
            "POST /echo HTTP/1.1\r\nHost: {DOMAIN}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        c.tls.write_all(req.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16384];
        let r = loop {
            if let Some(r) = parse_response(&buf) {
                break r;
            }
            let got = c.tls.read(&mut chunk).unwrap();
            assert!(got > 0, "closed after {} bytes", buf.len());
            buf.extend_from_slice(&chunk[..got]);
        };
        assert_eq!(r.status, 200);
        let echo: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            echo["body"].as_str().map(str::len),
            Some(size),
            "echo of {size} bytes"
        );
        assert_eq!(echo["body"], body.as_str());
    }
}

#[test]
fn a_handshake_flood_is_capped_and_established_connections_go_on() {
    let files = tempfile::tempdir().unwrap();
    let config = write(
        files.path(),
        "node.toml",
        "tls_handshake_timeout_secs = 2\n",
    );
    let n = TestNode::start(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--config",
        &config,
    ]);
    let https = https_addr(&n);
    let ca = Ca::new("Flood CA");
    let (cert, key) = ca.server(&[DOMAIN]);
    let a = mock_api(&n, "a");
    n.admin_ok(
        "POST",
        "/domainnames",
        Some(
            json!({ "domainName": DOMAIN, "certificateBody": cert, "certificatePrivateKey": key }),
        ),
    );
    n.admin_ok(
        "POST",
        &format!("/domainnames/{DOMAIN}/basepathmappings"),
        Some(json!({ "restApiId": a, "stage": "prod" })),
    );
    let cfg = client_config(&ca.pem, None);
    let mut established = Https::connect(https, DOMAIN, cfg.clone()).unwrap();
    assert_eq!(established.get(DOMAIN, "/pets").unwrap().0, 200);
    // Connections that never finish their handshake, as many as a worker runs at once.
    let stalled: Vec<TcpStream> = (0..260)
        .map(|_| {
            let s = TcpStream::connect(https).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // A new handshake is turned away while the cap is reached...
    let refused =
        Https::connect(https, DOMAIN, cfg.clone()).and_then(|mut c| c.get(DOMAIN, "/pets"));
    assert!(refused.is_err(), "admitted past the cap: {refused:?}");
    // ...while the established connection is served as before.
    for _ in 0..20 {
        assert_eq!(established.get(DOMAIN, "/pets").unwrap().0, 200);
    }
    // Once the stalled handshakes hit their deadline, new ones are taken again.
    let mut closed = 0;
    for mut s in stalled {
        let mut b = [0u8; 8];
        if matches!(s.read(&mut b), Ok(0) | Err(_)) {
            closed += 1;
        }
    }
    assert_eq!(closed, 260);
    let mut again = Https::connect(https, DOMAIN, cfg).unwrap();
    assert_eq!(again.get(DOMAIN, "/pets").unwrap().0, 200);
}

#[test]
fn tls_connections_are_held_against_the_body_memory_budget() {
    let files = tempfile::tempdir().unwrap();
    let config = write(
        files.path(),
        "node.toml",
        "body_memory_limit_mib = 10\ntls_handshake_timeout_secs = 60\n",
    );
    let n = TestNode::start(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--config",
        &config,
    ]);
    let https = https_addr(&n);
    let ca = Ca::new("Budget CA");
    let (cert, key) = ca.server(&[DOMAIN]);
    let a = mock_api(&n, "a");
    n.admin_ok(
        "POST",
        "/domainnames",
        Some(
            json!({ "domainName": DOMAIN, "certificateBody": cert, "certificatePrivateKey": key }),
        ),
    );
    n.admin_ok(
        "POST",
        &format!("/domainnames/{DOMAIN}/basepathmappings"),
        Some(json!({ "restApiId": a, "stage": "prod" })),
    );
    let cfg = client_config(&ca.pem, None);
    let mut established = Https::connect(https, DOMAIN, cfg.clone()).unwrap();
    assert_eq!(established.get(DOMAIN, "/pets").unwrap().0, 200);
    // A body over 16 KiB is held against the same budget: it fits while it has room. The
    // client waits for `100 Continue` before the body, so a 503 (answered before any of the
    // body is read, and the connection closed) is read rather than lost to a broken pipe.
    let big = |c: &mut Https| -> std::io::Result<u16> {
        let body = "x".repeat(100_000);
        let head = format!(
            "POST /pets HTTP/1.1\r\nHost: {DOMAIN}\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        );
        c.tls.write_all(head.as_bytes())?;
        c.tls.flush()?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let mut body_sent = false;
        loop {
            if buf.starts_with(b"HTTP/1.1 100 ") {
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    buf.drain(..end + 4);
                    if !body_sent {
                        c.tls.write_all(body.as_bytes())?;
                        c.tls.flush()?;
                        body_sent = true;
                    }
                    continue;
                }
            } else if let Some(r) = parse_response(&buf) {
                return Ok(r.status);
            }
            let got = c.tls.read(&mut chunk)?;
            if got == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..got]);
        }
    };
    assert!(matches!(big(&mut established), Ok(s) if s != 503));
    // Idle handshakes, more than the budget holds (fewer than the handshake cap): those past
    // it are closed at once, the others wait for their handshake.
    let room = 10 * 1024 * 1024 / tollgate_node::dataplane::tls::CONNECTION_BYTES;
    let stalled: Vec<TcpStream> = (0..room + 40)
        .map(|_| TcpStream::connect(https).unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let open = loop {
        std::thread::sleep(Duration::from_millis(200));
        let open = stalled
            .iter()
            .filter(|s| {
                s.set_nonblocking(true).unwrap();
                let mut b = [0u8; 8];
                let mut r: &TcpStream = s;
                matches!(r.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            })
            .count();
        if open == room - 1 || Instant::now() > deadline {
            break open;
        }
    };
    assert_eq!(open, room - 1, "the established connection holds one share");
    // A new connection is turned away while the budget is spent; the established one goes
    // on, but a body no longer fits (503) while the idle handshakes hold the budget.
    let refused =
        Https::connect(https, DOMAIN, cfg.clone()).and_then(|mut c| c.get(DOMAIN, "/pets"));
    assert!(refused.is_err(), "admitted past the budget: {refused:?}");
    assert_eq!(established.get(DOMAIN, "/pets").unwrap().0, 200);
    assert_eq!(big(&mut established).unwrap(), 503);
    // Once they close, the budget is back.
    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut c) = Https::connect(https, DOMAIN, cfg.clone()) {
            // A connection admitted as the first shares come back may still find no room
            // for the body (503): try again.
            if matches!(c.get(DOMAIN, "/pets"), Ok((200, _))) && big(&mut c).is_ok_and(|s| s != 503)
            {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the budget did not come back");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_https_listener_serves_under_the_epoll_driver() {
    // monoio's legacy driver stands in for a kernel without io_uring.
    let files = tempfile::tempdir().unwrap();
    let config = write(
        files.path(),
        "node.toml",
        "tls_handshake_timeout_secs = 1\n",
    );
    let n = TestNode::start_with_env(
        tempfile::tempdir().unwrap(),
        &[
            "--tls-listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--config",
            &config,
        ],
        &[("MONOIO_FORCE_LEGACY_DRIVER", "1")],
    );
    assert!(n.banner.contains("epoll"), "{}", n.banner);
    let https = https_addr(&n);
    let ca = Ca::new("Epoll CA");
    let ca_file = write(files.path(), "ca.pem", &ca.pem);
    let (cert, key) = ca.server(&[DOMAIN]);
    let a = mock_api(&n, "a");
    n.admin_ok(
        "POST",
        "/domainnames",
        Some(
            json!({ "domainName": DOMAIN, "certificateBody": cert, "certificatePrivateKey": key }),
        ),
    );
    n.admin_ok(
        "POST",
        &format!("/domainnames/{DOMAIN}/basepathmappings"),
        Some(json!({ "basePath": "v1", "restApiId": a, "stage": "prod" })),
    );
    let (status, body) = curl(https, &ca_file, "/v1/pets").unwrap();
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["api"].as_str(), v["path"].as_str()),
        (Some("a"), Some("/v1/pets"))
    );
    assert_eq!(python(https, &ca_file, "/v1/pets").0, 200);
    // Keep-alive, and a session resumed from its ticket.
    let cfg = client_config(&ca.pem, None);
    let mut c = Https::connect(https, DOMAIN, cfg.clone()).unwrap();
    for _ in 0..5 {
        assert_eq!(c.get(DOMAIN, "/v1/pets").unwrap().0, 200);
    }
    let mut resumed = Https::connect(https, DOMAIN, cfg).unwrap();
    assert_eq!(
        resumed.tls.conn.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed)
    );
    assert_eq!(resumed.get(DOMAIN, "/v1/pets").unwrap().0, 200);
    // The handshake deadline holds under this driver's timers too.
    let mut s = TcpStream::connect(https).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 8];
    let got = s.read(&mut buf);
    assert!(matches!(got, Ok(0)) || got.is_err(), "{got:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
}

/// A stand-in for a function URL: answers each Lambda proxy event with its `path` and
/// `requestContext` `path`, `domainName` and `domainPrefix` as the body.
fn event_echo_function() -> SocketAddr {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let e: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let c = &e["requestContext"];
            let seen = json!({
                "path": e["path"], "contextPath": c["path"],
                "domain": c["domainName"], "prefix": c["domainPrefix"],
                "resource": e["resource"], "resourcePath": c["resourcePath"],
                "proxy": e["pathParameters"]["proxy"],
            });
            let answer = json!({"statusCode": 200, "body": seen.to_string()}).to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    addr
}

#[test]
fn a_lambda_proxy_event_through_a_domain_carries_the_path_the_client_sent() {
    let function = event_echo_function();
    let files = tempfile::tempdir().unwrap();
    let config = write(
        files.path(),
        "node.toml",
        &format!("[[functions]]\nname = \"echo\"\nurl = \"http://{function}/\"\n"),
    );
    let n = TestNode::start(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--config",
        &config,
    ]);
    let https = https_addr(&n);
    let api = n.admin_ok("POST", "/restapis", Some(json!({ "name": "echo" })));
    let id = api["id"].as_str().unwrap().to_string();
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    let proxy = n.admin_ok(
        "POST",
        &format!("/restapis/{id}/resources/{root}"),
        Some(json!({ "pathPart": "{proxy+}" })),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let m = format!("/restapis/{id}/resources/{proxy}/methods/ANY");
    n.admin_ok("PUT", &m, Some(json!({ "authorizationType": "NONE" })));
    n.admin_ok(
        "PUT",
        &format!("{m}/integration"),
        Some(json!({
            "type": "AWS_PROXY",
            "httpMethod": "POST",
            "uri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:echo/invocations",
        })),
    );
    n.admin_ok(
        "POST",
        &format!("/restapis/{id}/deployments"),
        Some(json!({ "stageName": "prod" })),
    );
    let ca = Ca::new("Event CA");
    let (cert, key) = ca.server(&[DOMAIN]);
    n.admin_ok(
        "POST",
        "/domainnames",
        Some(
            json!({ "domainName": DOMAIN, "certificateBody": cert, "certificatePrivateKey": key }),
        ),
    );
    n.admin_ok(
        "POST",
        &format!("/domainnames/{DOMAIN}/basepathmappings"),
        Some(json!({ "basePath": "v1/shop", "restApiId": id, "stage": "prod" })),
    );
    let mut c = Https::connect(https, DOMAIN, client_config(&ca.pem, None)).unwrap();
    let (status, v) = c.get(DOMAIN, "/v1/shop/pets/7").unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({
            // As AWS: the top-level `path` carries the base path on a custom domain, the
            // resource and its parameters are the API's own.
            "path": "/v1/shop/pets/7", "contextPath": "/v1/shop/pets/7",
            "domain": DOMAIN, "prefix": "api",
            "resource": "/{proxy+}", "resourcePath": "/{proxy+}", "proxy": "pets/7",
        })
    );
}
