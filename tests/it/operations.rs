//! What an operator does with the real `r0c` binary: the manual and the shell completions,
//! `--version`, `r0c backup` while clients flood, reloading with SIGHUP (the MOTD, the TLS
//! certificate, a broken config file), the systemd unit, and shutdown under a flood.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::process::{Process, free_ports, r0c};
use crate::support::{TestClient, data_dir};

/// Sends `signal` (a name `kill` knows, like HUP) to the process.
fn signal(server: &Process, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), server.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal}");
}

/// Whether `program` can be run (found on PATH).
fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `program` with `args`, `input` on its stdin; its stdout and stderr.
fn run_with_input(program: &str, args: &[&str], input: &[u8]) -> (String, String, bool) {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{program} runs: {error}"));
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("input written");
    drop(stdin);
    let output = child.wait_with_output().expect("finishes");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.success(),
    )
}

#[test]
fn the_manual_renders_with_man_and_describes_every_flag_and_signal() {
    let output = r0c().arg("--print-man").output().expect("r0c runs");
    assert!(output.status.success(), "{output:?}");
    // ./test.sh installs man-db; `man -l -` formats a page read from stdin, and `--warnings`
    // makes groff complain about anything malformed.
    let (page, warnings, ok) = run_with_input("man", &["--warnings", "-l", "-"], &output.stdout);
    assert!(ok, "man failed: {warnings}");
    assert_eq!(warnings.trim(), "", "groff warnings");
    for expected in [
        "--ssh",
        "--irc-listen",
        "--log-format",
        "--print-completions",
        "r0c backup",
        "SIGHUP",
        "BACKUP AND RESTORE",
    ] {
        assert!(
            page.contains(expected),
            "the manual lacks {expected}:\n{page}"
        );
    }
}

#[test]
fn bash_completes_ss_to_ssh_from_the_flag_table() {
    let script = r0c()
        .args(["--print-completions", "bash"])
        .output()
        .expect("r0c runs");
    assert!(script.status.success(), "{script:?}");
    // bash sources the script and asks its completion function what `r0c --ss` may become.
    let probe = "source /dev/stdin; COMP_WORDS=(r0c --ss); COMP_CWORD=1; COMP_LINE='r0c --ss'; \
                 COMP_POINT=${#COMP_LINE}; _r0c r0c --ss r0c; printf '%s\\n' \"${COMPREPLY[@]}\"";
    let (candidates, errors, ok) = run_with_input("bash", &["-c", probe], &script.stdout);
    assert!(ok, "bash failed: {errors}");
    let candidates: Vec<&str> = candidates.lines().collect();
    assert!(candidates.contains(&"--ssh"), "{candidates:?}");
    // Every candidate extends --ssh, so bash completes `--ss` to `--ssh` at once.
    assert!(
        candidates
            .iter()
            .all(|candidate| candidate.starts_with("--ssh")),
        "{candidates:?}"
    );
    // The subcommands are completed too.
    let probe = "source /dev/stdin; COMP_WORDS=(r0c bac); COMP_CWORD=1; COMP_LINE='r0c bac'; \
                 COMP_POINT=${#COMP_LINE}; _r0c r0c bac r0c; printf '%s\\n' \"${COMPREPLY[@]}\"";
    let (candidates, _, _) = run_with_input("bash", &["-c", probe], &script.stdout);
    assert_eq!(candidates.trim(), "backup");
}

#[test]
fn zsh_and_fish_completions_are_printed() {
    for (shell, start) in [("zsh", "#compdef r0c"), ("fish", "")] {
        let output = r0c()
            .args(["--print-completions", shell])
            .output()
            .expect("r0c runs");
        assert!(output.status.success(), "{output:?}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(script.starts_with(start), "{shell}: {script}");
        assert!(script.contains("ssh-key"), "{shell}: {script}");
    }
    let refused = r0c()
        .args(["--print-completions", "tcsh"])
        .output()
        .expect("r0c runs");
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
}

#[test]
fn version_names_the_git_commit() {
    let output = r0c().arg("--version").output().expect("r0c runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let rest = text
        .trim()
        .strip_prefix(&format!("r0c {} (git ", env!("CARGO_PKG_VERSION")))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected version line {text:?}"));
    // The tests run in a git checkout (CI clones have .git), so the commit is known.
    assert!(
        rest.len() == 12 && rest.bytes().all(|b| b.is_ascii_hexdigit()),
        "not an abbreviated commit: {rest:?}"
    );
}

/// IRC clients (no wizard to go through, whatever the machine's load) that post to #flood as
/// fast as the server takes it (flood control off) until `stop`, each reading and dropping
/// what it is sent so that none stalls. Returns the tasks; `sent_lines` counts the lines.
async fn flood(
    irc: std::net::SocketAddr,
    clients: usize,
    stop: Arc<AtomicBool>,
    sent_lines: Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tasks = Vec::new();
    for index in 0..clients {
        let stream = tokio::net::TcpStream::connect(irc).await.expect("connect");
        let (mut reader, mut writer) = stream.into_split();
        tasks.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 65536];
            while let Ok(length) = reader.read(&mut buffer).await {
                if length == 0 {
                    return;
                }
            }
        }));
        let (stop, sent_lines) = (stop.clone(), sent_lines.clone());
        tasks.push(tokio::spawn(async move {
            let hello = format!("NICK flooder{index}\r\nUSER f 0 * :f\r\nJOIN #flood\r\n");
            if writer.write_all(hello.as_bytes()).await.is_err() {
                return;
            }
            let padding = "x".repeat(300);
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let line = format!("PRIVMSG #flood :flood {index} {sent} {padding}\r\n");
                if writer.write_all(line.as_bytes()).await.is_err() {
                    return;
                }
                sent += 1;
                sent_lines.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        }));
    }
    tasks
}

/// Starts r0c in `dir` with flood control off and the IRC listener on a free port (last on
/// the command line, after `Process::spawn` turns it off); the server and the IRC address.
fn start_with_irc(dir: &Path) -> (Process, std::net::SocketAddr) {
    let (irc_port, _) = free_ports();
    let mut command = Command::new("sh");
    command.args([
        "-c",
        &format!("exec \"$0\" \"$@\" --irc-listen {irc_port}"),
        env!("CARGO_BIN_EXE_r0c"),
    ]);
    let server = Process::spawn(command, dir, free_ports(), &["--no-flood-limit"]);
    (
        server,
        std::net::SocketAddr::from(([127, 0, 0, 1], irc_port)),
    )
}

/// Waits until the flooding clients have sent `lines` lines in all.
async fn flood_reaches(sent: &AtomicU64, lines: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while sent.load(Ordering::Relaxed) < lines {
        assert!(
            Instant::now() < deadline,
            "the flood never reached {lines} lines"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `PRAGMA integrity_check` of the database at `path` and its number of channel messages.
fn check_database(path: &Path) -> (String, i64) {
    let connection =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("the copy opens");
    let verdict: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check");
    let messages: i64 = connection
        .query_row("SELECT count(*) FROM message", [], |row| row.get(0))
        .expect("count");
    (verdict, messages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_a_flood_opens_and_passes_integrity_check() {
    let (_keep, dir) = data_dir();
    let (server, irc) = start_with_irc(&dir);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let flooders = flood(irc, 4, stop.clone(), sent.clone()).await;
    // The flood is on: the clients have sent a thousand lines, and the server has committed
    // some of them (sent is not yet stored: a busy server may still be reading them).
    flood_reaches(&sent, 1000).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while check_database(&dir.join("r0c.db")).1 == 0 {
        assert!(Instant::now() < deadline, "the flood was never committed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let backups = dir.join("backups");
    std::fs::create_dir(&backups).expect("mkdir");
    let copy = backups.join("r0c-copy.db");
    let mut counts = Vec::new();
    for _ in 0..3 {
        let output = tokio::task::spawn_blocking({
            let (copy, dir) = (copy.clone(), dir.clone());
            move || {
                r0c()
                    .arg("backup")
                    .arg(&copy)
                    .arg("--dir")
                    .arg(&dir)
                    .output()
                    .expect("r0c backup runs")
            }
        })
        .await
        .expect("joined");
        assert!(output.status.success(), "{output:?}");
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(said.contains("integrity check ok"), "{said}");
        let (verdict, messages) = check_database(&copy);
        assert_eq!(verdict, "ok");
        counts.push(messages);
        // Only the copy is left: no temporary file, no WAL beside it.
        let names: Vec<String> = std::fs::read_dir(&backups)
            .expect("ls")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["r0c-copy.db"]);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&copy).expect("stat").permissions(),
        );
        assert_eq!(mode & 0o077, 0, "the copy is private: {mode:o}");
    }
    // Each copy is a later snapshot of a chat that keeps growing.
    assert!(counts[0] > 0, "{counts:?}");
    assert!(
        counts.windows(2).all(|pair| pair[0] <= pair[1]),
        "{counts:?}"
    );
    stop.store(true, Ordering::Relaxed);
    for task in flooders {
        task.await.expect("flooder");
    }
    let mut server = server;
    signal(&server, "TERM");
    server.wait_for_line("r0c is down");
    server.child.wait().expect("exit status");
    drop(server);
    // A backup of a stopped server's database is complete: every message is in it.
    let output = r0c()
        .arg("backup")
        .arg(&copy)
        .arg("--dir")
        .arg(&dir)
        .output()
        .expect("r0c backup runs");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        check_database(&copy).1,
        check_database(&dir.join("r0c.db")).1
    );
}

#[test]
fn a_backup_without_a_database_says_where_it_looked() {
    let (_keep, dir) = data_dir();
    let output = r0c()
        .arg("backup")
        .arg(dir.join("copy.db"))
        .arg("--dir")
        .arg(dir.join("nothing-here"))
        .output()
        .expect("r0c backup runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("there is no database at"), "{said}");
    assert!(!dir.join("copy.db").exists());
}

/// A config file for a server on `ports` on 127.0.0.1, with `extra` lines.
fn write_config(dir: &Path, (telnet, raw): (u16, u16), extra: &str) {
    let text = format!(
        "listen-ip = \"127.0.0.1\"\npt = {telnet}\npn = {raw}\nweb = 0\nssh = 0\nirc-listen = 0\n{extra}"
    );
    std::fs::write(dir.join("r0c.toml"), text).expect("write r0c.toml");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_changes_the_motd_for_new_clients_while_a_session_carries_on() {
    let (_keep, dir) = data_dir();
    let ports = free_ports();
    let (first, second) = (dir.join("motd-1.txt"), dir.join("motd-2.txt"));
    std::fs::write(&first, "welcome to the first motd\n").expect("motd 1");
    std::fs::write(&second, "the second motd after reload\n").expect("motd 2");
    write_config(
        &dir,
        ports,
        &format!("motd = {:?}\n", first.display().to_string()),
    );
    let mut command = r0c();
    command.args(["--dir", &dir.display().to_string()]);
    let server = Process::launch(command, ports);
    let mut alice = TestClient::joined(server.raw).await;
    alice.expect("welcome to the first motd").await;
    alice.line("/join #g").await;
    alice.say("before the reload").await;

    // The file now names the other MOTD, and a flag that a running server cannot change.
    write_config(
        &dir,
        ports,
        &format!(
            "motd = {:?}\nnsalt = \"another salt\"\n",
            second.display().to_string()
        ),
    );
    signal(&server, "HUP");
    let applied = server.wait_for_line("reloaded;");
    assert!(applied.contains("--motd"), "{applied}");
    let kept = server.wait_for_line("kept until a restart");
    assert!(kept.contains("--nsalt"), "{kept}");
    assert!(!kept.contains("--motd"), "{kept}");

    let mut bob = TestClient::joined(server.raw).await;
    bob.expect("the second motd after reload").await;
    assert!(!bob.text().contains("first motd"), "{}", bob.text());
    // Alice's session carries on through the reload: she speaks and bob sees it.
    bob.line("/join #g").await;
    bob.expect("before the reload").await;
    alice.say("after the reload").await;
    bob.expect("after the reload").await;

    // A config file that does not parse changes nothing, and says so.
    std::fs::write(dir.join("r0c.toml"), "pt = [unclosed\n").expect("broken file");
    signal(&server, "HUP");
    let failed = server.wait_for_line("reload failed, nothing changed");
    assert!(failed.contains("r0c.toml"), "{failed}");
    let mut carol = TestClient::joined(server.raw).await;
    carol.expect("the second motd after reload").await;
    alice.say("still here").await;
}

/// The subject line of the certificate a TLS client is served on `port`.
fn served_subject(port: u16) -> String {
    let served = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("openssl s_client runs");
    let (subject, errors, ok) =
        run_with_input("openssl", &["x509", "-noout", "-subject"], &served.stdout);
    assert!(ok, "no certificate served: {errors}");
    subject
}

#[test]
fn sighup_serves_a_changed_certificate_to_the_next_tls_client() {
    let (_keep, dir) = data_dir();
    let ports = free_ports();
    let (tls_port, _) = free_ports();
    let tls_port = tls_port.to_string();
    let server = Process::start_with(&dir, ports, &["-tpn", &tls_port, "--irc-listen-tls", "0"]);
    let tls_port: u16 = tls_port.parse().expect("port");
    // The certificate generated at start.
    let before = served_subject(tls_port);
    assert!(!before.contains("reloaded.example"), "{before}");

    // A new certificate and key in the same file, as an operator's renewal job writes it.
    let (key, cert) = (dir.join("new.key"), dir.join("new.crt"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=reloaded.example", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl req runs");
    assert!(made.success());
    let pem = std::fs::read_to_string(&key).expect("key")
        + &std::fs::read_to_string(&cert).expect("cert");
    std::fs::write(dir.join("cert.pem"), pem).expect("replace cert.pem");
    // Until the reload, the old certificate is served.
    assert_eq!(served_subject(tls_port), before);

    signal(&server, "HUP");
    let applied = server.wait_for_line("reloaded;");
    assert!(applied.contains("TLS certificate"), "{applied}");
    let after = served_subject(tls_port);
    assert!(after.contains("reloaded.example"), "{after}");

    // A certificate file that cannot be used keeps the one in use.
    std::fs::write(dir.join("cert.pem"), "not a certificate\n").expect("break cert.pem");
    signal(&server, "HUP");
    let refused = server.wait_for_line("TLS certificate not reloaded");
    assert!(refused.contains("the old one stays"), "{refused}");
    assert!(served_subject(tls_port).contains("reloaded.example"));
}

/// The unit file with `ExecStart` pointing at the binary under test (the unit names the
/// installed path, which `systemd-analyze verify` checks exists).
fn unit_for_this_binary(dir: &Path) -> std::path::PathBuf {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/r0c.service"))
        .expect("deploy/r0c.service");
    let unit = unit.replace("/usr/local/bin/r0c", env!("CARGO_BIN_EXE_r0c"));
    let path = dir.join("r0c.service");
    std::fs::write(&path, unit).expect("write the unit");
    path
}

#[test]
fn systemd_analyze_verify_passes_on_the_unit() {
    if !installed("systemd-analyze") {
        eprintln!("SKIPPED: systemd-analyze is not installed (Debian package systemd)");
        return;
    }
    let (_keep, dir) = data_dir();
    let unit = unit_for_this_binary(&dir);
    // `Documentation=man:r0c(1)`: verify runs `man r0c`, which finds the page printed here.
    let man1 = dir.join("man").join("man1");
    std::fs::create_dir_all(&man1).expect("mkdir");
    let page = r0c().arg("--print-man").output().expect("r0c runs");
    std::fs::write(man1.join("r0c.1"), page.stdout).expect("write the page");
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .env("MANPATH", dir.join("man"))
        .output()
        .expect("systemd-analyze runs");
    let said = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{said}");
    assert_eq!(said.trim(), "", "systemd-analyze verify complained");
    let text = std::fs::read_to_string(&unit).expect("unit");
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "WatchdogSec=",
    ] {
        assert!(text.contains(line), "the unit lacks {line}");
    }
}

/// `TimeoutStopSec` of the systemd unit: how long shutdown may take before systemd kills.
fn stop_timeout() -> Duration {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/r0c.service"))
        .expect("deploy/r0c.service");
    let seconds = unit
        .lines()
        .find_map(|line| line.strip_prefix("TimeoutStopSec="))
        .and_then(|value| value.trim().parse().ok())
        .expect("the unit sets TimeoutStopSec in seconds");
    Duration::from_secs(seconds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_under_a_flood_ends_within_the_units_stop_timeout_with_a_sound_database() {
    let (_keep, dir) = data_dir();
    let (mut server, irc) = start_with_irc(&dir);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let flooders = flood(irc, 8, stop.clone(), sent.clone()).await;
    flood_reaches(&sent, 4000).await;
    let asked = Instant::now();
    signal(&server, "TERM");
    let exit = tokio::task::spawn_blocking(move || {
        let exit = server.child.wait().expect("exit status");
        (exit, server)
    });
    let (exit, server) = exit.await.expect("joined");
    let took = asked.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert!(exit.success(), "exit status {exit:?}");
    // The bound is systemd's, not a guess: past it systemd kills the server.
    assert!(took < stop_timeout(), "shutdown took {took:?}");
    eprintln!("shutdown under a flood took {took:?}");
    drop(server);
    for task in flooders {
        task.await.expect("flooder");
    }
    let (verdict, messages) = check_database(&dir.join("r0c.db"));
    assert_eq!(verdict, "ok");
    eprintln!("{messages} messages stored");
    assert!(messages > 0, "{messages}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_at_v_are_one_object_a_line_without_what_users_typed() {
    let (_keep, dir) = data_dir();
    let server = Process::start_with(&dir, free_ports(), &["-v", "--log-format", "json"]);
    let mut client = TestClient::joined(server.raw).await;
    client.line("/join #g").await;
    client.say("a secret only users may read").await;
    client.line("/quit").await;
    // -v logs the connection at info level, which RUST_LOG unset would not.
    let connected = server.wait_for_log("\"peer\"");
    let (_, stderr) = server.finish();
    let logs: Vec<&str> = std::iter::once(connected.as_str())
        .chain(stderr.lines())
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert!(logs.len() > 1, "{logs:?}");
    for line in &logs {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"));
        assert!(object.get("level").is_some(), "{line}");
        assert!(!line.contains("a secret"), "user text in the log: {line}");
    }
    assert!(
        logs.iter().any(|line| line.contains("\"INFO\"")),
        "no info line at -v: {logs:?}"
    );
}

/// The next datagram on the notify socket that contains `state`, as systemd would read them.
fn next_notification(socket: &std::os::unix::net::UnixDatagram, state: &str) -> String {
    let mut buffer = [0u8; 4096];
    loop {
        let length = socket
            .recv(&mut buffer)
            .unwrap_or_else(|error| panic!("no {state} notification: {error}"));
        let text = String::from_utf8_lossy(&buffer[..length]).into_owned();
        if text.lines().any(|line| line == state) {
            return text;
        }
    }
}

#[test]
fn systemd_hears_ready_reloading_watchdog_and_stopping() {
    let (_keep, dir) = data_dir();
    // The socket systemd gives a Type=notify service, here the test's own.
    let path = dir.join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("bind the notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut command = r0c();
    command
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "2000000")
        .env_remove("WATCHDOG_PID");
    let mut server = Process::spawn(command, &dir, free_ports(), &[]);
    next_notification(&socket, "READY=1");
    signal(&server, "HUP");
    let reloading = next_notification(&socket, "RELOADING=1");
    // systemd 253 and later want the time of the reload with it.
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    next_notification(&socket, "READY=1");
    next_notification(&socket, "WATCHDOG=1");
    signal(&server, "TERM");
    next_notification(&socket, "STOPPING=1");
    assert!(server.child.wait().expect("exit").success());
}

/// The ed25519 host key an ssh client is shown on `port` (ssh-keyscan's key line).
fn scanned_host_key(port: u16) -> String {
    let output = Command::new("ssh-keyscan")
        .args(["-t", "ed25519", "-p", &port.to_string(), "127.0.0.1"])
        .stderr(Stdio::null())
        .output()
        .expect("ssh-keyscan runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let key = text
        .split_whitespace()
        .skip_while(|word| *word != "ssh-ed25519")
        .nth(1)
        .unwrap_or_else(|| panic!("no host key scanned: {text:?}"));
    key.to_owned()
}

#[test]
fn sighup_serves_a_changed_ssh_host_key_to_the_next_client() {
    let (_keep, dir) = data_dir();
    let (ssh_port, _) = free_ports();
    // Process::spawn turns the ssh listener off after the extra flags (the last one wins),
    // so the wrapper adds `--ssh PORT` after everything.
    let mut command = Command::new("sh");
    command.args([
        "-c",
        &format!("exec \"$0\" \"$@\" --ssh {ssh_port}"),
        env!("CARGO_BIN_EXE_r0c"),
    ]);
    let server = Process::spawn(command, &dir, free_ports(), &[]);
    let before = scanned_host_key(ssh_port);

    let key = dir.join("ssh_host_ed25519_key");
    std::fs::remove_file(&key).expect("remove the old key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen runs");
    assert!(made.success());
    let new_key = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    assert_eq!(
        scanned_host_key(ssh_port),
        before,
        "changed before the reload"
    );

    signal(&server, "HUP");
    let applied = server.wait_for_line("reloaded;");
    assert!(
        applied.contains("ssh host key (fingerprint SHA256:"),
        "{applied}"
    );
    let after = scanned_host_key(ssh_port);
    assert_ne!(after, before);
    assert!(new_key.contains(&after), "{after} is not {new_key}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_a_new_per_address_limit_to_new_connections_only() {
    let (_keep, dir) = data_dir();
    let ports = free_ports();
    // Loopback is not exempt here, so the per-address limit applies to the test's clients.
    write_config(&dir, ports, "limit-exempt = \"none\"\nmax-per-ip = 16\n");
    let mut command = r0c();
    command.args(["--dir", &dir.display().to_string()]);
    let server = Process::launch(command, ports);
    let mut first = TestClient::joined(server.raw).await;
    let mut second = TestClient::joined(server.raw).await;
    first.line("/join #g").await;
    second.line("/join #g").await;

    write_config(&dir, ports, "limit-exempt = \"none\"\nmax-per-ip = 2\n");
    signal(&server, "HUP");
    let applied = server.wait_for_line("reloaded;");
    assert!(applied.contains("--max-per-ip"), "{applied}");
    // A third connection from the address is refused at once with the limit's line ...
    let mut third = TestClient::connect(server.raw).await;
    third
        .expect("too many connections from your address (at most 2 at a time)")
        .await;
    third.expect_closed().await;
    // ... while the two already open carry on.
    first.say("the limit changed under us").await;
    second.expect("the limit changed under us").await;
}
