//! Wiber's real binaries as child processes against the local Kafka and MongoDB-protocol server,
//! each test with its own topic, consumer group and database so tests run side by side.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use serde_json::{Value, json};

use crate::issuer::{self, IssuerKey};
use crate::kafka::create_topic;
pub use crate::own_store::OwnStore;
use crate::process::{Process, binary, free_port};
use crate::sse::SseStream;
use crate::verify::{History, Pipeline, Told, Verified};
use crate::wait::eventually;
use crate::{kafka_bootstrap, metrics, mongo_uri, unique_name};

pub const PARTITIONS: i32 = 3;
/// How long a new API replica may take to serve streams (its feed starts on Kafka).
const STREAMS_WITHIN: Duration = Duration::from_secs(60);

/// One Wiber instance: a fresh topic (3 partitions, log-append time) and dead-letter topic, a
/// fresh consumer group and database, the API, and any number of consumers.
pub struct Wiber {
    pub http: reqwest::Client,
    pub api_url: String,
    /// The API's admin port: `/metrics` and the health checks.
    pub admin_url: String,
    pub topic: String,
    pub group: String,
    pub db: String,
    pub mongo_uri: String,
    pub bootstrap: String,
    pub api: Process,
    /// The acknowledged POSTs sent through `send` and `stream_answers`, for the order check.
    pub history: History,
    env: Vec<(String, String)>,
    api_env: Vec<(String, String)>,
    binaries: Binaries,
}

/// Where the Wiber binaries run from.
#[derive(Debug, Clone, Default)]
pub enum Binaries {
    /// This workspace's build (`WIBER_BIN_DIR`).
    #[default]
    Build,
    /// An image's unpacked root filesystem, entered with chroot as the image's user.
    Image { rootfs: PathBuf, user: String },
}

impl Binaries {
    pub fn spawn(&self, name: &str, env: &[(String, String)], label: &str) -> Process {
        match self {
            Self::Build => Process::spawn(binary(name), &[], env, label),
            Self::Image { rootfs, user } => {
                let rootfs = rootfs.to_str().expect("utf-8 path");
                let userspec = format!("--userspec={user}");
                let inside = format!("/usr/local/bin/{name}");
                // chroot execs the binary, so the process signalled and killed is the binary.
                let args = [userspec.as_str(), rootfs, inside.as_str()];
                Process::spawn(PathBuf::from("chroot"), &args, env, label)
            }
        }
    }
}

/// A consumer process with its health port.
pub struct ConsumerProcess {
    pub process: Process,
    pub url: String,
}

impl ConsumerProcess {
    /// The value of a metric (summed over label sets), 0 when absent or when nothing answers.
    pub async fn metric(&self, http: &reqwest::Client, name: &str) -> f64 {
        metrics::metric(http, &self.url, name, &[])
            .await
            .unwrap_or(0.0)
    }

    /// Waits until the group's lag, as this consumer reports it, is zero: nothing the brokers
    /// accepted is still on its way to the store.
    pub async fn wait_caught_up(&self, http: &reqwest::Client, within: Duration) {
        let lag_zero = |lag| lag == 0.0;
        self.wait_metric(
            http,
            "the group's lag to reach zero",
            "wiber_consumer_lag",
            within,
            lag_zero,
        )
        .await;
    }

    /// Waits until `reached` holds for the metric `name` as `metric` reads it, failing the test
    /// with `what` after `within`.
    pub async fn wait_metric(
        &self,
        http: &reqwest::Client,
        what: &str,
        name: &str,
        within: Duration,
        reached: impl Fn(f64) -> bool,
    ) {
        eventually(what, within, || async {
            reached(self.metric(http, name).await).then_some(())
        })
        .await;
    }
}

impl Wiber {
    pub async fn start() -> Self {
        Self::start_with_store(mongo_uri()).await
    }

    pub async fn start_with_store(mongo_uri: String) -> Self {
        let wiber = Self::spawn(mongo_uri, &[]).await;
        let url = format!("{}/health/readiness", wiber.api_url);
        wait_ready(&wiber.http, &url, &wiber.api).await;
        wiber
    }

    /// Starts the API (not waiting for it to be ready) with `kafka_env` replacing or adding to the
    /// Kafka client variables, e.g. a secured listener's bootstrap servers and credentials. Topics
    /// are still created through the plain listener.
    pub async fn spawn(mongo_uri: String, kafka_env: &[(&str, String)]) -> Self {
        Self::spawn_on(kafka_bootstrap(), mongo_uri, kafka_env).await
    }

    /// Like `spawn`, on the Kafka cluster at `bootstrap` (topics included).
    pub async fn spawn_on(
        bootstrap: String,
        mongo_uri: String,
        kafka_env: &[(&str, String)],
    ) -> Self {
        Self::spawn_from(Binaries::Build, bootstrap, mongo_uri, kafka_env).await
    }

    /// The API and consumers from `binaries`, on the local Kafka and store, once the API is ready.
    pub async fn start_from(binaries: Binaries) -> Self {
        let wiber = Self::spawn_from(binaries, kafka_bootstrap(), mongo_uri(), &[]).await;
        wiber.wait_ready().await;
        wiber
    }

    async fn spawn_from(
        binaries: Binaries,
        bootstrap: String,
        mongo_uri: String,
        kafka_env: &[(&str, String)],
    ) -> Self {
        let topic = unique_name("wiber-e2e");
        create_topic(&bootstrap, &topic, PARTITIONS).await;
        create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
        create_topic(&bootstrap, &format!("{topic}.stored"), 1).await;
        let group = unique_name("wiber-e2e-group");
        let db = unique_name("e2e").replace('-', "_");
        let env: Vec<(String, String)> = [
            ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.as_str()),
            ("KAFKA_TOPIC", &topic),
            ("KAFKA_CONSUMER_GROUP", &group),
            ("MONGO_URI", &mongo_uri),
            ("MONGO_DB", &db),
            ("MONGO_COLLECTION", "messages"),
            ("CONSUMER_STATS_INTERVAL_MS", "500"),
            // These tests are about the message path; the auth tests pass AUTH_MODE=jwt and keys.
            ("AUTH_MODE", "none"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let mut env = env;
        for (key, value) in kafka_env {
            env.retain(|(k, _)| k != key);
            env.push(((*key).to_owned(), value.clone()));
        }
        let mut api_env = env.clone();
        api_env.push(("API_HOST".into(), "127.0.0.1".into()));
        let (api, api_port, admin_port) = spawn_api(&binaries, &api_env, "api").await;
        api_env.push(("API_PORT".into(), api_port.to_string()));
        api_env.push(("API_ADMIN_PORT".into(), admin_port.to_string()));
        Self {
            http: reqwest::Client::new(),
            api_url: format!("http://127.0.0.1:{api_port}"),
            admin_url: format!("http://127.0.0.1:{admin_port}"),
            topic,
            group,
            db,
            mongo_uri,
            bootstrap,
            api,
            history: History::default(),
            env,
            api_env,
            binaries,
        }
    }

    /// Another API process with this one's configuration and port (after the first was killed),
    /// once it reports ready.
    pub async fn another_api(&self) -> Process {
        // A SIGKILLed process holds its listening socket until the kernel has torn it down.
        let port = self
            .api_env
            .iter()
            .find(|(k, _)| k == "API_PORT")
            .map(|(_, v)| v.clone())
            .expect("API_PORT in the API's environment");
        eventually(
            "the old API's port free again",
            Duration::from_secs(30),
            || {
                let addr = format!("127.0.0.1:{port}");
                async move { std::net::TcpListener::bind(addr).ok().map(drop) }
            },
        )
        .await;
        let api = self.binaries.spawn("wiber-api", &self.api_env, "api-again");
        let url = format!("{}/health/readiness", self.api_url);
        wait_ready(&self.http, &url, &api).await;
        api
    }

    /// How to start another API process with this one's configuration: `{"program", "env"}`
    /// (ports to be chosen by whoever starts it), for a test driving processes of its own.
    pub fn api_spec(&self) -> serde_json::Value {
        let env: serde_json::Map<String, serde_json::Value> = self
            .api_env
            .iter()
            .filter(|(k, _)| k != "API_PORT" && k != "API_ADMIN_PORT")
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        assert!(
            matches!(self.binaries, Binaries::Build),
            "an API spec names this build's binary"
        );
        serde_json::json!({"program": binary("wiber-api"), "env": env})
    }

    /// A second API process beside the first (same topic and store, its own ports), with `extra`
    /// settings, once ready; and its URL.
    pub async fn second_api(&self, extra: &[(&str, &str)]) -> (Process, String) {
        let mut env = self.api_env.clone();
        env.retain(|(k, _)| k != "API_PORT" && k != "API_ADMIN_PORT");
        for (key, value) in extra {
            env.retain(|(k, _)| k != key);
            env.push(((*key).to_owned(), (*value).to_owned()));
        }
        let (api, port, _) = spawn_api(&self.binaries, &env, "api-second").await;
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&self.http, &format!("{url}/health/readiness"), &api).await;
        (api, url)
    }

    /// Opens `GET /messages/stream?<query>` on the API at `base` (the first one's when `None`)
    /// and returns the response, whatever its status.
    pub async fn open_stream(
        &self,
        base: Option<&str>,
        query: &str,
        token: Option<&str>,
        last_event_id: Option<&str>,
    ) -> reqwest::Response {
        let base = base.unwrap_or(&self.api_url);
        let mut request = self.http.get(format!("{base}/messages/stream?{query}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        request.send().await.expect("GET /messages/stream")
    }

    /// A Wiber whose API verifies tokens from the test issuer (`issuer`), with a consumer, and
    /// the key that signs the test's tokens; `extra` settings go to the API and the consumer.
    pub async fn with_issuer(extra: &[(&str, &str)]) -> (Self, ConsumerProcess, IssuerKey) {
        let dir = issuer::key_dir();
        let key = IssuerKey::ed25519(&dir, "k1");
        let jwks = dir.join("jwks.json");
        std::fs::write(&jwks, issuer::jwks(&[&key])).expect("JWKS file");
        let mut env = vec![
            ("AUTH_MODE", "jwt".to_owned()),
            ("AUTH_ISSUER", issuer::ISSUER.to_owned()),
            ("AUTH_AUDIENCE", issuer::AUDIENCE.to_owned()),
            ("AUTH_JWKS_FILE", jwks.display().to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let wiber = Self::spawn(mongo_uri(), &env).await;
        wiber.wait_ready().await;
        let consumer = wiber.consumer().await;
        (wiber, consumer, key)
    }

    /// Opens `GET /messages/stream?<query>` once the replica at `base` (the first one's when
    /// `None`) serves streams (503 until its feed has started).
    pub async fn live_stream(&self, base: Option<&str>, query: &str) -> SseStream {
        let response = eventually("a stream to open", STREAMS_WITHIN, || async {
            let r = self.open_stream(base, query, None, None).await;
            (r.status() == 200).then_some(r)
        })
        .await;
        SseStream::new(response)
    }

    /// Waits until the API reports ready.
    pub async fn wait_ready(&self) {
        let url = format!("{}/health/readiness", self.api_url);
        wait_ready(&self.http, &url, &self.api).await;
    }

    /// Starts a consumer and waits until it reports ready.
    pub async fn consumer(&self) -> ConsumerProcess {
        let consumer = self.spawn_consumer();
        let readiness = format!("{}/health/readiness", consumer.url);
        wait_ready(&self.http, &readiness, &consumer.process).await;
        consumer
    }

    /// Starts a consumer without waiting for it, e.g. one expected to refuse to start.
    pub fn spawn_consumer(&self) -> ConsumerProcess {
        let port = free_port();
        let mut env = self.env.clone();
        env.push(("CONSUMER_HOST".into(), "127.0.0.1".into()));
        env.push(("CONSUMER_PORT".into(), port.to_string()));
        let process = self.binaries.spawn("wiber-consumer", &env, "consumer");
        let url = format!("http://127.0.0.1:{port}");
        ConsumerProcess { process, url }
    }

    pub async fn post(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/messages", self.api_url))
            .json(body)
            .send()
            .await
            .expect("POST /messages")
    }

    /// A POST with an `Idempotency-Key`; the status and the JSON answer.
    pub async fn post_keyed(&self, key: &str, body: &Value) -> (reqwest::StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/messages", self.api_url))
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("POST /messages");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Sends a message and returns the API's answer; panics unless it is 200.
    pub async fn send(&self, from: &str, to: &str, content: &str) -> Value {
        let started = Instant::now();
        let response = self
            .post(&json!({"fromUser": from, "toUser": to, "content": content}))
            .await;
        let answered = Instant::now();
        let status = response.status();
        let body: Value = response.json().await.expect("JSON answer");
        assert_eq!(status, 200, "POST failed: {body}");
        self.history.record(&message_id(&body), started, answered);
        body
    }

    pub async fn get(
        &self,
        path: &str,
    ) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.api_url))
            .send()
            .await
            .expect("GET");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    pub async fn count(&self, query: &str) -> u64 {
        let (status, _, body) = self.get(&format!("/messages/count{query}")).await;
        if status != 200 {
            return u64::MAX;
        }
        body["count"].as_u64().expect("count")
    }

    pub async fn collection(&self) -> mongodb::Collection<Document> {
        self.pipeline().collection().await
    }

    /// Where this instance's messages go, for the verification.
    pub fn pipeline(&self) -> Pipeline {
        Pipeline {
            bootstrap: self.bootstrap.clone(),
            topic: self.topic.clone(),
            partitions: PARTITIONS,
            group: self.group.clone(),
            mongo_uri: self.mongo_uri.clone(),
            db: self.db.clone(),
            history: self.history.clone(),
        }
    }

    /// The `messageId` (stored as `_id`) of every stored document; empty while the store cannot
    /// be read.
    pub async fn stored_ids(&self) -> Vec<String> {
        let collection = self.collection().await;
        let find = collection.find(doc! {}).projection(doc! { "_id": 1 });
        match find.await {
            Ok(cursor) => cursor
                .try_collect::<Vec<Document>>()
                .await
                .unwrap_or_default()
                .iter()
                .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// What an API logs once it holds both its ports, and what it logs when another process took one.
const API_BOUND: &str = "wiber-api serving";
const PORT_TAKEN: &str = "cannot listen on";

/// Starts an API (`env` without its ports) on two free ports, and picks others when another
/// process took one between the pick and the bind: left unseen, that process's answers would be
/// taken for this one's. Returns once it bound them, or exited for another reason (a test that
/// expects a refusal to start), or a minute passed.
async fn spawn_api(
    binaries: &Binaries,
    env: &[(String, String)],
    label: &str,
) -> (Process, u16, u16) {
    for _ in 0..5 {
        let (port, admin) = (free_port(), free_port());
        let mut env = env.to_vec();
        env.push(("API_PORT".into(), port.to_string()));
        env.push(("API_ADMIN_PORT".into(), admin.to_string()));
        let mut api = binaries.spawn("wiber-api", &env, label);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // Whether it exited, then its log: an exit's last words are in the log read after it.
            let exited = !api.is_running();
            let log = api.log_text();
            if log.contains(PORT_TAKEN) {
                break;
            }
            if exited || log.contains(API_BOUND) || Instant::now() > deadline {
                return (api, port, admin);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("{label}: five pairs of free ports were each taken before the API could bind them");
}

async fn wait_ready(http: &reqwest::Client, url: &str, process: &Process) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(url).send().await {
            if r.status() == 200 {
                return;
            }
        }
        if Instant::now() > deadline {
            panic!(
                "{} not ready at {url} within 60 s; its log:\n{}",
                process.name,
                process.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `messageId` of an answer of the API (a message, or a problem naming the message).
pub fn message_id(answer: &Value) -> String {
    answer["messageId"]
        .as_str()
        .unwrap_or_else(|| panic!("no messageId in {answer}"))
        .to_owned()
}

/// Sends `count` messages (unique content, over 7 senders and 5 recipients) with `concurrency`
/// requests in flight, and returns every answer: status and JSON body.
pub async fn stream_answers(
    wiber: &Wiber,
    count: usize,
    concurrency: usize,
    prefix: &str,
) -> Vec<(u16, Value)> {
    use futures::StreamExt;
    futures::stream::iter(0..count)
        .map(|i| {
            let body = json!({
                "fromUser": format!("{prefix}-u{}", i % 7),
                "toUser": format!("{prefix}-v{}", i % 5),
                "content": format!("message {i}"),
            });
            async move {
                let started = Instant::now();
                let response = wiber.post(&body).await;
                let answered = Instant::now();
                let status = response.status().as_u16();
                let answer = response.json().await.unwrap_or(Value::Null);
                if let (200, Some(id)) = (status, answer["messageId"].as_str()) {
                    wiber.history.record(id, started, answered);
                }
                (status, answer)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// Like `stream_answers`, returning the ids the API acknowledged (200) and how many were not.
pub async fn stream(
    wiber: &Wiber,
    count: usize,
    concurrency: usize,
    prefix: &str,
) -> (HashSet<String>, usize) {
    let answers = stream_answers(wiber, count, concurrency, prefix).await;
    let acknowledged: HashSet<String> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .filter_map(|(_, body)| body["messageId"].as_str().map(str::to_owned))
        .collect();
    let failed = answers.len() - acknowledged.len();
    (acknowledged, failed)
}

impl Wiber {
    /// Waits until the store holds exactly the acknowledged `ids` and everything in Kafka is
    /// stored, then checks order. Panics at the deadline with what is missing.
    pub async fn assert_stored_exactly_once(&self, ids: &HashSet<String>, within: Duration) {
        self.pipeline()
            .assert_stored_exactly_once(ids, within)
            .await;
    }

    /// The suite's verification (see the module's documentation), within `within`.
    pub async fn verify(&self, told: &Told, within: Duration) -> Verified {
        self.pipeline().verify(told, within).await
    }
}
