//! Key decoder: turns the decoded text a client sends into key presses and terminal reports.
//!
//! Sans-IO. Escape sequences are recognised from a table; an unknown sequence is dropped whole
//! (it never eats the keystrokes that follow it), and a lone ESC is held until more input or
//! until the caller calls [`KeyDecoder::flush_escape`] after a short timeout.

/// One thing the user pressed, or a report from their terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A printable character, or one of the formatting controls CTRL-B, CTRL-K, CTRL-O.
    Char(char),
    /// The Enter key, whichever bytes the client sends for it.
    Enter,
    Backspace,
    Delete,
    Left,
    Right,
    Up,
    Down,
    Home,
    End,
    PageUp,
    PageDown,
    Tab,
    /// A control key other than the ones above, as its letter (`'a'` for CTRL-A).
    Ctrl(char),
    /// The Escape key on its own.
    Escape,
    /// The answer to a cursor-position probe: where the terminal put the cursor.
    CursorReport {
        row: u16,
        col: u16,
    },
}

/// Escape sequences longer than this are not keys; they are dropped.
const MAX_SEQUENCE: usize = 16;

/// State of the decoder between reads.
#[derive(Debug, Default)]
pub struct KeyDecoder {
    /// An escape sequence that has started but not ended.
    pending: String,
    /// The previous character was a CR, so a following LF or NUL belongs to the same Enter.
    after_cr: bool,
    /// An overlong control sequence is being skipped up to its final character.
    discarding: bool,
}

impl KeyDecoder {
    /// A decoder with nothing pending.
    pub fn new() -> KeyDecoder {
        KeyDecoder::default()
    }

    /// Whether a lone ESC (or an unfinished sequence) waits for more input.
    pub fn has_pending_escape(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Resolves a held ESC as the Escape key (called after a short quiet period).
    pub fn flush_escape(&mut self, keys: &mut Vec<Key>) {
        if self.pending == "\x1b" {
            keys.push(Key::Escape);
        }
        self.pending.clear();
    }

    /// Decodes `text`, appending the keys it contains.
    pub fn feed(&mut self, text: &str, keys: &mut Vec<Key>) {
        for c in text.chars() {
            if self.discarding {
                if (' '..='?').contains(&c) {
                    continue;
                }
                self.discarding = false;
                if ('@'..='~').contains(&c) {
                    continue;
                }
            }
            if !self.pending.is_empty() {
                self.pending.push(c);
                self.continue_sequence(keys);
                continue;
            }
            let after_cr = std::mem::take(&mut self.after_cr);
            match c {
                '\r' => {
                    self.after_cr = true;
                    keys.push(Key::Enter);
                }
                '\n' | '\0' if after_cr => {}
                '\n' => keys.push(Key::Enter),
                '\x1b' => self.pending.push(c),
                '\x08' | '\x7f' => keys.push(Key::Backspace),
                '\t' => keys.push(Key::Tab),
                '\x02' | '\x0b' | '\x0f' => keys.push(Key::Char(c)),
                '\x15' => keys.push(Key::PageUp),
                '\x04' => keys.push(Key::PageDown),
                c if (c as u32) < 0x20 => keys.push(Key::Ctrl(char::from(b'a' + (c as u8) - 1))),
                c if c.is_control() => {}
                c => keys.push(Key::Char(c)),
            }
        }
    }

    fn continue_sequence(&mut self, keys: &mut Vec<Key>) {
        let seq = self.pending.as_str();
        let mut chars = seq.chars().skip(1);
        let introducer = chars.next();
        let finished = match introducer {
            None => return,
            Some('[') => {
                // CSI: parameters and intermediates until a final byte in @..~.
                match seq.chars().last() {
                    Some(last) if seq.len() > 2 && ('@'..='~').contains(&last) => true,
                    Some(last) if seq.len() > 2 && !(' '..='?').contains(&last) => {
                        // Not a valid CSI character: drop the sequence, keep the character.
                        let stray = last;
                        self.pending.clear();
                        self.feed(&stray.to_string(), keys);
                        return;
                    }
                    _ => false,
                }
            }
            Some('O') => seq.chars().count() >= 3,
            Some('\x1b') => {
                // ESC ESC: the first was a lone Escape.
                keys.push(Key::Escape);
                self.pending = "\x1b".into();
                return;
            }
            Some(_) => true,
        };
        if finished {
            if let Some(key) = sequence_key(seq) {
                keys.push(key);
            }
            self.pending.clear();
        } else if seq.len() > MAX_SEQUENCE {
            self.pending.clear();
            self.discarding = true;
        }
    }
}

/// The key an escape sequence stands for; `None` for sequences we ignore (F-keys, modifiers).
fn sequence_key(seq: &str) -> Option<Key> {
    let key = match seq {
        "\x1b[A" | "\x1bOA" => Key::Up,
        "\x1b[B" | "\x1bOB" => Key::Down,
        "\x1b[C" | "\x1bOC" => Key::Right,
        "\x1b[D" | "\x1bOD" => Key::Left,
        "\x1b[1~" | "\x1b[7~" | "\x1b[H" | "\x1bOH" => Key::Home,
        "\x1b[4~" | "\x1b[8~" | "\x1b[F" | "\x1bOF" => Key::End,
        "\x1b[5~" => Key::PageUp,
        "\x1b[6~" => Key::PageDown,
        "\x1b[3~" => Key::Delete,
        _ => return cursor_report(seq),
    };
    Some(key)
}

/// Parses `ESC [ rows ; cols R`.
fn cursor_report(seq: &str) -> Option<Key> {
    let body = seq.strip_prefix("\x1b[")?.strip_suffix('R')?;
    let (row, col) = body.split_once(';')?;
    let valid = |s: &str| (1..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if !valid(row) || !valid(col) {
        return None;
    }
    Some(Key::CursorReport {
        row: row.parse().ok()?,
        col: col.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[&str], expected: &[Key]) {
        let mut decoder = KeyDecoder::new();
        let mut keys = Vec::new();
        for part in input {
            decoder.feed(part, &mut keys);
        }
        assert_eq!(keys, expected, "input {input:?}");
    }

    #[test]
    fn keys() {
        use Key::*;
        check(&["ab"], &[Char('a'), Char('b')]);
        check(&["a\r\n"], &[Char('a'), Enter]);
        check(&["a\r\0b"], &[Char('a'), Enter, Char('b')]);
        check(&["a\r", "\n"], &[Char('a'), Enter]);
        check(&["a\n\n"], &[Char('a'), Enter, Enter]);
        check(&["\r\r"], &[Enter, Enter]);
        check(&["\x1b[A\x1bOB\x1b[C\x1b[D"], &[Up, Down, Right, Left]);
        check(&["\x1b", "[", "5", "~"], &[PageUp]);
        check(
            &["\x1b[7~\x1b[8~\x1b[1~\x1b[4~\x1bOH\x1bOF"],
            &[Home, End, Home, End, Home, End],
        );
        check(&["\x1b[1;5Dx"], &[Char('x')]);
        check(&["\x1b[15~x"], &[Char('x')]);
        check(&["\x1bOPx"], &[Char('x')]);
        check(&["\x1b[24;80R"], &[CursorReport { row: 24, col: 80 }]);
        check(&["\x1b[99999;80Rx"], &[Char('x')]);
        check(&["\x7f\x08\t"], &[Backspace, Backspace, Tab]);
        check(
            &["\x01\x18\x05\x0c\x03"],
            &[Ctrl('a'), Ctrl('x'), Ctrl('e'), Ctrl('l'), Ctrl('c')],
        );
        check(&["\x15\x04"], &[PageUp, PageDown]);
        // A line-buffered terminal sends the keys of a line at once, with its Enter.
        check(&["\x1b[5~\x1b[5~\n"], &[PageUp, PageUp, Enter]);
        check(
            &["\x0b3,4hi\x02\x0f"],
            &[
                Char('\x0b'),
                Char('3'),
                Char(','),
                Char('4'),
                Char('h'),
                Char('i'),
                Char('\x02'),
                Char('\x0f'),
            ],
        );
        check(&["\x1b[\u{e9}x"], &[Char('\u{e9}'), Char('x')]);
        check(&["\u{85}a"], &[Char('a')]);
    }

    #[test]
    fn overlong_sequence_is_dropped_and_following_keys_survive() {
        let long = format!("\x1b[{}", "1;".repeat(20));
        check(&[&long, "m", "x"], &[Key::Char('x')]);
    }

    #[test]
    fn lone_escape_resolves_on_flush() {
        let mut decoder = KeyDecoder::new();
        let mut keys = Vec::new();
        decoder.feed("\x1b", &mut keys);
        assert!(keys.is_empty() && decoder.has_pending_escape());
        decoder.flush_escape(&mut keys);
        decoder.feed("a", &mut keys);
        assert_eq!(keys, [Key::Escape, Key::Char('a')]);
    }
}
