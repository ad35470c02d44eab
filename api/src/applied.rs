//! Waiting for the consumer to apply what a request produced (a membership change, an edit, a
//! delete), so the answer can say what is now stored: polled with a deadline, after which the
//! request is answered 202 (it will apply, in Kafka's order).

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a change waits for the consumer before it is answered 202.
pub const APPLY_WAIT: Duration = Duration::from_secs(5);
const APPLY_POLL: Duration = Duration::from_millis(20);

/// The first `Some` that `check` gives within `APPLY_WAIT`; `None` if it is not applied by then.
pub async fn applied<T, F, Fut>(mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + APPLY_WAIT;
    while Instant::now() < deadline {
        if let Some(done) = check().await {
            return Some(done);
        }
        tokio::time::sleep(APPLY_POLL).await;
    }
    None
}
