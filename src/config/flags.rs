//! The raw flags: clap's view of r0c 1.6.1's command line, named, defaulted and helped as
//! in r0c, plus the value parsers of the flags that take a list or a pair.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Arg, ArgAction, CommandFactory, Parser};

use super::Host;

/// Salt mixed into IP-derived nicknames; changing it renames every auto-nick.
pub(super) const DEFAULT_NICK_SALT: &str = "lammo/";
/// r0c's `--i-rate`: a burst of 4 IRC messages, then one every 2 seconds.
pub(super) const DEFAULT_IRC_RATE: &str = "4,2";
/// r0c's CTCP VERSION reply, kept so IRC users see the same answer as before.
pub(super) const DEFAULT_CTCP_VERSION: &str = "r0c v1.6.1";
// Limits that protect a public server; see the `Config` fields of the same names.
pub(super) const DEFAULT_FIRST_INPUT_TIMEOUT: u64 = 60;
pub(super) const DEFAULT_STALL_TIMEOUT: u64 = 120;
pub(super) const DEFAULT_MAX_PER_IP: usize = 16;
pub(super) const DEFAULT_CONN_RATE: usize = 32;
pub(super) const DEFAULT_MSG_RATE: &str = "8,1";
// r0c's history limits; see the `Config` fields of the same names.
pub(super) const DEFAULT_HIST_RD: usize = 65535;
pub(super) const DEFAULT_HIST_MEM: usize = 98303;
pub(super) const DEFAULT_HIST_TSZ: usize = 16384;
/// Default telnet and netcat ports for ordinary users.
pub(super) const USER_PORTS: [&str; 2] = ["2323", "1531"];
/// Default telnet and netcat ports as root, who may bind the well-known telnet port.
pub(super) const ROOT_PORTS: [&str; 2] = ["23", "531"];
/// Default port of the web terminal.
pub(super) const DEFAULT_WEB_PORT: u16 = 8023;
/// Default port of the ssh listener, for root too: 22 is the host's own sshd.
pub(super) const DEFAULT_SSH_PORT: u16 = 2222;
/// Default port of the IRC listener: IRC's usual plain port, which needs no root.
pub(super) const DEFAULT_IRC_PORT: u16 = 6667;
/// Default port of the IRC listener under TLS (RFC 7194), when TLS is configured.
pub const DEFAULT_IRC_TLS_PORT: u16 = 6697;

/// The flags as clap parses them, named and defaulted as in r0c 1.6.1. The help text of
/// each is r0c's.
#[derive(Debug, Parser)]
#[command(
    name = "r0c",
    bin_name = "r0c",
    version = super::VERSION,
    about = "retr0chat: a telnet/netcat chat server",
    infer_long_args = true,
    args_override_self = true
)]
pub(super) struct RawArgs {
    /// address to listen on (IPv4 or IPv6)
    #[arg(short = 'i', value_name = "IP", default_value = "0.0.0.0")]
    pub(super) listen_ip: IpAddr,
    /// telnet port (disable with 0)
    #[arg(long = "pt", value_name = "PORT", default_value = USER_PORTS[0])]
    pub(super) telnet_port: u16,
    /// netcat port (disable with 0)
    #[arg(long = "pn", value_name = "PORT", default_value = USER_PORTS[1])]
    pub(super) netcat_port: u16,
    /// TLS telnet port, e.g. 2424 (disable with 0)
    #[arg(long = "tpt", value_name = "PORT", default_value_t = 0)]
    pub(super) tls_telnet_port: u16,
    /// TLS netcat port, e.g. 1515 (disable with 0)
    #[arg(long = "tpn", value_name = "PORT", default_value_t = 0)]
    pub(super) tls_netcat_port: u16,
    /// web terminal port: the chat in a browser, and /metrics (disable with 0)
    #[arg(long = "web", value_name = "PORT", default_value_t = DEFAULT_WEB_PORT, help_heading = "web")]
    pub(super) web_port: u16,
    /// web terminal port under TLS (https), with the TLS listeners' certificate (disable with 0)
    #[arg(
        long = "web-tls",
        value_name = "PORT",
        default_value_t = 0,
        help_heading = "web"
    )]
    pub(super) web_tls_port: u16,
    /// ssh port: the chat for any ssh client; the ssh user name is the nick (disable with 0)
    #[arg(
        long = "ssh",
        value_name = "PORT",
        default_value_t = DEFAULT_SSH_PORT,
        help_heading = "ssh"
    )]
    pub(super) ssh_port: u16,
    /// IRC port: the chat for IRC clients (irssi, WeeChat, HexChat, bots) (disable with 0)
    #[arg(
        long = "irc-listen",
        value_name = "PORT",
        default_value_t = DEFAULT_IRC_PORT,
        help_heading = "irc listener"
    )]
    pub(super) irc_port: u16,
    /// IRC port under TLS, with the TLS listeners' certificate (default: 6697 when another TLS listener or --cert is on; disable with 0)
    #[arg(
        long = "irc-listen-tls",
        value_name = "PORT",
        help_heading = "irc listener"
    )]
    pub(super) irc_tls_port: Option<u16>,
    /// the name the IRC listener gives itself in replies (one word)
    #[arg(
        long = "irc-name",
        value_name = "NAME",
        default_value = "r0c",
        value_parser = parse_irc_name,
        help_heading = "irc listener"
    )]
    pub(super) irc_name: String,
    /// run as one node of a cluster: the NATS servers (JetStream on), comma-separated nats://HOST:PORT (or tls://)
    #[arg(
        long = "cluster",
        value_name = "URLS",
        value_parser = parse_cluster_urls,
        help_heading = "cluster"
    )]
    pub(super) cluster: Option<String>,
    /// NATS credentials file (a .creds with the user's JWT and nkey seed) for --cluster
    #[arg(long = "cluster-creds", value_name = "FILE", help_heading = "cluster")]
    pub(super) cluster_creds: Option<PathBuf>,
    /// CA certificate (PEM) to verify the NATS servers' TLS certificates with, for --cluster
    #[arg(long = "cluster-tls-ca", value_name = "FILE", help_heading = "cluster")]
    pub(super) cluster_tls_ca: Option<PathBuf>,
    /// this node's name in the cluster, letters, digits, '-' and '_' (default: the host name)
    #[arg(
        long = "node",
        value_name = "NAME",
        value_parser = parse_node_name,
        help_heading = "cluster"
    )]
    pub(super) node: Option<String>,
    /// ssh host key, an OpenSSH private key (default: <app>/ssh_host_ed25519_key, generated if missing)
    #[arg(long = "ssh-key", value_name = "PATH", help_heading = "ssh")]
    pub(super) ssh_key: Option<PathBuf>,
    /// let ssh clients without a key in as guests (auth none and keyboard-interactive)
    #[arg(
        long = "ssh-guests",
        value_name = "BOOL",
        default_value_t = true,
        action = clap::ArgAction::Set,
        help_heading = "ssh"
    )]
    pub(super) ssh_guests: bool,
    /// days a nick stays with the ssh key that claimed it while that key does not connect
    #[arg(
        long = "claim-days",
        value_name = "DAYS",
        default_value_t = super::resolved::DEFAULT_CLAIM_DAYS,
        help_heading = "ssh"
    )]
    pub(super) claim_days: u32,
    /// serve /metrics to every address, not only to loopback
    #[arg(long, help_heading = "web")]
    pub(super) metrics_public: bool,
    /// admin password (default: the contents of password.txt in the app dir, else hunter2)
    #[arg(long = "pw", value_name = "PWD")]
    pub(super) password: Option<String>,
    /// admin-access requires auth (even for localhost)
    #[arg(long)]
    pub(super) ara: bool,
    /// lockdown at start: registered (only accounts and ssh keys may speak), invite (only the
    /// allow list), off; overrides the mode saved by /lockdown
    #[arg(long, value_name = "MODE", value_parser = ["off", "registered", "invite"])]
    pub(super) lockdown: Option<String>,
    /// accounts whose login makes the user a server operator (admin); repeatable, or NAME,NAME
    #[arg(long, value_name = "NAME", action = ArgAction::Append)]
    pub(super) oper: Vec<String>,
    /// salt for generated nicknames based on IP
    #[arg(long, value_name = "TXT", default_value = DEFAULT_NICK_SALT)]
    pub(super) nsalt: String,
    /// comma-sep. list of IPs which are relays to disable config persistence on
    #[arg(long, value_name = "A,A", default_value = "")]
    pub(super) proxy: String,
    /// app directory for password.txt, cert.pem and the chat database (default: ~/.r0c)
    #[arg(long, value_name = "PATH")]
    pub(super) dir: Option<PathBuf>,

    /// log more: -v adds connections and other events (info), -vv adds debug lines; without it RUST_LOG applies, else warnings only
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count, help_heading = "logging")]
    pub(super) verbose: u8,
    /// how log lines on stderr are written: text, or json (one object per line, for log collectors)
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"], help_heading = "logging")]
    pub(super) log_format: String,
    /// log incoming traffic from clients
    #[arg(long, help_heading = "logging")]
    pub(super) log_rx: bool,
    /// log outgoing traffic to clients
    #[arg(long, help_heading = "logging")]
    pub(super) log_tx: bool,
    /// max num msgs per logfile
    #[arg(
        long,
        value_name = "N",
        default_value_t = 131072,
        help_heading = "logging"
    )]
    pub(super) rot_msg: u64,

    /// specify allowed TLS ciphers; library default if unset
    #[arg(long, value_name = "S", default_value = "", help_heading = "tls")]
    pub(super) ciphers: String,
    /// oldest ver to allow; SSLv3 TLSv1 TLSv1_1 TLSv1_2 TLSv1_3
    #[arg(long, value_name = "S", default_value = "", help_heading = "tls")]
    pub(super) tls_min: String,
    /// support old clients (centos6/powershell), bad ciphers (refused: needs a TLS terminator)
    #[arg(long, help_heading = "tls")]
    pub(super) old_tls: bool,
    /// certificate chain (PEM) for the TLS listeners; default: <app>/cert.pem, generated if missing
    #[arg(long, value_name = "PATH", help_heading = "tls")]
    pub(super) cert: Option<PathBuf>,
    /// private key (PEM) for --cert
    #[arg(long, value_name = "PATH", help_heading = "tls")]
    pub(super) key: Option<PathBuf>,
    /// host name for a generated certificate (repeatable; default: this host and localhost)
    #[arg(long, value_name = "NAME", action = ArgAction::Append, help_heading = "tls")]
    pub(super) tls_name: Vec<String>,

    /// connect to an irc server; TXT is: "netname,hostname,[+]port,nick[,username[,password]]" (if password contains "," then use ", " as separator)
    #[arg(long, value_name = "TXT", action = ArgAction::Append, help_heading = "irc-bridge")]
    pub(super) ircn: Vec<String>,
    /// bridge irc-netname N, irc-channel #C with r0c-channel #L
    #[arg(long, value_name = "N,C,L", action = ArgAction::Append, help_heading = "irc-bridge")]
    pub(super) ircb: Vec<String>,
    /// rate limit; burst of B messages, then R seconds between each
    #[arg(long, value_name = "B,R", default_value = DEFAULT_IRC_RATE, value_parser = parse_rate, help_heading = "irc-bridge")]
    pub(super) i_rate: (f64, f64),
    /// reply to CTCP VERSION
    #[arg(long, value_name = "S", default_value = DEFAULT_CTCP_VERSION, help_heading = "irc-bridge")]
    pub(super) ctcp_ver: String,
    /// extra CA certificates (PEM) to trust for TLS to irc servers
    #[arg(long, value_name = "PATH", help_heading = "irc-bridge")]
    pub(super) irc_ca: Option<PathBuf>,
    /// do not verify the certificates of irc servers (insecure)
    #[arg(long, help_heading = "irc-bridge")]
    pub(super) irc_insecure: bool,

    /// default-disable @all / @everyone
    #[arg(long, help_heading = "ux")]
    pub(super) no_all: bool,
    /// file to include at the end of the welcome-text (can be edited at runtime)
    #[arg(long, value_name = "PATH", help_heading = "ux")]
    pub(super) motd: Option<PathBuf>,
    /// seconds a client may spend in the first-connect wizard
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub(super) wizard_timeout: u64,
    /// seconds a new connection may stay silent before it is closed
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_FIRST_INPUT_TIMEOUT, help_heading = "limits")]
    pub(super) first_input_timeout: u64,
    /// seconds a client may leave its output unread before it is disconnected
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_STALL_TIMEOUT, help_heading = "limits")]
    pub(super) stall_timeout: u64,
    /// max connections at once per IPv4 address or IPv6 /64 (0 = no limit)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PER_IP, help_heading = "limits")]
    pub(super) max_per_ip: usize,
    /// max new connections per address per 10 minutes (0 = no limit)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONN_RATE, help_heading = "limits")]
    pub(super) conn_rate: usize,
    /// networks exempt from --max-per-ip and --conn-rate (a LAN, a known NAT), as CIDRs separated by commas; 'none' exempts nothing, not even loopback
    #[arg(long, value_name = "CIDR,...", default_value = crate::address::DEFAULT_EXEMPT, value_parser = parse_exemptions, help_heading = "limits")]
    pub(super) limit_exempt: crate::address::Exemptions,
    /// max channels and conversations one user may have open at once
    #[arg(long, value_name = "N", default_value_t = super::resolved::DEFAULT_MAX_WINDOWS_PER_USER, help_heading = "limits")]
    pub(super) max_chans_per_user: usize,
    /// max public and direct-message channels open at once on the server
    #[arg(long, value_name = "N", default_value_t = super::resolved::DEFAULT_MAX_CHANNELS, help_heading = "limits")]
    pub(super) max_chans: usize,
    /// flood control per user: a burst of B messages, then R messages per second
    #[arg(long, value_name = "B,R", default_value = DEFAULT_MSG_RATE, value_parser = parse_rate, help_heading = "limits")]
    pub(super) msg_rate: (f64, f64),
    /// no flood control at all (for load tests)
    #[arg(long, help_heading = "limits")]
    pub(super) no_flood_limit: bool,
    /// fsync the history at every commit, so a power cut loses nothing either (a process
    /// crash never does); slower on slow disks
    #[arg(long, help_heading = "perf")]
    pub(super) fsync: bool,

    /// max num msgs to load from disk when joining a channel
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HIST_RD, help_heading = "perf")]
    pub(super) hist_rd: usize,
    /// max num msgs to keep in channel scrollback
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HIST_MEM, help_heading = "perf")]
    pub(super) hist_mem: usize,
    /// num msgs to discard when chat exceeds hist-mem
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HIST_TSZ, help_heading = "perf")]
    pub(super) hist_tsz: usize,
    /// raise the open-files limit to NUM for more clients; 0 keeps the OS default
    #[arg(
        long = "nc",
        value_name = "NUM",
        default_value_t = 0,
        help_heading = "perf"
    )]
    pub(super) max_clients: u64,
    /// use select() instead of poll() (no effect here)
    #[arg(long, help_heading = "perf")]
    pub(super) no_poll: bool,
    /// use poll() on macOS (no effect here)
    #[arg(long, help_heading = "perf")]
    pub(super) poll: bool,

    /// show negotiations etc
    #[arg(long, help_heading = "debug")]
    pub(super) dbg: bool,
    /// show irc traffic
    #[arg(long, help_heading = "debug")]
    pub(super) dbg_irc: bool,
    /// print incoming traffic from clients
    #[arg(long, help_heading = "debug")]
    pub(super) hex_rx: bool,
    /// print outgoing traffic to clients
    #[arg(long, help_heading = "debug")]
    pub(super) hex_tx: bool,
    /// filter packets larger than N bytes from being hexdumped
    #[arg(long, value_name = "N", default_value_t = 128, help_heading = "debug")]
    pub(super) hex_lim: u64,
    /// width of the hexdump, in bytes per line, mod-8
    #[arg(long, value_name = "N", default_value = "16", value_parser = parse_hex_width, help_heading = "debug")]
    pub(super) hex_w: usize,
    /// enable dangerous shortcuts (devmode)
    #[arg(long, help_heading = "debug")]
    pub(super) dev: bool,
    /// start monitoring threads on ctrl-c
    #[arg(long, help_heading = "debug")]
    pub(super) thr_mon: bool,
    /// allow rapid server restart (no effect here: always on)
    #[arg(long, help_heading = "debug")]
    pub(super) reuseaddr: bool,
    /// force clients into linemode (to debug linemode UI)
    #[arg(long, help_heading = "debug")]
    pub(super) linemode: bool,
    /// dump statistics every 2 sec
    #[arg(long, help_heading = "debug")]
    pub(super) bench: bool,
    /// print a bundled client program (bash) and exit
    #[arg(long, value_name = "NAME")]
    pub(super) print_client: Option<String>,
    /// print the manual page (roff, for man -l -) and exit
    #[arg(long)]
    pub(super) print_man: bool,
    /// print the shell completion script for bash, zsh or fish and exit
    #[arg(long, value_name = "SHELL", value_parser = ["bash", "zsh", "fish"])]
    pub(super) print_completions: Option<String>,
    /// TOML file of flags, keyed by long name; command-line flags override it (default: <app>/r0c.toml if it exists)
    #[arg(long, value_name = "PATH")]
    pub(super) config: Option<PathBuf>,
    /// print the effective configuration (file and flags) as a file for --config, and exit
    #[arg(long)]
    pub(super) print_config: bool,
}

/// The clap command with r0c's defaults for this host and r0c's ` (default: X)` help.
pub(super) fn command(host: &Host) -> clap::Command {
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
pub(super) fn default_ports(host: &Host) -> [&'static str; 2] {
    if host.is_root { ROOT_PORTS } else { USER_PORTS }
}

/// Appends ` (default: X)` to an argument's help the way r0c's argparse shows it,
/// replacing clap's `[default: X]`. Help that already names its default is left as is.
pub(super) fn with_default_in_help(arg: Arg) -> Arg {
    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
    if help.contains("(default:") {
        return arg;
    }
    let shown = match arg.get_action() {
        ArgAction::SetTrue => "False".to_owned(),
        ArgAction::Append => "None".to_owned(),
        ArgAction::Count => "0".to_owned(),
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

/// `--i-rate B,R`: two numbers above 0.
pub(super) fn parse_rate(value: &str) -> Result<(f64, f64), String> {
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
pub(super) fn parse_exemptions(value: &str) -> Result<crate::address::Exemptions, String> {
    value
        .parse()
        .map_err(|error: crate::address::CidrError| error.to_string())
}

/// `--hex-w N`: a positive multiple of 8.
pub(super) fn parse_hex_width(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(width) if width > 0 && width % 8 == 0 => Ok(width),
        _ => Err("expected a positive multiple of 8".to_owned()),
    }
}

/// `--cluster`: one or more NATS server URLs, comma-separated (checked here, split by
/// [`cluster_urls`]).
fn parse_cluster_urls(text: &str) -> Result<String, String> {
    cluster_urls(text).map(|urls| urls.join(","))
}

/// The URLs of a `--cluster` value.
pub(super) fn cluster_urls(text: &str) -> Result<Vec<String>, String> {
    let urls: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect();
    if urls.is_empty() {
        return Err("give at least one NATS server, like nats://127.0.0.1:4222".into());
    }
    for url in &urls {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!(
                "{url}: expected nats://HOST:PORT or tls://HOST:PORT"
            ));
        };
        if !matches!(scheme, "nats" | "tls") || rest.is_empty() {
            return Err(format!(
                "{url}: expected nats://HOST:PORT or tls://HOST:PORT"
            ));
        }
    }
    Ok(urls)
}

/// `--node`: a name that fits in NATS subjects, keys and message ids.
pub(super) fn parse_node_name(text: &str) -> Result<String, String> {
    let fits = !text.is_empty()
        && text.len() <= 32
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if fits {
        Ok(text.to_owned())
    } else {
        Err("a node name is 1 to 32 letters, digits, '-' or '_'".into())
    }
}

/// `--irc-name`: one word of printable ASCII, as an IRC prefix must be.
fn parse_irc_name(text: &str) -> Result<String, String> {
    let fits = !text.is_empty()
        && text.len() <= 63
        && !text.starts_with(':')
        && text.bytes().all(|b| b.is_ascii_graphic());
    if fits {
        Ok(text.to_owned())
    } else {
        Err("an IRC server name is one word of printable ASCII, at most 63 characters".to_owned())
    }
}
