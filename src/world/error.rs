//! Why the world refused something: the typed errors its callers branch on.

/// Why a `/nick` was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NickError {
    #[error("that nick is taken")]
    Taken,
    /// Not a valid nick: callers check with [`crate::world::nick::check_nick`] first; this keeps anything
    /// else (control characters, formatting tokens) out of the world regardless.
    #[error("that is not a valid nick")]
    Invalid,
    /// Too easily mistaken for someone online or recently active (`I` for `l`, `0` for
    /// `o`, `rn` for `m`...).
    #[error("that nick looks too much like {0}")]
    LooksLike(String),
    /// Claimed by another ssh key, whose claim is still in force.
    #[error("{0} belongs to another ssh key; connect with that key, or pick another nick")]
    Claimed(String),
    /// Moderation forbids it (the user is muted, the nick is banned), for the reason given.
    #[error("{0}")]
    Refused(String),
    /// Registered by someone (an account) the user is not logged in to.
    #[error("{0} is a registered nick; /login {0} PASSWORD if it is yours")]
    Registered(String),
    /// A look-alike of a registered nick, or of one claimed by another ssh key.
    #[error("that nick looks too much like the registered nick {0}")]
    LooksLikeRegistered(String),
    /// Cluster mode: the nick cannot be checked with the other nodes now.
    #[error("nicks cannot be changed now: the cluster cannot be reached")]
    ClusterUnavailable,
}

/// Why a `/msg` could not be delivered.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectError {
    #[error("\"{0}\" is not online")]
    NotOnline(String),
    /// A new conversation would pass a window or channel limit.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The store cannot write right now (see [`PostError::StoreUnavailable`]).
    #[error("{}", PostError::StoreUnavailable)]
    StoreUnavailable,
    /// Moderation keeps the sender quiet (a mute, a lockdown), for the reason given.
    #[error("{0}")]
    Refused(String),
}

/// Why a window could not be opened: one of the limits that keep what one user can make the
/// server hold bounded. Each says which limit it is, so the user knows what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error(
        "you have {max} channels and conversations open, the most one user may have here; /part one first"
    )]
    Windows { max: usize },
    #[error("{nick} has {max} channels and conversations open and cannot take another one")]
    PartnerWindows { nick: String, max: usize },
    #[error(
        "the server has {max} channels open, the most it allows; join an existing one or try later"
    )]
    Channels { max: usize },
}

/// Why a `/join` did not join.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// Opening a channel that is not in memory waits for earlier writes to be committed,
    /// which cannot happen while the store cannot write.
    #[error("cannot open #{0}: the server cannot save messages right now")]
    StoreUnavailable(String),
    /// Moderation keeps the user out (a ban, a channel mode, a lockdown).
    #[error(transparent)]
    Refused(#[from] JoinRefusal),
}

/// Why moderation keeps a user out of a channel: typed, because the IRC front-end answers
/// each with its own numeric.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefusal {
    #[error(
        "#{channel} is full (+l {limit}): wait until someone leaves, or ask an operator for an invitation"
    )]
    Full { channel: String, limit: u32 },
    #[error("#{0} needs a key (+k): /join #{0} KEY")]
    NeedsKey(String),
    #[error("#{0} is invite-only (+i): ask an operator to /invite you")]
    InviteOnly(String),
    #[error("#{0} is for registered users only (+r): connect with an ssh key or log in")]
    RegisteredOnly(String),
    #[error("you are banned from #{channel}{}", reason_suffix(.reason))]
    Banned { channel: String, reason: String },
    #[error(transparent)]
    Lockdown(#[from] LockdownRefusal),
}

/// Why a lockdown keeps a user quiet (and out of channels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LockdownRefusal {
    #[error(
        "the server is in lockdown: only users registered before it began (an account, or an ssh key that had claimed a nick) may speak now"
    )]
    RegisteredBefore,
    #[error("the server is in lockdown: only invited users may speak now")]
    InvitedOnly,
}

/// Why a moderation command was refused. The refusals a front-end branches on are variants
/// of their own (IRC answers each with its numeric); the rest are [`ModError::Other`], with
/// the words the user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModError {
    #[error("{0} is not online")]
    NotOnline(String),
    /// Not a user of this node, and not named as a principal either.
    #[error(
        "{0} is not online here; name a registered user who is not as account:NAME or key:SHA256:..."
    )]
    NotOnlineHere(String),
    #[error("{nick} is not in #{channel}")]
    NotInChannel { nick: String, channel: String },
    #[error("you are not an operator of #{0}")]
    NotOperator(String),
    #[error("only the founder of #{0} (or a server operator) appoints operators")]
    FounderAppoints(String),
    #[error("{0} is a guest; operators must be registered (an account or an ssh key)")]
    GuestOperator(String),
    /// The channel's operators appointed for the session are as many as it keeps.
    #[error("#{channel} has {max} operators, the most it keeps")]
    OperatorsFull { channel: String, max: usize },
    /// The channel's operators and voiced users are as many as it keeps.
    #[error("#{channel} has {max} operators and voiced users, the most it keeps")]
    RolesFull { channel: String, max: usize },
    #[error("{0}")]
    Other(String),
}

impl From<String> for ModError {
    fn from(text: String) -> ModError {
        ModError::Other(text)
    }
}

impl From<&str> for ModError {
    fn from(text: &str) -> ModError {
        ModError::Other(text.to_string())
    }
}

/// `: REASON`, or nothing without a reason: how a ban's or mute's reason ends its line.
pub(super) fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    }
}

/// Why a message (or a topic) was not posted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The store cannot write right now (disk full, read-only, the database deleted): a
    /// message would be shown to nobody until it could be saved, so it is refused instead.
    #[error("not sent: the server cannot save messages right now")]
    StoreUnavailable,
    /// Cluster mode: the line could not be handed to the cluster (NATS unreachable, or the
    /// outbox full); it is refused, not queued.
    #[error("not sent: the cluster cannot be reached")]
    ClusterUnavailable,
    /// Not possible here, for the reason given (a status window, a topic too long...).
    #[error("{0}")]
    Refused(String),
}

impl From<&str> for PostError {
    fn from(text: &str) -> PostError {
        PostError::Refused(text.to_string())
    }
}

impl From<String> for PostError {
    fn from(text: String) -> PostError {
        PostError::Refused(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed refusals read exactly as the words they replaced: terminal users see them,
    /// and tests look for them.
    #[test]
    fn refusals_read_as_before() {
        let texts: Vec<(String, &str)> = vec![
            (
                ModError::NotOnline("bob".into()).to_string(),
                "bob is not online",
            ),
            (
                ModError::NotOnlineHere("bob".into()).to_string(),
                "bob is not online here; name a registered user who is not as account:NAME or key:SHA256:...",
            ),
            (
                ModError::NotInChannel {
                    nick: "bob".into(),
                    channel: "g".into(),
                }
                .to_string(),
                "bob is not in #g",
            ),
            (
                ModError::NotOperator("g".into()).to_string(),
                "you are not an operator of #g",
            ),
            (
                ModError::FounderAppoints("g".into()).to_string(),
                "only the founder of #g (or a server operator) appoints operators",
            ),
            (
                ModError::GuestOperator("bob".into()).to_string(),
                "bob is a guest; operators must be registered (an account or an ssh key)",
            ),
            (
                ModError::OperatorsFull {
                    channel: "g".into(),
                    max: 50,
                }
                .to_string(),
                "#g has 50 operators, the most it keeps",
            ),
            (
                ModError::RolesFull {
                    channel: "g".into(),
                    max: 50,
                }
                .to_string(),
                "#g has 50 operators and voiced users, the most it keeps",
            ),
            (ModError::from("as typed").to_string(), "as typed"),
            (
                JoinRefusal::Full {
                    channel: "g".into(),
                    limit: 2,
                }
                .to_string(),
                "#g is full (+l 2): wait until someone leaves, or ask an operator for an invitation",
            ),
            (
                JoinRefusal::NeedsKey("g".into()).to_string(),
                "#g needs a key (+k): /join #g KEY",
            ),
            (
                JoinRefusal::InviteOnly("g".into()).to_string(),
                "#g is invite-only (+i): ask an operator to /invite you",
            ),
            (
                JoinRefusal::RegisteredOnly("g".into()).to_string(),
                "#g is for registered users only (+r): connect with an ssh key or log in",
            ),
            (
                JoinRefusal::Banned {
                    channel: "g".into(),
                    reason: String::new(),
                }
                .to_string(),
                "you are banned from #g",
            ),
            (
                JoinRefusal::Banned {
                    channel: "g".into(),
                    reason: "spam".into(),
                }
                .to_string(),
                "you are banned from #g: spam",
            ),
            (
                JoinRefusal::from(LockdownRefusal::RegisteredBefore).to_string(),
                "the server is in lockdown: only users registered before it began (an account, or an ssh key that had claimed a nick) may speak now",
            ),
            (
                JoinError::from(JoinRefusal::from(LockdownRefusal::InvitedOnly)).to_string(),
                "the server is in lockdown: only invited users may speak now",
            ),
        ];
        for (shown, before) in texts {
            assert_eq!(shown, before);
        }
    }
}
