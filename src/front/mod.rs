//! The ways in: one thin adapter per transport between a socket and the session core, and
//! one place (`listen`) for what every listener does before a session exists.
//!
//! `listen` binds, accepts with backoff, admits (`admission`), tunes sockets, runs the timed
//! TLS accept (`tls` sets TLS up) and answers refusals. The adapters turn their bytes into
//! the session's input events and frame what it writes: `telnet` (the codec: negotiation,
//! NAWS, TTYPE, IAC doubling), `raw` (the raw port's filter) and `web` (the HTTP listener,
//! whose WebSocket pump feeds the session through a pipe) and `ssh` (russh's server: the
//! session's channel is the byte stream, pty and window-change requests are sizes), and `irc`
//! (the IRC listener, a session of its own over the world). The session (`crate::session`)
//! never imports this module.

pub mod admission;
pub mod irc;
pub mod listen;
pub mod raw;
pub mod ssh;
pub mod telnet;
pub mod telnet_port;
pub mod tls;
pub mod web;

use crate::session::Protocol;

/// Serves one bound listener until shutdown, with the adapter of its kind.
pub async fn serve(listening: listen::Listening) {
    match listening.kind.protocol() {
        Protocol::Telnet => listen::serve_terminals(listening, telnet_port::Telnet::new).await,
        Protocol::Raw => listen::serve_terminals(listening, raw::Raw::new).await,
        Protocol::Web => web::run(listening).await,
        Protocol::Ssh => ssh::run(listening).await,
        Protocol::Irc => irc::run(listening).await,
    }
}
