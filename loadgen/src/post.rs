//! Phase 1: POST /messages at fixed concurrency, each worker on one keep-alive connection, until
//! every message is sent or the phase's deadline passes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::StatusCode;

use crate::args::Args;
use crate::http::{Conn, Target, short};
use crate::text::FAILURE_SAMPLES;
use crate::tokens::Tokens;
use crate::workload::{message_body, pair};

#[derive(Default)]
pub struct PostOutcome {
    pub latencies: Vec<Duration>,
    pub failures: BTreeMap<String, usize>,
    pub samples: Vec<String>,
    pub attempted: usize,
    pub connects: u64,
    pub last_answer: Option<Instant>,
}

impl PostOutcome {
    fn fail(&mut self, kind: String, detail: String) {
        if self.samples.len() < FAILURE_SAMPLES {
            self.samples.push(format!("{kind}: {detail}"));
        }
        *self.failures.entry(kind).or_default() += 1;
    }

    pub fn failed(&self) -> usize {
        self.failures.values().sum()
    }

    fn merge(&mut self, other: Self) {
        self.latencies.extend(other.latencies);
        for (kind, n) in other.failures {
            *self.failures.entry(kind).or_default() += n;
        }
        let room = FAILURE_SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.into_iter().take(room));
        self.attempted += other.attempted;
        self.connects += other.connects;
        self.last_answer = self.last_answer.max(other.last_answer);
    }
}

struct PostPlan {
    api: Target,
    prefix: String,
    messages: usize,
    conversations: usize,
    content_chars: usize,
    timeout: Duration,
    deadline: Instant,
    started: Instant,
    /// POSTs a second, when paced: message i is sent no earlier than i / rate after the start.
    rate: Option<u64>,
    /// The next message to send: workers take numbers from it, so each is sent exactly once.
    next: AtomicUsize,
    tokens: Arc<Tokens>,
}

async fn worker(plan: Arc<PostPlan>) -> PostOutcome {
    let mut conn = Conn::new(plan.api.clone());
    let mut out = PostOutcome::default();
    loop {
        let i = plan.next.fetch_add(1, Ordering::Relaxed);
        if i >= plan.messages || Instant::now() >= plan.deadline {
            break;
        }
        let c = i % plan.conversations;
        let (a, b) = pair(&plan.prefix, "c", c);
        // Each conversation alternates direction round by round, as a chat would.
        let (from, to) = if (i / plan.conversations) % 2 == 0 {
            (a, b)
        } else {
            (b, a)
        };
        let body = message_body(&from, &to, i, plan.content_chars);
        if let Some(rate) = plan.rate {
            let due = plan.started + Duration::from_secs_f64(i as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        out.attempted += 1;
        let authorization = match plan.tokens.authorization(&from) {
            Ok(value) => value,
            Err(e) => {
                out.fail("no token".to_owned(), e.to_string());
                continue;
            }
        };
        let started = Instant::now();
        let answer = conn
            .post_message(authorization.as_deref(), body, plan.timeout)
            .await;
        let now = Instant::now();
        out.last_answer = Some(now);
        match answer {
            Ok((StatusCode::OK, _)) => out.latencies.push(now - started),
            Ok((status, body)) => out.fail(format!("HTTP {}", status.as_u16()), short(&body)),
            Err(e) => out.fail("no answer".to_owned(), e.to_string()),
        }
    }
    out.connects = conn.connects;
    out
}

/// Every worker's outcome merged, and how long the phase took.
pub async fn phase(args: &Args, tokens: Arc<Tokens>) -> (PostOutcome, Duration) {
    // Signed before the clock starts: the phase measures the API, not the generator's signing.
    for c in 0..args.conversations {
        let (a, b) = pair(&args.prefix, "c", c);
        for user in [a, b] {
            if let Err(e) = tokens.authorization(&user) {
                let mut out = PostOutcome::default();
                out.fail("no token".to_owned(), e.to_string());
                return (out, Duration::ZERO);
            }
        }
    }
    let started = Instant::now();
    let plan = Arc::new(PostPlan {
        api: args.api.clone(),
        prefix: args.prefix.clone(),
        messages: args.messages,
        conversations: args.conversations,
        content_chars: args.content_chars,
        timeout: args.request_timeout,
        deadline: started + args.post_deadline,
        started,
        rate: args.rate,
        next: AtomicUsize::new(0),
        tokens,
    });
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| tokio::spawn(worker(plan.clone())))
        .collect();
    let mut total = PostOutcome::default();
    for w in workers {
        match w.await {
            Ok(out) => total.merge(out),
            Err(e) => total.fail("worker panicked".to_owned(), e.to_string()),
        }
    }
    (total, started.elapsed())
}
