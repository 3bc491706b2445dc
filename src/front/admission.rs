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
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The window of `--conn-rate`.
pub const RATE_WINDOW: Duration = Duration::from_secs(600);
/// Once this many addresses are tracked, expired ones are pruned before adding another, so
/// the table cannot grow with the number of addresses ever seen.
const PRUNE_AT: usize = 4096;

/// What `--limit-exempt` is when not given: loopback, where r0c's own stress testers and
/// local load tests connect from.
pub const DEFAULT_EXEMPT: &str = "127.0.0.0/8,::1/128";

/// Why a connection was turned away. Each line also tells how the operator lifts the limit,
/// since the one refused is often a whole LAN or a conference behind one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
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

/// A block of addresses in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`); an address
/// without a prefix length is a block of one. IPv4 blocks also match IPv4 addresses that
/// arrive mapped into IPv6 on a dual-stack listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a `--limit-exempt` entry is not a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("'{0}' is not an IP address or a CIDR block like 192.168.0.0/16 or fd00::/8")]
    Address(String),
    #[error("'{entry}' has a prefix length that is not a number from 0 to {max}")]
    Prefix { entry: String, max: u8 },
    #[error("'{entry}' has address bits set after the prefix; the block is {block}")]
    HostBits { entry: String, block: Cidr },
    #[error("'none' exempts nothing and cannot be listed with other networks")]
    NoneWithOthers,
}

impl Cidr {
    /// Whether `address` is in this block.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = prefix_mask_v4(self.prefix);
                u32::from(address) & mask == u32::from(network)
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = prefix_mask_v6(self.prefix);
                u128::from(address) & mask == u128::from(network)
            }
            _ => false,
        }
    }
}

fn prefix_mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn prefix_mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(entry: &str) -> Result<Cidr, CidrError> {
        let entry = entry.trim();
        let (address, prefix) = match entry.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (entry, None),
        };
        let address: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| CidrError::Address(entry.to_owned()))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= max)
                .ok_or_else(|| CidrError::Prefix {
                    entry: entry.to_owned(),
                    max,
                })?,
        };
        // An IPv4 block written in its IPv6-mapped form is the IPv4 block, so that it
        // matches the addresses it means however they arrive.
        let (address, prefix) = match address {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (address, prefix),
            },
            _ => (address, prefix),
        };
        let network = match address {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & prefix_mask_v4(prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & prefix_mask_v6(prefix))),
        };
        let block = Cidr { network, prefix };
        // A typo such as 192.168.1.1/16 may mean another block than the one masked out of
        // it, so it is refused with the block it would have been.
        if network != address {
            return Err(CidrError::HostBits {
                entry: entry.to_owned(),
                block,
            });
        }
        Ok(block)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The networks of `--limit-exempt`, whose addresses skip the per-address caps and the rate
/// (never the total). Written as CIDR blocks separated by commas; `none` (or nothing) is the
/// empty list, which also takes away the default exemption of loopback.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exemptions(Vec<Cidr>);

impl Exemptions {
    /// No address is exempt.
    pub fn none() -> Exemptions {
        Exemptions(Vec::new())
    }

    /// Loopback, IPv4 and IPv6: the default.
    /// [`DEFAULT_EXEMPT`], which a unit test checks this is.
    pub fn loopback() -> Exemptions {
        Exemptions(vec![
            Cidr {
                network: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                prefix: 8,
            },
            Cidr {
                network: IpAddr::V6(Ipv6Addr::LOCALHOST),
                prefix: 128,
            },
        ])
    }

    /// Whether `address` is in one of the exempt networks.
    pub fn contains(&self, address: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(address))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for Exemptions {
    type Err = CidrError;

    fn from_str(list: &str) -> Result<Exemptions, CidrError> {
        let entries: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .collect();
        let is_none = |entry: &&str| entry.eq_ignore_ascii_case("none");
        if entries.iter().any(is_none) {
            return if entries.len() == 1 {
                Ok(Exemptions::none())
            } else {
                Err(CidrError::NoneWithOthers)
            };
        }
        entries
            .into_iter()
            .map(str::parse)
            .collect::<Result<Vec<Cidr>, CidrError>>()
            .map(Exemptions)
    }
}

impl fmt::Display for Exemptions {
    /// The list as `--limit-exempt` takes it back: blocks joined by commas, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (index, block) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{block}")?;
        }
        Ok(())
    }
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
    limits: Limits,
    exempt: Exemptions,
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
            limits,
            exempt,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Admits a connection from `address`, or says why not.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Ticket, Refusal> {
        if self.is_exempt(address) {
            return self.admit_exempt();
        }
        let key = AddressKey::of(address);
        self.lock().admit(&self.limits, key, Instant::now())?;
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
        self.lock().admit_uncharged(&self.limits, key)?;
        Ok(Ticket {
            admission: self.clone(),
            key: Some(key),
        })
    }

    fn admit_exempt(self: &Arc<Self>) -> Result<Ticket, Refusal> {
        self.lock().admit_exempt(&self.limits)?;
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
        self.lock()
            .charge(&self.limits, AddressKey::of(address), Instant::now())
    }

    /// Connections admitted and still open, on every listener.
    pub fn open_connections(&self) -> usize {
        self.lock().total()
    }

    /// Whether `address` is in a network of `--limit-exempt`.
    pub fn is_exempt(&self, address: IpAddr) -> bool {
        self.exempt.contains(address)
    }

    /// The networks of `--limit-exempt`.
    pub fn exemptions(&self) -> &Exemptions {
        &self.exempt
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
    fn the_refusal_line_is_readable_and_says_how_to_lift_the_limit() {
        assert_eq!(
            Refusal::TooManyFromAddress(16).line(),
            "\r\nr0c: too many connections from your address (at most 16 at a time); close one and try again (the operator can raise the limit with --max-per-ip or exempt your network with --limit-exempt)\r\n"
        );
        assert!(Refusal::TooFast(32).to_string().contains("--conn-rate"));
        assert!(Refusal::TooFast(32).to_string().contains("--limit-exempt"));
        assert!(Refusal::Full(9).to_string().contains("-nc"));
    }

    fn cidr(text: &str) -> Cidr {
        text.parse().expect("a valid block")
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn cidr_blocks_match_their_addresses_in_both_families() {
        assert!(cidr("10.0.0.0/8").contains(ip("10.255.1.2")));
        assert!(!cidr("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(cidr("192.168.1.7").contains(ip("192.168.1.7")));
        assert!(!cidr("192.168.1.7").contains(ip("192.168.1.8")));
        assert!(cidr("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(
            !cidr("0.0.0.0/0").contains(ip("2001:db8::1")),
            "families stay apart"
        );
        assert!(cidr("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(!cidr("2001:db8::/32").contains(ip("2001:db9::1")));
        assert!(cidr("::/0").contains(ip("::1")));
        // A dual-stack listener sees IPv4 peers mapped into IPv6.
        assert!(cidr("127.0.0.0/8").contains(ip("::ffff:127.0.0.2")));
        assert_eq!(cidr("::ffff:10.0.0.0/104"), cidr("10.0.0.0/8"));
        assert_eq!(cidr(" 10.1.0.0 / 16 ").to_string(), "10.1.0.0/16");
    }

    #[test]
    fn malformed_blocks_are_refused_with_what_is_wrong() {
        let error = |text: &str| text.parse::<Cidr>().expect_err(text).to_string();
        assert_eq!(
            error("10.0.0/8"),
            "'10.0.0/8' is not an IP address or a CIDR block like 192.168.0.0/16 or fd00::/8"
        );
        assert_eq!(
            error("10.0.0.0/33"),
            "'10.0.0.0/33' has a prefix length that is not a number from 0 to 32"
        );
        assert_eq!(
            error("fd00::/129"),
            "'fd00::/129' has a prefix length that is not a number from 0 to 128"
        );
        assert_eq!(
            error("10.0.0.0/x"),
            "'10.0.0.0/x' has a prefix length that is not a number from 0 to 32"
        );
        assert_eq!(
            error("192.168.1.1/16"),
            "'192.168.1.1/16' has address bits set after the prefix; the block is 192.168.0.0/16"
        );
    }

    #[test]
    fn exemption_lists_and_none() {
        let list: Exemptions = "10.0.0.0/8, fd00::/8,".parse().expect("list");
        assert!(list.contains(ip("10.1.2.3")) && list.contains(ip("fd12::1")));
        assert!(
            !list.contains(ip("127.0.0.1")),
            "loopback is only a default"
        );
        assert_eq!(list.to_string(), "10.0.0.0/8,fd00::/8");
        for empty in ["none", "NONE", "", " , "] {
            let list: Exemptions = empty.parse().expect("no exemption");
            assert!(list.is_empty(), "{empty:?}");
            assert_eq!(list.to_string(), "none");
        }
        assert_eq!(
            "none,10.0.0.0/8".parse::<Exemptions>(),
            Err(CidrError::NoneWithOthers)
        );
        assert_eq!(DEFAULT_EXEMPT.parse(), Ok(Exemptions::loopback()));
        assert_eq!(Exemptions::loopback().to_string(), DEFAULT_EXEMPT);
        assert!(Exemptions::loopback().contains(ip("127.0.0.2")));
        assert!(Exemptions::loopback().contains(ip("::1")));
        assert!(!Exemptions::loopback().contains(ip("192.0.2.1")));
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
