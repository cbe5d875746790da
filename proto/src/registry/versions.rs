//! The versions of scopes (see [`Scope`]): how many applied commands changed each, which
//! guarded writes ([`crate::Command::IfUnchanged`]) check. Read and bumped like the map of every
//! scope's version it encodes as (`get`, `entry(..).or_insert(0)`), but API keys' versions are
//! held apart, by bare id: every imported key has one once versions are on, and a `Scope` key
//! costs a million-key registry ~24 bytes a key more (issue 14).

use crate::command::Scope;
use crate::shared::Shared;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::btree_map::{self, BTreeMap};
use std::fmt;

/// Scope versions (a scope never changed is absent: version 0). Both maps are [`Shared`]
/// (copied on write, see [`crate::Registry`]): a change to an API's version after the
/// registry was copied does not copy a million keys' versions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Versions {
    /// Every scope's version but API keys'.
    other: Shared<BTreeMap<Scope, u64>>,
    /// API keys' versions, by key id.
    keys: Shared<BTreeMap<Box<str>, u64>>,
}

/// A scope's place in [`Versions`] ([`Versions::entry`]).
pub enum VersionEntry<'a> {
    /// A scope other than an API key's.
    Other(btree_map::Entry<'a, Scope, u64>),
    /// An API key's, by id.
    Key(btree_map::Entry<'a, Box<str>, u64>),
}

impl<'a> VersionEntry<'a> {
    /// The version, inserted as `v` when absent.
    pub fn or_insert(self, v: u64) -> &'a mut u64 {
        match self {
            VersionEntry::Other(e) => e.or_insert(v),
            VersionEntry::Key(e) => e.or_insert(v),
        }
    }
}

impl Versions {
    /// The version of `scope`, if it was ever changed.
    pub fn get(&self, scope: &Scope) -> Option<&u64> {
        match scope {
            Scope::ApiKey(id) => self.keys.get(id.as_str()),
            other => self.other.get(other),
        }
    }

    /// The place of `scope`'s version.
    pub fn entry(&mut self, scope: Scope) -> VersionEntry<'_> {
        match scope {
            Scope::ApiKey(id) => VersionEntry::Key(self.keys.entry(id.into_boxed_str())),
            other => VersionEntry::Other(self.other.entry(other)),
        }
    }

    /// Forgets every version.
    pub fn clear(&mut self) {
        self.other.clear();
        self.keys.clear();
    }

    /// How many scopes have a version.
    pub fn len(&self) -> usize {
        self.other.len() + self.keys.len()
    }

    /// Whether none has.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every `(scope, version)` in the order of the scopes (as the one map would hold them).
    fn entries(&self) -> impl Iterator<Item = (ScopeOut<'_>, &u64)> {
        let before = self.other.iter().filter(|(s, _)| sorts_before_keys(s));
        let after = self.other.iter().filter(|(s, _)| !sorts_before_keys(s));
        before
            .map(|(s, v)| (ScopeOut::Scope(s), v))
            .chain(self.keys.iter().map(|(id, v)| (ScopeOut::Key(id), v)))
            .chain(after.map(|(s, v)| (ScopeOut::Scope(s), v)))
    }
}

/// Whether `scope` sorts before every `Scope::ApiKey` (`Scope`'s derived order is by variant
/// first, in declaration order).
fn sorts_before_keys(scope: &Scope) -> bool {
    match scope {
        Scope::Api(_) => true,
        Scope::ApiKey(_)
        | Scope::UsagePlan(_)
        | Scope::Account
        | Scope::ClientCertificate(_)
        | Scope::DomainName(_) => false,
    }
}

impl From<BTreeMap<Scope, u64>> for Versions {
    fn from(all: BTreeMap<Scope, u64>) -> Versions {
        let mut v = Versions::default();
        for (scope, n) in all {
            *v.entry(scope).or_insert(0) = n;
        }
        v
    }
}

/// A scope as it is encoded: a [`Scope`], or a key's id as `Scope::ApiKey`.
enum ScopeOut<'a> {
    Scope(&'a Scope),
    Key(&'a str),
}

impl Serialize for ScopeOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ScopeOut::Scope(scope) => scope.serialize(s),
            // As the derived `Serialize` of `Scope::ApiKey` writes it.
            ScopeOut::Key(id) => s.serialize_newtype_variant("Scope", 1, "ApiKey", id),
        }
    }
}

impl Serialize for Versions {
    /// As the map of every scope's version (`BTreeMap<Scope, u64>`): the same bytes.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.entries())
    }
}

impl<'de> Deserialize<'de> for Versions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Versions, D::Error> {
        struct VersionsVisitor;

        impl<'de> Visitor<'de> for VersionsVisitor {
            type Value = Versions;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of scope versions")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Versions, A::Error> {
                let mut v = Versions::default();
                while let Some((scope, n)) = map.next_entry::<Scope, u64>()? {
                    *v.entry(scope).or_insert(0) = n;
                }
                Ok(v)
            }
        }

        d.deserialize_map(VersionsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> BTreeMap<Scope, u64> {
        BTreeMap::from([
            (Scope::Api("a1".into()), 3),
            (Scope::Api("a2".into()), 1),
            (Scope::ApiKey("k1".into()), 2),
            (Scope::ApiKey("k0".into()), 7),
            (Scope::UsagePlan("p1".into()), 9),
            (Scope::Account, 1),
            (Scope::ClientCertificate("c".into()), 4),
            (Scope::DomainName("d".into()), 5),
        ])
    }

    #[test]
    fn it_encodes_as_the_one_map_of_every_scope() {
        let v = Versions::from(all());
        assert_eq!(v.len(), 8);
        assert_eq!(crate::codec::encode(&v), crate::codec::encode(&all()));
        let back: Versions = crate::codec::decode(&crate::codec::encode(&all())).unwrap();
        assert_eq!(back, v);
        assert_eq!(back.get(&Scope::ApiKey("k0".into())), Some(&7));
        assert_eq!(back.get(&Scope::Api("a1".into())), Some(&3));
        assert_eq!(back.get(&Scope::ApiKey("nope".into())), None);
    }

    #[test]
    fn entries_bump_where_the_scope_lives() {
        let mut v = Versions::default();
        for s in [Scope::ApiKey("k".into()), Scope::UsagePlan("p".into())] {
            for _ in 0..2 {
                *v.entry(s.clone()).or_insert(0) += 1;
            }
        }
        assert_eq!(v.get(&Scope::ApiKey("k".into())), Some(&2));
        assert_eq!(v.get(&Scope::UsagePlan("p".into())), Some(&2));
        assert_eq!((v.keys.len(), v.other.len()), (1, 1));
        v.clear();
        assert!(v.is_empty());
    }
}
