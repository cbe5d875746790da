//! Lambda authorizers (`TOKEN` and `REQUEST`), the parts with no I/O: where a request's
//! identity comes from ([`IdentitySource`], parsed once for the admin API and the compiler),
//! the compiled authorizer a method points at ([`CompiledAuthorizer`]), the event its function
//! receives ([`event`]), how its answer is read ([`answer`]) and the per-worker result cache
//! ([`cache`]). The authorization phase ([`super::phases::authorize`]) decides with these; the
//! shell invokes the function the way an AWS_PROXY integration's is invoked.

pub mod answer;
pub mod cache;
pub mod event;
pub mod jwt;

use super::lambda::arn::FunctionRef;
use std::time::Duration;
use tollgate_proto::model::AuthorizerType;

pub use answer::{AuthorizerResult, ContextValue};
pub use cache::AuthorizerCache;

/// The `$context` variables an identity source may name (`context.X`).
pub const CONTEXT_SOURCES: &[&str] = &[
    "apiId",
    "httpMethod",
    "identity.sourceIp",
    "identity.userAgent",
    "path",
    "resourcePath",
    "stage",
];

/// One place a request's identity is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// `method.request.header.X` (the name as written; looked up case-insensitively).
    Header(Box<str>),
    /// `method.request.querystring.X` (the raw value).
    Query(Box<str>),
    /// `stageVariables.X`.
    StageVariable(Box<str>),
    /// `context.X`, one of [`CONTEXT_SOURCES`].
    Context(Box<str>),
}

/// Parses an authorizer's `identitySource`: one `method.request.header.X` for `TOKEN`; for
/// `REQUEST`, comma-separated header, query string, stage variable and `$context` sources
/// (none at all is allowed only when results are not cached, which the caller checks).
pub fn parse_identity_sources(
    kind: AuthorizerType,
    text: &str,
) -> Result<Vec<IdentitySource>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        if part.is_empty() {
            if text.trim().is_empty() {
                break;
            }
            return Err(format!("Invalid identity source specified: {text:?}"));
        }
        let bad = || format!("Invalid identity source specified: {part}");
        let named = |prefix: &str| {
            part.strip_prefix(prefix)
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()))
        };
        let source = if let Some(h) = named("method.request.header.") {
            if !crate::text_rules::is_header_name(h) {
                return Err(bad());
            }
            IdentitySource::Header(h.into())
        } else if let Some(q) = named("method.request.querystring.") {
            IdentitySource::Query(q.into())
        } else if let Some(v) = named("stageVariables.") {
            IdentitySource::StageVariable(v.into())
        } else if let Some(c) = named("context.") {
            if !CONTEXT_SOURCES.contains(&c) {
                return Err(format!(
                    "Invalid identity source specified: {part}: the context variables served are {}",
                    CONTEXT_SOURCES.join(", ")
                ));
            }
            IdentitySource::Context(c.into())
        } else {
            return Err(bad());
        };
        out.push(source);
    }
    if kind == AuthorizerType::Token && !matches!(out.as_slice(), [IdentitySource::Header(_)]) {
        return Err(
            "Invalid identity source specified: a TOKEN authorizer's identity source is one method.request.header.X"
                .into(),
        );
    }
    Ok(out)
}

/// Whether the authorizer is `TOKEN` or `REQUEST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The token of one header.
    Token,
    /// The request's parts.
    Request,
}

/// Where one identity value comes from, with stage variables resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompiledSource {
    /// A header, by name.
    Header(Box<str>),
    /// A query string parameter, by name (raw value).
    Query(Box<str>),
    /// A stage variable's value (`None`: the stage does not set it).
    Fixed(Option<Box<str>>),
    /// A `$context` variable.
    Context(Box<str>),
}

/// An authorizer of a deployed stage, ready to run.
#[derive(Debug)]
pub struct CompiledAuthorizer {
    /// The authorizer's id.
    pub id: Box<str>,
    /// `TOKEN` or `REQUEST`.
    pub kind: Kind,
    /// The function its URI names.
    pub function: FunctionRef,
    /// Where the identity comes from.
    pub sources: Vec<CompiledSource>,
    /// The pattern a `TOKEN` must match (whole) before the function is called.
    pub validation: Option<regex_lite::Regex>,
    /// How long a result is cached (0: not cached).
    pub ttl_ns: u64,
    /// What the results are cached under: API, stage, deployment, authorizer and the stage's
    /// authorizer-cache epoch, so a flush or a redeployment orphans older results.
    pub cache_id: u64,
    /// How long the function may take.
    pub timeout: Duration,
    /// The stage's variables (the `REQUEST` event's `stageVariables`).
    pub stage_variables: Vec<(Box<str>, Box<str>)>,
}

/// How long an authorizer function may run (API Gateway's authorizer timeout).
pub const AUTHORIZER_TIMEOUT: Duration = Duration::from_secs(10);

impl CompiledAuthorizer {
    /// Compiles a deployment's authorizer for `stage` (`cache_id` computed by the caller);
    /// the error says why it cannot be served (the methods using it then fail closed).
    pub fn compile(
        a: &tollgate_proto::model::Authorizer,
        stage: &tollgate_proto::model::Stage,
        cache_id: u64,
    ) -> Result<CompiledAuthorizer, String> {
        let kind = match a.kind {
            AuthorizerType::Token => Kind::Token,
            AuthorizerType::Request => Kind::Request,
            AuthorizerType::CognitoUserPools => {
                return Err("COGNITO_USER_POOLS authorizers are not implemented".into())
            }
        };
        let uri = a
            .authorizer_uri
            .as_deref()
            .ok_or("the authorizer has no authorizerUri")?;
        let function =
            super::lambda::arn::parse_uri(&super::routing::substitute_stage_variables(uri, stage))?;
        let sources = parse_identity_sources(a.kind, a.identity_source.as_deref().unwrap_or(""))?
            .into_iter()
            .map(|s| match s {
                IdentitySource::Header(h) => CompiledSource::Header(h),
                IdentitySource::Query(q) => CompiledSource::Query(q),
                IdentitySource::StageVariable(v) => {
                    CompiledSource::Fixed(stage.variables.get(&*v).map(|x| x.as_str().into()))
                }
                IdentitySource::Context(c) => CompiledSource::Context(c),
            })
            .collect();
        let validation = match (&a.identity_validation_expression, kind) {
            (Some(e), Kind::Token) if !e.is_empty() => Some(compile_validation(e)?),
            _ => None,
        };
        let ttl = a.authorizer_result_ttl_in_seconds.clamp(0, 3600) as u64;
        Ok(CompiledAuthorizer {
            id: a.id.as_str().into(),
            kind,
            function,
            sources,
            validation,
            ttl_ns: ttl * 1_000_000_000,
            cache_id,
            timeout: AUTHORIZER_TIMEOUT,
            stage_variables: stage
                .variables
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                .collect(),
        })
    }
}

/// A `COGNITO_USER_POOLS` authorizer of a deployment, ready to run: the header its token
/// comes from and the issuers its `providerARNs` name (their keys kept by [`crate::jwks`]).
#[derive(Debug)]
pub struct JwtAuthorizer {
    /// The authorizer's id.
    pub id: Box<str>,
    /// The header holding the token.
    pub header: Box<str>,
    /// The issuers whose tokens it accepts.
    pub issuers: Vec<std::sync::Arc<crate::jwks::Issuer>>,
}

impl JwtAuthorizer {
    /// Compiles a deployment's `COGNITO_USER_POOLS` authorizer (registering its issuers,
    /// whose keys are then fetched off the request path); the error says why it cannot be
    /// served.
    pub fn compile(a: &tollgate_proto::model::Authorizer) -> Result<JwtAuthorizer, String> {
        if a.kind != AuthorizerType::CognitoUserPools {
            return Err("not a COGNITO_USER_POOLS authorizer".into());
        }
        let header = match parse_identity_sources(
            AuthorizerType::Token,
            a.identity_source.as_deref().unwrap_or(""),
        )?
        .pop()
        {
            Some(IdentitySource::Header(h)) => h,
            _ => return Err("the identity source is not one header".into()),
        };
        if a.provider_arns.is_empty() {
            return Err("the authorizer names no provider".into());
        }
        let issuers = a
            .provider_arns
            .iter()
            .map(|p| crate::jwks::registry().issuer(p))
            .collect::<Result<_, _>>()?;
        Ok(JwtAuthorizer {
            id: a.id.as_str().into(),
            header,
            issuers,
        })
    }
}

/// A method's `COGNITO_USER_POOLS` authorizer and the scopes it asks of access tokens.
#[derive(Debug)]
pub struct MethodJwt {
    /// The authorizer.
    pub authorizer: std::sync::Arc<JwtAuthorizer>,
    /// The method's `authorizationScopes` (empty: identity tokens).
    pub scopes: Box<[Box<str>]>,
}

/// An `identityValidationExpression`, anchored: the whole token must match it.
pub fn compile_validation(expression: &str) -> Result<regex_lite::Regex, String> {
    regex_lite::Regex::new(&format!("^(?:{expression})$"))
        .map_err(|e| format!("Invalid identity validation expression specified: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use AuthorizerType::{Request, Token};

    #[test]
    fn identity_sources_parse_as_aws_writes_them() {
        let h = |n: &str| IdentitySource::Header(n.into());
        for (kind, text, want) in [
            (Token, "method.request.header.Authorization", Ok(vec![h("Authorization")])),
            (
                Request,
                "method.request.header.A, method.request.querystring.q,stageVariables.s,context.httpMethod",
                Ok(vec![
                    h("A"),
                    IdentitySource::Query("q".into()),
                    IdentitySource::StageVariable("s".into()),
                    IdentitySource::Context("httpMethod".into()),
                ]),
            ),
            (Request, "", Ok(vec![])),
            (Token, "", Err(())),
            (Token, "method.request.querystring.q", Err(())),
            (Token, "method.request.header.A,method.request.header.B", Err(())),
            (Request, "method.request.header.", Err(())),
            (Request, "method.request.header.A,,method.request.header.B", Err(())),
            (Request, "method.request.header.Bad Name", Err(())),
            (Request, "method.request.path.id", Err(())),
            (Request, "context.requestId", Err(())),
            (Request, "Authorization", Err(())),
        ] {
            let got = parse_identity_sources(kind, text).map_err(|_| ());
            assert_eq!(got, want, "{kind:?} {text:?}");
        }
    }

    #[test]
    fn validation_expressions_match_the_whole_token() {
        let r = compile_validation("Bearer [a-z]+").unwrap();
        assert!(r.is_match("Bearer abc"));
        assert!(!r.is_match("xBearer abc"));
        assert!(!r.is_match("Bearer abc1"));
        assert!(compile_validation("(").is_err());
    }
}
