//! r0c 1.6.1's own stress testers, `stress.py` and `astress.py` from `../shared/r0c-testers/`,
//! against the real binary at the default limits: every one of their clients, all from
//! 127.0.0.1, passes the wizard by the testers' own account, every one of them gets a message
//! into the chat (found in the server's database), and the server refuses no connection.
//!
//! The testers run unchanged but for their scale (their README: copy one to a temporary folder
//! and lower `NUM_CLIENTS`; `VISUAL_CLIENT` off so that they print their clients' stages
//! instead of every screen). Their clients outnumber `--max-per-ip` and `--conn-rate` many
//! times over, so this fails unless loopback is exempt by default. This is a test binary of
//! its own because cargo runs test binaries one after another: hundreds of Python clients
//! would crowd the integration tests that run beside them.

#[path = "../it/support.rs"]
// This binary uses only a few of the helpers the integration tests share.
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use support::{TestClient, data_dir, lines_of, original_r0c};

/// The testers, relative to the repository (CI clones it with `shared/` beside it).
const TESTERS: &str = "../shared/r0c-testers";
/// Clients per tester, as the testers' README suggests for a test on two cores.
const ASTRESS_CLIENTS: usize = 150;
/// stress.py starts its clients 32 to a process, so this is four processes.
const STRESS_CLIENTS: usize = 128;
/// How long the testers may take for what they do in seconds when all is well (connecting
/// 150 clients 70 ms apart, typing the wizard's test text at 0.1 s a key); reached only when
/// something stalls.
const STALL_BOUND: Duration = Duration::from_secs(240);

/// The two testers share the two cores one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A running child process (a server or a tester) with its output collected line by line.
/// It leads a process group of its own, so that dropping it ends it with every process it
/// started (stress.py's workers), even when a test fails half-way.
struct Running {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// Every line read so far, for the checks and for failure messages.
    seen_out: Vec<String>,
    seen_err: Vec<String>,
}

impl Running {
    fn start(mut command: Command) -> Running {
        use std::os::unix::process::CommandExt;
        let mut child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
        let stdout = lines_of(child.stdout.take().expect("stdout is piped"));
        let stderr = lines_of(child.stderr.take().expect("stderr is piped"));
        Running {
            child,
            stdout,
            stderr,
            seen_out: Vec::new(),
            seen_err: Vec::new(),
        }
    }

    /// Reads stdout until `done` accepts a line (which it returns) or `by`, checking each
    /// line read (and stderr's) with `check`.
    fn until(
        &mut self,
        by: Instant,
        what: &str,
        check: &dyn Fn(&str),
        done: &dyn Fn(&str) -> bool,
    ) -> String {
        loop {
            self.drain_stderr(check);
            let left = by.saturating_duration_since(Instant::now());
            match self
                .stdout
                .recv_timeout(left.min(Duration::from_millis(500)))
            {
                Ok(line) => {
                    check(&line);
                    self.seen_out.push(line.clone());
                    if done(&line) {
                        return line;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {}
                Err(_) => panic!(
                    "never {what}; last output:\n{}\nstderr:\n{}",
                    tail(&self.seen_out),
                    tail(&self.seen_err)
                ),
            }
        }
    }

    fn drain_stderr(&mut self, check: &dyn Fn(&str)) {
        while let Ok(line) = self.stderr.try_recv() {
            check(&line);
            self.seen_err.push(line);
        }
    }

    fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: kill only sends a signal to our own child process.
        #[allow(unsafe_code)]
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "signal {signal} to {pid}");
    }

    /// Waits until the process exits by itself, up to `bound`.
    fn wait(&mut self, bound: Duration) -> std::process::ExitStatus {
        let by = Instant::now() + bound;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < by, "the process did not end");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: the group is the one this child leads (`process_group(0)`): it and the
            // processes it started, nothing else.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }
}

/// The last lines of some output, shortened, for a failure message.
fn tail(lines: &[String]) -> String {
    let start = lines.len().saturating_sub(8);
    lines[start..]
        .iter()
        .map(|line| line.chars().take(400).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The r0c binary, as a user starts it: the default limits, and RUST_LOG=info so that every
/// refusal is logged. Its ports are found free first; the web terminal, whose default port
/// is fixed, is off since tests run side by side.
fn start_server(dir: &Path) -> (Running, u16, u16) {
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port()
    };
    let (telnet, raw) = (free(), free());
    let mut command = Command::new(env!("CARGO_BIN_EXE_r0c"));
    command
        .env("RUST_LOG", "info")
        .arg("--dir")
        .arg(dir)
        .args(["-i", "127.0.0.1", "--web", "0", "--irc-listen", "0"])
        .args(["-pt", &telnet.to_string(), "-pn", &raw.to_string()]);
    let mut server = Running::start(command);
    let by = Instant::now() + Duration::from_secs(30);
    let no_check = |_: &str| {};
    server.until(by, "reported its limits", &no_check, &|line| {
        line.contains("Connection limits:")
    });
    let exempt = server.until(by, "reported its exemptions", &no_check, &|line| {
        line.contains("Exempt from the per-address limits")
    });
    assert!(exempt.contains("127.0.0.0/8,::1/128"), "{exempt}");
    server.until(by, "came up", &no_check, &|line| line.contains("r0c is up"));
    let limits = server
        .seen_out
        .iter()
        .find(|line| line.contains("Connection limits:"))
        .cloned()
        .unwrap_or_default();
    assert!(
        limits.contains("16 per address, 32 new per address per 10 min"),
        "the limits are at their defaults: {limits}"
    );
    (server, telnet, raw)
}

/// Copies tester `name` into `dir` with the lines of `changes` replaced; each must be in
/// the tester exactly once, so a changed tester fails here rather than running at its full
/// scale.
fn scaled_copy(name: &str, dir: &Path, changes: &[(&str, String)]) -> PathBuf {
    let original = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(TESTERS)
        .join(name);
    let text = std::fs::read_to_string(&original).unwrap_or_else(|error| {
        panic!(
            "{}: {error} (the testers are in shared/ beside the repository)",
            original.display()
        )
    });
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (from, to) in changes {
        let found: Vec<usize> = (0..lines.len()).filter(|i| lines[*i] == *from).collect();
        assert_eq!(found.len(), 1, "{name} should have the line {from:?} once");
        lines[found[0]] = to.clone();
    }
    // In a folder of its own: the testers put their folder's parent on Python's path.
    let folder = dir.join("testers");
    std::fs::create_dir_all(&folder).expect("folder");
    let copy = folder.join(name);
    std::fs::write(&copy, lines.join("\n") + "\n").expect("copy");
    copy
}

/// Starts a scaled copy of tester `name` against telnet port `port`.
fn start_tester(name: &str, scratch: &Path, clients: usize, port: u16) -> Running {
    let original_clients = match name {
        "astress.py" => "NUM_CLIENTS = 750",
        _ => "NUM_CLIENTS = 512",
    };
    let copy = scaled_copy(
        name,
        scratch,
        &[
            (original_clients, format!("NUM_CLIENTS = {clients}")),
            ("VISUAL_CLIENT = True", "VISUAL_CLIENT = False".to_owned()),
        ],
    );
    let mut command = Command::new(original_r0c());
    command
        .arg("-u")
        .arg(&copy)
        .arg(port.to_string())
        .current_dir(scratch);
    Running::start(command)
}

/// What a tester must never print: r0c's wizard misjudged its client, a client met a
/// screen it does not know, or a Python exception (a connection reset, say).
fn tester_check(line: &str) {
    for bad in ["thinks we are linemode", "u wot", "Traceback"] {
        assert!(!line.contains(bad), "the tester printed {line:?}");
    }
}

/// The status line the testers print (with `VISUAL_CLIENT` off) lists each client's stage;
/// past the wizard, a client's stage is `nick:...`. Returns (past the wizard, clients listed).
fn past_wizard(line: &str) -> (usize, usize) {
    let stages: Vec<&str> = line
        .split(", ")
        .map(str::trim)
        .filter(|stage| !stage.is_empty())
        .collect();
    let past = stages
        .iter()
        .filter(|stage| {
            stage
                .split_once(':')
                .is_some_and(|(nick, _)| !nick.is_empty())
        })
        .count();
    (past, stages.len())
}

/// Waits until `clients` different nicks have a message whose text matches `pattern` (an
/// SQLite GLOB) in the server's database, which shows only what was committed; the server
/// keeps running meanwhile, and the database is read as a second, read-only connection.
fn wait_for_authors(dir: &Path, pattern: &str, clients: usize, by: Instant) {
    use rusqlite::{Connection, OpenFlags};
    let database = Connection::open_with_flags(
        dir.join("r0c.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("the server's database");
    let mut authors = 0;
    while Instant::now() < by {
        authors = database
            .query_row(
                "SELECT COUNT(DISTINCT author) FROM message WHERE text GLOB ?1",
                [pattern],
                |row| row.get::<_, i64>(0),
            )
            .map_or(0, |n| usize::try_from(n).unwrap_or(0));
        if authors >= clients {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("only {authors} of {clients} clients got a message {pattern:?} into the chat");
}

/// The server logged no refusal (at info, each refused connection is one line).
fn assert_nothing_refused(server: &mut Running) {
    server.drain_stderr(&|_| {});
    let refused: Vec<&String> = server
        .seen_err
        .iter()
        .filter(|line| line.contains("refused"))
        .collect();
    assert!(refused.is_empty(), "the server refused: {refused:?}");
}

/// SIGINT, as a user stops the testers, then the tester ends by itself.
fn stop_tester(tester: &mut Running) {
    tester.signal(libc::SIGINT);
    let by = Instant::now() + Duration::from_secs(30);
    tester.until(by, "said the test ended", &tester_check, &|line| {
        line.contains("test ended")
    });
    let status = tester.wait(Duration::from_secs(30));
    assert!(status.success(), "the tester exited with {status}");
    tester.drain_stderr(&tester_check);
}

/// SIGTERM, then a clean shutdown.
fn stop_server(mut server: Running) {
    server.signal(libc::SIGTERM);
    let status = server.wait(Duration::from_secs(30));
    assert!(status.success(), "the server exited with {status}");
}

#[test]
fn astress_clients_all_pass_the_wizard_and_chat_at_the_default_limits() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (_keep, dir) = data_dir();
    let scratch = tempfile::tempdir().expect("scratch");
    let (mut server, telnet, raw) = start_server(&dir);
    let started = Instant::now();
    let mut tester = start_tester("astress.py", scratch.path(), ASTRESS_CLIENTS, telnet);
    let by = started + STALL_BOUND;
    tester.until(
        by,
        "had every client past the wizard",
        &tester_check,
        &|line| past_wizard(line) == (ASTRESS_CLIENTS, ASTRESS_CLIENTS),
    );
    let wizard_done = started.elapsed();

    // astress's clients wait for someone to say "ok go" in #1, then each says the time
    // (`time.time()`, like 1712345678.123) every 20 s, the first after 5 to 25 s.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let helper = runtime.block_on(async {
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], raw));
        let mut helper = TestClient::joined(address).await;
        helper.line("/join #1").await;
        helper.expect("has joined").await;
        helper.say("ok go").await;
        helper
    });
    wait_for_authors(&dir, "[1-9][0-9]*.[0-9]*", ASTRESS_CLIENTS, by);
    let chatted = started.elapsed();
    stop_tester(&mut tester);
    drop(helper);
    assert_nothing_refused(&mut server);
    stop_server(server);
    eprintln!(
        "astress.py, {ASTRESS_CLIENTS} clients: all past the wizard after {:.1} s, \
         a message from each after {:.1} s",
        wizard_done.as_secs_f64(),
        chatted.as_secs_f64()
    );
}

#[test]
fn stress_clients_all_pass_the_wizard_and_chat_at_the_default_limits() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (_keep, dir) = data_dir();
    let scratch = tempfile::tempdir().expect("scratch");
    let (mut server, telnet, _) = start_server(&dir);
    let started = Instant::now();
    let mut tester = start_tester("stress.py", scratch.path(), STRESS_CLIENTS, telnet);
    let by = started + STALL_BOUND;
    tester.until(
        by,
        "had every client past the wizard",
        &tester_check,
        &|line| past_wizard(line) == (STRESS_CLIENTS, STRESS_CLIENTS),
    );
    let wizard_done = started.elapsed();
    // Its clients hop between four channels, acting every 3 s: mostly messages like
    // `#2 17 40` (the channel, its message count, the event number).
    wait_for_authors(&dir, "#[1-4] [0-9]* [0-9]*", STRESS_CLIENTS, by);
    let chatted = started.elapsed();
    stop_tester(&mut tester);
    assert_nothing_refused(&mut server);
    stop_server(server);
    eprintln!(
        "stress.py, {STRESS_CLIENTS} clients: all past the wizard after {:.1} s, \
         a message from each after {:.1} s",
        wizard_done.as_secs_f64(),
        chatted.as_secs_f64()
    );
}

#[test]
fn the_status_lines_are_read_as_the_testers_print_them() {
    assert_eq!(past_wizard("abcdef:start, , na, qwer, "), (1, 3));
    assert_eq!(past_wizard("abcdef:ev.0, ghijkl:s8191,q0, "), (2, 2));
}
