//! Accounts end to end through raw-port clients: `/register`, a restart, `/login` from
//! another address restoring the nick and the toggles; guests kept off a registered nick and
//! its look-alikes (on `/nick` and through a saved nick); wrong passwords limited per address
//! and per account; no plaintext warning on loopback; and the password never in the log,
//! on stdout or in `/metrics` of the real binary.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;

use crate::process::{Process, free_ports, r0c};
use crate::support::{TestClient, TestServer, data_dir, http_get};

const PASSWORD: &str = "Hunter22-secret";

/// A client from `source` (a loopback address other than 127.0.0.1 is another address to
/// the server's limits), through the wizard and with a wide terminal.
pub(crate) async fn joined_from(server: SocketAddr, source: &str) -> TestClient {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    let source: IpAddr = source.parse().expect("address");
    socket
        .bind(SocketAddr::new(source, 0))
        .expect("bind a loopback source address");
    let stream = socket.connect(server).await.expect("connect");
    let mut client = TestClient::from_stream(stream);
    client.wizard().await;
    client.expect("> ").await;
    client.report_size(250, 50).await;
    client
}

/// Waits until `needle` has arrived `count` times in all.
async fn expect_count(client: &mut TestClient, needle: &str, count: usize) {
    client
        .wait_until(&format!("{count} × {needle:?}"), |c| {
            c.text().matches(needle).count() >= count
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_nick_is_its_owners_across_a_restart_with_its_settings() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut owner = TestClient::joined(server.raw).await;
    owner.line("/nick paul").await;
    owner.line("/b3").await;
    owner.expect("every message").await;
    owner.line("/register short").await;
    owner.expect("at least 8 characters").await;
    owner.line(&format!("/register {PASSWORD}")).await;
    owner.expect("is your account now").await;
    owner.line("/whois paul").await;
    owner
        .expect("paul is a registered nick, and its owner is logged in")
        .await;
    // Loopback is not in the clear: no warning, and the first /register went through.
    assert!(!owner.text().contains("not encrypted"), "{}", owner.text());
    assert!(
        !owner.text().contains(PASSWORD),
        "the password is not echoed"
    );

    // A guest is refused the nick and its look-alikes.
    let mut guest = joined_from(server.raw, "127.0.0.2").await;
    guest.line("/nick paul").await;
    guest
        .expect("paul is a registered nick; /login paul PASSWORD if it is yours")
        .await;
    guest.line("/nick PAU1").await;
    guest
        .expect("that nick looks too much like the registered nick paul")
        .await;
    // Cyrillic р and а: not a nick at all here (nicks are ASCII), and never paul.
    guest.line("/nick \u{440}\u{430}ul").await;
    guest.expect("illegal characters were removed").await;
    guest.line("/whois paul").await;
    guest.expect("paul is online").await;
    drop(owner);
    drop(guest);
    server.stop().await;

    // After a restart: the account is still there. The owner's old address has its saved
    // nick, which is the account's now: a numbered nick, and why.
    let server = TestServer::start(&dir).await;
    let mut back = TestClient::joined(server.raw).await;
    back.expect(
        "paul is a registered nick; /login paul PASSWORD if it is yours; you are now paul2",
    )
    .await;
    back.line("/logout").await;
    back.expect("you are not logged in").await;
    drop(back);
    // From an address with no saved settings: login gives the nick and the toggles.
    let mut elsewhere = joined_from(server.raw, "127.0.0.3").await;
    elsewhere.line("/b?").await;
    elsewhere
        .expect("enabled for hilights in other channels")
        .await;
    // While typed, the password shows as stars.
    elsewhere
        .send(format!("/login paul {PASSWORD}").as_bytes())
        .await;
    let stars = "*".repeat(format!("paul {PASSWORD}").len());
    elsewhere
        .wait_until("the typed login masked", |c| {
            c.screen().contains(&format!("> /login {stars}"))
        })
        .await;
    assert!(
        !elsewhere.text().contains(PASSWORD),
        "never on the wire back"
    );
    elsewhere.send(b"\n").await;
    elsewhere.expect("you are logged in as").await;
    elsewhere.line("/b?").await;
    elsewhere.expect("every message").await;
    elsewhere.line("/whois paul").await;
    elsewhere
        .expect("paul is a registered nick, and its owner is logged in")
        .await;
    // Logging out leaves the nick to its owner: a numbered one, and why.
    elsewhere.line("/logout").await;
    elsewhere.expect("you logged out of paul").await;
    // The password is not kept for Up to bring back: after /logout and /whois, the third
    // Up is the /b? before it.
    elsewhere.send(b"\x1b[A\x1b[A\x1b[A").await;
    elsewhere
        .wait_until("Up recalls /b?", |c| c.screen().contains("> /b?"))
        .await;
    assert!(!elsewhere.screen().contains(PASSWORD));
    drop(elsewhere);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_limited_per_address_and_per_account() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut owner = TestClient::joined(server.raw).await;
    owner.line("/nick paul").await;
    owner.line(&format!("/register {PASSWORD}")).await;
    owner.expect("is your account now").await;

    let mut zoe = joined_from(server.raw, "127.0.0.6").await;
    zoe.line("/nick zoe").await;
    zoe.line(&format!("/register {PASSWORD}")).await;
    zoe.expect("is your account now").await;

    // Per account: three wrong passwords from one address and two from another make five
    // for paul, after which even the right one is refused unchecked, from anywhere.
    let mut guesser = joined_from(server.raw, "127.0.0.2").await;
    for n in 1..=3 {
        guesser.line(&format!("/login paul wrong-guess-{n}")).await;
        expect_count(&mut guesser, "wrong nick or password", n).await;
    }
    let mut other = joined_from(server.raw, "127.0.0.3").await;
    for n in 1..=2 {
        other.line(&format!("/login paul wrong-guess-{n}")).await;
        expect_count(&mut other, "wrong nick or password", n).await;
    }
    let mut fourth = joined_from(server.raw, "127.0.0.4").await;
    fourth.line(&format!("/login paul {PASSWORD}")).await;
    fourth
        .expect("too many failed logins for this account; try again in 10 minutes")
        .await;
    // Per address: the guesser's two more failures, on zoe and on a nick with no account,
    // make five from its address; then its right password for zoe is refused unchecked.
    guesser.line("/login zoe wrong-guess-4").await;
    expect_count(&mut guesser, "wrong nick or password", 4).await;
    guesser.line("/login nobody wrong-guess-5").await;
    expect_count(&mut guesser, "wrong nick or password", 5).await;
    guesser.line(&format!("/login zoe {PASSWORD}")).await;
    guesser
        .expect("too many failed logins from your address; try again in 10 minutes")
        .await;
    // zoe's account is not locked: from another address the right password works.
    fourth.line(&format!("/login zoe {PASSWORD}")).await;
    fourth.expect("you are logged in as").await;
    drop((owner, zoe, guesser, other, fourth));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_reach_the_log_stdout_or_metrics() {
    let (_keep, dir) = data_dir();
    let (telnet, raw) = free_ports();
    let web = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut command: Command = r0c();
    command
        .env("RUST_LOG", "debug")
        .args(["--dir", &dir.display().to_string(), "-i", "127.0.0.1"])
        .args(["-pt", &telnet.to_string(), "-pn", &raw.to_string()])
        .args(["--web", &web.to_string(), "--ssh", "0", "--irc-listen", "0"])
        .args(["--oper", "paul"]);
    let server = Process::launch(command, (telnet, raw));
    let wrong = "Wrong-guess-987";
    let new = "Brand-new-pw-654";
    let mut owner = TestClient::joined(server.raw).await;
    owner.line("/nick paul").await;
    owner.line(&format!("/register {PASSWORD}")).await;
    owner.expect("is your account now").await;
    owner
        .expect("--oper names it, so you are a server operator")
        .await;
    owner.line(&format!("/passwd {wrong} {new}")).await;
    owner.expect("wrong password").await;
    owner.line(&format!("/passwd {PASSWORD} {new}")).await;
    owner.expect("your password is changed").await;
    let mut other = joined_from(server.raw, "127.0.0.2").await;
    other.line(&format!("/login paul {wrong}")).await;
    other.expect("wrong nick or password").await;
    other.line(&format!("/identify paul {new}")).await;
    other.expect("you are a server operator").await;
    let metrics = http_get(SocketAddr::from(([127, 0, 0, 1], web)), "/metrics").await;
    assert!(
        metrics.contains(r#"r0c_account_events_total{event="login_failed"} 2"#),
        "{metrics}"
    );
    for secret in [PASSWORD, wrong, new] {
        assert!(!owner.text().contains(secret) && !other.text().contains(secret));
    }
    drop((owner, other));
    let (stdout, stderr) = server.finish();
    for secret in [PASSWORD, wrong, new] {
        for (name, text) in [
            ("log", &stderr),
            ("stdout", &stdout),
            ("/metrics", &metrics),
        ] {
            assert!(!text.contains(secret), "{secret} in the {name}:\n{text}");
        }
    }
    // The failure is logged with the address it came from.
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("login failed") && l.contains("127.0.0.2")),
        "{stderr}"
    );
}
