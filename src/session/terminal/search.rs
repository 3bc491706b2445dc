//! The session's side of `/search`: at most one search in flight per session and one every
//! [`SEARCH_INTERVAL`], each run in a task of its own (the query runs on a blocking thread
//! over the store's reader pool), whose results arrive in the status window.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Session;
use crate::command::search::SearchRequest;
use crate::world::AUTHOR_ERROR;

/// The shortest time between two searches of one session.
pub const SEARCH_INTERVAL: Duration = Duration::from_secs(2);

/// When the session last searched, and whether a search runs.
#[derive(Debug, Default)]
pub struct Searches {
    last: Option<Instant>,
    running: Arc<AtomicBool>,
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
        if let Some(last) = self.searches.last
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
        if self.searches.running.swap(true, Ordering::AcqRel) {
            world.tell(
                user,
                AUTHOR_ERROR,
                "[error]\n  your last search is still running; wait for its answer",
            );
            return;
        }
        self.searches.last = Some(now);
        let running = Running(Arc::clone(&self.searches.running));
        runtime.spawn(async move {
            let _running = running;
            crate::command::search::run_search(request, world, user).await;
        });
    }
}
