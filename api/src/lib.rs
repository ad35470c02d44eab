//! Wiber's HTTP API: accepts chat messages, produces them to Kafka and reads conversations from
//! MongoDB. `main.rs` wires config, telemetry and shutdown; the logic lives in these modules.

pub mod answers;
mod applied;
pub mod auth;
pub mod body;
pub mod changes;
pub mod config;
pub mod conversations;
pub mod edge;
pub mod error;
pub mod extract;
pub mod group_requests;
pub mod groups;
pub mod history;
pub mod idempotency;
mod inbox;
pub mod key_expiry;
mod marks;
pub mod membership;
pub mod metrics;
pub mod openapi;
pub mod page;
mod placed;
pub mod producer;
pub mod push;
pub mod rate_limit;
pub mod read;
pub mod requests;
pub mod routes;
pub mod send;
pub mod signals;
pub mod state;
pub mod store;
mod user_recent;
pub mod whoami;
pub mod writable;

pub use routes::{admin, app};
pub use state::AppState;
