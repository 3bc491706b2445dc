//! Nicknames: r0c's IP-derived automatic nicks and the rules a chosen nick must follow.

use sha2::{Digest, Sha512};

/// The longest nick anyone may choose.
pub const MAX_NICK_CHARS: usize = 32;

/// Characters that r0c appends to the salted address to find a free automatic nick, in its order.
const SUFFIX_CHARS: &str = "/!@#$%^&*()_+-=[]{};:<>,.";

/// Punctuation allowed after the first (alphanumeric) character of a nick.
const NICK_PUNCTUATION: &str = "`~!@#$%^&*()_+-=[]{};':\"|,./<>?";

/// The six-letter nick r0c derives from `salt + address + suffix`.
///
/// SHA-512 of the UTF-8 text, the first 20 bytes in upper-case RFC 4648 Base32, lower-cased,
/// keeping only the letters a-k and m-z (so no `l`, no digits), first six of them.
pub fn derived_nick(salt: &str, address: &str, suffix: &str) -> String {
    let digest = Sha512::digest(format!("{salt}{address}{suffix}").as_bytes());
    base32(&digest[..20])
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_lowercase() && *c != 'l')
        .take(6)
        .collect()
}

/// Every suffix r0c tries, in its order: the 25 single characters, then for each character
/// that character followed by (25 singles, then 625 pairs), 16275 in all.
pub fn suffix_candidates() -> impl Iterator<Item = String> {
    let chars: Vec<char> = SUFFIX_CHARS.chars().collect();
    let singles = chars.clone().into_iter().map(String::from);
    let nested = chars.clone().into_iter().flat_map(move |first| {
        let inner_singles = chars
            .clone()
            .into_iter()
            .map(move |c| format!("{first}{c}"));
        let chars_for_pairs = chars.clone();
        let inner_pairs = chars.clone().into_iter().flat_map(move |second| {
            chars_for_pairs
                .clone()
                .into_iter()
                .map(move |third| format!("{first}{second}{third}"))
        });
        inner_singles.chain(inner_pairs)
    });
    singles.chain(nested)
}

/// The first automatic nick for this address that `is_taken` does not reject.
pub fn auto_nick(salt: &str, address: &str, is_taken: impl Fn(&str) -> bool) -> Option<String> {
    suffix_candidates()
        .map(|suffix| derived_nick(salt, address, &suffix))
        .find(|nick| !is_taken(nick))
}

/// What became of a requested nick after the character rules were applied.
#[derive(Debug, PartialEq, Eq)]
pub enum NickCheck {
    /// The nick is acceptable as typed.
    Valid(String),
    /// Some characters were removed; the rest is acceptable. `bad_start` tells whether the
    /// typed nick did not begin with a letter or digit.
    Filtered { nick: String, bad_start: bool },
    /// Nothing acceptable remained.
    Empty,
    /// The nick is longer than [`MAX_NICK_CHARS`].
    TooLong,
}

/// Applies r0c's nick rules: the first character must be an ASCII letter or digit, later ones may
/// also be ASCII punctuation (no space, no backslash); anything else is removed.
pub fn check_nick(requested: &str) -> NickCheck {
    let mut kept = String::new();
    let mut bad_start = false;
    for c in requested.chars() {
        let allowed = if kept.is_empty() {
            c.is_ascii_alphanumeric()
        } else {
            c.is_ascii_alphanumeric() || NICK_PUNCTUATION.contains(c)
        };
        if allowed {
            kept.push(c);
        } else if kept.is_empty() {
            bad_start = true;
        }
    }
    if kept.is_empty() {
        NickCheck::Empty
    } else if kept.chars().count() > MAX_NICK_CHARS {
        NickCheck::TooLong
    } else if kept == requested {
        NickCheck::Valid(kept)
    } else {
        NickCheck::Filtered {
            nick: kept,
            bad_start,
        }
    }
}

/// Upper-case RFC 4648 Base32 with padding, as Python's `base64.b32encode`.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer: u64 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// A nick reduced to how it looks: Unicode TR39's skeleton (the `unicode-security` crate's
/// confusables table, so Cyrillic `р` and `а` become `p` and `a`), then folded for the ASCII
/// that nicks are made of, where TR39 keeps case apart: `I`, `1` and `|` look like `l`, `0`
/// like `o`, `rn` like `m`, `vv` like `w`, and case does not matter. Two nicks with the same
/// skeleton are look-alikes.
pub fn skeleton(nick: &str) -> String {
    let mapped: String = unicode_security::skeleton(nick)
        .map(|c| match c {
            'I' | '1' | '|' => 'l',
            '0' | 'O' => 'o',
            c => c.to_lowercase().next().unwrap_or(c),
        })
        .collect();
    mapped.replace("rn", "m").replace("vv", "w")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_with_default_salt_gets_r0c_nicks_in_order() {
        let nicks: Vec<String> = suffix_candidates()
            .take(3)
            .map(|s| derived_nick("lammo/", "127.0.0.1", &s))
            .collect();
        assert_eq!(nicks, ["kywmyv", "yyryyd", "oaybdg"]);
    }

    #[test]
    fn look_alike_nicks_share_a_skeleton() {
        for (a, b) in [
            ("alice", "aIice"),
            ("alice", "a1ice"),
            ("bob", "b0b"),
            ("martin", "rnartin"),
            ("willy", "vvilly"),
            ("Alice", "alice"),
            ("paul", "pau1"),
            ("paul", "PAUL"),
            // Cyrillic р and а.
            ("paul", "\u{440}\u{430}ul"),
            ("mike", "rnike"),
        ] {
            assert_eq!(skeleton(a), skeleton(b), "{a} ~ {b}");
        }
        assert_ne!(skeleton("alice"), skeleton("alicia"));
        assert_ne!(skeleton("bob"), skeleton("bobby"));
    }

    #[test]
    fn auto_nick_skips_taken_ones() {
        let nick = auto_nick("lammo/", "127.0.0.1", |n| n == "kywmyv");
        assert_eq!(nick.as_deref(), Some("yyryyd"));
    }

    #[test]
    fn suffix_order_matches_r0c() {
        let all: Vec<String> = suffix_candidates().collect();
        assert_eq!(all.len(), 16275);
        assert_eq!(all[0], "/");
        assert_eq!(all[24], ".");
        assert_eq!(all[25], "//");
        assert_eq!(all[50], "///");
        assert_eq!(all[25 + 25 + 625], "!/");
    }

    #[test]
    fn nick_rules() {
        let cases: &[(&str, NickCheck)] = &[
            ("alice", NickCheck::Valid("alice".into())),
            ("a-b_c[1]", NickCheck::Valid("a-b_c[1]".into())),
            (
                "_alice",
                NickCheck::Filtered {
                    nick: "alice".into(),
                    bad_start: true,
                },
            ),
            (
                "al ice",
                NickCheck::Filtered {
                    nick: "alice".into(),
                    bad_start: false,
                },
            ),
            (
                "al\\ice",
                NickCheck::Filtered {
                    nick: "alice".into(),
                    bad_start: false,
                },
            ),
            (
                "ålice",
                NickCheck::Filtered {
                    nick: "lice".into(),
                    bad_start: true,
                },
            ),
            ("___", NickCheck::Empty),
            ("", NickCheck::Empty),
            (&"a".repeat(33), NickCheck::TooLong),
        ];
        for (input, expected) in cases {
            assert_eq!(&check_nick(input), expected, "input {input:?}");
        }
        assert_eq!(
            check_nick(&"a".repeat(32)),
            NickCheck::Valid("a".repeat(32))
        );
    }
}
