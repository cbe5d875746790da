//! Request bodies of the API key and usage plan operations.

use serde::Deserialize;
use std::collections::BTreeMap;

/// CreateApiKey. (`generateDistinctId`, deprecated by AWS, is accepted and ignored; a
/// non-empty `stageKeys` is refused: keys reach stages through usage plans.)
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct CreateApiKeyIn {
    pub stage_keys: Option<Vec<StageKeyIn>>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub value: Option<String>,
    pub customer_id: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
}

/// `StageKey` as sent (read only to type-check it: a non-empty list is refused).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct StageKeyIn {
    pub rest_api_id: Option<String>,
    pub stage_name: Option<String>,
}

/// `ThrottleSettings` as sent (either member may be left out).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ThrottleIn {
    pub burst_limit: Option<i64>,
    pub rate_limit: Option<f64>,
}

/// `QuotaSettings` as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct QuotaIn {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub period: Option<String>,
}

/// `ApiStage` as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ApiStageIn {
    pub api_id: Option<String>,
    pub stage: Option<String>,
    pub throttle: Option<BTreeMap<String, ThrottleIn>>,
}

/// CreateUsagePlan.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct CreateUsagePlanIn {
    pub name: Option<String>,
    pub description: Option<String>,
    pub api_stages: Option<Vec<ApiStageIn>>,
    pub throttle: Option<ThrottleIn>,
    pub quota: Option<QuotaIn>,
    pub tags: Option<BTreeMap<String, String>>,
}

/// CreateUsagePlanKey.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct CreateUsagePlanKeyIn {
    pub key_id: Option<String>,
    pub key_type: Option<String>,
}
