//! The read model the consumer keeps beside the messages (`wiber_common::readmodel`), checked
//! against the stored messages themselves: every tally counts exactly the messages it covers,
//! each conversation's places are 1 to n in Kafka's order, and each inbox entry its last message
//! reached (a pair's users, a group's members and those its last change removed) shows the
//! conversation's count and last message, and each user's tally lists their conversations in that
//! partition by their last message there, newest first. Checked at the end of every fault scenario, so a
//! redelivery, a restart or a rebalance that counted a message twice (or not at all) fails it.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use wiber_common::group::{Action, GroupState, Membership, is_group_id};
use wiber_common::readmodel::{
    InboxEntry, RECENT_KEPT, Tally, TallyKey, inbox_collection, tallies_collection,
};

const MESSAGES: &str = "messages";

/// One stored message, as far as the read model goes.
#[derive(Debug, Clone)]
struct Stored {
    id: String,
    conversation: String,
    from: String,
    /// A group's membership change.
    membership: Option<Membership>,
    users: Vec<String>,
    partition: i32,
    offset: i64,
    seq: Option<i64>,
}

/// Waits until the read model agrees exactly with the stored messages, panicking with the first
/// disagreement at the deadline. Returns what it checked, for the report.
pub async fn assert_exact(mongo_uri: &str, db: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let client = mongodb::Client::with_uri_str(mongo_uri)
        .await
        .expect("mongo client");
    let db = client.database(db);
    loop {
        let verdict = match read(&db).await {
            Ok((messages, tallies, inbox)) => check(&messages, &tallies, &inbox),
            Err(e) => Err(format!("the store unreadable: {e}")),
        };
        match verdict {
            Ok(summary) => return summary,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(why) => panic!("the read model disagrees with the stored messages: {why}"),
        }
    }
}

type Read = (Vec<Stored>, Vec<Tally>, Vec<InboxEntry>);

async fn read(db: &mongodb::Database) -> mongodb::error::Result<Read> {
    let projection = doc! {
        "_id": 1, "conversationId": 1, "fromUser": 1, "toUser": 1, "partition": 1, "offset": 1,
        "seq": 1, "participants": 1, "membership": 1,
    };
    let docs: Vec<Document> = db
        .collection::<Document>(MESSAGES)
        .find(doc! {})
        .projection(projection)
        .await?
        .try_collect()
        .await?;
    let messages = docs
        .iter()
        .map(|d| {
            // Those it reached: a pair's users, or a group's members of its moment.
            let mut users: Vec<String> = d
                .get_array("participants")
                .map(|a| {
                    a.iter()
                        .filter_map(|u| u.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            users.sort();
            users.dedup();
            Stored {
                id: d.get_str("_id").unwrap_or_default().to_owned(),
                conversation: d.get_str("conversationId").unwrap_or_default().to_owned(),
                from: d.get_str("fromUser").unwrap_or_default().to_owned(),
                membership: d
                    .get_document("membership")
                    .ok()
                    .and_then(|m| mongodb::bson::from_document(m.clone()).ok()),
                users,
                partition: d.get_i32("partition").unwrap_or(-1),
                offset: d.get_i64("offset").unwrap_or(-1),
                seq: d.get_i64("seq").ok(),
            }
        })
        .collect();
    let tallies = db
        .collection::<Tally>(&tallies_collection(MESSAGES))
        .find(doc! { "kind": { "$exists": true } })
        .await?
        .try_collect()
        .await?;
    let inbox = db
        .collection::<InboxEntry>(&inbox_collection(MESSAGES))
        .find(doc! {})
        .await?
        .try_collect()
        .await?;
    Ok((messages, tallies, inbox))
}

fn check(messages: &[Stored], tallies: &[Tally], inbox: &[InboxEntry]) -> Result<String, String> {
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    let mut conversations: HashMap<&str, Vec<&Stored>> = HashMap::new();
    for m in messages {
        let mut keys = vec![
            TallyKey::Conversation(m.conversation.clone()),
            TallyKey::Partition(m.partition),
        ];
        keys.extend(
            m.users
                .iter()
                .map(|u| TallyKey::User(u.clone(), m.partition)),
        );
        for key in keys {
            *expected.entry(key.id()).or_default() += 1;
        }
        conversations.entry(&m.conversation).or_default().push(m);
    }
    let counted: BTreeMap<String, i64> = tallies
        .iter()
        .map(|t| (t.id.clone(), t.state.count))
        .filter(|(_, count)| *count != 0)
        .collect();
    if counted != expected {
        let wrong: Vec<String> = expected
            .keys()
            .chain(counted.keys())
            .filter(|k| expected.get(*k) != counted.get(*k))
            .take(5)
            .map(|k| {
                format!(
                    "{k}: counted {:?}, stored {:?}",
                    counted.get(k),
                    expected.get(k)
                )
            })
            .collect();
        return Err(format!("tallies: {}", wrong.join("; ")));
    }
    recent_lists(messages, tallies)?;
    let entries: HashMap<&str, &InboxEntry> = inbox.iter().map(|e| (e.id.as_str(), e)).collect();
    for (conversation, mut placed) in conversations {
        placed.sort_by_key(|m| (m.partition, m.offset));
        let seqs: Vec<Option<i64>> = placed.iter().map(|m| m.seq).collect();
        let wanted: Vec<Option<i64>> = (1..=placed.len() as i64).map(Some).collect();
        if seqs != wanted {
            return Err(format!("{conversation}: places {seqs:?} in Kafka's order"));
        }
        if is_group_id(conversation) {
            members_of_their_moment(conversation, &placed)?;
        }
        let last = placed.last().expect("a conversation has a message");
        for user in &last.users {
            let id = InboxEntry::id_of(user, conversation);
            let Some(entry) = entries.get(id.as_str()) else {
                return Err(format!("no inbox entry {id}"));
            };
            let shown = entry.last.as_ref().map(|l| l.message_id.as_str());
            if entry.count != placed.len() as i64 || shown != Some(last.id.as_str()) {
                return Err(format!(
                    "{id}: count {} last {shown:?}, stored {} last {}",
                    entry.count,
                    placed.len(),
                    last.id
                ));
            }
        }
    }
    Ok(format!(
        "{} tallies and {} inbox entries exact",
        counted.len(),
        inbox.len()
    ))
}

/// Each user tally's recent list: the conversations its messages belong to, each at the offset of
/// the last, newest first, cut to `RECENT_KEPT`.
fn recent_lists(messages: &[Stored], tallies: &[Tally]) -> Result<(), String> {
    let mut last: BTreeMap<String, HashMap<&str, i64>> = BTreeMap::new();
    for m in messages {
        for u in &m.users {
            let at = last
                .entry(TallyKey::User(u.clone(), m.partition).id())
                .or_default()
                .entry(&m.conversation)
                .or_default();
            *at = (*at).max(m.offset);
        }
    }
    for t in tallies.iter().filter(|t| t.user.is_some()) {
        let mut expected: Vec<(i64, &str)> = last
            .get(&t.id)
            .map(|l| l.iter().map(|(c, o)| (*o, *c)).collect())
            .unwrap_or_default();
        expected.sort_by(|a, b| b.cmp(a));
        let all = expected.len() <= RECENT_KEPT;
        expected.truncate(RECENT_KEPT);
        let Some(list) = &t.recent else {
            return Err(format!("{}: no recent list", t.id));
        };
        let listed: Vec<(i64, &str)> = list
            .items
            .iter()
            .map(|r| (r.offset, r.conversation_id.as_str()))
            .collect();
        if listed != expected || list.all != all {
            return Err(format!(
                "{}: lists {listed:?} (all: {}), stored {expected:?}",
                t.id, list.all
            ));
        }
    }
    Ok(())
}

/// A group's items, in place order, replayed from its membership changes: each change applies, and
/// each item reached exactly the members of its moment (and a removal those it removed).
fn members_of_their_moment(conversation: &str, placed: &[&Stored]) -> Result<(), String> {
    let mut group: Option<GroupState> = None;
    for m in placed {
        let seq = m.seq.unwrap_or(0);
        let mut expected = match &m.membership {
            Some(change) => {
                let next =
                    GroupState::apply(group.as_ref(), &m.from, change, seq).map_err(|e| {
                        format!("{conversation} place {seq}: a stored change refused: {e}")
                    })?;
                let mut users = next.members.clone();
                if matches!(change.action, Action::Removed | Action::Left) {
                    users.extend(change.users.iter().cloned());
                }
                group = Some(next);
                users
            }
            None => {
                let Some(g) = group.as_ref().filter(|g| g.is_member(&m.from)) else {
                    return Err(format!(
                        "{conversation} place {seq}: stored from a non-member"
                    ));
                };
                g.members.clone()
            }
        };
        expected.sort();
        expected.dedup();
        if expected != m.users {
            return Err(format!(
                "{conversation} place {seq}: reached {:?}, its members were {expected:?}",
                m.users
            ));
        }
    }
    Ok(())
}
