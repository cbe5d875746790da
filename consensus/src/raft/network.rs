//! The QUIC transport between nodes: one quinn [`Endpoint`] per node (server and client),
//! mutual TLS against the cluster CA, one cached connection per peer, one bidirectional stream
//! per RPC, and every RPC bounded by a deadline.
//!
//! [`Transport`] is the client half (used by openraft's replication through [`NetworkFactory`]
//! and by the node to forward writes, read-index and membership requests to the leader);
//! [`serve`] is the server half, dispatching each request to a [`Handler`].

use super::wire::{read_frame, write_frame, Envelope, Request, Response, MAX_FRAME};
use super::TypeConfig;
use crate::pki::{ClusterTls, PkiError, SERVER_NAME};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Connection, Endpoint, RecvStream, SendStream};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tollgate_proto::codec;

/// How long a broken peer is left alone before openraft retries it.
const UNREACHABLE_BACKOFF: Duration = Duration::from_millis(200);

/// Builds the node's endpoint: a server on `listen` requiring CA-signed client certificates,
/// and a default client configuration presenting this node's certificate.
pub fn endpoint(listen: SocketAddr, tls: &ClusterTls) -> Result<Endpoint, PkiError> {
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(Duration::from_secs(1)))
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(Duration::from_secs(10))
                .map_err(|e| PkiError::Tls(e.to_string()))?,
        ))
        .max_concurrent_bidi_streams(1024u32.into());
    let transport = Arc::new(transport);

    let server_crypto = QuicServerConfig::try_from(tls.server_config()?)
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_crypto));
    server.transport_config(transport.clone());

    let client_crypto = QuicClientConfig::try_from(tls.client_config()?)
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    let mut client = quinn::ClientConfig::new(Arc::new(client_crypto));
    client.transport_config(transport);

    let socket = std::net::UdpSocket::bind(listen)?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| PkiError::Tls("no async runtime for the cluster endpoint".into()))?;
    let (reset, cid_key) = restart_keys(tls);
    let mut config = quinn::EndpointConfig::new(Arc::new(reset));
    config.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
            as Box<dyn quinn::ConnectionIdGenerator>
    });
    let mut endpoint = Endpoint::new(config, Some(server), socket, runtime)?;
    endpoint.set_default_client_config(client);
    Ok(endpoint)
}

/// The keys of this node's stateless-reset tokens and of its connection ids, derived from its
/// private key so that they are the same in every process of the node. A node killed and
/// restarted on the same address then recognises the connection ids its previous process
/// issued and answers packets for them with a stateless reset its peers accept (RFC 9000
/// §10.3), so they drop those connections at once. With quinn's defaults (random keys per
/// process) the new process silently drops such packets, and its peers keep sending into the
/// dead connections until the idle timeout, with calls made on them hanging meanwhile.
fn restart_keys(tls: &ClusterTls) -> (ring::hmac::Key, u64) {
    let sign = |label: &[u8]| {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, label);
        ring::hmac::sign(&key, tls.node_key_pem.as_bytes())
    };
    let reset = sign(b"tollgate quic stateless reset v1");
    let cid = sign(b"tollgate quic connection ids v1");
    let mut cid_key = [0u8; 8];
    cid_key.copy_from_slice(&cid.as_ref()[..8]);
    (
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, reset.as_ref()),
        u64::from_le_bytes(cid_key),
    )
}

/// Why an RPC got no answer.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct CallError {
    /// Whether the request may have reached the peer (false: it certainly did not).
    pub sent: bool,
    /// What went wrong.
    pub kind: CallErrorKind,
    /// Details.
    pub message: String,
}

/// The kinds of [`CallError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallErrorKind {
    /// No connection could be made.
    Connect,
    /// The deadline passed.
    Timeout,
    /// The stream or connection failed, or the answer did not decode.
    Transport,
}

impl std::fmt::Display for CallErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CallErrorKind::Connect => "connect",
            CallErrorKind::Timeout => "timeout",
            CallErrorKind::Transport => "transport",
        })
    }
}

/// The client half: connections to peers, cached one per peer.
pub struct Transport {
    id: u64,
    /// `None` once closed.
    endpoint: Mutex<Option<Endpoint>>,
    /// One connection per peer, with the address it was made to (a new address for the same
    /// id replaces it).
    conns: Mutex<HashMap<u64, (String, Connection)>>,
}

impl Transport {
    /// A transport for node `id` over `endpoint`.
    pub fn new(id: u64, endpoint: Endpoint) -> Arc<Transport> {
        Arc::new(Transport {
            id,
            endpoint: Mutex::new(Some(endpoint)),
            conns: Mutex::new(HashMap::new()),
        })
    }

    /// The endpoint (`None` once closed).
    pub fn endpoint(&self) -> Option<Endpoint> {
        self.endpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Closes every connection and the endpoint, and gives up this transport's handle on it
    /// (returned, to wait for the close to finish). Later calls fail to connect.
    pub fn close(&self) -> Option<Endpoint> {
        self.close_all();
        let endpoint = self
            .endpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        endpoint.close(0u32.into(), b"shutdown");
        Some(endpoint)
    }

    fn cached(&self, target: u64, addr: &str) -> Option<Connection> {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns
            .get(&target)
            .filter(|(a, c)| a == addr && c.close_reason().is_none())
            .map(|(_, c)| c.clone())
    }

    /// Drops `conn` from the cache, so the next call dials afresh. It is not closed here:
    /// other calls may still be using it (a slow answer is not a broken connection), and it
    /// closes by itself when the last of them lets go.
    fn evict(&self, target: u64, conn: &Connection) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        if conns.get(&target).map(|(_, c)| c.stable_id()) == Some(conn.stable_id()) {
            conns.remove(&target);
        }
    }

    /// Closes every cached connection.
    pub fn close_all(&self) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        for (_, (_, c)) in conns.drain() {
            c.close(0u32.into(), b"shutdown");
        }
    }

    async fn connect(&self, target: u64, addr: &str) -> Result<Connection, CallError> {
        if let Some(c) = self.cached(target, addr) {
            return Ok(c);
        }
        let err = |message: String| CallError {
            sent: false,
            kind: CallErrorKind::Connect,
            message,
        };
        let sock = match addr.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => tokio::net::lookup_host(addr)
                .await
                .map_err(|e| err(format!("resolve {addr}: {e}")))?
                .next()
                .ok_or_else(|| err(format!("{addr} resolves to nothing")))?,
        };
        let endpoint = self
            .endpoint()
            .ok_or_else(|| err("this node has stopped".into()))?;
        let conn = endpoint
            .connect(sock, SERVER_NAME)
            .map_err(|e| err(format!("{addr}: {e}")))?
            .await
            .map_err(|e| err(format!("{addr}: {e}")))?;
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((a, existing)) = conns.get(&target) {
            if a == addr && existing.close_reason().is_none() {
                // Another call dialled concurrently and won: share its connection.
                conn.close(0u32.into(), b"duplicate");
                return Ok(existing.clone());
            }
        }
        // A replaced connection is not closed: calls still using it finish on it.
        conns.insert(target, (addr.to_string(), conn.clone()));
        Ok(conn)
    }

    /// Sends `body` (and `extra`, a raw frame after it) to node `target` at `addr` and waits
    /// for the answer, for at most `timeout`. Any failure drops the cached connection.
    pub async fn call(
        &self,
        target: u64,
        addr: &str,
        body: Request,
        extra: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Response, CallError> {
        // Until the call ends with an answer, the connection it uses counts as suspect: a call
        // that fails, or is abandoned by its caller (dropped on a timeout of the caller's own,
        // or when the leader it was for changed), drops the connection from the cache, so the
        // next call dials afresh instead of queueing behind one that may lead nowhere (a peer
        // that was killed, or a path that lost packets long enough for QUIC to back off).
        let mut guard = InFlight {
            transport: self,
            target,
            sent: false,
            conn: None,
            answered: false,
        };
        let fut = self.call_inner(target, addr, body, extra, &mut guard.sent, &mut guard.conn);
        let res = match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(CallError {
                sent: guard.sent,
                kind: CallErrorKind::Timeout,
                message: format!("no answer from node {target} within {timeout:?}"),
            }),
        };
        guard.answered = res.is_ok();
        res
    }

    /// Whether a connection to `target` is cached (the next call to it reuses it).
    pub fn is_connected(&self, target: u64) -> bool {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns
            .get(&target)
            .is_some_and(|(_, c)| c.close_reason().is_none())
    }

    async fn call_inner(
        &self,
        target: u64,
        addr: &str,
        body: Request,
        extra: Option<Vec<u8>>,
        sent: &mut bool,
        conn_used: &mut Option<Connection>,
    ) -> Result<Response, CallError> {
        let conn = self.connect(target, addr).await?;
        *conn_used = Some(conn.clone());
        let transport = |sent: bool, message: String| CallError {
            sent,
            kind: CallErrorKind::Transport,
            message,
        };
        let (mut send, mut recv) = conn
            .open_bi()
            .await
            .map_err(|e| transport(false, e.to_string()))?;
        let env = codec::encode(&Envelope {
            from: self.id,
            to: target,
            body,
        });
        *sent = true;
        write_frame(&mut send, &env)
            .await
            .map_err(|e| transport(true, e.to_string()))?;
        if let Some(extra) = extra {
            write_frame(&mut send, &extra)
                .await
                .map_err(|e| transport(true, e.to_string()))?;
        }
        send.finish().map_err(|e| transport(true, e.to_string()))?;
        let bytes = read_frame(&mut recv, MAX_FRAME)
            .await
            .map_err(|e| transport(true, e.to_string()))?;
        codec::decode(&bytes).map_err(|e| transport(true, format!("bad answer: {e}")))
    }
}

/// One call of [`Transport::call`] in flight: when it ends without an answer (failed, timed out
/// or dropped by its caller), the connection it used is evicted from the cache.
struct InFlight<'a> {
    transport: &'a Transport,
    target: u64,
    sent: bool,
    conn: Option<Connection>,
    answered: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.answered {
            if let Some(conn) = &self.conn {
                self.transport.evict(self.target, conn);
            }
        }
    }
}

/// Serves requests arriving on a node's endpoint.
pub trait Handler: Send + Sync + 'static {
    /// This node's id (requests for another id are refused).
    fn id(&self) -> u64;
    /// Answers one request. `extra` is the raw frame following an `InstallSnapshot` request.
    fn handle(
        &self,
        from: u64,
        body: Request,
        extra: Option<Vec<u8>>,
    ) -> impl Future<Output = Response> + Send;
}

/// Accepts connections on `endpoint` until it is closed, serving each stream with `handler`.
pub async fn serve<H: Handler>(endpoint: Endpoint, handler: Arc<H>) {
    while let Some(incoming) = endpoint.accept().await {
        let handler = handler.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(%remote, error = %e, "cluster connection refused");
                    return;
                }
            };
            loop {
                match conn.accept_bi().await {
                    Ok((send, recv)) => {
                        tokio::spawn(serve_stream(handler.clone(), send, recv));
                    }
                    Err(e) => {
                        tracing::debug!(%remote, error = %e, "cluster connection ended");
                        return;
                    }
                }
            }
        });
    }
}

async fn serve_stream<H: Handler>(handler: Arc<H>, mut send: SendStream, mut recv: RecvStream) {
    let resp = match read_frame(&mut recv, MAX_FRAME).await {
        Err(e) => {
            tracing::debug!(error = %e, "unreadable request");
            return;
        }
        Ok(frame) => match codec::decode::<Envelope>(&frame) {
            Err(e) => Response::Failed(format!("bad request: {e}")),
            Ok(env) if env.to != handler.id() => Response::Failed(format!(
                "this is node {}, not node {}",
                handler.id(),
                env.to
            )),
            Ok(env) => {
                let extra = if env.body.carries_chunk() {
                    match read_frame(&mut recv, MAX_FRAME).await {
                        Ok(x) => Some(x),
                        Err(e) => {
                            tracing::debug!(error = %e, "snapshot chunk unreadable");
                            return;
                        }
                    }
                } else {
                    None
                };
                handler.handle(env.from, env.body, extra).await
            }
        },
    };
    let bytes = codec::encode(&resp);
    if write_frame(&mut send, &bytes).await.is_ok() {
        let _ = send.finish();
        // Let the answer reach the peer before the stream is dropped.
        let _ = send.stopped().await;
    }
}

/// Per-peer dial addresses that take precedence over the addresses in the Raft membership
/// (which stay what each node advertises). Used to put something between this node and a peer
/// (a relay, a NAT, the chaos tool's fault injector) without changing the membership.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerAddresses(BTreeMap<u64, String>);

impl PeerAddresses {
    /// Overrides by node id.
    pub fn new(overrides: BTreeMap<u64, String>) -> PeerAddresses {
        PeerAddresses(overrides)
    }

    /// The address to dial node `target` at, whose membership address is `membership_addr`.
    pub fn dial<'a>(&'a self, target: u64, membership_addr: &'a str) -> &'a str {
        self.0
            .get(&target)
            .map(String::as_str)
            .unwrap_or(membership_addr)
    }
}

/// openraft's network factory: a [`PeerClient`] per target over the shared [`Transport`].
pub struct NetworkFactory {
    /// The transport.
    pub transport: Arc<Transport>,
    /// Dial addresses that override the membership's.
    pub peers: Arc<PeerAddresses>,
    /// The Raft group the clients speak for (0: the configuration group, unwrapped frames).
    pub group: u32,
    /// The group's signals on this node: a peer's answer that this node is not a member is
    /// recorded there.
    pub signals: Arc<super::signals::Signals>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerClient {
        PeerClient {
            transport: self.transport.clone(),
            target,
            addr: self.peers.dial(target, &node.addr).to_string(),
            group: self.group,
            signals: self.signals.clone(),
        }
    }
}

/// openraft's client for one peer.
pub struct PeerClient {
    transport: Arc<Transport>,
    target: u64,
    addr: String,
    group: u32,
    signals: Arc<super::signals::Signals>,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>>;

fn unreachable<E: std::error::Error>(e: CallError) -> RPCError<u64, BasicNode, RaftError<u64, E>> {
    RPCError::Unreachable(Unreachable::new(&e))
}

fn unexpected<E: std::error::Error>(
    target: u64,
    resp: Response,
) -> RPCError<u64, BasicNode, RaftError<u64, E>> {
    let e = AnyError::error(format!("node {target} answered {resp:?}"));
    match resp {
        // The peer is up but cannot serve (shutting down, storage failure): let openraft back off.
        Response::Failed(_) => RPCError::Unreachable(Unreachable::new(&e)),
        _ => RPCError::Network(NetworkError::new(&e)),
    }
}

impl PeerClient {
    async fn call(
        &self,
        body: Request,
        extra: Option<Vec<u8>>,
        option: &RPCOption,
    ) -> Result<Response, CallError> {
        // A little under openraft's own deadline, so the cached connection is dropped by us.
        self.transport
            .call(
                self.target,
                &self.addr,
                body.for_group(self.group),
                extra,
                option.soft_ttl(),
            )
            .await
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        match self.call(Request::AppendEntries(rpc), None, &option).await {
            Ok(Response::AppendEntries(r)) => Ok(r),
            Ok(other) => Err(unexpected(self.target, other)),
            Err(e) => Err(unreachable(e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        mut rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        let data = std::mem::take(&mut rpc.data);
        match self
            .call(Request::InstallSnapshot(rpc), Some(data), &option)
            .await
        {
            Ok(Response::InstallSnapshot(r)) => Ok(r),
            Ok(Response::SnapshotMismatch(m)) => Err(RPCError::RemoteError(RemoteError::new(
                self.target,
                RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m)),
            ))),
            Ok(other) => Err(unexpected(self.target, other)),
            Err(e) => Err(unreachable(e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>> {
        match self.call(Request::Vote(rpc), None, &option).await {
            Ok(Response::Vote(r)) => Ok(r),
            Ok(Response::NotMember { membership_index }) => {
                // This node was removed and never received the change (see `signals`).
                tracing::info!(
                    peer = self.target,
                    group = self.group,
                    membership_index,
                    "a peer's committed membership leaves this node out"
                );
                self.signals.peer_left_us_out(membership_index);
                Err(unexpected(
                    self.target,
                    Response::NotMember { membership_index },
                ))
            }
            Ok(other) => Err(unexpected(self.target, other)),
            Err(e) => Err(unreachable(e)),
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(UNREACHABLE_BACKOFF))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_wins_over_the_membership_address() {
        let peers = PeerAddresses::new(BTreeMap::from([(2, "127.0.0.1:4000".to_string())]));
        assert_eq!(peers.dial(2, "127.0.0.1:9190"), "127.0.0.1:4000");
        assert_eq!(peers.dial(3, "127.0.0.1:9290"), "127.0.0.1:9290");
        assert_eq!(
            PeerAddresses::default().dial(2, "10.0.0.2:9190"),
            "10.0.0.2:9190"
        );
    }
}
