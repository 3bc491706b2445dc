//! The ssh listener end to end with Debian's OpenSSH client (`ssh`, `ssh-keygen`): a keyed
//! user in tmux chatting with Debian's telnet in another tmux, scrolling, resizing and
//! quitting; `ssh -T` teletype lines; a command refused; the host key kept across a restart; silent and garbage-sending sockets;
//! and, with russh's client (which can keep a small window and stop reading), a stalled client.
//!
//! `./test.sh` installs `openssh-client`. Where it is missing locally the tests say so and
//! pass; under CI (`CI=true`) a missing `ssh` fails them.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{PATIENCE, TestClient, TestServer, data_dir, test_config};
use crate::tmux::Tmux;

/// Whether OpenSSH's client is here; `false` (with a message) only outside CI.
fn have_ssh() -> bool {
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

/// A client key made with `ssh-keygen` in `dir`; returns its path.
fn client_key(dir: &Path) -> PathBuf {
    let path = dir.join("client_key");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen makes a key");
    path
}

/// The ssh options every test uses: no prompts, a known-hosts file of the test's own.
fn ssh_args(dir: &Path, key: Option<&Path>, address: SocketAddr, user: &str) -> Vec<String> {
    let mut args = vec![
        "-o".to_string(),
        "StrictHostKeyChecking=no".to_string(),
        "-o".to_string(),
        format!("UserKnownHostsFile={}", dir.join("known_hosts").display()),
        "-o".to_string(),
        "LogLevel=ERROR".to_string(),
        "-F".to_string(),
        "/dev/null".to_string(),
    ];
    match key {
        Some(key) => {
            args.push("-o".into());
            args.push("IdentitiesOnly=yes".into());
            args.push("-i".into());
            args.push(key.display().to_string());
        }
        None => {
            args.push("-o".into());
            args.push("PubkeyAuthentication=no".into());
        }
    }
    args.push("-p".into());
    args.push(address.port().to_string());
    args.push(format!("{user}@{}", address.ip()));
    args
}

/// Runs `ssh` to completion off the async workers; returns its exit code and stderr.
async fn ssh_output(args: Vec<String>) -> (Option<i32>, String, String) {
    let output = tokio::task::spawn_blocking(move || {
        Command::new("ssh")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("ssh runs")
    })
    .await
    .expect("ssh task");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_ssh_user_in_tmux_chats_with_telnet_scrolls_resizes_and_quits() {
    if !have_ssh() {
        return;
    }
    let (_keep, dir) = data_dir();
    let key = client_key(&dir);
    let server = TestServer::start_with_ssh(test_config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    // Bob is Debian's telnet in a terminal of its own, answering the wizard by hand.
    let bob = Tmux::start(
        80,
        24,
        &format!(
            "telnet {} {}; sleep 60",
            server.telnet.ip(),
            server.telnet.port()
        ),
    );
    tokio::task::block_in_place(|| {
        crate::tmux::telnet_wizard(&bob);
        bob.keys(&["/join #g", "Enter"]);
    });
    bob.wait_for("#g(1)");
    let command = format!(
        "ssh {}; echo ssh-exit-$?; sleep 60",
        ssh_args(&dir, Some(&key), ssh, "alice").join(" ")
    );
    let tmux = Tmux::start(80, 24, &command);
    // The wizard is skipped: the chat's status bar, with the user name as the nick.
    tmux.wait_for("alice>");
    tmux.keys(&["/join #g", "Enter"]);
    tmux.wait_for("#g(2)");
    tmux.keys(&["hello over ssh", "Enter"]);
    bob.wait_for("hello over ssh");
    bob.keys(&["hi ssh user", "Enter"]);
    let screen = tmux.wait_for("hi ssh user");
    let rows: Vec<&str> = screen.lines().collect();
    assert_eq!(rows.len(), 24, "{screen}");
    assert!(
        rows[22].contains("1: #g(2)"),
        "status bar on row 23:\n{screen}"
    );
    assert!(rows[23].starts_with("alice>"), "input line:\n{screen}");
    // Bob fills the channel (loopback is admin); alice scrolls back two pages with PgUp and
    // returns with PgDn.
    bob.keys(&["/fill 60 f", "Enter"]);
    tmux.wait_for(" f 59");
    tmux.keys(&["PPage"]);
    tmux.keys(&["PPage"]);
    // Two pages of 20 lines back, the oldest shown at the bottom.
    let screen = tmux_wait(&tmux, "two pages back", |screen| {
        let rows: Vec<&str> = screen.lines().collect();
        rows.get(21)
            .is_some_and(|row| row.trim_end().ends_with(" f 19"))
    });
    let rows: Vec<&str> = screen.lines().collect();
    assert!(
        rows[22].contains("+40"),
        "the status bar says scrolled:\n{screen}"
    );
    tmux.keys(&["NPage"]);
    tmux.keys(&["NPage"]);
    tmux.wait_for(" f 59");
    // A bigger window: the chat is drawn again for it (status bar on the new last row but one).
    tmux.resize(100, 30);
    let screen = tmux_wait(&tmux, "the redraw at 100x30", |screen| {
        let rows: Vec<&str> = screen.lines().collect();
        rows.len() == 30 && rows[28].contains("1: #g(2)") && rows[29].starts_with("alice>")
    });
    assert!(screen.contains(" f 59"), "{screen}");
    tmux.keys(&["/quit", "Enter"]);
    tmux.wait_for("ssh-exit-0");
    bob.wait_for("#g(1)");
    server.stop().await;
}

/// Waits until `done` holds for the tmux screen; returns it.
fn tmux_wait(tmux: &Tmux, what: &str, done: impl Fn(&str) -> bool) -> String {
    tokio::task::block_in_place(|| {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let screen = tmux.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never saw {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_without_a_pty_gets_plain_lines_and_guests_get_in() {
    if !have_ssh() {
        return;
    }
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_ssh(test_config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    let mut bob = TestClient::joined(server.raw).await;
    bob.line("/join #t").await;
    // A guest (no key) without a pty, its input a pipe.
    let mut args = vec!["-T".to_string()];
    args.extend(ssh_args(&dir, None, ssh, "piper"));
    let mut child = Command::new("ssh")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let (sender, received) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || sender.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = |needle: &str| {
        tokio::task::block_in_place(|| {
            let deadline = std::time::Instant::now() + PATIENCE;
            while !String::from_utf8_lossy(&seen).contains(needle) {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match received.recv_timeout(left) {
                    Ok(bytes) => seen.extend(bytes),
                    Err(_) => panic!(
                        "never saw {needle:?}; got:\n{}",
                        String::from_utf8_lossy(&seen)
                    ),
                }
            }
            String::from_utf8_lossy(&seen).into_owned()
        })
    };
    wait_for("piper>");
    stdin.write_all(b"/join #t\n").expect("write");
    bob.expect("piper").await;
    stdin.write_all(b"hello from a pipe\n").expect("write");
    bob.expect("hello from a pipe").await;
    bob.line("hi pipe").await;
    let text = wait_for("hi pipe");
    assert!(
        !text.contains('\x1b'),
        "teletype mode sends no escape codes:\n{text:?}"
    );
    stdin.write_all(b"/quit\n").expect("write");
    let status = tokio::task::block_in_place(|| child.wait()).expect("ssh exits");
    assert_eq!(status.code(), Some(0), "/quit ends the session");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_is_refused_and_a_restart_keeps_the_host_key() {
    if !have_ssh() {
        return;
    }
    let (_keep, dir) = data_dir();
    let key = client_key(&dir);
    let server = TestServer::start_with_ssh(test_config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    let mut args = ssh_args(&dir, Some(&key), ssh, "carol");
    args.push("uname".into());
    let (code, stdout, stderr) = ssh_output(args).await;
    assert_eq!(code, Some(1), "stdout {stdout:?} stderr {stderr:?}");
    assert!(stderr.contains("runs no commands"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let host_key = dir.join("ssh_host_ed25519_key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&host_key)
            .expect("host key")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let listed = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&host_key)
        .output()
        .expect("ssh-keygen -lf");
    assert!(listed.status.success(), "ssh-keygen reads the host key");
    server.stop().await;

    // The same data directory: the same host key, so the known_hosts entry still fits and
    // strict checking lets the client in (it gets the refusal again, not a host-key error).
    let server = TestServer::start_with_ssh(test_config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    let mut args = ssh_args(&dir, Some(&key), ssh, "carol");
    let port = args.iter().position(|a| a == "StrictHostKeyChecking=no");
    if let Some(at) = port {
        args[at] = "StrictHostKeyChecking=yes".into();
    }
    // The port differs from the first run's; known_hosts entries name it, so the entry is
    // copied for the new one, which is what a restart on the same port amounts to.
    let known = std::fs::read_to_string(dir.join("known_hosts")).expect("known_hosts");
    let moved: String = known
        .lines()
        .filter_map(|line| line.split_once(' ').map(|(_, rest)| rest))
        .map(|rest| format!("[127.0.0.1]:{} {rest}\n", ssh.port()))
        .collect();
    std::fs::write(dir.join("known_hosts"), moved).expect("known_hosts");
    args.push("uname".into());
    let (code, _, stderr) = ssh_output(args).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("WARNING"), "{stderr}");
    assert!(stderr.contains("runs no commands"), "{stderr}");
    server.stop().await;
}

#[tokio::test]
async fn a_silent_ssh_socket_is_dropped_and_garbage_after_the_banner_ends_cleanly() {
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.first_input_timeout = Duration::from_secs(1);
    let server = TestServer::start_with_ssh(config).await;
    let ssh = server.ssh.expect("ssh listener");

    let mut silent = TcpStream::connect(ssh).await.expect("connect");
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(PATIENCE, silent.read(&mut buf))
        .await
        .expect("banner in time")
        .expect("banner");
    assert!(buf[..n].starts_with(b"SSH-2.0-r0c"), "{:?}", &buf[..n]);
    let started = std::time::Instant::now();
    loop {
        match tokio::time::timeout(PATIENCE, silent.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(_)) => {}
            Err(_) => panic!("the silent client was not dropped"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5));

    let mut garbage = TcpStream::connect(ssh).await.expect("connect");
    garbage
        .write_all(b"SSH-2.0-test\r\n\xff\xff\xff\xff\x00\x01garbage garbage garbage")
        .await
        .expect("write");
    loop {
        match tokio::time::timeout(PATIENCE, garbage.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(_)) => {}
            Err(_) => panic!("garbage did not end the connection"),
        }
    }
    server.wait_for_open_connections(0).await;
    server.stop().await;
}

/// A russh client that trusts any host key and reads nothing it is not asked to.
struct Trusting;

/// A russh client session at `ssh`, authenticated as the guest `user` (no key).
async fn guest_session(ssh: SocketAddr, user: &str) -> russh::client::Handle<Trusting> {
    let mut session = russh::client::connect(
        std::sync::Arc::new(russh::client::Config::default()),
        ssh,
        Trusting,
    )
    .await
    .expect("ssh handshake");
    // The first `none` only asks which methods there are, as OpenSSH's does.
    let _probe = session.authenticate_none(user).await.expect("auth");
    assert!(
        session
            .authenticate_none(user)
            .await
            .expect("auth")
            .success()
    );
    session
}

impl russh::client::Handler for Trusting {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_client_that_stops_reading_is_dropped_by_the_stall_timeout() {
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.stall_timeout = Duration::from_secs(2);
    let server = TestServer::start_with_ssh(config).await;
    let ssh = server.ssh.expect("ssh listener");
    // A guest with a small window and a short queue, that never reads its channel.
    let client_config = russh::client::Config {
        window_size: 4096,
        channel_buffer_size: 4,
        ..Default::default()
    };
    let mut session = russh::client::connect(std::sync::Arc::new(client_config), ssh, Trusting)
        .await
        .expect("ssh handshake");
    // The first `none` is answered with the methods, as OpenSSH's probe is; the second gets
    // a guest in.
    let probe = session.authenticate_none("stalled").await.expect("auth");
    assert!(!probe.success());
    let guest = session.authenticate_none("stalled").await.expect("auth");
    assert!(guest.success());
    let channel = session.channel_open_session().await.expect("session");
    channel
        .request_pty(false, "xterm", 200, 60, 0, 0, &[])
        .await
        .expect("pty");
    channel.request_shell(false).await.expect("shell");
    channel.data_bytes(&b"/join #s\r"[..]).await.expect("typed");
    let mut bob = TestClient::joined(server.raw).await;
    bob.line("/join #s").await;
    bob.expect("stalled").await;
    server.wait_for_open_connections(2).await;
    // Screens of chat for a client that reads none of it.
    let line = "x".repeat(60);
    let deadline = tokio::time::Instant::now() + PATIENCE * 3;
    let mut said = 0;
    while server.admission.open_connections() > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled ssh client was never dropped ({said} lines said)"
        );
        bob.line(&format!("{said} {line}")).await;
        said += 1;
        bob.drain(Duration::from_millis(5)).await;
    }
    // Bob, on the same server, is still served.
    bob.line("still here").await;
    bob.expect("still here").await;
    drop(channel);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_window_sizes_and_a_second_channel_leave_the_session_working() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_ssh(test_config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    let session = guest_session(ssh, "sizer").await;
    let mut channel = session.channel_open_session().await.expect("session");
    channel
        .request_pty(false, "xterm", 0, 0, 0, 0, &[])
        .await
        .expect("pty");
    channel.request_shell(false).await.expect("shell");
    for (cols, rows) in [
        (0, 0),
        (65535, 65535),
        (u32::MAX, u32::MAX),
        (1, 1),
        (80, 24),
    ] {
        channel
            .window_change(cols, rows, 0, 0)
            .await
            .expect("window-change");
    }
    // One connection is one session: another channel is refused.
    assert!(session.channel_open_session().await.is_err());
    let mut bob = TestClient::joined(server.raw).await;
    bob.line("/join #w").await;
    channel.data_bytes(&b"/join #w\r"[..]).await.expect("typed");
    bob.expect("sizer").await;
    // The session goes on drawing: the status bar's member count reaches the client (the
    // frame that draws it changes only the count).
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !String::from_utf8_lossy(&seen).contains("(2)") {
        match tokio::time::timeout_at(deadline, channel.wait()).await {
            Ok(Some(russh::ChannelMsg::Data { data })) => seen.extend_from_slice(&data),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("no status bar: {}", String::from_utf8_lossy(&seen)),
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_channel_data_burst_ends_clearly_and_others_chat_on() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_ssh(test_config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    let session = guest_session(ssh, "burster").await;
    let channel = session.channel_open_session().await.expect("session");
    channel
        .request_pty(false, "xterm", 80, 24, 0, 0, &[])
        .await
        .expect("pty");
    channel.request_shell(false).await.expect("shell");
    let mut bob = TestClient::joined(server.raw).await;
    bob.line("/join #b").await;
    let (mut reader, writer) = channel.split();
    writer.data(&b"/join #b\r"[..]).await.expect("typed");
    bob.expect("burster").await;
    // What the server says, collected meanwhile (only the tail is kept: the last word counts).
    let said = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(message) = reader.wait().await {
            if let russh::ChannelMsg::Data { data } = message {
                seen.extend_from_slice(&data);
                if seen.len() > 1 << 20 {
                    seen.drain(..seen.len() - (1 << 16));
                }
                if String::from_utf8_lossy(&seen).contains("your line is too long") {
                    return true;
                }
            }
        }
        false
    });
    // 8 MiB of keystrokes without a newline, as fast as the channel's window lets them in.
    let chunk = vec![b'a'; 64 * 1024];
    for _ in 0..128 {
        tokio::time::timeout(PATIENCE, writer.data(&chunk[..]))
            .await
            .expect("the server keeps reading")
            .expect("the channel stays open");
    }
    let told = tokio::time::timeout(PATIENCE, said)
        .await
        .expect("the sender is told")
        .expect("reader task");
    assert!(told, "the sender is told the line is too long");
    writer.data(&b"\r"[..]).await.expect("Enter");
    // The line is kept at its cap and posted; everyone chats on.
    bob.expect(&format!("burster {}", "a".repeat(40))).await;
    bob.say("still chatting").await;
    bob.expect("still chatting").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_guests_a_client_without_a_key_is_told_and_refused() {
    if !have_ssh() {
        return;
    }
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.ssh.guests = false;
    let server = TestServer::start_with_ssh(config).await;
    let ssh = server.ssh.expect("ssh listener");
    let mut args = ssh_args(&dir, None, ssh, "guest");
    // The banner shows at the INFO log level.
    if let Some(at) = args.iter().position(|a| a == "LogLevel=ERROR") {
        args[at] = "LogLevel=INFO".into();
    }
    args.push("-o".into());
    args.push("BatchMode=yes".into());
    let (code, _, stderr) = ssh_output(args).await;
    assert_eq!(code, Some(255), "{stderr}");
    assert!(stderr.contains("ssh keys only"), "{stderr}");
    // A key still gets in.
    let key = client_key(&dir);
    let mut args = ssh_args(&dir, Some(&key), ssh, "keyed");
    args.push("true".into());
    let (code, _, stderr) = ssh_output(args).await;
    assert_eq!(
        code,
        Some(1),
        "the command refusal, after a successful login: {stderr}"
    );
    assert!(stderr.contains("runs no commands"), "{stderr}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_user_name_keeps_the_automatic_nick_with_the_reason() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_ssh(test_config(&dir)).await;
    let ssh = server.ssh.expect("ssh listener");
    let mut bob = TestClient::joined(server.raw).await;
    bob.line("/nick dup").await;
    bob.expect("dup").await;
    let session = guest_session(ssh, "dup").await;
    // No pty: teletype lines.
    let mut channel = session.channel_open_session().await.expect("session");
    channel.request_shell(false).await.expect("shell");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !String::from_utf8_lossy(&seen).contains("that nick is taken") {
        match tokio::time::timeout_at(deadline, channel.wait()).await {
            Ok(Some(russh::ChannelMsg::Data { data })) => seen.extend_from_slice(&data),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("no reason: {}", String::from_utf8_lossy(&seen)),
        }
    }
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(!text.contains("dup>"), "{text}");
    assert!(!text.contains('\x1b'), "{text:?}");
    server.stop().await;
}
