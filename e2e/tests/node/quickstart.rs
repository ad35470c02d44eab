//! A platform engineer's first hour, as the book tells it (docs/getting-started/local-cluster.md):
//! its quickstart run verbatim
//! (the operator chart, a WiberCluster from the wiber chart on the local Kafka and store, a message
//! through the API Service), then what it promised checked from outside, and the checked-in local
//! example applied as `kubectl apply` would.

use std::process::Command;
use std::time::Duration;

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject};
use mongodb::bson::{Document, doc};
use serde_json::{Value, json};
use wiber_e2e::command::run;
use wiber_e2e::kube::{apply, client};
use wiber_e2e::node::{self, Namespaces, OPERATOR_NAMESPACE};
use wiber_e2e::sse::SseStream;
use wiber_e2e::wait::eventually;
use wiber_e2e::{mongo_uri, repo};

const WITHIN: Duration = Duration::from_secs(180);

/// The page of the book that walks through the first hour.
const PAGE: &str = "docs/getting-started/local-cluster.md";

/// The fenced block after the page's `<!-- marker -->` line.
fn page_block(marker: &str) -> String {
    let text = std::fs::read_to_string(repo().join(PAGE)).expect(PAGE);
    let start = text
        .find(&format!("<!-- {marker} -->"))
        .unwrap_or_else(|| panic!("{PAGE} has no <!-- {marker} --> block"));
    let fence = text[start..].find("```sh\n").expect("a ```sh block") + start + 6;
    let end = text[fence..].find("```").expect("the block's end") + fence;
    text[fence..end].to_owned()
}

/// Runs `script` with bash (errexit, pipefail) from the repository's root, as a reader pastes it.
fn bash(what: &str, script: &str, within: Duration) -> String {
    let mut command = Command::new("bash");
    command
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(repo());
    run(what, &mut command, within).success(what)
}

/// A dev script's output, with the test run's environment (ports, node network).
fn dev(args: &str) -> String {
    bash(args, &format!("dev/{args}"), Duration::from_secs(60))
        .trim()
        .to_owned()
}

/// The page's teardown, run however the test ends.
struct Teardown(String);

impl Drop for Teardown {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .args(["-uo", "pipefail", "-c", &self.0])
            .current_dir(repo())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_quickstart_runs_verbatim_and_wiber_answers_through_its_service() {
    let _node = node::exclusive().await;
    let client = client().await;
    // What `make test` did before the suite (dev/test.sh): the same targets, on test ports; the
    // topics `make servers-up` creates are made here.
    assert_eq!(
        page_block("cluster-quickstart-setup").trim(),
        "make images cluster-up servers-up"
    );
    dev("topics.sh");
    let quickstart = page_block("cluster-quickstart");
    // The teardown runs in the quickstart's shell: its first line sets KUBECONFIG and PATH.
    let environment = quickstart
        .lines()
        .next()
        .expect("the quickstart's first line");
    let teardown = page_block("cluster-quickstart-teardown");
    let _teardown = Teardown(format!("{environment}\n{teardown}"));
    let _reported = Namespaces::reported(&["chat", OPERATOR_NAMESPACE]);
    node::mark_crd_for_the_chart(&client).await;

    let printed = bash(
        "the book's cluster quickstart",
        &quickstart,
        Duration::from_secs(600),
    );
    assert!(
        printed.contains("hello from a pod"),
        "the quickstart's last command did not read its message back: {printed}"
    );

    // Every pod runs on the node, Ready by the kubelet's probes; the operator's too. (Ready
    // WiberCluster means serving and consuming: one API pod may still be starting.)
    eventually(
        "every pod of the quickstart Running and Ready on the node",
        WITHIN,
        || async {
            let mut pods = node::pods(&client, "chat", "app.kubernetes.io/name=wiber").await;
            let apis = pods
                .iter()
                .filter(|p| p.labels()["app.kubernetes.io/component"] == "api")
                .count();
            let operators = node::pods(
                &client,
                OPERATOR_NAMESPACE,
                "app.kubernetes.io/name=wiber-operator",
            )
            .await;
            pods.extend(operators);
            (apis == 2 && pods.len() >= 5 && pods.iter().all(node::running_and_ready)).then_some(())
        },
    )
    .await;

    // Through the API Service's NodePort (kube-proxy): a stream opened first carries a message
    // sent next; it is read back and stored.
    let service = Api::<Service>::namespaced(client.clone(), "chat")
        .get("chat-api")
        .await
        .expect("the API Service");
    let port = service
        .spec
        .and_then(|s| s.ports)
        .and_then(|p| p[0].node_port)
        .expect("NodePort");
    let api = format!("http://{}:{port}", node::node_ip());
    let (alice, bob) = (dev("auth.sh token alice"), dev("auth.sh token bob"));
    let http = reqwest::Client::new();
    let response = http
        .get(format!("{api}/messages/stream"))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("open bob's stream");
    let mut stream = SseStream::new(response);
    assert_eq!(
        stream
            .next(Duration::from_secs(30))
            .await
            .expect("ready")
            .event,
        "ready"
    );
    let sent: Value = http
        .post(format!("{api}/messages"))
        .bearer_auth(&alice)
        .json(&json!({"toUser": "bob", "content": "pushed to bob's pod stream"}))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("the POST's answer");
    let id = sent["messageId"].as_str().expect("a messageId").to_owned();
    let pushed = stream
        .next_message(Duration::from_secs(30))
        .await
        .expect("a message event");
    assert_eq!(pushed.json()["messageId"], id.as_str());
    let stored = mongodb::Client::with_uri_str(mongo_uri())
        .await
        .expect("mongo client")
        .database("wiber")
        .collection::<Document>("messages");
    eventually("the message stored", WITHIN, || async {
        let found: Vec<Document> = stored
            .find(doc! {"_id": &id})
            .await
            .ok()?
            .try_collect()
            .await
            .ok()?;
        (found.len() == 1).then_some(())
    })
    .await;
    let conversation: Value = http
        .get(format!("{api}/messages/alice/bob?limit=500"))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("GET the conversation")
        .json()
        .await
        .expect("a conversation");
    assert!(
        conversation.to_string().contains(&id),
        "{id} not read back: {conversation}"
    );
    // Someone else's conversation stays closed through the Service too.
    let carol = dev("auth.sh token carol");
    let refused = http
        .get(format!("{api}/messages/alice/bob"))
        .bearer_auth(&carol)
        .send()
        .await
        .expect("GET as carol");
    assert_eq!(refused.status(), 403);
}

/// The example's addresses are those `make cluster-up` and `make servers-up` give with their
/// defaults: the host's side of the node's link (dev/node.sh, KUBE_NODE_NET 10.87.0) with Kafka's
/// pod listener (dev/kafka.sh, 9092 + 300) and the store's port (dev/ferretdb.sh, 27017).
const EXAMPLE_KAFKA: &str = "10.87.0.1:9392";
const EXAMPLE_STORE: &str = "mongodb://10.87.0.1:27017/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_example_wibercluster_runs_on_the_node_as_applied() {
    let _node = node::exclusive().await;
    let client = client().await;
    node::journey_operator(&client).await;
    let ns = node::journey_namespace(&client, "example").await;
    let _namespace = Namespaces::owned(&[&ns]);
    let text = std::fs::read_to_string(repo().join("examples/wibercluster.yaml")).expect("example");
    // This run's servers listen on test ports and its node on another network.
    let text = text
        .replace(EXAMPLE_KAFKA, &node::pod_kafka_bootstrap())
        .replace(EXAMPLE_STORE, &node::pod_mongo_uri());
    let docs: Vec<Value> = text
        .split("\n---\n")
        .map(|d| yaml_serde::from_str(d).expect("example YAML"))
        .collect();
    assert!(docs.iter().any(|d| d["kind"] == "WiberCluster"));
    // The secret the example's comment tells the reader to create, from this run's issuer.
    bash(
        "the example's JWKS Secret",
        &format!(
            "kubectl --kubeconfig \"$KUBECONFIG\" -n {ns} create secret generic wiber-jwks \
             --from-file=jwks.json=\"$(dev/auth.sh jwks)\""
        ),
        Duration::from_secs(60),
    );
    let kafka_topic = docs
        .iter()
        .find(|d| d["kind"] == "WiberCluster")
        .map(|d| d["spec"]["kafka"]["topic"]["name"].clone())
        .expect("the example's topic");
    assert_eq!(
        kafka_topic, "wiber.messages",
        "the topic `make servers-up` creates"
    );
    dev("topics.sh");
    for doc in docs {
        let name = doc["metadata"]["name"].as_str().expect("a name").to_owned();
        let api = dynamic_api(&client, &ns, &doc).await;
        apply(&api, &name, &doc)
            .await
            .unwrap_or_else(|e| panic!("apply {name}: {e}"));
    }
    let wcs: Api<DynamicObject> = dynamic_api(
        &client,
        &ns,
        &json!({"apiVersion": "wiber.io/v1alpha1", "kind": "WiberCluster"}),
    )
    .await;
    eventually("the example WiberCluster Ready", WITHIN, || async {
        let wc = wcs.get("chat").await.ok()?;
        wc.data["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
            .then_some(())
    })
    .await;
    // kube-proxy opens the NodePort a moment after the pods turn Ready.
    let api = format!("http://{}:30080", node::node_ip());
    let token = dev("auth.sh token alice");
    let http = reqwest::Client::new();
    eventually(
        "a POST to the example's NodePort answered 200",
        WITHIN,
        || async {
            let answer = http
                .post(format!("{api}/messages"))
                .bearer_auth(&token)
                .json(&json!({"toUser": "bob", "content": "from the example"}))
                .send()
                .await
                .ok()?;
            (answer.status() == 200).then_some(())
        },
    )
    .await;
}

async fn dynamic_api(client: &kube::Client, ns: &str, doc: &Value) -> Api<DynamicObject> {
    let api_version = doc["apiVersion"].as_str().expect("apiVersion");
    let kind = doc["kind"].as_str().expect("kind");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("discover {kind}: {e}"));
    Api::namespaced_with(client.clone(), ns, &resource)
}
