//! Who may connect: the total connection cap (`-nc`), concurrent connections per address
//! (`--max-per-ip`) and new connections per address per 10 minutes (`--conn-rate`).
//!
//! An IPv4 address counts on its own; IPv6 addresses count per /64, the block one subscriber
//! usually gets. Addresses in the networks of `--limit-exempt` ([`Exemptions`]; loopback by
//! default) skip the per-address caps and the rate, so r0c's own stress testers, a LAN or a
//! conference network behind one NAT address are never refused by them; they still count
//! towards the total. The decision is made in the accept loop, before anything is allocated
//! for the session; an admitted connection holds a [`Ticket`] that gives its place back when
//! dropped. The one exception is the web listener's loopback connections when loopback is not
//! exempt: their rate is counted once their first request other than `/metrics` arrives, so a
//! local Prometheus can scrape freely.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

/// The window of `--conn-rate`.
pub const RATE_WINDOW: Duration = Duration::from_secs(600);
/// Once this many addresses are tracked, expired ones are pruned before adding another, so
/// the table cannot grow with the number of addresses ever seen.
const PRUNE_AT: usize = 4096;

// The address types are plain data that the config and the world use too; they live in a leaf.
pub use crate::address::{AddressKey, Cidr, CidrError, DEFAULT_EXEMPT, Exemptions};

/// Why a connection was turned away. Each line also tells how the operator lifts the limit,
/// since the one refused is often a whole LAN or a conference behind one address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the server is full ({0} connections); please try again later (the operator can raise the limit with -nc)"
    )]
    Full(usize),
    #[error(
        "too many connections from your address (at most {0} at a time); close one and try again (the operator can raise the limit with --max-per-ip or exempt your network with --limit-exempt)"
    )]
    TooManyFromAddress(usize),
    #[error(
        "too many new connections from your address (at most {0} per 10 minutes); wait a few minutes (the operator can raise the limit with --conn-rate or exempt your network with --limit-exempt)"
    )]
    TooFast(usize),
    /// A server ban covers the address (the reason is the ban's line).
    #[error("{0}")]
    Banned(String),
}

impl Refusal {
    /// A short name of the reason, for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Full(_) => "full",
            Refusal::TooManyFromAddress(_) => "per address",
            Refusal::TooFast(_) => "rate",
            Refusal::Banned(_) => "banned",
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

    /// Admits a connection from an exempt address: only the total cap applies, and the
    /// connection is counted in the total alone (its address's count is left for those that
    /// are not exempt, such as others of the same IPv6 /64).
    pub fn admit_exempt(&mut self, limits: &Limits) -> Result<(), Refusal> {
        if self.total >= limits.total {
            return Err(Refusal::Full(limits.total));
        }
        self.total += 1;
        Ok(())
    }

    /// A connection admitted by [`Counts::admit_exempt`] closed.
    pub fn release_exempt(&mut self) {
        self.total = self.total.saturating_sub(1);
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
    /// The limits and exemptions; a reload (SIGHUP) replaces them for later admissions.
    settings: RwLock<(Limits, Exemptions)>,
    counts: Mutex<Counts>,
}

/// An admitted connection's place; dropping it frees the place.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    /// The address the connection counts for, or `None` for an exempt address, which counts
    /// in the total only.
    key: Option<AddressKey>,
}

impl Admission {
    pub fn new(limits: Limits, exempt: Exemptions) -> Arc<Admission> {
        Arc::new(Admission {
            settings: RwLock::new((limits, exempt)),
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Applies new per-address limits and exemptions to the connections admitted from now
    /// on (the reload on SIGHUP); open connections keep their places. The total stays: it
    /// follows the open-files limit, which is set at start.
    pub fn set_limits(&self, per_address: usize, per_window: usize, exempt: Exemptions) {
        let mut settings = self
            .settings
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        settings.0.per_address = per_address;
        settings.0.per_window = per_window;
        settings.1 = exempt;
    }

    /// Admits a connection from `address`, or says why not.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Ticket, Refusal> {
        if self.is_exempt(address) {
            return self.admit_exempt();
        }
        let key = AddressKey::of(address);
        let limits = self.limits();
        self.lock().admit(&limits, key, Instant::now())?;
        Ok(Ticket {
            admission: self.clone(),
            key: Some(key),
        })
    }

    /// Admits a connection from `address` under the caps on open connections, without
    /// counting it against `--conn-rate` yet: the web listener does that with
    /// [`Admission::charge_rate`] once it knows what a loopback connection asks for.
    pub fn admit_uncharged(self: &Arc<Self>, address: IpAddr) -> Result<Ticket, Refusal> {
        if self.is_exempt(address) {
            return self.admit_exempt();
        }
        let key = AddressKey::of(address);
        let limits = self.limits();
        self.lock().admit_uncharged(&limits, key)?;
        Ok(Ticket {
            admission: self.clone(),
            key: Some(key),
        })
    }

    fn admit_exempt(self: &Arc<Self>) -> Result<Ticket, Refusal> {
        let limits = self.limits();
        self.lock().admit_exempt(&limits)?;
        Ok(Ticket {
            admission: self.clone(),
            key: None,
        })
    }

    /// Counts an admitted connection from `address` against `--conn-rate` after all; an
    /// exempt address owes nothing.
    pub fn charge_rate(&self, address: IpAddr) -> Result<(), Refusal> {
        if self.is_exempt(address) {
            return Ok(());
        }
        let limits = self.limits();
        self.lock()
            .charge(&limits, AddressKey::of(address), Instant::now())
    }

    /// Connections admitted and still open, on every listener.
    pub fn open_connections(&self) -> usize {
        self.lock().total()
    }

    /// Whether `address` is in a network of `--limit-exempt`.
    pub fn is_exempt(&self, address: IpAddr) -> bool {
        self.settings().1.contains(address)
    }

    /// The networks of `--limit-exempt`.
    pub fn exemptions(&self) -> Exemptions {
        self.settings().1.clone()
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total()
    }

    pub fn limits(&self) -> Limits {
        self.settings().0
    }

    fn settings(&self) -> std::sync::RwLockReadGuard<'_, (Limits, Exemptions)> {
        // Each write replaces whole values, so a panicked writer left nothing half done.
        self.settings
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        let mut counts = self.admission.lock();
        match self.key {
            Some(key) => counts.release(key),
            None => counts.release_exempt(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(address: &str) -> AddressKey {
        AddressKey::of(address.parse().expect("address"))
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
    fn the_refusal_line_is_readable_and_says_how_to_lift_the_limit() {
        assert_eq!(
            Refusal::TooManyFromAddress(16).line(),
            "\r\nr0c: too many connections from your address (at most 16 at a time); close one and try again (the operator can raise the limit with --max-per-ip or exempt your network with --limit-exempt)\r\n"
        );
        assert!(Refusal::TooFast(32).to_string().contains("--conn-rate"));
        assert!(Refusal::TooFast(32).to_string().contains("--limit-exempt"));
        assert!(Refusal::Full(9).to_string().contains("-nc"));
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn exempt_addresses_skip_the_per_address_caps_and_the_rate_but_not_the_total() {
        let limits = Limits {
            total: 40,
            per_address: 2,
            per_window: 3,
        };
        let admission = Admission::new(limits, "127.0.0.0/8".parse().expect("list"));
        let local = ip("127.0.0.1");
        let mut tickets = Vec::new();
        for _ in 0..30 {
            tickets.push(admission.admit(local).expect("exempt"));
        }
        tickets.push(admission.admit_uncharged(local).expect("exempt"));
        assert_eq!(admission.charge_rate(local), Ok(()));
        let outside = ip("192.0.2.1");
        tickets.push(admission.admit(outside).expect("first"));
        tickets.push(admission.admit(outside).expect("second"));
        assert_eq!(
            admission.admit(outside).map(|_| ()),
            Err(Refusal::TooManyFromAddress(2)),
            "others keep their limits"
        );
        while tickets.len() < 40 {
            tickets.push(admission.admit(local).expect("exempt"));
        }
        assert_eq!(
            admission.admit(local).map(|_| ()),
            Err(Refusal::Full(40)),
            "the total applies to everyone"
        );
        tickets.clear();
        assert_eq!(admission.open(), 0, "every place was given back");
    }
}
