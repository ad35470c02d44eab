//! The cluster journey on the real node of the local cluster (`dev/cluster.sh`: containerd, runc,
//! kubelet and kube-proxy, with the images of `make images` imported): the operator chart
//! installed as a user installs it, WiberClusters whose pods really run against the local Kafka and
//! store (the install guide's "a Kafka and a MongoDB you already run" path), and what the operator
//! promises about them: probes, Services, scaling with real lag, rolling updates, restarts and
//! graceful termination; and `kubectl wiber` telling what it runs.
//!
//! Its own test binary, so no test of the kwok cluster runs beside it; its tests take turns on the
//! node (`node::exclusive`), each in namespaces of its own under the `restricted` Pod Security level.
//! A failing test prints its pods, their events and their last log lines.

mod failures;
mod plugin;
mod quickstart;
mod rollout;
mod scaling;
mod shutdown;
