//! r0c 1.6.1's flags on the real binary and in-process: every flag starts the server, the
//! hexdumps, wire logs, `--dbg`, `--thr-mon`, `--linemode` and `-nc` outputs, and the r0c
//! behaviours that came with them (`/bc` in the wizard, `/cfg`, `#scrolltest`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::process::{free_ports, r0c};
use crate::support::{TestClient, TestServer, data_dir, lines_of, printable, test_config};

/// How long a line of the binary's output may take to come.
const PATIENCE: Duration = Duration::from_secs(20);

/// The binary, started on loopback with its stdout collected; killed when dropped.
struct Binary {
    child: Child,
    stdout: Receiver<String>,
    raw: u16,
    telnet: u16,
    /// Every stdout line up to and including "r0c is up".
    startup: Vec<String>,
}

impl Binary {
    /// Starts `r0c` (through `wrapper`, a program that runs the rest of its arguments, if
    /// given) with `args` in `dir`, and waits for "r0c is up".
    fn start(wrapper: &[&str], dir: &Path, args: &[&str]) -> Binary {
        let (telnet, raw) = free_ports();
        let binary = env!("CARGO_BIN_EXE_r0c");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(binary);
                command
            }
            None => r0c(),
        };
        command
            .args(["--dir", &dir.display().to_string(), "-i", "127.0.0.1"])
            .args(["-pt", &telnet.to_string(), "-pn", &raw.to_string()])
            .args(["--web", "0", "--ssh", "0", "--irc-listen", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().expect("r0c starts");
        let stdout = lines_of(child.stdout.take().expect("stdout"));
        let mut binary = Binary {
            child,
            stdout,
            raw,
            telnet,
            startup: Vec::new(),
        };
        loop {
            match binary.stdout.recv_timeout(PATIENCE) {
                Ok(line) => {
                    let up = line.contains("r0c is up");
                    binary.startup.push(line);
                    if up {
                        break;
                    }
                }
                Err(_) => panic!(
                    "r0c {args:?} never came up; it printed:\n{}",
                    binary.startup.join("\n")
                ),
            }
        }
        binary
    }

    /// The next stdout line containing `needle`; earlier lines are skipped.
    fn wait_for(&self, needle: &str) -> String {
        let mut skipped = Vec::new();
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => skipped.push(line),
                Err(_) => panic!(
                    "r0c never printed {needle:?}; it printed:\n{}",
                    printable(&skipped.join("\n"))
                ),
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) {
        self.signal("TERM");
        self.wait_for("r0c is down");
        let status = self.child.wait().expect("exit status");
        assert!(status.success(), "{status:?}");
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_r0c_flag_starts_the_server() {
    let (_keep, dir) = data_dir();
    let motd = dir.join("motd.txt");
    std::fs::write(&motd, "hello\n").expect("write motd");
    let motd = motd.display().to_string();
    let tls_port = free_ports().0.to_string();
    // Each of r0c 1.6.1's flags (§1.1 of the spec), alone, with a value where it takes one.
    let cases: Vec<Vec<&str>> = vec![
        vec!["-pw", "secret"],
        vec!["--ara"],
        vec!["--nsalt", "pepper/"],
        vec!["--proxy", "10.0.0.1,10.0.0.2"],
        vec!["--log-rx"],
        vec!["--log-tx"],
        vec!["--rot-msg", "1000"],
        vec!["--ciphers", "TLS13_AES_128_GCM_SHA256"],
        vec!["--tls-min", "TLSv1_2"],
        vec!["--old-tls"],
        vec!["-tpt", &tls_port],
        vec!["-tpn", &tls_port],
        vec!["--ircn", "net,127.0.0.1,1,bridge", "--ircb", "net,chat,g"],
        vec!["--i-rate", "4,2"],
        vec!["--ctcp-ver", "r0c v1.6.1"],
        vec!["-nc", "500"],
        vec!["--no-poll"],
        vec!["--poll"],
        vec!["--no-all"],
        vec!["--motd", &motd],
        vec!["--hist-rd", "100"],
        vec!["--hist-mem", "10000"],
        vec!["--hist-tsz", "100"],
        vec!["--dbg"],
        vec!["--dbg-irc"],
        vec!["--hex-rx"],
        vec!["--hex-tx"],
        vec!["--hex-lim", "64"],
        vec!["--hex-w", "32"],
        vec!["--dev"],
        vec!["--thr-mon"],
        vec!["--reuseaddr"],
        vec!["--linemode"],
        vec!["--bench"],
    ];
    for args in cases {
        let server = Binary::start(&[], &dir, &args);
        if args == ["--thr-mon"] {
            // The first signal starts the reports; the second one stops.
            server.signal("TERM");
            server.wait_for("--thr-mon: reporting");
        }
        assert!(
            server
                .startup
                .iter()
                .any(|l| l.contains("Telnet server on 127.0.0.1")),
            "{args:?}: {}",
            server.startup.join("\n")
        );
        if args == ["--old-tls"] {
            assert!(
                server
                    .startup
                    .iter()
                    .any(|l| l.contains("--old-tls: TLS 1.0 and 1.1")),
                "{}",
                server.startup.join("\n")
            );
        }
        server.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hexdumps_and_dbg_lines_show_the_wire_with_control_bytes_escaped() {
    let (_keep, dir) = data_dir();
    let server = Binary::start(&[], &dir, &["--hex-rx", "--hex-tx", "--dbg"]);
    let mut raw = TcpStream::connect(("127.0.0.1", server.raw))
        .await
        .expect("connect");
    // The raw port's probe and the wizard's first screen go out together, too long to dump
    // (r0c shows the same `[148 byte]` for its telnet opening).
    server.wait_for("<<--       :  [");
    raw.write_all(b"\x1b[31mqwer\x07 asdf\n\x1b]0;pwned\x07")
        .await
        .expect("send");
    let first = server.wait_for("-->>       0  1b 5b 33 31 6d 71 77 65  72 07 20 61 73 64 66 0a");
    assert!(first.ends_with("  .[31mqwe r. asdf."), "{first:?}");
    let second = server.wait_for("-->>      10  1b 5d 30 3b 70 77 6e 65  64 07");
    assert!(second.ends_with(" .]0;pwne d."), "{second:?}");
    for line in [&first, &second] {
        assert!(
            !line.chars().any(char::is_control),
            "a control byte reached the console: {line:?}"
        );
    }

    // --dbg: telnet negotiations as they happen.
    let mut telnet = TcpStream::connect(("127.0.0.1", server.telnet))
        .await
        .expect("connect");
    // Once the opening is read, the answer to DO TTYPE goes out alone.
    read_until(&mut Vec::new(), &mut telnet, b"r0c configurator").await;
    telnet.write_all(b"\xff\xfd\x18").await.expect("send");
    server.wait_for("-->> negote:  ff fd 18  DO TTYPE (Terminal Type)");
    server.wait_for("<<-- n.resp:  ff fd 18  DO -> WONT");
    // The answer alone is short: dumped.
    server.wait_for("<<--       0  ff fc 18                                          ...");
    telnet
        .write_all(b"\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0")
        .await
        .expect("send");
    server.wait_for("-->> subneg:  ff fa 1f 00 50 00 18");
    server.wait_for("terminal sz:  80x24  @127.0.0.1:");
    drop((raw, telnet));
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_rx_writes_r0cs_wire_log_into_the_app_dir() {
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.diag.log_rx = true;
    let server = TestServer::start_with(config).await;
    let mut client = TcpStream::connect(server.raw).await.expect("connect");
    let port = client.local_addr().expect("address").port();
    let mut greeting = [0u8; 64];
    let _ = client.read(&mut greeting).await.expect("read");
    client.write_all(b"hello\x1b[A").await.expect("send");
    let wire_dir = dir.join("log").join("wire");
    // The chunk is in the log before the connection ends (the writer thread flushes it).
    let deadline = std::time::Instant::now() + PATIENCE;
    while !std::fs::read_dir(&wire_dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("> 68 65 6c 6c hell")))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the chunk never reached the wire log"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(client);
    server.stop().await;

    let deadline = std::time::Instant::now() + PATIENCE;
    let (name, text) = loop {
        let found = std::fs::read_dir(&wire_dir)
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(&format!("_127.0.0.1_{port}"))
            });
        if let Some(entry) = found {
            let text = std::fs::read_to_string(entry.path()).expect("read wire log");
            // Complete once the closing timestamp is written after the last chunk.
            if text.contains("> 6f 1b 5b 41 o.[A\n") && text.ends_with('\n') {
                let last = text.lines().last().unwrap_or_default();
                if last.bytes().all(|b| b.is_ascii_digit()) && text.lines().count() >= 5 {
                    break (entry.file_name().to_string_lossy().into_owned(), text);
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no complete wire log in {}",
            wire_dir.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let lines: Vec<&str> = text.lines().collect();
    // `<unix seconds>_<ip>_<port>`; an opening millisecond stamp, then per chunk a stamp and
    // four bytes a line, then the closing stamp.
    let seconds: i64 = name
        .split('_')
        .next()
        .unwrap_or_default()
        .parse()
        .expect("seconds");
    let opened: i64 = lines[0].parse().expect("opening stamp");
    assert_eq!(opened / 1000, seconds, "{text}");
    let at = lines
        .iter()
        .position(|l| *l == "> 68 65 6c 6c hell")
        .expect("the chunk");
    assert!(
        lines[at - 1].parse::<i64>().is_ok_and(|ms| ms >= opened),
        "{text}"
    );
    assert_eq!(lines[at + 1], "> 6f 1b 5b 41 o.[A", "{text}");
    assert!(
        !text.contains("\n< "),
        "--log-rx alone logs nothing sent: {text}"
    );
    assert!(!text.contains('\x1b'), "{text:?}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(wire_dir.join(&name))
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Reads from `telnet` into `received` until `want` is in it; fails after [`PATIENCE`].
async fn read_until(received: &mut Vec<u8>, telnet: &mut TcpStream, want: &[u8]) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !received.windows(want.len()).any(|w| w == want) {
        let mut buf = [0u8; 4096];
        match tokio::time::timeout_at(deadline, telnet.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => received.extend_from_slice(&buf[..n]),
            _ => panic!("never got {want:x?}; got {received:x?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linemode_sends_r0cs_alternative_opening_and_refuses_to_echo() {
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.linemode = true;
    let server = TestServer::start_with(config).await;
    let mut telnet = TcpStream::connect(server.telnet).await.expect("connect");
    let mut received = Vec::new();
    read_until(&mut received, &mut telnet, b"r0c configurator").await;
    assert_eq!(
        received[..9],
        *b"\xff\xfd\x01\xff\xfd\x22\xff\xfd\x1f",
        "DO ECHO, DO LINEMODE, DO NAWS"
    );
    // Asked to echo or to suppress go-aheads, the server refuses.
    received.clear();
    telnet.write_all(b"\xff\xfd\x01").await.expect("send");
    read_until(&mut received, &mut telnet, b"\xff\xfc\x01").await;
    telnet.write_all(b"\xff\xfd\x03").await.expect("send");
    read_until(&mut received, &mut telnet, b"\xff\xfc\x03").await;
    drop(telnet);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nc_beyond_the_hard_limit_says_bump_failed_with_the_real_limit() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        panic!("prlimit (util-linux) is needed for this test");
    }
    let (_keep, dir) = data_dir();
    let server = Binary::start(
        &["prlimit", "--nofile=256:256", "--"],
        &dir,
        &["-nc", "100000"],
    );
    let startup = server.startup.join("\n");
    assert!(
        startup.contains("Max num clients: 256 (bump failed)"),
        "{startup}"
    );
    assert!(
        startup.contains("Connection limits: 192 in all"),
        "the cap follows the real limit, less the files kept for the server: {startup}"
    );
    assert!(!startup.contains("100000"), "{startup}");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thr_mon_reports_on_the_first_signal_and_stops_on_the_next() {
    let (_keep, dir) = data_dir();
    let server = Binary::start(&[], &dir, &["--thr-mon"]);
    server.signal("INT");
    server.wait_for("capturing state");
    server.wait_for("runtime:");
    server.wait_for("world:  0 users online, 0 in the wizard");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_reaches_a_client_still_in_the_wizard_as_raw_text() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut admin = TestClient::joined(server.raw).await;
    let mut newcomer = TestClient::connect(server.raw).await;
    newcomer.expect("r0c configurator").await;
    admin.line("/bc the server restarts at noon").await;
    admin.expect("the server restarts at noon").await;
    newcomer.expect("[[ broadcast message ]]").await;
    newcomer.expect("the server restarts at noon").await;
    let text = newcomer.text();
    assert!(
        text.contains(
            "\r\n [[ broadcast message ]]\r\n \x1b[31mthe server restarts at noon\x1b[0m\r\n"
        ),
        "{}",
        printable(&text)
    );
    // The wizard goes on afterwards (the address has saved settings: confirm them).
    for key in ["y", "\n", "\n"] {
        newcomer.send(key.as_bytes()).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    newcomer.expect("r0c readme (and status info)").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cfg_prints_r0cs_fields_in_r0cs_format_then_ours() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut client = TestClient::joined(server.raw).await;
    client.line("/cfg").await;
    let expected = "slowmo_tx=0 linemode=False echo_on=False vt100=True crlf='\\n' codec='utf-8' bell=1 atall=True cnicks=";
    client.expect(expected).await;
    let screen = client.screen();
    let line = screen
        .lines()
        .find(|l| l.contains(expected))
        .expect("the /cfg line");
    assert!(
        line.contains(" align=True size=250x50 hilog=True"),
        "{line}"
    );
    // Keys are cyan on a VT100 terminal, values in the default colour.
    let terminal = client.terminal();
    let (rows, cols) = terminal.size();
    let (rows, cols) = (rows.get(), cols.get());
    let at = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (r, c)))
        .find(|&(r, c)| terminal.contents_between(r, c, r, c + 9) == "slowmo_tx")
        .expect("slowmo_tx on screen");
    assert_eq!(
        terminal.cell(at.0, at.1).map(vt100::Cell::fgcolor),
        Some(vt100::Color::Idx(6))
    );
    assert_eq!(
        terminal.cell(at.0, at.1 + 10).map(vt100::Cell::fgcolor),
        Some(vt100::Color::Default)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolltest_is_filled_like_r0cs() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut client = TestClient::joined(server.raw).await;
    client.line("/join #scrolltest").await;
    client.expect("has joined").await;
    client.expect(&"a".repeat(38)).await;
    // Line nine, word nine: "99" twenty times.
    assert!(
        client.screen().contains(&"99".repeat(20)),
        "{}",
        client.screen()
    );
    server.stop().await;
}
