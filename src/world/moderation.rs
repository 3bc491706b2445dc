//! Moderation in the world: roles (server operators, channel founders and operators, voice),
//! kicks, bans and mutes, channel modes, ignores, lockdown and the audit log.
//!
//! Everything is in memory behind the world's lock (loaded from the store at startup), so a
//! check costs a lookup or a pass over a short, capped list, and no I/O; changes are queued on
//! the store like every write, and the operator's confirmation is a status line that waits for
//! that write's commit (`Post::after`). Banned addresses are also copied into the door list
//! ([`Door`]), which the listeners read without the world's lock.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use tokio_util::sync::CancellationToken;

use super::error::reason_suffix;
use super::ignore::Ignores;
use super::sanction::{
    Kind, Lockdown, Mask, ModeChange, Modes, Sanction, Subject, parse_duration, principal,
    principal_mask,
};
use super::*;
use crate::store::{
    ModWrite, StoredAudit, StoredChannelMod, StoredModeration, StoredRole, StoredSanction,
};

#[path = "cluster_moderation.rs"]
mod cluster_moderation;

/// Server-wide bans and mutes kept at most; an operator is told when the list is full.
pub const MAX_SERVER_SANCTIONS: usize = 1000;
/// Bans and mutes one channel keeps at most.
pub const MAX_CHANNEL_SANCTIONS: usize = 100;
/// Nicks one user may ignore.
pub const MAX_IGNORES: usize = 64;
/// Operators and voiced principals one channel keeps at most.
pub const MAX_CHANNEL_ROLES: usize = 100;
/// Principals on the lockdown allow list at most.
pub const MAX_ALLOWED: usize = 1000;
/// Audit entries kept in memory for `/modlog` (the store keeps more).
const AUDIT_IN_MEMORY: usize = crate::store::AUDIT_LOADED;
/// The most entries one `/modlog` shows.
pub const MAX_MODLOG_LINES: usize = 100;
/// Users invited to one channel at once (`/invite`, kept until they leave the server).
const MAX_INVITED: usize = 256;
/// How long a kicked IRC user's lines are dropped in the channel: r0c is not an operator of
/// the IRC channel and cannot remove them there.
const IRC_KICK_MICROS: i64 = 10 * 60 * 1_000_000;

/// The bans that refuse a connection at the door: server-wide bans of addresses, copied out
/// of the world whenever they change, so a listener checks an address without the world's
/// lock (a short read lock and a pass over at most [`MAX_SERVER_SANCTIONS`] blocks).
#[derive(Debug, Default)]
pub struct Door {
    bans: RwLock<Arc<Vec<DoorBan>>>,
}

#[derive(Debug, Clone)]
struct DoorBan {
    block: crate::address::Cidr,
    reason: String,
    expires: Option<i64>,
}

impl Door {
    /// Why a connection from `address` is refused, if a ban covers it.
    pub fn refusal(&self, address: IpAddr) -> Option<String> {
        let bans = self
            .bans
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if bans.is_empty() {
            return None;
        }
        let now = now_micros();
        bans.iter()
            .find(|ban| ban.block.contains(address) && ban.expires.is_none_or(|end| end > now))
            .map(|ban| banned_text(&ban.reason))
    }

    fn replace(&self, bans: Vec<DoorBan>) {
        *self
            .bans
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(bans);
    }
}

/// A sanction as the store (and the cluster's stream) keeps it.
pub(super) fn stored_sanction(sanction: &Sanction) -> StoredSanction {
    StoredSanction {
        kind: sanction.kind.as_str().to_owned(),
        scope: sanction.channel.clone().unwrap_or_default(),
        mask: sanction.mask.to_string(),
        reason: sanction.reason.clone(),
        set_by: sanction.set_by.clone(),
        set_at: sanction.set_at,
        expires: sanction.expires,
    }
}

fn banned_text(reason: &str) -> String {
    if reason.is_empty() {
        "you are banned from this server".to_owned()
    } else {
        format!("you are banned from this server: {reason}")
    }
}

/// A channel's moderation state: its founder, operators, voice, modes, key and invitations.
#[derive(Debug, Default)]
pub(super) struct ChannelMod {
    founder: Option<String>,
    modes: Modes,
    key: Option<String>,
    /// The user limit (`+l`): at most this many members; more join only when invited.
    limit: Option<u32>,
    /// Principal → `op` or `voice`.
    roles: HashMap<String, Role>,
    /// Guests voiced for as long as they are connected (they have no principal to persist).
    voiced_guests: HashSet<UserId>,
    /// Guests who created the channel (see [`World::grant_creator_op`]): operators while
    /// they stay in it, as on an IRC network's unregistered channels.
    session_ops: HashSet<UserId>,
    /// A session operator set the modes or key: they end when the channel empties, as an
    /// unregistered IRC channel's do, so nobody locks a channel (`+i`, `+k`) by creating it
    /// and leaving.
    session_modes: bool,
    invited: HashSet<UserId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Op,
    Voice,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Op => "op",
            Role::Voice => "voice",
        }
    }
}

/// The channel r0c's help names for everyone (`/join #g`): nobody becomes its operator by
/// creating it.
pub const LOBBY_CHANNEL: &str = "g";

impl Moderation {
    /// `user` left public channel `name`: a creator's operator status ends with it.
    pub(super) fn end_session_op(&mut self, user: UserId, name: &str) {
        if let Some(c) = self.channels.get_mut(name) {
            c.session_ops.remove(&user);
        }
    }
}

/// Moderation's part of the world's state.
#[derive(Debug, Default)]
pub(super) struct Moderation {
    pub(super) sanctions: Vec<Sanction>,
    channels: HashMap<String, ChannelMod>,
    lockdown: Lockdown,
    /// When the lockdown began (microseconds): under `registered`, only accounts made and ssh
    /// keys that claimed a nick before then count, so a spam wave cannot register its way in.
    lockdown_since: i64,
    allowed: HashSet<String>,
    /// Stored ignore rows of registered users, by principal (handed to the user on connect).
    pub(super) ignores: HashMap<String, Vec<String>>,
    /// Online ignored user → the online users whose ignore entries follow them.
    pub(super) ignored_by: HashMap<UserId, HashSet<UserId>>,
    /// Ignore entry key (principal or folded nick) → the online users with such an entry.
    pub(super) ignore_keys: HashMap<String, HashSet<UserId>>,
    audit: VecDeque<StoredAudit>,
}

/// Moderation's part of a connected user.
#[derive(Debug, Default)]
pub(super) struct UserModeration {
    /// The people whose lines this user does not see.
    pub(super) ignores: Ignores,
    /// Channels where this guest was voiced or invited: cleared there when they leave.
    pub(super) guest_marks: HashSet<String>,
    /// Cancelled when the user is put out (a server ban): the connection ends.
    pub(super) ejected: CancellationToken,
    /// The key given with the last `/join #chan KEY`: (channel, key).
    pub(super) offered_key: Option<(String, String)>,
}

/// Where a ban, mute or list applies.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    Server,
    Channel(String),
}

impl Scope {
    fn stored(&self) -> String {
        match self {
            Scope::Server => String::new(),
            Scope::Channel(name) => name.clone(),
        }
    }

    fn shown(&self) -> String {
        match self {
            Scope::Server => "the server".to_owned(),
            Scope::Channel(name) => format!("#{name}"),
        }
    }

    fn channel(&self) -> Option<String> {
        match self {
            Scope::Server => None,
            Scope::Channel(name) => Some(name.clone()),
        }
    }
}

/// A moderation action's answer: `Ok` the confirmation (shown once the store committed the
/// change), `Err` the refusal (shown at once, as its `to_string()`).
pub type ModResult = Result<String, ModError>;

impl State {
    fn subject(&self, user: UserId) -> Option<Subject<'_>> {
        self.users.get(&user).map(|u| Subject {
            nick: &u.nick,
            account: u.account.as_deref(),
            key: u.identity.as_deref(),
            address: u.address,
        })
    }

    pub(super) fn principal_of(&self, user: UserId) -> Option<String> {
        let u = self.users.get(&user)?;
        principal(u.account.as_deref(), u.identity.as_deref())
    }

    fn is_registered(&self, user: UserId) -> bool {
        self.users
            .get(&user)
            .is_some_and(|u| u.account.is_some() || u.identity.is_some())
    }

    fn is_server_op(&self, user: UserId) -> bool {
        self.users.get(&user).is_some_and(|u| u.admin)
    }

    /// Whether a ban (the server's or channel `name`'s) matches `user`.
    pub(super) fn banned_from(&self, user: UserId, name: &str) -> bool {
        self.sanction_on(user, Kind::Ban, Some(name)).is_some()
    }

    /// The first sanction of `kind` in force on `user` in `scope` (server-wide ones apply
    /// everywhere).
    fn sanction_on(&self, user: UserId, kind: Kind, channel: Option<&str>) -> Option<&Sanction> {
        if self.moderation.sanctions.is_empty() {
            return None;
        }
        let subject = self.subject(user)?;
        let now = now_micros();
        self.moderation.sanctions.iter().find(|s| {
            s.kind == kind
                && (s.channel.is_none() || s.channel.as_deref() == channel)
                && !s.expired(now)
                && s.mask.matches(&subject)
        })
    }

    pub(super) fn is_channel_op(&self, user: UserId, channel: &str) -> bool {
        if self.is_server_op(user) {
            return true;
        }
        let entry = self.moderation.channels.get(channel);
        if entry.is_some_and(|c| c.session_ops.contains(&user)) {
            return true;
        }
        let Some(principal) = self.principal_of(user) else {
            return false;
        };
        entry.is_some_and(|c| {
            c.founder.as_deref() == Some(principal.as_str())
                || c.roles.get(&principal) == Some(&Role::Op)
        })
    }

    /// The channel is secret (`+s`): IRC's LIST shows it to its members only.
    pub(super) fn is_secret(&self, channel: &str) -> bool {
        self.moderation
            .channels
            .get(channel)
            .is_some_and(|c| c.modes.secret)
    }

    pub(super) fn is_voiced(&self, user: UserId, channel: &str) -> bool {
        let Some(c) = self.moderation.channels.get(channel) else {
            return false;
        };
        c.voiced_guests.contains(&user)
            || self
                .principal_of(user)
                .is_some_and(|p| c.roles.get(&p) == Some(&Role::Voice))
    }

    /// The lockdown's refusal for `user`, if any.
    fn lockdown_refusal(&self, user: UserId) -> Option<LockdownRefusal> {
        match self.moderation.lockdown {
            Lockdown::Off => None,
            _ if self.is_server_op(user) => None,
            Lockdown::Registered
                if self.registered_before(user, self.moderation.lockdown_since) =>
            {
                None
            }
            Lockdown::Registered => Some(LockdownRefusal::RegisteredBefore),
            Lockdown::Invite
                if self
                    .principal_of(user)
                    .is_some_and(|p| self.moderation.allowed.contains(&p)) =>
            {
                None
            }
            Lockdown::Invite => Some(LockdownRefusal::InvitedOnly),
        }
    }

    /// Whether `user` is logged in to an account made before `since`, or has an ssh key that
    /// claimed a nick before then.
    fn registered_before(&self, user: UserId, since: i64) -> bool {
        let Some(u) = self.users.get(&user) else {
            return false;
        };
        let account_before = u.account.as_deref().is_some_and(|name| {
            self.accounts
                .get(name, now_micros())
                .is_some_and(|account| account.created_at < since)
        });
        let key_before = u
            .identity
            .as_deref()
            .and_then(|key| self.claims.first_claimed(key))
            .is_some_and(|claimed_at| claimed_at < since);
        account_before || key_before
    }

    pub(super) fn user_named(&self, nick: &str) -> Option<UserId> {
        self.nicks.get(&nick.to_lowercase()).copied()
    }

    /// The public channel of the user's active window.
    fn active_public(&self, user: UserId) -> Option<(ChannelId, String)> {
        let u = self.users.get(&user)?;
        let channel = u.windows.get(u.active)?.channel;
        match &self.channels.get(&channel)?.kind {
            ChannelKind::Public { name } => Some((channel, name.clone())),
            _ => None,
        }
    }
}

impl World {
    /// Takes what the store holds at startup; `lockdown` is `--lockdown`, which wins over the
    /// stored mode when given.
    pub fn load_moderation(&self, stored: StoredModeration, lockdown: Option<Lockdown>) {
        let mut state = self.lock();
        let moderation = &mut state.moderation;
        for s in stored.sanctions {
            let (Some(kind), Ok(mask)) = (Kind::parse(&s.kind), Mask::parse(&s.mask)) else {
                // An IRC nick (`~nick`) is no mask a user could type, but is one a kick makes.
                if let (Some(kind), Some(nick)) = (Kind::parse(&s.kind), s.mask.strip_prefix('~')) {
                    moderation.sanctions.push(Sanction {
                        kind,
                        channel: Some(s.scope.clone()).filter(|c| !c.is_empty()),
                        mask: Mask::Nick(format!("~{nick}")),
                        reason: s.reason,
                        set_by: s.set_by,
                        set_at: s.set_at,
                        expires: s.expires,
                    });
                }
                continue;
            };
            moderation.sanctions.push(Sanction {
                kind,
                channel: Some(s.scope).filter(|c| !c.is_empty()),
                mask,
                reason: s.reason,
                set_by: s.set_by,
                set_at: s.set_at,
                expires: s.expires,
            });
        }
        let now = now_micros();
        moderation.sanctions.retain(|s| !s.expired(now));
        for c in stored.channels {
            let entry = moderation.channels.entry(c.name).or_default();
            entry.founder = c.founder;
            entry.modes = Modes::from_letters(&c.modes);
            entry.key = c.key;
            entry.limit = c.limit;
        }
        for r in stored.roles {
            if r.channel.is_empty() {
                if r.role == "allow" {
                    moderation.allowed.insert(r.principal);
                }
                continue;
            }
            let role = match r.role.as_str() {
                "op" => Role::Op,
                "voice" => Role::Voice,
                _ => continue,
            };
            moderation
                .channels
                .entry(r.channel)
                .or_default()
                .roles
                .insert(r.principal, role);
        }
        for (owner, target) in stored.ignores {
            let list = moderation.ignores.entry(owner).or_default();
            if list.len() < MAX_IGNORES {
                list.push(target);
            }
        }
        let saved = stored.lockdown.as_deref().and_then(parse_lockdown_setting);
        let now = now_micros();
        (moderation.lockdown, moderation.lockdown_since) = match (lockdown, saved) {
            // The flag names the saved mode: the lockdown goes on from when it began.
            (Some(mode), Some((saved, since))) if mode == saved => (saved, since),
            (Some(mode), _) => (mode, now),
            (None, Some(saved)) => saved,
            (None, None) => (Lockdown::Off, now),
        };
        moderation.audit = stored.audit.into();
        self.refresh_door(&state);
    }

    /// The door list the listeners check before a session exists.
    pub fn door(&self) -> &Door {
        &self.door
    }

    /// Cancelled when the user is put out by a ban: the connection ends then.
    pub fn ejection(&self, user: UserId) -> Option<CancellationToken> {
        self.lock()
            .users
            .get(&user)
            .map(|u| u.moderation.ejected.clone())
    }

    /// The current lockdown mode.
    pub fn lockdown(&self) -> Lockdown {
        self.lock().moderation.lockdown
    }

    pub(super) fn refresh_door(&self, state: &State) {
        let bans = state
            .moderation
            .sanctions
            .iter()
            .filter(|s| s.kind == Kind::Ban && s.channel.is_none())
            .filter_map(|s| match &s.mask {
                Mask::Address(block) => Some(DoorBan {
                    block: *block,
                    reason: s.reason.clone(),
                    expires: s.expires,
                }),
                _ => None,
            })
            .collect();
        self.door.replace(bans);
    }

    /// A new user entered: their stored ignores, one line if a lockdown keeps them quiet, and
    /// out again at once if a server ban names them (their key, account or nick).
    pub(super) fn moderation_on_connect(&self, state: &mut State, user: UserId) {
        self.ignores_on_connect(state, user);
        self.moderation_checks(state, user);
    }

    /// `user` logged in to an account: its ignores, and its bans and the lockdown, as for a
    /// user who just connected.
    pub(super) fn moderation_on_login(&self, state: &mut State, user: UserId) {
        self.ignores_on_login(state, user);
        self.moderation_checks(state, user);
    }

    /// Out at once if a server ban names `user`; one line if a lockdown keeps them quiet.
    pub(super) fn moderation_checks(&self, state: &mut State, user: UserId) {
        if let Some(ban) = state.sanction_on(user, Kind::Ban, None) {
            let text = banned_text(&ban.reason);
            self.eject(state, user, &text);
            return;
        }
        if let Some(refusal) = state.lockdown_refusal(user) {
            self.tell_locked(state, user, AUTHOR_ERROR, &refusal.to_string());
        }
    }

    /// A user is leaving: their voice as a guest and their invitations end (found through
    /// the channels they were marked in, not a scan of every channel), and their ignores
    /// leave the indexes.
    pub(super) fn moderation_on_disconnect(&self, state: &mut State, user: UserId) {
        self.ignores_on_disconnect(state, user);
        let marks = state
            .users
            .get_mut(&user)
            .map(|u| std::mem::take(&mut u.moderation.guest_marks))
            .unwrap_or_default();
        for name in marks {
            if let Some(c) = state.moderation.channels.get_mut(&name) {
                c.voiced_guests.remove(&user);
                c.invited.remove(&user);
                c.session_ops.remove(&user);
            }
        }
    }

    /// Puts `user` out: the reason in their window, then the connection ends.
    fn eject(&self, state: &mut State, user: UserId, reason: &str) {
        self.tell_locked(state, user, AUTHOR_ERROR, reason);
        if let Some(u) = state.users.get(&user) {
            tracing::info!(peer = %u.peer, nick = u.nick, "user put out by a ban");
            u.moderation.ejected.cancel();
        }
    }

    /// Why `user` may not say something in `channel` (`None`: a direct message), if so.
    pub(super) fn speak_refusal(
        &self,
        state: &State,
        user: UserId,
        channel: Option<&str>,
    ) -> Option<String> {
        if let Some(refusal) = state.lockdown_refusal(user) {
            return Some(refusal.to_string());
        }
        if let Some(mute) = state.sanction_on(user, Kind::Mute, channel) {
            let scope = mute
                .channel
                .as_ref()
                .map_or_else(|| "on this server".to_owned(), |c| format!("in #{c}"));
            return Some(format!(
                "you are muted {scope}{}",
                reason_suffix(&mute.reason)
            ));
        }
        let name = channel?;
        if let Some(ban) = state.sanction_on(user, Kind::Ban, Some(name)) {
            return Some(format!(
                "you are banned from #{name}{}",
                reason_suffix(&ban.reason)
            ));
        }
        let modes = state.moderation.channels.get(name).map(|c| c.modes)?;
        if modes.registered_only && !state.is_registered(user) && !state.is_channel_op(user, name) {
            return Some(format!(
                "#{name} is for registered users only (+r): connect with an ssh key or log in"
            ));
        }
        if modes.moderated && !state.is_voiced(user, name) && !state.is_channel_op(user, name) {
            return Some(format!(
                "#{name} is moderated (+m): only voiced users and operators may speak"
            ));
        }
        None
    }

    /// Why `user` may not join `name`, if so; an invitation is used up by the join.
    pub(super) fn join_refusal(
        &self,
        state: &State,
        user: UserId,
        name: &str,
    ) -> Option<JoinRefusal> {
        if let Some(refusal) = state.lockdown_refusal(user) {
            return Some(refusal.into());
        }
        if let Some(ban) = state.sanction_on(user, Kind::Ban, Some(name)) {
            return Some(JoinRefusal::Banned {
                channel: name.to_owned(),
                reason: ban.reason.clone(),
            });
        }
        let c = state.moderation.channels.get(name)?;
        if state.is_channel_op(user, name) {
            return None;
        }
        if c.modes.invite_only && !c.invited.contains(&user) {
            return Some(JoinRefusal::InviteOnly(name.to_owned()));
        }
        if c.modes.registered_only && !state.is_registered(user) {
            return Some(JoinRefusal::RegisteredOnly(name.to_owned()));
        }
        if let Some(limit) = c.limit
            && !c.invited.contains(&user)
        {
            let members = state
                .public_by_name
                .get(name)
                .and_then(|id| state.channels.get(id))
                .map_or(0, |channel| channel.members.len());
            if members >= usize::try_from(limit).unwrap_or(usize::MAX) {
                return Some(JoinRefusal::Full {
                    channel: name.to_owned(),
                    limit,
                });
            }
        }
        if let Some(key) = &c.key {
            let offered = state
                .users
                .get(&user)
                .and_then(|u| u.moderation.offered_key.as_ref())
                .filter(|(channel, _)| channel == name)
                .map(|(_, k)| k.as_str());
            if offered != Some(key.as_str()) {
                return Some(JoinRefusal::NeedsKey(name.to_owned()));
            }
        }
        None
    }

    /// Whether public channel `name` has a key (`+k`).
    pub fn channel_has_key(&self, name: &str) -> bool {
        self.lock()
            .moderation
            .channels
            .get(name)
            .is_some_and(|c| c.key.is_some())
    }

    /// `/join #chan KEY`: remembers the key for the join that follows.
    pub fn offer_key(&self, user: UserId, name: &str, key: &str) {
        if let Some(u) = self.lock().users.get_mut(&user) {
            u.moderation.offered_key = Some((name.to_owned(), key.to_owned()));
        }
    }

    /// Whether `user` may change the topic of `name` (`+t`).
    pub(super) fn topic_refusal(&self, state: &State, user: UserId, name: &str) -> Option<String> {
        if let Some(text) = self.speak_refusal(state, user, Some(name)) {
            return Some(text);
        }
        let locked = state
            .moderation
            .channels
            .get(name)
            .is_some_and(|c| c.modes.topic_lock);
        (locked && !state.is_channel_op(user, name))
            .then(|| format!("the topic of #{name} is locked (+t): only operators change it"))
    }

    /// Whether `user` may change nick (a muted user may not) to `nick` (a banned nick no one
    /// may take).
    pub(super) fn nick_refusal(&self, state: &State, user: UserId, nick: &str) -> Option<String> {
        if state.moderation.sanctions.is_empty() {
            return None;
        }
        let now = now_micros();
        let muted = state.moderation.sanctions.iter().any(|s| {
            s.kind == Kind::Mute
                && !s.expired(now)
                && state
                    .subject(user)
                    .is_some_and(|subject| s.mask.matches(&subject))
        });
        if muted {
            return Some("you are muted and cannot change your nick".to_owned());
        }
        let folded = nick.to_lowercase();
        state
            .moderation
            .sanctions
            .iter()
            .any(|s| {
                s.kind == Kind::Ban
                    && s.channel.is_none()
                    && !s.expired(now)
                    && s.mask.nick() == Some(folded.as_str())
            })
            .then(|| format!("{nick} is banned on this server"))
    }

    /// Whether lines of IRC user `author` (with its prefix) in `name` are dropped: a kick or
    /// a channel (or server) ban or mute of that bridged nick.
    pub(super) fn irc_author_silenced(&self, state: &State, name: &str, author: &str) -> bool {
        if state.moderation.sanctions.is_empty() {
            return false;
        }
        let folded = author.to_lowercase();
        let now = now_micros();
        state.moderation.sanctions.iter().any(|s| {
            (s.channel.is_none() || s.channel.as_deref() == Some(name))
                && !s.expired(now)
                && s.mask.nick() == Some(folded.as_str())
        })
    }

    /// The founder of a channel opened now: the registered user who created it (a guest
    /// founds nothing).
    pub(super) fn found_channel(&self, state: &mut State, user: UserId, name: &str) {
        if state
            .moderation
            .channels
            .get(name)
            .is_some_and(|c| c.founder.is_some())
        {
            return;
        }
        let Some(principal) = state.principal_of(user) else {
            return;
        };
        // Cluster mode: founded once the cluster's founder bucket says so, on every node.
        if self.in_cluster() {
            self.cluster_found(name, &principal);
            return;
        }
        let entry = state
            .moderation
            .channels
            .entry(name.to_owned())
            .or_default();
        entry.founder = Some(principal);
        self.store_channel(state, name);
    }

    /// A guest who creates a channel is its operator while they stay in it, as IRC networks
    /// do for channels nobody registered; a registered creator founds it instead
    /// ([`World::found_channel`]). Only for a channel that is brand new (nothing was ever
    /// posted in it, so nobody can take over a channel others use while it happens to be
    /// empty), with no founder nor roles, and never for [`LOBBY_CHANNEL`], the channel r0c's
    /// help sends everyone to. Bridged channels are open from startup, so nobody creates them.
    pub(super) fn grant_creator_op(&self, state: &mut State, user: UserId, name: &str) {
        if name == LOBBY_CHANNEL || state.principal_of(user).is_some() {
            return;
        }
        let entry = state
            .moderation
            .channels
            .entry(name.to_owned())
            .or_default();
        if entry.founder.is_some() || !entry.roles.is_empty() {
            return;
        }
        entry.session_ops.insert(user);
        if let Some(u) = state.users.get_mut(&user) {
            u.moderation.guest_marks.insert(name.to_owned());
        }
    }

    /// Public channel `name` closed (nobody is in it): modes and a key a session operator set
    /// are dropped, in memory and in the store.
    pub(super) fn forget_session_modes(&self, state: &mut State, name: &str) {
        let Some(c) = state.moderation.channels.get_mut(name) else {
            return;
        };
        if !std::mem::take(&mut c.session_modes) || c.founder.is_some() {
            return;
        }
        c.modes = Modes::default();
        c.key = None;
        c.limit = None;
        self.store_channel(state, name);
    }

    fn store_channel(&self, state: &State, name: &str) -> u64 {
        let Some(c) = state.moderation.channels.get(name) else {
            return TICKET_NOT_STORED;
        };
        self.store.moderate(ModWrite::PutChannel(StoredChannelMod {
            name: name.to_owned(),
            founder: c.founder.clone(),
            modes: c.modes.letters(),
            key: c.key.clone(),
            limit: c.limit,
        }))
    }

    /// The user limit (`+l`) of public channel `name`, if it has one.
    pub(super) fn user_limit(state: &State, name: &str) -> Option<u32> {
        state.moderation.channels.get(name).and_then(|c| c.limit)
    }

    /// The topic bar's mode marker of a public channel: ` [+imrstk]`, or nothing.
    pub(super) fn mode_marker(&self, state: &State, name: &str) -> String {
        let Some(c) = state.moderation.channels.get(name) else {
            return String::new();
        };
        let mut letters = c.modes.letters();
        if c.key.is_some() {
            letters.push('k');
        }
        if c.limit.is_some() {
            letters.push('l');
        }
        if letters.is_empty() {
            String::new()
        } else {
            format!(" [+{letters}]")
        }
    }

    /// Writes an audit row and keeps it for `/modlog`; counted in the metrics.
    fn audit(
        &self,
        state: &mut State,
        actor: UserId,
        action: &str,
        target: &str,
        scope: &Scope,
        reason: &str,
    ) {
        let nick = state
            .users
            .get(&actor)
            .map(|u| u.nick.clone())
            .unwrap_or_default();
        let who = state
            .principal_of(actor)
            .map_or_else(|| nick.clone(), |p| format!("{nick} ({p})"));
        let entry = StoredAudit {
            unix_micros: now_micros(),
            actor: who,
            action: action.to_owned(),
            target: target.to_owned(),
            scope: match scope {
                Scope::Server => String::new(),
                Scope::Channel(name) => format!("#{name}"),
            },
            reason: reason.to_owned(),
        };
        crate::metrics::moderation_action(action);
        tracing::info!(
            nick,
            action,
            target,
            scope = entry.scope,
            "moderation action"
        );
        self.store.moderate(ModWrite::Audit(entry.clone()));
        let audit = &mut state.moderation.audit;
        audit.push_back(entry);
        while audit.len() > AUDIT_IN_MEMORY {
            audit.pop_front();
        }
    }

    /// Confirms a persisted change to `user` once the store has committed the write with
    /// `ticket` (a status line that waits for it). In another window they get a notice at
    /// once that says the change is being saved, not that it was.
    pub(super) fn confirm(&self, state: &mut State, user: UserId, text: &str, ticket: u64) {
        let Some(u) = state.users.get(&user) else {
            return;
        };
        let Some(status) = u.status_window() else {
            return;
        };
        if u.active != 0 {
            u.notice(format!(
                "{AUTHOR_INFO} {} (saving; confirmed in window 0)",
                text::strip_formatting(&text::sanitize_message(text))
            ));
            let wake = u.wake.clone();
            state.wakes.push(wake);
        }
        let post = Post {
            after: ticket,
            ..Post::line(
                status,
                AUTHOR_INFO,
                &text::sanitize_lines(text),
                now_micros(),
            )
        };
        self.apply_locked(state, Event::Post(post));
    }

    /// Which scope an operator command of `user` applies to: the whole server for a server
    /// operator, else the channel of their active window if they operate it.
    fn scope_for(&self, state: &State, user: UserId) -> Result<Scope, ModError> {
        if state.is_server_op(user) {
            return Ok(Scope::Server);
        }
        match state.active_public(user) {
            Some((_, name)) if state.is_channel_op(user, &name) => Ok(Scope::Channel(name)),
            Some((_, name)) => Err(ModError::NotOperator(name)),
            None => {
                Err("you are not a server operator; for a channel, run this in its window".into())
            }
        }
    }

    /// The active public channel of `user`, which they must operate.
    fn operated_channel(
        &self,
        state: &State,
        user: UserId,
    ) -> Result<(ChannelId, String), ModError> {
        let Some((id, name)) = state.active_public(user) else {
            return Err("run this in the window of a channel".into());
        };
        if !state.is_channel_op(user, &name) {
            return Err(ModError::NotOperator(name));
        }
        Ok((id, name))
    }

    /// `/kick NICK [reason]`: out of the active channel, with the reason in their window. A
    /// bridged IRC user's lines are dropped in the channel for a while instead.
    pub fn kick(&self, user: UserId, nick: &str, reason: &str) -> ModResult {
        let mut state = self.lock();
        let (channel, name) = self.operated_channel(&state, user)?;
        let actor = state
            .users
            .get(&user)
            .map(|u| u.nick.clone())
            .unwrap_or_default();
        if nick.starts_with(IRC_NICK_PREFIX) {
            self.check_store().map_err(|e| e.to_string())?;
            let bridged = state.channels.get(&channel).is_some_and(|c| c.bridged);
            if !bridged {
                return Err(format!("#{name} is not bridged to IRC").into());
            }
            let sanction = Sanction {
                kind: Kind::Mute,
                channel: Some(name.clone()),
                mask: Mask::Nick(nick.to_lowercase()),
                reason: reason.to_owned(),
                set_by: actor.clone(),
                set_at: now_micros(),
                expires: Some(now_micros().saturating_add(IRC_KICK_MICROS)),
            };
            let ticket = self.put_sanction(&mut state, sanction)?;
            self.audit(
                &mut state,
                user,
                "kick",
                nick,
                &Scope::Channel(name.clone()),
                reason,
            );
            let line = format!("{nick} was kicked by {actor}{}", reason_suffix(reason));
            self.post(&mut state, channel, AUTHOR_SYSTEM, &line, Ping::Nobody);
            self.confirm(
                &mut state,
                user,
                &format!("{nick}'s lines are dropped in #{name} for 10 minutes"),
                ticket,
            );
            return Ok(String::new());
        }
        let Some(target) = state.user_named(nick) else {
            return self.kick_remote(&mut state, user, (channel, &name), nick, reason);
        };
        let in_channel = state
            .channels
            .get(&channel)
            .is_some_and(|c| c.members.contains(&target));
        if !in_channel {
            return Err(ModError::NotInChannel {
                nick: nick.to_owned(),
                channel: name,
            });
        }
        let shown = state
            .users
            .get(&target)
            .map(|u| u.nick.clone())
            .unwrap_or_default();
        let line = kick_line(&shown, &actor, reason);
        self.post(&mut state, channel, AUTHOR_SYSTEM, &line, Ping::Nobody);
        // Cluster mode: the other nodes show the kick too (the member leaves their lists
        // with the part this node publishes).
        self.cluster_note(ClusterEvent::Kick {
            channel: name.clone(),
            nick: actor.clone(),
            target: shown.clone(),
            reason: reason.to_owned(),
        });
        self.leave_channel(&mut state, target, channel, false);
        self.tell_locked(
            &mut state,
            target,
            AUTHOR_ERROR,
            &kicked_line(&name, &actor, reason),
        );
        self.audit(
            &mut state,
            user,
            "kick",
            &shown,
            &Scope::Channel(name.clone()),
            reason,
        );
        Ok(format!("{shown} was kicked from #{name}"))
    }

    /// The mask a typed target stands for: an online user's principal if they are
    /// registered (a nick is trivially changed), else the nick; or the mask as typed.
    /// Returns the mask and the user it names now, if any.
    fn target_mask(&self, state: &State, target: &str) -> Result<(Mask, Option<UserId>), String> {
        if target.starts_with(IRC_NICK_PREFIX) {
            return Ok((Mask::Nick(target.to_lowercase()), None));
        }
        let mask = Mask::parse(target).map_err(|e| e.to_string())?;
        if let Mask::Nick(nick) = &mask
            && let Some(online) = state.user_named(nick)
        {
            let mask = state
                .principal_of(online)
                .and_then(|p| principal_mask(&p))
                .unwrap_or(mask);
            return Ok((mask, Some(online)));
        }
        Ok((mask, None))
    }

    /// Refuses `sanction` if its scope's list is full (one it replaces is not counted).
    fn room_for(&self, sanctions: &[Sanction], sanction: &Sanction) -> Result<(), String> {
        let now = now_micros();
        let in_scope = |s: &&Sanction| {
            s.channel == sanction.channel
                && !s.expired(now)
                && !(s.kind == sanction.kind && s.mask == sanction.mask)
        };
        let count = sanctions.iter().filter(in_scope).count();
        let max = match &sanction.channel {
            None => MAX_SERVER_SANCTIONS,
            Some(_) => MAX_CHANNEL_SANCTIONS,
        };
        if count >= max {
            return Err(format!(
                "the list of bans and mutes is full ({max}); /unban or /unmute one first"
            ));
        }
        Ok(())
    }

    pub(super) fn put_sanction(
        &self,
        state: &mut State,
        sanction: Sanction,
    ) -> Result<u64, String> {
        let now = now_micros();
        let sanctions = &mut state.moderation.sanctions;
        sanctions.retain(|s| !s.expired(now));
        sanctions.retain(|s| {
            !(s.kind == sanction.kind && s.channel == sanction.channel && s.mask == sanction.mask)
        });
        self.room_for(sanctions, &sanction)?;
        let ticket = self
            .store
            .moderate(ModWrite::PutSanction(stored_sanction(&sanction)));
        sanctions.push(sanction);
        Ok(ticket)
    }

    /// `/ban` and `/mute`: `target` is a nick or a mask, `duration` as typed (`None`:
    /// permanent). Server-wide for a server operator, else in the operator's channel.
    /// Returns how many users online it hit (the world confirms once the store committed).
    pub fn sanction(
        &self,
        user: UserId,
        kind: Kind,
        target: &str,
        duration: Option<&str>,
        reason: &str,
    ) -> Result<usize, ModError> {
        let expires = match duration {
            Some(text) => parse_duration(text)?,
            None => None,
        };
        let mut state = self.lock();
        let scope = self.scope_for(&state, user)?;
        self.check_store().map_err(|e| e.to_string())?;
        let (mask, named) = self.target_mask(&state, target)?;
        if let Some(named) = named
            && named == user
        {
            return Err(format!("you cannot {} yourself", kind.as_str()).into());
        }
        let actor = state
            .users
            .get(&user)
            .map(|u| u.nick.clone())
            .unwrap_or_default();
        let now = now_micros();
        let sanction = Sanction {
            kind,
            channel: scope.channel(),
            mask: mask.clone(),
            reason: reason.to_owned(),
            set_by: actor.clone(),
            set_at: now,
            expires: expires.map(|d| now.saturating_add(d)),
        };
        // Cluster mode: in force once the stream has it, on every node, this one too
        // (`cluster_moderation.rs`); its author is told if it cannot be stored.
        if self.in_cluster() {
            self.room_for(&state.moderation.sanctions, &sanction)?;
            let hits = self
                .sanction_targets(&state, &sanction, Some(user), named)
                .len();
            self.cluster_publish(user, self.sanction_event(&sanction))
                .map_err(|e| e.to_string())?;
            return Ok(hits);
        }
        let ticket = self.put_sanction(&mut state, sanction.clone())?;
        let length = duration.map_or_else(|| "permanently".to_owned(), |d| format!("for {d}"));
        let hits = self.enforce_sanction(&mut state, &sanction, (Some(user), named), &length);
        self.sanction_done(&mut state, user, &sanction, &length, (hits, ticket));
        Ok(hits)
    }

    /// The users of this node `sanction` names (its author excepted; with `named`, the user
    /// a typed nick named).
    fn sanction_targets(
        &self,
        state: &State,
        sanction: &Sanction,
        author: Option<UserId>,
        named: Option<UserId>,
    ) -> Vec<UserId> {
        let mut targets: Vec<UserId> = state
            .users
            .keys()
            .copied()
            .filter(|id| {
                Some(*id) != author
                    && state
                        .subject(*id)
                        .is_some_and(|subject| sanction.mask.matches(&subject))
            })
            .collect();
        if let Some(named) = named
            && !targets.contains(&named)
        {
            targets.push(named);
        }
        targets
    }

    /// A sanction just kept here acts on the users of this node it names (`author` and
    /// `named` as for [`World::sanction_targets`]): a server ban puts them out, a channel
    /// ban out of the channel, and each is told (`length`: "for 10m", "permanently").
    /// Returns how many it hit.
    pub(super) fn enforce_sanction(
        &self,
        state: &mut State,
        sanction: &Sanction,
        (author, named): (Option<UserId>, Option<UserId>),
        length: &str,
    ) -> usize {
        let targets = self.sanction_targets(state, sanction, author, named);
        let reason = &sanction.reason;
        let actor = &sanction.set_by;
        for target in &targets {
            let nick = state
                .users
                .get(target)
                .map(|u| u.nick.clone())
                .unwrap_or_default();
            match (sanction.kind, &sanction.channel) {
                (Kind::Ban, None) => {
                    self.eject(state, *target, &banned_text(reason));
                }
                (Kind::Ban, Some(name)) => {
                    if let Some(&channel) = state.public_by_name.get(name)
                        && state
                            .channels
                            .get(&channel)
                            .is_some_and(|c| c.members.contains(target))
                    {
                        let line = format!("{nick} was banned by {actor}{}", reason_suffix(reason));
                        self.post(state, channel, AUTHOR_SYSTEM, &line, Ping::Nobody);
                        self.leave_channel(state, *target, channel, false);
                    }
                    self.tell_locked(
                        state,
                        *target,
                        AUTHOR_ERROR,
                        &format!(
                            "you were banned from #{name} {length}{}",
                            reason_suffix(reason)
                        ),
                    );
                }
                (Kind::Mute, channel) => {
                    let scope = channel
                        .as_ref()
                        .map_or_else(|| "the server".to_owned(), |name| format!("#{name}"));
                    self.tell_locked(
                        state,
                        *target,
                        AUTHOR_ERROR,
                        &format!(
                            "you were muted in {scope} {length}{}",
                            reason_suffix(reason)
                        ),
                    );
                }
            }
        }
        targets.len()
    }

    /// The end of a ban or mute by `user`, kept here with `ticket`: the door list, the audit,
    /// and their confirmation once stored.
    pub(super) fn sanction_done(
        &self,
        state: &mut State,
        user: UserId,
        sanction: &Sanction,
        length: &str,
        (hits, ticket): (usize, u64),
    ) {
        let scope = sanction
            .channel
            .clone()
            .map_or(Scope::Server, Scope::Channel);
        self.refresh_door(state);
        self.audit(
            state,
            user,
            sanction.kind.as_str(),
            &sanction.mask.to_string(),
            &scope,
            &sanction.reason,
        );
        let text = format!(
            "{} {} in {} {length} ({hits} online affected)",
            if sanction.kind == Kind::Ban {
                "banned"
            } else {
                "muted"
            },
            sanction.mask,
            scope.shown(),
        );
        self.confirm(state, user, &text, ticket);
    }

    /// `/unban` and `/unmute`.
    pub fn lift(&self, user: UserId, kind: Kind, target: &str) -> ModResult {
        let mut state = self.lock();
        let scope = self.scope_for(&state, user)?;
        self.check_store().map_err(|e| e.to_string())?;
        let (mask, _) = self.target_mask(&state, target)?;
        // A nick of a registered user online means their principal; the nick as typed too.
        let typed = Mask::parse(target).ok();
        let channel = scope.channel();
        let removed: Vec<String> = state
            .moderation
            .sanctions
            .iter()
            .filter(|s| {
                s.kind == kind
                    && s.channel == channel
                    && (s.mask == mask || Some(&s.mask) == typed.as_ref())
            })
            .map(|s| s.mask.to_string())
            .collect();
        if removed.is_empty() {
            return Err(format!("no {} of {target} in {}", kind.as_str(), scope.shown()).into());
        }
        let by = state
            .users
            .get(&user)
            .map(|u| u.nick.clone())
            .unwrap_or_default();
        let lift = ClusterEvent::Lift {
            kind: kind.as_str().to_owned(),
            scope: scope.stored(),
            masks: removed,
            by,
        };
        // Cluster mode: lifted once the stream has it, on every node, this one too.
        if !self
            .cluster_publish(user, lift.clone())
            .map_err(|e| e.to_string())?
        {
            self.apply_lift(&mut state, Some(user), lift);
        }
        Ok(String::new())
    }

    /// Lifts the sanctions a [`ClusterEvent::Lift`] names (at most as many masks as a scope
    /// holds are looked at); `user`, who lifted them here, is told once the store has it.
    pub(super) fn apply_lift(&self, state: &mut State, user: Option<UserId>, lift: ClusterEvent) {
        let ClusterEvent::Lift {
            kind, scope, masks, ..
        } = lift
        else {
            return;
        };
        let Some(kind) = Kind::parse(&kind) else {
            tracing::warn!("cluster: a lift of an unknown kind was skipped");
            return;
        };
        let channel = Some(scope.clone()).filter(|s| !s.is_empty());
        let masks: Vec<String> = masks.into_iter().take(MAX_SERVER_SANCTIONS).collect();
        let mut removed = Vec::new();
        state.moderation.sanctions.retain(|s| {
            let hit = s.kind == kind && s.channel == channel && masks.contains(&s.mask.to_string());
            if hit {
                removed.push(s.mask.to_string());
            }
            !hit
        });
        let ticket = self.forget_sanctions(kind, &scope, &removed);
        self.refresh_door(state);
        let Some(user) = user else {
            return;
        };
        let scope = channel.map_or(Scope::Server, Scope::Channel);
        let action = if kind == Kind::Ban { "unban" } else { "unmute" };
        self.audit(state, user, action, &removed.join(" "), &scope, "");
        self.confirm(
            state,
            user,
            &format!("{action}: {} in {}", removed.join(" "), scope.shown()),
            ticket,
        );
    }

    /// Removes the sanctions of `kind` on `masks` in `scope` (stored form: empty for the
    /// server) from the store; returns the last write's ticket.
    pub(super) fn forget_sanctions(&self, kind: Kind, scope: &str, masks: &[String]) -> u64 {
        let mut ticket = TICKET_NOT_STORED;
        for mask in masks {
            ticket = self.store.moderate(ModWrite::RemoveSanction {
                kind: kind.as_str().to_owned(),
                scope: scope.to_owned(),
                mask: mask.clone(),
            });
        }
        ticket
    }

    /// IRC's ban list (`MODE #chan +b`): the channel's bans in force as mask, who set it and
    /// when (microseconds), for its operators only (`None` for others), as `/bans` shows
    /// them. At most [`MAX_CHANNEL_SANCTIONS`] per channel.
    pub fn channel_bans(&self, user: UserId, name: &str) -> Option<Vec<(String, String, i64)>> {
        let state = self.lock();
        if !state.is_channel_op(user, name) {
            return None;
        }
        let now = now_micros();
        let bans = state
            .moderation
            .sanctions
            .iter()
            .filter(|s| s.kind == Kind::Ban && s.channel.as_deref() == Some(name))
            .filter(|s| !s.expired(now))
            .map(|s| (s.mask.to_string(), s.set_by.clone(), s.set_at))
            .collect();
        Some(bans)
    }

    /// `/bans`: the bans and mutes in force where the user operates.
    pub fn bans(&self, user: UserId) -> ModResult {
        let state = self.lock();
        let server = state.is_server_op(user);
        let channel = state.active_public(user).map(|(_, name)| name);
        let operated = channel
            .clone()
            .filter(|name| state.is_channel_op(user, name));
        if !server && operated.is_none() {
            return Err(match channel {
                Some(name) => ModError::NotOperator(name),
                None => "you are not a server operator".into(),
            });
        }
        let now = now_micros();
        let lines: Vec<String> = state
            .moderation
            .sanctions
            .iter()
            .filter(|s| !s.expired(now))
            .filter(|s| {
                (server && s.channel.is_none()) || (s.channel.is_some() && s.channel == operated)
            })
            .map(|s| format!("  {}", s.describe(now)))
            .collect();
        if lines.is_empty() {
            return Ok("no bans or mutes".to_owned());
        }
        Ok(format!(
            "{} bans and mutes:\n{}",
            lines.len(),
            lines.join("\n")
        ))
    }

    /// `/op`, `/deop`, `/voice`, `/devoice` in the active channel. Operators are appointed by
    /// the founder (or a server operator) and must be registered; voice is given by any
    /// operator, to a guest for as long as they are connected.
    pub fn set_role(&self, user: UserId, nick: &str, op: bool, on: bool) -> ModResult {
        let mut state = self.lock();
        let Some((channel, name)) = state.active_public(user) else {
            return Err("run this in the window of a channel".into());
        };
        let founder = state
            .moderation
            .channels
            .get(&name)
            .and_then(|c| c.founder.clone());
        let actor_principal = state.principal_of(user);
        // A channel nobody founded whose creator is here: its operators appoint operators
        // for the session, as on an IRC network's unregistered channels.
        let session_appointment = op
            && founder.is_none()
            && !state.is_server_op(user)
            && state
                .moderation
                .channels
                .get(&name)
                .is_some_and(|c| c.session_ops.contains(&user));
        let may = if op {
            state.is_server_op(user)
                || (founder.is_some() && founder == actor_principal)
                || session_appointment
        } else {
            state.is_channel_op(user, &name)
        };
        if !may {
            return Err(if op {
                ModError::FounderAppoints(name)
            } else {
                ModError::NotOperator(name)
            });
        }
        let role = if op { Role::Op } else { Role::Voice };
        let word = match (op, on) {
            (true, true) => "op",
            (true, false) => "deop",
            (false, true) => "voice",
            (false, false) => "devoice",
        };
        let Some(target) = state.user_named(nick) else {
            // A registered user who is not here (offline, or on another node) is named by
            // their account or key; a session appointment needs them here, in the channel,
            // and nobody by that name is online (IRC reads this as 401, no such nick).
            if session_appointment {
                return Err(ModError::NotOnline(nick.to_owned()));
            }
            return self.set_role_by_principal(
                &mut state,
                user,
                (channel, &name),
                nick,
                (role, on, word),
            );
        };
        let principal = state.principal_of(target);
        self.check_store().map_err(|e| e.to_string())?;
        if session_appointment {
            let present = state
                .channels
                .get(&channel)
                .is_some_and(|c| c.members.contains(&target));
            if !present {
                return Err(ModError::NotInChannel {
                    nick: nick.to_owned(),
                    channel: name,
                });
            }
        }
        // Cluster mode: a registered user's role is every node's (a guest's lasts as long as
        // their connection to this node).
        let shared = principal.clone().filter(|_| !session_appointment);
        let entry = state.moderation.channels.entry(name.clone()).or_default();
        let ticket = match principal {
            _ if session_appointment => {
                if on {
                    if entry.session_ops.len() >= MAX_CHANNEL_ROLES {
                        return Err(ModError::OperatorsFull {
                            channel: name,
                            max: MAX_CHANNEL_ROLES,
                        });
                    }
                    entry.session_ops.insert(target);
                    if let Some(u) = state.users.get_mut(&target) {
                        u.moderation.guest_marks.insert(name.clone());
                    }
                } else if !entry.session_ops.remove(&target) {
                    return Err(format!("{nick} has no op in #{name}").into());
                }
                TICKET_NOT_STORED
            }
            None if op => {
                return Err(ModError::GuestOperator(nick.to_owned()));
            }
            None => {
                if on {
                    let held = entry.roles.len().saturating_add(entry.voiced_guests.len());
                    if held >= MAX_CHANNEL_ROLES && !entry.voiced_guests.contains(&target) {
                        return Err(ModError::RolesFull {
                            channel: name,
                            max: MAX_CHANNEL_ROLES,
                        });
                    }
                    entry.voiced_guests.insert(target);
                    if let Some(u) = state.users.get_mut(&target) {
                        u.moderation.guest_marks.insert(name.clone());
                    }
                } else if !entry.voiced_guests.remove(&target) {
                    return Err(format!("{nick} has no voice in #{name}").into());
                }
                TICKET_NOT_STORED
            }
            Some(principal) => self.put_role(&mut state, &name, principal, (role, on), nick)?,
        };
        if let Some(principal) = shared {
            self.cluster_note(ClusterEvent::Role {
                channel: name.clone(),
                principal,
                role: role.as_str().to_owned(),
                on,
            });
        }
        let shown = state
            .users
            .get(&target)
            .map(|u| u.nick.clone())
            .unwrap_or_default();
        self.audit(
            &mut state,
            user,
            word,
            &shown,
            &Scope::Channel(name.clone()),
            "",
        );
        // IRC clients see the change as a MODE line instead of these confirmations.
        let irc =
            |state: &State, id: UserId| state.users.get(&id).is_some_and(|u| u.irc_ident.is_some());
        if !irc(&state, target) {
            self.tell_locked(
                &mut state,
                target,
                AUTHOR_INFO,
                &format!("{word}: you in #{name}"),
            );
        }
        State::roster_changed(&mut state, channel, None);
        if irc(&state, user) {
            return Ok(String::new());
        }
        self.confirm(
            &mut state,
            user,
            &format!("{word}: {shown} in #{name}"),
            ticket,
        );
        Ok(String::new())
    }

    /// Gives (`on`) or takes `role` of `principal` in public channel `name`, stored; refused
    /// when the channel's roles are full, or, taking it, when `shown` (as the operator typed
    /// them) has no such role. Returns the store write's ticket.
    fn put_role(
        &self,
        state: &mut State,
        name: &str,
        principal: String,
        (role, on): (Role, bool),
        shown: &str,
    ) -> Result<u64, ModError> {
        let entry = state
            .moderation
            .channels
            .entry(name.to_owned())
            .or_default();
        if on {
            let held = entry.roles.len().saturating_add(entry.voiced_guests.len());
            if held >= MAX_CHANNEL_ROLES && !entry.roles.contains_key(&principal) {
                return Err(ModError::RolesFull {
                    channel: name.to_owned(),
                    max: MAX_CHANNEL_ROLES,
                });
            }
            entry.roles.insert(principal.clone(), role);
            return Ok(self.store.moderate(ModWrite::PutRole(StoredRole {
                channel: name.to_owned(),
                principal,
                role: role.as_str().to_owned(),
            })));
        }
        if entry.roles.get(&principal) != Some(&role) {
            return Err(format!("{shown} has no {} in #{name}", role.as_str()).into());
        }
        entry.roles.remove(&principal);
        Ok(self.store.moderate(ModWrite::RemoveRole {
            channel: name.to_owned(),
            principal,
        }))
    }

    /// `/mode`: shows the active channel's modes, or changes them (operators).
    pub fn mode(&self, user: UserId, changes: &[ModeChange]) -> ModResult {
        let mut state = self.lock();
        let Some((channel, name)) = state.active_public(user) else {
            return Err("run this in the window of a channel".into());
        };
        if changes.is_empty() {
            let marker = self.mode_marker(&state, &name);
            return Ok(if marker.is_empty() {
                format!("#{name} has no modes set")
            } else {
                format!("#{name} modes:{marker}")
            });
        }
        if !state.is_channel_op(user, &name) {
            return Err(ModError::NotOperator(name));
        }
        self.check_store().map_err(|e| e.to_string())?;
        // Modes set by a session operator (not a server operator, founder or appointed one)
        // last as long as the channel is in use.
        let by_session_op = !state.is_server_op(user)
            && state
                .moderation
                .channels
                .get(&name)
                .is_some_and(|c| c.session_ops.contains(&user) && c.founder.is_none());
        let entry = state.moderation.channels.entry(name.clone()).or_default();
        if by_session_op {
            entry.session_modes = true;
        }
        cluster_moderation::apply_changes(entry, changes);
        let ticket = self.store_channel(&state, &name);
        let actor = state
            .users
            .get(&user)
            .map(|u| u.nick.clone())
            .unwrap_or_default();
        // Cluster mode: every node makes the changes (this one again, in stream order).
        self.cluster_note(ClusterEvent::Modes {
            channel: name.clone(),
            nick: actor.clone(),
            changes: cluster_moderation::changes_text(changes),
            session: by_session_op,
        });
        let summary = cluster_moderation::changes_summary(changes);
        self.audit(
            &mut state,
            user,
            "mode",
            &summary,
            &Scope::Channel(name.clone()),
            "",
        );
        // Stored after the mode write, so it is shown once both are committed.
        self.post(
            &mut state,
            channel,
            AUTHOR_SYSTEM,
            &mode_line(&actor, &summary),
            Ping::Nobody,
        );
        self.redraw_members(&mut state, channel);
        let _ = ticket;
        Ok(String::new())
    }

    fn redraw_members(&self, state: &mut State, channel: ChannelId) {
        let members = state
            .channels
            .get(&channel)
            .map(|c| c.members.clone())
            .unwrap_or_default();
        for member in members {
            if let Some(u) = state.users.get_mut(&member) {
                u.needs_redraw = true;
                let wake = u.wake.clone();
                state.wakes.push(wake);
            }
        }
    }

    /// `/invite NICK`: lets a user into the active invite-only channel (until they leave the
    /// server) and tells them.
    pub fn invite(&self, user: UserId, nick: &str) -> ModResult {
        let mut state = self.lock();
        let (_, name) = self.operated_channel(&state, user)?;
        let Some(target) = state.user_named(nick) else {
            return self.invite_remote(&mut state, user, &name, nick);
        };
        let entry = state.moderation.channels.entry(name.clone()).or_default();
        if entry.invited.len() >= MAX_INVITED {
            entry.invited.clear();
        }
        entry.invited.insert(target);
        if let Some(u) = state.users.get_mut(&target) {
            u.moderation.guest_marks.insert(name.clone());
        }
        let actor = state
            .users
            .get(&user)
            .map(|u| u.nick.clone())
            .unwrap_or_default();
        self.audit(
            &mut state,
            user,
            "invite",
            nick,
            &Scope::Channel(name.clone()),
            "",
        );
        self.tell_locked(&mut state, target, AUTHOR_INFO, &invite_line(&actor, &name));
        Ok(format!("{nick} is invited to #{name}"))
    }

    /// `/lockdown MODE`, `/lockdown allow|deny PRINCIPAL`, `/lockdown` (show): server
    /// operators only.
    pub fn set_lockdown(&self, user: UserId, words: &[&str]) -> ModResult {
        let mut state = self.lock();
        if !state.is_server_op(user) {
            return Err("you are not a server operator".into());
        }
        match words {
            [] => {
                let allowed = state.moderation.allowed.len();
                Ok(format!(
                    "lockdown: {} ({allowed} on the allow list)",
                    state.moderation.lockdown.as_str()
                ))
            }
            [verb @ ("allow" | "deny"), target] => {
                self.check_store().map_err(|e| e.to_string())?;
                let principal = match state.user_named(target) {
                    Some(online) => state.principal_of(online).ok_or_else(|| {
                        format!("{target} is a guest; only registered users can be allowed")
                    })?,
                    None => {
                        let mask = principal_mask(target).ok_or_else(|| {
                            format!(
                                "'{target}' is neither online nor account:NAME or key:SHA256:..."
                            )
                        })?;
                        match mask {
                            Mask::Account(name) => format!("account:{name}"),
                            Mask::Key(key) => format!("key:{key}"),
                            _ => return Err(format!("'{target}' is not a principal").into()),
                        }
                    }
                };
                let ticket = if *verb == "allow" {
                    if state.moderation.allowed.len() >= MAX_ALLOWED {
                        return Err(format!("the allow list is full ({MAX_ALLOWED})").into());
                    }
                    state.moderation.allowed.insert(principal.clone());
                    self.cluster_note(ClusterEvent::Allow {
                        principal: principal.clone(),
                        on: true,
                    });
                    self.store.moderate(ModWrite::PutRole(StoredRole {
                        channel: String::new(),
                        principal: principal.clone(),
                        role: "allow".to_owned(),
                    }))
                } else {
                    if !state.moderation.allowed.remove(&principal) {
                        return Err(format!("{principal} is not on the allow list").into());
                    }
                    self.cluster_note(ClusterEvent::Allow {
                        principal: principal.clone(),
                        on: false,
                    });
                    self.store.moderate(ModWrite::RemoveRole {
                        channel: String::new(),
                        principal: principal.clone(),
                    })
                };
                self.audit(
                    &mut state,
                    user,
                    &format!("lockdown {verb}"),
                    &principal,
                    &Scope::Server,
                    "",
                );
                self.confirm(
                    &mut state,
                    user,
                    &format!("lockdown {verb}: {principal}"),
                    ticket,
                );
                Ok(String::new())
            }
            [mode] => {
                let mode: Lockdown = mode.parse()?;
                self.check_store().map_err(|e| e.to_string())?;
                // Asking again for the mode in force keeps its start.
                if mode != state.moderation.lockdown {
                    state.moderation.lockdown = mode;
                    state.moderation.lockdown_since = now_micros();
                }
                let since = state.moderation.lockdown_since;
                self.cluster_note(ClusterEvent::Lockdown {
                    mode: mode.as_str().to_owned(),
                    since,
                });
                let ticket = self
                    .store
                    .moderate(ModWrite::SetLockdown(format!("{}@{since}", mode.as_str())));
                self.audit(
                    &mut state,
                    user,
                    "lockdown",
                    mode.as_str(),
                    &Scope::Server,
                    "",
                );
                self.confirm(
                    &mut state,
                    user,
                    &format!("lockdown: {}", mode.as_str()),
                    ticket,
                );
                Ok(String::new())
            }
            _ => Err(
                "usage: /lockdown [off|registered|invite], /lockdown allow|deny NICK|PRINCIPAL"
                    .into(),
            ),
        }
    }

    /// `/modlog [N]`: the newest moderation actions, for server operators.
    pub fn modlog(&self, user: UserId, count: usize) -> ModResult {
        let state = self.lock();
        if !state.is_server_op(user) {
            return Err("you are not a server operator".into());
        }
        let audit = &state.moderation.audit;
        if audit.is_empty() {
            return Ok("no moderation actions yet".to_owned());
        }
        let count = count.clamp(1, MAX_MODLOG_LINES);
        let lines: Vec<String> = audit
            .iter()
            .skip(audit.len().saturating_sub(count))
            .map(|a| {
                let when = jiff::Timestamp::from_microsecond(a.unix_micros)
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                    .strftime("%Y-%m-%d %H:%M:%SZ");
                let scope = if a.scope.is_empty() {
                    "server"
                } else {
                    a.scope.as_str()
                };
                format!(
                    "  {when} {} {} {} ({scope}){}",
                    a.actor,
                    a.action,
                    a.target,
                    reason_suffix(&a.reason)
                )
            })
            .collect();
        Ok(format!(
            "moderation log, newest last:\n{}",
            lines.join("\n")
        ))
    }
}

/// The channel's line about a mode change (`+m -t +k`); [`parse_mode_line`] reads it back.
pub fn mode_line(actor: &str, summary: &str) -> String {
    format!("{actor} set mode {summary}")
}

/// Who changed which modes, from a channel's system line made by [`mode_line`] (the IRC
/// listener shows it as a MODE line): flags like `+m`, each `+l` followed by its number.
pub fn parse_mode_line(text: &str) -> Option<(&str, Vec<&str>)> {
    let (actor, summary) = text.split_once(" set mode ")?;
    let changes: Vec<&str> = summary.split(' ').collect();
    let flag = |c: &str| c.len() == 2 && (c.starts_with('+') || c.starts_with('-'));
    let mut previous = "";
    let valid = !actor.contains(' ')
        && changes.iter().all(|c| {
            let number = previous == "+l" && !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit());
            previous = c;
            flag(c) || number
        });
    valid.then_some((actor, changes))
}

/// The channel's line about a kick; [`parse_kick_line`] reads it back.
pub fn kick_line(kicked: &str, actor: &str, reason: &str) -> String {
    format!("{kicked} was kicked by {actor}{}", reason_suffix(reason))
}

/// The kicked user's own line about a kick; [`parse_kicked_line`] reads it back.
pub fn kicked_line(channel: &str, actor: &str, reason: &str) -> String {
    format!(
        "you were kicked from #{channel} by {actor}{}",
        reason_suffix(reason)
    )
}

/// Who was kicked, by whom and why, from a channel's system line made by [`kick_line`]
/// (the IRC listener shows it as a KICK). Nicks hold no spaces nor colons.
pub fn parse_kick_line(text: &str) -> Option<(&str, &str, &str)> {
    let (kicked, rest) = text.split_once(" was kicked by ")?;
    let (actor, reason) = rest.split_once(": ").unwrap_or((rest, ""));
    (!kicked.contains(' ') && !actor.contains(' ')).then_some((kicked, actor, reason))
}

/// The channel (without `#`), the kicker and the reason from a kicked user's own line made
/// by [`kicked_line`].
pub fn parse_kicked_line(text: &str) -> Option<(&str, &str, &str)> {
    let rest = text.strip_prefix("you were kicked from #")?;
    let (channel, rest) = rest.split_once(" by ")?;
    let (actor, reason) = rest.split_once(": ").unwrap_or((rest, ""));
    (!channel.contains(' ') && !actor.contains(' ')).then_some((channel, actor, reason))
}

/// The invited user's own line about an invitation; [`parse_invite_line`] reads it back.
pub fn invite_line(actor: &str, channel: &str) -> String {
    format!("{actor} invites you to #{channel}: /join #{channel}")
}

/// Who invited the user to which channel (without `#`), from a line made by
/// [`invite_line`] (the IRC listener shows it as an INVITE).
pub fn parse_invite_line(text: &str) -> Option<(&str, &str)> {
    let (actor, rest) = text.split_once(" invites you to #")?;
    let (channel, _) = rest.split_once(": /join #")?;
    (!actor.contains(' ') && !channel.contains(' ')).then_some((actor, channel))
}

/// The stored lockdown setting, `MODE@SINCE` (microseconds), or `MODE` alone as the first
/// version stored it (the lockdown then counts from now).
fn parse_lockdown_setting(value: &str) -> Option<(Lockdown, i64)> {
    match value.split_once('@') {
        Some((mode, since)) => Some((mode.parse().ok()?, since.parse().ok()?)),
        None => Some((value.parse().ok()?, now_micros())),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::tests::{localhost, world};
    use super::*;

    #[test]
    fn the_lockdown_setting_keeps_when_it_began_and_reads_the_first_form_as_from_now() {
        assert_eq!(
            parse_lockdown_setting("registered@1234"),
            Some((Lockdown::Registered, 1234))
        );
        let (mode, since) = parse_lockdown_setting("invite").expect("the first form");
        assert_eq!(mode, Lockdown::Invite);
        assert!(since > 1234);
        assert_eq!(parse_lockdown_setting("registered@soon"), None);
        assert_eq!(parse_lockdown_setting("panic"), None);
    }

    #[test]
    fn guests_voice_is_capped_per_channel_and_ends_when_they_leave() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (world, _store) = world(dir.path(), 100, 100, 10);
        let (admin, _) = world.connect(localhost(), "hi".into());
        crate::history::join_blocking(&world, admin, "g").expect("join");
        let voiced = |world: &World| {
            world
                .lock()
                .moderation
                .channels
                .get("g")
                .map_or(0, |c| c.voiced_guests.len())
        };
        let mut guests = Vec::new();
        for n in 0..=MAX_CHANNEL_ROLES {
            let octets = u16::try_from(n).expect("small").to_be_bytes();
            let address = IpAddr::V4(Ipv4Addr::new(10, 1, octets[0], octets[1]));
            let (guest, _) = world.connect(address, "hi".into());
            world
                .change_nick(guest, &format!("guest{n}"))
                .expect("nick");
            guests.push(guest);
        }
        for n in 0..MAX_CHANNEL_ROLES {
            assert_eq!(
                world.set_role(admin, &format!("guest{n}"), false, true),
                Ok(String::new()),
                "{n}"
            );
        }
        assert_eq!(voiced(&world), MAX_CHANNEL_ROLES);
        let refused = world.set_role(admin, &format!("guest{MAX_CHANNEL_ROLES}"), false, true);
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("the most it keeps")),
            "{refused:?}"
        );
        for guest in guests {
            world.disconnect(guest, true);
        }
        assert_eq!(voiced(&world), 0);
        assert!(
            world
                .set_role(admin, &format!("guest{MAX_CHANNEL_ROLES}"), false, true)
                .is_err_and(|e| e.to_string().contains("is not online"))
        );
    }
}
