//! Waiting for the consumer to store what was produced, and its store rate meanwhile, read from its
//! own counter of stored messages.

use std::time::{Duration, Instant};

const STORED: &str = "wiber_consumer_messages_stored_total";

async fn stored(http: &reqwest::Client, metrics: &str) -> Option<u64> {
    let text = http.get(metrics).send().await.ok()?.text().await.ok()?;
    text.lines()
        .find(|l| l.starts_with(STORED) && l[STORED.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
}

/// Polls until the consumer has stored `target` messages in all, failing after `within` without
/// progress; prints the rate from the first stored message of this wait to the last.
pub async fn wait(metrics: &str, target: u64, within: Duration) -> Result<f64, String> {
    let http = reqwest::Client::new();
    let initial = stored(&http, metrics).await.unwrap_or(0);
    let mut first: Option<(Instant, u64)> = None;
    let mut last_progress = (Instant::now(), initial);
    loop {
        let now = Instant::now();
        let count = stored(&http, metrics).await.unwrap_or(last_progress.1);
        if count > last_progress.1 {
            first.get_or_insert((last_progress.0, last_progress.1));
            last_progress = (now, count);
        }
        if count >= target {
            let (since, from) = first.unwrap_or((now, initial));
            let took = now.duration_since(since).as_secs_f64().max(0.001);
            let rate = (count - from) as f64 / took;
            println!(
                "consumer stored {} messages in {took:.1} s: {rate:.0} messages/s (total {count})",
                count - from
            );
            return Ok(rate);
        }
        if now.duration_since(last_progress.0) > within {
            return Err(format!(
                "the consumer stored {count} of {target}, with no progress for {within:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
