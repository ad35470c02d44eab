//! Signals over the fakes: only a conversation's current members say they type or read
//! everyone's marks, and a typing signal is produced on the conversation's key to everyone but
//! the typer. Streams carrying them are proven on real servers (e2e/tests/messaging/signals.rs).

use axum::http::StatusCode;

use crate::fakes::*;
use crate::groups::{GROUP, request, sent, store};

#[tokio::test]
async fn only_current_members_signal_or_read_everyones_marks() {
    let s = state(FakeProducer::default(), store());
    for (method, uri, status) in [
        (
            "POST",
            format!("/conversations/{GROUP}/typing?user=mallory"),
            StatusCode::FORBIDDEN,
        ),
        (
            "POST",
            format!("/conversations/{GROUP}/typing?user=dave"),
            StatusCode::FORBIDDEN,
        ),
        (
            "GET",
            format!("/conversations/{GROUP}/reads?user=dave"),
            StatusCode::FORBIDDEN,
        ),
        (
            "POST",
            "/conversations/alice:bob/typing?user=carol".to_owned(),
            StatusCode::FORBIDDEN,
        ),
        (
            "POST",
            "/conversations/nope/typing?user=alice".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (got, _, answer) = call(router(&s), request(method, &uri, None)).await;
        assert_eq!(got, status, "{method} {uri}: {answer}");
    }
    assert!(sent(&s).is_empty(), "nothing signalled");
    let (status, _, answer) = call(
        router(&s),
        request(
            "POST",
            &format!("/conversations/{GROUP}/typing?user=bob"),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["expiresAt"], BROKER_TIME + 1 + 5_000);
    let (key, record) = sent(&s).pop().unwrap();
    assert_eq!(key, GROUP);
    assert_eq!(
        record.recipients,
        ["alice", "carol"],
        "everyone but the typer"
    );
    assert!(record.validate().is_ok(), "{record:?}");
    let (status, _, reads) = call(
        router(&s),
        get(&format!("/conversations/{GROUP}/reads?user=bob")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reads}");
    assert_eq!(
        reads.as_array().unwrap().len(),
        3,
        "one per member: {reads}"
    );
}
