//! A small recorded history that satisfies every invariant, for the checker's tests to plant
//! violations into.

use crate::history::*;
use crate::schedule::{Fault, Role};

const S: Micros = 1_000_000;

fn write(
    seq: u64,
    kind: WriteKind,
    node: u64,
    at: f64,
    index: u64,
    object: &str,
    token: &str,
) -> WriteRecord {
    let invoke_us = (at * S as f64) as Micros;
    WriteRecord {
        seq,
        kind,
        node,
        invoke_us,
        complete_us: invoke_us + 100_000,
        outcome: Outcome::Ok,
        log_index: Some(index),
        object: Some(object.into()),
        token: token.into(),
        observed: Default::default(),
        attempts: 1,
    }
}

/// Three nodes; node 2 leads (term 2) until it is killed at 5.0 s; node 3 is elected (term 3,
/// named by a majority at 5.9 s); node 2 restarts at 6.5 s and serves from 6.8 s. Four writes
/// are acknowledged, one was not sent; every probe was answered; the ledger is exact.
pub fn clean_history() -> History {
    let mut h = History {
        nodes: 3,
        end_us: 10 * S,
        ..Default::default()
    };
    for node in 1..=3 {
        h.node_events.push(NodeEvent {
            node,
            at_us: 0,
            life: Life::Started,
        });
        h.node_events.push(NodeEvent {
            node,
            at_us: S,
            life: Life::Serving,
        });
    }
    for (at_us, life) in [
        (5 * S, Life::Killed),
        (6_500_000, Life::Started),
        (6_800_000, Life::Serving),
    ] {
        h.node_events.push(NodeEvent {
            node: 2,
            at_us,
            life,
        });
    }
    let sample = |node, at_us, leader, term| LeaderSample {
        node,
        at_us,
        leader,
        term,
    };
    h.leaders = vec![
        sample(1, 1_500_000, Some(2), Some(2)),
        sample(2, 1_500_000, Some(2), Some(2)),
        sample(3, 1_500_000, Some(2), Some(2)),
        sample(2, 5_200_000, None, None),
        sample(1, 5_300_000, None, Some(2)),
        sample(1, 5_800_000, Some(3), Some(3)),
        sample(3, 5_900_000, Some(3), Some(3)),
        sample(2, 7_000_000, Some(3), Some(3)),
    ];
    h.faults.push(FaultRecord {
        step: 0,
        fault: Fault::Kill {
            role: Role::Leader,
            down_ms: 1500,
        },
        targets: vec![2],
        leader_before: Some(2),
        term_before: Some(2),
        start_us: 5 * S,
        heal_us: 6_500_000,
        recovered_us: Some(7 * S),
        notes: Vec::new(),
    });
    h.writes = vec![
        write(1, WriteKind::CreateKey, 1, 2.0, 10, "k1", "chaos-k-1"),
        write(
            2,
            WriteKind::CreateDeployment,
            2,
            2.2,
            11,
            "d2",
            "chaos-d-2",
        ),
        write(3, WriteKind::UpdateStage, 3, 2.4, 12, "s3", "v3"),
        WriteRecord {
            seq: 5,
            kind: WriteKind::CreateKey,
            node: 2,
            invoke_us: 5_100_000,
            complete_us: 5_100_300,
            outcome: Outcome::NotSent {
                error: "connection refused".into(),
            },
            log_index: None,
            object: None,
            token: "chaos-k-5".into(),
            observed: Default::default(),
            attempts: 1,
        },
        write(4, WriteKind::UpdateStage, 1, 6.0, 20, "s4", "v4"),
    ];
    let vars = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    h.writes[2].observed = vars(&[("s3", "v3"), ("last", "v3")]);
    h.writes[4].observed = vars(&[("s3", "v3"), ("s4", "v4"), ("last", "v4")]);
    for node in 1..=3u64 {
        for i in 2..20u64 {
            let sent_us = i * S / 2;
            if node == 2 && (5 * S..7 * S).contains(&sent_us) {
                continue;
            }
            h.probes.push(Probe {
                node,
                sent_us,
                done_us: sent_us + 1000,
                status: Some(200),
                sent: true,
                error: None,
            });
        }
    }
    let served = |n: u64| h.probes.iter().filter(|p| p.node == n).count() as u64;
    let usage: std::collections::BTreeMap<u64, u64> = (1..=3).map(|n| (n, served(n))).collect();
    for node in 1..=3 {
        h.finals.push(NodeFinal {
            node,
            last_applied: 25,
            digest: "abcdef0123456789".into(),
            key_ids: ["k1".to_string()].into(),
            deployment_ids: ["d2".to_string()].into(),
            key_names: [("chaos-k-1".to_string(), 1)].into(),
            deployment_descriptions: [("chaos-d-2".to_string(), 1)].into(),
            stage_variables: [
                ("s3".to_string(), "v3".to_string()),
                ("s4".to_string(), "v4".to_string()),
                ("last".to_string(), "v4".to_string()),
            ]
            .into(),
            usage: usage.clone(),
            quota_usage: None,
            error: None,
        });
    }
    h
}

#[test]
fn the_clean_history_passes_every_check() {
    let a = super::check(&clean_history(), &super::CheckConfig::default());
    assert!(a.holds(), "{:#?}", a.broken());
}
