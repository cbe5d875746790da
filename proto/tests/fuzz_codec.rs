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
