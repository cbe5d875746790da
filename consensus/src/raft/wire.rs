//! The cluster's wire format: one bidirectional QUIC stream per RPC, carrying length-prefixed
//! frames whose payloads are encoded with [`tollgate_proto::codec`] (versioned bincode).
//!
//! A request is one frame holding an [`Envelope`]; an `InstallSnapshot` request is followed by
//! a second, raw frame with the chunk's bytes (so a megabyte of snapshot is not pushed byte by
//! byte through serde). The answer is one frame holding a [`Response`].

use super::TypeConfig;
use openraft::error::SnapshotMismatch;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tollgate_proto::{ApplyResult, Command};

/// The largest frame accepted (a batch of log entries or a snapshot chunk is far below).
pub const MAX_FRAME: usize = 64 << 20;

/// Writes one frame: a 4-byte big-endian length, then the payload.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("frame of {} bytes exceeds {MAX_FRAME}", payload.len()),
        ));
    }
    w.write_all(&(payload.len() as u32).to_be_bytes()).await?;
    w.write_all(payload).await
}

/// Reads one frame written by [`write_frame`], refusing lengths above `max`.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds {max}"),
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    Ok(buf)
}

/// A request with its sender and intended receiver (a node refuses requests meant for
/// another id, e.g. after an address was reused).
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// The sending node.
    pub from: u64,
    /// The node the request is meant for.
    pub to: u64,
    /// The request.
    pub body: Request,
}

/// A membership change asked of the leader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MembershipOp {
    /// Add a node as a learner.
    AddLearner {
        /// Its id.
        id: u64,
        /// The address others dial.
        addr: String,
    },
    /// Make exactly these nodes the voters.
    ChangeMembership {
        /// The new voter set.
        voters: BTreeSet<u64>,
    },
    /// Remove a node (voter or learner) from the cluster.
    RemoveNode {
        /// Its id.
        id: u64,
    },
}

/// The RPCs of the cluster.
#[derive(Debug, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum Request {
    /// Raft log replication and heartbeat.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Raft election.
    Vote(VoteRequest<u64>),
    /// One chunk of a snapshot; `data` travels in the frame after this one.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A command a follower forwards to the leader.
    Forward(Command),
    /// Asks the leader for a read index (a log index that, once applied locally, makes a
    /// local read linearizable).
    ReadIndex,
    /// A membership change forwarded to the leader.
    Membership(MembershipOp),
    /// `body` for Raft group `group` (a ledger group, see [`super::RaftNode::start_group`]).
    /// Requests of group 0 (the configuration group) travel unwrapped, as they always have,
    /// so the frames of a cluster with one group are unchanged.
    Group {
        /// The group, 1 or more (0 is never wrapped).
        group: u32,
        /// The request.
        body: Box<Request>,
    },
    /// How many ledger groups does the node run with (answered with
    /// [`Response::LedgerGroups`]; a node of a cluster refuses to start with another count).
    LedgerGroups,
}

impl Request {
    /// Wraps `self` for `group` (group 0 stays unwrapped).
    pub fn for_group(self, group: u32) -> Request {
        match group {
            0 => self,
            group => Request::Group {
                group,
                body: Box::new(self),
            },
        }
    }

    /// Whether a raw snapshot chunk frame follows this request.
    pub fn carries_chunk(&self) -> bool {
        match self {
            Request::InstallSnapshot(_) => true,
            Request::Group { body, .. } => matches!(**body, Request::InstallSnapshot(_)),
            _ => false,
        }
    }
}

/// The answers.
#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    /// Answer to [`Request::AppendEntries`].
    AppendEntries(AppendEntriesResponse<u64>),
    /// Answer to [`Request::Vote`].
    Vote(VoteResponse<u64>),
    /// Answer to [`Request::InstallSnapshot`].
    InstallSnapshot(InstallSnapshotResponse<u64>),
    /// The chunk did not continue the snapshot being received: start over.
    SnapshotMismatch(SnapshotMismatch),
    /// A forwarded command was committed at `index` and applied with `result` on the leader.
    Forwarded {
        /// The log index of the command.
        index: u64,
        /// The state machine's verdict.
        result: ApplyResult,
    },
    /// The read index.
    ReadIndex {
        /// Apply up to this index, then read.
        index: u64,
    },
    /// A membership change was committed at `index`.
    MembershipDone {
        /// The log index of the (final) membership entry.
        index: u64,
    },
    /// This node is not the leader; the request was not acted on.
    NotLeader {
        /// The leader, if known.
        leader: Option<u64>,
    },
    /// The leader refused the request (e.g. an invalid membership change).
    Refused(String),
    /// The node could not serve the request (shutting down, storage failure, wrong id, bad
    /// request).
    Failed(String),
    /// Answer to [`Request::LedgerGroups`]: the node's ledger group count (0: not declared yet).
    LedgerGroups {
        /// The count.
        count: u32,
    },
    /// The asking node is not a member of this group: this node's committed membership, at
    /// `membership_index`, leaves it out (answered to a vote, forwarded write or read-index
    /// request from it; see [`super::signals`]).
    NotMember {
        /// The log index of that membership.
        membership_index: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership, Vote};
    use std::collections::BTreeMap;
    use tollgate_proto::codec;

    #[tokio::test]
    async fn frames_round_trip_and_limits() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"abc").await.unwrap();
        write_frame(&mut buf, b"").await.unwrap();
        let mut r = buf.as_slice();
        assert_eq!(read_frame(&mut r, 16).await.unwrap(), b"abc");
        assert_eq!(read_frame(&mut r, 16).await.unwrap(), b"");
        assert!(read_frame(&mut r, 16).await.is_err(), "eof");
        let mut r = buf.as_slice();
        assert!(read_frame(&mut r, 2).await.is_err(), "over the limit");
        let mut r: &[u8] = &[0, 0, 0, 9, 1, 2];
        assert!(read_frame(&mut r, 16).await.is_err(), "truncated");
        let mut r: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(read_frame(&mut r, MAX_FRAME).await.is_err(), "huge");
    }

    fn log_id(term: u64, index: u64) -> LogId<u64> {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    #[test]
    fn openraft_messages_encode() {
        let membership = Membership::new(
            vec![BTreeSet::from([1, 2])],
            BTreeMap::from([
                (1, openraft::BasicNode::new("a:1")),
                (2, openraft::BasicNode::new("b:2")),
                (3, openraft::BasicNode::new("c:3")),
            ]),
        );
        let entries = vec![
            Entry::<TypeConfig> {
                log_id: log_id(1, 1),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: log_id(1, 2),
                payload: EntryPayload::Membership(membership.clone()),
            },
            Entry {
                log_id: log_id(1, 3),
                payload: EntryPayload::Normal(Command::DeleteRestApi {
                    id: "x".into(),
                    referential: false,
                }),
            },
        ];
        let req = Envelope {
            from: 1,
            to: 2,
            body: Request::AppendEntries(AppendEntriesRequest {
                vote: Vote::new_committed(1, 1),
                prev_log_id: Some(log_id(1, 0)),
                entries: entries.clone(),
                leader_commit: Some(log_id(1, 2)),
            }),
        };
        let back: Envelope = codec::decode(&codec::encode(&req)).unwrap();
        match back.body {
            Request::AppendEntries(a) => assert_eq!(a.entries, entries),
            other => panic!("{other:?}"),
        }
        let responses = [
            Response::AppendEntries(AppendEntriesResponse::Success),
            Response::AppendEntries(AppendEntriesResponse::PartialSuccess(Some(log_id(2, 9)))),
            Response::AppendEntries(AppendEntriesResponse::HigherVote(Vote::new(3, 2))),
            Response::Vote(VoteResponse::new(Vote::new(3, 2), Some(log_id(2, 9)), true)),
            Response::InstallSnapshot(InstallSnapshotResponse {
                vote: Vote::new_committed(1, 1),
            }),
            Response::Forwarded {
                index: 5,
                result: Err(tollgate_proto::ApplyError::Conflict("c".into())),
            },
            Response::NotLeader { leader: Some(3) },
        ];
        for r in responses {
            let bytes = codec::encode(&r);
            let back: Response = codec::decode(&bytes).unwrap();
            assert_eq!(format!("{back:?}"), format!("{r:?}"));
        }
        let snap = Request::InstallSnapshot(InstallSnapshotRequest {
            vote: Vote::new_committed(1, 1),
            meta: openraft::SnapshotMeta {
                last_log_id: Some(log_id(1, 3)),
                last_membership: openraft::StoredMembership::new(Some(log_id(1, 2)), membership),
                snapshot_id: "s".into(),
            },
            offset: 0,
            data: vec![],
            done: true,
        });
        let back: Request = codec::decode(&codec::encode(&snap)).unwrap();
        assert_eq!(format!("{back:?}"), format!("{snap:?}"));
    }

    #[test]
    fn group_zero_is_unwrapped_and_others_round_trip() {
        let plain = codec::encode(&Request::ReadIndex);
        assert_eq!(codec::encode(&Request::ReadIndex.for_group(0)), plain);
        let wrapped = Request::ReadIndex.for_group(3);
        assert!(!wrapped.carries_chunk());
        let back: Request = codec::decode(&codec::encode(&wrapped)).unwrap();
        match back {
            Request::Group { group: 3, body } => assert!(matches!(*body, Request::ReadIndex)),
            other => panic!("{other:?}"),
        }
        let chunk = Request::InstallSnapshot(InstallSnapshotRequest {
            vote: Vote::new_committed(1, 1),
            meta: Default::default(),
            offset: 0,
            data: vec![],
            done: true,
        });
        assert!(chunk.carries_chunk());
        assert!(chunk.for_group(2).carries_chunk());
    }

    #[test]
    fn the_ledger_group_count_question_round_trips_after_every_older_variant() {
        // Appended at the end: the older variants' encodings are unchanged, and an old build
        // answers the new question "bad request" (the asker treats that as no answer).
        let asked: Request = codec::decode(&codec::encode(&Request::LedgerGroups)).unwrap();
        assert!(matches!(asked, Request::LedgerGroups));
        let answer: Response =
            codec::decode(&codec::encode(&Response::LedgerGroups { count: 4 })).unwrap();
        assert!(matches!(answer, Response::LedgerGroups { count: 4 }));
        assert_ne!(
            codec::encode(&Request::LedgerGroups),
            codec::encode(&Request::ReadIndex)
        );
    }

    #[test]
    fn the_not_member_answer_round_trips_after_every_older_variant() {
        // Appended last: an older build decodes it as a bad answer (no vote, not removed).
        let answer: Response = codec::decode(&codec::encode(&Response::NotMember {
            membership_index: 42,
        }))
        .unwrap();
        assert!(matches!(
            answer,
            Response::NotMember {
                membership_index: 42
            }
        ));
        let older: Response =
            codec::decode(&codec::encode(&Response::LedgerGroups { count: 3 })).unwrap();
        assert!(matches!(older, Response::LedgerGroups { count: 3 }));
    }

    #[test]
    fn garbage_does_not_decode() {
        for bytes in [&[][..], &[1], &[1, 200, 200, 200], &[9, 0, 0]] {
            assert!(codec::decode::<Envelope>(bytes).is_err());
            assert!(codec::decode::<Response>(bytes).is_err());
        }
    }
}
