//! r0c compatibility: what r0c 1.6.1's argparse accepted and clap does not, rewritten
//! before or after clap (single-dash long flags such as `-pt`, the positional
//! `r0c PORT PORT PASSWORD` form, r0c's help layout), and the r0c flags that have no effect or
//! no feature here.

use std::ffi::OsString;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

use super::flags::{RawArgs, command, default_ports};
use super::resolved::{DEFAULT_PASSWORD, resolve};
use super::{ConfigError, Host, Invocation, default_app_dir, with_config_file};

/// r0c's argparse flags that have one dash and a long name. clap only knows `--name`,
/// so these are rewritten to that form before clap sees them.
pub(super) const SINGLE_DASH_LONG: &[&str] = &["pt", "pn", "tpt", "tpn", "pw", "nc", "ssh"];

/// Tells whether a flag was used.
pub(super) type FlagUsed = fn(&RawArgs) -> bool;

/// Flags of r0c 1.6.1 whose features this version does not have yet. Using one is an
/// error rather than being ignored; remove an entry when its feature lands. Every flag of
/// r0c 1.6.1 is built now, so the list is empty; it stays for features still to come.
pub(super) const UNAVAILABLE: &[(&str, FlagUsed)] = &[];

/// Flags of r0c that mean nothing in this implementation, as (clap id, flag, why).
/// They are accepted, and using one gives a startup notice.
#[rustfmt::skip]
pub(super) const NO_EFFECT: &[(&str, &str, &str)] = &[
    ("no_poll", "--no-poll", "client sockets are always watched with epoll"),
    ("poll", "--poll", "client sockets are always watched with epoll"),
    ("reuseaddr", "--reuseaddr", "SO_REUSEADDR is always set"),
    ("rot_msg", "--rot-msg", "chat history is kept in a SQLite database, not in rotated log files"),
];

/// What `--old-tls` cannot do here, printed once at startup instead of refusing to start.
pub(super) const OLD_TLS_NOTICE: &str = "--old-tls: TLS 1.0 and 1.1 and their ciphers are not supported (rustls cannot speak them); the TLS listeners accept TLS 1.2 and 1.3, so put a TLS terminator such as stunnel in front for old clients";

/// `-pt`, `-pt=N` and the other single-dash long flags become `--pt`, `--pt=N`.
pub(super) fn single_dash_to_double(arg: OsString) -> OsString {
    let Some(rest) = arg.to_str().and_then(|a| a.strip_prefix('-')) else {
        return arg;
    };
    let name = rest.split_once('=').map_or(rest, |(name, _)| name);
    if SINGLE_DASH_LONG.contains(&name) {
        format!("--{rest}").into()
    } else {
        arg
    }
}

/// Help and version become output to print; anything else is a usage error.
pub(super) fn clap_outcome(err: &clap::Error) -> Result<Invocation, ConfigError> {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp => Ok(Invocation::Exit {
            output: single_dash_help(&err.render().to_string()),
            status: 0,
        }),
        ErrorKind::DisplayVersion => Ok(Invocation::Exit {
            output: err.render().to_string(),
            status: 0,
        }),
        _ => Err(clap_error(err)),
    }
}

/// The first line of clap's message, without its `error: ` prefix (the caller adds
/// its own) and with the single-dash flags spelled as the user typed them; the usage
/// and tip lines that follow are left out.
pub(super) fn clap_error(err: &clap::Error) -> ConfigError {
    let text = err.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    for name in SINGLE_DASH_LONG {
        for end in [' ', '\''] {
            line = line.replace(&format!("'--{name}{end}"), &format!("'-{name}{end}"));
        }
    }
    ConfigError::Usage(line)
}

/// Shows the single-dash flags as r0c spells them: clap lists `--pt <PORT>` in the
/// long-flag column, this moves `-pt <PORT>` to the short-flag column, keeping the
/// help text aligned.
pub(super) fn single_dash_help(help: &str) -> String {
    let mut help = help.to_owned();
    for arg in RawArgs::command().get_arguments() {
        let Some(name) = arg
            .get_long()
            .filter(|long| SINGLE_DASH_LONG.contains(long))
        else {
            continue;
        };
        let value = arg
            .get_value_names()
            .and_then(|names| names.first())
            .map(ToString::to_string)
            .unwrap_or_default();
        let clap_form = format!("      --{name} <{value}>");
        let r0c_form = format!("  -{name} <{value}>");
        help = help.replace(
            &clap_form,
            &format!("{r0c_form:<width$}", width = clap_form.len()),
        );
    }
    help
}

/// The legacy form: `r0c TELNET_PORT [NETCAT_PORT [PASSWORD]]`, everything else at its
/// default (or the config file's), but the web terminal only if the file sets it; a last
/// argument containing `-h` prints what the three arguments are.
pub(super) fn parse_legacy(argv: &[OsString], host: &Host) -> Result<Invocation, ConfigError> {
    let app_dir = default_app_dir(host.home.as_deref());
    if argv
        .last()
        .is_some_and(|last| last.to_string_lossy().contains("-h"))
    {
        let [telnet, netcat] = default_ports(host);
        // Help names where the password comes from, never the password: help output ends up
        // in terminals, screenshots and bug reports. The well-known default is no secret.
        let password_file = app_dir.join("password.txt");
        let password = if password_file.is_file() {
            format!("the contents of {}", password_file.display())
        } else {
            DEFAULT_PASSWORD.to_owned()
        };
        let output = format!(
            "\narg 1: Telnet port (0=disable), default: {telnet}\n\
             arg 2: NetCat port (0=disable), default: {netcat}\n\
             arg 3: admin password, default: {password}\n\n"
        );
        return Ok(Invocation::Exit { output, status: 0 });
    }
    let legacy_error = |position: usize, problem| ConfigError::Legacy {
        position,
        // The third argument is the password, which an error message must not repeat.
        value: if position == 3 {
            "(the password)".to_owned()
        } else {
            argv[position].to_string_lossy().into_owned()
        },
        problem,
    };
    let port = |position: usize| {
        argv[position]
            .to_str()
            .and_then(|a| a.trim().parse::<u16>().ok())
            .ok_or_else(|| legacy_error(position, "is not a port number (0 to 65535)"))
    };
    if argv.len() > 4 {
        return Err(legacy_error(
            4,
            "is one too many: the positional form is `r0c TELNET_PORT NETCAT_PORT PASSWORD`",
        ));
    }
    let command = command(host);
    let matches = command
        .clone()
        .try_get_matches_from(&argv[..1])
        .map_err(|err| clap_error(&err))?;
    // The config file in the default app dir applies here too; the positional values
    // override it like flags would.
    let matches = with_config_file(&command, argv[..1].to_vec(), matches, host)?;
    let mut raw = RawArgs::from_arg_matches(&matches).map_err(|err| clap_error(&err))?;
    // r0c started only its telnet and netcat ports here; the web terminal and the ssh
    // listener, new in this version, listen in this form only when the config file asks.
    if matches.value_source("web_port") != Some(ValueSource::CommandLine) {
        raw.web_port = 0;
    }
    // The same for the ssh and IRC listeners.
    if matches.value_source("ssh_port") != Some(ValueSource::CommandLine) {
        raw.ssh_port = 0;
    }
    if matches.value_source("irc_port") != Some(ValueSource::CommandLine) {
        raw.irc_port = 0;
    }
    raw.telnet_port = port(1)?;
    if argv.len() > 2 {
        raw.netcat_port = port(2)?;
    }
    if let Some(password) = argv.get(3) {
        let password = password
            .to_str()
            .ok_or_else(|| legacy_error(3, "is not valid UTF-8"))?;
        raw.password = Some(password.to_owned());
    }
    let mut config = resolve(raw, &matches, host)?;
    config.effective_flags = super::file::effective(&command, &matches);
    Ok(Invocation::Run(config))
}

/// What Python's `int()` accepts, roughly: optional sign, digits, surrounding blanks.
pub(super) fn is_integer(arg: &str) -> bool {
    let arg = arg.trim();
    let digits = arg.strip_prefix(['+', '-']).unwrap_or(arg);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}
