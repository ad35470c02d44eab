//! Groups on the real servers: made, grown and shrunk through Kafka in the conversation's order;
//! their messages reach their members' streams and nobody else's; a removed member reads up to
//! their removal and nothing after it, in pages, inbox and counts alike; and a record that
//! bypasses the API's checks is refused by the consumer in Kafka's order.

use std::time::Duration;

use rdkafka::producer::FutureRecord;
use serde_json::{Value, json};
use wiber_common::group::{Action, Membership};
use wiber_common::message::MessageRecord;
use wiber_e2e::kafka::producer;
use wiber_e2e::sse::SseStream;
use wiber_e2e::stack::{Wiber, message_id};
use wiber_e2e::wait::eventually;

use crate::STORED_WITHIN;

async fn call(
    wiber: &Wiber,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = wiber
        .http
        .request(method, format!("{}{path}", wiber.api_url));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn to_group(wiber: &Wiber, from: &str, group: &str, content: &str) -> (u16, Value) {
    let body = json!({"fromUser": from, "conversationId": group, "content": content});
    let response = wiber.post(&body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn page(wiber: &Wiber, group: &str, user: &str) -> (u16, Vec<String>) {
    let (status, _, body) = wiber
        .get(&format!("/conversations/{group}/messages?user={user}"))
        .await;
    let contents = body
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["content"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    (status.as_u16(), contents)
}

async fn next_content(stream: &mut SseStream) -> Value {
    let event = stream
        .next_message(STORED_WITHIN)
        .await
        .expect("the stream ended");
    let data = event.json();
    // Membership changes arrive typed as such; messages as messages.
    let kind = if data.get("membership").is_some() {
        "membership"
    } else {
        "message"
    };
    assert_eq!(event.event, kind, "{event:?}");
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_changes_in_order_and_a_removed_member_sees_nothing_after_their_removal() {
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    let mut streams = Vec::new();
    for user in ["alice", "bob", "carol", "mallory"] {
        streams.push(wiber.live_stream(None, &format!("user={user}")).await);
    }

    let (status, made) = call(
        &wiber,
        reqwest::Method::POST,
        "/conversations?user=alice",
        Some(json!({"members": ["bob", "carol"], "title": "Trip"})),
    )
    .await;
    assert_eq!(status, 201, "applied within the wait: {made}");
    let group = made["group"]["conversationId"].as_str().unwrap().to_owned();
    assert_eq!(made["group"]["members"], json!(["alice", "bob", "carol"]));
    assert_eq!(made["group"]["owner"], "alice");

    let (status, hello) = to_group(&wiber, "bob", &group, "hello all").await;
    assert_eq!(status, 200, "{hello}");
    assert_eq!(hello["conversationId"], group.as_str());
    assert!(hello.get("toUser").is_none(), "{hello}");
    let (status, refused) = to_group(&wiber, "mallory", &group, "let me in").await;
    assert_eq!(status, 403, "{refused}");

    // Every member's stream gets the group's creation, then bob's message; mallory's nothing.
    for stream in &mut streams[..3] {
        let created = next_content(stream).await;
        assert_eq!(created["membership"]["action"], "created", "{created}");
        assert_eq!(next_content(stream).await["messageId"], hello["messageId"]);
    }
    let direct = wiber.send("dave", "mallory", "just for mallory").await;
    assert_eq!(
        next_content(&mut streams[3]).await["messageId"],
        direct["messageId"],
        "mallory's stream carried the group's messages"
    );

    let (status, removed) = call(
        &wiber,
        reqwest::Method::DELETE,
        &format!("/conversations/{group}/members/carol?user=bob"),
        None,
    )
    .await;
    assert_eq!(status, 403, "only the owner removes: {removed}");
    let (status, removed) = call(
        &wiber,
        reqwest::Method::DELETE,
        &format!("/conversations/{group}/members/carol?user=alice"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["group"]["members"], json!(["alice", "bob"]));
    let (status, after) = to_group(&wiber, "bob", &group, "carol is gone").await;
    assert_eq!(status, 200, "{after}");
    let (status, _) = to_group(&wiber, "carol", &group, "am I still here?").await;
    assert_eq!(status, 403);

    let everything = eventually("bob's page of the group", STORED_WITHIN, || async {
        let (status, contents) = page(&wiber, &group, "bob").await;
        (status == 200 && contents.len() == 4).then_some(contents)
    })
    .await;
    assert_eq!(everything[1], "hello all");
    assert_eq!(everything[2], "alice removed carol");
    assert_eq!(everything[3], "carol is gone");
    let (status, carols) = page(&wiber, &group, "carol").await;
    assert_eq!(status, 200);
    assert_eq!(carols, everything[..3], "carol reads up to her removal");
    assert_eq!(page(&wiber, &group, "mallory").await.0, 403);

    // Carol's stream shows her removal, and nothing after it reaches her.
    let mut carol = streams.remove(2);
    assert_eq!(
        next_content(&mut carol).await["membership"]["action"],
        "removed"
    );
    let direct = wiber.send("dave", "carol", "after the group").await;
    assert_eq!(
        next_content(&mut carol).await["messageId"],
        direct["messageId"]
    );

    // Inboxes: the group with its title; carol's ends at her removal.
    let (_, _, alice) = wiber.get("/conversations?user=alice").await;
    let entry = alice
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["conversationId"] == group.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["title"], "Trip");
    assert_eq!(entry["members"], json!(["alice", "bob"]));
    assert_eq!(entry["messageCount"], 4);
    assert_eq!(
        entry["unreadCount"], 1,
        "bob's last message, after alice's removal of carol"
    );
    assert!(entry.get("peer").is_none(), "{entry}");
    let (_, _, carol_inbox) = wiber.get("/conversations?user=carol").await;
    let entry = carol_inbox
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["conversationId"] == group.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["messageCount"], 3);
    assert_eq!(entry["lastMessage"]["content"], "alice removed carol");

    // A read mark on what carol cannot see names it; on what she can, it moves.
    let (status, answer) = call(
        &wiber,
        reqwest::Method::POST,
        &format!("/conversations/{group}/read?user=carol"),
        Some(json!({"messageId": message_id(&after)})),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    let (status, answer) = call(
        &wiber,
        reqwest::Method::POST,
        &format!("/conversations/{group}/read?user=carol"),
        Some(json!({"messageId": message_id(&hello)})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["unreadCount"], 1);
    // Counts follow what each took part in: carol, three of the group's and dave's message.
    eventually(
        "carol's count with dave's message",
        STORED_WITHIN,
        || async { (wiber.count("?user1=carol").await == 3 + 1).then_some(()) },
    )
    .await;
    assert_eq!(wiber.count("?user1=bob").await, 4);
    // So do their recent messages: carol's, dave's message and the group's up to her removal.
    let (status, _, recent) = wiber.get("/messages/user/carol").await;
    assert_eq!(status, 200, "{recent}");
    let contents: Vec<&str> = recent
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    let mut group_part: Vec<&str> = everything[..3].iter().map(String::as_str).collect();
    group_part.reverse();
    assert_eq!(contents[0], "after the group");
    assert_eq!(
        contents[1..],
        group_part,
        "newest first, nothing after the removal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_refuses_a_groups_record_from_a_non_member_in_kafkas_order() {
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    let (status, made) = call(
        &wiber,
        reqwest::Method::POST,
        "/conversations?user=alice",
        Some(json!({"members": ["bob"]})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let group = made["group"]["conversationId"].as_str().unwrap().to_owned();
    // Records straight to Kafka, as a removal racing a message would leave them: bob leaves, then
    // a message of his, then one from someone never in it.
    let records = [
        MessageRecord {
            message_id: uuid::Uuid::new_v4(),
            from_user: "bob".into(),
            content: "bob left".into(),
            conversation_id: Some(group.clone()),
            membership: Some(Membership {
                action: Action::Left,
                users: vec!["bob".into()],
                title: None,
                limit: None,
            }),
            ..MessageRecord::default()
        },
        MessageRecord {
            message_id: uuid::Uuid::new_v4(),
            from_user: "bob".into(),
            content: "too late".into(),
            conversation_id: Some(group.clone()),
            ..MessageRecord::default()
        },
        MessageRecord {
            message_id: uuid::Uuid::new_v4(),
            from_user: "mallory".into(),
            content: "never a member".into(),
            conversation_id: Some(group.clone()),
            ..MessageRecord::default()
        },
    ];
    let kafka = producer(&wiber.bootstrap);
    for record in &records {
        let payload = serde_json::to_string(record).unwrap();
        kafka
            .send(
                FutureRecord::to(&wiber.topic).key(&group).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .expect("produced");
    }
    let last = wiber
        .post(&json!({"fromUser": "alice", "conversationId": group, "content": "still here"}))
        .await;
    assert_eq!(last.status(), 200);
    let contents = eventually(
        "alice's page with her last message",
        STORED_WITHIN,
        || async {
            let (_, contents) = page(&wiber, &group, "alice").await;
            (contents.last().map(String::as_str) == Some("still here")).then_some(contents)
        },
    )
    .await;
    assert_eq!(contents.len(), 3, "{contents:?}");
    assert_eq!(contents[1], "bob left");
    let letters = crate::faults::dead_letters(&wiber, 2).await;
    let mut reasons: Vec<String> = letters
        .iter()
        .map(|l| l.header("wiber-dlq-reason").to_owned())
        .collect();
    reasons.sort();
    assert!(reasons[0].contains("bob is not a member"), "{reasons:?}");
    assert!(
        reasons[1].contains("mallory is not a member"),
        "{reasons:?}"
    );
}
