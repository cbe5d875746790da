//! Finding which API and stage a request invokes, from its host or its path.
//!
//! Two forms, as API Gateway and its local emulators accept them:
//! - host `{apiId}.execute-api.{domain}` with path `/{stage}/{resource path}`;
//! - any host with path `/restapis/{apiId}/{stage}/_user_request_/{resource path}`.

/// The API, stage and stage-relative path a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The API id.
    pub api_id: &'a str,
    /// The stage name.
    pub stage: &'a str,
    /// The path below the stage, starting with `/`.
    pub path: &'a str,
}

/// Parses the invocation target; `None` when the request uses neither form.
pub fn resolve<'a>(host: Option<&'a [u8]>, path: &'a str) -> Option<Target<'a>> {
    if let Some(api_id) = host.and_then(api_from_host) {
        let rest = path.strip_prefix('/')?;
        let (stage, sub) = split_first(rest);
        if stage.is_empty() {
            return None;
        }
        return Some(Target {
            api_id,
            stage,
            path: sub,
        });
    }
    let rest = path.strip_prefix("/restapis/")?;
    let (api_id, rest) = rest.split_once('/')?;
    let (stage, rest) = rest.split_once('/')?;
    let sub = rest.strip_prefix("_user_request_")?;
    let sub = if sub.is_empty() {
        "/"
    } else if sub.starts_with('/') {
        sub
    } else {
        return None;
    };
    if api_id.is_empty() || stage.is_empty() {
        return None;
    }
    Some(Target {
        api_id,
        stage,
        path: sub,
    })
}

/// `(first segment, "/rest")`; the rest is `/` when nothing follows.
fn split_first(rest: &str) -> (&str, &str) {
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    }
}

fn api_from_host(host: &[u8]) -> Option<&str> {
    let host = std::str::from_utf8(host).ok()?;
    let (label, rest) = host.split_once('.')?;
    let rest = rest.get(..12)?;
    if !rest.eq_ignore_ascii_case("execute-api.") || label.is_empty() {
        return None;
    }
    label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric())
        .then_some(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<'a>(api_id: &'a str, stage: &'a str, path: &'a str) -> Option<Target<'a>> {
        Some(Target {
            api_id,
            stage,
            path,
        })
    }

    #[test]
    fn both_forms() {
        let h = Some(&b"abc123.execute-api.localhost:8080"[..]);
        assert_eq!(resolve(h, "/prod/pets/1"), t("abc123", "prod", "/pets/1"));
        assert_eq!(resolve(h, "/prod"), t("abc123", "prod", "/"));
        assert_eq!(resolve(h, "/prod/"), t("abc123", "prod", "/"));
        assert_eq!(resolve(h, "/"), None);
        let plain = Some(&b"127.0.0.1:8080"[..]);
        assert_eq!(
            resolve(plain, "/restapis/abc/dev/_user_request_/pets"),
            t("abc", "dev", "/pets")
        );
        assert_eq!(
            resolve(plain, "/restapis/abc/dev/_user_request_"),
            t("abc", "dev", "/")
        );
        assert_eq!(resolve(plain, "/restapis/abc/dev/_user_request_x"), None);
        assert_eq!(resolve(plain, "/restapis/abc/dev"), None);
        assert_eq!(resolve(plain, "/pets"), None);
        assert_eq!(resolve(None, "/pets"), None);
        assert_eq!(resolve(Some(&b"x.y.execute-api.z"[..]), "/s/p"), None);
    }
}
