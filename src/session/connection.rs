//! The per-connection state machine: `Wizard -> Chat -> Ended`, over any byte stream and any
//! [`Transport`].
//!
//! One task per client owns everything about it. [`converse`] runs the wizard phase
//! (`wizard_phase`, which returns the client's settings or how the connection ended), then
//! the chat phase (`chat_phase`, whose select arms are the named methods of `LoopState`),
//! and ends with an `End`. The chat reads and writes in the same `select!` loop, renders a
//! frame only when its output has drained below a low watermark, and spaces frames caused by
//! other people's messages at least [`MIN_FRAME_INTERVAL`] apart (further with hundreds
//! busy: [`frame_interval`]), so a slow client skips straight to the newest screen and costs
//! at most its own small buffer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::session::pacing::LinkPacer;
use crate::session::saved::SavedClient;
use crate::session::settings::ClientSettings;
use crate::session::terminal::Flow;
use crate::session::terminal::Session;
use crate::session::transport::{Input, KnownTerminal, Transport};
use crate::session::vt::clock_offset;
use crate::session::wizard::{Listener, Wizard, WizardAction};
use crate::session::{Arrival, texts};
use crate::term::charset::{Charset, Decoder, encode};
use crate::world::World;

/// Frames caused by other people's activity are at least this far apart.
pub const MIN_FRAME_INTERVAL: Duration = Duration::from_millis(50);
/// With many busy clients, frames are spaced so that all of them together need at most this
/// many frames per second, up to [`MAX_BUDGET_INTERVAL`] apart: a frame costs about the same
/// whatever it shows (a `send()`, a wake-up, a view, a render), so in a busy channel a frame
/// that carries more messages costs less per message; 7,500 frames of ~15 µs are about a
/// tenth of a core.
const FRAMES_PER_SECOND_BUDGET: u32 = 7_500;
/// The furthest apart [`FRAMES_PER_SECOND_BUDGET`] spaces frames: a message waits at most
/// this long for the next frame, which keeps deliveries' 99th percentile under 100 ms.
const MAX_BUDGET_INTERVAL: Duration = Duration::from_millis(80);
/// Past this many frames per second in all the server would fall behind everyone instead of
/// showing each client several messages per frame (mostly in the kernel's send path), so with
/// thousands of busy clients frames are spaced further than [`MAX_BUDGET_INTERVAL`].
const FRAMES_PER_SECOND_IN_ALL: u32 = 30_000;

/// How far apart frames caused by others are with `busy` clients getting such frames.
fn frame_interval(busy: usize) -> Duration {
    let busy = u32::try_from(busy).unwrap_or(u32::MAX);
    let budget =
        (Duration::from_secs(1) * busy / FRAMES_PER_SECOND_BUDGET).min(MAX_BUDGET_INTERVAL);
    let ceiling = Duration::from_secs(1) * busy / FRAMES_PER_SECOND_IN_ALL;
    MIN_FRAME_INTERVAL.max(budget).max(ceiling)
}

/// How long a client that got a frame caused by others at `now` waits for the next one:
/// counts it busy for this second (`marked` is the last second it was counted in) and spaces
/// frames by the busy clients of every listener ([`frame_interval`]). The IRC listener's syncs
/// are paced by it too: a sync costs what a frame costs, a wake-up and a `send()`.
pub fn busy_frame_interval(now: Instant, marked: &mut u64) -> Duration {
    let second = busy_second(now);
    BUSY.mark(second, marked);
    frame_interval(BUSY.count(second))
}

/// How many clients got a frame caused by others' activity, second by second: the count that
/// spaces frames out ([`frame_interval`]). It counts busy clients, not all those online: an
/// idle client (nothing happens where it is but its clock) costs no such frames, and with
/// 18,000 idle clients online the 1,000 chatting ones would otherwise wait 600 ms a frame.
/// Approximate by design (relaxed atomics, a second's boundary may lose a few marks): it only
/// paces frames.
struct BusyClients {
    /// The second (since [`BUSY_EPOCH`]) that `current` counts.
    second: std::sync::atomic::AtomicU64,
    current: std::sync::atomic::AtomicUsize,
    /// The count of the second before `second` (0 if nobody was busy then).
    previous: std::sync::atomic::AtomicUsize,
}

impl BusyClients {
    const fn new() -> BusyClients {
        BusyClients {
            second: std::sync::atomic::AtomicU64::new(0),
            current: std::sync::atomic::AtomicUsize::new(0),
            previous: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Moves the count on to `second`, if it is a later one.
    fn roll(&self, second: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let counted = self.second.load(Relaxed);
        if second > counted
            && self
                .second
                .compare_exchange(counted, second, Relaxed, Relaxed)
                .is_ok()
        {
            let last = self.current.swap(0, Relaxed);
            let previous = if second == counted.saturating_add(1) {
                last
            } else {
                0
            };
            self.previous.store(previous, Relaxed);
        }
    }

    /// A client got a frame caused by others in `second`; `marked` is the last second it was
    /// counted in, so it counts once a second.
    fn mark(&self, second: u64, marked: &mut u64) {
        if *marked == second {
            return;
        }
        *marked = second;
        self.roll(second);
        self.current
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The busy clients of the last whole second, or of this one if more already.
    fn count(&self, second: u64) -> usize {
        use std::sync::atomic::Ordering::Relaxed;
        self.roll(second);
        self.previous.load(Relaxed).max(self.current.load(Relaxed))
    }
}

/// The server's busy clients (all listeners share the kernel and the cores).
static BUSY: BusyClients = BusyClients::new();

/// Where [`BusyClients`]' seconds count from.
static BUSY_EPOCH: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

/// The second since [`BUSY_EPOCH`] that `now` is in (1 and on, so 0 means "never").
fn busy_second(now: Instant) -> u64 {
    now.saturating_duration_since(*BUSY_EPOCH)
        .as_secs()
        .saturating_add(1)
}

/// A new frame is rendered only while less than this much output waits to be sent.
const LOW_WATERMARK: usize = 16 * 1024;

/// A client whose unsent output grows past this has stopped reading; it is disconnected.
const MAX_PENDING_OUTPUT: usize = 256 * 1024;

/// How long a lone ESC waits for the rest of an escape sequence.
const ESCAPE_TIMEOUT: Duration = Duration::from_millis(100);

/// The status-bar clock ticks on UTC seconds divisible by this (r0c's 5-second tick), each
/// client at its own offset after them ([`clock_offset`]).
const CLOCK_TICK_SECONDS: u64 = 5;

/// Slowmo clients get a chunk every this many milliseconds times their slowmo level.
const SLOWMO_TICK: Duration = Duration::from_millis(180);
/// A slowmo chunk ends at the first space or ESC after this many bytes...
const SLOWMO_SOFT_CHUNK: usize = 480;
/// ...or at this many.
const SLOWMO_MAX_CHUNK: usize = 510;

/// How long a client gets to receive its last frame when the server shuts down.
const FINAL_FLUSH: Duration = Duration::from_millis(200);

/// The most MOTD text shown.
const MAX_MOTD_BYTES: u64 = 64 * 1024;

/// How output bytes are put on the wire ([`Transport::frame`]): telnet doubles IAC.
type Frame = fn(&[u8], &mut Vec<u8>);

/// The next announcement for a connection in the wizard; never once the world is gone.
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

/// The connection's byte stream and what both phases share: the transport, the unsent
/// output, the charset decoder and the first-input deadline.
struct Link<S, T> {
    reader: ReadHalf<S>,
    writer: WriteHalf<S>,
    transport: T,
    /// Output not yet written, already framed for the wire.
    out: Vec<u8>,
    /// Hexdumps, wire logs and `--dbg` lines; `None` (one branch per read and write) unless
    /// one of their flags is on.
    wire: Option<crate::diag::Wire>,
    decoder: Decoder,
    bytes_out: metrics::Counter,
    /// Something arrived (or the transport watches the first input itself).
    heard_anything: bool,
    /// A client that has sent nothing by then is closed.
    first_input_deadline: Instant,
    /// The newest window size the client reported.
    size: Option<(u16, u16)>,
    /// The pending output was last empty or moved at this moment (the chat's
    /// [`LoopState::output_moved`] takes over from it).
    output_moved: Instant,
}

/// What one read brought, once the transport and the charset decoder had it.
#[derive(Default)]
struct Received {
    /// The typed text, decoded.
    text: String,
    /// Window sizes reported in the stream, in order.
    sizes: Vec<(u16, u16)>,
    /// Signs of life asked for (telnet AYT), to be shown.
    answers: String,
    /// The transport's negotiation count after this read.
    negotiations: u32,
}

impl<S, T> Link<S, T>
where
    S: AsyncRead + AsyncWrite,
    T: Transport,
{
    fn new(stream: S, mut transport: T, arrival: &Arrival) -> Link<S, T> {
        let (reader, writer) = tokio::io::split(stream);
        let wire = arrival
            .diag
            .as_ref()
            .map(|diag| diag.connection(arrival.peer));
        let mut out = Vec::new();
        transport.start(wire.as_ref().is_some_and(crate::diag::Wire::dbg), &mut out);
        let size = transport.first_window_size();
        Link {
            reader,
            writer,
            transport,
            out,
            wire,
            decoder: Decoder::new(Charset::Utf8),
            bytes_out: crate::metrics::bytes_out(arrival.listener_name()),
            heard_anything: T::WATCHES_FIRST_INPUT,
            first_input_deadline: Instant::now() + arrival.first_input_timeout,
            size,
            output_moved: Instant::now(),
        }
    }

    /// Hands what the client sent to the transport and decodes the terminal bytes.
    fn receive(&mut self, bytes: &[u8]) -> Received {
        self.heard_anything = true;
        if let Some(wire) = &self.wire {
            wire.received(bytes);
        }
        let mut received = Received::default();
        let decoder = &mut self.decoder;
        self.transport
            .receive(bytes, &mut self.out, |input| match input {
                Input::Data(data) => decoder.decode(data, &mut received.text),
                Input::WindowSize { cols, rows } => received.sizes.push((cols, rows)),
                Input::AreYouThere => received.answers.push_str("\r\n[r0c: yes, still here]\r\n"),
                Input::Interrupt => received.text.push('\x03'),
            });
        if let Some(wire) = &self.wire {
            wire.debug(self.transport.take_trace());
        }
        received.negotiations = self.transport.negotiations();
        received
    }

    /// `--dbg`: the window sizes the client reported, with its nick or address.
    fn trace_sizes(&self, sizes: &[(u16, u16)], who: impl FnOnce() -> String) {
        if let Some(wire) = self.wire.as_ref().filter(|w| w.dbg()) {
            let who = who();
            wire.debug(
                sizes
                    .iter()
                    .map(|(cols, rows)| format!("terminal sz:  {cols}x{rows}  @{who}"))
                    .collect(),
            );
        }
    }

    /// Counts and logs `n` bytes of `out` that went out (the caller drains them).
    fn sent(&self, n: usize) {
        if let Some(wire) = &self.wire {
            wire.sent(&self.out[..n]);
        }
        self.bytes_out.increment(n as u64);
    }

    /// Writes what is pending, giving the client a moment to take it, before the connection
    /// closes.
    async fn flush_last(&mut self) {
        if let Some(wire) = &self.wire {
            wire.sent(&self.out);
        }
        let _ = tokio::time::timeout(FINAL_FLUSH, self.writer.write_all(&self.out)).await;
    }

    /// The end for a client that sent nothing by its first-input deadline, after telling it.
    async fn sent_nothing(&mut self, now: Instant, timeout: Duration) -> Option<End> {
        if self.heard_anything || now < self.first_input_deadline {
            return None;
        }
        let line = format!(
            "\r\nr0c: nothing received for {} seconds; closing the connection\r\n",
            timeout.as_secs()
        );
        if let Some(wire) = &self.wire {
            wire.sent(line.as_bytes());
        }
        let _ = tokio::time::timeout(FINAL_FLUSH, self.writer.write_all(line.as_bytes())).await;
        Some(End::SentNothing)
    }
}

/// The longest nick request passed on to `/nick` (its own limit is far shorter; this only
/// keeps a silly one from being copied around).
const MAX_REQUESTED_NICK: usize = 64;

/// The conversation with one client over any byte stream, whatever the transport: the
/// wizard, then the chat, then the end (logged as "client disconnected", or "client left
/// during the wizard").
pub async fn converse<S, T>(
    stream: S,
    transport: T,
    arrival: Arrival,
    world: Arc<World>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite,
    T: Transport,
{
    let peer = arrival.peer;
    let mut link = Link::new(stream, transport, &arrival);
    let wizard_gauge = ClientsGauge::new(&arrival, "wizard");
    let mut in_wizard = WizardPresence::enter(&world);
    // Settings are saved per listener and address; a client that proved who it is (an ssh
    // key) has them saved under that identity instead, so they follow the key, not the
    // machine.
    let address = link
        .transport
        .identity()
        .map_or_else(|| crate::world::canonical_address(peer.ip()), str::to_owned);
    // The wizard's state is boxed and gone once the wizard is over: inline, the conversation's
    // future would keep room for it (the largest of its parts) for as long as the client stays.
    let wizard = Box::pin(wizard_phase(
        &mut link, &arrival, &address, &world, &shutdown,
    ));
    let settings = match wizard.await {
        Ok(settings) => settings,
        Err(end) => {
            tracing::info!(%peer, reason = end.as_str(), "client left during the wizard");
            return;
        }
    };
    // The wizard is done: the user enters the world.
    // Boxed for the same reason: it is awaited once.
    let motd = Box::pin(read_motd(arrival.motd.as_deref())).await;
    let identity = link.transport.identity().map(str::to_owned);
    let (mut chat, wake) = start_chat(
        &world,
        peer,
        &settings,
        link.size,
        motd.as_deref(),
        identity.as_deref(),
    );
    chat.set_flood_limits(arrival.flood);
    chat.use_r0c_push(arrival.protocol == crate::session::Protocol::Raw);
    let encrypted = arrival.tls || arrival.protocol == crate::session::Protocol::Ssh;
    chat.set_password_in_the_clear(crate::password::sent_in_the_clear(encrypted, peer.ip()));
    // A key attached to an account logs its owner in, with the account's nick.
    let by_key = identity.is_some() && world.log_in_by_key(chat.user);
    if !by_key
        && let Some(saved) = settings.nick.as_deref()
        && world.nick(chat.user).as_deref() != Some(saved)
    {
        // The saved nick is someone's account now: a numbered variant, and why.
        world.keep_off_registered(chat.user, saved);
    }
    if let Some(nick) = link.transport.requested_nick().filter(|_| !by_key) {
        // Taken as `/nick` takes it, so the rules and the answers (a notice saying why the
        // automatic nick stays) are the same.
        let nick: String = nick.chars().take(MAX_REQUESTED_NICK).collect();
        if world.nick(chat.user).as_deref() != Some(nick.as_str())
            && !world.keep_off_registered(chat.user, &nick)
        {
            let _ = chat.execute(&format!("/nick {nick}"));
            if world.nick_claimed_against(&nick, identity.as_deref()) {
                // As the issue asks (and as ssh-chat and devzat users expect when a name is
                // in use): the nick asked for with a number, the first one free.
                world.take_suffixed_nick(
                    chat.user,
                    &nick,
                    &format!("{nick} belongs to another ssh key"),
                );
            }
        }
    }
    link.decoder.set_charset(settings.charset);
    // What was last saved for this client, so settings are written only when they change.
    let mut saved_record: Option<SavedClient> = None;
    save_client(
        &world,
        &arrival,
        &address,
        &chat,
        &settings,
        &mut saved_record,
    );
    let clients_gauge = ClientsGauge::new(&arrival, mode_name(&settings));
    drop(wizard_gauge);
    // The user's place in the world, taken back however this task ends.
    let mut in_world = InWorld {
        world: world.clone(),
        user: Some(chat.user),
    };
    in_wizard.leave();
    let mut state = LoopState {
        dirty: true,
        clock_only: false,
        next_frame: Instant::now(),
        tick: next_clock_tick(CLOCK_TICK_SECONDS, clock_offset(chat.user)),
        clock_offset: clock_offset(chat.user),
        escape_deadline: None,
        write_ready_at: Instant::now(),
        pacer: None,
        output_moved: link.output_moved,
        wake,
        frame: T::frame,
        woken_by_others: false,
        busy_marked: 0,
    };
    let saving = Saving {
        address: &address,
        settings: &settings,
        record: &mut saved_record,
    };
    let outcome = chat_phase(
        &mut link, &mut chat, &mut state, saving, &arrival, &world, &shutdown,
    )
    .await;
    if matches!(outcome, End::Shutdown | End::Ejected) {
        // Show what happened last (a /sd or /bc announcement, the ban's reason) before the
        // connection closes.
        render_into(&mut chat, T::frame, &mut link.out);
    }
    if matches!(outcome, End::Shutdown | End::Quit | End::Ejected) {
        // An orderly end gives the terminal its whole screen back for the user's shell.
        encode_for_client(chat.farewell(), chat.charset(), T::frame, &mut link.out);
        link.flush_last().await;
    }
    drop(clients_gauge);
    let announce = !shutdown.is_cancelled();
    in_world.leave(announce);
    tracing::info!(%peer, reason = outcome.as_str(), "client disconnected");
    if matches!(outcome, End::Quit | End::Ejected) {
        let _ = link.writer.shutdown().await;
    }
}

/// The wizard phase: r0c's screens until the client's settings are known, or how the
/// connection ended before that. A transport that knows its terminal skips the questions.
async fn wizard_phase<S, T>(
    link: &mut Link<S, T>,
    arrival: &Arrival,
    address: &str,
    world: &World,
    shutdown: &CancellationToken,
) -> Result<ClientSettings, End>
where
    S: AsyncRead + AsyncWrite,
    T: Transport,
{
    let peer = arrival.peer;
    let saved = if arrival.proxies.contains(&peer.ip()) {
        None
    } else {
        let (store, listener, key) = (
            world.store().clone(),
            arrival.listener_name(),
            address.to_owned(),
        );
        tokio::task::spawn_blocking(move || store.client(listener, &key))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
            .and_then(|line| SavedClient::parse(&line))
    };
    if let Some(known) = link.transport.known_terminal() {
        let mut settings = Wizard::known_terminal(saved.as_ref());
        if known == KnownTerminal::Lines {
            settings.vt100 = false;
            settings.echo = true;
            settings.enter = "\n".into();
        }
        return Ok(settings);
    }
    // Announcements reach the wizard raw (there is no window yet).
    let mut broadcasts = Some(world.wizard_broadcasts());
    let mut wizard = Wizard::new(
        Listener {
            telnet: arrival.protocol == crate::session::Protocol::Telnet,
            sibling_port: arrival.sibling_port,
        },
        saved,
    );
    T::frame(&wizard.start(), &mut link.out);
    let mut wizard_deadline = Instant::now() + arrival.wizard_timeout;
    let timer = tokio::time::sleep_until(Instant::now());
    tokio::pin!(timer);
    loop {
        if link.out.len() > MAX_PENDING_OUTPUT {
            crate::metrics::client_dropped("output overflow");
            return Err(End::Overflow);
        }
        if link.out.is_empty() {
            link.output_moved = Instant::now();
        }
        let stall_deadline = link.output_moved + arrival.stall_timeout;
        let deadline = [
            (!link.heard_anything).then_some(link.first_input_deadline),
            (!link.out.is_empty()).then_some(stall_deadline),
        ]
        .into_iter()
        .flatten()
        .fold(wizard_deadline, Instant::min);
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        let write_len = link.out.len();
        tokio::select! {
            read = read_chunk(&mut link.reader) => {
                let received = match read {
                    Ok(data) if data.is_empty() => return Err(End::Closed),
                    Ok(data) => link.receive(&data),
                    Err(_) => return Err(End::ReadError),
                };
                link.trace_sizes(&received.sizes, || peer.to_string());
                link.size = received.sizes.last().copied().or(link.size);
                if let Some(hints) = link.transport.hints(link.size.is_some()) {
                    wizard.set_hints(hints);
                }
                let mut finished = None;
                let mut quit = false;
                for action in wizard.feed(&received.text, received.negotiations) {
                    match action {
                        WizardAction::Send(bytes) => T::frame(&bytes, &mut link.out),
                        WizardAction::Quit(bytes) => {
                            T::frame(&bytes, &mut link.out);
                            quit = true;
                        }
                        WizardAction::Finish(settings) => finished = Some(settings),
                        WizardAction::Interrupted => {
                            T::frame(b"ok bye\r\n", &mut link.out);
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
                    link.flush_last().await;
                    return Err(End::LeftWizard);
                }
                if let Some(settings) = finished {
                    return Ok(settings);
                }
            }
            text = next_broadcast(&mut broadcasts) => {
                // r0c's raw form, for a screen the wizard draws: no window to put it in.
                let raw = format!("\r\n [[ broadcast message ]]\r\n \x1b[31m{text}\x1b[0m\r\n");
                T::frame(raw.as_bytes(), &mut link.out);
            }
            size = link.transport.window_size() => link.size = Some(size),
            () = timer.as_mut() => {
                let now = Instant::now();
                if now >= wizard_deadline {
                    return Err(End::WizardTimeout);
                }
                if let Some(end) = link.sent_nothing(now, arrival.first_input_timeout).await {
                    return Err(end);
                }
                if !link.out.is_empty() && now >= stall_deadline {
                    crate::metrics::client_dropped("stalled");
                    return Err(End::Stalled);
                }
            }
            written = link.writer.write(&link.out[..write_len]), if write_len > 0 => {
                match written {
                    Ok(0) | Err(_) => return Err(End::WriteError),
                    Ok(n) => {
                        link.sent(n);
                        link.out.drain(..n);
                        if link.out.is_empty() && link.out.capacity() > IDLE_OUTPUT_CAPACITY {
                            link.out = Vec::new();
                        }
                        link.output_moved = Instant::now();
                    }
                }
            }
            () = shutdown.cancelled() => return Err(End::Shutdown),
        }
    }
}

/// Where the chat saves what the wizard found and the user's toggles when they change.
struct Saving<'a> {
    address: &'a str,
    settings: &'a ClientSettings,
    /// What was saved last.
    record: &'a mut Option<SavedClient>,
}

/// The chat phase: the user's input, wake-ups, the timer and writes, each handled by a
/// method of [`LoopState`], until the connection ends.
async fn chat_phase<S, T>(
    link: &mut Link<S, T>,
    chat: &mut Session,
    state: &mut LoopState,
    saving: Saving<'_>,
    arrival: &Arrival,
    world: &World,
    shutdown: &CancellationToken,
) -> End
where
    S: AsyncRead + AsyncWrite,
    T: Transport,
{
    let frames_dropped = crate::metrics::frames_dropped();
    let timer = tokio::time::sleep_until(Instant::now());
    tokio::pin!(timer);
    // The session's history read in flight, run off the async workers (`crate::history`).
    let mut reading: Option<HistoryRead> = None;
    // Cancelled by the world when a ban puts the user out.
    let ejected = world.ejection(chat.user).unwrap_or_default();
    // Both waits are made once, not on every turn of the loop: each one made anew registers
    // with its token under the token's lock and leaves it again, on every wake-up and every
    // write of every busy client.
    let shutdown_wait = shutdown.cancelled();
    let ejected_wait = ejected.cancelled();
    tokio::pin!(shutdown_wait, ejected_wait);
    loop {
        if link.out.len() > MAX_PENDING_OUTPUT {
            crate::metrics::client_dropped("output overflow");
            return End::Overflow;
        }
        if link.out.is_empty() {
            state.output_moved = Instant::now();
        }
        if state.pacer.is_none()
            && let Some(bps) = chat.paced_bps()
        {
            state.pacer = Some(LinkPacer::new(
                bps,
                chat.charset(),
                T::DOUBLES_IAC,
                Instant::now().into_std(),
            ));
        }
        if reading.is_none()
            && let Some(read) = chat.next_read()
        {
            reading = Some(Box::pin(crate::history::read(world.store().clone(), read)));
        }
        // A paced (slow) link gets a new frame only once the last one is out, so every
        // frame shows the newest state instead of queueing up behind the others.
        let room = state.room(&link.out);
        let can_render = state.dirty && room;
        // Slowmo clients (Windows telnet.exe) get small chunks with pauses in between.
        let slowmo = chat.slowmo();
        let write_len = if slowmo > 0 {
            slowmo_chunk(&link.out)
        } else if let Some(pacer) = state.pacer.as_mut() {
            let (len, retry) = pacer.write_len(&link.out, Instant::now().into_std());
            if let Some(retry) = retry {
                state.write_ready_at = Instant::from_std(retry);
            }
            len
        } else {
            link.out.len()
        };
        let write_ready = Instant::now() >= state.write_ready_at;
        // Messages held back by flood control go out when their turn comes.
        let release_at = chat.next_release().map(Instant::from_std);
        // The input line is drawn again over a terminal's echo of a probe's answer.
        let echo_cleanup_at = chat.echo_cleanup_at().map(Instant::from_std);
        // One timer for every deadline in force: timers made anew on every turn of the
        // loop cost more than the frames themselves when thousands of clients are busy.
        let stall_deadline = state.output_moved + arrival.stall_timeout;
        // The clock tick is always due at some point, so there always is a deadline.
        let deadline = [
            can_render.then_some(state.next_frame),
            state.escape_deadline,
            release_at,
            echo_cleanup_at,
            (!link.heard_anything).then_some(link.first_input_deadline),
            (!link.out.is_empty()).then_some(stall_deadline),
            (!link.out.is_empty() && !write_ready).then_some(state.write_ready_at),
        ]
        .into_iter()
        .flatten()
        .fold(state.tick, Instant::min);
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        let output_was_empty = link.out.is_empty();
        tokio::select! {
            // While a command waits for a load, the user's input waits too (in the socket).
            read = read_chunk(&mut link.reader), if !chat.holds_input() => {
                let received = match read {
                    Ok(data) if data.is_empty() => return End::Closed,
                    Ok(data) => link.receive(&data),
                    Err(_) => return End::ReadError,
                };
                link.trace_sizes(&received.sizes, || {
                    world.nick(chat.user).unwrap_or_else(|| arrival.peer.to_string())
                });
                chat.push_output(&received.answers);
                for (cols, rows) in received.sizes {
                    chat.window_size_reported(cols, rows);
                }
                if chat.handle_text(&received.text) == Flow::Quit {
                    return End::Quit;
                }
                save_client(world, arrival, saving.address, chat, saving.settings, saving.record);
                state.answer_input(chat, &mut link.out);
            }
            // While a frame is due anyway, more changes need no wake-up of their own: the
            // world stores one permit, and the frame takes it (`take_stored_wake`). A client
            // whose output is backed up still listens, to count the frames it misses.
            () = state.wake.notified(), if !state.dirty || !room => {
                state.woken(true, room, &frames_dropped);
                // A frame whose time has come is rendered in this turn: waiting for the
                // timer to say so would cost the client a turn of the loop (its timer reset
                // and every branch polled again) for every frame.
                let now = Instant::now();
                if room && now >= state.next_frame {
                    state.timer_fired(now, Some(&mut *chat), release_at, echo_cleanup_at, &mut link.out);
                }
            }
            (cols, rows) = link.transport.window_size() => {
                chat.window_size_known(cols, rows);
                state.mark_dirty();
            }
            () = timer.as_mut() => {
                let now = Instant::now();
                if let Some(end) = link.sent_nothing(now, arrival.first_input_timeout).await {
                    return end;
                }
                if !link.out.is_empty() && now >= stall_deadline {
                    crate::metrics::client_dropped("stalled");
                    return End::Stalled;
                }
                state.timer_fired(now, Some(&mut *chat), release_at, echo_cleanup_at, &mut link.out);
                // A write that waited for its moment (pacing, slowmo) is tried again
                // by the write branch, now that `write_ready` is computed anew.
            }
            written = link.writer.write(&link.out[..write_len]), if write_len > 0 && write_ready => {
                match written {
                    Ok(0) | Err(_) => return End::WriteError,
                    Ok(n) => {
                        link.sent(n);
                        state.wrote(n, &mut link.out, Some(&mut *chat), slowmo);
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
                if chat.read_arrived(arrived) == Flow::Quit {
                    return End::Quit;
                }
                // What the user waited for is shown at once, like an answer to a key.
                state.answer_input(chat, &mut link.out);
            }
            () = &mut shutdown_wait => return End::Shutdown,
            () = &mut ejected_wait => return End::Ejected,
        }
        // Output that starts waiting now is measured from now: the turn may have waited
        // longer than the stall timeout for it (a clock tick after a quiet spell), and the
        // client must not be taken for stalled before it had a chance to read it.
        if output_was_empty && !link.out.is_empty() {
            state.output_moved = Instant::now();
        }
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
    /// A ban put the user out.
    Ejected,
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
            End::Ejected => "banned",
        }
    }
}

/// The connection loop's mutable state besides the session: what is due when, and how output
/// goes out.
struct LoopState {
    /// The client's screen is behind what it shows, so a frame is due.
    dirty: bool,
    /// Only clock ticks made the frame due: nothing woke the connection, no input, no timer
    /// but the clock's, so the frame may be the clock's digits alone ([`Session::render_clock`]).
    clock_only: bool,
    /// A frame caused by others is not rendered before this moment.
    next_frame: Instant,
    /// The clock in the status bar ticks at this moment.
    tick: Instant,
    /// How long after each step of the clock this client's tick comes ([`clock_offset`]).
    clock_offset: Duration,
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
    /// How output goes on the wire (the transport's [`Transport::frame`]).
    frame: Frame,
    /// Others' activity changed the screen since the last frame.
    woken_by_others: bool,
    /// The last second this client was counted busy ([`BusyClients::mark`]).
    busy_marked: u64,
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
            encode_for_client(&echo, chat.charset(), self.frame, &mut encoded);
            if input_only {
                pacer.queue_echo(out, &encoded, cursor);
            } else {
                out.extend_from_slice(&encoded);
            }
            self.mark_dirty();
        } else {
            take_stored_wake(&self.wake);
            render_into(chat, self.frame, out);
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
            self.clock_only = false;
        }
    }

    /// Something other than the clock makes a frame due.
    fn mark_dirty(&mut self) {
        self.dirty = true;
        self.clock_only = false;
    }

    /// Something the client shows changed.
    fn woken(&mut self, chatting: bool, room: bool, frames_dropped: &metrics::Counter) {
        // A change that finds the previous one still waiting for the client to read its
        // output shares one frame with it: the frame between is dropped.
        if self.dirty && chatting && !room {
            frames_dropped.increment(1);
        }
        self.mark_dirty();
        self.woken_by_others |= chatting;
    }

    /// The timer fired, and no deadline ended the connection: the clock, the escape key,
    /// held messages, the echo cleanup and the frame whose time has come.
    fn timer_fired(
        &mut self,
        now: Instant,
        mut session: Option<&mut Session>,
        release_at: Option<Instant>,
        echo_cleanup_at: Option<Instant>,
        out: &mut Vec<u8>,
    ) {
        let room = self.room(out);
        if now >= self.tick {
            // A tick that finds no frame due (or only the clock's) asks for the clock alone.
            self.clock_only = self.clock_only || !self.dirty;
            self.dirty = true;
            if let Some(chat) = session.as_deref_mut() {
                chat.clock_tick();
            }
            let every = session.as_deref().map_or(1, Session::ticks_per_refresh);
            self.tick = next_clock_tick(CLOCK_TICK_SECONDS * every, self.clock_offset);
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
            self.mark_dirty();
        }
        // Last, so the frame shows what the timers above changed.
        if self.dirty
            && room
            && now >= self.next_frame
            && let Some(chat) = session
        {
            self.dirty = false;
            // A change that came with the tick left its wake-up stored: then the frame needs
            // the world's view after all.
            let woken = take_stored_wake(&self.wake);
            let clock_only = std::mem::take(&mut self.clock_only) && !woken;
            let second = busy_second(now);
            if std::mem::take(&mut self.woken_by_others) {
                BUSY.mark(second, &mut self.busy_marked);
            }
            self.next_frame = now + frame_interval(BUSY.count(second));
            // Messages not yet on disk are not shown; their commit wakes this task.
            match clock_only.then(|| chat.render_clock()).flatten() {
                Some(text) => encode_for_client(&text, chat.charset(), self.frame, out),
                None => render_into(chat, self.frame, out),
            }
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
                self.mark_dirty();
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
    identity: Option<&str>,
) -> (Session, Arc<tokio::sync::Notify>) {
    let welcome = texts::welcome(settings.charset.has_box_drawing(), motd);
    let (user, wake) = world.connect_with(
        peer,
        welcome,
        settings.nick.as_deref(),
        settings.avoid_nick.as_deref(),
        identity,
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

/// The next moment `offset` after the UTC clock's seconds were divisible by `seconds`.
fn next_clock_tick(seconds: u64, offset: Duration) -> Instant {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Instant::now() + until_clock_tick(since_epoch, seconds, offset)
}

/// How long after `since_epoch` the next tick of a clock of `seconds` comes, `offset` after
/// its step.
fn until_clock_tick(since_epoch: Duration, seconds: u64, offset: Duration) -> Duration {
    let period = Duration::from_secs(seconds.max(1));
    let offset = Duration::from_nanos((offset.as_nanos() % period.as_nanos()) as u64);
    let into = since_epoch.saturating_sub(offset).as_nanos() % period.as_nanos();
    period.saturating_sub(Duration::from_nanos(into as u64))
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
fn take_stored_wake(wake: &tokio::sync::Notify) -> bool {
    let notified = std::pin::pin!(wake.notified());
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    notified.poll(&mut context).is_ready()
}

/// Renders a frame and appends it to `out`, encoded for the client.
fn render_into(session: &mut Session, frame: Frame, out: &mut Vec<u8>) {
    let text = session.render();
    encode_for_client(&text, session.charset(), frame, out);
}

/// Appends `text` to `out` in the client's charset, framed for the wire.
fn encode_for_client(text: &str, charset: Charset, frame: Frame, out: &mut Vec<u8>) {
    if text.is_empty() {
        return;
    }
    let mut encoded = Vec::with_capacity(text.len());
    encode(charset, text, &mut encoded);
    frame(&encoded, out);
}

/// Reads the MOTD file, if one is configured; a missing or unreadable file shows nothing.
pub async fn read_motd(path: Option<&std::path::Path>) -> Option<String> {
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
    fn each_clients_tick_comes_its_offset_after_the_clocks_step() {
        let ms = |millis: u64| Duration::from_millis(millis);
        let at = |millis: u64| ms(millis);
        // At 1,000,002.0 s the last step was 1,000,000 s: a client 300 ms behind ticks at
        // 1,000,005.3, one without an offset at 1,000,005.0.
        assert_eq!(until_clock_tick(at(1_000_002_000), 5, ms(300)), ms(3300));
        assert_eq!(until_clock_tick(at(1_000_002_000), 5, ms(0)), ms(3000));
        // Just after a step, a client whose offset has not passed yet still ticks for it.
        assert_eq!(until_clock_tick(at(1_000_005_100), 5, ms(300)), ms(200));
        assert_eq!(until_clock_tick(at(1_000_005_300), 5, ms(300)), ms(5000));
        // Slow links' longer periods keep the offset too.
        assert_eq!(until_clock_tick(at(1_000_002_000), 30, ms(999)), ms(18_999));
    }

    /// A transport as small as one can be: bytes as they are, a terminal known without
    /// asking, and one window size given before the session starts, as the web terminal and
    /// the next issue's ssh channel give theirs.
    struct Bare {
        size: Option<(u16, u16)>,
    }

    impl Transport for Bare {
        const KNOWN_TERMINAL: bool = true;

        fn start(&mut self, _trace: bool, _out: &mut Vec<u8>) {}

        fn receive(&mut self, bytes: &[u8], _out: &mut Vec<u8>, mut input: impl FnMut(Input<'_>)) {
            input(Input::Data(bytes));
        }

        fn frame(bytes: &[u8], out: &mut Vec<u8>) {
            out.extend_from_slice(bytes);
        }

        fn first_window_size(&mut self) -> Option<(u16, u16)> {
            self.size.take()
        }
    }

    fn test_world(dir: &std::path::Path) -> Arc<World> {
        let store = Arc::new(crate::store::Store::open(&dir.join("r0c.db")).expect("store"));
        let settings = crate::world::WorldSettings {
            max_windows_per_user: crate::world::DEFAULT_MAX_WINDOWS_PER_USER,
            max_channels: crate::world::DEFAULT_MAX_CHANNELS,
            nick_salt: "lammo/".into(),
            hist_rd: 100,
            hist_mem: 1000,
            hist_tsz: 100,
            password: "pw".into(),
            admin_requires_auth: false,
            opers: Vec::new(),
            no_all: false,
        };
        Arc::new(World::new(settings, store, CancellationToken::new()))
    }

    /// Reads from `client` until `wanted` has arrived; everything read, or what came before
    /// a timeout.
    async fn read_until(client: &mut tokio::io::DuplexStream, wanted: &str) -> String {
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(10);
        while !String::from_utf8_lossy(&seen).contains(wanted) {
            match tokio::time::timeout_at(deadline, client.read(&mut buffer)).await {
                Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buffer[..n]),
                _ => break,
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    }

    #[tokio::test]
    async fn the_core_serves_any_transport_from_the_chat_to_its_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let world = test_world(dir.path());
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let arrival = Arrival::for_tests(crate::session::Protocol::Web);
        let task = tokio::spawn(converse(
            server,
            Bare {
                size: Some((100, 30)),
            },
            arrival,
            world.clone(),
            CancellationToken::new(),
        ));
        // No wizard: the chat's screen comes first, laid out for the size the transport gave
        // (the status bar on row 29 of 30, the input line on row 30).
        let screen = read_until(&mut client, "retr0chat").await;
        assert!(screen.contains("retr0chat"), "the welcome text: {screen:?}");
        assert!(
            !screen.contains("r0c configurator"),
            "no wizard: {screen:?}"
        );
        assert!(
            screen.contains("\x1b[29H") && screen.contains("\x1b[30H"),
            "sized 100x30: {screen:?}"
        );
        assert_eq!(world.users_online(), 1);
        client.write_all(b"/quit\r").await.expect("type");
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the connection ends")
            .expect("the task does not panic");
        assert_eq!(world.users_online(), 0);
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
            opers: Vec::new(),
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
    fn only_clients_busy_in_the_last_second_space_frames_out() {
        let busy = BusyClients::new();
        let mut marked = vec![0u64; 3_000];
        // 3,000 clients get frames in second 10, each counted once however many it gets.
        for _ in 0..3 {
            for client in &mut marked {
                busy.mark(10, client);
            }
        }
        assert_eq!(busy.count(10), 3_000);
        // In the next second the last one's count stands until more are busy.
        for client in marked.iter_mut().take(100) {
            busy.mark(11, client);
        }
        assert_eq!(busy.count(11), 3_000);
        assert_eq!(frame_interval(busy.count(11)), Duration::from_millis(100));
        // After a quiet second nobody is busy: idle clients space nothing out.
        assert_eq!(busy.count(13), 0);
        assert_eq!(frame_interval(busy.count(13)), MIN_FRAME_INTERVAL);
    }

    #[test]
    fn frames_space_out_with_hundreds_busy_up_to_80_ms_then_with_thousands() {
        assert_eq!(frame_interval(0), MIN_FRAME_INTERVAL);
        assert_eq!(frame_interval(300), MIN_FRAME_INTERVAL);
        assert_eq!(frame_interval(375), MIN_FRAME_INTERVAL);
        // Past 7,500 frames a second in all, frames carry more messages each, to 80 ms apart.
        assert_eq!(frame_interval(450), Duration::from_millis(60));
        assert_eq!(frame_interval(600), MAX_BUDGET_INTERVAL);
        assert_eq!(frame_interval(1_500), MAX_BUDGET_INTERVAL);
        assert_eq!(frame_interval(2_400), MAX_BUDGET_INTERVAL);
        // Past 30,000 frames a second at 80 ms, the kernel's ceiling spaces them further.
        assert_eq!(frame_interval(3_000), Duration::from_millis(100));
        assert!(frame_interval(usize::MAX) > Duration::from_secs(60));
    }
}
