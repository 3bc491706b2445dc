//! Bridges to other chat networks. So far the IRC protocol pieces; the bridge task that uses
//! them is still to be written (`--ircn`/`--ircb` answer "not available yet").

pub mod irc_proto;
