//! The consumer's configuration, read once from the environment at start-up.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mongodb::options::{Acknowledgment, WriteConcern};
use wiber_common::config::{ConfigError, ensure, parse, parse_in, string};
use wiber_common::kafka::KafkaConnection;

#[derive(Debug, Clone)]
pub struct Config {
    /// KAFKA_BOOTSTRAP_SERVERS (localhost:9092) and the KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and
    /// KAFKA_SSL_* settings (see `wiber_common::kafka`).
    pub kafka: KafkaConnection,
    /// KAFKA_TOPIC (wiber.messages)
    pub kafka_topic: String,
    /// KAFKA_CONSUMER_GROUP (wiber-consumers)
    pub consumer_group: String,
    /// KAFKA_DLQ_TOPIC (<KAFKA_TOPIC>.dlq): where poison messages go, with the reason.
    pub dlq_topic: String,
    /// KAFKA_STORED_TOPIC (<KAFKA_TOPIC>.stored): where what is stored is announced, for the API's
    /// push streams (`wiber_common::stored`).
    pub stored_topic: String,
    /// MONGO_URI (mongodb://localhost:27017)
    pub mongo_uri: String,
    /// MONGO_DB (wiber)
    pub mongo_db: String,
    /// MONGO_COLLECTION (messages)
    pub mongo_collection: String,
    /// MONGO_WRITE_CONCERN (majority, or a number of members) and MONGO_JOURNAL (true)
    pub write_concern: WriteConcern,
    /// CONSUMER_BATCH_SIZE (5000): most messages written in one insert. The read model's writes
    /// cost per conversation in a batch (`readmodel`), so a consumer that is behind, whose batches
    /// fill, writes them for many messages at once.
    pub batch_size: usize,
    /// CONSUMER_BATCH_WAIT_MS (20): the longest a batch waits to fill once it has a message.
    pub batch_wait: Duration,
    /// CONSUMER_BATCH_IDLE_MS (2): a batch also closes when no further message arrives within this
    /// gap, so a lone message is written at once instead of waiting out CONSUMER_BATCH_WAIT_MS.
    pub batch_idle: Duration,
    /// CONSUMER_STATS_INTERVAL_MS (5000): how often per-partition lag is refreshed.
    pub stats_interval: Duration,
    /// CONSUMER_SESSION_TIMEOUT_MS (10000): how long the group waits for a silent member.
    pub session_timeout: Duration,
    /// CONSUMER_HOST (0.0.0.0) and CONSUMER_PORT (8001): health and metrics.
    pub listen: SocketAddr,
}

fn write_concern(w: &str, journal: bool) -> Result<WriteConcern, ConfigError> {
    let acknowledgment = if w.eq_ignore_ascii_case("majority") {
        Acknowledgment::Majority
    } else {
        let nodes: u32 = parse_w(w)?;
        ensure(
            "MONGO_WRITE_CONCERN",
            &nodes,
            nodes >= 1,
            "must be 'majority' or at least 1",
        )?;
        Acknowledgment::Nodes(nodes)
    };
    Ok(WriteConcern::builder()
        .w(acknowledgment)
        .journal(journal)
        .w_timeout(Duration::from_secs(10))
        .build())
}

fn parse_w(w: &str) -> Result<u32, ConfigError> {
    w.parse().map_err(|_| ConfigError {
        var: "MONGO_WRITE_CONCERN".into(),
        value: w.into(),
        reason: "must be 'majority' or a number of members".into(),
    })
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let topic = string("KAFKA_TOPIC", "wiber.messages");
        let batch_size: usize = parse_in("CONSUMER_BATCH_SIZE", 5000, 1..=10_000)?;
        let batch_wait_ms: u64 = parse("CONSUMER_BATCH_WAIT_MS", 20)?;
        ensure(
            "CONSUMER_BATCH_WAIT_MS",
            &batch_wait_ms,
            batch_wait_ms <= 10_000,
            "must be at most 10000",
        )?;
        let batch_idle_ms: u64 = parse("CONSUMER_BATCH_IDLE_MS", 2)?;
        ensure(
            "CONSUMER_BATCH_IDLE_MS",
            &batch_idle_ms,
            batch_idle_ms <= batch_wait_ms,
            "must be at most CONSUMER_BATCH_WAIT_MS",
        )?;
        let stats_ms: u64 = parse_in("CONSUMER_STATS_INTERVAL_MS", 5000, 100..=600_000)?;
        let session_ms: u64 = parse("CONSUMER_SESSION_TIMEOUT_MS", 10_000)?;
        ensure(
            "CONSUMER_SESSION_TIMEOUT_MS",
            &session_ms,
            (6_000..=300_000).contains(&session_ms),
            "must be 6000 to 300000 (the broker's group session bounds)",
        )?;
        let host: IpAddr = parse("CONSUMER_HOST", IpAddr::from([0, 0, 0, 0]))?;
        let port: u16 = parse("CONSUMER_PORT", 8001)?;
        Ok(Self {
            kafka: KafkaConnection::from_env()?,
            dlq_topic: string("KAFKA_DLQ_TOPIC", &format!("{topic}.dlq")),
            stored_topic: wiber_common::stored::stored_topic_from_env(&topic),
            kafka_topic: topic,
            consumer_group: string("KAFKA_CONSUMER_GROUP", "wiber-consumers"),
            mongo_uri: string("MONGO_URI", "mongodb://localhost:27017"),
            mongo_db: string("MONGO_DB", "wiber"),
            mongo_collection: string("MONGO_COLLECTION", "messages"),
            write_concern: write_concern(
                &string("MONGO_WRITE_CONCERN", "majority"),
                parse("MONGO_JOURNAL", true)?,
            )?,
            batch_size,
            batch_wait: Duration::from_millis(batch_wait_ms),
            batch_idle: Duration::from_millis(batch_idle_ms),
            stats_interval: Duration::from_millis(stats_ms),
            session_timeout: Duration::from_millis(session_ms),
            listen: SocketAddr::new(host, port),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_concern_takes_majority_or_a_member_count() {
        assert_eq!(
            write_concern("majority", true).unwrap().w,
            Some(Acknowledgment::Majority)
        );
        assert_eq!(
            write_concern("2", false).unwrap().w,
            Some(Acknowledgment::Nodes(2))
        );
        assert_eq!(write_concern("2", false).unwrap().journal, Some(false));
        assert_eq!(
            write_concern("most", true).unwrap_err().var,
            "MONGO_WRITE_CONCERN"
        );
        assert_eq!(
            write_concern("0", true).unwrap_err().var,
            "MONGO_WRITE_CONCERN"
        );
    }
}
