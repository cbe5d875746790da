//! Shared pieces of the end-to-end tests: a real `tollgate` process on loopback ports, a
//! SigV4-signing admin client, raw HTTP over TCP, and a small echo backend.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_node::sigv4;

pub mod cluster;

/// Access key of every test node.
pub const ACCESS_KEY: &str = "AKIDTESTTOLLGATE";
/// Secret of every test node.
pub const SECRET_KEY: &str = "test-secret-key-0123456789abcdefghijklmn";

/// A running `tollgate serve`, killed on drop.
pub struct TestNode {
    child: Child,
    /// Data-plane address.
    pub data: SocketAddr,
    /// Admin API address.
    pub admin: SocketAddr,
    /// The node's data folder (kept while the node lives).
    pub dir: tempfile::TempDir,
    /// What the node printed at start.
    pub banner: String,
    /// What the node has logged so far (stderr; also passed on to the test's stderr).
    log: Arc<std::sync::Mutex<String>>,
}

impl TestNode {
    /// Starts a node with a fresh data folder.
    pub fn start(extra: &[&str]) -> TestNode {
        Self::start_in(tempfile::tempdir().expect("tempdir"), extra)
    }

    /// Starts a node on an existing data folder (restarts).
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> TestNode {
        Self::start_with_env(dir, extra, &[])
    }

    /// Starts a node with extra environment variables for its process.
    pub fn start_with_env(
        dir: tempfile::TempDir,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> TestNode {
        let data_dir = dir.path().to_string_lossy().into_owned();
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--raft-listen",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir,
        ];
        args.extend_from_slice(extra);
        Self::spawn(dir, &args, env)
    }

    /// Starts a node with the configuration file `toml` (written beside its data folder, so
    /// relative paths in it are the test folder's) and extra environment variables.
    #[allow(dead_code)]
    pub fn start_with_config(toml: &str, env: &[(&str, &str)]) -> TestNode {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_with_config_in(dir, toml, env)
    }

    /// [`TestNode::start_with_config`] in a folder the caller prepared (files the
    /// configuration names).
    #[allow(dead_code)]
    pub fn start_with_config_in(
        dir: tempfile::TempDir,
        toml: &str,
        env: &[(&str, &str)],
    ) -> TestNode {
        let config = dir.path().join("tollgate.toml");
        std::fs::write(&config, toml).expect("write the configuration");
        let data = dir.path().join("data").to_string_lossy().into_owned();
        let config = config.to_string_lossy().into_owned();
        let args = [
            "--config",
            &config,
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--raft-listen",
            "127.0.0.1:0",
            "--data-dir",
            &data,
        ];
        Self::spawn(dir, &args, env)
    }

    /// Starts `tollgate serve` with exactly these arguments (e.g. `--config FILE`), keeping
    /// `dir` alive with the node.
    pub fn spawn(dir: tempfile::TempDir, args: &[&str], env: &[(&str, &str)]) -> TestNode {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        cmd.arg("serve")
            .args(args)
            .env("TOLLGATE_ACCESS_KEY_ID", ACCESS_KEY)
            .env("TOLLGATE_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("TOLLGATE_LOG", "warn,openraft=error")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().expect("spawn tollgate");
        let log = Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                if let Ok(mut l) = log2.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut data, mut admin, mut banner) = (None, None, String::new());
        let deadline = Instant::now() + Duration::from_secs(30);
        while data.is_none() || admin.is_none() {
            assert!(Instant::now() < deadline, "node did not start: {banner}");
            let Some(Ok(line)) = lines.next() else {
                panic!("node exited before it was ready: {banner}");
            };
            banner.push_str(&line);
            banner.push('\n');
            if let Some(rest) = line.strip_prefix("data plane: http://") {
                data = rest.split(' ').next().and_then(|a| a.parse().ok());
            }
            if let Some(rest) = line.strip_prefix("admin API: http://") {
                admin = rest.trim().parse().ok();
            }
        }
        // Keep draining stdout so the node never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        TestNode {
            child,
            data: data.expect("data address"),
            admin: admin.expect("admin address"),
            dir,
            banner,
            log,
        }
    }

    /// What the node has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The node's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (a graceful shutdown).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Stops the node (SIGKILL: no chance to flush anything not already durable) and returns
    /// its data folder.
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }

    /// A signed admin call; returns the status and the JSON body (Null when empty).
    pub fn admin(&self, method: &str, path_and_query: &str, body: Option<Value>) -> (u16, Value) {
        admin_call(self.admin, method, path_and_query, body, SECRET_KEY)
    }

    /// A signed admin call made as the AWS SDKs make it: one invocation id
    /// (`amz-sdk-invocation-id`) for the call, sent again with every retry, and retries on a
    /// 503 or a lost connection (at most 5 attempts, backing off). Returns the last answer's
    /// status and body; a 503 then means the outcome is unknown (the write may or may not have
    /// applied, once).
    pub fn admin_sdk(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let invocation = format!("{}-{n}-{nanos}", std::process::id());
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let creds = sigv4::Credentials {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
        };
        let mut last = (503, Value::Null);
        for attempt in 1..=5u32 {
            let header = format!("attempt={attempt}; max=5");
            let extra = [
                ("amz-sdk-invocation-id", invocation.as_str()),
                ("amz-sdk-request", header.as_str()),
            ];
            match tollgate_node::admin_client::call_with(
                self.admin,
                &creds,
                method,
                path_and_query,
                body.as_bytes(),
                &extra,
            ) {
                Ok(a) if a.status == 503 => last = (a.status, a.json()),
                Ok(a) => return (a.status, a.json()),
                Err(e) => last = (503, Value::String(format!("connection: {e}"))),
            }
            eprintln!("{method} {path_and_query}: attempt {attempt} -> {last:?}; retrying");
            std::thread::sleep(Duration::from_millis(100 << attempt.min(4)));
        }
        last
    }

    /// [`TestNode::admin_sdk`] that must succeed (2xx); returns the body.
    pub fn admin_sdk_ok(&self, method: &str, path_and_query: &str, body: Option<Value>) -> Value {
        let (status, v) = self.admin_sdk(method, path_and_query, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path_and_query} -> {status} {v}"
        );
        v
    }

    /// A signed admin call that must succeed (2xx); returns the body.
    pub fn admin_ok(&self, method: &str, path_and_query: &str, body: Option<Value>) -> Value {
        let (status, v) = self.admin(method, path_and_query, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path_and_query} -> {status} {v}"
        );
        v
    }

    /// Sends `raw` bytes to the data plane and reads until the server closes (or 5 s pass).
    pub fn raw(&self, raw: &[u8]) -> Vec<u8> {
        raw_exchange(self.data, raw)
    }

    /// One request to the data plane over a fresh connection.
    pub fn get(&self, host: &str, path: &str) -> Response {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        parse_response(&self.raw(req.as_bytes())).expect("a response")
    }

    /// A request with method, headers and body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        parse_response(&self.raw(&bytes)).expect("a response")
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `raw` and reads until the peer closes or 5 seconds pass.
pub fn raw_exchange(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw).expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers (names as sent).
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
    /// Bytes of the whole message.
    pub len: usize,
}

impl Response {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Parses the first response in `bytes`.
pub fn parse_response(bytes: &[u8]) -> Option<Response> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head_len) = r.parse(bytes).ok()? else {
        return None;
    };
    let status = r.code?;
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let find = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let rest = &bytes[head_len..];
    let (body, used) = if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut body = Vec::new();
        let mut pos = 0;
        loop {
            let line_end = rest[pos..].windows(2).position(|w| w == b"\r\n")? + pos;
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[pos..line_end]).ok()?, 16).ok()?;
            pos = line_end + 2;
            if size == 0 {
                pos += 2;
                break;
            }
            body.extend_from_slice(rest.get(pos..pos + size)?);
            pos += size + 2;
        }
        (body, pos)
    } else if let Some(cl) = find("content-length") {
        let n: usize = cl.trim().parse().ok()?;
        (rest.get(..n)?.to_vec(), n)
    } else if (100..200).contains(&status) || status == 204 || status == 304 {
        (Vec::new(), 0)
    } else {
        (rest.to_vec(), rest.len())
    };
    Some(Response {
        status,
        headers,
        body,
        len: head_len + used,
    })
}

/// Parses every response in `bytes`, in order.
pub fn parse_all(mut bytes: &[u8]) -> Vec<Response> {
    let mut out = Vec::new();
    while let Some(r) = parse_response(bytes) {
        bytes = &bytes[r.len..];
        out.push(r);
    }
    out
}

/// A SigV4-signed admin call over a fresh connection (through the node's own admin client).
pub fn admin_call(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    body: Option<Value>,
    secret: &str,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let creds = sigv4::Credentials {
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: secret.into(),
    };
    let answer =
        tollgate_node::admin_client::call(addr, &creds, method, path_and_query, body.as_bytes())
            .expect("admin response");
    (answer.status, answer.json())
}

/// Runs `aws apigateway …` (the real AWS CLI) against a test node's admin API, isolated from
/// any user configuration.
pub struct Aws {
    endpoint: String,
    home: tempfile::TempDir,
}

impl Aws {
    /// A CLI pointed at `node`.
    pub fn for_node(node: &TestNode) -> Aws {
        Aws {
            endpoint: format!("http://{}", node.admin),
            home: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Runs a command signed with `secret`.
    pub fn run(&self, secret: &str, args: &[&str]) -> std::process::Output {
        Command::new("aws")
            .arg("apigateway")
            .args(args)
            .args(["--endpoint-url", &self.endpoint, "--region", "us-east-1"])
            .args(["--output", "json"])
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_PAGER", "")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("HOME", self.home.path())
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .unwrap_or_else(|e| {
                panic!("the `aws` CLI is not runnable ({e}); install it with `pip install awscli`")
            })
    }

    /// Runs a command that must succeed; returns its JSON output (Null when none).
    pub fn ok(&self, args: &[&str]) -> Value {
        let out = self.run(SECRET_KEY, args);
        assert!(
            out.status.success(),
            "aws apigateway {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Runs a command that must fail with the AWS error `code`.
    pub fn fails(&self, code: &str, args: &[&str]) {
        self.fails_with(SECRET_KEY, code, args)
    }

    /// Like [`Aws::fails`], signed with `secret`.
    pub fn fails_with(&self, secret: &str, code: &str, args: &[&str]) {
        let out = self.run(secret, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(255), "{args:?}: {err}");
        assert!(
            err.contains(&format!("An error occurred ({code})")),
            "{args:?}: {err}"
        );
    }
}

/// A backend that answers every request with a JSON echo of it. Paths starting with
/// `/slow` wait 3 s first; `/chunked` answers chunked; `/remapped` adds `Server`, `Date` and
/// `WWW-Authenticate`; a path holding `status-NNN` answers with status NNN. Counts requests.
pub struct EchoBackend {
    /// Its address.
    pub addr: SocketAddr,
    /// Requests served.
    pub count: Arc<AtomicUsize>,
}

impl EchoBackend {
    /// Starts the backend on a loopback port.
    pub fn start() -> EchoBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let c2 = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let c = c2.clone();
                std::thread::spawn(move || echo_conn(stream, c));
            }
        });
        EchoBackend { addr, count }
    }
}

fn echo_conn(mut s: TcpStream, count: Arc<AtomicUsize>) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    loop {
        // Parse one request from buf, reading as needed.
        let (head_len, method, path, headers, clen) = loop {
            let mut hs = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut hs);
            if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
                let headers: Vec<(String, String)> = req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let clen = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                break (
                    n,
                    req.method.unwrap_or("").to_string(),
                    req.path.unwrap_or("").to_string(),
                    headers,
                    clen,
                );
            }
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&tmp[..k]),
            }
        };
        while buf.len() < head_len + clen {
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&tmp[..k]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_len..head_len + clen]).into_owned();
        buf.drain(..head_len + clen);
        count.fetch_add(1, Ordering::SeqCst);
        if path.starts_with("/slow") {
            std::thread::sleep(Duration::from_secs(3));
        }
        let hmap: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let echo = serde_json::json!({
            "method": method, "path": path, "headers": hmap, "body": body
        })
        .to_string();
        let resp = if path.starts_with("/chunked") {
            let half = echo.len() / 2;
            format!(
                "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Backend: echo\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
                half,
                &echo[..half],
                echo.len() - half,
                &echo[half..]
            )
        } else {
            let status = path
                .split("status-")
                .nth(1)
                .and_then(|s| s.get(..3))
                .and_then(|s| s.parse::<u16>().ok())
                .unwrap_or(200);
            // Headers AWS remaps (`x-amzn-Remapped-*`) for paths starting with `/remapped`.
            let reserved = if path.starts_with("/remapped") {
                "Server: x\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nWWW-Authenticate: Basic realm=\"b\"\r\n"
            } else {
                ""
            };
            format!(
                "HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nX-Backend: echo\r\n{reserved}Connection: keep-alive\r\nContent-Length: {}\r\n\r\n{}",
                echo.len(),
                echo
            )
        };
        if s.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// A loopback address on which nothing listens (bound, then released).
pub fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

/// A keep-alive connection for sending many requests in turn.
pub struct KeepAlive {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl KeepAlive {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> KeepAlive {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        KeepAlive {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends a GET of `path` with `headers` and returns the status (0 if the connection broke).
    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> u16 {
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        if self.stream.write_all(req.as_bytes()).is_err() {
            return 0;
        }
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(r) = parse_response(&self.buf) {
                self.buf.drain(..r.len);
                return r.status;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return 0,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// Sends GETs of `path` to `addr` at `rate` per second (paced, one keep-alive connection) for
/// `duration`, and returns each answer's status with the time since `epoch` it was sent at.
pub fn paced_load(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    rate: f64,
    duration: Duration,
    epoch: Instant,
) -> Vec<(Duration, u16)> {
    let mut conn = KeepAlive::connect(addr);
    let start = Instant::now();
    let mut out = Vec::new();
    for i in 0u64.. {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due >= start + duration {
            break;
        }
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let sent = Instant::now();
        let mut status = conn.get(path, headers);
        if status == 0 {
            conn = KeepAlive::connect(addr);
            status = conn.get(path, headers);
        }
        out.push((sent - epoch, status));
    }
    out
}

/// Runs the Python script `script` (under `tests/data/`) with `input` as JSON on its stdin
/// and `env` added to its environment; returns the JSON it prints. Panics (failing the test)
/// with its stderr when it exits non-zero.
pub fn python_json(script: &str, input: &Value, env: &[(&str, &str)]) -> Value {
    let path = format!("{}/tests/data/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("python3")
        .arg(&path)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("input written");
    let out = child.wait_with_output().expect("python3 ends");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// Sends data-plane requests signed by botocore's `SigV4Auth` (service `execute-api`), through
/// `data/sigv4_invoke.py` (see it for the shape of `requests` and of each answer).
pub fn botocore_invoke(requests: &Value) -> Vec<Value> {
    match python_json("sigv4_invoke.py", requests, &[]) {
        Value::Array(answers) => answers,
        other => panic!("sigv4_invoke.py: not a JSON list: {other}"),
    }
}

/// Runs `aws iam …` (the real AWS CLI) against `node`'s admin API with the admin
/// credentials; returns its JSON output (Null when none), or the error text when it fails.
pub fn aws_iam(node: &TestNode, args: &[&str]) -> Result<Value, String> {
    let mut all = vec!["iam"];
    all.extend_from_slice(args);
    aws_as(node, (ACCESS_KEY, SECRET_KEY), &all)
}

/// Runs `aws {args}` against `node`'s admin API signed with `(key, secret)`.
pub fn aws_as(
    node: &TestNode,
    (key, secret): (&str, &str),
    args: &[&str],
) -> Result<Value, String> {
    let home = tempfile::tempdir().expect("tempdir");
    let out = Command::new("aws")
        .args(args)
        .args(["--endpoint-url", &format!("http://{}", node.admin)])
        .args(["--region", "us-east-1", "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_PAGER", "")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("HOME", home.path())
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .expect("the `aws` CLI runs");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap_or(Value::Null))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// An API with `/pets` GET and POST (`AWS_IAM`) and `/open` GET (`NONE`), each an
/// HTTP_PROXY to `backend` that is also sent the caller's `$context.identity.userArn` and
/// `.accessKey` (as `x-caller-arn` and `x-access-key`), deployed to `prod`, made through
/// `via`; returns the API id.
pub fn iam_api(via: &TestNode, backend: SocketAddr) -> String {
    let api = via.admin_sdk_ok(
        "POST",
        "/restapis",
        Some(serde_json::json!({ "name": "iam" })),
    );
    let id = api["id"].as_str().expect("api id").to_string();
    let root = api["rootResourceId"].as_str().expect("root").to_string();
    for (part, verbs) in [("pets", &["GET", "POST"][..]), ("open", &["GET"][..])] {
        let res = via.admin_sdk_ok(
            "POST",
            &format!("/restapis/{id}/resources/{root}"),
            Some(serde_json::json!({ "pathPart": part })),
        )["id"]
            .as_str()
            .expect("resource id")
            .to_string();
        let auth = if part == "pets" { "AWS_IAM" } else { "NONE" };
        for verb in verbs {
            via.admin_sdk_ok(
                "PUT",
                &format!("/restapis/{id}/resources/{res}/methods/{verb}"),
                Some(serde_json::json!({ "authorizationType": auth })),
            );
            via.admin_sdk_ok(
                "PUT",
                &format!("/restapis/{id}/resources/{res}/methods/{verb}/integration"),
                Some(serde_json::json!({
                    "type": "HTTP_PROXY",
                    "httpMethod": "ANY",
                    "uri": format!("http://{backend}/{part}"),
                    "requestParameters": {
                        "integration.request.header.x-caller-arn": "context.identity.userArn",
                        "integration.request.header.x-access-key": "context.identity.accessKey",
                    },
                })),
            );
        }
    }
    via.admin_sdk_ok(
        "POST",
        &format!("/restapis/{id}/deployments"),
        Some(serde_json::json!({ "stageName": "prod" })),
    );
    id
}
