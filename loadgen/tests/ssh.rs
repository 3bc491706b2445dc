//! The load generator's ssh mode against a real r0c server: ten ssh clients for two seconds
//! get every message.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Server, free_port, server_binary, wait_bounded, wait_for_listener};

#[test]
fn ten_ssh_clients_get_every_message() {
    let binary = server_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let server = Server(
        Command::new(binary)
            .arg("--dir")
            .arg(dir.path())
            .args([
                "-i",
                "127.0.0.1",
                "-pt",
                "0",
                "-pn",
                "0",
                "--web",
                "0",
                "--irc-listen",
                "0",
            ])
            .args(["-ssh", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts"),
    );
    wait_for_listener(port);
    let generator = Command::new(env!("CARGO_BIN_EXE_r0c-load"))
        .args(["--ssh", "--port", &port.to_string()])
        .args(["--pid", &server.0.id().to_string()])
        .args(["-n", "10", "-c", "2", "-s", "2", "-r", "10", "-t", "2"])
        .args(["--drain-seconds", "10", "--label", "ssh-smoke"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the generator starts");
    let output = wait_bounded(generator, Duration::from_secs(120));
    let json = output
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no result line: {output}"));
    assert!(json.contains("\"ready\":10,"), "{output}");
    // Two senders in two channels of five: 20 messages, each for 5 readers.
    assert!(json.contains("\"expected\":100,"), "{output}");
    assert!(json.contains("\"delivered_pct\":100.000"), "{output}");
    drop(server);
}
