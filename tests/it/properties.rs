//! Property tests: telnet escaping round trips, the sanitizer is idempotent, and no escape
//! sequence from user text ever reaches a screen.

use std::sync::Arc;

use proptest::prelude::*;
use r0c::front::telnet::{TelnetCodec, TelnetEvent, escape_iac};
use r0c::session::terminal::Session;
use r0c::store::Store;
use r0c::world::{World, WorldSettings};

/// Text that is mostly what attackers send: controls, escapes, C1, bidi and wide characters.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\x1b[2J".to_string()),
        Just("\x1b]0;title\x07".to_string()),
        Just("\u{9b}31m".to_string()),
        Just("\x1bP+q\x1b\\".to_string()),
        Just("\u{202e}evil".to_string()),
        Just("\x0b4,2colour\x0f".to_string()),
        Just("\x02bold\x02".to_string()),
        Just("日本語".to_string()),
        Just("\r\n".to_string()),
        any::<char>().prop_map(String::from),
        "[ -~]{0,8}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn telnet_escaping_round_trips(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut escaped = Vec::new();
        escape_iac(&data, &mut escaped);
        let mut codec = TelnetCodec::new();
        let mut events = Vec::new();
        codec.receive(&escaped, &mut events);
        let received: Vec<u8> = events
            .into_iter()
            .flat_map(|event| match event {
                TelnetEvent::Data(bytes) => bytes,
                _ => Vec::new(),
            })
            .collect();
        prop_assert_eq!(received, data);
    }

    #[test]
    fn the_sanitizer_is_idempotent_and_leaves_no_controls(text in hostile_text()) {
        let once = r0c::text::sanitize_message(&text);
        prop_assert_eq!(r0c::text::sanitize_message(&once), once.clone());
        prop_assert!(once.chars().all(|c| !c.is_control() || matches!(c, '\x02' | '\x0b' | '\x0f')));
        let lines = r0c::text::sanitize_lines(&text);
        prop_assert_eq!(r0c::text::sanitize_lines(&lines), lines);
        let plain = r0c::text::sanitize_plain(&text);
        prop_assert!(plain.chars().all(|c| !c.is_control()));
    }

    #[test]
    fn frames_carry_only_the_renderers_own_escape_sequences(
        message in hostile_text(),
        topic in hostile_text(),
        action in hostile_text(),
        nick in hostile_text(),
    ) {
        let world = world();
        let (speaker, _) = world.connect(std::net::IpAddr::from([10, 0, 0, 1]), "hi".into());
        let (reader, _) = world.connect(std::net::IpAddr::from([10, 0, 0, 2]), "hi".into());
        let mut screen = Session::new(reader, world.clone());
        screen.window_size_known(80, 24);
        r0c::history::join_blocking(&world, reader, "g").expect("join");
        r0c::history::join_blocking(&world, speaker, "g").expect("join");
        let _ = world.change_nick(speaker, &nick);
        let _ = world.say(speaker, &message);
        let _ = world.action(speaker, &action);
        let _ = world.set_topic(speaker, &topic);
        // Messages are shown once the store has committed them.
        world.store().flush();
        let frame = screen.render();
        prop_assert!(frame.contains("has joined"), "the messages are on screen: {:?}", frame);
        let leftover = strip_own_sequences(&frame);
        prop_assert!(
            leftover.chars().all(|c| !c.is_control() || matches!(c, '\r' | '\n' | '\x07')),
            "a control character outside the renderer's sequences: {:?}", leftover
        );
    }
}

/// The frame without the CSI sequences the renderer writes (`ESC [`, optional `?`, digits and
/// semicolons, one final letter) and ESC 7 / ESC 8; anything else that is a control stays.
fn strip_own_sequences(frame: &str) -> String {
    let mut out = String::new();
    let mut chars = frame.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('[') => {
                chars.next();
                if chars.peek() == Some(&'?') {
                    chars.next();
                }
                while chars
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || *c == ';')
                {
                    chars.next();
                }
                match chars.next() {
                    Some(last) if last.is_ascii_alphabetic() => {}
                    other => {
                        out.push('\x1b');
                        out.extend(other);
                    }
                }
            }
            Some('7' | '8') => {
                chars.next();
            }
            _ => out.push('\x1b'),
        }
    }
    out
}

fn world() -> Arc<World> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(Store::open(&dir.path().join("r0c.db")).expect("store"));
    // The directory may go once the store has its file open.
    std::mem::forget(dir);
    let settings = WorldSettings {
        max_windows_per_user: r0c::world::DEFAULT_MAX_WINDOWS_PER_USER,
        max_channels: r0c::world::DEFAULT_MAX_CHANNELS,
        nick_salt: "lammo/".into(),
        hist_rd: 100,
        hist_mem: 1000,
        hist_tsz: 100,
        password: "pw".into(),
        admin_requires_auth: true,
        opers: Vec::new(),
        no_all: false,
    };
    Arc::new(World::new(
        settings,
        store,
        tokio_util::sync::CancellationToken::new(),
    ))
}
