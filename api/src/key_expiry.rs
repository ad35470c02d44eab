//! Idempotency keys expire: a reservation is kept `API_IDEMPOTENCY_KEY_TTL_SECONDS` (a day by
//! default) and then removed, so the collection holds about a TTL's worth of keys however long
//! Wiber runs, instead of one document per key forever.
//!
//! MongoDB removes them itself with a TTL index on `expiresAt` (its monitor runs every 60 s).
//! FerretDB has no TTL indexes (it answers NotImplemented), so every API replica also deletes the
//! expired reservations itself every `sweep_every(ttl)`; on MongoDB that is an indexed range
//! delete that finds what the monitor has not reached yet. A key is honoured at least its TTL and
//! gone within a sweep after. A retry after that is a new send under a free key: its message id
//! still follows its content, so if the first copy is stored the consumer stores it once.

use std::time::Duration;

use mongodb::bson::{DateTime, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use prometheus::{IntCounter, Registry};
use wiber_common::mongo::{NAMESPACE_NOT_FOUND, is_command_error};

use crate::store::{MongoStore, StoreError, bounded};

/// The TTL index's name.
pub const INDEX: &str = "key_expiry";
/// MongoDB's code for a feature the server lacks, FerretDB's answer to `expireAfterSeconds`.
const NOT_IMPLEMENTED: i32 = 238;

/// How often a replica deletes expired reservations: half the TTL, between 1 s and a minute.
pub fn sweep_every(ttl: Duration) -> Duration {
    (ttl / 2).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// What has expired at `now`: reservations past their `expiresAt`, and those made before keys
/// expired (no `expiresAt`) a TTL after they were made.
pub fn expired(now: DateTime, ttl: Duration) -> Document {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let made_before = DateTime::from_millis(now.timestamp_millis().saturating_sub(ttl_ms));
    doc! { "$or": [
        { "expiresAt": { "$lt": now } },
        { "expiresAt": { "$exists": false }, "reservedAt": { "$lt": made_before } },
    ] }
}

pub struct KeyExpiry {
    keys: Collection<Document>,
    ttl: Duration,
    timeout: Duration,
    expired: IntCounter,
}

impl KeyExpiry {
    pub fn new(store: &MongoStore, registry: &Registry) -> Self {
        Self {
            keys: store.key_reservations(),
            ttl: store.key_ttl,
            timeout: store.timeout,
            expired: wiber_common::metrics::counter(
                registry,
                "wiber_api_idempotency_keys_expired_total",
                "Idempotency key reservations this replica deleted once expired",
            ),
        }
    }

    /// Asks for the TTL index unless it is there; `Ok(false)` where the store has no TTL indexes.
    pub async fn ensure_index(&self) -> Result<bool, StoreError> {
        // FerretDB v1 fails on a request for an index that exists, so only a missing one is asked.
        let names = match bounded(self.timeout, self.keys.list_index_names()).await {
            Ok(names) => names,
            Err(StoreError::Mongo(e)) if is_command_error(&e, NAMESPACE_NOT_FOUND) => Vec::new(),
            Err(e) => return Err(e),
        };
        if names.iter().any(|n| n == INDEX) {
            return Ok(true);
        }
        let model = IndexModel::builder()
            .keys(doc! { "expiresAt": 1 })
            .options(
                IndexOptions::builder()
                    .name(INDEX.to_owned())
                    .expire_after(Duration::ZERO)
                    .build(),
            )
            .build();
        match bounded(self.timeout, self.keys.create_index(model)).await {
            Ok(_) => Ok(true),
            Err(StoreError::Mongo(e)) if is_command_error(&e, NOT_IMPLEMENTED) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes the reservations expired now; how many.
    pub async fn sweep(&self) -> Result<u64, StoreError> {
        let delete = self.keys.delete_many(expired(DateTime::now(), self.ttl));
        let deleted = bounded(self.timeout, delete).await?.deleted_count;
        self.expired.inc_by(deleted);
        Ok(deleted)
    }

    /// Sweeps every `sweep_every(ttl)` for the life of the process, asking for the TTL index
    /// until the store has answered (it may still be starting).
    pub async fn run(self) {
        let mut every = tokio::time::interval(sweep_every(self.ttl));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut indexed = false;
        loop {
            every.tick().await;
            if !indexed {
                match self.ensure_index().await {
                    Ok(ttl_index) => {
                        indexed = true;
                        tracing::info!(ttl_index, "idempotency keys expire after {:?}", self.ttl);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the idempotency keys' TTL index not made yet")
                    }
                }
            }
            if let Err(e) = self.sweep().await {
                tracing::warn!(error = %e, "expired idempotency keys not deleted this time");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_sweeps_at_half_the_ttl_between_a_second_and_a_minute() {
        assert_eq!(
            sweep_every(Duration::from_secs(86_400)),
            Duration::from_secs(60)
        );
        assert_eq!(
            sweep_every(Duration::from_secs(30)),
            Duration::from_secs(15)
        );
        assert_eq!(sweep_every(Duration::from_secs(1)), Duration::from_secs(1));
    }

    #[test]
    fn expired_means_past_expires_at_or_made_a_ttl_ago_before_keys_expired() {
        let now = DateTime::from_millis(1_000_000);
        let filter = expired(now, Duration::from_secs(60));
        let branches = filter.get_array("$or").unwrap();
        let first = branches[0].as_document().unwrap();
        assert_eq!(first, &doc! { "expiresAt": { "$lt": now } });
        let second = branches[1].as_document().unwrap();
        assert_eq!(
            second.get_document("reservedAt").unwrap(),
            &doc! { "$lt": DateTime::from_millis(940_000) }
        );
    }
}
