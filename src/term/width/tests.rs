//! Tests for the width model: one line per case.

use super::{str_width, truncate_to_width};

fn check(text: &str, expected_width: usize) {
    assert_eq!(str_width(text), expected_width, "width of {text:?}");
}

fn check_truncate(text: &str, max: usize, expected: &str) {
    assert_eq!(
        truncate_to_width(text, max),
        expected,
        "{text:?} truncated to {max}"
    );
}

#[test]
fn widths() {
    check("", 0);
    check("hello", 5);
    check("日本語", 6);
    check("a日b", 4);
    check("🎉", 2);
    check("e\u{301}", 1);
    check("e\u{301}\u{308}", 1);
    check("\x1b\x07\t\r\n\x7f\u{85}", 0);
    check("├─┐░▒▓█", 7);
    check("Ð Ñ Ã", 5);
    // The parts of emoji sequences the sanitizer keeps take no columns of their own: joiners,
    // tags, the emoji variation selector. A sequence is as wide as its pictographs, as
    // wcwidth-based terminals draw it (ones that join it into one glyph draw it narrower).
    check("\u{200d}", 0);
    check("\u{e0067}\u{e0062}\u{e007f}", 0);
    check("\u{fe0f}", 0);
    check("\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}", 6);
    check(
        "\u{1f3f4}\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}",
        2,
    );
}

#[test]
fn truncation() {
    check_truncate("hello", 10, "hello");
    check_truncate("hello", 5, "hello");
    check_truncate("hello", 3, "hel");
    check_truncate("hello", 0, "");
    check_truncate("日本語", 4, "日本");
    check_truncate("日本語", 3, "日");
    check_truncate("日本語", 1, "");
    check_truncate("a日", 2, "a");
    check_truncate("ab🎉c", 3, "ab");
    check_truncate("e\u{301}x", 1, "e\u{301}");
    check_truncate("", 5, "");
    // A cut never lands between a flag and its tags.
    check_truncate(
        "\u{1f3f4}\u{e0067}\u{e0062}\u{e007f}x",
        2,
        "\u{1f3f4}\u{e0067}\u{e0062}\u{e007f}",
    );
}
