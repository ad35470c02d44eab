//! What can stop a command, said so that the person at the terminal knows what to do.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the kubeconfig: {0}")]
    Kubeconfig(#[source] kube::config::KubeconfigError),
    #[error("cannot reach the cluster with this kubeconfig: {0}")]
    Connect(#[source] kube::Error),
    #[error("WiberCluster {name} not found in namespace {ns}")]
    NotFound { ns: String, name: String },
    #[error("the Kubernetes API refused to {what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("WiberCluster {0} names no bootstrap servers yet: give --bootstrap")]
    NoBootstrap(String),
    #[error("cannot read the Kafka credentials: {0}")]
    Credentials(String),
    #[error("Kafka: {0}")]
    Kafka(#[source] rdkafka::error::KafkaError),
    #[error("topic {0} does not exist")]
    NoTopic(String),
    #[error("{0} did not answer within the time allowed")]
    Timeout(String),
    #[error("{0} is not a dead letter's position: give <partition>:<offset>, as `dlq list` shows")]
    BadPosition(String),
    #[error("no dead letter at {0} (it may have passed the topic's retention)")]
    NoSuchDeadLetter(String),
    #[error("the dead letter at {at} came from {origin}, not from this WiberCluster's topic")]
    ForeignDeadLetter { at: String, origin: String },
    #[error("the Kafka call crashed: {0}")]
    Crashed(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A failed call, or `NotFound` for a 404 of the WiberCluster itself.
    pub fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| Self::Api { what, source }
    }
}
