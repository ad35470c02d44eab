//! The store frozen (SIGSTOP): the API answers in bounded time, sending goes on, and the
//! consumer resumes without loss once the store runs again.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;
use wiber_e2e::stack::{OwnStore, Wiber, message_id};
use wiber_e2e::wait::eventually;

use super::RECOVERED_WITHIN;

/// The API's store timeout in this test, and the most a request may take beyond it.
const STORE_TIMEOUT: Duration = Duration::from_millis(1000);
const SLACK: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_store_answers_reads_503_in_bounded_time_and_keyed_sends_still_go_through() {
    let store = OwnStore::start().await;
    let timeout = STORE_TIMEOUT.as_millis().to_string();
    let wiber = Wiber::spawn(store.uri(), &[("MONGO_TIMEOUT_MS", timeout)]).await;
    wiber.wait_ready().await;
    let _consumer = wiber.consumer().await;
    let before = wiber.send("alice", "bob", "before the freeze").await;
    eventually("the first message stored", RECOVERED_WITHIN, || async {
        (wiber.count("").await == 1).then_some(())
    })
    .await;

    store.freeze();
    for path in [
        "/messages/count",
        "/messages/alice/bob",
        "/messages/user/alice",
    ] {
        let started = Instant::now();
        let (status, headers, _) = wiber.get(path).await;
        let took = started.elapsed();
        assert_eq!(status, 503, "{path} with the store frozen");
        assert_eq!(headers["retry-after"], "5");
        assert!(took < STORE_TIMEOUT + SLACK, "{path} took {took:?}");
    }
    // A keyed send cannot reserve its key, and goes ahead under the content's id.
    let started = Instant::now();
    let body = json!({"fromUser": "alice", "toUser": "bob", "content": "during the freeze"});
    let (status, during) = wiber.post_keyed("frozen-1", &body).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{during}");
    assert!(took < STORE_TIMEOUT + SLACK, "keyed POST took {took:?}");
    store.thaw();

    let ids: HashSet<String> = [&before, &during].into_iter().map(message_id).collect();
    wiber
        .assert_stored_exactly_once(&ids, RECOVERED_WITHIN)
        .await;
    let (status, retry) = wiber.post_keyed("frozen-1", &body).await;
    assert_eq!(
        (status, &retry["messageId"]),
        (reqwest::StatusCode::OK, &during["messageId"])
    );
}
