//! A rebalance storm: consumers join, leave gracefully and crash, round after round, while a
//! stream is sent. Cooperative-sticky assignment and the commit on revoke must leave every
//! acknowledged message stored exactly once, nothing lost while partitions move, and a group's
//! membership applied once, in order, whichever consumer held its partition.

use std::time::Duration;

use wiber_e2e::group_traffic::{group_traffic, make_group};
use wiber_e2e::readiness::ReadinessRecorder;
use wiber_e2e::soak::{Run, report};
use wiber_e2e::stack::{ConsumerProcess, Wiber, stream};

use crate::faults::{CONCURRENCY, RECOVERED_WITHIN};

const ROUNDS: usize = 2;

async fn assigned(consumer: &ConsumerProcess, wiber: &Wiber) -> f64 {
    consumer
        .metric(&wiber.http, "wiber_consumer_assigned_partitions")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_storm_mid_stream_stores_every_message_exactly_once() {
    let wiber = Wiber::start().await;
    let first = wiber.consumer().await;
    let http = wiber.http.clone();
    let api_ready = ReadinessRecorder::api(&wiber);

    let sender = stream(&wiber, 3000, CONCURRENCY, "storm");
    // A group's messages and membership changes through the storm: its state moves between
    // consumers with its partition. The group applied first, before the storm.
    let made = make_group(&wiber, "storm").await;
    let group = group_traffic(&wiber, made, 150);
    let storm = async {
        first
            .wait_metric(
                &http,
                "the first consumer to store some",
                "wiber_consumer_messages_stored_total",
                RECOVERED_WITHIN,
                |stored| stored >= 100.0,
            )
            .await;
        let mut group = vec![first];
        for _ in 0..ROUNDS {
            // Two join (each ready, so each triggers a rebalance of its own)...
            group.push(wiber.consumer().await);
            group.push(wiber.consumer().await);
            // ...the oldest leaves gracefully (commit on revoke, then leave)...
            let mut leaving = group.remove(0);
            assert_eq!(
                leaving.process.terminate(Duration::from_secs(30)),
                Some(0),
                "graceful shutdown exits 0"
            );
            // ...and the next crashes: its partitions move only when its session expires, and
            // what it stored but had not committed is redelivered to the others.
            let mut crashing = group.remove(0);
            crashing.process.kill();
        }
        group
    };
    let ((acknowledged, failed), group, survivors) = tokio::join!(sender, group, storm);
    assert_eq!(failed, 0, "consumers never affect sending");
    let mut everything = acknowledged.clone();
    everything.extend(group.acknowledged.iter().chain(&group.changes).cloned());
    wiber
        .assert_stored_exactly_once(&everything, RECOVERED_WITHIN)
        .await;
    let (_, _, info) = wiber.get(&format!("/conversations/{}", group.group)).await;
    assert_eq!(info["members"], serde_json::json!(group.members), "{info}");
    assert!(!group.edited.is_empty() && !group.deleted.is_empty());
    group.assert_changes_applied(&wiber, RECOVERED_WITHIN).await;
    assert_eq!(survivors.len(), 1);
    report(&Run {
        scenario: "rebalance storm",
        // Per round: two joins, a graceful leave and a crash.
        faults: ROUNDS * 4,
        acknowledged: acknowledged.len(),
        stored_once: acknowledged.len(),
        server_errors: failed,
    });
    let survivor = &survivors[0];
    wiber_e2e::wait::eventually(
        "the survivor to own every partition",
        RECOVERED_WITHIN,
        || async { (assigned(survivor, &wiber).await == 3.0).then_some(()) },
    )
    .await;
    survivor.wait_caught_up(&http, RECOVERED_WITHIN).await;
    // The group's churn is no reason for the API to refuse a message.
    api_ready.finish().await.assert_always_ready("API");
}
