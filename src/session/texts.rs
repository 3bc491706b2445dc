//! The welcome message of the status window (the `/help` pages are in [`crate::command::help`]).
//!
//! Written in the project's own words; formatting uses the canonical tokens of [`crate::text`]
//! (CTRL-K colour, CTRL-B bold, CTRL-O reset), so every renderer shows them its own way.

use crate::command::help::intro;

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
