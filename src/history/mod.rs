//! History beyond memory, read off the async workers.
//!
//! The world never reads the store and never waits for it: it says what must be read
//! ([`Load`]: a channel to open, a moment to search for) and a renderer says which older page
//! it misses ([`PageRequest`]). This module carries those reads out on tokio's blocking
//! threads, over the store's small pool of read connections, and hands back what was read;
//! the session then gives it to the world ([`World::finish_join`]) or to its page cache
//! ([`pages::Pages`]) and renders again.
//!
//! Bounds: a read takes a permit of the pool's semaphore before it takes a blocking thread, so
//! at most [`crate::store::POOL_READERS`] reads run at once, however many users scroll back;
//! each session has at most one read in flight (the connection loop starts the next one when
//! the last has arrived), and a read's row count is bounded ([`MAX_PAGE`], `--hist-rd`). The
//! wait for the writer before opening a channel is an await on the store's commit count, not a
//! blocked thread.
//!
//! The layer sits above the world (it builds the world's [`Message`]s from stored rows, off
//! the world's lock) and below the session; the world does not know it.

pub mod chathistory;
mod opening;
pub mod pages;

use std::sync::Arc;
use std::time::Duration;

use crate::store::{Health, Reader, Store, StoreError};
use crate::text;
use crate::world::{
    Around, GotoStep, JoinError, JoinStep, Load, LoadedChannel, Message, Span, UserId, World,
    message_from_store,
};
pub use pages::{Backlog, PageRequest, Pages};

/// How long opening a channel waits for earlier writes to be committed (its numbering
/// continues after them) before it gives up and refuses.
pub const JOIN_FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// The most rows one page read returns; a renderer that needs more asks again.
pub const MAX_PAGE: usize = 1000;

/// A read a session waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// Something the world needs before a command can finish (`/join`, `/g`).
    Load(Load),
    /// A page of history older than memory that a frame missed.
    Page(PageRequest),
}

/// What a [`Read`] found.
#[derive(Debug)]
pub enum Arrived {
    /// A channel's history, or `None` when it cannot be opened now (the store cannot write,
    /// or earlier writes were not committed in time).
    Join {
        name: String,
        loaded: Option<LoadedChannel>,
    },
    /// The sequence number `/g` lands on, and the page of channel `name` from there (read
    /// with it, so the frame that shows it needs no second read).
    Goto {
        seq: u64,
        page: Option<(String, Span)>,
    },
    /// A page for the cache of channel `name`.
    Page { name: String, span: Span },
    /// A stored direct conversation's history, or `None` when it cannot be opened now; with
    /// the message to send there once it is open.
    Direct {
        conversation: String,
        target: String,
        text: String,
        /// Chat or a notice.
        kind: crate::world::MessageKind,
        loaded: Option<LoadedChannel>,
    },
}

/// Carries out `read` off the async workers: waits (asynchronously) for the writer if the
/// read needs it, then runs the query on a blocking thread with a reader of the pool.
pub async fn read(store: Arc<Store>, read: Read) -> Arrived {
    if let Some(after) = waits_for(&read)
        && !wait_committed(&store, after).await
    {
        return unreadable(read);
    }
    if let Read::Load(Load::Join { name, limit, .. }) = read {
        let loaded = opening::open_shared(store, &name, limit).await;
        return Arrived::Join { name, loaded };
    }
    read_pooled(store, read).await
}

/// Carries out `read` with a reader of the pool, on a blocking thread.
async fn read_pooled(store: Arc<Store>, read: Read) -> Arrived {
    // The semaphore bounds the reads in flight (and the blocking threads they hold); a closed
    // semaphore never happens (the pool never closes it), and then the read runs unbounded.
    let permit = store.pool().permits().clone().acquire_owned().await.ok();
    let fallback = read.clone();
    let task = tokio::task::spawn_blocking(move || {
        let arrived = store.read_pooled(|reader| Ok(read_now(reader, &store, read)));
        drop(permit);
        arrived
    });
    match task.await {
        Ok(Ok(arrived)) => arrived,
        Ok(Err(error)) => {
            tracing::error!(%error, "could not read history");
            nothing_found(fallback)
        }
        Err(error) => {
            tracing::error!(%error, "history read failed");
            nothing_found(fallback)
        }
    }
}

/// Carries out `read` on this thread, which may block: for tests, tools and the IRC bridge's
/// setup before the listeners run. Waits for the writer like [`read`].
pub fn read_blocking(store: &Store, read: Read) -> Arrived {
    if let Some(after) = waits_for(&read)
        && !store.is_committed(after)
        && !store.flush_within(JOIN_FLUSH_LIMIT)
    {
        return unreadable(read);
    }
    let fallback = read.clone();
    store
        .read_pooled(|reader| Ok(read_now(reader, store, read)))
        .unwrap_or_else(|error: StoreError| {
            tracing::error!(%error, "could not read history");
            nothing_found(fallback)
        })
}

/// `/join` carried out at once, reading on this thread if the channel is not in memory: for
/// tests and the fuzz targets, which have no connection loop.
pub fn join_blocking(world: &World, user: UserId, name: &str) -> Result<bool, JoinError> {
    match world.begin_join(user, name)? {
        JoinStep::Done(joined) => Ok(joined),
        JoinStep::Load(load) => match read_blocking(world.store(), Read::Load(load)) {
            Arrived::Join { loaded, .. } => world.finish_join(user, name, loaded),
            _ => world.finish_join(user, name, None),
        },
    }
}

/// `/g` carried out at once: the sequence number it lands on (tests).
pub fn goto_blocking(world: &World, user: UserId, target: crate::world::Goto) -> Option<u64> {
    match world.goto_seq(user, target)? {
        GotoStep::Land(seq) => Some(seq),
        GotoStep::Load(load) => match read_blocking(world.store(), Read::Load(load)) {
            Arrived::Goto { seq, .. } => Some(seq),
            _ => None,
        },
    }
}

/// What a frame reads with `around` and `count` in `channel`, which the user must be in, read
/// at once: from memory, and from the store on this thread for what is older (tests, and the
/// reference of what a renderer's [`Backlog`] answers once its pages have arrived).
pub fn messages_blocking(
    world: &World,
    user: UserId,
    channel: crate::world::ChannelId,
    around: Around,
    count: usize,
) -> Vec<Arc<Message>> {
    let Some(memory) = world.memory_messages(user, channel, &[(around, count)]) else {
        return Vec::new();
    };
    let end = memory.spans.last().map_or(memory.oldest, |span| span.hi);
    let mut pages = Pages::new();
    loop {
        let mut backlog = Backlog::new(end, Some(&memory), &mut pages);
        let found = backlog.read(around, count);
        let Some(request) = backlog.take_page_missed() else {
            return found;
        };
        match read_blocking(world.store(), Read::Page(request)) {
            Arrived::Page { name, span } => pages.insert(name, span),
            _ => return found,
        }
    }
}

/// Waits until the write with `ticket` is committed, at most [`JOIN_FLUSH_LIMIT`]; false if it
/// is not (the store is failing, or closed).
pub async fn wait_committed(store: &Store, ticket: u64) -> bool {
    if store.is_committed(ticket) {
        return true;
    }
    let mut commits = store.commits();
    let waited = tokio::time::timeout(
        JOIN_FLUSH_LIMIT,
        commits.wait_for(|_| store.is_committed(ticket)),
    )
    .await;
    matches!(waited, Ok(Ok(_)))
}

/// The ticket a read that opens something waits for: its numbering continues after it.
fn waits_for(read: &Read) -> Option<u64> {
    match read {
        Read::Load(Load::Join { after, .. } | Load::Direct { after, .. }) => Some(*after),
        _ => None,
    }
}

/// The answer to an opening read that could not wait for the writer: not opened.
fn unreadable(read: Read) -> Arrived {
    match read {
        Read::Load(Load::Direct {
            conversation,
            target,
            text,
            kind,
            ..
        }) => Arrived::Direct {
            conversation,
            target,
            text,
            kind,
            loaded: None,
        },
        Read::Load(Load::Join { name, .. }) => Arrived::Join { name, loaded: None },
        other => nothing_found(other),
    }
}

/// The answer when a read failed: what today's readers showed then, nothing (the failure is
/// logged), with the page marked as read so a frame does not ask again at once.
fn nothing_found(read: Read) -> Arrived {
    match read {
        Read::Load(Load::Join { name, .. }) => Arrived::Join {
            name,
            loaded: Some(LoadedChannel::default()),
        },
        Read::Load(Load::Goto { before, .. }) => Arrived::Goto {
            seq: before,
            page: None,
        },
        // A conversation numbered from 0 again would clash with its stored messages: it is
        // not opened.
        read @ Read::Load(Load::Direct { .. }) => unreadable(read),
        Read::Page(request) => Arrived::Page {
            span: request.empty_span(),
            name: request.name,
        },
    }
}

/// Runs the queries of `read` with `reader`; errors of single queries are logged and read as
/// nothing, as before, so a frame or a join goes on with what there is.
fn read_now(reader: &Reader, store: &Store, read: Read) -> Arrived {
    match read {
        Read::Load(Load::Join { name, limit, .. }) => {
            let loaded =
                (store.health() == Health::Healthy).then(|| load_channel(reader, &name, limit));
            Arrived::Join { name, loaded }
        }
        Read::Load(Load::Direct {
            conversation,
            target,
            text,
            kind,
            limit,
            ..
        }) => {
            let loaded = (store.health() == Health::Healthy)
                .then(|| load_channel(reader, &conversation, limit));
            Arrived::Direct {
                conversation,
                target,
                text,
                kind,
                loaded,
            }
        }
        Read::Load(Load::Goto {
            name,
            micros,
            before,
        }) => {
            let seq = reader
                .first_seq_at(&name, micros, before)
                .unwrap_or_else(|error| {
                    tracing::error!(%error, chan = name, "could not search history");
                    None
                })
                .unwrap_or(before);
            // The page the frame after `/g` shows starts there.
            let request = PageRequest {
                name,
                around: Around::From(seq),
                count: pages::PAGE_MIN,
                below: before,
            };
            let page = (seq < before)
                .then(|| read_page(reader, &request))
                .map(|span| (request.name, span));
            Arrived::Goto { seq, page }
        }
        Read::Page(request) => Arrived::Page {
            span: read_page(reader, &request),
            name: request.name,
        },
    }
}

/// Reads the page `request` asks for (at most [`MAX_PAGE`] rows); a failed read is logged and
/// reads as nothing.
fn read_page(reader: &Reader, request: &PageRequest) -> Span {
    let count = request.count.clamp(1, MAX_PAGE);
    let rows = match request.around {
        Around::Before(seq) => reader.messages_before(&request.name, seq, count),
        Around::From(seq) => reader.messages_from(&request.name, seq, request.below, count),
    };
    match rows {
        Ok(rows) => {
            let messages: Vec<Arc<Message>> = rows.into_iter().map(message_from_store).collect();
            request.span_of(messages, count)
        }
        Err(error) => {
            tracing::error!(%error, chan = request.name, "could not read history");
            request.empty_span()
        }
    }
}

/// Reads a channel's newest `limit` messages, its next sequence number and its topic.
fn load_channel(reader: &Reader, name: &str, limit: usize) -> LoadedChannel {
    let history: Vec<Arc<Message>> = reader
        .messages_before(name, u64::MAX, limit)
        .unwrap_or_else(|error| {
            tracing::error!(%error, chan = name, "could not load history");
            Vec::new()
        })
        .into_iter()
        .map(message_from_store)
        .collect();
    let next_seq = match reader.last_seq(name) {
        Ok(Some(last)) => last + 1,
        _ => history.last().map_or(0, |m| m.seq + 1),
    };
    let topic = reader
        .topic(name)
        .ok()
        .flatten()
        .map(|t| text::sanitize_message(&t));
    LoadedChannel {
        history,
        next_seq,
        topic,
    }
}
