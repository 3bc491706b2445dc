//! The real `r0c` binary: startup, arguments, clean shutdown and `kill -9`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{TestClient, data_dir, lines_of};

/// A running `r0c` process whose stdout and stderr are collected in the background.
pub(crate) struct Process {
    pub(crate) child: Child,
    pub(crate) telnet: SocketAddr,
    pub(crate) raw: SocketAddr,
    stdout: std::sync::mpsc::Receiver<String>,
    stderr: std::sync::mpsc::Receiver<String>,
    /// What it printed up to "r0c is up": the startup report.
    pub(crate) startup: Vec<String>,
}

/// Two ports that were free a moment ago (the binary keeps r0c's rule that port 0 disables).
pub(crate) fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let b = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    (
        a.local_addr().expect("addr").port(),
        b.local_addr().expect("addr").port(),
    )
}

pub(crate) fn r0c() -> Command {
    Command::new(env!("CARGO_BIN_EXE_r0c"))
}

impl Process {
    fn start(dir: &Path) -> Process {
        Process::start_on(dir, free_ports())
    }

    fn start_on(dir: &Path, ports: (u16, u16)) -> Process {
        Process::start_with(dir, ports, &[])
    }

    /// [`Process::start_with`], logging cluster mode's tasks at `info` (for a failing test).
    pub(crate) fn start_logging_cluster(dir: &Path, ports: (u16, u16), extra: &[&str]) -> Process {
        let mut command = r0c();
        command.env("RUST_LOG", "r0c::cluster=info,async_nats=info");
        Process::spawn(command, dir, ports, extra)
    }

    pub(crate) fn start_with(dir: &Path, ports: (u16, u16), extra: &[&str]) -> Process {
        Process::spawn(r0c(), dir, ports, extra)
    }

    /// Starts r0c through `command` (the binary itself, or a wrapper that execs it with the
    /// arguments appended).
    pub(crate) fn spawn(
        mut command: Command,
        dir: &Path,
        (telnet, raw): (u16, u16),
        extra: &[&str],
    ) -> Process {
        command
            .args(["--dir", &dir.display().to_string(), "-i", "127.0.0.1"])
            .args(extra)
            .args(["-pt", &telnet.to_string(), "-pn", &raw.to_string()])
            // The web terminal's and the ssh listener's default ports are fixed; tests run
            // side by side.
            .args(["--web", "0", "--ssh", "0", "--irc-listen", "0"]);
        Process::launch(command, (telnet, raw))
    }

    /// Starts `command`, which must make r0c listen on 127.0.0.1 on these ports, and waits
    /// until it is up.
    pub(crate) fn launch(mut command: Command, (telnet, raw): (u16, u16)) -> Process {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("r0c starts");
        let stdout = lines_of(child.stdout.take().expect("stdout"));
        let stderr = lines_of(child.stderr.take().expect("stderr"));
        let mut startup = Vec::new();
        while !startup
            .last()
            .is_some_and(|line: &String| line.contains("r0c is up"))
        {
            match stdout.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => startup.push(line),
                Err(_) => panic!("r0c never came up; it printed:\n{}", startup.join("\n")),
            }
        }
        Process {
            child,
            telnet: SocketAddr::from(([127, 0, 0, 1], telnet)),
            raw: SocketAddr::from(([127, 0, 0, 1], raw)),
            stdout,
            stderr,
            startup,
        }
    }

    /// The next stdout line containing `needle` (earlier ones are dropped).
    pub(crate) fn wait_for_line(&self, needle: &str) -> String {
        wait_for(&self.stdout, needle, "printed")
    }

    /// The next stderr (log) line containing `needle` (earlier ones are dropped).
    pub(crate) fn wait_for_log(&self, needle: &str) -> String {
        wait_for(&self.stderr, needle, "logged")
    }
}

impl Process {
    /// Kills the process and returns everything it printed on stdout and stderr that no
    /// `wait_for_*` took.
    pub(crate) fn finish(mut self) -> (String, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let rest = |lines: &std::sync::mpsc::Receiver<String>| {
            // The readers end at the pipes' end of file, which the kill brought.
            std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(20)).ok())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let stdout = self.startup.join("\n") + "\n" + &rest(&self.stdout);
        (stdout, rest(&self.stderr))
    }
}

fn wait_for(lines: &std::sync::mpsc::Receiver<String>, needle: &str, verb: &str) -> String {
    loop {
        match lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(_) => panic!("r0c never {verb} {needle:?}"),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_a_second_after_the_last_message_loses_nothing_that_was_seen() {
    let (_keep, dir) = data_dir();
    let mut server = Process::start(&dir);
    assert!(server.telnet.port() > 0);
    let mut alice = TestClient::joined(server.raw).await;
    let mut bob = TestClient::joined(server.raw).await;
    alice.line("/join #g").await;
    bob.line("/join #g").await;
    for index in 0..20 {
        alice.say(&format!("message {index}")).await;
    }
    bob.expect("kywmyv message 19").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.child.kill().expect("kill -9");
    server.child.wait().expect("reaped");
    drop(server);

    let server = Process::start(&dir);
    let mut carol = TestClient::joined(server.raw).await;
    carol.line("/join #g").await;
    // A teletype screen shows the newest lines of the reloaded history.
    carol.expect("kywmyv message 19").await;
    carol.expect("channel created at").await;
    drop(server);
    let store = r0c::store::Store::open(&dir.join("r0c.db")).expect("store opens");
    let texts: Vec<String> = store
        .recent_messages("g", 100)
        .expect("query")
        .into_iter()
        .map(|m| m.text)
        .collect();
    for index in 0..20 {
        assert!(
            texts.contains(&format!("message {index}")),
            "message {index} lost: {texts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly_with_history_on_disk() {
    let (_keep, dir) = data_dir();
    let mut server = Process::start(&dir);
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/join #g").await;
    alice.line("said just before shutdown").await;
    alice.expect("kywmyv said just before shutdown").await;
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    server.wait_for_line("r0c is down");
    let exit = server.child.wait().expect("exit status");
    assert!(exit.success(), "exit status {exit:?}");
    let store = r0c::store::Store::open(&dir.join("r0c.db")).expect("store opens");
    let stored = store.recent_messages("g", 10).expect("query");
    assert!(
        stored.iter().any(|m| m.text == "said just before shutdown"),
        "{stored:?}"
    );
}

#[test]
fn bad_arguments_get_one_clear_line_and_status_2() {
    let (_keep, dir) = data_dir();
    let cases: &[(&[&str], &str)] = &[
        (
            &["-pt", "5000", "-pn", "5000"],
            "port 5000 was specified for both -pt and -pn",
        ),
        (&["--bogus"], "--bogus"),
        (&["-i", "not-an-ip"], "not-an-ip"),
        (
            &["--ircn", "a,b,6667"],
            "invalid argument to --ircn: [a,b,6667]",
        ),
        (
            &["--tls-min", "TLSv1"],
            "TLS 1.0 and 1.1 and their ciphers are not supported",
        ),
        (&["--cert", "/tmp/x.pem"], "--cert and --key go together"),
    ];
    for (args, expected) in cases {
        let output = r0c()
            .args(["--dir", &dir.display().to_string()])
            .args(*args)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{stderr}"
        );
    }
}

#[test]
fn a_port_in_use_is_reported_with_status_1() {
    let (_keep, dir) = data_dir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let output = r0c()
        .args([
            "--dir",
            &dir.display().to_string(),
            "-i",
            "127.0.0.1",
            "-pt",
            &port.to_string(),
            "-pn",
            "0",
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("failed to listen on 127.0.0.1 port {port}")),
        "{stderr}"
    );
}

#[test]
fn legacy_positional_help_and_version() {
    let output = r0c().args(["2323", "-h"]).output().expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(stdout.contains("arg 1: Telnet port"), "{stdout}");
    let output = r0c().arg("--help").output().expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("-pt") && stdout.contains("(default: "),
        "{stdout}"
    );
}

#[test]
fn the_bash_client_can_be_printed_from_the_binary() {
    let output = r0c()
        .args(["--print-client", "bash"])
        .output()
        .expect("runs");
    assert!(output.status.success());
    let bundled =
        std::fs::read(format!("{}/clients/bash.sh", env!("CARGO_MANIFEST_DIR"))).expect("script");
    assert_eq!(output.stdout, bundled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_in_the_wizard_says_bye_and_with_dev_from_localhost_stops_the_server() {
    let (_keep, dir) = data_dir();
    let server = Process::start(&dir);
    let mut client = TestClient::connect(server.raw).await;
    client.expect("qwer asdf").await;
    client.send(b"qw\x03").await;
    client.expect("ok bye").await;
    client.expect_closed().await;
    // Without --dev the server carries on.
    let mut next = TestClient::connect(server.raw).await;
    next.expect("qwer asdf").await;
    drop(server);

    let (_keep, dir) = data_dir();
    let mut server = Process::start_with(&dir, free_ports(), &["--dev"]);
    let mut client = TestClient::connect(server.raw).await;
    client.expect("qwer asdf").await;
    client.send(b"\x03").await;
    client.expect("ok bye").await;
    server.wait_for_line("r0c is down");
    assert!(server.child.wait().expect("exit").success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_flood_keeps_every_message_that_was_seen_and_a_sound_database() {
    let (_keep, dir) = data_dir();
    let mut server = Process::start_with(&dir, free_ports(), &["--no-flood-limit"]);
    let mut flooders = Vec::new();
    for _ in 0..3 {
        let mut flooder = TestClient::joined(server.raw).await;
        flooder.line("/join #g").await;
        flooder.expect("has joined").await;
        flooders.push(flooder);
    }
    let mut witness = TestClient::joined(server.raw).await;
    witness.line("/join #g").await;
    witness.expect("has joined").await;
    // Three clients send as fast as they can; the witness reads along, and the server is
    // killed in the middle of it.
    let senders: Vec<_> = flooders
        .into_iter()
        .enumerate()
        .map(|(who, mut flooder)| {
            tokio::spawn(async move {
                for index in 0..400 {
                    flooder.line(&format!("flood-{who}-{index:03} end")).await;
                    if index % 50 == 0 {
                        flooder.drain(Duration::from_millis(1)).await;
                    }
                }
                flooder
            })
        })
        .collect();
    witness.read_for(Duration::from_millis(700)).await;
    server.child.kill().expect("kill -9");
    server.child.wait().expect("reaped");
    drop(server);
    for sender in senders {
        let _ = sender.await;
    }
    witness.read_for(Duration::from_millis(200)).await;
    let text = witness.text();
    let seen: Vec<String> = text
        .match_indices("flood-")
        .filter_map(|(at, _)| {
            // "flood-W-NNN", then " end" unless the line was cut off.
            let token = text.get(at..at + 11)?;
            text.get(at + 11..at + 15)
                .filter(|rest| rest.starts_with(" end"))
                .map(|_| token.to_string())
        })
        .collect();
    assert!(seen.len() > 10, "the witness saw the flood: {}", seen.len());

    let connection = rusqlite::Connection::open(dir.join("r0c.db")).expect("open the database");
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity check");
    assert_eq!(integrity, "ok");
    drop(connection);
    let store = r0c::store::Store::open(&dir.join("r0c.db")).expect("store opens");
    let stored: std::collections::HashSet<String> = store
        .recent_messages("g", 10_000)
        .expect("query")
        .into_iter()
        // Lines that arrived in one read were stored as one multi-line message.
        .flat_map(|m| m.text.split('\n').map(str::to_string).collect::<Vec<_>>())
        .collect();
    for token in &seen {
        assert!(
            stored.contains(&format!("{token} end")),
            "{token} was on a screen but is not in the store"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_server_backs_off_and_recovers() {
    let (_keep, dir) = data_dir();
    // A server allowed only 40 open files, and no per-address limits, meets 80 connections.
    let mut wrapper = Command::new("bash");
    wrapper.args([
        "-c",
        "ulimit -n 40 && exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_r0c"),
        "--max-per-ip",
        "0",
        "--conn-rate",
        "0",
    ]);
    let server = Process::spawn(wrapper, &dir, free_ports(), &[]);
    let mut crowd = Vec::new();
    for _ in 0..80 {
        crowd.push(
            tokio::net::TcpStream::connect(server.raw)
                .await
                .expect("connect"),
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut server = server;
    assert!(
        server.child.try_wait().expect("status").is_none(),
        "the server is still running"
    );
    // Once the crowd leaves, the server accepts and serves again.
    drop(crowd);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut client = TestClient::joined(server.raw).await;
    client.line("/join #after").await;
    client.expect("has joined").await;
}

#[test]
fn legacy_help_never_prints_the_password_file() {
    let (_keep, home) = data_dir();
    let app_dir = home.join(".r0c");
    std::fs::create_dir_all(&app_dir).expect("app dir");
    std::fs::write(app_dir.join("password.txt"), "correct-horse-42\n").expect("password file");
    for args in [
        &["2323", "-h"][..],
        &["2323", "1531", "--help"],
        &["1", "2", "my-hpw"],
    ] {
        let output = r0c().args(args).env("HOME", &home).output().expect("runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(
            stdout.contains("arg 3: admin password, default: the contents of")
                && stdout.contains("password.txt"),
            "{args:?}: {stdout}"
        );
        assert!(
            !stdout.contains("correct-horse") && !stderr.contains("correct-horse"),
            "{args:?}: {stdout}{stderr}"
        );
    }
}

#[test]
fn a_legacy_password_that_is_not_utf8_is_not_repeated_in_the_error() {
    use std::os::unix::ffi::OsStrExt;
    let (_keep, home) = data_dir();
    let password = std::ffi::OsStr::from_bytes(b"s3cr\xffet");
    let output = r0c()
        .args(["1", "2"])
        .arg(password)
        .env("HOME", &home)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("argument 3"), "{stderr}");
    assert!(!stderr.contains("s3cr"), "{stderr}");
}
