//! Wizard scenarios: byte-exact client behaviours, each read as the server would see it.

use super::*;
use crate::session::saved::SavedClient;

/// Runs reads through a wizard and returns the settings it finished with, or the last action.
fn run(listener: Listener, negotiations: u32, reads: &[&str]) -> (Vec<WizardAction>, String) {
    let mut wizard = Wizard::new(listener, None);
    let mut shown = String::from_utf8_lossy(&wizard.start()).into_owned();
    let mut last = Vec::new();
    for read in reads {
        last = wizard.feed(read, negotiations);
        for action in &last {
            if let WizardAction::Send(bytes) | WizardAction::Quit(bytes) = action {
                shown.push_str(&String::from_utf8_lossy(bytes));
            }
        }
    }
    (last, shown)
}

fn keys(text: &str) -> Vec<String> {
    text.chars().map(String::from).collect()
}

const TELNET: Listener = Listener {
    telnet: true,
    sibling_port: 1531,
};
const RAW: Listener = Listener {
    telnet: false,
    sibling_port: 2323,
};

fn finished(actions: &[WizardAction]) -> ClientSettings {
    match actions.last() {
        Some(WizardAction::Finish(settings)) => settings.clone(),
        other => panic!("the wizard did not finish: {other:?}"),
    }
}

#[test]
fn clients_end_in_the_right_mode() {
    struct Case {
        name: &'static str,
        listener: Listener,
        negotiations: u32,
        reads: Vec<String>,
        expected: ClientSettings,
    }
    let by_key = |_typed: &str, enter: &str, answers: &[&str]| {
        let mut reads = keys("qwer asdf");
        reads.push(enter.into());
        reads.push(enter.into());
        reads.extend(answers.iter().map(|a| a.to_string()));
        reads
    };
    let settings =
        |enter: &str, linemode: bool, charset: Charset, vt100: bool, slowmo: bool| ClientSettings {
            vt100,
            linemode,
            echo: linemode,
            enter: enter.into(),
            charset,
            slowmo,
            join: None,
            nick: None,
            prefs: None,
            avoid_nick: None,
        };
    let cases = [
        Case {
            name: "inetutils telnet, character mode",
            listener: TELNET,
            negotiations: 3,
            reads: by_key("qwer asdf", "\r\0", &["b", "y", "a"]),
            expected: settings("\r\0", false, Charset::Utf8, true, false),
        },
        Case {
            name: "PuTTY",
            listener: TELNET,
            negotiations: 5,
            reads: by_key("qwer asdf", "\r\n", &["b", "y", "a"]),
            expected: settings("\r\n", false, Charset::Utf8, true, false),
        },
        Case {
            name: "Windows telnet.exe with cp437",
            listener: TELNET,
            negotiations: 4,
            reads: by_key("qwer asdf", "\r\n", &["b", "y", "b", "y"]),
            expected: settings("\r\n", false, Charset::Cp437, true, true),
        },
        Case {
            name: "socat raw, LF per key",
            listener: RAW,
            negotiations: 0,
            reads: by_key("qwer asdf", "\n", &["b", "y", "a"]),
            expected: settings("\n", false, Charset::Utf8, true, false),
        },
        Case {
            name: "netcat, line-buffered",
            listener: RAW,
            negotiations: 0,
            reads: vec![
                "qwer asdf\n".into(),
                "\n".into(),
                "a\n".into(),
                "y\n".into(),
                "a\n".into(),
            ],
            expected: settings("\n", true, Charset::Utf8, true, false),
        },
        Case {
            name: "netcat, both Enters in one read",
            listener: RAW,
            negotiations: 0,
            reads: vec![
                "qwer asdf\n\n".into(),
                "a\n".into(),
                "y\n".into(),
                "e\n".into(),
            ],
            expected: settings("\n", true, Charset::Ascii, true, false),
        },
        Case {
            name: "a terminal without escape codes",
            listener: RAW,
            negotiations: 0,
            reads: by_key("qwer asdf", "\n", &["b", "n", "b", "a", "d"]),
            expected: settings("\n", false, Charset::Latin1, false, false),
        },
    ];
    for case in cases {
        let reads: Vec<&str> = case.reads.iter().map(String::as_str).collect();
        let (actions, shown) = run(case.listener, case.negotiations, &reads);
        assert_eq!(finished(&actions), case.expected, "{}:\n{shown}", case.name);
    }
}

#[test]
fn screens_match_r0c_bytes() {
    let wizard = Wizard::new(RAW, None);
    let first = String::from_utf8(wizard.start()).expect("utf-8");
    // r0c's bytes, plus `ESC[r` (ours): a scroll region left by a dropped chat is released.
    assert_eq!(
        first,
        format!(
            "{}\x1b[r\x1b[H\x1b[J [ r0c configurator ]\r\n\r\n type the text below, then hit [Enter] [Enter]:\r\n\r\n   qwer asdf\r\n\r\n ",
            "\r\n".repeat(20)
        )
    );
    let mut reads = keys("qwer asdf");
    reads.extend(["\n".to_string(), "\n".to_string()]);
    let reads: Vec<&str> = reads.iter().map(String::as_str).collect();
    let (_, shown) = run(RAW, 0, &reads);
    assert!(shown.ends_with(
        "\r\n\r\n   A:  your text appeared as you typed\r\n\r\n   B:  nothing happened\r\n\r\n press A or B:\r\n "
    ));
    let (_, shown) = run(RAW, 0, &[&reads[..], &["b"]].concat());
    assert!(shown.contains(" does colours work?\r\n \x1b[1;31mred, \x1b[32mgreen, \x1b[33myellow, \x1b[34mblue\x1b[0m\r\n\r\n press Y or N:\r\n "));
    let (_, shown) = run(RAW, 0, &[&reads[..], &["b", "y"]].concat());
    assert!(
        shown.contains(
            "\x1b[4H   A:  \u{251c}\u{2510} \u{250c}\u{252c}\u{2510} \u{250c} \x1b[J\x1b[5H\x1b[J"
        ),
        "{shown:?}"
    );
    assert!(shown.ends_with("\r\n press A/B/C/D/E:\r\n"));
}

#[test]
fn the_wrong_port_is_pointed_out_once() {
    let mut reads = keys("qwer asdf");
    reads.extend(["\r\n".to_string(), "\r\n".to_string(), "b".to_string()]);
    let reads: Vec<&str> = reads.iter().map(String::as_str).collect();
    let (_, shown) = run(TELNET, 0, &reads);
    assert!(shown.contains(" your client is not responding to negotiations.\r\n\r\n   if you are NOT using Telnet,\r\n   please connect to port 1531"), "{shown}");
    let (actions, _) = run(TELNET, 0, &[&reads[..], &["y", "y", "a"]].concat());
    assert_eq!(finished(&actions).enter, "\r\n");
    let (_, shown) = run(RAW, 2, &reads);
    assert!(shown.contains(" your client has sent 2 Telnet negotiations.\r\n\r\n   if you are using Telnet,\r\n   please connect to port 2323"));
    let (actions, _) = run(RAW, 2, &[&reads[..], &["n"]].concat());
    assert!(matches!(actions.last(), Some(WizardAction::Quit(_))));
}

#[test]
fn arrow_keys_are_not_answers() {
    let mut reads = keys("qwer asdf");
    reads.extend([
        "\n".to_string(),
        "\n".to_string(),
        "\x1b[A".to_string(),
        "\x1b[B".to_string(),
    ]);
    let reads: Vec<&str> = reads.iter().map(String::as_str).collect();
    let (actions, _) = run(RAW, 0, &reads);
    assert!(
        actions.is_empty(),
        "ESC [ A is not the answer A: {actions:?}"
    );
    let (actions, _) = run(RAW, 0, &[&reads[..], &["b", "y", "a"]].concat());
    assert!(!finished(&actions).echo);
}

#[test]
fn ctrl_c_says_goodbye() {
    let (actions, _) = run(RAW, 0, &["qw", "\x03"]);
    assert_eq!(actions, [WizardAction::Interrupted]);
}

#[test]
fn shortcuts_for_scripted_clients() {
    let (actions, _) = run(RAW, 0, &["ltng\n"]);
    let settings = finished(&actions);
    assert_eq!(
        (settings.join.as_deref(), settings.charset),
        (Some("g"), Charset::Utf8)
    );
    let (actions, _) = run(TELNET, 1, &["wtn#x\r\n"]);
    let settings = finished(&actions);
    assert_eq!(
        (settings.join.as_deref(), settings.slowmo, settings.charset),
        (Some("#x"), true, Charset::Cp437)
    );
    let (actions, _) = run(RAW, 0, &["wncat\n"]);
    let settings = finished(&actions);
    assert_eq!(
        (settings.vt100, settings.linemode, settings.charset),
        (false, true, Charset::Cp437)
    );
}

#[test]
fn enter_detection() {
    assert_eq!(doubled_enter("x\r\n\r\n").as_deref(), Some("\r\n"));
    assert_eq!(doubled_enter("x\n\n").as_deref(), Some("\n"));
    assert_eq!(doubled_enter("x\r\0\r\0").as_deref(), Some("\r\0"));
    assert_eq!(doubled_enter("x\r\n"), None);
    assert_eq!(doubled_enter("x\r\n\r"), None);
}

#[test]
fn scanners_get_a_fake_shell_and_people_do_not() {
    let mut wizard = Wizard::new(TELNET, None);
    let shown = |actions: Vec<WizardAction>| match actions.as_slice() {
        [.., WizardAction::Send(bytes)] => String::from_utf8_lossy(bytes).into_owned(),
        other => panic!("{other:?}"),
    };
    let first = wizard.feed("root\r\n", 1);
    assert_eq!(first.first(), Some(&WizardAction::KickAfter(BOT_KICK)));
    assert_eq!(
        shown(first),
        "root\r\nSEGMENTATION FAULT\r\n\r\nroot@IBM_3090:/# "
    );
    assert_eq!(
        shown(wizard.feed("xc3511\r\n", 1)),
        "xc3511\r\nSYNTAX ERROR: xc3511\r\n\r\nroot@IBM_3090:/# "
    );
    // A scanner that sends several lines in one packet gets an answer to each.
    let mut burst = Wizard::new(TELNET, None);
    let answer = shown(burst.feed("admin\r\nadmin\r\n", 1));
    assert!(
        answer.contains("SEGMENTATION FAULT") && answer.contains("SYNTAX ERROR: admin"),
        "{answer}"
    );
    for everyday in [
        "user\n",
        "setup\n",
        "system\n",
        "tech\n",
        "rooted\n",
        "administrator\n",
    ] {
        let mut wizard = Wizard::new(RAW, None);
        let actions = wizard.feed(everyday, 0);
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, WizardAction::KickAfter(_))),
            "{everyday:?}"
        );
    }
}

#[test]
fn telnet_reports_preselect_answers_for_enter_alone() {
    let mut reads = keys("qwer asdf");
    reads.extend(["\r\0".to_string(), "\r\0".to_string()]);
    let reads: Vec<&str> = reads.iter().map(String::as_str).collect();
    let mut wizard = Wizard::new(TELNET, None);
    wizard.set_hints(Hints::from_telnet(Some("XTERM-256COLOR"), false, true));
    for read in &reads {
        wizard.feed(read, 3);
    }
    // Enter alone answers "nothing happened" and "colours work"; the charset is still asked.
    assert!(
        wizard
            .feed("\r\0", 3)
            .iter()
            .all(|a| matches!(a, WizardAction::Send(_)))
    );
    let shown: Vec<WizardAction> = wizard.feed("\r\0", 3);
    let screen = match shown.as_slice() {
        [WizardAction::Send(bytes)] => String::from_utf8_lossy(bytes).into_owned(),
        other => panic!("{other:?}"),
    };
    assert!(screen.contains("which line looks like"), "{screen}");
    assert_eq!(
        wizard.feed("\r\0", 3),
        [],
        "the charset has no pre-selection"
    );
    let settings = finished(&wizard.feed("a", 3));
    assert!(settings.vt100 && !settings.echo);
    // Without hints, Enter alone answers nothing.
    let mut plain = Wizard::new(RAW, None);
    for read in &reads {
        plain.feed(read, 0);
    }
    assert_eq!(plain.feed("\r\0", 0), []);
    assert_eq!(
        Hints::from_telnet(Some("dumb"), false, false),
        Hints::default()
    );
}

#[test]
fn returning_clients_confirm_with_their_own_cadence() {
    let saved = |linemode: bool, enter: &str| SavedClient {
        nick: "alice".into(),
        settings: ClientSettings {
            linemode,
            echo: linemode,
            enter: enter.into(),
            ..ClientSettings::default()
        },
        prefs: crate::world::Prefs {
            bell: 2,
            at_all: true,
            hilight_log: true,
            colored_nicks: true,
            margins: true,
            hide_joins: false,
            zone: None,
        },
    };
    // A line-buffered client sends its answer and both Enters in one read.
    let mut wizard = Wizard::new(RAW, Some(saved(true, "\n")));
    let settings = finished(&wizard.feed("y\n\n", 0));
    assert!(settings.linemode);
    assert_eq!(settings.nick.as_deref(), Some("alice"));
    // A character-mode client sends each key on its own.
    let mut wizard = Wizard::new(TELNET, Some(saved(false, "\r\0")));
    assert!(wizard.feed("y", 2).is_empty());
    assert!(wizard.feed("\r\0", 2).is_empty());
    let settings = finished(&wizard.feed("\r\0", 2));
    assert_eq!(settings.prefs.map(|p| p.bell), Some(2));
    // The same address typing whole lines now is not the saved client any more.
    let mut wizard = Wizard::new(TELNET, Some(saved(false, "\r\0")));
    let screen = match wizard.feed("y\r\0\r\0", 2).as_slice() {
        [WizardAction::Send(bytes)] => String::from_utf8_lossy(bytes).into_owned(),
        other => panic!("{other:?}"),
    };
    assert!(screen.contains("-- linemode changed"), "{screen}");
}

fn alice_saved(linemode: bool, enter: &str) -> SavedClient {
    SavedClient {
        nick: "alice".into(),
        settings: ClientSettings {
            linemode,
            echo: linemode,
            enter: enter.into(),
            ..ClientSettings::default()
        },
        prefs: crate::world::Prefs {
            bell: 1,
            at_all: true,
            hilight_log: true,
            colored_nicks: true,
            margins: true,
            hide_joins: false,
            zone: None,
        },
    }
}

#[test]
fn a_flood_on_the_verify_page_is_not_a_panic() {
    // The reproducer of issue 15: a few thousand bytes, then a couple of thousand more, made
    // the kept input shorter than the last read.
    let mut wizard = Wizard::new(TELNET, Some(alice_saved(false, "\r\0")));
    assert!(wizard.feed(&"x".repeat(4000), 2).is_empty());
    assert!(wizard.feed(&"x".repeat(2000), 2).is_empty());
    // One read longer than everything the wizard keeps.
    assert!(wizard.feed(&"é".repeat(5000), 2).is_empty());
    // The page still answers: Y and Enter twice, one key at a time, is the saved client.
    let _ = wizard.feed("y", 2);
    let _ = wizard.feed("\r\0", 2);
    let settings = finished(&wizard.feed("\r\0", 2));
    assert_eq!(settings.nick.as_deref(), Some("alice"));
}

#[test]
fn the_fuzz_scripts_reach_every_question() {
    let reached: Vec<Stage> = crate::fuzzing::WIZARD_SCRIPTS
        .iter()
        .map(|script| script.wizard(0).stage)
        .collect();
    let every = [
        Stage::Verify,
        Stage::TypingTest,
        Stage::Echo,
        Stage::WrongPort,
        Stage::LinemodeWarning,
        Stage::Colours,
        Stage::ColoursSeen,
        Stage::NoVt100Warning,
        Stage::Charset,
        Stage::TelnetExe,
    ];
    // A new question must be listed above: this match has no wildcard.
    let _listed = |stage: Stage| match stage {
        Stage::Verify
        | Stage::TypingTest
        | Stage::Echo
        | Stage::WrongPort
        | Stage::LinemodeWarning
        | Stage::Colours
        | Stage::ColoursSeen
        | Stage::NoVt100Warning
        | Stage::Charset
        | Stage::TelnetExe => (),
    };
    for stage in every {
        assert!(reached.contains(&stage), "no script reaches {stage:?}");
    }
    // The last script is a returning client that asked for a fresh start.
    let fresh = crate::fuzzing::WIZARD_SCRIPTS[10].wizard(0);
    assert_eq!(
        (fresh.stage, fresh.settings.avoid_nick.as_deref()),
        (Stage::TypingTest, Some("returning"))
    );
}
