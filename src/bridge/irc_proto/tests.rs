//! IRC protocol pieces: parsing, building, colours and CTCP.

use super::*;

fn line(nick: Option<&str>, command: &str, params: &[&str]) -> Option<IrcLine> {
    Some(IrcLine {
        nick: nick.map(str::to_string),
        command: command.to_string(),
        params: params.iter().map(|p| p.to_string()).collect(),
    })
}

#[test]
fn parsing() {
    let cases: &[(&str, Option<IrcLine>)] = &[
        ("PING :irc.example", line(None, "PING", &["irc.example"])),
        (
            ":alice!a@host PRIVMSG #chat :hello there",
            line(Some("alice"), "PRIVMSG", &["#chat", "hello there"]),
        ),
        (
            ":alice!a@host JOIN #chat",
            line(Some("alice"), "JOIN", &["#chat"]),
        ),
        (
            ":alice!a@host JOIN :#chat",
            line(Some("alice"), "JOIN", &["#chat"]),
        ),
        (
            ":srv 433 * r0c :Nickname is already in use",
            line(
                Some("srv"),
                "433",
                &["*", "r0c", "Nickname is already in use"],
            ),
        ),
        (
            "@time=2026-11-25T00:00:00Z :bob PRIVMSG #c :x",
            line(Some("bob"), "PRIVMSG", &["#c", "x"]),
        ),
        (
            ":srv  001   me  :Welcome\r\n",
            line(Some("srv"), "001", &["me", "Welcome"]),
        ),
        (
            "privmsg #c :lower-case command",
            line(None, "PRIVMSG", &["#c", "lower-case command"]),
        ),
        ("", None),
        (":prefixonly", None),
        ("@tagsonly", None),
    ];
    for (input, expected) in cases {
        assert_eq!(&IrcLine::parse(input), expected, "{input:?}");
    }
    assert_eq!(
        IrcLine::parse("JOIN :#Chat")
            .and_then(|l| l.channel())
            .as_deref(),
        Some("#chat")
    );
}

#[test]
fn lines_we_send_cannot_carry_a_second_command() {
    assert_eq!(
        command(&["PRIVMSG", "#c", ":<alice> hi\r\nQUIT :bye"]),
        "PRIVMSG #c :<alice> hiQUIT :bye\r\n"
    );
    let long = command(&["PRIVMSG", "#c", &format!(":{}", "é".repeat(400))]);
    assert!(
        long.len() <= MAX_LINE + 2 && long.ends_with("\r\n"),
        "{}",
        long.len()
    );
    assert_eq!(decode_line(b"caf\xe9"), "café");
    assert_eq!(decode_line("café".as_bytes()), "café");
}

#[test]
fn ctcp_kinds() {
    assert_eq!(ctcp("hello"), Ctcp::Plain("hello"));
    assert_eq!(ctcp("\x01ACTION waves\x01"), Ctcp::Action("waves"));
    assert_eq!(ctcp("\x01VERSION\x01"), Ctcp::Version);
    assert_eq!(ctcp("\x01PING 123\x01"), Ctcp::Other);
}

#[test]
fn colours_both_ways() {
    // mIRC 4 is red: r0c's bright red "9"; background 2 (navy) is r0c's 4.
    assert_eq!(irc_to_r0c("\x034red\x03 plain"), "\x0b9red\x0f plain");
    assert_eq!(irc_to_r0c("\x0304,02on navy"), "\x0b9,4on navy");
    assert_eq!(
        irc_to_r0c("\x02bold\x02 \x1ditalic\x1d"),
        "\x02bold\x02 italic"
    );
    assert_eq!(irc_to_r0c("\x0399 out of range"), "\x0f out of range");
    assert_eq!(irc_to_r0c("\x034,x"), "\x0b9,x");
    assert_eq!(r0c_to_irc("\x0b9red\x0f"), "\x0304red\x0f");
    assert_eq!(r0c_to_irc("\x0bf,4white on blue"), "\x0300,12white on blue");
    // Every r0c foreground survives the round trip.
    for digit in "0123456789abcdef".chars() {
        let r0c = format!("\x0b{digit}x");
        assert_eq!(irc_to_r0c(&r0c_to_irc(&r0c)), r0c, "{digit}");
    }
    // Whatever comes from IRC, the sanitizer leaves only printable text and our tokens.
    let hostile = irc_to_r0c("\x1b[2J\u{9b}31m\x034evil");
    let clean = crate::text::sanitize_message(&hostile);
    assert!(
        !clean.contains('\x1b') && !clean.contains('\u{9b}'),
        "{clean:?}"
    );
}
