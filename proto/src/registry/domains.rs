//! The state machine's rules for custom domain names and their base path mappings (AWS's
//! wording, so the admin layer can answer as AWS does):
//! - a domain name is new (conflict), and found by its exact (lower-cased) name;
//! - an update replaces the domain's settings and keeps its mappings;
//! - a base path is new on its domain (conflict), and valid ([`check_base_path`]);
//! - a mapping names an existing API and, when it names one, an existing stage of it. An API or
//!   stage deleted later leaves its mappings in place; the data plane refuses requests through
//!   them (see `docs/USER_GUIDE.md`).
//!
//! Certificates are stored as uploaded; the admin layer checks them before proposing.

use super::Registry;
use crate::command::{ApplyError, ApplyResult, Command};
use crate::domain::{check_base_path, check_domain_name, BasePathMapping, DomainName};

fn no_domain(name: &str) -> ApplyError {
    ApplyError::NotFound(format!("Invalid domain name identifier specified: {name}"))
}

fn no_mapping(path: &str) -> ApplyError {
    ApplyError::NotFound(format!(
        "Invalid base path mapping identifier specified: {path}"
    ))
}

impl Registry {
    fn check_mapping(&self, m: &BasePathMapping) -> ApplyResult {
        check_base_path(&m.base_path).map_err(ApplyError::BadRequest)?;
        let api = self.apis.get(&m.rest_api_id).ok_or_else(|| {
            ApplyError::BadRequest(format!(
                "Invalid REST API identifier specified: {}",
                m.rest_api_id
            ))
        })?;
        if let Some(stage) = &m.stage {
            if !api.stages.contains_key(stage) {
                return Err(ApplyError::BadRequest(format!(
                    "Invalid stage identifier specified: {stage}"
                )));
            }
        }
        Ok(())
    }

    /// Applies a domain command (see [`Command::affects_domains`]).
    pub(super) fn apply_domain_command(&mut self, cmd: &Command) -> ApplyResult {
        match cmd {
            Command::CreateDomainName { domain } => {
                check_domain_name(&domain.name).map_err(ApplyError::BadRequest)?;
                if self.domains.contains_key(&domain.name) {
                    return Err(ApplyError::Conflict(
                        "The domain name you provided already exists.".into(),
                    ));
                }
                let domain = DomainName {
                    mappings: Default::default(),
                    ..domain.clone()
                };
                self.domains.insert(domain.name.clone(), domain);
                Ok(())
            }
            Command::UpdateDomainName { domain } => {
                let old = self
                    .domains
                    .get_mut(&domain.name)
                    .ok_or_else(|| no_domain(&domain.name))?;
                let mappings = std::mem::take(&mut old.mappings);
                *old = DomainName {
                    mappings,
                    ..domain.clone()
                };
                Ok(())
            }
            Command::DeleteDomainName { name } => self
                .domains
                .remove(name)
                .map(|_| ())
                .ok_or_else(|| no_domain(name)),
            Command::CreateBasePathMapping {
                domain_name,
                mapping,
            } => {
                self.check_mapping(mapping)?;
                let d = self
                    .domains
                    .get_mut(domain_name)
                    .ok_or_else(|| no_domain(domain_name))?;
                if d.mappings.contains_key(&mapping.base_path) {
                    return Err(ApplyError::Conflict(
                        "Base path already exists for this domain name".into(),
                    ));
                }
                d.mappings
                    .insert(mapping.base_path.clone(), mapping.clone());
                Ok(())
            }
            Command::UpdateBasePathMapping {
                domain_name,
                base_path,
                mapping,
            } => {
                self.check_mapping(mapping)?;
                let d = self
                    .domains
                    .get_mut(domain_name)
                    .ok_or_else(|| no_domain(domain_name))?;
                if !d.mappings.contains_key(base_path) {
                    return Err(no_mapping(base_path));
                }
                if mapping.base_path != *base_path && d.mappings.contains_key(&mapping.base_path) {
                    return Err(ApplyError::Conflict(
                        "Base path already exists for this domain name".into(),
                    ));
                }
                d.mappings.remove(base_path);
                d.mappings
                    .insert(mapping.base_path.clone(), mapping.clone());
                Ok(())
            }
            Command::DeleteBasePathMapping {
                domain_name,
                base_path,
            } => {
                let d = self
                    .domains
                    .get_mut(domain_name)
                    .ok_or_else(|| no_domain(domain_name))?;
                d.mappings
                    .remove(base_path)
                    .map(|_| ())
                    .ok_or_else(|| no_mapping(base_path))
            }
            Command::InitTlsTicketSecret { secret } => {
                if secret.len() != 32 {
                    return Err(ApplyError::BadRequest(
                        "a session-ticket secret is 32 bytes".into(),
                    ));
                }
                if self.tls_ticket_secret.is_none() {
                    self.tls_ticket_secret = Some(secret.clone());
                }
                Ok(())
            }
            Command::RotateTlsTicketSecret {
                secret,
                generation,
                at_ms,
            } => {
                if secret.len() != 32 {
                    return Err(ApplyError::BadRequest(
                        "a session-ticket secret is 32 bytes".into(),
                    ));
                }
                let r = &mut self.tls_ticket_rotation;
                if self.tls_ticket_secret.is_some()
                    && r.generation.checked_add(1) == Some(*generation)
                {
                    r.previous = self.tls_ticket_secret.replace(secret.clone());
                    r.generation = *generation;
                    r.rotated_at_ms = *at_ms;
                }
                Ok(())
            }
            _ => Err(ApplyError::BadRequest("not a domain command".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::command::{ApplyError, Command};
    use crate::domain::{BasePathMapping, DomainName};
    use crate::model::Stage;
    use crate::Registry;

    fn domain(name: &str) -> DomainName {
        DomainName {
            name: name.into(),
            certificate_body: "CERT".into(),
            certificate_private_key: "KEY".into(),
            security_policy: "TLS_1_2".into(),
            ..Default::default()
        }
    }

    fn mapping(path: &str, api: &str, stage: Option<&str>) -> BasePathMapping {
        BasePathMapping {
            base_path: path.into(),
            rest_api_id: api.into(),
            stage: stage.map(String::from),
        }
    }

    fn registry_with_api() -> Registry {
        let mut r = Registry::default();
        r.apply(&Command::CreateRestApi {
            id: "a1".into(),
            settings: Default::default(),
            created_date: 0,
            root_resource_id: "r0".into(),
            clone_from: None,
        })
        .unwrap();
        let mut api = r.apis.remove("a1").unwrap();
        api.stages.insert("prod".into(), Stage::default());
        r.apis.insert("a1".into(), api);
        r
    }

    #[test]
    fn domains_and_mappings_follow_the_rules() {
        let mut r = registry_with_api();
        let create = |d| Command::CreateDomainName { domain: d };
        r.apply(&create(domain("api.example.com"))).unwrap();
        assert!(matches!(
            r.apply(&create(domain("api.example.com"))),
            Err(ApplyError::Conflict(_))
        ));
        assert!(matches!(
            r.apply(&create(domain("not a name"))),
            Err(ApplyError::BadRequest(_))
        ));
        let add = |path: &str, api: &str, stage: Option<&str>| Command::CreateBasePathMapping {
            domain_name: "api.example.com".into(),
            mapping: mapping(path, api, stage),
        };
        r.apply(&add("", "a1", Some("prod"))).unwrap();
        r.apply(&add("v1/pets", "a1", None)).unwrap();
        assert!(matches!(
            r.apply(&add("v1/pets", "a1", None)),
            Err(ApplyError::Conflict(_))
        ));
        for bad in [
            add("x", "nope", None),
            add("x", "a1", Some("dev")),
            add("/x", "a1", None),
        ] {
            assert!(
                matches!(r.apply(&bad), Err(ApplyError::BadRequest(_))),
                "{bad:?}"
            );
        }
        // An update keeps the mappings.
        let mut d = domain("api.example.com");
        d.certificate_body = "NEW".into();
        r.apply(&Command::UpdateDomainName { domain: d }).unwrap();
        let stored = &r.domains["api.example.com"];
        assert_eq!(stored.certificate_body, "NEW");
        assert_eq!(stored.mappings.len(), 2);
        // Moving a mapping onto an existing base path conflicts; elsewhere it moves.
        let mv = |to: &str| Command::UpdateBasePathMapping {
            domain_name: "api.example.com".into(),
            base_path: "v1/pets".into(),
            mapping: mapping(to, "a1", Some("prod")),
        };
        assert!(matches!(r.apply(&mv("")), Err(ApplyError::Conflict(_))));
        r.apply(&mv("v2")).unwrap();
        assert!(r.domains["api.example.com"].mappings.contains_key("v2"));
        let del = |p: &str| Command::DeleteBasePathMapping {
            domain_name: "api.example.com".into(),
            base_path: p.into(),
        };
        r.apply(&del("v2")).unwrap();
        assert!(matches!(r.apply(&del("v2")), Err(ApplyError::NotFound(_))));
        r.apply(&Command::DeleteDomainName {
            name: "api.example.com".into(),
        })
        .unwrap();
        assert!(r.domains.is_empty());
        // The ticket secret is set once: a later one (a concurrent first domain) changes nothing.
        let secret = |b: u8| Command::InitTlsTicketSecret {
            secret: vec![b; 32],
        };
        r.apply(&secret(1)).unwrap();
        r.apply(&secret(2)).unwrap();
        assert_eq!(r.tls_ticket_secret, Some(vec![1; 32]));
        assert!(r
            .apply(&Command::InitTlsTicketSecret { secret: vec![3; 4] })
            .is_err());
        // A rotation keeps the secret it replaces; one naming another generation (it lost to
        // another rotation, or applies again) changes nothing.
        let rotate = |b: u8, generation: u64| Command::RotateTlsTicketSecret {
            secret: vec![b; 32],
            generation,
            at_ms: 1000 + generation,
        };
        r.apply(&rotate(4, 1)).unwrap();
        r.apply(&rotate(5, 1)).unwrap();
        r.apply(&rotate(6, 3)).unwrap();
        assert_eq!(r.tls_ticket_secret, Some(vec![4; 32]));
        assert_eq!(
            r.tls_ticket_rotation,
            crate::domain::TicketRotation {
                generation: 1,
                previous: Some(vec![1; 32]),
                rotated_at_ms: 1001,
            }
        );
        r.apply(&rotate(7, 2)).unwrap();
        assert_eq!(r.tls_ticket_secret, Some(vec![7; 32]));
        assert_eq!(r.tls_ticket_rotation.previous, Some(vec![4; 32]));
        assert!(r.apply(&rotate(0, 3)).is_ok());
        assert!(r
            .apply(&Command::RotateTlsTicketSecret {
                secret: vec![1; 31],
                generation: 3,
                at_ms: 0
            })
            .is_err());
        // Before any secret exists there is nothing to rotate.
        let mut empty = Registry::default();
        empty.apply(&rotate(4, 1)).unwrap();
        assert_eq!(empty.tls_ticket_secret, None);
        assert!(empty.tls_ticket_rotation.is_initial());
    }
}
