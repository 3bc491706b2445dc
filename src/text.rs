//! User text at the door: the sanitizer every piece of user text passes, and the formatting tokens
//! of stored messages.
//!
//! Messages are stored in one canonical form: printable Unicode plus three formatting tokens that
//! only the renderer turns into escape codes, per client, so no user can ever put an escape
//! sequence on someone else's terminal:
//! - `\x0B` (CTRL-K) + a foreground hex digit `[0-9a-f]` + optionally `,` and a background digit
//!   `[0-7]`: set colour;
//! - `\x02` (CTRL-B): toggle bold;
//! - `\x0F` (CTRL-O): reset all formatting.

use unicode_width::UnicodeWidthChar;

pub mod channel;
pub mod nick;
pub mod secret;

/// Starts a colour token: CTRL-K.
pub(crate) const COLOR: char = '\x0B';
/// The bold toggle token: CTRL-B.
pub(crate) const BOLD: char = '\x02';
/// The reset token: CTRL-O.
pub(crate) const RESET: char = '\x0F';

/// Zero-width characters kept on one base character; more would only pile up over neighbouring
/// lines ("zalgo").
const MAX_MARKS_PER_BASE: usize = 2;

/// Tag characters kept after one black flag: enough for every subdivision flag (`gbsct` and
/// the like); a longer run would only carry invisible text.
const MAX_FLAG_TAGS: usize = 8;

/// The zero-width joiner, kept only inside an emoji sequence.
const ZWJ: char = '\u{200d}';
/// The black flag, the only base of a tag sequence (a subdivision flag such as Scotland's).
const BLACK_FLAG: char = '\u{1f3f4}';
/// The cancel tag, which ends a tag sequence.
const CANCEL_TAG: char = '\u{e007f}';

/// What a user typed (after the key decoder) → canonical stored text.
///
/// CTRL-K with a valid colour spec is kept (uppercase hex lowered), with anything else it becomes a
/// literal `K`, as in r0c; CTRL-B and CTRL-O are kept; tabs become a space. Removed: every other C0
/// control, DEL, C1 controls, bidi controls, line and paragraph separators, interlinear
/// annotation characters, zero-width characters, tag characters, and zero-width marks beyond two
/// on one base character. Two exceptions keep emoji whole: a zero-width joiner between two
/// pictographic characters (a family, a rainbow flag), and tag characters after a black flag,
/// ended by a cancel tag (a subdivision flag). Each decision depends only on what was kept
/// before and on the next character, so the function is idempotent, and text read back from
/// the database or an IRC server can pass through it again.
pub fn sanitize_message(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut marks_on_base = 0;
    // The last kept character, skipping variation selectors and skin tones, is pictographic.
    let mut after_pictograph = false;
    // Tag characters kept since the black flag that started a sequence; `None` outside one.
    let mut flag_tags: Option<usize> = None;
    let mut chars = input.chars();
    while let Some(c) = chars.next() {
        match c {
            BOLD | RESET => out.push(c),
            COLOR => match parse_color(chars.as_str()) {
                Some((color, spec_length)) => {
                    push_color(&mut out, color);
                    chars = chars.as_str()[spec_length..].chars();
                }
                None => {
                    out.push('K');
                    marks_on_base = 0;
                }
            },
            '\t' => {
                out.push(' ');
                marks_on_base = 0;
            }
            ZWJ => {
                let next = chars.clone().next();
                if after_pictograph && next.is_some_and(is_extended_pictographic) {
                    out.push(c);
                } else {
                    continue;
                }
            }
            '\u{e0020}'..='\u{e007e}' => {
                if let Some(count) = flag_tags.filter(|count| *count < MAX_FLAG_TAGS) {
                    out.push(c);
                    flag_tags = Some(count + 1);
                    after_pictograph = false;
                }
                continue;
            }
            CANCEL_TAG => {
                if flag_tags.is_some_and(|count| count > 0) {
                    out.push(c);
                    flag_tags = None;
                    after_pictograph = false;
                }
                continue;
            }
            c if is_removed(c) => continue,
            // The zero-width test of `term::width::char_width`, spelled out: `text` sits below
            // `term` (whose renderer reads these tokens), so it does not import it.
            c if c.width().unwrap_or(0) == 0 => {
                if marks_on_base < MAX_MARKS_PER_BASE {
                    out.push(c);
                    marks_on_base += 1;
                } else {
                    continue;
                }
            }
            c => {
                out.push(c);
                marks_on_base = 0;
            }
        }
        // Only kept characters get here (the branches that drop one continue the loop), so the
        // state describes the output.
        flag_tags = (c == BLACK_FLAG).then_some(0);
        if !is_emoji_modifier(c) {
            after_pictograph = is_extended_pictographic(c);
        }
    }
    out
}

/// The variation selector that asks for emoji presentation, and the five skin tones: parts of
/// an emoji that do not end it, so a joiner may follow them.
fn is_emoji_modifier(c: char) -> bool {
    matches!(c, '\u{fe0f}' | '\u{1f3fb}'..='\u{1f3ff}')
}

/// Unicode's `Extended_Pictographic` property (emoji-data.txt, Unicode 15.1): the characters
/// a zero-width joiner may join into one emoji.
fn is_extended_pictographic(c: char) -> bool {
    const RANGES: [(u32, u32); 78] = [
        (0xa9, 0xa9),
        (0xae, 0xae),
        (0x203c, 0x203c),
        (0x2049, 0x2049),
        (0x2122, 0x2122),
        (0x2139, 0x2139),
        (0x2194, 0x2199),
        (0x21a9, 0x21aa),
        (0x231a, 0x231b),
        (0x2328, 0x2328),
        (0x2388, 0x2388),
        (0x23cf, 0x23cf),
        (0x23e9, 0x23f3),
        (0x23f8, 0x23fa),
        (0x24c2, 0x24c2),
        (0x25aa, 0x25ab),
        (0x25b6, 0x25b6),
        (0x25c0, 0x25c0),
        (0x25fb, 0x25fe),
        (0x2600, 0x2605),
        (0x2607, 0x2612),
        (0x2614, 0x2685),
        (0x2690, 0x2705),
        (0x2708, 0x2712),
        (0x2714, 0x2714),
        (0x2716, 0x2716),
        (0x271d, 0x271d),
        (0x2721, 0x2721),
        (0x2728, 0x2728),
        (0x2733, 0x2734),
        (0x2744, 0x2744),
        (0x2747, 0x2747),
        (0x274c, 0x274c),
        (0x274e, 0x274e),
        (0x2753, 0x2755),
        (0x2757, 0x2757),
        (0x2763, 0x2767),
        (0x2795, 0x2797),
        (0x27a1, 0x27a1),
        (0x27b0, 0x27b0),
        (0x27bf, 0x27bf),
        (0x2934, 0x2935),
        (0x2b05, 0x2b07),
        (0x2b1b, 0x2b1c),
        (0x2b50, 0x2b50),
        (0x2b55, 0x2b55),
        (0x3030, 0x3030),
        (0x303d, 0x303d),
        (0x3297, 0x3297),
        (0x3299, 0x3299),
        (0x1f000, 0x1f0ff),
        (0x1f10d, 0x1f10f),
        (0x1f12f, 0x1f12f),
        (0x1f16c, 0x1f171),
        (0x1f17e, 0x1f17f),
        (0x1f18e, 0x1f18e),
        (0x1f191, 0x1f19a),
        (0x1f1ad, 0x1f1e5),
        (0x1f201, 0x1f20f),
        (0x1f21a, 0x1f21a),
        (0x1f22f, 0x1f22f),
        (0x1f232, 0x1f23a),
        (0x1f23c, 0x1f23f),
        (0x1f249, 0x1f3fa),
        (0x1f400, 0x1f53d),
        (0x1f546, 0x1f64f),
        (0x1f680, 0x1f6ff),
        (0x1f774, 0x1f77f),
        (0x1f7d5, 0x1f7ff),
        (0x1f80c, 0x1f80f),
        (0x1f848, 0x1f84f),
        (0x1f85a, 0x1f85f),
        (0x1f888, 0x1f88f),
        (0x1f8ae, 0x1f8ff),
        (0x1f90c, 0x1f93a),
        (0x1f93c, 0x1f945),
        (0x1f947, 0x1faff),
        (0x1fc00, 0x1fffd),
    ];
    let c = u32::from(c);
    if c < 0xa9 {
        return false;
    }
    let index = RANGES.partition_point(|(_, last)| *last < c);
    RANGES.get(index).is_some_and(|(first, _)| *first <= c)
}

/// For names and one-line fields where formatting makes no sense (nicks, channel names, part
/// reasons): like [`sanitize_message`], but formatting tokens are dropped too.
pub fn sanitize_plain(input: &str) -> String {
    strip_formatting(&sanitize_message(input))
}

/// [`strip_formatting`] without a copy when there is nothing to strip, which is most text:
/// mentions are looked for in every message for every reader.
pub fn plain(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([BOLD, COLOR, RESET]) {
        std::borrow::Cow::Owned(strip_formatting(text))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Removes formatting tokens (and their colour specs) from canonical text: what a teletype client
/// sees.
pub fn strip_formatting(text: &str) -> String {
    spans(text)
        .filter_map(|span| match span {
            Span::Text(text) => Some(text),
            Span::Color { .. } | Span::Bold | Span::Reset => None,
        })
        .collect()
}

/// One formatting element of canonical text, for renderers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Span<'a> {
    /// Printable text without tokens.
    Text(&'a str),
    /// Set the foreground colour (0–15, 8–15 being the bright ones) and maybe the background colour
    /// (0–7).
    Color {
        /// Foreground colour index, 0–15.
        fg: u8,
        /// Background colour index, 0–7, if given.
        bg: Option<u8>,
    },
    /// Toggle bold.
    Bold,
    /// Reset all formatting.
    Reset,
}

/// Splits canonical text into text and formatting spans. Never panics on other text: a CTRL-K
/// without a valid colour spec is skipped, because a renderer must not pass a control character on.
pub fn spans(text: &str) -> impl Iterator<Item = Span<'_>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        loop {
            let token_start = rest.find([COLOR, BOLD, RESET]).unwrap_or(rest.len());
            if token_start > 0 {
                let (text, after) = rest.split_at(token_start);
                rest = after;
                return Some(Span::Text(text));
            }
            let mut chars = rest.chars();
            let token = chars.next()?;
            rest = chars.as_str();
            match token {
                BOLD => return Some(Span::Bold),
                RESET => return Some(Span::Reset),
                _ => {
                    if let Some((ColorSpec { fg, bg }, spec_length)) = parse_color(rest) {
                        rest = &rest[spec_length..];
                        return Some(Span::Color { fg, bg });
                    }
                }
            }
        }
    })
}

/// The colours a CTRL-K token sets.
struct ColorSpec {
    fg: u8,
    bg: Option<u8>,
}

/// Parses the colour spec at the start of `spec` (what follows a CTRL-K): one hex digit, either
/// case, then optionally `,` and a digit 0–7. Returns the colours and the spec's length in bytes,
/// which is all ASCII.
fn parse_color(spec: &str) -> Option<(ColorSpec, usize)> {
    let bytes = spec.as_bytes();
    let fg = match *bytes.first()? {
        digit @ b'0'..=b'9' => digit - b'0',
        digit @ b'a'..=b'f' => digit - b'a' + 10,
        digit @ b'A'..=b'F' => digit - b'A' + 10,
        _ => return None,
    };
    let (bg, length) = match bytes.get(1..3) {
        Some([b',', bg @ b'0'..=b'7']) => (Some(bg - b'0'), 3),
        _ => (None, 1),
    };
    Some((ColorSpec { fg, bg }, length))
}

/// Writes a colour token in canonical form: lowercase foreground digit.
fn push_color(out: &mut String, ColorSpec { fg, bg }: ColorSpec) {
    out.push(COLOR);
    out.extend(char::from_digit(u32::from(fg), 16));
    if let Some(bg) = bg {
        out.push(',');
        out.push(char::from(b'0' + bg));
    }
}

/// Characters dropped from user text: controls (other than the tokens and tab, handled before), and
/// invisible characters that reorder or hide text on other people's screens.
fn is_removed(c: char) -> bool {
    matches!(c,
        '\x00'..='\x1f' | '\x7f'..='\u{9f}'
        // Bidi embeddings, overrides, isolates and marks.
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        // Zero-width spaces, joiners (a joiner inside an emoji is kept before this is asked)
        // and the byte order mark.
        | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{180e}'
        // Line and paragraph separators, which some terminals and clients break lines at.
        | '\u{2028}' | '\u{2029}'
        // Interlinear annotation anchors, which hide the text between them in some renderers.
        | '\u{fff9}'..='\u{fffb}'
        // Tag characters: invisible ASCII (a subdivision flag's are kept before this is asked).
        | '\u{e0000}'..='\u{e007f}'
    )
}

#[cfg(test)]
mod tests;

/// [`sanitize_message`] applied to each line of a multi-line text (help pages, the MOTD),
/// keeping the line breaks.
pub fn sanitize_lines(input: &str) -> String {
    input
        .split('\n')
        .map(sanitize_message)
        .collect::<Vec<_>>()
        .join("\n")
}
