//! Live view of running sessions. While a recorded shell or command runs, the node serving it
//! keeps the newest of its terminal output here (the recording's asciicast output and resize
//! lines, at most [`TAIL_BYTES`] of them), numbered from the start of the session, so that an
//! administrator on any node can follow it: the node asks the serving member for the lines after
//! the last one it showed (`node/src/live.rs`). The feed goes away with the session's recorder.
//! Input lines are not kept: a viewer sees what the engineer's terminal shows, nothing more.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};

/// How much of a session's newest output a node keeps for viewers.
pub const TAIL_BYTES: usize = 64 * 1024;

/// What one read answers at most (a viewer asks again for the rest).
pub const CHUNK_BYTES: usize = 32 * 1024;

/// The running sessions of this node that can be watched.
#[derive(Default)]
pub struct LiveSessions {
    feeds: Mutex<HashMap<u64, Arc<Mutex<Feed>>>>,
}

/// One session's kept output.
struct Feed {
    /// The recording's header line (terminal size and type at the start).
    header: String,
    /// The kept lines, the first being line number `first`.
    lines: VecDeque<String>,
    first: u64,
    bytes: usize,
    /// The newest size the terminal was given (`COLSxROWS`), which a viewer starting after the
    /// resize line was dropped still needs.
    size: Option<String>,
}

/// Lines of a running session's output, as a viewer gets them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveChunk {
    /// The recording's header line (asciicast v2).
    pub header: String,
    /// The number of the first line in `lines` (lines are numbered from 0 at the session's
    /// start); a viewer asks next for `first + lines.len()`.
    pub first: u64,
    /// Asciicast event lines: `[time, "o", text]` and `[time, "r", "COLSxROWS"]`.
    pub lines: Vec<String>,
    /// Lines between the one asked for and `first` are no longer kept (the viewer starts in the
    /// middle of the session's output, or fell behind).
    pub skipped: bool,
    /// The terminal's newest size, when it was resized since the start.
    pub size: Option<String>,
}

impl LiveSessions {
    /// Starts keeping the output of session `session_id`, whose recording starts with `header`;
    /// dropping the returned feed ends it.
    pub fn open(self: &Arc<Self>, session_id: u64, header: &str) -> LiveFeed {
        let feed = Arc::new(Mutex::new(Feed {
            header: header.to_string(),
            lines: VecDeque::new(),
            first: 0,
            bytes: 0,
            size: None,
        }));
        self.feeds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(session_id, feed.clone());
        LiveFeed {
            session_id,
            feed,
            sessions: Arc::downgrade(self),
        }
    }

    /// The kept lines of session `session_id` from line `from` on (at most about
    /// [`CHUNK_BYTES`], at least one line when there is one); None when this node serves no
    /// such recorded session (it ended, another node serves it, or it is not recorded).
    pub fn read(&self, session_id: u64, from: u64) -> Option<LiveChunk> {
        let feed = self
            .feeds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&session_id)
            .cloned()?;
        let feed = feed.lock().unwrap_or_else(|p| p.into_inner());
        let start = from.max(feed.first);
        let skip = usize::try_from(start - feed.first).unwrap_or(usize::MAX);
        let mut lines = Vec::new();
        let mut bytes = 0;
        for line in feed.lines.iter().skip(skip) {
            if !lines.is_empty() && bytes + line.len() > CHUNK_BYTES {
                break;
            }
            bytes += line.len();
            lines.push(line.clone());
        }
        Some(LiveChunk {
            header: feed.header.clone(),
            first: start.min(feed.first + feed.lines.len() as u64),
            lines,
            skipped: from < feed.first,
            size: feed.size.clone(),
        })
    }

    /// How many sessions can be watched on this node.
    pub fn len(&self) -> usize {
        self.feeds.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no session can be watched on this node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The writing end of one session's feed (held by its recorder).
pub struct LiveFeed {
    session_id: u64,
    feed: Arc<Mutex<Feed>>,
    sessions: Weak<LiveSessions>,
}

impl LiveFeed {
    /// Keeps an output line (`"o"`) or a resize (`"r"`, `COLSxROWS` given as `size`), dropping
    /// the oldest lines past [`TAIL_BYTES`].
    pub(crate) fn push(&self, line: String, size: Option<&str>) {
        let mut feed = self.feed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(size) = size {
            feed.size = Some(size.to_string());
        }
        feed.bytes += line.len();
        feed.lines.push_back(line);
        while feed.bytes > TAIL_BYTES && feed.lines.len() > 1 {
            if let Some(old) = feed.lines.pop_front() {
                feed.bytes -= old.len();
                feed.first += 1;
            }
        }
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        let Some(sessions) = self.sessions.upgrade() else {
            return;
        };
        let mut feeds = sessions.feeds.lock().unwrap_or_else(|p| p.into_inner());
        // Only this feed: a session's feed opened again (never, today) is not removed by the
        // older one's end.
        if feeds
            .get(&self.session_id)
            .is_some_and(|f| Arc::ptr_eq(f, &self.feed))
        {
            feeds.remove(&self.session_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(n: usize, len: usize) -> String {
        format!("[{n}, \"o\", \"{}\"]", "x".repeat(len))
    }

    #[test]
    fn a_viewer_gets_the_lines_after_the_last_it_saw_and_nothing_once_the_session_ends() {
        let live = Arc::new(LiveSessions::default());
        let feed = live.open(7, "{\"version\": 2}");
        assert_eq!(live.read(7, 0).unwrap().lines, Vec::<String>::new());
        feed.push(out(0, 3), None);
        feed.push("[1, \"r\", \"100x30\"]".into(), Some("100x30"));
        feed.push(out(2, 3), None);
        let all = live.read(7, 0).unwrap();
        assert_eq!(all.header, "{\"version\": 2}");
        assert_eq!((all.first, all.lines.len(), all.skipped), (0, 3, false));
        assert_eq!(all.size.as_deref(), Some("100x30"));
        let rest = live.read(7, 2).unwrap();
        assert_eq!((rest.first, rest.lines.clone()), (2, vec![out(2, 3)]));
        // Asked past the end: nothing yet, and the next line is where the viewer asked.
        let ahead = live.read(7, 3).unwrap();
        assert_eq!((ahead.first, ahead.lines.len()), (3, 0));
        assert!(live.read(8, 0).is_none(), "another session is not here");
        drop(feed);
        assert!(live.read(7, 0).is_none(), "an ended session has no feed");
        assert!(live.is_empty());
    }

    #[test]
    fn only_the_newest_output_is_kept_and_a_late_viewer_is_told_it_missed_some() {
        let live = Arc::new(LiveSessions::default());
        let feed = live.open(1, "{}");
        let n = 3 * TAIL_BYTES / 1000;
        for i in 0..n {
            feed.push(out(i, 990), None);
        }
        let first = live.read(1, 0).unwrap();
        assert!(first.skipped);
        assert!(first.first > 0);
        let kept: usize = {
            let f = feed.feed.lock().unwrap();
            assert!(f.bytes <= TAIL_BYTES, "kept {} bytes", f.bytes);
            assert_eq!(f.first + f.lines.len() as u64, n as u64);
            f.bytes
        };
        assert!(kept > TAIL_BYTES - 1100, "kept only {kept} bytes");
        // One answer is bounded; following `first + len` walks to the newest line.
        let bytes: usize = first.lines.iter().map(String::len).sum();
        assert!(bytes <= CHUNK_BYTES, "answered {bytes} bytes");
        let mut next = first.first + first.lines.len() as u64;
        let mut last = first.lines.last().cloned();
        loop {
            let c = live.read(1, next).unwrap();
            assert!(!c.skipped);
            if c.lines.is_empty() {
                break;
            }
            next = c.first + c.lines.len() as u64;
            last = c.lines.last().cloned();
        }
        assert_eq!(next, n as u64);
        assert_eq!(last, Some(out(n - 1, 990)));
    }

    #[test]
    fn a_line_larger_than_the_tail_is_still_shown() {
        let live = Arc::new(LiveSessions::default());
        let feed = live.open(1, "{}");
        feed.push(out(0, TAIL_BYTES * 2), None);
        let c = live.read(1, 0).unwrap();
        assert_eq!(c.lines.len(), 1);
        feed.push(out(1, 10), None);
        let c = live.read(1, 0).unwrap();
        assert_eq!(
            (c.first, c.lines.clone(), c.skipped),
            (1, vec![out(1, 10)], true)
        );
    }
}
