//! `/ignore` that follows the person: an entry remembers who was ignored (the connected user
//! and, for a registered one, the principal) and every nick they used while ignored, so a
//! `/nick` does not get them out of it. The world keeps reverse indexes (target → ignorers,
//! key → ignorers), so a nick change, a connect or a disconnect touches only the entries it
//! concerns, never a scan of all users.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::store::ModWrite;

/// Nicks one ignore entry remembers: the oldest is let go when a renamed person passes this
/// many (their lines under that nick show again).
pub const MAX_NICKS_PER_IGNORE: usize = 8;

/// One person a user ignores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IgnoreEntry {
    /// How the entry is found and persisted: the target's principal (`key:SHA256:...`,
    /// `account:NAME`) if registered, else their folded nick.
    key: String,
    /// The row in the store (`key`, or for a principal `key NICK` with the nick it had then),
    /// kept so `/unignore` removes exactly that row.
    stored: String,
    /// The connected user this entry follows now, if any.
    user: Option<UserId>,
    /// Folded nicks the person used while ignored, oldest first.
    nicks: Vec<String>,
}

impl IgnoreEntry {
    /// An entry as read back from the store.
    fn from_stored(stored: &str) -> IgnoreEntry {
        let (key, nick) = stored.split_once(' ').unwrap_or((stored, stored));
        // A plain nick is its own key; a principal row may name the nick it had then.
        let nicks = if is_principal(key) && key == nick {
            Vec::new()
        } else {
            vec![nick.to_lowercase()]
        };
        IgnoreEntry {
            key: key.to_owned(),
            stored: stored.to_owned(),
            user: None,
            nicks,
        }
    }

    fn is_principal(&self) -> bool {
        is_principal(&self.key)
    }

    /// Adds a nick the person now uses; the oldest goes beyond [`MAX_NICKS_PER_IGNORE`].
    fn add_nick(&mut self, folded: &str) {
        if self.nicks.iter().any(|n| n == folded) {
            return;
        }
        if self.nicks.len() >= MAX_NICKS_PER_IGNORE {
            self.nicks.remove(0);
        }
        self.nicks.push(folded.to_owned());
    }
}

/// The people one user ignores (at most [`super::moderation::MAX_IGNORES`]).
#[derive(Debug, Default)]
pub(super) struct Ignores {
    entries: Vec<IgnoreEntry>,
    /// Every nick of every entry, so filtering a line is one lookup; rebuilt (at most 64 × 8
    /// nicks) whenever an entry changes.
    hidden: HashSet<String>,
}

impl Ignores {
    fn new(entries: Vec<IgnoreEntry>) -> Ignores {
        let mut ignores = Ignores {
            entries,
            hidden: HashSet::new(),
        };
        ignores.refresh();
        ignores
    }

    fn refresh(&mut self) {
        self.hidden = self
            .entries
            .iter()
            .flat_map(|e| e.nicks.iter().cloned())
            .collect();
    }

    fn push(&mut self, entry: IgnoreEntry) {
        self.entries.push(entry);
        self.refresh();
    }

    fn remove(&mut self, index: usize) -> Option<IgnoreEntry> {
        if index >= self.entries.len() {
            return None;
        }
        let entry = self.entries.remove(index);
        self.refresh();
        Some(entry)
    }

    /// Entry `index` now follows `target`, who goes by the folded nick `nick`.
    fn bind(&mut self, index: usize, target: UserId, nick: &str) -> bool {
        let Some(entry) = self.entries.get_mut(index) else {
            return false;
        };
        entry.user = Some(target);
        entry.add_nick(nick);
        self.refresh();
        true
    }

    /// The person entry `index` names took the folded nick `nick` (an offline nick entry).
    fn add_nick(&mut self, index: usize, nick: &str) {
        if let Some(entry) = self.entries.get_mut(index) {
            entry.add_nick(nick);
            self.refresh();
        }
    }

    /// `target`, followed by one entry or more (a nick entry and a key entry may both have
    /// found them), now goes by the folded nick `nick`.
    fn renamed(&mut self, target: UserId, nick: &str) -> bool {
        let mut found = false;
        for entry in self.entries.iter_mut().filter(|e| e.user == Some(target)) {
            entry.add_nick(nick);
            found = true;
        }
        if found {
            self.refresh();
        }
        found
    }

    /// `target` left: entries keep their nicks and follow nobody.
    fn left(&mut self, target: UserId) {
        for entry in &mut self.entries {
            if entry.user == Some(target) {
                entry.user = None;
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a line whose author is the folded nick `folded` is hidden.
    pub(super) fn hides_author(&self, folded: &str) -> bool {
        self.hidden.contains(folded)
    }

    /// The entry that a typed nick names: one of the nicks it remembers, or its key.
    fn position(&self, folded: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.key == folded || e.nicks.iter().any(|n| n == folded))
    }

    /// What `/ignores` lists: the newest nick of each person, with their earlier ones.
    pub(super) fn listing(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| match e.nicks.split_last() {
                Some((newest, [])) => newest.clone(),
                Some((newest, earlier)) => format!("{newest} (was {})", earlier.join(", ")),
                None => e.key.clone(),
            })
            .collect()
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

impl State {
    /// Registers `ignorer`'s entry `index` as following online user `target`.
    fn bind_ignore(&mut self, ignorer: UserId, index: usize, target: UserId) {
        let Some(nick) = self.users.get(&target).map(|u| u.nick.to_lowercase()) else {
            return;
        };
        let bound = self
            .users
            .get_mut(&ignorer)
            .is_some_and(|u| u.moderation.ignores.bind(index, target, &nick));
        if !bound {
            return;
        }
        self.moderation
            .ignored_by
            .entry(target)
            .or_default()
            .insert(ignorer);
    }

    fn index_key(&mut self, key: &str, ignorer: UserId) {
        self.moderation
            .ignore_keys
            .entry(key.to_owned())
            .or_default()
            .insert(ignorer);
    }

    fn unindex_key(&mut self, key: &str, ignorer: UserId) {
        if let Some(set) = self.moderation.ignore_keys.get_mut(key) {
            set.remove(&ignorer);
            if set.is_empty() {
                self.moderation.ignore_keys.remove(key);
            }
        }
    }

    fn unbind_target(&mut self, ignorer: UserId, target: UserId) {
        if let Some(set) = self.moderation.ignored_by.get_mut(&target) {
            set.remove(&ignorer);
            if set.is_empty() {
                self.moderation.ignored_by.remove(&target);
            }
        }
    }
}

impl World {
    /// `/ignore NICK` and `/unignore NICK`: hides that person's lines from this user only,
    /// under the nick they have now and the ones they take later.
    pub fn ignore(&self, user: UserId, nick: &str, on: bool) -> ModResult {
        let mut state = self.lock();
        let folded = nick.to_lowercase();
        let owner = state.principal_of(user);
        let Some(u) = state.users.get(&user) else {
            return Ok(String::new());
        };
        let own_nick = u.nick.to_lowercase();
        let found = u.moderation.ignores.position(&folded);
        let count = u.moderation.ignores.len();
        let write = if on {
            let target = state.user_named(&folded);
            if folded == own_nick || target == Some(user) {
                return Err("you cannot ignore yourself".into());
            }
            if found.is_some() {
                return Err(format!("you already ignore {nick}").into());
            }
            if count >= MAX_IGNORES {
                return Err(format!(
                    "you ignore {MAX_IGNORES} people, the most one may; /unignore one first"
                )
                .into());
            }
            let principal = target.and_then(|t| state.principal_of(t));
            let entry = match &principal {
                Some(p) => IgnoreEntry {
                    key: p.clone(),
                    stored: format!("{p} {folded}"),
                    user: None,
                    nicks: Vec::new(),
                },
                None => IgnoreEntry::from_stored(&folded),
            };
            let stored = entry.stored.clone();
            let key = entry.key.clone();
            let index = count;
            if let Some(u) = state.users.get_mut(&user) {
                u.moderation.ignores.push(entry);
            }
            state.index_key(&key, user);
            match target {
                Some(target) => state.bind_ignore(user, index, target),
                None => {
                    if let Some(u) = state.users.get_mut(&user) {
                        u.moderation.ignores.add_nick(index, &folded);
                    }
                }
            }
            ModWrite::PutIgnore {
                owner: owner.clone().unwrap_or_default(),
                target: stored,
            }
        } else {
            let Some(index) = found else {
                return Err(format!("you do not ignore {nick}").into());
            };
            let Some(entry) = state
                .users
                .get_mut(&user)
                .and_then(|u| u.moderation.ignores.remove(index))
            else {
                return Ok(String::new());
            };
            state.unindex_key(&entry.key, user);
            if let Some(target) = entry.user {
                state.unbind_target(user, target);
            }
            ModWrite::RemoveIgnore {
                owner: owner.clone().unwrap_or_default(),
                target: entry.stored,
            }
        };
        let rows: Vec<String> = state.users.get_mut(&user).map_or_else(Vec::new, |u| {
            u.needs_redraw = true;
            u.moderation
                .ignores
                .entries
                .iter()
                .map(|e| e.stored.clone())
                .collect()
        });
        let verb = if on { "ignoring" } else { "no longer ignoring" };
        let Some(owner) = owner else {
            return Ok(format!(
                "{verb} {nick} until you disconnect (guests' ignores are not saved)"
            ));
        };
        state.moderation.ignores.insert(owner, rows);
        let ticket = self.store.moderate(write);
        self.confirm(&mut state, user, &format!("{verb} {nick}"), ticket);
        Ok(String::new())
    }

    /// `/ignores`.
    pub fn ignores(&self, user: UserId) -> String {
        let state = self.lock();
        let list = state
            .users
            .get(&user)
            .map(|u| u.moderation.ignores.listing())
            .unwrap_or_default();
        if list.is_empty() {
            "you ignore nobody".to_owned()
        } else {
            format!(
                "you ignore ({} of {MAX_IGNORES}): {}",
                list.len(),
                list.join(", ")
            )
        }
    }

    /// A user connected: their stored ignores become entries (bound to the people online
    /// they name), and the ignorers online who name this user (by principal or nick) now
    /// follow them.
    pub(super) fn ignores_on_connect(&self, state: &mut State, user: UserId) {
        if let Some(principal) = state.principal_of(user)
            && let Some(rows) = state.moderation.ignores.get(&principal).cloned()
        {
            let entries: Vec<IgnoreEntry> =
                rows.iter().map(|r| IgnoreEntry::from_stored(r)).collect();
            // A principal's holder is found by one pass over the users, only for a user who
            // ignores someone registered; a nick is one lookup.
            let principals: HashMap<String, UserId> =
                if entries.iter().any(IgnoreEntry::is_principal) {
                    state
                        .users
                        .keys()
                        .filter(|&&id| id != user)
                        .filter_map(|&id| state.principal_of(id).map(|p| (p, id)))
                        .collect()
                } else {
                    HashMap::new()
                };
            let targets: Vec<Option<UserId>> = entries
                .iter()
                .map(|e| {
                    if e.is_principal() {
                        principals.get(&e.key).copied()
                    } else {
                        state.user_named(&e.key).filter(|&t| t != user)
                    }
                })
                .collect();
            let keys: Vec<String> = entries.iter().map(|e| e.key.clone()).collect();
            if let Some(u) = state.users.get_mut(&user) {
                u.moderation.ignores = Ignores::new(entries);
            }
            for (index, (key, target)) in keys.iter().zip(targets).enumerate() {
                state.index_key(key, user);
                if let Some(target) = target {
                    state.bind_ignore(user, index, target);
                }
            }
        }
        // Ignorers online whose entries name this user and follow nobody now.
        let nick = state.users.get(&user).map(|u| u.nick.to_lowercase());
        let keys = [state.principal_of(user), nick];
        for key in keys.into_iter().flatten() {
            let ignorers: Vec<UserId> = state
                .moderation
                .ignore_keys
                .get(&key)
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            for ignorer in ignorers {
                let index = state.users.get(&ignorer).and_then(|u| {
                    u.moderation
                        .ignores
                        .entries
                        .iter()
                        .position(|e| e.key == key && e.user.is_none())
                });
                if let Some(index) = index
                    && ignorer != user
                {
                    state.bind_ignore(ignorer, index, user);
                    if let Some(i) = state.users.get_mut(&ignorer) {
                        i.needs_redraw = true;
                    }
                }
            }
        }
    }

    /// `user` now goes by `new_nick`: every entry that follows them (found through the
    /// reverse index) adds it, so their next lines stay hidden too.
    pub(super) fn ignores_on_rename(&self, state: &mut State, user: UserId, new_nick: &str) {
        let Some(ignorers) = state.moderation.ignored_by.get(&user) else {
            return;
        };
        let ignorers: Vec<UserId> = ignorers.iter().copied().collect();
        let folded = new_nick.to_lowercase();
        for ignorer in ignorers {
            if let Some(i) = state.users.get_mut(&ignorer)
                && i.moderation.ignores.renamed(user, &folded)
            {
                i.needs_redraw = true;
            }
        }
    }

    /// `user` left: the entries that followed them keep their nicks but follow nobody, and
    /// their own entries leave the indexes.
    pub(super) fn ignores_on_disconnect(&self, state: &mut State, user: UserId) {
        if let Some(ignorers) = state.moderation.ignored_by.remove(&user) {
            for ignorer in ignorers {
                if let Some(i) = state.users.get_mut(&ignorer) {
                    i.moderation.ignores.left(user);
                }
            }
        }
        self.unindex_own_ignores(state, user);
    }

    /// `user` logged in to an account, a principal of its own: the account's stored ignores,
    /// if it has any, replace the ones kept for the guest (a guest's stay otherwise), and the
    /// ignorers of the account who are waiting for it follow this user now.
    pub(super) fn ignores_on_login(&self, state: &mut State, user: UserId) {
        let stored = state
            .principal_of(user)
            .is_some_and(|p| state.moderation.ignores.contains_key(&p));
        if stored {
            self.unindex_own_ignores(state, user);
        }
        self.ignores_on_connect(state, user);
    }

    /// Takes `user`'s own entries out of the reverse indexes.
    fn unindex_own_ignores(&self, state: &mut State, user: UserId) {
        let own: Vec<(String, Option<UserId>)> = state
            .users
            .get(&user)
            .map(|u| {
                u.moderation
                    .ignores
                    .entries
                    .iter()
                    .map(|e| (e.key.clone(), e.user))
                    .collect()
            })
            .unwrap_or_default();
        for (key, target) in own {
            state.unindex_key(&key, user);
            if let Some(target) = target {
                state.unbind_target(user, target);
            }
        }
    }
}

#[cfg(test)]
impl World {
    /// The sizes of the reverse indexes (followed targets, entry keys), for tests.
    fn state_of_ignore_indexes(&self) -> (usize, usize) {
        let state = self.lock();
        (
            state.moderation.ignored_by.len(),
            state.moderation.ignore_keys.len(),
        )
    }
}

/// Whether `key` is a principal (see [`super::sanction::principal`]) rather than a nick.
fn is_principal(key: &str) -> bool {
    key.starts_with("key:") || key.starts_with("account:")
}

/// Whether `/ignore` hides `message` from a user with `ignores`: a line by one of the nicks
/// they remember, or a `/me` of one.
pub(super) fn hides(ignores: &Ignores, message: &Message) -> bool {
    let author = if message.author == AUTHOR_ACTION {
        match message
            .text
            .strip_prefix('\x02')
            .and_then(|rest| rest.split_once('\x02'))
        {
            Some((nick, _)) => nick,
            None => return false,
        }
    } else {
        message.author.as_str()
    };
    ignores.hides_author(&author.to_lowercase())
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};

    use super::super::tests::{localhost, texts, world};
    use super::*;

    fn guest(world: &World, last: u8, nick: &str) -> UserId {
        let address = IpAddr::V4(Ipv4Addr::new(192, 0, 2, last));
        let (user, _) = world.connect(address, "hi".into());
        world.change_nick(user, nick).expect("nick");
        crate::history::join_blocking(world, user, "g").expect("join");
        user
    }

    fn said(world: &World, user: UserId, text: &str) -> bool {
        texts(world, user).iter().any(|t| t.ends_with(text))
    }

    #[test]
    fn an_ignore_follows_its_target_through_nick_changes_and_keeps_old_lines_hidden() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (world, _store) = world(dir.path(), 100, 100, 10);
        let alice = guest(&world, 1, "alice");
        let bob = guest(&world, 2, "bob");
        let carol = guest(&world, 3, "carol");
        world.say(bob, "before-ignore").expect("say");
        assert_eq!(
            world.ignore(alice, "bob", true).as_deref(),
            Ok("ignoring bob until you disconnect (guests' ignores are not saved)")
        );
        world.change_nick(bob, "robert").expect("nick");
        world.say(bob, "after-rename").expect("say");
        world.change_nick(bob, "bobby").expect("nick");
        world.say(bob, "second-rename").expect("say");
        for line in ["before-ignore", "after-rename", "second-rename"] {
            assert!(
                !said(&world, alice, line),
                "{line}: {:?}",
                texts(&world, alice)
            );
            assert!(said(&world, carol, line), "{line}");
        }
        assert_eq!(
            world.ignores(alice),
            "you ignore (1 of 64): bobby (was bob, robert)"
        );
        // Any of the person's nicks names the entry; then all shows again.
        assert!(world.ignore(alice, "robert", true).is_err());
        assert!(world.ignore(alice, "robert", false).is_ok());
        assert!(said(&world, alice, "second-rename"));
        assert!(said(&world, alice, "before-ignore"));
        assert_eq!(world.state_of_ignore_indexes(), (0, 0));
    }

    #[test]
    fn a_registered_target_is_followed_across_reconnects_and_indexes_are_emptied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (world, _store) = world(dir.path(), 100, 100, 10);
        let owner_peer = SocketAddr::new(localhost(), 0);
        let (alice, _) = world.connect_with(owner_peer, "hi".into(), None, None, Some("AAA"));
        world.change_nick(alice, "alice").expect("nick");
        crate::history::join_blocking(&world, alice, "g").expect("join");
        let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)), 0);
        let (bob, _) = world.connect_with(peer, "hi".into(), None, None, Some("BBB"));
        world.change_nick(bob, "bob").expect("nick");
        crate::history::join_blocking(&world, bob, "g").expect("join");
        assert_eq!(world.ignore(alice, "bob", true).as_deref(), Ok(""));
        assert_eq!(world.state_of_ignore_indexes(), (1, 1));
        world.disconnect(bob, true);
        assert_eq!(world.state_of_ignore_indexes(), (0, 1));
        // Back under another nick with the same key: still ignored.
        let (bob, _) = world.connect_with(peer, "hi".into(), None, None, Some("BBB"));
        world.change_nick(bob, "mallory").expect("nick");
        crate::history::join_blocking(&world, bob, "g").expect("join");
        world.say(bob, "back-again").expect("say");
        assert!(
            !said(&world, alice, "back-again"),
            "{:?}",
            texts(&world, alice)
        );
        // The ignorer reconnects: the stored entry finds the target online by key.
        world.disconnect(alice, true);
        assert_eq!(world.state_of_ignore_indexes(), (0, 0));
        let (alice, _) = world.connect_with(owner_peer, "hi".into(), None, None, Some("AAA"));
        crate::history::join_blocking(&world, alice, "g").expect("join");
        world.change_nick(bob, "trudy").expect("nick");
        world.say(bob, "renamed-again").expect("say");
        assert!(
            !said(&world, alice, "renamed-again"),
            "{:?}",
            texts(&world, alice)
        );
        assert!(!said(&world, alice, "back-again"));
        world.disconnect(alice, true);
        world.disconnect(bob, true);
        assert_eq!(world.state_of_ignore_indexes(), (0, 0));
    }

    #[test]
    fn an_entry_keeps_the_newest_nicks_and_reads_back_what_it_stored() {
        let mut entry = IgnoreEntry::from_stored("bob");
        assert_eq!(entry.nicks, vec!["bob".to_owned()]);
        for n in 0..20 {
            entry.add_nick(&format!("bob{n}"));
        }
        assert_eq!(entry.nicks.len(), MAX_NICKS_PER_IGNORE);
        assert_eq!(entry.nicks.last().map(String::as_str), Some("bob19"));
        assert!(!entry.nicks.contains(&"bob".to_owned()));

        let stored = IgnoreEntry::from_stored("key:SHA256:abc Bob");
        assert_eq!(stored.key, "key:SHA256:abc");
        assert_eq!(stored.nicks, vec!["bob".to_owned()]);
        assert!(stored.is_principal());
        let bare = IgnoreEntry::from_stored("account:bob");
        assert!(bare.nicks.is_empty());
        let ignores = Ignores::new(vec![stored, bare]);
        assert!(ignores.hides_author("bob"));
        assert!(!ignores.hides_author("carol"));
        assert_eq!(ignores.position("account:bob"), Some(1));
    }
}
