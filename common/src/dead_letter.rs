//! The dead-letter topic's record headers: written by the consumer with each record it cannot
//! store, read by `kubectl wiber dlq` and the tests.

/// Why the record was not stored, in words.
pub const REASON_HEADER: &str = "wiber-dlq-reason";
/// The bounded kind of failure (`malformed`, `store_refused`, ...): the metrics' label.
pub const CATEGORY_HEADER: &str = "wiber-dlq-category";
/// Where the record was first written: topic, partition and offset.
pub const ORIGIN_TOPIC_HEADER: &str = "wiber-origin-topic";
pub const ORIGIN_PARTITION_HEADER: &str = "wiber-origin-partition";
pub const ORIGIN_OFFSET_HEADER: &str = "wiber-origin-offset";
/// On a record `kubectl wiber dlq replay` wrote back: the dead letter it came from
/// (`<topic>:<partition>:<offset>`).
pub const REPLAYED_FROM_HEADER: &str = "wiber-replayed-from";
