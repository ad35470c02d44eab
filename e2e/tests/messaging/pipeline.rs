//! The whole contract through HTTP, end to end: the real API and consumer binaries against the
//! real local Kafka and MongoDB-protocol server.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use wiber_e2e::stack::{Wiber, message_id};
use wiber_e2e::wait::eventually;

use crate::STORED_WITHIN;

fn ids(messages: &[Value]) -> Vec<String> {
    messages.iter().map(message_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_reads_back_in_send_order_with_gapless_pages_and_counts() {
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;

    // Alternate directions and include the size limits and non-ASCII text.
    let mut contents: Vec<String> = (0..57).map(|i| format!("message {i}")).collect();
    contents[3] = "x".repeat(4000);
    contents[4] = "é".repeat(5000);
    contents[5] = "こんにちは 👋 — ünïcödé".into();
    let mut sent = Vec::new();
    for (i, content) in contents.iter().enumerate() {
        let (from, to) = if i % 2 == 0 {
            ("alice", "bob")
        } else {
            ("bob", "alice")
        };
        sent.push(wiber.send(from, to, content).await);
    }
    for i in 0..5 {
        wiber.send("alice", "carol", &format!("other {i}")).await;
    }
    let total = sent.len() as u64 + 5;
    eventually("every message stored", STORED_WITHIN, || async {
        (wiber.count("").await == total).then_some(())
    })
    .await;

    // The whole conversation in one page: exactly what the API acknowledged, in send order.
    let (status, _, all) = wiber.get("/messages/bob/alice?limit=500").await;
    assert_eq!(status, 200);
    let all = all.as_array().unwrap().clone();
    assert_eq!(
        all, sent,
        "stored messages differ from the acknowledged ones or their order"
    );
    assert_eq!(all[4]["content"].as_str().unwrap().chars().count(), 5000);

    // Cursor pages of 10: no overlap, no gap, same order.
    let mut paged = Vec::new();
    let mut path = "/messages/alice/bob?limit=10".to_owned();
    for _ in 0..10 {
        let (status, headers, page) = wiber.get(&path).await;
        assert_eq!(status, 200);
        paged.extend(page.as_array().unwrap().iter().cloned());
        match headers.get("x-next-cursor") {
            Some(c) => path = format!("/messages/alice/bob?limit=10&after={}", c.to_str().unwrap()),
            None => break,
        }
    }
    assert_eq!(ids(&paged), ids(&sent));

    // skip/limit pages agree with the cursor pages.
    let (_, _, skipped) = wiber.get("/messages/alice/bob?limit=10&skip=50").await;
    assert_eq!(ids(skipped.as_array().unwrap()), ids(&sent[50..]));

    // A user's messages, newest first, across conversations.
    let (_, _, recent) = wiber.get("/messages/user/alice?limit=7").await;
    let recent = recent.as_array().unwrap();
    assert_eq!(recent.len(), 7);
    assert!(recent[..5].iter().all(|m| m["toUser"] == "carol"));
    assert_eq!(recent[5], sent[56]);
    let stamps: Vec<i64> = recent
        .iter()
        .map(|m| m["timestamp"].as_i64().unwrap())
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] >= w[1]),
        "not newest first: {stamps:?}"
    );

    assert_eq!(wiber.count("?user1=alice").await, total);
    assert_eq!(wiber.count("?user1=bob").await, sent.len() as u64);
    assert_eq!(wiber.count("?user1=carol&user2=alice").await, 5);
    assert_eq!(wiber.count("?user1=nobody").await, 0);
    let (_, _, body) = wiber.get("/messages/count?user1=alice&user2=bob").await;
    assert_eq!(
        body,
        json!({"count": sent.len(), "user1": "alice", "user2": "bob"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_get_4xx_naming_the_field_and_store_nothing() {
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    let cases = [
        (json!({"toUser": "b", "content": "c"}), "fromUser"),
        (
            json!({"fromUser": 5, "toUser": "b", "content": "c"}),
            "fromUser",
        ),
        (
            json!({"fromUser": "a", "toUser": "b c", "content": "c"}),
            "toUser",
        ),
        (
            json!({"fromUser": "a".repeat(51), "toUser": "b", "content": "c"}),
            "fromUser",
        ),
        (
            json!({"fromUser": "a", "toUser": "b", "content": ""}),
            "content",
        ),
        (
            json!({"fromUser": "a", "toUser": "b", "content": "ü".repeat(5001)}),
            "content",
        ),
        (
            json!({"fromUser": "a", "toUser": "b", "content": "c", "sentAt": 1}),
            "sentAt",
        ),
        (json!("just a string"), "body"),
    ];
    for (body, field) in cases {
        let response = wiber.post(&body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let malformed = wiber
        .http
        .post(format!("{}/messages", wiber.api_url))
        .header("content-type", "application/json")
        .body("{\"fromUser\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let oversize = wiber
        .http
        .post(format!("{}/messages", wiber.api_url))
        .header("content-type", "application/json")
        .body(vec![b' '; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(oversize.status(), 413);
    for path in [
        "/messages/a/b?limit=0",
        "/messages/a/b?after=x",
        "/messages/a%20b/c",
        "/messages/count?user2=x%20y",
    ] {
        assert_eq!(wiber.get(path).await.0, 400, "{path}");
    }

    // A valid message after all that is the only one stored.
    let ok = wiber.send("a", "b", "valid").await;
    eventually("the valid message stored", STORED_WITHIN, || async {
        (wiber.count("").await == 1).then_some(())
    })
    .await;
    let (_, _, conversation) = wiber.get("/messages/a/b").await;
    assert_eq!(conversation, json!([ok]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_with_one_idempotency_key_are_stored_once() {
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    let send = |key: &'static str| {
        wiber
            .http
            .post(format!("{}/messages", wiber.api_url))
            .header("Idempotency-Key", key)
            .json(&json!({"fromUser": "alice", "toUser": "bob", "content": "pay 10€"}))
            .send()
    };
    // Two quick retries (possibly before the first is stored) and one after it is stored.
    let first: Value = send("order-17").await.unwrap().json().await.unwrap();
    let second: Value = send("order-17").await.unwrap().json().await.unwrap();
    assert_eq!(first["messageId"], second["messageId"]);
    eventually("the message stored", STORED_WITHIN, || async {
        (wiber.count("").await == 1).then_some(())
    })
    .await;
    let third: Value = send("order-17").await.unwrap().json().await.unwrap();
    assert_eq!(third["messageId"], first["messageId"]);
    let other: Value = send("order-18").await.unwrap().json().await.unwrap();
    assert_ne!(other["messageId"], first["messageId"]);

    let expected: HashSet<String> = [first, other].iter().map(message_id).collect();
    wiber
        .assert_stored_exactly_once(&expected, STORED_WITHIN)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_timestamp_is_the_brokers_and_matches_what_is_stored() {
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    let before = now_millis();
    let sent = wiber.send("alice", "bob", "when?").await;
    let after = now_millis();
    let ts = sent["timestamp"].as_i64().unwrap();
    assert!(
        (before - 1000..=after + 1000).contains(&ts),
        "{ts} not within [{before}, {after}]"
    );
    let stored = eventually("the message stored", STORED_WITHIN, || async {
        let (_, _, page) = wiber.get("/messages/alice/bob").await;
        page.as_array().and_then(|p| p.first().cloned())
    })
    .await;
    assert_eq!(stored, sent);
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_unreachable_answers_503_with_retry_after_and_reports_not_ready() {
    use wiber_e2e::process::{Process, binary, free_port};
    // Nothing listens on the bootstrap port: the broker is down.
    let port = free_port();
    let env: Vec<(String, String)> = [
        (
            "KAFKA_BOOTSTRAP_SERVERS",
            format!("127.0.0.1:{}", free_port()),
        ),
        ("KAFKA_PRODUCE_TIMEOUT_MS", "1500".to_owned()),
        ("MONGO_URI", wiber_e2e::mongo_uri()),
        ("API_HOST", "127.0.0.1".to_owned()),
        ("API_PORT", port.to_string()),
        ("API_ADMIN_PORT", free_port().to_string()),
        ("AUTH_MODE", "none".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let api = Process::spawn(binary("wiber-api"), &[], &env, "api-no-kafka");
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}");
    let readiness = eventually("the API to answer", Duration::from_secs(30), || async {
        let r = http
            .get(format!("{url}/health/readiness"))
            .send()
            .await
            .ok()?;
        Some((r.status(), r.json::<Value>().await.ok()?))
    })
    .await;
    assert_eq!(readiness.0, 503);
    assert_eq!(readiness.1["kafka"], "disconnected", "{}", readiness.1);

    let response = http
        .post(format!("{url}/messages"))
        .json(&json!({"fromUser": "alice", "toUser": "bob", "content": "lost?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem.get("messageId").is_none(),
        "a failed send must not look sent: {problem}"
    );
    // librdkafka never reached a broker, so the message is known not to be in Kafka.
    assert_eq!(problem["type"], "about:blank", "{problem}");
    drop(api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_consumer_exit_cleanly_on_sigterm() {
    let mut wiber = Wiber::start().await;
    let mut consumer = wiber.consumer().await;
    wiber.send("alice", "bob", "last words").await;
    assert_eq!(wiber.api.terminate(Duration::from_secs(20)), Some(0));
    assert_eq!(consumer.process.terminate(Duration::from_secs(30)), Some(0));
    assert!(
        consumer
            .process
            .log_text()
            .contains("stored offsets committed")
    );
}
