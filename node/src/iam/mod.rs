//! `AWS_IAM` authorization of data-plane requests: the account's identities compiled for the
//! workers ([`IdentityTable`], built off the Raft thread with the routing table), the policy
//! language ([`policy`]) and how identity and resource policies combine ([`combine`]).
//!
//! Pure: nothing here does I/O or reads a clock; the authorization phase
//! (`dataplane/phases/authorize.rs`) hands in the request, the time and the tables.

pub mod policy;

use policy::{Kind, Policy, Verdict};
use std::collections::HashMap;
use tollgate_proto::Registry;

/// The account and region requests are authorized in: they make the method ARN
/// (`arn:aws:execute-api:{region}:{account}:…`) and the users' ARNs. The admin credentials
/// are the account's root identity.
#[derive(Debug, Clone)]
pub struct IamEnv {
    /// The region of method ARNs; also the region a signature's scope must name when the
    /// node is configured with one (`region_check`).
    pub region: String,
    /// Whether the credential scope's region must be `region` (a node configured with a
    /// region); otherwise any region is accepted, as the admin API does.
    pub region_check: bool,
    /// The 12-digit account id.
    pub account: String,
    /// The root identity's key pairs (the admin credentials).
    pub root: Vec<crate::sigv4::Credentials>,
}

/// The account id used when none is configured (the one local AWS emulators use).
pub const DEFAULT_ACCOUNT: &str = "000000000000";

impl IamEnv {
    /// The environment of a node in `region` (`None`: `us-east-1`, any region signed),
    /// account `account`, with the admin credentials as root.
    pub fn new(
        region: Option<&str>,
        account: &str,
        root: Vec<crate::sigv4::Credentials>,
    ) -> IamEnv {
        IamEnv {
            region: region.unwrap_or("us-east-1").to_string(),
            region_check: region.is_some(),
            account: account.to_string(),
            root,
        }
    }
}

impl Default for IamEnv {
    fn default() -> IamEnv {
        IamEnv::new(None, DEFAULT_ACCOUNT, Vec::new())
    }
}

/// One access key of an IAM user, ready for a request.
#[derive(Debug)]
pub struct Identity {
    /// The secret access key.
    pub secret: Box<str>,
    /// The user's name.
    pub user_name: Box<str>,
    /// The user's id (`AIDA…`): `$context.identity.user` and `.caller`.
    pub user_id: Box<str>,
    /// The user's path (`/` by default), for its ARN.
    pub user_path: Box<str>,
    /// Temporary credentials: the session token and when it expires (epoch seconds).
    pub session: Option<(Box<str>, i64)>,
    /// The user's inline policies; `Err` when one does not compile (state an older build
    /// accepted): the user is then denied everything, since the policy that does not compile
    /// may be the one that denies.
    pub policies: Result<Vec<Policy>, Box<str>>,
}

impl Identity {
    /// The user's ARN, `arn:aws:iam::{account}:user{path}{name}`, written into `out`.
    pub fn write_arn(&self, account: &str, out: &mut String) {
        out.push_str("arn:aws:iam::");
        out.push_str(account);
        out.push_str(":user");
        out.push_str(&self.user_path);
        out.push_str(&self.user_name);
    }

    /// What the user's policies say of `req`.
    pub fn verdict(&self, req: &policy::Request<'_>) -> Verdict {
        match &self.policies {
            Ok(p) => policy::evaluate_all(p, req),
            Err(_) => Verdict::Deny,
        }
    }
}

/// Every active access key of every IAM user, by key id.
#[derive(Debug, Default)]
pub struct IdentityTable {
    by_key: HashMap<Box<str>, Identity>,
}

impl IdentityTable {
    /// The identity signing with `access_key_id`, if the key exists and is active.
    pub fn get(&self, access_key_id: &str) -> Option<&Identity> {
        self.by_key.get(access_key_id)
    }

    /// How many keys the table holds.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether the table holds no key.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// Compiles the registry's active access keys with their users' policies.
pub fn compile_identities(reg: &Registry) -> IdentityTable {
    let mut by_key = HashMap::new();
    for key in reg.iam.access_keys.values().filter(|k| k.active) {
        let Some(user) = reg.iam.users.get(&key.user_name) else {
            continue;
        };
        let policies = user
            .policies
            .iter()
            .map(|(name, doc)| {
                Policy::parse(doc, Kind::Identity).map_err(|why| {
                    tracing::warn!(
                        user = %user.name,
                        policy = %name,
                        %why,
                        "user policy does not compile: the user is denied every request"
                    );
                    why.into_boxed_str()
                })
            })
            .collect();
        by_key.insert(
            key.id.as_str().into(),
            Identity {
                secret: key.secret.as_str().into(),
                user_name: user.name.as_str().into(),
                user_id: user.id.as_str().into(),
                user_path: user.path.as_str().into(),
                session: key
                    .session_token
                    .as_deref()
                    .map(|t| (t.into(), key.expires.unwrap_or(i64::MIN))),
                policies,
            },
        );
    }
    IdentityTable { by_key }
}

/// Why a request was refused by policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// A statement denies it.
    Explicit,
    /// Nothing allows it.
    Implicit,
}

/// Combines the caller's identity-policy verdict (`None`: the method does not use `AWS_IAM`,
/// the caller is anonymous) with the API's resource-policy verdict (`None`: the API has no
/// resource policy), as AWS's policy-evaluation table for API Gateway says (same account):
///
/// | identity policy        | no resource policy | resource Allow | resource neither | resource Deny |
/// |------------------------|--------------------|----------------|------------------|---------------|
/// | (not `AWS_IAM`)        | allow              | allow          | deny             | deny          |
/// | Allow                  | allow              | allow          | allow            | deny          |
/// | neither                | deny               | allow          | deny             | deny          |
/// | Deny                   | deny               | deny           | deny             | deny          |
///
/// The root identity's policy verdict is always Allow.
pub fn combine(identity: Option<Verdict>, resource: Option<Verdict>) -> Result<(), Denial> {
    if identity == Some(Verdict::Deny) || resource == Some(Verdict::Deny) {
        return Err(Denial::Explicit);
    }
    let allowed = match (identity, resource) {
        (None, None) => true,
        (None, Some(r)) => r == Verdict::Allow,
        (Some(i), r) => i == Verdict::Allow || r == Some(Verdict::Allow),
    };
    if allowed {
        Ok(())
    } else {
        Err(Denial::Implicit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy::Verdict::{Allow, Deny, NotApplicable as Neither};
    use tollgate_proto::model::{AccessKey, IamUser};

    #[test]
    fn combination_follows_the_table() {
        let ok = Ok(());
        let (ex, im) = (Err(Denial::Explicit), Err(Denial::Implicit));
        for (identity, resource, want) in [
            (None, None, ok),
            (None, Some(Allow), ok),
            (None, Some(Neither), im),
            (None, Some(Deny), ex),
            (Some(Allow), None, ok),
            (Some(Allow), Some(Allow), ok),
            (Some(Allow), Some(Neither), ok),
            (Some(Allow), Some(Deny), ex),
            (Some(Neither), None, im),
            (Some(Neither), Some(Allow), ok),
            (Some(Neither), Some(Neither), im),
            (Some(Neither), Some(Deny), ex),
            (Some(Deny), None, ex),
            (Some(Deny), Some(Allow), ex),
            (Some(Deny), Some(Neither), ex),
            (Some(Deny), Some(Deny), ex),
        ] {
            assert_eq!(
                combine(identity, resource),
                want,
                "{identity:?} {resource:?}"
            );
        }
    }

    #[test]
    fn identities_compile_from_active_keys_and_fail_closed_on_bad_policies() {
        let mut reg = Registry::default();
        let mut user = IamUser {
            name: "alice".into(),
            id: "AIDAALICE".into(),
            path: "/team/".into(),
            created_date: 0,
            policies: Default::default(),
        };
        user.policies.insert("bad".into(), "{not json".into());
        reg.iam.users.insert("alice".into(), user);
        for (id, active) in [("AKIA1", true), ("AKIA2", false)] {
            reg.iam.access_keys.insert(
                id.into(),
                AccessKey {
                    id: id.into(),
                    secret: "secret".into(),
                    user_name: "alice".into(),
                    active,
                    ..AccessKey::default()
                },
            );
        }
        let t = compile_identities(&reg);
        assert_eq!(t.len(), 1);
        assert!(t.get("AKIA2").is_none());
        let id = t.get("AKIA1").unwrap();
        let mut arn = String::new();
        id.write_arn("000000000000", &mut arn);
        assert_eq!(arn, "arn:aws:iam::000000000000:user/team/alice");
        let req = policy::Request {
            arn: "arn:aws:execute-api:us-east-1:000000000000:a/s/GET/",
            api_relative: "s/GET/",
            source_ip: "127.0.0.1".parse().unwrap(),
            caller: policy::Caller::Anonymous,
        };
        assert_eq!(id.verdict(&req), Deny);
    }
}
