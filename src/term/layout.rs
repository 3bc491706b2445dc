//! Message layout: the width-dependent line format of r0c and word wrapping by display width.
//!
//! Sans-IO and shared by every renderer. Works on plain text; colour is applied by the renderer.

use crate::term::width::{char_width, str_width};

/// How far one PgUp or PgDn scrolls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScrollStep {
    /// A fixed number of lines.
    Lines(usize),
    /// A share of the chat pane's height (r0c's default is the height less one line).
    Percent(f64),
}

impl ScrollStep {
    /// How many lines one page scrolls on a terminal of `rows` rows (at least one).
    pub fn lines(self, rows: usize) -> usize {
        let page = rows.saturating_sub(4).max(1);
        let step = match self {
            ScrollStep::Lines(lines) => lines,
            ScrollStep::Percent(percent) => (page as f64 * percent / 100.0) as usize,
        };
        step.max(1)
    }
}

/// How messages are laid out at one terminal width (r0c's five tiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// strftime-style timestamp format, or `None` below 60 columns.
    pub timestamp: Option<&'static str>,
    /// Columns the right-aligned nick takes.
    pub nick_width: usize,
    /// Columns of message text on the first line.
    pub text_width: usize,
    /// Spaces before continuation lines.
    pub indent: usize,
}

impl Layout {
    /// The layout for a terminal `width` columns wide; the status window uses 6-column nicks.
    pub fn for_width(width: usize, status_window: bool) -> Layout {
        let (timestamp, wide_nick, prefix) = match width {
            140.. => (Some("%H:%M:%S"), 14, 10),
            100..=139 => (Some("%H:%M:%S"), 12, 10),
            80..=99 => (Some("%H%M%S"), 10, 8),
            60..=79 => (Some("%H%M"), 8, 6),
            _ => (None, 8, 1),
        };
        let nick_width = if status_window { 6 } else { wide_nick };
        let indent = nick_width + prefix;
        Layout {
            timestamp,
            nick_width,
            text_width: width.saturating_sub(indent).max(8),
            indent,
        }
    }
}

/// Lays out one message as plain display lines.
///
/// `margins` off (`/mn`) indents continuation lines by two spaces and lets them use the whole
/// width. `hilight` marks the message with `=` after the timestamp (teletype style).
pub fn plain_lines(
    layout: &Layout,
    width: usize,
    unix_micros: i64,
    author: &str,
    text: &str,
    margins: bool,
    hilight: bool,
) -> Vec<String> {
    let mut prefix = String::new();
    if let Some(format) = layout.timestamp {
        let time =
            jiff::Timestamp::from_microsecond(unix_micros).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        prefix.push_str(&time.strftime(format).to_string());
        prefix.push(if hilight { '=' } else { ' ' });
    }
    let nick = crate::term::width::truncate_to_width(author, layout.nick_width);
    prefix.push_str(&" ".repeat(layout.nick_width - str_width(nick)));
    prefix.push_str(nick);
    prefix.push(' ');
    let (rest_width, rest_indent) = if margins {
        (layout.text_width, layout.indent)
    } else {
        (width.saturating_sub(2).max(8), 2)
    };
    let mut lines = Vec::new();
    for (index, wrapped) in wrap(text, layout.text_width, rest_width)
        .into_iter()
        .enumerate()
    {
        if index == 0 {
            lines.push(format!("{prefix}{wrapped}"));
        } else {
            lines.push(format!("{}{wrapped}", " ".repeat(rest_indent)));
        }
    }
    lines
}

/// Word-wraps `text` (which may contain newlines): the first line holds `first_width` columns,
/// the following ones `rest_width`. Words wider than a line are cut, with a `-` at each cut.
pub fn wrap(text: &str, first_width: usize, rest_width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let limit = |lines: &Vec<String>| {
        if lines.is_empty() {
            first_width
        } else {
            rest_width
        }
    };
    for paragraph in text.split('\n') {
        let paragraph = paragraph.trim_end();
        if str_width(paragraph) <= limit(&lines) {
            lines.push(paragraph.to_string());
            continue;
        }
        let mut current = String::new();
        for word in paragraph.split_whitespace() {
            let mut word = word.to_string();
            loop {
                let max = limit(&lines);
                let needed = if current.is_empty() {
                    str_width(&word)
                } else {
                    str_width(&current) + 1 + str_width(&word)
                };
                if needed <= max {
                    if !current.is_empty() {
                        current.push(' ');
                    }
                    current.push_str(&word);
                    break;
                }
                if !current.is_empty() {
                    lines.push(std::mem::take(&mut current));
                    continue;
                }
                // The word alone is wider than a line: cut it.
                let (head, tail) = split_at_width(&word, max.saturating_sub(1).max(1));
                lines.push(format!("{head}-"));
                word = tail.to_string();
                if word.is_empty() {
                    break;
                }
            }
        }
        if !current.is_empty() || lines.is_empty() {
            lines.push(current);
        }
    }
    lines
}

/// Splits `text` after at most `max` columns, never inside a character (at least one character).
fn split_at_width(text: &str, max: usize) -> (&str, &str) {
    let mut used = 0;
    for (index, c) in text.char_indices() {
        let w = char_width(c);
        if used + w > max && index > 0 {
            return text.split_at(index);
        }
        used += w;
    }
    (text, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers() {
        assert_eq!(
            Layout::for_width(80, false),
            Layout {
                timestamp: Some("%H%M%S"),
                nick_width: 10,
                text_width: 62,
                indent: 18
            }
        );
        assert_eq!(Layout::for_width(80, true).indent, 14);
        assert_eq!(Layout::for_width(140, false).text_width, 116);
        assert_eq!(Layout::for_width(100, false).indent, 22);
        assert_eq!(Layout::for_width(60, false).indent, 14);
        assert_eq!(
            Layout::for_width(50, false),
            Layout {
                timestamp: None,
                nick_width: 8,
                text_width: 41,
                indent: 9
            }
        );
    }

    #[test]
    fn message_line_at_80_columns() {
        let layout = Layout::for_width(80, false);
        // 2026-11-23 18:41:12 UTC.
        let micros = 1_795_545_672_000_000;
        let lines = plain_lines(&layout, 80, micros, "yyryyd", "hello there", true, false);
        assert_eq!(lines, ["184112     yyryyd hello there"]);
        let lines = plain_lines(&layout, 80, micros, "yyryyd", "hi kywmyv", true, true);
        assert_eq!(lines, ["184112=    yyryyd hi kywmyv"]);
    }

    #[test]
    fn wrapping() {
        assert_eq!(wrap("aaa bbb ccc", 7, 7), ["aaa bbb", "ccc"]);
        assert_eq!(wrap("aaaaaaaaaa", 5, 5), ["aaaa-", "aaaa-", "aa"]);
        assert_eq!(wrap("a\nb", 5, 5), ["a", "b"]);
        assert_eq!(wrap("", 5, 5), [""]);
        // 45 CJK characters are 90 columns: they must wrap at 62.
        let cjk = "日".repeat(45);
        let lines = wrap(&cjk, 62, 62);
        assert!(lines.iter().all(|l| str_width(l) <= 62), "{lines:?}");
        assert_eq!(lines.len(), 2);
    }
}
