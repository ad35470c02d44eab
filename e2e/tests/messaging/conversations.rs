//! Conversations as an app shows them, against the real consumer and store: the inbox with last
//! messages and unread counts, read marks that never move back, counts from tallies, and pages
//! by place across the store's page boundaries agreeing with the messages in Kafka's order.

use serde_json::{Value, json};
use wiber_e2e::stack::{Wiber, message_id};
use wiber_e2e::wait::eventually;

use crate::STORED_WITHIN;

async fn inbox(wiber: &Wiber, user: &str) -> Vec<Value> {
    let (status, _, body) = wiber.get(&format!("/conversations?user={user}")).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

fn find<'a>(inbox: &'a [Value], conversation: &str) -> &'a Value {
    inbox
        .iter()
        .find(|c| c["conversationId"] == conversation)
        .unwrap_or_else(|| panic!("{conversation} not in {inbox:?}"))
}

async fn mark_read(wiber: &Wiber, user: &str, conversation: &str, message: &Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/conversations/{conversation}/read?user={user}",
            wiber.api_url
        ))
        .json(&json!({ "messageId": message_id(message) }))
        .send()
        .await
        .expect("POST read");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_shows_last_messages_and_unread_counts_that_read_marks_move_forward_only() {
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    let first = wiber.send("bob", "alice", "hi alice").await;
    wiber.send("bob", "alice", "are you there?").await;
    let reply = wiber.send("alice", "bob", "yes").await;
    wiber.send("bob", "alice", "great").await;
    let latest_bob = wiber.send("bob", "alice", "see you").await;
    let carol = wiber.send("carol", "alice", "hello from carol").await;
    eventually("the inbox of alice", STORED_WITHIN, || async {
        let inbox = inbox(&wiber, "alice").await;
        (inbox.len() == 2 && find(&inbox, "alice:bob")["messageCount"] == 5).then_some(inbox)
    })
    .await;
    let alice = inbox(&wiber, "alice").await;
    // Most recent activity first; what alice has not read is what came after her own reply.
    assert_eq!(alice[0]["conversationId"], "alice:carol");
    assert_eq!(alice[0]["lastMessage"], carol);
    assert_eq!(alice[0]["unreadCount"], 1);
    assert_eq!(alice[0]["peer"], "carol");
    let with_bob = find(&alice, "alice:bob");
    assert_eq!(with_bob["lastMessage"], latest_bob);
    assert_eq!(with_bob["unreadCount"], 2);
    assert_eq!(with_bob["members"], json!(["alice", "bob"]));
    // Bob wrote the last message himself: nothing is unread for him.
    assert_eq!(
        find(&inbox(&wiber, "bob").await, "alice:bob")["unreadCount"],
        0
    );

    let marked = mark_read(&wiber, "alice", "alice:bob", &latest_bob).await;
    assert_eq!(marked["unreadCount"], 0);
    // A mark on an earlier message does not move the mark back.
    let again = mark_read(&wiber, "alice", "alice:bob", &first).await;
    assert_eq!(again["unreadCount"], 0);
    assert_eq!(
        find(&inbox(&wiber, "alice").await, "alice:bob")["unreadCount"],
        0
    );
    // Alice's own message marks nothing for bob.
    mark_read(&wiber, "alice", "alice:bob", &reply).await;
    assert_eq!(
        find(&inbox(&wiber, "bob").await, "alice:bob")["unreadCount"],
        0
    );

    // A message that is not in the conversation, and a stranger: refused, nothing marked.
    let response = reqwest::Client::new()
        .post(format!(
            "{}/conversations/alice:bob/read?user=alice",
            wiber.api_url
        ))
        .json(&json!({ "messageId": message_id(&carol) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "messageId");
    let response = reqwest::Client::new()
        .post(format!(
            "{}/conversations/alice:bob/read?user=carol",
            wiber.api_url
        ))
        .json(&json!({ "messageId": message_id(&first) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(inbox(&wiber, "dave").await.is_empty());

    assert_eq!(wiber.count("?user1=alice").await, 6);
    assert_eq!(wiber.count("?user1=bob&user2=alice").await, 5);
    assert_eq!(wiber.count("").await, 6);
    wiber
        .pipeline()
        .assert_stored_exactly_once(
            &wiber.stored_ids().await.into_iter().collect(),
            STORED_WITHIN,
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_by_place_cross_the_stores_page_boundaries_without_gap_or_overlap() {
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    let mut sent = Vec::new();
    for i in 0..150 {
        let (from, to) = if i % 3 == 0 {
            ("erin", "frank")
        } else {
            ("frank", "erin")
        };
        sent.push(message_id(&wiber.send(from, to, &format!("m{i}")).await));
    }
    eventually("every message counted", STORED_WITHIN, || async {
        (wiber.count("?user1=erin&user2=frank").await == 150).then_some(())
    })
    .await;
    let ids =
        |page: &Value| -> Vec<String> { page.as_array().unwrap().iter().map(message_id).collect() };
    let mut paged = Vec::new();
    let mut path = "/messages/erin/frank?limit=50".to_owned();
    loop {
        let (status, headers, page) = wiber.get(&path).await;
        assert_eq!(status, 200, "{page}");
        paged.extend(ids(&page));
        match headers.get("x-next-cursor") {
            Some(c) => {
                let cursor = c.to_str().unwrap();
                assert!(!cursor.contains('.'), "a cursor by place: {cursor}");
                path = format!("/messages/erin/frank?limit=50&after={cursor}");
            }
            None => break,
        }
        assert!(paged.len() <= 150, "pages past the end");
    }
    assert_eq!(paged, sent);
    for (skip, limit) in [(0, 64), (63, 2), (100, 500), (149, 10), (150, 10)] {
        let (_, _, page) = wiber
            .get(&format!("/messages/erin/frank?skip={skip}&limit={limit}"))
            .await;
        let end = (skip + limit).min(150);
        assert_eq!(
            ids(&page),
            sent[skip.min(150)..end],
            "skip {skip} limit {limit}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_longer_than_its_recent_lists_pages_through_every_conversation_once_newest_first()
{
    use futures::StreamExt;
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    // More conversations than the lists keep in every partition: the first pages come from the
    // lists, the last from the sorted query, and the two must join without a gap or overlap.
    let senders = 3 * wiber_common::readmodel::RECENT_KEPT + 300;
    futures::stream::iter(0..senders)
        .map(|i| {
            let wiber = &wiber;
            async move {
                wiber
                    .send(&format!("fan{i}"), "hub", &format!("m{i}"))
                    .await
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    eventually("every message counted", STORED_WITHIN, || async {
        (wiber.count("?user1=hub").await == senders as u64).then_some(())
    })
    .await;
    let mut listed: Vec<(i64, String)> = Vec::new();
    let mut last_messages: Vec<String> = Vec::new();
    let mut path = "/conversations?user=hub&limit=100".to_owned();
    loop {
        let (status, headers, page) = wiber.get(&path).await;
        assert_eq!(status, 200, "{page}");
        for c in page.as_array().unwrap() {
            let at = c["lastMessage"]["timestamp"].as_i64().unwrap();
            listed.push((at, c["conversationId"].as_str().unwrap().to_owned()));
            last_messages.push(message_id(&c["lastMessage"]));
        }
        match headers.get("x-next-cursor") {
            Some(cursor) => {
                let cursor = cursor.to_str().unwrap();
                path = format!("/conversations?user=hub&limit=100&before={cursor}");
            }
            None => break,
        }
        assert!(listed.len() <= senders, "pages past the end");
    }
    assert!(
        listed.windows(2).all(|w| w[0].0 >= w[1].0),
        "newest activity first throughout"
    );
    // One message per conversation: the user's newest messages are the inbox's last messages, in
    // its order (read from the recent lists too).
    let (status, _, recent) = wiber.get("/messages/user/hub?limit=500").await;
    assert_eq!(status, 200, "{recent}");
    let recent: Vec<String> = recent.as_array().unwrap().iter().map(message_id).collect();
    assert_eq!(recent, last_messages[..500]);
    let mut conversations: Vec<String> = listed.into_iter().map(|(_, c)| c).collect();
    conversations.sort();
    let mut expected: Vec<String> = (0..senders).map(|i| format!("fan{i}:hub")).collect();
    expected.sort();
    assert_eq!(conversations, expected, "each conversation exactly once");
}
