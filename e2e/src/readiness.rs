//! Readiness recorded through a fault: a task polls a `/health/readiness` URL every 100 ms until
//! stopped, so a test can assert that readiness told the truth the whole time, not at one instant.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

const EVERY: Duration = Duration::from_millis(100);
/// A readiness answer that takes longer than this counts as not ready, as a kubelet probe would.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct ReadinessRecorder {
    stop: watch::Sender<bool>,
    samples: Arc<Mutex<Vec<(Instant, bool)>>>,
    task: JoinHandle<()>,
}

/// What the samples said, in order.
#[derive(Debug)]
pub struct Readiness {
    pub samples: Vec<(Instant, bool)>,
}

impl ReadinessRecorder {
    pub fn start(http: reqwest::Client, url: String) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let samples = Arc::new(Mutex::new(Vec::new()));
        let recorded = samples.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            loop {
                tokio::select! {
                    _ = stopped.changed() => return,
                    _ = tick.tick() => {}
                }
                let ready = matches!(
                    http.get(&url).timeout(PROBE_TIMEOUT).send().await,
                    Ok(r) if r.status() == 200
                );
                recorded
                    .lock()
                    .expect("samples")
                    .push((Instant::now(), ready));
            }
        });
        Self {
            stop,
            samples,
            task,
        }
    }

    /// Records the API's readiness (its admin port).
    pub fn api(wiber: &crate::stack::Wiber) -> Self {
        Self::start(
            wiber.http.clone(),
            format!("{}/health/readiness", wiber.admin_url),
        )
    }

    /// Records a consumer's readiness.
    pub fn consumer(http: &reqwest::Client, consumer: &crate::stack::ConsumerProcess) -> Self {
        Self::start(http.clone(), format!("{}/health/readiness", consumer.url))
    }

    pub async fn finish(self) -> Readiness {
        let _ = self.stop.send(true);
        self.task.await.expect("the readiness recorder");
        let samples = std::mem::take(&mut *self.samples.lock().expect("samples"));
        Readiness { samples }
    }

    /// Finishes once the latest sample says ready, failing the test after `within`.
    pub async fn finish_ready(self, within: Duration) -> Readiness {
        let latest_ready = || {
            let samples = self.samples.lock().expect("samples");
            samples
                .last()
                .is_some_and(|(_, ready)| *ready)
                .then_some(())
        };
        crate::wait::eventually("readiness to come back", within, || async {
            latest_ready()
        })
        .await;
        // A probe in flight when the recorder stops still lands; what it says comes after the
        // moment readiness was seen back, and is not part of this record.
        let seen = Instant::now();
        let mut readiness = self.finish().await;
        readiness.samples.retain(|(at, _)| *at <= seen);
        readiness
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

    /// Panics unless every sample said ready: `who` could do its job throughout.
    pub fn assert_always_ready(&self, who: &str) {
        assert!(!self.samples.is_empty(), "{who}: no readiness samples");
        assert_eq!(
            self.unready(),
            0,
            "{who} said not ready: {}",
            self.summary()
        );
    }

    /// Panics unless readiness went false and came back: `who` said when it could not do its job.
    pub fn assert_dipped_and_recovered(&self, who: &str) {
        assert!(
            self.dipped_and_recovered(),
            "{who} never said it could not work, or never recovered: {}",
            self.summary()
        );
    }

    /// Panics unless the first and the last sample said ready: whatever the fault did to
    /// readiness in between, `who` says it can work once the fault is over.
    pub fn assert_ready_before_and_after(&self, who: &str) {
        let ends = (self.samples.first(), self.samples.last());
        assert!(
            matches!(ends, (Some((_, true)), Some((_, true)))),
            "{who} not ready before or after the fault: {}",
            self.summary()
        );
    }

    /// Samples taken between `from` and `to`, and how many of them said not ready.
    pub fn between(&self, from: Instant, to: Instant) -> (usize, usize) {
        let window: Vec<bool> = self
            .samples
            .iter()
            .filter(|(at, _)| *at >= from && *at <= to)
            .map(|(_, ready)| *ready)
            .collect();
        (window.len(), window.iter().filter(|r| !**r).count())
    }

    /// How many samples, and when (seconds from the first) each unready one was taken.
    pub fn summary(&self) -> String {
        let start = self.samples.first().map(|(at, _)| *at);
        let unready: Vec<String> = self
            .samples
            .iter()
            .filter(|(_, ready)| !ready)
            .map(|(at, _)| format!("{:.1}", (*at - start.unwrap_or(*at)).as_secs_f64()))
            .collect();
        let last = self.samples.last().zip(start);
        let span = last.map_or(0.0, |((at, _), start)| (*at - start).as_secs_f64());
        format!(
            "{} samples over {span:.1} s, {} not ready (at {} s)",
            self.samples.len(),
            unready.len(),
            unready.join(", ")
        )
    }
}
