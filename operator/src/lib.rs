//! Wiber's operator: reconciles a `WiberCluster` into the api and consumer Deployments and sizes
//! the consumers to the topic's partitions and the group's lag. `main.rs` wires config, telemetry,
//! leader election and shutdown; the logic lives in these modules.

pub mod api_access;
pub mod conditions;
pub mod config;
pub mod controller;
pub mod crd;
pub mod kafka_access;
pub mod lag;
pub mod leader;
pub mod metrics;
pub mod resources;
pub mod scaling;
