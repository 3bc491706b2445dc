//! The table of every slash command and hotkey: what `/help commands` and `/help hotkeys`
//! show, and the words `Command::parse` accepts, so help and behaviour cannot drift apart.

/// Which part of `/help commands` a command is listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Talking,
    Moving,
    Information,
    Settings,
    Moderation,
    Account,
    Admin,
}

impl Section {
    /// Every section, in the order the help page lists them.
    pub const ALL: [Section; 7] = [
        Section::Talking,
        Section::Moving,
        Section::Information,
        Section::Settings,
        Section::Moderation,
        Section::Account,
        Section::Admin,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Section::Talking => "talking",
            Section::Moving => "windows and scrolling",
            Section::Information => "information",
            Section::Settings => "settings",
            Section::Moderation => "moderation (operators; /ignore for everyone)",
            Section::Account => "accounts (your nick, yours alone)",
            Section::Admin => "admin (after /auth; localhost is admin unless --ara)",
        }
    }
}

/// One command: the words that run it (the first is its name), what follows it, and what it
/// does, in a few words.
#[derive(Debug, Clone, Copy)]
pub struct CommandInfo {
    pub names: &'static [&'static str],
    pub args: &'static str,
    pub summary: &'static str,
    pub section: Section,
}

const fn command(
    section: Section,
    names: &'static [&'static str],
    args: &'static str,
    summary: &'static str,
) -> CommandInfo {
    CommandInfo {
        names,
        args,
        summary,
        section,
    }
}

use Section::{Account, Admin, Information, Moderation, Moving, Settings, Talking};

/// Every slash command. `/0`, `/1`... (go to a window) and `//text` (a line that starts with
/// a slash) are not words of their own; `Command::parse` reads them before this table.
pub const COMMANDS: &[CommandInfo] = &[
    command(Talking, &["nick", "n"], "NAME", "change your nickname"),
    command(
        Talking,
        &["join", "j"],
        "#NAME",
        "join or create a channel, or go to it",
    ),
    command(Talking, &["part", "p"], "", "leave the current channel"),
    command(Talking, &["topic", "t"], "TEXT", "change the channel topic"),
    command(Talking, &["me"], "TEXT", "describe what you do"),
    command(
        Talking,
        &["msg", "m"],
        "NICK TEXT",
        "private message, in a window of its own",
    ),
    command(Talking, &["quit", "q", "exit"], "", "disconnect"),
    command(
        Talking,
        &["away"],
        "[WHY]",
        "say you are away (/names, /whois, DMs)",
    ),
    command(Talking, &["back"], "", "no longer away"),
    command(
        Moving,
        &["u", "up"],
        "",
        "scroll one page up (PgUp, CTRL-U)",
    ),
    command(
        Moving,
        &["d", "down"],
        "",
        "scroll one page down (PgDn, CTRL-D)",
    ),
    command(Moving, &["l", "latest"], "", "back to the newest messages"),
    command(
        Moving,
        &["g", "goto"],
        "WHEN",
        "jump to 19:47, 2018-01-21, message 3172, 34%",
    ),
    command(Moving, &["a"], "", "go where you are needed most (CTRL-E)"),
    command(
        Moving,
        &["v", "view"],
        "",
        "hide or show nicks and times (CTRL-N)",
    ),
    command(
        Moving,
        &["cls", "clear"],
        "",
        "clear the window's screen (history stays)",
    ),
    command(
        Information,
        &["help"],
        "PAGE",
        "help: intro, about, ui, commands, hotkeys",
    ),
    command(Information, &["names", "na"], "", "who is in this channel"),
    command(
        Information,
        &["whois"],
        "NICK",
        "online? registered? claimed by an ssh key?",
    ),
    command(
        Information,
        &["status", "st"],
        "",
        "users and channels on the server",
    ),
    command(Information, &["cfg"], "", "your terminal and settings"),
    command(
        Information,
        &["search"],
        "WORDS",
        "history: in:#c from:nick before:/after:DATE",
    ),
    command(Information, &["cmap"], "", "the colour codes"),
    command(
        Settings,
        &["b0", "b1", "b2", "b3"],
        "",
        "bell off, mentions elsewhere, mentions, all",
    ),
    command(Settings, &["b?"], "", "which bell setting is on"),
    command(
        Settings,
        &["ey", "en"],
        "",
        "mentions by @all / @everyone on or off",
    ),
    command(
        Settings,
        &["hsy", "hsn"],
        "",
        "copy mentions into the status window or not",
    ),
    command(Settings, &["cy", "cn"], "", "coloured nicknames on or off"),
    command(
        Settings,
        &["my", "mn"],
        "",
        "wrapped lines indented under the text or not",
    ),
    command(
        Settings,
        &["hide", "show"],
        "joins",
        "fold join/part lines, one a minute, or not",
    ),
    command(
        Settings,
        &["tz"],
        "[ZONE]",
        "times in a zone: Europe/Berlin, UTC",
    ),
    command(Settings, &["sw"], "N", "set the screen width by hand"),
    command(Settings, &["sh"], "N", "set the screen height by hand"),
    command(
        Settings,
        &["ss"],
        "N|N%",
        "scroll by N lines or N% (0: a whole page)",
    ),
    command(
        Settings,
        &["sy"],
        "[N]",
        "slowmo on, for telnet.exe on Windows",
    ),
    command(Settings, &["sn"], "", "slowmo off"),
    command(Settings, &["r", "redraw"], "", "redraw the screen (CTRL-L)"),
    command(
        Moderation,
        &["ignore"],
        "NICK",
        "hide someone's lines, across /nick",
    ),
    command(Moderation, &["unignore"], "NICK", "show their lines again"),
    command(Moderation, &["ignores"], "", "whom you ignore"),
    command(Moderation, &["kick"], "NICK [WHY]", "out of this channel"),
    command(
        Moderation,
        &["ban"],
        "MASK [10m] [WHY]",
        "nick, account:X, SHA256:.., address/CIDR",
    ),
    command(Moderation, &["unban"], "MASK", "lift a ban"),
    command(
        Moderation,
        &["mute"],
        "MASK [10m] [WHY]",
        "may read, not speak or change nick",
    ),
    command(Moderation, &["unmute"], "MASK", "lift a mute"),
    command(Moderation, &["bans"], "", "bans and mutes in force"),
    command(
        Moderation,
        &["op", "deop"],
        "NICK",
        "appoint a channel operator (founder)",
    ),
    command(
        Moderation,
        &["voice", "devoice"],
        "NICK",
        "may speak in a moderated channel",
    ),
    command(
        Moderation,
        &["mode"],
        "[+imrst|+kl ARG]",
        "invite moderated registered secret topic",
    ),
    command(
        Moderation,
        &["invite"],
        "NICK",
        "let someone into a +i channel",
    ),
    command(
        Moderation,
        &["lockdown"],
        "[MODE]",
        "off, registered, invite; allow|deny WHO",
    ),
    command(
        Moderation,
        &["modlog"],
        "[N]",
        "the newest moderation actions",
    ),
    command(
        Account,
        &["register"],
        "PASS",
        "make your nick an account (8+ chars)",
    ),
    command(
        Account,
        &["login", "identify"],
        "NICK PASS",
        "log in (NICK: your nick if left out)",
    ),
    command(Account, &["logout"], "", "log out of your account"),
    command(Account, &["passwd"], "OLD NEW", "change your password"),
    command(
        Account,
        &["key"],
        "add|list|del",
        "ssh keys that log you in; del FP",
    ),
    command(Admin, &["auth"], "PASSWORD", "become an administrator"),
    command(Admin, &["fill"], "N TEXT", "post N numbered lines"),
    command(Admin, &["bc"], "TEXT", "broadcast to every window"),
    command(Admin, &["sd"], "", "shut the server down"),
];

/// One hotkey (or a few that belong together) and what it does.
#[derive(Debug, Clone, Copy)]
pub struct KeyInfo {
    pub keys: &'static [&'static str],
    pub summary: &'static str,
}

/// Every hotkey the session acts on.
pub const HOTKEYS: &[KeyInfo] = &[
    KeyInfo {
        keys: &["Up", "Down"],
        summary: "what you sent before",
    },
    KeyInfo {
        keys: &["Left", "Right"],
        summary: "move in the input line",
    },
    KeyInfo {
        keys: &["Home", "End"],
        summary: "start or end of the input line",
    },
    KeyInfo {
        keys: &["PgUp", "PgDn"],
        summary: "scroll a page",
    },
    KeyInfo {
        keys: &["CTRL-U", "CTRL-D"],
        summary: "the same, where PgUp and PgDn are missing",
    },
    KeyInfo {
        keys: &["CTRL-A", "CTRL-X"],
        summary: "previous / next window",
    },
    KeyInfo {
        keys: &["CTRL-E"],
        summary: "go where you are needed most",
    },
    KeyInfo {
        keys: &["CTRL-N"],
        summary: "hide or show nicks and times",
    },
    KeyInfo {
        keys: &["Tab"],
        summary: "complete a nick; again for the next one",
    },
    KeyInfo {
        keys: &["CTRL-L", "CTRL-R"],
        summary: "redraw",
    },
    KeyInfo {
        keys: &["CTRL-K", "CTRL-B", "CTRL-O"],
        summary: "colour (CTRL-K 9 red), bold, plain text",
    },
];

/// The command a typed word (already in lower case) runs, if any.
pub fn find(word: &str) -> Option<&'static CommandInfo> {
    COMMANDS.iter().find(|c| c.names.contains(&word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_names_one_command() {
        let mut seen = std::collections::HashSet::new();
        for command in COMMANDS {
            for name in command.names {
                assert!(seen.insert(*name), "/{name} is listed twice");
                assert_eq!(
                    *name,
                    name.to_lowercase(),
                    "words are matched in lower case"
                );
                assert!(find(name).is_some());
            }
        }
        assert!(find("nosuchcommand").is_none());
        for section in Section::ALL {
            assert!(COMMANDS.iter().any(|c| c.section == section), "{section:?}");
        }
    }

    #[test]
    fn every_help_line_fits_the_text_column_at_80_columns() {
        // At 80 columns the chat text starts in column 16: 64 are left, and a line that
        // wraps loses the alignment of its columns.
        for command in COMMANDS {
            let left: usize =
                command.names.iter().map(|n| n.len() + 2).sum::<usize>() + command.args.len();
            let width = 2 + left.max(18) + command.summary.chars().count();
            assert!(width <= 64, "/{}: {width} columns", command.names[0]);
        }
        for key in HOTKEYS {
            let left: usize = key.keys.iter().map(|k| k.len() + 1).sum();
            let width = 2 + left.max(18) + key.summary.chars().count();
            assert!(width <= 64, "{}: {width} columns", key.keys[0]);
        }
    }
}
