//! The five client charsets of r0c (utf-8, cp437, shift_jis, latin1, ascii): decoding what clients
//! type and encoding what they are shown.
//!
//! Bytes 0x00–0x7F are ASCII in every charset and pass through both ways unchanged, so control
//! characters and escape sequences survive for the key decoder and the renderer. Neither direction
//! can fail: undecodable input becomes U+FFFD, and characters a charset cannot show become a
//! stand-in of the same display width, so layouts computed before encoding stay aligned.

use encoding_rs::{CoderResult, EncoderResult, SHIFT_JIS};
use oem_cp::code_table::{DECODING_TABLE_CP437, ENCODING_TABLE_CP437};

use crate::term::width::char_width;

/// A charset a client can pick in the first-connect wizard.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Charset {
    /// UTF-8, the default until the wizard has picked one.
    Utf8,
    /// IBM PC code page 437 (DOS, Windows console), which has box drawing.
    Cp437,
    /// Shift_JIS, for Japanese terminals.
    ShiftJis,
    /// ISO-8859-1.
    Latin1,
    /// 7-bit ASCII, for terminals that show nothing else.
    Ascii,
}

impl Charset {
    /// Every charset, in the order the wizard offers them.
    pub const ALL: [Charset; 5] = [
        Charset::Utf8,
        Charset::Cp437,
        Charset::ShiftJis,
        Charset::Latin1,
        Charset::Ascii,
    ];

    /// r0c's name for the charset, as stored in saved client configs.
    pub fn name(self) -> &'static str {
        match self {
            Charset::Utf8 => "utf-8",
            Charset::Cp437 => "cp437",
            Charset::ShiftJis => "shift_jis",
            Charset::Latin1 => "latin1",
            Charset::Ascii => "ascii",
        }
    }

    /// The charset r0c calls `name`, if any.
    pub fn from_name(name: &str) -> Option<Charset> {
        Charset::ALL
            .into_iter()
            .find(|charset| charset.name() == name)
    }

    /// Whether the charset shows the box drawing characters of the logo; r0c sends the ASCII logo
    /// otherwise.
    pub fn has_box_drawing(self) -> bool {
        matches!(self, Charset::Utf8 | Charset::Cp437 | Charset::ShiftJis)
    }
}

/// Incremental input decoder: a multi-byte character split across reads waits for its rest.
pub struct Decoder {
    /// The charset the client's bytes are in.
    charset: Charset,
    /// What is left over from the previous read, kept per charset.
    pending: Pending,
}

/// The partial character a multi-byte charset holds between reads.
enum Pending {
    /// The start of a UTF-8 sequence (at most 3 bytes) that the next read may complete.
    Utf8(Vec<u8>),
    /// encoding_rs keeps a split Shift_JIS lead byte inside its decoder.
    ShiftJis(encoding_rs::Decoder),
    /// Single-byte charsets never split a character.
    Nothing,
}

impl Pending {
    fn for_charset(charset: Charset) -> Pending {
        match charset {
            Charset::Utf8 => Pending::Utf8(Vec::new()),
            Charset::ShiftJis => Pending::ShiftJis(SHIFT_JIS.new_decoder_without_bom_handling()),
            Charset::Cp437 | Charset::Latin1 | Charset::Ascii => Pending::Nothing,
        }
    }
}

impl Decoder {
    /// A decoder for `charset` with nothing pending.
    pub fn new(charset: Charset) -> Self {
        Decoder {
            charset,
            pending: Pending::for_charset(charset),
        }
    }

    /// The charset being decoded.
    pub fn charset(&self) -> Charset {
        self.charset
    }

    /// Switches to `charset`, dropping any pending partial character: its bytes meant something in
    /// the old charset only.
    pub fn set_charset(&mut self, charset: Charset) {
        *self = Decoder::new(charset);
    }

    /// Decodes one read of the client's bytes onto `out`; an incomplete character at the end waits
    /// for the next read.
    pub fn decode(&mut self, input: &[u8], out: &mut String) {
        match &mut self.pending {
            Pending::Utf8(held) => decode_utf8(held, input, out),
            Pending::ShiftJis(decoder) => decode_shift_jis(decoder, input, out),
            Pending::Nothing => out.extend(
                input
                    .iter()
                    .map(|&byte| decode_single_byte(self.charset, byte)),
            ),
        }
    }
}

/// Decodes UTF-8, completing the sequence `held` from the previous read and holding a new
/// incomplete one at the end.
fn decode_utf8(held: &mut Vec<u8>, input: &[u8], out: &mut String) {
    let joined;
    let mut rest = if held.is_empty() {
        input
    } else {
        held.extend_from_slice(input);
        joined = std::mem::take(held);
        &joined[..]
    };
    loop {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                return;
            }
            Err(error) => {
                let (valid, invalid) = rest.split_at(error.valid_up_to());
                // The prefix was just validated, so this never replaces anything.
                out.push_str(&String::from_utf8_lossy(valid));
                match error.error_len() {
                    // A sequence the standard decoder rejects costs one U+FFFD per maximal invalid
                    // part, as in every browser; decoding resumes right after it.
                    Some(length) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        rest = &invalid[length..];
                    }
                    // `from_utf8` only reports an unknown error length for a valid but unfinished
                    // sequence at the end, which is at most 3 bytes.
                    None => {
                        held.extend_from_slice(invalid);
                        return;
                    }
                }
            }
        }
    }
}

/// Decodes Shift_JIS with encoding_rs's streaming decoder, which keeps a split lead byte for the
/// next read.
fn decode_shift_jis(decoder: &mut encoding_rs::Decoder, input: &[u8], out: &mut String) {
    let mut rest = input;
    loop {
        // The worst case only overflows for absurd lengths; any spare room still lets the decoder
        // make progress.
        out.reserve(
            decoder
                .max_utf8_buffer_length(rest.len())
                .unwrap_or(rest.len()),
        );
        let (result, read, _) = decoder.decode_to_string(rest, out, false);
        rest = &rest[read..];
        if result == CoderResult::InputEmpty {
            return;
        }
    }
}

fn decode_single_byte(charset: Charset, byte: u8) -> char {
    match (charset, byte) {
        (_, 0x00..=0x7f) => char::from(byte),
        (Charset::Cp437, _) => DECODING_TABLE_CP437[usize::from(byte - 0x80)],
        (Charset::Latin1, _) => char::from(byte),
        _ => char::REPLACEMENT_CHARACTER,
    }
}

/// Encodes text for a client; characters the charset cannot show become a visible fallback of the
/// same width.
///
/// Box drawing and block characters turn into their ASCII look-alikes (`-`, `|`, `+`, `#`);
/// anything else becomes one `?` per column, so everything after it stays where the layout put it.
pub fn encode(charset: Charset, text: &str, out: &mut Vec<u8>) {
    if charset == Charset::Utf8 || text.is_ascii() {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    let mut buffer = [0; 4];
    for c in text.chars() {
        match encode_char(charset, c, &mut buffer) {
            Some(bytes) => out.extend_from_slice(bytes),
            None => match transliterate(c) {
                Some(ascii) => out.push(ascii),
                None => out.extend(std::iter::repeat_n(b'?', char_width(c))),
            },
        }
    }
}

/// Whether `charset` has `c` itself (not just a stand-in for it).
pub fn can_encode(charset: Charset, c: char) -> bool {
    encode_char(charset, c, &mut [0; 4]).is_some()
}

/// The bytes of `c` in `charset`, written into `buffer`, or `None` if the charset lacks it.
fn encode_char(charset: Charset, c: char, buffer: &mut [u8; 4]) -> Option<&[u8]> {
    match charset {
        Charset::Utf8 => Some(c.encode_utf8(buffer).as_bytes()),
        // ASCII is ASCII in Shift_JIS too, and skipping encoding_rs for it keeps the common case
        // cheap.
        Charset::ShiftJis if !c.is_ascii() => encode_shift_jis(c, buffer),
        _ => {
            buffer[0] = encode_single_byte(charset, c)?;
            Some(&buffer[..1])
        }
    }
}

fn encode_single_byte(charset: Charset, c: char) -> Option<u8> {
    match (charset, u8::try_from(c).ok()) {
        (_, Some(byte @ 0x00..=0x7f)) => Some(byte),
        (Charset::Latin1, byte) => byte,
        (Charset::Cp437, _) => ENCODING_TABLE_CP437.get(&c).copied(),
        _ => None,
    }
}

/// Encodes one character with encoding_rs, whose Shift_JIS encoder keeps no state between
/// characters; it is asked not to replace, because its replacement would be an HTML numeric
/// reference such as `&#9552;`.
fn encode_shift_jis(c: char, buffer: &mut [u8; 4]) -> Option<&[u8]> {
    let mut utf8 = [0; 4];
    let (result, _, written) = SHIFT_JIS
        .new_encoder()
        .encode_from_utf8_without_replacement(c.encode_utf8(&mut utf8), buffer, true);
    (result == EncoderResult::InputEmpty).then_some(&buffer[..written])
}

/// The ASCII look-alike of a box drawing (U+2500–U+257F) or block (U+2580–U+259F) character.
fn transliterate(c: char) -> Option<u8> {
    match c {
        '─' | '━' | '┄' | '┅' | '┈' | '┉' | '═' | '╌' | '╍' | '╴' | '╶' | '╸' | '╺' | '╼' | '╾' => {
            Some(b'-')
        }
        '│' | '┃' | '┆' | '┇' | '┊' | '┋' | '║' | '╎' | '╏' | '╵' | '╷' | '╹' | '╻' | '╽' | '╿' => {
            Some(b'|')
        }
        '╱' => Some(b'/'),
        '╲' => Some(b'\\'),
        '╳' => Some(b'X'),
        '\u{2500}'..='\u{257f}' => Some(b'+'),
        '\u{2580}'..='\u{259f}' => Some(b'#'),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
