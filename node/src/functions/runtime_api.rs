//! The Lambda Runtime API (`2018-06-01`) one function process talks to, on a 127.0.0.1 port of
//! its own (so the pool knows which process asks):
//! - `GET /2018-06-01/runtime/invocation/next`: waits for the next event; answers it with
//!   `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms`,
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`;
//! - `POST /2018-06-01/runtime/invocation/{id}/response`: the answer (at most 6 MB);
//! - `POST /2018-06-01/runtime/invocation/{id}/error`: the function failed;
//! - `POST /2018-06-01/runtime/init/error`: the process could not initialise.

use super::pool::{Msg, NextEvent};
use super::{InvokeError, MAX_RESPONSE_BYTES};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

const PREFIX: &str = "/2018-06-01/runtime/";

/// Serves the Runtime API of sandbox `id` on `listener` until the task is aborted (which
/// also ends its connections).
pub async fn serve(listener: TcpListener, id: u64, pool: mpsc::UnboundedSender<Msg>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "runtime API accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let _ = stream.set_nodelay(true);
        let pool = pool.clone();
        conns.spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let pool = pool.clone();
                async move { Ok::<_, Infallible>(handle(req, id, &pool).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn answer(status: u16, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    r
}

fn accepted() -> Response<Full<Bytes>> {
    answer(202, r#"{"status":"OK"}"#)
}

async fn handle(
    req: Request<Incoming>,
    id: u64,
    pool: &mpsc::UnboundedSender<Msg>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return answer(404, r#"{"errorMessage":"not found"}"#);
    };
    let is_post = req.method() == hyper::Method::POST;
    if rest == "invocation/next" && req.method() == hyper::Method::GET {
        let (tx, rx) = oneshot::channel();
        if pool
            .send(Msg::Next {
                sandbox: id,
                reply: tx,
            })
            .is_err()
        {
            return answer(500, r#"{"errorMessage":"stopped"}"#);
        }
        return match rx.await {
            Ok(ev) => next_answer(ev),
            Err(_) => answer(500, r#"{"errorMessage":"stopped"}"#),
        };
    }
    if rest == "init/error" && is_post {
        let body = read(req).await.unwrap_or_default();
        tracing::warn!(
            sandbox = id,
            error = %String::from_utf8_lossy(&body[..body.len().min(1024)]),
            "Lambda function failed to initialise"
        );
        let _ = pool.send(Msg::InitError { sandbox: id });
        return accepted();
    }
    if let Some(inv) = rest.strip_prefix("invocation/") {
        if let (Some(req_id), true) = (inv.strip_suffix("/response"), is_post) {
            let result = read(req).await.ok_or(InvokeError::TooLarge);
            let _ = pool.send(Msg::Done {
                sandbox: id,
                request_id: req_id.to_string(),
                result,
            });
            return accepted();
        }
        if let (Some(req_id), true) = (inv.strip_suffix("/error"), is_post) {
            let body = read(req).await.unwrap_or_default();
            tracing::warn!(
                request_id = req_id,
                error = %String::from_utf8_lossy(&body[..body.len().min(1024)]),
                "Lambda function returned an error"
            );
            let _ = pool.send(Msg::Done {
                sandbox: id,
                request_id: req_id.to_string(),
                result: Err(super::function_error(&body)),
            });
            return accepted();
        }
    }
    answer(404, r#"{"errorMessage":"not found"}"#)
}

/// The request body, `None` when it is larger than [`MAX_RESPONSE_BYTES`] or broken.
async fn read(req: Request<Incoming>) -> Option<Vec<u8>> {
    Limited::new(req.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .ok()
        .map(|b| b.to_bytes().to_vec())
}

fn next_answer(ev: NextEvent) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(ev.payload)));
    let h = r.headers_mut();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", ev.request_id);
    put("lambda-runtime-deadline-ms", ev.deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", ev.function_arn);
    put("lambda-runtime-trace-id", ev.trace_id);
    put("content-type", "application/json".into());
    r
}
