//! The hyper glue: one HTTP/1.1 connection, and the life of one admin call — body (with a
//! size and time limit), SigV4 verification, routing, the operation, and the answer in AWS's
//! shape with an `x-amzn-RequestId` header.

use super::error::ApiError;
use super::ops::{self, Reply};
use super::paging::Query;
use super::{router, AdminState};
use crate::sigv4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rand::RngCore;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest request body accepted (10 MiB, as AWS).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// How long a client may take to send its request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to send its request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// The service name in the credential scope.
pub const SERVICE: &str = "apigateway";
/// The answer header naming the Raft log index of the (last) command a write committed.
pub const LOG_INDEX_HEADER: &str = "x-tollgate-log-index";

/// Serves one connection until the client closes it or it fails.
pub async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    state: Arc<AdminState>,
) {
    let _ = stream.set_nodelay(true);
    let svc = service_fn(move |mut req: Request<hyper::body::Incoming>| {
        let state = state.clone();
        req.extensions_mut().insert(Peer(peer));
        async move { Ok::<_, Infallible>(handle(req, &state).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), svc);
    if let Err(e) = conn.await {
        tracing::debug!(%peer, error = %e, "admin connection ended with an error");
    }
}

/// The client's address, put into each request's extensions for the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// What a call turned out to be, for the audit log (filled as the call is read).
#[derive(Debug, Default)]
struct Audited {
    access_key: Option<String>,
    operation: Option<String>,
    /// Whether it changes something (`None`: not routed; judged by its HTTP method).
    write: Option<bool>,
}

/// A random UUID (version 4), AWS's request id format.
pub fn request_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Answers one admin call; never fails (errors become AWS error answers).
pub async fn handle<B>(req: Request<B>, state: &AdminState) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = Instant::now();
    let id = request_id();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    if method == "GET" && path == "/metrics" {
        if let Some(text) = super::metrics::render(state) {
            // Unsigned, as Prometheus scrapes: counters only, no configuration.
            let mut resp = Response::new(Full::new(Bytes::from(text)));
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            return resp;
        }
    }
    if let Some(resp) = super::console::serve(&method, &path, state.region.as_deref()) {
        // The web console's static files: public, no secrets (its calls are signed).
        return resp;
    }
    if path.starts_with(super::lambda_invoke::PREFIX) {
        let resp = super::lambda_invoke::handle(req, state).await;
        tracing::debug!(request_id = %id, %method, %path, status = resp.status().as_u16(),
            elapsed_us = started.elapsed().as_micros() as u64, "Lambda Invoke API call");
        return resp;
    }
    if let Some(r) = super::cluster::probes(state, &method, &path).await {
        let mut resp = Response::new(Full::new(Bytes::from(r.body)));
        *resp.status_mut() =
            StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return resp;
    }
    let iam_call = super::iam::is_iam_call(&method, &path);
    let peer = req.extensions().get::<Peer>().map(|p| p.0.ip());
    let mut audited = Audited::default();
    let (result, log_index) = ops::COMMITTED_INDEX
        .scope(std::cell::Cell::new(None), async {
            let result = process(req, state, &id, &mut audited).await;
            (result, ops::COMMITTED_INDEX.with(|c| c.get()))
        })
        .await;
    if let (true, Some(compiler)) = (log_index.is_some() || method != "GET", &state.compiler) {
        // A write is answered once its change is in the table this node's workers serve.
        compiler.caught_up().await;
    }
    let mut reply_type = None;
    let mut attachment = None;
    let (status, body, error_type) = match result {
        Ok(r) => {
            reply_type = r.content_type;
            attachment = r.attachment;
            (r.status, r.body, None)
        }
        Err(e) => {
            let body = if iam_call {
                super::iam::error_response(&e, &id)
            } else {
                e.body()
            };
            (e.status, body, Some((e.error_type, e.message)))
        }
    };
    let write = audited
        .write
        .unwrap_or(!matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS"));
    if let (true, Some(audit)) = (write, &state.audit) {
        audit.record(&super::audit::Record {
            time_ms: u64::try_from(crate::ids::now_epoch_ms()).unwrap_or(0),
            request_id: &id,
            source_ip: peer,
            access_key: audited.access_key.as_deref(),
            operation: audited.operation.as_deref(),
            method: &method,
            path: &path,
            status,
            error: error_type.as_ref().map(|(t, m)| (*t, m.as_str())),
            log_index,
        });
    }
    match &error_type {
        Some((t, m)) if status >= 500 => tracing::warn!(
            request_id = %id, %method, %path, status, error = %t, error_message = %m,
            elapsed_us = started.elapsed().as_micros() as u64, "admin call failed"
        ),
        Some((t, m)) => tracing::info!(
            request_id = %id, %method, %path, status, error = %t, error_message = %m,
            elapsed_us = started.elapsed().as_micros() as u64, "admin call refused"
        ),
        None => tracing::debug!(
            request_id = %id, %method, %path, status,
            elapsed_us = started.elapsed().as_micros() as u64, "admin call"
        ),
    }
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    let content_type = if iam_call {
        "text/xml"
    } else {
        reply_type.unwrap_or("application/json")
    };
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(Ok(v)) =
        attachment.map(|name| HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")))
    {
        h.insert(hyper::header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-amzn-RequestId", v);
    }
    if let Some((t, _)) = error_type {
        h.insert("x-amzn-ErrorType", HeaderValue::from_static(t));
    }
    if let Some(index) = log_index {
        // Where the write landed in the cluster's one order of commands (Tollgate's own
        // header: lets a client check the order of acknowledged writes).
        h.insert(LOG_INDEX_HEADER, HeaderValue::from(index));
    }
    resp
}

/// The header in which the AWS SDKs and CLI name one call, the same on every retry of it.
pub const INVOCATION_ID_HEADER: &str = "amz-sdk-invocation-id";

/// The longest invocation id taken as one (the SDKs send a 36-character UUID).
const MAX_INVOCATION_ID: usize = 128;

/// The identity of a signed admin call, the same on every attempt of it (client sessions:
/// see `ops::dispatch`): the caller's access key with the SDK's invocation id and what the
/// call asks (method, path, query, body: an id reused for another call is another identity);
/// without an invocation id, the access key with the request's signature, which SigV4 makes
/// unique to this exact request within its 15-minute window (so only a byte-identical resend
/// is recognised). `None` when the request carries neither (it was not signed).
pub fn request_identity(access_key: &str, req: &sigv4::Request) -> Option<ops::RequestIdentity> {
    use sha2::Digest;
    fn field(h: &mut sha2::Sha256, bytes: &[u8]) {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    }
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    let mut h = sha2::Sha256::new();
    field(&mut h, access_key.as_bytes());
    match header(INVOCATION_ID_HEADER).filter(|v| !v.is_empty() && v.len() <= MAX_INVOCATION_ID) {
        Some(invocation) => {
            field(&mut h, b"invocation");
            field(&mut h, invocation.as_bytes());
            field(&mut h, req.method.as_bytes());
            field(&mut h, req.path.as_bytes());
            field(&mut h, req.query.as_bytes());
            field(&mut h, &sha2::Sha256::digest(req.body));
        }
        None => {
            let from_header = header("authorization").and_then(|a| {
                a.split(',')
                    .find_map(|p| p.trim().strip_prefix("Signature="))
                    .map(str::trim)
            });
            let from_query = || {
                req.query
                    .split('&')
                    .find_map(|p| p.strip_prefix("X-Amz-Signature="))
            };
            let signature = from_header.or_else(from_query).filter(|s| !s.is_empty())?;
            field(&mut h, b"signature");
            field(&mut h, signature.as_bytes());
        }
    }
    let digest = h.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    Some(ops::RequestIdentity(u128::from_be_bytes(first)))
}

/// Reads the body, then verifies, routes and runs the call (`id`: the request id, which IAM
/// answers carry in their body).
async fn process<B>(
    req: Request<B>,
    state: &AdminState,
    id: &str,
    audited: &mut Audited,
) -> Result<Reply, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    let collected =
        tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY_BYTES).collect())
            .await
            .map_err(|_| ApiError::bad_request("Timed out reading the request body"))?;
    let body = match collected {
        Ok(c) => c.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(ApiError::too_large(MAX_BODY_BYTES))
        }
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "Could not read the request body: {e}"
            )))
        }
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let signed = sigv4::Request {
        method: parts.method.as_str(),
        path,
        query,
        headers: &headers,
        body: &body,
    };
    let iam_call = super::iam::is_iam_call(parts.method.as_str(), path);
    // Read before the signature only to pick the service it must be for; a form that does
    // not parse is answered once the caller is known.
    let form = iam_call.then(|| super::iam::parse_form(&body));
    if let Some(Ok(f)) = &form {
        // Until the call is parsed: an action that reads is not audited.
        let action = f.get("Action").map(String::as_str).unwrap_or_default();
        audited.operation = Some(action.to_string());
        audited.write = Some(!(action.starts_with("Get") || action.starts_with("List")));
    }
    let sts = matches!(&form, Some(Ok(f)) if super::iam::is_sts_call(f));
    let secret_for = |key: &str| {
        let admin = state
            .credentials
            .iter()
            .find(|c| c.access_key_id == key)
            .map(|c| c.secret_access_key.clone());
        // GetSessionToken is the one call an IAM user's own long-term key may sign.
        admin.or_else(|| {
            sts.then(|| {
                let reg = state.node.read();
                reg.iam
                    .access_keys
                    .get(key)
                    .filter(|k| k.active && k.session_token.is_none())
                    .map(|k| k.secret.clone())
            })
            .flatten()
        })
    };
    // IAM and STS are global services: their calls are signed for `iam` or `sts`, in whatever
    // region the client is set to (the CLI signs them for us-east-1).
    let (service, region) = match (iam_call, sts) {
        (true, true) => (super::iam::STS_SERVICE, None),
        (true, false) => (super::iam::SERVICE, None),
        _ => (SERVICE, state.region.as_deref()),
    };
    let access_key = sigv4::verify(
        &signed,
        secret_for,
        region,
        service,
        crate::ids::now_epoch(),
    )
    .map_err(|e| ApiError::auth(e.status(), e.error_type(), e.message()))?;
    audited.access_key = Some(access_key.clone());
    if let Some(form) = form {
        return iam(state, &form?, &access_key, &signed, id).await;
    }
    if path.starts_with(super::cluster::PREFIX) {
        audited.operation = Some(format!("cluster {path}"));
        return super::cluster::handle(state, parts.method.as_str(), path, &body).await;
    }
    let query = Query::parse(query);
    let op = router::route(parts.method.as_str(), path)
        .ok_or_else(|| {
            // An operation of the service model Tollgate does not support is named as such.
            super::coverage::refusal(parts.method.as_str(), path, &query)
                .unwrap_or_else(ApiError::unknown_operation)
        })?
        .refine(&query)
        .with_accept(
            parts
                .headers
                .get(hyper::header::ACCEPT)
                .and_then(|v| v.to_str().ok()),
        );
    // Reads are served from this node's state (eventually consistent, as AWS's are); a caller
    // that needs to see every write acknowledged anywhere before asks for a linearizable read.
    audited.operation = Some(super::audit::operation_name(&op));
    audited.write = Some(op.is_write());
    let strong = parts
        .headers
        .get("x-tollgate-consistency")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"strong"));
    if strong && !op.is_write() {
        state
            .node
            .linearizable()
            .await
            .map_err(|e| ApiError::unavailable(format!("linearizable read: {e}")))?;
    }
    let identity = op
        .is_write()
        .then(|| request_identity(&access_key, &signed))
        .flatten();
    ops::dispatch(state, op, &query, &body, identity).await
}

/// Runs an IAM (or STS) call signed by `access_key`, answering IAM's XML.
async fn iam(
    state: &AdminState,
    form: &std::collections::BTreeMap<String, String>,
    access_key: &str,
    signed: &sigv4::Request<'_>,
    id: &str,
) -> Result<Reply, ApiError> {
    use super::iam::{self, Call};
    let admin = state
        .credentials
        .iter()
        .any(|c| c.access_key_id == access_key);
    let call = if iam::is_sts_call(form) {
        if admin {
            return Err(iam::error(
                403,
                "AccessDenied",
                "GetSessionToken is served to IAM users' access keys only (the admin credentials are the account's root identity)",
            ));
        }
        let user = state
            .node
            .read()
            .iam
            .access_keys
            .get(access_key)
            .map(|k| k.user_name.clone())
            .ok_or_else(|| {
                iam::error(
                    403,
                    "InvalidClientTokenId",
                    "The security token included in the request is invalid.",
                )
            })?;
        Call::parse_sts(form, user)?
    } else if admin {
        Call::parse(form)?
    } else {
        // Not reachable: only GetSessionToken looks up users' keys.
        return Err(iam::error(
            403,
            "AccessDenied",
            "Only the admin credentials may call IAM",
        ));
    };
    let action = call.action();
    let identity = call
        .is_write()
        .then(|| request_identity(access_key, signed))
        .flatten();
    let op = router::Operation::Iam(call);
    let reply = ops::dispatch(state, op, &Query::parse(""), signed.body, identity).await?;
    Ok(Reply {
        status: reply.status,
        body: iam::response(action, &reply.body, id),
        content_type: None,
        attachment: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_identity_is_the_same_for_every_attempt_of_one_call_only() {
        let headers = |inv: &str, sig: &str| {
            let mut h = vec![(
                "authorization".to_string(),
                format!("AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/apigateway/aws4_request, SignedHeaders=host, Signature={sig}"),
            )];
            if !inv.is_empty() {
                h.push(("Amz-Sdk-Invocation-Id".to_string(), inv.to_string()));
            }
            h
        };
        let id = |h: &[(String, String)], body: &[u8]| {
            let req = sigv4::Request {
                method: "POST",
                path: "/restapis",
                query: "",
                headers: h,
                body,
            };
            request_identity("AK", &req)
        };
        // Retries re-sign (another signature) but keep the invocation id.
        let first = id(&headers("inv-1", "aaaa"), b"{}");
        assert!(first.is_some());
        assert_eq!(first, id(&headers("inv-1", "bbbb"), b"{}"));
        assert_ne!(first, id(&headers("inv-2", "aaaa"), b"{}"));
        assert_ne!(first, id(&headers("inv-1", "aaaa"), b"{\"name\":\"x\"}"));
        // Without one, only the same signature is the same call.
        let bare = id(&headers("", "aaaa"), b"{}");
        assert!(bare.is_some() && bare != first);
        assert_eq!(bare, id(&headers("", "aaaa"), b"{}"));
        assert_ne!(bare, id(&headers("", "bbbb"), b"{}"));
        assert_eq!(id(&[], b"{}"), None);
    }

    #[test]
    fn request_ids_are_v4_uuids() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        let dashes: Vec<usize> = id.match_indices('-').map(|(i, _)| i).collect();
        assert_eq!(dashes, [8, 13, 18, 23]);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(request_id(), id);
    }
}
