//! The inbox and read marks: what each answers, how they page, and every refusal named by field.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use wiber_common::readmodel::{InboxEntry, LastMessage, placed};

use crate::fakes::*;

const READ_ID: &str = "6c0c5b1a-8a3e-4a53-9f0a-0d3c6f6b2a11";

fn entry(user: &str, conversation: &str, count: i64, read: i64, at: i64) -> InboxEntry {
    let (a, b) = conversation.split_once(':').unwrap();
    InboxEntry {
        id: InboxEntry::id_of(user, conversation),
        user: user.into(),
        conversation_id: conversation.into(),
        members: vec![a.into(), b.into()],
        title: None,
        count,
        read_seq: read,
        last: Some(LastMessage {
            message_id: READ_ID.into(),
            from_user: a.into(),
            to_user: b.into(),
            content: format!("last of {conversation}"),
            timestamp: at,
            seq: count,
        }),
        last_timestamp: at,
        last_partition: 1,
        last_offset: at,
    }
}

fn store() -> FakeStore {
    let store = FakeStore {
        messages: vec![placed(stored(READ_ID, "alice", "bob", "hi", 7), 4)],
        ..FakeStore::default()
    };
    *store.inbox.lock().unwrap() = vec![
        entry("alice", "alice:bob", 5, 1, 100),
        entry("alice", "alice:carol", 2, 2, 300),
        entry("alice", "alice:dave", 9, 0, 200),
        entry("bob", "alice:bob", 5, 5, 100),
    ];
    store
}

fn mark(path: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn the_inbox_lists_the_users_conversations_newest_first_with_unread_counts() {
    let s = state(FakeProducer::default(), store());
    let (status, headers, body) = call(router(&s), get("/conversations?user=alice&limit=2")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = (body.as_array().unwrap().iter())
        .map(|c| c["conversationId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alice:carol", "alice:dave"]);
    assert_eq!(body[0]["peer"], "carol");
    assert_eq!(body[0]["members"], json!(["alice", "carol"]));
    assert_eq!(body[0]["unreadCount"], 0);
    assert_eq!(body[1]["unreadCount"], 9);
    assert_eq!(body[1]["messageCount"], 9);
    assert_eq!(body[1]["lastMessage"]["content"], "last of alice:dave");
    // A full page: the cursor is the last entry's activity, and the next page starts before it.
    let cursor = headers["x-next-cursor"].to_str().unwrap().to_owned();
    assert_eq!(cursor, "200.1.200");
    let link = headers[header::LINK].to_str().unwrap();
    assert!(link.contains(&format!("before={cursor}")), "{link}");
    call(
        router(&s),
        get(&format!("/conversations?user=alice&before={cursor}")),
    )
    .await;
    let asked = s.store.inbox_pages.lock().unwrap().last().cloned().unwrap();
    assert_eq!(asked.0, "alice");
    assert_eq!(asked.1.map(|c| c.encode()), Some(cursor));
    assert_eq!(asked.2, 20, "the default page");

    let (_, headers, body) = call(router(&s), get("/conversations?user=bob")).await;
    assert_eq!(body.as_array().unwrap().len(), 1);
    assert!(
        headers.get("x-next-cursor").is_none(),
        "a short page is the last"
    );
}

#[tokio::test]
async fn the_inbox_names_each_bad_parameter() {
    let s = state(FakeProducer::default(), store());
    let (status, _, body) = call(
        router(&s),
        get("/conversations?user=al%20ice&limit=0&before=x"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut named = fields(&body);
    named.sort();
    assert_eq!(named, ["before", "limit", "user"]);
    let (status, _, body) = call(router(&s), get("/conversations")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&body), ["user"], "AUTH_MODE=none needs whose");
    let (status, _, body) = call(router(&s), get("/conversations?user=a&page=2")).await;
    assert_eq!(
        (status, fields(&body)),
        (StatusCode::BAD_REQUEST, vec!["page".to_owned()])
    );
}

#[tokio::test]
async fn a_read_mark_answers_the_conversation_with_its_new_unread_count() {
    let s = state(FakeProducer::default(), store());
    let path = "/conversations/alice:bob/read?user=alice";
    let (status, _, body) = call(router(&s), mark(path, json!({ "messageId": READ_ID }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["conversationId"], "alice:bob");
    let reversed = "/conversations/bob:alice/read?user=alice";
    let (status, _, body) = call(router(&s), mark(reversed, json!({ "messageId": READ_ID }))).await;
    assert_eq!(
        (status, &body["conversationId"]),
        (StatusCode::OK, &json!("alice:bob"))
    );
    assert_eq!(
        (body["messageCount"].as_i64(), body["unreadCount"].as_i64()),
        (Some(5), Some(1))
    );
}

#[tokio::test]
async fn a_read_mark_names_what_is_wrong_and_refuses_non_members() {
    let s = state(FakeProducer::default(), store());
    let other = "0d3c6f6b-8a3e-4a53-9f0a-6c0c5b1a2a11";
    let cases = [
        (
            "/conversations/alice/read?user=alice",
            json!({ "messageId": READ_ID }),
            vec!["conversationId"],
        ),
        (
            "/conversations/alice:bob/read?user=alice",
            json!({ "messageId": "x", "extra": 1 }),
            vec!["extra", "messageId"],
        ),
        (
            "/conversations/alice:bob/read?user=alice",
            json!({}),
            vec!["messageId"],
        ),
        (
            "/conversations/alice:bob/read",
            json!({ "messageId": READ_ID }),
            vec!["user"],
        ),
    ];
    for (path, body, wanted) in cases {
        let (status, _, answer) = call(router(&s), mark(path, body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        let mut named = fields(&answer);
        named.sort();
        assert_eq!(named, wanted, "{path} {body}");
    }
    // Well-formed, but not a message of this conversation: 422, nothing marked.
    let path = "/conversations/alice:bob/read?user=alice";
    let (status, _, answer) = call(router(&s), mark(path, json!({ "messageId": other }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(fields(&answer), ["messageId"]);
    assert_eq!(
        s.store.inbox.lock().unwrap()[0].read_seq,
        1,
        "nothing marked"
    );
    let (status, _, answer) = call(
        router(&s),
        mark(
            "/conversations/alice:bob/read?user=carol",
            json!({ "messageId": READ_ID }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(
        !answer.to_string().contains("hi"),
        "nothing of the conversation: {answer}"
    );
}

#[tokio::test]
async fn a_history_pages_wrong_cursors_are_named() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let page = |query: &str| {
        get(&format!(
            "/conversations/alice:bob/messages?user=alice&{query}"
        ))
    };
    for (query, field) in [
        ("before=x", "before"),
        ("before=1.2.3", "before"),
        ("newest=yes", "newest"),
    ] {
        let (status, _, body) = call(router(&s), page(query)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(fields(&body), [field], "{query}: {body}");
    }
}
