//! The session's side of the account commands: the warning before a password crosses the
//! network in the clear, and the one account job a session runs at a time, in a task of its
//! own (hashing is off the async workers, in the password pool), whose answer arrives in the
//! status window when it is done.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Session;
use crate::command::AccountJob;
use crate::world::{AUTHOR_ERROR, AUTHOR_INFO};

/// What the session knows about passwords typed on its connection.
#[derive(Debug, Default)]
pub struct Passwords {
    /// A password typed here would cross the network unencrypted
    /// ([`crate::password::sent_in_the_clear`]).
    in_the_clear: bool,
    /// The user was warned of that, and sent the command again: go ahead.
    warned: bool,
    /// An account job runs; the next waits for its answer.
    running: Arc<AtomicBool>,
}

/// What a user on an unencrypted connection reads before their first password is sent.
pub const CLEAR_TEXT_WARNING: &str = "your connection is not encrypted: a password typed here crosses the network as plain text, and anyone on the way can read it. If you can, connect with TLS, ssh or the web terminal over HTTPS instead. To send it over this connection anyway, type the same command again.";

/// Resets the running flag when a job ends, however it ends.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Session {
    /// Sets whether passwords typed on this connection would cross the network in the
    /// clear (the connection knows its listener and the client's address).
    pub fn set_password_in_the_clear(&mut self, in_the_clear: bool) {
        self.passwords.in_the_clear = in_the_clear;
    }

    /// Starts an account job in a task of its own, after the warning for an unencrypted
    /// connection; one at a time per session.
    pub(super) fn start_account_job(&mut self, job: AccountJob) {
        let (world, user) = (self.world.clone(), self.user);
        if job.sends_password() && self.passwords.in_the_clear && !self.passwords.warned {
            self.passwords.warned = true;
            world.tell(user, AUTHOR_ERROR, CLEAR_TEXT_WARNING);
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            world.tell(user, AUTHOR_ERROR, "accounts are not available here");
            return;
        };
        if self.passwords.running.swap(true, Ordering::AcqRel) {
            world.tell(
                user,
                AUTHOR_ERROR,
                "your last account command is still running; wait for its answer",
            );
            return;
        }
        let running = Running(Arc::clone(&self.passwords.running));
        if job.sends_password() {
            world.tell(user, AUTHOR_INFO, "checking...");
        }
        runtime.spawn(async move {
            let _running = running;
            crate::command::run_account_job(job, world, user).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::super::tests::{status_lines, world};
    use super::*;

    /// Waits until the session's account job has ended (bounded).
    async fn job_done(session: &Session) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        while session.passwords.running.load(Ordering::Acquire) {
            assert!(tokio::time::Instant::now() < deadline, "the job ends");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// A session whose user took the nick paul and typed `/register hunter22x`, on a
    /// connection that sends passwords `in_the_clear` or not.
    fn paul_registering(
        in_the_clear: bool,
    ) -> (
        tempfile::TempDir,
        Arc<crate::world::World>,
        crate::world::UserId,
        Session,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let world = world(dir.path());
        let (user, _) = world.connect(IpAddr::V4(Ipv4Addr::LOCALHOST), "hi".into());
        let mut session = Session::new(user, world.clone());
        session.set_password_in_the_clear(in_the_clear);
        let _ = session.execute("/nick paul");
        let _ = session.execute("/register hunter22x");
        (dir, world, user, session)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_the_clear_the_first_password_command_only_warns_and_the_second_goes() {
        let (_dir, world, user, mut session) = paul_registering(true);
        job_done(&session).await;
        let lines = status_lines(&world, user);
        assert!(
            lines.iter().any(|l| l.contains("not encrypted")),
            "{lines:?}"
        );
        assert_eq!(world.account_of(user), None, "nothing was registered");
        let _ = session.execute("/register hunter22x");
        job_done(&session).await;
        assert_eq!(world.account_of(user).as_deref(), Some("paul"));
        let lines = status_lines(&world, user);
        assert_eq!(
            lines.iter().filter(|l| l.contains("not encrypted")).count(),
            1,
            "warned once: {lines:?}"
        );
        assert!(
            lines.iter().all(|l| !l.contains("hunter22x")),
            "never echoed: {lines:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_an_encrypted_or_local_connection_there_is_no_warning() {
        let (_dir, world, user, session) = paul_registering(false);
        job_done(&session).await;
        assert_eq!(world.account_of(user).as_deref(), Some("paul"));
        let lines = status_lines(&world, user);
        assert!(
            lines.iter().all(|l| !l.contains("not encrypted")),
            "{lines:?}"
        );
    }
}
