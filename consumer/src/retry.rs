//! Retrying what depends on the store or the broker: a pause that doubles up to a limit, until it
//! works or the process is asked to stop.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

/// Runs `attempt` until it succeeds, calling `failed` after each failure; `None` once `stop` is true.
pub async fn retry<T, E, F, Fut>(
    what: &str,
    backoff: Backoff,
    stop: &mut watch::Receiver<bool>,
    mut failed: impl FnMut(),
    mut attempt: F,
) -> Option<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut pause = backoff.first;
    loop {
        match attempt().await {
            Ok(v) => return Some(v),
            Err(e) => {
                failed();
                tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "{what} failed; retrying");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|stopped| *stopped) => return None,
        }
        pause = (pause * 2).min(backoff.max);
    }
}
