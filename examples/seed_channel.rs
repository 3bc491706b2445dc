//! Seeds a database with one big public channel, for benchmarks of big joins (not a test).
//!
//! The store itself creates the schema and sets the channel's topic (`Store::open`,
//! `Store::set_topic`), so the file is what this version of r0c writes; the messages then go in
//! with one prepared insert in one transaction, the statement the store's writer uses, and the
//! schema's triggers index every row for `/search` as they would the writer's inserts. The
//! messages are spread evenly from 2018-01-01 to a minute ago, eight authors in turn; the
//! newest one reads `seed end <count>`.
//!
//! Usage: `cargo run --release --example seed_channel -- DB_PATH CHANNEL MESSAGES [TOPIC]`
//! (the channel without its `#`; the database must not hold that channel's messages yet).

use std::time::Instant;

use r0c::store::Store;

const AUTHORS: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];
/// 2018-01-01T00:00:00Z in microseconds since the Unix epoch.
const START_MICROS: i64 = 1_514_764_800_000_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(channel), Some(count)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: seed_channel DB_PATH CHANNEL MESSAGES [TOPIC]");
        std::process::exit(2);
    };
    let Ok(count) = count.parse::<u64>() else {
        eprintln!("MESSAGES must be a number");
        std::process::exit(2);
    };
    let topic = args
        .get(4)
        .map_or("a channel of seeded history", String::as_str);
    let path = std::path::Path::new(path);
    let started = Instant::now();
    match Store::open(path) {
        Ok(store) => {
            store.set_topic(channel, topic, "seed", START_MICROS);
            store.close();
        }
        Err(error) => {
            eprintln!("cannot open {}: {error}", path.display());
            std::process::exit(1);
        }
    }
    if let Err(error) = fill(path, channel, count) {
        eprintln!("cannot fill {}: {error}", path.display());
        std::process::exit(1);
    }
    eprintln!(
        "seeded {count} messages in #{channel} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Inserts `count` messages into `channel` (which the store created with its topic).
fn fill(path: &std::path::Path, channel: &str, count: u64) -> rusqlite::Result<()> {
    let mut conn = rusqlite::Connection::open(path)?;
    let tx = conn.transaction()?;
    let channel_id: i64 = tx.query_row(
        "SELECT id FROM channel WHERE name = ?1",
        rusqlite::params![channel],
        |row| row.get(0),
    )?;
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(START_MICROS, |d| {
            i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
        })
        .saturating_sub(60_000_000);
    let step = (end - START_MICROS) / i64::try_from(count.max(2) - 1).unwrap_or(i64::MAX);
    {
        let mut insert = tx.prepare(
            "INSERT INTO message (channel_id, seq, unix_micros, author, text)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for seq in 0..count {
            let seq_sql = i64::try_from(seq).unwrap_or(i64::MAX);
            let text = if seq + 1 == count {
                format!("seed end {count}")
            } else {
                format!("n{seq} lorem ipsum dolor sit amet")
            };
            insert.execute(rusqlite::params![
                channel_id,
                seq_sql,
                START_MICROS + seq_sql * step,
                AUTHORS[(seq % 8) as usize],
                text
            ])?;
        }
    }
    tx.commit()
}
