//! Encode and decode time and size of the persistent formats, old (bincode) against new
//! (MessagePack by name), with CBOR (ciborium) for comparison: a ReportUsage of 2 000 keys and
//! a registry snapshot with 100 000 API keys in one usage plan.
//!
//! `cargo run --release -p tollgate-proto --example formats`

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tollgate_proto::command::{Command, UsageDelta};
use tollgate_proto::legacy::{self, bincode_v1};
use tollgate_proto::model::{ApiKey, ApiStage, QuotaSettings, ThrottleSettings, UsagePlan};
use tollgate_proto::{codec, Registry};

/// The median of `runs` timings of `f`.
fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn key_id(i: usize) -> String {
    format!("k{i:09}")
}

fn report_usage() -> Command {
    Command::ReportUsage {
        node_id: 2,
        seq: 1_234_567,
        at: 1_764_600_000,
        deltas: (0..2000)
            .map(|i| UsageDelta {
                key_id: format!("pln001:{}", key_id(i)),
                count: 1 + (i as u64 * 7919) % 5000,
            })
            .collect(),
    }
}

fn registry() -> Registry {
    let mut r = Registry::default();
    let mut plan = UsagePlan {
        id: "pln001".into(),
        name: "gold".into(),
        api_stages: vec![ApiStage {
            api_id: "a000000001".into(),
            stage: "prod".into(),
            throttle: BTreeMap::new(),
        }],
        throttle: Some(ThrottleSettings {
            burst_limit: 100,
            rate_limit: 50.0,
        }),
        quota: Some(QuotaSettings {
            limit: 100_000,
            offset: 0,
            period: tollgate_proto::model::QuotaPeriod::Month.into(),
        }),
        key_ids: BTreeSet::new(),
        ..Default::default()
    };
    for i in 0..100_000 {
        let key = ApiKey {
            id: key_id(i),
            value: format!("{i:040}"),
            name: Some(format!("customer-{i}")),
            enabled: true,
            created_date: 1_764_600_000 + i as i64,
            last_updated_date: 1_764_600_000 + i as i64,
            extra: None,
        };
        plan.key_ids.insert(key.id.clone());
        r.usage
            .used
            .insert((format!("pln001:{}", key.id), 20_423), 1 + i as u64 % 977);
        r.api_keys.insert(key);
    }
    r.usage_plans.insert(plan.id.clone(), plan);
    r
}

fn cbor<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

fn row(what: &str, bytes: usize, enc: Duration, dec: Duration) {
    println!(
        "| {what} | {bytes} | {:.3} | {:.3} |",
        enc.as_secs_f64() * 1e3,
        dec.as_secs_f64() * 1e3
    );
}

fn measure<T>(name: &str, value: &T, runs: usize, old_version: u8)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    println!("\n{name} ({runs} runs, median)\n");
    println!("| format | bytes | encode ms | decode ms |");
    println!("|---|---:|---:|---:|");
    let old = legacy::encode_bincode(value, old_version);
    assert_eq!(
        legacy::decode_bincode::<T>(&old, old_version).unwrap(),
        *value
    );
    row(
        "bincode (before)",
        old.len(),
        median(runs, || legacy::encode_bincode(value, old_version)),
        median(runs, || {
            legacy::decode_bincode::<T>(&old, old_version).unwrap()
        }),
    );
    let new = codec::encode(value);
    assert_eq!(codec::decode::<T>(&new).unwrap(), *value);
    row(
        "MessagePack by name (now)",
        new.len(),
        median(runs, || codec::encode(value)),
        median(runs, || codec::decode::<T>(&new).unwrap()),
    );
    let c = cbor(value);
    let enc = median(runs, || cbor(value));
    // ciborium reads a struct only from a map, so it cannot read the positional records.
    if ciborium::from_reader::<T, _>(c.as_slice()).is_ok() {
        row(
            "CBOR, ciborium (not chosen)",
            c.len(),
            enc,
            median(runs, || {
                ciborium::from_reader::<T, _>(c.as_slice()).unwrap()
            }),
        );
    } else {
        println!(
            "| CBOR, ciborium (not chosen) | {} | {:.3} | cannot read positional records |",
            c.len(),
            enc.as_secs_f64() * 1e3
        );
    }
    println!(
        "\nscan alone: {:.3} ms",
        median(runs, || codec::scan::check(&new[1..]).unwrap()).as_secs_f64() * 1e3
    );
}

fn main() {
    measure("ReportUsage, 2 000 keys", &report_usage(), 200, 1);
    let r = registry();
    measure("Snapshot, 100 000 API keys in one plan", &r, 9, 2);
    // What this build pays once to read the last bincode snapshot: frozen layout, then by name.
    let old = legacy::encode_bincode(&r, 2);
    let t = median(5, || {
        legacy::decode_upgraded::<bincode_v1::Registry, Registry>(&old, 2).unwrap()
    });
    println!(
        "\nreading the bincode snapshot into today's registry (frozen layout, converted by name): {:.3} ms",
        t.as_secs_f64() * 1e3
    );
}
