//! Cluster mode's shared channel state (`--cluster`): topics and `/cls` of public channels go
//! through the stream like chat lines, and are applied here, by every node, in stream order.
//!
//! A node does not trust another's sizes: every text read from the stream is sanitized and
//! cut to this node's limits before it is applied.

use super::*;

/// Cuts `text` to at most `max` characters.
pub(super) fn capped(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A nick read from the stream: sanitized, and cut to the nick limit.
pub(super) fn stream_nick(nick: &str) -> String {
    capped(&text::sanitize_message(nick), nick::MAX_NICK_CHARS)
}

impl World {
    /// Applies a shared channel event (a topic, a `/cls`) to `channel`, which is open here.
    pub(super) fn apply_shared_event(
        &self,
        state: &mut State,
        channel: ChannelId,
        event: ClusterEvent,
    ) {
        match event {
            ClusterEvent::Topic {
                nick,
                topic,
                unix_micros,
                ..
            } => {
                let topic = capped(&text::sanitize_message(&topic), MAX_TOPIC_CHARS);
                let event = Event::Topic {
                    channel,
                    nick: stream_nick(&nick),
                    topic,
                    unix_micros,
                };
                self.apply_locked(state, event);
            }
            ClusterEvent::Clear {
                nick, unix_micros, ..
            } => {
                let event = Event::Clear {
                    channel,
                    nick: stream_nick(&nick),
                    unix_micros,
                };
                self.apply_locked(state, event);
            }
            // Chat lines, joins, parts and direct messages are `cluster.rs`'s.
            ClusterEvent::Post { .. }
            | ClusterEvent::Join { .. }
            | ClusterEvent::Part { .. }
            | ClusterEvent::Direct { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::cluster::tests::run;
    use super::super::tests::world;
    use super::*;

    /// A world on node "here" with public channel `g` open, and its store.
    fn clustered(dir: &std::path::Path) -> (World, Arc<Store>) {
        let (world, store) = world(dir, 100, 1000, 100);
        let (outbox, _receiver) = tokio::sync::mpsc::channel(4);
        world.attach_cluster(outbox, "S", run("here"));
        world.open_for_cluster("g", Some(LoadedChannel::default()));
        (world, store)
    }

    #[test]
    fn a_topic_from_the_stream_is_stored_and_cut_to_this_nodes_limit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (world, store) = clustered(dir.path());
        let topic = ClusterEvent::Topic {
            channel: "g".into(),
            nick: "x".repeat(500),
            topic: "t".repeat(MAX_TOPIC_CHARS * 4),
            unix_micros: 1,
        };
        assert_eq!(
            world.apply_cluster(&run("there"), topic, 3, false),
            ClusterStep::Done
        );
        store.flush();
        assert_eq!(store.read_cluster_cursor("S").expect("read"), Some(3));
        let state = world.lock();
        let id = state.public_by_name.get("g").copied().expect("open");
        let channel = state.channels.get(&id).expect("channel");
        assert_eq!(channel.topic.chars().count(), MAX_TOPIC_CHARS);
    }
}
