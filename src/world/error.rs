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
    /// Moderation keeps the user out (a ban, a channel mode, a lockdown), for the reason given.
    #[error("{0}")]
    Refused(String),
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
