//! The moderation commands: their pure parse (words to a [`ModCommand`]) and their apply,
//! which calls the world's moderation methods (`world/moderation.rs`) and tells the user.

use crate::command::{Command, Effect, Usage};
use crate::text::nick::{NickCheck, check_nick};
use crate::world::sanction::{Kind, ModeChange, is_duration, parse_mode_changes};
use crate::world::{AUTHOR_ERROR, AUTHOR_INFO, MAX_MODLOG_LINES, UserId, World};

/// The longest reason kept with a kick, ban or mute, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// One moderation command with its arguments checked.
#[derive(Debug, Clone, PartialEq)]
pub enum ModCommand {
    /// `/op` (`on`) and `/deop`.
    Op {
        nick: String,
        on: bool,
    },
    /// `/voice` (`on`) and `/devoice`.
    Voice {
        nick: String,
        on: bool,
    },
    Kick {
        nick: String,
        reason: String,
    },
    /// `/ban` and `/mute`.
    Sanction {
        kind: Kind,
        target: String,
        duration: Option<String>,
        reason: String,
    },
    /// `/unban` and `/unmute`.
    Lift {
        kind: Kind,
        target: String,
    },
    Bans,
    /// `/mode` (no changes: show them).
    Mode(Vec<ModeChange>),
    Invite(String),
    /// `/ignore` (`on`) and `/unignore`.
    Ignore {
        nick: String,
        on: bool,
    },
    Ignores,
    /// `/lockdown` and its words.
    Lockdown(Vec<String>),
    Modlog(usize),
    /// `/join #chan KEY`.
    JoinWithKey {
        name: String,
        key: String,
    },
}

impl ModCommand {
    /// Whether the command changes what others see or the store (so it draws on the
    /// session's command budget, as `/nick` and `/join` do); listings are reads with a
    /// bounded answer and cost nothing.
    pub(crate) fn is_shared(&self) -> bool {
        match self {
            ModCommand::Op { .. }
            | ModCommand::Voice { .. }
            | ModCommand::Kick { .. }
            | ModCommand::Sanction { .. }
            | ModCommand::Lift { .. }
            | ModCommand::Invite(_)
            | ModCommand::Ignore { .. } => true,
            ModCommand::Mode(changes) => !changes.is_empty(),
            ModCommand::Lockdown(words) => !words.is_empty(),
            // A join with a key is charged as the join it becomes.
            ModCommand::JoinWithKey { .. } => true,
            ModCommand::Bans | ModCommand::Ignores | ModCommand::Modlog(_) => false,
        }
    }
}

fn usage(text: &str) -> Usage {
    Usage {
        text: text.to_owned(),
        admin_command: None,
    }
}

/// A nick argument, or the usage line.
fn nick_arg(arg: &str, example: &str) -> Result<String, Usage> {
    let word = arg.split_whitespace().next().unwrap_or_default();
    // A bridged IRC user's nick starts with the bridge's prefix, which no local nick has.
    if let Some(rest) = word.strip_prefix(crate::world::IRC_NICK_PREFIX)
        && matches!(check_nick(rest), NickCheck::Valid(_))
    {
        return Ok(word.to_owned());
    }
    match check_nick(word) {
        NickCheck::Valid(nick) => Ok(nick),
        _ => Err(usage(&format!("[invalid argument]\n  usage: {example}"))),
    }
}

fn reason(words: &[&str]) -> Result<String, Usage> {
    let reason = words.join(" ");
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(usage(&format!(
            "[invalid argument]\n  a reason is at most {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(crate::text::sanitize_message(&reason))
}

/// Parses the arguments of moderation command `name` (the table's first word).
pub(crate) fn parse(name: &str, word: &str, arg: &str) -> Result<Command, Usage> {
    let words: Vec<&str> = arg.split_whitespace().collect();
    let command = match name {
        // `/deop` and `/devoice` share the table's entry of `/op` and `/voice`.
        "op" => ModCommand::Op {
            nick: nick_arg(arg, &format!("/{word} NICK"))?,
            on: word == "op",
        },
        "voice" => ModCommand::Voice {
            nick: nick_arg(arg, &format!("/{word} NICK"))?,
            on: word == "voice",
        },
        "kick" => ModCommand::Kick {
            nick: nick_arg(arg, "/kick NICK [reason]")?,
            reason: reason(words.get(1..).unwrap_or_default())?,
        },
        "ban" | "mute" => {
            let kind = if name == "ban" { Kind::Ban } else { Kind::Mute };
            let Some(target) = words.first() else {
                return Err(usage(&format!(
                    "[invalid argument]\n  usage: /{name} NICK|MASK [10m|2h|7d|permanent] [reason]\n  masks: nick, account:NAME, SHA256:KEY, 10.0.0.0/8, 2001:db8::/32"
                )));
            };
            let rest = words.get(1..).unwrap_or_default();
            let (duration, rest) = match rest.split_first() {
                Some((first, rest)) if is_duration(first) => (Some((*first).to_owned()), rest),
                Some((first, _)) if first.starts_with(|c: char| c.is_ascii_digit()) => {
                    return Err(usage(&format!(
                        "[invalid argument]\n  '{first}' is not a duration: write 30s, 10m, 2h, 7d, 4w or permanent"
                    )));
                }
                _ => (None, rest),
            };
            ModCommand::Sanction {
                kind,
                target: (*target).to_owned(),
                duration,
                reason: reason(rest)?,
            }
        }
        "unban" | "unmute" => match words.as_slice() {
            [target] => ModCommand::Lift {
                kind: if name == "unban" {
                    Kind::Ban
                } else {
                    Kind::Mute
                },
                target: (*target).to_owned(),
            },
            _ => {
                return Err(usage(&format!(
                    "[invalid argument]\n  usage: /{name} NICK|MASK"
                )));
            }
        },
        "bans" => ModCommand::Bans,
        "mode" if arg.is_empty() => ModCommand::Mode(Vec::new()),
        "mode" => ModCommand::Mode(
            parse_mode_changes(arg).map_err(|e| usage(&format!("[invalid argument]\n  {e}")))?,
        ),
        "invite" => ModCommand::Invite(nick_arg(arg, "/invite NICK")?),
        "ignore" | "unignore" => ModCommand::Ignore {
            nick: nick_arg(arg, &format!("/{word} NICK"))?,
            on: name == "ignore",
        },
        "ignores" => ModCommand::Ignores,
        "lockdown" => ModCommand::Lockdown(words.iter().map(|w| (*w).to_owned()).collect()),
        "modlog" => ModCommand::Modlog(match words.as_slice() {
            [] => 20,
            [n] => match n.parse::<usize>() {
                Ok(n) if (1..=MAX_MODLOG_LINES).contains(&n) => n,
                _ => {
                    return Err(usage(&format!(
                        "[invalid argument]\n  usage: /modlog [N]  (1 to {MAX_MODLOG_LINES})"
                    )));
                }
            },
            _ => return Err(usage("[invalid argument]\n  usage: /modlog [N]")),
        }),
        _ => return Err(usage(&format!("invalid command: /{word}"))),
    };
    Ok(Command::Moderation(command))
}

/// Carries out a moderation command for `user`. A command that others see returns what it
/// cost them ([`Effect::Charge`]): 1, and a ban or mute 1 more per user online it hit.
pub(crate) fn apply(command: ModCommand, world: &World, user: UserId) -> Vec<Effect> {
    let shared = command.is_shared();
    let mut cost = 1;
    let answer = match command {
        ModCommand::Op { nick, on } => world.set_role(user, &nick, true, on),
        ModCommand::Voice { nick, on } => world.set_role(user, &nick, false, on),
        ModCommand::Kick { nick, reason } => world.kick(user, &nick, &reason),
        ModCommand::Sanction {
            kind,
            target,
            duration,
            reason,
        } => world
            .sanction(user, kind, &target, duration.as_deref(), &reason)
            .map(|hit| {
                cost = hit.saturating_add(1);
                String::new()
            }),
        ModCommand::Lift { kind, target } => world.lift(user, kind, &target),
        ModCommand::Bans => world.bans(user),
        ModCommand::Mode(changes) => world.mode(user, &changes),
        ModCommand::Invite(nick) => world.invite(user, &nick),
        ModCommand::Ignore { nick, on } => world.ignore(user, &nick, on),
        ModCommand::Ignores => Ok(world.ignores(user)),
        ModCommand::Lockdown(words) => {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            world.set_lockdown(user, &words)
        }
        ModCommand::Modlog(count) => world.modlog(user, count),
        ModCommand::JoinWithKey { name, key } => {
            // Without a key set, a second word is what r0c said it was: a space in the name.
            if !world.channel_has_key(&name) {
                let problem = crate::text::channel::ChannelNameError::BadCharacter;
                world.tell(
                    user,
                    AUTHOR_ERROR,
                    &format!("[invalid argument]\n  {problem}\n  example: /join #g"),
                );
                return Vec::new();
            }
            world.offer_key(user, &name, &key);
            return crate::command::apply(Command::Join(name), world, user);
        }
    };
    let ran = answer.is_ok();
    match answer {
        // Empty: the world confirms once the store has committed the change.
        Ok(text) if text.is_empty() => {}
        Ok(text) => world.tell(user, AUTHOR_INFO, &text),
        Err(text) => world.tell(user, AUTHOR_ERROR, &format!("[error]\n  {text}")),
    }
    if shared && ran {
        vec![Effect::Charge(cost)]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> Result<ModCommand, String> {
        match Command::parse(line) {
            Ok(Command::Moderation(command)) => Ok(command),
            Ok(other) => Err(format!("{other:?}")),
            Err(usage) => Err(usage.text),
        }
    }

    #[test]
    fn ban_reads_a_duration_only_where_one_is() {
        assert_eq!(
            parsed("/ban bob 2h spamming links"),
            Ok(ModCommand::Sanction {
                kind: Kind::Ban,
                target: "bob".into(),
                duration: Some("2h".into()),
                reason: "spamming links".into()
            })
        );
        assert_eq!(
            parsed("/mute 10.0.0.0/8 spam"),
            Ok(ModCommand::Sanction {
                kind: Kind::Mute,
                target: "10.0.0.0/8".into(),
                duration: None,
                reason: "spam".into()
            })
        );
        assert!(parsed("/ban bob 10x").is_err_and(|e| e.contains("not a duration")));
        assert!(parsed("/ban").is_err_and(|e| e.contains("usage")));
        assert!(parsed(&format!("/kick bob {}", "x".repeat(300))).is_err());
    }

    #[test]
    fn other_commands_check_their_arguments() {
        assert_eq!(
            parsed("/deop Bob"),
            Ok(ModCommand::Op {
                nick: "Bob".into(),
                on: false
            })
        );
        assert_eq!(
            parsed("/kick ~ircguy"),
            Ok(ModCommand::Kick {
                nick: "~ircguy".into(),
                reason: String::new()
            })
        );
        assert!(parsed("/op").is_err());
        assert_eq!(parsed("/mode"), Ok(ModCommand::Mode(Vec::new())));
        assert!(parsed("/mode +q").is_err());
        assert_eq!(parsed("/modlog"), Ok(ModCommand::Modlog(20)));
        assert!(parsed("/modlog 0").is_err());
        assert!(parsed("/modlog 99999").is_err());
        assert!(parsed("/unban").is_err());
        assert_eq!(
            parsed("/join #secret hunter2"),
            Ok(ModCommand::JoinWithKey {
                name: "secret".into(),
                key: "hunter2".into()
            })
        );
    }
}
