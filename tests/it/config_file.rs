//! The real `r0c` binary with a TOML config file, `--print-config`, `--bench` and its log
//! lines (`RUST_LOG`).

use std::time::{Duration, Instant};

use crate::process::{Process, free_ports, r0c};
use crate::support::{TestClient, data_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_file_in_the_app_dir_given_by_dir_sets_ports_and_flags() {
    let (_keep, dir) = data_dir();
    let (telnet, raw) = free_ports();
    let motd = dir.join("motd.txt");
    std::fs::write(&motd, "the file's motd is here\n").expect("write motd");
    let settings = format!(
        "listen-ip = \"127.0.0.1\"\npt = {telnet}\npn = {raw}\nweb = 0\nssh = 0\nmotd = {:?}\nno_flood_limit = true\n",
        motd.display().to_string()
    );
    std::fs::write(dir.join("r0c.toml"), settings).expect("write r0c.toml");
    let mut command = r0c();
    command.args(["--dir", &dir.display().to_string()]);
    let server = Process::launch(command, (telnet, raw));
    // Reaching the raw port at all shows the file's ports and address were used.
    let mut client = TestClient::joined(server.raw).await;
    client.expect("the file's motd is here").await;
    // With flood control off (the file's `no_flood_limit`), a burst of lines is all posted.
    client.line("/join #g").await;
    for index in 0..30 {
        client.say(&format!("burst {index}")).await;
    }
    client.expect("burst 29").await;
    assert!(
        !client.text().contains("you are sending"),
        "{}",
        client.text()
    );
}

#[test]
fn print_config_reads_back_through_config_to_the_same_file() {
    let (_keep, dir) = data_dir();
    let dir_text = dir.display().to_string();
    let first = r0c()
        .args([
            "--dir",
            &dir_text,
            "-pt",
            "2000",
            "--ara",
            "--ircn",
            "a,h,6667,n",
        ])
        .args(["--ircb", "a,chat,g", "--print-config"])
        .output()
        .expect("runs");
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let printed = String::from_utf8(first.stdout).expect("utf-8");
    assert!(printed.contains("\npt = 2000\n"), "{printed}");
    assert!(printed.contains("\nircb = [\"a,chat,g\"]\n"), "{printed}");
    let path = dir.join("printed.toml");
    std::fs::write(&path, &printed).expect("write");
    let second = r0c()
        .args(["--config", &path.display().to_string(), "--print-config"])
        .output()
        .expect("runs");
    assert_eq!(second.status.code(), Some(0), "{second:?}");
    assert_eq!(String::from_utf8_lossy(&second.stdout), printed);

    std::fs::write(&path, "pt = 1\nunknown-flag = true\n").expect("write");
    let bad = r0c()
        .args(["--config", &path.display().to_string()])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&path.display().to_string()) && stderr.contains("'unknown-flag'"),
        "{stderr}"
    );
}

/// The totals and the growth of a `--bench` line `<time>  j J  p P  m M  d DJ,DP,DM`.
fn bench_counts(line: &str) -> ([u64; 3], [u64; 3]) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [time, "j", joins, "p", parts, "m", messages, "d", delta] = words[..] else {
        panic!("not a --bench line: {line:?}");
    };
    assert!(time.parse::<f64>().is_ok_and(|t| t > 1e9), "{line:?}");
    let number = |text: &str| text.parse::<u64>().expect("a count");
    let deltas: Vec<u64> = delta.split(',').map(number).collect();
    let [dj, dp, dm] = deltas[..] else {
        panic!("not a --bench line: {line:?}");
    };
    (
        [number(joins), number(parts), number(messages)],
        [dj, dp, dm],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_prints_totals_that_move_when_a_client_joins_and_talks() {
    let (_keep, dir) = data_dir();
    let server = Process::start_with(&dir, free_ports(), &["--bench"]);
    let (before, _) = bench_counts(&server.wait_for_line("  j "));
    let mut client = TestClient::joined(server.raw).await;
    client.line("/join #g").await;
    client.say("hello bench").await;
    client.line("/part").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut growth = [0; 3];
    loop {
        let line = server.wait_for_line("  j ");
        let (totals, deltas) = bench_counts(&line);
        for (sum, delta) in growth.iter_mut().zip(deltas) {
            *sum += delta;
        }
        // Each line's growth is the difference of the totals.
        let expected: Vec<u64> = totals.iter().zip(before).map(|(t, b)| t - b).collect();
        assert_eq!(growth.to_vec(), expected, "{line}");
        // Joined the status window and #g, parted #g; posted at least the two join lines,
        // the welcome text and the message.
        let [joins, parts, messages] = growth;
        if joins >= 2 && parts >= 1 && messages >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "the counts never moved: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_log_info_logs_connect_join_and_nick_change_with_the_peer() {
    let (_keep, dir) = data_dir();
    let mut command = r0c();
    command.env("RUST_LOG", "info");
    let server = Process::spawn(command, &dir, free_ports(), &[]);
    let mut client = TestClient::joined(server.raw).await;
    let peer = format!("peer={}", client.local_addr());
    client.line("/join #g").await;
    client.expect("#g").await;
    client.line("/nick logtester").await;
    client.expect("logtester").await;
    let events = [
        ": connect ",
        ": client joined ",
        ": wizard done ",
        ": join ",
        ": nick change ",
    ];
    let mut lines = Vec::new();
    for event in events {
        let line = server.wait_for_log(&peer);
        assert!(line.contains(event), "expected {event:?} next: {line}");
        lines.push(line);
    }
    assert!(lines[3].contains("chan=\"g\""), "{}", lines[3]);
    assert!(lines[4].contains("nick=\"logtester\""), "{}", lines[4]);
}
