//! The manual page (`--print-man`) and shell completions (`--print-completions`), both made
//! from the one clap definition of the flags, and the `backup` subcommand's command line.
//!
//! The subcommands (`backup`, `import`, `export`) are parsed before the server's flags (an
//! integer first argument is r0c's positional form, any other word would be a stray
//! argument), so they are not subcommands of the flags' clap command; they are described
//! here as clap commands of their own, which the manual and the completions include, and
//! `backup`'s is also its parser.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, Command, ValueHint};

use super::ConfigError;

/// What `r0c backup` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupRequest {
    /// Copy the database `database` to `to`.
    Copy { database: PathBuf, to: PathBuf },
    /// Print this help and exit.
    Help(String),
}

/// `r0c backup PATH [--dir DIR]`; the flags and help text are the manual's too.
fn backup_command() -> Command {
    Command::new("backup")
        .about(
            "copy the chat database while the server runs (SQLite's online backup: a consistent \
             snapshot; the server is not contacted and does not pause)",
        )
        .arg(
            Arg::new("path")
                .value_name("PATH")
                .required(true)
                .value_parser(clap::value_parser!(PathBuf))
                .value_hint(ValueHint::FilePath)
                .help("where the copy goes: written beside it first, then renamed into place"),
        )
        .arg(
            Arg::new("dir")
                .long("dir")
                .value_name("PATH")
                .value_parser(clap::value_parser!(PathBuf))
                .value_hint(ValueHint::DirPath)
                .help("the server's app directory, holding r0c.db (default: ~/.r0c)"),
        )
}

/// `import` and `export` as the manual and the completions show them; `migrate` parses them.
fn migration_commands() -> [Command; 2] {
    [
        Command::new("import")
            .about("import r0c 1.6.1's chat logs into the database (r0c import --help)"),
        Command::new("export")
            .about("export a channel's history in r0c 1.6.1's log format (r0c export --help)"),
    ]
}

/// Parses `argv` (program name first) when its first argument is `backup`.
pub fn parse_backup(argv: &[OsString]) -> Option<Result<BackupRequest, ConfigError>> {
    if argv.get(1).and_then(|arg| arg.to_str()) != Some("backup") {
        return None;
    }
    let command = backup_command().bin_name("r0c backup");
    let matches = match command.try_get_matches_from(&argv[1..]) {
        Ok(matches) => matches,
        Err(error) if error.kind() == clap::error::ErrorKind::DisplayHelp => {
            return Some(Ok(BackupRequest::Help(error.render().to_string())));
        }
        Err(error) => return Some(Err(super::clap_error(&error))),
    };
    let app_dir = matches
        .get_one::<PathBuf>("dir")
        .cloned()
        .unwrap_or_else(super::default_app_dir_of_current_user);
    let to = matches.get_one::<PathBuf>("path").cloned()?;
    Some(Ok(BackupRequest::Copy {
        database: app_dir.join("r0c.db"),
        to,
    }))
}

/// The manual page in roff: clap_mangen's sections from the flags, then the subcommands,
/// signals, files and environment, which clap does not describe.
pub(super) fn man_page(command: &Command) -> String {
    let command = command.clone().long_about(
        "r0c is a chat server for telnet, netcat, ssh, IRC clients and web browsers, with an \
         irssi-like VT100 interface, compatible with r0c 1.6.1. The flags -pt, -pn, -tpt, -tpn, \
         -pw, -nc and -ssh are also accepted with one dash, as r0c 1.6.1 spells them, and \
         `r0c TELNET_PORT NETCAT_PORT PASSWORD` is its positional form. Every flag can also be \
         set in the TOML config file (--config, or r0c.toml in the app directory), keyed by \
         its long name.",
    );
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = clap_mangen::Man::new(command).render(&mut out);
    let mut page = String::from_utf8_lossy(&out).into_owned();
    page.push_str(".SH COMMANDS\n");
    let mut subcommands = vec![backup_command()];
    subcommands.extend(migration_commands());
    for mut subcommand in subcommands {
        let name = subcommand.get_name().to_owned();
        let usage = subcommand
            .render_usage()
            .to_string()
            .replace("Usage: ", "")
            .replace(&name, "");
        page.push_str(&format!(
            ".TP\n\\fBr0c {name}\\fR{}\n{}\n",
            roff_escape(&usage),
            roff_escape(
                &subcommand
                    .get_about()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            )
        ));
        for arg in subcommand.get_arguments() {
            let Some(help) = arg.get_help() else { continue };
            if matches!(arg.get_action(), clap::ArgAction::Help) {
                continue;
            }
            let name = match arg.get_long() {
                Some(long) => format!("--{long} {}", value_name(arg)),
                None => value_name(arg),
            };
            page.push_str(&format!(
                ".RS\n.TP\n{}\n{}\n.RE\n",
                roff_escape(&name),
                roff_escape(&help.to_string())
            ));
        }
    }
    page.push_str(EXTRA_SECTIONS);
    page
}

/// An argument's value name as the usage shows it.
fn value_name(arg: &Arg) -> String {
    arg.get_value_names()
        .and_then(|names| names.first())
        .map_or_else(String::new, ToString::to_string)
}

/// Text safe in a roff line: backslashes doubled, dashes unambiguous, no leading control dot.
fn roff_escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('-', "\\-");
    match escaped.chars().next() {
        Some('.' | '\'') => format!("\\&{escaped}"),
        _ => escaped,
    }
}

/// What the manual says beyond the flags, in roff.
const EXTRA_SECTIONS: &str = r#".SH SIGNALS
.TP
\fBSIGHUP\fR
Reload: read the config file and the MOTD again, load the TLS certificate and the ssh host key
again if their files changed, and apply new limits (timeouts, \-\-max\-per\-ip, \-\-conn\-rate,
\-\-limit\-exempt, \-\-msg\-rate) to new connections. Connected users notice nothing. The log
says what changed and which changed flags need a restart (ports, the data directory, history
sizes, the password...). A config file that does not parse is reported and the running
configuration is kept. \fBsystemctl reload r0c\fR sends it.
.TP
\fBSIGTERM\fR, \fBSIGINT\fR
Shut down: stop accepting, say goodbye to every client, commit the history and exit within a few
seconds. A third signal exits at once. With \-\-thr\-mon the first one starts the state reports
instead.
.SH FILES
.TP
\fI~/.r0c/\fR (\-\-dir)
The app directory: \fIr0c.db\fR (the chat database, SQLite in WAL mode), \fIr0c.toml\fR (the
config file, read when it exists), \fIpassword.txt\fR, \fIcert.pem\fR and
\fIssh_host_ed25519_key\fR (generated on first start), \fIlog/wire/\fR (\-\-log\-rx, \-\-log\-tx).
.SH BACKUP AND RESTORE
\fBr0c backup /path/to/copy.db \-\-dir /var/lib/r0c\fR copies the database while the server runs.
To restore, stop the server, move \fIr0c.db\fR and any \fIr0c.db\-wal\fR and \fIr0c.db\-shm\fR out
of the app directory, copy the backup to \fIr0c.db\fR there (owned by the server's user, mode
0600) and start the server.
.SH ENVIRONMENT
.TP
\fBRUST_LOG\fR
The log filter when neither \-v nor \-vv is given (for example \fIinfo\fR or \fIr0c=debug\fR);
warnings only without it.
.TP
\fBNOTIFY_SOCKET\fR, \fBWATCHDOG_USEC\fR
Set by systemd for Type=notify: r0c reports when it is ready, reloading and stopping, and
pings the watchdog.
.SH EXIT STATUS
0 after a clean shutdown, 1 when the server cannot start, 2 for a command line or config file
that cannot be used.
.SH SEE ALSO
The README of the project (Deployment, Command line), \fBman \-l <(r0c \-\-print\-man)\fR.
"#;

/// The completion script for `shell` (bash, zsh or fish), flags and subcommands.
pub(super) fn completions(command: &Command, shell: &str) -> Result<String, ConfigError> {
    let shell = match shell {
        "bash" => clap_complete::Shell::Bash,
        "zsh" => clap_complete::Shell::Zsh,
        "fish" => clap_complete::Shell::Fish,
        other => {
            return Err(ConfigError::Usage(format!(
                "no completions for the shell '{other}' (there are: bash, zsh, fish)"
            )));
        }
    };
    let mut command = command.clone().subcommand(backup_command());
    for subcommand in migration_commands() {
        command = command.subcommand(subcommand);
    }
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "r0c", &mut out);
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_takes_a_path_and_a_directory() {
        let argv: Vec<OsString> = ["r0c", "backup", "/tmp/copy.db", "--dir", "/srv/r0c"]
            .map(OsString::from)
            .to_vec();
        assert_eq!(
            parse_backup(&argv).map(Result::ok),
            Some(Some(BackupRequest::Copy {
                database: PathBuf::from("/srv/r0c/r0c.db"),
                to: PathBuf::from("/tmp/copy.db"),
            }))
        );
    }

    #[test]
    fn backup_without_a_path_is_a_usage_error() {
        let argv: Vec<OsString> = ["r0c", "backup"].map(OsString::from).to_vec();
        assert!(matches!(
            parse_backup(&argv),
            Some(Err(ConfigError::Usage(_)))
        ));
    }

    #[test]
    fn only_the_word_backup_selects_it() {
        for first in ["23", "-pt", "import", "backups"] {
            let argv: Vec<OsString> = ["r0c", first].map(OsString::from).to_vec();
            assert!(parse_backup(&argv).is_none(), "{first}");
        }
    }
}
