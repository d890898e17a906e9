//! The administrative audit trail: an append-only, hash-chained log of API calls that change
//! (or tried to change) the state, kept in the replicated state.
//!
//! Each entry carries the SHA-256 of the entry before it (the first kept entry carries the
//! chain's *anchor*: the hash of the last entry pruned from the head, or all zeros), and the log
//! remembers the hash of its newest entry (the *head*). Changing, removing or reordering any
//! kept entry breaks a link that [`AdminAuditLog::verify`] finds. Entries arrive with their
//! secrets already removed by the API (see `ops`); the model only orders, chains and prunes.

use crate::ids::UserId;
use crate::settings::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A SHA-256 digest.
pub type AuditHash = [u8; 32];

/// How many entries the log keeps; older ones are pruned from the head, their hash kept as the
/// chain's anchor.
pub const ADMIN_AUDIT_RETENTION: usize = 50_000;

/// What the API reports about one call (secrets already removed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAuditRecord {
    pub access_key_id: String,
    pub role: Role,
    /// The user the key acts as, if any.
    pub user_id: Option<UserId>,
    /// The caller's address as the API saw it.
    pub source: String,
    pub action: String,
    /// Parameter names and values; secret values replaced by the API.
    pub params: BTreeMap<String, String>,
    /// `OK` or the API's error code.
    pub result: String,
}

/// One entry of the log, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAuditEntry {
    /// Position in the log, from 1, never reused.
    pub seq: u64,
    /// The leader's time when the entry was applied.
    pub at_ms: u64,
    pub record: AdminAuditRecord,
    /// Hash of the previous entry (or the anchor).
    pub prev_hash: AuditHash,
}

impl AdminAuditEntry {
    /// SHA-256 over an unambiguous encoding of every field (each length-prefixed).
    pub fn hash(&self) -> AuditHash {
        let mut h = Sha256::new();
        let mut field = |b: &[u8]| {
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        };
        field(b"portunus admin audit v1");
        field(&self.seq.to_be_bytes());
        field(&self.at_ms.to_be_bytes());
        field(&self.prev_hash);
        let r = &self.record;
        field(r.access_key_id.as_bytes());
        field(role_name(r.role).as_bytes());
        match r.user_id {
            Some(u) => field(&u.to_be_bytes()),
            None => field(b""),
        }
        field(r.source.as_bytes());
        field(r.action.as_bytes());
        field(&(r.params.len() as u64).to_be_bytes());
        for (k, v) in &r.params {
            field(k.as_bytes());
            field(v.as_bytes());
        }
        field(r.result.as_bytes());
        h.finalize().into()
    }
}

/// The role's stable name, as hashed.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "Admin",
        Role::Auditor => "Auditor",
        Role::Operator => "Operator",
    }
}

/// Why the chain does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// The entry `seq` does not carry the hash of the entry before it (or of the anchor): that
    /// entry or the one before it was changed, or entries between them were removed.
    #[error("entry {seq} does not link to the entry before it")]
    Link { seq: u64 },
    /// Sequence numbers are not consecutive at `seq`.
    #[error("entry {seq} does not follow the entry before it")]
    Gap { seq: u64 },
    /// The newest entry's hash is not the recorded head: it was changed, or entries were
    /// removed from the tail.
    #[error("the newest entry does not match the recorded head")]
    Head,
}

/// The log: kept entries by sequence number, the anchor and the head.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAuditLog {
    #[serde(deserialize_with = "crate::decoding::shared_map")]
    entries: crate::state::Shared<u64, AdminAuditEntry>,
    /// Hash of the last pruned entry (zeros while nothing was pruned).
    anchor: AuditHash,
    /// Hash of the newest entry (the anchor when the log is empty).
    head: AuditHash,
    /// Sequence number of the next entry, minus one.
    last_seq: u64,
}

impl AdminAuditLog {
    /// Appends one entry stamped `now`, pruning the oldest beyond `retention`; returns its seq.
    pub fn append(&mut self, now: u64, record: AdminAuditRecord, retention: usize) -> u64 {
        self.last_seq += 1;
        let entry = AdminAuditEntry {
            seq: self.last_seq,
            at_ms: now,
            record,
            prev_hash: self.head,
        };
        self.head = entry.hash();
        self.entries.insert(entry.seq, entry);
        while self.entries.len() > retention.max(1) {
            if let Some(old) = self.entries.get_min().map(|(seq, _)| *seq) {
                if let Some(old) = self.entries.remove(&old) {
                    self.anchor = old.hash();
                }
            }
        }
        self.last_seq
    }

    /// Walks the chain from the anchor to the head; the first broken link if any.
    pub fn verify(&self) -> Result<(), ChainBreak> {
        let mut expected = self.anchor;
        let mut prev_seq: Option<u64> = None;
        for (seq, e) in &self.entries {
            if *seq != e.seq || prev_seq.is_some_and(|p| p + 1 != e.seq) {
                return Err(ChainBreak::Gap { seq: e.seq });
            }
            if e.prev_hash != expected {
                return Err(ChainBreak::Link { seq: e.seq });
            }
            expected = e.hash();
            prev_seq = Some(e.seq);
        }
        if expected != self.head {
            return Err(ChainBreak::Head);
        }
        Ok(())
    }

    /// Kept entries, oldest first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &AdminAuditEntry> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entry `seq`, if it is kept.
    pub fn entry(&self, seq: u64) -> Option<&AdminAuditEntry> {
        self.entries.get(&seq)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn anchor(&self) -> AuditHash {
        self.anchor
    }

    pub fn head(&self) -> AuditHash {
        self.head
    }

    /// Sequence number of the newest entry ever appended (0 when none).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Mutable access for tests that play the attacker.
    #[cfg(test)]
    pub(crate) fn entry_mut(&mut self, seq: u64) -> Option<&mut AdminAuditEntry> {
        self.entries.get_mut(&seq)
    }

    #[cfg(test)]
    pub(crate) fn remove(&mut self, seq: u64) {
        self.entries.remove(&seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(action: &str) -> AdminAuditRecord {
        AdminAuditRecord {
            access_key_id: "AK1".into(),
            role: Role::Admin,
            user_id: Some(1),
            source: "127.0.0.1:5000".into(),
            action: action.into(),
            params: BTreeMap::from([("UserName".into(), "alice".into())]),
            result: "OK".into(),
        }
    }

    fn log_of(n: u64, retention: usize) -> AdminAuditLog {
        let mut log = AdminAuditLog::default();
        for i in 1..=n {
            assert_eq!(log.append(1000 + i, record(&format!("A{i}")), retention), i);
        }
        log
    }

    #[test]
    fn entries_are_appended_in_order_and_the_chain_verifies() {
        let log = log_of(5, 100);
        let seqs: Vec<u64> = log.entries().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
        let actions: Vec<&str> = log.entries().map(|e| e.record.action.as_str()).collect();
        assert_eq!(actions, vec!["A1", "A2", "A3", "A4", "A5"]);
        assert_eq!(log.entries().next().map(|e| e.prev_hash), Some([0u8; 32]));
        let mut prev = [0u8; 32];
        for e in log.entries() {
            assert_eq!(e.prev_hash, prev);
            prev = e.hash();
        }
        assert_eq!(log.head(), prev);
        assert_eq!(log.verify(), Ok(()));
    }

    #[test]
    fn a_tampered_entry_is_found() {
        let mut log = log_of(5, 100);
        if let Some(e) = log.entry_mut(3) {
            e.record.result = "Forbidden".into();
        }
        assert_eq!(log.verify(), Err(ChainBreak::Link { seq: 4 }));

        let mut log = log_of(5, 100);
        if let Some(e) = log.entry_mut(5) {
            e.record.params.insert("Password".into(), "x".into());
        }
        assert_eq!(log.verify(), Err(ChainBreak::Head));

        let mut log = log_of(5, 100);
        log.remove(2);
        assert_eq!(log.verify(), Err(ChainBreak::Gap { seq: 3 }));

        let mut log = log_of(5, 100);
        log.remove(5);
        assert_eq!(log.verify(), Err(ChainBreak::Head));
    }

    #[test]
    fn pruning_keeps_the_anchor_and_verification_working() {
        let log = log_of(10, 4);
        let seqs: Vec<u64> = log.entries().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![7, 8, 9, 10]);
        assert_ne!(log.anchor(), [0u8; 32]);
        assert_eq!(
            log.entries().next().map(|e| e.prev_hash),
            Some(log.anchor())
        );
        assert_eq!(log.verify(), Ok(()));
        let mut tampered = log.clone();
        if let Some(e) = tampered.entry_mut(7) {
            e.prev_hash = [1u8; 32];
        }
        assert_eq!(tampered.verify(), Err(ChainBreak::Link { seq: 7 }));
    }

    #[test]
    fn the_hash_covers_every_field() {
        let base = AdminAuditEntry {
            seq: 1,
            at_ms: 2,
            record: record("CreateUser"),
            prev_hash: [0; 32],
        };
        let h = base.hash();
        let mut variants = Vec::new();
        let mut e = base.clone();
        e.seq = 9;
        variants.push(e);
        let mut e = base.clone();
        e.at_ms = 9;
        variants.push(e);
        let mut e = base.clone();
        e.prev_hash = [9; 32];
        variants.push(e);
        let mut e = base.clone();
        e.record.access_key_id = "AK2".into();
        variants.push(e);
        let mut e = base.clone();
        e.record.role = Role::Auditor;
        variants.push(e);
        let mut e = base.clone();
        e.record.user_id = None;
        variants.push(e);
        let mut e = base.clone();
        e.record.source = "x".into();
        variants.push(e);
        let mut e = base.clone();
        e.record.action = "DeleteUser".into();
        variants.push(e);
        let mut e = base.clone();
        e.record.params.clear();
        variants.push(e);
        let mut e = base.clone();
        e.record.result = "Forbidden".into();
        variants.push(e);
        for v in variants {
            assert_ne!(v.hash(), h, "{v:?}");
        }
    }
}
