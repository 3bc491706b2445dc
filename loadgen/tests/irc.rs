//! The load generator's IRC mode against a real r0c server: five IRC clients on the IRC
//! listener and five telnet clients, in two channels, for two seconds; both kinds send, and
//! every message reaches every reader of its channel, counted for each kind apart.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Server, free_port, server_binary, wait_bounded, wait_for_listener};

#[test]
fn irc_and_telnet_clients_side_by_side_get_every_message() {
    let binary = server_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let (telnet, irc) = (free_port(), free_port());
    let server = Server(
        Command::new(binary)
            .arg("--dir")
            .arg(dir.path())
            .args(["-i", "127.0.0.1", "-pn", "0", "--web", "0", "-ssh", "0"])
            .args(["-pt", &telnet.to_string(), "--irc-listen", &irc.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts"),
    );
    wait_for_listener(telnet);
    wait_for_listener(irc);
    let generator = Command::new(env!("CARGO_BIN_EXE_r0c-load"))
        .args(["--telnet", "--port", &telnet.to_string()])
        .args(["--irc", "5", "--irc-port", &irc.to_string()])
        .args(["--pid", &server.0.id().to_string()])
        .args(["-n", "10", "-c", "2", "-s", "2", "-r", "10", "-t", "2"])
        .args(["--drain-seconds", "10", "--label", "irc-smoke"])
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
    // Two senders (the first client of each channel: one telnet, one IRC) in two channels of
    // five: 20 messages, each for 5 readers; channel 0 has 2 IRC readers, channel 1 has 3.
    assert!(json.contains("\"expected\":100,"), "{output}");
    assert!(json.contains("\"delivered_pct\":100.000"), "{output}");
    assert!(json.contains("\"irc_clients\":5,"), "{output}");
    assert!(json.contains("\"irc_seen\":50,"), "{output}");
    assert!(json.contains("\"terminal_seen\":50,"), "{output}");
    drop(server);
}
