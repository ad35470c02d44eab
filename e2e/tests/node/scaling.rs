//! Consumers sized by real lag: a backlog on a 12-partition topic makes the operator add consumer
//! pods, which start on the node, join the group and drain it; after the stabilization window the
//! count returns to the minimum. The count over time is recorded and printed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use wiber_e2e::deployed::{Component, Deployed, VERIFY_WITHIN};
use wiber_e2e::kafka::{group_members, produce_messages};
use wiber_e2e::kube::client;
use wiber_e2e::node;
use wiber_e2e::wait::eventually;

const PARTITIONS: i32 = 12;
const BACKLOG: usize = 30_000;
/// Lag one consumer is sized for: the backlog asks for more consumers than there are partitions.
const TARGET_LAG: usize = 1_000;
const WINDOW_SECONDS: u64 = 10;

/// One observation: seconds since the backlog started, the consumer Deployment's replicas and ready
/// replicas, and the group's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    at: u64,
    replicas: i32,
    ready: i32,
    members: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_scale_with_real_lag_up_to_the_partitions_and_back_after_the_window() {
    let _node = node::exclusive().await;
    let client = client().await;
    let wiber = Deployed::start(
        &client,
        "scaling",
        PARTITIONS,
        json!({
            "api": {"replicas": 1},
            "consumers": {"minReplicas": 1, "maxReplicas": 16, "targetLagPerReplica": TARGET_LAG,
                          "scaleDownStabilizationSeconds": WINDOW_SECONDS, "lagPollSeconds": 2,
                          "batchSize": 200},
        }),
    )
    .await;
    let wiber = Arc::new(wiber);

    let timeline = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let recorder = tokio::spawn({
        let (wiber, timeline, stop) = (wiber.clone(), timeline.clone(), stop.clone());
        async move {
            loop {
                // Checked before sampling, so the last sample is taken after the test stopped it.
                let last = stop.load(Ordering::SeqCst);
                let status = wiber.deployment(Component::Consumer).await;
                let replicas = status.spec.and_then(|s| s.replicas).unwrap_or(0);
                let ready = status.status.and_then(|s| s.ready_replicas).unwrap_or(0);
                let (bootstrap, group) = (
                    wiber.pipeline.bootstrap.clone(),
                    wiber.pipeline.group.clone(),
                );
                let members =
                    tokio::task::spawn_blocking(move || group_members(&bootstrap, &group))
                        .await
                        .expect("group members");
                let seen = Seen {
                    at: started.elapsed().as_secs(),
                    replicas,
                    ready,
                    members,
                };
                {
                    let mut timeline = timeline.lock().expect("timeline");
                    let changed = |last: &Seen| {
                        (last.replicas, last.ready, last.members) != (replicas, ready, members)
                    };
                    if timeline.last().is_none_or(changed) {
                        timeline.push(seen);
                    }
                }
                if last {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    });

    let ids = produce_messages(
        &wiber.pipeline.bootstrap,
        &wiber.pipeline.topic,
        BACKLOG,
        97,
    )
    .await;
    eprintln!("backlog of {BACKLOG} produced in {:?}", started.elapsed());
    wiber
        .pipeline
        .assert_stored_exactly_once(&ids, VERIFY_WITHIN * 3)
        .await;
    eprintln!("backlog stored in {:?}", started.elapsed());
    let back_within = Duration::from_secs(WINDOW_SECONDS + 90);
    eventually(
        "consumers back at the minimum after the window",
        back_within,
        || async {
            let d = wiber.deployment(Component::Consumer).await;
            let replicas = d.spec.and_then(|s| s.replicas)?;
            let running = d.status.and_then(|s| s.replicas).unwrap_or(0);
            (replicas == 1 && running == 1).then_some(())
        },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    recorder.await.expect("the recorder");
    let timeline = timeline.lock().expect("timeline").clone();
    eprintln!("consumers over time (s since the backlog: replicas/ready/group members):");
    for seen in &timeline {
        eprintln!(
            "  {:>4} s  {:>2} / {:>2} / {:>2}",
            seen.at, seen.replicas, seen.ready, seen.members
        );
    }

    let peak = timeline.iter().map(|s| s.replicas).max().unwrap_or(0);
    assert_eq!(
        peak, PARTITIONS,
        "{BACKLOG} records at {TARGET_LAG} per consumer ask for more consumers than the \
         {PARTITIONS} partitions: the operator must add exactly that many"
    );
    let replicas: Vec<i32> = timeline.iter().map(|s| s.replicas).collect();
    let top = replicas.iter().position(|r| *r == peak).expect("the peak");
    assert!(
        replicas[..=top].windows(2).all(|w| w[0] <= w[1])
            && replicas[top..].windows(2).all(|w| w[0] >= w[1]),
        "the count went up after it came down: {replicas:?}"
    );
    assert_eq!(*replicas.last().expect("observations"), 1);
    let members = timeline.iter().map(|s| s.members).max().unwrap_or(0);
    assert!(
        members > 1,
        "the added consumers never joined the group: {timeline:?}"
    );
    let ready = timeline.iter().map(|s| s.ready).max().unwrap_or(0);
    assert!(
        ready > 1,
        "no added consumer pod became Ready: {timeline:?}"
    );
    let wc = wiber.wibercluster().await;
    let status = wc.status.expect("a status");
    assert_eq!(
        status.lag,
        Some(0),
        "the group's lag as the operator last measured it"
    );
    assert_eq!(status.partitions, Some(PARTITIONS));
}
