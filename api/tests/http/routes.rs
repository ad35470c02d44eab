//! Validation, error shapes, pagination headers, health, metrics and the OpenAPI document.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

use wiber_api::store::{CountScope, PageCursor};
use wiber_api::{admin, app};
use wiber_common::message::StoredMessage;

use crate::fakes::*;

#[tokio::test]
async fn valid_message_is_produced_under_its_conversation_key_and_returned_with_the_broker_time() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let body = json!({"fromUser": "bob", "toUser": "alice", "content": "héllo 👋"});
    let (status, _, answer) = call(app(s.clone()), post(body.to_string())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["fromUser"], "bob");
    assert_eq!(answer["toUser"], "alice");
    assert_eq!(answer["content"], "héllo 👋");
    assert_eq!(answer["timestamp"], BROKER_TIME + 1);
    let id: uuid::Uuid = answer["messageId"].as_str().unwrap().parse().unwrap();
    let sent = s.producer.sent.lock().unwrap();
    assert_eq!(sent[0].0, "alice:bob");
    assert_eq!(sent[0].1.message_id, id);
}

#[tokio::test]
async fn a_body_without_content_type_is_accepted_like_the_original_api() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let request = Request::post("/messages")
        .body(Body::from(r#"{"fromUser":"a","toUser":"b","content":"c"}"#))
        .unwrap();
    assert_eq!(call(app(s), request).await.0, StatusCode::OK);
}

#[tokio::test]
async fn every_validation_rule_answers_400_naming_the_field() {
    let long_user = "u".repeat(51);
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("{".into(), vec!["body"]),
        ("[1,2]".into(), vec!["body"]),
        (
            json!({"toUser": "b", "content": "c"}).to_string(),
            vec!["fromUser"],
        ),
        (
            json!({"fromUser": 1, "toUser": "b", "content": "c"}).to_string(),
            vec!["fromUser"],
        ),
        (
            json!({"fromUser": "a", "toUser": null, "content": "c"}).to_string(),
            vec!["toUser"],
        ),
        (
            json!({"fromUser": "a", "toUser": "b", "content": "c", "extra": 1}).to_string(),
            vec!["extra"],
        ),
        (
            json!({"fromUser": long_user, "toUser": "b", "content": "c"}).to_string(),
            vec!["fromUser"],
        ),
        (
            json!({"fromUser": "a b", "toUser": "b/c", "content": "c"}).to_string(),
            vec!["fromUser", "toUser"],
        ),
        (
            json!({"fromUser": "", "toUser": "b", "content": "c"}).to_string(),
            vec!["fromUser"],
        ),
        (
            json!({"fromUser": "a", "toUser": "b", "content": ""}).to_string(),
            vec!["content"],
        ),
        (
            json!({"fromUser": "a", "toUser": "b", "content": "é".repeat(5001)}).to_string(),
            vec!["content"],
        ),
        // fromUser may come from the token, so an absent one is judged after the body.
        (json!({}).to_string(), vec!["toUser", "content"]),
        // A key given twice is named, not silently resolved to its last value.
        (
            r#"{"fromUser":"a","toUser":"b","content":"x","content":"y","toUser":"c"}"#.into(),
            vec!["content", "toUser"],
        ),
    ];
    for (body, expected) in cases {
        let s = state(FakeProducer::default(), FakeStore::default());
        let (status, headers, answer) = call(app(s.clone()), post(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(answer["status"], 400);
        assert_eq!(fields(&answer), expected, "{body}: {answer}");
        assert!(
            s.producer.sent.lock().unwrap().is_empty(),
            "invalid message was produced"
        );
    }
}

#[tokio::test]
async fn content_limits_count_characters_so_5000_multibyte_characters_pass() {
    for content in [
        "x".repeat(4000),
        "x".repeat(5000),
        "ü".repeat(5000),
        "😀".repeat(5000),
    ] {
        let s = state(FakeProducer::default(), FakeStore::default());
        let body = json!({"fromUser": "a", "toUser": "b", "content": content});
        let (status, _, answer) = call(app(s), post(body.to_string())).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(
            answer["content"].as_str().unwrap().chars().count(),
            content.chars().count()
        );
    }
}

#[tokio::test]
async fn oversize_body_is_413_and_wrong_media_type_is_415() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let huge = format!(
        r#"{{"fromUser":"a","toUser":"b","content":"{}"}}"#,
        "x".repeat(70_000)
    );
    let (status, _, answer) = call(app(s.clone()), post(huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(fields(&answer), ["body"]);

    let request = Request::post("/messages")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(r#"{"fromUser":"a","toUser":"b","content":"c"}"#))
        .unwrap();
    let (status, _, answer) = call(app(s), request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(fields(&answer), ["Content-Type"]);
}

#[tokio::test]
async fn full_conversation_page_carries_the_next_cursor() {
    let messages: Vec<StoredMessage> = (0..3)
        .map(|i| stored(&uuid::Uuid::new_v4().to_string(), "alice", "bob", "m", i))
        .collect();
    let s = state(
        FakeProducer::default(),
        FakeStore {
            messages,
            ..Default::default()
        },
    );
    let (status, headers, answer) = call(app(s.clone()), get("/messages/bob/alice?limit=2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer.as_array().unwrap().len(), 2);
    let cursor = headers["x-next-cursor"].to_str().unwrap().to_owned();
    assert_eq!(cursor, format!("{}.1.1", BROKER_TIME + 1));
    assert!(
        headers[header::LINK]
            .to_str()
            .unwrap()
            .contains(&format!("after={cursor}"))
    );

    let (_, headers, _) = call(
        app(s.clone()),
        get(&format!(
            "/messages/alice/bob?limit=2&after={cursor}&skip=1"
        )),
    )
    .await;
    let page = s.store.pages.lock().unwrap().last().cloned().unwrap();
    assert_eq!(page.conversation_id, "alice:bob");
    assert_eq!(page.skip, 1);
    assert!(
        matches!(page.after, Some(PageCursor::Position(c)) if c.offset == 1),
        "a message without a place pages by position: {:?}",
        page.after
    );
    assert!(headers.get("x-next-cursor").is_some());

    let (_, headers, _) = call(app(s), get("/messages/alice/bob?limit=50")).await;
    assert!(
        headers.get("x-next-cursor").is_none(),
        "a short page is the last one"
    );
}

#[tokio::test]
async fn bad_path_and_query_values_answer_400_naming_them() {
    let cases = [
        ("/messages/alice/bob?limit=0", vec!["limit"]),
        ("/messages/alice/bob?limit=501", vec!["limit"]),
        ("/messages/alice/bob?limit=ten", vec!["limit"]),
        ("/messages/alice/bob?skip=-1", vec!["skip"]),
        ("/messages/alice/bob?after=garbage", vec!["after"]),
        ("/messages/alice/bob?limit=5&limit=6", vec!["limit"]),
        ("/messages/alice/bob?page=2", vec!["page"]),
        ("/messages/al%20ice/bob", vec!["user1"]),
        ("/messages/alice/b%3Ab?limit=0", vec!["user2", "limit"]),
        ("/messages/user/a%20b", vec!["username"]),
        ("/messages/user/alice?limit=1000", vec!["limit"]),
        ("/messages/count?user1=a%21", vec!["user1"]),
        ("/messages/count?user2=a%21", vec!["user2"]),
        // Cursors and event ids are exactly as the document's patterns spell them.
        ("/messages/alice/bob?after=%2B1.2.3", vec!["after"]),
        (
            "/messages/alice/bob?after=1.2.0000000000000000003",
            vec!["after"],
        ),
        ("/messages/stream?user=alice&after=0:1,x", vec!["after"]),
    ];
    for (uri, expected) in cases {
        let s = state(FakeProducer::default(), FakeStore::default());
        let (status, _, answer) = call(app(s), get(uri)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(fields(&answer), expected, "{uri}: {answer}");
    }
}

#[tokio::test]
async fn count_scopes_follow_the_given_users() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let (_, _, all) = call(app(s.clone()), get("/messages/count")).await;
    assert_eq!(all, json!({"count": 0, "user1": null, "user2": null}));
    let (_, _, one) = call(app(s.clone()), get("/messages/count?user1=bob")).await;
    assert_eq!(one["user1"], "bob");
    call(app(s.clone()), get("/messages/count?user1=bob&user2=alice")).await;
    // One user under either name is that user's messages.
    let (_, _, alone) = call(app(s.clone()), get("/messages/count?user2=carol")).await;
    assert_eq!(alone, json!({"count": 0, "user1": "carol", "user2": null}));
    assert_eq!(
        *s.store.counts.lock().unwrap(),
        [
            CountScope::All,
            CountScope::User("bob".into()),
            CountScope::Conversation("alice:bob".into()),
            CountScope::User("carol".into()),
        ]
    );
}

#[tokio::test]
async fn a_store_outage_fails_reads_but_leaves_the_api_ready_to_accept_messages() {
    let s = state(
        FakeProducer::default(),
        FakeStore {
            down: true,
            ..Default::default()
        },
    );
    let (status, headers, _) = call(app(s.clone()), get("/messages/alice/bob")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "5");
    let (status, _, body) = call(app(s.clone()), get("/health/readiness")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"status": "ready", "kafka": "connected", "mongodb": "disconnected"})
    );
    let (_, _, metrics) = call(admin(s), get("/metrics")).await;
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.contains("\nwiber_api_store_up 0\n"), "{metrics}");

    let s = state(FakeProducer::default(), FakeStore::default());
    let (status, _, body) = call(app(s.clone()), get("/health/readiness")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"status": "ready", "kafka": "connected", "mongodb": "connected"})
    );
    let (_, _, metrics) = call(admin(s.clone()), get("/metrics")).await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("\nwiber_api_store_up 1\n")
    );
    let (_, _, body) = call(app(s), get("/health/liveness")).await;
    assert_eq!(body, json!({"status": "alive"}));
}

#[tokio::test]
async fn unknown_routes_and_methods_get_problem_json() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let (status, headers, body) = call(app(s.clone()), get("/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(body["status"], 404);
    let request = Request::delete("/messages").body(Body::empty()).unwrap();
    let (status, _, body) = call(app(s), request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["status"], 405);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_not_raw_path() {
    let s = state(FakeProducer::default(), FakeStore::default());
    call(app(s.clone()), get("/messages/alice/bob")).await;
    call(app(s.clone()), get("/messages/alice/bob?limit=0")).await;
    let (status, headers, body) = call(admin(s), get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = body.as_str().unwrap();
    for line in [
        r#"wiber_api_http_requests_total{method="GET",route="/messages/{user1}/{user2}",status="200"} 1"#,
        r#"wiber_api_http_requests_total{method="GET",route="/messages/{user1}/{user2}",status="400"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(!text.contains("alice"), "raw path leaked into labels");
    assert!(text.contains("wiber_api_http_requests_in_flight"));
}

#[tokio::test]
async fn metrics_are_served_on_the_admin_port_only_with_the_kubelets_health_checks() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let (status, _, body) = call(app(s.clone()), get("/metrics")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "public /metrics: {body}");
    for path in ["/metrics", "/health/liveness", "/health/readiness"] {
        assert_eq!(
            call(admin(s.clone()), get(path)).await.0,
            StatusCode::OK,
            "{path}"
        );
    }
    // The admin port serves nothing else: no messages leave through it.
    let (status, _, _) = call(admin(s), get("/messages/alice/bob")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_read_slower_than_the_request_timeout_is_answered_503_in_time() {
    let store = FakeStore {
        delay: Some(Duration::from_secs(30)),
        ..FakeStore::default()
    };
    let mut s = state(FakeProducer::default(), store);
    Arc::get_mut(&mut s).unwrap().request_timeout = Duration::from_millis(200);
    let started = std::time::Instant::now();
    let (status, headers, body) = call(app(s.clone()), get("/messages/alice/bob")).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(body["title"], "Read timed out");
    assert_eq!(body["code"], "read_timeout");
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    // Sends are not cut off by it: their outcome must be reported as it is.
    let sent = call(
        app(s.clone()),
        post(r#"{"fromUser":"alice","toUser":"bob","content":"hi"}"#),
    )
    .await;
    assert_eq!(sent.0, StatusCode::OK, "{}", sent.2);
}

#[tokio::test]
async fn the_browsable_reference_is_served_on_the_served_document_with_nothing_fetched() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let page = raw(router(&s), get("/docs/")).await;
    assert_eq!(page.0, StatusCode::OK);
    assert!(page.1.contains("swagger-ui"), "{}", page.1);
    let init = raw(router(&s), get("/docs/swagger-initializer.js")).await;
    assert_eq!(init.0, StatusCode::OK);
    assert!(init.1.contains("\"/openapi.json\""), "{}", init.1);
    // Its scripts and styles are its own: no address elsewhere to fetch them from.
    assert!(!page.1.contains("://"), "{}", page.1);
}

/// A call's status and body as text (for answers that are not JSON).
async fn raw(router: axum::Router, request: Request<Body>) -> (StatusCode, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}
