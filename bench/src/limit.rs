//! The "hardware limit" contestant: a bare HTTP responder with one monoio runtime (io_uring)
//! per worker thread and a SO_REUSEPORT listener each. It reads, counts the ends of request
//! heads (`\r\n\r\n`), and writes that many copies of a fixed response. Nothing is parsed, so
//! no real server can be faster on this machine; it also serves as the proxies' upstream.

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{ListenerOpts, TcpListener, TcpStream};
use std::io;
use std::net::SocketAddr;

/// The body every contestant answers with (17 bytes, as in `scripts/quick-compare.sh`).
pub const BODY: &str = r#"{"ok":true,"n":1}"#;

/// The fixed response.
pub fn response() -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    )
    .into_bytes()
}

/// Counts the request-head ends in `data`, carrying the match state across reads in `state`
/// (how many bytes of `\r\n\r\n` were matched at the end of the previous read).
pub fn count_heads(state: &mut usize, data: &[u8]) -> usize {
    const END: &[u8; 4] = b"\r\n\r\n";
    let mut n = 0;
    for &b in data {
        if b == END[*state] {
            *state += 1;
            if *state == 4 {
                n += 1;
                *state = 0;
            }
        } else {
            *state = usize::from(b == b'\r');
        }
    }
    n
}

/// Serves on `addr` with `workers` threads (each pinned to `cpus[i % len]` when `cpus` is not
/// empty) until the process is killed. Returns only on a start-up error.
pub fn serve(addr: SocketAddr, workers: usize, cpus: &[usize]) -> io::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel::<io::Result<()>>();
    let mut handles = Vec::new();
    for i in 0..workers.max(1) {
        let tx = tx.clone();
        let cpu = (!cpus.is_empty()).then(|| cpus[i % cpus.len()]);
        handles.push(std::thread::spawn(move || {
            if let Some(c) = cpu {
                let _ = crate::sys::pin_current_thread(&[c]);
            }
            worker(addr, tx)
        }));
    }
    drop(tx);
    // Report the first start-up failure, or keep serving.
    for r in rx.iter() {
        r?;
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

fn worker(addr: SocketAddr, ready: std::sync::mpsc::Sender<io::Result<()>>) {
    let mut urb = io_uring::IoUring::builder();
    urb.setup_coop_taskrun().setup_taskrun_flag();
    let rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .uring_builder(urb)
        .build()
        .or_else(|_| {
            monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                .enable_timer()
                .build()
        });
    let mut rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    rt.block_on(async move {
        let opts = ListenerOpts::new().reuse_port(true).backlog(4096);
        let listener = match TcpListener::bind_with_config(addr, &opts) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        drop(ready);
        let resp: &'static [u8] = Box::leak(response().into_boxed_slice());
        loop {
            match listener.accept().await {
                Ok((s, _)) => {
                    let _ = s.set_nodelay(true);
                    monoio::spawn(conn(s, resp));
                }
                Err(_) => monoio::time::sleep(std::time::Duration::from_millis(1)).await,
            }
        }
    });
}

async fn conn(mut s: TcpStream, resp: &'static [u8]) {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut out: Vec<u8> = Vec::with_capacity(resp.len() * 4);
    let mut state = 0;
    loop {
        // monoio reads into the buffer from index 0 of the slice; we do not keep old bytes.
        buf.clear();
        let (r, b) = s.read(buf.slice_mut(0..8192)).await;
        buf = b.into_inner();
        match r {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let n = count_heads(&mut state, &buf);
        if n == 0 {
            continue;
        }
        out.clear();
        for _ in 0..n {
            out.extend_from_slice(resp);
        }
        let (r, o) = s.write_all(out).await;
        out = o;
        if r.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_heads_across_reads() {
        let mut st = 0;
        assert_eq!(
            count_heads(
                &mut st,
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r"
            ),
            1
        );
        assert_eq!(count_heads(&mut st, b"\n"), 1);
        assert_eq!(count_heads(&mut st, b"GET /\r\n\r\r\n\r\n"), 1);
        assert_eq!(st, 0);
    }

    #[test]
    fn response_has_length() {
        let r = response();
        match crate::http::frame(&r).unwrap() {
            crate::http::Frame::Done(f) => assert_eq!((f.status, f.len), (200, r.len())),
            other => panic!("{other:?}"),
        }
    }
}
