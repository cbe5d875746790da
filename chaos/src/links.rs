//! The rules of the links between nodes, and the decision a relay takes for each packet.
//! Pure: no sockets, no clock; the relay ([`crate::relay`]) asks [`decide`] per packet.
//!
//! Rules are per directed node pair `(from, to)` and apply to every packet physically going
//! from node `from` to node `to`, whichever node opened the QUIC connection: a one-way
//! partition `A ↛ B` drops A's requests to B *and* A's answers to B's requests.

use crate::rng::Rng;
use std::collections::BTreeMap;
use std::sync::RwLock;

/// What happens to packets from one node to another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkRule {
    /// Every packet is dropped (a partition).
    pub blocked: bool,
    /// Share of packets dropped, percent.
    pub drop_percent: u8,
    /// Share of packets sent twice, percent.
    pub duplicate_percent: u8,
    /// Shortest added delay.
    pub delay_min_ms: u64,
    /// Longest added delay (each packet gets a uniform delay in `[min, max]`).
    pub delay_max_ms: u64,
}

impl LinkRule {
    /// A link that drops everything.
    pub fn blocked() -> LinkRule {
        LinkRule {
            blocked: true,
            ..LinkRule::default()
        }
    }
}

/// What to do with one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Drop it.
    Drop,
    /// Send it once per entry, each after that many milliseconds (0: now).
    Send(Vec<u64>),
}

/// The decision for one packet on a link with `rule`.
pub fn decide(rule: &LinkRule, rng: &mut Rng) -> Decision {
    if rule.blocked || rng.chance(f64::from(rule.drop_percent) / 100.0) {
        return Decision::Drop;
    }
    let hi = rule.delay_max_ms.max(rule.delay_min_ms);
    let mut out = vec![rng.between(rule.delay_min_ms, hi)];
    if rng.chance(f64::from(rule.duplicate_percent) / 100.0) {
        out.push(rng.between(rule.delay_min_ms, hi));
    }
    out.sort_unstable();
    Decision::Send(out)
}

/// The rules of every directed link, changed by the fault injector and read by the relays.
#[derive(Debug, Default)]
pub struct Links {
    rules: RwLock<BTreeMap<(u64, u64), LinkRule>>,
}

impl Links {
    /// All links healthy.
    pub fn new() -> Links {
        Links::default()
    }

    /// The rule for packets from `from` to `to`.
    pub fn rule(&self, from: u64, to: u64) -> LinkRule {
        let rules = self.rules.read().unwrap_or_else(|p| p.into_inner());
        rules.get(&(from, to)).copied().unwrap_or_default()
    }

    /// Sets the rule for each of `pairs`.
    pub fn set(&self, pairs: &[(u64, u64)], rule: LinkRule) {
        let mut rules = self.rules.write().unwrap_or_else(|p| p.into_inner());
        for p in pairs {
            rules.insert(*p, rule);
        }
    }

    /// Every link healthy again.
    pub fn heal(&self) {
        self.rules
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// The directed pairs from every node in `a` to every node in `b` (and back, if `both`).
pub fn cut(a: &[u64], b: &[u64], both: bool) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            if x == y {
                continue;
            }
            out.push((*x, *y));
            if both {
                out.push((*y, *x));
            }
        }
    }
    out
}

/// Every directed pair among `nodes`.
pub fn all_pairs(nodes: &[u64]) -> Vec<(u64, u64)> {
    cut(nodes, nodes, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_links_drop_everything_and_healthy_ones_nothing() {
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            assert_eq!(decide(&LinkRule::blocked(), &mut rng), Decision::Drop);
            assert_eq!(
                decide(&LinkRule::default(), &mut rng),
                Decision::Send(vec![0])
            );
        }
    }

    #[test]
    fn loss_delay_and_duplication_follow_the_rule() {
        let mut rng = Rng::new(2);
        let rule = LinkRule {
            drop_percent: 30,
            duplicate_percent: 50,
            delay_min_ms: 10,
            delay_max_ms: 40,
            ..LinkRule::default()
        };
        let (mut dropped, mut doubled, mut sent) = (0, 0, 0);
        for _ in 0..10_000 {
            match decide(&rule, &mut rng) {
                Decision::Drop => dropped += 1,
                Decision::Send(d) => {
                    sent += 1;
                    if d.len() == 2 {
                        doubled += 1;
                    }
                    assert!(d.iter().all(|ms| (10..=40).contains(ms)), "{d:?}");
                }
            }
        }
        assert!((2700..3300).contains(&dropped), "{dropped}");
        let share = doubled as f64 / sent as f64;
        assert!((0.45..0.55).contains(&share), "{share}");
    }

    #[test]
    fn cuts_name_the_directed_pairs() {
        assert_eq!(cut(&[1], &[2, 3], false), vec![(1, 2), (1, 3)]);
        assert_eq!(
            cut(&[1], &[2, 3], true),
            vec![(1, 2), (2, 1), (1, 3), (3, 1)]
        );
        assert_eq!(all_pairs(&[1, 2, 3]).len(), 6);
        let links = Links::new();
        links.set(&cut(&[1], &[2], false), LinkRule::blocked());
        assert!(links.rule(1, 2).blocked);
        assert!(!links.rule(2, 1).blocked, "one-way");
        links.heal();
        assert!(!links.rule(1, 2).blocked);
    }
}
