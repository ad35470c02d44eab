//! Wiber's real binaries as child processes against the local Kafka and MongoDB-protocol server,
//! each test with its own topic, consumer group and database so tests run side by side.

use std::collections::HashSet;
use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use serde_json::{Value, json};

use crate::{kafka_bootstrap, mongo_uri, required_env, unique_name};

pub const PARTITIONS: i32 = 3;

/// A free loopback port (the OS picks it; it is released for the child to bind).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Where `make test` put the binaries (`WIBER_BIN_DIR`), else this workspace's debug build.
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("WIBER_BIN_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug"),
        PathBuf::from,
    );
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    path
}

fn log_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-logs");
    std::fs::create_dir_all(&dir).expect("log dir");
    dir
}

/// A child process that is killed when the test ends, however it ends.
pub struct Process {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl Process {
    pub fn spawn(program: PathBuf, args: &[&str], env: &[(String, String)], name: &str) -> Self {
        let log = log_dir().join(format!("{}.log", unique_name(name)));
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(&program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Self {
            name: name.to_owned(),
            child,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process gets no chance to commit or flush anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (with a deadline) for a graceful exit; returns its exit status code.
    pub fn terminate(&mut self, within: Duration) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill command");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            if Instant::now() > deadline {
                self.kill();
                panic!(
                    "{} did not stop within {within:?} of SIGTERM; log: {}",
                    self.name,
                    self.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (with a deadline) for the process to exit on its own; returns its exit status code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "{} still runs after {within:?}; log: {}",
                self.name,
                self.log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGSTOP or SIGCONT: a frozen process keeps its sockets open and answers nothing.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill command");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it returns `Some`, failing the test with `what` at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A private FerretDB instance, for tests that take the store down and bring it back.
pub struct OwnStore {
    pub port: u16,
    data: PathBuf,
    process: Option<Process>,
}

impl OwnStore {
    pub async fn start() -> Self {
        let data = log_dir().join(unique_name("ferretdb-data"));
        let mut store = Self {
            port: free_port(),
            data,
            process: None,
        };
        store.restart().await;
        store
    }

    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.terminate(Duration::from_secs(20));
        }
    }

    /// Freezes it (SIGSTOP) until `thaw`: connections stay open, nothing is answered.
    pub fn freeze(&self) {
        self.process.as_ref().expect("running").signal("STOP");
    }

    pub fn thaw(&self) {
        self.process.as_ref().expect("running").signal("CONT");
    }

    /// Starts it (again) on the same port and data, and waits until it accepts connections.
    pub async fn restart(&mut self) {
        let bin = PathBuf::from(required_env("WIBER_FERRETDB_BIN"));
        let listen = format!("127.0.0.1:{}", self.port);
        let data = self.data.display().to_string();
        self.process = Some(Process::spawn(
            bin,
            &["-listen", &listen, "-data-dir", &data],
            &[],
            "ferretdb",
        ));
        let addr = listen.clone();
        eventually("own FerretDB to listen", Duration::from_secs(30), || {
            let addr = addr.clone();
            async move { std::net::TcpStream::connect(&addr).ok().map(|_| ()) }
        })
        .await;
    }
}

impl Drop for OwnStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// One Wiber instance: a fresh topic (3 partitions, log-append time) and dead-letter topic, a
/// fresh consumer group and database, the API, and any number of consumers.
pub struct Wiber {
    pub http: reqwest::Client,
    pub api_url: String,
    pub topic: String,
    pub group: String,
    pub db: String,
    pub mongo_uri: String,
    pub bootstrap: String,
    pub api: Process,
    env: Vec<(String, String)>,
}

pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1))
        .set("message.timestamp.type", "LogAppendTime");
    let results = admin
        .create_topics(
            [&new_topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("create_topics");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
}

/// A consumer process with its health port.
pub struct ConsumerProcess {
    pub process: Process,
    pub url: String,
}

impl ConsumerProcess {
    /// The value of a metric (summed over label sets), 0 when absent.
    pub async fn metric(&self, http: &reqwest::Client, name: &str) -> f64 {
        let Ok(response) = http.get(format!("{}/metrics", self.url)).send().await else {
            return 0.0;
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
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
        let topic = unique_name("wiber-e2e");
        create_topic(&bootstrap, &topic, PARTITIONS).await;
        create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
        let group = unique_name("wiber-e2e-group");
        let db = unique_name("e2e").replace('-', "_");
        let api_port = free_port();
        let env: Vec<(String, String)> = [
            ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.as_str()),
            ("KAFKA_TOPIC", &topic),
            ("KAFKA_CONSUMER_GROUP", &group),
            ("MONGO_URI", &mongo_uri),
            ("MONGO_DB", &db),
            ("MONGO_COLLECTION", "messages"),
            ("CONSUMER_STATS_INTERVAL_MS", "500"),
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
        api_env.push(("API_PORT".into(), api_port.to_string()));
        let api = Process::spawn(binary("wiber-api"), &[], &api_env, "api");
        Self {
            http: reqwest::Client::new(),
            api_url: format!("http://127.0.0.1:{api_port}"),
            topic,
            group,
            db,
            mongo_uri,
            bootstrap,
            api,
            env,
        }
    }

    /// Waits until the API reports ready.
    pub async fn wait_ready(&self) {
        let url = format!("{}/health/readiness", self.api_url);
        wait_ready(&self.http, &url, &self.api).await;
    }

    /// Starts a consumer and waits until it reports ready.
    pub async fn consumer(&self) -> ConsumerProcess {
        let port = free_port();
        let mut env = self.env.clone();
        env.push(("CONSUMER_HOST".into(), "127.0.0.1".into()));
        env.push(("CONSUMER_PORT".into(), port.to_string()));
        let process = Process::spawn(binary("wiber-consumer"), &[], &env, "consumer");
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&self.http, &format!("{url}/health/readiness"), &process).await;
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
        let response = self
            .post(&json!({"fromUser": from, "toUser": to, "content": content}))
            .await;
        let status = response.status();
        let body: Value = response.json().await.expect("JSON answer");
        assert_eq!(status, 200, "POST failed: {body}");
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
        mongodb::Client::with_uri_str(&self.mongo_uri)
            .await
            .expect("mongo client")
            .database(&self.db)
            .collection("messages")
    }

    /// Waits until the store holds exactly `ids` (every acknowledged message, each once) and
    /// nothing else. Panics at the deadline with what is missing or duplicated.
    pub async fn assert_stored_exactly_once(&self, ids: &HashSet<String>, within: Duration) {
        let collection = self.collection().await;
        let deadline = Instant::now() + within;
        loop {
            let stored: Vec<String> = match collection
                .find(doc! {})
                .projection(doc! { "messageId": 1 })
                .await
            {
                Ok(cursor) => cursor
                    .try_collect::<Vec<Document>>()
                    .await
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|d| d.get_str("messageId").ok().map(str::to_owned))
                    .collect(),
                Err(_) => Vec::new(),
            };
            let distinct: HashSet<String> = stored.iter().cloned().collect();
            assert_eq!(distinct.len(), stored.len(), "a message was stored twice");
            let unexpected: Vec<&String> = distinct.difference(ids).collect();
            assert!(
                unexpected.is_empty(),
                "stored messages nobody acknowledged: {unexpected:?}"
            );
            if distinct == *ids {
                return;
            }
            if Instant::now() > deadline {
                let missing = ids.difference(&distinct).count();
                panic!(
                    "{missing} of {} acknowledged messages not stored within {within:?}",
                    ids.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
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

/// Sends `count` messages over `conversations` with `concurrency` requests in flight and returns
/// the ids the API acknowledged (200). Non-200 answers are allowed (the test decides) and counted.
pub async fn stream(
    wiber: &Wiber,
    count: usize,
    concurrency: usize,
    prefix: &str,
) -> (HashSet<String>, usize) {
    use futures::StreamExt;
    let results: Vec<Option<String>> = futures::stream::iter(0..count)
        .map(|i| {
            let body = json!({
                "fromUser": format!("{prefix}-u{}", i % 7),
                "toUser": format!("{prefix}-v{}", i % 5),
                "content": format!("message {i}"),
            });
            async move {
                let response = wiber.post(&body).await;
                if response.status() == 200 {
                    let v: Value = response.json().await.ok()?;
                    v["messageId"].as_str().map(str::to_owned)
                } else {
                    None
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let failed = results.iter().filter(|r| r.is_none()).count();
    (results.into_iter().flatten().collect(), failed)
}
