//! Tests for VT100 message rendering: r0c's captured bytes, one line per case, and the invariants
//! every rendered line keeps.

use super::{
    Attrs, MessageStyle, cmap_text, crc32, hilight_words, input_preview, message_lines, nick_color,
    preview_columns,
};
use crate::term::layout::{Layout, plain_lines};
use crate::term::width::str_width;
use crate::text::{sanitize_lines, spans, strip_formatting};

/// 2026-11-23 18:41:12 UTC, the time of r0c's captured message.
const TIME: i64 = 1_795_545_672_000_000;

/// The text of r0c's captured wrapped message.
const LOREM: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod \
                     tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, \
                     quis nostrud exercitation ullamco laboris nisi ut aliquip";

/// A style from letters, so that tables stay one line per case: margins are on unless `n`;
/// `c` coloured nicks, `v` view mode, `u` unread, `h` hilight.
fn style(flags: &str) -> MessageStyle {
    MessageStyle {
        margins: !flags.contains('n'),
        colored_nicks: flags.contains('c'),
        view_mode: flags.contains('v'),
        unread: flags.contains('u'),
        hilight: flags.contains('h'),
    }
}

/// `line` without its `ESC[`…letter sequences: what the terminal shows on a row just erased,
/// where a cursor move forward (`ESC[<n>C`) passes over blanks.
fn visible(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.next() == Some('[') {
            let mut params = String::new();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    if c == 'C' {
                        let columns = params.parse().unwrap_or(1).max(1);
                        out.push_str(&" ".repeat(columns));
                    }
                    break;
                }
                params.push(c);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Checks what every rendered line must be: within `width` columns, only whole SGR sequences
/// (and cursor moves forward over blanks) and no other control character, and the last SGR a
/// reset so that no attribute leaks.
fn check_invariants(lines: &[String], width: usize) {
    for line in lines {
        let shown = visible(line);
        assert!(str_width(&shown) <= width, "{line:?} is wider than {width}");
        let mut last_sgr = "";
        for (index, _) in line.match_indices('\x1b') {
            let sgr = &line[index..];
            let end = sgr
                .find(|c: char| c.is_ascii_alphabetic())
                .map_or(sgr.len(), |end| end + 1);
            let sgr = &sgr[..end];
            if sgr.ends_with('C') {
                assert!(
                    sgr[2..sgr.len() - 1].chars().all(|c| c.is_ascii_digit()),
                    "malformed cursor move {sgr:?} in {line:?}"
                );
                continue;
            }
            let params = sgr
                .strip_prefix("\x1b[")
                .and_then(|sgr| sgr.strip_suffix('m'));
            assert!(
                params.is_some_and(|p| p.chars().all(|c| c.is_ascii_digit() || c == ';')),
                "malformed SGR {sgr:?} in {line:?}"
            );
            last_sgr = sgr;
        }
        assert!(
            !shown.chars().any(char::is_control),
            "control character in {line:?}"
        );
        assert!(
            matches!(last_sgr, "" | "\x1b[0m" | "\x1b[m"),
            "{line:?} leaves attributes on"
        );
    }
}

/// Renders a message at `width` columns (the status window's layout if `status`) with the style
/// `flags` (see [`style`]) and compares the exact bytes.
fn check(width: usize, status: bool, flags: &str, author: &str, text: &str, expected: &[&str]) {
    let layout = Layout::for_width(width, status);
    let lines = message_lines(&layout, width, TIME, author, text, &style(flags));
    assert_eq!(
        lines, expected,
        "{author:?} {text:?} at {width} with {flags:?}"
    );
    check_invariants(&lines, width);
}

/// Checks the SGR sequences the tokens of `text` produce, one after the other, and the one
/// sequence that restores the attributes they leave.
fn check_sgr(text: &str, expected: &str, restore: &str) {
    let mut attrs = Attrs::default();
    let sgr: String = spans(text).map(|span| attrs.apply(span)).collect();
    assert_eq!(sgr, expected, "SGR for {text:?}");
    assert_eq!(attrs.sgr(), restore, "restoring after {text:?}");
}

#[test]
fn sgr_codes() {
    check_sgr("plain", "", "\x1b[0m");
    check_sgr("\x0b3", "\x1b[0;33m", "\x1b[0;33m");
    check_sgr("\x0b3,4", "\x1b[0;33;44m", "\x1b[0;33;44m");
    check_sgr("\x0bf,4", "\x1b[1;37;44m", "\x1b[0;1;37;44m");
    check_sgr("\x0b9", "\x1b[1;31m", "\x1b[0;1;31m");
    check_sgr("\x0b1,4\x0b9", "\x1b[0;31;44m\x1b[1;31m", "\x1b[0;1;31;44m");
    check_sgr("\x0b9,4\x0b1", "\x1b[1;31;44m\x1b[0;31m", "\x1b[0;31m");
    check_sgr("\x0ba\x02", "\x1b[1;32m\x1b[22m", "\x1b[0;32m");
    check_sgr("\x02b\x02", "\x1b[1m\x1b[22m", "\x1b[0m");
    check_sgr("\x02\x0b2,1\x0f", "\x1b[1m\x1b[0;32;41m\x1b[0m", "\x1b[0m");
}

#[test]
#[rustfmt::skip]
fn captured_lines_at_80_columns() {
    check(80, false, "", "yyryyd", "hello there", &["184112\x1b[5C\x1b[1myyryyd\x1b[m hello there"]);
    check(80, false, "u", "yyryyd", "hello there", &["\x1b[7m184112\x1b[5C\x1b[;1myyryyd\x1b[m hello there"]);
    check(80, false, "h", "yyryyd", "hey kywmyv", &["\x1b[1;35m184112\x1b[5C\x1b[;1myyryyd\x1b[m hey kywmyv"]);
    check(80, false, "uh", "yyryyd", "hey kywmyv", &["\x1b[1;35;7m184112\x1b[5C\x1b[;1myyryyd\x1b[m hey kywmyv"]);
    check(80, false, "", "--", "\x0bakywmyv\x02 has joined", &["184112\x1b[9C\x1b[1m--\x1b[m \x1b[1;32mkywmyv\x1b[22m has joined\x1b[0m"]);
    check(80, false, "c", "yyryyd", "desu 19", &["184112 \x1b[1;48;5;16;38;5;182m    yyryyd\x1b[m desu 19"]);
    check(80, false, "c", "--", "x", &["184112\x1b[9C\x1b[1m--\x1b[m x"]);
    check(80, true, "", "-nfo-", "you were mentioned", &["184112 \x1b[0;32m -nfo-\x1b[m you were mentioned"]);
    check(80, true, "c", "-err-", "no", &["184112 \x1b[1;33m -err-\x1b[m no"]);
    check(80, true, "c", "***", "waves", &["184112 \x1b[36m   ***\x1b[m waves"]);
    check(80, false, "", "averyverylongnick", "cut", &["184112 \x1b[1maveryveryl\x1b[m cut"]);
    check(80, false, "", "日本語のニックネーム", "x", &["184112 \x1b[1m日本語のニ\x1b[m x"]);
}

#[test]
#[rustfmt::skip]
fn width_tiers() {
    check(140, false, "", "yyryyd", "hi", &["18:41:12\x1b[9C\x1b[1myyryyd\x1b[m hi"]);
    check(100, false, "", "yyryyd", "hi", &["18:41:12\x1b[7C\x1b[1myyryyd\x1b[m hi"]);
    check(80, false, "", "yyryyd", "hi", &["184112\x1b[5C\x1b[1myyryyd\x1b[m hi"]);
    check(60, false, "", "yyryyd", "hi", &["1841 \x1b[1m  yyryyd\x1b[m hi"]);
    check(50, false, "", "yyryyd", "hi", &["\x1b[1m  yyryyd\x1b[m hi"]);
    // Without a timestamp the nick field carries the markup, visibly.
    check(50, false, "u", "yyryyd", "hi", &["\x1b[1;7m  yyryyd\x1b[m hi"]);
    check(50, false, "cu", "yyryyd", "hi", &["\x1b[1;48;5;16;38;5;182;7m  yyryyd\x1b[m hi"]);
    check(50, false, "h", "yyryyd", "hi", &["\x1b[1;35m  yyryyd\x1b[m hi"]);
    check(50, true, "uh", "-nfo-", "hi", &["\x1b[1;35;7m -nfo-\x1b[m hi"]);
}

#[test]
#[rustfmt::skip]
fn captured_wraps_at_80_columns() {
    let nick = "\x1b[1;48;5;16;38;5;182m    yyryyd\x1b[m";
    check(80, false, "c", "yyryyd", LOREM, &[
        &format!("184112 {nick} Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed"),
        "                  do eiusmod tempor incididunt ut labore et dolore magna aliqua.",
        "                  Ut enim ad minim veniam, quis nostrud exercitation ullamco",
        "                  laboris nisi ut aliquip",
    ]);
    let long = "aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeeeffffffffffgggggggggghhhhhhhhhhiiiiiiiiii end";
    check(80, false, "c", "yyryyd", long, &[
        &format!("184112 {nick} aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeeeffffffffffg-"),
        "                  ggggggggghhhhhhhhhhiiiiiiiiii end",
    ]);
    // `/mn` (screen 08): continuation lines indented by 2 and 78 columns wide.
    check(80, false, "n", "yyryyd", LOREM, &[
        "184112\x1b[5C\x1b[1myyryyd\x1b[m Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed",
        "  do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad",
        "  minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip",
    ]);
}

#[test]
#[rustfmt::skip]
fn colours_carry_across_wraps() {
    let prefix = "184112\x1b[5C\x1b[1myyryyd\x1b[m ";
    let indent = " ".repeat(18);
    let red = "\x0b9this red text is long enough to need a second line at the width of eighty columns";
    check(80, false, "", "yyryyd", red, &[
        &format!("{prefix}\x1b[1;31mthis red text is long enough to need a second line at the\x1b[0m"),
        &format!("{indent}\x1b[0;1;31mwidth of eighty columns\x1b[0m"),
    ]);
    // Reset before the cut: the next line needs no colour.
    let mixed = "\x0b2,4green on blue\x0f plain words that go on and on past the end of the line";
    check(80, false, "", "yyryyd", mixed, &[
        &format!("{prefix}\x1b[0;32;44mgreen on blue\x1b[0m plain words that go on and on past the end of"),
        &format!("{indent}the line"),
    ]);
    // A word cut inside its colour, with bold switched on after the cut.
    let cut = format!("\x0b3{}\x02{}", "y".repeat(70), "z".repeat(10));
    check(80, false, "", "yyryyd", &cut, &[
        &format!("{prefix}\x1b[0;33m{}-\x1b[0m", "y".repeat(61)),
        &format!("{indent}\x1b[0;33m{}\x1b[1m{}\x1b[0m", "y".repeat(9), "z".repeat(10)),
    ]);
    // Formatting ends with each line of a multi-line text.
    check(80, false, "", "yyryyd", "\x0b1red\nplain", &[
        &format!("{prefix}\x1b[0;31mred\x1b[0m"),
        &format!("{indent}plain"),
    ]);
}

#[test]
#[rustfmt::skip]
fn wide_characters_wrap() {
    // 45 CJK characters are 90 columns: r0c counted 45 and let the terminal wrap them.
    check(80, false, "", "yyryyd", &"日".repeat(45), &[
        &format!("184112\x1b[5C\x1b[1myyryyd\x1b[m {}-", "日".repeat(30)),
        &format!("{}{}", " ".repeat(18), "日".repeat(15)),
    ]);
    check(60, false, "n", "yyryyd", &"日本 ".repeat(20), &[
        &format!("1841 \x1b[1m  yyryyd\x1b[m {}日本", "日本 ".repeat(8)),
        &format!("  {}日本", "日本 ".repeat(10)),
    ]);
}

#[test]
#[rustfmt::skip]
fn view_mode() {
    check(80, false, "v", "yyryyd", "hello there", &["\x1b[0;1mh\x1b[0;36mello there\x1b[0m"]);
    check(80, false, "vu", "yyryyd", "hi", &["\x1b[0;1;7mh\x1b[0;36mi\x1b[0m"]);
    check(80, false, "vh", "yyryyd", "hi", &["\x1b[0;1;35mh\x1b[0;36mi\x1b[0m"]);
    check(80, false, "v", "yyryyd", "  \x0b2hi \x0fyou", &["\x1b[0;36m  \x1b[0;1mh\x1b[0;32mi \x1b[0myou"]);
    check(20, false, "v", "yyryyd", "abcdefghijklmnopqrstuvwxyz\nnext", &[
        "\x1b[0;1ma\x1b[0;36mbcdefghijklmnopqrst\x1b[0m",
        "\x1b[0;36muvwxyz\x1b[0m",
        "\x1b[0;36mnext\x1b[0m",
    ]);
    check(20, false, "vn", "yyryyd", "abcdefghijklmnopqrstuvwxyz\nnext", &[
        "\x1b[0;1ma\x1b[0;36mbcdefghijklmnopqrst\x1b[0m",
        "  \x1b[0;36muvwxyz\x1b[0m",
        "  \x1b[0;36mnext\x1b[0m",
    ]);
    // Screen 09, where r0c with `/mn` lost 2 characters per line: none is lost.
    for (flags, indent) in [("v", ""), ("vn", "  ")] {
        let lines = message_lines(&Layout::for_width(80, false), 80, TIME, "x", LOREM, &style(flags));
        check_invariants(&lines, 80);
        let shown: Vec<String> = lines.iter().map(|line| visible(line)).collect();
        assert_eq!(shown[0], LOREM[..80]);
        let mut joined = shown[0].clone();
        for line in &shown[1..] {
            let rest = line.strip_prefix(indent);
            assert!(rest.is_some(), "{line:?} is not indented by {indent:?}");
            joined.push_str(rest.unwrap_or_default());
        }
        assert_eq!(joined, LOREM, "{flags}");
    }
}

#[test]
fn nick_colors() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
    assert_eq!(nick_color("yyryyd"), 182);
    for nick in ["a", "kywmyv", "日本語", "-!-", ""] {
        let color = nick_color(nick);
        assert!(
            matches!(color, 35..=46 | 48..=51 | 70..=87 | 103..=123 | 132..=231),
            "{nick:?} → {color}"
        );
    }
}

#[test]
fn cmap() {
    let text = cmap_text();
    assert_eq!(sanitize_lines(&text), text, "the chart is canonical text");
    let lines = message_lines(
        &Layout::for_width(80, true),
        80,
        TIME,
        "-nfo-",
        &text,
        &style(""),
    );
    check_invariants(&lines, 80);
    assert_eq!(lines.len(), 10);
    let shown: Vec<String> = lines.iter().map(|line| visible(line)).collect();
    let indent = " ".repeat(14);
    let expected = [
        (1, "[0], [1], [2], [3], [4], [5], [6], [7]"),
        (2, "[8], [9], [a], [b], [c], [d], [e], [f]"),
        (4, " 0,0  0,1  0,2  0,3  0,4  0,5  0,6  0,7 "),
        (6, " 7,0  7,1  7,2  7,3  7,4  7,5  7,6  7,7 "),
        (8, " f,0  f,1  f,2  f,3  f,4  f,5  f,6  f,7 "),
    ];
    for (index, row) in expected {
        assert_eq!(shown[index], format!("{indent}{row}"));
    }
    assert!(lines[1].starts_with(&format!("{indent}\x1b[0;30m[0], \x1b[0;31m[1]")));
    assert!(lines[2].starts_with(&format!("{indent}\x1b[1;30m[8], ")));
    assert!(lines[4].contains("\x1b[0;30;47m 0,7 \x1b[0m"));
    assert!(lines[6].contains("\x1b[0;37;40m 7,0 "));
    assert!(lines[8].contains("\x1b[1;37;43m f,3 "));
}

/// Checks the preview of typed characters shown from `first` in `max_width` columns.
fn check_preview(typed: &str, first: usize, max_width: usize, expected: &str) {
    let chars: Vec<char> = typed.chars().collect();
    let preview = input_preview(&chars, first, max_width);
    assert_eq!(preview, expected, "{typed:?} from {first} in {max_width}");
    check_invariants(&[preview], max_width);
}

#[test]
fn input_line_preview() {
    let typed = "\x0b3,4yellow \x02bold\x0f plain";
    check_preview(
        typed,
        0,
        80,
        "\x1b[0;33;44mK3,4yellow \x1b[1mBbold\x1b[0mO plain",
    );
    check_preview(
        typed,
        5,
        80,
        "\x1b[0;33;44mellow \x1b[1mBbold\x1b[0mO plain",
    );
    check_preview(typed, 12, 4, "\x1b[0;1;33;44mbold\x1b[0m");
    check_preview(typed, 99, 80, "");
    check_preview("plain", 0, 80, "plain");
    check_preview("\x0bzed", 0, 80, "Kzed");
    check_preview("a\x07b", 0, 80, "ab");
    check_preview("日本語", 0, 5, "日本");
    let chars: Vec<char> = "a\x0b1日\x02\x07".chars().collect();
    assert_eq!(preview_columns(&chars), [0, 1, 2, 3, 5, 6, 6]);
}

#[test]
fn same_layout_as_teletype_without_formatting() {
    let texts = [
        "hello there".to_string(),
        LOREM.to_string(),
        "x".repeat(150),
        "two\nlines  with   blanks that are kept when the line is short enough".to_string(),
        "日本 ".repeat(30),
        String::new(),
    ];
    for width in [50, 60, 79, 80, 100, 139, 140, 200] {
        for margins in [true, false] {
            let layout = Layout::for_width(width, false);
            let style = MessageStyle {
                margins,
                ..style("")
            };
            for text in &texts {
                let lines = message_lines(&layout, width, TIME, "yyryyd", text, &style);
                check_invariants(&lines, width);
                let shown: Vec<String> = lines.iter().map(|line| visible(line)).collect();
                let plain = plain_lines(&layout, width, TIME, "yyryyd", text, margins, false);
                assert_eq!(shown, plain, "{text:?} at {width}, margins {margins}");
            }
        }
    }
}

#[test]
fn invariants_hold_for_formatted_text() {
    let texts = [
        "\x0b9,4 red on blue \x02bold\x02 not \x0f reset ".repeat(6),
        format!("\x0bf,1{}\x0f", "w".repeat(300)),
        format!("\x0b2{}", "日本語\x02".repeat(40)),
        "\x02\x0b3\x0f".repeat(50),
        "a\n\x0b4\n  \x0b5 b \n".repeat(5),
    ];
    for width in [20, 50, 60, 80, 100, 140] {
        for status in [false, true] {
            let layout = Layout::for_width(width, status);
            for flags in ["", "n", "c", "uh", "nch", "v", "vn", "vu", "vnh"] {
                let style = style(flags);
                for text in &texts {
                    let lines = message_lines(&layout, width, TIME, "nick", text, &style);
                    // The layout never gives text fewer than 8 columns, even on tiny screens.
                    let limit = if style.view_mode {
                        width
                    } else {
                        width.max(layout.indent + 8)
                    };
                    check_invariants(&lines, limit);
                    if style.view_mode {
                        let shown: String = lines.iter().map(|line| visible(line)).collect();
                        let not_blank = |c: &char| !c.is_whitespace();
                        let expected: String =
                            strip_formatting(text).chars().filter(not_blank).collect();
                        let shown: String = shown.chars().filter(not_blank).collect();
                        assert_eq!(
                            shown, expected,
                            "view mode loses nothing: {text:?} at {width}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn folded_sgr_is_the_state_after_all_codes() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "\x1b[0m"),
        (
            &[
                "\x1b[0;37;44;48;5;235m",
                "\x1b[1;37m",
                "\x1b[22m",
                "\x1b[22;36m",
            ],
            "\x1b[0;36;44;48;5;235m",
        ),
        (&["\x1b[1m", "\x1b[7m", "\x1b[0m", "\x1b[4m"], "\x1b[0;4m"),
        (&["\x1b[38;5;220m", "\x1b[31m"], "\x1b[0;31m"),
        (&["\x1b[31;38;5;220m"], "\x1b[0;31;38;5;220m"),
        (&["\x1b[44m", "\x1b[49m", "\x1b[1;27m"], "\x1b[0;1m"),
        (&["not an sgr", "\x1b[38;2m", "\x1b[m"], "\x1b[0m"),
    ];
    for (sgrs, expected) in cases {
        assert_eq!(super::fold_sgr(sgrs.iter().copied()), *expected, "{sgrs:?}");
    }
}

#[test]
fn indented_lines_keep_their_indent_when_wrapped_and_exact_fits_are_kept() {
    let layout = crate::term::layout::Layout::for_width(80, true);
    let style = MessageStyle {
        margins: true,
        colored_nicks: false,
        view_mode: false,
        unread: false,
        hilight: false,
    };
    let plain = |text: &str| -> Vec<String> {
        message_lines(&layout, 80, 0, "-nfo-", text, &style)
            .iter()
            .map(|line| crate::text::strip_formatting(&strip_sgr(line)))
            .collect()
    };
    // Exactly as wide as the text column (66 at 80 columns in the status window).
    let exact = format!("  {}", "x".repeat(64));
    assert_eq!(
        plain(&format!("\n{exact}"))[1],
        format!("{}{exact}", " ".repeat(14))
    );
    // One column more: wrapped, and the continuation keeps the two-space indent.
    let wider = format!("  {} tail", "y".repeat(60));
    let lines = plain(&format!("\n{wider}"));
    assert_eq!(lines[1], format!("{}  {}", " ".repeat(14), "y".repeat(60)));
    assert_eq!(lines[2], format!("{}  tail", " ".repeat(14)));
}

fn strip_sgr(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn searched_words_are_hilighted_whole_and_the_lines_codes_are_kept() {
    let words = ["Deploy".to_string(), "at-noon".to_string()];
    let line = "\x1b[1;33m123456\x1b[m  alice deploy at noon, deployment\x1b[0m";
    assert_eq!(
        hilight_words(line, &words),
        "\x1b[1;33m123456\x1b[m  alice \x1b[7mdeploy\x1b[27m \x1b[7mat\x1b[27m \x1b[7mnoon\x1b[27m, deployment\x1b[0m"
    );
    // A word across a colour change is closed before the code and opened after it.
    assert_eq!(
        hilight_words("DEP\x1b[0;31mLOY\x1b[0m", &words),
        "\x1b[7mDEP\x1b[27m\x1b[0;31m\x1b[7mLOY\x1b[27m\x1b[0m"
    );
    // Nothing to mark, odd input and lone escapes: the line as it was, and no panic.
    for line in ["no match here", "", "\x1b", "\x1b[", "\x1b[999", "é\x1b[0m"] {
        assert_eq!(hilight_words(line, &words), line);
    }
    assert_eq!(hilight_words("deploy", &["***".to_string()]), "deploy");
    assert_eq!(
        hilight_words("Ünïcode ünïcode", &["ÜNÏCODE".to_string()]),
        "\x1b[7mÜnïcode\x1b[27m \x1b[7münïcode\x1b[27m"
    );
}
