//! The web console: a few static files compiled into the binary and served on the admin port
//! under [`PREFIX`] (`GET /console/` is the page). The page signs every admin API call itself
//! (SigV4 with WebCrypto, `node/console/sigv4.js`) with the admin key pair typed into its
//! sign-in form, so the files are public and hold no secret; what they show comes only from
//! signed calls (and the unsigned `/metrics`, which carries counters, no configuration).
//!
//! Every answer carries a strict Content-Security-Policy (scripts and styles only from this
//! origin, no inline script, no framing, requests only to this origin), `X-Frame-Options:
//! DENY` and `X-Content-Type-Options: nosniff`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use hyper::{Response, StatusCode};

/// Where the console lives on the admin port.
pub const PREFIX: &str = "/console/";

/// The Content-Security-Policy of every console answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The console's files: (name under [`PREFIX`], content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "",
        "text/html; charset=utf-8",
        include_bytes!("../../console/index.html"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../console/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/api.js"),
    ),
    (
        "sigv4.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/sigv4.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/charts.js"),
    ),
    (
        "metrics.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/metrics.js"),
    ),
];

/// What [`serve`] answers: status, content type, body (a redirect's `Location` is the body).
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// A file.
    File(&'static str, &'static [u8]),
    /// The region the page should sign for (`config.json`).
    Config(String),
    /// `/console` without its slash: a redirect to [`PREFIX`].
    Redirect,
    /// A path under [`PREFIX`] that names no file.
    NotFound,
}

/// What a `GET` of `path` is, if it is the console's; `None` for every other call (which the
/// admin API serves). `region`: the node's region (`None`: any; the page then signs for
/// us-east-1, as the start-up banner suggests).
pub fn answer(method: &str, path: &str, region: Option<&str>) -> Option<Answer> {
    if method != "GET" {
        return None;
    }
    if path == "/console" {
        return Some(Answer::Redirect);
    }
    let name = path.strip_prefix(PREFIX)?;
    if name == "config.json" {
        let region = region.unwrap_or("us-east-1");
        let body = serde_json::json!({ "region": region }).to_string();
        return Some(Answer::Config(body));
    }
    Some(
        FILES
            .iter()
            .find(|(n, _, _)| *n == name || (name == "index.html" && n.is_empty()))
            .map(|(_, t, b)| Answer::File(t, b))
            .unwrap_or(Answer::NotFound),
    )
}

/// The HTTP answer for `GET path` when it is the console's, with the security headers.
pub fn serve(method: &str, path: &str, region: Option<&str>) -> Option<Response<Full<Bytes>>> {
    let (status, content_type, body) = match answer(method, path, region)? {
        Answer::File(t, b) => (StatusCode::OK, t, Bytes::from_static(b)),
        Answer::Config(json) => (StatusCode::OK, "application/json", Bytes::from(json)),
        Answer::Redirect => (
            StatusCode::MOVED_PERMANENTLY,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"moved to /console/\n"),
        ),
        Answer::NotFound => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"not found\n"),
        ),
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if status == StatusCode::MOVED_PERMANENTLY {
        h.insert(LOCATION, HeaderValue::from_static(PREFIX));
    }
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_answers_only_its_own_gets() {
        assert_eq!(answer("GET", "/restapis", None), None);
        assert_eq!(answer("POST", "/console/", None), None);
        assert_eq!(answer("GET", "/consoles/", None), None);
        assert_eq!(answer("GET", "/console", None), Some(Answer::Redirect));
        assert_eq!(
            answer("GET", "/console/nope.js", None),
            Some(Answer::NotFound)
        );
        assert_eq!(
            answer("GET", "/console/../restapis", None),
            Some(Answer::NotFound)
        );
        match answer("GET", "/console/", None) {
            Some(Answer::File(t, b)) => {
                assert!(t.starts_with("text/html"));
                assert!(std::str::from_utf8(b).unwrap().contains("app.js"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            answer("GET", "/console/app.js", None),
            Some(Answer::File("text/javascript; charset=utf-8", _))
        ));
        assert_eq!(
            answer("GET", "/console/config.json", Some("eu-west-1")),
            Some(Answer::Config(r#"{"region":"eu-west-1"}"#.into()))
        );
    }

    #[test]
    fn console_pages_carry_the_security_headers() {
        let r = serve("GET", "/console/", None).unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        let r = serve("GET", "/console", None).unwrap();
        assert_eq!(r.headers()[LOCATION], "/console/");
        assert_eq!(
            serve("GET", "/console/x", None).unwrap().status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn no_console_file_holds_inline_script_or_style() {
        // The CSP would block them: the page must work without.
        for (name, _, bytes) in FILES {
            let text = std::str::from_utf8(bytes).unwrap();
            if name.is_empty() {
                assert!(!text.contains("<script>"), "inline script in index.html");
                assert!(!text.contains("style="), "inline style in index.html");
                assert!(!text.contains("<style"), "inline style in index.html");
            }
            assert!(!text.contains("innerHTML"), "{name}: innerHTML");
        }
    }
}
