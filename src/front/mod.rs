//! Network protocols between the socket and the session: the telnet codec and the raw filter,
//! TLS, connection limits, and the web terminal's HTTP and WebSocket listener.

pub mod admission;
pub mod telnet;
pub mod tls;
pub mod web;
