//! POST /messages when Kafka fails and when an Idempotency-Key is reused: what the client is
//! told must match what can end up stored.

use axum::http::{StatusCode, header};
use serde_json::{Value, json};
use wiber_api::error::OUTCOME_UNKNOWN_TYPE;
use wiber_common::message::{idempotency_key_id, idempotent_message_id};

use crate::fakes::*;

fn message(content: &str) -> Value {
    json!({"fromUser": "alice", "toUser": "bob", "content": content})
}

fn produced_contents(s: &State) -> Vec<String> {
    let sent = s.producer.sent.lock().unwrap();
    sent.iter().map(|(_, r)| r.content.clone()).collect()
}

#[tokio::test]
async fn kafka_down_is_503_with_retry_after_and_no_message() {
    let s = state(
        FakeProducer::failing(Failure::NotSent),
        FakeStore::default(),
    );
    let body = json!({"fromUser": "a", "toUser": "b", "content": "c"});
    let (status, headers, answer) = call(router(&s), post(body.to_string())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "5");
    assert!(answer.get("messageId").is_none());
    assert_eq!(answer["type"], "about:blank");
    assert!(answer["detail"].as_str().unwrap().contains("was not sent"));
    assert!(
        !answer.to_string().contains("MessageTimedOut"),
        "internals leaked: {answer}"
    );
}

#[tokio::test]
async fn a_produce_that_may_have_been_written_is_never_called_not_sent() {
    let s = state(
        FakeProducer::failing(Failure::Unknown),
        FakeStore::default(),
    );
    let (status, headers, answer) = call(router(&s), post_keyed("k-unknown", &message("hi"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "5");
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(answer["type"], OUTCOME_UNKNOWN_TYPE);
    let detail = answer["detail"].as_str().unwrap();
    assert!(!detail.contains("not sent"), "{detail}");
    assert!(detail.contains("same Idempotency-Key"), "{detail}");
    let id = idempotent_message_id("alice", "k-unknown", "bob", "hi");
    assert_eq!(answer["messageId"], id.to_string());
    assert!(
        !answer.to_string().contains("MessageTimedOut"),
        "internals leaked: {answer}"
    );

    // The retry under the same key produces the same id again, so the consumer stores it once.
    *s.producer.failure.lock().unwrap() = None;
    let (status, _, answer) = call(router(&s), post_keyed("k-unknown", &message("hi"))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["messageId"], id.to_string());
    let sent = s.producer.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.message_id, id);
}

#[tokio::test]
async fn an_unkeyed_message_with_an_unknown_outcome_names_its_id_so_it_can_be_looked_for() {
    let s = state(
        FakeProducer::failing(Failure::Unknown),
        FakeStore::default(),
    );
    let (status, _, answer) = call(router(&s), post(message("hi").to_string())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer["type"], OUTCOME_UNKNOWN_TYPE);
    let id: uuid::Uuid = answer["messageId"].as_str().unwrap().parse().unwrap();
    assert!(!id.is_nil());
}

#[tokio::test]
async fn idempotent_retry_returns_the_stored_message_without_producing_again() {
    let id = idempotent_message_id("alice", "retry-1", "bob", "hi");
    let first = stored(&id.to_string(), "alice", "bob", "hi", 7);
    let store = FakeStore::default();
    store.keys.lock().unwrap().insert(
        idempotency_key_id("alice", "retry-1").to_string(),
        (id.to_string(), Some((first.offset, first.timestamp))),
    );
    let s = state(FakeProducer::default(), store);
    let (status, _, answer) = call(router(&s), post_keyed("retry-1", &message("hi"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["messageId"], id.to_string());
    assert_eq!(answer["timestamp"], first.timestamp);
    assert!(s.producer.sent.lock().unwrap().is_empty());

    let (status, _, answer) = call(
        router(&s),
        post_keyed("retry-1", &message("something else")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&answer), ["Idempotency-Key"]);
}

#[tokio::test]
async fn idempotency_key_not_yet_stored_produces_with_the_derived_id() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let (status, _, answer) = call(router(&s), post_keyed("k-42", &message("c"))).await;
    assert_eq!(status, StatusCode::OK);
    let expected = idempotent_message_id("alice", "k-42", "bob", "c");
    assert_eq!(answer["messageId"], expected.to_string());

    let (status, _, answer) = call(router(&s), post_keyed("has space", &message("c"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&answer), ["Idempotency-Key"]);
}

#[tokio::test]
async fn a_reused_key_is_refused_before_the_first_message_is_stored() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let (status, _, first) = call(router(&s), post_keyed("k-7", &message("first"))).await;
    assert_eq!(status, StatusCode::OK);
    // Nothing is in the message store yet: the reservation alone refuses the second body.
    let (status, _, answer) = call(router(&s), post_keyed("k-7", &message("second"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["code"], "idempotency_conflict");
    assert_eq!(fields(&answer), ["Idempotency-Key"]);
    // The first body again gets the first answer, without a second produce.
    let (status, _, again) = call(router(&s), post_keyed("k-7", &message("first"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first);
    assert_eq!(produced_contents(&s), ["first"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_under_one_key_acknowledge_only_the_content_that_won_it() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let requests = (0..40).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            let body = message(&format!("body {}", i % 4));
            call(router(&s), post_keyed("contended", &body)).await
        })
    });
    let answers = futures::future::join_all(requests).await;
    let mut acknowledged = Vec::new();
    for answer in answers {
        let (status, _, body) = answer.unwrap();
        match status {
            StatusCode::OK => acknowledged.push(body),
            StatusCode::UNPROCESSABLE_ENTITY => assert_eq!(fields(&body), ["Idempotency-Key"]),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(!acknowledged.is_empty());
    let winner = &acknowledged[0]["content"];
    assert!(acknowledged.iter().all(|a| a["content"] == *winner));
    assert!(
        acknowledged
            .iter()
            .all(|a| a["messageId"] == acknowledged[0]["messageId"])
    );
    // Every produced copy carries the winning content (and so the id the consumer stores once).
    let produced = produced_contents(&s);
    assert!(!produced.is_empty());
    assert!(produced.iter().all(|c| c == winner.as_str().unwrap()));
}

#[tokio::test]
async fn idempotent_send_still_works_when_the_store_cannot_be_asked() {
    let s = state(
        FakeProducer::default(),
        FakeStore {
            down: true,
            ..Default::default()
        },
    );
    let (status, _, answer) = call(router(&s), post_keyed("k-1", &message("c"))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(s.producer.sent.lock().unwrap().len(), 1);
    // Without the reservation the id still follows the content, so it is the stored one.
    let expected = idempotent_message_id("alice", "k-1", "bob", "c");
    assert_eq!(answer["messageId"], expected.to_string());
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_arrives_is_408_naming_the_body_and_nothing_is_produced() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let stalled = futures::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
    let request = axum::http::Request::post("/messages")
        .header(header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from_stream(stalled))
        .unwrap();
    let (status, _, answer) = call(router(&s), request).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{answer}");
    assert_eq!(fields(&answer), ["body"]);
    assert!(s.producer.sent.lock().unwrap().is_empty());
}
