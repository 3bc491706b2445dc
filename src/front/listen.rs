//! One place for what every listener does with a socket before a session exists: binding
//! (SO_REUSEADDR, dual stack), accepting with backoff, admission and the refusal answers, socket
//! tuning, and the timed TLS accept (with the readable answer to a plain client on a TLS port).
//!
//! The accept loops never wait on a client: a refused client gets its answer without waiting
//! (a line on a plain terminal port, an HTTP 503 from a task of its own on the web port), and
//! an admitted one gets a task of its own, in which the TLS handshake, if any, runs with a time
//! limit. The terminal listeners then hand the stream to their adapter (`front::telnet`,
//! `front::raw`) and the session core; the web listener hands it to hyper (`front::web`), and
//! the ssh listener to russh (`front::ssh`), whose handshake is timed in the client's task too.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::front::admission::{Admission, Refusal, Ticket};
use crate::session::{Arrival, Protocol, Transport};
use crate::world::World;

/// SO_SNDBUF of client sockets (the kernel doubles it for its bookkeeping).
pub(crate) const KERNEL_SEND_BUFFER: usize = 64 * 1024;

/// The first byte of a TLS connection (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// A TLS client must finish its handshake within this time.
pub(crate) const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a plain client on a TLS port is given to take its hint.
const HINT_FLUSH: Duration = Duration::from_millis(200);

/// One kind of listener: which protocol it speaks, and whether under TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Plain telnet (`-pt`).
    Telnet,
    /// Plain raw TCP (`-pn`).
    Raw,
    /// Telnet under TLS (`-tpt`).
    TlsTelnet,
    /// Raw TCP under TLS (`-tpn`).
    TlsRaw,
    /// The web terminal over HTTP (`--web`).
    Web,
    /// The web terminal over HTTPS (`--web-tls`).
    WebTls,
    /// The ssh listener (`--ssh`).
    Ssh,
    /// The IRC listener (`--irc-listen`).
    Irc,
    /// The IRC listener under TLS (`--irc-listen-tls`).
    IrcTls,
}

impl ListenerKind {
    /// Every kind, in the order r0c reports them.
    pub const ALL: [ListenerKind; 4] = [
        ListenerKind::Telnet,
        ListenerKind::Raw,
        ListenerKind::TlsTelnet,
        ListenerKind::TlsRaw,
    ];

    /// The web terminal's listeners.
    pub const WEB: [ListenerKind; 2] = [ListenerKind::Web, ListenerKind::WebTls];

    /// The protocol spoken once bytes flow.
    pub fn protocol(self) -> Protocol {
        match self {
            ListenerKind::Telnet | ListenerKind::TlsTelnet => Protocol::Telnet,
            ListenerKind::Raw | ListenerKind::TlsRaw => Protocol::Raw,
            ListenerKind::Web | ListenerKind::WebTls => Protocol::Web,
            ListenerKind::Ssh => Protocol::Ssh,
            ListenerKind::Irc | ListenerKind::IrcTls => Protocol::Irc,
        }
    }

    /// Whether connections start with a TLS handshake.
    pub fn is_tls(self) -> bool {
        matches!(
            self,
            ListenerKind::TlsTelnet
                | ListenerKind::TlsRaw
                | ListenerKind::WebTls
                | ListenerKind::IrcTls
        )
    }

    /// The listener a client on the wrong one should use instead (same TLS-ness).
    pub(crate) fn sibling(self) -> ListenerKind {
        match self {
            ListenerKind::Telnet => ListenerKind::Raw,
            ListenerKind::Raw => ListenerKind::Telnet,
            ListenerKind::TlsTelnet => ListenerKind::TlsRaw,
            ListenerKind::TlsRaw => ListenerKind::TlsTelnet,
            ListenerKind::Web
            | ListenerKind::WebTls
            | ListenerKind::Ssh
            | ListenerKind::Irc
            | ListenerKind::IrcTls => self,
        }
    }

    /// The plain listener speaking the same protocol.
    pub(crate) fn plain(self) -> ListenerKind {
        match self.protocol() {
            Protocol::Telnet => ListenerKind::Telnet,
            Protocol::Raw => ListenerKind::Raw,
            Protocol::Web => ListenerKind::Web,
            Protocol::Ssh => ListenerKind::Ssh,
            Protocol::Irc => ListenerKind::Irc,
        }
    }

    /// How the startup report names it, as r0c does.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ListenerKind::Telnet => "Telnet",
            ListenerKind::Raw => "NetCat",
            ListenerKind::TlsTelnet => "TLS-Telnet",
            ListenerKind::TlsRaw => "TLS-NetCat",
            ListenerKind::Web => "Web",
            ListenerKind::WebTls => "TLS-Web",
            ListenerKind::Ssh => "SSH",
            ListenerKind::Irc => "IRC",
            ListenerKind::IrcTls => "TLS-IRC",
        }
    }
}

/// A listening socket could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("failed to listen on {address} port {port}: {source}{hint}")]
pub struct ListenError {
    pub address: IpAddr,
    pub port: u16,
    pub source: std::io::Error,
    pub hint: &'static str,
}

/// Binds one listening socket with SO_REUSEADDR; `::` also accepts IPv4 where the OS allows.
pub fn bind(address: SocketAddr) -> Result<TcpListener, ListenError> {
    let error = |source: std::io::Error| ListenError {
        address: address.ip(),
        port: address.port(),
        hint: if address.port() < 1024 && address.port() != 0 {
            " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        } else {
            ""
        },
        source,
    };
    let domain = socket2::Domain::for_address(address);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))
        .map_err(error)?;
    socket.set_reuse_address(true).map_err(error)?;
    if address.is_ipv6() {
        // Dual stack is a convenience: keep going where the OS refuses it.
        let _ = socket.set_only_v6(false);
    }
    socket.bind(&address.into()).map_err(error)?;
    socket.listen(1024).map_err(error)?;
    socket.set_nonblocking(true).map_err(error)?;
    TcpListener::from_std(socket.into()).map_err(error)
}

/// A bound listener and everything its connections need, as the server hands it over.
pub struct Listening {
    pub listener: TcpListener,
    pub kind: ListenerKind,
    /// What every connection's arrival shares; the peer is filled in per connection. The
    /// server replaces it on a reload (SIGHUP), so each connection starts from the latest.
    pub arrival: tokio::sync::watch::Receiver<Arrival>,
    /// The plain listener of the same protocol, named to a plain client on a TLS port; 0 if
    /// there is none.
    pub plain_port: u16,
    /// The TLS acceptor, on a TLS listener.
    pub tls: Option<TlsAcceptor>,
    /// Connection limits shared by all listeners.
    pub admission: Arc<Admission>,
    pub world: Arc<World>,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    /// `--metrics-public` (the web listener's `/metrics`).
    pub metrics_public: bool,
    /// The server name the IRC listener gives itself (`--irc-name`).
    pub irc_name: Arc<str>,
    /// The TAGMSG relay the IRC listeners share.
    pub tag_relay: Arc<crate::front::irc::relay::TagRelay>,
    /// The host key and settings, on the ssh listener.
    pub ssh: Option<Arc<crate::front::ssh::SshSetup>>,
}

/// The next accepted connection, or `None` once `shutdown` is cancelled. Accept errors (out
/// of file descriptors and similar) never end the loop: it waits a little, longer each time
/// in a row, instead of spinning.
async fn accept_next(
    listener: &TcpListener,
    shutdown: &CancellationToken,
) -> Option<(TcpStream, SocketAddr)> {
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => return None,
        };
        match accepted {
            Ok(accepted) => return Some(accepted),
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.cancelled() => return None,
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// How a listener answers a refused connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// One line, written without waiting (a plain terminal port).
    Line,
    /// An HTTP 503, from a task of its own (the plain web port).
    Http,
    /// Nothing: a TLS client could not read a plain answer.
    Close,
}

/// A connection that passed admission, its socket tuned.
pub(crate) struct Admitted {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    /// Its place under the connection limits, given back when dropped.
    pub ticket: Ticket,
    /// When it was accepted.
    pub arrived: Instant,
}

/// The next connection that passes admission, or `None` once `shutdown` is cancelled.
/// Admission is decided before anything is allocated for the session; a refused connection
/// gets its `answer` without the loop waiting for it. `uncharged` says which addresses are
/// admitted without a `--conn-rate` charge (the web port's loopback, which pays at its first
/// request other than `/metrics`). `label` names the listener in the refusal's log line.
pub(crate) async fn admit_next(
    listening: &Listening,
    answer: Answer,
    label: Option<&'static str>,
    uncharged: impl Fn(IpAddr) -> bool,
) -> Option<Admitted> {
    let admission = &listening.admission;
    loop {
        let (stream, peer) = accept_next(&listening.listener, &listening.shutdown).await?;
        let arrived = Instant::now();
        // A banned address is refused first, before it takes a place under the limits.
        let banned = listening
            .world
            .door()
            .refusal(peer.ip())
            .map(Refusal::Banned);
        let admitted = if let Some(refusal) = banned {
            Err(refusal)
        } else if uncharged(peer.ip()) {
            admission.admit_uncharged(peer.ip())
        } else {
            admission.admit(peer.ip())
        };
        let ticket = match admitted {
            Ok(ticket) => ticket,
            Err(refusal) => {
                match answer {
                    Answer::Line => {
                        let _ = stream.try_write(refusal.line().as_bytes());
                    }
                    Answer::Http => refuse_http(stream, refusal.clone(), &listening.tracker),
                    Answer::Close => {}
                }
                crate::metrics::refused(refusal.reason());
                match label {
                    Some(listener) => {
                        tracing::info!(%peer, %refusal, listener, "connection refused");
                    }
                    None => tracing::info!(%peer, %refusal, "connection refused"),
                }
                continue;
            }
        };
        tune(&stream, peer);
        return Some(Admitted {
            stream,
            peer,
            ticket,
            arrived,
        });
    }
}

/// How a terminal-like listener (telnet, raw, IRC) answers a refusal: a line on a plain port,
/// nothing under TLS, where a client could not read a plain line.
pub(crate) fn refusal_answer(listening: &Listening) -> Answer {
    if listening.tls.is_some() {
        Answer::Close
    } else {
        Answer::Line
    }
}

/// Logs an admitted client's arrival and makes the `Arrival` its session starts from.
pub(crate) fn arrival_of(listening: &Listening, peer: SocketAddr) -> Arrival {
    tracing::info!(%peer, listener = listening.kind.name(), "connect");
    Arrival {
        peer,
        ..listening.arrival.borrow().clone()
    }
}

/// Sets up an admitted client's socket.
fn tune(stream: &TcpStream, peer: SocketAddr) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "could not set TCP_NODELAY");
    }
    // A fixed, modest kernel send buffer: what a client has not read yet is bounded in the
    // kernel as well as in the session's output, and a client that stops reading is noticed
    // soon (the kernel would otherwise grow the buffer to megabytes). 64 KiB is still far
    // more than a terminal screen.
    if let Err(error) = socket2::SockRef::from(stream).set_send_buffer_size(KERNEL_SEND_BUFFER) {
        tracing::debug!(%peer, %error, "could not set SO_SNDBUF");
    }
}

/// Refusals being answered in HTTP right now; beyond [`MAX_REFUSING`], refused connections
/// are closed without an answer, so a flood of them costs nothing.
static REFUSING: AtomicUsize = AtomicUsize::new(0);
const MAX_REFUSING: usize = 64;
/// How long a refused connection is given to send its request and read the answer.
const REFUSAL_TIME: Duration = Duration::from_millis(500);

/// Answers a refused connection in HTTP. The request is read first: closing a socket with
/// unread input resets the connection, and the browser would lose the answer.
fn refuse_http(mut stream: TcpStream, refusal: Refusal, tracker: &TaskTracker) {
    if REFUSING.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSING {
        REFUSING.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    tracker.spawn(async move {
        let answer = http_refusal(&refusal);
        let _ = tokio::time::timeout(REFUSAL_TIME, async {
            let mut request = [0u8; 2048];
            let _ = stream.read(&mut request).await;
            stream.write_all(answer.as_bytes()).await?;
            stream.shutdown().await?;
            // Wait for the client to close its side, so nothing it still sends resets it.
            while stream.read(&mut request).await? > 0 {}
            Ok::<(), std::io::Error>(())
        })
        .await;
        REFUSING.fetch_sub(1, Ordering::AcqRel);
    });
}

/// The answer of a refused connection, as HTTP so that a browser shows it.
fn http_refusal(refusal: &Refusal) -> String {
    let body = format!("r0c: {refusal}\n");
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The TLS handshake of a terminal port's client, in the client's own task, each of its two
/// steps within [`TLS_HANDSHAKE_TIMEOUT`]: a slow or broken TLS client never delays anyone
/// else (r0c did it inside the accept handler). A plain client on a TLS port gets a readable
/// answer instead of a TLS alert, naming `plain_port` if there is one.
pub(crate) async fn accept_tls(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    peer: SocketAddr,
    plain_port: u16,
    shutdown: &CancellationToken,
) -> Option<TlsStream<TcpStream>> {
    let mut first = [0u8; 1];
    let peeked = tokio::select! {
        peeked = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, stream.peek(&mut first)) => peeked,
        () = shutdown.cancelled() => return None,
    };
    if !matches!(peeked, Ok(Ok(1))) {
        return None;
    }
    if first[0] != TLS_HANDSHAKE_RECORD {
        let mut stream = stream;
        let hint = match plain_port {
            0 => "\r\nthis port speaks TLS; connect with a TLS client\r\n".to_string(),
            port => format!(
                "\r\nthis port speaks TLS; connect with a TLS client, or without TLS to port {port}\r\n"
            ),
        };
        let _ = tokio::time::timeout(HINT_FLUSH, stream.write_all(hint.as_bytes())).await;
        tracing::info!(%peer, "plain client on a TLS port");
        return None;
    }
    let handshake = tokio::select! {
        result = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => result,
        () = shutdown.cancelled() => return None,
    };
    match handshake {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::info!(%peer, %error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::info!(%peer, "TLS handshake timed out");
            None
        }
    }
}

/// The TLS handshake of a web client, by `by` at the latest and within
/// [`TLS_HANDSHAKE_TIMEOUT`] of its arrival: a silent TLS client is a silent socket too, so
/// the first-input deadline applies when it is the nearer one.
pub(crate) async fn accept_web_tls(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    peer: SocketAddr,
    arrived: Instant,
    by: Instant,
) -> Option<TlsStream<TcpStream>> {
    let by = by.min(arrived + TLS_HANDSHAKE_TIMEOUT);
    match tokio::time::timeout_at(by, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::info!(%peer, %error, "web TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::info!(%peer, "web TLS handshake timed out");
            None
        }
    }
}

/// Serves a terminal listener (telnet or raw, plain or TLS) until shutdown: each admitted
/// client gets a task that runs the TLS handshake, if any, and then the session core over
/// the transport `adapter` makes for it.
pub(crate) async fn serve_terminals<T>(listening: Listening, adapter: fn(&Arrival) -> T)
where
    T: Transport + Send + 'static,
{
    let answer = refusal_answer(&listening);
    while let Some(admitted) = admit_next(&listening, answer, None, |_| false).await {
        let Admitted {
            stream,
            peer,
            ticket,
            ..
        } = admitted;
        let arrival = arrival_of(&listening, peer);
        let (world, shutdown) = (listening.world.clone(), listening.shutdown.clone());
        let (tls, plain_port) = (listening.tls.clone(), listening.plain_port);
        let transport = adapter(&arrival);
        match tls {
            None => {
                // The conversation is boxed before the task is spawned, so the task holds
                // only the box and the ticket: a task made of an async block that builds the
                // conversation inside would keep room for everything the block captured (the
                // stream, the arrival, the world) beside the box for as long as the client
                // stays. Boxed here, the conversation's future is in memory once.
                let conversation = Box::pin(crate::session::converse(
                    stream, transport, arrival, world, shutdown,
                ));
                listening.tracker.spawn(async move {
                    conversation.await;
                    drop(ticket);
                });
            }
            Some(acceptor) => {
                // The future is made inside the task: awaiting one made outside would keep
                // two copies of it in the task, doubling every client's memory.
                listening.tracker.spawn(async move {
                    // Boxed: the handshake's state is large, and inline it would make the
                    // task that large for as long as the client stays.
                    if let Some(stream) =
                        Box::pin(accept_tls(stream, acceptor, peer, plain_port, &shutdown)).await
                    {
                        // Boxed too, so the task does not hold room for the conversation
                        // beside the handshake's box.
                        Box::pin(crate::session::converse(
                            stream, transport, arrival, world, shutdown,
                        ))
                        .await;
                    }
                    drop(ticket);
                });
            }
        }
    }
}
