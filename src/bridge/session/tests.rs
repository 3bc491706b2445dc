//! The IRC session state machine, driven by scripted server lines and a fake clock.

use std::time::Duration;

use super::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn session(password: Option<&str>) -> Session {
    let mut session = Session::new(
        "r0c",
        "bot",
        password,
        "r0c test",
        &["#chat".to_string(), "#Two".to_string()],
    );
    session.connected(secs(0));
    session
}

/// Feeds server lines at time `at`.
fn feed(session: &mut Session, at: u64, lines: &[&str]) {
    for line in lines {
        session.received(line, secs(at));
    }
}

fn queued(session: &mut Session) -> Vec<String> {
    let mut lines = Vec::new();
    while let Some(line) = session.next_queued() {
        lines.push(line.to_string());
        session.pop_queued();
    }
    lines
}

fn welcomed(password: Option<&str>) -> Session {
    let mut session = session(password);
    session.take_immediate();
    feed(&mut session, 1, &[":irc.test 001 r0c :Welcome"]);
    queued(&mut session);
    feed(
        &mut session,
        1,
        &[
            ":r0c!bot@h JOIN :#chat",
            ":irc.test 353 r0c = #chat :@r0c +alice bob",
            ":r0c!bot@h JOIN #two",
        ],
    );
    session.take_events();
    session
}

#[test]
fn registration_sends_pass_nick_user_then_joins_both_forms_after_001() {
    let mut s = session(Some("sesame"));
    assert_eq!(
        s.take_immediate(),
        [
            "PASS :sesame\r\n",
            "NICK r0c\r\n",
            "USER bot 0 * :r0c bridge\r\n"
        ]
    );
    assert_eq!(queued(&mut s), Vec::<String>::new(), "no JOIN before 001");
    feed(&mut s, 1, &[":irc.test 001 r0c :Welcome"]);
    assert_eq!(queued(&mut s), ["JOIN #chat\r\n", "JOIN #two\r\n"]);
    // ngircd answers with the colon form, others without: both count.
    feed(
        &mut s,
        2,
        &[":r0c!bot@h JOIN :#chat", ":R0C!bot@h JOIN #TWO"],
    );
    assert!(s.is_joined("#chat") && s.is_joined("#two"));
    assert_eq!(
        s.take_events(),
        [
            Event::Registered { nick: "r0c".into() },
            Event::Joined {
                channel: "#chat".into()
            },
            Event::Joined {
                channel: "#two".into()
            },
        ]
    );
}

#[test]
fn taken_nicks_get_suffixes_then_the_connection_is_retried() {
    let mut s = session(None);
    assert_eq!(s.take_immediate().len(), 2, "no PASS without a password");
    for expected in ["r0c1", "r0c2", "r0c3", "r0c4", "r0c5"] {
        feed(&mut s, 1, &[":irc.test 433 * r0c :Nickname already in use"]);
        assert_eq!(s.take_immediate(), [format!("NICK {expected}\r\n")]);
    }
    feed(
        &mut s,
        1,
        &[":irc.test 433 * r0c5 :Nickname already in use"],
    );
    assert!(matches!(s.take_events().last(), Some(Event::Reconnect(_))));
    // A new connection starts from the configured nick again.
    s.connected(secs(5));
    assert_eq!(s.take_immediate()[0], "NICK r0c\r\n");
    feed(
        &mut s,
        6,
        &[":irc.test 433 * r0c :in use", ":irc.test 001 r0c1 :hi"],
    );
    assert_eq!(s.nick(), "r0c1");
}

#[test]
fn a_password_demand_gives_up_with_advice() {
    let mut s = session(None);
    feed(&mut s, 1, &[":irc.test 464 * :Password required"]);
    assert_eq!(
        s.take_events(),
        [Event::GiveUp(
            "the IRC server requires a password: give it as the 6th field of --ircn".into()
        )]
    );
    let mut s = session(Some("wrong"));
    feed(&mut s, 1, &[":irc.test 464 * :Password incorrect"]);
    assert!(matches!(&s.take_events()[..], [Event::GiveUp(why)] if why.contains("refused")));
}

#[test]
fn ping_is_answered_at_once_and_silence_is_detected() {
    let mut s = welcomed(None);
    s.take_immediate();
    feed(&mut s, 10, &["PING :irc.test"]);
    assert_eq!(s.take_immediate(), ["PONG :irc.test\r\n"]);
    s.tick(secs(10 + 90));
    assert!(
        s.take_immediate().is_empty(),
        "not silent for long enough yet"
    );
    s.tick(secs(10 + 91));
    assert_eq!(s.take_immediate(), ["PING :r0c\r\n"]);
    s.tick(secs(10 + 91 + 60));
    assert!(s.take_events().is_empty());
    s.tick(secs(10 + 91 + 61));
    assert!(matches!(&s.take_events()[..], [Event::Reconnect(_)]));
}

#[test]
fn a_pong_or_any_line_ends_the_ping_wait() {
    let mut s = welcomed(None);
    s.tick(secs(200));
    assert_eq!(s.take_immediate(), ["PING :r0c\r\n"]);
    feed(&mut s, 201, &[":irc.test PONG irc.test :r0c"]);
    s.tick(secs(270));
    assert!(s.take_events().is_empty());
}

#[test]
fn registration_that_never_finishes_is_retried() {
    let mut s = session(None);
    s.tick(secs(60));
    assert!(s.take_events().is_empty());
    s.tick(secs(61));
    assert!(matches!(&s.take_events()[..], [Event::Reconnect(_)]));
}

#[test]
fn messages_actions_and_ctcp_version() {
    let mut s = welcomed(None);
    feed(
        &mut s,
        5,
        &[
            ":alice!a@h PRIVMSG #Chat :hello \x0304red",
            ":alice!a@h PRIVMSG #chat :\x01ACTION waves\x01",
            ":alice!a@h PRIVMSG #elsewhere :not bridged",
            ":alice!a@h PRIVMSG r0c :private",
            ":alice!a@h PRIVMSG #chat :\x01PING 123\x01",
            ":alice!a@h PRIVMSG r0c :\x01VERSION\x01",
        ],
    );
    assert_eq!(
        s.take_events(),
        [
            Event::Message {
                channel: "#chat".into(),
                nick: "alice".into(),
                text: "hello \x0304red".into(),
                said: Said::Chat
            },
            Event::Message {
                channel: "#chat".into(),
                nick: "alice".into(),
                text: "waves".into(),
                said: Said::Action
            },
        ]
    );
    assert_eq!(
        queued(&mut s),
        ["NOTICE alice :\x01VERSION r0c test\x01\r\n"]
    );
    for _ in 0..20 {
        feed(&mut s, 6, &[":mallory!m@h PRIVMSG r0c :\x01VERSION\x01"]);
    }
    assert_eq!(
        queued(&mut s).len(),
        4,
        "a CTCP flood queues only a few replies"
    );
}

#[test]
fn joins_parts_quits_kicks_and_nick_changes_become_system_lines() {
    let mut s = welcomed(None);
    feed(
        &mut s,
        5,
        &[
            ":carol!c@h JOIN :#chat",
            ":carol!c@h JOIN :#two",
            ":bob!b@h PART #chat :bye now",
            ":alice!a@h NICK :alicia",
            ":carol!c@h QUIT :\x0304gone",
            ":op!o@h KICK #chat alicia :behave",
            ":stranger!s@h PART #chat",
        ],
    );
    let notices: Vec<(String, String)> = s
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Notice { channel, text } => Some((channel, text)),
            _ => None,
        })
        .collect();
    let expected = [
        ("#chat", "irc: \x02~carol\x02 has joined"),
        ("#two", "irc: \x02~carol\x02 has joined"),
        ("#chat", "irc: \x02~bob\x02 has left (bye now\x0f)"),
        (
            "#chat",
            "irc: \x02~alice\x02 is now known as \x02~alicia\x02",
        ),
        ("#chat", "irc: \x02~carol\x02 has quit (\x0b9gone\x0f)"),
        ("#two", "irc: \x02~carol\x02 has quit (\x0b9gone\x0f)"),
        (
            "#chat",
            "irc: \x02~alicia\x02 was kicked by \x02~op\x02 (behave\x0f)",
        ),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(c, t)| (c.to_string(), t.to_string()))
        .collect();
    assert_eq!(
        notices, expected,
        "a part by someone never seen says nothing"
    );
}

#[test]
fn kicked_or_reconnected_the_bridge_joins_again() {
    let mut s = welcomed(None);
    feed(&mut s, 10, &[":op!o@h KICK #chat r0c :out"]);
    assert!(!s.is_joined("#chat"));
    s.tick(secs(30));
    assert_eq!(queued(&mut s), Vec::<String>::new(), "not at once");
    s.tick(secs(41));
    assert_eq!(queued(&mut s), ["JOIN #chat\r\n"]);
    s.tick(secs(45));
    assert_eq!(queued(&mut s), Vec::<String>::new(), "asked recently");
    // After a reconnect, every channel is joined again once registered.
    s.connected(secs(100));
    assert!(!s.is_joined("#two"));
    feed(&mut s, 101, &[":irc.test 001 r0c :Welcome"]);
    assert_eq!(queued(&mut s), ["JOIN #chat\r\n", "JOIN #two\r\n"]);
}

#[test]
fn long_texts_are_split_and_actions_wrapped() {
    assert_eq!(
        chat_lines("#c", "<alice> hi", false),
        ["PRIVMSG #c :<alice> hi\r\n"]
    );
    assert_eq!(
        chat_lines("#c", "\x02alice\x02 waves", true),
        ["PRIVMSG #c :\x01ACTION \x02alice\x02 waves\x01\r\n"]
    );
    let long = "word ".repeat(200);
    let lines = chat_lines("#c", &long, false);
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .iter()
            .all(|l| l.len() <= 512 && l.ends_with("word\r\n"))
    );
    let wide = "日".repeat(300);
    let lines = chat_lines("#c", &wide, false);
    let rejoined: String = lines
        .iter()
        .map(|l| l.trim_start_matches("PRIVMSG #c :").trim_end())
        .collect();
    assert_eq!(
        rejoined, wide,
        "split on character boundaries, nothing lost"
    );
    // Line breaks split a message into PRIVMSGs of its own; none can start a command.
    assert_eq!(
        chat_lines("#c", "evil\r\nQUIT :x\n\nok", false),
        [
            "PRIVMSG #c :evil\r\n",
            "PRIVMSG #c :QUIT :x\r\n",
            "PRIVMSG #c :ok\r\n"
        ]
    );
}
