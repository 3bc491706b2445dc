//! The resolved configuration: the raw flags checked against each other and turned into the
//! [`Config`] the rest of the server runs with, and the plain settings types it holds.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ArgMatches;
use clap::parser::ValueSource;

use super::flags::{
    DEFAULT_CONN_RATE, DEFAULT_CTCP_VERSION, DEFAULT_FIRST_INPUT_TIMEOUT, DEFAULT_HIST_MEM,
    DEFAULT_HIST_RD, DEFAULT_HIST_TSZ, DEFAULT_MAX_PER_IP, DEFAULT_NICK_SALT,
    DEFAULT_STALL_TIMEOUT, RawArgs,
};
use super::irc::{IrcLink, IrcNetwork, parse_irc};
use super::r0c_compat::{NO_EFFECT, OLD_TLS_NOTICE, UNAVAILABLE};
use super::{ConfigError, Host, default_app_dir};

/// The admin password when neither `-pw` nor `password.txt` gives one.
pub(super) const DEFAULT_PASSWORD: &str = "hunter2";

/// r0c's default `--hist-mem` is six times its default `--hist-tsz` (minus one): when only
/// one of them is given, the other is derived with this ratio so the pair stays usable.
pub(super) const HIST_MEM_PER_TSZ: usize = 6;

/// How many channels and conversations one user may have open by default
/// (`--max-chans-per-user`); IRC servers allow 20 to 120.
pub const DEFAULT_MAX_WINDOWS_PER_USER: usize = 64;
/// How many public and direct-message channels the server holds at once by default
/// (`--max-chans`).
pub const DEFAULT_MAX_CHANNELS: usize = 10_000;

/// `--claim-days`'s default: a nick stays with its ssh key through a year of absence.
pub const DEFAULT_CLAIM_DAYS: u32 = 365;

/// The limits of flood control (`--msg-rate`, `--no-flood-limit`), which
/// [`crate::session::flood`] applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloodLimits {
    /// Messages that may be sent at once.
    pub burst: f64,
    /// Messages per second after the burst.
    pub per_second: f64,
    /// Bytes that may be sent at once.
    pub burst_bytes: f64,
    /// Bytes per second after the burst.
    pub bytes_per_second: f64,
    /// Lines that may be sent at once (a paste of many lines draws on this).
    pub burst_lines: f64,
    /// Lines per second after the burst.
    pub lines_per_second: f64,
    /// Units of [`CommandBudget`](crate::session::flood::CommandBudget) that may be spent at once.
    pub command_burst: f64,
    /// Units of [`CommandBudget`](crate::session::flood::CommandBudget) coming back per second.
    pub command_per_second: f64,
    /// How long a user who kept flooding after the warning is muted.
    pub mute: Duration,
    /// Off: everything is sent at once (load tests).
    pub enabled: bool,
}

impl Default for FloodLimits {
    fn default() -> FloodLimits {
        FloodLimits {
            burst: 8.0,
            per_second: 1.0,
            burst_bytes: 16384.0,
            bytes_per_second: 2048.0,
            burst_lines: 60.0,
            lines_per_second: 2.0,
            command_burst: 64.0,
            command_per_second: 1.0,
            mute: Duration::from_secs(60),
            enabled: true,
        }
    }
}

/// The oldest TLS version the TLS listeners accept (`--tls-min`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3 (the default).
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// How the ssh listener is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshSettings {
    /// `--ssh-key`: the host key (OpenSSH private key format). Default
    /// `<app>/ssh_host_ed25519_key`, generated on first start.
    pub key: Option<PathBuf>,
    /// `--ssh-guests`: clients without a key get in (auth `none` and keyboard-interactive).
    pub guests: bool,
    /// `--claim-days`: a nick claimed by an ssh key is free again after this many days
    /// without that key connecting.
    pub claim_days: u32,
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

/// How log lines are written (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (colours only on a terminal).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
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
    /// ssh port (`--ssh`); 0 disables the listener.
    pub ssh_port: u16,
    /// IRC port (`--irc-listen`); 0 disables the listener.
    pub irc_port: u16,
    /// IRC port under TLS (`--irc-listen-tls`); 0 disables the listener. Its default, 6697,
    /// applies only when TLS is configured (another TLS listener or `--cert`).
    pub irc_tls_port: u16,
    /// The IRC listener's server name (`--irc-name`).
    pub irc_name: String,
    /// Cluster mode (`--cluster`), or `None`: this node alone, as always.
    pub cluster: Option<ClusterSettings>,
    /// The ssh listener's settings, used when it is enabled.
    pub ssh: SshSettings,
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
    /// `--lockdown`: the lockdown mode at start (`off`, `registered`, `invite`), over the one
    /// `/lockdown` saved; `None` keeps the saved one.
    pub lockdown: Option<String>,
    /// `--oper`: accounts whose login makes the user an administrator.
    pub opers: Vec<String>,
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
    pub limit_exempt: crate::address::Exemptions,
    /// `--max-chans-per-user`: channels and conversations one user may have open.
    pub max_windows_per_user: usize,
    /// `--max-chans`: public and direct-message channels open at once on the server.
    pub max_channels: usize,
    /// `--msg-rate` and `--no-flood-limit`: flood control of what each user says.
    pub flood: FloodLimits,
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
    /// `-v` (1) and `-vv` (2): the log level; 0 leaves it to `RUST_LOG`, else warnings.
    pub verbosity: u8,
    /// `--log-format`: text or JSON lines.
    pub log_format: LogFormat,
    /// Every settable flag with its effective value, as `--print-config` writes it (key, line),
    /// so a reload can tell which flags changed. Holds the password line: never log it whole.
    pub effective_flags: Vec<(String, String)>,
}

/// How this node joins a cluster (`--cluster`, `--cluster-creds`, `--cluster-tls-ca`, `--node`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// NATS server URLs (`nats://` or `tls://`); the client fails over between them.
    pub servers: Vec<String>,
    /// A NATS credentials file.
    pub creds: Option<PathBuf>,
    /// A CA certificate for the servers' TLS.
    pub tls_ca: Option<PathBuf>,
    /// This node's name: unique in the cluster.
    pub node: String,
    /// How much the cluster keeps, and how often it snapshots.
    pub retention: ClusterRetention,
}

/// What the cluster's stream keeps and how its snapshot is made. The node that creates the
/// stream and buckets sets them; there are no flags for them yet (tests make them small).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterRetention {
    /// How long the event stream keeps an event.
    pub stream_max_age: std::time::Duration,
    /// The event stream's size cap; the oldest events go first.
    pub stream_max_bytes: i64,
    /// How often at most one node (holding a lease) puts a snapshot of its database.
    pub snapshot_every: std::time::Duration,
    /// The largest snapshot put or loaded.
    pub snapshot_max_bytes: u64,
}

/// How long the stream keeps events by default: a node down for longer loads the newest
/// snapshot (`cluster/snapshot.rs`) and applies the stream from there.
pub const STREAM_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
/// The stream's default size cap; the oldest events go first.
pub const STREAM_MAX_BYTES: i64 = 1 << 30;
/// How often a snapshot is put by default. A node away for less than the stream's retention
/// (7 days) needs none; one away longer loads a snapshot at most this old, and the stream
/// after it, which reaches back far further.
pub const SNAPSHOT_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
/// The largest snapshot put or loaded by default.
pub const SNAPSHOT_MAX_BYTES: u64 = 4 << 30;

impl Default for ClusterRetention {
    fn default() -> ClusterRetention {
        ClusterRetention {
            stream_max_age: STREAM_MAX_AGE,
            stream_max_bytes: STREAM_MAX_BYTES,
            snapshot_every: SNAPSHOT_EVERY,
            snapshot_max_bytes: SNAPSHOT_MAX_BYTES,
        }
    }
}

/// The host name, made to fit `--node`'s rules, or `r0c` when there is none.
fn default_node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    super::flags::parse_node_name(&name).unwrap_or_else(|_| "r0c".to_owned())
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
            ssh_port: 0,
            irc_port: 0,
            irc_tls_port: 0,
            irc_name: "r0c".to_owned(),
            cluster: None,
            ssh: SshSettings {
                key: None,
                guests: true,
                claim_days: DEFAULT_CLAIM_DAYS,
            },
            metrics_public: false,
            password: DEFAULT_PASSWORD.to_owned(),
            password_source: PasswordSource::Default,
            admin_requires_auth: false,
            lockdown: None,
            opers: Vec::new(),
            nick_salt: DEFAULT_NICK_SALT.to_owned(),
            proxies: Vec::new(),
            no_all: false,
            motd: None,
            wizard_timeout: std::time::Duration::from_secs(600),
            first_input_timeout: std::time::Duration::from_secs(DEFAULT_FIRST_INPUT_TIMEOUT),
            stall_timeout: std::time::Duration::from_secs(DEFAULT_STALL_TIMEOUT),
            max_per_ip: DEFAULT_MAX_PER_IP,
            conn_rate: DEFAULT_CONN_RATE,
            limit_exempt: crate::address::Exemptions::loopback(),
            max_windows_per_user: DEFAULT_MAX_WINDOWS_PER_USER,
            max_channels: DEFAULT_MAX_CHANNELS,
            // Tests send faster than people type; the flood tests switch this on.
            flood: FloodLimits {
                enabled: false,
                ..FloodLimits::default()
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
            verbosity: 0,
            log_format: LogFormat::Text,
            effective_flags: Vec::new(),
        }
    }

    /// The SQLite database holding chat history and client configs.
    pub fn database_path(&self) -> PathBuf {
        self.app_dir.join("r0c.db")
    }
}

/// Checks the TLS flags: r0c's old versions are refused with advice (`--old-tls` is only a
/// startup notice, see `resolve`).
pub(super) fn tls_settings(raw: &RawArgs) -> Result<TlsSettings, ConfigError> {
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

/// Turns the raw flags into a [`Config`]. Malformed values are reported before flags
/// of unavailable features, so a command line that is wrong in any version is called
/// wrong, and the checks are ready for when those features land.
pub(super) fn resolve(
    raw: RawArgs,
    matches: &ArgMatches,
    host: &Host,
) -> Result<Config, ConfigError> {
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

    let irc_tls_port = irc_tls_port(&raw);
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
        ssh_port: raw.ssh_port,
        irc_port: raw.irc_port,
        irc_tls_port,
        irc_name: raw.irc_name.clone(),
        cluster: raw.cluster.as_deref().map(|urls| ClusterSettings {
            servers: super::flags::cluster_urls(urls).unwrap_or_default(),
            creds: raw.cluster_creds.clone(),
            tls_ca: raw.cluster_tls_ca.clone(),
            node: raw.node.clone().unwrap_or_else(default_node_name),
            retention: ClusterRetention::default(),
        }),
        ssh: SshSettings {
            key: raw.ssh_key.clone(),
            guests: raw.ssh_guests,
            claim_days: raw.claim_days,
        },
        metrics_public: raw.metrics_public,
        password,
        password_source,
        admin_requires_auth: raw.ara,
        lockdown: raw.lockdown.clone(),
        opers: opers(&raw.oper),
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
        flood: FloodLimits {
            burst: raw.msg_rate.0,
            per_second: raw.msg_rate.1,
            enabled: !raw.no_flood_limit,
            ..FloodLimits::default()
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
        verbosity: raw.verbose,
        log_format: if raw.log_format == "json" {
            LogFormat::Json
        } else {
            LogFormat::Text
        },
        effective_flags: Vec::new(),
    })
}

/// `--hist-mem` and `--hist-tsz` as (value, given). r0c keeps its defaults whatever the
/// other flag says, so `--hist-mem 10000` alone would drop more than a channel holds; here
/// the one not given follows the one given (r0c's defaults have the ratio 6), and only a
/// pair given together that cannot work is refused.
pub(super) fn history_trim(
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

/// `--irc-listen-tls`: as given, else [`DEFAULT_IRC_TLS_PORT`] when TLS is configured (another
/// TLS listener is on, or `--cert` names a certificate), else off: a server with no TLS set up
/// does not generate a certificate for IRC alone.
pub(super) fn irc_tls_port(raw: &RawArgs) -> u16 {
    raw.irc_tls_port.unwrap_or_else(|| {
        let tls_configured = raw.tls_telnet_port != 0
            || raw.tls_netcat_port != 0
            || raw.web_tls_port != 0
            || raw.cert.is_some();
        if tls_configured {
            super::flags::DEFAULT_IRC_TLS_PORT
        } else {
            0
        }
    })
}

/// No two listeners may share a port (0, "disabled", may repeat).
pub(super) fn check_ports(raw: &RawArgs) -> Result<(), ConfigError> {
    let ports = [
        ("-pt", raw.telnet_port),
        ("-pn", raw.netcat_port),
        ("-tpt", raw.tls_telnet_port),
        ("-tpn", raw.tls_netcat_port),
        ("--web", raw.web_port),
        ("--web-tls", raw.web_tls_port),
        ("--ssh", raw.ssh_port),
        ("--irc-listen", raw.irc_port),
        ("--irc-listen-tls", irc_tls_port(raw)),
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

/// The password when `-pw` is not given: `<app>/password.txt` (whitespace-stripped) if
/// it exists, else `hunter2`.
pub(super) fn default_password(app_dir: &Path) -> Result<(String, PasswordSource), ConfigError> {
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

/// `--oper`: every name given, each value split at commas, blanks dropped.
fn opers(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}
