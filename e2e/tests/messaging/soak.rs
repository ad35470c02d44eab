//! `make soak`'s steady phase (ignored by `make test`): WIBER_SOAK_MINUTES (30) of paced POST load
//! through the real API and consumer, sampling both processes' resident memory and open file
//! descriptors every minute; neither may keep growing, and every acknowledged message is stored
//! exactly once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use wiber_e2e::soak::{Run, report};
use wiber_e2e::stack::{Wiber, stream};

const SAMPLE_EVERY: Duration = Duration::from_secs(60);
/// 500 messages every 2.5 s: 200 per second, steady, far below the pipeline's limit.
const BATCH: usize = 500;
const PACE: Duration = Duration::from_millis(2500);

/// Resident memory (bytes) and open descriptors of a process, from /proc.
fn usage(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc fd")
        .count();
    (rss_kib * 1024, fds)
}

/// The largest value of the first and of the last third of `series` (warm-up minute skipped).
fn first_and_last(series: &[u64]) -> (u64, u64) {
    let body = &series[1.min(series.len() - 1)..];
    let third = (body.len() / 3).max(1);
    let first = *body[..third].iter().max().unwrap();
    let last = *body[body.len() - third..].iter().max().unwrap();
    (first, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "make soak runs it: minutes of steady load"]
async fn steady_load_keeps_memory_and_descriptors_flat() {
    let minutes: u64 = std::env::var("WIBER_SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(30);
    let wiber = Wiber::start().await;
    let consumer = wiber.consumer().await;
    let (api_pid, consumer_pid) = (wiber.api.pid(), consumer.process.pid());

    let end = Instant::now() + Duration::from_secs(minutes * 60);
    let mut next_sample = Instant::now() + SAMPLE_EVERY;
    let (mut acknowledged, mut failed) = (HashSet::new(), 0);
    let mut samples: Vec<[u64; 4]> = Vec::new();
    let mut batch = 0;
    while Instant::now() < end {
        let started = Instant::now();
        let (ids, f) = stream(&wiber, BATCH, 16, &format!("steady-{batch}")).await;
        batch += 1;
        acknowledged.extend(ids);
        failed += f;
        if Instant::now() >= next_sample {
            next_sample += SAMPLE_EVERY;
            let (api_rss, api_fds) = usage(api_pid);
            let (consumer_rss, consumer_fds) = usage(consumer_pid);
            samples.push([api_rss, api_fds as u64, consumer_rss, consumer_fds as u64]);
            eprintln!(
                "SOAK-STEADY|{}|{}|{}|{}|{}|{}",
                samples.len(),
                acknowledged.len(),
                api_rss / 1_048_576,
                api_fds,
                consumer_rss / 1_048_576,
                consumer_fds
            );
        }
        // A steady client's pace, not a wait for a condition.
        if let Some(rest) = PACE.checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    let (api_rss, api_fds) = usage(api_pid);
    let (consumer_rss, consumer_fds) = usage(consumer_pid);
    samples.push([api_rss, api_fds as u64, consumer_rss, consumer_fds as u64]);
    assert_eq!(failed, 0, "steady load below the limit is never refused");
    wiber
        .assert_stored_exactly_once(&acknowledged, Duration::from_secs(300))
        .await;
    assert!(
        samples.len() >= 3,
        "too short to judge growth: {minutes} min"
    );
    for (index, what, slack) in [
        (0, "API memory", 32 << 20),
        (1, "API descriptors", 32),
        (2, "consumer memory", 32 << 20),
        (3, "consumer descriptors", 32),
    ] {
        let series: Vec<u64> = samples.iter().map(|s| s[index]).collect();
        let (first, last) = first_and_last(&series);
        assert!(
            last <= first + first / 5 + slack,
            "{what} kept growing: {first} in the first third, {last} in the last ({series:?})"
        );
    }
    report(&Run {
        scenario: "steady load",
        faults: 0,
        acknowledged: acknowledged.len(),
        stored_once: acknowledged.len(),
        server_errors: failed,
    });
}
