//! The telnet listener on the wire: negotiation bytes, window sizes, escaped data.

use crate::support::{TestClient, TestServer, data_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telnet_connect_starts_with_r0c_negotiation_and_raw_with_its_probe() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut telnet = TestClient::connect(server.telnet).await;
    telnet.expect("qwer asdf").await;
    assert_eq!(
        &telnet.bytes()[..9],
        b"\xff\xfb\x03\xff\xfb\x01\xff\xfd\x1f"
    );
    let mut raw = TestClient::connect(server.raw).await;
    raw.expect("qwer asdf").await;
    assert_eq!(&raw.bytes()[..6], b"\xff\xfd\x05\xff\xfd\x17");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naws_sets_the_width_and_bad_sizes_fall_back_with_a_note() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut client = TestClient::configured(server.telnet, true).await;
    client.expect("> ").await;
    // Agree to everything, then report 100x30 split across two packets.
    client
        .send(b"\xff\xfd\x03\xff\xfd\x01\xff\xfb\x1f\xff\xfa\x1f\x00")
        .await;
    client.send(b"\x64\x00\x1e\xff\xf0/cfg\r\0").await;
    expect_plain(&mut client, "size=100x30").await;
    client.send(b"\xff\xfa\x1f\x00\x00\x00\x00\xff\xf0").await;
    client
        .expect("your client reported windowsize 0x0; will assume 80x24")
        .await;
    client
        .send(b"\xff\xfa\x1f\xff\xff\xff\xff\xff\xff\xff\xff\xff\xf0/cfg\r\n")
        .await;
    expect_plain(&mut client, "size=80x24").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_byte_commands_and_escaped_iac_keep_the_surrounding_text() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut client = TestClient::configured(server.telnet, true).await;
    client.expect("> ").await;
    client.send(b"/join #g\r\0").await;
    client.expect("#g(1)").await;
    // NOP, GA and AYT in the middle of a line; r0c threw the whole packet away.
    client
        .send(b"hel\xff\xf1lo \xff\xf9wor\xff\xf6ld\r\n")
        .await;
    client.expect("[r0c: yes, still here]").await;
    client.expect("kywmyv hello world").await;
    // IAC IAC is the data byte 0xFF, which is not UTF-8: it shows as a replacement character.
    client.send(b"a\xff\xffb\r\n").await;
    client.expect("a\u{fffd}b").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiation_answers_follow_rfc_1143() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut client = TestClient::connect(server.telnet).await;
    client.expect("qwer asdf").await;
    let before = client.bytes().len();
    // DO TTYPE: we do not implement sending a terminal type, so WONT; WILL TTYPE: DO + SEND.
    client.send(b"\xff\xfd\x18\xff\xfb\x18").await;
    client.drain(std::time::Duration::from_millis(300)).await;
    let answer = &client.bytes()[before..];
    let expected: &[u8] = b"\xff\xfc\x18\xff\xfd\x18\xff\xfa\x18\x01\xff\xf0";
    assert!(
        answer.windows(expected.len()).any(|w| w == expected),
        "answer {answer:02x?}"
    );
    server.stop().await;
}

/// Reads until `needle` is in what arrived, colour codes left out; fails after 20 s.
async fn expect_plain(client: &mut TestClient, needle: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !without_sgr(&client.text()).contains(needle) {
        assert!(std::time::Instant::now() < deadline, "never got {needle:?}");
        client.read_for(std::time::Duration::from_millis(50)).await;
    }
}

/// `text` without its colour codes (`ESC [ ... m`): `/cfg` colours each key, so a key and its
/// value are apart in the byte stream.
fn without_sgr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("\x1b[") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find(|c: char| !(c.is_ascii_digit() || c == ';')) {
            Some(end) if after[end..].starts_with('m') => rest = &after[end + 1..],
            _ => {
                out.push_str("\x1b[");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
