//! Entry points for fuzzing: each takes arbitrary bytes, drives one input-facing part of the
//! server with them, and panics if an invariant breaks. The cargo-fuzz targets in `fuzz/` call
//! these, and the saved corpora are replayed through them by the test suite
//! (`tests/it/fuzz_corpus.rs`), so a crash found once stays fixed.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::bridge::irc_proto::{IrcLine, MAX_LINE, command, decode_line, irc_to_r0c};
use crate::command::{Command, table};
use crate::front::telnet::{RawFilter, TelnetCodec};
use crate::session::saved::SavedClient;
use crate::session::settings::ClientSettings;
use crate::session::terminal::Session;
use crate::session::wizard::{Listener, Wizard, WizardAction};
use crate::store::Store;
use crate::term::charset::{Charset, Decoder, encode};
use crate::term::keys::KeyDecoder;
use crate::world::{Prefs, World, WorldSettings};

/// The telnet codec and the raw filter on arbitrary bytes, fed in two pieces split at the
/// first byte's value: replies are whole commands, data carries no subnegotiation bytes.
pub fn telnet(data: &[u8]) {
    let split = data
        .first()
        .map_or(0, |b| usize::from(*b) % (data.len() + 1));
    let mut codec = TelnetCodec::new();
    let mut events = Vec::new();
    codec.start();
    codec.receive(&data[..split], &mut events);
    codec.receive(&data[split..], &mut events);
    let replies = codec.take_replies();
    assert!(
        replies.len() <= 3 * data.len() + 64,
        "replies stay proportional to input"
    );
    let mut raw = RawFilter::new();
    let mut out = Vec::new();
    raw.start();
    raw.receive(data, &mut out);
    assert!(out.len() <= data.len(), "the raw filter only removes bytes");
}

/// The key decoder on arbitrary text: never more keys than characters plus one flush.
pub fn keys(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut decoder = KeyDecoder::new();
    let mut keys = Vec::new();
    decoder.feed(&text, &mut keys);
    decoder.flush_escape(&mut keys);
    assert!(keys.len() <= text.chars().count() + 1);
    assert!(!decoder.has_pending_escape());
}

/// Every charset's decoder on arbitrary bytes, and encoding what came out.
pub fn charsets(data: &[u8]) {
    for charset in Charset::ALL {
        let mut decoder = Decoder::new(charset);
        let mut text = String::new();
        let half = data.len() / 2;
        decoder.decode(&data[..half], &mut text);
        decoder.decode(&data[half..], &mut text);
        let mut encoded = Vec::new();
        encode(charset, &text, &mut encoded);
    }
}

/// The wizard fed arbitrary input: first, all of it, in pieces, to a new client on both kinds
/// of listener; then the rest after two bytes to a wizard that one of [`WIZARD_SCRIPTS`]
/// (chosen by the first byte) brought to one of its questions, a returning client's
/// confirmation page among them (whose saved settings the second byte picks), in pieces of a
/// size the third byte picks. Once the wizard finishes or quits it is fed no more, as a
/// connection would not feed it.
pub fn wizard(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for telnet in [false, true] {
        let mut wizard = Wizard::new(
            Listener {
                telnet,
                sibling_port: 1531,
            },
            None,
        );
        wizard.start();
        let chars: Vec<char> = text.chars().collect();
        for piece in chars.chunks(7) {
            let piece: String = piece.iter().collect();
            wizard.feed(&piece, 0);
        }
    }
    let [script, saved, piece, rest @ ..] = data else {
        return;
    };
    let script = &WIZARD_SCRIPTS[usize::from(*script) % WIZARD_SCRIPTS.len()];
    let mut wizard = script.wizard(*saved);
    let rest = String::from_utf8_lossy(rest);
    let chars: Vec<char> = rest.chars().collect();
    // Pieces of up to 6000 characters: a flood arrives in big reads.
    let size = match piece {
        0..=199 => usize::from(*piece % 16) + 1,
        200..=249 => 1500,
        _ => 6000,
    };
    for piece in chars.chunks(size) {
        let piece: String = piece.iter().collect();
        let actions = wizard.feed(&piece, script.negotiations);
        let ended = actions.iter().any(|action| {
            matches!(
                action,
                WizardAction::Finish(_) | WizardAction::Quit(_) | WizardAction::Interrupted
            )
        });
        if ended {
            break;
        }
    }
}

/// A way to one of the wizard's questions: the listener, the telnet negotiations the client
/// sent, whether the client is returning (has saved settings), and the reads that lead there.
#[derive(Debug, Clone, Copy)]
pub struct WizardScript {
    /// Connected to the telnet listener (else the raw one).
    pub telnet: bool,
    /// Telnet commands the client sent, as the connection counts them.
    pub negotiations: u32,
    /// The address has saved settings, so the confirmation page comes first.
    pub returning: bool,
    /// The reads, separated by `|`.
    pub reads: &'static str,
}

impl WizardScript {
    /// A wizard brought to this script's question; `saved` picks the saved settings of a
    /// returning client.
    pub fn wizard(&self, saved: u8) -> Wizard {
        let mut wizard = Wizard::new(
            Listener {
                telnet: self.telnet,
                sibling_port: 1531,
            },
            self.returning.then(|| saved_client(saved)),
        );
        wizard.start();
        for read in self.reads() {
            wizard.feed(read, self.negotiations);
        }
        wizard
    }

    /// The reads, one by one.
    pub fn reads(&self) -> impl Iterator<Item = &'static str> {
        self.reads.split('|').filter(|read| !read.is_empty())
    }
}

/// One script per question of the wizard (the unit tests of `session::wizard` check that each
/// question is reached): the typing test, the echo question, the wrong-port question, the
/// line-mode warning, colours, what was seen instead, the no-VT100 warning, the charset,
/// telnet.exe, the confirmation page, and the typing test after a returning client said no.
pub const WIZARD_SCRIPTS: [WizardScript; 11] = [
    WizardScript {
        telnet: false,
        negotiations: 0,
        returning: false,
        reads: "",
    },
    WizardScript {
        telnet: false,
        negotiations: 0,
        returning: false,
        reads: "q|w|e|r| |a|s|d|f|\n|\n",
    },
    WizardScript {
        telnet: true,
        negotiations: 0,
        returning: false,
        reads: "q|w|e|r| |a|s|d|f|\r\0|\r\0|b",
    },
    WizardScript {
        telnet: false,
        negotiations: 0,
        returning: false,
        reads: "qwer asdf\n\n",
    },
    WizardScript {
        telnet: false,
        negotiations: 0,
        returning: false,
        reads: "q|w|e|r| |a|s|d|f|\n|\n|b",
    },
    WizardScript {
        telnet: false,
        negotiations: 0,
        returning: false,
        reads: "q|w|e|r| |a|s|d|f|\n|\n|b|n",
    },
    WizardScript {
        telnet: false,
        negotiations: 0,
        returning: false,
        reads: "q|w|e|r| |a|s|d|f|\n|\n|b|n|b",
    },
    WizardScript {
        telnet: false,
        negotiations: 0,
        returning: false,
        reads: "q|w|e|r| |a|s|d|f|\n|\n|b|y",
    },
    WizardScript {
        telnet: true,
        negotiations: 3,
        returning: false,
        reads: "q|w|e|r| |a|s|d|f|\r\n|\r\n|b|y|b",
    },
    WizardScript {
        telnet: true,
        negotiations: 3,
        returning: true,
        reads: "",
    },
    WizardScript {
        telnet: false,
        negotiations: 0,
        returning: true,
        reads: "n\n\n",
    },
];

/// Saved settings for a returning client, picked by the bits of `byte`: line mode, VT100,
/// echo, the Enter key, the charset and slowmo.
fn saved_client(byte: u8) -> SavedClient {
    const ENTERS: [&str; 4] = ["\r\n", "\n", "\r", "\r\0"];
    let bit = |n: u8| byte & (1 << n) != 0;
    SavedClient {
        nick: "returning".into(),
        settings: ClientSettings {
            linemode: bit(0),
            vt100: bit(1),
            echo: bit(2),
            enter: ENTERS[usize::from((byte >> 3) & 3)].into(),
            charset: Charset::ALL[usize::from(byte >> 5) % Charset::ALL.len()],
            slowmo: bit(7),
            ..ClientSettings::default()
        },
        prefs: Prefs {
            bell: byte & 3,
            at_all: bit(2),
            hilight_log: bit(3),
            colored_nicks: bit(4),
            margins: bit(5),
            hide_joins: false,
            zone: None,
        },
    }
}

/// IRC lines from a server: parsing, the session state machine, colour conversion, and the
/// lines we send never carry a line break and never exceed 512 bytes.
pub fn irc_line(data: &[u8]) {
    let mut session = crate::bridge::session::Session::new(
        "r0c",
        "r0c",
        Some("pw"),
        "r0c",
        &["#chat".to_string()],
    );
    session.connected(Duration::ZERO);
    for (n, raw) in data.split(|b| *b == b'\n').enumerate() {
        let line = decode_line(raw);
        let _ = IrcLine::parse(&line);
        session.received(&line, Duration::from_secs(n as u64));
        let r0c = crate::text::sanitize_message(&irc_to_r0c(&line));
        assert_eq!(crate::text::sanitize_message(&r0c), r0c);
    }
    session.tick(Duration::from_secs(1000));
    let mut sent = session.take_immediate();
    while let Some(line) = session.next_queued() {
        sent.push(line.to_string());
        session.pop_queued();
    }
    let text = String::from_utf8_lossy(data);
    sent.push(command(&["PRIVMSG", "#chat", &text]));
    sent.extend(crate::bridge::session::chat_lines("#chat", &text, true));
    for line in sent {
        assert!(line.len() <= MAX_LINE + 2, "{line:?}");
        let body = line.strip_suffix("\r\n").unwrap_or(&line);
        assert!(!body.contains(['\r', '\n', '\0']), "{line:?}");
    }
}

/// Commands and chat typed by a user, against a real world with a store in a temporary
/// directory; the rendered screen never carries an escape sequence the user typed.
pub fn commands(data: &[u8]) {
    let world = command_world();
    let text = String::from_utf8_lossy(data);
    let (user, _) = world.connect(std::net::IpAddr::from([10, 9, 8, 7]), "welcome".into());
    let mut session = Session::new(user, world.clone());
    session.window_size_known(80, 24);
    // Lines that would end the connection or shut the server down are left out.
    let typed: String = text
        .split_inclusive(['\r', '\n'])
        .filter(|line| {
            let lower = line.trim_start().to_ascii_lowercase();
            !(lower.starts_with("/q") || lower.starts_with("/sd") || lower.starts_with("/exit"))
        })
        .collect();
    session.handle_text(&typed);
    // What waits for the store (a `/join` of a channel not open, `/g` before memory) is read
    // here, as the connection loop would, and the keys after it run.
    let _ = session.complete_reads_blocking();
    session.release_held();
    let frame = session.render();
    assert!(
        !frame.contains("\x1b]") && !frame.contains("\x1bP") && !frame.contains('\u{9b}'),
        "no OSC, DCS or C1 CSI in a frame: {frame:?}"
    );
    world.disconnect(user, false);
}

/// [`Command::parse`] on arbitrary text, whole and line by line, and again after each word of
/// the command table: parsing never panics, a line without a leading `/` (or with `//`) is
/// chat, and a word the table does not know is refused.
pub fn command_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let check = |line: &str| {
        let parsed = Command::parse(line);
        if !line.starts_with('/') || line.starts_with("//") {
            assert!(
                matches!(parsed, Ok(Command::Say(_))),
                "{line:?}: {parsed:?}"
            );
        }
        let word = line
            .strip_prefix('/')
            .and_then(|rest| rest.split(' ').next())
            .map(str::to_lowercase);
        if let Some(word) = word
            && !line.starts_with("//")
            && table::find(&word).is_none()
            && (word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()))
        {
            assert!(parsed.is_err(), "{line:?}: {parsed:?}");
        }
    };
    check(&text);
    for line in text.split(['\r', '\n']) {
        check(line);
        for command in table::COMMANDS {
            for name in command.names {
                check(&format!("/{name} {line}"));
                check(&format!("/{name}{line}"));
            }
        }
    }
}

/// Every word of the command table (its aliases too), a window number, a number too big for
/// one, an unknown word, and the `//` escape. A command added to the table belongs here as
/// well (a test checks).
pub const COMMAND_WORDS: [&str; 97] = [
    "help",
    "away",
    "back",
    "search",
    "hide",
    "show",
    "tz",
    "me",
    "auth",
    "register",
    "login",
    "identify",
    "logout",
    "passwd",
    "key",
    "nick",
    "n",
    "topic",
    "t",
    "join",
    "j",
    "part",
    "p",
    "msg",
    "m",
    "names",
    "na",
    "whois",
    "status",
    "st",
    "cfg",
    "cls",
    "clear",
    "fill",
    "bc",
    "sd",
    "quit",
    "q",
    "exit",
    "r",
    "redraw",
    "u",
    "up",
    "d",
    "down",
    "l",
    "latest",
    "v",
    "view",
    "g",
    "goto",
    "cmap",
    "sy",
    "sn",
    "ss",
    "a",
    "sw",
    "sh",
    "b0",
    "b1",
    "b2",
    "b3",
    "b?",
    "ey",
    "en",
    "hsy",
    "hsn",
    "cy",
    "cn",
    "my",
    "mn",
    "ignore",
    "unignore",
    "ignores",
    "kick",
    "ban",
    "unban",
    "mute",
    "unmute",
    "bans",
    "op",
    "deop",
    "voice",
    "devoice",
    "mode",
    "invite",
    "lockdown",
    "modlog",
    "0",
    "1",
    "2",
    "99999999999999999999999",
    "nope",
    "/",
    "HELP",
    "",
    "JOIN",
];

/// The kinds of window a command can be typed in.
#[derive(Debug, Clone, Copy)]
enum WindowKind {
    Status,
    Public,
    Direct,
}

/// Every command in [`COMMAND_WORDS`], typed by an authenticated admin in each kind of window
/// (the status window, a public channel, a DM), with arguments taken from the input's lines in
/// turn; a frame is rendered after each, and never carries an escape sequence the user typed.
/// The user is put back in the window kind before each command, since commands such as
/// `/part`, `/join` and `/1` move it.
pub fn every_command(data: &[u8]) {
    static RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let world = command_world();
    // `/sd` schedules the shutdown on the runtime; this one is dropped with what it holds.
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        return;
    };
    let _runtime = runtime.enter();
    let text = String::from_utf8_lossy(data);
    let args: Vec<&str> = text.split(['\r', '\n']).collect();
    // A new address for each run: wrong passwords are counted per address, and a locked-out
    // address could not authenticate to reach the admin commands.
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let address = std::net::IpAddr::from((0x0a00_0000 | (run & 0x00ff_ffff)).to_be_bytes());
    let (user, _) = world.connect(address, "welcome".into());
    let (partner, _) = world.connect(address, "welcome".into());
    let partner_nick = world.nick(partner).unwrap_or_default();
    let mut session = Session::new(user, world.clone());
    session.window_size_known(80, 24);
    let _ = session.execute("/auth pw");
    for (kind_index, kind) in [WindowKind::Status, WindowKind::Public, WindowKind::Direct]
        .into_iter()
        .enumerate()
    {
        for (index, word) in COMMAND_WORDS.iter().enumerate() {
            match kind {
                WindowKind::Status => {
                    world.switch_window(user, 0);
                }
                WindowKind::Public => {
                    let _ = crate::history::join_blocking(&world, user, "fuzz");
                }
                WindowKind::Direct => {
                    let _ = world.direct_message(user, &partner_nick, "hi");
                }
            }
            let arg = args[(index + kind_index) % args.len()];
            let line = if arg.is_empty() {
                format!("/{word}")
            } else {
                format!("/{word} {arg}")
            };
            let _ = session.execute(&line);
            let _ = session.complete_reads_blocking();
            session.release_held();
            let frame = session.render();
            assert!(
                !frame.contains("\x1b]") && !frame.contains("\x1bP") && !frame.contains('\u{9b}'),
                "no OSC, DCS or C1 CSI in a frame after {word:?} in {kind:?}: {frame:?}"
            );
        }
    }
    world.disconnect(user, false);
    world.disconnect(partner, false);
}

/// One world for all `commands` runs: opening SQLite per input would dominate the time.
fn command_world() -> Arc<World> {
    static WORLD: OnceLock<(tempfile_dir::Dir, Arc<World>)> = OnceLock::new();
    WORLD
        .get_or_init(|| {
            let dir = tempfile_dir::Dir::new();
            let store = Arc::new(Store::open(&dir.path().join("r0c.db")).expect("store opens"));
            let settings = WorldSettings {
                max_windows_per_user: crate::world::DEFAULT_MAX_WINDOWS_PER_USER,
                max_channels: crate::world::DEFAULT_MAX_CHANNELS,
                nick_salt: "fuzz/".into(),
                hist_rd: 100,
                hist_mem: 1000,
                hist_tsz: 500,
                password: "pw".into(),
                admin_requires_auth: true,
                opers: Vec::new(),
                no_all: false,
            };
            let shutdown = tokio_util::sync::CancellationToken::new();
            let world = Arc::new(World::new(settings, store, shutdown));
            (dir, world)
        })
        .1
        .clone()
}

/// A scratch directory under the system's temporary directory, removed on drop.
mod tempfile_dir {
    use std::path::{Path, PathBuf};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            let path = std::env::temp_dir().join(format!("r0c-fuzz-{}", std::process::id()));
            std::fs::create_dir_all(&path).expect("create scratch dir");
            Dir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    /// Input that is mostly what the wizard and the commands meet: answers, Enter in its
    /// forms, escape sequences, wide and invisible characters, and long runs.
    fn typed() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"y".to_vec()),
            Just(b"n".to_vec()),
            Just(b"a".to_vec()),
            Just(b"b".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\r\0".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\x1b[A".to_vec()),
            Just("\u{200d}\u{1f3f4}\u{e0067}\u{e007f}é日".as_bytes().to_vec()),
            (1usize..3000).prop_map(|n| vec![b'x'; n]),
            prop::collection::vec(any::<u8>(), 0..16),
        ];
        prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_wizard_survives_anything_at_every_question(
            script in any::<u8>(),
            saved in any::<u8>(),
            piece in any::<u8>(),
            rest in typed(),
        ) {
            let mut data = vec![script, saved, piece];
            data.extend(rest);
            super::wizard(&data);
        }
    }

    proptest! {
        #[test]
        fn command_parse_survives_anything(data in typed(), raw in prop::collection::vec(any::<u8>(), 0..64)) {
            super::command_parse(&data);
            super::command_parse(&raw);
        }
    }

    #[test]
    fn command_words_are_the_whole_table() {
        for command in crate::command::table::COMMANDS {
            for name in command.names {
                assert!(super::COMMAND_WORDS.contains(name), "/{name} is fuzzed");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]

        #[test]
        fn every_command_survives_anything_in_every_window(data in typed()) {
            super::every_command(&data);
        }
    }
}
