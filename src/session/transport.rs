//! What the session core asks of a front-end: turn the bytes it receives into input events,
//! and frame the bytes it is given for its wire.
//!
//! The session (`connection.rs`) owns the byte stream and reads and writes it in its own
//! task; a front-end adapter (`front::telnet`, `front::raw`, `front::web`, next ssh) is a value
//! of a type that implements [`Transport`], called in that same task: no extra task or copy
//! per message, and the session names no protocol. Adapters are sans-IO apart from
//! [`Transport::window_size`], which waits on sizes reported outside the byte stream.

use std::future::Future;

use crate::session::wizard::Hints;

/// Something the user's terminal sent, in the order it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// Terminal bytes (keys, pastes, answers to probes), in the client's charset.
    Data(&'a [u8]),
    /// The terminal's window size, as the client reported it in the stream.
    WindowSize {
        /// Width in columns, as sent.
        cols: u16,
        /// Height in rows, as sent.
        rows: u16,
    },
    /// The client's interrupt key outside the terminal bytes: the session treats it as CTRL-C.
    Interrupt,
    /// The client asked for a sign of life.
    AreYouThere,
}

/// A terminal the transport knows without asking, so the wizard is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownTerminal {
    /// A UTF-8 VT100 terminal that sends each key as it is pressed and lets the server echo
    /// (the browser's xterm.js, a client that asked for a pseudo-terminal).
    Vt100,
    /// No terminal at all (a pipe, a client that asked for no pseudo-terminal): UTF-8 lines
    /// ending in LF, echoed by nobody, shown without escape codes (teletype mode).
    Lines,
}

/// One way in, as the connection task sees it.
pub trait Transport {
    /// The wire doubles 0xFF (telnet's `IAC IAC`), so output must never be cut between the
    /// two bytes of a pair (the pacer's pieces).
    const DOUBLES_IAC: bool = false;
    /// The terminal is known without asking (the browser's xterm.js: UTF-8, VT100, CR for
    /// Enter, server echo), so the wizard has nothing to ask.
    const KNOWN_TERMINAL: bool = false;
    /// The adapter itself closes a connection that sends nothing in time (the web pump
    /// checks the first WebSocket message), so the session does not.
    const WATCHES_FIRST_INPUT: bool = false;

    /// The terminal, when the transport knows it without asking; by default a VT100
    /// terminal if [`Transport::KNOWN_TERMINAL`].
    fn known_terminal(&self) -> Option<KnownTerminal> {
        Self::KNOWN_TERMINAL.then_some(KnownTerminal::Vt100)
    }

    /// The nick the client asked for outside the byte stream (an ssh user name): the user
    /// takes it on entry as with `/nick`, with the same rules and the same answers.
    fn requested_nick(&self) -> Option<&str> {
        None
    }

    /// Who the client proved to be outside the byte stream (the fingerprint of an ssh key),
    /// if anyone: nicks it uses are claimed for it, and nicks claimed by others refused.
    fn identity(&self) -> Option<&str> {
        None
    }

    /// Appends the bytes the connection opens with (telnet's negotiation, the raw port's
    /// probe); `trace` switches on `--dbg` descriptions of the protocol.
    fn start(&mut self, trace: bool, out: &mut Vec<u8>);

    /// Turns `bytes` from the wire into input events, in order; protocol replies the client
    /// should get go straight to `out`.
    fn receive(&mut self, bytes: &[u8], out: &mut Vec<u8>, input: impl FnMut(Input<'_>));

    /// How many protocol negotiations the client sent so far: the wizard tells a telnet
    /// client on the raw port by them.
    fn negotiations(&self) -> u32 {
        0
    }

    /// What the protocol told about the terminal, for the wizard's default answers;
    /// `size_known` says whether a window size was reported.
    fn hints(&self, _size_known: bool) -> Option<Hints> {
        None
    }

    /// `--dbg` lines describing the protocol since the last call.
    fn take_trace(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// Appends terminal bytes to `out` as the wire carries them.
    fn frame(bytes: &[u8], out: &mut Vec<u8>);

    /// The window size reported outside the byte stream before the session started.
    fn first_window_size(&mut self) -> Option<(u16, u16)> {
        None
    }

    /// The next window size reported outside the byte stream (the newest wins); never, for a
    /// transport without them. Cancel-safe: the connection loop selects on it.
    fn window_size(&mut self) -> impl Future<Output = (u16, u16)> + Send {
        std::future::pending()
    }
}

/// Window sizes a transport learns outside its byte stream (the web page's control messages,
/// ssh's `pty-req` and `window-change`), sent through a `watch` channel; the newest one wins.
/// The two halves of [`Transport::first_window_size`] and [`Transport::window_size`] for such
/// transports.
#[derive(Debug)]
pub struct ReportedSizes(Option<tokio::sync::watch::Receiver<Option<(u16, u16)>>>);

impl ReportedSizes {
    /// Sizes from `receiver`.
    pub fn new(receiver: tokio::sync::watch::Receiver<Option<(u16, u16)>>) -> ReportedSizes {
        ReportedSizes(Some(receiver))
    }

    /// The size reported so far, if any.
    pub fn first(&mut self) -> Option<(u16, u16)> {
        self.0.as_mut().and_then(|sizes| *sizes.borrow_and_update())
    }

    /// The next size reported; never, once the sender is gone.
    pub async fn next(&mut self) -> (u16, u16) {
        if let Some(receiver) = &mut self.0 {
            while receiver.changed().await.is_ok() {
                if let Some(size) = *receiver.borrow_and_update() {
                    return size;
                }
            }
            self.0 = None;
        }
        std::future::pending().await
    }
}
