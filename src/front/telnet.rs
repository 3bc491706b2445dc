//! Sans-IO telnet codec (RFC 854/855, RFC 1143 option negotiation) and the filter for the raw
//! TCP port; the telnet port's adapter for the session core is `front::telnet_port`.
//!
//! Option negotiation follows the RFC 1143 "Q method". We only ever ask to *enable*
//! options, once, in [`TelnetCodec::start`], and never change our mind later, so the
//! WANTNO state and the queue bit of RFC 1143 can never be reached: each option is NO,
//! WANTYES or YES. Options we do not implement are permanently NO and every request for
//! them is refused, which RFC 1143 guarantees cannot loop.

/// Telnet command bytes (RFC 854) that the codec reads or writes.
const IAC: u8 = 0xFF;
const DONT: u8 = 0xFE;
const DO: u8 = 0xFD;
const WONT: u8 = 0xFC;
const WILL: u8 = 0xFB;
const SB: u8 = 0xFA;
const AYT: u8 = 0xF6;
const IP: u8 = 0xF4;
const SE: u8 = 0xF0;

/// Option codes: ECHO (RFC 857), SGA (RFC 858), STATUS (RFC 859), SNDLOC (RFC 779),
/// TTYPE (RFC 1091) and NAWS (RFC 1073).
const ECHO: u8 = 0x01;
const SGA: u8 = 0x03;
const STATUS: u8 = 0x05;
const SNDLOC: u8 = 0x17;
const TTYPE: u8 = 0x18;
const NAWS: u8 = 0x1F;
/// LINEMODE (RFC 1184), asked for only by r0c's `--linemode` opening.
const LINEMODE: u8 = 0x22;

/// TTYPE subnegotiation verbs (RFC 1091).
const TTYPE_IS: u8 = 0x00;
const TTYPE_SEND: u8 = 0x01;

/// Subnegotiation content (option byte included) beyond this is discarded.
const SUBNEGOTIATION_MAX: usize = 512;

/// RFC 1091 limits terminal type names to 40 characters.
const TERMINAL_TYPE_MAX: usize = 40;

/// Something the client sent, in the order it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TelnetEvent {
    /// User bytes, unescaped and otherwise untouched (CR NUL, CR LF, ESC sequences…).
    Data(Vec<u8>),
    /// A NAWS report with the raw values; the session replaces unusable ones.
    WindowSize {
        /// Width in columns, as sent.
        cols: u16,
        /// Height in rows, as sent.
        rows: u16,
    },
    /// The answer to our TTYPE SEND, printable ASCII only, at most 40 characters.
    TerminalType(String),
    /// IAC IP: the client's interrupt key, which the session treats like CTRL-C.
    Interrupt,
    /// IAC AYT: the connection should print a sign of life.
    AreYouThere,
    /// Malformed input that was skipped; for logging only.
    Violation(&'static str),
}

/// RFC 1143 state of one option we implement (WANTNO is unreachable, see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OptionState {
    No,
    WantYes,
    Yes,
}

/// Where the parser is inside the telnet byte stream; a read may end anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParseState {
    Data,
    Iac,
    /// After IAC WILL/WONT/DO/DONT (the byte kept here), waiting for the option.
    Verb(u8),
    Subnegotiation,
    SubnegotiationIac,
}

/// Telnet decoder and option negotiator for one connection.
#[derive(Debug)]
pub struct TelnetCodec {
    /// Parser position, carried from one read to the next.
    parse: ParseState,
    /// Our ECHO option (we echo the user's typing).
    us_echo: OptionState,
    /// Our SGA option (no go-aheads: character at a time).
    us_sga: OptionState,
    /// The client's NAWS option (it reports its window size).
    him_naws: OptionState,
    /// The client's TTYPE option (it tells its terminal type).
    him_ttype: OptionState,
    /// Unescaped content of the current subnegotiation: option byte, then parameters.
    subnegotiation: Vec<u8>,
    /// Whether the current subnegotiation exceeded [`SUBNEGOTIATION_MAX`].
    subnegotiation_overflow: bool,
    /// Negotiation answers not yet taken by the connection.
    replies: Vec<u8>,
    /// IAC-initiated commands (3-byte verbs and SB) received so far.
    negotiations: u32,
    /// Opened with [`Self::start_linemode`]: the client echoes and buffers lines, so we
    /// refuse to echo or suppress go-aheads ourselves.
    linemode: bool,
    /// The client's ECHO option, asked for in linemode only.
    him_echo: OptionState,
    /// The client's LINEMODE option, asked for in linemode only.
    him_linemode: OptionState,
    /// `--dbg` lines about the negotiation, when switched on with [`Self::set_trace`].
    trace: Option<Vec<String>>,
}

impl Default for TelnetCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl TelnetCodec {
    /// A codec for a fresh connection; call [`Self::start`] once and send its bytes.
    pub fn new() -> Self {
        Self {
            parse: ParseState::Data,
            us_echo: OptionState::No,
            us_sga: OptionState::No,
            him_naws: OptionState::No,
            him_ttype: OptionState::No,
            subnegotiation: Vec::new(),
            subnegotiation_overflow: false,
            replies: Vec::new(),
            negotiations: 0,
            linemode: false,
            him_echo: OptionState::No,
            him_linemode: OptionState::No,
            trace: None,
        }
    }

    /// r0c's `--linemode` opening (IAC DO ECHO, IAC DO LINEMODE, IAC DO NAWS), to send first
    /// instead of [`Self::start`]: the client is asked to echo and to send whole lines, and
    /// our own ECHO and SGA are refused from then on.
    pub fn start_linemode(&mut self) -> Vec<u8> {
        self.linemode = true;
        self.him_echo = OptionState::WantYes;
        self.him_linemode = OptionState::WantYes;
        self.him_naws = OptionState::WantYes;
        vec![IAC, DO, ECHO, IAC, DO, LINEMODE, IAC, DO, NAWS]
    }

    /// Switches `--dbg` lines on: each negotiation and subnegotiation received, and each
    /// answer, is described in a line for [`Self::take_trace`].
    pub fn set_trace(&mut self, on: bool) {
        self.trace = on.then(Vec::new);
    }

    /// The `--dbg` lines since the last call (none unless [`Self::set_trace`] is on).
    pub fn take_trace(&mut self) -> Vec<String> {
        self.trace.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The opening negotiation (IAC WILL SGA, IAC WILL ECHO, IAC DO NAWS), to send first.
    pub fn start(&mut self) -> Vec<u8> {
        self.us_sga = OptionState::WantYes;
        self.us_echo = OptionState::WantYes;
        self.him_naws = OptionState::WantYes;
        vec![IAC, WILL, SGA, IAC, WILL, ECHO, IAC, DO, NAWS]
    }

    /// Decodes one read, appending events to `events` and queueing answers for
    /// [`Self::take_replies`]. Data directly after a `Data` event already at the end of
    /// `events` is appended to it, so the events do not depend on how input was split.
    pub fn receive(&mut self, input: &[u8], events: &mut Vec<TelnetEvent>) {
        for &byte in input {
            self.step(byte, events);
        }
    }

    /// Negotiation answers to send to the client, in order (empty if none are due).
    pub fn take_replies(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.replies)
    }

    /// How many IAC-initiated commands (3-byte verbs, SB) the client has sent; a telnet
    /// client answers our opening negotiation, a raw TCP client sends none.
    pub fn negotiation_count(&self) -> u32 {
        self.negotiations
    }

    /// Whether the client agreed that we echo its input.
    pub fn we_echo(&self) -> bool {
        self.us_echo == OptionState::Yes
    }

    /// Consumes one input byte.
    fn step(&mut self, byte: u8, events: &mut Vec<TelnetEvent>) {
        match self.parse {
            ParseState::Data => {
                if byte == IAC {
                    self.parse = ParseState::Iac;
                } else {
                    push_data(events, &[byte]);
                }
            }
            ParseState::Iac => self.command(byte, events),
            ParseState::Verb(verb) => {
                self.parse = ParseState::Data;
                self.negotiations = self.negotiations.saturating_add(1);
                let replies_before = self.replies.len();
                self.negotiate(verb, byte);
                if let Some(trace) = self.trace.as_mut() {
                    use crate::diag::{hex_bytes, telnet_option_name, telnet_verb_name};
                    let received = hex_bytes(&[IAC, verb, byte]);
                    trace.push(format!(
                        "-->> negote:  {received}  {} {}",
                        telnet_verb_name(verb),
                        telnet_option_name(byte)
                    ));
                    if let Some(&reply) = self.replies.get(replies_before + 1) {
                        trace.push(format!(
                            "<<-- n.resp:  {received}  {} -> {}",
                            telnet_verb_name(verb),
                            telnet_verb_name(reply)
                        ));
                    }
                }
            }
            ParseState::Subnegotiation => {
                if byte == IAC {
                    self.parse = ParseState::SubnegotiationIac;
                } else {
                    self.collect(byte, events);
                }
            }
            ParseState::SubnegotiationIac => match byte {
                IAC => {
                    self.parse = ParseState::Subnegotiation;
                    self.collect(IAC, events);
                }
                SE => {
                    self.parse = ParseState::Data;
                    self.finish_subnegotiation(events);
                }
                _ => {
                    // Like BSD telnetd: a command inside a subnegotiation means the client
                    // forgot IAC SE. Drop the unfinished content and obey the command, so a
                    // broken client cannot make us swallow all later negotiation.
                    events.push(TelnetEvent::Violation("command inside a subnegotiation"));
                    self.subnegotiation.clear();
                    self.subnegotiation_overflow = false;
                    self.command(byte, events);
                }
            },
        }
    }

    /// Handles the byte after an IAC.
    fn command(&mut self, byte: u8, events: &mut Vec<TelnetEvent>) {
        self.parse = ParseState::Data;
        match byte {
            IAC => push_data(events, &[IAC]),
            WILL..=DONT => self.parse = ParseState::Verb(byte),
            SB => {
                // The content buffer is empty: every way out of a subnegotiation clears it.
                self.negotiations = self.negotiations.saturating_add(1);
                self.parse = ParseState::Subnegotiation;
            }
            IP => events.push(TelnetEvent::Interrupt),
            AYT => events.push(TelnetEvent::AreYouThere),
            SE => events.push(TelnetEvent::Violation("IAC SE outside a subnegotiation")),
            // NOP, DM, BRK, AO, EC, EL and GA mean nothing to a character-at-a-time chat.
            0xF1..=0xF9 => {}
            _ => events.push(TelnetEvent::Violation("IAC before a non-command byte")),
        }
    }

    /// Answers IAC `verb` `option` per RFC 1143.
    fn negotiate(&mut self, verb: u8, option: u8) {
        let asks_to_enable = matches!(verb, WILL | DO);
        let linemode = self.linemode;
        let (state, agree, refuse) = if matches!(verb, WILL | WONT) {
            let state = match option {
                NAWS => Some(&mut self.him_naws),
                TTYPE => Some(&mut self.him_ttype),
                ECHO if linemode => Some(&mut self.him_echo),
                LINEMODE if linemode => Some(&mut self.him_linemode),
                _ => None,
            };
            (state, DO, DONT)
        } else {
            let state = match option {
                // In linemode the client echoes and buffers: ours stay off.
                ECHO | SGA if linemode => None,
                ECHO => Some(&mut self.us_echo),
                SGA => Some(&mut self.us_sga),
                _ => None,
            };
            (state, WILL, WONT)
        };
        let reply = match (state, asks_to_enable) {
            // Options we do not implement stay NO: refuse to enable, ignore disabling.
            (None, true) => Some(refuse),
            (None, false) => None,
            (Some(state), true) => match *state {
                OptionState::No => {
                    *state = OptionState::Yes;
                    Some(agree)
                }
                // The client answered our request, or repeated itself: no reply.
                OptionState::WantYes | OptionState::Yes => {
                    *state = OptionState::Yes;
                    None
                }
            },
            (Some(state), false) => match *state {
                OptionState::No => None,
                // The client refused our request: no reply.
                OptionState::WantYes => {
                    *state = OptionState::No;
                    None
                }
                OptionState::Yes => {
                    *state = OptionState::No;
                    Some(refuse)
                }
            },
        };
        if let Some(reply) = reply {
            self.replies.extend_from_slice(&[IAC, reply, option]);
            if reply == DO && option == TTYPE {
                self.replies
                    .extend_from_slice(&[IAC, SB, TTYPE, TTYPE_SEND, IAC, SE]);
            }
        }
    }

    /// Adds one unescaped byte to the current subnegotiation, up to the cap.
    fn collect(&mut self, byte: u8, events: &mut Vec<TelnetEvent>) {
        if self.subnegotiation.len() < SUBNEGOTIATION_MAX {
            self.subnegotiation.push(byte);
        } else if !self.subnegotiation_overflow {
            self.subnegotiation_overflow = true;
            events.push(TelnetEvent::Violation("subnegotiation too long"));
        }
    }

    /// Interprets a complete subnegotiation (NAWS and TTYPE IS; others are ignored).
    fn finish_subnegotiation(&mut self, events: &mut Vec<TelnetEvent>) {
        if let Some(trace) = self.trace.as_mut() {
            let mut bytes = vec![IAC, SB];
            bytes.extend_from_slice(&self.subnegotiation);
            trace.push(format!("-->> subneg:  {}", crate::diag::hex_bytes(&bytes)));
        }
        // An overflowed subnegotiation was reported when it overflowed and is not trusted.
        if !self.subnegotiation_overflow {
            match self.subnegotiation.as_slice() {
                [] => events.push(TelnetEvent::Violation("empty subnegotiation")),
                [NAWS, w1, w0, h1, h0] => events.push(TelnetEvent::WindowSize {
                    cols: u16::from_be_bytes([*w1, *w0]),
                    rows: u16::from_be_bytes([*h1, *h0]),
                }),
                [NAWS, ..] => events.push(TelnetEvent::Violation("NAWS with a wrong length")),
                [TTYPE, TTYPE_IS, name @ ..] => events.push(TelnetEvent::TerminalType(
                    name.iter()
                        .filter(|b| b.is_ascii_graphic() || **b == b' ')
                        .take(TERMINAL_TYPE_MAX)
                        .map(|&b| char::from(b))
                        .collect(),
                )),
                _ => {}
            }
        }
        self.subnegotiation.clear();
        self.subnegotiation_overflow = false;
    }
}

/// Appends `bytes` as data, extending a `Data` event already at the end of `events`.
fn push_data(events: &mut Vec<TelnetEvent>, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    if let Some(TelnetEvent::Data(data)) = events.last_mut() {
        data.extend_from_slice(bytes);
    } else {
        events.push(TelnetEvent::Data(bytes.to_vec()));
    }
}

/// Appends `data` to `out` with every 0xFF doubled, as telnet requires for data bytes.
pub fn escape_iac(data: &[u8], out: &mut Vec<u8>) {
    // Frames almost never hold a 0xFF: a word-at-a-time search, then one copy.
    if !data.contains(&IAC) {
        out.extend_from_slice(data);
        return;
    }
    for chunk in data.split_inclusive(|&b| b == IAC) {
        out.extend_from_slice(chunk);
        if chunk.last() == Some(&IAC) {
            out.push(IAC);
        }
    }
}

/// Where [`RawFilter`] is inside a possible negotiation answer; a read may end anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawState {
    Data,
    Iac,
    /// After IAC WILL/WONT/DO/DONT, waiting for the option byte.
    Verb,
}

/// Input filter for the raw TCP port: strips a telnet client's answers to our probe.
///
/// There is no escaping on this port, so every byte that is not part of a complete
/// `IAC {WILL,WONT,DO,DONT} option` triplet is user data and is passed on.
#[derive(Debug)]
pub struct RawFilter {
    /// Position inside a possible triplet, carried from one read to the next.
    state: RawState,
    /// Triplets received so far.
    negotiations: u32,
}

impl Default for RawFilter {
    fn default() -> Self {
        Self::new()
    }
}

impl RawFilter {
    /// A filter for a fresh connection.
    pub fn new() -> Self {
        Self {
            state: RawState::Data,
            negotiations: 0,
        }
    }

    /// The probe (IAC DO STATUS, IAC DO SNDLOC) that a telnet client will answer.
    pub fn start(&mut self) -> Vec<u8> {
        vec![IAC, DO, STATUS, IAC, DO, SNDLOC]
    }

    /// Appends the user data in `input` to `data`, dropping and counting triplets.
    pub fn receive(&mut self, input: &[u8], data: &mut Vec<u8>) {
        for &byte in input {
            match self.state {
                RawState::Data if byte == IAC => self.state = RawState::Iac,
                RawState::Data => data.push(byte),
                RawState::Iac if (WILL..=DONT).contains(&byte) => self.state = RawState::Verb,
                // Not a triplet after all: the IAC was data, and this byte may start one.
                RawState::Iac if byte == IAC => data.push(IAC),
                RawState::Iac => {
                    self.state = RawState::Data;
                    data.extend_from_slice(&[IAC, byte]);
                }
                RawState::Verb => {
                    self.state = RawState::Data;
                    self.negotiations = self.negotiations.saturating_add(1);
                }
            }
        }
    }

    /// How many telnet negotiation triplets the client has sent.
    pub fn negotiation_count(&self) -> u32 {
        self.negotiations
    }
}

#[cfg(test)]
pub(crate) mod tests;
