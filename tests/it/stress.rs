//! r0c's own stress testers (`test/stress.py`, `test/astress.py`) must work unchanged: this
//! follows their wizard rules byte for byte (r0c-server.md §12.1) for 50 telnet clients at once.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{PATIENCE, TestServer, data_dir, test_config};

/// The window size the testers send (astress.py: always 80x24), never preceded by WILL NAWS.
const NAWS: &[u8] = b"\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0";

/// One stress-tester client: reads until a prompt it knows, answers it, until it finds its
/// nick in the input prompt; then joins #1. Returns the nick and the still open connection.
async fn stress_client(address: std::net::SocketAddr) -> (String, TcpStream) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let mut seen = Vec::new();
    let mut answered: Vec<&str> = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE * 3;
    loop {
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some(nick) = prompt_nick(&seen) {
            stream.write_all(b"/join #1\n").await.expect("join");
            return (nick, stream);
        }
        let steps: [(&str, &[u8], bool); 6] = [
            ("verify that your config", b"n\n\n", true),
            (
                "type the text below, then hit [Enter] [Enter]:",
                b"qwer asdf\n\n",
                true,
            ),
            ("your client is stuck in line-buffered mode", b"a", false),
            ("text appeared as you typed", b"b", false),
            ("does colours work?", b"y", false),
            ("which line looks like", b"a", false),
        ];
        for (prompt, answer, with_naws) in steps {
            if text.contains(prompt) && !answered.contains(&prompt) {
                answered.push(prompt);
                if with_naws {
                    stream.write_all(NAWS).await.expect("naws");
                }
                if prompt.starts_with("type the text") {
                    // One character every 0.1 s, as the testers type.
                    for byte in answer {
                        stream.write_all(&[*byte]).await.expect("typing");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                } else {
                    stream.write_all(answer).await.expect("answer");
                }
            }
        }
        let mut buf = [0u8; 16384];
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => panic!(
                "stress client stuck; answered {answered:?}; got:\n{}",
                crate::support::printable(&text)
            ),
        }
    }
}

/// The testers' nick finder: `H ESC[0;36m`, then 14 characters later `> ESC[0m `.
fn prompt_nick(bytes: &[u8]) -> Option<String> {
    let marker = b"H\x1b[0;36m";
    (0..bytes.len()).find_map(|start| {
        let rest = bytes.get(start..)?;
        if !rest.starts_with(marker) || rest.get(14..20)? != b">\x1b[0m " {
            return None;
        }
        String::from_utf8(rest.get(marker.len()..14)?.to_vec()).ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_pass_the_wizard_the_way_r0c_stress_testers_do() {
    let (_keep, dir) = data_dir();
    // Fifty clients from 127.0.0.1 at the default limits: loopback is exempt from the
    // per-address ones (see `limits.rs` for the limits themselves).
    let server = TestServer::start_with(test_config(&dir)).await;
    let clients: Vec<_> = (0..50)
        .map(|_| tokio::spawn(stress_client(server.telnet)))
        .collect();
    let mut nicks = Vec::new();
    let mut connections = Vec::new();
    for client in clients {
        let (nick, stream) = client.await.expect("client task");
        nicks.push(nick);
        connections.push(stream);
    }
    assert!(
        nicks
            .iter()
            .all(|n| n.len() == 6 && n.bytes().all(|b| b.is_ascii_lowercase())),
        "{nicks:?}"
    );
    nicks.sort();
    nicks.dedup();
    assert_eq!(
        nicks.len(),
        50,
        "every client has its own six-letter nick: {nicks:?}"
    );
    server.stop().await;
}
