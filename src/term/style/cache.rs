//! A message's rendered lines, kept with the message so that clients laid out alike share them.

use std::sync::{Arc, Mutex, OnceLock};

use crate::term::layout::Layout;
use crate::term::style::{MessageStyle, message_lines};

/// How many different renderings of one message are kept: one per (width, style) in use. Most
/// readers of a channel share a few; a rendering for anyone else is built and not kept.
const KEPT: usize = 4;

/// What a message's lines depend on besides the message itself: the width (the layout follows
/// from it and the kind of window) and the style. Compared for every message a reader shows,
/// so it holds no strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinesKey {
    pub width: usize,
    pub status_window: bool,
    pub style: MessageStyle,
    /// How far the reader's time zone moves the timestamp (`/tz`), in seconds: the lines
    /// show a shifted time, so readers in other zones need lines of their own.
    pub shift_seconds: i32,
}

impl LinesKey {
    /// The layout the lines are built with.
    pub fn layout(&self) -> Layout {
        Layout::for_width(self.width, self.status_window)
    }
}

/// The lines of one message for the few layouts and styles its readers use.
///
/// Rendering a message is the largest part of a frame, and a channel's readers mostly share a
/// terminal width and settings, so each message is styled once per layout rather than once per
/// reader. Clones start empty and all caches compare equal: the cache is no part of a message's
/// value.
#[derive(Default)]
pub struct LineCache {
    /// The first rendering, read without a lock: every reader of a busy channel looks here for
    /// every message, from both worker threads.
    first: OnceLock<(LinesKey, Arc<[String]>)>,
    /// The others, up to `KEPT` in all.
    others: Mutex<Vec<(LinesKey, Arc<[String]>)>>,
}

impl LineCache {
    /// The lines for `key`, rendered now and kept if they were not kept yet.
    pub fn lines(
        &self,
        key: &LinesKey,
        unix_micros: i64,
        author: &str,
        text: &str,
    ) -> Arc<[String]> {
        let render = || -> Arc<[String]> {
            message_lines(
                &key.layout(),
                key.width,
                unix_micros,
                author,
                text,
                &key.style,
            )
            .into()
        };
        // A status window has one reader; keeping its lines would only cost memory per client.
        if key.status_window {
            return render();
        }
        let (first_key, first_lines) = self.first.get_or_init(|| (*key, render()));
        if first_key == key {
            return first_lines.clone();
        }
        // A poisoned lock only means another reader panicked while holding it; the cache is
        // then skipped, never trusted half-written.
        let Ok(mut others) = self.others.lock() else {
            return render();
        };
        if let Some((_, lines)) = others.iter().find(|(k, _)| k == key) {
            return lines.clone();
        }
        let lines = render();
        if others.len() + 1 < KEPT {
            others.push((*key, lines.clone()));
        }
        lines
    }

    fn kept(&self) -> usize {
        usize::from(self.first.get().is_some()) + self.others.lock().map_or(0, |o| o.len())
    }
}

impl Clone for LineCache {
    fn clone(&self) -> Self {
        LineCache::default()
    }
}

impl PartialEq for LineCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for LineCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LineCache({} kept)", self.kept())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(width: usize, unread: bool) -> LinesKey {
        LinesKey {
            width,
            status_window: false,
            style: MessageStyle {
                unread,
                ..MessageStyle::default()
            },
            shift_seconds: 0,
        }
    }

    #[test]
    fn cached_lines_are_the_rendered_lines() {
        let cache = LineCache::default();
        for (width, unread) in [
            (80, true),
            (80, false),
            (40, true),
            (80, true),
            (200, false),
        ] {
            let k = key(width, unread);
            let text = "a message long enough to wrap at forty columns, and then some more";
            let expected = message_lines(
                &k.layout(),
                width,
                1_500_000_000_000_000,
                "bob",
                text,
                &k.style,
            );
            let got = cache.lines(&k, 1_500_000_000_000_000, "bob", text);
            assert_eq!(&got[..], &expected[..], "width {width} unread {unread}");
        }
    }

    #[test]
    fn keeps_a_few_renderings_and_shares_them() {
        let cache = LineCache::default();
        let first = cache.lines(&key(80, true), 0, "bob", "hi");
        let again = cache.lines(&key(80, true), 0, "bob", "hi");
        assert!(Arc::ptr_eq(&first, &again));
        for width in 30..40 {
            cache.lines(&key(width, true), 0, "bob", "hi");
        }
        assert_eq!(format!("{cache:?}"), format!("LineCache({KEPT} kept)"));
        let other = cache.lines(&key(39, true), 0, "bob", "hi");
        let other_again = cache.lines(&key(39, true), 0, "bob", "hi");
        assert!(
            !Arc::ptr_eq(&other, &other_again),
            "a full cache keeps nothing more"
        );
        assert_eq!(other, other_again);
    }

    #[test]
    fn status_window_lines_are_not_kept() {
        let cache = LineCache::default();
        let status = LinesKey {
            status_window: true,
            ..key(80, false)
        };
        let lines = cache.lines(&status, 0, "-info-", "welcome");
        assert!(!lines.is_empty());
        assert_eq!(format!("{cache:?}"), "LineCache(0 kept)");
    }
}
