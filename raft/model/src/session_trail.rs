//! The session trail: what makes a session's audit tamper-evident.
//!
//! Two chains, both SHA-256 like the admin audit trail:
//! - **A session's events** (command lines, file operations, tunnels, statements: the JSON lines
//!   of its events blob) are chained by the node that served it as they arrive
//!   ([`EventsDigest::push`]); the count and the head go into the session's closing command and
//!   so into the replicated session record. Removing, changing, adding or reordering a line of
//!   the blob (or removing the blob) no longer matches the record.
//! - **The closed sessions** are chained in the order they closed ([`SessionTrail`]): closing a
//!   session links its whole record (who, what, from where, through which node, when, how it
//!   ended, bytes, and its events' digest) to the record closed before it, and the trail keeps
//!   the newest hash (head). Changing a record, or removing one, breaks a link.

use crate::admin_audit::{AuditHash, ChainBreak};
use crate::common::AssetRef;
use crate::ids::SessionId;
use crate::session::{EndReason, Session, SessionAccount};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The count and head of a session's event chain, as its closing record keeps them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsDigest {
    pub count: u64,
    pub head: AuditHash,
}

/// A hasher fed length-prefixed fields, so no two field lists hash alike.
struct Fields(Sha256);

impl Fields {
    fn new(tag: &str) -> Self {
        let mut f = Fields(Sha256::new());
        f.bytes(tag.as_bytes());
        f
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.update((b.len() as u64).to_be_bytes());
        self.0.update(b);
    }
    fn num(&mut self, n: u64) {
        self.bytes(&n.to_be_bytes());
    }
    fn opt(&mut self, n: Option<u64>) {
        match n {
            Some(n) => self.num(n),
            None => self.bytes(b""),
        }
    }
    fn done(self) -> AuditHash {
        self.0.finalize().into()
    }
}

impl EventsDigest {
    /// The chain of a session with no event yet: its head names the session, so one session's
    /// events cannot stand for another's.
    pub fn start(session_id: SessionId) -> Self {
        let mut f = Fields::new("portunus session events v1");
        f.num(session_id);
        EventsDigest {
            count: 0,
            head: f.done(),
        }
    }

    /// Links one event line (its exact bytes, without the newline).
    pub fn push(&mut self, line: &[u8]) {
        self.count += 1;
        let mut f = Fields::new("portunus session event");
        f.bytes(&self.head);
        f.num(self.count);
        f.bytes(line);
        self.head = f.done();
    }
}

/// Where a closed session stands in the trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLink {
    /// Position in the order of closing, from 1, never reused.
    pub seq: u64,
    /// Hash of the record closed before (or the trail's anchor).
    pub prev: AuditHash,
    /// Hash of this record, [`record_hash`].
    pub hash: AuditHash,
}

/// The stable name of an end reason, as hashed and shown.
pub fn end_reason_name(r: EndReason) -> &'static str {
    match r {
        EndReason::Normal => "Normal",
        EndReason::Terminated => "Terminated",
        EndReason::Timeout => "Timeout",
        EndReason::NodeLost => "NodeLost",
        EndReason::Error => "Error",
        EndReason::NotAdmitted => "NotAdmitted",
    }
}

/// SHA-256 of a closed session's record at `seq` after `prev`: every field an auditor reads
/// (not the node's epoch nor the termination flag, which are bookkeeping).
pub fn record_hash(seq: u64, prev: &AuditHash, s: &Session) -> AuditHash {
    let mut f = Fields::new("portunus session record v1");
    f.num(seq);
    f.bytes(prev);
    f.num(s.id);
    f.num(s.user_id);
    f.opt(s.token_id);
    f.num(s.node_id);
    f.bytes(s.client_addr.as_bytes());
    match s.asset {
        AssetRef::Host(id) => {
            f.bytes(b"Host");
            f.num(id);
        }
        AssetRef::Database(id) => {
            f.bytes(b"Database");
            f.num(id);
        }
    }
    match &s.account {
        SessionAccount::Hosted(id) => {
            f.bytes(b"Hosted");
            f.num(*id);
        }
        SessionAccount::Custom(name) => {
            f.bytes(b"Custom");
            f.bytes(name.as_bytes());
        }
    }
    f.bytes(s.protocol.api_name().as_bytes());
    f.num(s.started_at_ms);
    f.opt(s.ended_at_ms);
    f.bytes(s.end_reason.map(end_reason_name).unwrap_or("").as_bytes());
    f.num(s.bytes_up);
    f.num(s.bytes_down);
    match &s.events {
        Some(d) => {
            f.num(d.count);
            f.bytes(&d.head);
        }
        None => f.bytes(b""),
    }
    f.done()
}

/// The chain of closed sessions: their order, the anchor (hash of the last record purged, or
/// zeros) and the head (hash of the newest).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTrail {
    #[serde(deserialize_with = "crate::decoding::shared_map")]
    by_seq: crate::state::Shared<u64, SessionId>,
    anchor: AuditHash,
    head: AuditHash,
    last_seq: u64,
}

impl SessionTrail {
    /// Links a session that just closed (its record complete) after the newest one.
    pub fn link(&mut self, s: &mut Session) {
        self.last_seq += 1;
        let seq = self.last_seq;
        let prev = self.head;
        let hash = record_hash(seq, &prev, s);
        s.link = Some(SessionLink { seq, prev, hash });
        self.by_seq.insert(seq, s.id);
        self.head = hash;
    }

    /// Forgets the oldest records while `purge` says so, stopping at the first it keeps, so
    /// the kept ones stay one unbroken chain from the new anchor. Returns the purged ids.
    pub fn purge_oldest(
        &mut self,
        sessions: &crate::state::Shared<SessionId, Session>,
        mut purge: impl FnMut(&Session) -> bool,
    ) -> Vec<SessionId> {
        let mut gone = Vec::new();
        while let Some(&(seq, id)) = self.by_seq.get_min() {
            let Some(s) = sessions.get(&id) else { break };
            if !purge(s) {
                break;
            }
            self.anchor = s.link.map(|l| l.hash).unwrap_or(self.anchor);
            self.by_seq.remove(&seq);
            gone.push(id);
        }
        gone
    }

    /// Walks the kept records from the anchor to the head; the first broken link if any.
    pub fn verify(
        &self,
        sessions: &crate::state::Shared<SessionId, Session>,
    ) -> Result<(), ChainBreak> {
        let mut expected = self.anchor;
        let mut prev_seq: Option<u64> = None;
        for (&seq, id) in &self.by_seq {
            let link = sessions.get(id).and_then(|s| s.link.map(|l| (s, l)));
            let Some((s, link)) = link else {
                return Err(ChainBreak::Gap { seq });
            };
            if link.seq != seq || prev_seq.is_some_and(|p| p + 1 != seq) {
                return Err(ChainBreak::Gap { seq });
            }
            if link.prev != expected || record_hash(seq, &link.prev, s) != link.hash {
                return Err(ChainBreak::Link { seq });
            }
            expected = link.hash;
            prev_seq = Some(seq);
        }
        if expected != self.head {
            return Err(ChainBreak::Head);
        }
        Ok(())
    }

    /// Kept sessions in the order they closed.
    pub fn order(&self) -> impl DoubleEndedIterator<Item = (u64, SessionId)> + '_ {
        self.by_seq.iter().map(|(s, id)| (*s, *id))
    }

    pub fn anchor(&self) -> AuditHash {
        self.anchor
    }

    pub fn head(&self) -> AuditHash {
        self.head
    }

    /// Sequence number of the newest record ever linked (0 when none).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::Protocol;

    fn session(id: u64) -> Session {
        Session {
            id,
            user_id: 7,
            token_id: Some(3),
            node_id: 1,
            node_epoch: 1,
            client_addr: "127.0.0.3:5000".into(),
            asset: AssetRef::Host(2),
            account: SessionAccount::Hosted(4),
            protocol: Protocol::Ssh,
            started_at_ms: 1000,
            ended_at_ms: Some(2000),
            bytes_up: 10,
            bytes_down: 20,
            end_reason: Some(EndReason::Normal),
            terminate_requested: false,
            events: Some(EventsDigest::start(id)),
            link: None,
        }
    }

    #[test]
    fn every_event_line_counts_in_order() {
        let lines: [&[u8]; 3] = [b"{\"a\":1}", b"{\"b\":2}", b"{\"c\":3}"];
        let digest = |ls: &[&[u8]], id| {
            let mut d = EventsDigest::start(id);
            ls.iter().for_each(|l| d.push(l));
            d
        };
        let d = digest(&lines, 5);
        assert_eq!(d.count, 3);
        assert_ne!(d, digest(&lines, 6), "another session's chain");
        assert_ne!(d, digest(&[lines[0], lines[2]], 5), "a line removed");
        assert_ne!(d, digest(&[lines[1], lines[0], lines[2]], 5), "reordered");
        assert_ne!(d, digest(&[lines[0], b"{\"b\":3}", lines[2]], 5), "changed");
        assert_eq!(d.head, digest(&lines, 5).head);
    }

    #[test]
    fn the_record_hash_covers_every_audited_field() {
        let base = session(1);
        let h = record_hash(1, &[0; 32], &base);
        let mut changed: Vec<Session> = Vec::new();
        let mut with = |f: &dyn Fn(&mut Session)| {
            let mut s = base.clone();
            f(&mut s);
            changed.push(s);
        };
        with(&|s| s.id = 2);
        with(&|s| s.user_id = 8);
        with(&|s| s.token_id = None);
        with(&|s| s.node_id = 2);
        with(&|s| s.client_addr = "127.0.0.4:5000".into());
        with(&|s| s.asset = AssetRef::Database(2));
        with(&|s| s.account = SessionAccount::Custom("root".into()));
        with(&|s| s.protocol = Protocol::MySql);
        with(&|s| s.started_at_ms = 999);
        with(&|s| s.ended_at_ms = Some(2001));
        with(&|s| s.end_reason = Some(EndReason::Terminated));
        with(&|s| s.bytes_up = 11);
        with(&|s| s.bytes_down = 21);
        with(&|s| s.events = None);
        with(&|s| {
            if let Some(d) = s.events.as_mut() {
                d.push(b"x")
            }
        });
        for s in &changed {
            assert_ne!(record_hash(1, &[0; 32], s), h, "{s:?}");
        }
        assert_ne!(record_hash(2, &[0; 32], &base), h);
        assert_ne!(record_hash(1, &[1; 32], &base), h);
    }

    fn trail_of(n: u64) -> (SessionTrail, crate::state::Shared<SessionId, Session>) {
        let mut trail = SessionTrail::default();
        let mut sessions = crate::state::Shared::new();
        for id in 1..=n {
            let mut s = session(id);
            s.ended_at_ms = Some(1000 + id);
            trail.link(&mut s);
            sessions.insert(id, s);
        }
        (trail, sessions)
    }

    #[test]
    fn a_changed_or_removed_record_breaks_the_chain() {
        let (trail, sessions) = trail_of(4);
        assert_eq!(trail.verify(&sessions), Ok(()));
        assert_eq!(trail.last_seq(), 4);

        let mut changed = sessions.clone();
        if let Some(s) = changed.get_mut(&2) {
            s.client_addr = "10.0.0.1:1".into();
        }
        assert_eq!(trail.verify(&changed), Err(ChainBreak::Link { seq: 2 }));

        let mut removed = sessions.clone();
        removed.remove(&3);
        assert_eq!(trail.verify(&removed), Err(ChainBreak::Gap { seq: 3 }));

        let mut relinked = sessions.clone();
        if let Some(s) = relinked.get_mut(&4) {
            s.events = None;
            let link = s.link.expect("linked");
            s.link = Some(SessionLink {
                hash: record_hash(4, &link.prev, s),
                ..link
            });
        }
        assert_eq!(trail.verify(&relinked), Err(ChainBreak::Head));
    }

    #[test]
    fn purging_keeps_an_unbroken_chain_from_the_anchor() {
        let (mut trail, mut sessions) = trail_of(5);
        // Session 3 ended late: purging stops before it even though 4 ended earlier.
        if let Some(s) = sessions.get_mut(&3) {
            s.ended_at_ms = Some(9999);
        }
        let gone = trail.purge_oldest(&sessions, |s| s.ended_at_ms < Some(1005));
        assert_eq!(gone, vec![1, 2]);
        for id in gone {
            sessions.remove(&id);
        }
        assert_ne!(trail.anchor(), [0; 32]);
        // The edit of session 3's end time breaks its own link, and nothing else.
        assert_eq!(trail.verify(&sessions), Err(ChainBreak::Link { seq: 3 }));
        let (mut trail, mut sessions) = trail_of(5);
        for id in trail.purge_oldest(&sessions, |s| s.id <= 2) {
            sessions.remove(&id);
        }
        assert_eq!(trail.verify(&sessions), Ok(()));
        assert_eq!(trail.len(), 3);
    }
}
