//! JWKS for `COGNITO_USER_POOLS` authorizers: which issuer a provider names
//! ([`resolve_provider`], the node configuration's `[[jwt.issuers]]` first), the process's
//! issuer registry ([`registry`]) whose key sets the data-plane workers read without locks
//! or I/O, and the fetcher ([`run`], a task on the control thread's runtime) that loads each
//! issuer's JWKS over HTTPS off the request path: at once when the issuer is first named,
//! again every refresh period, and soon after a worker met a `kid` the set lacks (at most once
//! per [`UNKNOWN_KID_REFETCH`], so a flood of bogus `kid`s cannot hammer the issuer). A
//! failed fetch keeps the keys it had and is retried after [`RETRY`].
//!
//! Provider forms: `arn:aws:cognito-idp:{region}:{account}:userpool/{poolId}` (issuer
//! `https://cognito-idp.{region}.amazonaws.com/{poolId}`, JWKS at
//! `{issuer}/.well-known/jwks.json`) and the extension `oidc:{issuer URL}` (any OpenID
//! Connect issuer; JWKS found by discovery, `{issuer}/.well-known/openid-configuration`'s
//! `jwks_uri`). Anything else is refused.

use crate::dataplane::authorizer::jwt::KeySet;
use arc_swap::ArcSwapOption;
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// Default time between two fetches of a JWKS that loaded.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);
/// Least time between two fetches asked for by unknown `kid`s.
pub const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(30);
/// Time before a failed fetch is tried again.
pub const RETRY: Duration = Duration::from_secs(5);
/// How long one fetch may take (connect, TLS, answer).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest JWKS or discovery document read.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// The node configuration's `[[jwt.issuers]]` entry: where a provider's keys really are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssuerOverride {
    /// The provider, as written in `providerARNs`.
    pub provider: String,
    /// The `iss` its tokens carry (default: the provider's own).
    pub issuer: Option<String>,
    /// The JWKS URL (default: the provider's own, or discovery).
    pub jwks_url: Option<String>,
    /// Audiences / client ids accepted (default: any).
    pub audiences: Vec<String>,
}

/// The JWKS settings of a node.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Issuer overrides.
    pub issuers: Vec<IssuerOverride>,
    /// A PEM file of CA certificates trusted besides the system's, for self-hosted issuers.
    pub ca_file: Option<PathBuf>,
    /// Time between fetches (default [`DEFAULT_REFRESH`]).
    pub refresh: Option<Duration>,
}

/// Where an issuer's JWKS is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksAt {
    /// This URL.
    Url(String),
    /// The `jwks_uri` of the issuer's OpenID discovery document.
    Discovery,
}

/// What a provider resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `iss`.
    pub issuer: String,
    /// The JWKS.
    pub jwks: JwksAt,
    /// A Cognito user pool (`token_use` required).
    pub cognito: bool,
    /// Accepted audiences (empty: any).
    pub audiences: Vec<String>,
}

fn https_url(u: &str) -> Result<hyper::Uri, String> {
    let uri: hyper::Uri = u.parse().map_err(|_| format!("{u:?} is not a URL"))?;
    if uri.scheme_str() != Some("https") || uri.host().is_none_or(str::is_empty) {
        return Err(format!("{u:?} is not an https:// URL"));
    }
    Ok(uri)
}

/// Resolves a `providerARNs` entry (syntax only; overrides from `settings`).
pub fn resolve_provider(provider: &str, settings: &Settings) -> Result<Resolved, String> {
    let bad = || {
        format!(
            "Invalid provider ARN specified: {provider}. Must be arn:aws:cognito-idp:{{region}}:{{account}}:userpool/{{poolId}} or oidc:https://{{issuer}}"
        )
    };
    let mut r = if let Some(rest) = provider.strip_prefix("arn:aws:cognito-idp:") {
        let mut parts = rest.splitn(3, ':');
        let (Some(region), Some(account), Some(pool)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let pool = pool.strip_prefix("userpool/").ok_or_else(bad)?;
        let region_ok = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        let pool_ok = pool
            .strip_prefix(region)
            .and_then(|p| p.strip_prefix('_'))
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !(region_ok && account_ok && pool_ok) {
            return Err(bad());
        }
        let issuer = format!("https://cognito-idp.{region}.amazonaws.com/{pool}");
        Resolved {
            jwks: JwksAt::Url(format!("{issuer}/.well-known/jwks.json")),
            issuer,
            cognito: true,
            audiences: Vec::new(),
        }
    } else if let Some(issuer) = provider.strip_prefix("oidc:") {
        https_url(issuer).map_err(|why| format!("{}: {why}", bad()))?;
        Resolved {
            issuer: issuer.to_string(),
            jwks: JwksAt::Discovery,
            cognito: false,
            audiences: Vec::new(),
        }
    } else {
        return Err(bad());
    };
    if let Some(o) = settings.issuers.iter().find(|o| o.provider == provider) {
        if let Some(i) = &o.issuer {
            r.issuer = i.clone();
        }
        if let Some(u) = &o.jwks_url {
            r.jwks = JwksAt::Url(u.clone());
        }
        r.audiences = o.audiences.clone();
    }
    if let JwksAt::Url(u) = &r.jwks {
        https_url(u)?;
    }
    Ok(r)
}

/// One issuer the process knows: its resolution and its keys.
#[derive(Debug)]
pub struct Issuer {
    /// The provider as written.
    pub provider: Box<str>,
    /// `iss`.
    pub issuer: Box<str>,
    /// A Cognito user pool.
    pub cognito: bool,
    /// Accepted audiences (empty: any).
    pub audiences: Vec<Box<str>>,
    jwks: JwksAt,
    keys: ArcSwapOption<KeySet>,
    /// A worker met an unknown `kid`.
    wanted: AtomicBool,
    /// A fetch is in flight (never two at once for one issuer).
    fetching: AtomicBool,
    /// Milliseconds since [`epoch`] of the last fetch attempt (0: none).
    last_attempt_ms: AtomicU64,
    /// ... of the last successful one.
    last_success_ms: AtomicU64,
}

fn epoch() -> Instant {
    static E: OnceLock<Instant> = OnceLock::new();
    *E.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64 + 1
}

impl Issuer {
    /// Its key set, once one loaded.
    pub fn keys(&self) -> Option<Arc<KeySet>> {
        self.keys.load_full()
    }

    /// Asks the fetcher for a fresh key set (a token named a `kid` the set lacks). Never
    /// blocks: a flag and a wake-up.
    pub fn want_refresh(&self) {
        if !self.wanted.swap(true, Ordering::Relaxed) {
            registry().wake.notify_one();
        }
    }

    /// Installs a key set (the fetcher's, or a test's).
    pub fn set_keys(&self, keys: KeySet) {
        self.keys.store(Some(Arc::new(keys)));
        self.last_success_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Whether a fetch is due at `now` (ms).
    fn due(&self, now: u64, refresh: Duration) -> bool {
        let attempt = self.last_attempt_ms.load(Ordering::Relaxed);
        let success = self.last_success_ms.load(Ordering::Relaxed);
        let since = |t: u64| Duration::from_millis(now.saturating_sub(t));
        if attempt == 0 {
            return true;
        }
        if success < attempt {
            return since(attempt) >= RETRY;
        }
        if self.wanted.load(Ordering::Relaxed) && since(attempt) >= UNKNOWN_KID_REFETCH {
            return true;
        }
        since(success) >= refresh
    }
}

/// The process's issuers, by provider.
#[derive(Debug, Default)]
pub struct Registry {
    settings: RwLock<Settings>,
    issuers: Mutex<HashMap<Box<str>, Arc<Issuer>>>,
    wake: tokio::sync::Notify,
}

/// The process's registry.
pub fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Registry::default)
}

impl Registry {
    /// Sets the node's settings (at start, before routes are compiled).
    pub fn configure(&self, s: Settings) {
        if let Ok(mut g) = self.settings.write() {
            *g = s;
        }
    }

    /// Resolves a provider with the node's settings (the admin API's check).
    pub fn resolve(&self, provider: &str) -> Result<Resolved, String> {
        let s = self.settings.read().map_err(|_| "settings unavailable")?;
        resolve_provider(provider, &s)
    }

    /// The issuer a provider names, registered (and its fetch started) on first use.
    pub fn issuer(&self, provider: &str) -> Result<Arc<Issuer>, String> {
        let r = self.resolve(provider)?;
        let mut map = self.issuers.lock().map_err(|_| "registry unavailable")?;
        if let Some(i) = map.get(provider) {
            if *i.issuer == *r.issuer && i.jwks == r.jwks {
                return Ok(i.clone());
            }
        }
        let i = Arc::new(Issuer {
            provider: provider.into(),
            issuer: r.issuer.into(),
            cognito: r.cognito,
            audiences: r.audiences.into_iter().map(Into::into).collect(),
            jwks: r.jwks,
            keys: ArcSwapOption::empty(),
            wanted: AtomicBool::new(false),
            fetching: AtomicBool::new(false),
            last_attempt_ms: AtomicU64::new(0),
            last_success_ms: AtomicU64::new(0),
        });
        map.insert(provider.into(), i.clone());
        drop(map);
        self.wake.notify_one();
        Ok(i)
    }

    fn snapshot(&self) -> Vec<Arc<Issuer>> {
        self.issuers
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// The TLS client of JWKS fetches: the system's roots plus the configured CA file.
pub fn client_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, String> {
    let roots = crate::tls::root_store(ca_file, "jwt.ca_file")?;
    rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

/// GETs an https URL; answers its body (status 200 only, at most [`MAX_DOCUMENT_BYTES`]).
pub async fn get(url: &str, tls: Arc<rustls::ClientConfig>) -> Result<Vec<u8>, String> {
    tokio::time::timeout(FETCH_TIMEOUT, get_inner(url, tls))
        .await
        .map_err(|_| format!("GET {url}: timed out"))?
}

async fn get_inner(url: &str, tls: Arc<rustls::ClientConfig>) -> Result<Vec<u8>, String> {
    let uri = https_url(url)?;
    let host = uri.host().unwrap_or_default();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = uri.port_u16().unwrap_or(443);
    let err = |e: &dyn std::fmt::Display| format!("GET {url}: {e}");
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| err(&e))?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| err(&e))?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| err(&e))?;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| err(&e))?;
    let driver = tokio::spawn(conn);
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or(host);
    let req = hyper::Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(hyper::header::HOST, authority)
        .header(hyper::header::ACCEPT, "application/json")
        .header(hyper::header::USER_AGENT, "tollgate-jwks")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| err(&e))?;
    let resp = send.send_request(req).await.map_err(|e| err(&e))?;
    if resp.status() != hyper::StatusCode::OK {
        driver.abort();
        return Err(format!("GET {url}: status {}", resp.status()));
    }
    let body = http_body_util::Limited::new(resp.into_body(), MAX_DOCUMENT_BYTES)
        .collect()
        .await
        .map_err(|e| err(&e))?
        .to_bytes();
    driver.abort();
    Ok(body.to_vec())
}

/// Fetches an issuer's JWKS (after discovery when it has no URL).
async fn fetch(i: &Issuer, tls: Arc<rustls::ClientConfig>) -> Result<KeySet, String> {
    let url = match &i.jwks {
        JwksAt::Url(u) => u.clone(),
        JwksAt::Discovery => {
            let at = format!(
                "{}/.well-known/openid-configuration",
                i.issuer.trim_end_matches('/')
            );
            let doc: serde_json::Value = serde_json::from_slice(&get(&at, tls.clone()).await?)
                .map_err(|e| format!("{at}: not JSON: {e}"))?;
            if doc.get("issuer").and_then(|v| v.as_str()) != Some(&i.issuer) {
                return Err(format!("{at}: its issuer is not {}", i.issuer));
            }
            let u = doc
                .get("jwks_uri")
                .and_then(|v| v.as_str())
                .ok_or_else(|| format!("{at}: no jwks_uri"))?;
            https_url(u)?;
            u.to_string()
        }
    };
    KeySet::parse(&get(&url, tls).await?).map_err(|e| format!("{url}: {e}"))
}

/// The fetcher: loads every registered issuer's JWKS when due, forever. Runs on the control
/// thread's runtime; never on a data-plane worker.
pub async fn run(reg: &'static Registry) {
    let (ca, refresh) = match reg.settings.read() {
        Ok(s) => (s.ca_file.clone(), s.refresh.unwrap_or(DEFAULT_REFRESH)),
        Err(_) => (None, DEFAULT_REFRESH),
    };
    let tls = match client_config(ca.as_deref()) {
        Ok(c) => Arc::new(c),
        Err(why) => {
            tracing::error!(%why, "JWKS fetches disabled: no TLS client");
            return;
        }
    };
    loop {
        for i in reg.snapshot() {
            let now = now_ms();
            if i.fetching.load(Ordering::Relaxed) || !i.due(now, refresh) {
                continue;
            }
            i.fetching.store(true, Ordering::Relaxed);
            i.last_attempt_ms.store(now, Ordering::Relaxed);
            i.wanted.store(false, Ordering::Relaxed);
            let tls = tls.clone();
            tokio::spawn(async move {
                match fetch(&i, tls).await {
                    Ok(keys) => {
                        tracing::info!(issuer = %i.issuer, keys = keys.len(), "JWKS loaded");
                        i.set_keys(keys);
                    }
                    Err(why) => {
                        tracing::warn!(issuer = %i.issuer, %why, "JWKS fetch failed; keeping the keys it had")
                    }
                }
                i.fetching.store(false, Ordering::Relaxed);
            });
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), reg.wake.notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_resolve_to_issuers() {
        let s = Settings::default();
        let r = resolve_provider(
            "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbC123",
            &s,
        )
        .unwrap();
        assert_eq!(
            r.issuer,
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123"
        );
        assert_eq!(
            r.jwks,
            JwksAt::Url(
                "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123/.well-known/jwks.json"
                    .into()
            )
        );
        assert!(r.cognito);
        let o = resolve_provider("oidc:https://id.example.com/realms/x", &s).unwrap();
        assert_eq!(o.issuer, "https://id.example.com/realms/x");
        assert_eq!(o.jwks, JwksAt::Discovery);
        assert!(!o.cognito);
        for bad in [
            "",
            "arn:aws:cognito-idp:us-east-1:123456789012:userpool/eu-west-1_X",
            "arn:aws:cognito-idp:us-east-1:1234:userpool/us-east-1_X",
            "arn:aws:cognito-idp:us-east-1:123456789012:identitypool/us-east-1_X",
            "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_",
            "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_a/b",
            "oidc:http://id.example.com",
            "oidc:not a url",
            "https://id.example.com",
        ] {
            assert!(resolve_provider(bad, &s).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn overrides_point_a_provider_elsewhere() {
        let p = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_X";
        let mut s = Settings {
            issuers: vec![IssuerOverride {
                provider: p.into(),
                issuer: Some("https://127.0.0.1:8443/pool".into()),
                jwks_url: Some("https://127.0.0.1:8443/jwks.json".into()),
                audiences: vec!["client".into()],
            }],
            ..Settings::default()
        };
        let r = resolve_provider(p, &s).unwrap();
        assert_eq!(r.issuer, "https://127.0.0.1:8443/pool");
        assert_eq!(
            r.jwks,
            JwksAt::Url("https://127.0.0.1:8443/jwks.json".into())
        );
        assert_eq!(r.audiences, ["client"]);
        assert!(r.cognito);
        s.issuers[0].jwks_url = Some("http://127.0.0.1/jwks.json".into());
        assert!(resolve_provider(p, &s).is_err());
    }

    #[test]
    fn fetches_are_due_as_documented() {
        let i = Issuer {
            provider: "p".into(),
            issuer: "i".into(),
            cognito: true,
            audiences: Vec::new(),
            jwks: JwksAt::Discovery,
            keys: ArcSwapOption::empty(),
            wanted: AtomicBool::new(false),
            fetching: AtomicBool::new(false),
            last_attempt_ms: AtomicU64::new(0),
            last_success_ms: AtomicU64::new(0),
        };
        let hour = Duration::from_secs(3600);
        assert!(i.due(10, hour), "never fetched");
        i.last_attempt_ms.store(10, Ordering::Relaxed);
        assert!(!i.due(10 + 4_999, hour), "failed: retried after RETRY");
        assert!(i.due(10 + 5_000, hour));
        i.last_success_ms.store(10, Ordering::Relaxed);
        assert!(!i.due(10_000, hour));
        i.wanted.store(true, Ordering::Relaxed);
        assert!(!i.due(10 + 29_999, hour), "unknown kids: rate-limited");
        assert!(i.due(10 + 30_000, hour));
        i.wanted.store(false, Ordering::Relaxed);
        assert!(i.due(10 + 3_600_000, hour), "periodic refresh");
    }
}
