//! Hostile and broken input: each case says what the sender gets, and that others keep chatting.

use std::time::Duration;

use crate::support::{TestClient, TestServer, data_dir};

/// Two clients in #g who prove the server still serves others.
async fn witnesses(server: &TestServer) -> (TestClient, TestClient) {
    let mut alice = TestClient::joined(server.raw).await;
    let mut bob = TestClient::joined(server.raw).await;
    alice.line("/join #g").await;
    bob.line("/join #g").await;
    alice.expect("yyryyd has joined").await;
    (alice, bob)
}

async fn still_chatting(alice: &mut TestClient, bob: &mut TestClient, words: &str) {
    alice.line(words).await;
    bob.expect(&format!("kywmyv {words}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_telnet_sequences_cost_only_themselves() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let (mut alice, mut bob) = witnesses(&server).await;
    let mut mallory = TestClient::configured(server.telnet, true).await;
    mallory.report_size(250, 50).await;
    mallory.send(b"/join #g\r\n").await;
    mallory.expect("#g(3)").await;
    // IAC followed by a non-command, a truncated verb, and an unterminated subnegotiation
    // of 600 bytes that is capped; the text after IAC SE survives.
    mallory.send(b"ok\xff\x00one\r\n").await;
    bob.expect("okone").await;
    mallory.send(b"two\xff").await;
    mallory.send(b"\xfb").await;
    mallory.send(b"\x01three\r\n").await;
    bob.expect("twothree").await;
    let mut long_sb = b"\xff\xfa\x18\x00".to_vec();
    long_sb.extend(std::iter::repeat_n(b'x', 600));
    long_sb.extend(b"\xff\xf0after the long subnegotiation\r\n");
    mallory.send(&long_sb).await;
    bob.expect("after the long subnegotiation").await;
    still_chatting(&mut alice, &mut bob, "still here").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_and_split_utf8_become_replacement_or_whole_characters() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let (mut alice, mut bob) = witnesses(&server).await;
    alice.send(b"bad \xc3\x28 \xfe end\n").await;
    // The terminal emulator hides U+FFFD, so look for it in the bytes.
    bob.expect("bad \u{fffd}( \u{fffd} end").await;
    alice.send(b"split \xe2\x94").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    alice.send(b"\x9c done\n").await;
    bob.expect("kywmyv split \u{251c} done").await;
    still_chatting(&mut alice, &mut bob, "fine").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_without_newline_is_capped_and_the_sender_is_told() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let (mut alice, mut bob) = witnesses(&server).await;
    let mut flood = TestClient::joined(server.raw).await;
    flood.line("/join #g").await;
    flood.expect("#g(3)").await;
    flood.send(&vec![b'a'; 1 << 20]).await;
    flood
        .expect("your line is too long; at most 4096 characters are kept")
        .await;
    flood.send(b"\n").await;
    bob.expect(&format!("oaybdg {}", "a".repeat(40))).await;
    still_chatting(&mut alice, &mut bob, "after the flood").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_and_connection_storms_do_not_disturb_chat() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let (mut alice, mut bob) = witnesses(&server).await;
    let _silent = tokio::net::TcpStream::connect(server.telnet)
        .await
        .expect("connect");
    let mut storm = Vec::new();
    for index in 0..200 {
        let address = if index % 2 == 0 {
            server.raw
        } else {
            server.telnet
        };
        storm.push(
            tokio::net::TcpStream::connect(address)
                .await
                .expect("storm connect"),
        );
    }
    drop(storm);
    still_chatting(&mut alice, &mut bob, "after the storm").await;
    alice.line("/status").await;
    // The 200 are gone; the two witnesses remain, and the silent one waits in the wizard.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        alice.line("/status").await;
        alice.drain(Duration::from_millis(200)).await;
        if alice.text().contains("2 users + 1 in wizard, 2 in chans") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "users never went back to 3"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_times_out_and_scanners_meet_a_fake_shell() {
    let (_keep, dir) = data_dir();
    let mut config = crate::support::test_config(&dir);
    config.wizard_timeout = Duration::from_secs(1);
    let server = TestServer::start_with(config).await;
    let mut idle = TestClient::connect(server.raw).await;
    idle.expect("qwer asdf").await;
    idle.expect_closed().await;

    server.stop().await;

    // A scanner gets the fake shell until it is kicked (after 69 s; here the shorter wizard
    // timeout comes first).
    let mut config = crate::support::test_config(&dir);
    config.wizard_timeout = Duration::from_secs(8);
    let server = TestServer::start_with(config).await;
    let mut scanner = TestClient::connect(server.telnet).await;
    scanner.expect("qwer asdf").await;
    scanner.send(b"root\r\n").await;
    scanner.send(b"xc3511\r\n").await;
    scanner
        .expect("SEGMENTATION FAULT\r\n\r\nroot@IBM_3090:/# ")
        .await;
    scanner.send(b"cat /proc/cpuinfo\r\n").await;
    scanner.expect("SYNTAX ERROR: cat /proc/cpuinfo").await;
    scanner.expect_closed().await;
    server.stop().await;
}

/// Escape sequences and C1 controls as attackers send them. On a screen, harmless text shows
/// the parts after the ESC or CSI byte (`[2J`, `]0;pwned`), which proves that byte was removed.
const HOSTILE: &str = "\x1b[2J\x1b]0;pwned\x07\u{9b}1;1H\u{202e}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_sequences_from_every_entry_point_arrive_as_harmless_text() {
    let (_keep, dir) = data_dir();
    // History read back from disk: a hostile line already in the database.
    {
        let store = r0c::store::Store::open(&dir.join("r0c.db")).expect("store");
        store.append_message(
            "g",
            r0c::store::StoredMessage {
                seq: 0,
                unix_micros: 1_700_000_000_000_000,
                author: format!("old{HOSTILE}"),
                text: format!("from disk {HOSTILE} end"),
                kind: Default::default(),
            },
        );
        store.flush();
    }
    // The MOTD file.
    let motd = dir.join("motd.txt");
    std::fs::write(&motd, format!("motd {HOSTILE} end\n")).expect("motd");
    let mut config = crate::support::test_config(&dir);
    config.motd = Some(motd);
    let server = TestServer::start_with(config).await;

    let mut victim = TestClient::joined(server.raw).await;
    victim.expect("motd [2J]0;pwned1;1H end").await;
    victim.line("/join #g").await;
    victim.expect("from disk [2J]0;pwned1;1H end").await;
    let mut attacker = TestClient::joined(server.raw).await;
    attacker.line("/join #g").await;
    victim.expect("yyryyd has joined").await;
    // Typed text, /me, the topic, a nick and a private message. Typed escape sequences are
    // taken for keys by the key decoder and dropped whole; the rest arrives as text.
    attacker.line(&format!("typed {HOSTILE} end")).await;
    victim.expect("typed 0;pwned1;1H end").await;
    attacker.line(&format!("/me acts {HOSTILE} end")).await;
    victim.expect("acts 0;pwned1;1H end").await;
    attacker.line(&format!("/topic topic {HOSTILE} end")).await;
    victim.expect("topic 0;pwned1;1H end").await;
    attacker.line(&format!("/nick evil{HOSTILE}")).await;
    attacker.expect("illegal characters were removed").await;
    victim.expect("changed nick to evil0;pwned1;1H").await;
    attacker
        .line(&format!("/msg kywmyv private {HOSTILE} end"))
        .await;
    victim.expect("CTRL-E or /a jumps there").await;
    victim.line("/a").await;
    victim.expect("private 0;pwned1;1H end").await;

    // Nothing was cleared, no title was set, no C1 byte or OSC arrived.
    victim.line("/join #g").await;
    victim.drain(Duration::from_millis(300)).await;
    assert!(
        victim.screen().contains("from disk [2J]0;pwned1;1H end"),
        "{}",
        victim.screen()
    );
    let bytes = victim.bytes();
    assert!(
        !bytes.windows(2).any(|w| w == b"\xc2\x9b"),
        "a C1 CSI arrived"
    );
    assert!(!bytes.windows(2).any(|w| w == b"\x1b]"), "an OSC arrived");
    assert!(
        !bytes.windows(3).any(|w| w == "\u{202e}".as_bytes()),
        "a bidi override arrived"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_on_the_verify_page_of_a_returning_address_is_survived() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let (mut alice, mut bob) = witnesses(&server).await;
    // Bob seeing alice's line means the store committed everything queued before it, the
    // settings the wizard saved for 127.0.0.1 among them.
    still_chatting(&mut alice, &mut bob, "settings saved").await;
    let mut mallory = TestClient::connect(server.raw).await;
    mallory.expect("verify that your config is still OK:").await;
    // Issue 15's reproducer: a few thousand bytes, then a couple of thousand more, used to
    // underflow the page's arithmetic and panic the connection's task.
    mallory.send(&[b'x'; 4000]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    mallory.send(&[b'x'; 2000]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The page still takes an answer, key by key, and the chat starts.
    for key in ["y", "\n", "\n"] {
        mallory.send(key.as_bytes()).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    mallory.expect("r0c readme (and status info)").await;
    mallory.report_size(250, 50).await;
    mallory.line("/join #g").await;
    alice.expect("has joined").await;
    mallory.line("made it through").await;
    bob.expect("made it through").await;
    still_chatting(&mut alice, &mut bob, "still serving").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emoji_sequences_arrive_whole_and_invisible_separators_do_not() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let (mut alice, mut bob) = witnesses(&server).await;
    let family = "\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}";
    let scotland = "\u{1f3f4}\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}";
    alice
        .line(&format!(
            "one\u{2028}two\u{2029}three\u{fff9}x\u{fffb} a\u{200d}b \u{e0041}{family} {scotland} end"
        ))
        .await;
    // The byte stream, not the emulator's screen, which keeps only a few zero-width
    // characters per cell.
    bob.expect(&format!("onetwothreex ab {family} {scotland} end"))
        .await;
    server.stop().await;
}
