//! Nicks that belong to an ssh key, end to end with OpenSSH's client (`ssh -T`, `ssh-keygen`):
//! a key takes `alice`; another key, a guest and a raw-port user are refused it with the
//! message and get other nicks; `/whois` names the key; a restart keeps the claim; with
//! `--claim-days 0` another key takes it over; settings saved per key, not per address.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;

use crate::support::{PATIENCE, TestClient, TestServer, data_dir, test_config};

/// The start of the refusal (a teletype wraps the rest at 80 columns).
const REFUSED: &str = "alice belongs to another ssh key;";

/// Whether OpenSSH's client is here; `false` (with a message) only outside CI.
pub(crate) fn have_ssh() -> bool {
    let found = Command::new("ssh")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "ssh (openssh-client) is missing under CI; ./test.sh installs it"
        );
        eprintln!("SKIPPED: ssh (openssh-client) is not installed here; ./test.sh installs it");
    }
    found
}

/// A client key made with `ssh-keygen` as `dir/name`; returns its path and its fingerprint
/// as `ssh-keygen -l` prints it.
pub(crate) fn client_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen makes a key");
    let listed = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&path)
        .output()
        .expect("ssh-keygen -l runs");
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    let fingerprint = text.split_whitespace().nth(1).expect("a fingerprint");
    (path, fingerprint.to_owned())
}

/// An `ssh -T` session as `user` (with `key`, or as a guest), its input a pipe.
pub(crate) struct Session {
    child: Child,
    stdin: ChildStdin,
    received: Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Session {
    pub(crate) fn start(
        dir: &Path,
        key: Option<&Path>,
        address: SocketAddr,
        user: &str,
    ) -> Session {
        let mut command = Command::new("ssh");
        command.args(["-T", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no"]);
        command.arg("-o").arg(format!(
            "UserKnownHostsFile={}",
            dir.join("known_hosts").display()
        ));
        command.args(["-o", "LogLevel=ERROR"]);
        match key {
            Some(key) => {
                command.args(["-o", "IdentitiesOnly=yes", "-i"]).arg(key);
            }
            None => {
                command.args(["-o", "PubkeyAuthentication=no"]);
            }
        }
        command
            .arg("-p")
            .arg(address.port().to_string())
            .arg(format!("{user}@{}", address.ip()));
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh runs");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let (sender, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || sender.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Session {
            child,
            stdin,
            received,
            seen: Vec::new(),
        }
    }

    /// Waits until the output so far contains `needle`; returns it.
    pub(crate) fn wait_for(&mut self, needle: &str) -> String {
        tokio::task::block_in_place(|| {
            let deadline = std::time::Instant::now() + PATIENCE;
            while !String::from_utf8_lossy(&self.seen).contains(needle) {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match self.received.recv_timeout(left) {
                    Ok(bytes) => self.seen.extend(bytes),
                    Err(_) => panic!(
                        "never saw {needle:?}; got:\n{:?}",
                        String::from_utf8_lossy(&self.seen)
                    ),
                }
            }
            String::from_utf8_lossy(&self.seen).into_owned()
        })
    }

    /// Types a line (a message or a command).
    pub(crate) fn line(&mut self, text: &str) {
        self.stdin
            .write_all(format!("{text}\n").as_bytes())
            .expect("write");
    }

    /// Waits for ssh to end (the server closed the session); returns all it printed.
    pub(crate) fn ended(mut self) -> String {
        tokio::task::block_in_place(|| {
            // The output ends (the reader thread drops its sender) when ssh does.
            let deadline = std::time::Instant::now() + PATIENCE;
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match self.received.recv_timeout(left) {
                    Ok(bytes) => self.seen.extend(bytes),
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!(
                        "ssh did not end; got:\n{:?}",
                        String::from_utf8_lossy(&self.seen)
                    ),
                }
            }
            self.child.wait().expect("ssh exits");
        });
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    /// Types `/quit` and waits for ssh to end.
    pub(crate) fn quit(mut self) {
        self.stdin.write_all(b"/quit\n").expect("write");
        let status = tokio::task::block_in_place(|| self.child.wait()).expect("ssh exits");
        assert_eq!(status.code(), Some(0), "/quit ends the session");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_claims_keep_a_nick_for_its_key_across_restarts_until_they_expire() {
    if !have_ssh() {
        return;
    }
    let (_keep, dir) = data_dir();
    let (key_a, fingerprint_a) = client_key(&dir, "key_a");
    let (key_b, _) = client_key(&dir, "key_b");
    let server = TestServer::start_with_ssh(test_config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    // Key A takes alice, and leaves.
    let mut a = Session::start(&dir, Some(&key_a), ssh, "alice");
    a.wait_for("alice>");
    a.quit();
    // Key B asks for alice: the message, and the first numbered nick free.
    let mut b = Session::start(&dir, Some(&key_b), ssh, "alice");
    b.wait_for(REFUSED);
    b.wait_for("alice2>");
    // A guest likewise (alice2 is held by B, online).
    let mut guest = Session::start(&dir, None, ssh, "alice");
    guest.wait_for(REFUSED);
    guest.wait_for("alice3>");
    guest.quit();
    b.quit();
    // A raw-port user's /nick is refused with the same message; /whois names the key.
    let mut carol = TestClient::joined(server.raw).await;
    carol.line("/nick alice").await;
    carol.expect(REFUSED).await;
    carol.line("/whois alice").await;
    let prefix: String = fingerprint_a.chars().take("SHA256:".len() + 12).collect();
    carol
        .expect(&format!("belongs to the ssh key {prefix}"))
        .await;
    drop(carol);
    server.stop().await;

    // After a restart the claim is still there: B is refused, A gets alice.
    let server = TestServer::start_with_ssh(test_config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    let mut b = Session::start(&dir, Some(&key_b), ssh, "alice");
    b.wait_for(REFUSED);
    b.quit();
    let mut a = Session::start(&dir, Some(&key_a), ssh, "alice");
    let text = a.wait_for("alice>");
    assert!(!text.contains(REFUSED), "{text}");
    a.quit();
    server.stop().await;

    // With --claim-days 0 A's absence has outlasted the claim: B takes alice over.
    let mut config = test_config(&dir);
    config.ssh.claim_days = 0;
    let server = TestServer::start_with_ssh(config).await;
    let ssh = server.ssh.expect("ssh listener");
    let mut b = Session::start(&dir, Some(&key_b), ssh, "alice");
    let text = b.wait_for("alice>");
    assert!(!text.contains(REFUSED), "{text}");
    let mut dave = TestClient::joined(server.raw).await;
    dave.line("/whois alice").await;
    dave.expect("alice is online").await;
    b.quit();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_attached_to_an_account_logs_its_owner_in_on_connect() {
    if !have_ssh() {
        return;
    }
    let (_keep, dir) = data_dir();
    let (key, _) = client_key(&dir, "key");
    let server = TestServer::start_with_ssh(test_config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    let mut owner = Session::start(&dir, Some(&key), ssh, "paul");
    owner.wait_for("paul>");
    owner.line("/key add");
    owner.wait_for("you are not logged in");
    owner.line("/register Hunter22-secret");
    owner.wait_for("is your account now");
    owner.line("/key add");
    owner.wait_for("logs you in to your account when");
    owner.line("/key list");
    owner.wait_for("(1 of at most 8)");
    owner.quit();
    // The key under another user name: logged in to the account, with its nick.
    let mut back = Session::start(&dir, Some(&key), ssh, "someone");
    back.wait_for("(by your ssh key)");
    back.wait_for("paul>");
    // A guest asking for the nick gets a numbered one, and why.
    let mut guest = Session::start(&dir, None, ssh, "paul");
    guest.wait_for("paul is a registered nick;");
    guest.wait_for("paul2>");
    guest.quit();
    back.line("/key del SHA256:");
    back.wait_for("longer logs you in");
    back.quit();
    // Detached: the key no longer logs in (its own claim on paul still gives it the nick).
    let mut again = Session::start(&dir, Some(&key), ssh, "someone");
    let text = again.wait_for("someone>");
    assert!(!text.contains("by your ssh key"), "{text}");
    again.quit();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_settings_are_saved_per_key_and_restored_for_that_key_only() {
    if !have_ssh() {
        return;
    }
    let (_keep, dir) = data_dir();
    let (key_a, _) = client_key(&dir, "key_a");
    let (key_b, _) = client_key(&dir, "key_b");
    let server = TestServer::start_with_ssh(test_config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    let mut a = Session::start(&dir, Some(&key_a), ssh, "alice");
    a.wait_for("alice>");
    a.stdin.write_all(b"/b0\n").expect("write");
    a.stdin.write_all(b"/b?\n").expect("write");
    a.wait_for("Audible alerts disabled");
    a.quit();
    server.stop().await;
    // After a restart, from the same address: key B has the defaults, key A its bell off.
    let server = TestServer::start_with_ssh(test_config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    let mut b = Session::start(&dir, Some(&key_b), ssh, "bob");
    b.wait_for("bob>");
    b.stdin.write_all(b"/b?\n").expect("write");
    b.wait_for("Audible alerts enabled for hilights");
    b.quit();
    let mut a = Session::start(&dir, Some(&key_a), ssh, "alice");
    a.wait_for("alice>");
    a.stdin.write_all(b"/b?\n").expect("write");
    a.wait_for("Audible alerts disabled");
    a.quit();
    server.stop().await;
}
