//! The api and consumer against Kafka listeners that need credentials, as Strimzi clusters offer
//! them: SASL_SSL with SCRAM-SHA-512 (a KafkaUser with `authentication: scram-sha-512`) and TLS
//! with client certificates (`authentication: tls`), both checking the brokers' certificates
//! against the cluster CA. dev/kafka.sh serves both beside the plain listener.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use wiber_e2e::kafka::{create_topic, produce_backlog};
use wiber_e2e::kube::{
    WITHIN, apply_wibercluster, client, delete_namespace, install_crd, namespace_with_mongo_secret,
    spawn_operator,
};
use wiber_e2e::metrics::{samples, scrape, value};
use wiber_e2e::process::{Process, binary, free_port};
use wiber_e2e::stack::{Wiber, message_id};
use wiber_e2e::wait::eventually;
use wiber_e2e::{kafka_bootstrap, required_env, unique_name};
use wiber_operator::crd::WiberCluster;

use crate::STORED_WITHIN;

fn tls_file(name: &str) -> String {
    let path = PathBuf::from(required_env("WIBER_KAFKA_TLS_DIR")).join(name);
    assert!(path.is_file(), "{} is missing", path.display());
    path.display().to_string()
}

fn scram_env(password: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "KAFKA_BOOTSTRAP_SERVERS",
            required_env("WIBER_KAFKA_SASL_SSL_BOOTSTRAP"),
        ),
        ("KAFKA_SECURITY_PROTOCOL", "sasl_ssl".into()),
        ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512".into()),
        (
            "KAFKA_SASL_USERNAME",
            required_env("WIBER_KAFKA_SCRAM_USER"),
        ),
        ("KAFKA_SASL_PASSWORD", password.into()),
        ("KAFKA_SSL_CA_LOCATION", tls_file("ca.crt")),
    ]
}

async fn delivers_messages(kafka_env: &[(&str, String)]) {
    let wiber = Wiber::spawn(wiber_e2e::mongo_uri(), kafka_env).await;
    wiber.wait_ready().await;
    let consumer = wiber.consumer().await;
    let mut ids = HashSet::new();
    for i in 0..20 {
        let sent = wiber.send("alice", "bob", &format!("secured {i}")).await;
        ids.insert(message_id(&sent));
    }
    wiber.assert_stored_exactly_once(&ids, STORED_WITHIN).await;
    // The consumer commits through the secured listener too: its lag drains to zero.
    consumer
        .wait_metric(
            &wiber.http,
            "consumer lag back to 0",
            "wiber_consumer_lag",
            STORED_WITHIN,
            |lag| lag == 0.0,
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_flow_over_sasl_ssl_with_scram_credentials() {
    delivers_messages(&scram_env(&required_env("WIBER_KAFKA_SCRAM_PASSWORD"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_flow_over_mutual_tls_with_a_client_certificate() {
    delivers_messages(&[
        (
            "KAFKA_BOOTSTRAP_SERVERS",
            required_env("WIBER_KAFKA_SSL_BOOTSTRAP"),
        ),
        ("KAFKA_SECURITY_PROTOCOL", "ssl".into()),
        ("KAFKA_SSL_CA_LOCATION", tls_file("ca.crt")),
        ("KAFKA_SSL_CERTIFICATE_LOCATION", tls_file("client.crt")),
        ("KAFKA_SSL_KEY_LOCATION", tls_file("client.key")),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_keeps_the_api_unready_and_refuses_messages() {
    let mut env = scram_env("not-the-password");
    env.push(("KAFKA_PRODUCE_TIMEOUT_MS", "3000".into()));
    let wiber = Wiber::spawn(wiber_e2e::mongo_uri(), &env).await;
    // The API serves (MongoDB is fine) but says Kafka is not ready, and a message is refused with
    // 503 rather than acknowledged.
    let body = eventually("the API answers readiness", STORED_WITHIN, || async {
        let r = wiber
            .http
            .get(format!("{}/health/readiness", wiber.api_url))
            .send()
            .await
            .ok()?;
        Some((r.status().as_u16(), r.text().await.ok()?))
    })
    .await;
    assert_eq!(body.0, 503, "readiness with a wrong password: {}", body.1);
    let response = wiber
        .post(&json!({"fromUser": "alice", "toUser": "bob", "content": "never"}))
        .await;
    assert_eq!(response.status().as_u16(), 503);
    eventually(
        "librdkafka reports the authentication failure",
        STORED_WITHIN,
        || async {
            let log = wiber.api.log_text();
            (log.contains("Authentication failed") || log.contains("SASL authentication error"))
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_fail_at_start_up_naming_the_variable() {
    for (binary_name, env) in [
        (
            "wiber-api",
            vec![("KAFKA_SECURITY_PROTOCOL", "sasl_ssl".to_owned())],
        ),
        (
            "wiber-consumer",
            vec![
                ("KAFKA_SECURITY_PROTOCOL", "ssl".to_owned()),
                ("KAFKA_SSL_CERTIFICATE_LOCATION", tls_file("client.crt")),
            ],
        ),
    ] {
        let env: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let mut process = Process::spawn(binary(binary_name), &[], &env, binary_name);
        let code = process.wait_exit(Duration::from_secs(30));
        let log = process.log_text();
        let expected = if binary_name == "wiber-api" {
            "KAFKA_SASL_USERNAME"
        } else {
            "KAFKA_SSL_KEY_LOCATION"
        };
        assert!(
            log.contains(expected),
            "{binary_name} should name {expected}: {log}"
        );
        assert_eq!(code, Some(2), "config errors exit 2: {log}");
    }
}

/// The operator reads the credentials a WiberCluster names from Secrets, measures lag through the
/// secured listener, reports a missing Secret and a wrong password as conditions, and hands the
/// same Secrets to the pods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_measures_lag_over_sasl_ssl_with_credentials_from_secrets() {
    let client = client().await;
    install_crd(&client).await;
    let ns = namespace_with_mongo_secret(&client, "wiber-sec").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let ca = std::fs::read_to_string(tls_file("ca.crt")).unwrap();
    // As Strimzi writes the cluster CA Secret.
    let cluster_ca: Secret = serde_json::from_value(json!({
        "metadata": {"name": "kafka-cluster-ca-cert"},
        "stringData": {"ca.crt": ca},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &cluster_ca)
        .await
        .expect("cluster CA secret");

    // A backlog of 12 records, produced through the plain listener.
    let topic = unique_name("wiber-sec-topic");
    create_topic(&kafka_bootstrap(), &topic, 3).await;
    produce_backlog(&kafka_bootstrap(), &topic, 12, "{}").await;

    let operator_port = free_port();
    let _operator = spawn_operator(&ns, operator_port);

    let clusters: Api<WiberCluster> = Api::namespaced(client.clone(), &ns);
    let apply = |spec: Value| apply_wibercluster(&clusters, "secure", spec);
    let spec = |authentication: Value| {
        json!({
            "kafka": {
                "bootstrapServers": required_env("WIBER_KAFKA_SASL_SSL_BOOTSTRAP"),
                "topic": {"name": topic},
                "consumerGroup": unique_name("wiber-sec-group"),
                "tls": {"trustedCertificate": {"secretName": "kafka-cluster-ca-cert"}},
                "authentication": authentication,
            },
            "mongodb": {"connectionSecret": {"name": "mongo"}},
            "api": {"auth": {"mode": "None"}},
            "consumers": {"minReplicas": 1, "maxReplicas": 3, "targetLagPerReplica": 5, "lagPollSeconds": 1},
        })
    };

    // The API server refuses mutual TLS without TLS, with the CEL rule's message.
    let mut no_tls = spec(json!({"type": "tls", "certificateAndKey": {"secretName": "u"}}));
    no_tls["kafka"].as_object_mut().unwrap().remove("tls");
    let err = apply(no_tls)
        .await
        .expect_err("tls authentication without tls");
    assert!(
        err.to_string()
            .contains("client certificates are only sent over TLS"),
        "{err}"
    );
    let err = apply(spec(json!({"type": "scram-sha-512", "username": "wiber"})))
        .await
        .expect_err("SCRAM without a password Secret");
    assert!(
        err.to_string()
            .contains("the SASL types need username and passwordSecret"),
        "{err}"
    );

    // The KafkaUser Secret does not exist yet: a condition says so.
    let scram = json!({
        "type": "scram-sha-512",
        "username": required_env("WIBER_KAFKA_SCRAM_USER"),
        "passwordSecret": {"secretName": "wiber-user"},
    });
    apply(spec(scram.clone()))
        .await
        .expect("valid WiberCluster");
    let kafka_condition = |reason: &'static str| {
        let clusters = clusters.clone();
        async move {
            let wc = clusters.get("secure").await.ok()?;
            let c = wc
                .status
                .as_ref()?
                .conditions
                .iter()
                .find(|c| c.type_ == "KafkaReady")?
                .clone();
            (c.reason == reason).then_some((wc, c))
        }
    };
    let (_, missing) = eventually("KafkaReady False: SecretMissing", WITHIN, || {
        kafka_condition("SecretMissing")
    })
    .await;
    assert_eq!(missing.status, "False");
    assert!(
        missing.message.contains("wiber-user"),
        "{}",
        missing.message
    );

    // As Strimzi writes a KafkaUser's Secret: the operator connects and measures the backlog.
    let user: Secret = serde_json::from_value(json!({
        "metadata": {"name": "wiber-user"},
        "stringData": {
            "password": required_env("WIBER_KAFKA_SCRAM_PASSWORD"),
            "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        },
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &user)
        .await
        .expect("user secret");
    let (wc, connected) = eventually(
        "KafkaReady True with the backlog measured",
        WITHIN,
        || async {
            let (wc, c) = kafka_condition("Connected").await?;
            (wc.status.as_ref()?.lag == Some(12)).then_some((wc, c))
        },
    )
    .await;
    assert_eq!(connected.status, "True");
    let status = wc.status.unwrap();
    assert_eq!(status.partitions, Some(3));
    assert_eq!(
        status.consumers.desired, 3,
        "ceil(12 / 5) capped at 3 partitions"
    );

    // The pods get the same credentials: the password from its Secret, the CA as a file.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let consumer = eventually("consumer Deployment", WITHIN, || async {
        deployments.get_opt("secure-consumer").await.ok()?
    })
    .await;
    let pod = consumer.spec.unwrap().template.spec.unwrap();
    let password = pod.containers[0]
        .env
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.name == "KAFKA_SASL_PASSWORD")
        .and_then(|e| e.value_from.clone()?.secret_key_ref)
        .expect("password from the Secret");
    assert_eq!(
        (password.name.as_str(), password.key.as_str()),
        ("wiber-user", "password")
    );
    assert!(
        pod.volumes.unwrap().iter().any(|v| v
            .secret
            .as_ref()
            .and_then(|s| s.secret_name.as_deref())
            == Some("kafka-cluster-ca-cert"))
    );
    let config: ConfigMap = Api::namespaced(client.clone(), &ns)
        .get("secure-config")
        .await
        .unwrap();
    let data = config.data.unwrap();
    assert_eq!(data["KAFKA_SECURITY_PROTOCOL"], "sasl_ssl");
    assert_eq!(data["KAFKA_SASL_MECHANISM"], "SCRAM-SHA-512");

    // A rotated password the broker does not know: the condition turns False and says why.
    secrets
        .patch(
            "wiber-user",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"password": "rotated-but-wrong"}})),
        )
        .await
        .unwrap();
    // A measurement may first fail before librdkafka has reported why; the reason settles on the
    // authentication failure.
    let (_, failed) = eventually(
        "KafkaReady False/AuthenticationFailed after a wrong password",
        WITHIN,
        || kafka_condition("AuthenticationFailed"),
    )
    .await;
    assert_eq!(failed.status, "False");
    assert!(
        failed.message.contains("refused the credentials") && failed.message.contains("SCRAM"),
        "the message says why: {}",
        failed.message
    );

    // Deleted, the cluster's metric series go with it.
    let series = [("namespace", ns.as_str())];
    let http = reqwest::Client::new();
    let operator_url = format!("http://127.0.0.1:{operator_port}");
    let text = scrape(&http, &operator_url)
        .await
        .expect("operator metrics");
    assert!(
        value(&text, "wiber_operator_consumer_lag", &series).is_some(),
        "lag series of the cluster: {text}"
    );
    clusters
        .delete("secure", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the deleted cluster's series are gone", WITHIN, || async {
        let text = scrape(&http, &operator_url).await?;
        samples(&text)
            .iter()
            .all(|s| !s.has_labels(&series))
            .then_some(())
    })
    .await;

    delete_namespace(&client, &ns).await;
}
