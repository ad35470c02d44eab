//! wiber-loadgen: measures a running Wiber from the outside, through its HTTP API and /metrics.
//! `wiber-loadgen --help` lists the phases and options; `make bench` runs it on a fresh stack.

mod args;
mod http;
mod probe;
mod stats;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use hyper::{Method, StatusCode};

use crate::args::{Args, USAGE};
use crate::http::{Conn, Error, Target};
use crate::probe::{ProcStat, Scrape, machine_busy_seconds, proc_stat, scrape};
use crate::stats::{Summary, mib, ms};

/// Failure samples printed in full; the rest are only counted by kind.
const FAILURE_SAMPLES: usize = 10;
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

// One thread: the generator competes with the system under test for this machine's cores, and a
// single thread bounds what it can take to one of them.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(problems) if problems.is_empty() => {
            println!("\nresult: OK");
            ExitCode::SUCCESS
        }
        Ok(problems) => {
            println!("\nresult: FAILED");
            for p in problems {
                println!("  - {p}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn section(title: &str) {
    println!("\n{title}");
}

fn row(label: &str, value: impl std::fmt::Display) {
    println!("  {label:<38} {value}");
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The two users of conversation `c` of this run.
fn pair(prefix: &str, tag: &str, c: usize) -> (String, String) {
    (
        format!("{prefix}-{tag}{c}-a"),
        format!("{prefix}-{tag}{c}-b"),
    )
}

fn message_body(from: &str, to: &str, i: usize, chars: usize) -> Bytes {
    let mut content = format!("loadgen message {i} ");
    // ASCII only, so a byte count is a character count.
    content.truncate(chars);
    while content.len() < chars {
        content.push('x');
    }
    let body = serde_json::json!({ "fromUser": from, "toUser": to, "content": content });
    Bytes::from(body.to_string())
}

fn short(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut text: String = text.chars().take(200).collect();
    text.retain(|c| c != '\n');
    text
}

// ---------------------------------------------------------------------------------------------
// /metrics sampling in the background: the consumer's stored counter over time and peak RSS.

#[derive(Default)]
struct Samples {
    /// (when the scrape answered, wiber_consumer_messages_stored_total)
    stored: Vec<(Instant, f64)>,
    api_rss_peak: f64,
    consumer_rss_peak: f64,
    errors: u64,
    last_error: Option<String>,
}

struct Sampler {
    samples: Arc<Mutex<Samples>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(api: Target, consumer: Target, interval: Duration, lifetime: Duration) -> Self {
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

    fn latest_stored(&self) -> Option<f64> {
        let s = self.samples.lock().expect("sampler lock");
        s.stored.last().map(|(_, v)| *v)
    }

    async fn finish(self) -> Samples {
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
struct Snapshot {
    at: Instant,
    api: Scrape,
    consumer: Scrape,
    procs: Vec<(String, Result<ProcStat, String>)>,
    machine_busy: Result<f64, String>,
}

async fn snapshot(args: &Args) -> Result<Snapshot, Error> {
    let mut api = Conn::new(args.api_metrics.clone());
    let mut consumer = Conn::new(args.consumer_metrics.clone());
    let api = scrape(&mut api, SCRAPE_TIMEOUT)
        .await
        .map_err(|e| format!("cannot scrape the API at {}: {e}", args.api_metrics))?;
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
    Ok(Snapshot {
        at: Instant::now(),
        api,
        consumer,
        procs,
        machine_busy: machine_busy_seconds(),
    })
}

// ---------------------------------------------------------------------------------------------
// Phase 1: POST at fixed concurrency.

#[derive(Default)]
struct PostOutcome {
    latencies: Vec<Duration>,
    failures: BTreeMap<String, usize>,
    samples: Vec<String>,
    attempted: usize,
    connects: u64,
    last_answer: Option<Instant>,
}

impl PostOutcome {
    fn fail(&mut self, kind: String, detail: String) {
        if self.samples.len() < FAILURE_SAMPLES {
            self.samples.push(format!("{kind}: {detail}"));
        }
        *self.failures.entry(kind).or_default() += 1;
    }

    fn failed(&self) -> usize {
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
    next: AtomicUsize,
}

async fn post_worker(plan: Arc<PostPlan>) -> PostOutcome {
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
        out.attempted += 1;
        let started = Instant::now();
        let answer = conn
            .request(Method::POST, "/messages", Some(body), plan.timeout)
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

async fn post_phase(args: &Args) -> (PostOutcome, Duration) {
    let plan = Arc::new(PostPlan {
        api: args.api.clone(),
        prefix: args.prefix.clone(),
        messages: args.messages,
        conversations: args.conversations,
        content_chars: args.content_chars,
        timeout: args.request_timeout,
        deadline: Instant::now() + args.post_deadline,
        next: AtomicUsize::new(0),
    });
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| tokio::spawn(post_worker(plan.clone())))
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

// ---------------------------------------------------------------------------------------------
// Phase 3: single messages on an idle system, timed from POST until stored and until visible.

#[derive(Default)]
struct E2eOutcome {
    post: Vec<Duration>,
    stored: Vec<Duration>,
    visible: Vec<Duration>,
    /// How long each GET /messages/count took: the read path's own cost.
    count_times: Vec<Duration>,
    failures: Vec<String>,
    not_stored: usize,
    not_visible: usize,
    poll_errors: usize,
}

async fn count(conn: &mut Conn, from: &str, to: &str, timeout: Duration) -> Result<u64, Error> {
    let path = format!("/messages/count?user1={from}&user2={to}");
    let (status, body) = conn.request(Method::GET, &path, None, timeout).await?;
    if status != StatusCode::OK {
        return Err(format!("HTTP {}: {}", status.as_u16(), short(&body)).into());
    }
    let value: serde_json::Value = serde_json::from_slice(&body)?;
    value["count"]
        .as_u64()
        .ok_or_else(|| format!("no count in {}", short(&body)).into())
}

async fn stored_total(conn: &mut Conn) -> Result<f64, Error> {
    scrape(conn, SCRAPE_TIMEOUT)
        .await?
        .stored_total
        .ok_or_else(|| "no wiber_consumer_messages_stored_total".into())
}

async fn e2e_phase(args: &Args) -> E2eOutcome {
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
            .request(Method::POST, "/messages", Some(body), args.request_timeout)
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
            match count(&mut api, &from, &to, left.max(Duration::from_millis(1))).await {
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

// ---------------------------------------------------------------------------------------------

/// Runs every phase, prints the report, and returns what went wrong (empty for a valid run).
async fn run(args: Args) -> Result<Vec<String>, Error> {
    let mut problems = Vec::new();
    println!("wiber-loadgen");
    row("API", format!("http://{}", args.api.authority));
    row("consumer metrics", &args.consumer_metrics);
    row("run prefix", &args.prefix);
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        row("load average at start (1/5/15 min)", load.trim());
    }

    let start = snapshot(&args).await?;
    let baseline = start
        .consumer
        .stored_total
        .ok_or("the consumer's /metrics has no wiber_consumer_messages_stored_total")?;

    let lifetime = args.post_deadline
        + args.drain_deadline
        + (args.visible_deadline + args.request_timeout) * (args.e2e_messages as u32 + 1);
    let sampler = Sampler::start(
        args.api_metrics.clone(),
        args.consumer_metrics.clone(),
        args.sample_interval,
        lifetime,
    );

    // Phase 1.
    let (post, post_elapsed) = post_phase(&args).await;
    let ok = post.latencies.len();
    section(&format!(
        "POST /messages: {} messages, {} concurrent, {} conversations, {}-character content",
        args.messages, args.concurrency, args.conversations, args.content_chars
    ));
    row("answered 200", format!("{ok} of {}", args.messages));
    row("total time", seconds(post_elapsed));
    row(
        "throughput (200s per second)",
        format!("{:.0} msg/s", ok as f64 / post_elapsed.as_secs_f64()),
    );
    if let Some(s) = Summary::of(post.latencies.clone()) {
        row("latency p50 / p90 / p99 / max", s.p50_p90_p99_max());
        row("latency mean", ms(s.mean));
    }
    row("connections opened", post.connects);
    row("non-200 answers or errors", post.failed());
    for (kind, n) in &post.failures {
        row(&format!("  {kind}"), n);
    }
    for s in &post.samples {
        println!("    e.g. {s}");
    }
    if post.failed() > 0 {
        problems.push(format!("{} POSTs failed", post.failed()));
    }
    if post.attempted < args.messages {
        problems.push(format!(
            "post deadline of {} passed: {} of {} messages were not sent",
            seconds(args.post_deadline),
            args.messages - post.attempted,
            args.messages
        ));
    }

    // Phase 2: wait for the consumer to store every acknowledged message.
    let target = baseline + ok as f64;
    let drain_deadline = Instant::now() + args.drain_deadline;
    let mut drained = false;
    while Instant::now() < drain_deadline {
        if sampler.latest_stored().is_some_and(|v| v >= target) {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after_drain = snapshot(&args).await?;
    let series = sampler.samples.lock().expect("sampler lock").stored.clone();
    section(&format!(
        "Consumer store (wiber_consumer_messages_stored_total, sampled every {} ms)",
        args.sample_interval.as_millis()
    ));
    let stored_now = series.last().map_or(baseline, |(_, v)| *v);
    row(
        "stored during the run",
        format!("{:.0} of {ok}", stored_now - baseline),
    );
    let first = series.iter().find(|(_, v)| *v > baseline);
    let done = series.iter().find(|(_, v)| *v >= target);
    match (first, done, drained) {
        (Some(&(t1, v1)), Some(&(t2, _)), true) => {
            let window = t2.saturating_duration_since(t1);
            // From the first sample that saw a stored message to the first that saw them all.
            let rate = (target - v1) / window.as_secs_f64().max(f64::EPSILON);
            row(
                "store rate (first to last stored)",
                format!("{rate:.0} msg/s over {}", seconds(window)),
            );
            if let Some(last) = post.last_answer {
                row(
                    "caught up after the last POST answer",
                    seconds(t2.saturating_duration_since(last)),
                );
            }
        }
        _ => {
            problems.push(format!(
                "the consumer stored {:.0} of {ok} messages within the drain deadline of {}",
                stored_now - baseline,
                seconds(args.drain_deadline)
            ));
        }
    }

    // Phase 3, only on an idle system: an undrained consumer would time every message out.
    let e2e = if drained && args.e2e_messages > 0 {
        Some(e2e_phase(&args).await)
    } else {
        None
    };
    if let Some(e2e) = &e2e {
        section(&format!(
            "End to end: {} single messages, one at a time, polled every {} ms",
            args.e2e_messages,
            args.poll_interval.as_millis()
        ));
        let latency_row = |label: &str, values: &[Duration]| {
            if let Some(s) = Summary::of(values.to_vec()) {
                row(label, s.p50_p90_p99_max());
            }
        };
        latency_row("POST latency p50 / p90 / p99 / max", &e2e.post);
        latency_row("POST to stored (consumer counter)", &e2e.stored);
        latency_row("POST to visible (GET /messages/count)", &e2e.visible);
        latency_row("one GET /messages/count", &e2e.count_times);
        row(
            "stored / visible",
            format!(
                "{} / {} of {}",
                e2e.stored.len(),
                e2e.visible.len(),
                args.e2e_messages
            ),
        );
        row("poll errors", e2e.poll_errors);
        for f in e2e.failures.iter().take(FAILURE_SAMPLES) {
            println!("    failed: {f}");
        }
        if !e2e.failures.is_empty() {
            problems.push(format!(
                "{} end-to-end messages failed before being sent",
                e2e.failures.len()
            ));
        }
        if e2e.not_stored + e2e.not_visible > 0 {
            problems.push(format!(
                "{} end-to-end messages were not stored and {} not visible within {}",
                e2e.not_stored,
                e2e.not_visible,
                seconds(args.visible_deadline)
            ));
        }
    }

    let samples = sampler.finish().await;
    let end = snapshot(&args).await?;
    println!(
        "\n{:<40} {:>8} {:>10}",
        "Memory (RSS, MiB)", "peak", "final"
    );
    let rss_row = |name: &str, peak: f64, last: Option<f64>| {
        row(
            name,
            format!("{:>8} {:>10}", mib(peak), last.map_or("?".into(), mib)),
        );
    };
    rss_row(
        "wiber-api (sampled /metrics)",
        samples.api_rss_peak.max(end.api.rss_bytes.unwrap_or(0.0)),
        end.api.rss_bytes,
    );
    rss_row(
        "wiber-consumer (sampled /metrics)",
        samples
            .consumer_rss_peak
            .max(end.consumer.rss_bytes.unwrap_or(0.0)),
        end.consumer.rss_bytes,
    );
    for (name, stat) in &end.procs {
        match stat {
            Ok(s) => rss_row(
                &format!("{name} (/proc, peak = VmHWM)"),
                s.peak_rss_bytes,
                Some(s.rss_bytes),
            ),
            Err(e) => row(name, e),
        }
    }

    let window = after_drain
        .at
        .saturating_duration_since(start.at)
        .as_secs_f64();
    println!(
        "\n{:<40} {:>8} {:>10}",
        format!("CPU during POST + drain ({window:.1} s)"),
        "seconds",
        "avg cores"
    );
    let cpu_row = |name: &str, used: f64| {
        row(name, format!("{used:>8.1} {:>10.2}", used / window));
    };
    let mut watched = 0.0;
    for ((name, before), (_, after)) in start.procs.iter().zip(&after_drain.procs) {
        match (before, after) {
            (Ok(b), Ok(a)) => {
                watched += a.cpu_seconds - b.cpu_seconds;
                cpu_row(name, a.cpu_seconds - b.cpu_seconds);
            }
            (Err(e), _) | (_, Err(e)) => row(name, e),
        }
    }
    if let (Ok(b), Ok(a)) = (&start.machine_busy, &after_drain.machine_busy) {
        cpu_row("whole machine (/proc/stat)", a - b);
        // Other work on the machine takes cores from the system under test and skews every figure.
        cpu_row("everything else", (a - b - watched).max(0.0));
    }
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        section("Machine");
        row("load average at end (1/5/15 min)", load.trim());
    }
    if samples.errors > 0 {
        println!(
            "\n  {} /metrics scrapes failed; last: {}",
            samples.errors,
            samples.last_error.unwrap_or_default()
        );
    }
    Ok(problems)
}
