//! One WiberCluster the operator runs on the real node: its own namespace (restricted Pod Security),
//! topic, consumer group, database and token issuer, its API reached through the API Service's
//! NodePort (kube-proxy), and the verification of what it stored.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use wiber_operator::crd::WiberCluster;
pub use wiber_operator::resources::Component;

use crate::issuer::{self, IssuerKey};
use crate::kafka::create_topic;
use crate::kube::{WITHIN, apply};
use crate::node::{self, NODE_NAME, Namespaces};
use crate::traffic;
use crate::verify::{History, Pipeline};
use crate::wait::eventually;
use crate::{kafka_bootstrap, mongo_uri, unique_name};

/// The WiberCluster's name in its namespace.
pub const NAME: &str = "chat";
/// How long the operator and the node get to bring a WiberCluster to a state a test waits for.
pub const READY_WITHIN: Duration = Duration::from_secs(180);

pub struct Deployed {
    pub client: Client,
    pub ns: String,
    /// Where its messages go, read from this machine (127.0.0.1), for the verification.
    pub pipeline: Pipeline,
    /// The API Service's NodePort on the node: kube-proxy routes it to a ready API pod.
    pub api_url: String,
    pub key: IssuerKey,
    /// Reports its pods if the test fails, and deletes the namespace when dropped.
    _namespace: Namespaces,
}

impl Deployed {
    /// With the shared operator, creates the journey namespace `node-<name>`, topics and Secrets,
    /// applies a WiberCluster with `spec` merged over the defaults below (JSON merge: objects
    /// merge, anything else replaces), and waits until it is Ready.
    pub async fn start(client: &Client, name: &str, partitions: i32, spec: Value) -> Self {
        node::journey_operator(client).await;
        let ns = node::journey_namespace(client, name).await;
        let namespace = Namespaces::owned(&[&ns]);
        let bootstrap = kafka_bootstrap();
        let topic = unique_name("wiber-node");
        create_topic(&bootstrap, &topic, partitions).await;
        create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
        create_topic(&bootstrap, &format!("{topic}.stored"), 1).await;
        let group = unique_name("wiber-node-group");
        let db = unique_name("node").replace('-', "_");
        let key = IssuerKey::ed25519(&issuer::key_dir(), "k1");
        secret(
            client,
            &ns,
            "store",
            "connectionString.standard",
            &node::pod_mongo_uri(),
        )
        .await;
        secret(client, &ns, "jwks", "jwks.json", &issuer::jwks(&[&key])).await;

        let mut full = json!({
            "kafka": {
                "bootstrapServers": node::pod_kafka_bootstrap(),
                "topic": {"name": topic, "partitions": partitions},
                "consumerGroup": group,
            },
            "mongodb": {"connectionSecret": {"name": "store"}, "database": db},
            "api": {
                "replicas": 2,
                "service": {"type": "NodePort"},
                "auth": {"issuer": issuer::ISSUER, "audience": issuer::AUDIENCE,
                         "jwksSecret": {"name": "jwks"}},
                "resources": small("50m"),
            },
            "consumers": {"minReplicas": 1, "maxReplicas": 1, "lagPollSeconds": 2,
                          "resources": small("25m")},
            // Never a kwok node: their pods only pretend to run.
            "scheduling": {"nodeSelector": {"kubernetes.io/hostname": NODE_NAME}},
        });
        merge(&mut full, spec);
        let wcs: Api<WiberCluster> = Api::namespaced(client.clone(), &ns);
        let object = json!({"apiVersion": "wiber.io/v1alpha1", "kind": "WiberCluster",
                            "metadata": {"name": NAME}, "spec": full});
        apply(&wcs, NAME, &object)
            .await
            .unwrap_or_else(|e| panic!("apply the WiberCluster: {e}"));
        let deployed = Self {
            client: client.clone(),
            pipeline: Pipeline {
                bootstrap,
                topic,
                partitions,
                group,
                mongo_uri: mongo_uri(),
                db,
                history: History::default(),
            },
            api_url: String::new(),
            ns,
            key,
            _namespace: namespace,
        };
        deployed.wait_ready().await;
        let port = deployed.node_port().await;
        Self {
            api_url: format!("http://{}:{port}", node::node_ip()),
            ..deployed
        }
    }

    /// Waits until the WiberCluster reports Ready for its current generation and every pod of
    /// both Deployments runs the current template, Ready by the kubelet's probes.
    pub async fn wait_ready(&self) {
        let wcs: Api<WiberCluster> = Api::namespaced(self.client.clone(), &self.ns);
        eventually("the WiberCluster Ready", READY_WITHIN, || async {
            let wc = wcs.get(NAME).await.ok()?;
            let status = wc.status?;
            let ready = status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            (ready && status.observed_generation == wc.metadata.generation).then_some(())
        })
        .await;
        for component in [Component::Api, Component::Consumer] {
            self.wait_rolled_out(component).await;
        }
    }

    /// Waits until the Deployment has rolled out its current template: every replica updated,
    /// available, and no old pod left.
    pub async fn wait_rolled_out(&self, component: Component) {
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), &self.ns);
        let name = format!("{NAME}-{}", component.as_str());
        let what = format!("{name} rolled out on the node");
        eventually(&what, READY_WITHIN, || async {
            let d = deployments.get(&name).await.ok()?;
            let want = d.spec.as_ref()?.replicas?;
            let status = d.status?;
            let current = status.observed_generation == d.metadata.generation
                && status.updated_replicas.unwrap_or(0) == want
                && status.available_replicas.unwrap_or(0) == want
                && status.replicas.unwrap_or(0) == want;
            let pods = self.pods(component).await;
            let ready = pods.len() == want as usize && pods.iter().all(node::running_and_ready);
            (current && ready).then_some(())
        })
        .await;
    }

    /// Waits until `component` runs its full count of pods, all Ready, none of them one of
    /// `before` (the pods it had before a rollout or a deletion).
    pub async fn wait_replaced(&self, component: Component, before: &HashSet<String>) {
        let want = self
            .deployment(component)
            .await
            .spec
            .and_then(|s| s.replicas)
            .expect("replicas") as usize;
        let what = format!("every {} pod replaced and Ready", component.as_str());
        eventually(&what, READY_WITHIN, || async {
            let pods = self.pods(component).await;
            let fresh = pods.iter().all(|p| !before.contains(&p.name_any()));
            (pods.len() == want && fresh && pods.iter().all(node::running_and_ready)).then_some(())
        })
        .await;
    }

    /// The names of `component`'s pods now.
    pub async fn pod_names(&self, component: Component) -> HashSet<String> {
        self.pods(component)
            .await
            .iter()
            .map(|p| p.name_any())
            .collect()
    }

    pub async fn pods(&self, component: Component) -> Vec<Pod> {
        let selector = format!(
            "app.kubernetes.io/instance={NAME},app.kubernetes.io/component={}",
            component.as_str()
        );
        node::pods(&self.client, &self.ns, &selector).await
    }

    pub async fn deployment(&self, component: Component) -> Deployment {
        Api::<Deployment>::namespaced(self.client.clone(), &self.ns)
            .get(&format!("{NAME}-{}", component.as_str()))
            .await
            .expect("the Deployment")
    }

    pub async fn wibercluster(&self) -> WiberCluster {
        Api::<WiberCluster>::namespaced(self.client.clone(), &self.ns)
            .get(NAME)
            .await
            .expect("the WiberCluster")
    }

    /// Changes the WiberCluster's spec (a JSON merge patch).
    pub async fn patch_spec(&self, spec: Value) {
        Api::<WiberCluster>::namespaced(self.client.clone(), &self.ns)
            .patch(
                NAME,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .unwrap_or_else(|e| panic!("patch the WiberCluster: {e}"));
    }

    async fn node_port(&self) -> i32 {
        let service = Api::<Service>::namespaced(self.client.clone(), &self.ns)
            .get(&format!("{NAME}-api"))
            .await
            .expect("the API Service");
        service
            .spec
            .and_then(|s| s.ports)
            .and_then(|p| p.first().and_then(|p| p.node_port))
            .expect("a NodePort on the API Service")
    }

    /// A token of the WiberCluster's issuer for `user`, valid for half an hour.
    pub fn token(&self, user: &str) -> String {
        let now = issuer::now();
        self.key.sign(
            &json!({"sub": user, "iss": issuer::ISSUER, "aud": issuer::AUDIENCE,
                               "iat": now, "exp": now + 1800}),
        )
    }

    /// Tokens for the senders and the recipient of `traffic`.
    pub fn traffic_tokens(&self) -> HashMap<String, String> {
        traffic::SENDERS
            .iter()
            .chain([&traffic::RECIPIENT])
            .map(|user| ((*user).to_owned(), self.token(user)))
            .collect()
    }

    /// A pod's `/metrics` on `port`, straight from this machine (it routes the pod network to the
    /// node).
    pub async fn pod_metric(&self, pod: &Pod, port: u16, name: &str) -> Option<f64> {
        let ip = pod.status.as_ref()?.pod_ip.clone()?;
        let http = reqwest::Client::new();
        crate::metrics::metric(&http, &format!("http://{ip}:{port}"), name, &[]).await
    }
}

/// Requests small enough that a dozen pods fit beside Kafka and the store on two cores.
fn small(cpu: &str) -> Value {
    json!({"requests": {"cpu": cpu, "memory": "64Mi"}, "limits": {"memory": "256Mi"}})
}

async fn secret(client: &Client, ns: &str, name: &str, key: &str, value: &str) {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": name}, "stringData": {key: value}
    }))
    .expect("a Secret");
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap_or_else(|e| panic!("secret {ns}/{name}: {e}"));
}

/// RFC 7386 JSON merge of `patch` into `target`.
fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(target.entry(key).or_insert(Value::Null), value);
            }
        }
        (target, patch) => *target = patch,
    }
}

/// How long the verification of a node test may wait for the consumers to catch up.
pub const VERIFY_WITHIN: Duration = WITHIN;
