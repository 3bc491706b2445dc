//! One IRC connection's protocol state, sans-IO: registration, nick collisions, PING/PONG and
//! our own ping timeout, which channels are joined and who is in them, what arrives for the
//! r0c side, and the queue of lines that wait for the rate limiter.
//!
//! The driver in [`crate::bridge`] feeds it received lines and the time, sends what it asks to
//! send, and turns its [`Event`]s into r0c messages. Time is a [`Duration`] on any monotonic
//! clock, so tests run without waiting.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use super::irc_proto::{Ctcp, IrcLine, command, ctcp};

/// Nick suffixes tried, in order, while the server answers 433 (nick in use): r0c's `1`..`5`.
const NICK_SUFFIXES: u32 = 5;
/// Silence from the server after which we send a PING of our own.
pub const PING_AFTER_SILENCE: Duration = Duration::from_secs(90);
/// How long our PING may go unanswered before the connection counts as dead.
pub const PING_TIMEOUT: Duration = Duration::from_secs(60);
/// How long registration (up to the 001 welcome) may take.
pub const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a channel we could not join (or were kicked from) is tried again.
pub const JOIN_RETRY: Duration = Duration::from_secs(30);
/// At most this many CTCP replies wait in the queue; more requests are ignored, so a CTCP
/// flood cannot crowd out chat.
const MAX_QUEUED_REPLIES: usize = 4;
/// Bytes of text per PRIVMSG line. The server prefixes `:nick!user@host ` when it relays the
/// line, and the whole must fit 512 bytes.
const TEXT_BYTES_PER_LINE: usize = 380;
/// The mode prefixes a NAMES reply may put before a nick.
const NAME_PREFIXES: &[char] = &['~', '&', '@', '%', '+'];

/// What the r0c side should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Registration finished; the server calls us `nick`.
    Registered { nick: String },
    /// We are in `channel` now.
    Joined { channel: String },
    /// A message (a line of chat, a `/me` or a NOTICE) from `nick` in `channel`, in IRC
    /// formatting.
    Message {
        channel: String,
        nick: String,
        text: String,
        said: Said,
    },
    /// Something happened in `channel` that r0c users see as a system line; canonical r0c
    /// text with IRC formatting already converted, still to be sanitized.
    Notice { channel: String, text: String },
    /// The server will never accept us as configured (a password is missing or wrong, the
    /// nick is not allowed): stop trying.
    GiveUp(String),
    /// Drop this connection and connect again later.
    Reconnect(String),
    /// Worth a line in the server log.
    Log(String),
}

/// The protocol state of one connection to one IRC network.
#[derive(Debug)]
pub struct Session {
    /// The nick from `--ircn`; suffixes are appended while it is taken.
    base_nick: String,
    user: String,
    password: Option<String>,
    ctcp_version: String,
    /// The bridged IRC channels of this network, lower-cased with their `#`.
    channels: Vec<String>,
    /// The nick we asked for last, or the one the server gave us.
    nick: String,
    /// How many suffixed nicks were tried so far.
    nick_attempts: u32,
    registered: bool,
    connected_at: Duration,
    /// Joined channels and the nicks in each.
    joined: HashMap<String, BTreeSet<String>>,
    /// When a JOIN was last queued per channel, so it is repeated only every [`JOIN_RETRY`].
    join_asked: HashMap<String, Duration>,
    /// Lines that wait for the rate limiter (JOIN, CTCP replies); chat is pulled separately.
    queue: VecDeque<String>,
    /// Lines to send at once: registration and PONG are never rate limited.
    immediate: Vec<String>,
    events: Vec<Event>,
    last_heard: Duration,
    ping_sent: Option<Duration>,
}

impl Session {
    /// A session for a network; nothing is sent until [`Session::connected`].
    pub fn new(
        nick: &str,
        user: &str,
        password: Option<&str>,
        ctcp_version: &str,
        channels: &[String],
    ) -> Session {
        Session {
            base_nick: nick.to_string(),
            user: user.to_string(),
            password: password.map(str::to_string),
            ctcp_version: ctcp_version.to_string(),
            channels: channels.iter().map(|c| c.to_ascii_lowercase()).collect(),
            nick: nick.to_string(),
            nick_attempts: 0,
            registered: false,
            connected_at: Duration::ZERO,
            joined: HashMap::new(),
            join_asked: HashMap::new(),
            queue: VecDeque::new(),
            immediate: Vec::new(),
            events: Vec::new(),
            last_heard: Duration::ZERO,
            ping_sent: None,
        }
    }

    /// A new connection is up: forget what the last one knew and register (PASS when a
    /// password is given, then NICK and USER).
    pub fn connected(&mut self, now: Duration) {
        self.nick = self.base_nick.clone();
        self.nick_attempts = 0;
        self.registered = false;
        self.connected_at = now;
        self.joined.clear();
        self.join_asked.clear();
        // What was queued for the old connection (JOINs, CTCP replies) means nothing now.
        self.queue.clear();
        self.immediate.clear();
        self.last_heard = now;
        self.ping_sent = None;
        if let Some(password) = &self.password {
            self.immediate
                .push(command(&["PASS", &format!(":{password}")]));
        }
        self.register();
    }

    fn register(&mut self) {
        self.immediate.push(command(&["NICK", &self.nick]));
        self.immediate
            .push(command(&["USER", &self.user, "0", "*", ":r0c bridge"]));
    }

    /// Whether the server has welcomed us.
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// The nick the server knows us by (or the one we are asking for).
    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// Whether we are in `channel` (lower-cased, with `#`).
    pub fn is_joined(&self, channel: &str) -> bool {
        self.joined.contains_key(channel)
    }

    /// Lines to send now, bypassing the rate limiter.
    pub fn take_immediate(&mut self) -> Vec<String> {
        std::mem::take(&mut self.immediate)
    }

    /// What happened since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The next rate-limited line (JOIN, CTCP reply), to send when the limiter allows.
    pub fn next_queued(&self) -> Option<&str> {
        self.queue.front().map(String::as_str)
    }

    /// The line [`Session::next_queued`] showed was sent.
    pub fn pop_queued(&mut self) {
        self.queue.pop_front();
    }

    /// Time passes: our own PING after a silence, the ping and registration timeouts, JOINs
    /// again for channels we are not in.
    pub fn tick(&mut self, now: Duration) {
        if !self.registered {
            if now.saturating_sub(self.connected_at) > REGISTRATION_TIMEOUT {
                self.events.push(Event::Reconnect(
                    "the server did not finish registration within 60 s".into(),
                ));
            }
            return;
        }
        match self.ping_sent {
            Some(sent) if now.saturating_sub(sent) > PING_TIMEOUT => {
                self.events.push(Event::Reconnect(format!(
                    "no answer to PING within {} s",
                    PING_TIMEOUT.as_secs()
                )));
                self.ping_sent = None;
            }
            None if now.saturating_sub(self.last_heard) > PING_AFTER_SILENCE => {
                self.immediate.push(command(&["PING", ":r0c"]));
                self.ping_sent = Some(now);
            }
            _ => {}
        }
        self.ask_to_join(now);
    }

    /// Queues a JOIN for every bridged channel we are not in, unless one was asked for within
    /// [`JOIN_RETRY`] or is still waiting in the queue.
    fn ask_to_join(&mut self, now: Duration) {
        for channel in &self.channels {
            if self.joined.contains_key(channel) {
                continue;
            }
            let recently = self
                .join_asked
                .get(channel)
                .is_some_and(|at| now.saturating_sub(*at) < JOIN_RETRY);
            let line = command(&["JOIN", channel]);
            if recently || self.queue.contains(&line) {
                continue;
            }
            self.queue.push_back(line);
            self.join_asked.insert(channel.clone(), now);
        }
    }

    /// A line from the server (without CR LF).
    pub fn received(&mut self, raw: &str, now: Duration) {
        self.last_heard = now;
        self.ping_sent = None;
        let Some(line) = IrcLine::parse(raw) else {
            return;
        };
        let param = |i: usize| line.params.get(i).map(String::as_str).unwrap_or("");
        let from = line.nick.clone().unwrap_or_default();
        let from_us = from.eq_ignore_ascii_case(&self.nick);
        match line.command.as_str() {
            "PING" => self
                .immediate
                .push(command(&["PONG", &format!(":{}", param(0))])),
            "001" => {
                self.registered = true;
                if !param(0).is_empty() {
                    self.nick = param(0).to_string();
                }
                self.events.push(Event::Registered {
                    nick: self.nick.clone(),
                });
                self.ask_to_join(now);
            }
            "433" | "436" | "437" if !self.registered => self.next_nick(),
            "432" if !self.registered => self.events.push(Event::GiveUp(format!(
                "the IRC server does not allow the nick {}",
                self.nick
            ))),
            "464" => self.events.push(Event::GiveUp(match self.password {
                Some(_) => "the IRC server refused the password (6th field of --ircn)".into(),
                None => {
                    "the IRC server requires a password: give it as the 6th field of --ircn".into()
                }
            })),
            "465" => self.events.push(Event::Reconnect(format!(
                "the IRC server refuses us: {}",
                line.params.last().map_or("", String::as_str)
            ))),
            "403" | "405" | "471" | "473" | "474" | "475" | "477" | "489" => {
                self.events.push(Event::Log(format!(
                    "cannot join {}: {} (trying again every {} s)",
                    param(1),
                    line.params.last().map_or("", String::as_str),
                    JOIN_RETRY.as_secs()
                )));
            }
            "ERROR" => self
                .events
                .push(Event::Log(format!("the IRC server says: {}", param(0)))),
            "353" => {
                let channel = param(2).to_ascii_lowercase();
                if let Some(members) = self.joined.get_mut(&channel) {
                    for name in param(3).split(' ').filter(|n| !n.is_empty()) {
                        members.insert(name.trim_start_matches(NAME_PREFIXES).to_string());
                    }
                }
            }
            "JOIN" => self.joined_by(&from, from_us, &param(0).to_ascii_lowercase()),
            "PART" => {
                let channel = param(0).to_ascii_lowercase();
                if from_us {
                    self.lost_channel(&channel, now);
                } else if self.remove_member(&channel, &from) {
                    let text = format!("irc: {} has left{}", shown(&from), reason(param(1)));
                    self.events.push(Event::Notice { channel, text });
                }
            }
            "KICK" => {
                let channel = param(0).to_ascii_lowercase();
                let victim = param(1);
                if victim.eq_ignore_ascii_case(&self.nick) {
                    self.lost_channel(&channel, now);
                    let text = format!(
                        "irc: the bridge was kicked by {}{}; it will join again",
                        shown(&from),
                        reason(param(2))
                    );
                    self.events.push(Event::Notice { channel, text });
                } else if self.remove_member(&channel, victim) {
                    let text = format!(
                        "irc: {} was kicked by {}{}",
                        shown(victim),
                        shown(&from),
                        reason(param(2))
                    );
                    self.events.push(Event::Notice { channel, text });
                }
            }
            "QUIT" => {
                for channel in self.channels_of(&from) {
                    self.remove_member(&channel, &from);
                    let text = format!("irc: {} has quit{}", shown(&from), reason(param(0)));
                    self.events.push(Event::Notice { channel, text });
                }
            }
            "NICK" => {
                let new = param(0);
                if from_us {
                    self.nick = new.to_string();
                    return;
                }
                for channel in self.channels_of(&from) {
                    if let Some(members) = self.joined.get_mut(&channel) {
                        members.remove(&from);
                        members.insert(new.to_string());
                    }
                    let text = format!("irc: {} is now known as {}", shown(&from), shown(new));
                    self.events.push(Event::Notice { channel, text });
                }
            }
            "PRIVMSG" => self.privmsg(&from, param(0), param(1)),
            // A channel's NOTICE is relayed as one; it is never answered (no CTCP replies).
            "NOTICE" => self.notice(&from, param(0), param(1)),
            _ => {}
        }
    }

    fn joined_by(&mut self, from: &str, from_us: bool, channel: &str) {
        if !self.channels.iter().any(|c| c == channel) {
            return;
        }
        if from_us {
            self.joined.insert(channel.to_string(), BTreeSet::new());
            self.events.push(Event::Joined {
                channel: channel.to_string(),
            });
        } else if let Some(members) = self.joined.get_mut(channel) {
            members.insert(from.to_string());
            let text = format!("irc: {} has joined", shown(from));
            self.events.push(Event::Notice {
                channel: channel.to_string(),
                text,
            });
        }
    }

    /// We are out of `channel` (parted or kicked): JOIN again after [`JOIN_RETRY`].
    fn lost_channel(&mut self, channel: &str, now: Duration) {
        if self.joined.remove(channel).is_some() {
            self.join_asked.insert(channel.to_string(), now);
        }
    }

    fn remove_member(&mut self, channel: &str, nick: &str) -> bool {
        self.joined
            .get_mut(channel)
            .is_some_and(|members| members.remove(nick))
    }

    fn channels_of(&self, nick: &str) -> Vec<String> {
        let mut channels: Vec<String> = self
            .joined
            .iter()
            .filter(|(_, members)| members.contains(nick))
            .map(|(channel, _)| channel.clone())
            .collect();
        channels.sort();
        channels
    }

    fn next_nick(&mut self) {
        if self.nick_attempts >= NICK_SUFFIXES {
            self.events.push(Event::Reconnect(format!(
                "the nicks {0} and {0}1 to {0}{NICK_SUFFIXES} are all taken",
                self.base_nick
            )));
            return;
        }
        self.nick_attempts += 1;
        self.nick = format!("{}{}", self.base_nick, self.nick_attempts);
        self.events.push(Event::Log(format!(
            "nick taken, trying {} instead",
            self.nick
        )));
        self.immediate.push(command(&["NICK", &self.nick]));
    }

    fn notice(&mut self, from: &str, target: &str, text: &str) {
        let channel = target.to_ascii_lowercase();
        if !self.channels.contains(&channel) || from.is_empty() {
            return;
        }
        if let Ctcp::Plain(text) = ctcp(text) {
            self.events.push(Event::Message {
                channel,
                nick: from.to_string(),
                text: text.to_string(),
                said: Said::Notice,
            });
        }
    }

    fn privmsg(&mut self, from: &str, target: &str, text: &str) {
        let kind = ctcp(text);
        if kind == Ctcp::Version {
            let replies = self
                .queue
                .iter()
                .filter(|l| l.starts_with("NOTICE "))
                .count();
            if replies < MAX_QUEUED_REPLIES && !from.is_empty() {
                let reply = format!(":\x01VERSION {}\x01", self.ctcp_version);
                self.queue.push_back(command(&["NOTICE", from, &reply]));
            }
            return;
        }
        let channel = target.to_ascii_lowercase();
        if !self.channels.contains(&channel) || from.is_empty() {
            return;
        }
        let (text, said) = match kind {
            Ctcp::Plain(text) => (text, Said::Chat),
            Ctcp::Action(text) => (text, Said::Action),
            Ctcp::Version | Ctcp::Other => return,
        };
        self.events.push(Event::Message {
            channel,
            nick: from.to_string(),
            text: text.to_string(),
            said,
        });
    }
}

/// An IRC nick in a system line: as r0c shows IRC nicks, in bold.
fn shown(nick: &str) -> String {
    match crate::world::irc_author(nick) {
        Some(author) => format!("\x02{author}\x02"),
        None => "someone".to_string(),
    }
}

/// ` (reason)` for a part, kick or quit that gave one, with IRC formatting converted.
fn reason(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({}\x0f)", super::irc_proto::irc_to_r0c(text))
    }
}

/// How a line of chat goes over IRC (the world's type: it posts what the bridge hears).
pub use crate::world::BridgeSaid as Said;

/// The PRIVMSG lines that carry `text` (already in IRC formatting) to `channel`: long texts
/// are split at spaces where possible, and a `/me` becomes CTCP ACTION on every line.
pub fn chat_lines(channel: &str, text: &str, action: bool) -> Vec<String> {
    said_lines(
        channel,
        text,
        if action { Said::Action } else { Said::Chat },
    )
}

/// [`chat_lines`] for any kind of line: a notice goes as NOTICE lines.
pub fn said_lines(channel: &str, text: &str, said: Said) -> Vec<String> {
    let mut lines = Vec::new();
    // A multi-line message (a paste) becomes one PRIVMSG per line.
    if text.contains('\n') {
        for line in text.split('\n').filter(|l| !l.trim().is_empty()) {
            lines.extend(said_lines(channel, line, said));
        }
        return lines;
    }
    let mut rest = text.trim_end();
    while !rest.is_empty() {
        let mut end = rest.len().min(TEXT_BYTES_PER_LINE);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end < rest.len()
            && let Some(space) = rest[..end].rfind(' ').filter(|s| *s > end / 2)
        {
            end = space;
        }
        let piece = &rest[..end];
        let payload = if said == Said::Action {
            format!(":\x01ACTION {piece}\x01")
        } else {
            format!(":{piece}")
        };
        let verb = if said == Said::Notice {
            "NOTICE"
        } else {
            "PRIVMSG"
        };
        lines.push(command(&[verb, channel, &payload]));
        rest = rest[end..].trim_start_matches(' ');
    }
    lines
}

#[cfg(test)]
mod tests;
