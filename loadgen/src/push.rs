//! Push delivery: recipients hold event streams (GET /messages/stream) while probe messages are
//! POSTed to them, during phase 1 and again on an idle system, each timed from its POST until its
//! event arrives; and idle streams, held through the whole run, which show what one connection
//! costs the API and that holding them leaves its POST figures intact.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::args::Args;
use crate::http::{Conn, Error, Target, short};
use crate::probe::{SCRAPE_TIMEOUT, Scrape, scrape, stored_total};
use crate::sse::{self, EventStream};
use crate::tokens::Tokens;
use crate::workload::{message_body, pair};

/// Idle streams opened at once: enough to open thousands in seconds without a burst of
/// connections the API's accept queue would have to hold.
const OPENING_CONCURRENCY: usize = 64;

const RETRY_AFTER_503: Duration = Duration::from_millis(100);
/// How often the consumer's stored count is read while waiting for the warm-up probe.
const STORED_POLL: Duration = Duration::from_millis(20);

/// The API's memory and open streams, or nothing known when its /metrics cannot be read: the
/// report shows what it could not see rather than failing the run.
pub async fn api_figures(metrics: &Target) -> Scrape {
    scrape(&mut Conn::new(metrics.clone()), SCRAPE_TIMEOUT)
        .await
        .unwrap_or_default()
}

/// The idle streams' opening: how many, how long, and the API before and after.
#[derive(Debug, Default)]
pub struct Opening {
    pub wanted: usize,
    pub opened: usize,
    pub took: Duration,
    pub before: Scrape,
    pub after: Scrape,
    pub failures: Vec<String>,
}

impl Opening {
    /// What the API's RSS grew by over the opening, per stream opened; `None` when its /metrics
    /// could not be read before or after.
    pub fn bytes_per_stream(&self) -> Option<f64> {
        let (before, after) = (self.before.rss_bytes?, self.after.rss_bytes?);
        Some((after - before) / self.opened.max(1) as f64)
    }
}

/// Every stream the run holds, and the events its recipients have received.
pub struct Streams {
    pub receivers: usize,
    pub opening: Opening,
    /// Streams of either kind the server ended or that broke: none should, during a run.
    pub ended: Arc<AtomicUsize>,
    /// Messages on idle streams, whose users are sent nothing.
    pub unexpected: Arc<AtomicUsize>,
    arrivals: mpsc::UnboundedReceiver<(String, Instant)>,
    /// Arrivals not yet matched to a probe, by message id.
    seen: HashMap<String, Instant>,
    pub received: usize,
}

/// One probe message: its id, when its POST started and when it was answered.
pub struct Probe {
    id: String,
    started: Instant,
    acked: Instant,
}

#[derive(Default)]
pub struct Probes {
    sent: Vec<Probe>,
    pub failed: Vec<String>,
}

impl Probes {
    /// Probes acknowledged, each a message the consumer stores.
    pub fn len(&self) -> usize {
        self.sent.len()
    }
}

/// Probes matched to their arrival.
#[derive(Default)]
pub struct Latencies {
    pub sent: usize,
    /// From the POST's answer to the event's arrival: what a recipient waits for a message its
    /// sender has seen acknowledged.
    pub after_ack: Vec<Duration>,
    /// From the POST's start: the whole way, sender to recipient.
    pub after_post: Vec<Duration>,
    pub missing: usize,
    pub failed: Vec<String>,
}

fn stream_request(tokens: &Tokens, user: &str) -> Result<(String, Option<Arc<str>>), Error> {
    let authorization = tokens.authorization(user)?;
    let path = match authorization {
        Some(_) => "/messages/stream".to_owned(),
        // An open API (AUTH_MODE=none) is told whose stream it is.
        None => format!("/messages/stream?user={user}"),
    };
    Ok((path, authorization))
}

/// A stream of `user`'s messages, returned once the API has sent `ready`, so it is subscribed.
async fn open_one(
    api: &Target,
    tokens: &Tokens,
    user: &str,
    timeout: Duration,
) -> Result<EventStream, Error> {
    let (path, authorization) = stream_request(tokens, user)?;
    let deadline = Instant::now() + timeout;
    // A just-started API answers 503 until its feed has found where the topic stands.
    let mut stream = loop {
        match sse::open(api, &path, authorization.as_deref(), timeout).await {
            Ok(stream) => break stream,
            Err(e) => match e.downcast_ref::<sse::Refused>() {
                Some(r)
                    if r.status == StatusCode::SERVICE_UNAVAILABLE && Instant::now() < deadline =>
                {
                    tokio::time::sleep(RETRY_AFTER_503).await;
                }
                _ => return Err(e),
            },
        }
    };
    match tokio::time::timeout(timeout, stream.next()).await {
        Ok(Ok(Some(event))) if event.kind == "ready" => Ok(stream),
        Ok(Ok(Some(event))) => Err(format!("first event was '{}', not ready", event.kind).into()),
        Ok(Ok(None)) => Err("the stream ended before ready".into()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no ready within {} ms", timeout.as_millis()).into()),
    }
}

fn message_id(json: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    value.get("messageId")?.as_str().map(str::to_owned)
}

/// Reads a stream until it ends: messages are handed to `arrivals` (timed on arrival) or, for an
/// idle stream (`arrivals` = None), counted as unexpected.
async fn read(
    mut stream: EventStream,
    arrivals: Option<mpsc::UnboundedSender<(String, Instant)>>,
    ended: Arc<AtomicUsize>,
    unexpected: Arc<AtomicUsize>,
) {
    while let Ok(Some(event)) = stream.next().await {
        let at = Instant::now();
        match (event.kind.as_str(), &arrivals) {
            ("message", Some(tx)) => {
                if let Some(id) = message_id(event.data.as_bytes()) {
                    let _ = tx.send((id, at));
                }
            }
            ("message", None) => {
                unexpected.fetch_add(1, Ordering::Relaxed);
            }
            ("end", _) => break,
            _ => {}
        }
    }
    ended.fetch_add(1, Ordering::Relaxed);
}

impl Streams {
    /// Opens the recipients' streams and then the idle ones, before phase 1 starts.
    pub async fn open(args: &Args, tokens: &Arc<Tokens>) -> Result<Self, Error> {
        let ended = Arc::new(AtomicUsize::new(0));
        let unexpected = Arc::new(AtomicUsize::new(0));
        let (tx, arrivals) = mpsc::unbounded_channel();
        for k in 0..args.push_receivers {
            let (_, to) = pair(&args.prefix, "p", k);
            let stream = open_one(&args.api, tokens, &to, args.request_timeout)
                .await
                .map_err(|e| format!("recipient {to}'s stream: {e}"))?;
            let reader = read(stream, Some(tx.clone()), ended.clone(), unexpected.clone());
            tokio::spawn(reader);
        }
        let opening = open_idle(args, tokens, &ended, &unexpected).await?;
        let mut streams = Self {
            receivers: args.push_receivers,
            opening,
            ended,
            unexpected,
            arrivals,
            seen: HashMap::new(),
            received: 0,
        };
        // One message through the whole path first, pushed and stored, so the run starts with
        // the feed reading and the consumer storing, and the store's count before phase 1
        // includes it.
        if args.push_receivers > 0 {
            let mut consumer = Conn::new(args.consumer_metrics.clone());
            let before = stored_total(&mut consumer).await?;
            let mut conn = Conn::new(args.api.clone());
            let probe = post_probe(&mut conn, args, tokens, 999_999)
                .await
                .map_err(|e| format!("warm-up probe: {e}"))?;
            let deadline = probe.acked + args.visible_deadline;
            if streams.arrival(&probe.id, deadline).await.is_none() {
                return Err("the warm-up probe never reached its recipient's stream".into());
            }
            while stored_total(&mut consumer).await? <= before {
                if Instant::now() >= deadline {
                    return Err("the consumer did not store the warm-up probe".into());
                }
                tokio::time::sleep(STORED_POLL).await;
            }
            streams.received = 0;
        }
        Ok(streams)
    }

    async fn arrival(&mut self, id: &str, deadline: Instant) -> Option<Instant> {
        loop {
            if let Some(at) = self.seen.remove(id) {
                return Some(at);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.arrivals.recv()).await {
                Ok(Some((got, at))) => {
                    self.received += 1;
                    self.seen.insert(got, at);
                }
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Waits for each probe's event, until `deadline` at the latest.
    pub async fn gather(&mut self, probes: Probes, deadline: Instant) -> Latencies {
        let mut out = Latencies {
            sent: probes.sent.len(),
            failed: probes.failed,
            ..Latencies::default()
        };
        for probe in probes.sent {
            match self.arrival(&probe.id, deadline).await {
                Some(at) => out.record(&probe, at),
                None => out.missing += 1,
            }
        }
        out
    }

    /// `args.push_probes` probes on an idle system, one at a time, each waited for.
    pub async fn idle_probes(&mut self, args: &Args, tokens: &Tokens) -> Latencies {
        let mut conn = Conn::new(args.api.clone());
        let mut out = Latencies::default();
        for j in 0..args.push_probes {
            match post_probe(&mut conn, args, tokens, j).await {
                Ok(probe) => {
                    out.sent += 1;
                    match self
                        .arrival(&probe.id, probe.acked + args.visible_deadline)
                        .await
                    {
                        Some(at) => out.record(&probe, at),
                        None => out.missing += 1,
                    }
                }
                Err(e) => out.failed.push(e),
            }
        }
        out
    }
}

impl Latencies {
    fn record(&mut self, probe: &Probe, at: Instant) {
        self.after_ack
            .push(at.saturating_duration_since(probe.acked));
        self.after_post
            .push(at.saturating_duration_since(probe.started));
    }
}

async fn open_idle(
    args: &Args,
    tokens: &Arc<Tokens>,
    ended: &Arc<AtomicUsize>,
    unexpected: &Arc<AtomicUsize>,
) -> Result<Opening, Error> {
    let mut opening = Opening {
        wanted: args.idle_streams,
        before: api_figures(&args.api_metrics).await,
        ..Opening::default()
    };
    if args.idle_streams == 0 {
        return Ok(opening);
    }
    // Signed first, so the opening's time is the API's.
    let users: Vec<String> = (0..args.idle_streams)
        .map(|n| format!("{}-i{n}", args.prefix))
        .collect();
    for user in &users {
        tokens.authorization(user)?;
    }
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(OPENING_CONCURRENCY));
    let (done, mut results) = mpsc::unbounded_channel::<Result<(), String>>();
    for user in users {
        let (permits, done) = (permits.clone(), done.clone());
        let (ended, unexpected) = (ended.clone(), unexpected.clone());
        let (api, timeout) = (args.api.clone(), args.request_timeout);
        let tokens = tokens.clone();
        tokio::spawn(async move {
            let Ok(permit) = permits.acquire_owned().await else {
                let _ = done.send(Err(format!("{user}: not opened")));
                return;
            };
            let opened = open_one(&api, &tokens, &user, timeout).await;
            drop(permit);
            match opened {
                Ok(stream) => {
                    let _ = done.send(Ok(()));
                    drop(done);
                    read(stream, None, ended, unexpected).await;
                }
                Err(e) => {
                    let _ = done.send(Err(format!("{user}: {e}")));
                }
            }
        });
    }
    drop(done);
    // Counted, not read to the channel's end: an open stream's task lives on, holding its sender.
    for _ in 0..args.idle_streams {
        match results.recv().await {
            Some(Ok(())) => opening.opened += 1,
            Some(Err(e)) => opening.failures.push(e),
            None => break,
        }
    }
    opening.took = started.elapsed();
    opening.after = api_figures(&args.api_metrics).await;
    Ok(opening)
}

async fn post_probe(
    conn: &mut Conn,
    args: &Args,
    tokens: &Tokens,
    n: usize,
) -> Result<Probe, String> {
    let (from, to) = pair(&args.prefix, "p", n % args.push_receivers.max(1));
    let body = message_body(&from, &to, n, args.content_chars);
    let authorization = tokens
        .authorization(&from)
        .map_err(|e| format!("token: {e}"))?;
    let started = Instant::now();
    let answer = conn
        .post_message(authorization.as_deref(), body, args.request_timeout)
        .await;
    let acked = Instant::now();
    match answer {
        Ok((StatusCode::OK, body)) => message_id(&body)
            .map(|id| Probe { id, started, acked })
            .ok_or_else(|| format!("no messageId in {}", short(&body))),
        Ok((status, body)) => Err(format!("HTTP {}: {}", status.as_u16(), short(&body))),
        Err(e) => Err(format!("no answer: {e}")),
    }
}

/// Probes every `args.push_interval` until `stop` is set: phase 1's load with a few messages whose
/// recipients are listening.
pub fn probe_during_load(
    args: &Args,
    tokens: Arc<Tokens>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Probes> {
    let args = args.clone();
    tokio::spawn(async move {
        let mut conn = Conn::new(args.api.clone());
        let mut ticker = tokio::time::interval(args.push_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut out = Probes::default();
        // Numbered apart from the idle probes, so the two phases' contents differ.
        for n in 1_000_000.. {
            ticker.tick().await;
            if stop.load(Ordering::Relaxed) {
                break;
            }
            match post_probe(&mut conn, &args, &tokens, n).await {
                Ok(probe) => out.sent.push(probe),
                Err(e) => out.failed.push(e),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_id_is_read_from_a_post_answer_or_an_event() {
        let answer =
            br#"{"messageId":"4b1c","fromUser":"a","toUser":"b","content":"x","timestamp":1}"#;
        assert_eq!(message_id(answer).as_deref(), Some("4b1c"));
        assert_eq!(message_id(b"{}"), None);
        assert_eq!(message_id(b"not json"), None);
    }
}
