//! GetSdk, GetSdkTypes and GetSdkType: generated client SDKs of a stage's deployed API (see
//! [`crate::sdk`]), answered as a zip attachment as AWS does.

use super::{read, Reply};
use crate::admin::error::ApiError;
use crate::admin::paging::{PageRequest, Query};
use crate::admin::wire::Page;
use crate::admin::AdminState;
use crate::sdk::{self, Refusal, SdkTypeInfo};
use serde::Serialize;

/// `SdkType` on the wire.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SdkTypeOut {
    id: &'static str,
    friendly_name: &'static str,
    description: &'static str,
    /// Neither type takes configuration properties (AWS's javascript has none either).
    configuration_properties: Vec<()>,
}

fn out(t: &SdkTypeInfo) -> SdkTypeOut {
    SdkTypeOut {
        id: t.id,
        friendly_name: t.friendly_name,
        description: t.description,
        configuration_properties: Vec::new(),
    }
}

fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::NotSupported(_) => ApiError::bad_request(r.to_string()),
        Refusal::Unknown(_) => ApiError::not_found(r.to_string()),
    }
}

/// GetSdkTypes.
pub fn list_types(query: &Query) -> Result<Reply, ApiError> {
    let page = PageRequest::from_query(query)?;
    let items = sdk::SDK_TYPES
        .iter()
        .map(|t| (t.id.to_string(), out(t)))
        .collect();
    let (item, position) = page.apply(items);
    Reply::json(200, &Page { item, position })
}

/// GetSdkType.
pub fn get_type(id: &str) -> Result<Reply, ApiError> {
    Reply::json(200, &out(sdk::sdk_type(id).map_err(refusal)?))
}

/// The attachment's name, as AWS names it: `javascript_2016-05-18_20-51Z.zip`.
fn file_name(sdk_type: &str, epoch: i64) -> String {
    let d = crate::sigv4::format_amz_date(epoch);
    let (date, time) = d.split_at(8);
    format!(
        "{sdk_type}_{}-{}-{}_{}-{}Z.zip",
        &date[..4],
        &date[4..6],
        &date[6..8],
        &time[1..3],
        &time[3..5]
    )
}

/// The stage's invoke URL on this node's data plane (no trailing `/`).
pub(super) fn invoke_url(state: &AdminState, api_id: &str, stage: &str) -> String {
    let address = state.invoke_address.as_deref().unwrap_or("127.0.0.1:8080");
    format!("http://{address}/restapis/{api_id}/{stage}/_user_request_")
}

/// GetSdk: the stage's deployed API as an SDK of `sdk_type`, zipped.
pub fn get(
    state: &AdminState,
    api_id: &str,
    stage: &str,
    sdk_type: &str,
    query: &Query,
) -> Result<Reply, ApiError> {
    let info = sdk::sdk_type(sdk_type).map_err(|r| match r {
        // GetSdk names an unknown type a bad request, as AWS does.
        Refusal::Unknown(_) => ApiError::bad_request(r.to_string()),
        other => refusal(other),
    })?;
    // `parameters` are the type's configuration properties; these types have none.
    if let Some((name, _)) = query.pairs().next() {
        return Err(ApiError::bad_request(format!(
            "Invalid SDK parameter specified: {name}. SDK type {sdk_type} takes no parameters"
        )));
    }
    let region = state.region.clone().unwrap_or_else(|| "us-east-1".into());
    let invoke_url = invoke_url(state, api_id, stage);
    let files = read(state, |reg| {
        let api = reg.api(api_id)?;
        let (_, deployment) = reg.deployed_stage(api_id, stage).ok_or_else(|| {
            ApiError::not_found(format!("Invalid stage identifier specified: {stage}"))
        })?;
        Ok(sdk::files(
            info.kind,
            &sdk::Input {
                api,
                deployment,
                invoke_url: &invoke_url,
                region: &region,
            },
        ))
    })?;
    let body = sdk::zip(&files)
        .map_err(|e| ApiError::internal(format!("could not write the SDK's zip: {e}")))?;
    Ok(Reply {
        status: 200,
        body,
        content_type: Some("application/octet-stream"),
        attachment: Some(file_name(sdk_type, crate::ids::now_epoch())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_named_as_aws() {
        assert_eq!(
            file_name("javascript", 1_463_604_660),
            "javascript_2016-05-18_20-51Z.zip"
        );
    }

    #[test]
    fn types_listed_and_refused() {
        let all: serde_json::Value =
            serde_json::from_slice(&list_types(&Query::parse("")).unwrap().body).unwrap();
        assert_eq!(all["item"][0]["id"], "javascript");
        assert_eq!(all["item"][1]["id"], "typescript");
        assert_eq!(
            all["item"][0]["configurationProperties"],
            serde_json::json!([])
        );
        let one: serde_json::Value =
            serde_json::from_slice(&list_types(&Query::parse("limit=1")).unwrap().body).unwrap();
        assert_eq!(one["position"], "typescript");
        let e = get_type("android").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("not supported"), "{}", e.message);
        assert_eq!(get_type("cobol").unwrap_err().status, 404);
    }
}
