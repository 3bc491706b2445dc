//! Flood control for what one user says, sans-IO: token buckets on messages and bytes, then
//! graduated steps: slowed (a few messages held back and sent as tokens come), warned, muted
//! for a while. Nobody is ever banned automatically.
//!
//! A paste (several lines arriving in one read) reaches this as one multi-line message, so it
//! costs one message token, plus its bytes and its lines: one paste and then conversation
//! pass, pastes twice a second do not.
//!
//! Commands that others see or that change shared state (`/nick`, `/join`, `/part`, `/topic`,
//! and moderation: `/kick`, `/ban`, `/mute`, `/mode`, `/invite`, `/op`, `/voice`, `/lockdown`...)
//! draw on a budget of their own ([`CommandBudget`]), charged by what each cost others.

use std::collections::VecDeque;
use std::time::Instant;

use crate::rate::TokenBucket;

/// How many messages wait while the user is being slowed down.
pub const MAX_HELD: usize = 3;

pub use crate::config::FloodLimits;

/// What became of an offered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<T> {
    /// Send it now.
    Send(T),
    /// Held back; it is sent when [`FloodGuard::release`] returns it.
    Held,
    /// Dropped, and the user is warned that muting comes next.
    Warned,
    /// Dropped: the user is muted for this many more seconds. `first` is set when the mute
    /// starts (so the user is told once, not for every line).
    Muted { seconds: u64, first: bool },
}

/// What one message costs besides its message token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub bytes: usize,
    pub lines: usize,
}

impl Cost {
    /// The cost of a text of one or more lines.
    pub fn of_text(text: &str) -> Cost {
        Cost {
            bytes: text.len(),
            lines: text.split('\n').count(),
        }
    }
}

/// Flood control of commands that others see or that change shared state: a budget of
/// units, each command charged after it ran by what it cost others (a nick change shown in
/// 64 channels costs 64). The budget may go into debt by one burst at most; while it is
/// empty those commands are refused with the time to wait.
#[derive(Debug, Clone)]
pub struct CommandBudget {
    bucket: TokenBucket,
    enabled: bool,
}

impl CommandBudget {
    pub fn new(limits: &FloodLimits, now: Instant) -> CommandBudget {
        CommandBudget {
            bucket: TokenBucket::new(
                limits.command_burst.max(1.0),
                limits.command_per_second,
                now,
            ),
            enabled: limits.enabled,
        }
    }

    /// Whether such a command may run now; if not, the whole seconds until it may.
    pub fn check(&mut self, now: Instant) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        self.bucket.refill(now);
        if self.bucket.has(1.0) {
            return Ok(());
        }
        let wait = self.bucket.ready_at(1.0).saturating_duration_since(now);
        Err(wait.as_secs_f64().ceil().max(1.0) as u64)
    }

    /// Charges a command that ran.
    pub fn charge(&mut self, cost: usize, now: Instant) {
        if !self.enabled {
            return;
        }
        self.bucket.refill(now);
        self.bucket.charge(cost as f64);
    }

    /// The burst and the rate, for telling the user.
    pub fn limits(&self) -> (f64, f64) {
        (self.bucket.capacity(), self.bucket.per_second())
    }
}

/// One user's flood state; `T` is whatever a message is to the caller.
#[derive(Debug, Clone)]
pub struct FloodGuard<T> {
    limits: FloodLimits,
    messages: TokenBucket,
    bytes: TokenBucket,
    lines: TokenBucket,
    /// Held messages with their cost.
    held: VecDeque<(T, Cost)>,
    warned: bool,
    muted_until: Option<Instant>,
}

impl<T> FloodGuard<T> {
    pub fn new(limits: FloodLimits, now: Instant) -> FloodGuard<T> {
        FloodGuard {
            limits,
            messages: TokenBucket::new(limits.burst.max(1.0), limits.per_second, now),
            bytes: TokenBucket::new(limits.burst_bytes.max(1.0), limits.bytes_per_second, now),
            lines: TokenBucket::new(limits.burst_lines.max(1.0), limits.lines_per_second, now),
            held: VecDeque::new(),
            warned: false,
            muted_until: None,
        }
    }

    /// The user wants to say `message`, costing `cost`, at `now`.
    pub fn offer(&mut self, message: T, cost: Cost, now: Instant) -> Verdict<T> {
        if !self.limits.enabled {
            return Verdict::Send(message);
        }
        self.refill(now);
        if let Some(until) = self.muted_until {
            if now < until {
                let seconds = until.saturating_duration_since(now).as_secs().max(1);
                return Verdict::Muted {
                    seconds,
                    first: false,
                };
            }
            self.muted_until = None;
            self.warned = false;
        }
        if self.held.is_empty() && self.can_pay(cost) {
            self.pay(cost);
            return Verdict::Send(message);
        }
        if self.held.len() < MAX_HELD {
            self.held.push_back((message, cost));
            return Verdict::Held;
        }
        if !self.warned {
            self.warned = true;
            return Verdict::Warned;
        }
        // Still flooding after the warning: mute, and drop what was held.
        self.held.clear();
        self.muted_until = Some(now + self.limits.mute);
        Verdict::Muted {
            seconds: self.limits.mute.as_secs(),
            first: true,
        }
    }

    /// Held messages whose turn has come, oldest first.
    pub fn release(&mut self, now: Instant) -> Vec<T> {
        self.refill(now);
        let mut ready = Vec::new();
        while let Some(&(_, cost)) = self.held.front() {
            if !self.can_pay(cost) {
                break;
            }
            self.pay(cost);
            ready.extend(self.held.pop_front().map(|(message, _)| message));
        }
        ready
    }

    /// How many messages are held.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// When the next held message may go, if any is held.
    pub fn next_release(&self) -> Option<Instant> {
        let (_, cost) = self.held.front()?;
        Some(
            self.messages
                .ready_at(1.0)
                .max(self.bytes.ready_at(cost.bytes as f64))
                .max(self.lines.ready_at(cost.lines as f64)),
        )
    }

    fn can_pay(&self, cost: Cost) -> bool {
        self.messages.has(1.0)
            && self.bytes.has(cost.bytes as f64)
            && self.lines.has(cost.lines as f64)
    }

    fn pay(&mut self, cost: Cost) {
        self.messages.take(1.0);
        self.bytes.take(cost.bytes as f64);
        self.lines.take(cost.lines as f64);
    }

    fn refill(&mut self, now: Instant) {
        self.messages.refill(now);
        self.bytes.refill(now);
        self.lines.refill(now);
        // Once the user has calmed down completely, the warning is forgotten.
        if self.held.is_empty() && self.messages.is_full() {
            self.warned = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    fn offer(guard: &mut FloodGuard<String>, text: String, now: Instant) -> Verdict<String> {
        let cost = Cost::of_text(&text);
        guard.offer(text, cost, now)
    }

    #[test]
    fn a_burst_passes_then_messages_are_slowed_then_warned_then_muted() {
        let start = Instant::now();
        let mut guard: FloodGuard<String> = FloodGuard::new(FloodLimits::default(), start);
        let mut verdicts = Vec::new();
        // Ten lines a second for two seconds.
        for n in 0..20 {
            verdicts.push(offer(&mut guard, format!("line {n}"), at(start, n * 100)));
        }
        let sent = verdicts
            .iter()
            .filter(|v| matches!(v, Verdict::Send(_)))
            .count();
        assert_eq!(sent, 8, "the burst");
        let held = verdicts.iter().filter(|v| **v == Verdict::Held).count();
        assert!((3..=4).contains(&held), "{verdicts:?}");
        let warned = verdicts.iter().position(|v| *v == Verdict::Warned);
        let muted = verdicts
            .iter()
            .position(|v| matches!(v, Verdict::Muted { first: true, .. }));
        assert!(
            warned.is_some() && muted > warned,
            "warned, then muted: {verdicts:?}"
        );
        assert!(matches!(
            verdicts.last(),
            Some(Verdict::Muted { first: false, .. })
        ));
        // Muted for a minute, then free to talk again.
        assert!(matches!(
            offer(&mut guard, "still muted".into(), at(start, 30_000)),
            Verdict::Muted { .. }
        ));
        assert_eq!(
            offer(&mut guard, "hello again".into(), at(start, 70_000)),
            Verdict::Send("hello again".into())
        );
    }

    #[test]
    fn held_messages_go_out_in_order_as_tokens_come() {
        let start = Instant::now();
        let mut guard: FloodGuard<String> = FloodGuard::new(FloodLimits::default(), start);
        for n in 0..8 {
            assert!(matches!(
                offer(&mut guard, format!("{n}"), start),
                Verdict::Send(_)
            ));
        }
        assert_eq!(offer(&mut guard, "a".into(), start), Verdict::Held);
        assert_eq!(offer(&mut guard, "b".into(), start), Verdict::Held);
        assert_eq!(guard.next_release(), Some(at(start, 1000)));
        assert_eq!(guard.release(at(start, 999)), Vec::<String>::new());
        assert_eq!(guard.release(at(start, 1000)), ["a"]);
        assert_eq!(guard.release(at(start, 2500)), ["b"]);
        assert_eq!(guard.next_release(), None);
    }

    #[test]
    fn a_big_paste_costs_bytes_once_and_normal_chat_goes_on() {
        let start = Instant::now();
        let mut guard: FloodGuard<String> = FloodGuard::new(FloodLimits::default(), start);
        let paste = "some pasted text, eighty characters wide or so, like a log\n".repeat(50);
        assert!(matches!(offer(&mut guard, paste, start), Verdict::Send(_)));
        assert!(matches!(
            offer(&mut guard, "and a reply".into(), at(start, 500)),
            Verdict::Send(_)
        ));
        // A second paste that size right away waits for the byte bucket.
        let paste = "x".repeat(16_000);
        assert_eq!(offer(&mut guard, paste, at(start, 600)), Verdict::Held);
        assert!(guard.next_release() > Some(at(start, 600)));
    }

    #[test]
    fn pastes_twice_a_second_are_stopped_but_one_paste_and_conversation_pass() {
        let start = Instant::now();
        let paste: String = (0..50).map(|n| format!("paste line {n}\n")).collect();
        let paste = paste.trim_end().to_string();
        // 50-line pastes twice a second for 15 s: 1500 lines offered.
        let mut guard: FloodGuard<String> = FloodGuard::new(FloodLimits::default(), start);
        let mut delivered_lines = 0;
        for n in 0..30 {
            let now = at(start, n * 500);
            let mut sent = match offer(&mut guard, paste.clone(), now) {
                Verdict::Send(text) => vec![text],
                _ => Vec::new(),
            };
            sent.extend(guard.release(now));
            delivered_lines += sent.iter().map(|t| t.lines().count()).sum::<usize>();
        }
        assert!(
            delivered_lines <= 100,
            "{delivered_lines} lines of 1500 went through"
        );
        // One paste, then a line every two seconds: nothing is held back.
        let mut guard: FloodGuard<String> = FloodGuard::new(FloodLimits::default(), start);
        assert!(matches!(offer(&mut guard, paste, start), Verdict::Send(_)));
        for n in 1..60 {
            assert!(
                matches!(
                    offer(&mut guard, format!("reply {n}"), at(start, n * 2000)),
                    Verdict::Send(_)
                ),
                "reply {n}"
            );
        }
    }

    #[test]
    fn the_command_budget_is_charged_by_cost_and_says_how_long_to_wait() {
        let start = Instant::now();
        let mut budget = CommandBudget::new(&FloodLimits::default(), start);
        // A nick change seen in 64 channels spends the whole burst at once.
        assert_eq!(budget.check(start), Ok(()));
        budget.charge(65, start);
        assert_eq!(budget.check(start), Err(2));
        assert_eq!(budget.check(at(start, 1500)), Err(1));
        assert_eq!(budget.check(at(start, 2000)), Ok(()));
        // Joins at one unit each: a burst of 64, then one a second.
        let mut budget = CommandBudget::new(&FloodLimits::default(), start);
        let mut allowed = 0;
        for n in 0..200 {
            let now = at(start, n * 100);
            if budget.check(now).is_ok() {
                budget.charge(1, now);
                allowed += 1;
            }
        }
        // 64 at once, then about one a second over the 20 s.
        assert!((80..=86).contains(&allowed), "{allowed}");
        // Switched off with the rest of flood control.
        let limits = FloodLimits {
            enabled: false,
            ..FloodLimits::default()
        };
        let mut budget = CommandBudget::new(&limits, start);
        budget.charge(1000, start);
        assert_eq!(budget.check(start), Ok(()));
    }

    #[test]
    fn switched_off_everything_passes() {
        let start = Instant::now();
        let limits = FloodLimits {
            enabled: false,
            ..FloodLimits::default()
        };
        let mut guard: FloodGuard<String> = FloodGuard::new(limits, start);
        for n in 0..1000 {
            assert!(matches!(
                offer(&mut guard, format!("{n}"), start),
                Verdict::Send(_)
            ));
        }
    }
}
