//! No write applied twice: every create the workload made (an API key named by its token, a
//! deployment described by its token) is held at most once on every node. Writers retry a 503
//! or a lost answer with the same invocation id, as the AWS SDKs do; a node that applied such
//! a retry again, or a leader change that let a forwarded write commit twice, leaves two
//! objects with one token.

use super::writes::kind_name;
use super::Verdict;
use crate::history::{History, WriteKind};
use std::collections::BTreeMap;

/// Checks that no node holds two objects made by one write.
pub fn check(h: &History) -> Verdict {
    let mut violations = Vec::new();
    let kinds: BTreeMap<&str, (WriteKind, u64)> = h
        .writes
        .iter()
        .map(|w| (w.token.as_str(), (w.kind, w.seq)))
        .collect();
    let mut read = 0;
    for f in h.finals.iter().filter(|f| f.error.is_none()) {
        read += 1;
        let held = f.key_names.iter().chain(&f.deployment_descriptions);
        for (token, n) in held.filter(|(_, n)| **n > 1) {
            let what = kinds.get(token.as_str()).map_or_else(
                || format!("token {token} (no recorded write)"),
                |(k, seq)| format!("write #{seq} ({}, token {token})", kind_name(*k)),
            );
            violations.push(format!("{what} applied {n} times on node {}", f.node));
        }
    }
    let retried = h.writes.iter().filter(|w| w.attempts > 1).count();
    let creates = h
        .writes
        .iter()
        .filter(|w| w.kind != WriteKind::UpdateStage)
        .count();
    Verdict::from_violations(
        "no write applied twice",
        format!(
            "{creates} create writes checked on {read} nodes; {retried} writes were retried \
             with their invocation id; {} applied more than once",
            violations.len()
        ),
        violations,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::fixtures::clean_history;

    #[test]
    fn a_clean_history_holds() {
        let h = clean_history();
        let v = check(&h);
        assert!(v.holds, "{v:?}");
    }

    #[test]
    fn a_write_applied_twice_is_caught() {
        // Planted: node 3 holds two keys named by write #1's token, as a retry applied again
        // would leave it.
        let mut h = clean_history();
        h.writes[0].attempts = 2;
        h.finals[2].key_names.insert("chaos-k-1".into(), 2);
        let v = check(&h);
        assert!(!v.holds, "{v:?}");
        assert_eq!(v.violations.len(), 1, "{v:?}");
        assert!(v.violations[0].contains("write #1"), "{v:?}");
        assert!(v.violations[0].contains("node 3"), "{v:?}");
        assert!(v.summary.contains("1 writes were retried"), "{v:?}");

        // And a deployment made twice.
        let mut h = clean_history();
        h.finals[0]
            .deployment_descriptions
            .insert("chaos-d-2".into(), 3);
        let v = check(&h);
        assert!(
            !v.holds && v.violations[0].contains("applied 3 times on node 1"),
            "{v:?}"
        );
    }
}
