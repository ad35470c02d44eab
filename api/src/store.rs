//! Reading stored messages from MongoDB, behind a small trait so routes test without a database.
//! The consumer writes the documents and creates the indexes these queries use.

use std::future::{Future, IntoFuture};
use std::time::Duration;

use futures::TryStreamExt;
use mongodb::bson::{DateTime, doc};
use mongodb::options::WriteConcern;
use mongodb::{Client, Collection};
use serde::{Deserialize, Serialize};
use wiber_common::group::GroupState;
use wiber_common::message::StoredMessage;
use wiber_common::queries::{self, Query};
use wiber_common::readmodel::{
    InboxEntry, ReadMark, Tally, TallyKey, TallyState, inbox_collection, reads_collection,
    tallies_collection,
};

use crate::producer::Produced;

pub use wiber_common::mongo::StoreError;
pub use wiber_common::queries::{Cursor, PageCursor};

/// Who holds an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyHolder {
    /// Nobody did: it is now reserved for the message being sent.
    Reserved,
    /// A message reserved it earlier; `timestamp` is the broker's time once one copy of it was
    /// acknowledged, `None` while that is still in flight or its outcome is unknown.
    Held {
        message_id: String,
        timestamp: Option<i64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationPage {
    pub conversation_id: String,
    pub after: Option<PageCursor>,
    pub skip: u64,
    pub limit: i64,
}

/// Which messages to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountScope {
    All,
    User(String),
    Conversation(String),
}

pub trait MessageStore: Send + Sync + 'static {
    /// A conversation page, oldest first, in the order Kafka appended the messages.
    fn conversation(
        &self,
        page: ConversationPage,
    ) -> impl Future<Output = Result<Vec<StoredMessage>, StoreError>> + Send;
    /// A user's messages, sent or received, newest first.
    fn user_messages(
        &self,
        user: &str,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<StoredMessage>, StoreError>> + Send;
    fn count(&self, scope: CountScope) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Up to `limit` of a user's messages in `partition` with an offset in `(after, upto]`, in
    /// offset order: what a push stream replays on resume.
    fn stream_range(
        &self,
        user: &str,
        partition: i32,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<StoredMessage>, StoreError>> + Send;
    /// Reserves the key `key_id` for `message_id` in one atomic write, unless a message holds it.
    fn reserve_key(
        &self,
        key_id: &str,
        message_id: &str,
    ) -> impl Future<Output = Result<KeyHolder, StoreError>> + Send;
    /// Records that the key's message was acknowledged and returns the broker time to answer with:
    /// of the copies acknowledged, the one at the lowest offset, which is the one stored.
    fn key_acknowledged(
        &self,
        key_id: &str,
        produced: Produced,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// A user's inbox page: up to `limit` conversations, most recently active first, before
    /// `before` (the position of the previous page's last entry's last message).
    fn inbox(
        &self,
        user: &str,
        before: Option<Cursor>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<InboxEntry>, StoreError>> + Send;
    /// Marks `user`'s conversation read up to `message_id`, never back; `None` when no such
    /// message is in the conversation (at or before place `until`, when given).
    fn mark_read(
        &self,
        user: &str,
        conversation_id: &str,
        message_id: &str,
        until: Option<i64>,
    ) -> impl Future<Output = Result<Option<InboxEntry>, StoreError>> + Send;
    /// A group as the consumer last applied it (`None`: no such group).
    fn group(
        &self,
        conversation_id: &str,
    ) -> impl Future<Output = Result<Option<GroupState>, StoreError>> + Send;
    /// A group and its conversation's tally: where the consumer applied its records
    /// (`TallyState::applied_in`).
    fn group_applied(
        &self,
        conversation_id: &str,
    ) -> impl Future<Output = Result<Option<(GroupState, TallyState)>, StoreError>> + Send;
    /// The read marks of `users` in a conversation: `(user, readSeq)` for each who has an entry.
    fn read_marks(
        &self,
        conversation_id: &str,
        users: &[String],
    ) -> impl Future<Output = Result<Vec<(String, i64)>, StoreError>> + Send;
    /// The stored message `message_id`.
    fn message(
        &self,
        message_id: &str,
    ) -> impl Future<Output = Result<Option<StoredMessage>, StoreError>> + Send;
    /// Whether the message (or membership change) `message_id` is stored.
    fn is_stored(&self, message_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn ready(&self) -> impl Future<Output = bool> + Send;
}

/// An idempotency key's reservation, in the collection `<MONGO_COLLECTION>_idempotency`, kept
/// until `expires_at` (`key_expiry`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyReservation {
    #[serde(rename = "_id")]
    key_id: String,
    message_id: String,
    reserved_at: DateTime,
    /// Absent on reservations made before keys expired: `key_expiry` sweeps those by `reserved_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timestamp: Option<i64>,
}

pub struct MongoStore {
    client: Client,
    db: String,
    pub(crate) messages: Collection<StoredMessage>,
    keys: Collection<KeyReservation>,
    pub(crate) tallies: Collection<Tally>,
    pub(crate) inbox: Collection<InboxEntry>,
    /// Edits and deletes, kept for streams that resume from before them.
    changes: Collection<StoredMessage>,
    /// Read marks, which the API alone writes (`marks`).
    pub(crate) reads: Collection<ReadMark>,
    /// Set once the store is known to hold no message from before the read model, which never
    /// changes back (`crate::placed`).
    pub(crate) current: std::sync::atomic::AtomicBool,
    pub(crate) timeout: Duration,
    /// API_IDEMPOTENCY_KEY_TTL_SECONDS: how long a key's reservation is kept.
    pub(crate) key_ttl: Duration,
}

impl MongoStore {
    /// The idempotency keys' reservations, for their expiry (`key_expiry`).
    pub fn key_reservations(&self) -> Collection<mongodb::bson::Document> {
        self.keys.clone_with_type()
    }

    /// Parses the URI and prepares the pool; connections are made on first use, so the API
    /// starts (and reports not-ready) while the database is still coming up. No operation takes
    /// longer than `timeout`, so a frozen store costs a request that long, not the driver's own limits.
    pub async fn new(
        uri: &str,
        db: &str,
        collection: &str,
        timeout: Duration,
        key_ttl: Duration,
    ) -> Result<Self, StoreError> {
        let client = wiber_common::mongo::client(uri, "wiber-api").await?;
        let database = client.database(db);
        Ok(Self {
            messages: database.collection(collection),
            keys: database.collection(&format!("{collection}_idempotency")),
            tallies: database.collection(&tallies_collection(collection)),
            inbox: database.collection(&inbox_collection(collection)),
            changes: database.collection(&wiber_common::change::changes_collection(collection)),
            reads: database.collection(&reads_collection(collection)),
            current: std::sync::atomic::AtomicBool::new(false),
            client,
            db: db.to_owned(),
            timeout,
            key_ttl,
        })
    }

    /// A query, sorted as its index is (a hint would fail every read while the index is missing).
    pub(crate) async fn find<T>(
        &self,
        collection: &Collection<T>,
        query: Query,
        skip: u64,
        limit: i64,
    ) -> Result<Vec<T>, StoreError>
    where
        T: serde::de::DeserializeOwned + Send + Sync + Unpin,
    {
        let mut find = collection.find(query.filter).skip(skip).limit(limit);
        if let Some(sort) = query.sort {
            find = find.sort(sort);
        }
        self.bounded(async { find.await?.try_collect().await })
            .await
    }

    pub(crate) async fn bounded<T>(
        &self,
        operation: impl IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> Result<T, StoreError> {
        bounded(self.timeout, operation).await
    }
}

/// `operation`, given up after `timeout` (the store's `MONGO_TIMEOUT_MS`).
pub(crate) async fn bounded<T>(
    timeout: Duration,
    operation: impl IntoFuture<Output = mongodb::error::Result<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, operation.into_future()).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(StoreError::Timeout(timeout)),
    }
}

/// A reservation must survive a failover, or a second message could take the key.
fn majority() -> WriteConcern {
    WriteConcern::majority()
}

impl MessageStore for MongoStore {
    async fn conversation(&self, page: ConversationPage) -> Result<Vec<StoredMessage>, StoreError> {
        self.conversation_page(page).await
    }

    async fn user_messages(
        &self,
        user: &str,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.user_recent(user, limit).await
    }

    async fn stream_range(
        &self,
        user: &str,
        partition: i32,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        // Its messages and the edits and deletes of them, merged in offset order.
        let query = queries::stream_range(user, partition, after, upto);
        let (messages, changes) = tokio::try_join!(
            self.find(&self.messages, query.clone(), 0, limit),
            self.find(&self.changes, query, 0, limit),
        )?;
        let mut both: Vec<StoredMessage> = messages.into_iter().chain(changes).collect();
        both.sort_by_key(|m| m.offset);
        both.truncate(limit.max(0) as usize);
        Ok(both)
    }

    async fn count(&self, scope: CountScope) -> Result<u64, StoreError> {
        if let Some(count) = self.tallied(&scope).await? {
            return Ok(count);
        }
        let query = match scope {
            // From the collection's metadata on a MongoDB; no index would make an exact count cheap.
            CountScope::All => return self.bounded(self.messages.estimated_document_count()).await,
            CountScope::User(user) => queries::user_count(&user),
            CountScope::Conversation(id) => queries::conversation_count(&id),
        };
        self.bounded(self.messages.count_documents(query.filter))
            .await
    }

    async fn reserve_key(&self, key_id: &str, message_id: &str) -> Result<KeyHolder, StoreError> {
        let now = DateTime::now();
        let ttl_ms = i64::try_from(self.key_ttl.as_millis()).unwrap_or(i64::MAX);
        let reservation = KeyReservation {
            key_id: key_id.to_owned(),
            message_id: message_id.to_owned(),
            reserved_at: now,
            expires_at: Some(DateTime::from_millis(
                now.timestamp_millis().saturating_add(ttl_ms),
            )),
            timestamp: None,
        };
        let insert = self.keys.insert_one(reservation).write_concern(majority());
        match self.bounded(insert).await {
            Ok(_) => return Ok(KeyHolder::Reserved),
            Err(StoreError::Mongo(e)) if wiber_common::mongo::is_duplicate_key(&e) => {}
            Err(e) => return Err(e),
        }
        let held = self
            .bounded(self.keys.find_one(doc! { "_id": key_id }))
            .await?
            .ok_or(StoreError::Lost("the reservation of an idempotency key"))?;
        Ok(KeyHolder::Held {
            message_id: held.message_id,
            timestamp: held.timestamp,
        })
    }

    async fn key_acknowledged(&self, key_id: &str, produced: Produced) -> Result<i64, StoreError> {
        // Copies of one message share its conversation's partition, where the consumer stores
        // the first and drops the rest as duplicates.
        let earlier_unknown = doc! {
            "_id": key_id,
            "$or": [{ "offset": { "$exists": false } }, { "offset": { "$gt": produced.offset } }],
        };
        let set = doc! { "$set": {
            "timestamp": produced.timestamp,
            "partition": produced.partition,
            "offset": produced.offset,
        } };
        let update = self
            .keys
            .update_one(earlier_unknown, set)
            .write_concern(majority());
        if self.bounded(update).await?.matched_count == 1 {
            return Ok(produced.timestamp);
        }
        let held = self
            .bounded(self.keys.find_one(doc! { "_id": key_id }))
            .await?;
        Ok(held.and_then(|h| h.timestamp).unwrap_or(produced.timestamp))
    }

    async fn inbox(
        &self,
        user: &str,
        before: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        self.inbox_page(user, before, limit).await
    }

    async fn mark_read(
        &self,
        user: &str,
        conversation_id: &str,
        message_id: &str,
        until: Option<i64>,
    ) -> Result<Option<InboxEntry>, StoreError> {
        self.read_up_to(user, conversation_id, message_id, until)
            .await
    }

    async fn group(&self, conversation_id: &str) -> Result<Option<GroupState>, StoreError> {
        Ok(self.group_applied(conversation_id).await?.map(|(g, _)| g))
    }

    async fn group_applied(
        &self,
        conversation_id: &str,
    ) -> Result<Option<(GroupState, TallyState)>, StoreError> {
        let key = TallyKey::Conversation(conversation_id.to_owned());
        let tally = self
            .bounded(self.tallies.find_one(doc! { "_id": key.id() }))
            .await?;
        Ok(tally.and_then(|t| Some((t.group?, t.state))))
    }

    async fn read_marks(
        &self,
        conversation_id: &str,
        users: &[String],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.marks_of(conversation_id, users).await
    }

    async fn message(&self, message_id: &str) -> Result<Option<StoredMessage>, StoreError> {
        self.bounded(self.messages.find_one(doc! { "_id": message_id }))
            .await
    }

    async fn is_stored(&self, message_id: &str) -> Result<bool, StoreError> {
        let found = self
            .bounded(
                self.messages
                    .clone_with_type::<mongodb::bson::Document>()
                    .find_one(doc! { "_id": message_id })
                    .projection(doc! { "_id": 1 }),
            )
            .await?;
        Ok(found.is_some())
    }

    async fn ready(&self) -> bool {
        wiber_common::mongo::ping(&self.client.database(&self.db)).await
    }
}
