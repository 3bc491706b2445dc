//! A limit on log lines a peer can cause over and over (an IRC server's overlong lines, its
//! ERROR lines): at most N a minute, and then one line that says how many were left out.
//!
//! Sans-IO: the caller passes the time and writes the lines; this only counts.

use std::time::Duration;

/// The window the limit counts in.
const WINDOW: Duration = Duration::from_secs(60);

/// Counts one kind of log line.
#[derive(Debug, Clone)]
pub struct LogLimit {
    /// Lines logged per window at most.
    per_window: u32,
    /// When the current window started; `None` before the first line.
    window_start: Option<Duration>,
    /// Lines logged in the current window.
    logged: u32,
    /// Lines left out since the last one logged.
    suppressed: u64,
}

/// What to do with one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it. `suppressed` lines like it were left out before it (say so when above 0);
    /// `last`: it is the last one this minute (say that more are left out).
    Log { suppressed: u64, last: bool },
    /// Leave it out.
    Suppress,
}

impl LogLimit {
    /// At most `per_minute` lines a minute (at least one).
    pub const fn per_minute(per_minute: u32) -> LogLimit {
        LogLimit {
            per_window: if per_minute == 0 { 1 } else { per_minute },
            window_start: None,
            logged: 0,
            suppressed: 0,
        }
    }

    /// Whether a line that wants to be logged at `now` (any monotonic clock) is logged.
    pub fn check(&mut self, now: Duration) -> Verdict {
        let in_window = self
            .window_start
            .is_some_and(|start| now.saturating_sub(start) < WINDOW);
        if !in_window {
            self.window_start = Some(now);
            self.logged = 0;
        }
        if self.logged >= self.per_window {
            self.suppressed = self.suppressed.saturating_add(1);
            return Verdict::Suppress;
        }
        self.logged += 1;
        Verdict::Log {
            suppressed: std::mem::take(&mut self.suppressed),
            last: self.logged == self.per_window,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    fn log(suppressed: u64) -> Verdict {
        Verdict::Log {
            suppressed,
            last: false,
        }
    }

    fn last(suppressed: u64) -> Verdict {
        Verdict::Log {
            suppressed,
            last: true,
        }
    }

    #[test]
    fn a_burst_is_cut_and_the_next_minute_says_how_much() {
        let mut limit = LogLimit::per_minute(3);
        let verdicts: Vec<Verdict> = (0..6).map(|_| limit.check(at(10))).collect();
        assert_eq!(
            verdicts,
            [
                log(0),
                log(0),
                last(0),
                Verdict::Suppress,
                Verdict::Suppress,
                Verdict::Suppress,
            ]
        );
        // Still the same minute.
        assert_eq!(limit.check(at(69)), Verdict::Suppress);
        // A new minute: the first line carries the count of those left out.
        assert_eq!(limit.check(at(70)), log(4));
        assert_eq!(limit.check(at(71)), log(0));
        assert_eq!(limit.check(at(72)), last(0));
        assert_eq!(limit.check(at(200)), log(0));
    }

    #[test]
    fn a_limit_of_one_and_a_clock_that_goes_back() {
        let mut limit = LogLimit::per_minute(0);
        assert_eq!(limit.check(at(100)), last(0));
        assert_eq!(limit.check(at(100)), Verdict::Suppress);
        // A clock before the window's start is inside it, never a panic.
        assert_eq!(limit.check(at(5)), Verdict::Suppress);
        assert_eq!(limit.check(at(160)), last(2));
    }
}
