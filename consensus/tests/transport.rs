//! The cluster transport against a peer that dies without a word (as `kill -9` leaves it) and
//! comes back on the same address, and against calls their callers abandon: real QUIC on
//! loopback, through a UDP relay that can swallow every packet.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tollgate_consensus::pki::{self, ClusterTls};
use tollgate_consensus::raft::network::{self, Handler, Transport};
use tollgate_consensus::raft::wire::{Request, Response};

mod support;
use support::node_tls;

/// Answers every read-index request with `index`.
struct Answer {
    index: u64,
}

impl Handler for Answer {
    fn id(&self) -> u64 {
        2
    }

    async fn handle(&self, _from: u64, _body: Request, _extra: Option<Vec<u8>>) -> Response {
        Response::ReadIndex { index: self.index }
    }
}

/// A UDP relay from one client to `server`; while `cut` is set it drops every packet both
/// ways.
struct Relay {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
}

async fn relay(server: SocketAddr) -> Relay {
    let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    back.connect(server).await.unwrap();
    let addr = front.local_addr().unwrap();
    let cut = Arc::new(AtomicBool::new(false));
    let client: Arc<std::sync::Mutex<Option<SocketAddr>>> = Arc::default();
    {
        let (front, back, cut, client) = (front.clone(), back.clone(), cut.clone(), client.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, from)) = front.recv_from(&mut buf).await {
                *client.lock().unwrap() = Some(from);
                if !cut.load(Ordering::SeqCst) {
                    let _ = back.send(&buf[..n]).await;
                }
            }
        });
    }
    {
        let cut = cut.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            // A server not listening (between a kill and the restart) makes recv fail with
            // "connection refused" on a connected socket: keep relaying.
            loop {
                let Ok(n) = back.recv(&mut buf).await else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                let to = *client.lock().unwrap();
                if let (false, Some(to)) = (cut.load(Ordering::SeqCst), to) {
                    let _ = front.send_to(&buf[..n], to).await;
                }
            }
        });
    }
    Relay { addr, cut }
}

/// Starts the server node on `addr` (once a previous process has let go of it).
async fn server(addr: SocketAddr, tls: &ClusterTls, index: u64) -> quinn::Endpoint {
    let deadline = Instant::now() + Duration::from_secs(5);
    let ep = loop {
        match network::endpoint(addr, tls) {
            Ok(ep) => break ep,
            Err(e) if Instant::now() < deadline => {
                eprintln!("binding {addr}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("binding {addr}: {e}"),
        }
    };
    tokio::spawn(network::serve(ep.clone(), Arc::new(Answer { index })));
    ep
}

/// Ends the server's process without a word reaching its peers (the relay is cut first).
async fn kill(relay: &Relay, ep: quinn::Endpoint) {
    relay.cut.store(true, Ordering::SeqCst);
    ep.close(0u32.into(), b"killed");
    ep.wait_idle().await;
    drop(ep);
}

async fn call(t: &Transport, addr: &str, timeout: Duration) -> Result<u64, String> {
    match t.call(2, addr, Request::ReadIndex, None, timeout).await {
        Ok(Response::ReadIndex { index }) => Ok(index),
        Ok(other) => Err(format!("unexpected {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// A server node answering `index`, a relay in front of it, and a client (node 1) that has
/// called it once through the relay (so its connection is cached).
struct Setup {
    server_tls: ClusterTls,
    port: SocketAddr,
    server: quinn::Endpoint,
    relay: Relay,
    client: Arc<Transport>,
    addr: String,
}

async fn setup(index: u64) -> Setup {
    let ca = pki::create_ca().unwrap();
    let server_tls = node_tls(&ca, "node-2");
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = server(port, &server_tls, index).await;
    let relay = relay(port).await;
    let client_ep =
        network::endpoint("127.0.0.1:0".parse().unwrap(), &node_tls(&ca, "node-1")).unwrap();
    let client = Transport::new(1, client_ep);
    let addr = relay.addr.to_string();
    assert_eq!(
        call(&client, &addr, Duration::from_secs(5)).await,
        Ok(index)
    );
    assert!(client.is_connected(2));
    Setup {
        server_tls,
        port,
        server,
        relay,
        client,
        addr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_restarted_on_its_address_resets_the_old_connection_at_once() {
    let Setup {
        server_tls,
        port,
        server: first,
        relay,
        client,
        addr,
    } = setup(1).await;

    // The server process dies without a word: nothing it sends on the way out arrives.
    kill(&relay, first).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A new process of the same node (same key) on the same address.
    let _second = server(port, &server_tls, 2).await;
    relay.cut.store(false, Ordering::SeqCst);
    let restarted = Instant::now();

    // The client's cached connection belongs to the dead process. The new one answers its
    // packets with a stateless reset the client accepts (the reset key comes from the node's
    // key), so the connection ends at once and a call dials the new process, well before the
    // 10 s idle timeout that would otherwise end it.
    let mut answered = None;
    while restarted.elapsed() < Duration::from_secs(10) {
        if let Ok(i) = call(&client, &addr, Duration::from_secs(3)).await {
            answered = Some(i);
            break;
        }
    }
    let took = restarted.elapsed();
    eprintln!("the restarted node answered after {took:?}");
    assert_eq!(answered, Some(2), "the restarted node never answered");
    assert!(
        took < Duration::from_secs(2),
        "the restarted node answered only after {took:?}: the old connection was not reset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_its_caller_abandons_drops_the_connection_from_the_cache() {
    let Setup {
        server: _server,
        relay,
        client,
        addr,
        ..
    } = setup(7).await;

    // A call that gets no answer, given up by its caller before its own deadline.
    relay.cut.store(true, Ordering::SeqCst);
    let abandoned = tokio::time::timeout(
        Duration::from_millis(200),
        call(&client, &addr, Duration::from_secs(10)),
    )
    .await;
    assert!(abandoned.is_err(), "no answer can come through the cut");
    assert!(
        !client.is_connected(2),
        "the connection of an abandoned call stays cached: the next call would queue on it"
    );

    // A call that is answered keeps its connection.
    relay.cut.store(false, Ordering::SeqCst);
    assert_eq!(call(&client, &addr, Duration::from_secs(5)).await, Ok(7));
    assert!(client.is_connected(2));
}
