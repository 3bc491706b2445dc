//! Tests for the sanitizer and the formatting tokens: one line per case.

use super::{Span, sanitize_message, sanitize_plain, spans, strip_formatting};

/// Sanitizes `input` as a message and as a plain field, and checks that sanitizing again changes
/// nothing.
fn check(input: &str, message: &str, plain: &str) {
    assert_eq!(sanitize_message(input), message, "message from {input:?}");
    assert_eq!(sanitize_plain(input), plain, "plain field from {input:?}");
    assert_eq!(
        sanitize_message(message),
        message,
        "message from {input:?} sanitized twice"
    );
    assert_eq!(
        sanitize_plain(plain),
        plain,
        "plain field from {input:?} sanitized twice"
    );
}

fn check_spans(text: &str, expected: &[Span]) {
    assert_eq!(
        spans(text).collect::<Vec<_>>(),
        expected,
        "spans of {text:?}"
    );
}

#[test]
fn printable_text_is_kept() {
    check("", "", "");
    check("hello, world", "hello, world", "hello, world");
    check(
        "日本語 🎉 Ð Ñ Ã ├─┐",
        "日本語 🎉 Ð Ñ Ã ├─┐",
        "日本語 🎉 Ð Ñ Ã ├─┐",
    );
    check("K,4 ~\\", "K,4 ~\\", "K,4 ~\\");
}

#[test]
fn color_tokens() {
    check(
        "\x0bf,4white on blue",
        "\x0bf,4white on blue",
        "white on blue",
    );
    check("\x0b15,4", "\x0b15,4", "5,4");
    check("\x0bxyz", "Kxyz", "Kxyz");
    check("end\x0b", "endK", "endK");
    check("\x0bA,7x", "\x0ba,7x", "x");
    check("\x0b3,8x", "\x0b3,8x", ",8x");
    check("\x0b3,", "\x0b3,", ",");
    check("\x0b,4", "K,4", "K,4");
    check("\x0b\x0b3x", "K\x0b3x", "Kx");
    check("\x0b\x013", "K3", "K3");
    check("\x0b3,\x014", "\x0b3,4", "");
    check("\x0b\u{e9}", "K\u{e9}", "K\u{e9}");
}

#[test]
fn bold_and_reset_tokens() {
    check(
        "\x02bold\x02 \x0fplain",
        "\x02bold\x02 \x0fplain",
        "bold plain",
    );
}

#[test]
fn controls_are_removed() {
    check("a\x00b\x01c\x1b[31md\x07e\r\nf", "abc[31mdef", "abc[31mdef");
    check("a\x7fb", "ab", "ab");
    check("a\u{80}b\u{85}c\u{9b}31m\u{9f}", "abc31m", "abc31m");
    check("a\tb\t\tc", "a b  c", "a b  c");
}

#[test]
fn bidi_and_zero_width_are_removed() {
    check(
        "a\u{202a}b\u{202b}c\u{202c}d\u{202d}e\u{202e}f",
        "abcdef",
        "abcdef",
    );
    check("a\u{2066}b\u{2067}c\u{2068}d\u{2069}e", "abcde", "abcde");
    check("a\u{200e}b\u{200f}c\u{61c}d", "abcd", "abcd");
    check(
        "a\u{200b}b\u{200c}c\u{200d}d\u{2060}e\u{feff}f\u{180e}g",
        "abcdefg",
        "abcdefg",
    );
    check("admin\u{202e}nimda", "adminnimda", "adminnimda");
}

#[test]
fn combining_marks_are_capped() {
    check("e\u{301}", "e\u{301}", "e\u{301}");
    check("e\u{301}\u{308}", "e\u{301}\u{308}", "e\u{301}\u{308}");
    check(
        "e\u{301}\u{308}\u{30a}\u{30b}o",
        "e\u{301}\u{308}o",
        "e\u{301}\u{308}o",
    );
    check(
        "\u{301}\u{302}\u{303}x",
        "\u{301}\u{302}x",
        "\u{301}\u{302}x",
    );
    check(
        "e\u{301}\x02\u{302}\u{303}",
        "e\u{301}\x02\u{302}",
        "e\u{301}\u{302}",
    );
    check(
        "e\u{301}\u{302}\x01\u{303}",
        "e\u{301}\u{302}",
        "e\u{301}\u{302}",
    );
    check(
        "a\u{301}\u{302}b\u{303}\u{304}",
        "a\u{301}\u{302}b\u{303}\u{304}",
        "a\u{301}\u{302}b\u{303}\u{304}",
    );
}

#[test]
fn sanitizing_is_idempotent() {
    let nasty = [
        "\x0b\x0b\x0bf,\x0b7,7\x0b",
        "\x0bF,\u{202e}7\u{301}\u{301}\u{301}",
        "\x1b]0;title\x07\u{9b}2J\x0b\x01f,\x024",
        "\u{301}\u{301}\u{301}\t\u{301}\u{200d}\u{301}\u{301}",
        "z\u{0315}\u{0327}\u{0300}\u{0301}\u{0302}\u{0303}a\u{0350}\u{0351}\u{0352}",
        "\x0b\u{feff}a\x0bB,\u{200b}3 \u{2066}\x0f\x02\x02",
        "\r\n\x0b\r\n1\x0b\t\x0b,\x0b",
    ];
    for input in nasty {
        let message = sanitize_message(input);
        assert_eq!(
            sanitize_message(&message),
            message,
            "message from {input:?}"
        );
        let plain = sanitize_plain(input);
        assert_eq!(sanitize_plain(&plain), plain, "plain field from {input:?}");
        assert_eq!(
            strip_formatting(&message),
            plain,
            "plain field from {input:?}"
        );
    }
}

#[test]
fn sanitizing_is_idempotent_on_every_short_string() {
    let alphabet = [
        '\x0b',
        'f',
        'F',
        ',',
        '4',
        '9',
        '\x01',
        '\u{301}',
        '\x02',
        'a',
        '\t',
        '\u{200b}',
        '\u{200d}',
        '\u{1f468}',
        '\u{1f3f4}',
        '\u{e0067}',
        '\u{e007f}',
        '\u{fe0f}',
    ];
    let mut inputs = vec![String::new()];
    for _ in 0..4 {
        inputs = inputs
            .iter()
            .flat_map(|input| alphabet.map(|c| format!("{input}{c}")))
            .collect();
        for input in &inputs {
            let message = sanitize_message(input);
            assert_eq!(
                sanitize_message(&message),
                message,
                "message from {input:?}"
            );
            let plain = sanitize_plain(input);
            assert!(
                !plain.contains(char::is_control),
                "plain field from {input:?}"
            );
            assert!(
                spans(input).all(|span| span != Span::Text("")),
                "spans of {input:?}"
            );
        }
    }
}

#[test]
fn spans_of_mixed_text() {
    check_spans("", &[]);
    check_spans("plain", &[Span::Text("plain")]);
    check_spans(
        "a\x0bf,4b\x02c\x0f\x0b3d",
        &[
            Span::Text("a"),
            Span::Color {
                fg: 15,
                bg: Some(4),
            },
            Span::Text("b"),
            Span::Bold,
            Span::Text("c"),
            Span::Reset,
            Span::Color { fg: 3, bg: None },
            Span::Text("d"),
        ],
    );
    check_spans("\x0b1", &[Span::Color { fg: 1, bg: None }]);
    check_spans("\x0b3,4", &[Span::Color { fg: 3, bg: Some(4) }]);
}

#[test]
fn spans_survive_non_canonical_text() {
    check_spans("a\x0b", &[Span::Text("a")]);
    check_spans("a\x0bxb", &[Span::Text("a"), Span::Text("xb")]);
    check_spans(
        "\x0bB,9",
        &[Span::Color { fg: 11, bg: None }, Span::Text(",9")],
    );
    check_spans("\x0b\u{e9}", &[Span::Text("\u{e9}")]);
}

#[test]
fn stripping_formatting() {
    assert_eq!(
        strip_formatting("\x0bf,4white\x0f \x02bold\x02"),
        "white bold"
    );
    assert_eq!(strip_formatting("a\x0b"), "a");
}

#[test]
fn emoji_sequences_arrive_whole_and_invisible_tricks_do_not() {
    const FAMILY: &str = "\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}";
    const SCOTLAND: &str = "\u{1f3f4}\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}";
    const RAINBOW_FLAG: &str = "\u{1f3f3}\u{fe0f}\u{200d}\u{1f308}";
    const HEART_ON_FIRE: &str = "\u{2764}\u{fe0f}\u{200d}\u{1f525}";
    const TECHNOLOGIST: &str = "\u{1f469}\u{1f3fd}\u{200d}\u{1f4bb}";
    let cases = [
        // Sequences that stay whole.
        (FAMILY, FAMILY),
        (SCOTLAND, SCOTLAND),
        (RAINBOW_FLAG, RAINBOW_FLAG),
        (HEART_ON_FIRE, HEART_ON_FIRE),
        (TECHNOLOGIST, TECHNOLOGIST),
        ("\u{2764}\u{fe0f}", "\u{2764}\u{fe0f}"),
        (
            "hi \u{1f468}\u{200d}\u{1f469} ok",
            "hi \u{1f468}\u{200d}\u{1f469} ok",
        ),
        // A joiner anywhere else is removed.
        ("a\u{200d}b", "ab"),
        ("\u{1f468}\u{200d}b", "\u{1f468}b"),
        ("a\u{200d}\u{1f468}", "a\u{1f468}"),
        ("\u{200d}\u{1f468}", "\u{1f468}"),
        ("\u{1f468}\u{200d}", "\u{1f468}"),
        (
            "\u{1f468}\u{200d}\u{200d}\u{1f469}",
            "\u{1f468}\u{200d}\u{1f469}",
        ),
        ("\u{1f468}\x02\u{200d}\u{1f469}", "\u{1f468}\x02\u{1f469}"),
        ("\u{1f468}\u{200d}\x02\u{1f469}", "\u{1f468}\x02\u{1f469}"),
        // Tags only after a black flag, a cancel tag only to end them, at most eight.
        ("a\u{e0067}\u{e0062}\u{e007f}b", "ab"),
        ("\u{e0001}\u{e0065}\u{e006e}", ""),
        ("\u{1f3f3}\u{e0067}\u{e007f}", "\u{1f3f3}"),
        ("\u{1f3f4}\u{e007f}", "\u{1f3f4}"),
        ("\u{1f3f4}\u{e0001}\u{e0067}", "\u{1f3f4}\u{e0067}"),
        (
            "\u{1f3f4}\u{e0067}\u{e007f}\u{e0067}\u{e007f}",
            "\u{1f3f4}\u{e0067}\u{e007f}",
        ),
        ("\u{1f3f4}x\u{e0067}", "\u{1f3f4}x"),
        (
            "\u{1f3f4}\u{e0061}\u{e0062}\u{e0063}\u{e0064}\u{e0065}\u{e0066}\u{e0067}\u{e0068}\u{e0069}\u{e007f}",
            "\u{1f3f4}\u{e0061}\u{e0062}\u{e0063}\u{e0064}\u{e0065}\u{e0066}\u{e0067}\u{e0068}\u{e007f}",
        ),
        // Separators and interlinear annotations are removed.
        ("one\u{2028}two\u{2029}three", "onetwothree"),
        ("a\u{fff9}hidden\u{fffa}b\u{fffb}c", "ahiddenbc"),
        // Emoji parts do not count as the marks of a base character.
        (
            "\u{1f3f4}\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}\u{301}\u{302}\u{303}",
            "\u{1f3f4}\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}\u{301}\u{302}",
        ),
    ];
    for (input, expected) in cases {
        check(input, expected, &expected.replace('\x02', ""));
    }
}

#[test]
fn every_pictograph_takes_columns() {
    // A joiner is kept before a pictograph because the pictograph is always kept; one that
    // took no columns could be dropped as a surplus mark, and sanitizing twice would differ.
    for c in (0..=0x10ffff_u32).filter_map(char::from_u32) {
        if super::is_extended_pictographic(c) {
            assert!(crate::term::width::char_width(c) > 0, "{c:?}");
            assert!(!super::is_removed(c), "{c:?}");
        }
    }
    assert!(super::is_extended_pictographic('\u{1f468}'));
    assert!(super::is_extended_pictographic('\u{a9}'));
    assert!(!super::is_extended_pictographic('\u{1f3fb}'));
    assert!(!super::is_extended_pictographic('a'));
    assert!(!super::is_extended_pictographic('\u{1f1e6}'));
}
