//! `tollgate-chaos run --quick` against a real 3-node cluster of `tollgate` processes: every
//! invariant must hold (the run exits non-zero otherwise); then the checker, given the run's
//! own recorded history with a planted violation (an acknowledged write dropped from one
//! node's state), must say so.
//!
//! The `tollgate` binary is the one beside this test (built by `cargo test --workspace`), built
//! first with `cargo build -p tollgate-node --bin tollgate` when it is missing or older than
//! the node's sources, so the run uses the node code of this checkout.
//! `CHAOS_SEED` picks the schedule (default 7).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The runs take turns: three clusters at once on a 2-core machine slow each other down, and
/// their free ports are picked independently (a port found free by one run can be taken by
/// another before its node binds it).
static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn target_dir() -> PathBuf {
    // This test runs from <target>/<profile>/deps.
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("target profile dir")
        .to_path_buf()
}

/// The newest modification time of the sources the `tollgate` binary is built from.
fn newest_source() -> Option<std::time::SystemTime> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut newest = std::fs::metadata(root.join("Cargo.lock"))
        .ok()?
        .modified()
        .ok()?;
    let mut stack: Vec<PathBuf> = ["node", "consensus", "proto"]
        .iter()
        .map(|c| root.join(c))
        .collect();
    let mut seen = 0usize;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            seen += 1;
            if seen > 100_000 {
                return None;
            }
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" && name != "tests" && name != "benches" {
                    stack.push(path);
                }
            } else if let Ok(m) = entry.metadata().and_then(|m| m.modified()) {
                newest = newest.max(m);
            }
        }
    }
    Some(newest)
}

/// The `tollgate` binary beside this test's profile folder, built first when it is missing or
/// older than its sources (`cargo test --workspace` has just built it; `cargo test -p
/// tollgate-chaos` alone may not have).
fn tollgate() -> PathBuf {
    let profile_dir = target_dir();
    let exe = profile_dir.join("tollgate");
    let built = std::fs::metadata(&exe).and_then(|m| m.modified()).ok();
    let fresh = matches!((built, newest_source()), (Some(b), Some(s)) if b >= s);
    if !fresh {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "tollgate-node", "--bin", "tollgate"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        if let Some(target) = profile_dir.parent() {
            build.env("CARGO_TARGET_DIR", target);
        }
        let status = build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the tollgate binary failed");
    }
    assert!(exe.is_file(), "no {}", exe.display());
    exe
}

/// One `tollgate-chaos run --quick` (seed `CHAOS_SEED`, default 7) with `args` added, against
/// this checkout's `tollgate`.
struct QuickRun {
    /// Holds the report folder.
    dir: tempfile::TempDir,
    report_dir: PathBuf,
    /// The command line, for messages.
    what: String,
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl QuickRun {
    fn start(args: &[&str]) -> QuickRun {
        let exe = tollgate();
        let dir = tempfile::tempdir().expect("tempdir");
        let report_dir = dir.path().join("report");
        let seed = std::env::var("CHAOS_SEED").unwrap_or_else(|_| "7".into());
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_tollgate-chaos"))
            .args(["run", "--quick", "--seed", &seed])
            .args(args)
            .arg("--report-dir")
            .arg(&report_dir)
            .arg("--tollgate")
            .arg(&exe)
            .output()
            .expect("run tollgate-chaos");
        let took = started.elapsed();
        let run = QuickRun {
            dir,
            report_dir,
            what: format!(
                "tollgate-chaos run --quick --seed {seed} {}",
                args.join(" ")
            ),
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took,
        };
        println!("{}", run.stdout);
        println!("{} took {took:?}", run.what);
        run
    }

    /// Fails the test unless the run exited 0 (every invariant held) or, with `or_broken`,
    /// 1 (an invariant broken: the test reads which from the report).
    fn assert_finished(&self, or_broken: bool) {
        assert!(
            self.status.success() || (or_broken && self.status.code() == Some(1)),
            "{} failed ({}):\n{}\n{}",
            self.what,
            self.status,
            self.stdout,
            self.stderr
        );
    }

    /// A JSON file of the report folder (`report.json`, `history.json`).
    fn json(&self, name: &str) -> serde_json::Value {
        let bytes = std::fs::read(self.report_dir.join(name)).expect(name);
        serde_json::from_slice(&bytes).expect(name)
    }
}

#[test]
fn quick_chaos_run_holds_every_invariant_and_a_planted_violation_is_caught() {
    let _turn = one_at_a_time();
    let run = QuickRun::start(&[]);
    run.assert_finished(false);
    assert!(
        run.took < Duration::from_secs(180),
        "the quick run took {:?}",
        run.took
    );
    let report_dir = &run.report_dir;
    let dir = run.dir.path();
    let report = run.json("report.json");
    assert_eq!(report["passed"], true);
    let verdicts = report["analysis"]["verdicts"].as_array().expect("verdicts");
    assert!(verdicts.len() >= 10, "{verdicts:?}");
    assert!(verdicts.iter().all(|v| v["holds"] == true));
    assert_eq!(
        report["analysis"]["elections"].as_array().map(Vec::len),
        Some(6)
    );
    let acked = report["analysis"]["writes"]["acked"].as_u64().unwrap_or(0);
    assert!(acked >= 20, "only {acked} writes were acknowledged");
    // The leader kill always needs a new leader; whether the later leader faults cause an
    // election depends on timing (a leader back quickly can keep its term), so at least one.
    assert!(
        report["election"]["count"].as_u64().unwrap_or(0) >= 1,
        "{}",
        report["election"]
    );
    assert!(std::fs::read_to_string(report_dir.join("report.md"))
        .expect("report.md")
        .contains("## Timeline"));

    // The recorded history checks clean again, offline…
    let history_path = report_dir.join("history.json");
    let check = |path: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_tollgate-chaos"))
            .arg("check")
            .arg(path)
            .output()
            .expect("run tollgate-chaos check")
    };
    let again = check(&history_path);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );

    // …and with one acknowledged key dropped from node 2's state, it is caught.
    let mut h: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&history_path).expect("history")).expect("json");
    let key = h["writes"]
        .as_array()
        .expect("writes")
        .iter()
        .find(|w| w["kind"] == "create_key" && w["outcome"]["outcome"] == "ok")
        .and_then(|w| w["object"].as_str())
        .expect("an acknowledged key")
        .to_string();
    let keys = h["finals"][1]["key_ids"].as_array_mut().expect("key ids");
    keys.retain(|k| k.as_str() != Some(key.as_str()));
    let planted = dir.join("planted.json");
    std::fs::write(&planted, h.to_string()).expect("write");
    let caught = check(&planted);
    let text = String::from_utf8_lossy(&caught.stdout);
    assert_eq!(caught.status.code(), Some(1), "{text}");
    assert!(
        text.contains("[FAIL] no lost acknowledged write") && text.contains("missing on node 2"),
        "{text}"
    );
}

/// The quick schedule (leader kill, partitions, pauses) against a cluster whose usage ledger is
/// sharded over three Raft groups (`--ledger-groups 3`): every invariant holds, the usage
/// ledger's included (each node's key counted once, within what was served, in whichever
/// group it lives).
#[test]
fn quick_chaos_run_over_three_ledger_groups_holds_every_invariant() {
    let _turn = one_at_a_time();
    let run = QuickRun::start(&["--ledger-groups", "3"]);
    run.assert_finished(false);
    assert!(
        run.stderr.contains("usage ledger over 3 Raft groups"),
        "{}",
        run.stderr
    );
    let report = run.json("report.json");
    assert_eq!(report["passed"], true);
    let verdicts = report["analysis"]["verdicts"].as_array().expect("verdicts");
    assert!(verdicts.iter().all(|v| v["holds"] == true));
    assert!(
        verdicts
            .iter()
            .any(|v| v["name"].as_str().is_some_and(|n| n.contains("usage"))),
        "{verdicts:?}"
    );
}

/// Membership changes while the ledger groups move: the quick schedule with two membership
/// changes inserted (`--membership 2`: node 4 added as a learner and promoted, then a voter
/// removed, both with `tollgate cluster add-node` / `remove-node`) over two ledger groups.
/// Every invariant holds, the membership ones included: every group follows each change,
/// ledger group leaders spread again, the removed node acknowledges no write; acknowledged
/// writes are on every final member, the usage ledger counts each key once, and the quota key
/// (sent through every member in turn, node 4 too) stays within its overshoot bound.
#[test]
fn quick_chaos_run_with_membership_changes_over_two_ledger_groups_holds_every_invariant() {
    let _turn = one_at_a_time();
    let run = QuickRun::start(&["--ledger-groups", "2", "--membership", "2"]);
    // Exit 1 is an invariant broken; which one is read from the report below.
    run.assert_finished(true);
    assert!(
        run.took < Duration::from_secs(180),
        "the quick run took {:?}",
        run.took
    );
    let stdout = &run.stdout;
    let report = run.json("report.json");
    assert_eq!(report["membership"], 2);
    let verdicts = report["analysis"]["verdicts"].as_array().expect("verdicts");
    // Every invariant holds (after a promotion to 4 voters a ledger group's leadership once
    // did not always reach its preferred voter: docs/CHAOS.md, "What the membership runs
    // found", item 1, fixed by the leader's handover in `keep_leader_spread`).
    for v in verdicts {
        assert!(v["holds"] == true, "invariant broken: {v}\n{stdout}");
    }
    for name in [
        "membership changes reach every group",
        "ledger group leaders spread after membership changes",
        "a removed node stops serving writes",
        "the quota holds (overshoot bound)",
        "quota usage counted once",
    ] {
        assert!(
            verdicts.iter().any(|v| v["name"] == name),
            "no verdict {name}: {verdicts:?}"
        );
    }
    let calls = report["membership_calls"]
        .as_array()
        .expect("membership calls");
    let actions: Vec<&str> = calls.iter().filter_map(|c| c["action"].as_str()).collect();
    // The removal re-adds the node on a fresh folder in about a third of the seeds (not 7):
    // then two more calls, and four members at the end.
    let readded = actions.len() == 5;
    let expected_actions: &[&str] = if readded {
        &["add", "promote", "remove", "add", "promote"]
    } else {
        &["add", "promote", "remove"]
    };
    assert_eq!(actions, expected_actions, "{calls:?}");
    assert_eq!(calls[0]["node"], 4);
    let removed = calls[2]["node"].as_u64().expect("removed node");
    assert!(calls[2]["removed_write"].is_u64(), "{}", calls[2]);
    // Every group's views after the removal: the removed node in none of them, and two
    // groups (the configuration group and one ledger group) on every member.
    let views = calls[2]["views"].as_array().expect("views");
    assert_eq!(views.len(), 3 * 2, "{views:?}");
    for v in views {
        assert!(
            !v["voters"]
                .as_array()
                .expect("voters")
                .iter()
                .any(|x| x.as_u64() == Some(removed)),
            "{v}"
        );
    }
    // The final state was read on the three members left (node 4 among them unless it was
    // the one removed), or on all four when the removed node was added back.
    let history = run.json("history.json");
    let members: Vec<u64> = history["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m.as_u64())
        .collect();
    let expected: Vec<u64> = (1..=4).filter(|n| readded || *n != removed).collect();
    assert_eq!(members, expected);
}
