use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use wiber_api::auth::config::AuthConfig;
use wiber_api::auth::{Access, Auth, Verifier};
use wiber_api::config::Config;
use wiber_api::key_expiry::KeyExpiry;
use wiber_api::metrics::Metrics;
use wiber_api::producer::KafkaProducer;
use wiber_api::push::feed::FeedConfig;
use wiber_api::push::{Hub, PushMetrics};
use wiber_api::rate_limit::UserLimits;
use wiber_api::store::MongoStore;
use wiber_api::{AppState, admin, app};
use wiber_common::serve::{Limits, serve};
use wiber_common::tls::ServerTls;

#[tokio::main]
async fn main() -> ExitCode {
    wiber_common::process::main("wiber-api", Config::from_env, run).await
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let metrics = Metrics::new();
    let producer = KafkaProducer::new(
        &config.kafka,
        &config.kafka_topic,
        config.produce_timeout,
        metrics.produce.clone(),
    )?;
    let store = MongoStore::new(
        &config.mongo_uri,
        &config.mongo_db,
        &config.mongo_collection,
        config.mongo_timeout,
        config.idempotency_key_ttl,
    )
    .await?;
    tokio::spawn(KeyExpiry::new(&store, &metrics.registry).run());
    let auth = match config.auth.clone() {
        AuthConfig::None => {
            tracing::warn!(
                "AUTH_MODE=none: anyone who reaches the API may send as any user and read every conversation"
            );
            Auth::Open
        }
        AuthConfig::Jwt(jwt) => Auth::Jwt(Box::new(Verifier::new(jwt).await?)),
    };
    let push = Hub::new(config.push, PushMetrics::register(&metrics.registry));
    let (feed_stop, feed_stopped) = tokio::sync::watch::channel(false);
    let feed = tokio::spawn(wiber_api::push::feed::run(
        FeedConfig {
            kafka: config.kafka.clone(),
            topic: config.kafka_topic.clone(),
            stored_topic: config.stored_topic.clone(),
            consumer_group: config.consumer_group.clone(),
        },
        push.clone(),
        feed_stopped,
    ));
    let state = Arc::new(AppState {
        producer,
        store,
        metrics,
        body_timeout: config.read_timeout,
        request_timeout: config.request_timeout,
        access: Access {
            auth: Arc::new(auth),
            limits: config
                .edge
                .rate
                .map(|(rate, burst)| Arc::new(UserLimits::new(rate, burst))),
        },
        max_in_flight: config.edge.max_in_flight,
        push: push.clone(),
        group_max_members: config.group_max_members,
        stopping: Default::default(),
    });
    if state.access.limits.is_some() {
        let idle = state.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                if let Some(limits) = &idle.access.limits {
                    limits.forget_idle();
                }
            }
        });
    }
    let tls = match config.tls.clone() {
        Some(files) => {
            let tls = ServerTls::load(files)?;
            tls.spawn_reloads(config.tls_reload);
            Some(tls)
        }
        None => None,
    };
    let listener = wiber_common::serve::bind(config.listen, "API_HOST, API_PORT").await?;
    let admin_listener =
        wiber_common::serve::bind(config.admin_listen, "API_HOST, API_ADMIN_PORT").await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(listen = %config.listen, scheme, admin = %config.admin_listen, topic = %config.kafka_topic, "wiber-api serving");
    let limits = Limits {
        header_read_timeout: config.read_timeout,
        max_connections: config.max_connections,
        drain: config.shutdown_drain,
    };
    // The admin port answers the kubelet and Prometheus until the public port has drained.
    let (drained, admin_stop) = tokio::sync::oneshot::channel::<()>();
    let admin = tokio::spawn(serve(
        admin_listener,
        admin(state.clone()),
        Limits {
            max_connections: 64,
            ..limits
        },
        None,
        async {
            let _ = admin_stop.await;
        },
    ));
    serve(
        listener,
        wiber_api::edge::wrap(app(state.clone()), &config.edge),
        limits,
        tls,
        async {
            wiber_common::shutdown::signal().await;
            state
                .stopping
                .store(true, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(config.shutdown_delay).await;
            // Streams end first, each telling its client to reconnect (to another replica).
            push.close_all();
            let _ = feed_stop.send(true);
        },
    )
    .await;
    let _ = feed.await;
    let _ = drained.send(());
    let _ = admin.await;
    // Requests in flight have been answered; nothing queued may be lost on the way out.
    state.producer.flush(Duration::from_secs(10));
    tracing::info!("wiber-api stopped");
    Ok(())
}
