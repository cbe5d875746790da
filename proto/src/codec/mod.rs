//! The versioned encoding of commands, snapshots and every other value the cluster stores or
//! sends: a one-byte format version, then MessagePack (`rmp-serde`) with struct fields and enum
//! variants written by NAME.
//!
//! Self-describing, so the model can grow: a struct field added with `#[serde(default)]`
//! decodes from bytes written before it (as its default), a field a later build removed or an
//! older build never knew is skipped, and an enum variant added anywhere leaves the others'
//! bytes as they were. Renaming a field or variant is the one change that breaks old bytes
//! (see "Persistent formats" in docs/ARCHITECTURE.md).
//!
//! Every encoded value starts with its format version so a future encoding can be told apart;
//! decoding refuses versions it does not know rather than misreading. What builds before this
//! encoding wrote (bincode, formats 1 and 2) is read by [`crate::legacy`].
//!
//! Decoding trusts no length field: before the value is decoded, [`scan::check`] refuses any
//! length that claims more than the bytes left, nesting deeper than [`scan::MAX_DEPTH`], and
//! bytes after the value, so a damaged length cannot make the decoder preallocate for elements
//! that are not there (see [`scan`] for the bound).

/// Writes a struct as an array of its fields in declaration order instead of a map by name: for
/// small records the log or a snapshot holds thousands of (usage deltas), whose field names
/// would cost more than their values. Its `Deserialize` stays derived, which reads both the
/// array and the by-name map.
///
/// Such a record evolves by position: fields are only ever appended at the end, each with
/// `#[serde(default)]` (an older, shorter array then decodes with the default), and never
/// reordered or removed. A model struct stays by name.
#[macro_export]
macro_rules! positional_record {
    ($name:ident { $($field:ident),+ $(,)? }) => {
        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                ::serde::Serialize::serialize(&($(&self.$field,)+), s)
            }
        }
    };
}

use serde::{de::DeserializeOwned, Serialize};

pub mod scan;

/// The format version of commands and every other value this build writes, but snapshots.
/// Version 1 was bincode ([`crate::legacy`]).
pub const FORMAT_VERSION: u8 = 2;

/// The format version of registry snapshots this build writes. Versions 1 and 2 were bincode
/// ([`crate::legacy`]); from 3 on snapshots are written as everything else, and a version
/// change means a change of encoding, not of layout.
pub const SNAPSHOT_FORMAT_VERSION: u8 = 3;

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

/// Encodes `value` with the version prefix.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    encode_as(value, FORMAT_VERSION)
}

/// Encodes `value` with the prefix of format `version`: [`FORMAT_VERSION`] or
/// [`SNAPSHOT_FORMAT_VERSION`] (both MessagePack).
pub fn encode_as<T: Serialize>(value: &T, version: u8) -> Vec<u8> {
    let mut out = vec![version];
    let mut ser = rmp_serde::Serializer::new(&mut out).with_struct_map();
    // Writing into a Vec fails only for what MessagePack cannot represent (a sequence or map
    // of unknown length, more than 2^32 elements); the model has none, which the tests of
    // every command variant and of a full registry exercise.
    value
        .serialize(&mut ser)
        .expect("model types are all MessagePack-representable");
    out
}

/// Writes `value` with the prefix of format `version` into `out`, as [`encode_as`] would give
/// it, without building it in memory first (a snapshot of a large registry goes straight into
/// its file). An error is the writer's, or a value MessagePack cannot represent.
pub fn encode_into<T: Serialize, W: std::io::Write>(
    out: &mut W,
    value: &T,
    version: u8,
) -> std::io::Result<()> {
    /// Keeps the writer's error, which the encoder's error wraps in a type of `rmp`.
    struct Keep<'a, W> {
        out: &'a mut W,
        error: Option<std::io::Error>,
    }
    impl<W: std::io::Write> std::io::Write for Keep<'_, W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.out.write(buf).inspect_err(|e| {
                self.error = Some(std::io::Error::new(e.kind(), e.to_string()));
            })
        }
        fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
            self.out.write_all(buf).inspect_err(|e| {
                self.error = Some(std::io::Error::new(e.kind(), e.to_string()));
            })
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.out.flush()
        }
    }
    out.write_all(&[version])?;
    let mut keep = Keep { out, error: None };
    let mut ser = rmp_serde::Serializer::new(&mut keep).with_struct_map();
    match value.serialize(&mut ser) {
        Ok(()) => Ok(()),
        Err(e) => Err(keep
            .error
            .take()
            .unwrap_or_else(|| std::io::Error::other(e.to_string()))),
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
    scan::check(body)?;
    let mut de = rmp_serde::Deserializer::from_read_ref(body);
    // The scan bounded the nesting already; this keeps the decoder's own bound in line.
    de.set_max_depth(scan::MAX_DEPTH + 1);
    T::deserialize(&mut de).map_err(|e| DecodeError::Malformed(short(e.to_string())))
}

/// The longest decoder message kept: serde's message for an unknown variant lists every
/// variant there is, which says nothing more about the damage than its start.
const MAX_MESSAGE: usize = 200;

fn short(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::model::*;
    use serde::Serialize;
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
                tls_config: Some(TlsConfig {
                    insecure_skip_verification: true,
                }),
                integration_responses: BTreeMap::from([(
                    "200".into(),
                    Box::new(IntegrationResponse {
                        status_code: "200".into(),
                        selection_pattern: Some("2\\d{2}".into()),
                        ..Default::default()
                    }),
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

    /// A struct as an older build wrote it, and the same struct after a field was added (with
    /// `#[serde(default)]`) in the middle and one removed; an enum before and after variants
    /// were added before and after the ones written.
    mod evolution {
        use serde::{Deserialize, Serialize};

        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        pub struct Before {
            pub id: String,
            pub dropped_later: u32,
            pub kind: KindBefore,
            pub kinds: Vec<KindBefore>,
        }

        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        pub enum KindBefore {
            Plain,
            Limited { limit: u64 },
            Named(String),
        }

        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        pub struct After {
            pub id: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub added: Option<String>,
            #[serde(default = "seven")]
            pub added_with_default: u32,
            pub kind: KindAfter,
            pub kinds: Vec<KindAfter>,
        }

        fn seven() -> u32 {
            7
        }

        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        pub enum KindAfter {
            AddedFirst {
                extra: bool,
            },
            Plain,
            Limited {
                limit: u64,
                #[serde(default)]
                burst: u32,
            },
            AddedBetween,
            Named(String),
            AddedLast(u8),
        }
    }

    #[test]
    fn a_new_field_or_variant_decodes_older_bytes() {
        use evolution::*;
        let before = Before {
            id: "a1".into(),
            dropped_later: 9,
            kind: KindBefore::Limited { limit: 5 },
            kinds: vec![KindBefore::Plain, KindBefore::Named("n".into())],
        };
        let after: After = decode(&encode(&before)).unwrap();
        assert_eq!(
            after,
            After {
                id: "a1".into(),
                added: None,
                added_with_default: 7,
                kind: KindAfter::Limited { limit: 5, burst: 0 },
                kinds: vec![KindAfter::Plain, KindAfter::Named("n".into())],
            }
        );
        // A variant this build does not know (written by a newer one) is refused, not
        // guessed.
        #[derive(Serialize)]
        enum Unknown {
            AddedLater,
        }
        #[derive(Serialize)]
        struct Newer {
            id: String,
            kind: Unknown,
            kinds: Vec<Unknown>,
        }
        let newer = encode(&Newer {
            id: "a1".into(),
            kind: Unknown::AddedLater,
            kinds: vec![],
        });
        let err = decode::<After>(&newer).unwrap_err().to_string();
        assert!(err.contains("AddedLater"), "{err}");
    }

    #[test]
    fn fields_and_variants_are_written_by_name() {
        let bytes = encode(&sample()[0]);
        let has = |s: &str| bytes.windows(s.len()).any(|w| w == s.as_bytes());
        assert!(has("CreateRestApi") && has("root_resource_id") && has("clone_from"));
    }

    /// A positional record is written as an array; it reads the array, the by-name map, and
    /// an older, shorter array after a field was appended with `#[serde(default)]`.
    #[test]
    fn positional_records_evolve_by_appending() {
        use crate::command::UsageDelta;
        use serde::Deserialize;
        let d = UsageDelta {
            key_id: "p:k".into(),
            count: 300,
        };
        let bytes = encode(&d);
        assert_eq!(bytes[1], 0x92, "an array of two");
        assert_eq!(decode::<UsageDelta>(&bytes).unwrap(), d);
        #[derive(Serialize)]
        struct ByName {
            key_id: String,
            count: u64,
        }
        let by_name = encode(&ByName {
            key_id: "p:k".into(),
            count: 300,
        });
        assert_eq!(decode::<UsageDelta>(&by_name).unwrap(), d);

        #[derive(Deserialize, Debug, PartialEq)]
        struct Appended {
            key_id: String,
            count: u64,
            #[serde(default)]
            node: Option<u64>,
        }
        crate::positional_record!(Appended {
            key_id,
            count,
            node
        });
        let back: Appended = decode(&bytes).unwrap();
        assert_eq!(
            (back.key_id.as_str(), back.count, back.node),
            ("p:k", 300, None)
        );
        let longer = Appended {
            key_id: "x".into(),
            count: 1,
            node: Some(2),
        };
        assert_eq!(decode::<Appended>(&encode(&longer)).unwrap(), longer);
    }

    #[test]
    fn encoding_into_a_writer_gives_the_same_bytes() {
        for c in sample() {
            let mut out = Vec::new();
            encode_into(&mut out, &c, SNAPSHOT_FORMAT_VERSION).unwrap();
            assert_eq!(out, encode_as(&c, SNAPSHOT_FORMAT_VERSION));
        }
        // A writer's error comes back as it was.
        struct Full;
        impl std::io::Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let e = encode_into(&mut Full, &sample()[0], FORMAT_VERSION).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
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
