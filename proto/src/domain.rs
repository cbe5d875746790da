//! Custom domain names: a host name served over HTTPS with its certificate, and the base path
//! mappings that send its requests to an API's stage.
//!
//! The certificate and its private key are kept as the PEM text they were uploaded as (the
//! admin layer checked them); the node compiles them into TLS configurations. The private key
//! is replicated like every other field (Raft log, snapshots: see `docs/SECURITY.md`); the admin
//! API never answers with it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The base path of the catch-all mapping as AWS names it in paths and answers.
pub const NONE_BASE_PATH: &str = "(none)";

/// A custom domain name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DomainName {
    /// The host name, lower-cased (`api.example.com`, or a wildcard `*.example.com`).
    pub name: String,
    /// The certificate's name (as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_name: Option<String>,
    /// The server certificate, PEM.
    pub certificate_body: String,
    /// Its private key, PEM. Never part of an admin answer.
    pub certificate_private_key: String,
    /// The intermediate certificates, PEM (may be empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub certificate_chain: String,
    /// A certificate ARN given with the PEM (stored, not resolvable here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<String>,
    /// When the certificate was uploaded, epoch seconds (from the command).
    pub certificate_upload_date: i64,
    /// The AWS security policy name (`TLS_1_2`, `SecurityPolicy_TLS13_1_3_2025_09`, …).
    pub security_policy: String,
    /// Endpoint types (`EDGE`, `REGIONAL`): both are served alike here.
    #[serde(default)]
    pub endpoint_types: Vec<String>,
    /// Mutual TLS: the truststore clients' certificates are verified against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutual_tls: Option<MutualTls>,
    /// Tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Base path mappings by base path (`""` is the catch-all, `(none)` on the wire).
    #[serde(default)]
    pub mappings: BTreeMap<String, BasePathMapping>,
    /// `endpointConfiguration.ipAddressType` as set (`ipv4` or `dualstack`); `None`: AWS's
    /// default, `ipv4`. Stored and answered: whether clients reach the domain over IPv6 is
    /// up to the addresses the node's HTTPS listener is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<String>,
}

impl DomainName {
    /// `ipAddressType` as answered: as set, else `ipv4` (AWS's default for EDGE and REGIONAL
    /// domain names, the only kinds served here).
    pub fn effective_ip_address_type(&self) -> &str {
        self.ip_address_type.as_deref().unwrap_or("ipv4")
    }
}

/// Mutual TLS settings of a domain name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MutualTls {
    /// Where the truststore was named (`file:///…`, read by every node when it compiles the
    /// domain), or empty when it was given inline.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub truststore_uri: String,
    /// The truststore's CA certificates, PEM, when given inline (empty for a `file://` URI).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub truststore_pem: String,
    /// The version named with it (stored as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truststore_version: Option<String>,
}

/// One base path mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasePathMapping {
    /// The base path without slashes at either end (`v1`, `v1/pets`); `""` is the catch-all.
    pub base_path: String,
    /// The API.
    pub rest_api_id: String,
    /// The stage; `None`: the first path segment after the base path names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
}

/// Why a base path is refused (AWS's rules: letters, digits and `$-_.+!*'()` in segments
/// separated by single `/`, none empty; at most 1,024 characters).
pub fn check_base_path(path: &str) -> Result<(), String> {
    if path.len() > 1024 {
        return Err("Base path must be at most 1024 characters".into());
    }
    if path.is_empty() {
        return Ok(());
    }
    for seg in path.split('/') {
        if seg.is_empty() {
            return Err(format!(
                "Invalid base path specified: {path} (empty segment: no leading, trailing or doubled '/')"
            ));
        }
        if let Some(c) = seg
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "$-_.+!*'()".contains(*c)))
        {
            return Err(format!(
                "Invalid base path specified: {path} (character {c:?} is not allowed; use letters, digits and $-_.+!*'())"
            ));
        }
    }
    Ok(())
}

/// Why a domain name is refused: a DNS name of labels (letters, digits, `-`, not at a label's
/// ends), at most 253 characters, optionally with a leading `*.` label (a wildcard domain).
pub fn check_domain_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("Invalid domain name specified: {name} ({why})"));
    if name.is_empty() || name.len() > 253 {
        return bad("1 to 253 characters");
    }
    let rest = name.strip_prefix("*.").unwrap_or(name);
    let labels: Vec<&str> = rest.split('.').collect();
    if labels.len() < 2 {
        return bad("at least two labels");
    }
    for l in labels {
        if l.is_empty() || l.len() > 63 {
            return bad("labels of 1 to 63 characters");
        }
        if !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            || l.starts_with('-')
            || l.ends_with('-')
        {
            return bad("letters, digits and '-' only");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_follow_aws_rules() {
        for ok in ["", "v1", "v1/pets", "a.b-c_d$e+f!g*h'i(j)k", "V2"] {
            assert!(check_base_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/v1",
            "v1/",
            "v1//pets",
            "v 1",
            "v1?x",
            "caf\u{e9}",
            "a#b",
            "%41",
        ] {
            assert!(check_base_path(bad).is_err(), "{bad}");
        }
        assert!(check_base_path(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn domain_names_are_dns_names() {
        for ok in ["api.example.com", "*.example.com", "a-b.c.d"] {
            assert!(check_domain_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "com", "a..b", "-a.b", "a-.b", "a b.c", "*.com", "a.*.b", "x.*",
        ] {
            assert!(check_domain_name(bad).is_err(), "{bad}");
        }
    }
}

/// The rotation of the cluster's TLS session-ticket secret
/// ([`crate::Registry::tls_ticket_secret`] is the current one): the secret it replaced, kept so
/// tickets made just before a rotation still open on every node until the next one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRotation {
    /// The current secret's generation: 0 for the first, one more at each rotation.
    pub generation: u64,
    /// The secret of generation `generation - 1` (none before the first rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Vec<u8>>,
    /// When the current secret was made (ms since the epoch, the proposer's clock; 0: the
    /// first secret, made with the first domain name).
    #[serde(default)]
    pub rotated_at_ms: u64,
}

impl TicketRotation {
    /// Whether no rotation has happened (what a registry without the field holds).
    pub fn is_initial(&self) -> bool {
        *self == TicketRotation::default()
    }
}
