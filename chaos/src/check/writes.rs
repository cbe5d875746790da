//! Acknowledged writes: present on every node, ordered as they happened, and the register
//! stage showing the last acknowledged value.

use super::{secs, Verdict};
use crate::history::{History, NodeFinal, Outcome, WriteKind, WriteRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The stage variable every UpdateStage write sets to its token (a last-writer-wins register).
pub const REGISTER_VARIABLE: &str = "last";

/// How the writes ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteStats {
    /// Writes sent (or attempted).
    pub total: usize,
    /// Acknowledged.
    pub acked: usize,
    /// Never reached a node.
    pub not_sent: usize,
    /// Error answers.
    pub errors: usize,
    /// No answer.
    pub indeterminate: usize,
    /// Acknowledged, per kind.
    pub acked_by_kind: BTreeMap<String, usize>,
}

/// Counts the writes by outcome.
pub fn stats(h: &History) -> WriteStats {
    let mut s = WriteStats {
        total: h.writes.len(),
        ..Default::default()
    };
    for w in &h.writes {
        match &w.outcome {
            Outcome::Ok => {
                s.acked += 1;
                *s.acked_by_kind.entry(kind_name(w.kind).into()).or_insert(0) += 1;
            }
            Outcome::NotSent { .. } => s.not_sent += 1,
            Outcome::Error { .. } => s.errors += 1,
            Outcome::Indeterminate { .. } => s.indeterminate += 1,
        }
    }
    s
}

/// The kind's name as the history writes it.
pub fn kind_name(k: WriteKind) -> &'static str {
    match k {
        WriteKind::CreateKey => "create_key",
        WriteKind::CreateDeployment => "create_deployment",
        WriteKind::UpdateStage => "update_stage",
    }
}

fn describe(w: &WriteRecord) -> String {
    format!(
        "write #{} ({} via node {}, sent {}, acked {}, log index {})",
        w.seq,
        kind_name(w.kind),
        w.node,
        secs(w.invoke_us),
        secs(w.complete_us),
        w.log_index.map_or("?".into(), |i| i.to_string())
    )
}

fn acked(h: &History) -> impl Iterator<Item = &WriteRecord> {
    h.writes.iter().filter(|w| w.outcome.is_ok())
}

fn holds_write(f: &NodeFinal, w: &WriteRecord) -> bool {
    let Some(obj) = &w.object else {
        return false;
    };
    match w.kind {
        WriteKind::CreateKey => f.key_ids.contains(obj),
        WriteKind::CreateDeployment => f.deployment_ids.contains(obj),
        // Stage updates overwrite each other: checked as registers by [`register`].
        WriteKind::UpdateStage => true,
    }
}

/// Every acknowledged create (key, deployment) is present on every node; acknowledged stage
/// updates are checked by [`register`] (a later update of the same variable overwrites an
/// earlier one). Writes that failed or got no answer may or may not be present: neither is a
/// violation.
pub fn presence(h: &History) -> Verdict {
    let mut violations = Vec::new();
    if h.finals.len() < h.final_members() {
        violations.push(format!(
            "only {} of {} nodes' final states were read",
            h.finals.len(),
            h.final_members()
        ));
    }
    let mut checked = 0usize;
    for f in &h.finals {
        if let Some(e) = &f.error {
            violations.push(format!("node {}: state unreadable: {e}", f.node));
            continue;
        }
        for w in acked(h) {
            checked += 1;
            if w.object.is_none() {
                violations.push(format!("{}: acknowledged without an id", describe(w)));
            } else if !holds_write(f, w) {
                violations.push(format!("{} is missing on node {}", describe(w), f.node));
            }
        }
    }
    let n = acked(h).count();
    let summary = format!(
        "{n} acknowledged writes checked on {} nodes ({checked} checks): {} missing",
        h.finals.len(),
        violations.len()
    );
    Verdict::from_violations("no lost acknowledged write", summary, violations)
}

/// Acknowledged writes are ordered as they happened: each has a log index, no two share one,
/// and a write acknowledged before another was sent sits earlier in the log.
pub fn order(h: &History) -> Verdict {
    let mut violations = Vec::new();
    let mut by_index: BTreeMap<u64, &WriteRecord> = BTreeMap::new();
    let mut indexed: Vec<(&WriteRecord, u64)> = Vec::new();
    for w in acked(h) {
        match w.log_index {
            None => violations.push(format!("{}: acknowledged without a log index", describe(w))),
            Some(i) => {
                if let Some(other) = by_index.insert(i, w) {
                    violations.push(format!(
                        "{} and {} were both acknowledged at log index {i}",
                        describe(other),
                        describe(w)
                    ));
                }
                indexed.push((w, i));
            }
        }
    }
    // Sweep: writes by acknowledgement time; for each write (by send time), the highest index
    // among the writes acknowledged before it was sent must be below its own.
    let mut by_ack = indexed.clone();
    by_ack.sort_by_key(|(w, _)| w.complete_us);
    let mut by_send = indexed.clone();
    by_send.sort_by_key(|(w, _)| w.invoke_us);
    let mut k = 0;
    let mut highest: Option<(&WriteRecord, u64)> = None;
    for (b, bi) in &by_send {
        while k < by_ack.len() && by_ack[k].0.complete_us < b.invoke_us {
            if highest.is_none_or(|(_, hi)| by_ack[k].1 > hi) {
                highest = Some(by_ack[k]);
            }
            k += 1;
        }
        if let Some((a, ai)) = highest {
            if ai >= *bi {
                violations.push(format!(
                    "{} was acknowledged before {} was sent, but is not earlier in the log",
                    describe(a),
                    describe(b)
                ));
            }
        }
    }
    let summary = format!(
        "{} acknowledged writes, log indexes unique and in real-time order: {} violations",
        indexed.len(),
        violations.len()
    );
    Verdict::from_violations("acknowledged writes in order", summary, violations)
}

/// The register stage's variables: every UpdateStage sets its slot variable (`object`) and
/// [`REGISTER_VARIABLE`] to its token. On every node each such variable must hold the token of
/// the acknowledged update of it with the highest log index — or that of an unacknowledged
/// update (which may have been applied later). An older acknowledged value means the node
/// applied the updates out of order; no acknowledged value at all, that the last one was lost.
pub fn register(h: &History) -> Verdict {
    let updates: Vec<&WriteRecord> = h
        .writes
        .iter()
        .filter(|w| w.kind == WriteKind::UpdateStage)
        .collect();
    // Variable → the updates that set it.
    let mut vars: BTreeMap<&str, Vec<&WriteRecord>> = BTreeMap::new();
    for w in &updates {
        vars.entry(REGISTER_VARIABLE).or_default().push(w);
        if let Some(o) = &w.object {
            vars.entry(o.as_str()).or_default().push(w);
        }
    }
    let mut violations = Vec::new();
    let mut checked = 0usize;
    for (var, writers) in &vars {
        let Some(expected) = writers
            .iter()
            .filter(|w| w.outcome.is_ok())
            .max_by_key(|w| w.log_index)
        else {
            continue; // nothing acknowledged: any value (or none) will do
        };
        for f in h.finals.iter().filter(|f| f.error.is_none()) {
            checked += 1;
            let value = f.stage_variables.get(*var);
            if value == Some(&expected.token) {
                continue;
            }
            match writers.iter().find(|w| Some(&w.token) == value) {
                Some(w) if !w.outcome.is_ok() => {} // an unacknowledged update landed later
                Some(w) => violations.push(format!(
                    "node {}: stage variable {var} shows {}, but {} was acknowledged later in the log",
                    f.node,
                    describe(w),
                    describe(expected)
                )),
                None => violations.push(format!(
                    "node {}: stage variable {var} is {:?}, written by no update; {} is lost",
                    f.node,
                    value,
                    describe(expected)
                )),
            }
        }
    }
    let summary = format!(
        "{} stage updates over {} variables ({checked} checks): {} wrong",
        updates.len(),
        vars.len(),
        violations.len()
    );
    Verdict::from_violations(
        "stage registers hold the last acknowledged update",
        summary,
        violations,
    )
}

/// No stage update overwrote an earlier one: the stage each acknowledged UpdateStage answered
/// with (read back after it applied) holds, for every variable, the acknowledged update of that
/// variable that precedes it in the log, or a later one. (UpdateStage is a read-modify-write of
/// the whole stage on the node that takes it; a node that read the stage before applying an
/// earlier acknowledged update would write the old values back.)
pub fn lost_updates(h: &History) -> Verdict {
    let updates: Vec<(&WriteRecord, u64)> = h
        .writes
        .iter()
        .filter(|w| w.kind == WriteKind::UpdateStage && w.outcome.is_ok())
        .filter_map(|w| Some((w, w.log_index?)))
        .collect();
    let by_token: BTreeMap<&str, &WriteRecord> = h
        .writes
        .iter()
        .filter(|w| w.kind == WriteKind::UpdateStage)
        .map(|w| (w.token.as_str(), w))
        .collect();
    let mut violations = Vec::new();
    let mut reported = std::collections::BTreeSet::new();
    let mut checked = 0usize;
    let mut updates = updates;
    updates.sort_by_key(|(_, i)| *i);
    for (k, ki) in &updates {
        if k.observed.is_empty() {
            continue;
        }
        checked += 1;
        // Per variable, the latest acknowledged update before k in the log.
        let mut latest: BTreeMap<&str, (&WriteRecord, u64)> = BTreeMap::new();
        for (w, wi) in updates.iter().filter(|(_, wi)| wi < ki) {
            for var in [Some(REGISTER_VARIABLE), w.object.as_deref()]
                .into_iter()
                .flatten()
            {
                if latest.get(var).is_none_or(|(_, li)| wi > li) {
                    latest.insert(var, (w, *wi));
                }
            }
        }
        for (var, (prev, pi)) in latest {
            let seen = k.observed.get(var);
            let writer = seen.and_then(|v| by_token.get(v.as_str()));
            let lost = match writer {
                None => true,
                Some(w) if !w.outcome.is_ok() => false,
                Some(w) => w.log_index.is_some_and(|i| i < pi),
            };
            // Report each overwritten update once, at the first update that lost it (later
            // ones inherit the loss).
            if lost && reported.insert((prev.seq, var)) {
                violations.push(format!(
                    "{} answered with {var} = {:?}: it overwrote {}",
                    describe(k),
                    seen,
                    describe(prev)
                ));
            }
        }
    }
    let summary = format!(
        "{checked} acknowledged stage updates' answers checked: {} overwrote an earlier acknowledged update",
        violations.len()
    );
    Verdict::from_violations("no stage update lost an earlier one", summary, violations)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn a_clean_history_passes() {
        let h = clean_history();
        assert!(presence(&h).holds, "{:?}", presence(&h));
        assert!(order(&h).holds, "{:?}", order(&h));
        assert!(register(&h).holds, "{:?}", register(&h));
    }

    #[test]
    fn an_update_that_wrote_back_a_stale_stage_is_caught() {
        let h = clean_history();
        assert!(lost_updates(&h).holds, "{:?}", lost_updates(&h));
        // Write #4 was applied on a node that had not applied #3 yet: its answer lacks s3.
        let mut h = clean_history();
        h.writes[4].observed.remove("s3");
        let v = lost_updates(&h);
        assert!(!v.holds);
        assert!(v.violations[0].contains("overwrote write #3"), "{v:?}");
    }

    #[test]
    fn a_dropped_acknowledged_write_is_caught() {
        let mut h = clean_history();
        // Plant it: node 3 lost the key of write #1.
        let key = h.writes[0].object.clone().unwrap();
        h.finals[2].key_ids.remove(&key);
        let v = presence(&h);
        assert!(!v.holds);
        assert_eq!(v.violations.len(), 1);
        assert!(v.violations[0].contains("write #1"), "{v:?}");
        assert!(v.violations[0].contains("node 3"), "{v:?}");
    }

    #[test]
    fn an_unacknowledged_write_may_be_missing() {
        let mut h = clean_history();
        let mut w = h.writes[0].clone();
        w.seq = 99;
        w.object = Some("never-applied".into());
        w.outcome = Outcome::Indeterminate {
            error: "timeout".into(),
        };
        w.log_index = None;
        h.writes.push(w);
        assert!(presence(&h).holds);
        assert!(order(&h).holds);
    }

    #[test]
    fn reordered_writes_are_caught() {
        let mut h = clean_history();
        // Write #2 was sent after #1 was acknowledged, yet landed before it in the log.
        let (a, b) = (h.writes[0].log_index, h.writes[1].log_index);
        h.writes[0].log_index = b;
        h.writes[1].log_index = a;
        let v = order(&h);
        assert!(!v.holds);
        assert!(v.violations[0].contains("write #1"), "{v:?}");
    }

    #[test]
    fn two_writes_at_one_index_are_caught() {
        let mut h = clean_history();
        h.writes[2].log_index = h.writes[1].log_index;
        let v = order(&h);
        assert!(!v.holds);
        assert!(v.violations.iter().any(|m| m.contains("both acknowledged")));
    }

    #[test]
    fn a_stale_register_is_caught_and_a_late_unacknowledged_one_is_not() {
        let mut h = clean_history();
        let first = h
            .writes
            .iter()
            .find(|w| w.kind == WriteKind::UpdateStage)
            .unwrap()
            .token
            .clone();
        h.finals[1]
            .stage_variables
            .insert(REGISTER_VARIABLE.into(), first);
        let v = register(&h);
        assert!(!v.holds, "{v:?}");
        assert!(v.violations[0].contains("node 2"));
        assert!(v.violations[0].contains("acknowledged later"), "{v:?}");

        // The last update of a slot lost on one node.
        let mut h = clean_history();
        h.finals[0].stage_variables.remove("s4");
        let v = register(&h);
        assert!(!v.holds);
        assert!(v.violations[0].contains("lost"), "{v:?}");

        let mut h = clean_history();
        let mut late = h.writes.last().unwrap().clone();
        late.seq = 100;
        late.token = "v100".into();
        late.outcome = Outcome::Error {
            status: 503,
            message: "timed out".into(),
        };
        h.writes.push(late);
        for f in &mut h.finals {
            f.stage_variables
                .insert(REGISTER_VARIABLE.into(), "v100".into());
            f.stage_variables.insert("s4".into(), "v100".into());
        }
        assert!(register(&h).holds, "{:?}", register(&h));
    }
}
