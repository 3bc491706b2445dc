//! The web terminal over real sockets: the page and its assets, the WebSocket session (no
//! wizard questions, chat with a raw TCP client, resize, bad control messages, oversized
//! messages, a browser that stops reading), the Origin check, the per-address limit,
//! `/metrics`, and the time limits: slowloris, silent sockets, idle keep-alives and silent
//! WebSockets are closed, and loopback scrapes of `/metrics` pass `--conn-rate`.

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{PATIENCE, TestClient, TestServer, data_dir, http_get, test_config};
use r0c::front::admission::Exemptions;

/// A browser terminal as the page is one: it answers cursor-position probes the way
/// xterm.js does and draws what it gets on a terminal emulator.
struct Browser<S = TcpStream> {
    socket: WebSocketStream<S>,
    terminal: vt100::Parser,
    /// Text control messages from the server.
    notes: Vec<String>,
}

fn nonzero(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).expect("nonzero")
}

impl Browser {
    async fn open(web: SocketAddr, cols: u16, rows: u16) -> Browser {
        let stream = TcpStream::connect(web).await.expect("connect");
        Browser::open_on(stream, web, cols, rows, &format!("http://{web}"))
            .await
            .expect("handshake")
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Browser<S> {
    async fn open_on(
        stream: S,
        web: SocketAddr,
        cols: u16,
        rows: u16,
        origin: &str,
    ) -> Result<Browser<S>, tokio_tungstenite::tungstenite::Error> {
        let mut request = format!("ws://{web}/ws?cols={cols}&rows={rows}")
            .into_client_request()
            .expect("request");
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("origin"));
        let (socket, _) = tokio_tungstenite::client_async(request, stream).await?;
        Ok(Browser {
            socket,
            terminal: vt100::Parser::new(nonzero(rows), nonzero(cols), 0),
            notes: Vec::new(),
        })
    }

    fn screen(&self) -> String {
        self.terminal.screen().contents()
    }

    fn row(&self, row: u16) -> String {
        let (_, cols) = self.terminal.screen().size();
        self.terminal
            .screen()
            .contents_between(row, 0, row, cols.get())
    }

    /// Handles one message from the server; false once the connection is closed.
    async fn receive_one(&mut self) -> bool {
        match self.socket.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                self.terminal.process(&bytes);
                if bytes.windows(4).any(|w| w == b"\x1b[6n") {
                    let (rows, cols) = self.terminal.screen().size();
                    let answer = format!("\x1b[{};{}R", rows.get(), cols.get());
                    self.socket
                        .send(Message::Binary(answer.into_bytes().into()))
                        .await
                        .expect("answer the probe");
                }
                true
            }
            Some(Ok(Message::Text(text))) => {
                self.notes.push(text.to_string());
                true
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => false,
            Some(Ok(_)) => true,
        }
    }

    async fn wait_until(&mut self, what: &str, done: impl Fn(&Browser<S>) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.receive_one()).await {
                Ok(true) => {}
                Ok(false) => panic!(
                    "closed while waiting for {what}; screen:\n{}",
                    self.screen()
                ),
                Err(_) => panic!("timed out waiting for {what}; screen:\n{}", self.screen()),
            }
        }
    }

    async fn expect(&mut self, needle: &str) {
        self.wait_until(needle, |b| b.screen().contains(needle))
            .await;
    }

    async fn type_keys(&mut self, keys: &str) {
        self.socket
            .send(Message::Binary(keys.as_bytes().to_vec().into()))
            .await
            .expect("send keys");
    }

    async fn control(&mut self, json: &str) {
        self.socket
            .send(Message::Text(json.into()))
            .await
            .expect("send control");
    }

    /// The nick on the input line (`nick> `).
    fn nick(&self) -> String {
        let (rows, _) = self.terminal.screen().size();
        let input = self.row(rows.get() - 1);
        input
            .split('>')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    async fn closed(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.receive_one()).await {
                Ok(true) => {}
                Ok(false) => return true,
                Err(_) => return false,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_assets_are_served_with_their_types() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_web(test_config(&dir)).await;
    let web = server.web.expect("web listener");
    let page = http_get(web, "/").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("content-type: text/html"), "{page}");
    assert!(
        page.contains("content-security-policy: default-src 'self'"),
        "{page}"
    );
    assert!(page.contains("static/xterm.js"), "{page}");
    for (path, kind, marker) in [
        ("/static/xterm.js", "text/javascript", "Terminal"),
        ("/static/addon-fit.js", "text/javascript", "FitAddon"),
        ("/static/app.js", "text/javascript", "/ws?cols="),
        ("/static/xterm.css", "text/css", ".xterm"),
    ] {
        let asset = http_get(web, path).await;
        assert!(asset.starts_with("HTTP/1.1 200"), "{path}: {asset:.200}");
        assert!(asset.contains(&format!("content-type: {kind}")), "{path}");
        assert!(asset.contains(marker), "{path}");
    }
    let missing = http_get(web, "/../../etc/passwd").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(missing.contains("r0c: no such page"), "{missing}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_skips_the_wizard_and_chats_with_a_netcat_client() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_web(test_config(&dir)).await;
    let mut browser = Browser::open(server.web.expect("web"), 100, 30).await;
    browser.expect("r0c readme (and status info)").await;
    assert!(
        !browser.screen().contains("qwer asdf"),
        "no typing test for a browser"
    );
    browser.type_keys("/join #w\r").await;
    browser.expect("has joined").await;

    let mut netcat = TestClient::joined(server.raw).await;
    netcat.line("/join #w").await;
    netcat.expect("has joined").await;
    netcat.say("hello from netcat").await;
    browser.expect("hello from netcat").await;
    browser.type_keys("hello from the web, ünïcödé\r").await;
    netcat.expect("hello from the web, ünïcödé").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resize_message_moves_the_layout_and_a_bad_one_gets_an_answer() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_web(test_config(&dir)).await;
    let mut browser = Browser::open(server.web.expect("web"), 100, 30).await;
    browser.expect("r0c readme (and status info)").await;
    browser.type_keys("/join #resized\r").await;
    browser.expect("has joined").await;
    browser
        .wait_until("the status bar on row 28", |b| {
            b.row(28).contains("#resized")
        })
        .await;

    browser.control("not json at all").await;
    browser
        .control(r#"{"t":"resize","cols":60000,"rows":15}"#)
        .await;
    browser
        .wait_until("two error answers", |b| b.notes.len() >= 2)
        .await;
    assert!(
        browser.notes[0].contains("unusable control message"),
        "{:?}",
        browser.notes
    );
    assert!(
        browser.notes[1].contains("out of range"),
        "{:?}",
        browser.notes
    );

    browser
        .control(r#"{"t":"resize","cols":60,"rows":15}"#)
        .await;
    browser
        .terminal
        .screen_mut()
        .set_size(nonzero(15), nonzero(60));
    browser
        .wait_until("the status bar on the new row 13", |b| {
            b.row(13).contains("#resized")
        })
        .await;
    browser.type_keys("still here\r").await;
    browser.expect("still here").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_another_origin_is_refused() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_web(test_config(&dir)).await;
    let web = server.web.expect("web");
    let stream = TcpStream::connect(web).await.expect("connect");
    match Browser::open_on(stream, web, 80, 24, "http://evil.example").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            assert!(
                body.contains("only be opened from this server's own page"),
                "{body}"
            );
        }
        Err(other) => panic!("expected a 403, got {other}"),
        Ok(_) => panic!("a foreign origin got a session"),
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_address_limit_answers_browsers_in_http() {
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.max_per_ip = 2;
    // Loopback is exempt by default; the test clients are all on it.
    config.limit_exempt = Exemptions::none();
    let server = TestServer::start_with_web(config).await;
    let web = server.web.expect("web");
    let _first = Browser::open(web, 80, 24).await;
    let _second = TcpStream::connect(web).await.expect("connect");
    // The second connection is counted before the third arrives.
    server.wait_for_open_connections(2).await;
    let third = http_get(web, "/").await;
    assert!(third.starts_with("HTTP/1.1 503"), "{third}");
    assert!(
        third.contains("too many connections from your address"),
        "{third}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_closes_only_that_browser() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_web(test_config(&dir)).await;
    let web = server.web.expect("web");
    let mut other = Browser::open(web, 80, 24).await;
    other.expect("r0c readme (and status info)").await;
    let mut sender = Browser::open(web, 80, 24).await;
    sender.expect("r0c readme (and status info)").await;
    let megabyte = vec![b'x'; 1024 * 1024];
    // The server may close before the whole message is written; either way it ends here.
    let _ = sender.socket.send(Message::Binary(megabyte.into())).await;
    assert!(
        sender.closed().await,
        "a 1 MB message closes the connection"
    );
    other.type_keys("/join #after\r").await;
    other.expect("has joined").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_stops_reading_is_dropped_without_delaying_others() {
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.stall_timeout = Duration::from_secs(2);
    let server = TestServer::start_with_web(config).await;
    let web = server.web.expect("web");
    // A small receive buffer, so that what the browser does not read backs up soon.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let stream = socket.connect(web).await.expect("connect");
    let mut stalled = Browser::open_on(stream, web, 200, 60, &format!("http://{web}"))
        .await
        .expect("handshake");
    stalled.expect("r0c readme (and status info)").await;
    stalled.type_keys("/join #busy\r").await;
    stalled.expect("has joined").await;
    let nick = stalled.nick();
    assert!(!nick.is_empty(), "input line: {}", stalled.row(59));

    let mut talker = TestClient::joined(server.raw).await;
    talker.line("/join #busy").await;
    talker.expect("has joined").await;
    let mut watcher = TestClient::joined(server.raw).await;
    watcher.line("/join #busy").await;
    watcher.expect("has joined").await;
    // The stalled browser reads nothing from here on.
    for round in 0..40 {
        let burst: String = (0..50)
            .map(|i| format!("line {round}-{i} {}\n", "x".repeat(150)))
            .collect();
        talker.send(burst.as_bytes()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    talker.line("the last line").await;
    watcher.expect("the last line").await;
    watcher.expect(&format!("{nick} has left")).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_web_clients_by_mode_and_answer_loopback() {
    r0c::metrics::install();
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_web(test_config(&dir)).await;
    let web = server.web.expect("web");
    let mut browser = Browser::open(web, 80, 24).await;
    browser.expect("r0c readme (and status info)").await;
    let metrics = http_get(web, "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics.contains("content-type: text/plain; version=0.0.4"),
        "{metrics}"
    );
    let web_clients = metrics
        .lines()
        .find(|line| line.starts_with(r#"r0c_clients{listener="web",mode="vt100"}"#))
        .unwrap_or_else(|| panic!("no web clients gauge:\n{metrics}"));
    let count: f64 = web_clients
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number");
    assert!(count >= 1.0, "{web_clients}");
    assert!(metrics.contains("r0c_store_queue_depth"), "{metrics}");
    assert!(
        metrics.contains("r0c_bytes_out_total{listener=\"web\"}"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_tls_serves_the_page_and_the_chat_with_the_tls_certificate() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let (_keep, dir) = data_dir();
    let server = TestServer::start_with_web_tls(test_config(&dir)).await;
    let web = server.web.expect("web tls");
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join("cert.crt")).expect("cert.crt") {
        roots.add(cert.expect("certificate")).expect("trust it");
    }
    let client = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client));
    let name = ServerName::try_from("localhost").expect("name");

    let tcp = TcpStream::connect(web).await.expect("connect");
    let mut tls = connector
        .connect(name.clone(), tcp)
        .await
        .expect("verified handshake");
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut page = Vec::new();
    // The server may end TLS without close_notify once the response is out; what arrived counts.
    let _ = tokio::time::timeout(PATIENCE, tls.read_to_end(&mut page)).await;
    let page = String::from_utf8_lossy(&page);
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("static/xterm.js"),
        "{page}"
    );

    let tcp = TcpStream::connect(web).await.expect("connect");
    let tls = connector
        .connect(name, tcp)
        .await
        .expect("verified handshake");
    let mut browser = Browser::open_on(tls, web, 80, 24, &format!("https://{web}"))
        .await
        .expect("wss handshake");
    browser.expect("r0c readme (and status info)").await;
    browser.type_keys("/join #secure\r").await;
    browser.expect("has joined").await;

    // A plain HTTP request on the HTTPS port fails the handshake and costs nothing else.
    let mut plain = TcpStream::connect(web).await.expect("connect");
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("request");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, plain.read_to_end(&mut answer)).await;
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    browser.type_keys("still fine\r").await;
    browser.expect("still fine").await;
    server.stop().await;
}

/// Generous: how long a test waits for the server to close a connection that a timeout of
/// at most 10 s should end.
const CLOSE_PATIENCE: Duration = Duration::from_secs(40);

/// Reads from `stream` until the server closes it (end of stream or reset); how long that
/// took from `since`, or `None` if it stayed open for [`CLOSE_PATIENCE`].
async fn wait_closed<S: AsyncRead + Unpin>(
    stream: &mut S,
    since: tokio::time::Instant,
) -> Option<Duration> {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + CLOSE_PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(since.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

/// Sends a request head one byte every 200 ms, a header that never ends, until the server
/// closes the connection; how long that took from before the connection was made.
async fn slowloris(web: SocketAddr) -> Option<Duration> {
    let since = tokio::time::Instant::now();
    let mut stream = TcpStream::connect(web).await.expect("connect");
    let head = format!("GET / HTTP/1.1\r\nHost: {web}\r\nX-Slow: ").into_bytes();
    let mut ticks = tokio::time::interval(Duration::from_millis(200));
    let deadline = tokio::time::Instant::now() + CLOSE_PATIENCE;
    let mut buf = [0u8; 4096];
    let mut sent = 0;
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                let byte = head.get(sent).copied().unwrap_or(b'a');
                if stream.write_all(&[byte]).await.is_err() {
                    return Some(since.elapsed());
                }
                sent += 1;
            }
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Some(since.elapsed()),
                Ok(_) => {}
            },
            () = tokio::time::sleep_until(deadline) => return None,
        }
    }
}

/// Reads one HTTP response with a content-length from a keep-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())
                        .flatten()
                })
                .expect("a content-length");
            if received.len() >= end + 4 + length {
                return text;
            }
        }
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("response in time")
            .expect("read");
        assert!(n > 0, "closed in the middle of a response: {text}");
        received.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_silent_and_idle_keep_alive_connections_are_closed_by_the_header_timeout() {
    let (_keep, dir) = data_dir();
    let config = test_config(&dir);
    // The first-input timeout (60 s) is far away: what closes these is the header timeout.
    assert!(config.first_input_timeout >= Duration::from_secs(30));
    let server = TestServer::start_with_web(config).await;
    let web = server.web.expect("web");
    let header_timeout = r0c::front::web::HEADER_READ_TIMEOUT;

    let slow = tokio::spawn(slowloris(web));
    let silent = tokio::spawn(async move {
        let since = tokio::time::Instant::now();
        let mut stream = TcpStream::connect(web).await.expect("connect");
        wait_closed(&mut stream, since).await
    });
    let idle = tokio::spawn(async move {
        let mut stream = TcpStream::connect(web).await.expect("connect");
        let request = format!("GET /static/app.css HTTP/1.1\r\nHost: {web}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("request");
        let first = read_response(&mut stream).await;
        assert!(first.starts_with("HTTP/1.1 200"), "{first}");
        // A short pause is no reason to close: the connection serves another request.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let since = tokio::time::Instant::now();
        stream.write_all(request.as_bytes()).await.expect("request");
        let second = read_response(&mut stream).await;
        assert!(second.starts_with("HTTP/1.1 200"), "{second}");
        wait_closed(&mut stream, since).await
    });

    for (what, task) in [("slowloris", slow), ("silent", silent), ("idle", idle)] {
        let took = task
            .await
            .expect("client task")
            .unwrap_or_else(|| panic!("the {what} connection was still open after 40 s"));
        assert!(
            took >= header_timeout,
            "the {what} connection was closed after {took:?}, before the header timeout"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_web_socket_gives_its_place_back_to_telnet_within_the_first_input_timeout() {
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.max_clients = 1;
    config.first_input_timeout = Duration::from_secs(2);
    let server = TestServer::start_with_web(config).await;
    let web = server.web.expect("web");

    let since = tokio::time::Instant::now();
    let mut silent = TcpStream::connect(web).await.expect("connect");
    // The web socket holds the only place (once the accept loop took it).
    server.wait_for_open_connections(1).await;
    let mut refused = TestClient::connect(server.telnet).await;
    refused.expect("the server is full").await;

    let took = wait_closed(&mut silent, since)
        .await
        .expect("the silent web socket was closed");
    assert!(took >= Duration::from_secs(2), "closed after {took:?}");
    let mut telnet = TestClient::connect(server.telnet).await;
    telnet.expect("qwer asdf").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_head_never_outlasts_a_short_first_input_timeout() {
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.first_input_timeout = Duration::from_secs(1);
    let server = TestServer::start_with_web(config).await;
    let took = slowloris(server.web.expect("web"))
        .await
        .expect("the slow request was cut off");
    assert!(took >= Duration::from_secs(1), "closed after {took:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_web_socket_that_says_nothing_is_closed_and_frees_its_place() {
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.max_clients = 2;
    config.first_input_timeout = Duration::from_secs(2);
    let server = TestServer::start_with_web(config).await;
    let web = server.web.expect("web");

    // A browser that speaks first, as the page does (its size, as soon as the socket opens).
    let mut speaking = Browser::open(web, 80, 24).await;
    speaking
        .control(r#"{"t":"resize","cols":80,"rows":24}"#)
        .await;
    speaking.expect("r0c readme (and status info)").await;

    let since = tokio::time::Instant::now();
    let mut silent = Browser::open(web, 80, 24).await;
    let mut refused = TestClient::connect(server.telnet).await;
    refused.expect("the server is full").await;

    let deadline = tokio::time::Instant::now() + CLOSE_PATIENCE;
    let reason = loop {
        match tokio::time::timeout_at(deadline, silent.socket.next()).await {
            Err(_) => panic!("the silent web socket was still open after 40 s"),
            Ok(Some(Ok(Message::Close(frame)))) => {
                break frame
                    .map(|frame| frame.reason.to_string())
                    .unwrap_or_default();
            }
            Ok(None | Some(Err(_))) => break String::new(),
            Ok(Some(Ok(_))) => {}
        }
    };
    let took = since.elapsed();
    assert!(took >= Duration::from_secs(2), "closed after {took:?}");
    assert!(
        reason.contains("nothing received"),
        "close reason {reason:?}"
    );

    let mut telnet = TestClient::connect(server.telnet).await;
    telnet.expect("qwer asdf").await;
    // The browser that spoke is still in the chat.
    speaking.type_keys("/join #alive\r").await;
    speaking.expect("has joined").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_metrics_scrapes_are_not_counted_against_the_connection_rate() {
    r0c::metrics::install();
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.conn_rate = 3;
    // The deferred charge is for an operator who took loopback out of the exemptions; an
    // exempt loopback owes no rate at all.
    config.limit_exempt = Exemptions::none();
    let server = TestServer::start_with_web(config).await;
    let web = server.web.expect("web");
    for scrape in 0..40 {
        let metrics = http_get(web, "/metrics").await;
        assert!(
            metrics.starts_with("HTTP/1.1 200") && metrics.contains("r0c_"),
            "scrape {scrape}: {metrics:.300}"
        );
    }
    // Every other request still counts, on its own connection or after a scrape on one.
    for _ in 0..2 {
        let page = http_get(web, "/").await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page:.300}");
    }
    let mut stream = TcpStream::connect(web).await.expect("connect");
    let scrape = format!("GET /metrics HTTP/1.1\r\nHost: {web}\r\n\r\n");
    stream.write_all(scrape.as_bytes()).await.expect("request");
    let metrics = read_response(&mut stream).await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics:.300}");
    let page = format!("GET / HTTP/1.1\r\nHost: {web}\r\n\r\n");
    stream.write_all(page.as_bytes()).await.expect("request");
    let third = read_response(&mut stream).await;
    assert!(third.starts_with("HTTP/1.1 200"), "{third:.300}");

    let over = http_get(web, "/").await;
    assert!(over.starts_with("HTTP/1.1 503"), "{over:.300}");
    assert!(over.contains("too many new connections"), "{over:.300}");
    let browser = TcpStream::connect(web).await.expect("connect");
    match Browser::open_on(browser, web, 80, 24, &format!("http://{web}")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
        }
        Err(other) => panic!("expected a 503, got {other}"),
        Ok(_) => panic!("a WebSocket over the rate got a session"),
    }
    let metrics = http_get(web, "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics:.300}");
    server.stop().await;
}
