//! The data folder as a careless operator meets it: files others can read, a deleted log
//! store, a full disk, a busy port; and what a node prints and logs.

mod common;

use common::*;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tollgate_node::admin_client;
use tollgate_node::sigv4::Credentials;

/// A `tollgate serve` started without credentials in the environment (so they are generated
/// into the data folder) and with the default log filter, its stderr kept in a file.
struct Node {
    child: Child,
    admin: std::net::SocketAddr,
    banner: String,
    stderr: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data_dir: &Path, stderr: &Path, extra: &[&str]) -> Command {
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(stderr)
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.arg("serve");
    for flag in ["--listen", "--admin-listen", "--raft-listen"] {
        if !extra.contains(&flag) {
            cmd.args([flag, "127.0.0.1:0"]);
        }
    }
    cmd.args(["--workers", "1"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env_remove("TOLLGATE_ACCESS_KEY_ID")
        .env_remove("TOLLGATE_SECRET_ACCESS_KEY")
        .env_remove("TOLLGATE_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err);
    cmd
}

fn start(data_dir: &Path, stderr: &Path, extra: &[&str]) -> Node {
    let mut child = serve(data_dir, stderr, extra).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    let admin = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!(
                "node exited: {banner}\n{}",
                std::fs::read_to_string(stderr).unwrap_or_default()
            );
        };
        banner.push_str(&line);
        banner.push('\n');
        if let Some(rest) = line.strip_prefix("admin API: http://") {
            break rest.trim().parse().unwrap();
        }
    };
    for line in lines.by_ref() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if line.starts_with("  AWS_ACCESS_KEY_ID=") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Node {
        child,
        admin,
        banner,
        stderr: stderr.to_path_buf(),
    }
}

/// Runs `serve` expecting it to exit by itself; its status and stderr.
fn start_fails(data_dir: &Path, extra: &[&str]) -> (std::process::ExitStatus, String) {
    let tmp = tempfile::tempdir().unwrap();
    let stderr = tmp.path().join("stderr");
    let mut child = serve(data_dir, &stderr, extra).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the node did not exit: {}",
                std::fs::read_to_string(&stderr).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, std::fs::read_to_string(&stderr).unwrap())
}

/// The credentials generated into the data folder (two `key = "value"` lines).
fn credentials(data_dir: &Path) -> Credentials {
    let text = std::fs::read_to_string(data_dir.join("admin-credentials.toml")).unwrap();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|l| l.split('"').nth(1))
            .unwrap()
            .to_string()
    };
    Credentials {
        access_key_id: get("access_key_id = "),
        secret_access_key: get("secret_access_key = "),
    }
}

/// A signed admin call; its status (0 when no answer came).
fn call(
    node: &Node,
    creds: &Credentials,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> u16 {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    admin_client::call(node.admin, creds, method, path, body.as_bytes()).map_or(0, |a| a.status)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn probe(admin: std::net::SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = parse_response(&raw_exchange(admin, req.as_bytes())).expect("an answer");
    (r.status, r.json())
}

/// Item 7 and 10: the data folder is 0700 and every file in it 0600 (the registry holds API
/// key values in clear); the generated admin secret is printed once, when generated, and a
/// restart prints where it is kept instead; logs carry no colour codes when not at a terminal
/// and no openraft state dumps at the default level.
#[test]
fn the_data_folder_is_private_and_the_secret_is_printed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let stderr = tmp.path().join("stderr");
    let node = start(&dir, &stderr, &[]);
    let creds = credentials(&dir);
    let (id, secret) = (creds.access_key_id.clone(), creds.secret_access_key.clone());
    assert!(node.banner.contains(&secret), "{}", node.banner);
    assert!(node.banner.contains("printed this once"), "{}", node.banner);
    assert_eq!(
        call(
            &node,
            &creds,
            "POST",
            "/restapis",
            Some(json!({"name": "a"}))
        ),
        201
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(mode(&dir), 0o700);
    let mut files = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    for f in [
        "admin-credentials.toml",
        "raft/raft.redb",
        "raft/node-id",
        "tls/node-key.pem",
        "tls/ca-key.pem",
    ] {
        assert!(files.contains(&dir.join(f)), "{f} in {files:?}");
    }
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    drop(node);
    let log = std::fs::read_to_string(&stderr).unwrap();
    assert!(!log.contains('\u{1b}'), "colour codes in a log file: {log}");
    assert!(
        !log.contains("RaftState"),
        "openraft state dump at INFO: {log}"
    );

    // A restart does not print the secret again: where it is kept, and the key id.
    let node = start(&dir, &stderr, &[]);
    assert!(!node.banner.contains(&secret), "{}", node.banner);
    assert!(node.banner.contains(&id), "{}", node.banner);
    assert!(
        node.banner.contains("admin-credentials.toml"),
        "{}",
        node.banner
    );
    drop(node);
    // Secrets given in the environment are never printed.
    let mut cmd = serve(&dir, &stderr, &[]);
    cmd.env("TOLLGATE_ACCESS_KEY_ID", "AKIDENV")
        .env("TOLLGATE_SECRET_ACCESS_KEY", "env-secret-value-123");
    let mut child = cmd.spawn().unwrap();
    let mut out = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        out.push_str(&line);
        out.push('\n');
        if line.starts_with("  AWS_ACCESS_KEY_ID=") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(out.contains("AKIDENV"), "{out}");
    assert!(!out.contains("env-secret-value-123"), "{out}");
}

/// Item 6: with `raft.redb` deleted a node started with its acknowledged writes missing and
/// its vote reset. Now it refuses, naming the file; the explicit recovery flag starts it.
#[test]
fn a_deleted_log_store_is_refused_unless_recovery_is_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let node = start(&dir, &tmp.path().join("stderr"), &[]);
    let creds = credentials(&dir);
    for i in 0..5 {
        let body = json!({ "name": format!("api{i}") });
        assert_eq!(call(&node, &creds, "POST", "/restapis", Some(body)), 201);
    }
    drop(node);
    std::fs::remove_file(dir.join("raft/raft.redb")).unwrap();
    let (status, err) = start_fails(&dir, &[]);
    assert!(!status.success());
    assert!(err.contains("raft.redb is missing"), "{err}");
    assert!(err.contains("--recover-missing-log"), "{err}");
    let node = start(
        &dir,
        &tmp.path().join("stderr2"),
        &["--recover-missing-log"],
    );
    assert_eq!(call(&node, &creds, "GET", "/restapis", None), 200);
}

/// `/_tollgate/health` and `/_tollgate/ready` answer without a signature.
#[test]
fn health_and_readiness_probes() {
    let tmp = tempfile::tempdir().unwrap();
    let node = start(&tmp.path().join("data"), &tmp.path().join("stderr"), &[]);
    let (s, v) = probe(node.admin, "/_tollgate/health");
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")), "{v}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, v) = probe(node.admin, "/_tollgate/ready");
        if s == 200 {
            assert_eq!(v["status"], "ready");
            assert!(v["lastApplied"].as_u64().is_some(), "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Anything else under the prefix still needs a signature.
    let (s, _) = probe(node.admin, "/_tollgate/cluster");
    assert_eq!(s, 403);
}

/// "Address already in use" names the address.
#[test]
fn a_busy_cluster_port_is_named() {
    let busy = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let (status, err) = start_fails(&tmp.path().join("data"), &["--raft-listen", &addr]);
    assert!(!status.success());
    assert!(err.contains(&addr), "{err}");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let (status, err) = start_fails(&tmp.path().join("data2"), &["--listen", &addr]);
    assert!(!status.success());
    assert!(err.contains(&addr), "{err}");
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, bytes: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
            .arg("tmpfs")
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `path` by writing `path` until the disk is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    while f.write_all(&chunk[..512]).is_ok() {}
    let _ = f.sync_all();
}

/// Item 5: after a full disk, admin writes stayed broken until a restart and nothing told a
/// supervisor. Now the node exits non-zero when Raft stops, and a restart once space is back
/// serves again with every acknowledged write. A real full disk: a small tmpfs (needs root,
/// as CI runs; elsewhere the test says so and passes).
#[test]
fn a_full_disk_makes_the_node_exit_and_a_restart_serves_again() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&tmp.path().join("fs"), 24 << 20) else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root); the full-disk test needs one");
        return;
    };
    let dir = fs.0.join("data");
    let stderr = tmp.path().join("stderr");
    let mut node = start(&dir, &stderr, &[]);
    let creds = credentials(&dir);
    assert_eq!(
        call(
            &node,
            &creds,
            "POST",
            "/restapis",
            Some(json!({"name": "before"}))
        ),
        201
    );
    let filler = fs.0.join("filler");
    fill(&filler);
    // Writes of growing size need new pages; one fails, and Raft stops.
    // (A description holds at most 4096 characters.)
    let description = "x".repeat(4096);
    let mut acknowledged = 1;
    let mut failed = false;
    for i in 0..5000 {
        let body = json!({ "name": format!("api{i}"), "description": description });
        match call(&node, &creds, "POST", "/restapis", Some(body)) {
            201 => acknowledged += 1,
            status => {
                assert!(status >= 500, "a write was refused ({status}), not failed");
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "no write failed on a full disk");
    eprintln!("full disk: {acknowledged} writes acknowledged before one failed");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(st) = node.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "the node kept running with Raft stopped: {}",
            std::fs::read_to_string(&node.stderr).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "{status}");
    let log = std::fs::read_to_string(&stderr).unwrap();
    assert!(log.contains("cluster node stopped"), "{log}");
    drop(node);

    std::fs::remove_file(&filler).unwrap();
    let node = start(&dir, &stderr, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while probe(node.admin, "/_tollgate/ready").0 != 200 {
        assert!(Instant::now() < deadline, "not ready after the restart");
        std::thread::sleep(Duration::from_millis(100));
    }
    let a = admin_client::call(node.admin, &creds, "GET", "/restapis?limit=500", b"").unwrap();
    assert_eq!(a.status, 200);
    let items = a.json()["item"].as_array().cloned().unwrap_or_default();
    assert!(
        items.len() >= acknowledged,
        "{} APIs after the restart, {acknowledged} acknowledged",
        items.len()
    );
    assert_eq!(
        call(
            &node,
            &creds,
            "POST",
            "/restapis",
            Some(json!({"name": "after"}))
        ),
        201
    );
}
