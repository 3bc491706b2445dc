//! The lines the IRC listener sends, sans-IO: numerics, message lines cut to IRC's limits,
//! IRCv3 tags (`server-time`), ISUPPORT, and the small decoders registration needs (SASL
//! PLAIN's base64). Nothing here fails on input.

/// The host part of the prefix of every user of this server.
pub const USER_HOST: &str = "r0c";

/// The most bytes of one line without its tags, CR LF included (RFC 1459).
pub const MAX_LINE: usize = 512;

/// The most bytes of a line's tags we accept from a client, `@` and the space included
/// (IRCv3 message-tags: a client's tags take at most 4096 bytes, the server's as many again).
pub const MAX_CLIENT_TAGS: usize = 4096;

/// Channels of which a NAMES reply or a JOIN lists at most this many nicks per line; the line
/// limit cuts long nicks further.
const NAMES_PER_LINE: usize = 16;

/// A client line's size limit, tags included (a longer one is refused with 417).
pub const MAX_CLIENT_LINE: usize = MAX_CLIENT_TAGS + MAX_LINE;

/// `nick!user@host` of a user of this server.
pub fn user_prefix(nick: &str) -> String {
    format!("{nick}!{nick}@{USER_HOST}")
}

/// One line: `[@tags ]:prefix COMMAND params... [:trailing]`, with CR, LF and NUL removed from
/// every part, the part after the tags cut to [`MAX_LINE`] bytes on a character boundary, and
/// CR LF added. The trailing parameter always gets its colon, so it may hold spaces or be
/// empty.
pub fn line(
    tags: &str,
    prefix: &str,
    command: &str,
    params: &[&str],
    trailing: Option<&str>,
) -> String {
    // Every message relayed to every IRC client goes through here: one buffer, sized once,
    // and parts without CR, LF or NUL (nearly all) copied whole rather than char by char.
    let capacity = tags.len()
        + prefix.len()
        + command.len()
        + params.iter().map(|p| p.len() + 2).sum::<usize>()
        + trailing.map_or(0, |t| t.len() + 2)
        + 8;
    let mut out = String::with_capacity(capacity.min(MAX_CLIENT_LINE + MAX_LINE));
    if !tags.is_empty() {
        out.push('@');
        push_clean(&mut out, tags, Some(""));
        out.push(' ');
    }
    let body_start = out.len();
    if !prefix.is_empty() {
        out.push(':');
        push_clean(&mut out, prefix, None);
        out.push(' ');
    }
    out.push_str(command);
    for param in params {
        out.push(' ');
        // A middle parameter cannot be empty, hold a space or start with a colon.
        let param_start = out.len();
        push_clean(&mut out, param, Some("_"));
        if out.len() == param_start || out[param_start..].starts_with(':') {
            out.insert(param_start, '*');
        }
    }
    if let Some(trailing) = trailing {
        out.push_str(" :");
        push_clean(&mut out, trailing, None);
    }
    let mut end = out.len().min(body_start + MAX_LINE - 2);
    while !out.is_char_boundary(end) {
        end -= 1;
    }
    out.truncate(end);
    out.push_str("\r\n");
    out
}

/// Appends `part` to `out` without CR, LF and NUL, and with each space replaced by
/// `space` when given.
fn push_clean(out: &mut String, part: &str, space: Option<&str>) {
    let special = |b: u8| matches!(b, b'\r' | b'\n' | b'\0') || (b == b' ' && space.is_some());
    if !part.bytes().any(special) {
        out.push_str(part);
        return;
    }
    for c in part.chars() {
        match (c, space) {
            ('\r' | '\n' | '\0', _) => {}
            (' ', Some(instead)) => out.push_str(instead),
            _ => out.push(c),
        }
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub fn cut(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// A numeric reply from `server` to `nick` (`*` before registration).
pub fn numeric(
    server: &str,
    code: u16,
    nick: &str,
    params: &[&str],
    trailing: Option<&str>,
) -> String {
    let mut all = vec![if nick.is_empty() { "*" } else { nick }];
    all.extend_from_slice(params);
    line("", server, &format!("{code:03}"), &all, trailing)
}

/// Splits a message's text into pieces that each fit in a line whose other parts take
/// `overhead` bytes, cut on character boundaries; one piece per line of a multi-line text,
/// and at least one (possibly empty) piece.
pub fn split_text(text: &str, overhead: usize) -> Vec<&str> {
    let room = MAX_LINE.saturating_sub(overhead + 2).max(16);
    let mut pieces = Vec::new();
    for text_line in text.split('\n') {
        let mut rest = text_line;
        while rest.len() > room {
            // The longest start of `rest` that fits, cut on a character boundary; a character
            // longer than the room (never: the room is at least 16 bytes) goes whole.
            let mut cut_at = room;
            while !rest.is_char_boundary(cut_at) {
                cut_at -= 1;
            }
            if cut_at == 0 {
                cut_at = rest.chars().next().map_or(rest.len(), char::len_utf8);
            }
            let (piece, after) = rest.split_at(cut_at);
            pieces.push(piece);
            rest = after;
        }
        pieces.push(rest);
    }
    pieces
}

/// The `server-time` tag's value for a time in unix microseconds: UTC with milliseconds.
pub fn server_time(unix_micros: i64) -> String {
    match jiff::Timestamp::from_microsecond(unix_micros) {
        Ok(at) => at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => "1970-01-01T00:00:00.000Z".to_owned(),
    }
}

/// The longest `label` (labeled-response) the server answers with; longer ones are ignored.
pub const MAX_LABEL: usize = 64;

/// The `label` tag of a client's line, if it has one the server can send back as it is.
pub fn label_of(raw: &str) -> Option<&str> {
    let tags = raw.strip_prefix('@')?.split(' ').next()?;
    let label = tags.split(';').find_map(|tag| tag.strip_prefix("label="))?;
    (!label.is_empty()
        && label.len() <= MAX_LABEL
        && label.bytes().all(|b| b.is_ascii_graphic() && b != b';'))
    .then_some(label)
}

/// A line (with its CR LF) with one more tag, first among its tags.
pub fn add_tag(sent: &[u8], tag: &str) -> Vec<u8> {
    let mut tagged = Vec::with_capacity(sent.len() + tag.len() + 2);
    tagged.push(b'@');
    tagged.extend_from_slice(tag.as_bytes());
    match sent.strip_prefix(b"@") {
        Some(rest) => {
            tagged.push(b';');
            tagged.extend_from_slice(rest);
        }
        None => {
            tagged.push(b' ');
            tagged.extend_from_slice(sent);
        }
    }
    tagged
}

/// A tag value escaped as IRCv3 message-tags says (`;`, space, `\`, CR, LF).
pub fn escape_tag_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            ';' => escaped.push_str("\\:"),
            ' ' => escaped.push_str("\\s"),
            '\\' => escaped.push_str("\\\\"),
            '\r' => escaped.push_str("\\r"),
            '\n' => escaped.push_str("\\n"),
            '\0' => {}
            c => escaped.push(c),
        }
    }
    escaped
}

/// The `msgid` of message `seq` of the history `key` (a channel's or conversation's store
/// name): stable across restarts, since both are stored, and different between histories.
pub fn msgid(key: &str, seq: u64) -> String {
    format!("{seq}-{:08x}", key_hash(key))
}

/// The message number a `msgid` of history `key` names; `None` for another history's id or
/// anything that is not one.
pub fn msgid_seq(key: &str, msgid: &str) -> Option<u64> {
    let (seq, hash) = msgid.split_once('-')?;
    let hash = u32::from_str_radix(hash, 16).ok()?;
    (hash == key_hash(key)).then(|| seq.parse().ok()).flatten()
}

/// FNV-1a, 32 bits: short, and the same in every build.
fn key_hash(key: &str) -> u32 {
    key.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// A `timestamp=` of CHATHISTORY (RFC 3339, as `server-time` writes it) as microseconds,
/// cut to the millisecond the client can know.
pub fn timestamp_micros(text: &str) -> Option<i64> {
    let at: jiff::Timestamp = text.parse().ok()?;
    Some(at.as_millisecond().saturating_mul(1000))
}

/// Lines of nicks for RPL_NAMREPLY (353), each short enough for one line.
pub fn names_lines(nicks: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut count = 0;
    for nick in nicks {
        if count == NAMES_PER_LINE || current.len() + nick.len() + 1 > 400 {
            lines.push(std::mem::take(&mut current));
            count = 0;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(nick);
        count += 1;
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// The ISUPPORT (005) tokens, as `KEY=VALUE` words, from the server's limits.
pub fn isupport(
    network: &str,
    max_channels_per_user: usize,
    nick_len: usize,
    channel_len: usize,
    topic_len: usize,
) -> Vec<String> {
    vec![
        "CASEMAPPING=ascii".into(),
        format!("CHANLIMIT=#:{max_channels_per_user}"),
        "CHANMODES=b,k,l,imrst".into(),
        format!("CHANNELLEN={channel_len}"),
        format!(
            "CHATHISTORY={}",
            crate::history::chathistory::MAX_CHATHISTORY
        ),
        "CHANTYPES=#".into(),
        "MODES=4".into(),
        "MSGREFTYPES=timestamp,msgid".into(),
        format!("NETWORK={network}"),
        format!("NICKLEN={nick_len}"),
        "PREFIX=(ov)@+".into(),
        "TARGMAX=PRIVMSG:4,NOTICE:4,JOIN:,PART:".into(),
        format!("TOPICLEN={topic_len}"),
        "UTF8ONLY".into(),
    ]
}

/// Decodes standard base64 (with or without padding); `None` for anything else.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.trim_end_matches('=').bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// The parts of a SASL PLAIN message: authorization identity, user name, password.
pub fn sasl_plain(decoded: &[u8]) -> Option<(String, String, String)> {
    let text = std::str::from_utf8(decoded).ok()?;
    let mut parts = text.split('\0');
    let (authzid, authcid, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || authcid.is_empty() {
        return None;
    }
    Some((authzid.to_owned(), authcid.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_never_carries_a_second_command_and_fits_512_bytes() {
        let long = "é".repeat(600);
        let sent = line(
            "",
            "a!a@r0c",
            "PRIVMSG",
            &["#c"],
            Some(&format!("x\r\nQUIT {long}")),
        );
        assert!(sent.len() <= MAX_LINE, "{}", sent.len());
        assert_eq!(sent.matches("\r\n").count(), 1);
        assert!(sent.ends_with("\r\n"));
        assert!(sent.starts_with(":a!a@r0c PRIVMSG #c :xQUIT "));
    }

    #[test]
    fn tags_do_not_count_against_the_512_bytes() {
        let sent = line(
            "time=2026-01-01T00:00:00.000Z",
            "r0c",
            "NOTICE",
            &["x"],
            Some(&"a".repeat(600)),
        );
        let body = sent.split_once(' ').map(|(_, b)| b).unwrap_or_default();
        assert_eq!(body.len(), MAX_LINE);
        assert!(sent.starts_with("@time=2026-01-01T00:00:00.000Z :r0c NOTICE x :aaa"));
    }

    #[test]
    fn empty_or_spaced_middle_parameters_stay_one_parameter() {
        assert_eq!(line("", "", "X", &["", "a b"], None), "X * a_b\r\n");
    }

    #[test]
    fn numerics_are_three_digits_addressed_to_the_nick_or_a_star() {
        assert_eq!(numeric("r0c", 1, "", &[], Some("hi")), ":r0c 001 * :hi\r\n");
        assert_eq!(
            numeric(
                "r0c",
                433,
                "bob",
                &["al"],
                Some("Nickname is already in use")
            ),
            ":r0c 433 bob al :Nickname is already in use\r\n"
        );
    }

    /// The straightforward forms of [`line`] and [`split_text`] (char by char, a string per
    /// part), which the fast ones must match on any input.
    fn reference_line(
        tags: &str,
        prefix: &str,
        command: &str,
        params: &[&str],
        trailing: Option<&str>,
    ) -> String {
        let clean = |part: &str| -> String {
            part.chars()
                .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
                .collect()
        };
        let mut body = String::new();
        if !prefix.is_empty() {
            body.push(':');
            body.push_str(&clean(prefix));
            body.push(' ');
        }
        body.push_str(command);
        for param in params {
            let param = clean(param).replace(' ', "_");
            let param = if param.is_empty() || param.starts_with(':') {
                format!("*{param}")
            } else {
                param
            };
            body.push(' ');
            body.push_str(&param);
        }
        if let Some(trailing) = trailing {
            body.push_str(" :");
            body.push_str(&clean(trailing));
        }
        cut(&mut body, MAX_LINE - 2);
        let mut out = String::new();
        if !tags.is_empty() {
            out.push('@');
            out.push_str(&clean(tags).replace(' ', ""));
            out.push(' ');
        }
        out.push_str(&body);
        out.push_str("\r\n");
        out
    }

    fn reference_split_text(text: &str, overhead: usize) -> Vec<String> {
        let room = MAX_LINE.saturating_sub(overhead + 2).max(16);
        let mut pieces = Vec::new();
        for text_line in text.split('\n') {
            let mut piece = String::new();
            for c in text_line.chars() {
                if piece.len() + c.len_utf8() > room {
                    pieces.push(std::mem::take(&mut piece));
                }
                piece.push(c);
            }
            pieces.push(piece);
        }
        pieces
    }

    proptest::proptest! {
        #[test]
        fn lines_and_pieces_match_their_reference_forms(
            tags in "[a-z= ;\r\n\x00é]{0,12}",
            prefix in "[a-z!@ \r\n\x00]{0,12}",
            params in proptest::collection::vec("[a-z: \r\n\x00ü]{0,8}", 0..4),
            trailing in proptest::option::of("[a-zé日 :\r\n\x00]{0,700}"),
            overhead in 0usize..600,
        ) {
            let params: Vec<&str> = params.iter().map(String::as_str).collect();
            proptest::prop_assert_eq!(
                line(&tags, &prefix, "PRIVMSG", &params, trailing.as_deref()),
                reference_line(&tags, &prefix, "PRIVMSG", &params, trailing.as_deref())
            );
            let text = trailing.unwrap_or_default();
            proptest::prop_assert_eq!(
                split_text(&text, overhead),
                reference_split_text(&text, overhead)
            );
        }
    }

    #[test]
    fn text_is_split_per_line_and_to_fit() {
        assert_eq!(split_text("a\nb", 10), vec!["a", "b"]);
        let long = "ü".repeat(400);
        let pieces = split_text(&long, 100);
        assert!(pieces.len() > 1);
        assert!(pieces.iter().all(|p| p.len() <= MAX_LINE - 102));
        assert_eq!(pieces.concat(), "ü".repeat(400));
        assert_eq!(split_text("", 10), vec![""]);
    }

    #[test]
    fn server_time_is_utc_with_milliseconds() {
        assert_eq!(
            server_time(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123Z"
        );
    }

    #[test]
    fn msgids_name_their_history_and_timestamps_parse_to_the_millisecond() {
        let id = msgid("g", 42);
        assert_eq!(msgid_seq("g", &id), Some(42));
        assert_eq!(msgid_seq("other", &id), None);
        assert_eq!(msgid_seq("g", "x"), None);
        assert_eq!(msgid_seq("g", "-"), None);
        assert_eq!(
            timestamp_micros("2023-11-14T22:13:20.123Z"),
            Some(1_700_000_000_123_000)
        );
        assert_eq!(timestamp_micros("yesterday"), None);
    }

    #[test]
    fn names_are_split_into_lines() {
        let nicks: Vec<String> = (0..40).map(|i| format!("n{i}")).collect();
        let lines = names_lines(&nicks);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines.join(" ").split(' ').count(), 40);
        assert_eq!(names_lines(&[]), vec![String::new()]);
    }

    #[test]
    fn isupport_names_the_limits() {
        let tokens = isupport("r0c", 8, 32, 49, 512);
        for wanted in [
            "CHANLIMIT=#:8",
            "NICKLEN=32",
            "CHANNELLEN=49",
            "TOPICLEN=512",
            "CHANTYPES=#",
            "CASEMAPPING=ascii",
        ] {
            assert!(tokens.iter().any(|t| t == wanted), "{wanted} in {tokens:?}");
        }
    }

    #[test]
    fn sasl_plain_is_decoded_and_bad_input_refused() {
        let decoded = base64_decode("AGpvZQBodW50ZXIy").unwrap_or_default();
        assert_eq!(
            sasl_plain(&decoded),
            Some((String::new(), "joe".into(), "hunter2".into()))
        );
        assert_eq!(base64_decode("!!"), None);
        assert_eq!(sasl_plain(b"a\0b"), None);
        assert_eq!(sasl_plain(b"\0\0pw"), None);
        assert_eq!(sasl_plain(&[0xff, 0, b'a', 0, b'b']), None);
    }
}
