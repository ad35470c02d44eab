//! Watching the processes under test: a background sampler of /metrics (the consumer's stored
//! counter over time, peak RSS), and snapshots of CPU and memory at the phases' boundaries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::http::{Conn, Error, Target};
use crate::probe::{ProcStat, SCRAPE_TIMEOUT, Scrape, machine_busy_seconds, proc_stat, scrape};
use crate::threads::{self, Threads};

#[derive(Default)]
pub struct Samples {
    /// (when the scrape answered, wiber_consumer_messages_stored_total)
    pub stored: Vec<(Instant, f64)>,
    pub api_rss_peak: f64,
    pub consumer_rss_peak: f64,
    pub errors: u64,
    pub last_error: Option<String>,
}

pub struct Sampler {
    samples: Arc<Mutex<Samples>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    /// `lifetime` bounds the sampling even if `finish` is never reached.
    pub fn start(api: Target, consumer: Target, interval: Duration, lifetime: Duration) -> Self {
        let samples = Arc::new(Mutex::new(Samples::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(sample(
            Conn::new(api),
            Conn::new(consumer),
            interval,
            lifetime,
            samples.clone(),
            stop.clone(),
        ));
        Self {
            samples,
            stop,
            task,
        }
    }

    /// The stored counter as sampled so far.
    pub fn stored(&self) -> Vec<(Instant, f64)> {
        self.samples.lock().expect("sampler lock").stored.clone()
    }

    /// Whether the sampled stored counter reached `target` within `deadline`. It reads the
    /// sampler's figures rather than scraping, so waiting adds no load of its own.
    pub async fn wait_for_stored(&self, target: f64, deadline: Duration) -> bool {
        let deadline = Instant::now() + deadline;
        while Instant::now() < deadline {
            let latest = {
                let s = self.samples.lock().expect("sampler lock");
                s.stored.last().map(|(_, v)| *v)
            };
            if latest.is_some_and(|v| v >= target) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    pub async fn finish(self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        Arc::try_unwrap(self.samples)
            .ok()
            .and_then(|m| m.into_inner().ok())
            .unwrap_or_default()
    }
}

async fn sample(
    mut api: Conn,
    mut consumer: Conn,
    interval: Duration,
    lifetime: Duration,
    samples: Arc<Mutex<Samples>>,
    stop: Arc<AtomicBool>,
) {
    let end = Instant::now() + lifetime;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        ticker.tick().await;
        let (a, c) = tokio::join!(
            scrape(&mut api, SCRAPE_TIMEOUT),
            scrape(&mut consumer, SCRAPE_TIMEOUT)
        );
        let at = Instant::now();
        let mut s = samples.lock().expect("sampler lock");
        match a {
            Ok(a) => s.api_rss_peak = s.api_rss_peak.max(a.rss_bytes.unwrap_or(0.0)),
            Err(e) => {
                s.errors += 1;
                s.last_error = Some(format!("API metrics: {e}"));
            }
        }
        match c {
            Ok(c) => {
                s.consumer_rss_peak = s.consumer_rss_peak.max(c.rss_bytes.unwrap_or(0.0));
                if let Some(v) = c.stored_total {
                    s.stored.push((at, v));
                }
            }
            Err(e) => {
                s.errors += 1;
                s.last_error = Some(format!("consumer metrics: {e}"));
            }
        }
    }
}

/// CPU and memory of every watched process at one moment.
pub struct Snapshot {
    pub at: Instant,
    pub api: Scrape,
    pub consumer: Scrape,
    pub procs: Vec<(String, Result<ProcStat, String>)>,
    /// Wiber's own processes' threads.
    pub threads: Vec<(String, Result<Threads, String>)>,
    pub machine_busy: Result<f64, String>,
}

pub async fn snapshot(args: &Args) -> Result<Snapshot, Error> {
    let api_metrics = args.api_metrics.clone();
    let mut api = Conn::new(api_metrics.clone());
    let mut consumer = Conn::new(args.consumer_metrics.clone());
    let api = scrape(&mut api, SCRAPE_TIMEOUT)
        .await
        .map_err(|e| format!("cannot scrape the API at {api_metrics}: {e}"))?;
    let consumer = scrape(&mut consumer, SCRAPE_TIMEOUT).await.map_err(|e| {
        format!(
            "cannot scrape the consumer at {}: {e}",
            args.consumer_metrics
        )
    })?;
    let mut procs: Vec<(String, Result<ProcStat, String>)> = args
        .pids
        .iter()
        .map(|(name, pid)| (name.clone(), proc_stat(pid)))
        .collect();
    procs.push(("loadgen".to_owned(), proc_stat("self")));
    let threads = args
        .pids
        .iter()
        .filter(|(name, _)| name.starts_with("wiber-"))
        .map(|(name, pid)| (name.clone(), threads::read(pid)))
        .collect();
    Ok(Snapshot {
        at: Instant::now(),
        api,
        consumer,
        procs,
        threads,
        machine_busy: machine_busy_seconds(),
    })
}
