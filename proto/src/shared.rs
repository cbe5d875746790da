//! [`Shared`]: a value held behind an `Arc` and copied on write, so that copies that are not
//! changed cost one pointer. The registry uses it for resource trees: a deployment freezes
//! the working tree by sharing it, and every later deployment of an unchanged tree shares the
//! same one (issue 14: a copy per deployment cost ~190 kB for 20 MOCK resources).
//!
//! It reads as `T` (`Deref`), writes as `T` (`DerefMut`, which copies the value first when
//! another holder shares it: `Arc::make_mut`), compares by value, and is encoded as `T` is
//! (so stored formats do not change). Decoding makes one value per holder; see
//! [`crate::Registry::share_trees`] for how equal trees are shared again after a snapshot.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// A copy-on-write shared value (see the module comment).
#[derive(Clone, Default)]
pub struct Shared<T>(Arc<T>);

impl<T> Shared<T> {
    /// Holds `value`.
    pub fn new(value: T) -> Shared<T> {
        Shared(Arc::new(value))
    }

    /// The value: moved out when no other holder shares it, copied otherwise.
    pub fn into_inner(self) -> T
    where
        T: Clone,
    {
        Arc::unwrap_or_clone(self.0)
    }

    /// Whether `a` and `b` hold the same value (not only equal ones).
    pub fn ptr_eq(a: &Shared<T>, b: &Shared<T>) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl<T> From<T> for Shared<T> {
    fn from(value: T) -> Shared<T> {
        Shared::new(value)
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Clone> DerefMut for Shared<T> {
    fn deref_mut(&mut self) -> &mut T {
        Arc::make_mut(&mut self.0)
    }
}

impl<'a, T> IntoIterator for &'a Shared<T>
where
    &'a T: IntoIterator,
{
    type Item = <&'a T as IntoIterator>::Item;
    type IntoIter = <&'a T as IntoIterator>::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        self.0.as_ref().into_iter()
    }
}

impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Shared<T>) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: Serialize> Serialize for Shared<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Shared<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shared<T>, D::Error> {
        T::deserialize(d).map(Shared::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn copies_share_until_written_and_encode_as_the_value() {
        let a: Shared<BTreeMap<String, u32>> = BTreeMap::from([("x".to_string(), 1)]).into();
        let mut b = a.clone();
        assert!(Shared::ptr_eq(&a, &b));
        b.insert("y".into(), 2);
        assert!(!Shared::ptr_eq(&a, &b), "a write copies");
        assert_eq!(a.len(), 1, "the other holder keeps its value");
        assert_eq!(b.len(), 2);
        let plain = BTreeMap::from([("x".to_string(), 1u32)]);
        assert_eq!(crate::codec::encode(&a), crate::codec::encode(&plain));
        let back: Shared<BTreeMap<String, u32>> =
            crate::codec::decode(&crate::codec::encode(&plain)).unwrap();
        assert_eq!(back, a);
    }
}
