//! Test helpers: an in-process server on 127.0.0.1:0 with a temporary data directory, and a
//! raw TCP client that collects what the server sends.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use r0c::config::Config;
use r0c::server::ListenerKind;
use r0c::server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a test waits for something it expects before failing.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A server running inside the test process.
pub struct TestServer {
    pub telnet: SocketAddr,
    pub raw: SocketAddr,
    /// The TLS listeners, when started with [`TestServer::start_with_tls`].
    pub tls_telnet: Option<SocketAddr>,
    pub tls_raw: Option<SocketAddr>,
    /// The web terminal, when started with [`TestServer::start_with_web`] (or its HTTPS
    /// twin, with [`TestServer::start_with_web_tls`]).
    pub web: Option<SocketAddr>,
    /// The ssh listener, when started with [`TestServer::start_with_ssh`].
    pub ssh: Option<SocketAddr>,
    /// The IRC listener, when started with [`TestServer::start_with_irc`] (or its TLS twin,
    /// with [`TestServer::start_with_irc_tls`]).
    pub irc: Option<SocketAddr>,
    /// The server's history store (tests fill its "disk").
    pub store: std::sync::Arc<r0c::store::Store>,
    /// The admission control of every listener.
    pub admission: std::sync::Arc<r0c::front::admission::Admission>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Starts a server with its data in `dir`, both listeners on 127.0.0.1 port 0.
    pub async fn start(dir: &Path) -> TestServer {
        TestServer::start_with(test_config(dir)).await
    }

    /// Starts a server with a prepared configuration (ports are replaced by port 0).
    pub async fn start_with(config: Config) -> TestServer {
        TestServer::start_kinds(config, &[ListenerKind::Telnet, ListenerKind::Raw]).await
    }

    /// Starts a server with all four listeners, the TLS ones included.
    pub async fn start_with_tls(config: Config) -> TestServer {
        TestServer::start_kinds(config, &ListenerKind::ALL).await
    }

    /// Starts a server with the telnet, raw and HTTPS web listeners.
    pub async fn start_with_web_tls(config: Config) -> TestServer {
        TestServer::start_kinds(
            config,
            &[
                ListenerKind::Telnet,
                ListenerKind::Raw,
                ListenerKind::WebTls,
            ],
        )
        .await
    }

    /// Starts a server with the telnet, raw and web listeners.
    pub async fn start_with_web(config: Config) -> TestServer {
        TestServer::start_kinds(
            config,
            &[ListenerKind::Telnet, ListenerKind::Raw, ListenerKind::Web],
        )
        .await
    }

    /// Starts a server with the telnet, raw and ssh listeners.
    pub async fn start_with_ssh(config: Config) -> TestServer {
        TestServer::start_kinds(
            config,
            &[ListenerKind::Telnet, ListenerKind::Raw, ListenerKind::Ssh],
        )
        .await
    }

    /// Starts a server with the telnet, raw and IRC listeners.
    pub async fn start_with_irc(config: Config) -> TestServer {
        TestServer::start_kinds(
            config,
            &[ListenerKind::Telnet, ListenerKind::Raw, ListenerKind::Irc],
        )
        .await
    }

    /// Starts a server with the telnet, raw and IRC-over-TLS listeners.
    pub async fn start_with_irc_tls(config: Config) -> TestServer {
        TestServer::start_kinds(
            config,
            &[
                ListenerKind::Telnet,
                ListenerKind::Raw,
                ListenerKind::IrcTls,
            ],
        )
        .await
    }

    async fn start_kinds(config: Config, kinds: &[ListenerKind]) -> TestServer {
        let any: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
        let plan = kinds.iter().map(|kind| (*kind, any)).collect();
        let server = Server::bind_to(config, plan).await.expect("server binds");
        let telnet = server
            .local_addr(ListenerKind::Telnet)
            .expect("telnet listener");
        let raw = server.local_addr(ListenerKind::Raw).expect("raw listener");
        let tls_telnet = server.local_addr(ListenerKind::TlsTelnet);
        let tls_raw = server.local_addr(ListenerKind::TlsRaw);
        let web = server
            .local_addr(ListenerKind::Web)
            .or(server.local_addr(ListenerKind::WebTls));
        let ssh = server.local_addr(ListenerKind::Ssh);
        let irc = server
            .local_addr(ListenerKind::Irc)
            .or(server.local_addr(ListenerKind::IrcTls));
        let shutdown = server.shutdown_token();
        let store = server.store();
        let admission = server.admission();
        let task = tokio::spawn(server.run());
        TestServer {
            telnet,
            raw,
            tls_telnet,
            tls_raw,
            web,
            ssh,
            irc,
            store,
            admission,
            shutdown,
            task,
        }
    }

    /// Waits until `count` connections are admitted and open: a client's connect returns
    /// when the kernel took it, which may be before the server's accept loop did.
    pub async fn wait_for_open_connections(&self, count: usize) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.admission.open_connections() != count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} connections open, waited for {count}",
                self.admission.open_connections()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Shuts the server down the way SIGTERM does and waits until it is done.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("server stops in time")
            .expect("server task");
    }
}

/// The configuration tests use: all defaults, data in `dir`.
pub fn test_config(dir: &Path) -> Config {
    Config::default_for_tests(dir.to_path_buf())
}

/// A temporary data directory.
pub fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_path_buf();
    (dir, path)
}

/// Collects a child process's stdout, line by line, in a background thread.
pub fn stdout_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    lines_of(child.stdout.take().expect("stdout is piped"))
}

/// The lines of `reader`, read by a thread of their own so the process never blocks on a
/// full pipe.
pub fn lines_of(reader: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (lines, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(reader)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Waits for a line containing `needle` from [`stdout_lines`]; fails after 20 s.
pub fn wait_for_line(lines: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let mut skipped = Vec::new();
    loop {
        match lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.contains(needle) => return line,
            Ok(line) => skipped.push(line),
            Err(_) => panic!(
                "the process never printed {needle:?}; it printed:\n{}",
                skipped.join("\n")
            ),
        }
    }
}

/// A client that sends raw bytes, keeps everything it receives, and feeds it to a terminal
/// emulator so tests can read the screen as a user sees it.
pub struct TestClient {
    stream: TcpStream,
    received: Vec<u8>,
    /// Text before this offset has been matched by `expect` already.
    seen: usize,
    /// The terminal the bytes are drawn on.
    terminal: vt100::Parser,
}

impl TestClient {
    /// Connects to `address`; the server's first-connect wizard is on screen.
    pub async fn connect(address: SocketAddr) -> TestClient {
        let stream = TcpStream::connect(address).await.expect("connect");
        TestClient::from_stream(stream)
    }

    /// A client on a connection the test set up itself (a chosen source address, a small
    /// receive buffer).
    pub fn from_stream(stream: TcpStream) -> TestClient {
        stream.set_nodelay(true).expect("nodelay");
        TestClient {
            stream,
            received: Vec::new(),
            seen: 0,
            terminal: terminal(80, 24),
        }
    }

    /// Connects and walks through the wizard like a terminal in character mode: keys one by
    /// one, Enter as LF, no local echo, colours work, UTF-8. On the telnet port it first sends
    /// a window size, as r0c's stress testers do (which also shows it speaks telnet).
    pub async fn configured(address: SocketAddr, telnet: bool) -> TestClient {
        let mut client = TestClient::connect(address).await;
        if telnet {
            client.send(b"\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0").await;
        }
        client.wizard().await;
        client
    }

    /// Answers the wizard's questions (see [`TestClient::configured`]). A returning address
    /// is asked to confirm its saved settings; the answer is yes, typed key by key.
    pub async fn wizard(&mut self) {
        if self
            .expect_either("verify that your config", "qwer asdf")
            .await
            == 0
        {
            for key in ["y", "\n", "\n"] {
                self.send(key.as_bytes()).await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // On a loaded machine the server may read the answer and its Enter in one read
            // and take the client for a line-buffered one ("linemode changed"); it then asks
            // for the typing test again, which is answered as a first visit is.
            if self
                .expect_either("r0c readme (and status info)", "definitely incorrect")
                .await
                == 0
            {
                return;
            }
        }
        for key in "qwer asdf\n\n".bytes() {
            self.send(&[key]).await;
            // Keys typed by hand arrive one per read; that is how the wizard tells them from a
            // line-buffered client.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.expect("nothing happened").await;
        self.send(b"b").await;
        self.expect("does colours work?").await;
        self.send(b"y").await;
        self.expect("which line looks like").await;
        self.send(b"a").await;
        self.expect("r0c readme (and status info)").await;
    }

    /// Connects to the raw port, walks through the wizard, and reports a 250x50 terminal
    /// (as a terminal answers a cursor-position probe) so chat lines are not wrapped.
    pub async fn joined(address: SocketAddr) -> TestClient {
        let mut client = TestClient::configured(address, false).await;
        client.expect("> ").await;
        client.report_size(250, 50).await;
        client
    }

    /// Reports a terminal size the way a terminal answers a cursor-position probe, and sizes
    /// the emulator to match.
    pub async fn report_size(&mut self, cols: u16, rows: u16) {
        self.terminal
            .screen_mut()
            .set_size(nonzero(rows), nonzero(cols));
        self.send(format!("\x1b[{rows};{cols}R").as_bytes()).await;
    }

    /// Sizes the emulator without telling the server (the server learns the size some other
    /// way, such as a telnet window-size report).
    pub fn set_terminal_size(&mut self, cols: u16, rows: u16) {
        self.terminal
            .screen_mut()
            .set_size(nonzero(rows), nonzero(cols));
    }

    /// Sends bytes as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send");
    }

    /// Types a line and presses Enter (LF, as netcat sends it).
    pub async fn line(&mut self, text: &str) {
        self.send(format!("{text}\n").as_bytes()).await;
    }

    /// Sends a chat line and waits until it is on this client's own screen, so the next line
    /// is read separately (lines that arrive in one read are one message: a paste).
    pub async fn say(&mut self, text: &str) {
        self.line(text).await;
        self.expect(text).await;
    }

    /// The client's end of the connection, as the server's log lines name it (`peer`).
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local address")
    }

    /// Everything received so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }

    /// Everything received so far, as bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.received
    }

    /// The screen's text, row by row.
    pub fn screen(&self) -> String {
        self.terminal.screen().contents()
    }

    /// One screen row (0 = top), without trailing blanks.
    pub fn row(&self, row: u16) -> String {
        let (_, cols) = self.terminal.screen().size();
        self.terminal
            .screen()
            .contents_between(row, 0, row, cols.get())
            .trim_end()
            .to_string()
    }

    /// The terminal emulator, for colours and the cursor.
    pub fn terminal(&self) -> &vt100::Screen {
        self.terminal.screen()
    }

    fn receive(&mut self, bytes: &[u8]) {
        self.received.extend_from_slice(bytes);
        self.terminal.process(bytes);
    }

    /// Reads until `needle` is on the screen, or appears in the byte stream after what earlier
    /// expectations matched; fails after [`PATIENCE`] with what did arrive.
    pub async fn expect(&mut self, needle: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let text = self.text();
            if let Some(position) = text.get(self.seen..).and_then(|rest| rest.find(needle)) {
                self.seen += position + needle.len();
                return;
            }
            if self.screen().contains(needle) {
                self.seen = text.len();
                return;
            }
            let mut buf = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) => panic!(
                    "connection closed while waiting for {needle:?}; screen:\n{}",
                    self.screen()
                ),
                Ok(Ok(n)) => self.receive(&buf[..n]),
                Ok(Err(error)) => panic!("read failed while waiting for {needle:?}: {error}"),
                Err(_) => panic!(
                    "timed out waiting for {needle:?}; screen:\n{}\nstream:\n{}",
                    self.screen(),
                    printable(&text)
                ),
            }
        }
    }

    /// Waits for the typing test; a returning address is first asked to confirm its saved
    /// settings, and answers no (as r0c's stress testers do), which leads to the test.
    pub async fn reach_typing_test(&mut self) {
        if self
            .expect_either("verify that your config", "qwer asdf")
            .await
            == 0
        {
            self.send(b"n\n\n").await;
            self.expect("qwer asdf").await;
        }
    }

    /// Reads until `first` or `second` arrives; tells which (0 or 1).
    pub async fn expect_either(&mut self, first: &str, second: &str) -> usize {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let text = self.text();
            let rest = text.get(self.seen..).unwrap_or_default();
            for (index, needle) in [first, second].into_iter().enumerate() {
                if let Some(position) = rest.find(needle) {
                    self.seen += position + needle.len();
                    return index;
                }
            }
            let mut buf = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => self.receive(&buf[..n]),
                _ => panic!(
                    "neither {first:?} nor {second:?} arrived; got:\n{}",
                    printable(&text)
                ),
            }
        }
    }

    /// Reads until screen row `row` (0 = top) contains `needle`.
    pub async fn expect_row(&mut self, row: u16, needle: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self.row(row).contains(needle) {
            let mut buf = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => self.receive(&buf[..n]),
                _ => panic!(
                    "row {row} never showed {needle:?}; screen:\n{}",
                    self.screen()
                ),
            }
        }
    }

    /// Reads until `done` holds for what arrived (the screen, the bytes); fails after
    /// [`PATIENCE`], saying `what` it waited for.
    pub async fn wait_until(&mut self, what: &str, done: impl Fn(&TestClient) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done(self) {
            let mut buf = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => self.receive(&buf[..n]),
                _ => panic!("never saw {what}; screen:\n{}", self.screen()),
            }
        }
    }

    /// Reads whatever arrives during `period`.
    pub async fn read_for(&mut self, period: Duration) {
        let deadline = tokio::time::Instant::now() + period;
        let mut buf = [0u8; 8192];
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            self.receive(&buf[..n]);
        }
    }

    /// Reads whatever arrives within `quiet` of silence.
    pub async fn drain(&mut self, quiet: Duration) {
        let mut buf = [0u8; 8192];
        while let Ok(Ok(n)) = tokio::time::timeout(quiet, self.stream.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            self.receive(&buf[..n]);
        }
    }

    /// Waits until the server closes the connection.
    pub async fn expect_closed(&mut self) {
        let mut buf = [0u8; 8192];
        loop {
            match tokio::time::timeout(PATIENCE, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => self.receive(&buf[..n]),
                Err(_) => panic!("server did not close the connection"),
            }
        }
    }
}

fn nonzero(value: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(value).unwrap_or(std::num::NonZeroU16::MIN)
}

fn terminal(cols: u16, rows: u16) -> vt100::Parser {
    vt100::Parser::new(nonzero(rows), nonzero(cols), 0)
}

/// Text with control characters made visible, for failure messages.
pub fn printable(text: &str) -> String {
    let tail: String = text
        .chars()
        .rev()
        .take(3000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    tail.replace('\r', "").replace('\x1b', "\\e")
}

/// One HTTP/1.1 GET; the whole response (the server closes the connection).
pub async fn http_get(web: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(web).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {web}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("response");
    String::from_utf8_lossy(&response).into_owned()
}

/// The Python of the virtualenv with r0c 1.6.1 (`bench/.venv`, shared with `bench/compare.sh`
/// and made by `test.sh`); created when missing. A failed install fails the test: it must
/// never pass without the real original (the migration tests run it, and r0c's stress
/// testers import it).
pub fn original_r0c() -> PathBuf {
    // Tests that run side by side must not build the same virtualenv at once.
    static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _creating = CREATING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/.venv");
    let python = venv.join("bin/python");
    let installed = |python: &Path| {
        Command::new(python)
            .args([
                "-c",
                "import r0c.__version__ as v; assert v.S_VERSION == '1.6.1'",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if !installed(&python) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs");
        assert!(made.success(), "python3 -m venv {} failed", venv.display());
        let output = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "r0c==1.6.1"])
            .output()
            .expect("pip runs");
        assert!(
            output.status.success(),
            "pip install r0c==1.6.1 failed (is PyPI reachable?): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            installed(&python),
            "r0c 1.6.1 is not importable after pip install"
        );
    }
    python
}
