//! Format fixtures: bytes written by earlier builds (under `tests/data/`) decode into exactly
//! the values they were written from ([`samples`]).
//!
//! - `v1/commands/`, `snapshot-v2.bin`, `snapshot-v1-*.bin`: written by the last bincode build
//!   (commands of format 1, snapshots of format 2 and the three format-1 registry layouts).
//! - `v2/commands/`, `snapshot-v3.bin`: the current format (MessagePack by name), so that a
//!   later change that breaks today's bytes (a renamed field or variant) fails here. Commands
//!   added after the bincode build have fixtures here only (38 and on), and
//!   `snapshot-v3-full.bin` holds the later kinds of objects and fields.
//!
//! `TOLLGATE_WRITE_FIXTURES=1 cargo test -p tollgate-proto --test formats write` writes the
//! fixtures of the current format when they are missing; existing files are never rewritten.

use std::path::PathBuf;
use tollgate_proto::codec;
use tollgate_proto::legacy::{self, bincode_v1};
use tollgate_proto::{Command, Registry};

#[path = "support/samples.rs"]
mod samples;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The files of `dir`, sorted, checked to be one per sample command in order (the first
/// `count` samples: the bincode fixtures hold only the commands of that build).
fn command_files(dir: &str, count: usize) -> Vec<(String, Command)> {
    let mut samples = samples::commands();
    samples.truncate(count);
    let mut files: Vec<_> = std::fs::read_dir(data(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        samples.len(),
        "one fixture per command variant"
    );
    files
        .into_iter()
        .zip(samples)
        .map(|(file, (name, cmd))| {
            assert!(
                file.ends_with(&format!("-{name}.bin")),
                "{file} is not {name}"
            );
            (format!("{dir}/{file}"), cmd)
        })
        .collect()
}

fn write_new(name: &str, bytes: Vec<u8>) {
    let path = data(name);
    if !path.exists() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

#[test]
fn write_current_fixtures() {
    if std::env::var_os("TOLLGATE_WRITE_FIXTURES").is_none() {
        return;
    }
    for (i, (name, cmd)) in samples::commands().iter().enumerate() {
        write_new(
            &format!("v2/commands/{i:02}-{name}.bin"),
            codec::encode(cmd),
        );
    }
    write_new(
        "snapshot-v3.bin",
        codec::encode_as(&samples::registry(), codec::SNAPSHOT_FORMAT_VERSION),
    );
    write_new(
        "snapshot-v3-full.bin",
        codec::encode_as(&samples::full_registry(), codec::SNAPSHOT_FORMAT_VERSION),
    );
}

#[test]
fn bincode_v1_commands_decode_into_the_same_commands() {
    for (file, expected) in command_files("v1/commands", samples::V1_COMMANDS) {
        let bytes = read(&file);
        assert_eq!(bytes[0], legacy::BINCODE_FORMAT_VERSION, "{file}");
        // The current decoder refuses them (another format), the legacy one reads them.
        assert!(codec::decode::<Command>(&bytes).is_err(), "{file}");
        let back: Command = legacy::decode_upgraded::<bincode_v1::Command, _>(&bytes, 1)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(back, expected, "{file}");
    }
}

#[test]
fn current_commands_decode_into_the_same_commands() {
    for (file, expected) in command_files("v2/commands", usize::MAX) {
        let bytes = read(&file);
        assert_eq!(bytes[0], codec::FORMAT_VERSION, "{file}");
        let back: Command = codec::decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(back, expected, "{file}");
    }
}

#[test]
fn bincode_v2_snapshot_decodes_into_the_same_registry() {
    let bytes = read("snapshot-v2.bin");
    assert_eq!(bytes[0], legacy::BINCODE_SNAPSHOT_FORMAT_VERSION);
    let back: Registry = legacy::decode_upgraded::<bincode_v1::Registry, _>(&bytes, 2).unwrap();
    assert_eq!(back, samples::registry());
}

#[test]
fn current_snapshot_decodes_into_the_same_registry() {
    let bytes = read("snapshot-v3.bin");
    let back: Registry = codec::decode_as(&bytes, codec::SNAPSHOT_FORMAT_VERSION).unwrap();
    assert_eq!(back, samples::registry());
    // The later objects and fields (IAM, account, certificates, domains, authorizers, ...).
    let bytes = read("snapshot-v3-full.bin");
    let back: Registry = codec::decode_as(&bytes, codec::SNAPSHOT_FORMAT_VERSION).unwrap();
    assert_eq!(back, samples::full_registry());
}

/// What a registry of format 1 held of the sample: no API-level objects; `before` names what
/// else the layout lacked ("sessions", or "versions" for everything since scope versions).
fn without(before: &str) -> Registry {
    let mut r = samples::registry();
    for a in r.apis.values_mut() {
        a.gateway_responses.clear();
        a.models.clear();
        a.request_validators.clear();
        for d in a.deployments.values_mut() {
            d.gateway_responses.clear();
            d.models.clear();
            d.request_validators.clear();
        }
    }
    if before == "sessions" || before == "versions" {
        r.sessions = Default::default();
    }
    if before == "versions" {
        r.versions.clear();
        r.versioned = false;
        r.quota_starts.clear();
    }
    r
}

#[test]
fn bincode_v1_snapshots_decode_through_the_legacy_chain() {
    let bytes = read("snapshot-v1-before-objects.bin");
    let back: Registry =
        legacy::decode_upgraded::<bincode_v1::RegistryBeforeObjects, _>(&bytes, 1).unwrap();
    assert_eq!(back, without("objects"));
    let bytes = read("snapshot-v1-before-sessions.bin");
    let back: Registry =
        legacy::decode_upgraded::<bincode_v1::RegistryBeforeSessions, _>(&bytes, 1).unwrap();
    assert_eq!(back, without("sessions"));
    let bytes = read("snapshot-v1-before-versions.bin");
    let back: Registry =
        legacy::decode_upgraded::<bincode_v1::RegistryBeforeVersions, _>(&bytes, 1).unwrap();
    assert_eq!(back, without("versions"));
    // A layout is never mistaken for a newer one.
    assert!(legacy::decode_bincode::<bincode_v1::RegistryBeforeObjects>(&bytes, 1).is_err());
}

/// Earlier builds accepted any quota period in a command (the state machine refused it when
/// applying): such a logged command still decodes, keeps the string, and is refused again.
#[test]
fn an_unchecked_quota_period_in_an_old_log_decodes_and_is_refused_again() {
    use tollgate_proto::model::{OrUnknown, UsagePlan};
    let plan = UsagePlan {
        id: "plan09".into(),
        name: "p".into(),
        quota: Some(tollgate_proto::model::QuotaSettings {
            limit: 5,
            offset: 0,
            period: OrUnknown::Unknown("YEAR".into()),
        }),
        ..Default::default()
    };
    let old: bincode_v1::Command =
        legacy::upgrade(&Command::CreateUsagePlan { plan: plan.clone() }).unwrap();
    let bytes = legacy::encode_bincode(&old, legacy::BINCODE_FORMAT_VERSION);
    let back: Command = legacy::decode_upgraded::<bincode_v1::Command, _>(&bytes, 1).unwrap();
    assert_eq!(back, Command::CreateUsagePlan { plan });
    let err = Registry::default().apply(&back).unwrap_err().to_string();
    assert!(
        err.contains("Invalid quota period specified: YEAR"),
        "{err}"
    );
}
