//! The open-loop engine: generator threads with keep-alive connections that send each request
//! when it is due (never waiting for the previous answer to decide when), and record latency
//! from the due time and from the actual send.
//!
//! Thread `i` of `T` owns the requests `k ≡ i (mod T)`. A due request goes to an idle connection
//! to its target; when all of them are busy it waits in a queue, and that wait counts in its
//! corrected latency. Each thread multiplexes its connections with `ppoll` (nanosecond
//! timeouts, timer slack set to 1 ns) so requests leave on time.

use crate::http::{frame, Frame, Target};
use crate::record::{Outcome, Recorder};
use crate::schedule::{Schedule, Spread};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Where to send requests (at least one).
    pub targets: Vec<Target>,
    /// When requests are due.
    pub schedule: Schedule,
    /// How requests are spread over the targets.
    pub spread: Spread,
    /// Keep-alive connections in all (spread over threads and targets, at least one each).
    pub connections: usize,
    /// Generator threads.
    pub threads: usize,
    /// A request without a complete answer this long after it was sent is a timeout (its
    /// connection is closed and opened again for the next request).
    pub timeout: Duration,
    /// CPUs to pin generator threads to (thread `i` to `cpus[i % len]`); empty: no pinning.
    pub cpus: Vec<usize>,
    /// Print a progress line on stderr once a second.
    pub progress: bool,
}

/// Counters shared with the progress line.
#[derive(Default)]
struct Live {
    due: AtomicU64,
    answered: AtomicU64,
    failed: AtomicU64,
}

/// Runs the load and returns the merged recording.
pub fn run(cfg: &LoadConfig) -> io::Result<Recorder> {
    if cfg.targets.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no target"));
    }
    let threads = cfg.threads.max(1);
    let start = Instant::now() + Duration::from_millis(50);
    let live = Arc::new(Live::default());
    let done = Arc::new(AtomicBool::new(false));
    let progress = cfg.progress.then(|| {
        let (live, done, sched) = (live.clone(), done.clone(), cfg.schedule.clone());
        std::thread::spawn(move || progress_line(start, &sched, &live, &done))
    });
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let cfg = cfg.clone();
            let live = live.clone();
            std::thread::Builder::new()
                .name(format!("gen-{i}"))
                .spawn(move || {
                    if !cfg.cpus.is_empty() {
                        let _ = crate::sys::pin_current_thread(&[cfg.cpus[i % cfg.cpus.len()]]);
                    }
                    crate::sys::set_timer_slack_ns(1);
                    Worker::new(&cfg, i, threads, start, &live).run()
                })
        })
        .collect::<io::Result<_>>()?;
    let mut total = Recorder::new(&cfg.schedule);
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(rec) => total.merge(&rec),
            Err(_) => first_err = Some(io::Error::other("a generator thread panicked")),
        }
    }
    done.store(true, Ordering::Relaxed);
    if let Some(p) = progress {
        let _ = p.join();
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

fn progress_line(start: Instant, sched: &Schedule, live: &Live, done: &AtomicBool) {
    let mut last = (0u64, Instant::now());
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let now = Instant::now();
        if now.duration_since(last.1) < Duration::from_secs(1) {
            continue;
        }
        let answered = live.answered.load(Ordering::Relaxed);
        let rate = (answered - last.0) as f64 / now.duration_since(last.1).as_secs_f64();
        last = (answered, now);
        let t = now.saturating_duration_since(start).as_secs_f64();
        eprint!(
            "\r[{t:5.1}/{:.0} s] offered {:>8.0}/s  achieved {:>8.0}/s  due {:>9}  answered {:>9}  failed {:>6}   ",
            sched.secs(),
            sched.rate_at(t),
            rate,
            live.due.load(Ordering::Relaxed),
            answered,
            live.failed.load(Ordering::Relaxed),
        );
    }
    eprintln!();
}

#[derive(Clone, Copy)]
struct Req {
    due: u64,
    /// The request's number in the schedule (picks the target's request variant).
    n: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    /// No socket.
    Closed,
    /// Open, nothing in flight.
    Idle,
    /// Writing the request, `usize` bytes written so far.
    Writing(usize),
    /// Waiting for (the rest of) the answer.
    Reading,
}

struct Conn {
    target: usize,
    stream: Option<TcpStream>,
    state: State,
    req: Req,
    sent: u64,
    buf: Vec<u8>,
    filled: usize,
    until_close: Option<u16>,
}

struct Worker<'a> {
    cfg: &'a LoadConfig,
    index: u64,
    step: u64,
    start: Instant,
    live: &'a Live,
    conns: Vec<Conn>,
    queues: Vec<VecDeque<Req>>,
    rec: Recorder,
    in_flight: usize,
}

impl<'a> Worker<'a> {
    fn new(
        cfg: &'a LoadConfig,
        index: usize,
        threads: usize,
        start: Instant,
        live: &'a Live,
    ) -> Self {
        let n = cfg.targets.len();
        let per_thread =
            (cfg.connections / threads + usize::from(index < cfg.connections % threads)).max(1);
        let mut conns = Vec::new();
        for t in 0..n {
            let c = ((per_thread as f64 * cfg.spread.share(t, n)).round() as usize).max(1);
            for _ in 0..c {
                conns.push(Conn {
                    target: t,
                    stream: None,
                    state: State::Closed,
                    req: Req { due: 0, n: 0 },
                    sent: 0,
                    buf: vec![0; 16 * 1024],
                    filled: 0,
                    until_close: None,
                });
            }
        }
        Worker {
            cfg,
            index: index as u64,
            step: threads as u64,
            start,
            live,
            conns,
            queues: vec![VecDeque::new(); n],
            rec: Recorder::new(&cfg.schedule),
            in_flight: 0,
        }
    }

    fn now(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.start)
            .as_nanos() as u64
    }

    fn run(mut self) -> Recorder {
        // Open the connections before the clock starts.
        for c in 0..self.conns.len() {
            let _ = self.connect(c);
        }
        let timeout_ns = self.cfg.timeout.as_nanos() as u64;
        let end_ns = self.cfg.schedule.duration().as_nanos() as u64;
        let mut k = self.index;
        let mut next = self.cfg.schedule.due_ns(k);
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(self.conns.len());
        let mut fd_conn: Vec<usize> = Vec::with_capacity(self.conns.len());
        loop {
            let now = self.now();
            // Requests that are due join their target's queue.
            while let Some(due) = next.filter(|&d| d <= now) {
                let t = self.cfg.spread.pick(k, self.cfg.targets.len());
                self.queues[t].push_back(Req { due, n: k });
                self.rec.offered(due);
                self.live.due.fetch_add(1, Ordering::Relaxed);
                k += self.step;
                next = self.cfg.schedule.due_ns(k);
            }
            // Hand queued requests to idle connections.
            for c in 0..self.conns.len() {
                let t = self.conns[c].target;
                if self.queues[t].is_empty() {
                    continue;
                }
                if matches!(self.conns[c].state, State::Idle | State::Closed) {
                    if let Some(req) = self.queues[t].pop_front() {
                        self.send(c, req);
                    }
                }
            }
            // Timeouts.
            let now = self.now();
            let mut nearest_deadline = u64::MAX;
            for c in 0..self.conns.len() {
                if matches!(self.conns[c].state, State::Writing(_) | State::Reading) {
                    let deadline = self.conns[c].sent + timeout_ns;
                    if deadline <= now {
                        self.fail(c, Outcome::Timeout);
                    } else {
                        nearest_deadline = nearest_deadline.min(deadline);
                    }
                }
            }
            let queued: usize = self.queues.iter().map(VecDeque::len).sum();
            if next.is_none() && queued == 0 && self.in_flight == 0 {
                break;
            }
            if next.is_none() && now >= end_ns + timeout_ns {
                // Past the end and the grace period: what is still queued was never sent.
                for t in 0..self.queues.len() {
                    while let Some(r) = self.queues[t].pop_front() {
                        self.rec.finished(r.due, r.due, now, Outcome::Unsent);
                    }
                }
                for c in 0..self.conns.len() {
                    if matches!(self.conns[c].state, State::Writing(_) | State::Reading) {
                        self.fail(c, Outcome::Timeout);
                    }
                }
                break;
            }
            // Wait for I/O, the next due request or the nearest deadline.
            fds.clear();
            fd_conn.clear();
            for (i, c) in self.conns.iter().enumerate() {
                let events = match c.state {
                    State::Writing(_) => libc::POLLOUT,
                    State::Reading => libc::POLLIN,
                    _ => continue,
                };
                if let Some(s) = &c.stream {
                    fds.push(libc::pollfd {
                        fd: s.as_raw_fd(),
                        events,
                        revents: 0,
                    });
                    fd_conn.push(i);
                }
            }
            let mut wake = nearest_deadline.min(end_ns + timeout_ns);
            if let Some(n) = next {
                wake = wake.min(n);
            }
            let wait = wake.saturating_sub(self.now());
            let n = crate::sys::ppoll(&mut fds, wait);
            if n <= 0 {
                continue;
            }
            for j in 0..fds.len() {
                if fds[j].revents == 0 {
                    continue;
                }
                let c = fd_conn[j];
                match self.conns[c].state {
                    State::Writing(_) => self.write_more(c),
                    State::Reading => self.read_more(c),
                    _ => {}
                }
            }
        }
        self.rec
    }

    fn connect(&mut self, c: usize) -> io::Result<()> {
        let addr = self.cfg.targets[self.conns[c].target].addr;
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
        let conn = &mut self.conns[c];
        conn.stream = Some(s);
        conn.state = State::Idle;
        conn.filled = 0;
        conn.until_close = None;
        Ok(())
    }

    fn send(&mut self, c: usize, req: Req) {
        if self.conns[c].state == State::Closed && self.connect(c).is_err() {
            let now = self.now();
            self.rec.finished(req.due, now, now, Outcome::Error);
            self.live.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let now = self.now();
        let conn = &mut self.conns[c];
        conn.req = req;
        conn.sent = now;
        conn.state = State::Writing(0);
        conn.filled = 0;
        self.in_flight += 1;
        self.write_more(c);
    }

    fn write_more(&mut self, c: usize) {
        let State::Writing(off) = self.conns[c].state else {
            return;
        };
        let req = self.cfg.targets[self.conns[c].target].request_for(self.conns[c].req.n);
        let Some(s) = self.conns[c].stream.as_mut() else {
            return self.fail(c, Outcome::Error);
        };
        match s.write(&req[off..]) {
            Ok(n) if off + n == req.len() => {
                self.conns[c].state = State::Reading;
                // The answer may already be there; reading now saves a poll round.
                self.read_more(c);
            }
            Ok(0) => self.fail(c, Outcome::Error),
            Ok(n) => self.conns[c].state = State::Writing(off + n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => self.fail(c, Outcome::Error),
        }
    }

    fn read_more(&mut self, c: usize) {
        loop {
            let conn = &mut self.conns[c];
            let Some(s) = conn.stream.as_mut() else {
                return self.fail(c, Outcome::Error);
            };
            if conn.filled == conn.buf.len() {
                let grown = (conn.buf.len() * 2).max(16 * 1024);
                conn.buf.resize(grown, 0);
            }
            match s.read(&mut conn.buf[conn.filled..]) {
                Ok(0) => {
                    // Closed by the server: complete only if the body ran until close.
                    return match conn.until_close {
                        Some(code) => self.complete(c, code, true),
                        None => self.fail(c, Outcome::Error),
                    };
                }
                Ok(n) => conn.filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.fail(c, Outcome::Error),
            }
            match frame(&conn.buf[..conn.filled]) {
                Ok(Frame::Done(f)) => return self.complete(c, f.status, f.close),
                Ok(Frame::Partial) => {}
                Ok(Frame::UntilClose(code)) => conn.until_close = Some(code),
                Err(_) => return self.fail(c, Outcome::Error),
            }
        }
    }

    fn complete(&mut self, c: usize, status: u16, close: bool) {
        let now = self.now();
        let conn = &mut self.conns[c];
        self.rec
            .finished(conn.req.due, conn.sent, now, Outcome::Response(status));
        self.live.answered.fetch_add(1, Ordering::Relaxed);
        self.in_flight -= 1;
        conn.filled = 0;
        if close {
            conn.stream = None;
            conn.state = State::Closed;
        } else {
            conn.state = State::Idle;
        }
    }

    fn fail(&mut self, c: usize, outcome: Outcome) {
        let now = self.now();
        let conn = &mut self.conns[c];
        if matches!(conn.state, State::Writing(_) | State::Reading) {
            self.rec.finished(conn.req.due, conn.sent, now, outcome);
            self.live.failed.fetch_add(1, Ordering::Relaxed);
            self.in_flight -= 1;
        }
        conn.stream = None;
        conn.state = State::Closed;
        conn.filled = 0;
    }
}
