//! `tollgate-bench scale` end to end at tiny sizes against the debug `tollgate` binary
//! (target/debug/tollgate, built by `cargo test --workspace`; alone:
//! `cargo build -p tollgate-node --bin tollgate`).

use tollgate_bench::scale::{self, ScaleOpts};

#[test]
fn a_tiny_scale_run_measures_every_phase() {
    let o = ScaleOpts {
        tollgate: None,
        keys: 200,
        batch: 64,
        apis: 3,
        resources: 2,
        changes: 1,
        secs: 1.0,
        rate: 200.0,
        connections: 4,
        threads: 1,
        progress: false,
    };
    let r = scale::run(&o).expect("scale run");
    assert_eq!(r.keys, 200);
    assert_eq!(
        r.batches.iter().map(|b| b.keys).collect::<Vec<_>>(),
        vec![64, 64, 64, 8]
    );
    assert!(r.rss_before_kib > 0 && r.rss_after_apis_kib > 0);
    // The change was seen (a 201 after the UpdateIntegration + CreateDeployment).
    assert!(r.change_visible_ms > 0.0);
    assert_eq!(r.changes_during_apis_ms.len(), 1, "{r:?}");
    assert!(r.changes_during_apis_ms[0] > 0.0);
    assert!(r.restart_secs > 0.0);
    assert_eq!(r.active_keys, 200);
    assert_eq!(r.failed, 0, "{r:?}");
    assert!(r.ok_per_s > 100.0, "{r:?}");
    let t = scale::table(&r);
    assert!(t.contains("keys imported                      200"), "{t}");
}
