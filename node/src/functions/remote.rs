//! Functions run elsewhere: a Lambda Invoke API endpoint (AWS Lambda, LocalStack, the Lambda
//! Runtime Interface Emulator) or a plain HTTP URL that takes the event as its body and answers
//! the Lambda response. One task per function takes invocations and calls the target, at most
//! `concurrency` at once, each within the integration timeout.

use super::pool::Msg;
use super::{FunctionDef, InvokeError, InvokeResult, MAX_RESPONSE_BYTES};
use crate::sigv4::{self, Credentials};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};

/// Most invocations waiting per unit of concurrency before more are refused.
const QUEUE_PER_CALL: usize = 64;

/// Where a function runs when the node does not run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// What is called: the Invoke API or a plain URL.
    pub kind: RemoteKind,
    /// `host:port` to connect to.
    pub authority: String,
    /// The `Host` header.
    pub host: String,
    /// The request path (and query).
    pub path: String,
    /// SigV4 credentials (service `lambda`), for the Invoke API.
    pub credentials: Option<Credentials>,
    /// The region of the signature's scope.
    pub region: String,
    /// `https://`: the TLS client and the server name (SNI, and the name checked).
    pub tls: Option<RemoteTls>,
}

/// The TLS side of an `https://` target. Its configuration holds the session cache, so
/// connections after the first resume their session.
#[derive(Clone)]
pub struct RemoteTls {
    /// The URL's host.
    pub server_name: rustls::pki_types::ServerName<'static>,
    /// Trusts the system's roots and `[upstream_tls] ca_file`.
    pub config: Arc<rustls::ClientConfig>,
}

impl RemoteTls {
    /// TLS to `authority`'s host, verified against `roots`.
    pub fn new(authority: &str, roots: Arc<rustls::RootCertStore>) -> Result<RemoteTls, String> {
        let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(RemoteTls {
            server_name: crate::dataplane::upstream_tls::server_name(authority)?,
            config: Arc::new(config),
        })
    }
}

impl std::fmt::Debug for RemoteTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for RemoteTls {
    fn eq(&self, other: &Self) -> bool {
        self.server_name == other.server_name && Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for RemoteTls {}

/// The kind of remote target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteKind {
    /// `POST /2015-03-31/functions/{name}/invocations`, `X-Amz-Invocation-Type: RequestResponse`;
    /// `X-Amz-Function-Error` in the answer means the function failed.
    Invoke,
    /// POST of the event to a URL; any 2xx answer is the function's.
    Url,
}

/// Parses `http://host[:port][/path]` into (authority with port, host header, path).
pub fn parse_http_url(url: &str) -> Result<(String, String, String), String> {
    match parse_url(url)? {
        (_, true) => Err(format!("{url:?} is not an http:// URL")),
        (parts, false) => Ok(parts),
    }
}

/// Parses `http://` or `https://host[:port][/path]` into ((authority with port, host header,
/// path), whether it is https).
pub fn parse_url(url: &str) -> Result<((String, String, String), bool), String> {
    let (rest, https) = match url.strip_prefix("https://") {
        Some(r) => (r, true),
        None => (
            url.strip_prefix("http://")
                .ok_or_else(|| format!("{url:?} is not an http:// or https:// URL"))?,
            false,
        ),
    };
    if rest.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!("{url:?} holds whitespace or control characters"));
    }
    let (host, path) = match rest.find('/') {
        Some(p) => (&rest[..p], &rest[p..]),
        None => (rest, "/"),
    };
    if host.is_empty() || host.contains('@') {
        return Err(format!("{url:?} has no host, or credentials in it"));
    }
    let has_port = host.rfind(':').is_some_and(|p| !host[p..].contains(']'));
    let authority = match (has_port, https) {
        (true, _) => host.to_string(),
        (false, true) => format!("{host}:443"),
        (false, false) => format!("{host}:80"),
    };
    Ok(((authority, host.to_string(), path.to_string()), https))
}

/// Counts an invocation as waiting for a call slot while it lives.
struct Queued(Arc<AtomicUsize>);

impl Queued {
    fn new(waiting: &Arc<AtomicUsize>) -> Queued {
        waiting.fetch_add(1, Ordering::Relaxed);
        Queued(waiting.clone())
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs one remote function's invocations until every sender is gone.
pub async fn run(def: Arc<FunctionDef>, remote: Arc<Remote>, mut rx: mpsc::UnboundedReceiver<Msg>) {
    let permits = Arc::new(Semaphore::new(def.concurrency));
    let waiting = Arc::new(AtomicUsize::new(0));
    while let Some(msg) = rx.recv().await {
        let Msg::Invoke(inv) = msg else {
            continue;
        };
        if waiting.load(Ordering::Relaxed) >= def.concurrency.saturating_mul(QUEUE_PER_CALL) {
            inv.reply.send(Err(InvokeError::Overloaded));
            continue;
        }
        let (permits, remote, def) = (permits.clone(), remote.clone(), def.clone());
        let queued = Queued::new(&waiting);
        tokio::spawn(async move {
            let result = tokio::time::timeout(inv.timeout, async {
                let permit = permits.acquire().await;
                // Dropped here, or with this future when the timeout passes first.
                drop(queued);
                let result = call(&remote, &def.name, inv.payload).await;
                drop(permit);
                result
            })
            .await
            .unwrap_or(Err(InvokeError::Timeout));
            inv.reply.send(result);
        });
    }
}

/// The request's headers: `Host`, the content type, the invocation type, and a signature when
/// there are credentials.
pub fn request_headers(remote: &Remote, body: &[u8], now_epoch: i64) -> Vec<(String, String)> {
    let mut headers = vec![
        ("host".to_string(), remote.host.clone()),
        ("content-type".to_string(), "application/json".to_string()),
    ];
    if remote.kind == RemoteKind::Invoke {
        headers.push((
            "x-amz-invocation-type".to_string(),
            "RequestResponse".to_string(),
        ));
    }
    if let Some(creds) = &remote.credentials {
        let (path, query) = remote.path.split_once('?').unwrap_or((&remote.path, ""));
        let signed = sigv4::sign(
            &sigv4::Request {
                method: "POST",
                path,
                query,
                headers: &headers,
                body,
            },
            creds,
            &remote.region,
            "lambda",
            now_epoch,
        );
        headers.extend(signed);
    }
    headers
}

async fn call(remote: &Remote, function: &str, payload: Vec<u8>) -> InvokeResult {
    let unreachable = |e: &dyn std::fmt::Display| {
        tracing::warn!(function, target = %remote.authority, error = %e, "Lambda target unreachable");
        InvokeError::Unreachable
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut req = hyper::Request::post(remote.path.as_str());
    for (name, value) in request_headers(remote, &payload, now) {
        req = req.header(name, value);
    }
    let req = req
        .body(Full::new(Bytes::from(payload)))
        .map_err(|e| unreachable(&e))?;
    let stream = tokio::net::TcpStream::connect(&remote.authority)
        .await
        .map_err(|e| unreachable(&e))?;
    let _ = stream.set_nodelay(true);
    let resp = match &remote.tls {
        None => exchange(TokioIo::new(stream), req).await,
        Some(tls) => {
            let stream = tokio_rustls::TlsConnector::from(tls.config.clone())
                .connect(tls.server_name.clone(), stream)
                .await
                .map_err(|e| unreachable(&e))?;
            exchange(TokioIo::new(stream), req).await
        }
    }
    .map_err(|e| unreachable(&e))?;
    let status = resp.status();
    let function_error = resp.headers().contains_key("x-amz-function-error");
    let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|_| InvokeError::TooLarge)?
        .to_bytes();
    if remote.kind == RemoteKind::Invoke && function_error {
        tracing::warn!(
            function,
            error = %String::from_utf8_lossy(&body[..body.len().min(1024)]),
            "Lambda function returned an error"
        );
        return Err(super::function_error(&body));
    }
    if !status.is_success() {
        tracing::warn!(
            function,
            status = status.as_u16(),
            answer = %String::from_utf8_lossy(&body[..body.len().min(1024)]),
            "Lambda target answered an error status"
        );
        return Err(InvokeError::TargetError);
    }
    Ok(body.to_vec())
}

/// One request over a new HTTP/1.1 connection.
async fn exchange<T>(
    io: T,
    req: hyper::Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    sender.send_request(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_http_url("http://localhost:4566").unwrap(),
            ("localhost:4566".into(), "localhost:4566".into(), "/".into())
        );
        assert_eq!(
            parse_http_url("http://fn.internal/run?x=1").unwrap(),
            (
                "fn.internal:80".into(),
                "fn.internal".into(),
                "/run?x=1".into()
            )
        );
        assert!(parse_http_url("https://x/").is_err());
        assert_eq!(
            parse_url("https://fn.internal/run").unwrap(),
            (
                (
                    "fn.internal:443".into(),
                    "fn.internal".into(),
                    "/run".into()
                ),
                true
            )
        );
        assert!(parse_url("ftp://x/").is_err());
        assert!(parse_http_url("http://u:p@x/").is_err());
        assert!(parse_http_url("http://x/a b").is_err());
    }

    /// Invocations that time out while waiting for a call slot leave the queue (else the
    /// queue bound would soon refuse everything with `Overloaded`).
    #[test]
    fn timed_out_waiters_leave_the_queue() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // A target that takes connections and never answers.
            let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = target.local_addr().unwrap();
            tokio::spawn(async move {
                let mut held = Vec::new();
                while let Ok((s, _)) = target.accept().await {
                    held.push(s);
                }
            });
            let def = Arc::new(FunctionDef {
                name: "f".into(),
                handler: String::new(),
                code: Default::default(),
                command: Vec::new(),
                environment: Default::default(),
                timeout: std::time::Duration::from_secs(3),
                memory_mb: 128,
                concurrency: 1,
                remote: None,
            });
            let remote = Arc::new(Remote {
                kind: RemoteKind::Url,
                authority: addr.to_string(),
                host: addr.to_string(),
                path: "/".into(),
                credentials: None,
                region: "us-east-1".into(),
                tls: None,
            });
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run(def, remote, rx));
            let functions = super::super::Functions {
                pools: [("f".to_string(), tx)].into(),
            };
            // One call holds the only slot; rounds of others time out waiting for it.
            let holder = functions
                .invoke(
                    "f",
                    "arn",
                    b"{}".to_vec(),
                    std::time::Duration::from_millis(500),
                )
                .unwrap();
            for _round in 0..2 {
                let pending: Vec<_> = (0..QUEUE_PER_CALL - 10)
                    .map(|_| {
                        functions
                            .invoke(
                                "f",
                                "arn",
                                b"{}".to_vec(),
                                std::time::Duration::from_millis(50),
                            )
                            .unwrap()
                    })
                    .collect();
                for p in pending {
                    assert_eq!(p.rx.await.unwrap(), Err(InvokeError::Timeout));
                }
            }
            assert_eq!(holder.rx.await.unwrap(), Err(InvokeError::Timeout));
        });
    }

    #[test]
    fn invoke_requests_are_signed_for_lambda() {
        let remote = Remote {
            kind: RemoteKind::Invoke,
            authority: "127.0.0.1:4566".into(),
            host: "127.0.0.1:4566".into(),
            path: "/2015-03-31/functions/pets/invocations".into(),
            credentials: Some(Credentials {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: "secret".into(),
            }),
            region: "eu-west-1".into(),
            tls: None,
        };
        let h = request_headers(&remote, b"{}", 1_764_644_445);
        let get = |n: &str| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-amz-invocation-type"), Some("RequestResponse"));
        assert_eq!(get("x-amz-date"), Some("20251202T030045Z"));
        let auth = get("authorization").unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20251202/eu-west-1/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-invocation-type, Signature="
            ),
            "{auth}"
        );
        let url = Remote {
            kind: RemoteKind::Url,
            credentials: None,
            ..remote
        };
        let h = request_headers(&url, b"{}", 0);
        assert!(h
            .iter()
            .all(|(k, _)| k != "authorization" && k != "x-amz-invocation-type"));
    }

    /// An https target: the event goes over TLS (the server's certificate checked against
    /// the configured roots and the URL's host); one of an unknown CA is not called.
    #[test]
    fn https_targets_are_verified() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let server = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let Ok(mut s) = acceptor.accept(tcp).await else {
                        continue;
                    };
                    let mut got = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !got.ends_with(b"{\"event\":1}") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = br#"{"statusCode":200,"body":"over tls"}"#;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(body).await;
                    let _ = s.shutdown().await;
                }
            });
            let mut trusted = rustls::RootCertStore::empty();
            trusted.add(ca.der().clone()).unwrap();
            let url = format!("https://{addr}/fn");
            let ((authority, host, path), https) = parse_url(&url).unwrap();
            assert!(https);
            let remote = |roots: rustls::RootCertStore| Remote {
                kind: RemoteKind::Url,
                authority: authority.clone(),
                host: host.clone(),
                path: path.clone(),
                credentials: None,
                region: "us-east-1".into(),
                tls: Some(RemoteTls::new(&authority, Arc::new(roots)).unwrap()),
            };
            let answer = call(&remote(trusted), "f", b"{\"event\":1}".to_vec())
                .await
                .unwrap();
            assert_eq!(answer, br#"{"statusCode":200,"body":"over tls"}"#);
            let refused = call(
                &remote(rustls::RootCertStore::empty()),
                "f",
                b"{\"event\":1}".to_vec(),
            )
            .await;
            assert!(matches!(refused, Err(InvokeError::Unreachable)));
        });
    }
}
