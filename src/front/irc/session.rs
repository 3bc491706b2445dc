//! One IRC client's protocol state: registration (NICK, USER, PASS, CAP 302, SASL PLAIN),
//! the IRC commands mapped onto the world as a terminal user's commands are, and the lines
//! that tell the client what changed in the world since it last looked (`sync`).
//!
//! The session calls the world directly (short calls under its lock, like the terminal
//! session's), and hands what must be awaited back to the connection loop as a [`Wait`]: a
//! channel to read from the store, a password check on the password pool, the store's commit
//! before a PONG. Output goes into `out`, which the loop writes and bounds.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Instant;
use tokio::sync::Notify;

use super::reply::{self, line, numeric, user_prefix};
use crate::bridge::irc_proto::{self, Ctcp, IrcLine};
use crate::command::{Command, Effect, Outgoing};
use crate::history::chathistory::{Point, Query};
use crate::session::flood::{CommandBudget, Cost, FloodGuard, FloodLimits, Verdict};
use crate::text::{channel::MAX_CHANNEL_CHARS, nick};
use crate::world::{
    AUTHOR_ACTION, AUTHOR_INFO, AUTHOR_SYSTEM, ChannelId, IrcCursor, IrcHistorySource, IrcMember,
    IrcRoster, IrcSync, IrcTarget, JoinError, JoinRefusal, JoinStep, Load, LoadedChannel,
    LockdownRefusal, MAX_TOPIC_CHARS, Message, MessageKind, ModError, NickError, UserId, World,
    normalize_channel_name, parse_invite_line, parse_kicked_line, parse_mode_line,
};

/// The capabilities this server offers, in CAP LS order.
pub const CAPABILITIES: [&str; 14] = [
    "account-notify",
    "account-tag",
    "away-notify",
    "batch",
    "draft/chathistory",
    "draft/read-marker",
    "echo-message",
    "extended-join",
    "labeled-response",
    "message-tags",
    "multi-prefix",
    "sasl",
    "server-time",
    "userhost-in-names",
];

/// MARKREAD targets one connection keeps a moment for (as many as the world keeps markers
/// for one identified user).
pub const MAX_READ_MARKS: usize = crate::world::MAX_MARKERS_PER_PRINCIPAL;

/// What an IRC user reads after sending a password over a connection that is not encrypted.
pub const CLEAR_TEXT_NOTICE: &str = "warning: this connection is not encrypted, so the password you just sent crossed the network as plain text; use this server's TLS port for IRC (6697 by default), and change the password if the network is not yours";

/// Users WHO with a mask lists at most.
pub const MAX_WHO: usize = 200;

/// Lines of the operator's MOTD file an IRC client is shown at most.
const MOTD_LINES: usize = 100;

/// Characters of one MOTD line at most: with the numeric's prefix it stays within 512 bytes.
const MOTD_LINE_CHARS: usize = 100;

/// Channels LIST shows at most.
pub const MAX_LIST: usize = 1000;

/// Targets one PRIVMSG, NOTICE, JOIN or PART names at most (ISUPPORT TARGMAX).
pub const MAX_TARGETS: usize = 4;

/// SASL's base64 chunk size: a client sends longer data in pieces of this many bytes.
const SASL_CHUNK: usize = 400;

/// The most bytes of SASL data one authentication may send.
const MAX_SASL: usize = 1200;

/// What the connection loop must await before the session goes on.
#[derive(Debug)]
pub enum Wait {
    /// Read a stored conversation's history (`Load::Direct`), then open it and send.
    Direct(Load),
    /// Read channel `name` from the store (`Load::Join`), then [`IrcSession::finish_join`].
    Join(String, Load),
    /// Read a channel the user had open when they left, or a conversation left with unread
    /// messages (issue 20's return, queued by the world at login), then
    /// `World::finish_rejoin` or `World::finish_reopen`.
    Rejoin(Load),
    /// Wait until the store committed what was queued so far, then sync and answer PONG.
    Pong(String),
    /// Check the password of account `account` (SASL PLAIN), then [`IrcSession::sasl_done`].
    Sasl { account: String, password: String },
    /// Read CHATHISTORY's messages, then [`IrcSession::finish_history`].
    History(HistoryRequest),
    /// Read the newest times of the user's targets, then [`IrcSession::finish_targets`].
    Targets {
        targets: Vec<(String, IrcHistorySource)>,
        from: i64,
        until: i64,
        limit: usize,
    },
}

/// A CHATHISTORY request for one target, as the connection loop carries it out.
#[derive(Debug)]
pub struct HistoryRequest {
    /// The target as the client named it (the batch's parameter).
    pub label: String,
    /// The target as a window of the session's: where the messages are addressed.
    pub target: IrcTarget,
    pub source: IrcHistorySource,
    pub query: Query,
    pub limit: usize,
}

/// A line of chat held by flood control.
#[derive(Debug, Clone)]
pub struct Say {
    target: String,
    text: String,
    action: bool,
    /// Chat, or a NOTICE (stored and relayed as one, and never answered automatically).
    kind: MessageKind,
    /// The client-only tags it came with (relayed, not stored).
    client_tags: String,
}

/// A window of the user's as the client knows it.
#[derive(Debug)]
struct Tracked {
    target: IrcTarget,
    /// What the window's message ids are made from.
    history_key: String,
    cursor: IrcCursor,
    /// Members of a public channel as last told: the world's shared list, not a copy.
    members: IrcRoster,
}

#[derive(Debug, Default, Clone, Copy)]
struct Caps {
    account_notify: bool,
    account_tag: bool,
    away_notify: bool,
    batch: bool,
    chathistory: bool,
    read_marker: bool,
    echo_message: bool,
    extended_join: bool,
    labeled_response: bool,
    message_tags: bool,
    multi_prefix: bool,
    sasl: bool,
    server_time: bool,
    userhost_in_names: bool,
}

impl Caps {
    fn set(&mut self, name: &str, on: bool) -> bool {
        let flag = match name {
            "account-notify" => &mut self.account_notify,
            "account-tag" => &mut self.account_tag,
            "away-notify" => &mut self.away_notify,
            "batch" => &mut self.batch,
            "draft/chathistory" => &mut self.chathistory,
            "draft/read-marker" => &mut self.read_marker,
            "echo-message" => &mut self.echo_message,
            "extended-join" => &mut self.extended_join,
            "labeled-response" => &mut self.labeled_response,
            "message-tags" => &mut self.message_tags,
            "multi-prefix" => &mut self.multi_prefix,
            "sasl" => &mut self.sasl,
            "server-time" => &mut self.server_time,
            "userhost-in-names" => &mut self.userhost_in_names,
            _ => return false,
        };
        *flag = on;
        true
    }

    fn list(&self) -> String {
        let on = [
            ("account-notify", self.account_notify),
            ("account-tag", self.account_tag),
            ("away-notify", self.away_notify),
            ("batch", self.batch),
            ("draft/chathistory", self.chathistory),
            ("draft/read-marker", self.read_marker),
            ("echo-message", self.echo_message),
            ("extended-join", self.extended_join),
            ("labeled-response", self.labeled_response),
            ("message-tags", self.message_tags),
            ("multi-prefix", self.multi_prefix),
            ("sasl", self.sasl),
            ("server-time", self.server_time),
            ("userhost-in-names", self.userhost_in_names),
        ];
        on.iter()
            .filter(|(_, on)| *on)
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One IRC client's session.
pub struct IrcSession {
    world: Arc<World>,
    peer: SocketAddr,
    /// The operator's message of the day (`--motd`), as read when the client connected: its
    /// lines, cleaned for IRC, after the server's own.
    motd_lines: Vec<String>,
    /// The server's name in prefixes and numerics (`--irc-name`).
    server: Arc<str>,
    /// The world's user, once registered (or once SASL needed one).
    user: Option<UserId>,
    wake: Option<Arc<Notify>>,
    /// Registration is complete (001 sent).
    registered: bool,
    /// The nick asked for with NICK before registration; the user's nick after.
    nick: String,
    user_given: bool,
    /// The user name and real name given with USER.
    ident: (String, String),
    cap_negotiating: bool,
    caps: Caps,
    sasl_buffer: Option<String>,
    sasl_done: bool,
    windows: HashMap<ChannelId, Tracked>,
    /// Channels of a JOIN still to join, after the one being read from the store.
    join_queue: VecDeque<(String, Option<String>)>,
    /// Messages to stored conversations (between two identified users) that wait for the
    /// conversation's history to be read; the connection loop reads and sends them.
    direct_loads: VecDeque<Load>,
    flood: FloodGuard<Say>,
    budget: CommandBudget,
    /// An account command (`REGISTER` and the like) is running.
    account_job: Arc<std::sync::atomic::AtomicBool>,
    /// The channels the world queues for the user to rejoin at login (checked without the
    /// world's lock: an atomic flag says whether any wait).
    rejoins: Option<Arc<crate::world::Rejoins>>,
    /// The reason the client's QUIT gave, shown to the others when the user leaves.
    pub quit_reason: String,
    /// The reasons of the client's PARTs not yet answered with its PART line, by channel
    /// (at most [`MAX_TARGETS`] per PART, taken by the next sync).
    part_reasons: HashMap<String, String>,
    /// This connection carries passwords in the clear (plain listener, not loopback).
    in_the_clear: bool,
    /// The user was warned of that.
    warned_clear_text: bool,
    /// The last batch reference given out (batches are numbered per connection).
    batches: u64,
    /// MARKREAD timestamps set in this connection, by target (lower-case), at most
    /// [`MAX_READ_MARKS`]: IRC's read markers are moments, r0c's are message numbers
    /// (`World::irc_mark_read` moves those too), so the moment a client set is kept to give
    /// it back as it was set.
    read_marks: HashMap<String, i64>,
    /// The `label` of the command being handled (labeled-response) and where its answer
    /// starts in `out`.
    label: Option<(String, usize)>,
    /// The TAGMSG relay shared with the other IRC connections, once the listener gave it.
    tag_relay: Option<Arc<super::relay::TagRelay>>,
    /// The client-only tags (`+name`) of the line being handled, `;`-separated.
    client_tags: String,
    /// What to write to the client.
    pub out: Vec<u8>,
    /// Set when the connection should close after writing `out`.
    pub closing: bool,
    /// Another sync is due at once (a window had more messages than one sync hands out).
    pub more: bool,
}

impl IrcSession {
    pub fn new(
        world: Arc<World>,
        server: Arc<str>,
        peer: SocketAddr,
        flood: FloodLimits,
        now: Instant,
    ) -> IrcSession {
        IrcSession {
            world,
            server,
            peer,
            user: None,
            wake: None,
            registered: false,
            nick: String::new(),
            user_given: false,
            ident: (String::new(), String::new()),
            cap_negotiating: false,
            caps: Caps::default(),
            sasl_buffer: None,
            sasl_done: false,
            windows: HashMap::new(),
            join_queue: VecDeque::new(),
            direct_loads: VecDeque::new(),
            flood: FloodGuard::new(flood, now),
            budget: CommandBudget::new(&flood, now),
            account_job: Arc::default(),
            batches: 0,
            rejoins: None,
            quit_reason: String::new(),
            part_reasons: HashMap::new(),
            in_the_clear: false,
            motd_lines: Vec::new(),
            warned_clear_text: false,
            read_marks: HashMap::new(),
            label: None,
            tag_relay: None,
            client_tags: String::new(),
            out: Vec::new(),
            closing: false,
            more: false,
        }
    }

    /// Joins the listener's TAGMSG relay (without it, TAGMSG reaches nobody).
    pub fn set_tag_relay(&mut self, relay: Arc<super::relay::TagRelay>) {
        self.tag_relay = Some(relay);
    }

    /// The operator's MOTD file's text (`--motd`), shown by MOTD after the server's lines:
    /// control characters become spaces, each line is cut to [`MOTD_LINE_CHARS`] characters,
    /// and at most [`MOTD_LINES`] lines are kept, so every one fits an IRC line.
    pub fn set_motd(&mut self, text: &str) {
        self.motd_lines = text
            .lines()
            .take(MOTD_LINES)
            .map(|line| {
                let clean: String = line
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(MOTD_LINE_CHARS)
                    .collect();
                format!("- {}", clean.trim_end())
            })
            .collect();
    }

    /// Says whether this connection carries passwords in the clear
    /// ([`crate::password::sent_in_the_clear`]), for the warning after PASS or SASL.
    pub fn set_in_the_clear(&mut self, in_the_clear: bool) {
        self.in_the_clear = in_the_clear;
    }

    /// After a password came over a connection that is not encrypted: one NOTICE saying so
    /// (it has crossed the network already; the next one need not).
    fn warn_clear_text(&mut self) {
        if self.in_the_clear && !std::mem::replace(&mut self.warned_clear_text, true) {
            self.notice(CLEAR_TEXT_NOTICE);
        }
    }

    /// The world's user, once there is one.
    pub fn user(&self) -> Option<UserId> {
        self.user
    }

    /// The wake-up handle of the world's user, once there is one.
    pub fn wake(&self) -> Option<Arc<Notify>> {
        self.wake.clone()
    }

    /// The nick numerics are addressed to.
    fn me(&self) -> &str {
        if self.nick.is_empty() {
            "*"
        } else {
            &self.nick
        }
    }

    fn send(&mut self, text: String) {
        self.out.extend_from_slice(text.as_bytes());
    }

    fn reply(&mut self, code: u16, params: &[&str], trailing: &str) {
        let text = numeric(&self.server, code, self.me(), params, Some(trailing));
        self.send(text);
    }

    fn notice(&mut self, text: &str) {
        let target = self.me().to_owned();
        for piece in reply::split_text(&irc_proto::r0c_to_irc(text), 64 + target.len()) {
            let text = line("", &self.server, "NOTICE", &[&target], Some(piece));
            self.send(text);
        }
    }

    /// A line longer than [`reply::MAX_CLIENT_LINE`] was dropped.
    pub fn input_too_long(&mut self) {
        self.reply(417, &[], "Input line was too long");
    }

    /// Ends the connection with an ERROR line.
    pub fn error(&mut self, why: &str) {
        let text = line("", "", "ERROR", &[], Some(&format!("Closing link: {why}")));
        self.send(text);
        self.closing = true;
    }

    /// A keep-alive PING to a silent client.
    pub fn ping(&mut self) {
        let text = line("", "", "PING", &[], Some(&self.server));
        self.send(text);
    }

    /// The answer to the client's PING.
    pub fn pong(&mut self, token: &str) {
        let text = line("", &self.server, "PONG", &[&self.server], Some(token));
        self.send(text);
    }

    /// Handles one line from the client as bytes: UTF-8 after registration (the server says
    /// UTF8ONLY; a line that is not is refused with FAIL INVALID_UTF8), and before it read
    /// as latin-1 where it is not UTF-8, for old clients' user names.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Instant) -> Option<Wait> {
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        // A client's tags may take up to 4096 bytes; the rest of the line, CR LF included, 512.
        let untagged = match bytes.first() {
            Some(b'@') => bytes
                .iter()
                .position(|b| *b == b' ')
                .map_or(&[][..], |space| bytes.get(space + 1..).unwrap_or_default()),
            _ => bytes,
        };
        let tags = bytes.len() - untagged.len();
        if untagged.len() + 2 > reply::MAX_LINE || tags > reply::MAX_CLIENT_TAGS {
            self.input_too_long();
            return None;
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => self.handle(text, now),
            Err(_) if !self.registered => self.handle(&irc_proto::decode_line(bytes), now),
            Err(_) => {
                let text = String::from_utf8_lossy(bytes);
                let command = IrcLine::parse(&text).map_or_else(|| "*".to_owned(), |l| l.command);
                let command = if command.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    command
                } else {
                    "*".to_owned()
                };
                let text = line(
                    "",
                    &self.server.clone(),
                    "FAIL",
                    &[&command, "INVALID_UTF8"],
                    Some("Message rejected: this server takes UTF-8 only"),
                );
                self.send(text);
                None
            }
        }
    }

    /// Handles one line from the client. Returns what must be awaited, if anything; the
    /// connection loop calls [`IrcSession::finish_label`] once it is all done.
    pub fn handle(&mut self, raw: &str, now: Instant) -> Option<Wait> {
        self.label = self
            .caps
            .labeled_response
            .then(|| reply::label_of(raw))
            .flatten()
            .map(|label| (label.to_owned(), self.out.len()));
        self.client_tags = super::relay::client_tags(raw);
        let parsed = IrcLine::parse(raw)?;
        let params: Vec<&str> = parsed.params.iter().map(String::as_str).collect();
        let command = parsed.command.as_str();
        match command {
            "CAP" => {
                self.cap(&params);
                return None;
            }
            "PING" => {
                let Some(token) = params.first() else {
                    self.reply(409, &[], "No origin specified");
                    return None;
                };
                return Some(Wait::Pong((*token).to_owned()));
            }
            "PONG" => return None,
            "QUIT" => {
                let reason = params.first().copied().unwrap_or("Client Quit");
                self.quit_reason = params
                    .first()
                    .map(|r| irc_proto::irc_to_r0c(r))
                    .unwrap_or_default();
                let text = line(
                    "",
                    "",
                    "ERROR",
                    &[],
                    Some(&format!("Closing link: {reason}")),
                );
                self.send(text);
                self.closing = true;
                return None;
            }
            "PASS" => {
                if self.registered {
                    self.reply(462, &[], "You may not reregister");
                } else if params.is_empty() {
                    self.reply(461, &["PASS"], "Not enough parameters");
                }
                // The server has no connection password; PASS is accepted and ignored, but a
                // password sent in the clear is worth a warning all the same.
                if !params.is_empty() {
                    self.warn_clear_text();
                }
                return None;
            }
            "AUTHENTICATE" => return self.authenticate(&params),
            "NICK" => return self.nick_command(&params, now),
            "USER" => {
                if self.registered {
                    self.reply(462, &[], "You may not reregister");
                } else if let (Some(username), Some(realname), true) = (
                    params.first(),
                    params.get(3),
                    params.iter().all(|p| !p.is_empty()),
                ) {
                    self.user_given = true;
                    self.ident = ((*username).to_owned(), (*realname).to_owned());
                    self.try_register();
                } else {
                    self.reply(461, &["USER"], "Not enough parameters");
                }
                return None;
            }
            _ => {}
        }
        if !self.registered {
            self.reply(451, &[], "You have not registered");
            return None;
        }
        self.registered_command(command, &params, now)
    }

    fn registered_command(&mut self, command: &str, params: &[&str], now: Instant) -> Option<Wait> {
        let user = self.user?;
        match command {
            "JOIN" => {
                let Some(targets) = params.first() else {
                    self.reply(461, &["JOIN"], "Not enough parameters");
                    return None;
                };
                if *targets == "0" {
                    let channels: Vec<String> = self.public_names();
                    for name in channels {
                        self.part_one(user, &format!("#{name}"), "", now);
                    }
                    return self.sync_now();
                }
                let keys: Vec<&str> = params.get(1).map_or(Vec::new(), |k| k.split(',').collect());
                for (index, target) in targets.split(',').take(MAX_TARGETS).enumerate() {
                    let key = keys.get(index).map(|k| (*k).to_owned());
                    self.join_queue.push_back((target.to_owned(), key));
                }
                self.continue_joins(now)
            }
            "PART" => {
                let Some(targets) = params.first() else {
                    self.reply(461, &["PART"], "Not enough parameters");
                    return None;
                };
                let reason = params.get(1).copied().unwrap_or("");
                for target in targets.split(',').take(MAX_TARGETS) {
                    self.part_one(user, target, reason, now);
                }
                self.sync_now()
            }
            "PRIVMSG" | "NOTICE" => {
                let notice = command == "NOTICE";
                let (Some(targets), Some(text)) = (params.first(), params.get(1)) else {
                    if !notice {
                        if params.is_empty() {
                            self.reply(411, &[], "No recipient given (PRIVMSG)");
                        } else {
                            self.reply(412, &[], "No text to send");
                        }
                    }
                    return None;
                };
                if text.is_empty() {
                    if !notice {
                        self.reply(412, &[], "No text to send");
                    }
                    return None;
                }
                let (text, action) = match irc_proto::ctcp(text) {
                    Ctcp::Plain(text) => (text, false),
                    Ctcp::Action(text) => (text, true),
                    // Other CTCP requests have no r0c counterpart.
                    Ctcp::Version | Ctcp::Other => return None,
                };
                for target in targets.split(',').take(MAX_TARGETS) {
                    let say = Say {
                        target: target.to_owned(),
                        text: self.one_relayed_line(text, target, command),
                        action,
                        kind: if notice && !action {
                            MessageKind::Notice
                        } else {
                            MessageKind::Chat
                        },
                        client_tags: self.client_tags.clone(),
                    };
                    self.offer(say, notice, now);
                }
                self.sync_now()
            }
            "TAGMSG" => {
                self.tagmsg(params, now);
                None
            }
            "TOPIC" => {
                let Some(target) = params.first() else {
                    self.reply(461, &["TOPIC"], "Not enough parameters");
                    return None;
                };
                let name = target.trim_start_matches('#').to_lowercase();
                match params.get(1) {
                    None => self.topic_query(user, &name),
                    Some(topic) => {
                        if !self.world.irc_focus(user, target) {
                            self.not_on_channel(target);
                            return None;
                        }
                        if let Err(wait) = self.budget.check(now) {
                            self.reply(
                                263,
                                &["TOPIC"],
                                &format!("Wait {wait} seconds and try again"),
                            );
                            return None;
                        }
                        let topic = irc_proto::irc_to_r0c(topic);
                        match self.world.set_topic(user, &topic) {
                            Ok(()) => self.budget.charge(1, now),
                            Err(error) => {
                                self.reply(482, &[&format!("#{name}")], &error.to_string())
                            }
                        }
                        return self.sync_now();
                    }
                }
                None
            }
            "NAMES" => {
                match params.first() {
                    Some(target) => {
                        for target in target.split(',').take(MAX_TARGETS) {
                            self.names(target);
                        }
                    }
                    None => self.reply(366, &["*"], "End of /NAMES list"),
                }
                None
            }
            "WHO" => {
                // A channel's WHO looks up each member: it draws on the command budget too.
                if let Err(wait) = self.budget.check(now) {
                    self.reply(263, &["WHO"], &format!("Wait {wait} seconds and try again"));
                    return None;
                }
                self.budget.charge(1, now);
                let mask = params.first().copied().unwrap_or("*");
                self.who(mask);
                None
            }
            "WHOIS" => {
                // `WHOIS server nick` names the server first.
                let Some(target) = params.last() else {
                    self.reply(431, &[], "No nickname given");
                    return None;
                };
                self.whois(target);
                None
            }
            "LIST" => {
                // A LIST passes over every open channel under the world's lock: it draws on
                // the command budget like a command others see, so it cannot be repeated fast.
                if let Err(wait) = self.budget.check(now) {
                    self.reply(
                        263,
                        &["LIST"],
                        &format!("Wait {wait} seconds and try again"),
                    );
                    return None;
                }
                self.budget.charge(1, now);
                self.reply(321, &["Channel"], "Users  Name");
                for entry in self.world.irc_list(user, MAX_LIST) {
                    let count = entry.members.to_string();
                    let topic = irc_proto::r0c_to_irc(&entry.topic);
                    self.reply(322, &[&format!("#{}", entry.name), &count], &topic);
                }
                self.reply(323, &[], "End of /LIST");
                None
            }
            "MODE" => self.mode(user, params, now),
            "KICK" => {
                let (Some(channel), Some(nick)) = (params.first(), params.get(1)) else {
                    self.reply(461, &["KICK"], "Not enough parameters");
                    return None;
                };
                if !self.world.irc_focus(user, channel) {
                    self.not_on_channel(channel);
                    return None;
                }
                if let Err(wait) = self.budget.check(now) {
                    self.reply(
                        263,
                        &["KICK"],
                        &format!("Wait {wait} seconds and try again"),
                    );
                    return None;
                }
                // RFC 2812: without a comment, the kicker's nick is the reason.
                let me = self.nick.clone();
                let reason = params
                    .get(2)
                    .copied()
                    .filter(|r| !r.is_empty())
                    .unwrap_or(&me);
                let reason = irc_proto::irc_to_r0c(reason);
                // The world's kick, not the `/kick` command: the client sees the KICK line,
                // not the command's confirmation too.
                self.budget.charge(1, now);
                if let Err(why) = self.world.kick(user, nick, &reason) {
                    let (code, params) = kick_numeric(&why, nick, channel);
                    self.reply(code, &params, &why.to_string());
                }
                self.sync_now()
            }
            "INVITE" => {
                let (Some(nick), Some(channel)) = (params.first(), params.get(1)) else {
                    self.reply(461, &["INVITE"], "Not enough parameters");
                    return None;
                };
                if !self.world.is_online(nick) {
                    self.reply(401, &[nick], "No such nick/channel");
                    return None;
                }
                if !self.world.irc_focus(user, channel) {
                    self.not_on_channel(channel);
                    return None;
                }
                let already = self.world.irc_whois(nick).is_some_and(|w| {
                    w.channels.iter().any(|c| {
                        c.trim_start_matches(['@', '+'])
                            .eq_ignore_ascii_case(channel)
                    })
                });
                if already {
                    self.reply(443, &[nick, channel], "is already on channel");
                    return None;
                }
                if let Err(wait) = self.budget.check(now) {
                    self.reply(
                        263,
                        &["INVITE"],
                        &format!("Wait {wait} seconds and try again"),
                    );
                    return None;
                }
                // The world's invite, not the `/invite` command: the client gets 341, not the
                // command's confirmation too; the invited IRC client gets an INVITE line.
                self.budget.charge(1, now);
                match self.world.invite(user, nick) {
                    Ok(_) => {
                        let text = numeric(&self.server, 341, self.me(), &[nick, channel], None);
                        self.send(text);
                    }
                    Err(why @ ModError::NotOperator(_)) => {
                        self.reply(482, &[channel], &why.to_string())
                    }
                    Err(why) => self.notice(&why.to_string()),
                }
                self.sync_now()
            }
            "CHATHISTORY" => self.chathistory(user, params, now),
            "MARKREAD" => {
                self.markread(user, params);
                None
            }
            "MOTD" => {
                self.motd();
                None
            }
            "LUSERS" => {
                self.lusers(user);
                None
            }
            "TIME" => {
                let now = reply::server_time(crate::world::now_micros());
                let server = self.server.clone();
                self.reply(391, &[&server], &now);
                None
            }
            "OPER" => {
                let (Some(_name), Some(password)) = (params.first(), params.get(1)) else {
                    self.reply(461, &["OPER"], "Not enough parameters");
                    return None;
                };
                // r0c has one administrator password (`/auth`); the operator name is not checked.
                match self.world.authenticate(user, password) {
                    crate::world::AuthOutcome::Ok => {
                        self.reply(381, &[], "You are now an IRC operator");
                        let nick = self.nick.clone();
                        let text = line("", &nick, "MODE", &[&nick], Some("+o"));
                        self.send(text);
                    }
                    crate::world::AuthOutcome::Wrong
                    | crate::world::AuthOutcome::TooMany { .. } => {
                        self.reply(464, &[], "Password incorrect");
                    }
                }
                None
            }
            "HELP" | "HELPOP" => {
                self.help(params.first().copied().unwrap_or(""));
                None
            }
            "ISUPPORT" | "VERSION" => {
                self.isupport();
                None
            }
            "AWAY" => {
                // The world's `/away` and `/back`: kept, shown in WHO, WHOIS and `/names`,
                // told once to DM senders, and sent to away-notify clients.
                if let Err(wait) = self.budget.check(now) {
                    self.reply(
                        263,
                        &["AWAY"],
                        &format!("Wait {wait} seconds and try again"),
                    );
                    return None;
                }
                self.budget.charge(1, now);
                match params.first().filter(|p| !p.is_empty()) {
                    Some(reason) => {
                        self.world.set_away(user, &irc_proto::irc_to_r0c(reason));
                        self.reply(306, &[], "You have been marked as being away");
                    }
                    None => {
                        self.world.set_back(user);
                        self.reply(305, &[], "You are no longer marked as being away");
                    }
                }
                None
            }
            "USERHOST" => {
                let found: Vec<String> = params
                    .iter()
                    .take(5)
                    .filter_map(|nick| self.world.irc_whois(nick))
                    .map(|w| {
                        let here = if w.away.is_some() { '-' } else { '+' };
                        let oper = if w.admin { "*" } else { "" };
                        format!("{}{oper}={here}{}@{}", w.nick, w.username, reply::USER_HOST)
                    })
                    .collect();
                self.reply(302, &[], &found.join(" "));
                None
            }
            "WHOWAS" => {
                // From the world's bounded record of the last users who left; a count that is
                // missing or not positive asks for every entry of that nick in it.
                let Some(nick) = params.first().filter(|n| !n.is_empty()) else {
                    self.reply(431, &[], "No nickname given");
                    return None;
                };
                let nick = (*nick).to_owned();
                let count = params
                    .get(1)
                    .and_then(|c| c.parse::<i64>().ok())
                    .filter(|c| *c > 0)
                    .map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(usize::MAX));
                let found = self.world.irc_whowas(&nick, count);
                if found.is_empty() {
                    self.reply(406, &[&nick], "There was no such nickname");
                }
                for (was, username, realname) in found {
                    let realname = irc_proto::r0c_to_irc(&realname);
                    self.reply(314, &[&was, &username, reply::USER_HOST, "*"], &realname);
                }
                self.reply(369, &[&nick], "End of WHOWAS");
                None
            }
            "INFO" => {
                self.reply(
                    371,
                    &[],
                    "r0c: a chat server for telnet, netcat, ssh, the web and IRC",
                );
                self.reply(374, &[], "End of INFO list");
                None
            }
            "KILL" => {
                self.reply(
                    481,
                    &[],
                    "Permission Denied: r0c has no KILL; operators use /ban",
                );
                None
            }
            _ => {
                // Any other word that is an r0c command runs as one (REGISTER, LOGIN, IGNORE...),
                // so IRC users reach everything a terminal user can.
                let word = command.to_ascii_lowercase();
                let known = crate::command::table::COMMANDS
                    .iter()
                    .any(|c| c.names.contains(&word.as_str()));
                if known && !matches!(word.as_str(), "quit" | "q" | "exit") {
                    let rest: Vec<&str> = params.to_vec();
                    self.r0c_command(&format!("/{word} {}", rest.join(" ")), now)
                } else {
                    self.reply(421, &[command], "Unknown command");
                    None
                }
            }
        }
    }

    fn not_on_channel(&mut self, target: &str) {
        let exists = self.user.is_some_and(|user| {
            normalize_channel_name(target)
                .is_ok_and(|name| self.world.irc_channel(user, &name).is_some())
        });
        if target.starts_with('#') && exists {
            self.reply(442, &[target], "You're not on that channel");
        } else {
            self.reply(403, &[target], "No such channel");
        }
    }

    fn public_names(&self) -> Vec<String> {
        self.windows
            .values()
            .filter_map(|w| match &w.target {
                IrcTarget::Public(name) => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    /// Runs a line as an r0c command, for the user, with the command budget and the effects
    /// an IRC session can carry out; its feedback arrives as NOTICEs from the status window.
    fn r0c_command(&mut self, typed: &str, now: Instant) -> Option<Wait> {
        let user = self.user?;
        let command = match Command::parse(typed.trim_end()) {
            Ok(command) => command,
            Err(usage) => {
                // The usage text goes to the status window, which the sync relays; a refused
                // admin command needs nothing more here.
                let _refused = crate::command::apply_usage(&usage, &self.world, user);
                return self.sync_now();
            }
        };
        if command.is_shared()
            && let Err(wait) = self.budget.check(now)
        {
            self.notice(&format!("too many commands; wait {wait} seconds"));
            return None;
        }
        let mut wait = None;
        for effect in crate::command::apply(command, &self.world, user) {
            match effect {
                Effect::Charge(cost) => self.budget.charge(cost, now),
                Effect::Account(job) => self.start_account_job(job),
                Effect::Load(load @ Load::Join { .. }) => {
                    if let Load::Join { name, .. } = &load {
                        wait = Some(Wait::Join(name.clone(), load.clone()));
                    }
                }
                Effect::Send(outgoing) => {
                    let say = match outgoing {
                        Outgoing::Say(text) => Say {
                            target: String::new(),
                            text,
                            action: false,
                            kind: MessageKind::Chat,
                            client_tags: String::new(),
                        },
                        Outgoing::Action(text) => Say {
                            target: String::new(),
                            text,
                            action: true,
                            kind: MessageKind::Chat,
                            client_tags: String::new(),
                        },
                        Outgoing::Direct { target, text } => Say {
                            target,
                            text,
                            action: false,
                            kind: MessageKind::Chat,
                            client_tags: String::new(),
                        },
                    };
                    self.offer(say, false, now);
                }
                Effect::Quit => self.closing = true,
                _ => {}
            }
        }
        if wait.is_some() {
            return wait;
        }
        self.sync_now()
    }

    /// Starts an account command's slow part in a task of its own, one at a time.
    fn start_account_job(&mut self, job: crate::command::AccountJob) {
        let Some(user) = self.user else {
            return;
        };
        use std::sync::atomic::Ordering;
        if self.account_job.swap(true, Ordering::AcqRel) {
            self.notice("your last account command is still running; wait for its answer");
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.notice("accounts are not available here");
            return;
        };
        let (world, running) = (self.world.clone(), self.account_job.clone());
        runtime.spawn(async move {
            crate::command::run_account_job(job, world, user).await;
            running.store(false, Ordering::Release);
        });
    }

    /// The next message to a stored conversation that waits for its history, or else the
    /// next channel or conversation to reopen on return, if any.
    pub fn next_direct_load(&mut self) -> Option<Wait> {
        if let Some(load) = self.direct_loads.pop_front() {
            return Some(Wait::Direct(load));
        }
        self.rejoins.as_ref()?.take_next().map(Wait::Rejoin)
    }

    /// A conversation left with unread messages was read: the world reopens it, so its
    /// waiting lines reach the client like any DM.
    pub fn finish_reopen(
        &mut self,
        conversation: &str,
        partner: &str,
        loaded: Option<LoadedChannel>,
    ) {
        if let Some(user) = self.user {
            self.world
                .finish_reopen(user, conversation, partner, loaded);
        }
        self.sync();
    }

    /// A channel to rejoin was read: the world opens it and puts the user back in.
    pub fn finish_rejoin(&mut self, name: &str, loaded: Option<LoadedChannel>) {
        if let Some(user) = self.user {
            self.world.finish_rejoin(user, name, loaded);
        }
        self.sync();
    }

    /// A stored conversation's history arrived (or could not be read): open it and send;
    /// a refusal is answered as for any message that could not go.
    pub fn finish_direct(
        &mut self,
        conversation: &str,
        target: &str,
        said: (&str, MessageKind),
        loaded: Option<crate::world::LoadedChannel>,
    ) {
        let Some(user) = self.user else {
            return;
        };
        if let Err(error) = self
            .world
            .finish_direct(user, conversation, target, said, loaded)
        {
            self.reply(404, &[target], &error.to_string());
        }
        self.sync();
    }

    fn offer(&mut self, say: Say, quiet: bool, now: Instant) {
        let cost = Cost::of_text(&say.text);
        match self.flood.offer(say, cost, now) {
            Verdict::Send(say) => self.say(say, quiet),
            Verdict::Held => {}
            Verdict::Warned => {
                self.notice("you are sending too fast: slow down or you will be muted");
            }
            Verdict::Muted { seconds, first } => {
                if first || !quiet {
                    self.notice(&format!("muted for flooding; {seconds} seconds left"));
                }
            }
        }
    }

    /// Held lines whose turn came; when the next is due.
    pub fn release(&mut self, now: Instant) -> Option<Instant> {
        for say in self.flood.release(now) {
            self.say(say, false);
        }
        self.flood.next_release()
    }

    /// When the next held line may go.
    pub fn next_release(&self) -> Option<Instant> {
        self.flood.next_release()
    }

    /// Posts one line of chat to its target: a channel the user is in, or a nick (a DM).
    /// An empty target is the active window (an r0c command's own line).
    fn say(&mut self, say: Say, quiet: bool) {
        let Some(user) = self.user else {
            return;
        };
        // A NOTICE gets no error replies, held by flood control or not (RFC 2812 3.3.2).
        let quiet = quiet || say.kind == MessageKind::Notice;
        self.remember_client_tags(&say);
        let result = if say.target.is_empty() {
            if say.action {
                self.world.action(user, &say.text)
            } else {
                self.world.say_kind(user, &say.text, say.kind)
            }
        } else if say.target.starts_with('#') {
            if !self.world.irc_focus(user, &say.target) {
                if !quiet {
                    let code = if normalize_channel_name(&say.target)
                        .is_ok_and(|name| self.world.irc_channel(user, &name).is_some())
                    {
                        404
                    } else {
                        403
                    };
                    let text = if code == 404 {
                        "Cannot send to channel"
                    } else {
                        "No such channel"
                    };
                    self.reply(code, &[&say.target], text);
                }
                return;
            }
            if say.action {
                self.world.action(user, &say.text)
            } else {
                self.world.say_kind(user, &say.text, say.kind)
            }
        } else if !self.world.is_online(&say.target) {
            if !quiet {
                self.reply(401, &[&say.target], "No such nick/channel");
            }
            return;
        } else if say.action && self.world.irc_focus(user, &say.target) {
            // An action goes into the conversation's window, when there is one already.
            self.world.action(user, &say.text)
        } else {
            if !quiet && let Some(reason) = self.world.away_reason_of(&say.target) {
                let reason = if reason.is_empty() {
                    "Away".to_owned()
                } else {
                    reason
                };
                self.reply(301, &[&say.target], &reason);
            }
            match self
                .world
                .direct_message_kind(user, &say.target, &say.text, say.kind)
            {
                Ok(crate::world::DirectStep::Done) => Ok(()),
                Ok(crate::world::DirectStep::Load(load)) => {
                    self.direct_loads.push_back(load);
                    Ok(())
                }
                Err(e) => Err(crate::world::PostError::Refused(e.to_string())),
            }
        };
        if let Err(error) = result
            && !quiet
        {
            self.reply(404, &[&say.target], &error.to_string());
        }
    }

    /// A line of chat from this client as r0c text, cut (as ergo and other servers do) so
    /// that other IRC clients get it in one line after the longer prefix the server puts on
    /// it: what is stored is what they see. Lines typed on a terminal may be longer; those
    /// reach IRC clients split into several lines.
    fn one_relayed_line(&self, text: &str, target: &str, command: &str) -> String {
        let overhead = user_prefix(&self.nick).len() + target.len() + command.len() + 16;
        let room = reply::MAX_LINE.saturating_sub(overhead + 2).max(16);
        let mut end = text.len().min(room);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut converted = irc_proto::irc_to_r0c(text.get(..end).unwrap_or(text));
        // Formatting converted back may be longer than it came: cut until it fits.
        while irc_proto::r0c_to_irc(&converted).len() > room && converted.pop().is_some() {}
        converted
    }

    /// Hands a chat line's client-only tags to the relay before it is posted, so that the
    /// clients with `message-tags` get them with the line once it is committed.
    fn remember_client_tags(&self, say: &Say) {
        let Some(relay) = &self.tag_relay else {
            return;
        };
        let place = match say.target.strip_prefix('#').map(str::to_lowercase) {
            Some(wanted) => self.windows.values().find_map(|w| match &w.target {
                IrcTarget::Public(name) if *name == wanted => Some(w.history_key.clone()),
                _ => None,
            }),
            None if !say.target.is_empty() => Some(direct_place(&self.nick, &say.target)),
            None => None,
        };
        if let Some(place) = place {
            relay.remember(
                &place,
                &self.nick,
                &say.text,
                &say.client_tags,
                Instant::now(),
            );
        }
    }

    /// TAGMSG: the line's client-only tags, with no text, to a channel the user is in or to
    /// a nick, relayed live to the IRC clients there that negotiated `message-tags` (and
    /// echoed with `echo-message`). Nothing is stored nor shown to terminal users. Each one
    /// draws on the command budget.
    fn tagmsg(&mut self, params: &[&str], now: Instant) {
        let Some(target) = params.first().filter(|t| !t.is_empty()) else {
            self.reply(461, &["TAGMSG"], "Not enough parameters");
            return;
        };
        // Charged before the target is looked up, so a wrong target costs as much.
        if let Err(wait) = self.budget.check(now) {
            self.reply(
                263,
                &["TAGMSG"],
                &format!("Wait {wait} seconds and try again"),
            );
            return;
        }
        self.budget.charge(1, now);
        let to = if target.starts_with('#') {
            let wanted = target.trim_start_matches('#').to_lowercase();
            let joined = self
                .windows
                .values()
                .any(|w| matches!(&w.target, IrcTarget::Public(name) if *name == wanted));
            if !joined {
                self.reply(404, &[target], "Cannot send to channel");
                return;
            }
            super::relay::TagTarget::Channel(wanted)
        } else if self.world.is_online(target) {
            super::relay::TagTarget::Nick((*target).to_owned())
        } else {
            self.reply(401, &[target], "No such nick/channel");
            return;
        };
        // What reaches others obeys moderation like a line of chat: a muted user, or one
        // without voice in a +m channel, sends no tags either.
        let channel = match &to {
            super::relay::TagTarget::Channel(name) => Some(name.as_str()),
            super::relay::TagTarget::Nick(_) => None,
        };
        if let Some(refusal) = self
            .user
            .and_then(|user| self.world.irc_speak_refusal(user, channel))
        {
            self.reply(404, &[target], &refusal);
            return;
        }
        let account = self.user.and_then(|user| self.world.account_of(user));
        let message = super::relay::TagMessage {
            from: self.nick.clone(),
            account,
            target: to,
            client_tags: std::mem::take(&mut self.client_tags),
            unix_micros: crate::world::now_micros(),
            msgid: super::relay::next_msgid(),
        };
        if self.caps.echo_message {
            self.tag_message_line(&message);
        }
        if let Some(relay) = &self.tag_relay {
            relay.send(message);
        }
    }

    /// A TAGMSG from another IRC connection: shown if this client negotiated `message-tags`
    /// and is its recipient (in its channel, or the nick it names).
    pub fn tag_message(&mut self, message: &super::relay::TagMessage) {
        if !self.registered || !self.caps.message_tags {
            return;
        }
        // The sender's own copy is its echo (echo-message); a TAGMSG to oneself arrives too.
        let reaches = match &message.target {
            super::relay::TagTarget::Channel(name) => {
                message.from != self.nick
                    && self
                        .windows
                        .values()
                        .any(|w| matches!(&w.target, IrcTarget::Public(joined) if *joined == *name))
            }
            super::relay::TagTarget::Nick(nick) => nick.eq_ignore_ascii_case(&self.nick),
        };
        // Someone this user ignores reaches them with no tags either (checked only for a
        // TAGMSG that would be shown, so the lock is taken once per recipient at most).
        let ignored = reaches
            && message.from != self.nick
            && self
                .user
                .is_some_and(|user| self.world.irc_ignores(user, &message.from));
        if reaches && !ignored {
            self.tag_message_line(message);
        }
    }

    /// The TAGMSG line as this client gets it, with the server's tags it asked for.
    fn tag_message_line(&mut self, message: &super::relay::TagMessage) {
        if !self.caps.message_tags {
            return;
        }
        let mut tags: Vec<String> = Vec::new();
        if self.caps.server_time {
            tags.push(format!("time={}", reply::server_time(message.unix_micros)));
        }
        tags.push(format!("msgid={}", message.msgid));
        if let Some(account) = message.account.as_deref().filter(|_| self.caps.account_tag) {
            tags.push(format!("account={}", reply::escape_tag_value(account)));
        }
        if !message.client_tags.is_empty() {
            tags.push(message.client_tags.clone());
        }
        let to = match &message.target {
            super::relay::TagTarget::Channel(name) => format!("#{name}"),
            super::relay::TagTarget::Nick(nick) => nick.clone(),
        };
        let sent = line(
            &tags.join(";"),
            &user_prefix(&message.from),
            "TAGMSG",
            &[&to],
            None,
        );
        self.send(sent);
    }

    fn part_one(&mut self, user: UserId, target: &str, reason: &str, now: Instant) {
        let Ok(name) = normalize_channel_name(target) else {
            self.reply(403, &[target], "No such channel");
            return;
        };
        if !self.world.irc_focus(user, &format!("#{name}")) {
            if self.world.irc_channel(user, &name).is_some() {
                self.reply(442, &[target], "You're not on that channel");
            } else {
                self.reply(403, &[target], "No such channel");
            }
            return;
        }
        if !reason.is_empty() && self.part_reasons.len() < MAX_TARGETS {
            self.part_reasons.insert(name.clone(), reason.to_owned());
        }
        let reason = irc_proto::irc_to_r0c(reason);
        if let Err(error) = self.world.part_with_reason(user, &reason) {
            self.notice(&error);
        }
        self.budget.charge(1, now);
    }

    /// Joins the next channels of a JOIN, until one must be read from the store.
    fn continue_joins(&mut self, now: Instant) -> Option<Wait> {
        let user = self.user?;
        while let Some((target, key)) = self.join_queue.pop_front() {
            let name = match normalize_channel_name(&target) {
                Ok(name) if target.starts_with('#') => name,
                Ok(_) | Err(_) => {
                    self.reply(403, &[&target], "No such channel");
                    continue;
                }
            };
            if let Err(wait) = self.budget.check(now) {
                self.reply(
                    405,
                    &[&target],
                    &format!("too many joins: wait {wait} seconds and try again"),
                );
                self.join_queue.clear();
                break;
            }
            // The world keeps one offered key: each is offered right before its own join.
            if let Some(key) = &key {
                self.world.offer_key(user, &name, key);
            }
            match self.world.begin_join(user, &name) {
                Ok(JoinStep::Done(joined)) => {
                    if joined {
                        self.budget.charge(1, now);
                    }
                    self.sync();
                }
                Ok(JoinStep::Load(load)) => return Some(Wait::Join(name, load)),
                Err(error) => self.join_refused(&target, &error),
            }
        }
        self.sync_now()
    }

    fn join_refused(&mut self, target: &str, why: &JoinError) {
        self.reply(join_numeric(why), &[target], &why.to_string());
    }

    /// The second step of a join that read the channel from the store.
    pub fn finish_join(
        &mut self,
        name: &str,
        loaded: Option<LoadedChannel>,
        now: Instant,
    ) -> Option<Wait> {
        let user = self.user?;
        match self.world.finish_join(user, name, loaded) {
            Ok(joined) => {
                if joined {
                    self.budget.charge(1, now);
                }
                self.sync();
            }
            Err(error) => self.join_refused(&format!("#{name}"), &error),
        }
        self.continue_joins(now)
    }

    fn topic_query(&mut self, user: UserId, name: &str) {
        let channel = format!("#{name}");
        match self.world.irc_channel(user, name) {
            None => self.reply(403, &[&channel], "No such channel"),
            Some(info) if !info.member => {
                self.reply(442, &[&channel], "You're not on that channel")
            }
            Some(info) if info.topic.is_empty() => self.reply(331, &[&channel], "No topic is set"),
            Some(info) => {
                let topic = irc_proto::r0c_to_irc(&info.topic);
                self.reply(332, &[&channel], &topic);
            }
        }
    }

    /// RPL_NAMREPLY's channel type: `@` for a secret (`+s`) channel, `=` for the others.
    fn names_symbol(&self, name: &str) -> &'static str {
        let secret = self.user.is_some_and(|user| {
            self.world
                .irc_channel(user, name)
                .is_some_and(|info| info.modes.contains('s'))
        });
        if secret { "@" } else { "=" }
    }

    fn names(&mut self, target: &str) {
        let name = target.trim_start_matches('#').to_lowercase();
        let members = self
            .windows
            .values()
            .find(|w| w.target == IrcTarget::Public(name.clone()))
            .map(|w| self.prefixed_members(w));
        if let Some(nicks) = members {
            let symbol = self.names_symbol(&name);
            for chunk in reply::names_lines(&nicks) {
                self.reply(353, &[symbol, &format!("#{name}")], &chunk);
            }
        }
        self.reply(366, &[target], "End of /NAMES list");
    }

    fn prefixed_members(&self, window: &Tracked) -> Vec<String> {
        let mut nicks: Vec<String> = window
            .members
            .iter()
            .map(
                |IrcMember {
                     nick, op, voice, ..
                 }| {
                    let prefix = match (op, voice, self.caps.multi_prefix) {
                        (true, true, true) => "@+",
                        (true, _, _) => "@",
                        (false, true, _) => "+",
                        _ => "",
                    };
                    if self.caps.userhost_in_names {
                        format!("{prefix}{}", user_prefix(nick))
                    } else {
                        format!("{prefix}{nick}")
                    }
                },
            )
            .collect();
        nicks.sort_by_key(|n| n.to_lowercase());
        nicks
    }

    fn who(&mut self, mask: &str) {
        let name = mask.trim_start_matches('#').to_lowercase();
        // Nick, channel prefix, and for a channel's member its away state: a member on
        // another node (cluster mode) has no WHOIS here, and is listed from it.
        let rows: Vec<(String, &'static str, Option<bool>)> = if mask.starts_with('#') {
            self.windows
                .values()
                .find(|w| w.target == IrcTarget::Public(name.clone()))
                .map(|w| {
                    w.members
                        .iter()
                        .map(|m| {
                            let flag = match (m.op, m.voice, self.caps.multi_prefix) {
                                (true, true, true) => "@+",
                                (true, _, _) => "@",
                                (false, true, _) => "+",
                                _ => "",
                            };
                            (m.nick.clone(), flag, Some(m.away.is_some()))
                        })
                        .collect()
                })
                .unwrap_or_default()
        } else if mask.contains(['*', '?']) {
            self.world
                .irc_nicks_matching(mask, MAX_WHO)
                .into_iter()
                .map(|nick| (nick, "", None))
                .collect()
        } else {
            self.world
                .irc_whois(mask)
                .map(|w| vec![(w.nick, "", None)])
                .unwrap_or_default()
        };
        let channel = if mask.starts_with('#') {
            format!("#{name}")
        } else {
            "*".to_owned()
        };
        let server = self.server.clone();
        for (nick, prefix, member_away) in rows {
            // WHO's answer is bounded by one channel's members, like NAMES.
            let (away, admin, username, realname) = match self.world.irc_whois(&nick) {
                Some(whois) => (
                    whois.away.is_some(),
                    whois.admin,
                    whois.username,
                    whois.realname,
                ),
                None => match member_away {
                    Some(away) => (away, false, nick.clone(), nick.clone()),
                    None => continue,
                },
            };
            // H here or G gone (away), * a server operator, then the channel prefix.
            let flags = format!(
                "{}{}{prefix}",
                if away { 'G' } else { 'H' },
                if admin { "*" } else { "" }
            );
            self.reply(
                352,
                &[
                    &channel,
                    &username,
                    reply::USER_HOST,
                    &server,
                    &nick,
                    &flags,
                ],
                &format!("0 {realname}"),
            );
        }
        self.reply(315, &[mask], "End of WHO list");
    }

    fn whois(&mut self, target: &str) {
        let seen = match self.user {
            Some(asker) => self.world.irc_whois_for(target, asker),
            None => self.world.irc_whois(target),
        };
        let Some(whois) = seen else {
            self.reply(401, &[target], "No such nick/channel");
            self.reply(318, &[target], "End of /WHOIS list");
            return;
        };
        let nick = whois.nick.clone();
        let (username, realname) = (whois.username.clone(), whois.realname.clone());
        self.reply(311, &[&nick, &username, reply::USER_HOST, "*"], &realname);
        if !whois.channels.is_empty() {
            let channels = whois.channels.join(" ");
            self.reply(319, &[&nick], &channels);
        }
        let server = self.server.clone();
        let info = match &whois.node {
            Some(node) => format!("r0c chat, node {node}"),
            None => "r0c chat".to_string(),
        };
        self.reply(312, &[&nick, &server], &info);
        if whois.admin {
            self.reply(313, &[&nick], "is a server operator");
        }
        if let Some(reason) = &whois.away {
            self.reply(301, &[&nick], reason);
        }
        if let Some(account) = &whois.account {
            self.reply(330, &[&nick, account], "is logged in as");
        }
        self.reply(318, &[&nick], "End of /WHOIS list");
    }

    fn mode(&mut self, user: UserId, params: &[&str], now: Instant) -> Option<Wait> {
        let Some(target) = params.first() else {
            self.reply(461, &["MODE"], "Not enough parameters");
            return None;
        };
        if !target.starts_with('#') {
            if !target.eq_ignore_ascii_case(&self.nick) {
                let code = if self.world.is_online(target) {
                    502
                } else {
                    401
                };
                let text = if code == 502 {
                    "Can't change mode for other users"
                } else {
                    "No such nick/channel"
                };
                self.reply(code, &[target], text);
            } else {
                self.reply(221, &[], "+");
            }
            return None;
        }
        let name = target.trim_start_matches('#').to_lowercase();
        let Some(info) = self.world.irc_channel(user, &name) else {
            self.reply(403, &[target], "No such channel");
            return None;
        };
        let Some(changes) = params.get(1) else {
            let modes = format!("+{}", info.modes);
            let limit = info.limit.map(|l| l.to_string());
            let mut shown = vec![*target, modes.as_str()];
            shown.extend(limit.as_deref());
            let text = numeric(&self.server, 324, self.me(), &shown, None);
            self.send(text);
            return None;
        };
        if *changes == "b" || *changes == "+b" && params.len() == 2 {
            // Operators see the list, as with `/bans`; others only its end.
            for (mask, set_by, set_at) in self.world.channel_bans(user, &name).unwrap_or_default() {
                let seconds = (set_at / 1_000_000).to_string();
                let mask = irc_ban_mask(&mask);
                let text = numeric(
                    &self.server,
                    367,
                    self.me(),
                    &[target, &mask, &set_by, &seconds],
                    None,
                );
                self.send(text);
            }
            self.reply(368, &[target], "End of channel ban list");
            return None;
        }
        if !self.world.irc_focus(user, target) {
            self.not_on_channel(target);
            return None;
        }
        // Each letter maps onto the r0c command that sets it.
        let mut args = params.iter().skip(2);
        let mut adding = true;
        let mut wait = None;
        for letter in changes.chars() {
            let command = match letter {
                '+' => {
                    adding = true;
                    continue;
                }
                '-' => {
                    adding = false;
                    continue;
                }
                'o' | 'v' => {
                    let Some(nick) = args.next() else { continue };
                    // The world's role change, not the `/op` command: the client sees the MODE
                    // line, and a refusal as its numeric.
                    if let Err(seconds) = self.budget.check(now) {
                        self.reply(
                            263,
                            &["MODE"],
                            &format!("Wait {seconds} seconds and try again"),
                        );
                        return wait;
                    }
                    self.budget.charge(1, now);
                    if let Err(why) = self.world.set_role(user, nick, letter == 'o', adding) {
                        match role_numeric(&why, nick, target) {
                            Some((code, params)) => self.reply(code, &params, &why.to_string()),
                            None => self.notice(&why.to_string()),
                        }
                    }
                    self.sync();
                    continue;
                }
                'b' => {
                    let Some(mask) = args.next() else { continue };
                    let Some(mask) = r0c_ban_mask(mask) else {
                        self.notice("r0c bans a nick (nick!*@*), an address or block (*!*@10.0.0.0/8), account:NAME or an ssh key SHA256:...");
                        continue;
                    };
                    let word = if adding { "ban" } else { "unban" };
                    format!("/{word} {mask}")
                }
                'k' => {
                    let key = args.next().copied().unwrap_or("");
                    // A key must be one word a JOIN can carry: refused with
                    // ERR_INVALIDMODEPARAM before r0c's /mode sees it.
                    let max = crate::world::sanction::MAX_KEY_CHARS;
                    let valid = !key.is_empty()
                        && key.chars().count() <= max
                        && !key.chars().any(|c| c.is_whitespace() || c.is_control());
                    if adding && !valid {
                        let why = format!("A key is one word of 1 to {max} printable characters");
                        self.reply(696, &[target, "k", "*"], &why);
                        continue;
                    }
                    if adding {
                        format!("/mode +k {key}")
                    } else {
                        "/mode -k".to_owned()
                    }
                }
                'l' if adding => {
                    let given = args.next().copied().unwrap_or("");
                    let Some(limit) = crate::world::sanction::parse_user_limit(given) else {
                        let max = crate::world::sanction::MAX_USER_LIMIT;
                        let why = format!("A user limit is a whole number from 1 to {max}");
                        let given = if given.is_empty() { "*" } else { given };
                        self.reply(696, &[target, "l", given], &why);
                        continue;
                    };
                    format!("/mode +l {limit}")
                }
                'l' => "/mode -l".to_owned(),
                'i' | 'm' | 'r' | 's' | 't' => {
                    format!("/mode {}{letter}", if adding { '+' } else { '-' })
                }
                other => {
                    self.reply(472, &[&other.to_string()], "is unknown mode char to me");
                    continue;
                }
            };
            wait = self.r0c_command(&command, now).or(wait);
        }
        wait
    }

    /// MARKREAD (draft/read-marker): with a timestamp, moves the read marker of a target
    /// forward (never back); without, tells where it is.
    fn markread(&mut self, user: UserId, params: &[&str]) {
        let Some(target) = params.first().filter(|t| !t.is_empty()) else {
            let text = line(
                "",
                &self.server,
                "FAIL",
                &["MARKREAD", "NEED_MORE_PARAMS"],
                Some("Missing parameters"),
            );
            self.send(text);
            return;
        };
        let key = target.to_lowercase();
        if let Some(given) = params.get(1) {
            let Some(micros) = given
                .strip_prefix("timestamp=")
                .and_then(reply::timestamp_micros)
            else {
                let text = line(
                    "",
                    &self.server,
                    "FAIL",
                    &["MARKREAD", "INVALID_PARAMS", target],
                    Some("Invalid timestamp"),
                );
                self.send(text);
                return;
            };
            let known = self.read_mark(user, target);
            if known.is_none_or(|at| micros > at) {
                if !self.read_marks.contains_key(&key) && self.read_marks.len() >= MAX_READ_MARKS {
                    // The oldest moment makes room: it is the least likely to matter.
                    if let Some(oldest) = self
                        .read_marks
                        .iter()
                        .min_by_key(|(_, at)| **at)
                        .map(|(k, _)| k.clone())
                    {
                        self.read_marks.remove(&oldest);
                    }
                }
                self.read_marks.insert(key, micros);
                self.world.irc_mark_read(user, target, micros);
            }
        }
        self.markread_line(user, target);
    }

    /// Where the read marker of `target` is: a moment set here, or the world's marker.
    fn read_mark(&self, user: UserId, target: &str) -> Option<i64> {
        let here = self.read_marks.get(&target.to_lowercase()).copied();
        let world = self.world.irc_read_mark(user, target);
        here.max(world)
    }

    fn markread_line(&mut self, user: UserId, target: &str) {
        let value = self.read_mark(user, target).map_or_else(
            || "*".to_owned(),
            |at| format!("timestamp={}", reply::server_time(at)),
        );
        let text = line("", &self.server, "MARKREAD", &[target, &value], None);
        self.send(text);
    }

    /// `FAIL CHATHISTORY code <params> :text`.
    fn history_fail(&mut self, code: &str, params: &[&str], text: &str) {
        let mut all = vec!["CHATHISTORY", code];
        all.extend_from_slice(params);
        let sent = line("", &self.server, "FAIL", &all, Some(text));
        self.send(sent);
    }

    /// CHATHISTORY: checks the request and where its target's history is (a channel the user
    /// is in, or the user's own conversation), then hands the read to the loop. Each request
    /// draws on the command budget and reads at most [`crate::history::chathistory::MAX_CHATHISTORY`] messages.
    fn chathistory(&mut self, user: UserId, params: &[&str], now: Instant) -> Option<Wait> {
        let sub = params
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_default();
        if params.len() < 4
            || !matches!(
                sub.as_str(),
                "LATEST" | "BEFORE" | "AFTER" | "AROUND" | "BETWEEN" | "TARGETS"
            )
        {
            let shown = if sub.is_empty() { "*" } else { sub.as_str() };
            self.history_fail("INVALID_PARAMS", &[shown], "Insufficient parameters");
            return None;
        }
        if let Err(wait) = self.budget.check(now) {
            self.history_fail(
                "MESSAGE_ERROR",
                &[&sub],
                &format!("Too many history requests; wait {wait} seconds and try again"),
            );
            return None;
        }
        self.budget.charge(1, now);
        let limit_at = if sub == "BETWEEN" || sub == "TARGETS" {
            4
        } else {
            3
        };
        let Some(limit) = params.get(limit_at).and_then(|l| l.parse::<usize>().ok()) else {
            self.history_fail("INVALID_PARAMS", &[&sub], "Invalid limit");
            return None;
        };
        if sub == "TARGETS" {
            let moments = (
                params.get(1).and_then(|p| history_moment(p)),
                params.get(2).and_then(|p| history_moment(p)),
            );
            let (Some(from), Some(until)) = moments else {
                self.history_fail("INVALID_PARAMS", &[&sub], "Invalid timestamp");
                return None;
            };
            let targets = self.world.irc_history_targets(user);
            return Some(Wait::Targets {
                targets,
                from,
                until,
                limit,
            });
        }
        let label = params.get(1).copied().unwrap_or_default().to_owned();
        let Some(source) = self.world.irc_history_source(user, &label) else {
            self.history_fail(
                "INVALID_TARGET",
                &[&sub, &label],
                "Messages could not be retrieved",
            );
            return None;
        };
        let key = source.key().to_owned();
        let point = |text: &str| -> Option<Point> {
            match text.split_once('=') {
                Some(("msgid", id)) => reply::msgid_seq(&key, id).map(Point::Seq),
                Some(("timestamp", _)) => history_moment(text).map(Point::Micros),
                _ => None,
            }
        };
        let first = params.get(2).copied().unwrap_or_default();
        let query = match sub.as_str() {
            "LATEST" if first == "*" => Some(Query::Latest(None)),
            "LATEST" => point(first).map(|p| Query::Latest(Some(p))),
            "BEFORE" => point(first).map(Query::Before),
            "AFTER" => point(first).map(Query::After),
            "AROUND" => point(first).map(Query::Around),
            _ => match (point(first), params.get(3).and_then(|p| point(p))) {
                (Some(start), Some(end)) => Some(Query::Between(start, end)),
                _ => None,
            },
        };
        let Some(query) = query else {
            self.history_fail(
                "INVALID_MSGREFTYPE",
                &[&sub, first],
                "Unknown message reference",
            );
            return None;
        };
        let target = if label.starts_with('#') {
            IrcTarget::Public(label.trim_start_matches('#').to_lowercase())
        } else {
            IrcTarget::Direct(label.clone())
        };
        Some(Wait::History(HistoryRequest {
            label,
            target,
            source,
            query,
            limit,
        }))
    }

    /// A labeled command (labeled-response) is being answered.
    pub fn labeled(&self) -> bool {
        self.label.is_some()
    }

    /// The answer to a labeled command is complete: its lines get the label (one line), are
    /// put in a `labeled-response` batch (several), or an `ACK` says there were none.
    pub fn finish_label(&mut self) {
        let Some((label, start)) = self.label.take() else {
            return;
        };
        let answer = self.out.split_off(start.min(self.out.len()));
        let lines: Vec<&[u8]> = answer
            .split_inclusive(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        match lines.as_slice() {
            [] => {
                let sent = line(&format!("label={label}"), &self.server, "ACK", &[], None);
                self.send(sent);
            }
            [one] => {
                let tagged = reply::add_tag(one, &format!("label={label}"));
                self.out.extend_from_slice(&tagged);
            }
            many => {
                self.batches += 1;
                let reference = format!("h{}", self.batches);
                let opened = line(
                    &format!("label={label}"),
                    &self.server,
                    "BATCH",
                    &[&format!("+{reference}"), "labeled-response"],
                    None,
                );
                self.send(opened);
                for each in many {
                    let tagged = reply::add_tag(each, &format!("batch={reference}"));
                    self.out.extend_from_slice(&tagged);
                }
                let closed = line("", &self.server, "BATCH", &[&format!("-{reference}")], None);
                self.send(closed);
            }
        }
    }

    /// A new batch reference, when the client takes batches.
    fn open_batch(&mut self, kind: &str, params: &[&str]) -> Option<String> {
        if !self.caps.batch {
            return None;
        }
        self.batches += 1;
        let reference = format!("h{}", self.batches);
        let mut all = vec![format!("+{reference}"), kind.to_owned()];
        all.extend(params.iter().map(|p| (*p).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let sent = line("", &self.server, "BATCH", &all, None);
        self.send(sent);
        Some(reference)
    }

    fn close_batch(&mut self, reference: Option<String>) {
        if let Some(reference) = reference {
            let sent = line("", &self.server, "BATCH", &[&format!("-{reference}")], None);
            self.send(sent);
        }
    }

    /// CHATHISTORY's messages arrived: sent in a `chathistory` batch (or as they are to a
    /// client without batches), the user's ignores applied.
    pub fn finish_history(&mut self, request: HistoryRequest, mut found: Vec<Arc<Message>>) {
        if let Some(user) = self.user {
            self.world.irc_hide_ignored(user, &mut found);
        }
        let reference = self.open_batch("chathistory", &[&request.label]);
        let key = request.source.key().to_owned();
        for message in &found {
            self.relay(
                &request.target,
                &key,
                message,
                Some(reference.as_deref().unwrap_or("")),
                None,
            );
        }
        self.close_batch(reference);
    }

    /// CHATHISTORY TARGETS' answer arrived.
    pub fn finish_targets(&mut self, found: Vec<(String, i64)>) {
        let reference = self.open_batch("draft/chathistory-targets", &[]);
        let tags = reference
            .as_deref()
            .map(|r| format!("batch={r}"))
            .unwrap_or_default();
        for (label, micros) in found {
            let at = reply::server_time(micros);
            let sent = line(
                &tags,
                &self.server,
                "CHATHISTORY",
                &["TARGETS", &label, &at],
                None,
            );
            self.send(sent);
        }
        self.close_batch(reference);
    }

    fn lusers(&mut self, user: UserId) {
        let (census, _) = self.world.census(user);
        let users = census.users.to_string();
        self.reply(
            251,
            &[],
            &format!("There are {users} users and 0 invisible on 1 servers"),
        );
        let channels = census.public_channels.to_string();
        self.reply(254, &[&channels], "channels formed");
        self.reply(255, &[], &format!("I have {users} clients and 0 servers"));
        let most = census.most_users.to_string();
        self.reply(
            265,
            &[&users, &most],
            &format!("Current local users {users}, max {most}"),
        );
        self.reply(
            266,
            &[&users, &most],
            &format!("Current global users {users}, max {most}"),
        );
    }

    /// HELP: the text between RPL_HELPSTART and RPL_ENDOFHELP, or ERR_HELPNOTFOUND. The
    /// longest page (`HELP commands`) is under a hundred lines.
    fn help(&mut self, subject: &str) {
        let Some((subject, lines)) = super::help::help_for(subject) else {
            let subject = subject.to_owned();
            self.reply(524, &[&subject], "No help available on this topic");
            return;
        };
        let mut lines = lines.iter().map(|l| irc_proto::r0c_to_irc(l));
        let first = lines.next().unwrap_or_default();
        self.reply(704, &[&subject], &first);
        for text in lines {
            self.reply(705, &[&subject], &text);
        }
        self.reply(706, &[&subject], "End of /HELP");
    }

    fn motd(&mut self) {
        self.reply(375, &[], &format!("- {} Message of the day -", self.server));
        for text in [
            "- This is r0c: the same chat reaches telnet, netcat, ssh, the web and IRC.",
            "- Its own commands work here too: /quote HELP, or REGISTER PASSWORD, LOGIN NICK PASSWORD.",
        ] {
            self.reply(372, &[], text);
        }
        for text in self.motd_lines.clone() {
            self.reply(372, &[], &text);
        }
        self.reply(376, &[], "End of /MOTD command.");
    }

    fn isupport(&mut self) {
        let tokens = reply::isupport(
            &self.server,
            self.world.max_windows_per_user(),
            nick::MAX_NICK_CHARS,
            MAX_CHANNEL_CHARS + 1,
            MAX_TOPIC_CHARS,
        );
        for chunk in tokens.chunks(12) {
            let mut params: Vec<&str> = chunk.iter().map(String::as_str).collect();
            params.shrink_to_fit();
            self.reply(5, &params, "are supported by this server");
        }
    }

    fn cap(&mut self, params: &[&str]) {
        let sub = params
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_default();
        let me = self.me().to_owned();
        match sub.as_str() {
            "LS" => {
                if !self.registered {
                    self.cap_negotiating = true;
                }
                let v302 = params
                    .get(1)
                    .and_then(|v| v.parse::<u32>().ok())
                    .is_some_and(|v| v >= 302);
                let caps: Vec<String> = CAPABILITIES
                    .iter()
                    .map(|c| match (*c, v302) {
                        ("sasl", true) => "sasl=PLAIN".to_owned(),
                        _ => (*c).to_owned(),
                    })
                    .collect();
                let text = line("", &self.server, "CAP", &[&me, "LS"], Some(&caps.join(" ")));
                self.send(text);
            }
            "LIST" => {
                let text = line(
                    "",
                    &self.server,
                    "CAP",
                    &[&me, "LIST"],
                    Some(&self.caps.list()),
                );
                self.send(text);
            }
            "REQ" => {
                if !self.registered {
                    self.cap_negotiating = true;
                }
                let wanted = params.get(1).copied().unwrap_or("");
                let mut caps = self.caps;
                let all_known = wanted
                    .split_whitespace()
                    .all(|cap| match cap.strip_prefix('-') {
                        Some(name) => caps.set(name, false),
                        None => caps.set(cap, true),
                    });
                let verdict = if all_known && !wanted.trim().is_empty() {
                    self.caps = caps;
                    "ACK"
                } else {
                    "NAK"
                };
                let text = line("", &self.server, "CAP", &[&me, verdict], Some(wanted));
                self.send(text);
            }
            "END" => {
                if !self.registered {
                    self.cap_negotiating = false;
                    self.try_register();
                }
            }
            _ => {
                let shown = params.first().copied().unwrap_or("");
                self.reply(410, &[shown], "Invalid CAP command");
            }
        }
    }

    fn nick_command(&mut self, params: &[&str], now: Instant) -> Option<Wait> {
        let Some(wanted) = params.first().filter(|n| !n.is_empty()) else {
            self.reply(431, &[], "No nickname given");
            return None;
        };
        let valid = matches!(nick::check_nick(wanted), nick::NickCheck::Valid(_));
        if !valid {
            self.reply(432, &[wanted], "Erroneous nickname");
            return None;
        }
        let Some(user) = self.user else {
            if self.world.is_online(wanted) {
                self.reply(433, &[wanted], "Nickname is already in use");
                return None;
            }
            self.nick = (*wanted).to_owned();
            self.try_register();
            return None;
        };
        if !self.registered {
            // SASL made the user already: the nick is changed in the world.
            if self.world.change_nick(user, wanted).is_ok() {
                self.nick = (*wanted).to_owned();
            } else {
                self.reply(433, &[wanted], "Nickname is already in use");
            }
            self.try_register();
            return None;
        }
        if *wanted == self.nick {
            return None;
        }
        if let Err(wait) = self.budget.check(now) {
            self.reply(
                263,
                &["NICK"],
                &format!("Wait {wait} seconds and try again"),
            );
            return None;
        }
        match self.world.change_nick(user, wanted) {
            Ok(()) => {
                self.budget.charge(self.windows.len().max(1), now);
                self.sync_now()
            }
            Err(error) => {
                let code = match error {
                    NickError::Taken | NickError::LooksLike(_) => 433,
                    NickError::Invalid => 432,
                    _ => 435,
                };
                let text = match code {
                    433 => "Nickname is already in use".to_owned(),
                    _ => error.to_string(),
                };
                self.reply(code, &[wanted], &text);
                None
            }
        }
    }

    fn authenticate(&mut self, params: &[&str]) -> Option<Wait> {
        let Some(data) = params.first() else {
            self.reply(461, &["AUTHENTICATE"], "Not enough parameters");
            return None;
        };
        if self.sasl_done {
            self.reply(907, &[], "You have already authenticated using SASL");
            return None;
        }
        if *data == "*" {
            self.sasl_buffer = None;
            self.reply(906, &[], "SASL authentication aborted");
            return None;
        }
        let Some(buffer) = &mut self.sasl_buffer else {
            if data.eq_ignore_ascii_case("PLAIN") {
                self.sasl_buffer = Some(String::new());
                self.send(line("", "", "AUTHENTICATE", &["+"], None));
            } else {
                self.reply(908, &["PLAIN"], "are available SASL mechanisms");
                self.reply(904, &[], "SASL authentication failed");
            }
            return None;
        };
        if *data != "+" {
            buffer.push_str(data);
        }
        if buffer.len() > MAX_SASL {
            self.sasl_buffer = None;
            self.reply(905, &[], "SASL message too long");
            return None;
        }
        if data.len() == SASL_CHUNK {
            return None;
        }
        let encoded = self.sasl_buffer.take().unwrap_or_default();
        self.warn_clear_text();
        match reply::base64_decode(&encoded).and_then(|d| reply::sasl_plain(&d)) {
            Some((authzid, account, password)) if authzid.is_empty() || authzid == account => {
                Some(Wait::Sasl { account, password })
            }
            _ => {
                self.reply(904, &[], "SASL authentication failed");
                None
            }
        }
    }

    /// Makes the world's user if there is none yet (at registration, or for SASL before it).
    fn ensure_user(&mut self) -> UserId {
        if let Some(user) = self.user {
            return user;
        }
        let keep = (!self.nick.is_empty()).then_some(self.nick.as_str());
        let (user, wake) = self
            .world
            .connect_with(self.peer, String::new(), keep, None, None);
        self.world
            .irc_user_setup(user, &self.ident.0, &self.ident.1);
        self.user = Some(user);
        self.wake = Some(wake);
        self.rejoins = self.world.rejoins(user);
        self.nick = self.world.nick(user).unwrap_or_default();
        // The status window's first lines are the terminal's welcome, not for IRC.
        if let Some(sync) = self.world.irc_sync(user, &HashMap::new()) {
            for window in sync.windows {
                self.windows.insert(
                    window.channel,
                    Tracked {
                        target: window.target,
                        history_key: window.history_key,
                        cursor: IrcCursor {
                            next_seq: window.next_seq,
                            ..IrcCursor::default()
                        },
                        members: IrcRoster::default(),
                    },
                );
            }
        }
        user
    }

    /// The password check of SASL PLAIN, with the verdict already in: logs in or fails.
    pub fn sasl_done(&mut self, outcome: Result<String, String>) {
        match outcome {
            Ok(account) => {
                self.sasl_done = true;
                if let Some(user) = self.user {
                    self.nick = self.world.nick(user).unwrap_or_default();
                }
                let prefix = user_prefix(&self.nick);
                self.reply(
                    900,
                    &[&prefix, &account],
                    &format!("You are now logged in as {account}"),
                );
                self.reply(903, &[], "SASL authentication successful");
            }
            Err(_) => self.reply(904, &[], "SASL authentication failed"),
        }
    }

    /// The user for a SASL check, made now if need be.
    pub fn sasl_user(&mut self) -> UserId {
        self.ensure_user()
    }

    fn try_register(&mut self) {
        if self.registered || self.cap_negotiating || !self.user_given || self.nick.is_empty() {
            return;
        }
        let wanted = self.nick.clone();
        let fresh = self.user.is_none();
        let user = self.ensure_user();
        if fresh && !self.nick.eq_ignore_ascii_case(&wanted) {
            // Someone took the nick since NICK was checked (or it is registered): the client
            // is told as at NICK time, and registers once it picks another.
            self.world.disconnect(user, false);
            self.user = None;
            self.rejoins = None;
            self.wake = None;
            self.windows.clear();
            self.nick = String::new();
            self.reply(433, &[&wanted], "Nickname is already in use");
            return;
        }
        self.registered = true;
        // SASL may have made the user before USER came.
        self.world
            .irc_user_setup(user, &self.ident.0, &self.ident.1);
        let nick = self.world.nick(user).unwrap_or_else(|| self.nick.clone());
        self.nick = nick.clone();
        self.reply(
            1,
            &[],
            &format!("Welcome to the r0c chat, {}", user_prefix(&nick)),
        );
        self.reply(
            2,
            &[],
            &format!(
                "Your host is {}, running r0c {}",
                self.server,
                env!("CARGO_PKG_VERSION")
            ),
        );
        self.reply(3, &[], "This server was started some time ago");
        let text = numeric(
            &self.server,
            4,
            &nick,
            &[&self.server, env!("CARGO_PKG_VERSION"), "o", "bikmortv"],
            None,
        );
        self.send(text);
        self.isupport();
        self.lusers(user);
        self.motd();
        // What happened before registration (channels rejoined at a SASL login) is shown now:
        // syncs before it were left undone.
        self.sync();
        tracing::info!(peer = %self.peer, nick, "irc client registered");
    }

    /// Syncs and then answers nothing more: the common tail of a command.
    fn sync_now(&mut self) -> Option<Wait> {
        self.sync();
        None
    }

    /// Tells the client what changed in the world since it last looked: its nick, windows
    /// joined and left, members, topics and new messages.
    pub fn sync(&mut self) {
        let Some(user) = self.user else {
            return;
        };
        if !self.registered {
            return;
        }
        let cursors: HashMap<ChannelId, IrcCursor> = self
            .windows
            .iter()
            .map(|(id, w)| (*id, w.cursor.clone()))
            .collect();
        let Some(sync) = self.world.irc_sync(user, &cursors) else {
            self.closing = true;
            return;
        };
        self.apply_sync(user, sync);
    }

    fn apply_sync(&mut self, me: UserId, sync: IrcSync) {
        if sync.nick != self.nick {
            let old = std::mem::replace(&mut self.nick, sync.nick.clone());
            let text = line("", &user_prefix(&old), "NICK", &[], Some(&sync.nick));
            self.send(text);
        }
        let present: HashSet<ChannelId> = sync.windows.iter().map(|w| w.channel).collect();
        let gone: Vec<ChannelId> = self
            .windows
            .keys()
            .filter(|id| !present.contains(id))
            .copied()
            .collect();
        // The user's own kicks of this sync, from their status window: channel, kicker, why.
        let kicked: HashMap<String, (String, String)> = if gone.is_empty() {
            HashMap::new()
        } else {
            sync.windows
                .iter()
                .filter(|w| w.target == IrcTarget::Status)
                .flat_map(|w| w.messages.iter())
                .filter_map(|m| parse_kicked_line(&m.text))
                .map(|(channel, actor, reason)| {
                    (channel.to_owned(), (actor.to_owned(), reason.to_owned()))
                })
                .collect()
        };
        for id in gone {
            if let Some(Tracked {
                target: IrcTarget::Public(name),
                ..
            }) = self.windows.remove(&id)
            {
                let label = format!("#{name}");
                let text = match kicked.get(&name) {
                    Some((actor, reason)) => line(
                        "",
                        &user_prefix(actor),
                        "KICK",
                        &[&label, &self.nick],
                        Some(reason),
                    ),
                    None => {
                        let reason = self.part_reasons.remove(&name);
                        line(
                            "",
                            &user_prefix(&self.nick),
                            "PART",
                            &[&label],
                            reason.as_deref(),
                        )
                    }
                };
                self.send(text);
            }
        }
        self.part_reasons.clear();
        let mut renamed: HashSet<UserId> = HashSet::new();
        // account-notify and away-notify: one ACCOUNT or AWAY line per user whose account or
        // away state changed, however many channels the client shares with them.
        let mut accounted: HashSet<UserId> = HashSet::new();
        let mut away_told: HashSet<UserId> = HashSet::new();
        let mut quit: HashSet<UserId> = HashSet::new();
        self.more = false;
        for window in sync.windows {
            let is_new = !self.windows.contains_key(&window.channel);
            let mut tracked = self.windows.remove(&window.channel).unwrap_or(Tracked {
                target: window.target.clone(),
                history_key: window.history_key.clone(),
                cursor: IrcCursor::default(),
                members: IrcRoster::default(),
            });
            tracked.target = window.target.clone();
            let channel_label = match &window.target {
                IrcTarget::Public(name) => Some(format!("#{name}")),
                _ => None,
            };
            if let (Some(label), true) = (&channel_label, is_new) {
                let text = if self.caps.extended_join {
                    let account = sync.account.as_deref().unwrap_or("*");
                    let realname = self.ident.1.clone();
                    line(
                        "",
                        &user_prefix(&self.nick),
                        "JOIN",
                        &[label, account],
                        Some(&realname),
                    )
                } else {
                    line("", &user_prefix(&self.nick), "JOIN", &[label], None)
                };
                self.send(text);
            }
            if let (Some(label), Some(topic)) = (&channel_label, &window.topic) {
                if is_new {
                    if !topic.is_empty() {
                        let topic = irc_proto::r0c_to_irc(topic);
                        self.reply(332, &[label], &topic);
                    }
                } else {
                    let topic = irc_proto::r0c_to_irc(topic);
                    let text = line("", &self.server, "TOPIC", &[label], Some(&topic));
                    self.send(text);
                }
                tracked.cursor.topic = topic.clone();
            }
            if let (Some(label), Some((version, members))) = (&channel_label, window.roster) {
                let fresh = members;
                if !is_new {
                    // Kicks of this sync, from the channel's system lines: who, by whom, why.
                    let kicks: HashMap<&str, (&str, &str)> = window
                        .kicks
                        .iter()
                        .map(|(kicked, actor, reason)| {
                            (kicked.as_str(), (actor.as_str(), reason.as_str()))
                        })
                        .collect();
                    let parts: HashMap<&str, String> = window
                        .parts
                        .iter()
                        .map(|(nick, reason)| {
                            (nick.as_str(), irc_proto::r0c_to_irc(reason).into_owned())
                        })
                        .collect();
                    for member in fresh.iter() {
                        let id = &member.id;
                        match tracked.members.get(*id) {
                            None if *id != me => {
                                self.member_joined(label, member);
                            }
                            Some(old) => {
                                if *id != me && old.nick != member.nick && renamed.insert(*id) {
                                    let text = line(
                                        "",
                                        &user_prefix(&old.nick),
                                        "NICK",
                                        &[],
                                        Some(&member.nick),
                                    );
                                    self.send(text);
                                }
                                if *id != me
                                    && old.away != member.away
                                    && self.caps.away_notify
                                    && away_told.insert(*id)
                                {
                                    self.away_line(member);
                                }
                                if *id != me
                                    && old.account != member.account
                                    && self.caps.account_notify
                                    && accounted.insert(*id)
                                {
                                    let account = member.account.as_deref().unwrap_or("*");
                                    let text = line(
                                        "",
                                        &user_prefix(&member.nick),
                                        "ACCOUNT",
                                        &[account],
                                        None,
                                    );
                                    self.send(text);
                                }
                                self.mode_lines(label, old, member);
                            }
                            _ => {}
                        }
                    }
                    for old in tracked.members.iter() {
                        let id = &old.id;
                        if fresh.contains(*id) || *id == me {
                            continue;
                        }
                        let nick = &old.nick;
                        if let Some((actor, reason)) = kicks.get(nick.as_str()) {
                            let text = line(
                                "",
                                &user_prefix(actor),
                                "KICK",
                                &[label, nick],
                                Some(reason),
                            );
                            self.send(text);
                        } else if !self.world.irc_has_quit(*id, nick) {
                            let reason = parts.get(nick.as_str()).filter(|r| !r.is_empty());
                            let text = line(
                                "",
                                &user_prefix(nick),
                                "PART",
                                &[label],
                                reason.map(|r| r.as_str()),
                            );
                            self.send(text);
                        } else if quit.insert(*id) {
                            let reason = parts
                                .get(nick.as_str())
                                .filter(|r| !r.is_empty())
                                .map_or("Quit", |r| r.as_str());
                            let text = line("", &user_prefix(nick), "QUIT", &[], Some(reason));
                            self.send(text);
                        }
                    }
                }
                tracked.members = fresh;
                tracked.cursor.roster = version;
                if is_new {
                    let nicks = self.prefixed_members(&tracked);
                    let symbol = self.names_symbol(label.trim_start_matches('#'));
                    for chunk in reply::names_lines(&nicks) {
                        self.reply(353, &[symbol, label], &chunk);
                    }
                    if self.caps.read_marker {
                        self.markread_line(me, label);
                    }
                    self.reply(366, &[label], "End of /NAMES list");
                }
            }
            // account-tag: the accounts of the members, by nick, once per sync that relays.
            let accounts: HashMap<&str, &str> =
                if self.caps.account_tag && !window.messages.is_empty() {
                    tracked
                        .members
                        .iter()
                        .filter_map(|m| Some((m.nick.as_str(), m.account.as_deref()?)))
                        .collect()
                } else {
                    HashMap::new()
                };
            for message in &window.messages {
                let account = self.author_account(&window.target, &accounts, message);
                self.relay(
                    &window.target,
                    &tracked.history_key,
                    message,
                    None,
                    account.as_deref(),
                );
            }
            tracked.cursor.next_seq = window.next_seq;
            self.more |= window.more;
            self.windows.insert(window.channel, tracked);
        }
    }

    /// The account of a message's author for account-tag: from the channel's members, or
    /// for a direct message, the world's (one short look-up).
    fn author_account(
        &self,
        target: &IrcTarget,
        accounts: &HashMap<&str, &str>,
        message: &Message,
    ) -> Option<String> {
        if !self.caps.account_tag {
            return None;
        }
        let author = if message.author == AUTHOR_ACTION {
            let body = message.text.strip_prefix('\x02').unwrap_or(&message.text);
            body.split_once('\x02').map(|(nick, _)| nick)?
        } else {
            message.author.as_str()
        };
        match target {
            IrcTarget::Public(_) => accounts.get(author).map(|a| (*a).to_owned()),
            IrcTarget::Direct(_) => self.world.irc_whois(author).and_then(|w| w.account),
            IrcTarget::Status => None,
        }
    }

    /// Someone else joined a channel: JOIN (with their account and real name for
    /// extended-join), and AWAY if they are away (away-notify).
    fn member_joined(&mut self, label: &str, member: &IrcMember) {
        let prefix = user_prefix(&member.nick);
        let text = if self.caps.extended_join {
            let account = member.account.as_deref().unwrap_or("*");
            line(
                "",
                &prefix,
                "JOIN",
                &[label, account],
                Some(&member.realname),
            )
        } else {
            line("", &prefix, "JOIN", &[label], None)
        };
        self.send(text);
        if member.away.is_some() && self.caps.away_notify {
            self.away_line(member);
        }
    }

    /// A member's operator or voice changed: MODE lines (from the server: the world does not
    /// say who made the change).
    fn mode_lines(&mut self, label: &str, old: &IrcMember, new: &IrcMember) {
        for (was, is, letter) in [(old.op, new.op, 'o'), (old.voice, new.voice, 'v')] {
            if was != is {
                let change = format!("{}{letter}", if is { '+' } else { '-' });
                let text = line("", &self.server, "MODE", &[label, &change, &new.nick], None);
                self.send(text);
            }
        }
    }

    /// away-notify: a member went away (with the reason) or came back.
    fn away_line(&mut self, member: &IrcMember) {
        let prefix = user_prefix(&member.nick);
        let text = match &member.away {
            Some(reason) => {
                let reason = if reason.is_empty() { "Away" } else { reason };
                line("", &prefix, "AWAY", &[], Some(reason))
            }
            None => line("", &prefix, "AWAY", &[], None),
        };
        self.send(text);
    }

    /// One message of a window as IRC lines; in a CHATHISTORY batch with `batch` (then the
    /// user's own lines are sent too, echo-message or not).
    fn relay(
        &mut self,
        target: &IrcTarget,
        key: &str,
        message: &Message,
        batch: Option<&str>,
        account: Option<&str>,
    ) {
        let author = message.author.as_str();
        if author == AUTHOR_SYSTEM {
            // Joins, parts, nick and topic changes reach the client as their own IRC lines;
            // a channel mode change as a MODE line (a key stays unsaid: the line has none).
            if let (IrcTarget::Public(name), None) = (target, batch)
                && let Some((actor, changes)) = parse_mode_line(&message.text)
            {
                // A flag's argument (the limit of `+l`) is a word of digits after it.
                let (arguments, flags): (Vec<&str>, Vec<&str>) = changes
                    .iter()
                    .filter(|c| !c.ends_with('k'))
                    .partition(|c| c.bytes().all(|b| b.is_ascii_digit()));
                let flags: String = flags.concat();
                if !flags.is_empty() {
                    let label = format!("#{name}");
                    let mut shown = vec![label.as_str(), flags.as_str()];
                    shown.extend(arguments);
                    let sent = line("", &user_prefix(actor), "MODE", &shown, None);
                    self.send(sent);
                }
            }
            return;
        }
        // The server's own line about an invitation reaches the invited client as INVITE.
        if let (IrcTarget::Status, AUTHOR_INFO, None) = (target, author, batch)
            && let Some((actor, channel)) = parse_invite_line(&message.text)
        {
            let me = self.nick.clone();
            let sent = line(
                "",
                &user_prefix(actor),
                "INVITE",
                &[&me, &format!("#{channel}")],
                None,
            );
            self.send(sent);
            return;
        }
        // The confirmation of a channel ban or unban reaches the operator's client as MODE.
        if let (IrcTarget::Status, AUTHOR_INFO, None) = (target, author, batch)
            && let Some((sign, masks, channel)) = parse_ban_confirmation(&message.text)
        {
            let prefix = user_prefix(&self.nick);
            for mask in masks {
                let mask = irc_ban_mask(mask);
                let flag = format!("{sign}b");
                let sent = line(
                    "",
                    &prefix,
                    "MODE",
                    &[&format!("#{channel}"), &flag, &mask],
                    None,
                );
                self.send(sent);
            }
            return;
        }
        let mut tags: Vec<String> = Vec::new();
        if let Some(batch) = batch.filter(|b| !b.is_empty()) {
            tags.push(format!("batch={batch}"));
        }
        if self.caps.server_time || batch.is_some() {
            tags.push(format!("time={}", reply::server_time(message.unix_micros)));
        }
        if self.caps.message_tags {
            tags.push(format!("msgid={}", reply::msgid(key, message.seq)));
        }
        if let Some(account) = account.filter(|_| self.caps.account_tag) {
            tags.push(format!("account={}", reply::escape_tag_value(account)));
        }

        // Client-only tags come with the line as it is delivered live, never from history.
        if self.caps.message_tags
            && batch.is_none()
            && let Some(relay) = &self.tag_relay
            && let Some(client_tags) = relay.tags_of(
                &match target {
                    IrcTarget::Direct(partner) if author == self.nick => {
                        direct_place(author, partner)
                    }
                    IrcTarget::Direct(_) => direct_place(author, &self.nick),
                    _ => key.to_owned(),
                },
                &message.author,
                &message.text,
            )
        {
            tags.push(client_tags.to_string());
        }
        let tags = tags.join(";");
        // `***` lines are `/me` actions: "\x02nick\x02 text".
        let (author, text, action) = if author == AUTHOR_ACTION {
            let body = message.text.strip_prefix('\x02').unwrap_or(&message.text);
            match body.split_once('\x02') {
                Some((nick, rest)) => (nick, rest.strip_prefix(' ').unwrap_or(rest), true),
                None => ("-", &*message.text, false),
            }
        } else {
            (author, &*message.text, false)
        };
        let pseudo = author.starts_with('-');
        let notice = message.kind == MessageKind::Notice;
        let chat = if notice { "NOTICE" } else { "PRIVMSG" };
        // Nicks are unique and bridged IRC nicks start with `~`: the user's own lines.
        let mine = author == self.nick;
        if mine && !self.caps.echo_message && batch.is_none() {
            return;
        }
        let (to, prefix, command) = match target {
            IrcTarget::Public(name) => (
                format!("#{name}"),
                if pseudo {
                    self.server.to_string()
                } else {
                    user_prefix(author)
                },
                if pseudo || notice {
                    "NOTICE"
                } else {
                    "PRIVMSG"
                },
            ),
            IrcTarget::Direct(partner) => {
                if pseudo {
                    (self.nick.clone(), self.server.to_string(), "NOTICE")
                } else if mine {
                    (partner.clone(), user_prefix(author), chat)
                } else {
                    (self.nick.clone(), user_prefix(author), chat)
                }
            }
            IrcTarget::Status => (self.nick.clone(), self.server.to_string(), "NOTICE"),
        };
        let text = irc_proto::r0c_to_irc(text);
        let overhead = prefix.len() + to.len() + command.len() + 16;
        for piece in reply::split_text(&text, overhead) {
            let piece = if action {
                std::borrow::Cow::Owned(format!("\x01ACTION {piece}\x01"))
            } else {
                std::borrow::Cow::Borrowed(piece)
            };
            let sent = line(&tags, &prefix, command, &[&to], Some(&piece));
            self.send(sent);
        }
    }
}

/// The numeric (and its parameters) answering a refused KICK of `nick` out of `channel`:
/// every refusal but an absent target is about the kicker's privileges (482).
fn kick_numeric<'a>(why: &ModError, nick: &'a str, channel: &'a str) -> (u16, Vec<&'a str>) {
    match why {
        ModError::NotOnline(_) | ModError::NotOnlineHere(_) => (401, vec![nick]),
        ModError::NotInChannel { .. } => (441, vec![nick, channel]),
        _ => (482, vec![channel]),
    }
}

/// The numeric (and its parameters) answering a refused MODE +o/+v of `nick` in `channel`;
/// `None` for a refusal IRC has no numeric for, which goes out as a NOTICE. The limits on
/// operators, and a guest named as one, are told as 482 like a missing privilege, as they
/// were when these numerics were chosen by the refusal's words.
fn role_numeric<'a>(
    why: &ModError,
    nick: &'a str,
    channel: &'a str,
) -> Option<(u16, Vec<&'a str>)> {
    match why {
        ModError::NotOnline(_) | ModError::NotOnlineHere(_) => Some((401, vec![nick])),
        ModError::NotInChannel { .. } => Some((441, vec![nick, channel])),
        ModError::NotOperator(_)
        | ModError::FounderAppoints(_)
        | ModError::GuestOperator(_)
        | ModError::OperatorsFull { .. }
        | ModError::RolesFull { .. } => Some((482, vec![channel])),
        ModError::Other(_) => None,
    }
}

/// The numeric answering a refused JOIN. A channel for registered users, and a lockdown for
/// those registered before it, answer 477 (`ERR_NEEDREGGEDNICK`, as IRC servers answer a
/// join of a `+R` channel: the text says how to register); an invitation lockdown answers 473.
fn join_numeric(why: &JoinError) -> u16 {
    match why {
        JoinError::Refused(refusal) => match refusal {
            JoinRefusal::Full { .. } => 471,
            JoinRefusal::NeedsKey(_) => 475,
            JoinRefusal::RegisteredOnly(_)
            | JoinRefusal::Lockdown(LockdownRefusal::RegisteredBefore) => 477,
            JoinRefusal::InviteOnly(_) | JoinRefusal::Lockdown(LockdownRefusal::InvitedOnly) => 473,
            JoinRefusal::Banned { .. } => 474,
        },
        JoinError::Limit(_) | JoinError::StoreUnavailable(_) => 405,
    }
}

/// Where a direct message from `from` to `to` is, for its client-only tags (the
/// conversation's history key is not known to the sender before its first message).
fn direct_place(from: &str, to: &str) -> String {
    format!("direct {} {}", from.to_lowercase(), to.to_lowercase())
}

/// An IRC ban mask as an r0c mask: `nick!*@*` is the nick, `*!*@host` the address or block;
/// an r0c mask (no `!` nor `@`) is kept. `None` for masks r0c cannot match (wildcards in a
/// nick, user names).
fn r0c_ban_mask(mask: &str) -> Option<String> {
    let Some((nick, rest)) = mask.split_once('!') else {
        return (!mask.contains('@')).then(|| mask.to_owned());
    };
    let (user, host) = rest.split_once('@')?;
    let wild = |s: &str| s.contains(['*', '?']);
    match (nick, user, host) {
        (nick, "*", "*") if !wild(nick) && !nick.is_empty() => Some(nick.to_owned()),
        ("*", "*", host) if !wild(host) && !host.is_empty() => Some(host.to_owned()),
        _ => None,
    }
}

/// An r0c mask as IRC shows bans: a nick as `nick!*@*`, an address or block as `*!*@...`;
/// accounts and keys as they are.
fn irc_ban_mask(mask: &str) -> String {
    if mask.starts_with("account:") || mask.starts_with("SHA256:") {
        mask.to_owned()
    } else if mask.contains(['.', ':', '/']) {
        format!("*!*@{mask}")
    } else {
        format!("{mask}!*@*")
    }
}

/// `+` or `-`, the masks and the channel of the world's confirmation of a channel ban
/// ("banned MASK in #chan ...") or unban ("unban: MASK... in #chan").
fn parse_ban_confirmation(text: &str) -> Option<(char, Vec<&str>, &str)> {
    if let Some(rest) = text.strip_prefix("banned ") {
        let (mask, rest) = rest.split_once(" in #")?;
        let (channel, _) = rest.split_once(' ')?;
        return (!mask.contains(' ')).then(|| ('+', vec![mask], channel));
    }
    let rest = text.strip_prefix("unban: ")?;
    let (masks, channel) = rest.rsplit_once(" in #")?;
    (!channel.contains(' ')).then(|| ('-', masks.split(' ').collect(), channel))
}

/// A `timestamp=...` selector (or a bare `*`, the beginning of time) as microseconds.
fn history_moment(text: &str) -> Option<i64> {
    if text == "*" {
        return Some(0);
    }
    reply::timestamp_micros(text.strip_prefix("timestamp=")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Arrived, Read};

    #[test]
    fn irc_ban_masks_map_onto_r0c_masks_and_back() {
        assert_eq!(r0c_ban_mask("bar!*@*"), Some("bar".to_owned()));
        assert_eq!(
            r0c_ban_mask("*!*@10.0.0.0/8"),
            Some("10.0.0.0/8".to_owned())
        );
        assert_eq!(r0c_ban_mask("account:bob"), Some("account:bob".to_owned()));
        assert_eq!(r0c_ban_mask("b*r!*@*"), None);
        assert_eq!(r0c_ban_mask("bar!ident@*"), None);
        assert_eq!(r0c_ban_mask("*!*@*"), None);
        assert_eq!(irc_ban_mask("bar"), "bar!*@*");
        assert_eq!(irc_ban_mask("10.0.0.0/8"), "*!*@10.0.0.0/8");
        assert_eq!(irc_ban_mask("account:bob"), "account:bob");
        assert_eq!(
            parse_ban_confirmation("banned bar in #chan permanently (0 online affected)"),
            Some(('+', vec!["bar"], "chan"))
        );
        assert_eq!(
            parse_ban_confirmation("unban: bar 10.0.0.0/8 in #chan"),
            Some(('-', vec!["bar", "10.0.0.0/8"], "chan"))
        );
        assert_eq!(
            parse_ban_confirmation("banned bar in the server permanently"),
            None
        );
    }

    /// A session of a client on the loopback address, with the default flood limits.
    fn test_session(world: &Arc<World>) -> IrcSession {
        let peer: SocketAddr = "127.0.0.1:9".parse().expect("literal");
        IrcSession::new(
            world.clone(),
            "r0c".into(),
            peer,
            FloodLimits::default(),
            Instant::now(),
        )
    }

    /// Each typed moderation refusal has its numeric: the same ones the refusals' words used
    /// to pick, without a nick or channel that happens to contain "operator" or "key"
    /// changing the answer.
    #[test]
    fn moderation_refusals_map_to_their_numerics() {
        let nick = || "bob".to_owned();
        let channel = || "g".to_owned();
        let kick = |why: ModError| kick_numeric(&why, "bob", "#g");
        assert_eq!(kick(ModError::NotOnline(nick())), (401, vec!["bob"]));
        assert_eq!(kick(ModError::NotOnlineHere(nick())), (401, vec!["bob"]));
        let absent = || ModError::NotInChannel {
            nick: nick(),
            channel: channel(),
        };
        assert_eq!(kick(absent()), (441, vec!["bob", "#g"]));
        assert_eq!(kick(ModError::NotOperator(channel())), (482, vec!["#g"]));
        assert_eq!(kick(ModError::Other("x".into())), (482, vec!["#g"]));
        let role = |why: ModError| role_numeric(&why, "bob", "#g");
        assert_eq!(role(ModError::NotOnline(nick())), Some((401, vec!["bob"])));
        assert_eq!(
            role(ModError::NotOnlineHere(nick())),
            Some((401, vec!["bob"]))
        );
        assert_eq!(role(absent()), Some((441, vec!["bob", "#g"])));
        for privilege in [
            ModError::NotOperator(channel()),
            ModError::FounderAppoints(channel()),
            ModError::GuestOperator(nick()),
            ModError::OperatorsFull {
                channel: channel(),
                max: 3,
            },
            ModError::RolesFull {
                channel: channel(),
                max: 3,
            },
        ] {
            assert_eq!(role(privilege), Some((482, vec!["#g"])));
        }
        assert_eq!(role(ModError::Other("operator has no voice".into())), None);
        let join = |refusal: JoinRefusal| join_numeric(&JoinError::Refused(refusal));
        let monkey = || "monkey".to_owned();
        assert_eq!(
            join(JoinRefusal::Full {
                channel: monkey(),
                limit: 2
            }),
            471
        );
        assert_eq!(join(JoinRefusal::NeedsKey(channel())), 475);
        assert_eq!(join(JoinRefusal::RegisteredOnly(channel())), 477);
        let lockdown = |refusal: LockdownRefusal| join(refusal.into());
        assert_eq!(lockdown(LockdownRefusal::RegisteredBefore), 477);
        assert_eq!(join(JoinRefusal::InviteOnly(monkey())), 473);
        assert_eq!(lockdown(LockdownRefusal::InvitedOnly), 473);
        let banned = JoinRefusal::Banned {
            channel: monkey(),
            reason: "keys".into(),
        };
        assert_eq!(join(banned), 474);
        assert_eq!(join_numeric(&JoinError::StoreUnavailable(channel())), 405);
        let limit = crate::world::LimitError::Channels { max: 1 };
        assert_eq!(join_numeric(&JoinError::Limit(limit)), 405);
    }

    /// A session driven through KICK and MODE +o refusals answers each with its numeric and
    /// the world's words.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kick_and_op_refusals_answer_with_their_numerics() {
        let dir = tempfile::tempdir().expect("temp dir");
        let world = crate::session::terminal::tests::world(dir.path());
        let mut sessions: Vec<IrcSession> = Vec::new();
        for (nick, channel) in [("ann", "#m"), ("ben", "#m"), ("cat", "#g")] {
            let mut session = joined_session(&world, nick, channel).await;
            session.sync();
            session.out.clear();
            sessions.push(session);
        }
        let mut answer = |index: usize, line: &str| {
            let session = &mut sessions[index];
            session.out.clear();
            session.handle(line, Instant::now());
            String::from_utf8_lossy(&session.out).into_owned()
        };
        // Without a password to require, a loopback user is a server operator: ann may kick
        // and appoint anywhere, and is refused only for whom she names.
        let told = answer(0, "KICK #m zed");
        assert!(told.contains(" 401 ann zed :zed is not online"), "{told}");
        let told = answer(0, "KICK #m cat");
        assert!(told.contains(" 441 ann cat #m :cat is not in #m"), "{told}");
        let told = answer(0, "MODE #m +o zed");
        assert!(
            told.contains(" 401 ann zed :zed is not online here; "),
            "{told}"
        );
        let told = answer(0, "MODE #m +o ben");
        assert!(
            told.contains(" 482 ann #m :ben is a guest; operators must be registered"),
            "{told}"
        );
        let told = answer(0, "MODE #m -v ben");
        assert!(
            told.contains("NOTICE") && told.contains(":ben has no voice in #m"),
            "{told}"
        );
    }

    /// A session registered as `nick` that has joined `channel`, its store reads done.
    async fn joined_session(world: &Arc<World>, nick: &str, channel: &str) -> IrcSession {
        let mut session = test_session(world);
        session.handle(&format!("NICK {nick}"), Instant::now());
        session.handle("USER u 0 * :u", Instant::now());
        let mut wait = session.handle(&format!("JOIN {channel}"), Instant::now());
        while let Some(Wait::Join(name, load)) = wait.take() {
            let read = crate::history::read(world.store().clone(), Read::Load(load)).await;
            wait = match read {
                Arrived::Join { name, loaded } => {
                    session.finish_join(&name, loaded, Instant::now())
                }
                _ => session.finish_join(&name, None, Instant::now()),
            };
        }
        session
    }

    /// A small deterministic generator (xorshift), so a failure is repeatable.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// Lines made of IRC verbs, parameters and arbitrary bytes, fed to registered and
    /// unregistered sessions: nothing panics and every line sent is one line of at most 512
    /// bytes after its tags.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn arbitrary_lines_never_panic_and_every_reply_fits_one_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let world = crate::session::terminal::tests::world(dir.path());
        let verbs: &[&[u8]] = &[
            b"NICK",
            b"USER",
            b"CAP",
            b"AUTHENTICATE",
            b"JOIN",
            b"PART",
            b"PRIVMSG",
            b"NOTICE",
            b"TOPIC",
            b"NAMES",
            b"WHO",
            b"WHOIS",
            b"LIST",
            b"MODE",
            b"KICK",
            b"INVITE",
            b"PING",
            b"OPER",
            b"WHOWAS",
            b"USERHOST",
            b"LUSERS",
            b"IGNORE",
            b"BANS",
            b"ME",
            b"@a=b",
            b":x",
            b"",
        ];
        let pieces: &[&[u8]] = &[
            b" ",
            b" :",
            b"#g",
            b"#",
            b",",
            b"bob",
            b"LS 302",
            b"REQ :sasl",
            b"END",
            b"PLAIN",
            b"+",
            b"*",
            b"\x01ACTION",
            b"\xff\xfe",
            b"\x00",
            b"\r",
            b"+o",
            b"-k",
            b"0",
            b"x y z",
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        for session_number in 0..20_u32 {
            let mut session = test_session(&world);
            if session_number.is_multiple_of(2) {
                session.handle(&format!("NICK fuzz{session_number}"), Instant::now());
                session.handle("USER u 0 * :u", Instant::now());
            }
            for _ in 0..200 {
                let mut line = verbs[next(&mut seed) as usize % verbs.len()].to_vec();
                for _ in 0..next(&mut seed) % 6 {
                    line.extend_from_slice(pieces[next(&mut seed) as usize % pieces.len()]);
                    if next(&mut seed).is_multiple_of(5) {
                        line.push((next(&mut seed) & 0xff) as u8);
                    }
                }
                // Waits (store reads, password checks) are the loop's; here they are dropped.
                let _ = session.handle_bytes(&line, Instant::now());
                session.sync();
            }
            let out = String::from_utf8_lossy(&session.out).into_owned();
            for sent in out.split_inclusive("\r\n") {
                assert!(sent.ends_with("\r\n"), "unterminated {sent:?}");
                let body = match sent.strip_prefix('@') {
                    Some(tagged) => tagged.split_once(' ').map_or("", |(_, b)| b),
                    None => sent,
                };
                assert!(
                    body.len() <= reply::MAX_LINE,
                    "{} bytes: {sent:?}",
                    body.len()
                );
                assert!(!body.trim_end().contains(['\r', '\n', '\0']), "{sent:?}");
            }
            if let Some(user) = session.user() {
                world.disconnect(user, false);
            }
        }
    }

    /// Every IRC session in a channel keeps the same member list, the world's, rather than
    /// a copy of its own (which made an IRC client cost ~200 KiB in a channel of 600), and
    /// still tells its client who joined and who left.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sessions_in_one_channel_share_one_member_list() {
        let dir = tempfile::tempdir().expect("temp dir");
        let world = crate::session::terminal::tests::world(dir.path());
        let mut sessions: Vec<IrcSession> = Vec::new();
        for nick in ["ann", "ben", "cat"] {
            let session = joined_session(&world, nick, "#g").await;
            sessions.push(session);
        }
        for session in &mut sessions {
            session.out.clear();
            session.sync();
        }
        let lists: Vec<&IrcRoster> = sessions
            .iter()
            .map(|session| {
                let window = session
                    .windows
                    .values()
                    .find(|w| w.target == IrcTarget::Public("g".into()))
                    .expect("#g tracked");
                &window.members
            })
            .collect();
        assert_eq!(lists[0].iter().count(), 3);
        assert!(lists.iter().all(|list| list.shares(lists[0])));
        // Ann learnt of ben and cat from the shared list.
        let told = String::from_utf8_lossy(&sessions[0].out).into_owned();
        assert!(told.contains(":ben!") && told.contains(":cat!"), "{told}");
        // Cat leaves: the others' next sync tells them, from the next shared list.
        sessions[2].handle("PART #g", Instant::now());
        for session in &mut sessions[..2] {
            session.out.clear();
            session.sync();
            let told = String::from_utf8_lossy(&session.out).into_owned();
            assert!(told.contains(":cat!") && told.contains("PART #g"), "{told}");
        }
        let (first, second) = (&sessions[0].windows, &sessions[1].windows);
        let find = |windows: &HashMap<ChannelId, Tracked>| {
            windows
                .values()
                .find(|w| w.target == IrcTarget::Public("g".into()))
                .map(|w| w.members.clone())
                .expect("#g tracked")
        };
        let (first, second) = (find(first), find(second));
        assert_eq!(first.iter().count(), 2);
        assert!(first.shares(&second));
        for session in &sessions {
            if let Some(user) = session.user() {
                world.disconnect(user, false);
            }
        }
    }
}
