//! Microbenchmarks (divan) of the per-client hot paths: rendering a new chat line, telnet
//! decoding, charset encoding and key decoding; `cargo bench --bench micro` runs them.
//!
//! Every input is built outside the timed part. The timed part of each benchmark is one
//! `#[inline(never)]` function whose name starts with `timed_`, so that callgrind can count
//! its instructions alone (`--toggle-collect='micro::timed_*'`, see benches/callgrind.sh).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use r0c::front::telnet::{RawFilter, TelnetCodec, TelnetEvent};
use r0c::session::vt::{Vt100Ui, truncate_styled};
use r0c::store::Store;
use r0c::term::charset::{self, Charset};
use r0c::term::keys::{Key, KeyDecoder};
use r0c::term::layout::Layout;
use r0c::term::lineedit::LineEditor;
use r0c::term::screen::{Frame, PaneChange, PaneLine, STATUS_SGR, Screen};
use r0c::term::style::{MessageStyle, message_lines};
use r0c::world::{UserId, View, World, WorldSettings};
use tokio_util::sync::CancellationToken;

fn main() {
    divan::main();
}

/// A terminal size, shown as `80x24` in the benchmark names.
#[derive(Clone, Copy)]
struct Size {
    cols: usize,
    rows: usize,
}

impl fmt::Debug for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.cols, self.rows)
    }
}

/// The two screens measured: a classic terminal and a big modern window.
const SIZES: [Size; 2] = [
    Size { cols: 80, rows: 24 },
    Size {
        cols: 200,
        rows: 60,
    },
];

/// Chat as it looks in a busy channel: short and long lines, a link, French, Japanese, a pasted
/// box-drawing table and a mention, by several authors.
const CHAT: [(&str, &str); 16] = [
    ("mira", "morning all"),
    (
        "tobias",
        "anyone tried the new build on the pi? it boots but the clock drifts a few seconds an hour",
    ),
    (
        "ed",
        "tobias: yes, ntp was not enabled in the image, `timedatectl set-ntp true` fixed it",
    ),
    ("x0r", "lol"),
    ("mira", "brb coffee"),
    (
        "ed",
        "the scroll region trick is neat, it sends only the new line and the terminal moves the rest",
    ),
    (
        "kywmyv",
        "https://example.com/issues/4211 looks like the same bug",
    ),
    ("tobias", "ok"),
    ("anais", "ça marche, merci ! on se voit à 14h pour la démo"),
    ("kenji", "日本語のテストです。表示は大丈夫ですか？"),
    ("x0r", "┌────────┬───────┐"),
    ("x0r", "│ build  │ 3m12s │"),
    ("x0r", "└────────┴───────┘"),
    ("mira", "kenji: 大丈夫です、きれいに見えます"),
    (
        "anais",
        "I'll take a look after lunch, the dashboard is a bit slow today",
    ),
    (
        "kywmyv",
        "status: 3 of 4 nodes up, node-2 is rebooting after the kernel update, eta 5 minutes",
    ),
];

/// The message that arrives in the renderer benchmarks: one line at both sizes.
const NEW_MESSAGE: (&str, &str) = (
    "ed",
    "the backup job ran twice last night, anyone seen logs?",
);

/// Fixed timestamp of the chat (2025-03-14 09:26:53 UTC), so the layout never varies.
const T0_MICROS: i64 = 1_741_944_413_000_000;

/// The styled pane lines of `(author, text)` at `cols` columns, as the VT100 renderer makes them.
fn styled_lines(cols: usize, index: usize, (author, text): (&str, &str)) -> Vec<String> {
    let style = MessageStyle {
        margins: true,
        ..MessageStyle::default()
    };
    let micros = T0_MICROS + 7_000_000 * i64::try_from(index).expect("small index");
    message_lines(
        &Layout::for_width(cols, false),
        cols,
        micros,
        author,
        text,
        &style,
    )
}

/// Enough chat lines to fill the pane of `size` several times over, oldest first.
fn history_lines(size: Size) -> Vec<String> {
    (0..2 * size.rows)
        .flat_map(|index| styled_lines(size.cols, index, CHAT[index % CHAT.len()]))
        .collect()
}

/// The status bar as the VT100 interface builds it for a public channel.
fn status_bar(cols: usize) -> String {
    let bar = format!(
        "{STATUS_SGR}092650   2: \x1b[1;37m#general\x1b[22m(7)   \x1b[32ma:\x1b[1m3\x1b[22;39m\
         \x1b[22;36m   ed, mira, x0r, tobias, kywmyv, anais, kenji"
    );
    truncate_styled(&bar, cols)
}

/// The bar, prompt and pane texts of one screen; a frame borrows them.
struct Bars {
    topic: String,
    status: String,
    nick: String,
}

impl Bars {
    fn new(cols: usize) -> Bars {
        Bars {
            topic: "general chat | be nice | logs at https://example.com/logs".into(),
            status: status_bar(cols),
            nick: "reader".into(),
        }
    }

    fn frame(&self, pane: PaneChange) -> Frame<'_> {
        Frame {
            topic: &self.topic,
            pane,
            status: &self.status,
            input: "",
            prompt_nick: &self.nick,
            cursor_col: self.nick.len() + 3,
            may_save_cursor: true,
        }
    }
}

/// A screen whose pane is full of chat, as the client shows it after a while.
fn full_screen(size: Size, bars: &Bars, history: &[String]) -> Screen {
    let mut screen = Screen::new(size.cols, size.rows, false);
    let mut out = String::new();
    screen.render(
        &bars.frame(PaneChange::Redraw(
            history.iter().cloned().map(PaneLine::from).collect(),
        )),
        &mut out,
    );
    screen
}

/// The timed part of `render::screen_push`: the bytes that push the new lines.
#[inline(never)]
fn timed_screen_push(screen: &mut Screen, frame: &Frame<'_>) -> String {
    let mut out = String::new();
    screen.render(frame, &mut out);
    out
}

/// The timed part of `render::style_message`.
#[inline(never)]
fn timed_style(cols: usize) -> Vec<String> {
    styled_lines(cols, 1000, NEW_MESSAGE)
}

mod render {
    use super::*;

    /// `term::style` alone: laying out and styling the new message (timestamp, right-aligned
    /// nick, word wrap), the first step of every renderer.
    #[divan::bench(args = SIZES)]
    fn style_message(size: Size) -> Vec<String> {
        timed_style(black_box(size.cols))
    }

    /// `term::screen` alone: the diff of a full pane to the same pane with one more message
    /// pushed at the bottom (topic, status bar and input line unchanged).
    #[divan::bench(args = SIZES)]
    fn screen_push(bencher: Bencher, size: Size) {
        let bars = Bars::new(size.cols);
        let history = history_lines(size);
        let new = styled_lines(size.cols, 1000, NEW_MESSAGE);
        assert_eq!(new.len(), 1, "the new message should take one line");
        let frame = bars.frame(PaneChange::Append(
            new.into_iter().map(PaneLine::from).collect(),
        ));
        let sample = timed_screen_push(&mut full_screen(size, &bars, &history), &frame);
        // The push, between DECSC and DECRC since the input line stays as it is.
        assert!(
            sample.starts_with("\x1b7\x1b[2;") && sample.ends_with("\x1b8"),
            "a scroll-region push: {sample:?}"
        );
        bencher
            .with_inputs(|| full_screen(size, &bars, &history))
            .bench_local_refs(|screen| timed_screen_push(black_box(screen), black_box(&frame)));
    }

    /// The whole VT100 interface (`session::vt`) for one new message in a full pane: finding
    /// the new message in the view, laying it out and styling it, the status bar with its
    /// clock, the input line and `term::screen`'s diff. The status bar changes too: its nick
    /// list is ordered by activity, and the new message's author moves to its front.
    #[divan::bench(args = SIZES)]
    fn vt_new_message(bencher: Bencher, size: Size) {
        let chat = ChatWorld::new(size);
        let line = LineEditor::new(4096);
        let sample = timed_vt_render(&mut chat.ui_before(&line), &chat, &line);
        assert!(sample.contains("backup job"), "the new message: {sample:?}");
        bencher
            .with_inputs(|| chat.ui_before(&line))
            .bench_local_refs(|ui| timed_vt_render(black_box(ui), &chat, &line));
    }
}

/// A world whose channel `#general` holds a full pane of chat for `reader`, plus one newer
/// message, and the reader's views before and after that message arrived.
struct ChatWorld {
    world: World,
    reader: UserId,
    size: Size,
    /// What the reader's client got for its last full frame.
    before: View,
    /// What it gets next: the one new message.
    after: View,
    _dir: tempfile::TempDir,
}

impl ChatWorld {
    fn new(size: Size) -> ChatWorld {
        let dir = tempfile::tempdir().expect("a temporary directory for the store");
        let store = Arc::new(Store::open(&dir.path().join("r0c.db")).expect("a store"));
        let settings = WorldSettings {
            max_windows_per_user: r0c::world::DEFAULT_MAX_WINDOWS_PER_USER,
            max_channels: r0c::world::DEFAULT_MAX_CHANNELS,
            nick_salt: "bench/".into(),
            hist_rd: 200,
            hist_mem: 1000,
            hist_tsz: 100,
            password: "pw".into(),
            admin_requires_auth: false,
            opers: Vec::new(),
            no_all: false,
        };
        let world = World::new(settings, store.clone(), CancellationToken::new());
        let join = |host: u8, nick: &str| {
            let address = IpAddr::V4(Ipv4Addr::new(10, 0, 0, host));
            let (user, _wake) = world.connect(address, "welcome".into());
            world.change_nick(user, nick).expect("a valid nick");
            r0c::history::join_blocking(&world, user, "general").expect("join");
            user
        };
        let reader = join(1, "reader");
        let mut authors = Vec::new();
        for (author, text) in CHAT.iter().cycle().take(2 * size.rows) {
            let user = match authors.iter().find(|(nick, _)| nick == author) {
                Some(&(_, user)) => user,
                None => {
                    let host = u8::try_from(authors.len() + 2).expect("few authors");
                    let user = join(host, author);
                    authors.push((*author, user));
                    user
                }
            };
            world.say(user, text).expect("say");
        }
        store.flush();
        let max = 2 * size.rows + 2;
        let probe = world.view(reader, None, max).expect("a view");
        world.mark_read(reader, probe.channel, probe.next_seq);
        let before = world.view(reader, None, max).expect("a view");
        let author = authors
            .iter()
            .find(|(nick, _)| *nick == NEW_MESSAGE.0)
            .map(|&(_, user)| user)
            .expect("the author of the new message");
        world.say(author, NEW_MESSAGE.1).expect("say");
        store.flush();
        let after = world
            .view(reader, Some(before.next_seq), max)
            .expect("a view");
        assert_eq!(after.messages.len(), 1, "one new message");
        assert!(!after.redraw && after.notices.is_empty(), "a plain update");
        ChatWorld {
            world,
            reader,
            size,
            before,
            after,
            _dir: dir,
        }
    }

    /// An interface that has drawn the full pane of the `before` view.
    fn ui_before(&self, line: &LineEditor) -> Vt100Ui {
        let mut ui = Vt100Ui::new(self.size.cols, self.size.rows, false);
        let _ = frame(&mut ui, self, &self.before, line);
        ui
    }
}

/// One frame as the session renders it: the history the interface may read is copied out of
/// the world first (nothing, for a plain update), then the interface renders from it.
fn frame(ui: &mut Vt100Ui, chat: &ChatWorld, view: &r0c::world::View, line: &LineEditor) -> String {
    let wants = ui.history_wants(view);
    let memory = if wants.is_empty() {
        None
    } else {
        chat.world
            .memory_messages(chat.reader, view.channel, &wants)
    };
    let mut pages = r0c::history::Pages::new();
    let mut backlog = r0c::history::Backlog::new(view.next_seq, memory.as_ref(), &mut pages);
    ui.render(view, &mut backlog, line)
}

/// The timed part of `render::vt_new_message`: the frame for the `after` view.
#[inline(never)]
fn timed_vt_render(ui: &mut Vt100Ui, chat: &ChatWorld, line: &LineEditor) -> String {
    frame(ui, chat, &chat.after, line)
}

/// About 64 KiB of what a telnet client sends: the answers to our opening negotiation, then
/// typed lines (CR NUL), arrow and page keys, UTF-8 text, a Latin-1 `ï` and `ÿ` (IAC IAC) and
/// a window resize (NAWS subnegotiation) every few lines.
fn telnet_input() -> Vec<u8> {
    const IAC: u8 = 0xFF;
    const SB: u8 = 0xFA;
    const SE: u8 = 0xF0;
    const NAWS: u8 = 0x1F;
    let mut input = vec![IAC, 0xFD, 0x03, IAC, 0xFD, 0x01, IAC, 0xFB, NAWS];
    input.extend([IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE]);
    let mut round = 0u8;
    while input.len() < 64 * 1024 {
        for (_, text) in CHAT {
            input.extend_from_slice(text.as_bytes());
            input.extend_from_slice(b"\r\0");
        }
        input.extend_from_slice(b"\x1b[A\x1b[A\x1b[B\x1b[5~\x1b[6~na\xef ca f\xff\xff\r\0");
        input.extend([
            IAC,
            SB,
            NAWS,
            0,
            80 + round % 40,
            0,
            24 + round % 8,
            IAC,
            SE,
        ]);
        round = round.wrapping_add(1);
    }
    input
}

/// The timed part of `telnet::codec`.
#[inline(never)]
fn timed_telnet(codec: &mut TelnetCodec, input: &[u8]) -> Vec<TelnetEvent> {
    let mut events = Vec::new();
    codec.receive(input, &mut events);
    events
}

/// The timed part of `telnet::raw_filter`.
#[inline(never)]
fn timed_raw_filter(filter: &mut RawFilter, input: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    filter.receive(input, &mut data);
    data
}

mod telnet {
    use super::*;

    /// The telnet codec on a fresh connection (after `start`) decoding about 64 KiB.
    #[divan::bench]
    fn codec(bencher: Bencher) {
        let input = telnet_input();
        let events = timed_telnet(&mut started_codec(), &input);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, TelnetEvent::WindowSize { cols: 81, .. })),
            "NAWS reports are decoded"
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, TelnetEvent::Violation(_))),
            "the input is well-formed telnet: {:?}",
            events
                .iter()
                .find(|e| matches!(e, TelnetEvent::Violation(_)))
        );
        assert!(
            events.iter().any(
                |e| matches!(e, TelnetEvent::Data(data) if data.windows(3).any(|w| w == b"f\xff\r"))
            ),
            "IAC IAC is decoded to one 0xFF data byte"
        );
        bencher
            .counter(BytesCount::of_slice(&input))
            .with_inputs(started_codec)
            .bench_local_refs(|codec| timed_telnet(black_box(codec), black_box(&input)));
    }

    /// The raw port's filter (it strips telnet answers) on the same input.
    #[divan::bench]
    fn raw_filter(bencher: Bencher) {
        let input = telnet_input();
        bencher
            .counter(BytesCount::of_slice(&input))
            .with_inputs(|| {
                let mut filter = RawFilter::new();
                let _ = filter.start();
                filter
            })
            .bench_local_refs(|filter| timed_raw_filter(black_box(filter), black_box(&input)));
    }

    fn started_codec() -> TelnetCodec {
        let mut codec = TelnetCodec::new();
        let _ = codec.start();
        codec
    }
}

/// A full 80x24 frame (what a window switch or a redraw sends) of chat with box drawing,
/// Japanese and French, with all of its escape codes.
fn chat_frame() -> String {
    let size = SIZES[0];
    let bars = Bars::new(size.cols);
    let history: Vec<String> = (0..CHAT.len())
        .flat_map(|index| styled_lines(size.cols, index, CHAT[index]))
        .collect();
    let mut screen = Screen::new(size.cols, size.rows, false);
    let mut frame = String::new();
    screen.render(
        &bars.frame(PaneChange::Redraw(
            history.into_iter().map(PaneLine::from).collect(),
        )),
        &mut frame,
    );
    frame
}

/// The timed part of `charset::encode_frame`.
#[inline(never)]
fn timed_encode(charset: Charset, frame: &str) -> Vec<u8> {
    let mut out = Vec::new();
    charset::encode(charset, frame, &mut out);
    out
}

mod charset_encode {
    use super::*;

    /// Encoding a full 80x24 chat frame for a client in each charset.
    #[divan::bench(args = Charset::ALL)]
    fn encode_frame(bencher: Bencher, charset: Charset) {
        let frame = chat_frame();
        assert!(!frame.is_ascii(), "the frame needs non-ASCII text");
        bencher
            .counter(BytesCount::of_str(&frame))
            .bench_local(|| timed_encode(black_box(charset), black_box(&frame)));
    }
}

/// About 16 KiB of decoded client input: typed words and lines, backspaces, a tab, Japanese,
/// and the escape sequences of arrows, PgUp/PgDn and Home/End in their xterm, VT220 and
/// application-mode spellings.
fn key_input() -> String {
    let keys = [
        "hello everyone\r",
        "\x1b[A",
        "\x1b[A",
        "\x1b[B",
        "teh\x7f\x7fhe plan",
        "\x1b[D\x1b[D\x1b[C",
        "\x1b[5~",
        "\x1b[6~",
        "\x1b[H",
        "\x1b[F",
        "\x1b[1~",
        "\x1b[4~",
        "\x1bOH\x1bOF",
        "\x1bOA\x1bOB",
        "mi\t: 大丈夫です\r\n",
        "\x1b[3~",
    ];
    let mut input = String::new();
    while input.len() < 16 * 1024 {
        for key in keys {
            input.push_str(key);
        }
    }
    input
}

/// The timed part of `keys::decode`.
#[inline(never)]
fn timed_keys(decoder: &mut KeyDecoder, input: &str) -> Vec<Key> {
    let mut keys = Vec::new();
    decoder.feed(input, &mut keys);
    keys
}

mod keys {
    use super::*;

    /// The key decoder on about 16 KiB of typed text mixed with escape sequences.
    #[divan::bench]
    fn decode(bencher: Bencher) {
        let input = key_input();
        let keys = timed_keys(&mut KeyDecoder::new(), &input);
        assert!(
            keys.contains(&Key::PageUp) && keys.contains(&Key::End),
            "keys decoded"
        );
        bencher
            .counter(BytesCount::of_str(&input))
            .with_inputs(KeyDecoder::new)
            .bench_local_refs(|decoder| timed_keys(black_box(decoder), black_box(&input)));
    }
}
