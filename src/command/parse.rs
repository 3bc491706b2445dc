//! [`Command::parse`]: a typed line to a [`Command`], with no world, no session and no clock,
//! so it can be fuzzed and tested alone.

use crate::command::{Command, Secret, Usage, help, table};
use crate::term::layout::ScrollStep;
use crate::text::channel::normalize_channel_name;
use crate::text::nick::{NickCheck, check_nick};

/// Where `/g` jumps to, as typed: a time of day alone means today, which only [`apply`]
/// knows, since parsing reads no clock.
///
/// [`apply`]: crate::command::apply
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GotoArg {
    /// The message at this position among those in memory (0 = oldest).
    Index(usize),
    /// This far into the messages in memory, in percent.
    Percent(f64),
    /// A date and time in the user's zone (`/tz`, UTC by default), which only [`apply`]
    /// knows.
    Time(jiff::civil::DateTime),
    /// A time of day in the user's zone, today.
    TodayAt(jiff::civil::Time),
    /// Result `N` (from 1) of the user's last `/search`: `/g r3`.
    Found(usize),
}

impl Command {
    /// Parses one line the user sent. A line that does not start with `/` is chat, and so is
    /// `//text` (it says `/text`); every other word is looked up in [`table::COMMANDS`]
    /// (in lower case), apart from window numbers (`/0`, `/1`...).
    pub fn parse(line: &str) -> Result<Command, Usage> {
        if let Some(escaped) = line.strip_prefix("//") {
            return Ok(Command::Say(format!("/{escaped}")));
        }
        let Some(command_line) = line.strip_prefix('/') else {
            return Ok(Command::Say(line.to_string()));
        };
        let (word, arg) = match command_line.split_once(' ') {
            Some((word, arg)) => (word.to_lowercase(), arg.trim()),
            None => (command_line.to_lowercase(), ""),
        };
        if !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Command::Window(word.parse().unwrap_or(usize::MAX)));
        }
        // Only the words of the table run, so `/help commands`, made from the same table,
        // lists exactly what works.
        let Some(info) = table::find(&word) else {
            return Err(Usage::new(invalid_command(command_line)));
        };
        let on = |yes: &str| word == yes;
        Ok(match info.names[0] {
            "help" => {
                let page = arg
                    .chars()
                    .filter(char::is_ascii_alphabetic)
                    .collect::<String>()
                    .to_lowercase();
                if !help::PAGES.contains(&page.as_str()) {
                    return Err(Usage::new("that help page does not exist"));
                }
                Command::Help(page)
            }
            "me" if arg.is_empty() => return Err(Usage::new("usage: /me does something")),
            "me" => Command::Me(arg.to_string()),
            "auth" => Command::Auth(arg.to_string()),
            "register" | "login" | "passwd" | "key" => parse_account(info.names[0], arg)?,
            "logout" => Command::Logout,
            "nick" => parse_nick(arg)?,
            "topic" if arg.is_empty() => {
                return Err(Usage::new(
                    "[invalid argument]\n  usage: /topic the new topic",
                ));
            }
            "topic" => Command::Topic(arg.to_string()),
            "join" if arg.contains(' ') => {
                let (name, key) = arg.split_once(' ').unwrap_or((arg, ""));
                match normalize_channel_name(name) {
                    Ok(name) => {
                        Command::Moderation(crate::command::moderation::ModCommand::JoinWithKey {
                            name,
                            key: key.trim().to_string(),
                        })
                    }
                    Err(problem) => {
                        return Err(Usage::new(format!(
                            "[invalid argument]\n  {problem}\n  example: /join #g"
                        )));
                    }
                }
            }
            "join" => match normalize_channel_name(arg) {
                Ok(name) => Command::Join(name),
                Err(problem) => {
                    return Err(Usage::new(format!(
                        "[invalid argument]\n  {problem}\n  example: /join #g"
                    )));
                }
            },
            "part" => Command::Part,
            "msg" => match arg.split_once(' ') {
                Some((target, text)) if !text.trim().is_empty() => Command::Msg {
                    target: target.to_string(),
                    text: text.trim().to_string(),
                },
                _ => {
                    return Err(Usage::new(
                        "[invalid argument]\n  usage: /msg nickname your message text",
                    ));
                }
            },
            "names" => Command::Names,
            "whois" => match check_nick(arg) {
                NickCheck::Valid(nick) => Command::Whois(nick),
                _ => {
                    return Err(Usage::new("[invalid argument]\n  usage: /whois nickname"));
                }
            },
            "status" => Command::Status,
            "away" => Command::Away(arg.to_string()),
            "back" => Command::Back,
            "search" => {
                Command::Search(crate::command::search::parse_search(arg).map_err(Usage::new)?)
            }
            "hide" | "show" if arg.eq_ignore_ascii_case("joins") => Command::HideJoins(on("hide")),
            "hide" | "show" => {
                return Err(Usage::new(format!(
                    "[invalid argument]\n  usage: /{word} joins"
                )));
            }
            "tz" if arg.is_empty() => Command::Tz(None),
            "tz" => Command::Tz(Some(arg.to_string())),
            "cfg" => Command::Cfg,
            "cmap" => Command::Cmap,
            "cls" => Command::Clear,
            "fill" => parse_fill(arg).map_err(|text| admin_usage("fill", text))?,
            "bc" if arg.is_empty() => return Err(admin_usage("bc", "usage: /bc message text")),
            "bc" => Command::Broadcast(arg.to_string()),
            "sd" => Command::Shutdown,
            "quit" => Command::Quit,
            "r" => Command::Redraw,
            "u" => Command::ScrollPages(-1),
            "d" => Command::ScrollPages(1),
            "l" => Command::Latest,
            "v" => Command::ToggleView,
            "a" => Command::Activity,
            "g" if arg.is_empty() => Command::Goto(None),
            "g" => match parse_goto(arg) {
                Some(target) => Command::Goto(Some(target)),
                None => return Err(Usage::new(GOTO_USAGE)),
            },
            "sy" => Command::Slowmo(arg.parse::<u8>().ok().filter(|l| *l > 0).unwrap_or(1)),
            "sn" => Command::Slowmo(0),
            "ss" => Command::ScrollStep(parse_scroll_step(arg).map_err(Usage::new)?),
            "sw" => match arg.parse::<u16>() {
                Ok(value) if (20..512).contains(&value) => Command::Width(value),
                _ => {
                    return Err(Usage::new(
                        "[invalid argument]\n  usage: /sw 80  (20 to 511)",
                    ));
                }
            },
            "sh" => match arg.parse::<u16>() {
                Ok(value) if (4..512).contains(&value) => Command::Height(value),
                _ => {
                    return Err(Usage::new(
                        "[invalid argument]\n  usage: /sh 24  (4 to 511)",
                    ));
                }
            },
            // The table lists `b0` to `b3` under one entry; the word's digit is the level.
            "b0" => Command::Bell(word.as_bytes().get(1).map_or(0, |d| d.saturating_sub(b'0'))),
            "b?" => Command::BellQuery,
            "ey" => Command::AtAll(on("ey")),
            "hsy" => Command::HilightLog(on("hsy")),
            "cy" => Command::ColoredNicks(on("cy")),
            "my" => Command::Margins(on("my")),
            name if info.section == table::Section::Moderation => {
                crate::command::moderation::parse(name, &word, arg)?
            }
            // A word in the table that this match does not know would be a bug; the test of
            // every word keeps the two together, and the user reads r0c's answer meanwhile.
            _ => return Err(Usage::new(invalid_command(command_line))),
        })
    }
}

/// What `/g` answers to an argument it cannot read.
pub(crate) const GOTO_USAGE: &str = "[goto]\n  invalid argument format, see /g for help";

/// r0c's answer to a word that is no command.
fn invalid_command(command_line: &str) -> String {
    format!(
        "invalid command:  /{command_line}\n  if you meant to send that as a message,\n  escape the leading \"/\" by adding another \"/\""
    )
}

/// A usage error of an admin command, which only administrators are told.
fn admin_usage(command: &'static str, text: &str) -> Usage {
    Usage {
        text: text.to_string(),
        admin_command: Some(command),
    }
}

/// `/nick`: r0c's checks of a chosen nick; characters it cannot have are removed, and the user
/// is told so when the nick is applied.
fn parse_nick(arg: &str) -> Result<Command, Usage> {
    if arg.is_empty() {
        return Err(Usage::new(
            "[invalid argument]\n  usage: /nick new_nickname\n  example: /nick spartacus",
        ));
    }
    match check_nick(arg) {
        NickCheck::Valid(nick) => Ok(Command::Nick {
            nick,
            filtered: None,
        }),
        NickCheck::Filtered { nick, bad_start } => Ok(Command::Nick {
            nick,
            filtered: Some(bad_start),
        }),
        NickCheck::Empty => Err(Usage::new(
            "[invalid argument]\n  yooo EXCLUSIVELY illegal chars in new nick",
        )),
        NickCheck::TooLong => Err(Usage::new(
            "[invalid argument]\n  too long (at most 32 characters)",
        )),
    }
}

/// The account commands: `/register PASSWORD`, `/login [NICK] PASSWORD`, `/passwd OLD NEW`,
/// `/key add|list|del PREFIX`. Passwords are checked against the rules when applied, where
/// the answer can name them.
fn parse_account(name: &str, arg: &str) -> Result<Command, Usage> {
    let words: Vec<&str> = arg.split_whitespace().collect();
    let secret = |word: &str| Secret(word.to_owned());
    Ok(match (name, words.as_slice()) {
        ("register", [password]) => Command::Register(secret(password)),
        ("register", _) => {
            return Err(Usage::new(
                "[invalid argument]\n  usage: /register PASSWORD  (makes your current nick an account; no spaces)",
            ));
        }
        ("login", [password]) => Command::Login {
            name: None,
            password: secret(password),
        },
        ("login", [nick, password]) => match check_nick(nick) {
            NickCheck::Valid(nick) => Command::Login {
                name: Some(nick),
                password: secret(password),
            },
            _ => return Err(Usage::new("[invalid argument]\n  that is not a valid nick")),
        },
        ("login", _) => {
            return Err(Usage::new(
                "[invalid argument]\n  usage: /login NICK PASSWORD  (or /login PASSWORD for your current nick)",
            ));
        }
        ("passwd", [old, new]) => Command::Passwd {
            old: secret(old),
            new: secret(new),
        },
        ("passwd", _) => {
            return Err(Usage::new(
                "[invalid argument]\n  usage: /passwd OLD_PASSWORD NEW_PASSWORD",
            ));
        }
        ("key", ["add"]) => Command::KeyAdd,
        ("key", ["list"]) => Command::KeyList,
        ("key", ["del", prefix]) => Command::KeyDel((*prefix).to_owned()),
        _ => {
            return Err(Usage::new(
                "[invalid argument]\n  usage: /key add  (from ssh: this key logs you in)\n  /key list\n  /key del SHA256:PREFIX",
            ));
        }
    })
}

/// `/fill N TEXT`: at most 10000 lines.
fn parse_fill(arg: &str) -> Result<Command, &'static str> {
    let Some((count, text)) = arg.split_once(' ') else {
        return Err("[error]\n  bad syntax");
    };
    match count.parse::<usize>() {
        Ok(count) if count <= 10_000 => Ok(Command::Fill {
            count,
            text: text.to_string(),
        }),
        _ => Err("[error]\n  bad syntax (at most 10000 lines)"),
    }
}

/// `/ss`: `0` is a whole screen, `N` lines, `P%` of the screen.
pub(crate) fn parse_scroll_step(arg: &str) -> Result<ScrollStep, &'static str> {
    const USAGE: &str = "[invalid argument]\n  /ss 0    scroll a whole screen\n  /ss 10   scroll 10 lines\n  /ss 50%  scroll half the screen";
    if arg == "0" {
        return Ok(ScrollStep::Percent(100.0));
    }
    if let Some(percent) = arg.strip_suffix('%') {
        return match percent.parse::<f64>() {
            Ok(p) if p > 200.0 => Err("whoa dude"),
            Ok(p) if p > 0.0 && p.is_finite() => Ok(ScrollStep::Percent(p)),
            _ => Err(USAGE),
        };
    }
    match arg.parse::<usize>() {
        Ok(lines) if lines > 9000 => Err("whoa dude"),
        Ok(lines) if lines > 0 => Ok(ScrollStep::Lines(lines)),
        _ => Err(USAGE),
    }
}

/// Parses what follows `/g`; dates and times are in the user's zone, read later (r0c mixed
/// the local date with a UTC time). `r3` is the third result of the last `/search`.
pub(crate) fn parse_goto(arg: &str) -> Option<GotoArg> {
    use jiff::civil::{Date, Time};
    let arg = arg.trim();
    if arg.bytes().all(|b| b.is_ascii_digit()) {
        return arg.parse().ok().map(GotoArg::Index);
    }
    if let Some(number) = arg.strip_prefix(['r', 'R'])
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
    {
        return number.parse().ok().filter(|n| *n > 0).map(GotoArg::Found);
    }
    if let Some(percent) = arg.strip_suffix('%') {
        return percent
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && *p >= 0.0)
            .map(GotoArg::Percent);
    }
    // Seconds are optional: `/search` names a message's second, so `/g` lands on it.
    let time_of = |text: &str| {
        Time::strptime("%H:%M", text)
            .or_else(|_| Time::strptime("%H:%M:%S", text))
            .ok()
    };
    let date_of = |text: &str| Date::strptime("%Y-%m-%d", text).ok();
    let datetime = match arg.split_once(' ') {
        Some((date, time)) => date_of(date)?.to_datetime(time_of(time.trim())?),
        None => match (date_of(arg), time_of(arg)) {
            (Some(date), _) => date.to_datetime(Time::midnight()),
            (None, Some(time)) => return Some(GotoArg::TodayAt(time)),
            (None, None) => return None,
        },
    };
    Some(GotoArg::Time(datetime))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Goto;

    #[test]
    fn account_commands_with_bad_arguments_get_their_usage_and_never_quote_a_password() {
        for (line, usage) in [
            ("/register", "usage: /register PASSWORD"),
            ("/register two words", "usage: /register PASSWORD"),
            ("/login", "usage: /login NICK PASSWORD"),
            ("/login a b c", "usage: /login NICK PASSWORD"),
            ("/login _bad secret99", "not a valid nick"),
            ("/passwd onlyone", "usage: /passwd"),
            ("/key", "usage: /key add"),
            ("/key del", "usage: /key add"),
            ("/key nope", "usage: /key add"),
        ] {
            let text = Command::parse(line).expect_err(line).text;
            assert!(text.contains(usage), "{line}: {text}");
            assert!(
                !text.contains("secret99") && !text.contains("two words"),
                "{text}"
            );
        }
        let debug = format!("{:?}", Command::parse("/login alice secret99"));
        assert!(!debug.contains("secret99"), "{debug}");
    }

    fn ok(line: &str) -> Command {
        match Command::parse(line) {
            Ok(command) => command,
            Err(usage) => panic!("{line:?}: {usage}"),
        }
    }

    fn usage(line: &str) -> String {
        match Command::parse(line) {
            Ok(command) => panic!("{line:?} parsed as {command:?}"),
            Err(usage) => usage.text,
        }
    }

    #[test]
    fn every_word_of_the_table_parses_to_its_command() {
        use crate::command::moderation::ModCommand as M;
        use crate::world::sanction::Kind;
        use Command as C;
        let moderation = C::Moderation;
        let nick = |n: &str| C::Nick {
            nick: n.into(),
            filtered: None,
        };
        let cases: Vec<(&str, Command)> = vec![
            ("/nick bob", nick("bob")),
            ("/n bob", nick("bob")),
            ("/NICK bob", nick("bob")),
            ("/join #g", C::Join("g".into())),
            ("/j g", C::Join("g".into())),
            ("/part", C::Part),
            ("/p", C::Part),
            ("/topic hi there", C::Topic("hi there".into())),
            ("/t hi", C::Topic("hi".into())),
            ("/me waves", C::Me("waves".into())),
            (
                "/msg bob hi there ",
                C::Msg {
                    target: "bob".into(),
                    text: "hi there".into(),
                },
            ),
            (
                "/m bob hi",
                C::Msg {
                    target: "bob".into(),
                    text: "hi".into(),
                },
            ),
            ("/quit", C::Quit),
            ("/q", C::Quit),
            ("/exit", C::Quit),
            ("/u", C::ScrollPages(-1)),
            ("/up", C::ScrollPages(-1)),
            ("/d", C::ScrollPages(1)),
            ("/down", C::ScrollPages(1)),
            ("/l", C::Latest),
            ("/latest", C::Latest),
            ("/g", C::Goto(None)),
            ("/goto 3172", C::Goto(Some(GotoArg::Index(3172)))),
            ("/a", C::Activity),
            ("/v", C::ToggleView),
            ("/view", C::ToggleView),
            ("/cls", C::Clear),
            ("/clear", C::Clear),
            ("/help", C::Help(String::new())),
            ("/help Commands!", C::Help("commands".into())),
            ("/names", C::Names),
            ("/na", C::Names),
            ("/whois Alice", C::Whois("Alice".into())),
            ("/status", C::Status),
            ("/st", C::Status),
            ("/cfg", C::Cfg),
            ("/cmap", C::Cmap),
            ("/b0", C::Bell(0)),
            ("/b1", C::Bell(1)),
            ("/b2", C::Bell(2)),
            ("/b3", C::Bell(3)),
            ("/b?", C::BellQuery),
            ("/ey", C::AtAll(true)),
            ("/en", C::AtAll(false)),
            ("/hsy", C::HilightLog(true)),
            ("/hsn", C::HilightLog(false)),
            ("/cy", C::ColoredNicks(true)),
            ("/cn", C::ColoredNicks(false)),
            ("/my", C::Margins(true)),
            ("/mn", C::Margins(false)),
            ("/sw 100", C::Width(100)),
            ("/sh 30", C::Height(30)),
            ("/ss 10", C::ScrollStep(ScrollStep::Lines(10))),
            ("/sy", C::Slowmo(1)),
            ("/sy 3", C::Slowmo(3)),
            ("/sy 0", C::Slowmo(1)),
            ("/sn", C::Slowmo(0)),
            ("/r", C::Redraw),
            ("/redraw", C::Redraw),
            ("/auth", C::Auth(String::new())),
            ("/auth  pw ", C::Auth("pw".into())),
            ("/register hunter22", C::Register(Secret("hunter22".into()))),
            (
                "/login alice hunter22",
                C::Login {
                    name: Some("alice".into()),
                    password: Secret("hunter22".into()),
                },
            ),
            (
                "/identify hunter22",
                C::Login {
                    name: None,
                    password: Secret("hunter22".into()),
                },
            ),
            ("/logout", C::Logout),
            (
                "/passwd old12345 new12345",
                C::Passwd {
                    old: Secret("old12345".into()),
                    new: Secret("new12345".into()),
                },
            ),
            ("/key add", C::KeyAdd),
            ("/key list", C::KeyList),
            ("/key del SHA256:ab", C::KeyDel("SHA256:ab".into())),
            (
                "/fill 3 x y",
                C::Fill {
                    count: 3,
                    text: "x y".into(),
                },
            ),
            ("/bc hello", C::Broadcast("hello".into())),
            (
                "/ignore bob",
                moderation(M::Ignore {
                    nick: "bob".into(),
                    on: true,
                }),
            ),
            (
                "/unignore bob",
                moderation(M::Ignore {
                    nick: "bob".into(),
                    on: false,
                }),
            ),
            ("/ignores", moderation(M::Ignores)),
            (
                "/kick bob",
                moderation(M::Kick {
                    nick: "bob".into(),
                    reason: String::new(),
                }),
            ),
            (
                "/ban bob",
                moderation(M::Sanction {
                    kind: Kind::Ban,
                    target: "bob".into(),
                    duration: None,
                    reason: String::new(),
                }),
            ),
            (
                "/unban bob",
                moderation(M::Lift {
                    kind: Kind::Ban,
                    target: "bob".into(),
                }),
            ),
            (
                "/mute bob 1h",
                moderation(M::Sanction {
                    kind: Kind::Mute,
                    target: "bob".into(),
                    duration: Some("1h".into()),
                    reason: String::new(),
                }),
            ),
            (
                "/unmute bob",
                moderation(M::Lift {
                    kind: Kind::Mute,
                    target: "bob".into(),
                }),
            ),
            ("/bans", moderation(M::Bans)),
            (
                "/op bob",
                moderation(M::Op {
                    nick: "bob".into(),
                    on: true,
                }),
            ),
            (
                "/deop bob",
                moderation(M::Op {
                    nick: "bob".into(),
                    on: false,
                }),
            ),
            (
                "/voice bob",
                moderation(M::Voice {
                    nick: "bob".into(),
                    on: true,
                }),
            ),
            (
                "/devoice bob",
                moderation(M::Voice {
                    nick: "bob".into(),
                    on: false,
                }),
            ),
            ("/mode", moderation(M::Mode(Vec::new()))),
            ("/invite bob", moderation(M::Invite("bob".into()))),
            ("/lockdown off", moderation(M::Lockdown(vec!["off".into()]))),
            ("/modlog 5", moderation(M::Modlog(5))),
            ("/sd", C::Shutdown),
            ("/away lunch", C::Away("lunch".into())),
            ("/away", C::Away(String::new())),
            ("/back", C::Back),
            (
                "/search hello in:#g",
                C::Search(crate::command::search::SearchRequest {
                    words: vec!["hello".into()],
                    channel: Some("g".into()),
                    author: None,
                    before: None,
                    after: None,
                }),
            ),
            ("/hide joins", C::HideJoins(true)),
            ("/show JOINS", C::HideJoins(false)),
            ("/tz", C::Tz(None)),
            ("/tz Europe/Berlin", C::Tz(Some("Europe/Berlin".into()))),
            ("/0", C::Window(0)),
            ("/12", C::Window(12)),
            ("/99999999999999999999999", C::Window(usize::MAX)),
            ("hello", C::Say("hello".into())),
            ("//x y", C::Say("/x y".into())),
            ("//", C::Say("/".into())),
            (" /x", C::Say(" /x".into())),
        ];
        for (line, expected) in &cases {
            assert_eq!(&ok(line), expected, "{line}");
        }
        // Every word of the table is covered above, so a new word needs a case here.
        for command in table::COMMANDS {
            for name in command.names {
                assert!(
                    cases.iter().any(|(line, _)| {
                        line.strip_prefix('/')
                            .and_then(|rest| rest.split(' ').next())
                            .is_some_and(|word| word.eq_ignore_ascii_case(name))
                    }),
                    "/{name} has a case"
                );
            }
        }
    }

    #[test]
    fn bad_arguments_give_r0cs_texts() {
        let invalid = |shown: &str| {
            format!(
                "invalid command:  /{shown}\n  if you meant to send that as a message,\n  escape the leading \"/\" by adding another \"/\""
            )
        };
        let ss = "[invalid argument]\n  /ss 0    scroll a whole screen\n  /ss 10   scroll 10 lines\n  /ss 50%  scroll half the screen";
        let cases: Vec<(&str, String)> = vec![
            ("/nope", invalid("nope")),
            ("/Nope Arg", invalid("Nope Arg")),
            ("/", invalid("")),
            ("/help nope", "that help page does not exist".into()),
            ("/me", "usage: /me does something".into()),
            (
                "/whois",
                "[invalid argument]\n  usage: /whois nickname".into(),
            ),
            (
                "/whois a b",
                "[invalid argument]\n  usage: /whois nickname".into(),
            ),
            (
                "/nick",
                "[invalid argument]\n  usage: /nick new_nickname\n  example: /nick spartacus"
                    .into(),
            ),
            (
                "/nick ...",
                "[invalid argument]\n  yooo EXCLUSIVELY illegal chars in new nick".into(),
            ),
            (
                "/nick abcdefghijabcdefghijabcdefghijabc",
                "[invalid argument]\n  too long (at most 32 characters)".into(),
            ),
            (
                "/topic",
                "[invalid argument]\n  usage: /topic the new topic".into(),
            ),
            (
                "/join",
                "[invalid argument]\n  usage: /join #channel_name\n  example: /join #g".into(),
            ),
            (
                "/msg bob",
                "[invalid argument]\n  usage: /msg nickname your message text".into(),
            ),
            (
                "/msg bob   ",
                "[invalid argument]\n  usage: /msg nickname your message text".into(),
            ),
            ("/fill", "[error]\n  bad syntax".into()),
            (
                "/fill 10001 x",
                "[error]\n  bad syntax (at most 10000 lines)".into(),
            ),
            (
                "/fill x y",
                "[error]\n  bad syntax (at most 10000 lines)".into(),
            ),
            ("/bc", "usage: /bc message text".into()),
            (
                "/g yesterday",
                "[goto]\n  invalid argument format, see /g for help".into(),
            ),
            ("/ss", ss.into()),
            ("/ss 9001", "whoa dude".into()),
            (
                "/sw 19",
                "[invalid argument]\n  usage: /sw 80  (20 to 511)".into(),
            ),
            (
                "/sh 512",
                "[invalid argument]\n  usage: /sh 24  (4 to 511)".into(),
            ),
            (
                "/sh",
                "[invalid argument]\n  usage: /sh 24  (4 to 511)".into(),
            ),
        ];
        for (line, expected) in &cases {
            assert_eq!(&usage(line), expected, "{line}");
        }
        // Only the admin commands keep their usage from those who may not run them.
        for (line, admin) in [("/fill", Some("fill")), ("/bc", Some("bc")), ("/me", None)] {
            assert_eq!(
                Command::parse(line).map_err(|u| u.admin_command),
                Err(admin)
            );
        }
    }

    #[test]
    fn a_nick_with_illegal_characters_is_filtered_and_says_so() {
        let filtered = |line: &str| match Command::parse(line) {
            Ok(Command::Nick { nick, filtered }) => (nick, filtered),
            other => panic!("{line:?}: {other:?}"),
        };
        assert_eq!(filtered("/nick -bob"), ("bob".into(), Some(true)));
        assert_eq!(filtered("/nick b\u{e9}ob"), ("bob".into(), Some(false)));
    }

    #[test]
    fn goto_arguments() {
        let now: jiff::Timestamp = "2026-11-25T12:00:00Z".parse().expect("timestamp");
        assert_eq!(parse_goto("r3"), Some(GotoArg::Found(3)));
        assert_eq!(parse_goto("R12"), Some(GotoArg::Found(12)));
        for not_a_result in ["r0", "r", "r-1", "rx"] {
            assert_eq!(parse_goto(not_a_result), None, "{not_a_result}");
        }
        // Dates and times are the user's: 19:47 in Kolkata (UTC+05:30) is 14:17 UTC.
        let kolkata = crate::term::zone::Zone::named("Asia/Kolkata").expect("tz database");
        assert_eq!(
            parse_goto("2018-01-21 19:47").and_then(|g| g.resolve(now, Some(&kolkata))),
            Some(Goto::Time(
                "2018-01-21T14:17:00Z"
                    .parse::<jiff::Timestamp>()
                    .expect("timestamp")
                    .as_microsecond()
            ))
        );
        let micros = |text: &str| {
            text.parse::<jiff::Timestamp>()
                .expect("timestamp")
                .as_microsecond()
        };
        let cases: &[(&str, Option<Goto>)] = &[
            ("3172", Some(Goto::Index(3172))),
            ("34%", Some(Goto::Percent(34.0))),
            ("12.5%", Some(Goto::Percent(12.5))),
            ("19:47", Some(Goto::Time(micros("2026-11-25T19:47:00Z")))),
            (
                "2018-01-21",
                Some(Goto::Time(micros("2018-01-21T00:00:00Z"))),
            ),
            (
                "2018-01-21 19:47",
                Some(Goto::Time(micros("2018-01-21T19:47:00Z"))),
            ),
            (
                "2018-01-21 19:47:05",
                Some(Goto::Time(micros("2018-01-21T19:47:05Z"))),
            ),
            ("yesterday", None),
            ("-5%", None),
            ("25:61", None),
        ];
        for (arg, expected) in cases {
            assert_eq!(
                &parse_goto(arg).and_then(|g| g.resolve(now, None)),
                expected,
                "{arg}"
            );
        }
    }

    #[test]
    fn scroll_steps() {
        assert_eq!(parse_scroll_step("0"), Ok(ScrollStep::Percent(100.0)));
        assert_eq!(parse_scroll_step("10"), Ok(ScrollStep::Lines(10)));
        assert_eq!(parse_scroll_step("50%"), Ok(ScrollStep::Percent(50.0)));
        assert_eq!(parse_scroll_step("9001"), Err("whoa dude"));
        assert_eq!(parse_scroll_step("201%"), Err("whoa dude"));
        assert!(parse_scroll_step("lots").is_err());
    }
}
