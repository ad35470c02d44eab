//! Read marks (`wiber_common::readmodel::ReadMark`): written by the API alone, in their own
//! collection, and joined into the inbox entries the consumer writes whenever the API reads them.
//! A mark never moves back.

use futures::{StreamExt, TryStreamExt};
use mongodb::bson::doc;
use wiber_common::readmodel::{InboxEntry, ReadMark};

use crate::store::{MongoStore, StoreError, bounded};

/// Mark lookups in flight at once for one inbox page.
const MARKS_IN_FLIGHT: usize = 8;

impl MongoStore {
    /// `entries` with their members' read marks joined in (one lookup for all), leaving out an
    /// entry made before the conversation's first message reached it.
    pub(crate) async fn with_marks(
        &self,
        entries: Vec<InboxEntry>,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        // One lookup by `_id` each: FerretDB reaches PostgreSQL with an equality only, and would
        // read every mark of the collection for an `$in`.
        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        let marks: Vec<ReadMark> = futures::stream::iter(ids)
            .map(|id| {
                let reads = self.reads.clone();
                let timeout = self.timeout;
                async move { bounded(timeout, reads.find_one(doc! { "_id": id })).await }
            })
            .buffered(MARKS_IN_FLIGHT)
            .try_collect::<Vec<Option<ReadMark>>>()
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok(entries
            .into_iter()
            .filter(|e| e.last.is_some())
            .map(|mut e| {
                if let Some(mark) = marks.iter().find(|m| m.id == e.id) {
                    e.read_seq = e.read_seq.max(mark.read_seq);
                }
                e
            })
            .collect())
    }

    pub(crate) async fn read_up_to(
        &self,
        user: &str,
        conversation_id: &str,
        message_id: &str,
        until: Option<i64>,
    ) -> Result<Option<InboxEntry>, StoreError> {
        let message = self
            .bounded(self.messages.find_one(doc! { "_id": message_id }))
            .await?;
        let Some(message) = message.filter(|m| {
            m.conversation_id == conversation_id
                && until.is_none_or(|until| m.seq.is_some_and(|seq| seq <= until))
        }) else {
            return Ok(None);
        };
        let id = InboxEntry::id_of(user, conversation_id);
        // A message from before places marks nothing: those count as read already.
        if let Some(seq) = message.seq {
            let behind = doc! { "_id": &id, "readSeq": { "$lt": seq } };
            let mark = doc! {
                "$set": { "readSeq": seq },
                "$setOnInsert": { "user": user, "conversationId": conversation_id },
            };
            let update = self.reads.update_one(behind, mark).upsert(true);
            match self.bounded(update).await {
                Ok(_) => {}
                // Read further already: the mark never moves back.
                Err(StoreError::Mongo(e)) if wiber_common::mongo::is_duplicate_key(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let entry = self
            .bounded(self.inbox.find_one(doc! { "_id": &id }))
            .await?
            .unwrap_or_else(|| InboxEntry {
                id: id.clone(),
                user: user.to_owned(),
                conversation_id: conversation_id.to_owned(),
                members: Vec::new(),
                title: None,
                count: 0,
                read_seq: 0,
                last: None,
                last_timestamp: 0,
                last_partition: 0,
                last_offset: 0,
            });
        let mark = self
            .bounded(self.reads.find_one(doc! { "_id": &id }))
            .await?;
        let mut entry = entry;
        if let Some(mark) = mark {
            entry.read_seq = entry.read_seq.max(mark.read_seq);
        }
        Ok(Some(entry))
    }

    /// Each of `users`' read mark in a conversation (their own messages' place, or their mark).
    pub(crate) async fn marks_of(
        &self,
        conversation_id: &str,
        users: &[String],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let ids: Vec<String> = users
            .iter()
            .map(|u| InboxEntry::id_of(u, conversation_id))
            .collect();
        let entries: Vec<InboxEntry> = self
            .bounded(async {
                let cursor = self.inbox.find(doc! { "_id": { "$in": ids } }).await?;
                cursor.try_collect().await
            })
            .await?;
        let entries = self.with_marks(entries).await?;
        Ok(entries.into_iter().map(|e| (e.user, e.read_seq)).collect())
    }
}
