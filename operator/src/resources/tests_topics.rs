//! The Strimzi KafkaTopics a WiberCluster asks for, and what deleting it does to them.

use super::tests::{cluster, inputs, plain};
use super::*;

#[test]
fn strimzi_mode_asks_for_both_topics_with_log_append_time() {
    let wc = cluster(json!({
        "kafka": { "strimziCluster": "events", "topic": { "name": "Chat_Messages", "partitions": 12 } },
        "mongodb": { "connectionSecret": { "name": "mongo" } }
    }));
    let d = desired(&wc, &inputs(1));
    assert_eq!(d.kafka_topics.len(), 3);
    let main = &d.kafka_topics[0];
    assert_eq!(main.metadata.name.as_deref(), Some("chat-messages"));
    assert_eq!(
        main.metadata.labels.as_ref().unwrap()["strimzi.io/cluster"],
        "events"
    );
    assert_eq!(main.data["spec"]["topicName"], "Chat_Messages");
    assert_eq!(main.data["spec"]["partitions"], 12);
    assert_eq!(
        main.data["spec"]["config"]["message.timestamp.type"],
        "LogAppendTime"
    );
    assert_eq!(main.data["spec"]["config"]["retention.ms"], "604800000");
    assert_eq!(
        d.kafka_topics[1].data["spec"]["topicName"],
        "Chat_Messages.dlq"
    );
    let stored = &d.kafka_topics[2].data["spec"];
    assert_eq!(
        (stored["topicName"].as_str(), stored["partitions"].as_i64()),
        (Some("Chat_Messages.stored"), Some(1))
    );
    assert_eq!(stored["config"]["retention.ms"], "3600000");
    assert!(desired(&plain(), &inputs(1)).kafka_topics.is_empty());
}

fn strimzi(topic: serde_json::Value) -> WiberCluster {
    cluster(json!({
        "kafka": { "strimziCluster": "events", "topic": topic },
        "mongodb": { "connectionSecret": { "name": "mongo" } }
    }))
}

#[test]
fn kafka_topics_outlive_their_wibercluster_unless_its_policy_is_delete() {
    let retained = desired(&strimzi(json!({})), &inputs(1));
    assert_eq!(
        strimzi(json!({})).spec.kafka.topic.deletion_policy,
        TopicDeletionPolicy::Retain
    );
    for topic in &retained.kafka_topics {
        assert_eq!(
            topic.metadata.owner_references, None,
            "an owned topic is deleted, messages and dead letters with it"
        );
        assert_eq!(
            topic.metadata.labels.as_ref().unwrap()["app.kubernetes.io/instance"],
            "chat"
        );
    }
    let deleted = desired(&strimzi(json!({"deletionPolicy": "Delete"})), &inputs(1));
    for topic in &deleted.kafka_topics {
        let owner = &topic.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("WiberCluster", "chat")
        );
    }
    // The policy is not a pod setting: changing it rolls nothing.
    assert_eq!(retained.api.spec, deleted.api.spec);
}
