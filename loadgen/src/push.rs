//! Push delivery: recipients hold event streams (GET /messages/stream) while probe messages are
//! POSTed to them (`group`: or to their group), during phase 1 and again on an idle system, each
//! timed from its POST until its events arrive; and the idle streams (`idle`) held beside them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::args::Args;
use crate::group;
use crate::http::{Conn, Error, short};
use crate::idle::{self, Opening};
use crate::listen::{message_id, open_one, read};
use crate::probe::stored_total;
use crate::tokens::Tokens;
use crate::workload::pair;

/// How often the consumer's stored count is read while waiting for the warm-up probe.
const STORED_POLL: Duration = Duration::from_millis(20);

/// Every stream the run holds, and the events its recipients have received.
pub struct Streams {
    pub receivers: usize,
    /// Whom probes go to, and the events each makes.
    pub target: group::Target,
    copies: usize,
    pub opening: Opening,
    /// Streams of either kind the server ended or that broke: none should, during a run.
    pub ended: Arc<AtomicUsize>,
    /// Messages on idle streams, whose users are sent nothing.
    pub unexpected: Arc<AtomicUsize>,
    arrivals: mpsc::UnboundedReceiver<(String, Instant)>,
    /// Arrivals not yet matched to a probe, by message id.
    seen: HashMap<String, Vec<Instant>>,
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
    /// For each probe to a group: from the POST's answer to its last member's event.
    pub last_after_ack: Vec<Duration>,
    /// Events that never arrived.
    pub missing: usize,
    pub failed: Vec<String>,
}

impl Streams {
    /// Opens the recipients' streams and then the idle ones, before phase 1 starts.
    pub async fn open(args: &Args, tokens: &Arc<Tokens>) -> Result<Self, Error> {
        let ended = Arc::new(AtomicUsize::new(0));
        let unexpected = Arc::new(AtomicUsize::new(0));
        let (tx, arrivals) = mpsc::unbounded_channel();
        let (target, recipients): (_, Vec<String>) = if args.push_group > 0 {
            let target = group::create(args, tokens).await?;
            (target, group::members(args).split_off(1))
        } else {
            let receivers = args.push_receivers;
            let recipients = (0..receivers)
                .map(|k| pair(&args.prefix, "p", k).1)
                .collect();
            (group::Target::Pairs { receivers }, recipients)
        };
        for to in &recipients {
            let stream = open_one(&args.api, tokens, to, args.request_timeout)
                .await
                .map_err(|e| format!("recipient {to}'s stream: {e}"))?;
            let reader = read(stream, Some(tx.clone()), ended.clone(), unexpected.clone());
            tokio::spawn(reader);
        }
        let opening = idle::open(args, tokens, &ended, &unexpected).await?;
        let mut streams = Self {
            receivers: recipients.len(),
            copies: target.copies(recipients.len() + 1),
            target,
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
        if streams.receivers > 0 {
            let mut consumer = Conn::new(args.consumer_metrics.clone());
            let before = stored_total(&mut consumer).await?;
            let mut conn = Conn::new(args.api.clone());
            let probe = post_probe(&mut conn, args, tokens, &streams.target, 999_999)
                .await
                .map_err(|e| format!("warm-up probe: {e}"))?;
            let deadline = probe.acked + args.visible_deadline;
            if streams.arrivals(&probe.id, deadline).await.len() < streams.copies {
                return Err("the warm-up probe never reached every recipient's stream".into());
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

    /// The arrivals of message `id`, once each recipient's has come or at `deadline`.
    async fn arrivals(&mut self, id: &str, deadline: Instant) -> Vec<Instant> {
        loop {
            if self.seen.get(id).is_some_and(|at| at.len() >= self.copies) {
                return self.seen.remove(id).unwrap_or_default();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.arrivals.recv()).await {
                Ok(Some((got, at))) => {
                    self.received += 1;
                    self.seen.entry(got).or_default().push(at);
                }
                Ok(None) | Err(_) => return self.seen.remove(id).unwrap_or_default(),
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
            let arrived = self.arrivals(&probe.id, deadline).await;
            out.record(&probe, &arrived, self.copies);
        }
        out
    }

    /// `args.push_probes` probes on an idle system, one at a time, each waited for.
    pub async fn idle_probes(&mut self, args: &Args, tokens: &Tokens) -> Latencies {
        let mut conn = Conn::new(args.api.clone());
        let mut out = Latencies::default();
        for j in 0..args.push_probes {
            match post_probe(&mut conn, args, tokens, &self.target, j).await {
                Ok(probe) => {
                    out.sent += 1;
                    let deadline = probe.acked + args.visible_deadline;
                    let arrived = self.arrivals(&probe.id, deadline).await;
                    out.record(&probe, &arrived, self.copies);
                }
                Err(e) => out.failed.push(e),
            }
        }
        out
    }
}

impl Latencies {
    /// A probe's arrivals, of the `copies` it should have made.
    fn record(&mut self, probe: &Probe, arrived: &[Instant], copies: usize) {
        for at in arrived {
            self.after_ack
                .push(at.saturating_duration_since(probe.acked));
            self.after_post
                .push(at.saturating_duration_since(probe.started));
        }
        self.missing += copies.saturating_sub(arrived.len());
        if copies > 1 && arrived.len() == copies {
            let last = arrived.iter().max().expect("copies > 1");
            self.last_after_ack
                .push(last.saturating_duration_since(probe.acked));
        }
    }
}

async fn post_probe(
    conn: &mut Conn,
    args: &Args,
    tokens: &Tokens,
    target: &group::Target,
    n: usize,
) -> Result<Probe, String> {
    let (from, body) = target.probe(args, n);
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
    target: group::Target,
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
            match post_probe(&mut conn, &args, &tokens, &target, n).await {
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
    fn a_group_probe_counts_each_members_event_and_times_its_last() {
        let at = Instant::now();
        let probe = Probe {
            id: "m".into(),
            started: at,
            acked: at + Duration::from_millis(5),
        };
        let ms = |n| at + Duration::from_millis(n);
        let mut out = Latencies::default();
        out.record(&probe, &[ms(9), ms(30), ms(12)], 3);
        assert_eq!(out.after_ack.len(), 3);
        assert_eq!(out.last_after_ack, [Duration::from_millis(25)]);
        out.record(&probe, &[ms(9)], 3);
        assert_eq!(out.missing, 2, "two members never got the second");
        assert_eq!(
            out.last_after_ack.len(),
            1,
            "an incomplete probe has no last"
        );
        out.record(&probe, &[ms(8)], 1);
        assert_eq!(
            out.last_after_ack.len(),
            1,
            "a pair's probe has no last member"
        );
    }
}
