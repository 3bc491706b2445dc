//! The TOML config file (`--config PATH`, or `<app>/r0c.toml` when it exists) and
//! `--print-config`, which writes the effective flags back in the same form.
//!
//! The file holds flags, keyed by their long names; both are generic over clap's list of
//! arguments, so a new flag can be set in the file without being listed here. A flag the
//! command line gives is left alone; every other key of the file becomes the command-line
//! argument it stands for, appended before clap parses again. So the file can only say
//! what the command line can say, and it is checked by the same value parsers.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use super::ConfigError;

/// The file looked for in the app dir when `--config` is not given.
pub(super) const DEFAULT_FILE_NAME: &str = "r0c.toml";

/// Arguments that choose what this run of the program does rather than how the server runs;
/// a file that `--print-config` writes and `--config` reads cannot hold them.
const NOT_IN_FILE: &[&str] = &[
    "config",
    "print_config",
    "print_client",
    "print_man",
    "print_completions",
];

/// The key of an argument in the file: its long name (`pt`, `no-flood-limit`), or for an
/// argument with only a short form its clap id in kebab case (`-i` is `listen-ip`). `None`
/// for help, version, positionals and [`NOT_IN_FILE`].
pub(super) fn key_of(arg: &Arg) -> Option<String> {
    let id = arg.get_id().as_str();
    let is_meta = matches!(
        arg.get_action(),
        ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
    );
    if is_meta || arg.is_positional() || NOT_IN_FILE.contains(&id) {
        return None;
    }
    Some(normalize_key(arg.get_long().unwrap_or(id)))
}

/// Keys are compared with `_` read as `-`, so `no_flood_limit` works as well.
fn normalize_key(key: &str) -> String {
    key.replace('_', "-")
}

/// The config file to read: `--config` if given, else `<app>/r0c.toml` if that is a file.
/// The app dir is `--dir` from the command line (the file cannot move the place it is
/// looked for in), else `default_app_dir`.
pub(super) fn file_to_read(cli: &ArgMatches, default_app_dir: &Path) -> Option<PathBuf> {
    if let Some(path) = cli.get_one::<PathBuf>("config") {
        return Some(path.clone());
    }
    let app_dir = cli
        .get_one::<PathBuf>("dir")
        .map_or(default_app_dir, PathBuf::as_path);
    Some(app_dir.join(DEFAULT_FILE_NAME)).filter(|path| path.is_file())
}

/// Reads the file at `path` and returns the command-line arguments its keys stand for,
/// leaving out every argument that `cli` (the parsed command line) already gives: for a
/// list flag such as `--ircb`, any use on the command line replaces the file's whole list.
pub(super) fn arguments_from_file(
    path: &Path,
    command: &Command,
    cli: &ArgMatches,
) -> Result<Vec<OsString>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::FileRead {
        path: path.to_owned(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|error| ConfigError::FileSyntax {
        path: path.to_owned(),
        line: error
            .span()
            .map_or(1, |span| text[..span.start].matches('\n').count() + 1),
        message: error.message().trim().to_owned(),
    })?;
    let mut arguments = Vec::new();
    for (key, value) in &table {
        let wanted = normalize_key(key);
        let Some(arg) = command
            .get_arguments()
            .find(|arg| key_of(arg).as_deref() == Some(wanted.as_str()))
        else {
            let settable_elsewhere = command.get_arguments().any(|arg| {
                NOT_IN_FILE.contains(&arg.get_id().as_str())
                    && arg
                        .get_long()
                        .is_some_and(|long| normalize_key(long) == wanted)
            });
            return Err(if settable_elsewhere {
                ConfigError::FileKeyNotSettable {
                    path: path.to_owned(),
                    key: key.clone(),
                }
            } else {
                ConfigError::FileUnknownKey {
                    path: path.to_owned(),
                    key: key.clone(),
                }
            });
        };
        if cli.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine) {
            continue;
        }
        let file_error = |expected: &'static str| ConfigError::FileType {
            path: path.to_owned(),
            key: key.clone(),
            expected,
        };
        let spelling = match (arg.get_long(), arg.get_short()) {
            (Some(long), _) => format!("--{long}"),
            (None, Some(short)) => format!("-{short}"),
            (None, None) => continue,
        };
        match arg.get_action() {
            ArgAction::SetTrue | ArgAction::SetFalse => match value {
                toml::Value::Boolean(true) => arguments.push(spelling.into()),
                toml::Value::Boolean(false) => {}
                _ => return Err(file_error("true or false")),
            },
            ArgAction::Count => match value.as_integer().map(usize::try_from) {
                Some(Ok(times)) => arguments.extend((0..times).map(|_| spelling.clone().into())),
                _ => return Err(file_error("a count (0 or more)")),
            },
            ArgAction::Append => {
                let items = match value {
                    toml::Value::Array(items) => items.iter().collect(),
                    single => vec![single],
                };
                for item in items {
                    let text = scalar_text(item)
                        .ok_or_else(|| file_error("a list of strings or numbers"))?;
                    let argument = OsString::from(format!("{spelling}={text}"));
                    check_argument(command, &argument, path, key)?;
                    arguments.push(argument);
                }
            }
            _ => {
                let text = scalar_text(value).ok_or_else(|| file_error("a string or a number"))?;
                let argument = OsString::from(format!("{spelling}={text}"));
                check_argument(command, &argument, path, key)?;
                arguments.push(argument);
            }
        }
    }
    Ok(arguments)
}

/// A string or number as the text it would be on the command line; `None` for other types.
fn scalar_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(number) => Some(number.to_string()),
        toml::Value::Float(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Parses `argument` alone, so a bad value is reported with the file and key it came
/// from rather than as if it had been typed. (clap's value parsers cannot be called
/// directly; a command line of one argument runs the same one.)
fn check_argument(
    command: &Command,
    argument: &OsStr,
    path: &Path,
    key: &str,
) -> Result<(), ConfigError> {
    command
        .clone()
        .try_get_matches_from([OsStr::new("r0c"), argument])
        .map(drop)
        .map_err(|error| ConfigError::FileValue {
            path: path.to_owned(),
            key: key.to_owned(),
            problem: super::clap_error(&error).to_string(),
        })
}

/// The effective flags of `matches` (command line, file and defaults merged) as a TOML
/// file that [`arguments_from_file`] reads back to the same flags: every settable argument
/// in the order of `--help`, each under its help text; one without a value is commented out.
pub(super) fn render(command: &Command, matches: &ArgMatches) -> String {
    let mut out = String::from(
        "# r0c configuration: every flag, keyed by its long name (`-` and `_` both work).\n\
         # Load it with `r0c --config FILE`; flags on the command line override the file.\n",
    );
    for entry in entries(command, matches) {
        out.push_str(&format!("\n# {}\n", entry.help.replace('\n', " ")));
        out.push_str(&entry.line);
        out.push('\n');
    }
    out
}

/// The effective flags as (key, its line in [`render`]'s file), for telling what changed
/// between two parses of the configuration (the reload on SIGHUP).
pub(super) fn effective(command: &Command, matches: &ArgMatches) -> Vec<(String, String)> {
    entries(command, matches)
        .into_iter()
        .map(|entry| (entry.key, entry.line))
        .collect()
}

/// One settable flag as the file shows it.
struct Entry {
    key: String,
    help: String,
    line: String,
}

/// Every settable flag of `command` with its effective value in `matches`, in `--help` order.
fn entries(command: &Command, matches: &ArgMatches) -> Vec<Entry> {
    let mut entries = Vec::new();
    for arg in command.get_arguments() {
        let Some(key) = key_of(arg) else {
            continue;
        };
        let id = arg.get_id().as_str();
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let raw: Vec<String> = matches
            .get_raw(id)
            .into_iter()
            .flatten()
            .map(|value| value.to_string_lossy().into_owned())
            .collect();
        let line = match arg.get_action() {
            ArgAction::SetTrue | ArgAction::SetFalse => {
                let used = matches.value_source(id) == Some(ValueSource::CommandLine);
                format!("{key} = {used}")
            }
            ArgAction::Count => format!("{key} = {}", matches.get_count(id)),
            ArgAction::Append => {
                let items = raw.into_iter().map(toml::Value::String).collect();
                format!("{key} = {}", toml::Value::Array(items))
            }
            // A flag given twice keeps its last value (`args_override_self`).
            _ => match raw.last() {
                None => format!("# {key} ="),
                Some(value) => format!("{key} = {}", scalar_value(value)),
            },
        };
        entries.push(Entry { key, help, line });
    }
    entries
}

/// A command-line value as TOML: an integer where the text is one exactly (`2323`), else a
/// string, which reads back to the same text either way.
fn scalar_value(text: &str) -> toml::Value {
    match text.parse::<i64>() {
        Ok(number) if number.to_string() == text => toml::Value::Integer(number),
        _ => toml::Value::String(text.to_owned()),
    }
}
