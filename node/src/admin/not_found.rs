//! AWS's wording of the "not found" answers whose form the registry cannot know: the REST
//! API's names the account (`Invalid API identifier specified 111111111111:abcde0`), and the
//! resource's and integration's name no identifier at all. The registry and the operations
//! say `Invalid {what} identifier specified: {id}` everywhere (one form, so reads and writes
//! agree); [`aws_wording`] rewrites the answer once, in the dispatcher, where the node's
//! account id is known.
//!
//! Source: localstack's snapshot tests, recorded against AWS
//! (`tests/aws/services/apigateway/test_apigateway_api.snapshot.json`):
//! `test_update_rest_api_invalid_api_id` "not-found-update-rest-api",
//! `test_gateway_response_validation` "get-gateway-responses-no-api",
//! `test_update_resource_behaviour` "nonexistent-resource",
//! `test_integration_response_invalid_integration` "get-integration-response-without-integration".

use super::error::ApiError;

const API: &str = "Invalid API identifier specified: ";
const RESOURCE: &str = "Invalid resource identifier specified: ";

/// The message of an integration a method does not have.
pub const NO_INTEGRATION: &str = "Invalid Integration identifier specified";

/// `e` in AWS's words, for a node whose account is `account`.
pub fn aws_wording(mut e: ApiError, account: &str) -> ApiError {
    if e.status != 404 {
        return e;
    }
    if let Some(id) = e.message.strip_prefix(API) {
        e.message = format!("Invalid API identifier specified {account}:{id}");
    } else if e.message.starts_with(RESOURCE) {
        e.message = "Invalid Resource identifier specified".into();
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::error::ApiError;

    #[test]
    fn recorded_not_found_wording() {
        let api = aws_wording(ApiError::invalid_id("API", "abcde0"), "111111111111");
        assert_eq!(
            api.message,
            "Invalid API identifier specified 111111111111:abcde0"
        );
        let res = aws_wording(ApiError::invalid_id("resource", "r1"), "111111111111");
        assert_eq!(res.message, "Invalid Resource identifier specified");
        // Anything else, and a 400 that happens to read the same, is left as it is.
        let stage = aws_wording(ApiError::invalid_id("stage", "dev"), "1");
        assert_eq!(stage.message, "Invalid stage identifier specified: dev");
        let bad = aws_wording(
            ApiError::bad_request("Invalid API identifier specified: x"),
            "1",
        );
        assert_eq!(bad.message, "Invalid API identifier specified: x");
    }
}
