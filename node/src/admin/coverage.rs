//! Every operation of API Gateway's REST control plane as botocore's service model defines it
//! (`node/tests/data/botocore/`), and what Tollgate does with it: implements it, leaves it to
//! another open issue, or refuses it with a clear "not supported" answer.
//!
//! This table is the one place that says so: `docs/COMPATIBILITY.md` is generated from it
//! ([`render_markdown`]; a unit test checks the file is current), the end-to-end test
//! `node/tests/compat.rs` sends every operation to a real node and checks its answer against
//! it, and the admin API answers the operations marked [`Coverage::NotSupported`] with
//! [`refusal`] (a 400 naming the operation) rather than `UnknownOperationException`.

use super::error::ApiError;
use super::paging::Query;

/// Why an operation is not supported, in words for its refusal and the docs.
pub struct Why {
    /// What the operation family is (the docs' heading).
    pub what: &'static str,
    /// The sentence after "… is not supported by Tollgate: ".
    pub reason: &'static str,
    /// The open issue that will implement it, when one will.
    pub issue: Option<u32>,
}

impl Why {
    /// VPC links.
    pub const VPC_LINKS: Why = Why {
        what: "VPC links",
        reason: "VPC links reach private resources through an AWS Network Load Balancer in an AWS VPC, which a self-hosted gateway cannot reach; point an HTTP integration at the backend's address instead",
        issue: None,
    };
    /// Access associations of private custom domain names.
    pub const PRIVATE_DOMAIN_NAMES: Why = Why {
        what: "private custom domain names",
        reason: "access associations tie a private custom domain name to an AWS VPC endpoint, which a self-hosted gateway has none of",
        issue: None,
    };
    /// Importing documentation parts from an OpenAPI document.
    pub const IMPORT_DOCUMENTATION: Why = Why {
        what: "importing documentation from OpenAPI",
        reason: "importing documentation parts from an OpenAPI document is not implemented; create them with CreateDocumentationPart",
        issue: None,
    };
}

/// What Tollgate does with one operation.
pub enum Coverage {
    /// Routed to its implementation.
    Implemented,
    /// Left to another open issue (until it lands, the operation may answer
    /// `UnknownOperationException`).
    Owned {
        /// The issue's number.
        issue: u32,
        /// What that issue builds.
        topic: &'static str,
    },
    /// Answered 400 `BadRequestException` naming the operation ([`refusal`]).
    NotSupported(Why),
}

/// One operation of the service model.
pub struct OperationEntry {
    /// botocore's operation name.
    pub name: &'static str,
    /// Its HTTP method.
    pub method: &'static str,
    /// Its `requestUri`: a path template, sometimes with a fixed query (`?mode=import`).
    pub uri: &'static str,
    /// What Tollgate does with it.
    pub coverage: Coverage,
}

const fn op(
    name: &'static str,
    method: &'static str,
    uri: &'static str,
    coverage: Coverage,
) -> OperationEntry {
    OperationEntry {
        name,
        method,
        uri,
        coverage,
    }
}

/// Every operation of `apigateway` 2015-07-09 (botocore's service model), by name.
pub const OPERATIONS: &[OperationEntry] = &[
    op("CreateApiKey", "POST", "/apikeys", Coverage::Implemented),
    op("CreateAuthorizer", "POST", "/restapis/{restapi_id}/authorizers", Coverage::Implemented),
    op("CreateBasePathMapping", "POST", "/domainnames/{domain_name}/basepathmappings", Coverage::Implemented),
    op("CreateDeployment", "POST", "/restapis/{restapi_id}/deployments", Coverage::Implemented),
    op("CreateDocumentationPart", "POST", "/restapis/{restapi_id}/documentation/parts", Coverage::Implemented),
    op("CreateDocumentationVersion", "POST", "/restapis/{restapi_id}/documentation/versions", Coverage::Implemented),
    op("CreateDomainName", "POST", "/domainnames", Coverage::Implemented),
    op("CreateDomainNameAccessAssociation", "POST", "/domainnameaccessassociations", Coverage::NotSupported(Why::PRIVATE_DOMAIN_NAMES)),
    op("CreateModel", "POST", "/restapis/{restapi_id}/models", Coverage::Implemented),
    op("CreateRequestValidator", "POST", "/restapis/{restapi_id}/requestvalidators", Coverage::Implemented),
    op("CreateResource", "POST", "/restapis/{restapi_id}/resources/{parent_id}", Coverage::Implemented),
    op("CreateRestApi", "POST", "/restapis", Coverage::Implemented),
    op("CreateStage", "POST", "/restapis/{restapi_id}/stages", Coverage::Implemented),
    op("CreateUsagePlan", "POST", "/usageplans", Coverage::Implemented),
    op("CreateUsagePlanKey", "POST", "/usageplans/{usageplanId}/keys", Coverage::Implemented),
    op("CreateVpcLink", "POST", "/vpclinks", Coverage::NotSupported(Why::VPC_LINKS)),
    op("DeleteApiKey", "DELETE", "/apikeys/{api_Key}", Coverage::Implemented),
    op("DeleteAuthorizer", "DELETE", "/restapis/{restapi_id}/authorizers/{authorizer_id}", Coverage::Implemented),
    op("DeleteBasePathMapping", "DELETE", "/domainnames/{domain_name}/basepathmappings/{base_path}", Coverage::Implemented),
    op("DeleteClientCertificate", "DELETE", "/clientcertificates/{clientcertificate_id}", Coverage::Implemented),
    op("DeleteDeployment", "DELETE", "/restapis/{restapi_id}/deployments/{deployment_id}", Coverage::Implemented),
    op("DeleteDocumentationPart", "DELETE", "/restapis/{restapi_id}/documentation/parts/{part_id}", Coverage::Implemented),
    op("DeleteDocumentationVersion", "DELETE", "/restapis/{restapi_id}/documentation/versions/{doc_version}", Coverage::Implemented),
    op("DeleteDomainName", "DELETE", "/domainnames/{domain_name}", Coverage::Implemented),
    op("DeleteDomainNameAccessAssociation", "DELETE", "/domainnameaccessassociations/{domain_name_access_association_arn}", Coverage::NotSupported(Why::PRIVATE_DOMAIN_NAMES)),
    op("DeleteGatewayResponse", "DELETE", "/restapis/{restapi_id}/gatewayresponses/{response_type}", Coverage::Implemented),
    op("DeleteIntegration", "DELETE", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration", Coverage::Implemented),
    op("DeleteIntegrationResponse", "DELETE", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration/responses/{status_code}", Coverage::Implemented),
    op("DeleteMethod", "DELETE", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}", Coverage::Implemented),
    op("DeleteMethodResponse", "DELETE", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/responses/{status_code}", Coverage::Implemented),
    op("DeleteModel", "DELETE", "/restapis/{restapi_id}/models/{model_name}", Coverage::Implemented),
    op("DeleteRequestValidator", "DELETE", "/restapis/{restapi_id}/requestvalidators/{requestvalidator_id}", Coverage::Implemented),
    op("DeleteResource", "DELETE", "/restapis/{restapi_id}/resources/{resource_id}", Coverage::Implemented),
    op("DeleteRestApi", "DELETE", "/restapis/{restapi_id}", Coverage::Implemented),
    op("DeleteStage", "DELETE", "/restapis/{restapi_id}/stages/{stage_name}", Coverage::Implemented),
    op("DeleteUsagePlan", "DELETE", "/usageplans/{usageplanId}", Coverage::Implemented),
    op("DeleteUsagePlanKey", "DELETE", "/usageplans/{usageplanId}/keys/{keyId}", Coverage::Implemented),
    op("DeleteVpcLink", "DELETE", "/vpclinks/{vpclink_id}", Coverage::NotSupported(Why::VPC_LINKS)),
    op("FlushStageAuthorizersCache", "DELETE", "/restapis/{restapi_id}/stages/{stage_name}/cache/authorizers", Coverage::Implemented),
    op("FlushStageCache", "DELETE", "/restapis/{restapi_id}/stages/{stage_name}/cache/data", Coverage::Implemented),
    op("GenerateClientCertificate", "POST", "/clientcertificates", Coverage::Implemented),
    op("GetAccount", "GET", "/account", Coverage::Implemented),
    op("GetApiKey", "GET", "/apikeys/{api_Key}", Coverage::Implemented),
    op("GetApiKeys", "GET", "/apikeys", Coverage::Implemented),
    op("GetAuthorizer", "GET", "/restapis/{restapi_id}/authorizers/{authorizer_id}", Coverage::Implemented),
    op("GetAuthorizers", "GET", "/restapis/{restapi_id}/authorizers", Coverage::Implemented),
    op("GetBasePathMapping", "GET", "/domainnames/{domain_name}/basepathmappings/{base_path}", Coverage::Implemented),
    op("GetBasePathMappings", "GET", "/domainnames/{domain_name}/basepathmappings", Coverage::Implemented),
    op("GetClientCertificate", "GET", "/clientcertificates/{clientcertificate_id}", Coverage::Implemented),
    op("GetClientCertificates", "GET", "/clientcertificates", Coverage::Implemented),
    op("GetDeployment", "GET", "/restapis/{restapi_id}/deployments/{deployment_id}", Coverage::Implemented),
    op("GetDeployments", "GET", "/restapis/{restapi_id}/deployments", Coverage::Implemented),
    op("GetDocumentationPart", "GET", "/restapis/{restapi_id}/documentation/parts/{part_id}", Coverage::Implemented),
    op("GetDocumentationParts", "GET", "/restapis/{restapi_id}/documentation/parts", Coverage::Implemented),
    op("GetDocumentationVersion", "GET", "/restapis/{restapi_id}/documentation/versions/{doc_version}", Coverage::Implemented),
    op("GetDocumentationVersions", "GET", "/restapis/{restapi_id}/documentation/versions", Coverage::Implemented),
    op("GetDomainName", "GET", "/domainnames/{domain_name}", Coverage::Implemented),
    op("GetDomainNameAccessAssociations", "GET", "/domainnameaccessassociations", Coverage::NotSupported(Why::PRIVATE_DOMAIN_NAMES)),
    op("GetDomainNames", "GET", "/domainnames", Coverage::Implemented),
    op("GetExport", "GET", "/restapis/{restapi_id}/stages/{stage_name}/exports/{export_type}", Coverage::Implemented),
    op("GetGatewayResponse", "GET", "/restapis/{restapi_id}/gatewayresponses/{response_type}", Coverage::Implemented),
    op("GetGatewayResponses", "GET", "/restapis/{restapi_id}/gatewayresponses", Coverage::Implemented),
    op("GetIntegration", "GET", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration", Coverage::Implemented),
    op("GetIntegrationResponse", "GET", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration/responses/{status_code}", Coverage::Implemented),
    op("GetMethod", "GET", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}", Coverage::Implemented),
    op("GetMethodResponse", "GET", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/responses/{status_code}", Coverage::Implemented),
    op("GetModel", "GET", "/restapis/{restapi_id}/models/{model_name}", Coverage::Implemented),
    op("GetModelTemplate", "GET", "/restapis/{restapi_id}/models/{model_name}/default_template", Coverage::Implemented),
    op("GetModels", "GET", "/restapis/{restapi_id}/models", Coverage::Implemented),
    op("GetRequestValidator", "GET", "/restapis/{restapi_id}/requestvalidators/{requestvalidator_id}", Coverage::Implemented),
    op("GetRequestValidators", "GET", "/restapis/{restapi_id}/requestvalidators", Coverage::Implemented),
    op("GetResource", "GET", "/restapis/{restapi_id}/resources/{resource_id}", Coverage::Implemented),
    op("GetResources", "GET", "/restapis/{restapi_id}/resources", Coverage::Implemented),
    op("GetRestApi", "GET", "/restapis/{restapi_id}", Coverage::Implemented),
    op("GetRestApis", "GET", "/restapis", Coverage::Implemented),
    op("GetSdk", "GET", "/restapis/{restapi_id}/stages/{stage_name}/sdks/{sdk_type}", Coverage::Implemented),
    op("GetSdkType", "GET", "/sdktypes/{sdktype_id}", Coverage::Implemented),
    op("GetSdkTypes", "GET", "/sdktypes", Coverage::Implemented),
    op("GetStage", "GET", "/restapis/{restapi_id}/stages/{stage_name}", Coverage::Implemented),
    op("GetStages", "GET", "/restapis/{restapi_id}/stages", Coverage::Implemented),
    op("GetTags", "GET", "/tags/{resource_arn}", Coverage::Implemented),
    op("GetUsage", "GET", "/usageplans/{usageplanId}/usage", Coverage::Implemented),
    op("GetUsagePlan", "GET", "/usageplans/{usageplanId}", Coverage::Implemented),
    op("GetUsagePlanKey", "GET", "/usageplans/{usageplanId}/keys/{keyId}", Coverage::Implemented),
    op("GetUsagePlanKeys", "GET", "/usageplans/{usageplanId}/keys", Coverage::Implemented),
    op("GetUsagePlans", "GET", "/usageplans", Coverage::Implemented),
    op("GetVpcLink", "GET", "/vpclinks/{vpclink_id}", Coverage::NotSupported(Why::VPC_LINKS)),
    op("GetVpcLinks", "GET", "/vpclinks", Coverage::NotSupported(Why::VPC_LINKS)),
    op("ImportApiKeys", "POST", "/apikeys?mode=import", Coverage::Implemented),
    op("ImportDocumentationParts", "PUT", "/restapis/{restapi_id}/documentation/parts", Coverage::NotSupported(Why::IMPORT_DOCUMENTATION)),
    op("ImportRestApi", "POST", "/restapis?mode=import", Coverage::Implemented),
    op("PutGatewayResponse", "PUT", "/restapis/{restapi_id}/gatewayresponses/{response_type}", Coverage::Implemented),
    op("PutIntegration", "PUT", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration", Coverage::Implemented),
    op("PutIntegrationResponse", "PUT", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration/responses/{status_code}", Coverage::Implemented),
    op("PutMethod", "PUT", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}", Coverage::Implemented),
    op("PutMethodResponse", "PUT", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/responses/{status_code}", Coverage::Implemented),
    op("PutRestApi", "PUT", "/restapis/{restapi_id}", Coverage::Implemented),
    op("RejectDomainNameAccessAssociation", "POST", "/rejectdomainnameaccessassociations", Coverage::NotSupported(Why::PRIVATE_DOMAIN_NAMES)),
    op("TagResource", "PUT", "/tags/{resource_arn}", Coverage::Implemented),
    op("TestInvokeAuthorizer", "POST", "/restapis/{restapi_id}/authorizers/{authorizer_id}", Coverage::Implemented),
    op("TestInvokeMethod", "POST", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}", Coverage::Implemented),
    op("UntagResource", "DELETE", "/tags/{resource_arn}", Coverage::Implemented),
    op("UpdateAccount", "PATCH", "/account", Coverage::Implemented),
    op("UpdateApiKey", "PATCH", "/apikeys/{api_Key}", Coverage::Implemented),
    op("UpdateAuthorizer", "PATCH", "/restapis/{restapi_id}/authorizers/{authorizer_id}", Coverage::Implemented),
    op("UpdateBasePathMapping", "PATCH", "/domainnames/{domain_name}/basepathmappings/{base_path}", Coverage::Implemented),
    op("UpdateClientCertificate", "PATCH", "/clientcertificates/{clientcertificate_id}", Coverage::Implemented),
    op("UpdateDeployment", "PATCH", "/restapis/{restapi_id}/deployments/{deployment_id}", Coverage::Implemented),
    op("UpdateDocumentationPart", "PATCH", "/restapis/{restapi_id}/documentation/parts/{part_id}", Coverage::Implemented),
    op("UpdateDocumentationVersion", "PATCH", "/restapis/{restapi_id}/documentation/versions/{doc_version}", Coverage::Implemented),
    op("UpdateDomainName", "PATCH", "/domainnames/{domain_name}", Coverage::Implemented),
    op("UpdateGatewayResponse", "PATCH", "/restapis/{restapi_id}/gatewayresponses/{response_type}", Coverage::Implemented),
    op("UpdateIntegration", "PATCH", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration", Coverage::Implemented),
    op("UpdateIntegrationResponse", "PATCH", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/integration/responses/{status_code}", Coverage::Implemented),
    op("UpdateMethod", "PATCH", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}", Coverage::Implemented),
    op("UpdateMethodResponse", "PATCH", "/restapis/{restapi_id}/resources/{resource_id}/methods/{http_method}/responses/{status_code}", Coverage::Implemented),
    op("UpdateModel", "PATCH", "/restapis/{restapi_id}/models/{model_name}", Coverage::Implemented),
    op("UpdateRequestValidator", "PATCH", "/restapis/{restapi_id}/requestvalidators/{requestvalidator_id}", Coverage::Implemented),
    op("UpdateResource", "PATCH", "/restapis/{restapi_id}/resources/{resource_id}", Coverage::Implemented),
    op("UpdateRestApi", "PATCH", "/restapis/{restapi_id}", Coverage::Implemented),
    op("UpdateStage", "PATCH", "/restapis/{restapi_id}/stages/{stage_name}", Coverage::Implemented),
    op("UpdateUsage", "PATCH", "/usageplans/{usageplanId}/keys/{keyId}/usage", Coverage::Implemented),
    op("UpdateUsagePlan", "PATCH", "/usageplans/{usageplanId}", Coverage::Implemented),
    op("UpdateVpcLink", "PATCH", "/vpclinks/{vpclink_id}", Coverage::NotSupported(Why::VPC_LINKS)),
];

/// Whether `path` (raw, no query) and `query` fit the request URI template `uri`: each
/// `{label}` one non-empty segment, other segments literally (after percent-decoding), and
/// each `name=value` of the template's query present.
fn matches(uri: &str, path: &str, query: &Query) -> bool {
    let (template, fixed) = uri.split_once('?').unwrap_or((uri, ""));
    let split = |p: &str| -> Vec<String> {
        p.trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect()
    };
    let want = split(template);
    let got = split(path);
    let fits = want.len() == got.len()
        && want
            .iter()
            .zip(&got)
            .all(|(w, g)| (w.starts_with('{') && w.ends_with('}')) || w == g);
    fits && fixed.split('&').filter(|p| !p.is_empty()).all(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        query.get(k) == Some(v)
    })
}

/// The answer to a call of an operation Tollgate does not support (`None` for any other
/// call): 400 `BadRequestException` naming the operation and why.
pub fn refusal(method: &str, path: &str, query: &Query) -> Option<ApiError> {
    OPERATIONS.iter().find_map(|e| match &e.coverage {
        Coverage::NotSupported(why) if e.method == method && matches(e.uri, path, query) => {
            Some(ApiError::bad_request(format!(
                "{} is not supported by Tollgate: {}.",
                e.name, why.reason
            )))
        }
        _ => None,
    })
}

/// How many operations are implemented, owned by other issues, and not supported.
pub fn counts() -> (usize, usize, usize) {
    let mut c = (0, 0, 0);
    for e in OPERATIONS {
        match e.coverage {
            Coverage::Implemented => c.0 += 1,
            Coverage::Owned { .. } => c.1 += 1,
            Coverage::NotSupported(_) => c.2 += 1,
        }
    }
    c
}

/// `docs/COMPATIBILITY.md`, generated from [`OPERATIONS`].
pub fn render_markdown() -> String {
    let (implemented, owned, unsupported) = counts();
    let mut s = String::new();
    s.push_str("# Compatibility with the API Gateway REST control plane\n\n");
    s.push_str(
        "<!-- Generated from node/src/admin/coverage.rs; do not edit. Regenerate with:\n     \
         TOLLGATE_REGENERATE_DOCS=1 cargo test -p tollgate-node --lib coverage -->\n\n",
    );
    s.push_str(&format!(
        "Every operation of botocore's model of `apigateway` (2015-07-09, {} operations; a copy \
         is in `node/tests/data/botocore/`) and what Tollgate does with it. `node/tests/compat.rs` \
         sends each one to a running node and checks the answer against this table; \
         `node/tests/compat_shapes.rs` calls every implemented one with a valid request (directly \
         and through boto3) and checks its success status against the model's `responseCode` and \
         its answer against the model's output shape.\n\n",
        OPERATIONS.len()
    ));
    s.push_str(&format!(
        "- **implemented**: {implemented}\n- **owned by another open issue** (until it lands, the \
         call may answer `UnknownOperationException`): {owned}\n- **not supported**: \
         {unsupported} — answered `400 BadRequestException` with a message naming the operation \
         and saying why, never a misleading error\n\n"
    ));
    s.push_str("| Operation | Method | Request URI | State |\n|---|---|---|---|\n");
    for e in OPERATIONS {
        let state = match &e.coverage {
            Coverage::Implemented => "implemented".to_string(),
            Coverage::Owned { issue, topic } => format!("owned by issue {issue} ({topic})"),
            Coverage::NotSupported(why) => match why.issue {
                Some(n) => format!("not supported yet ({}; issue {n})", why.what),
                None => format!("not supported ({})", why.what),
            },
        };
        s.push_str(&format!(
            "| {} | {} | `{}` | {} |\n",
            e.name, e.method, e.uri, state
        ));
    }
    s.push_str("\n## Why some operations are not supported\n\n");
    let mut seen: Vec<&str> = Vec::new();
    for e in OPERATIONS {
        if let Coverage::NotSupported(why) = &e.coverage {
            if !seen.contains(&why.what) {
                seen.push(why.what);
                s.push_str(&format!("- **{}**: {}.\n", why.what, why.reason));
            }
        }
    }
    s.push_str(
        "\n## Error wording\n\nRefusals use AWS's words where AWS's answer is recorded \
         (localstack's snapshot tests, recorded against AWS: \
         `tests/aws/services/apigateway/*.snapshot.json`). The table tests in \
         `node/src/admin/ops/recorded_wording.rs` and `recorded_registry_wording` in \
         `proto/src/registry.rs` compare each one byte for byte and name the recording it comes \
         from.\n",
    );
    s.push_str("\n## Where answers differ from AWS on purpose\n\n");
    for (what, why) in DIFFERENCES {
        s.push_str(&format!("- **{what}**: {why}\n"));
    }
    s
}

/// Answers that differ from AWS's on purpose (or for now), and why; listed in
/// `docs/COMPATIBILITY.md`.
pub const DIFFERENCES: &[(&str, &str)] = &[
    (
        "GetAccount `throttleSettings`",
        "AWS answers `{\"burstLimit\":5000,\"rateLimit\":10000.0}` for an account that set \
         nothing. Tollgate answers the limit it enforces: the replicated UpdateAccount throttle, \
         else the node's `account_rate_limit`/`account_burst_limit`, else none, and then it \
         leaves `throttleSettings` out rather than claim a limit it does not enforce. AWS's \
         figure is a regional fleet's; one Tollgate node serves 100k-230k requests/s \
         (docs/BENCHMARKS.md), so AWS's default as a cap would throttle existing deployments. \
         Set `account_rate_limit = 10000` and `account_burst_limit = 5000` to get AWS's limit \
         and AWS's answer.",
    ),
    (
        "GetRestApi `tags` after PutRestApi",
        "AWS answers `tags: {}` on GetRestApi once the API was overwritten by PutRestApi (it \
         depends on the API's history). Tollgate answers `tags: {}` from PutRestApi itself, \
         and from UpdateRestApi, but GetRestApi leaves an empty `tags` out; keeping the \
         history would need a new stored field.",
    ),
    (
        "API key descriptions",
        "at most 4,096 characters, as every description in Tollgate; AWS takes more on keys \
         (it refused 125,001). Too long a key description gets AWS's \
         \"Invalid API Key description specified.\"",
    ),
    (
        "CreateApiKey `stageKeys`",
        "refused when not empty: Tollgate does not keep the legacy key-to-stage link (a key \
         reaches a method through a usage plan).",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_supported_operations_are_refused_by_name() {
        let q = Query::parse("");
        let e = refusal("GET", "/vpclinks", &q).unwrap();
        assert_eq!((e.status, e.error_type), (400, "BadRequestException"));
        assert!(e
            .message
            .starts_with("GetVpcLinks is not supported by Tollgate: "));
        let e = refusal("PUT", "/restapis/a1/documentation/parts", &q).unwrap();
        assert!(
            e.message.starts_with("ImportDocumentationParts "),
            "{}",
            e.message
        );
        // Implemented and owned operations are not refused here.
        assert!(refusal("GET", "/restapis", &q).is_none());
        assert!(refusal("GET", "/domainnames", &q).is_none());
        assert!(refusal("GET", "/vpclinks/a/b", &q).is_none());
    }

    #[test]
    fn query_parts_of_a_template_must_be_present() {
        assert!(matches(
            "/apikeys?mode=import",
            "/apikeys",
            &Query::parse("mode=import")
        ));
        assert!(!matches(
            "/apikeys?mode=import",
            "/apikeys",
            &Query::parse("")
        ));
        assert!(matches(
            "/tags/{arn}",
            "/tags/arn%3Aaws%2F",
            &Query::parse("")
        ));
    }

    #[test]
    fn names_are_unique_and_sorted() {
        for w in OPERATIONS.windows(2) {
            assert!(w[0].name < w[1].name, "{} / {}", w[0].name, w[1].name);
        }
    }

    /// `docs/COMPATIBILITY.md` is what [`render_markdown`] writes; with
    /// `TOLLGATE_REGENERATE_DOCS=1` the test rewrites it.
    #[test]
    fn coverage_doc_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/COMPATIBILITY.md");
        let want = render_markdown();
        if std::env::var_os("TOLLGATE_REGENERATE_DOCS").is_some() {
            std::fs::write(path, &want).expect("write docs/COMPATIBILITY.md");
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/COMPATIBILITY.md is out of date; regenerate it with \
             `TOLLGATE_REGENERATE_DOCS=1 cargo test -p tollgate-node --lib coverage`"
        );
    }
}
