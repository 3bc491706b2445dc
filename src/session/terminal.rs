//! One client's session: input handling, terminal size, and which renderer draws its screen.
//!
//! The session does no I/O: the connection task feeds it decoded text and asks it for output.
//! Rendering pulls the current state from the world and writes only what the client lacks.

mod accounts;
mod reads;
mod search;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::command::{ClientFacts, Command, Effect, Usage};
use crate::session::flood::{CommandBudget, Cost, FloodGuard, FloodLimits, Verdict};
use crate::session::teletype::Teletype;
use crate::session::vt::{Vt100Ui, clock_offset};
use crate::term::charset::Charset;
use crate::term::keys::{Key, KeyDecoder};
use crate::term::lineedit::{EditOutcome, LineEditor};
use crate::world::{
    AUTHOR_ERROR, AUTHOR_SYSTEM, ChannelKind, DirectError, Notices, UserId, View, World,
};

/// How many refused admin commands of one user are logged a minute.
const DENIED_LOG_LINES_PER_MINUTE: u32 = 5;

/// Terminal size used until the client tells us its own.
pub const DEFAULT_SIZE: (u16, u16) = (80, 24);

/// The most characters the input line holds; more typed without Enter are refused.
pub const MAX_LINE_CHARS: usize = 4096;

/// Bells are rung at most this often.
const BELL_INTERVAL: Duration = Duration::from_secs(1);

/// The speed test's answers must arrive this soon after it started.
const SPEED_TEST_WINDOW: Duration = Duration::from_secs(10);

/// Links measured at this speed or less are slow: named as a modem tier and paced (see
/// `session::pacing`).
pub const PACED_BPS: u32 = 12_000;

/// The cursor-position probe: save the cursor, go to the far corner, ask where the cursor
/// is, restore it.
const SIZE_PROBE: &str = "\x1b[s\x1b[999;999H\x1b[6n\x1b[u";

/// How long after a probe to a client that echoes locally its input line is drawn again: the
/// terminal has printed its answer there by then (it does so as soon as the probe arrives).
const ECHO_CLEANUP_DELAY: Duration = Duration::from_millis(300);

/// No bell this soon after the user pressed Enter.
const QUIET_AFTER_ENTER: Duration = Duration::from_millis(100);

/// A user's connection as the UI sees it.
pub struct Session {
    /// The user in the world.
    pub user: UserId,
    world: Arc<World>,
    /// The user's notices, marked shown here once a frame showed them.
    notices: Arc<Notices>,
    keys: KeyDecoder,
    line: LineEditor,
    /// Terminal columns and rows.
    cols: u16,
    rows: u16,
    /// The bad size the client reported, told once in the status window.
    bad_size_told: bool,
    ui: Ui,
    /// What the bell has already rung for.
    bells: BellState,
    /// The client's character set, for output and input.
    charset: Charset,
    /// The client shows what is typed by itself (linemode): each Enter disturbs the screen.
    local_echo: bool,
    /// The client sends whole lines (the wizard found it line-buffered); for `/cfg`.
    linemode: bool,
    /// The bytes the client sends for Enter, as the wizard learned them; for `/cfg`.
    enter: String,
    /// Slowmo level for Windows telnet.exe: output is paced in small chunks (0 = off).
    slowmo: u8,
    /// Frames push chat lines with r0c's exact push form, which r0c's PowerShell client on
    /// the raw port looks for ([`Session::use_r0c_push`]).
    r0c_push: bool,
    /// The link-speed test in progress.
    speed_test: Option<SpeedTest>,
    /// The measured link speed in bits per second, once known.
    link_bps: Option<u32>,
    /// Output produced by input handling, sent before the next frame.
    pending_output: String,
    /// Told once per line when the input line overflows.
    overflow_told: bool,
    /// The tab completion in progress, if the last key was Tab (boxed: rare, and every
    /// session would hold its room otherwise).
    completion: Option<Box<Completion>>,
    /// The last size telnet's NAWS reported: a cursor report overrides it only when it is more
    /// than 128 larger (Windows telnet sends NAWS modulo 256).
    naws: Option<(u16, u16)>,
    /// Flood control of what the user says, made when the user first says something: most
    /// connections only read, and the guard's buckets and queue are a few hundred bytes
    /// each of them would hold for nothing. A guard made late starts full, as one made at the
    /// connection's start would be by then.
    flood: Option<Box<FloodGuard<Outgoing>>>,
    /// The limits the guard is made with.
    flood_limits: FloodLimits,
    /// Flood control of commands others see (`/nick`, `/join`, `/part`, `/topic`).
    commands: CommandBudget,
    /// When the user was last told that such commands must wait.
    commands_told: Option<Instant>,
    /// Chat lines submitted during the current read: a paste becomes one message.
    paste: Vec<String>,
    /// When the user was last told that they are muted.
    muted_told: Option<Instant>,
    /// The last frame left out messages the store had not committed yet.
    waiting_for_store: bool,
    /// A size probe waits to be sent after the next frame (clients that echo locally).
    probe_after_frame: bool,
    /// When to draw the input line again over the echo of a probe's answer.
    echo_cleanup_at: Option<Instant>,
    /// Log lines of admin commands refused to this user, who could type them in a loop.
    denied_log: crate::log_limit::LogLimit,
    /// The clock of `denied_log` starts here.
    started: Instant,
    /// History reads: the page cache frames read from, and what waits to be read.
    reads: reads::Reads,
    /// Password commands: whether they would cross the network in the clear, and whether
    /// one runs.
    passwords: accounts::Passwords,
    /// `/search`: its pacing and the one in flight, made by the first search (few users
    /// search, and every connection would hold it otherwise).
    searches: Option<Box<search::Searches>>,
}

// Flood control holds what commands say; the value itself belongs to the command module.
pub use crate::command::Outgoing;

/// Whether the connection goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// What flood control charges for something the user says.
fn cost(outgoing: &Outgoing) -> Cost {
    match outgoing {
        Outgoing::Say(text) | Outgoing::Action(text) => Cost::of_text(text),
        Outgoing::Direct { target, text } => Cost {
            bytes: target.len() + text.len(),
            lines: 1,
        },
    }
}

/// A muted user is told again at most this often.
const MUTED_TOLD_EVERY: Duration = Duration::from_secs(5);

/// r0c's link-speed test in progress.
#[derive(Debug, Clone, Copy)]
struct SpeedTest {
    /// When the double probe was sent.
    started: Instant,
    /// When the first answer arrived, and the size it reported.
    first_answer: Option<(Instant, u16, u16)>,
}

/// What the bell last rang for, so each event rings once.
#[derive(Default)]
struct BellState {
    /// When the bell last rang.
    last: Option<Instant>,
    /// When the user last pressed Enter: their own message never rings.
    last_enter: Option<Instant>,
    /// Windows with unread mentions at the last frame.
    hilights: Vec<usize>,
    /// Windows with unread messages at the last frame.
    activity: Vec<usize>,
    /// The active window and the first sequence number not yet considered in it.
    active: Option<(crate::world::ChannelId, u64)>,
}

/// A tab completion in progress: Tab again cycles through the candidates, then back to the
/// word as typed (without r0c's quirk of adding the suffix to it).
struct Completion {
    /// Where the completed word starts in the line.
    start: usize,
    /// The word as the user typed it.
    typed: String,
    /// Matching nicks, most recently active first.
    candidates: Vec<String>,
    /// The candidate shown now; `candidates.len()` means the typed word.
    index: usize,
}

/// How the client's screen is drawn.
pub enum Ui {
    /// No escape codes: lines scroll by, the prompt line is re-sent. Boxed, as the VT100
    /// interface is, so neither sizes the session of a client using the other.
    Teletype(Box<Teletype>),
    /// The full-screen VT100 interface.
    Vt100(Box<Vt100Ui>),
}

impl Session {
    /// A session for `user`, drawn at the default size.
    pub fn new(user: UserId, world: Arc<World>) -> Session {
        let rejoins = world.rejoins(user).unwrap_or_default();
        Session {
            user,
            notices: world.notices(user).unwrap_or_default(),
            world,
            keys: KeyDecoder::new(),
            line: LineEditor::new(MAX_LINE_CHARS),
            cols: DEFAULT_SIZE.0,
            rows: DEFAULT_SIZE.1,
            bad_size_told: false,
            ui: Ui::Vt100(Box::new(
                Vt100Ui::new(
                    usize::from(DEFAULT_SIZE.0),
                    usize::from(DEFAULT_SIZE.1),
                    false,
                )
                .with_clock_offset(clock_offset(user)),
            )),
            bells: BellState::default(),
            charset: Charset::Utf8,
            local_echo: false,
            linemode: false,
            enter: "\r\n".to_owned(),
            slowmo: 0,
            r0c_push: true,
            speed_test: None,
            link_bps: None,
            pending_output: String::new(),
            overflow_told: false,
            completion: None,
            naws: None,
            flood: None,
            flood_limits: FloodLimits::default(),
            commands: CommandBudget::new(&FloodLimits::default(), Instant::now()),
            commands_told: None,
            paste: Vec::new(),
            muted_told: None,
            waiting_for_store: false,
            probe_after_frame: false,
            echo_cleanup_at: None,
            denied_log: crate::log_limit::LogLimit::per_minute(DENIED_LOG_LINES_PER_MINUTE),
            started: Instant::now(),
            reads: reads::Reads::with_rejoins(rejoins),
            passwords: accounts::Passwords::default(),
            searches: None,
        }
    }

    /// Whether the last frame left out messages that wait for the store: render again soon.
    pub fn waiting_for_store(&self) -> bool {
        self.waiting_for_store
    }

    /// Sets the flood limits (`--msg-rate`, `--no-flood-limit`).
    pub fn set_flood_limits(&mut self, limits: FloodLimits) {
        self.flood = None;
        self.flood_limits = limits;
        self.commands = CommandBudget::new(&limits, Instant::now());
    }

    /// Whether a command that others see may run now; if not, the user is told how long to
    /// wait (at most once per [`MUTED_TOLD_EVERY`]).
    pub fn may_run_shared_command(&mut self) -> bool {
        let now = Instant::now();
        let Err(seconds) = self.commands.check(now) else {
            return true;
        };
        let recently = self
            .commands_told
            .is_some_and(|t| now.duration_since(t) < MUTED_TOLD_EVERY);
        if !recently {
            self.commands_told = Some(now);
            let (burst, per_second) = self.commands.limits();
            self.world.tell(
                self.user,
                AUTHOR_ERROR,
                &format!(
                    "[slow down] /nick /join /part /topic, password and moderation commands: try again in {seconds} seconds\n  you may spend {burst:.0} at once and {per_second} more each second;\n  each costs 1, a nick change 1 per window you have open, a ban or mute 1 more per user it hits,\n  /register /login /passwd 8 (a password's hash is work for the whole server)"
                ),
            );
        }
        false
    }

    /// Charges a command that others saw (see [`Session::may_run_shared_command`]).
    pub fn charge_shared_command(&mut self, cost: usize) {
        self.commands.charge(cost, Instant::now());
    }

    /// Says something, subject to flood control: at once, later, or not at all (the user is
    /// told which).
    pub fn send_message(&mut self, outgoing: Outgoing) {
        let now = Instant::now();
        let cost = cost(&outgoing);
        let error = |text: &str| self.world.tell(self.user, AUTHOR_ERROR, text);
        let limits = self.flood_limits;
        let flood = self
            .flood
            .get_or_insert_with(|| Box::new(FloodGuard::new(limits, now)));
        let verdict = flood.offer(outgoing, cost, now);
        let held = flood.held();
        match verdict {
            Verdict::Send(outgoing) => self.deliver(outgoing),
            Verdict::Held => {
                if held == 1 {
                    error("you are sending fast; your messages are delayed a little");
                }
            }
            Verdict::Warned => error(
                "you are sending too fast: that message was dropped; keep this up and you will be muted for a while",
            ),
            Verdict::Muted { seconds, first } => {
                let recently = self
                    .muted_told
                    .is_some_and(|t| now.duration_since(t) < MUTED_TOLD_EVERY);
                if first || !recently {
                    self.muted_told = Some(now);
                    error(&format!(
                        "you are muted for {seconds} more seconds for flooding; messages are dropped meanwhile (commands still work)"
                    ));
                }
            }
        }
    }

    /// Sends held messages whose turn has come.
    pub fn release_held(&mut self) {
        let Some(flood) = &mut self.flood else {
            return;
        };
        let ready = flood.release(Instant::now());
        for outgoing in ready {
            self.deliver(outgoing);
        }
    }

    /// When a held message may go next.
    pub fn next_release(&self) -> Option<Instant> {
        self.flood.as_ref().and_then(|flood| flood.next_release())
    }

    fn deliver(&mut self, outgoing: Outgoing) {
        let world = &self.world.clone();
        let problem = match outgoing {
            Outgoing::Say(text) => world.say(self.user, &text).err().map(|e| e.to_string()),
            Outgoing::Action(text) => world.action(self.user, &text).err().map(|e| e.to_string()),
            Outgoing::Direct { target, text } => {
                match world.direct_message(self.user, &target, &text) {
                    Ok(crate::world::DirectStep::Done) => None,
                    // Read by the connection loop off the async workers, then sent.
                    Ok(crate::world::DirectStep::Load(load)) => {
                        self.start_load(load, reads::Origin::Command);
                        None
                    }
                    Err(problem) => Some(match problem {
                        DirectError::NotOnline(_) => format!("[user not found]\n  {problem}"),
                        DirectError::StoreUnavailable
                        | DirectError::Limit(_)
                        | DirectError::Refused(_) => problem.to_string(),
                    }),
                }
            }
        };
        if let Some(problem) = problem {
            world.tell(self.user, AUTHOR_ERROR, &problem);
        }
    }

    /// Chat lines of one read go out as one message (a paste is one message, not many).
    fn flush_paste(&mut self) {
        if self.paste.is_empty() {
            return;
        }
        let text = std::mem::take(&mut self.paste).join("\n");
        self.send_message(Outgoing::Say(text));
    }

    /// Whether frames push chat lines with r0c's push form (`ESC[<h-3>H LF LF ESC[K`): r0c's
    /// PowerShell client, a raw-port client, looks for it to repair consoles whose scrolling
    /// is broken; clients of every other port get the same scroll 4 bytes a frame cheaper.
    pub fn use_r0c_push(&mut self, on: bool) {
        self.r0c_push = on;
        if let Ui::Vt100(vt) = &mut self.ui {
            vt.set_r0c_push(on);
        }
    }

    /// Applies what the first-connect wizard found: charset, screen mode, local echo.
    pub fn configure(&mut self, settings: &crate::session::settings::ClientSettings) {
        self.charset = settings.charset;
        self.local_echo = settings.echo;
        self.linemode = settings.linemode;
        self.enter = settings.enter.clone();
        self.slowmo = u8::from(settings.slowmo);
        self.ui = if settings.vt100 {
            Ui::Vt100(Box::new(
                Vt100Ui::new(
                    usize::from(self.cols),
                    usize::from(self.rows),
                    settings.echo,
                )
                .with_clock_offset(clock_offset(self.user))
                .with_r0c_push(self.r0c_push),
            ))
        } else {
            Ui::Teletype(Box::new(Teletype::new()))
        };
    }

    /// What the wizard found, as r0c's `/cfg` names it: (linemode, echo, Enter key).
    pub fn wizard_findings(&self) -> (bool, bool, &str) {
        (self.linemode, self.local_echo, &self.enter)
    }

    /// The slowmo level (0 = off): output is paced in small chunks for Windows telnet.exe.
    pub fn slowmo(&self) -> u8 {
        self.slowmo
    }

    /// Sets the slowmo level (`/sy N`, `/sn`).
    pub fn set_slowmo(&mut self, level: u8) {
        self.slowmo = level;
    }

    /// The client's character set (utf-8 until the first-connect wizard asks).
    pub fn charset(&self) -> Charset {
        self.charset
    }

    /// Uses another character set for this client and redraws.
    pub fn set_charset(&mut self, charset: Charset) {
        self.charset = charset;
        self.request_redraw();
    }

    /// The terminal size in use.
    pub fn size(&self) -> (u16, u16) {
        (self.cols, self.rows)
    }

    /// Applies a size reported by the client; 0 or 512 and more fall back to 80x24 with a note.
    pub fn set_size(&mut self, cols: u16, rows: u16) {
        let usable = |v: u16| v > 0 && v < 512;
        let (new_cols, new_rows) = (
            if usable(cols) { cols } else { DEFAULT_SIZE.0 },
            if usable(rows) { rows } else { DEFAULT_SIZE.1 },
        );
        if (!usable(cols) || !usable(rows)) && !self.bad_size_told {
            self.bad_size_told = true;
            self.world.tell(
                self.user,
                crate::world::AUTHOR_INFO,
                &format!("your client reported windowsize {cols}x{rows}; will assume 80x24"),
            );
        }
        if (new_cols, new_rows) != (self.cols, self.rows) {
            (self.cols, self.rows) = (new_cols, new_rows);
            self.apply_size();
        }
    }

    /// A telnet NAWS report: applied at once, then checked with a cursor-position probe.
    pub fn window_size_reported(&mut self, cols: u16, rows: u16) {
        self.naws = Some((cols, rows));
        self.set_size(cols, rows);
        // On a slow link the probe costs more than it is worth; the size is applied anyway.
        if !self.slow_link() {
            self.probe_size();
        }
    }

    /// A window size that arrived during the wizard: applied, checked by the speed test's probe.
    pub fn window_size_known(&mut self, cols: u16, rows: u16) {
        self.naws = Some((cols, rows));
        self.set_size(cols, rows);
    }

    /// Sends the cursor-position probe `ESC[s ESC[999;999H ESC[6n ESC[u`; the terminal answers
    /// with where the cursor ended up, which is its size. Teletype clients are never probed.
    ///
    /// A client that echoes locally also prints the answer where its cursor is (`^[[24;80R`,
    /// and a line-buffered one holds the answer until Enter). Its probe goes after the next
    /// frame, so that echo lands on the input line, which is drawn again a moment later.
    pub fn probe_size(&mut self) {
        if !self.is_vt100() {
            return;
        }
        if self.local_echo {
            self.probe_after_frame = true;
        } else {
            self.pending_output.push_str(SIZE_PROBE);
        }
        self.expect_probe_answer();
    }

    /// A probe is on its way: a line-buffered client holds the answer until Enter, so its
    /// input line says so meanwhile.
    fn expect_probe_answer(&mut self) {
        if let Ui::Vt100(vt) = &mut self.ui {
            vt.awaiting_enter = self.local_echo;
        }
    }

    /// When the input line is to be drawn again over the terminal's echo of a probe's answer.
    pub fn echo_cleanup_at(&self) -> Option<Instant> {
        self.echo_cleanup_at
    }

    /// Draws the input line again at the next frame, over the terminal's echo of a probe's
    /// answer (see [`Session::probe_size`]).
    pub fn clean_echo(&mut self) {
        self.echo_cleanup_at = None;
        if let Ui::Vt100(vt) = &mut self.ui {
            vt.repaint_input_line();
        }
    }

    /// r0c's link-speed test: two size probes with 120 bytes of padding between them; the
    /// time between the two answers tells the speed (1120 bits). The probes go before the
    /// frame, in this order, whether or not the client echoes.
    pub fn start_speed_test(&mut self) {
        self.pending_output.push_str("\n running speedtest... ");
        if self.is_vt100() {
            self.pending_output.push_str(SIZE_PROBE);
            self.pending_output.push_str(&"\x1b[0m".repeat(30));
            self.pending_output.push_str(SIZE_PROBE);
            self.expect_probe_answer();
        } else {
            self.pending_output.push_str(&"\x1b[0m".repeat(30));
        }
        self.speed_test = Some(SpeedTest {
            started: Instant::now(),
            first_answer: None,
        });
    }

    /// How many 5-second clock ticks pass between refreshes of an idle screen: every tick on a
    /// fast link, fewer on modems (r0c's refresh divisors), every sixth for teletype clients.
    pub fn ticks_per_refresh(&self) -> u64 {
        if !self.is_vt100() {
            return 6;
        }
        match self.link_bps {
            Some(bps) if bps < 525 => 6,
            Some(bps) if bps < 1500 => 3,
            Some(bps) if bps < 3000 => 2,
            _ => 1,
        }
    }

    /// The frame of a clock tick when nothing but the clock changed since the last frame
    /// (nothing woke the connection, no input): only the clock's digits, without a view of
    /// the world. `None` when a full frame is due instead ([`Session::render`]).
    pub fn render_clock(&mut self) -> Option<String> {
        if !self.pending_output.is_empty() || self.probe_after_frame {
            return None;
        }
        match &mut self.ui {
            Ui::Vt100(vt) => vt.render_clock(),
            Ui::Teletype(_) => None,
        }
    }

    /// The periodic clock tick: the next frame refreshes the status bar.
    pub fn clock_tick(&mut self) {
        if let Ui::Vt100(vt) = &mut self.ui {
            vt.tick_due = true;
        }
    }

    /// The link speed to pace output to: a VT100 client on a link measured at
    /// [`PACED_BPS`] or less.
    pub fn paced_bps(&self) -> Option<u32> {
        self.link_bps
            .filter(|bps| *bps <= PACED_BPS && self.is_vt100() && self.slowmo == 0)
    }

    /// An echo overtook the last frame on a paced link: the next frame puts right what that
    /// frame may have left stale (the input row, the cursor).
    pub fn after_overtaken_frame(&mut self) {
        if let Ui::Vt100(vt) = &mut self.ui {
            vt.after_overtaken_frame();
        }
    }

    /// Where the client's cursor is, as far as the renderer knows.
    pub fn screen_cursor(&self) -> Option<(usize, usize)> {
        match &self.ui {
            Ui::Vt100(vt) => vt.cursor(),
            Ui::Teletype(_) => None,
        }
    }

    /// Renders only the input line (and output of input handling), for the echo of typing on
    /// a paced link; the pane follows in the next frame. Also says whether it was only that:
    /// a keystroke that switches windows or scrolls renders a whole frame, which must not
    /// overtake the frame before it.
    pub fn render_echo(&mut self) -> (String, bool) {
        if let Ui::Vt100(vt) = &mut self.ui {
            vt.input_only = true;
            vt.rendered_input_only = false;
        }
        let echo = self.render();
        match &mut self.ui {
            Ui::Vt100(vt) => {
                vt.input_only = false;
                (echo, vt.rendered_input_only)
            }
            Ui::Teletype(_) => (echo, false),
        }
    }

    /// Whether the link was measured at [`PACED_BPS`] or less.
    fn slow_link(&self) -> bool {
        self.link_bps.is_some_and(|bps| bps <= PACED_BPS)
    }

    /// Times the two answers of the speed test's double probe. Answers must come within
    /// [`SPEED_TEST_WINDOW`] and report the same size; anything else (a user resizing, a
    /// terminal that answers only once) ends the test without a result.
    fn measure_link(&mut self, cols: u16, rows: u16) {
        let Some(test) = self.speed_test.take() else {
            return;
        };
        if test.started.elapsed() > SPEED_TEST_WINDOW {
            return;
        }
        let Some((first_at, first_cols, first_rows)) = test.first_answer else {
            let first_answer = Some((Instant::now(), cols, rows));
            self.speed_test = Some(SpeedTest {
                first_answer,
                ..test
            });
            return;
        };
        if (first_cols, first_rows) != (cols, rows) {
            return;
        }
        let bps = (1120.0 * 1.25 / (0.001 + first_at.elapsed().as_secs_f64())) as u32;
        self.link_bps = Some(bps);
        if let Ui::Vt100(vt) = &mut self.ui {
            vt.defer_status = bps <= 3000;
            if bps <= PACED_BPS {
                // About one pushed line per second of link time.
                vt.line_budget = Some((bps / 1200).max(1) as usize);
            }
        }
        if bps <= PACED_BPS {
            let tier = match bps {
                0..525 => 300,
                525..1500 => 1200,
                1500..3000 => 2400,
                3000..6000 => 4800,
                _ => 9600,
            };
            let note = format!("detected {tier} bps modem; optimizing");
            self.world.tell(self.user, crate::world::AUTHOR_INFO, &note);
        }
        tracing::debug!(bps, "link speed measured");
    }

    fn cursor_report(&mut self, cols: u16, rows: u16) {
        if let Ui::Vt100(vt) = &mut self.ui {
            vt.awaiting_enter = false;
        }
        self.measure_link(cols, rows);
        if let Some((naws_cols, naws_rows)) = self.naws
            && cols <= naws_cols.saturating_add(128)
            && rows <= naws_rows.saturating_add(128)
        {
            return;
        }
        self.set_size(cols, rows);
    }

    /// Sets the width or height by hand (`/sw`, `/sh`).
    pub fn force_size(&mut self, cols: Option<u16>, rows: Option<u16>) {
        self.cols = cols.unwrap_or(self.cols);
        self.rows = rows.unwrap_or(self.rows);
        self.apply_size();
    }

    fn apply_size(&mut self) {
        match &mut self.ui {
            Ui::Teletype(teletype) => teletype.redraw(),
            Ui::Vt100(vt) => vt.resize(usize::from(self.cols), usize::from(self.rows)),
        }
    }

    /// Asks for a full redraw at the next frame.
    pub fn request_redraw(&mut self) {
        match &mut self.ui {
            Ui::Teletype(teletype) => teletype.redraw(),
            Ui::Vt100(vt) => vt.redraw(),
        }
    }

    /// Whether the client gets the full-screen VT100 interface.
    pub fn is_vt100(&self) -> bool {
        matches!(self.ui, Ui::Vt100(_))
    }

    /// Scrolls the active window by pages (negative: back). A teletype prints the older page
    /// anew, as r0c does.
    pub fn scroll_pages(&mut self, pages: isize) {
        match &mut self.ui {
            Ui::Teletype(teletype) => teletype.scroll_pages(pages, usize::from(self.rows)),
            Ui::Vt100(vt) => vt.scroll_pages(pages),
        }
    }

    /// Snaps the active window to its newest messages.
    pub fn to_latest(&mut self) {
        match &mut self.ui {
            Ui::Teletype(teletype) => teletype.to_latest(),
            Ui::Vt100(vt) => vt.to_latest(),
        }
    }

    /// Sets how far PgUp and PgDn scroll (`/ss`).
    pub fn set_scroll_step(&mut self, step: crate::session::vt::ScrollStep) {
        match &mut self.ui {
            Ui::Teletype(teletype) => teletype.set_scroll_step(step),
            Ui::Vt100(vt) => vt.set_scroll_step(step),
        }
    }

    /// Shows the active window from message `seq` on (`/g`).
    pub fn goto(&mut self, seq: u64) {
        match &mut self.ui {
            Ui::Teletype(teletype) => teletype.goto(seq),
            Ui::Vt100(vt) => vt.goto(seq),
        }
    }

    /// Shows search result `found` in the active window, which is now `channel`: from its
    /// message on, with the words searched for hilighted there (a teletype client only goes
    /// there).
    pub fn show_found(&mut self, channel: crate::world::ChannelId, found: &crate::world::Found) {
        match &mut self.ui {
            Ui::Teletype(teletype) => teletype.goto(found.seq),
            Ui::Vt100(vt) => vt.goto_found(channel, found.seq, &found.words),
        }
    }

    /// Toggles the names-hidden view (`/v`, CTRL-N).
    pub fn toggle_view_mode(&mut self) {
        if let Ui::Vt100(vt) = &mut self.ui {
            vt.view_mode = !vt.view_mode;
            vt.redraw();
        }
    }

    /// Whether a lone ESC waits to be resolved by a quiet period.
    pub fn has_pending_escape(&self) -> bool {
        self.keys.has_pending_escape()
    }

    /// Resolves a held ESC (called after a short quiet period).
    pub fn flush_escape(&mut self) {
        let mut keys = Vec::new();
        self.keys.flush_escape(&mut keys);
    }

    /// Carries out one line typed by the user, a command or a chat message, at once.
    pub fn execute(&mut self, line: &str) -> Flow {
        self.run_command(Command::parse(line))
    }

    /// Carries out a parsed line: commands that others see are refused while the command
    /// budget is spent, then the world applies the command and the session carries out the
    /// effects it returns.
    fn run_command(&mut self, parsed: Result<Command, Usage>) -> Flow {
        let world = self.world.clone();
        let effects = match parsed {
            Ok(command) => {
                if command.is_shared() && !self.may_run_shared_command() {
                    return Flow::Continue;
                }
                crate::command::apply(command, &world, self.user)
            }
            Err(usage) => crate::command::apply_usage(&usage, &world, self.user),
        };
        let mut flow = Flow::Continue;
        for effect in effects {
            if self.carry_out(effect) == Flow::Quit {
                flow = Flow::Quit;
            }
        }
        flow
    }

    /// Carries out one effect of a command.
    fn carry_out(&mut self, effect: Effect) -> Flow {
        match effect {
            Effect::Send(outgoing) => self.send_message(outgoing),
            Effect::Charge(cost) => self.charge_shared_command(cost),
            Effect::ProbeSize => self.probe_size(),
            Effect::Redraw => self.request_redraw(),
            Effect::ScrollPages(pages) => self.scroll_pages(pages),
            Effect::Latest => self.to_latest(),
            Effect::ToggleView => self.toggle_view_mode(),
            Effect::SetSlowmo(level) => self.set_slowmo(level),
            Effect::ForceSize { cols, rows } => self.force_size(cols, rows),
            Effect::SetScrollStep(step) => self.set_scroll_step(step),
            Effect::Goto(seq) => self.goto(seq),
            Effect::GotoFound(number) => self.goto_found(number),
            Effect::Load(load) => self.start_load(load, reads::Origin::Command),
            Effect::Account(job) => self.start_account_job(job),
            Effect::Search(request) => self.start_search(request),
            Effect::ShowCfg => {
                if let Some(prefs) = self.world.prefs(self.user) {
                    let (linemode, echo, enter) = self.wizard_findings();
                    let (cols, rows) = self.size();
                    let client = ClientFacts {
                        slowmo: self.slowmo(),
                        linemode,
                        echo,
                        vt100: self.is_vt100(),
                        enter,
                        codec: self.charset().name(),
                        cols,
                        rows,
                    };
                    let text = crate::command::cfg_text(&client, &prefs);
                    self.world.tell(self.user, AUTHOR_SYSTEM, &text);
                }
            }
            Effect::AdminDenied(command) => self.log_denied(command),
            Effect::Quit => return Flow::Quit,
        }
        Flow::Continue
    }

    /// Logs an admin command refused to this user, a few a minute: a user can type refused
    /// commands in a loop. The line names who asked, but never the command's text.
    fn log_denied(&mut self, command: &'static str) {
        let verdict = self.denied_log.check(self.started.elapsed());
        if let crate::log_limit::Verdict::Log { suppressed, last } = verdict {
            let peer = self
                .world
                .peer(self.user)
                .map(|peer| peer.to_string())
                .unwrap_or_default();
            let nick = self.world.nick(self.user).unwrap_or_default();
            tracing::warn!(
                peer,
                nick,
                command,
                suppressed,
                last,
                "admin command denied"
            );
        }
    }

    /// Handles decoded text from the client. Returns whether the client asked to leave.
    pub fn handle_text(&mut self, text: &str) -> Flow {
        let mut keys = Vec::new();
        self.keys.feed(text, &mut keys);
        self.reads.held_keys.extend(keys);
        self.run_held_keys()
    }

    /// Handles the keys that arrived, in order, up to one that starts a load (`/join` of a
    /// channel not in memory, `/g` to before memory): the rest wait until it has finished,
    /// so what the user typed next happens after it, as before.
    fn run_held_keys(&mut self) -> Flow {
        while self.reads.load.is_none()
            && let Some(key) = self.reads.held_keys.pop_front()
        {
            if self.handle_key(key) == Flow::Quit {
                return Flow::Quit;
            }
        }
        self.flush_paste();
        Flow::Continue
    }

    fn handle_key(&mut self, key: Key) -> Flow {
        if key != Key::Tab {
            self.completion = None;
        }
        match key {
            Key::Char(c) => {
                if self.line.insert(c) == EditOutcome::Full && !self.overflow_told {
                    self.overflow_told = true;
                    self.world.tell(
                        self.user,
                        crate::world::AUTHOR_ERROR,
                        &format!(
                            "your line is too long; at most {MAX_LINE_CHARS} characters are kept"
                        ),
                    );
                }
            }
            Key::Enter => {
                self.overflow_told = false;
                if let Ui::Vt100(vt) = &mut self.ui {
                    vt.awaiting_enter = false;
                }
                self.bells.last_enter = Some(Instant::now());
                if self.local_echo {
                    // The terminal echoed the line and a newline itself: repaint everything.
                    self.request_redraw();
                }
                // A line with a password is not kept for Up to bring back.
                let line = if crate::command::carries_secret(&self.line.text()) {
                    self.line.take()
                } else {
                    self.line.submit()
                };
                if line.is_empty() {
                    return Flow::Continue;
                }
                // Chat lines wait for the end of this read, so a paste is one message. A
                // command first sends what came before it.
                match Command::parse(&line) {
                    Ok(Command::Say(text)) => self.paste.push(text),
                    parsed => {
                        self.flush_paste();
                        return self.run_command(parsed);
                    }
                }
            }
            Key::Backspace => _ = self.line.backspace(),
            Key::Delete => _ = self.line.delete(),
            Key::Left => _ = self.line.move_cursor(-1),
            Key::Right => _ = self.line.move_cursor(1),
            Key::Home => _ = self.line.home(),
            Key::End => _ = self.line.end(),
            Key::Up => {
                self.line.history_back();
                if self.local_echo {
                    self.request_redraw();
                }
            }
            Key::Down => _ = self.line.history_forward(),
            Key::PageUp => self.scroll_pages(-1),
            Key::PageDown => self.scroll_pages(1),
            Key::Ctrl('l') | Key::Ctrl('r') => {
                self.probe_size();
                self.request_redraw();
            }
            Key::Ctrl('n') => self.toggle_view_mode(),
            Key::Ctrl('e') => _ = self.world.jump_to_activity(self.user),
            Key::Ctrl('a') => self.world.cycle_window(self.user, -1),
            Key::Ctrl('x') => self.world.cycle_window(self.user, 1),
            Key::CursorReport { row, col } => {
                self.cursor_report(col, row);
                return Flow::Continue;
            }
            Key::Tab => self.complete_nick(),
            Key::Escape | Key::Ctrl(_) => {}
        }
        // A keypress means the user is looking: what the screen shows is read now.
        if let Ui::Vt100(vt) = &self.ui
            && let Some((channel, upto)) = vt.seen_upto()
        {
            self.world.mark_read(self.user, channel, upto);
        }
        Flow::Continue
    }

    /// Tab: completes the nick before the cursor, or shows the next candidate.
    fn complete_nick(&mut self) {
        let completion = match self.completion.take() {
            Some(mut completion) => {
                completion.index = (completion.index + 1) % (completion.candidates.len() + 1);
                completion
            }
            None => {
                let chars = self.line.chars();
                // The editor keeps its cursor within the line; the bound makes that no
                // precondition of this slice.
                let cursor = self.line.cursor().min(chars.len());
                let start = chars[..cursor]
                    .iter()
                    .rposition(|c| *c == ' ')
                    .map_or(0, |i| i + 1);
                let typed: String = chars[start..cursor].iter().collect();
                if typed.is_empty() {
                    return;
                }
                let lowered = typed.to_lowercase();
                let candidates: Vec<String> = self
                    .world
                    .completion_candidates(self.user)
                    .into_iter()
                    .filter(|nick| nick.to_lowercase().starts_with(&lowered))
                    .collect();
                if candidates.is_empty() {
                    return;
                }
                Box::new(Completion {
                    start,
                    typed,
                    candidates,
                    index: 0,
                })
            }
        };
        let replacement = match completion.candidates.get(completion.index) {
            Some(nick) if completion.start == 0 => format!("{nick}: "),
            Some(nick) => format!("{nick} "),
            None => completion.typed.clone(),
        };
        self.line
            .replace_before_cursor(completion.start, &replacement);
        self.completion = Some(completion);
    }

    /// Renders everything the client has not seen yet, as text to encode and send.
    pub fn render(&mut self) -> String {
        let mut out = std::mem::take(&mut self.pending_output);
        let (cols, rows) = (usize::from(self.cols), usize::from(self.rows));
        let frame = match &mut self.ui {
            Ui::Teletype(teletype) => {
                let since = teletype.since();
                let Some(mut view) = self.world.view(self.user, since, rows * 4) else {
                    return out;
                };
                if since.is_some() && teletype.switched(&view) {
                    // The window changed between frames: fetch its tail instead.
                    match self.world.view(self.user, None, rows) {
                        Some(fresh) => view = fresh,
                        None => return out,
                    }
                }
                let wants = teletype.history_wants(&view, rows);
                let frame = self
                    .reads
                    .render(&self.world, self.user, &view, wants, |history| {
                        teletype.render(&view, &self.line, cols, rows, history)
                    });
                if !teletype.deferred {
                    // Everything printed has scrolled past the reader's eyes; while they read
                    // an older page, what is below it is not read yet.
                    self.world
                        .mark_read(self.user, view.channel, teletype.seen_upto(&view));
                }
                (view, frame)
            }
            Ui::Vt100(vt) => {
                let Some(view) = self.world.view(self.user, vt.since(), 2 * rows + 2) else {
                    return out;
                };
                let wants = vt.history_wants(&view);
                let frame = self
                    .reads
                    .render(&self.world, self.user, &view, wants, |history| {
                        vt.render(&view, history, &self.line)
                    });
                (view, frame)
            }
        };
        let (view, frame) = frame;
        // Notices stay until a frame showed them (not an echo of the input line, not the
        // "too small" page); they are this connection's, so marking them takes no world lock.
        let notices_shown = match &mut self.ui {
            Ui::Vt100(vt) => std::mem::take(&mut vt.notices_shown),
            Ui::Teletype(teletype) if teletype.deferred => 0,
            Ui::Teletype(_) => view.notices.len(),
        };
        self.notices.shown(notices_shown);
        self.waiting_for_store = view.waiting_for_store;
        if self.bell_due(&view) {
            out.push('\x07');
        }
        out.push_str(&frame);
        if std::mem::take(&mut self.probe_after_frame) {
            out.push_str(SIZE_PROBE);
            self.echo_cleanup_at = Some(Instant::now() + ECHO_CLEANUP_DELAY);
        }
        out
    }

    /// Whether this frame rings the bell (r0c §6.3): `/b1` for a new mention or private message
    /// in another window, `/b2` also in the active window, `/b3` for any new message; at most
    /// once a second and never right after the user pressed Enter.
    fn bell_due(&mut self, view: &View) -> bool {
        let new_hilight = view
            .hilight_windows
            .iter()
            .any(|w| !self.bells.hilights.contains(w));
        let new_activity = view
            .activity_windows
            .iter()
            .any(|w| !self.bells.activity.contains(w));
        let seen_from = match self.bells.active {
            Some((channel, next)) if channel == view.channel => next,
            _ => view.next_seq,
        };
        let fresh = || {
            view.messages
                .iter()
                .filter(|m| m.seq >= seen_from && m.author != view.nick)
        };
        let active_hilight = fresh().any(|m| {
            view.kind == ChannelKind::Direct
                || (!m.author.starts_with('-') && m.mentions(&view.nick, view.prefs.at_all))
        });
        let active_message = fresh().next().is_some();
        self.bells.hilights = view.hilight_windows.clone();
        self.bells.activity = view.activity_windows.clone();
        self.bells.active = Some((view.channel, view.next_seq));
        let wanted = match view.prefs.bell {
            0 => false,
            1 => new_hilight,
            2 => new_hilight || active_hilight,
            _ => new_hilight || active_hilight || new_activity || active_message,
        };
        let just_sent = self
            .bells
            .last_enter
            .is_some_and(|t| t.elapsed() < QUIET_AFTER_ENTER);
        wanted && !just_sent && self.bell_allowed()
    }

    fn bell_allowed(&mut self) -> bool {
        let now = Instant::now();
        if self
            .bells
            .last
            .is_some_and(|t| now.duration_since(t) < BELL_INTERVAL)
        {
            return false;
        }
        self.bells.last = Some(now);
        true
    }

    /// The last bytes of a chat that ends in order (`/quit`, shutdown): the full-screen UI
    /// releases the scroll region once more (every frame already released the one it set), so
    /// the user's shell scrolls normally again whatever else drew on the terminal.
    pub fn farewell(&mut self) -> &'static str {
        match &mut self.ui {
            Ui::Vt100(vt) => vt.release_region(),
            Ui::Teletype(_) => "",
        }
    }

    /// Text to show before the next frame (answers that are not chat lines).
    pub fn push_output(&mut self, text: &str) {
        self.pending_output.push_str(text);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::store::Store;
    use crate::term::charset::{Decoder, encode};
    use crate::world::WorldSettings;

    /// A world over a fresh store in `dir`, with small history limits (the IRC session's
    /// tests use it too).
    pub(crate) fn world(dir: &std::path::Path) -> Arc<World> {
        let store = Arc::new(Store::open(&dir.join("r0c.db")).expect("store"));
        let settings = WorldSettings {
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

    /// Every line of the user's status window, without formatting.
    pub(super) fn status_lines(world: &World, user: UserId) -> Vec<String> {
        world.store().flush();
        world.switch_window(user, 0);
        let view = world.view(user, None, usize::MAX).expect("view");
        view.messages
            .iter()
            .map(|m| crate::text::strip_formatting(&m.text))
            .collect()
    }

    #[test]
    fn every_command_in_the_table_runs_and_help_lists_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let world = world(dir.path());
        let (user, _) = world.connect(IpAddr::V4(Ipv4Addr::LOCALHOST), "hi".into());
        let mut session = Session::new(user, world.clone());
        let help = crate::command::help::help_page("commands").expect("help page");
        for command in crate::command::table::COMMANDS {
            for name in command.names {
                assert!(
                    help.contains(&format!("/{name}")),
                    "/help commands lists /{name}"
                );
                if matches!(*name, "quit" | "q" | "exit" | "sd") {
                    continue;
                }
                let flow = session.execute(&format!("/{name}"));
                assert_eq!(flow, Flow::Continue);
                let said = status_lines(&world, user);
                assert!(
                    !said.iter().any(|l| l.contains("invalid command")),
                    "/{name} runs: {said:?}"
                );
            }
        }
        session.execute("/nosuchcommand");
        let said = status_lines(&world, user);
        assert!(said.iter().any(|l| l.contains("invalid command")));
    }

    #[test]
    fn help_teaches_every_command_and_key_the_readme_teaches() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        // What the README teaches users is in its section on connecting.
        let start = readme
            .find("## Connecting")
            .expect("the README has a Connecting section");
        let readme = &readme[start..];
        let readme = &readme[..readme[3..]
            .find("\n## ")
            .map_or(readme.len(), |end| end + 3)];
        let help = format!(
            "{}\n{}",
            crate::command::help::help_page("commands").expect("commands"),
            crate::command::help::help_page("hotkeys").expect("hotkeys")
        );
        let words = readme.split(|c: char| c.is_whitespace() || "`(),;|".contains(c));
        let mut checked = 0;
        for word in words {
            let command = word.strip_prefix('/').filter(|w| {
                !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'?')
            });
            if let Some(command) = command {
                // Paths like /dev/tcp are not commands; anything else the README shows is.
                if crate::command::table::find(command).is_some() || !word[1..].contains('/') {
                    assert!(
                        help.contains(&format!("/{command}")),
                        "/help lists /{command}"
                    );
                    checked += 1;
                }
            }
            if word.starts_with("CTRL-") && word.len() == 6 {
                assert!(help.contains(word), "/help hotkeys lists {word}");
                checked += 1;
            }
        }
        for key in ["Tab", "PgUp", "PgDn"] {
            assert!(help.contains(key), "{key}");
        }
        assert!(checked > 20, "the README was read: {checked}");
    }

    /// Renders a frame in `charset` and reads it back the way that client's terminal shows it.
    fn screen_in(session: &mut Session, charset: Charset) -> vt100::Parser {
        session.set_charset(charset);
        let mut bytes = Vec::new();
        encode(charset, &session.render(), &mut bytes);
        let mut text = String::new();
        Decoder::new(charset).decode(&bytes, &mut text);
        let size = |v: u16| std::num::NonZeroU16::new(v).expect("size");
        let mut parser = vt100::Parser::new(size(24), size(80), 0);
        parser.process(text.as_bytes());
        parser
    }

    #[test]
    fn a_teletype_window_switch_keeps_the_feedback_that_came_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let world = world(dir.path());
        let (user, _) = world.connect(IpAddr::V4(Ipv4Addr::LOCALHOST), "hi".into());
        let mut session = Session::new(user, world.clone());
        session.configure(&crate::session::settings::ClientSettings {
            vt100: false,
            ..Default::default()
        });
        crate::history::join_blocking(&world, user, "a").expect("join");
        world.store().flush();
        let _ = session.render();
        // Feedback in #a, then a switch to #b, both before the next frame.
        world.tell(user, crate::world::AUTHOR_INFO, "feedback from before");
        crate::history::join_blocking(&world, user, "b").expect("join");
        world.store().flush();
        let frame = session.render();
        assert!(frame.contains("feedback from before"), "{frame:?}");
    }

    #[test]
    fn a_line_buffered_client_scrolls_with_the_keys_of_its_line_and_gets_its_probe_last() {
        let dir = tempfile::tempdir().expect("tempdir");
        let world = world(dir.path());
        let (user, _) = world.connect(IpAddr::V4(Ipv4Addr::LOCALHOST), "hi".into());
        let mut session = Session::new(user, world.clone());
        session.configure(&crate::session::settings::ClientSettings {
            linemode: true,
            echo: true,
            ..Default::default()
        });
        crate::history::join_blocking(&world, user, "g").expect("join");
        world.fill(user, 60, "f").expect("fill");
        world.store().flush();
        session.probe_size();
        let first = session.render();
        // The probe comes after the frame, so the terminal's echo of the answer lands on the
        // input line, which is drawn again a moment later.
        assert!(first.ends_with(SIZE_PROBE), "{first:?}");
        assert!(session.echo_cleanup_at().is_some());
        session.clean_echo();
        let again = session.render();
        assert!(again.contains("please press ENTER"), "{again:?}");
        assert!(session.echo_cleanup_at().is_none());
        // PgUp twice and Enter in one read: the redraw shows the page two steps back.
        let mut parser = vt100::Parser::new(
            std::num::NonZeroU16::new(24).expect("rows"),
            std::num::NonZeroU16::new(80).expect("cols"),
            0,
        );
        parser.process(first.as_bytes());
        parser.process(again.as_bytes());
        assert!(parser.screen().contents().contains(" f 59"));
        let _ = session.handle_text("\x1b[5~\x1b[5~\n");
        parser.process(session.render().as_bytes());
        let bottom = parser.screen().contents_between(21, 0, 21, 80);
        assert!(
            bottom.trim_end().ends_with(" f 19"),
            "{}",
            parser.screen().contents()
        );
    }

    #[test]
    fn every_charset_keeps_the_layout_aligned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let world = world(dir.path());
        let welcome = crate::session::texts::welcome(true, None);
        let (user, _) = world.connect(IpAddr::V4(Ipv4Addr::LOCALHOST), welcome);
        crate::history::join_blocking(&world, user, "g").expect("join");
        world
            .say(user, "boxes ├┐ ┌┬┐ ┌ and 日本 and Ð")
            .expect("say");
        // Messages are shown once the store has committed them.
        world.store().flush();
        let mut session = Session::new(user, world.clone());
        let reference = screen_in(&mut session, Charset::Utf8);
        let row_of = |parser: &vt100::Parser| {
            (1..22)
                .find(|&r| {
                    parser
                        .screen()
                        .contents_between(r, 0, r, 80)
                        .contains("boxes")
                })
                .expect("row")
        };
        let utf8_row = row_of(&reference);
        for charset in Charset::ALL {
            let parser = screen_in(&mut session, charset);
            let row = row_of(&parser);
            let line = parser.screen().contents_between(row, 0, row, 80);
            let reference_line = reference
                .screen()
                .contents_between(utf8_row, 0, utf8_row, 80);
            assert_eq!(
                crate::term::width::str_width(line.trim_end()),
                crate::term::width::str_width(reference_line.trim_end()),
                "{} keeps every column in place: {line:?}",
                charset.name()
            );
            let status = parser.screen().contents_between(22, 0, 22, 80);
            assert!(
                status.contains("1: #g(1)"),
                "{}: {status:?}",
                charset.name()
            );
            if charset == Charset::Ascii {
                assert!(
                    line.contains("boxes ++ +++ +"),
                    "ascii draws boxes with +: {line:?}"
                );
            }
        }
    }
}
