//! The command line: r0c 1.6.1's flags (and its legacy `r0c PORT PORT PASSWORD` form)
//! parsed into raw arguments, completed by the TOML config file (`file`), then resolved
//! once into the validated [`Config`] the rest of the program uses.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser};

mod file;
#[cfg(test)]
mod tests;

/// The admin password when neither `-pw` nor `password.txt` gives one.
const DEFAULT_PASSWORD: &str = "hunter2";
/// Salt mixed into IP-derived nicknames; changing it renames every auto-nick.
const DEFAULT_NICK_SALT: &str = "lammo/";
/// r0c's `--i-rate`: a burst of 4 IRC messages, then one every 2 seconds.
const DEFAULT_IRC_RATE: &str = "4,2";
/// r0c's CTCP VERSION reply, kept so IRC users see the same answer as before.
const DEFAULT_CTCP_VERSION: &str = "r0c v1.6.1";
// Limits that protect a public server; see the `Config` fields of the same names.
const DEFAULT_FIRST_INPUT_TIMEOUT: u64 = 60;
const DEFAULT_STALL_TIMEOUT: u64 = 120;
const DEFAULT_MAX_PER_IP: usize = 16;
const DEFAULT_CONN_RATE: usize = 32;
const DEFAULT_MSG_RATE: &str = "8,1";
// r0c's history limits; see the `Config` fields of the same names.
const DEFAULT_HIST_RD: usize = 65535;
const DEFAULT_HIST_MEM: usize = 98303;
const DEFAULT_HIST_TSZ: usize = 16384;
/// Default telnet and netcat ports for ordinary users.
const USER_PORTS: [&str; 2] = ["2323", "1531"];
/// Default telnet and netcat ports as root, who may bind the well-known telnet port.
const ROOT_PORTS: [&str; 2] = ["23", "531"];
/// Default port of the web terminal.
const DEFAULT_WEB_PORT: u16 = 8023;

/// r0c's argparse flags that have one dash and a long name. clap only knows `--name`,
/// so these are rewritten to that form before clap sees them.
const SINGLE_DASH_LONG: &[&str] = &["pt", "pn", "tpt", "tpn", "pw", "nc"];

/// Tells whether a flag was used.
type FlagUsed = fn(&RawArgs) -> bool;

/// Flags of r0c 1.6.1 whose features this version does not have yet. Using one is an
/// error rather than being ignored; remove an entry when its feature lands. Every flag of
/// r0c 1.6.1 is built now, so the list is empty; it stays for features still to come.
const UNAVAILABLE: &[(&str, FlagUsed)] = &[];

/// Flags of r0c that mean nothing in this implementation, as (clap id, flag, why).
/// They are accepted, and using one gives a startup notice.
#[rustfmt::skip]
const NO_EFFECT: &[(&str, &str, &str)] = &[
    ("no_poll", "--no-poll", "client sockets are always watched with epoll"),
    ("poll", "--poll", "client sockets are always watched with epoll"),
    ("reuseaddr", "--reuseaddr", "SO_REUSEADDR is always set"),
    ("rot_msg", "--rot-msg", "chat history is kept in a SQLite database, not in rotated log files"),
];

/// What `--old-tls` cannot do here, printed once at startup instead of refusing to start.
const OLD_TLS_NOTICE: &str = "--old-tls: TLS 1.0 and 1.1 and their ciphers are not supported (rustls cannot speak them); the TLS listeners accept TLS 1.2 and 1.3, so put a TLS terminator such as stunnel in front for old clients";

/// r0c's default `--hist-mem` is six times its default `--hist-tsz` (minus one): when only
/// one of them is given, the other is derived with this ratio so the pair stays usable.
const HIST_MEM_PER_TSZ: usize = 6;

/// One `--ircn`: an IRC network the bridge connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrcNetwork {
    /// The name `--ircb` refers to it by, lower-cased.
    pub name: String,
    /// Host name or address of the IRC server.
    pub host: String,
    /// TCP port of the IRC server.
    pub port: u16,
    /// The port was given as `+port`: connect with TLS.
    pub tls: bool,
    /// The nick the bridge asks for (a digit is appended while it is taken).
    pub nick: String,
    /// The user name sent in USER (r0c used the nick; we use the 5th field when given).
    pub user: String,
    /// Sent as PASS before registering, when given.
    pub password: Option<String>,
}

/// One `--ircb`: an IRC channel of a network bridged to an r0c channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrcLink {
    /// The `--ircn` name of the network.
    pub network: String,
    /// The IRC channel, lower-cased, with its `#`.
    pub irc_channel: String,
    /// The r0c channel, as [`crate::world::normalize_channel_name`] gives it (no `#`).
    pub r0c_channel: String,
}

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

/// The oldest TLS version the TLS listeners accept (`--tls-min`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3 (the default).
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// How the TLS listeners are set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// `--tls-min`: the oldest version accepted.
    pub min_version: TlsVersion,
    /// `--ciphers`: rustls cipher-suite names to offer (all of the provider's if empty).
    pub ciphers: Vec<String>,
    /// `--cert`: the certificate chain (PEM); with `key`. Default `<app>/cert.pem`, which
    /// holds key and certificate together as in r0c, and is generated on first start.
    pub cert: Option<PathBuf>,
    /// `--key`: the private key (PEM) for `cert`.
    pub key: Option<PathBuf>,
    /// `--tls-name`: host names of a generated certificate (default: this host and localhost).
    pub names: Vec<String>,
}

impl Default for TlsSettings {
    fn default() -> TlsSettings {
        TlsSettings {
            min_version: TlsVersion::Tls12,
            ciphers: Vec::new(),
            cert: None,
            key: None,
            names: Vec::new(),
        }
    }
}

/// r0c's wire debugging: console hexdumps, per-connection wire logs and `--dbg` lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiagSettings {
    /// `--hex-rx`: hexdump what clients send to the console.
    pub hex_rx: bool,
    /// `--hex-tx`: hexdump what clients are sent to the console.
    pub hex_tx: bool,
    /// `--hex-lim`: a chunk of this many bytes or more is shown as `[N byte]`, not dumped.
    pub hex_lim: u64,
    /// `--hex-w`: bytes per console hexdump line, a multiple of 8.
    pub hex_width: usize,
    /// `--log-rx`: write what clients send into their wire logs.
    pub log_rx: bool,
    /// `--log-tx`: write what clients are sent into their wire logs.
    pub log_tx: bool,
    /// `--dbg`: print telnet negotiations and terminal sizes as they happen.
    pub dbg: bool,
}

impl DiagSettings {
    /// Whether any of it is switched on; when not, the connections skip it with one branch.
    pub fn any(&self) -> bool {
        self.hex_rx || self.hex_tx || self.log_rx || self.log_tx || self.dbg
    }
}

impl Default for DiagSettings {
    fn default() -> DiagSettings {
        DiagSettings {
            hex_rx: false,
            hex_tx: false,
            hex_lim: 128,
            hex_width: 16,
            log_rx: false,
            log_tx: false,
            dbg: false,
        }
    }
}

/// Where the admin password came from; the startup output names it and warns about
/// the default one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// Neither `-pw` nor `password.txt`: the well-known `hunter2`.
    Default,
    /// The contents of this `password.txt`.
    File(PathBuf),
    /// `-pw` (or the third legacy positional argument).
    Flag,
}

/// The validated configuration the server runs with.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address the listeners bind (`-i`); IPv4 or IPv6.
    pub listen_ip: IpAddr,
    /// Plain telnet port (`-pt`); 0 disables the listener.
    pub telnet_port: u16,
    /// Raw TCP ("netcat") port (`-pn`); 0 disables the listener.
    pub netcat_port: u16,
    /// TLS telnet port (`-tpt`); 0 disables the listener.
    pub tls_telnet_port: u16,
    /// TLS netcat port (`-tpn`); 0 disables the listener.
    pub tls_netcat_port: u16,
    /// Web terminal port (`--web`): the page, its WebSocket and `/metrics`; 0 disables it.
    pub web_port: u16,
    /// The same under TLS (`--web-tls`), with the TLS listeners' certificate; 0 disables it.
    pub web_tls_port: u16,
    /// `--metrics-public`: `/metrics` answers every address, not only loopback.
    pub metrics_public: bool,
    /// The TLS settings, used when a TLS listener is enabled.
    pub tls: TlsSettings,
    /// Admin password for `/auth`.
    pub password: String,
    /// Where [`Config::password`] came from.
    pub password_source: PasswordSource,
    /// `--ara`: localhost is not automatically admin, it has to `/auth` too.
    pub admin_requires_auth: bool,
    /// `--nsalt`: salt for the nicknames derived from client IPs.
    pub nick_salt: String,
    /// `--proxy`: relays whose clients share one IP, so saved client configs are never
    /// loaded for connections from them.
    pub proxies: Vec<IpAddr>,
    /// `--no-all`: new client configs start with `@all`/`@everyone` hilights off.
    pub no_all: bool,
    /// `--motd`: file appended to the welcome text, re-read for every client.
    pub motd: Option<PathBuf>,
    /// `--dev`: dangerous shortcuts for development: CTRL-C typed in the wizard from
    /// 127.0.0.1 shuts the server down.
    pub dev: bool,
    /// `--wizard-timeout`: a client still in the first-connect wizard after this long is
    /// disconnected (r0c kicks after 600 s).
    pub wizard_timeout: std::time::Duration,
    /// `--first-input-timeout`: a connection that sends nothing at all for this long after
    /// connecting is closed (scanners and half-open connections).
    pub first_input_timeout: std::time::Duration,
    /// `--stall-timeout`: a client whose pending output has not moved for this long (it
    /// stopped reading) is disconnected.
    pub stall_timeout: std::time::Duration,
    /// `--max-per-ip`: connections at once from one IPv4 address or IPv6 /64; 0 = no limit.
    pub max_per_ip: usize,
    /// `--conn-rate`: new connections per address per 10 minutes; 0 = no limit.
    pub conn_rate: usize,
    /// `--limit-exempt`: networks whose addresses skip `max_per_ip` and `conn_rate` (loopback
    /// by default; `none` exempts nothing). The total cap applies to them all the same.
    pub limit_exempt: crate::front::admission::Exemptions,
    /// `--max-chans-per-user`: channels and conversations one user may have open.
    pub max_windows_per_user: usize,
    /// `--max-chans`: public and direct-message channels open at once on the server.
    pub max_channels: usize,
    /// `--msg-rate` and `--no-flood-limit`: flood control of what each user says.
    pub flood: crate::session::flood::FloodLimits,
    /// `--fsync`: every history commit is flushed to the disk (`synchronous=FULL`).
    pub fsync: bool,
    /// `--hist-rd`: most messages loaded from the database when a channel is created.
    pub hist_rd: usize,
    /// `--hist-mem`: most messages kept in memory per channel.
    pub hist_mem: usize,
    /// `--hist-tsz`: how many of the oldest messages are dropped when a channel
    /// exceeds `hist_mem`; always at least 1 and smaller than `hist_mem`.
    pub hist_tsz: usize,
    /// `-nc`: raise the open-files limit to this many so more clients fit; 0 keeps the
    /// OS default.
    pub max_clients: u64,
    /// `--i-rate`: IRC send limit as (burst of messages, seconds between messages after
    /// it); both above 0.
    pub irc_rate: (f64, f64),
    /// `--ctcp-ver`: reply to CTCP VERSION from IRC.
    pub ctcp_version: String,
    /// `--ircn`: the IRC networks to connect to, in the order given.
    pub irc_networks: Vec<IrcNetwork>,
    /// `--ircb`: which IRC channel of which network is bridged to which r0c channel; a
    /// message's bridge link number is an index into this list.
    pub irc_links: Vec<IrcLink>,
    /// `--irc-ca`: a PEM file of extra CA certificates trusted for TLS to IRC servers.
    pub irc_ca: Option<PathBuf>,
    /// `--irc-insecure`: TLS to IRC servers without verifying their certificates.
    pub irc_insecure: bool,
    /// `--dbg-irc`: log every IRC line sent and received.
    pub dbg_irc: bool,
    /// `--bench`: print the totals of joins, parts and messages every 2 seconds.
    pub bench: bool,
    /// Hexdumps, wire logs and `--dbg` lines.
    pub diag: DiagSettings,
    /// `--thr-mon`: the first SIGINT or SIGTERM starts a report of the server's state every
    /// 5 seconds instead of shutting down.
    pub thr_mon: bool,
    /// `--linemode`: telnet clients are asked to buffer lines and echo themselves.
    pub linemode: bool,
    /// `--dir`: holds `password.txt`, `cert.pem` and the database. Not created here.
    pub app_dir: PathBuf,
    /// Warnings to print at startup: localhost in `--proxy`, flags that have no effect.
    pub notices: Vec<String>,
}

impl Config {
    /// All defaults with both listeners on port 0 and bound to 127.0.0.1, the way every
    /// network test runs; no file is read.
    pub fn default_for_tests(app_dir: PathBuf) -> Config {
        Config {
            listen_ip: IpAddr::from([127, 0, 0, 1]),
            telnet_port: 0,
            netcat_port: 0,
            tls_telnet_port: 0,
            tls_netcat_port: 0,
            web_port: 0,
            web_tls_port: 0,
            metrics_public: false,
            password: DEFAULT_PASSWORD.to_owned(),
            password_source: PasswordSource::Default,
            admin_requires_auth: false,
            nick_salt: DEFAULT_NICK_SALT.to_owned(),
            proxies: Vec::new(),
            no_all: false,
            motd: None,
            wizard_timeout: std::time::Duration::from_secs(600),
            first_input_timeout: std::time::Duration::from_secs(DEFAULT_FIRST_INPUT_TIMEOUT),
            stall_timeout: std::time::Duration::from_secs(DEFAULT_STALL_TIMEOUT),
            max_per_ip: DEFAULT_MAX_PER_IP,
            conn_rate: DEFAULT_CONN_RATE,
            limit_exempt: crate::front::admission::Exemptions::loopback(),
            max_windows_per_user: crate::world::DEFAULT_MAX_WINDOWS_PER_USER,
            max_channels: crate::world::DEFAULT_MAX_CHANNELS,
            // Tests send faster than people type; the flood tests switch this on.
            flood: crate::session::flood::FloodLimits {
                enabled: false,
                ..crate::session::flood::FloodLimits::default()
            },
            dev: false,
            fsync: false,
            hist_rd: DEFAULT_HIST_RD,
            hist_mem: DEFAULT_HIST_MEM,
            hist_tsz: DEFAULT_HIST_TSZ,
            max_clients: 0,
            irc_rate: (4.0, 2.0),
            ctcp_version: DEFAULT_CTCP_VERSION.to_owned(),
            irc_networks: Vec::new(),
            irc_links: Vec::new(),
            irc_ca: None,
            irc_insecure: false,
            dbg_irc: false,
            bench: false,
            diag: DiagSettings::default(),
            thr_mon: false,
            linemode: false,
            tls: TlsSettings::default(),
            app_dir,
            notices: Vec::new(),
        }
    }

    /// The SQLite database holding chat history and client configs.
    pub fn database_path(&self) -> PathBuf {
        self.app_dir.join("r0c.db")
    }
}

/// The flags as clap parses them, named and defaulted as in r0c 1.6.1. The help text of
/// each is r0c's.
#[derive(Debug, Parser)]
#[command(
    name = "r0c",
    bin_name = "r0c",
    version,
    about = "retr0chat: a telnet/netcat chat server",
    infer_long_args = true,
    args_override_self = true
)]
struct RawArgs {
    /// address to listen on (IPv4 or IPv6)
    #[arg(short = 'i', value_name = "IP", default_value = "0.0.0.0")]
    listen_ip: IpAddr,
    /// telnet port (disable with 0)
    #[arg(long = "pt", value_name = "PORT", default_value = USER_PORTS[0])]
    telnet_port: u16,
    /// netcat port (disable with 0)
    #[arg(long = "pn", value_name = "PORT", default_value = USER_PORTS[1])]
    netcat_port: u16,
    /// TLS telnet port, e.g. 2424 (disable with 0)
    #[arg(long = "tpt", value_name = "PORT", default_value_t = 0)]
    tls_telnet_port: u16,
    /// TLS netcat port, e.g. 1515 (disable with 0)
    #[arg(long = "tpn", value_name = "PORT", default_value_t = 0)]
    tls_netcat_port: u16,
    /// web terminal port: the chat in a browser, and /metrics (disable with 0)
    #[arg(long = "web", value_name = "PORT", default_value_t = DEFAULT_WEB_PORT, help_heading = "web")]
    web_port: u16,
    /// web terminal port under TLS (https), with the TLS listeners' certificate (disable with 0)
    #[arg(
        long = "web-tls",
        value_name = "PORT",
        default_value_t = 0,
        help_heading = "web"
    )]
    web_tls_port: u16,
    /// serve /metrics to every address, not only to loopback
    #[arg(long, help_heading = "web")]
    metrics_public: bool,
    /// admin password (default: the contents of password.txt in the app dir, else hunter2)
    #[arg(long = "pw", value_name = "PWD")]
    password: Option<String>,
    /// admin-access requires auth (even for localhost)
    #[arg(long)]
    ara: bool,
    /// salt for generated nicknames based on IP
    #[arg(long, value_name = "TXT", default_value = DEFAULT_NICK_SALT)]
    nsalt: String,
    /// comma-sep. list of IPs which are relays to disable config persistence on
    #[arg(long, value_name = "A,A", default_value = "")]
    proxy: String,
    /// app directory for password.txt, cert.pem and the chat database (default: ~/.r0c)
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,

    /// log incoming traffic from clients
    #[arg(long, help_heading = "logging")]
    log_rx: bool,
    /// log outgoing traffic to clients
    #[arg(long, help_heading = "logging")]
    log_tx: bool,
    /// max num msgs per logfile
    #[arg(
        long,
        value_name = "N",
        default_value_t = 131072,
        help_heading = "logging"
    )]
    rot_msg: u64,

    /// specify allowed TLS ciphers; library default if unset
    #[arg(long, value_name = "S", default_value = "", help_heading = "tls")]
    ciphers: String,
    /// oldest ver to allow; SSLv3 TLSv1 TLSv1_1 TLSv1_2 TLSv1_3
    #[arg(long, value_name = "S", default_value = "", help_heading = "tls")]
    tls_min: String,
    /// support old clients (centos6/powershell), bad ciphers (refused: needs a TLS terminator)
    #[arg(long, help_heading = "tls")]
    old_tls: bool,
    /// certificate chain (PEM) for the TLS listeners; default: <app>/cert.pem, generated if missing
    #[arg(long, value_name = "PATH", help_heading = "tls")]
    cert: Option<PathBuf>,
    /// private key (PEM) for --cert
    #[arg(long, value_name = "PATH", help_heading = "tls")]
    key: Option<PathBuf>,
    /// host name for a generated certificate (repeatable; default: this host and localhost)
    #[arg(long, value_name = "NAME", action = ArgAction::Append, help_heading = "tls")]
    tls_name: Vec<String>,

    /// connect to an irc server; TXT is: "netname,hostname,[+]port,nick[,username[,password]]" (if password contains "," then use ", " as separator)
    #[arg(long, value_name = "TXT", action = ArgAction::Append, help_heading = "irc-bridge")]
    ircn: Vec<String>,
    /// bridge irc-netname N, irc-channel #C with r0c-channel #L
    #[arg(long, value_name = "N,C,L", action = ArgAction::Append, help_heading = "irc-bridge")]
    ircb: Vec<String>,
    /// rate limit; burst of B messages, then R seconds between each
    #[arg(long, value_name = "B,R", default_value = DEFAULT_IRC_RATE, value_parser = parse_rate, help_heading = "irc-bridge")]
    i_rate: (f64, f64),
    /// reply to CTCP VERSION
    #[arg(long, value_name = "S", default_value = DEFAULT_CTCP_VERSION, help_heading = "irc-bridge")]
    ctcp_ver: String,
    /// extra CA certificates (PEM) to trust for TLS to irc servers
    #[arg(long, value_name = "PATH", help_heading = "irc-bridge")]
    irc_ca: Option<PathBuf>,
    /// do not verify the certificates of irc servers (insecure)
    #[arg(long, help_heading = "irc-bridge")]
    irc_insecure: bool,

    /// default-disable @all / @everyone
    #[arg(long, help_heading = "ux")]
    no_all: bool,
    /// file to include at the end of the welcome-text (can be edited at runtime)
    #[arg(long, value_name = "PATH", help_heading = "ux")]
    motd: Option<PathBuf>,
    /// seconds a client may spend in the first-connect wizard
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    wizard_timeout: u64,
    /// seconds a new connection may stay silent before it is closed
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_FIRST_INPUT_TIMEOUT, help_heading = "limits")]
    first_input_timeout: u64,
    /// seconds a client may leave its output unread before it is disconnected
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_STALL_TIMEOUT, help_heading = "limits")]
    stall_timeout: u64,
    /// max connections at once per IPv4 address or IPv6 /64 (0 = no limit)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PER_IP, help_heading = "limits")]
    max_per_ip: usize,
    /// max new connections per address per 10 minutes (0 = no limit)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONN_RATE, help_heading = "limits")]
    conn_rate: usize,
    /// networks exempt from --max-per-ip and --conn-rate (a LAN, a known NAT), as CIDRs separated by commas; 'none' exempts nothing, not even loopback
    #[arg(long, value_name = "CIDR,...", default_value = crate::front::admission::DEFAULT_EXEMPT, value_parser = parse_exemptions, help_heading = "limits")]
    limit_exempt: crate::front::admission::Exemptions,
    /// max channels and conversations one user may have open at once
    #[arg(long, value_name = "N", default_value_t = crate::world::DEFAULT_MAX_WINDOWS_PER_USER, help_heading = "limits")]
    max_chans_per_user: usize,
    /// max public and direct-message channels open at once on the server
    #[arg(long, value_name = "N", default_value_t = crate::world::DEFAULT_MAX_CHANNELS, help_heading = "limits")]
    max_chans: usize,
    /// flood control per user: a burst of B messages, then R messages per second
    #[arg(long, value_name = "B,R", default_value = DEFAULT_MSG_RATE, value_parser = parse_rate, help_heading = "limits")]
    msg_rate: (f64, f64),
    /// no flood control at all (for load tests)
    #[arg(long, help_heading = "limits")]
    no_flood_limit: bool,
    /// fsync the history at every commit, so a power cut loses nothing either (a process
    /// crash never does); slower on slow disks
    #[arg(long, help_heading = "perf")]
    fsync: bool,

    /// max num msgs to load from disk when joining a channel
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HIST_RD, help_heading = "perf")]
    hist_rd: usize,
    /// max num msgs to keep in channel scrollback
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HIST_MEM, help_heading = "perf")]
    hist_mem: usize,
    /// num msgs to discard when chat exceeds hist-mem
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HIST_TSZ, help_heading = "perf")]
    hist_tsz: usize,
    /// raise the open-files limit to NUM for more clients; 0 keeps the OS default
    #[arg(
        long = "nc",
        value_name = "NUM",
        default_value_t = 0,
        help_heading = "perf"
    )]
    max_clients: u64,
    /// use select() instead of poll() (no effect here)
    #[arg(long, help_heading = "perf")]
    no_poll: bool,
    /// use poll() on macOS (no effect here)
    #[arg(long, help_heading = "perf")]
    poll: bool,

    /// show negotiations etc
    #[arg(long, help_heading = "debug")]
    dbg: bool,
    /// show irc traffic
    #[arg(long, help_heading = "debug")]
    dbg_irc: bool,
    /// print incoming traffic from clients
    #[arg(long, help_heading = "debug")]
    hex_rx: bool,
    /// print outgoing traffic to clients
    #[arg(long, help_heading = "debug")]
    hex_tx: bool,
    /// filter packets larger than N bytes from being hexdumped
    #[arg(long, value_name = "N", default_value_t = 128, help_heading = "debug")]
    hex_lim: u64,
    /// width of the hexdump, in bytes per line, mod-8
    #[arg(long, value_name = "N", default_value = "16", value_parser = parse_hex_width, help_heading = "debug")]
    hex_w: usize,
    /// enable dangerous shortcuts (devmode)
    #[arg(long, help_heading = "debug")]
    dev: bool,
    /// start monitoring threads on ctrl-c
    #[arg(long, help_heading = "debug")]
    thr_mon: bool,
    /// allow rapid server restart (no effect here: always on)
    #[arg(long, help_heading = "debug")]
    reuseaddr: bool,
    /// force clients into linemode (to debug linemode UI)
    #[arg(long, help_heading = "debug")]
    linemode: bool,
    /// dump statistics every 2 sec
    #[arg(long, help_heading = "debug")]
    bench: bool,
    /// print a bundled client program (bash) and exit
    #[arg(long, value_name = "NAME")]
    print_client: Option<String>,
    /// TOML file of flags, keyed by long name; command-line flags override it (default: <app>/r0c.toml if it exists)
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// print the effective configuration (file and flags) as a file for --config, and exit
    #[arg(long)]
    print_config: bool,
}

/// The client programs bundled with the server, for `--print-client`.
const BUNDLED_CLIENTS: [(&str, &str); 1] = [("bash", include_str!("../clients/bash.sh"))];

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
#[allow(unsafe_code)]
fn running_as_root() -> bool {
    // SAFETY: geteuid takes no arguments, touches no memory of ours and always succeeds.
    unsafe { libc::geteuid() == 0 }
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
    let print_config = raw.print_config;
    let config = resolve(raw, &matches, host)?;
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

/// The clap command with r0c's defaults for this host and r0c's ` (default: X)` help.
fn command(host: &Host) -> clap::Command {
    let [telnet, netcat] = default_ports(host);
    RawArgs::command().mut_args(|arg| {
        let arg = match arg.get_id().as_str() {
            "telnet_port" => arg.default_value(telnet),
            "netcat_port" => arg.default_value(netcat),
            _ => arg,
        };
        with_default_in_help(arg)
    })
}

/// r0c's default telnet and netcat ports.
fn default_ports(host: &Host) -> [&'static str; 2] {
    if host.is_root { ROOT_PORTS } else { USER_PORTS }
}

/// Appends ` (default: X)` to an argument's help the way r0c's argparse shows it,
/// replacing clap's `[default: X]`. Help that already names its default is left as is.
fn with_default_in_help(arg: Arg) -> Arg {
    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
    if help.contains("(default:") {
        return arg;
    }
    let shown = match arg.get_action() {
        ArgAction::SetTrue => "False".to_owned(),
        ArgAction::Append => "None".to_owned(),
        _ => arg
            .get_default_values()
            .iter()
            .map(|value| value.to_string_lossy())
            .collect::<Vec<_>>()
            .join(","),
    };
    // A flag without a default value is unset by default, which argparse shows as `None`.
    let shown = if shown.is_empty() {
        "None".to_owned()
    } else {
        shown
    };
    let takes_value = arg.get_action().takes_values();
    arg.help(format!("{help} (default: {shown})"))
        .hide_default_value(takes_value)
}

/// `-pt`, `-pt=N` and the other single-dash long flags become `--pt`, `--pt=N`.
fn single_dash_to_double(arg: OsString) -> OsString {
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
fn clap_outcome(err: &clap::Error) -> Result<Invocation, ConfigError> {
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
fn clap_error(err: &clap::Error) -> ConfigError {
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
fn single_dash_help(help: &str) -> String {
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
fn parse_legacy(argv: &[OsString], host: &Host) -> Result<Invocation, ConfigError> {
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
    // r0c started only its telnet and netcat ports here; the web terminal, new in this
    // version, listens in this form only when the config file asks for it.
    if matches.value_source("web_port") != Some(ValueSource::CommandLine) {
        raw.web_port = 0;
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
    resolve(raw, &matches, host).map(Invocation::Run)
}

/// Checks the TLS flags: r0c's old versions are refused with advice (`--old-tls` is only a
/// startup notice, see `resolve`).
fn tls_settings(raw: &RawArgs) -> Result<TlsSettings, ConfigError> {
    let min_version = match raw.tls_min.as_str() {
        "" | "TLSv1_2" => TlsVersion::Tls12,
        "TLSv1_3" => TlsVersion::Tls13,
        "SSLv3" | "TLSv1" | "TLSv1_0" | "TLSv1_1" => {
            return Err(ConfigError::OldTls(format!("--tls-min {}", raw.tls_min)));
        }
        other => return Err(ConfigError::TlsMin(other.into())),
    };
    if raw.cert.is_some() != raw.key.is_some() {
        return Err(ConfigError::CertWithoutKey);
    }
    let ciphers = raw
        .ciphers
        .split([',', ':'])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(TlsSettings {
        min_version,
        ciphers,
        cert: raw.cert.clone(),
        key: raw.key.clone(),
        names: raw.tls_name.clone(),
    })
}

/// What Python's `int()` accepts, roughly: optional sign, digits, surrounding blanks.
fn is_integer(arg: &str) -> bool {
    let arg = arg.trim();
    let digits = arg.strip_prefix(['+', '-']).unwrap_or(arg);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Turns the raw flags into a [`Config`]. Malformed values are reported before flags
/// of unavailable features, so a command line that is wrong in any version is called
/// wrong, and the checks are ready for when those features land.
fn resolve(raw: RawArgs, matches: &ArgMatches, host: &Host) -> Result<Config, ConfigError> {
    let tls = tls_settings(&raw)?;
    check_ports(&raw)?;
    let given = |id: &str| {
        matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    let (hist_mem, hist_tsz) = history_trim(
        (raw.hist_mem, given("hist_mem")),
        (raw.hist_tsz, given("hist_tsz")),
    )?;
    let (irc_networks, irc_links) = parse_irc(&raw.ircn, &raw.ircb)?;
    let proxies = raw
        .proxy
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse()
                .map_err(|_| ConfigError::Proxy(entry.to_owned()))
        })
        .collect::<Result<Vec<IpAddr>, _>>()?;
    if let Some((flag, _)) = UNAVAILABLE.iter().find(|(_, used)| used(&raw)) {
        return Err(ConfigError::Unavailable(flag));
    }

    let mut notices = Vec::new();
    if raw.old_tls {
        notices.push(OLD_TLS_NOTICE.to_owned());
    }
    if proxies.iter().any(IpAddr::is_loopback) {
        notices
            .push("WARNING: you have localhost in --proxy, you probably want --ara too".to_owned());
    }
    for (id, flag, why) in NO_EFFECT {
        if given(id) {
            notices.push(format!("{flag} has no effect: {why}"));
        }
    }

    let app_dir = raw
        .dir
        .unwrap_or_else(|| default_app_dir(host.home.as_deref()));
    let (password, password_source) = match raw.password {
        Some(password) if password.is_empty() => {
            return Err(ConfigError::EmptyPassword("-pw".to_owned()));
        }
        Some(password) => (password, PasswordSource::Flag),
        None => default_password(&app_dir)?,
    };
    Ok(Config {
        listen_ip: raw.listen_ip,
        telnet_port: raw.telnet_port,
        netcat_port: raw.netcat_port,
        tls_telnet_port: raw.tls_telnet_port,
        tls_netcat_port: raw.tls_netcat_port,
        web_port: raw.web_port,
        web_tls_port: raw.web_tls_port,
        metrics_public: raw.metrics_public,
        password,
        password_source,
        admin_requires_auth: raw.ara,
        nick_salt: raw.nsalt,
        proxies,
        no_all: raw.no_all,
        motd: raw.motd,
        wizard_timeout: std::time::Duration::from_secs(raw.wizard_timeout.max(1)),
        first_input_timeout: std::time::Duration::from_secs(raw.first_input_timeout.max(1)),
        stall_timeout: std::time::Duration::from_secs(raw.stall_timeout.max(1)),
        max_per_ip: raw.max_per_ip,
        conn_rate: raw.conn_rate,
        limit_exempt: raw.limit_exempt,
        max_windows_per_user: raw.max_chans_per_user.max(1),
        max_channels: raw.max_chans.max(1),
        flood: crate::session::flood::FloodLimits {
            burst: raw.msg_rate.0,
            per_second: raw.msg_rate.1,
            enabled: !raw.no_flood_limit,
            ..crate::session::flood::FloodLimits::default()
        },
        fsync: raw.fsync,
        dev: raw.dev,
        hist_rd: raw.hist_rd,
        hist_mem,
        hist_tsz,
        max_clients: raw.max_clients,
        irc_rate: raw.i_rate,
        tls,
        ctcp_version: raw.ctcp_ver,
        irc_networks,
        irc_links,
        irc_ca: raw.irc_ca,
        irc_insecure: raw.irc_insecure,
        dbg_irc: raw.dbg_irc,
        bench: raw.bench,
        diag: DiagSettings {
            hex_rx: raw.hex_rx,
            hex_tx: raw.hex_tx,
            hex_lim: raw.hex_lim,
            hex_width: raw.hex_w,
            log_rx: raw.log_rx,
            log_tx: raw.log_tx,
            dbg: raw.dbg,
        },
        thr_mon: raw.thr_mon,
        linemode: raw.linemode,
        app_dir,
        notices,
    })
}

/// `--hist-mem` and `--hist-tsz` as (value, given). r0c keeps its defaults whatever the
/// other flag says, so `--hist-mem 10000` alone would drop more than a channel holds; here
/// the one not given follows the one given (r0c's defaults have the ratio 6), and only a
/// pair given together that cannot work is refused.
fn history_trim(
    (mem, mem_given): (usize, bool),
    (tsz, tsz_given): (usize, bool),
) -> Result<(usize, usize), ConfigError> {
    let (mem, tsz) = match (mem_given, tsz_given) {
        (true, false) if tsz >= mem => (mem, (mem / HIST_MEM_PER_TSZ).max(1)),
        (false, true) if tsz >= mem => (tsz.saturating_mul(HIST_MEM_PER_TSZ), tsz),
        _ => (mem, tsz),
    };
    if tsz == 0 || tsz >= mem {
        return Err(ConfigError::HistoryTrim { tsz, mem });
    }
    Ok((mem, tsz))
}

/// No two listeners may share a port (0, "disabled", may repeat).
fn check_ports(raw: &RawArgs) -> Result<(), ConfigError> {
    let ports = [
        ("-pt", raw.telnet_port),
        ("-pn", raw.netcat_port),
        ("-tpt", raw.tls_telnet_port),
        ("-tpn", raw.tls_netcat_port),
        ("--web", raw.web_port),
        ("--web-tls", raw.web_tls_port),
    ];
    for (i, &(second, port)) in ports.iter().enumerate() {
        if let Some(&(first, _)) = ports[..i].iter().find(|&&(_, p)| port != 0 && p == port) {
            return Err(ConfigError::DuplicatePort {
                port,
                first,
                second,
            });
        }
    }
    Ok(())
}

/// Reads `--ircn` and `--ircb` as r0c does: a network is
/// `netname,hostname,[+]port,nick[,username[,password]]`, split on `", "` if the value
/// contains it (so passwords may contain commas), else on `,`; a bridge is
/// `netname,channel,channel` naming a defined network, all lower-cased. A `#` before
/// either channel is allowed and dropped.
fn parse_irc(
    nets: &[String],
    bridges: &[String],
) -> Result<(Vec<IrcNetwork>, Vec<IrcLink>), ConfigError> {
    let mut networks: Vec<IrcNetwork> = Vec::new();
    for net in nets {
        let separator = if net.contains(", ") { ", " } else { "," };
        let fields: Vec<&str> = net.split(separator).collect();
        let [name, host, port_text, nick, ref rest @ ..] = fields[..] else {
            return Err(ConfigError::IrcNet(net.clone()));
        };
        let port = port_text
            .strip_prefix('+')
            .unwrap_or(port_text)
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0);
        let name = name.to_lowercase();
        let bad_text = |t: &str| t.is_empty() || t.contains(char::is_whitespace);
        let (Some(port), false, false, false) =
            (port, bad_text(&name), bad_text(host), bad_text(nick))
        else {
            return Err(ConfigError::IrcNet(net.clone()));
        };
        if networks.iter().any(|n| n.name == name) {
            return Err(ConfigError::IrcNet(net.clone()));
        }
        let user = rest.first().filter(|u| !u.is_empty()).unwrap_or(&nick);
        let password = (rest.len() > 1)
            .then(|| rest[1..].join(separator))
            .filter(|p| !p.is_empty());
        networks.push(IrcNetwork {
            name,
            host: host.to_owned(),
            port,
            tls: port_text.starts_with('+'),
            nick: nick.to_owned(),
            user: user.to_string(),
            password,
        });
    }
    let mut links = Vec::new();
    for bridge in bridges {
        let lower = bridge.to_lowercase();
        let fields: Vec<&str> = lower.split(',').map(str::trim).collect();
        let [net, irc_channel, r0c_channel] = fields[..] else {
            return Err(ConfigError::IrcBridge(bridge.clone()));
        };
        let irc_channel = irc_channel.strip_prefix('#').unwrap_or(irc_channel);
        let irc_ok = !irc_channel.is_empty()
            && !irc_channel.contains(|c: char| c.is_whitespace() || c.is_control() || c == ',');
        let r0c_channel = crate::world::normalize_channel_name(r0c_channel);
        let (true, Ok(r0c_channel)) = (irc_ok, r0c_channel) else {
            return Err(ConfigError::IrcBridge(bridge.clone()));
        };
        if !networks.iter().any(|n| n.name == net) {
            let net = net.to_owned();
            return Err(ConfigError::IrcUnknownNet {
                net,
                arg: bridge.clone(),
            });
        }
        let link = IrcLink {
            network: net.to_owned(),
            irc_channel: format!("#{irc_channel}"),
            r0c_channel,
        };
        if links.contains(&link) {
            return Err(ConfigError::IrcBridge(bridge.clone()));
        }
        links.push(link);
    }
    Ok((networks, links))
}

/// `~/.r0c`, or `./.r0c` without a home directory.
fn default_app_dir(home: Option<&Path>) -> PathBuf {
    home.unwrap_or(Path::new(".")).join(".r0c")
}

/// The password when `-pw` is not given: `<app>/password.txt` (whitespace-stripped) if
/// it exists, else `hunter2`.
fn default_password(app_dir: &Path) -> Result<(String, PasswordSource), ConfigError> {
    let path = app_dir.join("password.txt");
    if !path.is_file() {
        return Ok((DEFAULT_PASSWORD.to_owned(), PasswordSource::Default));
    }
    let bytes = std::fs::read(&path).map_err(|source| ConfigError::PasswordFile {
        path: path.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| ConfigError::PasswordEncoding(path.clone()))?;
    let password = text.trim();
    if password.is_empty() {
        return Err(ConfigError::EmptyPassword(path.display().to_string()));
    }
    Ok((password.to_owned(), PasswordSource::File(path)))
}

/// `--i-rate B,R`: two numbers above 0.
fn parse_rate(value: &str) -> Result<(f64, f64), String> {
    let parse = |number: &str| {
        number
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n > 0.0)
    };
    match value.split_once(',') {
        Some((burst, seconds)) => parse(burst).zip(parse(seconds)),
        None => None,
    }
    .ok_or_else(|| "expected two numbers above 0, like 4,2".to_owned())
}

/// `--limit-exempt CIDR,...`: blocks separated by commas, or `none`.
fn parse_exemptions(value: &str) -> Result<crate::front::admission::Exemptions, String> {
    value
        .parse()
        .map_err(|error: crate::front::admission::CidrError| error.to_string())
}

/// `--hex-w N`: a positive multiple of 8.
fn parse_hex_width(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(width) if width > 0 && width % 8 == 0 => Ok(width),
        _ => Err("expected a positive multiple of 8".to_owned()),
    }
}

/// The app dir r0c 1.6.1 and this server use when none is given: `~/.r0c` of the user
/// running the program (`r0c import` reads the original's logs from there by default).
pub fn default_app_dir_of_current_user() -> PathBuf {
    default_app_dir(Host::current().home.as_deref())
}
