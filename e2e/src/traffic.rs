//! A client's steady traffic through a disruption, as the API's contract asks a client to behave:
//! two senders POST to one recipient at a fixed pace through the API Service, each message under
//! an `Idempotency-Key` and retried with it until answered 200 (after `Retry-After` on a 503, at
//! once when no answer came); the recipient holds a push stream and reconnects with its last event
//! id whenever the stream ends or breaks. What every first attempt was answered, what every
//! message ended as, and what the stream carried are kept for the checks.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinHandle;
use wiber_common::message::idempotent_message_id;

use crate::sse::SseStream;
use crate::verify::{History, Pipeline, Told, Verified};

pub const SENDERS: [&str; 2] = ["alice", "carol"];
pub const RECIPIENT: &str = "bob";
/// A message not answered 200 within this many attempts counts as of unknown outcome.
const ATTEMPTS: usize = 40;
/// How long a stream may stay silent (heartbeats included) before the client calls it broken.
const SILENCE: Duration = Duration::from_secs(40);

/// How one attempt was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200: stored (eventually) exactly once.
    Ok,
    /// A documented refusal: 503 with `Retry-After` (Kafka or the store unavailable, or the
    /// outcome unknown), or 429 with `Retry-After`.
    Retry(u16),
    /// A status the API does not document for this request (or a 503 or 429 without Retry-After).
    Undocumented(u16, String),
    /// The connection failed or broke before an answer.
    NoAnswer(String),
}

#[derive(Debug, Default)]
pub struct Sent {
    /// The first attempt of every message, in sending order.
    pub first_answers: Vec<Answer>,
    /// Every attempt, retries included, in order.
    pub attempts: Vec<Answer>,
    /// Messages answered 200, by id.
    pub acknowledged: HashSet<String>,
    /// Messages never answered 200 (given up): stored at most once.
    pub unknown: HashSet<String>,
}

impl Sent {
    pub fn told(&self) -> Told {
        Told {
            acknowledged: self.acknowledged.clone(),
            unknown: self.unknown.clone(),
        }
    }

    /// Attempts answered in a way `kind` picks.
    pub fn count(&self, kind: impl Fn(&Answer) -> bool) -> usize {
        self.attempts.iter().filter(|a| kind(a)).count()
    }

    /// Every attempt that was not a 200, for a failure's message.
    pub fn refusals(&self) -> Vec<&Answer> {
        self.attempts.iter().filter(|a| **a != Answer::Ok).collect()
    }
}

/// What the recipient's stream carried.
#[derive(Debug, Default, Clone)]
pub struct Received {
    /// `messageId`s of the message events, in arrival order across reconnects.
    pub ids: Vec<String>,
    /// `end` reasons the server gave.
    pub ends: Vec<String>,
    /// Streams that broke without an `end`, and streams refused on (re)connecting.
    pub breaks: Vec<String>,
    pub connections: usize,
}

pub struct Traffic {
    stop: Arc<AtomicBool>,
    sender: JoinHandle<Sent>,
    stream: JoinHandle<()>,
    stream_stop: Arc<AtomicBool>,
    pub received: Arc<Mutex<Received>>,
}

impl Traffic {
    /// Opens the recipient's stream, waits for its `ready`, then starts sending every `pace`.
    pub async fn start(
        api_url: &str,
        tokens: HashMap<String, String>,
        pace: Duration,
        history: History,
    ) -> Self {
        let received = Arc::new(Mutex::new(Received::default()));
        let stream_stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let stream = tokio::spawn(hold_stream(
            api_url.to_owned(),
            tokens[RECIPIENT].clone(),
            received.clone(),
            stream_stop.clone(),
            ready_tx,
        ));
        tokio::time::timeout(Duration::from_secs(60), ready_rx)
            .await
            .expect("the recipient's stream ready within 60 s")
            .expect("the stream task");
        let stop = Arc::new(AtomicBool::new(false));
        let sender = tokio::spawn(send(
            api_url.to_owned(),
            tokens,
            pace,
            stop.clone(),
            history,
        ));
        Self {
            stop,
            sender,
            stream,
            stream_stop,
            received,
        }
    }

    /// Messages answered 200 so far are in `sent` once `finish` returns; meanwhile, how many the
    /// stream carried.
    pub fn received_count(&self) -> usize {
        self.received.lock().expect("received").ids.len()
    }

    /// Stops sending, waits until the stream carried every acknowledged message (or `within`
    /// passed), then closes it.
    pub async fn finish(self, within: Duration) -> (Sent, Received) {
        self.stop.store(true, Ordering::SeqCst);
        let sent = self.sender.await.expect("the sending task");
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let carried: HashSet<String> = self
                .received
                .lock()
                .expect("received")
                .ids
                .iter()
                .cloned()
                .collect();
            if sent.acknowledged.iter().all(|id| carried.contains(id)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.stream_stop.store(true, Ordering::SeqCst);
        self.stream.abort();
        let received = self.received.lock().expect("received").clone();
        (sent, received)
    }
}

/// A fresh connection for every request, as many clients behind NAT or a load balancer have: each
/// is routed by kube-proxy to a ready API pod at the time it opens.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

async fn send(
    api_url: String,
    tokens: HashMap<String, String>,
    pace: Duration,
    stop: Arc<AtomicBool>,
    history: History,
) -> Sent {
    let http = http();
    let mut sent = Sent::default();
    let mut n = 0usize;
    let mut next = tokio::time::Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let from = SENDERS[n % SENDERS.len()];
        let content = format!("message {n} from {from}");
        let key = format!("k{n}");
        let id = idempotent_message_id(from, &key, RECIPIENT, &content).to_string();
        let body = json!({"toUser": RECIPIENT, "content": content});
        let started = Instant::now();
        let mut answered = false;
        for attempt in 0..ATTEMPTS {
            let (answer, wait) = post(&http, &api_url, &tokens[from], &key, &body).await;
            if attempt == 0 {
                sent.first_answers.push(answer.clone());
            }
            sent.attempts.push(answer.clone());
            if answer == Answer::Ok {
                history.record(&id, started, Instant::now());
                sent.acknowledged.insert(id.clone());
                answered = true;
                break;
            }
            tokio::time::sleep(wait).await;
        }
        if !answered {
            sent.unknown.insert(id);
        }
        n += 1;
        next += pace;
        tokio::time::sleep_until(next).await;
    }
    sent
}

/// One attempt: how it was answered, and how long to wait before the next.
async fn post(
    http: &reqwest::Client,
    api_url: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> (Answer, Duration) {
    let response = http
        .post(format!("{api_url}/messages"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => return (Answer::NoAnswer(e.to_string()), Duration::from_millis(200)),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let text = response.text().await.unwrap_or_default();
    match (status, retry_after) {
        (200, _) => (Answer::Ok, Duration::ZERO),
        (429 | 503, Some(seconds)) => (Answer::Retry(status), Duration::from_secs(seconds.min(5))),
        _ => (
            Answer::Undocumented(status, text),
            Duration::from_millis(200),
        ),
    }
}

/// The recipient's stream, reconnected with its last event id until stopped.
async fn hold_stream(
    api_url: String,
    token: String,
    received: Arc<Mutex<Received>>,
    stop: Arc<AtomicBool>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let http = reqwest::Client::new();
    let mut ready = Some(ready);
    let mut last_id: Option<String> = None;
    while !stop.load(Ordering::SeqCst) {
        let mut request = http
            .get(format!("{api_url}/messages/stream"))
            .bearer_auth(&token);
        if let Some(id) = &last_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = match request.send().await {
            Ok(r) if r.status() == 200 => r,
            Ok(r) => {
                note_break(&received, format!("refused: {}", r.status()));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => {
                note_break(&received, format!("connect: {e}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        received.lock().expect("received").connections += 1;
        let mut stream = SseStream::new(response);
        loop {
            match stream.try_next(SILENCE).await {
                Ok(Some(event)) => {
                    if let Some(id) = &event.id {
                        last_id = Some(id.clone());
                    }
                    match event.event.as_str() {
                        "ready" => {
                            if let Some(tx) = ready.take() {
                                let _ = tx.send(());
                            }
                        }
                        "message" => {
                            let id = event.json()["messageId"]
                                .as_str()
                                .expect("a message event's messageId")
                                .to_owned();
                            received.lock().expect("received").ids.push(id);
                        }
                        "end" => {
                            let reason = event.json()["reason"].as_str().unwrap_or("").to_owned();
                            received.lock().expect("received").ends.push(reason);
                        }
                        _ => {}
                    }
                }
                Ok(None) => break,
                Err(broken) => {
                    note_break(&received, broken);
                    break;
                }
            }
        }
    }
}

fn note_break(received: &Mutex<Received>, why: String) {
    received.lock().expect("received").breaks.push(why);
}

impl Received {
    /// The stream resumed without a gap or a duplicate: it carried every acknowledged message,
    /// each as many times as Kafka holds it (once, unless a retry after an unknown outcome wrote it
    /// twice: `copies`, from the verification), nothing its senders were told was not sent, and
    /// each conversation in the order it is stored (Kafka's). `stored` is the recipient's stored
    /// messages as (id, conversation) in conversation order.
    pub fn assert_complete_and_in_order(
        &self,
        sent: &Sent,
        stored: &[(String, String)],
        copies: &HashMap<String, usize>,
    ) {
        let mut carried: HashMap<&String, usize> = HashMap::new();
        for id in &self.ids {
            *carried.entry(id).or_default() += 1;
        }
        let twice: Vec<&&String> = carried
            .iter()
            .filter(|(id, n)| **n > copies.get(**id).copied().unwrap_or(1))
            .map(|(id, _)| id)
            .collect();
        assert!(
            twice.is_empty(),
            "the stream carried messages more often than Kafka holds them: {twice:?}"
        );
        let seen: HashSet<&String> = carried.keys().copied().collect();
        let missing: Vec<&String> = sent
            .acknowledged
            .iter()
            .filter(|id| !seen.contains(*id))
            .collect();
        assert!(
            missing.is_empty(),
            "the stream missed {} acknowledged messages ({} connections, ends {:?}, breaks {:?}): {missing:?}",
            missing.len(),
            self.connections,
            self.ends,
            self.breaks
        );
        let stray: Vec<&String> = self
            .ids
            .iter()
            .filter(|id| !sent.acknowledged.contains(*id) && !sent.unknown.contains(*id))
            .collect();
        assert!(
            stray.is_empty(),
            "the stream carried messages nobody sent: {stray:?}"
        );
        let conversation: HashMap<&str, &str> = stored
            .iter()
            .map(|(id, c)| (id.as_str(), c.as_str()))
            .collect();
        let mut by_conversation: HashMap<&str, Vec<&str>> = HashMap::new();
        for (id, c) in stored {
            if seen.contains(id) {
                by_conversation.entry(c).or_default().push(id);
            }
        }
        for (c, stored_order) in by_conversation {
            // A second copy comes after the first in Kafka; the first is the stored one.
            let mut first = HashSet::new();
            let carried: Vec<&str> = self
                .ids
                .iter()
                .map(String::as_str)
                .filter(|id| conversation.get(id) == Some(&c) && first.insert(*id))
                .collect();
            assert_eq!(
                carried, stored_order,
                "{c}: the stream's order is not the stored order"
            );
        }
    }
}

/// The recipient's stored messages as (id, conversation), each conversation in the order the API
/// reads it (timestamp, then partition and offset: Kafka's).
async fn stored_order(pipeline: &Pipeline) -> Vec<(String, String)> {
    use futures::TryStreamExt;
    use mongodb::bson::{Document, doc};
    let docs: Vec<Document> = pipeline
        .collection()
        .await
        .find(doc! {"toUser": RECIPIENT})
        .sort(doc! {"conversationId": 1, "timestamp": 1, "partition": 1, "offset": 1})
        .await
        .expect("find the recipient's messages")
        .try_collect()
        .await
        .expect("read the recipient's messages");
    docs.iter()
        .map(|d| {
            (
                d.get_str("_id").expect("_id").to_owned(),
                d.get_str("conversationId")
                    .expect("conversationId")
                    .to_owned(),
            )
        })
        .collect()
}

/// What a disruption under this traffic must leave (`what` names it in the report): no answer
/// the API does not document (and no broken connection, unless `connections_may_break`: a killed
/// pod breaks those it held, and the client retries them), every message acknowledged in the end
/// and stored exactly once in Kafka's order (the suite's verification), and the stream complete
/// and in order. The verification, for its Kafka copies.
pub async fn assert_nothing_lost(
    what: &str,
    pipeline: &Pipeline,
    (sent, received): (&Sent, &Received),
    connections_may_break: bool,
) -> Verified {
    eprintln!(
        "{what}: {} messages, answers other than 200: {:?}; stream: {} connections, ends {:?}, \
         breaks {:?}",
        sent.first_answers.len(),
        sent.refusals(),
        received.connections,
        received.ends,
        received.breaks
    );
    let wrong = |a: &Answer| match a {
        Answer::Undocumented(..) => true,
        Answer::NoAnswer(_) => !connections_may_break,
        Answer::Ok | Answer::Retry(_) => false,
    };
    assert_eq!(
        sent.count(wrong),
        0,
        "{what}: answers not allowed: {:?}",
        sent.refusals()
    );
    assert!(
        sent.unknown.is_empty(),
        "{what}: never acknowledged: {:?}",
        sent.unknown
    );
    let verified = pipeline.verify(&sent.told(), crate::kube::WITHIN).await;
    assert_eq!(verified.stored, sent.acknowledged.len());
    eprintln!(
        "{what}: in Kafka more than once (keyed retries; stored once): {:?}",
        verified.copies
    );
    let stored = stored_order(pipeline).await;
    received.assert_complete_and_in_order(sent, &stored, &verified.copies);
    verified
}
