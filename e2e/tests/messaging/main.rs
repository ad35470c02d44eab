//! The message path against the real local Kafka and MongoDB-protocol server: the servers are real,
//! the real API and consumer binaries keep the HTTP contract, over secured listeners too, and every
//! fault ends with every acknowledged message stored exactly once. One test binary, so it is linked
//! once; its tests run side by side, each on its own topic, consumer group and database.

use std::time::Duration;

mod auth;
mod backup;
mod changes;
mod chat_journeys;
mod chat_page;
mod conversations;
mod edge;
mod faults;
mod groups;
mod https;
mod images;
mod indexes_serve_queries;
mod kafka_is_real;
mod kafka_security;
mod keys;
mod mongo_is_real;
mod pipeline;
mod push;
mod sbom;
mod schema;
mod signals;
mod soak;
mod socket_tokens;
mod tracing;
mod typescript_client;

/// How long the message path gets to store (and count) what it acknowledged when nothing goes wrong.
const STORED_WITHIN: Duration = Duration::from_secs(60);
