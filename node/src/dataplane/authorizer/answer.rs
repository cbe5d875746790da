//! An authorizer function's answer, read as AWS reads it: `principalId` (a string),
//! `policyDocument` (an IAM policy, evaluated against each request's method ARN with
//! [`crate::iam::policy`]), an optional `context` whose values are strings, numbers or
//! booleans (each passed on as text), and an optional `usageIdentifierKey` (the API key when
//! the API's key source is `AUTHORIZER`). Anything else is the authorizer's failure, never a
//! guess.

use crate::iam::policy::{Kind, Policy};
use serde_json::Value;

/// Most `context` entries an answer may carry (each is copied into every request it admits).
pub const MAX_CONTEXT_ENTRIES: usize = 256;

/// What an authorizer decided for one identity.
#[derive(Debug)]
pub struct AuthorizerResult {
    /// `principalId`: `$context.authorizer.principalId`.
    pub principal_id: Box<str>,
    /// The policy the request's method ARN is checked against.
    pub policy: Policy,
    /// `context`, each value as text: `$context.authorizer.{key}`.
    pub context: Vec<(Box<str>, Box<str>)>,
    /// `usageIdentifierKey`.
    pub usage_identifier_key: Option<Box<str>>,
    /// A `COGNITO_USER_POOLS` authorizer's verified token claims, as text:
    /// `$context.authorizer.claims.{name}` (then there is no principal, policy or context).
    pub claims: Option<Vec<(Box<str>, Box<str>)>>,
}

/// One `context` value, as text (the way `$context.authorizer.{key}` gives it).
pub type ContextValue = Box<str>;

/// Reads an authorizer's answer; the error says what is wrong with it (for the log).
pub fn parse(payload: &[u8]) -> Result<AuthorizerResult, &'static str> {
    let v: Value = serde_json::from_slice(payload).map_err(|_| "authorizer answer is not JSON")?;
    let Value::Object(o) = v else {
        return Err("authorizer answer is not a JSON object");
    };
    let principal_id = match o.get("principalId") {
        Some(Value::String(s)) => s.as_str().into(),
        Some(_) => return Err("authorizer answer's principalId is not a string"),
        None => return Err("authorizer answer has no principalId"),
    };
    let policy = match o.get("policyDocument") {
        Some(doc @ Value::Object(_)) => Policy::parse(&doc.to_string(), Kind::Identity)
            .map_err(|_| "authorizer answer's policyDocument is not a policy this gateway reads")?,
        Some(_) => return Err("authorizer answer's policyDocument is not an object"),
        None => return Err("authorizer answer has no policyDocument"),
    };
    let context = match o.get("context") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => {
            if m.len() > MAX_CONTEXT_ENTRIES {
                return Err("authorizer answer's context has too many entries");
            }
            m.iter()
                .map(|(k, v)| {
                    let text: Box<str> = match v {
                        Value::String(s) => s.as_str().into(),
                        Value::Number(n) => n.to_string().into(),
                        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
                        _ => {
                            return Err(
                                "authorizer answer's context holds a value that is not a string, number or boolean",
                            )
                        }
                    };
                    Ok((k.as_str().into(), text))
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(_) => return Err("authorizer answer's context is not an object"),
    };
    let usage_identifier_key = match o.get("usageIdentifierKey") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str().into()),
        Some(_) => return Err("authorizer answer's usageIdentifierKey is not a string"),
    };
    Ok(AuthorizerResult {
        principal_id,
        policy,
        context,
        usage_identifier_key,
        claims: None,
    })
}

impl AuthorizerResult {
    /// A `COGNITO_USER_POOLS` authorizer's result: the token's claims.
    pub fn from_claims(claims: Vec<(Box<str>, Box<str>)>) -> AuthorizerResult {
        AuthorizerResult {
            principal_id: "".into(),
            policy: crate::iam::policy::Policy::empty(),
            context: Vec::new(),
            usage_identifier_key: None,
            claims: Some(claims),
        }
    }

    /// `$context.authorizer.{name}`: `principalId` or a context key.
    pub fn get(&self, name: &str) -> Option<&str> {
        if let Some(claims) = &self.claims {
            let name = name.strip_prefix("claims.")?;
            return claims.iter().find(|(k, _)| &**k == name).map(|(_, v)| &**v);
        }
        if name == "principalId" {
            return Some(&self.principal_id);
        }
        self.context
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| &**v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::policy::{Caller, Request, Verdict};

    const ALLOW_GET: &str = r#"{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn:aws:execute-api:us-east-1:1:api/dev/GET/*"}]}"#;

    fn verdict(r: &AuthorizerResult, arn: &str) -> Verdict {
        r.policy.evaluate(&Request {
            arn,
            api_relative: "",
            source_ip: "127.0.0.1".parse().unwrap(),
            caller: Caller::Anonymous,
        })
    }

    #[test]
    fn answers_are_read_as_aws_reads_them() {
        let ok = format!(
            r#"{{"principalId":"u1","policyDocument":{ALLOW_GET},"context":{{"s":"x","n":12,"f":1.5,"b":true}},"usageIdentifierKey":"key-123"}}"#
        );
        let r = parse(ok.as_bytes()).unwrap();
        assert_eq!(&*r.principal_id, "u1");
        assert_eq!(r.get("principalId"), Some("u1"));
        assert_eq!(r.get("s"), Some("x"));
        assert_eq!(r.get("n"), Some("12"));
        assert_eq!(r.get("f"), Some("1.5"));
        assert_eq!(r.get("b"), Some("true"));
        assert_eq!(r.get("missing"), None);
        assert_eq!(r.usage_identifier_key.as_deref(), Some("key-123"));
        let arn = "arn:aws:execute-api:us-east-1:1:api/dev/GET/pets";
        assert_eq!(verdict(&r, arn), Verdict::Allow);
        let post = "arn:aws:execute-api:us-east-1:1:api/dev/POST/pets";
        assert_eq!(verdict(&r, post), Verdict::NotApplicable);

        let policy = ALLOW_GET;
        for (answer, why) in [
            ("not json".to_string(), "authorizer answer is not JSON"),
            ("[]".to_string(), "authorizer answer is not a JSON object"),
            (
                format!(r#"{{"policyDocument":{policy}}}"#),
                "authorizer answer has no principalId",
            ),
            (
                format!(r#"{{"principalId":7,"policyDocument":{policy}}}"#),
                "authorizer answer's principalId is not a string",
            ),
            (
                r#"{"principalId":"u"}"#.to_string(),
                "authorizer answer has no policyDocument",
            ),
            (
                r#"{"principalId":"u","policyDocument":"Allow"}"#.to_string(),
                "authorizer answer's policyDocument is not an object",
            ),
            (
                r#"{"principalId":"u","policyDocument":{"Statement":[]}}"#.to_string(),
                "authorizer answer's policyDocument is not a policy this gateway reads",
            ),
            (
                format!(r#"{{"principalId":"u","policyDocument":{policy},"context":{{"a":[1]}}}}"#),
                "authorizer answer's context holds a value that is not a string, number or boolean",
            ),
            (
                format!(
                    r#"{{"principalId":"u","policyDocument":{policy},"context":{{"a":{{}}}}}}"#
                ),
                "authorizer answer's context holds a value that is not a string, number or boolean",
            ),
            (
                format!(r#"{{"principalId":"u","policyDocument":{policy},"context":"x"}}"#),
                "authorizer answer's context is not an object",
            ),
            (
                format!(
                    r#"{{"principalId":"u","policyDocument":{policy},"usageIdentifierKey":1}}"#
                ),
                "authorizer answer's usageIdentifierKey is not a string",
            ),
        ] {
            assert_eq!(parse(answer.as_bytes()).map(|_| ()), Err(why), "{answer}");
        }
    }

    /// An explicit Deny wins over an Allow, wildcards match as IAM's.
    #[test]
    fn deny_wins_and_wildcards_match() {
        let answer = r#"{"principalId":"u","policyDocument":{"Version":"2012-10-17","Statement":[
            {"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn:aws:execute-api:*:*:api/*"},
            {"Action":"execute-api:*","Effect":"Deny","Resource":["arn:aws:execute-api:us-east-1:1:api/dev/DELETE/*"]}]}}"#;
        let r = parse(answer.as_bytes()).unwrap();
        assert_eq!(
            verdict(&r, "arn:aws:execute-api:us-east-1:1:api/dev/GET/a/b"),
            Verdict::Allow
        );
        assert_eq!(
            verdict(&r, "arn:aws:execute-api:us-east-1:1:api/dev/DELETE/a"),
            Verdict::Deny
        );
        assert_eq!(
            verdict(&r, "arn:aws:execute-api:us-east-1:1:other/dev/GET/a"),
            Verdict::NotApplicable
        );
    }
}
