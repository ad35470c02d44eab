//! Writing messages to MongoDB: idempotent index set-up and batched, unordered inserts in which
//! a duplicate (a redelivered message) is counted, not treated as a failure.

use std::future::Future;

use mongodb::bson::doc;
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{IndexOptions, WriteConcern};
use mongodb::{Client, Collection, IndexModel};
use wiber_common::message::StoredMessage;
use wiber_common::mongo::DUPLICATE_KEY;

const NAMESPACE_NOT_FOUND: i32 = 26;

pub use wiber_common::mongo::StoreError;

/// What a batch insert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub inserted: u64,
    pub duplicates: u64,
}

pub trait MessageWriter: Send + Sync + 'static {
    /// Stores every message durably (per the write concern), or fails as a whole so the batch is
    /// retried; messages already stored come back as duplicates on the retry.
    fn insert(
        &self,
        messages: &[StoredMessage],
    ) -> impl Future<Output = Result<Written, StoreError>> + Send;
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

    /// Creates the indexes the consumer and the API's queries need; a no-op when they exist.
    pub async fn ensure_indexes(&self) -> Result<(), StoreError> {
        let index = |name: &str, keys, unique: bool| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .name(name.to_owned())
                        .unique(unique.then_some(true))
                        .build(),
                )
                .build()
        };
        let wanted = [
            // Redelivered messages are dropped here: at-least-once delivery, stored once.
            index("messageId_unique", doc! { "messageId": 1 }, true),
            // GET /messages/{a}/{b}: equality on the conversation, then its order.
            index(
                "conversation_order",
                doc! { "conversationId": 1, "timestamp": 1, "partition": 1, "offset": 1 },
                false,
            ),
            // GET /messages/user/{u} and counts per user: one index per side of the $or.
            index(
                "from_recent",
                doc! { "fromUser": 1, "timestamp": -1 },
                false,
            ),
            index("to_recent", doc! { "toUser": 1, "timestamp": -1 }, false),
        ];
        // MongoDB's createIndexes is idempotent, but FerretDB v1 panics when asked for indexes that
        // already exist (see README), so only the missing ones are requested.
        let existing = match self.messages.list_index_names().await {
            Ok(names) => names,
            Err(e) if matches!(*e.kind, ErrorKind::Command(ref c) if c.code == NAMESPACE_NOT_FOUND) => {
                Vec::new()
            }
            Err(e) => return Err(e.into()),
        };
        let missing: Vec<IndexModel> = wanted
            .into_iter()
            .filter(|m| {
                let name = m.options.as_ref().and_then(|o| o.name.as_deref());
                !name.is_some_and(|n| existing.iter().any(|e| e == n))
            })
            .collect();
        if !missing.is_empty() {
            self.messages.create_indexes(missing).await?;
        }
        Ok(())
    }

    pub async fn ping(&self) -> bool {
        wiber_common::mongo::ping(&self.client.database(&self.db)).await
    }
}

impl MessageWriter for MongoWriter {
    async fn insert(&self, messages: &[StoredMessage]) -> Result<Written, StoreError> {
        if messages.is_empty() {
            return Ok(Written::default());
        }
        let total = messages.len() as u64;
        let result = self
            .messages
            .insert_many(messages)
            .ordered(false)
            .write_concern(self.write_concern.clone())
            .await;
        match result {
            Ok(r) => Ok(Written {
                inserted: r.inserted_ids.len() as u64,
                duplicates: 0,
            }),
            Err(e) => match duplicates_only(&e) {
                Some(duplicates) => Ok(Written {
                    inserted: total - duplicates,
                    duplicates,
                }),
                None => Err(e.into()),
            },
        }
    }
}

/// The number of failed documents when every failure is a duplicate key and the write concern
/// was met; `None` when anything else went wrong.
fn duplicates_only(e: &mongodb::error::Error) -> Option<u64> {
    match e.kind.as_ref() {
        ErrorKind::InsertMany(m) if m.write_concern_error.is_none() => {
            let errors = m.write_errors.as_ref()?;
            errors
                .iter()
                .all(|w| w.code == DUPLICATE_KEY)
                .then_some(errors.len() as u64)
        }
        ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == DUPLICATE_KEY => Some(1),
        _ => None,
    }
}
