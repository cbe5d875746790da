//! Command line and configuration file: what a node is told, and the defaults that let it run
//! with neither.
//!
//! Precedence: flags, then the TOML file (`--config`), then the embedded defaults. Admin
//! credentials: `TOLLGATE_ACCESS_KEY_ID`/`TOLLGATE_SECRET_ACCESS_KEY`, then the file's
//! `[[credentials]]`, then a pair generated once and kept in the data folder.

use crate::dataplane::worker::{ConnLimits, Timeouts};
use crate::sigv4::Credentials;
use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `tollgate`: a self-hosted API gateway speaking Amazon API Gateway's REST API.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a gateway node (with no options: a single node, data in ./tollgate-data).
    Serve(ServeArgs),
    /// Cluster tools: certificates, a local cluster, membership.
    #[command(subcommand)]
    Cluster(crate::cluster_cli::ClusterCommand),
}

/// Options of `tollgate serve`.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data-plane listen address, `host:port` [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    pub listen: Option<SocketAddr>,
    /// Admin API listen address, `host:port` [default: 127.0.0.1:9090].
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    pub admin_listen: Option<SocketAddr>,
    /// HTTPS listen address for custom domain names, `host:port` [default: none, no HTTPS].
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    pub tls_listen: Option<SocketAddr>,
    /// Folder for the node's durable state [default: ./tollgate-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Data-plane worker threads [default: one per core].
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Region signed requests must name [default: any].
    #[arg(long)]
    pub region: Option<String>,
    /// This node's id in the cluster [default: 1].
    #[arg(long, value_name = "N")]
    pub node_id: Option<u64>,
    /// UDP address of the cluster (QUIC) endpoint, `host:port` [default: 127.0.0.1:9190].
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    pub raft_listen: Option<SocketAddr>,
    /// Start although the Raft log store (`raft/raft.redb`) is missing from a data folder that
    /// had one: the node starts with an empty log and vote, which can lose acknowledged
    /// writes and let it vote twice in one term. Prefer removing the node and adding it back.
    #[arg(long)]
    pub recover_missing_log: bool,
    /// The node's own log lines: `text` (for people) or `json` (one object a line, for log
    /// shippers) [default: text].
    #[arg(long, value_name = "FORMAT", value_parser = parse_log_format)]
    pub log_format: Option<LogFormat>,
}

/// How the node writes its own log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// Parses `--log-format`.
pub fn parse_log_format(s: &str) -> Result<LogFormat, String> {
    match s {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("log format must be `text` or `json`, got {s:?}")),
    }
}

/// Parses a listen address, `ip:port` or `host:port` (the host name resolved now, once; an
/// IPv4 address is preferred when the name has both).
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    if s.rsplit_once(':')
        .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(format!("{s:?} is not an address of the form host:port"));
    }
    let addrs: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {s:?}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{s:?} resolves to no address"))
}

/// Deserializes an optional listen address with [`parse_addr`].
fn de_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| parse_addr(&s).map_err(serde::de::Error::custom))
        .transpose()
}

/// The `[cluster]` table of the configuration file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFileConfig {
    /// This node's id (unique, never reused).
    pub node_id: Option<u64>,
    /// UDP address of the QUIC endpoint.
    #[serde(default, deserialize_with = "de_addr")]
    pub raft_listen: Option<SocketAddr>,
    /// Address other nodes dial (default: `raft_listen`).
    pub advertise: Option<String>,
    /// Folder with `ca.pem`, `node.pem`, `node-key.pem` (default: `<data_dir>/tls`).
    pub tls_dir: Option<PathBuf>,
    /// Members to form the cluster with, as `"id@host:port"`; the lowest id initialises it.
    pub initial_members: Option<Vec<String>>,
    /// Wait to be added by an existing cluster instead of starting one.
    pub join: Option<bool>,
    /// Log entries between snapshots (default 1000).
    pub snapshot_every: Option<u64>,
    /// Addresses to dial peers at instead of the ones in the membership, by node id
    /// (`{ "2" = "127.0.0.1:7102" }`): for a relay or NAT between this node and a peer. The
    /// membership keeps the addresses the nodes advertise.
    pub peer_addresses: Option<BTreeMap<String, String>>,
    /// Raft groups the usage ledger is split over by key hash (default 1: the configuration
    /// group holds it all). Every node of a cluster must run the same number, from its start.
    pub ledger_groups: Option<u32>,
}

/// How this node takes part in the cluster.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// This node's id.
    pub node_id: u64,
    /// UDP address of the QUIC endpoint.
    pub raft_listen: SocketAddr,
    /// Address other nodes dial; `None`: the bound address.
    pub advertise: Option<String>,
    /// Certificates folder.
    pub tls_dir: PathBuf,
    /// Whether the certificates may be generated (single-node default) when missing.
    pub generate_tls: bool,
    /// Members to initialise with (empty: this node alone, unless `join`).
    pub initial_members: BTreeMap<u64, String>,
    /// Wait to be added instead of initialising.
    pub join: bool,
    /// Log entries between snapshots.
    pub snapshot_every: u64,
    /// Dial addresses overriding the membership's, by node id.
    pub peer_addresses: BTreeMap<u64, String>,
    /// Start although the log store is missing (`--recover-missing-log`).
    pub recover_missing_log: bool,
    /// Raft groups holding the usage ledger (1: the configuration group alone).
    pub ledger_groups: u32,
}

/// The `[[credentials]]` entries of the configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

/// The configuration file's shape. Unknown keys are refused, so a typo is named, not ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Data-plane listen address.
    #[serde(default, deserialize_with = "de_addr")]
    pub listen: Option<SocketAddr>,
    /// Admin API listen address.
    #[serde(default, deserialize_with = "de_addr")]
    pub admin_listen: Option<SocketAddr>,
    /// HTTPS listen address for custom domain names (default: none).
    #[serde(default, deserialize_with = "de_addr")]
    pub tls_listen: Option<SocketAddr>,
    /// Seconds a TLS handshake may take, from accept to its end (default 10).
    pub tls_handshake_timeout_secs: Option<u64>,
    /// Seconds between rotations of the cluster's session-ticket secret (default 21600, six
    /// hours; at least 1). The leader rotates it; set it alike on every node.
    pub tls_ticket_rotation_secs: Option<u64>,
    /// Data folder.
    pub data_dir: Option<PathBuf>,
    /// Worker threads.
    pub workers: Option<usize>,
    /// Region signed requests must name.
    pub region: Option<String>,
    /// The 12-digit account id of method and user ARNs (default `000000000000`); every node
    /// of a cluster should name the same one.
    pub account_id: Option<String>,
    /// Seconds a connection may idle between requests (default 310).
    pub idle_timeout_secs: Option<u64>,
    /// Seconds a client may take to send a request head (default 30).
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a write to a client may stay blocked (default 30).
    pub write_timeout_secs: Option<u64>,
    /// Slowest request-body upload accepted, bytes per second (default 1024).
    pub min_body_rate_bytes_per_sec: Option<u64>,
    /// Open client connections per data-plane worker (default 16384).
    pub max_connections_per_worker: Option<usize>,
    /// Memory for request bodies in flight, whole node, MiB (default 1024).
    pub body_memory_limit_mib: Option<usize>,
    /// Seconds a shutdown waits for requests in progress (default 30).
    pub shutdown_grace_secs: Option<u64>,
    /// Account-level request rate of this node, per second (default: none; AWS's own
    /// default is 10000).
    pub account_rate_limit: Option<f64>,
    /// Account-level burst of this node (default: half the rate, as AWS's 10000/5000).
    pub account_burst_limit: Option<u32>,
    /// Admin credentials.
    pub credentials: Option<Vec<CredentialConfig>>,
    /// Cluster membership and transport.
    pub cluster: Option<ClusterFileConfig>,
    /// Lambda functions this node runs for AWS_PROXY integrations.
    pub functions: Option<Vec<FunctionFileConfig>>,
    /// Where the spans of stages with `tracingEnabled` go: an OpenTelemetry collector's
    /// OTLP/HTTP traces URL (`http://127.0.0.1:4318/v1/traces`). Without it, traced stages
    /// still propagate `traceparent` and `X-Amzn-Trace-Id`; no spans are recorded.
    pub otlp_endpoint: Option<String>,
    /// JWT (`COGNITO_USER_POOLS` / OIDC) authorizers: issuers and JWKS fetching.
    pub jwt: Option<JwtFileConfig>,
    /// `[upstream_tls]`: how `https://` backends and Lambda targets are verified.
    pub upstream_tls: Option<UpstreamTlsFileConfig>,
    /// Where stage access logs go (`[access_log]`).
    pub access_log: Option<AccessLogFileConfig>,
    /// The audit log of admin writes (default: `<data_dir>/audit.log`).
    pub audit_log: Option<PathBuf>,
    /// The node's own log lines: `"text"` or `"json"`.
    pub log_format: Option<LogFormat>,
}

/// The `[upstream_tls]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsFileConfig {
    /// PEM certificates trusted for `https://` backends besides the system's roots (a private
    /// CA of self-hosted backends).
    pub ca_file: Option<PathBuf>,
}

/// The `[jwt]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtFileConfig {
    /// A PEM file of CA certificates trusted for JWKS fetches besides the system's
    /// (relative paths are relative to the config file's folder).
    pub ca_file: Option<PathBuf>,
    /// Seconds between two fetches of an issuer's JWKS (default 3600).
    pub refresh_secs: Option<u64>,
    /// Where providers' keys really are.
    pub issuers: Option<Vec<JwtIssuerFileConfig>>,
}

/// One `[[jwt.issuers]]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtIssuerFileConfig {
    /// The provider as written in an authorizer's `providerARNs`.
    pub provider: String,
    /// The `iss` its tokens carry.
    pub issuer: Option<String>,
    /// Its JWKS URL (https).
    pub jwks_url: Option<String>,
    /// Audiences / client ids accepted (default: any, as AWS).
    pub audiences: Option<Vec<String>>,
}

/// `[access_log]`: where stage access logs (`accessLogSettings`) are written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogFileConfig {
    /// The folder of the per-destination files (default: `<data_dir>/access-logs`).
    pub dir: Option<PathBuf>,
    /// Write every record to stdout instead of files (default false).
    pub stdout: Option<bool>,
    /// Rotate a file once it passes this size, MiB (default 100).
    pub max_file_mib: Option<u64>,
    /// Rotated files kept per destination (default 5).
    pub keep_files: Option<u32>,
}

/// One `[[functions]]` entry: a Lambda function the node runs itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionFileConfig {
    /// The function name, as in the function ARN of integration URIs.
    pub name: String,
    /// The handler (`module.function` for Python), for a function the node runs.
    pub handler: Option<String>,
    /// The code folder (relative paths are relative to the config file's folder), for a
    /// function the node runs.
    pub code: Option<PathBuf>,
    /// A Lambda Invoke API endpoint (`http://host:port`) that runs the function instead.
    pub invoke_endpoint: Option<String>,
    /// The function's name at the Invoke API endpoint (default: `name`).
    pub invoke_function: Option<String>,
    /// Access key id to sign Invoke API calls with (SigV4, service `lambda`).
    pub access_key_id: Option<String>,
    /// Secret access key to sign Invoke API calls with.
    pub secret_access_key: Option<String>,
    /// A plain URL that takes the event as its body and answers the Lambda response.
    pub url: Option<String>,
    /// The runtime command, the handler appended (default `["python3", "-m", "awslambdaric"]`).
    pub command: Option<Vec<String>>,
    /// Environment variables.
    pub environment: Option<BTreeMap<String, String>>,
    /// Seconds one invocation may run (1–900, default 3).
    pub timeout_secs: Option<u64>,
    /// Memory in MiB (128–10240, default 128).
    pub memory_mb: Option<u32>,
    /// Most processes at once on this node (1–1000, default 10).
    pub concurrency: Option<usize>,
}

/// Where the admin credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    /// `TOLLGATE_ACCESS_KEY_ID` / `TOLLGATE_SECRET_ACCESS_KEY`.
    Environment,
    /// The configuration file.
    ConfigFile,
    /// Generated and kept in the data folder.
    DataDir,
}

/// A node's resolved configuration.
#[derive(Debug)]
pub struct Config {
    /// Data-plane listen address.
    pub listen: SocketAddr,
    /// Admin API listen address.
    pub admin_listen: SocketAddr,
    /// HTTPS listen address (custom domain names), if any.
    pub tls_listen: Option<SocketAddr>,
    /// How often the leader rotates the session-ticket secret.
    pub tls_ticket_rotation: Duration,
    /// Data folder.
    pub data_dir: PathBuf,
    /// Worker threads.
    pub workers: usize,
    /// Region signed requests must name (`None`: any).
    pub region: Option<String>,
    /// The account id of method and user ARNs.
    pub account_id: String,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// Connection and body-memory limits of the data plane.
    pub conn_limits: ConnLimits,
    /// How long a shutdown waits for requests in progress.
    pub shutdown_grace: Duration,
    /// Admin credentials.
    pub credentials: Vec<Credentials>,
    /// Where they came from.
    pub credential_source: CredentialSource,
    /// Cluster settings.
    pub cluster: ClusterSettings,
    /// Account-level (rate per second, burst) for this node, if one is set.
    pub account_limit: Option<(f64, f64)>,
    /// Lambda functions this node runs.
    pub functions: Vec<crate::functions::FunctionDef>,
    /// The OpenTelemetry collector spans are exported to, if any.
    pub otlp_endpoint: Option<crate::otlp::Endpoint>,
    /// JWT authorizers' issuers and JWKS fetching.
    pub jwt: crate::jwks::Settings,
    /// The roots `https://` backends and remote Lambda targets are verified against: the
    /// system's and `[upstream_tls] ca_file`'s.
    pub upstream_roots: std::sync::Arc<rustls::RootCertStore>,
    /// Where stage access logs go.
    pub access_log: crate::dataplane::access_log::writer::WriterConfig,
    /// The audit log of admin writes.
    pub audit_log: PathBuf,
    /// The node's own log lines.
    pub log_format: LogFormat,
}

/// A configuration problem, worded for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Resolves flags, file, environment and defaults. `env` looks up environment variables.
    pub fn resolve(
        args: &ServeArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        // Limits are split among at most DEMAND_SLOTS workers (each reports its demand in a
        // slot of its own): a larger machine runs that many by default.
        let max = crate::dataplane::cluster_limits::DEMAND_SLOTS;
        let workers = args.workers.or(file.workers).unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(max))
        });
        if workers == 0 || workers > max {
            return Err(ConfigError(format!(
                "workers must be between 1 and {max}, got {workers}"
            )));
        }
        let secs = |v: Option<u64>, default: u64, what: &str| -> Result<Duration, ConfigError> {
            match v.unwrap_or(default) {
                0 => Err(ConfigError(format!("{what} must be at least 1 second"))),
                s => Ok(Duration::from_secs(s)),
            }
        };
        let timeouts = Timeouts {
            idle: secs(file.idle_timeout_secs, 310, "idle_timeout_secs")?,
            header_read: secs(
                file.header_read_timeout_secs,
                30,
                "header_read_timeout_secs",
            )?,
            write: secs(file.write_timeout_secs, 30, "write_timeout_secs")?,
            tls_handshake: secs(
                file.tls_handshake_timeout_secs,
                10,
                "tls_handshake_timeout_secs",
            )?,
            min_body_rate: match file.min_body_rate_bytes_per_sec.unwrap_or(1024) {
                0 => {
                    return Err(ConfigError(
                        "min_body_rate_bytes_per_sec must be at least 1".into(),
                    ))
                }
                r => r,
            },
        };
        let conn_limits = resolve_conn_limits(&file, workers)?;
        let tls_ticket_rotation = secs(
            file.tls_ticket_rotation_secs,
            crate::ticket_rotation::DEFAULT_EVERY_SECS,
            "tls_ticket_rotation_secs",
        )?;
        let shutdown_grace = match file.shutdown_grace_secs {
            Some(s) => Duration::from_secs(s),
            None => Duration::from_secs(30),
        };
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("tollgate-data"));
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let admin_listen = args
            .admin_listen
            .or(file.admin_listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9090)));
        if listen == admin_listen && listen.port() != 0 {
            return Err(ConfigError(format!(
                "the data plane and the admin API cannot both listen on {listen}"
            )));
        }
        let (credentials, credential_source) =
            match (
                env("TOLLGATE_ACCESS_KEY_ID"),
                env("TOLLGATE_SECRET_ACCESS_KEY"),
            ) {
                (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => (
                    vec![Credentials {
                        access_key_id: id,
                        secret_access_key: secret,
                    }],
                    CredentialSource::Environment,
                ),
                (Some(_), None) | (None, Some(_)) => return Err(ConfigError(
                    "set both TOLLGATE_ACCESS_KEY_ID and TOLLGATE_SECRET_ACCESS_KEY, or neither"
                        .into(),
                )),
                _ => match file.credentials {
                    Some(list) if !list.is_empty() => (
                        list.into_iter()
                            .map(|c| Credentials {
                                access_key_id: c.access_key_id,
                                secret_access_key: c.secret_access_key,
                            })
                            .collect(),
                        CredentialSource::ConfigFile,
                    ),
                    _ => (vec![], CredentialSource::DataDir),
                },
            };
        let base = args
            .config
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let fn_region = args
            .region
            .clone()
            .or_else(|| file.region.clone())
            .unwrap_or_else(|| "us-east-1".into());
        let upstream_ca = file
            .upstream_tls
            .unwrap_or_default()
            .ca_file
            .map(|p| base.join(p));
        let upstream_roots = std::sync::Arc::new(
            crate::tls::root_store(upstream_ca.as_deref(), "upstream_tls.ca_file")
                .map_err(ConfigError)?,
        );
        let functions = resolve_functions(
            file.functions.unwrap_or_default(),
            &base,
            &fn_region,
            &upstream_roots,
        )?;
        let cluster = resolve_cluster(args, file.cluster.unwrap_or_default(), &data_dir)?;
        let jwt = resolve_jwt(file.jwt.unwrap_or_default(), &base)?;
        let access_log = resolve_access_log(file.access_log.unwrap_or_default(), &data_dir)?;
        let account_limit = match file.account_rate_limit {
            None => None,
            Some(rate) if rate.is_finite() && rate > 0.0 => {
                let burst = file
                    .account_burst_limit
                    .map(f64::from)
                    .unwrap_or((rate / 2.0).ceil())
                    .max(1.0);
                Some((rate, burst))
            }
            Some(rate) => {
                return Err(ConfigError(format!(
                    "account_rate_limit must be a positive number, got {rate}"
                )))
            }
        };
        let account_id = match file.account_id {
            None => crate::iam::DEFAULT_ACCOUNT.to_string(),
            Some(a) if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) => a,
            Some(a) => {
                return Err(ConfigError(format!(
                    "account_id must be 12 digits, got {a:?}"
                )))
            }
        };
        let otlp_endpoint = match &file.otlp_endpoint {
            None => None,
            Some(url) => Some(crate::otlp::Endpoint::parse(url).map_err(ConfigError)?),
        };
        Ok(Config {
            jwt,
            upstream_roots,
            audit_log: file
                .audit_log
                .clone()
                .unwrap_or_else(|| data_dir.join("audit.log")),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            access_log,
            account_id,
            otlp_endpoint,
            functions,
            account_limit,
            cluster,
            listen,
            admin_listen,
            tls_listen: args.tls_listen.or(file.tls_listen),
            tls_ticket_rotation,
            data_dir,
            workers,
            region: args.region.clone().or(file.region),
            timeouts,
            conn_limits,
            shutdown_grace,
            credentials,
            credential_source,
        })
    }
}

/// The `[jwt]` table, checked: each issuer's provider and URLs resolve, the CA file loads.
fn resolve_jwt(f: JwtFileConfig, base: &Path) -> Result<crate::jwks::Settings, ConfigError> {
    let refresh = match f.refresh_secs {
        None => None,
        Some(s) if (60..=86_400).contains(&s) => Some(Duration::from_secs(s)),
        Some(s) => {
            return Err(ConfigError(format!(
                "jwt.refresh_secs must be between 60 and 86400, got {s}"
            )))
        }
    };
    let s = crate::jwks::Settings {
        issuers: f
            .issuers
            .unwrap_or_default()
            .into_iter()
            .map(|i| crate::jwks::IssuerOverride {
                provider: i.provider,
                issuer: i.issuer,
                jwks_url: i.jwks_url,
                audiences: i.audiences.unwrap_or_default(),
            })
            .collect(),
        ca_file: f.ca_file.map(|p| base.join(p)),
        refresh,
    };
    for i in &s.issuers {
        crate::jwks::resolve_provider(&i.provider, &s)
            .map_err(|why| ConfigError(format!("jwt.issuers {:?}: {why}", i.provider)))?;
    }
    crate::jwks::client_config(s.ca_file.as_deref()).map_err(ConfigError)?;
    Ok(s)
}

/// `[access_log]` with its defaults.
fn resolve_access_log(
    c: AccessLogFileConfig,
    data_dir: &Path,
) -> Result<crate::dataplane::access_log::writer::WriterConfig, ConfigError> {
    let max_mib = c.max_file_mib.unwrap_or(100);
    if max_mib == 0 || max_mib > 1024 * 1024 {
        return Err(ConfigError(format!(
            "access_log.max_file_mib must be between 1 and 1048576, got {max_mib}"
        )));
    }
    Ok(crate::dataplane::access_log::writer::WriterConfig {
        dir: c.dir.unwrap_or_else(|| data_dir.join("access-logs")),
        stdout: c.stdout.unwrap_or(false),
        max_file_bytes: max_mib * 1024 * 1024,
        keep_files: c.keep_files.unwrap_or(5),
    })
}

/// The data plane's connection and body-memory limits, checked for sense.
fn resolve_conn_limits(file: &FileConfig, workers: usize) -> Result<ConnLimits, ConfigError> {
    let d = ConnLimits::default();
    let max_connections_per_worker = file
        .max_connections_per_worker
        .unwrap_or(d.max_connections_per_worker);
    if max_connections_per_worker == 0 {
        return Err(ConfigError(
            "max_connections_per_worker must be at least 1".into(),
        ));
    }
    // Every worker must be able to take at least one largest request.
    let need = crate::dataplane::http1::MAX_BODY_BYTES * workers;
    let body_memory_bytes = match file.body_memory_limit_mib {
        // The default grows with the worker count so that it always passes the check below.
        None => d.body_memory_bytes.max(2 * need),
        Some(mib) => mib
            .checked_mul(1024 * 1024)
            .ok_or_else(|| ConfigError(format!("body_memory_limit_mib is too large: {mib}")))?,
    };
    // Every worker must be able to take at least one largest request.
    let need = crate::dataplane::http1::MAX_BODY_BYTES * workers;
    if body_memory_bytes < need {
        return Err(ConfigError(format!(
            "body_memory_limit_mib must allow one largest request (10 MiB) per worker: at least {} MiB for {workers} workers",
            need / (1024 * 1024)
        )));
    }
    Ok(ConnLimits {
        max_connections_per_worker,
        body_memory_bytes,
    })
}

/// The `[[functions]]` definitions, checked: valid unique names, an existing code folder, a
/// command, Lambda's bounds on timeout and memory, no reserved environment variable.
fn resolve_functions(
    list: Vec<FunctionFileConfig>,
    base: &Path,
    region: &str,
    roots: &std::sync::Arc<rustls::RootCertStore>,
) -> Result<Vec<crate::functions::FunctionDef>, ConfigError> {
    let mut out: Vec<crate::functions::FunctionDef> = Vec::new();
    for f in list {
        let err = |why: String| ConfigError(format!("functions: {:?}: {why}", f.name));
        let name_ok = !f.name.is_empty()
            && f.name.len() <= 64
            && f.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(err(
                "a function name is 1-64 letters, digits, hyphens or underscores".into(),
            ));
        }
        if out.iter().any(|d| d.name == f.name) {
            return Err(err("defined twice".into()));
        }
        let remote = remote_target(&f, region, roots).map_err(err)?;
        let handler = f.handler.clone().unwrap_or_default();
        let mut code = PathBuf::new();
        if remote.is_none() {
            if handler.trim().is_empty() {
                return Err(err(
                    "handler must be set (or invoke_endpoint or url, for a function run elsewhere)"
                        .into(),
                ));
            }
            let folder = f
                .code
                .clone()
                .ok_or_else(|| err("code must name the code folder".into()))?;
            code = if folder.is_absolute() {
                folder
            } else {
                base.join(folder)
            };
            if !code.is_dir() {
                return Err(err(format!(
                    "code folder {} is not a folder",
                    code.display()
                )));
            }
        }
        let command = f
            .command
            .clone()
            .unwrap_or_else(|| ["python3", "-m", "awslambdaric"].map(String::from).to_vec());
        if command.first().is_none_or(|c| c.is_empty()) {
            return Err(err("command must name a program".into()));
        }
        let timeout_secs = f.timeout_secs.unwrap_or(3);
        if !(1..=900).contains(&timeout_secs) {
            return Err(err("timeout_secs must be between 1 and 900".into()));
        }
        let memory_mb = f.memory_mb.unwrap_or(128);
        if !(128..=10240).contains(&memory_mb) {
            return Err(err("memory_mb must be between 128 and 10240".into()));
        }
        let concurrency = f.concurrency.unwrap_or(10);
        if !(1..=1000).contains(&concurrency) {
            return Err(err("concurrency must be between 1 and 1000".into()));
        }
        let environment = f.environment.clone().unwrap_or_default();
        if let Some(k) = environment.keys().find(|k| {
            crate::functions::sandbox::is_reserved_env(k) || k.is_empty() || k.contains('=')
        }) {
            return Err(err(format!(
                "environment variable {k:?} is reserved by Lambda or not a valid name"
            )));
        }
        out.push(crate::functions::FunctionDef {
            name: f.name.clone(),
            handler,
            code,
            remote,
            command,
            environment,
            timeout: Duration::from_secs(timeout_secs),
            memory_mb,
            concurrency,
        });
    }
    Ok(out)
}

/// A `[[functions]]` entry's remote target, if it has one: exactly one of `code`,
/// `invoke_endpoint` and `url`; credentials only with `invoke_endpoint`, both halves or
/// neither.
fn remote_target(
    f: &FunctionFileConfig,
    region: &str,
    roots: &std::sync::Arc<rustls::RootCertStore>,
) -> Result<Option<crate::functions::remote::Remote>, String> {
    use crate::functions::remote::{parse_url, Remote, RemoteKind, RemoteTls};
    let tls = |https: bool, authority: &str| {
        https
            .then(|| RemoteTls::new(authority, roots.clone()))
            .transpose()
    };
    let set = [
        f.code.is_some(),
        f.invoke_endpoint.is_some(),
        f.url.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        return Err("set exactly one of code (run by the node), invoke_endpoint or url".into());
    }
    let credentials = match (&f.access_key_id, &f.secret_access_key) {
        (None, None) => None,
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
            if f.invoke_endpoint.is_none() {
                return Err(
                    "access_key_id and secret_access_key sign invoke_endpoint calls only".into(),
                );
            }
            Some(crate::sigv4::Credentials {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
            })
        }
        _ => return Err("set both access_key_id and secret_access_key, or neither".into()),
    };
    if f.invoke_function.is_some() && f.invoke_endpoint.is_none() {
        return Err("invoke_function applies to invoke_endpoint only".into());
    }
    if let Some(endpoint) = &f.invoke_endpoint {
        let ((authority, host, path), https) = parse_url(endpoint)?;
        let tls = tls(https, &authority)?;
        if path != "/" {
            return Err(format!("invoke_endpoint {endpoint:?} must not have a path"));
        }
        let name = f.invoke_function.as_deref().unwrap_or(&f.name);
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':'))
        {
            return Err(format!(
                "invoke_function {name:?} is not a function name or ARN"
            ));
        }
        return Ok(Some(Remote {
            kind: RemoteKind::Invoke,
            authority,
            host,
            path: format!("/2015-03-31/functions/{name}/invocations"),
            credentials,
            region: region.to_string(),
            tls,
        }));
    }
    if let Some(url) = &f.url {
        let ((authority, host, path), https) = parse_url(url)?;
        let tls = tls(https, &authority)?;
        return Ok(Some(Remote {
            kind: RemoteKind::Url,
            authority,
            host,
            path,
            credentials: None,
            region: region.to_string(),
            tls,
        }));
    }
    Ok(None)
}

fn resolve_cluster(
    args: &ServeArgs,
    c: ClusterFileConfig,
    data_dir: &Path,
) -> Result<ClusterSettings, ConfigError> {
    let mut initial_members = BTreeMap::new();
    for m in c.initial_members.unwrap_or_default() {
        let (id, addr) = m
            .split_once('@')
            .and_then(|(id, addr)| Some((id.parse::<u64>().ok()?, addr)))
            .filter(|(_, addr)| !addr.is_empty())
            .ok_or_else(|| {
                ConfigError(format!(
                    "cluster.initial_members: {m:?} is not of the form \"id@host:port\""
                ))
            })?;
        if initial_members.insert(id, addr.to_string()).is_some() {
            return Err(ConfigError(format!(
                "cluster.initial_members: node id {id} appears twice"
            )));
        }
    }
    let node_id = args.node_id.or(c.node_id).unwrap_or(1);
    if node_id == 0 {
        return Err(ConfigError("cluster node ids start at 1".into()));
    }
    if !initial_members.is_empty() && !initial_members.contains_key(&node_id) {
        return Err(ConfigError(format!(
            "cluster.initial_members does not list this node (id {node_id})"
        )));
    }
    let mut peer_addresses = BTreeMap::new();
    for (id, addr) in c.peer_addresses.unwrap_or_default() {
        let id = id
            .parse::<u64>()
            .ok()
            .filter(|id| *id != 0)
            .ok_or_else(|| {
                ConfigError(format!(
                    "cluster.peer_addresses: {id:?} is not a node id (a number from 1)"
                ))
            })?;
        if addr.is_empty() {
            return Err(ConfigError(format!(
                "cluster.peer_addresses: node {id} has an empty address"
            )));
        }
        peer_addresses.insert(id, addr);
    }
    let join = c.join.unwrap_or(false);
    let ledger_groups = c.ledger_groups.unwrap_or(1);
    let max_groups = tollgate_consensus::raft::ledger::MAX_GROUPS;
    if !(1..=max_groups).contains(&ledger_groups) {
        return Err(ConfigError(format!(
            "cluster.ledger_groups must be from 1 to {max_groups}, not {ledger_groups}"
        )));
    }
    Ok(ClusterSettings {
        ledger_groups,
        recover_missing_log: args.recover_missing_log,
        peer_addresses,
        node_id,
        raft_listen: args
            .raft_listen
            .or(c.raft_listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9190))),
        advertise: c.advertise,
        generate_tls: c.tls_dir.is_none() && initial_members.len() <= 1 && !join,
        tls_dir: c.tls_dir.unwrap_or_else(|| data_dir.join("tls")),
        initial_members,
        join,
        snapshot_every: c.snapshot_every.unwrap_or(1000).max(1),
    })
}

fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))
}

/// The file in the data folder that keeps generated admin credentials.
pub const CREDENTIALS_FILE: &str = "admin-credentials.toml";

/// Admin credentials kept in a data folder.
#[derive(Debug, Clone)]
pub struct KeptCredentials {
    /// The pair.
    pub credentials: Credentials,
    /// Where it is kept (readable by its owner only).
    pub path: PathBuf,
    /// Whether it was generated by this call (its secret has never been shown).
    pub generated: bool,
}

/// Reads the admin credentials kept in the data folder, generating them on first start.
pub fn data_dir_credentials(dir: &Path) -> std::io::Result<KeptCredentials> {
    let path = dir.join(CREDENTIALS_FILE);
    let credentials = read_or_generate(&path, dir)?;
    Ok(KeptCredentials {
        credentials: credentials.0,
        path,
        generated: credentials.1,
    })
}

fn read_or_generate(path: &Path, dir: &Path) -> std::io::Result<(Credentials, bool)> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            // Written 0600; a file of an older build or copied in by hand is tightened.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            let c: CredentialConfig = toml::from_str(&text).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            Ok((
                Credentials {
                    access_key_id: c.access_key_id,
                    secret_access_key: c.secret_access_key,
                },
                false,
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let c = CredentialConfig {
                access_key_id: format!("AKTG{}", crate::ids::random_id(16).to_uppercase()),
                secret_access_key: crate::ids::random_secret(40),
            };
            let text = toml::to_string(&c).map_err(std::io::Error::other)?;
            tollgate_consensus::raft::startup::private_dir(dir)?;
            write_private(path, text.as_bytes())?;
            Ok((
                Credentials {
                    access_key_id: c.access_key_id,
                    secret_access_key: c.secret_access_key,
                },
                true,
            ))
        }
        Err(e) => Err(e),
    }
}

/// Creates `path` (it must not exist) readable by its owner only (0600) and writes `bytes`.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_need_nothing() {
        let c = Config::resolve(&ServeArgs::default(), no_env).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.admin_listen.to_string(), "127.0.0.1:9090");
        assert_eq!(c.data_dir, PathBuf::from("tollgate-data"));
        assert_eq!(c.credential_source, CredentialSource::DataDir);
        assert!(c.workers >= 1);
        assert!(
            c.account_limit.is_none(),
            "no account limit unless configured"
        );
    }

    #[test]
    fn flags_beat_file_and_env_beats_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:7000\"\nworkers = 3\n[[credentials]]\naccess_key_id = \"A\"\nsecret_access_key = \"S\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            workers: Some(2),
            ..Default::default()
        };
        let c = Config::resolve(&args, no_env).unwrap();
        assert_eq!((c.listen.port(), c.workers), (7000, 2));
        assert_eq!(c.credential_source, CredentialSource::ConfigFile);
        let env = |k: &str| match k {
            "TOLLGATE_ACCESS_KEY_ID" => Some("E".to_string()),
            "TOLLGATE_SECRET_ACCESS_KEY" => Some("ES".to_string()),
            _ => None,
        };
        let c = Config::resolve(&args, env).unwrap();
        assert_eq!(c.credentials[0].access_key_id, "E");
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "listne = \"127.0.0.1:7000\"\n").unwrap();
        let args = ServeArgs {
            config: Some(path),
            ..Default::default()
        };
        let e = Config::resolve(&args, no_env).unwrap_err().to_string();
        assert!(e.contains("listne"), "{e}");
        let args = ServeArgs {
            config: Some(dir.path().join("missing.toml")),
            ..Default::default()
        };
        let e = Config::resolve(&args, no_env).unwrap_err().to_string();
        assert!(e.contains("missing.toml"), "{e}");
        let args = ServeArgs {
            workers: Some(0),
            ..Default::default()
        };
        assert!(Config::resolve(&args, no_env).is_err());
    }

    #[test]
    fn data_plane_limits_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        let resolve = |text: &str, workers: usize| {
            std::fs::write(&path, text).unwrap();
            let args = ServeArgs {
                config: Some(path.clone()),
                workers: Some(workers),
                ..Default::default()
            };
            Config::resolve(&args, no_env)
        };
        let c = resolve("", 64).unwrap();
        assert!(c.conn_limits.body_memory_bytes >= 64 * 10 * 1024 * 1024);
        assert_eq!(c.shutdown_grace, Duration::from_secs(30));
        let c = resolve(
            "write_timeout_secs = 5\nmin_body_rate_bytes_per_sec = 10\nmax_connections_per_worker = 7\nbody_memory_limit_mib = 20\nshutdown_grace_secs = 0\n",
            2,
        )
        .unwrap();
        assert_eq!(c.timeouts.write, Duration::from_secs(5));
        assert_eq!(c.timeouts.min_body_rate, 10);
        assert_eq!(c.conn_limits.max_connections_per_worker, 7);
        assert_eq!(c.conn_limits.body_memory_bytes, 20 << 20);
        assert_eq!(c.shutdown_grace, Duration::ZERO);
        for (bad, what) in [
            ("write_timeout_secs = 0", "write_timeout_secs"),
            ("min_body_rate_bytes_per_sec = 0", "min_body_rate"),
            (
                "max_connections_per_worker = 0",
                "max_connections_per_worker",
            ),
            ("body_memory_limit_mib = 19", "body_memory_limit_mib"),
        ] {
            let e = resolve(bad, 2).unwrap_err().to_string();
            assert!(e.contains(what), "{bad}: {e}");
        }
    }

    #[test]
    fn peer_addresses_override_by_node_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            "[cluster]\nnode_id = 1\ninitial_members = [\"1@127.0.0.1:9190\", \"2@127.0.0.1:9290\"]\npeer_addresses = { \"2\" = \"127.0.0.1:7102\" }\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        };
        let c = Config::resolve(&args, no_env).unwrap();
        assert_eq!(
            c.cluster.peer_addresses,
            BTreeMap::from([(2, "127.0.0.1:7102".to_string())])
        );
        // The membership keeps the advertised addresses.
        assert_eq!(c.cluster.initial_members[&2], "127.0.0.1:9290");
        assert!(Config::resolve(&ServeArgs::default(), no_env)
            .unwrap()
            .cluster
            .peer_addresses
            .is_empty());
        for bad in [
            "{ \"two\" = \"127.0.0.1:1\" }",
            "{ \"0\" = \"127.0.0.1:1\" }",
            "{ \"2\" = \"\" }",
        ] {
            std::fs::write(&path, format!("[cluster]\npeer_addresses = {bad}\n")).unwrap();
            let e = Config::resolve(&args, no_env).unwrap_err().to_string();
            assert!(e.contains("peer_addresses"), "{bad}: {e}");
        }
    }

    /// `--listen localhost:8080` was refused (a socket address only); host names are resolved
    /// at start, in flags and in the file.
    #[test]
    fn listen_addresses_may_name_a_host() {
        assert_eq!(parse_addr("localhost:8080").unwrap().port(), 8080);
        assert!(parse_addr("localhost:8080").unwrap().ip().is_loopback());
        assert_eq!(
            parse_addr("127.0.0.1:9").unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 9))
        );
        for bad in [
            "localhost",
            ":80",
            "localhost:http",
            "no-such-host.invalid:80",
        ] {
            assert!(parse_addr(bad).is_err(), "{bad}");
        }
        let cli = Cli::try_parse_from(["tollgate", "serve", "--listen", "localhost:8081"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        assert_eq!(args.listen.unwrap().port(), 8081);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            "admin_listen = \"localhost:7001\"\n[cluster]\nraft_listen = \"localhost:7002\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            ..Default::default()
        };
        let c = Config::resolve(&args, no_env).unwrap();
        assert_eq!(c.admin_listen.port(), 7001);
        assert_eq!(c.cluster.raft_listen.port(), 7002);
    }

    #[test]
    fn generated_credentials_persist() {
        let dir = tempfile::tempdir().unwrap();
        let a = data_dir_credentials(dir.path()).unwrap();
        let b = data_dir_credentials(dir.path()).unwrap();
        assert!(a.generated && !b.generated);
        assert_eq!(a.credentials.access_key_id, b.credentials.access_key_id);
        assert_eq!(a.credentials.secret_access_key.len(), 40);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&a.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn functions_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("code")).unwrap();
        let path = dir.path().join("t.toml");
        let resolve = |body: &str| {
            std::fs::write(&path, body).unwrap();
            let args = ServeArgs {
                config: Some(path.clone()),
                ..Default::default()
            };
            Config::resolve(&args, no_env).map(|c| c.functions)
        };
        let f = resolve("[[functions]]\nname = \"echo\"\nhandler = \"app.h\"\ncode = \"code\"\n")
            .unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].code,
            dir.path().join("code"),
            "relative to the config file"
        );
        assert_eq!(f[0].command, ["python3", "-m", "awslambdaric"]);
        assert_eq!(
            (f[0].timeout, f[0].memory_mb, f[0].concurrency),
            (Duration::from_secs(3), 128, 10)
        );
        let base = "[[functions]]\nname = \"echo\"\nhandler = \"app.h\"\ncode = \"code\"\n";
        for (extra, why) in [
            ("timeout_secs = 0\n", "timeout_secs"),
            ("timeout_secs = 901\n", "timeout_secs"),
            ("memory_mb = 64\n", "memory_mb"),
            ("concurrency = 0\n", "concurrency"),
            ("command = []\n", "command"),
            (
                "environment = { AWS_LAMBDA_RUNTIME_API = \"x\" }\n",
                "reserved",
            ),
            ("environment = { _HANDLER = \"x\" }\n", "reserved"),
            ("nope = 1\n", "unknown field"),
        ] {
            let e = resolve(&format!("{base}{extra}")).unwrap_err().0;
            assert!(e.contains(why), "{extra}: {e}");
        }
        let e = resolve(&format!("{base}{base}")).unwrap_err().0;
        assert!(e.contains("twice"), "{e}");
        // Functions run elsewhere: an Invoke API endpoint (signed when credentials are set)
        // or a plain URL; exactly one target.
        let remote = "[[functions]]\nname = \"far\"\n";
        let f = resolve(&format!(
            "{remote}invoke_endpoint = \"http://127.0.0.1:4566\"\ninvoke_function = \"other\"\naccess_key_id = \"A\"\nsecret_access_key = \"S\"\n"
        ))
        .unwrap();
        let r = f[0].remote.as_ref().unwrap();
        assert_eq!(r.path, "/2015-03-31/functions/other/invocations");
        assert!(r.credentials.is_some());
        let f = resolve(&format!("{remote}url = \"http://127.0.0.1:9000/run\"\n")).unwrap();
        assert_eq!(f[0].remote.as_ref().unwrap().path, "/run");
        // https: TLS to the URL's host, port 443 by default.
        let f = resolve(&format!("{remote}url = \"https://fn.example/run\"\n")).unwrap();
        let r = f[0].remote.as_ref().unwrap();
        assert_eq!(r.authority, "fn.example:443");
        assert!(r.tls.is_some());
        for (extra, why) in [
            ("", "exactly one"),
            (
                "url = \"http://x/\"\ncode = \"code\"\nhandler = \"a.b\"\n",
                "exactly one",
            ),
            ("url = \"ftp://x/\"\n", "https://"),
            ("url = \"https://a_b!/\"\n", "certificate"),
            ("invoke_endpoint = \"http://x/path\"\n", "path"),
            (
                "url = \"http://x/\"\naccess_key_id = \"A\"\nsecret_access_key = \"S\"\n",
                "invoke_endpoint",
            ),
            (
                "invoke_endpoint = \"http://x\"\naccess_key_id = \"A\"\n",
                "both",
            ),
        ] {
            let e = resolve(&format!("{remote}{extra}")).unwrap_err().0;
            assert!(e.contains(why), "{extra}: {e}");
        }
        let e = resolve(&base.replace("\"code\"", "\"missing\""))
            .unwrap_err()
            .0;
        assert!(e.contains("not a folder"), "{e}");
        let e = resolve(&base.replace("\"echo\"", "\"bad name\""))
            .unwrap_err()
            .0;
        assert!(e.contains("function name"), "{e}");
    }
}
