//! IAM's users, access keys and inline user policies (the calls read by
//! [`crate::admin::iam`]); each answer's body is the action's `…Result` element, which the
//! HTTP layer wraps. Errors carry IAM's codes.
//!
//! A new access key's id is minted from the call's identity (a retry finds the key its first
//! attempt made), its secret drawn at random; the secret is shown in CreateAccessKey's answer
//! only (a retry answers with the one stored).

use super::{commit, mint_id, read, Reply};
use crate::admin::error::ApiError;
use crate::admin::iam::{element, error, iso_date, Call};
use crate::admin::AdminState;
use crate::iam::policy::{Kind, Policy};
use crate::ids::now_epoch;
use tollgate_proto::model::{AccessKey, IamUser};
use tollgate_proto::{Command, Registry};

/// IAM's answers for the state machine's refusals (see `registry/iam.rs` for the wording).
fn iam_error(e: ApiError) -> ApiError {
    match (e.status, e.error_type) {
        (404, _) => error(404, "NoSuchEntity", e.message),
        (409, _) if e.is_concurrent_modification() => e,
        (409, _) if e.message.starts_with("Cannot delete entity") => {
            error(409, "DeleteConflict", e.message)
        }
        (409, _) if e.message.starts_with("Cannot exceed quota") => {
            error(409, "LimitExceeded", e.message)
        }
        (409, _) => error(409, "EntityAlreadyExists", e.message),
        (400, "BadRequestException") => error(400, "ValidationError", e.message),
        _ => e,
    }
}

fn user_of<'r>(reg: &'r Registry, name: &str) -> Result<&'r IamUser, ApiError> {
    reg.iam.users.get(name).ok_or_else(|| {
        error(
            404,
            "NoSuchEntity",
            format!("The user with name {name} cannot be found."),
        )
    })
}

fn user_xml(out: &mut String, u: &IamUser, account: &str) {
    element(out, "Path", &u.path);
    element(out, "UserName", &u.name);
    element(out, "UserId", &u.id);
    element(
        out,
        "Arn",
        &format!("arn:aws:iam::{account}:user{}{}", u.path, u.name),
    );
    element(out, "CreateDate", &iso_date(u.created_date));
}

fn result(action: &str, inner: &str) -> Reply {
    Reply {
        status: 200,
        body: format!("<{action}Result>{inner}</{action}Result>").into_bytes(),
        content_type: None,
        attachment: None,
    }
}

/// Runs one IAM call.
pub async fn run(state: &AdminState, call: Call) -> Result<Reply, ApiError> {
    let account = state.account_id.as_str();
    let action = call.action();
    match call {
        Call::CreateUser { user, path } => {
            let u = IamUser {
                name: user.clone(),
                id: format!("AIDA{}", mint_id(17).to_ascii_uppercase()),
                path,
                created_date: now_epoch(),
                policies: Default::default(),
            };
            commit(state, Command::CreateIamUser { user: u })
                .await
                .map_err(iam_error)?;
            read(state, |reg| {
                let mut out = String::from("<User>");
                user_xml(&mut out, user_of(reg, &user)?, account);
                out.push_str("</User>");
                Ok(result(action, &out))
            })
        }
        Call::GetUser { user } => read(state, |reg| {
            let mut out = String::from("<User>");
            user_xml(&mut out, user_of(reg, &user)?, account);
            out.push_str("</User>");
            Ok(result(action, &out))
        }),
        Call::ListUsers {
            path_prefix,
            marker,
            max_items,
        } => read(state, |reg| {
            let mut users = reg
                .iam
                .users
                .values()
                .filter(|u| u.path.starts_with(&path_prefix))
                .filter(|u| marker.as_ref().is_none_or(|m| u.name > *m));
            let mut out = String::from("<Users>");
            let mut last = None;
            for u in users.by_ref().take(max_items) {
                out.push_str("<member>");
                user_xml(&mut out, u, account);
                out.push_str("</member>");
                last = Some(u.name.clone());
            }
            out.push_str("</Users>");
            let more = users.next().is_some();
            element(&mut out, "IsTruncated", if more { "true" } else { "false" });
            if let (true, Some(m)) = (more, last) {
                element(&mut out, "Marker", &m);
            }
            Ok(result(action, &out))
        }),
        Call::DeleteUser { user } => {
            commit(state, Command::DeleteIamUser { name: user })
                .await
                .map_err(iam_error)?;
            Ok(Reply::empty(200))
        }
        Call::CreateAccessKey { user } => {
            let key = AccessKey {
                id: format!("AKIA{}", mint_id(16).to_ascii_uppercase()),
                secret: crate::ids::random_secret(40),
                user_name: user,
                active: true,
                created_date: now_epoch(),
                session_token: None,
                expires: None,
            };
            let id = key.id.clone();
            commit(state, Command::CreateAccessKey { key })
                .await
                .map_err(iam_error)?;
            // Read back: a retry of this call answers with the key its first attempt made.
            read(state, |reg| {
                let k = reg
                    .iam
                    .access_keys
                    .get(&id)
                    .ok_or_else(|| ApiError::internal("the new access key is gone"))?;
                let mut out = String::from("<AccessKey>");
                element(&mut out, "UserName", &k.user_name);
                element(&mut out, "AccessKeyId", &k.id);
                element(&mut out, "Status", status(k.active));
                element(&mut out, "SecretAccessKey", &k.secret);
                element(&mut out, "CreateDate", &iso_date(k.created_date));
                out.push_str("</AccessKey>");
                Ok(result(action, &out))
            })
        }
        Call::ListAccessKeys { user } => read(state, |reg| {
            user_of(reg, &user)?;
            let mut out = String::from("<AccessKeyMetadata>");
            // Temporary credentials are not listed (as IAM).
            let keys = reg.iam.access_keys.values();
            for k in keys.filter(|k| k.user_name == user && k.session_token.is_none()) {
                out.push_str("<member>");
                element(&mut out, "UserName", &k.user_name);
                element(&mut out, "AccessKeyId", &k.id);
                element(&mut out, "Status", status(k.active));
                element(&mut out, "CreateDate", &iso_date(k.created_date));
                out.push_str("</member>");
            }
            out.push_str("</AccessKeyMetadata>");
            element(&mut out, "IsTruncated", "false");
            Ok(result(action, &out))
        }),
        Call::UpdateAccessKey { user, key, active } => {
            commit(
                state,
                Command::UpdateAccessKey {
                    user_name: user,
                    id: key,
                    active,
                },
            )
            .await
            .map_err(iam_error)?;
            Ok(Reply::empty(200))
        }
        Call::DeleteAccessKey { user, key } => {
            commit(
                state,
                Command::DeleteAccessKey {
                    user_name: user,
                    id: key,
                },
            )
            .await
            .map_err(iam_error)?;
            Ok(Reply::empty(200))
        }
        Call::PutUserPolicy {
            user,
            policy,
            document,
        } => {
            Policy::parse(&document, Kind::Identity)
                .map_err(|why| error(400, "MalformedPolicyDocument", why))?;
            commit(
                state,
                Command::PutUserPolicy {
                    user_name: user,
                    policy_name: policy,
                    document,
                },
            )
            .await
            .map_err(iam_error)?;
            Ok(Reply::empty(200))
        }
        Call::GetUserPolicy { user, policy } => read(state, |reg| {
            let doc = user_of(reg, &user)?.policies.get(&policy).ok_or_else(|| {
                error(
                    404,
                    "NoSuchEntity",
                    format!("The user policy with name {policy} cannot be found."),
                )
            })?;
            let mut out = String::new();
            element(&mut out, "UserName", &user);
            element(&mut out, "PolicyName", &policy);
            // IAM answers the document URL-encoded (RFC 3986); the SDKs decode it.
            let encoded = percent_encoding::utf8_percent_encode(doc, RFC3986).to_string();
            element(&mut out, "PolicyDocument", &encoded);
            Ok(result(action, &out))
        }),
        Call::ListUserPolicies { user } => read(state, |reg| {
            let mut out = String::from("<PolicyNames>");
            for name in user_of(reg, &user)?.policies.keys() {
                element(&mut out, "member", name);
            }
            out.push_str("</PolicyNames>");
            element(&mut out, "IsTruncated", "false");
            Ok(result(action, &out))
        }),
        Call::GetSessionToken { user, seconds } => {
            let now = now_epoch();
            let key = AccessKey {
                id: format!("ASIA{}", mint_id(16).to_ascii_uppercase()),
                secret: crate::ids::random_secret(40),
                user_name: user,
                active: true,
                created_date: now,
                session_token: Some(crate::ids::random_secret(SESSION_TOKEN_CHARS)),
                expires: Some(now.saturating_add(seconds)),
            };
            let id = key.id.clone();
            commit(state, Command::CreateAccessKey { key })
                .await
                .map_err(iam_error)?;
            read(state, |reg| {
                let k = reg
                    .iam
                    .access_keys
                    .get(&id)
                    .ok_or_else(|| ApiError::internal("the new credentials are gone"))?;
                let mut out = String::from("<Credentials>");
                element(&mut out, "AccessKeyId", &k.id);
                element(&mut out, "SecretAccessKey", &k.secret);
                element(
                    &mut out,
                    "SessionToken",
                    k.session_token.as_deref().unwrap_or(""),
                );
                element(&mut out, "Expiration", &iso_date(k.expires.unwrap_or(0)));
                out.push_str("</Credentials>");
                Ok(result(action, &out))
            })
        }
        Call::DeleteUserPolicy { user, policy } => {
            commit(
                state,
                Command::DeleteUserPolicy {
                    user_name: user,
                    policy_name: policy,
                },
            )
            .await
            .map_err(iam_error)?;
            Ok(Reply::empty(200))
        }
    }
}

/// Length of a session token (random `[A-Za-z0-9]`).
const SESSION_TOKEN_CHARS: usize = 64;

/// Characters RFC 3986 leaves bare: `A-Z a-z 0-9 - . _ ~`.
const RFC3986: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn status(active: bool) -> &'static str {
    if active {
        "Active"
    } else {
        "Inactive"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_get_iam_codes() {
        let code = |e: tollgate_proto::ApplyError| iam_error(e.into()).error_type;
        use tollgate_proto::ApplyError as A;
        assert_eq!(code(A::NotFound("x".into())), "NoSuchEntity");
        assert_eq!(
            code(A::Conflict("User with name a already exists.".into())),
            "EntityAlreadyExists"
        );
        assert_eq!(
            code(A::Conflict(
                "Cannot delete entity, must delete policies first.".into()
            )),
            "DeleteConflict"
        );
        assert_eq!(
            code(A::Conflict(
                "Cannot exceed quota for AccessKeysPerUser: 2".into()
            )),
            "LimitExceeded"
        );
    }
}
