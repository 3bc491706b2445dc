//! End to end with Debian's `telnet` inside `tmux`: keys typed into a real terminal, the screen
//! read back with `capture-pane`.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{TestClient, TestServer, data_dir};

/// A tmux server of our own (its own socket), killed when dropped.
pub(crate) struct Tmux {
    socket: String,
}

impl Tmux {
    pub(crate) fn start(cols: u16, rows: u16, command: &str) -> Tmux {
        let socket = format!("r0c-test-{}-{}", std::process::id(), rand_suffix());
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-s",
                "r0c",
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
            ])
            .arg(command)
            .status()
            .expect("tmux must be installed (./test.sh does it)");
        assert!(status.success(), "tmux starts");
        Tmux { socket }
    }

    pub(crate) fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "r0c"])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    pub(crate) fn screen(&self) -> String {
        let output = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "r0c"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Resizes the window (and its one pane), as a user resizing the terminal does.
    pub(crate) fn resize(&self, cols: u16, rows: u16) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "resize-window", "-t", "r0c", "-x"])
            .arg(cols.to_string())
            .arg("-y")
            .arg(rows.to_string())
            .status()
            .expect("tmux resize-window");
        assert!(status.success());
    }

    /// Waits until a row of the screen is `row` exactly (trailing blanks aside); returns the
    /// screen. For text that may also stand inside other rows, such as a number in a
    /// timestamp.
    pub(crate) fn wait_for_row(&self, row: &str) -> String {
        tokio::task::block_in_place(|| {
            let deadline = Instant::now() + crate::support::PATIENCE;
            loop {
                let screen = self.screen();
                if screen.lines().any(|line| line.trim_end() == row) {
                    return screen;
                }
                assert!(
                    Instant::now() < deadline,
                    "never saw the row {row:?}; screen:\n{screen}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    }

    /// Waits until the screen contains `needle`; returns the screen.
    pub(crate) fn wait_for(&self, needle: &str) -> String {
        tokio::task::block_in_place(|| {
            let deadline = Instant::now() + crate::support::PATIENCE;
            loop {
                let screen = self.screen();
                if screen.contains(needle) {
                    return screen;
                }
                assert!(
                    Instant::now() < deadline,
                    "never saw {needle:?}; screen:\n{screen}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telnet_in_tmux_shows_the_full_screen_ui() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut bob = TestClient::joined(server.raw).await;
    bob.line("/join #g").await;
    let tmux = Tmux::start(
        80,
        24,
        // The shell goes on after telnet, as a user's would.
        &format!(
            "telnet {} {}; seq 101 140; sleep 60",
            server.telnet.ip(),
            server.telnet.port()
        ),
    );
    telnet_wizard(&tmux);
    tmux.keys(&["/join #g", "Enter"]);
    tmux.wait_for("#g(2)");
    tmux.keys(&["hello from a real terminal", "Enter"]);
    bob.expect("hello from a real terminal").await;
    bob.line("hi telnet").await;
    let screen = tmux.wait_for("kywmyv hi telnet");
    let rows: Vec<&str> = screen.lines().collect();
    assert_eq!(rows.len(), 24, "{screen}");
    assert_eq!(rows[0].trim_end(), "#g - no topic has been set");
    assert!(
        rows[22].contains("1: #g(2)"),
        "status bar on row 23:\n{screen}"
    );
    assert_eq!(
        rows[23].trim_end(),
        "yyryyd>",
        "input line on row 24:\n{screen}"
    );
    let hello = rows
        .iter()
        .position(|r| r.ends_with("yyryyd hello from a real terminal"));
    let answer = rows.iter().position(|r| r.ends_with("kywmyv hi telnet"));
    assert!(
        hello.is_some() && answer == hello.map(|row| row + 1),
        "lines in order:\n{screen}"
    );
    assert_eq!(
        rows[answer.unwrap_or(0) + 1].trim_end(),
        "--",
        "empty pane rows show --:\n{screen}"
    );
    println!("telnet in tmux at 80x24:\n{screen}");

    // After /quit the terminal scrolls as a whole again: what the shell prints next goes up
    // the screen line by line instead of overwriting the last row inside the chat's region.
    tmux.keys(&["/quit", "Enter"]);
    let screen = tmux.wait_for_row("140");
    assert!(
        shell_scrolls_whole_screen(&screen),
        "the shell's output scrolls the whole screen:\n{screen}"
    );
    server.stop().await;
}

/// Answers the wizard in a telnet client the way a person does: one key at a time.
pub(crate) fn telnet_wizard(tmux: &Tmux) {
    tmux.wait_for("qwer asdf");
    for key in [
        "q", "w", "e", "r", "Space", "a", "s", "d", "f", "Enter", "Enter",
    ] {
        tmux.keys(&[key]);
        std::thread::sleep(Duration::from_millis(30));
    }
    tmux.wait_for("nothing happened");
    tmux.keys(&["b"]);
    tmux.wait_for("does colours work?");
    tmux.keys(&["y"]);
    tmux.wait_for("which line looks like");
    tmux.keys(&["a"]);
    tmux.wait_for("r0c readme (and status info)");
}

/// Whether the shell's `seq 101 140`, printed after the chat, scrolled the whole screen: its
/// last twenty numbers are on consecutive rows ending at the bottom, not written over one
/// another on a row a scroll region left behind.
fn shell_scrolls_whole_screen(screen: &str) -> bool {
    let rows: Vec<&str> = screen.lines().map(str::trim_end).collect();
    let last = rows.iter().position(|row| *row == "140");
    last.is_some_and(|at| {
        at >= 20 && (0..20).all(|back| rows[at - back] == (140 - back).to_string())
    })
}

/// Telnet in tmux (then the shell's `seq 101 140`) chats with bob in #g through `telnet` (the
/// server's telnet port or a proxy to it) until lines have been pushed into its pane.
async fn chat_in_tmux(telnet: SocketAddr, raw: SocketAddr) -> (Tmux, TestClient) {
    let mut bob = TestClient::joined(raw).await;
    bob.line("/join #g").await;
    let tmux = Tmux::start(
        80,
        24,
        &format!(
            "telnet {} {}; seq 101 140; sleep 60",
            telnet.ip(),
            telnet.port()
        ),
    );
    tokio::task::block_in_place(|| {
        telnet_wizard(&tmux);
        tmux.keys(&["/join #g", "Enter"]);
    });
    tmux.wait_for("#g(2)");
    // A pane full of lines, then lines pushed one at a time inside the scroll region.
    let burst: String = (0..22).map(|i| format!("line {i}\n")).collect();
    bob.send(burst.as_bytes()).await;
    bob.expect("line 21").await;
    for index in 22..25 {
        bob.say(&format!("line {index}")).await;
    }
    tmux.wait_for("line 24");
    (tmux, bob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_chat_leaves_a_terminal_whose_shell_scrolls() {
    // The real binary, so it can die without a word: no farewell, no shutdown frame.
    let (_keep, dir) = data_dir();
    let mut server = crate::process::Process::start_with(&dir, crate::process::free_ports(), &[]);
    let (tmux, _bob) = chat_in_tmux(server.telnet, server.raw).await;
    server.child.kill().expect("kill -9");
    server.child.wait().expect("the server is gone");
    let screen = tmux.wait_for_row("140");
    assert!(
        shell_scrolls_whole_screen(&screen),
        "the shell's output scrolls the whole screen:\n{screen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_chat_leaves_a_terminal_whose_shell_scrolls() {
    // The network drops: a proxy between telnet and the server closes both sockets, and the
    // server, still running, gets no chance to say anything more.
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the proxy");
    let proxy_address = listener.local_addr().expect("proxy address");
    let target = server.telnet;
    let proxy = tokio::spawn(async move {
        let (mut client, _) = listener.accept().await.expect("telnet connects");
        let mut upstream = tokio::net::TcpStream::connect(target)
            .await
            .expect("proxy connects");
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    });
    let (tmux, _bob) = chat_in_tmux(proxy_address, server.raw).await;
    proxy.abort();
    let screen = tmux.wait_for_row("140");
    assert!(
        shell_scrolls_whole_screen(&screen),
        "the shell's output scrolls the whole screen:\n{screen}"
    );
    server.stop().await;
}

/// Types `text` into the terminal one key at a time, as a person would.
fn type_slowly(tmux: &Tmux, text: &str) {
    for c in text.chars() {
        let key = match c {
            ' ' => "Space".to_string(),
            '\n' => "Enter".to_string(),
            c => c.to_string(),
        };
        tmux.keys(&[&key]);
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// Runs `command` in an 80x24 tmux pane, answers the wizard with `answers` (each waits for its
/// question), then joins #g and talks with a test client there.
async fn through_the_wizard(command: &str, answers: &[(&str, &str)], name: &str) {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut bob = TestClient::configured(server.telnet, true).await;
    bob.line("/join #g").await;
    let command = command.replace("PORT", &server.raw.port().to_string());
    let tmux = Tmux::start(80, 24, &command);
    for (question, answer) in answers {
        tmux.wait_for(question);
        tokio::task::block_in_place(|| type_slowly(&tmux, answer));
    }
    tmux.wait_for("r0c readme (and status info)");
    tokio::task::block_in_place(|| type_slowly(&tmux, &format!("/join #g\nhello from {name}\n")));
    bob.expect(&format!("yyryyd hello from {name}")).await;
    bob.line(&format!("hi {name}")).await;
    let screen = tmux.wait_for(&format!("kywmyv hi {name}"));
    assert!(screen.contains("#g(2)"), "{screen}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socat_in_raw_mode_goes_through_the_wizard() {
    // Raw mode sends every key at once and Enter as CR; the terminal does not echo.
    let answers = [
        ("qwer asdf", "qwer asdf\n\n"),
        ("nothing happened", "b"),
        ("does colours work?", "y"),
        ("which line", "a"),
    ];
    through_the_wizard("socat -,raw,echo=0 TCP:127.0.0.1:PORT", &answers, "socat").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcat_in_a_cooked_terminal_goes_through_the_wizard_in_linemode() {
    // The terminal sends whole lines and echoes them itself: the wizard detects linemode.
    let answers = [
        ("qwer asdf", "qwer asdf\n\n"),
        ("stuck in line-buffered mode", "a\n"),
        ("does colours work?", "y\n"),
        ("which line", "a\n"),
    ];
    through_the_wizard("nc 127.0.0.1 PORT", &answers, "netcat").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundled_bash_client_goes_through_the_wizard() {
    // read -n1 sends each key as it is pressed, and the terminal shows it: echo is on.
    let answers = [
        ("qwer asdf", "qwer asdf\n\n"),
        ("nothing happened", "a"),
        ("does colours work?", "y"),
        ("which line", "a"),
    ];
    let command = format!(
        "bash {}/clients/bash.sh 127.0.0.1 PORT",
        env!("CARGO_MANIFEST_DIR")
    );
    through_the_wizard(&command, &answers, "bash").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcat_in_a_cooked_terminal_scrolls_back_with_pgup_twice_and_enter() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let tmux = Tmux::start(
        80,
        24,
        &format!("nc 127.0.0.1 {}; sleep 60", server.raw.port()),
    );
    for (question, answer) in [
        ("qwer asdf", "qwer asdf\n\n"),
        ("stuck in line-buffered mode", "a\n"),
        ("does colours work?", "y\n"),
        ("which line", "a\n"),
    ] {
        tmux.wait_for(question);
        tokio::task::block_in_place(|| type_slowly(&tmux, answer));
    }
    // The terminal echoes the answer to the size probe (`^[[24;80R`) and holds it until
    // Enter; the input line is drawn again over that echo, and the notice never covers the
    // welcome text.
    let screen = tokio::task::block_in_place(|| {
        let deadline = Instant::now() + crate::support::PATIENCE;
        loop {
            let screen = tmux.screen();
            let input = screen.lines().nth(22).unwrap_or_default().trim_end();
            if input.ends_with(">  please press ENTER  (due to linemode)") && !screen.contains("^[")
            {
                return screen;
            }
            assert!(Instant::now() < deadline, "the echo stays:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    assert!(
        !screen.contains("***"),
        "the banner is drawn over:\n{screen}"
    );
    let rows: Vec<&str> = screen.lines().collect();
    assert_eq!(
        rows[0].trim_end(),
        "r0c readme (and status info)",
        "{screen}"
    );
    assert!(
        rows[1..21]
            .iter()
            .all(|row| !row.contains("please press ENTER")),
        "the welcome text is whole:\n{screen}"
    );
    tokio::task::block_in_place(|| type_slowly(&tmux, "\n/join #g\n/fill 60 f\n"));
    let screen = tmux.wait_for(" f 59");
    assert!(screen.contains(" f 40"), "{screen}");
    // PgUp twice, then Enter: the keys arrive in one read with the Enter.
    tmux.keys(&["PPage"]);
    tmux.keys(&["PPage"]);
    tmux.keys(&["Enter"]);
    // 62 lines in #g, the newest at the bottom of a 21-row pane; two steps of 20 lines back.
    let screen = tmux.wait_for(" f 19");
    let rows: Vec<&str> = screen.lines().map(str::trim_end).collect();
    assert!(rows[21].ends_with(" f 19"), "two pages back:\n{screen}");
    assert!(rows[1].ends_with("has joined"), "{screen}");
    assert!(rows[23].contains("+40"), "scrolled up:\n{screen}");
    server.stop().await;
}
