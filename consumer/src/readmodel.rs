//! The read model's side of the store (`wiber_common::readmodel`): the tallies' states (cached for
//! the partitions this consumer owns, read from the store otherwise), and the writes of a
//! `Projection`: inbox entries, then tallies (conversations' last), each tally only if it still stands where the
//! projection found it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use futures::{StreamExt, TryStreamExt};
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::WriteConcern;
use mongodb::{Collection, Database};
use wiber_common::message::StoredMessage;
use wiber_common::mongo::{DUPLICATE_KEY, StoreError};
use wiber_common::readmodel::{
    InboxEntry, LAYOUT_ID, Layout, RecentList, Tally, TallyKey, TallyState, inbox_collection,
    tallies_collection,
};

use crate::project::{InboxWrite, Known, Projection, TallyWrite};

/// Tally reads in flight at once when a batch brings keys the cache lacks.
const READS_IN_FLIGHT: usize = 4;

/// Statements per `update` command, and commands in flight at once. FerretDB v1.24 holds a
/// PostgreSQL connection for each statement of a command that matched a document until the whole
/// command ends, and takes one more to write it: commands holding every connection of its pool wait
/// for good (docs/concepts/store.md). It writes a command's statements one at a time, each in a
/// transaction of its own, so several small commands at once share PostgreSQL's commits. The
/// driver's pool (10 connections) bounds a consumer to 10 commands at once: 40 connections at most.
const UPDATES_PER_COMMAND: usize = 3;
const COMMANDS_IN_FLIGHT: usize = 6;

pub struct ReadModel {
    db: Database,
    messages: Collection<StoredMessage>,
    tallies: Collection<Tally>,
    tallies_name: String,
    inbox_name: String,
    write_concern: WriteConcern,
    /// The tallies this consumer wrote last, for the partitions it owns.
    cache: Mutex<HashMap<TallyKey, Known>>,
    /// Moved by every rebalance: a partition may have had another owner meanwhile, so the cache
    /// is dropped when this differs from `seen`.
    assignments: Arc<AtomicU64>,
    seen: AtomicU64,
    /// Whether messages from before the read model exist (`Layout`).
    legacy: AtomicBool,
}

impl ReadModel {
    pub fn new(
        db: Database,
        messages: &str,
        write_concern: WriteConcern,
        assignments: Arc<AtomicU64>,
    ) -> Self {
        let tallies_name = tallies_collection(messages);
        Self {
            messages: db.collection(messages),
            tallies: db.collection(&tallies_name),
            tallies_name,
            inbox_name: inbox_collection(messages),
            db,
            write_concern,
            cache: Mutex::new(HashMap::new()),
            seen: AtomicU64::new(assignments.load(Ordering::SeqCst)),
            assignments,
            legacy: AtomicBool::new(false),
        }
    }

    /// Decides, once per store, whether it holds messages from before the read model: they have
    /// no place, and tallies count them when first made.
    pub async fn ensure_layout(&self) -> Result<bool, StoreError> {
        let layouts = self.db.collection::<Layout>(&self.tallies_name);
        let legacy = match layouts.find_one(doc! { "_id": LAYOUT_ID }).await? {
            Some(layout) => layout.legacy,
            None => {
                let unplaced = self
                    .messages
                    .find_one(doc! { "seq": { "$exists": false } })
                    .await?
                    .is_some();
                let layout = Layout {
                    id: LAYOUT_ID.into(),
                    legacy: unplaced,
                };
                match layouts.insert_one(&layout).await {
                    Ok(_) => unplaced,
                    Err(e) if wiber_common::mongo::is_duplicate_key(&e) => {
                        // Another consumer decided first.
                        layouts
                            .find_one(doc! { "_id": LAYOUT_ID })
                            .await?
                            .ok_or(StoreError::Lost("the read model's layout"))?
                            .legacy
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        self.legacy.store(legacy, Ordering::SeqCst);
        Ok(legacy)
    }

    /// The state of each of `keys`.
    pub async fn states(
        &self,
        keys: &BTreeSet<TallyKey>,
    ) -> Result<HashMap<TallyKey, Known>, StoreError> {
        let now = self.assignments.load(Ordering::SeqCst);
        let mut out = HashMap::with_capacity(keys.len());
        let mut missing = Vec::new();
        {
            let mut cache = self.cache.lock().expect("cache lock");
            if self.seen.swap(now, Ordering::SeqCst) != now {
                cache.clear();
            }
            for key in keys {
                match cache.get(key) {
                    Some(known) => {
                        out.insert(key.clone(), known.clone());
                    }
                    None => missing.push(key.clone()),
                }
            }
        }
        let read: Vec<(TallyKey, Known)> = futures::stream::iter(missing)
            .map(|key| async move {
                let known = self.read(&key).await?;
                Ok::<_, StoreError>((key, known))
            })
            .buffer_unordered(READS_IN_FLIGHT)
            .try_collect()
            .await?;
        out.extend(read);
        Ok(out)
    }

    async fn read(&self, key: &TallyKey) -> Result<Known, StoreError> {
        if let Some(tally) = self.tallies.find_one(doc! { "_id": key.id() }).await? {
            return Ok(Known {
                group: tally.group,
                recent: RecentList::of(tally.recent.as_ref()),
                ..Known::new(tally.state, true)
            });
        }
        let legacy = if self.legacy.load(Ordering::SeqCst) {
            let mut filter = match key {
                TallyKey::Conversation(c) => doc! { "conversationId": c },
                TallyKey::Partition(p) => doc! { "partition": p },
                TallyKey::User(u, p) => doc! { "participants": u, "partition": p },
            };
            filter.insert("seq", doc! { "$exists": false });
            self.messages.count_documents(filter).await? as i64
        } else {
            0
        };
        Ok(Known::new(TallyState::new(legacy), false))
    }

    /// The ids of `candidates` (messages the store already held) that are copies of a message
    /// stored from another record, not this record written by an earlier attempt.
    pub async fn copies(
        &self,
        candidates: &[&StoredMessage],
    ) -> Result<BTreeSet<String>, StoreError> {
        let mut copies = BTreeSet::new();
        for m in candidates {
            let stored = self
                .messages
                .find_one(doc! { "_id": &m.message_id })
                .await?;
            if stored.is_some_and(|s| (s.partition, s.offset) != (m.partition, m.offset)) {
                copies.insert(m.message_id.clone());
            }
        }
        Ok(copies)
    }

    /// Moves messages written at a place the projection has since changed to their final place.
    pub async fn replace(&self, moved: &[&StoredMessage]) -> Result<(), StoreError> {
        let updates: Vec<Document> = moved
            .iter()
            .map(|m| {
                doc! {
                    "q": { "_id": &m.message_id, "offset": m.offset },
                    "u": { "$set": {
                        "seq": m.seq,
                        "page": m.page.as_deref(),
                        "participants": &m.participants,
                    } },
                }
            })
            .collect();
        let name = self.messages.name().to_owned();
        self.update(&name, updates).await?;
        Ok(())
    }

    /// Writes the inbox entries, then the tallies, and keeps the tallies' new states. A tally
    /// that moved since it was read (another owner wrote it) fails the batch, which is then
    /// projected again from the store.
    pub async fn write(&self, projection: &Projection) -> Result<(), StoreError> {
        let result = self.write_all(projection).await;
        let mut cache = self.cache.lock().expect("cache lock");
        match &result {
            Ok(()) => {
                for t in &projection.tallies {
                    let known = Known {
                        group: t.group.clone(),
                        recent: t.recent.clone().unwrap_or_else(|| t.from.recent.clone()),
                        ..Known::new(t.to.clone(), true)
                    };
                    cache.insert(t.key.clone(), known);
                }
            }
            Err(_) => {
                for t in &projection.tallies {
                    cache.remove(&t.key);
                }
            }
        }
        result
    }

    async fn write_all(&self, projection: &Projection) -> Result<(), StoreError> {
        let inbox: Vec<Document> = projection.inbox.iter().map(inbox_update).collect();
        let conflicts = self.update(&self.inbox_name, inbox).await?;
        if conflicts > 0 {
            return Err(StoreError::Lost("an inbox entry (written concurrently)"));
        }
        // Conversations' tallies last: one that counted a message says every other tally of it
        // has (a group's members of its moment are known only before the group moves on).
        let (conversations, others): (Vec<&TallyWrite>, Vec<&TallyWrite>) = projection
            .tallies
            .iter()
            .partition(|t| matches!(t.key, TallyKey::Conversation(_)));
        for tallies in [others, conversations] {
            let updates: Vec<Document> = tallies.into_iter().map(tally_update).collect();
            let conflicts = self.update(&self.tallies_name, updates).await?;
            if conflicts > 0 {
                tracing::warn!(
                    conflicts,
                    "tallies moved since they were read (a rebalance); the batch is projected again"
                );
                return Err(StoreError::Lost("a tally's state (moved by another owner)"));
            }
        }
        Ok(())
    }

    /// Runs `updates` as unordered `update` commands of `UPDATES_PER_COMMAND`; returns how many hit
    /// a duplicate key (an upsert whose filter no longer matched). Any other write error fails it.
    async fn update(&self, collection: &str, updates: Vec<Document>) -> Result<u64, StoreError> {
        let chunks: Vec<Vec<Document>> = updates
            .chunks(UPDATES_PER_COMMAND)
            .map(<[Document]>::to_vec)
            .collect();
        let counts: Vec<u64> = futures::stream::iter(chunks)
            .map(|chunk| self.update_command(collection, chunk))
            .buffer_unordered(COMMANDS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(counts.iter().sum())
    }

    async fn update_command(
        &self,
        collection: &str,
        updates: Vec<Document>,
    ) -> Result<u64, StoreError> {
        let concern = mongodb::bson::to_document(&self.write_concern).unwrap_or_default();
        let mut command = doc! { "update": collection, "updates": updates, "ordered": false };
        if !concern.is_empty() {
            command.insert("writeConcern", concern);
        }
        let reply = self.db.run_command(command).await?;
        let mut duplicates = 0;
        if let Ok(errors) = reply.get_array("writeErrors") {
            for e in errors.iter().filter_map(Bson::as_document) {
                let code = e.get_i32("code").unwrap_or(0);
                if code == DUPLICATE_KEY {
                    duplicates += 1;
                } else {
                    return Err(StoreError::Write(format!(
                        "{collection}: code {code}: {}",
                        e.get_str("errmsg").unwrap_or("")
                    )));
                }
            }
        }
        if let Ok(concern) = reply.get_document("writeConcernError") {
            return Err(StoreError::Write(format!("{collection}: {concern}")));
        }
        Ok(duplicates)
    }
}

fn inbox_update(w: &InboxWrite) -> Document {
    let read = w.own.as_ref().map_or(0, |(seq, _)| *seq).max(w.legacy);
    let mut set = doc! {
        "user": &w.user,
        "conversationId": &w.conversation_id,
        "last": mongodb::bson::to_bson(&w.last).unwrap_or(Bson::Null),
        "lastTimestamp": w.position.0,
        "lastPartition": w.position.1,
        "lastOffset": w.position.2,
    };
    if let Some(members) = &w.members {
        set.insert("members", members);
        if let Some(title) = &w.title {
            set.insert("title", title);
        }
    }
    doc! {
        "q": { "_id": InboxEntry::id_of(&w.user, &w.conversation_id) },
        "u": { "$set": set, "$max": { "count": w.count, "readSeq": read } },
        "upsert": true,
    }
}

fn tally_update(t: &TallyWrite) -> Document {
    let (user, partition) = match &t.key {
        TallyKey::Conversation(_) => (None, None),
        TallyKey::Partition(p) => (None, Some(*p)),
        TallyKey::User(u, p) => (Some(u.as_str()), Some(*p)),
    };
    let mut set = doc! {
        "kind": t.key.kind(),
        "count": t.to.count,
        "applied": t.to.applied,
        "legacy": t.to.legacy,
    };
    if let Some(partition) = t.to.applied_in {
        set.insert("appliedIn", partition);
    }
    if !t.to.elsewhere.is_empty() {
        set.insert(
            "elsewhere",
            mongodb::bson::to_bson(&t.to.elsewhere).unwrap_or(Bson::Null),
        );
    }
    if let Some(user) = user {
        set.insert("user", user);
    }
    set.insert("partition", partition.unwrap_or(-1));
    if let Some(group) = &t.group {
        set.insert("group", mongodb::bson::to_bson(group).unwrap_or(Bson::Null));
    }
    if let Some(recent) = &t.recent {
        set.insert(
            "recent",
            mongodb::bson::to_bson(recent).unwrap_or(Bson::Null),
        );
    }
    doc! {
        // Matches only the state the projection started from; a tally not stored yet is created,
        // unless another consumer created it meanwhile (a duplicate key).
        "q": { "_id": t.key.id(), "count": t.from.state.count, "applied": t.from.state.applied },
        "u": { "$set": set },
        "upsert": true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_update_sets_the_partition_of_each_offset_so_a_restart_reads_them_back() {
        let mut to = TallyState::new(0);
        to.count(0, 1000);
        to.count(1, 5);
        let write = TallyWrite {
            key: TallyKey::Conversation("alice:bob".into()),
            from: Known::new(TallyState::new(0), false),
            to: to.clone(),
            group: None,
            recent: None,
        };
        let update = tally_update(&write);
        let set = update
            .get_document("u")
            .and_then(|u| u.get_document("$set"))
            .unwrap();
        let stored: TallyState = mongodb::bson::from_document(set.clone()).unwrap();
        assert_eq!(stored, to);
        assert_eq!(stored.applied_in(0), 1000);
    }
}
