//! HELP and HELPOP for IRC clients: r0c's own help pages and commands, and a line for each
//! IRC command the listener answers, sent as RPL_HELPSTART/RPL_HELPTXT/RPL_ENDOFHELP.

use crate::command::help::{PAGES, help_page};
use crate::command::table::COMMANDS;

/// The IRC commands the listener answers, with what each does here, in a few words.
const IRC_COMMANDS: &[(&str, &str)] = &[
    (
        "AWAY",
        "AWAY [:reason]: mark yourself away, or back without a reason",
    ),
    (
        "CHATHISTORY",
        "CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN|TARGETS: read the stored history",
    ),
    (
        "HELP",
        "HELP [subject]: this help; HELP commands lists r0c's own commands",
    ),
    (
        "INVITE",
        "INVITE nick #channel: invite someone to a channel you are in",
    ),
    (
        "JOIN",
        "JOIN #a,#b [keys]: join channels, the same ones every r0c user sees",
    ),
    (
        "KICK",
        "KICK #channel nick [:reason]: remove someone from a channel (operators)",
    ),
    (
        "LIST",
        "LIST: the public channels with their member counts and topics",
    ),
    ("LUSERS", "LUSERS: how many users and channels there are"),
    (
        "MARKREAD",
        "MARKREAD target [timestamp=...]: read or move your read marker",
    ),
    (
        "MODE",
        "MODE #channel [+-modes [args]]: channel modes, as r0c's /mode",
    ),
    ("MOTD", "MOTD: the message of the day"),
    ("NAMES", "NAMES #channel: who is in a channel"),
    ("NICK", "NICK name: change your nickname"),
    (
        "NOTICE",
        "NOTICE target :text: like PRIVMSG, without automatic answers",
    ),
    ("PART", "PART #channel [:reason]: leave a channel"),
    (
        "PRIVMSG",
        "PRIVMSG #channel|nick :text: say something in a channel or to someone",
    ),
    ("QUIT", "QUIT [:reason]: disconnect"),
    (
        "TOPIC",
        "TOPIC #channel [:topic]: read or change a channel's topic",
    ),
    ("WHO", "WHO #channel|mask: who is there"),
    ("WHOIS", "WHOIS nick: about someone online"),
    (
        "WHOWAS",
        "WHOWAS nick [count]: about someone who left recently",
    ),
];

/// The help for `subject` (empty for the index): the subject as the replies name it and the
/// lines of text, or `None` if there is no help on it.
pub fn help_for(subject: &str) -> Option<(String, Vec<String>)> {
    let lower = subject.to_ascii_lowercase();
    if subject.is_empty() || PAGES.contains(&lower.as_str()) {
        let page = help_page(&lower)?;
        let mut lines: Vec<String> = page.lines().skip(1).map(str::to_string).collect();
        if lower.is_empty() || lower == "topics" {
            lines.push("IRC commands: HELP PRIVMSG, HELP JOIN... (HELP irc lists them)".into());
        }
        let name = if subject.is_empty() { "index" } else { subject };
        return Some((name.to_string(), lines));
    }
    if lower == "irc" {
        let lines = IRC_COMMANDS
            .iter()
            .map(|(_, text)| (*text).to_string())
            .collect();
        return Some((subject.to_string(), lines));
    }
    let upper = subject.to_ascii_uppercase();
    if let Some((_, text)) = IRC_COMMANDS.iter().find(|(name, _)| *name == upper) {
        return Some((subject.to_string(), vec![(*text).to_string()]));
    }
    let word = lower.trim_start_matches('/');
    let command = COMMANDS.iter().find(|c| c.names.contains(&word))?;
    let names: Vec<String> = command.names.iter().map(|n| format!("/{n}")).collect();
    let usage = format!("{} {}", names.join(" "), command.args);
    Some((
        subject.to_string(),
        vec![format!("{}: {}", usage.trim_end(), command.summary)],
    ))
}

#[cfg(test)]
mod tests {
    use super::help_for;

    #[test]
    fn help_knows_pages_irc_commands_and_r0c_commands_and_nothing_else() {
        assert_eq!(help_for("").map(|(s, _)| s), Some("index".to_string()));
        assert!(help_for("commands").is_some_and(|(_, l)| l.len() > 10));
        assert!(help_for("privmsg").is_some_and(|(s, _)| s == "privmsg"));
        assert!(help_for("join").is_some());
        assert!(help_for("ignore").is_some());
        assert!(help_for("THISISNOTACOMMAND").is_none());
    }
}
