//! The TLS listeners with real TLS clients from Debian, each verifying the generated
//! certificate, going through the wizard and chatting; and the wrong kind of client on each port.

use crate::clients::chat_with;
use crate::support::{TestClient, TestServer, data_dir, test_config};

/// A server with TLS listeners; its generated certificate is `<dir>/cert.crt`.
async fn tls_server(dir: &std::path::Path) -> (TestServer, String) {
    let server = TestServer::start_with_tls(test_config(dir)).await;
    let cafile = dir.join("cert.crt").display().to_string();
    assert!(
        std::path::Path::new(&cafile).exists(),
        "the certificate is saved for clients to trust"
    );
    (server, cafile)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_s_client_verifies_and_chats() {
    let (_keep, dir) = data_dir();
    let (server, cafile) = tls_server(&dir).await;
    let port = server.tls_raw.expect("tls raw").port();
    let args = [
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-CAfile",
        &cafile,
        "-verify_return_error",
        "-quiet",
    ];
    chat_with(&server, "openssl", args.map(String::from).to_vec(), "\n").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socat_openssl_verifies_and_chats() {
    let (_keep, dir) = data_dir();
    let (server, cafile) = tls_server(&dir).await;
    let port = server.tls_raw.expect("tls raw").port();
    let target = format!("OPENSSL:127.0.0.1:{port},cafile={cafile}");
    chat_with(&server, "socat", vec!["-".into(), target], "\n").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ncat_ssl_verifies_and_chats() {
    let (_keep, dir) = data_dir();
    let (server, cafile) = tls_server(&dir).await;
    let port = server.tls_raw.expect("tls raw").port();
    // ncat checks the name it connected to against the certificate's DNS names.
    let args = [
        "--ssl",
        "--ssl-trustfile",
        &cafile,
        "localhost",
        &port.to_string(),
    ];
    chat_with(&server, "ncat", args.map(String::from).to_vec(), "\n").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telnet_ssl_verifies_and_chats_on_the_tls_telnet_port() {
    let (_keep, dir) = data_dir();
    let (server, cafile) = tls_server(&dir).await;
    let port = server.tls_telnet.expect("tls telnet").port();
    let args = [
        "-z",
        "ssl",
        "-z",
        "secure",
        "-z",
        &format!("cacert={cafile}"),
        "127.0.0.1",
        &port.to_string(),
    ];
    chat_with(&server, "telnet-ssl", args.map(String::from).to_vec(), "\n").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_kind_of_client_gets_a_clear_answer_and_others_carry_on() {
    let (_keep, dir) = data_dir();
    let (server, _cafile) = tls_server(&dir).await;
    // Plain text on the TLS port: a readable hint naming the plain port.
    let mut plain = TestClient::connect(server.tls_raw.expect("tls raw")).await;
    plain.send(b"hello?\n").await;
    plain
        .expect(&format!(
            "this port speaks TLS; connect with a TLS client, or without TLS to port {}",
            server.raw.port()
        ))
        .await;
    plain.expect_closed().await;
    // TLS on the plain port: the handshake fails on the client's side, nothing else happens.
    let status = std::process::Command::new("openssl")
        .args(["s_client", "-connect", &server.raw.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(
        !status.success(),
        "a TLS handshake with the plain port fails"
    );
    let mut alice = TestClient::joined(server.raw).await;
    alice.line("/join #g").await;
    alice.line("still fine").await;
    alice.expect("kywmyv still fine").await;
    server.stop().await;
}
