//! Connection limits and timeouts: per-address caps, the connection rate, silent connections
//! and clients that stop reading.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{PATIENCE, TestClient, TestServer, data_dir, test_config};

/// Everything the server sends until it closes the connection, or until `wait` passes.
async fn read_all(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&received).into(), true),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&received).into(), false),
        }
    }
}

/// Connects from a chosen loopback source address.
async fn connect_from(source: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind a loopback source address");
    socket.connect(server).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_500_connections_from_one_address_16_get_in_and_the_rest_are_told_why() {
    let (_keep, dir) = data_dir();
    let server = TestServer::start(&dir).await;
    let mut streams = Vec::new();
    for _ in 0..500 {
        streams.push(TcpStream::connect(server.raw).await.expect("connect"));
    }
    let mut admitted = 0;
    let mut refused = 0;
    for stream in &mut streams {
        let (text, closed) = read_all(stream, Duration::from_millis(300)).await;
        if closed {
            assert_eq!(
                text,
                "\r\nr0c: too many connections from your address (at most 16 at a time); close one and try again\r\n"
            );
            refused += 1;
        } else {
            assert!(text.contains("qwer asdf"), "{text:?}");
            admitted += 1;
        }
    }
    assert_eq!((admitted, refused), (16, 484));

    // Another address is not affected, and a place that frees up can be taken again.
    let mut other = connect_from([127, 0, 0, 2], server.raw).await;
    let (text, closed) = read_all(&mut other, Duration::from_millis(300)).await;
    assert!(!closed && text.contains("qwer asdf"), "{text:?}");
    streams.clear();
    let mut client = TestClient::joined(server.raw).await;
    client.line("/join #after").await;
    client.expect("has joined").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_new_connections_per_ten_minutes_are_refused_per_address() {
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.conn_rate = 5;
    let server = TestServer::start_with(config).await;
    for _ in 0..5 {
        let mut stream = TcpStream::connect(server.raw).await.expect("connect");
        let (text, closed) = read_all(&mut stream, Duration::from_millis(200)).await;
        assert!(!closed && text.contains("qwer asdf"), "{text:?}");
    }
    let mut sixth = TcpStream::connect(server.raw).await.expect("connect");
    let (text, closed) = read_all(&mut sixth, PATIENCE).await;
    assert!(closed);
    assert_eq!(
        text,
        "\r\nr0c: too many new connections from your address (at most 5 per 10 minutes); wait a few minutes\r\n"
    );
    let mut elsewhere = connect_from([127, 0, 0, 3], server.telnet).await;
    let (text, closed) = read_all(&mut elsewhere, Duration::from_millis(300)).await;
    assert!(!closed && text.contains("qwer asdf"), "{text:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_closed_with_a_word() {
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.first_input_timeout = Duration::from_secs(1);
    let server = TestServer::start_with(config).await;
    let mut silent = TcpStream::connect(server.raw).await.expect("connect");
    let (text, closed) = read_all(&mut silent, PATIENCE).await;
    assert!(closed, "{text:?}");
    assert!(
        text.ends_with("\r\nr0c: nothing received for 1 seconds; closing the connection\r\n"),
        "{text:?}"
    );
    // Someone who types in time is not affected.
    let mut typist = TestClient::joined(server.raw).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    typist.line("/join #still").await;
    typist.expect("has joined").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_nobody_waits_for_it() {
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.stall_timeout = Duration::from_secs(2);
    let server = TestServer::start_with(config).await;
    let mut speaker = TestClient::joined(server.raw).await;
    speaker.line("/join #g").await;
    speaker.expect("has joined").await;

    // The stalled client's socket takes in little, so the server soon has to hold its output.
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let stream = socket.connect(server.raw).await.expect("connect");
    let mut stalled = TestClient::from_stream(stream);
    stalled.wizard().await;
    stalled.expect("> ").await;
    stalled.report_size(250, 50).await;
    stalled.line("/join #g").await;
    stalled.expect("#g").await;
    let stalled_nick = "yyryyd";
    speaker.expect(&format!("{stalled_nick} has joined")).await;

    // From now on the stalled client reads nothing while 1000 long messages flow.
    let mut observer = TestClient::joined(server.raw).await;
    observer.line("/join #g").await;
    observer.expect("has joined").await;
    let line = "x".repeat(200);
    for batch in 0..100 {
        let mut lines = String::new();
        for index in 0..10 {
            lines.push_str(&format!("{batch:03}-{index} {line}\n"));
        }
        speaker.send(lines.as_bytes()).await;
        // The speaker reads its own screen, or it would be dropped as stalled too.
        speaker.drain(Duration::from_millis(5)).await;
    }
    observer.expect("099-9 xxx").await;
    // Chat goes on until the server gives up on the stalled client, which happens once its
    // output has not moved for the stall timeout (2 s here).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let left = format!("{stalled_nick} has left");
    let mut index = 0;
    while !observer.screen().contains(&left) {
        assert!(tokio::time::Instant::now() < deadline, "never dropped");
        // Long lines (eight rows each on the stalled client's screen) fill its buffers soon.
        speaker
            .line(&format!("later {index} {}", line.repeat(10)))
            .await;
        index += 1;
        observer.read_for(Duration::from_millis(100)).await;
        speaker.drain(Duration::from_millis(1)).await;
    }
    drop(stalled);
    server.stop().await;
}
