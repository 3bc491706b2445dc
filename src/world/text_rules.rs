//! Rules on names and text that the world enforces: mention matching (channel names are
//! [`crate::text::channel`]'s, re-exported here).

pub use crate::text::channel::{ChannelNameError, normalize_channel_name};

/// Whether plain `text` mentions `nick` (ASCII letters compared case-insensitively), or, when
/// `at_all` is set, `@all` / `@everyone`; a mention must not touch a letter or digit on either side.
pub fn mentions(text: &str, nick: &str, at_all: bool) -> bool {
    contains_word(text, nick, true)
        || (at_all
            && (contains_word(text, "@all", false) || contains_word(text, "@everyone", false)))
}

fn contains_word(text: &str, word: &str, ignore_case: bool) -> bool {
    if word.is_empty() {
        return false;
    }
    let haystack = text.as_bytes();
    let needle = word.as_bytes();
    let equal = |a: &[u8]| {
        if ignore_case {
            a.eq_ignore_ascii_case(needle)
        } else {
            a == needle
        }
    };
    let Some(last_start) = haystack.len().checked_sub(needle.len()) else {
        return false;
    };
    let first = needle[0];
    // Every member's nick is looked for in every message, so most positions are ruled out by
    // their first byte before anything else is compared.
    (0..=last_start)
        .filter(|&start| {
            let byte = haystack[start];
            (byte == first || (ignore_case && byte.eq_ignore_ascii_case(&first)))
                && text.is_char_boundary(start)
        })
        .any(|start| {
            let end = start + needle.len();
            equal(&haystack[start..end])
                && !text[..start]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
                && !text[end..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
        })
}

/// Calls `found` with every span of plain `text` that a nick of at most `max_len` characters
/// could be mentioned as, ASCII-lowercased: a span starts with an ASCII letter or digit that no
/// letter or digit precedes, holds only printable ASCII, and no letter or digit follows it.
///
/// A nick `n` is in this list exactly when `mentions(text, n, false)` holds (nicks are printable
/// ASCII starting with a letter or digit), so a message is matched against every nick online
/// with one pass over its text and a few lookups, instead of one scan per channel member.
pub fn mention_spans(text: &str, max_len: usize, mut found: impl FnMut(&str)) {
    let bytes = text.as_bytes();
    let mut lower = Vec::with_capacity(max_len);
    for start in 0..bytes.len() {
        if !bytes[start].is_ascii_alphanumeric()
            || (start > 0 && bytes[start - 1].is_ascii_alphanumeric())
        {
            continue;
        }
        lower.clear();
        for (end, &byte) in bytes.iter().enumerate().skip(start).take(max_len) {
            if !byte.is_ascii_graphic() {
                break;
            }
            lower.push(byte.to_ascii_lowercase());
            let followed_by_word = bytes.get(end + 1).is_some_and(u8::is_ascii_alphanumeric);
            if !followed_by_word && let Ok(span) = std::str::from_utf8(&lower) {
                found(span);
            }
        }
    }
}

/// What a reader needs to know of a message's text to tell whether it mentions them, worked out
/// once per message: a message is checked for every reader, in every frame that shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MentionIndex {
    /// Two bits per [`mention_spans`] span: a nick whose bits are not all set is not mentioned.
    spans: u64,
    /// The text says `@all` or `@everyone`.
    at_all: bool,
}

impl MentionIndex {
    /// The index of plain `text`.
    pub fn of(text: &str) -> MentionIndex {
        MentionIndex::of_with(text, |_| {})
    }

    /// [`MentionIndex::of`], calling `span` with each [`mention_spans`] span on the way, so a
    /// post looks the spans up as nicks in the same pass that builds the index.
    pub fn of_with(text: &str, mut span: impl FnMut(&str)) -> MentionIndex {
        let mut spans = 0;
        mention_spans(text, crate::world::nick::MAX_NICK_CHARS, |found| {
            spans |= span_bits(found.bytes());
            span(found);
        });
        MentionIndex {
            spans,
            at_all: mentions(text, "", true),
        }
    }

    /// Whether the text may mention `nick` (never false when it does), or says `@all` when
    /// `at_all` is set (exactly).
    pub fn may_mention(&self, nick: &str, at_all: bool) -> bool {
        let bits = span_bits(nick.bytes().map(|b| b.to_ascii_lowercase()));
        (at_all && self.at_all) || (!nick.is_empty() && self.spans & bits == bits)
    }

    /// Whether the text says `@all` or `@everyone`.
    pub fn at_all(&self) -> bool {
        self.at_all
    }
}

/// Two of 64 bits chosen by an FNV-1a hash of `bytes`.
fn span_bits(bytes: impl Iterator<Item = u8>) -> u64 {
    let hash = bytes.fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (1 << (hash & 63)) | (1 << ((hash >> 6) & 63))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mention_spans_find_exactly_the_mentioned_nicks() {
        let texts = [
            "hi bob",
            "bob: hi",
            "BOB-alice, ok?",
            "xbob bobx bob2 [bob]",
            "ünïbob bobé 日本bob",
            "a.b.c a-b",
            "@all hi",
            "",
            "q",
        ];
        let nicks = [
            "bob",
            "alice",
            "bob-alice",
            "a",
            "b",
            "a.b",
            "a.b.c",
            "c",
            "bob2",
            "ok",
            "hi",
            "q",
            "x",
            "all",
            "bobx",
            "bob-",
            "a-b",
            "bob]",
        ];
        for text in texts {
            let mut spans = Vec::new();
            mention_spans(text, 32, |span| spans.push(span.to_string()));
            for nick in nicks {
                let listed = spans.contains(&nick.to_ascii_lowercase());
                assert_eq!(listed, mentions(text, nick, false), "{nick:?} in {text:?}");
            }
        }
        for text in texts {
            let index = MentionIndex::of(text);
            for nick in nicks {
                if mentions(text, nick, false) {
                    assert!(index.may_mention(nick, false), "{nick:?} in {text:?}");
                    assert!(index.may_mention(&nick.to_uppercase(), true));
                }
            }
            assert_eq!(index.at_all(), mentions(text, "", true), "{text:?}");
            assert_eq!(index.may_mention("", true), mentions(text, "", true));
        }
        let index = MentionIndex::of("hi bob");
        let ruled_out = ["alice", "carol", "dave", "eve", "mallory", "trent"]
            .iter()
            .filter(|nick| !index.may_mention(nick, true))
            .count();
        assert!(
            ruled_out >= 4,
            "the index rules out most nicks: {ruled_out} of 6"
        );
        let mut spans = Vec::new();
        mention_spans("abcdef", 3, |span| spans.push(span.to_string()));
        assert!(spans.is_empty(), "longer than any nick: {spans:?}");
    }

    #[test]
    fn mention_rules() {
        let cases: &[(&str, &str, bool, bool)] = &[
            ("hey kywmyv, ping", "kywmyv", false, true),
            ("hey KYWMYV", "kywmyv", false, true),
            ("kywmyv", "kywmyv", false, true),
            ("xkywmyv", "kywmyv", false, false),
            ("kywmyv2", "kywmyv", false, false),
            ("@kywmyv!", "kywmyv", false, true),
            ("ping @all", "kywmyv", true, true),
            ("ping @all", "kywmyv", false, false),
            ("ping @everyone now", "kywmyv", true, true),
            ("ping @ALL", "kywmyv", true, false),
            ("mail@all.com", "kywmyv", true, false),
            ("ë kywmyv ë", "kywmyv", false, true),
        ];
        for (text, nick, at_all, expected) in cases {
            assert_eq!(
                mentions(text, nick, *at_all),
                *expected,
                "{text:?} {nick:?}"
            );
        }
    }
}
