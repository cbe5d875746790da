//! `tollgate cluster …`: certificates, a local multi-process cluster, and membership calls.

use crate::admin_client;
use crate::local_cluster::{self, LocalOpts};
use crate::sigv4::Credentials;
use clap::{Args, Subcommand, ValueEnum};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
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
    /// A node that exits is reported and the others keep running; `tollgate cluster node`
    /// stops, starts, restarts, pauses or resumes one.
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
    /// Act on one node of a running `tollgate cluster local`.
    Node {
        /// What to do: stop (SIGTERM), kill (SIGKILL), start, restart, pause (SIGSTOP),
        /// resume (SIGCONT), or status (of every node; NODE is then ignored).
        action: NodeAction,
        /// The node's id.
        #[arg(default_value_t = 0)]
        node: u64,
        /// The folder `cluster local` runs in.
        #[arg(long, default_value = "tollgate-cluster")]
        dir: PathBuf,
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

/// What `tollgate cluster node` does.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NodeAction {
    /// Stop it (SIGTERM, then SIGKILL after 10 s).
    Stop,
    /// Kill it (SIGKILL).
    Kill,
    /// Start it again.
    Start,
    /// Stop it and start it again.
    Restart,
    /// Freeze it (SIGSTOP).
    Pause,
    /// Let a paused node run again (SIGCONT).
    Resume,
    /// Show every node's process state.
    Status,
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
        } => local_cluster::run(&LocalOpts {
            nodes,
            dir,
            base_port,
            workers,
        }),
        ClusterCommand::Node { action, node, dir } => {
            let line = match action {
                NodeAction::Status => "status".to_string(),
                a => format!(
                    "{} {node}",
                    a.to_possible_value()
                        .map(|v| v.get_name().to_string())
                        .unwrap_or_default()
                ),
            };
            println!("{}", local_cluster::request(&dir, &line)?);
            Ok(())
        }
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
