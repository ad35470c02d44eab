//! What the Wiber api and consumer share: the message model and its validation rules, config parsing
//! from the environment, telemetry set-up and the shutdown signal.

pub mod config;
pub mod health;
pub mod kafka;
pub mod message;
pub mod metrics;
pub mod mongo;
pub mod process;
pub mod shutdown;
pub mod telemetry;
