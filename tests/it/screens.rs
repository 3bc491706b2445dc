//! Every screen the server draws, at 80x24, 40x20 and 132x43, read through the `vt100`
//! emulator: no row overflows, borders are whole, and at 80x24 nothing is out of line with
//! r0c's reference screens.

use std::time::Duration;

use crate::support::{TestClient, TestServer, data_dir};

/// The sizes every screen is checked at.
const SIZES: [(u16, u16); 3] = [(80, 24), (40, 20), (132, 43)];

/// One screen as the user saw it.
struct Shot {
    name: String,
    cols: u16,
    rows: u16,
    text: Vec<String>,
    /// Rows the terminal had to wrap (text reached past the last column).
    wrapped: Vec<u16>,
    /// The screen is the full-screen chat interface (not a wizard page or the red page).
    chat: bool,
}

impl Shot {
    fn take(client: &TestClient, name: &str, chat: bool) -> Shot {
        let screen = client.terminal();
        let (rows, cols) = screen.size();
        let (rows, cols) = (rows.get(), cols.get());
        Shot {
            name: format!("{name} at {cols}x{rows}"),
            cols,
            rows,
            text: (0..rows).map(|row| client.row(row)).collect(),
            wrapped: (0..rows).filter(|&row| screen.row_wrapped(row)).collect(),
            chat,
        }
    }

    fn dump(&self) -> String {
        let mut out = format!("--- {} ---\n", self.name);
        for (index, row) in self.text.iter().enumerate() {
            out.push_str(&format!("{index:2}|{row}\n"));
        }
        out
    }
}

/// A telnet client that reports `cols` x `rows` and walks the wizard; each wizard page and the
/// first chat screen are added to `shots`.
async fn telnet_client(
    server: &TestServer,
    (cols, rows): (u16, u16),
    shots: &mut Vec<Shot>,
) -> TestClient {
    let mut client = TestClient::connect(server.telnet).await;
    client.set_terminal_size(cols, rows);
    let [c1, c0] = cols.to_be_bytes();
    let [r1, r0] = rows.to_be_bytes();
    client
        .send(&[0xff, 0xfa, 0x1f, c1, c0, r1, r0, 0xff, 0xf0])
        .await;
    client.reach_typing_test().await;
    client.drain(Duration::from_millis(100)).await;
    shots.push(Shot::take(&client, "wizard: typing test", false));
    for key in "qwer asdf\n\n".bytes() {
        client.send(&[key]).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.expect("nothing happened").await;
    client.drain(Duration::from_millis(50)).await;
    shots.push(Shot::take(&client, "wizard: echo test", false));
    client.send(b"b").await;
    client.expect("does colours work?").await;
    client.drain(Duration::from_millis(50)).await;
    shots.push(Shot::take(&client, "wizard: colours", false));
    client.send(b"y").await;
    client.expect("which line looks like").await;
    client.drain(Duration::from_millis(50)).await;
    shots.push(Shot::take(&client, "wizard: charset", false));
    client.send(b"a").await;
    client.expect("r0c readme (and status info)").await;
    client.expect("> ").await;
    client.drain(Duration::from_millis(200)).await;
    shots.push(Shot::take(&client, "first screen", true));
    client
}

/// Every screen at every size.
async fn all_shots() -> Vec<Shot> {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut shots = Vec::new();
    let mut bob = TestClient::joined(server.raw).await;
    bob.line("/join #g").await;
    for size in SIZES {
        let mut client = telnet_client(&server, size, &mut shots).await;
        let rows = size.1;
        // The top of the welcome text: PgUp until the first line shows.
        for _ in 0..10 {
            client.send(b"\x1b[5~").await;
            client.drain(Duration::from_millis(100)).await;
        }
        shots.push(Shot::take(&client, "welcome, top", true));
        client.line("/l").await;
        for page in ["", "commands", "hotkeys", "ui", "about"] {
            client.line(&format!("/help {page}")).await;
            client.expect_row(rows - 2, "0: r0c-status").await;
            client.drain(Duration::from_millis(150)).await;
            shots.push(Shot::take(&client, &format!("/help {page}"), true));
        }
        client.line("/cmap").await;
        client.drain(Duration::from_millis(150)).await;
        shots.push(Shot::take(&client, "/cmap", true));
        client.line("/join #g").await;
        client.expect_row(rows - 2, "#g(").await;
        client.drain(Duration::from_millis(100)).await;
        bob.drain(Duration::from_millis(50)).await;
        let long = "lorem ipsum dolor sit amet ".repeat(8);
        for text in [
            "hello there",
            long.trim_end(),
            &"x".repeat(200),
            "日本語のテキスト".repeat(10).as_str(),
        ] {
            bob.say(text).await;
        }
        client.expect("日本語").await;
        client.drain(Duration::from_millis(200)).await;
        shots.push(Shot::take(&client, "#g with messages", true));
        client.line("/part").await;
        client.drain(Duration::from_millis(200)).await;
    }
    // The red page at sizes too small for the interface.
    let mut client = telnet_client(&server, (80, 24), &mut Vec::new()).await;
    for (cols, rows) in [(18, 10), (30, 3), (5, 5)] {
        client.set_terminal_size(cols, rows);
        let [c1, c0] = cols.to_be_bytes();
        let [r1, r0] = rows.to_be_bytes();
        let before = client.bytes().len();
        client
            .send(&[0xff, 0xfa, 0x1f, c1, c0, r1, r0, 0xff, 0xf0])
            .await;
        // The size probe's answer arrives too, and a key: still one red page.
        client.send(format!("\x1b[{rows};{cols}R").as_bytes()).await;
        client.send(b"x").await;
        client.drain(Duration::from_millis(200)).await;
        let pages = String::from_utf8_lossy(&client.bytes()[before..])
            .matches("\x1b[1;37;41m")
            .count();
        assert_eq!(pages, 1, "the red page at {cols}x{rows} is sent once");
        shots.push(Shot::take(&client, "too small", false));
    }
    server.stop().await;
    shots
}

/// Columns (in characters) where `needle` occurs in `row`.
fn columns_of(row: &str, needle: char) -> Vec<usize> {
    row.chars()
        .enumerate()
        .filter(|(_, c)| *c == needle)
        .map(|(at, _)| at)
        .collect()
}

/// What is wrong with `shot`, if anything.
fn problems(shot: &Shot) -> Vec<String> {
    let mut problems = Vec::new();
    // The one exception: the typing test's instruction is r0c's text, byte for byte, which
    // r0c's stress testers and scripted clients wait for; a page of plain lines, it wraps at
    // 40 columns the way any terminal wraps text.
    let overflowing: Vec<u16> = shot
        .wrapped
        .iter()
        .copied()
        .filter(|&row| {
            !shot.text[usize::from(row)].starts_with(" type the text below, then hit [Enter]")
        })
        .collect();
    if !overflowing.is_empty() {
        problems.push(format!("rows {overflowing:?} overflow the width"));
    }
    for (index, row) in shot.text.iter().enumerate() {
        if row.chars().count() > usize::from(shot.cols) {
            problems.push(format!("row {index} is wider than the screen"));
        }
    }
    // The logo: its block characters start in one column, and its box is whole (each corner
    // above its side and the other corner).
    let logo: Vec<usize> = shot
        .text
        .iter()
        .filter_map(|row| columns_of(row, '░').first().copied())
        .collect();
    if logo.windows(2).any(|pair| pair[0] != pair[1]) {
        problems.push(format!("logo rows start in columns {logo:?}"));
    }
    // (The wizard's charset question shows box corners that are not a box.)
    for (top, row) in shot.text.iter().enumerate().filter(|_| shot.chat) {
        let corners = (
            columns_of(row, '┌').first().copied(),
            columns_of(row, '┐').first().copied(),
        );
        let (Some(left), Some(right)) = corners else {
            if corners != (None, None) {
                problems.push(format!("the box at row {top} is cut"));
            }
            continue;
        };
        let side = shot.text.get(top + 1).map(|r| columns_of(r, '│'));
        let bottom = shot.text.get(top + 2).map(|r| {
            (
                columns_of(r, '╘').first().copied(),
                columns_of(r, '╛').first().copied(),
            )
        });
        if side.is_some_and(|side| side != [left, right])
            || bottom.is_some_and(|bottom| bottom != (Some(left), Some(right)))
        {
            problems.push(format!("the box at row {top} is not whole"));
        }
    }
    if shot.chat {
        let rows = usize::from(shot.rows);
        let status = &shot.text[rows - 2];
        if !(status.len() >= 6 && status[..6].bytes().all(|b| b.is_ascii_digit())) {
            problems.push(format!("the status bar starts without a clock: {status:?}"));
        }
        if !shot.text[rows - 1].contains("> ") && !shot.text[rows - 1].ends_with('>') {
            problems.push("the input row has no prompt".to_string());
        }
        // The pane: a row is a message's first line (it starts with its timestamp, or below
        // 60 columns with the nick field), an empty pane row (`--`), or a continuation line
        // indented at least to the text column. Nothing starts in between.
        let status_window = status.contains("r0c-status");
        let indent = match (shot.cols, status_window) {
            (80..=99, true) => 14,
            (80..=99, false) => 18,
            (100.., true) => 16,
            (100..=139, false) => 22,
            (140.., false) => 24,
            (_, true) => 7,
            (_, false) => 9,
        };
        for (index, row) in shot.text[1..rows - 2].iter().enumerate() {
            let blanks = row.len() - row.trim_start().len();
            let first_line = row
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == ' ')
                && (row.starts_with(|c: char| c.is_ascii_digit()) || blanks < indent.min(9));
            let fine = row.is_empty()
                || row == "--"
                || blanks >= indent
                || first_line
                || row.trim().is_empty();
            if !fine {
                problems.push(format!(
                    "pane row {} starts at column {blanks}, left of the text column {indent}",
                    index + 1
                ));
            }
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_fits_at_every_size() {
    let shots = all_shots().await;
    let mut failures = String::new();
    for shot in &shots {
        let found = problems(shot);
        if !found.is_empty() {
            failures.push_str(&format!("{}{}\n\n", shot.dump(), found.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{failures}");
    if std::env::var_os("R0C_SHOW_SCREENS").is_some() {
        for shot in &shots {
            println!("{}", shot.dump());
        }
    }
}
