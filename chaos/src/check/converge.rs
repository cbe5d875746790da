//! Convergence: after healing, every node holds the same state at the same log index.

use super::Verdict;
use crate::history::History;

/// Every node's final (applied index, digest) is the same; where digests differ, says which
/// written objects differ too.
pub fn check(h: &History) -> Verdict {
    let readable: Vec<_> = h.finals.iter().filter(|f| f.error.is_none()).collect();
    let mut violations = Vec::new();
    if readable.len() < h.final_members() {
        violations.push(format!(
            "only {} of {} nodes' states could be read",
            readable.len(),
            h.final_members()
        ));
    }
    let Some(first) = readable.first() else {
        return Verdict::from_violations("nodes converge", "no state read".into(), violations);
    };
    for f in &readable[1..] {
        if f.last_applied != first.last_applied {
            violations.push(format!(
                "node {} applied up to {} but node {} up to {}",
                f.node, f.last_applied, first.node, first.last_applied
            ));
        } else if f.digest != first.digest {
            let mut diff = Vec::new();
            if f.key_ids != first.key_ids {
                diff.push("API keys");
            }
            if f.deployment_ids != first.deployment_ids {
                diff.push("deployments");
            }
            if f.stage_variables != first.stage_variables {
                diff.push("stage variables");
            }
            if f.usage != first.usage {
                diff.push("usage");
            }
            violations.push(format!(
                "nodes {} and {} differ at log index {} (digest {} vs {}; differing: {})",
                first.node,
                f.node,
                f.last_applied,
                short(&first.digest),
                short(&f.digest),
                if diff.is_empty() {
                    "something not listed".to_string()
                } else {
                    diff.join(", ")
                }
            ));
        }
    }
    let summary = if violations.is_empty() {
        format!(
            "{} nodes at log index {} with digest {}",
            readable.len(),
            first.last_applied,
            short(&first.digest)
        )
    } else {
        format!("{} disagreements", violations.len())
    };
    Verdict::from_violations("nodes converge", summary, violations)
}

fn short(d: &str) -> &str {
    d.get(..12).unwrap_or(d)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn equal_states_converge() {
        assert!(check(&clean_history()).holds);
    }

    #[test]
    fn a_divergent_node_is_caught() {
        let mut h = clean_history();
        h.finals[1].digest = "ffff0000".into();
        h.finals[1].stage_variables.insert("x".into(), "y".into());
        let v = check(&h);
        assert!(!v.holds);
        assert!(v.violations[0].contains("stage variables"), "{v:?}");

        let mut h = clean_history();
        h.finals[2].last_applied -= 1;
        assert!(!check(&h).holds);

        let mut h = clean_history();
        h.finals.pop();
        assert!(!check(&h).holds);
    }
}
