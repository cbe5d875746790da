//! Rotation of the cluster's TLS session-ticket secret: the leader replaces it every
//! `tls_ticket_rotation_secs` with a replicated [`Command::RotateTlsTicketSecret`], which keeps
//! the replaced secret as the previous one. Every node then rebuilds its domains' ticketers
//! (`crate::tls::ClusterTicketer`): a ticket opens under the current or the previous secret, so
//! one made just before a rotation still resumes on any node, and none made two rotations ago
//! does. An operator can also rotate at once (`POST /_tollgate/tls/tickets/rotate`, twice to
//! make every earlier ticket useless).
//!
//! The schedule is read from the replicated state (when the current secret was made), so a new
//! leader goes on with it; a rotation names the generation it makes, so two proposals that race
//! (a deposed leader's, an operator's) rotate once.

use serde::Serialize;
use std::time::Duration;
use tollgate_consensus::{ProposeError, Replica};
use tollgate_proto::domain::TicketRotation;
use tollgate_proto::{Command, Registry};

/// The default time between rotations (`tls_ticket_rotation_secs`): six hours.
pub const DEFAULT_EVERY_SECS: u64 = 6 * 3600;

/// How often the leader looks whether a rotation is due.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long one rotation may take to commit before the next check tries again.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the secret described by `r` is due for rotation at `now_ms`. `first_seen_ms`: when
/// this node first saw the current generation, the start of the period of a first secret
/// (whose creation time is not recorded).
pub fn due(r: &TicketRotation, first_seen_ms: u64, now_ms: u64, every: Duration) -> bool {
    let since = if r.rotated_at_ms > 0 {
        r.rotated_at_ms
    } else {
        first_seen_ms
    };
    let every_ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
    now_ms >= since.saturating_add(every_ms)
}

/// The command rotating `reg`'s secret to a fresh random one made at `now_ms`; `None` when no
/// secret exists yet (it is made with the first custom domain name).
pub fn rotation(reg: &Registry, now_ms: u64) -> Result<Option<Command>, String> {
    if reg.tls_ticket_secret.is_none() {
        return Ok(None);
    }
    let mut secret = vec![0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .map_err(|_| "no randomness for the session-ticket secret".to_string())?;
    let generation = reg
        .tls_ticket_rotation
        .generation
        .checked_add(1)
        .ok_or("the session-ticket generation is exhausted")?;
    Ok(Some(Command::RotateTlsTicketSecret {
        secret,
        generation,
        at_ms: now_ms,
    }))
}

/// What `GET /_tollgate/tls/tickets` answers (never a secret).
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TicketStatus {
    /// Whether the cluster has a ticket secret (made with the first custom domain name).
    pub enabled: bool,
    /// The current secret's generation.
    pub generation: u64,
    /// When it was made (ms since the epoch; 0: the first secret).
    pub rotated_at_ms: u64,
    /// Whether the previous secret still opens tickets.
    pub previous: bool,
    /// The generation this node's data plane seals new tickets under (it follows `generation`
    /// once the node has rebuilt its domains).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_generation: Option<u64>,
}

/// The ticket secret's state in `reg`.
pub fn status(reg: &Registry) -> TicketStatus {
    TicketStatus {
        enabled: reg.tls_ticket_secret.is_some(),
        generation: reg.tls_ticket_rotation.generation,
        rotated_at_ms: reg.tls_ticket_rotation.rotated_at_ms,
        previous: reg.tls_ticket_rotation.previous.is_some(),
        served_generation: None,
    }
}

fn now_ms() -> u64 {
    u64::try_from(crate::ids::now_epoch_ms()).unwrap_or(0)
}

/// Why a rotation was not made.
#[derive(Debug)]
pub enum RotateError {
    /// No secret exists yet.
    NoSecret,
    /// No randomness, or the generation counter is spent.
    Internal(String),
    /// The rotation did not commit.
    Propose(ProposeError),
}

/// Rotates the secret now (through the leader, from any node) and returns the state after.
pub async fn rotate(node: &Replica) -> Result<TicketStatus, RotateError> {
    let cmd = rotation(&node.read(), now_ms()).map_err(RotateError::Internal)?;
    let cmd = cmd.ok_or(RotateError::NoSecret)?;
    // A refusal is only a malformed secret, which `rotation` never makes.
    if let Err(e) = node.propose(cmd).await.map_err(RotateError::Propose)? {
        return Err(RotateError::Internal(e.to_string()));
    }
    Ok(status(&node.read()))
}

fn is_leader(node: &Replica) -> bool {
    node.raft()
        .is_none_or(|r| r.status().leader == Some(r.id()))
}

/// Rotates the secret every `every` while this node leads, for as long as the runtime runs.
pub async fn run(node: Replica, every: Duration) {
    // (generation, when this node first saw it)
    let mut seen: Option<(u64, u64)> = None;
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tick.tick().await;
        let now = now_ms();
        let cmd = {
            let reg = node.read();
            if reg.tls_ticket_secret.is_none() {
                continue;
            }
            let r = &reg.tls_ticket_rotation;
            let first_seen = match seen {
                Some((g, at)) if g == r.generation => at,
                _ => {
                    seen = Some((r.generation, now));
                    now
                }
            };
            if !due(r, first_seen, now, every) || !is_leader(&node) {
                continue;
            }
            rotation(&reg, now)
        };
        let cmd = match cmd {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(error = %e, "session-ticket secret not rotated");
                continue;
            }
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, node.propose(cmd)).await {
            Ok(Ok(_)) => tracing::info!(
                generation = node.read().tls_ticket_rotation.generation,
                "session-ticket secret rotated"
            ),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "session-ticket rotation not committed; retrying")
            }
            Err(_) => tracing::warn!("session-ticket rotation not committed in time; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_is_due_one_period_after_the_last() {
        let every = Duration::from_secs(10);
        let first = TicketRotation::default();
        // The first secret: counted from when this node first saw it.
        assert!(!due(&first, 5_000, 14_999, every));
        assert!(due(&first, 5_000, 15_000, every));
        // A rotated one: from its replicated time, whatever this node saw.
        let rotated = TicketRotation {
            generation: 3,
            previous: Some(vec![1; 32]),
            rotated_at_ms: 100_000,
        };
        assert!(!due(&rotated, 0, 109_999, every));
        assert!(due(&rotated, 200_000, 110_000, every));
        assert!(!due(&rotated, 0, 0, Duration::MAX));
    }

    #[test]
    fn a_rotation_names_the_next_generation_and_a_fresh_secret() {
        let mut reg = Registry::default();
        assert_eq!(rotation(&reg, 1).unwrap(), None);
        reg.tls_ticket_secret = Some(vec![1; 32]);
        reg.tls_ticket_rotation.generation = 4;
        let a = rotation(&reg, 77).unwrap().unwrap();
        let b = rotation(&reg, 77).unwrap().unwrap();
        let Command::RotateTlsTicketSecret {
            secret,
            generation,
            at_ms,
        } = &a
        else {
            panic!("{a:?}")
        };
        assert_eq!((*generation, *at_ms, secret.len()), (5, 77, 32));
        assert_ne!(a, b, "each rotation draws its own secret");
        reg.apply(&a).unwrap();
        assert_eq!(
            status(&reg),
            TicketStatus {
                enabled: true,
                generation: 5,
                rotated_at_ms: 77,
                previous: true,
                served_generation: None,
            }
        );
        // The racing proposal of the same generation changes nothing.
        reg.apply(&b).unwrap();
        assert_eq!(reg.tls_ticket_secret.as_ref(), Some(secret));
    }
}
