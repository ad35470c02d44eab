//! Push delivery through the real API and consumer binaries, Kafka and the store: a message
//! reaches both of its users' streams (on any replica) once Kafka has acknowledged it, ahead of
//! the store; a resumed stream misses and repeats nothing, whether what it missed is stored yet or
//! not; nobody else's stream carries it, and a reader too slow is cut off.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiber_e2e::issuer::{self, AUDIENCE, ISSUER, IssuerKey};
use wiber_e2e::metrics;
use wiber_e2e::mongo_uri;
use wiber_e2e::sse::{SseEvent, SseStream};
use wiber_e2e::stack::{Wiber, message_id};
use wiber_e2e::wait::eventually;

use crate::STORED_WITHIN;

async fn message(stream: &mut SseStream) -> (SseEvent, Value) {
    let event = stream
        .next_message(STORED_WITHIN)
        .await
        .expect("the stream ended");
    assert_eq!(event.event, "message", "{event:?}");
    let body = event.json();
    (event, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_users_see_a_message_and_nobody_else_does() {
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    let mut alice = wiber.live_stream(None, "user=alice").await;
    let mut bob = wiber.live_stream(None, "user=bob").await;
    let mut carol = wiber.live_stream(None, "user=carol").await;

    let sent = wiber.send("alice", "bob", "hi bob").await;
    for s in [&mut alice, &mut bob] {
        let (event, body) = message(s).await;
        assert_eq!(body["messageId"], sent["messageId"]);
        assert_eq!(body["content"], "hi bob");
        assert!(
            event.id.is_some_and(|id| !id.is_empty()),
            "an id to resume from"
        );
    }
    // The history follows: pushed ahead of the store, it reads back once the consumer has it.
    eventually("the pushed message to read back", STORED_WITHIN, || async {
        let (_, _, page) = wiber.get("/messages/alice/bob").await;
        (page[0]["messageId"] == sent["messageId"]).then_some(())
    })
    .await;

    let later = wiber.send("dave", "carol", "hi carol").await;
    let (_, first) = message(&mut carol).await;
    assert_eq!(
        first["messageId"], later["messageId"],
        "carol's stream carried someone else's message first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_posted_to_one_replica_reaches_a_stream_held_by_another() {
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    let (_second, second_url) = wiber.second_api(&[]).await;
    let mut bob = wiber
        .live_stream(Some(&second_url), "user=bob&with=alice")
        .await;
    let sent = wiber.send("alice", "bob", "across replicas").await;
    let (_, body) = message(&mut bob).await;
    assert_eq!(body["messageId"], sent["messageId"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_resumed_in_the_middle_of_a_burst_misses_nothing_and_repeats_nothing() {
    const BURST: usize = 300;
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    let (_second, second_url) = wiber.second_api(&[]).await;
    let mut first = wiber.live_stream(None, "user=alice").await;

    // Six conversations of alice's (over every partition), and others' beside them.
    let sender = futures::stream::iter(0..BURST)
        .map(|i| {
            let wiber = &wiber;
            async move {
                let (from, to) = if i % 4 == 3 {
                    (format!("x{}", i % 5), "y".to_owned())
                } else {
                    (format!("s{}", i % 6), "alice".to_owned())
                };
                let sent = wiber.send(&from, &to, &format!("burst {i}")).await;
                (to == "alice").then(|| message_id(&sent))
            }
        })
        .buffer_unordered(8)
        .filter_map(|id| async move { id })
        .collect::<HashSet<String>>();
    let reader = async {
        let mut seen: Vec<Value> = Vec::new();
        let mut last_id = None;
        while seen.len() < 60 {
            let (event, body) = message(&mut first).await;
            last_id = event.id;
            seen.push(body);
        }
        drop(first);
        (seen, last_id)
    };
    let (expected, (mut seen, last_id)) = tokio::join!(sender, reader);
    // Resumed on the other replica once the burst is over: what it missed comes from the store
    // and, for what the consumer has not stored yet, from that replica's feed.
    let response = wiber
        .open_stream(Some(&second_url), "user=alice", None, last_id.as_deref())
        .await;
    let mut resumed = SseStream::new(response);
    assert_eq!(expected.len(), BURST - BURST / 4);
    let ids = |seen: &[Value]| -> HashSet<String> { seen.iter().map(message_id).collect() };
    while !expected.is_subset(&ids(&seen)) {
        seen.push(message(&mut resumed).await.1);
    }
    assert_eq!(seen.len(), expected.len(), "a message came twice");
    assert_eq!(ids(&seen), expected, "only alice's messages");

    // Each conversation arrived in the store's order, which is Kafka's (once all of it is stored).
    let mut by_peer: HashMap<String, Vec<String>> = HashMap::new();
    for m in &seen {
        let peer = m["fromUser"].as_str().unwrap().to_owned();
        by_peer.entry(peer).or_default().push(message_id(m));
    }
    for (peer, pushed) in by_peer {
        let path = format!("/messages/alice/{peer}?limit=500");
        let stored: Vec<String> = eventually("the burst to be stored", STORED_WITHIN, || async {
            let (_, _, page) = wiber.get(&path).await;
            let stored: Vec<String> = page.as_array()?.iter().map(message_id).collect();
            (stored.len() >= pushed.len()).then_some(stored)
        })
        .await;
        assert_eq!(pushed, stored, "conversation with {peer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_pushed_before_it_is_stored_and_a_resumed_stream_gets_it_from_the_feed() {
    // No consumer yet: nothing is stored until it starts.
    let wiber = Wiber::start().await;
    let (_second, second_url) = wiber.second_api(&[]).await;
    let mut bob = wiber.live_stream(None, "user=bob").await;
    let ready = bob.next(STORED_WITHIN).await.expect("ready");
    assert_eq!(ready.event, "ready");
    let before = ready.id.expect("a ready id");

    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(message_id(
            &wiber.send("alice", "bob", &format!("early {i}")).await,
        ));
    }
    let mut live = Vec::new();
    for _ in 0..3 {
        live.push(message_id(&message(&mut bob).await.1));
    }
    assert_eq!(live, ids, "pushed live, in order, with no consumer running");
    assert_eq!(wiber.count("").await, 0, "nothing is stored yet");

    // A new stream starts where the store stands, so it carries them too: a client that opens
    // its stream and then reads the (empty) history misses none.
    let mut fresh = wiber
        .live_stream(Some(&second_url), "user=bob&with=alice")
        .await;
    let mut carried = Vec::new();
    for _ in 0..3 {
        carried.push(message_id(&message(&mut fresh).await.1));
    }
    assert_eq!(carried, ids, "a new stream's first messages");

    // Resumed from before them, on either replica: the store has none of them, the feed has all.
    for base in [None, Some(second_url.as_str())] {
        let response = wiber
            .open_stream(base, "user=bob&with=alice", None, Some(&before))
            .await;
        let mut resumed = SseStream::new(response);
        let mut replayed = Vec::new();
        for _ in 0..3 {
            replayed.push(message_id(&message(&mut resumed).await.1));
        }
        assert_eq!(replayed, ids, "replayed from the feed ({base:?})");
    }
    assert_eq!(wiber.count("").await, 0, "still nothing stored");

    // Once stored, a stream resumed from the same place replays them from the store, each once.
    let _consumer = wiber.consumer().await;
    eventually("the three to be stored", STORED_WITHIN, || async {
        (wiber.count("").await == 3).then_some(())
    })
    .await;
    let later = wiber.send("alice", "bob", "after the store").await;
    let response = wiber
        .open_stream(Some(&second_url), "user=bob", None, Some(&before))
        .await;
    let mut resumed = SseStream::new(response);
    let mut replayed = Vec::new();
    for _ in 0..4 {
        replayed.push(message_id(&message(&mut resumed).await.1));
    }
    let mut expected = ids.clone();
    expected.push(message_id(&later));
    assert_eq!(replayed, expected, "each once, in order");
}

fn jwt_env(jwks: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("AUTH_MODE", "jwt".to_owned()),
        ("AUTH_ISSUER", ISSUER.to_owned()),
        ("AUTH_AUDIENCE", AUDIENCE.to_owned()),
        ("AUTH_JWKS_FILE", jwks.display().to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_needs_a_valid_token_and_carries_only_its_users_messages() {
    let dir = issuer::key_dir();
    let key = IssuerKey::ed25519(&dir, "k1");
    let forger = IssuerKey::ed25519(&issuer::key_dir(), "k1");
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, issuer::jwks(&[&key])).unwrap();
    let wiber = Wiber::spawn(mongo_uri(), &jwt_env(&jwks)).await;
    wiber.wait_ready().await;
    let _consumer = wiber.consumer().await;
    let (alice, carol) = (
        key.sign(&issuer::claims("alice")),
        key.sign(&issuer::claims("carol")),
    );

    let missing = wiber.open_stream(None, "", None, None).await;
    assert_eq!(missing.status(), 401);
    assert!(
        !missing.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error="),
        "no error code for a missing token"
    );
    let forged = forger.sign(&issuer::claims("alice"));
    for (query, token) in [
        ("", Some(forged.as_str())),
        (&*format!("access_token={forged}"), None),
    ] {
        let r = wiber.open_stream(None, query, token, None).await;
        assert_eq!(r.status(), 401, "forged token via {query:?}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.contains("invalid_token"), "{challenge}");
    }
    let other = wiber
        .open_stream(None, "user=alice", Some(&carol), None)
        .await;
    assert_eq!(other.status(), 403, "carol asking for alice's stream");
    let bad_id = wiber
        .open_stream(None, "", Some(&carol), Some("not-an-id"))
        .await;
    assert_eq!(bad_id.status(), 400);
    let problem: Value = bad_id.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "Last-Event-ID", "{problem}");

    // The browser's way: the token in the query.
    let query = format!("access_token={carol}");
    let mut carols = wiber.live_stream(None, &query).await;
    let mut alices = SseStream::new(wiber.open_stream(None, "", Some(&alice), None).await);
    let to_bob = json!({"toUser": "bob", "content": "for bob only"});
    let sent: Value = wiber
        .http
        .post(format!("{}/messages", wiber.api_url))
        .bearer_auth(&alice)
        .json(&to_bob)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(message(&mut alices).await.1["messageId"], sent["messageId"]);
    let to_carol = json!({"toUser": "carol", "content": "for carol"});
    let later: Value = wiber
        .http
        .post(format!("{}/messages", wiber.api_url))
        .bearer_auth(&alice)
        .json(&to_carol)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        message(&mut carols).await.1["messageId"],
        later["messageId"],
        "carol's stream carried alice and bob's message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_too_slow_is_cut_off_with_its_buffer_bounded_and_told_why() {
    // No rate limit: the sender below posts in bursts.
    let env = [
        ("API_PUSH_BUFFER", "4".to_owned()),
        ("API_RATE_LIMIT_PER_SECOND", "0".to_owned()),
    ];
    let wiber = Wiber::spawn(mongo_uri(), &env).await;
    wiber.wait_ready().await;
    let _consumer = wiber.consumer().await;
    // Opened (and its 200 seen) by a well-behaved client first, so the slow one below is known to
    // find the feed started.
    drop(wiber.live_stream(None, "user=slow").await);

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let address = wiber.api_url.trim_start_matches("http://").parse().unwrap();
    let mut slow = socket.connect(address).await.unwrap();
    slow.write_all(b"GET /messages/stream?user=slow HTTP/1.1\r\nHost: wiber\r\n\r\n")
        .await
        .unwrap();
    // Never read: the kernel's buffers fill, then the stream's own, and the API cuts it off. The
    // sending socket's buffer grows to net.ipv4.tcp_wmem's maximum (4 MiB on Debian), about a
    // thousand of these messages, so they go in bursts to fill it well within the deadline.
    let content = "x".repeat(4000);
    let cut = eventually("the slow reader cut off", STORED_WITHIN, || async {
        futures::future::join_all((0..50).map(|_| wiber.send("fast", "slow", &content))).await;
        let cut = metrics::metric(
            &wiber.http,
            &wiber.admin_url,
            "wiber_api_push_disconnects_total",
            &[("reason", "slow_reader")],
        )
        .await
        .unwrap_or(0.0);
        (cut >= 1.0).then_some(cut)
    })
    .await;
    assert_eq!(cut, 1.0);

    let mut received = Vec::new();
    let mut chunk = vec![0; 65536];
    let deadline = tokio::time::Instant::now() + STORED_WITHIN;
    let told = loop {
        let n = tokio::time::timeout_at(deadline, slow.read(&mut chunk))
            .await
            .expect("the stream's end within the deadline")
            .expect("read");
        received.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&received);
        if n == 0 || text.contains("slow_reader") {
            break text.contains("slow_reader");
        }
    };
    assert!(told, "the stream ended without saying why");
    let streams = metrics::metric(&wiber.http, &wiber.admin_url, "wiber_api_push_streams", &[])
        .await
        .unwrap();
    assert_eq!(streams, 0.0, "the cut stream still counts as open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_replica_fails_readiness_then_tells_its_streams_to_reconnect() {
    let delay = ("API_SHUTDOWN_DELAY_MS", "1500".to_owned());
    let mut wiber = Wiber::spawn(mongo_uri(), &[delay]).await;
    wiber.wait_ready().await;
    let mut open = wiber.live_stream(None, "user=alice").await;
    wiber.api.signal("TERM");
    let readiness = format!("{}/health/readiness", wiber.admin_url);
    let stopping: Value = eventually(
        "readiness to fail while stopping",
        STORED_WITHIN,
        || async {
            let r = wiber.http.get(&readiness).send().await.ok()?;
            (r.status() == 503).then_some(r.json().await.ok()?)
        },
    )
    .await;
    assert_eq!(stopping["status"], "stopping");
    let end = open
        .next_message(STORED_WITHIN)
        .await
        .expect("an end event before the response ends");
    assert_eq!(
        (end.event.as_str(), end.json()["reason"].as_str()),
        ("end", Some("shutting_down"))
    );
    let retry = end.retry.expect("a reconnection time, spread");
    assert!((1_000..5_000).contains(&retry), "retry: {retry}");
    assert_eq!(
        wiber.api.wait_exit(Duration::from_secs(10)),
        Some(0),
        "the API stopped at once after its streams, not after its drain"
    );
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to `GET /messages/ws?<query>` once the feed has started, and returns the socket and
/// its `ready` frame.
async fn socket(wiber: &Wiber, query: &str) -> (Socket, Value) {
    let url = format!(
        "{}/messages/ws?{query}",
        wiber.api_url.replace("http://", "ws://")
    );
    let mut socket = eventually("a WebSocket to open", STORED_WITHIN, || async {
        tokio_tungstenite::connect_async(&url)
            .await
            .ok()
            .map(|(s, _)| s)
    })
    .await;
    let ready = frame(&mut socket).await;
    assert_eq!(ready["type"], "ready", "{ready}");
    (socket, ready)
}

async fn frame(socket: &mut Socket) -> Value {
    use tokio_tungstenite::tungstenite::Message as Frame;
    loop {
        let next = tokio::time::timeout(STORED_WITHIN, socket.next())
            .await
            .expect("a frame in time")
            .expect("the socket ended")
            .expect("a frame");
        match next {
            Frame::Text(text) => return serde_json::from_str(&text).expect("JSON frame"),
            Frame::Close(close) => panic!("closed: {close:?}"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_carries_the_same_messages_and_resumes_after_an_id() {
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    let plain = wiber
        .http
        .get(format!("{}/messages/ws?user=bob", wiber.api_url))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 400, "a GET without Upgrade");

    let (mut bob, _) = socket(&wiber, "user=bob").await;
    let first = wiber.send("alice", "bob", "over a socket").await;
    let pushed = frame(&mut bob).await;
    assert_eq!(pushed["type"], "message");
    assert_eq!(pushed["message"]["messageId"], first["messageId"]);
    bob.close(None).await.unwrap();

    let second = wiber.send("alice", "bob", "while away").await;
    let after = pushed["id"].as_str().unwrap();
    let (mut again, ready) = socket(&wiber, &format!("user=bob&after={after}")).await;
    assert_eq!(ready["id"], after);
    let replayed = frame(&mut again).await;
    assert_eq!(
        replayed["message"]["messageId"], second["messageId"],
        "the message sent while away, and not the one before it"
    );
}
