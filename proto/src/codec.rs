//! The versioned binary encoding of commands and snapshots (bincode 2, standard config).
//!
//! Every encoded value starts with a one-byte format version so that a future layout can be
//! told apart from this one; decoding refuses versions it does not know rather than misreading.
//!
//! Decoding trusts no length field: the bytes it may claim for strings and byte vectors are
//! limited to [`LIMIT_FACTOR`] times the input (in power-of-16 steps, at least 1 MiB), so a
//! damaged length cannot make it allocate more than that before the input runs out.

use serde::{de::DeserializeOwned, Serialize};

/// The format version of commands and every other value this build writes, but snapshots.
pub const FORMAT_VERSION: u8 = 1;

/// The format version of registry snapshots this build writes: 2 since APIs and deployments
/// hold gateway responses, models and request validators. A version-1 snapshot holds the
/// layouts of [`crate::registry::RegistryBeforeObjects`] (or older); the version byte tells
/// the two apart, so a snapshot is never misread in the other's layout. (Commands stay at
/// version 1: their layout did not change, and builds of version 1 still read them.)
pub const SNAPSHOT_FORMAT_VERSION: u8 = 2;

/// Why bytes could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The input was empty.
    #[error("empty input")]
    Empty,
    /// The input was written by a format this build does not know.
    #[error("unknown format version {0}")]
    UnknownVersion(u8),
    /// The payload did not decode.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// Bytes were left after the payload.
    #[error("{0} trailing bytes after payload")]
    Trailing(usize),
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes `value` with the version prefix.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    encode_as(value, FORMAT_VERSION)
}

/// Encodes `value` with the prefix of format `version` (the caller's layout of it).
pub fn encode_as<T: Serialize>(value: &T, version: u8) -> Vec<u8> {
    let mut out = vec![version];
    // Encoding into a Vec fails only for types serde cannot represent in bincode (untagged
    // enums, maps with unknown length); the model has none, which the tests below exercise.
    let body = bincode::serde::encode_to_vec(value, config())
        .expect("model types are all bincode-representable");
    out.extend_from_slice(&body);
    out
}

/// What decoding may claim for containers, as a multiple of the input's length (a number
/// decoded from one varint byte claims its full width).
pub const LIMIT_FACTOR: usize = 16;

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

/// Decodes a value written by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    decode_as(bytes, FORMAT_VERSION)
}

/// The format version bytes were written in.
pub fn version_of(bytes: &[u8]) -> Result<u8, DecodeError> {
    bytes.first().copied().ok_or(DecodeError::Empty)
}

/// Decodes a value written by [`encode_as`] with format `version` (refusing any other).
pub fn decode_as<T: DeserializeOwned>(bytes: &[u8], version: u8) -> Result<T, DecodeError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::model::*;
    use std::collections::BTreeMap;

    fn sample() -> Vec<Command> {
        let method = Method {
            http_method: "GET".into(),
            authorization_type: crate::model::AuthorizationType::None,
            request_parameters: BTreeMap::from([("method.request.path.id".into(), true)]),
            integration: Some(Integration {
                kind: IntegrationType::HttpProxy,
                uri: Some("http://127.0.0.1:1/{id}".into()),
                timeout_in_millis: 29_000,
                integration_responses: BTreeMap::from([(
                    "200".into(),
                    IntegrationResponse {
                        status_code: "200".into(),
                        selection_pattern: Some("2\\d{2}".into()),
                        ..Default::default()
                    },
                )]),
                ..Default::default()
            }),
            ..Default::default()
        };
        vec![
            Command::CreateRestApi {
                id: "abc".into(),
                root_resource_id: "r".into(),
                settings: RestApiSettings {
                    name: "n".into(),
                    tags: BTreeMap::from([("k".into(), "v".into())]),
                    ..Default::default()
                },
                created_date: 17,
                clone_from: None,
            },
            Command::PutMethod {
                api_id: "abc".into(),
                resource_id: "r".into(),
                method,
            },
            Command::PutStage {
                api_id: "abc".into(),
                stage: Stage {
                    stage_name: "dev".into(),
                    method_settings: BTreeMap::from([("*/*".into(), MethodSetting::default())]),
                    ..Default::default()
                },
                create: true,
            },
            Command::ReportLoad {
                node_id: 2,
                seq: 41,
                at_ms: 1_764_600_000_123,
                deltas: vec![crate::command::UsageDelta {
                    key_id: "k1".into(),
                    count: 12,
                }],
                interval_ms: 250,
                demand: vec![crate::command::LimitDemand {
                    limit_id: u64::MAX - 1,
                    requests: 3000,
                }],
            },
            Command::CreateModel {
                api_id: "abc".into(),
                model: Model {
                    id: "m1".into(),
                    name: "Pet".into(),
                    schema: Some("{}".into()),
                    content_type: "application/json".into(),
                    ..Default::default()
                },
            },
            Command::IfUnchanged {
                guards: vec![(crate::command::Scope::UsagePlan("p1".into()), 7)],
                command: Box::new(Command::DeleteUsagePlanKey {
                    plan_id: "p1".into(),
                    key_id: "k1".into(),
                }),
            },
        ]
    }

    #[test]
    fn round_trip() {
        for cmd in sample() {
            let bytes = encode(&cmd);
            assert_eq!(bytes[0], FORMAT_VERSION);
            let back: Command = decode(&bytes).unwrap();
            assert_eq!(back, cmd);
        }
    }

    #[test]
    fn refuses_bad_input() {
        let mut bytes = encode(&sample()[0]);
        assert!(matches!(decode::<Command>(&[]), Err(DecodeError::Empty)));
        bytes[0] = 99;
        assert!(matches!(
            decode::<Command>(&bytes),
            Err(DecodeError::UnknownVersion(99))
        ));
        bytes[0] = FORMAT_VERSION;
        bytes.push(0);
        assert!(matches!(
            decode::<Command>(&bytes),
            Err(DecodeError::Trailing(1))
        ));
        assert!(decode::<Command>(&bytes[..bytes.len() / 2]).is_err());
    }
}
