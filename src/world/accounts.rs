//! Accounts: nicks registered with a password (`/register`, `/login`, `/logout`, `/passwd`),
//! the ssh keys attached to them (`/key`), their lapse, their limits and the saved toggles
//! that follow their owner.
//!
//! The bookkeeping ([`Accounts`]) is kept in memory behind the world's lock, loaded from the
//! store at startup, so checking a nick against every account is a lookup in an index of
//! skeletons and costs no I/O. Passwords are never here: only their Argon2id PHC strings,
//! which the callers hash and check off the lock ([`crate::password`]); the world hands out
//! what to check (`begin_*`) and takes the verdict back (`finish_*`). Store writes are queued
//! through the store's writer and their tickets returned, so the owner is told of a change
//! only once it is committed.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::*;
use crate::address::AddressKey;
use crate::world::claims::fold;

/// How many accounts the server keeps at most; past that, `/register` says so.
pub const MAX_ACCOUNTS: usize = 100_000;
/// How many accounts may be registered from one address (an IPv6 /64) per UTC day.
pub const MAX_REGISTRATIONS_PER_ADDRESS_PER_DAY: u32 = 3;
/// How many ssh keys one account may have attached.
pub const MAX_KEYS_PER_ACCOUNT: usize = 8;
/// Failed logins (or `/passwd` checks) allowed per address, and per account, within
/// [`LOGIN_FAILURE_WINDOW`]; then further attempts are refused unchecked until it has passed.
pub const MAX_LOGIN_FAILURES: u32 = 5;
/// The window over which failed logins are counted.
pub const LOGIN_FAILURE_WINDOW: Duration = Duration::from_secs(600);
/// An account's `last_seen` is written at most this often (logins and departures in between
/// change only memory), so a user who reconnects in a loop costs no writes.
const SEEN_WRITE_INTERVAL_MICROS: i64 = 3_600 * 1_000_000;
/// The per-address failure table is trimmed of old entries when it grows past this.
const MAX_FAILURE_ENTRIES: usize = 10_000;

const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

/// An account as the world keeps it (and the store stores it).
pub use crate::store::StoredAccount as Account;
/// An ssh key attached to an account.
pub use crate::store::StoredAccountKey as AccountKey;

/// What the store must do after a change to the accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountWrite {
    /// Insert or replace this account.
    Put(Account),
    /// Forget this (folded) account and its keys: it lapsed.
    Delete(String),
    /// Attach a key.
    PutKey(AccountKey),
    /// Detach the key with this fingerprint.
    DeleteKey(String),
}

/// Why an account command was refused: the text is what the user reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("you are logged in as {0} already; /logout first")]
    AlreadyLoggedIn(String),
    #[error("you are not logged in; /login NICK PASSWORD first")]
    NotLoggedIn,
    #[error("{0} is registered already; if it is yours, /login {0} PASSWORD")]
    Registered(String),
    #[error(
        "your nick looks too much like the registered nick {0}; pick another with /nick, then /register"
    )]
    LooksLikeRegistered(String),
    #[error(
        "{0} belongs to another ssh key (or looks too much like a nick that does); pick another with /nick"
    )]
    ClaimedByKey(String),
    #[error("the server has {max} accounts, the most it keeps; no more can be registered")]
    TooManyAccounts { max: usize },
    #[error(
        "{max} accounts were registered from your address today, the most allowed; try again tomorrow (UTC)"
    )]
    TooManyFromAddress { max: u32 },
    #[error("wrong nick or password")]
    WrongPassword,
    #[error("wrong password")]
    WrongOldPassword,
    #[error("too many failed logins {who}; try again in {minutes} minutes")]
    TooManyFailures { who: &'static str, minutes: u64 },
    #[error("the server cannot save accounts right now; try again later")]
    StoreUnavailable,
    #[error("your nick changed while the password was being hashed; /register again")]
    NickChanged,
    #[error("/key add works from an ssh session that connected with a key")]
    NoKey,
    #[error("this ssh key is attached to {0} already")]
    KeyAttached(String),
    #[error("an account has at most {max} ssh keys; /key del one first")]
    TooManyKeys { max: usize },
    #[error("none of your keys starts with {0}; /key list shows them")]
    NoSuchKey(String),
    #[error("more than one of your keys starts with {0}; give more of it")]
    AmbiguousKey(String),
    #[error(transparent)]
    Hash(#[from] crate::password::HashError),
    /// Cluster mode: another node registered the name first.
    #[error(
        "{name} is registered already (on node {node}); if it is yours, /login {name} PASSWORD"
    )]
    RegisteredOnNode { name: String, node: String },
    /// Cluster mode: the other nodes cannot be asked whether the name is free.
    #[error("accounts cannot be registered now: the cluster cannot be reached")]
    ClusterUnavailable,
    /// Cluster mode: the other nodes cannot be asked whether the key is free.
    #[error("keys cannot be attached now: the cluster cannot be reached")]
    KeysUnavailable,
}

/// Who owns a nick, as far as accounts go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// This account's nick, as registered.
    Registered(String),
    /// A look-alike of this account's nick.
    LooksLike(String),
}

/// Counts failures per key within a window; a key with too many is refused until the window
/// since its first failure has passed. Pure: the caller gives the time.
#[derive(Debug)]
pub struct FailureLimiter<K> {
    entries: HashMap<K, (u32, Instant)>,
    max: u32,
    window: Duration,
}

impl<K: Hash + Eq + Clone> FailureLimiter<K> {
    /// At most `max` failures per `window`.
    pub fn new(max: u32, window: Duration) -> FailureLimiter<K> {
        FailureLimiter {
            entries: HashMap::new(),
            max,
            window,
        }
    }

    /// If `key` is refused at `now`, the minutes until it may try again.
    pub fn blocked(&mut self, key: &K, now: Instant) -> Option<u64> {
        let (count, since) = *self.entries.get(key)?;
        let elapsed = now.saturating_duration_since(since);
        if elapsed >= self.window {
            self.entries.remove(key);
            return None;
        }
        (count >= self.max).then(|| (self.window - elapsed).as_secs().div_ceil(60).max(1))
    }

    /// Counts one failure of `key` at `now`; returns the count. The table holds at most
    /// `limit` keys: when full, the ones whose window has passed are dropped first, then the
    /// oldest.
    pub fn charge(&mut self, key: &K, now: Instant, limit: usize) -> u32 {
        if self.entries.len() >= limit && !self.entries.contains_key(key) {
            let window = self.window;
            self.entries
                .retain(|_, (_, since)| now.saturating_duration_since(*since) < window);
            // Still full of fresh entries: the oldest goes, so the table never grows past
            // `limit` however many addresses fail at once.
            if self.entries.len() >= limit
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, since))| *since)
                    .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        let entry = self.entries.entry(key.clone()).or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
        entry.0
    }

    /// Takes back one failure charged ahead of a check that succeeded.
    pub fn refund(&mut self, key: &K) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.0 = entry.0.saturating_sub(1);
            if entry.0 == 0 {
                self.entries.remove(key);
            }
        }
    }

    /// Forgets the failures of `key`.
    pub fn clear(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// How many keys are counted.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is counted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Names by their skeleton ([`nick::skeleton`]), so finding a look-alike is one lookup.
#[derive(Debug, Default)]
pub struct SkeletonIndex {
    by_skeleton: HashMap<String, Vec<String>>,
}

impl SkeletonIndex {
    /// Adds a (folded) name.
    pub fn insert(&mut self, folded: &str) {
        let names = self.by_skeleton.entry(nick::skeleton(folded)).or_default();
        if !names.iter().any(|n| n == folded) {
            names.push(folded.to_owned());
        }
    }

    /// Removes a (folded) name.
    pub fn remove(&mut self, folded: &str) {
        let skeleton = nick::skeleton(folded);
        if let Some(names) = self.by_skeleton.get_mut(&skeleton) {
            names.retain(|n| n != folded);
            if names.is_empty() {
                self.by_skeleton.remove(&skeleton);
            }
        }
    }

    /// The names that look like `nick` (itself included, if present).
    pub fn look_alikes(&self, nick: &str) -> impl Iterator<Item = &str> {
        self.by_skeleton
            .get(&nick::skeleton(nick))
            .into_iter()
            .flatten()
            .map(String::as_str)
    }
}

/// The accounts, by name, by skeleton and by key, with their limits.
#[derive(Debug)]
pub struct Accounts {
    by_name: HashMap<String, Account>,
    skeletons: SkeletonIndex,
    /// Key fingerprint → the folded account it is attached to.
    by_key: HashMap<String, String>,
    /// Folded account → its keys (at most [`MAX_KEYS_PER_ACCOUNT`]).
    keys_of: HashMap<String, Vec<AccountKey>>,
    /// An account not used for longer than this has lapsed.
    max_absence_micros: i64,
    /// Registrations per address on one UTC day: (day number, count).
    registrations: HashMap<AddressKey, (i64, u32)>,
    address_failures: FailureLimiter<AddressKey>,
    account_failures: FailureLimiter<String>,
    /// Users made administrators by logging in to an operator's account (`--oper`), who stop
    /// being administrators when they log out.
    opers_online: HashSet<UserId>,
}

impl Default for Accounts {
    fn default() -> Accounts {
        Accounts::new(DEFAULT_CLAIM_DAYS)
    }
}

impl Accounts {
    /// No accounts; accounts lapse after `days` unused.
    pub fn new(days: u32) -> Accounts {
        Accounts {
            by_name: HashMap::new(),
            skeletons: SkeletonIndex::default(),
            by_key: HashMap::new(),
            keys_of: HashMap::new(),
            max_absence_micros: i64::from(days).saturating_mul(MICROS_PER_DAY),
            registrations: HashMap::new(),
            address_failures: FailureLimiter::new(MAX_LOGIN_FAILURES, LOGIN_FAILURE_WINDOW),
            account_failures: FailureLimiter::new(MAX_LOGIN_FAILURES, LOGIN_FAILURE_WINDOW),
            opers_online: HashSet::new(),
        }
    }

    /// Accounts and keys loaded from the store; those lapsed at `now` are left out, and the
    /// returned writes delete them from the store.
    pub fn load(
        days: u32,
        accounts: Vec<Account>,
        keys: Vec<AccountKey>,
        now: i64,
    ) -> (Accounts, Vec<AccountWrite>) {
        let mut loaded = Accounts::new(days);
        let mut writes = Vec::new();
        for account in accounts {
            if loaded.lapsed(&account, now) {
                writes.push(AccountWrite::Delete(account.folded));
            } else {
                loaded.insert(account);
            }
        }
        for key in keys {
            let held = loaded.keys_of.get(&key.account).map_or(0, Vec::len);
            if loaded.by_name.contains_key(&key.account) && held < MAX_KEYS_PER_ACCOUNT {
                loaded.attach(key);
            }
        }
        (loaded, writes)
    }

    /// How many accounts there are.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Whether `account` has lapsed at `now`: not used for longer than the lapse time.
    pub fn lapsed(&self, account: &Account, now: i64) -> bool {
        now.saturating_sub(account.last_seen) > self.max_absence_micros
    }

    /// The account kept under the folded name `folded`, lapsed or not.
    pub fn known(&self, folded: &str) -> Option<&Account> {
        self.by_name.get(folded)
    }

    /// The account named `name` (any case), if it is in force at `now`.
    pub fn get(&self, name: &str, now: i64) -> Option<&Account> {
        self.by_name
            .get(&fold(name))
            .filter(|account| !self.lapsed(account, now))
    }

    /// Whether `nick` belongs to an account other than `own` (a folded account name): its
    /// nick exactly, or a look-alike of it. Lapsed accounts count for nothing.
    pub fn reserved(&self, nick: &str, own: Option<&str>, now: i64) -> Option<Reserved> {
        let folded = fold(nick);
        let mut look_alike = None;
        for name in self.skeletons.look_alikes(nick) {
            if Some(name) == own {
                continue;
            }
            let Some(account) = self.by_name.get(name).filter(|a| !self.lapsed(a, now)) else {
                continue;
            };
            if *name == folded {
                return Some(Reserved::Registered(account.name.clone()));
            }
            look_alike.get_or_insert_with(|| account.name.clone());
        }
        look_alike.map(Reserved::LooksLike)
    }

    /// Adds a new account (after the checks); a lapsed one of the same name is replaced.
    pub fn create(&mut self, account: Account) -> Vec<AccountWrite> {
        let mut writes = Vec::new();
        if self.by_name.contains_key(&account.folded) {
            self.remove(&account.folded.clone());
            writes.push(AccountWrite::Delete(account.folded.clone()));
        }
        writes.push(AccountWrite::Put(account.clone()));
        self.insert(account);
        writes
    }

    fn insert(&mut self, account: Account) {
        self.skeletons.insert(&account.folded);
        self.by_name.insert(account.folded.clone(), account);
    }

    fn remove(&mut self, folded: &str) {
        self.by_name.remove(folded);
        self.skeletons.remove(folded);
        for key in self.keys_of.remove(folded).unwrap_or_default() {
            self.by_key.remove(&key.fingerprint);
        }
    }

    fn attach(&mut self, key: AccountKey) {
        self.by_key
            .insert(key.fingerprint.clone(), key.account.clone());
        self.keys_of
            .entry(key.account.clone())
            .or_default()
            .push(key);
    }

    /// The account used at `now` (a login, a departure): its `last_seen` moves on in memory,
    /// and is written at most every hour.
    pub fn seen(&mut self, folded: &str, now: i64) -> Option<AccountWrite> {
        let account = self.by_name.get_mut(folded)?;
        let written = account.last_seen;
        account.last_seen = account.last_seen.max(now);
        (now.saturating_sub(written) >= SEEN_WRITE_INTERVAL_MICROS)
            .then(|| AccountWrite::Put(account.clone()))
    }

    /// The owner's toggles changed: saved with the account when they differ.
    pub fn set_prefs(&mut self, folded: &str, prefs: String) -> Option<AccountWrite> {
        let account = self.by_name.get_mut(folded)?;
        if account.prefs.as_deref() == Some(prefs.as_str()) {
            return None;
        }
        account.prefs = Some(prefs);
        Some(AccountWrite::Put(account.clone()))
    }

    /// A new password's PHC string.
    pub fn set_phc(&mut self, folded: &str, phc: String) -> Option<AccountWrite> {
        let account = self.by_name.get_mut(folded)?;
        account.phc = phc;
        Some(AccountWrite::Put(account.clone()))
    }

    /// The account the key `fingerprint` is attached to, if it is in force at `now`.
    pub fn by_key(&self, fingerprint: &str, now: i64) -> Option<&Account> {
        self.by_key
            .get(fingerprint)
            .and_then(|folded| self.by_name.get(folded))
            .filter(|account| !self.lapsed(account, now))
    }

    /// The keys attached to an account.
    pub fn keys(&self, folded: &str) -> &[AccountKey] {
        self.keys_of.get(folded).map_or(&[], Vec::as_slice)
    }

    /// Attaches the key `fingerprint` to the account at `now`.
    pub fn add_key(
        &mut self,
        folded: &str,
        fingerprint: &str,
        now: i64,
    ) -> Result<AccountWrite, AccountError> {
        if let Some(owner) = self.by_key(fingerprint, now) {
            return Err(AccountError::KeyAttached(owner.name.clone()));
        }
        if self.keys(folded).len() >= MAX_KEYS_PER_ACCOUNT {
            return Err(AccountError::TooManyKeys {
                max: MAX_KEYS_PER_ACCOUNT,
            });
        }
        // A key attached to a lapsed account is taken over.
        if let Some(old) = self.by_key.remove(fingerprint)
            && let Some(keys) = self.keys_of.get_mut(&old)
        {
            keys.retain(|k| k.fingerprint != fingerprint);
        }
        let key = AccountKey {
            fingerprint: fingerprint.to_owned(),
            account: folded.to_owned(),
            added_at: now,
        };
        self.attach(key.clone());
        Ok(AccountWrite::PutKey(key))
    }

    /// Detaches the one key of the account whose fingerprint starts with `prefix`.
    pub fn delete_key(
        &mut self,
        folded: &str,
        prefix: &str,
    ) -> Result<(String, AccountWrite), AccountError> {
        let matching: Vec<String> = self
            .keys(folded)
            .iter()
            .filter(|k| k.fingerprint.starts_with(prefix))
            .map(|k| k.fingerprint.clone())
            .collect();
        let fingerprint = match matching.as_slice() {
            [one] => one.clone(),
            [] => return Err(AccountError::NoSuchKey(prefix.to_owned())),
            _ => return Err(AccountError::AmbiguousKey(prefix.to_owned())),
        };
        self.by_key.remove(&fingerprint);
        if let Some(keys) = self.keys_of.get_mut(folded) {
            keys.retain(|k| k.fingerprint != fingerprint);
        }
        Ok((fingerprint.clone(), AccountWrite::DeleteKey(fingerprint)))
    }

    /// Whether one more account may be registered from `address` on the UTC day of `now`
    /// and on the server; if so, it is counted (give it back with
    /// [`Accounts::uncount_registration`] if the registration does not happen).
    pub fn count_registration(
        &mut self,
        address: AddressKey,
        now: i64,
    ) -> Result<(), AccountError> {
        if self.by_name.len() >= MAX_ACCOUNTS {
            return Err(AccountError::TooManyAccounts { max: MAX_ACCOUNTS });
        }
        let day = now.div_euclid(MICROS_PER_DAY);
        // Yesterday's counts are of no use any more: the table holds today's addresses only.
        self.registrations.retain(|_, (d, _)| *d == day);
        let entry = self.registrations.entry(address).or_insert((day, 0));
        if entry.1 >= MAX_REGISTRATIONS_PER_ADDRESS_PER_DAY {
            return Err(AccountError::TooManyFromAddress {
                max: MAX_REGISTRATIONS_PER_ADDRESS_PER_DAY,
            });
        }
        entry.1 += 1;
        Ok(())
    }

    /// Gives back a registration counted by [`Accounts::count_registration`].
    pub fn uncount_registration(&mut self, address: AddressKey) {
        if let Some(entry) = self.registrations.get_mut(&address) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }

    /// Before a password check for `folded` from `address` at `now`: refused if either has
    /// had too many failures; otherwise a failure is charged to both ahead of the check
    /// (so checks running at once count too), given back by [`Accounts::check_passed`].
    pub fn charge_check(
        &mut self,
        address: AddressKey,
        folded: Option<&str>,
        now: Instant,
    ) -> Result<(), AccountError> {
        if let Some(minutes) = self.address_failures.blocked(&address, now) {
            return Err(AccountError::TooManyFailures {
                who: "from your address",
                minutes,
            });
        }
        if let Some(folded) = folded
            && let Some(minutes) = self.account_failures.blocked(&folded.to_owned(), now)
        {
            return Err(AccountError::TooManyFailures {
                who: "for this account",
                minutes,
            });
        }
        self.address_failures
            .charge(&address, now, MAX_FAILURE_ENTRIES);
        if let Some(folded) = folded {
            // Only existing accounts are counted, so this table is bounded by them.
            self.account_failures
                .charge(&folded.to_owned(), now, MAX_FAILURE_ENTRIES);
        }
        Ok(())
    }

    /// The password checked by [`Accounts::charge_check`] was right: the failure charged to
    /// the address is given back and the account's failures are forgotten.
    pub fn check_passed(&mut self, address: AddressKey, folded: &str) {
        self.address_failures.refund(&address);
        self.account_failures.clear(&folded.to_owned());
    }

    /// The check charged by [`Accounts::charge_check`] could not be done (the password pool
    /// was busy): neither the address nor the account is charged for it.
    pub fn check_not_done(&mut self, address: AddressKey, folded: &str) {
        self.address_failures.refund(&address);
        self.account_failures.refund(&folded.to_owned());
    }
}

/// The user's address and port as log lines name it (`peer`); empty for a user who left.
fn peer_text(state: &State, user: UserId) -> String {
    state
        .users
        .get(&user)
        .map(|u| u.peer.to_string())
        .unwrap_or_default()
}

/// The toggles an account saves, as text: `bell at_all hilight_log colored_nicks margins`.
pub fn prefs_to_text(prefs: &Prefs) -> String {
    let flag = |b: bool| if b { '1' } else { '0' };
    format!(
        "{} {} {} {} {}",
        prefs.bell.min(3),
        flag(prefs.at_all),
        flag(prefs.hilight_log),
        flag(prefs.colored_nicks),
        flag(prefs.margins)
    ) + &super::extra_prefs_to_text(prefs)
}

/// Reads [`prefs_to_text`]; `None` if it is not in that form.
pub fn prefs_from_text(text: &str) -> Option<Prefs> {
    let flag = |t: &str| match t {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    };
    let fields: Vec<&str> = text.split(' ').collect();
    let [
        bell,
        at_all,
        hilight_log,
        colored_nicks,
        margins,
        extra @ ..,
    ] = fields.as_slice()
    else {
        return None;
    };
    let (hide_joins, zone) = super::extra_prefs_from(extra)?;
    Some(Prefs {
        bell: bell.parse::<u8>().ok().filter(|b| *b <= 3)?,
        at_all: flag(at_all)?,
        hilight_log: flag(hilight_log)?,
        colored_nicks: flag(colored_nicks)?,
        margins: flag(margins)?,
        hide_joins,
        zone,
    })
}

/// What to check for a login or `/passwd`: the account and its PHC string, checked off the
/// lock, then handed back with the verdict.
#[derive(Debug, Clone)]
pub struct PasswordCheck {
    /// The account's folded name.
    pub folded: String,
    /// The account's PHC string; `None` when there is no such account (the check fails,
    /// after the same work, so a wrong nick and a wrong password look alike).
    pub phc: Option<String>,
    address: AddressKey,
}

/// The PHC string checked when there is no such account: a real hash, so the check takes
/// as long as a real one and its answer is always "wrong".
const NO_ACCOUNT_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$bm8gc3VjaCBhY2NvdW50$0nqvA0XbG8T1HrjmkuEg9bsxQyWtqCB2aBBn5gtLfdA";

impl PasswordCheck {
    /// The PHC string to check the typed password against.
    pub fn phc(&self) -> &str {
        self.phc.as_deref().unwrap_or(NO_ACCOUNT_PHC)
    }
}

impl World {
    /// Takes the accounts loaded from the store at startup; accounts lapse after `days`
    /// unused. Lapsed ones are deleted from the store.
    pub fn load_accounts(&self, days: u32, accounts: Vec<Account>, keys: Vec<AccountKey>) {
        let (accounts, writes) = Accounts::load(days, accounts, keys, now_micros());
        self.lock().accounts = accounts;
        for write in writes {
            self.write_account(write);
        }
    }

    /// The password pool (hashes and checks off the async workers).
    pub fn hasher(&self) -> &crate::password::Hasher {
        &self.hasher
    }

    /// The display name of the account `user` is logged in to, if any.
    pub fn account_of(&self, user: UserId) -> Option<String> {
        self.lock().users.get(&user).and_then(|u| u.account.clone())
    }

    /// Hands an account change to the store's writer queue; returns its ticket.
    pub(super) fn write_account(&self, write: AccountWrite) -> u64 {
        match write {
            AccountWrite::Put(account) => self.store.put_account(account),
            AccountWrite::Delete(folded) => self.store.delete_account(&folded),
            AccountWrite::PutKey(key) => self.store.put_account_key(key),
            AccountWrite::DeleteKey(fingerprint) => self.store.delete_account_key(&fingerprint),
        }
    }

    fn write_accounts(&self, writes: Vec<AccountWrite>) -> u64 {
        writes
            .into_iter()
            .map(|w| self.write_account(w))
            .max()
            .unwrap_or(TICKET_NOT_STORED)
    }

    /// `/register`, before hashing: whether the user may register their nick now. Counts
    /// the registration against the address's daily limit; returns the nick.
    pub fn begin_register(&self, user: UserId) -> Result<String, AccountError> {
        let mut state = self.lock();
        let (nick, address) = self.may_register(&state, user)?;
        state
            .accounts
            .count_registration(AddressKey::of(address), now_micros())?;
        Ok(nick)
    }

    /// `/register` given up after [`World::begin_register`] (the cluster refused the
    /// name): the registration no longer counts against the address.
    pub fn abandon_register(&self, user: UserId) {
        let mut state = self.lock();
        if let Some(address) = state.users.get(&user).map(|u| u.address) {
            state.accounts.uncount_registration(AddressKey::of(address));
        }
    }

    /// Whether this node knows an account named `name` that has lapsed: in cluster mode its
    /// claim may be taken over by a new registration.
    pub fn account_lapsed(&self, name: &str) -> bool {
        let state = self.lock();
        let now = now_micros();
        state
            .accounts
            .known(&fold(name))
            .is_some_and(|account| state.accounts.lapsed(account, now))
    }

    fn may_register(
        &self,
        state: &State,
        user: UserId,
    ) -> Result<(String, std::net::IpAddr), AccountError> {
        if self.store.health() != Health::Healthy {
            return Err(AccountError::StoreUnavailable);
        }
        let u = state.users.get(&user).ok_or(AccountError::NotLoggedIn)?;
        if let Some(account) = &u.account {
            return Err(AccountError::AlreadyLoggedIn(account.clone()));
        }
        let now = now_micros();
        match state.accounts.reserved(&u.nick, None, now) {
            Some(Reserved::Registered(name)) => return Err(AccountError::Registered(name)),
            Some(Reserved::LooksLike(name)) => {
                return Err(AccountError::LooksLikeRegistered(name));
            }
            None => {}
        }
        if state.claims.check(&u.nick, u.identity.as_deref(), now) == ClaimCheck::Other
            || state
                .claims
                .look_alike(&u.nick, u.identity.as_deref(), now)
                .is_some()
        {
            return Err(AccountError::ClaimedByKey(u.nick.clone()));
        }
        Ok((u.nick.clone(), u.address))
    }

    /// `/register`, once hashed: the account is created for `nick` (if the user still has
    /// it and nobody registered it meanwhile) and the user is logged in to it. Returns the
    /// ticket of the store write, after which the user may be told.
    pub fn finish_register(
        &self,
        user: UserId,
        nick: &str,
        phc: Result<String, crate::password::HashError>,
    ) -> Result<u64, AccountError> {
        let mut state = self.lock();
        let checked = self
            .may_register(&state, user)
            .and_then(|(current, address)| {
                if current == nick {
                    Ok(address)
                } else {
                    Err(AccountError::NickChanged)
                }
            });
        let (address, phc) = match (checked, phc) {
            (Ok(address), Ok(phc)) => (address, phc),
            (checked, phc) => {
                if let Some(address) = state.users.get(&user).map(|u| u.address) {
                    state.accounts.uncount_registration(AddressKey::of(address));
                }
                return Err(checked
                    .err()
                    .or(phc.err().map(AccountError::from))
                    .unwrap_or(AccountError::StoreUnavailable));
            }
        };
        let now = now_micros();
        let account = Account {
            folded: fold(nick),
            name: nick.to_owned(),
            phc,
            created_at: now,
            last_seen: now,
            prefs: state.users.get(&user).map(|u| prefs_to_text(&u.prefs)),
        };
        self.cluster_account(&account);
        let writes = state.accounts.create(account);
        let ticket = self.write_accounts(writes);
        let peer = peer_text(&state, user);
        if let Some(u) = state.users.get_mut(&user) {
            u.account = Some(nick.to_owned());
        }
        Self::member_changed(&mut state, user);
        self.grant_oper(&mut state, user, &fold(nick));
        tracing::info!(%peer, %address, nick, "account registered");
        crate::metrics::account_event("registered");
        Ok(ticket)
    }

    /// `/login` (or `/passwd`'s check of the old password), before checking: refused while
    /// the address or the account has had too many failures; otherwise what to check.
    /// `name` `None` means the account of the user's nick (or, for `/passwd`, the account
    /// they are logged in to).
    pub fn begin_password_check(
        &self,
        user: UserId,
        name: Option<&str>,
        for_passwd: bool,
    ) -> Result<PasswordCheck, AccountError> {
        let mut state = self.lock();
        let u = state.users.get(&user).ok_or(AccountError::NotLoggedIn)?;
        let name = match (for_passwd, &u.account, name) {
            (true, Some(account), _) => account.clone(),
            (true, None, _) => return Err(AccountError::NotLoggedIn),
            (false, Some(account), _) => {
                return Err(AccountError::AlreadyLoggedIn(account.clone()));
            }
            (false, None, Some(name)) => name.to_owned(),
            (false, None, None) => u.nick.clone(),
        };
        let (address, peer, nick) = (AddressKey::of(u.address), u.peer, u.nick.clone());
        let now = now_micros();
        let phc = state.accounts.get(&name, now).map(|a| a.phc.clone());
        let folded = fold(&name);
        let counted = phc.is_some().then_some(folded.as_str());
        if let Err(refused) = state
            .accounts
            .charge_check(address, counted, Instant::now())
        {
            tracing::warn!(%peer, nick, account = name, "login refused: too many failures");
            crate::metrics::account_event("login_refused");
            return Err(refused);
        }
        Ok(PasswordCheck {
            folded,
            phc,
            address,
        })
    }

    /// `/login`, once checked: a wrong password is logged (with the address, never the
    /// password) and stays counted; a right one logs the user in ([`World::log_in`]).
    /// Returns what the user is told.
    pub fn finish_login(
        &self,
        user: UserId,
        check: &PasswordCheck,
        verdict: Result<bool, crate::password::HashError>,
    ) -> Result<String, AccountError> {
        let mut state = self.lock();
        let peer = peer_text(&state, user);
        match verdict {
            Ok(true) if check.phc.is_some() => {
                state.accounts.check_passed(check.address, &check.folded);
                tracing::info!(%peer, account = check.folded, "login ok");
                crate::metrics::account_event("login");
                Ok(self.log_in(&mut state, user, &check.folded))
            }
            Ok(_) => {
                tracing::warn!(
                    %peer,
                    account = check.folded,
                    "login failed: wrong nick or password"
                );
                crate::metrics::account_event("login_failed");
                Err(AccountError::WrongPassword)
            }
            Err(error) => {
                state.accounts.check_not_done(check.address, &check.folded);
                Err(error.into())
            }
        }
    }

    /// `/passwd`, once the old password was checked and the new one hashed (`Some` new PHC
    /// string; `None`: the old password was wrong): the new hash replaces the old. Returns
    /// the ticket of the store write.
    pub fn finish_passwd(
        &self,
        user: UserId,
        check: &PasswordCheck,
        outcome: Result<Option<String>, crate::password::HashError>,
    ) -> Result<u64, AccountError> {
        let mut state = self.lock();
        let peer = peer_text(&state, user);
        let new_phc = match outcome {
            Ok(Some(new_phc)) => {
                state.accounts.check_passed(check.address, &check.folded);
                new_phc
            }
            Ok(None) => {
                tracing::warn!(
                    %peer,
                    account = check.folded,
                    "passwd failed: wrong password"
                );
                crate::metrics::account_event("login_failed");
                return Err(AccountError::WrongOldPassword);
            }
            Err(error) => {
                state.accounts.check_not_done(check.address, &check.folded);
                return Err(error.into());
            }
        };
        if self.store.health() != Health::Healthy {
            return Err(AccountError::StoreUnavailable);
        }
        let write = state
            .accounts
            .set_phc(&check.folded, new_phc)
            .ok_or(AccountError::NotLoggedIn)?;
        if let AccountWrite::Put(account) = &write {
            self.cluster_account(account);
        }
        tracing::info!(%peer, account = check.folded, "password changed");
        crate::metrics::account_event("password_changed");
        Ok(self.write_account(write))
    }

    /// Logs `user` in to the account `folded` (its password or key checked): they get its
    /// nick (a guest who has it is renamed and told why), its saved toggles, and operator
    /// rights if it is named by `--oper`. Returns what the user is told.
    fn log_in(&self, state: &mut State, user: UserId, folded: &str) -> String {
        let told = self.log_in_unchecked(state, user, folded);
        // The account is a principal of its own: its stored ignores apply now, and a server
        // ban on it puts the user out.
        self.moderation_on_login(state, user);
        // Direct messages left for the account while its owner was away, and the channels
        // it had open.
        self.welcome_back(state, user);
        told
    }

    fn log_in_unchecked(&self, state: &mut State, user: UserId, folded: &str) -> String {
        let now = now_micros();
        let Some(account) = state.accounts.get(folded, now).cloned() else {
            return "that account is gone".into();
        };
        if let Some(write) = state.accounts.seen(folded, now) {
            self.write_account(write);
        }
        let Some(u) = state.users.get_mut(&user) else {
            return String::new();
        };
        u.account = Some(account.name.clone());
        Self::member_changed(state, user);
        let Some(u) = state.users.get_mut(&user) else {
            return String::new();
        };
        match account.prefs.as_deref().and_then(prefs_from_text) {
            Some(prefs) => u.prefs = prefs,
            None => {
                let text = prefs_to_text(&u.prefs);
                if let Some(write) = state.accounts.set_prefs(folded, text) {
                    self.write_account(write);
                }
            }
        }
        if let Some(u) = state.users.get_mut(&user) {
            u.needs_redraw = true;
        }
        let oper = self.grant_oper(state, user, folded);
        let mut told = format!("you are logged in as \x02{}\x02", account.name);
        if oper {
            told.push_str("; you are a server operator");
        }
        let current = state.users.get(&user).map(|u| u.nick.clone());
        if current.as_deref().map(fold).as_deref() == Some(folded) {
            if current.as_deref() != Some(account.name.as_str()) {
                let _ = self.change_nick_locked(state, user, &account.name);
            }
            return told;
        }
        if let Some(&holder) = state.nicks.get(folded) {
            let holder_account = state.users.get(&holder).and_then(|h| h.account.clone());
            if holder_account.as_deref().map(fold).as_deref() == Some(folded) {
                told.push_str(&format!(
                    "; your other connection has the nick {}",
                    account.name
                ));
                return told;
            }
            let why = format!(
                "{} is a registered nick and its owner logged in",
                account.name
            );
            self.rename_with_suffix(state, holder, &account.name, &why);
        }
        if let Err(problem) = self.change_nick_locked(state, user, &account.name) {
            told.push_str(&format!("; you keep your nick ({problem})"));
        }
        told
    }

    /// Whether the account `name` is named by `--oper`.
    pub fn is_oper_account(&self, name: &str) -> bool {
        let folded = fold(name);
        self.settings.opers.iter().any(|o| fold(o) == folded)
    }

    /// Makes `user` an administrator if the account `folded` is named by `--oper`; returns
    /// whether it is.
    fn grant_oper(&self, state: &mut State, user: UserId, folded: &str) -> bool {
        if !self.is_oper_account(folded) {
            return false;
        }
        let Some(u) = state.users.get_mut(&user) else {
            return false;
        };
        if !u.admin {
            u.admin = true;
            state.accounts.opers_online.insert(user);
        }
        tracing::info!(peer = %u.peer, account = folded, "operator logged in");
        true
    }

    /// Gives `user` the first of `nick2`..`nick9` that they may take (else an automatic
    /// nick) and tells them `why`.
    pub(super) fn rename_with_suffix(
        &self,
        state: &mut State,
        user: UserId,
        nick: &str,
        why: &str,
    ) {
        for n in 2..=9u32 {
            let suffix = n.to_string();
            let keep = nick::MAX_NICK_CHARS.saturating_sub(suffix.len());
            let candidate: String = nick.chars().take(keep).chain(suffix.chars()).collect();
            if self.change_nick_locked(state, user, &candidate).is_ok() {
                self.tell_locked(
                    state,
                    user,
                    AUTHOR_INFO,
                    &format!("{why}; you are now {candidate}"),
                );
                return;
            }
        }
        let automatic = self.automatic_nick(state, user, |_| false);
        if let Some(automatic) = automatic
            && self.change_nick_locked(state, user, &automatic).is_ok()
        {
            self.tell_locked(
                state,
                user,
                AUTHOR_INFO,
                &format!("{why}; you are now {automatic}"),
            );
        }
    }

    /// On entry: if `nick` (the nick the client asked for or had saved) is a registered
    /// nick `user` is not logged in to, they get a numbered variant and are told why.
    /// Returns whether it was.
    pub fn keep_off_registered(&self, user: UserId, nick: &str) -> bool {
        let mut state = self.lock();
        let own = state
            .users
            .get(&user)
            .and_then(|u| u.account.as_deref().map(fold));
        let Some(Reserved::Registered(name)) =
            state.accounts.reserved(nick, own.as_deref(), now_micros())
        else {
            return false;
        };
        let why = format!("{name} is a registered nick; /login {name} PASSWORD if it is yours");
        self.rename_with_suffix(&mut state, user, &name, &why);
        true
    }

    /// On an ssh connection: logs `user` in to the account their key is attached to, if
    /// any. Returns whether it did.
    pub fn log_in_by_key(&self, user: UserId) -> bool {
        let mut state = self.lock();
        let Some(fingerprint) = state.users.get(&user).and_then(|u| u.identity.clone()) else {
            return false;
        };
        let Some(folded) = state
            .accounts
            .by_key(&fingerprint, now_micros())
            .map(|a| a.folded.clone())
        else {
            return false;
        };
        let peer = peer_text(&state, user);
        tracing::info!(%peer, account = folded, "login by ssh key");
        crate::metrics::account_event("login_by_key");
        let told = self.log_in(&mut state, user, &folded);
        self.tell_locked(
            &mut state,
            user,
            AUTHOR_INFO,
            &format!("{told} (by your ssh key)"),
        );
        true
    }

    /// `/logout`: the user leaves their account; they keep no registered nick (a numbered
    /// variant is given) and no operator rights the account gave. They are told.
    pub fn logout(&self, user: UserId) -> Result<(), AccountError> {
        let mut state = self.lock();
        let u = state
            .users
            .get_mut(&user)
            .ok_or(AccountError::NotLoggedIn)?;
        let account = u.account.take().ok_or(AccountError::NotLoggedIn)?;
        let peer = u.peer;
        let folded = fold(&account);
        Self::member_changed(&mut state, user);
        self.account_left(&mut state, user, &folded);
        tracing::info!(%peer, account = folded, "logout");
        let nick = state
            .users
            .get(&user)
            .map(|u| u.nick.clone())
            .unwrap_or_default();
        if state.accounts.reserved(&nick, None, now_micros()).is_some() {
            let why = format!("you logged out of {account}, a registered nick");
            self.rename_with_suffix(&mut state, user, &account, &why);
        } else {
            let told = format!("you are logged out of {account}");
            self.tell_locked(&mut state, user, AUTHOR_INFO, &told);
        }
        Ok(())
    }

    /// The user leaves the account `folded` (logout or disconnect): last seen, and the
    /// operator rights it gave.
    pub(super) fn account_left(&self, state: &mut State, user: UserId, folded: &str) {
        if let Some(write) = state.accounts.seen(folded, now_micros()) {
            self.write_account(write);
        }
        if state.accounts.opers_online.remove(&user)
            && let Some(u) = state.users.get_mut(&user)
        {
            u.admin = false;
        }
    }

    /// The user's toggles changed: saved with their account, if they are logged in.
    pub(super) fn save_account_prefs(&self, state: &mut State, user: UserId) {
        let Some((account, prefs)) = state
            .users
            .get(&user)
            .and_then(|u| Some((fold(u.account.as_deref()?), prefs_to_text(&u.prefs))))
        else {
            return;
        };
        if let Some(write) = state.accounts.set_prefs(&account, prefs) {
            self.write_account(write);
        }
    }

    /// `/key add`: attaches the ssh key of this session to the account. Returns the
    /// fingerprint and the ticket of the store write.
    /// `/key add`, first step: the user's (folded) account and the fingerprint of the key
    /// they connected with, which cluster mode claims before [`World::add_account_key`].
    pub fn key_to_attach(&self, user: UserId) -> Result<(String, String), AccountError> {
        let state = self.lock();
        let u = state.users.get(&user).ok_or(AccountError::NotLoggedIn)?;
        let account = fold(u.account.as_deref().ok_or(AccountError::NotLoggedIn)?);
        let fingerprint = u.identity.clone().ok_or(AccountError::NoKey)?;
        Ok((account, fingerprint))
    }

    pub fn add_account_key(&self, user: UserId) -> Result<(String, u64), AccountError> {
        let mut state = self.lock();
        let u = state.users.get(&user).ok_or(AccountError::NotLoggedIn)?;
        let account = fold(u.account.as_deref().ok_or(AccountError::NotLoggedIn)?);
        let fingerprint = u.identity.clone().ok_or(AccountError::NoKey)?;
        let peer = u.peer;
        if self.store.health() != Health::Healthy {
            return Err(AccountError::StoreUnavailable);
        }
        let write = state
            .accounts
            .add_key(&account, &fingerprint, now_micros())?;
        tracing::info!(%peer, account, fingerprint, "ssh key attached");
        // Cluster mode: every node attaches it too, so it logs its owner in anywhere.
        if let AccountWrite::PutKey(key) = &write {
            self.cluster_note(ClusterEvent::AccountKey {
                account: account.clone(),
                fingerprint: fingerprint.clone(),
                added_at: key.added_at,
                on: true,
            });
        }
        // The key's read markers become the account's: its next connection is the
        // account's. (Its stored conversations stay under the key: see `markers.rs`.)
        if let (Some(from), Some(into)) = (
            sanction::principal(None, Some(&fingerprint)),
            sanction::principal(Some(&account), None),
        ) {
            for marker in state.markers.merge(&from, &into) {
                self.store.marker(marker);
            }
        }
        Ok((fingerprint, self.write_account(write)))
    }

    /// `/key list`: the keys attached to the user's account, with when each was attached.
    pub fn account_keys(&self, user: UserId) -> Result<Vec<(String, i64)>, AccountError> {
        let state = self.lock();
        let account = state
            .users
            .get(&user)
            .and_then(|u| u.account.as_deref().map(fold))
            .ok_or(AccountError::NotLoggedIn)?;
        Ok(state
            .accounts
            .keys(&account)
            .iter()
            .map(|k| (k.fingerprint.clone(), k.added_at))
            .collect())
    }

    /// `/key del`: detaches the user's key that starts with `prefix`. Returns its
    /// fingerprint and the ticket of the store write.
    pub fn delete_account_key(
        &self,
        user: UserId,
        prefix: &str,
    ) -> Result<(String, u64), AccountError> {
        let mut state = self.lock();
        let account = state
            .users
            .get(&user)
            .and_then(|u| u.account.as_deref().map(fold))
            .ok_or(AccountError::NotLoggedIn)?;
        if self.store.health() != Health::Healthy {
            return Err(AccountError::StoreUnavailable);
        }
        let (fingerprint, write) = state.accounts.delete_key(&account, prefix)?;
        // Cluster mode: detached on every node, and the key free for any account again.
        self.cluster_note(ClusterEvent::AccountKey {
            account: account.clone(),
            fingerprint: fingerprint.clone(),
            added_at: 0,
            on: false,
        });
        self.cluster_release_as(SharedBucket::Keys, &fingerprint, Some(&account));
        Ok((fingerprint, self.write_account(write)))
    }

    /// `/whois`: whether `nick` is a registered nick, and whether its owner is logged in.
    pub(super) fn whois_account(state: &State, nick: &str) -> String {
        let Some(account) = state.accounts.get(nick, now_micros()) else {
            return "it is not a registered nick".into();
        };
        let online = state
            .nicks
            .get(&fold(nick))
            .and_then(|id| state.users.get(id))
            .is_some_and(|u| u.account.as_deref().map(fold).as_deref() == Some(&account.folded));
        if online {
            format!(
                "{} is a registered nick, and its owner is logged in",
                account.name
            )
        } else {
            format!("{} is a registered nick", account.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = MICROS_PER_DAY;

    fn account(name: &str, last_seen: i64) -> Account {
        Account {
            folded: fold(name),
            name: name.to_owned(),
            phc: "phc".into(),
            created_at: 0,
            last_seen,
            prefs: None,
        }
    }

    #[test]
    fn a_registered_nick_and_its_look_alikes_are_reserved_for_its_owner() {
        let mut accounts = Accounts::new(30);
        accounts.create(account("Paul", 0));
        assert_eq!(
            accounts.reserved("paul", None, DAY),
            Some(Reserved::Registered("Paul".into()))
        );
        for look_alike in ["pau1", "PAUL", "pauI", "p\u{430}ul", "\u{440}\u{430}ul"] {
            assert!(
                accounts.reserved(look_alike, None, DAY).is_some(),
                "{look_alike}"
            );
        }
        assert_eq!(
            accounts.reserved("pau1", None, DAY),
            Some(Reserved::LooksLike("Paul".into()))
        );
        assert_eq!(accounts.reserved("paula", None, DAY), None);
        // The owner may use them.
        assert_eq!(accounts.reserved("pau1", Some("paul"), DAY), None);
    }

    #[test]
    fn an_unused_account_lapses_and_can_be_registered_anew() {
        let mut accounts = Accounts::new(10);
        accounts.create(account("alice", 0));
        assert!(accounts.get("alice", 10 * DAY).is_some());
        assert!(accounts.get("alice", 10 * DAY + 1).is_none());
        assert_eq!(accounts.reserved("alice", None, 10 * DAY + 1), None);
        // Being seen keeps it in force, but writes at most hourly.
        assert!(accounts.seen("alice", 5 * DAY).is_some());
        assert!(accounts.seen("alice", 5 * DAY + 1).is_none());
        assert!(accounts.get("alice", 10 * DAY + 1).is_some());
        let writes = accounts.create(account("Alice", 20 * DAY));
        assert_eq!(writes.len(), 2, "the lapsed account is deleted first");
        assert_eq!(accounts.len(), 1);
        // Loading leaves lapsed accounts out and deletes them.
        let (loaded, writes) = Accounts::load(10, vec![account("old", 0)], vec![], 11 * DAY);
        assert!(loaded.is_empty());
        assert_eq!(writes, vec![AccountWrite::Delete("old".into())]);
    }

    #[test]
    fn failures_are_limited_per_address_and_per_account() {
        let mut accounts = Accounts::new(30);
        accounts.create(account("alice", 0));
        let start = Instant::now();
        let one = AddressKey::of("192.0.2.1".parse().expect("address"));
        let two = AddressKey::of("192.0.2.2".parse().expect("address"));
        for _ in 0..MAX_LOGIN_FAILURES {
            assert_eq!(accounts.charge_check(one, None, start), Ok(()));
        }
        assert!(matches!(
            accounts.charge_check(one, None, start),
            Err(AccountError::TooManyFailures {
                who: "from your address",
                minutes: 10
            })
        ));
        // Another address may still try, until the account has had its fill.
        for _ in 0..MAX_LOGIN_FAILURES {
            assert_eq!(accounts.charge_check(two, Some("alice"), start), Ok(()));
            accounts.address_failures.refund(&two);
        }
        assert!(matches!(
            accounts.charge_check(two, Some("alice"), start),
            Err(AccountError::TooManyFailures {
                who: "for this account",
                ..
            })
        ));
        // After the window, both may try again.
        let later = start + LOGIN_FAILURE_WINDOW;
        assert_eq!(accounts.charge_check(one, Some("alice"), later), Ok(()));
        // A right password gives back what it was charged.
        accounts.check_passed(one, "alice");
        assert!(accounts.account_failures.is_empty());
    }

    #[test]
    fn the_failure_table_never_grows_past_its_limit() {
        let mut limiter = FailureLimiter::new(5, LOGIN_FAILURE_WINDOW);
        let start = Instant::now();
        for i in 0..1000u32 {
            limiter.charge(&i, start + Duration::from_millis(u64::from(i)), 100);
        }
        assert_eq!(limiter.len(), 100);
        // The newest are kept.
        assert_eq!(limiter.charge(&999, start + Duration::from_secs(2), 100), 2);
    }

    #[test]
    fn registrations_are_limited_per_address_per_day() {
        let mut accounts = Accounts::new(30);
        let one = AddressKey::of("192.0.2.1".parse().expect("address"));
        for _ in 0..MAX_REGISTRATIONS_PER_ADDRESS_PER_DAY {
            assert_eq!(accounts.count_registration(one, DAY), Ok(()));
        }
        assert!(matches!(
            accounts.count_registration(one, DAY + 1),
            Err(AccountError::TooManyFromAddress { .. })
        ));
        accounts.uncount_registration(one);
        assert_eq!(accounts.count_registration(one, DAY + 2), Ok(()));
        assert_eq!(accounts.count_registration(one, 2 * DAY), Ok(()));
    }

    #[test]
    fn keys_are_capped_and_deleted_by_prefix() {
        let mut accounts = Accounts::new(30);
        accounts.create(account("alice", 0));
        accounts.create(account("bob", 0));
        for i in 0..MAX_KEYS_PER_ACCOUNT {
            assert!(
                accounts
                    .add_key("alice", &format!("SHA256:k{i}"), 1)
                    .is_ok()
            );
        }
        assert!(matches!(
            accounts.add_key("alice", "SHA256:more", 1),
            Err(AccountError::TooManyKeys { .. })
        ));
        assert!(matches!(
            accounts.add_key("bob", "SHA256:k0", 1),
            Err(AccountError::KeyAttached(name)) if name == "alice"
        ));
        assert_eq!(
            accounts.by_key("SHA256:k3", 1).map(|a| a.name.as_str()),
            Some("alice")
        );
        assert!(matches!(
            accounts.delete_key("alice", "SHA256:k"),
            Err(AccountError::AmbiguousKey(_))
        ));
        assert!(matches!(
            accounts.delete_key("alice", "SHA256:x"),
            Err(AccountError::NoSuchKey(_))
        ));
        assert!(accounts.delete_key("alice", "SHA256:k3").is_ok());
        assert!(accounts.by_key("SHA256:k3", 1).is_none());
        assert!(accounts.add_key("bob", "SHA256:k3", 1).is_ok());
    }

    #[test]
    fn prefs_round_trip() {
        let prefs = Prefs {
            bell: 3,
            at_all: false,
            hilight_log: true,
            colored_nicks: true,
            margins: false,
            hide_joins: false,
            zone: None,
        };
        assert_eq!(prefs_from_text(&prefs_to_text(&prefs)), Some(prefs));
        assert_eq!(prefs_from_text("9 1 1 1 1"), None);
        assert_eq!(prefs_from_text("1 1 1"), None);
    }

    #[test]
    fn the_stand_in_hash_for_a_missing_account_is_a_real_one() {
        assert_eq!(
            crate::password::verify_password("anything", NO_ACCOUNT_PHC),
            Ok(false)
        );
    }
}
