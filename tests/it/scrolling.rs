//! Scrolling back in every mode: a teletype pages through history, and a slow link reaches
//! every line it was not sent during a burst, page by page.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::{TestClient, TestServer, data_dir};

/// Walks the wizard as a terminal without escape codes (colours show as `[1;31m`).
pub(crate) async fn teletype(server: &TestServer) -> TestClient {
    let mut client = TestClient::connect(server.raw).await;
    client.reach_typing_test().await;
    for key in "qwer asdf\n\n".bytes() {
        client.send(&[key]).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.expect("nothing happened").await;
    client.send(b"b").await;
    client.expect("does colours work?").await;
    client.send(b"n").await;
    client.expect("what did you see instead?").await;
    client.send(b"b").await;
    client.expect("not vt100 compatible").await;
    client.send(b"a").await;
    client.expect("which line looks like").await;
    client.send(b"a").await;
    client.expect("> ").await;
    client
}

/// The numbers of the `/fill` lines (`f 12`) in `text`, in order.
fn fill_numbers(text: &str) -> Vec<u64> {
    numbered(text, " f ")
}

/// The numbers of the lines of `text` that end in `prefix` and a number, in order.
fn numbered(text: &str, prefix: &str) -> Vec<u64> {
    text.split(['\r', '\n'])
        .filter_map(|line| {
            let (_, number) = line.trim_end().rsplit_once(prefix)?;
            number.parse().ok()
        })
        .collect()
}

/// Sends `keys`, then reads until the teletype printed the line of `/fill` message `last`;
/// returns the numbers of the `/fill` lines it printed for them.
async fn page(client: &mut TestClient, keys: &[u8], last: u64) -> Vec<u64> {
    let from = client.bytes().len();
    client.send(keys).await;
    let needle = format!(" f {last} ");
    client
        .wait_until(&needle, |c| {
            String::from_utf8_lossy(&c.bytes()[from..]).contains(&needle)
        })
        .await;
    // The page is printed in order and ends with the prompt; read up to the prompt.
    client
        .wait_until("the prompt", |c| {
            let text = String::from_utf8_lossy(&c.bytes()[from..]).into_owned();
            text.rsplit_once(&needle)
                .is_some_and(|(_, rest)| rest.contains("> "))
        })
        .await;
    fill_numbers(&String::from_utf8_lossy(&client.bytes()[from..]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teletype_pages_back_through_history_with_every_scroll_key() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = teletype(&server).await;
    alice.line("/join #g").await;
    alice.expect("1: #g(1)").await;
    // #g holds "channel created", alice's join and f 0 to f 59. Loopback users are admins.
    alice.line("/fill 60 f").await;
    alice.expect(" f 59 ").await;
    alice.drain(Duration::from_millis(200)).await;
    // 80x24: pages of 21 lines, one scroll step is 20 lines.
    let range = |first: u64, last: u64| (first..=last).collect::<Vec<u64>>();
    assert_eq!(
        page(&mut alice, b"\x1b[5~", 39).await,
        range(19, 39),
        "PgUp"
    );
    assert!(
        alice.text().ends_with("> \u{2588}"),
        "the prompt comes last"
    );
    let prompt = alice
        .text()
        .rsplit('\r')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        prompt.contains("1: #g(1)  +20   "),
        "the prompt counts the messages below the page: {prompt:?}"
    );
    assert_eq!(page(&mut alice, b"\x15", 19).await, range(0, 19), "CTRL-U");
    // PgDn prints the lines below the page, without reprinting it.
    assert_eq!(
        page(&mut alice, b"\x1b[6~", 39).await,
        range(20, 39),
        "PgDn"
    );
    assert_eq!(page(&mut alice, b"/u\n", 19).await, range(0, 19), "/u");
    // The message with index 40 (f 38) at the top.
    assert_eq!(
        page(&mut alice, b"/g 40\n", 58).await,
        range(38, 58),
        "/g 40"
    );
    // 50% of 62 messages is index 31: f 29.
    assert_eq!(
        page(&mut alice, b"/g 50%\n", 49).await,
        range(29, 49),
        "/g 50%"
    );
    assert_eq!(page(&mut alice, b"/g 0\n", 18).await, range(0, 18), "/g 0");
    // A message said while reading an older page waits below it; /l shows the newest page.
    let from = alice.bytes().len();
    alice.line("said while scrolled").await;
    alice.drain(Duration::from_millis(300)).await;
    let meanwhile = String::from_utf8_lossy(&alice.bytes()[from..]).into_owned();
    assert!(
        !meanwhile.contains("said while scrolled  "),
        "not printed under the old page: {meanwhile:?}"
    );
    let from = alice.bytes().len();
    assert_eq!(page(&mut alice, b"/l\n", 59).await, range(40, 59), "/l");
    alice.expect("said while scrolled").await;
    assert!(String::from_utf8_lossy(&alice.bytes()[from..]).starts_with("\r\n\r\n"));
    server.stop().await;
}

/// The history index of the line pane row `row` of an 80x24 screen shows in `#g`: 0 "channel
/// created", 1 the join, then the 30 lines `p 0` to `p 29` from 2, then `f 0` from 32.
fn line_index(client: &TestClient, row: u16) -> Option<u64> {
    let text = client.row(row);
    if text.contains("channel created") {
        Some(0)
    } else if text.ends_with("has joined") {
        Some(1)
    } else if let Some(n) = numbered(&text, " p ").first() {
        Some(n + 2)
    } else {
        fill_numbers(&text).first().map(|n| n + 32)
    }
}

/// The `+K` of the status bar: how many messages are below the pane (0 at the bottom).
fn below(client: &TestClient) -> u64 {
    client
        .row(22)
        .split_once('+')
        .and_then(|(_, rest)| rest.split(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// The pane as a page of consecutive history lines, top and bottom, once the status bar
/// (drawn after the pane) counts the messages below that page: the frame is complete.
fn settled_page(client: &TestClient, newest: u64) -> Option<(u64, u64)> {
    let lines: Vec<u64> = (1..=21)
        .map(|row| line_index(client, row))
        .collect::<Option<_>>()?;
    let consecutive = lines.windows(2).all(|pair| pair[0] + 1 == pair[1]);
    let (top, bottom) = (*lines.first()?, *lines.last()?);
    (consecutive && below(client) == newest - bottom).then_some((top, bottom))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_burst_on_a_slow_link_pgup_reaches_every_skipped_line() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = TestClient::configured(server.raw, false).await;
    // A terminal behind a slow link answers the speed test's two probes 200 ms apart: a
    // link of at most 7000 bps, which is paced (a slower machine only makes it slower).
    alice.send(b"\x1b[24;80R").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    alice.send(b"\x1b[24;80R").await;
    alice.expect("bps modem; optimizing").await;
    alice.line("/join #g").await;
    alice.expect_row(22, "#g(1)").await;
    // A full pane of lines before the burst (the paced link was sent only the newest of
    // these as well, so CTRL-L draws the pane whole).
    alice.line("/fill 30 p").await;
    alice.expect("p 29").await;
    alice.send(b"\x0c").await;
    alice
        .wait_until("p 9 to p 29 on the pane", |c| {
            c.row(1).ends_with(" p 9") && c.row(21).ends_with(" p 29")
        })
        .await;
    // A burst of 100 messages: the paced link is sent only the newest lines of each frame,
    // below the lines from before the burst.
    let from = alice.bytes().len();
    alice.line("/fill 100 f").await;
    alice.expect("f 99").await;
    alice.drain(Duration::from_millis(500)).await;
    let sent: BTreeSet<u64> =
        fill_numbers(&String::from_utf8_lossy(&alice.bytes()[from..]).replace('\x1b', "\n"))
            .into_iter()
            .collect();
    assert!(sent.len() < 100, "lines were skipped on the wire: {sent:?}");

    // PgUp after PgUp, until the first page: every line is on screen at some point.
    let newest = 131;
    let mut seen: BTreeSet<u64> = (1..=21).filter_map(|row| line_index(&alice, row)).collect();
    let mut bottom = newest;
    while bottom > 20 {
        alice.send(b"\x1b[5~").await;
        alice
            .wait_until("a complete page above the last one", |c| {
                settled_page(c, newest).is_some_and(|(_, b)| b < bottom)
            })
            .await;
        let (top, new_bottom) = settled_page(&alice, newest).unwrap_or_default();
        seen.extend(top..=new_bottom);
        bottom = new_bottom;
    }
    let missing: Vec<u64> = (0..=newest).filter(|i| !seen.contains(i)).collect();
    assert!(
        missing.is_empty(),
        "never on screen while paging back: {missing:?}"
    );
    server.stop().await;
}
