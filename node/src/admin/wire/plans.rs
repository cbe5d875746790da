//! The AWS JSON shapes of API keys, usage plans, usage plan keys and usage.

use serde::Serialize;
use std::collections::BTreeMap;
use tollgate_proto::model::{ApiKey, ApiStage, QuotaSettings, ThrottleSettings, UsagePlan};

/// `ApiKey`. The value is shown only when asked for (`includeValue(s)`) or just created.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ApiKeyOut {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub enabled: bool,
    pub created_date: i64,
    pub last_updated_date: i64,
    pub stage_keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
}

/// Converts a key; `with_value` shows its secret.
pub fn api_key(k: &ApiKey, with_value: bool) -> ApiKeyOut {
    ApiKeyOut {
        id: k.id.clone(),
        value: with_value.then(|| k.value.clone()),
        name: k.name.clone(),
        customer_id: k.customer_id().map(String::from),
        description: k.description().map(String::from),
        enabled: k.enabled,
        created_date: k.created_date,
        last_updated_date: k.last_updated_date,
        stage_keys: Vec::new(),
        tags: (!k.tags().is_empty()).then(|| k.tags().clone()),
    }
}

/// `ThrottleSettings`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ThrottleOut {
    pub burst_limit: i32,
    pub rate_limit: f64,
}

/// Converts throttle settings.
pub fn throttle(t: &ThrottleSettings) -> ThrottleOut {
    ThrottleOut {
        burst_limit: t.burst_limit,
        rate_limit: t.rate_limit,
    }
}

/// `QuotaSettings`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct QuotaOut {
    pub limit: i64,
    pub offset: i64,
    pub period: String,
}

/// Converts quota settings.
pub fn quota(q: &QuotaSettings) -> QuotaOut {
    QuotaOut {
        limit: q.limit,
        offset: q.offset,
        period: q.period.to_string(),
    }
}

/// `ApiStage`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ApiStageOut {
    pub api_id: String,
    pub stage: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle: Option<BTreeMap<String, ThrottleOut>>,
}

/// Converts an API stage of a plan.
pub fn api_stage(s: &ApiStage) -> ApiStageOut {
    ApiStageOut {
        api_id: s.api_id.clone(),
        stage: s.stage.clone(),
        throttle: (!s.throttle.is_empty()).then(|| {
            s.throttle
                .iter()
                .map(|(k, t)| (k.clone(), throttle(t)))
                .collect()
        }),
    }
}

/// `UsagePlan`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct UsagePlanOut {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub api_stages: Vec<ApiStageOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
}

/// Converts a usage plan (its keys are listed by GetUsagePlanKeys, not here).
pub fn usage_plan(p: &UsagePlan) -> UsagePlanOut {
    UsagePlanOut {
        id: p.id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        api_stages: p.api_stages.iter().map(api_stage).collect(),
        throttle: p.throttle.as_ref().map(throttle),
        quota: p.quota.as_ref().map(quota),
        tags: (!p.tags.is_empty()).then(|| p.tags.clone()),
    }
}

/// `UsagePlanKey`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct UsagePlanKeyOut {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Converts a key subscribed to a plan.
pub fn usage_plan_key(k: &ApiKey) -> UsagePlanKeyOut {
    UsagePlanKeyOut {
        id: k.id.clone(),
        kind: "API_KEY",
        value: k.value.clone(),
        name: k.name.clone(),
    }
}

/// `Usage`: per key, one `[used, remaining]` per day (`[used]` when the plan has no quota).
/// The member is `values` on the wire (the SDKs call it `items`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct UsageOut {
    pub usage_plan_id: String,
    pub start_date: String,
    pub end_date: String,
    pub values: BTreeMap<String, Vec<Vec<i64>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

/// `ApiKeyIds` (ImportApiKeys' answer).
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct ApiKeyIdsOut {
    pub ids: Vec<String>,
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, to_value};
    use std::collections::BTreeSet;

    #[test]
    fn api_key_shape_hides_the_value_unless_asked() {
        let k = ApiKey {
            id: "k1".into(),
            value: "v".repeat(20),
            name: Some("n".into()),
            enabled: true,
            created_date: 3,
            last_updated_date: 4,
            ..Default::default()
        };
        assert_eq!(
            to_value(api_key(&k, false)).unwrap(),
            json!({"id": "k1", "name": "n", "enabled": true, "createdDate": 3,
                   "lastUpdatedDate": 4, "stageKeys": []})
        );
        assert_eq!(
            to_value(api_key(&k, true)).unwrap()["value"],
            "v".repeat(20)
        );
        assert_eq!(
            to_value(usage_plan_key(&k)).unwrap(),
            json!({"id": "k1", "type": "API_KEY", "value": "v".repeat(20), "name": "n"})
        );
    }

    #[test]
    fn usage_plan_shape() {
        let p = UsagePlan {
            id: "p1".into(),
            name: "gold".into(),
            api_stages: vec![ApiStage {
                api_id: "a1".into(),
                stage: "prod".into(),
                throttle: BTreeMap::from([(
                    "/pets/GET".into(),
                    ThrottleSettings {
                        burst_limit: 2,
                        rate_limit: 1.5,
                    },
                )]),
            }],
            throttle: Some(ThrottleSettings {
                burst_limit: 10,
                rate_limit: 5.0,
            }),
            quota: Some(QuotaSettings {
                limit: 1000,
                offset: 0,
                period: tollgate_proto::model::QuotaPeriod::Month.into(),
            }),
            key_ids: BTreeSet::from(["k1".to_string()]),
            ..Default::default()
        };
        assert_eq!(
            to_value(usage_plan(&p)).unwrap(),
            json!({
                "id": "p1", "name": "gold",
                "apiStages": [{"apiId": "a1", "stage": "prod",
                               "throttle": {"/pets/GET": {"burstLimit": 2, "rateLimit": 1.5}}}],
                "throttle": {"burstLimit": 10, "rateLimit": 5.0},
                "quota": {"limit": 1000, "offset": 0, "period": "MONTH"}
            })
        );
        let bare = UsagePlan {
            id: "p2".into(),
            name: "free".into(),
            ..Default::default()
        };
        assert_eq!(
            to_value(usage_plan(&bare)).unwrap(),
            json!({"id": "p2", "name": "free", "apiStages": []})
        );
    }
}
