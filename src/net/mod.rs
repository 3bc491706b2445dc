//! Network protocols between the socket and the session: the telnet codec and the raw filter.

pub mod admission;
pub mod telnet;
pub mod tls;
