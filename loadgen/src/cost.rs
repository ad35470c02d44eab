//! What the stack spent: CPU per process over the loaded part of the run, per message, and the
//! figures as ratios to the broker's own limit measured in the same run.

use crate::args::{Args, Limit};
use crate::sampler::Snapshot;
use crate::text::{row, section};
use crate::threads;

/// CPU from the start to the end of the drain: the loaded part of the run, which phase 3's
/// messages, one at a time, would only dilute. Per message: over the `messages` answered 200.
pub fn cpu(start: &Snapshot, after_drain: &Snapshot, messages: usize) -> Cpu {
    let window = after_drain
        .at
        .saturating_duration_since(start.at)
        .as_secs_f64();
    println!(
        "\n{:<40} {:>8} {:>10} {:>12}",
        format!("CPU during POST + drain ({window:.1} s)"),
        "seconds",
        "avg cores",
        "ms / message"
    );
    let per_message = |used: f64| used * 1000.0 / messages.max(1) as f64;
    let cpu_row = |name: &str, used: f64| {
        row(
            name,
            format!(
                "{used:>8.1} {:>10.2} {:>12.3}",
                used / window,
                per_message(used)
            ),
        );
    };
    let mut watched = 0.0;
    let mut broker = 0.0;
    for ((name, before), (_, after)) in start.procs.iter().zip(&after_drain.procs) {
        match (before, after) {
            (Ok(b), Ok(a)) => {
                let used = a.cpu_seconds - b.cpu_seconds;
                watched += used;
                if name.starts_with("kafka") {
                    broker += used;
                }
                cpu_row(name, used);
            }
            (Err(e), _) | (_, Err(e)) => row(name, e),
        }
    }
    if let (Ok(b), Ok(a)) = (&start.machine_busy, &after_drain.machine_busy) {
        cpu_row("whole machine (/proc/stat)", a - b);
        // Other work on the machine takes cores from the system under test and skews every figure.
        cpu_row("everything else", (a - b - watched).max(0.0));
    }
    threads::report(&start.threads, &after_drain.threads, window, messages);
    Cpu {
        broker_ms_per_message: (broker > 0.0).then(|| per_message(broker)),
    }
}

/// What `cpu` measured that the limit is compared with.
pub struct Cpu {
    /// Every `kafka*` process's CPU over the loaded window, per message; `None` when none is watched.
    pub broker_ms_per_message: Option<f64>,
}

/// Wiber's figures as ratios to the limits measured in the same run: the broker's
/// (`--limit`), and the store's raw insert rate (`--store-limit`).
pub fn against_limits(args: &Args, post_rate: f64, store_rate: Option<f64>, cpu: &Cpu) {
    if args.limit.is_none() && args.store_limit.is_none() {
        return;
    }
    section("Against the limits measured in this run");
    if let Some(limit) = &args.limit {
        against_broker(limit, post_rate, cpu);
    }
    if let (Some(raw), Some(stored)) = (args.store_limit, store_rate) {
        row(
            "store's raw insert rate (same batches)",
            format!("{raw:.0} documents/s"),
        );
        row(
            "consumer store rate / raw insert rate",
            format!("{:.1} % ({stored:.0} of {raw:.0}/s)", 100.0 * stored / raw),
        );
    }
}

/// Against Kafka's ProducerPerformance on the same broker.
fn against_broker(limit: &Limit, post_rate: f64, cpu: &Cpu) {
    row(
        "broker limit: records/s, CPU per record",
        format!(
            "{:.0} records/s, {:.3} ms (ProducerPerformance)",
            limit.records_per_second, limit.broker_cpu_ms_per_record
        ),
    );
    row(
        "POST throughput / limit",
        format!(
            "{:.1} % ({post_rate:.0} of {:.0} msg/s)",
            100.0 * post_rate / limit.records_per_second,
            limit.records_per_second
        ),
    );
    if let Some(broker) = cpu.broker_ms_per_message {
        row(
            "broker CPU per message / limit's",
            format!(
                "{:.1} x ({broker:.3} / {:.3} ms)",
                broker / limit.broker_cpu_ms_per_record,
                limit.broker_cpu_ms_per_record
            ),
        );
    }
}
