//! Command-line options: `--name value` or `--name=value`, each with a default and a bound, so
//! every loop the run makes is bounded in count and time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::http::Target;

pub struct Args {
    pub api: Target,
    pub api_metrics: Target,
    pub consumer_metrics: Target,
    pub messages: usize,
    pub concurrency: usize,
    pub conversations: usize,
    pub content_chars: usize,
    pub e2e_messages: usize,
    pub prefix: String,
    pub request_timeout: Duration,
    pub post_deadline: Duration,
    pub drain_deadline: Duration,
    pub visible_deadline: Duration,
    pub poll_interval: Duration,
    pub sample_interval: Duration,
    /// Extra processes (Kafka, FerretDB) whose CPU time and memory are read from /proc.
    pub pids: Vec<(String, String)>,
}

pub const USAGE: &str = "\
wiber-loadgen: load-tests a running Wiber on this machine (loopback addresses only).

Phases: (1) N POSTs at fixed concurrency over K conversations; (2) waits until the consumer has
stored them all; (3) M single messages, one at a time, each timed from POST until the consumer's
counter moves (stored) and until GET /messages/count sees it (visible). Prints a table; exits 1 if
any POST failed or any deadline passed, 2 on bad options.

Options (default):
  --api URL                   http://127.0.0.1:8000
  --api-metrics URL           <api>/metrics
  --consumer-metrics URL      http://127.0.0.1:8001/metrics
  --messages N                50000     POSTs in phase 1
  --concurrency C             64        requests in flight, one keep-alive connection each
  --conversations K           100       user pairs the messages are spread over
  --content-chars L           100       length of each message's content (1-5000)
  --e2e-messages M            200       single messages timed end to end (0 skips the phase)
  --prefix P                  lg<unix time>-<pid>   user-name prefix, so runs never mix
  --request-timeout-ms T      30000     one request's deadline
  --post-deadline-s T         600       phase 1 as a whole
  --drain-deadline-s T        600       for the consumer to store phase 1's messages
  --visible-deadline-ms T     30000     for one end-to-end message to be stored and visible
  --poll-interval-ms T        5         between visibility polls
  --sample-interval-ms T      100       between /metrics scrapes (store rate, peak RSS)
  --pid NAME=PID              (none)    also report /proc CPU and RSS of this process; repeatable
  --help
";

fn number(name: &str, raw: &str, min: u64, max: u64) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!(
            "--{name} must be an integer from {min} to {max} (got '{raw}')"
        )),
    }
}

fn default_prefix() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("lg{secs}-{}", std::process::id())
}

impl Args {
    /// `Ok(None)` when help was asked for.
    pub fn parse(raw: impl IntoIterator<Item = String>) -> Result<Option<Self>, String> {
        let mut api = "http://127.0.0.1:8000".to_owned();
        let mut api_metrics = None;
        let mut consumer_metrics = "http://127.0.0.1:8001/metrics".to_owned();
        let (mut messages, mut concurrency, mut conversations) = (50_000, 64, 100);
        let (mut content_chars, mut e2e_messages) = (100, 200);
        let mut prefix = default_prefix();
        let (mut request_ms, mut post_s, mut drain_s) = (30_000, 600, 600);
        let (mut visible_ms, mut poll_ms, mut sample_ms) = (30_000, 5, 100);
        let mut pids = Vec::new();

        let mut raw = raw.into_iter();
        while let Some(arg) = raw.next() {
            if arg == "--help" || arg == "-h" {
                return Ok(None);
            }
            let Some(option) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument '{arg}' (see --help)"));
            };
            let (name, value) = match option.split_once('=') {
                Some((n, v)) => (n.to_owned(), v.to_owned()),
                None => {
                    let v = raw
                        .next()
                        .ok_or_else(|| format!("--{option} needs a value"))?;
                    (option.to_owned(), v)
                }
            };
            let n = |min, max| number(&name, &value, min, max);
            match name.as_str() {
                "api" => api = value,
                "api-metrics" => api_metrics = Some(value),
                "consumer-metrics" => consumer_metrics = value,
                "messages" => messages = n(1, 10_000_000)?,
                "concurrency" => concurrency = n(1, 1024)?,
                "conversations" => conversations = n(1, 100_000)?,
                "content-chars" => content_chars = n(1, 5000)?,
                "e2e-messages" => e2e_messages = n(0, 100_000)?,
                "prefix" => prefix = value,
                "request-timeout-ms" => request_ms = n(100, 600_000)?,
                "post-deadline-s" => post_s = n(1, 86_400)?,
                "drain-deadline-s" => drain_s = n(1, 86_400)?,
                "visible-deadline-ms" => visible_ms = n(10, 600_000)?,
                "poll-interval-ms" => poll_ms = n(1, 10_000)?,
                "sample-interval-ms" => sample_ms = n(10, 60_000)?,
                "pid" => {
                    let (label, pid) = value
                        .split_once('=')
                        .filter(|(l, p)| !l.is_empty() && p.parse::<u32>().is_ok())
                        .ok_or_else(|| format!("--pid wants NAME=PID (got '{value}')"))?;
                    pids.push((label.to_owned(), pid.to_owned()));
                }
                _ => return Err(format!("unknown option --{name} (see --help)")),
            }
        }

        // User names are 1-50 of [A-Za-z0-9._-]; the longest made here is "<prefix>-e99999-a".
        if prefix.is_empty()
            || prefix.len() > 32
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(format!(
                "--prefix must be 1-32 characters of [A-Za-z0-9._-] (got '{prefix}')"
            ));
        }
        let api = Target::parse(&api)?;
        let api_metrics = match api_metrics {
            Some(url) => Target::parse(&url)?,
            None => api.with_path("/metrics"),
        };
        Ok(Some(Self {
            api,
            api_metrics,
            consumer_metrics: Target::parse(&consumer_metrics)?,
            messages: messages as usize,
            concurrency: concurrency as usize,
            conversations: conversations as usize,
            content_chars: content_chars as usize,
            e2e_messages: e2e_messages as usize,
            prefix,
            request_timeout: Duration::from_millis(request_ms),
            post_deadline: Duration::from_secs(post_s),
            drain_deadline: Duration::from_secs(drain_s),
            visible_deadline: Duration::from_millis(visible_ms),
            poll_interval: Duration::from_millis(poll_ms),
            sample_interval: Duration::from_millis(sample_ms),
            pids,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        Args::parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn defaults_and_overrides() {
        let a = parse(&[]).unwrap().unwrap();
        assert_eq!(
            (a.messages, a.concurrency, a.conversations),
            (50_000, 64, 100)
        );
        assert_eq!(a.api_metrics.path, "/metrics");
        assert_eq!(a.consumer_metrics.addr.port(), 8001);
        let a = parse(&[
            "--messages=10",
            "--api",
            "http://127.0.0.1:38000",
            "--pid",
            "kafka=42",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.messages, 10);
        assert_eq!(a.api_metrics.addr.port(), 38000);
        assert_eq!(a.pids, [("kafka".to_owned(), "42".to_owned())]);
    }

    #[test]
    fn refuses_bad_options() {
        for bad in [
            &["--messages", "0"][..],
            &["--concurrency"],
            &["--nope", "1"],
            &["--prefix", "a b"],
            &["--pid", "kafka"],
            &["--api", "http://192.168.1.1:8000"],
            &["stray"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&["--help"]).unwrap().is_none());
    }
}
