//! Histories of what clients did during a fault run, and the checks over them.
//!
//! Every operation is recorded twice: when a client invokes it and when it completes, with its
//! result. A completion is `Ok` (the system answered and the client saw the answer), or
//! `Unknown` (an error, a timeout, a dropped connection: the operation may or may not have taken
//! effect). The checks:
//! - [`check_registers`]: the reads and writes of each register (a key holding one value) are
//!   linearizable, decided by a search in the manner of Wing and Gong with Lowe's memoization
//!   (the algorithm Porcupine uses). A write with an unknown result may take effect at any time
//!   after its invocation, or never.
//! - the counters and sets of a run are checked by the run itself (they are simple bounds).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What an operation did, as its client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done; the value read, for a read.
    Ok(Option<String>),
    /// Maybe done, maybe not: the error the client saw.
    Unknown(String),
}

/// An operation on a register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterOp {
    /// Set the register to a value no other write uses.
    Write(String),
    /// Read it.
    Read,
}

/// One operation of the history, invoked and (maybe) completed.
#[derive(Clone, Debug)]
pub struct Entry {
    pub client: usize,
    /// What it acted on and how: a register op on a key, or a named operation of the run's own
    /// (a token spend, say) checked by the run.
    pub key: String,
    pub op: Option<RegisterOp>,
    pub what: String,
    /// Microseconds since the history began.
    pub invoked: u64,
    pub completed: Option<(u64, Outcome)>,
}

/// A history shared by the clients of a run.
#[derive(Clone)]
pub struct History {
    start: Instant,
    entries: Arc<Mutex<Vec<Entry>>>,
}

impl Default for History {
    fn default() -> Self {
        History {
            start: Instant::now(),
            entries: Arc::default(),
        }
    }
}

impl History {
    /// Microseconds since the history began.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Record the invocation of an operation; its index, to complete it.
    pub fn invoke(&self, client: usize, key: &str, op: Option<RegisterOp>, what: &str) -> usize {
        let mut e = self.entries.lock().expect("history lock");
        e.push(Entry {
            client,
            key: key.to_string(),
            op,
            what: what.to_string(),
            invoked: self.now(),
            completed: None,
        });
        e.len() - 1
    }

    /// Record the completion of operation `i`.
    pub fn complete(&self, i: usize, outcome: Outcome) {
        let now = self.now();
        self.entries.lock().expect("history lock")[i].completed = Some((now, outcome));
    }

    /// Everything recorded so far.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.lock().expect("history lock").clone()
    }
}

/// A register history that is not linearizable: its key and the operations involved.
#[derive(Debug)]
pub struct Violation {
    pub key: String,
    pub operations: usize,
    /// The operations of the key, in invocation order, as text.
    pub trace: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "register {}: {} operations are not linearizable:",
            self.key, self.operations
        )?;
        for t in &self.trace {
            writeln!(f, "  {t}")?;
        }
        Ok(())
    }
}

/// One register operation ready for the search: its interval and effect.
#[derive(Clone, Debug)]
struct Op {
    call: u64,
    /// `u64::MAX`: an unknown result (it may take effect any time after `call`).
    ret: u64,
    write: Option<String>,
    /// For a read: the value it returned (None: the register was never written).
    read: Option<String>,
}

/// Checks that each register's history is linearizable; the registers that are not.
///
/// Register operations are the entries with `op` set. Reads that did not complete are dropped
/// (they had no effect). Writes that did not complete are kept as "maybe", unless no read ever
/// returned their value: such a write can always be put last, so dropping it changes nothing and
/// keeps the search small.
pub fn check_registers(entries: &[Entry]) -> Vec<Violation> {
    let mut by_key: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.op.is_some()) {
        by_key.entry(&e.key).or_default().push(e);
    }
    let mut violations = Vec::new();
    for (key, entries) in by_key {
        let read_values: HashSet<&str> = entries
            .iter()
            .filter_map(|e| match &e.completed {
                Some((_, Outcome::Ok(Some(v)))) => Some(v.as_str()),
                _ => None,
            })
            .collect();
        let ops: Vec<Op> = entries
            .iter()
            .filter_map(|e| match (e.op.as_ref()?, &e.completed) {
                (RegisterOp::Read, Some((ret, Outcome::Ok(v)))) => Some(Op {
                    call: e.invoked,
                    ret: *ret,
                    write: None,
                    read: v.clone(),
                }),
                (RegisterOp::Read, _) => None,
                (RegisterOp::Write(v), Some((ret, Outcome::Ok(_)))) => Some(Op {
                    call: e.invoked,
                    ret: *ret,
                    write: Some(v.clone()),
                    read: None,
                }),
                (RegisterOp::Write(v), _) if read_values.contains(v.as_str()) => Some(Op {
                    call: e.invoked,
                    ret: u64::MAX,
                    write: Some(v.clone()),
                    read: None,
                }),
                (RegisterOp::Write(_), _) => None,
            })
            .collect();
        if !linearizable(&ops) {
            let mut trace: Vec<(u64, String)> = entries
                .iter()
                .map(|e| {
                    let done = match &e.completed {
                        Some((t, o)) => format!("{t} {o:?}"),
                        None => "never completed".into(),
                    };
                    (
                        e.invoked,
                        format!(
                            "client {} {:?} invoked {} completed {done}",
                            e.client, e.op, e.invoked
                        ),
                    )
                })
                .collect();
            trace.sort();
            violations.push(Violation {
                key: key.to_string(),
                operations: ops.len(),
                trace: trace.into_iter().map(|(_, t)| t).collect(),
            });
        }
    }
    violations
}

/// An event of the search's list: the call or the return of operation `op`.
#[derive(Clone, Copy)]
struct Event {
    op: usize,
    is_call: bool,
    /// For a call: the index of its return event (None for a "maybe" write).
    ret: Option<usize>,
    prev: Option<usize>,
    next: Option<usize>,
}

/// Whether there is an order of `ops` that respects real time (an operation that returned
/// before another was called comes first), in which every read returns the latest write before
/// it (None before any write), and every completed operation takes its place.
fn linearizable(ops: &[Op]) -> bool {
    // Events in time order; at equal times calls before returns (operations that touch are
    // taken as concurrent, the lenient reading).
    let mut order: Vec<(u64, bool, usize)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        order.push((op.call, false, i));
        if op.ret != u64::MAX {
            order.push((op.ret, true, i));
        }
    }
    order.sort();
    let mut events: Vec<Event> = Vec::with_capacity(order.len() + 1);
    let mut ret_of = vec![None; ops.len()];
    for (idx, (_, is_ret, op)) in order.iter().enumerate() {
        if *is_ret {
            ret_of[*op] = Some(idx);
        }
        events.push(Event {
            op: *op,
            is_call: !is_ret,
            ret: None,
            prev: idx.checked_sub(1),
            next: Some(idx + 1).filter(|n| *n < order.len()),
        });
    }
    for e in events.iter_mut().filter(|e| e.is_call) {
        e.ret = ret_of[e.op];
    }
    let mut head = if events.is_empty() { None } else { Some(0) };

    let lift = |events: &mut Vec<Event>, head: &mut Option<usize>, i: usize| {
        let (p, n) = (events[i].prev, events[i].next);
        match p {
            Some(p) => events[p].next = n,
            None => *head = n,
        }
        if let Some(n) = n {
            events[n].prev = p;
        }
    };
    let unlift = |events: &mut Vec<Event>, head: &mut Option<usize>, i: usize| {
        let (p, n) = (events[i].prev, events[i].next);
        match p {
            Some(p) => events[p].next = Some(i),
            None => *head = Some(i),
        }
        if let Some(n) = n {
            events[n].prev = Some(i);
        }
    };

    let words = ops.len().div_ceil(64);
    let mut done = vec![0u64; words];
    let mut state: Option<String> = None;
    let mut seen: HashSet<(Vec<u64>, Option<String>)> = HashSet::new();
    let mut stack: Vec<(usize, Option<String>)> = Vec::new();
    let mut cursor = head;
    loop {
        let Some(i) = cursor else {
            // Past the end of the list: had a completed operation been left unplaced, its
            // return would have been met first. Only "maybe" writes are left, and they may
            // never have taken effect.
            return true;
        };
        let ev = events[i];
        if ev.is_call {
            let op = &ops[ev.op];
            let allowed = match &op.write {
                Some(_) => true,
                None => op.read == state,
            };
            if allowed {
                let next_state = op.write.clone().or_else(|| state.clone());
                let mut next_done = done.clone();
                next_done[ev.op / 64] |= 1 << (ev.op % 64);
                if seen.insert((next_done.clone(), next_state.clone())) {
                    stack.push((i, state.clone()));
                    state = next_state;
                    done = next_done;
                    lift(&mut events, &mut head, i);
                    if let Some(r) = ev.ret {
                        lift(&mut events, &mut head, r);
                    }
                    cursor = head;
                    continue;
                }
            }
            cursor = ev.next;
        } else {
            // A return reached while its operation is not placed: undo the latest placement.
            let Some((call, previous)) = stack.pop() else {
                return false;
            };
            let op = events[call].op;
            state = previous;
            done[op / 64] &= !(1 << (op % 64));
            if let Some(r) = events[call].ret {
                unlift(&mut events, &mut head, r);
            }
            unlift(&mut events, &mut head, call);
            cursor = events[call].next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, op: RegisterOp, invoked: u64, completed: Option<(u64, Outcome)>) -> Entry {
        Entry {
            client: 0,
            key: key.into(),
            op: Some(op),
            what: String::new(),
            invoked,
            completed,
        }
    }
    fn w(v: &str, call: u64, ret: u64) -> Entry {
        entry(
            "k",
            RegisterOp::Write(v.into()),
            call,
            Some((ret, Outcome::Ok(None))),
        )
    }
    fn maybe_w(v: &str, call: u64) -> Entry {
        entry(
            "k",
            RegisterOp::Write(v.into()),
            call,
            Some((call + 1, Outcome::Unknown("timeout".into()))),
        )
    }
    fn r(v: Option<&str>, call: u64, ret: u64) -> Entry {
        entry(
            "k",
            RegisterOp::Read,
            call,
            Some((ret, Outcome::Ok(v.map(str::to_string)))),
        )
    }

    #[test]
    fn sequential_and_overlapping_histories_pass() {
        let h = [
            w("a", 0, 10),
            r(Some("a"), 11, 20),
            w("b", 21, 30),
            r(Some("b"), 31, 40),
        ];
        assert!(check_registers(&h).is_empty());
        // A read overlapping a write may see either value.
        let h = [
            w("a", 0, 10),
            w("b", 20, 40),
            r(Some("a"), 25, 30),
            r(Some("b"), 26, 35),
        ];
        assert!(check_registers(&h).is_empty());
        // Before any write a read sees nothing.
        let h = [r(None, 0, 5), w("a", 6, 10), r(Some("a"), 11, 12)];
        assert!(check_registers(&h).is_empty());
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_a_violation() {
        let h = [w("a", 0, 10), w("b", 11, 20), r(Some("a"), 21, 30)];
        let v = check_registers(&h);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].key, "k");
        // Two reads that see the values flip back.
        let h = [
            w("a", 0, 10),
            w("b", 11, 50),
            r(Some("b"), 12, 20),
            r(Some("a"), 21, 30),
        ];
        assert_eq!(check_registers(&h).len(), 1);
        // A value nobody wrote.
        let h = [w("a", 0, 10), r(Some("z"), 11, 20)];
        assert_eq!(check_registers(&h).len(), 1);
        // A lost write: acknowledged, then the older value is read.
        let h = [
            w("a", 0, 10),
            r(Some("a"), 11, 12),
            w("b", 13, 20),
            r(Some("a"), 40, 50),
        ];
        assert_eq!(check_registers(&h).len(), 1);
    }

    #[test]
    fn an_unknown_write_may_take_effect_late_or_never_but_not_before_it_was_made() {
        // Seen long after its client gave up: fine.
        let h = [
            w("a", 0, 10),
            maybe_w("b", 11),
            r(Some("a"), 20, 30),
            r(Some("b"), 100, 110),
        ];
        assert!(check_registers(&h).is_empty());
        // Never seen: fine.
        let h = [w("a", 0, 10), maybe_w("b", 11), r(Some("a"), 100, 110)];
        assert!(check_registers(&h).is_empty());
        // Seen before it was invoked: a violation.
        let h = [w("a", 0, 10), r(Some("b"), 11, 20), maybe_w("b", 30)];
        assert_eq!(check_registers(&h).len(), 1);
        // Seen, then the value it overwrote comes back: a violation (applied twice or lost).
        let h = [
            w("a", 0, 10),
            maybe_w("b", 11),
            r(Some("b"), 20, 30),
            r(Some("a"), 40, 50),
        ];
        assert_eq!(check_registers(&h).len(), 1);
    }

    #[test]
    fn keys_are_checked_apart_and_many_operations_stay_quick() {
        let mut h = Vec::new();
        // Three clients, 600 operations on one key, each read overlapping the next write.
        for k in 0..200u64 {
            let t = k * 100;
            h.push(w(&format!("v{k}"), t, t + 60));
            h.push(r(Some(&format!("v{k}")), t + 61, t + 90));
            h.push(r(Some(&format!("v{k}")), t + 50, t + 95));
        }
        let mut other = r(Some("x"), 5, 6);
        other.key = "other".into();
        h.push(other);
        let v = check_registers(&h);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].key, "other");
    }
}
