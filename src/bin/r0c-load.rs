//! `r0c-load`: a load generator for r0c servers (this one, or r0c 1.6.1 for comparison).
//!
//! It opens N clients to 127.0.0.1, walks each through the first-connect wizard the way r0c's
//! own stress testers do, joins them to C channels, has S of them send uniquely tokenised
//! messages at an aggregate rate R for T seconds, and has every client read everything and
//! note when each token reached it. It reports deliveries, latency percentiles, bytes per
//! delivered message and CPU/memory of the server (from `/proc/PID`) and of itself, as a table
//! and one JSON line. Every phase has a time limit; it always stops by itself.
//!
//! A message counts as delivered to a client when its token appears in the bytes that client
//! received (the "bytes" rule): on a full-screen client a message that scrolled past within
//! one frame is still counted if the frame carried it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// How long a new connection may show nothing before it is tried again, and how often.
const GREETING_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_ATTEMPTS: u32 = 6;
/// The longest wait for one step of the wizard.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Marks a token in message text: `zq<sequence>qz`.
const TOKEN_START: &[u8] = b"zq";
const TOKEN_END: &[u8] = b"qz";

#[derive(Debug, Parser)]
#[command(name = "r0c-load", about = "load generator for r0c (127.0.0.1 only)")]
struct Args {
    /// port of the server on 127.0.0.1 (the telnet port with --telnet)
    #[arg(long)]
    port: u16,
    /// the port is a telnet port: send a window size the telnet way, as r0c's testers do
    #[arg(long)]
    telnet: bool,
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
    /// the server's process id, for its CPU and memory
    #[arg(long)]
    pid: Option<u32>,
    /// clients that never read anything (they are not counted as receivers)
    #[arg(long, default_value_t = 0)]
    stalled: usize,
    /// loopback source addresses to spread the clients over (127.0.1.1 and on), so
    /// per-address limits can stay on
    #[arg(long, default_value_t = 1)]
    sources: u8,
    /// how many clients go through the wizard at once
    #[arg(long, default_value_t = 200)]
    connect_parallel: usize,
    /// a label for the JSON line
    #[arg(long, default_value = "r0c")]
    label: String,
}

/// What every reader shares: when each token was sent.
struct Shared {
    /// Send time per token, as microseconds since `epoch` (0: not sent yet).
    sent_at: Vec<AtomicU64>,
    epoch: Instant,
    /// Latencies in microseconds.
    latencies: Mutex<Histogram<u64>>,
    seen: AtomicUsize,
    bytes: AtomicU64,
}

#[tokio::main]
async fn main() -> anyhow_free::Result {
    let args = Args::parse();
    let total_messages = (args.rate * args.seconds).ceil() as usize;
    let shared = Arc::new(Shared {
        sent_at: (0..total_messages).map(|_| AtomicU64::new(0)).collect(),
        epoch: Instant::now(),
        latencies: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        seen: AtomicUsize::new(0),
        bytes: AtomicU64::new(0),
    });
    let address = SocketAddr::from(([127, 0, 0, 1], args.port));

    // Phase 1: connect and pass the wizard, a bounded number at a time.
    let started = Instant::now();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(args.connect_parallel.max(1)));
    let mut joining = Vec::new();
    for index in 0..args.clients {
        let semaphore = semaphore.clone();
        let channel = index % args.channels.max(1);
        let source = 1 + (index % usize::from(args.sources.max(1))) as u8;
        let telnet = args.telnet;
        joining.push(tokio::spawn(async move {
            let _permit = semaphore.acquire_owned().await.ok()?;
            match join(address, source, telnet, channel).await {
                Ok(client) => Some(client),
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
    let receivers_per_channel: Vec<usize> = (0..args.channels.max(1))
        .map(|c| {
            clients
                .iter()
                .enumerate()
                .filter(|(i, cl)| cl.channel == c && *i >= args.stalled)
                .count()
        })
        .collect();

    // Phase 2: everyone reads (except the stalled ones); the senders send.
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    let stop_reading = Arc::new(tokio::sync::Notify::new());
    for (index, client) in clients.into_iter().enumerate() {
        let Client {
            reader,
            writer,
            channel,
        } = client;
        writers.push((channel, writer));
        if index < args.stalled {
            // Keeps the connection open without ever reading.
            readers.push(tokio::spawn(async move {
                let _reader = reader;
                std::future::pending::<()>().await;
            }));
            continue;
        }
        let shared = shared.clone();
        let stop = stop_reading.clone();
        readers.push(tokio::spawn(async move {
            tokio::select! {
                () = read_tokens(reader, shared) => {}
                () = stop.notified() => {}
            }
        }));
    }
    let senders = pick_senders(&writers, args.senders.max(1), args.stalled);
    let mut expected = 0usize;
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(0.001));
    // CPU is measured from here on: the load itself, not the wizards before it.
    let server_before = args.pid.and_then(process_cpu);
    let own_before = process_cpu(std::process::id());
    let send_start = Instant::now();
    let mut sent = 0usize;
    let mut writers = writers;
    while sent < total_messages {
        let due = send_start + interval.mul_f64(sent as f64);
        tokio::time::sleep_until(due.into()).await;
        let which = senders[sent % senders.len()];
        let (channel, writer) = &mut writers[which];
        let line = format!(
            "load {}{sent}{} from {which}\n",
            std::str::from_utf8(TOKEN_START).unwrap_or("zq"),
            std::str::from_utf8(TOKEN_END).unwrap_or("qz")
        );
        shared.sent_at[sent].store(
            shared.epoch.elapsed().as_micros() as u64 + 1,
            Ordering::Release,
        );
        if writer.write_all(line.as_bytes()).await.is_ok() {
            expected += receivers_per_channel[*channel];
        }
        sent += 1;
    }
    let send_seconds = send_start.elapsed().as_secs_f64();
    // Phase 3: give deliveries a bounded time to arrive.
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    while shared.seen.load(Ordering::Acquire) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop_reading.notify_waiters();
    for reader in &readers {
        reader.abort();
    }
    let server_after = args.pid.and_then(process_cpu);
    let own_after = process_cpu(std::process::id());
    let server_rss = args.pid.and_then(peak_rss_kib);

    let seen = shared.seen.load(Ordering::Acquire);
    let bytes = shared.bytes.load(Ordering::Acquire);
    let histogram = shared
        .latencies
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|e| e.into_inner().clone());
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
    println!(
        "clients {ready}/{}  channels {}  senders {}  rate {}/s for {:.1} s (sent in {send_seconds:.1} s)",
        args.clients,
        args.channels,
        senders.len(),
        args.rate,
        args.seconds
    );
    println!("sent {sent}  expected {expected}  seen {seen}  delivered {delivered:.2}%");
    println!(
        "latency ms  p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        histogram.max() as f64 / 1000.0
    );
    println!("bytes received per delivered message {per_message:.1}");
    println!(
        "server cpu {}  peak rss {}  generator cpu {}",
        server_cpu.map_or("-".into(), |s| format!("{s:.2} s")),
        server_rss.map_or("-".into(), |k| format!("{k} KiB")),
        own_cpu.map_or("-".into(), |s| format!("{s:.2} s")),
    );
    println!(
        "{{\"label\":\"{}\",\"clients\":{},\"ready\":{ready},\"channels\":{},\"rate\":{},\"seconds\":{},\"sent\":{sent},\"expected\":{expected},\"seen\":{seen},\"delivered_pct\":{delivered:.3},\"p50_ms\":{:.2},\"p90_ms\":{:.2},\"p99_ms\":{:.2},\"max_ms\":{:.2},\"bytes_per_delivery\":{per_message:.1},\"server_cpu_s\":{},\"server_peak_rss_kib\":{},\"generator_cpu_s\":{},\"rule\":\"bytes\"}}",
        args.label,
        args.clients,
        args.channels,
        args.rate,
        args.seconds,
        ms(0.5),
        ms(0.9),
        ms(0.99),
        histogram.max() as f64 / 1000.0,
        server_cpu.map_or("null".into(), |s| format!("{s:.3}")),
        server_rss.map_or("null".into(), |k| k.to_string()),
        own_cpu.map_or("null".into(), |s| format!("{s:.3}")),
    );
    Ok(())
}

/// A client past the wizard and in its channel.
struct Client {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    channel: usize,
}

/// Connects from 127.0.1.`source`, passes the wizard as r0c's stress testers do (§12.1 of
/// the server spec), and joins `#c<channel>`.
async fn join(
    address: SocketAddr,
    source: u8,
    telnet: bool,
    channel: usize,
) -> std::io::Result<Client> {
    // r0c 1.6.1 listens with a backlog of 1: under a burst of connects some are never
    // accepted, so a connection that shows nothing for a while is tried again.
    let mut attempt = 0;
    let (mut reader, mut writer, mut seen, first) = loop {
        attempt += 1;
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from(([127, 0, 1, source], 0)))?;
        let stream: TcpStream = socket.connect(address).await?;
        stream.set_nodelay(true)?;
        let (mut reader, writer) = stream.into_split();
        let mut seen = Vec::new();
        let greeting = tokio::time::timeout(
            GREETING_TIMEOUT,
            wait_for_any(
                &mut reader,
                &mut seen,
                &["verify that your config", "qwer asdf"],
            ),
        )
        .await;
        match greeting {
            Ok(Ok(first)) => break (reader, writer, seen, first),
            Ok(Err(error)) if attempt >= CONNECT_ATTEMPTS => return Err(error),
            Err(_) if attempt >= CONNECT_ATTEMPTS => {
                return Err(std::io::Error::other("no greeting from the server"));
            }
            _ => continue,
        }
    };
    let naws: &[u8] = b"\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0";
    if first == 0 {
        if telnet {
            writer.write_all(naws).await?;
        }
        writer.write_all(b"n\n\n").await?;
        wait_for_any(&mut reader, &mut seen, &["qwer asdf"]).await?;
    }
    if telnet {
        writer.write_all(naws).await?;
    }
    for key in b"qwer asdf\n\n" {
        writer.write_all(&[*key]).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = wait_for_any(
        &mut reader,
        &mut seen,
        &["line-buffered", "text appeared as you typed"],
    )
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
    writer
        .write_all(key(if linemode { "a" } else { "b" }).as_bytes())
        .await?;
    wait_for_any(&mut reader, &mut seen, &["does colours work?"]).await?;
    writer.write_all(key("y").as_bytes()).await?;
    wait_for_any(&mut reader, &mut seen, &["which line looks like"]).await?;
    writer.write_all(key("a").as_bytes()).await?;
    wait_for_any(&mut reader, &mut seen, &["r0c readme"]).await?;
    if !telnet {
        writer.write_all(b"\x1b[24;80R").await?;
    }
    writer
        .write_all(format!("/join #c{channel}\n").as_bytes())
        .await?;
    wait_for_any(&mut reader, &mut seen, &["has joined"]).await?;
    Ok(Client {
        reader,
        writer,
        channel,
    })
}

/// Reads until one of `needles` appears after what was matched before; its index.
async fn wait_for_any(
    reader: &mut OwnedReadHalf,
    seen: &mut Vec<u8>,
    needles: &[&str],
) -> std::io::Result<usize> {
    let mut buf = vec![0u8; 16384];
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        if let Some((index, end)) = needles
            .iter()
            .enumerate()
            .filter_map(|(i, n)| find(seen, n.as_bytes()).map(|at| (i, at + n.len())))
            .min_by_key(|(_, end)| *end)
        {
            seen.drain(..end);
            return Ok(index);
        }
        let n = match tokio::time::timeout_at(deadline, reader.read(&mut buf)).await {
            Ok(read) => read?,
            Err(_) => {
                let tail =
                    String::from_utf8_lossy(&seen[seen.len().saturating_sub(300)..]).into_owned();
                return Err(std::io::Error::other(format!(
                    "waited for {needles:?}; last received: {tail:?}"
                )));
            }
        };
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        seen.extend_from_slice(&buf[..n]);
        if seen.len() > 1 << 20 {
            let cut = seen.len() - (1 << 16);
            seen.drain(..cut);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads forever, recording the first sighting of each token.
async fn read_tokens(mut reader: OwnedReadHalf, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 65536];
    let mut carry: Vec<u8> = Vec::new();
    let mut seen_tokens: HashSet<usize> = HashSet::new();
    let mut local = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).ok();
    let mut flushed = Instant::now();
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let now = shared.epoch.elapsed().as_micros() as u64 + 1;
        shared.bytes.fetch_add(n as u64, Ordering::Relaxed);
        carry.extend_from_slice(&buf[..n]);
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
                let token: usize = std::str::from_utf8(&carry[digits_from..end])
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(usize::MAX);
                if let Some(sent) = shared.sent_at.get(token)
                    && seen_tokens.insert(token)
                {
                    let sent = sent.load(Ordering::Acquire);
                    if sent > 0 {
                        if let Some(h) = local.as_mut() {
                            let _ = h.record(now.saturating_sub(sent).max(1));
                        }
                        shared.seen.fetch_add(1, Ordering::AcqRel);
                    }
                }
            }
            at = end;
        }
        // Keep a short tail: a token may be split between reads.
        let keep_from = carry.len().saturating_sub(32).max(at.min(carry.len()));
        carry.drain(..keep_from.min(carry.len()));
        if flushed.elapsed() > Duration::from_millis(500) {
            flush(&shared, &mut local);
            flushed = Instant::now();
        }
    }
    flush(&shared, &mut local);
}

fn flush(shared: &Shared, local: &mut Option<Histogram<u64>>) {
    if let (Some(h), Ok(mut total)) = (local.as_mut(), shared.latencies.lock()) {
        let _ = total.add(&*h);
        h.reset();
    }
}

/// Spreads the senders over the channels: the first non-stalled clients of each channel in
/// turn.
fn pick_senders(writers: &[(usize, OwnedWriteHalf)], count: usize, stalled: usize) -> Vec<usize> {
    let channels = writers.iter().map(|(c, _)| *c).max().map_or(1, |m| m + 1);
    let mut per_channel: Vec<Vec<usize>> = vec![Vec::new(); channels];
    for (index, (channel, _)) in writers.iter().enumerate().skip(stalled) {
        per_channel[*channel].push(index);
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
    if picked.is_empty() {
        picked.push(0);
    }
    picked
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
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `main`'s error type without a dependency: any error, printed by the runtime.
mod anyhow_free {
    pub type Result = std::result::Result<(), Box<dyn std::error::Error>>;
}
