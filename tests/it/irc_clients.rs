//! Real IRC clients on r0c's IRC listener, each beside a terminal user on the raw port in `#g`:
//! Debian's irssi in tmux (keys typed, the screen read back), WeeChat's headless build driven
//! through its fifo plugin and read through its logger's files, and ii through its fifo and
//! `out` files. Each joins, chats both ways, exchanges a DM, and quits, and the terminal user
//! sees it go. Every client gets a home of its own in a temporary directory and connects only
//! to the test's server on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{PATIENCE, TestClient, TestServer, data_dir, test_config};
use crate::tmux::Tmux;

/// Starting a client (loading its plugins, connecting, registering) may take longer than one
/// reply on a busy machine.
const STARTUP_PATIENCE: Duration = Duration::from_secs(30);

/// A client process, killed and reaped when the test ends however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server with the IRC listener and a terminal user `alice` on the raw port, in `#g`.
async fn server_with_alice() -> (tempfile::TempDir, TestServer, TestClient) {
    let (keep, dir) = data_dir();
    let server = TestServer::start_with_irc(test_config(&dir)).await;
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/nick alice").await;
    alice.expect("changed nick to alice").await;
    alice.line("/join #g").await;
    alice.expect("#g(1)").await;
    (keep, server, alice)
}

/// The IRC listener's port.
fn irc_port(server: &TestServer) -> u16 {
    server.irc.expect("IRC listener").port()
}

/// Waits until the file at `path` exists and contains `needle`; returns its text.
fn wait_for_file(path: &Path, needle: &str, patience: Duration) -> String {
    tokio::task::block_in_place(|| {
        let deadline = Instant::now() + patience;
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{} never held {needle:?}; it holds:\n{text}",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// Waits until `path` exists (a fifo a client creates).
fn wait_for_path(path: &Path, patience: Duration) {
    tokio::task::block_in_place(|| {
        let deadline = Instant::now() + patience;
        while !path.exists() {
            assert!(
                Instant::now() < deadline,
                "{} never appeared",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}

/// Writes one line into a client's fifo. Opened without blocking: a fifo nobody reads any
/// more (the client died) fails at once instead of hanging the test.
fn write_fifo(fifo: &Path, line: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .unwrap_or_else(|error| panic!("open {}: {error}", fifo.display()));
    file.write_all(format!("{line}\n").as_bytes())
        .unwrap_or_else(|error| panic!("write {}: {error}", fifo.display()));
}

/// A DM from the IRC client `nick` has arrived for alice (window 2, flagged): she reads it
/// there, where `text` must show.
async fn alice_reads_dm(alice: &mut TestClient, nick: &str, text: &str) {
    alice.expect("h:2").await;
    alice.line("/a").await;
    alice.expect(&format!("{nick} {text}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irssi_in_tmux_joins_chats_both_ways_exchanges_a_dm_and_quits() {
    let (_keep, server, mut alice) = server_with_alice().await;
    let home = tempfile::tempdir().expect("irssi's home");
    let irssi = Tmux::start(
        120,
        30,
        &format!(
            "irssi --home={} -n irsuser -c 127.0.0.1 -p {}",
            home.path().display(),
            irc_port(&server)
        ),
    );
    wait_until_screen(&irssi, "End of /MOTD command", STARTUP_PATIENCE);
    irssi.keys(&["/join #g", "Enter"]);
    irssi.wait_for("irsuser [irsuser@r0c] has joined #g");
    alice.expect("irsuser has joined").await;

    alice.line("hello irssi").await;
    irssi.wait_for("alice> hello irssi");
    irssi.keys(&["hi from irssi", "Enter"]);
    alice.expect("irsuser hi from irssi").await;

    // A query window: what is typed there goes to alice alone, and her answer shows there.
    irssi.keys(&["/query alice", "Enter"]);
    irssi.keys(&["psst from irssi", "Enter"]);
    alice_reads_dm(&mut alice, "irsuser", "psst from irssi").await;
    alice.line("/msg irsuser back at irssi").await;
    irssi.wait_for("alice> back at irssi");

    alice.line("/1").await;
    irssi.keys(&["/quit see you", "Enter"]);
    alice.expect("irsuser has left").await;
    drop(irssi);
    server.stop().await;
}

/// [`Tmux::wait_for`] with a patience of its own (a client starting up).
fn wait_until_screen(tmux: &Tmux, needle: &str, patience: Duration) -> String {
    tokio::task::block_in_place(|| {
        let deadline = Instant::now() + patience;
        loop {
            let screen = tmux.screen();
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

/// WeeChat without a user interface, in a directory of its own: only the irc, fifo and logger
/// plugins, logs written at once, commands read from `<dir>/fifo`.
struct WeeChat {
    _process: Running,
    dir: PathBuf,
}

impl WeeChat {
    fn start(dir: &Path, port: u16, nick: &str) -> WeeChat {
        // Plugins not named here (scripting languages, relay, xfer...) stay unloaded.
        std::fs::write(
            dir.join("weechat.conf"),
            "[plugin]\nautoload = \"irc,fifo,logger\"\n",
        )
        .expect("weechat.conf");
        let fifo = dir.join("fifo");
        let commands = [
            "/set logger.file.flush_delay 0".to_string(),
            format!("/set fifo.file.path {}", fifo.display()),
            format!("/server add r0c 127.0.0.1/{port} -notls -nicks={nick}"),
            "/connect r0c".to_string(),
        ];
        let process = Command::new("weechat-headless")
            .arg("--dir")
            .arg(dir)
            .arg("-r")
            .arg(commands.join(";"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("weechat-headless is installed (./test.sh does it)");
        WeeChat {
            _process: Running(process),
            dir: dir.to_path_buf(),
        }
    }

    /// The logger's file for a buffer (`server.r0c`, `r0c.#g`, `r0c.alice`).
    fn log(&self, buffer: &str) -> PathBuf {
        self.dir
            .join("logs")
            .join(format!("irc.{buffer}.weechatlog"))
    }

    /// Runs a command (or sends text) in the server's buffer.
    fn command(&self, command: &str) {
        write_fifo(
            &self.dir.join("fifo"),
            &format!("irc.server.r0c *{command}"),
        );
    }

    /// Sends text into a buffer (`r0c.#g`).
    fn say(&self, buffer: &str, text: &str) {
        write_fifo(&self.dir.join("fifo"), &format!("irc.{buffer} *{text}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weechat_joins_chats_both_ways_exchanges_a_dm_reads_history_and_quits() {
    let (_keep, server, mut alice) = server_with_alice().await;
    let home = tempfile::tempdir().expect("WeeChat's home");
    let weechat = WeeChat::start(home.path(), irc_port(&server), "weeuser");
    wait_for_file(
        &weechat.log("server.r0c"),
        "End of /MOTD command",
        STARTUP_PATIENCE,
    );
    wait_for_path(&home.path().join("fifo"), STARTUP_PATIENCE);
    weechat.command("/join #g");
    wait_for_file(
        &weechat.log("r0c.#g"),
        // With extended-join WeeChat also names the real name ("weeuser (NAME) (...)").
        "(weeuser@r0c) has joined #g",
        PATIENCE,
    );
    alice.expect("weeuser has joined").await;

    alice.line("hello weechat").await;
    wait_for_file(&weechat.log("r0c.#g"), "alice\thello weechat", PATIENCE);
    weechat.say("r0c.#g", "hi from weechat");
    alice.expect("weeuser hi from weechat").await;

    weechat.command("/msg alice psst from weechat");
    alice_reads_dm(&mut alice, "weeuser", "psst from weechat").await;
    alice.line("/msg weeuser back at weechat").await;
    wait_for_file(
        &weechat.log("r0c.alice"),
        "alice\tback at weechat",
        PATIENCE,
    );

    // History through CHATHISTORY: a line alice said in another channel before WeeChat was
    // there, asked for with WeeChat's raw command and shown in that channel's buffer.
    alice.line("/join #wee").await;
    alice.expect("alice has joined").await;
    alice.line("said before weechat came").await;
    alice.expect("alice said before weechat came").await;
    weechat.command("/join #wee");
    wait_for_file(
        &weechat.log("r0c.#wee"),
        "(weeuser@r0c) has joined #wee",
        PATIENCE,
    );
    weechat.command("/quote CHATHISTORY LATEST #wee * 10");
    wait_for_file(
        &weechat.log("r0c.#wee"),
        "alice\tsaid before weechat came",
        PATIENCE,
    );

    alice.line("/1").await;
    weechat.command("/quit see you");
    alice.expect("weeuser has left").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ii_joins_and_chats_through_its_fifo_files() {
    let (_keep, server, mut alice) = server_with_alice().await;
    let home = tempfile::tempdir().expect("ii's directory");
    let _ii = Running(
        Command::new("ii")
            .args(["-s", "127.0.0.1", "-p", &irc_port(&server).to_string()])
            .args(["-n", "iiuser", "-i"])
            .arg(home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ii is installed (./test.sh does it)"),
    );
    let network = home.path().join("127.0.0.1");
    wait_for_file(
        &network.join("out"),
        "End of /MOTD command",
        STARTUP_PATIENCE,
    );
    write_fifo(&network.join("in"), "/j #g");
    let channel = network.join("#g");
    wait_for_file(
        &channel.join("out"),
        "iiuser(iiuser@r0c) has joined #g",
        PATIENCE,
    );
    alice.expect("iiuser has joined").await;

    alice.line("hello ii").await;
    wait_for_file(&channel.join("out"), "<alice> hello ii", PATIENCE);
    write_fifo(&channel.join("in"), "hi from ii");
    alice.expect("iiuser hi from ii").await;

    // `/j NICK TEXT` opens a query with a first message.
    write_fifo(&network.join("in"), "/j alice psst from ii");
    alice_reads_dm(&mut alice, "iiuser", "psst from ii").await;
    alice.line("/msg iiuser back at ii").await;
    wait_for_file(
        &network.join("alice").join("out"),
        "<alice> back at ii",
        PATIENCE,
    );

    alice.line("/1").await;
    write_fifo(&network.join("in"), "/q see you");
    alice.expect("iiuser has left").await;
    server.stop().await;
}
