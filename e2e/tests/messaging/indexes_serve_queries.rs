//! Every query Wiber runs is served by the index declared for it (`wiber_common::queries`), on the
//! indexes the real consumer creates, as the store's own planner reports it through `explain`:
//! on FerretDB, PostgreSQL's plan reads a GIN twin on the index's leading field; on a MongoDB, an IXSCAN of the
//! declared index and no in-memory SORT. A collection of the earlier layout is refused.

use mongodb::bson::{Bson, Document, doc};
use wiber_common::message::{MessageRecord, StoredMessage};
use wiber_common::queries::{self, Cursor, INBOX_INDEXES, INDEXES, Query, TALLY_INDEXES};
use wiber_common::readmodel::{
    InboxEntry, Tally, TallyKey, TallyState, inbox_collection, placed, tallies_collection,
};
use wiber_e2e::stack::Wiber;
use wiber_e2e::wait::eventually;

use crate::STORED_WITHIN;

/// Enough documents that a planner prefers an index to reading the table.
const DOCUMENTS: i64 = 3000;

fn stored(i: i64) -> StoredMessage {
    let (from, to) = (format!("user{}", i % 40), format!("peer{}", i % 7));
    let record = MessageRecord {
        message_id: uuid::Uuid::new_v4(),
        from_user: from,
        to_user: to,
        content: format!("message {i}"),
        ..Default::default()
    };
    placed(
        StoredMessage::new(record, 1_700_000_000_000 + i, (i % 3) as i32, i),
        i % 200 + 1,
    )
}

/// A user's tally in a partition, and one of the partitions' (every fortieth).
fn tally(i: i64) -> Tally {
    let key = if i % 40 == 0 {
        TallyKey::Partition(i as i32)
    } else {
        TallyKey::User(format!("user{}", i % 40), i as i32)
    };
    Tally {
        id: key.id(),
        kind: key.kind().into(),
        user: match &key {
            TallyKey::User(u, _) => Some(u.clone()),
            _ => None,
        },
        partition: i as i32,
        state: TallyState::new(i),
        group: None,
        recent: None,
    }
}

fn entry(i: i64) -> InboxEntry {
    let (user, conversation) = (format!("user{}", i % 40), format!("user{}:peer{i}", i % 40));
    InboxEntry {
        id: InboxEntry::id_of(&user, &conversation),
        user,
        conversation_id: conversation,
        members: Vec::new(),
        title: None,
        count: i,
        read_seq: 0,
        last: None,
        last_timestamp: 1_700_000_000_000 + i,
        last_partition: (i % 3) as i32,
        last_offset: i,
    }
}

/// Every object in `plan`, depth first.
fn nodes(plan: &Bson, out: &mut Vec<Document>) {
    match plan {
        Bson::Document(d) => {
            out.push(d.clone());
            d.values().for_each(|v| nodes(v, out));
        }
        Bson::Array(a) => a.iter().for_each(|v| nodes(v, out)),
        _ => {}
    }
}

/// Why `explain`'s answer does not show `query` served by its index, or `None` when it does.
fn not_served(answer: &Document, query: &Query) -> Option<String> {
    let planner = Bson::Document(answer.get_document("queryPlanner").ok()?.clone());
    let mut all = Vec::new();
    nodes(&planner, &mut all);
    if answer.contains_key("filterPushdown") {
        // FerretDB: the equality must reach PostgreSQL, and its plan read the declared index's twin.
        if !answer.get_bool("filterPushdown").unwrap_or(false) {
            return Some("the filter was not pushed down".into());
        }
        // Twins are per leading field: indexes that share it (participant_recent, stream_order)
        // have identical twins, and the planner may read either.
        let (first, _) = query.index.keys[0];
        let on_first = format!("-> '{first}'");
        let reads_twin = all.iter().any(|n| {
            n.get_str("Node Type")
                .is_ok_and(|t| t.contains("Index Scan"))
                && n.get_str("Index Name").is_ok_and(|i| i.ends_with("_gin"))
                && n.get_str("Index Cond").is_ok_and(|c| c.contains(&on_first))
        });
        return (!reads_twin).then(|| {
            format!(
                "no index scan of a twin on {first} ({}) in {planner}",
                query.index.name
            )
        });
    }
    let ixscan = all.iter().any(|n| {
        n.get_str("stage") == Ok("IXSCAN") && n.get_str("indexName") == Ok(query.index.name)
    });
    let in_memory_sort = all.iter().any(|n| n.get_str("stage") == Ok("SORT"));
    if !ixscan {
        return Some(format!("no IXSCAN of {} in {planner}", query.index.name));
    }
    (query.sort.is_some() && in_memory_sort).then(|| format!("an in-memory SORT in {planner}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_is_served_by_the_index_declared_for_it() {
    let wiber = Wiber::start().await;
    let consumer = wiber.consumer().await;
    let collection = wiber.collection().await;
    let db = collection.client().database(&wiber.db);
    let tallies = db.collection::<Tally>(&tallies_collection("messages"));
    let inbox = db.collection::<InboxEntry>(&inbox_collection("messages"));
    let names = eventually("the consumer's indexes", STORED_WITHIN, || async {
        let names = collection.list_index_names().await.ok()?;
        let of_tallies = tallies.list_index_names().await.ok()?;
        let of_inbox = inbox.list_index_names().await.ok()?;
        let all = |indexes: &[queries::Index], names: &[String]| {
            indexes.iter().all(|i| names.iter().any(|n| n == i.name))
        };
        (all(&INDEXES, &names)
            && all(&TALLY_INDEXES, &of_tallies)
            && all(&INBOX_INDEXES, &of_inbox))
        .then_some(names)
    })
    .await;
    assert!(
        names
            .iter()
            .all(|n| !queries::LEGACY_INDEXES.contains(&n.as_str())),
        "{names:?}"
    );
    let typed = collection.clone_with_type::<StoredMessage>();
    let documents: Vec<StoredMessage> = (0..DOCUMENTS).map(stored).collect();
    typed.insert_many(&documents).await.expect("insert");
    let made: Vec<Tally> = (0..DOCUMENTS).map(tally).collect();
    tallies.insert_many(&made).await.expect("insert tallies");
    let entries: Vec<InboxEntry> = (0..DOCUMENTS).map(entry).collect();
    inbox.insert_many(&entries).await.expect("insert inbox");

    let sample = &documents[DOCUMENTS as usize / 2];
    let cursor = Cursor::after(sample);
    let on_messages = |what, query| (what, "messages".to_owned(), query);
    let checks = [
        (
            "conversation page by place",
            "messages".to_owned(),
            queries::conversation_page_at(sample.page.as_deref().expect("placed")),
        ),
        (
            "user tallies",
            tallies_collection("messages"),
            queries::user_tallies(&sample.from_user),
        ),
        (
            "partition tallies",
            tallies_collection("messages"),
            queries::partition_tallies(),
        ),
        (
            "inbox page",
            inbox_collection("messages"),
            queries::inbox_page(&sample.from_user, None),
        ),
        (
            "inbox page by cursor",
            inbox_collection("messages"),
            queries::inbox_page(&sample.from_user, Some(cursor)),
        ),
    ]
    .into_iter()
    .chain([
        on_messages(
            "conversation page",
            queries::conversation_page(&sample.conversation_id, None),
        ),
        on_messages(
            "deep page by cursor",
            queries::conversation_page(&sample.conversation_id, Some(cursor)),
        ),
        on_messages(
            "conversation count",
            queries::conversation_count(&sample.conversation_id),
        ),
        on_messages("user page", queries::user_recent(&sample.to_user)),
        on_messages("user count", queries::user_count(&sample.from_user)),
        on_messages(
            "push stream catch-up",
            queries::stream_range(
                &sample.to_user,
                sample.partition,
                sample.offset - 300,
                sample.offset,
            ),
        ),
    ]);
    for (what, collection_name, query) in checks {
        let mut find =
            doc! { "find": &collection_name, "filter": query.filter.clone(), "limit": 50 };
        if let Some(sort) = &query.sort {
            find.insert("sort", sort.clone());
        }
        let answer = db
            .run_command(doc! { "explain": find, "verbosity": "queryPlanner" })
            .await
            .expect("explain");
        if let Some(why) = not_served(&answer, &query) {
            panic!("{what}: {why}");
        }
        // The query finds what it should: everything the filter names, from the store.
        let found = db
            .collection::<mongodb::bson::Document>(&collection_name)
            .count_documents(query.filter.clone())
            .await
            .expect("count");
        assert!(found > 0, "{what} found nothing");
    }
    drop(consumer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_of_the_earlier_layout_is_refused_at_start_naming_the_variable() {
    let wiber = Wiber::start().await;
    let collection = wiber.collection().await;
    let legacy = mongodb::IndexModel::builder()
        .keys(doc! { "messageId": 1 })
        .options(
            mongodb::options::IndexOptions::builder()
                .name("messageId_unique".to_owned())
                .unique(true)
                .build(),
        )
        .build();
    collection.create_index(legacy).await.expect("legacy index");

    let mut consumer = wiber.spawn_consumer();
    let code = consumer
        .process
        .wait_exit(std::time::Duration::from_secs(60));
    let log = consumer.process.log_text();
    assert_eq!(code, Some(1), "the consumer must exit with an error: {log}");
    assert!(
        log.contains("MONGO_COLLECTION messages") && log.contains("messageId_unique"),
        "the error names the variable and the index: {log}"
    );
    let names = collection.list_index_names().await.expect("indexes");
    assert!(
        INDEXES.iter().all(|i| !names.iter().any(|n| n == i.name)),
        "nothing is created in a refused collection: {names:?}"
    );
}
