//! What a terminal user does and sees, knowing nothing of the transport that carries it: the
//! wizard, the line editor, windows, scrollback and the renderers, and the per-connection
//! state machine that runs them ([`connection`]).

pub mod connection;
pub mod flood;
pub mod pacing;
pub mod saved;
pub mod settings;
pub mod teletype;
pub mod terminal;
pub mod texts;
pub mod vt;
pub mod wizard;

pub use connection::{Arrival, MIN_FRAME_INTERVAL, Protocol, WindowSizes, serve, serve_web};
pub(crate) use connection::{KERNEL_SEND_BUFFER, TLS_HANDSHAKE_TIMEOUT};
