//! The first-connect wizard: r0c's screens that find out what the client can do (Enter key,
//! line buffering, local echo, colours, charset) before the chat starts.
//!
//! Sans-IO: it is fed the text of each read and answers with screens to send and, at the end,
//! the settings it found. Prompts, answers and screen bytes follow r0c 1.6.1 so that scripts
//! written for it (and its own stress testers) pass through unchanged.

use crate::session::saved::SavedClient;
use crate::session::settings::ClientSettings;
use crate::term::charset::{Charset, encode};

/// The header every wizard screen starts with (after r0c's 20 blank lines and a clear).
const HEADER: &str = " [ r0c configurator ]\r\n\r\n";

/// The sample line of the charset question: box drawing that reads "hmr".
const BOX_SAMPLE: &str = "├┐ ┌┬┐ ┌ ";

/// What the connection should do after feeding the wizard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WizardAction {
    /// Send these bytes (already encoded for the client).
    Send(Vec<u8>),
    /// The wizard is done: start the chat with these settings.
    Finish(ClientSettings),
    /// Say this and disconnect.
    Quit(Vec<u8>),
    /// The client looks like a telnet scanner: disconnect it after this long instead.
    KickAfter(std::time::Duration),
    /// The user pressed CTRL-C: say goodbye and disconnect (with `--dev` from 127.0.0.1, the
    /// server shuts down).
    Interrupted,
}

/// Words telnet scanners type at a login prompt (credentials and shell probes). Everyday words
/// such as `user`, `setup`, `system` or `tech`, which r0c's list also caught, are left out so a
/// person answering the wizard is never taken for a bot.
const SCANNER_WORDS: [&str; 24] = [
    "root",
    "admin",
    "Admin",
    "toor",
    "ubnt",
    "hikvision",
    "busybox",
    "letmein",
    "888888",
    "xc3511",
    "vizxv",
    "MIRAI",
    "HTTP/1",
    "guest",
    "Huawei",
    "cisco",
    "Cisco",
    "oracle",
    "supervisor",
    "daemon",
    "password",
    "666666",
    "7ujMko0",
    "/bin/busybox",
];

/// How long a client that looks like a scanner is kept talking to the fake shell.
const BOT_KICK: std::time::Duration = std::time::Duration::from_secs(69);

/// The fake shell shown to telnet scanners.
const FAKE_PROMPT: &str = "\r\n\r\nroot@IBM_3090:/# ";

/// Which question is on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Verify,
    TypingTest,
    Echo,
    WrongPort,
    LinemodeWarning,
    Colours,
    ColoursSeen,
    NoVt100Warning,
    Charset,
    TelnetExe,
}

/// What the telnet negotiation told about the client, used to pre-select answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hints {
    /// The client reported a window size or a VT100-family terminal type.
    pub vt100: bool,
    /// The client agreed that the server echoes (so it does not echo by itself).
    pub server_echoes: bool,
}

impl Hints {
    /// Hints from a telnet client's reports.
    pub fn from_telnet(
        terminal_type: Option<&str>,
        window_size: bool,
        server_echoes: bool,
    ) -> Hints {
        const VT100_FAMILY: [&str; 10] = [
            "xterm", "vt1", "vt2", "vt3", "vt4", "screen", "tmux", "linux", "ansi", "rxvt",
        ];
        let terminal = terminal_type.unwrap_or_default().to_lowercase();
        let vt100 = window_size
            || VT100_FAMILY.iter().any(|t| terminal.starts_with(t))
            || terminal.contains("putty");
        Hints {
            vt100,
            server_echoes,
        }
    }
}

/// Facts about the connection the wizard needs.
#[derive(Debug, Clone, Copy)]
pub struct Listener {
    /// Connected to the telnet listener (else the raw one).
    pub telnet: bool,
    /// The other listener's port, for the wrong-port hint; 0 if it is disabled.
    pub sibling_port: u16,
}

/// The wizard's state for one connection.
#[derive(Debug)]
pub struct Wizard {
    stage: Stage,
    listener: Listener,
    /// What was typed since the current question appeared.
    input: String,
    /// The most characters that arrived in one read during the typing test.
    biggest_read: usize,
    settings: ClientSettings,
    /// The wrong-port question was asked already.
    port_checked: bool,
    /// What a returning client had saved; the wizard asks it to confirm.
    saved: Option<SavedClient>,
    /// The fewest characters that arrived in one read before Enter, on the confirmation page:
    /// more than one means the client sends whole lines.
    smallest_read: Option<usize>,
    /// The first 1024 characters typed in the wizard, checked for scanner words.
    typed: String,
    /// Lines a scanner typed into the fake shell, once it was recognised.
    bot_lines: Option<usize>,
    /// What the telnet layer learned about the client.
    hints: Hints,
}

impl Wizard {
    /// A wizard for a new connection on `listener`; a returning client's `saved` settings are
    /// offered for confirmation first.
    pub fn new(listener: Listener, saved: Option<SavedClient>) -> Wizard {
        Wizard {
            stage: if saved.is_some() {
                Stage::Verify
            } else {
                Stage::TypingTest
            },
            listener,
            input: String::new(),
            biggest_read: 0,
            settings: ClientSettings::default(),
            port_checked: false,
            saved,
            smallest_read: None,
            typed: String::new(),
            bot_lines: None,
            hints: Hints::default(),
        }
    }

    /// The wizard's findings for a terminal whose answers are known without asking: the
    /// browser terminal is a UTF-8 VT100 terminal that sends CR for Enter, sends each key as
    /// it is pressed and lets the server echo. A returning browser gets its nick and toggles
    /// back; nothing it saved about its terminal can have changed, so there is nothing to
    /// confirm.
    pub fn known_terminal(saved: Option<&SavedClient>) -> ClientSettings {
        ClientSettings {
            vt100: true,
            linemode: false,
            echo: false,
            enter: "\r".into(),
            charset: Charset::Utf8,
            nick: saved.map(|saved| saved.nick.clone()),
            prefs: saved.map(|saved| saved.prefs.clone()),
            ..ClientSettings::default()
        }
    }

    /// Feeds the fake shell: typed text is echoed, and every line gets an answer.
    fn fake_shell(&mut self, text: &str, lines: usize) -> Vec<WizardAction> {
        let mut out = String::new();
        let mut lines = lines;
        for c in text.chars() {
            if matches!(c, '\r' | '\n') {
                if self.input.is_empty() {
                    continue;
                }
                let line = std::mem::take(&mut self.input);
                out.push_str(&if lines == 0 {
                    format!("\r\nSEGMENTATION FAULT{FAKE_PROMPT}")
                } else {
                    format!("\r\nSYNTAX ERROR: {line}{FAKE_PROMPT}")
                });
                lines += 1;
            } else if !c.is_control() && self.input.len() < 1024 {
                self.input.push(c);
                out.push(c);
            }
        }
        self.bot_lines = Some(lines);
        if out.is_empty() {
            Vec::new()
        } else {
            vec![WizardAction::Send(out.into_bytes())]
        }
    }

    /// The first screen.
    pub fn start(&self) -> Vec<u8> {
        match &self.saved {
            Some(saved) => verify_screen(saved),
            None => screen(TYPING_TEST),
        }
    }

    /// The confirmation page of a returning client.
    ///
    /// `enter_before` says whether Enter was among what was typed before this read. It is
    /// worked out before the read is added, because the kept input can be cut to its end
    /// (after a flood), and then it no longer holds this read whole, so nothing can be
    /// subtracted from it.
    fn verify(&mut self, text: &str, enter_before: bool) -> Vec<WizardAction> {
        if !enter_before {
            // A whole line in one read (answer and Enter together) means line buffering.
            let grown = text.chars().count().max(1);
            self.smallest_read = Some(self.smallest_read.map_or(grown, |s| s.min(grown)));
        }
        let Some(enter) = doubled_enter(&self.input) else {
            return Vec::new();
        };
        let Some(saved) = self.saved.clone() else {
            return Vec::new();
        };
        match self.answer(&['y', 'n']) {
            Some('y') => {
                let mut errors = Vec::new();
                if self.smallest_read.is_some_and(|s| s > 1) != saved.settings.linemode {
                    errors.push("linemode changed");
                }
                if enter != saved.settings.enter {
                    errors.push("retkey changed");
                }
                if errors.is_empty() {
                    self.settings = ClientSettings {
                        nick: Some(saved.nick.clone()),
                        prefs: Some(saved.prefs.clone()),
                        ..saved.settings
                    };
                    return self.finish();
                }
                self.restart_test();
                let reasons: String = errors.iter().map(|e| format!("   -- {e}\r\n")).collect();
                vec![WizardAction::Send(screen(&format!(
                    " sorry, your config is definitely incorrect:\r\n{reasons}\r\n{TYPING_TEST}"
                )))]
            }
            Some(_) => {
                self.restart_test();
                self.settings.avoid_nick = Some(saved.nick);
                vec![WizardAction::Send(screen(TYPING_TEST))]
            }
            None => {
                self.input.clear();
                Vec::new()
            }
        }
    }

    fn restart_test(&mut self) {
        self.stage = Stage::TypingTest;
        self.settings = ClientSettings::default();
        self.saved = None;
        self.input.clear();
        self.biggest_read = 0;
    }

    /// Feeds the text of one read; `negotiations` is how many telnet commands the client has
    /// sent so far (for the wrong-port hint).
    pub fn feed(&mut self, text: &str, negotiations: u32) -> Vec<WizardAction> {
        if text.contains('\x03') {
            return vec![WizardAction::Interrupted];
        }
        if let Some(lines) = self.bot_lines {
            return self.fake_shell(text, lines);
        }
        let room = 1024usize.saturating_sub(self.typed.chars().count());
        self.typed.extend(text.chars().take(room));
        if is_scanner(&self.typed) {
            tracing::info!(typed = self.typed, "telnet scanner detected");
            self.input.clear();
            // The rest of this read already goes to the fake shell.
            let mut actions = vec![WizardAction::KickAfter(BOT_KICK)];
            actions.extend(self.fake_shell(text, 0));
            return actions;
        }
        let enter_before = self.input.contains(['\r', '\n']);
        self.input.push_str(text);
        if self.input.len() > 4096 {
            // Nothing the wizard asks for is this long; keep only the end.
            let cut = self.input.len() - 1024;
            let cut = (cut..self.input.len())
                .find(|&i| self.input.is_char_boundary(i))
                .unwrap_or(0);
            self.input.drain(..cut);
        }
        match self.stage {
            Stage::Verify => self.verify(text, enter_before),
            Stage::TypingTest => self.typing_test(text, negotiations),
            Stage::Echo => match self.answer(&['a', 'b']) {
                Some('a') => {
                    self.settings.echo = true;
                    self.after_typing(negotiations)
                }
                Some(_) => self.after_typing(negotiations),
                None => Vec::new(),
            },
            Stage::WrongPort => match self.answer(&['y', 'n']) {
                Some('y') => self.after_port_check(),
                Some(_) => vec![WizardAction::Quit(b"\r\nok bye\r\n".to_vec())],
                None => Vec::new(),
            },
            Stage::LinemodeWarning | Stage::NoVt100Warning => match self.answer(&['a', 'q']) {
                Some('a') if self.stage == Stage::LinemodeWarning => self.ask_colours(),
                Some('a') => self.ask_charset(),
                Some(_) => vec![WizardAction::Quit(b"\r\nok bye\r\n".to_vec())],
                None => Vec::new(),
            },
            Stage::Colours => match self.answer(&['y', 'n']) {
                Some('y') => self.ask_charset(),
                Some(_) => {
                    self.stage = Stage::ColoursSeen;
                    self.input.clear();
                    let prompt = self.prompt("A or B");
                    vec![WizardAction::Send(
                        format!(
                            "\r\n{}\r\n\x1b[2A\r\n what did you see instead?\r\n\r\n   A:  \"red, green, yellow, blue\"\r\n       -- either in just one colour\r\n          or otherwise incorrect colours\r\n\r\n   B:  \"[1;31mred, [32mgreen, [33myellow, [34mblue[0m\"\r\n\r\n {prompt}\r\n ",
                            "/".repeat(71)
                        )
                        .into_bytes(),
                    )]
                }
                None => Vec::new(),
            },
            Stage::ColoursSeen => match self.answer(&['a', 'b']) {
                Some('a') => self.ask_charset(),
                Some(_) => {
                    self.settings.vt100 = false;
                    self.stage = Stage::NoVt100Warning;
                    self.input.clear();
                    let prompt = self.accept_prompt();
                    vec![WizardAction::Send(screen(&format!(
                        " WARNING:\r\n   your client or terminal is not vt100 compatible!\r\n   I will reduce features to a bare minimum,\r\n   but this is gonna be bad regardless\r\n\r\n   whenever the screen turns too glitchy\r\n   you can press CTRL-L and Enter to redraw\r\n   or run the command \"/r\" if that doesn't work\r\n\r\n {prompt}\r\n "
                    )))]
                }
                None => Vec::new(),
            },
            Stage::Charset => {
                let letters = ['a', 'b', 'c', 'd', 'e'];
                match self.answer(&letters) {
                    Some(letter) => {
                        let index = letters.iter().position(|l| *l == letter).unwrap_or(0);
                        self.settings.charset = Charset::ALL[index];
                        if self.settings.enter == "\r\n"
                            && self.settings.charset != Charset::Utf8
                            && self.settings.vt100
                        {
                            self.stage = Stage::TelnetExe;
                            self.input.clear();
                            let prompt = self.prompt("Y or N");
                            vec![WizardAction::Send(screen(&format!(
                                " are you using telnet.exe on Windows 7 or newer?\r\n\r\n   Y:  yes, that is what I am using\r\n   N:  no, another client (or an older Windows)\r\n\r\n {prompt}\r\n "
                            )))]
                        } else {
                            self.finish()
                        }
                    }
                    None => Vec::new(),
                }
            }
            Stage::TelnetExe => match self.answer(&['y', 'n']) {
                Some(answer) => {
                    self.settings.slowmo = answer == 'y';
                    self.finish()
                }
                None => Vec::new(),
            },
        }
    }

    /// The typing test: learns the Enter key and whether the client sends whole lines.
    fn typing_test(&mut self, text: &str, negotiations: u32) -> Vec<WizardAction> {
        let grown = text.chars().count();
        // A read of one character plus Enter is still typing by hand.
        let enter_only = grown == 2 && text.ends_with(['\r', '\n', '\0']);
        if grown > 1 && !enter_only {
            self.biggest_read = self.biggest_read.max(grown);
        }
        let typed = self.input.trim_matches(['\r', '\n', '\0']).to_string();
        if let Some(actions) = self.shortcut(&typed) {
            return actions;
        }
        let Some(enter) = doubled_enter(&self.input) else {
            return Vec::new();
        };
        let letters = typed
            .chars()
            .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
            .count();
        if letters == 0 {
            self.input.clear();
            return Vec::new();
        }
        self.settings.enter = enter;
        if self.biggest_read >= letters.saturating_sub(2).max(2) {
            self.settings.linemode = true;
            self.settings.echo = true;
        }
        self.input.clear();
        if self.settings.linemode {
            return self.after_typing(negotiations);
        }
        self.stage = Stage::Echo;
        let prompt = self.prompt("A or B");
        vec![WizardAction::Send(
            format!("\r\n\r\n   A:  your text appeared as you typed\r\n\r\n   B:  nothing happened\r\n\r\n {prompt}\r\n ")
                .into_bytes(),
        )]
    }

    /// r0c's shortcuts for scripted clients: `wncat`, `wtn<chan>`, `ltn<chan>`.
    fn shortcut(&mut self, typed: &str) -> Option<Vec<WizardAction>> {
        if !self.input.ends_with(['\r', '\n', '\0']) {
            return None;
        }
        let line = typed
            .lines()
            .next()
            .unwrap_or_default()
            .trim_end_matches([' ', '\0']);
        if line.starts_with("wncat") {
            self.settings.linemode = true;
            self.settings.echo = true;
            self.settings.vt100 = false;
            self.settings.charset = Charset::Cp437;
        } else if let Some(channel) = line.strip_prefix("wtn") {
            self.settings.slowmo = true;
            self.settings.charset = Charset::Cp437;
            self.settings.join = Some(channel.to_string()).filter(|c| !c.is_empty());
        } else if let Some(channel) = line.strip_prefix("ltn") {
            self.settings.charset = Charset::Utf8;
            self.settings.join = Some(channel.to_string()).filter(|c| !c.is_empty());
        } else {
            return None;
        }
        self.settings.enter =
            doubled_enter(&self.input).unwrap_or_else(|| trailing_enter(&self.input));
        Some(self.finish())
    }

    fn after_typing(&mut self, negotiations: u32) -> Vec<WizardAction> {
        self.input.clear();
        let wrong = if self.listener.telnet {
            negotiations == 0
        } else {
            negotiations > 0
        };
        if wrong && !self.port_checked && self.listener.sibling_port != 0 {
            self.port_checked = true;
            self.stage = Stage::WrongPort;
            let problem = if self.listener.telnet {
                format!(
                    " your client is not responding to negotiations.\r\n\r\n   if you are NOT using Telnet,\r\n   please connect to port {}",
                    self.listener.sibling_port
                )
            } else {
                format!(
                    " your client has sent {negotiations} Telnet negotiation{}.\r\n\r\n   if you are using Telnet,\r\n   please connect to port {}",
                    if negotiations == 1 { "" } else { "s" },
                    self.listener.sibling_port
                )
            };
            let prompt = "press Y or N, followed by [Enter]";
            return vec![WizardAction::Send(screen(&format!(
                "{problem}\r\n\r\n are you sure the port is correct?\r\n\r\n   Y:  yes, ignore and continue\r\n   N:  no, quit\r\n\r\n {prompt}\r\n"
            )))];
        }
        self.after_port_check()
    }

    fn after_port_check(&mut self) -> Vec<WizardAction> {
        self.input.clear();
        if self.settings.linemode {
            self.stage = Stage::LinemodeWarning;
            let prompt = self.accept_prompt();
            return vec![WizardAction::Send(screen(&format!(
                " WARNING:\r\n   your client is stuck in line-buffered mode,\r\n   this will cause visual glitches in text input.\r\n   Keys like PgUp and CTRL-Z are also buggy;\r\n   you must press the key twice followed by Enter.\r\n\r\n if you are using Linux or Mac OSX, disconnect and\r\n run the following command before reconnecting:\r\n   macOS:  stty -f /dev/stdin -icanon\r\n   Linux:  stty -icanon\r\n\r\n {prompt}\r\n "
            )))];
        }
        self.ask_colours()
    }

    fn ask_colours(&mut self) -> Vec<WizardAction> {
        self.stage = Stage::Colours;
        self.input.clear();
        let prompt = self.prompt("Y or N");
        vec![WizardAction::Send(screen(&format!(
            " does colours work?\r\n \x1b[1;31mred, \x1b[32mgreen, \x1b[33myellow, \x1b[34mblue\x1b[0m\r\n\r\n {prompt}\r\n "
        )))]
    }

    fn ask_charset(&mut self) -> Vec<WizardAction> {
        self.stage = Stage::Charset;
        self.input.clear();
        let mut out = clear().into_bytes();
        out.extend_from_slice(b"\r\n which line looks like \"hmr\" or \"dna\" ?");
        let samples: [(char, Charset, &str); 5] = [
            ('A', Charset::Utf8, BOX_SAMPLE),
            ('B', Charset::Cp437, BOX_SAMPLE),
            ('C', Charset::ShiftJis, BOX_SAMPLE),
            ('D', Charset::Latin1, "Ð Ñ Ã "),
            ('E', Charset::Ascii, "all the above are messed up "),
        ];
        for (index, (letter, charset, sample)) in samples.into_iter().enumerate() {
            if self.settings.vt100 {
                let row = 4 + 2 * index;
                out.extend(format!("\x1b[{row}H   {letter}:  ").into_bytes());
                encode(charset, sample, &mut out);
                out.extend(format!("\x1b[J\x1b[{}H\x1b[J", row + 1).into_bytes());
            } else {
                out.extend(format!("\r\n\r\n   {letter}:  ").into_bytes());
                encode(charset, sample, &mut out);
            }
        }
        let prompt = self.prompt("A/B/C/D/E");
        out.extend(format!("\r\n {prompt}\r\n").into_bytes());
        vec![WizardAction::Send(out)]
    }

    fn finish(&mut self) -> Vec<WizardAction> {
        self.input.clear();
        vec![WizardAction::Finish(self.settings.clone())]
    }

    /// `press X or Y:`, or `press X or Y, followed by [Enter]` for line-buffered clients.
    fn prompt(&self, keys: &str) -> String {
        if self.settings.linemode {
            format!("press {keys}, followed by [Enter]")
        } else {
            format!("press {keys}:")
        }
    }

    /// The prompt of the warning pages.
    fn accept_prompt(&self) -> &'static str {
        if self.settings.linemode {
            "press A to accept or Q to quit, followed by [Enter]"
        } else {
            "press A to accept or Q to quit"
        }
    }

    /// The first of `letters` typed since the question appeared. Escape sequences (arrow
    /// keys send `ESC [ A`) never count as an answer; line-buffered clients must press Enter.
    fn answer(&self, letters: &[char]) -> Option<char> {
        let pressed_enter = self.input.contains(['\r', '\n']);
        if self.settings.linemode && !pressed_enter {
            return None;
        }
        let plain = without_escape_sequences(&self.input).to_lowercase();
        plain.chars().find(|c| letters.contains(c)).or_else(|| {
            self.preselected()
                .filter(|c| pressed_enter && letters.contains(c))
        })
    }

    /// The answer Enter alone picks, from what a telnet client told about itself: one that
    /// reports a window size or a VT100-family terminal type shows colours, and one that let
    /// the server echo does not echo by itself. The questions stay the same.
    fn preselected(&self) -> Option<char> {
        match self.stage {
            Stage::Colours => self.hints.vt100.then_some('y'),
            Stage::Echo => self.hints.server_echoes.then_some('b'),
            _ => None,
        }
    }

    /// What the telnet layer learned about the client (NAWS, TTYPE, ECHO), for pre-selection.
    pub fn set_hints(&mut self, hints: Hints) {
        self.hints = hints;
    }
}

/// Whether `typed` contains a scanner word on its own (not inside a longer word).
fn is_scanner(typed: &str) -> bool {
    typed
        .split(|c: char| c.is_whitespace() || c.is_control())
        .any(|token| SCANNER_WORDS.contains(&token))
}

/// The typing test's question.
const TYPING_TEST: &str =
    " type the text below, then hit [Enter] [Enter]:\r\n\r\n   qwer asdf\r\n\r\n ";

/// The confirmation page (r0c's "verify that your config is still OK"), with the sample text
/// encoded in the saved charset so the user sees whether it still reads right.
fn verify_screen(saved: &SavedClient) -> Vec<u8> {
    let settings = &saved.settings;
    let mut out = screen(" verify that your config is still OK:\r\n");
    match settings.charset {
        Charset::Ascii => out.extend_from_slice(b"    unicode / extended characters: DISABLED"),
        Charset::Latin1 => {
            out.extend_from_slice(b"    this says \"DNA\":  \" ");
            encode(settings.charset, "Ð Ñ Ã", &mut out);
            out.extend_from_slice(b" \"");
        }
        charset => {
            out.extend_from_slice(b"    this says \"hmr\":  \" ");
            encode(charset, BOX_SAMPLE, &mut out);
            out.extend_from_slice(b"\"");
        }
    }
    let green = if settings.vt100 {
        "\x1b[32mthis sentence is green\x1b[0m"
    } else {
        "this sentence is NOT green"
    };
    let verdict = |value: bool, good: bool| {
        let word = if value { "Yes" } else { "No " };
        let note = if value == good {
            "(your client is OK)"
        } else {
            "(get better software)"
        };
        format!("{word}  {note}")
    };
    let enter: Vec<String> = settings.enter.bytes().map(|b| format!("{b:02x}")).collect();
    let slowmo = if settings.slowmo {
        "    slowmo:    ENABLED\r\n"
    } else {
        ""
    };
    out.extend(
        format!(
            "\r\n    {green}\r\n\r\n technical details:\r\n    linemode:  {}\r\n    colors:    {}\r\n    echo:      {}\r\n    encoding:  {} + {}\r\n{slowmo}\r\n    Y:  correct; continue\r\n    N:  use another config\r\n\r\n press Y or N, followed by [Enter] [Enter]\r\n",
            verdict(settings.linemode, false),
            verdict(settings.vt100, true),
            verdict(settings.echo, false),
            settings.charset.name(),
            enter.join(" ")
        )
        .into_bytes(),
    );
    out
}

/// A wizard screen: r0c's 20 blank lines (for terminals without cursor addressing), a clear,
/// the header, then `body`. The clear also releases any scroll region, which a chat that
/// ended with a dropped connection may have left in the terminal.
fn screen(body: &str) -> Vec<u8> {
    format!("{}{HEADER}{body}", clear()).into_bytes()
}

fn clear() -> String {
    format!("{}\x1b[r\x1b[H\x1b[J", "\r\n".repeat(20))
}

/// The trailing run of Enter bytes (CR, LF, NUL) of `input`.
fn enter_run(input: &str) -> &str {
    &input[input.trim_end_matches(['\r', '\n', '\0']).len()..]
}

/// The Enter key if `input` ends with it pressed twice: the last at most four bytes of the
/// trailing run of CR, LF and NUL, split in two equal halves.
fn doubled_enter(input: &str) -> Option<String> {
    let run = enter_run(input);
    let tail = &run[run.len().saturating_sub(4)..];
    let half = tail.len() / 2;
    (tail.len() >= 2 && tail.len().is_multiple_of(2) && tail[..half] == tail[half..])
        .then(|| tail[..half].to_string())
}

/// The Enter bytes at the end of `input`, when it was pressed once.
fn trailing_enter(input: &str) -> String {
    match enter_run(input) {
        "" => "\r\n".into(),
        run => run.to_string(),
    }
}

/// `text` without escape sequences (ESC, an optional `[` or `O`, parameters, a final letter).
fn without_escape_sequences(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if matches!(chars.peek(), Some('[') | Some('O')) {
            chars.next();
        }
        for next in chars.by_ref() {
            if next.is_ascii_alphabetic() || next == '~' {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
