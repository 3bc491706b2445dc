//! Migration from r0c 1.6.1: `r0c import` reads its text logs and client configs into this
//! server's store, `r0c export` writes one channel's stored history back in r0c's log format.
//!
//! # What is read
//!
//! r0c keeps `log/chan/<name>/<YYYY-MMDD-HHMMSS>[-…]` per public channel and
//! `log/pm/<nick1>/<nick2>/…` per private conversation: a header line `1 <hex unix time>`,
//! then `hex(int(ts*8)) SP author SP text` per message, the text holding r0c's ANSI colour
//! codes. Names in directory names have `< > : " / \ | ? * ' `` ` replaced by fullwidth
//! look-alikes. Client configs are `log/cfg.<listener>`: a version line, then
//! `<ip> <13 fields>` per client, the fields in the format [`SavedClient`] reads.
//!
//! Every log text goes through [`tokens_from_ansi`] (r0c's SGR codes back to our formatting
//! tokens, anything else dropped), then [`sanitize_message`] and the server's length cap, so
//! what is imported is exactly what the server could have stored itself. Bad input is
//! counted and reported, never fatal: malformed lines are skipped, invalid UTF-8 is decoded
//! lossily, an overlong line is cut, and an unreadable file is named in the report while the
//! rest is imported.
//!
//! # Idempotence: messages are compared, not files
//!
//! A message is identified by channel (or pair of nicks), time, author and text. Before
//! inserting, the import counts how often each such message is already stored and inserts
//! only the excess: running it twice imports nothing the second time. Within the logs, a
//! message found in several files counts once per file at most ([`merge_files`]), so a log
//! file copied twice into the directory adds nothing, yet two identical lines in the same
//! eighth of a second of one file (someone saying "lol" twice) both survive. Recording imported files by name and
//! hash instead would re-import everything from a log that r0c has since appended to.
//!
//! # Order: sequence numbers follow time
//!
//! The server orders a channel by sequence number, not by time. When the channel has no
//! stored messages, or the imported ones are all at or after its newest one, they are
//! numbered on from the last number. Otherwise (this server ran before the old logs were
//! imported) the channel is renumbered in one go: stored and imported messages are merged by
//! time, the stored ones keeping their relative order, and all are numbered from 0. That is
//! only safe while no server has the channel in memory, so the import takes the database's
//! lock file exclusively (a running server holds it shared; see [`crate::store::lock_path`]) and
//! refuses to run next to a server. Sequence numbers are kept nowhere else on disk.
//!
//! Everything is written in one transaction: an import that fails leaves the database as it
//! was.
//!
//! # Private messages
//!
//! This server stores direct messages (`direct_message`) but never shows them again, since a
//! nick is no proof of identity; r0c never loaded its PM logs back either. They are imported
//! into that table, for the record, and the report says so.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

use crate::config::{ConfigError, Invocation};
use crate::session::saved::SavedClient;
use crate::session::terminal::MAX_LINE_CHARS;
use crate::store::{self, Durability, LockKind, StoreError, StoredMessage, open_writer, take_lock};
use crate::term::style::Attrs;
use crate::text::{Span, sanitize_message, sanitize_plain, spans};
use crate::world::nick::MAX_NICK_CHARS;
use crate::world::{canonical_address, normalize_channel_name};

/// The help of both subcommands.
pub const USAGE: &str = "\
usage: r0c import [--from DIR] [SERVER FLAGS]
       r0c export --chan NAME [--to DIR] [SERVER FLAGS]

import  copies r0c 1.6.1's chat logs (DIR/log/chan, DIR/log/pm) and client configs
        (DIR/log/cfg.*) into this server's database; DIR defaults to ~/.r0c, r0c's
        app dir. Running it again imports only what is new. The server must be stopped.
export  writes the stored history of channel NAME in r0c 1.6.1's log format to
        DIR/log/chan/NAME/<YYYY-MMDD-HHMMSS>; DIR defaults to ./r0c-export, so a live
        r0c's logs are never touched.

SERVER FLAGS choose the database as the server does: --dir PATH (default ~/.r0c).
";

/// Where `r0c export` writes when `--to` is not given: never a live r0c's app dir.
const DEFAULT_EXPORT_DIR: &str = "r0c-export";

/// One tick of r0c's log timestamps, an eighth of a second, in microseconds.
const MICROS_PER_TICK: i64 = 125_000;

/// The most bytes of one log line that are read; the rest of the line is skipped. Enough for
/// [`MAX_LINE_CHARS`] characters of four bytes each plus r0c's colour codes around them.
const MAX_RECORD_BYTES: usize = 64 * 1024;

/// The longest author kept: a nick, plus the prefix IRC nicks are shown with.
const MAX_AUTHOR_CHARS: usize = MAX_NICK_CHARS + 1;

/// r0c's listeners, as they name their `cfg.<listener>` files and we name them in the store.
const LISTENERS: [&str; 4] = ["telnet", "netcat", "tls-telnet", "tls-netcat"];

/// The characters r0c replaces in channel names and nicks that become directory names.
const FULLWIDTH: [(char, char); 11] = [
    ('<', '＜'),
    ('>', '＞'),
    (':', '：'),
    ('"', '＂'),
    ('/', '／'),
    ('\\', '＼'),
    ('|', '｜'),
    ('?', '？'),
    ('*', '＊'),
    ('\'', '＇'),
    ('`', '｀'),
];

/// Why an import or export could not be done at all (problems with single files or lines
/// are counted in the report instead).
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The subcommand's own arguments are wrong.
    #[error("{0}\n\n{USAGE}")]
    Usage(String),
    /// The server flags after the subcommand are wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `--from` holds no r0c logs.
    #[error("{}: no r0c 1.6.1 data here (expected a log/ directory with chan/, pm/ or cfg.* files)", .0.display())]
    NoLogs(PathBuf),
    /// A directory that must be listed or created cannot be.
    #[error("cannot use directory {}: {source}", .path.display())]
    Directory { path: PathBuf, source: io::Error },
    /// The exported file cannot be written.
    #[error("cannot write {}: {source}", .path.display())]
    Write { path: PathBuf, source: io::Error },
    /// The database cannot be opened, is locked by a server, or a query failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `--chan` is not a channel name this server accepts.
    #[error("--chan {name}: {reason}")]
    ChannelName {
        name: String,
        reason: crate::world::ChannelNameError,
    },
    /// The channel's name is `.` or `..`, which as a directory name would point elsewhere.
    #[error("#{0} cannot be exported: its name is not usable as a directory name")]
    UnusableDirectory(String),
    /// The channel to export has no stored messages.
    #[error("there is no stored history of #{channel} in {}", .database.display())]
    NoHistory { channel: String, database: PathBuf },
}

impl From<rusqlite::Error> for MigrationError {
    fn from(error: rusqlite::Error) -> MigrationError {
        MigrationError::Store(StoreError::Query(error))
    }
}

/// A subcommand and its arguments.
#[derive(Debug, PartialEq)]
pub enum Migration {
    /// `r0c import`.
    Import {
        /// r0c's app dir (or its `log` dir).
        from: PathBuf,
        /// The server flags, program name first, to find our database.
        server_args: Vec<OsString>,
    },
    /// `r0c export`.
    Export {
        /// The channel, as typed.
        channel: String,
        /// The directory that gets `log/chan/<name>/…`.
        to: PathBuf,
        /// The server flags, program name first, to find our database.
        server_args: Vec<OsString>,
    },
    /// `--help` after either subcommand.
    Help,
}

/// What a finished migration prints, and whether everything could be read.
#[derive(Debug)]
pub struct Outcome {
    /// The report, ending with a newline.
    pub report: String,
    /// False when some file could not be read: the rest was imported, but the exit status
    /// should tell a script to look.
    pub complete: bool,
}

impl Migration {
    /// The subcommand on this command line (program name first), if its first argument is
    /// `import` or `export`; `None` means the command line is the server's.
    pub fn from_args(argv: &[OsString]) -> Option<Result<Migration, MigrationError>> {
        let program = argv.first().cloned().unwrap_or_else(|| "r0c".into());
        let subcommand = argv.get(1)?.to_str()?;
        if subcommand != "import" && subcommand != "export" {
            return None;
        }
        Some(parse_subcommand(subcommand, program, &argv[2..]))
    }

    /// Carries out the subcommand.
    pub fn run(self) -> Result<Outcome, MigrationError> {
        match self {
            Migration::Help => Ok(Outcome {
                report: USAGE.to_owned(),
                complete: true,
            }),
            Migration::Import { from, server_args } => {
                let Some(database) = database_path(server_args)? else {
                    return Ok(help_outcome());
                };
                let report = import(&from, &database)?;
                Ok(Outcome {
                    complete: report.unreadable.is_empty(),
                    report: report.to_string(),
                })
            }
            Migration::Export {
                channel,
                to,
                server_args,
            } => {
                let Some(database) = database_path(server_args)? else {
                    return Ok(help_outcome());
                };
                let exported = export(&database, &channel, &to)?;
                Ok(Outcome {
                    report: format!(
                        "exported {} messages of #{} to {}\n",
                        exported.messages,
                        exported.channel,
                        exported.file.display()
                    ),
                    complete: true,
                })
            }
        }
    }
}

fn help_outcome() -> Outcome {
    Outcome {
        report: USAGE.to_owned(),
        complete: true,
    }
}

/// Splits the subcommand's own flags from the server flags that follow or surround them.
fn parse_subcommand(
    subcommand: &str,
    program: OsString,
    args: &[OsString],
) -> Result<Migration, MigrationError> {
    let own_flags: &[&str] = if subcommand == "import" {
        &["--from"]
    } else {
        &["--chan", "--to"]
    };
    let mut values: HashMap<&str, OsString> = HashMap::new();
    let mut server_args = vec![program];
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let text = arg.to_str().unwrap_or_default();
        if text == "-h" || text == "--help" {
            return Ok(Migration::Help);
        }
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) => (name, Some(OsString::from(value))),
            None => (text, None),
        };
        let Some(flag) = own_flags.iter().find(|flag| **flag == name) else {
            server_args.push(arg.clone());
            continue;
        };
        let value = match inline {
            Some(value) => value,
            None => rest
                .next()
                .cloned()
                .ok_or_else(|| MigrationError::Usage(format!("{flag} needs a value")))?,
        };
        if value.is_empty() {
            return Err(MigrationError::Usage(format!("{flag} needs a value")));
        }
        values.insert(flag, value);
    }
    if subcommand == "import" {
        let from = values.remove("--from").map_or_else(
            crate::config::default_app_dir_of_current_user,
            PathBuf::from,
        );
        return Ok(Migration::Import { from, server_args });
    }
    let channel = values
        .remove("--chan")
        .ok_or_else(|| MigrationError::Usage("export needs --chan NAME".to_owned()))?
        .to_string_lossy()
        .into_owned();
    let to = values
        .remove("--to")
        .map_or_else(|| PathBuf::from(DEFAULT_EXPORT_DIR), PathBuf::from);
    Ok(Migration::Export {
        channel,
        to,
        server_args,
    })
}

/// The database the server would use with these flags; `None` when they ask for help.
fn database_path(server_args: Vec<OsString>) -> Result<Option<PathBuf>, MigrationError> {
    match crate::config::parse_args(server_args)? {
        Invocation::Run(config) => Ok(Some(config.database_path())),
        Invocation::Exit { .. } => Ok(None),
    }
}

// ---------------------------------------------------------------------------------------
// The log format, pure.

/// One message read from an r0c log, already in the form the server stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When it was posted, to r0c's eighth of a second.
    pub unix_micros: i64,
    /// The nick or system author (`--`, `***`, `-!-`, …).
    pub author: String,
    /// Canonical text (see [`crate::text`]).
    pub text: String,
}

/// What became of one log line.
#[derive(Debug, PartialEq, Eq)]
pub enum LineOutcome {
    /// A message; `cut` when its text was longer than the server keeps.
    Message { record: Record, cut: bool },
    /// Not `hex SP author SP text`, or the time is out of range.
    Malformed,
}

/// Whether r0c would load a file of this name: `^[0-9]{4}-[0-9]{4}-[0-9]{6}-*$`.
pub fn is_log_file_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
    };
    digits(0..4)
        && bytes.get(4) == Some(&b'-')
        && digits(5..9)
        && bytes.get(9) == Some(&b'-')
        && digits(10..16)
        && bytes.iter().skip(16).all(|b| *b == b'-')
}

/// A channel name or nick as r0c wrote it into a directory name, back as it was.
pub fn name_from_directory(directory: &str) -> String {
    replace_lookalikes(directory, |&(plain, wide)| (wide, plain))
}

/// A channel name as r0c writes it into a directory name.
pub fn directory_from_name(name: &str) -> String {
    replace_lookalikes(name, |&pair| pair)
}

/// Replaces the characters of [`FULLWIDTH`]: each pair, as `orient` turns it, is (what is
/// replaced, what replaces it).
fn replace_lookalikes(text: &str, orient: fn(&(char, char)) -> (char, char)) -> String {
    text.chars()
        .map(|c| {
            FULLWIDTH
                .iter()
                .map(orient)
                .find(|(replaced, _)| *replaced == c)
                .map_or(c, |(_, replacement)| replacement)
        })
        .collect()
}

/// Reads one log line (without its newline): `hex(int(ts*8)) SP author SP text`.
pub fn parse_record(line: &str) -> LineOutcome {
    let mut fields = line.splitn(3, ' ');
    let (Some(ticks), Some(author), Some(text)) = (fields.next(), fields.next(), fields.next())
    else {
        return LineOutcome::Malformed;
    };
    let unix_micros = (!ticks.is_empty() && ticks.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| i64::from_str_radix(ticks, 16).ok())
        .flatten()
        .and_then(|ticks| ticks.checked_mul(MICROS_PER_TICK));
    let author: String = sanitize_plain(&tokens_from_ansi(author))
        .chars()
        .take(MAX_AUTHOR_CHARS)
        .collect();
    let (Some(unix_micros), false) = (unix_micros, author.is_empty()) else {
        return LineOutcome::Malformed;
    };
    let text = sanitize_message(&tokens_from_ansi(text));
    let cut = text.chars().count() > MAX_LINE_CHARS;
    let text = if cut {
        text.chars().take(MAX_LINE_CHARS).collect()
    } else {
        text
    };
    LineOutcome::Message {
        record: Record {
            unix_micros,
            author,
            text,
        },
        cut,
    }
}

/// Writes one message as a log line of r0c (with its newline). Spaces in the author would
/// shift the fields when r0c reads the line back, so they become `_`.
pub fn format_record(message: &StoredMessage) -> String {
    format!(
        "{:x} {} {}\n",
        message.unix_micros.max(0) / MICROS_PER_TICK,
        message.author.replace(' ', "_"),
        ansi_from_tokens(&message.text)
    )
}

/// Canonical text to what r0c stores: each token as the SGR code r0c's input conversion
/// produces (the same codes our renderer sends, see [`Attrs::apply`]).
pub fn ansi_from_tokens(text: &str) -> String {
    let mut attrs = Attrs::default();
    spans(text)
        .map(|span| match span {
            Span::Text(text) => text.to_owned(),
            token => attrs.apply(token),
        })
        .collect()
}

/// r0c's stored text to canonical text: SGR codes become the tokens that show the same
/// colours and boldness, every other escape sequence is dropped whole.
///
/// r0c writes `ESC[0;3Nm`, `ESC[1;3Nm` (with `;4B`), `ESC[1m`, `ESC[22m` and `ESC[0m` for
/// typed formatting, and shorter forms such as `ESC[36m` or `ESC[1;32m` in its system
/// lines; any SGR is read as the terminal would apply it, then expressed in tokens.
pub fn tokens_from_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut shown = Attrs::default();
    let mut rest = text;
    while let Some(escape) = rest.find('\x1b') {
        out.push_str(&rest[..escape]);
        rest = &rest[escape + 1..];
        let Some(csi) = rest.strip_prefix('[') else {
            // A lone ESC or a two-character escape: dropping the ESC disarms it.
            continue;
        };
        let parameters_end = csi
            .find(|c: char| !matches!(c, '\x30'..='\x3f'))
            .unwrap_or(csi.len());
        let intermediates_end = csi[parameters_end..]
            .find(|c: char| !matches!(c, '\x20'..='\x2f'))
            .map_or(csi.len(), |end| parameters_end + end);
        let Some(last) = csi[intermediates_end..].chars().next() else {
            // Cut off before its final character: drop what there is of it.
            rest = "";
            break;
        };
        let parameters = &csi[..parameters_end];
        if last == 'm' && intermediates_end == parameters_end {
            let wanted = apply_sgr(shown, parameters);
            for token in transition(shown, wanted) {
                shown.apply(token);
                push_token(&mut out, token);
            }
        }
        rest = &csi[intermediates_end + last.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// The attributes a terminal has after an SGR sequence with these parameters.
fn apply_sgr(mut attrs: Attrs, parameters: &str) -> Attrs {
    for parameter in parameters.split(';') {
        match parameter.parse::<u8>() {
            _ if parameter.is_empty() => attrs = Attrs::default(),
            Ok(0) => attrs = Attrs::default(),
            Ok(1) => attrs.bold = true,
            Ok(22) => attrs.bold = false,
            Ok(code @ 30..=37) => attrs.fg = Some(code - 30),
            Ok(39) => attrs.fg = None,
            Ok(code @ 40..=47) => attrs.bg = Some(code - 40),
            Ok(49) => attrs.bg = None,
            // Underline, blink, reverse, 256 colours…: nothing our tokens can say.
            _ => {}
        }
    }
    attrs
}

/// The tokens that take our renderer from `from` to `to` (as near as tokens can: a
/// background without a foreground colour is left out).
fn transition(from: Attrs, to: Attrs) -> Vec<Span<'static>> {
    if from == to {
        return Vec::new();
    }
    if from.fg == to.fg && from.bg == to.bg {
        return vec![Span::Bold];
    }
    if to == Attrs::default() {
        return vec![Span::Reset];
    }
    let mut tokens = Vec::new();
    // A bright colour token without a background keeps the old one (a dim one clears it),
    // so a background that must go needs a reset first; so does a foreground back to the
    // default.
    if (to.bold && to.bg.is_none() && from.bg.is_some()) || to.fg.is_none() {
        tokens.push(Span::Reset);
    }
    match to.fg {
        Some(fg) => tokens.push(Span::Color {
            fg: fg + if to.bold { 8 } else { 0 },
            bg: to.bg,
        }),
        None if to.bold => tokens.push(Span::Bold),
        None => {}
    }
    tokens
}

/// Appends a formatting token in canonical form.
fn push_token(out: &mut String, token: Span<'_>) {
    match token {
        Span::Text(text) => out.push_str(text),
        Span::Bold => out.push('\x02'),
        Span::Reset => out.push('\x0f'),
        Span::Color { fg, bg } => {
            out.push('\x0b');
            out.extend(char::from_digit(u32::from(fg), 16));
            if let Some(bg) = bg {
                out.push(',');
                out.extend(char::from_digit(u32::from(bg), 16));
            }
        }
    }
}

/// Reads one `cfg.<listener>` line: `<ip> <13 fields>`, as (canonical address, config line
/// in our format); `None` if the address or the fields are malformed.
pub fn parse_config_line(line: &str) -> Option<(String, String)> {
    let (address, fields) = line.trim().split_once(' ')?;
    let address: IpAddr = address.parse().ok()?;
    let saved = SavedClient::parse(fields)?;
    let ticks = fields.split(' ').next()?;
    let unix_micros = i64::from_str_radix(ticks, 16)
        .ok()?
        .checked_mul(MICROS_PER_TICK)?;
    Some((canonical_address(address), saved.to_line(unix_micros)))
}

/// Where each message of a channel goes, given what the channel already stores.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// The messages to insert, oldest first.
    pub new: Vec<Record>,
    /// How many read messages were already stored.
    pub already_stored: usize,
    /// How the new messages are numbered.
    pub placement: Placement,
}

/// How new messages join a channel's stored ones.
#[derive(Debug, PartialEq, Eq)]
pub enum Placement {
    /// Numbered from `first_seq` on, after everything stored.
    Append { first_seq: u64 },
    /// The channel is renumbered from 0 in this order.
    Renumber(Vec<Slot>),
}

/// One place in a renumbered channel.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Slot {
    /// The stored message at this index (in sequence order).
    Stored(usize),
    /// The new message at this index of [`Plan::new`].
    New(usize),
}

/// Decides what to insert and how to number it (see the module docs). `stored` is the
/// channel's messages in sequence order; `read` is what the logs hold, in file order.
pub fn plan_channel(stored: &[StoredMessage], mut read: Vec<Record>) -> Plan {
    // Stable, so messages of the same eighth of a second keep their order in the logs.
    read.sort_by_key(|record| record.unix_micros);
    let mut stored_count: HashMap<(i64, &str, &str), usize> = HashMap::new();
    for message in stored {
        *stored_count
            .entry((message.unix_micros, &message.author, &message.text))
            .or_default() += 1;
    }
    let is_new: Vec<bool> = read
        .iter()
        .map(|record| {
            let key = (
                record.unix_micros,
                record.author.as_str(),
                record.text.as_str(),
            );
            match stored_count.get_mut(&key) {
                Some(count) if *count > 0 => {
                    *count -= 1;
                    false
                }
                _ => true,
            }
        })
        .collect();
    let already_stored = is_new.iter().filter(|new| !**new).count();
    let new: Vec<Record> = read
        .into_iter()
        .zip(is_new)
        .filter_map(|(record, new)| new.then_some(record))
        .collect();
    let placement = match (stored.last(), new.first()) {
        (None, _) => Placement::Append { first_seq: 0 },
        (Some(last), Some(first)) if first.unix_micros < last.unix_micros => {
            Placement::Renumber(merge_by_time(stored, &new))
        }
        (Some(last), _) => Placement::Append {
            first_seq: last.seq + 1,
        },
    };
    Plan {
        new,
        already_stored,
        placement,
    }
}

/// The messages of several log files of one channel as one list, in file order. A message
/// (time, author, text) that is in several files is kept as often as the file holding it
/// most often has it: a copied file adds nothing, while a line repeated within one file
/// (someone saying "lol" twice in an eighth of a second) is kept twice.
pub fn merge_files(files: Vec<Vec<Record>>) -> Vec<Record> {
    let mut kept: HashMap<(i64, &str, &str), usize> = HashMap::new();
    let keep: Vec<Vec<bool>> = files
        .iter()
        .map(|file| {
            let mut in_this_file: HashMap<(i64, &str, &str), usize> = HashMap::new();
            file.iter()
                .map(|record| {
                    let key = (
                        record.unix_micros,
                        record.author.as_str(),
                        record.text.as_str(),
                    );
                    let seen = in_this_file.entry(key).or_default();
                    *seen += 1;
                    let kept = kept.entry(key).or_default();
                    let new = *seen > *kept;
                    if new {
                        *kept += 1;
                    }
                    new
                })
                .collect()
        })
        .collect();
    files
        .into_iter()
        .zip(keep)
        .flat_map(|(file, keep)| {
            file.into_iter()
                .zip(keep)
                .filter_map(|(record, keep)| keep.then_some(record))
        })
        .collect()
}

/// Stored and new messages merged by time; at equal times the stored one comes first.
fn merge_by_time(stored: &[StoredMessage], new: &[Record]) -> Vec<Slot> {
    let mut slots = Vec::with_capacity(stored.len() + new.len());
    let mut next_new = 0;
    for (index, message) in stored.iter().enumerate() {
        while new
            .get(next_new)
            .is_some_and(|record| record.unix_micros < message.unix_micros)
        {
            slots.push(Slot::New(next_new));
            next_new += 1;
        }
        slots.push(Slot::Stored(index));
    }
    slots.extend((next_new..new.len()).map(Slot::New));
    slots
}

// ---------------------------------------------------------------------------------------
// Reading r0c's files.

/// What was read from the log files of one channel or conversation.
#[derive(Debug, Default)]
struct LogRead {
    /// Per file read, its messages.
    files: Vec<Vec<Record>>,
    malformed: usize,
    cut: usize,
    lossy: usize,
}

impl LogRead {
    /// The messages of all files as one list, and a report holding what reading counted.
    fn into_records(self) -> (Vec<Record>, ChannelReport) {
        let report = ChannelReport {
            malformed: self.malformed,
            cut: self.cut,
            lossy: self.lossy,
            files: self.files.len(),
            ..ChannelReport::default()
        };
        (merge_files(self.files), report)
    }
}

/// Reads every log file r0c would load from `directory` into `into`; files that cannot be
/// read are added to `unreadable`, other names are counted in `ignored`.
fn read_log_directory(
    directory: &Path,
    into: &mut LogRead,
    unreadable: &mut Vec<String>,
    ignored: &mut usize,
) {
    let mut names = Vec::new();
    match std::fs::read_dir(directory) {
        Ok(entries) => {
            for entry in entries {
                match entry {
                    Ok(entry) => names.push(entry.file_name()),
                    Err(error) => unreadable.push(format!("{}: {error}", directory.display())),
                }
            }
        }
        Err(error) => {
            unreadable.push(format!("{}: {error}", directory.display()));
            return;
        }
    }
    names.sort();
    for name in names {
        let path = directory.join(&name);
        if !name.to_str().is_some_and(is_log_file_name) || !path.is_file() {
            *ignored += 1;
            continue;
        }
        if let Err(error) = read_log_file(&path, into) {
            unreadable.push(format!("{}: {error}", path.display()));
        }
    }
}

/// Reads one log file: a header line, then one message per line.
fn read_log_file(path: &Path, into: &mut LogRead) -> io::Result<()> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut line = Vec::new();
    let mut first = true;
    let mut records = Vec::new();
    while let Some(cut) = read_capped_line(&mut reader, &mut line, MAX_RECORD_BYTES)? {
        let text = String::from_utf8_lossy(&line);
        if matches!(text, std::borrow::Cow::Owned(_)) {
            into.lossy += 1;
        }
        if std::mem::take(&mut first) {
            // r0c discards the first line unread; anything but `1 <hex>` there is suspicious.
            if !is_header(&text) {
                into.malformed += 1;
            }
            continue;
        }
        match parse_record(&text) {
            LineOutcome::Message { record, cut: long } => {
                into.cut += usize::from(cut || long);
                records.push(record);
            }
            LineOutcome::Malformed => into.malformed += 1,
        }
    }
    into.files.push(records);
    Ok(())
}

/// Whether a first line is r0c's header: format version 1 and the hex creation time.
fn is_header(line: &str) -> bool {
    line.strip_prefix("1 ")
        .is_some_and(|time| !time.is_empty() && time.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Reads the next line without its `\n` into `line`, keeping at most `cap` bytes of it (the
/// rest of the line is skipped, so one huge line cannot exhaust memory). Returns `None` at
/// the end of the input, else whether the line was cut.
fn read_capped_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    cap: usize,
) -> io::Result<Option<bool>> {
    line.clear();
    let mut cut = false;
    let mut read_any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(read_any.then_some(cut));
        }
        read_any = true;
        let (part, used, done) = match available.iter().position(|b| *b == b'\n') {
            Some(end) => (&available[..end], end + 1, true),
            None => (available, available.len(), false),
        };
        let room = cap.saturating_sub(line.len());
        cut |= part.len() > room;
        line.extend_from_slice(&part[..part.len().min(room)]);
        reader.consume(used);
        if done {
            return Ok(Some(cut));
        }
    }
}

/// The names of the subdirectories of `directory`, sorted; a missing directory has none.
fn subdirectories(directory: &Path, unreadable: &mut Vec<String>) -> Vec<(String, PathBuf)> {
    let entries = match std::fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(error) => {
            unreadable.push(format!("{}: {error}", directory.display()));
            return Vec::new();
        }
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|entry| match entry {
            Ok(entry) => Some(entry.path()),
            Err(error) => {
                unreadable.push(format!("{}: {error}", directory.display()));
                None
            }
        })
        .filter(|path| path.is_dir())
        .filter_map(|path| {
            let name = path.file_name()?.to_string_lossy().into_owned();
            Some((name, path))
        })
        .collect();
    found.sort();
    found
}

// ---------------------------------------------------------------------------------------
// Import.

/// What one channel's import did.
#[derive(Debug, Default)]
pub struct ChannelReport {
    /// Messages inserted.
    pub imported: usize,
    /// Messages read that were already stored.
    pub already_stored: usize,
    /// Lines that are not messages.
    pub malformed: usize,
    /// Messages whose text was cut to the server's limit.
    pub cut: usize,
    /// Lines with invalid UTF-8, kept with replacement characters.
    pub lossy: usize,
    /// Log files read.
    pub files: usize,
    /// Whether the channel was renumbered to keep time order.
    pub renumbered: bool,
}

/// What a whole import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// r0c's log directory that was read.
    pub source: PathBuf,
    /// Our database.
    pub database: PathBuf,
    /// Per channel (our name, without `#`).
    pub channels: BTreeMap<String, ChannelReport>,
    /// Channel directories whose name this server does not accept, with the reason.
    pub refused_channels: Vec<(String, String)>,
    /// All private conversations together.
    pub private: ChannelReport,
    /// How many conversations (pairs of nicks) the private messages belong to.
    pub conversations: usize,
    /// Client configs inserted.
    pub configs_imported: usize,
    /// Client configs already stored for that listener and address (kept as they are).
    pub configs_present: usize,
    /// Config lines that could not be read.
    pub configs_malformed: usize,
    /// Files and directories that could not be read, with the reason.
    pub unreadable: Vec<String>,
    /// Files in log directories whose names r0c would not load either.
    pub ignored_files: usize,
}

impl ImportReport {
    /// All messages inserted into public channels.
    pub fn messages_imported(&self) -> usize {
        self.channels.values().map(|c| c.imported).sum()
    }
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "r0c import: {} -> {}",
            self.source.display(),
            self.database.display()
        )?;
        for (name, channel) in &self.channels {
            writeln!(f, "  #{name}: {}", describe(channel))?;
        }
        for (directory, reason) in &self.refused_channels {
            writeln!(f, "  {directory}: skipped, {reason}")?;
        }
        writeln!(
            f,
            "  private messages: {} in {} conversations (stored as direct messages, which this \
             server keeps but never shows again, like r0c)",
            describe(&self.private),
            self.conversations
        )?;
        writeln!(
            f,
            "  client configs: {} imported, {} already present, {} malformed",
            self.configs_imported, self.configs_present, self.configs_malformed
        )?;
        if self.ignored_files > 0 {
            writeln!(
                f,
                "  {} files ignored (not named like r0c's log files)",
                self.ignored_files
            )?;
        }
        for problem in &self.unreadable {
            writeln!(f, "  UNREADABLE: {problem}")?;
        }
        writeln!(
            f,
            "total: {} messages imported",
            self.messages_imported() + self.private.imported
        )
    }
}

/// One line of counts for a channel or the private messages.
fn describe(report: &ChannelReport) -> String {
    let mut line = format!(
        "{} imported, {} already present",
        report.imported, report.already_stored
    );
    for (count, what) in [
        (report.malformed, "malformed lines skipped"),
        (report.cut, "overlong messages cut"),
        (report.lossy, "lines with invalid UTF-8 (kept, with U+FFFD)"),
    ] {
        if count > 0 {
            let _ = write!(line, ", {count} {what}");
        }
    }
    if report.renumbered {
        line.push_str(", channel renumbered to keep time order");
    }
    line
}

/// The directory holding r0c's `chan/`, `pm/` and `cfg.*`: `<from>/log`, or `from` itself.
fn find_log_directory(from: &Path) -> Result<PathBuf, MigrationError> {
    let looks_like_logs = |dir: &Path| {
        dir.join("chan").is_dir()
            || dir.join("pm").is_dir()
            || LISTENERS
                .iter()
                .any(|listener| dir.join(format!("cfg.{listener}")).is_file())
    };
    let log = from.join("log");
    if looks_like_logs(&log) {
        Ok(log)
    } else if looks_like_logs(from) {
        Ok(from.to_owned())
    } else {
        Err(MigrationError::NoLogs(from.to_owned()))
    }
}

/// Imports r0c's logs and configs from `from` (its app dir or its `log` dir) into the
/// database at `database`, which is created if needed.
pub fn import(from: &Path, database: &Path) -> Result<ImportReport, MigrationError> {
    let log = find_log_directory(from)?;
    let mut report = ImportReport {
        source: log.clone(),
        database: database.to_owned(),
        ..ImportReport::default()
    };

    // Everything is read before the database is touched, so a slow disk does not hold the
    // lock long and a read problem is known before anything is written.
    let mut channels: BTreeMap<String, LogRead> = BTreeMap::new();
    for (directory, path) in subdirectories(&log.join("chan"), &mut report.unreadable) {
        let name = match normalize_channel_name(&name_from_directory(&directory)) {
            Ok(name) => name,
            Err(reason) => {
                report
                    .refused_channels
                    .push((format!("chan/{directory}"), reason.to_string()));
                continue;
            }
        };
        let read = channels.entry(name).or_default();
        read_log_directory(
            &path,
            read,
            &mut report.unreadable,
            &mut report.ignored_files,
        );
    }
    let mut conversations: BTreeMap<(String, String), LogRead> = BTreeMap::new();
    for (first, first_path) in subdirectories(&log.join("pm"), &mut report.unreadable) {
        for (second, path) in subdirectories(&first_path, &mut report.unreadable) {
            let first = sanitize_plain(&name_from_directory(&first));
            let second = sanitize_plain(&name_from_directory(&second));
            let pair = if first <= second {
                (first, second)
            } else {
                (second, first)
            };
            let read = conversations.entry(pair).or_default();
            read_log_directory(
                &path,
                read,
                &mut report.unreadable,
                &mut report.ignored_files,
            );
        }
    }
    let mut configs = Vec::new();
    for listener in LISTENERS {
        let path = log.join(format!("cfg.{listener}"));
        match read_config_file(&path) {
            Ok(Some((lines, malformed))) => {
                report.configs_malformed += malformed;
                configs.extend(lines.into_iter().map(|(a, c)| (listener, a, c)));
            }
            Ok(None) => {}
            Err(error) => report
                .unreadable
                .push(format!("{}: {error}", path.display())),
        }
    }

    if let Some(parent) = database.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| MigrationError::Directory {
            path: parent.to_owned(),
            source,
        })?;
    }
    let _exclusive = take_lock(database, LockKind::Exclusive)?;
    let mut conn = open_writer(database, Durability::PowerCut)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (name, read) in channels {
        let channel = import_channel(&tx, &name, read)?;
        report.channels.insert(name, channel);
    }
    report.conversations = conversations.len();
    for ((nick_a, nick_b), read) in conversations {
        let counts = import_conversation(&tx, &nick_a, &nick_b, read)?;
        let private = &mut report.private;
        private.imported += counts.imported;
        private.already_stored += counts.already_stored;
        private.malformed += counts.malformed;
        private.cut += counts.cut;
        private.lossy += counts.lossy;
        private.files += counts.files;
    }
    for (listener, address, config) in configs {
        let inserted = tx
            .prepare_cached(
                "INSERT INTO client_config (listener, address, config) VALUES (?1, ?2, ?3)
                 ON CONFLICT (listener, address) DO NOTHING",
            )?
            .execute(params![listener, address, config])?;
        if inserted > 0 {
            report.configs_imported += 1;
        } else {
            report.configs_present += 1;
        }
    }
    tx.commit()?;
    Ok(report)
}

/// Reads a `cfg.<listener>` file: the configs it holds and how many lines were malformed;
/// `None` if there is no such file.
#[allow(clippy::type_complexity)]
fn read_config_file(path: &Path) -> io::Result<Option<(Vec<(String, String)>, usize)>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut configs = Vec::new();
    let mut malformed = 0;
    let mut first = true;
    while let Some(cut) = read_capped_line(&mut reader, &mut line, MAX_RECORD_BYTES)? {
        // The first line is the format version, which r0c ignores too.
        if std::mem::take(&mut first) {
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        // Unlike r0c, which stops at the first bad line, the lines after it still count.
        match parse_config_line(&text).filter(|_| !cut) {
            Some(config) => configs.push(config),
            None => malformed += 1,
        }
    }
    Ok(Some((configs, malformed)))
}

/// Inserts what is new of one channel, renumbering it if that keeps time order.
fn import_channel(
    tx: &Transaction<'_>,
    name: &str,
    read: LogRead,
) -> Result<ChannelReport, MigrationError> {
    tx.prepare_cached(store::ENSURE_CHANNEL)?.execute([name])?;
    let channel_id: i64 = tx
        .prepare_cached("SELECT id FROM channel WHERE name = ?1")?
        .query_row([name], |row| row.get(0))?;
    let stored = tx
        .prepare_cached(
            "SELECT seq, unix_micros, author, text, kind FROM message
             WHERE channel_id = ?1 ORDER BY seq",
        )?
        .query_map([channel_id], store::stored_message)?
        .collect::<Result<Vec<_>, _>>()?;
    let (records, mut report) = read.into_records();
    let plan = plan_channel(&stored, records);
    report.imported = plan.new.len();
    report.already_stored = plan.already_stored;
    if plan.new.is_empty() {
        return Ok(report);
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO message (channel_id, seq, unix_micros, author, text)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let sql_seq = |seq: u64| store::seq_to_sql(seq);
    match plan.placement {
        Placement::Append { first_seq } => {
            for (seq, record) in (first_seq..).zip(&plan.new) {
                insert.execute(params![
                    channel_id,
                    sql_seq(seq),
                    record.unix_micros,
                    record.author,
                    record.text
                ])?;
            }
        }
        Placement::Renumber(slots) => {
            report.renumbered = true;
            tx.prepare_cached("DELETE FROM message WHERE channel_id = ?1")?
                .execute([channel_id])?;
            for (seq, slot) in (0..).zip(slots) {
                let (unix_micros, author, text) = match slot {
                    Slot::Stored(index) => {
                        let m = &stored[index];
                        (m.unix_micros, &m.author, &m.text)
                    }
                    Slot::New(index) => {
                        let r = &plan.new[index];
                        (r.unix_micros, &r.author, &r.text)
                    }
                };
                insert.execute(params![channel_id, sql_seq(seq), unix_micros, author, text])?;
            }
        }
    }
    Ok(report)
}

/// Inserts what is new of one private conversation into `direct_message`.
fn import_conversation(
    tx: &Transaction<'_>,
    nick_a: &str,
    nick_b: &str,
    read: LogRead,
) -> Result<ChannelReport, MigrationError> {
    // Direct messages have no sequence numbers; the same dedup as for channels applies, and
    // insertion order (the row id) is time order.
    let stored = tx
        .prepare_cached(
            "SELECT id, unix_micros, author, text FROM direct_message
             WHERE nick_a = ?1 AND nick_b = ?2 ORDER BY id",
        )?
        .query_map([nick_a, nick_b], |row| {
            Ok(StoredMessage {
                seq: 0,
                unix_micros: row.get(1)?,
                author: row.get(2)?,
                text: row.get(3)?,
                kind: store::MessageKind::Chat,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let (records, mut report) = read.into_records();
    let plan = plan_channel(&stored, records);
    report.imported = plan.new.len();
    report.already_stored = plan.already_stored;
    let mut insert = tx.prepare_cached(store::INSERT_DIRECT)?;
    for record in &plan.new {
        insert.execute(params![
            nick_a,
            nick_b,
            record.unix_micros,
            record.author,
            record.text,
            store::MessageKind::Chat.to_sql()
        ])?;
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// Export.

/// What an export wrote.
#[derive(Debug)]
pub struct ExportReport {
    /// The channel, without `#`.
    pub channel: String,
    /// The log file written.
    pub file: PathBuf,
    /// Messages in it.
    pub messages: usize,
}

/// Writes the stored history of `channel` as one r0c log file under `to/log/chan/<name>/`,
/// named by the current UTC time (with `-` appended while the name is taken, as r0c does),
/// never replacing a file. Reading only, so a running server is no obstacle.
pub fn export(database: &Path, channel: &str, to: &Path) -> Result<ExportReport, MigrationError> {
    let name = normalize_channel_name(channel).map_err(|reason| MigrationError::ChannelName {
        name: channel.to_owned(),
        reason,
    })?;
    let no_history = || MigrationError::NoHistory {
        channel: name.clone(),
        database: database.to_owned(),
    };
    if !database.is_file() {
        return Err(no_history());
    }
    let conn = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| StoreError::Open {
        path: database.to_owned(),
        source,
    })?;
    conn.busy_timeout(store::BUSY_TIMEOUT)?;
    let channel_id: Option<i64> = conn
        .query_row("SELECT id FROM channel WHERE name = ?1", [&name], |row| {
            row.get(0)
        })
        .optional()?;
    let channel_id = channel_id.ok_or_else(no_history)?;
    let mut statement = conn.prepare(
        "SELECT seq, unix_micros, author, text, kind FROM message WHERE channel_id = ?1 ORDER BY seq",
    )?;
    let mut rows = statement.query_map([channel_id], store::stored_message)?;
    let Some(first) = rows.next().transpose()? else {
        return Err(no_history());
    };

    let directory_name = directory_from_name(&name);
    if directory_name == "." || directory_name == ".." {
        return Err(MigrationError::UnusableDirectory(name));
    }
    let directory = to.join("log").join("chan").join(directory_name);
    std::fs::create_dir_all(&directory).map_err(|source| MigrationError::Directory {
        path: directory.clone(),
        source,
    })?;
    let now = jiff::Timestamp::now();
    let (file, path) =
        create_new_log_file(&directory, &now.strftime("%Y-%m%d-%H%M%S").to_string())?;
    let write_error = |source| MigrationError::Write {
        path: path.clone(),
        source,
    };
    let mut out = BufWriter::new(file);
    writeln!(out, "1 {:x}", now.as_second()).map_err(write_error)?;
    out.write_all(format_record(&first).as_bytes())
        .map_err(write_error)?;
    let mut messages = 1;
    for message in rows {
        out.write_all(format_record(&message?).as_bytes())
            .map_err(write_error)?;
        messages += 1;
    }
    let file = out
        .into_inner()
        .map_err(|error| write_error(error.into_error()))?;
    file.sync_all().map_err(write_error)?;
    Ok(ExportReport {
        channel: name,
        file: path,
        messages,
    })
}

/// Creates `directory/<name>`, appending `-` while that file exists.
fn create_new_log_file(directory: &Path, name: &str) -> Result<(File, PathBuf), MigrationError> {
    let mut name = name.to_owned();
    loop {
        let path = directory.join(&name);
        match File::options().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => name.push('-'),
            Err(source) => return Err(MigrationError::Write { path, source }),
        }
    }
}
