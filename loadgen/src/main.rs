//! `r0c-load`: a load generator for r0c servers (this one, or r0c 1.6.1 for comparison).
//!
//! It opens N clients to 127.0.0.1, walks each through the first-connect wizard the way r0c's
//! own stress testers do, joins them to C channels, has S of them send uniquely tokenised
//! messages at an aggregate rate R for T seconds, and has every client read everything and
//! note when each token reached it. It reports deliveries, latency percentiles, bytes per
//! delivered message and CPU/memory of the server (from `/proc/PID`) and of itself, as a table
//! and one JSON line. Every phase has a time limit; it always stops by itself.
//!
//! Two rules say when a message counts as delivered to a client, and both are reported; the
//! headline numbers use the one `--rule` picks. "bytes": its token appears in the bytes that
//! client received (a message that scrolled past within one frame counts if the frame carried
//! it). "screen": its token, or a newer token of the same channel, appeared: a full-screen client
//! that gets many messages in one frame shows only the newest ones, and the older ones scrolled
//! past in that frame.
//!
//! With `--ssh` the clients connect to r0c's ssh listener instead, with russh's client: each
//! has an Ed25519 key of its own, asks for a pty (`xterm`, 80x24) and a shell, and is then
//! in the chat with no wizard to walk; the bytes counted are the channel's data (the
//! terminal stream), so bytes per delivery compare with telnet's.
//!
//! With `--irc N`, N of the reading clients are IRC clients on r0c's IRC listener
//! (`--irc-port`) instead: they register (`CAP LS 302`, `echo-message` so a sender sees its own
//! message as a terminal user does, `NICK`, `USER`), `JOIN` their channel, send `PRIVMSG`, and
//! count a delivery when a token arrives in a `PRIVMSG` line; they answer `PING`. Deliveries,
//! latency and bytes are then reported for the terminal and the IRC clients apart, beside the
//! server's CPU time per delivery of the whole run.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a client reads from: a TCP socket's read half, or an ssh channel's.
type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// What a client writes to.
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// How long a new connection may show nothing before it is tried again, and how often.
const GREETING_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_ATTEMPTS: u32 = 6;
/// The longest wait for one step of the wizard.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// The same for slow-link clients, whose wizard screens take seconds each to arrive.
const SLOW_STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// SO_RCVBUF of slow-link clients.
const SLOW_RECEIVE_BUFFER: u32 = 4096;

/// How long the readers read before bytes are counted and the senders start.
const SETTLE: Duration = Duration::from_secs(1);
/// Marks a token in message text: `zq<sequence>qz`.
const TOKEN_START: &[u8] = b"zq";
const TOKEN_END: &[u8] = b"qz";

#[derive(Debug, Parser)]
#[command(name = "r0c-load", about = "load generator for r0c (127.0.0.1 only)")]
struct Args {
    /// port of the server on 127.0.0.1 (the telnet port with --telnet); with several
    /// (`--port A,B,C` or repeated), one per node of a cluster, each channel's clients go to
    /// them in turn, and deliveries from a sender on one node to a reader on another are also
    /// reported apart ("cross-node")
    #[arg(long, value_delimiter = ',', required = true)]
    port: Vec<u16>,
    /// the port is a telnet port: send a window size the telnet way, as r0c's testers do
    #[arg(long)]
    telnet: bool,
    /// the port is an ssh port: connect with russh's client, a key per client, a pty and a
    /// shell (no wizard)
    #[arg(long, conflicts_with = "telnet")]
    ssh: bool,
    /// clients
    #[arg(long, short = 'n', default_value_t = 100)]
    clients: usize,
    /// channels the clients are spread over
    #[arg(long, short = 'c', default_value_t = 1)]
    channels: usize,
    /// clients that send (the first ones of each channel, round robin)
    #[arg(long, short = 's', default_value_t = 10)]
    senders: usize,
    /// messages per second, all senders together
    #[arg(long, short = 'r', default_value_t = 100.0)]
    rate: f64,
    /// seconds of sending
    #[arg(long, short = 't', default_value_t = 10.0)]
    seconds: f64,
    /// the server's process id, for its CPU and memory; with several servers, one per
    /// `--port`, in the same order (`--pid A,B,C`)
    #[arg(long, value_delimiter = ',')]
    pid: Vec<u32>,
    /// another process whose CPU time during the load is reported (a cluster's nats-server)
    #[arg(long)]
    nats_pid: Option<u32>,
    /// clients that never read anything (they are not counted as receivers)
    #[arg(long, default_value_t = 0)]
    stalled: usize,
    /// loopback source addresses to spread the clients over (127.0.N.1 and on, N from
    /// --source-net), so per-address limits can stay on
    #[arg(long, default_value_t = 1)]
    sources: u8,
    /// the third number of those source addresses (127.0.N.1 and on), so several generators
    /// at once use addresses of their own
    #[arg(long, default_value_t = 1)]
    source_net: u8,
    /// channels are named `#<prefix><n>`; generators that run at once and should not share
    /// channels use prefixes of their own
    #[arg(long, default_value = "c")]
    channel_prefix: String,
    /// idle clients: connect, pass the wizard, join, then only read (and drop) what arrives for
    /// this many seconds; nobody sends. A JSON line with `idle_ready` is printed once all are
    /// in, so a script can wait for it before it measures the server or starts a load
    #[arg(long)]
    hold: Option<f64>,
    /// more clients (terminal clients, not counted as receivers) that pass the wizard, stay in
    /// the status window, and all at once, --join-after seconds into the sending, join
    /// --join-channel; the report adds how long their joins took
    #[arg(long, default_value_t = 0)]
    joiners: usize,
    /// the channel the joiners join (without `#`), e.g. one seeded with a big history
    /// (`cargo run --release --example seed_channel`)
    #[arg(long, default_value = "big")]
    join_channel: String,
    /// a join counts as done when this text arrives (the channel's topic, which only a member
    /// is shown; the seeder's default topic by default)
    #[arg(long, default_value = "a channel of seeded history")]
    join_wait: String,
    /// seconds into the sending when the joiners join
    #[arg(long, default_value_t = 5.0)]
    join_after: f64,
    /// how many clients go through the wizard at once
    #[arg(long, default_value_t = 200)]
    connect_parallel: usize,
    /// clients (after the stalled ones) that read through a throttle, as over a modem, and
    /// type a character every 500 ms to measure how soon it echoes
    #[arg(long, default_value_t = 0)]
    slow: usize,
    /// the throttled clients' link speed in bits per second (10 bits per byte, as 8N1)
    #[arg(long, default_value_t = 1200)]
    slow_bps: u32,
    /// seconds to wait after sending for deliveries (slow clients may need longer)
    #[arg(long, default_value_t = 10.0)]
    drain_seconds: f64,
    /// a label for the JSON line
    #[arg(long, default_value = "r0c")]
    label: String,
    /// when a message counts as delivered for the headline numbers: "bytes" (its token
    /// arrived) or "screen" (it or a newer message of its channel arrived)
    #[arg(long, value_enum, default_value_t = Rule::Bytes)]
    rule: Rule,
    /// send the token alone (`zq<n>qz`, 5 to 9 characters, as short as the spec's "msg 1")
    /// instead of `load <token> from <sender>` (18 and more)
    #[arg(long)]
    bare: bool,
    /// hostile clients (from 127.0.2.x) that, while the load runs, join channels until the
    /// server's per-user cap refuses them and then change their nick as fast as
    /// --attack-interval-ms allows; they also sit in #c0, so its readers see their churn
    #[arg(long, default_value_t = 0)]
    attackers: u8,
    /// channels each attacker tries to join (more than the server's cap)
    #[arg(long, default_value_t = 200)]
    attack_channels: usize,
    /// milliseconds between an attacker's commands
    #[arg(long, default_value_t = 5)]
    attack_interval_ms: u64,
    /// reading clients that are IRC clients on the IRC listener instead (spread evenly over
    /// each channel's clients; the stalled and slow ones stay terminal clients)
    #[arg(long, default_value_t = 0)]
    irc: usize,
    /// port of the server's IRC listener on 127.0.0.1 (default: --port, for a run of IRC
    /// clients only)
    #[arg(long)]
    irc_port: Option<u16>,
}

/// The kinds of client whose deliveries are reported apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A terminal client: raw, telnet or ssh.
    Terminal,
    /// An IRC client on the IRC listener.
    Irc,
}

impl Kind {
    const ALL: [Kind; 2] = [Kind::Terminal, Kind::Irc];

    fn index(self) -> usize {
        match self {
            Kind::Terminal => 0,
            Kind::Irc => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Terminal => "terminal",
            Kind::Irc => "irc",
        }
    }
}

/// Deliveries of one kind of client, by the headline rule.
struct KindStats {
    seen: AtomicUsize,
    /// Bytes the readers of this kind received since `counting` was set.
    bytes: AtomicU64,
    /// Latencies in microseconds.
    latencies: Mutex<Histogram<u64>>,
}

impl KindStats {
    fn new() -> Result<KindStats, hdrhistogram::CreationError> {
        Ok(KindStats {
            seen: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
            latencies: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        })
    }
}

/// When a message counts as delivered (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Rule {
    Bytes,
    Screen,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::Bytes => "bytes",
            Rule::Screen => "screen",
        }
    }
}

/// What every reader shares: when each token was sent.
struct Shared {
    /// Send time per token, as microseconds since `epoch` (0: not sent yet).
    sent_at: Vec<AtomicU64>,
    /// The channel of each token plus one, stored before its send time.
    channel_of: Vec<std::sync::atomic::AtomicU32>,
    /// The node (index into `--port`) of each token's sender plus one, stored before its send time.
    node_of: Vec<std::sync::atomic::AtomicU32>,
    /// Latencies in microseconds of deliveries to a reader on another node than the sender's,
    /// and on the same node, by the headline rule.
    cross_node: Mutex<Histogram<u64>>,
    same_node: Mutex<Histogram<u64>>,
    /// Deliveries by the headline rule to the readers of each node.
    seen_by_node: Vec<AtomicUsize>,
    rule: Rule,
    epoch: Instant,
    /// Latencies in microseconds, by the headline rule.
    latencies: Mutex<Histogram<u64>>,
    /// Deliveries by the bytes rule and by the screen rule.
    seen_bytes: AtomicUsize,
    seen_screen: AtomicUsize,
    /// Bytes the readers received since `counting` was set.
    bytes: AtomicU64,
    /// Set once the screens settled after everyone joined: what the joins caused (a line per
    /// later joiner on every screen) is not a cost of the messages.
    counting: std::sync::atomic::AtomicBool,
    /// The same per kind of client (indexed by [`Kind::index`]).
    by_kind: [KindStats; 2],
}

#[tokio::main]
async fn main() -> anyhow_free::Result {
    let args = Args::parse();
    // Set once, before any client is made.
    let _ = CHANNEL_PREFIX.set(args.channel_prefix.clone());
    let total_messages = (args.rate * args.seconds).ceil() as usize;
    let shared = Arc::new(Shared {
        sent_at: (0..total_messages).map(|_| AtomicU64::new(0)).collect(),
        channel_of: (0..total_messages)
            .map(|_| std::sync::atomic::AtomicU32::new(0))
            .collect(),
        node_of: (0..total_messages)
            .map(|_| std::sync::atomic::AtomicU32::new(0))
            .collect(),
        cross_node: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        same_node: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        seen_by_node: args.port.iter().map(|_| AtomicUsize::new(0)).collect(),
        rule: args.rule,
        epoch: Instant::now(),
        latencies: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        seen_bytes: AtomicUsize::new(0),
        seen_screen: AtomicUsize::new(0),
        bytes: AtomicU64::new(0),
        counting: std::sync::atomic::AtomicBool::new(false),
        by_kind: [KindStats::new()?, KindStats::new()?],
    });
    let addresses: Vec<SocketAddr> = args
        .port
        .iter()
        .map(|port| SocketAddr::from(([127, 0, 0, 1], *port)))
        .collect();
    let nodes = addresses.len().max(1);
    let first_port = args.port.first().copied().unwrap_or(0);
    let address = SocketAddr::from(([127, 0, 0, 1], first_port));
    let irc_address = SocketAddr::from(([127, 0, 0, 1], args.irc_port.unwrap_or(first_port)));
    let irc_clients = irc_readers(&args);
    let rss_before = sum_over(&args.pid, current_rss_kib);

    // Phase 1: connect and pass the wizard, a bounded number at a time.
    let started = Instant::now();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(args.connect_parallel.max(1)));
    let mut joining = Vec::new();
    for index in 0..args.clients {
        let semaphore = semaphore.clone();
        let channel = index % args.channels.max(1);
        let source = 1 + (index % usize::from(args.sources.max(1))) as u8;
        let source_net = args.source_net;
        let role = if index < args.stalled {
            Role::Stalled
        } else if index < args.stalled + args.slow {
            Role::Slow
        } else {
            Role::Reader
        };
        let irc = irc_clients.get(index).copied().unwrap_or(false);
        let link = Link {
            telnet: args.telnet,
            ssh: args.ssh,
            irc,
            slow_bps: (role == Role::Slow).then_some(args.slow_bps),
            stay_out: false,
        };
        // A channel's clients go to the nodes in turn, so each channel has readers on each.
        let node = (index / args.channels.max(1)) % nodes;
        let address = if irc {
            irc_address
        } else {
            addresses.get(node).copied().unwrap_or(address)
        };
        joining.push(tokio::spawn(async move {
            let _permit = semaphore.acquire_owned().await.ok()?;
            match join_from(address, [127, 0, source_net, source], link, channel).await {
                Ok(client) => Some((role, Client { node, ..client })),
                Err(error) => {
                    eprintln!("client {index}: {error}");
                    None
                }
            }
        }));
    }
    let mut clients = Vec::new();
    for task in joining {
        if let Ok(Some(client)) = task.await {
            clients.push(client);
        }
    }
    let connect_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{} of {} clients ready in {connect_seconds:.1} s",
        clients.len(),
        args.clients
    );
    let ready = clients.len();
    let joiners = connect_joiners(&args, address).await;
    if let Some(hold) = args.hold {
        hold_idle(clients, &args, connect_seconds, hold).await;
        return Ok(());
    }
    // Memory once everyone is connected and idle, before any message.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_ready = sum_over(&args.pid, current_rss_kib);
    let channels = args.channels.max(1);
    let receivers_per_channel: Vec<usize> = (0..channels)
        .map(|c| {
            clients
                .iter()
                .filter(|(role, cl)| cl.channel == c && *role == Role::Reader)
                .count()
        })
        .collect();
    let receivers_of_kind = |kind: Kind, c: usize| {
        clients
            .iter()
            .filter(|(role, cl)| cl.channel == c && *role == Role::Reader && cl.kind == kind)
            .count()
    };
    let receivers_by_kind: Vec<[usize; 2]> = (0..channels)
        .map(|c| Kind::ALL.map(|kind| receivers_of_kind(kind, c)))
        .collect();
    let ready_by_kind =
        Kind::ALL.map(|kind| clients.iter().filter(|(_, cl)| cl.kind == kind).count());

    // Phase 2: the readers read everything, the slow ones read through their throttle and
    // type, the stalled ones never read; the senders send.
    let slow = Arc::new(SlowStats {
        echoes: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        missing_echoes: AtomicUsize::new(0),
        newest: Mutex::new(Vec::new()),
    });
    let mut writers: Vec<(usize, Option<Writer>)> = Vec::new();
    // Whether each writer is an IRC client's (its lines are PRIVMSGs), and its node.
    let mut writer_is_irc: Vec<bool> = Vec::new();
    let mut writer_node: Vec<usize> = Vec::new();
    let mut readers = Vec::new();
    let mut slow_channels = Vec::new();
    let mut slow_ports = Vec::new();
    let stop_reading = tokio_util::sync::CancellationToken::new();
    for (role, client) in clients {
        let Client {
            conn,
            channel,
            kind,
            node,
        } = client;
        let stop = stop_reading.clone();
        writer_is_irc.push(kind == Kind::Irc);
        writer_node.push(node);
        match role {
            Role::Stalled => {
                let Conn { reader, writer, .. } = conn;
                writers.push((channel, None));
                // Keeps the connection open without ever reading.
                readers.push(tokio::spawn(async move {
                    let _open = (reader, writer);
                    stop.cancelled().await;
                }));
            }
            Role::Slow => {
                writers.push((channel, None));
                if let Some(port) = conn.local_port {
                    slow_ports.push(port);
                }
                let index = slow_channels.len();
                slow_channels.push(channel);
                if let Ok(mut newest) = slow.newest.lock() {
                    newest.push((0, 0));
                }
                let (shared, slow) = (shared.clone(), slow.clone());
                readers.push(tokio::spawn(async move {
                    tokio::select! {
                        () = slow_client(conn, index, shared, slow) => {}
                        () = stop.cancelled() => {}
                    }
                }));
            }
            Role::Reader if kind == Kind::Irc => {
                let Conn { reader, writer, .. } = conn;
                // The sender and the reader's PONGs share the connection's write half.
                let writer = Arc::new(Mutex::new(writer));
                writers.push((channel, Some(Box::new(SharedWriter(writer.clone())))));
                let shared = shared.clone();
                readers.push(tokio::spawn(async move {
                    let writer = SharedWriter(writer);
                    read_irc_tokens(reader, writer, shared, (channel, node), stop).await;
                }));
            }
            Role::Reader => {
                let Conn { reader, writer, .. } = conn;
                writers.push((channel, Some(writer)));
                let shared = shared.clone();
                readers.push(tokio::spawn(async move {
                    read_tokens(reader, shared, (channel, node), stop).await;
                }));
            }
        }
    }
    // How much the kernel holds for the slow clients, sampled while the load runs.
    let kernel_queue_peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let peak = kernel_queue_peak.clone();
        let port = first_port;
        let ports = slow_ports.clone();
        tokio::spawn(async move {
            while !ports.is_empty() {
                if let Some(queued) = kernel_queued_bytes(port, &ports) {
                    peak.fetch_max(queued, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // The attackers connect like everyone else, then attack while the load runs.
    let mut attackers = Vec::new();
    for index in 0..args.attackers {
        let link = Link {
            telnet: args.telnet,
            ssh: args.ssh,
            irc: false,
            slow_bps: None,
            stay_out: false,
        };
        match join_from(address, [127, 0, 2, index.saturating_add(1)], link, 0).await {
            Ok(client) => {
                let stop = stop_reading.clone();
                let (channels, every) = (
                    args.attack_channels,
                    Duration::from_millis(args.attack_interval_ms.max(1)),
                );
                attackers.push(tokio::spawn(attack(
                    client.conn,
                    index,
                    channels,
                    every,
                    stop,
                )));
            }
            Err(error) => eprintln!("attacker {index}: {error}"),
        }
    }
    // The readers take in what the joins caused; bytes count from here on.
    tokio::time::sleep(SETTLE).await;
    shared.counting.store(true, Ordering::Release);
    let tcp_before = SSH_TCP_RECEIVED.load(Ordering::Relaxed);
    let senders = pick_senders(&writers, args.senders.max(1));
    let mut expected = 0usize;
    let mut expected_by_kind = [0usize; 2];
    let mut last_token_of_channel: Vec<Option<usize>> = vec![None; channels];
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(0.001));
    // CPU is measured from here on: the load itself, not the wizards before it.
    let server_before = sum_over(&args.pid, process_cpu);
    let nodes_before: Vec<Option<f64>> = args.pid.iter().map(|pid| process_cpu(*pid)).collect();
    let nats_before = args.nats_pid.and_then(process_cpu);
    let own_before = process_cpu(std::process::id());
    let send_start = Instant::now();
    let big_joins = tokio::spawn(join_at_once(
        joiners,
        format!("/join #{}\n", args.join_channel),
        args.join_wait.clone(),
        send_start + Duration::from_secs_f64(args.join_after.max(0.0)),
        stop_reading.clone(),
    ));
    let mut sent = 0usize;
    while sent < total_messages && !senders.is_empty() {
        let due = send_start + interval.mul_f64(sent as f64);
        tokio::time::sleep_until(due.into()).await;
        let which = senders[sent % senders.len()];
        let (channel, writer) = &mut writers[which];
        let token = format!(
            "{}{sent}{}",
            std::str::from_utf8(TOKEN_START).unwrap_or("zq"),
            std::str::from_utf8(TOKEN_END).unwrap_or("qz")
        );
        // A terminal's Enter is a carriage return; r0c's raw and telnet clients send
        // newlines, as its own testers do.
        let enter = if args.ssh { "\r" } else { "\n" };
        let text = if args.bare {
            token
        } else {
            format!("load {token} from {which}")
        };
        let line = if writer_is_irc.get(which).copied().unwrap_or(false) {
            format!("PRIVMSG {} :{text}\r\n", channel_name(*channel))
        } else {
            format!("{text}{enter}")
        };
        shared.channel_of[sent].store(*channel as u32 + 1, Ordering::Relaxed);
        let node = writer_node.get(which).copied().unwrap_or(0);
        shared.node_of[sent].store(node as u32 + 1, Ordering::Relaxed);
        shared.sent_at[sent].store(
            shared.epoch.elapsed().as_micros() as u64 + 1,
            Ordering::Release,
        );
        if let Some(writer) = writer.as_mut()
            && writer.write_all(line.as_bytes()).await.is_ok()
        {
            expected += receivers_per_channel[*channel];
            for (sum, receivers) in expected_by_kind.iter_mut().zip(receivers_by_kind[*channel]) {
                *sum += receivers;
            }
            last_token_of_channel[*channel] = Some(sent);
        }
        sent += 1;
    }
    let send_seconds = send_start.elapsed().as_secs_f64();
    let send_end = shared.epoch.elapsed().as_micros() as u64 + 1;
    // Phase 3: give deliveries a bounded time to arrive, to the slow clients too.
    let slow_done = || {
        slow.newest.lock().is_ok_and(|newest| {
            newest
                .iter()
                .zip(&slow_channels)
                .all(|((token, _), channel)| {
                    last_token_of_channel[*channel].is_none_or(|last| *token >= last)
                })
        })
    };
    let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain_seconds);
    let seen_now = || match args.rule {
        Rule::Bytes => shared.seen_bytes.load(Ordering::Acquire),
        Rule::Screen => shared.seen_screen.load(Ordering::Acquire),
    };
    while (seen_now() < expected || !slow_done()) && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop_reading.cancel();
    // Each reader hands in what it collected when it stops.
    for reader in readers {
        let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
    }
    sampler.abort();
    let join_times = tokio::time::timeout(Duration::from_secs(5), big_joins)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let join_json = report_joins(&args, &join_times);
    let mut attack_commands = 0;
    for attacker in attackers {
        attack_commands += tokio::time::timeout(Duration::from_secs(5), attacker)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0);
    }
    if args.attackers > 0 {
        println!(
            "attackers {} sent {attack_commands} commands (joins to the cap, then /nick)",
            args.attackers
        );
    }
    let server_after = sum_over(&args.pid, process_cpu);
    let nodes_after: Vec<Option<f64>> = args.pid.iter().map(|pid| process_cpu(*pid)).collect();
    let nats_after = args.nats_pid.and_then(process_cpu);
    let own_after = process_cpu(std::process::id());
    let server_rss = sum_over(&args.pid, peak_rss_kib);

    let seen = seen_now();
    let seen_bytes = shared.seen_bytes.load(Ordering::Acquire);
    let seen_screen = shared.seen_screen.load(Ordering::Acquire);
    let bytes = shared.bytes.load(Ordering::Acquire);
    // Over telnet the TCP payload is the terminal stream itself.
    let tcp_bytes = if args.ssh {
        SSH_TCP_RECEIVED
            .load(Ordering::Relaxed)
            .saturating_sub(tcp_before)
    } else {
        bytes
    };
    let histogram = snapshot(&shared.latencies);
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    let server_cpu = server_before.zip(server_after).map(|(a, b)| b - a);
    let own_cpu = own_before.zip(own_after).map(|(a, b)| b - a);
    let delivered = if expected == 0 {
        0.0
    } else {
        100.0 * seen as f64 / expected as f64
    };
    let per_message = if seen == 0 {
        0.0
    } else {
        bytes as f64 / seen as f64
    };
    let tcp_per_message = if seen == 0 {
        0.0
    } else {
        tcp_bytes as f64 / seen as f64
    };
    let rss_per_client = rss_before
        .zip(rss_ready)
        .filter(|_| ready > 0)
        .map(|(before, after)| (after as f64 - before as f64) / ready as f64);
    println!(
        "clients {ready}/{}  channels {}  senders {}  rate {}/s for {:.1} s (sent in {send_seconds:.1} s)",
        args.clients,
        args.channels,
        senders.len(),
        args.rate,
        args.seconds
    );
    let rule = args.rule.name();
    println!(
        "sent {sent}  expected {expected}  seen {seen}  delivered {delivered:.2}% (rule {rule}; by bytes {seen_bytes}, by screen {seen_screen})"
    );
    println!(
        "latency ms  p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        histogram.max() as f64 / 1000.0
    );
    println!("bytes received per delivered message {per_message:.1} (TCP {tcp_per_message:.1})");
    // Per kind of client: deliveries by the headline rule, latency, bytes per delivery.
    let mut kinds_json = String::new();
    for kind in Kind::ALL {
        let stats = &shared.by_kind[kind.index()];
        let seen = stats.seen.load(Ordering::Acquire);
        let expected = expected_by_kind[kind.index()];
        let histogram = snapshot(&stats.latencies);
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        let bytes = stats.bytes.load(Ordering::Acquire);
        let per_delivery = if seen == 0 {
            0.0
        } else {
            bytes as f64 / seen as f64
        };
        let name = kind.name();
        let clients = ready_by_kind[kind.index()];
        if args.irc > 0 {
            println!(
                "  {name} clients {clients}: seen {seen} of {expected}, latency ms p50 {:.1} p99 {:.1} max {:.1}, bytes per delivery {per_delivery:.1}",
                ms(0.5),
                ms(0.99),
                histogram.max() as f64 / 1000.0
            );
        }
        kinds_json.push_str(&format!(
            ",\"{name}_clients\":{clients},\"{name}_expected\":{expected},\"{name}_seen\":{seen},\"{name}_p50_ms\":{:.2},\"{name}_p99_ms\":{:.2},\"{name}_bytes_per_delivery\":{per_delivery:.1}",
            ms(0.5),
            ms(0.99),
        ));
    }
    // The server's CPU time for one delivery (of either kind), in microseconds.
    let cpu_per_delivery = server_cpu
        .filter(|_| seen > 0)
        .map(|cpu| cpu * 1e6 / seen as f64);
    println!(
        "server cpu per delivery {}",
        cpu_per_delivery.map_or("-".into(), |us| format!("{us:.2} us"))
    );
    println!(
        "server cpu {}  peak rss {}  generator cpu {}",
        server_cpu.map_or("-".into(), |s| format!("{s:.2} s")),
        server_rss.map_or("-".into(), |k| format!("{k} KiB")),
        own_cpu.map_or("-".into(), |s| format!("{s:.2} s")),
    );
    println!(
        "server rss before connecting {}, with all clients idle {}, per client {}",
        rss_before.map_or("-".into(), |k| format!("{k} KiB")),
        rss_ready.map_or("-".into(), |k| format!("{k} KiB")),
        rss_per_client.map_or("-".into(), |k| format!("{k:.1} KiB")),
    );
    let json_number = |value: Option<f64>| value.map_or("null".into(), |v| format!("{v:.3}"));
    // Several servers: latency across nodes and on one, and each node's CPU per delivery to
    // its own readers (a node also spends CPU on the lines it applies for other nodes' readers:
    // that is the price of the cluster, and it is in these figures).
    let mut nodes_json = String::new();
    if nodes > 1 || args.nats_pid.is_some() {
        let cross = snapshot(&shared.cross_node);
        let same = snapshot(&shared.same_node);
        let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let (cross_count, cross_p50, cross_p99) = (cross.len(), ms(&cross, 0.5), ms(&cross, 0.99));
        let cross_max = cross.max() as f64 / 1000.0;
        let (same_count, same_p50, same_p99) = (same.len(), ms(&same, 0.5), ms(&same, 0.99));
        println!(
            "across nodes: {cross_count} deliveries, latency ms p50 {cross_p50:.1} p99 {cross_p99:.1} max {cross_max:.1}; on the sender's node: {same_count}, p50 {same_p50:.1} p99 {same_p99:.1}"
        );
        let mut cpu_json = Vec::new();
        let mut per_delivery_json = Vec::new();
        let mut seen_json = Vec::new();
        for (index, (before, after)) in nodes_before.iter().zip(&nodes_after).enumerate() {
            let cpu = before.zip(*after).map(|(a, b)| b - a);
            let seen = shared
                .seen_by_node
                .get(index)
                .map_or(0, |s| s.load(Ordering::Acquire));
            let per = cpu.filter(|_| seen > 0).map(|c| c * 1e6 / seen as f64);
            println!(
                "  node {index} (port {}): cpu {}, {seen} deliveries to its readers, cpu per delivery {}",
                args.port.get(index).copied().unwrap_or(0),
                cpu.map_or("-".into(), |s| format!("{s:.2} s")),
                per.map_or("-".into(), |us| format!("{us:.2} us")),
            );
            cpu_json.push(json_number(cpu));
            per_delivery_json.push(json_number(per));
            seen_json.push(seen.to_string());
        }
        let nats_cpu = nats_before.zip(nats_after).map(|(a, b)| b - a);
        let nats_per = nats_cpu.filter(|_| seen > 0).map(|c| c * 1e6 / seen as f64);
        println!(
            "  nats-server cpu {}, per delivery {}",
            nats_cpu.map_or("-".into(), |s| format!("{s:.2} s")),
            nats_per.map_or("-".into(), |us| format!("{us:.2} us")),
        );
        nodes_json = format!(
            ",\"nodes\":{nodes},\"cross_deliveries\":{cross_count},\"cross_p50_ms\":{cross_p50:.2},\"cross_p99_ms\":{cross_p99:.2},\"cross_max_ms\":{cross_max:.2},\"same_deliveries\":{same_count},\"same_p50_ms\":{same_p50:.2},\"same_p99_ms\":{same_p99:.2},\"node_cpu_s\":[{}],\"node_seen\":[{}],\"node_cpu_us_per_delivery\":[{}],\"nats_cpu_s\":{},\"nats_cpu_us_per_delivery\":{}",
            cpu_json.join(","),
            seen_json.join(","),
            per_delivery_json.join(","),
            json_number(nats_cpu),
            json_number(nats_per),
        );
    }
    let mut slow_json = String::new();
    if !slow_channels.is_empty() {
        let echoes = snapshot(&slow.echoes);
        let echo_ms = |q: f64| echoes.value_at_quantile(q) as f64 / 1000.0;
        let newest = slow.newest.lock().map(|n| n.clone()).unwrap_or_default();
        let mut after_stop = Vec::new();
        let mut never = 0;
        for ((token, at), channel) in newest.iter().zip(&slow_channels) {
            match last_token_of_channel[*channel] {
                Some(last) if *token >= last => {
                    after_stop.push(at.saturating_sub(send_end) as f64 / 1000.0);
                }
                Some(_) => never += 1,
                None => {}
            }
        }
        let newest_after = after_stop
            .iter()
            .copied()
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        let queue_kib = kernel_queue_peak.load(Ordering::Relaxed) as f64 / 1024.0;
        let missing = slow.missing_echoes.load(Ordering::Relaxed);
        let (clients, bps) = (slow_channels.len(), args.slow_bps);
        let (p50, p99) = (echo_ms(0.5), echo_ms(0.99));
        let (max, count) = (echoes.max() as f64 / 1000.0, echoes.len());
        println!(
            "slow clients {clients} at {bps} bps: echo ms p50 {p50:.1} p99 {p99:.1} max {max:.1} ({count} echoes, {missing} never came); \
             newest message on screen {} after sending stopped ({never} never saw it); \
             kernel send queue for them at most {queue_kib:.1} KiB",
            newest_after.map_or("-".into(), |ms| format!("{ms:.0} ms")),
        );
        slow_json = format!(
            ",\"slow_clients\":{clients},\"slow_bps\":{bps},\"echo_p50_ms\":{p50:.2},\"echo_p99_ms\":{p99:.2},\"echo_max_ms\":{max:.2},\"echoes\":{count},\"missing_echoes\":{missing},\"slow_newest_after_stop_ms\":{},\"slow_never_saw_newest\":{never},\"slow_kernel_queue_max_kib\":{queue_kib:.1}",
            json_number(newest_after),
        );
    }
    println!(
        "{{\"label\":\"{}\",\"clients\":{},\"ready\":{ready},\"connect_s\":{connect_seconds:.1},\"channels\":{},\"rate\":{},\"seconds\":{},\"sent\":{sent},\"expected\":{expected},\"seen\":{seen},\"delivered_pct\":{delivered:.3},\"p50_ms\":{:.2},\"p90_ms\":{:.2},\"p99_ms\":{:.2},\"max_ms\":{:.2},\"bytes_per_delivery\":{per_message:.1},\"tcp_bytes_per_delivery\":{tcp_per_message:.1},\"server_cpu_s\":{},\"server_peak_rss_kib\":{},\"server_rss_before_kib\":{},\"server_rss_ready_kib\":{},\"rss_per_client_kib\":{},\"generator_cpu_s\":{},\"rule\":\"{rule}\",\"seen_bytes\":{seen_bytes},\"seen_screen\":{seen_screen},\"server_cpu_us_per_delivery\":{}{kinds_json}{slow_json}{nodes_json}{join_json}}}",
        args.label,
        args.clients,
        args.channels,
        args.rate,
        args.seconds,
        ms(0.5),
        ms(0.9),
        ms(0.99),
        histogram.max() as f64 / 1000.0,
        json_number(server_cpu),
        server_rss.map_or("null".into(), |k| k.to_string()),
        rss_before.map_or("null".into(), |k| k.to_string()),
        rss_ready.map_or("null".into(), |k| k.to_string()),
        json_number(rss_per_client),
        json_number(own_cpu),
        json_number(cpu_per_delivery),
    );
    Ok(())
}

/// `--joiners`: that many terminal clients through the wizard (from 127.0.3.x), left in their
/// status window.
async fn connect_joiners(args: &Args, address: SocketAddr) -> Vec<Conn> {
    let link = Link {
        telnet: args.telnet,
        ssh: false,
        irc: false,
        slow_bps: None,
        stay_out: true,
    };
    let semaphore = Arc::new(tokio::sync::Semaphore::new(args.connect_parallel.max(1)));
    let tasks: Vec<_> = (0..args.joiners)
        .map(|index| {
            let semaphore = semaphore.clone();
            let source = [127, 0, 3, 1 + (index % 250) as u8];
            tokio::spawn(async move {
                let _permit = semaphore.acquire_owned().await.ok()?;
                match join_from(address, source, link, 0).await {
                    Ok(client) => Some(client.conn),
                    Err(error) => {
                        eprintln!("joiner {index}: {error}");
                        None
                    }
                }
            })
        })
        .collect();
    let mut joiners = Vec::new();
    for task in tasks {
        if let Ok(Some(conn)) = task.await {
            joiners.push(conn);
        }
    }
    if args.joiners > 0 {
        eprintln!("{} of {} joiners ready", joiners.len(), args.joiners);
    }
    joiners
}

/// Every joiner sends `command` at `at`, and waits (at most [`STEP_TIMEOUT`], and not past
/// `stop`) until `wait` arrives; then it reads and drops what comes until `stop`. How long each
/// join took, for those that were done in time.
async fn join_at_once(
    joiners: Vec<Conn>,
    command: String,
    wait: String,
    at: Instant,
    stop: tokio_util::sync::CancellationToken,
) -> Vec<Duration> {
    let tasks: Vec<_> = joiners
        .into_iter()
        .map(|mut conn| {
            let (command, wait, stop) = (command.clone(), wait.clone(), stop.clone());
            tokio::spawn(async move {
                tokio::time::sleep_until(at.into()).await;
                conn.seen.clear();
                let sent = Instant::now();
                conn.writer.write_all(command.as_bytes()).await.ok()?;
                // A join still waited for when the run ends counts as not done.
                let needles = [wait.as_str()];
                tokio::select! {
                    done = conn.wait_for_any(&needles) => { done.ok()?; }
                    () = stop.cancelled() => return None,
                }
                let took = sent.elapsed();
                let Conn { mut reader, .. } = conn;
                let mut buf = vec![0u8; 4096];
                loop {
                    tokio::select! {
                        read = reader.read(&mut buf) => if !matches!(read, Ok(n) if n > 0) { break },
                        () = stop.cancelled() => break,
                    }
                }
                Some(took)
            })
        })
        .collect();
    let mut took = Vec::new();
    for task in tasks {
        if let Ok(Some(duration)) = task.await {
            took.push(duration);
        }
    }
    took
}

/// Prints how the joins went (with `--joiners`) and returns their JSON fields.
fn report_joins(args: &Args, join_times: &[Duration]) -> String {
    if args.joiners == 0 {
        return String::new();
    }
    let mut ms: Vec<f64> = join_times
        .iter()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| {
        ms.get(((ms.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let (p50, max) = (at(0.5), at(1.0));
    println!(
        "joiners {} of {} joined #{} in ms p50 {p50:.1} max {max:.1}",
        ms.len(),
        args.joiners,
        args.join_channel
    );
    format!(
        ",\"joiners\":{},\"joins_done\":{},\"join_p50_ms\":{},\"join_max_ms\":{}",
        args.joiners,
        ms.len(),
        if p50.is_nan() {
            "null".into()
        } else {
            format!("{p50:.1}")
        },
        if max.is_nan() {
            "null".into()
        } else {
            format!("{max:.1}")
        },
    )
}

/// `--hold`: says that the clients are in (a JSON line with `idle_ready`), then keeps them
/// connected, each reading and dropping what arrives, for `seconds` or until the server closes
/// them all, and says how many were still open and what they received.
async fn hold_idle(clients: Vec<(Role, Client)>, args: &Args, connect_seconds: f64, seconds: f64) {
    let ready = clients.len();
    println!(
        "{{\"label\":\"{}\",\"clients\":{},\"idle_ready\":{ready},\"connect_s\":{connect_seconds:.1}}}",
        args.label, args.clients
    );
    // The script that waits for the line reads it through a pipe.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let received = Arc::new(AtomicU64::new(0));
    let open = Arc::new(AtomicUsize::new(ready));
    let mut readers = Vec::with_capacity(ready);
    for (_, client) in clients {
        let Conn {
            mut reader, writer, ..
        } = client.conn;
        let (received, open) = (received.clone(), open.clone());
        readers.push(tokio::spawn(async move {
            // Kept open (a dropped write half would end the connection), never written.
            let _writer = writer;
            // Small: an idle client gets a clock tick now and then, and thousands share the
            // generator's memory.
            let mut buf = vec![0u8; 2048];
            while let Ok(n) = reader.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                received.fetch_add(n as u64, Ordering::Relaxed);
            }
            open.fetch_sub(1, Ordering::Relaxed);
        }));
    }
    let until = Instant::now() + Duration::from_secs_f64(seconds.max(0.0));
    while Instant::now() < until && open.load(Ordering::Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let still_open = open.load(Ordering::Relaxed);
    for reader in readers {
        reader.abort();
    }
    println!(
        "{{\"label\":\"{}\",\"idle_ready\":{ready},\"idle_open_at_end\":{still_open},\"idle_bytes_received\":{}}}",
        args.label,
        received.load(Ordering::Relaxed)
    );
}

/// A copy of a shared histogram (a panicked recorder leaves it readable).
fn snapshot(histogram: &Mutex<Histogram<u64>>) -> Histogram<u64> {
    histogram
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|e| e.into_inner().clone())
}

/// Channel names' prefix (`--channel-prefix`), set once at start.
static CHANNEL_PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The name of the generator's channel number `channel`: `#c0`, `#c1`, ... by default.
fn channel_name(channel: usize) -> String {
    let prefix = CHANNEL_PREFIX.get().map_or("c", String::as_str);
    format!("#{prefix}{channel}")
}

/// What a client does once it is in its channel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Reads everything and records when each token arrived.
    Reader,
    /// Never reads.
    Stalled,
    /// Reads through a throttle and types.
    Slow,
}

/// A client past the wizard and in its channel.
struct Client {
    conn: Conn,
    channel: usize,
    kind: Kind,
    /// Which server (index into `--port`) it is connected to.
    node: usize,
}

/// Reads no faster than a modem of the given speed would deliver (10 bits a byte, as 8N1),
/// with at most 100 ms worth of bytes at once.
struct Throttle {
    bytes_per_second: f64,
    allowance: f64,
    last: Instant,
}

impl Throttle {
    fn new(bps: u32) -> Throttle {
        Throttle {
            bytes_per_second: f64::from(bps.max(10)) / 10.0,
            allowance: 0.0,
            last: Instant::now(),
        }
    }

    /// Waits until at least one byte may be read; how many may be read now (at most `max`).
    async fn permit(&mut self, max: usize) -> usize {
        loop {
            let now = Instant::now();
            let burst = (self.bytes_per_second / 10.0).max(1.0);
            self.allowance = (self.allowance
                + now.duration_since(self.last).as_secs_f64() * self.bytes_per_second)
                .min(burst);
            self.last = now;
            if self.allowance >= 1.0 {
                return (self.allowance as usize).clamp(1, max.max(1));
            }
            let wait = (1.0 - self.allowance) / self.bytes_per_second;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }

    fn spend(&mut self, bytes: usize) {
        self.allowance -= bytes as f64;
    }
}

/// One connection to the server, as the wizard and the slow-link clients use it.
struct Conn {
    reader: Reader,
    writer: Writer,
    /// The client's local TCP port, to find its socket in `/proc/net/tcp`.
    local_port: Option<u16>,
    /// Received and not matched yet.
    seen: Vec<u8>,
    /// Set for slow-link clients.
    throttle: Option<Throttle>,
    /// Answers cursor-position probes as a terminal does (slow raw clients), so the server can
    /// measure the link as it would a real modem user's.
    answers_probes: bool,
    /// The last bytes of the previous read, so a probe split between reads is still seen.
    probe_tail: Vec<u8>,
}

/// The cursor-position probe a terminal answers with its size.
const POSITION_PROBE: &[u8] = b"\x1b[6n";

impl Conn {
    fn new(stream: TcpStream, throttle: Option<Throttle>, answers_probes: bool) -> Conn {
        let local_port = stream.local_addr().ok().map(|a| a.port());
        let (reader, writer) = stream.into_split();
        Conn {
            reader: Box::new(reader),
            writer: Box::new(writer),
            local_port,
            seen: Vec::new(),
            throttle,
            answers_probes,
            probe_tail: Vec::new(),
        }
    }

    /// One read (throttled for slow clients); probes in it are answered at once.
    async fn read_some(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let max = match self.throttle.as_mut() {
            Some(throttle) => throttle.permit(buf.len()).await,
            None => buf.len(),
        };
        let n = self.reader.read(&mut buf[..max]).await?;
        if let Some(throttle) = self.throttle.as_mut() {
            throttle.spend(n);
        }
        if self.answers_probes && n > 0 {
            self.probe_tail.extend_from_slice(&buf[..n]);
            let probes = self
                .probe_tail
                .windows(POSITION_PROBE.len())
                .filter(|w| *w == POSITION_PROBE)
                .count();
            for _ in 0..probes {
                self.writer.write_all(b"\x1b[24;80R").await?;
            }
            let keep = self.probe_tail.len().min(POSITION_PROBE.len() - 1);
            let cut = self.probe_tail.len() - keep;
            self.probe_tail.drain(..cut);
            if probes > 0 {
                self.probe_tail.clear();
            }
        }
        Ok(n)
    }

    /// Reads until nothing arrives for `quiet` (within the step timeout).
    async fn wait_quiet(&mut self, quiet: Duration) -> std::io::Result<()> {
        let mut buf = vec![0u8; 4096];
        let deadline = Instant::now() + SLOW_STEP_TIMEOUT;
        while Instant::now() < deadline {
            match tokio::time::timeout(quiet, self.read_some(&mut buf)).await {
                Err(_) => return Ok(()),
                Ok(Ok(0)) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(Ok(n)) => self.seen.extend_from_slice(&buf[..n]),
                Ok(Err(error)) => return Err(error),
            }
        }
        Ok(())
    }

    /// Reads until one of `needles` appears after what was matched before; its index.
    async fn wait_for_any(&mut self, needles: &[&str]) -> std::io::Result<usize> {
        let mut buf = vec![0u8; 16384];
        let deadline = tokio::time::Instant::now()
            + if self.throttle.is_some() {
                SLOW_STEP_TIMEOUT
            } else {
                STEP_TIMEOUT
            };
        loop {
            if let Some((index, end)) = needles
                .iter()
                .enumerate()
                .filter_map(|(i, n)| find(&self.seen, n.as_bytes()).map(|at| (i, at + n.len())))
                .min_by_key(|(_, end)| *end)
            {
                self.seen.drain(..end);
                return Ok(index);
            }
            let n = match tokio::time::timeout_at(deadline, self.read_some(&mut buf)).await {
                Ok(read) => read?,
                Err(_) => {
                    let tail =
                        String::from_utf8_lossy(&self.seen[self.seen.len().saturating_sub(300)..])
                            .into_owned();
                    return Err(std::io::Error::other(format!(
                        "waited for {needles:?}; last received: {tail:?}"
                    )));
                }
            };
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.seen.extend_from_slice(&buf[..n]);
            if self.seen.len() > 1 << 20 {
                let cut = self.seen.len() - (1 << 16);
                self.seen.drain(..cut);
            }
        }
    }
}

/// How a client connects: a plain fast reader, or a slow link.
#[derive(Clone, Copy)]
struct Link {
    telnet: bool,
    /// An ssh client (see [`ssh_join`]).
    ssh: bool,
    /// An IRC client (see [`irc_join`]); the address is the IRC listener's.
    irc: bool,
    /// Bits per second of a throttled (modem) client.
    slow_bps: Option<u32>,
    /// Stays in the status window after the wizard instead of joining its channel (a joiner;
    /// terminal clients only).
    stay_out: bool,
}

/// A hostile client: joins `channels` channels (the server's cap refuses the rest), then
/// changes its nick every `every` until `stop`, reading and dropping what it is sent so the
/// server never drops it for not reading. Returns how many commands it sent.
async fn attack(
    conn: Conn,
    index: u8,
    channels: usize,
    every: Duration,
    stop: tokio_util::sync::CancellationToken,
) -> usize {
    let Conn {
        mut reader,
        mut writer,
        ..
    } = conn;
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 16384];
        while matches!(reader.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let mut sent = 0;
    let mut ticker = tokio::time::interval(every);
    while !stop.is_cancelled() {
        tokio::select! {
            _ = ticker.tick() => {}
            () = stop.cancelled() => break,
        }
        let line = if sent < channels {
            format!("/join #atk{index}x{sent}\n")
        } else {
            format!("/nick atk{index}n{}\n", sent % 100_000)
        };
        if writer.write_all(line.as_bytes()).await.is_err() {
            break;
        }
        sent += 1;
    }
    drain.abort();
    sent
}

/// Connects from `source` (a loopback address), passes the wizard as r0c's stress testers do
/// (§12.1 of the server spec), and joins the channel (see [`channel_name`]).
async fn join_from(
    address: SocketAddr,
    source: [u8; 4],
    link: Link,
    channel: usize,
) -> std::io::Result<Client> {
    if link.irc {
        return irc_join(address, source, channel).await;
    }
    if link.ssh {
        return ssh_join(address, source, link, channel).await;
    }
    // r0c 1.6.1 listens with a backlog of 1: under a burst of connects some are never
    // accepted, so a connection that shows nothing for a while is tried again.
    let mut attempt = 0;
    let (mut conn, first) = loop {
        attempt += 1;
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source, 0)))?;
        if link.slow_bps.is_some() {
            // A small window, so the server feels the slow link as it would a modem's.
            socket.set_recv_buffer_size(SLOW_RECEIVE_BUFFER)?;
        }
        let stream: TcpStream = socket.connect(address).await?;
        stream.set_nodelay(true)?;
        let throttle = link.slow_bps.map(Throttle::new);
        // A slow client is a terminal behind a modem: it answers the server's cursor-position
        // probes (over telnet too), which is how the server's speed test finds the link slow.
        let mut conn = Conn::new(stream, throttle, link.slow_bps.is_some());
        let greeting_timeout = if link.slow_bps.is_some() {
            SLOW_STEP_TIMEOUT
        } else {
            GREETING_TIMEOUT
        };
        let greeting = tokio::time::timeout(
            greeting_timeout,
            conn.wait_for_any(&["verify that your config", "qwer asdf"]),
        )
        .await;
        match greeting {
            Ok(Ok(first)) => break (conn, first),
            Ok(Err(error)) if attempt >= CONNECT_ATTEMPTS => return Err(error),
            Err(_) if attempt >= CONNECT_ATTEMPTS => {
                return Err(std::io::Error::other("no greeting from the server"));
            }
            _ => continue,
        }
    };
    let naws: &[u8] = b"\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0";
    if first == 0 {
        if link.telnet {
            conn.writer.write_all(naws).await?;
        }
        conn.writer.write_all(b"n\n\n").await?;
        conn.wait_for_any(&["qwer asdf"]).await?;
    }
    if link.telnet {
        conn.writer.write_all(naws).await?;
    }
    for key in b"qwer asdf\n\n" {
        conn.writer.write_all(&[*key]).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = conn
        .wait_for_any(&["line-buffered", "text appeared as you typed"])
        .await?;
    // A busy server may take the typed keys for a line-buffered client; then every answer
    // needs an Enter.
    let linemode = answer == 0;
    let key = |k: &str| {
        if linemode {
            format!("{k}\n")
        } else {
            k.to_string()
        }
    };
    conn.writer
        .write_all(key(if linemode { "a" } else { "b" }).as_bytes())
        .await?;
    conn.wait_for_any(&["does colours work?"]).await?;
    conn.writer.write_all(key("y").as_bytes()).await?;
    conn.wait_for_any(&["which line looks like"]).await?;
    conn.writer.write_all(key("a").as_bytes()).await?;
    conn.wait_for_any(&["r0c readme"]).await?;
    if !link.telnet && !conn.answers_probes {
        conn.writer.write_all(b"\x1b[24;80R").await?;
    }
    if link.stay_out {
        return Ok(Client {
            conn,
            channel,
            kind: Kind::Terminal,
            node: 0,
        });
    }
    conn.writer
        .write_all(format!("/join {}\n", channel_name(channel)).as_bytes())
        .await?;
    conn.wait_for_any(&["has joined"]).await?;
    if link.slow_bps.is_some() {
        // A slow link is ready once the channel's whole first screen arrived: the idle
        // channel then sends nothing for a while.
        conn.wait_quiet(Duration::from_millis(1500)).await?;
    }
    Ok(Client {
        conn,
        channel,
        kind: Kind::Terminal,
        node: 0,
    })
}

/// [`join_from`] for an IRC client: registers as `i<a>x<b>p<port>` (its source address's last
/// two numbers and its port, unique in a run) with `echo-message`, so a sender sees its own
/// message as a terminal user does and both kinds count the same receivers, then joins
/// `#c<channel>` and waits for the end of its NAMES.
async fn irc_join(address: SocketAddr, source: [u8; 4], channel: usize) -> std::io::Result<Client> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let stream = socket.connect(address).await?;
    stream.set_nodelay(true)?;
    let port = stream.local_addr()?.port();
    let nick = format!("i{}x{}p{port}", source[2], source[3]);
    let mut conn = Conn::new(stream, None, false);
    let registration = format!(
        "CAP LS 302\r\nCAP REQ :echo-message\r\nNICK {nick}\r\nUSER {nick} 0 * :r0c-load\r\nCAP END\r\n"
    );
    conn.writer.write_all(registration.as_bytes()).await?;
    if conn.wait_for_any(&["ACK :echo-message", " NAK "]).await? != 0 {
        return Err(std::io::Error::other("the server refused echo-message"));
    }
    if conn
        .wait_for_any(&[&format!(" 001 {nick} "), " 433 "])
        .await?
        != 0
    {
        return Err(std::io::Error::other(format!("nick {nick} refused")));
    }
    conn.writer
        .write_all(format!("JOIN {}\r\n", channel_name(channel)).as_bytes())
        .await?;
    conn.wait_for_any(&[&format!(" 366 {nick} {} ", channel_name(channel))])
        .await?;
    Ok(Client {
        conn,
        channel,
        kind: Kind::Irc,
        node: 0,
    })
}

/// Which clients are IRC clients: `--irc` of the reading clients, spread evenly over them in
/// channel order, so every channel has both kinds in the same proportion and its senders (its
/// first readers) are of both kinds too.
fn irc_readers(args: &Args) -> Vec<bool> {
    let channels = args.channels.max(1);
    let first_reader = (args.stalled + args.slow).min(args.clients);
    let mut readers: Vec<usize> = (first_reader..args.clients).collect();
    readers.sort_by_key(|&index| (index % channels, index / channels));
    let total = readers.len();
    let count = args.irc.min(total);
    let mut irc = vec![false; args.clients];
    for (position, &index) in readers.iter().enumerate() {
        irc[index] = (position + 1) * count / total > position * count / total;
    }
    irc
}

/// The write half of an IRC client's connection, shared by the sender and by the reader's
/// PONGs. The lock is held only inside one `poll_*` call, never across an await. Two writes
/// could interleave only if one went out in part, which a short line to a loopback socket
/// with room in its buffer does not.
struct SharedWriter(Arc<Mutex<Writer>>);

impl SharedWriter {
    fn with<T>(
        &self,
        call: impl FnOnce(std::pin::Pin<&mut Writer>) -> std::task::Poll<std::io::Result<T>>,
    ) -> std::task::Poll<std::io::Result<T>> {
        match self.0.lock() {
            Ok(mut writer) => call(std::pin::Pin::new(&mut *writer)),
            Err(_) => std::task::Poll::Ready(Err(std::io::Error::other("writer poisoned"))),
        }
    }
}

impl AsyncWrite for SharedWriter {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.with(|writer| writer.poll_write(cx, buf))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.with(|writer| writer.poll_flush(cx))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.with(|writer| writer.poll_shutdown(cx))
    }
}

/// A russh client that takes any host key: the generator talks to a server it just started.
struct Trusting;

impl russh::client::Handler for Trusting {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// TCP bytes the ssh clients received: the terminal stream with ssh's packet headers, padding
/// and MACs (and its window adjustments), counted below the encryption.
static SSH_TCP_RECEIVED: AtomicU64 = AtomicU64::new(0);

/// An ssh client's TCP connection, counting what it receives into [`SSH_TCP_RECEIVED`].
struct Counted(TcpStream);

impl AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        SSH_TCP_RECEIVED.fetch_add(read as u64, Ordering::Relaxed);
        poll
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The read half of an ssh channel, holding its session: dropping the session's handle would
/// end the connection while the channel is still read.
struct SshReader {
    stream: tokio::io::ReadHalf<russh::ChannelStream<russh::client::Msg>>,
    _session: russh::client::Handle<Trusting>,
}

impl AsyncRead for SshReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

/// A new Ed25519 key. Each client has its own, so each is a user of its own as on a real
/// server (r0c claims a nick for a key, three at most); the seed needs to differ between
/// clients and runs, not to be secret, so it comes from std's randomly keyed hasher.
fn client_key(index: u64) -> russh::keys::PrivateKey {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    let mut seed = [0u8; 32];
    for (part, chunk) in seed.chunks_mut(8).enumerate() {
        let mut hasher = state.build_hasher();
        hasher.write_u64(index);
        hasher.write_usize(part);
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    russh::keys::PrivateKey::from(russh::keys::ssh_key::private::Ed25519Keypair::from_seed(
        &seed,
    ))
}

/// [`join_from`] over ssh: a handshake from `source`, public-key authentication with a key of
/// the client's own as user `l<port>` (its nick), a pty (`xterm`, 80x24) and a shell; then the
/// client is in the chat (a known terminal has no wizard) and joins `#c<channel>`.
async fn ssh_join(
    address: SocketAddr,
    source: [u8; 4],
    link: Link,
    channel: usize,
) -> std::io::Result<Client> {
    let ssh_error =
        |what: &str, error: russh::Error| std::io::Error::other(format!("{what}: {error}"));
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    if link.slow_bps.is_some() {
        socket.set_recv_buffer_size(SLOW_RECEIVE_BUFFER)?;
    }
    let stream = socket.connect(address).await?;
    stream.set_nodelay(true)?;
    let local_port = stream.local_addr()?.port();
    let config = Arc::new(russh::client::Config {
        // The generator's clients idle between messages like chat users.
        inactivity_timeout: None,
        ..Default::default()
    });
    let mut session = tokio::time::timeout(
        STEP_TIMEOUT,
        russh::client::connect_stream(config, Counted(stream), Trusting),
    )
    .await
    .map_err(|_| std::io::Error::other("ssh handshake timed out"))?
    .map_err(|e| ssh_error("ssh handshake", e))?;
    let key = russh::keys::PrivateKeyWithHashAlg::new(
        Arc::new(client_key(
            u64::from(local_port) << 32 | u64::from(u32::from_be_bytes(source)),
        )),
        None,
    );
    let user = format!("l{local_port}");
    let auth = session
        .authenticate_publickey(user, key)
        .await
        .map_err(|e| ssh_error("ssh auth", e))?;
    if !auth.success() {
        return Err(std::io::Error::other("ssh public key refused"));
    }
    let ssh_channel = session
        .channel_open_session()
        .await
        .map_err(|e| ssh_error("ssh session", e))?;
    ssh_channel
        .request_pty(false, "xterm", 80, 24, 0, 0, &[])
        .await
        .map_err(|e| ssh_error("ssh pty", e))?;
    ssh_channel
        .request_shell(false)
        .await
        .map_err(|e| ssh_error("ssh shell", e))?;
    let (reader, writer) = tokio::io::split(ssh_channel.into_stream());
    let mut conn = Conn {
        reader: Box::new(SshReader {
            stream: reader,
            _session: session,
        }),
        writer: Box::new(writer),
        local_port: Some(local_port),
        seen: Vec::new(),
        throttle: link.slow_bps.map(Throttle::new),
        answers_probes: link.slow_bps.is_some(),
        probe_tail: Vec::new(),
    };
    conn.writer
        .write_all(format!("/join {}\r", channel_name(channel)).as_bytes())
        .await?;
    conn.wait_for_any(&["has joined"]).await?;
    if link.slow_bps.is_some() {
        conn.wait_quiet(Duration::from_millis(1500)).await?;
    }
    Ok(Client {
        conn,
        channel,
        kind: Kind::Terminal,
        node: 0,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    // Ten thousand readers scan tens of megabytes a second: the generator must not be what
    // saturates the machine.
    memchr::memmem::find(haystack, needle)
}

/// Finds `zq<n>qz` tokens in a byte stream that arrives in pieces.
#[derive(Default)]
struct TokenScanner {
    carry: Vec<u8>,
}

impl TokenScanner {
    /// Calls `found` with every complete token in `data` (and the tail kept from before).
    fn scan(&mut self, data: &[u8], mut found: impl FnMut(usize)) {
        self.carry.extend_from_slice(data);
        let carry = &self.carry;
        let mut at = 0;
        while let Some(start) = find(&carry[at..], TOKEN_START) {
            let digits_from = at + start + TOKEN_START.len();
            let digits = carry[digits_from..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let end = digits_from + digits;
            if end + TOKEN_END.len() > carry.len() {
                at += start;
                break;
            }
            if digits > 0 && carry[end..].starts_with(TOKEN_END) {
                let token = std::str::from_utf8(&carry[digits_from..end])
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(usize::MAX);
                found(token);
            }
            at = end;
        }
        // Keep a short tail: a token may be split between reads.
        let keep_from = carry.len().saturating_sub(32).max(at.min(carry.len()));
        self.carry.drain(..keep_from.min(self.carry.len()));
    }
}

/// Reads forever, recording the first sighting of each token, and for the screen rule, of each
/// token of `channel` older than one seen.
async fn read_tokens(
    mut reader: Reader,
    shared: Arc<Shared>,
    (channel, node): (usize, usize),
    stop: tokio_util::sync::CancellationToken,
) {
    let mut buf = vec![0u8; 65536];
    let mut scanner = TokenScanner::default();
    let mut tally = Tally::new(shared, channel, Kind::Terminal, node);
    loop {
        let read = tokio::select! {
            read = reader.read(&mut buf) => read,
            () = stop.cancelled() => break,
        };
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let now = tally.received(n);
        scanner.scan(&buf[..n], |token| tally.token(token, now));
        tally.after_read();
    }
    tally.finish();
}

/// The longest line an IRC reader keeps while waiting for its end (r0c's lines are 512 bytes
/// plus 4096 of tags).
const IRC_LINE_MAX: usize = 8192;

/// [`read_tokens`] for an IRC client: the tokens of `PRIVMSG` lines count (a token in a
/// `NOTICE`, a topic or a nick would not be a delivered chat message), and a `PING` gets its
/// `PONG` so a long run is not dropped for silence.
async fn read_irc_tokens(
    mut reader: Reader,
    mut writer: SharedWriter,
    shared: Arc<Shared>,
    (channel, node): (usize, usize),
    stop: tokio_util::sync::CancellationToken,
) {
    let mut buf = vec![0u8; 65536];
    let mut line: Vec<u8> = Vec::new();
    let mut tally = Tally::new(shared, channel, Kind::Irc, node);
    loop {
        let read = tokio::select! {
            read = reader.read(&mut buf) => read,
            () = stop.cancelled() => break,
        };
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let now = tally.received(n);
        let mut pongs = Vec::new();
        for piece in buf[..n].split_inclusive(|b| *b == b'\n') {
            line.extend_from_slice(piece);
            if !line.ends_with(b"\n") {
                if line.len() > IRC_LINE_MAX {
                    line.clear();
                }
                continue;
            }
            match irc_command(&line) {
                Some((b"PRIVMSG", rest)) => {
                    // Each line is one message: a scanner of its own, nothing carried over.
                    TokenScanner::default().scan(rest, |token| tally.token(token, now));
                }
                Some((b"PING", rest)) => {
                    pongs.extend_from_slice(b"PONG ");
                    pongs.extend_from_slice(rest.trim_ascii());
                    pongs.extend_from_slice(b"\r\n");
                }
                _ => {}
            }
            line.clear();
        }
        if !pongs.is_empty() && writer.write_all(&pongs).await.is_err() {
            break;
        }
        tally.after_read();
    }
    tally.finish();
}

/// The command of an IRC line and what follows it, past its tags and its source.
fn irc_command(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut rest = line;
    if rest.starts_with(b"@") || rest.starts_with(b":") {
        let space = memchr::memchr(b' ', rest)?;
        rest = rest.get(space + 1..)?;
        if rest.starts_with(b":") {
            let space = memchr::memchr(b' ', rest)?;
            rest = rest.get(space + 1..)?;
        }
    }
    let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    let (command, after) = rest.split_at(end);
    Some((command.trim_ascii_end(), after))
}

/// One reader's delivery accounting: which tokens it saw, by both rules, flushed into
/// [`Shared`] (the counts after every read, the latencies every half second).
struct Tally {
    shared: Arc<Shared>,
    kind: Kind,
    local: Local,
    seen_tokens: HashSet<usize>,
    /// This reader's channel plus one, as [`Shared::channel_of`] holds it.
    mine: u32,
    /// This reader's node plus one, as [`Shared::node_of`] holds it.
    node: u32,
    /// Tokens below this are accounted for by the screen rule.
    screen_from: usize,
    flushed: Instant,
}

impl Tally {
    fn new(shared: Arc<Shared>, channel: usize, kind: Kind, node: usize) -> Tally {
        Tally {
            shared,
            kind,
            local: Local {
                latencies: Vec::new(),
                cross_node: Vec::new(),
                seen_bytes: 0,
                seen_screen: 0,
                node,
            },
            seen_tokens: HashSet::new(),
            mine: channel as u32 + 1,
            node: node as u32 + 1,
            screen_from: 0,
            flushed: Instant::now(),
        }
    }

    /// Counts `n` bytes received (once counting started); the time of their arrival.
    fn received(&mut self, n: usize) -> u64 {
        let shared = &self.shared;
        if shared.counting.load(Ordering::Relaxed) {
            shared.bytes.fetch_add(n as u64, Ordering::Relaxed);
            shared.by_kind[self.kind.index()]
                .bytes
                .fetch_add(n as u64, Ordering::Relaxed);
        }
        shared.epoch.elapsed().as_micros() as u64 + 1
    }

    /// A token arrived at `now`.
    fn token(&mut self, token: usize, now: u64) {
        let shared = &self.shared;
        let Some(sent) = shared.sent_at.get(token).map(|s| s.load(Ordering::Acquire)) else {
            return;
        };
        if sent == 0 {
            return;
        }
        let cross = |token: usize| {
            shared
                .node_of
                .get(token)
                .is_some_and(|node| node.load(Ordering::Relaxed) != self.node)
        };
        if self.seen_tokens.insert(token) {
            self.local.seen_bytes += 1;
            if shared.rule == Rule::Bytes {
                self.local.record(now.saturating_sub(sent), cross(token));
            }
        }
        if token >= self.screen_from {
            for earlier in self.screen_from..=token {
                let sent = shared.sent_at[earlier].load(Ordering::Acquire);
                if sent > 0 && shared.channel_of[earlier].load(Ordering::Relaxed) == self.mine {
                    self.local.seen_screen += 1;
                    if shared.rule == Rule::Screen {
                        self.local.record(now.saturating_sub(sent), cross(earlier));
                    }
                }
            }
            self.screen_from = token + 1;
        }
    }

    /// The counts go out after every read (the drain phase waits on them), the histogram
    /// every half second.
    fn after_read(&mut self) {
        self.local.flush_counts(&self.shared, self.kind);
        if self.flushed.elapsed() > Duration::from_millis(500) {
            self.local.flush_latencies(&self.shared, self.kind);
            self.flushed = Instant::now();
        }
    }

    fn finish(mut self) {
        self.local.flush_counts(&self.shared, self.kind);
        self.local.flush_latencies(&self.shared, self.kind);
    }
}

/// What the slow-link clients measure together.
struct SlowStats {
    /// Echo latency of typed characters, in microseconds.
    echoes: Mutex<Histogram<u64>>,
    /// Typed characters whose echo never came.
    missing_echoes: AtomicUsize,
    /// The newest token each slow client has seen, with when (microseconds since the epoch).
    newest: Mutex<Vec<(usize, u64)>>,
}

/// The character a slow client types: nothing else on the screen is an `X` (messages are
/// lower case, and the renderer's escape sequences never end in `X`).
const TYPED_KEY: u8 = b'X';
/// How often a slow client presses a key (alternately `X` and a backspace).
const TYPING_INTERVAL: Duration = Duration::from_millis(500);

/// A slow-link client: reads through its throttle, types `X` and then a backspace every
/// 500 ms each, and records how long each `X` took to come back as an echo.
async fn slow_client(mut conn: Conn, index: usize, shared: Arc<Shared>, slow: Arc<SlowStats>) {
    let mut buf = vec![0u8; 4096];
    let mut scanner = TokenScanner::default();
    // When the last `X` was typed, while its echo is awaited.
    let mut awaiting_echo: Option<Instant> = None;
    // Whether the input line holds an `X` to be erased by the next key.
    let mut line_has_x = false;
    let mut next_key = Instant::now() + TYPING_INTERVAL;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next_key.into()) => {
                // A backspace waits for the echo of its `X`, so a late echo is never confused.
                if awaiting_echo.is_some() {
                    next_key = Instant::now() + Duration::from_millis(20);
                    continue;
                }
                let key: &[u8] = if line_has_x { b"\x7f" } else { &[TYPED_KEY] };
                if conn.writer.write_all(key).await.is_err() {
                    break;
                }
                if line_has_x {
                    line_has_x = false;
                } else {
                    line_has_x = true;
                    awaiting_echo = Some(Instant::now());
                }
                next_key = Instant::now() + TYPING_INTERVAL;
            }
            read = conn.read_some(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let now = shared.epoch.elapsed().as_micros() as u64 + 1;
                if let Some(typed) = awaiting_echo
                    && buf[..n].contains(&TYPED_KEY)
                {
                    if let Ok(mut h) = slow.echoes.lock() {
                        let _ = h.record(typed.elapsed().as_micros().max(1) as u64);
                    }
                    awaiting_echo = None;
                }
                let mut newest = None;
                scanner.scan(&buf[..n], |token| newest = newest.max(Some(token)));
                if let (Some(token), Ok(mut all)) = (newest, slow.newest.lock())
                    && let Some(entry) = all.get_mut(index)
                    && token >= entry.0
                {
                    *entry = (token, now);
                }
            }
        }
    }
    if awaiting_echo.is_some() {
        slow.missing_echoes.fetch_add(1, Ordering::Relaxed);
    }
}

/// The most the kernel holds unsent for any of these connections (by the server's side of
/// them), from `/proc/net/tcp`: the `tx_queue` of the socket from `server_port` to each
/// client port.
fn kernel_queued_bytes(server_port: u16, client_ports: &[u16]) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let mut most = 0;
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(remote), Some(queues)) =
            (fields.get(1), fields.get(2), fields.get(4))
        else {
            continue;
        };
        let port = |address: &str| {
            address
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok())
        };
        if port(local) != Some(server_port)
            || !port(remote).is_some_and(|p| client_ports.contains(&p))
        {
            continue;
        }
        let tx = queues
            .split(':')
            .next()
            .and_then(|q| u64::from_str_radix(q, 16).ok())
            .unwrap_or(0);
        most = most.max(tx);
    }
    Some(most)
}

/// What a reader collects between flushes into [`Shared`], so readers do not contend on it.
/// Latencies are kept as plain numbers: a histogram per reader would be a quarter of a
/// megabyte each, ten thousand of them, and the generator would spend its time clearing pages.
struct Local {
    latencies: Vec<u64>,
    /// Whether each of `latencies` is of a delivery across nodes.
    cross_node: Vec<bool>,
    seen_bytes: usize,
    seen_screen: usize,
    /// The reader's node (index into `--port`).
    node: usize,
}

impl Local {
    fn record(&mut self, micros: u64, cross_node: bool) {
        self.latencies.push(micros.max(1));
        self.cross_node.push(cross_node);
    }

    fn flush_counts(&mut self, shared: &Shared, kind: Kind) {
        let headline = match shared.rule {
            Rule::Bytes => self.seen_bytes,
            Rule::Screen => self.seen_screen,
        };
        if headline > 0 {
            shared.by_kind[kind.index()]
                .seen
                .fetch_add(headline, Ordering::AcqRel);
            if let Some(node) = shared.seen_by_node.get(self.node) {
                node.fetch_add(headline, Ordering::AcqRel);
            }
        }
        if self.seen_bytes > 0 {
            let seen = std::mem::take(&mut self.seen_bytes);
            shared.seen_bytes.fetch_add(seen, Ordering::AcqRel);
        }
        if self.seen_screen > 0 {
            let seen = std::mem::take(&mut self.seen_screen);
            shared.seen_screen.fetch_add(seen, Ordering::AcqRel);
        }
    }

    fn flush_latencies(&mut self, shared: &Shared, kind: Kind) {
        if self.latencies.is_empty() {
            return;
        }
        for histogram in [&shared.latencies, &shared.by_kind[kind.index()].latencies] {
            if let Ok(mut total) = histogram.lock() {
                for &micros in &self.latencies {
                    let _ = total.record(micros);
                }
            }
        }
        for (histogram, wanted) in [(&shared.cross_node, true), (&shared.same_node, false)] {
            if let Ok(mut total) = histogram.lock() {
                for (&micros, _) in self
                    .latencies
                    .iter()
                    .zip(&self.cross_node)
                    .filter(|(_, cross)| **cross == wanted)
                {
                    let _ = total.record(micros);
                }
            }
        }
        self.latencies.clear();
        self.cross_node.clear();
    }
}

/// Spreads the senders over the channels: the first reading clients of each channel in turn.
fn pick_senders(writers: &[(usize, Option<Writer>)], count: usize) -> Vec<usize> {
    let channels = writers.iter().map(|(c, _)| *c).max().map_or(1, |m| m + 1);
    let mut per_channel: Vec<Vec<usize>> = vec![Vec::new(); channels];
    for (index, (channel, writer)) in writers.iter().enumerate() {
        if writer.is_some() {
            per_channel[*channel].push(index);
        }
    }
    let mut picked = Vec::new();
    let mut round = 0;
    while picked.len() < count && per_channel.iter().any(|c| round < c.len()) {
        for channel in &per_channel {
            if let Some(index) = channel.get(round)
                && picked.len() < count
            {
                picked.push(*index);
            }
        }
        round += 1;
    }
    picked
}

/// The sum of `read` over the processes `pids`: `None` if there are none or one could not be read.
fn sum_over<T: std::iter::Sum<T>>(pids: &[u32], read: impl Fn(u32) -> Option<T>) -> Option<T> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|pid| read(*pid)).sum()
}

/// CPU seconds (user + system) of a process so far.
fn process_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 100 per second on Linux.
    Some((utime + stime) / 100.0)
}

/// The peak resident memory of a process (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// The resident memory of a process now (VmRSS), in KiB.
fn current_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// A KiB figure from `/proc/PID/status`.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `main`'s error type without a dependency: any error, printed by the runtime.
mod anyhow_free {
    pub type Result = std::result::Result<(), Box<dyn std::error::Error>>;
}
