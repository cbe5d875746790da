//! The fault-injecting UDP relays between the nodes' QUIC endpoints.
//!
//! One relay per directed pair (A's view of B): node A is configured to dial B at the relay's
//! listen port (`[cluster] peer_addresses`). A packet arriving there from A is forwarded to
//! B's real endpoint from an upstream socket of its own for that source, so B's answers come
//! back to the upstream socket and are sent on to A from the listen port. Each packet is
//! passed through [`crate::links::decide`] with the rule of the direction it travels (A→B for
//! A's packets, B→A for B's answers). The relays run on one tokio thread of their own.

use crate::links::{decide, Decision, Links};
use crate::rng::Rng;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;

/// Most distinct sources one relay serves (a node's endpoint is one source; a restart keeps
/// its port).
const MAX_SOURCES: usize = 16;

/// Packet counts over all relays.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Packets passed on (duplicates count twice).
    pub forwarded: AtomicU64,
    /// Packets dropped by a rule.
    pub dropped: AtomicU64,
    /// Packets sent twice.
    pub duplicated: AtomicU64,
    /// Packets sent late.
    pub delayed: AtomicU64,
}

impl RelayStats {
    /// (forwarded, dropped, duplicated, delayed).
    pub fn totals(&self) -> (u64, u64, u64, u64) {
        (
            self.forwarded.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
            self.duplicated.load(Ordering::Relaxed),
            self.delayed.load(Ordering::Relaxed),
        )
    }
}

/// Every relay of a cluster; stopped on drop.
pub struct Relays {
    addrs: BTreeMap<(u64, u64), SocketAddr>,
    /// Packet counts.
    pub stats: Arc<RelayStats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relays {
    /// Starts a relay for every ordered pair of `nodes` (id → real QUIC address), on
    /// 127.0.0.1 ports chosen by the system.
    pub fn start(
        nodes: &BTreeMap<u64, SocketAddr>,
        links: Arc<Links>,
        seed: u64,
    ) -> io::Result<Relays> {
        let mut sockets = Vec::new();
        let mut addrs = BTreeMap::new();
        for &from in nodes.keys() {
            for (&to, &target) in nodes {
                if from == to {
                    continue;
                }
                let s = StdUdpSocket::bind(("127.0.0.1", 0))?;
                s.set_nonblocking(true)?;
                addrs.insert((from, to), s.local_addr()?);
                sockets.push((from, to, s, target));
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let stats = Arc::new(RelayStats::default());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let st = stats.clone();
        let rng = Rng::new(seed).fork(7);
        let thread = std::thread::Builder::new()
            .name("chaos-relays".into())
            .spawn(move || {
                rt.block_on(async move {
                    for (i, (from, to, s, target)) in sockets.into_iter().enumerate() {
                        let listen = match UdpSocket::from_std(s) {
                            Ok(l) => Arc::new(l),
                            Err(e) => {
                                eprintln!("chaos: relay {from}→{to}: {e}");
                                continue;
                            }
                        };
                        let relay = Relay {
                            from,
                            to,
                            target,
                            links: links.clone(),
                            stats: st.clone(),
                        };
                        tokio::spawn(relay.run(listen, rng.fork(i as u64)));
                    }
                    let _ = stop_rx.await;
                });
            })?;
        Ok(Relays {
            addrs,
            stats,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The address node `from` dials to reach node `to`.
    pub fn addr(&self, from: u64, to: u64) -> Option<SocketAddr> {
        self.addrs.get(&(from, to)).copied()
    }
}

impl Drop for Relays {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One directed relay: `from`'s view of `to`.
#[derive(Clone)]
struct Relay {
    from: u64,
    to: u64,
    target: SocketAddr,
    links: Arc<Links>,
    stats: Arc<RelayStats>,
}

impl Relay {
    async fn run(self, listen: Arc<UdpSocket>, mut rng: Rng) {
        let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, src) = match listen.recv_from(&mut buf).await {
                Ok(x) => x,
                Err(_) => {
                    // Transient (an ICMP error surfacing): keep relaying.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
            };
            let up = match upstreams.get(&src) {
                Some(u) => u.clone(),
                None => {
                    if upstreams.len() >= MAX_SOURCES {
                        continue;
                    }
                    let Ok(u) = UdpSocket::bind(("127.0.0.1", 0)).await else {
                        continue;
                    };
                    let u = Arc::new(u);
                    upstreams.insert(src, u.clone());
                    let back = self.clone();
                    let rng = rng.fork(upstreams.len() as u64);
                    tokio::spawn(back.answers(u.clone(), listen.clone(), src, rng));
                    u
                }
            };
            let rule = self.links.rule(self.from, self.to);
            send(
                decide(&rule, &mut rng),
                &up,
                &buf[..n],
                self.target,
                &self.stats,
            )
            .await;
        }
    }

    /// Relays `to`'s answers arriving on `up` back to `client` from the listen socket.
    async fn answers(
        self,
        up: Arc<UdpSocket>,
        listen: Arc<UdpSocket>,
        client: SocketAddr,
        mut rng: Rng,
    ) {
        let mut buf = vec![0u8; 65_536];
        loop {
            let n = match up.recv_from(&mut buf).await {
                Ok((n, _)) => n,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
            };
            let rule = self.links.rule(self.to, self.from);
            send(
                decide(&rule, &mut rng),
                &listen,
                &buf[..n],
                client,
                &self.stats,
            )
            .await;
        }
    }
}

async fn send(
    decision: Decision,
    sock: &Arc<UdpSocket>,
    data: &[u8],
    dst: SocketAddr,
    stats: &RelayStats,
) {
    let delays = match decision {
        Decision::Drop => {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Decision::Send(d) => d,
    };
    if delays.len() > 1 {
        stats.duplicated.fetch_add(1, Ordering::Relaxed);
    }
    for ms in delays {
        stats.forwarded.fetch_add(1, Ordering::Relaxed);
        if ms == 0 {
            // A failed send is a lost packet, as on a real network.
            let _ = sock.send_to(data, dst).await;
        } else {
            stats.delayed.fetch_add(1, Ordering::Relaxed);
            let sock = sock.clone();
            let data = data.to_vec();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                let _ = sock.send_to(&data, dst).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::{cut, LinkRule};

    fn udp() -> StdUdpSocket {
        let s = StdUdpSocket::bind(("127.0.0.1", 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        s
    }

    fn recv(s: &StdUdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
        let mut b = [0u8; 1500];
        s.recv_from(&mut b).ok().map(|(n, a)| (b[..n].to_vec(), a))
    }

    #[test]
    fn relays_both_ways_and_partitions_each_direction() {
        // Two "nodes": plain sockets standing in for the QUIC endpoints.
        let a = udp();
        let b = udp();
        let nodes = BTreeMap::from([(1, a.local_addr().unwrap()), (2, b.local_addr().unwrap())]);
        let links = Arc::new(Links::new());
        let relays = Relays::start(&nodes, links.clone(), 1).unwrap();
        let a_to_b = relays.addr(1, 2).unwrap();

        a.send_to(b"ping", a_to_b).unwrap();
        let (got, upstream) = recv(&b).expect("forwarded to B");
        assert_eq!(got, b"ping");
        assert_ne!(upstream, a.local_addr().unwrap(), "B sees the relay, not A");
        b.send_to(b"pong", upstream).unwrap();
        let (got, from) = recv(&a).expect("answer relayed to A");
        assert_eq!((got.as_slice(), from), (&b"pong"[..], a_to_b));

        // One-way: B's packets to A are lost, A's still reach B.
        links.set(&cut(&[2], &[1], false), LinkRule::blocked());
        a.send_to(b"ping2", a_to_b).unwrap();
        assert_eq!(recv(&b).map(|x| x.0), Some(b"ping2".to_vec()));
        b.send_to(b"pong2", upstream).unwrap();
        assert_eq!(recv(&a), None);
        // Healed.
        links.heal();
        b.send_to(b"pong3", upstream).unwrap();
        assert_eq!(recv(&a).map(|x| x.0), Some(b"pong3".to_vec()));
        let (fwd, dropped, _, _) = relays.stats.totals();
        assert_eq!((fwd, dropped), (4, 1));
    }
}
