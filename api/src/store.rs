//! Reading stored messages from MongoDB, behind a small trait so routes test without a database.
//! The consumer writes the documents and creates the indexes these queries use.

use std::future::Future;

use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::{Client, Collection};
use wiber_common::message::StoredMessage;

#[derive(Debug, thiserror::Error)]
#[error("message store: {0}")]
pub struct StoreError(#[from] mongodb::error::Error);

/// Where a conversation page starts: just after this message in conversation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub timestamp: i64,
    pub partition: i32,
    pub offset: i64,
}

impl Cursor {
    pub fn after(m: &StoredMessage) -> Self {
        Self {
            timestamp: m.timestamp,
            partition: m.partition,
            offset: m.offset,
        }
    }

    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.timestamp, self.partition, self.offset)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let mut parts = s.split('.');
        let cursor = Self {
            timestamp: parts.next()?.parse().ok()?,
            partition: parts.next()?.parse().ok()?,
            offset: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(cursor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationPage {
    pub conversation_id: String,
    pub after: Option<Cursor>,
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
    fn find(
        &self,
        message_id: &str,
    ) -> impl Future<Output = Result<Option<StoredMessage>, StoreError>> + Send;
    fn ready(&self) -> impl Future<Output = bool> + Send;
}

pub struct MongoStore {
    client: Client,
    db: String,
    messages: Collection<StoredMessage>,
}

impl MongoStore {
    /// Parses the URI and prepares the pool; connections are made on first use, so the API
    /// starts (and reports not-ready) while the database is still coming up.
    pub async fn new(uri: &str, db: &str, collection: &str) -> Result<Self, StoreError> {
        let client = wiber_common::mongo::client(uri, "wiber-api").await?;
        let messages = client.database(db).collection(collection);
        Ok(Self {
            client,
            db: db.to_owned(),
            messages,
        })
    }
}

fn conversation_order(direction: i32) -> Document {
    doc! { "timestamp": direction, "partition": direction, "offset": direction }
}

fn user_filter(user: &str) -> Document {
    doc! { "$or": [{ "fromUser": user }, { "toUser": user }] }
}

impl MessageStore for MongoStore {
    async fn conversation(&self, page: ConversationPage) -> Result<Vec<StoredMessage>, StoreError> {
        let mut filter = doc! { "conversationId": &page.conversation_id };
        if let Some(c) = page.after {
            // Strictly after the cursor in (timestamp, partition, offset) order.
            filter.insert(
                "$or",
                vec![
                    doc! { "timestamp": { "$gt": c.timestamp } },
                    doc! { "timestamp": c.timestamp, "partition": { "$gt": c.partition } },
                    doc! { "timestamp": c.timestamp, "partition": c.partition, "offset": { "$gt": c.offset } },
                ],
            );
        }
        let cursor = self
            .messages
            .find(filter)
            .sort(conversation_order(1))
            .skip(page.skip)
            .limit(page.limit)
            .await?;
        Ok(cursor.try_collect().await?)
    }

    async fn user_messages(
        &self,
        user: &str,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let cursor = self
            .messages
            .find(user_filter(user))
            .sort(conversation_order(-1))
            .limit(limit)
            .await?;
        Ok(cursor.try_collect().await?)
    }

    async fn count(&self, scope: CountScope) -> Result<u64, StoreError> {
        let filter = match scope {
            CountScope::All => doc! {},
            CountScope::User(user) => user_filter(&user),
            CountScope::Conversation(id) => doc! { "conversationId": id },
        };
        Ok(self.messages.count_documents(filter).await?)
    }

    async fn find(&self, message_id: &str) -> Result<Option<StoredMessage>, StoreError> {
        Ok(self
            .messages
            .find_one(doc! { "messageId": message_id })
            .await?)
    }

    async fn ready(&self) -> bool {
        wiber_common::mongo::ping(&self.client.database(&self.db)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            timestamp: 1_700_000_000_123,
            partition: 2,
            offset: 99,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "1.2", "1.2.3.4", "a.b.c", "1..3"] {
            assert_eq!(Cursor::decode(bad), None, "{bad:?}");
        }
    }
}
