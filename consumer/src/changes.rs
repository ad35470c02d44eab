//! Applying edits and deletes (`wiber_common::change`) after the batch's messages are written,
//! in offset order, and keeping read receipts (`wiber_common::signal`) beside them for streams
//! that resume from before them (written once, by their own id). Each is exact under redelivery: it applies only if it is later than the last
//! change applied to its message (`changed`), what it writes is absolute (written again, the same),
//! and it is kept once (by its own id) in `<MONGO_COLLECTION>_changes` for streams that resume from
//! before it. A delete also empties the
//! content of the message's earlier edits and of its members' inbox entries. A change whose message
//! is not there, is another sender's, or is deleted already does nothing: the API refused those,
//! so only a record produced around it, or one overtaken by a later change, gets here.

use mongodb::bson::{Bson, Document, doc};
use mongodb::options::WriteConcern;
use mongodb::{Collection, Database};
use wiber_common::change::{Change, changes_collection};
use wiber_common::message::StoredMessage;
use wiber_common::mongo::{StoreError, is_duplicate_key};
use wiber_common::readmodel::{InboxEntry, inbox_collection};

pub struct Changes {
    messages: Collection<StoredMessage>,
    changes: Collection<StoredMessage>,
    inbox: Collection<Document>,
    write_concern: WriteConcern,
}

impl Changes {
    pub fn new(db: &Database, messages: &str, write_concern: WriteConcern) -> Self {
        Self {
            messages: db.collection(messages),
            changes: db.collection(&changes_collection(messages)),
            inbox: db.collection(&inbox_collection(messages)),
            write_concern,
        }
    }

    /// Applies the batch's changes and keeps its receipts, in the batch's (offset) order.
    pub async fn apply(&self, batch: &[StoredMessage]) -> Result<(), StoreError> {
        for record in batch {
            if record.change.is_some() {
                self.apply_one(record).await?;
            } else if record.signal.is_some() {
                self.keep(record).await?;
            }
        }
        Ok(())
    }

    /// Keeps a record once, by its own id, with those it was addressed to.
    async fn keep(&self, record: &StoredMessage) -> Result<(), StoreError> {
        let insert = self
            .changes
            .insert_one(record)
            .write_concern(self.write_concern.clone());
        match insert.await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Everything a change writes besides the message first, the message last: the message's
    /// `changed` says the whole change is applied (the API answers on it), and a change it already
    /// passed is left alone.
    async fn apply_one(&self, record: &StoredMessage) -> Result<(), StoreError> {
        let change = record.change.as_ref().expect("a change");
        let Some(target) = self
            .messages
            .find_one(doc! { "_id": change.message_id() })
            .await?
        else {
            return Ok(());
        };
        let own = target.from_user == record.from_user;
        let allowed = match change {
            Change::Edited { .. } => own,
            Change::Deleted { admin, .. } => own || *admin,
        };
        let passed = target.changed.is_some_and(|c| c >= record.offset);
        if !allowed || passed || target.deleted || target.conversation_id != record.conversation_id
        {
            return Ok(());
        }
        let concern = self.write_concern.clone();
        let mut kept = record.clone();
        kept.participants = target.participants.clone();
        self.keep(&kept).await?;
        let (content, set) = match change {
            Change::Edited { .. } => (
                record.content.as_str(),
                doc! { "content": &record.content, "edited": true, "changed": record.offset },
            ),
            Change::Deleted { .. } => {
                self.changes
                    .update_many(
                        doc! { "change.messageId": change.message_id() },
                        doc! { "$set": { "content": "" } },
                    )
                    .write_concern(concern.clone())
                    .await?;
                (
                    "",
                    doc! { "content": "", "deleted": true, "changed": record.offset },
                )
            }
        };
        for user in &target.participants {
            let entry = InboxEntry::id_of(user, &target.conversation_id);
            self.inbox
                .update_one(
                    doc! { "_id": entry, "last.messageId": &target.message_id },
                    doc! { "$set": { "last.content": Bson::String(content.to_owned()) } },
                )
                .write_concern(concern.clone())
                .await?;
        }
        let not_passed = doc! {
            "_id": &target.message_id,
            "$or": [{ "changed": { "$exists": false } }, { "changed": { "$lt": record.offset } }],
        };
        self.messages
            .update_one(not_passed, doc! { "$set": set })
            .write_concern(concern)
            .await?;
        Ok(())
    }
}
