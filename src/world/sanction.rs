//! Moderation's pure parts: ban and mute masks and what they match, durations, channel modes
//! and the lockdown mode, with no world, no store and no clock (times are passed in).

use std::fmt;
use std::net::IpAddr;

use crate::address::Cidr;

/// A key fingerprint mask must give at least this many characters of the hash after
/// `SHA256:`, so that one mask cannot ban most keys by accident.
pub const MIN_KEY_PREFIX: usize = 8;

/// The longest duration a ban or mute can be given (longer ones are written as permanent).
pub const MAX_DURATION_DAYS: i64 = 3650;

const MICROS_PER_SECOND: i64 = 1_000_000;

/// Who a ban or a mute is aimed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mask {
    /// A nick, folded (lower case): trivially changed, so kept for guests only.
    Nick(String),
    /// An account, by name (lower case).
    Account(String),
    /// An ssh key: its fingerprint, or a prefix of it (`SHA256:` and at least
    /// [`MIN_KEY_PREFIX`] characters).
    Key(String),
    /// An IPv4 or IPv6 address or CIDR block.
    Address(Cidr),
}

/// Why a mask could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    #[error(
        "'{0}' is not a mask: give a nick, account:NAME, a key SHA256:..., an address or a CIDR block"
    )]
    Unknown(String),
    #[error("a key mask needs at least {MIN_KEY_PREFIX} characters after SHA256:")]
    ShortKey,
    #[error("{0}")]
    Address(String),
}

/// What a mask is matched against: one user as the world knows them.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub nick: &'a str,
    pub account: Option<&'a str>,
    pub key: Option<&'a str>,
    pub address: IpAddr,
}

impl Mask {
    /// Reads a mask as typed after `/ban` or `/mute`.
    pub fn parse(text: &str) -> Result<Mask, MaskError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(MaskError::Unknown(String::new()));
        }
        if let Some(name) = text.strip_prefix("account:") {
            let name = name.trim();
            return match crate::text::nick::check_nick(name) {
                crate::text::nick::NickCheck::Valid(name) => Ok(Mask::Account(name.to_lowercase())),
                _ => Err(MaskError::Unknown(text.to_owned())),
            };
        }
        let key = text.strip_prefix("key:").unwrap_or(text);
        if let Some(hash) = key.strip_prefix("SHA256:") {
            if hash.chars().count() < MIN_KEY_PREFIX
                || !hash
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=')
            {
                return Err(MaskError::ShortKey);
            }
            return Ok(Mask::Key(key.to_owned()));
        }
        let looks_like_address = text.contains('/')
            || text.contains(':')
            || text.chars().all(|c| c.is_ascii_digit() || c == '.');
        if looks_like_address {
            return text
                .parse::<Cidr>()
                .map(Mask::Address)
                .map_err(|error| MaskError::Address(error.to_string()));
        }
        match crate::text::nick::check_nick(text) {
            crate::text::nick::NickCheck::Valid(nick) => Ok(Mask::Nick(nick.to_lowercase())),
            _ => Err(MaskError::Unknown(text.to_owned())),
        }
    }

    /// Whether the mask names `subject`.
    pub fn matches(&self, subject: &Subject<'_>) -> bool {
        match self {
            Mask::Nick(nick) => subject.nick.to_lowercase() == *nick,
            Mask::Account(name) => subject
                .account
                .is_some_and(|account| account.to_lowercase() == *name),
            Mask::Key(prefix) => subject.key.is_some_and(|key| key.starts_with(prefix)),
            Mask::Address(block) => block.contains(subject.address),
        }
    }

    /// Whether the mask is only a nick (which an IRC user on the bridge also has).
    pub fn nick(&self) -> Option<&str> {
        match self {
            Mask::Nick(nick) => Some(nick),
            _ => None,
        }
    }
}

impl fmt::Display for Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mask::Nick(nick) => f.write_str(nick),
            Mask::Account(name) => write!(f, "account:{name}"),
            Mask::Key(key) => f.write_str(key),
            Mask::Address(block) => write!(f, "{block}"),
        }
    }
}

/// The principal string of a registered user, as roles and ignores are persisted: the
/// account if logged in, else the ssh key; `None` for a guest.
pub fn principal(account: Option<&str>, key: Option<&str>) -> Option<String> {
    match (account, key) {
        (Some(account), _) => Some(format!("account:{}", account.to_lowercase())),
        (None, Some(key)) => Some(format!("key:{key}")),
        (None, None) => None,
    }
}

/// The mask that names a principal string (see [`principal`]).
pub fn principal_mask(principal: &str) -> Option<Mask> {
    Mask::parse(principal).ok().filter(|m| m.nick().is_none())
}

/// Reads a duration: `30s`, `10m`, `2h`, `7d`, `4w`, or `perm`/`permanent` (`None`). Returns
/// microseconds.
pub fn parse_duration(text: &str) -> Result<Option<i64>, String> {
    let text = text.trim().to_lowercase();
    if text == "perm" || text == "permanent" || text == "0" {
        return Ok(None);
    }
    let bad = || format!("'{text}' is not a duration: write 30s, 10m, 2h, 7d, 4w or permanent");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    if number == 0 {
        return Err(bad());
    }
    let seconds = number
        .checked_mul(seconds_per)
        .filter(|s| *s <= MAX_DURATION_DAYS * 86_400)
        .ok_or_else(|| format!("'{text}' is too long; the longest is {MAX_DURATION_DAYS}d"))?;
    Ok(Some(seconds * MICROS_PER_SECOND))
}

/// Whether `word` looks like a duration (so `/ban nick 2h spam` reads `2h` as the duration,
/// and `/ban nick spam` reads it all as the reason).
pub fn is_duration(word: &str) -> bool {
    parse_duration(word).is_ok()
}

/// A duration in microseconds, as `/bans` shows what is left: `3d`, `5h`, `12m`, `40s`.
pub fn format_duration(micros: i64) -> String {
    let seconds = micros.max(0) / MICROS_PER_SECOND;
    match seconds {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Whether a sanction is a ban or a mute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Ban,
    Mute,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ban => "ban",
            Kind::Mute => "mute",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "ban" => Some(Kind::Ban),
            "mute" => Some(Kind::Mute),
            _ => None,
        }
    }
}

/// One ban or mute in force: on the whole server (`channel` is `None`) or in one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sanction {
    pub kind: Kind,
    pub channel: Option<String>,
    pub mask: Mask,
    pub reason: String,
    pub set_by: String,
    pub set_at: i64,
    /// When it ends, in microseconds since the epoch; `None` is permanent.
    pub expires: Option<i64>,
}

impl Sanction {
    /// Whether it has ended at `now`.
    pub fn expired(&self, now: i64) -> bool {
        self.expires.is_some_and(|end| end <= now)
    }

    /// One line of `/bans`.
    pub fn describe(&self, now: i64) -> String {
        let scope = self
            .channel
            .as_ref()
            .map_or_else(|| "server".to_owned(), |c| format!("#{c}"));
        let left = self.expires.map_or_else(
            || "permanent".to_owned(),
            |end| format!("{} left", format_duration(end.saturating_sub(now))),
        );
        let reason = if self.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", self.reason)
        };
        format!(
            "{} {} ({scope}, by {}, {left}){reason}",
            self.kind.as_str(),
            self.mask,
            self.set_by
        )
    }
}

/// The modes of a channel (`/mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Modes {
    /// `+i`: only users invited by an operator (or operators) may join.
    pub invite_only: bool,
    /// `+m`: only voiced users and operators may speak.
    pub moderated: bool,
    /// `+r`: only registered users (an account or an ssh key) may join and speak.
    pub registered_only: bool,
    /// `+s`: secret; IRC's LIST shows the channel only to its members, and NAMES marks it
    /// `@`.
    pub secret: bool,
    /// `+t`: only operators change the topic.
    pub topic_lock: bool,
}

/// One change of `/mode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeChange {
    Flag {
        letter: char,
        on: bool,
    },
    /// `+k KEY` (`Some`) or `-k` (`None`).
    Key(Option<String>),
    /// `+l N` (`Some`) or `-l` (`None`): at most N members; more join only when invited.
    Limit(Option<u32>),
}

/// The longest channel key.
pub const MAX_KEY_CHARS: usize = 32;

/// The highest user limit (`+l`); the store checks what it loads against it too.
pub use crate::store::MAX_USER_LIMIT;

/// A user limit as given to `+l`, if it is a whole number from 1 to [`MAX_USER_LIMIT`].
pub fn parse_user_limit(given: &str) -> Option<u32> {
    given
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_USER_LIMIT).contains(n))
}

impl Modes {
    /// The letters in force, as the topic bar and `/mode` show them (`imrst`), without `k`.
    pub fn letters(&self) -> String {
        [
            (self.invite_only, 'i'),
            (self.moderated, 'm'),
            (self.registered_only, 'r'),
            (self.secret, 's'),
            (self.topic_lock, 't'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, letter)| *letter)
        .collect()
    }

    /// Modes from stored letters; unknown letters are ignored.
    pub fn from_letters(letters: &str) -> Modes {
        let mut modes = Modes::default();
        for letter in letters.chars() {
            modes.set(letter, true);
        }
        modes
    }

    /// Sets one flag; `false` if the letter is no flag.
    pub fn set(&mut self, letter: char, on: bool) -> bool {
        let flag = match letter {
            'i' => &mut self.invite_only,
            'm' => &mut self.moderated,
            'r' => &mut self.registered_only,
            's' => &mut self.secret,
            't' => &mut self.topic_lock,
            _ => return false,
        };
        *flag = on;
        true
    }
}

/// Reads what follows `/mode`: `+i`, `-m`, `+it`, `+k KEY`, `-k`. At most one key.
pub fn parse_mode_changes(text: &str) -> Result<Vec<ModeChange>, String> {
    let usage = "usage: /mode +i, -m, +imrst, +k KEY, -k, +l N, -l (i invite-only, m moderated, r registered-only, s secret, t topic lock, k key, l user limit)";
    let mut words = text.split_whitespace();
    let Some(flags) = words.next() else {
        return Err(usage.to_owned());
    };
    let mut on = match flags.chars().next() {
        Some('+') => true,
        Some('-') => false,
        _ => return Err(usage.to_owned()),
    };
    let mut changes = Vec::new();
    for letter in flags.chars() {
        match letter {
            '+' => on = true,
            '-' => on = false,
            'k' if on => {
                let key = words
                    .next()
                    .ok_or_else(|| "usage: /mode +k KEY".to_owned())?;
                if key.chars().count() > MAX_KEY_CHARS || key.chars().any(char::is_control) {
                    return Err(format!(
                        "a key is at most {MAX_KEY_CHARS} printable characters"
                    ));
                }
                changes.push(ModeChange::Key(Some(key.to_owned())));
            }
            'k' => changes.push(ModeChange::Key(None)),
            'l' if on => {
                let given = words.next().ok_or_else(|| "usage: /mode +l N".to_owned())?;
                let limit = parse_user_limit(given).ok_or_else(|| {
                    format!("a user limit is a whole number from 1 to {MAX_USER_LIMIT}")
                })?;
                changes.push(ModeChange::Limit(Some(limit)));
            }
            'l' => changes.push(ModeChange::Limit(None)),
            'i' | 'm' | 'r' | 's' | 't' => changes.push(ModeChange::Flag { letter, on }),
            other => return Err(format!("there is no mode '{other}'; {usage}")),
        }
    }
    if words.next().is_some() {
        return Err(usage.to_owned());
    }
    if changes.is_empty() {
        return Err(usage.to_owned());
    }
    Ok(changes)
}

/// The server's lockdown mode (`/lockdown`, `--lockdown`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lockdown {
    /// Everyone may connect and speak.
    #[default]
    Off,
    /// Only registered users (an account or an ssh key) may speak, join or message.
    Registered,
    /// Only server operators and the principals on the allow list may.
    Invite,
}

impl Lockdown {
    pub fn as_str(self) -> &'static str {
        match self {
            Lockdown::Off => "off",
            Lockdown::Registered => "registered",
            Lockdown::Invite => "invite",
        }
    }
}

impl std::str::FromStr for Lockdown {
    type Err = String;

    fn from_str(text: &str) -> Result<Lockdown, String> {
        match text.trim().to_lowercase().as_str() {
            "off" | "none" => Ok(Lockdown::Off),
            "registered" => Ok(Lockdown::Registered),
            "invite" => Ok(Lockdown::Invite),
            other => Err(format!(
                "'{other}' is no lockdown mode: off, registered or invite"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject<'a>(
        nick: &'a str,
        account: Option<&'a str>,
        key: Option<&'a str>,
        ip: &str,
    ) -> Subject<'a> {
        Subject {
            nick,
            account,
            key,
            address: ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
        }
    }

    #[test]
    fn masks_are_read_by_their_shape() {
        assert_eq!(Mask::parse("Bob"), Ok(Mask::Nick("bob".into())));
        assert_eq!(
            Mask::parse("account:Alice"),
            Ok(Mask::Account("alice".into()))
        );
        assert_eq!(
            Mask::parse("SHA256:abcdefgh"),
            Ok(Mask::Key("SHA256:abcdefgh".into()))
        );
        assert_eq!(
            Mask::parse("key:SHA256:abcdefgh12"),
            Ok(Mask::Key("SHA256:abcdefgh12".into()))
        );
        assert_eq!(Mask::parse("SHA256:abc"), Err(MaskError::ShortKey));
        assert!(matches!(Mask::parse("10.0.0.0/8"), Ok(Mask::Address(_))));
        assert!(matches!(Mask::parse("2001:db8::/32"), Ok(Mask::Address(_))));
        assert!(matches!(Mask::parse("127.0.0.2"), Ok(Mask::Address(_))));
        assert!(matches!(
            Mask::parse("10.0.0.1/8"),
            Err(MaskError::Address(_))
        ));
        assert!(matches!(
            Mask::parse("300.1.1.1"),
            Err(MaskError::Address(_))
        ));
        assert!(matches!(Mask::parse("!!"), Err(MaskError::Unknown(_))));
        assert!(matches!(
            Mask::parse("account:"),
            Err(MaskError::Unknown(_))
        ));
        assert!(matches!(Mask::parse(""), Err(MaskError::Unknown(_))));
    }

    #[test]
    fn masks_match_what_they_name() {
        let guest = subject("Bob", None, None, "10.1.2.3");
        let keyed = subject("kay", None, Some("SHA256:abcdefghijkl"), "::ffff:127.0.0.2");
        let account = subject("al", Some("Alice"), None, "2001:db8::1");
        let mask = |text: &str| Mask::parse(text).unwrap_or(Mask::Nick(String::new()));
        assert!(mask("bob").matches(&guest));
        assert!(!mask("bob").matches(&keyed));
        assert!(mask("10.0.0.0/8").matches(&guest));
        assert!(!mask("10.0.0.0/8").matches(&keyed));
        assert!(mask("127.0.0.2/32").matches(&keyed), "a mapped IPv4 peer");
        assert!(mask("SHA256:abcdefgh").matches(&keyed));
        assert!(!mask("SHA256:abcdefgX").matches(&keyed));
        assert!(mask("account:alice").matches(&account));
        assert!(!mask("account:alice").matches(&guest));
        assert!(mask("2001:db8::/32").matches(&account));
    }

    #[test]
    fn durations_are_read_and_bounded() {
        assert_eq!(parse_duration("10m"), Ok(Some(600 * MICROS_PER_SECOND)));
        assert_eq!(parse_duration("2h"), Ok(Some(7200 * MICROS_PER_SECOND)));
        assert_eq!(
            parse_duration("7D"),
            Ok(Some(7 * 86_400 * MICROS_PER_SECOND))
        );
        assert_eq!(parse_duration("permanent"), Ok(None));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("10y").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(parse_duration("3651d").is_err());
        assert!(!is_duration("spam"));
        assert_eq!(format_duration(90 * MICROS_PER_SECOND), "1m");
        assert_eq!(format_duration(-5), "0s");
    }

    #[test]
    fn expiry_is_honoured_at_the_moment_it_ends() {
        let sanction = Sanction {
            kind: Kind::Ban,
            channel: None,
            mask: Mask::Nick("bob".into()),
            reason: String::new(),
            set_by: "op".into(),
            set_at: 0,
            expires: Some(100),
        };
        assert!(!sanction.expired(99));
        assert!(sanction.expired(100));
        let permanent = Sanction {
            expires: None,
            ..sanction
        };
        assert!(!permanent.expired(i64::MAX));
    }

    #[test]
    fn mode_strings_are_read_and_shown() {
        assert_eq!(
            parse_mode_changes("+it"),
            Ok(vec![
                ModeChange::Flag {
                    letter: 'i',
                    on: true
                },
                ModeChange::Flag {
                    letter: 't',
                    on: true
                }
            ])
        );
        assert_eq!(
            parse_mode_changes("-m+k sekrit"),
            Ok(vec![
                ModeChange::Flag {
                    letter: 'm',
                    on: false
                },
                ModeChange::Key(Some("sekrit".into()))
            ])
        );
        assert_eq!(parse_mode_changes("-k"), Ok(vec![ModeChange::Key(None)]));
        assert_eq!(
            parse_mode_changes("+l 25"),
            Ok(vec![ModeChange::Limit(Some(25))])
        );
        assert_eq!(parse_mode_changes("-l"), Ok(vec![ModeChange::Limit(None)]));
        for bad in ["+l", "+l 0", "+l -1", "+l abc", "+l 100001"] {
            assert!(parse_mode_changes(bad).is_err(), "{bad}");
        }
        assert!(parse_mode_changes("+k").is_err());
        assert!(parse_mode_changes("+x").is_err());
        assert!(parse_mode_changes("i").is_err());
        assert!(parse_mode_changes("+i extra").is_err());
        assert!(parse_mode_changes("").is_err());
        let mut modes = Modes::from_letters("tmz");
        assert_eq!(modes.letters(), "mt");
        modes.set('i', true);
        assert_eq!(modes.letters(), "imt");
    }

    #[test]
    fn lockdown_modes_read_back() {
        for mode in [Lockdown::Off, Lockdown::Registered, Lockdown::Invite] {
            assert_eq!(mode.as_str().parse::<Lockdown>(), Ok(mode));
        }
        assert!("panic".parse::<Lockdown>().is_err());
    }

    #[test]
    fn principals_name_accounts_before_keys() {
        assert_eq!(
            principal(Some("Al"), Some("SHA256:x")).as_deref(),
            Some("account:al")
        );
        assert_eq!(
            principal(None, Some("SHA256:x")).as_deref(),
            Some("key:SHA256:x")
        );
        assert_eq!(principal(None, None), None);
        assert_eq!(
            principal_mask("key:SHA256:abcdefghij"),
            Some(Mask::Key("SHA256:abcdefghij".into()))
        );
    }
}
