//! The pure parts of the migration: file names, records, colour conversion, planning.

use super::*;

fn record(unix_micros: i64, author: &str, text: &str) -> Record {
    Record {
        unix_micros,
        author: author.to_owned(),
        text: text.to_owned(),
    }
}

fn stored(seq: u64, unix_micros: i64, author: &str, text: &str) -> StoredMessage {
    StoredMessage {
        seq,
        unix_micros,
        author: author.to_owned(),
        text: text.to_owned(),
        kind: Default::default(),
    }
}

#[test]
fn only_r0c_log_file_names_are_read() {
    for name in [
        "2024-0131-235959",
        "2024-0131-235959-",
        "2024-0131-235959---",
    ] {
        assert!(is_log_file_name(name), "{name}");
    }
    for name in [
        "",
        "2024-0131-23595",
        "2024-0131-235959x",
        "2024-0131-235959-x",
        "2024_0131-235959",
        "x024-0131-235959",
        "2024-0131-235959.bak",
    ] {
        assert!(!is_log_file_name(name), "{name}");
    }
}

#[test]
fn fullwidth_names_map_back_and_forth() {
    let name = "a<b>c:d\"e/f\\g|h?i*j'k`l";
    let directory = directory_from_name(name);
    assert_eq!(directory, "a＜b＞c：d＂e／f＼g｜h？i＊j＇k｀l");
    assert_eq!(name_from_directory(&directory), name);
    assert_eq!(name_from_directory("general"), "general");
}

#[test]
fn records_are_read_as_r0c_writes_them() {
    // 0x3582446b4 eighths of a second.
    let expected_micros = 0x3582446b4_i64 * 125_000;
    assert_eq!(
        parse_record("3582446b4 alice hello world"),
        LineOutcome::Message {
            record: record(expected_micros, "alice", "hello world"),
            cut: false
        }
    );
    // An empty text is a message; r0c writes the separating space anyway.
    assert_eq!(
        parse_record("10 bob "),
        LineOutcome::Message {
            record: record(16 * 125_000, "bob", ""),
            cut: false
        }
    );
    for line in [
        "",
        "3582446b4",
        "3582446b4 alice",
        "xyz alice hi",
        "+10 alice hi",
        " alice hi",
        "ffffffffffffffffff alice hi",
        "7fffffffffffffff alice hi",
        "10 \x1b[0m hi",
    ] {
        assert_eq!(parse_record(line), LineOutcome::Malformed, "{line:?}");
    }
}

#[test]
fn a_huge_text_is_cut_like_typed_text() {
    let line = format!("10 alice {}", "x".repeat(MAX_LINE_CHARS + 10));
    let LineOutcome::Message { record, cut } = parse_record(&line) else {
        panic!("a long line is still a message");
    };
    assert!(cut);
    assert_eq!(record.text.chars().count(), MAX_LINE_CHARS);
}

#[test]
fn r0c_colour_codes_become_tokens() {
    // What r0c's input conversion writes for CTRL-K, CTRL-B and CTRL-O.
    assert_eq!(tokens_from_ansi("\x1b[0;31mred\x1b[0m"), "\x0b1red\x0f");
    assert_eq!(tokens_from_ansi("\x1b[1;34;42mx"), "\x0bc,2x");
    assert_eq!(tokens_from_ansi("a\x1b[1mb\x1b[22mc"), "a\x02b\x02c");
    // r0c's own system lines.
    assert_eq!(
        tokens_from_ansi("\x1b[36mchannel created at \x1b[1m2024-01-01, 00:00:00Z"),
        "\x0b6channel created at \x022024-01-01, 00:00:00Z"
    );
    assert_eq!(
        tokens_from_ansi("\x1b[1;32mkywmyv\x1b[22m has joined"),
        "\x0bakywmyv\x02 has joined"
    );
}

#[test]
fn other_escape_sequences_are_dropped_whole() {
    assert_eq!(tokens_from_ansi("a\x1b[2Jb\x1b[10;20Hc"), "abc");
    assert_eq!(tokens_from_ansi("a\x1b[4mb"), "ab");
    assert_eq!(tokens_from_ansi("a\x1bcb"), "acb");
    assert_eq!(tokens_from_ansi("cut\x1b[1;3"), "cut");
    assert_eq!(tokens_from_ansi("end\x1b"), "end");
    // What survives still passes the sanitizer unchanged.
    let hostile = tokens_from_ansi("\x1b]0;title\x07x\x1b[?25ly");
    assert_eq!(sanitize_message(&hostile), "]0;titlexy");
}

#[test]
fn tokens_round_trip_through_r0c_form() {
    for canonical in [
        "plain",
        "\x0b1red\x0f plain",
        "\x02bold\x02 not",
        "\x0bc,4bright on blue\x0f",
        "\x0b3dim \x0b9bright \x0b2dim",
        "\x0b1,7x\x0b2y",
        "日本語 \x0b5ü",
    ] {
        let ansi = ansi_from_tokens(canonical);
        assert!(!ansi.contains('\x0b'), "{ansi:?}");
        assert_eq!(tokens_from_ansi(&ansi), canonical, "{ansi:?}");
    }
    assert_eq!(ansi_from_tokens("\x0b1red\x0f"), "\x1b[0;31mred\x1b[0m");
}

#[test]
fn exported_lines_read_back() {
    let message = stored(3, 0x3582446b4 * 125_000 + 99, "alice", "\x0b1hi\x0f ünï");
    let line = format_record(&message);
    assert_eq!(line, "3582446b4 alice \x1b[0;31mhi\x1b[0m ünï\n");
    assert_eq!(
        parse_record(line.trim_end_matches('\n')),
        LineOutcome::Message {
            record: record(0x3582446b4 * 125_000, "alice", "\x0b1hi\x0f ünï"),
            cut: false
        }
    );
}

#[test]
fn config_lines_become_ours() {
    let (address, config) =
        parse_config_line("127.0.0.1 35824462b kywmyv 0 0 1 0 0d00 utf-8 1 1 1 0 1")
            .expect("r0c's example");
    assert_eq!(address, "127.0.0.1");
    assert_eq!(config, "35824462b kywmyv 0 0 1 0 0d00 utf-8 1 1 1 0 1");
    let (address, _) = parse_config_line("::ffff:10.0.0.1 1 n 0 0 1 0 0a utf-8 1 1 1 0 1")
        .expect("a mapped address");
    assert_eq!(address, "10.0.0.1");
    for line in [
        "",
        "127.0.0.1",
        "localhost 35824462b kywmyv 0 0 1 0 0d00 utf-8 1 1 1 0 1",
        "127.0.0.1 35824462b kywmyv 0 0 1 0 0d00 utf-8 1 1 1 0",
        "127.0.0.1 zz kywmyv 0 0 1 0 0d00 utf-8 1 1 1 0 1",
    ] {
        assert_eq!(parse_config_line(line), None, "{line:?}");
    }
}

#[test]
fn an_empty_channel_gets_the_logs_in_time_order() {
    let plan = plan_channel(
        &[],
        vec![
            record(20, "b", "second"),
            record(10, "a", "first"),
            record(20, "c", "third"),
        ],
    );
    assert_eq!(plan.placement, Placement::Append { first_seq: 0 });
    let texts: Vec<&str> = plan.new.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, ["first", "second", "third"]);
}

#[test]
fn what_is_stored_already_is_not_imported_again() {
    let existing = [stored(0, 10, "a", "x"), stored(1, 20, "b", "y")];
    let plan = plan_channel(&existing, vec![record(10, "a", "x"), record(20, "b", "y")]);
    assert!(plan.new.is_empty());
    assert_eq!(plan.already_stored, 2);
}

#[test]
fn repeated_identical_lines_are_counted_not_merged() {
    let existing = [stored(0, 10, "a", "lol")];
    let plan = plan_channel(
        &existing,
        vec![record(10, "a", "lol"), record(10, "a", "lol")],
    );
    assert_eq!(plan.already_stored, 1);
    assert_eq!(plan.new, vec![record(10, "a", "lol")]);
    assert_eq!(plan.placement, Placement::Append { first_seq: 1 });
}

#[test]
fn newer_logs_are_appended() {
    let existing = [stored(0, 10, "a", "x"), stored(1, 20, "b", "y")];
    let plan = plan_channel(&existing, vec![record(20, "c", "z"), record(30, "d", "w")]);
    assert_eq!(plan.placement, Placement::Append { first_seq: 2 });
}

#[test]
fn older_logs_renumber_the_channel_by_time() {
    let existing = [stored(0, 50, "a", "new1"), stored(1, 70, "b", "new2")];
    let plan = plan_channel(
        &existing,
        vec![
            record(10, "c", "old1"),
            record(50, "d", "same time"),
            record(60, "e", "between"),
        ],
    );
    assert_eq!(
        plan.placement,
        Placement::Renumber(vec![
            Slot::New(0),
            Slot::Stored(0),
            Slot::New(1),
            Slot::New(2),
            Slot::Stored(1),
        ])
    );
}

#[test]
fn capped_lines_keep_their_start_and_skip_the_rest() {
    let input = b"short\nabcdefghij\n\nlast";
    let mut reader = std::io::BufReader::with_capacity(3, &input[..]);
    let mut line = Vec::new();
    let mut lines = Vec::new();
    while let Some(cut) = read_capped_line(&mut reader, &mut line, 5).expect("in memory") {
        lines.push((String::from_utf8_lossy(&line).into_owned(), cut));
    }
    assert_eq!(
        lines,
        [
            ("short".to_owned(), false),
            ("abcde".to_owned(), true),
            (String::new(), false),
            ("last".to_owned(), false),
        ]
    );
}

#[test]
fn subcommands_are_told_from_server_flags() {
    let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
    assert!(Migration::from_args(&args(&["r0c", "-pt", "23"])).is_none());
    assert!(Migration::from_args(&args(&["r0c"])).is_none());
    let parsed = Migration::from_args(&args(&["r0c", "import", "--dir", "/d", "--from=/old"]))
        .expect("a subcommand")
        .expect("valid");
    assert_eq!(
        parsed,
        Migration::Import {
            from: PathBuf::from("/old"),
            server_args: args(&["r0c", "--dir", "/d"]),
        }
    );
    let parsed = Migration::from_args(&args(&["r0c", "export", "--chan", "#g"]))
        .expect("a subcommand")
        .expect("valid");
    assert_eq!(
        parsed,
        Migration::Export {
            channel: "#g".to_owned(),
            to: PathBuf::from("r0c-export"),
            server_args: args(&["r0c"]),
        }
    );
    assert!(matches!(
        Migration::from_args(&args(&["r0c", "export"])),
        Some(Err(MigrationError::Usage(_)))
    ));
    assert!(matches!(
        Migration::from_args(&args(&["r0c", "import", "--from"])),
        Some(Err(MigrationError::Usage(_)))
    ));
}

/// Writes an r0c log file with these `(eighths of a second, author, text)` lines.
fn write_log(directory: &Path, name: &str, lines: &[(i64, &str, &str)]) {
    std::fs::create_dir_all(directory).expect("mkdir");
    let mut text = String::from("1 5a000000\n");
    for (ticks, author, message) in lines {
        text.push_str(&format!("{ticks:x} {author} {message}\n"));
    }
    std::fs::write(directory.join(name), text).expect("write log");
}

#[test]
fn older_logs_imported_after_newer_messages_sort_by_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("r0c.db");
    {
        let store = crate::store::Store::open(&database).expect("store");
        store.append_message("g", stored(0, 100 * 125_000, "ours", "newer one"));
        store.append_message("g", stored(1, 300 * 125_000, "ours", "newer two"));
        store.flush();
    }
    let logs = dir.path().join("old/log");
    write_log(
        &logs.join("chan/g"),
        "2018-0101-000000",
        &[
            (50, "theirs", "oldest"),
            (200, "theirs", "\x1b[0;32mbetween"),
        ],
    );
    let report = import(&dir.path().join("old"), &database).expect("import");
    let channel = &report.channels["g"];
    assert_eq!((channel.imported, channel.renumbered), (2, true));

    let store = crate::store::Store::open(&database).expect("store");
    let texts: Vec<(u64, String)> = store
        .recent_messages("g", 10)
        .expect("query")
        .into_iter()
        .map(|m| (m.seq, m.text))
        .collect();
    assert_eq!(
        texts,
        [
            (0, "oldest".to_owned()),
            (1, "newer one".to_owned()),
            (2, "\x0b2between".to_owned()),
            (3, "newer two".to_owned()),
        ]
    );
    assert_eq!(store.last_seq("g").expect("query"), Some(3));
    drop(store);
    let again = import(&dir.path().join("old"), &database).expect("import again");
    assert_eq!(again.messages_imported(), 0);
    assert_eq!(again.channels["g"].already_stored, 2);
}

#[test]
fn private_logs_of_both_directions_are_one_conversation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("log");
    write_log(
        &logs.join("pm/bob/al＊ce"),
        "2018-0101-000000",
        &[(8, "bob", "hi")],
    );
    write_log(
        &logs.join("pm/al＊ce/bob"),
        "2018-0102-000000",
        &[(8, "bob", "hi"), (16, "al*ce", "hello")],
    );
    let database = dir.path().join("ours/r0c.db");
    let report = import(dir.path(), &database).expect("import");
    assert_eq!(report.conversations, 1);
    // The first line is in both files: a log copied twice adds nothing.
    assert_eq!(
        (report.private.imported, report.private.already_stored),
        (2, 0)
    );
    let conn = Connection::open(&database).expect("open");
    let rows: Vec<(String, String, String)> = conn
        .prepare("SELECT nick_a, nick_b, text FROM direct_message ORDER BY id")
        .expect("prepare")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        rows,
        [
            ("al*ce".to_owned(), "bob".to_owned(), "hi".to_owned()),
            ("al*ce".to_owned(), "bob".to_owned(), "hello".to_owned()),
        ]
    );
}

#[test]
fn import_refuses_to_run_next_to_a_server_and_needs_logs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("r0c.db");
    write_log(
        &dir.path().join("log/chan/g"),
        "2018-0101-000000",
        &[(8, "a", "x")],
    );
    let server = crate::store::Store::open(&database).expect("store");
    assert!(matches!(
        import(dir.path(), &database),
        Err(MigrationError::Store(StoreError::InUse { .. }))
    ));
    drop(server);
    assert!(import(dir.path(), &database).is_ok());
    assert!(matches!(
        import(&dir.path().join("nothing"), &database),
        Err(MigrationError::NoLogs(_))
    ));
    // And a server does not start while an import holds the database.
    let _import = take_lock(&database, LockKind::Exclusive).expect("lock");
    assert!(matches!(
        crate::store::Store::open(&database),
        Err(StoreError::Importing { .. })
    ));
}

#[test]
fn export_writes_r0c_files_and_never_replaces_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("r0c.db");
    {
        let store = crate::store::Store::open(&database).expect("store");
        store.append_message("a:b", stored(0, 8 * 125_000, "x", "\x02hi"));
        store.flush();
    }
    let to = dir.path().join("out");
    let first = export(&database, "#A:B", &to).expect("export");
    let second = export(&database, "a:b", &to).expect("export again");
    assert_ne!(first.file, second.file);
    assert_eq!(
        first.file.parent(),
        Some(to.join("log/chan/a：b").as_path())
    );
    let text = std::fs::read_to_string(&first.file).expect("read");
    assert!(text.ends_with("\n8 x \x1b[1mhi\n"), "{text:?}");
    assert!(matches!(
        export(&database, "#nothing", &to),
        Err(MigrationError::NoHistory { .. })
    ));
    assert!(matches!(
        export(&database, "#has space", &to),
        Err(MigrationError::ChannelName { .. })
    ));
}

#[test]
fn a_message_in_two_files_is_one_but_a_repeat_in_one_file_is_two() {
    let merged = merge_files(vec![
        vec![
            record(8, "a", "lol"),
            record(8, "a", "lol"),
            record(9, "b", "x"),
        ],
        vec![
            record(8, "a", "lol"),
            record(9, "b", "x"),
            record(10, "c", "y"),
        ],
    ]);
    assert_eq!(
        merged,
        [
            record(8, "a", "lol"),
            record(8, "a", "lol"),
            record(9, "b", "x"),
            record(10, "c", "y"),
        ]
    );
}

#[test]
fn a_channel_named_dot_dot_is_not_exported_outside_its_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("r0c.db");
    {
        let store = crate::store::Store::open(&database).expect("store");
        store.append_message("..", stored(0, 0, "x", "y"));
        store.flush();
    }
    assert!(matches!(
        export(&database, "#..", &dir.path().join("out")),
        Err(MigrationError::UnusableDirectory(_))
    ));
}
