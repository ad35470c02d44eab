//! The controller. One reconcile runs five stages, each in its own module with typed input and
//! output: observe (the cluster, Secrets and Kafka lag) → scale (the consumer decision) → build
//! (`resources::desired`, pure) → apply (server-side apply and pruning) → status (conditions and
//! events, also by server-side apply).

mod apply;
mod error;
pub mod observe;
pub mod scale;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::controller::Action;
use kube::runtime::events::{EventType, Recorder, Reporter};
use kube::runtime::{Controller, watcher};
use kube::{Client, Resource, ResourceExt};

pub use error::Error;
use scale::Memory;

use crate::crd::WiberCluster;
use crate::metrics::Metrics;
use crate::resources::{self, Inputs, MANAGER};

pub struct Context {
    pub client: Client,
    pub metrics: Metrics,
    pub recorder: Recorder,
    pub lag_timeout: Duration,
    memory: Memory,
}

impl Context {
    pub fn new(client: Client, metrics: Metrics, identity: &str) -> Self {
        let reporter = Reporter {
            controller: MANAGER.to_owned(),
            instance: Some(identity.to_owned()),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            lag_timeout: Duration::from_secs(5),
            memory: Memory::default(),
        }
    }

    /// Forgets the scaling memory and metric series of WiberClusters that are gone.
    pub fn forget_deleted(&self, present: &[Arc<WiberCluster>]) {
        self.memory.forget_deleted(&self.metrics, present);
    }
}

/// The namespace and name of the WiberCluster being reconciled, and API handles within it.
pub struct Scope {
    pub client: Client,
    pub ns: String,
    pub name: String,
}

impl Scope {
    fn of(wc: &WiberCluster, client: &Client) -> Result<Self, Error> {
        Ok(Self {
            client: client.clone(),
            ns: wc.namespace().ok_or(Error::NoNamespace)?,
            name: wc.name_any(),
        })
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn dynamic(&self, resource: &ApiResource) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.ns, resource)
    }

    pub async fn crd_exists(&self, name: &str) -> bool {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        matches!(crds.get_opt(name).await, Ok(Some(_)))
    }
}

fn now_secs() -> u64 {
    jiff::Timestamp::now().as_second().max(0) as u64
}

pub async fn reconcile(wc: Arc<WiberCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let mut timer = ctx.metrics.reconcile_timer();
    let action = stages(&wc, &ctx).await?;
    timer.succeeded();
    Ok(action)
}

async fn stages(wc: &WiberCluster, ctx: &Context) -> Result<Action, Error> {
    let scope = Scope::of(wc, &ctx.client)?;
    if wc.reconciliation_paused() {
        tracing::info!(ns = %scope.ns, name = %scope.name, "reconciliation paused by annotation");
        let paused = status::paused(wc, Time(jiff::Timestamp::now()));
        status::write(&scope, &paused).await?;
        ctx.metrics
            .conditions(&scope.ns, &scope.name, &paused.conditions);
        // Removing the annotation is a change to the object, which triggers the next reconcile.
        return Ok(Action::await_change());
    }
    if wc.spec.api.auth.is_none() {
        // Stored before spec.api.auth was required: kept open rather than broken by an upgrade.
        tracing::warn!(ns = %scope.ns, name = %scope.name, "spec.api.auth is not set: the API is open (AUTH_MODE=none) until it names an issuer, or mode None");
    }
    let observation = observe::observe(wc, &scope, ctx.lag_timeout).await?;
    let scaling = scale::scale(
        wc,
        &scope,
        &observation,
        &ctx.memory,
        &ctx.metrics,
        now_secs(),
    );
    if let Some(event) = &scaling.event {
        tracing::info!(ns = %scope.ns, name = %scope.name, "{}", event.note);
        let reason = event.reason.as_str();
        status::publish(
            &ctx.recorder,
            wc,
            EventType::Normal,
            reason,
            "Scale",
            event.note.clone(),
        )
        .await;
    }
    let desired = resources::desired(
        wc,
        &Inputs {
            bootstrap_servers: observation.kafka.bootstrap.clone().unwrap_or_default(),
            consumer_replicas: scaling.consumers.desired,
            pod_monitor: observation.pod_monitor_crd,
        },
    );
    let deploy = observation.kafka.bootstrap.is_some();
    apply::apply(wc, &scope, &desired, deploy).await?;
    let (api, consumers) = observe::ready_replicas(wc, &scope).await?;
    let new_status = status::build(
        wc,
        observation,
        scaling,
        status::Readiness { api, consumers },
        Time(jiff::Timestamp::now()),
    );
    status::write(&scope, &new_status).await?;
    ctx.metrics
        .conditions(&scope.ns, &scope.name, &new_status.conditions);
    status::announce(&ctx.recorder, wc, &new_status).await;
    let poll = wc.spec.consumers.lag_poll_seconds.max(1) as u64;
    Ok(Action::requeue(Duration::from_secs(poll)))
}

pub fn error_policy(wc: Arc<WiberCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(namespace = ?wc.namespace(), name = %wc.name_any(), error = %error, "reconcile failed");
    ctx.metrics.failed(error.category());
    Action::requeue(Duration::from_secs(10))
}

const PRUNE_INTERVAL: Duration = Duration::from_secs(5);

/// Reconciles every WiberCluster in `namespaces` (all when empty) until `shutdown` resolves: one
/// controller per namespace, so the operator needs no cluster-wide watch when given a list.
pub async fn reconcile_all(
    ctx: Arc<Context>,
    namespaces: &[String],
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let scopes: Vec<(Api<WiberCluster>, Api<Deployment>)> = if namespaces.is_empty() {
        vec![(Api::all(client.clone()), Api::all(client.clone()))]
    } else {
        namespaces
            .iter()
            .map(|ns| {
                (
                    Api::namespaced(client.clone(), ns),
                    Api::namespaced(client.clone(), ns),
                )
            })
            .collect()
    };
    let shutdown = shutdown.boxed().shared();
    let mut stores = Vec::new();
    let mut controllers = Vec::new();
    for (clusters, deployments) in scopes {
        let controller = Controller::new(clusters, watcher::Config::default().any_semantic());
        stores.push(controller.store());
        controllers.push(
            controller
                .owns(
                    deployments,
                    watcher::Config::default()
                        .labels("app.kubernetes.io/managed-by=wiber-operator"),
                )
                .graceful_shutdown_on(shutdown.clone())
                .run(reconcile, error_policy, ctx.clone())
                .for_each(|result| {
                    if let Err(e) = &result {
                        tracing::debug!(error = %e, "controller event");
                    }
                    futures::future::ready(())
                }),
        );
    }
    // Deletions need no reconcile, but a deleted cluster's scaling memory and metric series must
    // go: compare with the controllers' caches now and then (cheap, and it also catches deletions
    // that happened while a watch was down).
    let forget = ctx.clone();
    let pruner = tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRUNE_INTERVAL);
        loop {
            tick.tick().await;
            // Checked without waiting: a controller awaits readiness on the same one-waker
            // channel, and a second waiter would never be woken. Before every cache has its first
            // full list, pruning would forget the clusters of the namespaces not yet listed.
            if stores
                .iter()
                .all(|s| s.wait_until_ready().now_or_never().is_some())
            {
                let present: Vec<Arc<WiberCluster>> =
                    stores.iter().flat_map(|s| s.state()).collect();
                forget.forget_deleted(&present);
            }
        }
    });
    futures::future::join_all(controllers).await;
    pruner.abort();
}
