//! Idempotency keys expire: honoured for API_IDEMPOTENCY_KEY_TTL_SECONDS, then their reservations
//! are deleted (by the API's sweep on FerretDB, which has no TTL indexes), reservations made
//! before keys expired included, and the key is free for another message.

use std::collections::HashSet;
use std::time::Duration;

use mongodb::bson::{DateTime, Document, doc};
use serde_json::json;
use wiber_e2e::stack::{Wiber, message_id};
use wiber_e2e::wait::eventually;

use crate::STORED_WITHIN;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_is_honoured_for_its_ttl_then_its_reservation_goes_and_the_key_is_free()
{
    let ttl = [("API_IDEMPOTENCY_KEY_TTL_SECONDS", "2".to_owned())];
    let wiber = Wiber::spawn(wiber_e2e::mongo_uri(), &ttl).await;
    wiber.wait_ready().await;
    let _consumer = wiber.consumer().await;
    let pay = json!({"fromUser": "alice", "toUser": "bob", "content": "pay 10"});
    let other = json!({"fromUser": "alice", "toUser": "bob", "content": "pay 20"});

    let (status, first) = wiber.post_keyed("order-1", &pay).await;
    assert_eq!(status, 200, "{first}");
    let (status, refused) = wiber.post_keyed("order-1", &other).await;
    assert_eq!(status, 422, "within its TTL the key holds: {refused}");

    let keys = mongodb::Client::with_uri_str(&wiber.mongo_uri)
        .await
        .unwrap()
        .database(&wiber.db)
        .collection::<Document>("messages_idempotency");
    let held = keys
        .find_one(doc! {})
        .await
        .unwrap()
        .expect("the reservation");
    let (reserved, expires) = (
        held.get_datetime("reservedAt").unwrap(),
        held.get_datetime("expiresAt").unwrap(),
    );
    assert_eq!(
        expires.timestamp_millis() - reserved.timestamp_millis(),
        2_000
    );
    // A reservation made before keys expired has no expiresAt: it goes a TTL after it was made.
    let an_hour_ago = DateTime::from_millis(DateTime::now().timestamp_millis() - 3_600_000);
    keys.insert_one(doc! {"_id": "legacy", "messageId": "m", "reservedAt": an_hour_ago})
        .await
        .unwrap();

    eventually(
        "the reservations deleted",
        Duration::from_secs(30),
        || async { (keys.count_documents(doc! {}).await.ok()? == 0).then_some(()) },
    )
    .await;
    let expired = wiber_e2e::metrics::metric(
        &wiber.http,
        &wiber.admin_url,
        "wiber_api_idempotency_keys_expired_total",
        &[],
    )
    .await;
    assert!(expired >= Some(2.0), "{expired:?}");

    // The key is free: another message takes it; the first message's retry is stored once still.
    let (status, second) = wiber.post_keyed("order-1", &other).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["messageId"], first["messageId"]);
    let expected: HashSet<String> = [&first, &second].into_iter().map(message_id).collect();
    wiber
        .assert_stored_exactly_once(&expected, STORED_WITHIN)
        .await;
}
