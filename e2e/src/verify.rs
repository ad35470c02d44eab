//! The one verification every fault scenario ends with, checked from the store and from Kafka
//! itself rather than from any component's own report:
//! - every message answered 200 is stored exactly once, and nothing is stored that its client was
//!   told was not sent (only a message of unknown outcome may be stored without a 200);
//! - nothing in Kafka is skipped: every record is stored under its `messageId` or dead-lettered,
//!   so the group's lag has drained;
//! - per-conversation order is Kafka's order: each message is stored at its first position in the
//!   topic, a conversation lives on one partition, and the conversation order the API reads by
//!   (timestamp, then offset) agrees with the offsets;
//! - a message acknowledged before another was sent is stored before it (real-time order over
//!   the history of the test's POSTs);
//! - the read model counts and places each stored message exactly once (`tallies`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// How long the read model may trail the messages once they are all stored: the consumer writes
/// it just after each batch's messages.
const READ_MODEL_SETTLES: Duration = Duration::from_secs(10);

/// What clients were told about their messages.
#[derive(Debug, Default, Clone)]
pub struct Told {
    /// Answered 200.
    pub acknowledged: HashSet<String>,
    /// Answered 503 with the outcome-unknown problem: stored at most once.
    pub unknown: HashSet<String>,
}

impl Told {
    pub fn acknowledged(ids: &HashSet<String>) -> Self {
        Self {
            acknowledged: ids.clone(),
            unknown: HashSet::new(),
        }
    }
}

/// What the verification found, for the scenario's report.
#[derive(Debug)]
pub struct Verified {
    pub stored: usize,
    /// Messages of unknown outcome that a broker did write, and so were stored.
    pub unknown_stored: usize,
    /// Messages Kafka holds more than once (a keyed retry after an unknown outcome writes the same
    /// id again; the store keeps the first): how many copies.
    pub copies: HashMap<String, usize>,
}

/// One POST the test sent without a key: when it left and when its 200 came back.
#[derive(Debug, Clone)]
struct Sent {
    id: String,
    started: Instant,
    answered: Instant,
}

/// The acknowledged POSTs of one Wiber instance, for the real-time order check.
#[derive(Debug, Clone, Default)]
pub struct History(Arc<Mutex<Vec<Sent>>>);

impl History {
    pub fn record(&self, id: &str, started: Instant, answered: Instant) {
        let sent = Sent {
            id: id.to_owned(),
            started,
            answered,
        };
        self.0.lock().expect("history").push(sent);
    }

    fn snapshot(&self) -> Vec<Sent> {
        self.0.lock().expect("history").clone()
    }
}

/// Where one Wiber instance's messages go, wherever it runs (local processes or pods): its topic
/// and consumer group, its database, and the POSTs its clients were answered.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub bootstrap: String,
    pub topic: String,
    pub partitions: i32,
    pub group: String,
    pub mongo_uri: String,
    pub db: String,
    pub history: History,
}

/// A stored message's place.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    conversation: String,
    timestamp: i64,
    partition: i32,
    offset: i64,
}

/// The topic as Kafka holds it: each `messageId`'s first position, and every record's.
struct Topic {
    first: HashMap<String, (i32, i64)>,
    records: Vec<((i32, i64), Option<String>)>,
}

impl Pipeline {
    /// Waits until the store holds exactly the acknowledged `ids` and everything in Kafka is
    /// stored, then checks order. Panics at the deadline with what is missing.
    pub async fn assert_stored_exactly_once(&self, ids: &HashSet<String>, within: Duration) {
        let verified = self.verify(&Told::acknowledged(ids), within).await;
        assert_eq!(verified.stored, ids.len());
    }

    /// The suite's verification (see the module's documentation), within `within`.
    pub async fn verify(&self, told: &Told, within: Duration) -> Verified {
        let deadline = Instant::now() + within;
        let places = self
            .poll_store(deadline, "acknowledged messages", |places| {
                told.acknowledged.iter().all(|id| places.contains_key(id))
            })
            .await;
        self.check_told(told, &places);
        // Everything Kafka holds now is stored or dead-lettered once the group has caught up.
        let reader = Reader::of(self);
        let mut dead: HashSet<(i32, i64)> = HashSet::new();
        let (topic, places) = loop {
            let topic = {
                let reader = reader.clone();
                tokio::task::spawn_blocking(move || reader.topic())
                    .await
                    .expect("topic read")
            };
            let places = self.caught_up(&topic, &reader, &mut dead, deadline).await;
            // A record of unknown outcome may reach the topic after it was read (a broker thawed
            // late) and be stored by now: read the topic again until it holds all that is stored.
            let Some(unread) = places.keys().find(|id| !topic.first.contains_key(*id)) else {
                break (topic, places);
            };
            assert!(
                Instant::now() < deadline,
                "{unread} is stored but not in Kafka"
            );
        };
        self.check_told(told, &places);
        check_positions(&topic, &places);
        let conversations = check_conversations(&places);
        let history = self.history.snapshot();
        check_real_time(&history, &places);
        let left = deadline.saturating_duration_since(Instant::now());
        let read_model =
            crate::tallies::assert_exact(&self.mongo_uri, &self.db, left.max(READ_MODEL_SETTLES))
                .await;
        eprintln!(
            "verified: {} stored, {} records in Kafka ({} dead-lettered), {conversations} \
             conversations in Kafka order, {} POSTs in real-time order, {read_model}",
            places.len(),
            topic.records.len(),
            dead.len(),
            history.len()
        );
        let mut copies: HashMap<String, usize> = HashMap::new();
        for id in topic.records.iter().filter_map(|(_, id)| id.as_ref()) {
            *copies.entry(id.clone()).or_default() += 1;
        }
        copies.retain(|_, n| *n > 1);
        Verified {
            copies,
            stored: places.len(),
            unknown_stored: told
                .unknown
                .iter()
                .filter(|id| places.contains_key(*id))
                .count(),
        }
    }

    /// Waits until every record of `topic` is stored under its id or dead-lettered: the group
    /// has caught up with it. Returns the store's messages then.
    async fn caught_up(
        &self,
        topic: &Topic,
        reader: &Reader,
        dead: &mut HashSet<(i32, i64)>,
        deadline: Instant,
    ) -> HashMap<String, Place> {
        loop {
            if let Some(places) = self.places().await {
                let missing = topic
                    .records
                    .iter()
                    .filter(|(at, id)| !stored(&places, id) && !dead.contains(at))
                    .count();
                if missing == 0 {
                    return places;
                }
                assert!(
                    Instant::now() < deadline,
                    "{missing} records in Kafka neither stored nor dead-lettered in time"
                );
                let reader = reader.clone();
                *dead = tokio::task::spawn_blocking(move || reader.dead_lettered())
                    .await
                    .expect("dead-letter read");
            }
            assert!(Instant::now() < deadline, "the store unreadable in time");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Nothing stored that no client may expect (a copy stored twice fails in `places`).
    fn check_told(&self, told: &Told, places: &HashMap<String, Place>) {
        let unexpected: Vec<&String> = places
            .keys()
            .filter(|id| !told.acknowledged.contains(*id) && !told.unknown.contains(*id))
            .collect();
        assert!(
            unexpected.is_empty(),
            "stored, but their clients were told they were not sent: {unexpected:?}"
        );
    }

    /// Polls the store's messages until `done` holds for them, panicking at `deadline`.
    async fn poll_store(
        &self,
        deadline: Instant,
        what: &str,
        mut done: impl FnMut(&HashMap<String, Place>) -> bool,
    ) -> HashMap<String, Place> {
        loop {
            if let Some(places) = self.places().await {
                if done(&places) {
                    return places;
                }
                assert!(
                    Instant::now() < deadline,
                    "{what} not all stored in time: {} stored",
                    places.len()
                );
            }
            assert!(Instant::now() < deadline, "the store unreadable: {what}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every stored message's place, by id; `None` while the store cannot be read. Panics on a
    /// message stored twice.
    async fn places(&self) -> Option<HashMap<String, Place>> {
        let projection =
            doc! {"_id": 1, "conversationId": 1, "timestamp": 1, "partition": 1, "offset": 1};
        let cursor = self
            .collection()
            .await
            .find(doc! {})
            .projection(projection)
            .await
            .ok()?;
        let docs: Vec<Document> = cursor.try_collect().await.ok()?;
        let mut places = HashMap::with_capacity(docs.len());
        for d in docs {
            let id = d.get_str("_id").expect("_id").to_owned();
            let place = Place {
                conversation: d.get_str("conversationId").expect("conversationId").into(),
                timestamp: d.get_i64("timestamp").expect("timestamp"),
                partition: d.get_i32("partition").expect("partition"),
                offset: d.get_i64("offset").expect("offset"),
            };
            assert!(
                places.insert(id.clone(), place).is_none(),
                "{id} stored twice"
            );
        }
        Some(places)
    }

    pub async fn collection(&self) -> mongodb::Collection<Document> {
        mongodb::Client::with_uri_str(&self.mongo_uri)
            .await
            .expect("mongo client")
            .database(&self.db)
            .collection("messages")
    }
}

/// What reading the topic and its dead letters needs, to move to a blocking thread.
#[derive(Clone)]
struct Reader {
    bootstrap: String,
    group: String,
    topic: String,
    partitions: i32,
}

impl Reader {
    fn of(pipeline: &Pipeline) -> Self {
        Self {
            bootstrap: pipeline.bootstrap.clone(),
            group: pipeline.group.clone(),
            topic: pipeline.topic.clone(),
            partitions: pipeline.partitions,
        }
    }

    fn client(&self) -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", format!("{}-verify", self.group))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .create()
            .expect("verification consumer")
    }

    /// Every record of the topic up to its current end but signals, with the `messageId` of its
    /// payload.
    fn topic(&self) -> Topic {
        let mut topic = Topic {
            first: HashMap::new(),
            records: Vec::new(),
        };
        for (partition, offset, _, payload) in
            read_to_end(&self.client(), &self.topic, self.partitions)
        {
            let value = payload.and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok());
            // A signal (typing, a receipt) is pushed and never stored, by design; an edit or a
            // delete changes a stored message (checked by the scenarios that make them).
            if value
                .as_ref()
                .is_some_and(|v| v.get("signal").is_some() || v.get("change").is_some())
            {
                continue;
            }
            let id = value.and_then(|v| v["messageId"].as_str().map(str::to_owned));
            if let Some(id) = &id {
                topic.first.entry(id.clone()).or_insert((partition, offset));
            }
            topic.records.push(((partition, offset), id));
        }
        topic
    }

    /// Positions in the topic whose records the consumer dead-lettered.
    fn dead_lettered(&self) -> HashSet<(i32, i64)> {
        let dlq = format!("{}.dlq", self.topic);
        read_to_end(&self.client(), &dlq, 1)
            .into_iter()
            .filter_map(|(_, _, headers, _)| {
                let topic = headers.get("wiber-origin-topic")?;
                let partition = headers.get("wiber-origin-partition")?.parse().ok()?;
                let offset = headers.get("wiber-origin-offset")?.parse().ok()?;
                (*topic == self.topic).then_some((partition, offset))
            })
            .collect()
    }
}

fn stored(places: &HashMap<String, Place>, id: &Option<String>) -> bool {
    id.as_ref().is_some_and(|id| places.contains_key(id))
}

type Record = (i32, i64, BTreeMap<String, String>, Option<Vec<u8>>);

/// The records of `partitions` partitions of `topic`, from the start to the end each has now.
fn read_to_end(consumer: &BaseConsumer, topic: &str, partitions: i32) -> Vec<Record> {
    let mut list = TopicPartitionList::new();
    let mut open = HashSet::new();
    for p in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("watermarks of {topic}/{p}: {e}"));
        if high > low {
            list.add_partition_offset(topic, p, Offset::Offset(low))
                .expect("offset");
            open.insert((p, high));
        }
    }
    consumer.assign(&list).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut records = Vec::new();
    while !open.is_empty() {
        assert!(Instant::now() < deadline, "reading {topic} took over 60 s");
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let m = match message {
            Ok(m) => m,
            Err(rdkafka::error::KafkaError::PartitionEOF(_)) => continue,
            Err(e) => panic!("reading {topic}: {e}"),
        };
        let headers = crate::kafka::headers_of(&m);
        let (partition, offset) = (m.partition(), m.offset());
        open.retain(|&(p, high)| !(p == partition && offset + 1 >= high));
        records.push((partition, offset, headers, m.payload().map(<[u8]>::to_vec)));
    }
    records
}

/// Each message is stored where Kafka first holds it: a copy written again later (a retry) never
/// moves it.
fn check_positions(topic: &Topic, places: &HashMap<String, Place>) {
    for (id, place) in places {
        let first = topic
            .first
            .get(id)
            .unwrap_or_else(|| panic!("{id} is stored but not in Kafka"));
        assert_eq!(
            (place.partition, place.offset),
            *first,
            "{id} is stored at a later copy's position, not its first in Kafka"
        );
    }
}

/// A conversation is on one partition, and reading it in the API's order (timestamp, then
/// offset) gives Kafka's order.
fn check_conversations(places: &HashMap<String, Place>) -> usize {
    let mut conversations: HashMap<&str, Vec<&Place>> = HashMap::new();
    for place in places.values() {
        conversations
            .entry(&place.conversation)
            .or_default()
            .push(place);
    }
    let count = conversations.len();
    for (conversation, mut messages) in conversations {
        let partitions: HashSet<i32> = messages.iter().map(|m| m.partition).collect();
        assert_eq!(partitions.len(), 1, "{conversation} spans {partitions:?}");
        messages.sort_by_key(|m| (m.timestamp, m.partition, m.offset));
        let read: Vec<i64> = messages.iter().map(|m| m.offset).collect();
        let mut kafka = read.clone();
        kafka.sort_unstable();
        assert_eq!(
            read, kafka,
            "{conversation} reads in another order than Kafka's"
        );
    }
    count
}

/// Within a conversation, a message whose 200 came before another was sent is stored before it.
fn check_real_time(history: &[Sent], places: &HashMap<String, Place>) {
    let mut conversations: HashMap<&str, Vec<(&Place, &Sent)>> = HashMap::new();
    for sent in history {
        if let Some(place) = places.get(&sent.id) {
            conversations
                .entry(&place.conversation)
                .or_default()
                .push((place, sent));
        }
    }
    for (conversation, mut messages) in conversations {
        messages.sort_by_key(|(place, _)| place.offset);
        // Walking back from the end: the earliest answer among the messages stored later.
        let mut earliest_later: Option<&Sent> = None;
        for (_, sent) in messages.iter().rev() {
            if let Some(later) = earliest_later {
                assert!(
                    later.answered >= sent.started,
                    "in {conversation}, {} was acknowledged before {} was sent, yet is stored \
                     after it",
                    later.id,
                    sent.id
                );
            }
            if earliest_later.is_none_or(|l| sent.answered < l.answered) {
                earliest_later = Some(sent);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(conversation: &str, timestamp: i64, offset: i64) -> Place {
        Place {
            conversation: conversation.into(),
            timestamp,
            partition: 0,
            offset,
        }
    }

    fn places(list: &[(&str, Place)]) -> HashMap<String, Place> {
        list.iter()
            .map(|(id, p)| ((*id).to_owned(), p.clone()))
            .collect()
    }

    fn sent(id: &str, start: &Instant, from_ms: u64, to_ms: u64) -> Sent {
        Sent {
            id: id.into(),
            started: *start + Duration::from_millis(from_ms),
            answered: *start + Duration::from_millis(to_ms),
        }
    }

    #[test]
    fn overlapping_posts_may_be_stored_in_either_order() {
        let t = Instant::now();
        let history = [sent("a", &t, 0, 10), sent("b", &t, 5, 15)];
        let stored = places(&[("a", place("x:y", 1, 2)), ("b", place("x:y", 1, 1))]);
        check_real_time(&history, &stored);
    }

    #[test]
    #[should_panic(expected = "a was acknowledged before b was sent, yet is stored after it")]
    fn a_post_acknowledged_before_another_was_sent_must_be_stored_first() {
        let t = Instant::now();
        let history = [
            sent("a", &t, 0, 10),
            sent("c", &t, 1, 30),
            sent("b", &t, 20, 25),
        ];
        let stored = places(&[
            ("b", place("x:y", 1, 1)),
            ("c", place("x:y", 1, 2)),
            ("a", place("x:y", 1, 3)),
        ]);
        check_real_time(&history, &stored);
    }

    #[test]
    #[should_panic(expected = "reads in another order than Kafka's")]
    fn a_conversation_whose_timestamps_disagree_with_its_offsets_is_refused() {
        check_conversations(&places(&[
            ("a", place("x:y", 2, 1)),
            ("b", place("x:y", 1, 2)),
        ]));
    }

    #[test]
    #[should_panic(expected = "spans")]
    fn a_conversation_on_two_partitions_is_refused() {
        let mut moved = place("x:y", 2, 2);
        moved.partition = 1;
        check_conversations(&places(&[("a", place("x:y", 1, 1)), ("b", moved)]));
    }

    #[test]
    #[should_panic(expected = "not its first in Kafka")]
    fn a_message_stored_at_a_later_copy_is_refused() {
        let topic = Topic {
            first: [("a".to_owned(), (0, 1))].into(),
            records: vec![((0, 1), Some("a".into())), ((0, 4), Some("a".into()))],
        };
        check_positions(&topic, &places(&[("a", place("x:y", 1, 4))]));
    }
}
