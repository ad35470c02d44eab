//! Reads of the read model the consumer keeps (`wiber_common::readmodel`): conversation pages by
//! place and counts from tallies (the inbox's: `inbox`). Each is a few equality lookups, whatever
//! the store's size. Messages stored before the read model have no place: pages that reach them,
//! and counts over them, are read as before, from the messages themselves.

use std::sync::atomic::Ordering;

use mongodb::bson::doc;
use wiber_common::message::StoredMessage;
use wiber_common::queries::{self, Cursor, PageCursor};
use wiber_common::readmodel::{LAYOUT_ID, Layout, Tally, TallyKey, page_name, page_of};

use crate::store::{ConversationPage, CountScope, MongoStore, StoreError};

impl MongoStore {
    async fn tally(&self, key: &TallyKey) -> Result<Option<Tally>, StoreError> {
        self.bounded(self.tallies.find_one(doc! { "_id": key.id() }))
            .await
    }

    /// Whether every message has its place (no message from before the read model).
    pub(crate) async fn all_placed(&self) -> Result<bool, StoreError> {
        if self.current.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let layouts = self.tallies.clone_with_type::<Layout>();
        let layout = self
            .bounded(layouts.find_one(doc! { "_id": LAYOUT_ID }))
            .await?;
        let current = layout.is_some_and(|l| !l.legacy);
        self.current.store(current, Ordering::Relaxed);
        Ok(current)
    }

    pub(crate) async fn conversation_page(
        &self,
        page: ConversationPage,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let start = match page.after {
            Some(PageCursor::Position(at)) => return self.by_position(&page, Some(at)).await,
            Some(PageCursor::Place(seq)) => seq,
            None => page.skip as i64,
        };
        let key = TallyKey::Conversation(page.conversation_id.clone());
        let placed_from = match self.tally(&key).await? {
            Some(tally) => tally.state.legacy,
            // Not counted yet: messages may be on their way, or only from before places.
            None => return self.by_position(&page, None).await,
        };
        if start < placed_from {
            return self.by_position(&page, None).await;
        }
        let (first, last) = (start + 1, start + page.limit);
        let pages = (page_of(first)..=page_of(last)).map(|p| {
            let query = queries::conversation_page_at(&page_name(&page.conversation_id, p));
            self.find(&self.messages, query, 0, 0)
        });
        let found = futures::future::try_join_all(pages).await?;
        Ok(found
            .into_iter()
            .flatten()
            .filter(|m| m.seq.is_some_and(|s| (first..=last).contains(&s)))
            .collect())
    }

    /// A page in Kafka's order, read from the messages themselves.
    async fn by_position(
        &self,
        page: &ConversationPage,
        after: Option<Cursor>,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let skip = if after.is_some() { 0 } else { page.skip };
        let query = queries::conversation_page(&page.conversation_id, after);
        self.find(&self.messages, query, skip, page.limit).await
    }

    /// The count from tallies, or `None` where they do not cover it.
    pub(crate) async fn tallied(&self, scope: &CountScope) -> Result<Option<u64>, StoreError> {
        let sum =
            |tallies: Vec<Tally>| Some(tallies.iter().map(|t| t.state.count.max(0) as u64).sum());
        match scope {
            CountScope::Conversation(id) => {
                let key = TallyKey::Conversation(id.clone());
                Ok(self.tally(&key).await?.map(|t| t.state.count.max(0) as u64))
            }
            _ if !self.all_placed().await? => Ok(None),
            CountScope::User(user) => {
                let tallies = self.find(&self.tallies, queries::user_tallies(user), 0, 0);
                Ok(sum(tallies.await?))
            }
            CountScope::All => {
                let tallies = self.find(&self.tallies, queries::partition_tallies(), 0, 0);
                Ok(sum(tallies.await?))
            }
        }
    }
}
