//! Nicks that belong to an ssh key: which key holds which nick, the per-key cap and expiry.
//!
//! Pure bookkeeping kept in memory behind the world's lock (loaded from the store at startup),
//! so checking a claim costs a map lookup and no I/O; the world turns the [`ClaimWrite`]s
//! these methods return into store ops, which the store's writer thread performs.

use std::collections::{BTreeSet, HashMap};

/// How many nicks one key may hold: claiming one more releases the one it used longest ago,
/// so nobody can fence off thousands of nicks with one key.
pub const MAX_CLAIMS_PER_KEY: usize = 3;

/// How many claims the server keeps in all, so that keys made by the thousand cannot grow the
/// store and this map without end. At the cap an expired claim makes room; if none has
/// expired, a new nick is used unclaimed and its user is told.
pub const MAX_CLAIMS_TOTAL: usize = 100_000;

// How long a claim lasts without its key connecting, when nothing else is configured: the
// config's default, re-exported here.
pub use crate::config::DEFAULT_CLAIM_DAYS;

const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

/// One nick held by one key (as the store keeps it).
pub use crate::store::StoredClaim as Claim;

/// What the store must do after a change to the claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimWrite {
    /// Insert or replace this claim.
    Put(Claim),
    /// Forget the claim on this (folded) nick.
    Release(String),
}

/// Who may take a nick, as far as claims go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimCheck {
    /// No key holds it (or the claim has expired).
    Free,
    /// The asking key holds it.
    Own,
    /// Another key holds it and the claim is still in force.
    Other,
}

/// The nick claims, by nick and by key.
#[derive(Debug)]
pub struct Claims {
    by_nick: HashMap<String, Claim>,
    /// Each key's nicks (at most [`MAX_CLAIMS_PER_KEY`]).
    by_key: HashMap<String, Vec<String>>,
    /// Every claim by when its key was last seen, oldest first, so that the cap finds the
    /// claim to let go without a scan.
    by_age: BTreeSet<(i64, String)>,
    /// A claim whose key has not been seen for longer than this has expired.
    max_absence_micros: i64,
    /// At most this many claims in all ([`MAX_CLAIMS_TOTAL`]; smaller in tests).
    max_total: usize,
    /// The claimed nicks by skeleton, for the look-alike check.
    skeletons: super::SkeletonIndex,
}

/// What [`Claims::take`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Taken {
    /// What the store must write.
    pub writes: Vec<ClaimWrite>,
    /// The key's nick let go to make room under [`MAX_CLAIMS_PER_KEY`], if any.
    pub released: Option<String>,
    /// The server holds [`MAX_CLAIMS_TOTAL`] claims in force: the nick stays unclaimed.
    pub refused_full: bool,
}

impl Default for Claims {
    fn default() -> Claims {
        Claims::new(DEFAULT_CLAIM_DAYS)
    }
}

/// The folded form of a nick, as the world's nick index compares them.
pub fn fold(nick: &str) -> String {
    nick.to_lowercase()
}

impl Claims {
    /// No claims; claims expire after `days` of absence.
    pub fn new(days: u32) -> Claims {
        Claims {
            by_nick: HashMap::new(),
            by_key: HashMap::new(),
            by_age: BTreeSet::new(),
            max_absence_micros: i64::from(days).saturating_mul(MICROS_PER_DAY),
            max_total: MAX_CLAIMS_TOTAL,
            skeletons: super::SkeletonIndex::default(),
        }
    }

    /// Claims loaded from the store; past the per-key cap, a key keeps the ones it used last.
    pub fn load(days: u32, stored: Vec<Claim>) -> Claims {
        let mut claims = Claims::new(days);
        let mut stored = stored;
        stored.sort_by_key(|c| std::cmp::Reverse(c.last_seen));
        for claim in stored {
            if claims.by_nick.len() >= claims.max_total {
                break;
            }
            let nicks = claims.by_key.entry(claim.fingerprint.clone()).or_default();
            if nicks.len() >= MAX_CLAIMS_PER_KEY || claims.by_nick.contains_key(&claim.nick) {
                continue;
            }
            nicks.push(claim.nick.clone());
            claims.insert(claim);
        }
        claims
    }

    /// How many nicks are claimed.
    pub fn len(&self) -> usize {
        self.by_nick.len()
    }

    /// Whether no nick is claimed.
    pub fn is_empty(&self) -> bool {
        self.by_nick.is_empty()
    }

    /// When the key `fingerprint` first claimed one of the nicks it holds now, if it holds any.
    pub fn first_claimed(&self, fingerprint: &str) -> Option<i64> {
        self.by_key
            .get(fingerprint)?
            .iter()
            .filter_map(|nick| self.by_nick.get(nick))
            .map(|claim| claim.claimed_at)
            .min()
    }

    /// The first nick the key `fingerprint` holds now, as it was claimed.
    pub fn nick_of_key(&self, fingerprint: &str) -> Option<&str> {
        let nick = self.by_key.get(fingerprint)?.first()?;
        self.by_nick.get(nick).map(|claim| claim.nick.as_str())
    }

    /// The claim on `nick`, expired or not.
    pub fn get(&self, nick: &str) -> Option<&Claim> {
        self.by_nick.get(&fold(nick))
    }

    /// Whether the claim has expired at `now`.
    pub fn expired(&self, claim: &Claim, now: i64) -> bool {
        now.saturating_sub(claim.last_seen) > self.max_absence_micros
    }

    /// Whether the user with key `identity` (`None`: no key) may take `nick` at `now`.
    pub fn check(&self, nick: &str, identity: Option<&str>, now: i64) -> ClaimCheck {
        match self.by_nick.get(&fold(nick)) {
            None => ClaimCheck::Free,
            Some(claim) if Some(claim.fingerprint.as_str()) == identity => ClaimCheck::Own,
            Some(claim) if self.expired(claim, now) => ClaimCheck::Free,
            Some(_) => ClaimCheck::Other,
        }
    }

    /// A nick claimed (and in force at `now`) by a key other than `identity` that `nick`
    /// could be mistaken for (but is not): one lookup in the skeleton index.
    pub fn look_alike(&self, nick: &str, identity: Option<&str>, now: i64) -> Option<String> {
        let folded = fold(nick);
        self.skeletons
            .look_alikes(nick)
            .filter(|claimed| **claimed != folded)
            .filter_map(|claimed| self.by_nick.get(claimed))
            .find(|claim| Some(claim.fingerprint.as_str()) != identity && !self.expired(claim, now))
            .map(|claim| claim.nick.clone())
    }

    /// The user with key `identity` took `nick` at `now` (after [`Claims::check`] allowed it):
    /// a key claims it (releasing the nick it used longest ago if it holds the most it may);
    /// no key frees an expired claim. Returns the store writes and the nick released to make
    /// room, if any.
    pub fn take(&mut self, nick: &str, identity: Option<&str>, now: i64) -> Taken {
        let folded = fold(nick);
        let mut writes = Vec::new();
        if let Some(old) = self.by_nick.get(&folded).cloned() {
            if Some(old.fingerprint.as_str()) == identity {
                let claim = self.touch(&folded, now);
                return Taken {
                    writes: claim.into_iter().map(ClaimWrite::Put).collect(),
                    ..Taken::default()
                };
            }
            // Expired (checked by the caller): taken over, or freed.
            self.remove(&folded);
            writes.push(ClaimWrite::Release(folded.clone()));
        }
        let Some(fingerprint) = identity else {
            return Taken {
                writes,
                ..Taken::default()
            };
        };
        let mut released = None;
        let held = self.by_key.get(fingerprint).map_or(0, Vec::len);
        if held >= MAX_CLAIMS_PER_KEY {
            let oldest = self
                .by_key
                .get(fingerprint)
                .into_iter()
                .flatten()
                .filter_map(|n| self.by_nick.get(n))
                .min_by_key(|c| (c.last_seen, c.claimed_at))
                .map(|c| c.nick.clone());
            if let Some(oldest) = oldest {
                self.remove(&oldest);
                writes.push(ClaimWrite::Release(oldest.clone()));
                released = Some(oldest);
            }
        }
        if self.by_nick.len() >= self.max_total {
            // The claim whose key was seen longest ago makes room if it has expired.
            let oldest = self
                .by_age
                .first()
                .filter(|(last_seen, _)| now.saturating_sub(*last_seen) > self.max_absence_micros)
                .map(|(_, nick)| nick.clone());
            match oldest {
                Some(oldest) => {
                    self.remove(&oldest);
                    writes.push(ClaimWrite::Release(oldest));
                }
                None => {
                    return Taken {
                        writes,
                        released,
                        refused_full: true,
                    };
                }
            }
        }
        let claim = Claim {
            nick: folded.clone(),
            fingerprint: fingerprint.to_owned(),
            claimed_at: now,
            last_seen: now,
        };
        self.by_key
            .entry(fingerprint.to_owned())
            .or_default()
            .push(folded);
        self.insert(claim.clone());
        writes.push(ClaimWrite::Put(claim));
        Taken {
            writes,
            released,
            refused_full: false,
        }
    }

    fn insert(&mut self, claim: Claim) {
        self.skeletons.insert(&claim.nick);
        self.by_age.insert((claim.last_seen, claim.nick.clone()));
        self.by_nick.insert(claim.nick.clone(), claim);
    }

    /// The key connected or left at `now`: its claims' `last_seen` moves on. Returns the
    /// store writes.
    pub fn seen(&mut self, fingerprint: &str, now: i64) -> Vec<ClaimWrite> {
        let nicks = self.by_key.get(fingerprint).cloned().unwrap_or_default();
        nicks
            .iter()
            .filter_map(|nick| self.touch(nick, now))
            .map(ClaimWrite::Put)
            .collect()
    }

    fn touch(&mut self, folded: &str, now: i64) -> Option<Claim> {
        let claim = self.by_nick.get_mut(folded)?;
        self.by_age.remove(&(claim.last_seen, claim.nick.clone()));
        claim.last_seen = claim.last_seen.max(now);
        self.by_age.insert((claim.last_seen, claim.nick.clone()));
        Some(claim.clone())
    }

    fn remove(&mut self, folded: &str) {
        let Some(claim) = self.by_nick.remove(folded) else {
            return;
        };
        self.by_age.remove(&(claim.last_seen, claim.nick.clone()));
        self.skeletons.remove(folded);
        if let Some(nicks) = self.by_key.get_mut(&claim.fingerprint) {
            nicks.retain(|n| n != folded);
            if nicks.is_empty() {
                self.by_key.remove(&claim.fingerprint);
            }
        }
    }
}

/// A fingerprint shortened for display: `SHA256:` and the first 12 characters of the hash.
pub fn fingerprint_prefix(fingerprint: &str) -> String {
    let shown: String = fingerprint.chars().take("SHA256:".len() + 12).collect();
    if shown.len() < fingerprint.len() {
        format!("{shown}…")
    } else {
        shown
    }
}

impl super::World {
    /// Takes the claims loaded from the store at startup; claims expire after `days` of
    /// absence of their key.
    pub fn load_claims(&self, days: u32, stored: Vec<Claim>) {
        self.lock().claims = Claims::load(days, stored);
    }

    /// Whether `nick` is claimed by a key other than `identity` (in force at this moment).
    pub fn nick_claimed_against(&self, nick: &str, identity: Option<&str>) -> bool {
        self.lock()
            .claims
            .check(nick, identity, super::now_micros())
            == ClaimCheck::Other
    }

    /// `/whois`: whether `nick` is online, and whether (and by which key) it is claimed.
    pub fn whois(&self, nick: &str) -> String {
        let state = self.lock();
        let online_id = state.nicks.get(&fold(nick)).copied();
        let online = online_id
            .and_then(|id| state.users.get(&id))
            .map(|u| u.nick.clone());
        // Cluster mode: a user of another node listed here is online there.
        let remote = match online {
            Some(_) => None,
            None => Self::remote_whois(&state, nick, None),
        };
        let mut lines = vec![match (&online, &remote) {
            (Some(shown), _) => format!("\x02{shown}\x02 is online"),
            (None, Some(whois)) => format!(
                "\x02{}\x02 is online on node {}",
                whois.nick,
                whois.node.as_deref().unwrap_or("?")
            ),
            (None, None) => format!("\x02{nick}\x02 is not online"),
        }];
        let remote_away = remote.and_then(|whois| whois.away);
        match online_id
            .and_then(|id| state.away_reason(id))
            .or(remote_away.as_deref())
        {
            Some("") => lines.push("away".to_string()),
            Some(reason) => lines.push(format!("away: {reason}")),
            None => {}
        }
        let now = super::now_micros();
        lines.push(match state.claims.get(nick) {
            Some(claim) if !state.claims.expired(claim, now) => format!(
                "it belongs to the ssh key {}",
                fingerprint_prefix(&claim.fingerprint)
            ),
            Some(claim) => format!(
                "its claim by the ssh key {} has expired; anyone may take it",
                fingerprint_prefix(&claim.fingerprint)
            ),
            None => "no ssh key has claimed it".to_string(),
        });
        lines.push(Self::whois_account(&state, nick));
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = MICROS_PER_DAY;
    const A: &str = "SHA256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "SHA256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn a_claimed_nick_is_only_for_its_key_until_it_expires() {
        let mut claims = Claims::new(10);
        assert_eq!(claims.check("alice", Some(A), 0), ClaimCheck::Free);
        let taken = claims.take("Alice", Some(A), 0);
        assert_eq!(taken.released, None);
        assert!(matches!(&taken.writes[..], [ClaimWrite::Put(c)] if c.nick == "alice"));
        assert_eq!(claims.check("ALICE", Some(A), DAY), ClaimCheck::Own);
        assert_eq!(claims.check("alice", Some(B), DAY), ClaimCheck::Other);
        assert_eq!(claims.check("alice", None, DAY), ClaimCheck::Other);
        // Ten days of absence is still in force; a moment more is not.
        assert_eq!(claims.check("alice", None, 10 * DAY), ClaimCheck::Other);
        assert_eq!(
            claims.check("alice", Some(B), 10 * DAY + 1),
            ClaimCheck::Free
        );
        // Seeing the key again keeps it in force.
        claims.seen(A, 5 * DAY);
        assert_eq!(
            claims.check("alice", Some(B), 10 * DAY + 1),
            ClaimCheck::Other
        );
    }

    #[test]
    fn an_expired_claim_is_taken_over_by_a_key_or_freed_by_a_guest() {
        let mut claims = Claims::new(0);
        claims.take("alice", Some(A), 0);
        assert_eq!(claims.take("alice", Some(B), 1).writes.len(), 2);
        assert_eq!(claims.get("alice").map(|c| c.fingerprint.as_str()), Some(B));
        let writes = claims.take("alice", None, 2).writes;
        assert_eq!(writes, vec![ClaimWrite::Release("alice".into())]);
        assert!(claims.is_empty());
    }

    #[test]
    fn a_key_holds_at_most_the_cap_and_the_oldest_used_is_released() {
        let mut claims = Claims::new(365);
        for (i, nick) in ["n0", "n1", "n2"].iter().enumerate() {
            claims.take(nick, Some(A), i64::try_from(i).unwrap_or(0));
        }
        // n0 is used again, so n1 is the one used longest ago.
        claims.take("n0", Some(A), 10);
        let released = claims.take("n3", Some(A), 11).released;
        assert_eq!(released.as_deref(), Some("n1"));
        assert_eq!(claims.len(), MAX_CLAIMS_PER_KEY);
        for i in 0..10_000 {
            claims.take(&format!("x{i}"), Some(A), 12 + i);
        }
        assert_eq!(claims.len(), MAX_CLAIMS_PER_KEY);
    }

    #[test]
    fn the_server_keeps_only_so_many_claims_and_an_expired_one_makes_room() {
        let mut claims = Claims::new(10);
        claims.max_total = 4;
        let key = |i: usize| format!("SHA256:key{i}");
        for i in 0..4 {
            let at = i64::try_from(i).unwrap_or(0) * DAY;
            assert!(
                !claims
                    .take(&format!("n{i}"), Some(&key(i)), at)
                    .refused_full
            );
        }
        // Full, and nothing has expired: the fifth key's nick stays unclaimed.
        let taken = claims.take("n4", Some(&key(4)), 5 * DAY);
        assert!(taken.refused_full && taken.writes.is_empty());
        assert_eq!(claims.check("n4", None, 5 * DAY), ClaimCheck::Free);
        // n0's key was seen again, so once n1's claim has expired it is the one let go.
        claims.seen(&key(0), 6 * DAY);
        let taken = claims.take("n4", Some(&key(4)), 11 * DAY + 1);
        assert!(!taken.refused_full);
        assert!(taken.writes.contains(&ClaimWrite::Release("n1".into())));
        assert_eq!(claims.len(), 4);
        assert!(claims.get("n0").is_some() && claims.get("n1").is_none());
        // Ten thousand fresh keys later the map has not grown.
        for i in 5..10_005 {
            claims.take(&format!("n{i}"), Some(&key(i)), 12 * DAY);
        }
        assert_eq!(claims.len(), 4);
        assert_eq!(claims.by_age.len(), 4);
    }

    #[test]
    fn loading_keeps_the_cap() {
        let stored = (0..5)
            .map(|i| Claim {
                nick: format!("n{i}"),
                fingerprint: A.into(),
                claimed_at: 0,
                last_seen: i,
            })
            .collect();
        let claims = Claims::load(365, stored);
        assert_eq!(claims.len(), MAX_CLAIMS_PER_KEY);
        assert!(claims.get("n4").is_some() && claims.get("n0").is_none());
    }

    #[test]
    fn prefixes_are_short() {
        assert_eq!(fingerprint_prefix(A), "SHA256:aaaaaaaaaaaa…");
        assert_eq!(fingerprint_prefix("SHA256:ab"), "SHA256:ab");
    }
}
