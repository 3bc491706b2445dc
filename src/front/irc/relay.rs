//! TAGMSG between IRC clients: a line of client-only tags (typing notifications, reactions)
//! with no text, relayed live from one IRC connection to the others that negotiated
//! `message-tags`. It is never stored nor shown to terminal users; a connection that falls
//! behind loses the oldest (they are hints, not messages).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

/// Client-only tags of chat lines waiting for their line to be delivered, at most this many
/// (each at most 4094 bytes: a few MiB in all); the oldest go first.
const MAX_PENDING_TAGS: usize = 1024;

/// How long a line's client-only tags wait for its delivery; the line itself reaches the
/// connections within moments of its commit, so later readers (CHATHISTORY) get it without.
const PENDING_TAGS_FOR: Duration = Duration::from_secs(30);

/// A chat line as its recipients see it: the history it is in, its author, its text.
type LineKey = (String, String, String);

/// TAGMSGs in flight for all IRC connections; a connection further behind skips the oldest.
const RELAY_CAPACITY: usize = 256;

/// Where a TAGMSG goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagTarget {
    /// A public channel, by its lower-case name without `#`.
    Channel(String),
    /// A user, by nick (compared without case).
    Nick(String),
}

/// One TAGMSG as sent to the others.
#[derive(Debug)]
pub struct TagMessage {
    /// The sender's nick and account (for `account-tag`).
    pub from: String,
    pub account: Option<String>,
    pub target: TagTarget,
    /// The client-only tags (`+name[=value]`, as the client escaped them), `;`-separated.
    pub client_tags: String,
    /// When the server took it, microseconds since the epoch (`server-time`).
    pub unix_micros: i64,
    /// Its `msgid`.
    pub msgid: String,
}

/// The IRC listeners' shared relay of TAGMSGs (one per server, shared by the plain and TLS
/// listeners).
#[derive(Debug)]
pub struct TagRelay {
    sender: broadcast::Sender<Arc<TagMessage>>,
    /// Client-only tags of PRIVMSGs and NOTICEs, by the line they go with, kept only in
    /// memory and only briefly: the line is stored, its tags are not.
    pending: Mutex<PendingTags>,
    /// How many lines have tags pending (checked without the lock on every delivery).
    pending_count: AtomicUsize,
}

#[derive(Debug, Default)]
struct PendingTags {
    by_line: HashMap<LineKey, Arc<str>>,
    order: VecDeque<(Instant, LineKey)>,
}

impl Default for TagRelay {
    fn default() -> Self {
        TagRelay {
            sender: broadcast::channel(RELAY_CAPACITY).0,
            pending: Mutex::default(),
            pending_count: AtomicUsize::new(0),
        }
    }
}

impl TagRelay {
    /// Remembers the client-only tags of a chat line about to be posted, for its delivery to
    /// clients with `message-tags`; a line without tags forgets what an earlier line with the
    /// same text had.
    pub fn remember(&self, history_key: &str, author: &str, text: &str, tags: &str, now: Instant) {
        if tags.is_empty() && self.pending_count.load(Ordering::Acquire) == 0 {
            return;
        }
        let key: LineKey = (history_key.to_owned(), author.to_owned(), text.to_owned());
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        while let Some((at, _)) = pending.order.front() {
            let stale = now.saturating_duration_since(*at) > PENDING_TAGS_FOR;
            if !stale && pending.order.len() < MAX_PENDING_TAGS {
                break;
            }
            if let Some((_, old)) = pending.order.pop_front() {
                pending.by_line.remove(&old);
            }
        }
        if tags.is_empty() {
            pending.by_line.remove(&key);
        } else {
            pending.by_line.insert(key.clone(), tags.into());
            pending.order.push_back((now, key));
        }
        self.pending_count
            .store(pending.by_line.len(), Ordering::Release);
    }

    /// The client-only tags a delivered chat line was posted with, if still known.
    pub fn tags_of(&self, history_key: &str, author: &str, text: &str) -> Option<Arc<str>> {
        if self.pending_count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let key: LineKey = (history_key.to_owned(), author.to_owned(), text.to_owned());
        self.pending.lock().ok()?.by_line.get(&key).cloned()
    }

    /// Hands a TAGMSG to every IRC connection listening now.
    pub fn send(&self, message: TagMessage) {
        // No receiver (nobody else connected) is not an error.
        let _ = self.sender.send(Arc::new(message));
    }

    /// A new connection's inbox.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<TagMessage>> {
        self.sender.subscribe()
    }
}

/// A `msgid` for a TAGMSG, unlike any stored message's (those are `seq-hash`).
pub fn next_msgid() -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("t{count}-{:x}", crate::world::now_micros())
}

/// The client-only tags (`+name[=value]`) of a client's raw line, `;`-separated; empty if none.
pub fn client_tags(raw: &str) -> String {
    let Some(tags) = raw.strip_prefix('@').and_then(|r| r.split(' ').next()) else {
        return String::new();
    };
    tags.split(';')
        .filter(|tag| tag.len() > 1 && tag.starts_with('+'))
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::client_tags;

    #[test]
    fn only_client_tags_are_kept() {
        assert_eq!(
            client_tags("@label=1;+draft/typing=active;time=x;+y TAGMSG #a"),
            "+draft/typing=active;+y"
        );
        assert_eq!(client_tags("TAGMSG #a"), "");
        assert_eq!(client_tags("@+ TAGMSG #a"), "");
    }
}
