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

use crate::term::width::char_width;

/// Starts a colour token: CTRL-K.
const COLOR: char = '\x0B';
/// The bold toggle token: CTRL-B.
const BOLD: char = '\x02';
/// The reset token: CTRL-O.
const RESET: char = '\x0F';

/// Zero-width characters kept on one base character; more would only pile up over neighbouring
/// lines ("zalgo").
const MAX_MARKS_PER_BASE: usize = 2;

/// What a user typed (after the key decoder) → canonical stored text.
///
/// CTRL-K with a valid colour spec is kept (uppercase hex lowered), with anything else it becomes a
/// literal `K`, as in r0c; CTRL-B and CTRL-O are kept; tabs become a space. Removed: every other C0
/// control, DEL, C1 controls, bidi controls, zero-width characters, and zero-width marks beyond two
/// on one base character. Idempotent, so text read back from the database or an IRC server can pass
/// through it again.
pub fn sanitize_message(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut marks_on_base = 0;
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
            c if is_removed(c) => {}
            c if char_width(c) == 0 => {
                if marks_on_base < MAX_MARKS_PER_BASE {
                    out.push(c);
                    marks_on_base += 1;
                }
            }
            c => {
                out.push(c);
                marks_on_base = 0;
            }
        }
    }
    out
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
        // Zero-width spaces, joiners and the byte order mark.
        | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{180e}'
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
