//! Name indexes of the collections whose names are unique and looked up by name (users at every
//! login; user groups, hosts and databases at every create and rename): derived from the
//! collections, never encoded, built on first use after a state is decoded or imported, and kept
//! current by the commands that add, rename or remove an entry. Without them each create scanned
//! every name (a quarter of a node's CPU in the API write benchmark once it held 15,000 groups)
//! and each login every user.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// Name to id; the lowest id when (imported) data ever holds a name twice, as a scan in id
/// order would find.
#[derive(Debug, Default)]
pub(crate) struct NameIndex(OnceLock<BTreeMap<String, u64>>);

/// A copy starts unbuilt and builds itself on first use: the only copies of a state are the
/// ones a snapshot encodes (derived data is not encoded), which then never need the index.
impl Clone for NameIndex {
    fn clone(&self) -> Self {
        NameIndex::default()
    }
}

impl PartialEq for NameIndex {
    /// Derived data: two states are equal when their collections are.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl NameIndex {
    /// The index, built from `entries` (id, name in id order) if it is not yet.
    pub(crate) fn get<'a>(
        &self,
        entries: impl FnOnce() -> Box<dyn Iterator<Item = (u64, &'a str)> + 'a>,
    ) -> &BTreeMap<String, u64> {
        self.0.get_or_init(|| {
            let mut m = BTreeMap::new();
            for (id, name) in entries() {
                m.entry(name.to_string()).or_insert(id);
            }
            m
        })
    }

    /// Records `name` for `id` (if the index is built; otherwise it is built when first used).
    pub(crate) fn insert(&mut self, name: &str, id: u64) {
        if let Some(m) = self.0.get_mut() {
            m.entry(name.to_string()).or_insert(id);
        }
    }

    /// Forgets `name` if it names `id`. Dropped entirely when another entry may carry the same
    /// name (imported data), so that it is rebuilt from the collection.
    pub(crate) fn remove(&mut self, name: &str, id: u64) {
        if let Some(m) = self.0.get_mut() {
            if m.get(name) == Some(&id) {
                m.remove(name);
            }
        }
    }

    /// Forgets everything (the collection was replaced).
    pub(crate) fn reset(&mut self) {
        self.0 = OnceLock::new();
    }
}

/// Which entries belong to which owner (a host's accounts, a database's accounts), as
/// (owner, id) pairs: derived like [`NameIndex`], so that an owner's entries are a range instead
/// of a scan of every entry (each host row of `ListHosts` counts its accounts; a create checks
/// the names of its host's accounts).
#[derive(Debug, Default)]
pub(crate) struct OwnerIndex(OnceLock<BTreeSet<(u64, u64)>>);

/// Unbuilt in a copy, like [`NameIndex`].
impl Clone for OwnerIndex {
    fn clone(&self) -> Self {
        OwnerIndex::default()
    }
}

impl PartialEq for OwnerIndex {
    /// Derived data: two states are equal when their collections are.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl OwnerIndex {
    /// The ids owned by `owner`, in id order; the index is built from `entries` (owner, id) if
    /// it is not yet.
    pub(crate) fn of<'a>(
        &'a self,
        owner: u64,
        entries: impl FnOnce() -> Box<dyn Iterator<Item = (u64, u64)> + 'a>,
    ) -> impl Iterator<Item = u64> + 'a {
        self.0
            .get_or_init(|| entries().collect())
            .range((owner, 0)..=(owner, u64::MAX))
            .map(|(_, id)| *id)
    }

    /// Records that `owner` owns `id` (if the index is built).
    pub(crate) fn insert(&mut self, owner: u64, id: u64) {
        if let Some(s) = self.0.get_mut() {
            s.insert((owner, id));
        }
    }

    /// Forgets that `owner` owns `id`.
    pub(crate) fn remove(&mut self, owner: u64, id: u64) {
        if let Some(s) = self.0.get_mut() {
            s.remove(&(owner, id));
        }
    }

    /// Forgets everything (the collection was replaced).
    pub(crate) fn reset(&mut self) {
        self.0 = OnceLock::new();
    }
}

#[cfg(test)]
mod tests {
    use super::NameIndex;

    #[test]
    fn an_unbuilt_index_is_built_from_the_collection_and_then_kept() {
        let names = [(3u64, "b"), (1, "a"), (4, "a")];
        let mut idx = NameIndex::default();
        idx.insert("ignored-until-built", 9);
        let built = idx.get(|| Box::new(names.iter().map(|(i, n)| (*i, *n))));
        assert_eq!(
            built.get("a"),
            Some(&1),
            "the first in the given order wins"
        );
        assert_eq!(built.get("ignored-until-built"), None);
        idx.insert("c", 5);
        idx.remove("a", 4);
        let kept = idx.get(|| unreachable!("already built"));
        assert_eq!((kept.get("a"), kept.get("c")), (Some(&1), Some(&5)));
        idx.remove("a", 1);
        assert_eq!(idx.get(|| unreachable!()).get("a"), None);
        idx.reset();
        assert_eq!(idx.get(|| Box::new(std::iter::empty())).len(), 0);
    }
}

/// The ids of a collection in order, for paging by position: the `k`-th newest session is one
/// index away instead of a walk over every newer one. Derived like [`NameIndex`]. Ids are
/// handed out in increasing order, so an insert is a push at the back, and the oldest go first,
/// so a removal is near the front.
#[derive(Debug, Default)]
pub(crate) struct OrderIndex(OnceLock<std::collections::VecDeque<u64>>);

impl PartialEq for OrderIndex {
    /// Derived data: two states are equal when their collections are.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Unbuilt in a copy, like [`NameIndex`].
impl Clone for OrderIndex {
    fn clone(&self) -> Self {
        OrderIndex::default()
    }
}

impl OrderIndex {
    /// The ids in increasing order, built from `ids` (in increasing order) if not yet.
    pub(crate) fn get<'a>(
        &self,
        ids: impl FnOnce() -> Box<dyn Iterator<Item = u64> + 'a>,
    ) -> &std::collections::VecDeque<u64> {
        self.0.get_or_init(|| ids().collect())
    }

    /// Records `id` (if the index is built).
    pub(crate) fn insert(&mut self, id: u64) {
        if let Some(v) = self.0.get_mut() {
            match v.back() {
                Some(&last) if last >= id => {
                    if let Err(at) = v.binary_search(&id) {
                        v.insert(at, id);
                    }
                }
                _ => v.push_back(id),
            }
        }
    }

    /// Forgets `id` (if the index is built).
    pub(crate) fn remove(&mut self, id: u64) {
        if let Some(v) = self.0.get_mut() {
            if let Ok(at) = v.binary_search(&id) {
                v.remove(at);
            }
        }
    }
}
