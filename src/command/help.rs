//! The `/help` pages, the quick start among them, made from the command table so they list
//! exactly what runs.
//!
//! Written in the project's own words; formatting uses the canonical tokens of [`crate::text`]
//! (CTRL-K colour, CTRL-B bold, CTRL-O reset), so every renderer shows them its own way.

use crate::command::table::{COMMANDS, HOTKEYS, Section};

/// Cyan, the colour r0c uses for commands in its help.
const CMD: &str = "\x0b6";
/// Back to plain text.
const OFF: &str = "\x0f";

/// The help pages by name (`""` is the list of topics), so `/help` can refuse an unknown
/// page while parsing, without building any page.
pub const PAGES: [&str; 7] = ["", "topics", "intro", "about", "ui", "commands", "hotkeys"];

/// The quick-start text (`/help intro`).
pub fn intro() -> String {
    format!(
        "\
Welcome! You are in the status window (window 0).

Talking:
  {CMD}/join #g{OFF}        join (or create) the channel \"g\"
  {CMD}/part{OFF}           leave the channel you are in
  {CMD}/nick new_name{OFF}  pick another nickname
  {CMD}/msg nick hi{OFF}    send a private message
  {CMD}/help{OFF}           more help

Windows:
  {CMD}CTRL-A{OFF} / {CMD}CTRL-X{OFF}   previous / next window
  {CMD}/0{OFF}              back to this window, {CMD}/3{OFF} to window 3

Text formatting:
  {CMD}CTRL-K{OFF} colour: 0-9 or a-f, then ,0-7 for a background
  {CMD}CTRL-B{OFF} bold,  {CMD}CTRL-O{OFF} back to normal;  {CMD}/cmap{OFF} shows the colours

Tips: {CMD}/mn{OFF} saves space on small screens, {CMD}/cy{OFF} colours nicknames,
      {CMD}/b0{OFF} silences the bell."
    )
}

/// A `/help` page by name, or `None` if there is no such page.
pub fn help_page(name: &str) -> Option<String> {
    let body = match name {
        "" | "topics" => topics(),
        "intro" => intro(),
        "about" => about(),
        "ui" => ui(),
        "commands" => commands(),
        "hotkeys" => hotkeys(),
        _ => return None,
    };
    Some(format!("\x0b0,6{}{OFF}\n{body}", "=".repeat(32)))
}

fn topics() -> String {
    format!(
        "\
Help topics:
  {CMD}/help intro{OFF}      quick start
  {CMD}/help about{OFF}      what this server is
  {CMD}/help ui{OFF}         the screen and what it shows
  {CMD}/help commands{OFF}   every command
  {CMD}/help hotkeys{OFF}    every hotkey"
    )
}

fn about() -> String {
    "\
\x0bb=== about ===\x0f
r0c (retr0chat) is a chat server for the plainest clients there are:
telnet, netcat, bash's /dev/tcp, PuTTY, TLS clients. It draws an irssi-like
screen with VT100 codes, stays usable at 1200 bps, and falls back to a
plain teletype mode for terminals without escape codes.
This is the Rust implementation, compatible with r0c 1.6.1."
        .to_string()
}

fn ui() -> String {
    "\
\x0bb=== the screen ===\x0f
top row:     the channel topic
middle:      the chat; timestamps are UTC
status bar:  clock (UTC), window number, channel and member count,
             h: windows that mention you, a: windows with new messages,
             then the most recently active nicks
bottom row:  your nick and what you are typing
In teletype mode the status bar and your input share the last line."
        .to_string()
}

/// The width of the left column of the command and hotkey tables.
const HELP_COLUMN: usize = 18;

/// `name` in the command colour, padded to [`HELP_COLUMN`] by its visible width.
fn help_entry(visible: &str) -> String {
    let padding = HELP_COLUMN.saturating_sub(visible.chars().count()).max(1);
    format!("  {CMD}{visible}{OFF}{}", " ".repeat(padding))
}

/// `/help commands`, made from [`COMMANDS`] so it lists exactly what runs.
fn commands() -> String {
    let mut page = Vec::new();
    for section in Section::ALL {
        page.push(format!("\x0bb=== {} ===\x0f", section.title()));
        for command in COMMANDS.iter().filter(|c| c.section == section) {
            let mut left: Vec<String> = command.names.iter().map(|n| format!("/{n}")).collect();
            if !command.args.is_empty() {
                left.push(command.args.to_string());
            }
            page.push(format!(
                "{}{}",
                help_entry(&left.join(" ")),
                command.summary
            ));
        }
        // The two forms that are not words of the table.
        match section {
            Section::Talking => page.push(format!(
                "{}send a line that starts with /",
                help_entry("//text")
            )),
            Section::Moving => {
                page.push(format!("{}go to window 0, 1, ...", help_entry("/0 /1 ...")));
            }
            _ => {}
        }
    }
    page.join("\n")
}

/// `/help hotkeys`, made from [`HOTKEYS`].
fn hotkeys() -> String {
    HOTKEYS
        .iter()
        .map(|key| format!("{}{}", help_entry(&key.keys.join(" ")), key.summary))
        .collect::<Vec<_>>()
        .join("\n")
}
