//! Fault tests: each ends with "every acknowledged message stored exactly once".

use std::time::Duration;

mod brokers;
mod consumer;
mod sending;
mod store;

/// How long a fault test waits for the pipeline, recovering from the fault included.
pub(crate) const RECOVERED_WITHIN: Duration = Duration::from_secs(90);
const STREAM: usize = 1500;
pub(crate) const CONCURRENCY: usize = 16;
