use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::sync::watch;
use wiber_consumer::announce::Announcer;
use wiber_consumer::config::Config;
use wiber_consumer::consume::{Batching, consume};
use wiber_consumer::dlq::KafkaDeadLetters;
use wiber_consumer::health::{Health, router};
use wiber_consumer::kafka;
use wiber_consumer::metrics::Metrics;
use wiber_consumer::retry::{Backoff, retry};
use wiber_consumer::store::{Layout, MongoWriter};

#[tokio::main]
async fn main() -> ExitCode {
    wiber_common::process::main("wiber-consumer", Config::from_env, run).await
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let metrics = Metrics::new();
    let assignments = Arc::new(AtomicU64::new(0));
    let writer = Arc::new(
        MongoWriter::new(
            &config.mongo_uri,
            &config.mongo_db,
            &config.mongo_collection,
            config.write_concern.clone(),
            assignments.clone(),
        )
        .await?,
    );
    let (stop_tx, mut stop) = watch::channel(false);
    tokio::spawn(async move {
        wiber_common::shutdown::signal().await;
        let _ = stop_tx.send(true);
    });

    let consumer = Arc::new(kafka::create(&config, metrics.clone(), assignments)?);
    let dead_letters = KafkaDeadLetters::new(&config.kafka, &config.dlq_topic)?;
    let announcer = Announcer::new(&config.kafka, &config.stored_topic, metrics.clone())?;
    let listener = wiber_common::serve::bind(config.listen, "CONSUMER_HOST, CONSUMER_PORT").await?;
    let health = Arc::new(Health {
        consumer: consumer.clone(),
        writer: writer.clone(),
        metrics: metrics.clone(),
        topic: config.kafka_topic.clone(),
    });
    let mut server_stop = stop.clone();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = server_stop.wait_for(|s| *s).await;
        };
        axum::serve(listener, router(health))
            .with_graceful_shutdown(shutdown)
            .await
    });

    // Indexes before the first write; a database that is down at start is waited for, not fatal.
    let backoff = Backoff {
        first: Duration::from_millis(200),
        max: Duration::from_secs(5),
    };
    let indexes = retry(
        "index creation",
        backoff,
        &mut stop,
        || {},
        || writer.ensure_indexes(),
    );
    match indexes.await {
        None => return Ok(()),
        Some(Layout::Legacy(index)) => {
            return Err(format!(
                "MONGO_COLLECTION {} has the index {index} of the layout before messages were \
                 stored under _id = messageId: migrate it (docs/concepts/store.md, \"Upgrading the store\") or \
                 set MONGO_COLLECTION to a new collection",
                config.mongo_collection
            )
            .into());
        }
        Some(Layout::Current) => {}
    }

    tracing::info!(
        topic = %config.kafka_topic,
        group = %config.consumer_group,
        listen = %config.listen,
        "wiber-consumer consuming"
    );
    let batching = Batching {
        max: config.batch_size,
        wait: config.batch_wait,
        idle: config.batch_idle,
    };
    consume(
        consumer,
        writer,
        dead_letters,
        announcer,
        metrics,
        batching,
        stop,
    )
    .await;
    server.await??;
    tracing::info!("wiber-consumer stopped");
    Ok(())
}
