//! Writing messages to MongoDB: idempotent index set-up and batched, unordered inserts in which
//! a duplicate (a redelivered message) is counted, not treated as a failure, and a document the
//! store refuses for good is set aside (`refusal`) instead of failing its batch forever.

use std::future::Future;

use mongodb::error::ErrorKind;
use mongodb::options::WriteConcern;
use mongodb::{Client, Collection};
use wiber_common::message::StoredMessage;
use wiber_common::queries::{INDEXES, LEGACY_INDEXES};

use crate::refusal::{Refusal, Verdict, judge, whole_command_reason};

const NAMESPACE_NOT_FOUND: i32 = 26;

pub use wiber_common::mongo::StoreError;

/// What a batch insert did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub inserted: u64,
    pub duplicates: u64,
    /// Messages the store will never take, by their place in the batch.
    pub refused: Vec<Refusal>,
}

pub trait MessageWriter: Send + Sync + 'static {
    /// Stores every message durably (per the write concern) but those the store refuses for good,
    /// or fails as a whole so the batch is retried; messages already stored come back as
    /// duplicates on the retry.
    fn insert(
        &self,
        messages: &[StoredMessage],
    ) -> impl Future<Output = Result<Written, StoreError>> + Send;
}

/// What the collection was laid out for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Current,
    /// The earlier layout, recognised by this index of it.
    Legacy(&'static str),
}

pub struct MongoWriter {
    client: Client,
    db: String,
    messages: Collection<StoredMessage>,
    write_concern: WriteConcern,
}

impl MongoWriter {
    pub async fn new(
        uri: &str,
        db: &str,
        collection: &str,
        write_concern: WriteConcern,
    ) -> Result<Self, StoreError> {
        let client = wiber_common::mongo::client(uri, "wiber-consumer").await?;
        let messages = client.database(db).collection(collection);
        Ok(Self {
            client,
            db: db.to_owned(),
            messages,
            write_concern,
        })
    }

    /// Creates the indexes the API's queries need (`wiber_common::queries`); a no-op when they
    /// exist. Refuses a store of the earlier layout, whose unique `messageId` index would take
    /// every new message for a duplicate of the first.
    pub async fn ensure_indexes(&self) -> Result<Layout, StoreError> {
        // MongoDB's createIndexes is idempotent, but FerretDB v1 panics when asked for indexes that
        // already exist (docs/concepts/store.md), so only the missing ones are requested.
        let existing = match self.messages.list_index_names().await {
            Ok(names) => names,
            Err(e) if matches!(*e.kind, ErrorKind::Command(ref c) if c.code == NAMESPACE_NOT_FOUND) => {
                Vec::new()
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(legacy) = LEGACY_INDEXES
            .iter()
            .find(|l| existing.iter().any(|e| e == *l))
        {
            return Ok(Layout::Legacy(legacy));
        }
        let missing: Vec<_> = INDEXES
            .iter()
            .filter(|i| !existing.iter().any(|e| e == i.name))
            .map(|i| i.model())
            .collect();
        if !missing.is_empty() {
            self.messages.create_indexes(missing).await?;
        }
        Ok(Layout::Current)
    }

    pub async fn ping(&self) -> bool {
        wiber_common::mongo::ping(&self.client.database(&self.db)).await
    }
}

impl MessageWriter for MongoWriter {
    async fn insert(&self, messages: &[StoredMessage]) -> Result<Written, StoreError> {
        match self.insert_many(messages).await {
            Ok(written) => Ok(written),
            Err(Unsettled::Retry(e)) => Err(e.into()),
            Err(Unsettled::Isolate { .. }) => self.one_at_a_time(messages).await,
        }
    }
}

/// A batch write that did not settle.
enum Unsettled {
    Retry(mongodb::error::Error),
    /// Some document made the whole command fail, for this reason.
    Isolate {
        reason: String,
    },
}

impl MongoWriter {
    async fn insert_many(&self, messages: &[StoredMessage]) -> Result<Written, Unsettled> {
        if messages.is_empty() {
            return Ok(Written::default());
        }
        let total = messages.len() as u64;
        let e = match self
            .messages
            .insert_many(messages)
            .ordered(false)
            .write_concern(self.write_concern.clone())
            .await
        {
            Ok(r) => {
                return Ok(Written {
                    inserted: r.inserted_ids.len() as u64,
                    ..Written::default()
                });
            }
            Err(e) => e,
        };
        match judge(&e.kind) {
            Verdict::Retry => Err(Unsettled::Retry(e)),
            Verdict::Settled {
                duplicates,
                refused,
            } => Ok(Written {
                inserted: total - duplicates - refused.len() as u64,
                duplicates,
                refused,
            }),
            Verdict::Isolate => Err(Unsettled::Isolate {
                reason: whole_command_reason(&e.kind),
            }),
        }
    }

    /// Writes each message alone, to find the ones refused.
    async fn one_at_a_time(&self, messages: &[StoredMessage]) -> Result<Written, StoreError> {
        let mut written = Written::default();
        for (index, message) in messages.iter().enumerate() {
            match self.insert_many(std::slice::from_ref(message)).await {
                Ok(one) => {
                    written.inserted += one.inserted;
                    written.duplicates += one.duplicates;
                    written
                        .refused
                        .extend(one.refused.into_iter().map(|r| Refusal { index, ..r }));
                }
                Err(Unsettled::Isolate { reason }) => {
                    written.refused.push(Refusal { index, reason })
                }
                Err(Unsettled::Retry(e)) => return Err(e.into()),
            }
        }
        Ok(written)
    }
}
