//! Readiness recorded through a fault: a task polls a `/health/readiness` URL every 100 ms until
//! stopped, so a test can assert that readiness told the truth the whole time, not at one instant.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

const EVERY: Duration = Duration::from_millis(100);
/// A readiness answer that takes longer than this counts as not ready, as a kubelet probe would.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct ReadinessRecorder {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<(Instant, bool)>>,
}

/// What the samples said, in order.
#[derive(Debug)]
pub struct Readiness {
    pub samples: Vec<(Instant, bool)>,
}

impl ReadinessRecorder {
    pub fn start(http: reqwest::Client, url: String) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(EVERY);
            loop {
                tokio::select! {
                    _ = stopped.changed() => return samples,
                    _ = tick.tick() => {}
                }
                let ready = matches!(
                    http.get(&url).timeout(PROBE_TIMEOUT).send().await,
                    Ok(r) if r.status() == 200
                );
                samples.push((Instant::now(), ready));
            }
        });
        Self { stop, task }
    }

    pub async fn finish(self) -> Readiness {
        let _ = self.stop.send(true);
        Readiness {
            samples: self.task.await.expect("the readiness recorder"),
        }
    }
}

impl Readiness {
    pub fn unready(&self) -> usize {
        self.samples.iter().filter(|(_, ready)| !ready).count()
    }

    /// Ready, then not ready at least once, then ready again at the end: the component said when
    /// it could not do its job, and when it could again.
    pub fn dipped_and_recovered(&self) -> bool {
        let first = self.samples.iter().position(|(_, r)| !r);
        matches!(
            (self.samples.first(), first, self.samples.last()),
            (Some((_, true)), Some(_), Some((_, true)))
        )
    }

    pub fn summary(&self) -> String {
        format!(
            "{} samples, {} not ready",
            self.samples.len(),
            self.unready()
        )
    }
}
