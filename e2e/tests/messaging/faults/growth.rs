//! The topic grows (3 -> 6 partitions, through Kafka's admin API as `kafka-topics.sh --alter`
//! does) while messages are sent and a stream is held, and nothing is restarted: producers,
//! the consumer group and the API's push feed see the new partitions within
//! KAFKA_METADATA_REFRESH_MS, and conversations whose keys move keep every message.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use mongodb::bson::{Document, doc};
use wiber_e2e::sse::SseStream;
use wiber_e2e::stack::{Wiber, message_id};

use super::RECOVERED_WITHIN;

const SENDERS: usize = 12;

/// The ids of `ids` that `stream` carries, each once, until it has carried them all.
async fn carried(stream: &mut SseStream, ids: &HashSet<String>) -> Vec<String> {
    let deadline = Instant::now() + RECOVERED_WITHIN;
    let mut got = Vec::new();
    while !ids.iter().all(|id| got.contains(id)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = stream.next_message(left).await.unwrap_or_else(|| {
            panic!(
                "the stream ended or went quiet with {} of {}",
                got.len(),
                ids.len()
            )
        });
        if let Some(id) = event.json()["messageId"].as_str() {
            got.push(id.to_owned());
        }
    }
    got
}

/// Every page of a conversation by cursor, as ids.
async fn paged(wiber: &Wiber, from: &str, to: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = String::new();
    loop {
        let path = format!("/messages/{from}/{to}?limit=3{after}");
        let (status, headers, page) = wiber.get(&path).await;
        assert_eq!(status, 200, "{page}");
        ids.extend(page.as_array().unwrap().iter().map(message_id));
        match headers.get("x-next-cursor") {
            Some(cursor) => after = format!("&after={}", cursor.to_str().unwrap()),
            None => return ids,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_grown_mid_traffic_loses_nothing_stored_pushed_resumed_or_paged() {
    let refresh = [("KAFKA_METADATA_REFRESH_MS", "1000".to_owned())];
    let wiber = Wiber::spawn(wiber_e2e::mongo_uri(), &refresh).await;
    wiber.wait_ready().await;
    let _consumer = wiber.consumer().await;
    let mut live = wiber.live_stream(None, "user=zed").await;
    let ready = live.next(RECOVERED_WITHIN).await.expect("ready");
    let before = ready.id.expect("ready has an id");
    assert_eq!(before.matches(':').count(), 3, "three partitions: {before}");

    let mut sent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut round = 0;
    let mut send_round = async |round: usize| {
        for i in 0..SENDERS {
            let from = format!("s{i}");
            let answer = wiber.send(&from, "zed", &format!("round {round}")).await;
            sent.entry(from).or_default().push(message_id(&answer));
        }
    };
    send_round(round).await;
    wiber_e2e::kafka::grow_topic(&wiber.bootstrap, &wiber.topic, 6).await;
    let messages = mongodb::Client::with_uri_str(&wiber.mongo_uri)
        .await
        .unwrap()
        .database(&wiber.db)
        .collection::<Document>("messages");
    // Until producers have moved conversations to the new partitions and the group stores them.
    let deadline = Instant::now() + RECOVERED_WITHIN;
    loop {
        round += 1;
        send_round(round).await;
        let moved = messages
            .count_documents(doc! {"partition": {"$gte": 3}})
            .await
            .unwrap();
        if moved > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no message stored in a new partition"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    round += 1;
    send_round(round).await;

    let ids: HashSet<String> = sent.values().flatten().cloned().collect();
    // Stored once each, nothing else; within each partition in the order they were sent (a
    // conversation's messages on both sides of its move are placed as the consumer read them).
    let deadline = Instant::now() + RECOVERED_WITHIN;
    let stored = loop {
        let mut cursor = messages.find(doc! {}).await.unwrap();
        let mut stored: Vec<Document> = Vec::new();
        while cursor.advance().await.unwrap() {
            stored.push(cursor.deserialize_current().unwrap());
        }
        if stored.len() >= ids.len() || Instant::now() > deadline {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let stored_ids: HashSet<String> = stored
        .iter()
        .map(|d| d.get_str("_id").unwrap().to_owned())
        .collect();
    assert_eq!((stored.len(), &stored_ids), (ids.len(), &ids));
    for (from, mine) in &sent {
        let mut placed: Vec<&Document> = stored
            .iter()
            .filter(|d| d.get_str("fromUser").unwrap() == from)
            .collect();
        placed.sort_by_key(|d| d.get_i64("seq").unwrap());
        let seqs: Vec<i64> = placed.iter().map(|d| d.get_i64("seq").unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=mine.len() as i64).collect::<Vec<_>>(),
            "{from}: places"
        );
        for partition in 0..6 {
            let here: Vec<&str> = placed
                .iter()
                .filter(|d| d.get_i32("partition").unwrap() == partition)
                .map(|d| d.get_str("_id").unwrap())
                .collect();
            let sent_here: Vec<&str> = mine
                .iter()
                .map(String::as_str)
                .filter(|id| here.contains(id))
                .collect();
            assert_eq!(here, sent_here, "{from} in partition {partition}: order");
        }
    }
    let pushed = carried(&mut live, &ids).await;
    assert_eq!(
        pushed.len(),
        ids.len(),
        "each pushed once to the open stream"
    );
    let resumed = wiber
        .open_stream(None, "user=zed", None, Some(&before))
        .await;
    let replayed = carried(&mut SseStream::new(resumed), &ids).await;
    assert_eq!(
        replayed.len(),
        ids.len(),
        "each once to a stream resuming from before"
    );
    for (from, mine) in &sent {
        let pages = paged(&wiber, from, "zed").await;
        let expected: HashSet<&String> = mine.iter().collect();
        assert_eq!(pages.len(), mine.len(), "{from}: each once");
        assert_eq!(pages.iter().collect::<HashSet<_>>(), expected, "{from}");
    }
    wiber_e2e::tallies::assert_exact(&wiber.mongo_uri, &wiber.db, RECOVERED_WITHIN).await;
}
