//! `tollgate-bench compare`: starts the contestants on loopback and measures them in turn with
//! the same open-loop load, for each worker count: the bare monoio responder (the "hardware
//! limit", also the proxies' upstream), nginx `return 200`, the Tollgate MOCK route, nginx
//! `proxy_pass` (keep-alive pool) and the Tollgate HTTP_PROXY route. A third Tollgate route,
//! `/keyed`, is the MOCK route behind an API key and a usage-plan throttle (set high enough
//! never to refuse), so the price of key lookup and admission shows beside the plain MOCK.

use crate::client::{self, LoadConfig};
use crate::http::Target;
use crate::limit::BODY;
use crate::report::Report;
use crate::schedule::{Schedule, Spread};
use crate::sys;
use serde::Serialize;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tollgate_node::admin_client;
use tollgate_node::sigv4::Credentials;

/// Settings of a comparison run.
#[derive(Debug, Clone)]
pub struct CompareOpts {
    /// The `tollgate` binary (default: next to this binary).
    pub tollgate: Option<PathBuf>,
    /// Worker counts to measure (each for every server).
    pub workers: Vec<usize>,
    /// Base offered rate, requests per second.
    pub rate: f64,
    /// Spike multiplier.
    pub mult: f64,
    /// Seconds at the base rate before the spike.
    pub before: f64,
    /// Seconds of spike.
    pub spike: f64,
    /// Seconds at the base rate after the spike.
    pub after: f64,
    /// Seconds of the fixed-rate run that measures CPU per request (at `rate`).
    pub cpu_secs: f64,
    /// Keep-alive connections of the generator.
    pub connections: usize,
    /// Generator threads (0: one per CPU left to the generator, at least one).
    pub threads: usize,
    /// Request timeout.
    pub timeout: Duration,
    /// Skip nginx.
    pub no_nginx: bool,
    /// Write every report and summary as JSON here.
    pub json: Option<PathBuf>,
    /// Write one SVG per measured run into this folder.
    pub svg_dir: Option<PathBuf>,
}

/// One contestant's results at one worker count.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Contestant.
    pub name: String,
    /// "direct" or "proxy".
    pub group: String,
    /// Server workers.
    pub workers: usize,
    /// CPU time of the server process per request at the fixed rate, µs.
    pub cpu_us_per_req: f64,
    /// Server CPU use at the fixed rate (1.0 = one core busy).
    pub cpu_cores: f64,
    /// Corrected p50 / p99 at the fixed rate, µs.
    pub steady_p50_us: f64,
    /// Corrected p99 at the fixed rate, µs.
    pub steady_p99_us: f64,
    /// The spike run.
    pub spike: Report,
}

/// A child process, stopped (SIGTERM, then SIGKILL) when dropped.
pub(crate) struct Proc {
    pub(crate) name: String,
    pub(crate) child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first so nginx's master takes its workers down; then SIGKILL.
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("{} did not stop on SIGTERM; killed", self.name);
    }
}

/// Starts `cmd` with its output in `log`, pinned to `cpus` (none: anywhere).
pub(crate) fn spawn(name: &str, mut cmd: Command, cpus: &[usize], log: &Path) -> io::Result<Proc> {
    let out = std::fs::File::create(log)?;
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    if !cpus.is_empty() {
        // SAFETY: cpu_set_t is plain data filled here, before the fork.
        let set = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &c in cpus {
                libc::CPU_SET(c, &mut set);
            }
            set
        };
        // SAFETY: the closure only calls sched_setaffinity, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                Ok(())
            });
        }
    }
    let child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start {name}: {e}")))?;
    Ok(Proc {
        name: name.to_string(),
        child,
    })
}

/// A TCP port free on 127.0.0.1 right now.
pub(crate) fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(crate) fn wait_listening(p: &mut Proc, addr: SocketAddr, log: &Path) -> io::Result<()> {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(st)) = p.child.try_wait() {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            return Err(io::Error::other(format!(
                "{} exited ({st}) before listening on {addr}:\n{tail}",
                p.name
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(io::Error::other(format!(
        "{} is not listening on {addr} after 20 s",
        p.name
    )))
}

/// The `tollgate` binary: `opt`, else the one beside this binary.
pub(crate) fn find_tollgate(opt: &Option<PathBuf>) -> io::Result<PathBuf> {
    if let Some(p) = opt {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    // Integration tests run from target/<profile>/deps.
    for cand in [dir.join("tollgate"), dir.join("../tollgate")] {
        if cand.is_file() {
            return Ok(cand);
        }
    }
    Err(io::Error::other(format!(
        "no tollgate binary next to {} (build it: cargo build --release -p tollgate-node -p tollgate-bench, or pass --tollgate PATH)",
        exe.display()
    )))
}

fn find_nginx() -> Option<PathBuf> {
    let lookup = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .chain([PathBuf::from("/usr/sbin")])
                .map(|d| d.join("nginx"))
                .find(|p| p.is_file())
        })
    };
    if let Some(p) = lookup() {
        return Some(p);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("nginx is missing and we are not root: skipping nginx (apt-get install nginx)");
        return None;
    }
    eprintln!("nginx is missing: apt-get install -y nginx");
    let ok = Command::new("apt-get")
        .args(["install", "-y", "nginx"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let _ = Command::new("apt-get").arg("update").status();
        let _ = Command::new("apt-get")
            .args(["install", "-y", "nginx"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    }
    lookup()
}

fn nginx_conf(dir: &Path, workers: usize, ret: u16, proxy: u16, upstream: u16) -> String {
    let d = dir.display();
    // SAFETY: geteuid has no preconditions.
    let user = if unsafe { libc::geteuid() } == 0 {
        "user root;\n"
    } else {
        ""
    };
    format!(
        "{user}worker_processes {workers};
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/cb; proxy_temp_path {d}/pt; fastcgi_temp_path {d}/ft;
  uwsgi_temp_path {d}/ut; scgi_temp_path {d}/st;
  server {{ listen 127.0.0.1:{ret}; location / {{ default_type application/json; return 200 '{BODY}'; }} }}
  upstream up {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{ listen 127.0.0.1:{proxy}; location / {{ proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }}
}}
"
    )
}

/// A signed admin call that must succeed; its JSON answer.
pub(crate) fn admin(
    addr: SocketAddr,
    creds: &Credentials,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> io::Result<serde_json::Value> {
    let raw = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    // Every call names itself, as the AWS SDKs do: without an invocation id the node takes a
    // byte-identical signed request (the same call sent twice within a second, e.g. a second
    // CreateDeployment of a stage) as a retry of the first and answers it with the first's
    // result.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let invocation = format!("tollgate-bench-{}-{started:x}-{n}", std::process::id());
    let a = admin_client::call_with(
        addr,
        creds,
        method,
        path,
        &raw,
        &[("amz-sdk-invocation-id", &invocation)],
    )?;
    if !(200..300).contains(&a.status) {
        return Err(io::Error::other(format!(
            "admin {method} {path}: {} {}",
            a.status,
            String::from_utf8_lossy(&a.body)
        )));
    }
    Ok(a.json())
}

/// The API key the `/keyed` route wants.
pub const BENCH_KEY: &str = "tollgate-bench-key-0123456789abcdef";

/// Configures a REST API with a MOCK route `/mock`, the same MOCK behind an API key and a
/// usage-plan throttle at `/keyed` (key [`BENCH_KEY`]), and an HTTP_PROXY route `/proxy` to
/// `upstream`, deploys it to stage `prod`, and returns the invoke URL prefix.
pub fn configure_tollgate(
    admin_addr: SocketAddr,
    data: SocketAddr,
    creds: &Credentials,
    upstream: u16,
) -> io::Result<String> {
    let api = admin(
        admin_addr,
        creds,
        "POST",
        "/restapis",
        serde_json::json!({"name": "bench"}),
    )?;
    let field = |v: &serde_json::Value, k: &str| {
        v[k].as_str()
            .map(str::to_string)
            .ok_or_else(|| io::Error::other(format!("admin answer without {k}: {v}")))
    };
    let id = field(&api, "id")?;
    let root = field(&api, "rootResourceId")?;
    for part in ["mock", "keyed", "proxy"] {
        let r = admin(
            admin_addr,
            creds,
            "POST",
            &format!("/restapis/{id}/resources/{root}"),
            serde_json::json!({"pathPart": part}),
        )?;
        let rid = field(&r, "id")?;
        let m = format!("/restapis/{id}/resources/{rid}/methods/GET");
        admin(
            admin_addr,
            creds,
            "PUT",
            &m,
            serde_json::json!({"authorizationType": "NONE", "apiKeyRequired": part == "keyed"}),
        )?;
        if part != "proxy" {
            admin(
                admin_addr,
                creds,
                "PUT",
                &format!("{m}/integration"),
                serde_json::json!({"type": "MOCK", "requestTemplates": {"application/json": "{\"statusCode\": 200}"}}),
            )?;
            admin(
                admin_addr,
                creds,
                "PUT",
                &format!("{m}/responses/200"),
                serde_json::json!({}),
            )?;
            admin(
                admin_addr,
                creds,
                "PUT",
                &format!("{m}/integration/responses/200"),
                serde_json::json!({"responseTemplates": {"application/json": BODY}}),
            )?;
        } else {
            admin(
                admin_addr,
                creds,
                "PUT",
                &format!("{m}/integration"),
                serde_json::json!({"type": "HTTP_PROXY", "httpMethod": "GET", "uri": format!("http://127.0.0.1:{upstream}/")}),
            )?;
        }
    }
    admin(
        admin_addr,
        creds,
        "POST",
        &format!("/restapis/{id}/deployments"),
        serde_json::json!({"stageName": "prod"}),
    )?;
    // The key and a plan whose throttle never refuses at bench rates: every request pays for
    // the key lookup and the plan's bucket.
    let key = admin(
        admin_addr,
        creds,
        "POST",
        "/apikeys",
        serde_json::json!({"name": "bench", "value": BENCH_KEY, "enabled": true}),
    )?;
    let plan = admin(
        admin_addr,
        creds,
        "POST",
        "/usageplans",
        serde_json::json!({"name": "bench", "apiStages": [{"apiId": id, "stage": "prod"}],
            "throttle": {"rateLimit": 1e9, "burstLimit": 1_000_000_000}}),
    )?;
    admin(
        admin_addr,
        creds,
        "POST",
        &format!("/usageplans/{}/keys", field(&plan, "id")?),
        serde_json::json!({"keyId": field(&key, "id")?, "keyType": "API_KEY"}),
    )?;
    let prefix = format!("http://{data}/restapis/{id}/prod/_user_request_");
    // Wait until the data plane serves the deployment.
    let t = Target::parse(&format!("{prefix}/mock")).map_err(io::Error::other)?;
    let k = Target::parse(&format!("{prefix}/keyed"))
        .map_err(io::Error::other)?
        .with_header("x-api-key", BENCH_KEY);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if get_status(&t).ok() == Some(200) && get_status(&k).ok() == Some(200) {
            return Ok(prefix);
        }
        if Instant::now() > until {
            return Err(io::Error::other(
                "the MOCK route is not served 10 s after deploying",
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One blocking GET; the status.
pub(crate) fn get_status(t: &Target) -> io::Result<u16> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect_timeout(&t.addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(1)))?;
    s.write_all(&t.request)?;
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    loop {
        let m = s.read(&mut buf[n..])?;
        if m == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        n += m;
        match crate::http::frame(&buf[..n]) {
            Ok(crate::http::Frame::Done(f)) => return Ok(f.status),
            Ok(crate::http::Frame::UntilClose(c)) => return Ok(c),
            Ok(crate::http::Frame::Partial) if n < buf.len() => {}
            _ => return Err(io::ErrorKind::InvalidData.into()),
        }
    }
}

struct Contestant {
    name: &'static str,
    group: &'static str,
    url: String,
    /// Extra request header.
    header: Option<(&'static str, &'static str)>,
    pid: u32,
}

/// Runs the comparison; prints tables and ratios to stdout, progress to stderr.
pub fn run(o: &CompareOpts) -> io::Result<Vec<Summary>> {
    let tollgate = find_tollgate(&o.tollgate)?;
    let nginx = if o.no_nginx { None } else { find_nginx() };
    let me = std::env::current_exe()?;
    let ncpu = sys::cpu_count();
    let schedule =
        Schedule::spike(o.rate, o.mult, o.before, o.spike, o.after).map_err(io::Error::other)?;
    let cpu_schedule = Schedule::constant(o.rate, o.cpu_secs).map_err(io::Error::other)?;
    let warm = Schedule::constant(o.rate.min(5000.0), 0.5).map_err(io::Error::other)?;
    let mut all = Vec::new();
    println!(
        "tollgate-bench compare: {ncpu} CPUs; load per contestant: {} /s for {} s, ×{} for {} s, back for {} s (open loop, {} connections); then {} /s for {} s for CPU per request",
        o.rate, o.before, o.mult, o.spike, o.after, o.connections, o.rate, o.cpu_secs
    );
    println!(
        "tollgate: {}; nginx: {}",
        tollgate.display(),
        nginx
            .as_ref()
            .map_or("skipped".into(), |p| p.display().to_string())
    );
    for &w in &o.workers {
        let (server_cpus, gen_cpus): (Vec<usize>, Vec<usize>) = if w < ncpu {
            ((0..w).collect(), (w..ncpu).collect())
        } else {
            (Vec::new(), Vec::new())
        };
        let threads = if o.threads > 0 {
            o.threads
        } else {
            gen_cpus.len().max(1)
        };
        let dir = tempfile::tempdir()?;
        let up = free_port()?;
        let mut procs = Vec::new();
        // The hardware limit, also the proxies' upstream.
        let mut cmd = Command::new(&me);
        cmd.args([
            "limit-server",
            "--listen",
            &format!("127.0.0.1:{up}"),
            "--workers",
            &w.to_string(),
        ]);
        let log = dir.path().join("limit.log");
        let mut p = spawn("limit server", cmd, &server_cpus, &log)?;
        wait_listening(&mut p, ([127, 0, 0, 1], up).into(), &log)?;
        let mut contestants = vec![Contestant {
            name: "limit (bare monoio)",
            group: "direct",
            url: format!("http://127.0.0.1:{up}/"),
            header: None,
            pid: p.child.id(),
        }];
        procs.push(p);
        // nginx.
        let mut nginx_pid = None;
        let (nret, nproxy) = (free_port()?, free_port()?);
        if let Some(bin) = &nginx {
            let conf = dir.path().join("nginx.conf");
            std::fs::write(&conf, nginx_conf(dir.path(), w, nret, nproxy, up))?;
            let mut cmd = Command::new(bin);
            cmd.arg("-c").arg(&conf).arg("-p").arg(dir.path());
            let log = dir.path().join("nginx.log");
            let mut p = spawn("nginx", cmd, &server_cpus, &log)?;
            wait_listening(&mut p, ([127, 0, 0, 1], nret).into(), &log)?;
            wait_listening(&mut p, ([127, 0, 0, 1], nproxy).into(), &log)?;
            nginx_pid = Some(p.child.id());
            procs.push(p);
        }
        // Tollgate.
        let (data, admin_port, raft) = (free_port()?, free_port()?, free_port()?);
        let creds = Credentials {
            access_key_id: "AKIDBENCH".into(),
            secret_access_key: "bench-secret-not-secret".into(),
        };
        let mut cmd = Command::new(&tollgate);
        cmd.env("TOLLGATE_ACCESS_KEY_ID", &creds.access_key_id)
            .env("TOLLGATE_SECRET_ACCESS_KEY", &creds.secret_access_key)
            .env("TOLLGATE_LOG", "warn")
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{data}")])
            .args(["--admin-listen", &format!("127.0.0.1:{admin_port}")])
            .args(["--raft-listen", &format!("127.0.0.1:{raft}")])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--workers", &w.to_string()]);
        let log = dir.path().join("tollgate.log");
        let mut p = spawn("tollgate", cmd, &server_cpus, &log)?;
        let admin_addr: SocketAddr = ([127, 0, 0, 1], admin_port).into();
        wait_listening(&mut p, admin_addr, &log)?;
        wait_listening(&mut p, ([127, 0, 0, 1], data).into(), &log)?;
        let prefix = configure_tollgate(admin_addr, ([127, 0, 0, 1], data).into(), &creds, up)?;
        let tpid = p.child.id();
        procs.push(p);
        if let Some(pid) = nginx_pid {
            contestants.push(Contestant {
                name: "nginx return 200",
                group: "direct",
                url: format!("http://127.0.0.1:{nret}/"),
                header: None,
                pid,
            });
        }
        contestants.push(Contestant {
            name: "tollgate MOCK",
            group: "direct",
            url: format!("{prefix}/mock"),
            header: None,
            pid: tpid,
        });
        contestants.push(Contestant {
            name: "tollgate MOCK+key",
            group: "direct",
            url: format!("{prefix}/keyed"),
            header: Some(("x-api-key", BENCH_KEY)),
            pid: tpid,
        });
        if let Some(pid) = nginx_pid {
            contestants.push(Contestant {
                name: "nginx proxy_pass",
                group: "proxy",
                url: format!("http://127.0.0.1:{nproxy}/"),
                header: None,
                pid,
            });
        }
        contestants.push(Contestant {
            name: "tollgate HTTP_PROXY",
            group: "proxy",
            url: format!("{prefix}/proxy"),
            header: None,
            pid: tpid,
        });
        eprintln!(
            "workers={w}: servers on CPUs {}, generator ({threads} thread{}) on CPUs {}",
            fmt_cpus(&server_cpus),
            if threads == 1 { "" } else { "s" },
            fmt_cpus(&gen_cpus)
        );
        let mut results = Vec::new();
        for c in &contestants {
            let mut target = Target::parse(&c.url).map_err(io::Error::other)?;
            if let Some((name, value)) = c.header {
                target = target.with_header(name, value);
            }
            let cfg = |schedule: &Schedule, progress: bool| LoadConfig {
                targets: vec![target.clone()],
                schedule: schedule.clone(),
                spread: Spread::RoundRobin,
                connections: o.connections,
                threads,
                timeout: o.timeout,
                cpus: gen_cpus.clone(),
                progress,
            };
            eprintln!("-- {} (workers={w}) {}", c.name, c.url);
            client::run(&cfg(&warm, false))?;
            let rec = client::run(&cfg(&schedule, true))?;
            let spike = Report::new(&format!("{} (workers={w})", c.name), &schedule, &rec);
            std::thread::sleep(Duration::from_millis(200));
            let cpu0 = sys::cpu_time(c.pid)?;
            let t0 = Instant::now();
            let rec = client::run(&cfg(&cpu_schedule, false))?;
            let wall = t0.elapsed().as_secs_f64();
            let cpu = (sys::cpu_time(c.pid)? - cpu0).as_secs_f64();
            let steady = Report::new(c.name, &cpu_schedule, &rec);
            let n = steady.total.responses.max(1) as f64;
            if let Some(d) = &o.svg_dir {
                std::fs::create_dir_all(d)?;
                let file = format!(
                    "{}-w{w}.svg",
                    c.name.replace(|ch: char| !ch.is_ascii_alphanumeric(), "_")
                );
                std::fs::write(d.join(file), spike.svg())?;
            }
            results.push(Summary {
                name: c.name.to_string(),
                group: c.group.to_string(),
                workers: w,
                cpu_us_per_req: cpu * 1e6 / n,
                cpu_cores: cpu / wall,
                steady_p50_us: steady.total.corrected_us.p50,
                steady_p99_us: steady.total.corrected_us.p99,
                spike,
            });
        }
        drop(procs);
        print!("{}", summary_table(w, &results));
        all.extend(results);
    }
    if let Some(f) = &o.json {
        std::fs::write(f, serde_json::to_string_pretty(&all).unwrap_or_default())?;
    }
    Ok(all)
}

fn fmt_cpus(c: &[usize]) -> String {
    if c.is_empty() {
        "any".into()
    } else {
        c.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
    }
}

/// The table and ratios printed for one worker count.
pub fn summary_table(w: usize, rs: &[Summary]) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "\n== workers={w}");
    let _ = writeln!(
        o,
        "{:<22} {:>9} {:>9} | {:>8} {:>8} {:>9} {:>9} | {:>9} {:>9} | {:>7} {:>6} | {:>8} {:>6} {:>8} {:>8}",
        "contestant", "spike off", "spike ach", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "spk p99", "u.p99", "non-2xx", "err", "CPU µs/r", "cores", "st.p50", "st.p99"
    );
    for r in rs {
        let spike = r
            .spike
            .phases
            .iter()
            .find(|p| p.name == "spike")
            .unwrap_or(&r.spike.total);
        let t = &r.spike.total;
        let _ = writeln!(
            o,
            "{:<22} {:>9.0} {:>9.0} | {:>8.1} {:>8.1} {:>9.1} {:>9.1} | {:>9.1} {:>9.1} | {:>7} {:>6} | {:>8.2} {:>6.2} {:>8.1} {:>8.1}",
            r.name,
            spike.offered_rate,
            spike.achieved_rate,
            t.corrected_us.p50,
            t.corrected_us.p99,
            t.corrected_us.p999,
            t.corrected_us.max,
            spike.corrected_us.p99,
            t.uncorrected_us.p99,
            t.responses - t.status_2xx,
            t.errors + t.timeouts + t.unsent,
            r.cpu_us_per_req,
            r.cpu_cores,
            r.steady_p50_us,
            r.steady_p99_us,
        );
    }
    let _ = writeln!(
        o,
        "(latency corrected for coordinated omission over the whole spike run; spk p99 = spike phase only; u.p99 uncorrected; CPU µs/r and st.* from the fixed-rate run)"
    );
    let find = |n: &str| rs.iter().find(|r| r.name == n);
    let ratio = |o: &mut String, a: &str, b: &str| {
        let (Some(x), Some(y)) = (find(a), find(b)) else {
            return;
        };
        let sp = |r: &Summary| {
            r.spike
                .phases
                .iter()
                .find(|p| p.name == "spike")
                .map_or(0.0, |p| p.corrected_us.p99)
        };
        let q = |a: f64, b: f64| {
            if b > 0.0 {
                format!("{:.2}×", a / b)
            } else {
                "-".into()
            }
        };
        let _ = writeln!(
            o,
            "ratio {a} / {b}: p50 {}, p99 {}, spike p99 {}, steady p99 {}, CPU per request {}, spike achieved {}",
            q(x.spike.total.corrected_us.p50, y.spike.total.corrected_us.p50),
            q(x.spike.total.corrected_us.p99, y.spike.total.corrected_us.p99),
            q(sp(x), sp(y)),
            q(x.steady_p99_us, y.steady_p99_us),
            q(x.cpu_us_per_req, y.cpu_us_per_req),
            q(
                x.spike.phases.iter().find(|p| p.name == "spike").map_or(0.0, |p| p.achieved_rate),
                y.spike.phases.iter().find(|p| p.name == "spike").map_or(0.0, |p| p.achieved_rate)
            ),
        );
    };
    ratio(&mut o, "tollgate MOCK", "nginx return 200");
    ratio(&mut o, "tollgate MOCK+key", "nginx return 200");
    ratio(&mut o, "tollgate MOCK+key", "tollgate MOCK");
    ratio(&mut o, "tollgate MOCK", "limit (bare monoio)");
    ratio(&mut o, "nginx return 200", "limit (bare monoio)");
    ratio(&mut o, "tollgate HTTP_PROXY", "nginx proxy_pass");
    ratio(&mut o, "tollgate HTTP_PROXY", "limit (bare monoio)");
    ratio(&mut o, "nginx proxy_pass", "limit (bare monoio)");
    let _ = writeln!(
        o,
        "(upstream direct = limit (bare monoio): it is the proxies' upstream)"
    );
    o
}
