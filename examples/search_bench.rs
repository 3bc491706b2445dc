//! How long `/search` takes among a million stored messages: a benchmark, not a test.
//!
//! Fills a database (through the store's schema, so the FTS5 triggers index every row as the
//! writer's inserts would) with `MESSAGES` messages over 50 channels, words drawn from a
//! vocabulary of 5000 so each word is in about 0.1% of them, a few words far more common, and
//! one message holding a rare word; then times the queries `/search` runs (the store's
//! `Reader::search`, with the 100 candidates it asks for) with and without filters, and prints
//! the median and the slowest of 20 runs each.
//!
//! Usage: `cargo run --release --example search_bench -- [DB_PATH] [MESSAGES] [--migrate]`; a
//! database that already holds rows is searched as it is (so a second run skips the fill).
//! `--migrate` first drops the index and times the upgrade that builds it again from the
//! stored rows (what the first start of this version does to an existing database).

use std::time::{Duration, Instant};

use r0c::store::{SearchQuery, Store, fts_expression};

/// A small deterministic generator (xorshift), so every run fills the same history.
struct Words(u64);

impl Words {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn word(&mut self) -> String {
        let n = self.next();
        // One word in ten is one of five common ones ("the" in about 2% of words).
        if n.is_multiple_of(10) {
            return ["the", "deploy", "ok", "lunch", "build"][(n / 10 % 5) as usize].to_string();
        }
        format!("w{}", n % 5000)
    }
}

fn fill(path: &std::path::Path, messages: u64) -> rusqlite::Result<()> {
    let mut conn = rusqlite::Connection::open(path)?;
    let tx = conn.transaction()?;
    for channel in 0..50 {
        tx.execute(
            "INSERT INTO channel (id, name) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            rusqlite::params![channel + 1, format!("c{channel}")],
        )?;
    }
    let mut words = Words(0x9E37_79B9_7F4A_7C15);
    {
        let mut insert = tx.prepare(
            "INSERT INTO message (channel_id, seq, unix_micros, author, text)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let start = 1_700_000_000_000_000_i64;
        for index in 0..messages {
            let channel = (index % 50) as i64 + 1;
            let seq = index / 50;
            let count = 3 + words.next() % 10;
            let mut text: Vec<String> = (0..count).map(|_| words.word()).collect();
            if index == messages / 3 {
                text.push("zanzibar".to_string());
            }
            insert.execute(rusqlite::params![
                channel,
                seq as i64,
                start + index as i64 * 1_000_000,
                format!("nick{}", words.next() % 300),
                text.join(" ")
            ])?;
        }
    }
    tx.commit()
}

fn time(store: &Store, label: &str, query: &SearchQuery) {
    let mut runs = Vec::new();
    let mut hits = 0;
    for _ in 0..20 {
        let started = Instant::now();
        hits = store
            .read_pooled(|reader| reader.search(query))
            .map(|found| found.len())
            .unwrap_or(0);
        runs.push(started.elapsed());
    }
    runs.sort();
    let median = runs.get(runs.len() / 2).copied().unwrap_or_default();
    let slowest = runs.last().copied().unwrap_or_default();
    println!(
        "{label:<44} {hits:>3} hits  median {:>8.2} ms  slowest {:>8.2} ms",
        ms(median),
        ms(slowest)
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Takes the search index away and marks the database as version 5, so the next open runs
/// the schema-7 migration over every stored message, as an upgrade of a big database would.
fn unindex(path: &std::path::Path) -> rusqlite::Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "DROP TRIGGER message_fts_insert; DROP TRIGGER message_fts_delete;
         DROP TRIGGER message_fts_update; DROP TABLE message_fts; DROP INDEX message_when;
         PRAGMA user_version = 5;",
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = std::path::PathBuf::from(args.next().unwrap_or_else(|| "search_bench.db".into()));
    let messages: u64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    if args.next().as_deref() == Some("--migrate") {
        if let Err(error) = unindex(&path) {
            eprintln!("cannot take the index away: {error}");
            std::process::exit(1);
        }
        let started = Instant::now();
        match Store::open(&path) {
            Ok(store) => store.close(),
            Err(error) => {
                eprintln!("cannot open {}: {error}", path.display());
                std::process::exit(1);
            }
        }
        println!(
            "the schema-7 migration indexed the stored messages in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let store = match Store::open(&path) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("cannot open {}: {error}", path.display());
            std::process::exit(1);
        }
    };
    let stored = store
        .read_pooled(|reader| reader.has_messages())
        .unwrap_or(false);
    if !stored {
        let started = Instant::now();
        if let Err(error) = fill(&path, messages) {
            eprintln!("fill failed: {error}");
            std::process::exit(1);
        }
        println!(
            "filled {messages} messages (indexed by the triggers) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let query = |words: &[&str]| SearchQuery {
        expression: fts_expression(words.iter().copied()),
        channel: None,
        author: None,
        before: None,
        after: None,
        // An identified searcher: the query also keeps their own stored conversations.
        principal: Some("account:bench".into()),
        limit: 100,
    };
    time(&store, "rare word (1 message)", &query(&["zanzibar"]));
    time(&store, "word in ~0.1% (w42)", &query(&["w42"]));
    time(&store, "two words (w42 w43)", &query(&["w42", "w43"]));
    time(&store, "common word (deploy, ~15%)", &query(&["deploy"]));
    let mut in_channel = query(&["deploy"]);
    in_channel.channel = Some("c7".into());
    time(&store, "common word in:#c7", &in_channel);
    let mut from = query(&["w42"]);
    from.author = Some("nick7".into());
    time(&store, "w42 from:nick7", &from);
    let mut dated = query(&["deploy"]);
    dated.before = Some(1_700_000_000_000_000 + 500_000 * 1_000_000);
    dated.after = Some(1_700_000_000_000_000 + 400_000 * 1_000_000);
    time(&store, "common word after: before: (10% of time)", &dated);
    store.close();
}
