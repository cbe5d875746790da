//! Full TLS handshakes against an HTTPS server, for `scripts/tls-compare.sh`: each request on a
//! new connection with session resumption off (wrk resumes sessions, so it cannot measure full
//! handshakes), TLS 1.3, the server name sent as SNI and verified against a CA file.
//!
//! `cargo run --release --example tls_handshakes -- ADDR NAME CA_FILE SECONDS THREADS PATH`
//! prints `handshakes N errors E seconds S`.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn one(addr: SocketAddr, name: &str, cfg: &Arc<rustls::ClientConfig>, req: &[u8]) -> bool {
    let Ok(tcp) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(server) = name.to_string().try_into() else {
        return false;
    };
    let Ok(conn) = rustls::ClientConnection::new(cfg.clone(), server) else {
        return false;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    if tls.write_all(req).is_err() {
        return false;
    }
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    got.starts_with(b"HTTP/1.1 200")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        eprintln!("usage: tls_handshakes ADDR NAME CA_FILE SECONDS THREADS PATH");
        std::process::exit(2);
    }
    let addr: SocketAddr = args[1].parse().expect("ADDR");
    let name = args[2].clone();
    let ca = std::fs::read(&args[3]).expect("CA_FILE");
    let secs: u64 = args[4].parse().expect("SECONDS");
    let threads: usize = args[5].parse().expect("THREADS");
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n",
        args[6]
    );
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&ca) {
        roots.add(c.expect("CA PEM")).expect("CA");
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .expect("TLS 1.3")
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.resumption = rustls::client::Resumption::disabled();
    let cfg = Arc::new(cfg);
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (cfg, name, req) = (cfg.clone(), name.clone(), req.clone());
            let (done, errors, stop) = (done.clone(), errors.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if one(addr, &name, &cfg, req.as_bytes()) {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    println!(
        "handshakes {} errors {} seconds {:.2}",
        done.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
}
