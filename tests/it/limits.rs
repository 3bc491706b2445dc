//! Connection limits and timeouts: per-address caps, the connection rate, the networks
//! exempt from both (loopback by default), silent connections and clients that stop reading.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

use r0c::front::admission::Exemptions;

use crate::support::{PATIENCE, TestClient, TestServer, data_dir, test_config};

/// What a client is told when refused for having too many connections open (at most 2 or 16
/// here).
pub(crate) fn too_many_line(limit: usize) -> String {
    format!(
        "\r\nr0c: too many connections from your address (at most {limit} at a time); close one and try again (the operator can raise the limit with --max-per-ip or exempt your network with --limit-exempt)\r\n"
    )
}

/// How a connection began: admitted (the wizard's first screen, with the text it asks for,
/// arrived) or refused (the server closed it), with everything it received. Nothing depends
/// on timing: the wait ends at one or the other, and [`PATIENCE`] only bounds a hang.
pub(crate) async fn greeting(stream: &mut TcpStream) -> (bool, String) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if text.contains("qwer asdf") {
            return (true, text);
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (false, text),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!("neither admitted nor refused; got {text:?}"),
        }
    }
}

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
pub(crate) async fn connect_from(source: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind a loopback source address");
    socket.connect(server).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_500_connections_from_one_address_16_get_in_and_the_rest_are_told_why() {
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    // Loopback is exempt by default; without that, it is one address like any other.
    config.limit_exempt = Exemptions::none();
    let server = TestServer::start_with(config).await;
    let mut streams = Vec::new();
    for _ in 0..500 {
        streams.push(TcpStream::connect(server.raw).await.expect("connect"));
    }
    let mut admitted = 0;
    let mut refused = 0;
    for stream in &mut streams {
        let (text, closed) = read_all(stream, Duration::from_millis(300)).await;
        if closed {
            assert_eq!(text, too_many_line(16));
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
    config.limit_exempt = Exemptions::none();
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
        "\r\nr0c: too many new connections from your address (at most 5 per 10 minutes); wait a few minutes (the operator can raise the limit with --conn-rate or exempt your network with --limit-exempt)\r\n"
    );
    let mut elsewhere = connect_from([127, 0, 0, 3], server.telnet).await;
    let (text, closed) = read_all(&mut elsewhere, Duration::from_millis(300)).await;
    assert!(!closed && text.contains("qwer asdf"), "{text:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_is_exempt_by_default_from_the_per_address_cap_and_the_rate() {
    let (_keep, dir) = data_dir();
    // The defaults: 16 at a time and 32 new per 10 minutes per address, loopback exempt.
    let server = TestServer::start(&dir).await;
    let mut streams = Vec::new();
    for (index, source) in [[127, 0, 0, 1], [127, 0, 0, 2]].into_iter().enumerate() {
        for number in 0..40 {
            let port = if number % 2 == 0 {
                server.raw
            } else {
                server.telnet
            };
            let mut stream = connect_from(source, port).await;
            let (admitted, text) = greeting(&mut stream).await;
            assert!(admitted, "connection {index}/{number} refused: {text:?}");
            streams.push(stream);
        }
    }
    // 80 at once from loopback, and all still served.
    let mut client = TestClient::joined(server.raw).await;
    client.line("/join #exempt").await;
    client.expect("has joined").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_exempt_networks_skip_the_limits_and_other_addresses_keep_them() {
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.max_per_ip = 2;
    config.conn_rate = 3;
    config.limit_exempt = "10.0.0.0/8,127.0.0.0/16".parse().expect("list");
    let server = TestServer::start_with(config).await;
    let mut streams = Vec::new();
    for source in [[127, 0, 0, 1], [127, 0, 9, 9]] {
        for number in 0..6 {
            let mut stream = connect_from(source, server.raw).await;
            let (admitted, text) = greeting(&mut stream).await;
            assert!(admitted, "{source:?} #{number} refused: {text:?}");
            streams.push(stream);
        }
    }
    // 127.1.0.1 is outside 127.0.0.0/16: two at a time, then the refusal that says how the
    // operator lifts it.
    for _ in 0..2 {
        let mut stream = connect_from([127, 1, 0, 1], server.raw).await;
        assert!(greeting(&mut stream).await.0);
        streams.push(stream);
    }
    let mut third = connect_from([127, 1, 0, 1], server.raw).await;
    assert_eq!(greeting(&mut third).await, (false, too_many_line(2)));
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
async fn a_quiet_client_is_not_taken_for_stalled_by_a_clock_tick_after_the_stall_timeout() {
    // The clock ticks every 5 s; with a stall timeout of 1 s, each tick's frame comes after
    // a quiet spell longer than the timeout. A client that reads must survive every one of
    // them (the tick's output used to be measured from before the spell, and a client was
    // dropped whenever the stall timer won the race against the write).
    let (_keep, dir) = data_dir();
    let mut config = test_config(&dir);
    config.stall_timeout = Duration::from_secs(1);
    let server = TestServer::start_with(config).await;
    let mut quiet = TestClient::joined(server.raw).await;
    quiet.line("/join #calm").await;
    quiet.expect("has joined").await;
    for round in 0..2 {
        // Two ticks in every round, read as they come.
        quiet.read_for(Duration::from_secs(11)).await;
        quiet.line(&format!("still here {round}")).await;
        quiet.expect(&format!("still here {round}")).await;
    }
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
