//! The web terminal over real sockets: the page and its assets, the WebSocket session (no
//! wizard questions, chat with a raw TCP client, resize, bad control messages, oversized
//! messages, a browser that stops reading), the Origin check, the per-address limit and
//! `/metrics`.

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
    let server = TestServer::start_with_web(config).await;
    let web = server.web.expect("web");
    let _first = Browser::open(web, 80, 24).await;
    let _second = TcpStream::connect(web).await.expect("connect");
    // Give the server a moment to count the second connection before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
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
