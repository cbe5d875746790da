//! Starting and killing one function process. A process gets a clean environment (only
//! `PATH`, `HOME`, the definition's variables and Lambda's own: the node's credentials and
//! other settings never reach function code), no descriptor of the node but its standard
//! streams (not a client's connection, not the data folder), its own process group (a kill
//! reaches whatever it started), a data limit of its memory setting (`RLIMIT_DATA`: private
//! writable memory, so address space a runtime only reserves, as V8 does, does not count), and
//! dies with the node.

use super::FunctionDef;
use std::net::SocketAddr;
use tokio::process::{Child, Command};

/// Environment variables Lambda sets itself; a definition may not set them.
pub const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
];

/// Whether a definition may set this environment variable.
pub fn is_reserved_env(name: &str) -> bool {
    RESERVED_ENV.contains(&name) || name.starts_with("AWS_LAMBDA_")
}

/// Starts a process of `def` that talks to the Runtime API at `api`.
pub fn spawn(def: &FunctionDef, region: &str, api: SocketAddr, seq: u64) -> std::io::Result<Child> {
    let (program, args) = def
        .command
        .split_first()
        .ok_or_else(|| std::io::Error::other("the function's command is empty"))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .arg(&def.handler)
        .current_dir(&def.code)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .process_group(0);
    for var in ["PATH", "HOME"] {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    cmd.envs(&def.environment)
        .env("LANG", "en_US.UTF-8")
        .env("TZ", ":UTC")
        .env("_HANDLER", &def.handler)
        .env("LAMBDA_TASK_ROOT", &def.code)
        .env("LAMBDA_RUNTIME_DIR", &def.code)
        .env("AWS_REGION", region)
        .env("AWS_DEFAULT_REGION", region)
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &def.name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", def.memory_mb.to_string())
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", def.name),
        )
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("tollgate/{}/{seq}", std::process::id()),
        )
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
    let bytes = libc::rlim_t::from(def.memory_mb) * 1024 * 1024;
    // SAFETY: the closure runs in the child between fork and exec, so it may only make
    // async-signal-safe calls: close_range(2), prctl(2) and setrlimit(2) are plain system
    // calls on values copied into the closure; nothing is allocated, locked or shared with
    // the parent.
    // Descriptors the node opened without close-on-exec (io_uring's accepted client
    // sockets) would otherwise live on in the function: marking every one above the standard
    // streams close-on-exec ends them at exec (std's own exec-error pipe is close-on-exec
    // already). Without close_range (Linux < 5.11) no function is started.
    // PR_SET_PDEATHSIG ties the child's life to the spawning thread (the function thread,
    // which lives as long as the node), so a node killed outright leaves no function behind.
    unsafe {
        cmd.pre_exec(move || {
            if libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            let lim = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Kills the process group `pgid` (the function process and whatever it started).
pub fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory.
    // The group is the one the function process leads (process_group(0)), never ours.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    /// A descriptor the node holds without close-on-exec (as io_uring's accepted sockets
    /// are) does not reach the function process.
    #[test]
    fn node_descriptors_do_not_leak_into_functions() {
        let dir = tempfile::tempdir().unwrap();
        let held = std::fs::File::open("/dev/null").unwrap();
        let fd = held.as_raw_fd();
        // SAFETY: fcntl(2) on a descriptor this test owns, clearing only its FD_CLOEXEC.
        assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }, 0);
        let out = dir.path().join("fds");
        let def = FunctionDef {
            name: "fds".into(),
            // The handler is the last argument: the shell's $0, here the output file.
            handler: out.to_string_lossy().into_owned(),
            code: dir.path().to_path_buf(),
            command: vec!["sh".into(), "-c".into(), "ls /proc/$$/fd > \"$0\"".into()],
            environment: Default::default(),
            timeout: Duration::from_secs(3),
            memory_mb: 128,
            concurrency: 1,
            remote: None,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut child = spawn(&def, "us-east-1", "127.0.0.1:9".parse().unwrap(), 1).unwrap();
            assert!(child.wait().await.unwrap().success());
        });
        let listed = std::fs::read_to_string(&out).unwrap();
        let fds: Vec<i32> = listed
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        assert!(
            !fds.contains(&fd),
            "fd {fd} leaked into the function: {fds:?}"
        );
        drop(held);
    }
}
