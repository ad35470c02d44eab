//! Phase 3: single messages on an idle system, one at a time, each timed from its POST until the
//! consumer's counter moves (stored) and until GET /messages/count sees it (visible).

use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};

use crate::args::Args;
use crate::http::{Conn, Error, short};
use crate::probe::stored_total;
use crate::text::seconds;
use crate::tokens::Tokens;
use crate::workload::{message_body, pair};

#[derive(Default)]
pub struct E2eOutcome {
    pub post: Vec<Duration>,
    pub stored: Vec<Duration>,
    pub visible: Vec<Duration>,
    /// How long each GET /messages/count took: the read path's own cost.
    pub count_times: Vec<Duration>,
    pub failures: Vec<String>,
    pub not_stored: usize,
    pub not_visible: usize,
    pub poll_errors: usize,
}

async fn count(
    conn: &mut Conn,
    authorization: Option<&str>,
    (from, to): (&str, &str),
    timeout: Duration,
) -> Result<u64, Error> {
    let path = format!("/messages/count?user1={from}&user2={to}");
    let (status, body) = conn
        .request_as(authorization, Method::GET, &path, None, timeout)
        .await?;
    if status != StatusCode::OK {
        return Err(format!("HTTP {}: {}", status.as_u16(), short(&body)).into());
    }
    let value: serde_json::Value = serde_json::from_slice(&body)?;
    value["count"]
        .as_u64()
        .ok_or_else(|| format!("no count in {}", short(&body)).into())
}

pub async fn phase(args: &Args, tokens: &Tokens) -> E2eOutcome {
    let mut api = Conn::new(args.api.clone());
    let mut consumer = Conn::new(args.consumer_metrics.clone());
    let mut out = E2eOutcome::default();
    let started_phase = Instant::now();
    for j in 0..args.e2e_messages {
        // Each read can take seconds on a big collection; a sign of life keeps a long run readable.
        if j > 0 && j % 20 == 0 {
            eprintln!(
                "[e2e] {j} of {} messages done in {}",
                args.e2e_messages,
                seconds(started_phase.elapsed())
            );
        }
        // A conversation of its own, so "visible" is simply a count of one.
        let (from, to) = pair(&args.prefix, "e", j);
        let body = message_body(&from, &to, j, args.content_chars);
        let authorization = match tokens.authorization(&from) {
            Ok(value) => value,
            Err(e) => {
                out.failures.push(format!("token: {e}"));
                continue;
            }
        };
        let authorization = authorization.as_deref();
        // The system is idle, so the counter moves for this message only.
        let before = match stored_total(&mut consumer).await {
            Ok(v) => v,
            Err(e) => {
                out.failures.push(format!("consumer metrics: {e}"));
                continue;
            }
        };
        let started = Instant::now();
        let deadline = started + args.visible_deadline;
        match api
            .post_message(authorization, body, args.request_timeout)
            .await
        {
            Ok((StatusCode::OK, _)) => out.post.push(started.elapsed()),
            Ok((status, body)) => {
                out.failures
                    .push(format!("POST: HTTP {}: {}", status.as_u16(), short(&body)));
                continue;
            }
            Err(e) => {
                out.failures.push(format!("POST: no answer: {e}"));
                continue;
            }
        }

        let mut stored = false;
        while !stored && Instant::now() < deadline {
            match stored_total(&mut consumer).await {
                Ok(v) if v > before => {
                    out.stored.push(started.elapsed());
                    stored = true;
                }
                Ok(_) => tokio::time::sleep(args.poll_interval).await,
                Err(_) => out.poll_errors += 1,
            }
        }
        if !stored {
            out.not_stored += 1;
            continue;
        }

        // Counts are polled only from here: the counter moves right after the write, and each
        // count is a read of the store that, polled early, would load it for nothing.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let asked = Instant::now();
            let within = left.max(Duration::from_millis(1));
            match count(&mut api, authorization, (&from, &to), within).await {
                Ok(n) => {
                    out.count_times.push(asked.elapsed());
                    if n >= 1 {
                        out.visible.push(started.elapsed());
                        break;
                    }
                }
                Err(_) => out.poll_errors += 1,
            }
            if Instant::now() >= deadline {
                out.not_visible += 1;
                break;
            }
            tokio::time::sleep(args.poll_interval).await;
        }
    }
    out
}
