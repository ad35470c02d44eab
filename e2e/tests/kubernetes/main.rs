//! Wiber on Kubernetes, against the real local control plane (`dev/cluster.sh`: kube-apiserver,
//! controller manager, scheduler and kwok nodes) and the real local Kafka: the cluster is real, the
//! operator binary reconciles WiberClusters, the Helm charts render, validate and install, and the
//! dashboards and alerts query only metrics the binaries export. One test binary, so it is linked
//! once; its tests run side by side, each in its own namespace.

mod cluster_is_real;
mod helm_charts;
mod observability;
mod operator;

/// The version `dev/cluster.sh` builds (dev/k8s/kubernetes/go.mod); `helm template`, which has no
/// cluster to ask, is told it (the charts require Kubernetes >= 1.30).
const KUBE_VERSION: &str = "1.34.4";
