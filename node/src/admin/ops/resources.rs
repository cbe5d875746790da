//! GetResources, CreateResource, GetResource, UpdateResource, DeleteResource.

use super::mint_id;
use super::{commit, read_api, Reply};
use crate::admin::error::ApiError;
use crate::admin::input::{self, CreateResourceIn};
use crate::admin::limits;
use crate::admin::paging::{PageRequest, Query};
use crate::admin::patch::{self, PatchOp};
use crate::admin::wire::{self, Page};
use crate::admin::AdminState;
use tollgate_proto::model::RestApi;
use tollgate_proto::Command;

fn embeds_methods(query: &Query) -> bool {
    query.has_value("embed", "methods")
}

/// GetResources: a page of resources, ordered by path. Methods are embedded in full with
/// `embed=methods`, otherwise as empty objects.
pub fn list(state: &AdminState, api: &str, query: &Query) -> Result<Reply, ApiError> {
    let page = PageRequest::from_query(query)?;
    let embed = embeds_methods(query);
    let mut items = read_api(state, api, |a| {
        Ok(a.resources
            .values()
            .map(|r| {
                let out = wire::resource(&a.resources, r, embed);
                // A space sorts below every character a path may hold: path order, then id.
                (format!("{} {}", out.path, out.id), out)
            })
            .collect::<Vec<_>>())
    })?;
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let (item, position) = page.apply(items);
    Reply::json(200, &Page { item, position })
}

fn resource_out(
    state: &AdminState,
    api: &str,
    resource: &str,
    embed: bool,
) -> Result<wire::ResourceOut, ApiError> {
    read_api(state, api, |a| {
        let r = a
            .resources
            .get(resource)
            .ok_or_else(|| ApiError::invalid_id("resource", resource))?;
        Ok(wire::resource(&a.resources, r, embed))
    })
}

/// GetResource.
pub fn get(
    state: &AdminState,
    api: &str,
    resource: &str,
    query: &Query,
) -> Result<Reply, ApiError> {
    Reply::json(
        200,
        &resource_out(state, api, resource, embeds_methods(query))?,
    )
}

/// CreateResource (201) under `parent`.
pub async fn create(
    state: &AdminState,
    api: &str,
    parent: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let i: CreateResourceIn = input::parse(body)?;
    let path_part = i.path_part.filter(|p| !p.is_empty()).ok_or_else(|| {
        ApiError::bad_request("Invalid resource path part specified: it must not be empty")
    })?;
    check_path_part(&path_part)?;
    let id = mint_id(10);
    commit(
        state,
        Command::CreateResource {
            api_id: api.to_string(),
            resource_id: id.clone(),
            parent_id: parent.to_string(),
            path_part,
        },
    )
    .await?;
    Reply::json(201, &resource_out(state, api, &id, false)?)
}

/// A path part's length (its characters are checked by the registry).
fn check_path_part(part: &str) -> Result<(), ApiError> {
    limits::check_text("A resource path part", part, limits::MAX_PATH_PART_CHARS)
}

/// Where a resource sits: its parent and path part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Parent resource id.
    pub parent_id: String,
    /// The path segment.
    pub path_part: String,
}

/// Applies one UpdateResource patch operation (`/pathPart`, `/parentId`).
pub fn apply_patch(place: &mut Placement, p: &PatchOp) -> Result<(), ApiError> {
    // AWS's only verb here is `replace` (its recorded wording: `PatchOp::unsupported`).
    const PATHS: &[&str] = &["/parentId", "/pathPart"];
    p.replace_only(PATHS)?;
    match p.path.as_str() {
        "/pathPart" => {
            place.path_part = p.required_string()?;
            check_path_part(&place.path_part)?;
        }
        "/parentId" => place.parent_id = p.required_string()?,
        _ => return Err(p.unsupported(PATHS)),
    }
    Ok(())
}

/// The root resource takes no patch: AWS names the field of the first operation (localstack's
/// AWS recordings: `test_update_resource_on_root` "update-root-path-part", "update-root-parent").
pub(super) fn root_refusal(ops: &[PatchOp]) -> ApiError {
    match ops.first().map(|p| p.path.as_str()) {
        Some("/pathPart") => ApiError::bad_request("Root resource cannot update its pathPart."),
        Some("/parentId") => ApiError::bad_request("Root resource cannot update its parentId."),
        _ => ApiError::bad_request("The root resource cannot be modified"),
    }
}

/// UpdateResource: rename or move.
pub async fn update(
    state: &AdminState,
    api: &str,
    resource: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let ops = patch::parse(body)?;
    let mut place = read_api(state, api, |a: &RestApi| {
        let r = a
            .resources
            .get(resource)
            .ok_or_else(|| ApiError::invalid_id("resource", resource))?;
        let parent_id = r.parent_id.clone().ok_or_else(|| root_refusal(&ops))?;
        Ok(Placement {
            parent_id,
            path_part: r.path_part.clone(),
        })
    })?;
    for p in &ops {
        apply_patch(&mut place, p)?;
    }
    commit(
        state,
        Command::UpdateResource {
            api_id: api.to_string(),
            resource_id: resource.to_string(),
            parent_id: place.parent_id,
            path_part: place.path_part,
        },
    )
    .await?;
    Reply::json(200, &resource_out(state, api, resource, false)?)
}

/// DeleteResource (202), with everything below it.
pub async fn delete(state: &AdminState, api: &str, resource: &str) -> Result<Reply, ApiError> {
    commit(
        state,
        Command::DeleteResource {
            api_id: api.to_string(),
            resource_id: resource.to_string(),
        },
    )
    .await?;
    Ok(Reply::empty(202))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::patch::Op;

    #[test]
    fn patches_placement() {
        let mut p = Placement {
            parent_id: "r".into(),
            path_part: "pets".into(),
        };
        let op = |o, path: &str, v: &str| PatchOp {
            op: o,
            path: path.into(),
            value: Some(v.into()),
            from: None,
        };
        apply_patch(&mut p, &op(Op::Replace, "/pathPart", "cats")).unwrap();
        apply_patch(&mut p, &op(Op::Replace, "/parentId", "x")).unwrap();
        assert_eq!(p.path_part, "cats");
        assert_eq!(p.parent_id, "x");
        assert!(apply_patch(&mut p, &op(Op::Replace, "/path", "y")).is_err());
        assert!(apply_patch(&mut p, &op(Op::Remove, "/pathPart", "y")).is_err());
    }
}
