//! Wiber's consumer: reads chat messages from Kafka and stores them in MongoDB, at least once and
//! never twice. `main.rs` wires config, telemetry and shutdown; the logic lives in these modules.

pub mod announce;
pub mod changes;
pub mod config;
pub mod consume;
pub mod dlq;
pub mod health;
pub mod kafka;
pub mod metrics;
pub mod pipeline;
pub mod project;
pub mod readmodel;
pub mod refusal;
pub use wiber_common::record;
pub mod retry;
pub mod store;
pub mod trace;
