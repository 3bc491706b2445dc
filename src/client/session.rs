//! One client's session: input handling, terminal size, and the teletype renderer.
//!
//! The session does no I/O: the connection task feeds it decoded text and asks it for output.
//! Rendering pulls the current state from the world and writes only what the client lacks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::commands::{self, Flow};
use crate::term::keys::{Key, KeyDecoder};
use crate::term::layout::{Layout, plain_lines};
use crate::term::lineedit::{EditOutcome, LineEditor};
use crate::term::width::str_width;
use crate::text;
use crate::world::{ChannelId, ChannelKind, Message, UserId, View, World, mentions};

/// Terminal size used until the client tells us its own.
pub const DEFAULT_SIZE: (u16, u16) = (80, 24);

/// The most characters the input line holds; more typed without Enter are refused.
pub const MAX_LINE_CHARS: usize = 4096;

/// Bells are rung at most this often.
const BELL_INTERVAL: Duration = Duration::from_secs(1);

/// A user's connection as the UI sees it.
pub struct Session {
    /// The user in the world.
    pub user: UserId,
    world: Arc<World>,
    keys: KeyDecoder,
    line: LineEditor,
    /// Terminal columns and rows.
    cols: u16,
    rows: u16,
    /// The bad size the client reported, told once in the status window.
    bad_size_told: bool,
    teletype: Teletype,
    /// Output produced by input handling, sent before the next frame.
    pending_output: String,
    /// Told once per line when the input line overflows.
    overflow_told: bool,
    last_bell: Option<Instant>,
}

/// What the teletype renderer has already shown.
#[derive(Default)]
struct Teletype {
    /// The window whose lines were printed last.
    channel: Option<ChannelId>,
    /// The first sequence number not printed yet in that window.
    next_seq: u64,
    /// The prompt line as last sent.
    prompt: String,
    /// Hilighted windows at the last frame, for the bell.
    hilights: Vec<usize>,
    /// Something forces a full redraw at the next frame.
    full_redraw: bool,
}

impl Session {
    /// A session for `user`, drawn at the default size.
    pub fn new(user: UserId, world: Arc<World>) -> Session {
        Session {
            user,
            world,
            keys: KeyDecoder::new(),
            line: LineEditor::new(MAX_LINE_CHARS),
            cols: DEFAULT_SIZE.0,
            rows: DEFAULT_SIZE.1,
            bad_size_told: false,
            teletype: Teletype {
                full_redraw: true,
                ..Teletype::default()
            },
            pending_output: String::new(),
            overflow_told: false,
            last_bell: None,
        }
    }

    /// The terminal size in use.
    pub fn size(&self) -> (u16, u16) {
        (self.cols, self.rows)
    }

    /// Applies a size reported by the client; 0 or 512 and more fall back to 80x24 with a note.
    pub fn set_size(&mut self, cols: u16, rows: u16) {
        let usable = |v: u16| v > 0 && v < 512;
        let (new_cols, new_rows) = (
            if usable(cols) { cols } else { DEFAULT_SIZE.0 },
            if usable(rows) { rows } else { DEFAULT_SIZE.1 },
        );
        if (!usable(cols) || !usable(rows)) && !self.bad_size_told {
            self.bad_size_told = true;
            self.world.tell(
                self.user,
                crate::world::AUTHOR_INFO,
                &format!("your client reported windowsize {cols}x{rows}; will assume 80x24"),
            );
        }
        if (new_cols, new_rows) != (self.cols, self.rows) {
            (self.cols, self.rows) = (new_cols, new_rows);
            self.teletype.full_redraw = true;
        }
    }

    /// Sets the width or height by hand (`/sw`, `/sh`).
    pub fn force_size(&mut self, cols: Option<u16>, rows: Option<u16>) {
        self.cols = cols.unwrap_or(self.cols);
        self.rows = rows.unwrap_or(self.rows);
        self.teletype.full_redraw = true;
    }

    /// Asks for a full redraw at the next frame.
    pub fn request_redraw(&mut self) {
        self.teletype.full_redraw = true;
    }

    /// Whether a lone ESC waits to be resolved by a quiet period.
    pub fn has_pending_escape(&self) -> bool {
        self.keys.has_pending_escape()
    }

    /// Resolves a held ESC (called after a short quiet period).
    pub fn flush_escape(&mut self) {
        let mut keys = Vec::new();
        self.keys.flush_escape(&mut keys);
    }

    /// Handles decoded text from the client. Returns whether the client asked to leave.
    pub fn handle_text(&mut self, text: &str) -> Flow {
        let mut keys = Vec::new();
        self.keys.feed(text, &mut keys);
        for key in keys {
            if self.handle_key(key) == Flow::Quit {
                return Flow::Quit;
            }
        }
        Flow::Continue
    }

    fn handle_key(&mut self, key: Key) -> Flow {
        match key {
            Key::Char(c) => {
                if self.line.insert(c) == EditOutcome::Full && !self.overflow_told {
                    self.overflow_told = true;
                    self.world.tell(
                        self.user,
                        crate::world::AUTHOR_ERROR,
                        &format!(
                            "your line is too long; at most {MAX_LINE_CHARS} characters are kept"
                        ),
                    );
                }
            }
            Key::Enter => {
                self.overflow_told = false;
                let line = self.line.submit();
                if !line.is_empty() {
                    return commands::execute(self, &self.world.clone(), &line);
                }
            }
            Key::Backspace => _ = self.line.backspace(),
            Key::Delete => _ = self.line.delete(),
            Key::Left => _ = self.line.move_cursor(-1),
            Key::Right => _ = self.line.move_cursor(1),
            Key::Home => _ = self.line.home(),
            Key::End => _ = self.line.end(),
            Key::Up => _ = self.line.history_back(),
            Key::Down => _ = self.line.history_forward(),
            // Teletype clients cannot scroll back; the nearest thing is reprinting the window.
            Key::PageUp | Key::PageDown | Key::Ctrl('l') | Key::Ctrl('r') => self.request_redraw(),
            Key::Ctrl('a') => self.world.cycle_window(self.user, -1),
            Key::Ctrl('x') => self.world.cycle_window(self.user, 1),
            Key::CursorReport { row, col } => self.set_size(col, row),
            Key::Tab | Key::Escape | Key::Ctrl(_) => {}
        }
        Flow::Continue
    }

    /// Renders everything the client has not seen yet, as text to encode and send.
    pub fn render(&mut self) -> String {
        let mut out = std::mem::take(&mut self.pending_output);
        let rows = usize::from(self.rows);
        let cols = usize::from(self.cols);
        let chat_rows = rows.saturating_sub(3).max(1);
        let same_window = self.teletype.channel.is_some();
        let since = if self.teletype.full_redraw || !same_window {
            None
        } else {
            Some(self.teletype.next_seq)
        };
        let Some(mut view) = self.world.view(self.user, since, chat_rows.max(rows * 4)) else {
            return out;
        };
        let switched = self.teletype.channel != Some(view.channel);
        if switched && since.is_some() {
            // The window changed between frames: fetch its tail instead.
            match self.world.view(self.user, None, chat_rows) {
                Some(fresh) => view = fresh,
                None => return out,
            }
        }
        let full = self.teletype.full_redraw || switched || view.redraw;
        let clear_prompt = format!("\r{}\r", " ".repeat(cols.saturating_sub(2)));
        let mut lines = Vec::new();
        for notice in &view.notices {
            let width = cols.saturating_sub(2).max(8);
            lines.extend(
                crate::term::layout::wrap(notice, width, width.saturating_sub(2))
                    .into_iter()
                    .enumerate()
                    .map(|(index, line)| {
                        if index == 0 {
                            line
                        } else {
                            format!("  {line}")
                        }
                    }),
            );
        }
        let mut chat = Vec::new();
        let layout = Layout::for_width(cols, view.kind == ChannelKind::Status);
        for message in &view.messages {
            chat.extend(self.message_lines(&layout, &view, message));
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
        self.teletype.channel = Some(view.channel);
        self.teletype.next_seq = view.next_seq;
        self.teletype.full_redraw = false;
        self.world.mark_read(self.user, view.channel, view.next_seq);

        let new_hilight = view
            .hilight_windows
            .iter()
            .any(|w| !self.teletype.hilights.contains(w));
        self.teletype.hilights = view.hilight_windows.clone();
        if new_hilight && view.prefs.bell >= 1 && self.bell_allowed() {
            out.push('\x07');
        }

        let prompt = self.prompt(&view);
        if prompt != self.teletype.prompt || !out.is_empty() {
            if out.is_empty() || !out.ends_with('\n') {
                out.push_str(&clear_prompt);
            }
            out.push_str(&prompt);
            self.teletype.prompt = prompt;
        }
        out
    }

    fn bell_allowed(&mut self) -> bool {
        let now = Instant::now();
        if self
            .last_bell
            .is_some_and(|t| now.duration_since(t) < BELL_INTERVAL)
        {
            return false;
        }
        self.last_bell = Some(now);
        true
    }

    fn message_lines(&self, layout: &Layout, view: &View, message: &Message) -> Vec<String> {
        let plain = text::strip_formatting(&message.text);
        let hilight = message.author != view.nick
            && !message.author.starts_with('-')
            && mentions(&plain, &view.nick, view.prefs.at_all);
        let author = text::strip_formatting(&message.author);
        plain_lines(
            layout,
            usize::from(self.cols),
            message.unix_micros,
            &author,
            &plain,
            view.prefs.margins,
            hilight,
        )
    }

    /// The teletype prompt: the status bar without nick list, then `nick> input█`.
    fn prompt(&self, view: &View) -> String {
        let clock = jiff::Timestamp::now().strftime("%H%M%S").to_string();
        let mut status = format!("{clock}   {}: {}", view.window_index, view.label);
        if let Some(count) = view.member_count {
            status.push_str(&format!("({count})"));
        }
        let list = |windows: &[usize]| {
            windows
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        if !view.hilight_windows.is_empty() {
            status.push_str(&format!("   h:{}", list(&view.hilight_windows)));
        }
        if !view.activity_windows.is_empty() {
            status.push_str(&format!("   a:{}", list(&view.activity_windows)));
        }
        let prefix = format!("{status}   {}> ", view.nick);
        let room = usize::from(self.cols)
            .saturating_sub(8)
            .saturating_sub(str_width(&prefix))
            .max(8);
        let visible = visible_input(self.line.chars(), self.line.cursor(), room);
        format!("{prefix}{visible}")
    }

    /// Text to show before the next frame (answers that are not chat lines).
    pub fn push_output(&mut self, text: &str) {
        self.pending_output.push_str(text);
    }
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
