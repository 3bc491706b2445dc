//! The web terminal: an HTTP listener (axum) serving one page with xterm.js, a WebSocket
//! endpoint that is one more client of the chat, and `/metrics`.
//!
//! Connections pass the same admission as every other listener (`front::listen`) before HTTP
//! is spoken, then each runs in a task of its own (the optional TLS handshake, then hyper's
//! HTTP/1.1), so the accept loop never waits on a client. Every stage has a time limit: a
//! socket that stays silent, sends its request head slowly, idles between requests or upgrades
//! and then says nothing never holds its place longer than the raw port's first-input timeout.
//! A WebSocket session is the ordinary connection task ([`crate::session::converse`] with the
//! `WebTerminal` adapter) reading and writing one end of an in-memory pipe, while a pump moves
//! bytes between the other end and the WebSocket: binary frames carry terminal bytes, text
//! frames carry JSON control messages (the window size). Backpressure is the same as for a TCP
//! client: a browser that stops reading fills the pipe, then the session's bounded output, and
//! is dropped after the stall timeout.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::front::admission::{Admission, Refusal, Ticket};
use crate::front::listen::{Admitted, Answer, Listening, accept_web_tls, admit_next};
use crate::session::{Arrival, Input, ReportedSizes, Transport};
use crate::world::World;

/// The page and its assets, embedded so that the binary is all an operator installs.
const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const APP_CSS: &str = include_str!("../../web/app.css");
const XTERM_JS: &str = include_str!("../../web/vendor/xterm.js");
const XTERM_CSS: &str = include_str!("../../web/vendor/xterm.css");
const FIT_JS: &str = include_str!("../../web/vendor/addon-fit.js");

/// The biggest WebSocket message accepted from a browser; the page sends pastes in pieces
/// of 16 KiB, and a bigger message closes the connection.
const MAX_MESSAGE: usize = 64 * 1024;
/// The pipe between the pump and the session holds this much in each direction.
const PIPE_CAPACITY: usize = 16 * 1024;
/// How long a WebSocket closed for its silence is given to take the close frame.
const CLOSE_TIME: Duration = Duration::from_millis(500);
/// How often the server pings the browser, so dead connections are noticed.
const PING_INTERVAL: Duration = Duration::from_secs(30);
/// The largest window the page may report, in either direction.
const MAX_WINDOW_CELLS: u16 = 1000;
/// How long static assets may be cached: a reload then costs one connection, not five,
/// which matters under the per-address connection rate limit.
const ASSET_CACHE: &str = "public, max-age=3600";
/// What the page may load and connect to: only this server. xterm.js adds style elements.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; \
     connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

/// What the web listener's handlers share.
#[derive(Clone)]
pub struct WebContext {
    pub world: Arc<World>,
    /// The arrival of every web session but its peer address (the latest, after a reload).
    pub arrival: watch::Receiver<Arrival>,
    /// `--metrics-public`: `/metrics` answers every address.
    pub metrics_public: bool,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
}

/// The client's address, as the handlers see it.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// When a connection must have sent its first WebSocket message: its arrival plus the raw
/// port's first-input timeout. Until then the connection is silent as far as the chat knows.
#[derive(Debug, Clone, Copy)]
struct FirstWordBy(Instant);

/// An admitted connection: the stream, and its place under the connection limits, given
/// back when hyper (or the WebSocket it was upgraded to) drops it. The place is declared
/// first so that it is given back before the socket closes: a client that sees the close
/// finds the place free.
pub struct WebIo {
    _ticket: Ticket,
    stream: WebStream,
}

enum WebStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for WebIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().stream {
            WebStream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            WebStream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WebIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.get_mut().stream {
            WebStream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            WebStream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().stream {
            WebStream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            WebStream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().stream {
            WebStream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            WebStream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Serves the web terminal on its listener until shutdown; a TLS acceptor makes it HTTPS.
///
/// Connections pass admission (`front::listen`, a refusal answered with an HTTP 503), then
/// each is served by a task of its own: the TLS handshake within
/// `front::listen::TLS_HANDSHAKE_TIMEOUT`, then HTTP/1.1 with hyper, every request head within
/// [`HEADER_READ_TIMEOUT`] (an idle keep-alive connection waits for its next head under the
/// same limit), and the whole connection, until its WebSocket has sent a first message, within
/// the raw port's first-input timeout.
pub async fn run(listening: Listening) {
    let context = WebContext {
        world: listening.world.clone(),
        arrival: listening.arrival.clone(),
        metrics_public: listening.metrics_public,
        shutdown: listening.shutdown.clone(),
        tracker: listening.tracker.clone(),
    };
    let (shutdown, tracker, admission) = (
        listening.shutdown.clone(),
        listening.tracker.clone(),
        listening.admission.clone(),
    );
    let app = router(context);
    // A loopback connection is counted against --conn-rate only once it asks for more than
    // /metrics, so that a local Prometheus scraping every 15 s is not refused; the caps on
    // open connections apply to it all the same. This matters only when the operator took
    // loopback out of --limit-exempt: exempt addresses owe no rate at all.
    let deferred =
        |address: std::net::IpAddr| is_loopback(address) && !admission.is_exempt(address);
    let answer = if listening.tls.is_some() {
        Answer::Close
    } else {
        Answer::Http
    };
    while let Some(admitted) = admit_next(&listening, answer, Some("web"), deferred).await {
        let Admitted {
            stream,
            peer,
            ticket,
            arrived,
        } = admitted;
        let rate = deferred(peer.ip()).then(|| {
            Arc::new(DeferredRate {
                admission: admission.clone(),
                address: peer.ip(),
                charged: AtomicBool::new(false),
            })
        });
        let (tls, app, shutdown) = (listening.tls.clone(), app.clone(), shutdown.clone());
        // Per connection: a reload may have changed the first-input timeout.
        let limits = ConnectionLimits::new(listening.arrival.borrow().first_input_timeout);
        let first_word_by = arrived + limits.first_input;
        let connection = Connection {
            peer,
            first_word_by,
            header_read: limits.header_read,
            rate,
        };
        // The future is made inside the task, as in the other accept loops.
        tracker.spawn(async move {
            let stream = match tls {
                None => WebStream::Plain(stream),
                Some(acceptor) => {
                    match accept_web_tls(stream, acceptor, peer, arrived, first_word_by).await {
                        Some(stream) => WebStream::Tls(Box::new(stream)),
                        None => return,
                    }
                }
            };
            let io = WebIo {
                _ticket: ticket,
                stream,
            };
            serve_connection(io, connection, app, shutdown).await;
        });
    }
}

/// How long a client may take to send a request head, from the moment the server waits for
/// it: from the connection's start, and between the requests of a keep-alive connection.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The time limits of one web connection.
#[derive(Debug, Clone, Copy)]
struct ConnectionLimits {
    /// The raw port's first-input timeout: the longest a connection may go without a
    /// WebSocket message.
    first_input: Duration,
    /// [`HEADER_READ_TIMEOUT`], or the first-input timeout if that is shorter, so that a
    /// silent socket never outlasts the first-input timeout.
    header_read: Duration,
}

impl ConnectionLimits {
    fn new(first_input: Duration) -> ConnectionLimits {
        ConnectionLimits {
            first_input,
            header_read: HEADER_READ_TIMEOUT.min(first_input),
        }
    }
}

/// One admitted connection, as its HTTP service needs it.
struct Connection {
    peer: SocketAddr,
    first_word_by: Instant,
    header_read: Duration,
    /// A loopback connection's rate charge, made at its first request other than `/metrics`.
    rate: Option<Arc<DeferredRate>>,
}

/// The `--conn-rate` charge a loopback connection owes once it asks for more than metrics.
struct DeferredRate {
    admission: Arc<Admission>,
    address: std::net::IpAddr,
    charged: AtomicBool,
}

impl DeferredRate {
    /// Charges the connection for a request of `path` unless it is a scrape of `/metrics` or
    /// the connection paid already; the refusal if the address is over its rate.
    fn charge_for(&self, path: &str) -> Result<(), Refusal> {
        if path == "/metrics" || self.charged.load(Ordering::Acquire) {
            return Ok(());
        }
        self.admission.charge_rate(self.address)?;
        self.charged.store(true, Ordering::Release);
        Ok(())
    }
}

/// Serves HTTP on one connection until it ends, is upgraded to a WebSocket, or runs past
/// its first-input deadline; dropping the connection closes it and frees its place.
async fn serve_connection(
    io: WebIo,
    connection: Connection,
    app: Router,
    shutdown: CancellationToken,
) {
    let Connection {
        peer,
        first_word_by,
        header_read,
        rate,
    } = connection;
    let app = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let (app, rate) = (app.clone(), rate.clone());
        async move {
            if let Some(rate) = rate
                && let Err(refusal) = rate.charge_for(request.uri().path())
            {
                crate::metrics::refused(refusal.reason());
                tracing::info!(%peer, %refusal, listener = "web", "connection refused");
                return Ok(rate_refusal(&refusal));
            }
            request.extensions_mut().insert(ConnectInfo(Peer(peer)));
            request.extensions_mut().insert(FirstWordBy(first_word_by));
            app.call(request).await
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read)
        .keep_alive(true);
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    // An upgraded connection ends this future at once; its WebSocket keeps the deadline.
    let deadline = tokio::time::sleep_until(first_word_by);
    tokio::pin!(deadline);
    let mut stopping = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%peer, %error, "web connection ended");
                }
                return;
            }
            () = &mut deadline => {
                tracing::debug!(%peer, "web connection closed: no WebSocket message in time");
                return;
            }
            () = shutdown.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The answer to a loopback request over `--conn-rate`; the connection closes after it.
fn rate_refusal(refusal: &Refusal) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONNECTION, "close")],
        format!("r0c: {refusal}\n"),
    )
        .into_response()
}

/// The routes: the page, its assets, the WebSocket and the metrics.
pub fn router(context: WebContext) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/static/app.js", get(|| asset(APP_JS, "text/javascript")))
        .route("/static/app.css", get(|| asset(APP_CSS, "text/css")))
        .route(
            "/static/xterm.js",
            get(|| asset(XTERM_JS, "text/javascript")),
        )
        .route("/static/xterm.css", get(|| asset(XTERM_CSS, "text/css")))
        .route(
            "/static/addon-fit.js",
            get(|| asset(FIT_JS, "text/javascript")),
        )
        .route("/ws", get(websocket))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "r0c: no such page; the chat is at /\n",
            )
        })
        .with_state(context)
}

async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX_HTML,
    )
        .into_response()
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, ASSET_CACHE),
        ],
        body,
    )
        .into_response()
}

async fn metrics(
    State(context): State<WebContext>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
) -> Response {
    if !context.metrics_public && !is_loopback(peer.ip()) {
        return (
            StatusCode::FORBIDDEN,
            "r0c: /metrics answers only loopback addresses; start the server with --metrics-public to show it to everyone\n",
        )
            .into_response();
    }
    metrics::gauge!(crate::metrics::STORE_QUEUE_DEPTH)
        .set(context.world.store().pending_writes() as f64);
    if let Some(cluster) = context.world.cluster_report() {
        crate::metrics::set_cluster(
            cluster.nodes,
            cluster.lag,
            cluster.last_ack_micros as f64 / 1e6,
            cluster.reachable,
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(
            context.world.activity().messages,
            context.world.store().health() == crate::store::Health::Healthy,
        ),
    )
        .into_response()
}

/// Loopback, also when an IPv4 loopback address arrives mapped into IPv6.
fn is_loopback(address: std::net::IpAddr) -> bool {
    match address {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

async fn websocket(
    upgrade: WebSocketUpgrade,
    State(context): State<WebContext>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Extension(FirstWordBy(first_word_by)): Extension<FirstWordBy>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(why) = check_origin(&headers) {
        tracing::info!(%peer, why, "web socket refused");
        return (StatusCode::FORBIDDEN, format!("r0c: {why}\n")).into_response();
    }
    let size = initial_size(uri.query().unwrap_or_default());
    upgrade
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| {
            let tracker = context.tracker.clone();
            tracker.track_future(session(socket, peer, size, first_word_by, context))
        })
}

/// A browser page may open the WebSocket only from this server's own pages: another site
/// could otherwise chat in the name of whoever visits it. Clients that are not browsers send
/// no Origin and cannot be lured anywhere, so they may connect.
pub fn check_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| "the Origin header is not readable")?;
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .ok_or("the request has no Host header")?;
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'))
        .ok_or("the Origin header is not an address")?;
    if origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err("the chat may only be opened from this server's own page")
    }
}

/// The window size in the WebSocket's query (`cols=120&rows=40`), if both are usable.
pub fn initial_size(query: &str) -> Option<(u16, u16)> {
    let mut cols = None;
    let mut rows = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("cols", value)) => cols = value.parse::<u16>().ok(),
            Some(("rows", value)) => rows = value.parse::<u16>().ok(),
            _ => {}
        }
    }
    valid_size(cols?, rows?)
}

fn valid_size(cols: u16, rows: u16) -> Option<(u16, u16)> {
    let usable = |n: u16| (1..=MAX_WINDOW_CELLS).contains(&n);
    (usable(cols) && usable(rows)).then_some((cols, rows))
}

/// A control message from the page.
#[derive(Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub enum Control {
    /// The terminal's size in character cells changed (the page's fit addon).
    Resize { cols: u16, rows: u16 },
}

/// Reads a control message; the error is what the page is told.
pub fn parse_control(text: &str) -> Result<Control, String> {
    let control: Control =
        serde_json::from_str(text).map_err(|error| format!("unusable control message: {error}"))?;
    match control {
        Control::Resize { cols, rows } if valid_size(cols, rows).is_none() => Err(format!(
            "window size {cols}x{rows} is out of range (1 to {MAX_WINDOW_CELLS})"
        )),
        control => Ok(control),
    }
}

/// One browser: the chat session on one end of a pipe, the pump on the other.
async fn session(
    socket: WebSocket,
    peer: SocketAddr,
    size: Option<(u16, u16)>,
    first_word_by: Instant,
    context: WebContext,
) {
    let (pump_end, session_end) = tokio::io::duplex(PIPE_CAPACITY);
    let (size_sender, sizes) = watch::channel(size);
    let arrival = Arrival {
        peer,
        ..context.arrival.borrow().clone()
    };
    tracing::info!(%peer, listener = "web", "connected");
    tokio::join!(
        Box::pin(crate::session::converse(
            session_end,
            WebTerminal {
                sizes: ReportedSizes::new(sizes)
            },
            arrival,
            context.world.clone(),
            context.shutdown.clone(),
        )),
        pump(socket, pump_end, size_sender, peer, first_word_by),
    );
}

/// The web terminal's adapter for the session core, on the session's end of the pipe: the
/// pump already took the terminal bytes out of their WebSocket frames, so they pass as they
/// are, and window sizes come from the page's control messages through a `watch` channel.
/// The page is xterm.js, a UTF-8 VT100 terminal, so the wizard has nothing to ask, and the
/// pump closes a WebSocket that sends nothing in time.
struct WebTerminal {
    /// The newest window size the page reported; `None` once the pump is gone.
    sizes: ReportedSizes,
}

impl Transport for WebTerminal {
    const KNOWN_TERMINAL: bool = true;
    const WATCHES_FIRST_INPUT: bool = true;

    fn start(&mut self, _trace: bool, _out: &mut Vec<u8>) {}

    fn receive(&mut self, bytes: &[u8], _out: &mut Vec<u8>, mut input: impl FnMut(Input<'_>)) {
        input(Input::Data(bytes));
    }

    fn frame(bytes: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(bytes);
    }

    fn first_window_size(&mut self) -> Option<(u16, u16)> {
        self.sizes.first()
    }

    async fn window_size(&mut self) -> (u16, u16) {
        self.sizes.next().await
    }
}

/// Moves terminal bytes between the WebSocket and the session's pipe, and window sizes from
/// control messages to the session, until either side ends. A WebSocket that has sent no
/// message by `first_word_by` (the page sends its size as soon as it is open) is closed, as
/// the raw port closes a connection that sends nothing.
async fn pump(
    mut socket: WebSocket,
    mut terminal: DuplexStream,
    sizes: watch::Sender<Option<(u16, u16)>>,
    peer: SocketAddr,
    first_word_by: Instant,
) {
    let mut buffer = vec![0u8; 8192];
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let first_word = tokio::time::sleep_until(first_word_by);
    tokio::pin!(first_word);
    let mut heard = false;
    loop {
        tokio::select! {
            received = socket.recv() => match received {
                Some(Ok(Message::Binary(bytes))) => {
                    heard = true;
                    if terminal.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Text(text))) => match parse_control(text.as_str()) {
                    Ok(Control::Resize { cols, rows }) => {
                        heard = true;
                        sizes.send_replace(Some((cols, rows)));
                    }
                    Err(why) => {
                        heard = true;
                        tracing::debug!(%peer, why, "bad control message from a browser");
                        let answer = serde_json::json!({ "t": "error", "why": why }).to_string();
                        if socket.send(Message::Text(answer.into())).await.is_err() {
                            break;
                        }
                    }
                },
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(error)) => {
                    tracing::debug!(%peer, %error, "web socket error");
                    break;
                }
            },
            read = terminal.read(&mut buffer) => match read {
                Ok(0) | Err(_) => {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
                Ok(count) => {
                    if socket.send(Message::Binary(Bytes::copy_from_slice(&buffer[..count]))).await.is_err() {
                        break;
                    }
                }
            },
            () = &mut first_word, if !heard => {
                tracing::info!(%peer, "web socket closed: sent nothing");
                let close = CloseFrame {
                    code: close_code::POLICY,
                    reason: "r0c: nothing received; closing the connection".into(),
                };
                let _ = tokio::time::timeout(CLOSE_TIME, socket.send(Message::Close(Some(close)))).await;
                break;
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn origin_must_be_this_server() {
        let cases: &[(&[(header::HeaderName, &str)], bool)] = &[
            (&[(header::HOST, "chat.example:8023")], true),
            (
                &[
                    (header::HOST, "chat.example:8023"),
                    (header::ORIGIN, "http://chat.example:8023"),
                ],
                true,
            ),
            (
                &[
                    (header::HOST, "chat.example:8023"),
                    (header::ORIGIN, "https://CHAT.example:8023"),
                ],
                true,
            ),
            (
                &[
                    (header::HOST, "chat.example:8023"),
                    (header::ORIGIN, "http://evil.example"),
                ],
                false,
            ),
            (
                &[
                    (header::HOST, "chat.example:8023"),
                    (header::ORIGIN, "http://chat.example:9999"),
                ],
                false,
            ),
            (
                &[
                    (header::HOST, "chat.example:8023"),
                    (header::ORIGIN, "null"),
                ],
                false,
            ),
            (&[(header::ORIGIN, "http://chat.example:8023")], false),
        ];
        for (pairs, allowed) in cases {
            assert_eq!(check_origin(&headers(pairs)).is_ok(), *allowed, "{pairs:?}");
        }
    }

    #[test]
    fn initial_size_from_the_query() {
        assert_eq!(initial_size("cols=120&rows=40"), Some((120, 40)));
        assert_eq!(initial_size("rows=40&cols=120&x=1"), Some((120, 40)));
        assert_eq!(initial_size("cols=120"), None);
        assert_eq!(initial_size("cols=0&rows=40"), None);
        assert_eq!(initial_size("cols=99999&rows=40"), None);
        assert_eq!(initial_size("cols=abc&rows=40"), None);
        assert_eq!(initial_size(""), None);
    }

    #[test]
    fn control_messages() {
        assert_eq!(
            parse_control(r#"{"t":"resize","cols":100,"rows":30}"#),
            Ok(Control::Resize {
                cols: 100,
                rows: 30
            })
        );
        for bad in [
            r#"{"t":"resize","cols":0,"rows":30}"#,
            r#"{"t":"resize","cols":5000,"rows":30}"#,
            r#"{"t":"resize","cols":-1,"rows":30}"#,
            r#"{"t":"explode"}"#,
            r#"{"cols":1}"#,
            "not json",
            "",
        ] {
            assert!(parse_control(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_includes_mapped_ipv4() {
        assert!(is_loopback("127.0.0.1".parse().expect("address")));
        assert!(is_loopback("::1".parse().expect("address")));
        assert!(is_loopback("::ffff:127.0.0.1".parse().expect("address")));
        assert!(!is_loopback("192.0.2.1".parse().expect("address")));
    }
}
