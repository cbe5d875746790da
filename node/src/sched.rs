//! The control thread's CPU priority. The control thread runs Raft (heartbeats, votes, the
//! election timer) beside the admin API; the data-plane workers, one per core by default,
//! can keep every core busy. When they do (or other processes do), a heartbeat sent or
//! answered late looks like a dead leader to a follower, and it starts an election no fault
//! caused. So once the workers are started (they keep the default priority), the control
//! thread raises its own: Linux schedules it ahead of equally busy default-priority threads.
//! Raising needs `CAP_SYS_NICE` (or an `RLIMIT_NICE` that allows it); without, the node runs
//! as before and says so once.

/// The nice value the control thread asks for (default 0; lower is more CPU).
pub const CONTROL_NICE: i32 = -5;

/// Sets the calling thread's nice value to `nice` (threads it starts later inherit it).
/// Linux only; elsewhere it does nothing and says so.
pub fn set_this_thread_nice(nice: i32) -> Result<(), String> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions and cannot fail.
        let tid = unsafe { libc::gettid() };
        // SAFETY: setpriority only reads its integer arguments; on Linux, PRIO_PROCESS with a
        // thread id changes that thread alone. A failure is reported through errno.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().to_string())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = nice;
        Err("thread priorities are only set on Linux".into())
    }
}

/// Raises the control thread (the caller) to [`CONTROL_NICE`], logging the outcome.
pub fn raise_control_thread() {
    match set_this_thread_nice(CONTROL_NICE) {
        Ok(()) => tracing::info!(nice = CONTROL_NICE, "control thread priority raised"),
        Err(e) => tracing::info!(
            error = %e,
            "could not raise the control thread's priority (needs CAP_SYS_NICE); Raft \
             heartbeats compete with the data plane as equals"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_can_lower_its_own_priority() {
        // Lowering needs no privilege, so this runs anywhere; it is a thread of its own so
        // the test runner's threads keep theirs.
        std::thread::spawn(|| {
            set_this_thread_nice(3).expect("lowering a thread's priority");
            // SAFETY: as above; getpriority reads its arguments only.
            let now = unsafe {
                *libc::__errno_location() = 0;
                libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
            };
            assert_eq!(now, 3);
        })
        .join()
        .unwrap();
    }
}
