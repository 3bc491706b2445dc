//! The real binary: which listeners each form of the command line starts and how the startup
//! report names them, and the networks of `--limit-exempt` as the binary reads them.

use std::net::SocketAddr;
use std::path::Path;

use crate::limits::{connect_from, greeting, too_many_line};
use crate::process::{Process, free_ports, r0c};
use crate::support::{data_dir, http_get};

/// Three ports that were free a moment ago, all found at once so they differ.
fn three_free_ports() -> [u16; 3] {
    let [a, b, c, _] = four_free_ports();
    [a, b, c]
}

/// Four ports that were free a moment ago, all found at once so they differ.
fn four_free_ports() -> [u16; 4] {
    let listeners: Vec<std::net::TcpListener> = (0..4)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let port = |index: usize| listeners[index].local_addr().expect("addr").port();
    [port(0), port(1), port(2), port(3)]
}

/// The startup report's line about the `listener` server ("Web", "Telnet", ...).
fn report_line<'a>(server: &'a Process, listener: &str) -> &'a str {
    let name = format!(" {listener} server ");
    server
        .startup
        .iter()
        .find(|line| line.contains(&name))
        .unwrap_or_else(|| panic!("no line about {listener}: {:#?}", server.startup))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_startup_report_gives_the_web_terminal_address_beside_the_other_listeners() {
    let (_keep, dir) = data_dir();
    let [telnet, raw, web, ssh] = four_free_ports();
    let mut command = r0c();
    command
        .arg("--dir")
        .arg(&dir)
        .args(["-i", "127.0.0.1", "-pt", &telnet.to_string()])
        .args(["-pn", &raw.to_string(), "--web", &web.to_string()])
        .args(["-ssh", &ssh.to_string()]);
    let server = Process::launch(command, (telnet, raw));
    assert!(
        report_line(&server, "SSH").ends_with(&format!("SSH server on 127.0.0.1 port {ssh}")),
        "{:#?}",
        server.startup
    );
    // The host key generated on first start, and its fingerprint as `ssh-keygen -lf` shows it
    // (openssh-client, which ./test.sh installs; only outside CI may it be missing).
    match std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(dir.join("ssh_host_ed25519_key"))
        .output()
    {
        Ok(listed) => {
            let listed = String::from_utf8_lossy(&listed.stdout);
            let fingerprint = listed.split_whitespace().nth(1).expect("a fingerprint");
            assert!(
                server
                    .startup
                    .iter()
                    .any(|line| line.ends_with(&format!("fingerprint {fingerprint}"))),
                "{fingerprint}: {:#?}",
                server.startup
            );
        }
        Err(error) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "ssh-keygen (openssh-client) is missing under CI: {error}"
            );
            eprintln!("SKIPPED the host key check: ssh-keygen is not installed here");
        }
    }
    assert!(
        report_line(&server, "Telnet")
            .ends_with(&format!("Telnet server on 127.0.0.1 port {telnet}")),
        "{:#?}",
        server.startup
    );
    assert!(
        report_line(&server, "Web").ends_with(&format!("Web server on 127.0.0.1 port {web}")),
        "{:#?}",
        server.startup
    );
    let page = http_get(SocketAddr::from(([127, 0, 0, 1], web)), "/").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page:.200}");
}

/// Starts the legacy form `r0c TELNET NETCAT PASSWORD` with `home` as `$HOME`, whose
/// `.r0c/r0c.toml` is `file` (it binds 127.0.0.1, which that form cannot say).
fn legacy(home: &Path, file: &str, (telnet, raw): (u16, u16)) -> Process {
    let app_dir = home.join(".r0c");
    std::fs::create_dir_all(&app_dir).expect("app dir");
    std::fs::write(
        app_dir.join("r0c.toml"),
        format!("listen-ip = \"127.0.0.1\"\n{file}"),
    )
    .expect("config file");
    let mut command = r0c();
    command
        .env("HOME", home)
        .args([&telnet.to_string(), &raw.to_string(), "pw"]);
    Process::launch(command, (telnet, raw))
}

#[test]
fn the_legacy_form_starts_no_web_terminal_unless_the_config_file_asks() {
    let home = tempfile::tempdir().expect("home");
    let [telnet, raw, web] = three_free_ports();
    let server = legacy(home.path(), "", (telnet, raw));
    assert!(
        report_line(&server, "Telnet")
            .ends_with(&format!("Telnet server on 127.0.0.1 port {telnet}")),
        "{:#?}",
        server.startup
    );
    assert!(
        report_line(&server, "NetCat").ends_with(&format!("NetCat server on 127.0.0.1 port {raw}")),
        "{:#?}",
        server.startup
    );
    assert!(
        report_line(&server, "Web").ends_with("Web server disabled"),
        "{:#?}",
        server.startup
    );
    // Nor the ssh listener, new in this version too (its line appears only when it is on).
    assert!(
        !server
            .startup
            .iter()
            .any(|line| line.contains(" SSH server ")),
        "{:#?}",
        server.startup
    );
    drop(server);

    let server = legacy(home.path(), &format!("web = {web}\n"), (telnet, raw));
    assert!(
        report_line(&server, "Web").ends_with(&format!("Web server on 127.0.0.1 port {web}")),
        "{:#?}",
        server.startup
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_exempt_on_the_command_line_exempts_its_networks_and_none_exempts_nothing() {
    let (_keep, dir) = data_dir();
    let server = Process::start_with(
        &dir,
        free_ports(),
        &["--limit-exempt", "127.0.0.1/32", "--max-per-ip", "2"],
    );
    assert!(
        server.startup.iter().any(|line| line
            .ends_with("Exempt from the per-address limits: 127.0.0.1/32 (--limit-exempt)")),
        "{:#?}",
        server.startup
    );
    let mut open = Vec::new();
    for number in 0..5 {
        let mut stream = connect_from([127, 0, 0, 1], server.raw).await;
        let (admitted, text) = greeting(&mut stream).await;
        assert!(admitted, "127.0.0.1 #{number}: {text:?}");
        open.push(stream);
    }
    for number in 0..2 {
        let mut stream = connect_from([127, 0, 0, 2], server.raw).await;
        let (admitted, text) = greeting(&mut stream).await;
        assert!(admitted, "127.0.0.2 #{number}: {text:?}");
        open.push(stream);
    }
    let mut third = connect_from([127, 0, 0, 2], server.raw).await;
    assert_eq!(greeting(&mut third).await, (false, too_many_line(2)));
    drop((open, server));

    // `none` takes away the default exemption of loopback too.
    let (_keep, dir) = data_dir();
    let server = Process::start_with(
        &dir,
        free_ports(),
        &["--limit-exempt", "none", "--max-per-ip", "2"],
    );
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = connect_from([127, 0, 0, 1], server.raw).await;
        assert!(greeting(&mut stream).await.0);
        open.push(stream);
    }
    let mut third = connect_from([127, 0, 0, 1], server.raw).await;
    assert_eq!(greeting(&mut third).await, (false, too_many_line(2)));
}

#[test]
fn a_malformed_limit_exempt_is_one_clear_line_and_status_2() {
    let (_keep, dir) = data_dir();
    for (value, expected) in [
        (
            "10.0.0.0/33",
            "'10.0.0.0/33' has a prefix length that is not a number from 0 to 32",
        ),
        (
            "lan",
            "'lan' is not an IP address or a CIDR block like 192.168.0.0/16 or fd00::/8",
        ),
        (
            "none,10.0.0.0/8",
            "'none' exempts nothing and cannot be listed with other networks",
        ),
    ] {
        let output = r0c()
            .arg("--dir")
            .arg(&dir)
            .args(["--limit-exempt", value])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{value}: {stderr}");
        assert_eq!(
            stderr.trim_end(),
            format!("r0c: invalid value '{value}' for '--limit-exempt <CIDR,...>': {expected}")
        );
    }
}
