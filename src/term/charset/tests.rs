//! Tests for the charsets: one line per case, expected bytes checked against Python's codecs.

use super::Charset::{Ascii, Cp437, Latin1, ShiftJis, Utf8};
use super::{Charset, Decoder, can_encode, encode};

/// Decodes `reads` one after another with a single decoder, as they would arrive from the network.
fn check_decode(charset: Charset, reads: &[&[u8]], expected: &str) {
    let mut decoder = Decoder::new(charset);
    let mut text = String::new();
    for read in reads {
        decoder.decode(read, &mut text);
    }
    assert_eq!(text, expected, "{} decoding {reads:x?}", charset.name());
}

fn check_encode(charset: Charset, text: &str, expected: &[u8]) {
    let mut bytes = Vec::new();
    encode(charset, text, &mut bytes);
    assert_eq!(bytes, expected, "{} encoding {text:?}", charset.name());
}

#[test]
fn names() {
    for charset in Charset::ALL {
        assert_eq!(Charset::from_name(charset.name()), Some(charset));
    }
    assert_eq!(
        Charset::ALL.map(Charset::name),
        ["utf-8", "cp437", "shift_jis", "latin1", "ascii"]
    );
    assert_eq!(
        Charset::ALL.map(Charset::has_box_drawing),
        [true, true, true, false, false]
    );
    assert_eq!(Charset::from_name("UTF8"), None);
}

#[test]
fn ascii_passes_through_every_charset() {
    let wire = b"hi\x1b[A\x1b[1;5C\r\n\r\0\x03\x7f~\\";
    for charset in Charset::ALL {
        check_decode(charset, &[wire], "hi\x1b[A\x1b[1;5C\r\n\r\0\x03\x7f~\\");
        check_encode(charset, "hi\x1b[A\x1b[1;5C\r\n\r\0\x03\x7f~\\", wire);
    }
}

#[test]
fn utf8_split_at_every_byte() {
    for text in ["é", "€", "🎉", "a日b"] {
        let bytes = text.as_bytes();
        for split in 0..=bytes.len() {
            check_decode(Utf8, &[&bytes[..split], &bytes[split..]], text);
        }
        let byte_by_byte: Vec<&[u8]> = bytes.chunks(1).collect();
        check_decode(Utf8, &byte_by_byte, text);
    }
}

#[test]
fn utf8_invalid() {
    check_decode(Utf8, &[b"\xff"], "\u{fffd}");
    check_decode(Utf8, &[b"a\xffb"], "a\u{fffd}b");
    check_decode(Utf8, &[b"\xc0\x80"], "\u{fffd}\u{fffd}");
    check_decode(Utf8, &[b"\xe0\x80\x80"], "\u{fffd}\u{fffd}\u{fffd}");
    check_decode(Utf8, &[b"\xed\xa0\x80"], "\u{fffd}\u{fffd}\u{fffd}");
    check_decode(Utf8, &[b"\x80x"], "\u{fffd}x");
    check_decode(Utf8, &[b"\xe2\x82A"], "\u{fffd}A");
    check_decode(Utf8, &[b"\xe2\x82", b"A"], "\u{fffd}A");
    check_decode(Utf8, &[b"\xe2", b"\x1b[A"], "\u{fffd}\x1b[A");
    check_decode(Utf8, &[b"\xe2", b"\xc3\xa9"], "\u{fffd}é");
    check_decode(Utf8, &[b"\xf0\x9f", b"\x8e", b"\x89\xff"], "🎉\u{fffd}");
    check_decode(Utf8, &[b"\xe2\x82"], "");
}

#[test]
fn changing_charset_drops_partial_character() {
    let mut decoder = Decoder::new(Utf8);
    let mut text = String::new();
    decoder.decode(b"\xc3", &mut text);
    decoder.set_charset(Latin1);
    decoder.decode(b"A\xc3", &mut text);
    assert_eq!((decoder.charset(), text.as_str()), (Latin1, "AÃ"));
}

#[test]
fn shift_jis() {
    check_decode(ShiftJis, &[b"\x93\xfa\x96\x7b"], "日本");
    check_decode(ShiftJis, &[b"\x93", b"\xfa\x96", b"\x7b!"], "日本!");
    check_decode(ShiftJis, &[b"\xb1"], "ｱ");
    check_decode(ShiftJis, &[b"\x84\x9f\x84\xa0"], "─│");
    check_encode(ShiftJis, "日本!", b"\x93\xfa\x96\x7b!");
    check_encode(ShiftJis, "─│┌┐", b"\x84\x9f\x84\xa0\x84\xa1\x84\xa2");
    check_encode(ShiftJis, "╘═╛░", b"+-+#");
    check_encode(ShiftJis, "é🎉x", b"???x");
}

#[test]
fn cp437() {
    check_decode(Cp437, &[b"\xc3\xbf \xda\xc2\xbf \xda"], "├┐ ┌┬┐ ┌");
    check_decode(Cp437, &[b"\xb0\xb1\xb2\xdb"], "░▒▓█");
    check_decode(Cp437, &[b"\x82\xff"], "é\u{a0}");
    check_encode(Cp437, "├┐ ┌┬┐ ┌", b"\xc3\xbf \xda\xc2\xbf \xda");
    check_encode(Cp437, "░▒▓█", b"\xb0\xb1\xb2\xdb");
    check_encode(
        Cp437,
        "├ ┐ ┌ ┬ ─ │ ╘ ═ ╛ ░ ▒ ▓ █ ▀ ▄",
        b"\xc3 \xbf \xda \xc2 \xc4 \xb3 \xd4 \xcd \xbe \xb0 \xb1 \xb2 \xdb \xdf \xdc",
    );
    check_encode(Cp437, "é日€", b"\x82???");
}

#[test]
fn latin1() {
    check_decode(Latin1, &[b"\xd0 \xd1 \xc3"], "Ð Ñ Ã");
    check_encode(Latin1, "Ð Ñ Ã", b"\xd0 \xd1 \xc3");
    check_encode(Latin1, "日", b"??");
    check_encode(Latin1, "[日本] €x", b"[????] ?x");
    check_encode(Latin1, "├─┐ █", b"+-+ #");
}

#[test]
fn ascii() {
    check_decode(Ascii, &[b"a\xc3\xa9"], "a\u{fffd}\u{fffd}");
    check_encode(
        Ascii,
        "├ ┐ ┌ ┬ ─ │ ╘ ═ ╛ ░ ▒ ▓ █ ▀ ▄",
        b"+ + + + - | + - + # # # # # #",
    );
    check_encode(Ascii, "━┃┼┤┴╱╲╳", b"-|+++/\\X");
    check_encode(Ascii, "é日e\u{301}", b"???e");
}

#[test]
fn utf8_encodes_everything() {
    check_encode(Utf8, "é日🎉─", "é日🎉─".as_bytes());
}

#[test]
fn can_encode_matches_charset() {
    assert!(can_encode(Utf8, '🎉'));
    assert!(can_encode(Cp437, '█'));
    assert!(!can_encode(Cp437, '日'));
    assert!(can_encode(ShiftJis, '日'));
    assert!(!can_encode(ShiftJis, '═'));
    assert!(can_encode(Latin1, 'ÿ'));
    assert!(!can_encode(Latin1, '─'));
    assert!(can_encode(Ascii, '~'));
    assert!(!can_encode(Ascii, 'é'));
}
