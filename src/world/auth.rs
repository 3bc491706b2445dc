//! `/auth` and the admin flag: the password check, limited per address.

use super::*;

/// What became of an `/auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    Ok,
    Wrong,
    /// Too many failures from this address; try again in this many minutes.
    TooMany {
        minutes: u64,
    },
}

/// Failed `/auth` attempts allowed per address within [`FAILED_AUTH_WINDOW`].
pub const MAX_FAILED_AUTH: u32 = 5;
/// The window over which failed `/auth` attempts are counted.
pub const FAILED_AUTH_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

impl World {
    /// `/auth`: makes the user an admin if the password is right. Failed attempts are
    /// logged with the address; after [`MAX_FAILED_AUTH`] of them from one address within
    /// [`FAILED_AUTH_WINDOW`], further attempts from there are refused unchecked until the
    /// window has passed, so the password cannot be guessed at speed.
    pub fn authenticate(&self, user: UserId, attempt: &str) -> AuthOutcome {
        let mut state = self.lock();
        let Some((address, peer, nick)) = state
            .users
            .get(&user)
            .map(|u| (u.address, u.peer, u.nick.clone()))
        else {
            return AuthOutcome::Wrong;
        };
        let key = crate::address::AddressKey::of(address);
        let now = std::time::Instant::now();
        if let Some((count, since)) = state.failed_auth.get(&key).copied() {
            let elapsed = now.duration_since(since);
            if elapsed >= FAILED_AUTH_WINDOW {
                state.failed_auth.remove(&key);
            } else if count >= MAX_FAILED_AUTH {
                tracing::warn!(%peer, nick, "auth attempt refused: too many failures");
                let left = FAILED_AUTH_WINDOW - elapsed;
                return AuthOutcome::TooMany {
                    minutes: left.as_secs().div_ceil(60),
                };
            }
        }
        let ok = constant_time_eq(attempt.as_bytes(), self.settings.password.as_bytes());
        if ok {
            if let Some(u) = state.users.get_mut(&user) {
                u.admin = true;
            }
            tracing::info!(%peer, nick, "auth ok");
            return AuthOutcome::Ok;
        }
        let entry = state.failed_auth.entry(key).or_insert((0, now));
        entry.0 += 1;
        tracing::warn!(%peer, nick, failures = entry.0, "auth failed");
        AuthOutcome::Wrong
    }

    /// Whether the user may run admin commands.
    pub fn is_admin(&self, user: UserId) -> bool {
        self.lock().users.get(&user).is_some_and(|u| u.admin)
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
