//! Backend host names, resolved off the worker thread.
//!
//! A lookup can block for seconds (a slow or dead DNS server), and a worker thread serves
//! thousands of connections: it never calls the system resolver itself. An address literal
//! is used as it is; a name is looked up on a short-lived thread of its own, whose answer the
//! worker polls for (the wait is a timer, so the integration timeout around it still applies).
//! Answers are cached per worker; lookups in flight are bounded node-wide.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a successful answer is used.
pub const POSITIVE_TTL: Duration = Duration::from_secs(30);
/// How long a failed lookup is remembered (so a dead name does not start a thread per request).
pub const NEGATIVE_TTL: Duration = Duration::from_secs(1);
/// Lookups running at once, node-wide.
pub const MAX_LOOKUPS: usize = 32;
/// How often a worker checks whether a lookup has answered.
const POLL: Duration = Duration::from_millis(2);

static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

type Lookup = fn(&str) -> io::Result<SocketAddr>;

fn system_lookup(authority: &str) -> io::Result<SocketAddr> {
    authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
}

enum Entry {
    Ready(Result<SocketAddr, io::ErrorKind>, Instant),
    Pending(mpsc::Receiver<io::Result<SocketAddr>>),
}

/// A worker's resolved names.
pub struct Resolver {
    cache: HashMap<Box<str>, Entry>,
    lookup: Lookup,
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver {
            cache: HashMap::new(),
            lookup: system_lookup,
        }
    }
}

impl Resolver {
    /// A resolver with another lookup function (tests).
    pub fn with_lookup(lookup: Lookup) -> Resolver {
        Resolver {
            cache: HashMap::new(),
            lookup,
        }
    }

    /// The cached answer, or `None` with a lookup started (or already running).
    fn poll(&mut self, authority: &str, now: Instant) -> Option<io::Result<SocketAddr>> {
        match self.cache.get_mut(authority) {
            Some(Entry::Ready(r, until)) if *until > now => {
                return Some(r.map_err(io::Error::from));
            }
            Some(Entry::Pending(rx)) => {
                let got = match rx.try_recv() {
                    Ok(r) => r,
                    Err(mpsc::TryRecvError::Empty) => return None,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        Err(io::Error::other("lookup thread failed"))
                    }
                };
                let ttl = if got.is_ok() {
                    POSITIVE_TTL
                } else {
                    NEGATIVE_TTL
                };
                let kept = got.as_ref().map(|a| *a).map_err(|e| e.kind());
                self.cache
                    .insert(authority.into(), Entry::Ready(kept, now + ttl));
                return Some(got);
            }
            _ => {}
        }
        if LOOKUPS.fetch_add(1, Ordering::AcqRel) >= MAX_LOOKUPS {
            LOOKUPS.fetch_sub(1, Ordering::AcqRel);
            return Some(Err(io::Error::other("too many name lookups in flight")));
        }
        let (tx, rx) = mpsc::channel();
        let name = authority.to_string();
        let lookup = self.lookup;
        let spawned = std::thread::Builder::new()
            .name("tollgate-dns".into())
            .spawn(move || {
                let r = lookup(&name);
                LOOKUPS.fetch_sub(1, Ordering::AcqRel);
                let _ = tx.send(r);
            });
        if let Err(e) = spawned {
            LOOKUPS.fetch_sub(1, Ordering::AcqRel);
            return Some(Err(e));
        }
        self.cache.insert(authority.into(), Entry::Pending(rx));
        None
    }
}

/// The address of `authority` (`host:port`). Returns at once for an address literal or a
/// cached name; otherwise waits (on timers, never blocking the thread) for a lookup.
pub async fn resolve(
    resolver: &std::cell::RefCell<Resolver>,
    authority: &str,
) -> io::Result<SocketAddr> {
    if let Ok(addr) = authority.parse::<SocketAddr>() {
        return Ok(addr);
    }
    loop {
        if let Some(r) = resolver.borrow_mut().poll(authority, Instant::now()) {
            return r;
        }
        monoio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn slow_lookup(_: &str) -> io::Result<SocketAddr> {
        std::thread::sleep(Duration::from_millis(1500));
        Ok("127.0.0.1:9".parse().unwrap())
    }

    fn runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
    }

    #[test]
    fn a_slow_lookup_does_not_block_the_worker_and_is_cached() {
        runtime().block_on(async {
            let r = RefCell::new(Resolver::with_lookup(slow_lookup));
            let started = Instant::now();
            // The caller's timeout interrupts the wait: the worker thread is not blocked.
            let t = monoio::time::timeout(Duration::from_millis(100), resolve(&r, "slow.test:80"));
            assert!(t.await.is_err());
            assert!(
                started.elapsed() < Duration::from_millis(1000),
                "{:?}",
                started.elapsed()
            );
            // The lookup goes on in the background; a later request gets its answer.
            let addr = resolve(&r, "slow.test:80").await.unwrap();
            assert_eq!(addr, "127.0.0.1:9".parse().unwrap());
            let again = Instant::now();
            resolve(&r, "slow.test:80").await.unwrap();
            assert!(again.elapsed() < Duration::from_millis(50));
        });
    }

    #[test]
    fn literals_and_failures() {
        fn failing(_: &str) -> io::Result<SocketAddr> {
            Err(io::Error::new(io::ErrorKind::NotFound, "nx"))
        }
        runtime().block_on(async {
            let r = RefCell::new(Resolver::with_lookup(failing));
            assert_eq!(
                resolve(&r, "10.0.0.1:8080").await.unwrap(),
                "10.0.0.1:8080".parse().unwrap()
            );
            assert!(resolve(&r, "nx.test:80").await.is_err());
            // Remembered briefly: no new thread per request.
            assert!(matches!(
                r.borrow().cache.get("nx.test:80"),
                Some(Entry::Ready(Err(_), _))
            ));
        });
    }
}
