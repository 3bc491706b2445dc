//! The IRC bridge against a real IRC server: Debian's ngircd on 127.0.0.1, scripted IRC users
//! speaking raw IRC to it, and r0c users on the raw port.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use r0c::config::{Config, IrcLink, IrcNetwork};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::support::{TestClient, TestServer, data_dir, printable, test_config};

/// How long an IRC-side expectation may take; reconnects wait out the bridge's backoff.
const IRC_PATIENCE: Duration = Duration::from_secs(30);
/// The nick the bridge asks for in these tests.
const BRIDGE_NICK: &str = "r0cbridge";

/// An ngircd process on 127.0.0.1 with a port of its own, killed when dropped.
struct Ngircd {
    child: Child,
    port: u16,
    /// The TLS port and the PEM certificate ngircd presents there, when started with TLS.
    tls: Option<(u16, std::path::PathBuf)>,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Ngircd {
    fn start() -> Ngircd {
        Ngircd::start_on(free_port(), false, None)
    }

    /// Starts ngircd on `port` (and, with `tls`, on a TLS port too, with a fresh self-signed
    /// certificate for localhost and 127.0.0.1) and waits until it accepts connections.
    fn start_on(port: u16, tls: bool, password: Option<&str>) -> Ngircd {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut conf_text = ngircd_conf(port, dir.path());
        if let Some(password) = password {
            conf_text = conf_text.replace("[Limits]", &format!("Password = {password}\n[Limits]"));
        }
        let tls = tls.then(|| {
            let certified = rcgen::generate_simple_self_signed(vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
            ])
            .expect("generate a certificate");
            let cert = dir.path().join("cert.pem");
            let key = dir.path().join("key.pem");
            std::fs::write(&cert, certified.cert.pem()).expect("write cert");
            std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key");
            let tls_port = free_port();
            conf_text.push_str(&format!(
                "[SSL]\nCertFile = {}\nKeyFile = {}\nPorts = {tls_port}\n",
                cert.display(),
                key.display()
            ));
            (tls_port, cert)
        });
        // ngircd started as root reads its files after switching to "nobody".
        for entry in std::fs::read_dir(dir.path()).expect("list temp dir") {
            let path = entry.expect("dir entry").path();
            set_mode(&path, 0o644);
        }
        set_mode(dir.path(), 0o755);
        let conf = dir.path().join("ngircd.conf");
        std::fs::write(&conf, conf_text).expect("write ngircd.conf");
        set_mode(&conf, 0o644);
        // Debian puts it in /usr/sbin, which is not on every user's PATH.
        let program = if Path::new("/usr/sbin/ngircd").exists() {
            "/usr/sbin/ngircd"
        } else {
            "ngircd"
        };
        let child = Command::new(program)
            .args(["--nodaemon", "--config"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ngircd runs (./test.sh installs Debian's ngircd)");
        let server = Ngircd {
            child,
            port,
            tls,
            _dir: dir,
        };
        let ports = [Some(port), server.tls.as_ref().map(|(p, _)| *p)];
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        for port in ports.into_iter().flatten() {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "ngircd did not listen on {port}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        server
    }

    fn network(&self, nick: &str) -> IrcNetwork {
        IrcNetwork {
            name: "test".into(),
            host: "127.0.0.1".into(),
            port: self.port,
            tls: false,
            nick: nick.into(),
            user: "r0c".into(),
            password: None,
        }
    }
}

impl Drop for Ngircd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn ngircd_conf(port: u16, dir: &Path) -> String {
    format!(
        "[Global]\n\
         Name = irc.test\n\
         Info = r0c bridge tests\n\
         Listen = 127.0.0.1\n\
         Ports = {port}\n\
         MotdPhrase = test server\n\
         PidFile = {}/ngircd.pid\n\
         [Limits]\n\
         MaxNickLength = 30\n\
         [Options]\n\
         PAM = no\n\
         Ident = no\n\
         DNS = no\n",
        dir.display()
    )
}

/// A configuration bridging `links` as (IRC channel, r0c channel) on the test network, with
/// a generous rate limit so tests do not wait on it.
fn bridged_config(dir: &Path, network: IrcNetwork, links: &[(&str, &str)]) -> Config {
    let mut config = test_config(dir);
    config.irc_rate = (50.0, 0.05);
    config.ctcp_version = "r0c under test".into();
    config.irc_links = links
        .iter()
        .map(|(irc, r0c)| IrcLink {
            network: network.name.clone(),
            irc_channel: (*irc).into(),
            r0c_channel: (*r0c).into(),
        })
        .collect();
    config.irc_networks = vec![network];
    config
}

/// A scripted IRC user: raw IRC over TCP, PINGs answered, every line kept.
struct IrcUser {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    lines: Vec<String>,
    /// Lines before this index were matched by `expect` already.
    seen: usize,
}

impl IrcUser {
    /// Connects as `nick`, waits for the welcome, joins `channels` and waits for each.
    async fn join(port: u16, nick: &str, channels: &[&str]) -> IrcUser {
        IrcUser::connect(port, None, nick, channels).await
    }

    /// Like [`IrcUser::join`], sending PASS first when a password is given.
    async fn connect(port: u16, password: Option<&str>, nick: &str, channels: &[&str]) -> IrcUser {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to ngircd");
        let (reader, writer) = stream.into_split();
        let mut user = IrcUser {
            reader: BufReader::new(reader),
            writer,
            lines: Vec::new(),
            seen: 0,
        };
        if let Some(password) = password {
            user.send(&format!("PASS :{password}")).await;
        }
        user.send(&format!("NICK {nick}")).await;
        user.send(&format!("USER {nick} 0 * :{nick}")).await;
        user.expect(&format!(" 001 {nick} ")).await;
        for channel in channels {
            user.send(&format!("JOIN {channel}")).await;
            user.expect(&format!(" 366 {nick} {channel} ")).await;
        }
        user
    }

    async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("send to ngircd");
    }

    /// Reads until a line containing `needle` arrives (after the last one matched) and
    /// returns it.
    async fn expect(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + IRC_PATIENCE;
        loop {
            if let Some(offset) = self.lines[self.seen..]
                .iter()
                .position(|l| l.contains(needle))
            {
                self.seen += offset + 1;
                return self.lines[self.seen - 1].clone();
            }
            let mut raw = Vec::new();
            match tokio::time::timeout_at(deadline, self.reader.read_until(b'\n', &mut raw)).await {
                Ok(Ok(n)) if n > 0 => {
                    let line = String::from_utf8_lossy(&raw).trim_end().to_string();
                    if let Some(token) = line.strip_prefix("PING ") {
                        self.send(&format!("PONG {token}")).await;
                    }
                    self.lines.push(line);
                }
                _ => panic!(
                    "IRC user never saw {needle:?}; got:\n{}",
                    printable(&self.lines.join("\n"))
                ),
            }
        }
    }
}

/// An r0c user in channel `#channel`, waiting until the bridge's IRC side is joined.
async fn r0c_user_in(address: SocketAddr, channel: &str) -> TestClient {
    let mut user = TestClient::joined(address).await;
    user.line(&format!("/join #{channel}")).await;
    user.expect("irc: bridged with").await;
    user
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_colours_and_me_flow_both_ways() {
    let ircd = Ngircd::start();
    let mut ann = IrcUser::join(ircd.port, "ann", &["#chat"]).await;
    let (_keep, dir) = data_dir();
    let config = bridged_config(&dir, ircd.network(BRIDGE_NICK), &[("#chat", "g")]);
    let server = TestServer::start_with(config).await;
    ann.expect(&format!(":{BRIDGE_NICK}!")).await;
    let mut r0c = r0c_user_in(server.raw, "g").await;

    // IRC to r0c: the IRC nick is marked, mIRC red (4) becomes r0c's bright red.
    ann.send("PRIVMSG #chat :hello from \x0304irc\x03 land")
        .await;
    r0c.expect("~ann hello from irc land").await;
    let screen = r0c.terminal();
    let (row, col) = find(screen, "irc land");
    assert_eq!(
        screen.cell(row, col).map(|c| (c.fgcolor(), c.bold())),
        Some((vt100::Color::Idx(1), true)),
        "mIRC red is shown in bright (bold) red, as r0c draws its colour 9"
    );

    // r0c to IRC: `<nick> text`, CTRL-K 4 (r0c blue) becomes mIRC 02.
    r0c.line("hi ann, \x0b4blue\x0f here").await;
    let line = ann.expect("PRIVMSG #chat :").await;
    assert!(
        line.ends_with("PRIVMSG #chat :<kywmyv> hi ann, \x0302blue\x0f here"),
        "{line:?}"
    );

    // /me both ways, as CTCP ACTION.
    r0c.line("/me waves").await;
    let line = ann.expect("ACTION").await;
    assert!(
        line.ends_with(":\x01ACTION \x02kywmyv\x02 waves\x01"),
        "{line:?}"
    );
    ann.send("PRIVMSG #chat :\x01ACTION dances\x01").await;
    r0c.expect("~ann dances").await;
    assert!(r0c.screen().contains("*** ~ann dances"), "{}", r0c.screen());

    // CTCP VERSION is answered with --ctcp-ver.
    ann.send(&format!("PRIVMSG {BRIDGE_NICK} :\x01VERSION\x01"))
        .await;
    let line = ann.expect("NOTICE ann :").await;
    assert!(
        line.ends_with(":\x01VERSION r0c under test\x01"),
        "{line:?}"
    );

    // Joins, parts and nick changes on IRC are system lines in r0c.
    let mut cid = IrcUser::join(ircd.port, "cid", &["#chat"]).await;
    r0c.expect("irc: ~cid has joined").await;
    cid.send("NICK cyd").await;
    r0c.expect("irc: ~cid is now known as ~cyd").await;
    cid.send("PART #chat :off to lunch").await;
    r0c.expect("irc: ~cyd has left (off to lunch)").await;

    // An escape sequence and C1 controls from IRC arrive as harmless text: the ESC and the
    // CSI (U+009B) are gone, so "[2J" is printed instead of clearing anyone's screen.
    ann.send("PRIVMSG #chat :boom \x1b[2J \u{9b}31m \x07after")
        .await;
    r0c.expect("~ann boom [2J 31m after").await;
    assert!(
        r0c.screen().contains("~ann hello from irc land"),
        "the screen was not cleared:\n{}",
        r0c.screen()
    );
    assert!(
        !r0c.bytes().windows(2).any(|w| w == b"\xc2\x9b"),
        "no C1 control reaches the client"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_irc_channels_in_one_r0c_channel_relay_to_each_other() {
    let ircd = Ngircd::start();
    let mut ann = IrcUser::join(ircd.port, "ann", &["#one"]).await;
    let mut bob = IrcUser::join(ircd.port, "bob", &["#two"]).await;
    let (_keep, dir) = data_dir();
    let config = bridged_config(
        &dir,
        ircd.network(BRIDGE_NICK),
        &[("#one", "g"), ("#two", "g")],
    );
    let server = TestServer::start_with(config).await;
    ann.expect(&format!(":{BRIDGE_NICK}!")).await;
    bob.expect(&format!(":{BRIDGE_NICK}!")).await;
    let mut r0c = TestClient::joined(server.raw).await;
    r0c.line("/join #g").await;
    r0c.expect("#g").await;

    ann.send("PRIVMSG #one :from one").await;
    r0c.expect("~ann from one").await;
    let line = bob.expect("PRIVMSG #two :").await;
    assert!(line.ends_with(":<~ann> from one"), "{line:?}");

    bob.send("PRIVMSG #two :from two").await;
    r0c.expect("~bob from two").await;
    let line = ann.expect("PRIVMSG #one :").await;
    assert!(
        line.ends_with(":<~bob> from two"),
        "ann's own message was not echoed back to #one first: {line:?}"
    );

    r0c.line("to both").await;
    assert!(
        ann.expect("PRIVMSG #one :")
            .await
            .ends_with(":<kywmyv> to both")
    );
    assert!(
        bob.expect("PRIVMSG #two :")
            .await
            .ends_with(":<kywmyv> to both")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_irc_server_restart_the_bridge_rejoins_and_sends_what_was_said() {
    let ircd = Ngircd::start();
    let port = ircd.port;
    let mut ann = IrcUser::join(port, "ann", &["#chat"]).await;
    let (_keep, dir) = data_dir();
    let config = bridged_config(&dir, ircd.network(BRIDGE_NICK), &[("#chat", "g")]);
    let server = TestServer::start_with(config).await;
    ann.expect(&format!(":{BRIDGE_NICK}!")).await;
    let mut r0c = r0c_user_in(server.raw, "g").await;
    r0c.line("before the restart").await;
    ann.expect("<kywmyv> before the restart").await;

    drop(ann);
    drop(ircd);
    r0c.expect("irc: lost the connection to test").await;
    r0c.line("said while irc was down").await;
    r0c.expect("said while irc was down").await;

    let _ircd = Ngircd::start_on(port, false, None);
    let mut ann = IrcUser::join(port, "ann", &["#chat"]).await;
    ann.expect(&format!(":{BRIDGE_NICK}!")).await;
    let line = ann.expect("PRIVMSG #chat :").await;
    assert!(
        line.ends_with(":<kywmyv> said while irc was down"),
        "{line:?}"
    );
    r0c.expect("irc: bridged with #chat on test").await;
    ann.send("PRIVMSG #chat :welcome back").await;
    r0c.expect("~ann welcome back").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_nick_makes_the_bridge_pick_a_suffix_and_the_channel_outlives_its_users() {
    let ircd = Ngircd::start();
    let mut squatter = IrcUser::join(ircd.port, BRIDGE_NICK, &["#chat"]).await;
    let (_keep, dir) = data_dir();
    let config = bridged_config(&dir, ircd.network(BRIDGE_NICK), &[("#chat", "g")]);
    let server = TestServer::start_with(config).await;
    squatter.expect(&format!(":{BRIDGE_NICK}1!")).await;

    let mut r0c = r0c_user_in(server.raw, "g").await;
    assert!(
        r0c.screen().contains(&format!("as {BRIDGE_NICK}1")),
        "{}",
        r0c.screen()
    );
    // The bridged channel stays open when its last r0c user leaves: what IRC says meanwhile
    // is there when they come back.
    r0c.line("/part").await;
    r0c.expect("r0c-status").await;
    squatter.send("PRIVMSG #chat :while you were out").await;
    // Give the bridge a moment to post it before rejoining.
    tokio::time::sleep(Duration::from_millis(500)).await;
    r0c.line("/join #g").await;
    r0c.expect(&format!("~{BRIDGE_NICK} while you were out"))
        .await;
    server.stop().await;
}

/// Where `needle` starts on the screen, as (row, column).
fn find(screen: &vt100::Screen, needle: &str) -> (u16, u16) {
    let (rows, cols) = screen.size();
    for row in 0..rows.get() {
        let text = screen.contents_between(row, 0, row, cols.get());
        if let Some(byte) = text.find(needle) {
            return (row, text[..byte].chars().count() as u16);
        }
    }
    panic!("{needle:?} not on screen:\n{}", screen.contents());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_irc_verifies_the_server_certificate() {
    let ircd = Ngircd::start_on(free_port(), true, None);
    let (tls_port, cert) = ircd.tls.clone().expect("ngircd with TLS");

    // Verified against the system roots only, ngircd's self-signed certificate is refused;
    // --irc-insecure takes it anyway.
    let strict = r0c::bridge::transport::connector(None, false).expect("system roots");
    let refused = r0c::bridge::transport::connect("127.0.0.1", tls_port, Some(&strict)).await;
    let error = refused.err().expect("an unknown certificate is refused");
    assert!(error.to_string().contains("certificate"), "{error}");
    let insecure = r0c::bridge::transport::connector(None, true).expect("insecure connector");
    assert!(
        r0c::bridge::transport::connect("127.0.0.1", tls_port, Some(&insecure))
            .await
            .is_ok()
    );

    // With --irc-ca naming it, the bridge connects over TLS and relays.
    let mut ann = IrcUser::join(ircd.port, "ann", &["#chat"]).await;
    let (_keep, dir) = data_dir();
    let mut network = ircd.network(BRIDGE_NICK);
    network.port = tls_port;
    network.tls = true;
    let mut config = bridged_config(&dir, network, &[("#chat", "g")]);
    config.irc_ca = Some(cert);
    let server = TestServer::start_with(config).await;
    ann.expect(&format!(":{BRIDGE_NICK}!")).await;
    let mut r0c = r0c_user_in(server.raw, "g").await;
    r0c.line("over tls").await;
    ann.expect("PRIVMSG #chat :<kywmyv> over tls").await;
    ann.send("PRIVMSG #chat :and back").await;
    r0c.expect("~ann and back").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_bridges_with_ircn_and_ircb_and_says_goodbye_on_sigterm() {
    let ircd = Ngircd::start();
    let mut ann = IrcUser::join(ircd.port, "ann", &["#chat"]).await;
    let (_keep, dir) = data_dir();
    let (telnet, raw, web) = (free_port(), free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_r0c"))
        .args(["--dir", &dir.display().to_string(), "-i", "127.0.0.1"])
        .args([
            "-pt",
            &telnet.to_string(),
            "-pn",
            &raw.to_string(),
            "--web",
            &web.to_string(),
            "--ssh",
            "0",
            "--irc-listen",
            "0",
        ])
        .args([
            "--ircn",
            &format!("Test,127.0.0.1,{},{BRIDGE_NICK}", ircd.port),
        ])
        .args(["--ircb", "test,chat,g", "--i-rate", "4,0.5", "--dbg-irc"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("r0c starts");
    let stdout = child.stdout.take().expect("stdout");
    let startup = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let up = line.contains("r0c is up");
            lines.push(line);
            if up {
                break;
            }
        }
        lines.join("\n")
    });
    // The reader stops after "r0c is up" and closes the pipe: the server must carry on, and
    // still shut down cleanly, with nowhere to print.
    let startup = tokio::task::spawn_blocking(move || startup.join().expect("reader"))
        .await
        .expect("startup output");
    assert!(
        startup.contains(&format!(
            " *  Adding irc-net test (127.0.0.1:{})",
            ircd.port
        )) && startup.contains(" *  Adding irc-bridge <test:#chat> #g"),
        "{startup}"
    );
    ann.expect(&format!(":{BRIDGE_NICK}!")).await;
    let mut r0c = r0c_user_in(SocketAddr::from(([127, 0, 0, 1], raw)), "g").await;
    r0c.line("from the real binary").await;
    ann.expect("<kywmyv> from the real binary").await;
    // The operator's view of the same: the link is up, one netcat client, messages counted.
    let metrics =
        crate::support::http_get(SocketAddr::from(([127, 0, 0, 1], web)), "/metrics").await;
    for expected in [
        r#"r0c_irc_link_up{network="test"} 1"#,
        r#"r0c_clients{listener="netcat",mode="vt100"} 1"#,
        "r0c_messages_total ",
        "r0c_store_commit_seconds_bucket",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing from:\n{metrics}"
        );
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let line = ann.expect(&format!(":{BRIDGE_NICK}!")).await;
    assert!(line.contains(" QUIT :"), "{line:?}");
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("exit status");
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_protected_server_is_joined_with_pass() {
    let ircd = Ngircd::start_on(free_port(), false, Some("open, sesame"));
    let mut ann = IrcUser::connect(ircd.port, Some("open, sesame"), "ann", &["#chat"]).await;
    let (_keep, dir) = data_dir();
    let mut network = ircd.network(BRIDGE_NICK);
    network.password = Some("open, sesame".into());
    let config = bridged_config(&dir, network, &[("#chat", "g")]);
    let server = TestServer::start_with(config).await;
    ann.expect(&format!(":{BRIDGE_NICK}!")).await;
    let mut r0c = r0c_user_in(server.raw, "g").await;
    r0c.line("through the password").await;
    ann.expect("<kywmyv> through the password").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_message_reaches_irc_as_several_lines_cut_at_words() {
    let ircd = Ngircd::start();
    let mut ann = IrcUser::join(ircd.port, "ann", &["#chat"]).await;
    let (_keep, dir) = data_dir();
    let config = bridged_config(&dir, ircd.network(BRIDGE_NICK), &[("#chat", "g")]);
    let server = TestServer::start_with(config).await;
    ann.expect(&format!(":{BRIDGE_NICK}!")).await;
    let mut r0c = r0c_user_in(server.raw, "g").await;

    // 250 words of six bytes: 1500 bytes, three times what one IRC line holds.
    let words: Vec<String> = (1..=250).map(|n| format!("w{n:04}")).collect();
    let text = words.join(" ");
    assert_eq!(text.len(), 1499);
    r0c.line(&text).await;
    let mut received = Vec::new();
    while !received.join(" ").ends_with("w0250") {
        let line = ann.expect("PRIVMSG #chat :").await;
        // What ngircd relays, prefix included, fits one IRC line (512 bytes with CR LF).
        assert!(line.len() <= 510, "{} bytes: {line:?}", line.len());
        let (_, payload) = line.split_once("PRIVMSG #chat :").expect("a PRIVMSG");
        received.push(payload.to_owned());
        assert!(received.len() <= 10, "too many lines: {received:?}");
    }
    assert!(received.len() >= 4, "{received:?}");
    assert!(received[0].starts_with("<kywmyv> w0001 "), "{received:?}");
    // Each line ends and starts at a word: no word is cut in two.
    for payload in &received {
        let payload = payload.strip_prefix("<kywmyv> ").unwrap_or(payload);
        assert!(
            payload
                .split(' ')
                .all(|word| word.len() == 5 && word.starts_with('w')),
            "{payload:?}"
        );
    }
    // Nothing lost, nothing repeated.
    let joined = received.join(" ");
    assert_eq!(joined.strip_prefix("<kywmyv> "), Some(text.as_str()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kicked_and_banned_irc_users_lines_are_dropped_and_modes_stay_off_irc() {
    let ircd = Ngircd::start();
    let mut ann = IrcUser::join(ircd.port, "ann", &["#chat"]).await;
    let mut bea = IrcUser::join(ircd.port, "bea", &["#chat"]).await;
    let mut cy = IrcUser::join(ircd.port, "cy", &["#chat"]).await;
    let (_keep, dir) = data_dir();
    let config = bridged_config(&dir, ircd.network(BRIDGE_NICK), &[("#chat", "g")]);
    let server = TestServer::start_with(config).await;
    ann.expect(&format!(":{BRIDGE_NICK}!")).await;
    // A loopback user is a server operator here (no --ara).
    let mut op = r0c_user_in(server.raw, "g").await;

    op.line("/kick ~ann spam").await;
    op.expect("~ann was kicked by kywmyv: spam").await;
    op.expect("~ann's lines are dropped in #g for 10 minutes")
        .await;
    op.line("/ban ~bea flooding").await;
    op.expect("banned ~bea in the server permanently").await;
    // What they say after still reaches IRC (r0c is no operator there); cy has seen both
    // before speaking, so the bridge received them first.
    ann.send("PRIVMSG #chat :ann-after-kick").await;
    bea.send("PRIVMSG #chat :bea-after-ban").await;
    cy.expect("ann-after-kick").await;
    cy.expect("bea-after-ban").await;
    cy.send("PRIVMSG #chat :cy-speaks").await;
    op.expect("~cy cy-speaks").await;
    let text = op.text();
    assert!(!text.contains("ann-after-kick"), "{text}");
    assert!(!text.contains("bea-after-ban"), "{text}");

    // A mode change is shown in r0c only: IRC gets the next message, and no mode line.
    op.line("/mode +mt").await;
    op.expect("set mode +m +t").await;
    op.line("after-mode").await;
    ann.expect("PRIVMSG #chat :<kywmyv> after-mode").await;
    for line in &ann.lines {
        assert!(
            !line.contains("set mode") && !line.contains(" MODE ") && !line.contains("kicked"),
            "{line}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_of_r0cs_irc_listener_talks_through_the_bridge_with_another_network() {
    let ircd = Ngircd::start();
    let mut ann = IrcUser::join(ircd.port, "ann", &["#chat"]).await;
    let (_keep, dir) = data_dir();
    let config = bridged_config(&dir, ircd.network(BRIDGE_NICK), &[("#chat", "g")]);
    let server = TestServer::start_with_irc(config).await;
    ann.expect(&format!(":{BRIDGE_NICK}!")).await;
    // The same scripted IRC user, this time on r0c's own IRC listener.
    let listener = server.irc.expect("IRC listener").port();
    let mut lis = IrcUser::join(listener, "lis", &["#g"]).await;

    lis.send("PRIVMSG #g :hello from the listener").await;
    let line = ann.expect("PRIVMSG #chat :").await;
    assert!(
        line.ends_with("PRIVMSG #chat :<lis> hello from the listener"),
        "{line:?}"
    );
    ann.send("PRIVMSG #chat :hello back from ngircd").await;
    lis.expect(":~ann!~ann@r0c PRIVMSG #g :hello back from ngircd")
        .await;
    server.stop().await;
}
