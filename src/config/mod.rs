//! The command line: r0c 1.6.1's flags (and its legacy `r0c PORT PORT PASSWORD` form)
//! parsed into raw arguments, completed by the TOML config file (`file`), then resolved
//! once into the validated [`Config`] the rest of the program uses.
//!
//! The steps live in one file each: `flags` declares the raw flags (clap's `RawArgs`, their
//! defaults and help), `r0c_compat` rewrites r0c's spellings (single-dash long flags, the
//! positional form, r0c's flags without effect), `resolved` turns the raw flags into the
//! validated [`Config`], `irc` reads the IRC bridge's `--ircn`/`--ircb` specs, and `file` adds
//! the config file's flags. A leaf: nothing here imports another module of the server.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{ArgMatches, FromArgMatches};

mod file;
mod flags;
mod irc;
mod manual;
mod r0c_compat;
mod resolved;
#[cfg(test)]
mod tests;

pub use irc::{IrcLink, IrcNetwork};
pub use manual::{BackupRequest, parse_backup};
pub use resolved::{
    ClusterRetention, ClusterSettings, Config, DEFAULT_CLAIM_DAYS, DEFAULT_MAX_CHANNELS,
    DEFAULT_MAX_WINDOWS_PER_USER, DiagSettings, FloodLimits, LogFormat, PasswordSource,
    SNAPSHOT_EVERY, SNAPSHOT_MAX_BYTES, STREAM_MAX_AGE, STREAM_MAX_BYTES, SshSettings, TlsSettings,
    TlsVersion,
};

/// The version `r0c --version` and the startup report show: the package's version and the
/// git commit it was built from (see build.rs; "unknown" when built outside a checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("R0C_GIT_COMMIT"),
    ")"
);

use flags::{RawArgs, command};
use r0c_compat::{clap_error, clap_outcome, is_integer, parse_legacy, single_dash_to_double};
use resolved::resolve;

/// What the command line asks for.
// There is one per process, so boxing the large `Config` would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Invocation {
    /// Run the server with this configuration.
    Run(Config),
    /// Print `output` (help, version or the legacy `-h` text; it ends with a newline)
    /// to stdout and exit with `status`.
    Exit { output: String, status: i32 },
}

/// Why the command line cannot be used. `Display` is one line meant for the user.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// clap rejected the arguments (unknown flag, missing or malformed value); this is
    /// the first line of its message.
    #[error("{0}")]
    Usage(String),
    /// An argument of the legacy `r0c PORT PORT PASSWORD` form is unusable.
    #[error("argument {position} '{value}' {problem}")]
    Legacy {
        position: usize,
        value: String,
        problem: &'static str,
    },
    /// Two listeners were given the same non-zero port.
    #[error("port {port} was specified for both {first} and {second}")]
    DuplicatePort {
        port: u16,
        first: &'static str,
        second: &'static str,
    },
    /// Trimming must drop at least one message and leave at least one.
    #[error("--hist-tsz ({tsz}) must be at least 1 and smaller than --hist-mem ({mem})")]
    HistoryTrim { tsz: usize, mem: usize },
    /// An `--ircn` value without `netname,hostname,[+]port,nick`.
    #[error("invalid argument to --ircn: [{0}]")]
    IrcNet(String),
    /// An `--ircb` value that is not `netname,channel,channel`.
    #[error("invalid argument to --ircb: [{0}]")]
    IrcBridge(String),
    /// An `--ircb` naming a network that no `--ircn` defines.
    #[error("ircnet '{net}' (mentioned in --ircb {arg}) not defined by --ircn")]
    IrcUnknownNet { net: String, arg: String },
    /// An entry of `--proxy` that is not an IP address.
    #[error("invalid address '{0}' in --proxy")]
    Proxy(String),
    /// TLS older than 1.2 was asked for; rustls cannot speak it.
    #[error(
        "{0}: TLS 1.0 and 1.1 and their ciphers are not supported (rustls cannot speak them); put a TLS terminator such as stunnel in front for old clients"
    )]
    OldTls(String),
    /// `--tls-min` names no TLS version.
    #[error("invalid argument to --tls-min: {0} (use TLSv1_2 or TLSv1_3)")]
    TlsMin(String),
    /// `--cert` and `--key` must be given together.
    #[error("--cert and --key go together: give both or neither")]
    CertWithoutKey,
    /// A flag whose feature this version does not have yet (see `UNAVAILABLE`).
    #[error("{0} is not available yet in this version of r0c")]
    Unavailable(&'static str),
    /// The admin password would be empty, which would let anyone become admin.
    #[error("the admin password from {0} is empty")]
    EmptyPassword(String),
    /// `password.txt` exists but cannot be read.
    #[error("cannot read {}: {source}", .path.display())]
    PasswordFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `password.txt` is not UTF-8.
    #[error("{} is not valid UTF-8", .0.display())]
    PasswordEncoding(PathBuf),
    /// The config file cannot be read.
    #[error("cannot read the config file {}: {source}", .path.display())]
    FileRead {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("{}:{line}: {message}", .path.display())]
    FileSyntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A key of the config file names no flag.
    #[error("{}: unknown key '{key}' (the keys are the long flag names, like pt or no-flood-limit)", .path.display())]
    FileUnknownKey { path: PathBuf, key: String },
    /// A key of the config file names a flag that only makes sense on the command line.
    #[error("{}: '{key}' can only be given on the command line", .path.display())]
    FileKeyNotSettable { path: PathBuf, key: String },
    /// A value of the config file has the wrong TOML type for its flag.
    #[error("{}: '{key}' must be {expected}", .path.display())]
    FileType {
        path: PathBuf,
        key: String,
        expected: &'static str,
    },
    /// A value of the config file is refused by its flag's value parser.
    #[error("{}: '{key}': {problem}", .path.display())]
    FileValue {
        path: PathBuf,
        key: String,
        problem: String,
    },
    /// The flags from the config file do not go together with the command line.
    #[error("{}: {problem}", .path.display())]
    FileArguments { path: PathBuf, problem: String },
}

impl ConfigError {
    /// The process exit status for any configuration error, as argparse and clap use.
    pub const EXIT_STATUS: i32 = 2;
}

/// The client programs bundled with the server, for `--print-client`.
const BUNDLED_CLIENTS: [(&str, &str); 1] = [("bash", include_str!("../../clients/bash.sh"))];

/// What the defaults depend on besides argv; a value rather than a lookup so tests do
/// not depend on who runs them.
struct Host {
    /// Root gets r0c's well-known ports 23 and 531 by default.
    is_root: bool,
    /// `$HOME`, under which the app dir `.r0c` lives by default.
    home: Option<PathBuf>,
}

impl Host {
    /// The process's own user and `$HOME`.
    fn current() -> Host {
        Host {
            is_root: running_as_root(),
            home: std::env::var_os("HOME")
                .filter(|home| !home.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// Whether the process runs as root (effective uid 0).
fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Parses a command line (program name first, as `std::env::args_os()` yields it).
pub fn parse_args<I, T>(args: I) -> Result<Invocation, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    parse_args_in(args, &Host::current())
}

fn parse_args_in<I, T>(args: I, host: &Host) -> Result<Invocation, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut argv: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // Like r0c, an integer first argument selects the legacy positional form.
    if argv.get(1).and_then(|a| a.to_str()).is_some_and(is_integer) {
        return parse_legacy(&argv, host);
    }
    for arg in argv.iter_mut().skip(1) {
        *arg = single_dash_to_double(std::mem::take(arg));
    }
    let command = command(host);
    let matches = match command.clone().try_get_matches_from(&argv) {
        Ok(matches) => matches,
        Err(err) => return clap_outcome(&err),
    };
    let matches = with_config_file(&command, argv, matches, host)?;
    let raw = RawArgs::from_arg_matches(&matches).map_err(|err| clap_error(&err))?;
    if let Some(name) = &raw.print_client {
        return match BUNDLED_CLIENTS.iter().find(|(known, _)| known == name) {
            Some((_, script)) => Ok(Invocation::Exit {
                output: (*script).to_owned(),
                status: 0,
            }),
            None => Err(ConfigError::Usage(format!(
                "there is no bundled client named '{name}' (there is: bash)"
            ))),
        };
    }
    if raw.print_man {
        return Ok(Invocation::Exit {
            output: manual::man_page(&command),
            status: 0,
        });
    }
    if let Some(shell) = &raw.print_completions {
        return Ok(Invocation::Exit {
            output: manual::completions(&command, shell)?,
            status: 0,
        });
    }
    let print_config = raw.print_config;
    let mut config = resolve(raw, &matches, host)?;
    config.effective_flags = file::effective(&command, &matches);
    if print_config {
        return Ok(Invocation::Exit {
            output: file::render(&command, &matches),
            status: 0,
        });
    }
    Ok(Invocation::Run(config))
}

/// Adds the flags of the config file (see [`file`]) that the command line `argv`, parsed
/// as `cli`, does not give, and parses again; without a config file, `cli` is the answer.
fn with_config_file(
    command: &clap::Command,
    mut argv: Vec<OsString>,
    cli: ArgMatches,
    host: &Host,
) -> Result<ArgMatches, ConfigError> {
    let Some(path) = file::file_to_read(&cli, &default_app_dir(host.home.as_deref())) else {
        return Ok(cli);
    };
    argv.extend(file::arguments_from_file(&path, command, &cli)?);
    command
        .clone()
        .try_get_matches_from(argv)
        .map_err(|err| ConfigError::FileArguments {
            path,
            problem: clap_error(&err).to_string(),
        })
}

/// `~/.r0c`, or `./.r0c` without a home directory.
fn default_app_dir(home: Option<&Path>) -> PathBuf {
    home.unwrap_or(Path::new(".")).join(".r0c")
}

/// The app dir r0c 1.6.1 and this server use when none is given: `~/.r0c` of the user
/// running the program (`r0c import` reads the original's logs from there by default).
pub fn default_app_dir_of_current_user() -> PathBuf {
    default_app_dir(Host::current().home.as_deref())
}
