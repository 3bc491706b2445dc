//! The full-screen VT100 interface of one client: which lines its chat pane shows, scrolling,
//! read marks, the status bar and the input line, turned into frames for [`Screen`].

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::Arc;

use crate::history::Backlog;
use crate::term::layout::Layout;
use crate::term::lineedit::LineEditor;
use crate::term::screen::{Frame, PaneChange, PaneLine, STATUS_SGR, Screen};
use crate::term::style::{LinesKey, MessageStyle, hilight_words, input_preview, preview_columns};
use crate::term::width::char_width;
use crate::term::zone::shown_micros;
use crate::text;
use crate::world::{Around, ChannelId, ChannelKind, Message, View, window_list};

/// Screens narrower or shorter than this cannot show the interface.
const MIN_COLS: usize = 20;
const MIN_ROWS: usize = 4;

/// Where the status bar's nick list starts: its colour, then three spaces.
const NICKLIST_SGR: &str = "\x1b[22;36m";

/// The messages r0c shows, from longest to shortest, when the screen is too small.
const TOO_SMALL: [&str; 10] = [
    "your screen is too small",
    "screen is too small",
    "screen too small",
    "screen 2 small",
    "scrn 2 small",
    "too small",
    "2 small",
    "2 smol",
    "2smol",
    ":(",
];

/// Which line of which message a pane row shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowRef {
    /// The message's sequence number.
    seq: u64,
    /// The line within the message, from 0.
    line: usize,
    /// How many lines the message has at the current layout.
    lines: usize,
    /// The row was drawn with the unread timestamp markup.
    unread: bool,
    /// The message mentions the user (magenta timestamp).
    hilight: bool,
    /// When the message was posted, to repaint its timestamp.
    unix_micros: i64,
    /// The row shows a one-time notice (command feedback), not part of a message.
    notice: bool,
}

/// The VT100 interface state of one client.
pub struct Vt100Ui {
    screen: Screen,
    /// The window on screen, once drawn.
    channel: Option<ChannelId>,
    /// Pane rows from the top; fewer than the pane's height while it is not full.
    rows: VecDeque<RowRef>,
    /// The view follows new messages at the bottom.
    locked: bool,
    /// Messages from this sequence number on have not been considered yet.
    next_seq: u64,
    /// Lines to scroll at the next frame; negative scrolls back.
    pending_scroll: isize,
    /// Draw everything again at the next frame.
    force_redraw: bool,
    /// Names hidden, hard-wrapped text (`/v`, CTRL-N).
    pub view_mode: bool,
    /// First character of the input line that is visible (horizontal scrolling).
    lineview: usize,
    /// The screen is too small; the red page is up.
    too_small: bool,
    /// How far PgUp and PgDn scroll (`/ss`).
    scroll_step: ScrollStep,
    /// The input line is above the status bar (the client echoes locally).
    swapped: bool,
    /// The status bar is only refreshed on clock ticks (slow links).
    pub defer_status: bool,
    /// A clock tick asked for this frame.
    pub tick_due: bool,
    /// On a slow link: at most this many new lines are pushed in one frame; older ones that
    /// arrived meanwhile scroll past unseen (PgUp shows them), so the newest is shown soon.
    pub line_budget: Option<usize>,
    /// The next frame only updates the input line (the echo of a keystroke on a slow link);
    /// the pane and status bar wait for the next full frame.
    pub input_only: bool,
    /// The last frame was such an input-line-only frame (a window switch or scroll is not).
    pub rendered_input_only: bool,
    /// The last frame that was not input-line-only rewrote the input row.
    pub frame_drew_input: bool,
    /// How many of the view's notices the last frame showed.
    pub notices_shown: usize,
    /// The last frame left nothing for a later one (no history missed, no scroll or redraw
    /// pending, no notice, no nick list held back, the status bar current, its clock in UTC):
    /// a clock tick with nothing else new then needs no view of the world
    /// ([`Vt100Ui::render_clock`]).
    clock_only_ready: bool,
    /// The pane's rows skip messages: a slow link was sent only the newest lines of a burst,
    /// so the rows above them are not where the history continues. Scrolling back then draws
    /// the page above the newest line anew instead of revealing lines above the top row.
    pane_gap: bool,
    /// The linemode "please press ENTER" banner is on screen.
    banner_shown: bool,
    /// A line-buffered client holds the answer to a size probe until Enter is pressed; the
    /// input line says so meanwhile (r0c's linemode notice).
    pub awaiting_enter: bool,
    /// This client's clock steps this long (microseconds) after the UTC clock's 5-second
    /// steps, when its tick comes ([`clock_offset`]).
    clock_offset_micros: i64,
    /// This frame missed history it needs to draw the whole pane: the next frame draws it
    /// again, once the session has it.
    redo_pane: bool,
    /// The search result shown by `/g rN`: its channel, message and the words hilighted in
    /// it (at view time, on this screen only).
    found: Option<(ChannelId, u64, Vec<String>)>,
    /// `/g rN` to a window that is not on screen yet: when the next frame switches to this
    /// channel, it keeps the rows `goto` set instead of showing the newest messages.
    goto_on_switch: Option<ChannelId>,
}

// `/ss` parses the scroll step without the client, so it lives with the layout.
pub use crate::term::layout::ScrollStep;

impl Vt100Ui {
    /// An interface of `cols` × `rows` with nothing drawn yet; `swapped` puts the input line
    /// above the status bar, for clients that echo locally.
    pub fn new(cols: usize, rows: usize, swapped: bool) -> Vt100Ui {
        Vt100Ui {
            swapped,
            awaiting_enter: false,
            defer_status: false,
            tick_due: false,
            line_budget: None,
            notices_shown: 0,
            input_only: false,
            rendered_input_only: false,
            frame_drew_input: false,
            clock_only_ready: false,
            banner_shown: false,
            clock_offset_micros: 0,
            redo_pane: false,
            found: None,
            goto_on_switch: None,
            pane_gap: false,
            screen: Screen::new(cols, rows, swapped),
            channel: None,
            rows: VecDeque::new(),
            locked: true,
            next_seq: 0,
            pending_scroll: 0,
            force_redraw: true,
            view_mode: false,
            lineview: 0,
            too_small: false,
            scroll_step: ScrollStep::Percent(100.0),
        }
    }

    /// The interface with its clock stepping `offset` after the UTC clock's 5-second steps,
    /// as the client's clock ticks ([`clock_offset`]).
    pub fn with_clock_offset(mut self, offset: std::time::Duration) -> Vt100Ui {
        self.clock_offset_micros = i64::try_from(offset.as_micros()).unwrap_or(0);
        self
    }

    /// Whether frames push their first line with r0c's push form (the raw port's clients) or
    /// the shorter one ([`Screen::set_r0c_push`]).
    pub fn with_r0c_push(mut self, on: bool) -> Vt100Ui {
        self.set_r0c_push(on);
        self
    }

    /// [`Vt100Ui::with_r0c_push`] on an interface already in use.
    pub fn set_r0c_push(&mut self, on: bool) {
        self.screen.set_r0c_push(on);
    }

    /// Applies a new terminal size; the next frame redraws everything.
    pub fn resize(&mut self, cols: usize, rows: usize) {
        if self.screen.size() != (cols, rows) {
            let r0c_push = self.screen.r0c_push();
            self.screen = Screen::new(cols, rows, self.swapped);
            self.screen.set_r0c_push(r0c_push);
            self.force_redraw = true;
        }
    }

    /// Where the client's cursor is, as far as we know.
    pub fn cursor(&self) -> Option<(usize, usize)> {
        self.screen.cursor()
    }

    /// After an echo overtook the last frame: if that frame drew the input row it showed the
    /// line as it was before the echo, so the row is repainted; either way the frame left the
    /// cursor where the echo started, so the cursor is put back.
    pub fn after_overtaken_frame(&mut self) {
        if self.frame_drew_input {
            self.screen.forget_input_line();
        } else {
            self.screen.forget_cursor();
        }
    }

    /// Draws the input line again at the next frame: a line-buffered terminal printed its
    /// answer to a size probe over it (`^[[24;80R`), as it echoes everything that is typed.
    pub fn repaint_input_line(&mut self) {
        self.screen.forget_input_line();
    }

    /// What gives the client its whole screen back as it leaves. Frames release the pane's
    /// scroll region themselves; this is a last reset of it that costs 8 bytes.
    pub fn release_region(&self) -> &'static str {
        self.screen.release_region()
    }

    /// Draws everything again at the next frame (CTRL-L, `/r`).
    pub fn redraw(&mut self) {
        self.screen.invalidate();
        self.force_redraw = true;
    }

    /// Scrolls a page (`pages` = -1 up, +1 down) at the next frame.
    pub fn scroll_pages(&mut self, pages: isize) {
        let (_, rows) = self.screen.size();
        let step = isize::try_from(self.scroll_step.lines(rows)).unwrap_or(isize::MAX);
        self.pending_scroll = self
            .pending_scroll
            .saturating_add(pages.saturating_mul(step));
    }

    /// Shows the window from message `seq` on (`/g`); if that cannot fill the pane, the view
    /// snaps to the bottom.
    pub fn goto(&mut self, seq: u64) {
        self.rows = VecDeque::from([RowRef {
            seq,
            line: 0,
            lines: 1,
            unread: false,
            hilight: false,
            unix_micros: 0,
            notice: false,
        }]);
        self.locked = false;
        self.force_redraw = true;
    }

    /// Shows message `seq` of `channel` (the window now active) from the top of the pane,
    /// with `words` hilighted in it (`/g rN`).
    pub fn goto_found(&mut self, channel: ChannelId, seq: u64, words: &[String]) {
        self.goto(seq);
        self.found = Some((channel, seq, words.to_vec()));
        self.goto_on_switch = (self.channel != Some(channel)).then_some(channel);
    }

    /// Sets how far PgUp and PgDn scroll (`/ss`).
    pub fn set_scroll_step(&mut self, step: ScrollStep) {
        self.scroll_step = step;
    }

    /// Back to the newest messages (`/l`).
    pub fn to_latest(&mut self) {
        self.locked = true;
        self.force_redraw = true;
    }

    /// Messages from this sequence number on are new to this interface.
    pub fn since(&self) -> Option<u64> {
        Some(self.next_seq)
    }

    /// The first and last rows that show messages (not notices).
    fn message_rows_bounds(&self) -> Option<(RowRef, RowRef)> {
        let first = *self.rows.iter().find(|r| !r.notice)?;
        let last = *self.rows.iter().rev().find(|r| !r.notice)?;
        Some((first, last))
    }

    /// The sequence number up to which the user has now seen the active window.
    pub fn seen_upto(&self) -> Option<(ChannelId, u64)> {
        let channel = self.channel?;
        let (_, bottom) = self.message_rows_bounds()?;
        Some((
            channel,
            if self.locked {
                self.next_seq
            } else {
                bottom.seq + 1
            },
        ))
    }

    /// The messages in memory the next frame may read, as reads of the world's history
    /// (`World::memory_messages`): none while the view follows new messages and nothing asks
    /// for more (the frame draws only the view's new messages), else the newest page and the
    /// pages around the rows on screen, as far as the pending scroll reaches. A frame that
    /// reads beyond records it, and the session copies that out and renders again.
    pub fn history_wants(&self, view: &View) -> Vec<(Around, usize)> {
        let pane_rows = self.screen.pane_rows();
        let scroll = self.pending_scroll.unsigned_abs();
        let (cols, rows) = self.screen.size();
        if cols < MIN_COLS || rows < MIN_ROWS {
            return Vec::new();
        }
        // What makes `render` draw the whole pane (`full_pane`), scroll, or put notices below
        // rows it patched; without any of them a frame reads no history.
        let full = self.channel != Some(view.channel)
            || view.redraw
            || self.force_redraw
            || self.screen.needs_redraw()
            || self.too_small
            || (self.awaiting_enter && !self.banner_shown);
        let new = &view.messages[view.messages.partition_point(|m| m.seq < self.next_seq)..];
        let trimmed = self.locked
            && self.line_budget.is_none()
            && new.first().is_some_and(|m| m.seq > self.next_seq);
        if !full && self.pending_scroll == 0 && view.notices.is_empty() && !trimmed {
            return Vec::new();
        }
        let mut wants = vec![(Around::Before(view.next_seq), pane_rows + 1)];
        if self.channel == Some(view.channel)
            && let Some((top, bottom)) = self.message_rows_bounds()
        {
            let back = scroll.saturating_add(pane_rows).saturating_add(1);
            let ahead = scroll.saturating_add(2 * pane_rows).saturating_add(2);
            wants.extend([
                (Around::Before(top.seq), back),
                (Around::From(top.seq), ahead),
                (Around::Before(bottom.seq), back),
                (Around::From(bottom.seq), ahead),
            ]);
        }
        wants
    }

    /// Renders a frame for `view` and the input line.
    pub fn render(&mut self, view: &View, backlog: &mut Backlog<'_>, line: &LineEditor) -> String {
        let (cols, rows) = self.screen.size();
        let mut out = String::new();
        if cols < MIN_COLS || rows < MIN_ROWS {
            // Once per size (a resize or CTRL-L draws it again), not once per event: a
            // resize brings a window-size report, a probe answer and more.
            if self.too_small && !std::mem::take(&mut self.force_redraw) {
                return out;
            }
            self.force_redraw = false;
            let message = TOO_SMALL
                .iter()
                .find(|m| m.len() <= cols)
                .copied()
                .unwrap_or("x");
            let _ = write!(
                out,
                "\x1b[H\x1b[1;37;41m\x1b[J\x1b[{};{}H{message}\x1b[0m",
                rows / 3 + 1,
                cols.saturating_sub(message.len()) / 2 + 1
            );
            self.too_small = true;
            return out;
        }
        if self.too_small {
            self.too_small = false;
            out.push_str("\x1b[H\x1b[J");
            self.redraw();
        }
        if self.awaiting_enter && !std::mem::replace(&mut self.banner_shown, true) {
            // r0c's linemode notice goes on a cleared screen, and this frame then draws the
            // whole screen over it, so it never hides what the pane shows; the input line keeps
            // saying it until the answer arrives.
            out.push_str(
                "\x1b[H\x1b[J\r\n   *** please press ENTER  (due to linemode) ***\r\n\r\n",
            );
            self.redraw();
        }
        if !self.awaiting_enter {
            self.banner_shown = false;
        }
        let switched = self.channel != Some(view.channel);
        let layout = Layout::for_width(cols, view.kind == ChannelKind::Status);
        let full = switched || view.redraw || self.force_redraw || self.screen.needs_redraw();
        let input_only = std::mem::take(&mut self.input_only) && !full && self.pending_scroll == 0;
        self.rendered_input_only = input_only;
        // A read of history this frame was not given defers what needs it (see `Backlog`).
        let misses = backlog.misses();
        let pane = if input_only {
            PaneChange::Unchanged
        } else if full {
            self.channel = Some(view.channel);
            if switched {
                // A `/g rN` into this window keeps the rows it set; any other switch shows
                // the newest messages.
                self.locked = self.goto_on_switch.take() != Some(view.channel);
                self.pending_scroll = 0;
            }
            // A scroll asked for together with a redraw (a line-buffered client's PgUp arrives
            // with its Enter, which redraws) moves the view first; the redraw then shows it.
            let amount = std::mem::take(&mut self.pending_scroll);
            if amount != 0 {
                let _ = self.scroll(backlog, view, &layout, amount);
            }
            self.full_pane(backlog, view, &layout)
        } else if self.pending_scroll != 0 {
            let amount = std::mem::take(&mut self.pending_scroll);
            self.scroll(backlog, view, &layout, amount)
        } else if self.locked {
            self.append_new(backlog, view, &layout)
        } else {
            self.mark_read_rows(view, &layout)
        };
        self.force_redraw = false;
        // Notices wait for a frame that found its history: they are shown once.
        let pane = if input_only || backlog.misses() > misses {
            pane
        } else {
            self.with_notices(backlog, view, &layout, pane)
        };
        if std::mem::take(&mut self.redo_pane) {
            self.force_redraw = true;
        }
        if self.locked && !input_only {
            self.next_seq = view.next_seq;
        }
        // On links of 3000 bps and less the status bar waits for the clock tick instead of
        // riding along with every chat update (r0c's saving for slow modems).
        // A full redraw (window switch, resize) always shows the current status bar.
        let mut status_current = false;
        // The bar the client has is the screen's: no second copy is kept per client.
        let status = match (
            self.screen.status(),
            self.defer_status && !std::mem::take(&mut self.tick_due),
        ) {
            (Some(last), true) if !full => last.to_owned(),
            (Some(last), _) if input_only => last.to_owned(),
            (last, _) => {
                let fresh = self.status_bar(view, cols);
                status_current = !last.is_some_and(|last| holds_nicklist(&fresh, last, full));
                hold_nicklist(fresh, last, full)
            }
        };
        self.tick_due = false;
        self.clock_only_ready = status_current
            && !self.defer_status
            && self.line_budget.is_none()
            && !self.awaiting_enter
            && !self.force_redraw
            && self.pending_scroll == 0
            && backlog.misses() == misses
            && view.notices.is_empty()
            && view.prefs.zone.is_none();
        let (prompt_nick, mut input, mut cursor_col) = self.input_line(&view.nick, line, cols);
        if self.awaiting_enter && line.chars().is_empty() {
            input = "\x1b[7m please press ENTER  (due to linemode) \x1b[0m".to_string();
            cursor_col = prompt_nick.chars().count() + 3;
        }
        let frame = Frame {
            may_save_cursor: self.line_budget.is_none(),
            topic: &text::strip_formatting(&view.topic),
            pane,
            status: &status,
            input: &input,
            prompt_nick: &prompt_nick,
            cursor_col,
        };
        self.screen.render(&frame, &mut out);
        if !input_only {
            self.frame_drew_input = self.screen.drew_input();
        }
        out
    }

    /// Adds the view's one-line notices (command feedback) at the bottom of the pane.
    fn with_notices(
        &mut self,
        backlog: &mut Backlog<'_>,
        view: &View,
        layout: &Layout,
        pane: PaneChange,
    ) -> PaneChange {
        if view.notices.is_empty() {
            return pane;
        }
        self.notices_shown = view.notices.len();
        let (cols, _) = self.screen.size();
        let width = cols.saturating_sub(1).max(8);
        let lines: Vec<PaneLine> = view
            .notices
            .iter()
            .flat_map(|notice| {
                // In the colours of its author, as in the status window: `-err-` bold yellow,
                // `-nfo-` (and anything else) green.
                let sgr = if notice.starts_with(crate::world::AUTHOR_ERROR) {
                    "\x1b[1;33m"
                } else {
                    "\x1b[0;32m"
                };
                let wrapped = crate::term::layout::wrap(notice, width, width.saturating_sub(2));
                wrapped.into_iter().enumerate().map(move |(i, line)| {
                    let line = if i == 0 { line } else { format!("  {line}") };
                    PaneLine::from(format!("{sgr}{line}\x1b[0m"))
                })
            })
            .collect();
        let pane = match pane {
            PaneChange::Patch(_) | PaneChange::Prepend(_) => {
                self.locked = true;
                self.full_pane(backlog, view, layout)
            }
            other => other,
        };
        let marker = self.rows.back().copied().map_or(
            RowRef {
                seq: 0,
                line: 0,
                lines: 1,
                unread: false,
                hilight: false,
                unix_micros: 0,
                notice: true,
            },
            |row| RowRef {
                notice: true,
                unread: false,
                ..row
            },
        );
        let pane_rows = self.screen.pane_rows();
        for _ in &lines {
            self.rows.push_back(marker);
            if self.rows.len() > pane_rows {
                self.rows.pop_front();
            }
        }
        match pane {
            PaneChange::Redraw(mut all) => {
                all.extend(lines);
                PaneChange::Redraw(all)
            }
            PaneChange::Append(mut new) => {
                new.extend(lines);
                PaneChange::Append(new)
            }
            _ => PaneChange::Append(lines),
        }
    }

    /// Lays out one message as pane lines with their row references.
    fn message_rows(
        &self,
        view: &View,
        layout: &Layout,
        message: &Message,
    ) -> Vec<(RowRef, PaneLine)> {
        let (cols, _) = self.screen.size();
        let own = message.author == view.nick;
        let hilight = !own
            && !message.author.starts_with('-')
            && message.mentions(&view.nick, view.prefs.at_all);
        let unread = !own && message.seq >= view.read_upto;
        let style = MessageStyle {
            margins: view.prefs.margins,
            colored_nicks: view.prefs.colored_nicks,
            view_mode: self.view_mode,
            unread,
            hilight,
        };
        // `/tz`: the time is shifted before it is formatted, so r0c's formats stay as they are.
        let shown_micros = shown_micros(view.prefs.zone.as_ref(), message.unix_micros);
        let shift = shown_micros.saturating_sub(message.unix_micros) / 1_000_000;
        let key = LinesKey {
            width: cols,
            status_window: view.kind == ChannelKind::Status,
            style,
            shift_seconds: i32::try_from(shift).unwrap_or(0),
        };
        debug_assert_eq!(key.layout(), *layout);
        let mut lines =
            message
                .lines
                .lines(&key, shown_micros, &message.shown_author(), &message.text);
        // The message `/g rN` went to shows the words searched for in reverse video.
        if let Some((_, _, words)) = self
            .found
            .as_ref()
            .filter(|(channel, seq, _)| *channel == view.channel && *seq == message.seq)
        {
            lines = lines
                .iter()
                .map(|line| hilight_words(line, words))
                .collect();
        }
        // Lines drawn before the message's own, with no unread markup (no timestamp of the
        // message to repaint on them): the day-change line at the reader's midnight (`/tz`),
        // then the marker line of a return before the first unread message.
        let mut prefix: Vec<String> = Vec::new();
        if let Some(date) = message.local_day {
            prefix.extend(day_change_lines(&key, date));
        }
        if let Some(marker) = view.marker_line_before(message.seq) {
            let marker: String = marker.chars().take(cols).collect();
            prefix.push(format!("\x1b[1;33m{marker}\x1b[0m"));
        }
        let prefixed = prefix.len();
        if prefixed > 0 {
            lines = prefix.into_iter().chain(lines.iter().cloned()).collect();
        }
        let count = lines.len();
        (0..count)
            .map(|line| {
                let is_marker = line < prefixed;
                let row = RowRef {
                    seq: message.seq,
                    line,
                    lines: count,
                    unread: unread && !is_marker,
                    hilight: hilight && !is_marker,
                    unix_micros: shown_micros,
                    notice: false,
                };
                (row, PaneLine::shared(lines.clone(), line))
            })
            .collect()
    }

    fn rows_of(
        &self,
        view: &View,
        layout: &Layout,
        messages: &[Arc<Message>],
    ) -> Vec<(RowRef, PaneLine)> {
        messages
            .iter()
            .flat_map(|m| self.message_rows(view, layout, m))
            .collect()
    }

    /// Fills the pane: the newest lines when locked, else from the remembered top row down.
    fn full_pane(&mut self, backlog: &mut Backlog<'_>, view: &View, layout: &Layout) -> PaneChange {
        let pane_rows = self.screen.pane_rows();
        if !self.locked
            && let Some((top, _)) = self.message_rows_bounds()
        {
            let misses = backlog.misses();
            let messages = backlog.read(Around::From(top.seq), pane_rows + 1);
            if backlog.misses() > misses {
                // Drawn when the history below the top row is there.
                self.redo_pane = true;
                return PaneChange::Unchanged;
            }
            let lines: Vec<(RowRef, PaneLine)> = self
                .rows_of(view, layout, &messages)
                .into_iter()
                .skip_while(|(row, _)| row.seq == top.seq && row.line < top.line)
                .take(pane_rows)
                .collect();
            let reaches_end = lines
                .last()
                .is_some_and(|(r, _)| r.seq + 1 >= view.next_seq && r.line + 1 == r.lines);
            if lines.len() == pane_rows && !reaches_end {
                return self.set_rows(lines);
            }
            self.locked = true;
        }
        let misses = backlog.misses();
        let messages = backlog.read(Around::Before(view.next_seq), pane_rows);
        if backlog.misses() > misses {
            // The newest lines now, the whole pane once the rest is there.
            self.redo_pane = true;
        }
        let mut lines = self.rows_of(view, layout, &messages);
        let skip = lines.len().saturating_sub(pane_rows);
        lines.drain(..skip);
        self.set_rows(lines)
    }

    fn set_rows(&mut self, lines: Vec<(RowRef, PaneLine)>) -> PaneChange {
        self.pane_gap = false;
        self.rows = lines.iter().map(|(row, _)| *row).collect();
        PaneChange::Redraw(lines.into_iter().map(|(_, text)| text).collect())
    }

    /// New messages at the bottom of a locked view.
    fn append_new(
        &mut self,
        backlog: &mut Backlog<'_>,
        view: &View,
        layout: &Layout,
    ) -> PaneChange {
        // The view's messages are in sequence order.
        let new = &view.messages[view.messages.partition_point(|m| m.seq < self.next_seq)..];
        if let Some(refolded) = &view.refolded
            && self
                .rows
                .iter()
                .any(|row| row.seq == refolded.seq && !row.notice)
        {
            // A folded join line on screen lists more names now: repainted in place when
            // it keeps its number of lines and nothing else is new, else with the pane.
            match self.repaint_message(view, layout, refolded) {
                Some(patch) if new.is_empty() => return patch,
                _ => return self.full_pane(backlog, view, layout),
            }
        }
        if new.is_empty() {
            return self.mark_read_rows(view, layout);
        }
        let pane_rows = self.screen.pane_rows();
        if self.line_budget.is_none() && new.first().is_some_and(|m| m.seq > self.next_seq) {
            // History was trimmed past what this client last saw: draw the pane anew.
            return self.full_pane(backlog, view, layout);
        }
        // Every message takes a line at least, so only the newest that fit in the pane (or
        // in a slow link's line budget) can be on screen once this frame is shown: the rest
        // are not even laid out.
        let keep = self.line_budget.map_or(pane_rows, |budget| budget.max(1));
        let shown = &new[new.len().saturating_sub(keep)..];
        let mut lines = self.rows_of(view, layout, shown);
        if shown.len() < new.len() || lines.len() > keep {
            self.pane_gap = true;
        }
        if lines.len() > keep {
            // A slow link shows the newest lines now rather than all of them much later, and
            // never a whole new pane for being behind: at 1200 bps that would take 15 s.
            // Lines that would scroll out of the pane within this frame are never sent.
            lines.drain(..lines.len() - keep);
        }
        if self.line_budget.is_none() && lines.len() == pane_rows {
            // The whole pane is new: writing its rows in place costs less than pushing.
            return self.set_rows(lines);
        }
        // Room for a pane of rows and no more (the pane has at least one row, so a row goes
        // out before the next comes in): grown by doubling, every idle client's deque kept up
        // to twice the room it needs.
        self.rows
            .reserve_exact(pane_rows.saturating_sub(self.rows.len()));
        for (row, _) in &lines {
            if self.rows.len() >= pane_rows {
                self.rows.pop_front();
            }
            self.rows.push_back(*row);
        }
        PaneChange::Append(lines.into_iter().map(|(_, text)| text).collect())
    }

    /// Scrolls by `amount` lines (negative: back in time).
    fn scroll(
        &mut self,
        backlog: &mut Backlog<'_>,
        view: &View,
        layout: &Layout,
        amount: isize,
    ) -> PaneChange {
        let pane_rows = self.screen.pane_rows();
        let want = amount.unsigned_abs();
        if amount < 0 && self.pane_gap {
            return self.page_above_gap(backlog, view, layout, want);
        }
        if amount < 0 {
            let Some((top, _)) = self.message_rows_bounds() else {
                return PaneChange::Unchanged;
            };
            let misses = backlog.misses();
            let older = backlog.read(Around::Before(top.seq), want);
            let current = backlog.read(Around::From(top.seq), 1);
            if backlog.misses() > misses {
                // Scrolled once the page is there.
                self.pending_scroll = self.pending_scroll.saturating_add(amount);
                return PaneChange::Unchanged;
            }
            let mut before: Vec<(RowRef, PaneLine)> = self.rows_of(view, layout, &older);
            before.extend(
                self.rows_of(view, layout, &current)
                    .into_iter()
                    .take(top.line),
            );
            let revealed: Vec<(RowRef, PaneLine)> = before.into_iter().rev().take(want).collect();
            if revealed.is_empty() {
                return PaneChange::Unchanged;
            }
            self.locked = false;
            for (row, _) in &revealed {
                self.rows.push_front(*row);
            }
            self.rows.truncate(pane_rows);
            PaneChange::Prepend(revealed.into_iter().map(|(_, text)| text).collect())
        } else {
            if self.locked {
                return PaneChange::Unchanged;
            }
            let Some((_, bottom)) = self.message_rows_bounds() else {
                return PaneChange::Unchanged;
            };
            let misses = backlog.misses();
            let newer = backlog.read(Around::From(bottom.seq), want.saturating_add(1));
            if backlog.misses() > misses {
                self.pending_scroll = self.pending_scroll.saturating_add(amount);
                return PaneChange::Unchanged;
            }
            let after: Vec<(RowRef, PaneLine)> = self
                .rows_of(view, layout, &newer)
                .into_iter()
                .skip_while(|(row, _)| {
                    row.seq < bottom.seq || (row.seq == bottom.seq && row.line <= bottom.line)
                })
                .take(want)
                .collect();
            let at_end = after
                .last()
                .is_none_or(|(r, _)| r.seq + 1 >= view.next_seq && r.line + 1 == r.lines);
            for (row, _) in &after {
                self.rows.push_back(*row);
                if self.rows.len() > pane_rows {
                    self.rows.pop_front();
                }
            }
            if at_end {
                self.locked = true;
            }
            PaneChange::Append(after.into_iter().map(|(_, text)| text).collect())
        }
    }

    /// Scrolls back from a pane with a gap (see `pane_gap`). Only the rows at the bottom that
    /// follow each other in the history were seen as a page, so the new page ends at the top
    /// of that run (one line of overlap, as between ordinary pages), at most `want` lines up,
    /// and is drawn whole: every line a slow link skipped is reached page by page. With no
    /// run at all, that is the page above the newest line.
    fn page_above_gap(
        &mut self,
        backlog: &mut Backlog<'_>,
        view: &View,
        layout: &Layout,
        want: usize,
    ) -> PaneChange {
        let Some((_, bottom)) = self.message_rows_bounds() else {
            return PaneChange::Unchanged;
        };
        let message_rows: Vec<RowRef> = self.rows.iter().filter(|r| !r.notice).copied().collect();
        let run = 1 + message_rows
            .windows(2)
            .rev()
            .take_while(|pair| follows(pair[0], pair[1]))
            .count();
        let back = want.min(run - 1);
        let pane_rows = self.screen.pane_rows();
        let count = back.saturating_add(pane_rows);
        let misses = backlog.misses();
        let mut messages = backlog.read(Around::Before(bottom.seq), count);
        messages.extend(
            backlog
                .read(Around::From(bottom.seq), 1)
                .into_iter()
                .filter(|m| m.seq == bottom.seq),
        );
        if backlog.misses() > misses {
            // Scrolled once the page is there.
            let back = isize::try_from(want).unwrap_or(isize::MAX);
            self.pending_scroll = self.pending_scroll.saturating_sub(back);
            return PaneChange::Unchanged;
        }
        let mut lines = self.rows_of(view, layout, &messages);
        lines.retain(|(row, _)| row.seq < bottom.seq || row.line <= bottom.line);
        // Scrolling stops at the first page of the window.
        let end = lines
            .len()
            .saturating_sub(back)
            .max(pane_rows.min(lines.len()));
        lines.truncate(end);
        let start = end.saturating_sub(pane_rows);
        lines.drain(..start);
        self.locked = lines
            .last()
            .is_some_and(|(r, _)| r.seq + 1 >= view.next_seq && r.line + 1 == r.lines);
        self.set_rows(lines)
    }

    /// The rows showing `message` rewritten with its current text, if it takes as many lines
    /// as when they were drawn (else `None`: the caller draws the pane anew).
    fn repaint_message(
        &mut self,
        view: &View,
        layout: &Layout,
        message: &Message,
    ) -> Option<PaneChange> {
        let lines = self.message_rows(view, layout, message);
        let mut patches = Vec::new();
        for (index, row) in self.rows.iter_mut().enumerate() {
            if row.seq != message.seq || row.notice {
                continue;
            }
            let (new_row, text) = lines.get(row.line)?;
            if new_row.lines != row.lines {
                return None;
            }
            *row = *new_row;
            // Erased first: a line skips the blanks of its nick column with the cursor.
            patches.push((index, format!("\x1b[K{}", text.as_str())));
        }
        Some(PaneChange::Patch(patches))
    }

    /// Repaints the timestamps of rows drawn as unread that the user has read since.
    fn mark_read_rows(&mut self, view: &View, layout: &Layout) -> PaneChange {
        let mut patches = Vec::new();
        let mut needs_redraw = false;
        for (index, row) in self.rows.iter_mut().enumerate() {
            if row.unread && row.seq < view.read_upto {
                row.unread = false;
                match (layout.timestamp, row.line == 0 && !self.view_mode) {
                    (Some(format), true) => {
                        let time = jiff::Timestamp::from_microsecond(row.unix_micros)
                            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                            .strftime(format)
                            .to_string();
                        let patch = if row.hilight {
                            format!("\x1b[1;35m{time}\x1b[0m ")
                        } else {
                            format!("{time} ")
                        };
                        patches.push((index, patch));
                    }
                    (None, true) => needs_redraw = true,
                    _ => {}
                }
            }
        }
        if needs_redraw {
            self.force_redraw = true;
        }
        if patches.is_empty() {
            PaneChange::Unchanged
        } else {
            PaneChange::Patch(patches)
        }
    }

    /// The second of the day the status-bar clock shows now, in `zone` (UTC without one): the
    /// last 5-second step this client's tick has come for. A message drawn in between does not
    /// move it (r0c re-sent its status bar with nearly every message only because the clock's
    /// second had changed, UI spec §12 bug 9): the clock moves on its ticks alone.
    fn clock_step(&self, zone: Option<&crate::term::zone::Zone>) -> i64 {
        let micros = crate::world::now_micros();
        let ticked = shown_micros(zone, micros.saturating_sub(self.clock_offset_micros))
            .div_euclid(1_000_000);
        (ticked - ticked.rem_euclid(5)).rem_euclid(86_400)
    }

    /// The frame of a clock tick that finds nothing else new since the last frame: the status
    /// bar last drawn with the clock moved on, written between DECSC and DECRC, without a view
    /// of the world (an idle client's tick costs no world lock). `None` when the last frame
    /// left something for a later one ([`Vt100Ui::clock_only_ready`]): a full frame is due.
    pub fn render_clock(&mut self) -> Option<String> {
        if !self.clock_only_ready {
            return None;
        }
        let status = with_clock(self.screen.status()?, self.clock_step(None))?;
        let mut out = String::new();
        if !self
            .screen
            .render_status_only(&status, self.line_budget.is_none(), &mut out)
        {
            return None;
        }
        self.frame_drew_input = false;
        Some(out)
    }

    /// The status bar of §1.2: clock, window, channel and count, `+K`, `h:`, `a:`, nicks.
    fn status_bar(&self, view: &View, cols: usize) -> String {
        // The clock moves in 5-second steps, in time with this client's tick, so frames in
        // between (a message drawn among them) never re-send the status bar just because a
        // second passed; a frame that redraws the bar for another reason shows the current step.
        // UTC needs no time zone lookup: the time of day is the seconds since midnight.
        let step = self.clock_step(view.prefs.zone.as_ref());
        let mut bar = String::with_capacity(cols + 64);
        let _ = write!(
            bar,
            "{STATUS_SGR}{:02}{:02}{:02}   {}: \x1b[1;37m{}\x1b[22m",
            step / 3600,
            step / 60 % 60,
            step % 60,
            view.window_index,
            view.label
        );
        if let Some(count) = view.member_count {
            let _ = write!(bar, "({count})");
        }
        if !self.locked
            && let Some((_, bottom)) = self.message_rows_bounds()
        {
            let below = view.next_seq.saturating_sub(bottom.seq + 1)
                + u64::from(bottom.line + 1 < bottom.lines);
            if below > 0 {
                let _ = write!(bar, "  \x1b[1;36m+{below}\x1b[22;39m");
            }
        }
        // The active window is listed only while the user is scrolled up in it (r0c:
        // `+33 h:1 a:0,1`); at the bottom its news is on screen.
        let mut activity = view.activity_windows.clone();
        let mut hilights = view.hilight_windows.clone();
        if !self.locked {
            for (list, unread) in [
                (&mut activity, view.next_seq > view.read_upto),
                (&mut hilights, view.active_hilight),
            ] {
                if unread && !list.contains(&view.window_index) {
                    list.push(view.window_index);
                    list.sort_unstable();
                }
            }
        }
        if !hilights.is_empty() {
            let _ = write!(
                bar,
                "   \x1b[33mh:\x1b[1m{}\x1b[22;39m",
                window_list(&hilights)
            );
        }
        if !activity.is_empty() {
            let _ = write!(
                bar,
                "   \x1b[32ma:\x1b[1m{}\x1b[22;39m",
                window_list(&activity)
            );
        }
        if !view.nicklist.is_empty() {
            let _ = write!(bar, "{NICKLIST_SGR}   {}", view.nicklist);
        }
        truncate_styled(&bar, cols)
    }

    /// The prompt nick, the visible input text and the cursor column (§1.3, §4.5): the text
    /// scrolls sideways so the cursor keeps a third of the field to its left and the right half
    /// is never left empty; formatting keys show as K/B/O with their effect.
    fn input_line(
        &mut self,
        nick: &str,
        line: &LineEditor,
        cols: usize,
    ) -> (String, String, usize) {
        let nick_len = nick.chars().count().min(cols / 4);
        let prompt_nick: String = nick.chars().take(nick_len).collect();
        // The last column stays empty so the terminal never wraps.
        let free = cols.saturating_sub(nick_len + 3).max(1);
        let shown = line.shown_chars();
        let chars = shown.as_slice();
        let columns = preview_columns(chars);
        let cursor = line.cursor().min(chars.len());
        let total = columns.last().copied().unwrap_or(0);
        let between = |from: usize, to: usize| columns[to.max(from)] - columns[from.min(to)];
        if total < free {
            self.lineview = 0;
        } else {
            let third = free / 3;
            self.lineview = self.lineview.min(chars.len());
            if self.lineview > cursor || between(self.lineview, cursor) < third {
                let mut start = cursor;
                while start > 0 && between(start - 1, cursor) <= third {
                    start -= 1;
                }
                self.lineview = start;
            }
            while between(self.lineview, cursor) >= free {
                self.lineview += 1;
            }
            while self.lineview > 0
                && between(self.lineview - 1, chars.len()) < free
                && between(self.lineview, chars.len()) < free / 2
            {
                self.lineview -= 1;
            }
        }
        let visible = input_preview(chars, self.lineview, free);
        let cursor_col = nick_len + 3 + between(self.lineview, cursor);
        (prompt_nick, visible, cursor_col)
    }
}

/// Whether row `next` shows the line right after row `previous` in the window's history
/// (sequence numbers grow by one per message).
/// The day-change line for `date` as the server's is drawn (its author, its text, with the
/// time of the reader's midnight), laid out like the message it goes before.
fn day_change_lines(key: &LinesKey, date: jiff::civil::Date) -> Vec<String> {
    // Shown times are local times formatted as UTC: midnight of `date` "in UTC" reads 000000.
    let midnight = jiff::tz::TimeZone::UTC
        .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .map_or(0, |t| t.as_microsecond());
    let style = MessageStyle {
        unread: false,
        hilight: false,
        ..key.style
    };
    crate::term::style::message_lines(
        &key.layout(),
        key.width,
        midnight,
        crate::world::AUTHOR_BROADCAST,
        &crate::world::day_change_text(date),
        &style,
    )
}

/// Each client's clock ticks and steps up to this long after the UTC clock's 5-second steps.
pub const CLOCK_SPREAD_MILLIS: u64 = 1000;
/// The moments within [`CLOCK_SPREAD_MILLIS`] clients tick at: few, so the clients of one
/// moment still share the runtime's wake-up (a tick of its own for every client cost more
/// than the ticks' frames: measured, 2,000 idle clients, debug build).
const CLOCK_SLOTS: u64 = 10;

/// How long after the UTC clock's 5-second steps `user`'s clock ticks and steps: one of
/// [`CLOCK_SLOTS`] offsets within [`CLOCK_SPREAD_MILLIS`] (user ids follow each other, so
/// users spread evenly over them). Thousands of idle clients then tick in ten groups over a
/// second instead of all in the same moment, ahead of every chatting client's frame. The
/// clock still steps by 5 seconds, at most a second late, and only when the tick comes.
pub fn clock_offset(user: crate::world::UserId) -> std::time::Duration {
    let slot = user.wrapping_mul(7) % CLOCK_SLOTS;
    std::time::Duration::from_millis(slot * (CLOCK_SPREAD_MILLIS / CLOCK_SLOTS))
}

/// The status bar to show: `fresh`, unless only its nick list differs from `last`, the bar
/// the client has; that is then kept until something else in the bar changes, the clock at
/// the latest (its next 5-second step, or sooner with a message of a later second). In a busy
/// channel the speakers' order changes with nearly every frame, and redrawing the list each
/// time cost more bytes than the pushes of the messages themselves; held, it follows about
/// once a second under load, and at once for a lone message of a later second.
fn hold_nicklist(fresh: String, last: Option<&str>, full: bool) -> String {
    match last {
        Some(last) if holds_nicklist(&fresh, last, full) => last.to_owned(),
        _ => fresh,
    }
}

/// Whether [`hold_nicklist`] keeps `last` instead of `fresh`: only their nick lists differ and
/// the frame is not a full redraw.
fn holds_nicklist(fresh: &str, last: &str, full: bool) -> bool {
    if full || fresh == last {
        return false;
    }
    match (fresh.find(NICKLIST_SGR), last.find(NICKLIST_SGR)) {
        (Some(new_at), Some(old_at)) => fresh.get(..new_at) == last.get(..old_at),
        _ => false,
    }
}

/// `status` (a status bar as [`Vt100Ui::status_bar`] writes it) with its clock showing
/// `second` of the day; `None` if it does not start with the clock.
fn with_clock(status: &str, second: i64) -> Option<String> {
    let clock_end = STATUS_SGR.len() + 6;
    let digits = status.get(STATUS_SGR.len()..clock_end)?;
    if !status.starts_with(STATUS_SGR) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut bar = String::with_capacity(status.len());
    let _ = write!(
        bar,
        "{STATUS_SGR}{:02}{:02}{:02}{}",
        second / 3600,
        second / 60 % 60,
        second % 60,
        status.get(clock_end..)?
    );
    Some(bar)
}

fn follows(previous: RowRef, next: RowRef) -> bool {
    if next.seq == previous.seq {
        next.line == previous.line + 1
    } else {
        next.seq == previous.seq + 1 && next.line == 0 && previous.line + 1 == previous.lines
    }
}

/// Cuts a string with SGR codes after `cols` visible columns, keeping every code before the cut.
pub fn truncate_styled(text: &str, cols: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            out.push(c);
            for next in chars.by_ref() {
                out.push(next);
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        let w = char_width(c);
        if used + w > cols {
            break;
        }
        out.push(c);
        used += w;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(clock: &str, nicks: &str) -> String {
        format!("{STATUS_SGR}{clock}   1: \x1b[1;37m#g\x1b[22m(3){NICKLIST_SGR}   {nicks}")
    }

    #[test]
    fn the_nick_list_alone_waits_for_the_rest_of_the_bar_to_change() {
        let shown = bar("184040", "ann, bob");
        let reordered = bar("184040", "bob, ann");
        assert_eq!(hold_nicklist(reordered.clone(), Some(&shown), false), shown);
        // A full redraw, a bar with nothing drawn yet and a moved clock show the new list.
        assert_eq!(
            hold_nicklist(reordered.clone(), Some(&shown), true),
            reordered
        );
        assert_eq!(hold_nicklist(reordered.clone(), None, false), reordered);
        let later = bar("184041", "bob, ann");
        assert_eq!(hold_nicklist(later.clone(), Some(&shown), false), later);
        // A bar cut before its nick list (a narrow screen) is shown as it is.
        let cut = format!("{STATUS_SGR}184040   1: #g");
        assert_eq!(hold_nicklist(cut.clone(), Some(&shown), false), cut);
        // Only a bar held back is not current: the next clock tick then needs a full frame.
        assert!(holds_nicklist(&reordered, &shown, false));
        assert!(!holds_nicklist(&shown, &shown, false));
        assert!(!holds_nicklist(&later, &shown, false));
    }

    #[test]
    fn users_clocks_tick_spread_over_a_second() {
        let offsets: Vec<u64> = (1..=1000)
            .map(|user| clock_offset(user).as_millis() as u64)
            .collect();
        assert!(offsets.iter().all(|&ms| ms < CLOCK_SPREAD_MILLIS));
        // A thousand users in a row fall evenly into the ten moments, 100 ms apart.
        for slot in 0..CLOCK_SLOTS {
            let at = slot * (CLOCK_SPREAD_MILLIS / CLOCK_SLOTS);
            assert_eq!(
                offsets.iter().filter(|&&ms| ms == at).count(),
                100,
                "{at} ms"
            );
        }
        assert!(clock_offset(u64::MAX) < std::time::Duration::from_millis(CLOCK_SPREAD_MILLIS));
    }

    #[test]
    fn a_clock_tick_moves_only_the_clock_of_the_bar_last_drawn() {
        let shown = bar("184040", "ann, bob");
        assert_eq!(
            with_clock(&shown, 18 * 3600 + 40 * 60 + 45),
            Some(bar("184045", "ann, bob"))
        );
        assert_eq!(with_clock(&shown, 0), Some(bar("000000", "ann, bob")));
        // Anything that does not start with the clock is left to a full frame.
        assert_eq!(with_clock("184040   1: #g", 5), None);
        assert_eq!(with_clock(&format!("{STATUS_SGR}18404"), 5), None);
        assert_eq!(with_clock(&format!("{STATUS_SGR}1840x0   1: #g"), 5), None);
    }
}
