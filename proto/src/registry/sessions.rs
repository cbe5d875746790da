//! Client sessions (the Raft dissertation, §6.3): which requests' commands were applied, so a
//! request retried after an unknown outcome (a leader replaced while it was in flight, a lost
//! answer, an SDK retrying a 503) is not applied twice.
//!
//! The window is bounded by count, not time (the state machine has no clock): the last
//! [`SESSION_WINDOW`] applied request identities, oldest forgotten first. It is part of the
//! registry, so snapshots carry it and every node holds the same window.

use crate::command::RequestId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};

/// How many applied request identities are remembered. At the chaos tool's write rate (tens a
/// second) this covers many minutes, far longer than an SDK's retries of one call (seconds);
/// each costs about 20 bytes in a snapshot.
pub const SESSION_WINDOW: usize = 16_384;

/// The applied request identities, oldest first. Encoded as the list alone; the lookup set is
/// rebuilt when decoding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "VecDeque<RequestId>", into = "VecDeque<RequestId>")]
pub struct Sessions {
    order: VecDeque<RequestId>,
    seen: BTreeSet<RequestId>,
}

impl From<VecDeque<RequestId>> for Sessions {
    fn from(order: VecDeque<RequestId>) -> Sessions {
        let mut s = Sessions::default();
        for id in order {
            s.record(id);
        }
        s
    }
}

impl From<Sessions> for VecDeque<RequestId> {
    fn from(s: Sessions) -> VecDeque<RequestId> {
        s.order
    }
}

impl Sessions {
    /// Whether `id` was applied (and is still within the window).
    pub fn applied(&self, id: &RequestId) -> bool {
        self.seen.contains(id)
    }

    /// Whether any command of the request `client` is remembered as applied.
    pub fn any_applied(&self, client: u128) -> bool {
        let from = RequestId { client, part: 0 };
        self.seen
            .range(from..)
            .next()
            .is_some_and(|id| id.client == client)
    }

    /// Records `id` as applied, forgetting the oldest beyond the window.
    pub fn record(&mut self, id: RequestId) {
        if !self.seen.insert(id) {
            return;
        }
        self.order.push_back(id);
        while self.order.len() > SESSION_WINDOW {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
    }

    /// How many identities are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(client: u128, part: u32) -> RequestId {
        RequestId { client, part }
    }

    #[test]
    fn the_window_forgets_the_oldest_and_survives_encoding() {
        let mut s = Sessions::default();
        for c in 0..(SESSION_WINDOW as u128 + 2) {
            s.record(id(c, 0));
        }
        s.record(id(5, 0)); // already there: nothing moves
        assert_eq!(s.len(), SESSION_WINDOW);
        assert!(!s.applied(&id(0, 0)) && !s.applied(&id(1, 0)));
        assert!(s.applied(&id(2, 0)) && s.applied(&id(SESSION_WINDOW as u128 + 1, 0)));
        assert!(s.any_applied(7) && !s.any_applied(1) && !s.any_applied(u128::MAX));
        let back: Sessions = crate::codec::decode(&crate::codec::encode(&s)).unwrap();
        assert_eq!(back, s);
        assert!(back.applied(&id(2, 0)) && !back.applied(&id(1, 0)));
    }
}
