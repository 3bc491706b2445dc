//! When the history store cannot write: a full "disk", a read-only database, a deleted app
//! dir; and the permissions of the files it keeps.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use r0c::store::{Health, Store};
use r0c::world::{STORE_FAILING_NOTICE, STORE_RECOVERED_NOTICE};

use crate::process::{Process, free_ports, r0c};
use crate::support::{PATIENCE, TestClient, TestServer, data_dir, http_get, test_config};

/// What the sender of a refused message is told.
const REFUSED: &str = "not sent: the server cannot save messages right now";

/// Every message text in the database file, read through a connection of its own.
fn stored_texts(database: &Path) -> Vec<String> {
    let conn =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("database opens");
    let mut statement = conn
        .prepare("SELECT text FROM message ORDER BY seq")
        .expect("query prepares");
    statement
        .query_map([], |row| row.get(0))
        .expect("query runs")
        .collect::<Result<_, _>>()
        .expect("rows read")
}

/// The tokens (`tk` and four digits) in `text`.
fn tokens(text: &str) -> Vec<String> {
    text.match_indices("tk")
        .filter_map(|(at, _)| text.get(at..at + 6))
        .filter(|token| token[2..].bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
        .collect()
}

/// Asserts that every token the observer was ever sent is in the database file.
fn shown_is_stored(observer: &TestClient, database: &Path) {
    // The screen first, then the file: the file only grows, so a token shown and stored is
    // found, and one shown before it was stored is not.
    let shown = tokens(&observer.text());
    let stored = stored_texts(database).join("\n");
    for token in shown {
        assert!(
            stored.contains(&token),
            "{token} was shown but is not stored"
        );
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("file exists")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_shows_nothing_unsaved_refuses_new_messages_and_recovers_losing_nothing() {
    let (_keep, dir) = data_dir();
    let database = dir.join("r0c.db");
    let server = TestServer::start_with_web(test_config(&dir)).await;
    let web = server.web.expect("web listener");
    let mut alice = TestClient::joined(server.raw).await;
    let mut bob = TestClient::joined(server.raw).await;
    alice.line("/nick alice").await;
    alice.expect("changed nick to alice").await;
    alice.line("/join #g").await;
    alice.expect("#g(1)").await;
    bob.line("/join #g").await;
    alice.expect("has joined").await;
    bob.expect("#g(2)").await;

    // The disk is full from now on: the database may not grow by a single page.
    server.store.limit_pages_for_tests(Some(0));
    let padding = "x".repeat(400);
    let mut accepted = Vec::new();
    while server.store.health() == Health::Healthy {
        assert!(accepted.len() < 2000, "the disk never filled up");
        let token = format!("tk{:04}", accepted.len());
        alice.line(&format!("{token} {padding}")).await;
        accepted.push(token.clone());
        // On to the next one once bob was shown this one, or the store could not save it.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !bob.text().contains(&token) && server.store.health() == Health::Healthy {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{token} went nowhere"
            );
            bob.read_for(Duration::from_millis(20)).await;
        }
    }
    // The message whose commit failed was accepted; it is kept, and shown to nobody.
    let stuck = accepted.last().expect("something was sent").clone();

    bob.expect(STORE_FAILING_NOTICE).await;
    alice.expect(STORE_FAILING_NOTICE).await;
    alice.line("tk9999 said while the disk is full").await;
    alice.expect(REFUSED).await;
    let metrics = http_get(web, "/metrics").await;
    assert!(metrics.contains("r0c_store_healthy 0"), "{metrics}");
    shown_is_stored(&bob, &database);
    assert!(
        !bob.text().contains(&stuck),
        "{stuck} shown before it was stored"
    );
    assert!(!stored_texts(&database).join("\n").contains(&stuck));

    // Space returns: the kept message is stored and shown, and chat goes on.
    server.store.limit_pages_for_tests(None);
    bob.expect(STORE_RECOVERED_NOTICE).await;
    bob.expect(&stuck).await;
    alice.line("tk8888 after the disk had room again").await;
    bob.expect("alice tk8888 after the disk had room again")
        .await;
    shown_is_stored(&bob, &database);
    let stored = stored_texts(&database).join("\n");
    for token in &accepted {
        assert!(
            stored.contains(token.as_str()),
            "{token} was accepted and lost"
        );
    }
    assert!(!stored.contains("tk9999"), "the refused message was stored");
    assert!(
        !bob.text().contains("tk9999"),
        "the refused message was shown"
    );
    let metrics = http_get(web, "/metrics").await;
    assert!(metrics.contains("r0c_store_healthy 1"), "{metrics}");
    server.stop().await;
}

/// A command that runs r0c as a user who is not root (root writes any file, whatever its
/// mode): `setpriv` to `nobody` when the tests run as root, r0c itself otherwise. Files the
/// server is to own are given to that user.
fn as_unprivileged(owned: &[&Path]) -> Command {
    if is_root() {
        for path in owned {
            std::os::unix::fs::chown(path, Some(65534), Some(65534)).expect("chown to nobody");
        }
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_r0c"));
        command
    } else {
        r0c()
    }
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find(|line| line.starts_with("Uid:"))
        .and_then(|line| line.split_whitespace().nth(2))
        .is_some_and(|effective| effective == "0")
}

/// Starts r0c (as an unprivileged user) on an existing database after `make_read_only` took
/// away its right to write somewhere; it must refuse to start, with status 1 and this line.
fn refused_at_start(make_read_only: impl Fn(&Path, &Path)) -> String {
    let (_keep, dir) = data_dir();
    // Reachable by an unprivileged user, who owns the app dir inside.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let app = dir.join("app");
    std::fs::create_dir(&app).expect("app dir");
    let database = app.join("r0c.db");
    let store = Store::open(&database).expect("a database to start with");
    store.close();
    drop(store);
    let mut owned = vec![
        app.clone(),
        database.clone(),
        r0c::store::lock_path(&database),
    ];
    for suffix in ["-wal", "-shm"] {
        let file = app.join(format!("r0c.db{suffix}"));
        if file.exists() {
            owned.push(file);
        }
    }
    let owned: Vec<&Path> = owned.iter().map(|path| path.as_path()).collect();
    let mut command = as_unprivileged(&owned);
    make_read_only(&app, &database);
    let (telnet, raw) = free_ports();
    command.args(["--dir", &app.display().to_string(), "-i", "127.0.0.1"]);
    command.args([
        "-pt",
        &telnet.to_string(),
        "-pn",
        &raw.to_string(),
        "--web",
        "0",
        "--ssh",
        "0",
        "--irc-listen",
        "0",
    ]);
    let output = output_or_kill(command);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stdout.contains("r0c is up"), "{stdout}");
    let expected = format!("cannot write to history database {}", database.display());
    assert!(stderr.contains(&expected), "{stderr}");
    stderr
}

/// Runs `command` to its end; a server that starts instead of refusing is killed after a
/// generous while (then its status is not 1, and the caller's assertion says so).
fn output_or_kill(mut command: Command) -> std::process::Output {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("r0c runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait for r0c").is_none() {
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("r0c's output")
}

#[test]
fn a_read_only_database_is_an_error_at_startup_with_status_1() {
    refused_at_start(|_, database| {
        std::fs::set_permissions(database, std::fs::Permissions::from_mode(0o400)).expect("chmod");
    });
}

#[test]
fn a_read_only_app_dir_is_an_error_at_startup_with_status_1() {
    refused_at_start(|app, _| {
        std::fs::set_permissions(app, std::fs::Permissions::from_mode(0o500)).expect("chmod");
    });
}

#[test]
fn an_app_dir_that_is_a_file_is_an_error_at_startup_with_status_1() {
    let (_keep, dir) = data_dir();
    let app = dir.join("app");
    std::fs::write(&app, "not a directory").expect("a file where the app dir goes");
    let (telnet, raw) = free_ports();
    let mut command = r0c();
    command.args(["--dir", &app.display().to_string(), "-i", "127.0.0.1"]);
    command.args([
        "-pt",
        &telnet.to_string(),
        "-pn",
        &raw.to_string(),
        "--web",
        "0",
        "--ssh",
        "0",
        "--irc-listen",
        "0",
    ]);
    let output = output_or_kill(command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot create the data directory {}",
            app.display()
        )),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_app_dir_is_noticed_logged_and_messages_are_refused() {
    let (_keep, dir) = data_dir();
    let app = dir.join("app");
    let process = Process::start_with(&app, free_ports(), &[]);
    let mut alice = TestClient::joined(process.raw).await;
    let mut bob = TestClient::joined(process.raw).await;
    alice.line("/join #g").await;
    alice.expect("#g(1)").await;
    bob.line("/join #g").await;
    bob.expect("#g(2)").await;
    alice.line("tk0001 before").await;
    bob.expect("tk0001 before").await;

    std::fs::remove_dir_all(&app).expect("delete the app dir");
    // Noticed without anyone writing (the idle check), and said once in the log.
    let logged = tokio::task::block_in_place(|| {
        process.wait_for_log("the history database was deleted or replaced")
    });
    assert!(logged.contains("r0c.db"), "{logged}");
    bob.expect(STORE_FAILING_NOTICE).await;
    alice.line("tk0002 after").await;
    alice.expect(REFUSED).await;
    assert!(
        !bob.text().contains("tk0002"),
        "a refused message was shown"
    );
    assert!(!app.exists(), "nothing was written where the app dir was");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_dir_and_database_are_private_and_looser_ones_are_tightened_with_a_log_line() {
    let (_keep, dir) = data_dir();
    let fresh = dir.join("fresh");
    let process = Process::start_with(&fresh, free_ports(), &[]);
    let mut client = TestClient::joined(process.raw).await;
    client.line("/join #g").await;
    client.expect("#g(1)").await;
    client.line("something to store").await;
    client.expect("something to store").await;
    assert_eq!(mode(&fresh), 0o700);
    for name in ["r0c.db", "r0c.db-wal", "r0c.db-shm", "r0c.db.lock"] {
        assert_eq!(mode(&fresh.join(name)), 0o600, "{name}");
    }
    drop(process);

    // An app dir and database from before: readable by everyone.
    let old = dir.join("old");
    std::fs::create_dir(&old).expect("app dir");
    let store = Store::open(&old.join("r0c.db")).expect("a database");
    store.close();
    drop(store);
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).expect("loosen");
    std::fs::set_permissions(old.join("r0c.db"), std::fs::Permissions::from_mode(0o644))
        .expect("loosen");
    let process = Process::start_with(&old, free_ports(), &[]);
    let logged = tokio::task::block_in_place(|| process.wait_for_log("permissions tightened"));
    assert!(logged.contains("0755"), "{logged}");
    assert_eq!(mode(&old), 0o700);
    assert_eq!(mode(&old.join("r0c.db")), 0o600);
}
