//! The telnet port's adapter for the session core: the codec of `front::telnet` turns the
//! wire's bytes into input events, answers negotiations and doubles IAC bytes in frames.

use crate::front::telnet::{TelnetCodec, TelnetEvent, escape_iac};

/// The telnet port's adapter for the session core: the codec turns the wire's bytes into
/// terminal bytes, NAWS window sizes, the interrupt key and AYT, answers negotiations itself,
/// and remembers the terminal type for the wizard; output has its IAC bytes doubled.
#[derive(Debug)]
pub struct Telnet {
    codec: TelnetCodec,
    /// r0c's `--linemode` opening instead of the usual one.
    linemode: bool,
    /// The terminal type the client reported (TTYPE), for the wizard's hints.
    terminal_type: Option<String>,
    /// For the log lines about protocol violations.
    peer: std::net::SocketAddr,
}

impl Telnet {
    /// The adapter of a connection that arrived on the telnet port.
    pub fn new(arrival: &crate::session::Arrival) -> Telnet {
        Telnet {
            codec: TelnetCodec::new(),
            linemode: arrival.linemode,
            terminal_type: None,
            peer: arrival.peer,
        }
    }
}

impl crate::session::Transport for Telnet {
    const DOUBLES_IAC: bool = true;

    fn start(&mut self, trace: bool, out: &mut Vec<u8>) {
        if self.linemode {
            out.extend(self.codec.start_linemode());
        } else {
            out.extend(self.codec.start());
        }
        self.codec.set_trace(trace);
    }

    fn receive(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<u8>,
        mut input: impl FnMut(crate::session::Input<'_>),
    ) {
        use crate::session::Input;
        let mut events = Vec::new();
        self.codec.receive(bytes, &mut events);
        out.extend(self.codec.take_replies());
        for event in events {
            match event {
                TelnetEvent::Data(data) => input(Input::Data(&data)),
                TelnetEvent::WindowSize { cols, rows } => input(Input::WindowSize { cols, rows }),
                TelnetEvent::AreYouThere => input(Input::AreYouThere),
                TelnetEvent::Interrupt => input(Input::Interrupt),
                TelnetEvent::TerminalType(name) => self.terminal_type = Some(name),
                TelnetEvent::Violation(what) => {
                    tracing::debug!(peer = %self.peer, what, "telnet protocol violation");
                }
            }
        }
    }

    fn negotiations(&self) -> u32 {
        self.codec.negotiation_count()
    }

    fn hints(&self, size_known: bool) -> Option<crate::session::wizard::Hints> {
        Some(crate::session::wizard::Hints::from_telnet(
            self.terminal_type.as_deref(),
            size_known,
            self.codec.we_echo(),
        ))
    }

    fn take_trace(&mut self) -> Vec<String> {
        self.codec.take_trace()
    }

    fn frame(bytes: &[u8], out: &mut Vec<u8>) {
        escape_iac(bytes, out);
    }
}

#[cfg(test)]
mod tests {
    use crate::front::telnet::tests::hex;

    #[test]
    fn the_telnet_adapter_turns_the_codec_into_input_events() {
        use crate::session::{Arrival, Input, Protocol, Transport};
        let mut telnet = super::Telnet::new(&Arrival::for_tests(Protocol::Telnet));
        let mut out = Vec::new();
        telnet.start(false, &mut out);
        assert_eq!(out, hex("FF FB 03 FF FB 01 FF FD 1F"));
        assert_eq!(telnet.hints(false).map(|hints| hints.vt100), Some(false));
        // The client agrees, offers its terminal type (asked for at once), reports its size,
        // types, interrupts and asks for a sign of life.
        let mut wire = hex("FF FD 03 FF FD 01 FF FB 1F FF FB 18 FF FA 1F 00 50 00 18 FF F0");
        wire.extend_from_slice(b"hi");
        wire.extend(hex("FF F4 FF F6 FF FA 18 00"));
        wire.extend_from_slice(b"xterm");
        wire.extend(hex("FF F0"));
        let mut out = Vec::new();
        let mut inputs = Vec::new();
        telnet.receive(&wire, &mut out, |input| {
            inputs.push(match input {
                Input::Data(bytes) => format!("data {}", String::from_utf8_lossy(bytes)),
                other => format!("{other:?}"),
            });
        });
        assert_eq!(
            out,
            hex("FF FD 18 FF FA 18 01 FF F0"),
            "the codec's replies go out"
        );
        assert_eq!(
            inputs,
            [
                "WindowSize { cols: 80, rows: 24 }",
                "data hi",
                "Interrupt",
                "AreYouThere"
            ]
        );
        assert_eq!(telnet.negotiations(), 6);
        // The terminal type and the agreed echo reach the wizard.
        let hints = telnet.hints(false).expect("telnet has hints");
        assert!(hints.vt100 && hints.server_echoes, "{hints:?}");
        let mut framed = Vec::new();
        super::Telnet::frame(&[b'a', 0xFF, b'b'], &mut framed);
        assert_eq!(framed, [b'a', 0xFF, 0xFF, b'b']);
    }
}
