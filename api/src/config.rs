//! The API's configuration, read once from the environment at start-up.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use wiber_common::config::{ConfigError, ensure, parse, parse_in, string};
use wiber_common::kafka::KafkaConnection;
use wiber_common::tls::TlsFiles;

use crate::auth::config::AuthConfig;
use crate::edge::EdgeConfig;
use crate::push::PushConfig;

#[derive(Debug, Clone)]
pub struct Config {
    /// KAFKA_BOOTSTRAP_SERVERS (localhost:9092) and the KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and
    /// KAFKA_SSL_* settings (see `wiber_common::kafka`).
    pub kafka: KafkaConnection,
    /// KAFKA_TOPIC (wiber.messages)
    pub kafka_topic: String,
    /// KAFKA_CONSUMER_GROUP (wiber-consumers): the push feed starts where this group committed.
    pub consumer_group: String,
    /// KAFKA_STORED_TOPIC (<KAFKA_TOPIC>.stored): the consumer's stored announcements.
    pub stored_topic: String,
    /// API_PUSH_BUFFER, API_PUSH_MAX_STREAMS, API_PUSH_HEARTBEAT_SECONDS (see `push::PushConfig`).
    pub push: PushConfig,
    /// KAFKA_PRODUCE_TIMEOUT_MS (10000): how long a message may wait for the broker's
    /// acknowledgement before the request fails with 503.
    pub produce_timeout: Duration,
    /// MONGO_URI (mongodb://localhost:27017)
    pub mongo_uri: String,
    /// MONGO_DB (wiber)
    pub mongo_db: String,
    /// MONGO_COLLECTION (messages); idempotency keys are reserved in `<MONGO_COLLECTION>_idempotency`.
    pub mongo_collection: String,
    /// MONGO_TIMEOUT_MS (3000): how long one store operation may take before the request
    /// fails with 503 (or, for an Idempotency-Key's reservation, goes ahead without it).
    pub mongo_timeout: Duration,
    /// API_IDEMPOTENCY_KEY_TTL_SECONDS (86400, 1 to 31536000): how long an `Idempotency-Key` is
    /// honoured; its reservation is deleted within a minute after (`key_expiry`).
    pub idempotency_key_ttl: Duration,
    /// API_HOST (0.0.0.0) and API_PORT (8000): the message API and its push streams, `/chat`,
    /// `/health/*` and `/openapi.json`.
    pub listen: SocketAddr,
    /// API_HOST and API_ADMIN_PORT (8002): `/health/*` and `/metrics`, for the kubelet and
    /// Prometheus; kept off the public port.
    pub admin_listen: SocketAddr,
    /// API_REQUEST_TIMEOUT_MS (5000): how long a read (GET) may take in all before it is answered
    /// 503. POST is bounded by KAFKA_PRODUCE_TIMEOUT_MS and MONGO_TIMEOUT_MS instead.
    pub request_timeout: Duration,
    /// API_READ_TIMEOUT_MS (10000): a request's headers, and then its body, must each arrive
    /// within this; an idle keep-alive connection is closed after it too.
    pub read_timeout: Duration,
    /// API_MAX_CONNECTIONS (16384): open connections per process (push streams included); more are closed at once.
    pub max_connections: usize,
    /// API_SHUTDOWN_DRAIN_MS (15000): after SIGTERM, how long requests in flight may finish
    /// before the rest are cut (then queued messages get up to 10 s to reach Kafka).
    pub shutdown_drain: Duration,
    /// API_SHUTDOWN_DELAY_MS (0): after SIGTERM, how long readiness fails while everything is
    /// still served, before push streams are told to reconnect and the port stops accepting: the
    /// time a cluster takes to stop routing new clients here (the operator sets 5000).
    pub shutdown_delay: Duration,
    /// AUTH_MODE and the AUTH_* settings (see `auth::config`).
    pub auth: AuthConfig,
    /// API_CORS_ORIGINS, API_MAX_IN_FLIGHT, API_RATE_LIMIT_* (see `edge`).
    pub edge: EdgeConfig,
    /// API_TLS_CERT_FILE and API_TLS_KEY_FILE (both or neither; unset: plain HTTP): the public
    /// port serves HTTPS with this PEM chain and key. The admin port stays plain HTTP, for the
    /// kubelet and Prometheus inside the cluster.
    pub tls: Option<TlsFiles>,
    /// API_TLS_RELOAD_SECONDS (10): how often the certificate files are checked for a renewal.
    pub tls_reload: Duration,
    /// GROUP_MAX_MEMBERS (256, at least 2): the most members a group may have; the consumer
    /// holds additions to the bound each carried when accepted.
    pub group_max_members: usize,
}

fn tls_from_env() -> Result<Option<TlsFiles>, ConfigError> {
    let cert = string("API_TLS_CERT_FILE", "");
    let key = string("API_TLS_KEY_FILE", "");
    match (cert.is_empty(), key.is_empty()) {
        (true, true) => Ok(None),
        (false, false) => Ok(Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
            cert_var: "API_TLS_CERT_FILE",
            key_var: "API_TLS_KEY_FILE",
        })),
        (cert_missing, _) => {
            let (var, other) = if cert_missing {
                ("API_TLS_CERT_FILE", "API_TLS_KEY_FILE")
            } else {
                ("API_TLS_KEY_FILE", "API_TLS_CERT_FILE")
            };
            Err(ConfigError {
                var: var.into(),
                value: String::new(),
                reason: format!("is required when {other} is set"),
            })
        }
    }
}

fn edge_from_env() -> Result<EdgeConfig, ConfigError> {
    let origins = string("API_CORS_ORIGINS", "");
    let mut cors_origins = Vec::new();
    for origin in origins.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let valid = (origin.starts_with("https://") || origin.starts_with("http://"))
            && !origin.trim_end_matches('/').contains(['*', ' ']);
        let value = axum::http::HeaderValue::from_str(origin.trim_end_matches('/'));
        match value {
            Ok(v) if valid => cors_origins.push(v),
            _ => {
                return Err(ConfigError {
                    var: "API_CORS_ORIGINS".into(),
                    value: origin.into(),
                    reason: "each origin must be scheme://host[:port], comma-separated".into(),
                });
            }
        }
    }
    let per_second: u32 = parse_in("API_RATE_LIMIT_PER_SECOND", 20, 0..=1_000_000)?;
    let burst: u32 = parse_in("API_RATE_LIMIT_BURST", 40, 1..=1_000_000)?;
    Ok(EdgeConfig {
        cors_origins,
        max_in_flight: parse_in("API_MAX_IN_FLIGHT", 512, 1..=1_000_000)?,
        rate: std::num::NonZeroU32::new(per_second).zip(std::num::NonZeroU32::new(burst)),
    })
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let host: IpAddr = parse("API_HOST", IpAddr::from([0, 0, 0, 0]))?;
        let port: u16 = parse("API_PORT", 8000)?;
        let admin_port: u16 = parse("API_ADMIN_PORT", 8002)?;
        ensure(
            "API_ADMIN_PORT",
            &admin_port,
            admin_port != port || port == 0,
            "must differ from API_PORT: /metrics stays off the public port",
        )?;
        let request_timeout_ms: u64 = parse_in("API_REQUEST_TIMEOUT_MS", 5_000, 100..=300_000)?;
        let timeout_ms: u64 = parse_in("KAFKA_PRODUCE_TIMEOUT_MS", 10_000, 100..=300_000)?;
        let mongo_timeout_ms: u64 = parse_in("MONGO_TIMEOUT_MS", 3_000, 100..=60_000)?;
        let read_timeout_ms: u64 = parse_in("API_READ_TIMEOUT_MS", 10_000, 100..=300_000)?;
        let max_connections: usize = parse_in("API_MAX_CONNECTIONS", 16_384, 1..=1_000_000)?;
        let drain_ms: u64 = parse_in("API_SHUTDOWN_DRAIN_MS", 15_000, 0..=300_000)?;
        let topic = string("KAFKA_TOPIC", "wiber.messages");
        let push = PushConfig {
            buffer: parse_in("API_PUSH_BUFFER", 256, 1..=100_000)?,
            max_streams: parse_in("API_PUSH_MAX_STREAMS", 10_000, 0..=1_000_000)?,
            heartbeat: Duration::from_secs(parse_in("API_PUSH_HEARTBEAT_SECONDS", 15, 1..=3600)?),
        };
        Ok(Self {
            kafka: KafkaConnection::from_env()?,
            consumer_group: string("KAFKA_CONSUMER_GROUP", "wiber-consumers"),
            stored_topic: wiber_common::stored::stored_topic_from_env(&topic),
            push,
            kafka_topic: topic,
            produce_timeout: Duration::from_millis(timeout_ms),
            mongo_uri: string("MONGO_URI", "mongodb://localhost:27017"),
            mongo_db: string("MONGO_DB", "wiber"),
            mongo_collection: string("MONGO_COLLECTION", "messages"),
            mongo_timeout: Duration::from_millis(mongo_timeout_ms),
            idempotency_key_ttl: Duration::from_secs(parse_in(
                "API_IDEMPOTENCY_KEY_TTL_SECONDS",
                86_400,
                1..=31_536_000,
            )?),
            listen: SocketAddr::new(host, port),
            admin_listen: SocketAddr::new(host, admin_port),
            request_timeout: Duration::from_millis(request_timeout_ms),
            read_timeout: Duration::from_millis(read_timeout_ms),
            max_connections,
            shutdown_drain: Duration::from_millis(drain_ms),
            shutdown_delay: Duration::from_millis(parse_in(
                "API_SHUTDOWN_DELAY_MS",
                0,
                0..=120_000,
            )?),
            auth: AuthConfig::from_env()?,
            edge: edge_from_env()?,
            tls: tls_from_env()?,
            tls_reload: Duration::from_secs(parse_in("API_TLS_RELOAD_SECONDS", 10, 1..=3600)?),
            group_max_members: parse_in(
                "GROUP_MAX_MEMBERS",
                wiber_common::group::DEFAULT_MAX_MEMBERS,
                2..=10_000,
            )?,
        })
    }
}
