//! The OpenAPI document: every route the router serves, the real shapes, and the answers the edge
//! adds to every route (schemathesis checks the whole document against the real API:
//! e2e/tests/messaging/schema.rs).

use axum::http::StatusCode;
use serde_json::{Value, json};
use wiber_api::app;

use crate::fakes::*;

#[tokio::test]
async fn openapi_document_lists_every_route_and_the_real_message_shape() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let (status, _, doc) = call(app(s.clone()), get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/conversations",
            "/conversations/{conversationId}",
            "/conversations/{conversationId}/members",
            "/conversations/{conversationId}/members/{user}",
            "/conversations/{conversationId}/messages",
            "/conversations/{conversationId}/read",
            "/conversations/{conversationId}/reads",
            "/conversations/{conversationId}/typing",
            "/health/liveness",
            "/health/readiness",
            "/me",
            "/messages",
            "/messages/count",
            "/messages/stream",
            "/messages/user/{username}",
            "/messages/ws",
            "/messages/{messageId}",
            "/messages/{user1}/{user2}",
        ]
    );
    // Every documented route answers (no 404 from the router).
    for path in [
        "/health/liveness",
        "/health/readiness",
        "/messages/count",
        "/messages/ws",
        "/messages/user/alice",
        "/messages/alice/bob",
    ] {
        assert_ne!(
            call(app(s.clone()), get(path)).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }

    let schema_keys = |name: &str| {
        let mut keys: Vec<String> = doc["components"]["schemas"][name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("schema {name} missing"))
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    let (_, _, sent) = call(
        app(s),
        post(json!({"fromUser": "a", "toUser": "b", "content": "c"}).to_string()),
    )
    .await;
    let mut real: Vec<String> = sent.as_object().unwrap().keys().cloned().collect();
    // A group's messages carry their conversation, its membership changes say so, and a message
    // changed since it was sent says how.
    real.extend(["conversationId", "membership", "edited", "deleted"].map(String::from));
    real.sort();
    assert_eq!(schema_keys("Message"), real);
    let message_required = &doc["components"]["schemas"]["Message"]["required"];
    assert_eq!(
        message_required,
        &json!(["messageId", "fromUser", "content", "timestamp"])
    );
    assert_eq!(
        schema_keys("NewMessage"),
        ["content", "conversationId", "fromUser", "toUser"]
    );
    // fromUser may be left to the token; toUser or conversationId names the addressee.
    let required = &doc["components"]["schemas"]["NewMessage"]["required"];
    assert_eq!(required, &json!(["content"]));
    assert_eq!(
        doc["components"]["schemas"]["NewMessage"]["additionalProperties"],
        false
    );
}

#[tokio::test]
async fn openapi_document_states_every_answer_the_edge_gives() {
    let s = state(FakeProducer::default(), FakeStore::default());
    let (_, _, doc) = call(app(s), get("/openapi.json")).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = &operation["responses"];
            let route = format!("{method} {path}");
            // Load shedding can answer any route, and every 503 says when to come back.
            assert!(
                responses["503"]["description"]
                    .as_str()
                    .unwrap()
                    .contains("API_MAX_IN_FLIGHT"),
                "{route}"
            );
            assert!(
                responses["503"]["headers"]["Retry-After"].is_object(),
                "{route}"
            );
            if operation.get("security").is_some() {
                assert!(
                    responses["401"]["headers"]["WWW-Authenticate"].is_object(),
                    "{route}"
                );
                assert!(
                    responses["429"]["headers"]["Retry-After"].is_object(),
                    "{route}"
                );
            }
        }
    }
    let events = &doc["paths"]["/messages/stream"]["get"]["responses"]["200"]["content"]["text/event-stream"]
        ["schema"]["oneOf"];
    let names: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["properties"]["event"]["const"])
        .collect();
    let expected = [
        "ready",
        "message",
        "membership",
        "receipt",
        "typing",
        "edit",
        "delete",
        "end",
    ]
    .map(|n| json!(n));
    assert_eq!(names, expected.iter().collect::<Vec<_>>());
    let user =
        json!({"type": "string", "minLength": 1, "maxLength": 50, "pattern": "^[A-Za-z0-9._-]+$"});
    let parameters = doc["paths"]["/messages/{user1}/{user2}"]["get"]["parameters"]
        .as_array()
        .unwrap();
    for p in parameters.iter().filter(|p| p["in"] == "path") {
        assert_eq!((&p["schema"], &p["required"]), (&user, &json!(true)), "{p}");
    }
    assert!(
        parameters
            .iter()
            .filter(|p| p["in"] == "query")
            .all(|p| p["required"] == false)
    );
}
