//! Decoding that forged or corrupted bytes cannot turn into a crash: the replicated types are
//! decoded from the network (a peer's messages) and from disk (log entries, snapshots), and a
//! length or a nesting the bytes merely claim must end in an error, never in an allocation of
//! that length or a recursion that deep.
//!
//! - [`shared_map`]: the persistent maps (`state::Shared`) reserve no more than a few thousand
//!   entries up front however many the input claims (the collection type's own decoder trusts
//!   the claimed length and aborts the process on a large one).
//! - [`nested`]: the recursive commands and answers (`Command::Batch`, `Command::ApiCall`,
//!   `Response::Batch`, `Response::ApiCalled`) refuse to nest deeper than [`MAX_NESTING`]; a
//!   legitimate entry nests three deep at most (a batch of API calls, each with its change).

use serde::de::{Deserialize, Deserializer, Error, MapAccess, Visitor};
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

/// How deep commands (and answers) may nest inside one another in decoded bytes.
pub const MAX_NESTING: u32 = 16;

/// Entries reserved up front when a persistent map's encoding claims a length.
const RESERVE_AT_MOST: usize = 4096;

thread_local! {
    /// How many nested values this thread is decoding.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Leaves one nesting level when dropped, also when decoding failed or unwound.
struct Level;

impl Drop for Level {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Decodes a value that may contain more of its own kind, one level deeper than its parent;
/// refused beyond [`MAX_NESTING`] levels.
pub fn nested<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let depth = DEPTH.with(|c| {
        let depth = c.get() + 1;
        c.set(depth);
        depth
    });
    let _level = Level;
    if depth > MAX_NESTING {
        return Err(D::Error::custom(format!(
            "commands nested more than {MAX_NESTING} deep"
        )));
    }
    T::deserialize(d)
}

/// Decodes a persistent map, reserving at most [`RESERVE_AT_MOST`] entries for the length the
/// input claims (the rest as the entries actually arrive).
pub fn shared_map<'de, D, K, V>(d: D) -> Result<imbl::OrdMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord + Clone,
    V: Deserialize<'de> + Clone,
{
    struct Entries<K, V>(PhantomData<(K, V)>);

    impl<'de, K, V> Visitor<'de> for Entries<K, V>
    where
        K: Deserialize<'de> + Ord + Clone,
        V: Deserialize<'de> + Clone,
    {
        type Value = imbl::OrdMap<K, V>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let claimed = access.size_hint().unwrap_or(0);
            let mut entries = Vec::with_capacity(claimed.min(RESERVE_AT_MOST));
            while let Some(entry) = access.next_entry()? {
                entries.push(entry);
            }
            Ok(imbl::OrdMap::from(entries))
        }
    }

    d.deserialize_map(Entries(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, Response, State};
    use bincode::config::standard;

    fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        bincode::serde::decode_from_slice(bytes, standard())
            .map(|(v, _)| v)
            .map_err(|e| e.to_string())
    }

    fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
        bincode::serde::encode_to_vec(v, standard()).unwrap()
    }

    /// `levels` batches, each holding the next, around `leaf`, as bytes (built by hand: the
    /// encoder would recurse as deep as the decoder).
    fn nested_batches(levels: usize, empty_batch: Vec<u8>, leaf: Vec<u8>) -> Vec<u8> {
        // An empty batch is its variant's tag and a zero length; one holding a value is the
        // same tag and a length of one, then the value.
        let (tag, zero) = empty_batch.split_at(empty_batch.len() - 1);
        assert_eq!(zero, [0]);
        let mut bytes = Vec::new();
        for _ in 0..levels {
            bytes.extend_from_slice(tag);
            bytes.push(1);
        }
        bytes.extend(leaf);
        bytes
    }

    #[test]
    fn commands_nested_beyond_the_limit_are_refused_not_recursed_into() {
        let leaf = encode(&Command::ResetTotp { user_id: 7 });
        let empty = encode(&Command::Batch(Vec::new()));
        // At the limit: decoded, the same value as encoded.
        let at = nested_batches(MAX_NESTING as usize, empty.clone(), leaf.clone());
        let cmd: Command = decode(&at).unwrap();
        assert_eq!(encode(&cmd), at);
        // One beyond it, and a million beyond it (a stack overflow if recursed into).
        for levels in [MAX_NESTING as usize + 1, 1_000_000] {
            let bytes = nested_batches(levels, empty.clone(), leaf.clone());
            let err = decode::<Command>(&bytes).unwrap_err();
            assert!(err.contains("nested more than 16 deep"), "{err}");
        }
        // The depth is back to zero after a refusal: a legitimate value decodes again.
        let batch = Command::Batch(vec![Command::ResetTotp { user_id: 7 }]);
        assert_eq!(decode::<Command>(&encode(&batch)).unwrap(), batch);
        assert_eq!(DEPTH.with(Cell::get), 0);

        let answers = nested_batches(
            1_000_000,
            encode(&Response::Batch(Vec::new())),
            encode(&Response::Purged { count: 1 }),
        );
        let err = decode::<Response>(&answers).unwrap_err();
        assert!(err.contains("nested more than 16 deep"), "{err}");
    }

    #[test]
    fn a_map_claiming_more_entries_than_it_holds_is_an_error_not_an_abort() {
        // The state's first persistent map (users) follows its first field; claim 2^62 users.
        let bytes = encode(&State::default());
        let next_id = encode(&0u64);
        assert_eq!(bytes[..next_id.len()], next_id[..]);
        assert_eq!(bytes[next_id.len()], 0, "no users");
        let mut forged = next_id.clone();
        forged.push(253); // a u64 length follows (bincode's variable-length integers)
        forged.extend_from_slice(&(1u64 << 62).to_le_bytes());
        forged.extend_from_slice(&bytes[next_id.len() + 1..]);
        assert!(decode::<State>(&forged).is_err());
        // The unforged bytes still decode.
        assert_eq!(decode::<State>(&bytes).unwrap(), State::default());
    }
}
