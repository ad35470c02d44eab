//! Command-line options, each with a default and a bound, so every loop the run makes is bounded
//! in count and time. A value out of bounds is a usage error: clap names the option and exits 2.

use std::ops::RangeInclusive;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use clap::builder::{RangedU64ValueParser, TypedValueParser};

use crate::http::Target;

const ABOUT: &str = "Load-tests a running Wiber on this machine (loopback addresses only).";

// clap is built without `wrap_help`, so these lines are printed as broken here.
const LONG_ABOUT: &str = "\
Load-tests a running Wiber on this machine (loopback addresses only).

Phases: (1) N POSTs at fixed concurrency over K conversations; (2) waits until the consumer has
stored them all; (3) M single messages, one at a time, each timed from POST until the consumer's
counter moves (stored) and until GET /messages/count sees it (visible).

With --push-receivers, recipients hold push streams: a probe message is POSTed to one of them every
--push-interval-ms during phase 1, and --push-probes more one at a time after the drain, each timed
until its event arrives. --idle-streams holds that many more streams, of users sent nothing,
through the whole run. Prints a table (and with --summary, writes its headline figures as JSON);
exits 1 if any POST failed, any deadline passed or any stream ended early, 2 on bad options.";

// An option given twice takes its last value: dev/bench.sh passes --api and --consumer-metrics
// ahead of the caller's own options, which may name them again.
#[derive(Debug, Clone, Parser)]
#[command(name = "wiber-loadgen", about = ABOUT, long_about = LONG_ABOUT, args_override_self = true)]
pub struct Args {
    /// The API under load
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8000", value_parser = Target::parse)]
    pub api: Target,
    /// The API's Prometheus endpoint, on its admin port (API_ADMIN_PORT)
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8002/metrics", value_parser = Target::parse)]
    pub api_metrics: Target,
    /// The consumer's Prometheus endpoint
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8001/metrics", value_parser = Target::parse)]
    pub consumer_metrics: Target,
    /// POSTs in phase 1
    #[arg(long, value_name = "N", default_value = "50000", value_parser = count(1..=10_000_000))]
    pub messages: usize,
    /// Requests in flight, one keep-alive connection each
    #[arg(long, value_name = "C", default_value = "64", value_parser = count(1..=1024))]
    pub concurrency: usize,
    /// User pairs the messages are spread over
    #[arg(long, value_name = "K", default_value = "100", value_parser = count(1..=100_000))]
    pub conversations: usize,
    /// Length of each message's content (1-5000)
    #[arg(long, value_name = "L", default_value = "100", value_parser = count(1..=5000))]
    pub content_chars: usize,
    /// Paces phase 1 at this many POSTs a second instead of as fast as the API answers
    #[arg(long, value_name = "R", value_parser = RangedU64ValueParser::<u64>::new().range(1..=1_000_000))]
    pub rate: Option<u64>,
    /// Single messages timed end to end (0 skips the phase)
    #[arg(long, value_name = "M", default_value = "200", value_parser = count(0..=100_000))]
    pub e2e_messages: usize,
    /// User-name prefix, so runs never mix [default: lg<unix time>-<pid>]
    #[arg(long, value_name = "P", default_value_t = default_prefix(), hide_default_value = true, value_parser = prefix)]
    pub prefix: String,
    /// One request's deadline
    #[arg(long = "request-timeout-ms", value_name = "T", default_value = "30000", value_parser = millis(100..=600_000))]
    pub request_timeout: Duration,
    /// Phase 1 as a whole
    #[arg(long = "post-deadline-s", value_name = "T", default_value = "600", value_parser = secs(1..=86_400))]
    pub post_deadline: Duration,
    /// For the consumer to store phase 1's messages
    #[arg(long = "drain-deadline-s", value_name = "T", default_value = "600", value_parser = secs(1..=86_400))]
    pub drain_deadline: Duration,
    /// For one end-to-end message to be stored and visible
    #[arg(long = "visible-deadline-ms", value_name = "T", default_value = "30000", value_parser = millis(10..=600_000))]
    pub visible_deadline: Duration,
    /// Between visibility polls
    #[arg(long = "poll-interval-ms", value_name = "T", default_value = "5", value_parser = millis(1..=10_000))]
    pub poll_interval: Duration,
    /// Between /metrics scrapes (store rate, peak RSS)
    #[arg(long = "sample-interval-ms", value_name = "T", default_value = "100", value_parser = millis(10..=60_000))]
    pub sample_interval: Duration,
    /// Recipients holding a push stream (GET /messages/stream) for probe messages (0: no push phase)
    #[arg(long, value_name = "P", default_value = "0", value_parser = count(0..=1000))]
    pub push_receivers: usize,
    /// Probes go to one group of this many members instead, made for the run; every member but
    /// the sender holds a stream (0: probes go to --push-receivers pairs)
    #[arg(long, value_name = "N", default_value = "0", value_parser = count(0..=256))]
    pub push_group: usize,
    /// Between probe messages during phase 1
    #[arg(long = "push-interval-ms", value_name = "T", default_value = "20", value_parser = millis(1..=60_000))]
    pub push_interval: Duration,
    /// Probe messages on an idle system after the drain, one at a time
    #[arg(long, value_name = "M", default_value = "200", value_parser = count(0..=100_000))]
    pub push_probes: usize,
    /// Streams of users sent nothing, held open through the run: what a connection costs the API
    #[arg(long, value_name = "N", default_value = "0", value_parser = count(0..=100_000))]
    pub idle_streams: usize,
    // For processes without /metrics (Kafka, FerretDB), and for the API's and consumer's CPU time.
    /// Also report /proc CPU and RSS of this process; repeatable
    #[arg(long = "pid", value_name = "NAME=PID", value_parser = pid)]
    pub pids: Vec<(String, String)>,
    /// Send each user's bearer token, signed with this Ed25519 key (PEM), to an API with
    /// AUTH_MODE=jwt; without it, requests carry no token
    #[arg(long, value_name = "PEM")]
    pub token_key: Option<std::path::PathBuf>,
    /// The broker's limit measured in the same run (dev/bench.sh runs Kafka's ProducerPerformance
    /// first): its records per second and the broker's CPU milliseconds per record, so the report
    /// gives Wiber's figures as ratios to it
    #[arg(long, value_name = "RATE:CPU_MS", value_parser = limit)]
    pub limit: Option<Limit>,
    /// The store's raw insert rate in the same run (documents per second, in the consumer's
    /// batches: wiber-readbench raw-insert), so the report gives the consumer's share of it
    #[arg(long, value_name = "DOCS_PER_S", value_parser = positive)]
    pub store_limit: Option<f64>,
    /// Also writes the run's headline figures to this file as JSON: POST throughput and latency,
    /// store rate, end-to-end and push latency, idle streams' memory, ratios to the limits.
    /// Created before the run; written at its end, failed or not; left empty by an error that
    /// stops the run
    #[arg(long, value_name = "FILE")]
    pub summary: Option<std::path::PathBuf>,
    /// The signing key's id in the issuer's JWKS
    #[arg(long, value_name = "KID", default_value = "wiber-dev-1")]
    pub token_kid: String,
    /// The tokens' `iss` (the API's AUTH_ISSUER)
    #[arg(long, value_name = "ISS", default_value = "wiber-dev")]
    pub token_issuer: String,
    /// The tokens' `aud` (the API's AUTH_AUDIENCE)
    #[arg(long, value_name = "AUD", default_value = "wiber")]
    pub token_audience: String,
}

fn count(bounds: RangeInclusive<u64>) -> impl TypedValueParser<Value = usize> {
    RangedU64ValueParser::<usize>::new().range(bounds)
}

fn millis(bounds: RangeInclusive<u64>) -> impl TypedValueParser<Value = Duration> {
    RangedU64ValueParser::<u64>::new()
        .range(bounds)
        .map(Duration::from_millis)
}

fn secs(bounds: RangeInclusive<u64>) -> impl TypedValueParser<Value = Duration> {
    RangedU64ValueParser::<u64>::new()
        .range(bounds)
        .map(Duration::from_secs)
}

fn default_prefix() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("lg{secs}-{}", std::process::id())
}

fn prefix(raw: &str) -> Result<String, String> {
    // User names are 1-50 of [A-Za-z0-9._-]; the longest made here is "<prefix>-e99999-a".
    let valid = (1..=32).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if valid {
        Ok(raw.to_owned())
    } else {
        Err("must be 1-32 characters of [A-Za-z0-9._-]".to_owned())
    }
}

/// What the broker does on its own on this machine: records per second, and its CPU per record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub records_per_second: f64,
    pub broker_cpu_ms_per_record: f64,
}

fn limit(raw: &str) -> Result<Limit, String> {
    raw.split_once(':')
        .and_then(|(rate, cpu)| {
            Some(Limit {
                records_per_second: positive(rate).ok()?,
                broker_cpu_ms_per_record: positive(cpu).ok()?,
            })
        })
        .ok_or_else(|| "must be RATE:CPU_MS, two positive numbers, e.g. 45000:0.02".to_owned())
}

fn positive(raw: &str) -> Result<f64, String> {
    raw.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| "must be a positive number".to_owned())
}

fn pid(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .filter(|(label, pid)| !label.is_empty() && pid.parse::<u32>().is_ok())
        .map(|(label, pid)| (label.to_owned(), pid.to_owned()))
        .ok_or_else(|| "wants NAME=PID, PID a number".to_owned())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(["wiber-loadgen"].iter().chain(args))
    }

    #[test]
    fn declarations_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_and_overrides() {
        let a = parse(&[]).unwrap();
        assert_eq!(
            (a.messages, a.concurrency, a.conversations),
            (50_000, 64, 100)
        );
        assert_eq!((a.content_chars, a.e2e_messages), (100, 200));
        assert_eq!(a.api.addr.port(), 8000);
        assert_eq!(a.api_metrics.addr.port(), 8002);
        assert_eq!(a.api_metrics.path, "/metrics");
        assert_eq!(a.consumer_metrics.addr.port(), 8001);
        assert_eq!(
            (a.request_timeout, a.post_deadline, a.drain_deadline),
            (
                Duration::from_secs(30),
                Duration::from_secs(600),
                Duration::from_secs(600)
            )
        );
        assert_eq!(
            (a.visible_deadline, a.poll_interval, a.sample_interval),
            (
                Duration::from_secs(30),
                Duration::from_millis(5),
                Duration::from_millis(100)
            )
        );
        assert!(a.prefix.starts_with("lg") && prefix(&a.prefix).is_ok());
        assert!(a.pids.is_empty());
        assert_eq!((a.limit, a.store_limit, a.summary), (None, None, None));
        let summary = parse(&["--summary", "out/run.json"]).unwrap().summary;
        assert_eq!(summary, Some("out/run.json".into()));
        assert_eq!((a.rate, a.push_receivers, a.idle_streams), (None, 0, 0));
        let limited = parse(&["--limit", "45000.5:0.021"]).unwrap().limit.unwrap();
        assert_eq!(
            (limited.records_per_second, limited.broker_cpu_ms_per_record),
            (45000.5, 0.021)
        );
        assert_eq!(
            (a.push_interval, a.push_probes),
            (Duration::from_millis(20), 200)
        );
        let a = parse(&[
            "--messages=10",
            "--api",
            "http://127.0.0.1:31000",
            "--api-metrics=http://127.0.0.1:31002/metrics",
            "--pid",
            "kafka=42",
            "--pid=ferretdb=43",
        ])
        .unwrap();
        assert_eq!(a.messages, 10);
        assert_eq!(a.api_metrics.addr.port(), 31002);
        assert_eq!(
            a.pids,
            [
                ("kafka".to_owned(), "42".to_owned()),
                ("ferretdb".to_owned(), "43".to_owned())
            ]
        );
        let a = parse(&["--api=http://127.0.0.1:1", "--api=http://127.0.0.1:2"]).unwrap();
        assert_eq!(a.api.addr.port(), 2);
    }

    #[test]
    fn bounds_are_inclusive_and_out_of_bounds_names_the_option() {
        let bounds: [(&str, i64, i64); 16] = [
            ("messages", 1, 10_000_000),
            ("concurrency", 1, 1024),
            ("conversations", 1, 100_000),
            ("content-chars", 1, 5000),
            ("e2e-messages", 0, 100_000),
            ("request-timeout-ms", 100, 600_000),
            ("post-deadline-s", 1, 86_400),
            ("drain-deadline-s", 1, 86_400),
            ("visible-deadline-ms", 10, 600_000),
            ("poll-interval-ms", 1, 10_000),
            ("sample-interval-ms", 10, 60_000),
            ("rate", 1, 1_000_000),
            ("push-receivers", 0, 1000),
            ("push-interval-ms", 1, 60_000),
            ("push-probes", 0, 100_000),
            ("idle-streams", 0, 100_000),
        ];
        for (name, min, max) in bounds {
            for inside in [min, max] {
                let arg = format!("--{name}={inside}");
                assert!(parse(&[&arg]).is_ok(), "{arg}");
            }
            for outside in [min - 1, max + 1] {
                let arg = format!("--{name}={outside}");
                let e = parse(&[&arg]).err().unwrap_or_else(|| panic!("{arg}"));
                assert_eq!(e.exit_code(), 2, "{arg}");
                assert!(e.to_string().contains(&format!("--{name}")), "{arg}: {e}");
            }
        }
    }

    #[test]
    fn refuses_bad_options() {
        let too_long = "p".repeat(33);
        for bad in [
            &["--messages", "0"][..],
            &["--concurrency"],
            &["--nope", "1"],
            &["--prefix", "a b"],
            &["--prefix", ""],
            &["--prefix", &too_long],
            &["--pid", "kafka"],
            &["--pid", "=42"],
            &["--pid", "kafka=x"],
            &["--limit", "45000"],
            &["--limit", "0:0.02"],
            &["--limit", "45000:-1"],
            &["--limit", "NaN:1"],
            &["--store-limit", "0"],
            &["--store-limit", "fast"],
            &["--api", "http://192.168.1.1:8000"],
            &["stray"],
        ] {
            let e = parse(bad).err().unwrap_or_else(|| panic!("{bad:?}"));
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
        let help = parse(&["--help"]).err().map(|e| (e.kind(), e.exit_code()));
        assert_eq!(help, Some((ErrorKind::DisplayHelp, 0)));
    }
}
