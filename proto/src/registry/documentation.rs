//! The state machine's rules for an API's documentation parts and versions:
//! - a part's id is new in its API, and no other part is at its location (conflict);
//!   a replaced part keeps its location;
//! - a version is new in its API (conflict) and freezes the parts as they are.
//!
//! What a location may hold and what properties are is checked by the admin layer.

use super::Registry;
use crate::command::{ApplyError, ApplyResult, Command};
use crate::model::DocumentationVersion;

fn part_not_found(id: &str) -> ApplyError {
    ApplyError::NotFound(format!(
        "Invalid Documentation part identifier specified: {id}"
    ))
}

fn version_not_found(v: &str) -> ApplyError {
    ApplyError::NotFound(format!("Invalid Documentation version specified: {v}"))
}

impl Registry {
    /// Applies a documentation part or version command.
    pub(super) fn apply_documentation_command(&mut self, cmd: &Command) -> ApplyResult {
        match cmd {
            Command::PutDocumentationPart {
                api_id,
                part,
                create,
            } => {
                let api = self.api_mut(api_id)?;
                let elsewhere = api
                    .documentation_parts
                    .values()
                    .find(|p| p.location == part.location && p.id != part.id);
                if let Some(other) = elsewhere {
                    return Err(ApplyError::Conflict(format!(
                        "Documentation part {} already exists at this location",
                        other.id
                    )));
                }
                match (api.documentation_parts.get(&part.id), create) {
                    (Some(_), true) => {
                        return Err(ApplyError::Conflict(format!(
                            "Documentation part {} already exists",
                            part.id
                        )))
                    }
                    (None, false) => return Err(part_not_found(&part.id)),
                    (Some(old), false) if old.location != part.location => {
                        return Err(ApplyError::BadRequest(
                            "A documentation part's location cannot be changed".into(),
                        ))
                    }
                    _ => {}
                }
                api.documentation_parts
                    .insert(part.id.clone(), part.clone());
                Ok(())
            }
            Command::DeleteDocumentationPart { api_id, id } => {
                let api = self.api_mut(api_id)?;
                api.documentation_parts
                    .remove(id)
                    .ok_or_else(|| part_not_found(id))?;
                Ok(())
            }
            Command::CreateDocumentationVersion {
                api_id,
                version,
                created_date,
                description,
            } => {
                let api = self.api_mut(api_id)?;
                if version.is_empty() {
                    return Err(ApplyError::BadRequest(
                        "Documentation version must not be empty".into(),
                    ));
                }
                if api.documentation_versions.contains_key(version) {
                    return Err(ApplyError::Conflict(format!(
                        "Documentation version {version} already exists"
                    )));
                }
                let frozen = DocumentationVersion {
                    version: version.clone(),
                    created_date: *created_date,
                    description: description.clone(),
                    parts: api.documentation_parts.clone(),
                };
                api.documentation_versions.insert(version.clone(), frozen);
                Ok(())
            }
            Command::UpdateDocumentationVersion {
                api_id,
                version,
                description,
            } => {
                let api = self.api_mut(api_id)?;
                let v = api
                    .documentation_versions
                    .get_mut(version)
                    .ok_or_else(|| version_not_found(version))?;
                v.description = description.clone();
                Ok(())
            }
            Command::DeleteDocumentationVersion { api_id, version } => {
                let api = self.api_mut(api_id)?;
                api.documentation_versions
                    .remove(version)
                    .ok_or_else(|| version_not_found(version))?;
                Ok(())
            }
            _ => Err(ApplyError::BadRequest("not a documentation command".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DocumentationLocation, DocumentationPart, RestApiSettings};

    fn part(id: &str, kind: &str, path: Option<&str>) -> DocumentationPart {
        DocumentationPart {
            id: id.into(),
            location: DocumentationLocation {
                kind: kind.into(),
                path: path.map(String::from),
                ..Default::default()
            },
            properties: "{\"description\":\"x\"}".into(),
        }
    }

    fn put(r: &mut Registry, p: DocumentationPart, create: bool) -> ApplyResult {
        r.apply(&Command::PutDocumentationPart {
            api_id: "a1".into(),
            part: p,
            create,
        })
    }

    #[test]
    fn parts_are_one_per_location_and_versions_freeze_them() {
        let mut r = Registry::default();
        r.apply(&Command::CreateRestApi {
            id: "a1".into(),
            root_resource_id: "root".into(),
            settings: RestApiSettings::default(),
            created_date: 1,
            clone_from: None,
        })
        .unwrap();
        put(&mut r, part("p1", "API", None), true).unwrap();
        put(&mut r, part("p2", "RESOURCE", Some("/pets")), true).unwrap();
        assert!(matches!(
            put(&mut r, part("p3", "API", None), true),
            Err(ApplyError::Conflict(_))
        ));
        assert!(matches!(
            put(&mut r, part("p1", "MODEL", None), true),
            Err(ApplyError::Conflict(_))
        ));
        assert!(matches!(
            put(&mut r, part("p1", "RESOURCE", Some("/x")), false),
            Err(ApplyError::BadRequest(_))
        ));
        assert!(matches!(
            put(&mut r, part("nope", "MODEL", None), false),
            Err(ApplyError::NotFound(_))
        ));
        let version = |v: &str| Command::CreateDocumentationVersion {
            api_id: "a1".into(),
            version: v.into(),
            created_date: 5,
            description: None,
        };
        r.apply(&version("v1")).unwrap();
        assert!(matches!(
            r.apply(&version("v1")),
            Err(ApplyError::Conflict(_))
        ));
        let mut changed = part("p1", "API", None);
        changed.properties = "{}".into();
        put(&mut r, changed, false).unwrap();
        r.apply(&Command::DeleteDocumentationPart {
            api_id: "a1".into(),
            id: "p2".into(),
        })
        .unwrap();
        let api = &r.apis["a1"];
        assert_eq!(api.documentation_parts.len(), 1);
        let v1 = &api.documentation_versions["v1"];
        assert_eq!(v1.parts.len(), 2);
        assert_eq!(v1.parts["p1"].properties, "{\"description\":\"x\"}");
        r.apply(&Command::DeleteDocumentationVersion {
            api_id: "a1".into(),
            version: "v1".into(),
        })
        .unwrap();
        assert!(matches!(
            r.apply(&Command::DeleteDocumentationVersion {
                api_id: "a1".into(),
                version: "v1".into(),
            }),
            Err(ApplyError::NotFound(_))
        ));
    }
}
