//! Signals on the real servers: a member's typing reaches the other members' streams as a
//! `typing` event and never the typer's, is never replayed to a resuming stream, and a stranger
//! cannot send one; a read mark reaches the members as a `receipt` event, and everyone's marks read
//! back, and a stream resuming from before a receipt gets it again from the store; every kind
//! arrives typed over SSE and WebSocket alike.

use futures::StreamExt;
use serde_json::{Value, json};
use wiber_e2e::sse::{SseEvent, SseStream};
use wiber_e2e::stack::{Wiber, message_id};
use wiber_e2e::wait::eventually;

use crate::STORED_WITHIN;

async fn call(wiber: &Wiber, post: bool, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}{path}", wiber.api_url);
    let mut request = if post {
        wiber.http.post(url)
    } else {
        wiber.http.get(url)
    };
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The next event but the group's creation, which a stream opened just after it may carry first
/// (pushed, and not yet announced stored to this replica).
async fn next(stream: &mut SseStream) -> SseEvent {
    loop {
        let event = stream
            .next_message(STORED_WITHIN)
            .await
            .expect("the stream ended");
        if event.event != "membership" {
            return event;
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_and_receipts_reach_the_other_members_live_and_typing_is_never_replayed() {
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    let (status, made) = call(
        &wiber,
        true,
        "/conversations?user=alice",
        Some(json!({"members": ["bob", "carol"]})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let group = made["group"]["conversationId"].as_str().unwrap().to_owned();
    let mut alice = wiber.live_stream(None, "user=alice").await;
    let opened = wiber.open_stream(None, "user=bob", None, None).await;
    let mut bob = SseStream::new(opened);
    let ready = bob.next(STORED_WITHIN).await.expect("ready");
    let before = ready.id.clone().expect("ready has an id");
    let ws_url = format!(
        "{}/messages/ws?user=carol",
        wiber.api_url.replace("http://", "ws://")
    );
    let (mut carol, _) = tokio_tungstenite::connect_async(&ws_url)
        .await
        .expect("WebSocket");

    let (status, typing) = call(
        &wiber,
        true,
        &format!("/conversations/{group}/typing?user=alice"),
        None,
    )
    .await;
    assert_eq!(status, 202, "{typing}");
    assert!(typing["expiresAt"].as_i64().unwrap() > now_ms(), "{typing}");
    let (status, _) = call(
        &wiber,
        true,
        &format!("/conversations/{group}/typing?user=mallory"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let event = next(&mut bob).await;
    assert_eq!(event.event, "typing", "{event:?}");
    assert_eq!(event.json()["user"], "alice");
    assert_eq!(event.json()["conversationId"], group.as_str());

    let (status, hi) = call(
        &wiber,
        true,
        "/messages",
        Some(json!({"fromUser": "alice", "conversationId": group, "content": "hi"})),
    )
    .await;
    assert_eq!(status, 200, "{hi}");
    let event = next(&mut bob).await;
    assert_eq!(
        (event.event.as_str(), event.json()["messageId"].clone()),
        ("message", hi["messageId"].clone())
    );
    // The typer's own stream skips her typing: its first event is her message.
    assert_eq!(next(&mut alice).await.json()["messageId"], hi["messageId"]);

    // Carol's WebSocket: the same events, typed, each with its data under its own name.
    let mut frames = Vec::new();
    while frames.len() < 2 {
        use tokio_tungstenite::tungstenite::Message as Frame;
        let frame = tokio::time::timeout(STORED_WITHIN, carol.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Frame::Text(text) = frame {
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame["type"] != "ready" && frame["type"] != "membership" {
                frames.push(frame);
            }
        }
    }
    assert_eq!(frames[0]["type"], "typing", "{frames:?}");
    assert_eq!(frames[0]["typing"]["user"], "alice");
    assert_eq!(frames[1]["type"], "message");
    assert_eq!(frames[1]["message"]["content"], "hi");

    // Bob reads it once it is stored (pushed ahead of the store, it is unknown until then): every
    // member's stream hears of it, and the marks read back.
    let mark = format!("/conversations/{group}/read?user=bob");
    let marked = eventually(
        "bob's mark on the stored message",
        STORED_WITHIN,
        || async {
            let body = json!({"messageId": message_id(&hi)});
            let (status, marked) = call(&wiber, true, &mark, Some(body)).await;
            (status == 200).then_some(marked)
        },
    )
    .await;
    assert_eq!(marked["unreadCount"], 0, "{marked}");
    let receipt = next(&mut alice).await;
    assert_eq!(receipt.event, "receipt", "{receipt:?}");
    assert_eq!(receipt.json()["user"], "bob");
    assert_eq!(
        receipt.json()["readSeq"],
        2,
        "the group's creation is place 1, hi place 2"
    );
    assert_eq!(receipt.json()["messageId"], hi["messageId"]);
    let (status, reads) = call(
        &wiber,
        false,
        &format!("/conversations/{group}/reads?user=carol"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{reads}");
    assert_eq!(
        reads,
        json!([
            {"user": "alice", "readSeq": 2},
            {"user": "bob", "readSeq": 2},
            {"user": "carol", "readSeq": 0},
        ])
    );
    let (status, _) = call(
        &wiber,
        false,
        &format!("/conversations/{group}/reads?user=mallory"),
        None,
    )
    .await;
    assert_eq!(status, 403);

    // Bob resumes from before the typing: he gets the message again, and the receipt, never the
    // typing.
    let resumed = wiber
        .open_stream(None, "user=bob", None, Some(&before))
        .await;
    let mut resumed = SseStream::new(resumed);
    let first = next(&mut resumed).await;
    assert_eq!(first.event, "message", "{first:?}");
    assert_eq!(first.json()["messageId"], hi["messageId"]);

    // In a 1:1 conversation, only the peer hears it.
    let (status, _) = call(
        &wiber,
        true,
        "/conversations/bob:alice/typing?user=alice",
        None,
    )
    .await;
    assert_eq!(status, 202);
    let event = next(&mut bob).await;
    assert_eq!(
        event.event, "receipt",
        "bob's own mark reaches his stream too"
    );
    let event = next(&mut bob).await;
    assert_eq!(event.event, "typing", "{event:?}");
    assert_eq!(event.json()["conversationId"], "alice:bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_is_kept_once_and_replayed_from_the_store_to_a_stream_resuming_from_before_it() {
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    let mut alice = wiber.live_stream(None, "user=alice").await;
    let ready = alice.next(STORED_WITHIN).await.expect("ready");
    let before = ready.id.clone().expect("ready has an id");
    let (status, hi) = call(
        &wiber,
        true,
        "/messages",
        Some(json!({"fromUser": "alice", "toUser": "bob", "content": "hi"})),
    )
    .await;
    assert_eq!(status, 200, "{hi}");
    let mark = "/conversations/alice:bob/read?user=bob";
    eventually(
        "bob's mark on the stored message",
        STORED_WITHIN,
        || async {
            let body = json!({"messageId": message_id(&hi)});
            (call(&wiber, true, mark, Some(body)).await.0 == 200).then_some(())
        },
    )
    .await;
    assert_eq!(next(&mut alice).await.event, "message");
    assert_eq!(next(&mut alice).await.event, "receipt");

    // Once the group has committed it, it is stored, and a new replica's feed starts past it.
    let (bootstrap, group, topic) = (
        wiber.bootstrap.clone(),
        wiber.group.clone(),
        wiber.topic.clone(),
    );
    eventually("the receipt committed", STORED_WITHIN, || {
        let (bootstrap, group, topic) = (bootstrap.clone(), group.clone(), topic.clone());
        async move {
            let done = tokio::task::spawn_blocking(move || {
                wiber_e2e::kafka::committed_all(&bootstrap, &group, &topic)
            });
            done.await.unwrap().then_some(())
        }
    })
    .await;
    let kept = mongodb::Client::with_uri_str(&wiber.mongo_uri)
        .await
        .unwrap()
        .database(&wiber.db)
        .collection::<mongodb::bson::Document>("messages_changes")
        .count_documents(mongodb::bson::doc! { "signal.kind": "receipt" })
        .await
        .unwrap();
    assert_eq!(kept, 1, "the receipt is kept once");

    let (_second, url) = wiber.second_api(&[]).await;
    // A new replica answers 503 to streams until its feed has started.
    let resumed = eventually(
        "the new replica to serve streams",
        STORED_WITHIN,
        || async {
            let r = wiber
                .open_stream(Some(&url), "user=alice", None, Some(&before))
                .await;
            (r.status() == 200).then_some(r)
        },
    )
    .await;
    let mut resumed = SseStream::new(resumed);
    let first = next(&mut resumed).await;
    assert_eq!(first.json()["messageId"], hi["messageId"], "{first:?}");
    let receipt = next(&mut resumed).await;
    assert_eq!(receipt.event, "receipt", "{receipt:?}");
    assert_eq!(receipt.json()["user"], "bob");
    assert_eq!(receipt.json()["readSeq"], 1);
    assert_eq!(receipt.json()["messageId"], hi["messageId"]);
}
