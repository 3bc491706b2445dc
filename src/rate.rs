//! The token bucket: `capacity` tokens at once, refilled at `per_second`. Flood control
//! ([`crate::session::flood`]) and the IRC bridge's send rate (`--i-rate`) both pace with it.
//!
//! Sans-IO: every call is given `now`, so tests drive the clock.

use std::time::{Duration, Instant};

/// Lets a refill that is short of a whole token by rounding alone count as whole: a caller
/// that waited exactly until [`TokenBucket::ready_at`] must find the tokens there.
const ROUNDING: f64 = 1e-9;

/// One token bucket. A cost above the capacity needs a full bucket (and empties it), so no
/// cost is ever impossible to pay.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    /// The moment `tokens` was last brought up to date.
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(capacity: f64, per_second: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            capacity,
            per_second,
            tokens: capacity,
            updated: now,
        }
    }

    /// A full bucket of `burst` tokens (at least one) at `now`, one token coming back every
    /// `interval`; a zero interval refills it at once.
    pub fn per_interval(burst: f64, interval: Duration, now: Instant) -> TokenBucket {
        let per_second = if interval.is_zero() {
            f64::INFINITY
        } else {
            1.0 / interval.as_secs_f64()
        };
        TokenBucket::new(burst.max(1.0), per_second, now)
    }

    /// Adds what came back since the last update, up to the capacity.
    pub fn refill(&mut self, now: Instant) {
        if self.per_second.is_infinite() {
            self.tokens = self.capacity;
        } else {
            let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        }
        self.updated = now;
    }

    /// When `cost` tokens will be there (a cost above the capacity needs a full bucket).
    pub fn ready_at(&self, cost: f64) -> Instant {
        let needed = cost.min(self.capacity) - self.tokens;
        if needed <= 0.0 || self.per_second <= 0.0 || self.per_second.is_infinite() {
            return self.updated;
        }
        self.updated + Duration::from_secs_f64(needed / self.per_second)
    }

    /// Takes `cost` tokens (at most a full bucket), whether or not they are there.
    pub fn take(&mut self, cost: f64) {
        self.tokens -= cost.min(self.capacity);
    }

    /// Whether `cost` tokens are there (a full bucket for a cost above the capacity).
    pub fn has(&self, cost: f64) -> bool {
        self.tokens + ROUNDING >= cost.min(self.capacity)
    }

    /// Takes `cost` tokens at `now` if they are there; otherwise says how long until they are.
    pub fn try_take(&mut self, cost: f64, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.has(cost) {
            self.take(cost);
            Ok(())
        } else {
            Err(self.ready_at(cost).saturating_duration_since(now))
        }
    }

    /// Charges `cost` tokens after the fact: the bucket may go into debt, by one full bucket
    /// at most, and pays it back before anything else passes.
    pub fn charge(&mut self, cost: f64) {
        self.tokens = (self.tokens - cost).max(-self.capacity);
    }

    /// Whether the bucket is full (at its last update).
    pub fn is_full(&self) -> bool {
        self.tokens >= self.capacity
    }

    /// Tokens at once.
    pub fn capacity(&self) -> f64 {
        self.capacity
    }

    /// Tokens coming back per second.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_bursts_then_paces() {
        let second = Duration::from_secs(1);
        let start = Instant::now();
        let mut bucket = TokenBucket::per_interval(4.0, 2 * second, start);
        for _ in 0..4 {
            assert_eq!(bucket.try_take(1.0, start), Ok(()));
        }
        assert_eq!(bucket.try_take(1.0, start), Err(2 * second));
        assert_eq!(bucket.try_take(1.0, start + second), Err(second));
        assert_eq!(bucket.try_take(1.0, start + 2 * second), Ok(()));
        assert!(bucket.try_take(1.0, start + 2 * second).is_err());
        // A long pause refills the burst, not more.
        for _ in 0..4 {
            assert_eq!(bucket.try_take(1.0, start + 100 * second), Ok(()));
        }
        assert!(bucket.try_take(1.0, start + 100 * second).is_err());
    }

    #[test]
    fn a_zero_interval_never_waits_and_a_burst_below_one_is_one() {
        let start = Instant::now();
        let mut bucket = TokenBucket::per_interval(0.2, Duration::ZERO, start);
        assert_eq!(bucket.capacity(), 1.0);
        for _ in 0..100 {
            assert_eq!(bucket.try_take(1.0, start), Ok(()));
        }
    }

    #[test]
    fn waiting_until_ready_at_is_enough_and_big_costs_need_a_full_bucket() {
        let second = Duration::from_secs(1);
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 4.0, start);
        bucket.take(10.0);
        let ready = bucket.ready_at(7.0);
        assert_eq!(ready, start + Duration::from_millis(1750));
        bucket.refill(ready);
        assert!(bucket.has(7.0) && !bucket.has(7.5));
        let mut bucket = TokenBucket::new(10.0, 4.0, start);
        bucket.take(4.0);
        assert!(
            !bucket.has(50.0),
            "a cost above the capacity needs a full bucket"
        );
        let full = bucket.ready_at(50.0);
        assert_eq!(full, start + second);
        bucket.refill(full);
        assert!(bucket.has(50.0) && bucket.is_full());
        bucket.take(50.0);
        assert!(
            bucket.has(0.0) && !bucket.has(0.5),
            "it took one bucket, not 50"
        );
        // Charged 100 after the fact: the debt stops at one bucket (-10), which 2.75 s
        // (11 tokens) pay back.
        bucket.charge(100.0);
        bucket.refill(full + 2 * second);
        assert!(!bucket.has(1.0), "still in debt");
        bucket.refill(full + Duration::from_millis(2750));
        assert!(bucket.has(1.0), "the debt was one bucket at most");
    }
}
