//! Display width of text in terminal columns: the one width model of r0c, used for wrap,
//! truncation, input line and cursor.
//!
//! Widths are summed per code point, as terminals do with `wcwidth`, so the width of a prefix is
//! always the sum of its characters and a frame laid out here lines up on the client's screen.

use unicode_width::UnicodeWidthChar;

/// Columns a character takes: 2 for CJK and emoji, 0 for combining marks and control characters, 1
/// otherwise.
pub fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// Columns a plain string (no escape sequences) takes.
pub fn str_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// The longest prefix of `s` that fits in `max` columns; a wide character that would straddle the
/// limit is left out whole.
pub fn truncate_to_width(s: &str, max: usize) -> &str {
    let mut width = 0;
    for (index, c) in s.char_indices() {
        width += char_width(c);
        if width > max {
            return &s[..index];
        }
    }
    s
}

#[cfg(test)]
mod tests;
