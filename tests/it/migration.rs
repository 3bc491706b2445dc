//! Migration from the real r0c 1.6.1 (installed from PyPI into `bench/.venv`): what it logged
//! is imported, shown by our server in order, found by `/g`, and exported back so that r0c
//! loads it again.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use r0c::migrate::{LineOutcome, parse_record};

use crate::support::{TestClient, TestServer, data_dir, stdout_lines, test_config, wait_for_line};

/// A running r0c 1.6.1 with `home/.r0c` as its app dir.
struct Original {
    child: Child,
    raw: SocketAddr,
    stdout: std::sync::mpsc::Receiver<String>,
}

impl Original {
    fn start(python: &Path, home: &Path) -> Original {
        let ports: Vec<u16> = (0..2)
            .map(|_| {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|listener| listener.local_addr())
                    .expect("a free port")
                    .port()
            })
            .collect();
        let mut child = Command::new(python)
            .args(["-m", "r0c", "-i", "127.0.0.1", "-pt"])
            .arg(ports[0].to_string())
            .arg("-pn")
            .arg(ports[1].to_string())
            // Installed, r0c keeps its app dir in ~/.r0c (spec §1.3).
            .env("HOME", home)
            .current_dir(home)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("r0c 1.6.1 starts");
        let stdout = stdout_lines(&mut child);
        let original = Original {
            child,
            raw: SocketAddr::from(([127, 0, 0, 1], ports[1])),
            stdout,
        };
        original.wait_for_line("r0c is up");
        original
    }

    fn wait_for_line(&self, needle: &str) {
        wait_for_line(&self.stdout, needle);
    }

    /// SIGINT, as a user stops it; its logs are flushed and closed on the way down.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        self.wait_for_line("r0c is down");
        let _ = self.child.wait();
    }
}

impl Drop for Original {
    fn drop(&mut self) {
        // Only if `stop` was not reached (a failed assertion): by PID, our own child.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs our binary's `import` or `export`; returns its stdout, asserting success.
fn r0c(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_r0c"))
        .args(args)
        .output()
        .expect("r0c runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "r0c {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// An r0c log of `#archive` written by hand: 200 hourly messages from 2018-01-20, and the
/// kinds of damage a log collects.
fn write_archive(log: &Path) {
    let directory = log.join("chan/archive");
    std::fs::create_dir_all(&directory).expect("mkdir");
    let start: i64 = 1_516_406_400; // 2018-01-20T00:00:00Z
    let mut bytes = format!("1 {start:x}\n").into_bytes();
    for index in 0..200 {
        let ticks = (start + index * 3600) * 8;
        bytes.extend(format!("{ticks:x} dave archive {index:03}\n").into_bytes());
        if index == 10 {
            bytes.extend(b"not a record\n");
            bytes.extend(format!("{:x} dave bad ", ticks + 1).into_bytes());
            bytes.extend(b"\xff utf-8\n");
            bytes.extend(b"10 dave ");
            bytes.extend(vec![b'y'; 100_000]);
            bytes.push(b'\n');
        }
    }
    std::fs::write(directory.join("2018-0120-000000"), bytes).expect("write log");
    std::fs::write(directory.join("notes.txt"), "not a log").expect("write");
}

/// Walks r0c 1.6.1's wizard on its raw port as [`TestClient::wizard`] walks ours, except
/// that r0c waits for the answer to its cursor-position probe ("running speedtest") before
/// it opens the chat.
async fn join_original(address: SocketAddr) -> TestClient {
    let mut client = TestClient::connect(address).await;
    client.expect("qwer asdf").await;
    for key in "qwer asdf\n\n".bytes() {
        client.send(&[key]).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.expect("nothing happened").await;
    client.send(b"b").await;
    client.expect("does colours work?").await;
    client.send(b"y").await;
    client.expect("which line looks like").await;
    client.send(b"a").await;
    client.expect("running speedtest").await;
    client.report_size(250, 50).await;
    client.expect("r0c readme (and status info)").await;
    client
}

/// The rows of the screen that contain each needle, which must all be there.
fn rows_of(screen: &str, needles: &[&str]) -> Vec<usize> {
    let lines: Vec<&str> = screen.lines().collect();
    needles
        .iter()
        .map(|needle| {
            lines
                .iter()
                .position(|line| line.contains(needle))
                .unwrap_or_else(|| panic!("{needle:?} is not on the screen:\n{screen}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_of_r0c_1_6_1_is_imported_shown_in_order_and_exported_back() {
    let python = crate::support::original_r0c();
    let (_keep_home, home) = data_dir();
    let original = Original::start(&python, &home);
    let mut alice = join_original(original.raw).await;
    alice.line("/join #old").await;
    alice.expect("#old").await;
    let said = [
        "first from the original",
        "second with ünïcödé ☃",
        "third is red",
    ];
    alice.say(said[0]).await;
    alice.say(said[1]).await;
    // CTRL-K 1: red, as typed; r0c logs it as ESC[0;31m.
    alice.line("third is \x0b1red").await;
    alice.expect("red").await;
    alice.drain(Duration::from_millis(300)).await;
    drop(alice);
    // r0c 1.6.1 handles the disconnect before the SIGINT: once, with both arriving together
    // under a loaded test run, its shutdown never finished.
    tokio::time::sleep(Duration::from_secs(1)).await;
    original.stop();
    let original_log = home.join(".r0c/log");
    let channel_dir = original_log.join("chan/old");
    assert!(
        channel_dir.is_dir(),
        "r0c logged nothing at {channel_dir:?}"
    );
    write_archive(&original_log);

    // Import, twice: the second run finds everything stored.
    let (_keep_ours, ours) = data_dir();
    let from = home.join(".r0c").display().to_string();
    let dir = ours.display().to_string();
    let first = r0c(&["import", "--from", &from, "--dir", &dir]);
    eprintln!("{first}");
    assert!(first.contains("#old: "), "{first}");
    assert!(
        first.contains(
            "#archive: 202 imported, 0 already present, 1 malformed lines skipped, \
                        1 overlong messages cut, 1 lines with invalid UTF-8"
        ),
        "{first}"
    );
    assert!(first.contains("1 files ignored"), "{first}");
    assert!(first.contains("client configs: 1 imported"), "{first}");
    let second = r0c(&["import", "--from", &from, "--dir", &dir]);
    assert!(second.contains("total: 0 messages imported"), "{second}");
    assert!(
        second.contains("client configs: 0 imported, 1 already present"),
        "{second}"
    );

    // Our server shows the old messages in order, before anything newer.
    let server = TestServer::start_with(test_config(&ours)).await;
    let mut bob = TestClient::joined(server.raw).await;
    bob.line("/join #old").await;
    bob.expect(said[2]).await;
    bob.say("new in our server").await;
    bob.drain(Duration::from_millis(200)).await;
    let rows = rows_of(
        &bob.screen(),
        &[said[0], said[1], said[2], "new in our server"],
    );
    assert!(
        rows.windows(2).all(|w| w[0] < w[1]),
        "{rows:?}\n{}",
        bob.screen()
    );
    // The colour came along: "red" is drawn in red.
    let row = u16::try_from(rows[2]).expect("row");
    let line = bob.row(row);
    let column = line.find("red").map(|byte| line[..byte].chars().count());
    let cell = column.and_then(|c| bob.terminal().cell(row, u16::try_from(c).ok()?));
    assert_eq!(
        cell.map(|c| c.fgcolor()),
        Some(vt100::Color::Idx(1)),
        "{line:?}"
    );

    // `/g` to a date finds the imported archive.
    bob.line("/join #archive").await;
    bob.expect("archive 199").await;
    bob.line("/g 2018-01-22").await;
    bob.expect_row(1, "archive 048").await;
    server.stop().await;

    // Export: the file reads back as the stored messages, and r0c 1.6.1 loads it.
    let (_keep_export, export_home) = data_dir();
    let to = export_home.join(".r0c").display().to_string();
    let exported = r0c(&["export", "--chan", "#old", "--to", &to, "--dir", &dir]);
    assert!(exported.starts_with("exported "), "{exported}");
    let store = r0c::store::Store::open(&ours.join("r0c.db")).expect("store opens");
    let stored = store.recent_messages("old", 1000).expect("query");
    drop(store);
    let files: Vec<PathBuf> = std::fs::read_dir(export_home.join(".r0c/log/chan/old"))
        .expect("export dir")
        .map(|entry| entry.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().and_then(|n| n.to_str()).unwrap_or("");
    assert!(r0c::migrate::is_log_file_name(name), "{name}");
    let text = std::fs::read_to_string(&files[0]).expect("utf-8 log");
    let mut lines = text.lines();
    assert!(lines.next().is_some_and(|header| header.starts_with("1 ")));
    let read_back: Vec<(String, String)> = lines
        .map(|line| match parse_record(line) {
            LineOutcome::Message { record, .. } => (record.author, record.text),
            LineOutcome::Malformed => panic!("malformed exported line {line:?}"),
        })
        .collect();
    let expected: Vec<(String, String)> = stored
        .iter()
        .map(|m| (m.author.clone(), m.text.clone()))
        .collect();
    assert_eq!(read_back, expected);
    assert!(text.contains("third is \x1b[0;31mred"), "{text:?}");

    let original = Original::start(&python, &export_home);
    let mut carol = join_original(original.raw).await;
    carol.line("/join #old").await;
    carol.expect("new in our server").await;
    let rows = rows_of(
        &carol.screen(),
        &[said[0], said[1], said[2], "new in our server"],
    );
    assert!(
        rows.windows(2).all(|w| w[0] < w[1]),
        "{rows:?}\n{}",
        carol.screen()
    );
    drop(carol);
    tokio::time::sleep(Duration::from_secs(1)).await;
    original.stop();
}
