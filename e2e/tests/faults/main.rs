//! Fault tests: each ends with "every acknowledged message stored exactly once". One test binary,
//! so it is linked once.

use std::time::Duration;

mod consumer;
mod sending;
mod store;

const STORED_WITHIN: Duration = Duration::from_secs(90);
const STREAM: usize = 1500;
const CONCURRENCY: usize = 16;
