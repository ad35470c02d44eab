//! Writing messages to MongoDB: idempotent index set-up and batched, unordered inserts in which
//! a duplicate (a redelivered message) is counted, not treated as a failure, and a document the
//! store refuses for good is set aside (`refusal`) instead of failing its batch forever. Each
//! message is placed in its conversation and counted in the read model (`project`, `readmodel`)
//! as it is written.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use mongodb::options::WriteConcern;
use mongodb::{Client, Collection};
use wiber_common::change::changes_collection;
use wiber_common::message::StoredMessage;
use wiber_common::mongo::{NAMESPACE_NOT_FOUND, is_command_error};
use wiber_common::queries::{
    CHANGE_INDEXES, INBOX_INDEXES, INDEXES, Index, LEGACY_INDEXES, TALLY_INDEXES,
};
use wiber_common::readmodel::{inbox_collection, tallies_collection};

use crate::changes::Changes;
use crate::project;
use crate::readmodel::ReadModel;
use crate::refusal::{Refusal, Verdict, judge, whole_command_reason};

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
    read_model: ReadModel,
    changes: Changes,
}

impl MongoWriter {
    /// `assignments` moves at every rebalance (`kafka::WiberContext`).
    pub async fn new(
        uri: &str,
        db: &str,
        collection: &str,
        write_concern: WriteConcern,
        assignments: Arc<AtomicU64>,
    ) -> Result<Self, StoreError> {
        let client = wiber_common::mongo::client(uri, "wiber-consumer").await?;
        let database = client.database(db);
        let messages = database.collection(collection);
        let changes = Changes::new(&database, collection, write_concern.clone());
        let read_model = ReadModel::new(database, collection, write_concern.clone(), assignments);
        Ok(Self {
            client,
            db: db.to_owned(),
            messages,
            write_concern,
            read_model,
            changes,
        })
    }

    /// Creates the indexes the API's queries need (`wiber_common::queries`); a no-op when they
    /// exist. Refuses a store of the earlier layout, whose unique `messageId` index would take
    /// every new message for a duplicate of the first.
    pub async fn ensure_indexes(&self) -> Result<Layout, StoreError> {
        // MongoDB's createIndexes is idempotent, but FerretDB v1 panics when asked for indexes that
        // already exist (docs/concepts/store.md), so only the missing ones are requested.
        let existing = index_names(&self.messages).await?;
        if let Some(legacy) = LEGACY_INDEXES
            .iter()
            .find(|l| existing.iter().any(|e| e == *l))
        {
            return Ok(Layout::Legacy(legacy));
        }
        create_missing(&self.messages, &existing, &INDEXES).await?;
        let name = self.messages.name().to_owned();
        let database = self.client.database(&self.db);
        for (collection, indexes) in [
            (tallies_collection(&name), &TALLY_INDEXES[..]),
            (inbox_collection(&name), &INBOX_INDEXES[..]),
            (changes_collection(&name), &CHANGE_INDEXES[..]),
        ] {
            let collection = database.collection::<mongodb::bson::Document>(&collection);
            let existing = index_names(&collection).await?;
            create_missing(&collection, &existing, indexes).await?;
        }
        let legacy = self.read_model.ensure_layout().await?;
        if legacy {
            tracing::info!(
                "the store holds messages from before the read model: tallies count them as they are made"
            );
        }
        Ok(Layout::Current)
    }

    pub async fn ping(&self) -> bool {
        wiber_common::mongo::ping(&self.client.database(&self.db)).await
    }
}

async fn index_names<T: Send + Sync>(c: &Collection<T>) -> Result<Vec<String>, StoreError> {
    match c.list_index_names().await {
        Ok(names) => Ok(names),
        Err(e) if is_command_error(&e, NAMESPACE_NOT_FOUND) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

async fn create_missing<T: Send + Sync>(
    c: &Collection<T>,
    existing: &[String],
    indexes: &[Index],
) -> Result<(), StoreError> {
    let missing: Vec<_> = indexes
        .iter()
        .filter(|i| !existing.iter().any(|e| e == i.name))
        .map(|i| i.model())
        .collect();
    if !missing.is_empty() {
        c.create_indexes(missing).await?;
    }
    Ok(())
}

impl MessageWriter for MongoWriter {
    /// `messages` are one partition's, in offset order (`consume`): they are placed and counted
    /// from the tallies, written, and only then the read model moves.
    async fn insert(&self, messages: &[StoredMessage]) -> Result<Written, StoreError> {
        let mut states = self
            .read_model
            .states(&project::conversation_keys(messages))
            .await?;
        let users = project::user_keys(messages, &states);
        states.extend(self.read_model.states(&users).await?);
        let mut excluded = BTreeSet::new();
        let mut projection = project::project(messages, &states, &excluded);
        let inserted = self.insert_placed(&projection.messages).await?;
        // A group's records its state refused are set aside as the store's refusals are.
        let refused: Vec<Refusal> = inserted
            .refused
            .iter()
            .map(|r| Refusal {
                index: projection.origins[r.index],
                reason: r.reason.clone(),
            })
            .chain(projection.rejected.iter().map(|(index, reason)| Refusal {
                index: *index,
                reason: reason.clone(),
            }))
            .collect();
        let held: Vec<&StoredMessage> = inserted
            .duplicates
            .iter()
            .map(|&i| &projection.messages[i])
            .collect();
        let copies = self.read_model.copies(&held).await?;
        let written = Written {
            inserted: inserted.inserted,
            duplicates: (inserted.duplicates.len() + projection.counted) as u64,
            refused,
        };
        excluded.extend(written.refused.iter().map(|r| r.index));
        for (at, m) in projection.messages.iter().enumerate() {
            if copies.contains(&m.message_id) {
                excluded.insert(projection.origins[at]);
            }
        }
        if !excluded.is_empty() {
            // Left out, they take no place: the messages after them in their conversations move up.
            let before: HashMap<String, Option<i64>> = projection
                .messages
                .iter()
                .map(|m| (m.message_id.clone(), m.seq))
                .collect();
            projection = project::project(messages, &states, &excluded);
            let moved: Vec<&StoredMessage> = projection
                .messages
                .iter()
                .filter(|m| before.get(&m.message_id) != Some(&m.seq))
                .collect();
            self.read_model.replace(&moved).await?;
        }
        self.read_model.write(&projection).await?;
        // After the messages: a change's message is earlier in the partition, so stored by now.
        self.changes.apply(messages).await?;
        Ok(written)
    }
}

/// What an insert of placed messages did, by their place in what was inserted.
#[derive(Debug, Default)]
struct Inserted {
    inserted: u64,
    duplicates: Vec<usize>,
    refused: Vec<Refusal>,
}

impl MongoWriter {
    async fn insert_placed(&self, messages: &[StoredMessage]) -> Result<Inserted, StoreError> {
        match self.insert_many(messages).await {
            Ok(inserted) => Ok(inserted),
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
    async fn insert_many(&self, messages: &[StoredMessage]) -> Result<Inserted, Unsettled> {
        if messages.is_empty() {
            return Ok(Inserted::default());
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
                return Ok(Inserted {
                    inserted: r.inserted_ids.len() as u64,
                    ..Inserted::default()
                });
            }
            Err(e) => e,
        };
        match judge(&e.kind) {
            Verdict::Retry => Err(Unsettled::Retry(e)),
            Verdict::Settled {
                duplicates,
                refused,
            } => Ok(Inserted {
                inserted: total - duplicates.len() as u64 - refused.len() as u64,
                duplicates,
                refused,
            }),
            Verdict::Isolate => Err(Unsettled::Isolate {
                reason: whole_command_reason(&e.kind),
            }),
        }
    }

    /// Writes each message alone, to find the ones refused.
    async fn one_at_a_time(&self, messages: &[StoredMessage]) -> Result<Inserted, StoreError> {
        let mut written = Inserted::default();
        for (index, message) in messages.iter().enumerate() {
            match self.insert_many(std::slice::from_ref(message)).await {
                Ok(one) => {
                    written.inserted += one.inserted;
                    if !one.duplicates.is_empty() {
                        written.duplicates.push(index);
                    }
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
