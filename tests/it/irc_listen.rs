//! The IRC listener end to end: raw IRC over a TCP socket beside terminal clients on the raw
//! port, in the same channels and DMs, both ways; SASL PLAIN against an account registered
//! over IRC; hostile input answered with numerics.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::support::{PATIENCE, TestClient, TestServer, data_dir, test_config};

/// A raw IRC client: lines out, lines in, and waits for a line that matches (the cluster
/// tests use it too).
pub(crate) struct IrcClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Every line received so far, for failure messages.
    seen: Vec<String>,
}

impl IrcClient {
    /// How many of the lines received so far contain `needle`.
    pub(crate) fn lines_with(&self, needle: &str) -> usize {
        self.seen
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// Fails the test, listing what arrived, unless some line received so far contains
    /// `needle`.
    pub(crate) fn assert_saw(&self, needle: &str) {
        assert!(
            self.lines_with(needle) > 0,
            "no {needle:?} in {:#?}",
            self.seen
        );
    }

    /// Fails the test, listing what arrived, if any line received so far contains `needle`.
    pub(crate) fn assert_never_saw(&self, needle: &str) {
        assert_eq!(self.lines_with(needle), 0, "{needle:?} in {:#?}", self.seen);
    }

    pub(crate) async fn connect(address: SocketAddr) -> IrcClient {
        let stream = TcpStream::connect(address).await.expect("connect to IRC");
        let (read, writer) = stream.into_split();
        IrcClient {
            reader: BufReader::new(read),
            writer,
            seen: Vec::new(),
        }
    }

    /// Connects and registers with `nick`, up to the end of the MOTD.
    pub(crate) async fn registered(address: SocketAddr, nick: &str) -> IrcClient {
        let mut client = IrcClient::connect(address).await;
        client.send(&format!("NICK {nick}")).await;
        client
            .send(&format!("USER {nick} 0 * :{nick} the tester"))
            .await;
        client.expect(&format!(" 001 {nick} ")).await;
        client.expect(" 376 ").await;
        client
    }

    /// Connects, asks for capabilities `caps` and registers with `nick`.
    async fn with_caps(address: SocketAddr, nick: &str, caps: &str) -> IrcClient {
        let mut client = IrcClient::connect(address).await;
        client.send("CAP LS 302").await;
        client.send(&format!("CAP REQ :{caps}")).await;
        client.expect(&format!("ACK :{caps}")).await;
        client.send(&format!("NICK {nick}")).await;
        client
            .send(&format!("USER {nick} 0 * :{nick} the tester"))
            .await;
        client.send("CAP END").await;
        client.expect(&format!(" 001 {nick} ")).await;
        client.expect(" 376 ").await;
        client
    }

    /// The value of tag `name` of a line (`@a=b;c=d ...`).
    fn tag<'a>(line: &'a str, name: &str) -> Option<&'a str> {
        let tags = line.strip_prefix('@')?.split(' ').next()?;
        tags.split(';')
            .find_map(|t| t.strip_prefix(name)?.strip_prefix('='))
    }

    pub(crate) async fn send(&mut self, line: &str) {
        self.send_bytes(format!("{line}\r\n").as_bytes()).await;
    }

    async fn send_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write to IRC");
    }

    /// The next line that contains `needle`; fails after [`PATIENCE`].
    pub(crate) async fn expect(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout_at(deadline, self.reader.read_line(&mut line)).await;
            match read {
                Ok(Ok(0)) => panic!("closed while waiting for {needle:?}; got {:#?}", self.seen),
                Ok(Ok(_)) => {
                    assert!(
                        line.len() <= 512 || line.starts_with('@'),
                        "line over 512 bytes: {line}"
                    );
                    assert!(line.ends_with("\r\n"), "not ended by CR LF: {line:?}");
                    let line = line.trim_end().to_owned();
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Ok(Err(error)) => panic!("read error {error} waiting for {needle:?}"),
                Err(_) => panic!("no {needle:?} within {PATIENCE:?}; got {:#?}", self.seen),
            }
        }
    }
}

/// A server with the IRC listener whose clients are ordinary guests: localhost is not an
/// administrator (`--ara`).
async fn start_with_guests(dir: &std::path::Path) -> TestServer {
    let mut config = test_config(dir);
    config.admin_requires_auth = true;
    TestServer::start_with_irc(config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_irc_client_and_a_terminal_client_chat_both_ways_in_a_channel_and_in_dms() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_irc(test_config(&dir)).await;
    let irc = server.irc.expect("IRC listener");
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/nick alice").await;
    alice.expect("changed nick to alice").await;
    alice.line("/join #g").await;
    alice.expect("#g(1)").await;

    let mut bob = IrcClient::registered(irc, "bob").await;
    bob.send("JOIN #g").await;
    bob.expect(":bob!bob@r0c JOIN #g").await;
    let names = bob.expect(" 353 bob = #g :").await;
    assert!(names.contains("alice") && names.contains("bob"), "{names}");
    bob.expect(" 366 bob #g ").await;
    alice.expect("bob has joined").await;

    alice.line("hello from \x02telnet").await;
    bob.expect(":alice!alice@r0c PRIVMSG #g :hello from \x02telnet")
        .await;
    bob.send("PRIVMSG #g :hi from \x0304IRC").await;
    alice.expect("bob hi from IRC").await;
    bob.send("PRIVMSG #g :\x01ACTION waves\x01").await;
    alice.expect("bob waves").await;

    bob.send("PRIVMSG alice :psst, alice").await;
    // The DM opens window 2 for alice, flagged as a mention; /a goes there.
    alice.expect("h:2").await;
    alice.line("/a").await;
    alice.expect("bob psst, alice").await;
    alice.line("/msg bob psst back").await;
    bob.expect(":alice!alice@r0c PRIVMSG bob :psst back").await;

    alice.line("/1").await;
    bob.send("TOPIC #g :the new topic").await;
    alice.expect("the new topic").await;
    alice.line("/nick alicia").await;
    bob.expect(":alice!alice@r0c NICK :alicia").await;
    alice.line("/part").await;
    bob.expect(":alicia!alicia@r0c PART #g").await;

    bob.send("QUIT :bye").await;
    bob.expect("ERROR :Closing link: bye").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chathistory_reads_a_terminal_users_lines_back_in_a_batch_by_msgid_and_timestamp() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_irc(test_config(&dir)).await;
    let irc = server.irc.expect("IRC listener");
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/nick alice").await;
    alice.expect("changed nick to alice").await;
    alice.line("/join #hist").await;
    alice.expect("#hist(1)").await;
    for number in 0..5 {
        alice.line(&format!("history line {number}")).await;
        alice.expect(&format!("history line {number}")).await;
    }

    let caps = "batch draft/chathistory message-tags server-time";
    let mut bob = IrcClient::with_caps(irc, "bob", caps).await;
    bob.assert_saw(" CHATHISTORY=100 ");
    bob.send("CHATHISTORY LATEST #hist * 10").await;
    bob.expect("FAIL CHATHISTORY INVALID_TARGET LATEST #hist")
        .await;
    bob.send("JOIN #hist").await;
    bob.expect(" 366 bob #hist ").await;
    // The PONG comes once the store committed everything sent before the PING.
    bob.send("PING sync").await;
    bob.expect("PONG").await;

    bob.send("CHATHISTORY LATEST #hist * 3").await;
    let opened = bob.expect(" BATCH +").await;
    let reference = opened
        .split(" BATCH +")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .expect("batch reference")
        .to_owned();
    assert!(opened.ends_with(" chathistory #hist"), "{opened}");
    let mut ids = Vec::new();
    let mut times = Vec::new();
    for number in 2..5 {
        let line = bob
            .expect(&format!(
                ":alice!alice@r0c PRIVMSG #hist :history line {number}"
            ))
            .await;
        assert_eq!(
            IrcClient::tag(&line, "batch"),
            Some(reference.as_str()),
            "{line}"
        );
        ids.push(IrcClient::tag(&line, "msgid").expect("msgid").to_owned());
        times.push(IrcClient::tag(&line, "time").expect("time").to_owned());
    }
    bob.expect(&format!(" BATCH -{reference}")).await;

    // Before the first of those, by its msgid: the two older lines, oldest first.
    bob.send(&format!("CHATHISTORY BEFORE #hist msgid={} 10", ids[0]))
        .await;
    bob.expect(" BATCH +").await;
    let first = bob.expect("PRIVMSG #hist :").await;
    assert!(first.ends_with(":history line 0"), "{first}");
    let second = bob.expect("PRIVMSG #hist :").await;
    assert!(second.ends_with(":history line 1"), "{second}");
    bob.expect(" BATCH -").await;

    // After the second one's moment: the last line only.
    bob.send(&format!(
        "CHATHISTORY AFTER #hist timestamp={} 10",
        times[1]
    ))
    .await;
    bob.expect(" BATCH +").await;
    let after = bob.expect("PRIVMSG #hist :").await;
    assert!(after.ends_with(":history line 4"), "{after}");
    bob.expect(" BATCH -").await;

    // A msgid of another channel names nothing here.
    bob.send("CHATHISTORY AROUND #hist msgid=1-00000000 3")
        .await;
    bob.expect("FAIL CHATHISTORY INVALID_MSGREFTYPE AROUND")
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_creating_a_channel_operates_it_kicks_and_irc_clients_see_away_and_read_markers() {
    let (_keep, dir) = data_dir();
    let server = start_with_guests(&dir).await;
    let irc = server.irc.expect("IRC listener");
    let mut carol = IrcClient::registered(irc, "carol").await;
    // The channel r0c's help sends everyone to gives nobody operator status by creating it.
    carol.send("JOIN #g").await;
    let lobby = carol.expect(" 353 carol = #g :").await;
    assert!(lobby.ends_with(":carol"), "{lobby}");
    // A brand new channel makes its creator its operator while in it.
    carol.send("JOIN #fresh").await;
    let names = carol.expect(" 353 carol = #fresh :").await;
    assert!(names.ends_with(":@carol"), "{names}");

    let mut dave = IrcClient::with_caps(irc, "dave", "away-notify draft/read-marker").await;
    dave.send("JOIN #fresh").await;
    dave.expect("MARKREAD #fresh *").await;
    dave.expect(" 366 dave #fresh ").await;
    carol.expect(":dave!dave@r0c JOIN #fresh").await;
    let mut erin = TestClient::joined(server.raw).await;
    erin.line("/nick erin").await;
    erin.expect("changed nick to erin").await;
    erin.line("/join #fresh").await;
    erin.expect("erin has joined").await;
    dave.expect(":erin!erin@r0c JOIN #fresh").await;

    carol.send("AWAY :out to lunch").await;
    carol.expect(" 306 carol ").await;
    dave.expect(":carol!carol@r0c AWAY :out to lunch").await;
    dave.send("WHO #fresh").await;
    let who = dave.expect(" 352 dave #fresh carol ").await;
    assert!(who.contains(" G@ "), "{who}");
    carol.send("AWAY").await;
    carol.expect(" 305 carol ").await;
    let back = dave.expect(":carol!carol@r0c AWAY").await;
    assert!(back.ends_with(" AWAY"), "{back}");

    dave.send("MARKREAD #fresh timestamp=2030-01-02T03:04:05.678Z")
        .await;
    dave.expect("MARKREAD #fresh timestamp=2030-01-02T03:04:05.678Z")
        .await;
    // A marker never moves back.
    dave.send("MARKREAD #fresh timestamp=2020-01-01T00:00:00.000Z")
        .await;
    dave.expect("MARKREAD #fresh timestamp=2030-01-02T03:04:05.678Z")
        .await;

    carol.send("KICK #fresh erin :too loud").await;
    dave.expect(":carol!carol@r0c KICK #fresh erin :too loud")
        .await;
    erin.expect("you were kicked from #fresh by carol: too loud")
        .await;
    carol.send("KICK #fresh dave").await;
    dave.expect(":carol!carol@r0c KICK #fresh dave :carol")
        .await;

    // dave is not an operator: his KICK is refused with ERR_CHANOPRIVSNEEDED.
    dave.send("JOIN #fresh").await;
    dave.expect(" 366 dave #fresh ").await;
    dave.send("KICK #fresh carol").await;
    dave.expect(" 482 dave #fresh ").await;
    // Once the creator leaves, their operator status ends with their membership.
    carol.send("PART #fresh :see you").await;
    carol.expect(":carol!carol@r0c PART #fresh :see you").await;
    dave.expect(":carol!carol@r0c PART #fresh :see you").await;
    carol.send("JOIN #fresh").await;
    let again = carol.expect(" 353 carol = #fresh :").await;
    assert!(!again.contains('@'), "{again}");
    dave.expect(":carol!carol@r0c JOIN #fresh").await;
    // A session operator's modes end with the channel's use: nobody locks a channel by
    // creating it, setting +i and leaving. It is no longer brand new: no operator this time.
    carol.send("JOIN #locked").await;
    carol.expect(" 366 carol #locked ").await;
    carol.send("MODE #locked +i").await;
    carol.expect(":carol!carol@r0c MODE #locked +i").await;
    carol.send("PART #locked").await;
    carol.expect(":carol!carol@r0c PART #locked").await;
    dave.send("JOIN #locked").await;
    let names = dave.expect(" 353 dave = #locked :").await;
    assert!(names.ends_with(":dave"), "{names}");
    carol.send("QUIT :gone fishing").await;
    carol.expect("ERROR").await;
    dave.expect(":carol!carol@r0c QUIT :gone fishing").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_plain_logs_in_to_an_account_registered_over_irc_and_refuses_a_wrong_password() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_irc(test_config(&dir)).await;
    let irc = server.irc.expect("IRC listener");
    let mut carol = IrcClient::registered(irc, "carol").await;
    carol.send("REGISTER sesame-street").await;
    carol.expect("is your account now").await;
    carol.send("JOIN #burrow").await;
    carol.expect(" 366 carol #burrow ").await;
    carol.send("QUIT").await;
    carol.expect("ERROR").await;

    // base64 of "\0carol\0sesame-street" and of "\0carol\0wrong-password".
    let right = "AGNhcm9sAHNlc2FtZS1zdHJlZXQ=";
    let wrong = "AGNhcm9sAHdyb25nLXBhc3N3b3Jk";
    let mut guess = IrcClient::connect(irc).await;
    guess.send("CAP LS 302").await;
    guess.expect("sasl=PLAIN").await;
    guess.send("CAP REQ :sasl").await;
    guess.expect("ACK :sasl").await;
    guess.send("AUTHENTICATE PLAIN").await;
    guess.expect("AUTHENTICATE +").await;
    guess.send(&format!("AUTHENTICATE {wrong}")).await;
    guess.expect(" 904 ").await;

    let mut again = IrcClient::connect(irc).await;
    again.send("CAP LS 302").await;
    again.send("CAP REQ :sasl").await;
    again.send("NICK somebody").await;
    again.send("USER c 0 * :Carol").await;
    again.send("AUTHENTICATE PLAIN").await;
    again.expect("AUTHENTICATE +").await;
    again.send(&format!("AUTHENTICATE {right}")).await;
    again.expect(" 900 ").await;
    again.expect(" 903 ").await;
    again.send("CAP END").await;
    // The account's nick comes with the login.
    again.expect(" 001 carol ").await;
    // Issue 20's return: the account's channel (closed since, so read from the store) is
    // joined again at login.
    again.expect(":carol!carol@r0c JOIN #burrow").await;
    again.send("WHOIS carol").await;
    again.expect(" 330 carol carol carol ").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_numerics_and_the_connection_goes_on() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_irc(test_config(&dir)).await;
    let irc = server.irc.expect("IRC listener");
    let mut client = IrcClient::connect(irc).await;
    client.send("JOIN #g").await;
    client.expect(" 451 * ").await;
    client.send("NICK -bad").await;
    client.expect(" 432 * -bad ").await;
    client.send("NICK dave").await;
    client.send("USER dave 0 *").await;
    client.expect(" 461 dave USER ").await;
    client.send("USER dave 0 * :Dave").await;
    client.expect(" 001 dave ").await;
    client.send("FROBNICATE now").await;
    client.expect(" 421 dave FROBNICATE ").await;
    client
        .send(&format!("PRIVMSG #g :{}", "x".repeat(600)))
        .await;
    client.expect(" 417 dave ").await;
    client.send_bytes(b"PRIVMSG #g :caf\xe9\r\n").await;
    client.expect("FAIL PRIVMSG INVALID_UTF8").await;
    client.send_bytes(b"\r\n\0\0 :\r\n@\r\n:x\r\n").await;
    client.send("JOIN nohash").await;
    client.expect(" 403 dave nohash ").await;
    client.send("PRIVMSG #nowhere :hi").await;
    client.expect(" 403 dave #nowhere ").await;
    client.send("PRIVMSG nobody :hi").await;
    client.expect(" 401 dave nobody ").await;
    client.send("PING still-here").await;
    client.expect("PONG r0c :still-here").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debians_sic_in_tmux_chats_with_a_raw_port_client() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_irc(test_config(&dir)).await;
    let irc = server.irc.expect("IRC listener");
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/nick alice").await;
    alice.line("/join #g").await;
    alice.expect("#g(1)").await;

    let sic = crate::tmux::Tmux::start(
        100,
        30,
        &format!("sic -h 127.0.0.1 -p {} -n sicuser", irc.port()),
    );
    sic.wait_for("End of /MOTD");
    sic.keys(&[":j #g", "Enter"]);
    sic.wait_for("End of /NAMES");
    alice.expect("sicuser has joined").await;
    alice.line("hello sic").await;
    sic.wait_for("<alice> hello sic");
    sic.keys(&[":m #g hi from sic", "Enter"]);
    alice.expect("sicuser hi from sic").await;
    // sic sends a line that starts with a colon and is not one of its commands as it is.
    sic.keys(&[":QUIT :done", "Enter"]);
    alice.expect("sicuser has left").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_s_client_verifies_the_certificate_and_registers_on_the_irc_tls_listener() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_irc_tls(test_config(&dir)).await;
    let port = server.irc.expect("IRC TLS listener").port();
    let cafile = dir.join("cert.crt").display().to_string();
    let mut openssl = std::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-CAfile", &cafile, "-verify_return_error", "-quiet"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl is installed (./test.sh does it)");
    let mut stdin = openssl.stdin.take().expect("stdin");
    let lines = crate::support::lines_of(openssl.stdout.take().expect("stdout"));
    std::io::Write::write_all(
        &mut stdin,
        b"NICK erin\r\nUSER erin 0 * :Erin\r\nJOIN #tls\r\n",
    )
    .expect("write");
    tokio::task::block_in_place(|| {
        crate::support::wait_for_line(&lines, " 001 erin ");
        crate::support::wait_for_line(&lines, ":erin!erin@r0c JOIN #tls");
    });
    drop(stdin);
    let _ = openssl.kill();
    let _ = openssl.wait();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_between_an_irc_account_and_a_terminal_account_is_a_stored_conversation() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_irc(test_config(&dir)).await;
    let irc = server.irc.expect("IRC listener");
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/nick alice").await;
    alice.line("/register alice-secret-1").await;
    alice.expect("is your account now").await;
    let mut dave = IrcClient::registered(irc, "dave").await;
    dave.send("REGISTER dave-secret-1").await;
    dave.expect("is your account now").await;
    // Two identified users: the conversation is read from the store before the first line
    // goes, and then it goes both ways.
    dave.send("PRIVMSG alice :first words, stored").await;
    alice.expect("someone sent you a private message").await;
    alice.line("/a").await;
    alice.expect("dave first words, stored").await;
    alice.line("/msg dave and an answer").await;
    dave.expect(":alice!alice@r0c PRIVMSG dave :and an answer")
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whowas_remembers_who_left_lusers_keeps_the_most_and_help_answers_in_numerics() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_irc(test_config(&dir)).await;
    let irc = server.irc.expect("IRC listener");
    let mut alice = IrcClient::registered(irc, "alice").await;
    alice.send("JOIN #g").await;
    alice.expect(" 366 alice #g ").await;
    let mut bob = IrcClient::registered(irc, "bob").await;
    bob.send("JOIN #g").await;
    alice.expect(":bob!").await;
    bob.send("QUIT :bye").await;
    // The QUIT reaches alice once bob has left the world, so WHOWAS has him from then on.
    alice.expect(" QUIT ").await;
    alice.send("WHOWAS bob").await;
    let was = alice.expect(" 314 alice bob bob ").await;
    assert!(was.ends_with(":bob the tester"), "{was}");
    alice.expect(" 369 alice bob ").await;
    alice.send("WHOWAS carol").await;
    alice.expect(" 406 alice carol ").await;
    alice.expect(" 369 alice carol ").await;
    alice.send("LUSERS").await;
    alice.expect(" 266 alice 1 2 ").await;
    alice.send("HELP privmsg").await;
    alice.expect(" 704 alice privmsg ").await;
    alice.expect(" 706 alice privmsg ").await;
    alice.send("HELP frobnicate").await;
    alice.expect(" 524 alice frobnicate ").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_channel_is_listed_to_its_members_only_and_named_with_an_at_sign() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_irc(test_config(&dir)).await;
    let irc = server.irc.expect("IRC listener");
    let mut alice = IrcClient::registered(irc, "alice").await;
    alice.send("JOIN #hideout").await;
    alice.expect(" 366 alice #hideout ").await;
    // alice created the channel, so she operates it for her session and may set +s.
    alice.send("MODE #hideout +s").await;
    alice.expect(" MODE #hideout +s").await;
    alice.send("NAMES #hideout").await;
    alice.expect(" 353 alice @ #hideout ").await;
    alice.send("LIST").await;
    alice.expect(" 322 alice #hideout ").await;
    let mut bob = IrcClient::registered(irc, "bob").await;
    bob.send("LIST").await;
    bob.expect(" 323 bob ").await;
    bob.assert_never_saw("#hideout");
    // WHOIS names a secret channel only to someone in it.
    bob.send("WHOIS alice").await;
    bob.expect(" 318 bob alice ").await;
    bob.assert_never_saw("#hideout");
    bob.send("JOIN #hideout").await;
    bob.expect(" 353 bob @ #hideout ").await;
    bob.send("LIST").await;
    bob.expect(" 322 bob #hideout ").await;
    bob.send("WHOIS alice").await;
    bob.expect(" 319 bob alice :@#hideout").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_only_channel_refuses_with_473_until_an_invite_line_arrives() {
    let (_keep, dir) = data_dir();
    // Localhost is not an administrator here (`--ara`), or bob would pass +i as one.
    let server = start_with_guests(&dir).await;
    let irc = server.irc.expect("IRC listener");
    let mut alice = IrcClient::registered(irc, "alice").await;
    alice.send("JOIN #club").await;
    alice.expect(" 366 alice #club ").await;
    alice.send("MODE #club +i").await;
    alice.expect(" MODE #club +i").await;
    alice.send("MODE #club +k :two words").await;
    alice.expect(" 696 alice #club k * ").await;
    let mut bob = IrcClient::registered(irc, "bob").await;
    bob.send("JOIN #club").await;
    bob.expect(" 473 bob #club ").await;
    alice.send("INVITE bob #club").await;
    alice.expect(" 341 alice bob #club").await;
    bob.expect(":alice!alice@").await;
    let invite = bob.seen.last().cloned().unwrap_or_default();
    assert!(invite.ends_with(" INVITE bob #club"), "{invite}");
    bob.send("JOIN #club").await;
    bob.expect(" 366 bob #club ").await;
    alice.send("INVITE bob #club").await;
    alice.expect(" 443 alice bob #club ").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_tags_and_tagmsg_reach_only_irc_clients_with_message_tags() {
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    // Flood control on, as it is by default, for the TAGMSG budget below.
    config.flood = r0c::session::flood::FloodLimits::default();
    let server = TestServer::start_with_irc(config).await;
    let irc = server.irc.expect("IRC listener");
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/nick alice").await;
    alice.expect("changed nick to alice").await;
    alice.line("/join #g").await;
    alice.expect("#g(1)").await;

    let mut sam = IrcClient::with_caps(irc, "sam", "message-tags").await;
    let caps = "message-tags batch draft/chathistory";
    let mut tina = IrcClient::with_caps(irc, "tina", caps).await;
    let mut carl = IrcClient::registered(irc, "carl").await;
    for (client, nick) in [(&mut sam, "sam"), (&mut tina, "tina"), (&mut carl, "carl")] {
        client.send("JOIN #g").await;
        client.expect(&format!(":{nick}!{nick}@r0c JOIN #g")).await;
    }

    // A TAGMSG to the channel reaches the other client with message-tags only.
    sam.send("@+draft/react=yes;+note=a\\sb;label=ignored TAGMSG #g")
        .await;
    let tagmsg = tina.expect(":sam!sam@r0c TAGMSG #g").await;
    assert_eq!(
        IrcClient::tag(&tagmsg, "+draft/react"),
        Some("yes"),
        "{tagmsg}"
    );
    assert_eq!(IrcClient::tag(&tagmsg, "+note"), Some("a\\sb"), "{tagmsg}");
    assert!(IrcClient::tag(&tagmsg, "msgid").is_some(), "{tagmsg}");

    // A chat line's client-only tags reach tina, not carl; server tags are not relayed.
    sam.send("@+draft/reply=x1;foo=bar PRIVMSG #g :tagged line")
        .await;
    let tagged = tina.expect("PRIVMSG #g :tagged line").await;
    assert_eq!(
        IrcClient::tag(&tagged, "+draft/reply"),
        Some("x1"),
        "{tagged}"
    );
    assert_eq!(IrcClient::tag(&tagged, "foo"), None, "{tagged}");
    assert!(IrcClient::tag(&tagged, "msgid").is_some(), "{tagged}");
    let plain = carl.expect("PRIVMSG #g :tagged line").await;
    assert!(plain.starts_with(':'), "carl got tags: {plain}");
    carl.assert_never_saw("TAGMSG");
    // The terminal user sees the line and nothing of the TAGMSG before it.
    alice.expect("sam tagged line").await;
    assert!(!alice.text().contains("react"), "{}", alice.text());

    // A TAGMSG to a nick reaches that nick; to a nick without message-tags, nothing.
    sam.send("@+typing=active TAGMSG tina").await;
    tina.expect(":sam!sam@r0c TAGMSG tina").await;
    sam.send("@+typing=active TAGMSG carl").await;
    sam.send("PRIVMSG carl :after the typing").await;
    carl.expect("PRIVMSG carl :after the typing").await;
    carl.assert_never_saw("TAGMSG");

    // History has the line, without its client-only tags (they were never stored).
    tina.send("CHATHISTORY LATEST #g * 10").await;
    let replayed = tina.expect("PRIVMSG #g :tagged line").await;
    assert!(IrcClient::tag(&replayed, "batch").is_some(), "{replayed}");
    assert_eq!(
        IrcClient::tag(&replayed, "+draft/reply"),
        None,
        "{replayed}"
    );

    // TAGMSG draws on the command budget: a flood of them is refused with 263.
    for _ in 0..80 {
        sam.send("@+draft/react=spam TAGMSG #g").await;
    }
    sam.expect(" 263 sam TAGMSG ").await;

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagmsg_obeys_moderation_and_ignore_like_a_line_of_chat() {
    let (_keep, dir) = data_dir();
    // Localhost is not an administrator here (`--ara`), or everyone could speak under +m.
    let server = start_with_guests(&dir).await;
    let irc = server.irc.expect("IRC listener");
    let mut olga = IrcClient::with_caps(irc, "olga", "message-tags").await;
    // vic's echo (echo-message) shows his TAGMSG was handed to the relay.
    let mut vic = IrcClient::with_caps(irc, "vic", "message-tags echo-message").await;
    let mut pat = IrcClient::with_caps(irc, "pat", "message-tags").await;
    // olga creates the channel, so she operates it, and makes it moderated.
    olga.send("JOIN #quiet").await;
    olga.expect(" 366 olga #quiet ").await;
    vic.send("JOIN #quiet").await;
    vic.expect(" 366 vic #quiet ").await;
    pat.send("JOIN #quiet").await;
    pat.expect(" 366 pat #quiet ").await;
    olga.send("MODE #quiet +m").await;
    olga.expect(" MODE #quiet +m").await;
    vic.send("@+draft/react=hi TAGMSG #quiet").await;
    vic.expect(" 404 vic #quiet :#quiet is moderated").await;
    // Moderation lifted, the same TAGMSG reaches olga.
    olga.send("MODE #quiet -m").await;
    olga.expect(" MODE #quiet -m").await;
    vic.send("@+draft/react=two TAGMSG #quiet").await;
    let reached = olga.expect(":vic!vic@r0c TAGMSG #quiet").await;
    assert_eq!(IrcClient::tag(&reached, "+draft/react"), Some("two"));
    olga.assert_never_saw("react=hi");
    // olga ignores vic: his TAGMSGs no longer reach her, his chat lines neither.
    olga.send("IGNORE vic").await;
    olga.expect("vic").await;
    vic.send("@+typing=active TAGMSG olga").await;
    vic.send("@+draft/react=three TAGMSG #quiet").await;
    vic.expect("react=three").await;
    // The relay keeps its order: pat's TAGMSG, sent after vic's, reaches olga after them.
    pat.send("@+draft/react=four TAGMSG #quiet").await;
    olga.expect("react=four").await;
    assert!(
        olga.seen
            .iter()
            .all(|line| !line.contains("typing=active") && !line.contains("react=three")),
        "an ignored user's TAGMSG reached olga: {:#?}",
        olga.seen
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn motd_shows_the_operators_file_cleaned_for_irc() {
    let (_keep, dir) = data_dir();
    let motd = dir.join("motd.txt");
    let long = "x".repeat(300);
    std::fs::write(&motd, format!("rules: be kind\x07 here\n{long}\n")).expect("motd");
    let mut config = test_config(&dir);
    config.motd = Some(motd);
    let server = TestServer::start_with_irc(config).await;
    let irc = server.irc.expect("IRC listener");
    let mut ivy = IrcClient::registered(irc, "ivy").await;
    ivy.send("MOTD").await;
    let shown = ivy.expect(" 372 ivy :- rules: be kind  here").await;
    assert!(!shown.contains('\x07'), "{shown:?}");
    let cut = ivy.expect(" 372 ivy :- xxx").await;
    assert!(cut.ends_with(&"x".repeat(100)), "{cut}");
    assert!(!cut.contains(&"x".repeat(101)), "{cut}");
    ivy.expect(" 376 ivy ").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_is_stored_and_relayed_as_a_notice_and_nothing_answers_it() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_irc(test_config(&dir)).await;
    let irc = server.irc.expect("IRC listener");
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/nick alice").await;
    alice.expect("changed nick to alice").await;
    alice.line("/join #n").await;
    alice.expect("#n(1)").await;
    let mut bob = IrcClient::with_caps(irc, "bob", "echo-message").await;
    bob.send("JOIN #n").await;
    bob.expect(" 366 bob #n ").await;
    let caps = "batch draft/chathistory message-tags server-time";
    let mut carol = IrcClient::with_caps(irc, "carol", caps).await;
    carol.send("JOIN #n").await;
    carol.expect(" 366 carol #n ").await;

    // In a channel: NOTICE to IRC clients (echoed as NOTICE), `-bob-` on the terminal.
    bob.send("NOTICE #n :the build is green").await;
    bob.expect(":bob!bob@r0c NOTICE #n :the build is green")
        .await;
    carol
        .expect(":bob!bob@r0c NOTICE #n :the build is green")
        .await;
    alice.expect("-bob- the build is green").await;
    // A line of chat after it is still chat.
    bob.send("PRIVMSG #n :and chat").await;
    carol.expect(":bob!bob@r0c PRIVMSG #n :and chat").await;

    // To an away nick: the notice arrives, and no RPL_AWAY answers it (the PRIVMSG after
    // it gets the one 301, so none came before).
    alice.line("/away at lunch").await;
    bob.send("NOTICE alice :psst").await;
    bob.expect(":bob!bob@r0c NOTICE alice :psst").await;
    bob.send("PRIVMSG alice :are you there").await;
    bob.expect(" 301 bob alice :at lunch").await;
    let away_replies = bob.lines_with(" 301 ");
    assert_eq!(away_replies, 1, "{:#?}", bob.seen);
    // Nor is a NOTICE to nobody answered with 401: only the PRIVMSG after it is.
    bob.send("NOTICE nobody :hello?").await;
    bob.send("PRIVMSG nobody :hello?").await;
    bob.expect(" 401 bob nobody ").await;
    let unknown = bob.lines_with(" 401 ");
    assert_eq!(unknown, 1, "{:#?}", bob.seen);
    alice.line("/a").await;
    alice.expect("-bob- psst").await;

    // From the store: CHATHISTORY replays it as a NOTICE, the chat line as PRIVMSG.
    carol.send("PING sync").await;
    carol.expect("PONG").await;
    carol.send("CHATHISTORY LATEST #n * 2").await;
    carol.expect(" BATCH +").await;
    let first = carol.expect(" #n :").await;
    assert!(
        first.ends_with(":bob!bob@r0c NOTICE #n :the build is green"),
        "{first}"
    );
    let second = carol.expect(" #n :").await;
    assert!(
        second.ends_with(":bob!bob@r0c PRIVMSG #n :and chat"),
        "{second}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_limit_refuses_joins_with_471_and_tells_terminal_users_the_channel_is_full() {
    let (_keep, dir) = data_dir();
    let server = start_with_guests(&dir).await;
    let irc = server.irc.expect("IRC listener");
    let mut carol = IrcClient::registered(irc, "carol").await;
    carol.assert_saw(" CHANMODES=b,k,l,imrst ");
    carol.send("JOIN #lim").await;
    carol.expect(" 366 carol #lim ").await;
    carol.send("MODE #lim +l 1").await;
    carol.expect(":carol!carol@r0c MODE #lim +l 1").await;
    carol.send("MODE #lim").await;
    carol.expect(" 324 carol #lim +l 1").await;

    let mut dave = IrcClient::registered(irc, "dave").await;
    dave.send("JOIN #lim").await;
    dave.expect(" 471 dave #lim :").await;
    let mut erin = TestClient::joined(server.raw).await;
    erin.line("/join #lim").await;
    erin.expect("#lim is full (+l 1)").await;

    // Bad limits are refused with ERR_INVALIDMODEPARAM and change nothing.
    for bad in ["0", "-1", "abc"] {
        carol.send(&format!("MODE #lim +l {bad}")).await;
        carol.expect(&format!(" 696 carol #lim l {bad} :")).await;
    }
    // An invited user gets in despite the limit.
    carol.send("INVITE dave #lim").await;
    carol.expect(" 341 carol dave #lim").await;
    dave.send("JOIN #lim").await;
    dave.expect(" 366 dave #lim ").await;
    carol.send("MODE #lim -l").await;
    carol.expect(":carol!carol@r0c MODE #lim -l").await;
    erin.line("/join #lim").await;
    erin.expect("has joined").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_irc_line_is_cut_to_one_line_and_a_long_terminal_line_is_split_whole() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_irc(test_config(&dir)).await;
    let irc = server.irc.expect("IRC listener");
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/nick alice").await;
    alice.expect("changed nick to alice").await;
    alice.line("/join #long").await;
    alice.expect("#long(1)").await;
    let mut bob = IrcClient::with_caps(irc, "bob", "echo-message").await;
    bob.send("JOIN #long").await;
    bob.expect(" 366 bob #long ").await;
    let mut carol = IrcClient::registered(irc, "carol").await;
    carol.send("JOIN #long").await;
    carol.expect(" 366 carol #long ").await;

    // A 512-byte line from an IRC client: one line for each IRC reader (a prefix of what was
    // sent, at most 512 bytes: `expect` checks), and the next message is the next line.
    let sent = format!(
        "{}\u{1F603}",
        "b".repeat(512 - "PRIVMSG #long :".len() - 2 - 4)
    );
    bob.send(&format!("PRIVMSG #long :{sent}")).await;
    let cut = carol.expect(":bob!bob@r0c PRIVMSG #long :").await;
    let text = cut.rsplit_once(" :").map(|(_, t)| t).unwrap_or("");
    assert!(sent.starts_with(text) && text.len() > 400, "{cut}");
    let echoed = bob.expect(":bob!bob@r0c PRIVMSG #long :").await;
    assert_eq!(echoed, cut);
    bob.send("PRIVMSG #long :next").await;
    let next = carol.expect(":bob!bob@r0c PRIVMSG #long :").await;
    assert!(next.ends_with(" :next"), "{next}");
    // Terminal users get what was stored: the same cut text.
    alice.expect(&text[text.len() - 20..]).await;

    // A terminal user's longer line reaches IRC clients whole, over several lines.
    let long: String = (0..120).map(|n| format!("w{n:03} ")).collect();
    alice.line(long.trim_end()).await;
    let mut relayed = String::new();
    while !relayed.contains("w119") {
        let piece = carol.expect(":alice!alice@r0c PRIVMSG #long :").await;
        relayed.push_str(piece.rsplit_once(" :").map(|(_, t)| t).unwrap_or(""));
    }
    let lines = carol
        .seen
        .iter()
        .filter(|l| l.starts_with(":alice!alice@r0c PRIVMSG #long :"))
        .count();
    assert!(lines >= 2, "{:#?}", carol.seen);
    assert_eq!(
        relayed.replace(' ', ""),
        long.replace(' ', ""),
        "{:#?}",
        carol.seen
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_and_away_notify_tell_irc_clients_in_shared_channels_of_each_change_once() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_irc(test_config(&dir)).await;
    let irc = server.irc.expect("IRC listener");
    let mut carol = IrcClient::with_caps(irc, "carol", "account-notify away-notify").await;
    let mut dave = IrcClient::registered(irc, "dave").await;
    let mut erin = TestClient::joined(server.raw).await;
    erin.line("/nick erin").await;
    erin.expect("changed nick to erin").await;
    for channel in ["#one", "#two"] {
        erin.line(&format!("/join {channel}")).await;
        erin.expect(&format!("{channel}(")).await;
        carol.send(&format!("JOIN {channel}")).await;
        carol.expect(&format!(" 366 carol {channel} ")).await;
        dave.send(&format!("JOIN {channel}")).await;
        dave.expect(&format!(" 366 dave {channel} ")).await;
    }

    erin.line("/register sesame-street").await;
    erin.expect("is your account now").await;
    carol.expect(":erin!erin@r0c ACCOUNT erin").await;
    erin.line("/logout").await;
    let logout = carol.expect(" ACCOUNT *").await;
    assert!(logout.starts_with(":erin"), "{logout}");
    // Two shared channels, one line each time.
    let lines = carol.lines_with(" ACCOUNT ");
    assert_eq!(lines, 2, "{:#?}", carol.seen);
    // The logout renamed erin (her nick is registered): dave, without the capability, sees
    // that, and nothing about accounts.
    dave.expect(":erin!erin@r0c NICK :").await;
    dave.send("PING sync").await;
    dave.expect("PONG").await;
    dave.assert_never_saw(" ACCOUNT ");

    // away-notify likewise: one AWAY line per change, not one per shared channel.
    erin.line("/away brb").await;
    carol.expect(" AWAY :brb").await;
    erin.line("/back").await;
    let back = carol.expect(" AWAY").await;
    assert!(back.ends_with(" AWAY"), "{back}");
    let away_lines = carol.lines_with(" AWAY");
    assert_eq!(away_lines, 2, "{:#?}", carol.seen);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_lines_reaches_an_irc_client_whole_and_in_order() {
    // Syncs that others cause are spaced out, so a burst arrives in a few writes: none of
    // its lines may be lost or reordered on the way, nor the one after a quiet spell.
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_irc(test_config(&dir)).await;
    let irc = server.irc.expect("IRC listener");
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/nick alice").await;
    alice.expect("changed nick to alice").await;
    alice.line("/join #burst").await;
    alice.expect("#burst(1)").await;
    let mut bob = IrcClient::registered(irc, "bob").await;
    bob.send("JOIN #burst").await;
    bob.expect(" 366 bob #burst ").await;
    alice.expect("bob has joined").await;

    for n in 0..40 {
        alice.line(&format!("burst line {n}")).await;
    }
    for n in 0..40 {
        bob.expect(&format!("PRIVMSG #burst :burst line {n}")).await;
    }
    alice.line("after the burst").await;
    bob.expect("PRIVMSG #burst :after the burst").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_irc_client_that_heard_nothing_for_longer_than_the_stall_timeout_is_not_dropped() {
    // A client that only listens, or that talks without echo-message, may get no output for
    // longer than the stall timeout; the next line for it is a new write, not a stalled one.
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.stall_timeout = std::time::Duration::from_secs(1);
    let server = TestServer::start_with_irc(config).await;
    let irc = server.irc.expect("IRC listener");
    let mut alice = IrcClient::registered(irc, "alice").await;
    alice.send("JOIN #quiet").await;
    alice.expect(" 366 alice #quiet ").await;
    let mut bob = IrcClient::registered(irc, "bob").await;
    bob.send("JOIN #quiet").await;
    bob.expect(" 366 bob #quiet ").await;
    alice.expect(":bob!bob@r0c JOIN #quiet").await;

    // Several rounds, since a stale stall deadline ended the connection only when its timer
    // won the race against the write.
    for round in 0..4 {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        bob.send(&format!("PRIVMSG #quiet :bob talks {round}"))
            .await;
        alice
            .expect(&format!("PRIVMSG #quiet :bob talks {round}"))
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        alice
            .send(&format!("PRIVMSG #quiet :alice answers {round}"))
            .await;
        bob.expect(&format!("PRIVMSG #quiet :alice answers {round}"))
            .await;
    }
    server.stop().await;
}
