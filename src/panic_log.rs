//! The process's panic hook: one log line with where a panic happened and on which thread,
//! never its message.
//!
//! A panic's message can quote what a peer typed (a failed slice prints the string it
//! sliced), so printing it would let a client write into the server's log. The hook also
//! takes no backtrace: with `RUST_BACKTRACE=1`, the standard hook's first backtrace loads
//! the debug information, which cost 120 MB of memory for as long as the process lives.
//! Panics still unwind: a connection's task that panics ends alone, and the guards it holds
//! (its admission ticket, its place in the world) are dropped on the way out.

use std::panic::PanicHookInfo;

/// Where a panic happened, as the hook reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PanicSite<'a> {
    /// The source file, line and column, when the panic had a location.
    pub location: Option<(&'a str, u32, u32)>,
    /// The panicking thread's name, when it had one.
    pub thread: Option<&'a str>,
}

impl<'a> PanicSite<'a> {
    /// The site of the panic `info` describes, on the current thread. Only the location is
    /// taken from `info`; its payload is never looked at.
    pub fn of(info: &'a PanicHookInfo<'a>, thread: &'a std::thread::Thread) -> PanicSite<'a> {
        PanicSite {
            location: info
                .location()
                .map(|location| (location.file(), location.line(), location.column())),
            thread: thread.name(),
        }
    }

    /// The log line: the location and the thread, and a word on why the message is left out.
    pub fn describe(&self) -> String {
        let location = match self.location {
            Some((file, line, column)) => format!("{file}:{line}:{column}"),
            None => "an unknown location".into(),
        };
        let thread = self.thread.unwrap_or("<unnamed>");
        format!(
            "panic at {location} on thread '{thread}' (message not logged: it can quote client input)"
        )
    }
}

/// Installs the hook: each panic writes one line through `sink`. The binary passes a function
/// that logs at error level.
pub fn install(sink: fn(&str)) {
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        sink(&PanicSite::of(info, &thread).describe());
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn the_line_names_the_site_and_nothing_else() {
        let cases = [
            (
                PanicSite {
                    location: Some(("src/session/wizard.rs", 243, 28)),
                    thread: Some("tokio-runtime-worker"),
                },
                "panic at src/session/wizard.rs:243:28 on thread 'tokio-runtime-worker' (message not logged: it can quote client input)",
            ),
            (
                PanicSite {
                    location: None,
                    thread: None,
                },
                "panic at an unknown location on thread '<unnamed>' (message not logged: it can quote client input)",
            ),
        ];
        for (site, line) in cases {
            assert_eq!(site.describe(), line);
        }
    }

    /// Lines the test's hook wrote.
    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn record(line: &str) {
        LINES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(line.to_string());
    }

    #[test]
    fn a_panic_quoting_input_logs_only_its_site() {
        let standard = std::panic::take_hook();
        install(record);
        let typed = "secret typed by a client";
        let thread = std::thread::Builder::new()
            .name("panic-log-test".into())
            .spawn(move || {
                let line = String::from(typed);
                panic!("byte index 9999 is out of bounds of `{line}`");
            })
            .expect("spawn a thread");
        assert!(thread.join().is_err(), "the thread panicked");
        // The standard hook is back for the rest of the test binary, whose failing tests
        // should show their messages.
        let _ = std::panic::take_hook();
        std::panic::set_hook(standard);
        let lines = LINES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        // Other tests of this binary may panic meanwhile; only this thread's line counts.
        let ours: Vec<&String> = lines
            .iter()
            .filter(|line| line.contains("'panic-log-test'"))
            .collect();
        assert_eq!(ours.len(), 1, "{lines:?}");
        assert!(
            ours[0].starts_with("panic at src/panic_log.rs:"),
            "{}",
            ours[0]
        );
        assert!(!ours[0].contains("secret"), "{}", ours[0]);
        assert!(!ours[0].contains("9999"), "{}", ours[0]);
    }
}
