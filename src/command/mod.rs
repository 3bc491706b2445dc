//! Commands as values: a typed line becomes a [`Command`] (or a [`Usage`] error) by a pure
//! parse, and [`apply`] carries it out against the [`World`](crate::world::World) for one user,
//! returning the [`Effect`]s the client's session carries out itself (scrolling, redrawing,
//! its size and slowmo, saying something through flood control, leaving).
//!
//! This module knows nothing of the client: the IRC listener of a later issue maps its verbs
//! onto the same values. [`table`] holds every word, alias, argument and help line, so `/help`,
//! the parser and the documentation cannot drift apart.

mod accounts;
mod apply;
pub mod help;
pub mod moderation;
mod parse;
pub mod search;
pub mod table;

pub use accounts::{AccountJob, carries_secret, run_account_job};
pub use apply::{ClientFacts, apply, apply_usage, cfg_text, join_loaded};
pub use parse::GotoArg;

use crate::term::layout::ScrollStep;

/// One thing a user asked for: a line of chat, or a slash command with its arguments checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A line of chat (also `//text`, which says `/text`).
    Say(String),
    /// `/me`.
    Me(String),
    /// `/msg`.
    Msg { target: String, text: String },
    /// `/nick`, with the nick as it will be asked for; `filtered` is `Some(bad_start)` when
    /// illegal characters were removed (the user is told, and the change goes on).
    Nick {
        nick: String,
        filtered: Option<bool>,
    },
    /// `/join`, with the channel name normalized.
    Join(String),
    /// `/part`.
    Part,
    /// `/topic`.
    Topic(String),
    /// `/names`.
    Names,
    /// `/whois`, with a valid nick.
    Whois(String),
    /// `/status`.
    Status,
    /// `/cfg`.
    Cfg,
    /// `/cmap`.
    Cmap,
    /// `/help`, with the name of a page that exists.
    Help(String),
    /// `/cls`.
    Clear,
    /// `/auth`, with the password as typed.
    Auth(String),
    /// `/register PASSWORD`.
    Register(Secret),
    /// `/login [NICK] PASSWORD` (and `/identify`): `None` is the account of the user's nick.
    Login {
        name: Option<String>,
        password: Secret,
    },
    /// `/logout`.
    Logout,
    /// `/passwd OLD NEW`.
    Passwd { old: Secret, new: Secret },
    /// `/key add`.
    KeyAdd,
    /// `/key list`.
    KeyList,
    /// `/key del PREFIX`.
    KeyDel(String),
    /// `/fill` (admin).
    Fill { count: usize, text: String },
    /// `/bc` (admin).
    Broadcast(String),
    /// `/sd` (admin).
    Shutdown,
    /// `/quit`.
    Quit,
    /// `/r`: probe the size and redraw.
    Redraw,
    /// `/u` (-1) and `/d` (1).
    ScrollPages(isize),
    /// `/l`.
    Latest,
    /// `/v`.
    ToggleView,
    /// `/a`.
    Activity,
    /// `/g`: `None` shows where the window's history starts and how to use `/g`.
    Goto(Option<GotoArg>),
    /// `/sy N` (a level above 0) and `/sn` (0).
    Slowmo(u8),
    /// `/ss`.
    ScrollStep(ScrollStep),
    /// `/sw`.
    Width(u16),
    /// `/sh`.
    Height(u16),
    /// `/b0` to `/b3`.
    Bell(u8),
    /// `/b?`.
    BellQuery,
    /// `/ey` and `/en`.
    AtAll(bool),
    /// `/hsy` and `/hsn`.
    HilightLog(bool),
    /// `/cy` and `/cn`.
    ColoredNicks(bool),
    /// `/my` and `/mn`.
    Margins(bool),
    /// `/0`, `/1`...: a number too large for any window is `usize::MAX`.
    Window(usize),
    /// A moderation command (`command/moderation.rs`).
    Moderation(moderation::ModCommand),
    /// `/away [reason]`.
    Away(String),
    /// `/back`.
    Back,
    /// `/search WORDS [filters]`.
    Search(search::SearchRequest),
    /// `/hide joins` (true) and `/show joins`.
    HideJoins(bool),
    /// `/tz [ZONE]`: `None` asks which zone is in use.
    Tz(Option<String>),
}

impl Command {
    /// Whether others see the command, so it draws on the session's command budget: checked
    /// before [`apply`], charged after by the [`Effect::Charge`] it returns.
    pub fn is_shared(&self) -> bool {
        match self {
            // A search costs the store a query: it is paced like a command others see.
            Command::Nick { .. }
            | Command::Join(_)
            | Command::Part
            | Command::Topic(_)
            | Command::Search(_) => true,
            // IRC clients of the user's channels are told (away-notify).
            Command::Away(_) | Command::Back => true,
            // `/g rN` may join the result's channel, which others see.
            Command::Goto(Some(GotoArg::Found(_))) => true,
            // Not seen by others, but a password's hash is work the server shares out among
            // everyone who logs in: it draws on the same budget.
            Command::Register(_) | Command::Login { .. } | Command::Passwd { .. } => true,
            Command::Moderation(command) => command.is_shared(),
            _ => false,
        }
    }
}

/// A password as typed: its `Debug` shows no character of it, so no log line or panic
/// message can quote it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A line that is no command, or a command with bad arguments: the exact text the user reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// What the user is told, in r0c's words.
    pub text: String,
    /// The admin command whose arguments were wrong: only administrators learn how to use it
    /// (others are refused as for any admin command).
    pub admin_command: Option<&'static str>,
}

impl Usage {
    fn new(text: impl Into<String>) -> Usage {
        Usage {
            text: text.into(),
            admin_command: None,
        }
    }
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Usage {}

/// Something the user says, as flood control holds it until it may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A message (possibly several lines) into the active window.
    Say(String),
    /// `/me`.
    Action(String),
    /// `/msg target text`.
    Direct { target: String, text: String },
}

/// What the session carries out after [`apply`]: the parts of a command that concern the
/// connection, not the chat.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Say something, through the session's flood control.
    Send(Outgoing),
    /// Charge the command budget by what the command cost others.
    Charge(usize),
    /// Ask the terminal for its size.
    ProbeSize,
    /// Draw the whole screen anew at the next frame.
    Redraw,
    /// Scroll the active window by pages (negative: back).
    ScrollPages(isize),
    /// Read this from the store off the async workers, then finish the command (`/join` of a
    /// channel not in memory: [`join_loaded`]; `/g` to a moment before memory: go there). The
    /// user's further input waits meanwhile.
    Load(crate::world::Load),
    /// Snap the active window to its newest messages.
    Latest,
    /// Hide or show nicks and times.
    ToggleView,
    /// Set slowmo (0: off).
    SetSlowmo(u8),
    /// Set the width or height by hand.
    ForceSize {
        cols: Option<u16>,
        rows: Option<u16>,
    },
    /// Set how far PgUp and PgDn scroll.
    SetScrollStep(ScrollStep),
    /// Show the active window from this message on.
    Goto(u64),
    /// Go to result `N` (from 1) of the session's last `/search` (`/g r3`): the session
    /// keeps the results, so it finds the place and opens the window.
    GotoFound(usize),
    /// Tell the user their settings (`/cfg`), which the session knows half of.
    ShowCfg,
    /// Check or hash a password off the async workers, then finish the account command
    /// (the session runs it; see [`run_account_job`]).
    Account(AccountJob),
    /// Run a search off the async workers (the session paces them; see
    /// [`search::run_search`]).
    Search(search::SearchRequest),
    /// An admin command was refused: the session logs it, a few a minute.
    AdminDenied(&'static str),
    /// End the connection.
    Quit,
}
