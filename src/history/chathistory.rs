//! IRC's CHATHISTORY (the IRCv3 `draft/chathistory` extension) over r0c's history: the
//! request as a value ([`Query`]), carried out the same way over the store (a reader of the
//! pool, on a blocking thread) and over a conversation kept in memory only ([`Rows`]).
//!
//! Points in a history are a message's sequence number (from its `msgid`) or a moment
//! (`timestamp=`, in milliseconds as the `server-time` tag shows them). Every bound is
//! exclusive, as the specification says; a moment stands between the messages posted before
//! its millisecond and those posted after it. System lines (joins, parts, nick and topic
//! changes) are not chat and are never returned. Every request reads at most
//! [`MAX_CHATHISTORY`] rows per query, and at most two queries plus two for its bounds.

use std::sync::Arc;

use crate::store::{Reader, Store, StoreError};
use crate::world::{AUTHOR_SYSTEM, IrcHistorySource, Message, message_from_store};

/// The most messages one CHATHISTORY request returns (ISUPPORT `CHATHISTORY`), as ergo's
/// default.
pub const MAX_CHATHISTORY: usize = 100;

/// The most targets CHATHISTORY TARGETS lists.
pub const MAX_TARGETS_LISTED: usize = 100;

/// A point in a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The message with this sequence number.
    Seq(u64),
    /// This moment, in microseconds since the epoch (a whole millisecond).
    Micros(i64),
}

/// One CHATHISTORY request, without its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// The newest messages (after the point, if one is given).
    Latest(Option<Point>),
    /// The newest messages before the point.
    Before(Point),
    /// The oldest messages after the point.
    After(Point),
    /// Messages around the point: half before it, the rest from it on.
    Around(Point),
    /// Messages between the two points, nearest the first one.
    Between(Point, Point),
}

/// The three reads a query is made of, over some history.
pub trait Rows {
    /// The newest `limit` chat lines numbered below `before`, oldest first.
    fn before(&self, before: u64, limit: usize) -> Vec<Arc<Message>>;
    /// The oldest `limit` chat lines numbered from `from` up to (not including) `before`.
    fn from(&self, from: u64, before: u64, limit: usize) -> Vec<Arc<Message>>;
    /// The number of the first chat line posted at or after `micros`; past the end if none.
    fn seq_at(&self, micros: i64) -> u64;
}

/// Microseconds in the millisecond a `timestamp=` names: a moment excludes its whole
/// millisecond, since a client knows the messages' times to the millisecond only.
const MILLISECOND: i64 = 1000;

/// The first message number at or after `point`.
fn at(rows: &dyn Rows, point: Point) -> u64 {
    match point {
        Point::Seq(seq) => seq,
        Point::Micros(micros) => rows.seq_at(micros),
    }
}

/// The first message number strictly after `point`.
fn after(rows: &dyn Rows, point: Point) -> u64 {
    match point {
        Point::Seq(seq) => seq.saturating_add(1),
        Point::Micros(micros) => rows.seq_at(micros.saturating_add(MILLISECOND)),
    }
}

/// Carries out `query` over `rows`, at most `limit` messages (0 or more than
/// [`MAX_CHATHISTORY`] is that maximum, as in ergo), oldest first.
pub fn run(rows: &dyn Rows, query: Query, limit: usize) -> Vec<Arc<Message>> {
    let limit = match limit {
        0 => MAX_CHATHISTORY,
        limit => limit.min(MAX_CHATHISTORY),
    };
    match query {
        Query::Latest(None) => rows.before(u64::MAX, limit),
        Query::Latest(Some(point)) => {
            let from = after(rows, point);
            let mut found = rows.before(u64::MAX, limit);
            found.retain(|m| m.seq >= from);
            found
        }
        Query::Before(point) => rows.before(at(rows, point), limit),
        Query::After(point) => rows.from(after(rows, point), u64::MAX, limit),
        Query::Around(point) => {
            let center = at(rows, point);
            let older = limit / 2;
            let mut found = if older > 0 {
                rows.before(center, older)
            } else {
                Vec::new()
            };
            found.extend(rows.from(center, u64::MAX, limit - older));
            found
        }
        Query::Between(start, end) => {
            let (start_at, end_at) = (at(rows, start), at(rows, end));
            let forward = match (start, end) {
                (Point::Micros(a), Point::Micros(b)) => a <= b,
                _ => start_at <= end_at,
            };
            if forward {
                rows.from(after(rows, start), end_at, limit)
            } else {
                let lowest = after(rows, end);
                let mut found = rows.before(start_at, limit);
                found.retain(|m| m.seq >= lowest);
                found
            }
        }
    }
}

/// A stored history (a channel's or a conversation's), read with one reader of the pool.
struct Stored<'a> {
    reader: &'a Reader,
    name: &'a str,
}

impl Stored<'_> {
    fn logged(
        &self,
        rows: Result<Vec<crate::store::StoredMessage>, StoreError>,
    ) -> Vec<Arc<Message>> {
        match rows {
            Ok(rows) => rows.into_iter().map(message_from_store).collect(),
            Err(error) => {
                tracing::error!(%error, chan = self.name, "could not read chat history");
                Vec::new()
            }
        }
    }
}

impl Rows for Stored<'_> {
    fn before(&self, before: u64, limit: usize) -> Vec<Arc<Message>> {
        self.logged(self.reader.chat_before(self.name, before, limit))
    }

    fn from(&self, from: u64, before: u64, limit: usize) -> Vec<Arc<Message>> {
        self.logged(self.reader.chat_from(self.name, from, before, limit))
    }

    fn seq_at(&self, micros: i64) -> u64 {
        match self.reader.first_seq_at(self.name, micros, u64::MAX) {
            Ok(found) => found.unwrap_or(u64::MAX),
            Err(error) => {
                tracing::error!(%error, chan = self.name, "could not search chat history");
                u64::MAX
            }
        }
    }
}

/// A history in memory: chat lines in order of their numbers.
pub struct Memory<'a>(pub &'a [Arc<Message>]);

impl Rows for Memory<'_> {
    fn before(&self, before: u64, limit: usize) -> Vec<Arc<Message>> {
        let end = self.0.partition_point(|m| m.seq < before);
        let start = end.saturating_sub(limit);
        self.0
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .filter(|m| m.author != AUTHOR_SYSTEM)
            .cloned()
            .collect()
    }

    fn from(&self, from: u64, before: u64, limit: usize) -> Vec<Arc<Message>> {
        self.0
            .iter()
            .skip_while(|m| m.seq < from)
            .take_while(|m| m.seq < before)
            .filter(|m| m.author != AUTHOR_SYSTEM)
            .take(limit)
            .cloned()
            .collect()
    }

    fn seq_at(&self, micros: i64) -> u64 {
        self.0
            .iter()
            .find(|m| m.unix_micros >= micros)
            .map_or(u64::MAX, |m| m.seq)
    }
}

/// Carries out `query` over `source` off the async workers: a stored history with a reader
/// of the store's pool on a blocking thread (bounded by the pool's permits, as every history
/// read), one kept in memory at once.
pub async fn read(
    store: Arc<Store>,
    source: IrcHistorySource,
    query: Query,
    limit: usize,
) -> Vec<Arc<Message>> {
    let name = match source {
        IrcHistorySource::Memory(_, messages) => return run(&Memory(&messages), query, limit),
        IrcHistorySource::Stored(name) => name,
    };
    let permit = store.pool().permits().clone().acquire_owned().await.ok();
    let task = tokio::task::spawn_blocking(move || {
        let found = store.read_pooled(|reader| {
            Ok(run(
                &Stored {
                    reader,
                    name: &name,
                },
                query,
                limit,
            ))
        });
        drop(permit);
        found
    });
    match task.await {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => {
            tracing::error!(%error, "could not read chat history");
            Vec::new()
        }
        Err(error) => {
            tracing::error!(%error, "chat history read failed");
            Vec::new()
        }
    }
}

/// CHATHISTORY TARGETS off the async workers: of `targets` (a user's windows, at most their
/// window cap), those whose newest chat line was posted after `from` and before `until`
/// (microseconds, either order), with its time, oldest first, at most `limit`.
pub async fn targets(
    store: Arc<Store>,
    targets: Vec<(String, IrcHistorySource)>,
    from: i64,
    until: i64,
    limit: usize,
) -> Vec<(String, i64)> {
    let (low, high) = if from <= until {
        (from, until)
    } else {
        (until, from)
    };
    let permit = store.pool().permits().clone().acquire_owned().await.ok();
    let task = tokio::task::spawn_blocking(move || {
        let found = store.read_pooled(|reader| {
            let mut found: Vec<(String, i64)> = targets
                .into_iter()
                .filter_map(|(label, source)| {
                    let last = match &source {
                        IrcHistorySource::Memory(_, messages) => {
                            messages.last().map(|m| m.unix_micros)
                        }
                        IrcHistorySource::Stored(name) => {
                            reader.last_chat_micros(name).ok().flatten()
                        }
                    }?;
                    (last > low && last < high).then_some((label, last))
                })
                .collect();
            found.sort_by_key(|(_, last)| *last);
            found.truncate(limit.clamp(1, MAX_TARGETS_LISTED));
            Ok(found)
        });
        drop(permit);
        found
    });
    match task.await {
        Ok(Ok(found)) => found,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(count: u64) -> Vec<Arc<Message>> {
        (0..count)
            .map(|seq| {
                message_from_store(crate::store::StoredMessage {
                    seq,
                    unix_micros: 1_000_000 + i64::try_from(seq).unwrap_or(0) * 20_000 + 500,
                    author: "al".into(),
                    text: format!("m{seq}"),
                    kind: Default::default(),
                })
            })
            .collect()
    }

    fn seqs(found: &[Arc<Message>]) -> Vec<u64> {
        found.iter().map(|m| m.seq).collect()
    }

    /// The moment a client knows for message `seq`: its time to the millisecond.
    fn moment(seq: u64) -> Point {
        let micros = 1_000_000 + i64::try_from(seq).unwrap_or(0) * 20_000;
        Point::Micros(micros)
    }

    #[test]
    fn every_subcommand_answers_as_irctest_expects() {
        let all = history(10);
        let rows = Memory(&all);
        assert_eq!(
            seqs(&run(&rows, Query::Latest(None), 20)),
            (0..10).collect::<Vec<_>>()
        );
        assert_eq!(
            seqs(&run(&rows, Query::Latest(None), 5)),
            vec![5, 6, 7, 8, 9]
        );
        for point in [Point::Seq(4), moment(4)] {
            assert_eq!(
                seqs(&run(&rows, Query::Latest(Some(point)), 20)),
                (5..10).collect::<Vec<_>>()
            );
        }
        for point in [Point::Seq(6), moment(6)] {
            assert_eq!(
                seqs(&run(&rows, Query::Before(point), 20)),
                (0..6).collect::<Vec<_>>()
            );
            assert_eq!(seqs(&run(&rows, Query::Before(point), 2)), vec![4, 5]);
        }
        for point in [Point::Seq(3), moment(3)] {
            assert_eq!(
                seqs(&run(&rows, Query::After(point), 20)),
                (4..10).collect::<Vec<_>>()
            );
            assert_eq!(seqs(&run(&rows, Query::After(point), 3)), vec![4, 5, 6]);
        }
        for (first, last) in [(Point::Seq(0), Point::Seq(9)), (moment(0), moment(9))] {
            assert_eq!(
                seqs(&run(&rows, Query::Between(first, last), 20)),
                (1..9).collect::<Vec<_>>()
            );
            assert_eq!(
                seqs(&run(&rows, Query::Between(last, first), 20)),
                (1..9).collect::<Vec<_>>()
            );
            assert_eq!(
                seqs(&run(&rows, Query::Between(first, last), 3)),
                vec![1, 2, 3]
            );
            assert_eq!(
                seqs(&run(&rows, Query::Between(last, first), 3)),
                vec![6, 7, 8]
            );
        }
        assert_eq!(seqs(&run(&rows, Query::Around(Point::Seq(7)), 1)), vec![7]);
        assert_eq!(
            seqs(&run(&rows, Query::Around(Point::Seq(7)), 3)),
            vec![6, 7, 8]
        );
        assert!(seqs(&run(&rows, Query::Around(moment(7)), 3)).contains(&7));
        // Limits are bounded whatever is asked.
        let many = history(300);
        assert_eq!(
            run(&Memory(&many), Query::Latest(None), usize::MAX).len(),
            MAX_CHATHISTORY
        );
        assert_eq!(
            run(&Memory(&many), Query::Latest(None), 0).len(),
            MAX_CHATHISTORY
        );
        assert!(run(&rows, Query::After(Point::Seq(u64::MAX)), 5).is_empty());
        assert!(run(&rows, Query::Before(Point::Micros(i64::MIN)), 5).is_empty());
    }
}
