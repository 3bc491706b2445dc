//! Slash commands: parsing a line the user sent and carrying it out.
//!
//! Chat state changes go through [`World`]; settings of the connection itself (size, redraw)
//! go to the [`Session`]. Feedback lands in the status window, with a one-line notice where the
//! user is (see [`World::tell`]).

use crate::client::session::Session;
use crate::client::texts;
use crate::world::nick::{NickCheck, check_nick};
use crate::world::{AUTHOR_ERROR, AUTHOR_INFO, AUTHOR_SYSTEM, World, normalize_channel_name};

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
        say(world, user, &format!("/{escaped}"));
        return Flow::Continue;
    }
    let Some(command_line) = line.strip_prefix('/') else {
        say(world, user, line);
        return Flow::Continue;
    };
    let (word, arg) = match command_line.split_once(' ') {
        Some((word, arg)) => (word.to_lowercase(), arg.trim()),
        None => (command_line.to_lowercase(), ""),
    };
    let error = |text: &str| world.tell(user, AUTHOR_ERROR, text);
    let info = |text: &str| world.tell(user, AUTHOR_INFO, text);
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
            } else if let Err(text) = world.action(user, arg) {
                error(&text);
            }
        }
        "auth" => {
            if world.authenticate(user, arg) {
                info("please don't break anything");
            } else {
                error("wrong password");
            }
        }
        "nick" | "n" => change_nick(world, user, arg),
        "topic" | "t" => {
            if arg.is_empty() {
                error("[invalid argument]\n  usage: /topic the new topic");
            } else if let Err(text) = world.set_topic(user, arg) {
                error(&format!("[error]\n  {text}"));
            }
        }
        "join" | "j" => match normalize_channel_name(arg) {
            Ok(name) => world.join(user, &name),
            Err(problem) => error(&format!(
                "[invalid argument]\n  {problem}\n  example: /join #g"
            )),
        },
        "part" | "p" => {
            if let Err(text) = world.part(user) {
                error(&format!("[error]\n  {text}"));
            }
        }
        "msg" | "m" => match arg.split_once(' ') {
            Some((target, text)) if !text.trim().is_empty() => {
                if let Err(problem) = world.direct_message(user, target, text.trim()) {
                    error(&format!("[user not found]\n  {problem}"));
                }
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
                "{} users + 0 in wizard, {} in chans, {} public + {} private chans",
                census.users,
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
            let (cols, rows) = session.size();
            let prefs = world.view(user, Some(u64::MAX), 0).map(|v| v.prefs);
            if let Some(p) = prefs {
                info(&format!(
                    "size={cols}x{rows} mode=teletype codec='utf-8' bell={} atall={} hilog={} cnicks={} align={}",
                    p.bell, p.at_all, p.hilight_log, p.colored_nicks, p.margins
                ));
            }
        }
        "cls" | "clear" => {
            if let Err(text) = world.clear_window(user) {
                error(&format!("[error]\n  {text}"));
            }
        }
        "fill" => admin(world, user, || match arg.split_once(' ') {
            Some((count, text)) => match count.parse::<usize>() {
                Ok(count) if count <= 10_000 => {
                    if let Err(text) = world.fill(user, count, text) {
                        error(&text);
                    }
                }
                _ => error("[error]\n  bad syntax (at most 10000 lines)"),
            },
            None => error("[error]\n  bad syntax"),
        }),
        "bc" => admin(world, user, || {
            if arg.is_empty() {
                error("usage: /bc message text");
            } else {
                world.broadcast(&format!("\x0b1{arg}"), true);
            }
        }),
        "sd" => admin(world, user, || {
            let nick = world.nick(user).unwrap_or_default();
            world.broadcast(&format!("\x0b1server shutdown requested by {nick}"), true);
            world.request_shutdown(std::time::Duration::from_millis(500));
        }),
        "quit" | "q" | "exit" => return Flow::Quit,
        "r" | "redraw" | "u" | "up" | "d" | "down" | "l" | "latest" => session.request_redraw(),
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
            let level = world
                .view(user, Some(u64::MAX), 0)
                .map_or(1, |v| v.prefs.bell);
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
        _ => error(&format!(
            "invalid command:  /{command_line}\n  if you meant to send that as a message,\n  escape the leading \"/\" by adding another \"/\""
        )),
    }
    Flow::Continue
}

fn say(world: &World, user: u64, text: &str) {
    if let Err(problem) = world.say(user, text) {
        world.tell(user, AUTHOR_ERROR, &problem);
    }
}

fn change_nick(world: &World, user: u64, arg: &str) {
    if arg.is_empty() {
        world.tell(
            user,
            AUTHOR_ERROR,
            "[invalid argument]\n  usage: /nick new_nickname\n  example: /nick spartacus",
        );
        return;
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
            return;
        }
        NickCheck::TooLong => {
            world.tell(
                user,
                AUTHOR_ERROR,
                "[invalid argument]\n  too long (at most 32 characters)",
            );
            return;
        }
    };
    if let Err(problem) = world.change_nick(user, &nick) {
        world.tell(
            user,
            AUTHOR_ERROR,
            &format!("[invalid argument]\n  {problem}"),
        );
    }
}

/// Runs `action` for administrators; others are refused.
fn admin(world: &World, user: u64, action: impl FnOnce()) {
    if world.is_admin(user) {
        action();
    } else {
        tracing::warn!(
            nick = world.nick(user).unwrap_or_default(),
            "denied admin command"
        );
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
