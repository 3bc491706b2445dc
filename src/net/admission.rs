//! Who may connect: the total connection cap (`-nc`), concurrent connections per address
//! (`--max-per-ip`) and new connections per address per 10 minutes (`--conn-rate`).
//!
//! An IPv4 address counts on its own; IPv6 addresses count per /64, the block one subscriber
//! usually gets. The decision is made in the accept loop, before anything is allocated for the
//! session; an admitted connection holds a [`Ticket`] that gives its place back when dropped.
//! The one exception is the web listener's loopback connections, whose rate is counted once
//! their first request other than `/metrics` arrives, so a local Prometheus can scrape freely.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The window of `--conn-rate`.
pub const RATE_WINDOW: Duration = Duration::from_secs(600);
/// Once this many addresses are tracked, expired ones are pruned before adding another, so
/// the table cannot grow with the number of addresses ever seen.
const PRUNE_AT: usize = 4096;

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the server is full ({0} connections); please try again later")]
    Full(usize),
    #[error(
        "too many connections from your address (at most {0} at a time); close one and try again"
    )]
    TooManyFromAddress(usize),
    #[error(
        "too many new connections from your address (at most {0} per 10 minutes); wait a few minutes"
    )]
    TooFast(usize),
}

impl Refusal {
    /// A short name of the reason, for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Full(_) => "full",
            Refusal::TooManyFromAddress(_) => "per address",
            Refusal::TooFast(_) => "rate",
        }
    }

    /// The one line a refused client gets before the connection is closed.
    pub fn line(&self) -> String {
        format!("\r\nr0c: {self}\r\n")
    }
}

/// The limits; 0 switches a per-address limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections at once, from everyone.
    pub total: usize,
    /// Connections at once from one address (IPv6: one /64).
    pub per_address: usize,
    /// New connections from one address within [`RATE_WINDOW`].
    pub per_window: usize,
}

/// An address as the limits count it: IPv4 as is (also when mapped into IPv6), IPv6 by /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKey {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

impl AddressKey {
    pub fn of(address: IpAddr) -> AddressKey {
        match address {
            IpAddr::V4(v4) => AddressKey::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey::V4(v4.octets()),
                None => {
                    let mut prefix = [0u8; 8];
                    prefix.copy_from_slice(&v6.octets()[..8]);
                    AddressKey::V6Prefix(prefix)
                }
            },
        }
    }
}

/// The bookkeeping, without locks or clocks: `now` is passed in.
#[derive(Debug, Default)]
pub struct Counts {
    total: usize,
    open: HashMap<AddressKey, usize>,
    /// When the last connections per address were admitted, at most `per_window` of them.
    recent: HashMap<AddressKey, VecDeque<Instant>>,
}

impl Counts {
    /// Admits a connection from `key` at `now` and counts it, or says why not.
    pub fn admit(&mut self, limits: &Limits, key: AddressKey, now: Instant) -> Result<(), Refusal> {
        self.check_open(limits, key)?;
        self.charge(limits, key, now)?;
        self.open_one(key);
        Ok(())
    }

    /// Admits a connection from `key` under the caps on open connections only; the caller
    /// decides later whether it counts against the rate ([`Counts::charge`]).
    pub fn admit_uncharged(&mut self, limits: &Limits, key: AddressKey) -> Result<(), Refusal> {
        self.check_open(limits, key)?;
        self.open_one(key);
        Ok(())
    }

    /// Counts a new connection from `key` at `now` against `--conn-rate`, or says why not.
    pub fn charge(
        &mut self,
        limits: &Limits,
        key: AddressKey,
        now: Instant,
    ) -> Result<(), Refusal> {
        if limits.per_window == 0 {
            return Ok(());
        }
        if self.recent.len() >= PRUNE_AT && !self.recent.contains_key(&key) {
            self.recent.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < RATE_WINDOW)
            });
        }
        let times = self.recent.entry(key).or_default();
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= RATE_WINDOW)
        {
            times.pop_front();
        }
        if times.len() >= limits.per_window {
            return Err(Refusal::TooFast(limits.per_window));
        }
        times.push_back(now);
        Ok(())
    }

    /// Whether one more connection from `key` fits under the caps on open connections.
    fn check_open(&self, limits: &Limits, key: AddressKey) -> Result<(), Refusal> {
        if self.total >= limits.total {
            return Err(Refusal::Full(limits.total));
        }
        let open = self.open.get(&key).copied().unwrap_or(0);
        if limits.per_address > 0 && open >= limits.per_address {
            return Err(Refusal::TooManyFromAddress(limits.per_address));
        }
        Ok(())
    }

    fn open_one(&mut self, key: AddressKey) {
        self.total += 1;
        *self.open.entry(key).or_insert(0) += 1;
    }

    /// A connection from `key` closed.
    pub fn release(&mut self, key: AddressKey) {
        self.total = self.total.saturating_sub(1);
        if let Some(open) = self.open.get_mut(&key) {
            *open -= 1;
            if *open == 0 {
                self.open.remove(&key);
            }
        }
    }

    /// Connections open now.
    pub fn total(&self) -> usize {
        self.total
    }
}

/// The shared admission control of all listeners.
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    counts: Mutex<Counts>,
}

/// An admitted connection's place; dropping it frees the place.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    key: AddressKey,
}

impl Admission {
    pub fn new(limits: Limits) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Admits a connection from `address`, or says why not.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Ticket, Refusal> {
        let key = AddressKey::of(address);
        self.lock().admit(&self.limits, key, Instant::now())?;
        Ok(Ticket {
            admission: self.clone(),
            key,
        })
    }

    /// Admits a connection from `address` under the caps on open connections, without
    /// counting it against `--conn-rate` yet: the web listener does that with
    /// [`Admission::charge_rate`] once it knows what a loopback connection asks for.
    pub fn admit_uncharged(self: &Arc<Self>, address: IpAddr) -> Result<Ticket, Refusal> {
        let key = AddressKey::of(address);
        self.lock().admit_uncharged(&self.limits, key)?;
        Ok(Ticket {
            admission: self.clone(),
            key,
        })
    }

    /// Counts an admitted connection from `address` against `--conn-rate` after all.
    pub fn charge_rate(&self, address: IpAddr) -> Result<(), Refusal> {
        self.lock()
            .charge(&self.limits, AddressKey::of(address), Instant::now())
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total()
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked: every update is one step.
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.lock().release(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(address: &str) -> AddressKey {
        AddressKey::of(address.parse().expect("address"))
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:10.0.0.1"), key("10.0.0.1"));
        assert_ne!(key("10.0.0.1"), key("10.0.0.2"));
    }

    #[test]
    fn per_address_and_total_caps() {
        let limits = Limits {
            total: 5,
            per_address: 2,
            per_window: 0,
        };
        let mut counts = Counts::default();
        let now = Instant::now();
        let a = key("10.0.0.1");
        assert_eq!(counts.admit(&limits, a, now), Ok(()));
        assert_eq!(counts.admit(&limits, a, now), Ok(()));
        assert_eq!(
            counts.admit(&limits, a, now),
            Err(Refusal::TooManyFromAddress(2))
        );
        counts.release(a);
        assert_eq!(counts.admit(&limits, a, now), Ok(()));
        for other in ["10.0.0.2", "10.0.0.3", "10.0.0.3"] {
            assert_eq!(counts.admit(&limits, key(other), now), Ok(()));
        }
        assert_eq!(
            counts.admit(&limits, key("10.0.0.4"), now),
            Err(Refusal::Full(5))
        );
        assert_eq!(counts.total(), 5);
    }

    #[test]
    fn new_connections_per_window() {
        let limits = Limits {
            total: 100,
            per_address: 0,
            per_window: 3,
        };
        let mut counts = Counts::default();
        let start = Instant::now();
        let a = key("10.0.0.1");
        for second in 0..3 {
            let now = start + Duration::from_secs(second);
            assert_eq!(counts.admit(&limits, a, now), Ok(()));
            counts.release(a);
        }
        let soon = start + Duration::from_secs(100);
        assert_eq!(counts.admit(&limits, a, soon), Err(Refusal::TooFast(3)));
        assert_eq!(
            counts.admit(&limits, key("10.0.0.2"), soon),
            Ok(()),
            "others are not affected"
        );
        let later = start + RATE_WINDOW + Duration::from_secs(1);
        assert_eq!(
            counts.admit(&limits, a, later),
            Ok(()),
            "the window moved on"
        );
    }

    #[test]
    fn an_uncharged_connection_counts_as_open_but_not_against_the_rate() {
        let limits = Limits {
            total: 3,
            per_address: 2,
            per_window: 1,
        };
        let mut counts = Counts::default();
        let now = Instant::now();
        let a = key("127.0.0.1");
        for _ in 0..5 {
            assert_eq!(counts.admit_uncharged(&limits, a), Ok(()));
            counts.release(a);
        }
        assert_eq!(
            counts.admit(&limits, a, now),
            Ok(()),
            "the rate is untouched"
        );
        assert_eq!(counts.charge(&limits, a, now), Err(Refusal::TooFast(1)));
        assert_eq!(counts.admit_uncharged(&limits, a), Ok(()));
        assert_eq!(
            counts.admit_uncharged(&limits, a),
            Err(Refusal::TooManyFromAddress(2)),
            "the caps on open connections still apply"
        );
        assert_eq!(counts.admit_uncharged(&limits, key("10.0.0.1")), Ok(()));
        assert_eq!(
            counts.admit_uncharged(&limits, key("10.0.0.2")),
            Err(Refusal::Full(3))
        );
    }

    #[test]
    fn the_rate_table_is_pruned() {
        let limits = Limits {
            total: usize::MAX,
            per_address: 0,
            per_window: 1,
        };
        let mut counts = Counts::default();
        let start = Instant::now();
        for n in 0..PRUNE_AT as u32 {
            let address = IpAddr::from((0x0a00_0000u32 + n).to_be_bytes());
            assert_eq!(
                counts.admit(&limits, AddressKey::of(address), start),
                Ok(())
            );
        }
        let later = start + RATE_WINDOW;
        assert_eq!(counts.admit(&limits, key("192.0.2.1"), later), Ok(()));
        assert_eq!(counts.recent.len(), 1, "expired addresses were dropped");
    }

    #[test]
    fn the_refusal_line_is_readable() {
        assert_eq!(
            Refusal::TooManyFromAddress(16).line(),
            "\r\nr0c: too many connections from your address (at most 16 at a time); close one and try again\r\n"
        );
    }
}
