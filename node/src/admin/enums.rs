//! The enum members of request bodies, as AWS checks them: every member botocore's model types
//! as an enum is checked by AWS's input validation before the operation runs, exactly
//! (case-sensitively), and a value outside the set is a `ValidationException`:
//! "1 validation error detected: Value 'x' at 'putIntegrationInput.type' failed to satisfy
//! constraint: Member must satisfy enum value set: [HTTP, MOCK, AWS_PROXY, HTTP_PROXY, AWS]".
//!
//! Recorded from AWS (localstack's snapshot tests, validated against AWS,
//! `tests/aws/services/apigateway/test_apigateway_api.snapshot.json`): `putIntegrationInput.type`
//! (`HTTPS_PROXY` refused, the set in the order above), `createRestApiInput.endpointConfiguration.*`,
//! `createDocumentationPartInput.location.type`, `responseType`. The other sets are listed in
//! botocore's order (AWS's order for them was not recorded). Members the model types as plain
//! strings are the service's to read: `authorizationType` is read in any case (see
//! `ops::methods`), as AWS does; patch values are strings too, checked by each operation with
//! a `BadRequestException`.
//!
//! [`BODY_ENUMS`] is the table: a unit test checks it against botocore's model, so an enum
//! member botocore adds to a request body is noticed.

use super::error::ApiError;

/// One enum member of a request body: the operation, the member's path in its input, and the
/// set in the order AWS's message lists it.
pub struct BodyEnum {
    /// The operation (botocore's name).
    pub operation: &'static str,
    /// The member's path in the input (`type`, `quota.period`).
    pub member: &'static str,
    /// The values.
    pub set: &'static [&'static str],
    /// What Tollgate does with it when valid (for the docs and the survey).
    pub note: &'static str,
}

const INTEGRATION_TYPES: &[&str] = &["HTTP", "MOCK", "AWS_PROXY", "HTTP_PROXY", "AWS"];
const CONTENT_HANDLING: &[&str] = &["CONVERT_TO_BINARY", "CONVERT_TO_TEXT"];
const CACHE_SIZES: &[&str] = &["0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237"];
const SECURITY_POLICIES: &[&str] = &[
    "TLS_1_0",
    "TLS_1_2",
    "SecurityPolicy_TLS13_1_3_2025_09",
    "SecurityPolicy_TLS13_1_3_FIPS_2025_09",
    "SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09",
    "SecurityPolicy_TLS13_1_2_FIPS_PQ_2025_09",
    "SecurityPolicy_TLS13_1_2_FIPS_PFS_PQ_2025_09",
    "SecurityPolicy_TLS13_1_2_PQ_2025_09",
    "SecurityPolicy_TLS13_1_2_2021_06",
    "SecurityPolicy_TLS13_2025_EDGE",
    "SecurityPolicy_TLS12_PFS_2025_EDGE",
    "SecurityPolicy_TLS12_2018_EDGE",
];
const ENDPOINT_ACCESS_MODES: &[&str] = &["BASIC", "STRICT"];
const ROUTING_MODES: &[&str] = &[
    "BASE_PATH_MAPPING_ONLY",
    "ROUTING_RULE_ONLY",
    "ROUTING_RULE_THEN_BASE_PATH_MAPPING",
];

/// Every enum member of a request body in botocore's model that Tollgate checks here
/// (`endpointConfiguration` is checked in [`super::endpoint`], `location.type` in
/// `ops::documentation`, both with the same wording).
pub const BODY_ENUMS: &[BodyEnum] = &[
    BodyEnum {
        operation: "PutIntegration",
        member: "type",
        set: INTEGRATION_TYPES,
        note: "all served",
    },
    BodyEnum {
        operation: "PutIntegration",
        member: "connectionType",
        set: &["INTERNET", "VPC_LINK"],
        note: "VPC_LINK refused after validation (no VPC links)",
    },
    BodyEnum {
        operation: "PutIntegration",
        member: "contentHandling",
        set: CONTENT_HANDLING,
        note: "served",
    },
    BodyEnum {
        operation: "PutIntegration",
        member: "responseTransferMode",
        set: &["BUFFERED", "STREAM"],
        note: "read by the integration's own checks",
    },
    BodyEnum {
        operation: "PutIntegrationResponse",
        member: "contentHandling",
        set: CONTENT_HANDLING,
        note: "served",
    },
    BodyEnum {
        operation: "CreateAuthorizer",
        member: "type",
        set: &["TOKEN", "REQUEST", "COGNITO_USER_POOLS"],
        note: "all served",
    },
    BodyEnum {
        operation: "CreateRestApi",
        member: "apiKeySource",
        set: &["HEADER", "AUTHORIZER"],
        note: "both served",
    },
    BodyEnum {
        operation: "CreateRestApi",
        member: "securityPolicy",
        set: SECURITY_POLICIES,
        note: "read by the operation's own checks",
    },
    BodyEnum {
        operation: "CreateRestApi",
        member: "endpointAccessMode",
        set: ENDPOINT_ACCESS_MODES,
        note: "read by the operation's own checks",
    },
    BodyEnum {
        operation: "CreateUsagePlan",
        member: "quota.period",
        set: &["DAY", "WEEK", "MONTH"],
        note: "all enforced",
    },
    BodyEnum {
        operation: "CreateStage",
        member: "cacheClusterSize",
        set: CACHE_SIZES,
        note: "sizes the stage cache",
    },
    BodyEnum {
        operation: "CreateDeployment",
        member: "cacheClusterSize",
        set: CACHE_SIZES,
        note: "sizes the stage cache",
    },
    BodyEnum {
        operation: "CreateDomainName",
        member: "securityPolicy",
        set: SECURITY_POLICIES,
        note: "TLS versions served; TLS_1_0 refused after validation",
    },
    BodyEnum {
        operation: "CreateDomainName",
        member: "endpointAccessMode",
        set: ENDPOINT_ACCESS_MODES,
        note: "BASIC only; STRICT refused after validation",
    },
    BodyEnum {
        operation: "CreateDomainName",
        member: "routingMode",
        set: ROUTING_MODES,
        note: "BASE_PATH_MAPPING_ONLY only; routing rules refused after validation",
    },
];

/// Checks `value` of `operation`'s body member `member` (an entry of [`BODY_ENUMS`]) with
/// AWS's input validation: exact spelling, else AWS's `ValidationException`. A member
/// missing from the table is not checked here (the operation's own checks apply).
pub fn check(operation: &str, member: &str, value: Option<&str>) -> Result<(), ApiError> {
    let Some(value) = value else { return Ok(()) };
    let Some(e) = BODY_ENUMS
        .iter()
        .find(|e| e.operation == operation && e.member == member)
    else {
        return Ok(());
    };
    if e.set.contains(&value) {
        return Ok(());
    }
    super::endpoint::validation_errors(&[format!(
        "Value '{value}' at '{}.{member}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
        input_name(operation),
        e.set.join(", ")
    )])
}

/// Puts the operation's input name in front of the patch member paths of a validation error
/// (`'patchOperations.1.member.op'` → `'updateRestApiInput.patchOperations.1.member.op'`), as
/// AWS's message names them.
pub fn name_input(mut e: ApiError, operation: &str) -> ApiError {
    if e.error_type == "ValidationException" && e.message.contains(" at 'patchOperations.") {
        e.message = e.message.replace(
            " at 'patchOperations.",
            &format!(" at '{}.patchOperations.", input_name(operation)),
        );
    }
    e
}

/// AWS's name of an operation's input in validation messages: `putIntegrationInput`.
pub fn input_name(operation: &str) -> String {
    let mut chars = operation.chars();
    match chars.next() {
        Some(c) => format!("{}{}Input", c.to_ascii_lowercase(), chars.as_str()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;

    fn model() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/botocore/apigateway-2015-07-09-service-2.json"
        );
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    /// (operation, member path, set) of every enum member of every input body (members
    /// bound to the URI or query string are left out: those are checked where they are
    /// read), one structure level deep, as botocore defines them.
    fn body_enums(m: &Value) -> Vec<(String, String, BTreeSet<String>)> {
        let shapes = m["shapes"].as_object().unwrap();
        let set_of = |shape: &str| -> Option<BTreeSet<String>> {
            shapes[shape]["enum"]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        };
        let mut out = Vec::new();
        for (op, o) in m["operations"].as_object().unwrap() {
            let Some(input) = o["input"]["shape"].as_str() else {
                continue;
            };
            let Some(members) = shapes[input]["members"].as_object() else {
                continue;
            };
            for (name, mem) in members {
                if mem.get("location").is_some() {
                    continue;
                }
                let shape = mem["shape"].as_str().unwrap();
                if let Some(set) = set_of(shape) {
                    out.push((op.clone(), name.clone(), set));
                } else if let Some(inner) = shapes[shape]["members"].as_object() {
                    for (n2, m2) in inner {
                        if let Some(set) = set_of(m2["shape"].as_str().unwrap()) {
                            out.push((op.clone(), format!("{name}.{n2}"), set));
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_table_is_botocores_body_enums() {
        let model = model();
        let mut found = body_enums(&model);
        // Checked elsewhere with the same wording.
        found.retain(|(op, member, _)| {
            let elsewhere = member.starts_with("endpointConfiguration.")
                || (op == "CreateDocumentationPart" && member == "location.type")
                || op.starts_with("CreateDomainNameAccessAssociation");
            !elsewhere
        });
        let mut table: Vec<(String, String, BTreeSet<String>)> = BODY_ENUMS
            .iter()
            .map(|e| {
                (
                    e.operation.to_string(),
                    e.member.to_string(),
                    e.set.iter().map(|s| s.to_string()).collect(),
                )
            })
            .collect();
        found.sort();
        table.sort();
        assert_eq!(table, found);
    }

    #[test]
    fn values_are_exact_and_refused_in_aws_words() {
        assert!(check("PutIntegration", "type", Some("HTTP_PROXY")).is_ok());
        assert!(check("PutIntegration", "type", None).is_ok());
        let e = check("PutIntegration", "type", Some("HTTPS_PROXY")).unwrap_err();
        assert_eq!(
            (e.status, e.error_type, e.message.as_str()),
            (400, "ValidationException", "1 validation error detected: Value 'HTTPS_PROXY' at 'putIntegrationInput.type' failed to satisfy constraint: Member must satisfy enum value set: [HTTP, MOCK, AWS_PROXY, HTTP_PROXY, AWS]")
        );
        for e in BODY_ENUMS {
            for v in e.set {
                assert!(check(e.operation, e.member, Some(v)).is_ok());
                let lower = v.to_ascii_lowercase();
                if lower != *v {
                    let err = check(e.operation, e.member, Some(&lower)).unwrap_err();
                    assert_eq!(
                        err.error_type, "ValidationException",
                        "{}.{}",
                        e.operation, e.member
                    );
                }
            }
        }
        assert_eq!(input_name("CreateUsagePlan"), "createUsagePlanInput");
    }
}
