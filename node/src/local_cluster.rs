//! `tollgate cluster local`: N nodes on this machine, supervised in the foreground, and the
//! control socket through which `tollgate cluster node …` stops, starts, restarts, pauses and
//! resumes one of them.
//!
//! A node that exits (killed, crashed, stopped) is reported and the others keep running, so a
//! failover can be watched; the node stays down until asked to start again. Ctrl-C or SIGTERM
//! stops every node; so does the supervisor's own death (each node gets SIGTERM then).
//!
//! Control: a Unix socket `control.sock` in the cluster folder (0600, in a 0700 folder), one
//! request line `ACTION N` (`stop`, `kill`, `start`, `restart`, `pause`, `resume`) or
//! `status`, answered by one line starting `ok` or `error`.
//!
//! Files: the folder is 0700 and every file 0600; the generated admin credentials are kept in
//! `admin-credentials.toml` and the nodes' configs name them, so the secret is written only to
//! files its owner alone can read. It is printed once, when generated.

/// `println!` that never panics: the supervisor outlives whoever reads its output (a
/// closed pipe must not take the cluster down), so a failed write is ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

use crate::admin_client;
use crate::config::{data_dir_credentials, CredentialConfig, KeptCredentials};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tollgate_consensus::pki;

/// The control socket's file name in the cluster folder.
pub const CONTROL_SOCKET: &str = "control.sock";

/// What `cluster local` was asked for.
#[derive(Debug, Clone)]
pub struct LocalOpts {
    /// Number of nodes.
    pub nodes: u64,
    /// The cluster folder.
    pub dir: PathBuf,
    /// Node N listens on base+10N (data), base+10N+1 (admin), base+10N+2 (cluster).
    pub base_port: u16,
    /// Data-plane workers per node.
    pub workers: usize,
}

/// One node's process, as the supervisor knows it.
enum NodeProc {
    Running(Child),
    Paused(Child),
    Down(Option<ExitStatus>),
}

struct Supervisor {
    exe: PathBuf,
    dir: PathBuf,
    nodes: BTreeMap<u64, NodeProc>,
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        for (_, p) in std::mem::take(&mut self.nodes) {
            if let NodeProc::Running(mut c) | NodeProc::Paused(mut c) = p {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn signal(child: &Child, sig: libc::c_int) -> Result<(), String> {
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
    // SAFETY: kill(2) only sends a signal; `pid` is our own child, not yet reaped (we hold
    // its `Child` and have not waited on it), so it names no other process.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    Ok(())
}

/// Opens (creating) `path` for appending, readable by its owner only.
fn private_append(path: &Path) -> std::io::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

/// Replaces `path` with `text`, readable by its owner only.
fn private_write(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())
}

impl Supervisor {
    fn config(&self, i: u64) -> PathBuf {
        self.dir.join(format!("node{i}.toml"))
    }

    fn log(&self, i: u64) -> PathBuf {
        self.dir.join(format!("node{i}.log"))
    }

    fn spawn(&mut self, i: u64) -> Result<(), String> {
        let log = private_append(&self.log(i)).map_err(|e| format!("node {i} log: {e}"))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("serve")
            .arg("--config")
            .arg(self.config(i))
            .env_remove("TOLLGATE_ACCESS_KEY_ID")
            .env_remove("TOLLGATE_SECRET_ACCESS_KEY")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: runs in the child between fork and exec; prctl is async-signal-safe and
            // touches no memory of the parent. The node is stopped when the supervisor dies.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().map_err(|e| format!("starting node {i}: {e}"))?;
        self.nodes.insert(i, NodeProc::Running(child));
        Ok(())
    }

    /// Reaps nodes that exited; returns them with how they ended.
    fn reap(&mut self) -> Vec<(u64, ExitStatus)> {
        let mut out = Vec::new();
        for (i, p) in self.nodes.iter_mut() {
            if let NodeProc::Running(c) | NodeProc::Paused(c) = p {
                if let Ok(Some(st)) = c.try_wait() {
                    out.push((*i, st));
                    *p = NodeProc::Down(Some(st));
                }
            }
        }
        out
    }

    /// Waits up to `within` for node `i` to exit (after a stop signal).
    async fn wait_down(&mut self, i: u64, within: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + within;
        loop {
            if let Some(NodeProc::Running(c) | NodeProc::Paused(c)) = self.nodes.get_mut(&i) {
                if let Ok(Some(st)) = c.try_wait() {
                    self.nodes.insert(i, NodeProc::Down(Some(st)));
                    return Some(st);
                }
            } else {
                return None;
            }
            if Instant::now() > until {
                if let Some(NodeProc::Running(c) | NodeProc::Paused(c)) = self.nodes.get_mut(&i) {
                    let _ = c.kill();
                    let st = c.wait().ok();
                    self.nodes.insert(i, NodeProc::Down(st));
                    return st;
                }
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn status_line(&self) -> String {
        let parts: Vec<String> = self
            .nodes
            .iter()
            .map(|(i, p)| match p {
                NodeProc::Running(c) => format!("{i}=running(pid {})", c.id()),
                NodeProc::Paused(c) => format!("{i}=paused(pid {})", c.id()),
                NodeProc::Down(Some(st)) => format!("{i}=down({st})"),
                NodeProc::Down(None) => format!("{i}=down"),
            })
            .collect();
        format!("ok {}", parts.join(" "))
    }

    /// Carries out one control request; the answer line.
    async fn control(&mut self, line: &str) -> String {
        let mut words = line.split_whitespace();
        let action = words.next().unwrap_or("");
        if action == "status" {
            return self.status_line();
        }
        let Some(i) = words.next().and_then(|w| w.parse::<u64>().ok()) else {
            return format!("error: expected `ACTION NODE` or `status`, got {line:?}");
        };
        if !self.nodes.contains_key(&i) {
            return format!("error: no node {i}");
        }
        self.reap();
        let sig = |p: &NodeProc, s| match p {
            NodeProc::Running(c) | NodeProc::Paused(c) => signal(c, s),
            NodeProc::Down(_) => Err("it is not running".into()),
        };
        let res = match (action, &self.nodes[&i]) {
            ("pause", NodeProc::Running(_)) => {
                sig(&self.nodes[&i], libc::SIGSTOP).map(|()| self.set_paused(i, true))
            }
            ("resume", NodeProc::Paused(_)) => {
                sig(&self.nodes[&i], libc::SIGCONT).map(|()| self.set_paused(i, false))
            }
            ("pause", NodeProc::Paused(_)) => Err("it is already paused".into()),
            ("resume", NodeProc::Running(_)) => Err("it is not paused".into()),
            ("stop" | "kill" | "restart", NodeProc::Running(_) | NodeProc::Paused(_)) => {
                let s = if action == "kill" {
                    libc::SIGKILL
                } else {
                    libc::SIGTERM
                };
                let r = sig(&self.nodes[&i], s);
                // A paused node must run to act on SIGTERM.
                let _ = sig(&self.nodes[&i], libc::SIGCONT);
                match r {
                    Ok(()) => {
                        self.wait_down(i, Duration::from_secs(10)).await;
                        if action == "restart" {
                            self.spawn(i)
                        } else {
                            Ok(())
                        }
                    }
                    Err(e) => Err(e),
                }
            }
            ("start" | "restart", NodeProc::Down(_)) => self.spawn(i),
            ("start", _) => Err("it is already running".into()),
            ("stop" | "kill" | "pause" | "resume", NodeProc::Down(_)) => {
                Err("it is not running".into())
            }
            _ => Err(format!("unknown action {action:?}")),
        };
        match res {
            Ok(()) => {
                let st = self.status_line();
                say!("node {i}: {action} done");
                flush();
                st
            }
            Err(e) => format!("error: node {i}: {e}"),
        }
    }

    fn set_paused(&mut self, i: u64, paused: bool) {
        if let Some(p) = self.nodes.remove(&i) {
            let p = match p {
                NodeProc::Running(c) | NodeProc::Paused(c) if paused => NodeProc::Paused(c),
                NodeProc::Running(c) | NodeProc::Paused(c) => NodeProc::Running(c),
                down => down,
            };
            self.nodes.insert(i, p);
        }
    }
}

fn flush() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

fn issue(ca_dir: &Path, out: &Path, node_id: u64) -> Result<(), String> {
    let (ca, key) = pki::read_ca(ca_dir).map_err(|e| format!("{}: {e}", ca_dir.display()))?;
    let ip = IpAddr::from([127, 0, 0, 1]);
    let (cert, node_key) = pki::issue_node_cert(&ca, &key, &format!("node-{node_id}"), &[ip])
        .map_err(|e| e.to_string())?;
    pki::write_node(out, &ca, &cert, &node_key).map_err(|e| format!("{}: {e}", out.display()))
}

/// Runs the cluster in the foreground until Ctrl-C or SIGTERM.
pub fn run(o: &LocalOpts) -> Result<(), String> {
    let n = o.nodes;
    let base = o.base_port;
    if n == 0 || u64::from(base) + 10 * n + 2 > 65535 {
        return Err("--nodes and --base-port leave no room for the ports".into());
    }
    tollgate_consensus::raft::startup::private_dir(&o.dir)
        .map_err(|e| format!("{}: {e}", o.dir.display()))?;
    let dir = o
        .dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", o.dir.display()))?;
    let ca_dir = dir.join("ca");
    if !ca_dir.join(pki::CA_CERT_FILE).exists() {
        let (ca, key) = pki::create_ca().map_err(|e| e.to_string())?;
        pki::write_ca(&ca_dir, &ca, &key).map_err(|e| format!("{}: {e}", ca_dir.display()))?;
    }
    let kept = data_dir_credentials(&dir).map_err(|e| e.to_string())?;
    let creds = kept.credentials.clone();
    let port = |i: u64, k: u64| base + (10 * i + k) as u16;
    let members: Vec<String> = (1..=n)
        .map(|i| format!("\"{i}@127.0.0.1:{}\"", port(i, 2)))
        .collect();
    let cred = toml::to_string(&CredentialConfig {
        access_key_id: creds.access_key_id.clone(),
        secret_access_key: creds.secret_access_key.clone(),
    })
    .map_err(|e| e.to_string())?;
    let mut sup = Supervisor {
        exe: std::env::current_exe().map_err(|e| e.to_string())?,
        dir: dir.clone(),
        nodes: BTreeMap::new(),
    };
    for i in 1..=n {
        let node_dir = dir.join(format!("node{i}"));
        let tls = node_dir.join("tls");
        if !tls.join(pki::NODE_CERT_FILE).exists() {
            issue(&ca_dir, &tls, i)?;
        }
        let config = format!(
            "listen = \"127.0.0.1:{}\"\nadmin_listen = \"127.0.0.1:{}\"\ndata_dir = {:?}\nworkers = {}\n\n[[credentials]]\n{cred}\n[cluster]\nnode_id = {i}\nraft_listen = \"127.0.0.1:{}\"\ntls_dir = {:?}\ninitial_members = [{}]\n",
            port(i, 0),
            port(i, 1),
            node_dir.display().to_string(),
            o.workers,
            port(i, 2),
            tls.display().to_string(),
            members.join(", ")
        );
        let cfg_path = sup.config(i);
        private_write(&cfg_path, &config).map_err(|e| format!("{}: {e}", cfg_path.display()))?;
        sup.spawn(i)?;
    }
    wait_for_leaders(&mut sup, n, port, &kept)?;
    for i in 1..=n {
        say!(
            "node {i}: data http://127.0.0.1:{} admin http://127.0.0.1:{}",
            port(i, 0),
            port(i, 1)
        );
    }
    print_credentials(&kept);
    say!(
        "logs and data: {} (Ctrl-C stops every node; `tollgate cluster node stop|start|restart|pause|resume N --dir {}` acts on one)",
        dir.display(),
        dir.display()
    );
    flush();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(supervise(&mut sup, &dir))
}

fn print_credentials(kept: &KeptCredentials) {
    let c = &kept.credentials;
    if kept.generated {
        say!(
            "admin credentials: AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} (printed this once; kept in {})",
            c.access_key_id,
            c.secret_access_key,
            kept.path.display()
        );
    } else {
        say!(
            "admin credentials: AWS_ACCESS_KEY_ID={} (the secret is in {})",
            c.access_key_id,
            kept.path.display()
        );
    }
}

fn wait_for_leaders(
    sup: &mut Supervisor,
    n: u64,
    port: impl Fn(u64, u64) -> u16,
    kept: &KeptCredentials,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 1..=n {
        let admin: SocketAddr = ([127, 0, 0, 1], port(i, 1)).into();
        loop {
            if let Some((j, st)) = sup.reap().first() {
                return Err(format!(
                    "node {j} exited ({st}) while starting; see {}",
                    sup.log(*j).display()
                ));
            }
            let status =
                admin_client::call(admin, &kept.credentials, "GET", "/_tollgate/cluster", b"");
            if status.is_ok_and(|a| a.status == 200 && !a.json()["leader"].is_null()) {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "node {i} has no leader after 60 s; see {}",
                    sup.log(i).display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

async fn supervise(sup: &mut Supervisor, dir: &Path) -> Result<(), String> {
    let sock_path = dir.join(CONTROL_SOCKET);
    let _ = std::fs::remove_file(&sock_path);
    let listener = tokio::net::UnixListener::bind(&sock_path)
        .map_err(|e| format!("{}: {e}", sock_path.display()))?;
    std::fs::set_permissions(&sock_path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", sock_path.display()))?;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    let result = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break Ok(()),
            _ = term.recv() => break Ok(()),
            _ = tick.tick() => {
                for (i, st) in sup.reap() {
                    say!(
                        "node {i} exited ({st}); the others keep running. `tollgate cluster node start {i} --dir {}` starts it again; see {}",
                        dir.display(),
                        sup.log(i).display()
                    );
                    flush();
                }
            }
            conn = listener.accept() => {
                if let Ok((stream, _)) = conn {
                    // One request per connection, served in turn: the supervisor is the only
                    // owner of the children, so requests never race.
                    let (r, mut w) = stream.into_split();
                    let mut line = String::new();
                    let read = tokio::time::timeout(
                        Duration::from_secs(5),
                        BufReader::new(r).read_line(&mut line),
                    )
                    .await;
                    let answer = match read {
                        Ok(Ok(_)) => sup.control(line.trim()).await,
                        _ => "error: no request".to_string(),
                    };
                    let _ = w.write_all(format!("{answer}\n").as_bytes()).await;
                }
            }
        }
    };
    let _ = std::fs::remove_file(&sock_path);
    // Stop every node gracefully (a paused one is resumed first so it can act on SIGTERM).
    let ids: Vec<u64> = sup.nodes.keys().copied().collect();
    for i in &ids {
        if let Some(NodeProc::Running(c) | NodeProc::Paused(c)) = sup.nodes.get(i) {
            let _ = signal(c, libc::SIGTERM);
            let _ = signal(c, libc::SIGCONT);
        }
    }
    for i in ids {
        sup.wait_down(i, Duration::from_secs(5)).await;
    }
    result
}

/// Sends one control request to a running `cluster local` in `dir`; its answer.
pub fn request(dir: &Path, line: &str) -> Result<String, String> {
    use std::io::{BufRead, Write};
    let path = dir.join(CONTROL_SOCKET);
    let mut s = std::os::unix::net::UnixStream::connect(&path).map_err(|e| {
        format!(
            "{}: {e} (is `tollgate cluster local --dir {}` running?)",
            path.display(),
            dir.display()
        )
    })?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    s.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    std::io::BufReader::new(s)
        .read_line(&mut answer)
        .map_err(|e| format!("no answer from the cluster: {e}"))?;
    let answer = answer.trim().to_string();
    if answer.starts_with("ok") {
        Ok(answer)
    } else {
        Err(answer)
    }
}
