//! Real client programs from Debian (telnet, nc, socat, bash's /dev/tcp) talking to the server.
//!
//! `./test.sh` installs them; a missing program fails the test rather than skipping it.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{TestClient, TestServer, data_dir};

/// A client program with its stdin in our hands and its stdout collected.
struct RealClient {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
}

impl RealClient {
    fn spawn(program: &str, args: &[String]) -> RealClient {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("{program} must be installed (./test.sh does it): {error}")
            });
        let mut stdout = child.stdout.take().expect("stdout");
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("output lock")
                    .extend_from_slice(&buf[..n]);
            }
        });
        RealClient { child, output }
    }

    fn type_text(&mut self, text: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("typing");
        stdin.flush().expect("flush");
    }

    /// Everything the program printed so far.
    fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().expect("output lock")).into_owned()
    }

    /// Answers the wizard as a person would: types the test text, then answers each question
    /// the wizard asks (which ones depend on how the program sends keys).
    fn walk_wizard(&mut self, enter: &str) {
        let answers = [
            ("verify that your config", "n"),
            ("type the text below", "qwer asdf"),
            ("nothing happened", "b"),
            ("stuck in line-buffered mode", "a"),
            ("not responding to negotiations", "y"),
            ("does colours work?", "y"),
            ("which line looks like", "a"),
        ];
        let mut answered = Vec::new();
        tokio::task::block_in_place(|| {
            let deadline = Instant::now() + crate::support::PATIENCE;
            loop {
                let output = self.output();
                if output.contains("r0c readme (and status info)") {
                    return;
                }
                for (question, answer) in answers {
                    if output.contains(question) && !answered.contains(&question) {
                        answered.push(question);
                        // The confirmation page and the typing test want Enter twice.
                        let twice = matches!(answer, "n" | "qwer asdf");
                        let enters = if twice {
                            enter.repeat(2)
                        } else {
                            enter.to_string()
                        };
                        self.type_text(&format!("{answer}{enters}"));
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "stuck in the wizard:\n{}",
                    crate::support::printable(&output)
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    }

    /// Polls the collected output; runs on a blocking-capable worker so the in-process server
    /// keeps running meanwhile.
    fn wait_for(&self, needle: &str) {
        tokio::task::block_in_place(|| self.wait_for_blocking(needle));
    }

    fn wait_for_blocking(&self, needle: &str) {
        let deadline = Instant::now() + crate::support::PATIENCE;
        loop {
            let text =
                String::from_utf8_lossy(&self.output.lock().expect("output lock")).into_owned();
            if text.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {needle:?}; got:\n{}",
                crate::support::printable(&text)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RealClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Has a real client join #g, talk with a test client there, and see the answer.
pub(crate) async fn chat_with(server: &TestServer, program: &str, args: Vec<String>, enter: &str) {
    let mut witness = TestClient::joined(server.raw).await;
    witness.line("/nick witness").await;
    witness.line("/join #g").await;
    witness.expect("#g(1)").await;
    let mut client = RealClient::spawn(program, &args);
    client.walk_wizard(enter);
    client.type_text(&format!(
        "/nick {program}{enter}/join #g{enter}hello from {program}{enter}"
    ));
    witness
        .expect(&format!("{program} hello from {program}"))
        .await;
    witness.line(&format!("welcome, {program}")).await;
    client.wait_for(&format!("witness\x1b[m welcome, {program}"));
}

fn host_port(address: SocketAddr) -> Vec<String> {
    vec![address.ip().to_string(), address.port().to_string()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inetutils_telnet_chats_on_the_telnet_port() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    // telnet turns each newline it reads from its input into the telnet Enter (CR LF) itself.
    chat_with(&server, "telnet", host_port(server.telnet), "\n").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcat_chats_on_the_raw_port() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    chat_with(&server, "nc", host_port(server.raw), "\n").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socat_chats_on_the_raw_port() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let target = format!("TCP:{}", server.raw);
    chat_with(&server, "socat", vec!["-".into(), target], "\n").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bash_dev_tcp_chats_on_the_raw_port() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    // The README's one-liner, reading keystrokes from our pipe instead of a terminal.
    let script = format!(
        "exec 147<>/dev/tcp/{}/{}; cat <&147 & while IFS= read -rn1 x; do [ -z \"$x\" ] && x=$'\\n'; printf %s \"$x\" >&147; done",
        server.raw.ip(),
        server.raw.port()
    );
    chat_with(&server, "bash", vec!["-c".into(), script], "\n").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundled_bash_client_chats_on_the_raw_port() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let script = format!("{}/clients/bash.sh", env!("CARGO_MANIFEST_DIR"));
    let mut args = vec![script];
    args.extend(host_port(server.raw));
    chat_with(&server, "bash", args, "\n").await;
    server.stop().await;
}
