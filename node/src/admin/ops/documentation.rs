//! CreateDocumentationPart, GetDocumentationParts, GetDocumentationPart,
//! UpdateDocumentationPart, DeleteDocumentationPart; CreateDocumentationVersion,
//! GetDocumentationVersions, GetDocumentationVersion, UpdateDocumentationVersion,
//! DeleteDocumentationVersion.
//!
//! A part's location is checked as AWS documents it: `type` one of AWS's entity types; `path`
//! only for types below a resource (default `/`), `method` only for method-level types
//! (default `*`), `statusCode` only for response types (default `*`), `name` required for
//! named entities and refused elsewhere. Its properties are a JSON object of at most
//! [`MAX_PROPERTIES_BYTES`]. ImportDocumentationParts (an OpenAPI document) is answered "not
//! supported" (`admin::coverage`); so is associating a version with a stage.

use super::{commit, mint_id, non_empty, read_api, Reply};
use crate::admin::error::ApiError;
use crate::admin::input;
use crate::admin::limits;
use crate::admin::paging::{PageRequest, Query};
use crate::admin::patch::{self, Op, PatchOp};
use crate::admin::wire::Page;
use crate::admin::AdminState;
use crate::ids::now_epoch;
use serde::{Deserialize, Serialize};
use tollgate_proto::model::{DocumentationLocation, DocumentationPart, DocumentationVersion};
use tollgate_proto::Command;

/// Largest `properties` accepted (bytes). AWS bounds an API's whole documentation; this
/// bounds one part so that no single value bloats the replicated log.
pub const MAX_PROPERTIES_BYTES: usize = 32 * 1024;

/// AWS's `DocumentationPartType` values.
const TYPES: [&str; 12] = [
    "API",
    "AUTHORIZER",
    "MODEL",
    "RESOURCE",
    "METHOD",
    "PATH_PARAMETER",
    "QUERY_PARAMETER",
    "REQUEST_HEADER",
    "REQUEST_BODY",
    "RESPONSE",
    "RESPONSE_HEADER",
    "RESPONSE_BODY",
];

/// Which location fields a type takes: (path, method, status code, name required).
fn fields_of(kind: &str) -> (bool, bool, bool, bool) {
    match kind {
        "API" => (false, false, false, false),
        "AUTHORIZER" | "MODEL" => (false, false, false, true),
        "RESOURCE" => (true, false, false, false),
        "METHOD" => (true, true, false, false),
        "PATH_PARAMETER" | "QUERY_PARAMETER" | "REQUEST_HEADER" | "REQUEST_BODY" => {
            (true, true, false, true)
        }
        "RESPONSE" | "RESPONSE_BODY" => (true, true, true, false),
        // RESPONSE_HEADER
        _ => (true, true, true, true),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LocationIn {
    #[serde(rename = "type")]
    kind: Option<String>,
    path: Option<String>,
    method: Option<String>,
    status_code: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatePartIn {
    location: Option<LocationIn>,
    properties: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateVersionIn {
    documentation_version: Option<String>,
    stage_name: Option<String>,
    description: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LocationOut {
    #[serde(rename = "type")]
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PartOut {
    id: String,
    location: LocationOut,
    properties: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionOut {
    version: String,
    created_date: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

fn part_out(p: &DocumentationPart) -> PartOut {
    let l = &p.location;
    PartOut {
        id: p.id.clone(),
        location: LocationOut {
            kind: l.kind.clone(),
            path: l.path.clone(),
            method: l.method.clone(),
            status_code: l.status_code.clone(),
            name: l.name.clone(),
        },
        properties: p.properties.clone(),
    }
}

fn version_out(v: &DocumentationVersion) -> VersionOut {
    VersionOut {
        version: v.version.clone(),
        created_date: v.created_date,
        description: v.description.clone(),
    }
}

/// A location as AWS reads it: the type checked, fields the type does not take refused,
/// those it takes defaulted.
fn location(i: LocationIn) -> Result<DocumentationLocation, ApiError> {
    let kind = i.kind.unwrap_or_default();
    if !TYPES.contains(&kind.as_str()) {
        return Err(ApiError::with_code(
            400,
            "ValidationException",
            format!(
                "1 validation error detected: Value '{kind}' at 'createDocumentationPartInput.location.type' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                TYPES.join(", ")
            ),
        ));
    }
    let (has_path, has_method, has_status, has_name) = fields_of(&kind);
    let field = |value: Option<String>, allowed: bool, what: &str, default: Option<&str>| match (
        non_empty(value),
        allowed,
    ) {
        (Some(_), false) => Err(ApiError::bad_request(format!(
            "Invalid location: '{what}' is not valid for type {kind}"
        ))),
        (Some(v), true) => {
            limits::check_name(what, &v)?;
            Ok(Some(v))
        }
        (None, true) => Ok(default.map(String::from)),
        (None, false) => Ok(None),
    };
    let path = field(i.path, has_path, "path", Some("/"))?;
    if path.as_deref().is_some_and(|p| !p.starts_with('/')) {
        return Err(ApiError::bad_request(
            "Invalid location: 'path' must start with '/'",
        ));
    }
    let method = field(i.method, has_method, "method", Some("*"))?.map(|m| {
        if m == "*" {
            m
        } else {
            m.to_ascii_uppercase()
        }
    });
    let status_code = field(i.status_code, has_status, "statusCode", Some("*"))?;
    if let Some(code) = status_code.as_deref().filter(|c| *c != "*") {
        let b = code.as_bytes();
        if !(b.len() == 3 && (b'1'..=b'5').contains(&b[0]) && b[1..].iter().all(u8::is_ascii_digit))
        {
            return Err(ApiError::bad_request(format!(
                "Invalid location: invalid status code {code}"
            )));
        }
    }
    let name = field(i.name, has_name, "name", None)?;
    if has_name && name.is_none() && kind != "REQUEST_BODY" {
        return Err(ApiError::bad_request(format!(
            "Invalid location: 'name' is required for type {kind}"
        )));
    }
    Ok(DocumentationLocation {
        kind,
        path,
        method,
        status_code,
        name,
    })
}

/// Properties: a JSON object, bounded.
fn check_properties(p: &str) -> Result<(), ApiError> {
    if p.len() > MAX_PROPERTIES_BYTES {
        return Err(ApiError::bad_request(format!(
            "Documentation part properties must be at most {MAX_PROPERTIES_BYTES} bytes"
        )));
    }
    match serde_json::from_str::<serde_json::Value>(p) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        _ => Err(ApiError::bad_request(
            "Invalid documentation content specified: properties must be a JSON object",
        )),
    }
}

fn load_part(state: &AdminState, api: &str, id: &str) -> Result<DocumentationPart, ApiError> {
    read_api(state, api, |a| {
        a.documentation_parts.get(id).cloned().ok_or_else(|| {
            ApiError::not_found(format!(
                "Invalid Documentation part identifier specified: {id}"
            ))
        })
    })
}

fn load_version(state: &AdminState, api: &str, v: &str) -> Result<DocumentationVersion, ApiError> {
    read_api(state, api, |a| {
        a.documentation_versions.get(v).cloned().ok_or_else(|| {
            ApiError::not_found(format!("Invalid Documentation version specified: {v}"))
        })
    })
}

/// CreateDocumentationPart (201).
pub async fn create_part(state: &AdminState, api: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let i: CreatePartIn = input::parse(body)?;
    let location =
        location(i.location.ok_or_else(|| {
            ApiError::bad_request("Documentation part location must be specified")
        })?)?;
    let properties = i
        .properties
        .ok_or_else(|| ApiError::bad_request("Documentation part properties must be specified"))?;
    check_properties(&properties)?;
    let part = DocumentationPart {
        id: mint_id(10),
        location,
        properties,
    };
    let id = part.id.clone();
    commit(
        state,
        Command::PutDocumentationPart {
            api_id: api.to_string(),
            part,
            create: true,
        },
    )
    .await?;
    Reply::json(201, &part_out(&load_part(state, api, &id)?))
}

/// GetDocumentationParts: filtered by `type`, `path`, `nameQuery` (a part of the name);
/// `locationStatus=DOCUMENTED` is every part, `UNDOCUMENTED` is refused.
pub fn list_parts(state: &AdminState, api: &str, query: &Query) -> Result<Reply, ApiError> {
    let page = PageRequest::from_query(query)?;
    match query.get("locationStatus") {
        None | Some("") | Some("DOCUMENTED") => {}
        Some("UNDOCUMENTED") => {
            return Err(ApiError::bad_request(
                "locationStatus=UNDOCUMENTED is not supported by Tollgate",
            ))
        }
        Some(other) => {
            return Err(ApiError::with_code(
                400,
                "ValidationException",
                format!("1 validation error detected: Value '{other}' at 'locationStatus' failed to satisfy constraint: Member must satisfy enum value set: [DOCUMENTED, UNDOCUMENTED]"),
            ))
        }
    }
    let kind = query.get("type").filter(|t| !t.is_empty());
    let path = query.get("path").filter(|p| !p.is_empty());
    let name = query.get("nameQuery").filter(|n| !n.is_empty());
    let items = read_api(state, api, |a| {
        Ok(a.documentation_parts
            .values()
            .filter(|p| kind.is_none_or(|k| p.location.kind == k))
            .filter(|p| path.is_none_or(|x| p.location.path.as_deref() == Some(x)))
            .filter(|p| {
                name.is_none_or(|n| p.location.name.as_deref().is_some_and(|x| x.contains(n)))
            })
            .map(|p| (p.id.clone(), part_out(p)))
            .collect::<Vec<_>>())
    })?;
    let (item, position) = page.apply(items);
    Reply::json(200, &Page { item, position })
}

/// GetDocumentationPart.
pub fn get_part(state: &AdminState, api: &str, id: &str) -> Result<Reply, ApiError> {
    Reply::json(200, &part_out(&load_part(state, api, id)?))
}

/// UpdateDocumentationPart: `replace /properties`.
pub async fn update_part(
    state: &AdminState,
    api: &str,
    id: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut part = load_part(state, api, id)?;
    for p in &ops {
        match (p.op, p.path.as_str()) {
            // AWS refuses `add` (recorded: `test_invalid_update_documentation_part`).
            (Op::Replace, "/properties") => {
                let v = p.value()?;
                check_properties(v)?;
                part.properties = v.to_string();
            }
            _ => return Err(p.unsupported(&["/properties"])),
        }
    }
    commit(
        state,
        Command::PutDocumentationPart {
            api_id: api.to_string(),
            part,
            create: false,
        },
    )
    .await?;
    get_part(state, api, id)
}

fn invalid_path(p: &PatchOp, paths: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid patch path '{}' specified for op '{}'. Must be one of: {paths}",
        p.path,
        p.op.as_str()
    ))
}

/// DeleteDocumentationPart (202).
pub async fn delete_part(state: &AdminState, api: &str, id: &str) -> Result<Reply, ApiError> {
    commit(
        state,
        Command::DeleteDocumentationPart {
            api_id: api.to_string(),
            id: id.to_string(),
        },
    )
    .await?;
    Ok(Reply::empty(202))
}

/// CreateDocumentationVersion (201).
pub async fn create_version(state: &AdminState, api: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let i: CreateVersionIn = input::parse(body)?;
    let version = non_empty(i.documentation_version)
        .ok_or_else(|| ApiError::bad_request("Documentation version must be specified"))?;
    limits::check_name("The documentation version", &version)?;
    if non_empty(i.stage_name).is_some() {
        return Err(ApiError::bad_request(
            "Associating a documentation version with a stage (stageName) is not supported by Tollgate",
        ));
    }
    let description = non_empty(i.description);
    limits::check_description("The description", description.as_deref())?;
    commit(
        state,
        Command::CreateDocumentationVersion {
            api_id: api.to_string(),
            version: version.clone(),
            created_date: now_epoch(),
            description,
        },
    )
    .await?;
    Reply::json(201, &version_out(&load_version(state, api, &version)?))
}

/// GetDocumentationVersions: a page of versions, by version.
pub fn list_versions(state: &AdminState, api: &str, query: &Query) -> Result<Reply, ApiError> {
    let page = PageRequest::from_query(query)?;
    let items = read_api(state, api, |a| {
        Ok(a.documentation_versions
            .values()
            .map(|v| (v.version.clone(), version_out(v)))
            .collect::<Vec<_>>())
    })?;
    let (item, position) = page.apply(items);
    Reply::json(200, &Page { item, position })
}

/// GetDocumentationVersion.
pub fn get_version(state: &AdminState, api: &str, v: &str) -> Result<Reply, ApiError> {
    Reply::json(200, &version_out(&load_version(state, api, v)?))
}

/// UpdateDocumentationVersion: `replace /description`.
pub async fn update_version(
    state: &AdminState,
    api: &str,
    v: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut description = load_version(state, api, v)?.description;
    for p in &ops {
        match p.path.as_str() {
            "/description" => description = non_empty(p.optional_string()?),
            _ => return Err(invalid_path(p, "[/description]")),
        }
    }
    limits::check_description("The description", description.as_deref())?;
    commit(
        state,
        Command::UpdateDocumentationVersion {
            api_id: api.to_string(),
            version: v.to_string(),
            description,
        },
    )
    .await?;
    get_version(state, api, v)
}

/// DeleteDocumentationVersion (202).
pub async fn delete_version(state: &AdminState, api: &str, v: &str) -> Result<Reply, ApiError> {
    commit(
        state,
        Command::DeleteDocumentationVersion {
            api_id: api.to_string(),
            version: v.to_string(),
        },
    )
    .await?;
    Ok(Reply::empty(202))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(kind: &str) -> LocationIn {
        LocationIn {
            kind: Some(kind.into()),
            ..Default::default()
        }
    }

    #[test]
    fn locations_take_the_fields_of_their_type_with_aws_defaults() {
        let l = location(loc("METHOD")).unwrap();
        assert_eq!(
            (
                l.path.as_deref(),
                l.method.as_deref(),
                l.status_code,
                l.name
            ),
            (Some("/"), Some("*"), None, None)
        );
        let l = location(LocationIn {
            path: Some("/pets".into()),
            method: Some("get".into()),
            status_code: Some("404".into()),
            ..loc("RESPONSE")
        })
        .unwrap();
        assert_eq!(
            (l.method.as_deref(), l.status_code.as_deref()),
            (Some("GET"), Some("404"))
        );
        let e = location(loc("api")).unwrap_err();
        assert_eq!(e.error_type, "ValidationException");
        assert!(location(LocationIn {
            path: Some("/x".into()),
            ..loc("API")
        })
        .is_err());
        assert!(location(loc("MODEL")).is_err(), "a model part needs a name");
        assert!(location(LocationIn {
            status_code: Some("600".into()),
            ..loc("RESPONSE")
        })
        .is_err());
        assert!(check_properties("{\"a\":1}").is_ok());
        for bad in ["[1]", "x", "\"s\""] {
            assert!(check_properties(bad).is_err(), "{bad}");
        }
    }
}
