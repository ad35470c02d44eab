//! `--summary FILE`: the run's headline figures as JSON, so scripts (dev/bench.sh's summaries)
//! compare runs without reading the printed report. Filled in phase by phase; a figure the run did
//! not measure is `null`. Durations are in milliseconds, rates per second, memory in bytes, ratios
//! as fractions (0.5, not 50 %).

use std::time::Duration;

use serde_json::{Value, json};

use crate::args::Args;
use crate::cost::Cpu;
use crate::e2e::E2eOutcome;
use crate::idle::Opening;
use crate::post::PostOutcome;
use crate::push::Latencies;
use crate::stats::Summary;

#[derive(Debug, Default)]
pub struct Headline {
    post: Value,
    store_rate: Option<f64>,
    end_to_end: Value,
    pushed_under_load: Value,
    pushed_idle: Value,
    idle_streams: Value,
    broker_limit: Value,
    store_limit: Value,
}

fn millis(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

/// Percentiles in milliseconds, or `null` when nothing was timed.
fn latency(values: &[Duration]) -> Value {
    Summary::of(values.to_vec()).map_or(Value::Null, |s| {
        json!({
            "p50": millis(s.p50),
            "p90": millis(s.p90),
            "p99": millis(s.p99),
            "max": millis(s.max),
            "mean": millis(s.mean),
        })
    })
}

fn pushed(latencies: &Latencies) -> Value {
    json!({
        "probes_answered_200": latencies.sent,
        "received": latencies.after_ack.len(),
        "missing": latencies.missing,
        "failed": latencies.failed.len(),
        "answered_to_received_ms": latency(&latencies.after_ack),
        "sent_to_received_ms": latency(&latencies.after_post),
        "answered_to_last_member_ms": latency(&latencies.last_after_ack),
    })
}

impl Headline {
    /// Phase 1: `elapsed` is the phase's duration, as in the report's throughput.
    pub fn post(&mut self, args: &Args, post: &PostOutcome, elapsed: Duration) {
        let ok = post.latencies.len();
        self.post = json!({
            "messages": args.messages,
            "concurrency": args.concurrency,
            "rate_limit_msg_per_s": args.rate,
            "answered_200": ok,
            "non_200": post.failed(),
            "seconds": elapsed.as_secs_f64(),
            "throughput_msg_per_s": ok as f64 / elapsed.as_secs_f64(),
            "latency_ms": latency(&post.latencies),
        });
    }

    /// The consumer's store rate, `None` when it did not store everything within the deadline.
    pub fn store(&mut self, rate: Option<f64>) {
        self.store_rate = rate;
    }

    /// Phase 3: single messages on the idle system, POST to stored and to visible.
    pub fn end_to_end(&mut self, e2e: &E2eOutcome) {
        self.end_to_end = json!({
            "stored": e2e.stored.len(),
            "visible": e2e.visible.len(),
            "post_ms": latency(&e2e.post),
            "stored_ms": latency(&e2e.stored),
            "visible_ms": latency(&e2e.visible),
        });
    }

    pub fn pushed_under_load(&mut self, latencies: &Latencies) {
        self.pushed_under_load = pushed(latencies);
    }

    pub fn pushed_idle(&mut self, latencies: &Latencies) {
        self.pushed_idle = pushed(latencies);
    }

    /// The idle streams' cost, when the run held any.
    pub fn idle_streams(&mut self, opening: &Opening) {
        if opening.wanted == 0 {
            return;
        }
        self.idle_streams = json!({
            "wanted": opening.wanted,
            "opened": opening.opened,
            "api_rss_before_bytes": opening.before.rss_bytes,
            "api_rss_after_bytes": opening.after.rss_bytes,
            "api_bytes_per_stream": opening.bytes_per_stream(),
        });
    }

    /// Wiber's figures against the limits given with --limit and --store-limit.
    pub fn limits(&mut self, args: &Args, post_rate: f64, store_rate: Option<f64>, cpu: &Cpu) {
        if let Some(limit) = &args.limit {
            let broker = cpu.broker_ms_per_message;
            self.broker_limit = json!({
                "records_per_s": limit.records_per_second,
                "cpu_ms_per_record": limit.broker_cpu_ms_per_record,
                "post_throughput_ratio": post_rate / limit.records_per_second,
                "broker_cpu_ms_per_message": broker,
                "broker_cpu_ratio": broker.map(|b| b / limit.broker_cpu_ms_per_record),
            });
        }
        if let Some(raw) = args.store_limit {
            self.store_limit = json!({
                "raw_insert_per_s": raw,
                "store_rate_ratio": store_rate.map(|s| s / raw),
            });
        }
    }

    /// The whole summary; `problems` are what made the run fail (none: `"ok": true`).
    pub fn to_json(&self, problems: &[String]) -> Value {
        json!({
            "ok": problems.is_empty(),
            "problems": problems,
            "post": self.post,
            "store_rate_msg_per_s": self.store_rate,
            "end_to_end": self.end_to_end,
            "push": {
                "under_load": self.pushed_under_load,
                "idle": self.pushed_idle,
            },
            "idle_streams": self.idle_streams,
            "broker_limit": self.broker_limit,
            "store_limit": self.store_limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::probe::Scrape;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn summary_json_names_the_headline_figures_and_nulls_what_was_not_measured() {
        let args = Args::try_parse_from([
            "wiber-loadgen",
            "--messages=4",
            "--limit=1000:0.01",
            "--store-limit=500",
        ])
        .unwrap();
        let mut post = PostOutcome {
            latencies: vec![ms(4), ms(1), ms(3), ms(2)],
            ..PostOutcome::default()
        };
        post.failures.insert("503".to_owned(), 2);
        let under_load = Latencies {
            sent: 3,
            after_ack: vec![ms(10), ms(30)],
            after_post: vec![ms(20), ms(40)],
            last_after_ack: Vec::new(),
            missing: 1,
            failed: Vec::new(),
        };
        let opening = Opening {
            wanted: 10,
            opened: 8,
            before: Scrape {
                rss_bytes: Some(1000.0),
                ..Scrape::default()
            },
            after: Scrape {
                rss_bytes: Some(9000.0),
                ..Scrape::default()
            },
            ..Opening::default()
        };
        let cpu = Cpu {
            broker_ms_per_message: Some(0.05),
        };

        let mut h = Headline::default();
        h.post(&args, &post, Duration::from_secs(2));
        h.store(Some(250.0));
        h.end_to_end(&E2eOutcome {
            post: vec![ms(1)],
            stored: vec![ms(5)],
            visible: Vec::new(),
            ..E2eOutcome::default()
        });
        h.pushed_under_load(&under_load);
        h.idle_streams(&opening);
        h.limits(&args, 2.0, Some(250.0), &cpu);
        let v = h.to_json(&["1 POSTs failed".to_owned()]);

        assert_eq!(v["ok"], false);
        assert_eq!(v["problems"], json!(["1 POSTs failed"]));
        assert_eq!(
            v["post"],
            json!({
                "messages": 4,
                "concurrency": 64,
                "rate_limit_msg_per_s": null,
                "answered_200": 4,
                "non_200": 2,
                "seconds": 2.0,
                "throughput_msg_per_s": 2.0,
                "latency_ms": {"p50": 2.0, "p90": 4.0, "p99": 4.0, "max": 4.0, "mean": 2.5},
            })
        );
        assert_eq!(v["store_rate_msg_per_s"], 250.0);
        let five = json!({"p50": 5.0, "p90": 5.0, "p99": 5.0, "max": 5.0, "mean": 5.0});
        assert_eq!(
            v["end_to_end"],
            json!({
                "stored": 1,
                "visible": 0,
                "post_ms": {"p50": 1.0, "p90": 1.0, "p99": 1.0, "max": 1.0, "mean": 1.0},
                "stored_ms": five,
                "visible_ms": null,
            })
        );
        assert_eq!(
            v["push"]["under_load"],
            json!({
                "probes_answered_200": 3,
                "received": 2,
                "missing": 1,
                "failed": 0,
                "answered_to_received_ms": {"p50": 10.0, "p90": 30.0, "p99": 30.0, "max": 30.0, "mean": 20.0},
                "sent_to_received_ms": {"p50": 20.0, "p90": 40.0, "p99": 40.0, "max": 40.0, "mean": 30.0},
                "answered_to_last_member_ms": null,
            })
        );
        assert_eq!(v["push"]["idle"], Value::Null);
        assert_eq!(
            v["idle_streams"],
            json!({
                "wanted": 10,
                "opened": 8,
                "api_rss_before_bytes": 1000.0,
                "api_rss_after_bytes": 9000.0,
                "api_bytes_per_stream": 1000.0,
            })
        );
        assert_eq!(
            v["broker_limit"],
            json!({
                "records_per_s": 1000.0,
                "cpu_ms_per_record": 0.01,
                "post_throughput_ratio": 0.002,
                "broker_cpu_ms_per_message": 0.05,
                "broker_cpu_ratio": 5.0,
            })
        );
        assert_eq!(
            v["store_limit"],
            json!({"raw_insert_per_s": 500.0, "store_rate_ratio": 0.5})
        );
    }

    #[test]
    fn summary_json_of_a_plain_run_has_every_key_with_null_for_phases_not_run() {
        let args = Args::try_parse_from(["wiber-loadgen"]).unwrap();
        let mut h = Headline::default();
        h.post(&args, &PostOutcome::default(), Duration::from_secs(1));
        h.idle_streams(&Opening::default());
        h.limits(
            &args,
            0.0,
            None,
            &Cpu {
                broker_ms_per_message: None,
            },
        );
        let v = h.to_json(&[]);
        assert_eq!(v["ok"], true);
        assert_eq!(v["post"]["latency_ms"], Value::Null);
        for key in [
            "store_rate_msg_per_s",
            "end_to_end",
            "idle_streams",
            "broker_limit",
            "store_limit",
        ] {
            assert_eq!(v[key], Value::Null, "{key}");
        }
        assert_eq!(v["push"], json!({"under_load": null, "idle": null}));
    }
}
