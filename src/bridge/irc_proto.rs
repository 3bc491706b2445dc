//! IRC protocol pieces for the bridge, sans-IO: parsing lines, building the ones we send,
//! converting colour codes between mIRC and r0c, and CTCP (the send rate is a
//! [`crate::rate::TokenBucket`]).
//!
//! Nothing here does I/O or fails on input: a line that is not IRC parses to `None`.

/// The most bytes of one IRC line we send (RFC 1459: 512 including CR LF).
pub const MAX_LINE: usize = 510;

/// One parsed IRC line: `[:prefix] COMMAND params... [:trailing]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrcLine {
    /// The nick part of the prefix (`nick!user@host` → `nick`), if there was one.
    pub nick: Option<String>,
    /// The command or numeric, upper-cased.
    pub command: String,
    /// Parameters, the trailing one last (without its colon).
    pub params: Vec<String>,
}

impl IrcLine {
    /// Parses a line (without CR LF). IRCv3 tags (`@...`) are skipped. `None` for an empty or
    /// malformed line.
    pub fn parse(line: &str) -> Option<IrcLine> {
        let mut rest = line.trim_end_matches(['\r', '\n']);
        if let Some(tagged) = rest.strip_prefix('@') {
            rest = tagged.split_once(' ')?.1;
        }
        rest = rest.trim_start_matches(' ');
        let mut nick = None;
        if let Some(prefixed) = rest.strip_prefix(':') {
            let (prefix, after) = prefixed.split_once(' ')?;
            nick = Some(
                prefix
                    .split(['!', '@'])
                    .next()
                    .unwrap_or(prefix)
                    .to_string(),
            );
            rest = after.trim_start_matches(' ');
        }
        let (command, mut rest) = match rest.split_once(' ') {
            Some((command, after)) => (command, after),
            None => (rest, ""),
        };
        if command.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing.to_string());
                break;
            }
            match rest.split_once(' ') {
                Some((param, after)) => {
                    params.push(param.to_string());
                    rest = after;
                }
                None => {
                    params.push(rest.to_string());
                    break;
                }
            }
        }
        Some(IrcLine {
            nick,
            command: command.to_ascii_uppercase(),
            params,
        })
    }

    /// The channel a JOIN or PART names, in either form (`JOIN #c` and `JOIN :#c`), lower-cased.
    pub fn channel(&self) -> Option<String> {
        self.params.first().map(|c| c.to_lowercase())
    }
}

/// Decodes an IRC line: UTF-8, or latin-1 for the bytes that are not (old clients).
pub fn decode_line(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// A command line ready to send: CR, LF and NUL removed from every part (a message can never
/// smuggle a second command), cut to [`MAX_LINE`] bytes on a character boundary, CR LF added.
pub fn command(parts: &[&str]) -> String {
    let clean: Vec<String> = parts
        .iter()
        .map(|p| {
            p.chars()
                .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
                .collect()
        })
        .collect();
    let mut line = clean.join(" ");
    if line.len() > MAX_LINE {
        let mut end = MAX_LINE;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
    }
    line.push_str("\r\n");
    line
}

/// What a PRIVMSG's text is, CTCP-wise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ctcp<'a> {
    /// An ordinary message.
    Plain(&'a str),
    /// `/me`: `\x01ACTION text\x01`.
    Action(&'a str),
    /// A CTCP VERSION request.
    Version,
    /// Any other CTCP request; ignored.
    Other,
}

/// Classifies a PRIVMSG text.
pub fn ctcp(text: &str) -> Ctcp<'_> {
    let Some(inner) = text.strip_prefix('\x01') else {
        return Ctcp::Plain(text);
    };
    let inner = inner.strip_suffix('\x01').unwrap_or(inner);
    if let Some(action) = inner.strip_prefix("ACTION ") {
        Ctcp::Action(action)
    } else if inner == "VERSION" {
        Ctcp::Version
    } else {
        Ctcp::Other
    }
}

/// r0c's colour characters for mIRC colours 0-15 (§9.5), as foregrounds.
const FG_FOR_IRC: &[u8; 16] = b"f0429153ba6ecd87";
/// r0c's background characters for mIRC colours 0-15.
const BG_FOR_IRC: &[u8; 16] = b"7042115332664507";

/// mIRC formatting to r0c's canonical tokens: `\x03NN[,NN]` colours (a bare `\x03` resets),
/// bold and reset kept, other mIRC codes (italic, underline, reverse...) dropped.
pub fn irc_to_r0c(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let number = |chars: &[char], at: usize| -> (Option<u8>, usize) {
        let digits: String = chars
            .iter()
            .skip(at)
            .take(2)
            .take_while(|c| c.is_ascii_digit())
            .collect();
        (digits.parse().ok(), digits.len())
    };
    while i < chars.len() {
        match chars[i] {
            '\x03' => {
                let (fg, used) = number(&chars, i + 1);
                i += 1 + used;
                let Some(fg) = fg.filter(|n| *n < 16) else {
                    out.push('\x0f');
                    continue;
                };
                out.push('\x0b');
                out.push(char::from(FG_FOR_IRC[usize::from(fg)]));
                if chars.get(i) == Some(&',') {
                    let (bg, used) = number(&chars, i + 1);
                    if let Some(bg) = bg.filter(|n| *n < 16) {
                        i += 1 + used;
                        out.push(',');
                        out.push(char::from(BG_FOR_IRC[usize::from(bg)]));
                    }
                }
            }
            '\x02' | '\x0f' => {
                out.push(chars[i]);
                i += 1;
            }
            '\x1d' | '\x1f' | '\x16' | '\x11' | '\x1e' => i += 1,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// r0c's canonical tokens to mIRC codes: CTRL-K colours become `\x03NN[,NN]`.
pub fn r0c_to_irc(text: &str) -> std::borrow::Cow<'_, str> {
    // Most messages carry no formatting: they go out as they are, without a copy (this runs
    // for every message relayed to every IRC client).
    if !text.contains([crate::text::COLOR, crate::text::BOLD, crate::text::RESET]) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::new();
    for span in crate::text::spans(text) {
        match span {
            crate::text::Span::Text(t) => out.push_str(t),
            crate::text::Span::Bold => out.push('\x02'),
            crate::text::Span::Reset => out.push('\x0f'),
            crate::text::Span::Color { fg, bg } => {
                let fg_char = char::from_digit(u32::from(fg), 16).unwrap_or('f') as u8;
                let irc_fg = FG_FOR_IRC.iter().position(|c| *c == fg_char).unwrap_or(0);
                out.push_str(&format!("\x03{irc_fg:02}"));
                if let Some(bg) = bg {
                    let bg_char = char::from_digit(u32::from(bg), 16).unwrap_or('0') as u8;
                    // The last mIRC colour with that background, as r0c maps them.
                    let irc_bg = BG_FOR_IRC.iter().rposition(|c| *c == bg_char).unwrap_or(1);
                    out.push_str(&format!(",{irc_bg:02}"));
                }
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests;
