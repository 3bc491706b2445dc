//! The session's side of `/search`: at most one search in flight per session and one every
//! [`SEARCH_INTERVAL`], each run in a task of its own (the query runs on a blocking thread
//! over the store's reader pool), whose results arrive in the status window.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Session;
use crate::command::search::SearchRequest;
use crate::world::{AUTHOR_ERROR, Found, FoundStep};

/// The shortest time between two searches of one session.
pub const SEARCH_INTERVAL: Duration = Duration::from_secs(2);

/// When the session last searched, whether a search runs, its results and the one `/g rN`
/// waits to show.
#[derive(Debug, Default)]
pub struct Searches {
    last: Option<Instant>,
    running: Arc<AtomicBool>,
    /// The results of the last search, numbered from 1 as listed (at most
    /// `MAX_RESULTS`); the search's task replaces them when it ends.
    results: Arc<Mutex<Vec<Found>>>,
    /// The result `/g rN` goes to once the join or conversation it needed is read.
    pending: Option<Found>,
}

/// Resets the running flag when a search ends, however it ends.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Session {
    /// Starts a search, unless one runs or the last was less than [`SEARCH_INTERVAL`] ago
    /// (the user is told which).
    pub(super) fn start_search(&mut self, request: SearchRequest) {
        let (world, user) = (self.world.clone(), self.user);
        let now = Instant::now();
        if let Some(last) = self.searches.as_ref().and_then(|searches| searches.last)
            && now.duration_since(last) < SEARCH_INTERVAL
        {
            world.tell(
                user,
                AUTHOR_ERROR,
                "[error]\n  one search every 2 seconds: try again in a moment",
            );
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            world.tell(
                user,
                AUTHOR_ERROR,
                "[error]\n  search is not available here",
            );
            return;
        };
        let searches = self.searches.get_or_insert_with(Box::default);
        if searches.running.swap(true, Ordering::AcqRel) {
            world.tell(
                user,
                AUTHOR_ERROR,
                "[error]\n  your last search is still running; wait for its answer",
            );
            return;
        }
        searches.last = Some(now);
        let running = Running(Arc::clone(&searches.running));
        let results = Arc::clone(&searches.results);
        runtime.spawn(async move {
            let _running = running;
            crate::command::search::run_search(request, world, user, results).await;
        });
    }

    /// `/g rN`: opens the window of result `number` of the last search (joining the channel
    /// or opening the conversation, which may need a read first) and shows the message there
    /// with the words searched for hilighted. Paced like `/join` (the command is shared).
    pub(super) fn goto_found(&mut self, number: usize) {
        let (world, user) = (self.world.clone(), self.user);
        let (found, count) = self
            .searches
            .as_ref()
            .and_then(|searches| searches.results.lock().ok())
            .map_or((None, 0), |results| {
                let index = number.checked_sub(1);
                (index.and_then(|i| results.get(i).cloned()), results.len())
            });
        let Some(found) = found else {
            let text = if count == 0 {
                "[error]\n  no search results to go to: /search WORDS first".to_string()
            } else {
                format!("[error]\n  your last search listed r1 to r{count}")
            };
            world.tell(user, AUTHOR_ERROR, &text);
            return;
        };
        // It may join a channel others see: one unit of the command budget, like `/join`.
        self.charge_shared_command(1);
        match world.open_found(user, &found.channel) {
            Ok(FoundStep::Here(channel)) => self.show_found(channel, &found),
            Ok(FoundStep::Load(load)) => {
                self.searches.get_or_insert_with(Box::default).pending = Some(found);
                self.start_load(load, super::reads::Origin::Command);
            }
            Err(text) => world.tell(user, AUTHOR_ERROR, &format!("[error]\n  {text}")),
        }
    }

    /// After a command's load of history `name` (a join or a conversation) finished: shows
    /// the search result that waited for it, if any, in the window now active.
    pub(super) fn found_loaded(&mut self, name: &str) {
        // One load at a time: a result waiting belongs to this one, or to none.
        let Some(found) = self
            .searches
            .as_mut()
            .and_then(|searches| searches.pending.take())
            .filter(|f| f.channel == name)
        else {
            return;
        };
        if let Some(channel) = self.world.active_channel(self.user)
            && self.world.window_is_history(self.user, channel, name)
        {
            self.show_found(channel, &found);
        }
    }
}
