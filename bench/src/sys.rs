//! Thin Linux helpers: CPU pinning, timer slack, `ppoll`, and process CPU time from `/proc`.

use std::io;
use std::time::Duration;

/// Pins the calling thread to `cpus`.
pub fn pin_current_thread(cpus: &[usize]) -> io::Result<()> {
    set_affinity(0, cpus)
}

/// Sets the CPU affinity of thread or process `pid` (0: the caller).
pub fn set_affinity(pid: libc::pid_t, cpus: &[usize]) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET write inside it; the pointer and size
    // passed to sched_setaffinity describe that set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Makes the calling thread's timers fire as close to their deadline as the kernel can.
pub fn set_timer_slack_ns(ns: u64) {
    // SAFETY: PR_SET_TIMERSLACK takes an integer argument and touches nothing else.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0);
    }
}

/// `ppoll` on `fds` for at most `timeout_ns` nanoseconds; the number of ready fds, 0 on timeout
/// or -1 on error (EINTR included).
pub fn ppoll(fds: &mut [libc::pollfd], timeout_ns: u64) -> i32 {
    let ts = libc::timespec {
        tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `fds` is a valid slice of pollfd for its length; `ts` lives across the call.
    unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    }
}

/// Clock ticks per second for `/proc/*/stat` times.
fn ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Parses `(ppid, utime + stime in ticks)` from the text of `/proc/PID/stat`.
pub fn parse_stat(stat: &str) -> Option<(i32, u64)> {
    // The command name is in parentheses and may contain spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) … utime(11) stime(12).
    let ppid = f.get(1)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// CPU time (user + system) used so far by process `pid` and its direct children (nginx's
/// workers are children of its master).
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    let own = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (_, mut ticks) =
        parse_stat(&own).ok_or_else(|| io::Error::other("unreadable /proc stat"))?;
    for e in std::fs::read_dir("/proc")?.flatten() {
        let name = e.file_name();
        let Some(child) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if child == pid {
            continue;
        }
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{child}/stat")) {
            if let Some((ppid, t)) = parse_stat(&s) {
                if ppid as u32 == pid {
                    ticks += t;
                }
            }
        }
    }
    Ok(Duration::from_secs_f64(
        ticks as f64 / ticks_per_sec() as f64,
    ))
}

/// Number of CPUs this process may run on.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat() {
        let s = "1234 (nginx: worker) S 1200 1234 1234 0 -1 4194624 100 0 0 0 250 75 0 0 20 0 1 0";
        assert_eq!(parse_stat(s), Some((1200, 325)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn own_cpu_time_is_readable() {
        let t = cpu_time(std::process::id()).unwrap();
        assert!(t < Duration::from_secs(100_000));
    }
}
