//! `tollgate cluster …`: certificates, a local multi-process cluster, and membership calls.

use crate::admin_client;
use crate::config::{data_dir_credentials, CredentialConfig};
use crate::sigv4::Credentials;
use clap::{Args, Subcommand};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tollgate_consensus::pki;

/// Cluster subcommands.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Create a cluster CA (`ca.pem`, `ca-key.pem`) in a folder.
    InitCa {
        /// Where to write the CA.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Issue a node certificate signed by the cluster CA.
    IssueCert {
        /// Folder holding `ca.pem` and `ca-key.pem`.
        #[arg(long, value_name = "DIR")]
        ca_dir: PathBuf,
        /// Folder to write `ca.pem`, `node.pem`, `node-key.pem` into (the node's `tls_dir`).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The node's id (its certificate is named `node-<id>`).
        #[arg(long)]
        node_id: u64,
        /// IP addresses the node is reached at (repeatable).
        #[arg(long = "ip", default_value = "127.0.0.1")]
        ips: Vec<IpAddr>,
    },
    /// Run a cluster of N nodes on this machine (loopback) in the foreground; Ctrl-C stops it.
    Local {
        /// Number of nodes.
        #[arg(long, default_value_t = 3)]
        nodes: u64,
        /// Folder for the nodes' data, configs, certificates and logs.
        #[arg(long, default_value = "tollgate-cluster")]
        dir: PathBuf,
        /// Node N listens on base+10N (data), base+10N+1 (admin), base+10N+2 (cluster, UDP).
        #[arg(long, default_value_t = 17000)]
        base_port: u16,
        /// Data-plane workers per node.
        #[arg(long, default_value_t = 1)]
        workers: usize,
    },
    /// Show a node's view of the cluster.
    Status(AdminArgs),
    /// Add a node (as a learner, then a voter once it has caught up).
    AddNode {
        /// Where to send the call.
        #[command(flatten)]
        admin: AdminArgs,
        /// The new node's id.
        #[arg(long)]
        node_id: u64,
        /// The new node's cluster address (`host:port`).
        #[arg(long)]
        address: String,
        /// Leave it a learner (it replicates but does not vote).
        #[arg(long)]
        learner: bool,
    },
    /// Remove a node from the cluster.
    RemoveNode {
        /// Where to send the call.
        #[command(flatten)]
        admin: AdminArgs,
        /// The node to remove.
        #[arg(long)]
        node_id: u64,
    },
}

/// Where the admin API is and how to sign calls to it.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Admin API address of any node (`host:port`).
    #[arg(long, value_name = "ADDR")]
    pub admin: SocketAddr,
    /// Access key id.
    #[arg(long, env = "TOLLGATE_ACCESS_KEY_ID", hide_env_values = true)]
    pub access_key_id: String,
    /// Secret access key.
    #[arg(long, env = "TOLLGATE_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: String,
}

impl AdminArgs {
    fn call(&self, method: &str, path: &str, body: &str) -> Result<serde_json::Value, String> {
        let creds = Credentials {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
        };
        let a = admin_client::call(self.admin, &creds, method, path, body.as_bytes())
            .map_err(|e| format!("admin API at {}: {e}", self.admin))?;
        if (200..300).contains(&a.status) {
            Ok(a.json())
        } else {
            Err(format!(
                "admin API answered {}: {}",
                a.status,
                String::from_utf8_lossy(&a.body)
            ))
        }
    }
}

/// Runs a cluster subcommand.
pub fn run(cmd: ClusterCommand) -> Result<(), String> {
    match cmd {
        ClusterCommand::InitCa { dir } => {
            let (ca, key) = pki::create_ca().map_err(|e| e.to_string())?;
            pki::write_ca(&dir, &ca, &key).map_err(|e| format!("{}: {e}", dir.display()))?;
            println!("cluster CA written to {}", dir.display());
            Ok(())
        }
        ClusterCommand::IssueCert {
            ca_dir,
            out,
            node_id,
            ips,
        } => {
            issue(&ca_dir, &out, node_id, &ips)?;
            println!(
                "certificate for node {node_id} written to {}",
                out.display()
            );
            Ok(())
        }
        ClusterCommand::Local {
            nodes,
            dir,
            base_port,
            workers,
        } => local(nodes, &dir, base_port, workers),
        ClusterCommand::Status(a) => {
            let v = a.call("GET", "/_tollgate/cluster", "")?;
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(())
        }
        ClusterCommand::AddNode {
            admin,
            node_id,
            address,
            learner,
        } => {
            let body =
                serde_json::json!({ "nodeId": node_id, "address": address, "voter": !learner });
            let v = admin.call("POST", "/_tollgate/cluster/members", &body.to_string())?;
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(())
        }
        ClusterCommand::RemoveNode { admin, node_id } => {
            let v = admin.call(
                "DELETE",
                &format!("/_tollgate/cluster/members/{node_id}"),
                "",
            )?;
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(())
        }
    }
}

fn issue(ca_dir: &Path, out: &Path, node_id: u64, ips: &[IpAddr]) -> Result<(), String> {
    let (ca, key) = pki::read_ca(ca_dir).map_err(|e| format!("{}: {e}", ca_dir.display()))?;
    let (cert, node_key) = pki::issue_node_cert(&ca, &key, &format!("node-{node_id}"), ips)
        .map_err(|e| e.to_string())?;
    pki::write_node(out, &ca, &cert, &node_key).map_err(|e| format!("{}: {e}", out.display()))
}

/// Kills the children when dropped, so an error or Ctrl-C leaves no node behind.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn local(n: u64, dir: &Path, base: u16, workers: usize) -> Result<(), String> {
    if n == 0 || u64::from(base) + 10 * n + 2 > 65535 {
        return Err("--nodes and --base-port leave no room for the ports".into());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let ca_dir = dir.join("ca");
    if !ca_dir.join(pki::CA_CERT_FILE).exists() {
        let (ca, key) = pki::create_ca().map_err(|e| e.to_string())?;
        pki::write_ca(&ca_dir, &ca, &key).map_err(|e| format!("{}: {e}", ca_dir.display()))?;
    }
    let creds = data_dir_credentials(&dir).map_err(|e| e.to_string())?;
    let port = |i: u64, k: u64| base + (10 * i + k) as u16;
    let members: Vec<String> = (1..=n)
        .map(|i| format!("\"{i}@127.0.0.1:{}\"", port(i, 2)))
        .collect();
    let cred = toml::to_string(&CredentialConfig {
        access_key_id: creds.access_key_id.clone(),
        secret_access_key: creds.secret_access_key.clone(),
    })
    .map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut children = Children(Vec::new());
    for i in 1..=n {
        let node_dir = dir.join(format!("node{i}"));
        let tls = node_dir.join("tls");
        if !tls.join(pki::NODE_CERT_FILE).exists() {
            issue(&ca_dir, &tls, i, &[IpAddr::from([127, 0, 0, 1])])?;
        }
        let config = format!(
            "listen = \"127.0.0.1:{}\"\nadmin_listen = \"127.0.0.1:{}\"\ndata_dir = {:?}\nworkers = {workers}\n\n[[credentials]]\n{cred}\n[cluster]\nnode_id = {i}\nraft_listen = \"127.0.0.1:{}\"\ntls_dir = {:?}\ninitial_members = [{}]\n",
            port(i, 0),
            port(i, 1),
            node_dir.display().to_string(),
            port(i, 2),
            tls.display().to_string(),
            members.join(", ")
        );
        let cfg_path = dir.join(format!("node{i}.toml"));
        std::fs::write(&cfg_path, config).map_err(|e| format!("{}: {e}", cfg_path.display()))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("node{i}.log")))
            .map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&exe)
            .arg("serve")
            .arg("--config")
            .arg(&cfg_path)
            .env_remove("TOLLGATE_ACCESS_KEY_ID")
            .env_remove("TOLLGATE_SECRET_ACCESS_KEY")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting node {i}: {e}"))?;
        children.0.push(child);
    }
    // Wait until every node knows a leader.
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 1..=n {
        let admin: SocketAddr = ([127, 0, 0, 1], port(i, 1)).into();
        loop {
            if let Some(c) = children
                .0
                .iter_mut()
                .find_map(|c| c.try_wait().ok().flatten())
            {
                return Err(format!(
                    "a node exited ({c}) while starting; see {}/node*.log",
                    dir.display()
                ));
            }
            let status = admin_client::call(admin, &creds, "GET", "/_tollgate/cluster", b"");
            if status.is_ok_and(|a| a.status == 200 && !a.json()["leader"].is_null()) {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "node {i} has no leader after 60 s; see {}/node{i}.log",
                    dir.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    for i in 1..=n {
        println!(
            "node {i}: data http://127.0.0.1:{} admin http://127.0.0.1:{}",
            port(i, 0),
            port(i, 1)
        );
    }
    println!(
        "admin credentials: AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}",
        creds.access_key_id, creds.secret_access_key
    );
    println!("logs and data: {} (Ctrl-C stops every node)", dir.display());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(()),
                _ = term.recv() => return Ok(()),
                _ = tick.tick() => {
                    if let Some(s) = children.0.iter_mut().find_map(|c| c.try_wait().ok().flatten()) {
                        return Err(format!("a node exited ({s}); see {}/node*.log", dir.display()));
                    }
                }
            }
        }
    })
}
