//! Messages rendered for VT100 clients: r0c's SGR codes for the formatting tokens, nick colours,
//! timestamp markup, word wrap that keeps colours, the `/cmap` chart and the input-line preview.
//!
//! Sans-IO and infallible like the rest of `term`. It reads canonical text (see [`crate::text`]),
//! so the only escape sequences a client ever receives are the SGR codes built here.

use std::fmt::Write;

use crate::term::layout::Layout;
use crate::term::width::{char_width, str_width, truncate_to_width};
use crate::text::{Span, spans};

/// Resets all attributes.
const RESET: &str = "\x1b[0m";
/// Resets all attributes in one byte less: an omitted SGR parameter is 0 on the VT100 and on
/// every terminal since. The message prefix, sent with every line, uses it.
pub(crate) const SHORT_RESET: &str = "\x1b[m";

/// Text attributes as r0c's SGR codes leave them on the terminal.
///
/// The foreground is kept as 0–7 because r0c shows the bright colours 8–f as bold: "bright" is
/// the `bold` flag, which CTRL-B can turn off again.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Attrs {
    /// Foreground colour 0–7, `None` for the terminal's default.
    pub fg: Option<u8>,
    /// Background colour 0–7, `None` for the terminal's default.
    pub bg: Option<u8>,
    /// Bold, which also brightens the foreground.
    pub bold: bool,
}

impl Attrs {
    /// Applies one formatting token and returns the SGR sequence r0c sends for it: CTRL-K
    /// `0`–`7` → `ESC[0;3Nm` (resets bold and background), `8`–`f` → `ESC[1;3Nm`, either with
    /// `;4B` for a `,B` background; CTRL-B → `ESC[1m` or `ESC[22m` by the current bold state;
    /// CTRL-O → `ESC[0m`. A text span changes nothing and returns an empty string.
    pub fn apply(&mut self, span: Span<'_>) -> String {
        match span {
            Span::Text(_) => String::new(),
            Span::Color { fg, bg } => {
                let bright = fg >= 8;
                let bg = bg.map(|bg| bg % 8);
                *self = Attrs {
                    fg: Some(fg % 8),
                    // A bright colour's `1;3N` leaves the background alone; `0;3N` clears it.
                    bg: if bright { bg.or(self.bg) } else { bg },
                    bold: bright,
                };
                let mut sgr = format!("\x1b[{};3{}", u8::from(bright), fg % 8);
                if let Some(bg) = bg {
                    let _ = write!(sgr, ";4{bg}");
                }
                sgr.push('m');
                sgr
            }
            Span::Bold => {
                self.bold = !self.bold;
                if self.bold { "\x1b[1m" } else { "\x1b[22m" }.to_string()
            }
            Span::Reset => {
                *self = Attrs::default();
                RESET.to_string()
            }
        }
    }

    /// The one SGR sequence that sets exactly these attributes, whatever the terminal showed
    /// before: how a continuation line picks up the colours active where the line was cut.
    pub fn sgr(&self) -> String {
        let mut sgr = String::from("\x1b[0");
        if self.bold {
            sgr.push_str(";1");
        }
        if let Some(fg) = self.fg {
            let _ = write!(sgr, ";3{fg}");
        }
        if let Some(bg) = self.bg {
            let _ = write!(sgr, ";4{bg}");
        }
        sgr.push('m');
        sgr
    }
}

/// How one client shows a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageStyle {
    /// Continuation lines align with the text (`/my`); off (`/mn`) they get a 2-space indent.
    pub margins: bool,
    /// Authors in their own 256-colour nick colour (`/cy`).
    pub colored_nicks: bool,
    /// Names hidden (`/v`, CTRL-N): no timestamp, no nick, the text hard-wrapped at the width.
    pub view_mode: bool,
    /// The message is not read yet: reverse video.
    pub unread: bool,
    /// The message mentions the reader: bold magenta.
    pub hilight: bool,
}

/// The display lines of one message for a VT100 client, per r0c's layout (§2.1 of the UI spec).
///
/// The first line is timestamp, nick right-aligned in `layout.nick_width` and text; the
/// following ones are indented. Lines are wrapped by display width, each within `width` columns
/// and the layout's limits; a continuation line starts by restoring the colours active where the
/// line was cut, and formatting ends with each `\n`-separated part of the text. Every line leaves
/// the terminal without attributes: its last SGR sequence is `ESC[0m` or `ESC[m`.
///
/// Every line is written on a row just erased with plain attributes, so the blanks between the
/// timestamp and a right-aligned nick may be skipped with the cursor (`ESC[<n>C`) instead of
/// written, where that is shorter and the blanks would not show the nick's colours.
pub fn message_lines(
    layout: &Layout,
    width: usize,
    unix_micros: i64,
    author: &str,
    text: &str,
    style: &MessageStyle,
) -> Vec<String> {
    if style.view_mode {
        return view_lines(width, text, style);
    }
    let markup = markup(style);
    let mut prefix = String::new();
    // The timestamp's markup is still on: the nick's SGR turns it off.
    let mut time_markup_on = false;
    if let Some(format) = layout.timestamp {
        let time =
            jiff::Timestamp::from_microsecond(unix_micros).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let time = time.strftime(format);
        let _ = match markup {
            Some(markup) => write!(prefix, "\x1b[{markup}m{time}"),
            None => write!(prefix, "{time}"),
        };
        time_markup_on = markup.is_some();
    }
    let mut nick_sgr = author_sgr(author, style.colored_nicks);
    // Without a timestamp the markup goes on the nick field. r0c styled the empty token before
    // the nick there, so its unread and hilight markup was invisible.
    if layout.timestamp.is_none()
        && let Some(markup) = markup
    {
        nick_sgr = if style.hilight {
            markup.to_string()
        } else {
            format!("{nick_sgr};{markup}")
        };
    }
    let nick = truncate_to_width(author, layout.nick_width);
    let padding = layout.nick_width.saturating_sub(str_width(nick));
    // The blank after the timestamp and the nick's padding, as one cursor move if shorter.
    let blanks = padding + usize::from(layout.timestamp.is_some());
    let skip = format!("\x1b[{blanks}C");
    if skip.len() < blanks && !shows_on_blanks(&nick_sgr) {
        // The cursor passes over the blanks, so no attribute is on for them: the timestamp's
        // markup ends in the nick's own SGR.
        // An omitted SGR parameter is 0, as in `ESC[m`: `ESC[;1m` resets, then sets bold.
        let params = if time_markup_on || nick_sgr.starts_with("0;") {
            format!(";{}", nick_sgr.strip_prefix("0;").unwrap_or(&nick_sgr))
        } else {
            nick_sgr.clone()
        };
        let _ = write!(prefix, "{skip}\x1b[{params}m{nick}{SHORT_RESET} ");
    } else {
        if time_markup_on {
            prefix.push_str(SHORT_RESET);
        }
        if layout.timestamp.is_some() {
            prefix.push(' ');
        }
        let padding = " ".repeat(padding);
        let _ = write!(prefix, "\x1b[{nick_sgr}m{padding}{nick}{SHORT_RESET} ");
    }
    let (rest_width, indent) = if style.margins {
        (layout.text_width, layout.indent)
    } else {
        (width.saturating_sub(2).max(8), 2)
    };
    let mut lines = Lines::new(prefix, indent, Attrs::default(), None);
    for paragraph in text.split('\n') {
        lines.wrap(paragraph, layout.text_width, rest_width, false);
    }
    lines.lines
}

/// The `/v` layout: no timestamp or nick; the text in cyan, hard-wrapped at `width`, with the
/// first non-blank character bold (or marked unread/hilight) so that messages stand apart.
/// With margins off the continuation lines are indented by 2 and hold `width − 2` columns, so
/// nothing is cut off (r0c lost 2 characters per line there).
fn view_lines(width: usize, text: &str, style: &MessageStyle) -> Vec<String> {
    let (rest_width, indent) = if style.margins {
        (width, 0)
    } else {
        (width.saturating_sub(2), 2)
    };
    let emphasis = match markup(style) {
        Some(markup) => format!("\x1b[0;1;{}m", markup.trim_start_matches("1;")),
        None => "\x1b[0;1m".to_string(),
    };
    let cyan = Attrs {
        fg: Some(6),
        ..Attrs::default()
    };
    let mut lines = Lines::new(String::new(), indent, cyan, Some(emphasis));
    for paragraph in text.split('\n') {
        lines.wrap(paragraph, width, rest_width, true);
    }
    lines.lines
}

/// Whether blanks written with the SGR parameters `params` look different from erased ones: a
/// background, reverse video or underline (any parameter `7` or starting with `4`; a colour
/// index that looks like one only makes the answer yes where no would do).
fn shows_on_blanks(params: &str) -> bool {
    params
        .split(';')
        .any(|param| param == "7" || param.starts_with('4'))
}

/// The SGR parameters of the timestamp markup.
fn markup(style: &MessageStyle) -> Option<&'static str> {
    match (style.hilight, style.unread) {
        (true, true) => Some("1;35;7"),
        (true, false) => Some("1;35"),
        (false, true) => Some("7"),
        (false, false) => None,
    }
}

/// The SGR parameters of an author's nick: fixed ones for the pseudo-authors, else bold or, with
/// coloured nicks, the nick's own colour on black.
fn author_sgr(author: &str, colored_nicks: bool) -> String {
    match author {
        "--" => "1".to_string(),
        "-nfo-" => "0;32".to_string(),
        "-err-" => "1;33".to_string(),
        "***" => "36".to_string(),
        _ if colored_nicks => format!("1;48;5;16;38;5;{}", nick_color(author)),
        _ => "1".to_string(),
    }
}

/// The 256-colour index of a nick with coloured nicks on, as r0c picks it: one of its 155 bright
/// colours by the CRC-32 of the nick's UTF-8 bytes, so a nick looks the same everywhere.
pub fn nick_color(nick: &str) -> u8 {
    const BRIGHT: [(u8, u8); 5] = [(35, 46), (48, 51), (70, 87), (103, 123), (132, 231)];
    let count: u32 = BRIGHT
        .iter()
        .map(|&(first, last)| u32::from(last - first) + 1)
        .sum();
    let index = crc32(nick.as_bytes()) % count;
    BRIGHT
        .iter()
        .flat_map(|&(first, last)| first..=last)
        .nth(index as usize)
        .unwrap_or(231)
}

/// CRC-32 (IEEE 802.3, as zlib computes it), bit by bit: nicks are short and the colour is
/// computed once per rendered line at most.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// One element of a paragraph of canonical text.
#[derive(Clone, Copy)]
enum Item<'a> {
    /// A printable character.
    Char(char),
    /// A formatting token (never [`Span::Text`]).
    Token(Span<'a>),
}

/// Display columns the characters of `items` take.
fn width(items: &[Item<'_>]) -> usize {
    items
        .iter()
        .map(|item| match item {
            Item::Char(c) => char_width(*c),
            Item::Token(_) => 0,
        })
        .sum()
}

/// Whether `items` hold a character, as opposed to formatting tokens only.
fn has_text(items: &[Item<'_>]) -> bool {
    items.iter().any(|item| matches!(item, Item::Char(_)))
}

/// Index after the characters that fit in `max` columns, at least one so that cutting always
/// progresses. Tokens after the last fitting character stay with the rest, where they take effect.
fn split_point(items: &[Item<'_>], max: usize) -> usize {
    let (mut used, mut end) = (0, 0);
    for (index, item) in items.iter().enumerate() {
        if let Item::Char(c) = item {
            let w = char_width(*c);
            if used + w > max && end > 0 {
                break;
            }
            used += w;
            end = index + 1;
        }
    }
    end
}

/// The display lines of one message while they are built: prefixes, and the attributes that carry
/// from one line to the next.
struct Lines {
    lines: Vec<String>,
    /// What the first line starts with (timestamp and nick).
    first_prefix: String,
    /// Spaces before every further line.
    indent: usize,
    /// The attributes each paragraph starts with.
    base: Attrs,
    /// The attributes the text has set so far.
    attrs: Attrs,
    /// The SGR for the message's first non-blank character, until it is written.
    emphasis: Option<String>,
}

impl Lines {
    fn new(first_prefix: String, indent: usize, base: Attrs, emphasis: Option<String>) -> Lines {
        Lines {
            lines: Vec::new(),
            first_prefix,
            indent,
            base,
            attrs: base,
            emphasis,
        }
    }

    /// Wraps one `\n`-separated paragraph: the message's first line holds `first_width` columns,
    /// the others `rest_width`. `hard` cuts anywhere (view mode); otherwise words are packed with
    /// single spaces, as r0c does, and words wider than a line are cut with a `-`.
    fn wrap(&mut self, paragraph: &str, first_width: usize, rest_width: usize, hard: bool) {
        self.attrs = self.base;
        let mut items: Vec<Item<'_>> = spans(paragraph)
            .flat_map(|span| -> Vec<Item<'_>> {
                match span {
                    Span::Text(text) => text.chars().map(Item::Char).collect(),
                    token => vec![Item::Token(token)],
                }
            })
            .collect();
        // Trailing blanks are dropped, but not blanks before a token: a background colour would
        // show them.
        let end = items
            .iter()
            .rposition(|item| !matches!(item, Item::Char(c) if c.is_whitespace()))
            .map_or(0, |last| last + 1);
        items.truncate(end);
        let limit = |lines: &Lines| {
            if lines.lines.is_empty() {
                first_width
            } else {
                rest_width
            }
        };
        if hard || width(&items) <= limit(self) {
            let mut rest = &items[..];
            while width(rest) > limit(self) {
                let cut = split_point(rest, limit(self));
                self.push(&rest[..cut]);
                rest = &rest[cut..];
            }
            self.push(rest);
            return;
        }
        // A paragraph indented with blanks keeps its indent on every line it wraps into (as
        // long as that leaves most of the line), so indented help text stays in its column.
        let lead = items
            .iter()
            .filter(|item| matches!(item, Item::Char(_)))
            .take_while(|item| matches!(item, Item::Char(c) if c.is_whitespace()))
            .count();
        let lead = if lead * 2 <= first_width.min(rest_width) {
            lead
        } else {
            0
        };
        let pad = vec![Item::Char(' '); lead];
        // A word is cut at blanks once it has a character; tokens between words open the next.
        let (mut words, mut word) = (Vec::new(), Vec::new());
        for item in items {
            match item {
                Item::Char(c) if c.is_whitespace() => {
                    if has_text(&word) {
                        words.push(std::mem::take(&mut word));
                    }
                }
                item => word.push(item),
            }
        }
        words.push(word);
        // `current` always starts with the indent; what follows it is the line's words.
        let words_in = |current: &[Item<'_>]| has_text(&current[lead..]);
        let mut current = pad.clone();
        for mut word in words {
            loop {
                let max = limit(self);
                let gap = usize::from(words_in(&current) && has_text(&word));
                if width(&current) + gap + width(&word) <= max {
                    if gap == 1 {
                        current.push(Item::Char(' '));
                    }
                    current.append(&mut word);
                    break;
                }
                if words_in(&current) {
                    self.push(&current);
                    current.clone_from(&pad);
                    continue;
                }
                // The word alone is wider than a line: cut it.
                let room = max.saturating_sub(width(&current));
                let cut = split_point(&word, room.saturating_sub(1).max(1));
                current.extend(word.drain(..cut));
                current.push(Item::Char('-'));
                self.push(&current);
                current.clone_from(&pad);
            }
        }
        // Tokens left after the last character set nothing visible before the paragraph ends.
        if words_in(&current) {
            self.push(&current);
        }
    }

    /// Renders one display line. Tokens are sent as r0c sends them while the terminal shows the
    /// text's attributes; otherwise (a line start, after the emphasis) the attributes are
    /// restored in one sequence just before the next character.
    fn push(&mut self, items: &[Item<'_>]) {
        let mut line = if self.lines.is_empty() {
            std::mem::take(&mut self.first_prefix)
        } else {
            " ".repeat(self.indent)
        };
        // What the terminal shows; `None` when the emphasis left attributes not in `Attrs`.
        let mut shown = Some(Attrs::default());
        for &item in items {
            match item {
                Item::Token(span) => {
                    let before = self.attrs;
                    let sgr = self.attrs.apply(span);
                    // Until the emphasis is written, it replaces what a token would send.
                    if shown == Some(before) && self.emphasis.is_none() {
                        line.push_str(&sgr);
                        shown = Some(self.attrs);
                    }
                }
                Item::Char(c) => {
                    if !c.is_whitespace()
                        && let Some(emphasis) = self.emphasis.take()
                    {
                        line.push_str(&emphasis);
                        shown = None;
                    } else if shown != Some(self.attrs) {
                        line.push_str(&self.attrs.sgr());
                        shown = Some(self.attrs);
                    }
                    line.push(c);
                }
            }
        }
        close(&mut line);
        self.lines.push(line);
    }
}

/// Whether `bytes` starts with a reset of all attributes (`ESC[0m` or `ESC[m`).
pub fn is_reset(bytes: &str) -> bool {
    bytes.starts_with(RESET) || bytes.starts_with(SHORT_RESET)
}

/// Appends `ESC[0m` to a line whose last SGR sequence is not one already, so that no attribute
/// leaks into the rest of the row or the next one.
fn close(line: &mut String) {
    if line
        .rfind('\x1b')
        .is_some_and(|last| !is_reset(&line[last..]))
    {
        line.push_str(RESET);
    }
}

/// The `/cmap` colour chart as canonical text (CTRL-K tokens), for the `-nfo-` reply: the 16
/// foregrounds with their codes, then the 8 backgrounds under black, grey and white text.
pub fn cmap_text() -> String {
    let mut text = String::from("Text colours: type CTRL-K and a code from the [brackets]:\n");
    for digits in ["01234567", "89abcdef"] {
        let row: Vec<String> = digits.chars().map(|d| format!("\x0b{d}[{d}]")).collect();
        text.push_str(&row.join(", "));
        text.push_str("\x0f\n");
    }
    for (fg, name) in [('0', "black"), ('7', "grey"), ('f', "white")] {
        let _ = writeln!(
            text,
            "Backgrounds with {name} text (CTRL-K {fg},0 to {fg},7):"
        );
        for bg in '0'..='7' {
            let _ = write!(text, "\x0b{fg},{bg} {fg},{bg} ");
        }
        text.push_str("\x0f\n");
    }
    text.push_str("CTRL-B toggles bold, CTRL-O resets all formatting.");
    text
}

/// What the input line shows for a character: the formatting controls as the letters K, B and O;
/// `None` for any other control character, which is never sent to a terminal.
fn preview_char(c: char) -> Option<char> {
    match c {
        '\x0b' => Some('K'),
        '\x02' => Some('B'),
        '\x0f' => Some('O'),
        c if c.is_control() => None,
        c => Some(c),
    }
}

/// Applies the formatting token that starts `chars`, if any, and returns its SGR. A CTRL-K
/// without a valid colour spec is no token: it is shown as a plain `K`, as it will be sent.
fn preview_token(attrs: &mut Attrs, chars: &[char]) -> Option<String> {
    if !matches!(chars.first(), Some('\x0b' | '\x02' | '\x0f')) {
        return None;
    }
    let spec: String = chars.iter().take(4).collect();
    match spans(&spec).next()? {
        Span::Text(_) => None,
        token => Some(attrs.apply(token)),
    }
}

/// Display columns of the input line: `columns[i]` is where character `i` starts, counted from
/// the line's start, and `columns[chars.len()]` is the line's width. The cursor before character
/// `c` of a line shown from character `first` is `columns[c] − columns[first]` columns into the
/// field.
pub fn preview_columns(chars: &[char]) -> Vec<usize> {
    let mut columns = Vec::with_capacity(chars.len() + 1);
    let mut column = 0;
    columns.push(column);
    for &c in chars {
        column += preview_char(c).map_or(0, char_width);
        columns.push(column);
    }
    columns
}

/// The input line from character `first` on, at most `max_width` columns, with the formatting
/// controls previewed (r0c §5.2): each shows as K, B or O with its effect applied to what follows,
/// so CTRL-K `3,4yellow ` CTRL-B `bold` CTRL-O ` plain` shows as `K3,4yellow BboldO plain` in
/// colour. Formatting from before `first` is applied at the start; its last SGR sequence is
/// `ESC[0m`. Columns match [`preview_columns`].
pub fn input_preview(chars: &[char], first: usize, max_width: usize) -> String {
    let first = first.min(chars.len());
    let mut attrs = Attrs::default();
    for index in 0..first {
        preview_token(&mut attrs, &chars[index..]);
    }
    let mut out = if attrs == Attrs::default() {
        String::new()
    } else {
        attrs.sgr()
    };
    let mut used = 0;
    for (index, &c) in chars.iter().enumerate().skip(first) {
        let sgr = preview_token(&mut attrs, &chars[index..]);
        let Some(shown) = preview_char(c) else {
            continue;
        };
        used += char_width(shown);
        if used > max_width {
            break;
        }
        out.extend(sgr);
        out.push(shown);
    }
    close(&mut out);
    out
}

/// One SGR sequence with the effect of `sgrs` applied in order from the plain state: the
/// attributes in force after them. Used where a row is rewritten from the middle, instead of
/// replaying every code before that point. Foreground and background keep their 16-colour
/// code and their 256-colour code apart, since a 16-colour terminal ignores the latter and
/// keeps the former.
pub fn fold_sgr<'a>(sgrs: impl IntoIterator<Item = &'a str>) -> String {
    #[derive(Default)]
    struct State {
        bold: bool,
        underline: bool,
        reverse: bool,
        fg: Option<u16>,
        fg256: Option<u16>,
        bg: Option<u16>,
        bg256: Option<u16>,
    }
    let mut state = State::default();
    for sgr in sgrs {
        let Some(params) = sgr.strip_prefix("\x1b[").and_then(|p| p.strip_suffix('m')) else {
            continue;
        };
        let mut codes = params
            .split(';')
            .map(|code| code.parse::<u16>().unwrap_or(0));
        while let Some(code) = codes.next() {
            match code {
                0 => state = State::default(),
                1 => state.bold = true,
                22 => state.bold = false,
                4 => state.underline = true,
                24 => state.underline = false,
                7 => state.reverse = true,
                27 => state.reverse = false,
                30..=37 | 90..=97 => (state.fg, state.fg256) = (Some(code), None),
                39 => (state.fg, state.fg256) = (None, None),
                40..=47 | 100..=107 => (state.bg, state.bg256) = (Some(code), None),
                49 => (state.bg, state.bg256) = (None, None),
                38 | 48 => {
                    // Only the 256-colour form (`38;5;n`) is used here.
                    let (Some(5), Some(index)) = (codes.next(), codes.next()) else {
                        continue;
                    };
                    if code == 38 {
                        state.fg256 = Some(index);
                    } else {
                        state.bg256 = Some(index);
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = String::from("\x1b[0");
    for (on, code) in [
        (state.bold, "1"),
        (state.underline, "4"),
        (state.reverse, "7"),
    ] {
        if on {
            out.push(';');
            out.push_str(code);
        }
    }
    for (value, prefix) in [
        (state.fg, ""),
        (state.fg256, "38;5;"),
        (state.bg, ""),
        (state.bg256, "48;5;"),
    ] {
        if let Some(value) = value {
            out.push(';');
            out.push_str(prefix);
            out.push_str(&value.to_string());
        }
    }
    out.push('m');
    out
}

mod cache;
pub use cache::{LineCache, LinesKey};

#[cfg(test)]
mod tests;

/// SGR codes that turn reverse video on and off without touching colours or bold.
const REVERSE_ON: &str = "\x1b[7m";
const REVERSE_OFF: &str = "\x1b[27m";

/// `line` (a rendered line: text and SGR sequences) with each whole-word occurrence of the
/// letters and digits of `words` in reverse video, compared without case: how `/g rN` shows
/// what a search matched. The reverse run is closed before every escape sequence and opened
/// again after it, so the line's own codes (a reset among them) keep their meaning and the
/// line still ends as it did. A word cut by the wrap is not marked.
pub fn hilight_words(line: &str, words: &[String]) -> String {
    let tokens: Vec<Vec<char>> = words
        .iter()
        .flat_map(|word| word.split(|c: char| !c.is_alphanumeric()))
        .filter(|token| !token.is_empty())
        .map(|token| token.chars().map(fold_case).collect())
        .collect();
    // The visible characters, folded, and where each starts in `line`.
    let mut visible: Vec<(usize, char)> = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters, up to a final byte in @..~.
            if chars.next_if(|(_, c)| *c == '[').is_some() {
                while chars.next_if(|(_, c)| !('@'..='~').contains(c)).is_some() {}
                chars.next();
            }
            continue;
        }
        visible.push((at, c));
    }
    let folded: Vec<char> = visible.iter().map(|(_, c)| fold_case(*c)).collect();
    let mut marked = vec![false; visible.len()];
    for token in &tokens {
        let len = token.len();
        if len == 0 || len > folded.len() {
            continue;
        }
        for start in 0..=folded.len() - len {
            let before = start.checked_sub(1).and_then(|i| folded.get(i));
            let after = folded.get(start + len);
            if folded.get(start..start + len) == Some(&token[..])
                && !before.is_some_and(|c| c.is_alphanumeric())
                && !after.is_some_and(|c| c.is_alphanumeric())
            {
                marked
                    .get_mut(start..start + len)
                    .into_iter()
                    .flatten()
                    .for_each(|m| *m = true);
            }
        }
    }
    if !marked.contains(&true) {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len() + 16);
    let mut in_run = false;
    let mut next_visible = 0;
    for (at, c) in line.char_indices() {
        let is_visible = visible.get(next_visible).is_some_and(|(v, _)| *v == at);
        if !is_visible {
            if in_run {
                out.push_str(REVERSE_OFF);
                in_run = false;
            }
            out.push(c);
            continue;
        }
        let mark = marked.get(next_visible).copied().unwrap_or(false);
        next_visible += 1;
        if mark != in_run {
            out.push_str(if mark { REVERSE_ON } else { REVERSE_OFF });
            in_run = mark;
        }
        out.push(c);
    }
    if in_run {
        out.push_str(REVERSE_OFF);
    }
    out
}

/// A character compared without case (the first of its lower-case forms, so one character
/// stays one).
fn fold_case(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}
