//! The HTTP contract with the producer and store replaced by in-memory fakes: authentication and
//! who may do what, validation, error shapes, idempotency, pagination headers, health and metrics. The real Kafka and MongoDB path
//! is covered by the e2e crate. One test binary, so it is linked once.

mod auth;
mod changes;
mod conversations;
mod edge;
mod fakes;
mod fuzz;
mod groups;
mod openapi;
mod reference;
mod routes;
mod sending;
mod signals;
