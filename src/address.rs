//! Addresses as the limits see them: CIDR blocks and the `--limit-exempt` list
//! ([`Exemptions`]), and the key an address is counted under ([`AddressKey`]). Plain data
//! with no dependencies, so the config (which parses the list), the admission of
//! [`crate::front::admission`] and the world (which counts failed logins per address) share it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// What `--limit-exempt` is when not given: loopback, where r0c's own stress testers and
/// local load tests connect from.
pub const DEFAULT_EXEMPT: &str = "127.0.0.0/8,::1/128";

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
}
