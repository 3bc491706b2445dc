//! The `r0c` command: parse the command line, start logging, run the server, exit status;
//! the signals (SIGTERM and SIGINT shut down, SIGHUP reloads) and the service manager's
//! notifications; or the subcommands: `import` and `export` (r0c 1.6.1's logs), `backup`.

use std::ffi::OsString;
use std::process::ExitCode;

use r0c::config::{
    BackupRequest, ConfigError, Invocation, LogFormat, PasswordSource, parse_args, parse_backup,
};
use r0c::migrate::{Migration, MigrationError};
use r0c::server::{Server, raise_file_limit};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // Before the server's flags are parsed, since `import` would read as a stray argument.
    if let Some(migration) = Migration::from_args(&args) {
        return migrate(migration);
    }
    if let Some(request) = parse_backup(&args) {
        return backup(request);
    }
    let config = match parse_args(args.clone()) {
        Ok(Invocation::Run(config)) => config,
        Ok(Invocation::Exit { output, status }) => {
            print!("{output}");
            return ExitCode::from(u8::try_from(status).unwrap_or(1));
        }
        Err(error) => {
            eprintln!("r0c: {error}");
            return ExitCode::from(ConfigError::EXIT_STATUS as u8);
        }
    };
    start_logging(config.verbosity, config.log_format);
    // From here on a panic (one connection's task ending) logs where it happened, never its
    // message, which can quote what a client typed.
    r0c::panic_log::install(|line| tracing::error!("{line}"));
    r0c::metrics::install();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ERROR: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config, args))
}

/// Logs go to stderr, at the level of `-v` (`info`) or `-vv` (`debug`) for r0c's own lines
/// (other crates stay at warnings and info), else `RUST_LOG`, else warnings only; as text or
/// as JSON lines (`--log-format json`). The events are the same either way: they carry
/// addresses, reasons and counts, never what a user typed.
fn start_logging(verbosity: u8, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = match verbosity {
        0 => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        1 => EnvFilter::new("warn,r0c=info"),
        _ => EnvFilter::new("info,r0c=debug"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        // Colour codes only for a terminal: a log file or a pipe gets plain, greppable text.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

/// Runs `r0c backup`: exit status 0 with the copy in place, 1 when it failed, 2 for a wrong
/// command line.
fn backup(request: Result<BackupRequest, ConfigError>) -> ExitCode {
    match request {
        Ok(BackupRequest::Help(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Ok(BackupRequest::Copy { database, to }) => {
            match r0c::store::backup::backup(&database, &to) {
                Ok(report) => {
                    println!(
                        "backed up {} to {} ({} bytes, integrity check ok)",
                        database.display(),
                        report.path.display(),
                        report.bytes
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("r0c: backup failed: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(error) => {
            eprintln!("r0c: {error}");
            ExitCode::from(ConfigError::EXIT_STATUS as u8)
        }
    }
}

/// Runs `r0c import` or `r0c export` and prints its report. Exit status 1 when it failed
/// or some file could not be read, 2 for a wrong command line, as for the server.
fn migrate(migration: Result<Migration, MigrationError>) -> ExitCode {
    match migration.and_then(Migration::run) {
        Ok(outcome) => {
            print!("{}", outcome.report);
            if outcome.complete {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error @ (MigrationError::Usage(_) | MigrationError::Config(_))) => {
            eprintln!("r0c: {error}");
            ExitCode::from(ConfigError::EXIT_STATUS as u8)
        }
        Err(error) => {
            eprintln!("r0c: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  because: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(config: r0c::config::Config, args: Vec<OsString>) -> ExitCode {
    let max_clients = raise_file_limit(config.max_clients);
    for notice in &config.notices {
        say(&format!("NOTE: {notice}"));
    }
    let default_password = config.password_source == PasswordSource::Default;
    let app_dir = config.app_dir.clone();
    let thr_mon = config.thr_mon;
    let server = match Server::bind(config).await {
        Ok(server) => server,
        Err(error) => {
            let mut said = format!("ERROR: {error}");
            eprintln!("{said}");
            // The causes (what SQLite said, say), except those the message already contains.
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !said.contains(&cause_text) {
                    eprintln!("  because: {cause_text}");
                    said.push_str(&cause_text);
                }
                source = cause.source();
            }
            return ExitCode::FAILURE;
        }
    };
    for line in server.startup_report(&max_clients) {
        say(&format!(" *  {line}"));
    }
    if default_password {
        say("WARNING: the admin password is the default 'hunter2'; anyone can /auth with it.");
        say(&format!(
            "         change it with -pw, or save it in {}",
            app_dir.join("password.txt").display()
        ));
    }
    let shutdown = server.shutdown_token();
    let monitor = thr_mon.then(|| server.monitor());
    // The handlers are in place before "r0c is up" is printed: a service manager or a script
    // that signals as soon as it reads that line must get a clean shutdown, not the default
    // action of the signal (the spawned task may not have run yet).
    //
    // They run on a thread of their own with a small runtime: under a flood the server's
    // workers are busy, and a signal task queued among thousands of client wake-ups was
    // measured waiting seconds before it ran, eating into the service manager's stop timeout.
    let signal_runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ERROR: cannot start the signal handling runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let signals = {
        let _inside = signal_runtime.enter();
        let signals = Signals::new();
        let hangups = hangups();
        (signals, hangups)
    };
    let main_runtime = tokio::runtime::Handle::current();
    let reloader = server.reloader();
    let signal_shutdown = shutdown.clone();
    let spawned = std::thread::Builder::new()
        .name("r0c-signals".into())
        .spawn(move || {
            let (signals, hangups) = signals;
            signal_runtime.block_on(async move {
                if let Some(hangups) = hangups {
                    tokio::spawn(reloads(hangups, reloader, args, signal_shutdown.clone()));
                }
                watch_signals(signals, signal_shutdown, monitor, main_runtime).await;
            });
        });
    if let Err(error) = spawned {
        eprintln!("ERROR: cannot start the signal handling thread: {error}");
        return ExitCode::FAILURE;
    }
    say(" *  r0c is up  ^^,");
    service_manager::ready();
    service_manager::start_watchdog(shutdown);
    server.run().await;
    say(" *  r0c is down");
    ExitCode::SUCCESS
}

/// SIGHUP, watched from the moment this is made (inside the runtime that will wait for it).
fn hangups() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(hangups) => Some(hangups),
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGHUP; reloading is not possible");
            None
        }
    }
}

/// SIGHUP: parse the same command line again (which reads the config file again) and apply
/// it to the running server; a configuration that does not parse is reported and changes
/// nothing. One reload at a time, each in order.
async fn reloads(
    mut hangups: tokio::signal::unix::Signal,
    reloader: std::sync::Arc<r0c::server::Reloader>,
    args: Vec<OsString>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    {
        loop {
            tokio::select! {
                received = hangups.recv() => if received.is_none() { return },
                () = shutdown.cancelled() => return,
            }
            service_manager::reloading();
            let (reloader, args) = (reloader.clone(), args.clone());
            // Parsing reads the config file and password.txt, and a reload reads certificates:
            // blocking work, off the async workers.
            let outcome = tokio::task::spawn_blocking(move || match parse_args(args) {
                Ok(Invocation::Run(config)) => Ok(reloader.apply(config)),
                Ok(Invocation::Exit { .. }) => {
                    Err("the command line no longer starts a server".to_owned())
                }
                Err(error) => Err(error.to_string()),
            })
            .await;
            match outcome {
                Ok(Ok(report)) => say_reload(&report),
                Ok(Err(problem)) => {
                    say(&format!(" *  reload failed, nothing changed: {problem}"));
                    tracing::warn!(%problem, "reload failed, nothing changed");
                }
                Err(error) => tracing::error!(%error, "the reload task failed"),
            }
            service_manager::ready();
        }
    }
}

/// The console lines (and log lines) of a reload: what applies now, what needs a restart.
fn say_reload(report: &r0c::server::ReloadReport) {
    let list = |items: &[String]| {
        if items.is_empty() {
            "nothing".to_owned()
        } else {
            items.join(", ")
        }
    };
    say(&format!(
        " *  reloaded; applies to new connections: {}",
        list(&report.applied)
    ));
    tracing::info!(applied = %list(&report.applied), "reloaded");
    if !report.need_restart.is_empty() {
        say(&format!(
            " *  changed but kept until a restart: {}",
            report.need_restart.join(", ")
        ));
        tracing::warn!(flags = %report.need_restart.join(", "), "changed flags need a restart");
    }
    for error in &report.errors {
        say(&format!(" *  {error}"));
        tracing::warn!("{error}");
    }
}

/// systemd's notifications (`Type=notify`): ready, reloading, stopping and the watchdog.
/// Without `NOTIFY_SOCKET` (not started by systemd) each is nothing.
mod service_manager {
    use sd_notify::NotifyState;

    /// Started, or done reloading.
    pub(super) fn ready() {
        notify(&[
            NotifyState::Ready,
            NotifyState::Status("accepting connections"),
        ]);
    }

    /// A reload begins; systemd waits for the next `ready`.
    pub(super) fn reloading() {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => notify(&[NotifyState::Reloading, now]),
            Err(_) => notify(&[NotifyState::Reloading]),
        }
    }

    /// Shutdown begins.
    pub(super) fn stopping() {
        notify(&[NotifyState::Stopping, NotifyState::Status("saving history")]);
    }

    /// With `WatchdogSec=` set, pings the watchdog at half its interval from a task of the
    /// async runtime, so a runtime that stops running tasks gets the server restarted.
    pub(super) fn start_watchdog(shutdown: tokio_util::sync::CancellationToken) {
        let Some(interval) = sd_notify::watchdog_enabled() else {
            return;
        };
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval / 2);
            loop {
                tokio::select! {
                    _ = ticks.tick() => notify(&[NotifyState::Watchdog]),
                    () = shutdown.cancelled() => return,
                }
            }
        });
    }

    fn notify(states: &[NotifyState]) {
        if let Err(error) = sd_notify::notify(states) {
            tracing::debug!(%error, "cannot notify the service manager");
        }
    }
}

/// The first SIGINT or SIGTERM shuts down cleanly; a third one exits at once. With
/// `--thr-mon` (`monitor`), the first one starts the state reports instead, as r0c's first
/// signal started its thread monitor, and the next one shuts down.
async fn watch_signals(
    mut signals: Signals,
    shutdown: tokio_util::sync::CancellationToken,
    mut monitor: Option<r0c::server::Monitor>,
    main_runtime: tokio::runtime::Handle,
) {
    let mut received = 0;
    loop {
        if !signals.next().await {
            return;
        }
        if let Some(monitor) = monitor.take() {
            say(
                " *  --thr-mon: reporting the server's state every 5 seconds; signal again to stop",
            );
            // On the server's runtime: the report reads that runtime's task counts.
            main_runtime.spawn(report_state(monitor, shutdown.clone()));
            continue;
        }
        received += 1;
        if received == 1 {
            say(" *  shutting down (saving history)");
            service_manager::stopping();
            shutdown.cancel();
        } else if received >= 3 {
            std::process::exit(1);
        }
    }
}

/// SIGINT and SIGTERM, watched from the moment this is made.
struct Signals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        let watch = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(signal) => Some(signal),
            Err(error) => {
                tracing::warn!(%error, "cannot watch {name}");
                None
            }
        };
        Signals {
            interrupt: watch(SignalKind::interrupt(), "SIGINT"),
            terminate: watch(SignalKind::terminate(), "SIGTERM"),
        }
    }

    /// Waits for the next SIGINT or SIGTERM; `false` when neither can be watched.
    async fn next(&mut self) -> bool {
        async fn one(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
            match signal.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        }
        if self.interrupt.is_none() && self.terminate.is_none() {
            return false;
        }
        tokio::select! {
            Some(()) = one(&mut self.interrupt) => true,
            Some(()) = one(&mut self.terminate) => true,
            else => false,
        }
    }
}

/// `--thr-mon`: a report every [`r0c::server::Monitor::INTERVAL`] until shutdown.
async fn report_state(
    monitor: r0c::server::Monitor,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut interval = tokio::time::interval(r0c::server::Monitor::INTERVAL);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = shutdown.cancelled() => return,
        }
        for line in monitor.report() {
            say(&line);
        }
    }
}

/// Prints a console line with r0c's `HHMMSS ` UTC prefix. A closed stdout (the terminal or
/// the pipe went away) must not stop the server, so write errors are ignored.
fn say(line: &str) {
    use std::io::Write;
    let stamp = jiff::Timestamp::now().strftime("%H%M%S");
    let _ = writeln!(std::io::stdout(), "{stamp} {line}");
}
