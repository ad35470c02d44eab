//! The wiber chart: its WiberCluster and the optional Strimzi Kafka, MongoDB and AKHQ it renders,
//! and the API server accepting what it renders and the checked-in examples.

use kube::Resource;
use kube::api::{DynamicObject, PostParams};
use serde_json::{Value, json};
use wiber_e2e::kube::{KWOK_TOLERATIONS, client, create_namespace, delete_namespace, install_crd};
use wiber_e2e::repo;
use wiber_operator::crd::WiberCluster;

use super::{WIBER_OPTIONS, find, kinds_and_names, pairs, template, wiberclusters, yaml_file};

/// Creating with these only validates (and defaults): nothing is stored.
fn dry_run() -> PostParams {
    PostParams {
        dry_run: true,
        ..PostParams::default()
    }
}

#[test]
fn wiber_chart_renders_a_wibercluster_and_when_enabled_strimzi_kafka_mongodb_and_akhq() {
    // Defaults: only the WiberCluster, pointing at a Strimzi Kafka and the MongoDB operator's
    // Secret named the way this chart would name them.
    let docs = template("wiber", "chat", "team", &[]);
    assert_eq!(kinds_and_names(&docs), pairs(&[("WiberCluster", "chat")]));
    let wc = find(&docs, "WiberCluster");
    assert_eq!(wc["apiVersion"], "wiber.io/v1alpha1");
    assert_eq!(wc["metadata"]["namespace"], "team");
    assert_eq!(wc["spec"]["kafka"]["strimziCluster"], "chat-kafka");
    assert!(wc["spec"]["kafka"].get("bootstrapServers").is_none());
    assert_eq!(
        wc["spec"]["mongodb"]["connectionSecret"],
        json!({"name": "chat-mongo-wiber-wiber", "key": "connectionString.standard"})
    );
    assert_eq!(wc["spec"]["api"]["service"]["type"], "ClusterIP");
    assert!(wc["spec"]["api"]["service"].get("nodePort").is_none());

    // Plain bootstrap servers and an existing Secret instead.
    let docs = template(
        "wiber",
        "chat",
        "team",
        &[
            "--set",
            "cluster.kafka.bootstrapServers=kafka-0.kafka:9092\\,kafka-1.kafka:9092",
            "--set",
            "cluster.mongodb.connectionSecret.name=mongo",
            "--set",
            "cluster.name=orders",
        ],
    );
    let wc = find(&docs, "WiberCluster");
    assert_eq!(wc["metadata"]["name"], "orders");
    assert_eq!(
        wc["spec"]["kafka"]["bootstrapServers"],
        "kafka-0.kafka:9092,kafka-1.kafka:9092"
    );
    assert!(wc["spec"]["kafka"].get("strimziCluster").is_none());
    assert_eq!(wc["spec"]["mongodb"]["connectionSecret"]["name"], "mongo");

    // Everything.
    let docs = template("wiber", "chat", "team", WIBER_OPTIONS);
    assert_eq!(
        kinds_and_names(&docs),
        pairs(&[
            ("WiberCluster", "chat"),
            ("Kafka", "chat-kafka"),
            ("KafkaNodePool", "chat-kafka-dual-role"),
            ("MongoDBCommunity", "chat-mongo"),
            ("Secret", "chat-mongo-wiber-password"),
            ("ConfigMap", "chat-wiber-akhq"),
            ("Deployment", "chat-wiber-akhq"),
            ("Service", "chat-wiber-akhq"),
        ])
    );
    let kafka = find(&docs, "Kafka");
    assert_eq!(kafka["apiVersion"], "kafka.strimzi.io/v1");
    assert_eq!(
        kafka["metadata"]["annotations"]["strimzi.io/kraft"],
        "enabled"
    );
    assert_eq!(
        kafka["metadata"]["annotations"]["strimzi.io/node-pools"],
        "enabled"
    );
    assert!(
        kafka["spec"]["kafka"]["version"]
            .as_str()
            .unwrap()
            .starts_with("4.1.")
    );
    let config = &kafka["spec"]["kafka"]["config"];
    assert_eq!(config["default.replication.factor"], 3);
    assert_eq!(config["min.insync.replicas"], 2);
    assert_eq!(config["offsets.topic.replication.factor"], 3);
    assert_eq!(kafka["spec"]["kafka"]["listeners"][0]["name"], "plain");
    assert!(kafka["spec"]["entityOperator"]["topicOperator"].is_object());
    let pool = find(&docs, "KafkaNodePool");
    assert_eq!(pool["apiVersion"], "kafka.strimzi.io/v1");
    assert_eq!(
        pool["metadata"]["labels"]["strimzi.io/cluster"],
        "chat-kafka"
    );
    assert_eq!(pool["spec"]["replicas"], 3);
    assert_eq!(pool["spec"]["roles"], json!(["controller", "broker"]));
    assert_eq!(
        pool["spec"]["storage"]["volumes"][0]["type"],
        "persistent-claim"
    );

    let mongo = find(&docs, "MongoDBCommunity");
    assert_eq!(mongo["apiVersion"], "mongodbcommunity.mongodb.com/v1");
    assert_eq!(mongo["spec"]["members"], 3);
    assert_eq!(mongo["spec"]["type"], "ReplicaSet");
    assert_eq!(
        mongo["spec"]["security"]["authentication"]["modes"],
        json!(["SCRAM"])
    );
    let user = &mongo["spec"]["users"][0];
    assert_eq!(
        user["passwordSecretRef"]["name"],
        find(&docs, "Secret")["metadata"]["name"]
    );
    assert_eq!(
        user["roles"][0],
        json!({"name": "readWrite", "db": "wiber"})
    );

    // The WiberCluster uses exactly that Kafka and the Secret the MongoDB operator writes for
    // that user: `<resource>-<db>-<user>`.
    let wc = find(&docs, "WiberCluster");
    assert_eq!(
        wc["spec"]["kafka"]["strimziCluster"],
        kafka["metadata"]["name"]
    );
    assert_eq!(
        wc["spec"]["mongodb"]["connectionSecret"]["name"],
        format!(
            "{}-{}-{}",
            mongo["metadata"]["name"].as_str().unwrap(),
            user["db"].as_str().unwrap(),
            user["name"].as_str().unwrap()
        )
    );
    // kind-config.yaml maps NodePort 30080 to the host.
    assert_eq!(
        wc["spec"]["api"]["service"],
        json!({"type": "NodePort", "port": 8000, "nodePort": 30080})
    );
    let kind: Value = yaml_file(&repo().join("kind-config.yaml"))[0].clone();
    assert_eq!(
        kind["nodes"][0]["extraPortMappings"][0]["containerPort"],
        30080
    );
    // ...on a host port other than that of `make up`'s API (dev/wiber.sh: 8000), so both can run.
    assert_ne!(kind["nodes"][0]["extraPortMappings"][0]["hostPort"], 8000);
    assert_eq!(wc["spec"]["consumers"]["targetDrainSeconds"], 120);
    assert_eq!(wc["spec"]["scheduling"]["nodeSelector"]["pool"], "wiber");

    // AKHQ points at the Strimzi Kafka's bootstrap Service.
    let akhq_config: Value = yaml_serde::from_str(
        find(&docs, "ConfigMap")["data"]["application.yml"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        akhq_config["akhq"]["connections"]["chat"]["properties"]["bootstrap.servers"],
        "chat-kafka-kafka-bootstrap.team.svc:9092"
    );
    let akhq = find(&docs, "Deployment");
    let pod = &akhq["spec"]["template"]["spec"];
    assert!(
        pod["containers"][0]["image"]
            .as_str()
            .unwrap()
            .starts_with("tchiotludo/akhq:")
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        find(&docs, "Service")["spec"]["selector"],
        akhq["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn wiber_chart_secures_its_kafka_with_tls_scram_and_a_kafka_user_when_asked() {
    let docs = template(
        "wiber",
        "chat",
        "team-a",
        &[
            "--set",
            "kafka.enabled=true",
            "--set",
            "kafka.authentication.enabled=true",
        ],
    );
    let kafka = find(&docs, "Kafka");
    let listeners = kafka["spec"]["kafka"]["listeners"].as_array().unwrap();
    let tls = listeners
        .iter()
        .find(|l| l["name"] == "tls")
        .expect("a tls listener");
    assert_eq!(tls["tls"], true);
    assert_eq!(tls["authentication"]["type"], "scram-sha-512");
    assert!(kafka["spec"]["entityOperator"]["userOperator"].is_object());
    let user = find(&docs, "KafkaUser");
    assert_eq!(user["metadata"]["name"], "chat-wiber");
    assert_eq!(
        user["metadata"]["labels"]["strimzi.io/cluster"],
        "chat-kafka"
    );
    assert_eq!(user["spec"]["authentication"]["type"], "scram-sha-512");
    // The WiberCluster uses the secured listener, the cluster CA and the user's Secret, as
    // Strimzi names them.
    let k = &find(&docs, "WiberCluster")["spec"]["kafka"];
    assert_eq!(k["strimziListener"], "tls");
    assert_eq!(
        k["tls"]["trustedCertificate"]["secretName"],
        "chat-kafka-cluster-ca-cert"
    );
    assert_eq!(k["authentication"]["username"], "chat-wiber");
    assert_eq!(
        k["authentication"]["passwordSecret"]["secretName"],
        "chat-wiber"
    );
    // Without it: the plain listener, no user, no credentials.
    let docs = template("wiber", "chat", "team-a", &["--set", "kafka.enabled=true"]);
    assert!(
        !kinds_and_names(&docs)
            .iter()
            .any(|(kind, _)| kind == "KafkaUser")
    );
    let k = &find(&docs, "WiberCluster")["spec"]["kafka"];
    assert_eq!(k["strimziListener"], "plain");
    assert!(k.get("authentication").is_none() && k.get("tls").is_none());
}

/// The checked-in examples are what the book tells people to apply: the API server accepts every
/// WiberCluster in them.
#[tokio::test]
async fn every_example_wibercluster_is_accepted_by_the_api_server() {
    let client = client().await;
    install_crd(&client).await;
    let ns = create_namespace(&client, "wiber-examples").await;
    let api = wiberclusters(&client, &ns);
    let mut checked = 0;
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        for doc in yaml_file(&path) {
            if doc["kind"] != "WiberCluster" {
                continue;
            }
            let object: DynamicObject = serde_json::from_value(doc).unwrap();
            api.create(&dry_run(), &object)
                .await
                .unwrap_or_else(|e| panic!("{} is rejected: {e}", path.display()));
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} example WiberClusters found");
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn wiber_chart_wibercluster_passes_the_api_servers_validation() {
    let client = client().await;
    install_crd(&client).await;
    let ns = create_namespace(&client, "wiber-helm-dry").await;
    let api = wiberclusters(&client, &ns);
    let external = [
        "--set",
        "cluster.kafka.bootstrapServers=kafka:9092",
        "--set",
        "cluster.mongodb.connectionSecret.name=mongo",
        "--set-json",
        &format!("cluster.scheduling.tolerations={KWOK_TOLERATIONS}"),
        "--set",
        "cluster.consumers.minReplicas=0",
        "--set",
        "cluster.api.resources.requests.cpu=200m",
    ];
    let mut secured_kafka = WIBER_OPTIONS.to_vec();
    secured_kafka.extend(["--set", "kafka.authentication.enabled=true"]);
    let mut external_mtls = external.to_vec();
    external_mtls.extend([
        "--set-json",
        r#"cluster.kafka.tls={"trustedCertificate":{"secretName":"ca"}}"#,
        "--set-json",
        r#"cluster.kafka.authentication={"type":"tls","certificateAndKey":{"secretName":"user"}}"#,
    ]);
    let mut external_secured_api = external.to_vec();
    external_secured_api.extend([
        "--set",
        "cluster.api.auth.jwksUrl=",
        "--set",
        "cluster.api.auth.jwksSecret.name=idp-jwks",
        "--set",
        "cluster.api.tls.secretName=api-cert",
    ]);
    let open_api: &[&str] = &["--set", "cluster.api.auth.mode=None"];
    let mut traced = external.to_vec();
    traced.extend([
        "--set",
        "cluster.telemetry.otlpEndpoint=http://otel-collector.monitoring:4318",
        "--set",
        "cluster.telemetry.protocol=http/json",
    ]);
    let variants: [&[&str]; 8] = [
        &[],
        WIBER_OPTIONS,
        &external,
        &secured_kafka,
        &external_mtls,
        &external_secured_api,
        open_api,
        &traced,
    ];
    for values in variants {
        let docs = template("wiber", "chat", &ns, values);
        let wc = find(&docs, "WiberCluster");
        let object: DynamicObject = serde_json::from_value(wc.clone()).unwrap();
        let created = api.create(&dry_run(), &object).await.unwrap_or_else(|e| {
            panic!("the API server rejects the WiberCluster of {values:?}: {e}")
        });
        // The server's defaults and the chart's values agree: it reads back as the operator's type.
        let typed: WiberCluster = serde_json::from_value(serde_json::to_value(&created).unwrap())
            .expect("a WiberCluster");
        assert_eq!(typed.meta().name.as_deref(), Some("chat"));
        let telemetry = typed
            .spec
            .telemetry
            .as_ref()
            .map(|t| t.otlp_endpoint.as_str());
        let expected =
            (values == traced.as_slice()).then_some("http://otel-collector.monitoring:4318");
        assert_eq!(telemetry, expected, "{values:?}");
    }
    // A long release name is cut to the CRD's 40-character limit on WiberCluster names.
    let docs = template(
        "wiber",
        &"r".repeat(53),
        &ns,
        &["--set", "cluster.kafka.bootstrapServers=kafka:9092"],
    );
    let object: DynamicObject =
        serde_json::from_value(find(&docs, "WiberCluster").clone()).unwrap();
    api.create(&dry_run(), &object)
        .await
        .expect("a 53-character release name gives an accepted WiberCluster name");
    delete_namespace(&client, &ns).await;
}
