//! The ssh listener: russh's server over connections `front::listen` admitted, and the
//! `Ssh` adapter that hands the session core the one session channel as its byte stream.
//!
//! A connection is one task: russh's handshake and authentication within the connection's
//! first-input time limit, then `session::converse` over the channel of its `shell` request.
//! A `pty-req` makes the terminal a known VT100 one (no wizard) with the size it reports;
//! without one (`ssh -T`, pipes) the session runs in teletype mode. `exec` and `subsystem`
//! get a one-line refusal; forwarding, agents, X11 and further channels are refused.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey};
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, ChannelOpenFailure, ChannelStream, MethodKind, MethodSet};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::config::SshSettings;
use crate::front::admission::Ticket;
use crate::front::listen::{Admitted, Answer, Listening, admit_next};
use crate::log_limit::{LogLimit, Verdict};
use crate::session::{Arrival, Input, KnownTerminal, ReportedSizes, Transport};

/// Authentication attempts a connection may make before it is closed.
const MAX_AUTH_ATTEMPTS: usize = 6;

/// The channel window the server offers: what a client may send before the session read it.
const CHANNEL_WINDOW: u32 = 64 * 1024;

/// Messages queued towards a channel before russh stops reading the socket; with packets of
/// at most 32 KiB this bounds what a client's burst can hold in memory.
const CHANNEL_BUFFER: usize = 16;

/// How long the end of a session (exit status, close) is given to reach the client before
/// its connection is cut.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The host key file generated in the app dir when `--ssh-key` is not given.
const HOST_KEY_FILE: &str = "ssh_host_ed25519_key";

/// The ssh listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot read the ssh host key {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse the ssh host key {path} (an OpenSSH private key is expected): {source}")]
    Parse {
        path: PathBuf,
        source: russh::keys::ssh_key::Error,
    },
    #[error("cannot write the ssh host key {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot generate the ssh host key: {0}")]
    Generate(String),
}

/// The host key and what every connection's russh configuration holds.
pub struct SshSetup {
    /// russh's server configuration, shared by every connection, and its host key's
    /// fingerprint; a reload replaces both for the connections that come after.
    current: std::sync::RwLock<(Arc<russh::server::Config>, String)>,
    /// Where the host key is.
    pub key_path: PathBuf,
    /// The host key's fingerprint as OpenSSH prints it (`SHA256:` and unpadded base64).
    pub fingerprint: String,
    /// The host key was generated just now.
    pub generated: bool,
    /// `--ssh-guests`: clients without a key get in.
    guests: bool,
}

impl std::fmt::Debug for SshSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshSetup")
            .field("key_path", &self.key_path)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Loads the host key (`--ssh-key`, else `<app>/ssh_host_ed25519_key`, generated if missing)
/// and builds russh's configuration.
pub fn setup(settings: &SshSettings, app_dir: &Path) -> Result<SshSetup, SshError> {
    let (key_path, generated) = match &settings.key {
        Some(path) => (path.clone(), false),
        None => {
            let path = app_dir.join(HOST_KEY_FILE);
            let generated = !path.exists();
            if generated {
                generate(&path)?;
            }
            (path, generated)
        }
    };
    let key = read_key(&key_path)?;
    let fingerprint = fingerprint(key.public_key());
    Ok(SshSetup {
        current: std::sync::RwLock::new((Arc::new(russh_config(key)), fingerprint.clone())),
        key_path,
        fingerprint,
        generated,
        guests: settings.guests,
    })
}

impl SshSetup {
    /// russh's configuration for a new connection.
    fn config(&self) -> Arc<russh::server::Config> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            .clone()
    }

    /// Reads the host key again (`--ssh-key` from `settings`, which a reload may have
    /// changed, else the generated one in `app_dir`) and uses it for new connections if it is
    /// another key: its fingerprint, or `None` when it is the same. A key that cannot be
    /// read is an error, and the key in use stays.
    pub fn reload(
        &self,
        settings: &SshSettings,
        app_dir: &Path,
    ) -> Result<Option<String>, SshError> {
        let key_path = settings
            .key
            .clone()
            .unwrap_or_else(|| app_dir.join(HOST_KEY_FILE));
        let key = read_key(&key_path)?;
        let fingerprint = fingerprint(key.public_key());
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.1 == fingerprint {
            return Ok(None);
        }
        *current = (Arc::new(russh_config(key)), fingerprint.clone());
        Ok(Some(fingerprint))
    }
}

/// Reads an OpenSSH private key file.
fn read_key(key_path: &Path) -> Result<PrivateKey, SshError> {
    let text = std::fs::read_to_string(key_path).map_err(|source| SshError::Read {
        path: key_path.to_owned(),
        source,
    })?;
    PrivateKey::from_openssh(&text).map_err(|source| SshError::Parse {
        path: key_path.to_owned(),
        source,
    })
}

/// russh's server configuration with this host key.
fn russh_config(key: PrivateKey) -> russh::server::Config {
    russh::server::Config {
        server_id: russh::SshId::Standard(
            format!("SSH-2.0-r0c_{}", env!("CARGO_PKG_VERSION")).into(),
        ),
        methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::KeyboardInteractive][..]),
        // Any key is accepted and guests need no secret: there is nothing to guess, so
        // refusals need no constant delay.
        auth_rejection_time: Duration::ZERO,
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key],
        window_size: CHANNEL_WINDOW,
        channel_buffer_size: CHANNEL_BUFFER,
        max_auth_attempts: MAX_AUTH_ATTEMPTS,
        // The connection task enforces the handshake's limit and the session its own
        // timeouts; an idle chat user must not be cut by russh.
        inactivity_timeout: None,
        nodelay: true,
        ..Default::default()
    }
}

/// A public key's fingerprint as OpenSSH prints it: `SHA256:` and unpadded base64.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Writes a new Ed25519 host key in OpenSSH's private key format, readable by the owner only.
fn generate(path: &Path) -> Result<(), SshError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut seed = [0u8; 32];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut seed)
        .map_err(|_| SshError::Generate("no randomness available".into()))?;
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|error| SshError::Generate(error.to_string()))?;
    let write_error = |source| SshError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(write_error)?;
    file.write_all(text.as_bytes()).map_err(write_error)?;
    file.sync_all().map_err(write_error)
}

/// Serves the ssh listener until shutdown: each admitted client gets a task of its own.
pub async fn run(listening: Listening) {
    let Some(setup) = listening.ssh.clone() else {
        tracing::error!("the ssh listener has no host key");
        return;
    };
    // A refused client gets r0c's line before the ssh banner: OpenSSH shows nothing of it,
    // but other clients and humans with netcat do, and the connection ends at once.
    while let Some(admitted) = admit_next(&listening, Answer::Line, Some("SSH"), |_| false).await {
        let Admitted {
            stream,
            peer,
            ticket,
            arrived,
        } = admitted;
        let arrival = crate::front::listen::arrival_of(&listening, peer);
        let (world, shutdown) = (listening.world.clone(), listening.shutdown.clone());
        let setup = setup.clone();
        // The future is made inside the task, as for the terminal listeners.
        listening.tracker.spawn(async move {
            Box::pin(connection(
                stream, ticket, arrived, arrival, setup, world, shutdown,
            ))
            .await;
        });
    }
}

/// What the handler hands the connection task when the client asks for its shell.
struct Start {
    stream: ChannelStream<Msg>,
    channel: ChannelId,
    terminal: KnownTerminal,
    nick: String,
    key: Option<String>,
    sizes: watch::Receiver<Option<(u16, u16)>>,
}

/// One ssh connection, from the handshake to the end of its session.
async fn connection(
    stream: TcpStream,
    ticket: Ticket,
    arrived: Instant,
    arrival: Arrival,
    setup: Arc<SshSetup>,
    world: Arc<crate::world::World>,
    shutdown: CancellationToken,
) {
    let peer = arrival.peer;
    let deadline = arrived + arrival.first_input_timeout;
    let kill = CancellationToken::new();
    let stream = Killable::new(stream, ticket, kill.clone());
    let (started, start) = oneshot::channel();
    let (sizes, sizes_rx) = watch::channel(None);
    let handler = Handler {
        peer,
        guests: setup.guests,
        probed: false,
        user: String::new(),
        key: None,
        channel: None,
        terminal: KnownTerminal::Lines,
        sizes,
        sizes_rx: Some(sizes_rx),
        started: Some(started),
    };
    let running = tokio::select! {
        running = tokio::time::timeout_at(
            deadline,
            russh::server::run_stream(setup.config(), stream, handler),
        ) => running,
        () = shutdown.cancelled() => return,
    };
    let running = match running {
        Ok(Ok(running)) => running,
        Ok(Err(error)) => {
            tracing::info!(%peer, %error, "ssh handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "ssh client sent no banner in time");
            return;
        }
    };
    let handle = running.handle();
    tokio::pin!(running);
    let start = tokio::select! {
        start = start => start.ok(),
        ended = &mut running => {
            if let Err(error) = ended {
                tracing::info!(%peer, %error, "ssh connection ended before a shell");
            }
            None
        }
        () = tokio::time::sleep_until(deadline) => {
            tracing::info!(%peer, "ssh handshake, authentication and shell not done in time");
            None
        }
        () = shutdown.cancelled() => None,
    };
    let Some(start) = start else {
        // Whatever the client is doing, its connection ends now; a peer that does not read
        // cannot keep russh's task alive.
        kill.cancel();
        return;
    };
    let Start {
        stream,
        channel,
        terminal,
        nick,
        key,
        sizes,
    } = start;
    let transport = Ssh {
        terminal,
        nick,
        key,
        sizes: ReportedSizes::new(sizes),
    };
    // Dropping russh's channel stream closes the channel (from a task of its own), which
    // would race the exit status below: a client that sees the close first exits with 255.
    // The session gets the stream on loan and the farewell drops it after the exit status.
    let returned = Arc::new(Mutex::new(None));
    let lent = Lent {
        stream: Some(stream),
        returned: returned.clone(),
    };
    crate::session::converse(lent, transport, arrival, world, shutdown).await;
    // The session ended: tell the client, give it a moment, then cut the connection.
    let farewell = async {
        let _ = handle.exit_status_request(channel, 0).await;
        let _ = handle.eof(channel).await;
        drop(lock_slot(&returned).take());
        let _ = handle.close(channel).await;
        // The client closes its side once the channel is closed, and exits with the status.
        let _ = (&mut running).await;
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, farewell).await;
    kill.cancel();
}

/// The client's socket as russh sees it, cut when `kill` is cancelled (a read or write
/// then fails, so russh's own task ends even while the peer reads nothing), holding the
/// connection's admission ticket until the socket closes.
struct Killable {
    stream: TcpStream,
    _ticket: Ticket,
    killed: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Killable {
    fn new(stream: TcpStream, ticket: Ticket, kill: CancellationToken) -> Killable {
        Killable {
            stream,
            _ticket: ticket,
            killed: Box::pin(kill.cancelled_owned()),
        }
    }

    /// Whether the connection was cut; registers the task to be woken when it is.
    fn is_killed(&mut self, cx: &mut Context<'_>) -> bool {
        self.killed.as_mut().poll(cx).is_ready()
    }
}

fn cut() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "connection cut")
}

impl AsyncRead for Killable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Killable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A byte stream lent to the session: when the session drops it, it goes back to `returned`
/// instead of being dropped, so its owner chooses when it ends.
struct Lent<S> {
    stream: Option<S>,
    returned: Arc<Mutex<Option<S>>>,
}

fn lock_slot<S>(slot: &Mutex<Option<S>>) -> std::sync::MutexGuard<'_, Option<S>> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<S> Drop for Lent<S> {
    fn drop(&mut self) {
        *lock_slot(&self.returned) = self.stream.take();
    }
}

impl<S> Lent<S> {
    fn stream(&mut self) -> std::io::Result<Pin<&mut S>>
    where
        S: Unpin,
    {
        // Only `Drop` takes the stream, so this is never `None` while the session polls it.
        self.stream.as_mut().map(Pin::new).ok_or_else(cut)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Lent<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.stream() {
            Ok(stream) => stream.poll_read(cx, buf),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Lent<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.stream() {
            Ok(stream) => stream.poll_write(cx, buf),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.stream() {
            Ok(stream) => stream.poll_flush(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.stream() {
            Ok(stream) => stream.poll_shutdown(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

/// Refused authentications, logged at most this often a minute in all.
static AUTH_LOG: Mutex<LogLimit> = Mutex::new(LogLimit::per_minute(30));

/// When the process started, the clock of [`AUTH_LOG`].
fn since_start() -> Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// Logs a refused authentication, within [`AUTH_LOG`]'s limit.
fn log_refusal(peer: SocketAddr, method: &str) {
    let verdict = match AUTH_LOG.lock() {
        Ok(mut limit) => limit.check(since_start()),
        Err(_) => return,
    };
    if let Verdict::Log { suppressed, last } = verdict {
        tracing::info!(%peer, method, suppressed, more_left_out = last, "ssh authentication refused");
    }
}

/// The refusal of `exec` and `subsystem` requests.
const NO_COMMANDS: &str = "r0c: this is a chat server; it runs no commands (connect without one, e.g. `ssh -p PORT nick@host`)\r\n";

/// The banner shown before authentication when guests are not let in.
const KEYS_ONLY: &str =
    "r0c: this server lets in ssh keys only; make one with `ssh-keygen -t ed25519`\r\n";

/// russh's per-connection handler: authentication, the one session channel and its requests.
struct Handler {
    peer: SocketAddr,
    guests: bool,
    /// The client's first `none` request was answered with the methods (OpenSSH probes with
    /// it); a later one is a guest's.
    probed: bool,
    /// The user name the client asked for: the nick it wants.
    user: String,
    /// The fingerprint of the key the client authenticated with; `None` for a guest.
    key: Option<String>,
    /// The session channel, until its shell starts.
    channel: Option<Channel<Msg>>,
    /// What the terminal is: a VT100 one once a pty was asked for.
    terminal: KnownTerminal,
    /// Window sizes for the session, from `pty-req` and `window-change`.
    sizes: watch::Sender<Option<(u16, u16)>>,
    sizes_rx: Option<watch::Receiver<Option<(u16, u16)>>>,
    /// Where the shell's start goes.
    started: Option<oneshot::Sender<Start>>,
}

/// A window size from ssh's 32-bit fields; the session replaces unusable values (0, or
/// absurdly large) as it does for telnet's NAWS.
fn size(cols: u32, rows: u32) -> (u16, u16) {
    let clamp = |n: u32| u16::try_from(n).unwrap_or(u16::MAX);
    (clamp(cols), clamp(rows))
}

impl Handler {
    fn guest(&mut self, user: &str, method: &str) -> Auth {
        if self.guests {
            self.user = user.to_owned();
            self.key = None;
            tracing::info!(peer = %self.peer, method, "ssh guest authenticated");
            Auth::Accept
        } else {
            log_refusal(self.peer, method);
            Auth::Reject {
                proceed_with_methods: Some(MethodSet::from(&[MethodKind::PublicKey][..])),
                partial_success: false,
            }
        }
    }

    /// Refuses a request on the session channel.
    fn refuse(session: &mut Session, channel: ChannelId) -> Result<(), russh::Error> {
        session.channel_failure(channel)
    }

    /// Answers `exec` and `subsystem`: one line on stderr, exit status 1, and the channel
    /// closes.
    fn refuse_command(
        &mut self,
        session: &mut Session,
        channel: ChannelId,
        what: &str,
    ) -> Result<(), russh::Error> {
        tracing::info!(peer = %self.peer, what, "ssh command refused");
        self.channel = None;
        session.channel_success(channel)?;
        session.extended_data(channel, 1, NO_COMMANDS.as_bytes().to_vec())?;
        session.exit_status_request(channel, 1)?;
        session.eof(channel)?;
        session.close(channel)
    }
}

impl russh::server::Handler for Handler {
    type Error = russh::Error;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        if !self.probed {
            // OpenSSH starts with `none` to learn the methods: answering it with them lets a
            // client that has a key use it, and one without get in as a guest next.
            self.probed = true;
            let mut methods = vec![MethodKind::PublicKey];
            if self.guests {
                methods.push(MethodKind::KeyboardInteractive);
            }
            return Ok(Auth::Reject {
                proceed_with_methods: Some(MethodSet::from(&methods[..])),
                partial_success: false,
            });
        }
        Ok(self.guest(user, "none"))
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        self.user = user.to_owned();
        let key = fingerprint(key.public_key);
        tracing::info!(peer = %self.peer, key, "ssh key authenticated");
        self.key = Some(key);
        Ok(Auth::Accept)
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.guest(user, "keyboard-interactive"))
    }

    async fn auth_password(&mut self, _user: &str, _password: &str) -> Result<Auth, Self::Error> {
        log_refusal(self.peer, "password");
        Ok(Auth::reject())
    }

    async fn authentication_banner(&mut self) -> Result<Option<String>, Self::Error> {
        Ok((!self.guests).then(|| KEYS_ONLY.to_owned()))
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // One connection is one session: a second channel is refused.
        if self.channel.is_some() || self.started.is_none() || self.sizes_rx.is_none() {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        self.channel = Some(channel);
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        term: &str,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.channel.as_ref().map(Channel::id) != Some(channel) {
            return Self::refuse(session, channel);
        }
        self.terminal = KnownTerminal::Vt100;
        self.sizes.send_replace(Some(size(col_width, row_height)));
        tracing::debug!(peer = %self.peer, term = crate::diag::escape_controls(term), "ssh pty");
        session.channel_success(channel)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        Self::refuse(session, channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let open = self.channel.take_if(|open| open.id() == channel);
        let (Some(open), Some(started), Some(sizes)) =
            (open, self.started.take(), self.sizes_rx.take())
        else {
            return Self::refuse(session, channel);
        };
        session.channel_success(channel)?;
        let _ = started.send(Start {
            stream: open.into_stream(),
            channel,
            terminal: self.terminal,
            nick: std::mem::take(&mut self.user),
            key: self.key.take(),
            sizes,
        });
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse_command(session, channel, "exec")
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse_command(session, channel, "subsystem")
    }

    async fn window_change_request(
        &mut self,
        _channel: ChannelId,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.sizes.send_replace(Some(size(col_width, row_height)));
        Ok(())
    }
}

/// The ssh session's adapter for the session core: the channel's bytes as they are, the
/// terminal known from the pty request (or its absence), sizes from `pty-req` and
/// `window-change`, and the user name as the nick asked for.
#[derive(Debug)]
pub struct Ssh {
    terminal: KnownTerminal,
    nick: String,
    /// The key's fingerprint: the user's identity, for nick claims and saved settings.
    key: Option<String>,
    sizes: ReportedSizes,
}

impl Transport for Ssh {
    // The connection task closed a client that did not get its shell in time; once it has
    // one, reading without typing is what chat users do.
    const WATCHES_FIRST_INPUT: bool = true;

    fn known_terminal(&self) -> Option<KnownTerminal> {
        Some(self.terminal)
    }

    fn requested_nick(&self) -> Option<&str> {
        Some(self.nick.as_str()).filter(|nick| !nick.is_empty())
    }

    fn identity(&self) -> Option<&str> {
        self.key.as_deref()
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The fingerprint reads as OpenSSH prints it: `ssh-keygen -lf` on the public key of the
    /// all-zero seed (RFC 8032's first test key, 3b6a27bc...) prints this value.
    #[test]
    fn fingerprints_read_as_openssh_prints_them() {
        let key = PrivateKey::from(Ed25519Keypair::from_seed(&[0u8; 32]));
        let printed = fingerprint(key.public_key());
        assert!(printed.starts_with("SHA256:"), "{printed}");
        assert!(!printed.ends_with('='), "unpadded: {printed}");
        assert_eq!(printed, ZERO_SEED_FINGERPRINT);
    }

    const ZERO_SEED_FINGERPRINT: &str = "SHA256:tAXFyTXI8xtDaujAEcwJslAYc9/6FKcUkd2Lw0xDhPo";

    /// Sizes beyond 16 bits saturate instead of wrapping; the session replaces them.
    #[test]
    fn sizes_saturate() {
        assert_eq!(size(0, 0), (0, 0));
        assert_eq!(size(65535, 65535), (65535, 65535));
        assert_eq!(size(u32::MAX, 70_000), (u16::MAX, u16::MAX));
        assert_eq!(size(80, 24), (80, 24));
    }
}
