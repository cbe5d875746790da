//! The cluster's processes: certificates (made with `tollgate cluster init-ca` and
//! `issue-cert`, as a user would), one config and data folder per node, and starting,
//! killing, pausing and resuming each `tollgate serve`.
//!
//! Every child is killed when the [`Cluster`] is dropped (also on a panic or an error), and
//! each is started with `PR_SET_PDEATHSIG = SIGKILL`, so it dies with the chaos tool even if
//! the tool itself is killed. (The death signal follows the *thread* that spawned the child:
//! nodes are only ever started from the main thread, which lives as long as the run.)

use crate::nodes::Endpoints;
use crate::rng::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tollgate_node::sigv4::Credentials;

/// One node's files.
#[derive(Debug, Clone)]
pub struct NodeFiles {
    /// Its data folder (kept across restarts).
    pub data_dir: PathBuf,
    /// Its certificate folder.
    pub tls_dir: PathBuf,
    /// Its config file.
    pub config: PathBuf,
    /// Its log (stdout and stderr, appended across restarts).
    pub log: PathBuf,
}

/// The processes of a local cluster.
pub struct Cluster {
    exe: PathBuf,
    /// Where everything lives.
    pub root: PathBuf,
    /// Admin credentials of every node.
    pub creds: Credentials,
    /// Every node's addresses (the members' and the spares').
    pub endpoints: Vec<Endpoints>,
    files: BTreeMap<u64, NodeFiles>,
    children: BTreeMap<u64, Child>,
    paused: BTreeSet<u64>,
    log_filter: String,
    /// The cluster's members (the first `n` nodes at the start; membership changes add the
    /// spares and remove nodes).
    members: BTreeSet<u64>,
    /// What the configs are written from (kept to write a joining node's config later).
    settings: Option<ConfigSettings>,
}

/// What every node's config holds besides its own addresses.
#[derive(Clone)]
struct ConfigSettings {
    /// Node `a` dials node `b` at `peers[(a, b)]` (a relay).
    peers: BTreeMap<(u64, u64), SocketAddr>,
    snapshot_every: u64,
    ledger_groups: u32,
    /// The initial members, `id@address`.
    initial: Vec<String>,
}

/// Ports below the usual ephemeral range (32768–60999), so that a restarting node does not
/// find its port taken by some outgoing connection.
const PORT_RANGE: (u16, u16) = (20_000, 32_000);

fn free_port(rng: &mut Rng, taken: &mut BTreeSet<u16>) -> Result<u16, String> {
    for _ in 0..1000 {
        let p = rng.between(u64::from(PORT_RANGE.0), u64::from(PORT_RANGE.1)) as u16;
        if taken.contains(&p) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", p)).is_ok() && UdpSocket::bind(("127.0.0.1", p)).is_ok()
        {
            taken.insert(p);
            return Ok(p);
        }
    }
    Err("no free port found on 127.0.0.1".into())
}

/// Runs `tollgate` with `args` (a certificate command) and checks it succeeded.
fn tollgate(exe: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", exe.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "tollgate {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn path_str(p: &Path) -> Result<&str, String> {
    p.to_str()
        .ok_or_else(|| format!("{} is not valid UTF-8", p.display()))
}

impl Cluster {
    /// Prepares `n` nodes under `root`, and `spares` more that membership changes may add: a
    /// CA, a certificate per node (for 127.0.0.1) and free loopback ports. Configs are written
    /// by [`Cluster::write_configs`] once the relays are known.
    pub fn prepare(
        exe: &Path,
        root: &Path,
        n: usize,
        spares: usize,
        log_filter: &str,
    ) -> Result<Cluster, String> {
        std::fs::create_dir_all(root).map_err(|e| format!("{}: {e}", root.display()))?;
        let root = root
            .canonicalize()
            .map_err(|e| format!("{}: {e}", root.display()))?;
        let ca = root.join("ca");
        tollgate(exe, &["cluster", "init-ca", "--dir", path_str(&ca)?])?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
        let mut rng = Rng::new(seed);
        let mut taken = BTreeSet::new();
        let mut endpoints = Vec::new();
        let mut files = BTreeMap::new();
        let lo = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        for id in 1..=(n + spares) as u64 {
            let dir = root.join(format!("node{id}"));
            let tls_dir = dir.join("tls");
            tollgate(
                exe,
                &[
                    "cluster",
                    "issue-cert",
                    "--ca-dir",
                    path_str(&ca)?,
                    "--out",
                    path_str(&tls_dir)?,
                    "--node-id",
                    &id.to_string(),
                    "--ip",
                    "127.0.0.1",
                ],
            )?;
            endpoints.push(Endpoints {
                id,
                data: lo(free_port(&mut rng, &mut taken)?),
                admin: lo(free_port(&mut rng, &mut taken)?),
                raft: lo(free_port(&mut rng, &mut taken)?),
            });
            files.insert(
                id,
                NodeFiles {
                    data_dir: dir.join("data"),
                    tls_dir,
                    config: root.join(format!("node{id}.toml")),
                    log: root.join(format!("node{id}.log")),
                },
            );
        }
        let creds = Credentials {
            access_key_id: format!("AKCHAOS{:012X}", rng.next_u64() & 0xFFFF_FFFF_FFFF),
            secret_access_key: format!(
                "{:016x}{:016x}{:08x}",
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64() as u32
            ),
        };
        Ok(Cluster {
            exe: exe.to_path_buf(),
            root,
            creds,
            endpoints,
            files,
            children: BTreeMap::new(),
            paused: BTreeSet::new(),
            log_filter: log_filter.to_string(),
            members: (1..=n as u64).collect(),
            settings: None,
        })
    }

    /// Writes every node's config. Node `i` dials node `j` at `peer(i, j)` (a relay); the
    /// membership keeps the real addresses. The members start with `initial_members`; a
    /// spare gets `join = true` (it waits to be added, as CLUSTER.md says a new node must).
    pub fn write_configs(
        &mut self,
        peer: impl Fn(u64, u64) -> Option<SocketAddr>,
        snapshot_every: u64,
        ledger_groups: u32,
    ) -> Result<(), String> {
        let mut peers = BTreeMap::new();
        for a in &self.endpoints {
            for b in self.endpoints.iter().filter(|o| o.id != a.id) {
                let addr = peer(a.id, b.id)
                    .ok_or_else(|| format!("no relay from node {} to node {}", a.id, b.id))?;
                peers.insert((a.id, b.id), addr);
            }
        }
        let initial = self
            .endpoints
            .iter()
            .filter(|e| self.members.contains(&e.id))
            .map(|e| format!("\"{}@{}\"", e.id, e.raft))
            .collect();
        self.settings = Some(ConfigSettings {
            peers,
            snapshot_every,
            ledger_groups,
            initial,
        });
        for id in self.all_ids() {
            self.write_config(id, !self.members.contains(&id))?;
        }
        Ok(())
    }

    /// Writes node `id`'s config: with the initial members, or (`join`) to join a running
    /// cluster that adds it.
    fn write_config(&self, id: u64, join: bool) -> Result<(), String> {
        let s = self
            .settings
            .as_ref()
            .ok_or("the configs have not been written yet")?;
        let e = self
            .endpoints
            .iter()
            .find(|e| e.id == id)
            .ok_or_else(|| format!("no node {id}"))?;
        let f = &self.files[&id];
        let peers: Vec<String> = s
            .peers
            .iter()
            .filter(|((a, _), _)| *a == id)
            .map(|((_, b), addr)| format!("\"{b}\" = \"{addr}\""))
            .collect();
        let start = if join {
            "join = true".to_string()
        } else {
            format!("initial_members = [{}]", s.initial.join(", "))
        };
        let text = format!(
            "listen = \"{}\"\nadmin_listen = \"{}\"\ndata_dir = {:?}\nworkers = 1\n\n[[credentials]]\naccess_key_id = {:?}\nsecret_access_key = {:?}\n\n[cluster]\nnode_id = {}\nraft_listen = \"{}\"\ntls_dir = {:?}\nsnapshot_every = {}\nledger_groups = {}\n{start}\npeer_addresses = {{ {} }}\n",
            e.data,
            e.admin,
            path_str(&f.data_dir)?,
            self.creds.access_key_id,
            self.creds.secret_access_key,
            e.id,
            e.raft,
            path_str(&f.tls_dir)?,
            s.snapshot_every,
            s.ledger_groups,
            peers.join(", "),
        );
        std::fs::write(&f.config, text).map_err(|e| format!("{}: {e}", f.config.display()))
    }

    /// The members' ids.
    pub fn ids(&self) -> Vec<u64> {
        self.members.iter().copied().collect()
    }

    /// Every node's id, members and spares.
    pub fn all_ids(&self) -> Vec<u64> {
        self.endpoints.iter().map(|e| e.id).collect()
    }

    /// Whether node `id` is a member.
    pub fn is_member(&self, id: u64) -> bool {
        self.members.contains(&id)
    }

    /// Makes node `id` a member (`true`) or not.
    pub fn set_member(&mut self, id: u64, member: bool) {
        if member {
            self.members.insert(id);
        } else {
            self.members.remove(&id);
        }
    }

    /// Node `id`'s addresses.
    pub fn endpoint(&self, id: u64) -> Option<Endpoints> {
        self.endpoints.iter().find(|e| e.id == id).copied()
    }

    /// Whether node `id` has ever had a data folder (it ran before).
    pub fn has_data(&self, id: u64) -> bool {
        self.files.get(&id).is_some_and(|f| f.data_dir.exists())
    }

    /// Deletes node `id`'s data folder (it must not be running) and writes it a config to
    /// join the cluster: what an operator does to bring a removed node back as a new one.
    pub fn wipe(&mut self, id: u64) -> Result<(), String> {
        if self.children.contains_key(&id) {
            return Err(format!("node {id} is running"));
        }
        let f = self.files.get(&id).ok_or_else(|| format!("no node {id}"))?;
        if f.data_dir.exists() {
            std::fs::remove_dir_all(&f.data_dir)
                .map_err(|e| format!("{}: {e}", f.data_dir.display()))?;
        }
        self.write_config(id, true)
    }

    /// Runs `tollgate cluster <args>` (the operator's CLI) with the admin credentials in its
    /// environment, for at most `within`; returns its standard output.
    pub fn cli(&self, args: &[String], within: Duration) -> Result<String, String> {
        let mut child = Command::new(&self.exe)
            .arg("cluster")
            .args(args)
            .env("TOLLGATE_ACCESS_KEY_ID", &self.creds.access_key_id)
            .env("TOLLGATE_SECRET_ACCESS_KEY", &self.creds.secret_access_key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("running {}: {e}", self.exe.display()))?;
        let deadline = Instant::now() + within;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "tollgate cluster {}: no answer within {} s",
                        args.join(" "),
                        within.as_secs()
                    ));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "tollgate cluster {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Stops node `id` as an operator would (SIGTERM; SIGKILL after `grace`) and reaps it.
    pub fn stop(&mut self, id: u64, grace: Duration) -> Result<(), String> {
        if self.paused.contains(&id) {
            self.signal(id, libc::SIGCONT)?;
        }
        self.signal(id, libc::SIGTERM)?;
        let mut child = self
            .children
            .remove(&id)
            .ok_or_else(|| format!("node {id} is not running"))?;
        self.paused.remove(&id);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Ok(())
    }

    /// Starts node `id` on its data folder. Call from the main thread only (see the module
    /// docs).
    pub fn start(&mut self, id: u64) -> Result<(), String> {
        if self.children.contains_key(&id) {
            return Err(format!("node {id} is already running"));
        }
        let f = self.files.get(&id).ok_or_else(|| format!("no node {id}"))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&f.log)
            .map_err(|e| format!("{}: {e}", f.log.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("serve")
            .arg("--config")
            .arg(&f.config)
            .env_remove("TOLLGATE_ACCESS_KEY_ID")
            .env_remove("TOLLGATE_SECRET_ACCESS_KEY")
            .env("TOLLGATE_LOG", &self.log_filter)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("starting node {id}: {e}"))?;
        self.children.insert(id, child);
        self.paused.remove(&id);
        Ok(())
    }

    /// Whether node `id` has a process (running or paused).
    pub fn is_up(&self, id: u64) -> bool {
        self.children.contains_key(&id)
    }

    /// Whether node `id` is paused.
    pub fn is_paused(&self, id: u64) -> bool {
        self.paused.contains(&id)
    }

    /// Node ids whose process is running (not killed, not paused).
    pub fn running(&self) -> Vec<u64> {
        self.children
            .keys()
            .copied()
            .filter(|id| !self.paused.contains(id))
            .collect()
    }

    fn signal(&self, id: u64, sig: libc::c_int) -> Result<(), String> {
        let child = self
            .children
            .get(&id)
            .ok_or_else(|| format!("node {id} is not running"))?;
        let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
        // SAFETY: sending a signal to our own child's pid.
        if unsafe { libc::kill(pid, sig) } != 0 {
            return Err(format!(
                "signal {sig} to node {id}: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// `kill -9` node `id` and reaps it.
    pub fn kill(&mut self, id: u64) -> Result<(), String> {
        let mut child = self
            .children
            .remove(&id)
            .ok_or_else(|| format!("node {id} is not running"))?;
        self.paused.remove(&id);
        let _ = child.kill();
        let _ = child.wait();
        Ok(())
    }

    /// `SIGSTOP` node `id`.
    pub fn pause(&mut self, id: u64) -> Result<(), String> {
        self.signal(id, libc::SIGSTOP)?;
        self.paused.insert(id);
        Ok(())
    }

    /// `SIGCONT` node `id`.
    pub fn resume(&mut self, id: u64) -> Result<(), String> {
        self.signal(id, libc::SIGCONT)?;
        self.paused.remove(&id);
        Ok(())
    }

    /// Nodes that exited by themselves (a crash), with their status; they are forgotten.
    pub fn exited(&mut self) -> Vec<(u64, ExitStatus)> {
        let mut out = Vec::new();
        for (id, c) in &mut self.children {
            if let Ok(Some(s)) = c.try_wait() {
                out.push((*id, s));
            }
        }
        for (id, _) in &out {
            self.children.remove(id);
            self.paused.remove(id);
        }
        out
    }

    /// The last `lines` lines of node `id`'s log.
    pub fn log_tail(&self, id: u64, lines: usize) -> String {
        let Some(f) = self.files.get(&id) else {
            return String::new();
        };
        let text = std::fs::read_to_string(&f.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Stops every node: resumes paused ones, then SIGTERM, then SIGKILL after `grace`.
    pub fn stop_all(&mut self, grace: Duration) {
        for id in self.paused.clone() {
            let _ = self.signal(id, libc::SIGCONT);
        }
        self.paused.clear();
        for id in self.children.keys().copied().collect::<Vec<_>>() {
            let _ = self.signal(id, libc::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && !self.children.is_empty() {
            self.children
                .retain(|_, c| !matches!(c.try_wait(), Ok(Some(_))));
            std::thread::sleep(Duration::from_millis(20));
        }
        for (_, mut c) in std::mem::take(&mut self.children) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, mut c) in std::mem::take(&mut self.children) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
