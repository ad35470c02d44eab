//! A failed reconcile, one variant per step, so logs and the error metric say where it failed.
//! What the cluster or Kafka merely reports (a missing Secret, an unreachable broker) is no error:
//! it becomes a condition.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("WiberCluster has no namespace")]
    NoNamespace,
    #[error("reading {what}: {source}")]
    Read {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
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
    #[error("updating status: {0}")]
    Status(#[source] kube::Error),
}

impl Error {
    /// A fixed label for the error metric (see `metrics::ERROR_CATEGORIES`).
    pub fn category(&self) -> &'static str {
        match self {
            Self::NoNamespace => "spec",
            Self::Read { .. } => "read",
            Self::Apply { .. } => "apply",
            Self::Delete { .. } => "delete",
            Self::Status(_) => "status",
        }
    }
}
