//! The store's own limit, measured beside the consumer: unordered batch inserts of the consumer's
//! size, one batch at a time as the consumer writes them, into a scratch collection with the same
//! indexes, in the same store.

use std::time::Instant;

use mongodb::Client;
use wiber_common::message::StoredMessage;
use wiber_common::queries::INDEXES;

use crate::dataset;

pub async fn insert(
    uri: &str,
    db: &str,
    documents: u64,
    batch: usize,
) -> Result<f64, mongodb::error::Error> {
    let client = Client::with_uri_str(uri).await?;
    let database = client.database(db);
    let scratch = database.collection::<StoredMessage>("raw_insert");
    scratch.drop().await?;
    scratch
        .create_indexes(INDEXES.iter().map(|i| i.model()))
        .await?;
    let all: Vec<StoredMessage> = (0..documents)
        .map(|i| {
            let (_, record) = dataset::record(i);
            StoredMessage::new(
                record,
                1_700_000_000_000 + i as i64,
                (i % 3) as i32,
                i as i64,
            )
        })
        .collect();
    let started = Instant::now();
    for chunk in all.chunks(batch) {
        scratch.insert_many(chunk).ordered(false).await?;
    }
    let took = started.elapsed().as_secs_f64();
    let rate = documents as f64 / took;
    println!(
        "raw insert_many: {documents} documents in batches of {batch} in {took:.1} s: {rate:.0} documents/s"
    );
    scratch.drop().await?;
    Ok(rate)
}
