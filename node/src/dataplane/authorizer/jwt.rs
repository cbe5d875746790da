//! `COGNITO_USER_POOLS` (and OIDC) token checks, the parts with no I/O: a JWKS read into
//! verification keys ([`KeySet`]), a token verified against them ([`verify`]: signature by
//! `jsonwebtoken`, then the claims by [`check_claims`] with the shell's clock), and the claims
//! as the text `$context.authorizer.claims.*` gives ([`claims_text`]).
//!
//! Rules (as API Gateway's Cognito authorizer, see docs/SECURITY.md):
//! - the token may come with or without a `Bearer ` prefix;
//! - its header names a `kid` of the issuer's JWKS and an asymmetric algorithm that key
//!   allows (RS256/384/512, PS256/384/512, ES256, ES384, EdDSA); symmetric (`HS*`) and
//!   `none` are never accepted, whatever the token says;
//! - `iss` is the issuer exactly; `exp` is required and must be in the future; `nbf`, when
//!   present, must be past (no leeway either way);
//! - a method without `authorizationScopes` takes identity tokens (`token_use` `id`); one with
//!   scopes takes access tokens (`token_use` `access`) whose `scope` claim holds one of them;
//!   Cognito tokens must carry `token_use`, other OIDC issuers' may omit it;
//! - audiences, when the node configuration lists them for the issuer: an identity token's
//!   `aud`, an access token's `client_id` (or `aud`), must be one of them.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Largest token read (a Cognito token is ~1 KB; headers are bounded anyway).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// One verification key of a JWKS.
struct Key {
    kid: Box<str>,
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

/// An issuer's verification keys, by `kid`.
#[derive(Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| &k.kid))
            .finish()
    }
}

/// The algorithms accepted for a JWK: its `alg` when it names one (an asymmetric one), else
/// every asymmetric algorithm of its key type. `None`: the key is never used.
fn algorithms_for(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Vec<Algorithm>> {
    use Algorithm::*;
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![RS256, RS384, RS512, PS256, PS384, PS512],
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => vec![ES256],
            EllipticCurve::P384 => vec![ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(o) if o.curve == EllipticCurve::Ed25519 => vec![EdDSA],
        // Symmetric keys have no place in a public key set.
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(by_type),
        Some(a) => {
            let named = match a {
                KeyAlgorithm::RS256 => RS256,
                KeyAlgorithm::RS384 => RS384,
                KeyAlgorithm::RS512 => RS512,
                KeyAlgorithm::PS256 => PS256,
                KeyAlgorithm::PS384 => PS384,
                KeyAlgorithm::PS512 => PS512,
                KeyAlgorithm::ES256 => ES256,
                KeyAlgorithm::ES384 => ES384,
                KeyAlgorithm::EdDSA => EdDSA,
                _ => return None,
            };
            by_type.contains(&named).then(|| vec![named])
        }
    }
}

impl KeySet {
    /// Reads a JWKS document. Keys without a `kid`, for encryption, of a type or algorithm
    /// not accepted, or that do not load are skipped; a document with no usable key is an
    /// error (the previous keys are kept by the caller).
    pub fn parse(json: &[u8]) -> Result<KeySet, String> {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.as_deref() else {
                continue;
            };
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let Some(algorithms) = algorithms_for(jwk) else {
                continue;
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            keys.push(Key {
                kid: kid.into(),
                algorithms,
                key,
            });
        }
        if keys.is_empty() {
            return Err("the JWKS holds no signature key this gateway accepts".into());
        }
        Ok(KeySet { keys })
    }

    /// Whether a key has this `kid`.
    pub fn has(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| &*k.kid == kid)
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// What the claims must say besides the signature.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// `iss`, exactly.
    pub issuer: &'a str,
    /// A Cognito user pool: `token_use` is required.
    pub cognito: bool,
    /// Accepted audiences / client ids (empty: any, as AWS).
    pub audiences: &'a [Box<str>],
    /// The method's `authorizationScopes` (empty: identity tokens).
    pub scopes: &'a [Box<str>],
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 401, with why (for the log).
    Unauthorized(&'static str),
    /// The token names a key the issuer's set does not hold (401; the set may be stale).
    UnknownKid,
}

use Failure::Unauthorized as U;

/// The token of an identity-source header value: the value itself, or what follows a
/// `Bearer ` prefix (either is accepted, as API Gateway's Cognito authorizer does).
pub fn token_of(value: &[u8]) -> Option<&str> {
    let v = std::str::from_utf8(value).ok()?.trim();
    if v.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let t = match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim_start(),
        _ => v,
    };
    (!t.is_empty() && t.len() <= MAX_TOKEN_BYTES).then_some(t)
}

/// The `iss` and `kid` a token claims, unverified: which issuer's keys to check it with.
pub fn peek(token: &str) -> Option<(String, String)> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    let payload = token.split('.').nth(1)?;
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: String,
    }
    let iss: Iss = serde_json::from_slice(&bytes).ok()?;
    Some((iss.iss, header.kid?))
}

/// Verifies `token` with `keys` and `rules` at `now` (epoch seconds); answers its claims.
pub fn verify(
    token: &str,
    keys: &KeySet,
    rules: &Rules<'_>,
    now: i64,
) -> Result<Map<String, Value>, Failure> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| U("malformed token"))?;
    let kid = header.kid.as_deref().ok_or(U("the token names no key"))?;
    let key = keys
        .keys
        .iter()
        .find(|k| &*k.kid == kid)
        .ok_or(Failure::UnknownKid)?;
    if !key.algorithms.contains(&header.alg) {
        return Err(U("the token's algorithm is not its key's"));
    }
    let mut v = Validation::new(header.alg);
    // The claims are checked below, with the shell's clock and API Gateway's rules.
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims = HashSet::new();
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &v)
        .map_err(|_| U("bad signature"))?;
    check_claims(&data.claims, rules, now)?;
    Ok(data.claims)
}

fn has_string(v: Option<&Value>, allowed: &[Box<str>]) -> bool {
    match v {
        Some(Value::String(s)) => allowed.iter().any(|a| **a == **s),
        Some(Value::Array(items)) => items.iter().any(|i| {
            i.as_str()
                .is_some_and(|s| allowed.iter().any(|a| **a == *s))
        }),
        _ => false,
    }
}

/// The claim checks (everything but the signature); see the module's rules.
pub fn check_claims(c: &Map<String, Value>, rules: &Rules<'_>, now: i64) -> Result<(), Failure> {
    if c.get("iss").and_then(Value::as_str) != Some(rules.issuer) {
        return Err(U("wrong issuer"));
    }
    let exp = c.get("exp").and_then(Value::as_f64).ok_or(U("no expiry"))?;
    if (now as f64) >= exp {
        return Err(U("expired"));
    }
    match c.get("nbf") {
        None => {}
        Some(n) => match n.as_f64() {
            Some(nbf) if (now as f64) >= nbf => {}
            Some(_) => return Err(U("not yet valid")),
            None => return Err(U("malformed nbf")),
        },
    }
    let token_use = match c.get("token_use") {
        None if rules.cognito => return Err(U("no token_use")),
        None => None,
        Some(Value::String(s)) if s == "id" || s == "access" => Some(s.as_str()),
        Some(_) => return Err(U("unknown token_use")),
    };
    let access = if rules.scopes.is_empty() {
        if token_use == Some("access") {
            return Err(U("an access token on a method without scopes"));
        }
        false
    } else {
        if token_use == Some("id") {
            return Err(U("an identity token on a method with scopes"));
        }
        let granted = c.get("scope").and_then(Value::as_str).unwrap_or("");
        if !granted
            .split(' ')
            .any(|g| !g.is_empty() && rules.scopes.iter().any(|s| **s == *g))
        {
            return Err(U("no scope of the method"));
        }
        true
    };
    if !rules.audiences.is_empty() {
        let ok = if access {
            has_string(c.get("client_id"), rules.audiences)
                || has_string(c.get("aud"), rules.audiences)
        } else {
            has_string(c.get("aud"), rules.audiences)
        };
        if !ok {
            return Err(U("wrong audience"));
        }
    }
    Ok(())
}

/// The claims as `$context.authorizer.claims.*` gives them: strings as they are, numbers and
/// booleans as text, arrays and objects as JSON; `exp` and `iat` as API Gateway writes them
/// (`Wed Dec 02 10:00:00 UTC 2026`).
pub fn claims_text(c: &Map<String, Value>) -> Vec<(Box<str>, Box<str>)> {
    c.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) if k == "exp" || k == "iat" => n
                    .as_i64()
                    .and_then(aws_date)
                    .unwrap_or_else(|| n.to_string()),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k.as_str().into(), text.into())
        })
        .collect()
}

/// Epoch seconds as Java's `Date.toString()` in UTC: `Wed Dec 02 10:00:00 UTC 2026`.
fn aws_date(secs: i64) -> Option<String> {
    let t = std::time::UNIX_EPOCH
        .checked_add(std::time::Duration::from_secs(u64::try_from(secs).ok()?))?;
    // `Wed, 02 Dec 2026 10:00:00 GMT`
    let h = httpdate::fmt_http_date(t);
    let mut p = h.split([' ', ',']).filter(|s| !s.is_empty());
    let (wd, day, mon, year, time) = (p.next()?, p.next()?, p.next()?, p.next()?, p.next()?);
    Some(format!("{wd} {mon} {day} {time} UTC {year}"))
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
