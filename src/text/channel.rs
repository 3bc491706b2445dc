//! Channel names: what `/join`, the IRC bridge's channel spec and `r0c import` accept as a
//! channel name, and its one normalized form. Kept with the text rules (below the world) so
//! the command parser and the config can check a name without depending on the world.

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
    #[error("channel names cannot mix letters of different scripts (like Latin and Cyrillic)")]
    MixedScripts,
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
        c.is_whitespace() || c.is_control() || super::sanitize_plain(&c.to_string()).is_empty()
    }) {
        return Err(ChannelNameError::BadCharacter);
    }
    if name.chars().count() > MAX_CHANNEL_CHARS {
        return Err(ChannelNameError::TooLong);
    }
    let mut scripts = name.chars().filter_map(script);
    if let Some(first) = scripts.next()
        && scripts.any(|other| other != first)
    {
        return Err(ChannelNameError::MixedScripts);
    }
    Ok(name)
}

/// Which writing system a letter belongs to, coarsely: enough to refuse names that mix
/// look-alike letters from different scripts (Latin `a` and Cyrillic `а`). Digits, marks and
/// punctuation belong to none. Chinese, Japanese and Korean count as one script, since they
/// are mixed in ordinary writing. Letters of scripts not listed count by their 128-character
/// block, so they do not mix with anything else either.
fn script(c: char) -> Option<u32> {
    if !c.is_alphabetic() {
        return None;
    }
    let code = u32::from(c);
    let script = match code {
        0x0041..=0x024F | 0x1E00..=0x1EFF | 0x2C60..=0x2C7F | 0xA720..=0xA7FF => 1, // Latin
        0x0370..=0x03FF | 0x1F00..=0x1FFF => 2,                                     // Greek
        0x0400..=0x052F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => 3, // Cyrillic
        0x0530..=0x058F => 4,                                                       // Armenian
        0x0590..=0x05FF => 5,                                                       // Hebrew
        0x0600..=0x06FF | 0x0750..=0x077F => 6,                                     // Arabic
        0x0900..=0x097F => 7,                                                       // Devanagari
        0x0E00..=0x0E7F => 8,                                                       // Thai
        0x1100..=0x11FF
        | 0x3040..=0x30FF
        | 0x3130..=0x318F
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xAC00..=0xD7AF
        | 0xF900..=0xFAFF
        | 0xFF66..=0xFF9F => 9, // CJK
        other => 0x100 + other / 128,
    };
    Some(script)
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
            // Look-alike letters of another script mixed in: Cyrillic а in "pаypal".
            ("#p\u{430}ypal", Err(ChannelNameError::MixedScripts)),
            ("#\u{3b1}lpha", Err(ChannelNameError::MixedScripts)),
            ("#\u{43c}\u{438}\u{440}", Ok("\u{43c}\u{438}\u{440}")),
            ("#caf\u{e9}-2", Ok("caf\u{e9}-2")),
            ("#日本語のチャンネル", Ok("日本語のチャンネル")),
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
}
