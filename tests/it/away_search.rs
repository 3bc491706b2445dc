//! Issue 20's away, search, quiet joins and time zones end to end, with real raw-port clients
//! and a real SQLite file: an away reason in `/names`, `/whois` and once per sender in answer
//! to a DM; `/search` finds public history and never what the searcher may not see (a `+k`
//! channel, a channel they are banned from, someone else's DM); `/hide joins` folds join and
//! part lines; `/tz` moves the shown time and nothing else, and both settings come back on the
//! next connection.

use std::net::SocketAddr;

use crate::moderation::{config, user_from};
use crate::support::{TestClient, TestServer, data_dir};

/// How many screen rows contain `needle`.
fn rows_with(client: &TestClient, needle: &str) -> usize {
    client
        .screen()
        .lines()
        .filter(|row| row.contains(needle))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn away_shows_in_names_and_whois_and_a_dm_gets_the_reason_once_per_away_period() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with(config(&dir)).await;
    let mut alice = user_from([127, 0, 0, 11], server.raw, "alice").await;
    let mut bob = user_from([127, 0, 0, 12], server.raw, "bob").await;
    alice.line("/join #g").await;
    alice.expect("#g(1)").await;
    bob.line("/join #g").await;
    alice.expect("bob has joined").await;

    alice.line("/away at lunch").await;
    alice.expect("you are marked as away: at lunch").await;
    bob.line("/names").await;
    bob.expect("2 users in #g: alice (away), bob").await;
    bob.line("/0").await;
    bob.expect("r0c-status").await;
    bob.line("/whois alice").await;
    bob.expect("away: at lunch").await;

    bob.line("/msg alice are you there").await;
    bob.expect("alice is away: at lunch").await;
    bob.line("hello again").await;
    bob.expect("bob hello again").await;
    bob.line("/0").await;
    bob.expect("r0c-status").await;
    bob.line("/names").await;
    bob.expect("users in").await;
    assert_eq!(
        rows_with(&bob, "alice is away"),
        1,
        "told once: {}",
        bob.screen()
    );

    // Back and away again: a new period, so the reason is told again.
    alice.line("/back").await;
    alice.expect("you are back").await;
    bob.line("/whois alice").await;
    bob.expect("no ssh key has claimed it").await;
    alice.line("/away").await;
    alice.expect("you are marked as away;").await;
    bob.line("/msg alice now?").await;
    bob.expect("bob now?").await;
    bob.line("/0").await;
    bob.wait_until("told again", |b| rows_with(b, "alice is away") == 2)
        .await;
    server.stop().await;
}

/// Posts `text` as `client` and waits until it is shown (so it is committed to the store).
async fn post(client: &mut TestClient, nick: &str, text: &str) {
    client.line(text).await;
    client.expect(&format!("{nick} {text}")).await;
}

/// Runs `/search query` as `client` and waits for its answer in the status window, whose
/// heading quotes `words` (each test search has words of its own).
pub(crate) async fn search(client: &mut TestClient, query: &str, words: &str) -> String {
    client.line("/0").await;
    client.expect("r0c-status").await;
    client.line(&format!("/search {query}")).await;
    let heading = format!("\"{words}\"");
    client
        .wait_until("a search answer", |c| c.screen().contains(&heading))
        .await;
    // The whole answer arrives in one frame; what follows the heading is on screen by now.
    client.screen()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_public_history_and_never_what_the_searcher_may_not_see() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with(config(&dir)).await;
    let mut owner = user_from([127, 0, 0, 21], server.raw, "owner").await;
    let mut carol = user_from([127, 0, 0, 22], server.raw, "carol").await;
    let mut bob = user_from([127, 0, 0, 23], server.raw, "bob").await;

    // A registered user founds the channels they open, so their bans are the channel's.
    owner.line("/register hunter22x").await;
    owner.expect("is your account now").await;
    owner.line("/join #open").await;
    owner.expect("#open(1)").await;
    post(&mut owner, "owner", "needle in the open").await;
    owner.line("/join #locked").await;
    owner.expect("#locked(1)").await;
    owner.line("/mode +k sesame").await;
    owner.expect("set mode +k").await;
    post(&mut owner, "owner", "needle behind a key").await;
    owner.line("/join #nobob").await;
    owner.expect("#nobob(1)").await;
    post(&mut owner, "owner", "needle bob may not read").await;
    owner.line("/ban bob").await;
    owner.expect("banned").await;
    owner.line("/msg carol needle between two").await;
    owner.expect("owner needle between two").await;
    carol.expect("h:1").await;

    // Bob sees the open channel only.
    let found = search(&mut bob, "needle", "needle").await;
    assert!(found.contains("needle in the open"), "{found}");
    assert!(found.contains("#open"), "{found}");
    for hidden in ["behind a key", "bob may not read", "between two"] {
        assert!(!found.contains(hidden), "{hidden}: {found}");
    }
    // Searching a hidden channel by name finds nothing either (another guest: one search
    // every 2 seconds each).
    let mut dave = user_from([127, 0, 0, 24], server.raw, "dave").await;
    let found = search(&mut dave, "needle in:#locked", "needle").await;
    assert!(found.contains("nothing found"), "{found}");

    // The owner, a member of all three, finds them all, newest first; never the DM.
    let found = search(&mut owner, "needle", "needle").await;
    let first = found.find("bob may not read").expect("the newest");
    let last = found.find("needle in the open").expect("the oldest");
    assert!(first < last, "{found}");
    assert!(found.contains("behind a key"), "{found}");
    assert!(!found.contains("between two"), "{found}");

    // Filters, the pace, FTS operators as plain words and bad dates.
    let found = search(&mut carol, "needle open from:owner in:#open", "needle open").await;
    assert!(found.contains("needle in the open"), "{found}");
    assert!(!found.contains("between two"), "{found}");
    carol.line("/search needle").await;
    carol.expect("one search every 2 seconds").await;
    let mut erin = user_from([127, 0, 0, 25], server.raw, "erin").await;
    let found = search(&mut erin, "NEAR(needle OR x*", "NEAR(needle OR x*").await;
    assert!(found.contains("nothing found"), "{found}");
    let mut frank = user_from([127, 0, 0, 26], server.raw, "frank").await;
    let found = search(&mut frank, "needle the from:nobody", "needle the").await;
    assert!(found.contains("nothing found"), "{found}");
    carol.line("/search in:#open").await;
    carol.expect("usage: /search WORDS").await;
    carol.line("/search x before:soon").await;
    carol.expect("is no date").await;
    server.stop().await;
}

/// A raw-port client from `source` that reports an 80x24 screen (the layout with seconds).
async fn narrow_user(source: [u8; 4], server: SocketAddr, nick: &str) -> TestClient {
    let mut client = user_from(source, server, nick).await;
    client.report_size(80, 24).await;
    client
}

/// The screen row that shows `needle`.
fn row_of(client: &TestClient, needle: &str) -> String {
    client
        .screen()
        .lines()
        .find(|row| row.contains(needle))
        .map(str::to_string)
        .unwrap_or_default()
}

/// `HHMMSS` as seconds of the day.
fn seconds_of(stamp: &str) -> i64 {
    let number = |range: std::ops::Range<usize>| {
        stamp
            .get(range)
            .and_then(|s| s.parse::<i64>().ok())
            .expect("HHMMSS")
    };
    number(0..2) * 3600 + number(2..4) * 60 + number(4..6)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tz_moves_the_shown_time_and_nothing_else_and_both_settings_come_back() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with(config(&dir)).await;
    let mut alice = narrow_user([127, 0, 0, 31], server.raw, "alice").await;
    alice.line("/join #t").await;
    alice.expect("#t(1)").await;
    post(&mut alice, "alice", "what time is it").await;
    let before = row_of(&alice, "what time is it");

    alice.line("/tz Mars/Olympus").await;
    alice.expect("no such time zone").await;
    alice.line("/tz Asia/Kolkata").await;
    alice.expect("timestamps are shown in Asia/Kolkata").await;
    alice
        .wait_until("the line redrawn", |a| {
            let row = row_of(a, "what time is it");
            !row.is_empty() && row != before
        })
        .await;
    let after = row_of(&alice, "what time is it");
    // Kolkata is UTC+05:30 all year: only the six digits move, by that much.
    let (old_stamp, old_rest) = before.split_at(6);
    let (new_stamp, new_rest) = after.split_at(6);
    assert_eq!(old_rest, new_rest, "{before:?} / {after:?}");
    assert_eq!(
        (seconds_of(old_stamp) + 5 * 3600 + 30 * 60).rem_euclid(86_400),
        seconds_of(new_stamp)
    );
    alice.line("/tz").await;
    alice.expect("timestamps are shown in Asia/Kolkata;").await;

    // Both settings are saved with the client's and come back on its next connection.
    alice.line("/hide joins").await;
    alice.expect("join and part lines are folded").await;
    alice.line("/quit").await;
    alice.expect_closed().await;
    let mut again = narrow_user([127, 0, 0, 31], server.raw, "alice").await;
    again.line("/tz").await;
    again.expect("timestamps are shown in Asia/Kolkata;").await;
    again.line("/join #t").await;
    again
        .wait_until("the zone applies", |a| {
            row_of(a, "what time is it") == after
        })
        .await;
    again.line("/tz UTC").await;
    again.expect("timestamps are shown in UTC").await;
    again
        .wait_until("back to UTC", |a| row_of(a, "what time is it") == before)
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hide_joins_folds_join_and_part_lines_for_that_user_only() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with(config(&dir)).await;
    let mut quiet = user_from([127, 0, 0, 41], server.raw, "quiet").await;
    let mut loud = user_from([127, 0, 0, 42], server.raw, "loud").await;
    quiet.line("/hide joins").await;
    quiet.expect("join and part lines are folded").await;
    quiet.line("/join #j").await;
    quiet.expect("#j(1)").await;
    loud.line("/join #j").await;
    loud.expect("#j(2)").await;
    let mut guests = Vec::new();
    for (index, nick) in ["gx", "gy", "gz"].into_iter().enumerate() {
        let source = [127, 0, 0, 50 + u8::try_from(index).unwrap_or(0)];
        let mut guest = user_from(source, server.raw, nick).await;
        guest.line("/join #j").await;
        loud.expect(&format!("{nick} has joined")).await;
        guests.push(guest);
    }
    post(&mut loud, "loud", "marker after the joins").await;
    quiet.expect("marker after the joins").await;
    // The loud user sees each line; the quiet one one line for the minute (or two, if the
    // joins crossed a minute's end), which names who came as they come, repainted in place.
    assert!(loud.screen().contains("gz has joined"), "{}", loud.screen());
    assert!(
        !quiet.screen().contains("gx has joined"),
        "{}",
        quiet.screen()
    );
    quiet
        .wait_until("the folded line", |q| q.screen().contains("gz joined"))
        .await;
    let screen = quiet.screen();
    assert!(!screen.contains("gz has joined"), "{screen}");
    assert!(
        screen.contains("gx, gy, gz joined") || screen.contains("gz joined"),
        "{screen}"
    );
    assert!(rows_with(&quiet, "joined") <= 2, "{screen}");
    quiet.line("/show joins").await;
    quiet.expect("every join and part line is shown").await;
    quiet
        .wait_until("every line back", |q| q.screen().contains("gz has joined"))
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_conversation_between_accounts_is_never_found_by_anyone() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with(config(&dir)).await;
    let mut ann = user_from([127, 0, 0, 31], server.raw, "ann").await;
    let mut ben = user_from([127, 0, 0, 32], server.raw, "ben").await;
    let mut eve = user_from([127, 0, 0, 33], server.raw, "eve").await;
    for client in [&mut ann, &mut ben] {
        client.line("/register hunter22x").await;
        client.expect("is your account now").await;
    }
    ann.line("/join #open").await;
    post(&mut ann, "ann", "haystack in the open").await;
    // Between two accounts the conversation is stored with the history (its own name).
    ann.line("/msg ben haystack between two accounts").await;
    ann.expect("ann haystack between two accounts").await;
    ben.expect("h:").await;
    // Only its two partners find it (see the next test); a third party never does.
    let found = search(&mut eve, "haystack", "haystack").await;
    assert!(found.contains("haystack in the open"), "{found}");
    assert!(!found.contains("between two accounts"), "{found}");
    assert!(!found.contains("@"), "{found}");
    drop((ann, ben, eve));
    server.stop().await;
}

/// The runs of reverse-video text on the client's screen (`/g rN`'s hilight, and the
/// timestamps of unread messages).
fn reversed_runs(client: &TestClient) -> Vec<String> {
    let screen = client.terminal();
    let (rows, cols) = screen.size();
    let mut runs = Vec::new();
    for row in 0..rows.get() {
        let mut run = String::new();
        for col in 0..cols.get() {
            match screen.cell(row, col).filter(|cell| cell.inverse()) {
                Some(cell) => run.push_str(cell.contents()),
                None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
                None => {}
            }
        }
        if !run.is_empty() {
            runs.push(run);
        }
    }
    runs
}

/// Waits until `client`'s screen shows `line` with `word` in reverse video (`/g rN`).
async fn hilighted(client: &mut TestClient, line: &str, word: &str) {
    client
        .wait_until(&format!("{word:?} hilighted in {line:?}"), |c| {
            c.screen().contains(line) && reversed_runs(c).iter().any(|run| run == word)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_partner_finds_their_conversation_and_g_goes_to_a_result_hilighted_across_a_restart() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with(config(&dir)).await;
    let mut ann = user_from([127, 0, 0, 61], server.raw, "ann").await;
    // 24 rows: 30 newer lines fill ben's pane.
    let mut ben = narrow_user([127, 0, 0, 62], server.raw, "ben").await;
    let mut eve = user_from([127, 0, 0, 63], server.raw, "eve").await;
    for client in [&mut ann, &mut ben, &mut eve] {
        client.line("/register hunter22x").await;
        client.expect("is your account now").await;
    }
    ann.line("/join #open").await;
    post(&mut ann, "ann", "needle in the open").await;
    for filler in 0..30 {
        post(&mut ann, "ann", &format!("filler line {filler}")).await;
    }
    ann.line("/msg ben needle between two accounts").await;
    ann.expect("ann needle between two accounts").await;
    ben.expect("h:").await;
    ann.line("/msg ben more words after it").await;
    ann.expect("ann more words after it").await;

    // Each partner finds it, labelled with the other's name; the third account never does.
    let found = search(&mut ben, "needle", "needle").await;
    assert!(found.contains("r1 @ann"), "{found}");
    assert!(found.contains("needle between two accounts"), "{found}");
    assert!(found.contains("r2 #open"), "{found}");
    let found = search(&mut ann, "needle", "needle").await;
    assert!(found.contains("r1 @ben"), "{found}");
    let found = search(&mut eve, "needle", "needle").await;
    assert!(found.contains("r1 #open"), "{found}");
    assert!(!found.contains("between two"), "{found}");
    assert!(!found.contains("r2"), "{found}");
    eve.line("/g r2").await;
    eve.expect("your last search listed r1 to r1").await;

    // Ben is not in #open: /g r2 joins it and shows the old line with the word hilighted,
    // though 30 newer lines would fill the pane.
    ben.line("/g r2").await;
    hilighted(&mut ben, "needle in the open", "needle").await;
    assert!(!ben.screen().contains("filler line 29"), "{}", ben.screen());
    // /g r1 goes to the conversation's window.
    ben.line("/g r1").await;
    hilighted(&mut ben, "needle between two accounts", "needle").await;
    drop((ann, ben, eve));
    server.stop().await;

    // After a restart the conversation is not open: /g opens it from the store.
    let server = TestServer::start_with(config(&dir)).await;
    let mut ben = user_from([127, 0, 0, 62], server.raw, "ben2").await;
    ben.line("/login ben hunter22x").await;
    ben.expect("you are logged in as").await;
    ben.line("/g r1").await;
    ben.expect("no search results to go to").await;
    let found = search(&mut ben, "between", "between").await;
    assert!(found.contains("r1 @ann"), "{found}");
    ben.line("/g r1").await;
    hilighted(&mut ben, "needle between two accounts", "between").await;
    ben.expect("more words after it").await;
    // Eve, a third account, logged in after the restart, still finds nothing of it.
    let mut eve = user_from([127, 0, 0, 63], server.raw, "eve2").await;
    eve.line("/login eve hunter22x").await;
    eve.expect("you are logged in as").await;
    let found = search(&mut eve, "between", "between").await;
    assert!(found.contains("nothing found"), "{found}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hide_joins_folds_the_join_lines_of_history_read_from_the_store() {
    let (_keep, dir) = data_dir();
    // Channel #q's history, stored by an earlier run: lines an hour apart, and five joins in
    // one minute among them.
    {
        let store = r0c::store::Store::open(&crate::support::test_config(&dir).database_path())
            .expect("store");
        let base: i64 = 1_514_764_800_000_000;
        for seq in 0..60_u64 {
            let hour = i64::try_from(seq).unwrap_or(0) * 3_600_000_000;
            let (author, text, micros) = match seq {
                10..=14 => (
                    "--".to_string(),
                    format!("\x0baj{}\x02 has joined", seq - 10),
                    base + 10 * 3_600_000_000 + i64::try_from(seq).unwrap_or(0) * 1_000_000,
                ),
                _ => ("old".to_string(), format!("stored line {seq}"), base + hour),
            };
            store.append_message(
                "q",
                r0c::store::StoredMessage {
                    seq,
                    unix_micros: micros,
                    author,
                    text,
                    kind: Default::default(),
                },
            );
        }
        store.close();
    }
    let mut config = config(&dir);
    // Memory holds the newest 10: the joins are only in the store.
    config.hist_rd = 10;
    config.hist_mem = 10;
    config.hist_tsz = 5;
    let server = TestServer::start_with(config).await;
    let mut quiet = narrow_user([127, 0, 0, 71], server.raw, "quiet").await;
    quiet.line("/hide joins").await;
    quiet.expect("join and part lines are folded").await;
    quiet.line("/join #q").await;
    quiet.expect("stored line 59").await;
    quiet.line("/g 2018-01-01 05:00").await;
    quiet
        .wait_until("the page with the joins", |c| {
            c.screen().contains("stored line 9") && c.screen().contains("stored line 15")
        })
        .await;
    let screen = quiet.screen();
    assert!(screen.contains("j0, j1, j2, j3, j4 joined"), "{screen}");
    assert!(!screen.contains("has joined"), "{screen}");
    // Shown again, the lines come back as stored.
    quiet.line("/show joins").await;
    quiet.expect("every join and part line is shown").await;
    quiet.line("/g 2018-01-01 05:00").await;
    quiet
        .wait_until("each join line", |c| c.screen().contains("j3 has joined"))
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_day_changes_at_the_readers_midnight() {
    let (_keep, dir) = data_dir();
    {
        let store = r0c::store::Store::open(&crate::support::test_config(&dir).database_path())
            .expect("store");
        // 2026-01-14 22:30 UTC is 23:30 in Berlin (UTC+1 in winter).
        let late: i64 = 1_768_429_800_000_000;
        let minute: i64 = 60_000_000;
        let lines = [
            (late, "old", "late evening"),
            (late + 40 * minute, "old", "after berlin midnight"),
            (
                late + 90 * minute,
                "-!-",
                "\x0b6day changed to \x022026-01-15",
            ),
            (late + 100 * minute, "old", "after utc midnight"),
        ];
        for (seq, (micros, author, text)) in (0_u64..).zip(lines) {
            store.append_message(
                "d",
                r0c::store::StoredMessage {
                    seq,
                    unix_micros: micros,
                    author: author.into(),
                    text: text.into(),
                    kind: Default::default(),
                },
            );
        }
        store.close();
    }
    let server = TestServer::start_with(config(&dir)).await;
    let mut berlin = narrow_user([127, 0, 0, 81], server.raw, "berlin").await;
    berlin.line("/tz Europe/Berlin").await;
    berlin.expect("timestamps are shown in Europe/Berlin").await;
    let mut utc = narrow_user([127, 0, 0, 82], server.raw, "utc").await;
    for client in [&mut berlin, &mut utc] {
        client.line("/join #d").await;
        client.expect("after utc midnight").await;
    }
    let order = |client: &TestClient| -> Vec<String> {
        client
            .screen()
            .lines()
            .filter(|row| {
                // (Today's join lines come after a day-change line of their own.)
                [
                    "late evening",
                    "after berlin",
                    "changed to 2026-01-15",
                    "after utc",
                ]
                .iter()
                .any(|needle| row.contains(needle))
            })
            .map(str::to_string)
            .collect()
    };
    // In Berlin the day changes before the line posted at 00:10 local time, at 000000.
    let rows = order(&berlin);
    assert_eq!(rows.len(), 4, "{rows:#?}");
    assert!(rows[0].contains("late evening"), "{rows:#?}");
    assert!(
        rows[1].contains("day changed to 2026-01-15") && rows[1].starts_with("000000"),
        "{rows:#?}"
    );
    assert!(rows[2].contains("after berlin midnight"), "{rows:#?}");
    assert!(rows[3].contains("after utc midnight"), "{rows:#?}");
    // In UTC, where it was stored.
    let rows = order(&utc);
    assert_eq!(rows.len(), 4, "{rows:#?}");
    assert!(rows[1].contains("after berlin midnight"), "{rows:#?}");
    assert!(rows[2].contains("day changed to 2026-01-15"), "{rows:#?}");
    server.stop().await;
}
