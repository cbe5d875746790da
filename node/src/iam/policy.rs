//! IAM policy documents for `execute-api:Invoke`: parsing (with IAM's refusals), compiling
//! and evaluating, pure and without I/O.
//!
//! Served: `Version` (`2012-10-17`, `2008-10-17`), `Statement` (one or a list), `Sid`,
//! `Effect`, `Action`/`NotAction`, `Resource`/`NotResource`, `Principal` (resource policies
//! only: `*`, `{"AWS": …}` with `*`, an account id, `arn:aws:iam::{account}:root` or a user
//! ARN) and `Condition` with `IpAddress`/`NotIpAddress` on `aws:SourceIp` (CIDRs, IPv4 and
//! IPv6). Anything else (`NotPrincipal`, other principal types, other condition operators or
//! keys) is refused when the policy is put, so a policy is never half understood: a setting
//! ignored could be a `Deny` ignored.
//!
//! Matching, as IAM: actions case-insensitively with `*`/`?`; resources segment by segment
//! (the six `:`-separated parts of an ARN, the last one holding any further `:` and `/`), each
//! with `*`/`?`, case-sensitively; `*` alone matches every resource. In a resource policy,
//! `execute-api:/{stage}/{METHOD}/{path}` is the API's own ARN prefix left out.

use serde_json::Value;
use std::net::IpAddr;

/// The action every `execute-api` request asks for.
pub const INVOKE: &str = "execute-api:Invoke";

/// Largest policy document accepted, characters: one bound for both kinds (IAM's inline
/// user policies are smaller, 2048 characters without whitespace; an API's resource policy
/// may be larger), so no single policy can bloat the replicated log.
pub const MAX_POLICY_CHARS: usize = 20_480;

/// What kind of policy a document is: the two differ in whether `Principal` is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Attached to an identity (a user's inline policy): no `Principal`.
    Identity,
    /// Attached to the API (`RestApi.policy`): every statement names its `Principal`.
    Resource,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Refuses, whatever grants.
    Deny,
}

/// A policy's verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A statement allows it and none denies it.
    Allow,
    /// A statement denies it (an explicit deny).
    Deny,
    /// No statement applies (an implicit deny, unless something else allows).
    NotApplicable,
}

/// Who makes the request, as policies see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    /// Not authenticated (a method without `AWS_IAM`).
    Anonymous,
    /// The account's root identity (the admin credentials).
    Root {
        /// The account.
        account: &'a str,
    },
    /// An IAM user.
    User {
        /// The account.
        account: &'a str,
        /// `arn:aws:iam::{account}:user/{path}{name}`.
        arn: &'a str,
    },
}

impl Caller<'_> {
    /// How AWS names the caller in an access-denied message.
    pub fn describe(&self, out: &mut String) {
        match self {
            Caller::Anonymous => out.push_str("anonymous"),
            Caller::Root { account } => {
                out.push_str("arn:aws:iam::");
                out.push_str(account);
                out.push_str(":root");
            }
            Caller::User { arn, .. } => out.push_str(arn),
        }
    }
}

/// What a request is checked on.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method ARN, `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/{path}`.
    pub arn: &'a str,
    /// The part of `arn` after `{apiId}/` (what `execute-api:/…` shorthands match).
    pub api_relative: &'a str,
    /// The client's address (`aws:SourceIp`).
    pub source_ip: IpAddr,
    /// Who asks.
    pub caller: Caller<'a>,
}

/// A compiled policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    effect: Effect,
    /// `None`: an identity policy's statement (it applies to its identity).
    principals: Option<Vec<PrincipalPattern>>,
    actions: Vec<String>,
    not_action: bool,
    resources: Vec<ResourcePattern>,
    not_resource: bool,
    conditions: Vec<IpCondition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PrincipalPattern {
    /// `*`: everyone, anonymous callers included.
    Anyone,
    /// Every identity of this account.
    Account(String),
    /// One user, by ARN (wildcards allowed, as in other ARNs).
    Arn(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ResourcePattern {
    /// A full ARN pattern (or `*`).
    Arn(String),
    /// `execute-api:/…`: the rest of this API's method ARN.
    ApiRelative(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct IpCondition {
    /// `NotIpAddress` when true.
    negated: bool,
    ranges: Vec<Cidr>,
}

/// An address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::y/n` or a bare address (one host).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 3 => {
                p.parse().ok().filter(|n| *n <= max)?
            }
            Some(_) => return None,
        };
        Some(Cidr { addr, prefix })
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Whether `text` matches `pattern`, where `*` is any run of characters and `?` any one
/// character. Iterative (no backtracking blow-up): the last `*` is the only resume point.
pub fn glob(pattern: &str, text: &str) -> bool {
    glob_bytes(pattern.as_bytes(), text.as_bytes(), false)
}

fn glob_bytes(p: &[u8], t: &[u8], ignore_case: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                resume = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == b'?' || eq(c, t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match resume {
                Some((rp, rt)) => {
                    pi = rp + 1;
                    ti = rt + 1;
                    resume = Some((rp, rt + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Whether the ARN `arn` matches the ARN pattern `pattern`, segment by segment.
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let mut ps = pattern.splitn(6, ':');
    let mut ts = arn.splitn(6, ':');
    loop {
        match (ps.next(), ts.next()) {
            (None, None) => return true,
            (Some(p), Some(t)) if glob(p, t) => {}
            _ => return false,
        }
    }
}

fn malformed(msg: impl Into<String>) -> String {
    msg.into()
}

/// A string or a list of strings (IAM's "one or many").
fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| malformed(format!("{what} must hold only strings")))
            })
            .collect(),
        _ => Err(malformed(format!(
            "{what} must be a string or a non-empty list of strings"
        ))),
    }
}

impl Policy {
    /// A policy with no statement (allows nothing).
    pub fn empty() -> Policy {
        Policy {
            statements: Vec::new(),
        }
    }

    /// Parses a policy document of `kind`; the error is IAM's `MalformedPolicyDocument`
    /// message (or says what Tollgate does not serve).
    pub fn parse(text: &str, kind: Kind) -> Result<Policy, String> {
        if text.chars().count() > MAX_POLICY_CHARS {
            return Err(format!(
                "The policy document must be at most {MAX_POLICY_CHARS} characters"
            ));
        }
        let doc: Value =
            serde_json::from_str(text).map_err(|e| format!("Syntax errors in policy: {e}"))?;
        let Value::Object(doc) = doc else {
            return Err("The policy document must be a JSON object".into());
        };
        for key in doc.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(format!("Policy document has an unknown element: {key}"));
            }
        }
        match doc.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
            Some(_) => {
                return Err("The policy must contain a valid version string".into());
            }
        }
        let statements = match doc.get("Statement") {
            Some(Value::Array(list)) if !list.is_empty() => list.iter().collect::<Vec<_>>(),
            Some(s @ Value::Object(_)) => vec![s],
            _ => return Err("Missing required field Statement".into()),
        };
        let statements = statements
            .into_iter()
            .map(|s| Statement::parse(s, kind))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { statements })
    }

    /// The policy's verdict on `req` (explicit deny wins over allow).
    pub fn evaluate(&self, req: &Request<'_>) -> Verdict {
        let mut verdict = Verdict::NotApplicable;
        for s in &self.statements {
            if s.applies(req) {
                match s.effect {
                    Effect::Deny => return Verdict::Deny,
                    Effect::Allow => verdict = Verdict::Allow,
                }
            }
        }
        verdict
    }
}

/// The verdict of several policies taken together (explicit deny wins).
pub fn evaluate_all<'p>(policies: impl IntoIterator<Item = &'p Policy>, req: &Request) -> Verdict {
    let mut verdict = Verdict::NotApplicable;
    for p in policies {
        match p.evaluate(req) {
            Verdict::Deny => return Verdict::Deny,
            Verdict::Allow => verdict = Verdict::Allow,
            Verdict::NotApplicable => {}
        }
    }
    verdict
}

impl Statement {
    fn parse(v: &Value, kind: Kind) -> Result<Statement, String> {
        let Value::Object(s) = v else {
            return Err("Each statement must be a JSON object".into());
        };
        for key in s.keys() {
            match key.as_str() {
                "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource"
                | "Principal" | "Condition" => {}
                "NotPrincipal" => {
                    return Err("NotPrincipal is not supported by Tollgate".into());
                }
                other => return Err(format!("Statement has an unknown element: {other}")),
            }
        }
        let effect = match s.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            _ => return Err("Missing or invalid Effect: it must be Allow or Deny".into()),
        };
        let (actions, not_action) = match (s.get("Action"), s.get("NotAction")) {
            (Some(a), None) => (strings(a, "Action")?, false),
            (None, Some(a)) => (strings(a, "NotAction")?, true),
            _ => return Err("Each statement needs exactly one of Action and NotAction".into()),
        };
        for a in &actions {
            if a != "*" && !a.contains(':') {
                return Err(format!("Actions/Condition can contain only one colon: {a}"));
            }
        }
        let (resources, not_resource) = match (s.get("Resource"), s.get("NotResource")) {
            (Some(r), None) => (strings(r, "Resource")?, false),
            (None, Some(r)) => (strings(r, "NotResource")?, true),
            _ => return Err("Each statement needs exactly one of Resource and NotResource".into()),
        };
        let resources = resources
            .into_iter()
            .map(|r| ResourcePattern::parse(&r, kind))
            .collect::<Result<Vec<_>, _>>()?;
        let principals = match (kind, s.get("Principal")) {
            (Kind::Identity, None) => None,
            (Kind::Identity, Some(_)) => {
                return Err("Policy document should not specify a principal.".into())
            }
            (Kind::Resource, None) => {
                return Err("Each statement of a resource policy needs a Principal".into())
            }
            (Kind::Resource, Some(p)) => Some(PrincipalPattern::parse(p)?),
        };
        let conditions = match s.get("Condition") {
            None => Vec::new(),
            Some(c) => IpCondition::parse(c)?,
        };
        Ok(Statement {
            effect,
            principals,
            actions,
            not_action,
            resources,
            not_resource,
            conditions,
        })
    }

    fn applies(&self, req: &Request<'_>) -> bool {
        let action = self
            .actions
            .iter()
            .any(|a| glob_bytes(a.as_bytes(), INVOKE.as_bytes(), true));
        if action == self.not_action {
            return false;
        }
        let resource = self.resources.iter().any(|r| r.matches(req));
        if resource == self.not_resource {
            return false;
        }
        if let Some(principals) = &self.principals {
            if !principals.iter().any(|p| p.matches(&req.caller)) {
                return false;
            }
        }
        self.conditions.iter().all(|c| c.holds(req.source_ip))
    }
}

impl PrincipalPattern {
    fn parse(v: &Value) -> Result<Vec<PrincipalPattern>, String> {
        let aws = match v {
            Value::String(s) if s == "*" => return Ok(vec![PrincipalPattern::Anyone]),
            Value::Object(m) => {
                if let Some(other) = m.keys().find(|k| *k != "AWS") {
                    return Err(format!(
                        "Principal type {other} is not supported by Tollgate (only AWS)"
                    ));
                }
                m.get("AWS")
                    .ok_or_else(|| "Principal must name AWS principals".to_string())?
            }
            _ => return Err("Invalid principal in policy".into()),
        };
        strings(aws, "Principal")?
            .into_iter()
            .map(|p| {
                if p == "*" {
                    Ok(PrincipalPattern::Anyone)
                } else if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(PrincipalPattern::Account(p))
                } else if let Some(account) = p
                    .strip_prefix("arn:aws:iam::")
                    .and_then(|r| r.strip_suffix(":root"))
                {
                    Ok(PrincipalPattern::Account(account.to_string()))
                } else if p.starts_with("arn:aws:iam::") && p.contains(":user/") {
                    Ok(PrincipalPattern::Arn(p))
                } else {
                    Err(format!("Invalid principal in policy: \"AWS\":\"{p}\""))
                }
            })
            .collect()
    }

    fn matches(&self, caller: &Caller<'_>) -> bool {
        match (self, caller) {
            (PrincipalPattern::Anyone, _) => true,
            (PrincipalPattern::Account(a), Caller::Root { account })
            | (PrincipalPattern::Account(a), Caller::User { account, .. }) => a == account,
            (PrincipalPattern::Arn(p), Caller::User { arn, .. }) => arn_matches(p, arn),
            _ => false,
        }
    }
}

impl ResourcePattern {
    fn parse(r: &str, kind: Kind) -> Result<ResourcePattern, String> {
        if let Some(rest) = r.strip_prefix("execute-api:/") {
            if kind == Kind::Identity {
                return Err(format!(
                    "Resource {r} must be an ARN: execute-api:/ is only short for the API in its resource policy"
                ));
            }
            return Ok(ResourcePattern::ApiRelative(rest.to_string()));
        }
        if r == "*" || (r.starts_with("arn:") && r.splitn(6, ':').count() == 6) {
            Ok(ResourcePattern::Arn(r.to_string()))
        } else {
            Err(format!("Resource {r} must be in ARN format or \"*\"."))
        }
    }

    fn matches(&self, req: &Request<'_>) -> bool {
        match self {
            ResourcePattern::Arn(p) => arn_matches(p, req.arn),
            ResourcePattern::ApiRelative(p) => glob(p, req.api_relative),
        }
    }
}

impl IpCondition {
    fn parse(v: &Value) -> Result<Vec<IpCondition>, String> {
        let Value::Object(ops) = v else {
            return Err("Condition must be a JSON object".into());
        };
        let mut out = Vec::new();
        for (op, keys) in ops {
            let negated = match op.as_str() {
                "IpAddress" => false,
                "NotIpAddress" => true,
                other => {
                    return Err(format!(
                        "Condition operator {other} is not supported by Tollgate (only IpAddress and NotIpAddress)"
                    ))
                }
            };
            let Value::Object(keys) = keys else {
                return Err(format!("Condition {op} must be a JSON object"));
            };
            for (key, values) in keys {
                if !key.eq_ignore_ascii_case("aws:SourceIp") {
                    return Err(format!(
                        "Condition key {key} is not supported by Tollgate (only aws:SourceIp)"
                    ));
                }
                let ranges = strings(values, "aws:SourceIp")?
                    .iter()
                    .map(|c| Cidr::parse(c).ok_or_else(|| format!("Invalid IP range: {c}")))
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(IpCondition { negated, ranges });
            }
        }
        Ok(out)
    }

    fn holds(&self, ip: IpAddr) -> bool {
        self.ranges.iter().any(|r| r.contains(ip)) != self.negated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_table() {
        for (p, t, want) in [
            ("*", "", true),
            ("*", "anything/at:all", true),
            ("a*c", "abc", true),
            ("a*c", "ac", true),
            ("a*c", "abd", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*/GET/*", "prod/GET/pets/1", true),
            ("*/GET/*", "prod/POST/pets", false),
            ("prod/*/pets", "prod/GET/pets", true),
            ("prod/*/pets", "prod/GET/pets/1", false),
            ("a**b", "ab", true),
            ("abc", "ABC", false),
            (
                "*a*a*a*a*a*b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
            ),
        ] {
            assert_eq!(glob(p, t), want, "{p} ~ {t}");
        }
    }

    #[test]
    fn arns_match_segment_by_segment() {
        let arn = "arn:aws:execute-api:us-east-1:000000000000:abc123/prod/GET/pets/1";
        for (p, want) in [
            ("*", true),
            ("arn:aws:execute-api:*:*:*", true),
            ("arn:aws:execute-api:us-east-1:000000000000:abc123/*", true),
            (
                "arn:aws:execute-api:us-east-1:000000000000:abc123/prod/GET/pets/*",
                true,
            ),
            (
                "arn:aws:execute-api:us-east-1:000000000000:abc123/prod/POST/*",
                false,
            ),
            ("arn:aws:execute-api:eu-west-1:*:*", false),
            ("arn:aws:execute-api:us-east-?:*:abc123/*", true),
            // A wildcard stays in its segment: "*" in the region does not eat the account.
            ("arn:aws:execute-api:*:abc123/*", false),
            ("arn:aws:s3:::*", false),
        ] {
            assert_eq!(arn_matches(p, arn), want, "{p}");
        }
    }

    #[test]
    fn cidrs() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains(ip("10.1.255.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.0.9")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(!Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.2")));
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains(ip("2001:db8:1::1")));
        assert!(!Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains(ip("10.0.0.1")));
        for bad in ["10.0.0.0/33", "10.0.0.0/", "x/8", "10.0.0.0/-1", "::/129"] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }

    const ARN: &str = "arn:aws:execute-api:us-east-1:000000000000:api1/prod/GET/pets";
    const ALICE: &str = "arn:aws:iam::000000000000:user/alice";

    fn req(caller: Caller<'static>, ip: &str) -> Request<'static> {
        Request {
            arn: ARN,
            api_relative: "prod/GET/pets",
            source_ip: ip.parse().unwrap(),
            caller,
        }
    }

    fn alice() -> Caller<'static> {
        Caller::User {
            account: "000000000000",
            arn: ALICE,
        }
    }

    #[test]
    fn identity_policies_table() {
        let allow_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:*"}]}"#;
        let allow_get = r#"{"Statement":{"Effect":"Allow","Action":["execute-api:*"],"Resource":"arn:aws:execute-api:*:*:api1/*/GET/*"}}"#;
        let deny_pets = r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:api1/prod/*/pets"}]}"#;
        let other_action =
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
        let not_action = r#"{"Statement":[{"Effect":"Deny","NotAction":"s3:*","Resource":"*"}]}"#;
        let from_net = r#"{"Statement":[{"Effect":"Allow","Action":"execute-api:invoke","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8"]}}}]}"#;
        let not_resource = r#"{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","NotResource":"arn:aws:execute-api:*:*:api1/prod/GET/pets"}]}"#;
        for (doc, ip, want) in [
            (allow_all, "1.2.3.4", Verdict::Allow),
            (allow_get, "1.2.3.4", Verdict::Allow),
            (deny_pets, "1.2.3.4", Verdict::Deny),
            (other_action, "1.2.3.4", Verdict::NotApplicable),
            (not_action, "1.2.3.4", Verdict::Deny),
            (from_net, "10.9.9.9", Verdict::Allow),
            (from_net, "11.0.0.1", Verdict::NotApplicable),
            (not_resource, "1.2.3.4", Verdict::NotApplicable),
        ] {
            let p = Policy::parse(doc, Kind::Identity).unwrap();
            assert_eq!(p.evaluate(&req(alice(), ip)), want, "{doc} from {ip}");
        }
        // Explicit deny wins across policies too.
        let a = Policy::parse(allow_all, Kind::Identity).unwrap();
        let d = Policy::parse(deny_pets, Kind::Identity).unwrap();
        assert_eq!(
            evaluate_all([&a, &d], &req(alice(), "1.1.1.1")),
            Verdict::Deny
        );
        assert_eq!(evaluate_all([&a], &req(alice(), "1.1.1.1")), Verdict::Allow);
        assert_eq!(
            evaluate_all([], &req(alice(), "1.1.1.1")),
            Verdict::NotApplicable
        );
    }

    #[test]
    fn resource_policies_table() {
        let ip_deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*"},{"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*","Condition":{"IpAddress":{"aws:SourceIp":["127.0.0.0/8"]}}}]}"#;
        let only_net = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"execute-api:Invoke","Resource":"execute-api:/prod/*","Condition":{"NotIpAddress":{"aws:SourceIp":"192.168.0.0/16"}}}]}"#;
        let alice_only = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::000000000000:user/alice"]},"Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:000000000000:api1/*"}]}"#;
        let account = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"000000000000"},"Action":"execute-api:Invoke","Resource":"*"}]}"#;
        let root = Caller::Root {
            account: "000000000000",
        };
        for (doc, caller, ip, want) in [
            (ip_deny, Caller::Anonymous, "127.0.0.1", Verdict::Deny),
            (ip_deny, Caller::Anonymous, "10.0.0.1", Verdict::Allow),
            (ip_deny, root, "127.0.0.1", Verdict::Deny),
            (only_net, Caller::Anonymous, "10.0.0.1", Verdict::Allow),
            (
                only_net,
                Caller::Anonymous,
                "192.168.1.1",
                Verdict::NotApplicable,
            ),
            (alice_only, alice(), "1.1.1.1", Verdict::Allow),
            (
                alice_only,
                Caller::Anonymous,
                "1.1.1.1",
                Verdict::NotApplicable,
            ),
            (alice_only, root, "1.1.1.1", Verdict::NotApplicable),
            (account, alice(), "1.1.1.1", Verdict::Allow),
            (account, root, "1.1.1.1", Verdict::Allow),
            (
                account,
                Caller::Anonymous,
                "1.1.1.1",
                Verdict::NotApplicable,
            ),
        ] {
            let p = Policy::parse(doc, Kind::Resource).unwrap();
            assert_eq!(p.evaluate(&req(caller, ip)), want, "{doc} {caller:?} {ip}");
        }
    }

    #[test]
    fn what_is_not_understood_is_refused() {
        for (doc, kind) in [
            ("not json", Kind::Identity),
            ("[]", Kind::Identity),
            (r#"{"Version":"2001-01-01","Statement":[]}"#, Kind::Identity),
            (r#"{"Statement":[]}"#, Kind::Identity),
            (
                r#"{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}"#,
                Kind::Identity,
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
                Kind::Identity,
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*"}]}"#,
                Kind::Identity,
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*"}]}"#,
                Kind::Identity,
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"execute-api:/*"}]}"#,
                Kind::Identity,
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
                Kind::Resource,
            ),
            (
                r#"{"Statement":[{"Effect":"Deny","NotPrincipal":"*","Action":"*","Resource":"*"}]}"#,
                Kind::Resource,
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"x"},"Action":"*","Resource":"*"}]}"#,
                Kind::Resource,
            ),
            (
                r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":"x"}}}]}"#,
                Kind::Resource,
            ),
            (
                r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceVpc":"x"}}}]}"#,
                Kind::Resource,
            ),
            (
                r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"300.0.0.1"}}}]}"#,
                Kind::Resource,
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"pets"}]}"#,
                Kind::Identity,
            ),
        ] {
            assert!(Policy::parse(doc, kind).is_err(), "{doc}");
        }
    }
}
