//! Rules on names and text that the world enforces: channel names and mention matching.

/// The longest channel name, not counting the `#`.
pub const MAX_CHANNEL_CHARS: usize = 48;

/// Why a channel name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelNameError {
    #[error("usage: /join #channel_name")]
    Missing,
    #[error("channel names cannot contain spaces or control characters")]
    BadCharacter,
    #[error("channel names can be at most 48 characters long")]
    TooLong,
}

/// Turns what followed `/join` into a channel name without the `#`: trimmed, lower-cased,
/// at most [`MAX_CHANNEL_CHARS`] characters, no whitespace, no control or formatting characters.
pub fn normalize_channel_name(typed: &str) -> Result<String, ChannelNameError> {
    let trimmed = typed.trim();
    let name = trimmed.strip_prefix('#').unwrap_or(trimmed).to_lowercase();
    if name.is_empty() {
        return Err(ChannelNameError::Missing);
    }
    if name.chars().any(|c| {
        c.is_whitespace()
            || c.is_control()
            || crate::text::sanitize_plain(&c.to_string()).is_empty()
    }) {
        return Err(ChannelNameError::BadCharacter);
    }
    if name.chars().count() > MAX_CHANNEL_CHARS {
        return Err(ChannelNameError::TooLong);
    }
    Ok(name)
}

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
    (0..haystack.len())
        .filter(|&start| text.is_char_boundary(start))
        .any(|start| {
            let end = start + needle.len();
            end <= haystack.len()
                && equal(&haystack[start..end])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names() {
        let cases: &[(&str, Result<&str, ChannelNameError>)] = &[
            ("#g", Ok("g")),
            ("g", Ok("g")),
            ("  #Music ", Ok("music")),
            ("#../../x", Ok("../../x")),
            ("#日本", Ok("日本")),
            ("#", Err(ChannelNameError::Missing)),
            ("", Err(ChannelNameError::Missing)),
            ("#a b", Err(ChannelNameError::BadCharacter)),
            ("#a\u{7}b", Err(ChannelNameError::BadCharacter)),
            ("#a\u{202e}b", Err(ChannelNameError::BadCharacter)),
        ];
        for (typed, expected) in cases {
            assert_eq!(
                normalize_channel_name(typed),
                expected.clone().map(String::from),
                "{typed:?}"
            );
        }
        assert_eq!(
            normalize_channel_name(&format!("#{}", "x".repeat(48))),
            Ok("x".repeat(48))
        );
        assert_eq!(
            normalize_channel_name(&format!("#{}", "x".repeat(49))),
            Err(ChannelNameError::TooLong)
        );
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
