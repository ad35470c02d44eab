//! Slow, idle and vanished clients against the real API: cut off by the read timeout (headers,
//! body, and the wait for the next request), refused past the connection cap, and unable to hold
//! up a SIGTERM.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use wiber_e2e::mongo_uri;
use wiber_e2e::stack::Wiber;

/// Whether the server closes (or resets) the connection within `within`.
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    read_until_closed(stream, within).1
}

fn connect(wiber: &Wiber, partial_headers: bool) -> TcpStream {
    let mut stream =
        TcpStream::connect(wiber.api_url.trim_start_matches("http://")).expect("connect");
    if partial_headers {
        stream
            .write_all(b"POST /messages HTTP/1.1\r\nHost: wiber\r\nContent-Type: app")
            .expect("partial headers");
    }
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_and_connections_past_the_cap_refused() {
    let limits = [
        ("API_READ_TIMEOUT_MS", "1000".to_owned()),
        ("API_MAX_CONNECTIONS", "8".to_owned()),
    ];
    let wiber = Wiber::spawn(mongo_uri(), &limits).await;
    wiber.wait_ready().await;

    // Half send part of their headers and stop, half send nothing: all are cut off, while a
    // well-behaved client is still served.
    let mut slow: Vec<TcpStream> = (0..6).map(|i| connect(&wiber, i % 2 == 0)).collect();
    wiber
        .send("alice", "bob", "served beside slow clients")
        .await;
    for (i, stream) in slow.iter_mut().enumerate() {
        assert!(
            closed_by_server(stream, Duration::from_secs(6)),
            "slow connection {i} still open"
        );
    }

    // Past the cap, connections are closed at once (well before the read timeout would).
    let mut held: Vec<TcpStream> = (0..12).map(|_| connect(&wiber, false)).collect();
    let refused = held
        .iter_mut()
        .map(|s| closed_by_server(s, Duration::from_millis(300)))
        .filter(|closed| *closed)
        .count();
    assert!(refused >= 4, "only {refused} of 12 refused with a cap of 8");
    drop(held);
    // Once they are gone, clients are served again.
    wiber.send("alice", "bob", "served after the flood").await;
}

/// Everything the server sends on `stream` until it closes it, or what came within `within`.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("read timeout");
    let deadline = Instant::now() + within;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return (received, true),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (received, true),
        }
    }
    (received, false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_gone_silent_mid_body_or_after_an_answer_are_closed_and_free_their_slots() {
    let limits = [
        ("API_READ_TIMEOUT_MS", "1000".to_owned()),
        ("API_MAX_CONNECTIONS", "4".to_owned()),
    ];
    let wiber = Wiber::spawn(mongo_uri(), &limits).await;
    // Ready by the admin port, so no pooled connection of the test's client takes a public slot.
    let readiness = format!("{}/health/readiness", wiber.admin_url);
    wiber_e2e::wait::eventually("the API ready", Duration::from_secs(60), || async {
        let answer = wiber.http.get(&readiness).send().await.ok()?;
        (answer.status() == 200).then_some(())
    })
    .await;
    let address = wiber.api_url.trim_start_matches("http://").to_owned();

    // A peer that vanishes without a FIN (a phone leaving coverage, a NAT dropping the flow)
    // looks to the server like one that stops sending: two stop half-way through a body...
    let mut silent: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(&address).expect("connect");
            let head = "POST /messages HTTP/1.1\r\nHost: wiber\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n";
            stream
                .write_all(format!("{head}{{\"fromUser\":\"alice\"").as_bytes())
                .expect("partial body");
            stream
        })
        .collect();
    // ...and two after their first answer, leaving the keep-alive connection open.
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&address).expect("connect");
        stream
            .write_all(b"GET /health/liveness HTTP/1.1\r\nHost: wiber\r\n\r\n")
            .expect("request");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        let mut answer = [0u8; 512];
        let n = stream.read(&mut answer).expect("an answer");
        assert!(
            answer[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            &answer[..n]
        );
        silent.push(stream);
    }

    // All four slots are held; the read timeout frees them, and nothing is stored of the bodies.
    for (i, stream) in silent.iter_mut().enumerate() {
        let (received, closed) = read_until_closed(stream, Duration::from_secs(6));
        assert!(closed, "silent connection {i} still open");
        let text = String::from_utf8_lossy(&received);
        if i < 2 {
            assert!(
                text.starts_with("HTTP/1.1 408"),
                "mid-body peer {i} got {text:?}"
            );
        } else {
            assert!(text.is_empty(), "idle peer {i} got {text:?}");
        }
    }
    let served = wiber
        .send("alice", "bob", "served once the slots are free")
        .await;
    let _consumer = wiber.consumer().await;
    let ids = [wiber_e2e::stack::message_id(&served)].into();
    wiber
        .assert_stored_exactly_once(&ids, Duration::from_secs(60))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_connections_cannot_keep_the_api_from_stopping_on_sigterm() {
    let limits = [
        ("API_READ_TIMEOUT_MS", "60000".to_owned()),
        ("API_SHUTDOWN_DRAIN_MS", "2000".to_owned()),
    ];
    let mut wiber = Wiber::spawn(mongo_uri(), &limits).await;
    wiber.wait_ready().await;
    let _held: Vec<TcpStream> = (0..20).map(|i| connect(&wiber, i % 2 == 0)).collect();
    wiber.send("alice", "bob", "last words").await;
    // Drain (2 s) plus the producer's flush (at most 10 s) and start-up slack.
    assert_eq!(wiber.api.terminate(Duration::from_secs(15)), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_from_a_frozen_store_are_answered_503_within_the_request_timeout() {
    let store = wiber_e2e::stack::OwnStore::start().await;
    // The store's own per-operation limit is far off: the whole-request timeout must answer.
    let limits = [
        ("API_REQUEST_TIMEOUT_MS", "1000".to_owned()),
        ("MONGO_TIMEOUT_MS", "60000".to_owned()),
    ];
    let wiber = Wiber::spawn(store.uri(), &limits).await;
    wiber.wait_ready().await;
    let (status, _, _) = wiber.get("/messages/alice/bob").await;
    assert_eq!(status, 200);

    store.freeze();
    let started = Instant::now();
    let (status, headers, body) = wiber.get("/messages/alice/bob").await;
    let took = started.elapsed();
    store.thaw();
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(body["title"], "Read timed out");
    assert!(
        took < Duration::from_secs(3),
        "answered after {took:?} with a 1 s timeout"
    );
    // Thawed, the same read is served again.
    wiber_e2e::wait::eventually("reads after the thaw", Duration::from_secs(30), || async {
        (wiber.get("/messages/alice/bob").await.0 == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_the_admin_port_and_not_on_the_public_one() {
    let wiber = Wiber::start().await;
    wiber.send("alice", "bob", "counted").await;
    assert_eq!(wiber.get("/metrics").await.0, 404, "public /metrics");
    let text = wiber_e2e::metrics::scrape(&wiber.http, &wiber.admin_url)
        .await
        .expect("admin /metrics");
    assert!(
        text.contains(r#"route="/messages",status="200""#),
        "the send is not counted on the admin port:\n{text}"
    );
    for path in ["/health/liveness", "/health/readiness"] {
        let url = format!("{}{path}", wiber.admin_url);
        let status = wiber.http.get(url).send().await.map(|r| r.status());
        assert_eq!(status.ok(), Some(reqwest::StatusCode::OK), "{path}");
    }
}
