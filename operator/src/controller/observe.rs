//! Stage 1, observe: what the cluster and Kafka say now. The consumer Deployment's replicas,
//! where Kafka is and how far behind the group is, whether the Secrets the spec names exist.
//! Anything missing becomes a condition; only a failed read of our own objects is an error.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use wiber_common::kafka::KafkaConnection;

use super::{Error, Scope};
use crate::conditions::{self, Observed};
use crate::crd::WiberCluster;
use crate::kafka_access::{KafkaAccess, SecretKey, secret_text};
use crate::lag::{self, LagError, Measurement};
use crate::resources::{self, Component};

/// Everything the later stages need to know about the world.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The consumer Deployment's replicas, `None` before it exists.
    pub consumer_replicas: Option<i32>,
    pub consumer_deployed: bool,
    pub kafka: KafkaObservation,
    pub mongo: Observed,
    /// The Prometheus Operator's PodMonitor CRD is installed.
    pub pod_monitor_crd: bool,
}

#[derive(Debug, Clone)]
pub struct KafkaObservation {
    /// Where Kafka is: from the spec or Strimzi, else the last address the status recorded.
    pub bootstrap: Option<String>,
    /// The `KafkaReady` condition.
    pub condition: Observed,
    pub lag: Option<Measurement>,
}

pub async fn observe(
    wc: &WiberCluster,
    scope: &Scope,
    lag_timeout: Duration,
) -> Result<Observation, Error> {
    let consumer = current_deployment(scope, wc, Component::Consumer).await?;
    Ok(Observation {
        consumer_replicas: consumer.as_ref().and_then(|d| d.spec.as_ref()?.replicas),
        consumer_deployed: consumer.is_some(),
        kafka: kafka(wc, scope, lag_timeout).await,
        mongo: mongo_secret(wc, scope).await,
        pod_monitor_crd: scope.crd_exists("podmonitors.monitoring.coreos.com").await,
    })
}

/// Ready replicas of the api and consumer Deployments, after the apply stage.
pub async fn ready_replicas(wc: &WiberCluster, scope: &Scope) -> Result<(i32, i32), Error> {
    let ready = |d: Option<Deployment>| d.and_then(|d| d.status?.ready_replicas).unwrap_or(0);
    let api = current_deployment(scope, wc, Component::Api).await?;
    let consumer = current_deployment(scope, wc, Component::Consumer).await?;
    Ok((ready(api), ready(consumer)))
}

/// One of the WiberCluster's Deployments as the cluster has it now.
async fn current_deployment(
    scope: &Scope,
    wc: &WiberCluster,
    component: Component,
) -> Result<Option<Deployment>, Error> {
    let deployments: Api<Deployment> = scope.api();
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

fn kafka_failed(reason: &str, message: String) -> Observed {
    Observed::new(conditions::KAFKA_READY, false, reason, message)
}

async fn kafka(wc: &WiberCluster, scope: &Scope, timeout: Duration) -> KafkaObservation {
    let last_known = || wc.status.as_ref()?.bootstrap_servers.clone();
    let servers = match bootstrap(wc, scope).await {
        Ok(servers) => servers,
        Err(condition) => {
            return KafkaObservation {
                bootstrap: last_known(),
                condition,
                lag: None,
            };
        }
    };
    let security = match KafkaAccess::of(&wc.spec.kafka)
        .credentials(&scope.api())
        .await
    {
        Ok(security) => security,
        Err((reason, message)) => {
            return KafkaObservation {
                bootstrap: Some(servers),
                condition: kafka_failed(reason, message),
                lag: None,
            };
        }
    };
    let connection = KafkaConnection {
        bootstrap_servers: servers.clone(),
        security,
        metadata_refresh: std::time::Duration::from_millis(
            wiber_common::kafka::DEFAULT_METADATA_REFRESH_MS,
        ),
    };
    let (topic, dead_letters, group) = (
        wc.spec.kafka.topic.name.clone(),
        wc.spec.kafka.topic.dead_letter_name(),
        wc.spec.kafka.consumer_group.clone(),
    );
    let measured = tokio::task::spawn_blocking(move || {
        lag::measure(&connection, &topic, &dead_letters, &group, timeout)
    })
    .await
    .unwrap_or_else(|e| Err(LagError::Crashed(e.to_string())));
    let (condition, lag) = match measured {
        Ok(m) => (
            Observed::new(
                conditions::KAFKA_READY,
                true,
                "Connected",
                format!(
                    "topic {} has {} partitions",
                    wc.spec.kafka.topic.name,
                    m.partitions.len()
                ),
            ),
            Some(m),
        ),
        Err(e) => (kafka_failed(e.reason(), e.to_string()), None),
    };
    KafkaObservation {
        bootstrap: Some(servers),
        condition,
        lag,
    }
}

/// The bootstrap servers, from the spec or the Strimzi Kafka resource's status.
async fn bootstrap(wc: &WiberCluster, scope: &Scope) -> Result<String, Observed> {
    let k = &wc.spec.kafka;
    if let Some(servers) = &k.bootstrap_servers {
        return Ok(servers.clone());
    }
    let cluster = k.strimzi_cluster.clone().unwrap_or_default();
    let ns = &scope.ns;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kafka.strimzi.io", "v1", "Kafka"),
        "kafkas",
    );
    let api: Api<DynamicObject> = scope.dynamic(&resource);
    let kafka = match api.get_opt(&cluster).await {
        Ok(Some(kafka)) => kafka,
        Ok(None) => {
            return Err(kafka_failed(
                "KafkaNotFound",
                format!("Strimzi Kafka {ns}/{cluster} does not exist"),
            ));
        }
        Err(e) => {
            return Err(kafka_failed(
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
            kafka_failed(
                "ListenerNotReady",
                format!(
                    "Kafka {cluster} has no listener {:?} in its status yet",
                    k.strimzi_listener
                ),
            )
        })
}

async fn mongo_secret(wc: &WiberCluster, scope: &Scope) -> Observed {
    let r = &wc.spec.mongodb.connection_secret;
    let at = SecretKey {
        secret: r.name.clone(),
        key: r.key.clone(),
    };
    match secret_text(&scope.api(), &at).await {
        Ok(_) => Observed::new(
            conditions::MONGO_READY,
            true,
            "SecretFound",
            format!("connection string from secret {}", r.name),
        ),
        Err((reason, message)) => Observed::new(conditions::MONGO_READY, false, reason, message),
    }
}
