//! Idle streams, held through the whole run by users who are sent nothing: what one connection
//! costs the API, and that holding them leaves its POST and push figures intact.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};

use crate::args::Args;
use crate::http::{Conn, Error, Target};
use crate::listen::{open_one, read};
use crate::probe::{SCRAPE_TIMEOUT, Scrape, scrape};
use crate::tokens::Tokens;

/// Idle streams opened at once: enough to open thousands in seconds without a burst of
/// connections the API's accept queue would have to hold.
const OPENING_CONCURRENCY: usize = 64;

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

pub async fn open(
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
