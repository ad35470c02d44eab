//! Edits and deletes over the fakes: who may change which message, by token, and that a refusal
//! produces nothing. That the consumer applies them and empties every copy of a deleted content is
//! proven on real servers (e2e/tests/messaging/changes.rs).

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use wiber_common::change::Change;
use wiber_testkit::issuer;

use crate::fakes::*;

const ID: &str = "6c0c5b1a-8a3e-4a53-9f0a-0d3c6f6b2a11";

fn request(method: &str, token: &str, body: Option<&str>) -> Request<Body> {
    let request = Request::builder()
        .method(method)
        .uri(format!("/messages/{ID}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map_or(Body::empty(), |b| Body::from(b.to_owned())))
        .unwrap();
    bearer(request, token)
}

#[tokio::test]
async fn only_the_sender_edits_and_only_the_sender_or_an_admin_deletes() {
    let store = FakeStore {
        messages: vec![stored(ID, "alice", "bob", "secret", 1)],
        ..FakeStore::default()
    };
    let s = crate::auth::setup(store).await;
    let sign = |user: &str, scope: Option<&str>| {
        let mut claims = issuer::claims(user);
        if let Some(scope) = scope {
            claims["scope"] = json!(scope);
        }
        s.ed.sign(&claims)
    };
    let (alice, bob, mallory) = (
        sign("alice", None),
        sign("bob", None),
        sign("mallory", None),
    );
    let admin = sign("root", Some("openid wiber:admin"));
    let edit = Some(r#"{"content":"changed"}"#);
    for (token, method, body, status) in [
        (&bob, "PATCH", edit, StatusCode::FORBIDDEN),
        (&mallory, "PATCH", edit, StatusCode::NOT_FOUND),
        (&admin, "PATCH", edit, StatusCode::NOT_FOUND),
        (&bob, "DELETE", None, StatusCode::FORBIDDEN),
        (&mallory, "DELETE", None, StatusCode::NOT_FOUND),
        (
            &alice,
            "PATCH",
            Some(r#"{"content":""}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            &alice,
            "PATCH",
            Some(r#"{"content":"x","to":"y"}"#),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (got, _, answer) = call(router(&s.state), request(method, token, body)).await;
        assert_eq!(got, status, "{method}: {answer}");
        assert!(!answer.to_string().contains("secret"), "{answer}");
    }
    assert!(
        s.state.producer.sent.lock().unwrap().is_empty(),
        "nothing refused is produced"
    );
    // The fakes apply nothing: accepted, each answers 202 with what it will be.
    let (status, _, edited) = call(router(&s.state), request("PATCH", &alice, edit)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{edited}");
    assert_eq!(
        (edited["content"].as_str(), edited["edited"].as_bool()),
        (Some("changed"), Some(true))
    );
    let (status, _, deleted) = call(router(&s.state), request("DELETE", &admin, None)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{deleted}");
    assert_eq!(deleted["content"], "");
    let sent = s.state.producer.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].0, "alice:bob", "on the conversation's key");
    assert!(
        matches!(sent[1].1.change, Some(Change::Deleted { admin: true, .. })),
        "{:?}",
        sent[1].1
    );
    assert!(sent.iter().all(|(_, r)| r.validate().is_ok()));
}
