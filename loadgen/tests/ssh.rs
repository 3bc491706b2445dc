//! The load generator's ssh mode against a real r0c server: ten ssh clients for two seconds
//! get every message.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The r0c server binary of the same build, next to the generator's: built first, so the
/// test never runs a stale server.
fn server_binary() -> PathBuf {
    let generator = Path::new(env!("CARGO_BIN_EXE_r0c-load"));
    let dir = generator.parent().expect("the generator's directory");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-p", "r0c", "--bin", "r0c"]);
    if dir.ends_with("release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building the server failed");
    dir.join("r0c")
}

/// A port nobody listens on now (the kernel's pick for port 0).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// The server process, stopped when the test ends however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for `child` at most `limit`, then kills it; its output.
fn wait_bounded(mut child: Child, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("output");
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

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
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(address).is_err() {
        assert!(Instant::now() < deadline, "the server never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
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
