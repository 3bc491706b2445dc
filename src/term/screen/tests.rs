//! Screen renderer tests: bytes go through the `vt100` terminal emulator and we assert what a
//! user sees, plus exact bytes where r0c's contract fixes them.

use super::*;

/// A terminal of the given size that has seen everything rendered so far.
struct Terminal {
    parser: vt100::Parser,
    screen: Screen,
    bytes: String,
}

impl Terminal {
    fn new(cols: usize, rows: usize) -> Terminal {
        Terminal {
            parser: vt100::Parser::new(nonzero(rows), nonzero(cols), 0),
            screen: Screen::new(cols, rows, false),
            bytes: String::new(),
        }
    }

    /// Renders a frame and returns the bytes it took.
    fn show(&mut self, frame: &Frame<'_>) -> String {
        let mut out = String::new();
        self.screen.render(frame, &mut out);
        self.parser.process(out.as_bytes());
        self.bytes.push_str(&out);
        out
    }

    /// Bytes that reach the terminal from elsewhere than a frame.
    fn feed(&mut self, bytes: &str) {
        self.parser.process(bytes.as_bytes());
    }

    fn row(&self, row: u16) -> String {
        let (_, cols) = self.parser.screen().size();
        self.parser
            .screen()
            .contents_between(row, 0, row, cols.get())
            .trim_end()
            .to_string()
    }

    fn cursor(&self) -> (u16, u16) {
        self.parser.screen().cursor_position()
    }
}

fn nonzero(value: usize) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(value as u16).expect("a terminal has a size")
}

fn status(clock: &str, rest: &str) -> String {
    format!("{STATUS_SGR}{clock}   {rest}")
}

fn frame<'a>(pane: PaneChange, status: &'a str, input: &'a str, cursor_col: usize) -> Frame<'a> {
    Frame {
        topic: "#g - no topic has been set",
        pane,
        status,
        input,
        prompt_nick: "kywmyv",
        cursor_col,
        may_save_cursor: false,
    }
}

#[test]
fn full_redraw_shows_four_zones() {
    let mut term = Terminal::new(80, 24);
    let status = status("184053", "1: \x1b[1;37m#g\x1b[22m(1)");
    term.show(&frame(
        PaneChange::Redraw(vec!["first".into(), "second".into()]),
        &status,
        "",
        9,
    ));
    assert_eq!(term.row(0), "#g - no topic has been set");
    assert_eq!(term.row(1), "first");
    assert_eq!(term.row(2), "second");
    assert_eq!(term.row(3), "--");
    assert_eq!(term.row(21), "--");
    assert_eq!(term.row(22), "184053   1: #g(1)");
    assert_eq!(term.row(23), "kywmyv>");
    assert_eq!(term.cursor(), (23, 8));
}

/// An 80x24 terminal whose pane is full of `line 0` … `line 20`.
fn full_pane(status: &str) -> Terminal {
    let mut term = Terminal::new(80, 24);
    let lines: Vec<String> = (0..21).map(|i| format!("line {i}")).collect();
    term.show(&frame(
        PaneChange::Redraw(lines.into_iter().map(PaneLine::from).collect()),
        status,
        "",
        9,
    ));
    term
}

#[test]
fn new_lines_use_r0c_push_sequence_once_the_pane_is_full() {
    let status = status("184131", "1: #g(2)");
    let mut term = full_pane(&status);
    let bytes = term.show(&frame(
        PaneChange::Append(vec!["msg 1".into()]),
        &status,
        "",
        9,
    ));
    // r0c's frame: region, push, release, then the cursor back on the input row (releasing
    // the region homed it).
    assert_eq!(bytes, "\x1b[2;22r\x1b[21H\n\n\x1b[Kmsg 1\x1b[r\x1b[24;9H");
    assert_eq!(term.row(1), "line 1");
    assert_eq!(term.row(21), "msg 1");
    assert_eq!(term.row(22), "184131   1: #g(2)");
    assert_eq!(term.cursor(), (23, 8));
    // Every frame that pushes sets the region again and releases it.
    let bytes = term.show(&frame(
        PaneChange::Append(vec!["msg 2".into()]),
        &status,
        "",
        9,
    ));
    assert_eq!(bytes, "\x1b[2;22r\x1b[21H\n\n\x1b[Kmsg 2\x1b[r\x1b[24;9H");
    assert_eq!(
        (term.row(20), term.row(21)),
        ("msg 1".into(), "msg 2".into())
    );
    assert_eq!(term.row(0), "#g - no topic has been set");
    assert_eq!(term.row(22), "184131   1: #g(2)");
    // The farewell release keeps the cursor on the input row and is harmless.
    let release = term.screen.release_region().to_string();
    assert_eq!(release, "\x1b7\x1b[r\x1b8");
    term.feed(&release);
    assert_eq!(term.cursor(), (23, 8));
}

/// Whether a line feed on the terminal's last row scrolls the whole screen (no scroll region
/// is left set): the top row moves away. Restores nothing; use on a copy of the state.
fn whole_screen_scrolls(term: &mut Terminal) -> bool {
    let (rows, _) = term.parser.screen().size();
    let top = term.row(0);
    let second = term.row(1);
    term.feed(&format!("\x1b[{}H\n", rows.get()));
    term.row(0) == second && term.row(0) != top
}

#[test]
fn no_frame_leaves_a_scroll_region_set() {
    // Each case: a pane change after a full pane, and whether the frame may save the cursor.
    let cases: Vec<(&str, PaneChange, bool)> = vec![
        ("one push", PaneChange::Append(vec!["a".into()]), false),
        (
            "one push, saved cursor",
            PaneChange::Append(vec!["a".into()]),
            true,
        ),
        (
            "three pushes",
            PaneChange::Append(vec!["a".into(), "b".into(), "c".into()]),
            false,
        ),
        (
            "three pushes, saved cursor",
            PaneChange::Append(vec![
                "a".into(),
                "\x1b[1mb\x1b[0m".into(),
                "c\x1b[0m".into(),
            ]),
            true,
        ),
        (
            "scrolling back",
            PaneChange::Prepend(vec!["x".into(), "y".into()]),
            false,
        ),
        (
            "scrolling back, saved cursor",
            PaneChange::Prepend(vec!["x".into()]),
            true,
        ),
        ("a patch", PaneChange::Patch(vec![(3, "p".into())]), true),
    ];
    let status = status("184131", "1: #g(2)");
    // The check itself tells a kept region from none.
    let mut kept = full_pane(&status);
    kept.feed("\x1b[2;22r");
    assert!(!whole_screen_scrolls(&mut kept));
    for (name, pane, save) in cases {
        let mut term = full_pane(&status);
        let mut frame = frame(pane, &status, "", 9);
        frame.may_save_cursor = save;
        let bytes = term.show(&frame);
        // At most one region a frame, always released, before the cursor is put back.
        let sets = bytes.matches(";22r").count();
        assert!(sets <= 1, "{name}: {bytes:?}");
        assert_eq!(bytes.matches("\x1b[r").count(), sets, "{name}: {bytes:?}");
        if let Some(release) = bytes.rfind("\x1b[r") {
            let park = bytes.rfind("\x1b8").or(bytes.rfind("\x1b[24;9H"));
            assert!(
                park > Some(release),
                "{name}: cursor placed last: {bytes:?}"
            );
        }
        assert_eq!(term.cursor(), (23, 8), "{name}: {bytes:?}");
        assert!(whole_screen_scrolls(&mut term), "{name}: {bytes:?}");
    }
}

#[test]
fn a_frame_of_many_pushes_pays_for_the_region_and_the_push_once() {
    let status = status("184131", "1: #g(2)");
    let mut term = full_pane(&status);
    let lines: Vec<PaneLine> = (0..5).map(|i| PaneLine::from(format!("new {i}"))).collect();
    let bytes = term.show(&frame(PaneChange::Append(lines), &status, "", 9));
    // r0c's push for the first line (r0c's PowerShell client looks for it), CR LF for the
    // others: the cursor is on the region's bottom row, where LF scrolls.
    assert_eq!(
        bytes,
        "\x1b[2;22r\x1b[21H\n\n\x1b[Knew 0\r\nnew 1\r\nnew 2\r\nnew 3\r\nnew 4\x1b[r\x1b[24;9H"
    );
    assert_eq!(term.row(21), "new 4");
    assert_eq!(term.row(17), "new 0");
    assert_eq!(term.row(16), "line 20");
}

/// The pane rows (screen rows 1 to 21 of an 80x24 terminal) as the terminal shows them.
fn pane_rows(term: &Terminal) -> Vec<String> {
    (1..=21).map(|row| term.row(row)).collect()
}

/// What the pane shows after `lines` (plain text) were appended to a pane whose first
/// `filled` rows hold `old 0` … and whose other rows show `--`.
fn expected_pane(filled: usize, lines: &[String]) -> Vec<String> {
    let mut rows: Vec<String> = (0..filled).map(|i| format!("old {i}")).collect();
    rows.extend(lines.iter().cloned());
    let skip = rows.len().saturating_sub(21);
    let mut rows: Vec<String> = rows.split_off(skip);
    while rows.len() < 21 {
        rows.push("--".to_string());
    }
    rows
}

/// Visible text of a styled line: what a terminal shows of it.
fn visible(line: &str) -> String {
    spans(line).iter().map(|(_, text)| *text).collect()
}

#[test]
fn appended_lines_show_as_the_model_says_whatever_their_number_and_kind() {
    let plain = |i: usize| format!("msg {i}");
    let styled = |i: usize| {
        format!(
            "\x1b[1;35m18413{}\x1b[0m \x1b[36m   bob\x1b[0m styled {i}",
            i % 10
        )
    };
    // Wide characters up to the last column but one (layouts keep the last one empty).
    let wide = |i: usize| format!("{}{i:02}", "漢".repeat(38));
    let bare_cp437 = |i: usize| format!("caf\u{e9} \u{2500}\u{2500} {i}");
    let makers: [(&str, &dyn Fn(usize) -> String); 4] = [
        ("plain", &plain),
        ("styled", &styled),
        ("wide", &wide),
        ("non-ascii", &bare_cp437),
    ];
    // Each case: rows of the pane already filled, lines appended in one frame.
    let cases = [
        (21, 1),
        (21, 2),
        (21, 6),
        (21, 20),
        (21, 21),
        (0, 1),
        (0, 3),
        (5, 16),
        (19, 5),
        (20, 1),
        (20, 2),
    ];
    for (kind, make) in makers {
        for (filled, count) in cases {
            for save in [false, true] {
                let name = format!("{kind}: {count} after {filled}, saved cursor {save}");
                let status = status("184131", "1: #g(2)");
                let mut term = Terminal::new(80, 24);
                let old: Vec<PaneLine> = (0..filled)
                    .map(|i| PaneLine::from(format!("old {i}")))
                    .collect();
                term.show(&saving(frame(PaneChange::Redraw(old), &status, "", 9)));
                let lines: Vec<String> = (0..count).map(make).collect();
                let mut frame = frame(
                    PaneChange::Append(lines.iter().map(|l| PaneLine::from(l.as_str())).collect()),
                    &status,
                    "",
                    9,
                );
                frame.may_save_cursor = save;
                let bytes = term.show(&frame);
                let shown: Vec<String> = lines.iter().map(|l| visible(l)).collect();
                assert_eq!(
                    pane_rows(&term),
                    expected_pane(filled, &shown),
                    "{name}: {bytes:?}"
                );
                assert_eq!(term.row(0), "#g - no topic has been set", "{name}");
                assert_eq!(term.row(22), "184131   1: #g(2)", "{name}");
                assert_eq!(term.cursor(), (23, 8), "{name}: {bytes:?}");
                // What the frame adds to the lines: rows written in place cost a cursor move
                // and an erase (8 bytes), CR LF and an erase (5) when right below the last;
                // pushed ones the region (8 + 3 bytes), one r0c push (10) and CR LF (2) for
                // each further line; then the cursor's way back (7).
                let text: usize = lines.iter().map(String::len).sum();
                let overhead = bytes.len() - text;
                let in_place = count.min(21 - filled);
                let pushed = count - in_place;
                let bound = if in_place > 0 {
                    8 + 5 * (in_place - 1)
                } else {
                    0
                } + if pushed > 0 {
                    11 + 10 + 2 * (pushed - 1)
                } else {
                    0
                } + 7;
                assert!(overhead <= bound, "{name}: {overhead} > {bound}: {bytes:?}");
                assert!(whole_screen_scrolls(&mut term), "{name}: {bytes:?}");
            }
        }
    }
}

#[test]
fn the_clock_moved_after_a_line_keeps_the_bar_colours_with_a_shorter_sgr() {
    let before = status("184131", "1: #g(2)");
    let mut term = full_pane(&before);
    let after = status("184132", "1: #g(2)");
    for save in [false, true] {
        let mut frame = frame(
            PaneChange::Append(vec!["\x1b[1;33mbold\x1b[0m x".into()]),
            if save { &before } else { &after },
            "",
            9,
        );
        frame.may_save_cursor = save;
        if save {
            // The first frame parked the cursor; now the clock moves after a line.
            frame.status = &after;
        }
        let bytes = term.show(&frame);
        assert!(
            bytes.contains("\x1b[r\x1b[23;6H\x1b[37;44;48;5;235m2"),
            "{bytes:?}"
        );
        assert_eq!(term.row(22), "184132   1: #g(2)");
        // The digit that moved looks like the digit before it.
        let screen = term.parser.screen();
        let (moved, kept) = (
            screen.cell(22, 5).expect("cell"),
            screen.cell(22, 4).expect("cell"),
        );
        assert_eq!(
            (moved.fgcolor(), moved.bgcolor(), moved.bold()),
            (kept.fgcolor(), kept.bgcolor(), kept.bold())
        );
        assert_eq!(moved.bgcolor(), vt100::Color::Idx(235));
        // The next frame moves it back, for the second round.
        term.show(&frame_with_status(&before));
    }
    // A line that leaves attributes set keeps the full SGR, reset included.
    let mut term = full_pane(&before);
    let bytes = term.show(&frame(
        PaneChange::Append(vec!["\x1b[1mbold".into()]),
        &after,
        "",
        9,
    ));
    assert!(
        bytes.contains(&format!("\x1b[23;6H{STATUS_SGR}2")),
        "{bytes:?}"
    );
    assert!(!term.parser.screen().cell(22, 5).expect("cell").bold());
}

fn frame_with_status(status: &str) -> Frame<'_> {
    frame(PaneChange::Unchanged, status, "", 9)
}

#[test]
fn idle_clock_tick_sends_only_the_clock() {
    let mut term = Terminal::new(80, 24);
    let first = status("184040", "0: \x1b[1;37mr0c-status\x1b[22m");
    term.show(&frame(PaneChange::Redraw(vec![]), &first, "", 9));
    let second = status("184045", "0: \x1b[1;37mr0c-status\x1b[22m");
    let bytes = term.show(&frame(PaneChange::Unchanged, &second, "", 9));
    // Only the digit that changed, in the bar's colours without a reset of their own: the
    // cursor was parked, so the attributes in force are plain.
    assert_eq!(bytes, "\x1b[23;6H\x1b[37;44;48;5;235m5\x1b[0m\x1b[24;9H");
    assert_eq!(term.row(22), "184045   0: r0c-status");
    let cell = term.parser.screen().cell(22, 5).expect("cell");
    assert_eq!(
        (cell.fgcolor(), cell.bgcolor(), cell.bold()),
        (vt100::Color::Idx(7), vt100::Color::Idx(235), false)
    );
    assert_eq!(
        bytes.len(),
        36,
        "r0c's idle tick is 41 bytes; ours is no larger"
    );
    assert_eq!(term.row(22), "184045   0: r0c-status");
}

#[test]
fn a_status_only_frame_is_the_frame_that_changes_only_the_status_bar() {
    let saving = |pane, status| Frame {
        may_save_cursor: true,
        ..frame(pane, status, "hi", 11)
    };
    let first = status("184040", "1: \x1b[1;37m#g\x1b[22m(3)");
    let second = status("184045", "1: \x1b[1;37m#g\x1b[22m(3)");
    let mut full = Terminal::new(80, 24);
    let mut tick = Terminal::new(80, 24);
    for term in [&mut full, &mut tick] {
        term.show(&saving(PaneChange::Redraw(vec!["line".into()]), &first));
    }
    let by_frame = full.show(&saving(PaneChange::Unchanged, &second));
    let mut by_tick = String::new();
    assert!(tick.screen.render_status_only(&second, true, &mut by_tick));
    tick.feed(&by_tick);
    assert_eq!(by_tick, by_frame);
    assert_eq!(by_tick, "\x1b7\x1b[23;6H\x1b[37;44;48;5;235m5\x1b8");
    assert_eq!(tick.row(22), "184045   1: #g(3)");
    assert_eq!(tick.cursor(), (23, 10));
    // The next frame knows what the client shows: nothing is sent again.
    assert_eq!(tick.show(&saving(PaneChange::Unchanged, &second)), "");
    // Without the saved-cursor slot, or with the cursor's place unknown, it declines.
    let mut none = String::new();
    assert!(!tick.screen.render_status_only(&first, false, &mut none));
    tick.screen.forget_cursor();
    assert!(!tick.screen.render_status_only(&first, true, &mut none));
    assert!(none.is_empty());
}

#[test]
fn typing_at_the_end_costs_one_byte_per_character() {
    let mut term = Terminal::new(80, 24);
    let status = status("184040", "0: r0c-status");
    term.show(&frame(PaneChange::Redraw(vec![]), &status, "", 9));
    assert_eq!(
        term.show(&frame(PaneChange::Unchanged, &status, "h", 10)),
        "h"
    );
    assert_eq!(
        term.show(&frame(PaneChange::Unchanged, &status, "hi", 11)),
        "i"
    );
    assert_eq!(term.row(23), "kywmyv> hi");
    assert_eq!(term.cursor(), (23, 10));
    // Moving the cursor left only moves the cursor.
    assert_eq!(
        term.show(&frame(PaneChange::Unchanged, &status, "hi", 10)),
        "\x1b[24;10H"
    );
    // Backspace rewrites the row.
    let bytes = term.show(&frame(PaneChange::Unchanged, &status, "h", 10));
    assert_eq!(bytes, "\x1b[24H\x1b[0;36mkywmyv>\x1b[0m h\x1b[K\x1b[24;10H");
    assert_eq!(term.row(23), "kywmyv> h");
}

#[test]
fn input_prompt_matches_r0c_bytes() {
    let mut term = Terminal::new(80, 24);
    let status = status("184053", "1: #g(1)");
    let bytes = term.show(&frame(PaneChange::Unchanged, &status, "/join #g", 17));
    assert!(
        bytes.contains("\x1b[24H\x1b[0;36mkywmyv>\x1b[0m /join #g\x1b[K"),
        "{bytes:?}"
    );
}

#[test]
fn scrolling_back_reveals_lines_at_the_top() {
    let mut term = Terminal::new(40, 8);
    let status = status("184207", "1: #g(2)");
    let lines: Vec<String> = (10..15).map(|i| format!("line {i}")).collect();
    term.show(&frame(
        PaneChange::Redraw(lines.into_iter().map(PaneLine::from).collect()),
        &status,
        "",
        9,
    ));
    let bytes = term.show(&frame(
        PaneChange::Prepend(vec!["line 9".into(), "line 8".into()]),
        &status,
        "",
        9,
    ));
    assert!(
        bytes.starts_with("\x1b[2;6r\x1b[2H\x1bM\x1b[Kline 9\x1b[2H\x1bM\x1b[Kline 8\x1b[r\x1b["),
        "{bytes:?}"
    );
    let pane: Vec<String> = (1..6).map(|r| term.row(r)).collect();
    assert_eq!(pane, ["line 8", "line 9", "line 10", "line 11", "line 12"]);
}

#[test]
fn swapped_rows_for_local_echo_clients() {
    let mut term = Terminal::new(80, 24);
    term.screen = Screen::new(80, 24, true);
    let status = status("184053", "1: #g(1)");
    term.show(&frame(PaneChange::Redraw(vec![]), &status, "x", 10));
    assert_eq!(term.row(22), "kywmyv> x");
    assert_eq!(term.row(23), "184053   1: #g(1)");
    assert_eq!(term.cursor(), (22, 9));
}

#[test]
fn patches_rewrite_the_start_of_rows() {
    let mut term = Terminal::new(40, 8);
    let status = status("184118", "1: #g(2)");
    term.show(&frame(
        PaneChange::Redraw(vec!["\x1b[7m184118\x1b[0m x said".into()]),
        &status,
        "",
        9,
    ));
    term.show(&frame(
        PaneChange::Patch(vec![(0, "184118 ".into())]),
        &status,
        "",
        9,
    ));
    assert_eq!(term.row(1), "184118 x said");
    assert!(
        !term.parser.screen().cell(1, 0).is_some_and(|c| c.inverse()),
        "read timestamp is no longer reversed"
    );
}

#[test]
fn a_changed_status_field_is_rewritten_alone() {
    let mut term = Terminal::new(80, 24);
    let bar = |k: u32| {
        status(
            "184207",
            &format!(
                "1: \x1b[1;37m#g\x1b[22m(2)  \x1b[1;36m+{k}\x1b[22;39m   \x1b[32ma:\x1b[1m0\x1b[22;39m\x1b[22;36m   yyryyd, kywmyv"
            ),
        )
    };
    let first = bar(17);
    term.show(&frame(PaneChange::Redraw(vec![]), &first, "", 9));
    let second = bar(18);
    let bytes = term.show(&frame(PaneChange::Unchanged, &second, "", 9));
    assert_eq!(
        term.row(22),
        "184207   1: #g(2)  +18   a:0   yyryyd, kywmyv"
    );
    assert!(
        !bytes.contains("yyryyd"),
        "only the +K field is sent: {bytes:?}"
    );
    assert!(bytes.len() < 80, "{} bytes: {bytes:?}", bytes.len());
    // A field that grows moves everything after it.
    let third = bar(100);
    term.show(&frame(PaneChange::Unchanged, &third, "", 9));
    assert_eq!(
        term.row(22),
        "184207   1: #g(2)  +100   a:0   yyryyd, kywmyv"
    );
    let cell = term.parser.screen().cell(22, 19).expect("cell");
    assert!(cell.bold(), "the + keeps its bold attribute");
}

/// A frame that may wrap its changes in DECSC/DECRC.
fn saving(frame: Frame<'_>) -> Frame<'_> {
    Frame {
        may_save_cursor: true,
        ..frame
    }
}

#[test]
fn a_parked_cursor_is_saved_and_restored_around_pushes_and_ticks() {
    let mut term = Terminal::new(80, 24);
    let first = status("184040", "1: #g(2)");
    term.show(&saving(frame(
        PaneChange::Redraw(vec!["a".into()]),
        &first,
        "",
        9,
    )));
    assert_eq!(term.cursor(), (23, 8));
    let bytes = term.show(&saving(frame(
        PaneChange::Append(vec!["\x1b[7m184041\x1b[0m b".into()]),
        &first,
        "",
        9,
    )));
    assert_eq!(bytes, "\x1b7\x1b[3H\x1b[K\x1b[7m184041\x1b[0m b\x1b8");
    assert_eq!(term.row(2), "184041 b");
    assert_eq!(term.cursor(), (23, 8));
    let second = status("184045", "1: #g(2)");
    let bytes = term.show(&saving(frame(PaneChange::Unchanged, &second, "", 9)));
    assert_eq!(bytes, "\x1b7\x1b[23;6H\x1b[37;44;48;5;235m5\x1b8");
    assert_eq!(term.row(22), "184045   1: #g(2)");
    assert_eq!(term.cursor(), (23, 8));
    // Typing afterwards lands at the input row, in plain attributes.
    let bytes = term.show(&saving(frame(PaneChange::Unchanged, &second, "hi", 11)));
    assert_eq!(bytes, "hi");
    let cell = term.parser.screen().cell(23, 8).expect("cell");
    assert_eq!(
        (cell.contents(), cell.bgcolor()),
        ("h", vt100::Color::Default)
    );
}

#[test]
fn a_frame_that_rewrites_the_input_row_parks_the_cursor_as_before() {
    let mut term = Terminal::new(80, 24);
    let status = status("184040", "1: #g(2)");
    term.show(&saving(frame(PaneChange::Redraw(vec![]), &status, "", 9)));
    let bytes = term.show(&saving(frame(
        PaneChange::Append(vec!["x".into()]),
        &status,
        "\x1b[1mbold\x1b[0m",
        13,
    )));
    assert!(!bytes.contains("\x1b7"), "{bytes:?}");
    assert!(bytes.ends_with("\x1b[24;13H"), "{bytes:?}");
    assert_eq!(term.cursor(), (23, 12));
}

#[test]
fn a_status_rewrite_from_the_middle_folds_the_attributes_before_it() {
    let mut term = Terminal::new(80, 24);
    let first = status("184040", "1: \x1b[1;37m#g\x1b[22m(3)\x1b[22;36m   ann, bob");
    term.show(&frame(PaneChange::Redraw(vec![]), &first, "", 9));
    let second = status("184040", "1: \x1b[1;37m#g\x1b[22m(3)\x1b[22;36m   bob, ann");
    let bytes = term.show(&frame(PaneChange::Unchanged, &second, "", 9));
    // The codes before the rewritten field are folded into one SGR.
    assert_eq!(
        bytes,
        "\x1b[23;18H\x1b[0;37;44;48;5;235m\x1b[22;36m   bob, ann\x1b[0m\x1b[24;9H"
    );
    assert_eq!(term.row(22), "184040   1: #g(3)   bob, ann");
    let cell = term.parser.screen().cell(22, 21).expect("cell");
    assert_eq!(cell.fgcolor(), vt100::Color::Idx(6));
    assert!(!cell.bold());
}

#[test]
fn a_line_that_skips_its_nick_blanks_shows_them_blank_on_every_path() {
    use crate::term::layout::{Layout, plain_lines};
    use crate::term::style::{MessageStyle, message_lines};
    let layout = Layout::for_width(80, false);
    // 2026-11-23 18:41:12 UTC.
    let micros = 1_795_545_672_000_000;
    let unread = MessageStyle {
        margins: true,
        unread: true,
        ..MessageStyle::default()
    };
    let line = |text: &str| -> PaneLine {
        let lines = message_lines(&layout, 80, micros, "yyryyd", text, &unread);
        lines.into_iter().next().unwrap_or_default().into()
    };
    let shown =
        |text: &str| plain_lines(&layout, 80, micros, "yyryyd", text, true, false)[0].clone();
    assert!(line("a").contains("\x1b[5C"), "{:?}", line("a"));
    let status = status("184210", "1: #g(2)");
    let draw = |term: &mut Terminal, pane: PaneChange| {
        term.show(&frame(pane, &status, "", 9));
    };
    // Every row showed something in the columns the line skips before it was drawn.
    let filler: Vec<PaneLine> = (0..21).map(|_| PaneLine::from("x".repeat(79))).collect();
    let mut term = Terminal::new(80, 24);
    draw(&mut term, PaneChange::Redraw(filler.clone()));
    draw(&mut term, PaneChange::Redraw(vec![line("redrawn")]));
    assert_eq!(term.row(1), shown("redrawn"));
    draw(&mut term, PaneChange::Append(vec![line("in place")]));
    assert_eq!(term.row(2), shown("in place"));
    draw(&mut term, PaneChange::Redraw(filler));
    draw(
        &mut term,
        PaneChange::Append(vec![line("pushed"), line("fed")]),
    );
    assert_eq!(
        (term.row(20), term.row(21)),
        (shown("pushed"), shown("fed"))
    );
    draw(&mut term, PaneChange::Prepend(vec![line("above")]));
    assert_eq!(term.row(1), shown("above"));
    // A repainted message's patch, as `Vt100Ui` makes it: the row erased, then the line.
    draw(
        &mut term,
        PaneChange::Patch(vec![(1, format!("\x1b[K{}", line("patched").as_str()))]),
    );
    assert_eq!(term.row(2), shown("patched"));
    // The skipped cells carry no attribute: they look like the blank after the nick.
    let (skipped, after_nick) = (
        term.parser.screen().cell(2, 8).expect("cell"),
        term.parser.screen().cell(2, 17).expect("cell"),
    );
    assert!(!skipped.inverse() && !skipped.bold() && !after_nick.inverse());
    assert_eq!(skipped.bgcolor(), vt100::Color::Default);
}
