//! Account passwords: the rules a new password must follow, Argon2id hashing and checking
//! (PHC strings), the bounded pool that runs them off the async workers, and whether a
//! connection would send a password in the clear.
//!
//! A leaf: it knows nothing of the world or the sessions. Hashing is CPU-heavy on purpose, so
//! it never runs on an async worker nor under the world's lock: [`Hasher::run`] puts it on a
//! blocking thread behind a semaphore of [`HASH_PERMITS`] permits, with at most
//! [`HASH_QUEUE`] jobs waiting; beyond that the caller is told to retry.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password accepted, in bytes (Argon2 takes any length; this bounds the work
/// and what a line may carry).
pub const MAX_PASSWORD_BYTES: usize = 256;

/// Argon2id's memory cost in KiB: 19 MiB, the OWASP recommendation for Argon2id (and the
/// crate's default). With [`HASH_PERMITS`] running at once, password checks use at most
/// 38 MiB.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Argon2id's passes over that memory (OWASP: 2 with 19 MiB).
pub const ARGON2_ITERATIONS: u32 = 2;
/// Argon2id's lanes: one, since the pool already bounds how many threads hash.
pub const ARGON2_LANES: u32 = 1;

/// How many hashes or checks run at once (each on a blocking thread).
pub const HASH_PERMITS: usize = 2;
/// How many more may wait for a permit; past that, [`HashError::Busy`].
pub const HASH_QUEUE: usize = 32;

/// Why a new password is refused; the text is what the user reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRule {
    #[error("a password must have at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("a password may have at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("a password cannot contain spaces or control characters")]
    BadCharacter,
}

/// Why a hash or check could not be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// Too many password checks are waiting already.
    #[error("the server is busy checking passwords; try again in a few seconds")]
    Busy,
    /// The hashing failed (a stored hash that cannot be read, a thread that died).
    #[error("the password could not be checked (a server problem); try again later")]
    Failed,
}

/// Checks a new password against the rules: [`MIN_PASSWORD_CHARS`] characters at least,
/// [`MAX_PASSWORD_BYTES`] bytes at most, no spaces (a command's arguments are split at them)
/// and no control characters.
pub fn check_new_password(password: &str) -> Result<(), PasswordRule> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordRule::TooLong);
    }
    if password
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(PasswordRule::BadCharacter);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordRule::TooShort);
    }
    Ok(())
}

fn argon2() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES, None)
        .map_err(|_| HashError::Failed)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with Argon2id and a random salt; returns the PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`). Blocks for tens of milliseconds: call it
/// through [`Hasher::run`].
pub fn hash_password(password: &str) -> Result<String, HashError> {
    argon2()?
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|_| HashError::Failed)
}

/// Whether `password` matches the PHC string `stored` (with the parameters stored in it).
/// Blocks like [`hash_password`].
pub fn verify_password(password: &str, stored: &str) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(stored).map_err(|_| HashError::Failed)?;
    Ok(argon2()?
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// Runs password hashes and checks on blocking threads, [`HASH_PERMITS`] at once and
/// [`HASH_QUEUE`] waiting at most.
#[derive(Debug)]
pub struct Hasher {
    permits: Arc<tokio::sync::Semaphore>,
    /// Jobs accepted and not finished (running or waiting for a permit).
    in_flight: AtomicUsize,
}

impl Default for Hasher {
    fn default() -> Hasher {
        Hasher {
            permits: Arc::new(tokio::sync::Semaphore::new(HASH_PERMITS)),
            in_flight: AtomicUsize::new(0),
        }
    }
}

/// Takes back a job's place in [`Hasher::in_flight`] however the job ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Hasher {
    /// Runs `job` on a blocking thread once a permit is free; [`HashError::Busy`] at once if
    /// [`HASH_PERMITS`] + [`HASH_QUEUE`] jobs are in flight already.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let limit = HASH_PERMITS + HASH_QUEUE;
        if self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_err()
        {
            return Err(HashError::Busy);
        }
        let _in_flight = InFlight(&self.in_flight);
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| HashError::Failed)?;
        tokio::task::spawn_blocking(move || {
            let result = job();
            drop(permit);
            result
        })
        .await
        .map_err(|_| HashError::Failed)?
    }
}

/// Whether a password typed on this connection would cross the network in the clear: a
/// connection without encryption (plain telnet, raw, or the web terminal over HTTP) from an
/// address other than loopback. ssh and TLS are encrypted; loopback never leaves the machine.
pub fn sent_in_the_clear(encrypted: bool, peer: IpAddr) -> bool {
    let loopback = match peer {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    };
    !encrypted && !loopback
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert_eq!(check_new_password("short"), Err(PasswordRule::TooShort));
        assert_eq!(check_new_password("1234567"), Err(PasswordRule::TooShort));
        assert_eq!(check_new_password("12345678"), Ok(()));
        // Characters, not bytes, count towards the minimum.
        assert_eq!(check_new_password("ééééééé"), Err(PasswordRule::TooShort));
        assert_eq!(check_new_password(&"a".repeat(256)), Ok(()));
        assert_eq!(
            check_new_password(&"a".repeat(257)),
            Err(PasswordRule::TooLong)
        );
        assert_eq!(
            check_new_password(&"é".repeat(129)),
            Err(PasswordRule::TooLong)
        );
        assert_eq!(
            check_new_password("pass word1"),
            Err(PasswordRule::BadCharacter)
        );
        assert_eq!(
            check_new_password("password\x07"),
            Err(PasswordRule::BadCharacter)
        );
    }

    #[test]
    fn a_hash_verifies_its_password_only_and_salts_differ() {
        let first = hash_password("correct horse").expect("hash");
        let second = hash_password("correct horse").expect("hash");
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second, "a random salt per hash");
        assert_eq!(verify_password("correct horse", &first), Ok(true));
        assert_eq!(verify_password("correct horsE", &first), Ok(false));
        assert_eq!(
            verify_password("x", "not a phc string"),
            Err(HashError::Failed)
        );
    }

    #[test]
    fn only_unencrypted_non_loopback_connections_send_in_the_clear() {
        let remote: IpAddr = "192.0.2.7".parse().expect("address");
        let remote6: IpAddr = "2001:db8::1".parse().expect("address");
        let local: IpAddr = "127.0.0.1".parse().expect("address");
        let local6: IpAddr = "::1".parse().expect("address");
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("address");
        assert!(sent_in_the_clear(false, remote));
        assert!(sent_in_the_clear(false, remote6));
        assert!(!sent_in_the_clear(true, remote));
        assert!(!sent_in_the_clear(false, local));
        assert!(!sent_in_the_clear(false, local6));
        assert!(!sent_in_the_clear(false, mapped));
    }

    #[tokio::test]
    async fn the_pool_refuses_past_its_queue() {
        let hasher = Arc::new(Hasher::default());
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Arc::new(std::sync::Mutex::new(wait));
        let mut running = Vec::new();
        for _ in 0..HASH_PERMITS + HASH_QUEUE {
            let hasher = Arc::clone(&hasher);
            let wait = Arc::clone(&wait);
            running.push(tokio::spawn(async move {
                hasher
                    .run(move || {
                        let _ = wait.lock().map(|w| w.recv());
                        Ok(())
                    })
                    .await
            }));
        }
        // Every job above is counted once its task ran up to its first await.
        while hasher.in_flight.load(Ordering::Acquire) < HASH_PERMITS + HASH_QUEUE {
            tokio::task::yield_now().await;
        }
        assert_eq!(hasher.run(|| Ok(())).await, Err(HashError::Busy));
        for _ in 0..HASH_PERMITS + HASH_QUEUE {
            let _ = release.send(());
        }
        for job in running {
            assert_eq!(job.await.ok(), Some(Ok(())));
        }
        assert_eq!(hasher.run(|| Ok(7)).await, Ok(7));
    }
}
