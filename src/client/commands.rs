//! Slash commands: parsing a line the user sent and carrying it out.
//!
//! Chat state changes go through [`World`]; settings of the connection itself (size, redraw)
//! go to the [`Session`]. Feedback lands in the status window, with a one-line notice where the
//! user is (see [`World::tell`]).

use crate::client::command_table;
use crate::client::session::{Outgoing, Session};
use crate::client::texts;
use crate::client::vt::ScrollStep;
use crate::world::nick::{NickCheck, check_nick};
use crate::world::{
    AUTHOR_ERROR, AUTHOR_INFO, AUTHOR_SYSTEM, AuthOutcome, Goto, World, normalize_channel_name,
};

/// Whether the connection goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// Carries out one line typed by the user: a command, or a chat message.
pub fn execute(session: &mut Session, world: &World, line: &str) -> Flow {
    let user = session.user;
    if let Some(escaped) = line.strip_prefix("//") {
        session.send_message(Outgoing::Say(format!("/{escaped}")));
        return Flow::Continue;
    }
    let Some(command_line) = line.strip_prefix('/') else {
        session.send_message(Outgoing::Say(line.to_string()));
        return Flow::Continue;
    };
    let (word, arg) = match command_line.split_once(' ') {
        Some((word, arg)) => (word.to_lowercase(), arg.trim()),
        None => (command_line.to_lowercase(), ""),
    };
    let error = |text: &str| world.tell(user, AUTHOR_ERROR, text);
    let info = |text: &str| world.tell(user, AUTHOR_INFO, text);
    // Only the words of the command table run (`/0`, `/1`... aside), so `/help commands`,
    // made from the same table, lists exactly what works.
    let window_number = !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit());
    if !window_number && command_table::find(&word).is_none() {
        error(&invalid_command(command_line));
        return Flow::Continue;
    }
    match word.as_str() {
        "help" => {
            let page: String = arg
                .chars()
                .filter(char::is_ascii_alphabetic)
                .collect::<String>()
                .to_lowercase();
            match texts::help_page(&page) {
                Some(text) => info(&text),
                None => error("that help page does not exist"),
            }
        }
        "me" => {
            if arg.is_empty() {
                error("usage: /me does something");
            } else {
                session.send_message(Outgoing::Action(arg.to_string()));
            }
        }
        "auth" => match world.authenticate(user, arg) {
            AuthOutcome::Ok => info("please don't break anything"),
            AuthOutcome::Wrong => error("wrong password"),
            AuthOutcome::TooMany { minutes } => error(&format!(
                "too many wrong passwords from your address; try again in {minutes} minutes"
            )),
        },
        // Commands that others see draw on the session's command budget, charged by what
        // each cost others (a nick change is shown in every window the user has open).
        "nick" | "n" => {
            if session.may_run_shared_command() {
                let shown_in = world.window_count(user);
                if change_nick(world, user, arg) {
                    session.charge_shared_command(shown_in);
                }
            }
        }
        "topic" | "t" => {
            if arg.is_empty() {
                error("[invalid argument]\n  usage: /topic the new topic");
            } else if session.may_run_shared_command() {
                match world.set_topic(user, arg) {
                    Ok(()) => session.charge_shared_command(1),
                    Err(text) => error(&format!("[error]\n  {text}")),
                }
            }
        }
        "join" | "j" => match normalize_channel_name(arg) {
            Ok(name) => {
                if session.may_run_shared_command() {
                    match world.join(user, &name) {
                        Ok(true) => session.charge_shared_command(1),
                        Ok(false) => {}
                        Err(limit) => error(&format!("[error]\n  {limit}")),
                    }
                }
            }
            Err(problem) => error(&format!(
                "[invalid argument]\n  {problem}\n  example: /join #g"
            )),
        },
        "part" | "p" => {
            if session.may_run_shared_command() {
                match world.part(user) {
                    Ok(()) => session.charge_shared_command(1),
                    Err(text) => error(&format!("[error]\n  {text}")),
                }
            }
        }
        "msg" | "m" => match arg.split_once(' ') {
            Some((target, text)) if !text.trim().is_empty() => {
                session.send_message(Outgoing::Direct {
                    target: target.to_string(),
                    text: text.trim().to_string(),
                });
            }
            _ => error("[invalid argument]\n  usage: /msg nickname your message text"),
        },
        "names" | "na" => {
            if let Some((label, nicks)) = world.names(user) {
                world.tell(
                    user,
                    AUTHOR_SYSTEM,
                    &format!("{} users in {label}: {}", nicks.len(), nicks.join(", ")),
                );
            }
        }
        "status" | "st" => {
            let (census, details) = world.census(user);
            let mut text = format!(
                "{} users + {} in wizard, {} in chans, {} public + {} private chans",
                census.users,
                world.in_wizard(),
                census.users_in_channels,
                census.public_channels,
                census.private_channels
            );
            for line in details {
                text.push('\n');
                text.push_str(&line);
            }
            info(&text);
        }
        "cfg" => {
            if let Some(prefs) = world.prefs(user) {
                world.tell(user, AUTHOR_SYSTEM, &cfg_line(session, &prefs));
            }
        }
        "cls" | "clear" => {
            if let Err(text) = world.clear_window(user) {
                error(&format!("[error]\n  {text}"));
            }
        }
        "fill" => admin(session, world, "fill", || match arg.split_once(' ') {
            Some((count, text)) => match count.parse::<usize>() {
                Ok(count) if count <= 10_000 => {
                    if let Err(text) = world.fill(user, count, text) {
                        error(&text.to_string());
                    }
                }
                _ => error("[error]\n  bad syntax (at most 10000 lines)"),
            },
            None => error("[error]\n  bad syntax"),
        }),
        "bc" => admin(session, world, "bc", || {
            if arg.is_empty() {
                error("usage: /bc message text");
            } else {
                world.broadcast(&format!("\x0b1{arg}"), true);
            }
        }),
        "sd" => admin(session, world, "sd", || {
            let nick = world.nick(user).unwrap_or_default();
            world.broadcast(&format!("\x0b1server shutdown requested by {nick}"), true);
            world.request_shutdown(std::time::Duration::from_millis(500));
        }),
        "quit" | "q" | "exit" => return Flow::Quit,
        "r" | "redraw" => {
            session.probe_size();
            session.request_redraw();
        }
        "u" | "up" => session.scroll_pages(-1),
        "d" | "down" => session.scroll_pages(1),
        "l" | "latest" => session.to_latest(),
        "v" | "view" => session.toggle_view_mode(),
        "g" | "goto" => goto(session, world, user, arg),
        "cmap" => info(&crate::term::style::cmap_text()),
        "sy" => {
            let level = arg.parse::<u8>().ok().filter(|l| *l > 0).unwrap_or(1);
            session.set_slowmo(level);
            info(&format!(
                "Slowmo enabled ({level}). This avoids a bug in telnet.exe on Windows, but your screen may already be garbled, so reconnect to fix it. Disable with /sn if you change your mind"
            ));
        }
        "sn" => {
            session.set_slowmo(0);
            info("Slowmo disabled. Enable with /sy");
        }
        "ss" => match parse_scroll_step(arg) {
            Ok(step) => {
                session.set_scroll_step(step);
                world.tell(
                    user,
                    AUTHOR_INFO,
                    &match step {
                        ScrollStep::Lines(lines) => format!("scroll size: {lines} lines"),
                        ScrollStep::Percent(percent) => {
                            format!("scroll size: {percent:.1}% of screen")
                        }
                    },
                );
            }
            Err(text) => error(text),
        },
        "a" => {
            world.jump_to_activity(user);
        }
        "sw" | "sh" => match arg.parse::<u16>() {
            Ok(value) if (20..512).contains(&value) && word == "sw" => {
                session.force_size(Some(value), None);
                info(&format!("screen width: {value} letters"));
            }
            Ok(value) if (4..512).contains(&value) && word == "sh" => {
                session.force_size(None, Some(value));
                info(&format!("screen height: {value} letters"));
            }
            _ => error(&format!(
                "[invalid argument]\n  usage: /{word} {}",
                if word == "sw" {
                    "80  (20 to 511)"
                } else {
                    "24  (4 to 511)"
                }
            )),
        },
        "b0" | "b1" | "b2" | "b3" => {
            let level = word.as_bytes()[1] - b'0';
            world.update_prefs(user, |p| p.bell = level);
            info(bell_text(level));
        }
        "b?" => {
            let level = world.prefs(user).map_or(1, |p| p.bell);
            info(bell_text(level));
        }
        "ey" | "en" => {
            let on = word == "ey";
            world.update_prefs(user, |p| p.at_all = on);
            info(if on {
                "Hilight on @all / @everyone enabled. Disable with /en"
            } else {
                "Hilight on @all / @everyone disabled. Enable with /ey"
            });
        }
        "hsy" | "hsn" => {
            let on = word == "hsy";
            world.update_prefs(user, |p| p.hilight_log = on);
            info(if on {
                "Mentions are now logged in the status window. Disable with /hsn"
            } else {
                "Mentions are no longer logged in the status window. Enable with /hsy"
            });
        }
        "cy" | "cn" => {
            let on = word == "cy";
            world.update_prefs(user, |p| p.colored_nicks = on);
            info(if on {
                "Colored nicknames enabled. Disable with /cn"
            } else {
                "Colored nicknames disabled. Enable with /cy"
            });
        }
        "my" | "mn" => {
            let on = word == "my";
            world.update_prefs(user, |p| p.margins = on);
            info(if on {
                "Wordwrap margins enabled. Disable with /mn"
            } else {
                "Wordwrap margins disabled. Enable with /my"
            });
        }
        digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            let index = digits.parse::<usize>().unwrap_or(usize::MAX);
            if !world.switch_window(user, index) {
                error(&format!(
                    "[error]\n  you only have {} channels my dude",
                    world.window_count(user)
                ));
            }
        }
        // The table and this match list the same words (a test runs every one of them).
        _ => error(&invalid_command(command_line)),
    }
    Flow::Continue
}

/// r0c's answer to a word that is no command.
fn invalid_command(command_line: &str) -> String {
    format!(
        "invalid command:  /{command_line}\n  if you meant to send that as a message,\n  escape the leading \"/\" by adding another \"/\""
    )
}

/// `/ss`: `0` is a whole screen, `N` lines, `P%` of the screen.
fn parse_scroll_step(arg: &str) -> Result<ScrollStep, &'static str> {
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

/// `/g`: jumps to a message by position, percentage or UTC time.
fn goto(session: &mut Session, world: &World, user: u64, arg: &str) {
    if arg.is_empty() {
        let (count, oldest) = world.window_span(user).unwrap_or((0, 0));
        let since =
            jiff::Timestamp::from_microsecond(oldest).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let label = world
            .names(user)
            .map(|(label, _)| label)
            .unwrap_or_default();
        world.tell(
            user,
            AUTHOR_SYSTEM,
            &format!(
                "[goto]\n  {count} msgs since {} in {label}\n  /g 19:47             jump to a time (UTC, today)\n  /g 2018-01-21        jump to a date\n  /g 2018-01-21 19:47  jump to a date and time\n  /g 3172              jump to a message\n  /g 34%               jump to an offset\n  /l                   back to the newest",
                since.strftime("%Y-%m-%d, %H:%M")
            ),
        );
        return;
    }
    let Some(target) = parse_goto(arg, jiff::Timestamp::now()) else {
        world.tell(
            user,
            AUTHOR_ERROR,
            "[goto]\n  invalid argument format, see /g for help",
        );
        return;
    };
    if let Some(seq) = world.goto_seq(user, target) {
        session.goto(seq);
    }
}

/// Parses what follows `/g`; times are UTC (r0c mixed the local date with a UTC time).
fn parse_goto(arg: &str, now: jiff::Timestamp) -> Option<Goto> {
    use jiff::civil::{Date, DateTime, Time};
    let arg = arg.trim();
    if arg.bytes().all(|b| b.is_ascii_digit()) {
        return arg.parse().ok().map(Goto::Index);
    }
    if let Some(percent) = arg.strip_suffix('%') {
        return percent
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && *p >= 0.0)
            .map(Goto::Percent);
    }
    let utc = |datetime: DateTime| {
        jiff::tz::TimeZone::UTC
            .to_timestamp(datetime)
            .ok()
            .map(|t| t.as_microsecond())
    };
    let time_of = |text: &str| Time::strptime("%H:%M", text).ok();
    let date_of = |text: &str| Date::strptime("%Y-%m-%d", text).ok();
    let datetime = match arg.split_once(' ') {
        Some((date, time)) => date_of(date)?.to_datetime(time_of(time.trim())?),
        None => match (date_of(arg), time_of(arg)) {
            (Some(date), _) => date.to_datetime(Time::midnight()),
            (None, Some(time)) => jiff::tz::TimeZone::UTC
                .to_datetime(now)
                .date()
                .to_datetime(time),
            (None, None) => return None,
        },
    };
    utc(datetime).map(Goto::Time)
}

/// `/nick`: says whether the nick changed.
fn change_nick(world: &World, user: u64, arg: &str) -> bool {
    if arg.is_empty() {
        world.tell(
            user,
            AUTHOR_ERROR,
            "[invalid argument]\n  usage: /nick new_nickname\n  example: /nick spartacus",
        );
        return false;
    }
    let nick = match check_nick(arg) {
        NickCheck::Valid(nick) => nick,
        NickCheck::Filtered { nick, bad_start } => {
            let why = if bad_start {
                " (nicks must begin with an alphanumeric character)"
            } else {
                ""
            };
            world.tell(
                user,
                AUTHOR_ERROR,
                &format!("[invalid argument]\n  illegal characters were removed{why}"),
            );
            nick
        }
        NickCheck::Empty => {
            world.tell(
                user,
                AUTHOR_ERROR,
                "[invalid argument]\n  yooo EXCLUSIVELY illegal chars in new nick",
            );
            return false;
        }
        NickCheck::TooLong => {
            world.tell(
                user,
                AUTHOR_ERROR,
                "[invalid argument]\n  too long (at most 32 characters)",
            );
            return false;
        }
    };
    match world.change_nick(user, &nick) {
        Ok(()) => true,
        Err(problem) => {
            world.tell(
                user,
                AUTHOR_ERROR,
                &format!("[invalid argument]\n  {problem}"),
            );
            false
        }
    }
}

/// Runs `action` (the admin command `/name`) for administrators; others are refused.
/// Either way there is a log line naming who asked, but never the command's text.
fn admin(session: &mut Session, world: &World, name: &str, action: impl FnOnce()) {
    let user = session.user;
    let peer = world
        .peer(user)
        .map(|peer| peer.to_string())
        .unwrap_or_default();
    let nick = world.nick(user).unwrap_or_default();
    if world.is_admin(user) {
        tracing::info!(peer, nick, command = name, "admin command");
        action();
    } else {
        // A user can type refused commands in a loop; the log gets a few a minute.
        let verdict = session.denied_log.check(session.started.elapsed());
        if let crate::log_limit::Verdict::Log { suppressed, last } = verdict {
            tracing::warn!(
                peer,
                nick,
                command = name,
                suppressed,
                last,
                "admin command denied"
            );
        }
        world.tell(
            user,
            AUTHOR_ERROR,
            "[denied]\n  don't move, the police are on the way",
        );
    }
}

fn bell_text(level: u8) -> &'static str {
    match level {
        0 => "Audible alerts disabled. Enable with /b1 or /b2",
        1 => "Audible alerts enabled for hilights in other channels. Disable with /b0",
        2 => "Audible alerts enabled for all hilights, even in active channel. Disable with /b0",
        _ => "Audible alerts enabled for every message, not just hilights. Disable with /b0",
    }
}

/// `/cfg`: r0c's fields in r0c's format (`key=value`, values as Python prints them, keys in
/// cyan on VT100), then ours: the screen size and the mentions log.
fn cfg_line(session: &Session, prefs: &crate::world::Prefs) -> String {
    let py_bool = |b: bool| if b { "True" } else { "False" };
    let (linemode, echo, enter) = session.wizard_findings();
    let (cols, rows) = session.size();
    let fields = [
        ("slowmo_tx", session.slowmo().to_string()),
        ("linemode", py_bool(linemode).to_owned()),
        ("echo_on", py_bool(echo).to_owned()),
        ("vt100", py_bool(session.is_vt100()).to_owned()),
        ("crlf", python_repr(enter)),
        ("codec", python_repr(session.charset().name())),
        ("bell", prefs.bell.to_string()),
        ("atall", py_bool(prefs.at_all).to_owned()),
        ("cnicks", py_bool(prefs.colored_nicks).to_owned()),
        ("align", py_bool(prefs.margins).to_owned()),
        ("size", format!("{cols}x{rows}")),
        ("hilog", py_bool(prefs.hilight_log).to_owned()),
    ];
    // CTRL-K 6 is cyan and CTRL-O resets: the formatting tokens of stored text.
    let key = |k: &str| {
        if session.is_vt100() {
            format!("\x0b6{k}=\x0f")
        } else {
            format!("{k}=")
        }
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}{v}", key(k)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A string as Python's `repr` shows it: in single quotes, with `\r`, `\n`, `\t`, `\\` and
/// `\'` escaped and other control characters as `\xNN`.
fn python_repr(text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goto_arguments() {
        let now: jiff::Timestamp = "2026-11-25T12:00:00Z".parse().expect("timestamp");
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
            ("yesterday", None),
            ("-5%", None),
            ("25:61", None),
        ];
        for (arg, expected) in cases {
            assert_eq!(&parse_goto(arg, now), expected, "{arg}");
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
