//! The subset of AWS IAM's own API that `AWS_IAM` authorization needs, on the admin port, in
//! IAM's Query protocol: a signed (service `iam`) form-encoded `POST /` with `Action=…`,
//! answered in XML. So `aws iam … --endpoint-url http://{admin}` manages users, their access
//! keys and their inline policies. One STS action is served beside them, in the same
//! protocol: `GetSessionToken` (service `sts`), signed by an IAM user's own long-term key,
//! which makes temporary credentials for that user. The operations themselves are in
//! `ops::iam`; this module reads the form into a [`Call`] and writes the XML answers.

use super::error::ApiError;
use percent_encoding::percent_decode_str;
use std::collections::BTreeMap;

/// The credential scope's service of IAM calls.
pub const SERVICE: &str = "iam";

/// The credential scope's service of `GetSessionToken`.
pub const STS_SERVICE: &str = "sts";

/// The XML namespace of IAM answers.
const NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
/// The XML namespace of STS answers.
const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Shortest and longest validity of temporary credentials, seconds (as STS for IAM users),
/// and the default.
pub const SESSION_SECONDS: (i64, i64, i64) = (900, 129_600, 43_200);

/// Whether a form asks for STS's `GetSessionToken` (signed for `sts`, by an IAM user's key).
pub fn is_sts_call(form: &BTreeMap<String, String>) -> bool {
    form.get("Action").map(String::as_str) == Some("GetSessionToken")
}

/// Whether a call to the admin port is an IAM call (the API Gateway API has no `POST /`).
pub fn is_iam_call(method: &str, path: &str) -> bool {
    method == "POST" && path == "/"
}

/// One IAM call, its parameters read.
#[allow(missing_docs)] // the variants are IAM's actions, the fields their parameters
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    CreateUser {
        user: String,
        path: String,
    },
    GetUser {
        user: String,
    },
    ListUsers {
        path_prefix: String,
        marker: Option<String>,
        max_items: usize,
    },
    DeleteUser {
        user: String,
    },
    CreateAccessKey {
        user: String,
    },
    ListAccessKeys {
        user: String,
    },
    UpdateAccessKey {
        user: String,
        key: String,
        active: bool,
    },
    DeleteAccessKey {
        user: String,
        key: String,
    },
    PutUserPolicy {
        user: String,
        policy: String,
        document: String,
    },
    GetUserPolicy {
        user: String,
        policy: String,
    },
    ListUserPolicies {
        user: String,
    },
    DeleteUserPolicy {
        user: String,
        policy: String,
    },
    /// STS: temporary credentials for `user`, valid for `seconds`.
    GetSessionToken {
        user: String,
        seconds: i64,
    },
}

/// An IAM error: its code is IAM's (`NoSuchEntity`, …), sent as `<Code>`.
pub fn error(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::with_code(status, code, message)
}

/// 400 `ValidationError`.
pub fn invalid(message: impl Into<String>) -> ApiError {
    error(400, "ValidationError", message)
}

/// Reads `application/x-www-form-urlencoded` pairs (`+` is a space).
pub fn parse_form(body: &[u8]) -> Result<BTreeMap<String, String>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| invalid("The request body is not UTF-8"))?;
    let mut out = BTreeMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| invalid("A form value is not UTF-8 once decoded"))
        };
        if out.insert(decode(k)?, decode(v)?).is_some() {
            return Err(invalid(format!("Parameter {k} is given more than once")));
        }
    }
    Ok(out)
}

/// A user or policy name: 1 to `max` of `[A-Za-z0-9+=,.@_-]`, as IAM.
fn check_name(what: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let ok = (1..=max).contains(&value.chars().count())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "The specified value for {what} is invalid. It must contain only alphanumeric characters and/or the following: +=,.@_- and be 1 to {max} characters long."
        )))
    }
}

/// An IAM path: `/`, or `/…/` of printable ASCII, at most 512 characters.
fn check_path(path: &str) -> Result<(), ApiError> {
    let ok = path.len() <= 512
        && path.starts_with('/')
        && path.ends_with('/')
        && path.bytes().all(|b| (0x21..0x7f).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "The specified value for path is invalid. It must begin and end with / and contain only printable ASCII characters.",
        ))
    }
}

impl Call {
    /// Reads a `GetSessionToken` form signed by `user`'s key.
    pub fn parse_sts(form: &BTreeMap<String, String>, user: String) -> Result<Call, ApiError> {
        if let Some(v) = form.get("Version").filter(|v| *v != "2011-06-15") {
            return Err(invalid(format!("Unsupported STS API version {v}")));
        }
        if form.contains_key("SerialNumber") || form.contains_key("TokenCode") {
            return Err(invalid("MFA is not supported by Tollgate"));
        }
        let (min, max, default) = SESSION_SECONDS;
        let seconds = match form.get("DurationSeconds") {
            None => default,
            Some(d) => d
                .parse::<i64>()
                .ok()
                .filter(|d| (min..=max).contains(d))
                .ok_or_else(|| {
                    invalid(format!(
                        "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value between {min} and {max}"
                    ))
                })?,
        };
        Ok(Call::GetSessionToken { user, seconds })
    }

    /// Reads the call a form asks for.
    pub fn parse(form: &BTreeMap<String, String>) -> Result<Call, ApiError> {
        let get = |k: &str| form.get(k).map(String::as_str);
        let required = |k: &str| {
            get(k)
                .map(str::to_string)
                .ok_or_else(|| invalid(format!("1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null", lower_first(k))))
        };
        let user = || {
            let u = required("UserName")?;
            check_name("userName", &u, 64)?;
            Ok::<_, ApiError>(u)
        };
        let policy = || {
            let p = required("PolicyName")?;
            check_name("policyName", &p, 128)?;
            Ok::<_, ApiError>(p)
        };
        let action = get("Action").ok_or_else(|| error(400, "MissingAction", "Missing Action"))?;
        if let Some(v) = get("Version").filter(|v| *v != "2010-05-08") {
            return Err(invalid(format!("Unsupported IAM API version {v}")));
        }
        Ok(match action {
            "CreateUser" => {
                let path = get("Path").unwrap_or("/").to_string();
                check_path(&path)?;
                if get("PermissionsBoundary").is_some() || form.keys().any(|k| k.starts_with("Tags.")) {
                    return Err(invalid(
                        "Permissions boundaries and tags on users are not supported by Tollgate",
                    ));
                }
                Call::CreateUser { user: user()?, path }
            }
            "GetUser" => Call::GetUser { user: user().map_err(|_| invalid("UserName is required: the admin credentials are the account's root identity, not a user"))? },
            "ListUsers" => {
                let path_prefix = get("PathPrefix").unwrap_or("/").to_string();
                let max_items = match get("MaxItems") {
                    None => 100,
                    Some(n) => n
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| invalid("MaxItems must be between 1 and 1000"))?,
                };
                Call::ListUsers {
                    path_prefix,
                    marker: get("Marker").map(str::to_string),
                    max_items,
                }
            }
            "DeleteUser" => Call::DeleteUser { user: user()? },
            "CreateAccessKey" => Call::CreateAccessKey { user: user().map_err(|_| invalid("UserName is required: Tollgate makes access keys for IAM users only (the admin credentials are the root's)"))? },
            "ListAccessKeys" => Call::ListAccessKeys { user: user()? },
            "UpdateAccessKey" => Call::UpdateAccessKey {
                user: user()?,
                key: required("AccessKeyId")?,
                active: match required("Status")?.as_str() {
                    "Active" => true,
                    "Inactive" => false,
                    other => {
                        return Err(invalid(format!(
                            "Invalid status {other}: must be Active or Inactive"
                        )))
                    }
                },
            },
            "DeleteAccessKey" => Call::DeleteAccessKey {
                user: user()?,
                key: required("AccessKeyId")?,
            },
            "PutUserPolicy" => Call::PutUserPolicy {
                user: user()?,
                policy: policy()?,
                document: required("PolicyDocument")?,
            },
            "GetUserPolicy" => Call::GetUserPolicy {
                user: user()?,
                policy: policy()?,
            },
            "ListUserPolicies" => Call::ListUserPolicies { user: user()? },
            "DeleteUserPolicy" => Call::DeleteUserPolicy {
                user: user()?,
                policy: policy()?,
            },
            other => {
                return Err(error(
                    400,
                    "InvalidAction",
                    format!("The action {other} is not valid for this endpoint (Tollgate serves only the IAM actions AWS_IAM authorization needs)"),
                ))
            }
        })
    }

    /// The action's name (the answer's root element is `{action}Response`).
    pub fn action(&self) -> &'static str {
        match self {
            Call::CreateUser { .. } => "CreateUser",
            Call::GetUser { .. } => "GetUser",
            Call::ListUsers { .. } => "ListUsers",
            Call::DeleteUser { .. } => "DeleteUser",
            Call::CreateAccessKey { .. } => "CreateAccessKey",
            Call::ListAccessKeys { .. } => "ListAccessKeys",
            Call::UpdateAccessKey { .. } => "UpdateAccessKey",
            Call::DeleteAccessKey { .. } => "DeleteAccessKey",
            Call::PutUserPolicy { .. } => "PutUserPolicy",
            Call::GetUserPolicy { .. } => "GetUserPolicy",
            Call::ListUserPolicies { .. } => "ListUserPolicies",
            Call::DeleteUserPolicy { .. } => "DeleteUserPolicy",
            Call::GetSessionToken { .. } => "GetSessionToken",
        }
    }

    /// Whether the call changes state.
    pub fn is_write(&self) -> bool {
        !matches!(
            self,
            Call::GetUser { .. }
                | Call::ListUsers { .. }
                | Call::ListAccessKeys { .. }
                | Call::GetUserPolicy { .. }
                | Call::ListUserPolicies { .. }
        )
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// `text` with XML's special characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Appends `<name>text</name>`.
pub fn element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(text));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// The whole answer of `action`: its result (`inner`, possibly empty) and the request id.
pub fn response(action: &str, inner: &[u8], request_id: &str) -> Vec<u8> {
    let ns = if action == "GetSessionToken" {
        STS_NAMESPACE
    } else {
        NAMESPACE
    };
    let mut out = format!("<{action}Response xmlns=\"{ns}\">").into_bytes();
    out.extend_from_slice(inner);
    out.extend_from_slice(b"<ResponseMetadata>");
    let mut id = String::new();
    element(&mut id, "RequestId", request_id);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(format!("</ResponseMetadata></{action}Response>").as_bytes());
    out
}

/// An error answer in IAM's shape.
pub fn error_response(e: &ApiError, request_id: &str) -> Vec<u8> {
    let kind = if e.status >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    let mut out = format!("<ErrorResponse xmlns=\"{NAMESPACE}\"><Error>");
    element(&mut out, "Type", kind);
    element(&mut out, "Code", e.error_type);
    element(&mut out, "Message", &e.message);
    out.push_str("</Error>");
    element(&mut out, "RequestId", request_id);
    out.push_str("</ErrorResponse>");
    out.into_bytes()
}

/// IAM's time format (ISO 8601, UTC).
pub fn iso_date(epoch: i64) -> String {
    let d = crate::sigv4::format_amz_date(epoch);
    // YYYYMMDDTHHMMSSZ → YYYY-MM-DDTHH:MM:SSZ
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[9..11],
        &d[11..13],
        &d[13..15]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(body: &str) -> Result<Call, ApiError> {
        Call::parse(&parse_form(body.as_bytes())?)
    }

    #[test]
    fn forms_become_calls() {
        assert_eq!(
            call("Action=CreateUser&Version=2010-05-08&UserName=alice").unwrap(),
            Call::CreateUser {
                user: "alice".into(),
                path: "/".into()
            }
        );
        assert_eq!(
            call("Action=PutUserPolicy&UserName=a&PolicyName=p&PolicyDocument=%7B%22a%22%3A+1%7D")
                .unwrap(),
            Call::PutUserPolicy {
                user: "a".into(),
                policy: "p".into(),
                document: "{\"a\": 1}".into()
            }
        );
        let e = call("Action=CreateUser&UserName=bad%2Fname").unwrap_err();
        assert_eq!((e.status, e.error_type), (400, "ValidationError"));
        let e = call("Action=CreateUser").unwrap_err();
        assert_eq!(e.error_type, "ValidationError");
        let e = call("Action=CreateRole&RoleName=r").unwrap_err();
        assert_eq!(e.error_type, "InvalidAction");
        let e = call("Action=CreateUser&UserName=a&UserName=b").unwrap_err();
        assert_eq!(e.status, 400);
        let e = call("Action=UpdateAccessKey&UserName=a&AccessKeyId=k&Status=Maybe").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(call("Action=CreateUser&UserName=a&Path=nope").is_err());
        assert!(call("Action=CreateUser&UserName=a&Tags.member.1.Key=k").is_err());
        assert!(!call("Action=ListUsers").unwrap().is_write());
        let sts = |body: &str| Call::parse_sts(&parse_form(body.as_bytes()).unwrap(), "u".into());
        assert_eq!(
            sts("Action=GetSessionToken&Version=2011-06-15").unwrap(),
            Call::GetSessionToken {
                user: "u".into(),
                seconds: 43_200
            }
        );
        assert!(sts("Action=GetSessionToken&DurationSeconds=899").is_err());
        assert!(sts("Action=GetSessionToken&DurationSeconds=900").is_ok());
        assert!(sts("Action=GetSessionToken&TokenCode=123456").is_err());
        assert!(is_sts_call(&parse_form(b"Action=GetSessionToken").unwrap()));
    }

    #[test]
    fn xml_is_escaped_and_shaped() {
        let e = invalid("a <b> & \"c\"");
        let body = String::from_utf8(error_response(&e, "rid")).unwrap();
        assert!(body.contains("<Code>ValidationError</Code>"), "{body}");
        assert!(body.contains("a &lt;b&gt; &amp; &quot;c&quot;"), "{body}");
        let ok = String::from_utf8(response("DeleteUser", b"", "r1")).unwrap();
        assert_eq!(
            ok,
            format!("<DeleteUserResponse xmlns=\"{NAMESPACE}\"><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DeleteUserResponse>")
        );
        assert_eq!(iso_date(0), "1970-01-01T00:00:00Z");
    }
}
