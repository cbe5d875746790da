//! Gateway response types: the kinds of answer API Gateway makes itself (a refusal or a
//! failure of one of the request's phases), with AWS's default status codes.
//!
//! Every refusal the data plane makes is one of these types; an API can override the status,
//! headers and body of each (PutGatewayResponse). An unset type falls back to `DEFAULT_4XX` or
//! `DEFAULT_5XX` (by its default status), and those to AWS's defaults here.

use serde::{Deserialize, Serialize};

/// One of API Gateway's 21 gateway response types.
///
/// The variant order is part of the encoding of commands and snapshots: add new types at the
/// end only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GatewayResponseType {
    Default4xx,
    Default5xx,
    ResourceNotFound,
    Unauthorized,
    InvalidApiKey,
    AccessDenied,
    AuthorizerFailure,
    AuthorizerConfigurationError,
    InvalidSignature,
    ExpiredToken,
    MissingAuthenticationToken,
    IntegrationFailure,
    IntegrationTimeout,
    ApiConfigurationError,
    UnsupportedMediaType,
    BadRequestParameters,
    BadRequestBody,
    RequestTooLarge,
    Throttled,
    QuotaExceeded,
    WafFiltered,
}

impl GatewayResponseType {
    /// Every type, in declaration order.
    pub const ALL: [GatewayResponseType; 21] = [
        GatewayResponseType::Default4xx,
        GatewayResponseType::Default5xx,
        GatewayResponseType::ResourceNotFound,
        GatewayResponseType::Unauthorized,
        GatewayResponseType::InvalidApiKey,
        GatewayResponseType::AccessDenied,
        GatewayResponseType::AuthorizerFailure,
        GatewayResponseType::AuthorizerConfigurationError,
        GatewayResponseType::InvalidSignature,
        GatewayResponseType::ExpiredToken,
        GatewayResponseType::MissingAuthenticationToken,
        GatewayResponseType::IntegrationFailure,
        GatewayResponseType::IntegrationTimeout,
        GatewayResponseType::ApiConfigurationError,
        GatewayResponseType::UnsupportedMediaType,
        GatewayResponseType::BadRequestParameters,
        GatewayResponseType::BadRequestBody,
        GatewayResponseType::RequestTooLarge,
        GatewayResponseType::Throttled,
        GatewayResponseType::QuotaExceeded,
        GatewayResponseType::WafFiltered,
    ];

    /// The AWS name (`DEFAULT_4XX`, `THROTTLED`, …).
    pub fn as_str(self) -> &'static str {
        use GatewayResponseType::*;
        match self {
            Default4xx => "DEFAULT_4XX",
            Default5xx => "DEFAULT_5XX",
            ResourceNotFound => "RESOURCE_NOT_FOUND",
            Unauthorized => "UNAUTHORIZED",
            InvalidApiKey => "INVALID_API_KEY",
            AccessDenied => "ACCESS_DENIED",
            AuthorizerFailure => "AUTHORIZER_FAILURE",
            AuthorizerConfigurationError => "AUTHORIZER_CONFIGURATION_ERROR",
            InvalidSignature => "INVALID_SIGNATURE",
            ExpiredToken => "EXPIRED_TOKEN",
            MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            IntegrationFailure => "INTEGRATION_FAILURE",
            IntegrationTimeout => "INTEGRATION_TIMEOUT",
            ApiConfigurationError => "API_CONFIGURATION_ERROR",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            BadRequestParameters => "BAD_REQUEST_PARAMETERS",
            BadRequestBody => "BAD_REQUEST_BODY",
            RequestTooLarge => "REQUEST_TOO_LARGE",
            Throttled => "THROTTLED",
            QuotaExceeded => "QUOTA_EXCEEDED",
            WafFiltered => "WAF_FILTERED",
        }
    }

    /// Parses the AWS name (exact spelling, as AWS requires for this enum).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// AWS's default status code for this type; `None` for `DEFAULT_4XX`/`DEFAULT_5XX`, whose
    /// status is that of the refusal they stand in for.
    pub fn default_status(self) -> Option<u16> {
        use GatewayResponseType::*;
        Some(match self {
            Default4xx | Default5xx => return None,
            ResourceNotFound => 404,
            Unauthorized => 401,
            InvalidApiKey
            | AccessDenied
            | InvalidSignature
            | ExpiredToken
            | MissingAuthenticationToken
            | WafFiltered => 403,
            AuthorizerFailure | AuthorizerConfigurationError | ApiConfigurationError => 500,
            IntegrationFailure | IntegrationTimeout => 504,
            UnsupportedMediaType => 415,
            BadRequestParameters | BadRequestBody => 400,
            RequestTooLarge => 413,
            Throttled | QuotaExceeded => 429,
        })
    }

    /// The fallback type an unset type is answered with: `DEFAULT_5XX` for a 5xx default,
    /// else `DEFAULT_4XX` (the defaults themselves fall back to nothing).
    pub fn fallback(self) -> Option<Self> {
        match self.default_status() {
            None => None,
            Some(s) if s >= 500 => Some(GatewayResponseType::Default5xx),
            Some(_) => Some(GatewayResponseType::Default4xx),
        }
    }
}

/// AWS's default body template of every gateway response type.
pub const DEFAULT_TEMPLATE: &str = "{\"message\":$context.error.messageString}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        let mut seen = std::collections::BTreeSet::new();
        for t in GatewayResponseType::ALL {
            assert_eq!(GatewayResponseType::parse(t.as_str()), Some(t));
            assert!(seen.insert(t.as_str()));
        }
        assert_eq!(GatewayResponseType::parse("throttled"), None);
        assert_eq!(seen.len(), 21);
    }

    #[test]
    fn defaults_follow_aws() {
        use GatewayResponseType::*;
        assert_eq!(Throttled.default_status(), Some(429));
        assert_eq!(MissingAuthenticationToken.default_status(), Some(403));
        assert_eq!(IntegrationTimeout.default_status(), Some(504));
        assert_eq!(Unauthorized.default_status(), Some(401));
        assert_eq!(Throttled.fallback(), Some(Default4xx));
        assert_eq!(IntegrationFailure.fallback(), Some(Default5xx));
        assert_eq!(Default4xx.fallback(), None);
    }
}
