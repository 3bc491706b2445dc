//! r0c ("retr0chat"): a chat server for telnet, netcat and other plain clients.
//!
//! Modules in reading order: [`config`] turns the command line into a [`config::Config`];
//! [`server`] binds the listeners and runs one [`session`] task per connection; each client
//! decodes its bytes with [`front`] and [`term`], turns lines into [`command`] values, changes the
//! shared [`world`] through its methods and renders what it shows; the world persists history through [`store`], and [`history`] reads what is older than memory off the async workers. [`text`] holds the
//! rules for user text that every path shares. [`bridge`] links channels with IRC; [`metrics`]
//! counts what operators watch; [`diag`] is r0c's wire debugging (hexdumps, wire logs); [`panic_log`] is the panic hook that keeps client input out
//! of the log; [`migrate`] is `r0c import`/`export`; [`address`] (CIDR blocks, address keys) and
//! [`rate`] (the token bucket) are leaves like [`text`]; `fuzzing`
//! holds the entry points of the fuzz targets in `fuzz/`.

pub mod address;
pub mod bridge;
pub mod cluster;
pub mod command;
pub mod config;
pub mod diag;
pub mod front;
#[doc(hidden)]
pub mod fuzzing;
pub mod history;
pub mod log_limit;
pub mod metrics;
pub mod migrate;
pub mod panic_log;
pub mod password;
pub mod rate;
pub mod server;
pub mod session;
pub mod store;
pub mod term;
pub mod text;
pub mod world;
