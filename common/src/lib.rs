//! What Wiber's processes share: the message model and its validation rules, Kafka access, config
//! parsing from the environment, the health and metrics routes, telemetry set-up and the shutdown
//! signal. The MongoDB client is behind the `mongo` feature and the OpenAPI schemas behind
//! `openapi`, so the operator builds neither.

pub mod change;
pub mod config;
pub mod dead_letter;
pub mod digits;
pub mod group;
pub mod health;
pub mod kafka;
pub mod message;
pub mod metrics;
#[cfg(feature = "mongo")]
pub mod mongo;
pub mod process;
#[cfg(feature = "mongo")]
pub mod queries;
pub mod readmodel;
pub mod recent;
pub mod record;
pub mod rules;
pub mod serve;
pub mod shutdown;
pub mod signal;
pub mod stored;
pub mod telemetry;
pub mod tls;
