//! The AWS-compatible admin API: the API Gateway REST API (v1) control plane, wire-compatible
//! with botocore and `aws apigateway`, so `aws apigateway … --endpoint-url` works.
//!
//! A call travels: [`http`] (hyper glue: body limit, SigV4, request id, AWS error shape) →
//! [`router`] (method and path → [`router::Operation`]) → [`ops`] (validation against the
//! registry, one [`tollgate_proto::Command`] proposed and awaited, the result read back) →
//! [`wire`] (model → AWS JSON). Request bodies are parsed by [`input`], `patchOperations` by
//! [`patch`].
//!
//! Architecture invariant: only this module knows the AWS JSON shapes; the model in
//! `tollgate-proto` carries no wire annotations. A write is answered only after its command is
//! durable and applied.

pub mod audit;
pub mod cluster;
pub mod console;
pub mod coverage;
pub mod endpoint;
pub mod enums;
pub mod error;
pub mod http;
pub mod iam;
pub mod input;
pub mod lambda_invoke;
pub mod limits;
pub mod metrics;
pub mod not_found;
pub mod ops;
pub mod paging;
pub mod patch;
pub mod router;
pub mod wire;

use std::sync::Arc;

/// What the admin API needs: the replicated state, who may call, and where.
pub struct AdminState {
    /// The replicated registry: proposals go here, reads come from here.
    pub node: tollgate_consensus::Replica,
    /// The key pairs whose signatures are accepted.
    pub credentials: Vec<crate::sigv4::Credentials>,
    /// Region the credential scope must name; None = any.
    pub region: Option<String>,
    /// The account id of IAM users' ARNs (see [`crate::iam::IamEnv`]).
    pub account_id: String,
    /// This node's configured account-level limit (rate, burst): what GetAccount answers
    /// until UpdateAccount sets a replicated one.
    pub account_limit: Option<(f64, f64)>,
    /// Serialises this node's writes, so read-modify-write operations (UpdateMethod,
    /// PutIntegration, …) on one node cannot lose each other's changes.
    pub write_lock: tokio::sync::Mutex<()>,
    /// The data plane's counters, served at `GET /metrics` (unsigned, for Prometheus).
    pub metrics: Option<std::sync::Arc<crate::dataplane::metrics::Metrics>>,
    /// The compiler thread: a write is answered once the table with its change is published
    /// to this node's workers (a client that writes, then invokes, sees its write).
    pub compiler: Option<std::sync::Arc<crate::compiler::Compiler>>,
    /// The Lambda functions this node defines (served by the Invoke API on this port).
    pub functions: Option<std::sync::Arc<crate::functions::Functions>>,
    /// Where this node's HTTPS listener is reached (a custom domain's `regionalDomainName`
    /// or `distributionDomainName`); `None`: no HTTPS listener.
    pub gateway_address: Option<String>,
    /// Where this node's HTTP data plane is reached (`host:port`): the invoke URL a generated
    /// SDK calls; `None`: none known (a test state).
    pub invoke_address: Option<String>,
    /// The audit log of admin writes (`None`: not kept, as in tests' admin-only servers).
    pub audit: Option<std::sync::Arc<audit::AuditLog>>,
}

impl AdminState {
    /// State for serving `node` with these credentials.
    pub fn new(
        node: tollgate_consensus::Replica,
        credentials: Vec<crate::sigv4::Credentials>,
        region: Option<String>,
    ) -> AdminState {
        AdminState {
            node,
            credentials,
            region,
            account_id: crate::iam::DEFAULT_ACCOUNT.to_string(),
            account_limit: None,
            write_lock: tokio::sync::Mutex::new(()),
            metrics: None,
            compiler: None,
            functions: None,
            gateway_address: None,
            invoke_address: None,
            audit: None,
        }
    }
}

/// Serves the admin API on `listener` until the future is dropped.
///
/// Each connection is served by its own task (HTTP/1.1, keep-alive). Errors accepting a
/// connection are logged and the loop goes on after a short pause (they are per-connection
/// or transient, such as running out of file descriptors).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AdminState>,
) -> std::io::Result<()> {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let state = state.clone();
                tokio::spawn(http::serve_connection(stream, peer, state));
            }
            Err(e) => {
                tracing::warn!(error = %e, "admin API: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
