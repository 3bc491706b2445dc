//! What the wizard learned about a client's terminal: the settings the chat starts with, which
//! the wizard finds and `saved.rs` keeps, so both depend on this leaf and not on each other.

use crate::term::charset::Charset;

/// What the wizard found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// The client understands VT100 escape codes.
    pub vt100: bool,
    /// The client sends whole lines (line-buffered) rather than each key.
    pub linemode: bool,
    /// The client shows what the user types by itself.
    pub echo: bool,
    /// The bytes the client sends for Enter.
    pub enter: String,
    /// The client's character set.
    pub charset: Charset,
    /// Pace output for Windows telnet.exe (r0c's slowmo).
    pub slowmo: bool,
    /// A channel to join right away (the `wtn`/`ltn` shortcuts of r0c's stress testers).
    pub join: Option<String>,
    /// The nick to take back, when a returning client confirmed its saved settings.
    pub nick: Option<String>,
    /// The toggles to restore, when a returning client confirmed its saved settings.
    pub prefs: Option<crate::world::Prefs>,
    /// A nick not to take: the saved one, when a returning client asked for a fresh start.
    pub avoid_nick: Option<String>,
}

impl Default for ClientSettings {
    fn default() -> ClientSettings {
        ClientSettings {
            vt100: true,
            linemode: false,
            echo: false,
            enter: "\r\n".into(),
            charset: Charset::Utf8,
            slowmo: false,
            join: None,
            nick: None,
            prefs: None,
            avoid_nick: None,
        }
    }
}
