//! The full-screen VT100 interface as a user sees it: the server's bytes go through the `vt100`
//! terminal emulator and we read rows, colours and the cursor.

use std::time::Duration;

use r0c::term::screen::STATUS_SGR;

/// [`STATUS_SGR`] without its leading reset, as a tick sends it on plain attributes.
const STATUS_SGR_AFTER_RESET: &str = "\x1b[37;44;48;5;235m";

use crate::support::{TestClient, TestServer, data_dir, printable};

/// `bytes` without the 5-second clock updates, which may fall into any measurement.
///
/// A tick comes in one of two shapes: wrapped in DECSC/DECRC when the frame leaves the input
/// line alone (`ESC 7`, `ESC [23;<col>H`, the bar's colours, the digits that changed, `ESC 8`),
/// or, when the cursor has to be parked anyway, the whole clock followed by `ESC [0m` and the
/// cursor's move back to the input line. The bar's colours come with their leading reset or,
/// on the plain attributes of a parked cursor, without it.
fn without_clock_ticks(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("\x1b[23") {
        let saved = rest[..start].ends_with("\x1b7");
        match clock_tick_length(&rest[start..], saved) {
            Some(length) => {
                let kept = if saved { start - 2 } else { start };
                out.push_str(&rest[..kept]);
                rest = &rest[start + length..];
            }
            None => {
                out.push_str(&rest[..start + 1]);
                rest = &rest[start + 1..];
            }
        }
    }
    out.push_str(rest);
    out.into_bytes()
}

/// How many bytes of `text` (which starts at `ESC [23`) are a clock tick, if it is one.
fn clock_tick_length(text: &str, saved: bool) -> Option<usize> {
    let after_row = &text["\x1b[23".len()..];
    let column_digits = match after_row.strip_prefix(';') {
        Some(column) => 1 + column.bytes().take_while(u8::is_ascii_digit).count(),
        None => 0,
    };
    let after_move = after_row[column_digits..].strip_prefix('H')?;
    let after_bar = after_move
        .strip_prefix(STATUS_SGR)
        .or_else(|| after_move.strip_prefix(STATUS_SGR_AFTER_RESET))?;
    let digits = after_bar.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 6 {
        return None;
    }
    let after_digits = &after_bar[digits..];
    let tail = if saved {
        after_digits.strip_prefix("\x1b8").map(|_| 2)?
    } else {
        let reset = after_digits.strip_prefix("\x1b[0m")?;
        4 + reset.find('H')? + 1
    };
    Some(text.len() - after_digits.len() + tail)
}

#[test]
fn the_clock_tick_filter_knows_both_shapes_and_keeps_everything_else() {
    let bar = STATUS_SGR;
    let saved = format!("y\x1b7\x1b[23;6H{bar}5\x1b8");
    assert_eq!(without_clock_ticks(saved.as_bytes()), b"y");
    let parked = format!("a\x1b[23H{bar}184045\x1b[0m\x1b[24;9Hb");
    assert_eq!(without_clock_ticks(parked.as_bytes()), b"ab");
    let plain = format!("y\x1b7\x1b[23;6H{STATUS_SGR_AFTER_RESET}5\x1b8z");
    assert_eq!(without_clock_ticks(plain.as_bytes()), b"yz");
    // A status bar rewrite that is more than the clock stays in the count.
    let status = format!("\x1b7\x1b[23;10H{bar}2: #two\x1b8");
    assert_eq!(without_clock_ticks(status.as_bytes()), status.as_bytes());
}

/// A client at 80x24 (the size everyone gets until the terminal says otherwise).
async fn at_80x24(server: &TestServer) -> TestClient {
    let mut client = TestClient::configured(server.raw, false).await;
    client.expect("> ").await;
    client
}

/// Alice at 80x24 and bob (`yyryyd`), both in `#g`, once alice has seen bob join.
async fn alice_and_bob_in_g(server: &TestServer) -> (TestClient, TestClient) {
    let mut alice = at_80x24(server).await;
    let mut bob = TestClient::joined(server.raw).await;
    alice.line("/join #g").await;
    bob.line("/join #g").await;
    alice.expect("yyryyd has joined").await;
    (alice, bob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_screen_has_four_zones() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let client = at_80x24(&server).await;
    assert_eq!(client.row(0), "r0c readme (and status info)");
    assert!(
        client.row(22).ends_with("   0: r0c-status"),
        "status bar: {:?}",
        client.row(22)
    );
    assert_eq!(client.row(23), "kywmyv>");
    assert_eq!(client.terminal().cursor_position(), (23, 8));
    // The tail of the welcome text fills the pane.
    assert!(
        client.screen().contains("silences the bell"),
        "{}",
        client.screen()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_pushed_into_the_pane_with_r0c_sequence() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = at_80x24(&server).await;
    let mut bob = TestClient::joined(server.raw).await;
    alice.line("/join #g").await;
    alice.expect("#g(1)").await;
    // Lines appear once the store has committed them, a moment after the window.
    alice.expect_row(2, "has joined").await;
    assert!(
        alice.row(1).ends_with("-- channel created at ")
            || alice.row(1).contains("channel created at")
    );
    assert!(
        alice.row(2).ends_with("-- kywmyv has joined"),
        "{:?}",
        alice.row(2)
    );
    assert_eq!(alice.row(3), "--");
    bob.line("/join #g").await;
    alice.expect("yyryyd has joined").await;
    for index in 0..25 {
        bob.say(&format!("msg {index}")).await;
    }
    alice.expect("yyryyd msg 24").await;
    alice.drain(Duration::from_millis(100)).await;
    let (before, clock) = (
        alice.bytes().len(),
        alice.row(22).get(..6).map(str::to_owned),
    );
    bob.line("one more").await;
    alice.expect("yyryyd one more").await;
    let clock_moved = alice.row(22).get(..6).map(str::to_owned) != clock;
    let push = String::from_utf8_lossy(&alice.bytes()[before..]).into_owned();
    // r0c's line push sequence (scripted clients match `H LF LF ESC[K`) inside the pane's
    // scroll region, set for this frame and released after its push, between DECSC and DECRC,
    // which put the cursor back on the input line (releasing the region homed it).
    // After the release nothing changes: the clock moves on its own ticks only (one may fall
    // into this read; it comes apart, in its own DECSC/DECRC).
    // Only when the clock's tick was due as the frame was drawn does the frame move it.
    let frame = String::from_utf8_lossy(&without_clock_ticks(push.as_bytes())).into_owned();
    let (_, tail) = frame.split_once("one more\x1b[r").unwrap_or_default();
    assert!(
        frame.starts_with("\x1b7\x1b[2;22r\x1b[21H\n\n\x1b[K")
            && frame.ends_with("\x1b8")
            && (tail == "\x1b8" || tail.starts_with("\x1b[23;") && clock_moved),
        "r0c's line push sequence: {push:?}"
    );
    assert_eq!(push.matches("\x1b[r").count(), 1, "{push:?}");
    assert_eq!(alice.terminal().cursor_position(), (23, 8));
    assert!(alice.row(21).ends_with("yyryyd one more"));
    let bottom = alice.row(20);
    assert!(
        bottom.ends_with("yyryyd msg 24"),
        "pane row above the newest: {bottom:?}"
    );
    assert!(alice.row(19).ends_with("yyryyd msg 23"));
    assert!(
        alice.row(22).contains("1: #g(2)") && alice.row(22).ends_with("yyryyd, kywmyv"),
        "{:?}",
        alice.row(22)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_up_scrolls_back_and_new_messages_only_touch_the_status_bar() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = at_80x24(&server).await;
    let mut bob = TestClient::joined(server.raw).await;
    alice.line("/join #g").await;
    alice.expect_row(22, "#g(1)").await;
    bob.line("/join #g").await;
    alice.expect("yyryyd has joined").await;
    for index in 0..40 {
        bob.say(&format!("line {index}")).await;
    }
    alice.expect("yyryyd line 39").await;
    alice.send(b"\x1b[5~").await;
    alice.expect("+20").await;
    assert!(
        alice.row(21).ends_with("yyryyd line 19"),
        "{}",
        alice.screen()
    );
    alice.drain(Duration::from_millis(100)).await;
    let before = alice.bytes().len();
    bob.line("while you were away").await;
    alice.expect("+21").await;
    alice.drain(Duration::from_millis(200)).await;
    assert!(
        !alice.screen().contains("while you were away"),
        "a scrolled view does not move"
    );
    let first_cost = without_clock_ticks(&alice.bytes()[before..]).len();
    // The first message also adds the window to the a: list; the next one changes only +K.
    let before = alice.bytes().len();
    bob.line("and again").await;
    alice.expect("+22").await;
    alice.drain(Duration::from_millis(200)).await;
    let cost = without_clock_ticks(&alice.bytes()[before..]).len();
    println!("message while scrolled up: {first_cost} bytes, then {cost} bytes (r0c: 137 each)");
    assert!(first_cost < 200, "{first_cost} bytes");
    assert!(
        cost < 80,
        "a message while scrolled costs only the +K field, got {cost} bytes: {:?}",
        String::from_utf8_lossy(&alice.bytes()[before..])
    );
    alice.send(b"\x1b[6~").await;
    alice.send(b"\x1b[6~").await;
    alice.expect("yyryyd while you were away").await;
    alice.drain(Duration::from_millis(100)).await;
    assert!(
        !alice.row(22).contains('+'),
        "back at the bottom the +K is gone: {:?}",
        alice.row(22)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resizing_changes_the_layout() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = at_80x24(&server).await;
    alice.line("/join #g").await;
    alice.line("hello").await;
    alice.expect("kywmyv hello").await;
    let at_80 = alice.row(3);
    assert!(
        at_80.len() > 6 && at_80[..6].bytes().all(|b| b.is_ascii_digit()),
        "HHMMSS at 80: {at_80:?}"
    );
    alice.report_size(100, 30).await;
    alice.expect("kywmyv hello").await;
    alice.drain(Duration::from_millis(200)).await;
    let at_100 = alice.row(3);
    assert_eq!(&at_100[2..3], ":", "HH:MM:SS at 100 columns: {at_100:?}");
    assert!(
        alice.row(28).contains("1: #g(1)"),
        "status bar moves to row 29"
    );
    assert_eq!(alice.row(29), "kywmyv>");
    alice.report_size(50, 16).await;
    alice.drain(Duration::from_millis(200)).await;
    assert!(
        alice.row(3).starts_with("  kywmyv hello"),
        "no timestamp below 60 columns: {:?}",
        alice.row(3)
    );
    alice.report_size(18, 10).await;
    alice.drain(Duration::from_millis(200)).await;
    assert_eq!(
        alice.row(3).trim(),
        "screen too small",
        "r0c's longest message that fits 18 columns"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_characters_wrap_and_the_cursor_follows_them() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = at_80x24(&server).await;
    alice.line("/join #g").await;
    alice.expect("#g(1)").await;
    let cjk = "日".repeat(45);
    alice.line(&cjk).await;
    alice.expect("日日日日日").await;
    alice.drain(Duration::from_millis(200)).await;
    let first = alice.row(3);
    let second = alice.row(4);
    // A word wider than the line is cut with a "-": 60 columns of it, then the rest.
    assert!(
        first.ends_with(&format!("{}-", "日".repeat(30))),
        "first line: {first:?}"
    );
    assert_eq!(second.trim(), "日".repeat(15));
    alice.send("漢字".as_bytes()).await;
    alice.expect("kywmyv> 漢字").await;
    assert_eq!(
        alice.terminal().cursor_position(),
        (23, 12),
        "cursor after the last wide character"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tab_completes_nicks_by_recent_activity_and_cycles_back() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = at_80x24(&server).await;
    let mut bob = TestClient::joined(server.raw).await;
    let mut carol = TestClient::joined(server.raw).await;
    bob.line("/nick bobby").await;
    carol.line("/nick bonnie").await;
    for client in [&mut alice, &mut bob, &mut carol] {
        client.line("/join #g").await;
    }
    alice.expect("bonnie has joined").await;
    bob.line("hi").await;
    alice.expect("bobby hi").await;
    alice.send(b"bo\t").await;
    alice.expect("kywmyv> bobby: ").await;
    alice.send(b"\t").await;
    alice.expect("kywmyv> bonnie: ").await;
    alice.send(b"\t").await;
    alice.drain(Duration::from_millis(200)).await;
    assert_eq!(
        alice.row(23),
        "kywmyv> bo",
        "cycling ends at the typed word, without a suffix"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_e_goes_to_mentions_first_then_activity_then_back() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = at_80x24(&server).await;
    let mut bob = TestClient::joined(server.raw).await;
    for name in ["#one", "#two"] {
        alice.line(&format!("/join {name}")).await;
        bob.line(&format!("/join {name}")).await;
    }
    alice.expect_row(22, "#two(2)").await;
    alice.line("/0").await;
    alice.expect_row(22, "0: r0c-status").await;
    bob.line("/1").await;
    bob.line("chatter in one").await;
    bob.line("/2").await;
    bob.line("kywmyv: look here").await;
    alice.expect("h:2").await;
    // The mention's notice in the status window alice looks at is read once it is drawn;
    // before that, the status window would count as unread for the jumps below.
    alice.expect("[about notifications]").await;
    alice.send(b"\x05").await;
    alice.expect_row(22, "2: #two").await;
    assert!(
        alice.screen().contains("yyryyd kywmyv: look here"),
        "{}",
        alice.screen()
    );
    alice.send(b"\x05").await;
    alice.expect_row(22, "1: #one").await;
    assert!(
        alice.screen().contains("yyryyd chatter in one"),
        "{}",
        alice.screen()
    );
    // Nothing unread: back to the previous window.
    alice.send(b"\x05").await;
    alice.expect_row(22, "2: #two").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_of_a_passive_client_and_of_typing() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = at_80x24(&server).await;
    let mut bob = TestClient::joined(server.raw).await;
    alice.line("/join #g").await;
    bob.line("/join #g").await;
    for index in 0..30 {
        bob.say(&format!("fill {index}")).await;
    }
    alice.expect("yyryyd fill 29").await;
    alice.drain(Duration::from_millis(300)).await;
    let mut costs = Vec::new();
    for index in 0..10 {
        let before = alice.bytes().len();
        bob.say(&format!("msg {index}")).await;
        alice.expect(&format!("yyryyd msg {index}")).await;
        alice.drain(Duration::from_millis(120)).await;
        costs.push(without_clock_ticks(&alice.bytes()[before..]).len());
    }
    costs.sort_unstable();
    let average = costs.iter().sum::<usize>() / costs.len();
    let median = costs[costs.len() / 2 - 1];
    println!(
        "passive 80x24 client: {average} bytes per short message on average, {median} the median \
         (r0c: 97-178); each: {costs:?}"
    );
    // The push (DECSC, the region `ESC[2;22r`, `ESC[21H LF LF ESC[K`, the line, the release
    // `ESC[r`, DECRC) is 58 bytes for these: 10 bytes a frame for a terminal that is never
    // left with a scroll region. The line is the unread timestamp `ESC[7m HHMMSS`, the blanks
    // before the nick skipped (`ESC[5C`), the nick `ESC[;1m yyryyd ESC[m` (an omitted SGR
    // parameter is 0) and ` msg N`. The
    // clock moves on its ticks only (filtered out above), never with a message. The bound is
    // on the median, so that a frame that happened to carry more cannot fail the test.
    assert!(
        median <= 58,
        "a short message costs {median} bytes (the median of {costs:?})"
    );

    // The first keypress marks what is on screen as read (r0c repaints those timestamps too).
    alice.send(b"x").await;
    alice.expect("kywmyv> x").await;
    alice.drain(Duration::from_millis(120)).await;
    let before = alice.bytes().len();
    alice.send(b"y").await;
    alice.expect("kywmyv> xy").await;
    alice.drain(Duration::from_millis(120)).await;
    let typed = without_clock_ticks(&alice.bytes()[before..]).len();
    println!(
        "typing one character: {typed} bytes (r0c re-sends the line): {:?}",
        String::from_utf8_lossy(&alice.bytes()[before..])
    );
    assert!(typed <= 8, "typing one character costs {typed} bytes");
    server.stop().await;
}

/// Bob sends `count` lines `<name> 00` … in one write once alice's screen is quiet; returns
/// the bytes alice got from then until her pane showed the last and went quiet again.
async fn burst_from_bob(
    alice: &mut TestClient,
    bob: &mut TestClient,
    name: &str,
    count: usize,
) -> Vec<u8> {
    alice.drain(Duration::from_millis(300)).await;
    let before = alice.bytes().len();
    let burst: String = (0..count).map(|i| format!("{name} {i:02}\n")).collect();
    bob.send(burst.as_bytes()).await;
    alice
        .expect_row(21, &format!("{name} {:02}", count.saturating_sub(1)))
        .await;
    alice.drain(Duration::from_millis(300)).await;
    alice.bytes()[before..].to_vec()
}

/// Asserts that the pane's bottom `rows` rows show the last `rows` of `count` burst lines
/// `<name> 00` …, in order.
fn pane_ends_with_burst(alice: &TestClient, name: &str, count: usize, rows: usize) {
    for (offset, row) in (22 - rows..=21).enumerate() {
        let expected = format!(" {name} {:02}", count - rows + offset);
        let row = u16::try_from(row).expect("a pane row");
        assert!(
            alice.row(row).ends_with(&expected),
            "row {row} shows {:?}, not {expected:?}:\n{}",
            alice.row(row),
            alice.screen()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_raw_port_clients_get_r0c_push_form_and_both_forms_show_the_same_pane() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    // Alice on the raw port (where r0c's PowerShell client connects), carol on the telnet
    // port (NAWS 80x24), bob says the lines.
    let mut alice = at_80x24(&server).await;
    let mut carol = TestClient::configured(server.telnet, true).await;
    carol.expect("> ").await;
    let mut bob = TestClient::joined(server.raw).await;
    for client in [&mut alice, &mut carol, &mut bob] {
        client.line("/join #p").await;
    }
    bob.expect("#p(3)").await;
    for index in 0..25 {
        bob.say(&format!("fill {index}")).await;
    }
    for client in [&mut alice, &mut carol] {
        client.expect(" fill 24").await;
        client.drain(Duration::from_millis(100)).await;
    }
    let (alice_before, carol_before) = (alice.bytes().len(), carol.bytes().len());
    bob.line("the last line").await;
    alice.expect(" the last line").await;
    carol.expect(" the last line").await;
    let raw = String::from_utf8_lossy(&alice.bytes()[alice_before..]).into_owned();
    let telnet = String::from_utf8_lossy(&carol.bytes()[carol_before..]).into_owned();
    assert!(
        raw.contains("\x1b[2;22r\x1b[21H\n\n\x1b[K"),
        "raw port: r0c's push: {raw:?}"
    );
    assert!(
        telnet.contains("\x1b[2;22r\x1b[22H\n") && !telnet.contains("\n\n"),
        "telnet port: the short push: {telnet:?}"
    );
    for row in 1..22 {
        assert_eq!(
            alice.row(row).get(6..),
            carol.row(row).get(6..),
            "pane row {row}:\n{}\n{}",
            alice.screen(),
            carol.screen()
        );
    }
    assert!(carol.row(21).ends_with(" the last line"));
    assert!(carol.row(20).ends_with(" fill 24"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_taller_than_the_pane_is_drawn_once_not_pushed_line_by_line() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let (mut alice, mut bob) = alice_and_bob_in_g(&server).await;
    // Forty lines in one write are posted together, well within one frame of alice's:
    // fewer than the 2 × 24 after which r0c redraws, more than the pane's 21 rows.
    let sent = burst_from_bob(&mut alice, &mut bob, "burst line", 40).await;
    // The pane (rows 1 to 21) shows the newest 21 lines, in order.
    pane_ends_with_burst(&alice, "burst line", 40, 21);
    // Lines that would scroll out of sight in the same frame are never sent: about one
    // pane of bytes, where forty pushes would cost more than 2 KB.
    let sent = sent.as_slice();
    let text = String::from_utf8_lossy(sent);
    assert!(
        !text.contains("burst line 00"),
        "a line that could not stay on screen was sent"
    );
    assert!(
        sent.len() < 1600,
        "the burst cost {} bytes: {text:?}",
        sent.len()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_of_several_lines_pushes_once_and_feeds_the_rest() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let (mut alice, mut bob) = alice_and_bob_in_g(&server).await;
    for index in 0..25 {
        bob.say(&format!("fill {index}")).await;
    }
    alice.expect("yyryyd fill 24").await;
    // Six lines in one write are posted together, mostly within one frame of alice's (her
    // frames may fall between them on a busy machine).
    let sent = burst_from_bob(&mut alice, &mut bob, "six lines", 6).await;
    pane_ends_with_burst(&alice, "six lines", 6, 6);
    assert!(alice.row(15).ends_with(" fill 24"), "{}", alice.screen());
    // Each frame that scrolls pays r0c's push once (r0c's PowerShell client looks for it);
    // the frame's further lines cost CR LF each.
    let sent = String::from_utf8_lossy(&sent).into_owned();
    let frames = sent.matches("\x1b[2;22r").count();
    let pushes = sent.matches("\x1b[21H\n\n\x1b[K").count();
    let fed = sent.matches("\r\n").count();
    assert!(
        (1..=3).contains(&frames) && pushes == frames && pushes + fed == 6,
        "{frames} frames, {pushes} pushes, {fed} lines fed: {sent:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolling_back_into_history_from_before_joining() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut bob = TestClient::joined(server.raw).await;
    bob.line("/join #h").await;
    for index in 0..30 {
        bob.say(&format!("old {index}")).await;
    }
    bob.expect("old 29").await;
    let mut alice = at_80x24(&server).await;
    alice.line("/join #h").await;
    alice.expect("yyryyd has joined").await;
    alice.send(b"\x1b[5~").await;
    alice.expect_row(22, "+").await;
    // The pane shows 21 consecutive lines and the +K counts exactly the messages below them.
    let bottom = alice.row(21);
    let status = alice.row(22);
    let below: usize = status
        .split('+')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|k| k.parse().ok())
        .expect("+K");
    let last: usize = bottom
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("an 'old N' line at the bottom");
    // Below "old N": old N+1..29, and the join line.
    assert_eq!(below, 29 - last + 1, "screen:\n{}", alice.screen());
    for row in 1..21 {
        assert_ne!(
            alice.row(row),
            "--",
            "the pane is full:\n{}",
            alice.screen()
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_screen_costs_only_clock_ticks() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = at_80x24(&server).await;
    alice.drain(Duration::from_millis(300)).await;
    let before = alice.bytes().len();
    // At least one UTC second divisible by 5 passes within 6 seconds.
    alice.read_for(Duration::from_secs(6)).await;
    let idle = &alice.bytes()[before..];
    let ticks = idle.windows(4).filter(|w| *w == b"\x1b[23").count();
    println!(
        "idle 80x24 client: {} bytes in 6 s, {ticks} clock updates",
        idle.len()
    );
    assert!(
        (1..=2).contains(&ticks),
        "{ticks} updates: {:?}",
        String::from_utf8_lossy(idle)
    );
    assert!(
        idle.len() <= ticks * 45,
        "each clock update is at most 45 bytes: {}",
        idle.len()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_elsewhere_notifies_without_moving_the_user() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let (mut alice, mut bob) = alice_and_bob_in_g(&server).await;
    alice.line("/join #quiet").await;
    alice.expect_row(22, "2: #quiet").await;
    alice.line("typing here").await;
    bob.line("kywmyv: are you there?").await;
    alice.expect("someone mentioned your nick in #g").await;
    alice.expect_row(22, "h:1").await;
    assert!(
        alice.row(22).contains("2: #quiet"),
        "still in #quiet: {:?}",
        alice.row(22)
    );
    alice.line("/0").await;
    alice.expect("[about notifications]").await;
    alice
        .expect("you were mentioned in #g: yyryyd kywmyv: are you there?")
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_mentions_are_reported_once_per_channel() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut bob = TestClient::joined(server.raw).await;
    bob.line("/join #g").await;
    bob.line("where is yyryyd").await;
    bob.expect("kywmyv where is yyryyd").await;
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/join #g").await;
    alice.expect("yyryyd has joined").await;
    alice.line("/part").await;
    alice.expect_row(48, "0: r0c-status").await;
    alice.line("/join #g").await;
    alice.expect_row(48, "1: #g").await;
    alice.line("/0").await;
    alice.expect_row(48, "0: r0c-status").await;
    let reports = alice
        .screen()
        .matches("you were mentioned in #g: kywmyv where is yyryyd")
        .count();
    assert_eq!(reports, 1, "{}", alice.screen());
    assert!(
        alice.screen().contains("seconds ago ("),
        "{}",
        alice.screen()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_mode_hides_names_and_colour_codes_apply() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = at_80x24(&server).await;
    alice.line("/join #g").await;
    alice.send(b"plain \x0b9red\x0f back\n").await;
    alice.expect("kywmyv plain red back").await;
    let row = (1..22)
        .find(|&r| alice.row(r).ends_with("plain red back"))
        .expect("message row");
    let red_col = alice.row(row).find("red").expect("red") as u16;
    let cell = alice.terminal().cell(row, red_col).expect("cell");
    assert_eq!(
        (cell.fgcolor(), cell.bold()),
        (vt100::Color::Idx(1), true),
        "CTRL-K 9 is bright red"
    );
    alice.send(b"\x0e").await;
    alice.drain(Duration::from_millis(300)).await;
    assert!(
        alice.screen().lines().any(|l| l == "plain red back"),
        "names hidden:\n{}",
        alice.screen()
    );
    alice.line("/v").await;
    alice.expect("kywmyv plain red back").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bell_levels() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let (mut alice, mut bob) = alice_and_bob_in_g(&server).await;
    // Each case: the level, what bob says in the window alice is looking at, whether it rings.
    let cases = [
        ("/b1", "kywmyv one", false),
        ("/b2", "kywmyv two", true),
        ("/b0", "kywmyv three", false),
        ("/b2", "no mention", false),
        ("/b3", "any message", true),
    ];
    for (level, words, rings) in cases {
        alice.line(level).await;
        alice.expect("Audible alerts").await;
        // Past the once-a-second limit and the quiet time after Enter.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        alice.drain(Duration::from_millis(50)).await;
        let before = alice.bytes().len();
        bob.line(words).await;
        alice.expect(&format!("yyryyd {words}")).await;
        alice.drain(Duration::from_millis(100)).await;
        let rang = alice.bytes()[before..].contains(&0x07);
        assert_eq!(rang, rings, "{level} and {words:?}");
    }
    server.stop().await;
}

/// Walks the wizard as a line-buffered client (netcat in a cooked terminal): whole lines, LF.
async fn line_buffered(server: &TestServer) -> TestClient {
    let mut client = TestClient::connect(server.raw).await;
    client.reach_typing_test().await;
    client.send(b"qwer asdf\n\n").await;
    client.expect("stuck in line-buffered mode").await;
    client.line("a").await;
    client.expect("does colours work?").await;
    client.line("y").await;
    client.expect("which line looks like").await;
    client.line("a").await;
    client.expect("r0c readme (and status info)").await;
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linemode_swaps_the_bottom_rows_and_chats() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut bob = TestClient::joined(server.raw).await;
    bob.line("/join #g").await;
    let mut alice = line_buffered(&server).await;
    // The terminal's answer to the size probe waits in its line buffer until Enter.
    alice
        .expect_row(22, "please press ENTER  (due to linemode)")
        .await;
    // r0c's notice goes on a cleared screen before the frame, which then covers it.
    let text = alice.text();
    let banner = text.find("\x1b[H\x1b[J\r\n   *** please press ENTER  (due to linemode) ***");
    let topic = text.find("r0c readme (and status info)");
    assert!(banner.is_some() && banner < topic, "{}", printable(&text));
    assert!(!alice.screen().contains("***"), "{}", alice.screen());
    alice.line("/join #g").await;
    alice.expect_row(23, "#g(2)").await;
    assert!(
        alice.row(22).starts_with("yyryyd>"),
        "input above the status bar: {:?}",
        alice.row(22)
    );
    alice.line("hello in linemode").await;
    bob.expect("yyryyd hello in linemode").await;
    bob.line("hi back").await;
    alice.expect("kywmyv hi back").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_without_escape_codes_gets_the_teletype_screen() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut bob = TestClient::joined(server.raw).await;
    bob.line("/join #g").await;
    let mut alice = TestClient::connect(server.raw).await;
    alice.reach_typing_test().await;
    for key in "qwer asdf\n\n".bytes() {
        alice.send(&[key]).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    alice.expect("nothing happened").await;
    alice.send(b"b").await;
    alice.expect("does colours work?").await;
    alice.send(b"n").await;
    alice.expect("what did you see instead?").await;
    alice.send(b"b").await;
    alice.expect("not vt100 compatible").await;
    alice.send(b"a").await;
    alice.expect("which line looks like").await;
    alice.send(b"a").await;
    alice.expect("yyryyd> ").await;
    let from = alice.bytes().len();
    alice.line("/join #g").await;
    alice.line("plain words").await;
    bob.expect("yyryyd plain words").await;
    bob.line("\x0b9colour is dropped here").await;
    alice.expect("kywmyv colour is dropped here").await;
    let after = &alice.bytes()[from..];
    assert!(
        !after.contains(&0x1b),
        "no escape codes at all: {:?}",
        String::from_utf8_lossy(after)
    );
    assert!(
        alice.text().contains("1: #g(2)   yyryyd> "),
        "status and prompt share the last line"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_telnet_gets_slowmo_chunks_and_still_chats() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut bob = TestClient::joined(server.raw).await;
    bob.line("/join #g").await;
    // telnet.exe: a window size, keys one by one, Enter as CR LF, cp437, and yes, telnet.exe.
    let mut stream = tokio::net::TcpStream::connect(server.telnet)
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
        .write_all(b"\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0")
        .await
        .expect("naws");
    for key in [
        "q", "w", "e", "r", " ", "a", "s", "d", "f", "\r\n", "\r\n", "b", "y", "b",
    ] {
        tokio::time::sleep(Duration::from_millis(150)).await;
        stream.write_all(key.as_bytes()).await.expect("key");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut buf = vec![0u8; 65536];
    let mut got = Vec::new();
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await
    {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&got).contains("are you using telnet.exe"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    stream.write_all(b"y").await.expect("answer");
    let mut reads = Vec::new();
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            reads.push((started.elapsed(), n));
        }
    }
    let sizes: Vec<usize> = reads.iter().map(|(_, n)| *n).collect();
    assert!(
        sizes.len() >= 3,
        "the first screen comes in several chunks: {sizes:?}"
    );
    assert!(
        sizes.iter().all(|n| *n <= 510),
        "no chunk over 510 bytes: {sizes:?}"
    );
    let gaps: Vec<Duration> = reads.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_millis(120)),
        "chunks are paced: {gaps:?}"
    );
    stream.write_all(b"/join #g\r\n").await.expect("join");
    bob.expect("yyryyd has joined").await;
    bob.line("hello telnet.exe").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut text = Vec::new();
    while !String::from_utf8_lossy(&text).contains("hello telnet.exe") {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("in time")
            .expect("read");
        assert!(n > 0 && n <= 510);
        text.extend_from_slice(&buf[..n]);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_link_is_measured_named_and_paced() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut client = TestClient::configured(server.raw, false).await;
    // A terminal behind a modem answers the speed test's two probes far apart.
    assert!(
        client
            .text()
            .contains("running speedtest... \x1b[s\x1b[999;999H\x1b[6n\x1b[u")
    );
    client.send(b"\x1b[24;80R").await;
    // The channel's first screen is drawn before the link is known to be slow.
    client.line("/join #g").await;
    client.expect_row(22, "#g(1)").await;
    let mut bob = TestClient::joined(server.raw).await;
    bob.line("/join #g").await;
    client.expect("yyryyd has joined").await;
    client.drain(Duration::from_millis(300)).await;
    // 1.2 s for 1120 bits is about 1170 bps: the 1200 bps tier (from 525 to 1500), with room
    // for a busy machine to delay either answer.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    client.send(b"\x1b[24;80R").await;
    client.expect("detected 1200 bps modem; optimizing").await;
    client.drain(Duration::from_millis(1500)).await;

    // At 1200 bps the status bar is left for the clock tick: a new message costs only itself
    // (unless a tick, every 5 s on the clock, fell into the measurement).
    let tick = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 5)
    };
    let before = client.bytes().len();
    let tick_before = tick();
    bob.line("over the modem").await;
    client.expect("yyryyd over the modem").await;
    client.drain(Duration::from_millis(300)).await;
    let sent = String::from_utf8_lossy(&client.bytes()[before..]).into_owned();
    assert!(
        tick() != tick_before || !sent.contains("\x1b[23"),
        "no status bar with the message: {sent:?}"
    );

    // A flood of 8 messages: the paced link gets the newest ones soon instead of all of them
    // late, and what the user types is echoed at once, ahead of the flood.
    let before = client.bytes().len();
    for n in 0..8 {
        // One read each, so they are eight messages, not one paste.
        bob.line(&format!("flood line {n:02}")).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        if n == 2 {
            client.send(b"X").await;
        }
    }
    client.expect("flood line 07").await;
    client.drain(Duration::from_millis(1500)).await;
    let sent = client.bytes()[before..].to_vec();
    let text = String::from_utf8_lossy(&sent).into_owned();
    let echo = sent.iter().position(|b| *b == b'X').expect("the echo");
    let newest = text.find("flood line 07").expect("the newest line");
    assert!(echo < newest, "the echo waited for the flood: {text:?}");
    let lines_sent = text.matches("flood line").count();
    assert!(
        lines_sent < 8,
        "a 1200 bps link gets the newest lines, not all 8: {text:?}"
    );
    // The screen ends up right: the newest line in the pane, the X on the input line.
    assert!(
        client.screen().contains("flood line 07"),
        "{}",
        client.screen()
    );
    assert!(client.row(23).ends_with("> X"), "{}", client.screen());

    // The feedback of a command typed on the paced link is shown where the user is: the
    // Enter gets a whole frame, not an echo that would only redraw the input line.
    client.send(b"\x7f").await;
    client.expect_row(23, ">").await;
    client.drain(Duration::from_millis(1500)).await;
    client.line("/frobnicate").await;
    client.expect("-err- invalid command: /frobnicate").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goto_jumps_by_position_percentage_and_time() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = at_80x24(&server).await;
    alice.line("/join #g").await;
    alice.expect_row(22, "#g(1)").await;
    for index in 0..40 {
        alice.say(&format!("number {index}")).await;
    }
    alice.expect("kywmyv number 39").await;
    // Messages 0 and 1 are "channel created" and the join; "number 0" is message 2.
    alice.line("/g 12").await;
    alice.expect_row(1, "kywmyv number 10").await;
    assert!(
        alice.row(22).contains('+'),
        "scrolled away from the bottom: {:?}",
        alice.row(22)
    );
    alice.line("/l").await;
    alice.expect_row(21, "kywmyv number 39").await;
    alice.line("/g 50%").await;
    alice.expect_row(1, "kywmyv number 19").await;
    alice.line("/g 00:00").await;
    alice.drain(Duration::from_millis(200)).await;
    alice.line("/g 1999-01-01").await;
    alice.expect_row(1, "channel created at").await;
    alice.line("/g sometime").await;
    alice
        .expect("invalid argument format, see /g for help")
        .await;
    // The help is long: a one-line notice here, the full text in the status window.
    alice.line("/g").await;
    alice.expect("[goto]  (more in window 0: /0)").await;
    alice.line("/0").await;
    alice.expect("42 msgs since").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_gives_the_terminal_its_whole_screen_back() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let (mut alice, mut bob) = alice_and_bob_in_g(&server).await;
    let mut carol = at_80x24(&server).await;
    carol.line("/join #g").await;
    for index in 0..25 {
        bob.say(&format!("msg {index}")).await;
    }
    alice.expect("yyryyd msg 24").await;
    carol.expect("yyryyd msg 24").await;
    // A busy machine may show all 25 in one frame, which writes the pane in place: one more
    // line is surely pushed.
    bob.say("one more").await;
    alice.expect("yyryyd one more").await;
    carol.expect("yyryyd one more").await;
    // Pushing lines set the pane as the scroll region, and each frame released it.
    let text = String::from_utf8_lossy(alice.bytes()).into_owned();
    let chat = text.find("\x1b[2;22r").map_or("", |first| &text[first..]);
    assert!(!chat.is_empty(), "a push set the region");
    assert_eq!(
        chat.matches("\x1b[2;22r").count(),
        chat.matches("\x1b[r").count(),
        "{}",
        printable(chat)
    );

    // `/quit` releases it once more (keeping the cursor where it is) before the connection
    // closes, which is harmless.
    alice.line("/quit").await;
    alice.expect_closed().await;
    assert_released(&alice);
    assert_eq!(alice.terminal().cursor_position().0, 23);

    // So does a server shutdown, after the last frame.
    server.stop().await;
    carol.expect_closed().await;
    assert_released(&carol);
}

/// The last bytes `client` got release the scroll region and keep the cursor where it was.
fn assert_released(client: &TestClient) {
    let text = String::from_utf8_lossy(client.bytes()).into_owned();
    assert!(text.ends_with("\x1b7\x1b[r\x1b8"), "{}", printable(&text));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_in_the_active_window_while_scrolled_up_shows_in_h() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let (mut alice, mut bob) = alice_and_bob_in_g(&server).await;
    let burst: String = (0..30).map(|i| format!("line {i}\n")).collect();
    bob.send(burst.as_bytes()).await;
    alice.expect_row(21, "line 29").await;
    alice.send(b"\x1b[5~").await;
    alice.expect_row(22, "+").await;
    assert!(!alice.row(22).contains("h:"), "{:?}", alice.row(22));
    bob.line("kywmyv: are you reading?").await;
    alice.expect_row(22, "h:1").await;
    // As r0c shows it: `+K   h:1   a:…1…`.
    let bar = alice.row(22);
    let (before_h, after_h) = bar.split_once("h:1").expect("h:1");
    assert!(before_h.contains("  +"), "{bar:?}");
    assert!(
        after_h.split_once("a:").is_some_and(|(_, list)| list
            .split_whitespace()
            .next()
            .is_some_and(|l| l.split(',').any(|w| w == "1"))),
        "{bar:?}"
    );
    // Back at the bottom the mention is on screen and the lists drop the window.
    alice.line("/l").await;
    alice.expect("kywmyv: are you reading?").await;
    alice.drain(Duration::from_millis(200)).await;
    assert!(!alice.row(22).contains("h:1"), "{:?}", alice.row(22));
    server.stop().await;
}

/// Seconds since midnight of a `HHMMSS` prefix of `row`.
fn hhmmss(row: &str) -> Option<u32> {
    let digits = row.get(..6)?;
    let n: u32 = digits.parse().ok()?;
    Some(n / 10000 * 3600 + n / 100 % 100 * 60 + n % 100)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_moves_on_its_ticks_only() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let (mut alice, mut bob) = alice_and_bob_in_g(&server).await;
    let clocks = |alice: &TestClient| hhmmss(&alice.row(22)).expect("the status bar's clock");
    for index in 0..4 {
        // Messages in different seconds, most of them between two 5-second clock steps.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let (before, shown) = (alice.bytes().len(), clocks(&alice));
        bob.say(&format!("tick {index}")).await;
        alice.expect(&format!("yyryyd tick {index}")).await;
        alice.drain(Duration::from_millis(100)).await;
        // The clock shows a 5-second step, not the message's second (UI spec §10-§12: no
        // status bar rewrite just because the clock changed), and unless its tick came
        // meanwhile, the message's frame carries no clock bytes.
        assert_eq!(clocks(&alice) % 5, 0, "clock {:?}", alice.row(22));
        let frame = without_clock_ticks(&alice.bytes()[before..]);
        assert!(
            clocks(&alice) != shown || !frame.windows(4).any(|w| w == b"\x1b[23"),
            "a message moved the clock: {:?}",
            String::from_utf8_lossy(&alice.bytes()[before..])
        );
    }
    // The tick still moves the clock, to the next step.
    let shown = clocks(&alice);
    alice
        .wait_until("the clock's next step", |alice| clocks(alice) != shown)
        .await;
    assert_eq!(clocks(&alice) % 5, 0, "clock {:?}", alice.row(22));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_in_the_pane_have_their_authors_colours() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut alice = at_80x24(&server).await;
    alice.line("/join #g").await;
    alice.expect_row(22, "#g(1)").await;
    // Each case: the command, the notice's text, its author, its colour and boldness.
    let cases = [
        (
            "/b1",
            "Audible alerts",
            "-nfo-",
            vt100::Color::Idx(2),
            false,
        ),
        (
            "/frobnicate",
            "invalid command",
            "-err-",
            vt100::Color::Idx(3),
            true,
        ),
    ];
    for (command, text, author, colour, bold) in cases {
        alice.line(command).await;
        alice.expect(text).await;
        alice.drain(Duration::from_millis(100)).await;
        let row = (1..22u16)
            .find(|&r| {
                alice.row(r).starts_with(&format!("{author} ")) && alice.row(r).contains(text)
            })
            .unwrap_or_else(|| panic!("{command}: no notice row:\n{}", alice.screen()));
        let cell = alice.terminal().cell(row, 0).expect("cell");
        assert_eq!((cell.fgcolor(), cell.bold()), (colour, bold), "{command}");
    }
    server.stop().await;
}
