//! What the bincode builds wrote that this crate defines the wrapper of: log entries (openraft's
//! `Entry` around a command) and the single-node log's entries. Their frozen layouts hold the
//! frozen command ([`bincode_v1::Command`]); decoded, they are converted into the current types
//! by field and variant name ([`tollgate_proto::legacy::upgrade`]).

use openraft::{BasicNode, LogId, Membership};
use serde::{Deserialize, Serialize};
use tollgate_proto::codec::DecodeError;
use tollgate_proto::legacy::{self, bincode_v1, BINCODE_FORMAT_VERSION};

/// openraft's `Entry<TypeConfig>` with the frozen command (same fields, same variants).
#[derive(Serialize, Deserialize)]
pub struct RaftEntryV1 {
    log_id: LogId<u64>,
    payload: RaftPayloadV1,
}

/// openraft's `EntryPayload<TypeConfig>` with the frozen command (as large as openraft's own:
/// it is decoded one entry at a time).
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize)]
enum RaftPayloadV1 {
    Blank,
    Normal(bincode_v1::Command),
    Membership(Membership<u64, BasicNode>),
}

/// A Raft log entry of format 1 (bincode), converted into `New` (the current entry type).
pub fn decode_raft_entry<New: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<New, DecodeError> {
    legacy::decode_upgraded::<RaftEntryV1, New>(bytes, BINCODE_FORMAT_VERSION)
}

/// The bytes a bincode build stored for `entry` (before its checksum framing): for tests of
/// logs those builds wrote.
pub fn encode_raft_entry_v1<E: Serialize>(entry: &E) -> Vec<u8> {
    let old: RaftEntryV1 = legacy::upgrade(entry).expect("an entry converts into format 1");
    legacy::encode_bincode(&old, BINCODE_FORMAT_VERSION)
}

/// The single-node log's entry with the frozen command.
#[derive(Serialize, Deserialize)]
pub struct LocalEntryV1 {
    index: u64,
    command: bincode_v1::Command,
}
