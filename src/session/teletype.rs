//! The teletype renderer (r0c's "no escape codes" mode): chat lines scroll by, and the last
//! line shows the status and the input with a `█` cursor.
//!
//! Scrolling back cannot move lines on a teletype, so PgUp (and CTRL-U, `/u`, `/g`) prints the
//! older page anew, as r0c does; PgDn prints the lines below the page, and once the newest line
//! is printed again the window follows new messages. While the user looks back, new messages
//! wait and the prompt counts them (`+K`). Sans-IO: history is read from the [`Backlog`] the
//! caller passes in (messages copied out of memory and pages read before), so tests drive it
//! with a plain list of messages; a page it misses is printed once it is there.

use std::sync::Arc;

use crate::history::Backlog;
use crate::session::vt::ScrollStep;
use crate::term::layout::{Layout, plain_lines};
use crate::term::lineedit::LineEditor;
use crate::term::width::str_width;
use crate::text;
use crate::world::{Around, ChannelId, ChannelKind, Message, View, window_list};

/// One printed line of a window's history: a line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LinePos {
    /// The message's sequence number.
    seq: u64,
    /// The line within the message, from 0.
    line: usize,
    /// How many lines the message has at this width.
    lines: usize,
}

impl LinePos {
    /// Whether this is the last line of the newest message before `next_seq`.
    fn is_end(&self, next_seq: u64) -> bool {
        self.seq + 1 >= next_seq && self.line + 1 >= self.lines
    }
}

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
    /// While the user looks back in history: the last line printed, the bottom of the page
    /// they read. `None` follows the newest messages.
    scrolled: Option<LinePos>,
    /// Lines to scroll at the next frame; negative scrolls back.
    pending_scroll: isize,
    /// The message `/g` asked to show at the top of the next page.
    goto: Option<u64>,
    /// How far PgUp and PgDn scroll (`/ss`).
    scroll_step: Option<ScrollStep>,
    /// The last frame missed history and printed nothing of the window (nor the notices).
    pub deferred: bool,
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

    /// Scrolls by pages (`pages` = -1 back, +1 forward) at the next frame, on a terminal of
    /// `rows` rows.
    pub fn scroll_pages(&mut self, pages: isize, rows: usize) {
        let step = self
            .scroll_step
            .unwrap_or(ScrollStep::Percent(100.0))
            .lines(rows);
        let step = isize::try_from(step).unwrap_or(isize::MAX);
        self.pending_scroll = self
            .pending_scroll
            .saturating_add(pages.saturating_mul(step));
    }

    /// Sets how far PgUp and PgDn scroll (`/ss`).
    pub fn set_scroll_step(&mut self, step: ScrollStep) {
        self.scroll_step = Some(step);
    }

    /// Prints the page that starts with message `seq` at the next frame (`/g`); if that page
    /// would reach the newest line, the window follows new messages again instead.
    pub fn goto(&mut self, seq: u64) {
        self.goto = Some(seq);
        self.pending_scroll = 0;
    }

    /// Back to the newest messages (`/l`).
    pub fn to_latest(&mut self) {
        self.scrolled = None;
        self.goto = None;
        self.pending_scroll = 0;
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

    /// The sequence number up to which the user has seen the window of the last frame: all of
    /// it while following new messages, else up to the bottom of the page printed last.
    pub fn seen_upto(&self, view: &View) -> u64 {
        match self.scrolled {
            Some(bottom) if !self.switched(view) => (bottom.seq + 1).min(view.next_seq),
            _ => view.next_seq,
        }
    }

    /// The messages in memory the next frame may read (see `Vt100Ui::history_wants`): none
    /// while it only prints new messages.
    pub fn history_wants(&self, view: &View, rows: usize) -> Vec<(Around, usize)> {
        let chat_rows = rows.saturating_sub(3).max(1);
        let scroll = self.pending_scroll.unsigned_abs();
        if self.goto.is_none()
            && self.pending_scroll == 0
            && !self.full_redraw
            && !self.switched(view)
            && !view.redraw
        {
            return Vec::new();
        }
        let mut wants = vec![(
            Around::Before(view.next_seq),
            scroll.saturating_add(chat_rows).saturating_add(1),
        )];
        if let Some(bottom) = self.scrolled.filter(|_| !self.switched(view)) {
            wants.extend([
                (
                    Around::Before(bottom.seq),
                    scroll.saturating_add(chat_rows).saturating_add(1),
                ),
                (Around::From(bottom.seq), scroll.saturating_add(2)),
            ]);
        }
        if let Some(seq) = self.goto {
            wants.push((Around::From(seq), chat_rows + 1));
        }
        wants
    }

    /// Renders new lines, notices and the prompt for a `cols` × `rows` terminal; `history`
    /// reads older lines of the window for scrolling and reprints.
    pub fn render(
        &mut self,
        view: &View,
        line: &LineEditor,
        cols: usize,
        rows: usize,
        history: &mut Backlog<'_>,
    ) -> String {
        let mut out = String::new();
        let chat_rows = rows.saturating_sub(3).max(1);
        let switched = self.switched(view);
        if switched {
            self.scrolled = None;
            self.pending_scroll = 0;
            self.goto = None;
        }
        let mut full = self.full_redraw || switched || view.redraw;
        let lines = Lines {
            layout: Layout::for_width(cols, view.kind == ChannelKind::Status),
            cols,
            view,
        };
        // A page printed anew (a reprint, or scrolling back), then lines printed below it.
        let mut page: Option<Vec<String>> = None;
        let mut below: Vec<String> = Vec::new();
        let mut caught_up = false;
        // A read of history this frame was not given defers what needs it: the session gets
        // the page and renders again.
        let misses = history.misses();
        let missed = |history: &Backlog<'_>| history.misses() > misses;
        let mut deferred = false;
        if let Some(seq) = self.goto.take() {
            let from = lines.from(history, seq, chat_rows);
            match from.last() {
                _ if missed(history) => {
                    self.goto = Some(seq);
                    deferred = true;
                }
                Some((bottom, _)) if from.len() == chat_rows && !bottom.is_end(view.next_seq) => {
                    self.scrolled = Some(*bottom);
                    page = Some(texts(from));
                }
                // The messages from there on fit on one page: show the newest instead.
                _ => {
                    self.scrolled = None;
                    full = true;
                }
            }
        }
        let amount = std::mem::take(&mut self.pending_scroll);
        if deferred {
            self.pending_scroll = amount;
        } else if page.is_none() && amount < 0 {
            let back = amount.unsigned_abs();
            let before = lines.before(history, self.scrolled, back.saturating_add(chat_rows));
            if missed(history) {
                self.pending_scroll = amount;
                deferred = true;
            }
            // Scrolling stops at the first page of the window.
            let bottom = before
                .len()
                .saturating_sub(back.saturating_add(1))
                .max(chat_rows.min(before.len()).saturating_sub(1));
            if !deferred && bottom + 1 < before.len() {
                self.scrolled = Some(before[bottom].0);
                let start = (bottom + 1).saturating_sub(chat_rows);
                page = Some(texts(before[start..=bottom].to_vec()));
            }
        } else if page.is_none()
            && amount > 0
            && let Some(bottom) = self.scrolled
        {
            let after = lines.after(history, bottom, amount.unsigned_abs());
            match after.last() {
                _ if missed(history) => {
                    self.pending_scroll = amount;
                    deferred = true;
                }
                Some((last, _)) if !last.is_end(view.next_seq) => self.scrolled = Some(*last),
                // The newest line is printed again: follow new messages from here on.
                _ => {
                    self.scrolled = None;
                    caught_up = true;
                }
            }
            if !deferred {
                below = texts(after);
            }
        }
        if deferred {
        } else if full && page.is_none() {
            let before = lines.before(history, self.scrolled, chat_rows);
            if missed(history) {
                deferred = true;
            } else {
                page = Some(texts(before));
            }
        } else if page.is_none() && self.scrolled.is_none() && !caught_up {
            // The view's messages are in sequence order.
            let new = &view.messages[view.messages.partition_point(|m| m.seq < self.next_seq)..];
            below.extend(new.iter().flat_map(|m| lines.of(m)).map(|(_, text)| text));
        }
        let mut notices = Vec::new();
        // Notices wait for a frame that prints the window: they are shown once.
        for notice in view.notices.iter().filter(|_| !deferred) {
            let width = cols.saturating_sub(2).max(8);
            let wrapped = crate::term::layout::wrap(notice, width, width.saturating_sub(2));
            notices.extend(wrapped.into_iter().enumerate().map(|(index, line)| {
                if index == 0 {
                    line
                } else {
                    format!("  {line}")
                }
            }));
        }
        let clear_prompt = format!("\r{}\r", " ".repeat(cols.saturating_sub(2)));
        let reprint = page.is_some();
        let mut printed = page.unwrap_or_default();
        printed.extend(below);
        printed.extend(notices);
        if reprint {
            out.push_str(&"\r\n".repeat(rows));
        }
        if !printed.is_empty() {
            out.push_str(&clear_prompt);
            for line in &printed {
                out.push('\r');
                out.push_str(line);
                let pad = cols.saturating_sub(2).saturating_sub(str_width(line));
                out.push_str(&" ".repeat(pad));
                out.push_str("\r\n");
            }
        }
        self.deferred = deferred;
        if deferred {
            // Nothing of the window was printed: the next frame starts where this one did.
            self.full_redraw |= full;
        } else {
            self.channel = Some(view.channel);
            self.next_seq = view.next_seq;
            self.full_redraw = false;
        }
        let prompt = prompt(view, self.scrolled, line, cols);
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

/// Lays out a window's messages as teletype lines.
struct Lines<'v> {
    layout: Layout,
    cols: usize,
    view: &'v View,
}

impl Lines<'_> {
    /// The lines of one message with their positions.
    fn of(&self, message: &Message) -> Vec<(LinePos, String)> {
        let texts = message_lines(&self.layout, self.cols, self.view, message);
        let lines = texts.len();
        texts
            .into_iter()
            .enumerate()
            .map(|(line, text)| {
                let pos = LinePos {
                    seq: message.seq,
                    line,
                    lines,
                };
                (pos, text)
            })
            .collect()
    }

    /// The lines of `messages` that are shown yet (the store committed them), in order.
    fn all(&self, messages: &[Arc<Message>]) -> Vec<(LinePos, String)> {
        messages
            .iter()
            .filter(|m| m.seq < self.view.next_seq)
            .flat_map(|m| self.of(m))
            .collect()
    }

    /// Up to `count` lines ending with `bottom` (the newest line when `None`).
    fn before(
        &self,
        history: &mut Backlog<'_>,
        bottom: Option<LinePos>,
        count: usize,
    ) -> Vec<(LinePos, String)> {
        let end = bottom.map_or(self.view.next_seq, |b| b.seq);
        let mut messages = history.read(Around::Before(end), count);
        if let Some(bottom) = bottom {
            messages.extend(
                history
                    .read(Around::From(bottom.seq), 1)
                    .into_iter()
                    .filter(|m| m.seq == bottom.seq),
            );
        }
        let mut lines = self.all(&messages);
        if let Some(bottom) = bottom {
            lines.retain(|(pos, _)| pos.seq < bottom.seq || pos.line <= bottom.line);
        }
        let extra = lines.len().saturating_sub(count);
        lines.drain(..extra);
        lines
    }

    /// Up to `count` lines after `bottom`.
    fn after(
        &self,
        history: &mut Backlog<'_>,
        bottom: LinePos,
        count: usize,
    ) -> Vec<(LinePos, String)> {
        let messages = history.read(Around::From(bottom.seq), count.saturating_add(1));
        self.all(&messages)
            .into_iter()
            .filter(|(pos, _)| pos.seq > bottom.seq || pos.line > bottom.line)
            .take(count)
            .collect()
    }

    /// Up to `count` lines from the first line of message `seq` (or the first after it).
    fn from(&self, history: &mut Backlog<'_>, seq: u64, count: usize) -> Vec<(LinePos, String)> {
        let messages = history.read(Around::From(seq), count);
        let mut lines = self.all(&messages);
        lines.truncate(count);
        lines
    }
}

/// The texts of positioned lines.
fn texts(lines: Vec<(LinePos, String)>) -> Vec<String> {
    lines.into_iter().map(|(_, text)| text).collect()
}

fn message_lines(layout: &Layout, cols: usize, view: &View, message: &Message) -> Vec<String> {
    let plain = text::strip_formatting(&message.text);
    let hilight = message.author != view.nick
        && !message.author.starts_with('-')
        && message.mentions(&view.nick, view.prefs.at_all);
    let author = text::strip_formatting(&message.shown_author());
    let lines = plain_lines(
        layout,
        cols,
        crate::term::zone::shown_micros(view.prefs.zone.as_ref(), message.unix_micros),
        &author,
        &plain,
        view.prefs.margins,
        hilight,
    );
    let mut prefix = Vec::new();
    if let Some(date) = message.local_day {
        // The day-change line at the reader's midnight (`/tz`; see `world/days.rs`).
        let midnight = jiff::tz::TimeZone::UTC
            .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
            .map_or(0, |t| t.as_microsecond());
        prefix.extend(plain_lines(
            layout,
            cols,
            midnight,
            crate::world::AUTHOR_BROADCAST,
            &text::strip_formatting(&crate::world::day_change_text(date)),
            view.prefs.margins,
            false,
        ));
    }
    prefix.extend(view.marker_line_before(message.seq));
    if prefix.is_empty() {
        lines
    } else {
        prefix.into_iter().chain(lines).collect()
    }
}

/// The teletype prompt: the status bar without nick list, then `nick> input█`. While the user
/// reads an older page (`scrolled` is its bottom line), `+K` counts the messages below it and
/// the window is listed as active while it has unread messages, as in the VT100 status bar.
fn prompt(view: &View, scrolled: Option<LinePos>, line: &LineEditor, cols: usize) -> String {
    let now = crate::term::zone::shown_micros(view.prefs.zone.as_ref(), crate::world::now_micros());
    let clock = jiff::Timestamp::from_microsecond(now)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%H%M%S")
        .to_string();
    let mut status = format!("{clock}   {}: {}", view.window_index, view.label);
    if let Some(count) = view.member_count {
        status.push_str(&format!("({count})"));
    }
    let mut activity = view.activity_windows.clone();
    if let Some(bottom) = scrolled {
        let below = view.next_seq.saturating_sub(bottom.seq + 1)
            + u64::from(bottom.line + 1 < bottom.lines);
        if below > 0 {
            status.push_str(&format!("  +{below}"));
        }
        if view.next_seq > view.read_upto && !activity.contains(&view.window_index) {
            activity.push(view.window_index);
            activity.sort_unstable();
        }
    }
    if !view.hilight_windows.is_empty() {
        status.push_str(&format!("   h:{}", window_list(&view.hilight_windows)));
    }
    if !activity.is_empty() {
        status.push_str(&format!("   a:{}", window_list(&activity)));
    }
    let prefix = format!("{status}   {}> ", view.nick);
    let room = cols
        .saturating_sub(8)
        .saturating_sub(str_width(&prefix))
        .max(8);
    let visible = visible_input(&line.shown_chars(), line.cursor(), room);
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

    /// One thing that happens between two frames of the scrolling test.
    #[derive(Debug, Clone, Copy)]
    enum Step {
        PgUp,
        PgUpTwice,
        PgDn,
        Goto(u64),
        Latest,
        /// This many new messages arrive.
        Post(u64),
    }

    /// What a frame printed: whether it started a new page, the numbers of the messages it
    /// printed, and the `+K` of its prompt (0: none; the prompt is only sent when it changed).
    type Printed = (bool, Option<(u64, u64)>, u64);

    fn message(seq: u64) -> Arc<Message> {
        Arc::new(Message {
            seq,
            unix_micros: 0,
            author: "bob".into(),
            text: format!("m{seq}").into(),
            origin: crate::world::Origin::Internal,
            kind: Default::default(),
            ticket: 0,
            lines: Default::default(),
            mention_index: Default::default(),
            local_day: None,
        })
    }

    fn view(messages: &[Arc<Message>], since: Option<u64>) -> View {
        let next_seq = messages.len() as u64;
        let since = since.unwrap_or(0);
        View {
            nick: "alice".into(),
            window_index: 1,
            channel: 7,
            kind: ChannelKind::Public { name: "g".into() },
            label: "#g".into(),
            member_count: Some(2),
            topic: String::new(),
            messages: messages
                .iter()
                .filter(|m| m.seq >= since)
                .cloned()
                .collect(),
            next_seq,
            waiting_for_store: false,
            read_upto: next_seq,
            new_since: None,
            hilight_windows: Vec::new(),
            active_hilight: false,
            activity_windows: Vec::new(),
            nicklist: "".into(),
            notices: Vec::new(),
            redraw: false,
            refolded: None,
            prefs: crate::world::Prefs {
                bell: 1,
                at_all: true,
                hilight_log: true,
                colored_nicks: false,
                margins: true,
                hide_joins: false,
                zone: None,
            },
            admin: false,
        }
    }

    /// Renders one frame over `messages` and reads back what it printed; `below` is the `+K`
    /// of the last prompt sent, updated if this frame sent one.
    fn frame(teletype: &mut Teletype, messages: &[Arc<Message>], below: &mut u64) -> Printed {
        let view = view(messages, teletype.since());
        // The whole window is in memory.
        let memory = crate::world::MemorySlice {
            spans: vec![crate::world::Span {
                lo: 0,
                hi: view.next_seq,
                messages: messages.to_vec(),
            }],
            oldest: 0,
            stored: None,
        };
        let mut pages = crate::history::Pages::new();
        let mut history = Backlog::new(view.next_seq, Some(&memory), &mut pages);
        let out = teletype.render(&view, &LineEditor::new(100), 80, 24, &mut history);
        assert!(!out.contains('\x1b'), "no escape codes: {out:?}");
        let numbers: Vec<u64> = out
            .split("\r\n")
            .filter_map(|line| {
                line.split_whitespace()
                    .last()?
                    .strip_prefix('m')?
                    .parse()
                    .ok()
            })
            .collect();
        for pair in numbers.windows(2) {
            assert_eq!(pair[0] + 1, pair[1], "printed in order: {numbers:?}");
        }
        let range = numbers.first().zip(numbers.last()).map(|(a, b)| (*a, *b));
        if let Some(prompt) = out.rsplit('\r').next().filter(|p| p.contains("alice> ")) {
            *below = prompt
                .split("  +")
                .nth(1)
                .and_then(|rest| rest.split(' ').next()?.parse().ok())
                .unwrap_or(0);
        }
        (out.starts_with("\r\n\r\n"), range, *below)
    }

    #[test]
    fn scrolling_prints_older_pages_and_follows_again_at_the_end() {
        use Step::*;
        // 80x24: pages of 21 lines, PgUp and PgDn move 20 lines.
        let script: &[(Option<Step>, Printed)] = &[
            (None, (true, Some((39, 59)), 0)),
            (Some(PgUp), (true, Some((19, 39)), 20)),
            // The first page of the window is as far as it goes.
            (Some(PgUp), (true, Some((0, 20)), 39)),
            (Some(PgUp), (false, None, 39)),
            // New messages wait below the page.
            (Some(Post(2)), (false, None, 41)),
            (Some(PgDn), (false, Some((21, 40)), 21)),
            // The newest line is printed again: the window follows new messages.
            (Some(PgDn), (false, Some((41, 60)), 1)),
            (Some(PgDn), (false, Some((61, 61)), 0)),
            (Some(Post(1)), (false, Some((62, 62)), 0)),
            (Some(Goto(0)), (true, Some((0, 20)), 42)),
            (Some(Latest), (true, Some((42, 62)), 0)),
            // From message 50 on there is less than a page: the newest page instead.
            (Some(Goto(50)), (true, Some((42, 62)), 0)),
            (Some(Goto(31)), (true, Some((31, 51)), 11)),
            (Some(PgDn), (false, Some((52, 62)), 0)),
            (Some(PgUp), (true, Some((22, 42)), 20)),
            // Two presses before a frame (a line-buffered client's) scroll twice as far.
            (Some(PgDn), (false, Some((43, 62)), 0)),
            (Some(PgUpTwice), (true, Some((2, 22)), 40)),
        ];
        let mut messages: Vec<Arc<Message>> = (0..60).map(message).collect();
        let mut teletype = Teletype::new();
        let mut below = 0;
        for (index, (step, expected)) in script.iter().enumerate() {
            match step {
                None => {}
                Some(PgUp) => teletype.scroll_pages(-1, 24),
                Some(PgUpTwice) => {
                    teletype.scroll_pages(-1, 24);
                    teletype.scroll_pages(-1, 24);
                }
                Some(PgDn) => teletype.scroll_pages(1, 24),
                Some(Goto(seq)) => teletype.goto(*seq),
                Some(Latest) => teletype.to_latest(),
                Some(Post(count)) => {
                    for _ in 0..*count {
                        messages.push(message(messages.len() as u64));
                    }
                }
            }
            let printed = frame(&mut teletype, &messages, &mut below);
            assert_eq!(printed, *expected, "step {index}: {step:?}");
        }
    }

    #[test]
    fn pages_overlap_by_a_line_and_cover_every_message() {
        for (count, step) in [(200, None), (45, Some(ScrollStep::Lines(7))), (3, None)] {
            let messages: Vec<Arc<Message>> = (0..count).map(message).collect();
            let mut teletype = Teletype::new();
            if let Some(step) = step {
                teletype.set_scroll_step(step);
            }
            let mut seen = std::collections::BTreeSet::new();
            let mut record = |printed: Printed| {
                if let (_, Some((first, last)), _) = printed {
                    seen.extend(first..=last);
                }
            };
            record(frame(&mut teletype, &messages, &mut 0));
            for _ in 0..count {
                teletype.scroll_pages(-1, 24);
                record(frame(&mut teletype, &messages, &mut 0));
            }
            assert_eq!(seen, (0..count).collect(), "{count} messages, {step:?}");
        }
    }
}
