//! Leader election through a `coordination.k8s.io` Lease, so two operator replicas can run and
//! only one reconciles. The holder renews every `renew`; a lease not renewed for `duration` may be
//! taken over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use tokio::sync::watch;

pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

impl LeaderElector {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration,
        }
    }

    fn spec(&self, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration.as_secs() as i32),
            acquire_time: acquired.or_else(|| Some(MicroTime(now()))),
            renew_time: Some(MicroTime(now())),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Takes or renews the lease; `Ok(true)` while this replica holds it. Conflicting writers are
    /// resolved by the API server's resourceVersion check: only one replace succeeds.
    pub async fn try_acquire(&self) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(0, None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref();
        let ours = holder == Some(self.identity.as_str());
        let expired = spec.renew_time.as_ref().is_none_or(|t| {
            let ttl = spec
                .lease_duration_seconds
                .unwrap_or(self.duration.as_secs() as i32);
            now().as_second() - t.0.as_second() > i64::from(ttl)
        });
        if !ours && holder.is_some() && !expired {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
        let acquired = if ours { spec.acquire_time } else { None };
        lease.spec = Some(self.spec(transitions, acquired));
        match self
            .api
            .replace(&lease.name_any(), &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up at shutdown so a standby takes over at once.
    pub async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await {
            let ours = lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref())
                == Some(self.identity.as_str());
            if ours {
                if let Some(spec) = lease.spec.as_mut() {
                    spec.holder_identity = None;
                    spec.renew_time = None;
                }
                let _ = self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await;
            }
        }
    }
}

impl LeaderElector {
    fn renew_every(&self) -> Duration {
        self.duration / 3
    }

    /// Waits until this replica holds the lease; `false` when `stop` turned true first.
    pub async fn acquire(&self, mut stop: watch::Receiver<bool>) -> bool {
        tracing::info!(lease = %self.name, identity = %self.identity, "waiting to become leader");
        loop {
            match self.try_acquire().await {
                Ok(true) => {
                    tracing::info!("leading");
                    return true;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "lease check failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.renew_every()) => {}
                _ = stop.wait_for(|s| *s) => return false,
            }
        }
    }

    /// Renews the lease in the background until `stop`; the receiver turns true once the lease
    /// is lost (taken by another replica, or not renewed within its duration), when reconciling
    /// must stop at once.
    pub fn hold(self: Arc<Self>, mut stop: watch::Receiver<bool>) -> watch::Receiver<bool> {
        let (lost_tx, lost) = watch::channel(false);
        tokio::spawn(async move {
            let mut last_renewal = Instant::now();
            loop {
                tokio::select! {
                    () = tokio::time::sleep(self.renew_every()) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                match self.try_acquire().await {
                    Ok(true) => last_renewal = Instant::now(),
                    Ok(false) => {
                        tracing::error!("another replica holds the lease now");
                        let _ = lost_tx.send(true);
                        return;
                    }
                    Err(e) if last_renewal.elapsed() > self.duration => {
                        tracing::error!(error = %e, "could not renew the lease in time");
                        let _ = lost_tx.send(true);
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "lease renewal failed; retrying"),
                }
            }
        });
        lost
    }
}
