//! The fuzz corpora in `fuzz/corpus/` replayed through the fuzzing entry points, so every input
//! the fuzzer kept (and every crash it ever found) is checked on each test run.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        run(&data);
        count += 1;
    }
    assert!(count > 0, "{} holds no inputs", dir.display());
}

#[test]
fn telnet_corpus() {
    replay("telnet", r0c::fuzzing::telnet);
}

#[test]
fn keys_corpus() {
    replay("keys", r0c::fuzzing::keys);
}

#[test]
fn charsets_corpus() {
    replay("charsets", r0c::fuzzing::charsets);
}

#[test]
fn wizard_corpus() {
    replay("wizard", r0c::fuzzing::wizard);
}

#[test]
fn irc_line_corpus() {
    replay("irc_line", r0c::fuzzing::irc_line);
}

#[test]
fn commands_corpus() {
    replay("commands", r0c::fuzzing::commands);
}

#[test]
fn every_command_corpus() {
    replay("every_command", r0c::fuzzing::every_command);
}

#[test]
fn command_parse_corpus() {
    replay("command_parse", r0c::fuzzing::command_parse);
}
