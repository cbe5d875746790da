//! `endpointConfiguration` of REST APIs and domain names: AWS's checks and messages, shared by
//! CreateRestApi/UpdateRestApi and CreateDomainName/UpdateDomainName.
//!
//! The wording is AWS's, as recorded against AWS in localstack's snapshot tests
//! (`tests/aws/services/apigateway/test_apigateway_api.snapshot.json`:
//! `test_create_rest_api_with_endpoint_configuration`, `test_create_rest_api_private_type`,
//! `test_create_rest_api_verify_defaults`, `test_update_rest_api_ip_address_type`):
//! - a Create body's enum members are checked by AWS's input validation first
//!   (`ValidationException`, "N validation error(s) detected: Value '[wrong]' at
//!   'createRestApiInput.endpointConfiguration.types' …", every bad member listed, `types`
//!   first);
//! - then the service's rules (`BadRequestException`): "Cannot create an api with multiple
//!   Endpoint Types.", "REGIONAL Configuration and EDGE Configuration cannot be both
//!   DISABLED." (an empty list), "Only dualstack ipAddressType is supported for Private APIs.";
//! - a patch with a bad value: "ipAddressType must be either ipv4 or dualstack.", "Invalid
//!   EndpointTypes specified. Valid options are REGIONAL,EDGE,PRIVATE"; any verb but `replace`
//!   on `/endpointConfiguration/ipAddressType`: "Invalid patch operation specified. Must be one
//!   of: [replace]";
//! - replacing the type with PRIVATE turns an `ipv4` API into `dualstack`.
//!
//! Those recordings are of REST APIs; domain names get the same checks with their operation's
//! input name (`createDomainNameInput`), which is how AWS's validation names members, but no
//! recording of a domain name's answers was found.

use super::error::ApiError;
use super::patch::{Op, PatchOp};

/// The endpoint types in the order AWS's validation message lists them.
pub const TYPES: &[&str] = &["PRIVATE", "EDGE", "REGIONAL"];
/// `ipAddressType` values.
pub const IP_ADDRESS_TYPES: &[&str] = &["ipv4", "dualstack"];

/// AWS's `ValidationException` for one or more members that failed input validation, each
/// given as its own sentence ("Value 'x' at 'y' failed to satisfy constraint: …").
pub fn validation_errors(errors: &[String]) -> Result<(), ApiError> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(ApiError::with_code(
            400,
            "ValidationException",
            format!("1 validation error detected: {}", errors[0]),
        )),
        n => Err(ApiError::with_code(
            400,
            "ValidationException",
            format!("{n} validation errors detected: {}", errors.join("; ")),
        )),
    }
}

/// The input-validation errors of a Create call's `endpointConfiguration` (exact spellings:
/// AWS's validation of enum members is case-sensitive). `input` is the operation's input
/// name, `createRestApiInput` or `createDomainNameInput`.
pub fn input_errors(input: &str, types: Option<&[String]>, ip: Option<&str>) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(types) = types {
        if types.iter().any(|t| !TYPES.contains(&t.as_str())) {
            errors.push(format!(
                "Value '[{}]' at '{input}.endpointConfiguration.types' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [{}]]",
                types.join(", "),
                TYPES.join(", ")
            ));
        }
    }
    if let Some(ip) = ip {
        if !IP_ADDRESS_TYPES.contains(&ip) {
            errors.push(format!(
                "Value '{ip}' at '{input}.endpointConfiguration.ipAddressType' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                IP_ADDRESS_TYPES.join(", ")
            ));
        }
    }
    errors
}

/// The service's rules for the stored configuration: one type, and `dualstack` for PRIVATE.
pub fn check(types: &[String], effective_ip: &str) -> Result<(), ApiError> {
    if types.is_empty() {
        return Err(ApiError::bad_request(
            "REGIONAL Configuration and EDGE Configuration cannot be both DISABLED.",
        ));
    }
    if types.len() > 1 {
        return Err(ApiError::bad_request(
            "Cannot create an api with multiple Endpoint Types.",
        ));
    }
    if !TYPES.contains(&types[0].as_str()) {
        return Err(invalid_type());
    }
    if !IP_ADDRESS_TYPES.contains(&effective_ip) {
        return Err(invalid_ip());
    }
    if types[0] == "PRIVATE" && effective_ip != "dualstack" {
        return Err(ApiError::bad_request(
            "Only dualstack ipAddressType is supported for Private APIs.",
        ));
    }
    Ok(())
}

fn invalid_type() -> ApiError {
    ApiError::bad_request(
        "Invalid EndpointTypes specified. Valid options are REGIONAL,EDGE,PRIVATE",
    )
}

fn invalid_ip() -> ApiError {
    ApiError::bad_request("ipAddressType must be either ipv4 or dualstack.")
}

/// `replace /endpointConfiguration/ipAddressType`: the new value.
pub fn patch_ip(p: &PatchOp) -> Result<String, ApiError> {
    if p.op != Op::Replace {
        return Err(ApiError::bad_request(
            "Invalid patch operation specified. Must be one of: [replace]",
        ));
    }
    let v = p.value()?;
    if IP_ADDRESS_TYPES.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(invalid_ip())
    }
}

/// `replace /endpointConfiguration/types/{slot}`, where the slot is the current type's name
/// (`/types/EDGE`, as AWS's docs spell it) or its index (`/types/0`, as the SDKs' examples
/// do). Replacing with PRIVATE makes an `ipv4` configuration `dualstack`, as AWS does.
pub fn patch_type(
    p: &PatchOp,
    slot: &str,
    types: &mut [String],
    ip: &mut Option<String>,
) -> Result<(), ApiError> {
    if p.op != Op::Replace {
        // AWS's words for `remove` here, odd as they are (localstack's AWS recording
        // `test_update_rest_api_ip_address_type` "update-rest-api-invalid-operation-on-type").
        return Err(ApiError::bad_request(
            "Invalid patch operation specified. Must be 'add'|'remove'|'replace'",
        ));
    }
    let new = p.value()?;
    if !TYPES.contains(&new) {
        return Err(invalid_type());
    }
    let at = match slot.parse::<usize>() {
        Ok(i) if i < types.len() => Some(i),
        Ok(_) => None,
        Err(_) => types.iter().position(|t| t == slot),
    };
    let Some(at) = at else {
        return Err(ApiError::bad_request(format!(
            "Invalid endpoint type specified: {slot} is not the current type"
        )));
    };
    types[at] = new.to_string();
    if new == "PRIVATE" && ip.as_deref() == Some("ipv4") {
        *ip = Some("dualstack".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(verb: Op, path: &str, value: &str) -> PatchOp {
        PatchOp {
            op: verb,
            path: path.into(),
            value: Some(value.into()),
            from: None,
        }
    }

    #[test]
    fn create_validation_lists_every_bad_member_in_aws_words() {
        let wrong = vec!["wrong".to_string()];
        assert!(
            input_errors("createRestApiInput", Some(&["EDGE".into()]), Some("ipv4")).is_empty()
        );
        let e = validation_errors(&input_errors("createRestApiInput", None, Some("wrong")))
            .unwrap_err();
        assert_eq!(
            (e.status, e.error_type, e.message.as_str()),
            (400, "ValidationException", "1 validation error detected: Value 'wrong' at 'createRestApiInput.endpointConfiguration.ipAddressType' failed to satisfy constraint: Member must satisfy enum value set: [ipv4, dualstack]")
        );
        let e = validation_errors(&input_errors(
            "createRestApiInput",
            Some(&wrong),
            Some("wrong"),
        ))
        .unwrap_err();
        assert_eq!(e.message, "2 validation errors detected: Value '[wrong]' at 'createRestApiInput.endpointConfiguration.types' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [PRIVATE, EDGE, REGIONAL]]; Value 'wrong' at 'createRestApiInput.endpointConfiguration.ipAddressType' failed to satisfy constraint: Member must satisfy enum value set: [ipv4, dualstack]");
        // Case-sensitive, as AWS's enum validation is.
        assert_eq!(
            input_errors(
                "createDomainNameInput",
                Some(&["edge".into()]),
                Some("IPV4")
            )
            .len(),
            2
        );
    }

    #[test]
    fn service_rules_and_patches_answer_as_aws() {
        let msg = |r: Result<(), ApiError>| r.unwrap_err().message;
        assert_eq!(
            msg(check(&[], "ipv4")),
            "REGIONAL Configuration and EDGE Configuration cannot be both DISABLED."
        );
        assert_eq!(
            msg(check(&["EDGE".into(), "REGIONAL".into()], "ipv4")),
            "Cannot create an api with multiple Endpoint Types."
        );
        assert_eq!(
            msg(check(&["PRIVATE".into()], "ipv4")),
            "Only dualstack ipAddressType is supported for Private APIs."
        );
        assert!(check(&["PRIVATE".into()], "dualstack").is_ok());

        let mut types = vec!["EDGE".to_string()];
        let mut ip = Some("ipv4".to_string());
        let p = op(Op::Replace, "/endpointConfiguration/types/0", "REGIONAL");
        patch_type(&p, "0", &mut types, &mut ip).unwrap();
        let p = op(
            Op::Replace,
            "/endpointConfiguration/types/REGIONAL",
            "PRIVATE",
        );
        patch_type(&p, "REGIONAL", &mut types, &mut ip).unwrap();
        assert_eq!(
            (types.as_slice(), ip.as_deref()),
            (&["PRIVATE".to_string()][..], Some("dualstack"))
        );
        let p = op(Op::Replace, "/endpointConfiguration/types/0", "wrong");
        assert_eq!(
            patch_type(&p, "0", &mut types, &mut ip)
                .unwrap_err()
                .message,
            "Invalid EndpointTypes specified. Valid options are REGIONAL,EDGE,PRIVATE"
        );
        let p = op(Op::Replace, "/endpointConfiguration/types/3", "EDGE");
        assert!(patch_type(&p, "3", &mut types, &mut ip).is_err());

        let p = op(Op::Replace, "/endpointConfiguration/ipAddressType", "wrong");
        assert_eq!(
            patch_ip(&p).unwrap_err().message,
            "ipAddressType must be either ipv4 or dualstack."
        );
        let p = op(
            Op::Remove,
            "/endpointConfiguration/ipAddressType",
            "dualstack",
        );
        assert_eq!(
            patch_ip(&p).unwrap_err().message,
            "Invalid patch operation specified. Must be one of: [replace]"
        );
        let p = op(
            Op::Replace,
            "/endpointConfiguration/ipAddressType",
            "dualstack",
        );
        assert_eq!(patch_ip(&p).unwrap(), "dualstack");
    }
}
