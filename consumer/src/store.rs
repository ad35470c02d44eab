//! Writing messages to MongoDB: idempotent index set-up and batched, unordered inserts in which
//! a duplicate (a redelivered message) is counted, not treated as a failure.

use std::future::Future;

use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::WriteConcern;
use mongodb::{Client, Collection};
use wiber_common::message::StoredMessage;
use wiber_common::mongo::DUPLICATE_KEY;
use wiber_common::queries::{INDEXES, LEGACY_INDEXES};

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
        // already exist (see README), so only the missing ones are requested.
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
