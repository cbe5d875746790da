//! Reading what builds before the self-describing format wrote: bincode 2 (standard config)
//! after the same one-byte format version, commands of format [`BINCODE_FORMAT_VERSION`] and
//! snapshots of formats [`BINCODE_SNAPSHOT_FORMAT_VERSION`] and 1.
//!
//! Old bytes decode into the frozen layouts of [`bincode_v1`] and are then converted into the
//! current types by field and variant NAME ([`upgrade`]): the frozen value is written in the
//! current format and read back as the current type, exactly as bytes of the current format
//! written before a field or variant was added. So a field added to the model later (with
//! `#[serde(default)]`) needs nothing here.
//!
//! Decoding trusts no length field: the bytes it may claim for strings and containers are
//! limited to [`LIMIT_FACTOR`] times the input (in power-of-16 steps, at least 1 MiB), so a
//! damaged length cannot make it allocate more than that before the input runs out.

pub mod bincode_v1;

use crate::codec::{self, DecodeError};
use serde::{de::DeserializeOwned, Serialize};

/// The format version of commands (and of every other value but snapshots) in bincode.
pub const BINCODE_FORMAT_VERSION: u8 = 1;

/// The format version of the last bincode registry snapshots ([`bincode_v1::Registry`]);
/// snapshots of format 1 hold one of the `Registry*Before*` layouts.
pub const BINCODE_SNAPSHOT_FORMAT_VERSION: u8 = 2;

/// What decoding may claim for containers, as a multiple of the input's length.
pub const LIMIT_FACTOR: usize = 16;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Decodes `body` under the smallest limit step that is at least [`LIMIT_FACTOR`] times its
/// length (bincode takes the limit as a constant).
fn decode_limited<T: DeserializeOwned>(
    body: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    use bincode::serde::decode_from_slice;
    const MIB: usize = 1 << 20;
    let need = body.len().saturating_mul(LIMIT_FACTOR);
    if need <= MIB {
        decode_from_slice(body, config().with_limit::<MIB>())
    } else if need <= 16 * MIB {
        decode_from_slice(body, config().with_limit::<{ 16 * MIB }>())
    } else if need <= 256 * MIB {
        decode_from_slice(body, config().with_limit::<{ 256 * MIB }>())
    } else if need <= 4096 * MIB {
        decode_from_slice(body, config().with_limit::<{ 4096 * MIB }>())
    } else {
        decode_from_slice(body, config().with_limit::<{ usize::MAX }>())
    }
}

/// Decodes bincode bytes of format `version` (the version byte first) in layout `T`: a frozen
/// [`bincode_v1`] type, or a type whose layout never changed (openraft's votes and log ids).
pub fn decode_bincode<T: DeserializeOwned>(bytes: &[u8], version: u8) -> Result<T, DecodeError> {
    let (&found, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if found != version {
        return Err(DecodeError::UnknownVersion(found));
    }
    let (value, used) = decode_limited(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(DecodeError::Trailing(body.len() - used));
    }
    Ok(value)
}

/// Encodes `value` in bincode with the prefix of format `version`: what builds before the
/// self-describing format wrote. Only for tests and benchmarks that need such bytes.
pub fn encode_bincode<T: Serialize>(value: &T, version: u8) -> Vec<u8> {
    let mut out = vec![version];
    // Encoding into a Vec fails only for types serde cannot represent in bincode (untagged
    // enums, maps of unknown length); the frozen layouts have none.
    let body = bincode::serde::encode_to_vec(value, config())
        .expect("frozen layouts are all bincode-representable");
    out.extend_from_slice(&body);
    out
}

/// `value` converted into `New` by field and variant name: written in the current format and
/// read back. Fails when `New` has a field `value` lacks and no `#[serde(default)]` for it, or
/// a value `New` does not accept (a name outside an enum's set).
pub fn upgrade<Old: Serialize, New: DeserializeOwned>(value: &Old) -> Result<New, DecodeError> {
    codec::decode(&codec::encode(value))
        .map_err(|e| DecodeError::Malformed(format!("converting an older layout: {e}")))
}

/// Decodes bincode bytes of format `version` in the frozen layout `Old` and converts them into
/// `New` ([`upgrade`]).
pub fn decode_upgraded<Old, New>(bytes: &[u8], version: u8) -> Result<New, DecodeError>
where
    Old: DeserializeOwned + Serialize,
    New: DeserializeOwned,
{
    upgrade::<Old, New>(&decode_bincode::<Old>(bytes, version)?)
}

/// A snapshot wrapper of the caller's (the registry with what else its snapshot holds), named
/// for any registry layout, so that [`decode_snapshot`] can read it with each frozen one.
pub trait SnapshotLayout {
    /// The wrapper holding a registry of layout `R`.
    type With<R: Serialize + DeserializeOwned>: Serialize + DeserializeOwned;
}

/// Decodes a snapshot of a bincode build, wrapped as `W` says, converted into `New`: format 2
/// holds [`bincode_v1::Registry`]; format 1 holds one of the layouts of the builds before
/// API-level objects, before client sessions and before scope versions, tried newest first
/// (the newest one's error is the one reported).
pub fn decode_snapshot<W: SnapshotLayout, New: DeserializeOwned>(
    bytes: &[u8],
) -> Result<New, DecodeError> {
    use bincode_v1 as v1;
    match codec::version_of(bytes)? {
        BINCODE_SNAPSHOT_FORMAT_VERSION => {
            decode_upgraded::<W::With<v1::Registry>, New>(bytes, BINCODE_SNAPSHOT_FORMAT_VERSION)
        }
        1 => decode_upgraded::<W::With<v1::RegistryBeforeObjects>, New>(bytes, 1).or_else(|e| {
            decode_upgraded::<W::With<v1::RegistryBeforeSessions>, New>(bytes, 1)
                .or_else(|_| decode_upgraded::<W::With<v1::RegistryBeforeVersions>, New>(bytes, 1))
                .map_err(|_| e)
        }),
        other => Err(DecodeError::UnknownVersion(other)),
    }
}

/// Decodes a value of a type whose layout the bincode builds and this one share (openraft's
/// votes, log ids and snapshot metadata, which Tollgate does not define): the current format,
/// or bincode of format [`BINCODE_FORMAT_VERSION`] decoded into the same type.
pub fn decode_either<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    match codec::version_of(bytes)? {
        BINCODE_FORMAT_VERSION => decode_bincode(bytes, BINCODE_FORMAT_VERSION),
        _ => codec::decode(bytes),
    }
}
