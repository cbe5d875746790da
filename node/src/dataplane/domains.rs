//! The compiled custom domain names: per host name its TLS configuration and its base path
//! mappings, built by the compiler thread from the registry and published with the routing
//! table (so a certificate or mapping change reaches every worker without a restart).
//!
//! Lookups are pure: [`DomainTable::lookup`] finds a domain by its (lower-case) host name,
//! exact first, then the wildcard domain of its parent; [`CompiledDomain::route`] finds the
//! longest base path that is a whole-segment prefix of a request path.

use rustc_hash::FxHashMap;
use rustls::ServerConfig;
use std::sync::Arc;
use tollgate_proto::Registry;

/// One mapping, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledMapping {
    /// The base path without slashes at its ends; empty for the catch-all.
    pub base_path: Box<str>,
    /// The API.
    pub api_id: Box<str>,
    /// The stage, or `None` when the first segment after the base path names it.
    pub stage: Option<Box<str>>,
}

/// One domain, compiled.
pub struct CompiledDomain {
    /// The domain name (`api.example.com` or `*.example.com`).
    pub name: Box<str>,
    /// The configuration its handshakes use, or why it could not be built on this node (its
    /// handshakes are then refused: fail closed).
    pub tls: Result<Arc<ServerConfig>, Box<str>>,
    /// Its mappings, longest base path first.
    pub mappings: Vec<CompiledMapping>,
}

impl std::fmt::Debug for CompiledDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledDomain")
            .field("name", &self.name)
            .field("tls", &self.tls.as_ref().map(|_| "ServerConfig"))
            .field("mappings", &self.mappings)
            .finish()
    }
}

/// Where a request through a domain goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainTarget<'t, 's, 'r> {
    /// The API.
    pub api_id: &'t str,
    /// The stage (the mapping's, or a segment of the path).
    pub stage: &'s str,
    /// The path below the base path (and the stage segment, when the mapping names none),
    /// starting with `/`.
    pub path: &'r str,
}

impl CompiledDomain {
    /// The target of `path` (starting with `/`): the longest matching base path, stripped.
    /// `None`: no mapping matches (AWS answers 403 Forbidden).
    pub fn route<'s, 't: 's, 'r: 's>(&'t self, path: &'r str) -> Option<DomainTarget<'t, 's, 'r>> {
        let rest = path.strip_prefix('/')?;
        for m in &self.mappings {
            let below = if m.base_path.is_empty() {
                path
            } else {
                match rest.strip_prefix(&*m.base_path) {
                    Some("") => "/",
                    Some(r) if r.starts_with('/') => r,
                    _ => continue,
                }
            };
            return match &m.stage {
                Some(stage) => Some(DomainTarget {
                    api_id: &m.api_id,
                    stage,
                    path: below,
                }),
                None => {
                    let after = &below[1..];
                    let (stage, sub) = match after.find('/') {
                        Some(i) => (&after[..i], &after[i..]),
                        None => (after, "/"),
                    };
                    if stage.is_empty() {
                        return None;
                    }
                    Some(DomainTarget {
                        api_id: &m.api_id,
                        stage,
                        path: sub,
                    })
                }
            };
        }
        None
    }
}

/// Every domain this node serves.
#[derive(Debug, Default)]
pub struct DomainTable {
    by_name: FxHashMap<Box<str>, Arc<CompiledDomain>>,
    /// The generation of the session-ticket secret new tickets are sealed under (none: no
    /// secret yet).
    pub ticket_generation: Option<u64>,
}

impl DomainTable {
    /// The domain serving host `host` (lower-case, no port): its own, else the wildcard domain
    /// of its parent (`a.example.com` → `*.example.com`).
    pub fn lookup(&self, host: &str) -> Option<&Arc<CompiledDomain>> {
        if let Some(d) = self.by_name.get(host) {
            return Some(d);
        }
        let (label, parent) = host.split_once('.')?;
        if label.is_empty() || label == "*" {
            return None;
        }
        let mut wild = String::with_capacity(parent.len() + 2);
        wild.push_str("*.");
        wild.push_str(parent);
        self.by_name.get(wild.as_str())
    }

    /// Whether no domain is configured.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// Compiles every domain of `reg`. A domain whose certificate or truststore cannot be built
/// on this node (a `file://` truststore missing here) is kept with its error: handshakes for
/// it are refused and the error is logged once per compile.
pub fn compile_domains(reg: &Registry) -> DomainTable {
    let mut by_name = FxHashMap::with_capacity_and_hasher(reg.domains.len(), Default::default());
    let tickets = crate::tls::TicketSecrets::of(reg);
    for d in reg.domains.values() {
        let tls = match crate::tls::DomainTls::build(d, tickets.as_ref()) {
            Ok(t) => Ok(t.config),
            Err(e) => {
                tracing::error!(domain = %d.name, error = %e, "custom domain name cannot be served: its handshakes are refused");
                Err(e.into_boxed_str())
            }
        };
        let mut mappings: Vec<CompiledMapping> = d
            .mappings
            .values()
            .map(|m| CompiledMapping {
                base_path: m.base_path.as_str().into(),
                api_id: m.rest_api_id.as_str().into(),
                stage: m.stage.as_deref().map(Into::into),
            })
            .collect();
        mappings.sort_by_key(|m| std::cmp::Reverse(m.base_path.len()));
        by_name.insert(
            d.name.as_str().into(),
            Arc::new(CompiledDomain {
                name: d.name.as_str().into(),
                tls,
                mappings,
            }),
        );
    }
    DomainTable {
        by_name,
        ticket_generation: tickets.map(|t| t.generation),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(base: &str, api: &str, stage: Option<&str>) -> CompiledMapping {
        CompiledMapping {
            base_path: base.into(),
            api_id: api.into(),
            stage: stage.map(Into::into),
        }
    }

    fn domain(mut mappings: Vec<CompiledMapping>) -> CompiledDomain {
        mappings.sort_by_key(|m| std::cmp::Reverse(m.base_path.len()));
        CompiledDomain {
            name: "api.example.com".into(),
            tls: Err("none".into()),
            mappings,
        }
    }

    fn t<'a>(api_id: &'a str, stage: &'a str, path: &'a str) -> Option<DomainTarget<'a, 'a, 'a>> {
        Some(DomainTarget {
            api_id,
            stage,
            path,
        })
    }

    #[test]
    fn the_longest_whole_segment_base_path_wins_and_is_stripped() {
        let d = domain(vec![
            m("", "root", Some("prod")),
            m("v1", "one", Some("s1")),
            m("v1/pets", "pets", Some("s2")),
        ]);
        assert_eq!(d.route("/v1/pets/7"), t("pets", "s2", "/7"));
        assert_eq!(d.route("/v1/pets"), t("pets", "s2", "/"));
        assert_eq!(d.route("/v1/petshop"), t("one", "s1", "/petshop"));
        assert_eq!(d.route("/v1"), t("one", "s1", "/"));
        assert_eq!(d.route("/v10/x"), t("root", "prod", "/v10/x"));
        assert_eq!(d.route("/"), t("root", "prod", "/"));
    }

    #[test]
    fn without_a_catch_all_unmatched_paths_have_no_target() {
        let d = domain(vec![m("v1", "one", Some("s1"))]);
        assert_eq!(d.route("/v2/x"), None);
        assert_eq!(d.route("/"), None);
        assert_eq!(d.route("v1"), None);
    }

    #[test]
    fn a_mapping_without_stage_takes_it_from_the_path() {
        let d = domain(vec![m("shop", "a", None)]);
        assert_eq!(d.route("/shop/dev/items"), t("a", "dev", "/items"));
        assert_eq!(d.route("/shop/dev"), t("a", "dev", "/"));
        assert_eq!(d.route("/shop"), None);
        assert_eq!(d.route("/shop/"), None);
    }

    #[test]
    fn hosts_find_their_domain_or_its_wildcard() {
        let mut table = DomainTable::default();
        for name in ["api.example.com", "*.example.com"] {
            let mut d = domain(vec![]);
            d.name = name.into();
            table.by_name.insert(name.into(), Arc::new(d));
        }
        assert_eq!(
            &*table.lookup("api.example.com").unwrap().name,
            "api.example.com"
        );
        assert_eq!(
            &*table.lookup("web.example.com").unwrap().name,
            "*.example.com"
        );
        assert!(table.lookup("a.web.example.com").is_none());
        assert!(table.lookup("example.com").is_none());
        assert!(table.lookup("other.org").is_none());
    }
}
