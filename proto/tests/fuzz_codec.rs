//! Fuzzing of the command codec on the stable toolchain: a seeded mutation loop over encoded
//! commands (bit flips, byte changes, cuts, insertions, and length fields set huge). Decoding
//! must never panic, must refuse with a short message or give a value that encodes back to
//! the same value, and must never make a giant allocation because a length field says so.
//!
//! Runs for about two seconds in `cargo test`; `TOLLGATE_FUZZ_SECS=N` runs longer and
//! `TOLLGATE_FUZZ_SEED=N` replays a seed.

use std::collections::BTreeMap;
use std::time::Instant;
use tollgate_proto::codec;
use tollgate_proto::command::{Command, LimitDemand, Scope, UsageDelta};
use tollgate_proto::model::*;

#[path = "support/fuzz.rs"]
mod fuzz;
use fuzz::{budget, mutate, watched, Rng, ALLOCATION_CAP};

fn seeds() -> Vec<Command> {
    let method = Method {
        http_method: "GET".into(),
        authorization_type: tollgate_proto::model::AuthorizationType::None,
        request_parameters: BTreeMap::from([("method.request.path.id".into(), true)]),
        integration: Some(Integration {
            kind: IntegrationType::HttpProxy,
            uri: Some("http://127.0.0.1:1/{id}".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![
        Command::CreateRestApi {
            id: "abc".into(),
            root_resource_id: "r".into(),
            settings: RestApiSettings {
                name: "orders".into(),
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
        Command::ReportLoad {
            node_id: 2,
            seq: 41,
            at_ms: 1_764_600_000_123,
            deltas: vec![UsageDelta {
                key_id: "k1".into(),
                count: 12,
            }],
            interval_ms: 250,
            demand: vec![LimitDemand {
                limit_id: 7,
                requests: 3000,
            }],
        },
        Command::IfUnchanged {
            guards: vec![(Scope::UsagePlan("p1".into()), 7)],
            command: Box::new(Command::DeleteUsagePlanKey {
                plan_id: "p1".into(),
                key_id: "k1".into(),
            }),
        },
    ]
}

#[test]
fn decoding_mutated_commands_never_panics_or_allocates_from_a_length_field() {
    let (time, seed) = budget();
    let mut rng = Rng(seed);
    let seeds: Vec<Vec<u8>> = seeds().iter().map(codec::encode).collect();
    let until = Instant::now() + time;
    let (mut runs, mut refused) = (0u64, 0u64);
    while Instant::now() < until || runs < 1000 {
        let mut bytes = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(4) {
            if bytes.is_empty() {
                break;
            }
            mutate(&mut rng, &mut bytes);
        }
        let (decoded, largest) = watched(|| codec::decode::<Command>(&bytes));
        assert!(
            largest <= ALLOCATION_CAP,
            "seed {seed} run {runs}: a {largest}-byte allocation decoding {} bytes",
            bytes.len()
        );
        match decoded {
            Ok(cmd) => {
                let again: Command = codec::decode(&codec::encode(&cmd)).unwrap();
                assert_eq!(again, cmd, "seed {seed} run {runs}");
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.is_empty() && msg.len() < 500, "{msg}");
                refused += 1;
            }
        }
        runs += 1;
    }
    eprintln!("codec fuzz: {runs} inputs, {refused} refused, seed {seed}");
}

/// A length field set huge (the 1 000 keys of an import claiming 2^32 - 1) is refused before
/// anything is allocated for it: the scan finds it claims more than the bytes left. (Without
/// the scan, the decoder preallocates serde's 1 MiB cap for the key vector.)
#[test]
fn a_damaged_length_is_refused_before_it_allocates() {
    let keys: Vec<ApiKey> = (0..1000)
        .map(|i| ApiKey {
            id: format!("k{i:09}"),
            value: format!("value-{i:020}"),
            enabled: true,
            ..Default::default()
        })
        .collect();
    let cmd = Command::ImportApiKeys {
        keys,
        plan_keys: vec![],
    };
    let bytes = codec::encode(&cmd);
    // `keys` then its array16 header (0xdc, 1000).
    let at = bytes
        .windows(8)
        .position(|w| w == b"\xa4keys\xdc\x03\xe8")
        .expect("the keys array header")
        + 5;
    let (ok, largest_ok) = watched(|| codec::decode::<Command>(&bytes));
    assert_eq!(ok.unwrap(), cmd);
    for claim in [
        [0xdd, 0xff, 0xff, 0xff, 0xff],
        [0xdd, 0x00, 0x01, 0x00, 0x00],
    ] {
        let mut damaged = bytes.clone();
        damaged.splice(at..at + 3, claim);
        let (r, largest) = watched(|| codec::decode::<Command>(&damaged));
        assert!(
            largest < 4096,
            "a {largest}-byte allocation for a damaged length"
        );
        let e = r.unwrap_err().to_string();
        assert!(e.contains("at byte"), "refused by the scan: {e}");
    }
    assert!(largest_ok > 4096, "the undamaged decode allocates the keys");
}

/// Bytes of the bincode builds (read through the frozen layouts) are fuzzed the same way: a
/// damaged length stays within the bincode limit.
#[test]
fn decoding_mutated_bincode_commands_never_panics_or_allocates_from_a_length_field() {
    use tollgate_proto::legacy::{self, bincode_v1};
    let (time, seed) = budget();
    let mut rng = Rng(seed ^ 1);
    let seeds: Vec<Vec<u8>> = seeds()
        .iter()
        .map(|c| {
            let old: bincode_v1::Command = legacy::upgrade(c).unwrap();
            legacy::encode_bincode(&old, legacy::BINCODE_FORMAT_VERSION)
        })
        .collect();
    let until = Instant::now() + time / 2;
    let mut runs = 0u64;
    while Instant::now() < until || runs < 1000 {
        let mut bytes = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(4) {
            if bytes.is_empty() {
                break;
            }
            mutate(&mut rng, &mut bytes);
        }
        let (decoded, largest) =
            watched(|| legacy::decode_upgraded::<bincode_v1::Command, Command>(&bytes, 1));
        assert!(
            largest <= ALLOCATION_CAP,
            "seed {seed} run {runs}: a {largest}-byte allocation decoding {} bytes",
            bytes.len()
        );
        if let Err(e) = decoded {
            let msg = e.to_string();
            assert!(!msg.is_empty() && msg.len() < 500, "{msg}");
        }
        runs += 1;
    }
}
