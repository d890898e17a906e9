//! Replicated files outside the Raft log: session recordings and other immutable blobs too big
//! for the state machine. A blob is written on its origin node and copied to every member; the
//! write succeeds once a majority of voters hold it, so it stays readable while any majority is
//! up, from every node (a node without a copy fetches it from a peer).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a blob read waits for one member before it asks the next one too.
pub const ASK_NEXT_AFTER: Duration = Duration::from_millis(500);

/// The first blob one of `members` answers with: they are asked one at a time, the next as
/// soon as one has no copy or fails (`ask` gives `None`), or when one has not answered within
/// [`ASK_NEXT_AFTER`]. A member that is down answers nothing until the connection gives up on
/// it (5 s), and a recording is read part by part. `None` once every member said no.
pub async fn first_copy<M, F, Fut>(members: M, ask: F) -> Option<Vec<u8>>
where
    M: IntoIterator,
    F: FnMut(M::Item) -> Fut,
    Fut: Future<Output = Option<Vec<u8>>>,
{
    use futures::stream::{FuturesUnordered, StreamExt};
    let mut asks = members.into_iter().map(ask);
    let mut asking = FuturesUnordered::new();
    asking.extend(asks.next());
    while !asking.is_empty() {
        tokio::select! {
            answer = asking.next() => match answer {
                Some(Some(b)) => return Some(b),
                _ => asking.extend(asks.next()),
            },
            () = tokio::time::sleep(ASK_NEXT_AFTER) => asking.extend(asks.next()),
        }
    }
    None
}

/// Local storage of blobs, one file each.
#[derive(Clone, Debug)]
pub(crate) struct BlobDir {
    dir: PathBuf,
}

/// A blob name was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid blob name '{0}': use 1-128 characters among A-Z a-z 0-9 . _ -")]
pub struct BadBlobName(pub String);

/// Check a blob name: it becomes a file name.
pub(crate) fn check_name(name: &str) -> Result<(), BadBlobName> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(BadBlobName(name.to_string()))
    }
}

impl BlobDir {
    pub(crate) fn new(data_dir: &Path) -> Self {
        BlobDir {
            dir: data_dir.join("blobs"),
        }
    }

    /// Store a blob durably (write, fsync, rename, fsync of the directory: a blob counted
    /// toward the majority must survive a power loss of that majority).
    pub(crate) async fn put(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        check_name(name).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let data = data.to_vec();
        let path = self.dir.join(name);
        tokio::task::spawn_blocking(move || crate::durable::replace(&path, &data, 0o644))
            .await
            .map_err(std::io::Error::other)?
    }

    /// Read a blob if this node holds it.
    pub(crate) async fn get(&self, name: &str) -> Option<Vec<u8>> {
        check_name(name).ok()?;
        tokio::fs::read(self.dir.join(name)).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_the_directory_are_refused() {
        for bad in ["", "../x", "a/b", ".hidden", "x y", &"a".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_name("recording-42.cast").is_ok());
    }

    #[tokio::test]
    async fn put_then_get() {
        let dir = tempfile::tempdir().unwrap();
        let b = BlobDir::new(dir.path());
        b.put("r-1.cast", b"hello").await.unwrap();
        assert_eq!(b.get("r-1.cast").await.unwrap(), b"hello");
        assert!(b.get("r-2.cast").await.is_none());
        assert!(b.put("../escape", b"x").await.is_err());
    }
}
