//! The `kafka` part of a WiberCluster: where Kafka is, how to reach it, and the topic.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use wiber_common::kafka::{SaslMechanism, SecurityProtocol};

/// Exactly one of `strimziCluster` and `bootstrapServers`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(
    validation = Rule::new("has(self.strimziCluster) != has(self.bootstrapServers)").message("set exactly one of kafka.strimziCluster and kafka.bootstrapServers"),
    validation = Rule::new("!has(self.authentication) || self.authentication.type != 'tls' || has(self.tls)").message("kafka.authentication.type tls needs kafka.tls: client certificates are only sent over TLS")
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSpec {
    /// A Strimzi `Kafka` resource in this namespace: the operator creates the topic as a Strimzi
    /// KafkaTopic and reads the bootstrap address from the Kafka resource's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strimzi_cluster: Option<String>,
    /// Plain bootstrap servers (host:port,...); the topic must then exist already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub bootstrap_servers: Option<String>,
    /// The Strimzi listener whose address to use (by name).
    #[serde(default = "default_listener")]
    pub strimzi_listener: String,
    /// The messages topic.
    #[serde(default)]
    pub topic: TopicSpec,
    /// The consumer group of the consumers.
    #[serde(default = "default_group")]
    #[schemars(length(min = 1))]
    pub consumer_group: String,
    /// Encrypt the connection with TLS (for a Strimzi listener with `tls: true`). Unset means
    /// plaintext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<KafkaTls>,
    /// How the api, the consumers and the operator authenticate to Kafka, in the shape of
    /// Strimzi's client authentication: a KafkaUser's Secret works as is. Unset means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<KafkaAuthentication>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaTls {
    /// The CA certificate the brokers' certificates are checked against, e.g. Strimzi's
    /// `<cluster>-cluster-ca-cert` Secret with key `ca.crt`. Unset means the image's system trust
    /// store (for brokers with publicly trusted certificates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_certificate: Option<CertificateRef>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRef {
    /// Secret (in this namespace) holding the certificate.
    #[schemars(length(min = 1))]
    pub secret_name: String,
    /// Key of the PEM certificate in the Secret.
    #[serde(default = "default_ca_key")]
    #[schemars(length(min = 1))]
    pub certificate: String,
}

fn default_ca_key() -> String {
    "ca.crt".to_owned()
}

/// Kafka client authentication. SCRAM and PLAIN take a username and a password Secret (a Strimzi
/// KafkaUser's Secret has the key `password`); `tls` takes a client certificate and key (a
/// Strimzi KafkaUser's Secret has `user.crt` and `user.key`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("self.type == 'tls' ? has(self.certificateAndKey) : (has(self.username) && has(self.passwordSecret))").message("kafka.authentication: type tls needs certificateAndKey; the SASL types need username and passwordSecret"))]
#[serde(rename_all = "camelCase")]
pub struct KafkaAuthentication {
    /// The mechanism: scram-sha-512 (Strimzi's default for KafkaUsers), scram-sha-256, plain
    /// (SASL PLAIN; only over TLS in production) or tls (mutual TLS with a client certificate).
    #[serde(rename = "type")]
    pub type_: KafkaAuthenticationType,
    /// SASL username: for Strimzi, the KafkaUser's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub username: Option<String>,
    /// The Secret holding the SASL password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<PasswordSecretRef>,
    /// The Secret holding the client certificate and key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_and_key: Option<CertificateAndKeyRef>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum KafkaAuthenticationType {
    #[serde(rename = "scram-sha-512")]
    ScramSha512,
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    #[serde(rename = "plain")]
    Plain,
    #[serde(rename = "tls")]
    Tls,
}

impl KafkaAuthenticationType {
    /// The SASL mechanism, or `None` for mutual TLS.
    pub fn sasl_mechanism(self) -> Option<SaslMechanism> {
        match self {
            Self::ScramSha512 => Some(SaslMechanism::ScramSha512),
            Self::ScramSha256 => Some(SaslMechanism::ScramSha256),
            Self::Plain => Some(SaslMechanism::Plain),
            Self::Tls => None,
        }
    }
}

impl KafkaSpec {
    /// The SASL mechanism the spec asks for, if any.
    pub fn sasl_mechanism(&self) -> Option<SaslMechanism> {
        self.authentication
            .as_ref()
            .and_then(|a| a.type_.sasl_mechanism())
    }

    pub fn security_protocol(&self) -> SecurityProtocol {
        SecurityProtocol::new(self.tls.is_some(), self.sasl_mechanism().is_some())
    }

    /// The client certificate Secret, for mutual TLS.
    pub fn client_certificate(&self) -> Option<&CertificateAndKeyRef> {
        self.authentication
            .as_ref()
            .filter(|a| a.type_ == KafkaAuthenticationType::Tls)
            .and_then(|a| a.certificate_and_key.as_ref())
    }

    /// The CA certificate Secret the brokers are checked against.
    pub fn trusted_certificate(&self) -> Option<&CertificateRef> {
        self.tls
            .as_ref()
            .and_then(|t| t.trusted_certificate.as_ref())
    }

    /// The SASL username and password Secret.
    pub fn sasl_credentials(&self) -> Option<(SaslMechanism, &str, &PasswordSecretRef)> {
        let a = self.authentication.as_ref()?;
        Some((
            a.type_.sasl_mechanism()?,
            a.username.as_deref()?,
            a.password_secret.as_ref()?,
        ))
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordSecretRef {
    /// Secret (in this namespace) holding the password.
    #[schemars(length(min = 1))]
    pub secret_name: String,
    /// Key of the password in the Secret.
    #[serde(default = "default_password_key")]
    #[schemars(length(min = 1))]
    pub password: String,
}

fn default_password_key() -> String {
    "password".to_owned()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateAndKeyRef {
    /// Secret (in this namespace) holding the client certificate and its key.
    #[schemars(length(min = 1))]
    pub secret_name: String,
    /// Key of the PEM certificate in the Secret.
    #[serde(default = "default_user_certificate")]
    #[schemars(length(min = 1))]
    pub certificate: String,
    /// Key of the PEM private key in the Secret.
    #[serde(default = "default_user_key")]
    #[schemars(length(min = 1))]
    pub key: String,
}

fn default_user_certificate() -> String {
    "user.crt".to_owned()
}
fn default_user_key() -> String {
    "user.key".to_owned()
}

fn default_listener() -> String {
    "plain".to_owned()
}
fn default_group() -> String {
    "wiber-consumers".to_owned()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicSpec {
    /// Topic name; its dead-letter topic is `<name>.dlq` and the consumer announces what it has
    /// stored on `<name>.stored`, for the API's push streams. At most 242 characters, so that
    /// both fit Kafka's 249.
    #[serde(default = "default_topic")]
    #[schemars(length(min = 1, max = 242), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    pub name: String,
    /// Partitions: the most consumers that can work at once. Can grow, never shrink.
    #[serde(default = "default_partitions")]
    #[schemars(range(min = 1, max = 10000))]
    // Kafka cannot remove partitions, and the key-to-partition mapping (a conversation's order)
    // holds only while the count stays; a shrink is refused at the API server, not discovered later.
    #[x_kube(validation = Rule::new("self >= oldSelf").message("kafka.topic.partitions can grow but never shrink: Kafka cannot remove partitions"))]
    pub partitions: i32,
    /// Replicas of each partition (Strimzi mode).
    #[serde(default = "default_topic_replicas")]
    #[schemars(range(min = 1, max = 10))]
    pub replicas: i32,
    /// How long messages stay in Kafka, in hours (Strimzi mode).
    #[serde(default = "default_retention_hours")]
    #[schemars(range(min = 1))]
    pub retention_hours: i64,
    /// What deleting the WiberCluster does to its Strimzi KafkaTopics (and so to the topics):
    /// Retain keeps them, with every message not yet consumed and every dead letter; Delete lets
    /// them be garbage-collected with the WiberCluster.
    #[serde(default)]
    pub deletion_policy: TopicDeletionPolicy,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TopicDeletionPolicy {
    #[default]
    Retain,
    Delete,
}

impl TopicSpec {
    /// Where poison messages go (the consumer's default KAFKA_DLQ_TOPIC).
    pub fn dead_letter_name(&self) -> String {
        format!("{}.dlq", self.name)
    }

    /// Where the consumer announces what it stored (the default KAFKA_STORED_TOPIC).
    pub fn stored_name(&self) -> String {
        format!("{}.stored", self.name)
    }

    /// Every topic a WiberCluster uses.
    pub fn all_names(&self) -> [String; 3] {
        [
            self.name.clone(),
            self.dead_letter_name(),
            self.stored_name(),
        ]
    }
}

impl Default for TopicSpec {
    fn default() -> Self {
        Self {
            name: default_topic(),
            partitions: default_partitions(),
            replicas: default_topic_replicas(),
            retention_hours: default_retention_hours(),
            deletion_policy: TopicDeletionPolicy::default(),
        }
    }
}

fn default_topic() -> String {
    "wiber.messages".to_owned()
}
fn default_partitions() -> i32 {
    3
}
fn default_topic_replicas() -> i32 {
    3
}
fn default_retention_hours() -> i64 {
    7 * 24
}
