//! r0c's wire debugging: console hexdumps (`--hex-rx`, `--hex-tx`), per-connection wire logs
//! (`--log-rx`, `--log-tx`) and `--dbg` lines, in r0c 1.6.1's formats.
//!
//! Connections never write to the console or to a file themselves: they format what they
//! have and hand it to one writer thread through a bounded queue. When the queue is full the
//! item is dropped and counted (the writer thread reports the count), so a slow terminal, a
//! full pipe or a slow disk never holds up a client. With every flag off there is no
//! [`Diag`] at all, and a connection pays one branch per read and write.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::DiagSettings;

/// Items (console lines in a batch, or a wire-log chunk) waiting for the writer thread; past
/// this, new ones are dropped and counted.
const QUEUE_CAPACITY: usize = 4096;
/// How often the writer thread reports dropped items, at most.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// Which way bytes went, as r0c marks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the client: `-->>` on the console, `>` in wire logs.
    Received,
    /// To the client: `<<--` on the console, `<` in wire logs.
    Sent,
}

impl Direction {
    fn console_prefix(self) -> &'static str {
        match self {
            Direction::Received => "-->>",
            Direction::Sent => "<<--",
        }
    }

    fn file_prefix(self) -> &'static str {
        match self {
            Direction::Received => ">",
            Direction::Sent => "<",
        }
    }
}

/// What the writer thread is asked to do.
enum Job {
    /// Print these lines to stdout, each with r0c's `HHMMSS ` prefix.
    Console(Vec<String>),
    /// Create the wire log of connection `id`.
    Open {
        id: u64,
        peer: SocketAddr,
        at_ms: i64,
    },
    /// Append a chunk to the wire log of connection `id`.
    Chunk {
        id: u64,
        direction: Direction,
        at_ms: i64,
        bytes: Vec<u8>,
    },
    /// Write the closing time into the wire log of connection `id` and close it.
    Close { id: u64, at_ms: i64 },
}

/// The shared half: settings, the queue to the writer thread and its counters.
pub struct Diag {
    settings: DiagSettings,
    jobs: SyncSender<Job>,
    /// Items dropped because the queue was full, not yet reported.
    dropped: Arc<AtomicU64>,
    /// Wire logs to close whose `Close` did not fit into the queue; the writer thread closes
    /// them on its next turn, so a full queue never leaves a file open for good.
    late_closes: Arc<Mutex<Vec<(u64, i64)>>>,
    next_id: AtomicU64,
}

impl Diag {
    /// Starts the writer thread when any of `settings` is on; wire logs go into
    /// `<app_dir>/log/wire/` (r0c's place), which is created private if needed.
    pub fn start(settings: &DiagSettings, app_dir: &Path) -> std::io::Result<Option<Arc<Diag>>> {
        if !settings.any() {
            return Ok(None);
        }
        let wire_dir = app_dir.join("log").join("wire");
        if settings.log_rx || settings.log_tx {
            use std::os::unix::fs::DirBuilderExt;
            // Wire logs hold everything users typed, passwords for /auth included.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&wire_dir)?;
        }
        let (jobs, receiver) = std::sync::mpsc::sync_channel(QUEUE_CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        let late_closes = Arc::new(Mutex::new(Vec::new()));
        let writer = Writer {
            wire_dir,
            files: HashMap::new(),
            dropped: dropped.clone(),
            late_closes: late_closes.clone(),
        };
        std::thread::Builder::new()
            .name("r0c-diag".into())
            .spawn(move || writer.run(&receiver))?;
        Ok(Some(Arc::new(Diag {
            settings: settings.clone(),
            jobs,
            dropped,
            late_closes,
            next_id: AtomicU64::new(0),
        })))
    }

    /// The debugging handle of a new connection from `peer`; its wire log (if any) is opened
    /// now and closed when the handle is dropped.
    pub fn connection(self: &Arc<Diag>, peer: SocketAddr) -> Wire {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let logs = self.settings.log_rx || self.settings.log_tx;
        if logs {
            self.send(Job::Open {
                id,
                peer,
                at_ms: now_ms(),
            });
        }
        Wire {
            diag: self.clone(),
            id,
            logs,
        }
    }

    /// Whether `--dbg` is on.
    pub fn dbg(&self) -> bool {
        self.settings.dbg
    }

    /// Prints one line to the console (its control characters escaped).
    pub fn say(&self, line: &str) {
        self.send(Job::Console(vec![escape_controls(line)]));
    }

    fn send(&self, job: Job) {
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(Job::Close { id, at_ms })) => {
                if let Ok(mut late) = self.late_closes.lock() {
                    late.push((id, at_ms));
                }
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl std::fmt::Debug for Diag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Diag")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// One connection's debugging handle.
pub struct Wire {
    diag: Arc<Diag>,
    id: u64,
    logs: bool,
}

impl Wire {
    /// The client sent `bytes`.
    pub fn received(&self, bytes: &[u8]) {
        self.chunk(
            Direction::Received,
            bytes,
            self.diag.settings.hex_rx,
            self.diag.settings.log_rx,
        );
    }

    /// `bytes` were written to the client.
    pub fn sent(&self, bytes: &[u8]) {
        self.chunk(
            Direction::Sent,
            bytes,
            self.diag.settings.hex_tx,
            self.diag.settings.log_tx,
        );
    }

    /// Whether `--dbg` is on.
    pub fn dbg(&self) -> bool {
        self.diag.dbg()
    }

    /// Prints `--dbg` lines (their control characters escaped).
    pub fn debug(&self, lines: Vec<String>) {
        if !lines.is_empty() {
            self.diag.send(Job::Console(
                lines.iter().map(|l| escape_controls(l)).collect(),
            ));
        }
    }

    fn chunk(&self, direction: Direction, bytes: &[u8], dump: bool, log: bool) {
        if bytes.is_empty() {
            return;
        }
        if dump {
            let settings = &self.diag.settings;
            let lines = if bytes.len() as u64 >= settings.hex_lim {
                vec![format!(
                    "{}       :  [{} byte]",
                    direction.console_prefix(),
                    bytes.len()
                )]
            } else {
                console_hexdump(bytes, direction.console_prefix(), settings.hex_width)
            };
            self.diag.send(Job::Console(lines));
        }
        if log {
            self.diag.send(Job::Chunk {
                id: self.id,
                direction,
                at_ms: now_ms(),
                bytes: bytes.to_vec(),
            });
        }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        if self.logs {
            self.diag.send(Job::Close {
                id: self.id,
                at_ms: now_ms(),
            });
        }
    }
}

/// The writer thread's state: the open wire logs.
struct Writer {
    wire_dir: PathBuf,
    files: HashMap<u64, std::io::BufWriter<std::fs::File>>,
    dropped: Arc<AtomicU64>,
    late_closes: Arc<Mutex<Vec<(u64, i64)>>>,
}

impl Writer {
    fn run(mut self, jobs: &Receiver<Job>) {
        let mut last_drop_report = std::time::Instant::now();
        loop {
            match jobs.recv_timeout(Duration::from_secs(1)) {
                Ok(job) => {
                    self.handle(job);
                    // Everything queued meanwhile, then one flush for the lot.
                    while let Ok(job) = jobs.try_recv() {
                        self.handle(job);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.close_all();
                    return;
                }
            }
            let late = self
                .late_closes
                .lock()
                .map(|mut late| std::mem::take(&mut *late))
                .unwrap_or_default();
            for (id, at_ms) in late {
                self.close(id, at_ms);
            }
            if last_drop_report.elapsed() >= DROP_REPORT_INTERVAL {
                let dropped = self.dropped.swap(0, Ordering::Relaxed);
                if dropped > 0 {
                    print_lines(&[format!(
                        "[!] {dropped} hexdumps or wire-log chunks dropped: the console or disk is too slow"
                    )]);
                }
                last_drop_report = std::time::Instant::now();
            }
            for file in self.files.values_mut() {
                let _ = file.flush();
            }
            let _ = std::io::stdout().flush();
        }
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Console(lines) => print_lines(&lines),
            Job::Open { id, peer, at_ms } => match self.create(peer, at_ms) {
                Ok(mut file) => {
                    let _ = writeln!(file, "{at_ms}");
                    self.files.insert(id, file);
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot create a wire log in {}", self.wire_dir.display());
                }
            },
            Job::Chunk {
                id,
                direction,
                at_ms,
                bytes,
            } => {
                if let Some(file) = self.files.get_mut(&id) {
                    let mut text = format!("{at_ms}\n");
                    file_hexdump(&bytes, direction.file_prefix(), &mut text);
                    let _ = file.write_all(text.as_bytes());
                }
            }
            Job::Close { id, at_ms } => self.close(id, at_ms),
        }
    }

    /// Creates `<unixtime>_<ip>_<port>`, with `_` appended while the name is taken.
    fn create(
        &self,
        peer: SocketAddr,
        at_ms: i64,
    ) -> std::io::Result<std::io::BufWriter<std::fs::File>> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut name = format!("{}_{}_{}", at_ms / 1000, peer.ip(), peer.port());
        loop {
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(self.wire_dir.join(&name));
            match opened {
                Ok(file) => return Ok(std::io::BufWriter::new(file)),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => name.push('_'),
                Err(error) => return Err(error),
            }
        }
    }

    fn close(&mut self, id: u64, at_ms: i64) {
        if let Some(mut file) = self.files.remove(&id) {
            let _ = writeln!(file, "{at_ms}");
            let _ = file.flush();
        }
    }

    fn close_all(&mut self) {
        let now = now_ms();
        let ids: Vec<u64> = self.files.keys().copied().collect();
        for id in ids {
            self.close(id, now);
        }
    }
}

/// Prints lines with r0c's `HHMMSS ` UTC prefix; a closed stdout only loses them.
fn print_lines(lines: &[String]) {
    let stamp = jiff::Timestamp::now().strftime("%H%M%S").to_string();
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(stdout, "{stamp} {line}");
    }
}

/// Milliseconds since the epoch, as r0c's wire logs count them.
fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// r0c's console hexdump of `bytes`: per line `<prefix><offset, hex, 8 wide>  <hex bytes in
/// blocks of 8> <ASCII>`, `width` bytes a line; bytes outside printable ASCII show as `.`,
/// so nothing a peer sends reaches the console raw.
pub fn console_hexdump(bytes: &[u8], prefix: &str, width: usize) -> Vec<String> {
    const BLOCK: usize = 8;
    let width = width.max(BLOCK) / BLOCK * BLOCK;
    // The hex column of a full line: 3 characters a byte, plus one between blocks.
    let hex_column = width * 3 + width / BLOCK - 1;
    let mut lines = Vec::new();
    for (index, line) in bytes.chunks(width).enumerate() {
        let mut hex = String::with_capacity(hex_column + 1);
        let mut ascii = String::with_capacity(width + width / BLOCK);
        for (block_index, block) in line.chunks(BLOCK).enumerate() {
            if block_index > 0 {
                hex.push(' ');
                ascii.push(' ');
            }
            for &byte in block {
                hex.push_str(&format!("{byte:02x} "));
                ascii.push(printable(byte));
            }
        }
        let pad = hex_column.saturating_sub(hex.len());
        lines.push(format!(
            "{prefix}{:8x}  {hex}{:pad$} {ascii}",
            index * width,
            ""
        ));
    }
    lines
}

/// r0c's wire-log hexdump of `bytes`: lines of 4 bytes, `<prefix> <hex bytes> <ASCII>`, with
/// the hex column padded to 12 characters.
pub fn file_hexdump(bytes: &[u8], prefix: &str, out: &mut String) {
    for line in bytes.chunks(4) {
        out.push_str(prefix);
        out.push(' ');
        for &byte in line {
            out.push_str(&format!("{byte:02x} "));
        }
        for _ in line.len()..4 {
            out.push_str("   ");
        }
        out.extend(line.iter().map(|&b| printable(b)));
        out.push('\n');
    }
}

fn printable(byte: u8) -> char {
    if (0x20..0x7f).contains(&byte) {
        char::from(byte)
    } else {
        '.'
    }
}

/// `text` with every control character (C0, DEL, C1) written as `\xNN` (`\u{NNNN}` above
/// 0xFF), so a line that quotes a peer cannot move the operator's cursor or change colours.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            let code = u32::from(c);
            if code <= 0xff {
                out.push_str(&format!("\\x{code:02x}"));
            } else {
                out.push_str(&format!("\\u{{{code:04x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Telnet option names (the IANA registry) for `--dbg` lines.
pub fn telnet_option_name(option: u8) -> &'static str {
    const NAMES: [&str; 40] = [
        "BINARY (Binary Transmission)",
        "ECHO (Echo)",
        "RCP (Reconnection)",
        "SGA (Suppress Go Ahead)",
        "NAMS (Approx Message Size Negotiation)",
        "STATUS (Status)",
        "TM (Timing Mark)",
        "RCTE (Remote Controlled Trans and Echo)",
        "NAOL (Output Line Width)",
        "NAOP (Output Page Size)",
        "NAOCRD (Output Carriage-Return Disposition)",
        "NAOHTS (Output Horizontal Tab Stops)",
        "NAOHTD (Output Horizontal Tab Disposition)",
        "NAOFFD (Output Formfeed Disposition)",
        "NAOVTS (Output Vertical Tabstops)",
        "NAOVTD (Output Vertical Tab Disposition)",
        "NAOLFD (Output Linefeed Disposition)",
        "XASCII (Extended ASCII)",
        "LOGOUT (Logout)",
        "BM (Byte Macro)",
        "DET (Data Entry Terminal)",
        "SUPDUP (SUPDUP)",
        "SUPDUPOUTPUT (SUPDUP Output)",
        "SNDLOC (Send Location)",
        "TTYPE (Terminal Type)",
        "EOR (End of Record)",
        "TUID (TACACS User Identification)",
        "OUTMRK (Output Marking)",
        "TTYLOC (Terminal Location Number)",
        "3270REGIME (Telnet 3270 Regime)",
        "X3PAD (X.3 PAD)",
        "NAWS (Negotiate About Window Size)",
        "TSPEED (Terminal Speed)",
        "LFLOW (Remote Flow Control)",
        "LINEMODE (Linemode)",
        "XDISPLOC (X Display Location)",
        "OLD_ENVIRON (Environment Option)",
        "AUTHENTICATION (Authentication Option)",
        "ENCRYPT (Encryption Option)",
        "NEW_ENVIRON (New Environment Option)",
    ];
    match option {
        0xff => "EXOPL (Extended-Options-List)",
        _ => NAMES
            .get(usize::from(option))
            .copied()
            .unwrap_or("(unknown)"),
    }
}

/// Telnet's four negotiation verbs by name, for `--dbg` lines.
pub fn telnet_verb_name(verb: u8) -> &'static str {
    match verb {
        0xfb => "WILL",
        0xfc => "WONT",
        0xfd => "DO",
        0xfe => "DONT",
        _ => "?",
    }
}

/// Bytes as r0c's `--dbg` lines show them: lower-case hex separated by spaces.
pub fn hex_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_dump_is_r0cs() {
        let bytes = b"\xff\xfb\x18\xff\xfd\x03\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0";
        assert_eq!(
            console_hexdump(bytes, "-->>", 16),
            ["-->>       0  ff fb 18 ff fd 03 ff fa  1f 00 50 00 18 ff f0     ........ ..P...."]
        );
        let bytes = b"\x1b[31mqwer\x07 asdf\n\n";
        assert_eq!(
            console_hexdump(bytes, "-->>", 16),
            [
                "-->>       0  1b 5b 33 31 6d 71 77 65  72 07 20 61 73 64 66 0a  .[31mqwe r. asdf.",
                "-->>      10  0a                                                .",
            ]
        );
        assert_eq!(
            console_hexdump(b"\xff\xfb\x03", "<<--", 16),
            ["<<--       0  ff fb 03                                          ..."]
        );
        // Eight bytes a line: no block separator, and the same column rule.
        assert_eq!(
            console_hexdump(b"abcdefghi", ">", 8),
            [
                ">       0  61 62 63 64 65 66 67 68  abcdefgh",
                ">       8  69                       i"
            ]
        );
    }

    #[test]
    fn file_dump_is_r0cs() {
        let mut out = String::new();
        file_hexdump(
            b"\xff\xfb\x18\xff\xfd\x03\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0",
            ">",
            &mut out,
        );
        assert_eq!(
            out,
            "> ff fb 18 ff ....\n> fd 03 ff fa ....\n> 1f 00 50 00 ..P.\n> 18 ff f0    ...\n"
        );
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(
            escape_controls("a\x1b[31mb\x07\u{9b}c"),
            "a\\x1b[31mb\\x07\\x9bc"
        );
        assert_eq!(escape_controls("plain ÿ"), "plain ÿ");
    }
}
