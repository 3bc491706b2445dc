//! What a stored channel or conversation held when it last closed, kept until the store has
//! committed it, so that a read of its history started before the close cannot reopen it with
//! numbers already given out.
//!
//! The race this closes: a join reads channel `#c` from the store (not in memory); meanwhile
//! someone else opens it, posts, and leaves, so it closes again while its last lines are still
//! queued for the writer. The first read finishes with the older numbering. Opened from that
//! read, the channel would number its next messages from there, and the store would refuse
//! them as numbers it already holds: lines shown to people and then lost. With the record of
//! the close, the world sees that the read is older than the close and opens the channel from
//! what it held instead.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::Message;
use super::history::LoadedChannel;

/// How long a close is remembered after the store committed it. A read older than the close
/// started before that commit; its result arrives within the read's own time, far less.
const KEEP_AFTER_COMMIT_MICROS: i64 = 60_000_000;

/// Closes remembered at most; past it the oldest record is forgotten first. The cost of a
/// record is one entry here plus, for the newest `MAX_TAILS` closes, the messages it held.
const MAX_CLOSES: usize = 100_000;

/// Closes whose messages are kept at most (they are what the channel showed when it closed,
/// capped by `--hist-rd` each); older records keep only their numbering.
const MAX_TAILS: usize = 256;

/// One channel or conversation as it closed.
#[derive(Debug)]
struct Closed {
    /// The number its next message would have had.
    next_seq: u64,
    /// The store's ticket of its last write when it closed.
    ticket: u64,
    /// When the store was first seen to have committed `ticket` (`None`: not yet).
    committed_at: Option<i64>,
    /// Its newest messages, oldest first (`None` once dropped for `MAX_TAILS`).
    tail: Option<Vec<Arc<Message>>>,
    /// Its topic.
    topic: String,
}

/// The closes the world remembers, by store name (a public channel's name, or a stored
/// conversation's `dm A B`; the two never collide).
#[derive(Debug, Default)]
pub(super) struct Reopen {
    closed: HashMap<String, Closed>,
    /// Store names in the order they closed (a name may appear more than once; only the
    /// entry whose ticket matches counts).
    order: VecDeque<(String, u64)>,
    /// How many records still hold their messages.
    tails: usize,
}

impl Reopen {
    /// Remembers that `name` closed with `next_seq`, its last write having ticket `ticket`.
    /// `keep` is how many of its newest messages may be kept.
    pub(super) fn closed(
        &mut self,
        name: &str,
        next_seq: u64,
        ticket: u64,
        messages: &VecDeque<Arc<Message>>,
        keep: usize,
        topic: &str,
    ) {
        let skip = messages.len().saturating_sub(keep);
        let tail: Vec<Arc<Message>> = messages.iter().skip(skip).cloned().collect();
        if let Some(old) = self.closed.remove(name)
            && old.tail.is_some()
        {
            self.tails = self.tails.saturating_sub(1);
        }
        self.closed.insert(
            name.to_string(),
            Closed {
                next_seq,
                ticket,
                committed_at: None,
                tail: Some(tail),
                topic: topic.to_string(),
            },
        );
        self.tails += 1;
        self.order.push_back((name.to_string(), ticket));
        self.trim();
    }

    /// Forgets records the store committed long enough ago, and the oldest beyond the caps.
    /// `committed` says whether a ticket is committed; `now` is the time in microseconds.
    pub(super) fn expire(&mut self, committed: impl Fn(u64) -> bool, now: i64) {
        while let Some((name, ticket)) = self.order.front() {
            let Some(record) = self.closed.get_mut(name) else {
                self.order.pop_front();
                continue;
            };
            if record.ticket != *ticket {
                // Closed again since: the newer entry further on decides.
                self.order.pop_front();
                continue;
            }
            if record.committed_at.is_none() && committed(record.ticket) {
                record.committed_at = Some(now);
            }
            match record.committed_at {
                Some(at) if now.saturating_sub(at) >= KEEP_AFTER_COMMIT_MICROS => {
                    let name = name.clone();
                    self.order.pop_front();
                    self.forget(&name);
                }
                // The oldest is still needed, and every later close is younger.
                _ => break,
            }
        }
    }

    /// Corrects what was read for `name` before it is opened: a read that ended before the
    /// store had the last close's messages is replaced by what the channel held then. The
    /// record is used up either way.
    pub(super) fn correct(&mut self, name: &str, loaded: LoadedChannel) -> LoadedChannel {
        let Some(record) = self.forget(name) else {
            return loaded;
        };
        if loaded.next_seq >= record.next_seq {
            return loaded;
        }
        tracing::info!(
            chan = name,
            read = loaded.next_seq,
            closed = record.next_seq,
            "reopened from what it held at its close: the read was older"
        );
        match record.tail {
            Some(history) => LoadedChannel {
                history,
                next_seq: record.next_seq,
                topic: loaded.topic.or(Some(record.topic)),
            },
            // Its messages were dropped for the cap: the read's lines stand, and numbering
            // continues after the close, so nothing the store holds is numbered twice.
            None => LoadedChannel {
                next_seq: record.next_seq,
                ..loaded
            },
        }
    }

    fn forget(&mut self, name: &str) -> Option<Closed> {
        let record = self.closed.remove(name)?;
        if record.tail.is_some() {
            self.tails = self.tails.saturating_sub(1);
        }
        Some(record)
    }

    fn trim(&mut self) {
        while self.closed.len() > MAX_CLOSES {
            let Some((name, ticket)) = self.order.pop_front() else {
                break;
            };
            if self.closed.get(&name).is_some_and(|r| r.ticket == ticket) {
                self.forget(&name);
            }
        }
        if self.tails > MAX_TAILS {
            // Drop the messages of the oldest records that still hold some.
            for (name, ticket) in &self.order {
                if self.tails <= MAX_TAILS {
                    break;
                }
                if let Some(record) = self.closed.get_mut(name)
                    && record.ticket == *ticket
                    && record.tail.take().is_some()
                {
                    self.tails = self.tails.saturating_sub(1);
                }
            }
        }
    }

    /// How many closes are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.closed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64) -> Arc<Message> {
        Arc::new(Message {
            seq,
            unix_micros: 0,
            author: String::new(),
            text: "".into(),
            origin: super::super::Origin::Internal,
            kind: Default::default(),
            ticket: 0,
            lines: Default::default(),
            mention_index: Default::default(),
            local_day: None,
        })
    }

    fn held(upto: u64) -> VecDeque<Arc<Message>> {
        (0..upto).map(message).collect()
    }

    fn read(next_seq: u64) -> LoadedChannel {
        LoadedChannel {
            history: (0..next_seq).map(message).collect(),
            next_seq,
            topic: None,
        }
    }

    #[test]
    fn a_read_older_than_the_close_is_replaced_by_what_the_channel_held() {
        let mut reopen = Reopen::default();
        reopen.closed("c", 230, 7, &held(230), 100, "topic");
        let opened = reopen.correct("c", read(207));
        assert_eq!(opened.next_seq, 230);
        assert_eq!(opened.history.len(), 100);
        assert_eq!(opened.history.last().map(|m| m.seq), Some(229));
        assert_eq!(opened.topic.as_deref(), Some("topic"));
        assert_eq!(reopen.len(), 0, "the record is used up");
    }

    #[test]
    fn a_read_as_new_as_the_close_stands() {
        let mut reopen = Reopen::default();
        reopen.closed("c", 230, 7, &held(230), 100, "topic");
        let opened = reopen.correct("c", read(230));
        assert_eq!(opened.next_seq, 230);
        assert_eq!(opened.history.len(), 230);
        assert_eq!(reopen.correct("other", read(3)).next_seq, 3);
    }

    #[test]
    fn records_go_a_while_after_the_store_committed_them_and_not_before() {
        let mut reopen = Reopen::default();
        reopen.closed("a", 10, 1, &held(10), 10, "");
        reopen.closed("b", 20, 2, &held(20), 10, "");
        reopen.expire(|ticket| ticket <= 1, 0);
        reopen.expire(|ticket| ticket <= 1, KEEP_AFTER_COMMIT_MICROS - 1);
        assert_eq!(reopen.len(), 2);
        reopen.expire(|ticket| ticket <= 1, KEEP_AFTER_COMMIT_MICROS);
        assert_eq!(reopen.len(), 1, "a went; b is not committed yet");
        assert_eq!(reopen.correct("b", read(5)).next_seq, 20);
    }

    #[test]
    fn past_the_cap_of_tails_old_records_keep_only_their_numbering() {
        let mut reopen = Reopen::default();
        for i in 0..(MAX_TAILS as u64 + 5) {
            reopen.closed(&format!("c{i}"), 50, i, &held(50), 10, "");
        }
        assert_eq!(reopen.tails, MAX_TAILS);
        let oldest = reopen.correct("c0", read(40));
        assert_eq!(oldest.next_seq, 50, "numbering continues after the close");
        assert_eq!(oldest.history.len(), 40, "the read's lines stand");
        let newest = reopen.correct(&format!("c{}", MAX_TAILS + 4), read(40));
        assert_eq!(newest.history.len(), 10);
    }

    #[test]
    fn a_channel_closed_twice_is_judged_by_its_last_close() {
        let mut reopen = Reopen::default();
        reopen.closed("c", 10, 1, &held(10), 10, "");
        reopen.closed("c", 30, 5, &held(30), 10, "");
        reopen.expire(|ticket| ticket <= 1, KEEP_AFTER_COMMIT_MICROS * 2);
        assert_eq!(reopen.correct("c", read(12)).next_seq, 30);
    }
}
