//! The AWS JSON shapes of gateway responses (`GatewayResponse`, `PutGatewayResponseRequest`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tollgate_proto::gateway_response::DEFAULT_TEMPLATE;
use tollgate_proto::model::GatewayResponse;
use tollgate_proto::GatewayResponseType;

/// `GatewayResponse`: an API's own (`defaultResponse: false`) or AWS's default for the type.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct GatewayResponseOut {
    pub response_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub response_parameters: BTreeMap<String, String>,
    pub response_templates: BTreeMap<String, String>,
    pub default_response: bool,
}

/// The API's own response of a type.
pub fn gateway_response(r: &GatewayResponse) -> GatewayResponseOut {
    GatewayResponseOut {
        response_type: r.response_type.as_str(),
        status_code: r.status_code.clone(),
        response_parameters: r.response_parameters.clone(),
        response_templates: r.response_templates.clone(),
        default_response: false,
    }
}

/// AWS's default response of a type the API has not set.
pub fn default_gateway_response(t: GatewayResponseType) -> GatewayResponseOut {
    GatewayResponseOut {
        response_type: t.as_str(),
        status_code: t.default_status().map(|s| s.to_string()),
        response_parameters: BTreeMap::new(),
        response_templates: BTreeMap::from([(
            "application/json".to_string(),
            DEFAULT_TEMPLATE.to_string(),
        )]),
        default_response: true,
    }
}

/// The body of PutGatewayResponse.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct PutGatewayResponseIn {
    pub status_code: Option<String>,
    pub response_parameters: Option<BTreeMap<String, String>>,
    pub response_templates: Option<BTreeMap<String, String>>,
}
