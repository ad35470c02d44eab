//! The controller: resolves what the spec refers to, measures lag, decides consumer replicas, and
//! applies the desired objects (from `resources`) with server-side apply under one field manager.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{Controller, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use wiber_common::kafka::{KafkaConnection, KafkaSecurity, Pem, SaslCredentials};

use crate::conditions::{self, Observed};
use crate::crd::{ConsumerStatus, WiberCluster, WiberClusterStatus};
use crate::lag::{self, LagError, Measurement};
use crate::metrics::Metrics;
use crate::resources::{self, Component, Inputs, MANAGER};
use crate::scaling::{self, LagSample, Policy, Reason, Recommendation};

/// One variant per step, so logs and the error metric say where a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("applying {kind} {name}: {source}")]
    Apply {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("deleting {kind} {name}: {source}")]
    Delete {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("reading {what}: {source}")]
    Read {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("updating status: {0}")]
    Status(#[source] kube::Error),
    #[error("WiberCluster has no namespace")]
    NoNamespace,
}

impl Error {
    pub fn category(&self) -> &'static str {
        match self {
            Self::Apply { .. } => "apply",
            Self::Delete { .. } => "delete",
            Self::Read { .. } => "read",
            Self::Status(_) => "status",
            Self::NoNamespace => "spec",
        }
    }
}

/// What the scaler remembers per WiberCluster between reconciles, keyed by uid.
#[derive(Debug, Default)]
struct ScalingMemory {
    /// Namespace and name: the labels of the cluster's metric series.
    cluster: (String, String),
    history: Vec<Recommendation>,
    last_sample: Option<LagSample>,
}

fn memory_key(wc: &WiberCluster) -> String {
    wc.uid()
        .unwrap_or_else(|| format!("{}/{}", wc.namespace().unwrap_or_default(), wc.name_any()))
}

/// Drops the scaling memory of WiberClusters that no longer exist, and their metric series unless
/// a cluster of the same name has taken their place.
fn forget_deleted(
    memory: &mut HashMap<String, ScalingMemory>,
    metrics: &Metrics,
    present: &[Arc<WiberCluster>],
) {
    let keys: HashSet<String> = present.iter().map(|wc| memory_key(wc)).collect();
    let names: HashSet<(String, String)> = present
        .iter()
        .map(|wc| (wc.namespace().unwrap_or_default(), wc.name_any()))
        .collect();
    memory.retain(|key, mem| {
        if keys.contains(key) {
            return true;
        }
        if !names.contains(&mem.cluster) {
            metrics.forget_cluster(&mem.cluster.0, &mem.cluster.1);
        }
        tracing::debug!(namespace = %mem.cluster.0, name = %mem.cluster.1, "forgot a deleted WiberCluster");
        false
    });
}

pub struct Context {
    pub client: Client,
    pub metrics: Metrics,
    pub recorder: Recorder,
    pub lag_timeout: Duration,
    memory: Mutex<HashMap<String, ScalingMemory>>,
}

impl Context {
    /// Forgets what belonged to WiberClusters that are gone (see `forget_deleted`).
    pub fn forget_deleted(&self, present: &[Arc<WiberCluster>]) {
        let mut memory = self.memory.lock().expect("scaling memory lock");
        forget_deleted(&mut memory, &self.metrics, present);
    }

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
            memory: Mutex::new(HashMap::new()),
        }
    }
}

fn now_secs() -> u64 {
    jiff::Timestamp::now().as_second().max(0) as u64
}

async fn apply<K>(api: &Api<K>, object: &K, kind: &'static str) -> Result<(), Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .map(|_| ())
    .map_err(|source| Error::Apply { kind, name, source })
}

async fn delete_if_present<K>(api: &Api<K>, name: &str, kind: &'static str) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(source) => Err(Error::Delete {
            kind,
            name: name.to_owned(),
            source,
        }),
    }
}

async fn crd_exists(client: &Client, name: &str) -> bool {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    matches!(crds.get_opt(name).await, Ok(Some(_)))
}

/// The bootstrap servers, from the spec or the Strimzi Kafka resource's status.
async fn bootstrap(wc: &WiberCluster, client: &Client, ns: &str) -> Result<String, Observed> {
    let k = &wc.spec.kafka;
    if let Some(servers) = &k.bootstrap_servers {
        return Ok(servers.clone());
    }
    let cluster = k.strimzi_cluster.clone().unwrap_or_default();
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kafka.strimzi.io", "v1", "Kafka"),
        "kafkas",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    let fail = |reason: &str, message: String| {
        Observed::new(conditions::KAFKA_READY, false, reason, message)
    };
    let kafka = match api.get_opt(&cluster).await {
        Ok(Some(kafka)) => kafka,
        Ok(None) => {
            return Err(fail(
                "KafkaNotFound",
                format!("Strimzi Kafka {ns}/{cluster} does not exist"),
            ));
        }
        Err(e) => {
            return Err(fail(
                "KafkaLookupFailed",
                format!("cannot read Strimzi Kafka {ns}/{cluster}: {e}"),
            ));
        }
    };
    kafka.data["status"]["listeners"]
        .as_array()
        .and_then(|listeners| {
            listeners
                .iter()
                .find(|l| l["name"].as_str() == Some(k.strimzi_listener.as_str()))
                .and_then(|l| l["bootstrapServers"].as_str())
        })
        .map(str::to_owned)
        .ok_or_else(|| {
            fail(
                "ListenerNotReady",
                format!(
                    "Kafka {cluster} has no listener {:?} in its status yet",
                    k.strimzi_listener
                ),
            )
        })
}

/// A Secret's value as text, or why it cannot be had: a condition reason and message.
async fn secret_text(
    secrets: &Api<Secret>,
    name: &str,
    key: &str,
) -> Result<String, (&'static str, String)> {
    match secrets.get_opt(name).await {
        Ok(Some(s)) => s
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
            .ok_or_else(|| {
                (
                    "SecretKeyMissing",
                    format!("secret {name} has no key {key:?}"),
                )
            }),
        Ok(None) => Err(("SecretMissing", format!("secret {name} not found"))),
        Err(e) => Err((
            "SecretLookupFailed",
            format!("cannot read secret {name}: {e}"),
        )),
    }
}

async fn mongo_secret(wc: &WiberCluster, client: &Client, ns: &str) -> Observed {
    let r = &wc.spec.mongodb.connection_secret;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    match secret_text(&secrets, &r.name, &r.key).await {
        Ok(_) => Observed::new(
            conditions::MONGO_READY,
            true,
            "SecretFound",
            format!("connection string from secret {}", r.name),
        ),
        Err((reason, message)) => Observed::new(conditions::MONGO_READY, false, reason, message),
    }
}

/// The operator's own Kafka credentials, read from the Secrets the spec names (the pods mount
/// the same Secrets); certificates stay in memory.
async fn kafka_security(
    wc: &WiberCluster,
    client: &Client,
    ns: &str,
) -> Result<KafkaSecurity, Observed> {
    let k = &wc.spec.kafka;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let fail = |(reason, message): (&str, String)| {
        Observed::new(conditions::KAFKA_READY, false, reason, message)
    };
    let sasl = match k.sasl_credentials() {
        Some((mechanism, username, password)) => Some(SaslCredentials {
            mechanism,
            username: username.to_owned(),
            password: secret_text(&secrets, &password.secret_name, &password.password)
                .await
                .map_err(fail)?,
        }),
        None => None,
    };
    let ca = match k.trusted_certificate() {
        Some(ca) => Some(Pem::Inline(
            secret_text(&secrets, &ca.secret_name, &ca.certificate)
                .await
                .map_err(fail)?,
        )),
        None => None,
    };
    let client_certificate = match k.client_certificate() {
        Some(c) => Some((
            Pem::Inline(
                secret_text(&secrets, &c.secret_name, &c.certificate)
                    .await
                    .map_err(fail)?,
            ),
            Pem::Inline(
                secret_text(&secrets, &c.secret_name, &c.key)
                    .await
                    .map_err(fail)?,
            ),
        )),
        None => None,
    };
    Ok(KafkaSecurity {
        protocol: k.security_protocol(),
        sasl,
        ca,
        client_certificate,
    })
}

fn policy(wc: &WiberCluster) -> Policy {
    let c = &wc.spec.consumers;
    Policy {
        min_replicas: c.min_replicas,
        max_replicas: c.max_replicas,
        target_lag_per_replica: c.target_lag_per_replica,
        scale_down_window: Duration::from_secs(c.scale_down_stabilization_seconds.max(0) as u64),
        target_drain: c
            .target_drain_seconds
            .map(|s| Duration::from_secs(s.max(1) as u64)),
    }
}

/// One of the WiberCluster's Deployments as the cluster has it now.
async fn deployment(
    deployments: &Api<Deployment>,
    wc: &WiberCluster,
    component: Component,
) -> Result<Option<Deployment>, Error> {
    deployments
        .get_opt(&resources::name(wc, component.as_str()))
        .await
        .map_err(|source| Error::Read {
            what: match component {
                Component::Api => "API Deployment",
                Component::Consumer => "consumer Deployment",
            },
            source,
        })
}

fn deployment_replicas(d: Option<&Deployment>) -> (Option<i32>, i32) {
    let spec = d.and_then(|d| d.spec.as_ref()).and_then(|s| s.replicas);
    let ready = d
        .and_then(|d| d.status.as_ref())
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    (spec, ready)
}

pub async fn reconcile(wc: Arc<WiberCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_inner(&wc, &ctx).await;
    let label = if result.is_ok() { "ok" } else { "error" };
    ctx.metrics.reconciles.with_label_values(&[label]).inc();
    ctx.metrics
        .duration
        .with_label_values(&[label])
        .observe(started.elapsed().as_secs_f64());
    result
}

async fn reconcile_inner(wc: &WiberCluster, ctx: &Context) -> Result<Action, Error> {
    let ns = wc.namespace().ok_or(Error::NoNamespace)?;
    let name = wc.name_any();
    let client = &ctx.client;
    let labels = [ns.as_str(), name.as_str()];
    let poll = Duration::from_secs(wc.spec.consumers.lag_poll_seconds.max(1) as u64);

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let existing_consumer = deployment(&deployments, wc, Component::Consumer).await?;
    let (consumer_spec_replicas, _) = deployment_replicas(existing_consumer.as_ref());

    // Kafka: where it is, and how far behind the group is.
    let (bootstrap, mut kafka) = match bootstrap(wc, client, &ns).await {
        Ok(b) => (Some(b), None),
        Err(observed) => (
            wc.status.as_ref().and_then(|s| s.bootstrap_servers.clone()),
            Some(observed),
        ),
    };
    let security = match (&bootstrap, &kafka) {
        (Some(_), None) => match kafka_security(wc, client, &ns).await {
            Ok(security) => Some(security),
            Err(observed) => {
                kafka = Some(observed);
                None
            }
        },
        _ => None,
    };
    let measurement: Option<Measurement> = match (&bootstrap, security) {
        (Some(servers), Some(security)) => {
            let (connection, topic, group, timeout) = (
                KafkaConnection {
                    bootstrap_servers: servers.clone(),
                    security,
                },
                wc.spec.kafka.topic.name.clone(),
                wc.spec.kafka.consumer_group.clone(),
                ctx.lag_timeout,
            );
            let measured = tokio::task::spawn_blocking(move || {
                lag::measure(&connection, &topic, &group, timeout)
            })
            .await
            .unwrap_or_else(|e| {
                Err(LagError::TopicMissing(format!(
                    "measurement task failed: {e}"
                )))
            });
            match measured {
                Ok(m) => {
                    kafka = Some(Observed::new(
                        conditions::KAFKA_READY,
                        true,
                        "Connected",
                        format!(
                            "topic {} has {} partitions",
                            wc.spec.kafka.topic.name,
                            m.partitions.len()
                        ),
                    ));
                    Some(m)
                }
                Err(e) => {
                    let reason = e.reason();
                    kafka = Some(Observed::new(
                        conditions::KAFKA_READY,
                        false,
                        reason,
                        e.to_string(),
                    ));
                    None
                }
            }
        }
        _ => None,
    };
    let kafka = kafka.expect("set on every path");
    let mongo = mongo_secret(wc, client, &ns).await;

    // Consumer replicas: the scaler decides when lag is known; otherwise keep what runs.
    let policy = policy(wc);
    let current =
        consumer_spec_replicas.unwrap_or(policy.min_replicas.max(if policy.max_replicas > 0 {
            1
        } else {
            0
        }));
    let mut consumer_status = ConsumerStatus {
        current,
        desired: current,
        ready: 0,
        reason: None,
        last_scale_time: wc
            .status
            .as_ref()
            .and_then(|s| s.consumers.last_scale_time.clone()),
    };
    let mut partitions = None;
    let mut total_lag = None;
    if let Some(m) = &measurement {
        let now = now_secs();
        let sample = LagSample {
            at: now,
            partitions: m.partitions.len() as i32,
            total_lag: m.total_lag,
            committed_total: m.committed_total,
        };
        let decision = {
            let mut memory = ctx.memory.lock().expect("scaling memory lock");
            let mem = memory
                .entry(memory_key(wc))
                .or_insert_with(|| ScalingMemory {
                    cluster: (ns.clone(), name.clone()),
                    ..ScalingMemory::default()
                });
            let rate = mem
                .last_sample
                .as_ref()
                .and_then(|prev| scaling::consumption_rate(prev, &sample));
            if let Some(rate) = rate {
                ctx.metrics
                    .consumption_rate
                    .with_label_values(&labels)
                    .set(rate);
            }
            let (recommended, capped) = scaling::recommend(&policy, &sample, current, rate);
            let decision =
                scaling::decide(&policy, current, recommended, capped, &mem.history, now);
            mem.history.push(Recommendation {
                at: now,
                replicas: recommended,
            });
            scaling::prune(&mut mem.history, policy.scale_down_window, now);
            mem.last_sample = Some(sample.clone());
            decision
        };
        ctx.metrics.lag.with_label_values(&labels).set(m.total_lag);
        ctx.metrics
            .partitions
            .with_label_values(&labels)
            .set(sample.partitions.into());
        ctx.metrics
            .consumers_current
            .with_label_values(&labels)
            .set(current.into());
        ctx.metrics
            .consumers_recommended
            .with_label_values(&labels)
            .set(decision.recommended.into());
        ctx.metrics
            .consumers_desired
            .with_label_values(&labels)
            .set(decision.desired.into());
        ctx.metrics
            .consumers_max
            .with_label_values(&labels)
            .set(policy.max_replicas.min(sample.partitions).into());
        consumer_status.desired = decision.desired;
        consumer_status.reason = Some(decision.reason.as_str().to_owned());
        if decision.desired != current && existing_consumer.is_some() {
            let direction = if decision.reason == Reason::ScaleUp {
                "up"
            } else {
                "down"
            };
            ctx.metrics
                .scale_events
                .with_label_values(&[ns.as_str(), name.as_str(), direction])
                .inc();
            consumer_status.last_scale_time = Some(Time(jiff::Timestamp::now()));
            let note = format!(
                "consumers {current} -> {}: lag {} over {} partitions (target {} per consumer{})",
                decision.desired,
                m.total_lag,
                sample.partitions,
                policy.target_lag_per_replica,
                if decision.capped_by_partitions {
                    ", capped at the partition count"
                } else {
                    ""
                },
            );
            tracing::info!(%ns, %name, "{note}");
            publish(
                ctx,
                wc,
                EventType::Normal,
                decision.reason.as_str(),
                "Scale",
                note,
            )
            .await;
        }
        partitions = Some(sample.partitions);
        total_lag = Some(m.total_lag);
    }

    // Apply everything the spec wants (the Deployments need a bootstrap address).
    let pod_monitor = crd_exists(client, "podmonitors.monitoring.coreos.com").await;
    let inputs = Inputs {
        bootstrap_servers: bootstrap.clone().unwrap_or_default(),
        consumer_replicas: consumer_status.desired,
        pod_monitor,
    };
    let desired = resources::desired(wc, &inputs);
    let topics_api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &resources::strimzi_topic_resource());
    for topic in &desired.kafka_topics {
        apply(&topics_api, topic, "KafkaTopic").await?;
    }
    apply(
        &Api::<ServiceAccount>::namespaced(client.clone(), &ns),
        &desired.service_account,
        "ServiceAccount",
    )
    .await?;
    if bootstrap.is_some() {
        apply(
            &Api::<ConfigMap>::namespaced(client.clone(), &ns),
            &desired.config,
            "ConfigMap",
        )
        .await?;
        apply(&deployments, &desired.api, "Deployment").await?;
        apply(&deployments, &desired.consumer, "Deployment").await?;
    }
    apply(
        &Api::<Service>::namespaced(client.clone(), &ns),
        &desired.api_service,
        "Service",
    )
    .await?;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &ns);
    for component in [Component::Api, Component::Consumer] {
        let pdb_name = resources::name(wc, component.as_str());
        match desired
            .disruption_budgets
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(pdb_name.as_str()))
        {
            Some(pdb) => apply(&pdbs, pdb, "PodDisruptionBudget").await?,
            None => delete_if_present(&pdbs, &pdb_name, "PodDisruptionBudget").await?,
        }
    }
    if desired.kafka_topics.is_empty() && crd_exists(client, "kafkatopics.kafka.strimzi.io").await {
        // Switched from Strimzi to plain bootstrap servers: the topics are no longer ours to manage.
        for topic in [
            wc.spec.kafka.topic.name.clone(),
            format!("{}.dlq", wc.spec.kafka.topic.name),
        ] {
            let topic_name = resources::kube_name(&topic);
            if let Ok(Some(t)) = topics_api.get_opt(&topic_name).await {
                if t.owner_references()
                    .iter()
                    .any(|o| Some(&o.uid) == wc.uid().as_ref())
                {
                    delete_if_present(&topics_api, &topic_name, "KafkaTopic").await?;
                }
            }
        }
    }
    if pod_monitor {
        let monitors: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &ns, &resources::pod_monitor_resource());
        if let Some(m) = &desired.pod_monitor {
            apply(&monitors, m, "PodMonitor").await?;
        }
    }

    // Status from what the cluster reports now.
    let api_deployment = deployment(&deployments, wc, Component::Api).await?;
    let consumer_deployment = deployment(&deployments, wc, Component::Consumer).await?;
    let (_, api_ready) = deployment_replicas(api_deployment.as_ref());
    let (_, consumers_ready) = deployment_replicas(consumer_deployment.as_ref());
    consumer_status.ready = consumers_ready;
    if bootstrap.is_some() {
        consumer_status.current = consumer_status.desired;
    }
    let api_ok = wc.spec.api.replicas == 0 || api_ready >= 1;
    let consumers_ok =
        consumer_status.desired == 0 || consumers_ready >= consumer_status.desired.min(1);
    let parts = vec![
        kafka,
        mongo,
        Observed::new(
            conditions::API_AVAILABLE,
            api_ok,
            if api_ok {
                "MinimumReplicasAvailable"
            } else {
                "NoReadyPods"
            },
            format!("{api_ready} of {} API pods ready", wc.spec.api.replicas),
        ),
        Observed::new(
            conditions::CONSUMERS_AVAILABLE,
            consumers_ok,
            if consumers_ok {
                "MinimumReplicasAvailable"
            } else {
                "NoReadyPods"
            },
            format!(
                "{consumers_ready} of {} consumer pods ready",
                consumer_status.desired
            ),
        ),
    ];
    let mut observed = vec![conditions::ready(&parts)];
    observed.extend(parts);
    let previous = wc
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let status = WiberClusterStatus {
        observed_generation: wc.metadata.generation,
        conditions: conditions::merge(
            &previous,
            &observed,
            wc.metadata.generation,
            &Time(jiff::Timestamp::now()),
        ),
        lag: total_lag.or_else(|| wc.status.as_ref().and_then(|s| s.lag)),
        partitions: partitions.or_else(|| wc.status.as_ref().and_then(|s| s.partitions)),
        api_ready_replicas: api_ready,
        consumers: consumer_status,
        bootstrap_servers: bootstrap,
    };
    let clusters: Api<WiberCluster> = Api::namespaced(client.clone(), &ns);
    clusters
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .map_err(Error::Status)?;

    let was_ready = previous
        .iter()
        .any(|c| c.type_ == conditions::READY && c.status == "True");
    let ready = &observed[0];
    if !ready.ok && (was_ready || previous.is_empty()) {
        publish(
            ctx,
            wc,
            EventType::Warning,
            &ready.reason,
            "Reconcile",
            ready.message.clone(),
        )
        .await;
    }
    Ok(Action::requeue(poll))
}

async fn publish(
    ctx: &Context,
    wc: &WiberCluster,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &wc.object_ref(&())).await {
        tracing::warn!(error = %e, "cannot record event");
    }
}

pub fn error_policy(wc: Arc<WiberCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(namespace = ?wc.namespace(), name = %wc.name_any(), error = %error, "reconcile failed");
    ctx.metrics
        .errors
        .with_label_values(&[error.category()])
        .inc();
    Action::requeue(Duration::from_secs(10))
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let (clusters, deployments) = match &namespace {
        Some(ns) => (
            Api::<WiberCluster>::namespaced(client.clone(), ns),
            Api::<Deployment>::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let controller = Controller::new(clusters, watcher::Config::default().any_semantic());
    // Deletions need no reconcile, but a deleted cluster's scaling memory and metric series must
    // go: compare with the controller's cache now and then (cheap, and it also catches deletions
    // that happened while the watch was down).
    let store = controller.store();
    let forget = ctx.clone();
    let pruner = tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRUNE_INTERVAL);
        loop {
            tick.tick().await;
            // Checked without waiting: the controller awaits readiness on the same one-waker
            // channel, and a second waiter would never be woken. Before the first full list the
            // cache is empty, and pruning then would forget every cluster.
            if store.wait_until_ready().now_or_never().is_some() {
                forget.forget_deleted(&store.state());
            }
        }
    });
    controller
        .owns(
            deployments,
            watcher::Config::default().labels("app.kubernetes.io/managed-by=wiber-operator"),
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| {
            if let Err(e) = &result {
                tracing::debug!(error = %e, "controller event");
            }
            futures::future::ready(())
        })
        .await;
    pruner.abort();
}

const PRUNE_INTERVAL: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::WiberClusterSpec;

    fn cluster(name: &str, uid: &str) -> Arc<WiberCluster> {
        let spec: WiberClusterSpec = serde_json::from_value(json!({
            "kafka": {"bootstrapServers": "kafka:9092"},
            "mongodb": {"connectionSecret": {"name": "mongo"}},
        }))
        .unwrap();
        let mut wc = WiberCluster::new(name, spec);
        wc.metadata.namespace = Some("team-a".into());
        wc.metadata.uid = Some(uid.into());
        Arc::new(wc)
    }

    fn remember(
        memory: &mut HashMap<String, ScalingMemory>,
        metrics: &Metrics,
        name: &str,
        uid: &str,
    ) {
        memory.insert(
            uid.to_owned(),
            ScalingMemory {
                cluster: ("team-a".into(), name.into()),
                ..ScalingMemory::default()
            },
        );
        metrics.lag.with_label_values(&["team-a", name]).set(7);
        metrics
            .scale_events
            .with_label_values(&["team-a", name, "up"])
            .inc();
    }

    #[test]
    fn a_deleted_cluster_loses_its_memory_and_series_and_a_recreated_one_keeps_its_series() {
        let metrics = Metrics::new();
        let mut memory = HashMap::new();
        remember(&mut memory, &metrics, "gone", "uid-gone");
        remember(&mut memory, &metrics, "kept", "uid-kept");
        remember(&mut memory, &metrics, "recreated", "uid-old");

        let present = [cluster("kept", "uid-kept"), cluster("recreated", "uid-new")];
        forget_deleted(&mut memory, &metrics, &present);

        let mut keys: Vec<&str> = memory.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["uid-kept"]);
        let (_, text) = wiber_common::metrics::render(&metrics.registry);
        assert!(!text.contains("name=\"gone\""), "{text}");
        assert!(text.contains("name=\"kept\""), "{text}");
        // Same namespace and name: the new cluster's series are its own, not stale.
        assert!(text.contains("name=\"recreated\""), "{text}");
    }
}
