//! `kubectl wiber` as a user runs it: kubectl finds the plugin on PATH, and it tells the state of
//! a WiberCluster running on the node (its figures as the operator measured them, a dead letter
//! included), lists its dead letters with their reasons and replays one so that the store keeps it
//! once however often it is replayed, and writes a support bundle with the pods' and the
//! operator's logs and metrics and no Secret's data.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use mongodb::bson::doc;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use serde_json::json;
use wiber_common::message::conversation_id;
use wiber_e2e::deployed::{Component, Deployed, NAME, READY_WITHIN};
use wiber_e2e::kafka::{committed_all, produce_backlog, produce_messages, producer};
use wiber_e2e::kube::client;
use wiber_e2e::oci::tar;
use wiber_e2e::process::binary;
use wiber_e2e::wait::eventually;
use wiber_e2e::{node, required_env, unique_name};

/// A directory holding only the plugin, as a user installs it (the build directory also holds
/// `kubectl-wiber.d`, which `kubectl plugin list` would take for a plugin that cannot run).
fn installed() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(unique_name("wiber-plugin-bin"));
        std::fs::create_dir_all(&dir).expect("a directory");
        std::fs::copy(binary("kubectl-wiber"), dir.join("kubectl-wiber")).expect("install it");
        dir
    })
}

/// `kubectl <args>` with the plugin's directory first on PATH.
fn kubectl(args: &[&str]) -> Output {
    let path = format!(
        "{}:{}",
        installed().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // kubectl hands a plugin its environment, not its own flags: the kubeconfig goes by variable.
    Command::new(std::env::var("WIBER_KUBECTL_BIN").unwrap_or_else(|_| "kubectl".into()))
        .args(args)
        .env("PATH", path)
        .env("KUBECONFIG", required_env("KUBECONFIG"))
        .output()
        .expect("kubectl runs")
}

fn stdout(args: &[&str]) -> String {
    let out = kubectl(args);
    assert!(
        out.status.success(),
        "kubectl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file} in the bundle: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_wiber_tells_a_clusters_state_replays_its_dead_letters_and_bundles_logs_without_secrets()
 {
    let _node = node::exclusive().await;
    let client = client().await;
    let wiber = Deployed::start(&client, "plugin", 3, json!({"api": {"replicas": 1}})).await;
    let (bootstrap, topic) = (&wiber.pipeline.bootstrap, &wiber.pipeline.topic);
    produce_messages(bootstrap, topic, 30, 3).await;
    // A record no consumer can read: it goes to the dead-letter topic with its reason.
    produce_backlog(bootstrap, topic, 1, "not a message").await;
    let wcs: kube::Api<wiber_operator::crd::WiberCluster> =
        kube::Api::namespaced(client.clone(), &wiber.ns);
    eventually(
        "the status to count the dead letter",
        READY_WITHIN,
        || async {
            let status = wcs.get(NAME).await.ok()?.status?;
            (status.dead_letters == Some(1) && status.lag == Some(0)).then_some(())
        },
    )
    .await;

    assert!(
        stdout(&["plugin", "list"]).contains("kubectl-wiber"),
        "kubectl finds the plugin"
    );
    let ns = wiber.ns.as_str();
    let status = stdout(&["wiber", "status", NAME, "-n", ns]);
    eprintln!("kubectl wiber status:\n{status}");
    for line in [
        format!("WiberCluster {ns}/{NAME}: Ready True (AllComponentsReady)"),
        "API:          1 of 1 ready, at ".to_owned(),
        format!(
            "Kafka:        {}, topic {topic}: 3 partitions, lag 0",
            node::pod_kafka_bootstrap()
        ),
        format!("Dead letters: 1 retained in {topic}.dlq"),
    ] {
        assert!(
            status.lines().any(|l| l.starts_with(&line)),
            "no line {line:?} in:\n{status}"
        );
    }
    assert!(
        status.contains("  Ready "),
        "the conditions table:\n{status}"
    );
    let list = stdout(&["wiber", "status", "-n", ns]);
    let row: Vec<&str> = list
        .lines()
        .nth(1)
        .expect("a row")
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..8],
        [
            NAME,
            "True",
            "AllComponentsReady",
            "1/1",
            "1/1",
            "3",
            "0",
            "1"
        ],
        "{list}"
    );

    // Every namespace's, as `kubectl get -A`: this one's row leads with its namespace.
    let everywhere = stdout(&["wiber", "status", "-A"]);
    assert!(
        everywhere.starts_with("NAMESPACE ")
            && everywhere.lines().any(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                cells.get(..3) == Some(&[ns, NAME, "True"][..])
            }),
        "{everywhere}"
    );

    let missing = kubectl(&["wiber", "status", "nobody", "-n", ns]);
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        format!("error: WiberCluster nobody not found in namespace {ns}\n")
    );

    dead_letters_are_listed_and_a_replayed_one_is_stored_once(&wiber).await;

    let work = std::env::temp_dir().join(unique_name("wiber-support"));
    std::fs::create_dir_all(&work).expect("a directory");
    let archive = work.join("bundle.tar.gz");
    let said = stdout(&[
        "wiber",
        "support",
        NAME,
        "-n",
        ns,
        "-o",
        archive.to_str().unwrap(),
    ]);
    assert!(
        said.starts_with(&format!("Wrote {}", archive.display())),
        "{said}"
    );
    tar(&[
        "-xzf",
        archive.to_str().expect("a UTF-8 path"),
        "-C",
        work.to_str().expect("a UTF-8 path"),
    ]);
    let dir = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("one directory in the bundle");
    assert!(read(&dir, "status.txt").contains("Dead letters: "));
    assert!(read(&dir, "wibercluster.yaml").contains("kind: WiberCluster"));
    assert!(read(&dir, "deployments.yaml").contains(&format!("name: {NAME}-consumer")));
    assert!(read(&dir, "versions.txt").contains("Kubernetes v1."));
    for component in [Component::Api, Component::Consumer] {
        let pod = kube::ResourceExt::name_any(&wiber.pods(component).await[0]);
        let logs = read(&dir, &format!("pods/{pod}/{}.log", component.as_str()));
        assert!(!logs.is_empty(), "{pod}'s log");
        let metrics = read(&dir, &format!("pods/{pod}/metrics.txt"));
        let family = format!("wiber_{}_", component.as_str());
        assert!(metrics.contains(&family), "{pod}'s metrics: {metrics:.300}");
    }
    let operator = std::fs::read_dir(dir.join("operator"))
        .expect("the operator's pods")
        .map(|e| e.unwrap().path())
        .next()
        .expect("an operator pod");
    assert!(!read(&operator, "operator.log").trim().is_empty());
    assert!(read(&operator, "metrics.txt").contains("wiber_operator_"));

    // No Secret's data: the store's connection string is in a Secret the pods read by reference.
    let secret = node::pod_mongo_uri();
    let tree = Command::new("grep")
        .args(["-rlF", &secret])
        .arg(&dir)
        .output()
        .expect("grep runs");
    assert!(
        tree.stdout.is_empty(),
        "the store's connection string is in {}",
        String::from_utf8_lossy(&tree.stdout)
    );
    std::fs::remove_dir_all(&work).expect("clean up");
}

/// A message dead-lettered as the consumer does when the store refuses it: its payload and key
/// as produced, the reason and origin in headers.
async fn dead_letter_a_message(wiber: &Deployed) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let payload = json!({"messageId": id, "fromUser": "ann", "toUser": "ben",
                         "content": "refused once"});
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "wiber-dlq-reason",
            value: Some("the store refused it"),
        })
        .insert(Header {
            key: "wiber-dlq-category",
            value: Some("store_refused"),
        })
        .insert(Header {
            key: "wiber-origin-topic",
            value: Some(wiber.pipeline.topic.as_str()),
        })
        .insert(Header {
            key: "wiber-origin-partition",
            value: Some("0"),
        })
        .insert(Header {
            key: "wiber-origin-offset",
            value: Some("999"),
        });
    let topic = format!("{}.dlq", wiber.pipeline.topic);
    let text = payload.to_string();
    producer(&wiber.pipeline.bootstrap)
        .send(
            FutureRecord::to(&topic)
                .key(&conversation_id("ann", "ben"))
                .payload(&text)
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("a dead letter on {topic}: {e}"));
    id
}

async fn dead_letters_are_listed_and_a_replayed_one_is_stored_once(wiber: &Deployed) {
    let ns = wiber.ns.as_str();
    let id = dead_letter_a_message(wiber).await;
    let list = stdout(&["wiber", "dlq", "list", NAME, "-n", ns]);
    eprintln!("kubectl wiber dlq list:\n{list}");
    let rows: Vec<Vec<&str>> = list
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows.len(),
        2,
        "the poison record and the refused message:\n{list}"
    );
    let origin = format!("{}/", wiber.pipeline.topic);
    assert_eq!(rows[0][2], "malformed", "{list}");
    assert!(rows[0][3].starts_with(&origin), "{list}");
    assert_eq!(
        (rows[1][2], rows[1][4]),
        ("store_refused", id.as_str()),
        "{list}"
    );
    let at = rows[1][0].to_owned();

    let refused = kubectl(&["wiber", "dlq", "replay", NAME, "-n", ns, "0:999"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no dead letter at 0:999"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    for _ in 0..2 {
        let said = stdout(&["wiber", "dlq", "replay", NAME, "-n", ns, &at]);
        assert_eq!(
            said,
            format!("replayed {at} to {} (message {id})\n", wiber.pipeline.topic)
        );
    }
    let stored = wiber.pipeline.collection().await;
    eventually("the replayed message stored", READY_WITHIN, || async {
        let n = stored.count_documents(doc! {"_id": &id}).await.ok()?;
        (n >= 1).then_some(())
    })
    .await;
    // Both replays are behind the group's commits (so both were through the consumer), not
    // merely the first stored.
    let p = &wiber.pipeline;
    eventually("both replays consumed", READY_WITHIN, || async {
        let (bootstrap, group, topic) = (p.bootstrap.clone(), p.group.clone(), p.topic.clone());
        let done = tokio::task::spawn_blocking(move || committed_all(&bootstrap, &group, &topic));
        done.await.ok()?.then_some(())
    })
    .await;
    assert_eq!(
        stored.count_documents(doc! {"_id": &id}).await.unwrap(),
        1,
        "replayed twice, stored once"
    );
}
