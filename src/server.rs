//! Starts the listeners, the world and its periodic work, and shuts down cleanly.
//!
//! Each bound listener is handed to the front-ends (`front::serve`), which accept, admit and
//! serve its connections. Shutdown cancels one token: accept loops stop, client tasks end,
//! and the store commits everything it was given before the process exits.

use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bridge::Bridge;
use crate::config::{Config, PasswordSource};
use crate::front::admission::{Admission, Limits};
pub use crate::front::listen::ListenerKind;
use crate::front::listen::Listening;
use crate::front::tls::TlsSetup;
use crate::session::Arrival;
use crate::store::Store;
use crate::world::{World, WorldSettings};

/// How long shutdown waits for client tasks before committing the store anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// How often the day-change check runs (aligned to UTC seconds divisible by 5).
const CLOCK_TICK_SECONDS: i64 = 5;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Listen(#[from] crate::front::listen::ListenError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Tls(#[from] crate::front::tls::TlsError),
    #[error(transparent)]
    Ssh(#[from] crate::front::ssh::SshError),
    #[error(transparent)]
    IrcTls(#[from] crate::bridge::IrcTlsError),
    #[error("cannot start the wire logs (--log-rx, --log-tx) in {path}: {source}")]
    Diag {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// A bound server, ready to run.
pub struct Server {
    world: Arc<World>,
    store: Arc<Store>,
    listeners: Vec<(ListenerKind, TcpListener)>,
    /// The TLS acceptor and what to report about its certificate, if a TLS listener is on.
    tls: Option<Arc<TlsSetup>>,
    /// The ssh host key and russh's configuration, if the ssh listener is on.
    ssh: Option<Arc<crate::front::ssh::SshSetup>>,
    /// The IRC bridge, its channels already open; it connects once the server runs.
    bridge: Bridge,
    /// Connection limits shared by all listeners.
    admission: Arc<Admission>,
    /// Cluster mode (`--cluster`): the world is attached; its tasks start with the server.
    cluster: Option<crate::cluster::Cluster>,
    config: Config,
    shutdown: CancellationToken,
    /// What a reload changes: each listener's arrival template, the limits, the certificate
    /// and the host key.
    reloader: Arc<Reloader>,
}

/// The listeners the configuration asks for: each unless its port is 0.
pub fn planned_listeners(config: &Config) -> Vec<(ListenerKind, SocketAddr)> {
    [
        (ListenerKind::Telnet, config.telnet_port),
        (ListenerKind::Raw, config.netcat_port),
        (ListenerKind::TlsTelnet, config.tls_telnet_port),
        (ListenerKind::TlsRaw, config.tls_netcat_port),
        (ListenerKind::Web, config.web_port),
        (ListenerKind::WebTls, config.web_tls_port),
        (ListenerKind::Ssh, config.ssh_port),
        (ListenerKind::Irc, config.irc_port),
        (ListenerKind::IrcTls, config.irc_tls_port),
    ]
    .into_iter()
    .filter(|(_, port)| *port != 0)
    .map(|(kind, port)| (kind, SocketAddr::new(config.listen_ip, port)))
    .collect()
}

impl Server {
    /// Creates the data directory, opens the store, sets up TLS if asked, and binds the
    /// configured listeners.
    pub async fn bind(config: Config) -> Result<Server, StartError> {
        let plan = planned_listeners(&config);
        Server::bind_to(config, plan).await
    }

    /// Like [`Server::bind`], but on the given addresses (tests bind `127.0.0.1:0`).
    pub async fn bind_to(
        config: Config,
        plan: Vec<(ListenerKind, SocketAddr)>,
    ) -> Result<Server, StartError> {
        // Private: it holds the chat history, direct messages included.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.app_dir)
            .map_err(|source| StartError::DataDir {
                path: config.app_dir.clone(),
                source,
            })?;
        crate::store::tighten(&config.app_dir);
        let tls = if plan.iter().any(|(kind, _)| kind.is_tls()) {
            Some(Arc::new(crate::front::tls::setup(
                &config.tls,
                &config.app_dir,
            )?))
        } else {
            None
        };
        let ssh = if plan.iter().any(|(kind, _)| *kind == ListenerKind::Ssh) {
            Some(Arc::new(crate::front::ssh::setup(
                &config.ssh,
                &config.app_dir,
            )?))
        } else {
            None
        };
        let durability = if config.fsync {
            crate::store::Durability::PowerCut
        } else {
            crate::store::Durability::ProcessCrash
        };
        // A node behind the cluster's trimmed stream loads the newest snapshot first.
        if let Some(settings) = &config.cluster {
            crate::cluster::snapshot::restore_if_behind(settings, &config.database_path()).await;
        }
        let store = Arc::new(Store::open_durable(&config.database_path(), durability)?);
        let diag = crate::diag::Diag::start(&config.diag, &config.app_dir).map_err(|source| {
            StartError::Diag {
                path: config.app_dir.join("log").join("wire"),
                source,
            }
        })?;
        let mut listeners = Vec::new();
        for (kind, address) in plan {
            listeners.push((kind, crate::front::listen::bind(address)?));
        }
        let shutdown = CancellationToken::new();
        let settings = WorldSettings {
            nick_salt: config.nick_salt.clone(),
            hist_rd: config.hist_rd,
            hist_mem: config.hist_mem,
            hist_tsz: config.hist_tsz,
            max_windows_per_user: config.max_windows_per_user,
            max_channels: config.max_channels,
            password: config.password.clone(),
            admin_requires_auth: config.admin_requires_auth,
            opers: config.opers.clone(),
            no_all: config.no_all,
        };
        let world = Arc::new(World::new(settings, store.clone(), shutdown.clone()));
        // Nick claims live in memory from here on, so checking one costs no I/O.
        let claims = store.claims().map_err(StartError::Store)?;
        world.load_claims(config.ssh.claim_days, claims);
        // So are bans, mutes, channel modes and roles, ignores and the lockdown mode.
        let moderation = store.moderation().map_err(StartError::Store)?;
        let lockdown = config
            .lockdown
            .as_deref()
            .and_then(|mode| mode.parse().ok());
        world.load_moderation(moderation, lockdown);
        // So are accounts; they lapse after the same time unused as claims.
        let (accounts, keys) = store.accounts().map_err(StartError::Store)?;
        world.load_accounts(config.ssh.claim_days, accounts, keys);
        // So are the pointers to direct messages waiting for users who are away.
        let offline = store.offline_messages().map_err(StartError::Store)?;
        world.load_offline(offline);
        // So are the read markers of identified users.
        let markers = store.read_markers().map_err(StartError::Store)?;
        world.load_markers(markers);
        let bridge = Bridge::prepare(&config, &world)?;
        let cluster = config
            .cluster
            .as_ref()
            .map(|settings| crate::cluster::Cluster::prepare(settings, &world));
        let admission = Admission::new(
            Limits {
                total: connection_cap(config.max_clients),
                per_address: config.max_per_ip,
                per_window: config.conn_rate,
            },
            config.limit_exempt.clone(),
        );
        let reloader = Arc::new(Reloader::new(
            &config,
            &listeners,
            diag,
            admission.clone(),
            tls.clone(),
            ssh.clone(),
        ));
        Ok(Server {
            admission,
            world,
            store,
            listeners,
            tls,
            ssh,
            bridge,
            cluster,
            config,
            shutdown,
            reloader,
        })
    }

    /// The handle that applies a new configuration to the running server (SIGHUP).
    pub fn reloader(&self) -> Arc<Reloader> {
        self.reloader.clone()
    }

    /// The address a listener of this kind is bound to.
    pub fn local_addr(&self, kind: ListenerKind) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(k, _)| *k == kind)
            .and_then(|(_, l)| l.local_addr().ok())
    }

    /// Cancelling this token shuts the server down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The startup report, in the spirit of r0c's: version, listeners, limits, where data lives.
    pub fn startup_report(&self, max_clients: &str) -> Vec<String> {
        let config = &self.config;
        let mut lines = vec![format!(
            "r0c {} (rust), speaks like r0c 1.6.1",
            crate::config::VERSION
        )];
        if let PasswordSource::File(path) = &config.password_source {
            lines.push(format!("Password from {}", path.display()));
        }
        if let Some(tls) = &self.tls {
            let verb = if tls.generated {
                "Generated certificate"
            } else {
                "Loaded certificate"
            };
            lines.push(format!("{verb} {}", tls.cert_path.display()));
            lines.push(format!("  SHA-256 fingerprint {}", tls.fingerprint));
        }
        if let Some(ssh) = &self.ssh {
            let verb = if ssh.generated {
                "Generated ssh host key"
            } else {
                "Loaded ssh host key"
            };
            lines.push(format!("{verb} {}", ssh.key_path.display()));
            lines.push(format!("  fingerprint {}", ssh.fingerprint));
        }
        for kind in ListenerKind::ALL.into_iter().chain(ListenerKind::WEB) {
            match self.local_addr(kind) {
                Some(address) => lines.push(format!(
                    "{} server on {} port {}",
                    kind.name(),
                    address.ip(),
                    address.port()
                )),
                None => lines.push(format!("{} server disabled", kind.name())),
            }
        }
        // Reported only when on, so the report of a server without them reads as before.
        for kind in [ListenerKind::Ssh, ListenerKind::Irc, ListenerKind::IrcTls] {
            if let Some(address) = self.local_addr(kind) {
                lines.push(format!(
                    "{} server on {} port {}",
                    kind.name(),
                    address.ip(),
                    address.port()
                ));
            }
        }
        lines.extend(self.bridge.report().iter().cloned());
        lines.push(format!("Max num clients: {max_clients}"));
        let limits = self.admission.limits();
        let or_off = |n: usize| {
            if n == 0 {
                "no limit".to_string()
            } else {
                n.to_string()
            }
        };
        lines.push(format!(
            "Connection limits: {} in all, {} per address, {} new per address per 10 min",
            limits.total,
            or_off(limits.per_address),
            or_off(limits.per_window)
        ));
        lines.push(format!(
            "Exempt from the per-address limits: {} (--limit-exempt)",
            self.admission.exemptions()
        ));
        lines.push(format!("History and data in {}", config.app_dir.display()));
        lines
    }

    /// Accepts clients until the shutdown token is cancelled, then shuts down cleanly.
    pub async fn run(self) {
        let tracker = TaskTracker::new();
        let ports = bound_ports(&self.listeners);
        let acceptor = self.tls.as_ref().map(|tls| tls.acceptor.clone());
        let tag_relay = Arc::new(crate::front::irc::relay::TagRelay::default());
        for (kind, listener) in self.listeners {
            tracker.spawn(crate::front::serve(Listening {
                listener,
                kind,
                arrival: self.reloader.arrival(kind),
                plain_port: port_of(&ports, kind.plain()),
                tls: acceptor.clone().filter(|_| kind.is_tls()),
                admission: self.admission.clone(),
                world: self.world.clone(),
                shutdown: self.shutdown.clone(),
                tracker: tracker.clone(),
                metrics_public: self.config.metrics_public,
                ssh: self.ssh.clone().filter(|_| kind == ListenerKind::Ssh),
                irc_name: self.config.irc_name.as_str().into(),
                tag_relay: tag_relay.clone(),
            }));
        }
        tracker.spawn(clock(self.world.clone(), self.shutdown.clone()));
        // Posts wake nobody for a message not yet committed; this task wakes them once it is.
        tracker.spawn(crate::world::wake_after_commits(
            self.world.clone(),
            self.shutdown.clone(),
        ));
        tracker.spawn(tell_store_health(
            self.world.clone(),
            self.store.health_changes(),
            self.shutdown.clone(),
        ));
        if self.config.bench {
            tracker.spawn(bench_report(self.world.clone(), self.shutdown.clone()));
        }
        self.bridge.spawn(&tracker, &self.shutdown);
        if let Some(cluster) = self.cluster {
            cluster.spawn(self.world.clone(), &tracker, &self.shutdown);
        }
        self.shutdown.cancelled().await;
        tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some clients did not finish in time");
        }
        let store = self.store.clone();
        // Closing commits everything queued (and gives up after a while if writes fail).
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }

    /// The admission control of every listener (tests read how many connections are open).
    pub fn admission(&self) -> Arc<Admission> {
        self.admission.clone()
    }

    /// What `--thr-mon` reports on: the world and the store, without the listeners.
    pub fn monitor(&self) -> Monitor {
        Monitor {
            world: self.world.clone(),
            store: self.store.clone(),
        }
    }

    /// The history store; tests use it to fill the "disk".
    #[doc(hidden)]
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }
}

/// `--thr-mon`'s view of the running server. r0c dumped the stacks of its threads; here the
/// threads are the async runtime's workers, whose stacks say nothing, so the report is the
/// runtime's task counts and the server's state instead.
#[derive(Clone)]
pub struct Monitor {
    world: Arc<World>,
    store: Arc<Store>,
}

impl Monitor {
    /// Every this long a report is printed once the monitor runs (r0c's stack dumper's period).
    pub const INTERVAL: Duration = Duration::from_secs(5);

    /// One report: lines for the console. Everything here is read from counters; the world's
    /// lock is not taken, so a report never waits for the chat, nor the chat for it.
    pub fn report(&self) -> Vec<String> {
        let runtime = tokio::runtime::Handle::current().metrics();
        let activity = self.world.activity();
        vec![
            "capturing state".to_owned(),
            format!(
                "  runtime:  {} workers, {} tasks alive, {} in the global queue",
                runtime.num_workers(),
                runtime.num_alive_tasks(),
                runtime.global_queue_depth()
            ),
            format!(
                "    world:  {} users online, {} in the wizard",
                self.world.users_online(),
                self.world.in_wizard()
            ),
            format!(
                "   totals:  j {}  p {}  m {}",
                activity.joins, activity.parts, activity.messages
            ),
            format!(
                "    store:  {:?}, {} writes not committed yet",
                self.store.health(),
                self.store.pending_writes()
            ),
        ]
    }
}

/// Tells every connected user when the store stops or starts being able to write.
async fn tell_store_health(
    world: Arc<World>,
    mut changes: tokio::sync::watch::Receiver<crate::store::Health>,
    shutdown: CancellationToken,
) {
    let mut told = crate::store::Health::Healthy;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        let health = *changes.borrow_and_update();
        // Failing and Gone read the same to users: one line when it starts, one when it ends.
        let healthy = health == crate::store::Health::Healthy;
        if healthy != (told == crate::store::Health::Healthy) {
            world.store_health_changed(health);
            told = health;
        }
    }
}

/// The port each kind of listener is bound to (0 for those that are off).
fn bound_ports(listeners: &[(ListenerKind, TcpListener)]) -> Vec<(ListenerKind, u16)> {
    ListenerKind::ALL
        .into_iter()
        .chain(ListenerKind::WEB)
        .map(|kind| {
            let port = listeners
                .iter()
                .find(|(k, _)| *k == kind)
                .and_then(|(_, listener)| listener.local_addr().ok())
                .map_or(0, |address| address.port());
            (kind, port)
        })
        .collect()
}

fn port_of(ports: &[(ListenerKind, u16)], kind: ListenerKind) -> u16 {
    ports
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(0, |(_, port)| *port)
}

/// Flags (keys of the config file) a reload applies: to connections that arrive afterwards
/// (the arrival template and admission), or by loading files again (certificate, host key;
/// the MOTD is read for every client anyway). Any other flag that changed needs a restart.
const RELOADABLE_FLAGS: &[&str] = &[
    "motd",
    "wizard-timeout",
    "first-input-timeout",
    "stall-timeout",
    "max-per-ip",
    "conn-rate",
    "limit-exempt",
    "msg-rate",
    "no-flood-limit",
    "proxy",
    "linemode",
    "dev",
    "cert",
    "key",
    "ssh-key",
];

/// What a reload did, for the log: flag names and file names only, never values (a
/// password may be among the flags).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// Flags whose new value applies from now on, and files loaded again.
    pub applied: Vec<String>,
    /// Flags that changed but keep their old value until a restart.
    pub need_restart: Vec<String>,
    /// What could not be loaded (the old certificate or key stays in use).
    pub errors: Vec<String>,
}

/// Applies a new configuration to a running server: each listener's arrival template (so
/// new connections get the new timeouts, flood limits and MOTD), the admission limits, and
/// the TLS certificate and ssh host key when their files changed. Connections already open
/// keep what they started with.
pub struct Reloader {
    /// The configuration in force, whose `effective_flags` tell what a new one changes.
    current: std::sync::Mutex<Config>,
    /// Each listener's arrival template, with the port of its sibling listener.
    arrivals: Vec<(ListenerKind, u16, tokio::sync::watch::Sender<Arrival>)>,
    diag: Option<Arc<crate::diag::Diag>>,
    admission: Arc<Admission>,
    tls: Option<Arc<TlsSetup>>,
    ssh: Option<Arc<crate::front::ssh::SshSetup>>,
}

impl Reloader {
    fn new(
        config: &Config,
        listeners: &[(ListenerKind, TcpListener)],
        diag: Option<Arc<crate::diag::Diag>>,
        admission: Arc<Admission>,
        tls: Option<Arc<TlsSetup>>,
        ssh: Option<Arc<crate::front::ssh::SshSetup>>,
    ) -> Reloader {
        let ports = bound_ports(listeners);
        let arrivals = listeners
            .iter()
            .map(|(kind, _)| {
                let sibling = port_of(&ports, kind.sibling());
                let arrival = arrival_for(config, diag.as_ref(), *kind, unspecified(), sibling);
                (*kind, sibling, tokio::sync::watch::Sender::new(arrival))
            })
            .collect();
        Reloader {
            current: std::sync::Mutex::new(config.clone()),
            arrivals,
            diag,
            admission,
            tls,
            ssh,
        }
    }

    /// The arrival template of the listener of this kind, kept up to date by reloads.
    fn arrival(&self, kind: ListenerKind) -> tokio::sync::watch::Receiver<Arrival> {
        match self.arrivals.iter().find(|(k, _, _)| *k == kind) {
            Some((_, _, sender)) => sender.subscribe(),
            // Every bound listener has one; a listener without one gets the settings in force.
            None => {
                let current = self
                    .current
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let arrival = arrival_for(&current, self.diag.as_ref(), kind, unspecified(), 0);
                tokio::sync::watch::Sender::new(arrival).subscribe()
            }
        }
    }

    /// Applies `new` (the command line and config file parsed again) as far as a running
    /// server can, and says what it did. Blocking (it reads files): call it off the async
    /// workers.
    pub fn apply(&self, new: Config) -> ReloadReport {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut report = ReloadReport::default();
        let old_lines: std::collections::HashMap<&str, &str> = current
            .effective_flags
            .iter()
            .map(|(key, line)| (key.as_str(), line.as_str()))
            .collect();
        // What stays in force: the new line of a flag applied, the old one of a flag that
        // needs a restart (so the next reload names it again).
        let mut in_force = Vec::new();
        for (key, line) in &new.effective_flags {
            let old = old_lines.get(key.as_str()).copied();
            if old == Some(line.as_str()) {
                in_force.push((key.clone(), line.clone()));
            } else if RELOADABLE_FLAGS.contains(&key.as_str()) {
                report.applied.push(format!("--{key}"));
                in_force.push((key.clone(), line.clone()));
            } else {
                report.need_restart.push(format!("--{key}"));
                in_force.push((key.clone(), old.unwrap_or(line).to_owned()));
            }
        }
        for (kind, sibling, sender) in &self.arrivals {
            let arrival = arrival_for(&new, self.diag.as_ref(), *kind, unspecified(), *sibling);
            sender.send_replace(arrival);
        }
        self.admission
            .set_limits(new.max_per_ip, new.conn_rate, new.limit_exempt.clone());
        // The app dir needs a restart: the files are looked for where the server runs.
        let mut new = new;
        new.app_dir = current.app_dir.clone();
        if let Some(tls) = &self.tls {
            match tls.reload(&new.tls, &new.app_dir) {
                Ok(Some(fingerprint)) => report.applied.push(format!(
                    "TLS certificate (SHA-256 fingerprint {fingerprint})"
                )),
                Ok(None) => {}
                Err(error) => report.errors.push(format!(
                    "TLS certificate not reloaded, the old one stays: {error}"
                )),
            }
        }
        if let Some(ssh) = &self.ssh {
            match ssh.reload(&new.ssh, &new.app_dir) {
                Ok(Some(fingerprint)) => report
                    .applied
                    .push(format!("ssh host key (fingerprint {fingerprint})")),
                Ok(None) => {}
                Err(error) => report.errors.push(format!(
                    "ssh host key not reloaded, the old one stays: {error}"
                )),
            }
        }
        if let Some(motd) = &new.motd
            && let Err(error) = std::fs::metadata(motd)
        {
            report.errors.push(format!(
                "the MOTD {} cannot be read ({error}); clients get none until it can",
                motd.display()
            ));
        }
        new.effective_flags = in_force;
        *current = new;
        report
    }
}

/// The address an arrival template holds until a connection fills in its peer.
fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

/// What a connection task needs to know about where `peer` came in.
fn arrival_for(
    config: &Config,
    diag: Option<&Arc<crate::diag::Diag>>,
    kind: ListenerKind,
    peer: SocketAddr,
    sibling_port: u16,
) -> Arrival {
    Arrival {
        peer,
        protocol: kind.protocol(),
        tls: kind.is_tls(),
        sibling_port,
        motd: config.motd.clone(),
        proxies: config.proxies.clone(),
        wizard_timeout: config.wizard_timeout,
        first_input_timeout: config.first_input_timeout,
        stall_timeout: config.stall_timeout,
        flood: config.flood,
        dev: config.dev,
        linemode: config.linemode,
        diag: diag.cloned(),
    }
}

/// Posts the day change into every channel when the UTC date changes, samples the message
/// rate and posts the summaries of folded nick changes.
async fn clock(world: Arc<World>, shutdown: CancellationToken) {
    let today = || jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let mut date = today();
    let mut ticks: u64 = 0;
    let (mut messages_before, mut sampled) = (0, std::time::Instant::now());
    loop {
        let now = jiff::Timestamp::now();
        let into_tick = now.as_millisecond().rem_euclid(CLOCK_TICK_SECONDS * 1000);
        let wait = Duration::from_millis((CLOCK_TICK_SECONDS * 1000 - into_tick) as u64);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
        ticks += 1;
        crate::metrics::sample_message_rate(
            world.activity().messages,
            &mut messages_before,
            sampled.elapsed(),
        );
        sampled = std::time::Instant::now();
        // Nick changes folded while a user churned are summed up once their quiet time is over.
        world.flush_nick_folds(sampled);
        if ticks.is_multiple_of(TRIM_EVERY_TICKS) {
            // Blocking but short (it walks the heap): off the async threads.
            tokio::task::spawn_blocking(release_free_memory);
        }
        let new_date = today();
        if new_date != date {
            date = new_date;
            if world.has_users() {
                world.broadcast(&format!("\x0b6day changed to \x02{date}"), false);
            }
        }
    }
}

/// How often `--bench` prints its line.
const BENCH_INTERVAL: Duration = Duration::from_secs(2);

/// `--bench`: every [`BENCH_INTERVAL`] a console line with the totals of joins, parts and
/// messages and their growth since the previous line.
async fn bench_report(world: Arc<World>, shutdown: CancellationToken) {
    use std::io::Write as _;
    let mut interval = tokio::time::interval(BENCH_INTERVAL);
    // The first tick is immediate; the first line comes one interval after start, as in r0c.
    interval.tick().await;
    let mut previous = world.activity();
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let now = world.activity();
        let line = bench_line(jiff::Timestamp::now(), now, previous);
        previous = now;
        // A closed stdout must not stop the server; the line is only lost.
        let _ = writeln!(std::io::stdout(), "{line}");
    }
}

/// r0c's `--bench` line: `<unix time .3f>  j <joins>  p <parts>  m <messages>  d <Δj>,<Δp>,<Δm>`.
pub fn bench_line(
    time: jiff::Timestamp,
    now: crate::world::Activity,
    previous: crate::world::Activity,
) -> String {
    let seconds = time.as_millisecond() as f64 / 1000.0;
    format!(
        "{seconds:.3}  j {}  p {}  m {}  d {},{},{}",
        now.joins,
        now.parts,
        now.messages,
        now.joins.saturating_sub(previous.joins),
        now.parts.saturating_sub(previous.parts),
        now.messages.saturating_sub(previous.messages)
    )
}

/// Every this many clock ticks (5 s each), freed memory is given back to the OS.
const TRIM_EVERY_TICKS: u64 = 12;

/// Gives memory that was freed (closed channels, departed clients) back to the OS. glibc's
/// allocator keeps freed pages otherwise, so the process would stay at its peak size after a
/// busy hour. The one `unsafe` block of the server: `malloc_trim` is a glibc extension that
/// no safe wrapper (rustix included) offers.
#[allow(unsafe_code)]
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused heap pages to the OS; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Raises the open-file limit to `wanted` for `-nc`; returns the limit in force afterwards,
/// as text for the startup report. When the limit cannot reach `wanted` (the hard limit is
/// lower, or raising it is refused), the report says "bump failed" with the real limit, as
/// r0c does, and the connection cap follows the real limit (see [`connection_cap`]).
pub fn raise_file_limit(wanted: u64) -> String {
    let (soft, hard) = file_limit();
    if wanted == 0 || wanted <= soft {
        return format!("{soft} (os-default)");
    }
    let target = wanted.min(hard);
    let raised = target > soft && set_file_limit(target, hard);
    let (in_force, _) = file_limit();
    if raised && in_force >= wanted {
        format!("{in_force} due to -nc")
    } else {
        format!("{in_force} (bump failed)")
    }
}

/// Descriptors kept for everything but clients: listeners, the database, IRC, logs.
const RESERVED_FILES: u64 = 64;

/// The most connections at once: `-nc` when given and the open-files limit reaches it, else
/// what the limit allows (a larger `-nc` than the limit would only turn into accept errors).
pub fn connection_cap(max_clients: u64) -> usize {
    let (soft, _) = file_limit();
    let cap = if max_clients > 0 && soft >= max_clients {
        max_clients
    } else {
        soft.saturating_sub(RESERVED_FILES).max(RESERVED_FILES)
    };
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// The open-file limit as (soft, hard); "unlimited" reads as `u64::MAX`, as libc's
/// `RLIM_INFINITY` does.
fn file_limit() -> (u64, u64) {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    (
        limit.current.unwrap_or(u64::MAX),
        limit.maximum.unwrap_or(u64::MAX),
    )
}

/// Sets the open-file limit; false when the OS refuses.
fn set_file_limit(soft: u64, hard: u64) -> bool {
    let limit = rustix::process::Rlimit {
        current: Some(soft),
        maximum: Some(hard),
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Activity;

    #[test]
    fn the_bench_line_is_spelled_like_r0cs() {
        let time = jiff::Timestamp::from_millisecond(1_700_000_000_500).expect("timestamp");
        let previous = Activity {
            joins: 1,
            parts: 0,
            messages: 3,
        };
        let now = Activity {
            joins: 3,
            parts: 1,
            messages: 10,
        };
        assert_eq!(
            bench_line(time, now, previous),
            "1700000000.500  j 3  p 1  m 10  d 2,1,7"
        );
    }
}
