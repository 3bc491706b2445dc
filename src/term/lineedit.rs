//! The input line: readline-like editing of one line, and the history of sent lines.
//!
//! Sans-IO; positions are counted in characters. The line has a maximum length so an endless
//! paste without Enter costs bounded memory.

/// What an edit did, for the caller's feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditOutcome {
    /// The line changed or the cursor moved.
    Changed,
    /// The key did nothing (cursor at an end, empty history).
    Unchanged,
    /// A character was refused because the line is full.
    Full,
}

/// One input line with its cursor and history.
#[derive(Debug)]
pub struct LineEditor {
    chars: Vec<char>,
    cursor: usize,
    max_chars: usize,
    history: Vec<String>,
    /// Position in `history` while browsing it with Up/Down.
    browsing: Option<usize>,
}

impl LineEditor {
    /// An empty line that accepts at most `max_chars` characters.
    pub fn new(max_chars: usize) -> LineEditor {
        LineEditor {
            chars: Vec::new(),
            cursor: 0,
            max_chars,
            history: Vec::new(),
            browsing: None,
        }
    }

    /// The text of the line.
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// The characters of the line.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The characters as the screen shows them: a password (the arguments of `/login` and
    /// the like) as `*`, one per character, so the cursor stays where it is.
    pub fn shown_chars(&self) -> Vec<char> {
        crate::text::secret::masked(&self.chars)
    }

    /// The cursor position, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Inserts a character at the cursor.
    pub fn insert(&mut self, c: char) -> EditOutcome {
        if self.chars.len() >= self.max_chars {
            return EditOutcome::Full;
        }
        self.browsing = None;
        self.chars.insert(self.cursor, c);
        self.cursor += 1;
        EditOutcome::Changed
    }

    /// Deletes the character before the cursor.
    pub fn backspace(&mut self) -> EditOutcome {
        if self.cursor == 0 {
            return EditOutcome::Unchanged;
        }
        self.cursor -= 1;
        self.chars.remove(self.cursor);
        EditOutcome::Changed
    }

    /// Deletes the character under the cursor.
    pub fn delete(&mut self) -> EditOutcome {
        if self.cursor >= self.chars.len() {
            return EditOutcome::Unchanged;
        }
        self.chars.remove(self.cursor);
        EditOutcome::Changed
    }

    /// Moves the cursor by `step` characters, clamped to the line.
    pub fn move_cursor(&mut self, step: isize) -> EditOutcome {
        let target = (self.cursor as isize + step).clamp(0, self.chars.len() as isize) as usize;
        self.set_cursor(target)
    }

    /// Moves the cursor to the start of the line.
    pub fn home(&mut self) -> EditOutcome {
        self.set_cursor(0)
    }

    /// Moves the cursor to the end of the line.
    pub fn end(&mut self) -> EditOutcome {
        self.set_cursor(self.chars.len())
    }

    fn set_cursor(&mut self, target: usize) -> EditOutcome {
        if target == self.cursor {
            return EditOutcome::Unchanged;
        }
        self.cursor = target;
        EditOutcome::Changed
    }

    /// Replaces the characters from `start` up to the cursor with `text` and puts the cursor
    /// after it (tab completion). Text right of the cursor stays.
    pub fn replace_before_cursor(&mut self, start: usize, text: &str) {
        let start = start.min(self.cursor);
        let room = self
            .max_chars
            .saturating_sub(self.chars.len() - (self.cursor - start));
        let new: Vec<char> = text.chars().take(room).collect();
        let inserted = new.len();
        self.chars.splice(start..self.cursor, new);
        self.cursor = start + inserted;
    }

    /// Takes the line for sending: clears it and records it in the history (no immediate repeats).
    pub fn submit(&mut self) -> String {
        let line = self.text();
        self.remember(&line);
        self.replace(String::new());
        self.browsing = None;
        line
    }

    /// Takes the line for sending without recording it in the history (a line with a
    /// password).
    pub fn take(&mut self) -> String {
        let line = self.text();
        self.replace(String::new());
        self.browsing = None;
        line
    }

    fn remember(&mut self, line: &str) {
        if !line.is_empty() && self.history.last().map(String::as_str) != Some(line) {
            self.history.push(line.to_string());
        }
    }

    fn replace(&mut self, text: String) {
        self.chars = text.chars().take(self.max_chars).collect();
        self.cursor = self.chars.len();
    }

    /// Up: an older history entry. A typed draft is kept in the history so Down brings it back.
    pub fn history_back(&mut self) -> EditOutcome {
        let index = match self.browsing {
            Some(0) => {
                self.browsing = None;
                self.replace(String::new());
                return EditOutcome::Changed;
            }
            Some(index) => index - 1,
            None => {
                let draft = self.text();
                self.remember(&draft);
                match self.history.len() {
                    0 => return EditOutcome::Unchanged,
                    len if !draft.is_empty() && len >= 2 => len - 2,
                    _ if !draft.is_empty() => return EditOutcome::Unchanged,
                    len => len - 1,
                }
            }
        };
        self.browsing = Some(index);
        self.replace(self.history[index].clone());
        EditOutcome::Changed
    }

    /// Down: a newer history entry; past the newest the line is cleared.
    pub fn history_forward(&mut self) -> EditOutcome {
        match self.browsing {
            Some(index) if index + 1 < self.history.len() => {
                self.browsing = Some(index + 1);
                self.replace(self.history[index + 1].clone());
            }
            Some(_) => {
                self.browsing = None;
                self.replace(String::new());
            }
            None => {
                let draft = self.text();
                if draft.is_empty() {
                    return EditOutcome::Unchanged;
                }
                self.remember(&draft);
                self.replace(String::new());
            }
        }
        EditOutcome::Changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editing() {
        let mut line = LineEditor::new(100);
        for c in "helo".chars() {
            line.insert(c);
        }
        line.move_cursor(-1);
        line.insert('l');
        assert_eq!((line.text(), line.cursor()), ("hello".into(), 4));
        line.home();
        line.delete();
        line.end();
        line.backspace();
        assert_eq!(line.text(), "ell");
        assert_eq!(line.move_cursor(5), EditOutcome::Unchanged);
    }

    #[test]
    fn replacing_the_word_before_the_cursor_keeps_the_rest() {
        let mut line = LineEditor::new(100);
        "hi al there".chars().for_each(|c| {
            line.insert(c);
        });
        line.move_cursor(-6);
        line.replace_before_cursor(3, "alice ");
        assert_eq!((line.text(), line.cursor()), ("hi alice  there".into(), 9));
    }

    #[test]
    fn line_is_capped() {
        let mut line = LineEditor::new(3);
        let outcomes: Vec<EditOutcome> = "abcd".chars().map(|c| line.insert(c)).collect();
        assert_eq!(outcomes.last(), Some(&EditOutcome::Full));
        assert_eq!(line.text(), "abc");
    }

    #[test]
    fn history_keeps_the_draft() {
        let mut line = LineEditor::new(100);
        for text in ["one", "two"] {
            text.chars().for_each(|c| {
                line.insert(c);
            });
            line.submit();
        }
        "abc".chars().for_each(|c| {
            line.insert(c);
        });
        line.history_back();
        assert_eq!(line.text(), "two");
        line.history_back();
        assert_eq!(line.text(), "one");
        line.history_forward();
        line.history_forward();
        assert_eq!(line.text(), "abc");
        line.history_forward();
        assert_eq!(line.text(), "");
    }
}
