//! The IRC bridge (`--ircn`, `--ircb`): one task per IRC network relays between its bridged IRC
//! channels and the r0c channels they are linked to.
//!
//! The task pulls what r0c users said from the world, like a client pulls what it displays: it
//! keeps a cursor (a sequence number) per link and reads on from it when the rate limiter lets
//! it send. So nothing is queued per message, and what was said while IRC was unreachable is
//! sent once the link is back (up to [`MAX_BACKLOG`] messages per link). What arrives from IRC
//! is posted into the world, where the sanitizer handles it like typed text.

pub mod irc_proto;
pub mod session;
pub mod transport;

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, WriteHalf};
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, IrcLink, IrcNetwork};
use crate::log_limit::{LogLimit, Verdict};
use crate::rate::TokenBucket;
use crate::world::{AUTHOR_ACTION, Message, MessageKind, Origin, World};
use irc_proto::{irc_to_r0c, r0c_to_irc};
use session::{Event, Said, Session, said_lines};
pub use transport::IrcTlsError;

/// How long a TCP connect plus TLS handshake to an IRC server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one write to the IRC server may take before the connection counts as dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// The first wait before reconnecting, as r0c (2 s); it doubles with every failure.
const FIRST_RETRY: Duration = Duration::from_secs(2);
/// The longest wait between reconnects.
const MAX_RETRY: Duration = Duration::from_secs(300);
/// A connection that lasted this long resets the backoff.
const STABLE_CONNECTION: Duration = Duration::from_secs(60);
/// The longest line we accept from an IRC server: 512 bytes plus 8191 of IRCv3 tags.
const MAX_IRC_LINE: usize = 512 + 8191;
/// The most r0c messages per link waiting to go to IRC; older ones are skipped (and logged),
/// since at the default rate of one line per 2 s a longer backlog would take too long to be of
/// use.
pub const MAX_BACKLOG: u64 = 500;
/// Messages read from the world per look.
const PULL_BATCH: usize = 256;

/// The bridge as configured, with its channels open, ready to run.
pub struct Bridge {
    networks: Vec<NetworkTask>,
    report: Vec<String>,
}

/// One `--ircb` link and how far its r0c channel has been relayed.
#[derive(Debug)]
struct LinkState {
    /// The link's number: its index among the `--ircb`s.
    index: usize,
    link: IrcLink,
    /// The sequence number of the next r0c message to consider for relaying.
    cursor: u64,
}

/// Why a connection ended.
enum Outcome {
    Shutdown,
    GiveUp(String),
    Lost(String),
}

impl Bridge {
    /// Sets up TLS for `+port` networks and opens every bridged r0c channel, so they exist
    /// (and stay) from startup on. Nothing connects until [`Bridge::spawn`].
    pub fn prepare(config: &Config, world: &Arc<World>) -> Result<Bridge, IrcTlsError> {
        let tls = if config.irc_networks.iter().any(|n| n.tls) {
            Some(transport::connector(
                config.irc_ca.as_deref(),
                config.irc_insecure,
            )?)
        } else {
            None
        };
        let mut report = Vec::new();
        let mut networks = Vec::new();
        for network in &config.irc_networks {
            let port = if network.tls {
                format!("+{}", network.port)
            } else {
                network.port.to_string()
            };
            let mut line = format!("Adding irc-net {} ({}:{port})", network.name, network.host);
            if network.tls && config.irc_insecure {
                line.push_str(" INSECURE: --irc-insecure, the certificate is not verified");
            }
            report.push(line);
            let wake = Arc::new(Notify::new());
            let mut links = Vec::new();
            for (index, link) in config.irc_links.iter().enumerate() {
                if link.network != network.name {
                    continue;
                }
                report.push(format!(
                    "Adding irc-bridge <{}:{}> #{}",
                    network.name, link.irc_channel, link.r0c_channel
                ));
                let cursor = world.open_bridged(
                    &link.r0c_channel,
                    load_bridged(world, &link.r0c_channel),
                    wake.clone(),
                );
                links.push(LinkState {
                    index,
                    link: link.clone(),
                    cursor,
                });
            }
            let channels: Vec<String> = links.iter().map(|l| l.link.irc_channel.clone()).collect();
            let session = Session::new(
                &network.nick,
                &network.user,
                network.password.as_deref(),
                &config.ctcp_version,
                &channels,
            );
            let interval = Duration::from_secs_f64(config.irc_rate.1);
            networks.push(NetworkTask {
                network: network.clone(),
                links,
                world: world.clone(),
                wake,
                tls: tls.clone().filter(|_| network.tls),
                session,
                limiter: TokenBucket::per_interval(config.irc_rate.0, interval, Instant::now()),
                pending: VecDeque::new(),
                epoch: Instant::now(),
                debug: config.dbg_irc,
                overlong_log: LogLimit::per_minute(SERVER_LOG_LINES_PER_MINUTE),
                server_log: LogLimit::per_minute(SERVER_LOG_LINES_PER_MINUTE),
            });
        }
        Ok(Bridge { networks, report })
    }

    /// Lines for the startup report: the networks and links, as r0c prints them.
    pub fn report(&self) -> &[String] {
        &self.report
    }

    /// Starts one task per network; each stops when `shutdown` is cancelled.
    pub fn spawn(self, tracker: &TaskTracker, shutdown: &CancellationToken) {
        for network in self.networks {
            tracker.spawn(network.run(shutdown.clone()));
        }
    }
}

/// Everything one network's task owns; it survives reconnects, and so does what is pending.
struct NetworkTask {
    network: IrcNetwork,
    links: Vec<LinkState>,
    world: Arc<World>,
    /// Woken when a message in any of this network's r0c channels is committed by the store
    /// (`World::wake_committed`), so a message that waits for the store needs no polling.
    wake: Arc<Notify>,
    tls: Option<TlsConnector>,
    session: Session,
    /// `--i-rate`: every line but registration and PONG waits for it.
    limiter: TokenBucket,
    /// PRIVMSG lines of a message already taken from the world, not yet sent.
    pending: VecDeque<String>,
    /// The session's clock starts here.
    epoch: Instant,
    /// `--dbg-irc`: log every line.
    debug: bool,
    /// The log lines about overlong lines from the server.
    overlong_log: LogLimit,
    /// The log lines the server's own lines cause (ERROR, join refusals, nick clashes,
    /// registrations and joins): a hostile server could send them without end.
    server_log: LogLimit,
}

/// How many log lines of one kind an IRC server can cause a minute.
const SERVER_LOG_LINES_PER_MINUTE: u32 = 10;

/// Logs a line that the IRC server can cause again and again, within `limit`: a line saying
/// how many were left out comes before the first one logged again, and one saying that more
/// are left out after the last one of a minute.
fn log_limited(
    limit: &mut LogLimit,
    now: Duration,
    net: &str,
    warn: bool,
    line: impl FnOnce() -> String,
) {
    let Verdict::Log { suppressed, last } = limit.check(now) else {
        return;
    };
    if suppressed > 0 {
        tracing::warn!(
            net,
            "{suppressed} log lines like the next one were left out"
        );
    }
    if warn {
        tracing::warn!(net, "{}", line());
    } else {
        tracing::info!(net, "{}", line());
    }
    if last {
        tracing::warn!(
            net,
            "further log lines like the last one are left out for up to a minute"
        );
    }
}

impl NetworkTask {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut failures: u32 = 0;
        let link_up = crate::metrics::irc_link(&self.network.name);
        link_up.set(0.0);
        loop {
            let name = self.network.name.clone();
            let connecting = tokio::time::timeout(
                CONNECT_TIMEOUT,
                transport::connect(&self.network.host, self.network.port, self.tls.as_ref()),
            );
            let connected = tokio::select! {
                _ = shutdown.cancelled() => return,
                connected = connecting => connected,
            };
            match connected {
                Ok(Ok(stream)) => {
                    if failures > 0 {
                        tracing::warn!(
                            net = name,
                            "finally connected to irc after {failures} failed attempts"
                        );
                    }
                    let started = Instant::now();
                    let outcome = self.converse(stream, &shutdown, &link_up).await;
                    link_up.set(0.0);
                    match outcome {
                        Outcome::Shutdown => return,
                        Outcome::GiveUp(why) => {
                            tracing::error!(net = name, "irc bridge gives up: {why}");
                            self.notice_everywhere(&format!(
                                "irc: the bridge to {name} stopped: {why}"
                            ));
                            return;
                        }
                        Outcome::Lost(why) => {
                            tracing::warn!(net = name, "lost connection to irc: {why}");
                            if self.session.is_registered() {
                                self.notice_everywhere(&format!(
                                    "irc: lost the connection to {name} ({why}); reconnecting, messages said meanwhile will follow"
                                ));
                            }
                        }
                    }
                    failures = if started.elapsed() >= STABLE_CONNECTION {
                        0
                    } else {
                        failures + 1
                    };
                }
                Ok(Err(error)) => {
                    failures += 1;
                    self.connect_failed(failures, &error.to_string());
                }
                Err(_) => {
                    failures += 1;
                    self.connect_failed(failures, "timed out");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(retry_delay(failures)) => {}
            }
        }
    }

    fn connect_failed(&self, attempt: u32, why: &str) {
        tracing::warn!(
            net = self.network.name,
            "connecting to irc {}:{} failed (attempt {attempt}): {why}",
            self.network.host,
            self.network.port
        );
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Talks to the server until the connection ends.
    async fn converse(
        &mut self,
        stream: Box<dyn transport::IrcStream>,
        shutdown: &CancellationToken,
        link_up: &metrics::Gauge,
    ) -> Outcome {
        let (mut reader, mut writer) = tokio::io::split(stream);
        self.session.connected(self.now());
        let mut received = Vec::new();
        let mut discarding = false;
        let mut chunk = vec![0u8; 4096];
        let wake = self.wake.clone();
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            for line in self.session.take_immediate() {
                if let Err(why) = self.write(&mut writer, &line).await {
                    return Outcome::Lost(why);
                }
            }
            for event in self.session.take_events() {
                if let Some(outcome) = self.handle(event) {
                    return outcome;
                }
            }
            link_up.set(if self.session.is_registered() {
                1.0
            } else {
                0.0
            });
            let wait = match self.send_limited(&mut writer).await {
                Ok(wait) => wait,
                Err(why) => return Outcome::Lost(why),
            };
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    let quit = irc_proto::command(&["QUIT", ":r0c is shutting down"]);
                    let _ = tokio::time::timeout(Duration::from_secs(1), writer.write_all(quit.as_bytes())).await;
                    return Outcome::Shutdown;
                }
                read = reader.read(&mut chunk) => {
                    let count = match read {
                        Ok(0) => return Outcome::Lost("the server closed the connection".into()),
                        Ok(count) => count,
                        Err(error) => return Outcome::Lost(error.to_string()),
                    };
                    received.extend_from_slice(&chunk[..count]);
                    while let Some(end) = received.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = received.drain(..=end).collect();
                        if std::mem::replace(&mut discarding, false) {
                            continue;
                        }
                        let text = irc_proto::decode_line(&line[..end]);
                        let text = text.trim_end_matches('\r');
                        if self.debug {
                            debug_line(&self.network.name, "<-", text);
                        }
                        self.session.received(text, self.now());
                    }
                    if received.len() > MAX_IRC_LINE {
                        log_limited(&mut self.overlong_log, self.epoch.elapsed(), &self.network.name, true, || {
                            format!("irc server sent a line longer than {MAX_IRC_LINE} bytes; dropped")
                        });
                        received.clear();
                        discarding = true;
                    }
                }
                _ = ticker.tick() => self.session.tick(self.now()),
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait.unwrap_or(Duration::ZERO)), if wait.is_some() => {}
            }
        }
    }

    /// Sends rate-limited lines (JOINs and CTCP replies first, then chat) while the limiter
    /// allows; returns how long until it allows the next one, if one is waiting.
    async fn send_limited(
        &mut self,
        writer: &mut WriteHalf<Box<dyn transport::IrcStream>>,
    ) -> Result<Option<Duration>, String> {
        loop {
            let (line, control) = match self.session.next_queued() {
                Some(line) => (line.to_string(), true),
                None => match self.next_chat_line() {
                    Some(line) => (line, false),
                    // Nothing to relay, or a message waits for the store: its commit wakes
                    // this task.
                    None => return Ok(None),
                },
            };
            if let Err(wait) = self.limiter.try_take(1.0, Instant::now()) {
                return Ok(Some(wait));
            }
            self.write(writer, &line).await?;
            if control {
                self.session.pop_queued();
            } else {
                self.pending.pop_front();
            }
        }
    }

    /// The next PRIVMSG line to send: the rest of a message already taken, or the oldest
    /// relayable message of any link whose IRC channel is joined.
    fn next_chat_line(&mut self) -> Option<String> {
        if let Some(line) = self.pending.front() {
            return Some(line.clone());
        }
        let mut best: Option<(usize, Arc<Message>)> = None;
        for (position, link) in self.links.iter_mut().enumerate() {
            if !self.session.is_joined(&link.link.irc_channel) {
                continue;
            }
            let Some(message) = next_relayable(&self.world, link, &self.network.name) else {
                continue;
            };
            if best
                .as_ref()
                .is_none_or(|(_, b)| message.unix_micros < b.unix_micros)
            {
                best = Some((position, message));
            }
        }
        let (position, message) = best?;
        let link = &mut self.links[position];
        link.cursor = message.seq + 1;
        let (text, said) = irc_text(&message, link.index)?;
        self.pending
            .extend(said_lines(&link.link.irc_channel, &text, said));
        self.pending.front().cloned()
    }

    async fn write(
        &self,
        writer: &mut WriteHalf<Box<dyn transport::IrcStream>>,
        line: &str,
    ) -> Result<(), String> {
        if self.debug {
            debug_line(&self.network.name, "->", line.trim_end());
        }
        match tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(line.as_bytes())).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!(
                "the server did not take our data for {} s",
                WRITE_TIMEOUT.as_secs()
            )),
        }
    }

    /// Turns a session event into what r0c users see; some events end the connection.
    fn handle(&mut self, event: Event) -> Option<Outcome> {
        let now = self.epoch.elapsed();
        let name = &self.network.name;
        match event {
            Event::Registered { nick } => {
                log_limited(&mut self.server_log, now, name, false, || {
                    format!("connected to irc as {nick}")
                });
            }
            Event::Joined { channel } => {
                log_limited(&mut self.server_log, now, name, false, || {
                    format!("joined irc channel {channel}")
                });
                let text = format!(
                    "irc: bridged with {channel} on {name} as \x02{}\x02",
                    self.session.nick()
                );
                self.notice_in(&channel, &text);
            }
            Event::Message {
                channel,
                nick,
                text,
                said,
            } => {
                let text = irc_to_r0c(&text);
                for link in self.links.iter().filter(|l| l.link.irc_channel == channel) {
                    self.world.post_from_irc(
                        &link.link.r0c_channel,
                        &nick,
                        &text,
                        said,
                        link.index,
                    );
                }
            }
            Event::Notice { channel, text } => self.notice_in(&channel, &text),
            Event::GiveUp(why) => return Some(Outcome::GiveUp(why)),
            Event::Reconnect(why) => return Some(Outcome::Lost(why)),
            Event::Log(text) => {
                log_limited(&mut self.server_log, now, name, true, || {
                    format!("irc: {text}")
                });
            }
        }
        None
    }

    fn notice_in(&self, irc_channel: &str, text: &str) {
        for link in self
            .links
            .iter()
            .filter(|l| l.link.irc_channel == irc_channel)
        {
            self.world.post_irc_notice(&link.link.r0c_channel, text);
        }
    }

    fn notice_everywhere(&self, text: &str) {
        let mut seen = Vec::new();
        for link in &self.links {
            if !seen.contains(&&link.link.r0c_channel) {
                seen.push(&link.link.r0c_channel);
                self.world.post_irc_notice(&link.link.r0c_channel, text);
            }
        }
    }
}

/// The next message of `link`'s r0c channel to relay, moving the cursor past everything that
/// is not to be relayed (and past a backlog beyond [`MAX_BACKLOG`]). A message the store has
/// not committed yet is not returned; its commit wakes the network's task, which looks again.
fn next_relayable(world: &World, link: &mut LinkState, network: &str) -> Option<Arc<Message>> {
    loop {
        let (messages, next_seq, _) =
            world.bridge_messages(&link.link.r0c_channel, link.cursor, PULL_BATCH);
        if next_seq.saturating_sub(link.cursor) > MAX_BACKLOG {
            let skip_to = next_seq - MAX_BACKLOG;
            tracing::warn!(
                net = network,
                channel = link.link.irc_channel,
                "irc link too far behind; {} older messages are not relayed",
                skip_to - link.cursor
            );
            link.cursor = skip_to;
            continue;
        }
        let Some(last) = messages.last() else {
            link.cursor = link.cursor.max(next_seq);
            return None;
        };
        let last_seq = last.seq;
        if let Some(message) = messages
            .into_iter()
            .find(|m| irc_text(m, link.index).is_some())
        {
            link.cursor = message.seq;
            return Some(message);
        }
        link.cursor = last_seq + 1;
    }
}

/// What goes to IRC for `message` over link `link`, and whether as a CTCP ACTION: a local
/// user's message as `<nick> text`, a `/me` as an action, and what came from another IRC
/// link the same way. Nothing for system lines, or for what came from this very link.
fn irc_text(message: &Message, link: usize) -> Option<(String, Said)> {
    match message.origin {
        Origin::Internal => return None,
        Origin::Bridge(from) if from == link => return None,
        Origin::Local | Origin::Bridge(_) => {}
    }
    if message.author == AUTHOR_ACTION {
        Some((r0c_to_irc(&message.text).into_owned(), Said::Action))
    } else {
        // Every line of a multi-line message (a paste) names its author.
        let text = r0c_to_irc(&message.text)
            .split('\n')
            .map(|line| format!("<{}> {line}", message.author))
            .collect::<Vec<_>>()
            .join("\n");
        let said = if message.kind == MessageKind::Notice {
            Said::Notice
        } else {
            Said::Chat
        };
        Some((text, said))
    }
}

/// `--dbg-irc`: one line of IRC traffic on stderr. Write errors are ignored: a closed
/// stderr must not stop the bridge.
fn debug_line(network: &str, direction: &str, line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "irc {network} {direction} {line}");
}

/// How long to wait before connecting again after `failures` failures in a row: 2 s, doubling
/// up to 5 minutes, each with up to ±25% jitter so many bridges do not reconnect in step.
fn retry_delay(failures: u32) -> Duration {
    let base = FIRST_RETRY
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(MAX_RETRY);
    // A random number without a dependency: std's hasher keys are random per instance.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let jitter = 0.75 + (random % 1000) as f64 / 2000.0;
    base.mul_f64(jitter)
}

/// The history of a bridged channel, read at startup (before any connection is accepted, as the
/// store is opened then too): nothing if it is open already.
fn load_bridged(world: &World, name: &str) -> crate::world::LoadedChannel {
    if world.is_open(name) {
        return crate::world::LoadedChannel::default();
    }
    let load = crate::world::Load::Join {
        name: name.to_string(),
        after: crate::store::TICKET_NOT_STORED,
        limit: world.history_limit(),
    };
    match crate::history::read_blocking(world.store(), crate::history::Read::Load(load)) {
        crate::history::Arrived::Join {
            loaded: Some(loaded),
            ..
        } => loaded,
        _ => crate::world::LoadedChannel::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_with_jitter_and_stay_capped() {
        for (failures, base) in [
            (0, 2.0),
            (1, 2.0),
            (2, 4.0),
            (3, 8.0),
            (9, 300.0),
            (40, 300.0),
        ] {
            let delay = retry_delay(failures).as_secs_f64();
            assert!(
                (base * 0.75..=base * 1.25).contains(&delay),
                "{failures} failures: {delay} s"
            );
        }
    }

    #[test]
    fn what_is_relayed_and_how() {
        let message = |author: &str, text: &str, origin| Message {
            seq: 0,
            unix_micros: 0,
            author: author.into(),
            text: text.into(),
            origin,
            kind: MessageKind::Chat,
            ticket: 0,
            lines: Default::default(),
            mention_index: Default::default(),
            local_day: None,
        };
        let local = message("alice", "hi \x0b9red", Origin::Local);
        assert_eq!(
            irc_text(&local, 0),
            Some(("<alice> hi \x0304red".into(), Said::Chat))
        );
        let action = message(AUTHOR_ACTION, "\x02alice\x02 waves", Origin::Local);
        assert_eq!(
            irc_text(&action, 0),
            Some(("\x02alice\x02 waves".into(), Said::Action))
        );
        let from_irc = message("~bob", "yo", Origin::Bridge(1));
        assert_eq!(
            irc_text(&from_irc, 1),
            None,
            "never echoed to its own channel"
        );
        assert_eq!(
            irc_text(&from_irc, 2),
            Some(("<~bob> yo".into(), Said::Chat))
        );
        let notice = Message {
            kind: MessageKind::Notice,
            ..message("alice", "psst", Origin::Local)
        };
        assert_eq!(
            irc_text(&notice, 0),
            Some(("<alice> psst".into(), Said::Notice))
        );
        let system = message("--", "\x0babob\x02 has joined", Origin::Internal);
        assert_eq!(irc_text(&system, 0), None);
    }
}
