//! The printed report: one section per phase as it ends, then memory and CPU. Each section also
//! adds what it shows going wrong to `problems`, which decides the exit code.

use std::time::{Duration, Instant};

use crate::args::Args;
use crate::e2e::E2eOutcome;
use crate::post::PostOutcome;
use crate::sampler::{Samples, Snapshot};
use crate::stats::{Summary, mib, ms};

/// Failure samples printed in full; the rest are only counted by kind.
pub const FAILURE_SAMPLES: usize = 10;

fn section(title: &str) {
    println!("\n{title}");
}

fn row(label: &str, value: impl std::fmt::Display) {
    println!("  {label:<38} {value}");
}

pub fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub fn header(args: &Args, tokens: bool) {
    println!("wiber-loadgen");
    row("API", format!("http://{}", args.api.authority));
    let auth = if tokens {
        format!(
            "bearer tokens (EdDSA, kid {}, iss {}, aud {})",
            args.token_kid, args.token_issuer, args.token_audience
        )
    } else {
        "none (an open API, AUTH_MODE=none)".to_owned()
    };
    row("authentication", auth);
    row("consumer metrics", &args.consumer_metrics);
    row("run prefix", &args.prefix);
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        row("load average at start (1/5/15 min)", load.trim());
    }
}

pub fn post(args: &Args, post: &PostOutcome, elapsed: Duration, problems: &mut Vec<String>) {
    let ok = post.latencies.len();
    section(&format!(
        "POST /messages: {} messages, {} concurrent, {} conversations, {}-character content",
        args.messages, args.concurrency, args.conversations, args.content_chars
    ));
    row("answered 200", format!("{ok} of {}", args.messages));
    row("total time", seconds(elapsed));
    row(
        "throughput (200s per second)",
        format!("{:.0} msg/s", ok as f64 / elapsed.as_secs_f64()),
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
}

/// `series` is the sampled stored counter, `baseline` its value before phase 1, and `drained`
/// whether it reached every acknowledged message within the drain deadline.
pub fn store(
    args: &Args,
    post: &PostOutcome,
    baseline: f64,
    series: &[(Instant, f64)],
    drained: bool,
    problems: &mut Vec<String>,
) {
    let ok = post.latencies.len();
    let target = baseline + ok as f64;
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
}

pub fn e2e(args: &Args, e2e: &E2eOutcome, problems: &mut Vec<String>) {
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

/// Peaks are the sampled maximum or, for processes read from /proc, the kernel's high-water mark.
pub fn memory(samples: &Samples, end: &Snapshot) {
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
}

/// CPU from the start to the end of the drain: the loaded part of the run, which phase 3's
/// messages, one at a time, would only dilute.
pub fn cpu(start: &Snapshot, after_drain: &Snapshot) {
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
}

/// The machine's load at the end, and failed scrapes, which leave gaps in the sampled figures.
pub fn closing(samples: &Samples) {
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        section("Machine");
        row("load average at end (1/5/15 min)", load.trim());
    }
    if samples.errors > 0 {
        println!(
            "\n  {} /metrics scrapes failed; last: {}",
            samples.errors,
            samples.last_error.as_deref().unwrap_or_default()
        );
    }
}
