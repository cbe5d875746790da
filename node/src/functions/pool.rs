//! One function's pool on this node: invocations wait in a queue for a warm process (one that
//! asked the Runtime API for its next event); when none is free and fewer than the
//! function's concurrency run, a process is started (a cold start). An invocation runs until
//! its process answers, or until the earlier of the function's timeout and the integration
//! timeout, when the process is killed and replaced on demand. A process that exits during
//! an invocation fails it (`Crashed`); one that exits or fails before its first event fails
//! the oldest waiting invocation (`InitFailed`), so a function that cannot start does not hold
//! its callers until their timeouts.

use super::{runtime_api, sandbox, FunctionDef, Invocation, InvokeError, InvokeResult, Reply};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Most invocations waiting per unit of concurrency before more are refused.
const QUEUE_PER_PROCESS: usize = 64;

/// How long a process may take to initialise (ask for its first event), as Lambda's init
/// phase; then it is killed and fails the oldest waiting invocation.
pub const INIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// An event handed to a process.
#[derive(Debug)]
pub struct NextEvent {
    /// The invocation's request id.
    pub request_id: String,
    /// The deadline, milliseconds since the Unix epoch.
    pub deadline_ms: u64,
    /// The invoked function ARN.
    pub function_arn: String,
    /// The X-Ray trace header value.
    pub trace_id: String,
    /// The event.
    pub payload: Vec<u8>,
}

/// What the pool task receives.
#[derive(Debug)]
pub enum Msg {
    /// A new invocation.
    Invoke(Invocation),
    /// A process asks for its next event.
    Next {
        /// The process.
        sandbox: u64,
        /// Where its event goes.
        reply: oneshot::Sender<NextEvent>,
    },
    /// A process answered (or reported a function error for) an invocation.
    Done {
        /// The process.
        sandbox: u64,
        /// The invocation.
        request_id: String,
        /// The answer.
        result: InvokeResult,
    },
    /// A process reported an initialisation error.
    InitError {
        /// The process.
        sandbox: u64,
    },
    /// A process exited.
    Exited {
        /// The process.
        sandbox: u64,
    },
}

struct Waiting {
    inv: Invocation,
    /// The integration deadline.
    deadline: Instant,
}

struct Running {
    request_id: String,
    reply: Reply,
    deadline: Instant,
    /// What passing the deadline means: the integration's timeout or the function's.
    on_deadline: InvokeError,
}

enum State {
    /// Started, or between invocations: not yet asking for an event.
    Starting,
    /// Waiting for an event.
    Idle(oneshot::Sender<NextEvent>),
    /// Running an invocation.
    Busy(Running),
}

struct Sandbox {
    pgid: u32,
    state: State,
    /// Whether it has asked for an event at least once (initialised).
    ready: bool,
    /// When it was started.
    started: Instant,
    server: tokio::task::AbortHandle,
}

/// One function's pool (run by [`Pool::run`] on the function thread).
pub struct Pool {
    def: Arc<FunctionDef>,
    region: Arc<str>,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    sandboxes: HashMap<u64, Sandbox>,
    queue: VecDeque<Waiting>,
    next_id: u64,
    /// [`INIT_TIMEOUT`] (shorter in tests).
    init_timeout: std::time::Duration,
}

impl Pool {
    /// A pool for `def`; `tx` is the sender of `rx` (handed to its processes' Runtime APIs).
    pub fn new(
        def: Arc<FunctionDef>,
        region: Arc<str>,
        tx: mpsc::UnboundedSender<Msg>,
        rx: mpsc::UnboundedReceiver<Msg>,
    ) -> Pool {
        Pool {
            def,
            region,
            tx,
            rx,
            sandboxes: HashMap::new(),
            queue: VecDeque::new(),
            next_id: 0,
            init_timeout: INIT_TIMEOUT,
        }
    }

    /// Runs the pool until every sender is gone.
    pub async fn run(mut self) {
        loop {
            let wake = self.next_deadline();
            let msg = tokio::select! {
                m = self.rx.recv() => match m {
                    Some(m) => Some(m),
                    None => break,
                },
                _ = sleep_until(wake) => None,
            };
            if let Some(m) = msg {
                self.on_msg(m).await;
            }
            self.expire(Instant::now());
            self.pump().await;
        }
        for (_, s) in self.sandboxes.drain() {
            s.server.abort();
            sandbox::kill_group(s.pgid);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let busy = self.sandboxes.values().filter_map(|s| match &s.state {
            State::Busy(r) => Some(r.deadline),
            _ if !s.ready => Some(s.started + self.init_timeout),
            _ => None,
        });
        busy.chain(self.queue.iter().map(|w| w.deadline)).min()
    }

    async fn on_msg(&mut self, m: Msg) {
        match m {
            Msg::Invoke(inv) => {
                let limit = self.def.concurrency.saturating_mul(QUEUE_PER_PROCESS);
                if self.queue.len() >= limit {
                    inv.reply.send(Err(InvokeError::Overloaded));
                    return;
                }
                let deadline = Instant::now() + inv.timeout;
                self.queue.push_back(Waiting { inv, deadline });
            }
            Msg::Next { sandbox, reply } => {
                if let Some(s) = self.sandboxes.get_mut(&sandbox) {
                    s.ready = true;
                    if let State::Busy(r) = std::mem::replace(&mut s.state, State::Idle(reply)) {
                        // Asking for the next event without answering this one: Lambda
                        // counts that as a failed invocation.
                        r.reply.send(Err(InvokeError::FunctionError(
                            super::FunctionFailure(
                                br#"{"errorMessage":"the function asked for its next event without answering this one","errorType":"Runtime.InvalidResponse"}"#[..].into(),
                            ),
                        )));
                    }
                }
            }
            Msg::Done {
                sandbox,
                request_id,
                result,
            } => {
                if let Some(s) = self.sandboxes.get_mut(&sandbox) {
                    if matches!(&s.state, State::Busy(r) if r.request_id == request_id) {
                        if let State::Busy(r) = std::mem::replace(&mut s.state, State::Starting) {
                            r.reply.send(result);
                        }
                    }
                }
            }
            Msg::InitError { sandbox } => {
                if let Some(s) = self.sandboxes.remove(&sandbox) {
                    self.retire(s, InvokeError::InitFailed);
                }
            }
            Msg::Exited { sandbox } => {
                if let Some(s) = self.sandboxes.remove(&sandbox) {
                    tracing::warn!(function = %self.def.name, "Lambda function process exited");
                    self.retire(s, InvokeError::Crashed);
                }
            }
        }
    }

    /// Ends a removed process: its invocation fails with `why`; one that never initialised
    /// fails the oldest waiting invocation instead.
    fn retire(&mut self, s: Sandbox, why: InvokeError) {
        s.server.abort();
        sandbox::kill_group(s.pgid);
        match s.state {
            State::Busy(r) => {
                r.reply.send(Err(why));
            }
            _ if !s.ready => {
                if let Some(w) = self.queue.pop_front() {
                    w.inv.reply.send(Err(InvokeError::InitFailed));
                }
            }
            _ => {}
        }
    }

    /// Fails what passed its deadline: a running invocation's process is killed.
    fn expire(&mut self, now: Instant) {
        while let Some(pos) = self.queue.iter().position(|w| w.deadline <= now) {
            if let Some(w) = self.queue.remove(pos) {
                w.inv.reply.send(Err(InvokeError::Timeout));
            }
        }
        let late: Vec<u64> = self
            .sandboxes
            .iter()
            .filter(|(_, s)| match &s.state {
                State::Busy(r) => r.deadline <= now,
                _ => !s.ready && s.started + self.init_timeout <= now,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            if let Some(s) = self.sandboxes.remove(&id) {
                let why = match &s.state {
                    State::Busy(r) => r.on_deadline.clone(),
                    _ => InvokeError::InitFailed,
                };
                tracing::warn!(function = %self.def.name, cause = why.cause(), "killing the Lambda function process");
                self.retire(s, why);
            }
        }
    }

    /// Hands waiting invocations to idle processes, and starts processes for the rest as the
    /// concurrency allows.
    async fn pump(&mut self) {
        while !self.queue.is_empty() {
            let Some(id) = self
                .sandboxes
                .iter()
                .find(|(_, s)| matches!(s.state, State::Idle(_)))
                .map(|(id, _)| *id)
            else {
                break;
            };
            let Some(w) = self.queue.pop_front() else {
                break;
            };
            let Some(s) = self.sandboxes.get_mut(&id) else {
                break;
            };
            let State::Idle(next) = std::mem::replace(&mut s.state, State::Starting) else {
                continue;
            };
            let now = Instant::now();
            let function_deadline = now + self.def.timeout;
            let (deadline, on_deadline) = if w.deadline < function_deadline {
                (w.deadline, InvokeError::Timeout)
            } else {
                (function_deadline, InvokeError::FunctionTimeout)
            };
            let request_id = crate::admin::http::request_id();
            let left = deadline.saturating_duration_since(now);
            let deadline_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .saturating_add(left)
                .as_millis() as u64;
            let ev = NextEvent {
                request_id: request_id.clone(),
                deadline_ms,
                function_arn: w.inv.function_arn.clone(),
                trace_id: trace_id(&request_id, deadline_ms),
                payload: w.inv.payload,
            };
            match next.send(ev) {
                Ok(()) => {
                    s.state = State::Busy(Running {
                        request_id,
                        reply: w.inv.reply,
                        deadline,
                        on_deadline,
                    });
                }
                Err(ev) => {
                    // The process's request went away (it is exiting): the invocation waits on.
                    self.queue.push_front(Waiting {
                        inv: Invocation {
                            payload: ev.payload,
                            function_arn: ev.function_arn,
                            timeout: w.inv.timeout,
                            reply: w.inv.reply,
                        },
                        deadline: w.deadline,
                    });
                }
            }
        }
        let starting = self
            .sandboxes
            .values()
            .filter(|s| matches!(s.state, State::Starting))
            .count();
        let mut want = self.queue.len().saturating_sub(starting);
        while want > 0 && self.sandboxes.len() < self.def.concurrency {
            if let Err(e) = self.start_one().await {
                tracing::error!(function = %self.def.name, error = %e, "cannot start the Lambda function process");
                if let Some(w) = self.queue.pop_front() {
                    w.inv.reply.send(Err(InvokeError::InitFailed));
                }
            }
            want -= 1;
        }
    }

    async fn start_one(&mut self) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let api = listener.local_addr()?;
        self.next_id += 1;
        let id = self.next_id;
        let mut child = sandbox::spawn(&self.def, &self.region, api, id)?;
        let pgid = child.id().unwrap_or(0);
        let server = tokio::spawn(runtime_api::serve(listener, id, self.tx.clone())).abort_handle();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let _ = child.wait().await;
            let _ = tx.send(Msg::Exited { sandbox: id });
        });
        tracing::info!(function = %self.def.name, pid = pgid, "started a Lambda function process (cold start)");
        self.sandboxes.insert(
            id,
            Sandbox {
                pgid,
                state: State::Starting,
                ready: false,
                started: Instant::now(),
                server,
            },
        );
        Ok(())
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// An X-Ray trace header for the invocation (not sampled).
fn trace_id(request_id: &str, deadline_ms: u64) -> String {
    let hex: String = request_id.chars().filter(char::is_ascii_hexdigit).collect();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        (deadline_ms / 1000) & 0xffff_ffff,
        &hex[..hex.len().min(24)],
        &hex[hex.len().saturating_sub(16)..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn def(script: &str) -> Arc<FunctionDef> {
        Arc::new(FunctionDef {
            name: "f".into(),
            handler: "handler".into(),
            code: std::env::temp_dir(),
            command: vec!["sh".into(), "-c".into(), script.into()],
            environment: Default::default(),
            timeout: Duration::from_secs(3),
            memory_mb: 128,
            concurrency: 1,
            remote: None,
        })
    }

    /// Runs one invocation of `def` through a pool; returns its result and how long it took.
    fn invoke_once(def: Arc<FunctionDef>, init_timeout: Duration) -> (InvokeResult, Duration) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, rx) = mpsc::unbounded_channel();
            let mut pool = Pool::new(def, "us-east-1".into(), tx.clone(), rx);
            pool.init_timeout = init_timeout;
            tokio::spawn(pool.run());
            let functions = super::super::Functions {
                pools: [("f".to_string(), tx)].into(),
            };
            let t = Instant::now();
            let pending = functions
                .invoke(
                    "f",
                    "arn:aws:lambda:us-east-1:1:function:f",
                    b"{}".to_vec(),
                    Duration::from_secs(5),
                )
                .unwrap();
            let result = pending.rx.await.unwrap();
            (result, t.elapsed())
        })
    }

    /// A process that never asks for an event is killed after the init timeout and fails the
    /// invocation, instead of holding it (and the function's concurrency) until its timeout.
    #[test]
    fn a_process_that_never_initialises_is_killed() {
        let (result, took) = invoke_once(def("sleep 30"), Duration::from_millis(300));
        assert_eq!(result, Err(InvokeError::InitFailed));
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    /// A process that exits before its first event fails the oldest waiting invocation.
    #[test]
    fn a_process_that_exits_at_start_fails_the_invocation() {
        let (result, took) = invoke_once(def("exit 1"), INIT_TIMEOUT);
        assert_eq!(result, Err(InvokeError::InitFailed));
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    /// A command that cannot start at all fails the invocation at once.
    #[test]
    fn a_command_that_cannot_start_fails_the_invocation() {
        let mut d = (*def("")).clone();
        d.command = vec!["/nonexistent/runtime".into()];
        let (result, _) = invoke_once(Arc::new(d), INIT_TIMEOUT);
        assert_eq!(result, Err(InvokeError::InitFailed));
    }
}
