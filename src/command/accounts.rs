//! The account commands that check or hash a password, or wait for the store: each is an
//! [`AccountJob`] that `apply` hands to the session, which runs it with
//! [`run_account_job`] in a task of its own. The world says what to check (`begin_*`), the
//! password pool hashes off the async workers and off the world's lock, the world takes the
//! verdict (`finish_*`), and the user is told once the store has committed the change.

use std::sync::Arc;

use crate::command::Secret;
use crate::password::{hash_password, verify_password};
use crate::world::{
    AUTHOR_ERROR, AUTHOR_INFO, AccountError, ClaimAnswer, SharedBucket, UserId, World,
};

/// An account command's slow part.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountJob {
    /// `/register`: hash the password, create the account for the user's nick.
    Register { password: Secret },
    /// `/login`: check the password of the account `name` (`None`: the user's nick).
    Login {
        name: Option<String>,
        password: Secret,
    },
    /// `/passwd`: check the old password, hash the new one.
    Passwd { old: Secret, new: Secret },
    /// `/key add`: attach the session's key, told once stored.
    KeyAdd,
    /// `/key del`: detach a key, told once stored.
    KeyDel(String),
}

impl AccountJob {
    /// Whether the job sends a password typed by the user (which the session warns about on
    /// an unencrypted connection).
    pub fn sends_password(&self) -> bool {
        matches!(
            self,
            AccountJob::Register { .. } | AccountJob::Login { .. } | AccountJob::Passwd { .. }
        )
    }
}

pub use crate::text::secret::carries_secret;

/// Runs an account job for `user` and tells them how it ended.
pub async fn run_account_job(job: AccountJob, world: Arc<World>, user: UserId) {
    let outcome = match job {
        AccountJob::Register { password } => register(&world, user, password).await,
        AccountJob::Login { name, password } => login(&world, user, name, password).await,
        AccountJob::Passwd { old, new } => passwd(&world, user, old, new).await,
        AccountJob::KeyAdd => attach_key(&world, user).await,
        AccountJob::KeyDel(prefix) => match world.delete_account_key(user, &prefix) {
            Ok((fingerprint, ticket)) => {
                stored(
                    &world,
                    ticket,
                    format!("the ssh key {fingerprint} no longer logs you in"),
                )
                .await
            }
            Err(problem) => Err(problem),
        },
    };
    match outcome {
        Ok(text) => world.tell(user, AUTHOR_INFO, &text),
        Err(problem) => world.tell(user, AUTHOR_ERROR, &problem.to_string()),
    }
}

/// `/key add`: in cluster mode the key is claimed for the account in the cluster's key
/// bucket first, so it belongs to one account on every node.
async fn attach_key(world: &World, user: UserId) -> Result<String, AccountError> {
    let (account, fingerprint) = world.key_to_attach(user)?;
    let claim = world
        .cluster_claim_as(SharedBucket::Keys, &fingerprint, Some(&account), false)
        .await;
    match claim {
        ClaimAnswer::Claimed => {}
        ClaimAnswer::Held(owner) => return Err(AccountError::KeyAttached(owner)),
        ClaimAnswer::Unreachable => return Err(AccountError::KeysUnavailable),
    }
    match world.add_account_key(user) {
        Ok((fingerprint, ticket)) => stored(
            world,
            ticket,
            format!(
                "the ssh key {fingerprint} now logs you in to your account when you connect with it"
            ),
        )
        .await,
        Err(problem) => {
            // Not attached after all (but one attached already stays this account's).
            if !matches!(problem, AccountError::KeyAttached(_)) {
                world.cluster_release_as(SharedBucket::Keys, &fingerprint, Some(&account));
            }
            Err(problem)
        }
    }
}

/// `text` once the write with `ticket` is committed; if that takes too long (the store is
/// failing), the user is told the change is not saved yet.
async fn stored(world: &World, ticket: u64, text: String) -> Result<String, AccountError> {
    if crate::history::wait_committed(world.store(), ticket).await {
        Ok(text)
    } else {
        Ok(format!(
            "{text}; but the server could not save this yet, and will keep trying: if it restarts before then, the change is lost"
        ))
    }
}

async fn register(world: &World, user: UserId, password: Secret) -> Result<String, AccountError> {
    let nick = world.begin_register(user)?;
    let phc = world.hasher().run(move || hash_password(&password.0)).await;
    // Cluster mode: the name is claimed in the cluster's account bucket first, so two nodes
    // never register it both; a node that knows the account as lapsed may take it over.
    let over_lapsed = world.account_lapsed(&nick);
    let refused = match world
        .cluster_claim(SharedBucket::Accounts, &nick, over_lapsed)
        .await
    {
        ClaimAnswer::Claimed => None,
        ClaimAnswer::Held(node) => Some(AccountError::RegisteredOnNode {
            name: nick.clone(),
            node,
        }),
        ClaimAnswer::Unreachable => Some(AccountError::ClusterUnavailable),
    };
    if let Some(refused) = refused {
        world.abandon_register(user);
        return Err(refused);
    }
    let ticket = match world.finish_register(user, &nick, phc) {
        Ok(ticket) => ticket,
        Err(problem) => {
            world.cluster_release(SharedBucket::Accounts, &nick);
            return Err(problem);
        }
    };
    let oper = if world.is_oper_account(&nick) {
        "; --oper names it, so you are a server operator"
    } else {
        ""
    };
    stored(
        world,
        ticket,
        format!(
            "\x02{nick}\x02 is your account now: nobody else can use this nick (or one that looks like it); on your next visit, /login {nick} PASSWORD{oper}"
        ),
    )
    .await
}

async fn login(
    world: &World,
    user: UserId,
    name: Option<String>,
    password: Secret,
) -> Result<String, AccountError> {
    let check = world.begin_password_check(user, name.as_deref(), false)?;
    let phc = check.phc().to_owned();
    let verdict = world
        .hasher()
        .run(move || verify_password(&password.0, &phc))
        .await;
    world.finish_login(user, &check, verdict)
}

async fn passwd(
    world: &World,
    user: UserId,
    old: Secret,
    new: Secret,
) -> Result<String, AccountError> {
    let check = world.begin_password_check(user, None, true)?;
    let phc = check.phc().to_owned();
    let outcome = world
        .hasher()
        .run(move || {
            if verify_password(&old.0, &phc)? {
                hash_password(&new.0).map(Some)
            } else {
                Ok(None)
            }
        })
        .await;
    let ticket = world.finish_passwd(user, &check, outcome)?;
    stored(world, ticket, "your password is changed".into()).await
}
