//! TAGMSG between IRC clients: a line of client-only tags (typing notifications, reactions)
//! with no text, relayed live from one IRC connection to the others that negotiated
//! `message-tags`. It is never stored nor shown to terminal users; a connection that falls
//! behind loses the oldest (they are hints, not messages).

use std::sync::Arc;

use tokio::sync::broadcast;

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
}

impl Default for TagRelay {
    fn default() -> Self {
        TagRelay {
            sender: broadcast::channel(RELAY_CAPACITY).0,
        }
    }
}

impl TagRelay {
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
