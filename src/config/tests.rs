//! Tests for the command line: each case is a command line and the expected outcome as
//! text, which lists only the fields that differ from r0c's defaults.

use std::net::IpAddr;

use clap::CommandFactory;

use super::flags::{DEFAULT_SSH_PORT, DEFAULT_WEB_PORT};
use super::r0c_compat::SINGLE_DASH_LONG;
use super::*;

/// Where a case runs: who we are and which files the app dir holds.
#[derive(Default)]
struct Env {
    root: bool,
    files: Vec<(&'static str, &'static str)>,
}

fn check(args: &str, expected: &str) {
    check_in(Env::default(), args, expected);
}

/// Parses `r0c ARGS` (split on blanks outside single quotes) with `$HOME` in a fresh
/// temp dir, shown as `~` in the outcome, and compares the rendered outcome with
/// `expected` line by line, ignoring indentation and blank lines.
fn check_in(env: Env, args: &str, expected: &str) {
    let home = tempfile::tempdir().expect("temp dir");
    let app_dir = home.path().join(".r0c");
    for (name, text) in &env.files {
        std::fs::create_dir_all(&app_dir).expect("create app dir");
        std::fs::write(app_dir.join(name), text).expect("write app file");
    }
    let host = Host {
        is_root: env.root,
        home: Some(home.path().to_owned()),
    };
    // `~` in an argument is the temp home, so a case can name files in it.
    let home_text = home.path().display().to_string();
    let argv = std::iter::once("r0c".to_owned()).chain(
        split_args(args)
            .into_iter()
            .map(|arg| arg.replace('~', &home_text)),
    );
    let actual = render(parse_args_in(argv, &host), app_dir);
    let actual = actual.replace(&home.path().display().to_string(), "~");
    assert_eq!(normalize(&actual), normalize(expected), "r0c {args}");
}

/// Splits like a shell would for the simple cases here: on blanks, except inside `'…'`.
fn split_args(line: &str) -> Vec<String> {
    let (mut args, mut current, mut quoted) = (Vec::new(), None::<String>, false);
    for c in line.chars() {
        if c == '\'' {
            quoted = !quoted;
            current.get_or_insert_default();
        } else if c.is_whitespace() && !quoted {
            args.extend(current.take());
        } else {
            current.get_or_insert_default().push(c);
        }
    }
    args.extend(current);
    args
}

fn normalize(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("\n")
}

fn render(outcome: Result<Invocation, ConfigError>, app_dir: PathBuf) -> String {
    match outcome {
        Err(err) => format!("error: {err}"),
        Ok(Invocation::Exit { output, status }) => format!("exit {status}\n{output}"),
        Ok(Invocation::Run(config)) => {
            // r0c's defaults for a non-root user; the test defaults differ only here (and in
            // flood control, which tests switch on where they need it).
            let r0c_defaults = Config {
                listen_ip: IpAddr::from([0, 0, 0, 0]),
                telnet_port: 2323,
                netcat_port: 1531,
                web_port: DEFAULT_WEB_PORT,
                ssh_port: DEFAULT_SSH_PORT,
                irc_port: super::flags::DEFAULT_IRC_PORT,
                flood: crate::session::flood::FloodLimits::default(),
                ..Config::default_for_tests(app_dir)
            };
            let mut lines: Vec<String> = fields(&config)
                .into_iter()
                .zip(fields(&r0c_defaults))
                .filter(|(field, default)| field != default)
                .map(|((name, value), _)| format!("{name} = {value}"))
                .collect();
            lines.extend(
                config
                    .notices
                    .iter()
                    .map(|notice| format!("notice: {notice}")),
            );
            if lines.is_empty() {
                "defaults".to_owned()
            } else {
                lines.join("\n")
            }
        }
    }
}

/// Every field but `notices` and `effective_flags` (what the others say again), by name; the destructuring makes a new field a compile
/// error here until it is listed.
fn fields(config: &Config) -> Vec<(&'static str, String)> {
    macro_rules! fields {
        ($($field:ident),*) => {{
            let Config { $($field,)* notices: _, effective_flags: _ } = config;
            vec![$((stringify!($field), format!("{:?}", $field))),*]
        }};
    }
    #[rustfmt::skip]
    let fields = fields!(
        listen_ip, telnet_port, netcat_port, tls_telnet_port, tls_netcat_port, password,
        password_source, admin_requires_auth, opers, nick_salt, proxies, no_all, motd, hist_rd,
        hist_mem, hist_tsz, max_clients, irc_rate, ctcp_version, irc_networks, irc_links, irc_ca,
        irc_insecure, dbg_irc, app_dir, wizard_timeout, first_input_timeout, stall_timeout,
        max_per_ip, conn_rate, limit_exempt, flood, dev, tls, fsync, bench, web_port, web_tls_port,
        ssh_port, ssh, metrics_public, max_windows_per_user, max_channels, diag, thr_mon, linemode,
        lockdown, irc_port, irc_tls_port, irc_name, verbosity, log_format, cluster
    );
    fields
}

#[test]
fn defaults() {
    check("", "defaults");
    let root = Env {
        root: true,
        ..Env::default()
    };
    check_in(root, "", "telnet_port = 23 \n netcat_port = 531");
}

#[test]
fn opers() {
    check(
        "--oper alice --oper bob,carol",
        r#"opers = ["alice", "bob", "carol"]"#,
    );
}

#[test]
fn channel_limits() {
    check(
        "--max-chans-per-user 20 --max-chans 500",
        "max_windows_per_user = 20 \n max_channels = 500",
    );
    // Zero would lock everyone out of every channel: it means one.
    check(
        "--max-chans-per-user 0 --max-chans 0",
        "max_windows_per_user = 1 \n max_channels = 1",
    );
}

#[test]
fn test_defaults_listen_on_loopback_port_0() {
    let config = Config::default_for_tests(PathBuf::from("/srv/r0c"));
    assert_eq!(config.listen_ip, IpAddr::from([127, 0, 0, 1]));
    assert_eq!((config.telnet_port, config.netcat_port), (0, 0));
    assert_eq!(config.database_path(), Path::new("/srv/r0c/r0c.db"));
}

#[test]
fn ports() {
    check("-pt 0 -pn 2000", "telnet_port = 0 \n netcat_port = 2000");
    for args in ["-pt=99", "--pt 99", "--pt=99", "-pt 5 -pt 99"] {
        check(args, "telnet_port = 99");
    }
    check("-pt 0 -pn 0", "telnet_port = 0 \n netcat_port = 0");
    check(
        "-pt 65536",
        "error: invalid value '65536' for '-pt <PORT>': 65536 is not in 0..=65535",
    );
    check(
        "-pn 2323",
        "error: port 2323 was specified for both -pt and -pn",
    );
    check(
        "-pw",
        "error: a value is required for '-pw <PWD>' but none was supplied",
    );
    check(
        "-pt 1 -tpn 1",
        "error: port 1 was specified for both -pt and -tpn",
    );
    check("--web 0", "web_port = 0");
    check(
        "--web 8080 --web-tls 8443 --metrics-public",
        "web_port = 8080 \n web_tls_port = 8443 \n metrics_public = true \n irc_tls_port = 6697",
    );
    check(
        "--web-tls 8023",
        "error: port 8023 was specified for both --web and --web-tls",
    );
    check(
        "-pn 8023",
        "error: port 8023 was specified for both -pn and --web",
    );
}

#[test]
fn ssh_flags() {
    check("-ssh 2200", "ssh_port = 2200");
    check("--ssh=0", "ssh_port = 0");
    check(
        "--ssh-key /k --ssh-guests false",
        "ssh = SshSettings { key: Some(\"/k\"), guests: false, claim_days: 365 }",
    );
    check(
        "-ssh 2323",
        "error: port 2323 was specified for both -pt and --ssh",
    );
}

#[test]
fn irc_listener_flags() {
    check("--irc-listen 7000", "irc_port = 7000");
    check("--irc-listen 0", "irc_port = 0");
    // The TLS port is on by default only where TLS is set up for another listener.
    check("", "defaults");
    check("-tpt 2424", "tls_telnet_port = 2424 \n irc_tls_port = 6697");
    check("-tpt 2424 --irc-listen-tls 0", "tls_telnet_port = 2424");
    check("--irc-listen-tls 7001", "irc_tls_port = 7001");
    check(
        "--irc-name irc.example.org",
        "irc_name = \"irc.example.org\"",
    );
    check(
        "--irc-listen 2323",
        "error: port 2323 was specified for both -pt and --irc-listen",
    );
}

#[test]
fn listen_address() {
    check("-i ::", "listen_ip = ::");
    check("-i 127.0.0.1", "listen_ip = 127.0.0.1");
    check("-i=::1", "listen_ip = ::1");
    check(
        "-i localhost",
        "error: invalid value 'localhost' for '-i <IP>': invalid IP address syntax",
    );
}

#[test]
fn legacy_positional_form() {
    // r0c started telnet and netcat only: the web terminal, ssh and IRC are off in this form.
    check(
        "2323 1531 pw",
        "password = \"pw\" \n password_source = Flag \n web_port = 0 \n ssh_port = 0 \n irc_port = 0",
    );
    check(
        "23",
        "telnet_port = 23 \n web_port = 0 \n ssh_port = 0 \n irc_port = 0",
    );
    check(
        "0 0",
        "telnet_port = 0 \n netcat_port = 0 \n web_port = 0 \n ssh_port = 0 \n irc_port = 0",
    );
    // Unless the config file asks for it; and the telnet port may be the web's default.
    check_in(
        config_file("web = 8080"),
        "23",
        "telnet_port = 23 \n web_port = 8080 \n ssh_port = 0 \n irc_port = 0",
    );
    check_in(
        config_file("ssh = 2200"),
        "23",
        "telnet_port = 23 \n web_port = 0 \n ssh_port = 2200 \n irc_port = 0",
    );
    check(
        "8023",
        "telnet_port = 8023 \n web_port = 0 \n ssh_port = 0 \n irc_port = 0",
    );
    check(
        "70000",
        "error: argument 1 '70000' is not a port number (0 to 65535)",
    );
    check(
        "23 x",
        "error: argument 2 'x' is not a port number (0 to 65535)",
    );
    check("23 23", "error: port 23 was specified for both -pt and -pn");
    check(
        "1 2 3 4",
        "error: argument 4 '4' is one too many: the positional form is `r0c TELNET_PORT NETCAT_PORT PASSWORD`",
    );
    let help = "
        exit 0
        arg 1: Telnet port (0=disable), default: 2323
        arg 2: NetCat port (0=disable), default: 1531
        arg 3: admin password, default: hunter2
    ";
    check("23 -h", help);
    check("23 1531 --help", help);
    // As in r0c, `-h` anywhere in the last argument asks for help, even in a password; the
    // help names the password file and never prints what it holds.
    let password_file = Env {
        files: vec![("password.txt", "s3cret\n")],
        ..Env::default()
    };
    check_in(
        password_file,
        "1 2 my-hpw",
        "
        exit 0
        arg 1: Telnet port (0=disable), default: 2323
        arg 2: NetCat port (0=disable), default: 1531
        arg 3: admin password, default: the contents of ~/.r0c/password.txt
        ",
    );
    // The password is never repeated in an error either.
    check_in(
        Env::default(),
        "1 2 pw 4",
        "error: argument 4 '4' is one too many: the positional form is `r0c TELNET_PORT NETCAT_PORT PASSWORD`",
    );
}

#[test]
fn password() {
    let file = || Env {
        files: vec![("password.txt", " \t s3cret pw\r\n")],
        ..Env::default()
    };
    check_in(
        file(),
        "",
        "
        password = \"s3cret pw\"
        password_source = File(\"~/.r0c/password.txt\")
        ",
    );
    check_in(
        file(),
        "-pw x",
        "password = \"x\" \n password_source = Flag",
    );
    let empty = Env {
        files: vec![("password.txt", "\n")],
        ..Env::default()
    };
    check_in(
        empty,
        "",
        "error: the admin password from ~/.r0c/password.txt is empty",
    );
    check("-pw=", "error: the admin password from -pw is empty");
}

#[test]
fn proxies() {
    check(
        "--proxy 127.0.0.1",
        "
        proxies = [127.0.0.1]
        notice: WARNING: you have localhost in --proxy, you probably want --ara too
        ",
    );
    check(
        "--proxy '10.0.0.1, 2001:db8::1'",
        "proxies = [10.0.0.1, 2001:db8::1]",
    );
    check(
        "--proxy 10.0.0.1,relay",
        "error: invalid address 'relay' in --proxy",
    );
}

#[test]
fn debugging_flags_are_read() {
    check(
        "--hex-rx --hex-tx --hex-lim 64 --hex-w 32 --log-rx --log-tx --dbg",
        "diag = DiagSettings { hex_rx: true, hex_tx: true, hex_lim: 64, hex_width: 32, log_rx: true, log_tx: true, dbg: true }",
    );
    check("--thr-mon --linemode", "thr_mon = true \n linemode = true");
    check("-tpt 0 -tpn 0", "defaults");
}

#[test]
fn old_tls_is_a_notice() {
    check(
        "--old-tls",
        "notice: --old-tls: TLS 1.0 and 1.1 and their ciphers are not supported (rustls cannot speak them); the TLS listeners accept TLS 1.2 and 1.3, so put a TLS terminator such as stunnel in front for old clients",
    );
}

#[test]
fn one_history_limit_alone_sets_the_other() {
    check("--hist-mem 10000", "hist_mem = 10000 \n hist_tsz = 1666");
    check("--hist-mem 200000", "hist_mem = 200000");
    check("--hist-tsz 98303", "hist_mem = 589818 \n hist_tsz = 98303");
    check("--hist-tsz 100", "hist_tsz = 100");
}

#[test]
fn irc_networks_and_bridges() {
    check(
        "--ircn 'Net, irc.example.org, +6697, r0c, bot, pass, with, commas' --ircn b,127.0.0.1,6667,r0c \
         --ircb NET,Chat,g --ircb b,#r0c,#G --irc-ca /ca.pem --irc-insecure --dbg-irc",
        r##"
        irc_networks = [IrcNetwork { name: "net", host: "irc.example.org", port: 6697, tls: true, nick: "r0c", user: "bot", password: Some("pass, with, commas") }, IrcNetwork { name: "b", host: "127.0.0.1", port: 6667, tls: false, nick: "r0c", user: "r0c", password: None }]
        irc_links = [IrcLink { network: "net", irc_channel: "#chat", r0c_channel: "g" }, IrcLink { network: "b", irc_channel: "#r0c", r0c_channel: "g" }]
        irc_ca = Some("/ca.pem")
        irc_insecure = true
        dbg_irc = true
        "##,
    );
}

#[test]
fn irc_arguments_are_checked() {
    check(
        "--ircn a,host,6667",
        "error: invalid argument to --ircn: [a,host,6667]",
    );
    check(
        "--ircn 'a, host, +x, nick'",
        "error: invalid argument to --ircn: [a, host, +x, nick]",
    );
    check(
        "--ircb a,chat",
        "error: invalid argument to --ircb: [a,chat]",
    );
    check(
        "--ircn a,h,6667,n --ircb 'a,chat,two words'",
        "error: invalid argument to --ircb: [a,chat,two words]",
    );
    check(
        "--ircn a,h,6667,n --ircn A,h,6668,n",
        "error: invalid argument to --ircn: [A,h,6668,n]",
    );
    check(
        "--ircn a,host,+6697,nick,user,pass --ircb b,chat,g",
        "error: ircnet 'b' (mentioned in --ircb b,chat,g) not defined by --ircn",
    );
}

#[test]
fn values_are_validated() {
    check("--i-rate 2.5,1", "irc_rate = (2.5, 1.0)");
    for rate in ["4", "0,2", "x,1", "1,2,3", "inf,1"] {
        check(
            &format!("--i-rate {rate}"),
            &format!(
                "error: invalid value '{rate}' for '--i-rate <B,R>': expected two numbers above 0, like 4,2"
            ),
        );
    }
    check(
        "--hist-mem 100 --hist-tsz 100",
        "error: --hist-tsz (100) must be at least 1 and smaller than --hist-mem (100)",
    );
    check(
        "--hist-mem 10 --hist-tsz 0",
        "error: --hist-tsz (0) must be at least 1 and smaller than --hist-mem (10)",
    );
    check(
        "--hex-w 12",
        "error: invalid value '12' for '--hex-w <N>': expected a positive multiple of 8",
    );
    check(
        "--limit-exempt 10.0.0/8",
        "error: invalid value '10.0.0/8' for '--limit-exempt <CIDR,...>': '10.0.0/8' is not an IP address or a CIDR block like 192.168.0.0/16 or fd00::/8",
    );
    check(
        "--limit-exempt 192.168.1.1/16",
        "error: invalid value '192.168.1.1/16' for '--limit-exempt <CIDR,...>': '192.168.1.1/16' has address bits set after the prefix; the block is 192.168.0.0/16",
    );
    check("--nope", "error: unexpected argument '--nope' found");
    check("extra", "error: unexpected argument 'extra' found");
}

#[test]
fn limit_exemptions_replace_the_loopback_default_and_none_removes_it() {
    check(
        "--limit-exempt 10.0.0.0/8,2001:db8::/48",
        "limit_exempt = Exemptions([Cidr { network: 10.0.0.0, prefix: 8 }, Cidr { network: 2001:db8::, prefix: 48 }])",
    );
    check("--limit-exempt none", "limit_exempt = Exemptions([])");
    check("--limit-exempt ''", "limit_exempt = Exemptions([])");
    check_in(
        config_file("limit-exempt = 'none'"),
        "",
        "limit_exempt = Exemptions([])",
    );
}

#[test]
fn other_settings() {
    check(
        "--ara --nsalt x/ --no-all --motd /m -nc 4096 --ctcp-ver hi --dir /srv/r0c",
        "
        admin_requires_auth = true
        nick_salt = \"x/\"
        no_all = true
        motd = Some(\"/m\")
        max_clients = 4096
        ctcp_version = \"hi\"
        app_dir = \"/srv/r0c\"
        ",
    );
    check(
        "--max-per-ip 0 --conn-rate 100 --stall-timeout 30 --first-input-timeout 5 --msg-rate 4,0.5 --no-flood-limit",
        "
        first_input_timeout = 5s
        stall_timeout = 30s
        max_per_ip = 0
        conn_rate = 100
        flood = FloodLimits { burst: 4.0, per_second: 0.5, burst_bytes: 16384.0, bytes_per_second: 2048.0, burst_lines: 60.0, lines_per_second: 2.0, command_burst: 64.0, command_per_second: 1.0, mute: 60s, enabled: false }
        ",
    );
    // argparse accepts unambiguous prefixes of long flags; so do we.
    check(
        "--hist-r 5 --hist-mem=20 --hist-tsz 10",
        "hist_rd = 5 \n hist_mem = 20 \n hist_tsz = 10",
    );
}

#[test]
fn flags_without_effect_give_notices() {
    check(
        "--rot-msg 5",
        "notice: --rot-msg has no effect: chat history is kept in a SQLite database, not in rotated log files",
    );
    check(
        "--no-poll",
        "notice: --no-poll has no effect: client sockets are always watched with epoll",
    );
    check(
        "--poll",
        "notice: --poll has no effect: client sockets are always watched with epoll",
    );
    check(
        "--reuseaddr",
        "notice: --reuseaddr has no effect: SO_REUSEADDR is always set",
    );
    check(
        "--hex-w=32",
        "diag = DiagSettings { hex_rx: false, hex_tx: false, hex_lim: 128, hex_width: 32, log_rx: false, log_tx: false, dbg: false }",
    );
}

#[test]
fn help_lists_every_flag_with_its_default() {
    let host = Host {
        is_root: false,
        home: None,
    };
    let outcome = parse_args_in(["target/debug/r0c-x", "--help"], &host);
    let Ok(Invocation::Exit { output, status: 0 }) = outcome else {
        panic!("--help should print help and exit 0: {outcome:?}");
    };
    assert!(output.contains("Usage: r0c [OPTIONS]"), "{output}");
    assert!(
        output.lines().any(|line| line.starts_with("  -pt <PORT> ")
            && line.ends_with(" telnet port (disable with 0) (default: 2323)")),
        "{output}"
    );
    assert!(
        !output.contains("--pt") && !output.contains("[default:"),
        "{output}"
    );
    for arg in RawArgs::command().get_arguments() {
        let spelling = match (arg.get_short(), arg.get_long()) {
            (Some(short), _) => format!("-{short}"),
            (None, Some(long)) if SINGLE_DASH_LONG.contains(&long) => format!("-{long}"),
            (None, long) => format!("--{}", long.unwrap_or_default()),
        };
        // A flag with a short and a long name reads `-v, --verbose`.
        let line = output.lines().find(|line| {
            let line = line.trim_start();
            line.starts_with(&format!("{spelling} ")) || line.starts_with(&format!("{spelling}, "))
        });
        assert!(
            line.is_some_and(|line| line.contains("(default: ")),
            "{spelling}:\n{output}"
        );
    }
    let root = Host {
        is_root: true,
        home: None,
    };
    let outcome = parse_args_in(["r0c", "-h"], &root);
    let Ok(Invocation::Exit { output, .. }) = outcome else {
        panic!("-h should print help: {outcome:?}");
    };
    assert!(output.contains("(default: 23)"), "{output}");
    check("-V", &format!("exit 0 \n r0c {}", super::VERSION));
}

#[test]
fn app_dir_without_home() {
    assert_eq!(default_app_dir(None), Path::new("./.r0c"));
    assert_eq!(
        default_app_dir(Some(Path::new("/home/ed"))),
        Path::new("/home/ed/.r0c")
    );
}

#[test]
fn bench_is_available() {
    check("--bench", "bench = true");
}

/// An app dir holding `r0c.toml` with `text`.
fn config_file(text: &'static str) -> Env {
    Env {
        files: vec![("r0c.toml", text)],
        ..Env::default()
    }
}

#[test]
fn the_config_file_in_the_app_dir_sets_flags_by_long_name() {
    let file = "
        pt = 2000
        pn = '2001'
        listen-ip = '::1'
        ara = true
        no_all = true
        dev = false
        nsalt = 'x/'
        hist-rd = 5
        tls-name = ['a.example', 'b.example']
        i-rate = '2.5,1'
    ";
    check_in(
        config_file(file),
        "",
        r#"
        listen_ip = ::1
        telnet_port = 2000
        netcat_port = 2001
        admin_requires_auth = true
        nick_salt = "x/"
        no_all = true
        hist_rd = 5
        irc_rate = (2.5, 1.0)
        tls = TlsSettings { min_version: Tls12, ciphers: [], cert: None, key: None, names: ["a.example", "b.example"] }
        "#,
    );
}

#[test]
fn the_command_line_overrides_the_config_file() {
    let file = "pt = 2000 \n pn = 2001 \n tls-name = ['a', 'b'] \n ircn = 'n,h,6667,bot'";
    check_in(
        config_file(file),
        "-pt 3000 --tls-name c --ircn m,h,6667,bot",
        r#"
        telnet_port = 3000
        netcat_port = 2001
        irc_networks = [IrcNetwork { name: "m", host: "h", port: 6667, tls: false, nick: "bot", user: "bot", password: None }]
        tls = TlsSettings { min_version: Tls12, ciphers: [], cert: None, key: None, names: ["c"] }
        "#,
    );
    // A flag of no effect in the file gives its notice like one on the command line.
    check_in(
        config_file("rot-msg = 5"),
        "",
        "notice: --rot-msg has no effect: chat history is kept in a SQLite database, not in rotated log files",
    );
}

#[test]
fn config_is_read_from_the_given_path_or_the_app_dir_of_the_command_line() {
    let files = Env {
        files: vec![("other.toml", "hist-rd = 7"), ("r0c.toml", "hist-rd = 5")],
        ..Env::default()
    };
    check_in(files, "--config ~/.r0c/other.toml", "hist_rd = 7");
    // With another app dir, the default one's r0c.toml is not read.
    check_in(
        config_file("hist-rd = 5"),
        "--dir ~/elsewhere",
        "app_dir = \"~/elsewhere\"",
    );
    // The legacy positional form reads the default file too; its ports override it.
    check_in(
        config_file("pn = 2001 \n hist-rd = 5"),
        "23",
        "telnet_port = 23 \n netcat_port = 2001 \n hist_rd = 5 \n web_port = 0 \n ssh_port = 0 \n irc_port = 0",
    );
}

#[test]
fn config_file_errors_name_the_file_and_the_key() {
    let cases = [
        (
            "nope = 1",
            "error: ~/.r0c/r0c.toml: unknown key 'nope' (the keys are the long flag names, like pt or no-flood-limit)",
        ),
        (
            "ara = 'yes'",
            "error: ~/.r0c/r0c.toml: 'ara' must be true or false",
        ),
        (
            "pt = [1, 2]",
            "error: ~/.r0c/r0c.toml: 'pt' must be a string or a number",
        ),
        (
            "ircb = [['a']]",
            "error: ~/.r0c/r0c.toml: 'ircb' must be a list of strings or numbers",
        ),
        (
            "pt = 70000",
            "error: ~/.r0c/r0c.toml: 'pt': invalid value '70000' for '-pt <PORT>': 70000 is not in 0..=65535",
        ),
        (
            "config = 'x.toml'",
            "error: ~/.r0c/r0c.toml: 'config' can only be given on the command line",
        ),
        (
            "pt = 1 \n pt = 2",
            "error: ~/.r0c/r0c.toml:2: duplicate key",
        ),
    ];
    for (text, expected) in cases {
        check_in(config_file(text), "", expected);
    }
    check(
        "--config ~/missing.toml",
        "error: cannot read the config file ~/missing.toml: No such file or directory (os error 2)",
    );
}

/// `r0c ARGS --print-config` with `$HOME` in `home`: the printed file.
fn print_config(home: &Path, args: &[&str]) -> String {
    let host = Host {
        is_root: false,
        home: Some(home.to_owned()),
    };
    let argv = ["r0c"].iter().chain(args).chain(&["--print-config"]);
    match parse_args_in(argv, &host) {
        Ok(Invocation::Exit { output, status: 0 }) => output,
        other => panic!("--print-config should print and exit 0: {other:?}"),
    }
}

#[test]
fn print_config_lists_every_flag_and_reads_back_to_the_same_file() {
    let home = tempfile::tempdir().expect("temp dir");
    let printed = print_config(
        home.path(),
        &[
            "-pt",
            "2000",
            "--ara",
            "--tls-name",
            "a",
            "--tls-name",
            "b",
            "--motd",
            "/m",
        ],
    );
    for arg in RawArgs::command().get_arguments() {
        if let Some(key) = file::key_of(arg) {
            let line = format!("\n{key} = ");
            let commented = format!("\n# {key} =");
            assert!(
                printed.contains(&line) || printed.contains(&commented),
                "{key} missing:\n{printed}"
            );
        }
    }
    for expected in [
        "\npt = 2000\n",
        "\nara = true\n",
        "\ntls-name = [\"a\", \"b\"]\n",
        "\nmotd = \"/m\"\n",
        "\n# pw =\n",
    ] {
        assert!(
            printed.contains(expected),
            "{expected:?} missing:\n{printed}"
        );
    }
    let path = home.path().join("printed.toml");
    std::fs::write(&path, &printed).expect("write the printed config");
    let path_text = path.display().to_string();
    let again = print_config(home.path(), &["--config", &path_text]);
    assert_eq!(again, printed);
}

#[test]
fn cluster_flags() {
    check(
        "--cluster nats://127.0.0.1:4222,tls://n2.example:4222 --node n1 --cluster-creds /etc/r0c.creds",
        r#"cluster = Some(ClusterSettings { servers: ["nats://127.0.0.1:4222", "tls://n2.example:4222"], creds: Some("/etc/r0c.creds"), tls_ca: None, node: "n1", retention: ClusterRetention { stream_max_age: 604800s, stream_max_bytes: 1073741824, snapshot_every: 3600s, snapshot_max_bytes: 4294967296 } })"#,
    );
    check(
        "--cluster 127.0.0.1:4222",
        "error: invalid value '127.0.0.1:4222' for '--cluster <URLS>': 127.0.0.1:4222: expected nats://HOST:PORT or tls://HOST:PORT",
    );
    check(
        "--cluster nats://a:1 --node 'a b'",
        "error: invalid value 'a b' for '--node <NAME>': a node name is 1 to 32 letters, digits, '-' or '_'",
    );
}
