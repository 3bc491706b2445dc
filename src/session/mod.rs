//! The per-connection task: socket I/O, protocol filtering, charset decoding and frame pacing.
//!
//! One task per client owns everything about it. It reads and writes in the same `select!`
//! loop, renders a frame only when its output has drained below a low watermark, and spaces
//! frames caused by other people's messages at least [`MIN_FRAME_INTERVAL`] apart (further with
//! thousands online), so a slow client skips straight to the newest screen and costs at most its
//! own small buffer.

pub mod flood;
pub mod pacing;
pub mod saved;
pub mod teletype;
pub mod terminal;
pub mod texts;
pub mod vt;
pub mod wizard;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::front::telnet::{RawFilter, TelnetCodec, TelnetEvent, escape_iac};
use crate::session::pacing::LinkPacer;
use crate::session::saved::SavedClient;
use crate::session::terminal::Flow;
use crate::session::terminal::Session;
use crate::session::wizard::{ClientSettings, Hints, Listener, Wizard, WizardAction};
use crate::term::charset::{Charset, Decoder, encode};
use crate::world::World;

/// Frames caused by other people's activity are at least this far apart.
pub const MIN_FRAME_INTERVAL: Duration = Duration::from_millis(50);
/// With many users online, frames are spaced so that all of them together need at most this
/// many frames per second: a frame costs about the same whatever it shows, mostly in the
/// kernel's send path, so past this the server would fall behind everyone instead of showing
/// each client several messages per frame.
const FRAMES_PER_SECOND_IN_ALL: u32 = 30_000;

/// How far apart frames caused by others are with `users` online.
fn frame_interval(users: usize) -> Duration {
    let users = u32::try_from(users).unwrap_or(u32::MAX);
    MIN_FRAME_INTERVAL.max(Duration::from_secs(1) * users / FRAMES_PER_SECOND_IN_ALL)
}

/// A new frame is rendered only while less than this much output waits to be sent.
const LOW_WATERMARK: usize = 16 * 1024;

/// A client whose unsent output grows past this has stopped reading; it is disconnected.
const MAX_PENDING_OUTPUT: usize = 256 * 1024;
/// SO_SNDBUF of client sockets (the kernel doubles it for its bookkeeping).
pub(crate) const KERNEL_SEND_BUFFER: usize = 64 * 1024;

/// How long a lone ESC waits for the rest of an escape sequence.
const ESCAPE_TIMEOUT: Duration = Duration::from_millis(100);

/// The status-bar clock ticks on UTC seconds divisible by this (r0c's 5-second tick).
const CLOCK_TICK_SECONDS: u64 = 5;

/// Slowmo clients get a chunk every this many milliseconds times their slowmo level.
const SLOWMO_TICK: Duration = Duration::from_millis(180);
/// A slowmo chunk ends at the first space or ESC after this many bytes...
const SLOWMO_SOFT_CHUNK: usize = 480;
/// ...or at this many.
const SLOWMO_MAX_CHUNK: usize = 510;

/// The first byte of a TLS connection (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// A TLS client must finish its handshake within this time.
pub(crate) const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client gets to receive its last frame when the server shuts down.
const FINAL_FLUSH: Duration = Duration::from_millis(200);

/// The most MOTD text shown.
const MAX_MOTD_BYTES: u64 = 64 * 1024;

/// Which kind of listener accepted the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Telnet: option negotiation, NAWS, `IAC IAC` escaping.
    Telnet,
    /// Raw TCP ("netcat"): bytes as they are, with a probe that reveals telnet clients.
    Raw,
    /// The browser terminal: terminal bytes in WebSocket frames, the size in control
    /// messages; a UTF-8 VT100 terminal whose answers the wizard needs not ask for.
    Web,
}

/// The protocol layer between the socket and the session.
enum Filter {
    Telnet(TelnetCodec),
    Raw(RawFilter),
    /// The WebSocket already separated terminal bytes from control messages.
    Transparent,
}

/// Where a connection came in, as the connection task needs to know it.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The client's address.
    pub peer: SocketAddr,
    /// Which listener accepted it.
    pub protocol: Protocol,
    /// The listener speaks TLS.
    pub tls: bool,
    /// The plain listener of the same protocol (for a plain client on a TLS port), 0 if none.
    pub sibling_plain_port: u16,
    /// The port of the other plain listener (telnet ↔ raw), 0 if disabled: the wizard's
    /// wrong-port hint names it.
    pub sibling_port: u16,
    /// The MOTD file appended to the welcome text.
    pub motd: Option<PathBuf>,
    /// How long the client may spend in the wizard (`--wizard-timeout`).
    pub wizard_timeout: Duration,
    /// How long a new connection may send nothing at all (`--first-input-timeout`).
    pub first_input_timeout: Duration,
    /// How long pending output may stay unread before the client is dropped
    /// (`--stall-timeout`).
    pub stall_timeout: Duration,
    /// Flood control of what the user says.
    pub flood: flood::FloodLimits,
    /// `--dev`: CTRL-C in the wizard from 127.0.0.1 shuts the server down.
    pub dev: bool,
    /// Relay addresses (`--proxy`): clients from there never reuse saved settings, since many
    /// people share the address.
    pub proxies: Vec<std::net::IpAddr>,
    /// `--linemode`: telnet clients get r0c's alternative opening negotiation, which asks
    /// them to buffer lines and echo locally.
    pub linemode: bool,
    /// Hexdumps, wire logs and `--dbg` lines, when any is on.
    pub diag: Option<Arc<crate::diag::Diag>>,
}

impl Arrival {
    /// The listener's name in saved client settings, as r0c names its config files.
    fn listener_name(&self) -> &'static str {
        match (self.protocol, self.tls) {
            (Protocol::Telnet, false) => "telnet",
            (Protocol::Raw, false) => "netcat",
            (Protocol::Telnet, true) => "tls-telnet",
            (Protocol::Raw, true) => "tls-netcat",
            (Protocol::Web, _) => "web",
        }
    }
}

/// Serves one client until it leaves, its connection breaks, or the server shuts down: first
/// the wizard, then the chat.
pub async fn serve(
    stream: TcpStream,
    arrival: Arrival,
    world: Arc<World>,
    shutdown: CancellationToken,
    tls: Option<TlsAcceptor>,
) {
    let peer = arrival.peer;
    // A fixed, modest kernel send buffer: what a client has not read yet is bounded in the
    // kernel as well as in `out`, and a client that stops reading is noticed soon (the
    // kernel would otherwise grow the buffer to megabytes). 64 KiB is still far more than a
    // terminal screen.
    if let Err(error) = socket2::SockRef::from(&stream).set_send_buffer_size(KERNEL_SEND_BUFFER) {
        tracing::debug!(%peer, %error, "could not set SO_SNDBUF");
    }
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "could not set TCP_NODELAY");
    }
    // The conversation is boxed: its future is the bulk of a client's memory, and boxed, a
    // plain client's task holds only the plain variant, not room for the TLS one as well.
    let Some(acceptor) = tls else {
        return Box::pin(converse(stream, arrival, world, shutdown, None)).await;
    };
    // A plain client on a TLS port gets a readable answer instead of a TLS alert.
    let mut first = [0u8; 1];
    let peeked = tokio::select! {
        peeked = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, stream.peek(&mut first)) => peeked,
        () = shutdown.cancelled() => return,
    };
    if !matches!(peeked, Ok(Ok(1))) {
        return;
    }
    if first[0] != TLS_HANDSHAKE_RECORD {
        let mut stream = stream;
        let hint = match arrival.sibling_plain_port {
            0 => "\r\nthis port speaks TLS; connect with a TLS client\r\n".to_string(),
            port => format!(
                "\r\nthis port speaks TLS; connect with a TLS client, or without TLS to port {port}\r\n"
            ),
        };
        let _ = tokio::time::timeout(FINAL_FLUSH, stream.write_all(hint.as_bytes())).await;
        tracing::info!(%peer, "plain client on a TLS port");
        return;
    }
    // The handshake runs here, in this client's own task, with a time limit: a slow or broken
    // TLS client never delays anyone else (r0c did it inside the accept handler).
    let handshake = tokio::select! {
        result = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => result,
        () = shutdown.cancelled() => return,
    };
    match handshake {
        Ok(Ok(stream)) => Box::pin(converse(stream, arrival, world, shutdown, None)).await,
        Ok(Err(error)) => tracing::info!(%peer, %error, "TLS handshake failed"),
        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
    }
}

/// Serves a browser terminal until it leaves: `stream` carries the terminal bytes of its
/// WebSocket, `sizes` the window sizes the page reports (the first one before the session
/// starts).
pub async fn serve_web<S>(
    stream: S,
    arrival: Arrival,
    world: Arc<World>,
    shutdown: CancellationToken,
    sizes: WindowSizes,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    Box::pin(converse(stream, arrival, world, shutdown, Some(sizes))).await;
}

/// The window size (columns, rows) reported outside the byte stream, as the browser page
/// does; the newest report wins.
pub type WindowSizes = tokio::sync::watch::Receiver<Option<(u16, u16)>>;

/// The next window size reported outside the byte stream; never, for a stream without them
/// or once their sender is gone.
async fn next_window_size(sizes: &mut Option<WindowSizes>) -> (u16, u16) {
    if let Some(receiver) = sizes {
        while receiver.changed().await.is_ok() {
            if let Some(size) = *receiver.borrow_and_update() {
                return size;
            }
        }
        *sizes = None;
    }
    std::future::pending().await
}

/// The next announcement for a connection in the wizard; never once it has left it (or if
/// the world is gone).
async fn next_broadcast(
    receiver: &mut Option<tokio::sync::broadcast::Receiver<Arc<str>>>,
) -> Arc<str> {
    use tokio::sync::broadcast::error::RecvError;
    if let Some(inner) = receiver {
        loop {
            match inner.recv().await {
                Ok(text) => return text,
                // A connection that fell behind misses the oldest; the newest still count.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            }
        }
        *receiver = None;
    }
    std::future::pending().await
}

/// The conversation with one client over any byte stream: the wizard, then the chat.
async fn converse<S>(
    stream: S,
    arrival: Arrival,
    world: Arc<World>,
    shutdown: CancellationToken,
    mut sizes: Option<WindowSizes>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let peer = arrival.peer;
    let protocol = arrival.protocol;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut out: Vec<u8> = Vec::new();
    // Hexdumps, wire logs and `--dbg` lines; `None` (one branch per read and write) unless
    // one of their flags is on.
    let wire = arrival.diag.as_ref().map(|diag| diag.connection(peer));
    let mut filter = match protocol {
        Protocol::Telnet => {
            let mut codec = TelnetCodec::new();
            if arrival.linemode {
                out.extend(codec.start_linemode());
            } else {
                out.extend(codec.start());
            }
            codec.set_trace(wire.as_ref().is_some_and(crate::diag::Wire::dbg));
            Filter::Telnet(codec)
        }
        Protocol::Raw => {
            let mut raw = RawFilter::new();
            out.extend(raw.start());
            Filter::Raw(raw)
        }
        Protocol::Web => Filter::Transparent,
    };
    let mut clients_gauge = ClientsGauge::new(&arrival, "wizard");
    let bytes_out = crate::metrics::bytes_out(arrival.listener_name());
    let frames_dropped = crate::metrics::frames_dropped();
    let mut in_wizard = WizardPresence::enter(&world);
    let mut reported_size: Option<(u16, u16)> = None;
    let address = crate::world::canonical_address(peer.ip());
    let saved = if arrival.proxies.contains(&peer.ip()) {
        None
    } else {
        let (store, listener, key) = (
            world.store().clone(),
            arrival.listener_name(),
            address.clone(),
        );
        tokio::task::spawn_blocking(move || store.client(listener, &key))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
            .and_then(|line| SavedClient::parse(&line))
    };
    // A browser terminal is known to be a UTF-8 VT100 terminal that sends CR for Enter and
    // lets the server echo, so the wizard has nothing to ask it.
    let mut wizard_done =
        (protocol == Protocol::Web).then(|| Wizard::known_terminal(saved.as_ref()));
    if let Some(sizes) = sizes.as_mut() {
        reported_size = *sizes.borrow_and_update();
    }
    // Announcements reach the wizard raw (there is no window yet); dropped once it is done.
    let mut wizard_broadcasts = Some(world.wizard_broadcasts());
    let mut wizard = Wizard::new(
        Listener {
            telnet: protocol == Protocol::Telnet,
            sibling_port: arrival.sibling_port,
        },
        saved,
    );
    // What was last saved for this client, so settings are written only when they change.
    let mut saved_record: Option<SavedClient> = None;
    let mut remembered: Option<ClientSettings> = None;
    if wizard_done.is_none() {
        send_bytes(protocol, &wizard.start(), &mut out);
    }
    // Until the wizard is done there is no user in the world; this handle is never woken.
    let wake = Arc::new(tokio::sync::Notify::new());
    let mut session: Option<Session> = None;
    // The user's place in the world, taken back however this task ends.
    let mut in_world = InWorld {
        world: world.clone(),
        user: None,
    };
    let mut terminal_type: Option<String> = None;
    let mut decoder = Decoder::new(Charset::Utf8);
    let mut wizard_deadline = Instant::now() + arrival.wizard_timeout;
    let outcome = {
        let mut state = LoopState {
            dirty: true,
            next_frame: Instant::now(),
            tick: next_clock_tick(CLOCK_TICK_SECONDS),
            escape_deadline: None,
            write_ready_at: Instant::now(),
            pacer: None,
            output_moved: Instant::now(),
            wake,
            protocol,
        };
        let first_input_deadline = Instant::now() + arrival.first_input_timeout;
        // A browser's first word is checked by the WebSocket pump (`net/web.rs`), which
        // closes a socket that sends no message in time; its terminal bytes may come later.
        let mut heard_anything = protocol == Protocol::Web;
        let timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(timer);
        // The session's history read in flight, run off the async workers (`crate::history`).
        let mut reading: Option<HistoryRead> = None;
        loop {
            if let Some(settings) = wizard_done.take() {
                let motd = read_motd(arrival.motd.as_deref()).await;
                let (mut chat, user_wake) =
                    start_chat(&world, peer, &settings, reported_size, motd.as_deref());
                chat.set_flood_limits(arrival.flood);
                decoder.set_charset(settings.charset);
                save_client(
                    &world,
                    &arrival,
                    &address,
                    &chat,
                    &settings,
                    &mut saved_record,
                );
                clients_gauge = ClientsGauge::new(&arrival, mode_name(&settings));
                remembered = Some(settings);
                state.wake = user_wake;
                in_world.user = Some(chat.user);
                session = Some(chat);
                in_wizard.leave();
                wizard_broadcasts = None;
                state.dirty = true;
                state.tick = next_clock_tick(CLOCK_TICK_SECONDS);
            }
            if out.len() > MAX_PENDING_OUTPUT {
                crate::metrics::client_dropped("output overflow");
                break End::Overflow;
            }
            if out.is_empty() {
                state.output_moved = Instant::now();
            }
            if state.pacer.is_none()
                && let Some(chat) = session.as_ref()
                && let Some(bps) = chat.paced_bps()
            {
                state.pacer = Some(LinkPacer::new(
                    bps,
                    chat.charset(),
                    protocol == Protocol::Telnet,
                    Instant::now().into_std(),
                ));
            }
            if reading.is_none()
                && let Some(read) = session.as_mut().and_then(Session::next_read)
            {
                reading = Some(Box::pin(crate::history::read(world.store().clone(), read)));
            }
            // A paced (slow) link gets a new frame only once the last one is out, so every
            // frame shows the newest state instead of queueing up behind the others.
            let room = state.room(&out);
            let can_render = state.dirty && session.is_some() && room;
            // Slowmo clients (Windows telnet.exe) get small chunks with pauses in between.
            let slowmo = session.as_ref().map_or(0, Session::slowmo);
            let write_len = if slowmo > 0 {
                slowmo_chunk(&out)
            } else if let Some(pacer) = state.pacer.as_mut() {
                let (len, retry) = pacer.write_len(&out, Instant::now().into_std());
                if let Some(retry) = retry {
                    state.write_ready_at = Instant::from_std(retry);
                }
                len
            } else {
                out.len()
            };
            let write_ready = Instant::now() >= state.write_ready_at;
            // Messages held back by flood control go out when their turn comes.
            let release_at = session
                .as_ref()
                .and_then(Session::next_release)
                .map(Instant::from_std);
            // The input line is drawn again over a terminal's echo of a probe's answer.
            let echo_cleanup_at = session
                .as_ref()
                .and_then(Session::echo_cleanup_at)
                .map(Instant::from_std);
            // One timer for every deadline in force: timers made anew on every turn of the
            // loop cost more than the frames themselves when thousands of clients are busy.
            let stall_deadline = state.output_moved + arrival.stall_timeout;
            // The clock tick is always due at some point, so there always is a deadline.
            let deadline = [
                can_render.then_some(state.next_frame),
                state.escape_deadline,
                session.is_none().then_some(wizard_deadline),
                release_at,
                echo_cleanup_at,
                (!heard_anything).then_some(first_input_deadline),
                (!out.is_empty()).then_some(stall_deadline),
                (!out.is_empty() && !write_ready).then_some(state.write_ready_at),
            ]
            .into_iter()
            .flatten()
            .fold(state.tick, Instant::min);
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            tokio::select! {
                // While a command waits for a load, the user's input waits too (in the socket).
                read = read_chunk(&mut reader), if session.as_ref().is_none_or(|chat| !chat.holds_input()) => {
                    let received = match read {
                        Ok(data) if data.is_empty() => break End::Closed,
                        Ok(data) => {
                            heard_anything = true;
                            data
                        }
                        Err(_) => break End::ReadError,
                    };
                    if let Some(wire) = &wire {
                        wire.received(&received);
                    }
                    let bytes = &received[..];
                    let mut text = String::new();
                    let mut sizes = Vec::new();
                    let mut answers = String::new();
                    let negotiations = match &mut filter {
                        Filter::Telnet(codec) => {
                            let mut events = Vec::new();
                            codec.receive(bytes, &mut events);
                            out.extend(codec.take_replies());
                            if let Some(wire) = &wire {
                                wire.debug(codec.take_trace());
                            }
                            for event in events {
                                match event {
                                    TelnetEvent::Data(data) => decoder.decode(&data, &mut text),
                                    TelnetEvent::WindowSize { cols, rows } => sizes.push((cols, rows)),
                                    TelnetEvent::AreYouThere => answers.push_str("\r\n[r0c: yes, still here]\r\n"),
                                    TelnetEvent::Interrupt => text.push('\x03'),
                                    TelnetEvent::TerminalType(name) => terminal_type = Some(name),
                                    TelnetEvent::Violation(what) => tracing::debug!(%peer, what, "telnet protocol violation"),
                                }
                            }
                            codec.negotiation_count()
                        }
                        Filter::Raw(raw) => {
                            let mut data = Vec::new();
                            raw.receive(bytes, &mut data);
                            decoder.decode(&data, &mut text);
                            raw.negotiation_count()
                        }
                        Filter::Transparent => {
                            decoder.decode(bytes, &mut text);
                            0
                        }
                    };
                    if let Some(wire) = wire.as_ref().filter(|w| w.dbg()) {
                        let who = session.as_ref().and_then(|chat| world.nick(chat.user));
                        let who = who.unwrap_or_else(|| peer.to_string());
                        wire.debug(sizes.iter().map(|(cols, rows)| format!("terminal sz:  {cols}x{rows}  @{who}")).collect());
                    }
                    let Some(chat) = session.as_mut() else {
                        reported_size = sizes.last().copied().or(reported_size);
                        if let Filter::Telnet(codec) = &filter {
                            wizard.set_hints(Hints::from_telnet(
                                terminal_type.as_deref(),
                                reported_size.is_some(),
                                codec.we_echo(),
                            ));
                        }
                        let mut finished = None;
                        let mut quit = false;
                        for action in wizard.feed(&text, negotiations) {
                            match action {
                                WizardAction::Send(bytes) => send_bytes(protocol, &bytes, &mut out),
                                WizardAction::Quit(bytes) => {
                                    send_bytes(protocol, &bytes, &mut out);
                                    quit = true;
                                }
                                WizardAction::Finish(settings) => finished = Some(settings),
                                WizardAction::Interrupted => {
                                send_bytes(protocol, b"ok bye\r\n", &mut out);
                                quit = true;
                                if arrival.dev && peer.ip() == std::net::IpAddr::from([127, 0, 0, 1]) {
                                    tracing::warn!(%peer, "CTRL-C in the wizard with --dev: shutting down");
                                    world.request_shutdown(Duration::ZERO);
                                }
                            }
                            WizardAction::KickAfter(delay) => {
                                    tracing::info!(%peer, "telnet scanner, kicked after {delay:?}");
                                    wizard_deadline = wizard_deadline.min(Instant::now() + delay);
                                }
                            }
                        }
                        if quit {
                            if let Some(wire) = &wire {
                                wire.sent(&out);
                            }
                            let _ = tokio::time::timeout(FINAL_FLUSH, writer.write_all(&out)).await;
                            break End::LeftWizard;
                        }
                        wizard_done = finished;
                        continue;
                    };
                    chat.push_output(&answers);
                    for (cols, rows) in sizes {
                        chat.window_size_reported(cols, rows);
                    }
                    if chat.handle_text(&text) == Flow::Quit {
                        break End::Quit;
                    }
                    if let Some(settings) = &remembered {
                        save_client(&world, &arrival, &address, chat, settings, &mut saved_record);
                    }
                    state.answer_input(chat, &mut out);
                }
                // While a frame is due anyway, more changes need no wake-up of their own: the
                // world stores one permit, and the frame takes it (`take_stored_wake`). A client
                // whose output is backed up still listens, to count the frames it misses.
                () = state.wake.notified(), if !state.dirty || !room => {
                    state.woken(session.is_some(), room, &frames_dropped);
                }
                text = next_broadcast(&mut wizard_broadcasts) => {
                    // r0c's raw form, for a screen the wizard draws: no window to put it in.
                    let raw = format!("\r\n [[ broadcast message ]]\r\n \x1b[31m{text}\x1b[0m\r\n");
                    send_bytes(protocol, raw.as_bytes(), &mut out);
                }
                (cols, rows) = next_window_size(&mut sizes) => match session.as_mut() {
                    Some(chat) => {
                        chat.window_size_known(cols, rows);
                        state.dirty = true;
                    }
                    None => reported_size = Some((cols, rows)),
                },
                () = timer.as_mut() => {
                    let now = Instant::now();
                    if session.is_none() && now >= wizard_deadline {
                        break End::WizardTimeout;
                    }
                    if !heard_anything && now >= first_input_deadline {
                        let line = format!(
                            "\r\nr0c: nothing received for {} seconds; closing the connection\r\n",
                            arrival.first_input_timeout.as_secs()
                        );
                        if let Some(wire) = &wire {
                            wire.sent(line.as_bytes());
                        }
                        let _ = tokio::time::timeout(FINAL_FLUSH, writer.write_all(line.as_bytes())).await;
                        break End::SentNothing;
                    }
                    if !out.is_empty() && now >= stall_deadline {
                        crate::metrics::client_dropped("stalled");
                        break End::Stalled;
                    }
                    state.timer_fired(now, session.as_mut(), release_at, echo_cleanup_at, &world, &mut out);
                    // A write that waited for its moment (pacing, slowmo) is tried again
                    // by the write branch, now that `write_ready` is computed anew.
                }
                written = writer.write(&out[..write_len]), if write_len > 0 && write_ready => {
                    match written {
                        Ok(0) | Err(_) => break End::WriteError,
                        Ok(n) => {
                            if let Some(wire) = &wire {
                                wire.sent(&out[..n]);
                            }
                            bytes_out.increment(n as u64);
                            state.wrote(n, &mut out, session.as_mut(), slowmo);
                        }
                    }
                }
                arrived = async {
                    match reading.as_mut() {
                        Some(read) => read.await,
                        None => std::future::pending().await,
                    }
                }, if reading.is_some() => {
                    reading = None;
                    if let Some(chat) = session.as_mut() {
                        if chat.read_arrived(arrived) == Flow::Quit {
                            break End::Quit;
                        }
                        // What the user waited for is shown at once, like an answer to a key.
                        state.answer_input(chat, &mut out);
                    }
                }
                () = shutdown.cancelled() => break End::Shutdown,
            }
        }
    };
    let Some(mut chat) = session else {
        tracing::info!(%peer, reason = outcome.as_str(), "client left during the wizard");
        return;
    };
    if outcome == End::Shutdown {
        // Show what happened last (a /sd or /bc announcement) before the connection closes.
        render_into(&mut chat, protocol, &mut out);
    }
    if matches!(outcome, End::Shutdown | End::Quit) {
        // An orderly end gives the terminal its whole screen back for the user's shell.
        encode_for_client(chat.farewell(), chat.charset(), protocol, &mut out);
        if let Some(wire) = &wire {
            wire.sent(&out);
        }
        let _ = tokio::time::timeout(FINAL_FLUSH, writer.write_all(&out)).await;
    }
    drop(clients_gauge);
    let announce = !shutdown.is_cancelled();
    in_world.leave(announce);
    tracing::info!(%peer, reason = outcome.as_str(), "client disconnected");
    if outcome == End::Quit {
        let _ = writer.shutdown().await;
    }
}

/// A history read of the session in flight (`crate::history::read`).
type HistoryRead =
    std::pin::Pin<Box<dyn std::future::Future<Output = crate::history::Arrived> + Send>>;

/// Why a connection ended; `as_str` is the reason the log lines give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client closed the connection.
    Closed,
    /// Reading from the connection failed.
    ReadError,
    /// Writing to the connection failed or wrote nothing.
    WriteError,
    /// The user quit the chat.
    Quit,
    /// The user quit in the wizard.
    LeftWizard,
    /// The wizard was not finished in time.
    WizardTimeout,
    /// The client sent nothing within the first-input timeout.
    SentNothing,
    /// The unsent output grew past `MAX_PENDING_OUTPUT`.
    Overflow,
    /// The unsent output did not move for the stall timeout.
    Stalled,
    /// The server is shutting down.
    Shutdown,
}

impl End {
    /// The reason as the log lines give it.
    fn as_str(self) -> &'static str {
        match self {
            End::Closed => "closed",
            End::ReadError | End::WriteError => "connection error",
            End::Quit => "quit",
            End::LeftWizard => "left the wizard",
            End::WizardTimeout => "wizard timeout",
            End::SentNothing => "sent nothing",
            End::Overflow => "stopped reading",
            End::Stalled => "stalled: stopped reading",
            End::Shutdown => "server shutdown",
        }
    }
}

/// The connection loop's mutable state besides the session: what is due when, and how output
/// goes out.
struct LoopState {
    /// The client's screen is behind what it shows, so a frame is due.
    dirty: bool,
    /// A frame caused by others is not rendered before this moment.
    next_frame: Instant,
    /// The clock in the status bar ticks at this moment.
    tick: Instant,
    /// A lone ESC becomes the Escape key at this moment.
    escape_deadline: Option<Instant>,
    /// A paced or slowmo write waits for this moment.
    write_ready_at: Instant,
    /// The link is measured as slow once this is set.
    pacer: Option<LinkPacer>,
    /// The client's pending output was last empty or moved at this moment: a client that
    /// stops reading is dropped `stall_timeout` after it.
    output_moved: Instant,
    /// This is woken when something the client shows changed; nothing wakes it in the wizard.
    wake: Arc<tokio::sync::Notify>,
    /// The connection's protocol, for encoding frames.
    protocol: Protocol,
}

impl LoopState {
    /// Whether the client's unsent output leaves room for a frame. A paced (slow) link gets a
    /// new frame only once the last one is out, so every frame shows the newest state instead
    /// of queueing up behind the others.
    fn room(&self, out: &[u8]) -> bool {
        match &self.pacer {
            Some(_) => out.is_empty(),
            None => out.len() < LOW_WATERMARK,
        }
    }

    /// The chat has handled the user's input; this answers it.
    fn answer_input(&mut self, chat: &mut Session, out: &mut Vec<u8>) {
        self.escape_deadline = chat
            .has_pending_escape()
            .then(|| Instant::now() + ESCAPE_TIMEOUT);
        // Answer the user's own keystrokes at once; pacing is for other people's messages. On
        // a paced link the echo overtakes a frame on its way.
        if let Some(pacer) = self.pacer.as_mut() {
            let cursor = chat.screen_cursor();
            let (echo, input_only) = chat.render_echo();
            let mut encoded = Vec::new();
            encode_for_client(&echo, chat.charset(), self.protocol, &mut encoded);
            if input_only {
                pacer.queue_echo(out, &encoded, cursor);
            } else {
                out.extend_from_slice(&encoded);
            }
            self.dirty = true;
        } else {
            take_stored_wake(&self.wake);
            render_into(chat, self.protocol, out);
        }
        // What the frame just rendered left out for the store (typically the line the user
        // just sent) shows once committed, and the commit wakes this task
        // (`World::wake_committed`). That frame still answers the user's input, like the one
        // just rendered, so it does not wait for the frame interval.
        if chat.waiting_for_store() {
            self.next_frame = Instant::now();
        }
        if self.pacer.is_none() {
            self.dirty = false;
        }
    }

    /// Something the client shows changed.
    fn woken(&mut self, chatting: bool, room: bool, frames_dropped: &metrics::Counter) {
        // A change that finds the previous one still waiting for the client to read its
        // output shares one frame with it: the frame between is dropped.
        if self.dirty && chatting && !room {
            frames_dropped.increment(1);
        }
        self.dirty = true;
    }

    /// The timer fired, and no deadline ended the connection: the clock, the escape key,
    /// held messages, the echo cleanup and the frame whose time has come.
    fn timer_fired(
        &mut self,
        now: Instant,
        mut session: Option<&mut Session>,
        release_at: Option<Instant>,
        echo_cleanup_at: Option<Instant>,
        world: &World,
        out: &mut Vec<u8>,
    ) {
        let room = self.room(out);
        if now >= self.tick {
            self.dirty = true;
            if let Some(chat) = session.as_deref_mut() {
                chat.clock_tick();
            }
            let every = session.as_deref().map_or(1, Session::ticks_per_refresh);
            self.tick = next_clock_tick(CLOCK_TICK_SECONDS * every);
        }
        if self.escape_deadline.is_some_and(|at| now >= at) {
            if let Some(chat) = session.as_deref_mut() {
                chat.flush_escape();
            }
            self.escape_deadline = None;
        }
        if release_at.is_some_and(|at| now >= at)
            && let Some(chat) = session.as_deref_mut()
        {
            chat.release_held();
        }
        if echo_cleanup_at.is_some_and(|at| now >= at)
            && let Some(chat) = session.as_deref_mut()
        {
            chat.clean_echo();
            self.dirty = true;
        }
        // Last, so the frame shows what the timers above changed.
        if self.dirty
            && room
            && now >= self.next_frame
            && let Some(chat) = session
        {
            self.dirty = false;
            take_stored_wake(&self.wake);
            self.next_frame = now + frame_interval(world.users_online());
            // Messages not yet on disk are not shown; their commit wakes this task.
            render_into(chat, self.protocol, out);
        }
    }

    /// `n` bytes of the client's output went out.
    fn wrote(&mut self, n: usize, out: &mut Vec<u8>, session: Option<&mut Session>, slowmo: u8) {
        out.drain(..n);
        if let Some(pacer) = self.pacer.as_mut() {
            pacer.wrote(n);
            if out.is_empty()
                && pacer.drained()
                && let Some(chat) = session
            {
                chat.after_overtaken_frame();
                self.dirty = true;
            }
        }
        if out.is_empty() && out.capacity() > IDLE_OUTPUT_CAPACITY {
            // An idle client keeps no room for the big frame it got once.
            *out = Vec::new();
        }
        self.output_moved = Instant::now();
        if slowmo > 0 {
            self.write_ready_at = Instant::now() + SLOWMO_TICK * u32::from(slowmo);
        }
    }
}

/// The wizard is done: the user enters the world, and the chat screen starts in the mode the
/// wizard found, with r0c's size and speed probe.
fn start_chat(
    world: &Arc<World>,
    peer: SocketAddr,
    settings: &ClientSettings,
    reported_size: Option<(u16, u16)>,
    motd: Option<&str>,
) -> (Session, Arc<tokio::sync::Notify>) {
    let welcome = texts::welcome(settings.charset.has_box_drawing(), motd);
    let (user, wake) = world.connect_with(
        peer,
        welcome,
        settings.nick.as_deref(),
        settings.avoid_nick.as_deref(),
    );
    if let Some(prefs) = &settings.prefs {
        world.update_prefs(user, |p| *p = prefs.clone());
    }
    let mut chat = Session::new(user, world.clone());
    chat.configure(settings);
    if let Some((cols, rows)) = reported_size {
        chat.window_size_known(cols, rows);
    }
    if settings.vt100 && !settings.linemode {
        chat.start_speed_test();
    } else {
        chat.probe_size();
    }
    if let Some(name) = &settings.join
        && let Ok(name) = crate::world::normalize_channel_name(name)
    {
        match world.begin_join(user, &name) {
            Ok(crate::world::JoinStep::Done(_)) => {}
            // Read by the connection loop off the async workers, then joined.
            Ok(crate::world::JoinStep::Load(load)) => chat.join_on_entry(load),
            Err(limit) => world.tell(user, crate::world::AUTHOR_ERROR, &limit.to_string()),
        }
    }
    tracing::info!(
        %peer,
        vt100 = settings.vt100,
        linemode = settings.linemode,
        echo = settings.echo,
        charset = settings.charset.name(),
        "wizard done"
    );
    (chat, wake)
}

/// How many bytes of `out` a slowmo client gets in one chunk: everything up to 510 bytes;
/// beyond, the chunk ends at the first space or ESC after byte 480, or at 510 bytes (r0c's
/// workaround for telnet.exe garbling packets larger than about 512 bytes).
fn slowmo_chunk(out: &[u8]) -> usize {
    if out.len() <= SLOWMO_MAX_CHUNK {
        return out.len();
    }
    out[SLOWMO_SOFT_CHUNK..SLOWMO_MAX_CHUNK]
        .iter()
        .position(|b| matches!(b, b' ' | 0x1b))
        .map_or(SLOWMO_MAX_CHUNK, |i| SLOWMO_SOFT_CHUNK + i.max(1))
}

/// Counts this connection among those still in the wizard (for `/status`) until it leaves it,
/// however the connection ends.
struct WizardPresence {
    world: Arc<World>,
    counted: bool,
}

impl WizardPresence {
    fn enter(world: &Arc<World>) -> WizardPresence {
        world.wizard_count(1);
        WizardPresence {
            world: world.clone(),
            counted: true,
        }
    }

    fn leave(&mut self) {
        if std::mem::take(&mut self.counted) {
            self.world.wizard_count(-1);
        }
    }
}

impl Drop for WizardPresence {
    fn drop(&mut self) {
        self.leave();
    }
}

/// The user's place in the world while its chat runs. An orderly end leaves with
/// [`InWorld::leave`]; a task that ends any other way (a panic unwinding through it) leaves
/// when this is dropped, so no ghost keeps its nick, its channels and its wake-ups.
struct InWorld {
    world: Arc<World>,
    user: Option<crate::world::UserId>,
}

impl InWorld {
    fn leave(&mut self, announce: bool) {
        if let Some(user) = self.user.take() {
            self.world.disconnect(user, announce);
        }
    }
}

impl Drop for InWorld {
    fn drop(&mut self) {
        self.leave(true);
    }
}

/// How the clients gauge names a session's mode.
fn mode_name(settings: &ClientSettings) -> &'static str {
    match (settings.vt100, settings.linemode) {
        (false, _) => "teletype",
        (true, true) => "vt100-linemode",
        (true, false) => "vt100",
    }
}

/// Counts this connection in the clients gauge under its listener and mode while it lives.
struct ClientsGauge(metrics::Gauge);

impl ClientsGauge {
    fn new(arrival: &Arrival, mode: &'static str) -> ClientsGauge {
        let gauge = crate::metrics::clients(arrival.listener_name(), mode);
        gauge.increment(1.0);
        ClientsGauge(gauge)
    }
}

impl Drop for ClientsGauge {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Saves what the wizard found and the user's nick and toggles, when they changed.
fn save_client(
    world: &World,
    arrival: &Arrival,
    address: &str,
    chat: &Session,
    settings: &ClientSettings,
    saved: &mut Option<SavedClient>,
) {
    let (Some(nick), Some(prefs)) = (world.nick(chat.user), world.prefs(chat.user)) else {
        return;
    };
    let settings = ClientSettings {
        slowmo: chat.slowmo() > 0,
        ..settings.clone()
    };
    let record = SavedClient {
        nick,
        settings,
        prefs,
    };
    // This runs after every keystroke: compare first, format and write only on a change.
    if saved.as_ref() != Some(&record) {
        let line = record.to_line(crate::world::now_micros());
        world
            .store()
            .save_client(arrival.listener_name(), address, &line);
        *saved = Some(record);
    }
}

/// Queues wizard bytes for the client, escaping IAC on the telnet port.
fn send_bytes(protocol: Protocol, bytes: &[u8], out: &mut Vec<u8>) {
    match protocol {
        Protocol::Telnet => escape_iac(bytes, out),
        Protocol::Raw | Protocol::Web => out.extend_from_slice(bytes),
    }
}

/// The next moment the UTC clock's seconds are divisible by `seconds`.
fn next_clock_tick(seconds: u64) -> Instant {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let period = Duration::from_secs(seconds.max(1));
    let into = Duration::from_nanos((since_epoch.as_nanos() % period.as_nanos()) as u64);
    Instant::now() + (period - into)
}

/// The most one read takes from a client.
const READ_CHUNK: usize = 4096;
/// Output buffer capacity an idle client may keep.
const IDLE_OUTPUT_CAPACITY: usize = 512;

thread_local! {
    /// One read buffer per runtime thread instead of one per client: a read copies out only
    /// the bytes that arrived, so an idle client holds no read buffer at all.
    static READ_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads what has arrived (at most [`READ_CHUNK`] bytes) into a vector of just that size;
/// an empty one at the end of the stream. Cancel-safe, like `read`.
fn read_chunk<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> impl Future<Output = std::io::Result<Vec<u8>>> + '_ {
    std::future::poll_fn(move |cx| {
        READ_SCRATCH.with_borrow_mut(|scratch| {
            scratch.resize(READ_CHUNK, 0);
            let mut buf = tokio::io::ReadBuf::new(&mut scratch[..]);
            match std::pin::Pin::new(&mut *reader).poll_read(cx, &mut buf) {
                std::task::Poll::Ready(Ok(())) => std::task::Poll::Ready(Ok(buf.filled().to_vec())),
                std::task::Poll::Ready(Err(error)) => std::task::Poll::Ready(Err(error)),
                std::task::Poll::Pending => std::task::Poll::Pending,
            }
        })
    })
}

/// Takes the wake-up permit that changes stored while a frame was already due, so the frame
/// about to be rendered (which shows them) is not followed by an empty one.
fn take_stored_wake(wake: &tokio::sync::Notify) {
    let notified = std::pin::pin!(wake.notified());
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    let _ = notified.poll(&mut context);
}

/// Renders a frame and appends it to `out`, encoded for the client.
fn render_into(session: &mut Session, protocol: Protocol, out: &mut Vec<u8>) {
    let frame = session.render();
    encode_for_client(&frame, session.charset(), protocol, out);
}

/// Appends `text` to `out` in the client's charset, telnet-escaped on the telnet port.
fn encode_for_client(text: &str, charset: Charset, protocol: Protocol, out: &mut Vec<u8>) {
    if text.is_empty() {
        return;
    }
    let mut encoded = Vec::with_capacity(text.len());
    encode(charset, text, &mut encoded);
    match protocol {
        Protocol::Telnet => escape_iac(&encoded, out),
        Protocol::Raw | Protocol::Web => out.extend_from_slice(&encoded),
    }
}

/// Reads the MOTD file, if one is configured; a missing or unreadable file shows nothing.
async fn read_motd(path: Option<&std::path::Path>) -> Option<String> {
    let path = path?;
    let file = tokio::fs::File::open(path).await.ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_MOTD_BYTES)
        .read_to_end(&mut bytes)
        .await
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).replace('\r', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_reasons_keep_their_log_strings() {
        let reasons = [
            (End::Closed, "closed"),
            (End::ReadError, "connection error"),
            (End::WriteError, "connection error"),
            (End::Quit, "quit"),
            (End::LeftWizard, "left the wizard"),
            (End::WizardTimeout, "wizard timeout"),
            (End::SentNothing, "sent nothing"),
            (End::Overflow, "stopped reading"),
            (End::Stalled, "stalled: stopped reading"),
            (End::Shutdown, "server shutdown"),
        ];
        for (end, text) in reasons {
            assert_eq!(end.as_str(), text, "{end:?}");
        }
    }

    #[test]
    fn slowmo_chunks() {
        assert_eq!(slowmo_chunk(&[b'x'; 300]), 300);
        assert_eq!(slowmo_chunk(&[b'x'; 510]), 510);
        assert_eq!(slowmo_chunk(&[b'x'; 2000]), 510);
        let mut spaced = vec![b'x'; 2000];
        spaced[490] = b' ';
        assert_eq!(slowmo_chunk(&spaced), 490);
        spaced[485] = 0x1b;
        assert_eq!(slowmo_chunk(&spaced), 485);
    }

    #[test]
    fn a_task_that_panics_takes_its_user_out_of_the_world() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(crate::store::Store::open(&dir.path().join("r0c.db")).expect("store"));
        let settings = crate::world::WorldSettings {
            max_windows_per_user: crate::world::DEFAULT_MAX_WINDOWS_PER_USER,
            max_channels: crate::world::DEFAULT_MAX_CHANNELS,
            nick_salt: "lammo/".into(),
            hist_rd: 100,
            hist_mem: 1000,
            hist_tsz: 100,
            password: "pw".into(),
            admin_requires_auth: false,
            no_all: false,
        };
        let world = Arc::new(World::new(settings, store, CancellationToken::new()));
        let (user, _) = world.connect(std::net::IpAddr::from([127, 0, 0, 1]), "hi".into());
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _in_world = InWorld {
                world: world.clone(),
                user: Some(user),
            };
            panic!("a bug in the chat");
        }));
        assert!(unwound.is_err());
        assert_eq!(world.nick(user), None);
        assert_eq!(world.users_online(), 0);
        // The orderly end leaves once; the guard's drop then has nothing left to do.
        let (user, _) = world.connect(std::net::IpAddr::from([127, 0, 0, 1]), "hi".into());
        let mut in_world = InWorld {
            world: world.clone(),
            user: Some(user),
        };
        in_world.leave(false);
        assert_eq!(world.users_online(), 0);
        drop(in_world);
        assert_eq!(world.users_online(), 0);
    }

    #[test]
    fn frames_space_out_only_with_thousands_online() {
        assert_eq!(frame_interval(0), MIN_FRAME_INTERVAL);
        assert_eq!(frame_interval(600), MIN_FRAME_INTERVAL);
        assert_eq!(frame_interval(1_500), MIN_FRAME_INTERVAL);
        assert_eq!(frame_interval(3_000), Duration::from_millis(100));
        assert!(frame_interval(usize::MAX) > Duration::from_secs(60));
    }
}
