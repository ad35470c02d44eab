//! What the processes under test say about themselves: Prometheus text from their /metrics, and
//! for processes without metrics (Kafka, FerretDB) the kernel's view in /proc.

use std::time::Duration;

use hyper::Method;

use crate::http::{Conn, Error};

pub const STORED_TOTAL: &str = "wiber_consumer_messages_stored_total";
pub const RSS_BYTES: &str = "process_resident_memory_bytes";
pub const PUSH_STREAMS: &str = "wiber_api_push_streams";
/// A scrape is a small read on loopback: one this slow is reported as failed rather than waited for.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// The sum of every sample of `name` (an unlabelled metric has one), or `None` when absent.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        // `name 12` or `name{labels} 12`, but not `name_bucket ...` or another metric sharing the prefix.
        let value = if rest.starts_with(' ') {
            rest
        } else if rest.starts_with('{') {
            rest.rsplit_once('}').map_or("", |(_, v)| v)
        } else {
            continue;
        };
        if let Some(v) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// One scrape of a /metrics endpoint, reduced to the figures the report uses.
/// CPU time is not taken from here: the Rust client's process_cpu_seconds_total counts whole
/// seconds, too coarse for a run of a minute; /proc gives hundredths.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scrape {
    pub rss_bytes: Option<f64>,
    pub stored_total: Option<f64>,
    /// The API's open push streams.
    pub push_streams: Option<f64>,
}

pub async fn scrape(conn: &mut Conn, timeout: Duration) -> Result<Scrape, Error> {
    let path = conn.target().path.clone();
    let (status, body) = conn.request(Method::GET, &path, None, timeout).await?;
    if !status.is_success() {
        return Err(format!("{path} answered {status}").into());
    }
    let text = std::str::from_utf8(&body)?;
    Ok(Scrape {
        rss_bytes: metric(text, RSS_BYTES),
        stored_total: metric(text, STORED_TOTAL),
        push_streams: metric(text, PUSH_STREAMS),
    })
}

/// The consumer's count of messages it has stored.
pub async fn stored_total(conn: &mut Conn) -> Result<f64, Error> {
    scrape(conn, SCRAPE_TIMEOUT)
        .await?
        .stored_total
        .ok_or_else(|| format!("no {STORED_TOTAL}").into())
}

/// Linux reports /proc CPU times in USER_HZ ticks, fixed at 100 on x86 and Arm. Asking
/// sysconf(_SC_CLK_TCK) would need libc and unsafe code, which the workspace forbids.
const USER_HZ: f64 = 100.0;

/// CPU time and memory of a process as /proc shows them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcStat {
    /// User plus system time of all its threads, including those that have exited.
    pub cpu_seconds: f64,
    pub rss_bytes: f64,
    /// The kernel's high-water mark of the resident set since the process started.
    pub peak_rss_bytes: f64,
}

/// A process's or thread's name and user plus system time in seconds, from its `stat` line.
pub fn parse_stat(stat: &str) -> Option<(String, f64)> {
    // The name (field 2) may hold spaces and parentheses; the fixed fields follow its last ')'.
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; `fields` starts at field 3.
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((name, (ticks(11)? + ticks(12)?) / USER_HZ))
}

/// `pid` is a number or `self`.
pub fn proc_stat(pid: &str) -> Result<ProcStat, String> {
    let read = |file: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/{file}"))
            .map_err(|e| format!("/proc/{pid}/{file}: {e}"))
    };
    let stat = read("stat")?;
    let Some((_, cpu_seconds)) = parse_stat(&stat) else {
        return Err(format!("/proc/{pid}/stat: unexpected format"));
    };
    let status = read("status")?;
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v * 1024.0)
            .ok_or_else(|| format!("/proc/{pid}/status: no {key}"))
    };
    Ok(ProcStat {
        cpu_seconds,
        rss_bytes: kib("VmRSS:")?,
        peak_rss_bytes: kib("VmHWM:")?,
    })
}

/// CPU time the whole machine spent busy since boot, over all cores: the share the processes under
/// test did not use tells how much else was running during a measurement.
pub fn machine_busy_seconds() -> Result<f64, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    // user nice system idle iowait irq softirq steal ...; guest time is already inside user.
    if ticks.len() < 8 {
        return Err("/proc/stat: unexpected format".to_owned());
    }
    let busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7];
    Ok(busy / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP wiber_consumer_messages_stored_total Messages newly written to MongoDB
# TYPE wiber_consumer_messages_stored_total counter
wiber_consumer_messages_stored_total 50123
wiber_consumer_messages_stored_total_extra 7
process_resident_memory_bytes 2.1504e7
wiber_consumer_lag{topic=\"t\",partition=\"0\"} 3
wiber_consumer_lag{topic=\"t\",partition=\"1\"} 4
";

    #[test]
    fn reads_unlabelled_and_sums_labelled_samples() {
        assert_eq!(metric(TEXT, STORED_TOTAL), Some(50123.0));
        assert_eq!(metric(TEXT, RSS_BYTES), Some(21_504_000.0));
        assert_eq!(metric(TEXT, "wiber_consumer_lag"), Some(7.0));
        assert_eq!(metric(TEXT, "process_cpu_seconds_total"), None);
    }

    #[test]
    fn reads_its_own_process() {
        let me = proc_stat("self").unwrap();
        assert!(me.rss_bytes > 0.0 && me.peak_rss_bytes >= me.rss_bytes);
        assert!(me.cpu_seconds >= 0.0);
        assert!(machine_busy_seconds().unwrap() >= me.cpu_seconds);
    }
}
