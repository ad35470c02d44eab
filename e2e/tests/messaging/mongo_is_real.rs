//! Proves the local MongoDB-protocol server behaves as MongoDB does for what Wiber relies on:
//! inserts and queries through the official driver (a multikey equality among them), and
//! duplicate-key errors (code 11000) on `_id`, for single and unordered batch inserts. Which index
//! serves each of Wiber's own queries is proved in `indexes_serve_queries`.

use std::future::IntoFuture;

use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::{Client, Collection, Cursor, IndexModel};
use wiber_e2e::{mongo_uri, unique_name};

const DUPLICATE_KEY: i32 = 11000;

async fn fresh_collection() -> (mongodb::Database, Collection<Document>) {
    let client = Client::with_uri_str(mongo_uri()).await.expect("client");
    let db = client.database(&unique_name("e2e").replace('-', "_"));
    let collection = db.collection::<Document>("messages");
    (db, collection)
}

fn message(id: &str, from: &str, to: &str, ts: i64) -> Document {
    let mut pair = [from, to];
    pair.sort();
    doc! {
        "_id": id,
        "conversationId": pair.join(":"),
        "fromUser": from,
        "toUser": to,
        "participants": [from, to],
        "content": format!("hello from {from} at {ts}"),
        "timestamp": ts,
    }
}

/// The `_id`s of what a query finds, in its order.
async fn ids(
    find: impl IntoFuture<Output = mongodb::error::Result<Cursor<Document>>>,
) -> Vec<String> {
    let found: Vec<Document> = find
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("cursor");
    found
        .iter()
        .map(|d| d.get_str("_id").unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn inserted_messages_come_back_filtered_and_sorted() {
    let (db, messages) = fresh_collection().await;
    messages
        .create_index(
            IndexModel::builder()
                .keys(doc! { "conversationId": 1, "timestamp": 1 })
                .build(),
        )
        .await
        .expect("compound index");

    let docs = vec![
        message("m3", "bob", "alice", 3),
        message("m1", "alice", "bob", 1),
        message("m9", "carol", "dave", 2),
        message("m2", "alice", "bob", 2),
    ];
    let inserted = messages.insert_many(docs).await.expect("insert_many");
    assert_eq!(inserted.inserted_ids.len(), 4);

    let conversation = messages
        .find(doc! { "conversationId": "alice:bob" })
        .sort(doc! { "timestamp": 1 });
    assert_eq!(ids(conversation).await, ["m1", "m2", "m3"]);

    let newest_of_alice = messages
        .find(doc! { "participants": "alice" })
        .sort(doc! { "timestamp": -1 })
        .limit(2);
    assert_eq!(ids(newest_of_alice).await, ["m3", "m2"]);

    let count = messages
        .count_documents(doc! { "conversationId": "alice:bob" })
        .await
        .expect("count");
    assert_eq!(count, 3);

    db.drop().await.expect("drop database");
}

#[tokio::test]
async fn a_taken_id_is_rejected_with_code_11000_and_the_rest_of_a_batch_is_kept() {
    let (db, messages) = fresh_collection().await;
    messages
        .insert_one(message("dup", "alice", "bob", 1))
        .await
        .expect("first insert");
    let err = messages
        .insert_one(message("dup", "alice", "bob", 1))
        .await
        .expect_err("second insert of the same _id must fail");
    match *err.kind {
        ErrorKind::Write(WriteFailure::WriteError(ref e)) => assert_eq!(e.code, DUPLICATE_KEY),
        ref other => panic!("expected a duplicate-key write error, got {other:?}"),
    }

    // An unordered batch with one duplicate in the middle stores everything else.
    let batch = vec![
        message("a", "alice", "bob", 2),
        message("dup", "alice", "bob", 3),
        message("b", "alice", "bob", 4),
    ];
    let err = messages
        .insert_many(batch)
        .ordered(false)
        .await
        .expect_err("batch with a duplicate must report it");
    match *err.kind {
        ErrorKind::InsertMany(ref e) => {
            let write_errors = e.write_errors.as_ref().expect("write errors");
            assert_eq!(write_errors.len(), 1);
            assert_eq!(write_errors[0].code, DUPLICATE_KEY);
            assert_eq!(write_errors[0].index, 1);
        }
        ref other => panic!("expected an insert-many error, got {other:?}"),
    }
    let stored = messages.count_documents(doc! {}).await.expect("count");
    assert_eq!(stored, 3, "dup once, plus a and b");

    db.drop().await.expect("drop database");
}
