//! Data-driven tests of the telnet codec and the raw-port filter.

use super::TelnetEvent::{AreYouThere, Interrupt, TerminalType, Violation, WindowSize};
use super::{RawFilter, TelnetCodec, TelnetEvent, escape_iac};

/// Parses space-separated hex bytes.
pub(crate) fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|byte| u8::from_str_radix(byte, 16).expect("test input is hex"))
        .collect()
}

fn data(bytes: &[u8]) -> TelnetEvent {
    TelnetEvent::Data(bytes.to_vec())
}

fn size(cols: u16, rows: u16) -> TelnetEvent {
    WindowSize { cols, rows }
}

/// Expected violations match any reason text.
fn violation() -> TelnetEvent {
    Violation("")
}

/// Feeds `reads` to a started codec, one `receive` per read, into one event list.
fn feed(reads: &[Vec<u8>]) -> (TelnetCodec, Vec<TelnetEvent>, Vec<u8>) {
    let mut codec = TelnetCodec::new();
    codec.start();
    let mut events = Vec::new();
    let mut replies = Vec::new();
    for read in reads {
        codec.receive(read, &mut events);
        replies.extend(codec.take_replies());
    }
    (codec, events, replies)
}

/// Checks one case. `input` is hex with `|` between reads; the same bytes in one read
/// and in one-byte reads must give the same events, replies and negotiation count.
/// Returns the codec (fed as written) for further checks.
fn check(input: &str, events: &[TelnetEvent], replies: &str) -> TelnetCodec {
    let reads: Vec<Vec<u8>> = input.split('|').map(hex).collect();
    let (codec, got_events, got_replies) = feed(&reads);
    let without_reasons: Vec<TelnetEvent> = got_events
        .iter()
        .map(|event| match event {
            Violation(_) => violation(),
            other => other.clone(),
        })
        .collect();
    assert_eq!(without_reasons, events, "events for {input}");
    assert_eq!(got_replies, hex(replies), "replies for {input}");
    let whole = reads.concat();
    let one_byte_reads: Vec<Vec<u8>> = whole.iter().map(|&byte| vec![byte]).collect();
    for other_split in [vec![whole.clone()], one_byte_reads] {
        let (other, other_events, other_replies) = feed(&other_split);
        assert_eq!(other_events, got_events, "split events for {input}");
        assert_eq!(other_replies, got_replies, "split replies for {input}");
        assert_eq!(other.negotiation_count(), codec.negotiation_count());
    }
    codec
}

#[test]
fn start_sends_will_sga_will_echo_do_naws() {
    let mut codec = TelnetCodec::new();
    assert_eq!(codec.start(), hex("FF FB 03 FF FB 01 FF FD 1F"));
    // WANTYES is not YES: ECHO is only on once the client agrees.
    assert!(!codec.we_echo());
}

#[test]
fn r0c_examples_answered_per_rfc_1143() {
    // r0c answered WILL TTYPE, but we cannot send a terminal type: refuse.
    check("FF FD 18", &[], "FF FC 18");
    // r0c answered WILL BINARY; we do not implement BINARY: refuse.
    check("FF FD 00", &[], "FF FC 00");
    // r0c refused to stop echoing (WILL ECHO). RFC 854 says a DONT must be obeyed, and
    // here it answers our pending WILL ECHO (WANTYES -> NO), which needs no reply.
    assert!(!check("FF FE 01", &[], "").we_echo());
    // r0c sent WONT BINARY although BINARY was already off; RFC 1143: ignore.
    check("FF FE 00", &[], "");
    // r0c agreed to LINEMODE and AUTHENTICATION without implementing them: refuse.
    check("FF FD 22", &[], "FF FC 22");
    check("FF FD 25", &[], "FF FC 25");
    // r0c sent WONT AUTHENTICATION although it was already off; RFC 1143: ignore.
    check("FF FE 25", &[], "");
    // r0c never answered WILL; we accept TTYPE and ask for it (same as r0c: nothing asked before).
    check("FF FB 18", &[], "FF FD 18 FF FA 18 01 FF F0");
    // r0c ignored unknown option codes; RFC 1143 refuses every option it does not implement.
    check("FF FD 2C", &[], "FF FC 2C");
}

#[test]
#[rustfmt::skip] // One case per line.
fn negotiation() {
    // The client agrees to our opening requests: nothing more to say.
    assert!(check("FF FD 03 FF FD 01 FF FB 1F", &[], "").we_echo());
    // Repeats that match the current state get no reply (no loop).
    check("FF FD 01 FF FD 01 FF FD 01", &[], "");
    check("FF FB 1F FF FB 1F", &[], "");
    check("FF FB 18 FF FB 18", &[], "FF FD 18 FF FA 18 01 FF F0");
    check("FF FE 01 FF FE 01", &[], "");
    // Each request for an unsupported option is refused; an RFC 1143 peer does not answer
    // a refusal, so this is one reply per request, never a loop.
    check("FF FD 18 FF FD 18", &[], "FF FC 18 FF FC 18");
    check("FF FD FF", &[], "FF FC FF");
    // The client may not echo for us: refuse; its WONT then matches our state.
    check("FF FB 01", &[], "FF FE 01");
    check("FF FB 01 FF FC 01", &[], "FF FE 01");
    // DONT ECHO after agreeing is honoured and acknowledged, and ECHO can come back.
    assert!(!check("FF FD 01 FF FE 01", &[], "FF FC 01").we_echo());
    assert!(check("FF FD 01 FF FE 01 FF FD 01", &[], "FF FC 01 FF FB 01").we_echo());
    // A refused NAWS may be offered later, and TTYPE may be withdrawn.
    check("FF FC 1F FF FB 1F", &[], "FF FD 1F");
    check("FF FB 18 FF FC 18", &[], "FF FD 18 FF FA 18 01 FF F0 FF FE 18");
    // Verbs split from their option byte.
    check("61 FF | FD 18 62", &[data(b"ab")], "FF FC 18");
    check("61 FF FD | 18 | 62", &[data(b"ab")], "FF FC 18");
}

#[test]
fn negotiation_counter_counts_verbs_and_subnegotiations() {
    let counted = "FF FD 18 FF FB 1F FF FA 1F 00 50 00 18 FF F0 FF F1 FF FF";
    let codec = check(counted, &[size(80, 24), data(&[0xFF])], "FF FC 18");
    assert_eq!(codec.negotiation_count(), 3);
    assert_eq!(check("61 62", &[data(b"ab")], "").negotiation_count(), 0);
}

#[test]
#[rustfmt::skip] // One case per line.
fn naws() {
    // No WILL NAWS needed (r0c's stress testers never send it). `check` also splits
    // every case at every byte position.
    check("FF FA 1F 00 50 00 18 FF F0", &[size(80, 24)], "");
    check("FF FA 1F 00 FF FF 00 18 FF F0", &[size(255, 24)], "");
    // An escaped FF followed by an F0 data byte does not end it (r0c's bug 2).
    check("FF FA 1F FF FF F0 00 18 FF F0", &[size(0xFFF0, 24)], "");
    // Raw values, including unusable ones; the session sanitises.
    check("FF FA 1F 00 00 00 00 FF F0", &[size(0, 0)], "");
    check("FF FA 1F FF FF FF FF FF FF FF FF FF F0", &[size(65535, 65535)], "");
    check("61 FF FA 1F 00 50 00 18 FF F0 62", &[data(b"a"), size(80, 24), data(b"b")], "");
    check("FF FA 1F 00 50 00 FF F0 61", &[violation(), data(b"a")], "");
    check("FF FA 1F 00 50 00 18 00 FF F0", &[violation()], "");
}

#[test]
#[rustfmt::skip] // One case per line.
fn other_subnegotiations() {
    let xterm = "FF FA 18 00 78 74 65 72 6D FF F0";
    check(xterm, &[TerminalType("xterm".into())], "");
    // Control and non-ASCII bytes are dropped from the name.
    check("FF FA 18 00 41 80 0A 42 FF F0", &[TerminalType("AB".into())], "");
    let long_name = format!("FF FA 18 00 {} FF F0", "41 ".repeat(50));
    check(&long_name, &[TerminalType("A".repeat(40))], "");
    // TTYPE SEND from the client and unknown options are consumed silently.
    check("FF FA 18 01 FF F0 61", &[data(b"a")], "");
    check("FF FA 20 00 33 38 34 30 30 FF F0 61", &[data(b"a")], "");
    check("FF FA FF F0 61", &[violation(), data(b"a")], "");
    // Content beyond 512 bytes is dropped and reported once; what follows is kept.
    let too_long = format!("FF FA 18 00 {} FF F0 68 69", "41 ".repeat(600));
    check(&too_long, &[violation(), data(b"hi")], "");
    // A command inside a subnegotiation aborts it and is obeyed.
    check("FF FA 1F 00 50 FF FD 00 61", &[violation(), data(b"a")], "FF FC 00");
}

#[test]
#[rustfmt::skip] // One case per line.
fn two_byte_commands_keep_surrounding_data() {
    // NOP, GA, DM, BRK, AO, EC, EL are ignored (r0c's bug 1 discarded the buffer).
    let ignored = "61 FF F1 62 FF F9 63 FF F2 64 FF F3 65 FF F5 66 FF F7 67 FF F8 68";
    check(ignored, &[data(b"abcdefgh")], "");
    check("61 FF F4 62", &[data(b"a"), Interrupt, data(b"b")], "");
    check("61 FF F6 62", &[data(b"a"), AreYouThere, data(b"b")], "");
    check("61 FF FF 62 FF FF FF FF", &[data(&[0x61, 0xFF, 0x62, 0xFF, 0xFF])], "");
    check("61 FF | FF 62", &[data(&[0x61, 0xFF, 0x62])], "");
}

#[test]
fn malformed_input_is_skipped() {
    check("61 FF 00 62", &[data(b"a"), violation(), data(b"b")], "");
    check("FF 41 42", &[violation(), data(b"B")], "");
    check("FF F0 61", &[violation(), data(b"a")], "");
    // A lone IAC at the end waits for the next read.
    check("61 FF", &[data(b"a")], "");
}

#[test]
fn data_passes_through_untouched() {
    let keys = "0D 00 0D 0A 0D 0A 1B 5B 41 7F 00 E2 82 AC";
    check(keys, &[data(&hex(keys))], "");
}

#[test]
fn escape_iac_doubles_ff_and_round_trips() {
    let text = hex("61 FF 62 FF FF");
    let mut escaped = Vec::new();
    escape_iac(&text, &mut escaped);
    assert_eq!(escaped, hex("61 FF FF 62 FF FF FF FF"));
    let mut events = Vec::new();
    TelnetCodec::new().receive(&escaped, &mut events);
    assert_eq!(events, [data(&text)]);
}

/// Feeds `input` (hex, `|` between reads) to a raw filter and checks data and count, also
/// for the same bytes in one read and in one-byte reads.
fn check_raw(input: &str, expected_data: &str, expected_count: u32) {
    let reads: Vec<Vec<u8>> = input.split('|').map(hex).collect();
    let whole = reads.concat();
    let one_byte_reads: Vec<Vec<u8>> = whole.iter().map(|&byte| vec![byte]).collect();
    for split in [reads, vec![whole.clone()], one_byte_reads] {
        let mut filter = RawFilter::new();
        let mut data = Vec::new();
        for read in &split {
            filter.receive(read, &mut data);
        }
        assert_eq!(data, hex(expected_data), "data for {input}");
        assert_eq!(
            filter.negotiation_count(),
            expected_count,
            "count for {input}"
        );
    }
}

#[test]
fn raw_filter() {
    assert_eq!(RawFilter::new().start(), hex("FF FD 05 FF FD 17"));
    check_raw("68 69 0D 0A", "68 69 0D 0A", 0);
    // A telnet client answering the probe; the text around it is kept (r0c's bug 4).
    check_raw("FF FC 05 FF FC 17", "", 2);
    check_raw("61 FF FC 05 62 FF FC 17 63", "61 62 63", 2);
    check_raw("61 FF | FC | 05 62", "61 62", 1);
    // IAC followed by anything but a verb is data; a second IAC may start a triplet.
    check_raw("FF 41 FF FA 18 FF F0", "FF 41 FF FA 18 FF F0", 0);
    check_raw("FF FF FC 05", "FF", 1);
    // An incomplete triplet at the end waits for the next read.
    check_raw("61 FF FB", "61", 0);
}

/// Tiny deterministic xorshift PRNG, so the test needs no extra crates.
struct Rng(u64);

impl Rng {
    fn below(&mut self, limit: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % limit as u64).expect("below limit")
    }
}

#[test]
fn random_input_gives_the_same_results_however_it_is_split() {
    // Mostly telnet-significant bytes, so random strings hit every parser state.
    const ALPHABET: [u8; 14] = [
        0xFF, 0xFF, 0xFF, 0xF0, 0xF1, 0xF4, 0xF6, 0xFA, 0xFB, 0xFD, 0x1F, 0x18, 0x00, 0x61,
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2000 {
        let len = rng.below(80);
        let input: Vec<u8> = (0..len)
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect();
        let mut reads = Vec::new();
        let mut rest = input.as_slice();
        while !rest.is_empty() {
            let (read, tail) = rest.split_at(rng.below(rest.len() + 1));
            reads.push(read.to_vec());
            rest = tail;
        }
        let (whole, whole_events, whole_replies) = feed(std::slice::from_ref(&input));
        let (split, split_events, split_replies) = feed(&reads);
        assert_eq!(
            split_events, whole_events,
            "input {input:02X?} as {reads:02X?}"
        );
        assert_eq!(
            split_replies, whole_replies,
            "input {input:02X?} as {reads:02X?}"
        );
        assert_eq!(split.negotiation_count(), whole.negotiation_count());
        let mut whole_data = Vec::new();
        let mut split_data = Vec::new();
        let (mut whole_filter, mut split_filter) = (RawFilter::new(), RawFilter::new());
        whole_filter.receive(&input, &mut whole_data);
        for read in &reads {
            split_filter.receive(read, &mut split_data);
        }
        assert_eq!(
            split_data, whole_data,
            "raw input {input:02X?} as {reads:02X?}"
        );
        assert_eq!(
            split_filter.negotiation_count(),
            whole_filter.negotiation_count()
        );
    }
}

#[test]
fn linemode_opening_and_answers_follow_r0cs_linemode() {
    let mut codec = TelnetCodec::new();
    assert_eq!(codec.start_linemode(), hex("ff fd 01 ff fd 22 ff fd 1f"));
    let mut events = Vec::new();
    // The client agrees to echo and to linemode (no answer: we asked), refuses to let us
    // echo or suppress go-aheads, and reports its size.
    for (input, reply) in [
        ("ff fb 01", ""),
        ("ff fb 22", ""),
        ("ff fb 1f", ""),
        ("ff fd 01", "ff fc 01"),
        ("ff fd 03", "ff fc 03"),
        ("ff fd 18", "ff fc 18"),
    ] {
        codec.receive(&hex(input), &mut events);
        assert_eq!(codec.take_replies(), hex(reply), "{input}");
    }
    assert!(!codec.we_echo());
    codec.receive(&hex("ff fa 1f 00 50 00 18 ff f0"), &mut events);
    assert_eq!(events, [size(80, 24)]);
}

#[test]
fn the_trace_describes_negotiations_as_r0cs_dbg_does() {
    let mut codec = TelnetCodec::new();
    codec.start();
    codec.set_trace(true);
    let mut events = Vec::new();
    codec.receive(
        &hex("ff fd 03 ff fb 18 ff fa 1f 00 50 00 18 ff f0"),
        &mut events,
    );
    assert_eq!(
        codec.take_trace(),
        [
            "-->> negote:  ff fd 03  DO SGA (Suppress Go Ahead)",
            "-->> negote:  ff fb 18  WILL TTYPE (Terminal Type)",
            "<<-- n.resp:  ff fb 18  WILL -> DO",
            "-->> subneg:  ff fa 1f 00 50 00 18",
        ]
    );
    assert!(codec.take_trace().is_empty());
    // Without the trace nothing is kept.
    let mut quiet = TelnetCodec::new();
    quiet.start();
    quiet.receive(&hex("ff fd 18"), &mut events);
    assert!(quiet.take_trace().is_empty());
}

#[test]
fn the_raw_adapter_passes_bytes_and_counts_a_telnet_clients_answers() {
    use crate::front::raw::Raw;
    use crate::session::{Arrival, Input, Protocol, Transport};
    let mut raw = Raw::new(&Arrival::for_tests(Protocol::Raw));
    let mut out = Vec::new();
    raw.start(false, &mut out);
    assert_eq!(out, hex("FF FD 05 FF FD 17"));
    let mut data = Vec::new();
    let mut wire = b"hi ".to_vec();
    wire.extend(hex("FF FC 05 FF FC 17 FF"));
    raw.receive(&wire, &mut out, |input| {
        if let Input::Data(bytes) = input {
            data.extend_from_slice(bytes);
        }
    });
    assert_eq!(data, b"hi ");
    assert_eq!(raw.negotiations(), 2);
    assert_eq!(raw.hints(false), None);
    let mut framed = Vec::new();
    Raw::frame(&[0xFF], &mut framed);
    assert_eq!(framed, [0xFF], "nothing is escaped on the raw port");
}
