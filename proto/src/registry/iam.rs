//! The state machine's rules for IAM users, access keys and user policies (IAM's own rules
//! and wording, so the admin layer can answer as IAM does):
//! - a user name is new in the account, compared case-insensitively (conflict);
//! - a user with access keys or policies cannot be deleted (conflict, "Cannot delete
//!   entity…");
//! - a user has at most [`MAX_ACCESS_KEYS_PER_USER`] long-term access keys (conflict, "Cannot
//!   exceed quota…"); an access key id is new across the account (conflict);
//! - temporary keys (with a session token) do not count towards that limit, do not keep their
//!   user from being deleted (they go with it), and are dropped once expired: each new one
//!   removes every temporary key expired at its creation time (the command's, so every node
//!   drops the same);
//! - keys and policies are found under their user (not found otherwise).
//!
//! Policy documents are stored as put; the admin layer checks them before proposing.

use super::Registry;
use crate::command::{ApplyError, ApplyResult, Command};
use crate::model::{IamUser, MAX_ACCESS_KEYS_PER_USER};

fn no_user(name: &str) -> ApplyError {
    ApplyError::NotFound(format!("The user with name {name} cannot be found."))
}

impl Registry {
    /// The user named `name` (exact name).
    fn iam_user_mut(&mut self, name: &str) -> Result<&mut IamUser, ApplyError> {
        self.iam.users.get_mut(name).ok_or_else(|| no_user(name))
    }

    /// Applies an IAM command (see [`Command::affects_iam`]).
    pub(super) fn apply_iam_command(&mut self, cmd: &Command) -> ApplyResult {
        let iam = &mut self.iam;
        match cmd {
            Command::CreateIamUser { user } => {
                if iam.users.keys().any(|n| n.eq_ignore_ascii_case(&user.name)) {
                    return Err(ApplyError::Conflict(format!(
                        "User with name {} already exists.",
                        user.name
                    )));
                }
                if !user.policies.is_empty() {
                    return Err(ApplyError::BadRequest("a new user has no policies".into()));
                }
                iam.users.insert(user.name.clone(), user.clone());
                Ok(())
            }
            Command::DeleteIamUser { name } => {
                let user = iam.users.get(name).ok_or_else(|| no_user(name))?;
                if iam
                    .access_keys
                    .values()
                    .any(|k| k.user_name == *name && k.session_token.is_none())
                {
                    return Err(ApplyError::Conflict(
                        "Cannot delete entity, must delete access keys first.".into(),
                    ));
                }
                if !user.policies.is_empty() {
                    return Err(ApplyError::Conflict(
                        "Cannot delete entity, must delete policies first.".into(),
                    ));
                }
                iam.users.remove(name);
                iam.access_keys.retain(|_, k| k.user_name != *name);
                Ok(())
            }
            Command::CreateAccessKey { key } => {
                if !iam.users.contains_key(&key.user_name) {
                    return Err(no_user(&key.user_name));
                }
                if iam.access_keys.contains_key(&key.id) {
                    return Err(ApplyError::Conflict(format!(
                        "Access key {} already exists.",
                        key.id
                    )));
                }
                if key.session_token.is_some() {
                    let now = key.created_date;
                    iam.access_keys
                        .retain(|_, k| k.expires.is_none_or(|e| e > now));
                    iam.access_keys.insert(key.id.clone(), key.clone());
                    return Ok(());
                }
                let held = iam
                    .access_keys
                    .values()
                    .filter(|k| k.user_name == key.user_name && k.session_token.is_none())
                    .count();
                if held >= MAX_ACCESS_KEYS_PER_USER {
                    return Err(ApplyError::Conflict(format!(
                        "Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}"
                    )));
                }
                iam.access_keys.insert(key.id.clone(), key.clone());
                Ok(())
            }
            Command::UpdateAccessKey {
                user_name,
                id,
                active,
            } => {
                let key = iam
                    .access_keys
                    .get_mut(id)
                    .filter(|k| k.user_name == *user_name)
                    .ok_or_else(|| no_key(id))?;
                key.active = *active;
                Ok(())
            }
            Command::DeleteAccessKey { user_name, id } => {
                match iam.access_keys.get(id) {
                    Some(k) if k.user_name == *user_name => {}
                    _ => return Err(no_key(id)),
                }
                iam.access_keys.remove(id);
                Ok(())
            }
            Command::PutUserPolicy {
                user_name,
                policy_name,
                document,
            } => {
                let user = self.iam_user_mut(user_name)?;
                user.policies.insert(policy_name.clone(), document.clone());
                Ok(())
            }
            Command::DeleteUserPolicy {
                user_name,
                policy_name,
            } => {
                let user = self.iam_user_mut(user_name)?;
                user.policies.remove(policy_name).ok_or_else(|| {
                    ApplyError::NotFound(format!(
                        "The user policy with name {policy_name} cannot be found."
                    ))
                })?;
                Ok(())
            }
            _ => Err(ApplyError::BadRequest("not an IAM command".into())),
        }
    }
}

fn no_key(id: &str) -> ApplyError {
    ApplyError::NotFound(format!("The Access Key with id {id} cannot be found."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AccessKey;

    fn user(name: &str) -> Command {
        Command::CreateIamUser {
            user: IamUser {
                name: name.into(),
                id: format!("AIDA{name}"),
                path: "/".into(),
                created_date: 1,
                policies: Default::default(),
            },
        }
    }

    fn key(id: &str, user: &str) -> Command {
        Command::CreateAccessKey {
            key: AccessKey {
                id: id.into(),
                secret: "s".into(),
                user_name: user.into(),
                active: true,
                created_date: 1,
                session_token: None,
                expires: None,
            },
        }
    }

    #[test]
    fn users_keys_and_policies_follow_iam_rules() {
        let mut r = Registry::default();
        r.apply(&user("alice")).unwrap();
        assert!(matches!(
            r.apply(&user("ALICE")),
            Err(ApplyError::Conflict(_))
        ));
        assert!(matches!(
            r.apply(&key("AKIA1", "bob")),
            Err(ApplyError::NotFound(_))
        ));
        r.apply(&key("AKIA1", "alice")).unwrap();
        assert!(matches!(
            r.apply(&key("AKIA1", "alice")),
            Err(ApplyError::Conflict(_))
        ));
        r.apply(&key("AKIA2", "alice")).unwrap();
        let e = r.apply(&key("AKIA3", "alice")).unwrap_err();
        assert!(e.to_string().starts_with("Cannot exceed quota"), "{e}");
        r.apply(&Command::PutUserPolicy {
            user_name: "alice".into(),
            policy_name: "p".into(),
            document: "{}".into(),
        })
        .unwrap();
        let del = Command::DeleteIamUser {
            name: "alice".into(),
        };
        assert!(r
            .apply(&del)
            .unwrap_err()
            .to_string()
            .contains("access keys"));
        // A key is found only under its own user.
        let wrong = Command::DeleteAccessKey {
            user_name: "bob".into(),
            id: "AKIA1".into(),
        };
        assert!(matches!(r.apply(&wrong), Err(ApplyError::NotFound(_))));
        r.apply(&Command::UpdateAccessKey {
            user_name: "alice".into(),
            id: "AKIA1".into(),
            active: false,
        })
        .unwrap();
        assert!(!r.iam.access_keys["AKIA1"].active);
        for id in ["AKIA1", "AKIA2"] {
            r.apply(&Command::DeleteAccessKey {
                user_name: "alice".into(),
                id: id.into(),
            })
            .unwrap();
        }
        assert!(r.apply(&del).unwrap_err().to_string().contains("policies"));
        r.apply(&Command::DeleteUserPolicy {
            user_name: "alice".into(),
            policy_name: "p".into(),
        })
        .unwrap();
        r.apply(&del).unwrap();
        assert!(r.iam.users.is_empty());
        assert!(del.affects_iam() && del.scopes().is_empty());
    }

    fn temp(id: &str, at: i64, expires: i64) -> Command {
        let Command::CreateAccessKey { mut key } = key(id, "alice") else {
            unreachable!()
        };
        key.created_date = at;
        key.session_token = Some("t".into());
        key.expires = Some(expires);
        Command::CreateAccessKey { key }
    }

    #[test]
    fn temporary_keys_do_not_count_block_or_outlive_their_expiry() {
        let mut r = Registry::default();
        r.apply(&user("alice")).unwrap();
        r.apply(&key("AKIA1", "alice")).unwrap();
        r.apply(&key("AKIA2", "alice")).unwrap();
        r.apply(&temp("ASIA1", 100, 200)).unwrap();
        r.apply(&temp("ASIA2", 150, 1000)).unwrap();
        assert_eq!(
            r.iam.access_keys.len(),
            4,
            "not limited by the 2 long-term keys"
        );
        // A later one drops those expired by its creation time.
        r.apply(&temp("ASIA3", 200, 1000)).unwrap();
        assert!(!r.iam.access_keys.contains_key("ASIA1"));
        assert!(r.iam.access_keys.contains_key("ASIA2"));
        for id in ["AKIA1", "AKIA2"] {
            r.apply(&Command::DeleteAccessKey {
                user_name: "alice".into(),
                id: id.into(),
            })
            .unwrap();
        }
        // Temporary keys go with their user.
        r.apply(&Command::DeleteIamUser {
            name: "alice".into(),
        })
        .unwrap();
        assert!(r.iam.access_keys.is_empty());
    }
}
