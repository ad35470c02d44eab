//! Reading a user's inbox. A page within the recent lists on the user's tallies (one per
//! partition, `wiber_common::recent`) is the tallies' lookup and one lookup by `_id` per entry,
//! whatever the number of the user's conversations; a page past them (a user with more than
//! `RECENT_KEPT` conversations in a partition, scrolled that far) is the sorted query, whose cost
//! on FerretDB follows the user's conversations (it sorts in memory; a MongoDB serves it from
//! `inbox_recent`).

use futures::{StreamExt, TryStreamExt};
use mongodb::bson::doc;
use wiber_common::queries::{self, Cursor};
use wiber_common::readmodel::{InboxEntry, Tally};

use crate::store::{MongoStore, StoreError, bounded};

/// Lookups by `_id` in flight at once for one page.
const LOOKUPS_IN_FLIGHT: usize = 8;

/// A position in the inbox's order: newest activity first is the greatest first.
pub(crate) type Position = (i64, i32, i64);

/// The user's conversations, newest first, each at its last message's position, and the newest
/// position a conversation left out of a cut list may have.
pub(crate) type Conversations = (Vec<(Position, String)>, Option<Position>);

/// The user's conversations as their tallies' lists tell them; `None` without lists.
pub(crate) fn conversations(tallies: &[Tally]) -> Option<Conversations> {
    let mut all = Vec::new();
    let mut beyond: Option<Position> = None;
    for t in tallies {
        let list = t.recent.as_ref()?;
        all.extend(list.items.iter().map(|r| {
            (
                (r.timestamp, t.partition, r.offset),
                r.conversation_id.clone(),
            )
        }));
        if !list.all {
            let oldest = list
                .items
                .last()
                .map(|r| (r.timestamp, t.partition, r.offset))?;
            beyond = beyond.max(Some(oldest));
        }
    }
    all.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    Some((all, beyond))
}

/// The conversations of the page of `limit` before `before` (newest first), if the user's
/// tallies' lists are enough to tell them: every list must be there, and the page must end after
/// anything a cut list left out.
pub(crate) fn from_lists(
    tallies: &[Tally],
    before: Option<Cursor>,
    limit: usize,
) -> Option<Vec<String>> {
    let (all, beyond) = conversations(tallies)?;
    let before = before.map(|c| (c.timestamp, c.partition, c.offset));
    let page: Vec<(Position, String)> = all
        .into_iter()
        .filter(|(at, _)| before.is_none_or(|c| *at < c))
        .take(limit)
        .collect();
    if let Some(beyond) = beyond {
        let last = page.last().map(|(at, _)| *at);
        if page.len() < limit || last.is_none_or(|last| last <= beyond) {
            return None;
        }
    }
    Some(page.into_iter().map(|(_, c)| c).collect())
}

impl MongoStore {
    pub(crate) async fn inbox_page(
        &self,
        user: &str,
        before: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let tallies = self
            .find(&self.tallies, queries::user_tallies(user), 0, 0)
            .await?;
        let entries = match from_lists(&tallies, before, limit.max(0) as usize) {
            Some(conversations) => self.entries(user, conversations).await?,
            None => {
                let query = queries::inbox_page(user, before);
                self.find(&self.inbox, query, 0, limit).await?
            }
        };
        self.with_marks(entries).await
    }

    /// The user's entries of `conversations`, newest activity first (as they stand now: one
    /// may have moved since its tally listed it).
    async fn entries(
        &self,
        user: &str,
        conversations: Vec<String>,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let found: Vec<Option<InboxEntry>> = futures::stream::iter(conversations)
            .map(|c| {
                let id = InboxEntry::id_of(user, &c);
                let inbox = self.inbox.clone();
                let timeout = self.timeout;
                async move { bounded(timeout, inbox.find_one(doc! { "_id": id })).await }
            })
            .buffered(LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await?;
        let mut entries: Vec<InboxEntry> = found.into_iter().flatten().collect();
        entries.sort_by_key(|e| {
            std::cmp::Reverse((e.last_timestamp, e.last_partition, e.last_offset))
        });
        Ok(entries)
    }
}

#[cfg(test)]
#[path = "inbox_tests.rs"]
pub(crate) mod tests;
