//! What the kernel alone charges a chat server for its frames over loopback: the floor under any
//! server's CPU seconds for a given number of clients and frame rate on this machine.
//!
//! One thread writes a frame of `BYTES` bytes to each of `CLIENTS` loopback connections `FPS`
//! times a second for `SECONDS` seconds, with nothing else to do: no state, no rendering, one
//! `write` per frame. Other threads read and discard everything, as a load generator's readers
//! do. The writer thread's CPU time (user and system, from `/proc/thread-self/stat`) is what a
//! server's process would be charged for those writes at the least, because on loopback the
//! receiving side's TCP work and wake-ups run in the sender's system call.
//!
//! `--spread` starts each client's write at its own moment in the period, the way independent
//! per-client frame timers do; without it all clients are written back to back, the cheapest case.
//!
//! Usage: `cargo run --release --example send_floor -- CLIENTS FPS BYTES SECONDS [--spread]`,
//! e.g. `600 20 800 20` for r0c-load's 600 clients in one channel at 20 frames a second.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// CPU seconds (user + system) of the calling thread.
fn thread_cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat")?;
    // Fields after the command name in parentheses, which may itself contain spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |index: usize| -> Result<f64> {
        Ok(fields
            .get(index)
            .ok_or("short /proc/thread-self/stat")?
            .parse::<f64>()?)
    };
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spread = args.iter().any(|arg| arg == "--spread");
    let numbers: Vec<u64> = args
        .iter()
        .filter(|arg| !arg.starts_with("--"))
        .map(|arg| arg.parse())
        .collect::<std::result::Result<_, _>>()?;
    let [clients, fps, bytes, seconds] = numbers[..] else {
        return Err("usage: send_floor CLIENTS FPS BYTES SECONDS [--spread]".into());
    };
    let (clients, bytes) = (usize::try_from(clients)?, usize::try_from(bytes)?);
    if clients == 0 || fps == 0 || seconds == 0 {
        return Err("all numbers must be positive".into());
    }

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    // Readers: a few threads, each reading its share of the connections until they close.
    let readers = 2.min(clients);
    let mut reader_threads = Vec::new();
    for reader in 0..readers {
        let share = clients / readers + usize::from(reader < clients % readers);
        reader_threads.push(std::thread::spawn(move || -> Result<()> {
            let mut streams = Vec::new();
            for _ in 0..share {
                let stream = TcpStream::connect(address)?;
                stream.set_nonblocking(true)?;
                streams.push(stream);
            }
            let mut buffer = vec![0u8; 65536];
            while !streams.is_empty() {
                let mut idle = true;
                streams.retain_mut(|stream| match stream.read(&mut buffer) {
                    Ok(0) => false,
                    Ok(_) => {
                        idle = false;
                        true
                    }
                    Err(error) => error.kind() == std::io::ErrorKind::WouldBlock,
                });
                if idle {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            Ok(())
        }));
    }
    let mut writers = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        writers.push(stream);
    }

    let frame = vec![b'x'; bytes];
    let period = Duration::from_secs(1) / u32::try_from(fps)?;
    let cpu_before = thread_cpu_seconds()?;
    let start = Instant::now();
    let mut writes = 0u64;
    for tick in 0..u32::try_from(fps * seconds)? {
        for (index, stream) in writers.iter_mut().enumerate() {
            if spread || index == 0 {
                let phase = if spread {
                    period.mul_f64(index as f64 / clients as f64)
                } else {
                    Duration::ZERO
                };
                let due = start + period * tick + phase;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            stream.write_all(&frame)?;
            writes += 1;
        }
    }
    let cpu = thread_cpu_seconds()? - cpu_before;
    let elapsed = start.elapsed().as_secs_f64();
    drop(writers);
    for thread in reader_threads {
        thread.join().map_err(|_| "a reader panicked")??;
    }
    println!(
        "{clients} clients x {fps} frames/s x {bytes} B for {elapsed:.1} s ({}): {writes} writes, \
         writer CPU {cpu:.2} s = {:.1} us a write, {:.0} ms a second",
        if spread { "spread" } else { "back to back" },
        cpu * 1e6 / writes as f64,
        cpu * 1e3 / elapsed
    );
    Ok(())
}
