//! Phase 3: authorization. A method with `AWS_IAM` is served to a SigV4-signed request
//! (service `execute-api`, header or query form, verified by [`crate::sigv4::verify`]) whose
//! key is the account's root identity (the admin credentials) or an active IAM user key
//! whose policies allow `execute-api:Invoke` on the method ARN. The API's resource policy,
//! when it has one, is evaluated for every request (with the caller anonymous on methods
//! without `AWS_IAM`) and combined as [`crate::iam::combine`] says. `CUSTOM` methods ask
//! their Lambda authorizer (or its cached answer); `COGNITO_USER_POOLS` methods verify the
//! token of their header against the issuer's JWKS here, on the core, with keys the fetcher
//! ([`crate::jwks`]) loaded off the request path. A method whose authorizer cannot be served
//! is refused (500) for every request, closed, never open (routing marks it when it compiles
//! it, and logs why once).
//!
//! Nothing here does I/O or reads a clock: the time comes from the shell. The phase
//! allocates only for requests it has policies or signatures to check (the verifier works on
//! owned header pairs; the method ARN and caller ARN are written into the worker's reused
//! [`AuthScratch`]).

use crate::dataplane::authorizer::{
    cache, jwt, AuthorizerCache, AuthorizerResult, CompiledAuthorizer, CompiledSource, Kind,
    MethodJwt,
};
use crate::dataplane::gateway_response::{self as gr, Refusal};
use crate::dataplane::request::Request;
use crate::dataplane::routing::{
    ApiRoutes, CompiledMethod, FailClosed, StageRoutes, UnservedCheck,
};
use crate::iam::policy::{self, Caller, Verdict};
use crate::iam::{combine, Denial, IamEnv, Identity, IdentityTable};
use crate::sigv4::{self, VerifyError};
use std::borrow::Cow;
use std::rc::Rc;
use tollgate_proto::model::AuthorizationType;
use tollgate_proto::GatewayResponseType as T;

/// The service name of data-plane signatures.
pub const SERVICE: &str = "execute-api";

/// A worker's reused buffers for this phase, and its authorizer result cache.
#[derive(Debug, Default)]
pub struct AuthScratch {
    arn: String,
    caller_arn: String,
    headers: Vec<(String, String)>,
    /// The authorizer cache key of the request last authorized.
    key: Vec<u8>,
    /// Lambda authorizer results.
    pub cache: AuthorizerCache,
}

impl AuthScratch {
    /// The method ARN of the request last authorized.
    pub fn method_arn(&self) -> &str {
        &self.arn
    }

    /// The authorizer cache key of the request last authorized.
    pub fn cache_key(&self) -> &[u8] {
        &self.key
    }
}

/// Whom the phase admitted.
#[derive(Debug, Default)]
pub struct Admission {
    /// The `AWS_IAM` caller: `$context.identity`.
    pub identity: Option<CallerIdentity>,
    /// The Lambda authorizer's answer: `$context.authorizer`.
    pub authorizer: Option<Rc<AuthorizerResult>>,
}

/// What the phase decided, when it did not refuse.
#[derive(Debug)]
pub enum Authorized<'t> {
    /// The request may go on.
    Admitted(Admission),
    /// The method's Lambda authorizer must be called for this identity first (nothing is
    /// cached for it): the shell invokes it and decides again with its answer.
    Call(&'t CompiledAuthorizer),
}

/// Who a request was authorized as: `$context.identity` for the integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// `$context.identity.accessKey`.
    pub access_key: String,
    /// `$context.identity.accountId`.
    pub account_id: String,
    /// `$context.identity.caller` (the user id, or the account id for root).
    pub caller: String,
    /// `$context.identity.user` (as `caller`).
    pub user: String,
    /// `$context.identity.userArn`.
    pub user_arn: String,
}

/// A refusal of this phase, with its message when it is not the refusal's fixed one and
/// what to log (fail-closed methods only).
#[derive(Debug)]
pub struct Refused<'t> {
    /// The gateway response.
    pub refusal: Refusal,
    /// `$context.error.message`, when it is the request's own.
    pub message: Option<String>,
    /// Why, for the log (a method this node cannot authorize).
    pub log: Option<&'t str>,
}

/// What the phase needs besides the request.
pub struct AuthContext<'a, 't> {
    /// The account, region and root credentials.
    pub env: &'a IamEnv,
    /// The IAM users' keys.
    pub identities: &'t IdentityTable,
    /// Wall-clock time, epoch seconds (signature dates and session expiry).
    pub now_secs: i64,
    /// Monotonic time (authorizer cache entries' lives).
    pub now_ns: u64,
    /// The worker's buffers.
    pub scratch: &'a mut AuthScratch,
    /// The answer of this request's authorizer when the shell has just called it.
    pub fresh: Option<Rc<AuthorizerResult>>,
}

const INVALID_SIGNATURE: Refusal = Refusal {
    kind: T::InvalidSignature,
    status: 403,
    error_type: Some("InvalidSignatureException"),
    message: "Forbidden",
};
const UNRECOGNIZED_CLIENT: Refusal = Refusal {
    error_type: Some("UnrecognizedClientException"),
    ..INVALID_SIGNATURE
};
const INCOMPLETE_SIGNATURE: Refusal = Refusal {
    error_type: Some("IncompleteSignatureException"),
    ..INVALID_SIGNATURE
};
/// A signature outside the accepted time window (15 minutes either way, or its presigned
/// validity), or temporary credentials past their expiry.
const EXPIRED: Refusal = Refusal {
    kind: T::ExpiredToken,
    status: 403,
    error_type: Some("InvalidSignatureException"),
    message: "Forbidden",
};
const EXPIRED_TOKEN: Refusal = Refusal {
    error_type: Some("ExpiredTokenException"),
    ..EXPIRED
};
/// A Lambda authorizer refused the caller: no identity, a token that fails the validation
/// expression, or the function's `Unauthorized` error.
pub const UNAUTHORIZED: Refusal = Refusal {
    kind: T::Unauthorized,
    status: 401,
    error_type: Some("UnauthorizedException"),
    message: "Unauthorized",
};
const ACCESS_DENIED: Refusal = Refusal {
    kind: T::AccessDenied,
    status: 403,
    error_type: Some("AccessDeniedException"),
    message: "Forbidden",
};

fn refused<'t>(refusal: Refusal, message: impl Into<String>) -> Refused<'t> {
    Refused {
        refusal,
        message: Some(message.into()),
        log: None,
    }
}

/// The signer of an `AWS_IAM` request.
enum Signer<'t> {
    Root,
    User(&'t Identity),
}

/// Authorizes the request for `method` of `stage` (`path`: the stage-relative path).
pub fn run<'t>(
    method: &'t CompiledMethod,
    api: &'t ApiRoutes,
    stage: &StageRoutes,
    req: &Request<'_>,
    path: &str,
    cx: AuthContext<'_, 't>,
) -> Result<Authorized<'t>, Refused<'t>> {
    if let Some(FailClosed {
        check: UnservedCheck::Authorization,
        why,
    }) = &method.fail_closed
    {
        return Err(Refused {
            refusal: gr::AUTHORIZATION_NOT_SERVED,
            message: None,
            log: Some(why),
        });
    }
    let iam = method.authorization_type == AuthorizationType::AwsIam;
    let custom = method.authorizer.as_deref();
    let jwt = method.jwt.as_deref();
    if !iam && custom.is_none() && jwt.is_none() && api.policy.is_none() {
        return Ok(Authorized::Admitted(Admission::default()));
    }
    let AuthContext {
        env,
        identities,
        now_secs,
        now_ns,
        scratch,
        fresh,
    } = cx;
    write_method_arn(&mut scratch.arn, env, stage, req.method, path);
    let relative_at =
        scratch.arn.len() - (stage.stage_name.len() + 1 + req.method.len() + path.len());
    // A Lambda authorizer's answer: just given, cached, or to be asked for. A cached answer
    // was stored only after this very token passed the validation expression (the key holds
    // it byte for byte, and a redeployment changes the key), so the expression is checked
    // only before a call.
    let answer = match custom {
        None => match jwt {
            None => None,
            Some(j) => Some(Rc::new(check_jwt(j, req, now_secs)?)),
        },
        Some(a) => {
            let unauthorized = || refused(UNAUTHORIZED, UNAUTHORIZED.message);
            identity_key(a, req, stage, method, path, &mut scratch.key)
                .map_err(|()| unauthorized())?;
            let cached = || {
                (a.ttl_ns > 0)
                    .then(|| scratch.cache.get(&scratch.key, now_ns).cloned())
                    .flatten()
            };
            match fresh.or_else(cached) {
                Some(r) => Some(r),
                None => {
                    if !token_valid(a, req, stage, method, path) {
                        return Err(unauthorized());
                    }
                    return Ok(Authorized::Call(a));
                }
            }
        }
    };
    let signed = if iam {
        let (key, signer) = verify(req, env, identities, now_secs, &mut scratch.headers)?;
        Some((key, signer))
    } else {
        None
    };
    let arn = &scratch.arn;
    let caller_arn = &mut scratch.caller_arn;
    caller_arn.clear();
    let caller = match &signed {
        None => Caller::Anonymous,
        Some((_, Signer::Root)) => Caller::Root {
            account: &env.account,
        },
        Some((_, Signer::User(id))) => {
            id.write_arn(&env.account, caller_arn);
            Caller::User {
                account: &env.account,
                arn: caller_arn,
            }
        }
    };
    let facts = policy::Request {
        arn,
        api_relative: &arn[relative_at..],
        source_ip: req.peer,
        caller,
    };
    let resource_verdict = api.policy.as_ref().map(|p| match p {
        Ok(p) => p.evaluate(&facts),
        // A stored policy this build cannot read: nothing it might deny is let through.
        Err(_) => Verdict::Deny,
    });
    if let Some(answer) = answer.as_ref().filter(|a| a.claims.is_some()) {
        // A verified token: only the resource policy may still refuse.
        if resource_verdict == Some(Verdict::Deny) {
            return Err(refused(
                ACCESS_DENIED,
                "User is not authorized to access this resource with an explicit deny",
            ));
        }
        return Ok(Authorized::Admitted(Admission {
            identity: None,
            authorizer: Some(answer.clone()),
        }));
    }
    if let Some(answer) = answer {
        // As AWS combines a Lambda authorizer with a resource policy: any explicit deny
        // refuses, and the authorizer's policy must allow.
        let verdict = answer.policy.evaluate(&facts);
        if verdict == Verdict::Deny || resource_verdict == Some(Verdict::Deny) {
            return Err(refused(
                ACCESS_DENIED,
                "User is not authorized to access this resource with an explicit deny",
            ));
        }
        if verdict != Verdict::Allow {
            return Err(refused(
                ACCESS_DENIED,
                "User is not authorized to access this resource",
            ));
        }
        return Ok(Authorized::Admitted(Admission {
            identity: None,
            authorizer: Some(answer),
        }));
    }
    let identity_verdict = signed.as_ref().map(|(_, s)| match s {
        Signer::Root => Verdict::Allow,
        Signer::User(id) => id.verdict(&facts),
    });
    if let Err(denial) = combine(identity_verdict, resource_verdict) {
        let mut m = String::from("User: ");
        caller.describe(&mut m);
        m.push_str(" is not authorized to perform: execute-api:Invoke on resource: ");
        m.push_str(arn);
        if denial == Denial::Explicit {
            m.push_str(" with an explicit deny");
        }
        return Err(refused(ACCESS_DENIED, m));
    }
    let identity = signed.map(|(access_key, signer)| {
        let (id, user_arn) = match signer {
            Signer::Root => (
                env.account.clone(),
                format!("arn:aws:iam::{}:root", env.account),
            ),
            Signer::User(i) => (i.user_id.to_string(), caller_arn.clone()),
        };
        CallerIdentity {
            access_key,
            account_id: env.account.clone(),
            caller: id.clone(),
            user: id,
            user_arn,
        }
    });
    Ok(Authorized::Admitted(Admission {
        identity,
        authorizer: None,
    }))
}

/// Verifies the token of a `COGNITO_USER_POOLS` method ([`jwt`] says the rules): its
/// claims, or 401 (no token, a bad one, an unknown issuer or key); 500 while the issuer's
/// keys have not loaded yet (the fetcher is at it: a client may retry). A `kid` the issuer's
/// set lacks asks the fetcher for a fresh set (rate-limited there), never waits for it.
fn check_jwt<'t>(
    j: &MethodJwt,
    req: &Request<'_>,
    now_secs: i64,
) -> Result<AuthorizerResult, Refused<'t>> {
    let unauthorized = |why: &'static str| Refused {
        refusal: UNAUTHORIZED,
        message: Some(UNAUTHORIZED.message.into()),
        log: Some(why),
    };
    let a = &j.authorizer;
    let token = req
        .header(a.header.as_bytes())
        .and_then(jwt::token_of)
        .ok_or_else(|| unauthorized("no token"))?;
    let (iss, _) = jwt::peek(token).ok_or_else(|| unauthorized("malformed token"))?;
    let issuer = a
        .issuers
        .iter()
        .find(|i| *i.issuer == *iss)
        .ok_or_else(|| unauthorized("wrong issuer"))?;
    let Some(keys) = issuer.keys() else {
        return Err(Refused {
            refusal: crate::dataplane::core::AUTHORIZER_CONFIGURATION_ERROR,
            message: None,
            log: Some("the issuer's JWKS has not loaded yet"),
        });
    };
    let rules = jwt::Rules {
        issuer: &issuer.issuer,
        cognito: issuer.cognito,
        audiences: &issuer.audiences,
        scopes: &j.scopes,
    };
    match jwt::verify(token, &keys, &rules, now_secs) {
        Ok(claims) => Ok(AuthorizerResult::from_claims(jwt::claims_text(&claims))),
        Err(jwt::Failure::UnknownKid) => {
            issuer.want_refresh();
            Err(unauthorized("unknown kid"))
        }
        Err(jwt::Failure::Unauthorized(why)) => Err(unauthorized(why)),
    }
}

/// Writes the request's method ARN:
/// `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}{path}`.
fn write_method_arn(arn: &mut String, env: &IamEnv, stage: &StageRoutes, verb: &str, path: &str) {
    arn.clear();
    arn.push_str("arn:aws:execute-api:");
    arn.push_str(&env.region);
    arn.push(':');
    arn.push_str(&env.account);
    arn.push(':');
    arn.push_str(&stage.api_id);
    arn.push('/');
    arn.push_str(&stage.stage_name);
    arn.push('/');
    arn.push_str(verb);
    arn.push_str(path);
}

/// Writes the authorizer cache key of the request's identity values into `key`; `Err` when
/// one is missing or empty (401, the function is not called).
fn identity_key(
    a: &CompiledAuthorizer,
    req: &Request<'_>,
    stage: &StageRoutes,
    method: &CompiledMethod,
    path: &str,
    key: &mut Vec<u8>,
) -> Result<(), ()> {
    cache::key_start(key, a.cache_id);
    for source in &a.sources {
        let value = source_value(source, req, stage, method, path).ok_or(())?;
        if value.is_empty() {
            return Err(());
        }
        cache::key_push(key, &value);
    }
    Ok(())
}

/// Whether a `TOKEN` authorizer's token matches its whole validation expression (true when
/// there is none, and for `REQUEST` authorizers).
fn token_valid(
    a: &CompiledAuthorizer,
    req: &Request<'_>,
    stage: &StageRoutes,
    method: &CompiledMethod,
    path: &str,
) -> bool {
    let (Kind::Token, Some(pattern)) = (a.kind, &a.validation) else {
        return true;
    };
    a.sources
        .first()
        .and_then(|s| source_value(s, req, stage, method, path))
        .and_then(|v| std::str::from_utf8(&v).ok().map(|t| pattern.is_match(t)))
        .unwrap_or(false)
}

/// One identity source's value for the request (`None`: absent).
pub fn source_value<'a>(
    source: &'a CompiledSource,
    req: &Request<'a>,
    stage: &'a StageRoutes,
    method: &'a CompiledMethod,
    path: &str,
) -> Option<Cow<'a, [u8]>> {
    Some(match source {
        CompiledSource::Header(name) => Cow::Borrowed(req.header(name.as_bytes())?),
        CompiledSource::Query(name) => Cow::Borrowed(req.query_param(name)?),
        CompiledSource::Fixed(v) => Cow::Borrowed(v.as_deref()?.as_bytes()),
        CompiledSource::Context(name) => match &**name {
            "apiId" => Cow::Borrowed(stage.api_id.as_bytes()),
            "httpMethod" => Cow::Borrowed(req.method.as_bytes()),
            "identity.sourceIp" => Cow::Owned(req.peer.to_string().into_bytes()),
            "identity.userAgent" => Cow::Borrowed(req.header(b"user-agent")?),
            "path" => Cow::Owned(req.context_path(&stage.stage_name, path).into_bytes()),
            "resourcePath" => Cow::Borrowed(method.resource_path.as_bytes()),
            "stage" => Cow::Borrowed(stage.stage_name.as_bytes()),
            _ => return None,
        },
    })
}

/// Verifies the request's signature; answers the access key and who it belongs to.
fn verify<'t>(
    req: &Request<'_>,
    env: &IamEnv,
    identities: &'t IdentityTable,
    now_secs: i64,
    headers: &mut Vec<(String, String)>,
) -> Result<(String, Signer<'t>), Refused<'t>> {
    headers.clear();
    headers.extend(req.headers().map(|(n, v)| {
        (
            String::from_utf8_lossy(n).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        )
    }));
    // Before the decision `req.path` is the path as sent (normalised), the stage included:
    // what the client signed.
    let signed = sigv4::Request {
        method: req.method,
        path: req.path,
        query: req.query,
        headers,
        body: req.body,
    };
    let secret_for = |key: &str| {
        env.root
            .iter()
            .find(|c| c.access_key_id == key)
            .map(|c| c.secret_access_key.clone())
            .or_else(|| identities.get(key).map(|i| i.secret.to_string()))
    };
    let region = env.region_check.then_some(env.region.as_str());
    let key = sigv4::verify(&signed, secret_for, region, SERVICE, now_secs).map_err(|e| {
        let refusal = match &e {
            VerifyError::MissingAuthentication => gr::MISSING_AUTHENTICATION_TOKEN,
            VerifyError::Expired(_) => EXPIRED,
            VerifyError::UnknownAccessKey => UNRECOGNIZED_CLIENT,
            VerifyError::Malformed(_) => INCOMPLETE_SIGNATURE,
            VerifyError::SignatureMismatch
            | VerifyError::WrongService { .. }
            | VerifyError::WrongRegion { .. }
            | VerifyError::BadScope(_) => INVALID_SIGNATURE,
        };
        refused(refusal, e.message())
    })?;
    // The session token a request carries (header, or parameter of a presigned URL).
    let token = req
        .header(b"x-amz-security-token")
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .or_else(|| {
            req.query_param("X-Amz-Security-Token").map(|t| {
                percent_encoding::percent_decode(t)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        });
    if env.root.iter().any(|c| c.access_key_id == key) {
        if token.is_some() {
            return Err(refused(
                UNRECOGNIZED_CLIENT,
                "The security token included in the request is invalid.",
            ));
        }
        return Ok((key, Signer::Root));
    }
    let Some(identity) = identities.get(&key) else {
        // Unreachable after `secret_for` found it; refuse rather than assume.
        return Err(refused(
            UNRECOGNIZED_CLIENT,
            "The security token included in the request is invalid.",
        ));
    };
    match (&identity.session, token) {
        (None, None) => {}
        (Some((expected, expires)), Some(token)) => {
            use subtle::ConstantTimeEq;
            if !bool::from(expected.as_bytes().ct_eq(token.as_bytes())) {
                return Err(refused(
                    UNRECOGNIZED_CLIENT,
                    "The security token included in the request is invalid.",
                ));
            }
            if now_secs >= *expires {
                return Err(refused(
                    EXPIRED_TOKEN,
                    "The security token included in the request is expired",
                ));
            }
        }
        _ => {
            return Err(refused(
                UNRECOGNIZED_CLIENT,
                "The security token included in the request is invalid.",
            ))
        }
    }
    Ok((key, Signer::User(identity)))
}

#[cfg(test)]
#[path = "authorize_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "authorize_custom_tests.rs"]
mod custom_tests;
