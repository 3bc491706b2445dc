//! Terminal-side pure code: charsets, display width, key decoding, line editing and layout.
//!
//! Architecture invariant: nothing here does I/O or returns errors; malformed input becomes
//! an ordinary result (a dropped sequence, a replacement character).

pub mod charset;
pub mod keys;
pub mod layout;
pub mod lineedit;
pub mod screen;
pub mod style;
pub mod width;
pub mod zone;
