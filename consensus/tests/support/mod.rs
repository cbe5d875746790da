//! What the consensus tests and benchmarks share: free loopback ports, node certificates from
//! a test CA, numbers from the environment. Each test binary uses a part of it.
#![allow(dead_code)]

use std::net::UdpSocket;
use tollgate_consensus::pki::{self, ClusterTls};

/// A UDP port on 127.0.0.1 free right now (QUIC listens on UDP).
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The cluster TLS of a node named `name` (its certificate for 127.0.0.1), issued by `ca`
/// (certificate and key PEM, from `pki::create_ca`).
pub fn node_tls(ca: &(String, String), name: &str) -> ClusterTls {
    let (cert, key) =
        pki::issue_node_cert(&ca.0, &ca.1, name, &["127.0.0.1".parse().unwrap()]).unwrap();
    ClusterTls {
        ca_cert_pem: ca.0.clone(),
        node_cert_pem: cert,
        node_key_pem: key,
    }
}

/// The cluster TLS of node `id` (named `node-{id}`).
pub fn tls(ca: &(String, String), id: u64) -> ClusterTls {
    node_tls(ca, &format!("node-{id}"))
}

/// A number from the environment variable `name`, or `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
