//! The texts users read: the welcome message of the status window and the `/help` pages.
//!
//! Written in the project's own words; formatting uses the canonical tokens of [`crate::text`]
//! (CTRL-K colour, CTRL-B bold, CTRL-O reset), so every renderer shows them its own way.

/// Cyan, the colour r0c uses for commands in its help.
const CMD: &str = "\x0b6";
/// Back to plain text.
const OFF: &str = "\x0f";

/// The logo drawn with box and block characters, for charsets that have them: the letters
/// above the box, 21 columns, so it stays whole in the status window of a 40-column terminal.
/// Written with `concat!` because a string continued with `\` loses the indentation of its
/// next line.
const LOGO_BOXES: &str = concat!(
    "  ░▒▓█▀▀▄ ▄▀▀▀▄ ▄▀▀▀▀\n",
    "  ░▒▓█▄▄▀ █ ▄ █ █\n",
    "  ░▒▓█  █ ▀▄▄▄▀ ▀▄▄▄▄\n",
    "  ┌──[ retr0chat ]──┐\n",
    "  │ telnet · netcat │\n",
    "  ╘═════════════════╛",
);

/// The same logo in plain ASCII.
const LOGO_ASCII: &str = concat!(
    "   _ __  / _ \\  ___\n",
    "  | '__|| |/| |/ __|\n",
    "  |_|    \\__/  \\___|\n",
    "  .-[ retr0chat ]-.\n",
    "  | telnet netcat |\n",
    "  '==============='",
);

/// The welcome message: logo, version, quick start, then the MOTD if there is one.
pub fn welcome(box_drawing: bool, motd: Option<&str>) -> String {
    let logo = if box_drawing { LOGO_BOXES } else { LOGO_ASCII };
    let mut text = format!(
        "\n{logo}\n  r0c {}  (rust)\n\n{}",
        env!("CARGO_PKG_VERSION"),
        intro()
    );
    if let Some(motd) = motd {
        text.push_str("\n\n");
        text.push_str(motd.trim_end());
    }
    text
}

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

fn commands() -> String {
    format!(
        "\
\x0bb=== talking ===\x0f
  {CMD}/nick{OFF} or {CMD}/n{OFF} NAME        change your nickname
  {CMD}/join{OFF} or {CMD}/j{OFF} #NAME       join or create a channel
  {CMD}/part{OFF} or {CMD}/p{OFF}             leave the current channel
  {CMD}/topic{OFF} or {CMD}/t{OFF} TEXT       change the channel topic
  {CMD}/me{OFF} TEXT                 describe what you do
  {CMD}/msg{OFF} or {CMD}/m{OFF} NICK TEXT    private message
  {CMD}/quit{OFF} or {CMD}/q{OFF}             disconnect
  {CMD}//text{OFF}                   send a line that starts with /
\x0bb=== information ===\x0f
  {CMD}/help{OFF}  {CMD}/names{OFF} ({CMD}/na{OFF})  {CMD}/status{OFF} ({CMD}/st{OFF})  {CMD}/cfg{OFF}
\x0bb=== settings ===\x0f
  {CMD}/b0{OFF}..{CMD}/b3{OFF}  bell: off, mentions elsewhere, all mentions, everything; {CMD}/b?{OFF} shows it
  {CMD}/ey{OFF} {CMD}/en{OFF}   mentions by @all / @everyone on or off
  {CMD}/hsy{OFF} {CMD}/hsn{OFF} copy mentions into the status window on or off
  {CMD}/cy{OFF} {CMD}/cn{OFF}   coloured nicknames on or off
  {CMD}/my{OFF} {CMD}/mn{OFF}   wrapped lines indented under the text, or not
  {CMD}/sw{OFF} N {CMD}/sh{OFF} N  set the screen width / height by hand
  {CMD}/r{OFF}          redraw the screen ({CMD}CTRL-L{OFF})
\x0bb=== windows ===\x0f
  {CMD}/0{OFF} {CMD}/1{OFF} ...  go to a window;  {CMD}/cls{OFF} clears a private window
\x0bb=== admin ===\x0f
  {CMD}/auth{OFF} PASSWORD   become an administrator
  {CMD}/fill{OFF} N TEXT     post N numbered lines
  {CMD}/bc{OFF} TEXT         broadcast to every window
  {CMD}/cls{OFF}             clear a public channel's screen (history stays stored)
  {CMD}/sd{OFF}              shut the server down"
    )
}

fn hotkeys() -> String {
    format!(
        "\
  {CMD}Up{OFF} / {CMD}Down{OFF}        what you sent before
  {CMD}Left{OFF} / {CMD}Right{OFF}     move in the input line; {CMD}Home{OFF} / {CMD}End{OFF} jump
  {CMD}PgUp{OFF} / {CMD}PgDn{OFF}      scroll ({CMD}CTRL-U{OFF} / {CMD}CTRL-D{OFF} where those keys are missing)
  {CMD}CTRL-A{OFF} / {CMD}CTRL-X{OFF}  previous / next window
  {CMD}CTRL-L{OFF}           redraw
  {CMD}CTRL-K{OFF} {CMD}CTRL-B{OFF} {CMD}CTRL-O{OFF}  colour, bold, normal text"
    )
}
