//! Three `tollgate` nodes configured as one cluster: a CA and node certificates made with
//! `tollgate cluster`, free loopback ports, one config file per node.

use super::TestNode;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

/// Ports handed out in this test process. The OS may hand a port just released to the next
/// bind, so two calls could otherwise name the same port for two listeners (seen in CI: a
/// node refused to start with its data plane and admin API on one port).
static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A port from `bind` that this process has not handed out before.
fn fresh(bind: impl Fn() -> u16) -> u16 {
    for _ in 0..1000 {
        let p = bind();
        if GIVEN.lock().unwrap_or_else(|e| e.into_inner()).insert(p) {
            return p;
        }
    }
    panic!("no fresh port on 127.0.0.1 in 1000 tries");
}

/// A TCP port on 127.0.0.1 free right now, never handed out before by this process.
pub fn free_tcp() -> u16 {
    fresh(|| {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    })
}

/// A UDP port on 127.0.0.1 free right now (Raft's QUIC listens on UDP), never handed out
/// before by this process.
pub fn free_udp() -> u16 {
    fresh(|| {
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    })
}

/// Runs the built `tollgate` with `args`; fails the test with its stderr if it fails.
pub fn tollgate(args: &[&str]) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tollgate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issues node `id`'s certificate from the CA in `ca` (made by `tollgate cluster init-ca`)
/// into the folder `out`.
pub fn issue_cert(ca: &Path, out: &Path, id: u64) {
    tollgate(&[
        "cluster",
        "issue-cert",
        "--ca-dir",
        ca.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--node-id",
        &id.to_string(),
    ]);
}

/// What a test adds to a node's config file.
#[derive(Default)]
pub struct Extra {
    /// Top-level keys and tables, written before `[cluster]` (`tls_listen = …`,
    /// `[[functions]]` …).
    pub top: String,
    /// Keys of the `[cluster]` table (`ledger_groups = 3` …).
    pub cluster: String,
}

/// A configured node: its folder (its data, and its certificate in `tls/`) and its config file.
pub struct NodeFiles {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl NodeFiles {
    /// Starts the node on its config file, with `env` added to the test environment.
    pub fn spawn(self, env: &[(&str, &str)]) -> TestNode {
        TestNode::spawn(self.dir, &["--config", self.config.to_str().unwrap()], env)
    }
}

/// A CA in `root/ca` and three nodes, ids 1 to 3, with each other as initial members: each a
/// folder in `root` holding its data and a certificate from the CA, and a config file
/// `root/node{id}.toml` with free ports for the data plane, the admin API and Raft, one worker,
/// and what `extra(id)` adds.
pub fn configure(root: &Path, extra: impl Fn(u64) -> Extra) -> Vec<NodeFiles> {
    let ca = root.join("ca");
    tollgate(&["cluster", "init-ca", "--dir", ca.to_str().unwrap()]);
    let raft: Vec<u16> = (0..3).map(|_| free_udp()).collect();
    let members: Vec<String> = (1..=3)
        .map(|i| format!("\"{i}@127.0.0.1:{}\"", raft[i - 1]))
        .collect();
    (1..=3u64)
        .map(|id| {
            let dir = tempfile::tempdir_in(root).unwrap();
            let tls = dir.path().join("tls");
            issue_cert(&ca, &tls, id);
            let Extra { top, cluster } = extra(id);
            let text = format!(
                "listen = \"127.0.0.1:{}\"\nadmin_listen = \"127.0.0.1:{}\"\ndata_dir = {:?}\nworkers = 1\n{top}\n[cluster]\nnode_id = {id}\nraft_listen = \"127.0.0.1:{}\"\ntls_dir = {:?}\ninitial_members = [{}]\n{cluster}\n",
                free_tcp(),
                free_tcp(),
                dir.path().display().to_string(),
                raft[id as usize - 1],
                tls.display().to_string(),
                members.join(", "),
            );
            let config = root.join(format!("node{id}.toml"));
            std::fs::write(&config, text).unwrap();
            NodeFiles { dir, config }
        })
        .collect()
}
