//! The VT100 screen: four zones, a shadow of what the client shows, and the bytes to update it.
//!
//! Sans-IO. The caller describes a frame (topic, pane change, status bar, input line, cursor);
//! [`Screen::render`] compares it with what the client already has and writes only the
//! difference. A frame's first chat line is pushed with r0c's sequence
//! `ESC[<h-3>H LF LF ESC[K <line>`, which r0c's PowerShell client looks for on the raw port
//! (other clients get the same scroll as `ESC[<h-2>H LF <line>`, 4 bytes less), and each further
//! line of the frame with `CR LF <line>` (the cursor is on the region's bottom row, where LF
//! scrolls), inside the pane's scroll region `ESC[2;<h-2>r`: a frame of k lines pays the push
//! once, not k times. Like r0c, a frame sets the region before its first push and releases it
//! (`ESC[r`) after its last one, so the region is never left set between frames: a connection
//! that drops leaves a terminal whose shell scrolls the whole screen. That costs 11 bytes a
//! frame, not a line.

use std::fmt::Write;
use std::sync::Arc;

use crate::term::style::{SHORT_RESET, is_reset};
use crate::term::width::str_width;

/// SGR of the topic bar: blue for 16-colour terminals, gold on dark grey for 256-colour ones.
pub const TOPIC_SGR: &str = "\x1b[44;48;5;235;38;5;220m";
/// SGR at the start of the status bar.
pub const STATUS_SGR: &str = "\x1b[0;37;44;48;5;235m";
/// [`STATUS_SGR`] for a terminal whose attributes were just reset: the same colours.
const STATUS_SGR_AFTER_RESET: &str = "\x1b[37;44;48;5;235m";
/// SGR 0: every attribute off.
const RESET: &str = "\x1b[0m";
/// DECSTBM without parameters: the whole screen scrolls again (and the cursor goes home).
const RELEASE_REGION: &str = "\x1b[r";

/// One line of the chat pane: its text, which may be shared with other clients' frames (a
/// message's rendered lines are kept once for all readers laid out alike).
#[derive(Debug, Clone)]
pub struct PaneLine {
    lines: Arc<[String]>,
    index: usize,
}

impl PaneLine {
    /// Line `index` of `lines`; an index past the end is an empty line.
    pub fn shared(lines: Arc<[String]>, index: usize) -> PaneLine {
        PaneLine { lines, index }
    }

    pub fn as_str(&self) -> &str {
        self.lines.get(self.index).map_or("", String::as_str)
    }
}

impl std::ops::Deref for PaneLine {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for PaneLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for PaneLine {
    fn eq(&self, other: &PaneLine) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for PaneLine {}

impl From<String> for PaneLine {
    fn from(line: String) -> PaneLine {
        PaneLine::shared(Arc::new([line]), 0)
    }
}

impl From<&str> for PaneLine {
    fn from(line: &str) -> PaneLine {
        PaneLine::from(line.to_string())
    }
}

/// What happens to the chat pane in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaneChange {
    /// Nothing in the pane changed.
    Unchanged,
    /// The whole pane, top to bottom; missing rows are drawn as `--`.
    Redraw(Vec<PaneLine>),
    /// New lines at the bottom; older ones scroll up.
    Append(Vec<PaneLine>),
    /// Lines revealed at the top while scrolling back, the nearest (newest) first.
    Prepend(Vec<PaneLine>),
    /// Rows (0 = top pane row) whose beginning is rewritten in place: `(row, text)`.
    Patch(Vec<(usize, String)>),
}

/// One frame to show.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    /// Topic bar text (plain, already cut to the width by the caller or not: it is cut here).
    pub topic: &'a str,
    /// What happens to the chat pane.
    pub pane: PaneChange,
    /// The status bar, with its SGR codes, starting with [`STATUS_SGR`] and a 6-digit clock.
    pub status: &'a str,
    /// The input row after the prompt: styled visible text.
    pub input: &'a str,
    /// The nick shown in the prompt (already cut to a quarter of the width).
    pub prompt_nick: &'a str,
    /// 1-based column where the cursor belongs on the input row.
    pub cursor_col: usize,
    /// A frame that leaves the input row alone may wrap its changes in DECSC/DECRC
    /// (`ESC 7` … `ESC 8`) to put the cursor back, instead of parking it anew. Off on paced
    /// links, whose echoes use the one saved-cursor slot themselves.
    pub may_save_cursor: bool,
}

/// What the client's screen holds, as far as we know.
#[derive(Debug)]
pub struct Screen {
    cols: usize,
    rows: usize,
    /// The client echoes locally: the input row is above the status bar.
    swapped: bool,
    topic: Option<String>,
    status: Option<String>,
    input: Option<String>,
    /// Pane rows from the top that hold content; new lines go straight below them.
    filled: usize,
    /// Where the client's cursor is, if we know.
    cursor: Option<(usize, usize)>,
    /// The last frame rewrote the input row.
    drew_input: bool,
    /// A frame's first pushed line uses r0c's push (`ESC[<h-3>H LF LF ESC[K`), which r0c's
    /// PowerShell client looks for on the raw port; otherwise the shorter `ESC[<h-2>H LF`.
    r0c_push: bool,
}

impl Screen {
    /// A screen of `cols` × `rows` whose contents are unknown.
    pub fn new(cols: usize, rows: usize, swapped: bool) -> Screen {
        Screen {
            cols,
            rows,
            swapped,
            topic: None,
            status: None,
            input: None,
            filled: 0,
            cursor: None,
            drew_input: false,
            r0c_push: true,
        }
    }

    /// Whether a frame's first pushed line uses r0c's push form: the raw port's clients need
    /// it, the others save its 4 bytes a frame.
    pub fn set_r0c_push(&mut self, on: bool) {
        self.r0c_push = on;
    }

    /// Whether a frame's first pushed line uses r0c's push form ([`Screen::set_r0c_push`]).
    pub fn r0c_push(&self) -> bool {
        self.r0c_push
    }

    /// The status bar the client shows, as last written.
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// Forgets what the input row shows and where the cursor is (something else may have
    /// drawn there), so the next frame repaints the row and parks the cursor.
    pub fn forget_input_line(&mut self) {
        self.input = None;
        self.cursor = None;
    }

    /// Forgets where the cursor is, so the next frame parks it again.
    pub fn forget_cursor(&mut self) {
        self.cursor = None;
    }

    /// Where the client's cursor is (row, column, 1-based), if we know.
    pub fn cursor(&self) -> Option<(usize, usize)> {
        self.cursor
    }

    /// Chat pane rows.
    pub fn pane_rows(&self) -> usize {
        self.rows.saturating_sub(3).max(1)
    }

    /// Forgets what the client shows (after a resize or when it may be garbled).
    pub fn invalidate(&mut self) {
        self.topic = None;
        self.status = None;
        self.input = None;
        self.cursor = None;
    }

    /// The bytes that give the client its whole screen back as scroll region, with the cursor
    /// kept where it was, for when the chat ends. Every frame releases the region it set, so
    /// this only matters to a terminal that something else left with a region; it costs 8
    /// bytes once per connection.
    pub fn release_region(&self) -> &'static str {
        // DECSTBM homes the cursor; DECSC/DECRC keep it on the input row.
        "\x1b7\x1b[r\x1b8"
    }

    /// Sets the pane as scroll region, for the pushes of one frame.
    fn set_region(&self, out: &mut String) {
        let _ = write!(out, "\x1b[2;{}r", self.rows.saturating_sub(2));
    }

    fn status_row(&self) -> usize {
        if self.swapped {
            self.rows
        } else {
            self.rows.saturating_sub(1)
        }
    }

    fn input_row(&self) -> usize {
        if self.swapped {
            self.rows.saturating_sub(1)
        } else {
            self.rows
        }
    }

    /// Whether the shadow is incomplete, so the next frame must redraw the pane.
    pub fn needs_redraw(&self) -> bool {
        self.topic.is_none()
    }

    /// Writes the bytes that turn what the client shows into `frame`.
    pub fn render(&mut self, frame: &Frame<'_>, out: &mut String) {
        let start = out.len();
        self.drew_input = false;
        let input = format!("\x1b[0;36m{}>\x1b[0m {}", frame.prompt_nick, frame.input);
        let target = (self.input_row(), frame.cursor_col.max(1));
        // The cursor is parked where it belongs and the input row stays: whatever else
        // changes can be written between DECSC and DECRC, which also restores the plain
        // attributes of the park (4 bytes instead of a reset and a cursor position).
        let save_cursor = frame.may_save_cursor
            && self.cursor == Some(target)
            && self.input.as_deref() == Some(input.as_str());
        let pane_rows = self.pane_rows();
        match &frame.pane {
            PaneChange::Unchanged => {}
            PaneChange::Redraw(lines) => {
                let skip = lines.len().saturating_sub(pane_rows);
                for row in 0..pane_rows {
                    let line = lines.get(skip + row).map_or("--", PaneLine::as_str);
                    let _ = write!(out, "\x1b[{}H\x1b[K{line}", row + 2);
                }
                // Rows below the content show `--` and are the next to be written.
                self.filled = lines.len().min(pane_rows);
            }
            PaneChange::Append(lines) if !lines.is_empty() => {
                // Rows are written in place while the pane has empty ones, then pushed. The
                // frame's first push is r0c's, which r0c's PowerShell client looks for to
                // repair consoles whose scrolling is broken; every further line of the frame
                // costs only CR LF: the cursor is on the region's bottom row right after the
                // line above, so LF scrolls the region by one and leaves a blank row.
                let mut region = false;
                let mut below_last_in_place = false;
                for line in lines {
                    if self.filled < pane_rows {
                        // An empty row is written in place: no scrolling, so no region. The
                        // row right below the one just written is reached with CR LF, which
                        // cannot scroll: it is above the pane's bottom row.
                        if below_last_in_place {
                            out.push_str("\r\n\x1b[K");
                        } else {
                            let _ = write!(out, "\x1b[{}H\x1b[K", self.filled + 2);
                        }
                        out.push_str(line);
                        self.filled += 1;
                        below_last_in_place = true;
                    } else if region {
                        out.push_str("\r\n");
                        out.push_str(line);
                    } else {
                        region = true;
                        self.set_region(out);
                        if self.r0c_push {
                            let _ = write!(out, "\x1b[{}H\n\n\x1b[K", self.rows.saturating_sub(3));
                        } else {
                            // The region's bottom row; LF there scrolls the region and leaves
                            // a blank row, as the further lines' CR LF does.
                            let _ = writeln!(out, "\x1b[{}H", self.rows.saturating_sub(2));
                        }
                        out.push_str(line);
                    }
                }
                if region {
                    // Released before anything else is drawn, so the region never outlives
                    // the frame (a dropped connection leaves a whole screen to the shell).
                    out.push_str(RELEASE_REGION);
                }
            }
            PaneChange::Prepend(lines) if !lines.is_empty() => {
                self.set_region(out);
                for line in lines {
                    let _ = write!(out, "\x1b[2H\x1bM\x1b[K{line}");
                }
                out.push_str(RELEASE_REGION);
                self.filled = pane_rows;
            }
            PaneChange::Patch(patches) => {
                for (row, text) in patches.iter().filter(|(row, _)| *row < pane_rows) {
                    let _ = write!(out, "\x1b[{}H{text}", row + 2);
                }
            }
            PaneChange::Append(_) | PaneChange::Prepend(_) => {}
        }
        let pane_written = out.len() > start;
        if pane_written {
            // A cursor move leaves the cursor somewhere in the pane, and releasing the scroll
            // region homes it: either way it must be put back.
            self.cursor = None;
        }

        let topic = crate::term::width::truncate_to_width(frame.topic, self.cols);
        if self.topic.as_deref() != Some(topic) {
            let _ = write!(out, "\x1b[1H{TOPIC_SGR}{topic}\x1b[K");
            self.topic = Some(topic.to_string());
            self.cursor = None;
        }

        self.render_status(frame.status, out, start);

        if save_cursor {
            wrap_in_saved_cursor(out, start);
            self.cursor = Some(target);
            return;
        }

        let prompt_cols = crate::term::width::str_width(frame.prompt_nick) + 2;
        self.render_input(&input, prompt_cols, out);

        let wrote_anything = out.len() > start;
        if wrote_anything || self.cursor != Some(target) {
            // Leave the terminal's attributes plain before parking the cursor.
            if last_sgr(&out[start..]).is_some_and(|sgr| !is_reset(sgr)) {
                out.push_str("\x1b[0m");
            }
            if self.cursor != Some(target) {
                let _ = write!(out, "\x1b[{};{}H", target.0, target.1);
            }
            self.cursor = Some(target);
        }
    }

    /// Writes the bytes of a frame in which only the status bar changed, as
    /// [`Screen::render`] would for a frame whose pane, topic and input line are unchanged:
    /// between DECSC and DECRC, the cursor staying where it is parked. Returns false and
    /// writes nothing when that frame would have to park the cursor anew (its place is not
    /// known, or `may_save_cursor` forbids the saved-cursor slot).
    pub fn render_status_only(
        &mut self,
        status: &str,
        may_save_cursor: bool,
        out: &mut String,
    ) -> bool {
        let Some(parked) = self
            .cursor
            .filter(|_| may_save_cursor && self.status.is_some())
        else {
            return false;
        };
        let start = out.len();
        self.drew_input = false;
        self.render_status(status, out, start);
        wrap_in_saved_cursor(out, start);
        self.cursor = Some(parked);
        true
    }

    /// Writes what changed in the status bar; `frame_start` is where this frame's bytes begin
    /// in `out`, to tell which attributes are in force.
    fn render_status(&mut self, status: &str, out: &mut String, frame_start: usize) {
        // The attributes in force are plain after a reset written in this frame (a chat line
        // ends with one), or when nothing was written yet and the cursor is parked: every
        // frame parks it with plain attributes, and whatever may have written since (an echo
        // that overtook a frame on a paced link) made us forget where the cursor is.
        let plain = match last_sgr(&out[frame_start..]) {
            Some(sgr) => is_reset(sgr),
            None => out.len() == frame_start && self.cursor.is_some(),
        };
        let row = self.status_row();
        match &self.status {
            Some(old) if old == status => return,
            Some(old) if only_clock_differs(old, status) => {
                // Only the clock digits from the first one that changed (mostly the last one
                // or two), in the status bar's colours.
                let clock = STATUS_SGR.len()..STATUS_SGR.len() + 6;
                let same = old[clock.clone()]
                    .bytes()
                    .zip(status[clock.clone()].bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                let _ = write!(out, "\x1b[{row};{}H", same + 1);
                // On plain attributes the bar's colours need no reset of their own; otherwise
                // the attributes in force are not known here.
                if plain {
                    out.push_str(STATUS_SGR_AFTER_RESET);
                } else {
                    out.push_str(STATUS_SGR);
                }
                let _ = write!(out, "{}\x1b[0m", &status[clock.start + same..clock.end]);
            }
            Some(old) => {
                // Rewrite from the first field that changed; when the changed field keeps its
                // width and nothing after it changed, rewrite only that field.
                let (old_spans, new_spans) = (spans(old), spans(status));
                let first = old_spans
                    .iter()
                    .zip(&new_spans)
                    .take_while(|(a, b)| a == b)
                    .count();
                let same_tail = old_spans.len() == new_spans.len()
                    && old_spans[first.min(old_spans.len())..]
                        .iter()
                        .skip(1)
                        .eq(new_spans[first.min(new_spans.len())..].iter().skip(1))
                    && old_spans.get(first).map(|s| str_width(s.1))
                        == new_spans.get(first).map(|s| str_width(s.1));
                if first == 0 {
                    let _ = write!(out, "\x1b[{row}H{status}\x1b[K");
                } else {
                    let column: usize = new_spans[..first]
                        .iter()
                        .map(|s| str_width(s.1))
                        .sum::<usize>()
                        + 1;
                    let _ = write!(out, "\x1b[{row};{column}H");
                    // The attributes in force where the rewrite starts, as one SGR.
                    out.push_str(&crate::term::style::fold_sgr(
                        new_spans[..first].iter().map(|span| span.0),
                    ));
                    if same_tail {
                        let (sgr, text) = new_spans[first];
                        let _ = write!(out, "{sgr}{text}");
                    } else {
                        for (sgr, text) in &new_spans[first..] {
                            let _ = write!(out, "{sgr}{text}");
                        }
                        out.push_str("\x1b[K");
                    }
                }
            }
            None => {
                let _ = write!(out, "\x1b[{row}H{status}\x1b[K");
            }
        }
        self.status = Some(status.to_string());
        self.cursor = None;
    }

    fn render_input(&mut self, input: &str, prompt_cols: usize, out: &mut String) {
        let row = self.input_row();
        if self.input.as_deref() == Some(input) {
            return;
        }
        if let Some(cursor_at) = self.cursor_at_plain_end(row, prompt_cols) {
            let old = self.input.as_deref().unwrap_or_default();
            // Typing at the end: send only the new characters; the cursor is already parked
            // right after the old text.
            if let Some(added) = input.strip_prefix(old)
                && !added.contains('\x1b')
            {
                out.push_str(added);
                self.cursor = Some((row, cursor_at + crate::term::width::str_width(added)));
                self.input = Some(input.to_string());
                return;
            }
            // Erasing at the end: step back and clear the rest instead of rewriting the row
            // (what a backspace costs matters on a modem).
            if let Some(removed) = old.strip_prefix(input)
                && !removed.contains('\x1b')
                && input.contains("\x1b[0m ")
            {
                let width = crate::term::width::str_width(removed);
                if width > 0 && width < cursor_at {
                    let back = if width == 1 {
                        "\x08".to_string()
                    } else {
                        format!("\x1b[{width}D")
                    };
                    let _ = write!(out, "{back}\x1b[K");
                    self.cursor = Some((row, cursor_at - width));
                    self.input = Some(input.to_string());
                    return;
                }
            }
        }
        self.drew_input = true;
        let _ = write!(out, "\x1b[{row}H{input}\x1b[K");
        self.input = Some(input.to_string());
        self.cursor = None;
    }

    /// The cursor's column if it is parked at the end of a plain (unformatted) input row, the
    /// one place where typing and erasing can be sent as they are.
    fn cursor_at_plain_end(&self, row: usize, prompt_cols: usize) -> Option<usize> {
        let old = self.input.as_deref()?;
        let (cursor_row, cursor_at) = self.cursor?;
        let typed = visible_after_prompt(old);
        (cursor_row == row
            && !typed.contains('\x1b')
            && cursor_at == prompt_cols + 1 + crate::term::width::str_width(typed))
        .then_some(cursor_at)
    }

    /// Whether the last frame rewrote the input row (rather than typing at its end or
    /// leaving it alone).
    pub fn drew_input(&self) -> bool {
        self.drew_input
    }

    /// Rows and columns of this screen.
    pub fn size(&self) -> (usize, usize) {
        (self.cols, self.rows)
    }
}

/// The visible text after the prompt of an input row string.
fn visible_after_prompt(row: &str) -> &str {
    row.split_once("\x1b[0m ").map_or("", |(_, rest)| rest)
}

/// A styled line as spans of (the escape sequences before the text, the text).
fn spans(line: &str) -> Vec<(&str, &str)> {
    let mut result = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let mut sgr_end = 0;
        while rest[sgr_end..].starts_with("\x1b[") {
            match rest[sgr_end + 2..].find(|c: char| c.is_ascii_alphabetic()) {
                Some(end) => sgr_end += end + 3,
                None => {
                    sgr_end = rest.len();
                    break;
                }
            }
        }
        let text_end = rest[sgr_end..]
            .find('\x1b')
            .map_or(rest.len(), |i| sgr_end + i);
        result.push((&rest[..sgr_end], &rest[sgr_end..text_end]));
        rest = &rest[text_end..];
    }
    result
}

/// The last SGR sequence (`ESC [ … m`) in `bytes`, if any.
fn last_sgr(bytes: &str) -> Option<&str> {
    let mut search = bytes;
    while let Some(start) = search.rfind("\x1b[") {
        let candidate = &search[start..];
        let end = candidate[2..]
            .find(|c: char| c.is_ascii_alphabetic())
            .map(|i| i + 3)?;
        if candidate[..end].ends_with('m') {
            return Some(&candidate[..end]);
        }
        search = &search[..start];
    }
    None
}

/// Wraps what a frame wrote from `start` on in DECSC and DECRC, so the cursor goes back to
/// where it was parked. DECRC restores the attributes too: a closing reset would be wasted,
/// also when only the release of the scroll region (which ignores attributes) follows it.
fn wrap_in_saved_cursor(out: &mut String, start: usize) {
    if out.len() <= start {
        return;
    }
    // Only what this frame wrote is looked at: a reset before `start` is not the frame's.
    let frame = &out[start..];
    let closing = [RESET, SHORT_RESET].into_iter().find_map(|reset| {
        if frame.ends_with(reset) {
            Some((reset.len(), false))
        } else if frame
            .strip_suffix(RELEASE_REGION)
            .is_some_and(|before| before.ends_with(reset))
        {
            Some((reset.len() + RELEASE_REGION.len(), true))
        } else {
            None
        }
    });
    if let Some((cut, released)) = closing {
        out.truncate(out.len() - cut);
        if released {
            out.push_str(RELEASE_REGION);
        }
    }
    out.insert_str(start, "\x1b7");
    out.push_str("\x1b8");
}

/// Whether two status bars differ only in their clock digits.
fn only_clock_differs(old: &str, new: &str) -> bool {
    let clock_end = STATUS_SGR.len() + 6;
    old.len() == new.len()
        && old.is_char_boundary(clock_end)
        && new.is_char_boundary(clock_end)
        && old.starts_with(STATUS_SGR)
        && new.starts_with(STATUS_SGR)
        && old[clock_end..] == new[clock_end..]
}

#[cfg(test)]
mod tests;
