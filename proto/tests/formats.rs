//! Format fixtures: bytes written by earlier builds (under `tests/data/`) decode into exactly
//! the values they were written from ([`samples`]).
//!
//! `TOLLGATE_WRITE_FIXTURES=1 cargo test -p tollgate-proto --test formats` rewrites the
//! fixtures of the CURRENT format only; the files of older formats were written by the builds
//! that wrote that format and must never be rewritten.

use std::path::PathBuf;
use tollgate_proto::codec;
use tollgate_proto::{
    Command, Registry, RegistryBeforeObjects, RegistryBeforeSessions, RegistryBeforeVersions,
};

#[path = "support/samples.rs"]
mod samples;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn writing() -> bool {
    std::env::var_os("TOLLGATE_WRITE_FIXTURES").is_some()
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn before_sessions(r: &Registry) -> RegistryBeforeSessions {
    let o = RegistryBeforeObjects::from(r);
    RegistryBeforeSessions {
        apis: o.apis,
        usage: o.usage,
        api_keys: o.api_keys,
        usage_plans: o.usage_plans,
        cache_epochs: o.cache_epochs,
        versions: o.versions,
        versioned: o.versioned,
        quota_starts: o.quota_starts,
    }
}

fn before_versions(r: &Registry) -> RegistryBeforeVersions {
    let o = RegistryBeforeObjects::from(r);
    RegistryBeforeVersions {
        apis: o.apis,
        usage: o.usage,
        api_keys: o.api_keys,
        usage_plans: o.usage_plans,
        cache_epochs: o.cache_epochs,
    }
}

#[test]
fn write_bincode_fixtures() {
    if !writing() {
        return;
    }
    std::fs::create_dir_all(data("v1/commands")).unwrap();
    for (i, (name, cmd)) in samples::commands().iter().enumerate() {
        let file = format!("v1/commands/{i:02}-{name}.bin");
        std::fs::write(data(&file), codec::encode(cmd)).unwrap();
    }
    let r = samples::registry();
    std::fs::write(
        data("snapshot-v2.bin"),
        codec::encode_as(&r, codec::SNAPSHOT_FORMAT_VERSION),
    )
    .unwrap();
    std::fs::write(
        data("snapshot-v1-before-objects.bin"),
        codec::encode(&RegistryBeforeObjects::from(&r)),
    )
    .unwrap();
    std::fs::write(
        data("snapshot-v1-before-sessions.bin"),
        codec::encode(&before_sessions(&r)),
    )
    .unwrap();
    std::fs::write(
        data("snapshot-v1-before-versions.bin"),
        codec::encode(&before_versions(&r)),
    )
    .unwrap();
}

#[test]
fn bincode_v1_commands_decode_into_the_same_commands() {
    let samples = samples::commands();
    let mut files: Vec<_> = std::fs::read_dir(data("v1/commands"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        samples.len(),
        "one fixture per command variant"
    );
    for (file, (name, expected)) in files.iter().zip(samples) {
        assert!(
            file.ends_with(&format!("-{name}.bin")),
            "{file} is not {name}"
        );
        let bytes = read(&format!("v1/commands/{file}"));
        assert_eq!(bytes[0], 1, "{file}: format 1");
        let back: Command = codec::decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(back, expected, "{file}");
    }
}

#[test]
fn bincode_v2_snapshot_decodes_into_the_same_registry() {
    let bytes = read("snapshot-v2.bin");
    assert_eq!(bytes[0], 2);
    let back: Registry = codec::decode_as(&bytes, 2).unwrap();
    assert_eq!(back, samples::registry());
}

#[test]
fn bincode_v1_snapshots_decode_through_the_legacy_chain() {
    let full = samples::registry();
    let bytes = read("snapshot-v1-before-objects.bin");
    let back: RegistryBeforeObjects = codec::decode_as(&bytes, 1).unwrap();
    assert_eq!(
        Registry::from(back),
        Registry::from(RegistryBeforeObjects::from(&full))
    );
    let bytes = read("snapshot-v1-before-sessions.bin");
    let back: RegistryBeforeSessions = codec::decode_as(&bytes, 1).unwrap();
    assert_eq!(Registry::from(back), Registry::from(before_sessions(&full)));
    let bytes = read("snapshot-v1-before-versions.bin");
    let back: RegistryBeforeVersions = codec::decode_as(&bytes, 1).unwrap();
    assert_eq!(Registry::from(back), Registry::from(before_versions(&full)));
}
