//! A rolling update of the API and of the consumers, caused by a change to the WiberCluster's spec,
//! while a client sends a steady stream of POSTs and holds a push stream: nothing acknowledged is
//! lost or stored twice, the stream resumes without a gap or a duplicate, and every answer is one
//! the API documents.

use std::time::Duration;

use serde_json::json;
use wiber_e2e::deployed::{Component, Deployed};
use wiber_e2e::kube::client;
use wiber_e2e::node;
use wiber_e2e::traffic::{Traffic, assert_nothing_lost};

use crate::failures::{PACE, wait_received};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_update_of_api_and_consumers_loses_nothing_and_the_stream_resumes_without_a_gap()
{
    let _node = node::exclusive().await;
    let client = client().await;
    let wiber = Deployed::start(
        &client,
        "rollout",
        3,
        json!({"consumers": {"minReplicas": 2, "maxReplicas": 2}}),
    )
    .await;
    let apis = wiber.pod_names(Component::Api).await;
    let consumers = wiber.pod_names(Component::Consumer).await;
    let history = wiber.pipeline.history.clone();
    let traffic = Traffic::start(&wiber.api_url, wiber.traffic_tokens(), PACE, history).await;
    wait_received(&traffic, 20).await;

    // The batch size is in the configuration both Deployments read: its hash rolls both.
    wiber
        .patch_spec(json!({"consumers": {"batchSize": 400}}))
        .await;
    wiber.wait_replaced(Component::Api, &apis).await;
    wiber.wait_replaced(Component::Consumer, &consumers).await;
    wait_received(&traffic, traffic.received_count() + 20).await;
    let (sent, received) = traffic.finish(Duration::from_secs(60)).await;
    let what = "a rolling update of the API and the consumers";
    let verified = assert_nothing_lost(what, &wiber.pipeline, (&sent, &received), false).await;
    assert!(
        verified.copies.is_empty(),
        "a rolling update wrote messages twice: {:?}",
        verified.copies
    );
    assert!(
        received.ends.iter().any(|r| r == "shutting_down"),
        "the stream's API pod was replaced, so it must have been told to reconnect: {:?}",
        received.ends
    );
}
