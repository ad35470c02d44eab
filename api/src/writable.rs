//! Whether the topic can take a message now: the API's readiness. With acks=all a write needs a
//! partition leader and at least `min.insync.replicas` replicas in sync, so a cluster that answers
//! metadata but has lost too many brokers cannot accept a single message, and readiness says so.
//! One writable partition is enough: its conversations can still be sent, and failing readiness
//! on every replica at once would refuse them too.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use wiber_common::kafka::KafkaConnection;

/// Asks through a client of its own: the producer has one request in flight per connection, and a
/// probe's metadata request must not wait in front of (or behind) the messages.
pub struct Writability {
    admin: Arc<AdminClient<DefaultClientContext>>,
    topic: String,
    /// The topic's `min.insync.replicas` as last described; 1 until the brokers first say (then a
    /// leader is enough), and kept when they cannot be asked (e.g. DescribeConfigs is denied).
    min_insync: AtomicUsize,
}

impl Writability {
    pub fn new(kafka: &KafkaConnection, topic: &str) -> Result<Self, KafkaError> {
        let admin = kafka
            .client_config()
            .set("client.id", "wiber-api-readiness")
            .create()?;
        Ok(Self {
            admin: Arc::new(admin),
            topic: topic.to_owned(),
            min_insync: AtomicUsize::new(1),
        })
    }

    /// Each partition of the topic as (leader, replicas in sync), or `None` within `timeout`.
    pub async fn partitions(&self, timeout: Duration) -> Option<Vec<(i32, usize)>> {
        let admin = self.admin.clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            wiber_common::kafka::partitions(admin.inner(), &topic, timeout)
        })
        .await
        .ok()
        .flatten()
    }

    /// The topic's `min.insync.replicas`, asked of the brokers within `timeout`.
    pub async fn min_insync(&self, timeout: Duration) -> usize {
        let options = AdminOptions::new().request_timeout(Some(timeout));
        let resource = [ResourceSpecifier::Topic(&self.topic)];
        let ask = self.admin.describe_configs(&resource, &options);
        // The request timeout bounds the broker's answer, not finding a broker to ask.
        let asked = tokio::time::timeout(timeout, ask).await.ok();
        let described = asked.and_then(Result::ok).and_then(|results| {
            let resource = results.into_iter().next()?.ok()?;
            resource
                .get("min.insync.replicas")?
                .value
                .as_deref()?
                .parse()
                .ok()
        });
        match described {
            Some(min) => {
                self.min_insync.store(min, Ordering::Relaxed);
                min
            }
            None => self.min_insync.load(Ordering::Relaxed),
        }
    }
}

/// Whether one of the partitions, each given as (leader, replicas in sync), can take a write.
pub fn any_writable(partitions: &[(i32, usize)], min_insync: usize) -> bool {
    partitions
        .iter()
        .any(|&(leader, in_sync)| leader >= 0 && in_sync >= min_insync)
}

#[cfg(test)]
mod tests {
    use super::any_writable;

    #[test]
    fn a_partition_short_of_min_insync_replicas_cannot_take_a_write() {
        assert!(!any_writable(&[(1, 1), (2, 1), (3, 1)], 2));
    }

    #[test]
    fn a_partition_without_a_leader_cannot_take_a_write() {
        assert!(!any_writable(&[(-1, 3)], 2));
    }

    #[test]
    fn one_writable_partition_keeps_the_api_ready() {
        assert!(any_writable(&[(1, 1), (-1, 0), (3, 2)], 2));
    }

    #[test]
    fn a_topic_without_partitions_cannot_take_a_write() {
        assert!(!any_writable(&[], 1));
    }
}
