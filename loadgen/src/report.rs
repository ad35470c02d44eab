//! The printed report: one section per phase as it ends, then memory and CPU. Each section also
//! adds what it shows going wrong to `problems`, which decides the exit code.

use std::time::{Duration, Instant};

use crate::args::Args;
use crate::e2e::E2eOutcome;
use crate::post::PostOutcome;
use crate::probe::Scrape;
use crate::push::{Latencies, Streams};
use crate::sampler::{Samples, Snapshot};
use crate::stats::{Summary, mib, ms};
use crate::text::{FAILURE_SAMPLES, row, seconds, section};

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
    let pace = args
        .rate
        .map_or(String::new(), |r| format!(", paced at {r} msg/s"));
    section(&format!(
        "POST /messages: {} messages, {} concurrent, {} conversations, {}-character content{pace}",
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

/// `series` is the sampled stored counter, `baseline` its value before phase 1, `ok` the messages
/// acknowledged since (phase 1's and push probes'), and `drained` whether the counter reached them
/// all within the drain deadline.
pub fn store(
    args: &Args,
    post: &PostOutcome,
    (baseline, ok): (f64, usize),
    series: &[(Instant, f64)],
    drained: bool,
    problems: &mut Vec<String>,
) -> Option<f64> {
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
            Some(rate)
        }
        _ => {
            problems.push(format!(
                "the consumer stored {:.0} of {ok} messages within the drain deadline of {}",
                stored_now - baseline,
                seconds(args.drain_deadline)
            ));
            None
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

fn mib_or_unknown(bytes: Option<f64>) -> String {
    bytes.map_or("?".to_owned(), |b| format!("{} MiB", mib(b)))
}

pub fn streams_opened(streams: &Streams, problems: &mut Vec<String>) {
    let o = &streams.opening;
    section(&format!(
        "Push streams (GET /messages/stream): {} recipients, {} idle",
        streams.receivers, o.wanted
    ));
    if o.wanted == 0 {
        return;
    }
    row(
        "idle streams opened (ready received)",
        format!("{} of {} in {}", o.opened, o.wanted, seconds(o.took)),
    );
    row(
        "API RSS before / after opening",
        format!(
            "{} / {}",
            mib_or_unknown(o.before.rss_bytes),
            mib_or_unknown(o.after.rss_bytes)
        ),
    );
    if let Some(per) = o.bytes_per_stream() {
        row("API memory per idle stream", format!("{per:.0} bytes"));
    }
    row(
        "API's wiber_api_push_streams",
        o.after
            .push_streams
            .map_or("?".to_owned(), |n| format!("{n:.0}")),
    );
    for f in o.failures.iter().take(FAILURE_SAMPLES) {
        println!("    failed: {f}");
    }
    if o.opened < o.wanted {
        problems.push(format!(
            "{} of {} idle streams could not be opened",
            o.wanted - o.opened,
            o.wanted
        ));
    }
}

pub fn pushed(streams: &Streams, when: &str, pushed: &Latencies, problems: &mut Vec<String>) {
    let to = match &streams.target {
        crate::group::Target::Pairs { .. } => "listening recipients".to_owned(),
        crate::group::Target::Group { .. } => {
            format!(
                "members of one group, each listening (group of {})",
                streams.receivers + 1
            )
        }
    };
    section(&format!(
        "Push delivery {when}: probe messages to {} {to}",
        streams.receivers
    ));
    row(
        "probes answered 200 / received",
        format!("{} / {}", pushed.sent, pushed.after_ack.len()),
    );
    if let Some(s) = Summary::of(pushed.after_ack.clone()) {
        row(
            "POST answered to received p50/90/99/max",
            s.p50_p90_p99_max(),
        );
    }
    if let Some(s) = Summary::of(pushed.after_post.clone()) {
        row("POST sent to received p50/90/99/max", s.p50_p90_p99_max());
    }
    if let Some(s) = Summary::of(pushed.last_after_ack.clone()) {
        row(
            "POST answered to its last member p50/90/99/max",
            s.p50_p90_p99_max(),
        );
    }
    for f in pushed.failed.iter().take(FAILURE_SAMPLES) {
        println!("    failed: {f}");
    }
    if !pushed.failed.is_empty() {
        problems.push(format!("{} probe POSTs failed {when}", pushed.failed.len()));
    }
    if pushed.missing > 0 {
        problems.push(format!(
            "{} probe events {when} never reached their recipient's stream",
            pushed.missing
        ));
    }
}

pub fn streams_held(streams: &Streams, end: &Scrape, problems: &mut Vec<String>) {
    use std::sync::atomic::Ordering::Relaxed;
    let ended = streams.ended.load(Relaxed);
    let unexpected = streams.unexpected.load(Relaxed);
    section("Push streams at the end");
    row("streams ended or broken during the run", ended);
    row("messages on idle streams (expected 0)", unexpected);
    row("events received by recipients", streams.received);
    row("API RSS", mib_or_unknown(end.rss_bytes));
    row(
        "API's wiber_api_push_streams",
        end.push_streams
            .map_or("?".to_owned(), |n| format!("{n:.0}")),
    );
    if ended > 0 {
        problems.push(format!("{ended} push streams ended during the run"));
    }
    if unexpected > 0 {
        problems.push(format!(
            "{unexpected} messages reached streams of users who were sent nothing"
        ));
    }
}
