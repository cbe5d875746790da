//! Functions Tollgate runs itself, for Lambda proxy integrations: a pool of warm function
//! processes per function (the runtime interface client, e.g. Python's `awslambdaric`), each
//! served the Lambda Runtime API on a 127.0.0.1 port of its own.
//!
//! Everything here runs on one thread of its own (`tollgate-fn`, a tokio runtime), never on a
//! data-plane worker: a worker hands an invocation over with [`Functions::invoke`] (a channel
//! send) and awaits the answer without blocking: the answer is put in a oneshot channel and a
//! byte is written to a socket pair whose other end the worker reads with its own I/O driver
//! (a monoio worker cannot be woken by a waker from another thread).
//!
//! - [`pool`]: one task per function: the queue, the concurrency limit, cold starts, reuse,
//!   timeouts (kill and replace) and crashes.
//! - [`runtime_api`]: the Runtime API one function process talks to.
//! - [`sandbox`]: starting and killing a function process.
//! - [`remote`]: functions run elsewhere (a Lambda Invoke API endpoint, a plain URL).

pub mod pool;
pub mod remote;
pub mod runtime_api;
pub mod sandbox;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Largest invocation answer a function may give (Lambda's synchronous payload limit).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// A function the node runs: what the node's `[[functions]]` config defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDef {
    /// The function's name (as in its ARN).
    pub name: String,
    /// The handler (`module.function` for Python).
    pub handler: String,
    /// The code folder (the process's working directory and `LAMBDA_TASK_ROOT`).
    pub code: PathBuf,
    /// The runtime command; the handler is appended as its last argument.
    pub command: Vec<String>,
    /// Environment variables the function gets (besides Lambda's own).
    pub environment: BTreeMap<String, String>,
    /// How long one invocation may run.
    pub timeout: Duration,
    /// Memory, MiB (enforced as the process's data limit, `RLIMIT_DATA`).
    pub memory_mb: u32,
    /// Most processes (or calls to a remote target) of this function at once on this node.
    pub concurrency: usize,
    /// Where it runs: `None` on this node (handler, code, command, environment and memory
    /// apply), else the remote target.
    pub remote: Option<remote::Remote>,
}

/// The error document a function reported (`{"errorMessage": …, "errorType": …}`, as the
/// runtime interface client posts it to `/error` and Lambda's Invoke API answers it with
/// `X-Amz-Function-Error`), kept for AWS (non-proxy) integrations, whose integration responses
/// are selected by its `errorMessage` and render over it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FunctionFailure(pub Box<[u8]>);

impl FunctionFailure {
    /// The document's `errorMessage` when it is a string (what `selectionPattern` is matched
    /// against); `None` otherwise.
    pub fn message(&self) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct ErrorBody {
            #[serde(rename = "errorMessage")]
            error_message: Option<String>,
        }
        serde_json::from_slice::<ErrorBody>(&self.0)
            .ok()
            .and_then(|b| b.error_message)
    }
}

/// Why an invocation gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// No function of that name is defined on this node.
    NoTarget,
    /// The integration timeout passed.
    Timeout,
    /// The function's own timeout passed (its process was killed).
    FunctionTimeout,
    /// The function process exited during the invocation.
    Crashed,
    /// The function reported an error (its error document).
    FunctionError(FunctionFailure),
    /// The function reported the error `Unauthorized` (what a Lambda authorizer raises to
    /// refuse a caller, answered 401; its error document).
    Unauthorized(FunctionFailure),
    /// The function process could not start, or failed its initialisation.
    InitFailed,
    /// Too many invocations wait for this function.
    Overloaded,
    /// The answer was larger than [`MAX_RESPONSE_BYTES`].
    TooLarge,
    /// The function service is not running.
    Stopped,
    /// The remote target could not be reached or broke the exchange.
    Unreachable,
    /// The remote target answered an error status.
    TargetError,
}

impl InvokeError {
    /// A short cause for the log.
    pub fn cause(&self) -> &'static str {
        match self {
            InvokeError::NoTarget => "Lambda function has no target on this node",
            InvokeError::Timeout => "integration timeout",
            InvokeError::FunctionTimeout => "Lambda function timed out (process killed)",
            InvokeError::Crashed => "Lambda function process exited during the invocation",
            InvokeError::FunctionError(_) => "Lambda function returned an error",
            InvokeError::Unauthorized(_) => "Unauthorized",
            InvokeError::InitFailed => "Lambda function process failed to start or initialise",
            InvokeError::Overloaded => "Lambda function concurrency reached and its queue is full",
            InvokeError::TooLarge => "Lambda function response larger than 6 MB",
            InvokeError::Stopped => "Lambda function service stopped",
            InvokeError::Unreachable => "Lambda target unreachable or broke the exchange",
            InvokeError::TargetError => "Lambda target answered an error status",
        }
    }
}

/// What an invocation yields: the function's answer payload, or why there is none.
pub type InvokeResult = Result<Vec<u8>, InvokeError>;

/// The failure a function's error answer (`{"errorMessage": …}`, as the runtime interface
/// client and Lambda's Invoke API write it) stands for: [`InvokeError::Unauthorized`] for
/// exactly the message `Unauthorized`, else [`InvokeError::FunctionError`].
pub fn function_error(body: &[u8]) -> InvokeError {
    #[derive(serde::Deserialize)]
    struct ErrorBody<'a> {
        #[serde(rename = "errorMessage", borrow)]
        error_message: Option<std::borrow::Cow<'a, str>>,
    }
    let failure = FunctionFailure(body.into());
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            error_message: Some(m),
        }) if m == "Unauthorized" => InvokeError::Unauthorized(failure),
        _ => InvokeError::FunctionError(failure),
    }
}

/// One invocation handed to a function's pool.
#[derive(Debug)]
pub struct Invocation {
    /// The event.
    pub payload: Vec<u8>,
    /// The function ARN the caller used (the function sees it as its invoked ARN).
    pub function_arn: String,
    /// The integration timeout.
    pub timeout: Duration,
    /// Where the answer goes.
    pub reply: Reply,
}

/// The answering end of an invocation.
#[derive(Debug)]
pub struct Reply {
    tx: oneshot::Sender<InvokeResult>,
    wake: UnixStream,
}

impl Reply {
    /// Hands the answer over and wakes the caller.
    pub fn send(self, result: InvokeResult) {
        let _ = self.tx.send(result);
        // One byte into an empty socket buffer; if the caller is gone, nobody cares.
        let _ = (&self.wake).write(&[1]);
    }
}

/// The calling end of an invocation: once `wake` is readable (a byte, or closed when the
/// answer was dropped), the answer is in `rx`.
#[derive(Debug)]
pub struct Pending {
    /// The answer, once there is one.
    pub rx: oneshot::Receiver<InvokeResult>,
    /// Readable when the answer is in (or will never come).
    pub wake: UnixStream,
}

impl Pending {
    /// The answer after `wake` turned readable; `Stopped` when the pool dropped it.
    pub fn take(mut self) -> InvokeResult {
        self.rx.try_recv().unwrap_or(Err(InvokeError::Stopped))
    }

    /// Waits for the answer, blocking this thread (tools and tests; never a worker).
    pub fn wait(self) -> InvokeResult {
        let mut b = [0u8; 1];
        let _ = self.wake.set_nonblocking(false);
        let _ = (&self.wake).read(&mut b);
        self.take()
    }
}

/// The node's functions: a handle the data-plane workers share.
#[derive(Debug, Default)]
pub struct Functions {
    pools: HashMap<String, mpsc::UnboundedSender<pool::Msg>>,
}

impl Functions {
    /// Starts the function thread with a pool for each definition (no process is started
    /// before the first invocation). `region` is the node's region (the functions'
    /// `AWS_REGION`).
    pub fn start(defs: Vec<FunctionDef>, region: Option<String>) -> std::io::Result<Arc<Self>> {
        if defs.is_empty() {
            return Ok(Arc::new(Functions::default()));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let region: Arc<str> = region.unwrap_or_else(|| "us-east-1".into()).into();
        let mut pools = HashMap::new();
        let mut pool_tasks = Vec::new();
        let mut remote_tasks = Vec::new();
        for def in defs {
            let (tx, rx) = mpsc::unbounded_channel();
            pools.insert(def.name.clone(), tx.clone());
            match def.remote.clone() {
                None => pool_tasks.push(pool::Pool::new(Arc::new(def), region.clone(), tx, rx)),
                Some(r) => remote_tasks.push((Arc::new(def), Arc::new(r), rx)),
            }
        }
        std::thread::Builder::new()
            .name("tollgate-fn".into())
            .spawn(move || {
                rt.block_on(async move {
                    let mut set = tokio::task::JoinSet::new();
                    for p in pool_tasks {
                        set.spawn(p.run());
                    }
                    for (def, r, rx) in remote_tasks {
                        set.spawn(remote::run(def, r, rx));
                    }
                    while set.join_next().await.is_some() {}
                })
            })?;
        Ok(Arc::new(Functions { pools }))
    }

    /// Whether a function of this name is defined.
    pub fn has(&self, name: &str) -> bool {
        self.pools.contains_key(name)
    }

    /// Hands an invocation to the function's pool; the receiver yields the answer.
    pub fn invoke(
        &self,
        name: &str,
        function_arn: &str,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Pending, InvokeError> {
        let pool = self.pools.get(name).ok_or(InvokeError::NoTarget)?;
        let (tx, rx) = oneshot::channel();
        let (theirs, ours) = UnixStream::pair().map_err(|e| {
            tracing::warn!(error = %e, "cannot make an invocation's socket pair");
            InvokeError::Stopped
        })?;
        let _ = theirs.set_nonblocking(true);
        pool.send(pool::Msg::Invoke(Invocation {
            payload,
            function_arn: function_arn.to_string(),
            timeout,
            reply: Reply { tx, wake: theirs },
        }))
        .map_err(|_| InvokeError::Stopped)?;
        Ok(Pending { rx, wake: ours })
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn only_the_exact_unauthorized_message_is_a_refusal() {
        for (body, want) in [
            (
                &br#"{"errorMessage":"Unauthorized","errorType":"Exception","stackTrace":[]}"#[..],
                InvokeError::Unauthorized(FunctionFailure::default()),
            ),
            (
                br#"{"errorMessage":"unauthorized"}"#,
                InvokeError::FunctionError(FunctionFailure::default()),
            ),
            (
                br#"{"errorMessage":"Unauthorized "}"#,
                InvokeError::FunctionError(FunctionFailure::default()),
            ),
            (
                br#"{"errorMessage":null}"#,
                InvokeError::FunctionError(FunctionFailure::default()),
            ),
            (
                br#"{"errorMessage":1}"#,
                InvokeError::FunctionError(FunctionFailure::default()),
            ),
            (
                b"Unauthorized",
                InvokeError::FunctionError(FunctionFailure::default()),
            ),
            (b"", InvokeError::FunctionError(FunctionFailure::default())),
        ] {
            let got = function_error(body);
            assert_eq!(
                std::mem::discriminant(&got),
                std::mem::discriminant(&want),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// The error document is kept whole, and its `errorMessage` read when it is a string.
    #[test]
    fn the_error_document_is_kept() {
        let body = br#"{"errorMessage":"Not found: 7","errorType":"KeyError","stackTrace":["a"]}"#;
        let InvokeError::FunctionError(f) = function_error(body) else {
            panic!("not a function error");
        };
        assert_eq!(&*f.0, &body[..]);
        assert_eq!(f.message().as_deref(), Some("Not found: 7"));
        for body in [&br#"{"errorMessage":1}"#[..], b"oops", b""] {
            assert_eq!(FunctionFailure(body.into()).message(), None);
        }
    }
}
