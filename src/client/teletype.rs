//! The teletype renderer (r0c's "no escape codes" mode): chat lines scroll by, and the last
//! line shows the status and the input with a `█` cursor.

use crate::term::layout::{Layout, plain_lines};
use crate::term::lineedit::LineEditor;
use crate::term::width::str_width;
use crate::text;
use crate::world::{ChannelId, ChannelKind, Message, View, window_list};

/// What the teletype renderer has already shown.
#[derive(Default)]
pub struct Teletype {
    /// The window whose lines were printed last.
    channel: Option<ChannelId>,
    /// The first sequence number not printed yet in that window.
    next_seq: u64,
    /// The prompt line as last sent.
    prompt: String,
    /// Something forces a full redraw at the next frame.
    full_redraw: bool,
}

impl Teletype {
    /// A renderer whose first frame reprints the window.
    pub fn new() -> Teletype {
        Teletype {
            full_redraw: true,
            ..Teletype::default()
        }
    }

    /// Reprints the window at the next frame.
    pub fn redraw(&mut self) {
        self.full_redraw = true;
    }

    /// Messages from this sequence number on are still to be printed; `None` asks for the tail.
    pub fn since(&self) -> Option<u64> {
        if self.full_redraw || self.channel.is_none() {
            None
        } else {
            Some(self.next_seq)
        }
    }

    /// Whether `view` shows another window than the last frame did.
    pub fn switched(&self, view: &View) -> bool {
        self.channel != Some(view.channel)
    }

    /// Renders new lines, notices and the prompt for a `cols` × `rows` terminal.
    pub fn render(&mut self, view: &View, line: &LineEditor, cols: usize, rows: usize) -> String {
        let mut out = String::new();
        let chat_rows = rows.saturating_sub(3).max(1);
        let full = self.full_redraw || self.switched(view) || view.redraw;
        let clear_prompt = format!("\r{}\r", " ".repeat(cols.saturating_sub(2)));
        let mut lines = Vec::new();
        for notice in &view.notices {
            let width = cols.saturating_sub(2).max(8);
            let wrapped = crate::term::layout::wrap(notice, width, width.saturating_sub(2));
            lines.extend(wrapped.into_iter().enumerate().map(|(index, line)| {
                if index == 0 {
                    line
                } else {
                    format!("  {line}")
                }
            }));
        }
        let mut chat = Vec::new();
        let layout = Layout::for_width(cols, view.kind == ChannelKind::Status);
        for message in &view.messages {
            chat.extend(message_lines(&layout, cols, view, message));
        }
        if full {
            out.push_str(&"\r\n".repeat(rows));
            let skip = chat.len().saturating_sub(chat_rows);
            chat.drain(..skip);
        }
        if !chat.is_empty() || !lines.is_empty() {
            out.push_str(&clear_prompt);
            for line in chat.iter().chain(&lines) {
                out.push('\r');
                out.push_str(line);
                let pad = cols.saturating_sub(2).saturating_sub(str_width(line));
                out.push_str(&" ".repeat(pad));
                out.push_str("\r\n");
            }
        }
        self.channel = Some(view.channel);
        self.next_seq = view.next_seq;
        self.full_redraw = false;
        let prompt = prompt(view, line, cols);
        if prompt != self.prompt || !out.is_empty() {
            if out.is_empty() || !out.ends_with('\n') {
                out.push_str(&clear_prompt);
            }
            out.push_str(&prompt);
            self.prompt = prompt;
        }
        out
    }
}

fn message_lines(layout: &Layout, cols: usize, view: &View, message: &Message) -> Vec<String> {
    let plain = text::strip_formatting(&message.text);
    let hilight = message.author != view.nick
        && !message.author.starts_with('-')
        && message.mentions(&view.nick, view.prefs.at_all);
    let author = text::strip_formatting(&message.author);
    plain_lines(
        layout,
        cols,
        message.unix_micros,
        &author,
        &plain,
        view.prefs.margins,
        hilight,
    )
}

/// The teletype prompt: the status bar without nick list, then `nick> input█`.
fn prompt(view: &View, line: &LineEditor, cols: usize) -> String {
    let clock = jiff::Timestamp::now().strftime("%H%M%S").to_string();
    let mut status = format!("{clock}   {}: {}", view.window_index, view.label);
    if let Some(count) = view.member_count {
        status.push_str(&format!("({count})"));
    }
    if !view.hilight_windows.is_empty() {
        status.push_str(&format!("   h:{}", window_list(&view.hilight_windows)));
    }
    if !view.activity_windows.is_empty() {
        status.push_str(&format!("   a:{}", window_list(&view.activity_windows)));
    }
    let prefix = format!("{status}   {}> ", view.nick);
    let room = cols
        .saturating_sub(8)
        .saturating_sub(str_width(&prefix))
        .max(8);
    let visible = visible_input(line.chars(), line.cursor(), room);
    format!("{prefix}{visible}")
}

/// The part of the input line that fits `room` columns around the cursor, with `█` at the cursor.
fn visible_input(chars: &[char], cursor: usize, room: usize) -> String {
    let shown: Vec<char> = chars
        .iter()
        .map(|&c| {
            if c.is_control() {
                control_preview(c)
            } else {
                c
            }
        })
        .collect();
    // Keep about a third of the field left of the cursor, as r0c does, but never leave the
    // right part empty while there is text to show.
    let start = cursor
        .saturating_sub(room / 3)
        .min((shown.len() + 1).saturating_sub(room));
    let mut out = String::new();
    let mut used = 0;
    for (index, c) in shown.iter().enumerate().skip(start) {
        let cursor_cell = usize::from(index == cursor);
        let w = crate::term::width::char_width(*c).max(1);
        // Leave a column for the cursor block while it is still to come.
        let reserve = usize::from(index < cursor || cursor >= shown.len());
        if used + cursor_cell + w + reserve.min(1 - cursor_cell) > room {
            break;
        }
        if index == cursor {
            out.push('█');
            used += 1;
        }
        out.push(*c);
        used += w;
    }
    if cursor >= shown.len() {
        out.push('█');
    }
    out
}

/// The letter shown for a formatting control in the input line (CTRL-K shows `K`).
fn control_preview(c: char) -> char {
    match c {
        '\x02' => 'B',
        '\x0b' => 'K',
        '\x0f' => 'O',
        _ => '?',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_window() {
        let chars: Vec<char> = "hello".chars().collect();
        assert_eq!(visible_input(&chars, 5, 20), "hello█");
        assert_eq!(visible_input(&chars, 0, 20), "█hello");
        let long: Vec<char> = "abcdefghijklmnopqrstuvwxyz".chars().collect();
        let shown = visible_input(&long, 26, 10);
        assert!(shown.ends_with("z█") && str_width(&shown) <= 10, "{shown}");
        let formatted: Vec<char> = "\x0b3hi".chars().collect();
        assert_eq!(visible_input(&formatted, 4, 20), "K3hi█");
    }
}
