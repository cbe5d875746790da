//! The layouts of [`RestApi`], [`Deployment`] and the [`Registry`] written by builds before
//! API-level objects (gateway responses, models, request validators) existed: snapshots of
//! format version 1 ([`crate::codec::FORMAT_VERSION`]) hold these. Bincode is not
//! self-describing, so an older snapshot decodes only into the layout it was written in; these
//! types are that layout, converted into the current one with no objects.

use super::{Registry, Sessions, UsageLedger};
use crate::command::Scope;
use crate::model::{ApiKey, Deployment, Resource, RestApi, RestApiSettings, Stage, UsagePlan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// [`RestApi`] before its gateway responses, models and request validators.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestApiBeforeObjects {
    pub id: String,
    pub settings: RestApiSettings,
    pub created_date: i64,
    pub root_resource_id: String,
    pub resources: BTreeMap<String, Resource>,
    pub deployments: BTreeMap<String, DeploymentBeforeObjects>,
    pub stages: BTreeMap<String, Stage>,
}

/// [`Deployment`] before it froze the API's gateway responses, models and validators.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentBeforeObjects {
    pub id: String,
    pub description: Option<String>,
    pub created_date: i64,
    pub root_resource_id: String,
    pub resources: BTreeMap<String, Resource>,
}

impl From<DeploymentBeforeObjects> for Deployment {
    fn from(d: DeploymentBeforeObjects) -> Deployment {
        Deployment {
            id: d.id,
            description: d.description,
            created_date: d.created_date,
            root_resource_id: d.root_resource_id,
            resources: d.resources,
            gateway_responses: BTreeMap::new(),
            models: BTreeMap::new(),
            request_validators: BTreeMap::new(),
        }
    }
}

impl From<RestApiBeforeObjects> for RestApi {
    fn from(a: RestApiBeforeObjects) -> RestApi {
        RestApi {
            id: a.id,
            settings: a.settings,
            created_date: a.created_date,
            root_resource_id: a.root_resource_id,
            resources: a.resources,
            deployments: a
                .deployments
                .into_iter()
                .map(|(k, d)| (k, d.into()))
                .collect(),
            stages: a.stages,
            gateway_responses: BTreeMap::new(),
            models: BTreeMap::new(),
            request_validators: BTreeMap::new(),
        }
    }
}

impl From<&RestApi> for RestApiBeforeObjects {
    /// The older layout of `a`, dropping its objects (for tests that write older snapshots).
    fn from(a: &RestApi) -> RestApiBeforeObjects {
        RestApiBeforeObjects {
            id: a.id.clone(),
            settings: a.settings.clone(),
            created_date: a.created_date,
            root_resource_id: a.root_resource_id.clone(),
            resources: a.resources.clone(),
            deployments: a
                .deployments
                .iter()
                .map(|(k, d)| {
                    let old = DeploymentBeforeObjects {
                        id: d.id.clone(),
                        description: d.description.clone(),
                        created_date: d.created_date,
                        root_resource_id: d.root_resource_id.clone(),
                        resources: d.resources.clone(),
                    };
                    (k.clone(), old)
                })
                .collect(),
            stages: a.stages.clone(),
        }
    }
}

/// Converts an older layout's APIs.
pub(super) fn upgrade_apis(
    apis: BTreeMap<String, RestApiBeforeObjects>,
) -> BTreeMap<String, RestApi> {
    apis.into_iter().map(|(k, a)| (k, a.into())).collect()
}

/// The older layout of a map of APIs (for tests that write older snapshots).
pub fn downgrade_apis(apis: &BTreeMap<String, RestApi>) -> BTreeMap<String, RestApiBeforeObjects> {
    apis.iter().map(|(k, a)| (k.clone(), a.into())).collect()
}

/// The registry as format-version-1 snapshots of the last builds before API-level objects
/// stored it: every field of [`Registry`], with APIs in their older layout.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegistryBeforeObjects {
    pub apis: BTreeMap<String, RestApiBeforeObjects>,
    pub usage: UsageLedger,
    pub api_keys: BTreeMap<String, ApiKey>,
    pub usage_plans: BTreeMap<String, UsagePlan>,
    pub cache_epochs: BTreeMap<(String, String), u64>,
    pub versions: BTreeMap<Scope, u64>,
    pub versioned: bool,
    pub quota_starts: BTreeMap<String, i64>,
    pub sessions: Sessions,
}

impl From<RegistryBeforeObjects> for Registry {
    fn from(old: RegistryBeforeObjects) -> Registry {
        Registry {
            apis: upgrade_apis(old.apis),
            usage: old.usage,
            api_keys: old.api_keys,
            usage_plans: old.usage_plans,
            cache_epochs: old.cache_epochs,
            versions: old.versions,
            versioned: old.versioned,
            quota_starts: old.quota_starts,
            sessions: old.sessions,
            iam: Default::default(),
        }
    }
}

impl From<&Registry> for RegistryBeforeObjects {
    /// The older layout of `r`, dropping API-level objects (for tests that write older
    /// snapshots).
    fn from(r: &Registry) -> RegistryBeforeObjects {
        RegistryBeforeObjects {
            apis: downgrade_apis(&r.apis),
            usage: r.usage.clone(),
            api_keys: r.api_keys.clone(),
            usage_plans: r.usage_plans.clone(),
            cache_epochs: r.cache_epochs.clone(),
            versions: r.versions.clone(),
            versioned: r.versioned,
            quota_starts: r.quota_starts.clone(),
            sessions: r.sessions.clone(),
        }
    }
}
