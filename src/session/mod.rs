//! What a terminal user does and sees, knowing nothing of the transport that carries it: the
//! wizard, the line editor, windows, scrollback and the renderers, and the per-connection
//! state machine that runs them ([`connection`]) over whatever a front-end adapter makes of
//! its bytes ([`transport`]). Nothing here imports `crate::front`.

pub mod connection;
pub mod flood;
pub mod pacing;
pub mod saved;
pub mod settings;
pub mod teletype;
pub mod terminal;
pub mod texts;
pub mod transport;
pub mod vt;
pub mod wizard;

pub use connection::{MIN_FRAME_INTERVAL, busy_frame_interval, converse, read_motd};
pub use transport::{Input, KnownTerminal, ReportedSizes, Transport};

/// Which kind of listener accepted the connection. To the session it is a name (of saved
/// settings and metrics, and for the wizard's wrong-port hint); what its bytes mean is the
/// business of the connection's [`Transport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The telnet listener.
    Telnet,
    /// The raw TCP ("netcat") listener.
    Raw,
    /// The browser terminal.
    Web,
    /// The ssh listener.
    Ssh,
    /// The IRC listener (which has no terminal session; named for completeness).
    Irc,
}

/// Where a connection came in, as the connection task needs to know it.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The client's address.
    pub peer: std::net::SocketAddr,
    /// Which listener accepted it.
    pub protocol: Protocol,
    /// The listener speaks TLS.
    pub tls: bool,
    /// The port of the other plain listener (telnet ↔ raw), 0 if disabled: the wizard's
    /// wrong-port hint names it.
    pub sibling_port: u16,
    /// The MOTD file appended to the welcome text.
    pub motd: Option<std::path::PathBuf>,
    /// How long the client may spend in the wizard (`--wizard-timeout`).
    pub wizard_timeout: std::time::Duration,
    /// How long a new connection may send nothing at all (`--first-input-timeout`).
    pub first_input_timeout: std::time::Duration,
    /// How long pending output may stay unread before the client is dropped
    /// (`--stall-timeout`).
    pub stall_timeout: std::time::Duration,
    /// Flood control of what the user says.
    pub flood: crate::session::flood::FloodLimits,
    /// `--dev`: CTRL-C in the wizard from 127.0.0.1 shuts the server down.
    pub dev: bool,
    /// Relay addresses (`--proxy`): clients from there never reuse saved settings, since many
    /// people share the address.
    pub proxies: Vec<std::net::IpAddr>,
    /// `--linemode`: telnet clients get r0c's alternative opening negotiation, which asks
    /// them to buffer lines and echo locally.
    pub linemode: bool,
    /// Hexdumps, wire logs and `--dbg` lines, when any is on.
    pub diag: Option<std::sync::Arc<crate::diag::Diag>>,
}

impl Arrival {
    /// The listener's name in saved client settings, as r0c names its config files.
    pub(crate) fn listener_name(&self) -> &'static str {
        match (self.protocol, self.tls) {
            (Protocol::Telnet, false) => "telnet",
            (Protocol::Raw, false) => "netcat",
            (Protocol::Telnet, true) => "tls-telnet",
            (Protocol::Raw, true) => "tls-netcat",
            (Protocol::Web, _) => "web",
            (Protocol::Ssh, _) => "ssh",
            (Protocol::Irc, _) => "irc",
        }
    }
}

#[cfg(test)]
impl Arrival {
    /// A connection from a documentation address on `protocol`'s plain listener, with the
    /// default limits and 30-second timeouts.
    pub(crate) fn for_tests(protocol: Protocol) -> Arrival {
        Arrival {
            peer: std::net::SocketAddr::from(([192, 0, 2, 7], 4321)),
            protocol,
            tls: false,
            sibling_port: 0,
            motd: None,
            wizard_timeout: std::time::Duration::from_secs(30),
            first_input_timeout: std::time::Duration::from_secs(30),
            stall_timeout: std::time::Duration::from_secs(30),
            flood: crate::session::flood::FloodLimits::default(),
            dev: false,
            proxies: Vec::new(),
            linemode: false,
            diag: None,
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every Rust source under `dir`, recursively.
    fn sources(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        let entries = std::fs::read_dir(dir).expect("read the session sources");
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                found.push(path);
            }
        }
    }

    #[test]
    fn the_session_core_imports_no_front_end() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/session");
        let mut files = Vec::new();
        sources(&root, &mut files);
        assert!(
            files.len() > 10,
            "the session's sources are found: {files:?}"
        );
        // Spelled in two halves, so this test does not find itself.
        let paths = [concat!("crate::", "front"), concat!("r0c::", "front")];
        let mut offending = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).expect("read a session source");
            for (number, line) in text.lines().enumerate() {
                // Comments may name the front-ends; code may not use them.
                let code = line.split("//").next().unwrap_or_default();
                if paths.iter().any(|path| code.contains(path)) {
                    offending.push(format!("{}:{}: {line}", file.display(), number + 1));
                }
            }
        }
        assert!(
            offending.is_empty(),
            "the session core uses a front-end:\n{}",
            offending.join("\n")
        );
    }
}
