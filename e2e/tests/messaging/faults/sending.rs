//! Faults on the sending side: what the client is told must match what ends up stored, whether
//! an Idempotency-Key is contended or the brokers stop answering mid-produce.

use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;
use wiber_e2e::brokers::ReplicatedKafka;
use wiber_e2e::mongo_uri;
use wiber_e2e::readiness::ReadinessRecorder;
use wiber_e2e::soak::{Run, report};
use wiber_e2e::stack::{Wiber, message_id};
use wiber_e2e::verify::Told;
use wiber_e2e::wait::eventually;

use super::RECOVERED_WITHIN;

fn message(content: &str) -> Value {
    json!({"fromUser": "alice", "toUser": "bob", "content": content})
}

/// Every stored document's (messageId, stored as _id, content).
async fn stored(wiber: &Wiber) -> Vec<(String, String)> {
    let docs: Vec<Document> = wiber
        .collection()
        .await
        .find(doc! {})
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("documents");
    docs.iter()
        .map(|d| {
            let field = |f: &str| d.get_str(f).expect("string field").to_owned();
            (field("_id"), field("content"))
        })
        .collect()
}

fn is_outcome_unknown(problem: &Value) -> bool {
    problem["type"]
        .as_str()
        .is_some_and(|t| t.ends_with("#outcome-unknown"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contended_idempotency_key_acknowledges_only_the_content_that_is_stored() {
    let wiber = Wiber::start().await;
    let api_ready = ReadinessRecorder::api(&wiber);
    // No consumer yet: every contention below happens before anything is stored.
    let (status, first) = wiber.post_keyed("order-1", &message("pay 10")).await;
    assert_eq!(status, 200, "{first}");
    let (status, refused) = wiber.post_keyed("order-1", &message("pay 1000")).await;
    assert_eq!(
        status, 422,
        "a reused key must be refused before storage: {refused}"
    );
    assert_eq!(refused["errors"][0]["field"], "Idempotency-Key");
    let (status, again) = wiber.post_keyed("order-1", &message("pay 10")).await;
    assert_eq!(status, 200);
    assert_eq!(again, first, "a retry gets the first answer");

    let contenders = (0..40).map(|i| {
        let body = message(&format!("variant {}", i % 4));
        let wiber = &wiber;
        async move { wiber.post_keyed("order-2", &body).await }
    });
    let answers = futures::future::join_all(contenders).await;
    let acknowledged: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    for (status, body) in &answers {
        assert!(
            *status == 200 || (*status == 422 && body["errors"][0]["field"] == "Idempotency-Key"),
            "{status}: {body}"
        );
    }
    assert!(!acknowledged.is_empty(), "one content must win the key");
    let winner = acknowledged[0];
    // Copies in flight at once each answer with their own broker time; everything else agrees.
    let identity = |a: &Value| {
        (
            a["messageId"].clone(),
            a["fromUser"].clone(),
            a["toUser"].clone(),
            a["content"].clone(),
        )
    };
    assert!(acknowledged.iter().all(|a| identity(a) == identity(winner)));

    let _consumer = wiber.consumer().await;
    let expected: HashSet<String> = [message_id(&first), message_id(winner)].into();
    wiber
        .assert_stored_exactly_once(&expected, RECOVERED_WITHIN)
        .await;
    let mut contents = stored(&wiber).await;
    contents.sort();
    let mut told = vec![
        (message_id(&first), "pay 10".to_owned()),
        (
            message_id(winner),
            winner["content"].as_str().unwrap().to_owned(),
        ),
    ];
    told.sort();
    assert_eq!(contents, told, "every 200 names the content that is stored");
    report(&Run {
        scenario: "idempotency key contended",
        faults: 40,
        // Distinct messages acknowledged: the first key's and the contended key's winner.
        acknowledged: told.len(),
        stored_once: contents.len(),
        server_errors: 0,
    });

    // Once stored, the key keeps both answers.
    assert_eq!(
        wiber.post_keyed("order-1", &message("pay 10")).await,
        (reqwest::StatusCode::OK, first)
    );
    assert_eq!(
        wiber.post_keyed("order-1", &message("pay 1000")).await.0,
        422
    );
    // Contention is the clients' business: the API stays ready throughout.
    api_ready.finish().await.assert_always_ready("API");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_frozen_mid_produce_answer_outcome_unknown_for_what_reached_them_not_sent_only_for_what_did_not()
 {
    let mut kafka = ReplicatedKafka::exclusive().await;
    let timeout = [("KAFKA_PRODUCE_TIMEOUT_MS", "3000".to_owned())];
    let wiber = Wiber::spawn_on(kafka.bootstrap.clone(), mongo_uri(), &timeout).await;
    wiber.wait_ready().await;
    let api_ready = ReadinessRecorder::api(&wiber);
    // The conversation's leader connection is up and the producer has its id before the fault,
    // so the produce below surely reaches a broker.
    let before = wiber.send("alice", "bob", "before the freeze").await;

    // Two of three brokers frozen: with min.insync.replicas=2 nothing can be acknowledged, yet the
    // request is on its way, and a frozen broker may append it once it runs again.
    kafka.freeze(2);
    kafka.freeze(3);
    let keyed = message("during the freeze");
    let unkeyed = message("unkeyed during the freeze");
    let ((keyed_status, keyed_problem), unkeyed_response) =
        tokio::join!(wiber.post_keyed("freeze-1", &keyed), wiber.post(&unkeyed));
    let unkeyed_status = unkeyed_response.status();
    let retry_after = unkeyed_response.headers().get("retry-after").cloned();
    let unkeyed_problem: Value = unkeyed_response.json().await.expect("problem");
    kafka.thaw(2);
    kafka.thaw(3);

    // The producer has one request in flight per connection: whichever message went first is on
    // its way to the frozen leader (outcome unknown); the other may still wait in the producer's
    // queue when its time runs out, and then truly was not sent. `verify` below proves each answer:
    // a message answered 'not sent' must never be stored.
    let mut reached = 0;
    for (status, problem) in [
        (keyed_status, &keyed_problem),
        (unkeyed_status, &unkeyed_problem),
    ] {
        assert_eq!(status, 503, "{problem}");
        reached += usize::from(is_outcome_unknown(problem));
    }
    assert!(
        reached >= 1,
        "the request sent to the frozen leader must be answered outcome unknown, never 'not sent': \
         {keyed_problem} / {unkeyed_problem}"
    );
    assert_eq!(retry_after.as_ref().map(|v| v.to_str().unwrap()), Some("5"));

    // The client retries under the same key until the cluster answers again.
    let retried = eventually(
        "the keyed retry to be acknowledged",
        RECOVERED_WITHIN,
        || async {
            let (status, answer) = wiber.post_keyed("freeze-1", &keyed).await;
            (status == 200).then_some(answer)
        },
    )
    .await;
    if is_outcome_unknown(&keyed_problem) {
        assert_eq!(message_id(&retried), message_id(&keyed_problem));
    }
    // A message after the fault in the same conversation (so the same partition): once it is
    // stored, everything the frozen brokers may have appended before it is stored too.
    let after = wiber.send("bob", "alice", "after the freeze").await;

    let _consumer = wiber.consumer().await;
    let acknowledged: HashSet<String> = [
        message_id(&before),
        message_id(&retried),
        message_id(&after),
    ]
    .into();
    // An unkeyed message answered 'not sent' is in neither set, so `verify` fails if it is stored.
    let unknown = if is_outcome_unknown(&unkeyed_problem) {
        [message_id(&unkeyed_problem)].into()
    } else {
        HashSet::new()
    };
    eprintln!(
        "frozen produce: keyed answered {}, unkeyed answered {}",
        keyed_problem["type"], unkeyed_problem["type"]
    );
    let told = Told {
        acknowledged: acknowledged.clone(),
        unknown,
    };
    let verified = wiber.verify(&told, RECOVERED_WITHIN).await;
    eprintln!(
        "frozen produce: the unkeyed message of unknown outcome was {}stored",
        if verified.unknown_stored == 1 {
            ""
        } else {
            "not "
        }
    );
    // Frozen brokers still count as in sync until the cluster's replica lag time runs out, far
    // longer than this freeze; readiness may or may not dip, but must be back once they run.
    let api = api_ready.finish_ready(RECOVERED_WITHIN).await;
    api.assert_ready_before_and_after("API");
    eprintln!("API readiness through the freeze: {}", api.summary());
    report(&Run {
        scenario: "produce outcome unknown",
        faults: 1,
        acknowledged: acknowledged.len(),
        stored_once: verified.stored,
        server_errors: 2,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_killed_mid_stream_stores_each_retried_keyed_message_once() {
    use futures::StreamExt;
    let wiber = Wiber::start().await;
    let consumer = wiber.consumer().await;
    let consumer_ready = ReadinessRecorder::consumer(&wiber.http, &consumer);

    // Each logical message has its own key; its client retries it under that key until a 200,
    // as a client of a serious chat backend would after a dropped connection or a 503.
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let server_errors = std::sync::atomic::AtomicUsize::new(0);
    let send_until_acknowledged = |i: usize| {
        let (wiber, answered, server_errors) = (&wiber, &answered, &server_errors);
        async move {
            let key = format!("kill-{i}");
            let body = json!({"fromUser": format!("k{}", i % 7), "toUser": format!("r{}", i % 5), "content": format!("logical {i}")});
            let deadline = std::time::Instant::now() + RECOVERED_WITHIN;
            let mut attempts = 0;
            loop {
                attempts += 1;
                let sent = wiber
                    .http
                    .post(format!("{}/messages", wiber.api_url))
                    .header("Idempotency-Key", &key)
                    .json(&body)
                    .send()
                    .await;
                if let Ok(response) = sent {
                    if response.status().is_server_error() {
                        server_errors.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    if response.status() == 200 {
                        let answer: Value = response.json().await.expect("JSON answer");
                        answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        return (message_id(&answer), attempts);
                    }
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{key} never acknowledged"
                );
                // A client's retry pause, not a wait for a condition of the test.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let sender = futures::stream::iter(0..600)
        .map(send_until_acknowledged)
        .buffer_unordered(16)
        .collect::<Vec<(String, u32)>>();
    let killer = async {
        // A quarter in: requests are in flight, some of them already produced but not answered.
        eventually(
            "a quarter of the stream acknowledged",
            RECOVERED_WITHIN,
            || async { (answered.load(std::sync::atomic::Ordering::SeqCst) >= 150).then_some(()) },
        )
        .await;
        wiber.api.signal("KILL");
        wiber.another_api().await
    };
    let (acknowledged, _api) = tokio::join!(sender, killer);
    let retried = acknowledged.iter().filter(|(_, n)| *n > 1).count();
    let ids: HashSet<String> = acknowledged.into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 600, "one id per logical message");
    assert!(retried > 0, "the kill interrupted no request");
    wiber
        .assert_stored_exactly_once(&ids, RECOVERED_WITHIN)
        .await;
    eprintln!("API SIGKILL: 600 logical messages, {retried} needed a retry, each stored once");
    // The API's crash is nothing the consumer needs.
    consumer_ready
        .finish()
        .await
        .assert_always_ready("consumer");
    report(&Run {
        scenario: "API SIGKILL, keyed retries",
        faults: 1,
        acknowledged: ids.len(),
        stored_once: ids.len(),
        server_errors: server_errors.load(std::sync::atomic::Ordering::SeqCst),
    });
}
