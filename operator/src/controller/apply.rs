//! Stage 4, apply: the desired objects go to the cluster with server-side apply under one field
//! manager, and objects the spec no longer wants are deleted.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Error, Scope};
use crate::crd::WiberCluster;
use crate::resources::{self, Component, Desired, MANAGER};

pub async fn apply_one<K>(api: &Api<K>, object: &K, kind: &'static str) -> Result<(), Error>
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

/// Applies everything `desired` holds. The ConfigMap and Deployments need Kafka's address, so
/// they wait until one is known (`deploy`).
pub async fn apply(
    wc: &WiberCluster,
    scope: &Scope,
    desired: &Desired,
    deploy: bool,
) -> Result<(), Error> {
    let topics = scope.dynamic(&resources::strimzi_topic_resource());
    for topic in &desired.kafka_topics {
        apply_one(&topics, topic, "KafkaTopic").await?;
    }
    apply_one(
        &scope.api::<ServiceAccount>(),
        &desired.service_account,
        "ServiceAccount",
    )
    .await?;
    if deploy {
        let deployments: Api<Deployment> = scope.api();
        apply_one(&scope.api::<ConfigMap>(), &desired.config, "ConfigMap").await?;
        apply_one(&deployments, &desired.api, "Deployment").await?;
        apply_one(&deployments, &desired.consumer, "Deployment").await?;
    }
    apply_one(&scope.api::<Service>(), &desired.api_service, "Service").await?;
    disruption_budgets(wc, scope, desired).await?;
    if desired.kafka_topics.is_empty() {
        forget_strimzi_topics(wc, scope, &topics).await?;
    }
    let ingresses: Api<Ingress> = scope.api();
    match &desired.ingress {
        Some(ingress) => apply_one(&ingresses, ingress, "Ingress").await?,
        None => delete_if_present(&ingresses, &resources::name(wc, "api"), "Ingress").await?,
    }
    if let Some(monitor) = &desired.pod_monitor {
        let monitors = scope.dynamic(&resources::pod_monitor_resource());
        apply_one(&monitors, monitor, "PodMonitor").await?;
    }
    Ok(())
}

/// A budget per component while it wants one; a budget no longer wanted is deleted.
async fn disruption_budgets(
    wc: &WiberCluster,
    scope: &Scope,
    desired: &Desired,
) -> Result<(), Error> {
    let pdbs: Api<PodDisruptionBudget> = scope.api();
    for component in [Component::Api, Component::Consumer] {
        let name = resources::name(wc, component.as_str());
        match desired
            .disruption_budgets
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(name.as_str()))
        {
            Some(pdb) => apply_one(&pdbs, pdb, "PodDisruptionBudget").await?,
            None => delete_if_present(&pdbs, &name, "PodDisruptionBudget").await?,
        }
    }
    Ok(())
}

/// Switched from Strimzi to plain bootstrap servers: the KafkaTopics this cluster owned are no
/// longer ours to manage.
async fn forget_strimzi_topics(
    wc: &WiberCluster,
    scope: &Scope,
    topics: &Api<DynamicObject>,
) -> Result<(), Error> {
    if !scope.crd_exists("kafkatopics.kafka.strimzi.io").await {
        return Ok(());
    }
    for topic in wc.spec.kafka.topic.all_names() {
        let topic_name = resources::kube_name(&topic);
        if let Ok(Some(t)) = topics.get_opt(&topic_name).await {
            if t.owner_references()
                .iter()
                .any(|o| Some(&o.uid) == wc.uid().as_ref())
            {
                delete_if_present(topics, &topic_name, "KafkaTopic").await?;
            }
        }
    }
    Ok(())
}
