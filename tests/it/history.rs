//! History older than memory, read off the async workers: scrolling back past memory and `/g`
//! to a moment before it land where they did when the world read the store itself, and a join
//! of a channel with a large stored history does not hold up anyone else.

use std::path::Path;

use r0c::store::{Store, StoredMessage};

use crate::support::{TestClient, TestServer, data_dir, test_config};

/// 2018-01-01 00:00 UTC in microseconds: stored message N of the seeded channels was posted N
/// hours after it.
const BASE_MICROS: i64 = 1_514_764_800_000_000;
const HOUR_MICROS: i64 = 3_600_000_000;

/// Stores `count` messages `"<prefix> N"` in channel `name`, an hour apart, before the server
/// starts (as an earlier run would have).
fn seed(dir: &Path, name: &str, prefix: &str, count: u64) {
    let store = Store::open(&test_config(dir).database_path()).expect("store");
    for seq in 0..count {
        store.append_message(
            name,
            StoredMessage {
                seq,
                unix_micros: BASE_MICROS + HOUR_MICROS * i64::try_from(seq).expect("small"),
                author: "old".into(),
                text: format!("{prefix} {seq}"),
                kind: Default::default(),
            },
        );
    }
    store.close();
}

/// The number at the end of each pane row of an 80x24 screen (rows 1 to 21), if it has one.
fn pane_numbers(client: &TestClient) -> Vec<Option<u64>> {
    (1..=21)
        .map(|row| client.row(row).rsplit(' ').next()?.parse().ok())
        .collect()
}

/// The pane shows `first`, `first + 1`, ... on every row.
fn pane_from(client: &TestClient, first: u64) -> bool {
    pane_numbers(client)
        .iter()
        .zip(first..)
        .all(|(shown, expected)| *shown == Some(expected))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolling_back_past_memory_and_goto_before_it_land_right() {
    let (_keep, dir) = data_dir();
    seed(&dir, "h", "old", 300);
    let mut config = test_config(&dir);
    // Memory holds at most 10 messages of a channel, and a join reads 10: the pane (21 rows)
    // already needs the store, and so does every page back.
    config.hist_rd = 10;
    config.hist_mem = 10;
    config.hist_tsz = 5;
    let server = TestServer::start_with(config).await;
    let mut alice = TestClient::configured(server.raw, false).await;
    alice.expect("> ").await;
    alice.line("/join #h").await;
    alice.expect("has joined").await;
    // The rows above the join and creation lines end with the newest stored messages.
    alice
        .wait_until("the newest stored messages above the join", |c| {
            let numbers = pane_numbers(c);
            numbers[..19].iter().zip(281..).all(|(n, e)| *n == Some(e))
        })
        .await;
    let mut top = 281;
    while top > 0 {
        alice.send(b"\x1b[5~").await;
        alice
            .wait_until("an older page", |c| {
                pane_numbers(c)[0].is_some_and(|first| first < top)
            })
            .await;
        top = pane_numbers(&alice)[0].expect("a number on the top row");
        assert!(
            pane_from(&alice, top),
            "consecutive lines from {top}:\n{}",
            alice.screen()
        );
    }
    // `/g` to a moment before memory: the first message posted then (96 hours in) on top.
    alice.line("/g 2018-01-05").await;
    alice
        .wait_until("the page of 2018-01-05", |c| pane_from(c, 96))
        .await;
    // And a page down from there follows on from the bottom row (116), one line of overlap.
    alice.send(b"\x1b[6~").await;
    alice
        .wait_until("the next page", |c| pane_from(c, 116))
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teletype_pages_back_past_memory() {
    let (_keep, dir) = data_dir();
    seed(&dir, "h", "old", 100);
    let mut config = test_config(&dir);
    config.hist_rd = 10;
    config.hist_mem = 10;
    config.hist_tsz = 5;
    let server = TestServer::start_with(config).await;
    let mut alice = crate::scrolling::teletype(&server).await;
    alice.line("/join #h").await;
    alice.expect("has joined").await;
    // `/g` to moments before memory prints the pages that start there, read from the store.
    alice.line("/g 2018-01-01").await;
    alice.expect("old 0 ").await;
    alice.line("/g 2018-01-03").await;
    alice.expect("old 48 ").await;
    // CTRL-U prints the page above (48..68 was shown): 28..48, one line of overlap.
    let before = alice.text().len();
    alice.send(b"\x15").await;
    alice
        .wait_until("the page above", |c| c.text()[before..].contains("old 48 "))
        .await;
    let page = &alice.text()[before..];
    let numbers: Vec<u64> = page
        .lines()
        .filter_map(|line| line.trim_end().rsplit(' ').next()?.parse().ok())
        .collect();
    assert_eq!(numbers, (28..=48).collect::<Vec<u64>>(), "{page:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_join_completes_while_others_keep_chatting() {
    let (_keep, dir) = data_dir();
    seed(&dir, "big", "big", 30_000);
    let server = TestServer::start(&dir).await;
    let mut bob = TestClient::joined(server.raw).await;
    let mut carol = TestClient::joined(server.raw).await;
    bob.line("/join #g").await;
    carol.line("/join #g").await;
    bob.expect("has joined").await;
    let mut alice = TestClient::configured(server.raw, false).await;
    alice.expect("> ").await;
    // What alice types after the join, in the same write, happens after it, in #big.
    alice.send(b"/join #big\rafter the join\r").await;
    for index in 0..20 {
        let text = format!("ping {index}");
        bob.say(&text).await;
        carol.expect(&text).await;
    }
    alice.expect("after the join").await;
    let screen = alice.screen();
    assert!(screen.contains("#big"), "in #big:\n{screen}");
    // The history above the join is the newest stored messages, in order.
    alice
        .wait_until("the newest stored message", |c| {
            c.screen().contains("big 29999")
        })
        .await;
    let numbers: Vec<u64> = pane_numbers(&alice).into_iter().flatten().collect();
    assert!(
        numbers.windows(2).all(|pair| pair[0] + 1 == pair[1]) && numbers.last() == Some(&29999),
        "{numbers:?}\n{}",
        alice.screen()
    );
    server.stop().await;
}
