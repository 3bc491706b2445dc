//! Integration tests: a real server on 127.0.0.1 port 0 and real TCP clients.

mod bad_input;
mod chat;
mod clients;
mod config_file;
mod flags;
mod flood;
mod fuzz_corpus;
mod history;
mod irc;
mod layers;
mod limits;
mod listeners;
mod migration;
mod process;
mod properties;
mod screen;
mod screens;
mod scrolling;
mod ssh;
mod store_failure;
mod stress;
mod support;
mod telnet;
mod tls;
mod tmux;
mod web;
